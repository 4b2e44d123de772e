"""Tests for pytest_tapps.core._executor on the virtual clock (and the real one for cancelling)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_tapps.core import (
    Category,
    Layout,
    LockHeldError,
    ResumeRefused,
    RetryPolicy,
    StateFileError,
    StateStore,
    StepContext,
    StepDefinition,
    StepError,
    StepStatus,
    VirtualClock,
    WorkflowDefinition,
    WorkflowExecutor,
    WorkflowLock,
    WorkflowStatus,
    configure_logging,
)
from pytest_tapps.core._executor import EXECUTOR_LOGGER
from pytest_tapps.core._logging import record_fields


def definition(*steps: dict[str, Any], timeout: object = None) -> WorkflowDefinition:
    return WorkflowDefinition.parse(
        {"id": "workflow-123", "steps": list(steps), "timeout": timeout}
    )


CRITICAL = {
    "id": "critical-step",
    "agent": "implementer",
    "action": "generate-code",
    "retry": {
        "max_attempts": 3,
        "backoff_strategy": "exponential",
        "initial_delay": 5,
        "max_delay": 60,
    },
    "timeout": 300,
}


def always_hangs(step: StepDefinition, context: StepContext) -> None:
    """A step that would run forever: it spends time until its deadline stops it."""
    context.sleep(10**9)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """JSON records of the executor's logger, for the duration of the test."""
    stream = io.StringIO()
    configure_logging(structured=True, stream=stream, logger_name="tapps_agents.workflow")
    yield stream
    logger = logging.getLogger("tapps_agents.workflow")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_runbook_critical_step_times_out_three_times_into_the_dlq(tmp_path: Path) -> None:
    """3 attempts of 300 s each, waits of 5 and 10 s: failed, recoverable timeout in the DLQ.

    The simulated total is 3 x 300 + 5 + 10 = 915 s (PRODUCT.md's illustration says 910, which
    does not add up; the issue's own rule 'attempts x timeout + sum of delays' gives 915).
    """
    clock = VirtualClock()
    state = WorkflowExecutor(tmp_path, always_hangs, clock=clock).run(definition(CRITICAL))
    assert state.status is WorkflowStatus.FAILED
    executions = state.executions_of("critical-step")
    assert [(e.attempt, e.status, e.duration_seconds) for e in executions] == [
        (1, StepStatus.FAILED, 300.0),
        (2, StepStatus.FAILED, 300.0),
        (3, StepStatus.FAILED, 300.0),
    ]
    assert clock.sleeps == [300.0, 5.0, 300.0, 10.0, 300.0]
    assert clock.elapsed == 915.0
    (dlq,) = StateStore(Layout(tmp_path)).load("workflow-123").failed()
    assert dlq.error is not None
    assert (dlq.error.category, dlq.error.recoverable, dlq.error.code) == (
        Category.TIMEOUT,
        True,
        "timeout_error",
    )
    assert dlq.error.message == "step 'critical-step' timed out after 300 s (attempt 3)"


def test_a_flaky_step_succeeds_on_its_third_attempt(tmp_path: Path) -> None:
    """Fails twice with a recoverable error, then completes; later steps run."""
    calls: list[str] = []

    def flaky(step: StepDefinition, context: StepContext) -> str:
        calls.append(f"{step.id}#{context.attempt}")
        if step.id == "fetch" and context.attempt < 3:
            raise ConnectionResetError("peer reset")
        return "ok"

    fetch = {"id": "fetch", "retry": {"max_attempts": 3, "initial_delay": 1, "max_delay": 60}}
    state = WorkflowExecutor(tmp_path, flaky, clock=VirtualClock()).run(
        definition(fetch, {"id": "build"})
    )
    assert state.status is WorkflowStatus.COMPLETED
    assert calls == ["fetch#1", "fetch#2", "fetch#3", "build#1"]
    errors = [e.error.category for e in state.executions_of("fetch") if e.error]
    assert errors == [Category.EXTERNAL_DEPENDENCY, Category.EXTERNAL_DEPENDENCY]
    assert state.failed() == []


