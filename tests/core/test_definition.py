"""Tests for pytest_tapps.core._definition: workflow definitions from the runbook's YAML."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_tapps.core import ConfigurationError, RetryPolicy, WorkflowDefinition

RUNBOOK_YAML = textwrap.dedent(
    """
    id: workflow-123
    steps:
      - id: critical-step
        agent: implementer
        action: generate-code
        retry:
          max_attempts: 3
          backoff_strategy: exponential
          initial_delay: 5  # seconds
          max_delay: 60     # seconds
        timeout: 300  # 5 minutes
    """
)


def test_the_runbook_step_yaml_parses_as_written(tmp_path: Path) -> None:
    """The runbook's retry: block and timeout: in seconds become the step's policies."""
    path = tmp_path / "workflow.yaml"
    path.write_text(RUNBOOK_YAML)
    definition = WorkflowDefinition.from_yaml_file(path)
    step = definition.step("critical-step")
    assert step.retry == RetryPolicy(3, "exponential", 5, 60)
    assert step.timeout == 300
    assert step.timeout_seconds(900) == 300


def test_steps_without_retry_or_timeout_get_the_defaults() -> None:
    """No retry block means one attempt; no timeout means the runbook's 900 s default."""
    step = WorkflowDefinition.parse({"id": "wf", "steps": [{"id": "s"}]}).steps[0]
    assert step.retry.max_attempts == 1
    assert step.timeout_seconds(900) == 900


def test_timeouts_may_sit_in_metadata_and_carry_units() -> None:
    """'Increase timeout in workflow step metadata': metadata.timeout with a unit works."""
    definition = WorkflowDefinition.parse(
        {"id": "wf", "timeout": "1h", "steps": [{"id": "s", "metadata": {"timeout": "15m"}}]}
    )
    assert (definition.timeout, definition.steps[0].timeout) == (3600, 900)


def test_a_saved_definition_with_a_metadata_timeout_reads_back() -> None:
    """A dumped definition holds the parsed timeout and the metadata's '2m'; they agree."""
    definition = WorkflowDefinition.parse(
        {"id": "wf", "steps": [{"id": "s", "metadata": {"timeout": "2m"}}]}
    )
    dumped = definition.model_dump(mode="json", by_alias=True)
    assert dumped["steps"][0]["timeout"] == 120
    assert WorkflowDefinition.parse(dumped).steps[0].timeout == 120


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"id": "wf", "steps": [{"id": "a", "timeout": 60, "metadata": {"timeout": "2m"}}]},
            "timeout is set both on the step and in its metadata; keep one",
        ),
        (
            {"id": "wf", "steps": []},
            "steps: List should have at least 1 item after validation, not 0",
        ),
        (
            {"id": "wf", "steps": [{"id": "a"}, {"id": "a"}]},
            "step id 'a' appears twice; step ids must be unique",
        ),
        (
            {"id": "../wf", "steps": [{"id": "a"}]},
            "workflow id '../wf' must not contain '/' or '\\' (it names one folder or file, not a path)",
        ),
        (
            {"id": "wf", "steps": [{"id": "a", "retry": {"max_attempts": 0}}]},
            "steps.0.retry: max_attempts: must be >= 1 (it counts the first attempt; 1 means no retry), got 0",
        ),
        (
            {"id": "wf", "steps": [{"id": "a", "timeout": "1:30"}]},
            "steps.0.timeout: timeout: '1:30' is not a duration",
        ),
        (
            {"id": "wf", "steps": [{"id": "a", "timeout": 5, "metadata": {"timeout": 6}}]},
            "timeout is set both on the step and in its metadata; keep one",
        ),
        (
            {"id": "wf", "steps": [{"id": "a", "retries": 3}]},
            "steps.0.retries: Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_definitions_name_the_field(data: dict[str, object], message: str) -> None:
    """Every problem comes back as a ConfigurationError naming its field."""
    with pytest.raises(ConfigurationError) as info:
        WorkflowDefinition.parse(data, source="wf.yaml")
    assert str(info.value).startswith("wf.yaml: ")
    assert message in str(info.value)


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    """A key written twice is an error, not a silent 'last one wins'."""
    path = tmp_path / "wf.yaml"
    path.write_text("id: wf\nid: other\nsteps: [{id: a}]\n")
    with pytest.raises(ConfigurationError, match=r"wf\.yaml: not valid YAML: .*duplicate key"):
        WorkflowDefinition.from_yaml_file(path)


def test_unknown_step_names_the_known_ones() -> None:
    """Asking for a step that does not exist lists the ones that do."""
    definition = WorkflowDefinition.parse({"id": "wf", "steps": [{"id": "a"}, {"id": "b"}]})
    with pytest.raises(KeyError, match=r"no step 'c' in workflow 'wf'; its steps are \['a', 'b'\]"):
        definition.step("c")
