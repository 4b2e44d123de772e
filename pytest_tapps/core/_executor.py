"""The workflow executor: runs steps through a runner, retrying and timing out per policy.

Every attempt is recorded in the workflow state (one ``step_executions`` entry per attempt, with
its envelope, attempt number, times and duration) and the state is saved atomically under the
workflow lock after each change, so a crash at any moment leaves a state that ``resume`` can
finish: completed steps are never run again.

Timing (all on the executor's :class:`Clock`):

- a step's attempt may take ``timeout`` seconds (the step's, else 900 s); a runner that spends
  its time through ``context.sleep``/``context.async_sleep`` is stopped exactly at the deadline,
  an async runner on the real clock is cancelled at it, and any runner that returns late has its
  result discarded; each case is recorded as a ``timeout`` envelope, ``recoverable: true``;
- a workflow-level ``timeout`` bounds the whole run, backoff waits included: a retry is not
  started when its wait plus its step timeout would pass the workflow deadline; that, or an attempt
  cut at the workflow deadline, ends the run with a workflow timeout in ``state.error``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock, SystemClock, utcnow
from pytest_tapps.core._definition import StepDefinition, WorkflowDefinition
from pytest_tapps.core._durations import (
    DEFAULT_STEP_TIMEOUT_SECONDS,
    UNLOCKED_STUCK_SECONDS,
    human_duration,
)
from pytest_tapps.core._envelope import DEFAULT_CODES, Category, ErrorEnvelope, classify
from pytest_tapps.core._errors import StateFileError, TappsError, UnsafeNameError
from pytest_tapps.core._fsutil import write_atomic
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._locks import DEFAULT_TTL_SECONDS, LockInspection, WorkflowLock
from pytest_tapps.core._logging import WorkflowLogger
from pytest_tapps.core._real_state import infer_category
from pytest_tapps.core._shown import quoted
from pytest_tapps.core._state import (
    DONE_STATUSES,
    StepExecution,
    StepStatus,
    WorkflowState,
    WorkflowStatus,
    source_format,
)
from pytest_tapps.core._store import StateStore, dump_json, read_json_object

EXECUTOR_LOGGER = "tapps_agents.workflow.executor"


_MAX_LOCK_TTL_SECONDS = 10 * 365 * 86400.0


class StepTimeout(TimeoutError):
    """Raised inside a step when it reaches its deadline (the step's or the workflow's)."""

    def __init__(self, scope: str, limit: float) -> None:
        self.scope = scope
        self.limit = limit
        super().__init__(f"{scope} timeout of {limit:g} s reached")


class ResumeRefused(TappsError):
    """A workflow cannot be resumed as it stands; the message says what to do."""


def _resume_command(workflow_id: str, runner: str, definition: str) -> str:
    """The ``tapps workflow resume`` command line that continues ``workflow_id``."""
    return shlex.join(
        [
            *("tapps", "workflow", "resume", "--workflow-id", workflow_id),
            *("--runner", runner, "--definition", definition),
        ]
    )


class WorkflowExistsError(ResumeRefused):
    """``run`` of a definition whose workflow id already has state: resume it instead.

    ``definition`` and ``runner`` fill in the resume command's ``--definition`` and
    ``--runner`` (the command line passes the ones it was given)."""

    def __init__(
        self,
        workflow_id: str,
        path: Path,
        *,
        definition: str = "FILE",
        runner: str = "MODULE:ATTR",
    ) -> None:
        self.workflow_id = workflow_id
        self.path = path
        command = _resume_command(workflow_id, runner, definition)
        message = (
            f"workflow {quoted(workflow_id)} already has state in {path}; resume it with "
            f"'{command}', or give the definition a new id"
        )
        super().__init__(message)


class NoDefinitionError(ResumeRefused):
    """``resume`` without a definition of a state that records none (written by hand, by
    another implementation or by the real package). ``runner`` fills in the resume command's
    ``--runner`` (the command line passes the one it was given)."""

    def __init__(self, workflow_id: str, path: Path, *, runner: str = "MODULE:ATTR") -> None:
        self.workflow_id = workflow_id
        self.path = path
        command = _resume_command(workflow_id, runner, "FILE")
        message = (
            f"{path}: workflow {quoted(workflow_id)} holds no definition to resume from (it was "
            f"not started by this executor); give the workflow's definition file: '{command}'"
        )
        super().__init__(message)


@dataclass
class StepContext:
    """What a step runner gets besides the step: ids, time, a logger and its deadline."""

    workflow_id: str
    step: StepDefinition
    attempt: int
    clock: Clock
    logger: WorkflowLogger
    project_root: Path
    deadline: float
    scope: str
    limit: float
    _heartbeat: Callable[[], None] = field(repr=False)
    #: The worktree folder (its name under ``worktrees/``) this attempt works in: set it and
    #: the attempt's execution records it, so retention knows whose worktree it is.
    worktree: str | None = None

    def remaining(self) -> float:
        """Seconds left before this attempt's deadline."""
        return max(0.0, self.deadline - self.clock.monotonic())

    def sleep(self, seconds: float) -> None:
        """Spend ``seconds`` of the step's time; stop at the deadline with :class:`StepTimeout`."""
        left = self.remaining()
        if seconds > left:
            self.clock.sleep(left)
            raise StepTimeout(self.scope, self.limit)
        self.clock.sleep(seconds)

    async def async_sleep(self, seconds: float) -> None:
        """The async form of :meth:`sleep`."""
        left = self.remaining()
        if seconds > left:
            await self.clock.async_sleep(left)
            raise StepTimeout(self.scope, self.limit)
        await self.clock.async_sleep(seconds)

    def heartbeat(self) -> None:
        """Refresh the workflow lock's heartbeat during a long step."""
        self._heartbeat()