def test_a_runner_names_the_worktree_each_attempt_works_in(tmp_path: Path) -> None:
    """context.worktree is recorded on the attempt's execution, failed or completed."""

    def in_worktree(step: StepDefinition, context: StepContext) -> str:
        context.worktree = f"{step.id}-{context.attempt}"
        if context.attempt == 1:
            raise ConnectionResetError("peer reset")
        return "ok"

    step = {"id": "s", "retry": {"max_attempts": 2, "initial_delay": 1, "max_delay": 60}}
    state = WorkflowExecutor(tmp_path, in_worktree, clock=VirtualClock()).run(
        definition(step, {"id": "t"})
    )
    assert [e.worktree for e in state.executions_of("s")] == ["s-1", "s-2"]
    assert [e.worktree for e in state.executions_of("t")] == ["t-1"]


def test_non_recoverable_failures_are_never_retried(tmp_path: Path) -> None:
    """A non-recoverable error ends the step after one attempt, whatever max_attempts says."""
    calls = []

    def broken(step: StepDefinition, context: StepContext) -> None:
        calls.append(context.attempt)
        raise KeyError("missing")

    step = {"id": "s", "retry": {"max_attempts": 5, "initial_delay": 1, "max_delay": 60}}
    clock = VirtualClock()
    state = WorkflowExecutor(tmp_path, broken, clock=clock).run(definition(step, {"id": "t"}))
    assert calls == [1]
    assert clock.sleeps == []
    assert state.status is WorkflowStatus.FAILED
    assert state.latest()["t"].status is StepStatus.PENDING


def test_agent_results_with_success_false_fail_the_attempt(tmp_path: Path) -> None:
    """The runbook's symptom: success: false with an error envelope in the result."""

    def agent(step: StepDefinition, context: StepContext) -> dict[str, Any]:
        error = {
            "code": "config_error",
            "category": "configuration",
            "recoverable": True,
            "message": "missing api key",
            "trace_id": "trace-456",
        }
        return {"success": False, "error": error}

    state = WorkflowExecutor(tmp_path, agent, clock=VirtualClock()).run(
        definition({"id": "s", "agent": "a"})
    )
    error = state.failed()[0].error
    assert error is not None
    assert (error.code, error.category, error.recoverable, error.trace_id, error.agent) == (
        "config_error",
        Category.CONFIGURATION,
        True,
        "trace-456",
        "a",
    )


def test_step_error_sets_category_and_flag(tmp_path: Path) -> None:
    """A runner raising StepError controls the envelope exactly."""

    def runner(step: StepDefinition, context: StepContext) -> None:
        raise StepError("denied", category="permission", recoverable=False, code="perm")

    state = WorkflowExecutor(tmp_path, runner, clock=VirtualClock()).run(definition({"id": "s"}))
    error = state.failed()[0].error
    assert error is not None
    assert (error.code, error.category, error.recoverable) == ("perm", Category.PERMISSION, False)


def test_a_late_result_is_discarded_as_a_timeout(tmp_path: Path) -> None:
    """A runner that ignores its deadline and returns late fails with a timeout anyway."""
    clock = VirtualClock()

    def slow(step: StepDefinition, context: StepContext) -> str:
        clock.sleep(301)  # not through context.sleep: cannot be stopped, only judged
        return "too late"

    state = WorkflowExecutor(tmp_path, slow, clock=clock).run(
        definition({"id": "s", "timeout": 300})
    )
    execution = state.executions_of("s")[0]
    assert execution.status is StepStatus.FAILED
    assert execution.error is not None
    assert execution.error.category is Category.TIMEOUT
    assert execution.duration_seconds == 301


def test_exactly_the_timeout_is_in_time(tmp_path: Path) -> None:
    """A step that takes exactly its timeout completes; the limit is 'outlives', not 'reaches'."""

    def exact(step: StepDefinition, context: StepContext) -> None:
        context.sleep(300)

    state = WorkflowExecutor(tmp_path, exact, clock=VirtualClock()).run(
        definition({"id": "s", "timeout": 300})
    )
    assert state.status is WorkflowStatus.COMPLETED


