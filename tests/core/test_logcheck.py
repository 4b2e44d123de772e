"""Tests for pytest_tapps.core._logcheck: the log linter and the correlation-id grep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_tapps.core import grep_file, lint_file
from pytest_tapps.core._logcheck import suggest_name

GOOD: dict[str, Any] = {
    "timestamp": "2026-01-15T10:30:00Z",
    "level": "INFO",
    "logger": "tapps_agents.workflow.executor",
    "message": "Step started",
    "workflow_id": "workflow-123",
    "step_id": "step-1",
    "agent": "implementer",
    "trace_id": "trace-456",
    "duration_seconds": 5.2,
}


def _lint(tmp_path: Path, *records: dict[str, Any] | str) -> list[str]:
    path = tmp_path / "app.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return [f"{p.line}: {p.message}" for p in lint_file(path)]


def test_the_runbook_example_record_is_clean(tmp_path: Path) -> None:
    """The runbook's own JSON example passes every rule."""
    assert _lint(tmp_path, GOOD) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"workflow_id": None},
            "record names step_id and agent but has no 'workflow_id' (required in workflow context)",
        ),
        ({"wf_id": "x"}, "field 'wf_id' abbreviates; use the descriptive name 'workflow_id'"),
        ({"stepId": "x"}, "field 'stepId' is not snake_case; use 'step_id'"),
        (
            {"duration": 5.2},
            "field 'duration' is a number without a unit in its name; name the unit, e.g. 'duration_seconds'",
        ),
        (
            {"retry_delay": 5},
            "field 'retry_delay' is a number without a unit in its name; name the unit, e.g. 'retry_delay_seconds'",
        ),
        (
            {"cache_size": 1024},
            "field 'cache_size' is a number without a unit in its name; name the unit, e.g. 'cache_size_bytes'",
        ),
        (
            {"timestamp": "2026-01-15 10:30:00,123"},
            "timestamp: '2026-01-15 10:30:00,123' has no time zone: write it in UTC with a 'Z' suffix",
        ),
        (
            {"timestamp": "2026-01-15T10:30:00+02:00"},
            "timestamp '2026-01-15T10:30:00+02:00' must be UTC with a 'Z' suffix",
        ),
        (
            {"timestamp": "yesterday"},
            "timestamp: 'yesterday' is not an ISO 8601 timestamp (expected e.g. '2026-01-15T10:30:00Z')",
        ),
        (
            {"timestamp": 1768473000},
            "timestamp 1768473000 is not a string; write UTC ISO 8601 such as '2026-01-15T10:30:00Z'",
        ),
        (
            {"level": "VERBOSE"},
            "level 'VERBOSE' is not one of CRITICAL, DEBUG, ERROR, INFO, WARNING",
        ),
    ],
)
def test_each_convention_break_is_reported(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    """Every rule of the runbook's field conventions has its own message."""
    record = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    problems = _lint(tmp_path, record)
    assert any(
        p == f"1: {problem}" or (p.startswith("1: timestamp") and problem in p) for p in problems
    ), problems


def test_the_real_package_timestamp_form_is_rejected(tmp_path: Path) -> None:
    """tapps-agents 3.7 writes local 'YYYY-MM-DD HH:MM:SS,mmm': not the runbook's form."""
    problems = _lint(tmp_path, {**GOOD, "timestamp": "2026-01-15 10:30:00,123"})
    assert len(problems) == 1
    assert problems[0].startswith("1: timestamp")


def test_missing_base_fields_and_bad_lines(tmp_path: Path) -> None:
    """Missing base keys, non-JSON lines and non-object JSON are each reported by line."""
    problems = _lint(tmp_path, {"message": "m"}, "plain text line", "[1]", "", GOOD)
    assert problems == [
        "1: missing required field 'timestamp'",
        "1: missing required field 'level'",
        "1: missing required field 'logger'",
        "2: not a JSON record: Expecting value at column 1",
        "3: not a JSON object but a list",
    ]


def test_counts_with_units_and_booleans_pass(tmp_path: Path) -> None:
    """attempt counts, durations with a unit and boolean flags are fine."""
    record = {**GOOD, "attempt": 2, "timeout_seconds": 300, "delay_ms": 5, "timeout": True}
    assert _lint(tmp_path, record) == []


def test_suggestions_spell_out_and_snake_case() -> None:
    """The suggested name is snake_case with abbreviations spelled out."""
    assert suggest_name("wfId") == "workflow_id"
    assert suggest_name("Step-Id") == "step_id"


def test_grep_matches_exact_ids_in_json_and_text(tmp_path: Path) -> None:
    """grep finds workflow-123's lines in both forms, and not workflow-1234's."""
    log = tmp_path / "mixed.log"
    log.write_text(
        "\n".join(
            [
                json.dumps({**GOOD}),
                json.dumps({**GOOD, "workflow_id": "workflow-1234"}),
                "2026-01-15T10:30:00Z INFO x Step workflow_id=workflow-123 step_id=step-2",
                '2026-01-15T10:30:00Z INFO x Step workflow_id="workflow-123" step_id=step-1',
                "2026-01-15T10:30:00Z INFO x Step workflow_id=workflow-1234 step_id=step-1",
                "no fields at all",
            ]
        )
    )
    assert [n for n, _ in grep_file(log, {"workflow_id": "workflow-123"})] == [1, 3, 4]
    assert [n for n, _ in grep_file(log, {"workflow_id": "workflow-123", "step_id": "step-1"})] == [
        1,
        4,
    ]
