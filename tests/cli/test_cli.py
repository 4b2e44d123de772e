"""End-to-end tests of the installed ``tapps`` console script, run in subprocesses."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pytest_tapps
from pytest_tapps.cli._app import COMMANDS, build_parser
from pytest_tapps.core import Layout
from tests.helpers import (
    DAY,
    aged_file,
    envelope,
    execution,
    run_cli,
    state,
    write_current,
    write_json,
)


def _failed_project(root: Path) -> None:
    """A current workflow with one timeout in the DLQ and a history workflow with a bug."""
    write_current(
        root,
        state(
            "workflow-123",
            "failed",
            execution("plan", "completed", agent="planner", duration_seconds=12.5),
            execution("critical-step", "failed", 1, duration_seconds=300, error=envelope()),
            execution(
                "critical-step",
                "failed",
                2,
                duration_seconds=300,
                error=envelope(trace_id="trace-456", workflow_id="workflow-123"),
            ),
        ),
    )
    write_json(
        Layout(root).history_file("workflow-7"),
        state(
            "workflow-7",
            "failed",
            execution(
                "review",
                "failed",
                agent="reviewer",
                error=envelope("execution", recoverable=False, message="KeyError: 'x'"),
            ),
        ),
    )


def test_status_prints_the_steps_table(tmp_path: Path) -> None:
    """workflow status shows each step's status, attempts, duration and error category."""
    _failed_project(tmp_path)
    done = run_cli("workflow", "status", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "workflow workflow-123: failed"
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == [
        "STEP",
        "AGENT",
        "ACTION",
        "STATUS",
        "ATTEMPTS",
        "DURATION",
        "ERROR",
    ]
    assert table[1].split() == ["plan", "planner", "generate-code", "completed", "1", "12.5s", "-"]
    assert table[2].split() == [
        "critical-step",
        "implementer",
        "generate-code",
        "failed",
        "2",
        "10m",
        "0s",
        "timeout",
        "(recoverable)",
    ]


def test_status_json_for_a_named_workflow(tmp_path: Path) -> None:
    """--workflow-id picks a history workflow; --json gives machine-readable steps."""
    _failed_project(tmp_path)
    done = run_cli("workflow", "status", "--workflow-id", "workflow-7", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["workflow_id"] == "workflow-7"
    assert data["steps"] == [
        {
            "step_id": "review",
            "agent": "reviewer",
            "action": "generate-code",
            "status": "failed",
            "attempts": 1,
            "duration_seconds": None,
            "error_code": "execution_error",
            "error_category": "execution",
            "recoverable": False,
            "worktree": None,
        }
    ]


def test_project_root_option_replaces_the_working_directory(tmp_path: Path) -> None:
    """--project-root reads another project's tree."""
    _failed_project(tmp_path / "proj")
    done = run_cli("workflow", "status", "--project-root", "proj", "--json", cwd=tmp_path)
    assert json.loads(done.stdout)["workflow_id"] == "workflow-123"


def test_dlq_list_json_has_the_envelope_fields_and_advice(tmp_path: Path) -> None:
    """Every failed step of every workflow, with envelope, correlation ids and advice."""
    _failed_project(tmp_path)
    done = run_cli("dlq", "list", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    by_step = {e["step_id"]: e for e in entries}
    assert set(by_step) == {"critical-step", "review"}
    timeout = by_step["critical-step"]
    for field in (
        "code",
        "category",
        "recoverable",
        "message",
        "workflow_id",
        "step_id",
        "agent",
        "trace_id",
    ):
        assert field in timeout
    assert (timeout["category"], timeout["recoverable"], timeout["trace_id"]) == (
        "timeout",
        True,
        "trace-456",
    )
    assert timeout["attempts"] == 2
    assert timeout["advice"][0] == "Increase the timeout in the workflow step metadata"
    assert by_step["review"]["advice"][0] == "Review the error message and details"


def test_dlq_filters_and_grouping(tmp_path: Path) -> None:
    """--recoverable/--non-recoverable filter; --group-by category prints headed groups."""
    _failed_project(tmp_path)
    only = json.loads(run_cli("dlq", "list", "--non-recoverable", "--json", cwd=tmp_path).stdout)
    assert [e["step_id"] for e in only] == ["review"]
    grouped = run_cli("dlq", "list", "--group-by", "category", cwd=tmp_path).stdout.splitlines()
    headers = [line for line in grouped if not line.startswith((" ", "-"))]
    assert headers == [
        "execution (1): May require code changes",
        "timeout (1): Increase timeout or optimize operation",
    ]


def test_dlq_reports_a_corrupt_state_and_exits_1(tmp_path: Path) -> None:
    """A corrupt state file is named on stderr, kept, and turns the exit code to 1."""
    _failed_project(tmp_path)
    bad = write_json(Layout(tmp_path).history_file("broken"), {})
    bad.write_text('{"workflow_id": "broken", "sta')
    done = run_cli("dlq", "list", "--json", cwd=tmp_path)
    assert done.returncode == 1
    assert len(json.loads(done.stdout)) == 2
    assert "broken.json: not valid JSON" in done.stderr
    assert "Traceback" not in done.stderr
    assert bad.read_text() == '{"workflow_id": "broken", "sta'


def test_dlq_never_calls_the_queue_empty_when_a_state_is_unreadable(tmp_path: Path) -> None:
    """With a state that cannot be read, ``dlq list`` and ``dlq retry`` say the queue is empty
    only among the readable states, name the unreadable one with its reason, and exit 1;
    ``dlq skip`` names it as where the workflow may be."""
    write_current(tmp_path, state("workflow-123", "completed", execution("plan")))
    bad = write_json(Layout(tmp_path).history_file("broken"), {})
    bad.write_text('{"workflow_id": "broken", "sta')
    warning = (
        "tapps: warning: .tapps-agents/workflow-state/history/broken.json: not valid JSON: "
        "Unterminated string starting at line 1 column 27 (truncated?) (skipped; the file "
        "was left untouched)"
    )
    among = " among the readable states; a state file could not be read (see the warning above)"
    listed = run_cli("dlq", "list", cwd=tmp_path)
    assert (listed.returncode, listed.stderr.splitlines()) == (1, [warning])
    assert listed.stdout == f"the dead letter queue is empty{among}\n"
    recoverable = run_cli("dlq", "list", "--recoverable", cwd=tmp_path)
    assert recoverable.returncode == 1
    assert recoverable.stdout == f"the dead letter queue holds no recoverable failed step{among}\n"
    retry = run_cli("dlq", "retry", "--category", "timeout", cwd=tmp_path)
    assert (retry.returncode, retry.stderr.splitlines()) == (1, [warning])
    assert retry.stdout == f"no recoverable failed step of category timeout{among}\n"
    skip = run_cli("dlq", "skip", "--workflow-id", "broken", "--step-id", "s", cwd=tmp_path)
    assert skip.returncode == 1
    assert skip.stderr.startswith(
        "tapps: error: .tapps-agents/workflow-state/history/broken.json: not valid JSON"
    )
    assert "no readable state holds workflow id 'broken', so it may be in this file" in (
        skip.stderr
    )
    assert bad.read_text() == '{"workflow_id": "broken", "sta'


def test_bad_input_gets_a_message_not_a_traceback(tmp_path: Path) -> None:
    """Unknown ids, unsafe ids, missing state and unknown options exit 2 with one clear line."""
    (tmp_path / ".tapps-agents").mkdir()
    cases = [
        (("workflow", "status"), "tapps: error: no workflow state in"),
        (
            ("workflow", "status", "--workflow-id", "../x"),
            "tapps: error: workflow id '../x' must not contain",
        ),
        (("dlq", "list", "--group-by", "agent"), "invalid choice: 'agent'"),
        (("workflow", "frobnicate"), "invalid choice: 'frobnicate'"),
    ]
    for args, message in cases:
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 2, args
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    _failed_project(tmp_path)
    done = run_cli("workflow", "status", "--workflow-id", "nope", cwd=tmp_path)
    assert (done.returncode, done.stderr.strip().splitlines()[-1][:60]) == (
        2,
        "tapps: error: no workflow state for workflow id 'nope' in .t",
    )


def test_corrupt_current_state_is_reported_and_kept(tmp_path: Path) -> None:
    """workflow status on a truncated file exits 1 naming the file, which stays as it was."""
    path = write_current(tmp_path, {})
    path.write_text('{"workflow_id": "wf", "status": "runn')
    done = run_cli("workflow", "status", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(
        "tapps: error: .tapps-agents/workflow-state/current_state.json: not valid JSON"
    )
    assert path.read_text() == '{"workflow_id": "wf", "status": "runn'


def test_logs_lint_prints_file_line_problems_and_exits_1(tmp_path: Path) -> None:
    """logs lint prints FILE:LINE: problem for each break and exits 1; a clean file exits 0."""
    good = {
        "timestamp": "2026-01-15T10:30:00Z",
        "level": "INFO",
        "logger": "l",
        "message": "m",
        "workflow_id": "w",
    }
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps(good) + "\n")
    dirty = tmp_path / "dirty.jsonl"
    dirty.write_text(json.dumps(good) + "\n" + json.dumps({**good, "duration": 3}) + "\n")
    assert run_cli("logs", "lint", "clean.jsonl", cwd=tmp_path).returncode == 0
    done = run_cli("logs", "lint", "clean.jsonl", "dirty.jsonl", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "dirty.jsonl:2: field 'duration' is a number without a unit in its name; "
        "name the unit, e.g. 'duration_seconds'"
    ]
    missing = run_cli("logs", "lint", "nope.jsonl", cwd=tmp_path)
    assert (missing.returncode, missing.stderr.splitlines()[0]) == (
        2,
        "tapps: error: nope.jsonl: no such file",
    )


def test_logs_grep_filters_by_workflow_and_step(tmp_path: Path) -> None:
    """logs grep prints matching lines of JSON and text logs; no match exits 1."""
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"workflow_id": "workflow-123", "step_id": "s1", "message": "json"})
        + "\n"
        + json.dumps({"workflow_id": "workflow-1234", "step_id": "s1", "message": "other"})
        + "\n"
    )
    (tmp_path / "b.log").write_text("T INFO l text workflow_id=workflow-123 step_id=s2\n")
    done = run_cli(
        "logs", "grep", "--workflow-id", "workflow-123", "a.jsonl", "b.log", cwd=tmp_path
    )
    assert done.returncode == 0
    assert [line.split(":", 1)[0] for line in done.stdout.splitlines()] == ["a.jsonl", "b.log"]
    step = run_cli(
        "logs",
        "grep",
        "--workflow-id",
        "workflow-123",
        "--step-id",
        "s2",
        "--json",
        "b.log",
        cwd=tmp_path,
    )
    assert [m["fields"]["step_id"] for m in json.loads(step.stdout)] == ["s2"]
    none = run_cli("logs", "grep", "--workflow-id", "workflow-9", "a.jsonl", cwd=tmp_path)
    assert (none.returncode, none.stdout) == (1, "")