def test_async_runners_on_the_virtual_clock(tmp_path: Path) -> None:
    """Async runners are awaited; their virtual sleeps stop at the deadline."""

    async def runner(step: StepDefinition, context: StepContext) -> None:
        await context.async_sleep(10 if step.id == "quick" else 10**6)

    clock = VirtualClock()
    state = WorkflowExecutor(tmp_path, runner, clock=clock).run(
        definition({"id": "quick"}, {"id": "slow", "timeout": 60})
    )
    assert state.latest()["quick"].status is StepStatus.COMPLETED
    assert state.latest()["slow"].error is not None
    assert clock.elapsed == 70


def test_async_runner_is_cancelled_at_its_real_deadline(tmp_path: Path) -> None:
    """On the real clock an async step that outlives its timeout is cancelled, not awaited."""
    cancelled = []

    async def runner(step: StepDefinition, context: StepContext) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(step.id)
            raise

    state = WorkflowExecutor(tmp_path, runner).run(definition({"id": "s", "timeout": 0.2}))
    execution = state.executions_of("s")[0]
    assert cancelled == ["s"]
    assert execution.error is not None
    assert execution.error.category is Category.TIMEOUT
    assert execution.duration_seconds is not None
    assert 0.15 < execution.duration_seconds < 5


def test_workflow_timeout_stops_a_retry_that_would_be_cut_off(tmp_path: Path) -> None:
    """With 600 s for the workflow, a second 300 s attempt after a 5 s wait does not start."""
    clock = VirtualClock()
    state = WorkflowExecutor(tmp_path, always_hangs, clock=clock).run(
        definition(CRITICAL, timeout=600)
    )
    assert state.attempts("critical-step") == 1
    assert clock.elapsed == 300
    assert state.error is not None
    assert (state.error.code, state.error.category) == ("workflow_timeout", Category.TIMEOUT)
    assert state.error.message == (
        "workflow timeout of 600 s would cut off attempt 2 of step 'critical-step' "
        "(wait 5 s + step timeout 300 s > 300 s left)"
    )
    envelope = state.error.model_dump(mode="json", exclude={"code", "category", "message"})
    assert envelope == {
        "recoverable": True,
        "details": {"timeout_seconds": 600.0, "scope": "workflow"},
        "workflow_id": "workflow-123",
        "step_id": "critical-step",
        "agent": "implementer",
        "trace_id": None,
    }


