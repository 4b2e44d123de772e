"""Argument parsing, dispatch, and the one place user errors become messages and exit codes."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from pytest_tapps import __version__
from pytest_tapps.cli._output import Printed, emit, escaping_output
from pytest_tapps.core._clock import SYSTEM_CLOCK, VirtualClock
from pytest_tapps.core._durations import parse_duration
from pytest_tapps.core._errors import TappsError
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._shown import message_text, quoted
from pytest_tapps.core._timeutil import from_epoch, to_iso

Handler = Callable[[argparse.Namespace], int]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

#: How to write ``--now``, for its help and its error messages.
NOW_FORMS = (
    "an ISO 8601 timestamp with a zone (2026-01-15T10:30:00Z, 2026-01-15T10:30:00+02:00) "
    "or an offset from now (+7d, -12h)"
)
# The range --now accepts: epoch seconds from 1970, and a year of room before datetime's end
# (year 9999) for the virtual clock to run on without overflowing.
_NOW_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_NOW_LATEST = datetime(9999, 1, 1, tzinfo=UTC)
#: How far ``--now`` may lie ahead of the real clock for a command that changes things: room for
#: ``--now +0s`` (read a moment before the check) and for rounding, far below any lock's TTL.
FUTURE_NOW_TOLERANCE_SECONDS = 1.0


class NotFoundError(TappsError):
    """What a command line names (a Context7 library id...) does not exist: bad input, exit 2."""

    exit_code = EXIT_USAGE


def layout_of(args: argparse.Namespace) -> Layout:
    """The layout of the project named by ``--project-root``."""
    return Layout(args.project_root)


def project_refusal(args: argparse.Namespace) -> str | None:
    """Why this command cannot run on ``--project-root``, or ``None``: a command that reads or
    repairs a project's tree (its parser does not set ``needs_project=False``) needs a
    ``.tapps-agents/`` folder there (or the ``reports/quality/`` folder that ``cleanup`` also
    keeps), else a mistyped root would read as an empty project."""
    root: Path | None = getattr(args, "project_root", None)
    if root is None or not getattr(args, "needs_project", True):
        return None
    layout = Layout(root)
    try:  # is_dir raises what is neither missing nor a file where a folder is (EACCES)
        if layout.tapps_dir.is_dir() or layout.quality_reports_dir.is_dir():
            return None
        if not root.is_dir():
            return f"--project-root {root}: {'not a folder' if root.exists() else 'no such folder'}"
    except OSError as exc:
        return f"--project-root {root}: cannot be read ({exc.strerror or exc})"
    return (
        f"not a tapps project: no .tapps-agents/ folder in {root.absolute()} "
        "(run it in the project's folder, or name it with --project-root DIR)"
    )


def error_line(message: str) -> str:
    """A ``tapps: error:`` line (a name's undecodable byte written ``\\xff``)."""
    return f"tapps: error: {message_text(message)}\n"


def warning_line(message: str) -> str:
    """A ``tapps: warning:`` line (a name's undecodable byte written ``\\xff``)."""
    return f"tapps: warning: {message_text(message)}\n"


def error(message: str) -> None:
    """Print a ``tapps: error:`` line on stderr."""
    sys.stderr.write(error_line(message))


def warn(message: str) -> None:
    """Print a ``tapps: warning:`` line on stderr."""
    sys.stderr.write(warning_line(message))


def failure(exc: TappsError | OSError) -> Printed:
    """What ``tapps`` prints and exits with when a command raises ``exc``: a
    :class:`~pytest_tapps.core.TappsError` is its message and exit code, an ``OSError`` the
    path and the system's reason with exit 1."""
    if isinstance(exc, TappsError):
        return Printed(exc.exit_code, err=error_line(str(exc)))
    where = f"{exc.filename}: " if exc.filename else ""
    return Printed(EXIT_PROBLEMS, err=error_line(f"{where}{exc.strerror or exc}"))


def positive_seconds(text: str) -> float:
    """A positive, finite number of seconds (``--stuck-after``); else a usage error."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        message = f"{quoted(text)}: write a positive number of seconds, e.g. 1800"
        raise argparse.ArgumentTypeError(message)
    return value


def add_stuck_after(parser: argparse.ArgumentParser, *, by_format: bool = False) -> None:
    """``--stuck-after SECONDS``: when a running workflow counts as stuck. ``by_format``: its
    default (None) lets the diagnosis choose by the state's format (longer for a state of the
    real package, which holds no lock file)."""
    from pytest_tapps.core._durations import DEFAULT_STUCK_SECONDS, UNLOCKED_STUCK_SECONDS

    default = None if by_format else DEFAULT_STUCK_SECONDS
    real = f", or {UNLOCKED_STUCK_SECONDS:g} for a tapps-agents state" if by_format else ""
    parser.add_argument(
        "--stuck-after",
        type=positive_seconds,
        default=default,
        metavar="SECONDS",
        help=f"a running workflow silent this many seconds is stuck (default "
        f"{DEFAULT_STUCK_SECONDS:g}{real})",
    )


def parse_now(text: str) -> VirtualClock:
    """``--now TIME``: a virtual clock whose wall time starts at TIME.

    TIME is an ISO 8601 timestamp with a zone, or a signed duration (``+7d``, ``-12h``) from the
    real now. Bad values raise ``argparse.ArgumentTypeError``, which argparse turns into a usage
    error (exit 2) that names the option.
    """
    if text[:1] in ("+", "-"):
        try:
            offset = parse_duration(text[1:], field="--now")
        except ValueError:
            message = (
                f"{quoted(text)} is not an offset from now; write a sign, a number and a unit, "
                "e.g. +7d, -12h, +30m"
            )
            raise argparse.ArgumentTypeError(message) from None
        start = SYSTEM_CLOCK.time() + (offset if text[0] == "+" else -offset)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            message = f"{quoted(text)} is not a time; write {NOW_FORMS}"
            raise argparse.ArgumentTypeError(message) from None
        if moment.tzinfo is None:
            naive = moment.isoformat()
            message = (
                f"{quoted(text)} has no time zone: add Z or an offset, e.g. {naive}Z or "
                f"{naive}+02:00"
            )
            raise argparse.ArgumentTypeError(message)
        start = moment.timestamp()
    if not _NOW_EARLIEST.timestamp() <= start < _NOW_LATEST.timestamp():
        message = f"{quoted(text)} is out of range; write a time from 1970 to 9998"
        raise argparse.ArgumentTypeError(message)
    return VirtualClock(start=start)


def future_now_refusal(args: argparse.Namespace) -> str | None:
    """Why this command may not run at its ``--now``, or ``None`` when it may.

    A TIME ahead of the real clock makes a live holder's heartbeat look expired and files look
    older than they are, so it is refused for a command that changes things (its parser sets
    ``changes=True``; a parser that says nothing counts as changing) unless it runs with
    ``--dry-run``. A TIME in the past is always allowed: ages only shrink.
    """
    clock = getattr(args, "clock", SYSTEM_CLOCK)  # commands without --now (scenario)
    if clock is SYSTEM_CLOCK or not getattr(args, "changes", True):
        return None
    if getattr(args, "dry_run", False) or getattr(args, "policy", False):
        return None  # --policy only reads the config
    now = clock.time()
    if now <= SYSTEM_CLOCK.time() + FUTURE_NOW_TOLERANCE_SECONDS:
        return None
    name = " ".join(part for part in ("tapps", args.command, getattr(args, "action", None)) if part)
    fix = (
        "Preview it with --dry-run."
        if hasattr(args, "dry_run")
        else "It has no --dry-run: run it without --now, or with a TIME that has passed."
    )
    return (
        f"--now is in the future ({to_iso(from_epoch(math.floor(now)))}); '{name}' changes "
        f"things and would act on ages that have not passed yet. {fix}"
    )


def _terminal_width() -> int:
    """What ``shutil.get_terminal_size().columns`` gives (``COLUMNS``, else the terminal's
    width, else 80), without importing shutil and the compression modules it loads (~2 ms of
    every start: argparse asks for a help formatter on every ``add_argument``)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _HelpFormatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24) -> None:
        super().__init__(prog, indent_increment, max_help_position, width=_terminal_width() - 2)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser (and, through ``add_subparsers``, its subcommands') that formats help
    with :class:`_HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """argparse's usage error, a name's undecodable byte written ``\\xff`` (its own
        messages quote values with ``repr``: ``invalid float value: '1\\udcff'``)."""
        super().error(message_text(message))

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """argparse's check of a choice, its ``invalid choice: 'x'`` quoting the value as
        every message quotes a name (``'a\\xff'``, never ``'a\\udcff'``)."""
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            if isinstance(value, str) and not value.isascii():
                exc.message = exc.message.replace(repr(value), quoted(value), 1)
            raise


def _common_options() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
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
    common.add_argument(
        "--now",
        dest="clock",
        type=parse_now,
        default=SYSTEM_CLOCK,
        metavar="TIME",
        help=(
            "evaluate ages, staleness and schedules as if it were TIME, then run the clock "
            f"virtually (retry waits and timeouts take no real time); TIME is {NOW_FORMS}; "
            "a TIME in the future needs --dry-run, unless the command changes nothing"
        ),
    )
    return common


#: Each command and the module that registers it, in the order ``tapps --help`` lists them.
COMMANDS = {
    "workflow": "_workflow",
    "dlq": "_dlq",
    "cleanup": "_cleanup",
    "worktree": "_worktree",
    "cache": "_cache",
    "logs": "_logs",
    "scenario": "_scenario",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole ``tapps`` command tree, or, for a ``command`` named in :data:`COMMANDS`, the
    tree with that command alone: the other commands' modules are not even imported (a command
    starts faster), and the command parses, helps and fails as it does in the whole tree."""
    from importlib import import_module

    parser = _Parser(
        prog="tapps",
        description="Carry out the TappsCodingAgents runbook's procedures safely.",
        epilog="Exit codes: 0 success, 1 problems found or operation failed, 2 bad usage or input.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()
    modules = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for module in modules:
        import_module(f"pytest_tapps.cli.{module}").register(commands, common)
    return parser


def _attach_negative_now(argv: Sequence[str]) -> list[str]:
    """``--now -12h`` as ``--now=-12h``: argparse takes a value that starts with ``-`` (and is
    not a plain number) for an option, and no option starts with ``-`` and a digit."""
    joined: list[str] = []
    for index, arg in enumerate(argv):
        if arg == "--":  # the rest are positional values, taken as they are
            return [*joined, *argv[index:]]
        if joined and joined[-1] == "--now" and arg[:1] == "-" and arg[1:2].isdigit():
            joined[-1] = f"--now={arg}"
        else:
            joined.append(arg)
    return joined


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, and turn every user error into a message and a code.

    What stdout and stderr cannot encode (a file name's undecodable bytes, a lone surrogate
    read from a state) is written escaped (``_output.escaped``), never a ``UnicodeEncodeError``.
    """
    with escaping_output():
        return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    arguments = _attach_negative_now(sys.argv[1:] if argv is None else argv)
    # The command is the first argument (the only options before it, --help and --version,
    # need the whole tree anyway).
    parser = build_parser(arguments[0] if arguments else None)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    refusal = future_now_refusal(args) or project_refusal(args)
    if refusal is not None:
        error(refusal)
        return EXIT_USAGE
    if getattr(args, "logs", True):  # a command that never logs starts without logging (~4 ms)
        import logging

        from pytest_tapps.core._logging import configure_logging

        # Without -v only ERROR records show: every WARNING a command logs ("Removed stale
        # lock", "Step failed") is a fact its own output prints, and printing it twice at
        # 3 a.m. reads as two problems. -v shows every record from INFO on, WARNING included.
        verbose = getattr(args, "verbose", False)
        configure_logging(level=logging.INFO if verbose else logging.ERROR)
    try:
        return handler(args)
    except (TappsError, OSError) as exc:
        return emit(failure(exc))
    except KeyboardInterrupt:
        error("interrupted")
        return 130