def test_logs_emit_logs_one_record_with_typed_fields(tmp_path: Path) -> None:
    """logs emit writes the record on stderr (JSON when structured), whatever -v says; a
    field's JSON value keeps its type; a step without its workflow is exit 2, nothing logged."""
    structured = {"TAPPS_AGENTS_STRUCTURED_LOGGING": "true"}
    done = run_cli(
        "logs", "emit", "Step completed", "--workflow-id", "wf-1", "--step-id", "build",
        "--level", "debug", "--field", "duration_seconds=1.5", "--field", "cached=true",
        "--field", 'note="7"', "--field", "text=not json", "--now", "2026-01-15T10:30:00Z",
        cwd=tmp_path, env=structured,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "")
    assert json.loads(done.stderr) == {
        "timestamp": "2026-01-15T10:30:00Z",
        "level": "DEBUG",
        "logger": "tapps_agents.workflow.executor",
        "message": "Step completed",
        "workflow_id": "wf-1",
        "step_id": "build",
        "duration_seconds": 1.5,
        "cached": True,
        "note": "7",
        "text": "not json",
    }
    orphan = run_cli("logs", "emit", "Step started", "--step-id", "s", cwd=tmp_path, env=structured)
    assert (orphan.returncode, orphan.stderr) == (
        2,
        "tapps: error: workflow_id must be a non-empty string, got None\n",
    )
    bad = run_cli("logs", "emit", "x", "--field", "=1", cwd=tmp_path)
    assert (bad.returncode, bad.stderr) == (
        2,
        "tapps: error: --field '=1': write KEY=VALUE, e.g. --field duration_seconds=1.5\n",
    )


