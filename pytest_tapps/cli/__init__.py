"""The ``tapps`` command line: the runbook's procedures, carried out safely."""

from __future__ import annotations

import sys

#: ``typing.TYPE_CHECKING`` without importing typing (3 ms): the /proc/locks read of ``tapps
#: cleanup`` starts before it. Type checkers treat any ``TYPE_CHECKING`` name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tapps`` command line and return its exit code (0 ok, 1 problems, 2 bad input)."""
    if list(sys.argv[1:2] if argv is None else argv[:1]) == ["cleanup"]:
        # Its pass reads /proc/locks, whose first read can wait 5-25 ms for the kernel: start
        # that first, on a thread, so the command's whole start overlaps it (performance.md).
        from pytest_tapps.core._proclocks import read_locks_ahead

        read_locks_ahead()
    from pytest_tapps.cli._app import run

    return run(argv)


def console() -> NoReturn:
    """The ``tapps`` console script and ``python -m pytest_tapps``: :func:`main`, then exit.

    Before exiting it freezes the garbage collector: the process is ending, and the collections
    of interpreter shutdown would walk every object the command made (6 ms after a cleanup of
    2,000 worktrees, docs/performance.md). Exit handlers still run and output is flushed."""
    code = main()
    import gc

    gc.freeze()
    raise SystemExit(code)


__all__ = ["console", "main"]
