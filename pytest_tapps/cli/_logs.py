"""``tapps logs ...``: check logs against the runbook's field conventions, and search them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pytest_tapps.cli._app import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, error
from pytest_tapps.cli._output import print_json
from pytest_tapps.core._logcheck import grep_file, lint_file, parse_fields


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
    lint.set_defaults(handler=cmd_lint, changes=False)
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
    grep.set_defaults(handler=cmd_grep, changes=False)


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
