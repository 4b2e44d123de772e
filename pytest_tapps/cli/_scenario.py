"""``tapps scenario ...``: the scenario format's JSON Schema, validation and runbook coverage."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from pytest_tapps.cli._app import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, error, warn
from pytest_tapps.cli._output import print_json


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    scenario = commands.add_parser(
        "scenario", help="scenario files: schema, validate, coverage, conformance, strength"
    )
    actions = scenario.add_subparsers(dest="action", metavar="ACTION", required=True)
    schema = actions.add_parser(
        "schema",
        help="print the JSON Schema of scenario files (for editors)",
        description=(
            "Print the JSON Schema of .tapps.yaml files (or write it to a file with -o). Point "
            "your editor's YAML language server at it to validate as you type."
        ),
    )
    schema.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write the schema to FILE (its folders are made) instead of printing it",
    )
    schema.set_defaults(handler=cmd_schema, changes=False)
    validate = actions.add_parser(
        "validate",
        help="check scenario files without running them",
        description=(
            "Check scenario files (folders: every *.tapps.yaml inside) and print each problem "
            "as FILE:LINE: field: message. Exits 2 when any file is invalid."
        ),
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    validate.set_defaults(handler=cmd_validate, changes=False)
    where = actions.add_parser(
        "path",
        help="print the folder of the bundled runbook suite",
        description=(
            "Print the folder of the runbook suite shipped with pytest-tapps, to run it: "
            'pytest -p tapps "$(tapps scenario path)"'
        ),
    )
    where.set_defaults(handler=cmd_path, changes=False)
    cover = actions.add_parser(
        "coverage",
        help="runbook procedures against the scenarios that exercise them",
        description=(
            "List every procedure of the runbook with the scenarios that exercise it; with "
            "--results (pytest --junitxml output) also whether they passed. Exits 1 when "
            "coverage is below --fail-under."
        ),
    )
    cover.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="default: scenarios/")
    cover.add_argument("--results", type=Path, metavar="JUNIT_XML", help="pytest --junitxml file")
    cover.add_argument("--fail-under", type=float, metavar="PCT", help="minimum coverage percent")
    output = cover.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON")
    output.add_argument(
        "--markdown", action="store_true", help="print the mapping as Markdown tables"
    )
    cover.set_defaults(handler=cmd_coverage, changes=False)
    conform = actions.add_parser(
        "conformance",
        help="compare a run against an implementation with its recorded results; write the report",
        description=(
            "Read a run of the scenarios against an implementation (pytest --junitxml output). "
            "With --recorded, compare each scenario's outcome (pass, departs, not supported, "
            "harness error, skipped) with the recorded ones: exits 1 when any changed, listing "
            "them. --update writes the run's outcomes as the recorded results instead. --report "
            "writes the conformance report (Markdown, per runbook section and procedure, with "
            "the evidence of each departure)."
        ),
    )
    conform.add_argument("results", type=Path, metavar="JUNIT_XML", help="pytest --junitxml file")
    conform.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="the scenario files (default: scenarios/)",
    )
    conform.add_argument("--recorded", type=Path, metavar="FILE", help="recorded results (JSON)")
    conform.add_argument(
        "--update", action="store_true", help="write the run's outcomes to --recorded"
    )
    conform.add_argument("--report", type=Path, metavar="FILE", help="write the Markdown report")
    conform.add_argument(
        "--title",
        default="Conformance to the runbook",
        help="the report's title and what the recorded results are about",
    )
    conform.add_argument(
        "--notes",
        type=Path,
        metavar="FILE",
        help="Markdown put in the report after its introduction (how the system was run)",
    )
    conform.set_defaults(handler=cmd_conformance, changes=False)
    strength = actions.add_parser(
        "strength",
        help="run scenarios against a catalogue of runbook bugs: which bugs they catch",
        description=(
            "Run the scenarios (default: the bundled suite) on the reference core, then against "
            "each bug of a catalogue of faulty implementations (default: the one shipped with "
            "pytest-tapps), and print per bug whether a scenario caught it, and which. Only "
            "scenarios that pass on the reference core count. Exits 1 when the caught share is "
            "below --fail-under or no scenario passed on the core, 2 on bad input."
        ),
    )
    strength.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="scenario files or folders (default: the bundled suite, tapps scenario path)",
    )
    strength.add_argument(
        "--bugs",
        metavar="MODULE:ATTR",
        help="the bugs: a pytest_tapps.strength.Bug subclass or instance, or an iterable of "
        "them (default: the shipped catalogue); the current directory is importable",
    )
    strength.add_argument(
        "-n",
        "--processes",
        type=_processes,
        default=1,
        metavar="N",
        help="run scenarios in N forked processes (auto: one per CPU; default 1)",
    )
    strength.add_argument(
        "--fail-under",
        type=_percent,
        metavar="PERCENT",
        help="exit 1 when fewer than PERCENT%% of the bugs are caught (0 to 100)",
    )
    strength.add_argument(
        "--basetemp",
        type=_folder,
        metavar="DIR",
        help="make each run's project in a folder of its own under DIR, removed after it "
        "(default: $TMPDIR when set, else /dev/shm when it has 1 GiB free, else the system's "
        "temporary folder)",
    )
    strength.add_argument("--json", action="store_true", help="print JSON")
    strength.set_defaults(handler=cmd_strength, changes=False, logs=False)
    _register_capture(actions, common)


#: ``tapps scenario capture --action`` choices: pytest_tapps.scenario._capture.CAPTURE_ACTIONS,
#: written out so that ``tapps --help`` does not import the scenario layer (and pydantic).
CAPTURE_CHOICES = ("cleanup", "dlq", "status", "resume")


def _register_capture(actions: Any, common: argparse.ArgumentParser) -> None:
    capture = actions.add_parser(
        "capture",
        parents=[common],
        help="write a regression scenario from a real .tapps-agents/ tree",
        description=(
            "Read the project's .tapps-agents/ tree (changing nothing, following no link) and "
            "write it as a scenario: now: the capture time, given: every file, folder, link and "
            "lock with its age to the nanosecond (files no runbook rule reads become placeholders "
            "of their size), when: the chosen procedures, then: what the reference core decides "
            "at that time. The scenario passes on the core at once and fails when a change breaks "
            "one of those decisions. Exits 2 on bad input (no .tapps-agents/, an output that "
            "cannot be written, a tree of another layout)."
        ),
    )
    capture.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="the scenario file to write (FILE.tapps.yaml; its folders are made)",
    )
    capture.add_argument(
        "--layout",
        choices=("runbook", "tapps-agents-3.7"),
        default="runbook",
        help="the layout the tree is written in (default: runbook)",
    )
    capture.add_argument(
        "--workflow-id",
        metavar="ID",
        help="the workflow whose status to pin (default: the current one)",
    )
    capture.add_argument(
        "--action",
        dest="actions",
        action="append",
        choices=CAPTURE_CHOICES,
        help="a procedure to pin (repeat it for several; default: cleanup, dlq and status; "
        "resume replays the resume of the workflow with every agent succeeding)",
    )
    capture.add_argument(
        "--expect-from",
        type=Path,
        metavar="FILE",
        help="a YAML file with the then: you wanted (each key replaces the captured one): "
        "captures a bug as a scenario that fails until it is fixed",
    )
    capture.add_argument(
        "--name", help="the scenario's name (default: where and when it was taken)"
    )
    capture.add_argument(
        "--redact-names",
        action="store_true",
        help="replace each name in folders whose rules read no name (analytics, logs, "
        "artifacts, metrics, reports, tiered cache) by a stable hash, its extension kept",
    )
    capture.add_argument(
        "--every-file",
        action="store_true",
        help="write every file on its own line (default: more than 20 placeholder files of one "
        "folder, decision and name shape are one numbered entry, count:)",
    )
    capture.add_argument(
        "--force", action="store_true", help="replace FILE when it exists (else it is refused)"
    )
    capture.set_defaults(handler=cmd_capture, changes=False)


def cmd_schema(args: argparse.Namespace) -> int:
    from pytest_tapps.scenario._schema import SCHEMA_FILE

    text = SCHEMA_FILE.read_text(encoding="utf-8")  # the shipped schema, as editors get it
    if args.output is None:
        print(text, end="")
        return EXIT_OK
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        error(f"{args.output.parent}: cannot make the folder ({exc.strerror or exc})")
        return EXIT_USAGE
    if not _written(args.output, text):
        return EXIT_USAGE
    print(f"wrote {args.output}")
    return EXIT_OK


def _load_all(paths: list[Path]) -> tuple[list[Any], list[str]]:
    from pytest_tapps.scenario._load import ScenarioFileError, load_file, scenario_paths

    loaded: list[Any] = []
    problems: list[str] = []
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file or folder")
    for path in scenario_paths(p for p in paths if p.exists()):
        try:
            loaded.extend(load_file(path))
        except ScenarioFileError as exc:
            problems.extend(str(problem) for problem in exc.problems)
    return loaded, problems


def cmd_path(args: argparse.Namespace) -> int:
    from pytest_tapps.scenario._load import bundled_path

    folder = bundled_path()
    if not folder.is_dir():
        error(f"the bundled suite is missing from this installation (looked in {folder})")
        return EXIT_PROBLEMS
    print(folder)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    loaded, problems = _load_all(args.paths)
    for problem in problems:
        print(problem)
    files = len({item.path for item in loaded})
    if problems:
        error(f"{len(problems)} problem(s); {files} valid file(s) with {len(loaded)} scenario(s)")
        return EXIT_USAGE
    print(f"{files} file(s), {len(loaded)} scenario(s): valid")
    return EXIT_OK


def _load_valid(paths: list[Path]) -> list[Any] | None:
    """The scenarios under ``paths`` (default: ``scenarios/``); None, with every problem
    printed, when a file is invalid."""
    loaded, problems = _load_all(paths or [Path("scenarios")])
    if problems:
        for problem in problems:
            print(problem)
        error("fix the scenario files above first (`tapps scenario validate`)")
        return None
    return loaded


def cmd_coverage(args: argparse.Namespace) -> int:
    from pytest_tapps.scenario._coverage import coverage, read_junit, render, render_markdown

    loaded = _load_valid(args.paths)
    if loaded is None:
        return EXIT_USAGE
    results = None
    if args.results is not None:
        try:
            results = read_junit(args.results)
        except (OSError, SyntaxError) as exc:
            error(f"{args.results}: cannot read JUnit XML ({exc})")
            return EXIT_USAGE
    report = coverage(loaded, results)
    if args.json:
        print_json(
            {
                "covered": report.covered,
                "procedures": len(report.rows),
                "percent": round(report.percent, 2),
                "rows": [
                    {
                        "procedure": row.procedure,
                        "status": row.status,
                        "scenarios": [
                            {"file": str(ref.path), "name": ref.name} for ref in row.scenarios
                        ],
                    }
                    for row in report.rows
                ],
            }
        )
    elif args.markdown:
        print(render_markdown(report, root=Path.cwd()), end="")
    else:
        print(render(report))
    if args.fail_under is not None and report.percent < args.fail_under:
        error(f"coverage {report.percent:.1f}% is below --fail-under {args.fail_under:g}%")
        return EXIT_PROBLEMS
    return EXIT_OK


def cmd_conformance(args: argparse.Namespace) -> int:
    from pytest_tapps.scenario._conformance import read_findings, recorded_text

    if args.update and args.recorded is None:
        error("--update needs --recorded FILE (where to write the results)")
        return EXIT_USAGE
    if args.recorded is None and args.report is None:
        error(
            "nothing to do: add --recorded FILE to compare the run with the recorded results "
            "(with --update to record them), or --report FILE to write the report"
        )
        return EXIT_USAGE
    try:
        found = read_findings(args.results)
    except (OSError, SyntaxError) as exc:
        error(f"{args.results}: cannot read JUnit XML ({exc})")
        return EXIT_USAGE
    if not found:
        error(f"{args.results}: no test cases in it (did the run collect the scenarios?)")
        return EXIT_USAGE
    if args.report is not None and (code := _write_report(args, found)) != EXIT_OK:
        return code
    if args.recorded is None:
        return EXIT_OK
    if args.update:
        if not _written(args.recorded, recorded_text(found, about=args.title)):
            return EXIT_USAGE
        print(f"wrote {len(found)} recorded result(s) to {args.recorded}")
        return EXIT_OK
    return _compare_with_recorded(args.recorded, found)


def _write_report(args: argparse.Namespace, found: dict[str, Any]) -> int:
    from pytest_tapps.scenario._conformance import render_report

    loaded = _load_valid(args.paths)
    if loaded is None:
        return EXIT_USAGE
    known = {f"{item.path.name}::{item.name}" for item in loaded}
    strangers = sorted(set(found) - known)
    if strangers:
        where = ", ".join(str(p) for p in args.paths) or "scenarios/"
        error(
            f"{len(strangers)} scenario(s) of {args.results} are not in {where} (first: "
            f"{strangers[0]}); give the scenario folder the run used, e.g. "
            '"$(tapps scenario path)"'
        )
        return EXIT_USAGE
    try:
        notes = args.notes.read_text(encoding="utf-8") if args.notes else ""
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        error(f"{args.notes}: cannot read the notes ({why or exc})")
        return EXIT_USAGE
    command = "tapps scenario conformance --report"
    text = render_report(loaded, found, title=args.title, command=command, notes=notes)
    if not _written(args.report, text):
        return EXIT_USAGE
    print(f"wrote {args.report}")
    return EXIT_OK


def _written(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` whole (a temp file renamed), or say why not."""
    from pytest_tapps.core._fsutil import write_atomic

    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        error(f"{path}: cannot write it ({exc.strerror or exc})")
        return False
    return True


