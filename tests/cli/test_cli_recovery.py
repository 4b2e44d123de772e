"""End-to-end tests of the recovery commands of the installed ``tapps`` script."""

from __future__ import annotations

import json
import shlex
import socket
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_tapps.core import Layout, StateStore, StepStatus, WorkflowStatus
from pytest_tapps.core._timeutil import from_epoch, to_iso
from tests.helpers import (
    dead_pid,
    live_lock,
    run_cli,
    running_process,
    state,
    write_current,
    write_json,
    write_lock,
)

STEPS_MODULE = textwrap.dedent(
    """
    from pathlib import Path

    def run_step(step, context):
        with open(context.project_root / "ran.log", "a") as log:
            log.write(step.id + "\\n")
        if (context.project_root / f"fail-{step.id}").exists():
            category = (context.project_root / f"fail-{step.id}").read_text().strip()
            from pytest_tapps.core import StepError
            raise StepError(f"{step.id} broke", category=category, recoverable=category == "timeout")

    NOT_CALLABLE = 42
    """
)

WORKFLOW_YAML = textwrap.dedent(
    """
    id: workflow-123
    steps:
      - id: plan
        agent: planner
      - id: critical-step
        agent: implementer
        action: generate-code
        retry: {max_attempts: 2, backoff_strategy: fixed, initial_delay: 0, max_delay: 0}
        timeout: 5m
      - id: review
        agent: reviewer
    """
)


def _project(root: Path, *, fail: str | None = None) -> Path:
    (root / "steps.py").write_text(STEPS_MODULE)
    (root / "workflow.yaml").write_text(WORKFLOW_YAML)
    if fail:
        (root / "fail-critical-step").write_text(fail)
    return root


def _ran(root: Path) -> list[str]:
    return (root / "ran.log").read_text().split()


def test_run_then_resume_through_the_cli(tmp_path: Path) -> None:
    """run fails on a recoverable timeout (exit 1); after the fix, resume finishes (exit 0)."""
    _project(tmp_path, fail="timeout")
    done = run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[0] == "workflow workflow-123: failed"
    assert _ran(tmp_path) == ["plan", "critical-step", "critical-step"]
    (tmp_path / "fail-critical-step").unlink()
    done = run_cli(
        "workflow",
        "resume",
        "--workflow-id",
        "workflow-123",
        "--runner",
        "steps:run_step",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
    assert _ran(tmp_path) == ["plan", "critical-step", "critical-step", "critical-step", "review"]


def test_a_bad_definition_file_is_refused_at_its_lines_and_nothing_runs(tmp_path: Path) -> None:
    """``workflow run`` on a file with a misspelt key and a bad retry field: exit 2, every
    problem as FILE:LINE: field: message with the line as written, no traceback, no step run
    and no state written; ``resume --definition`` says the same."""
    _project(tmp_path)
    bad = WORKFLOW_YAML.replace("agent: reviewer", "agnet: reviewer").replace(
        "max_attempts: 2", "max_attempts: 0"
    )
    (tmp_path / "workflow.yaml").write_text(bad)
    done = run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "tapps: error: workflow.yaml:9: steps.1.retry.max_attempts: must be >= 1 (it counts the "
        "first attempt; 1 means no retry), got 0\n"
        "    retry: {max_attempts: 0, backoff_strategy: fixed, initial_delay: 0, max_delay: 0}\n"
        "workflow.yaml:12: steps.2.agnet: unknown key (did you mean 'agent'?); a step has id, "
        "agent, action, retry, timeout, metadata\n"
        "    agnet: reviewer\n"
    )
    assert not (tmp_path / "ran.log").exists()
    assert not (tmp_path / ".tapps-agents" / "workflow-state").exists()
    (tmp_path / ".tapps-agents").mkdir(exist_ok=True)
    resumed = run_cli(
        "workflow",
        "resume",
        "--workflow-id",
        "workflow-123",
        "--definition",
        "workflow.yaml",
        "--runner",
        "steps:run_step",
        cwd=tmp_path,
    )
    assert resumed.returncode == 2
    assert resumed.stderr.startswith("tapps: error: workflow.yaml:9: steps.1.retry.max_attempts")


