"""Tests for pytest_tapps.core._state: the runbook-form workflow state model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pytest_tapps.core import StepExecution, StepStatus, WorkflowState, WorkflowStatus
from tests.helpers import envelope, execution, state


def test_runbook_form_state_parses_with_envelopes() -> None:
    """The PRODUCT.md state JSON parses, envelopes and timestamps included."""
    parsed = WorkflowState.model_validate(
        state(
            "workflow-123",
            "failed",
            execution("plan", "completed"),
            execution("critical-step", "failed", error=envelope(workflow_id="workflow-123")),
        )
    )
    assert parsed.status is WorkflowStatus.FAILED
    assert parsed.started_at == datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
    failed = parsed.failed()
    assert [ex.step_id for ex in failed] == ["critical-step"]
    assert failed[0].error is not None
    assert failed[0].error.category == "timeout"


def test_latest_attempt_decides_the_dlq() -> None:
    """A step that failed and then completed on retry is not in the DLQ."""
    parsed = WorkflowState.model_validate(
        state(
            "wf",
            "completed",
            execution("s1", "failed", 1, error=envelope()),
            execution("s1", "completed", 2),
            execution("s2", "failed", 1, error=envelope()),
        )
    )
    assert [ex.step_id for ex in parsed.failed()] == ["s2"]
    assert parsed.attempts("s1") == 2
    assert parsed.step_ids() == ["s1", "s2"]


def test_pending_placeholders_are_not_attempts() -> None:
    """A reset step's pending entry does not count as a try."""
    parsed = WorkflowState.model_validate(
        state("wf", "paused", execution("s1", "failed", 1), execution("s1", "pending", 2))
    )
    assert parsed.attempts("s1") == 1


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"status": "stuck"}, "status"),
        ({"started_at": "2026-01-15T10:30:00"}, "started_at"),
        ({"workflow_id": ""}, "workflow_id"),
        ({"step_executions": [{"step_id": "s", "status": "done"}]}, "step_executions"),
        ({"step_executions": [{"step_id": "s", "attempt": -1}]}, "step_executions"),
        ({"step_executions": [{"step_id": "s", "duration_seconds": -1}]}, "step_executions"),
    ],
)
def test_invalid_states_name_the_field(patch: dict[str, object], field: str) -> None:
    """Bad statuses, naive timestamps, empty ids and impossible counts are refused by field."""
    with pytest.raises(ValidationError) as info:
        WorkflowState.model_validate({**state(), **patch})
    assert info.value.errors()[0]["loc"][0] == field


def test_timestamps_are_stored_in_utc_with_z() -> None:
    """An offset timestamp is normalised to UTC and written back with a Z."""
    plus_two = timezone(timedelta(hours=2))
    parsed = WorkflowState(
        workflow_id="wf",
        status=WorkflowStatus.RUNNING,
        started_at=datetime(2026, 1, 15, 12, 30, tzinfo=plus_two),
    )
    assert parsed.to_json_dict()["started_at"] == "2026-01-15T10:30:00Z"


def test_unknown_fields_are_kept_on_a_round_trip() -> None:
    """Fields this package does not know survive a load and save (no silent data loss)."""
    data = state("wf", "running", execution("s1", "running", custom_note="keep me"), owner="qa")
    dumped = WorkflowState.model_validate(data).to_json_dict()
    assert dumped["owner"] == "qa"
    assert dumped["step_executions"][0]["custom_note"] == "keep me"


moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
executions = st.builds(
    StepExecution,
    step_id=st.text(min_size=1, max_size=8),
    agent=st.none() | st.text(max_size=8),
    status=st.sampled_from(StepStatus),
    attempt=st.integers(min_value=1, max_value=10**6),
    started_at=st.none() | moments,
    duration_seconds=st.none() | st.floats(min_value=0, max_value=1e9),
    worktree=st.none() | st.text(min_size=1, max_size=8),
)
states = st.builds(
    WorkflowState,
    workflow_id=st.text(min_size=1, max_size=16),
    status=st.sampled_from(WorkflowStatus),
    current_step=st.none() | st.text(min_size=1, max_size=8),
    started_at=st.none() | moments,
    updated_at=st.none() | moments,
    step_executions=st.lists(executions, max_size=6),
)


@given(states)
def test_states_survive_a_json_round_trip(original: WorkflowState) -> None:
    """Writing a state to JSON and reading it back gives the same state."""
    assert WorkflowState.model_validate(original.to_json_dict()) == original


def test_attempt_zero_is_a_placeholder_not_a_try() -> None:
    """A pending entry numbered 0 reads; it is no attempt, and the next try is number 1."""
    parsed = WorkflowState.model_validate(
        {
            **state(),
            "step_executions": [
                {"step_id": "s", "status": "completed", "attempt": 1},
                {"step_id": "t", "status": "pending", "attempt": 0},
            ],
        }
    )
    assert (parsed.attempts("t"), parsed.next_attempt("t")) == (0, 1)
    assert parsed.latest()["t"].attempt == 0


def test_a_timestamp_is_written_for_its_instant_even_in_a_repeated_hour() -> None:
    """Timestamp texts are remembered between saves: two times of a repeated hour (the same
    wall time, fold 0 and 1, an hour apart) compare equal in their zone, yet each is written
    as its own UTC instant, also in a model built without validation."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    first = datetime(2024, 11, 3, 1, 30, tzinfo=zone, fold=0)
    second = datetime(2024, 11, 3, 1, 30, tzinfo=zone, fold=1)
    written = [
        StepExecution.model_construct(
            step_id="a", status=StepStatus.RUNNING, started_at=moment
        ).model_dump(mode="json")["started_at"]
        for moment in (first, second, first)
    ]
    assert written == ["2024-11-03T05:30:00Z", "2024-11-03T06:30:00Z", "2024-11-03T05:30:00Z"]
