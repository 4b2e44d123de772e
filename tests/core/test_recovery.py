"""Tests for pytest_tapps.core._recovery: retry/skip/reset, stuck diagnosis, force-cleanup, DLQ."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_tapps.core import (
    Layout,
    LockHeldError,
    NotInDeadLetterQueueError,
    StateStore,
    StepContext,
    StepDefinition,
    StepError,
    StepNotFoundError,
    StepRunner,
    StepStatus,
    VirtualClock,
    WorkflowDefinition,
    WorkflowExecutor,
    WorkflowLock,
    WorkflowStatus,
    _recovery,
    configure_logging,
    diagnose,
    dlq_retry,
    force_cleanup,
    reset,
    retry_step,
    skip_step,
    to_iso,
    utcnow,
)
from pytest_tapps.core._durations import human_duration
from pytest_tapps.core._recovery import RECOVERY_LOGGER, Edit, resume_blocker
from pytest_tapps.core._state import WorkflowState, source_format
from tests.core.test_real_state import default_writer_state, write_default_writer_files
from tests.helpers import envelope, execution, live_lock, state, write_current

STEPS = [{"id": "a"}, {"id": "b", "agent": "implementer"}, {"id": "c"}]


def failing_at_b(category: str, recoverable: bool) -> StepRunner:
    """A runner whose step 'b' fails with the given category and flag."""

    def runner(step: StepDefinition, context: StepContext) -> None:
        if step.id == "b":
            raise StepError("b broke", category=category, recoverable=recoverable)

    return runner


def run_failing(
    root: Path,
    *,
    workflow_id: str = "workflow-123",
    category: str = "timeout",
    recoverable: bool = True,
) -> None:
    """Run a three-step workflow whose middle step fails."""
    definition = WorkflowDefinition.parse({"id": workflow_id, "steps": STEPS})
    runner = failing_at_b(category, recoverable)
    WorkflowExecutor(root, runner, clock=VirtualClock()).run(definition)


def runs_of(root: Path, workflow_id: str = "workflow-123") -> list[str]:
    """Resume with a healthy runner; return the steps it ran."""
    ran: list[str] = []

    def runner(step: StepDefinition, context: StepContext) -> None:
        ran.append(step.id)

    WorkflowExecutor(root, runner, clock=VirtualClock()).resume(workflow_id)
    return ran


def test_retry_step_keeps_history_and_resume_runs_it_again(tmp_path: Path) -> None:
    """retry-step appends a pending entry; the failed attempt stays; resume runs b and c."""
    run_failing(tmp_path, category="execution", recoverable=False)
    edit = retry_step(Layout(tmp_path), "workflow-123", "b", clock=VirtualClock())
    assert edit.changes == ("step 'b': failed -> pending", "workflow: failed -> paused")
    assert edit.backup is not None
    assert edit.backup.parent == Layout(tmp_path).backups_dir
    state = StateStore(Layout(tmp_path)).load("workflow-123")
    assert [(e.attempt, e.status) for e in state.executions_of("b")] == [
        (1, StepStatus.FAILED),
        (2, StepStatus.PENDING),
    ]
    assert runs_of(tmp_path) == ["b", "c"]


def test_backup_holds_the_state_before_the_edit(tmp_path: Path) -> None:
    """The backup is the file as it was: restoring it undoes the edit."""
    run_failing(tmp_path)
    path = Layout(tmp_path).current_state_file
    assert path is not None
    before = path.read_bytes()
    edit = skip_step(Layout(tmp_path), "workflow-123", "b", clock=VirtualClock())
    assert edit.backup is not None
    assert edit.backup.read_bytes() == before
    assert path.read_bytes() != before


def test_skip_step_lets_resume_continue_with_the_next(tmp_path: Path) -> None:
    """A skipped step is not run; resume goes on with c and completes the workflow."""
    run_failing(tmp_path, category="validation", recoverable=False)
    skip_step(Layout(tmp_path), "workflow-123", "b", clock=VirtualClock())
    assert runs_of(tmp_path) == ["c"]
    state = StateStore(Layout(tmp_path)).load("workflow-123")
    assert state.status is WorkflowStatus.COMPLETED
    assert state.latest()["b"].status is StepStatus.SKIPPED
    assert state.attempts("b") == 1


def test_reset_to_a_step_sets_it_and_the_rest_pending(tmp_path: Path) -> None:
    """reset --to-step a re-runs a, b and c; earlier completed history is kept."""
    run_failing(tmp_path)
    edit = reset(Layout(tmp_path), "workflow-123", "a", clock=VirtualClock())
    assert (
        edit.changes[:3]
        == (
            "step 'a': completed -> pending",
            "step 'b': failed -> pending",
            "step 'c': pending -> pending",
        )[:2]
        + edit.changes[2:3]
    )
    assert runs_of(tmp_path) == ["a", "b", "c"]


def test_reset_without_a_step_starts_from_the_beginning(tmp_path: Path) -> None:
    """Without --to-step every step goes back to pending."""
    run_failing(tmp_path)
    reset(Layout(tmp_path), "workflow-123", clock=VirtualClock())
    state = StateStore(Layout(tmp_path)).load("workflow-123")
    assert {k: v.status for k, v in state.latest().items()} == dict.fromkeys(
        "abc", StepStatus.PENDING
    )
    assert state.status is WorkflowStatus.PAUSED


def test_dry_runs_report_and_write_nothing(tmp_path: Path) -> None:
    """A dry run lists the change, takes no lock, writes no backup, leaves the file alone."""
    run_failing(tmp_path)
    layout = Layout(tmp_path)
    assert layout.current_state_file is not None
    before = layout.current_state_file.read_bytes()
    edit = retry_step(layout, "workflow-123", "b", dry_run=True)
    assert edit.dry_run
    assert edit.changes == ("step 'b': failed -> pending", "workflow: failed -> paused")
    assert layout.current_state_file.read_bytes() == before
    assert not layout.backups_dir.exists()


def test_edits_refuse_while_a_live_process_holds_the_lock(tmp_path: Path) -> None:
    """A running executor's state is never edited under it, dry run or not."""
    run_failing(tmp_path)
    layout = Layout(tmp_path)
    assert layout.current_state_file is not None
    before = layout.current_state_file.read_bytes()
    with live_lock(tmp_path, "workflow-123") as holder:
        for dry_run in (False, True):
            with pytest.raises(LockHeldError, match=f"locked by pid {holder.pid} on"):
                retry_step(layout, "workflow-123", "b", dry_run=dry_run)
    assert layout.current_state_file.read_bytes() == before