def _compare_with_recorded(path: Path, found: dict[str, Any]) -> int:
    from pytest_tapps.scenario._conformance import RecordedResultsError, changes, read_recorded

    try:
        recorded = read_recorded(path)
    except RecordedResultsError as exc:
        error(str(exc))
        return EXIT_USAGE
    changed = changes(recorded, found)
    for line in changed:
        print(line)
    if changed:
        count = sum(not line.startswith(" ") for line in changed)
        error(
            f"{count} scenario(s) differ from {path}; if the change is expected, review it and "
            "rerun with --update"
        )
        return EXIT_PROBLEMS
    print(f"{len(found)} scenario(s): as recorded in {path}")
    return EXIT_OK


def _processes(text: str) -> int:
    """``-n``: a count of 1 or more, or ``auto``."""
    if text == "auto":
        from pytest_tapps.strength._engine import default_processes

        return default_processes()
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        message = f"{text!r}: give a number of processes (1 or more) or auto"
        raise argparse.ArgumentTypeError(message)
    return count


def _percent(text: str) -> float:
    """``--fail-under``: a percent from 0 to 100."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:  # also refuses nan
        message = f"{text!r}: give a percent from 0 to 100"
        raise argparse.ArgumentTypeError(message)
    return value


def _folder(text: str) -> Path:
    if not Path(text).is_dir():
        message = f"{text!r}: no such folder; give an existing one"
        raise argparse.ArgumentTypeError(message)
    if not os.access(text, os.W_OK | os.X_OK):
        message = f"{text!r}: this user may not make folders in it; give one it may write to"
        raise argparse.ArgumentTypeError(message)
    return Path(text)


def cmd_strength(args: argparse.Namespace) -> int:
    from pytest_tapps.core._errors import ConfigurationError
    from pytest_tapps.scenario._load import bundled_path
    from pytest_tapps.strength._engine import SuiteError, load_bugs, measure
    from pytest_tapps.strength._report import as_json, render, warnings

    try:
        bugs = load_bugs(args.bugs, option="--bugs")
    except ConfigurationError as exc:
        error(str(exc))
        return EXIT_USAGE
    paths = args.paths or [bundled_path()]
    try:
        strength = measure(paths, bugs, processes=args.processes, basetemp=args.basetemp)
    except SuiteError as exc:
        for problem in exc.problems:
            print(problem)
        error("fix the scenario files above first (`tapps scenario validate`)")
        return EXIT_USAGE
    if args.json:
        print_json(as_json(strength))
    else:
        for line in render(strength):
            print(line)
    for line in warnings(strength):
        warn(line)
    if not strength.scenarios:
        error("no scenario passed on the reference core: there is nothing to measure with")
        return EXIT_PROBLEMS
    if args.fail_under is not None and strength.percent < args.fail_under:
        error(
            f"{strength.percent:.1f}% of the bugs caught is below --fail-under "
            f"{args.fail_under:g}%; the MISSED bugs need a scenario that catches them"
        )
        return EXIT_PROBLEMS
    return EXIT_OK


def cmd_capture(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pytest_tapps.core._clock import SYSTEM_CLOCK
    from pytest_tapps.scenario._capture import (
        COMPACT_OVER,
        DEFAULT_ACTIONS,
        CaptureError,
        capture,
        expected_from,
    )
    from pytest_tapps.scenario._export import write_scenario
    from pytest_tapps.scenario._load import ScenarioFileError

    output: Path = args.output
    refusal = _output_refusal(output, args.project_root, force=args.force)
    if refusal is not None:
        error(refusal)
        return EXIT_USAGE
    clock = args.clock
    now = None if clock is SYSTEM_CLOCK else datetime.fromtimestamp(clock.time(), UTC)
    try:
        wanted = None if args.expect_from is None else expected_from(args.expect_from)
        found = capture(
            args.project_root,
            layout=args.layout,
            now=now,
            workflow_id=args.workflow_id,
            actions=args.actions or DEFAULT_ACTIONS,
            name=args.name,
            compact_over=None if args.every_file else COMPACT_OVER,
            redact_names=args.redact_names,
        )
    except CaptureError as exc:
        error(str(exc))
        return EXIT_USAGE
    if wanted is not None:
        found.parts["then"] = {**found.parts["then"], **wanted}
    try:
        write_scenario(output, **found.parts)
    except OSError as exc:
        error(f"{output}: cannot be written ({exc.strerror or exc})")
        return EXIT_USAGE
    except ScenarioFileError as exc:  # a capture we could not read back: our fault, say so
        error(f"the captured scenario does not load, so it was not written: {exc}")
        return EXIT_PROBLEMS
    for why in found.skipped:
        warn(f"left out of the scenario: {why}")
    given = found.parts.get("given", {})
    files = sum(spec.get("count", 1) for spec in given.get("files", ()))
    counts = ", ".join(
        [f"{files} files"]
        + [f"{len(given.get(key, ()))} {key}" for key in ("folders", "symlinks", "locks")]
    )
    print(f"wrote {output}: {counts}; {len(found.skipped)} left out")
    print(f"run it: pytest -p tapps {output}")
    return EXIT_OK


def _output_refusal(output: Path, project_root: Path, *, force: bool) -> str | None:
    """Why the capture may not be written to ``output``, or ``None``."""
    if not output.name.endswith(".tapps.yaml"):
        return f"{output}: name the file NAME.tapps.yaml, as pytest -p tapps collects them"
    tapps = (project_root / ".tapps-agents").resolve()
    if output.resolve().is_relative_to(tapps):
        return f"{output}: write the scenario outside the tree it captures ({tapps})"
    if output.is_dir():
        return f"{output}: is a folder; give the scenario file's path"
    if output.exists() and not force:
        return f"{output}: already exists; pass --force to replace it"
    return None