def test_resume_of_a_hand_written_state_takes_definition_from_a_file(tmp_path: Path) -> None:
    """A state with no definition: resume refuses with the way out, the runner it was given
    filled in; that command, with FILE named, works."""
    _project(tmp_path)
    state = {
        "workflow_id": "workflow-123",
        "status": "failed",
        "step_executions": [
            {"step_id": "plan", "agent": "planner", "status": "completed", "attempt": 1},
        ],
    }
    path = Layout(tmp_path).current_state_file
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(state))
    resume = ["workflow", "resume", "--workflow-id", "workflow-123", "--runner", "steps:run_step"]
    done = run_cli(*resume, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "(it was not started by this executor); give the workflow's definition file: "
        "'tapps workflow resume --workflow-id workflow-123 --runner steps:run_step "
        "--definition FILE'"
    )
    advised = shlex.split(done.stderr.strip().rsplit(": ", 1)[1].strip("'"))
    done = run_cli(*[w.replace("FILE", "workflow.yaml") for w in advised[1:]], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _ran(tmp_path) == ["critical-step", "review"]


def test_resume_says_which_stale_lock_it_broke(tmp_path: Path) -> None:
    """resume breaks an expired lock of a still-running process to continue, and says so on
    stderr (why, and that the pid still runs) with or without -v; --json stays one JSON."""
    _project(tmp_path, fail="timeout")
    run = ["workflow", "run", "workflow.yaml", "--runner", "steps:run_step"]
    assert run_cli(*run, cwd=tmp_path).returncode == 1
    (tmp_path / "fail-critical-step").unlink()
    with running_process() as holder:
        write_lock(tmp_path, "workflow-123", holder.pid, heartbeat_at=time.time() - 4000)
        done = run_cli(
            "workflow", "resume", "--workflow-id", "workflow-123", "--runner", "steps:run_step",
            "--json", cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
    (warning,) = done.stderr.splitlines()
    assert warning.startswith(
        f"tapps: warning: removed a stale lock: heartbeat of pid {holder.pid} on "
    )
    assert warning.endswith(f"; pid {holder.pid} still runs on this host")


def test_resume_without_a_runner_says_how_to_name_one(tmp_path: Path) -> None:
    """No --runner: exit 2 with the form to use, and nothing touched."""
    _project(tmp_path)
    (tmp_path / ".tapps-agents").mkdir()
    done = run_cli("workflow", "resume", "--workflow-id", "workflow-123", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "tapps: error: workflow resume needs a step runner to execute steps: name one with "
        "--runner module:attr (a callable taking (step, context)), e.g. "
        "--runner my_project.steps:run_step"
    )


def test_bad_runner_names_are_explained(tmp_path: Path) -> None:
    """Each way of misnaming a runner gets its own message and exit 2."""
    _project(tmp_path)
    cases = {
        "steps": "--runner 'steps': write it as module:attr, e.g. --runner my_steps:run_step",
        "nope:run": "--runner 'nope:run': cannot import module 'nope' (No module named 'nope')",
        "steps:missing": "--runner 'steps:missing': module 'steps' has no attribute 'missing'",
        "steps:NOT_CALLABLE": "--runner 'steps:NOT_CALLABLE': 'NOT_CALLABLE' is a int, not a callable",
    }
    for spec, message in cases.items():
        done = run_cli("workflow", "run", "workflow.yaml", "--runner", spec, cwd=tmp_path)
        assert (done.returncode, done.stderr.strip()) == (2, f"tapps: error: {message}")


def test_non_recoverable_failure_needs_retry_step_before_resume(tmp_path: Path) -> None:
    """resume refuses past a non-recoverable failure; retry-step then resume runs it again."""
    _project(tmp_path, fail="execution")
    run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=tmp_path)
    refused = run_cli(
        "workflow",
        "resume",
        "--workflow-id",
        "workflow-123",
        "--runner",
        "steps:run_step",
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    assert "failed with a non-recoverable execution error (critical-step broke)" in refused.stderr
    (tmp_path / "fail-critical-step").unlink()
    marked = run_cli(
        "workflow",
        "retry-step",
        "--workflow-id",
        "workflow-123",
        "--step",
        "critical-step",
        "--json",
        cwd=tmp_path,
    )
    assert marked.returncode == 0, marked.stderr
    change = json.loads(marked.stdout)
    assert change["changes"] == [
        "step 'critical-step': failed -> pending",
        "workflow: failed -> paused",
    ]
    assert Path(tmp_path / change["backup"]).is_file()
    done = run_cli(
        "workflow",
        "resume",
        "--workflow-id",
        "workflow-123",
        "--runner",
        "steps:run_step",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert _ran(tmp_path) == ["plan", "critical-step", "critical-step", "review"]


def test_skip_step_and_reset_with_dry_run(tmp_path: Path) -> None:
    """Dry runs print the change and write nothing; the real run writes it and a backup."""
    _project(tmp_path, fail="validation")
    run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=tmp_path)
    layout = Layout(tmp_path)
    assert layout.current_state_file is not None
    before = layout.current_state_file.read_bytes()
    dry = run_cli(
        "workflow",
        "skip-step",
        "--workflow-id",
        "workflow-123",
        "--step",
        "critical-step",
        "--dry-run",
        cwd=tmp_path,
    )
    assert dry.returncode == 0
    assert dry.stdout.splitlines() == [
        "workflow workflow-123 (.tapps-agents/workflow-state/current_state.json): would change",
        "  - step 'critical-step': failed -> skipped",
        "  - workflow: failed -> paused",
        "dry run: nothing was written",
    ]
    assert layout.current_state_file.read_bytes() == before
    reset = run_cli(
        "workflow",
        "reset",
        "--workflow-id",
        "workflow-123",
        "--to-step",
        "critical-step",
        cwd=tmp_path,
    )
    assert reset.returncode == 0
    assert "  - step 'review': pending -> pending" not in reset.stdout
    assert reset.stdout.splitlines()[-1].startswith(
        "  backup: .tapps-agents/workflow-state/backups/current_state."
    )
    state = StateStore(layout).load()
    assert state.status is WorkflowStatus.PAUSED
    assert state.latest()["critical-step"].status is StepStatus.PENDING


def test_force_cleanup_keeps_a_live_lock_and_names_its_holder(tmp_path: Path) -> None:
    """A live holder's lock survives force-cleanup (exit 1); once it dies the lock goes."""
    _project(tmp_path, fail="timeout")
    run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=tmp_path)
    with live_lock(tmp_path, "workflow-123") as holder:
        done = run_cli("workflow", "force-cleanup", "--workflow-id", "workflow-123", cwd=tmp_path)
        assert done.returncode == 1
        (kept,) = done.stdout.splitlines()
        assert kept.startswith(
            ".tapps-agents/workflow-state/workflow-123.lock: ".join(("kept lock ", ""))
            + f"held by pid {holder.pid} on {socket.gethostname()} (running, heartbeat "
        )
        assert kept.endswith("s ago); stop that process first")
        assert kept.count("held by") == 1
        assert Layout(tmp_path).lock_file("workflow-123").exists()
        edit = run_cli(
            "workflow",
            "skip-step",
            "--workflow-id",
            "workflow-123",
            "--step",
            "review",
            cwd=tmp_path,
        )
        assert edit.returncode == 1
        assert f"workflow is locked by pid {holder.pid} on {socket.gethostname()} (running, " in (
            edit.stderr
        )
        assert edit.stderr.count(f"pid {holder.pid}") == 1
        holder.kill()
        holder.wait()
        done = run_cli(
            "workflow", "force-cleanup", "--workflow-id", "workflow-123", "--json", cwd=tmp_path
        )
    assert done.returncode == 0
    report = json.loads(done.stdout)
    assert report["live_lock"] is None
    assert "is not running" in report["removed_locks"][0]["reason"]
    assert not Layout(tmp_path).lock_file("workflow-123").exists()


def test_status_reports_a_crashed_workflow_as_stuck(tmp_path: Path) -> None:
    """running with no lock holder: status says STUCK, why, and what to run next."""
    _project(tmp_path)
    run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=tmp_path)
    store = StateStore(Layout(tmp_path))
    state = store.load()
    state.status = WorkflowStatus.RUNNING
    store.save(state)
    done = run_cli("workflow", "status", cwd=tmp_path)
    assert done.stdout.splitlines()[0] == "workflow workflow-123: running (STUCK)"
    assert (
        "  stuck:        status is running but no executor holds its lock (no lock file)"
        in done.stdout
    )
    # No lock file: nothing for force-cleanup to do; the state recorded its definition.
    assert [line for line in done.stdout.splitlines() if "next:" in line] == [
        "  next:         tapps workflow resume --workflow-id workflow-123 --runner MODULE:ATTR"
    ]
    data = json.loads(run_cli("workflow", "status", "--json", cwd=tmp_path).stdout)
    assert data["stuck"] is True
    assert data["lock"] is None