def test_edits_break_a_stale_lock_and_say_so(tmp_path: Path) -> None:
    """A dead holder's lock is removed, the removal logged with its reason."""
    run_failing(tmp_path)
    layout = Layout(tmp_path)
    clock = VirtualClock()
    WorkflowLock(layout, "workflow-123", clock=clock, ttl_seconds=10).acquire()  # never released
    clock.advance(11)
    edit, records = recovery_records(lambda: retry_step(layout, "workflow-123", "b", clock=clock))
    assert edit.broken_lock is not None
    assert records[0]["message"] == "Removed stale lock"
    assert "older than its TTL of 10s" in records[0]["reason"]
    assert records[1]["message"] == "retry-step: step 'b': failed -> pending"


def test_unknown_steps_and_workflows_are_named(tmp_path: Path) -> None:
    """A typo in a step id lists the workflow's steps; exit code 2 for the CLI."""
    run_failing(tmp_path)
    with pytest.raises(
        StepNotFoundError,
        match=r"no step 'x' in workflow 'workflow-123'; its steps are \['a', 'b', 'c'\]",
    ) as info:
        retry_step(Layout(tmp_path), "workflow-123", "x")
    assert info.value.exit_code == 2


def test_real_package_state_files_are_not_edited(tmp_path: Path) -> None:
    """An edit of a tapps-agents 3.x state is saved in this tool's runbook-form file, read
    first from then on; that package's files are left byte for byte (and backed up)."""
    layout = Layout(tmp_path)
    path = write_default_writer_files(layout.state_dir, default_writer_state())
    before = {p: p.read_bytes() for p in layout.state_dir.rglob("*") if p.is_file()}
    edit = skip_step(layout, "full-sdlc-20260115-103000", "implement")
    assert edit.path == layout.current_state_file
    assert edit.backup is not None
    assert edit.backup.read_bytes() == before[path]
    assert {p: p.read_bytes() for p in before} == before
    state = StateStore(layout).load("full-sdlc-20260115-103000")
    assert state.latest()["implement"].status is StepStatus.SKIPPED
    assert "source_format" not in (state.model_extra or {})  # this tool's state now