def test_a_failed_or_timed_out_workflow_logs_why_at_error_level(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each failed attempt is logged with its error's code and category, then the workflow's
    end at ERROR: ``Workflow timed out`` with the limit, and ``Workflow failed`` naming the
    step; every record carries the runbook's correlation fields."""
    caplog.set_level(logging.INFO, logger=EXECUTOR_LOGGER)

    def fails(step: StepDefinition, context: StepContext) -> None:
        raise StepError(
            "no such file", code="config_error", category="configuration", recoverable=False
        )

    WorkflowExecutor(tmp_path / "failed", fails, clock=VirtualClock()).run(
        definition({"id": "plan", "agent": "planner"})
    )
    WorkflowExecutor(tmp_path / "timed-out", always_hangs, clock=VirtualClock()).run(
        definition(CRITICAL, timeout=600)
    )
    dropped = {"timestamp", "logger", "attempt", "duration_seconds", "recoverable"}
    shown = [
        {k: v for k, v in record_fields(r).items() if k not in dropped}
        for r in caplog.records
        if r.levelno >= logging.WARNING
    ]
    plan = {"workflow_id": "workflow-123", "step_id": "plan", "agent": "planner"}
    critical = {"workflow_id": "workflow-123", "step_id": "critical-step", "agent": "implementer"}
    assert shown == [
        {"level": "WARNING", "message": "Step failed", **plan,
         "error_code": "config_error", "error_category": "configuration"},
        {"level": "ERROR", "message": "Workflow failed", **plan, "failed_step": "plan"},
        {"level": "WARNING", "message": "Step failed", **critical,
         "error_code": "timeout_error", "error_category": "timeout"},
        {"level": "ERROR", "message": "Workflow timed out", **critical, "timeout_seconds": 600.0},
        {"level": "ERROR", "message": "Workflow failed", **critical,
         "failed_step": "critical-step"},
    ]  # fmt: skip


def test_workflow_timeout_cuts_an_attempt_at_the_deadline(tmp_path: Path) -> None:
    """A first attempt that would outlive the workflow is stopped at the workflow deadline."""
    clock = VirtualClock()

    def runner(step: StepDefinition, context: StepContext) -> None:
        context.sleep(100 if step.id == "a" else 10**9)

    state = WorkflowExecutor(tmp_path, runner, clock=clock).run(
        definition({"id": "a", "timeout": 100}, {"id": "b", "timeout": 300}, timeout=250)
    )
    assert clock.elapsed == 250
    execution = state.executions_of("b")[0]
    assert execution.error is not None
    assert execution.error.details == {"timeout_seconds": 250.0, "scope": "workflow"}
    assert state.error is not None
    assert state.error.code == "workflow_timeout"


def test_state_is_saved_after_each_attempt_under_the_lock(tmp_path: Path) -> None:
    """While a step runs, the file shows earlier steps done, this one running, the lock ours."""
    layout = Layout(tmp_path)
    seen: dict[str, Any] = {}

    def runner(step: StepDefinition, context: StepContext) -> None:
        if step.id == "second":
            on_disk = StateStore(layout).load("workflow-123")
            seen["statuses"] = {k: v.status.value for k, v in on_disk.latest().items()}
            seen["lock_pid"] = json.loads(layout.lock_file("workflow-123").read_text())["pid"]

    WorkflowExecutor(layout, runner, clock=VirtualClock()).run(
        definition({"id": "first"}, {"id": "second"}, {"id": "third"})
    )
    assert seen["statuses"] == {"first": "completed", "second": "running", "third": "pending"}
    assert seen["lock_pid"] == os.getpid()
    assert not layout.lock_file("workflow-123").exists()


def test_a_live_lock_blocks_a_second_executor(tmp_path: Path) -> None:
    """Two executors never run one workflow at once."""
    layout = Layout(tmp_path)
    with WorkflowLock(layout, "workflow-123"), pytest.raises(LockHeldError):
        WorkflowExecutor(layout, always_hangs, clock=VirtualClock()).run(definition({"id": "s"}))


def test_every_record_carries_the_correlation_and_unit_fields(
    tmp_path: Path, log_stream: io.StringIO
) -> None:
    """Executor records carry workflow_id, step_id and agent, and the numbers name their unit."""
    WorkflowExecutor(tmp_path, always_hangs, clock=VirtualClock()).run(definition(CRITICAL))
    records = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    step_records = [r for r in records if r["message"] != "Workflow started"]
    assert all(r["workflow_id"] == "workflow-123" for r in records)
    assert all({"step_id", "agent"} <= r.keys() for r in step_records)
    retries = [r for r in records if r["message"] == "Retrying step"]
    assert [(r["attempt"], r["delay_seconds"]) for r in retries] == [(2, 5.0), (3, 10.0)]
    failures = [r for r in records if r["message"] == "Step failed"]
    assert [r["duration_seconds"] for r in failures] == [300.0, 300.0, 300.0]
    assert records[-1]["timestamp"] == "2026-01-15T10:45:15Z"


def test_resume_continues_the_same_workflow_without_rerunning_completed_steps(
    tmp_path: Path,
) -> None:
    """After a recoverable failure, resume runs the failed step and the rest, same id."""
    layout = Layout(tmp_path)
    runs: list[str] = []
    healthy = {"value": False}

    def runner(step: StepDefinition, context: StepContext) -> None:
        runs.append(step.id)
        if step.id == "b" and not healthy["value"]:
            raise TimeoutError("upstream slow")

    defn = definition({"id": "a"}, {"id": "b"}, {"id": "c"})
    first = WorkflowExecutor(layout, runner, clock=VirtualClock()).run(defn)
    assert first.status is WorkflowStatus.FAILED
    healthy["value"] = True
    resumed = WorkflowExecutor(layout, runner, clock=VirtualClock()).resume("workflow-123")
    assert resumed.workflow_id == "workflow-123"
    assert resumed.status is WorkflowStatus.COMPLETED
    assert runs == ["a", "b", "b", "c"]
    assert [e.attempt for e in resumed.executions_of("b")] == [1, 2]
    assert list(layout.backups_dir.iterdir())  # resume edits state: it backed it up first


def test_resume_takes_a_given_definition_for_a_state_that_holds_none(tmp_path: Path) -> None:
    """A state written elsewhere (no definition) resumes from the definition given, which the
    state then records: a second resume needs none."""
    layout = Layout(tmp_path)
    runs: list[str] = []

    def runner(step: StepDefinition, context: StepContext) -> None:
        runs.append(step.id)
        if step.id == "c" and len(runs) == 2:
            raise TimeoutError("upstream slow")

    path = layout.current_state_file
    assert path is not None
    path.parent.mkdir(parents=True)
    written_elsewhere = {
        "workflow_id": "workflow-123",
        "status": "failed",
        "step_executions": [
            {"step_id": "a", "agent": "x", "status": "completed", "attempt": 1},
            {"step_id": "b", "agent": "x", "status": "failed", "attempt": 1,
             "error": {"code": "t", "category": "timeout", "recoverable": True, "message": "m"}},
        ],
    }  # fmt: skip
    path.write_text(json.dumps(written_elsewhere))
    executor = WorkflowExecutor(layout, runner, clock=VirtualClock())
    with pytest.raises(ResumeRefused, match="--definition FILE"):
        executor.resume("workflow-123")
    defn = definition({"id": "a"}, {"id": "b"}, {"id": "c"})
    first = executor.resume("workflow-123", defn)
    assert (first.status, runs) == (WorkflowStatus.FAILED, ["b", "c"])
    assert first.definition == defn.model_dump(mode="json", by_alias=True)
    again = executor.resume("workflow-123")
    assert (again.status, runs) == (WorkflowStatus.COMPLETED, ["b", "c", "c"])


def test_resume_runs_a_definition_of_another_id_under_the_workflow_s_own(tmp_path: Path) -> None:
    """A definition named otherwise still resumes the workflow asked for, under its id."""
    runs: list[str] = []
    WorkflowExecutor(tmp_path, always_hangs, clock=VirtualClock()).run(definition({"id": "a"}))
    other = WorkflowDefinition.parse({"id": "template", "steps": [{"id": "a"}, {"id": "b"}]})
    state = WorkflowExecutor(
        tmp_path, lambda step, context: runs.append(step.id), clock=VirtualClock()
    ).resume("workflow-123", other)
    assert (state.workflow_id, state.status, runs) == (
        "workflow-123",
        WorkflowStatus.COMPLETED,
        ["a", "b"],
    )
    assert not Layout(tmp_path).lock_file("template").exists()


def test_resume_refuses_a_non_recoverable_failure(tmp_path: Path) -> None:
    """A non-recoverable failure needs a person: resume says to retry-step or skip-step."""

    def runner(step: StepDefinition, context: StepContext) -> None:
        raise RuntimeError("bug in agent")

    WorkflowExecutor(tmp_path, runner, clock=VirtualClock()).run(definition({"id": "s"}))
    with pytest.raises(
        ResumeRefused,
        match=r"non-recoverable execution error \(bug in agent\); fix the cause, then 'tapps workflow retry-step",
    ):
        WorkflowExecutor(tmp_path, runner, clock=VirtualClock()).resume("workflow-123")


def test_resume_of_a_completed_workflow_runs_nothing(tmp_path: Path) -> None:
    """Resuming a finished workflow is a no-op that changes nothing on disk."""
    runs: list[str] = []

    def runner(step: StepDefinition, context: StepContext) -> None:
        runs.append(step.id)

    WorkflowExecutor(tmp_path, runner, clock=VirtualClock()).run(definition({"id": "s"}))
    path = Layout(tmp_path).current_state_file
    assert path is not None
    before = path.read_bytes()
    state = WorkflowExecutor(tmp_path, runner, clock=VirtualClock()).resume("workflow-123")
    assert state.status is WorkflowStatus.COMPLETED
    assert runs == ["s"]
    assert path.read_bytes() == before


def test_starting_an_existing_workflow_id_is_refused(tmp_path: Path) -> None:
    """run() never overwrites a workflow that already has state; it points at resume."""
    executor = WorkflowExecutor(tmp_path, always_hangs, clock=VirtualClock())
    executor.run(definition({"id": "s", "timeout": 1}))
    with pytest.raises(ResumeRefused, match="already has state"):
        executor.run(definition({"id": "s"}))


def test_a_new_workflow_moves_the_previous_current_one_to_history(tmp_path: Path) -> None:
    """current_state.json holds the newest workflow; the previous one moves to history."""
    layout = Layout(tmp_path)
    executor = WorkflowExecutor(layout, lambda step, context: None, clock=VirtualClock())
    executor.run(definition({"id": "s"}))
    executor.run(WorkflowDefinition.parse({"id": "workflow-124", "steps": [{"id": "s"}]}))
    store = StateStore(layout)
    assert store.load().workflow_id == "workflow-124"
    assert store.locate("workflow-123") == layout.history_file("workflow-123")


@pytest.mark.parametrize(
    ("recorded", "why"),
    [
        ({}, "it has no workflow_id"),
        ({"workflow_id": "../x"}, "its workflow_id '../x' is not a safe file name"),
    ],
)
def test_a_previous_state_with_no_usable_id_stops_a_new_run(
    tmp_path: Path, recorded: dict[str, Any], why: str
) -> None:
    """A hand-edited current state whose workflow_id cannot name its history file stops a
    new run before anything is written, naming the file and why (not an unsafe-name error
    about an id the operator never typed)."""
    layout = Layout(tmp_path)
    current = layout.current_state_file
    assert current is not None
    current.parent.mkdir(parents=True)
    current.write_text(json.dumps({**recorded, "status": "completed", "step_executions": []}))
    before = current.read_bytes()
    executor = WorkflowExecutor(layout, lambda step, context: None, clock=VirtualClock())
    with pytest.raises(StateFileError) as refused:
        executor.run(definition({"id": "s"}))
    assert str(refused.value) == (
        f"{current}: {why}, so it cannot be moved to history/; fix or move that file before "
        "starting a new workflow"
    )
    assert current.read_bytes() == before
    assert sorted(p.name for p in current.parent.rglob("*")) == ["current_state.json"]


def _timing_out(max_attempts: int, strategy: str, initial: float, cap: float) -> dict[str, Any]:
    return {
        "id": "s",
        "timeout": 300,
        "retry": {
            "max_attempts": max_attempts,
            "backoff_strategy": strategy,
            "initial_delay": initial,
            "max_delay": cap,
            "jitter": "full",
        },
    }


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(
    max_attempts=st.integers(min_value=1, max_value=8),
    strategy=st.sampled_from(["exponential", "linear", "fixed"]),
    initial=st.integers(min_value=0, max_value=100),
    extra=st.integers(min_value=0, max_value=500),
    seed=st.integers(),
)
def test_failing_step_time_is_attempts_times_timeout_plus_delays(
    tmp_path_factory: pytest.TempPathFactory,
    *,
    max_attempts: int,
    strategy: str,
    initial: int,
    extra: int,
    seed: int,
) -> None:
    """Simulated time of an always-timing-out step: attempts x timeout + sum of its delays."""
    root = tmp_path_factory.mktemp("wf")
    clock = VirtualClock()
    step = _timing_out(max_attempts, strategy, initial, initial + extra)
    state = WorkflowExecutor(root, always_hangs, clock=clock, seed=seed).run(definition(step))
    policy = RetryPolicy.from_mapping(step["retry"])
    expected_delays = policy.delays(f"{seed}:workflow-123:s")
    assert state.attempts("s") == max_attempts
    assert clock.elapsed == pytest.approx(max_attempts * 300 + sum(expected_delays))
    assert clock.sleeps[1::2] == pytest.approx(expected_delays)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(
    budget=st.integers(min_value=1, max_value=3000),
    max_attempts=st.integers(min_value=1, max_value=6),
    initial=st.integers(min_value=0, max_value=60),
)
def test_the_workflow_timeout_budget_is_never_exceeded(
    tmp_path_factory: pytest.TempPathFactory, budget: int, max_attempts: int, initial: int
) -> None:
    """Whatever the retry policy, a workflow never runs past its own timeout."""
    clock = VirtualClock()
    step = _timing_out(max_attempts, "exponential", initial, 60 + initial)
    WorkflowExecutor(tmp_path_factory.mktemp("wf"), always_hangs, clock=clock).run(
        definition(step, timeout=budget)
    )
    assert clock.elapsed <= budget