def test_python_m_runs_the_same_cli(tmp_path: Path) -> None:
    """python -m pytest_tapps is the tapps command."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest_tapps", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout.split()[0]) == (0, "tapps")


def test_help_documents_exit_codes(tmp_path: Path) -> None:
    """tapps --help says what the exit codes mean."""
    done = run_cli("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert (
        "Exit codes: 0 success, 1 problems found or operation failed, 2 bad usage or" in done.stdout
    )


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The direct subcommands of ``parser`` (argparse lists them only in underscore names)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _tree(parser: argparse.ArgumentParser) -> dict[str, tuple[str, dict[str, object]]]:
    """Every subcommand below ``parser``, by its prog: its help and its defaults."""
    found = {}
    for sub in _subparsers(parser).values():
        found[sub.prog] = (sub.format_help(), sub._defaults)
        found.update(_tree(sub))
    return found


def test_the_command_table_lists_every_command_in_help_order() -> None:
    """COMMANDS, which lets a command load alone, names every command of the whole tree."""
    assert list(_subparsers(build_parser())) == list(COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_command_built_alone_is_the_command_of_the_whole_tree(command: str) -> None:
    """``tapps COMMAND`` builds that command alone, with the same help, subcommands and
    defaults (so the same parsing and errors) as in the whole tree."""
    whole = _tree(build_parser())
    alone = _tree(build_parser(command))
    assert list(_subparsers(build_parser(command))) == [command]
    assert alone == {prog: found for prog, found in whole.items() if prog.split()[1] == command}


def _after_run(argv: list[str], project: Path, report: str, *, bare: bool = False) -> str:
    """The last line a fresh interpreter prints with ``report`` after ``run(argv)`` in
    ``project`` (what a command loaded is only visible in a process of its own). ``bare``: with
    no site-packages (``-S``; this package found by ``PYTHONPATH``), so that nothing a ``.pth``
    file loads at start hides what the command loads."""
    code = (
        "import sys\n"
        "BEFORE = set(sys.modules)\n"
        "from pytest_tapps.cli import main\n"
        f"main({argv!r} + ['--project-root', sys.argv[1]])\n"
        f"{report}"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    flags = []
    if bare:
        flags = ["-S"]
        env["PYTHONPATH"] = str(Path(pytest_tapps.__file__).parent.parent)
    done = subprocess.run(
        [sys.executable, *flags, "-c", code, str(project)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return done.stdout.splitlines()[-1]


def test_a_command_imports_no_other_command(tmp_path: Path) -> None:
    """``tapps cleanup`` imports none of the other commands' modules (they cost start-up)."""
    report = "print(' '.join(m for m in sys.modules if m.startswith('pytest_tapps.cli.')))"
    loaded = set(_after_run(["cleanup", "--dry-run"], tmp_path, report).split())
    commands = {f"pytest_tapps.cli.{module}" for module in COMMANDS.values()}
    assert loaded & commands == {"pytest_tapps.cli._cleanup"}