def test_a_healthy_running_workflow_is_not_stuck(tmp_path: Path) -> None:
    """Status running, lock held by a live process, recent progress: not stuck."""
    seen = {}
    clock = VirtualClock()

    def runner(step: StepDefinition, context: StepContext) -> None:
        seen["diagnosis"] = diagnose(Layout(tmp_path), clock=clock)

    WorkflowExecutor(tmp_path, runner, clock=clock).run(
        WorkflowDefinition.parse({"id": "wf", "steps": [{"id": "s"}]})
    )
    diagnosis = seen["diagnosis"]
    assert not diagnosis.stuck
    assert diagnosis.running_step == "s"
    assert diagnosis.lock is not None
    assert diagnosis.lock.holder_alive


def test_a_crashed_workflow_is_stuck_with_the_evidence(tmp_path: Path) -> None:
    """running with no lock, or with silence past the threshold, is stuck, and says why."""
    layout = Layout(tmp_path)
    clock = VirtualClock()
    run_failing(tmp_path)
    state = StateStore(layout).load()
    state.status = WorkflowStatus.RUNNING
    state.step_executions[-2].status = StepStatus.RUNNING
    StateStore(layout).save(state)
    clock.advance(4000)
    diagnosis = diagnose(layout, clock=clock, threshold_seconds=1800)
    assert diagnosis.stuck
    assert diagnosis.reasons == (
        "status is running but no executor holds its lock (no lock file)",
        "no heartbeat or progress for 1h 6m (stuck threshold 30m 0s)",
    )
    assert diagnosis.running_step == "b"


def test_force_cleanup_removes_stale_locks_only(tmp_path: Path) -> None:
    """A live holder's lock stays (and is named); a dead holder's lock goes."""
    run_failing(tmp_path)
    layout = Layout(tmp_path)
    with live_lock(tmp_path, "workflow-123") as holder:
        report = force_cleanup(layout, "workflow-123")
        assert report.live_lock is not None
        assert report.live_lock.holder.startswith(f"pid {holder.pid} on ")
        assert report.removed_locks == ()
        assert layout.lock_file("workflow-123").exists()
        holder.kill()
        holder.wait()
        dry = force_cleanup(layout, "workflow-123", dry_run=True)
        assert len(dry.removed_locks) == 1
        assert layout.lock_file("workflow-123").exists()
        report = force_cleanup(layout, "workflow-123")
    assert report.live_lock is None
    assert "is not running" in report.removed_locks[0].reason
    assert not layout.lock_file("workflow-123").exists()


def test_force_cleanup_lists_the_unfinished_worktrees(tmp_path: Path) -> None:
    """Worktrees of failed or running steps are reported for the cleanup engine."""
    run_failing(tmp_path)
    layout = Layout(tmp_path)
    store = StateStore(layout)
    state = store.load()
    state.executions_of("b")[0].worktree = "wt-b"
    state.executions_of("a")[0].worktree = "wt-a"
    state.step_executions.append(
        state.executions_of("b")[0].model_copy(update={"attempt": 2, "worktree": "../escape"})
    )
    store.save(state)
    for name in ("wt-a", "wt-b"):
        layout.worktree(name).mkdir(parents=True)
    assert force_cleanup(layout, "workflow-123").stuck_worktrees == (layout.worktree("wt-b"),)


def test_dlq_retry_marks_recoverable_failures_of_one_category(tmp_path: Path) -> None:
    """Batch processing: every recoverable timeout is marked; non-recoverable ones are left."""
    run_failing(tmp_path, workflow_id="wf-timeout", category="timeout", recoverable=True)
    run_failing(tmp_path, workflow_id="wf-stuck", category="timeout", recoverable=False)
    run_failing(tmp_path, workflow_id="wf-perm", category="permission", recoverable=True)
    layout = Layout(tmp_path)
    dry = dlq_retry(layout, "timeout", dry_run=True)
    assert [e.workflow_id for e in dry.marked] == ["wf-timeout"]
    assert StateStore(layout).load("wf-timeout").latest()["b"].status is StepStatus.FAILED
    outcome = dlq_retry(layout, "timeout")
    assert [e.workflow_id for e in outcome.marked] == ["wf-timeout"]
    assert outcome.left == ["wf-stuck/b: not recoverable; fix the cause and use retry-step"]
    assert StateStore(layout).load("wf-timeout").latest()["b"].status is StepStatus.PENDING
    assert StateStore(layout).load("wf-perm").latest()["b"].status is StepStatus.FAILED


