"""The runbook's manual recovery procedures, done safely.

"Retry Specific Step", "Skip Failed Step", "Reset Workflow State", "Force Cleanup" and "DLQ
Processing" edit workflow state. Each edit refuses while a live executor holds the workflow's lock,
takes the lock itself (breaking a stale one, and saying why), writes a timestamped backup of the
state first, saves atomically and logs what it changed. A dry run reads and reports only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock, utcnow
from pytest_tapps.core._durations import (
    DEFAULT_STUCK_SECONDS,
    UNLOCKED_STUCK_SECONDS,
    human_duration,
)
from pytest_tapps.core._envelope import Category
from pytest_tapps.core._errors import (
    LockHeldError,
    StateFileError,
    TappsError,
    WorkflowNotFoundError,
)
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._locks import LockInspection, WorkflowLock, break_stale_lock, inspect_lock
from pytest_tapps.core._logging import WorkflowLogger
from pytest_tapps.core._shown import quoted
from pytest_tapps.core._state import (
    DONE_STATUSES,
    StepExecution,
    StepStatus,
    WorkflowState,
    WorkflowStatus,
    source_format,
)
from pytest_tapps.core._store import StateStore

RECOVERY_LOGGER = "tapps_agents.workflow.recovery"


class StepNotFoundError(TappsError):
    """The named step is not part of the workflow."""

    exit_code = 2


class NotInDeadLetterQueueError(TappsError):
    """The step named for a DLQ operation has not failed."""

    exit_code = 2


@dataclass(frozen=True)
class Edit:
    """What one recovery operation changed (or, in a dry run, would change)."""

    workflow_id: str
    path: Path
    changes: tuple[str, ...]
    backup: Path | None = None
    dry_run: bool = False
    broken_lock: LockInspection | None = None


def _logger(workflow_id: str, clock: Clock, **context: str | None) -> WorkflowLogger:
    return WorkflowLogger(
        workflow_id, logger=logging.getLogger(RECOVERY_LOGGER), clock=clock, **context
    )


def _steps_in_order(state: WorkflowState) -> list[str]:
    """The workflow's step ids in order: from the definition its state recorded, when that
    lists its steps by id; else in the order the executions first name them (a state written
    by hand or by another writer may record a definition without a usable step list)."""
    steps = state.definition.get("steps") if state.definition is not None else None
    if isinstance(steps, list) and steps and all(_step_id(step) for step in steps):
        return [step["id"] for step in steps]
    return state.step_ids()


def _step_id(step: Any) -> bool:
    """Whether a recorded definition's step names its id (a non-empty text)."""
    return isinstance(step, dict) and isinstance(step.get("id"), str) and bool(step["id"])


def _require_step(state: WorkflowState, step_id: str) -> None:
    known = _steps_in_order(state)
    if step_id not in known:
        steps = ", ".join(quoted(known_id) for known_id in known)
        message = (
            f"no step {quoted(step_id)} in workflow {quoted(state.workflow_id)}; "
            f"its steps are [{steps}]"
        )
        raise StepNotFoundError(message)


def _mark(state: WorkflowState, step_id: str, status: StepStatus) -> str | None:
    """Give the step a new newest entry with ``status``; reuse a pending placeholder."""
    newest = state.latest().get(step_id)
    if newest is not None and newest.status is status:
        return None
    if newest is not None and newest.status is StepStatus.PENDING:
        newest.status = status
        return f"step {quoted(step_id)}: pending -> {status.value}"
    before = newest.status.value if newest is not None else "not run"
    state.step_executions.append(
        StepExecution(
            step_id=step_id,
            agent=newest.agent if newest else None,
            action=newest.action if newest else None,
            status=status,
            attempt=state.next_attempt(step_id),
        )
    )
    return f"step {quoted(step_id)}: {before} -> {status.value}"


def _ready_to_resume(state: WorkflowState, current_step: str | None = None) -> list[str]:
    changes = []
    if state.status is not WorkflowStatus.PAUSED:
        changes.append(f"workflow: {state.status.value} -> paused")
        state.status = WorkflowStatus.PAUSED
    if state.error is not None:
        changes.append(f"workflow error cleared ({state.error.code})")
        state.error = None
    if current_step is not None:
        state.current_step = current_step
    return changes


