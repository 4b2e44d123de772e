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
    with pytest.raises(ConfigurationError) as info:
        WorkflowDefinition.from_yaml_file(path)
    assert str(info.value) == (
        f'{path}:2: found duplicate key "id" with value "other" (original value: "wf"); each key '
        "may appear once\n    id: other"
    )


BAD_FILE = """\
id: wf-1
steps:
  - id: a
    retry:
      max_attempts: 0
      backoff_strategy: exponental
      initial_delay: 5s
  - id: b
    agnet: x
    timeout: soon
  - agent: z
  - id: a
timout: 5m
"""


def test_every_problem_of_a_definition_file_is_reported_at_its_line(tmp_path: Path) -> None:
    """FILE:LINE: field: message and the line as written, for each problem at once, in the
    file's order: each bad retry field on its own line, a misspelt key with the right one, a
    step without an id at its item, a step id used twice at the second use."""
    path = tmp_path / "wf.yaml"
    path.write_text(BAD_FILE)
    with pytest.raises(ConfigurationError) as info:
        WorkflowDefinition.from_yaml_file(path)
    lines = str(info.value).splitlines()
    heads = [line for line in lines if not line.startswith("    ")]
    assert heads == [
        f"{path}:5: steps.0.retry.max_attempts: must be >= 1 (it counts the first attempt; 1 "
        "means no retry), got 0",
        f"{path}:6: steps.0.retry.backoff_strategy: 'exponental' is not one of 'exponential', "
        "'linear', 'fixed'",
        f"{path}:9: steps.1.agnet: unknown key (did you mean 'agent'?); a step has id, agent, "
        "action, retry, timeout, metadata",
        f"{path}:10: steps.1.timeout: 'soon' is not a duration; write a number of seconds or a "
        "string with a unit such as '5s', '15m', '12h', '30d'",
        f"{path}:11: steps.2: id: missing: give the step an id",
        f"{path}:13: timout: unknown key (did you mean 'timeout'?); a workflow has id, steps, "
        "timeout",
    ]
    assert lines[lines.index(heads[2]) + 1] == "    agnet: x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: wf\nsteps:\n  - id: a\n  - id: a\n", ":4: steps.1.id: step id 'a' appears twice"),
        ("id: ../x\nsteps: [{id: a}]\n", ":1: id: workflow id '../x' must not contain '/'"),
        ("workflow_id: ../x\nsteps: [{id: a}]\n", ":1: workflow_id: workflow id '../x'"),
        ("id: wf\nsteps: []\n", ":2: steps: no steps: list at least one"),
        ("steps: [{id: a}]\n", ": id: missing: give the workflow an id"),
        ("id: wf\n", ": steps: missing: list the steps"),
        ("- a\n", ": a workflow definition is a mapping: id:, steps: (a list) and timeout:"),
        ("", ": a workflow definition is a mapping"),
        ("id: wf\nsteps: [{id: a}\n", ":3: the '[' opened on line 2 is not closed"),
        (
            "id: wf\nsteps:\n  - id: a\n    timeout: 5m\n    metadata: {timeout: 6m}\n",
            ":3: steps.0: timeout is set both on the step and in its metadata; keep one",
        ),
    ],
)
def test_a_bad_definition_file_is_one_message_with_its_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as info:
        WorkflowDefinition.from_yaml_file(path)
    assert str(info.value).startswith(f"{path}{message}")


def test_a_definition_file_reads_as_plain_data(tmp_path: Path) -> None:
    """What the file says, as plain values: the saved definition is what parse() makes."""
    path = tmp_path / "wf.yaml"
    path.write_text(
        "id: wf\ntimeout: 1.5h\nsteps:\n  - id: a\n    retry: {max_attempts: 3, "
        "initial_delay: 2.5}\n    metadata: {owner: qa, weight: 0.5, tags: [x]}\n"
    )
    read = WorkflowDefinition.from_yaml_file(path)
    assert read == WorkflowDefinition.parse(
        {
            "id": "wf",
            "timeout": "1.5h",
            "steps": [
                {
                    "id": "a",
                    "retry": {"max_attempts": 3, "initial_delay": 2.5},
                    "metadata": {"owner": "qa", "weight": 0.5, "tags": ["x"]},
                }
            ],
        }
    )
    assert type(read.steps[0].metadata["weight"]) is float
    assert type(read.steps[0].metadata["tags"]) is list


def test_unknown_step_names_the_known_ones() -> None:
    """Asking for a step that does not exist lists the ones that do."""
    definition = WorkflowDefinition.parse({"id": "wf", "steps": [{"id": "a"}, {"id": "b"}]})
    with pytest.raises(KeyError, match=r"no step 'c' in workflow 'wf'; its steps are \['a', 'b'\]"):
        definition.step("c")


def test_an_anchored_true_is_a_boolean_and_refused_as_a_timeout(tmp_path: Path) -> None:
    """``&t true`` loads as ruamel's int-like ScalarBoolean: it is still a boolean, refused
    where a number is wanted, as a plain ``true`` is."""
    path = tmp_path / "wf.yaml"
    path.write_text("id: wf\nsteps:\n  - id: a\n    timeout: &t true\n  - id: b\n    timeout: *t\n")
    with pytest.raises(ConfigurationError) as anchored:
        WorkflowDefinition.from_yaml_file(path)
    path.write_text("id: wf\nsteps:\n  - id: a\n    timeout: true\n  - id: b\n    timeout: true\n")
    with pytest.raises(ConfigurationError) as written:
        WorkflowDefinition.from_yaml_file(path)
    assert str(anchored.value).count("steps.") == 2
    assert [line.split(": ", 1)[1] for line in str(anchored.value).splitlines()[::2]] == [
        line.split(": ", 1)[1] for line in str(written.value).splitlines()[::2]
    ]


def test_an_unsafe_workflow_id_is_reported_at_the_id_even_with_a_step_id_used_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text("id: a/b\nsteps:\n  - id: s\n  - id: s\n")
    with pytest.raises(ConfigurationError) as info:
        WorkflowDefinition.from_yaml_file(path)
    assert str(info.value).startswith(f"{path}:1: id: workflow id 'a/b' must not contain '/'")
