"""The ``tapps`` command line: the runbook's procedures, carried out safely."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tapps`` command line and return its exit code (0 ok, 1 problems, 2 bad input)."""
    from pytest_tapps.cli._app import run

    return run(argv)


__all__ = ["main"]