def test_status_json_shows_the_lock_ttl(tmp_path: Path) -> None:
    """status --json gives the lock's TTL beside its heartbeat, so its expiry can be read,
    and the workflow its holder took it for (null in a lock written without one)."""
    _project(tmp_path)
    run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=tmp_path)
    path = write_lock(tmp_path, "workflow-123", dead_pid(), heartbeat_at=time.time(), ttl=1234.5)
    data = json.loads(run_cli("workflow", "status", "--json", cwd=tmp_path).stdout)
    assert data["lock"]["ttl_seconds"] == 1234.5
    assert data["lock"]["holder_alive"] is False
    assert data["lock"]["workflow_id"] == "workflow-123"
    record = json.loads(path.read_text())
    del record["workflow_id"]
    path.write_text(json.dumps(record))
    data = json.loads(run_cli("workflow", "status", "--json", cwd=tmp_path).stdout)
    assert data["lock"]["workflow_id"] is None
    assert data["lock"]["pid"] == record["pid"]


def test_dlq_retry_and_skip(tmp_path: Path) -> None:
    """dlq retry marks recoverable failures of a category; dlq skip refuses healthy steps."""
    _project(tmp_path, fail="timeout")
    run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=tmp_path)
    dry = run_cli("dlq", "retry", "--category", "timeout", "--dry-run", cwd=tmp_path)
    assert dry.stdout.splitlines() == [
        "would mark for retry: workflow-123: step 'critical-step': failed -> pending"
    ]
    none = run_cli("dlq", "retry", "--category", "permission", cwd=tmp_path)
    assert none.stdout.strip() == "no recoverable failed step of category permission"
    bad = run_cli("dlq", "skip", "--workflow-id", "workflow-123", "--step-id", "plan", cwd=tmp_path)
    assert bad.returncode == 2
    assert "is not in the dead letter queue (its status is completed)" in bad.stderr
    done = run_cli("dlq", "retry", "--category", "timeout", "--json", cwd=tmp_path)
    assert json.loads(done.stdout)["marked"][0]["workflow_id"] == "workflow-123"
    assert json.loads(run_cli("dlq", "list", "--json", cwd=tmp_path).stdout) == []


