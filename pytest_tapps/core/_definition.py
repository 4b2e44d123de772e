"""Workflow definitions: the steps a workflow runs, with their retry and timeout policies.

The runbook's YAML parses as written there::

    steps:
      - id: critical-step
        agent: implementer
        action: generate-code
        retry: {max_attempts: 3, backoff_strategy: exponential, initial_delay: 5, max_delay: 60}
        timeout: 300  # 5 minutes

A step's timeout may also sit in its ``metadata`` ("Increase timeout in workflow step metadata");
durations may carry units (``5m``). A workflow-level ``timeout`` bounds the whole run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from pytest_tapps.core._durations import _PATTERN as _DURATION_TEXT
from pytest_tapps.core._errors import ConfigurationError
from pytest_tapps.core._layout import SAFE_NAME_PATTERN, safe_name
from pytest_tapps.core._policy import NO_RETRY, BackoffStrategy, Jitter, RetryPolicy, parse_timeout
from pytest_tapps.core._store import describe_validation_error


def _retry(value: Any) -> RetryPolicy:
    if isinstance(value, RetryPolicy):
        return value
    if value is None:
        return NO_RETRY
    if not isinstance(value, dict):
        message = f"expected a mapping such as {{max_attempts: 3}}, got {value!r}"
        raise ValueError(message)
    return RetryPolicy.from_mapping(value)


def _dump_retry(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "max_attempts": policy.max_attempts,
        "backoff_strategy": str(policy.backoff_strategy),
        "initial_delay": policy.initial_delay,
        "max_delay": policy.max_delay,
        "jitter": str(policy.jitter),
    }


def _timeout(value: Any) -> float | None:
    return None if value is None else parse_timeout(value)


def _same_timeout(step: Any, meta: Any) -> bool:
    """Whether the step's own timeout agrees with its metadata's (``120`` and ``"2m"`` do: a
    saved definition carries both, the parsed one and the one written in metadata)."""
    if step is None:
        return True
    try:
        return parse_timeout(step) == parse_timeout(meta)
    except ValueError:
        return False


def _seconds_schema(description: str, *, positive: bool) -> dict[str, Any]:
    """The JSON Schema of a duration here: seconds, or a number with a unit (``5m``)."""
    text: dict[str, Any] = {"type": "string", "pattern": _DURATION_TEXT.pattern}
    number: dict[str, Any] = {"type": "number", "minimum": 0}
    if positive:
        text["not"] = {"pattern": r"^\s*0+(\.0+)?\s*(ms|s|m|h|d|w)\s*$"}
        number = {"type": "number", "exclusiveMinimum": 0}
    return {"anyOf": [number, text], "description": description}


_TIMEOUT_SCHEMA = _seconds_schema("seconds (300) or a duration with a unit (5m)", positive=True)
_RETRY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "description": "the runbook's retry: block",
    "properties": {
        "max_attempts": {
            "type": "integer",
            "minimum": 1,
            "description": "every attempt, the first included (1: no retry)",
        },
        "backoff_strategy": {"type": "string", "enum": [str(s) for s in BackoffStrategy]},
        "initial_delay": _seconds_schema("the first wait: seconds or 5s", positive=False),
        "max_delay": _seconds_schema("the cap on every wait: seconds or 1m", positive=False),
        "jitter": {"type": "string", "enum": [str(j) for j in Jitter]},
    },
}
Retry = Annotated[
    RetryPolicy,
    BeforeValidator(_retry),
    PlainSerializer(_dump_retry),
    WithJsonSchema(_RETRY_SCHEMA),
]
Timeout = Annotated[float | None, BeforeValidator(_timeout), WithJsonSchema(_TIMEOUT_SCHEMA)]


class StepDefinition(BaseModel):
    """One step of a workflow."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: str = Field(min_length=1)
    agent: str | None = None
    action: str | None = None
    retry: Retry = NO_RETRY
    timeout: Timeout = None
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        json_schema_extra={"properties": {"timeout": _TIMEOUT_SCHEMA}},
    )

    @model_validator(mode="before")
    @classmethod
    def _timeout_from_metadata(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
            meta = data["metadata"]
            if "timeout" in meta:
                if not _same_timeout(data.get("timeout"), meta["timeout"]):
                    message = "timeout is set both on the step and in its metadata; keep one"
                    raise ValueError(message)
                data = {**data, "timeout": meta["timeout"]}
        return data

    def timeout_seconds(self, default: float) -> float:
        """This step's timeout, or ``default`` when it sets none."""
        return self.timeout if self.timeout is not None else default


class WorkflowDefinition(BaseModel):
    """A workflow: an id, ordered steps and an optional timeout for the whole run."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(
        min_length=1, alias="workflow_id", json_schema_extra={"pattern": SAFE_NAME_PATTERN}
    )
    steps: list[StepDefinition] = Field(min_length=1)
    timeout: Timeout = None

    @model_validator(mode="after")
    def _check_ids(self) -> WorkflowDefinition:
        safe_name(self.id, what="workflow id")
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                message = f"step id {step.id!r} appears twice; step ids must be unique"
                raise ValueError(message)
            seen.add(step.id)
        return self

    def step(self, step_id: str) -> StepDefinition:
        """The step with this id (``KeyError`` naming the known ids if absent)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        known = [s.id for s in self.steps]
        message = f"no step {step_id!r} in workflow {self.id!r}; its steps are {known}"
        raise KeyError(message)

    def index(self, step_id: str) -> int:
        """The position of a step in the workflow."""
        return self.steps.index(self.step(step_id))

    @classmethod
    def parse(cls, data: Any, *, source: str = "workflow definition") -> WorkflowDefinition:
        """Validate ``data``; errors become one :class:`ConfigurationError` naming each field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            message = f"{source}: {describe_validation_error(exc)}"
            raise ConfigurationError(message) from None

    @classmethod
    def from_yaml_file(cls, path: Path) -> WorkflowDefinition:
        """Read a definition from a YAML file (YAML 1.2, duplicate keys refused). Every problem
        is reported at once in one :class:`ConfigurationError`, a line each: ``FILE:LINE:
        field: message`` with the line as written (each bad field of a ``retry:`` block at its
        own line)."""
        from pytest_tapps.core._yamlutil import YamlFileError, load_yaml, plain

        try:
            document = load_yaml(path)
        except YamlFileError as exc:
            raise ConfigurationError(str(exc)) from None
        data = plain(document.data)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = [
                problem
                for error in exc.errors(include_url=False)
                for problem in _file_problems(document, data, error)
            ]
            problems.sort(key=lambda problem: problem.line or 0)  # in the file's order
            raise ConfigurationError("\n".join(map(str, problems))) from None


_WORKFLOW_KEYS = ("id", "steps", "timeout")
_STEP_KEYS = ("id", "agent", "action", "retry", "timeout", "metadata")


def _file_problems(document: Any, data: Any, error: Any) -> list[Any]:
    """The problems of a definition file one validation error stands for, at their lines."""
    from pytest_tapps.core._policy import retry_problems
    from pytest_tapps.core._yamlutil import did_you_mean, value_at

    loc: list[str | int] = list(error["loc"])
    if loc[:1] == ["workflow_id"] and isinstance(data, dict) and "workflow_id" not in data:
        loc[0] = "id"  # the file's own name for it
    kind, message = error["type"], error["msg"].removeprefix("Value error, ")
    if loc:
        message = message.removeprefix(f"{loc[-1]}: ")  # the field is named once, before it
    step = len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int)
    if not loc and not isinstance(data, dict):
        message = "a workflow definition is a mapping: id:, steps: (a list) and timeout:"
    elif not loc and message.startswith("workflow id"):
        loc = ["workflow_id" if "workflow_id" in data else "id"]
    elif not loc and (second := _second_use(data.get("steps"))) is not None:
        loc = ["steps", second, "id"]  # the workflow's own check: a step id used twice
    elif kind == "too_short" and loc == ["steps"]:
        message = "no steps: list at least one (steps: [{id: build, agent: a, action: b}])"
    elif kind == "missing":
        return [_missing(document, loc, step=step)]
    elif kind == "extra_forbidden":
        known = _STEP_KEYS if len(loc) == 3 and step else _WORKFLOW_KEYS
        message = (
            f"unknown key{did_you_mean(str(loc[-1]), known)}; "
            f"{'a step' if step else 'a workflow'} has {', '.join(known)}"
        )
    elif loc[-1:] == ["retry"] and step:
        block = value_at(data, loc)
        if isinstance(block, dict) and retry_problems(block):
            return [document.problem([*loc, name], why) for name, why in retry_problems(block)]
    return [document.problem(loc, message)]


def _second_use(steps: Any) -> int | None:
    """The index of the first step whose id an earlier step has, if any."""
    seen: set[Any] = set()
    for index, step in enumerate(steps if isinstance(steps, list) else ()):
        key = step.get("id") if isinstance(step, dict) else None
        if key in seen:
            return index
        seen.add(key)
    return None


def _missing(document: Any, loc: list[str | int], *, step: bool) -> Any:
    """A key that is not there, at the line of the mapping that lacks it (the file's, none)."""
    from pytest_tapps.core._yamlutil import Problem

    *where, what = loc
    message = {
        "id": f"missing: give the {'step' if step else 'workflow'} an id",
        "steps": "missing: list the steps (steps: [{id: build, agent: a, action: b}])",
    }.get(str(what), "missing")
    if where:
        return document.problem(where, f"{what}: {message}")
    return Problem(document.path, None, "", f"{what}: {message}")