StepRunner = Callable[[StepDefinition, StepContext], Any]


def timeout_envelope(
    scope: str,
    limit: float,
    *,
    workflow_id: str,
    step: StepDefinition,
    attempt: int,
    trace_id: str | None = None,
) -> ErrorEnvelope:
    """The envelope recorded for an attempt stopped at its deadline, with the run's trace id."""
    if scope == "workflow":
        message = f"workflow timeout of {limit:g} s reached during step {step.id!r}"
        code = "workflow_timeout"
    else:
        message = f"step {step.id!r} timed out after {limit:g} s (attempt {attempt})"
        code = DEFAULT_CODES[Category.TIMEOUT]
    return ErrorEnvelope(
        code=code,
        category=Category.TIMEOUT,
        recoverable=True,
        message=message,
        details={"timeout_seconds": limit, "scope": scope},
        workflow_id=workflow_id,
        step_id=step.id,
        agent=step.agent,
        trace_id=trace_id,
    )


def result_envelope(
    result: Any, *, workflow_id: str, step: StepDefinition, trace_id: str | None = None
) -> ErrorEnvelope | None:
    """The envelope of an agent result ``{"success": false, "error": ...}``, else ``None``;
    its trace id is the agent's own (in ``error`` or beside it), else the run's ``trace_id``.

    An agent's envelope is taken as it is written, never refused: a category the runbook does
    not name is ``execution`` (the agent's word kept in ``details.agent_category``), a code or a
    trace id that is not text is its text, details that are not a mapping are kept as
    ``details.agent_details``. An agent's malformed error still fails only its attempt."""
    if not isinstance(result, Mapping) or result.get("success", True) is not False:
        return None
    ids = {"workflow_id": workflow_id, "step_id": step.id, "agent": step.agent}
    error = result.get("error")
    trace_id = _text(result.get("trace_id")) or trace_id
    if isinstance(error, Mapping):
        details = error.get("details") or {}
        details = dict(details) if isinstance(details, Mapping) else {"agent_details": details}
        written = error.get("category")
        try:
            category = Category.EXECUTION if written is None else Category(written)
        except (ValueError, TypeError):  # TypeError: an unhashable value, a list say
            category = Category.EXECUTION
            details["agent_category"] = written
        return ErrorEnvelope(
            code=_text(error.get("code")) or DEFAULT_CODES[category],
            category=category,
            recoverable=bool(error.get("recoverable", False)),
            message=str(error.get("message", "")),
            details={str(key): value for key, value in details.items()},
            trace_id=_text(error.get("trace_id")) or trace_id,
            **ids,
        )
    message = str(error) if error else "agent returned success: false"
    category = infer_category(message)
    return ErrorEnvelope(
        code=DEFAULT_CODES[category],
        category=category,
        recoverable=False,
        message=message,
        trace_id=trace_id,
        **ids,
    )