def _history_only(root: Path) -> Path:
    """The workflow's state is a copy in history/; current_state.json is another workflow's."""
    write_current(root, state("workflow-other", "completed"))
    return write_json(Layout(root).history_file("workflow-123"), state("workflow-123", "running"))


def _current(root: Path, content: bytes) -> Path:
    path = Layout(root).current_state_file
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


CURRENT = ".tapps-agents/workflow-state/current_state.json"

#: Broken states, each with the warning force-cleanup prints for it (None: readable).
BROKEN_STATES: dict[str, tuple[Callable[[Path], object], str | None]] = {
    "truncated": (
        lambda root: _current(root, b'{"workflow_id": "workflow-123", "status": "runn'),
        f"{CURRENT}: not valid JSON: Unterminated string starting at line 1 column 43 "
        "(truncated?); no readable state holds workflow id 'workflow-123', so it may be in "
        "this file; no worktrees listed",
    ),
    "empty": (
        lambda root: _current(root, b""),
        f"{CURRENT}: file is empty (a write was interrupted?); no readable state holds "
        "workflow id 'workflow-123', so it may be in this file; no worktrees listed",
    ),
    "binary": (
        lambda root: _current(root, b"\x00\xff\xfe\x80 state"),
        f"{CURRENT}: not UTF-8 text (bad byte at offset 1); no readable state holds workflow "
        "id 'workflow-123', so it may be in this file; no worktrees listed",
    ),
    "invalid-json": (
        lambda root: _current(root, b'{"workflow_id": "workflow-123",, }'),
        f"{CURRENT}: not valid JSON: Expecting property name enclosed in double quotes at "
        "line 1 column 32; no readable state holds workflow id 'workflow-123', so it may be in "
        "this file; no worktrees listed",
    ),
    "invalid-model": (
        lambda root: _current(root, b'{"workflow_id": "workflow-123", "status": "stuck"}'),
        f"{CURRENT}: invalid workflow state: status: Input should be 'running', 'paused', "
        "'completed' or 'failed'; no readable state holds workflow id 'workflow-123', so it "
        "may be in this file; no worktrees listed",
    ),
    "missing": (
        lambda root: None,
        "no workflow state for workflow id 'workflow-123' in .tapps-agents/workflow-state; "
        "no worktrees listed",
    ),
    "history-only": (_history_only, None),
}


