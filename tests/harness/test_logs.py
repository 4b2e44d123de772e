"""Tests for pytest_tapps.harness._logs: capturing WorkflowLogger records."""

from __future__ import annotations

import logging

import pytest

from pytest_tapps.core import WorkflowLogger
from pytest_tapps.harness import capture_logs


def test_records_are_captured_as_runbook_fields() -> None:
    """Each record comes back as the JSON form's fields, findable by message and field."""
    with capture_logs() as logs:
        log = WorkflowLogger("wf-1", step_id="s1", agent="implementer")
        log.info("Step started", attempt=1)
        log.with_context(step_id="s2").warning("Step failed", attempt=2)
    assert logs.messages(workflow_id="wf-1") == ["Step started", "Step failed"]
    (failed,) = logs.find("Step failed")
    assert (failed["step_id"], failed["level"], failed["attempt"]) == ("s2", "WARNING", 2)
    assert logs.correlated("wf-1")


def test_assert_every_record_has_lists_the_offenders() -> None:
    """A record without step_id fails the check, and the message shows it as JSON."""
    with capture_logs() as logs:
        WorkflowLogger("wf-1", step_id="s1", agent="a").info("ok")
        WorkflowLogger("wf-1").info("Workflow started")
    with pytest.raises(AssertionError) as info:
        logs.assert_every_record_has()
    lines = str(info.value).splitlines()
    assert lines[0] == "1 of 2 records lack ['workflow_id', 'step_id', 'agent']:"
    assert lines[1].startswith("  missing ['step_id', 'agent']: {")
    assert '"message": "Workflow started"' in lines[1]


def test_the_capture_is_removed_afterwards() -> None:
    """After the block the handler is gone and the level restored."""
    logger = logging.getLogger("tapps_agents")
    before = (list(logger.handlers), logger.level)
    with capture_logs():
        assert len(logger.handlers) == len(before[0]) + 1
    assert (list(logger.handlers), logger.level) == before


def test_another_logger_s_extra_fields_are_captured_as_fields() -> None:
    """A record logged with ``extra=`` (another package's workflow logger, such as the real
    tapps-agents'): its correlation fields come first, its other extras after, and nothing of
    LogRecord's own attributes."""
    with capture_logs() as logs:
        logging.getLogger("tapps_agents.workflow.logging_helper").info(
            "Step started",
            extra={"duration_seconds": 5.2, "agent": "implementer", "workflow_id": "wf-1"},
        )
    (record,) = logs.records
    assert list(record) == [
        "timestamp",
        "level",
        "logger",
        "message",
        "workflow_id",
        "agent",
        "duration_seconds",
    ]
    assert (record["workflow_id"], record["duration_seconds"]) == ("wf-1", 5.2)