def resume_blocker(state: WorkflowState) -> StepExecution | None:
    """The newest execution of the first unfinished step when it failed with a
    non-recoverable error: resume refuses to run past it until ``retry-step`` or ``skip-step``."""
    latest = state.latest()
    for step_id in _steps_in_order(state):
        newest = latest.get(step_id)
        if newest is not None and newest.status in DONE_STATUSES:
            continue
        error = newest.error if newest is not None else None
        failed = newest is not None and newest.status is StepStatus.FAILED
        return newest if failed and error is not None and not error.recoverable else None
    return None


@contextlib.contextmanager
def _held(
    layout: Layout, workflow_id: str, clock: Clock, dry_run: bool
) -> Iterator[LockInspection | None]:
    """Hold the workflow lock for an edit; in a dry run only check that no live holder has it."""
    if dry_run:
        with contextlib.suppress(FileNotFoundError):
            inspection = inspect_lock(layout.lock_file(workflow_id), clock=clock)
            if not inspection.stale:
                raise LockHeldError(inspection.path, inspection.locked_by)
        yield None
        return
    with WorkflowLock(layout, workflow_id, clock=clock, break_stale=True) as lock:
        if lock.broken is not None:
            _logger(workflow_id, clock).warning(
                "Removed stale lock", lock_file=str(lock.path), reason=lock.broken.reason
            )
        yield lock.broken


def edit_state(
    layout: Layout,
    workflow_id: str,
    change: Callable[[WorkflowState], list[str]],
    *,
    action: str,
    clock: Clock = SYSTEM_CLOCK,
    dry_run: bool = False,
) -> Edit:
    """Apply ``change`` to a workflow's state under its lock, with a backup first."""
    store = StateStore(layout, clock=clock)
    path = store.locate(workflow_id)
    with _held(layout, workflow_id, clock, dry_run) as broken:
        state = store.read(path)
        changes = tuple(change(state))
        if dry_run or not changes:
            return Edit(workflow_id, path, changes, dry_run=dry_run, broken_lock=broken)
        backup = store.backup(path)
        path = store.own_path(state, path)  # a real package's state: this tool's copy of it
        state.updated_at = utcnow(clock)
        store.save(state, path)
    log = _logger(workflow_id, clock)
    for description in changes:
        log.info(f"{action}: {description}", backup_file=str(backup))
    return Edit(workflow_id, path, changes, backup=backup, broken_lock=broken)


def retry_step(
    layout: Layout,
    workflow_id: str,
    step_id: str,
    *,
    clock: Clock = SYSTEM_CLOCK,
    dry_run: bool = False,
) -> Edit:
    """Mark a step not completed (its attempt history kept) so the next resume runs it again."""

    def change(state: WorkflowState) -> list[str]:
        _require_step(state, step_id)
        marked = _mark(state, step_id, StepStatus.PENDING)
        changes = [marked] if marked else []
        return changes + _ready_to_resume(state, step_id) if changes else changes

    return edit_state(
        layout, workflow_id, change, action="retry-step", clock=clock, dry_run=dry_run
    )


def skip_step(
    layout: Layout,
    workflow_id: str,
    step_id: str,
    *,
    clock: Clock = SYSTEM_CLOCK,
    dry_run: bool = False,
    failed_only: bool = False,
) -> Edit:
    """Mark a step skipped so resume continues with the next one."""

    def change(state: WorkflowState) -> list[str]:
        _require_step(state, step_id)
        newest = state.latest().get(step_id)
        if failed_only and (newest is None or newest.status is not StepStatus.FAILED):
            status = newest.status.value if newest else "not run"
            message = (
                f"step {quoted(step_id)} of workflow {quoted(workflow_id)} is not in the dead "
                f"letter queue (its status is {status}); only failed steps can be skipped from "
                "the DLQ"
            )
            raise NotInDeadLetterQueueError(message)
        marked = _mark(state, step_id, StepStatus.SKIPPED)
        return [marked, *_ready_to_resume(state)] if marked else []

    return edit_state(layout, workflow_id, change, action="skip-step", clock=clock, dry_run=dry_run)