@pytest.mark.parametrize("holder", ["dead", "expired-but-running"])
@pytest.mark.parametrize("broken", list(BROKEN_STATES))
def test_force_cleanup_breaks_a_stale_lock_whatever_the_state(
    tmp_path: Path, broken: str, holder: str
) -> None:
    """A stale lock goes (exit 0) over a state that is broken, elsewhere or missing; the
    unreadable state is one warning; status then advises no force-cleanup."""
    write, warning = BROKEN_STATES[broken]
    write(tmp_path)
    with running_process() as process:
        pid = dead_pid() if holder == "dead" else process.pid
        beat = round(time.time()) - 7200
        lock = write_lock(tmp_path, "workflow-123", pid, heartbeat_at=beat)
        done = run_cli(
            *("workflow", "force-cleanup", "--workflow-id", "workflow-123"),
            *("--now", to_iso(from_epoch(beat + 3600))),  # the lock's age, exactly
            cwd=tmp_path,
        )
        assert process.poll() is None  # force-cleanup never stops a process
    assert done.returncode == 0, done.stderr
    assert not lock.exists()
    heartbeat = f"pid {pid} on {socket.gethostname()}"
    if holder == "dead":
        reasons = [f"holder {heartbeat} is not running (heartbeat 1h 0m ago)"]
    else:
        reasons = [
            f"heartbeat of {heartbeat} is 1h 0m old, older than its TTL of 5m 0s; pid {pid} "
            "still runs on this host",
        ]
    lines = [f"removed stale lock {lock.relative_to(tmp_path)}: {reason}" for reason in reasons]
    if holder != "dead":
        lines.append(
            f"  pid {pid} may be a hung executor (or another process that took over the pid): "
            "if it is an executor, stop it before you resume (it writes no more state: its "
            "next heartbeat finds the lock gone)"
        )
    assert done.stdout.splitlines() == lines
    warnings = [line for line in done.stderr.splitlines() if line.startswith("tapps: ")]
    assert warnings == ([] if warning is None else [f"tapps: warning: {warning}"])
    assert "Traceback" not in done.stderr
    if warning is None:
        status = run_cli("workflow", "status", "--workflow-id", "workflow-123", cwd=tmp_path)
        assert "force-cleanup" not in status.stdout
        assert "  next:         tapps workflow resume --workflow-id workflow-123" in status.stdout


def test_force_cleanup_without_lock_or_state_is_an_unknown_id(tmp_path: Path) -> None:
    """Neither a lock nor a state: the id names nothing (exit 2)."""
    Layout(tmp_path).state_dir.mkdir(parents=True)
    done = run_cli("workflow", "force-cleanup", "--workflow-id", "workflow-123", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        2,
        "tapps: error: no workflow state for workflow id 'workflow-123' in "
        ".tapps-agents/workflow-state\n",
    )


def test_force_cleanup_with_no_lock_over_a_corrupt_state_warns(tmp_path: Path) -> None:
    """No lock to remove over an unreadable state: says so, warns of the state, exit 0."""
    BROKEN_STATES["empty"][0](tmp_path)
    done = run_cli(
        "workflow", "force-cleanup", "--workflow-id", "workflow-123", "--json", cwd=tmp_path
    )
    assert done.returncode == 0
    report = json.loads(done.stdout)
    assert (report["removed_locks"], report["live_lock"]) == ([], None)
    assert report["state_problem"] == BROKEN_STATES["empty"][1]
    assert done.stderr == f"tapps: warning: {BROKEN_STATES['empty'][1]}\n"


def test_run_and_resume_take_a_trace_id_for_their_records_and_envelopes(tmp_path: Path) -> None:
    """``--trace-id``: every structured record of the run carries it, the failed attempts'
    envelopes record it, and a resume under another id logs that one; an empty id is refused
    (exit 2, nothing run)."""
    _project(tmp_path, fail="timeout")
    env = {"TAPPS_AGENTS_STRUCTURED_LOGGING": "true"}
    run = ["workflow", "run", "workflow.yaml", "--runner", "steps:run_step", "-v"]
    refused = run_cli(*run, "--trace-id", " ", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "a trace id must not be empty" in refused.stderr
    assert not (tmp_path / "ran.log").exists()

    done = run_cli(*run, "--trace-id", "trace-456", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert records
    assert {record.get("trace_id") for record in records} == {"trace-456"}
    saved = StateStore(Layout(tmp_path)).load("workflow-123")
    errors = [e.error for e in saved.step_executions if e.error is not None]
    assert [error.trace_id for error in errors] == ["trace-456", "trace-456"]

    (tmp_path / "fail-critical-step").unlink()
    resume = ["workflow", "resume", "--workflow-id", "workflow-123", "--runner", "steps:run_step"]
    done = run_cli(*resume, "-v", "--trace-id", "trace-789", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert {record.get("trace_id") for record in records} == {"trace-789"}
