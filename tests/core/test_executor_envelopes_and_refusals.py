"""The executor's promises to an operator: the envelope of an agent's failed result, field by
field; the messages of resume's refusals with the commands they name; resume's edge cases."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core import (
    Category,
    Layout,
    ResumeRefused,
    StepContext,
    StepDefinition,
    StepStatus,
    VirtualClock,
    WorkflowDefinition,
    WorkflowExecutor,
    WorkflowStatus,
)
from pytest_tapps.core._executor import (
    EXECUTOR_LOGGER,
    NoDefinitionError,
    WorkflowExistsError,
    result_envelope,
)
from pytest_tapps.core._logging import record_fields
from pytest_tapps.harness import project

STEP = StepDefinition.model_validate({"id": "implement", "agent": "implementer"})
IDS = {"workflow_id": "workflow-123", "step_id": "implement", "agent": "implementer"}


def definition(*step_ids: str) -> WorkflowDefinition:
    return WorkflowDefinition.parse(
        {"id": "workflow-123", "steps": [{"id": s, "agent": "implementer"} for s in step_ids]}
    )


def succeed(step: StepDefinition, context: StepContext) -> None:
    """A step runner whose every step succeeds."""


@pytest.mark.parametrize(
    ("result", "envelope"),
    [
        pytest.param(
            {
                "success": False,
                "error": {
                    "code": "config_error",
                    "category": "configuration",
                    "recoverable": True,
                    "message": "missing api key",
                    "details": {"key": "API_KEY"},
                    "trace_id": "trace-1",
                },
            },
            {
                "code": "config_error",
                "category": "configuration",
                "recoverable": True,
                "message": "missing api key",
                "details": {"key": "API_KEY"},
                "trace_id": "trace-1",
            },
            id="whole-envelope",
        ),
        pytest.param(
            {"success": False, "error": {"category": "timeout"}, "trace_id": "trace-2"},
            {
                "code": "timeout_error",
                "category": "timeout",
                "recoverable": False,
                "message": "",
                "details": {},
                "trace_id": "trace-2",
            },
            id="defaults-and-the-result-s-trace-id",
        ),
        pytest.param(
            {"success": False, "error": {"details": None}},
            {
                "code": "execution_error",
                "category": "execution",
                "recoverable": False,
                "message": "",
                "details": {},
                "trace_id": None,
            },
            id="no-category",
        ),
        pytest.param(
            {"success": False, "error": "permission denied on src/app.py"},
            {
                "code": "permission_error",
                "category": "permission",
                "recoverable": False,
                "message": "permission denied on src/app.py",
                "details": {},
                "trace_id": None,
            },
            id="plain-message",
        ),
        pytest.param(
            {"success": False},
            {
                "code": "execution_error",
                "category": "execution",
                "recoverable": False,
                "message": "agent returned success: false",
                "details": {},
                "trace_id": None,
            },
            id="no-error",
        ),
    ],
)
def test_a_failed_agent_result_becomes_its_envelope_with_the_correlation_ids(
    result: dict[str, Any], envelope: dict[str, Any]
) -> None:
    """Each field of a success: false result's error is kept, the runbook's defaults fill in
    the rest, and the workflow_id, step_id and agent are always those of the attempt."""
    got = result_envelope(result, workflow_id="workflow-123", step=STEP)
    assert got is not None
    assert got.model_dump(mode="json") == {**envelope, **IDS}


@pytest.mark.parametrize("result", [{"success": True}, {}, {"output": "x"}, None, "done", [1]])
def test_a_result_that_does_not_say_success_false_is_a_success(result: Any) -> None:
    """Only a mapping whose success is False fails the attempt."""
    assert result_envelope(result, workflow_id="workflow-123", step=STEP) is None


def test_running_an_existing_workflow_id_names_its_file_and_the_resume_command(
    tmp_path: Path,
) -> None:
    """A second run of a workflow id is refused with the state file and the resume command."""
    layout = Layout(tmp_path)
    executor = WorkflowExecutor(layout, succeed, clock=VirtualClock())
    executor.run(definition("plan"))
    with pytest.raises(WorkflowExistsError) as refused:
        executor.run(definition("plan"))
    assert str(refused.value) == (
        f"workflow 'workflow-123' already has state in {layout.current_state_file}; resume it "
        "with 'tapps workflow resume --workflow-id workflow-123 --runner MODULE:ATTR "
        "--definition FILE', or give the definition a new id"
    )


def test_resume_of_a_state_without_definition_names_its_file_and_the_command(
    tmp_path: Path,
) -> None:
    """A state holding no definition is refused with its path and a resume command line that
    gives one; nothing on disk changes."""
    layout = Layout(tmp_path)
    path = layout.current_state_file
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"workflow_id": "workflow-123", "status": "failed"}))
    before = path.read_bytes()
    with pytest.raises(NoDefinitionError) as refused:
        WorkflowExecutor(layout, succeed, clock=VirtualClock()).resume("workflow-123")
    assert (refused.value.workflow_id, refused.value.path) == ("workflow-123", path)
    assert str(refused.value) == (
        f"{path}: workflow 'workflow-123' holds no definition to resume from (it was not "
        "started by this executor); give the workflow's definition file: 'tapps workflow "
        "resume --workflow-id workflow-123 --runner MODULE:ATTR --definition FILE'"
    )
    assert path.read_bytes() == before


def test_resume_past_a_non_recoverable_failure_says_how_to_go_on(tmp_path: Path) -> None:
    """The refusal names the step, its error, the retry-step command and skip-step."""
    layout = Layout(tmp_path)

    def broken(step: StepDefinition, context: StepContext) -> None:
        raise RuntimeError("bug in agent")

    WorkflowExecutor(layout, broken, clock=VirtualClock()).run(definition("s"))
    with pytest.raises(ResumeRefused) as refused:
        WorkflowExecutor(layout, broken, clock=VirtualClock()).resume("workflow-123")
    assert str(refused.value) == (
        f"{layout.current_state_file}: step 's' failed with a non-recoverable execution error "
        "(bug in agent); fix the cause, then 'tapps workflow retry-step --workflow-id "
        "workflow-123 --step s' to run it again, or skip-step to go on without it"
    )


def test_resume_of_a_fresh_running_real_package_save_says_to_wait_or_take_over() -> None:
    """A running state of the real package saved 10 minutes ago may still run: refused, with
    when it counts as stuck and the --take-over way; take_over=True runs it."""
    clock = VirtualClock()
    with project(clock=clock, layout="tapps-agents-3.7") as proj:
        proj.workflow("wf-real", status="running", current=True).step("plan").step(
            "build", "running"
        ).save()
        clock.advance(600)
        executor = WorkflowExecutor(proj.layout, succeed, clock=clock)
        with pytest.raises(ResumeRefused) as refused:
            executor.resume("wf-real", definition("plan", "build"))
        message = str(refused.value)
        assert message.endswith(
            ": workflow 'wf-real' is running in a tapps-agents-3.7 state saved 10m 0s ago, "
            "and that package holds no lock file, so it may still be executing it: wait until "
            "'tapps workflow status' says it is stuck (after 2h 0m without a save), or pass "
            "--take-over if none of its processes runs it"
        )
        state = executor.resume("wf-real", definition("plan", "build"), take_over=True)
        assert state.status is WorkflowStatus.COMPLETED


@pytest.mark.parametrize("status", ["running", "failed"])
def test_resume_of_a_state_whose_steps_all_completed_finishes_the_workflow(
    tmp_path: Path, status: str
) -> None:
    """Every step done but the workflow not saved completed (a crash after the last step):
    resume runs no step and saves the workflow completed."""
    layout = Layout(tmp_path)
    ran: list[str] = []
    defn = definition("a", "b")
    path = layout.current_state_file
    assert path is not None
    path.parent.mkdir(parents=True)
    done = [
        {"step_id": s, "agent": "implementer", "status": "completed", "attempt": 1}
        for s in ("a", "b")
    ]
    path.write_text(
        json.dumps(
            {
                "workflow_id": "workflow-123",
                "status": status,
                "step_executions": done,
                "definition": defn.model_dump(mode="json", by_alias=True),
            }
        )
    )
    executor = WorkflowExecutor(layout, lambda step, context: ran.append(step.id))
    state = executor.resume("workflow-123")
    assert (state.status, ran) == (WorkflowStatus.COMPLETED, [])
    assert json.loads(path.read_text())["status"] == "completed"


def test_resume_closes_an_interrupted_attempt_with_its_envelope(tmp_path: Path) -> None:
    """An attempt left running by a dead executor is cancelled with an 'interrupted'
    envelope carrying the workflow, step and agent, and runs again as the next attempt."""
    layout = Layout(tmp_path)
    defn = definition("a")
    path = layout.current_state_file
    assert path is not None
    path.parent.mkdir(parents=True)
    running = {"step_id": "a", "agent": "implementer", "status": "running", "attempt": 1}
    path.write_text(
        json.dumps(
            {
                "workflow_id": "workflow-123",
                "status": "running",
                "step_executions": [running],
                "definition": defn.model_dump(mode="json", by_alias=True),
            }
        )
    )
    state = WorkflowExecutor(layout, succeed, clock=VirtualClock()).resume("workflow-123")
    interrupted, rerun = state.executions_of("a")
    assert (interrupted.status, rerun.status, rerun.attempt) == (
        StepStatus.CANCELLED,
        StepStatus.COMPLETED,
        2,
    )
    assert interrupted.error is not None
    assert interrupted.error.model_dump(mode="json") == {
        "code": "interrupted",
        "category": "execution",
        "recoverable": True,
        "message": (
            "attempt 1 of step 'a' was interrupted (the executor stopped while it ran); "
            "resume runs it again"
        ),
        "details": {},
        "workflow_id": "workflow-123",
        "step_id": "a",
        "agent": "implementer",
        "trace_id": None,
    }


def test_each_step_logs_its_start_and_completion(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The executor's records of a two-step run, in order, with their attempt fields."""
    caplog.set_level(logging.INFO, logger=EXECUTOR_LOGGER)
    WorkflowExecutor(tmp_path, succeed, clock=VirtualClock()).run(definition("a", "b"))
    records = [r for r in caplog.records if r.name == EXECUTOR_LOGGER]
    assert [r.getMessage() for r in records] == [
        "Workflow started",
        "Step started",
        "Step completed",
        "Step started",
        "Step completed",
        "Workflow completed",
    ]