def reset(
    layout: Layout,
    workflow_id: str,
    to_step: str | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    dry_run: bool = False,
) -> Edit:
    """Set every step from ``to_step`` on (default: the first) back to pending."""

    def change(state: WorkflowState) -> list[str]:
        order = _steps_in_order(state)
        if not order:
            return []
        first = to_step if to_step is not None else order[0]
        _require_step(state, first)
        changes = [
            marked
            for step_id in order[order.index(first) :]
            if (marked := _mark(state, step_id, StepStatus.PENDING)) is not None
        ]
        return changes + _ready_to_resume(state, first) if changes else changes

    return edit_state(layout, workflow_id, change, action="reset", clock=clock, dry_run=dry_run)


@dataclass(frozen=True)
class Diagnosis:
    """Whether a workflow is stuck, and the evidence."""

    state: WorkflowState
    path: Path
    stuck: bool
    reasons: tuple[str, ...]
    lock: LockInspection | None
    running_step: str | None
    last_progress_age_seconds: float | None
    #: The silence after which a running workflow counts as stuck.
    threshold_seconds: float = DEFAULT_STUCK_SECONDS


def diagnose(
    layout: Layout,
    workflow_id: str | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    threshold_seconds: float | None = None,
) -> Diagnosis:
    """The runbook's "Workflow Stuck" diagnosis: status, running step, lock, heartbeat age.

    ``threshold_seconds`` (default: 1800 s, twice the runbook's default step timeout; 7200 s for
    a state of the real package, twice its default step timeout, judged by its save's age since
    it holds no lock file) is the silence after which a running workflow is stuck."""
    store = StateStore(layout, clock=clock)
    path = store.locate(workflow_id)
    state = store.read(path)
    running = [ex.step_id for ex in state.latest().values() if ex.status is StepStatus.RUNNING]
    running_step = running[0] if running else state.current_step
    lock: LockInspection | None = None
    with contextlib.suppress(FileNotFoundError):
        lock = inspect_lock(layout.lock_file(state.workflow_id), clock=clock)
    marks = [m.timestamp() for m in (state.updated_at,) if m is not None]
    if lock is not None and lock.record is not None:
        marks.append(lock.record.heartbeat_at.timestamp())
    unlocked = source_format(state)
    if threshold_seconds is None:
        threshold_seconds = DEFAULT_STUCK_SECONDS if unlocked is None else UNLOCKED_STUCK_SECONDS
    if unlocked is not None:  # its writer saves at every step and holds no lock: the save's time
        with contextlib.suppress(OSError):
            marks.append(path.stat().st_mtime)
    age = clock.time() - max(marks) if marks else None
    reasons: list[str] = []
    if state.status is WorkflowStatus.RUNNING:
        if lock is None and unlocked is None:
            reasons.append("status is running but no executor holds its lock (no lock file)")
        elif lock is not None and lock.stale:
            reasons.append(f"status is running but its lock is stale: {lock.reason}")
        if age is not None and age > threshold_seconds:
            silence = "no state saved" if unlocked is not None else "no heartbeat or progress"
            reasons.append(
                f"{silence} for {human_duration(round(age))} "
                f"(stuck threshold {human_duration(threshold_seconds)})"
            )
    return Diagnosis(
        state, path, bool(reasons), tuple(reasons), lock, running_step, age, threshold_seconds
    )


@dataclass(frozen=True)
class ForceCleanup:
    """What ``force-cleanup`` did: stale locks removed, a live holder left alone, worktrees
    that need the cleanup engine."""

    workflow_id: str
    removed_locks: tuple[LockInspection, ...]
    live_lock: LockInspection | None
    stuck_worktrees: tuple[Path, ...]
    dry_run: bool = False
    #: Why the workflow's state could not be read (its worktrees are then not listed); the
    #: lock was handled all the same.
    state_problem: str | None = None