def _text(value: Any) -> str | None:
    """An agent's id or code as text: ``None`` for none or an empty one."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def interrupted_envelope(execution: StepExecution, workflow_id: str) -> ErrorEnvelope:
    """The envelope of an attempt found ``running`` with no live executor: it was interrupted."""
    return ErrorEnvelope(
        code="interrupted",
        category=Category.EXECUTION,
        recoverable=True,
        message=(
            f"attempt {execution.attempt} of step {execution.step_id!r} was interrupted "
            "(the executor stopped while it ran); resume runs it again"
        ),
        workflow_id=workflow_id,
        step_id=execution.step_id,
        agent=execution.agent,
    )


@dataclass
class _Run:
    """One run of the executor over one workflow: what every step of it shares."""

    state: WorkflowState
    definition: WorkflowDefinition
    path: Path
    lock: WorkflowLock
    deadline: float | None = None

    @property
    def limit(self) -> float:
        """The workflow timeout in seconds (only meaningful when ``deadline`` is set)."""
        return self.definition.timeout or 0.0


class WorkflowExecutor:
    """Runs workflow definitions through a step runner and records every attempt.

    ``runner(step, context)`` returns a result (or an awaitable of one) or raises; a mapping
    with ``success: false`` fails the attempt with its ``error`` envelope.
    """

    def __init__(
        self,
        project: Layout | Path,
        runner: StepRunner,
        *,
        clock: Clock = SYSTEM_CLOCK,
        seed: int | str | None = None,
        default_timeout: float = DEFAULT_STEP_TIMEOUT_SECONDS,
        logger: logging.Logger | None = None,
        trace_id: str | None = None,
    ) -> None:
        self.layout = project if isinstance(project, Layout) else Layout(project)
        self.runner = runner
        self.clock = clock
        self.seed = seed
        self.default_timeout = default_timeout
        self.store = StateStore(self.layout, clock=clock)
        self.logger = logger or logging.getLogger(EXECUTOR_LOGGER)
        self.trace_id = trace_id
        #: The stale lock the last run or resume broke to start (its reason says why).
        self.broken_lock: LockInspection | None = None

    def __repr__(self) -> str:
        return f"WorkflowExecutor({self.layout.project_root!s}, clock={self.clock!r})"

    # -- public API ----------------------------------------------------------------------------

    def run(self, definition: WorkflowDefinition) -> WorkflowState:
        """Start ``definition`` as a new workflow and run it to the end (or to its failure)."""
        return asyncio.run(self.run_async(definition))

    def resume(
        self,
        workflow_id: str,
        definition: WorkflowDefinition | None = None,
        *,
        take_over: bool = False,
    ) -> WorkflowState:
        """Continue ``workflow_id`` from its first incomplete step.

        The steps come from ``definition`` when one is given (a state written by another
        implementation, by hand or by the real package holds none), else from the definition
        the state recorded when this executor started it. The definition used is recorded in
        the state, so a later resume needs none.

        A state of the real package is continued in this tool's runbook-form file (its own
        files are left as they were). That package holds no lock file: a running state of it
        saved within the last :data:`UNLOCKED_STUCK_SECONDS` may still be executing there, and
        is refused (:class:`ResumeRefused`) unless ``take_over`` says that none of its
        processes runs it."""
        return asyncio.run(self.resume_async(workflow_id, definition, take_over=take_over))

    async def run_async(self, definition: WorkflowDefinition) -> WorkflowState:
        """The async form of :meth:`run`."""
        with self._lock(definition) as lock:
            self.broken_lock = lock.broken
            path = self._path_for_new(definition.id)
            now = utcnow(self.clock)
            state = WorkflowState(
                workflow_id=definition.id,
                status=WorkflowStatus.RUNNING,
                current_step=definition.steps[0].id,
                started_at=now,
                updated_at=now,
                step_executions=[
                    StepExecution(step_id=s.id, agent=s.agent, action=s.action)
                    for s in definition.steps
                ],
                definition=definition.model_dump(mode="json", by_alias=True),
            )
            self._log(state).info("Workflow started", step_count=len(definition.steps))
            return await self._drive(_Run(state, definition, path, lock))

    async def resume_async(
        self,
        workflow_id: str,
        definition: WorkflowDefinition | None = None,
        *,
        take_over: bool = False,
    ) -> WorkflowState:
        """The async form of :meth:`resume`."""
        path = self.store.locate(workflow_id)
        state = self.store.read(path)
        if not take_over:
            self._refuse_live_unlocked(state, path)
        if definition is None:
            if state.definition is None:
                raise NoDefinitionError(workflow_id, path)
            definition = WorkflowDefinition.parse(state.definition, source=f"{path}: definition")
        elif definition.id != workflow_id:
            definition = definition.model_copy(update={"id": workflow_id})
        with self._lock(definition) as lock:
            self.broken_lock = lock.broken
            state = self.store.read(path)  # re-read under the lock
            if state.status is WorkflowStatus.COMPLETED and not self._incomplete(state, definition):
                self._log(state).info("Workflow already completed; nothing to resume")
                return state
            self._check_resumable(state, definition, path)
            self.store.backup(path)
            path = self.store.own_path(state, path)  # never another writer's file
            for execution in state.step_executions:
                if execution.status is StepStatus.RUNNING:
                    execution.status = StepStatus.CANCELLED
                    execution.error = interrupted_envelope(execution, workflow_id)
            state.status = WorkflowStatus.RUNNING
            state.error = None
            state.definition = definition.model_dump(mode="json", by_alias=True)
            self._log(state).info("Workflow resumed")
            return await self._drive(_Run(state, definition, path, lock))

    # -- helpers -------------------------------------------------------------------------------

    def _refuse_live_unlocked(self, state: WorkflowState, path: Path) -> None:
        """Refuse a running state of a writer that holds no lock file (the real package) while
        its last save is recent: that writer may still be executing it."""
        source = source_format(state)
        if source is None or state.status is not WorkflowStatus.RUNNING:
            return
        try:
            age = self.clock.time() - path.stat().st_mtime
        except OSError:
            return
        if age > UNLOCKED_STUCK_SECONDS:
            return
        message = (
            f"{path}: workflow {quoted(state.workflow_id)} is running in a {source} state saved "
            f"{human_duration(round(max(age, 0.0)))} ago, and that package holds no lock file, "
            "so it may still be executing it: wait until 'tapps workflow status' says it is "
            f"stuck (after {human_duration(UNLOCKED_STUCK_SECONDS)} without a save), or pass "
            "--take-over if none of its processes runs it"
        )
        raise ResumeRefused(message)

    def _lock(self, definition: WorkflowDefinition) -> WorkflowLock:
        longest = max(
            s.timeout_seconds(self.default_timeout) + s.retry.max_delay for s in definition.steps
        )
        # A lock must expire some day: a step allowed to run for ever (a huge timeout or delay)
        # gets a TTL of ten years, not an infinity that JSON cannot hold.
        ttl = min(max(DEFAULT_TTL_SECONDS, longest + 60.0), _MAX_LOCK_TTL_SECONDS)
        return WorkflowLock(
            self.layout, definition.id, ttl_seconds=ttl, clock=self.clock, break_stale=True
        )

    def _log(self, state: WorkflowState, step: StepDefinition | None = None) -> WorkflowLogger:
        return WorkflowLogger(
            state.workflow_id,
            step_id=step.id if step else None,
            agent=step.agent if step else None,
            trace_id=self.trace_id,
            logger=self.logger,
            clock=self.clock,
        )

    def _path_for_new(self, workflow_id: str) -> Path:
        """Where a new workflow's state goes: current_state.json, moving the old one to history."""
        for path, existing in self.store.iter_states():
            if not isinstance(existing, StateFileError) and existing.workflow_id == workflow_id:
                raise WorkflowExistsError(workflow_id, path)
        current = self.layout.current_state_file
        if current is None:
            return self.layout.history_file(workflow_id)
        if current.exists():
            try:
                data = read_json_object(current)
            except StateFileError as exc:
                message = f"{exc}; fix or move that file before starting a new workflow"
                raise StateFileError(current, message.split(": ", 1)[1]) from None
            old_id = data.get("workflow_id")
            try:
                moved = self.layout.history_file("" if old_id is None else str(old_id))
            except UnsafeNameError:  # hand-edited: no name to file the previous state under
                held = (
                    "it has no workflow_id"
                    if old_id is None
                    else f"its workflow_id {old_id!r} is not a safe file name"
                )
                message = (
                    f"{held}, so it cannot be moved to history/; fix or move that file before "
                    "starting a new workflow"
                )
                raise StateFileError(current, message) from None
            write_atomic(moved, dump_json(data))
        return current

    @staticmethod
    def _incomplete(state: WorkflowState, definition: WorkflowDefinition) -> list[str]:
        latest = state.latest()
        return [
            s.id
            for s in definition.steps
            if s.id not in latest or latest[s.id].status not in DONE_STATUSES
        ]

    def _check_resumable(
        self, state: WorkflowState, definition: WorkflowDefinition, path: Path
    ) -> None:
        """Refuse to resume past a non-recoverable failure: a person must decide first."""
        incomplete = self._incomplete(state, definition)
        if not incomplete:
            return
        newest = state.latest().get(incomplete[0])
        error = newest.error if newest is not None else None
        if newest is None or newest.status is not StepStatus.FAILED or error is None:
            return
        if not error.recoverable:
            failed = (
                f"{path}: step {quoted(newest.step_id)} failed with a non-recoverable "
                f"{error.category.value} error ({error.message})"
            )
            retry = shlex.join(
                [
                    *("tapps", "workflow", "retry-step", "--workflow-id", state.workflow_id),
                    *("--step", newest.step_id),
                ]
            )
            message = (
                f"{failed}; fix the cause, then '{retry}' to run it again, or skip-step to go "
                "on without it"
            )
            raise ResumeRefused(message)

    def _save(self, run: _Run) -> None:
        run.lock.heartbeat()
        run.state.updated_at = utcnow(self.clock)
        self.store.save(run.state, run.path)

    def _seed_for(self, workflow_id: str, step_id: str) -> str | None:
        return None if self.seed is None else f"{self.seed}:{workflow_id}:{step_id}"

    async def _drive(self, run: _Run) -> WorkflowState:
        state = run.state
        if run.definition.timeout is not None:
            run.deadline = self.clock.monotonic() + run.definition.timeout
        self._save(run)
        for step in run.definition.steps:
            newest = state.latest().get(step.id)
            if newest is not None and newest.status in DONE_STATUSES:
                continue
            state.current_step = step.id
            if not await self._run_step(run, step):
                state.status = WorkflowStatus.FAILED
                self._save(run)
                self._log(state, step).error("Workflow failed", failed_step=step.id)
                return state
        state.status = WorkflowStatus.COMPLETED
        state.current_step = None
        self._save(run)
        self._log(state).info("Workflow completed")
        return state

    def _begin(self, state: WorkflowState, step: StepDefinition) -> StepExecution:
        """The execution entry for a new attempt: the pending placeholder, or a new entry."""
        newest = state.latest().get(step.id)
        if newest is not None and newest.status is StepStatus.PENDING:
            execution = newest
            if execution.attempt == 0:  # a placeholder numbered as no try: this is the next one
                execution.attempt = state.next_attempt(step.id)
        else:
            execution = StepExecution(
                step_id=step.id,
                agent=step.agent,
                action=step.action,
                attempt=state.next_attempt(step.id),
            )
            state.step_executions.append(execution)
        execution.status = StepStatus.RUNNING
        execution.started_at = utcnow(self.clock)
        return execution

    def _workflow_timeout(self, run: _Run, step: StepDefinition, message: str) -> None:
        run.state.error = ErrorEnvelope(
            code="workflow_timeout",
            category=Category.TIMEOUT,
            recoverable=True,
            message=message,
            details={"timeout_seconds": run.limit, "scope": "workflow"},
            workflow_id=run.state.workflow_id,
            step_id=step.id,
            agent=step.agent,
            trace_id=self.trace_id,
        )
        self._log(run.state, step).error("Workflow timed out", timeout_seconds=run.limit)

    def _retry_fits(self, run: _Run, step: StepDefinition, delay: float, timeout: float) -> bool:
        """Whether a retry's wait and full timeout end before the workflow deadline."""
        if run.deadline is None:
            return True
        now = self.clock.monotonic()
        if now + delay + timeout <= run.deadline:
            return True
        attempt = run.state.next_attempt(step.id)
        self._workflow_timeout(
            run,
            step,
            f"workflow timeout of {run.limit:g} s would cut off attempt {attempt} of step "
            f"{step.id!r} (wait {delay:g} s + step timeout {timeout:g} s > "
            f"{max(0.0, run.deadline - now):g} s left)",
        )
        return False

    async def _run_step(self, run: _Run, step: StepDefinition) -> bool:
        """Run one step's attempts; True when it completed."""
        state = run.state
        log = self._log(state, step)
        timeout = step.timeout_seconds(self.default_timeout)
        delays: Iterator[float] = step.retry.iter_delays(self._seed_for(state.workflow_id, step.id))
        for tried in range(step.retry.max_attempts):
            if tried:
                delay = next(delays)
                if not self._retry_fits(run, step, delay, timeout):
                    return False
                log.info("Retrying step", attempt=state.next_attempt(step.id), delay_seconds=delay)
                await self.clock.async_sleep(delay)
            execution = self._begin(state, step)
            self._save(run)
            log.info("Step started", attempt=execution.attempt)
            envelope = await self._attempt(run, step, execution, timeout)
            execution.completed_at = utcnow(self.clock)
            if envelope is None:
                execution.status = StepStatus.COMPLETED
                self._save(run)
                log.info(
                    "Step completed",
                    attempt=execution.attempt,
                    duration_seconds=execution.duration_seconds,
                )
                return True
            execution.status = StepStatus.FAILED
            execution.error = envelope
            log.warning(
                "Step failed",
                attempt=execution.attempt,
                duration_seconds=execution.duration_seconds,
                error_code=envelope.code,
                error_category=envelope.category.value,
                recoverable=envelope.recoverable,
            )
            if envelope.details.get("scope") == "workflow":
                self._workflow_timeout(run, step, envelope.message)
                self._save(run)
                return False
            self._save(run)
            if not envelope.recoverable:
                return False
        return False

    async def _attempt(
        self, run: _Run, step: StepDefinition, execution: StepExecution, timeout: float
    ) -> ErrorEnvelope | None:
        """Run one attempt; its envelope, or None when it succeeded in time."""
        state = run.state
        start = self.clock.monotonic()
        deadline, scope, limit = start + timeout, "step", timeout
        if run.deadline is not None and run.deadline < deadline:
            deadline, scope, limit = run.deadline, "workflow", run.limit
        context = StepContext(
            workflow_id=state.workflow_id,
            step=step,
            attempt=execution.attempt,
            clock=self.clock,
            logger=self._log(state, step),
            project_root=self.layout.project_root,
            deadline=deadline,
            scope=scope,
            limit=limit,
            _heartbeat=run.lock.heartbeat,
        )
        ids = {"workflow_id": state.workflow_id, "step_id": step.id, "agent": step.agent}
        envelope: ErrorEnvelope | None
        try:
            result = self.runner(step, context)
            if inspect.isawaitable(result):
                result = await self._await(result, context)
        except StepTimeout as exc:
            envelope = timeout_envelope(
                exc.scope,
                exc.limit,
                workflow_id=state.workflow_id,
                step=step,
                attempt=execution.attempt,
                trace_id=self.trace_id,
            )
        except Exception as exc:
            envelope = classify(exc, trace_id=self.trace_id, **ids)
        else:
            envelope = result_envelope(
                result, workflow_id=state.workflow_id, step=step, trace_id=self.trace_id
            )
        end = self.clock.monotonic()
        if context.worktree is not None:
            execution.worktree = context.worktree
        execution.duration_seconds = end - start
        if envelope is None and end > deadline:
            envelope = timeout_envelope(
                scope,
                limit,
                workflow_id=state.workflow_id,
                step=step,
                attempt=execution.attempt,
                trace_id=self.trace_id,
            )
        return envelope

    async def _await(self, awaitable: Any, context: StepContext) -> Any:
        """Await an async runner's result; on the real clock, cancel it at the deadline."""
        if not isinstance(self.clock, SystemClock):
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, timeout=context.remaining())
        except TimeoutError:
            raise StepTimeout(context.scope, context.limit) from None
