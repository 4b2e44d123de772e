"""Bugs of the catalogue: workflows, retries and timeouts, recovery edits, locks and logs.

Each bug is the reference core with one defect real implementations have shown (the real
tapps-agents package resumes under a new id and reverts hand edits; backoff code drops its
jitter or its cap), or one a reviewer would expect of a first implementation (an off-by-one,
``>=`` for ``>``, the wall clock for the given one). Most defects are one edit of the core's
own source (:func:`rewritten`): the bug names the line it changes, and a core that no longer
has that line makes the bug fail loudly instead of turning into the reference core.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import sys
import textwrap
from collections.abc import Iterable, Iterator
from typing import Any

from pytest_tapps.strength._bug import Bug, Patch, everywhere

#: The actions that run a workflow (and the executor's retries, timeouts and logs).
_EXECUTOR = frozenset({"run", "resume"})
#: The actions that edit a workflow's state (the runbook's manual recovery procedures).
_EDITS = frozenset({"retry_step", "skip_step", "reset", "dlq_skip", "dlq_retry"})
#: The actions that look at a workflow's lock.
_LOCKS = _EXECUTOR | _EDITS | {"force_cleanup", "status"}


@functools.cache
def rewritten(function: Any, edits: tuple[tuple[str, str], ...], **names: Any) -> Any:
    """``function`` compiled again from its own source with each ``(old, new)`` of ``edits``
    made, in its module's globals (plus ``names``, if given): the core with one line changed.

    Each ``old`` must occur exactly once in the (dedented) source: a core that was rewritten
    since raises ``LookupError`` here rather than quietly giving back the reference core. A
    method comes back as the class attribute it was (a ``staticmethod`` stays one)."""
    import __future__

    source = textwrap.dedent(inspect.getsource(function))
    for old, new in edits:
        # an edit written with its indentation matches whole lines only
        pattern = ("(?m)^" if old[:1].isspace() else "") + re.escape(old)
        found = list(re.finditer(pattern, source))
        if len(found) != 1:
            message = (
                f"{function.__qualname__}: {old!r} occurs {len(found)} times in its source, "
                "not once"
            )
            raise LookupError(message)
        source = source[: found[0].start()] + new + source[found[0].end() :]
    module = sys.modules[function.__module__]
    scope = {**vars(module), **names} if names else vars(module)
    code = compile(
        source,
        inspect.getsourcefile(function) or "<bug>",
        "exec",
        flags=__future__.annotations.compiler_flag,
    )
    made: dict[str, Any] = {}
    exec(code, scope, made)  # noqa: S102 -- the core's own source, with one named edit
    return made[function.__name__]


def method_edited(owner: Any, name: str, *edits: tuple[str, str]) -> Patch:
    """The patch of the method ``owner.name`` with ``edits`` made to its source."""
    return Patch(owner, name, rewritten(getattr(owner, name), edits))


def function_edited(function: Any, *edits: tuple[str, str], **names: Any) -> list[Patch]:
    """The patches of ``function``, under every name it is bound to, with ``edits`` made to
    its source (``names``: more globals the edited source uses)."""
    return everywhere(function, rewritten(function, edits, **names))


def _executor_class() -> Any:
    from pytest_tapps.core._executor import WorkflowExecutor

    return WorkflowExecutor


# -- resume -------------------------------------------------------------------------------------


class ResumeFromFirstStep(Bug):
    name = "resume-from-first-step"
    runbook = "Retry/Timeout Handling > Manual Retry Procedures > Resume Workflow"
    defect = "resume runs every step again from the first, completed ones included"
    actions = frozenset({"resume"})

    def patches(self) -> Iterable[Patch]:
        executor = _executor_class()
        skip_done = (
            "        if newest is not None and newest.status in DONE_STATUSES:\n"
            "            continue\n"
        )
        yield method_edited(executor, "_drive", (skip_done, ""))


class ResumeUnderNewId(Bug):
    name = "resume-under-new-id"
    runbook = "Retry/Timeout Handling > Manual Retry Procedures > Resume Workflow"
    defect = "resume starts the workflow afresh under a new id instead of continuing it"
    actions = frozenset({"resume"})

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import WorkflowDefinition, utcnow
        from pytest_tapps.core._executor import NoDefinitionError

        async def resume_async(
            self: Any, workflow_id: str, definition: Any = None, **options: Any
        ) -> Any:
            path = self.store.locate(workflow_id)
            if definition is None:
                recorded = self.store.read(path).definition
                if recorded is None:
                    raise NoDefinitionError(workflow_id, path)
                definition = WorkflowDefinition.parse(recorded, source=str(path))
            new_id = f"{workflow_id}-{utcnow(self.clock):%Y%m%d%H%M%S}"
            return await self.run_async(definition.model_copy(update={"id": new_id}))

        yield Patch(_executor_class(), "resume_async", resume_async)


class SkippedStepRunAgain(Bug):
    name = "skipped-step-run-again"
    runbook = "Retry/Timeout Handling > Manual Retry Procedures > Skip Failed Step"
    defect = "the executor counts only completed steps as done, so resume runs a skipped step"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _executor
        from pytest_tapps.core._state import StepStatus

        yield Patch(_executor, "DONE_STATUSES", frozenset({StepStatus.COMPLETED}))


class HandEditsReverted(Bug):
    name = "hand-edits-reverted"
    runbook = "Workflow Stuck/Failed Recovery > Recovery Procedures > Reset Workflow State"
    defect = (
        "resume reads the state from its newest backup, reverting the edit made since "
        "(as the real package restores a hand-edited state from history/)"
    )
    actions = frozenset({"resume"})

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._store import StateStore

        read = StateStore.read

        def from_backup(self: Any, path: Any) -> Any:
            stem = path.name.removesuffix(".json")
            backups = sorted(self.layout.backups_dir.glob(f"{stem}.*.json"))
            return read(self, backups[-1] if backups else path)

        yield Patch(StateStore, "read", from_backup)


# -- automatic retries ----------------------------------------------------------------------------


def _run_step_with(*edits: tuple[str, str]) -> Patch:
    executor = _executor_class()
    return method_edited(executor, "_run_step", *edits)


def _policy_with(method: str, *edits: tuple[str, str]) -> Patch:
    from pytest_tapps.core._policy import RetryPolicy

    return method_edited(RetryPolicy, method, *edits)


class NonRecoverableRetried(Bug):
    name = "non-recoverable-retried"
    runbook = (
        "Agent Failures and Recovery > Recovery Procedures > Non-Recoverable Errors > "
        "Review error message and details"
    )
    defect = "a step that failed with a non-recoverable error is retried like a recoverable one"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        yield _run_step_with(
            ("        if not envelope.recoverable:\n            return False\n", "")
        )


class MaxAttemptsOffByOne(Bug):
    name = "max-attempts-off-by-one"
    runbook = "Retry/Timeout Handling > Automatic Retries > Stop after max_attempts"
    defect = "max_attempts is read as the number of retries, so a step is tried once too often"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        loop = "range(step.retry.max_attempts)"
        yield _run_step_with((loop, "range(step.retry.max_attempts + 1)"))
        yield _policy_with(
            "iter_delays", ("range(1, self.max_attempts)", "range(1, self.max_attempts + 1)")
        )


class NoJitter(Bug):
    name = "no-jitter"
    runbook = "Retry/Timeout Handling > Automatic Retries > Retry failed steps with backoff"
    defect = "the policy's jitter is dropped: every wait is the bare backoff delay"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._policy import RetryPolicy

        def iter_delays(self: Any, seed: Any = None) -> Iterator[float]:
            for retry in range(1, self.max_attempts):
                yield self.base_delay(retry)

        yield Patch(RetryPolicy, "iter_delays", iter_delays)


class EqualJitterAsFull(Bug):
    name = "equal-jitter-as-full"
    runbook = "Retry/Timeout Handling > Automatic Retries > Retry failed steps with backoff"
    defect = "equal jitter draws from [0, d] like full jitter instead of [d/2, d]"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        equal = "delay = min(base, base / 2 + rng.uniform(0.0, base / 2))"
        yield _policy_with("iter_delays", (equal, "delay = rng.uniform(0.0, base)"))


class DecorrelatedJitterUncapped(Bug):
    name = "decorrelated-jitter-uncapped"
    runbook = "Retry/Timeout Handling > Automatic Retries > Cap delays at max_delay"
    defect = "decorrelated jitter grows to three times the previous wait past max_delay"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        yield _policy_with(
            "iter_delays",
            (
                "upper = min(self.max_delay, max(self.initial_delay, previous * 3))",
                "upper = max(self.initial_delay, previous * 3)",
            ),
            (
                "delay = min(self.max_delay, rng.uniform(self.initial_delay, upper))",
                "delay = rng.uniform(self.initial_delay, upper)",
            ),
        )


class NoDelayCap(Bug):
    name = "no-delay-cap"
    runbook = "Retry/Timeout Handling > Automatic Retries > Cap delays at max_delay"
    defect = "max_delay is ignored: exponential waits grow without a cap"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        yield _policy_with("base_delay", ("return min(delay, self.max_delay)", "return delay"))


class BackoffAppliedTwice(Bug):
    name = "backoff-applied-twice"
    runbook = "Retry/Timeout Handling > Automatic Retries > Retry failed steps with backoff"
    defect = "the backoff factor is applied twice per retry (waits of 5 s, 20 s, 80 s)"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        once = "delay = self.initial_delay * 2.0 ** (retry - 1)"
        yield _policy_with("base_delay", (once, f"{once} * 2.0 ** (retry - 1)"))


# -- timeouts -------------------------------------------------------------------------------------


class StepTimeoutIgnored(Bug):
    name = "step-timeout-ignored"
    runbook = "Retry/Timeout Handling > Timeout Configuration > Per-step timeout"
    defect = "a step's own timeout is ignored in favour of the default of 900 s"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        own = "timeout = step.timeout_seconds(self.default_timeout)"
        yield _run_step_with((own, "timeout = self.default_timeout"))


class WorkflowTimeoutCutsNothing(Bug):
    name = "workflow-timeout-cuts-nothing"
    runbook = "Retry/Timeout Handling > Timeout Configuration > Workflow timeout"
    defect = "the workflow deadline never cuts a running attempt: only the step timeout does"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        executor = _executor_class()
        cut = (
            "    if run.deadline is not None and run.deadline < deadline:\n"
            '        deadline, scope, limit = run.deadline, "workflow", run.limit\n'
        )
        yield method_edited(executor, "_attempt", (cut, ""))


class RetryPastWorkflowDeadline(Bug):
    name = "retry-past-workflow-deadline"
    runbook = "Retry/Timeout Handling > Timeout Configuration > Workflow timeout"
    defect = "a retry is started although its wait and step timeout pass the workflow deadline"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        def retry_fits(self: Any, run: Any, step: Any, delay: float, timeout: float) -> bool:
            return True

        yield Patch(_executor_class(), "_retry_fits", retry_fits)


class EnvelopeMessageLost(Bug):
    name = "envelope-message-lost"
    runbook = (
        "Agent Failures and Recovery > Recovery Procedures > Non-Recoverable Errors > "
        "Review error message and details"
    )
    defect = (
        "a failed step's envelope records a generic message for its category instead of the "
        "agent's own"
    )
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _envelope

        generic = 'message=f"step failed with a {category.value} error",'
        return function_edited(_envelope.classify, ("message=message,", generic))


# -- manual recovery edits ----------------------------------------------------------------------


class RetryDryRunWrites(Bug):
    name = "retry-dry-run-writes"
    runbook = "Retry/Timeout Handling > Manual Retry Procedures > Retry Specific Step"
    defect = "retry-step --dry-run writes the state (and its backup) while saying it wrote nothing"
    actions = _EDITS

    def patches(self) -> Iterable[Patch]:
        import dataclasses

        from pytest_tapps.core._recovery import retry_step

        def dry_run_ignored(*args: Any, dry_run: bool = False, **kwargs: Any) -> Any:
            return dataclasses.replace(retry_step(*args, **kwargs), dry_run=dry_run)

        yield from everywhere(retry_step, dry_run_ignored)


class NoBackupBeforeEdit(Bug):
    name = "no-backup-before-edit"
    runbook = "Workflow Stuck/Failed Recovery > Recovery Procedures > Reset Workflow State"
    defect = "retry-step, skip-step and reset edit the state without backing it up first"
    actions = _EDITS

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _recovery

        backup = ("backup = store.backup(path)", "backup = None")
        return function_edited(_recovery.edit_state, backup)


class EditIgnoresLiveLock(Bug):
    name = "edit-ignores-live-lock"
    runbook = "Retry/Timeout Handling > Manual Retry Procedures > Retry Specific Step"
    defect = "retry-step, skip-step and reset edit the state while a live executor holds its lock"
    actions = _EDITS

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _recovery

        @contextlib.contextmanager
        def unlocked(*args: Any) -> Iterator[None]:
            yield None

        yield Patch(_recovery, "_held", unlocked)


class EditReportsNoOpChanges(Bug):
    name = "edit-reports-no-op-changes"
    runbook = "Workflow Stuck/Failed Recovery > Recovery Procedures > Reset Workflow State"
    defect = (
        "reset (and retry-step, skip-step) records a change, a new entry and a backup for a "
        "step already in the status asked for"
    )
    actions = _EDITS

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _recovery

        same = "    if newest is not None and newest.status is status:\n        return None\n"
        return function_edited(_recovery._mark, (same, ""))


class DlqRetryMarksNonRecoverable(Bug):
    name = "dlq-retry-marks-non-recoverable"
    runbook = "Dead Letter Queue (DLQ) Handling > DLQ Processing > Batch processing"
    defect = "a DLQ batch retry marks non-recoverable failures for retry too"
    actions = frozenset({"dlq_retry"})

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _recovery

        check = "if not error.recoverable:"
        return function_edited(_recovery.dlq_retry, (check, "if False:  # the bug"))


# -- locks and diagnosis --------------------------------------------------------------------------


def _inspect_lock_with(*edits: tuple[str, str], **names: Any) -> list[Patch]:
    from pytest_tapps.core import _locks

    return function_edited(_locks.inspect_lock, *edits, **names)


class LockStaleByAge(Bug):
    name = "lock-stale-by-age"
    runbook = "Workflow Stuck/Failed Recovery > Diagnosis > Check for locks"
    defect = (
        "a lock is judged stale by how long ago it was taken, not by its heartbeat, so a "
        "live executor that keeps beating loses its lock"
    )
    actions = _LOCKS

    def patches(self) -> Iterable[Patch]:
        beat = "age = clock.time() - record.heartbeat_at.timestamp()"
        return _inspect_lock_with((beat, "age = clock.time() - record.created_at.timestamp()"))


class StaleLockOnWallClock(Bug):
    name = "stale-lock-on-wall-clock"
    runbook = "Workflow Stuck/Failed Recovery > Diagnosis > Check for locks"
    defect = "a lock's heartbeat is aged on the wall clock instead of the clock it is given"
    actions = _LOCKS

    def patches(self) -> Iterable[Patch]:
        import time

        beat = "age = clock.time() - record.heartbeat_at.timestamp()"
        wall = "age = time.time() - record.heartbeat_at.timestamp()"
        return _inspect_lock_with((beat, wall), time=time)


class HeartbeatBoundary(Bug):
    name = "heartbeat-boundary"
    runbook = "Workflow Stuck/Failed Recovery > Diagnosis > Check for locks"
    defect = "a lock whose heartbeat is exactly its TTL old is stale (>= instead of >)"
    actions = _LOCKS

    def patches(self) -> Iterable[Patch]:
        return _inspect_lock_with(("if age > record.ttl_seconds:", "if age >= record.ttl_seconds:"))


class ForceCleanupRemovesLiveLock(Bug):
    name = "force-cleanup-removes-live-lock"
    runbook = "Workflow Stuck/Failed Recovery > Recovery Procedures > Force Cleanup"
    defect = "force-cleanup removes the workflow's lock without checking that its holder is gone"
    actions = frozenset({"force_cleanup"})

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _recovery

        return function_edited(
            _recovery.force_cleanup,
            ("if not inspection.stale:\n            live = inspection\n        elif", "if"),
            (
                "broken = break_stale_lock(lock_path, clock=clock)",
                "lock_path.unlink()\n            broken = inspection",
            ),
        )


class DeadHolderNotStuck(Bug):
    name = "dead-holder-not-stuck"
    runbook = "Workflow Stuck/Failed Recovery > Diagnosis > Check for locks"
    defect = "status does not count a running workflow whose lock holder died as stuck"
    actions = frozenset({"status"})

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _recovery

        stale = (
            "        elif lock is not None and lock.stale:\n"
            "            reasons.append("
            'f"status is running but its lock is stale: {lock.reason}")\n'
        )
        return function_edited(_recovery.diagnose, (stale, ""))


# -- logs -----------------------------------------------------------------------------------------


class LogsWithoutWorkflowId(Bug):
    name = "logs-without-workflow-id"
    runbook = "Log and Trace Field Conventions > Standard Fields"
    defect = "log records carry step_id and agent but not workflow_id"
    actions = _LOCKS | {"log"}

    def patches(self) -> Iterable[Patch]:
        return _records_without("workflow_id")


class TraceIdNotLogged(Bug):
    name = "trace-id-not-logged"
    runbook = "Log and Trace Field Conventions > Standard Fields"
    defect = "a run given a trace id logs its records without it"
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        return _records_without("trace_id")


def _records_without(field: str) -> list[Patch]:
    """The logger's correlation fields, ``field`` left out of every record."""
    from pytest_tapps.core._logging import WorkflowLogger

    context: Any = vars(WorkflowLogger)["context"]

    def without(self: Any) -> dict[str, str]:
        found = dict(context.__get__(self))
        found.pop(field, None)
        return found

    return [Patch(WorkflowLogger, "context", property(without))]


