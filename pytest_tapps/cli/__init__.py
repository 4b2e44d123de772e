"""The ``tapps`` command line: the runbook's procedures, carried out safely."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tapps`` command line and return its exit code (0 ok, 1 problems, 2 bad input)."""
    cleanup = list(sys.argv[1:2] if argv is None else argv[:1]) == ["cleanup"]
    if cleanup:
        # Its pass reads /proc/locks, whose first read can wait 5-25 ms for the kernel: start
        # that before the command line and the cleanup engine load, on a thread, so their
        # loading overlaps it (docs/performance.md).
        from pytest_tapps.core._proclocks import read_locks_ahead

        read_locks_ahead()
    try:
        from pytest_tapps.cli._app import run

        return run(argv)
    finally:
        if cleanup:
            from pytest_tapps.core._proclocks import drop_ahead

            drop_ahead()  # a command that stopped before its pass leaves no read behind


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