def test_dlq_retry_goes_on_past_a_workflow_a_live_executor_holds(tmp_path: Path) -> None:
    """One locked workflow is left (and named); the batch still marks the others."""
    run_failing(tmp_path, workflow_id="wf-a", category="timeout", recoverable=True)
    run_failing(tmp_path, workflow_id="wf-b", category="timeout", recoverable=True)
    run_failing(tmp_path, workflow_id="wf-c", category="timeout", recoverable=True)
    layout = Layout(tmp_path)
    with live_lock(tmp_path, "wf-b"):
        outcome = dlq_retry(layout, "timeout")
    assert sorted(e.workflow_id for e in outcome.marked) == ["wf-a", "wf-c"]
    assert outcome.locked == ["wf-b"]
    assert outcome.left[0].startswith("wf-b/b: ")
    assert StateStore(layout).load("wf-b").latest()["b"].status is StepStatus.FAILED


def test_dlq_skip_only_takes_failed_steps(tmp_path: Path) -> None:
    """Skipping from the DLQ refuses a step that has not failed."""
    run_failing(tmp_path)
    with pytest.raises(
        NotInDeadLetterQueueError,
        match=r"step 'a' of workflow 'workflow-123' is not in the dead letter queue \(its status is completed\)",
    ):
        skip_step(Layout(tmp_path), "workflow-123", "a", failed_only=True)
    skip_step(Layout(tmp_path), "workflow-123", "b", failed_only=True)
    assert StateStore(Layout(tmp_path)).load().latest()["b"].status is StepStatus.SKIPPED


@pytest.mark.parametrize("content", [None, b"", b'{"workflow_id": "workflow-123", "st'])
def test_force_cleanup_removes_a_stale_lock_over_a_missing_or_corrupt_state(
    tmp_path: Path, content: bytes | None
) -> None:
    """The lock is judged on its own; the unreadable state is reported, not raised."""
    layout = Layout(tmp_path)
    layout.state_dir.mkdir(parents=True)
    if content is not None:
        assert layout.current_state_file is not None
        layout.current_state_file.write_bytes(content)
    clock = VirtualClock()
    WorkflowLock(layout, "workflow-123", clock=clock, ttl_seconds=10).acquire()  # never released
    clock.advance(11)
    report = force_cleanup(layout, "workflow-123", clock=clock)
    assert [lock.expired_but_running for lock in report.removed_locks] == [True]
    assert not layout.lock_file("workflow-123").exists()
    assert report.stuck_worktrees == ()
    assert report.state_problem is not None
    assert report.state_problem.endswith("; no worktrees listed")


def test_skip_step_keeps_a_placeholder_unnumbered(tmp_path: Path) -> None:
    """Skipping a pending placeholder numbered 0 records no attempt for it."""
    write_current(
        tmp_path,
        state("workflow-123", "paused", execution("a"), execution("b", "pending", attempt=0)),
    )
    edit = skip_step(Layout(tmp_path), "workflow-123", "b")
    assert edit.changes[0] == "step 'b': pending -> skipped"
    loaded = StateStore(Layout(tmp_path)).load("workflow-123")
    assert (loaded.latest()["b"].attempt, loaded.attempts("b")) == (0, 0)