def workflow_worktrees(layout: Layout, state: WorkflowState) -> list[Path]:
    """Existing worktree folders used by any attempt of a step that did not finish."""
    unfinished = {
        step_id
        for step_id, newest in state.latest().items()
        if newest.status not in (StepStatus.COMPLETED, StepStatus.SKIPPED)
    }
    names = {
        ex.worktree for ex in state.step_executions if ex.worktree and ex.step_id in unfinished
    }
    found = []
    for name in sorted(names):
        try:
            path = layout.worktree(name)
        except TappsError:
            continue  # an unsafe name recorded in state is never turned into a path
        if path.exists() or path.is_symlink():
            found.append(path)
    return found


def force_cleanup(
    layout: Layout, workflow_id: str, *, clock: Clock = SYSTEM_CLOCK, dry_run: bool = False
) -> ForceCleanup:
    """Remove the workflow's lock if and only if it is stale; report its unfinished worktrees.

    The lock is judged on its own: a state that is missing or cannot be read does not keep a
    stale lock in place; it is reported in ``state_problem``. Only a workflow id with neither a
    lock file nor any state raises (:class:`WorkflowNotFoundError`). Removing worktrees is the
    cleanup engine's business (``tapps worktree remove``); this only lists them.
    """
    lock_path = layout.lock_file(workflow_id)
    had_lock = lock_path.exists() or lock_path.is_symlink()
    removed: list[LockInspection] = []
    live: LockInspection | None = None
    with contextlib.suppress(FileNotFoundError):
        inspection = inspect_lock(lock_path, clock=clock)
        if not inspection.stale:
            live = inspection
        elif dry_run:
            removed.append(inspection)
        else:
            broken = break_stale_lock(lock_path, clock=clock)
            if broken is not None:
                removed.append(broken)
                _logger(workflow_id, clock).warning(
                    "Removed stale lock", lock_file=str(lock_path), reason=broken.reason
                )
    try:
        state = StateStore(layout, clock=clock).load(workflow_id)
    except WorkflowNotFoundError as exc:
        if not had_lock:
            raise
        problem = f"{exc}; no worktrees listed"
        return ForceCleanup(workflow_id, tuple(removed), live, (), dry_run, problem)
    except StateFileError as exc:
        problem = f"{exc}; no worktrees listed"
        return ForceCleanup(workflow_id, tuple(removed), live, (), dry_run, problem)
    worktrees = tuple(workflow_worktrees(layout, state))
    return ForceCleanup(workflow_id, tuple(removed), live, worktrees, dry_run)


@dataclass
class DlqRetry:
    """What ``dlq retry`` marked for retry, and what it left and why."""

    marked: list[Edit] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    unreadable: list[StateFileError] = field(default_factory=list)
    #: Workflows a live executor holds: left alone, the batch went on without them.
    locked: list[str] = field(default_factory=list)


def dlq_retry(
    layout: Layout,
    category: Category | str,
    *,
    clock: Clock = SYSTEM_CLOCK,
    dry_run: bool = False,
) -> DlqRetry:
    """Mark every recoverable failed step of ``category`` for retry, in every workflow."""
    wanted = Category(category)
    outcome = DlqRetry()
    for _path, state in StateStore(layout, clock=clock).iter_states():
        if isinstance(state, StateFileError):
            outcome.unreadable.append(state)
            continue
        for execution in state.failed():
            error = execution.error
            if error is None or error.category is not wanted:
                continue
            if not error.recoverable:
                outcome.left.append(
                    f"{state.workflow_id}/{execution.step_id}: not recoverable; fix the cause "
                    "and use retry-step"
                )
                continue
            try:
                edit = retry_step(
                    layout, state.workflow_id, execution.step_id, clock=clock, dry_run=dry_run
                )
            except LockHeldError as exc:  # one busy workflow must not stop the batch
                outcome.left.append(f"{state.workflow_id}/{execution.step_id}: {exc}")
                outcome.locked.append(state.workflow_id)
                continue
            outcome.marked.append(edit)
    return outcome
