"""Plain helpers of the scenario-format tests: a valid scenario, files, reported problems."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Protocol

import pytest

from pytest_tapps.scenario._load import ScenarioFileError, load_file

#: A valid scenario: the runbook's critical-step that times out three times.
EXAMPLE = """\
name: critical step times out three times and lands in the DLQ
runbook: Retry/Timeout Handling > Automatic Retries > Stop after max_attempts
now: 2026-01-15T10:30:00Z
given:
  workflows:
    - id: workflow-123
      steps:
        - id: critical-step
          agent: implementer
          action: generate-code
          retry: {max_attempts: 3, backoff_strategy: exponential, initial_delay: 5, max_delay: 60}
          timeout: 300
faults:
  - step_timeout: {step: critical-step, attempts: all}
when:
  - run: workflow-123
then:
  steps: {critical-step: {status: failed, attempts: 3, delays: [5s, 10s]}}
  elapsed: 915s
  dlq: [{step_id: critical-step, category: timeout, recoverable: true}]
  logs: {every_record_has: [workflow_id]}
"""


class WriteYaml(Protocol):
    """The ``write`` fixture: ``write(text, name="case.tapps.yaml") -> Path``."""

    def __call__(self, text: str, name: str = ...) -> Path: ...


def write_yaml(folder: Path, text: str, name: str = "case.tapps.yaml") -> Path:
    """Write dedented ``text`` to ``folder/name`` and return the path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    """Every problem :func:`load_file` reports for ``path``, as printed."""
    with pytest.raises(ScenarioFileError) as caught:
        load_file(path)
    return [str(problem) for problem in caught.value.problems]


def exactly(message: str) -> str:
    """A ``match=`` pattern for exactly ``message``."""
    return f"^{re.escape(message)}$"