def recovery_records(edit: Callable[[], Edit]) -> tuple[Edit, list[dict[str, Any]]]:
    """Run ``edit`` with the recovery logger writing JSON lines; its result and records."""
    stream = io.StringIO()
    configure_logging(structured=True, stream=stream, logger_name=RECOVERY_LOGGER)
    try:
        done = edit()
    finally:
        logging.getLogger(RECOVERY_LOGGER).handlers.clear()
    return done, [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("procedure", ["retry-step", "skip-step", "reset"])
def test_each_edit_is_logged_under_its_procedure_at_the_clock_time(
    tmp_path: Path, procedure: str
) -> None:
    """Each change is logged as '<procedure>: <change>' with the backup; the backup's name and
    the saved updated_at are the edit's clock time, not the machine's."""
    run_failing(tmp_path)
    layout = Layout(tmp_path)
    clock = VirtualClock(start=1767225600.0)  # 2026-01-01T00:00:00Z
    edits: dict[str, Callable[[], Edit]] = {
        "retry-step": lambda: retry_step(layout, "workflow-123", "b", clock=clock),
        "skip-step": lambda: skip_step(layout, "workflow-123", "b", clock=clock),
        "reset": lambda: reset(layout, "workflow-123", "b", clock=clock),
    }
    edit, records = recovery_records(edits[procedure])
    assert edit.backup is not None
    assert edit.backup.name == "current_state.20260101T000000.000000Z.json"
    assert [(r["message"], r["workflow_id"], r["backup_file"]) for r in records] == [
        (f"{procedure}: {change}", "workflow-123", str(edit.backup)) for change in edit.changes
    ]
    assert StateStore(layout).load("workflow-123").updated_at == utcnow(clock)


def test_new_entries_keep_the_steps_agent_and_action(tmp_path: Path) -> None:
    """retry-step and reset add an entry with the previous attempt's agent and action and the
    next attempt number (its change names the status before); skip-step then reuses it."""
    failed = execution("b", "failed", agent="reviewer", action="review", error=envelope())
    write_current(tmp_path, state("workflow-123", "failed", execution("a"), failed))
    layout = Layout(tmp_path)
    assert retry_step(layout, "workflow-123", "b").changes[0] == "step 'b': failed -> pending"
    reset(layout, "workflow-123")
    skip_step(layout, "workflow-123", "a")
    entries = StateStore(layout).load("workflow-123").step_executions
    assert [(e.step_id, e.agent, e.action, e.status, e.attempt) for e in entries[1:]] == [
        ("b", "reviewer", "review", StepStatus.FAILED, 1),
        ("b", "reviewer", "review", StepStatus.PENDING, 2),
        ("a", "implementer", "generate-code", StepStatus.SKIPPED, 2),
    ]


def test_a_step_with_no_entry_is_reported_not_run(tmp_path: Path) -> None:
    """A step of the definition with no execution yet gets a pending entry 'not run -> ...'."""
    definition = {"id": "workflow-123", "steps": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
    failed = execution("b", "failed", error=envelope())
    write_current(
        tmp_path, state("workflow-123", "failed", execution("a"), failed, definition=definition)
    )
    edit = retry_step(Layout(tmp_path), "workflow-123", "c", dry_run=True)
    assert edit.changes == ("step 'c': not run -> pending", "workflow: failed -> paused")
    edit = skip_step(Layout(tmp_path), "workflow-123", "c")
    assert edit.changes == ("step 'c': not run -> skipped", "workflow: failed -> paused")
    newest = StateStore(Layout(tmp_path)).load("workflow-123").latest()["c"]
    assert (newest.agent, newest.action, newest.attempt) == (None, None, 1)


def test_an_edit_with_nothing_to_change_still_reports_the_stale_lock_it_broke(
    tmp_path: Path,
) -> None:
    """A no-op reset over a dead holder's lock removes it and says so; no backup is written."""
    write_current(tmp_path, state("workflow-123", "paused", execution("a", "pending", attempt=0)))
    layout = Layout(tmp_path)
    clock = VirtualClock()
    WorkflowLock(layout, "workflow-123", clock=clock, ttl_seconds=10).acquire()  # never released
    clock.advance(11)
    edit = reset(layout, "workflow-123", clock=clock)
    assert edit.changes == ()
    assert edit.broken_lock is not None
    assert "older than its TTL of 10s" in edit.broken_lock.reason
    assert (edit.backup, layout.lock_file("workflow-123").exists()) == (None, False)
    assert not layout.backups_dir.exists()


@pytest.mark.parametrize(
    ("silence", "stuck"), [(0, False), (1799, False), (1800, False), (1801, True), (7200, True)]
)
def test_stuck_means_silent_for_longer_than_the_threshold(
    tmp_path: Path, silence: int, stuck: bool
) -> None:
    """With a live lock, a running workflow is stuck only once its silence exceeds the
    threshold (by default 1800 s for a runbook-form state); exactly the threshold is not
    stuck. The age is reported, and the running step is the one whose execution runs (not a
    ``current_step`` the writer left behind)."""
    layout = Layout(tmp_path)
    clock = VirtualClock()
    running = state("wf", "running", execution("a"), execution("b", "running"))
    write_current(tmp_path, {**running, "updated_at": to_iso(utcnow(clock)), "current_step": "a"})
    WorkflowLock(layout, "wf", clock=clock, ttl_seconds=10000).acquire()  # this live process
    clock.advance(silence)
    diagnosis = diagnose(layout, "wf", clock=clock)
    assert (diagnosis.stuck, diagnosis.running_step) == (stuck, "b")
    assert diagnosis.last_progress_age_seconds == silence
    assert diagnosis.threshold_seconds == 1800
    silent = f"no heartbeat or progress for {human_duration(silence)} (stuck threshold 30m 0s)"
    assert diagnosis.reasons == ((silent,) if stuck else ())


def test_a_real_package_save_replaced_while_diagnosed_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real package's save read, then gone before its age is taken (its writer moved on):
    the diagnosis is still made, from what was read."""
    layout = Layout(tmp_path)
    path = write_default_writer_files(layout.state_dir, default_writer_state(status="running"))
    writer_of = source_format

    def gone_once_read(state: WorkflowState) -> str | None:
        path.unlink(missing_ok=True)
        return writer_of(state)

    monkeypatch.setattr(_recovery, "source_format", gone_once_read)
    diagnosis = diagnose(layout, "full-sdlc-20260115-103000", clock=VirtualClock())
    assert diagnosis.state.status is WorkflowStatus.RUNNING
    assert diagnosis.threshold_seconds == 7200
    assert not diagnosis.stuck


def blocker_state(*executions: dict[str, Any]) -> WorkflowState:
    """A failed three-step workflow (a, b, c) with these executions."""
    definition = {"id": "wf", "steps": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
    return WorkflowState.model_validate(state("wf", "failed", *executions, definition=definition))


FATAL = envelope("validation", recoverable=False)


@pytest.mark.parametrize(
    ("executions", "blocked_at"),
    [
        ((execution("a"), execution("b", "failed", error=FATAL)), "b"),
        ((execution("a", "skipped"), execution("b", "failed", error=FATAL)), "b"),
        ((execution("a", "failed", error=FATAL),), "a"),
        ((execution("a"), execution("b", "failed", error=envelope())), None),
        ((execution("a"), execution("b", "failed")), None),
        ((execution("a", "pending"), execution("b", "failed", error=FATAL)), None),
        ((execution("a"), execution("b", "failed", error=FATAL), execution("b", attempt=2)), None),
        ((execution("a"), execution("b"), execution("c")), None),
    ],
)
def test_resume_is_blocked_only_by_a_non_recoverable_first_unfinished_step(
    executions: tuple[dict[str, Any], ...], blocked_at: str | None
) -> None:
    """Done (completed or skipped) steps are passed over; the first unfinished one blocks
    resume only when its newest attempt failed with a non-recoverable envelope."""
    blocker = resume_blocker(blocker_state(*executions))
    assert (blocker.step_id if blocker else None) == blocked_at


@pytest.mark.parametrize(
    "definition",
    [
        {"workflow_id": "wf-1"},
        {"workflow_id": "wf-1", "steps": "plan, build"},
        {"workflow_id": "wf-1", "steps": [{"agent": "builder"}]},
        {"workflow_id": "wf-1", "steps": ["plan", "build"]},
        {"workflow_id": "wf-1", "steps": []},
        {"workflow_id": "wf-1", "steps": [{"id": None}, {"id": ""}]},
    ],
    ids=[
        "no steps",
        "steps a string",
        "a step without id",
        "steps as names",
        "an empty step list",
        "ids not text",
    ],
)
def test_a_recorded_definition_without_usable_steps_falls_back_to_the_executions(
    tmp_path: Path, definition: dict[str, Any]
) -> None:
    """A state edited by hand may record a definition whose step list is missing or damaged:
    the steps are then taken from the executions, so retry-step finds a step they name and
    resume_blocker sees its non-recoverable failure, instead of a crash or 'no such step'."""
    failed = envelope("validation", recoverable=False)
    written = state(
        "wf-1",
        "failed",
        execution("plan"),
        execution("build", "failed", error=failed),
        definition=definition,
    )
    path = write_current(tmp_path, written)
    blocker = resume_blocker(StateStore(Layout(tmp_path)).read(path))
    assert blocker is not None
    assert blocker.step_id == "build"
    edit = retry_step(Layout(tmp_path), "wf-1", "build", clock=VirtualClock())
    assert edit.changes[0] == "step 'build': failed -> pending"
