"""The workflow state in the runbook's form (PRODUCT.md "State JSON")."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from pytest_tapps.core._envelope import ErrorEnvelope
from pytest_tapps.core._timeutil import to_iso


class WorkflowStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


#: Step statuses after which a step needs nothing more on resume.
DONE_STATUSES = frozenset({StepStatus.COMPLETED, StepStatus.SKIPPED})
#: Statuses of an execution entry that stands for a real try of the step.
TRIED_STATUSES = frozenset(
    {StepStatus.RUNNING, StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED}
)

#: A state is saved whole after every attempt, each time writing every earlier timestamp again:
#: remembering their text halves the save of a long state (a step tried 1,000 times).
_cached_iso = functools.lru_cache(maxsize=16384)(to_iso)


def _timestamp_text(moment: datetime) -> str:
    """:func:`to_iso`, remembered for UTC times (what validation makes of every timestamp). Only
    those: two times in another zone can be equal and hash alike yet read differently (a
    repeated hour's ``fold``), and an unvalidated model may hold one."""
    return _cached_iso(moment) if moment.tzinfo is UTC else to_iso(moment)


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(lambda moment: moment.astimezone(UTC)),
    PlainSerializer(_timestamp_text, return_type=str),
]


class StepExecution(BaseModel):
    """One attempt of one step (a retry appends another execution of the same step)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    step_id: str = Field(min_length=1)
    agent: str | None = None
    action: str | None = None
    status: StepStatus = StepStatus.PENDING
    #: The try's number, from 1. ``0`` marks an entry that is no try: a placeholder for a step
    #: not yet tried (other writers and hand edits write ``pending`` with ``attempt: 0``). A
    #: step's attempt count is taken from statuses (:meth:`WorkflowState.attempts`), never from
    #: these numbers; the next try is numbered one more than the highest (1 after a ``0``).
    attempt: int = Field(default=1, ge=0)
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    duration_seconds: float | None = Field(default=None, ge=0)
    error: ErrorEnvelope | None = None
    worktree: str | None = None


class WorkflowState(BaseModel):
    """A workflow's recorded state: what ran, how often, and how it ended."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    workflow_id: str = Field(min_length=1)
    status: WorkflowStatus
    current_step: str | None = None
    started_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    step_executions: list[StepExecution] = Field(default_factory=list)
    #: A workflow-level failure (a workflow timeout); step failures live on their executions.
    error: ErrorEnvelope | None = None
    #: The definition the executor ran (steps, retry and timeout), so resume can continue.
    definition: dict[str, Any] | None = None

    def step_ids(self) -> list[str]:
        """Step ids in the order they first appear."""
        return list(dict.fromkeys(execution.step_id for execution in self.step_executions))

    def executions_of(self, step_id: str) -> list[StepExecution]:
        """Every recorded execution of one step, oldest first."""
        return [ex for ex in self.step_executions if ex.step_id == step_id]

    def latest(self) -> dict[str, StepExecution]:
        """The newest execution of each step, in step order."""
        newest: dict[str, StepExecution] = {}
        for execution in self.step_executions:
            newest[execution.step_id] = execution
        return newest

    def attempts(self, step_id: str) -> int:
        """How many times a step was actually tried (pending and skipped entries do not count)."""
        return sum(1 for ex in self.executions_of(step_id) if ex.status in TRIED_STATUSES)

    def next_attempt(self, step_id: str) -> int:
        """The attempt number the step's next try gets (numbers continue across resumes)."""
        return max((ex.attempt for ex in self.executions_of(step_id)), default=0) + 1

    def failed(self) -> list[StepExecution]:
        """The steps whose newest execution failed: the workflow's dead letter queue."""
        return [ex for ex in self.latest().values() if ex.status is StepStatus.FAILED]

    def to_json_dict(self) -> dict[str, Any]:
        """The state as the JSON object written to disk."""
        return self.model_dump(mode="json", exclude_none=False)


def source_format(state: WorkflowState) -> str | None:
    """The format a state was read from when it is not this package's (``tapps-agents-3.7``)."""
    source = (state.model_extra or {}).get("source_format")
    return str(source) if source else None
