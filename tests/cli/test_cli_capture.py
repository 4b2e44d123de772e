"""Tests for ``tapps scenario capture`` (real subprocess runs of the CLI, and of pytest on what it
writes): an incident's tree becomes a scenario that passes at once, the tree is left as it was,
and bad input is refused with exit 2 and nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_tapps.harness import TappsProject
from tests.helpers import run_cli

NOW = "2026-03-01T12:00:00Z"
DAY = 86400


def incident(root: Path) -> TappsProject:
    """A stuck workflow (running, its executor dead) with a failed step, old logs and a link
    out of the project, written with real mtimes relative to NOW."""
    from datetime import datetime

    now = datetime.fromisoformat(NOW).timestamp()
    tapps = root / ".tapps-agents"
    state = {
        "workflow_id": "wf-7",
        "status": "running",
        "current_step": "review",
        "started_at": "2026-03-01T10:00:00Z",
        "updated_at": "2026-03-01T11:00:00Z",
        "step_executions": [
            {
                "step_id": "implement",
                "status": "failed",
                "attempt": 3,
                "error": {
                    "code": "agent_timeout",
                    "category": "timeout",
                    "recoverable": True,
                    "message": "implement timed out",
                },
            },
            {"step_id": "review", "status": "running", "attempt": 1},
        ],
    }
    files = {
        "workflow-state/current_state.json": (json.dumps(state, indent=2), 3600),
        "logs/debug/old.log": ("x" * 50, 8 * DAY),
        "logs/debug/new.log": ("y" * 10, 6 * DAY),
        "analytics/history/agents-2026-01-01.jsonl": ('{"e": 1}\n' * 3, 91 * DAY),
    }
    for relative, (content, age) in files.items():
        path = tapps / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        os.utime(path, (now - age, now - age))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = {
        "pid": dead.pid,
        "host": os.uname().nodename,
        "created_at": "2026-03-01T10:00:00Z",
        "heartbeat_at": "2026-03-01T11:00:00Z",
        "ttl_seconds": 300,
        "workflow_id": "wf-7",
    }
    (tapps / "workflow-state" / "wf-7.lock").write_text(json.dumps(lock))
    (tapps / "logs" / "debug" / "elsewhere").symlink_to("/etc")
    return TappsProject(root)


def pytest_on(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tapps", "-p", "no:cacheprovider", "-q", str(path)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTEST_ADDOPTS": ""},
    )


def test_an_incident_becomes_a_scenario_that_passes_and_the_tree_is_untouched(
    tmp_path: Path,
) -> None:
    live = incident(tmp_path / "project")
    before = live.snapshot()
    done = run_cli(
        "scenario", "capture", "--project-root", "project", "--now", NOW,
        "-o", "regressions/wf-7.tapps.yaml", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        "wrote regressions/wf-7.tapps.yaml: 4 files, 0 folders, 1 symlinks, 1 locks" in done.stdout
    )
    assert live.snapshot() == before
    written = tmp_path / "regressions" / "wf-7.tapps.yaml"
    text = written.read_text()
    # The decisions of the moment, as the reference core made them.
    assert ".tapps-agents/logs/debug/old.log: 'delete: older than 7d'" in text
    assert ".tapps-agents/logs/debug/new.log: 'keep: too new'" in text
    assert "holder: dead-pid" in text
    assert "stuck: true" in text
    assert "step_id: implement" in text  # in the DLQ
    assert "target: ../outside/etc" in text
    assert "x" * 50 not in text  # a log's content is not copied, only its size
    ran = pytest_on(written, tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout


def test_the_captured_scenario_fails_when_the_decision_it_pinned_changes(tmp_path: Path) -> None:
    """A user who expected the 6-day log to go edits then: the scenario now fails, naming it."""
    incident(tmp_path / "project")
    written = tmp_path / "wf-7.tapps.yaml"
    done = run_cli(
        "scenario", "capture", "--project-root", "project", "--now", NOW,
        "--action", "cleanup", "-o", str(written), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = written.read_text()
    assert "diagnosis" not in text  # only the action asked for
    assert "dlq" not in text
    written.write_text(
        text.replace(
            ".tapps-agents/logs/debug/new.log: 'keep: too new'",
            ".tapps-agents/logs/debug/new.log: delete",
        )
    )
    ran = pytest_on(written, tmp_path)
    assert ran.returncode == 1
    assert "then.plan['.tapps-agents/logs/debug/new.log']" in ran.stdout


@pytest.mark.parametrize(
    ("make", "output", "message"),
    [
        (lambda root: root.mkdir(), "x.tapps.yaml", "no .tapps-agents/ folder"),
        (lambda root: None, "x.tapps.yaml", "no such folder"),
        (
            lambda root: (root / ".tapps-agents" / "kb").mkdir(parents=True),
            "x.tapps.yaml",
            "pass --layout tapps-agents-3.7",
        ),
        (
            lambda root: (root / ".tapps-agents").mkdir(parents=True),
            "x.yaml",
            "name the file NAME.tapps.yaml",
        ),
        (
            lambda root: (root / ".tapps-agents").mkdir(parents=True),
            "project/.tapps-agents/x.tapps.yaml",
            "outside the tree it captures",
        ),
        (
            lambda root: (root / ".tapps-agents").mkdir(parents=True),
            "project/.tapps-agents/../file/x.tapps.yaml",
            "cannot be written",
        ),
    ],
    ids=["no-tapps-agents", "no-root", "other-layout", "name", "inside", "unwritable"],
)
def test_bad_input_is_refused_with_exit_2_and_nothing_written(
    tmp_path: Path, make: object, output: str, message: str
) -> None:
    root = tmp_path / "project"
    make(root)  # type: ignore[operator]
    if root.is_dir():
        (root / "file").write_text("a file where a folder is asked for")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = run_cli(
        "scenario", "capture", "--project-root", "project", "--now", NOW, "-o", output,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_an_existing_file_is_replaced_only_with_force(tmp_path: Path) -> None:
    incident(tmp_path / "project")
    written = tmp_path / "x.tapps.yaml"
    written.write_text("mine\n")
    args = ["scenario", "capture", "--project-root", "project", "--now", NOW, "-o", str(written)]
    refused = run_cli(*args, cwd=tmp_path)
    assert refused.returncode == 2
    assert "already exists; pass --force" in refused.stderr
    assert written.read_text() == "mine\n"
    done = run_cli(*args, "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert written.read_text().startswith("name: captured from project")


def test_the_command_offers_every_action_a_capture_can_pin() -> None:
    from pytest_tapps.cli._scenario import CAPTURE_CHOICES
    from pytest_tapps.scenario._capture import CAPTURE_ACTIONS

    assert CAPTURE_CHOICES == CAPTURE_ACTIONS


def test_expect_from_captures_a_bug_as_a_scenario_that_fails_until_it_is_fixed(
    tmp_path: Path,
) -> None:
    """The on-call engineer wanted the 6-day log deleted too (their bug report): the capture
    takes that outcome instead of today's, so the scenario fails on today's core, naming it."""
    incident(tmp_path / "project")
    wanted = tmp_path / "wanted.yaml"
    wanted.write_text(
        "then:\n"
        "  plan:\n"
        "    .tapps-agents/logs/debug/new.log: delete\n"
        "  diagnosis: {stuck: false}\n"
    )
    written = tmp_path / "bug.tapps.yaml"
    done = run_cli(
        "scenario", "capture", "--project-root", "project", "--now", NOW,
        "--expect-from", str(wanted), "-o", str(written), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = written.read_text()
    assert "stuck: false" in text
    assert "dlq:" in text  # a key the file does not give stays as captured
    assert ".tapps-agents/logs/debug/old.log: 'delete" not in text  # its plan replaces the plan
    ran = pytest_on(written, tmp_path)
    assert ran.returncode == 1
    assert "then.plan['.tapps-agents/logs/debug/new.log']" in ran.stdout
    assert "then.diagnosis.stuck" in ran.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("then:\n  diagnosis: {stuck: maybe}\n", "wanted.yaml:2: then.diagnosis.stuck:"),
        ("then:\n  plann: {}\n", "wanted.yaml:2: then.plann:"),
        ("- a list\n", "write the outcome you want as a then: mapping"),
        ("then: [\n", "wanted.yaml:"),
    ],
    ids=["bad-value", "unknown-key", "not-a-mapping", "bad-yaml"],
)
def test_a_bad_expect_from_file_is_refused_with_its_line(
    tmp_path: Path, content: str, message: str
) -> None:
    incident(tmp_path / "project")
    (tmp_path / "wanted.yaml").write_text(content)
    done = run_cli(
        "scenario", "capture", "--project-root", "project", "--now", NOW,
        "--expect-from", "wanted.yaml", "-o", "x.tapps.yaml", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.tapps.yaml").exists()


def test_files_alike_are_one_numbered_entry_unless_every_file_is_asked(tmp_path: Path) -> None:
    from datetime import datetime

    now = datetime.fromisoformat(NOW).timestamp()
    folder = tmp_path / "project" / ".tapps-agents" / "analytics" / "history"
    folder.mkdir(parents=True)
    for n in range(25):
        path = folder / f"agents-{n:03d}.jsonl"
        path.write_text("{}\n")
        os.utime(path, (now - 100 * DAY - n, now - 100 * DAY - n))
    args = ["scenario", "capture", "--project-root", "project", "--now", NOW, "--action", "cleanup"]

    compact = run_cli(*args, "-o", "compact.tapps.yaml", cwd=tmp_path)
    every = run_cli(*args, "--every-file", "-o", "every.tapps.yaml", cwd=tmp_path)

    assert compact.returncode == every.returncode == 0, compact.stderr + every.stderr
    assert "wrote compact.tapps.yaml: 25 files" in compact.stdout
    assert "wrote every.tapps.yaml: 25 files" in every.stdout
    text = (tmp_path / "compact.tapps.yaml").read_text()
    assert "path: .tapps-agents/analytics/history/agents-0{n}.jsonl" in text
    assert "count: 25" in text
    assert ".tapps-agents/analytics/history/agents-0{n}.jsonl: 'delete: older than 90d'" in text
    assert (tmp_path / "every.tapps.yaml").read_text().count("size: 3") == 25
    for name in ("compact", "every"):
        ran = pytest_on(tmp_path / f"{name}.tapps.yaml", tmp_path)
        assert ran.returncode == 0, ran.stdout


def test_a_tree_of_the_real_package_is_captured_in_its_layout(tmp_path: Path) -> None:
    """A tree laid out as tapps-agents 3.7 writes it (timestamped checksummed states, last.json,
    one logs/ folder) is captured with --layout tapps-agents-3.7: the scenario says so, names
    its paths as the runbook does, and passes; the same tree as --layout runbook is refused."""
    from datetime import datetime

    from pytest_tapps.core import VirtualClock
    from pytest_tapps.harness import project

    clock = VirtualClock(datetime.fromisoformat(NOW).timestamp())
    with project(tmp_path / "project", clock=clock, layout="tapps-agents-3.7") as built:
        built.workflow("wf-9", "failed", current=True).step("plan").step(
            "build", "failed", error={"category": "timeout", "message": "timed out"}
        ).save()
        built.file("logs/agent.log", b"x" * 10, age="10d")
    args = ["scenario", "capture", "--project-root", "project", "--now", NOW]

    refused = run_cli(*args, "-o", "wrong.tapps.yaml", cwd=tmp_path)
    done = run_cli(*args, "--layout", "tapps-agents-3.7", "-o", "real.tapps.yaml", cwd=tmp_path)

    assert refused.returncode == 2
    assert "pass --layout tapps-agents-3.7" in refused.stderr
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "real.tapps.yaml").read_text()
    assert "layout: tapps-agents-3.7" in text
    assert ".tapps-agents/logs/application/agent.log: 'delete: older than" in text
    assert "step_id: build" in text
    ran = pytest_on(tmp_path / "real.tapps.yaml", tmp_path)
    assert ran.returncode == 0, ran.stdout
