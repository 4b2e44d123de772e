"""End-to-end tests of the recovery commands of the installed ``tapps`` script."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from pytest_tapps.core import Layout, StateStore, StepStatus, WorkflowStatus
from tests.helpers import live_lock, run_cli

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


def test_resume_of_a_hand_written_state_takes_definition_from_a_file(tmp_path: Path) -> None:
    """A state with no definition: resume refuses with the way out; --definition FILE works."""
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
        "'tapps workflow resume --workflow-id workflow-123 --definition FILE'"
    )
    done = run_cli(*resume, "--definition", "workflow.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _ran(tmp_path) == ["critical-step", "review"]


def test_resume_without_a_runner_says_how_to_name_one(tmp_path: Path) -> None:
    """No --runner: exit 2 with the form to use, and nothing touched."""
    _project(tmp_path)
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
        assert f"held by pid {holder.pid} on" in done.stdout
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
        assert "workflow is locked by pid" in edit.stderr
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
    assert "  next:         tapps workflow force-cleanup --workflow-id workflow-123" in done.stdout
    data = json.loads(run_cli("workflow", "status", "--json", cwd=tmp_path).stdout)
    assert data["stuck"] is True
    assert data["lock"] is None


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