def test_a_step_runner_s_own_records_carry_its_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What a step runner logs through ``context.logger`` carries the workflow, the step and
    its agent, as the runbook's log conventions ask of every agent record."""
    caplog.set_level(logging.INFO, logger=EXECUTOR_LOGGER)

    def logs(step: StepDefinition, context: StepContext) -> None:
        context.logger.info("Agent working", files=3)

    WorkflowExecutor(tmp_path, logs, clock=VirtualClock()).run(definition("implement"))
    (record,) = [r for r in caplog.records if r.getMessage() == "Agent working"]
    fields = record_fields(record)
    assert {k: fields[k] for k in ("workflow_id", "step_id", "agent", "files")} == {
        **IDS,
        "files": 3,
    }


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            {"category": "bogus", "message": "m"},
            {
                "category": "execution",
                "code": "execution_error",
                "details": {"agent_category": "bogus"},
            },
            id="unknown-category",
        ),
        pytest.param(
            {"category": ["x"], "message": "m"},
            {"category": "execution", "details": {"agent_category": ["x"]}},
            id="unhashable-category",
        ),
        pytest.param(
            {"category": None, "message": "m"},
            {"category": "execution", "details": {}},
            id="null-category-is-the-default",
        ),
        pytest.param(
            {"code": 7, "trace_id": 5, "message": "m"},
            {"code": "7", "trace_id": "5"},
            id="ids-not-text",
        ),
        pytest.param(
            {"details": ["a", 1], "message": "m"},
            {"details": {"agent_details": ["a", 1]}},
            id="details-not-a-mapping",
        ),
        pytest.param(
            {"details": {1: "x"}, "code": "", "message": "m"},
            {"details": {"1": "x"}, "code": "execution_error"},
            id="details-keys-and-empty-code",
        ),
    ],
)
def test_a_malformed_agent_envelope_fails_the_attempt_not_the_executor(
    tmp_path: Path, error: dict[str, Any], expected: dict[str, Any]
) -> None:
    """An agent's error the runbook's envelope cannot hold as written is kept as far as it
    can be (its words in details), and the workflow ends failed with that step failed: the
    executor does not raise and leave the state running."""
    got = result_envelope({"success": False, "error": error}, workflow_id="w", step=STEP)
    assert got is not None
    dumped = got.model_dump(mode="json")
    assert {key: dumped[key] for key in expected} == expected

    layout = Layout(tmp_path)
    state = WorkflowExecutor(
        layout, lambda step, context: {"success": False, "error": error}, clock=VirtualClock(0)
    ).run(definition("build"))
    assert state.status is WorkflowStatus.FAILED
    (execution,) = state.step_executions
    assert execution.status is StepStatus.FAILED
    assert execution.error is not None
    assert execution.error.model_dump(mode="json")["category"] == expected.get(
        "category", "execution"
    )


