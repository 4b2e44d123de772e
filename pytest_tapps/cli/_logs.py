"""``tapps logs ...``: check logs against the runbook's field conventions, search them, and log
one record as a step would."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_tapps.cli._app import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, error
from pytest_tapps.cli._output import print_json
from pytest_tapps.core._errors import ConfigurationError
from pytest_tapps.core._logcheck import grep_file, lint_file, parse_fields
from pytest_tapps.core._shown import quoted

if TYPE_CHECKING:
    from pytest_tapps.core._clock import Clock


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    logs = commands.add_parser("logs", help="lint and search workflow logs")
    actions = logs.add_subparsers(dest="action", metavar="ACTION", required=True)
    lint = actions.add_parser(
        "lint",
        parents=[common],
        help="check JSON-lines logs against the runbook's field conventions",
        description=(
            "Check JSON-lines log files: required fields, workflow_id wherever a step or agent "
            "is named, snake_case names, units in names of numeric durations and sizes, UTC "
            "timestamps. Prints FILE:LINE: problem; exits 1 when it finds any."
        ),
    )
    lint.add_argument("files", nargs="+", type=Path, metavar="FILE")
    lint.add_argument("--json", action="store_true", help="print problems as a JSON list")
    lint.set_defaults(handler=cmd_lint, changes=False, needs_project=False)
    grep = actions.add_parser(
        "grep",
        parents=[common],
        help="print the log lines of a workflow (JSON or key=value text)",
        description=(
            "Print the lines whose correlation fields equal the given values exactly (a "
            "substring match would find workflow-1234 for workflow-123). Exits 1 when no line "
            "matches, like grep."
        ),
    )
    grep.add_argument("--workflow-id", required=True, metavar="ID")
    grep.add_argument("--step-id", metavar="ID")
    grep.add_argument("--agent", metavar="NAME")
    grep.add_argument("--trace-id", metavar="ID")
    grep.add_argument("files", nargs="+", type=Path, metavar="FILE")
    grep.add_argument("--json", action="store_true", help="print matching records as JSON")
    grep.set_defaults(handler=cmd_grep, changes=False, needs_project=False)
    emit = actions.add_parser(
        "emit",
        parents=[common],
        help="log one record through the workflow logger (as a step of a workflow would)",
        description=(
            "Log MESSAGE with the correlation fields through the workflow logger, on stderr: "
            "JSON when TAPPS_AGENTS_STRUCTURED_LOGGING=true, else key=value text; for steps "
            "written as shell scripts. --workflow-id is required (exit 2 without it, nothing "
            "logged). A --field value that reads as a JSON number, true, "
            "false or a quoted string is that (--field note='\"7\"' is the text 7); anything "
            "else is the text written."
        ),
    )
    emit.add_argument("message", metavar="MESSAGE")
    emit.add_argument("--workflow-id", metavar="ID")
    emit.add_argument("--step-id", metavar="ID")
    emit.add_argument("--agent", metavar="NAME")
    emit.add_argument("--trace-id", metavar="ID")
    emit.add_argument("--level", choices=["debug", "info", "warning", "error"], default="info")
    emit.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra field of the record (repeatable): --field duration_seconds=1.5",
    )
    emit.set_defaults(handler=cmd_emit, changes=False, needs_project=False)


def _readable(files: list[Path]) -> tuple[list[Path], bool]:
    ok, bad = [], False
    for path in files:
        if path.is_file():
            ok.append(path)
        else:
            error(f"{path}: {'is a directory' if path.is_dir() else 'no such file'}")
            bad = True
    return ok, bad


def cmd_lint(args: argparse.Namespace) -> int:
    files, bad = _readable(args.files)
    problems = [problem for path in files for problem in lint_file(path)]
    if args.json:
        print_json([{"file": str(p.path), "line": p.line, "problem": p.message} for p in problems])
    else:
        for problem in problems:
            print(problem)
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"{len(problems)} {noun} in {len(files)} file(s)", file=sys.stderr)
    if bad:
        return EXIT_USAGE
    return EXIT_PROBLEMS if problems else EXIT_OK


def cmd_grep(args: argparse.Namespace) -> int:
    files, bad = _readable(args.files)
    criteria = {
        key: value
        for key, value in (
            ("workflow_id", args.workflow_id),
            ("step_id", args.step_id),
            ("agent", args.agent),
            ("trace_id", args.trace_id),
        )
        if value is not None
    }
    matches = [(path, number, line) for path in files for number, line in grep_file(path, criteria)]
    if args.json:
        print_json(
            [{"file": str(p), "line": n, "fields": parse_fields(text)} for p, n, text in matches]
        )
    else:
        for path, _number, line in matches:
            print(f"{path}:{line}" if len(files) > 1 else line)
    if bad:
        return EXIT_USAGE
    return EXIT_OK if matches else EXIT_PROBLEMS


def _field(text: str) -> tuple[str, object]:
    """``KEY=VALUE``: a JSON number, ``true``, ``false`` or a quoted JSON string as such,
    anything else as the text written."""
    from pytest_tapps.core._nesting import load_json

    key, sep, raw = text.partition("=")
    if not sep or not key:
        message = f"--field {quoted(text)}: write KEY=VALUE, e.g. --field duration_seconds=1.5"
        raise ConfigurationError(message)
    try:
        value = load_json(raw)
    except ValueError:
        return key, raw
    return key, value if isinstance(value, bool | int | float | str) else raw


def emit_record(
    message: str,
    *,
    level: str,
    fields: Mapping[str, object],
    clock: Clock,
    workflow_id: str | None = None,
    step_id: str | None = None,
    agent: str | None = None,
    trace_id: str | None = None,
) -> None:
    """Log one record through the workflow logger at ``level`` (what ``tapps logs emit`` and
    the scenario action ``log`` do); :class:`ConfigurationError` when the correlation fields
    break the runbook's rules (a step without its workflow), and nothing is logged."""
    import logging

    from pytest_tapps.core._logging import WorkflowLogger

    try:
        logger = WorkflowLogger(
            # None is refused by the logger itself, with the runbook's rule as the message.
            workflow_id=workflow_id,  # type: ignore[arg-type]
            step_id=step_id,
            agent=agent,
            trace_id=trace_id,
            # The executor's logger (core._executor.EXECUTOR_LOGGER, not imported: pydantic).
            logger=logging.getLogger("tapps_agents.workflow.executor"),
            clock=clock,
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    getattr(logger, level)(message, **fields)


def cmd_emit(args: argparse.Namespace) -> int:
    import logging

    fields = dict(_field(text) for text in args.field)
    # The record is the point of the command: it shows whatever -v says.
    logging.getLogger("tapps_agents").setLevel(logging.DEBUG)
    emit_record(
        args.message,
        level=args.level,
        fields=fields,
        clock=args.clock,
        workflow_id=args.workflow_id,
        step_id=args.step_id,
        agent=args.agent,
        trace_id=args.trace_id,
    )
    return EXIT_OK
