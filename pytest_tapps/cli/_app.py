"""Argument parsing, dispatch, and the one place user errors become messages and exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_tapps import __version__
from pytest_tapps.core._errors import TappsError
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._logging import configure_logging

Handler = Callable[[argparse.Namespace], int]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def layout_of(args: argparse.Namespace) -> Layout:
    """The layout of the project named by ``--project-root``."""
    return Layout(args.project_root)


def error(message: str) -> None:
    """Print a ``tapps: error:`` line on stderr."""
    print(f"tapps: error: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """Print a ``tapps: warning:`` line on stderr."""
    print(f"tapps: warning: {message}", file=sys.stderr)


def add_stuck_after(parser: argparse.ArgumentParser) -> None:
    """``--stuck-after SECONDS``: when a running workflow counts as stuck."""
    from pytest_tapps.core._policy import DEFAULT_STUCK_SECONDS

    parser.add_argument(
        "--stuck-after",
        type=float,
        default=DEFAULT_STUCK_SECONDS,
        metavar="SECONDS",
        help="a running workflow silent this many seconds is stuck (default %(default)s)",
    )


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--project-root",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="the project whose .tapps-agents/ folder to use (default: the current directory)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log every step on stderr (JSON when TAPPS_AGENTS_STRUCTURED_LOGGING=true)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole ``tapps`` command tree."""
    from pytest_tapps.cli import _cache, _cleanup, _dlq, _logs, _workflow, _worktree

    parser = argparse.ArgumentParser(
        prog="tapps",
        description="Carry out the TappsCodingAgents runbook's procedures safely.",
        epilog="Exit codes: 0 success, 1 problems found or operation failed, 2 bad usage or input.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()
    for module in (_workflow, _dlq, _cleanup, _worktree, _cache, _logs):
        module.register(commands, common)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, and turn every user error into a message and a code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    configure_logging(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING)
    try:
        return handler(args)
    except TappsError as exc:
        error(str(exc))
        return exc.exit_code
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        error(f"{where}{exc.strerror or exc}")
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        error("interrupted")
        return 130