#: What ``tapps cleanup`` does not need on a project without git, state files or a retention:
#: section, and does not load (each costs milliseconds of its start; docs/performance.md):
#: ``dataclasses`` loads ``inspect``, ``ast`` and ``dis`` (7 ms).
_NOT_FOR_CLEANUP = [
    "ast",
    "dataclasses",
    "dis",
    "hashlib",
    "inspect",
    "json",
    "logging",
    "pydantic",
    "shutil",
    "subprocess",
]


def test_cleanup_loads_only_what_it_uses(tmp_path: Path) -> None:
    """A real run (an expired worktree, an expired log, a kept analytics file) loads none of
    the modules ``tapps cleanup`` has no use for there; it needs nothing but the standard
    library (it runs with no site-packages)."""
    now = time.time()
    aged_file(tmp_path / ".tapps-agents/worktrees/wf-step/src/a.py", age=30 * DAY, now=now)
    aged_file(tmp_path / ".tapps-agents/logs/debug/old.log", age=30 * DAY, now=now)
    aged_file(tmp_path / ".tapps-agents/analytics/history/a.jsonl", age=DAY, now=now)
    report = f"print(sorted(set({_NOT_FOR_CLEANUP!r}) & (set(sys.modules) - BEFORE)))"
    assert _after_run(["cleanup"], tmp_path, report, bare=True) == "[]"
    assert not (tmp_path / ".tapps-agents/worktrees/wf-step").exists()  # it did clean
    assert (tmp_path / ".tapps-agents/analytics/history/a.jsonl").exists()