class EnvelopeWithoutTraceId(Bug):
    name = "envelope-without-trace-id"
    runbook = "Agent Failures and Recovery > Diagnosis > Check agent result for error envelope"
    defect = (
        "the envelope of a step timeout or of a failed result records no trace id: only an "
        "exception raised by the agent gets the run's"
    )
    actions = _EXECUTOR

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _executor

        def untraced(original: Any) -> Any:
            def envelope(*args: Any, **kwargs: Any) -> Any:
                kwargs.pop("trace_id", None)
                return original(*args, **kwargs)

            return envelope

        for name in ("timeout_envelope", "result_envelope"):
            yield Patch(_executor, name, untraced(getattr(_executor, name)))


#: The workflow, recovery, lock and logging bugs of the catalogue.
WORKFLOW_BUGS: tuple[type[Bug], ...] = (
    ResumeFromFirstStep,
    ResumeUnderNewId,
    SkippedStepRunAgain,
    HandEditsReverted,
    NonRecoverableRetried,
    MaxAttemptsOffByOne,
    NoJitter,
    EqualJitterAsFull,
    DecorrelatedJitterUncapped,
    NoDelayCap,
    BackoffAppliedTwice,
    StepTimeoutIgnored,
    WorkflowTimeoutCutsNothing,
    RetryPastWorkflowDeadline,
    EnvelopeMessageLost,
    RetryDryRunWrites,
    NoBackupBeforeEdit,
    EditIgnoresLiveLock,
    EditReportsNoOpChanges,
    DlqRetryMarksNonRecoverable,
    LockStaleByAge,
    StaleLockOnWallClock,
    HeartbeatBoundary,
    ForceCleanupRemovesLiveLock,
    DeadHolderNotStuck,
    LogsWithoutWorkflowId,
    TraceIdNotLogged,
    EnvelopeWithoutTraceId,
)