def test_the_run_trace_id_is_on_every_envelope_it_records(tmp_path: Path) -> None:
    """``WorkflowExecutor(trace_id=...)``: an exception, a failed result with a plain message,
    one with an envelope that names no trace id and a step timeout all record the run's trace
    id; an agent's own trace id (in its error, or beside it) wins."""
    results: dict[str, Any] = {
        "raises": RuntimeError("boom"),
        "plain": {"success": False, "error": "no luck"},
        "envelope": {"success": False, "error": {"category": "validation", "message": "bad"}},
        "own": {"success": False, "error": {"message": "x", "trace_id": "agent-trace"}},
        "beside": {"success": False, "error": "y", "trace_id": "beside-trace"},
    }
    clock = VirtualClock(0)

    def runner(step: StepDefinition, context: StepContext) -> Any:
        if step.id == "slow":
            clock.sleep(10)
            return None
        outcome = results[step.id]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    found = {}
    for step_id in [*results, "slow"]:
        steps = [{"id": step_id, "agent": "a", "timeout": 5}]
        run = WorkflowDefinition.parse({"id": f"wf-{step_id}", "steps": steps})
        executor = WorkflowExecutor(Layout(tmp_path), runner, clock=clock, trace_id="trace-456")
        state = executor.run(run)
        envelope = state.step_executions[-1].error
        assert envelope is not None, step_id
        found[step_id] = envelope.trace_id
    assert found == {
        "raises": "trace-456",
        "plain": "trace-456",
        "envelope": "trace-456",
        "own": "agent-trace",
        "beside": "beside-trace",
        "slow": "trace-456",
    }


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_ERROR_KEYS = st.sampled_from(["code", "category", "recoverable", "message", "details", "trace_id"])


@given(
    error=_JSON | st.dictionaries(_ERROR_KEYS, _JSON | st.sampled_from(["timeout", "validation"])),
    beside=_JSON,
)
def test_any_failed_result_an_agent_returns_becomes_an_envelope(error: Any, beside: Any) -> None:
    """Whatever JSON an agent puts in a ``success: false`` result, the attempt gets an envelope
    with the attempt's correlation ids and a text trace id (the agent's, else the run's): the
    executor never raises on it."""
    result = {"success": False, "error": error, "trace_id": beside}
    got = result_envelope(result, workflow_id="workflow-123", step=STEP, trace_id="run-trace")
    assert got is not None
    assert (got.workflow_id, got.step_id, got.agent) == tuple(IDS.values())
    assert isinstance(got.trace_id, str)
    assert got.trace_id
    assert got.code
    written = error.get("category") if isinstance(error, dict) else None
    if isinstance(written, str) and written in {c.value for c in Category}:
        assert got.category.value == written