@pytest.mark.parametrize(
    ("argv", "configured"), [(["cleanup", "--dry-run"], False), (["dlq", "list"], True)]
)
def test_only_commands_that_log_set_up_logging(
    tmp_path: Path, argv: list[str], configured: bool
) -> None:
    """``tapps cleanup`` logs nothing, so it does not load the logging module (4 ms of its
    start); a command that logs (``dlq list``) still gets its handler on ``tapps_agents``."""
    report = (
        "logging = sys.modules.get('logging')\n"
        "handlers = logging.getLogger('tapps_agents').handlers if logging else []\n"
        "print(bool(logging), bool(handlers))"
    )
    (tmp_path / ".tapps-agents").mkdir()
    assert _after_run(argv, tmp_path, report) == f"{configured} {configured}"


def test_help_wraps_at_the_terminal_width_columns_gives(tmp_path: Path) -> None:
    """Help is as wide as ``COLUMNS`` says (the width shutil would report), and no wider."""
    for columns in (60, 120):
        done = run_cli("cleanup", "--help", cwd=tmp_path, env={"COLUMNS": str(columns)})
        widths = [len(line) for line in done.stdout.splitlines()]
        assert max(widths) <= columns - 2
        assert max(widths) > columns - 30  # it uses the room, it does not wrap at 80


def test_a_user_error_is_one_message_and_its_exit_code() -> None:
    """failure() is what tapps prints for an error the core raises, for the command line and
    the reference core's scenario target alike: the message and its code, or the path and the
    system's reason with exit 1."""
    from pytest_tapps.cli._app import failure
    from pytest_tapps.cli._output import Printed
    from pytest_tapps.core import UnsafeNameError

    refused = failure(UnsafeNameError("library id '../x' must not contain '..'"))
    assert refused == Printed(2, "", "tapps: error: library id '../x' must not contain '..'\n")
    missing = failure(FileNotFoundError(2, "No such file or directory", "docs-source"))
    assert missing == Printed(1, "", "tapps: error: docs-source: No such file or directory\n")
