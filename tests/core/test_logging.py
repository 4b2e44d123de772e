"""Tests for pytest_tapps.core._logging: WorkflowLogger and its two output forms."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from pytest_tapps.core import (
    VirtualClock,
    WorkflowLogger,
    configure_logging,
    parse_fields,
    structured_logging_enabled,
)


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A private logger, its handlers and level restored after the test."""
    log = logging.getLogger("tapps_agents.test")
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.setLevel(logging.NOTSET)


def _emit(
    logger: logging.Logger, *, structured: bool, clock: VirtualClock | None = None
) -> tuple[WorkflowLogger, io.StringIO]:
    stream = io.StringIO()
    configure_logging(structured=structured, stream=stream, logger_name=logger.name)
    wf = WorkflowLogger(
        "workflow-123",
        step_id="step-1",
        agent="implementer",
        trace_id="trace-456",
        logger=logger,
        clock=clock,
    )
    return wf, stream


def test_json_record_matches_the_runbook_example(logger: logging.Logger) -> None:
    """Structured output is the runbook's JSON: base keys, correlation fields, extras, in order."""
    wf, stream = _emit(logger, structured=True, clock=VirtualClock())
    wf.info("Step started", duration_seconds=5.2)
    assert json.loads(stream.getvalue()) == {
        "timestamp": "2026-01-15T10:30:00Z",
        "level": "INFO",
        "logger": "tapps_agents.test",
        "message": "Step started",
        "workflow_id": "workflow-123",
        "step_id": "step-1",
        "agent": "implementer",
        "trace_id": "trace-456",
        "duration_seconds": 5.2,
    }
    assert list(json.loads(stream.getvalue())) == [
        "timestamp",
        "level",
        "logger",
        "message",
        "workflow_id",
        "step_id",
        "agent",
        "trace_id",
        "duration_seconds",
    ]


def test_without_a_clock_the_timestamp_is_the_record_time_in_utc(
    logger: logging.Logger,
) -> None:
    """The record's own creation time is written as UTC ISO 8601 with a Z."""
    wf, stream = _emit(logger, structured=True)
    wf.info("tick")
    stamp = json.loads(stream.getvalue())["timestamp"]
    assert stamp.endswith("Z")
    assert "+" not in stamp


def test_text_form_is_greppable_by_the_runbook_command(logger: logging.Logger) -> None:
    """Plain text carries workflow_id=... pairs, so grep "workflow_id=workflow-123" works."""
    wf, stream = _emit(logger, structured=False, clock=VirtualClock())
    wf.info("Step started", duration_seconds=5.2, note="two words")
    line = stream.getvalue().rstrip("\n")
    assert line == (
        "2026-01-15T10:30:00Z INFO tapps_agents.test Step started workflow_id=workflow-123 "
        'step_id=step-1 agent=implementer trace_id=trace-456 duration_seconds=5.2 note="two words"'
    )
    assert "workflow_id=workflow-123" in line
    assert parse_fields(line)["note"] == "two words"


def test_with_context_derives_a_child_without_changing_the_parent(
    logger: logging.Logger,
) -> None:
    """A child logger changes only the fields given, and the parent keeps its own."""
    wf, stream = _emit(logger, structured=True)
    child = wf.with_context(step_id="step-2", trace_id=None)
    child.info("child")
    wf.info("parent")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["step_id"], "trace_id" in first) == ("step-2", False)
    assert (second["step_id"], second["trace_id"]) == ("step-1", "trace-456")


def test_with_context_refuses_non_correlation_fields(logger: logging.Logger) -> None:
    """Only the four correlation fields can be bound; the message says where others go."""
    wf, _ = _emit(logger, structured=True)
    with pytest.raises(TypeError, match="pass other fields to each log call instead"):
        wf.with_context(duration_seconds="1")


@pytest.mark.parametrize(
    "name", ["name", "msg", "args", "levelname", "exc_text", "module", "process", "asctime"]
)
def test_fields_named_like_logrecord_attributes_do_not_crash(
    logger: logging.Logger, name: str
) -> None:
    """Names reserved by logging.LogRecord are ordinary fields here, kept as given."""
    wf, stream = _emit(logger, structured=True)
    wf.info("ok", **{name: "value"})
    record = json.loads(stream.getvalue())
    assert record[name] == "value"
    assert record["message"] == "ok"


@pytest.mark.parametrize("name", ["timestamp", "level", "logger", "message"])
def test_fields_named_like_base_keys_are_renamed(logger: logging.Logger, name: str) -> None:
    """A field that would overwrite a base JSON key is written as extra_<name>."""
    wf, stream = _emit(logger, structured=True)
    wf.info("real message", **{name: "user value"})
    record = json.loads(stream.getvalue())
    assert record[f"extra_{name}"] == "user value"
    assert record["message"] == "real message"


def test_a_correlation_field_in_a_call_overrides_for_that_record(logger: logging.Logger) -> None:
    """Passing step_id to one call tags that record only."""
    wf, stream = _emit(logger, structured=True)
    wf.warning("retrying", step_id="step-9", attempt=2)
    wf.info("after")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["step_id"], first["attempt"], first["level"]) == ("step-9", 2, "WARNING")
    assert second["step_id"] == "step-1"


def test_exceptions_are_included_in_json(logger: logging.Logger) -> None:
    """exception() adds the formatted traceback under 'exception'."""
    wf, stream = _emit(logger, structured=True)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        wf.exception("failed")
    record = json.loads(stream.getvalue())
    assert record["level"] == "ERROR"
    assert "RuntimeError: boom" in record["exception"]


def test_non_json_values_are_written_as_text(logger: logging.Logger) -> None:
    """A value JSON cannot hold is written with str() instead of failing the log call."""
    wf, stream = _emit(logger, structured=True)
    wf.info("odd", where={1, 2}.__class__)
    assert json.loads(stream.getvalue())["where"] == "<class 'set'>"


def test_configure_logging_sets_info_level_and_replaces_its_handler(
    logger: logging.Logger,
) -> None:
    """INFO shows once structured logging is on, and a second call does not double lines."""
    first = io.StringIO()
    second = io.StringIO()
    configure_logging(structured=True, stream=first, logger_name=logger.name)
    configure_logging(structured=True, stream=second, logger_name=logger.name)
    WorkflowLogger("wf", logger=logger).info("once")
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1
    assert logger.level == logging.INFO


def test_configure_logging_reads_the_environment(
    logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TAPPS_AGENTS_STRUCTURED_LOGGING=true picks JSON; anything else picks text."""
    stream = io.StringIO()
    monkeypatch.setenv("TAPPS_AGENTS_STRUCTURED_LOGGING", "true")
    configure_logging(stream=stream, logger_name=logger.name)
    WorkflowLogger("wf", logger=logger).info("x")
    assert json.loads(stream.getvalue())["workflow_id"] == "wf"
    monkeypatch.setenv("TAPPS_AGENTS_STRUCTURED_LOGGING", "false")
    stream = io.StringIO()
    configure_logging(stream=stream, logger_name=logger.name)
    WorkflowLogger("wf", logger=logger).info("x")
    assert stream.getvalue().rstrip().endswith("x workflow_id=wf")


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("0", False),
        ("", False),
        ("maybe", False),
    ],
)
def test_structured_logging_switch_words(value: str, enabled: bool) -> None:
    """The environment switch accepts the usual spellings of true."""
    assert structured_logging_enabled({"TAPPS_AGENTS_STRUCTURED_LOGGING": value}) is enabled


def test_empty_workflow_id_is_refused() -> None:
    """workflow_id is required in workflow context: an empty one fails at construction."""
    with pytest.raises(ValueError, match="workflow_id must be a non-empty string, got ''"):
        WorkflowLogger("")


def test_disabled_levels_cost_nothing(logger: logging.Logger) -> None:
    """A DEBUG call on an INFO logger emits nothing."""
    wf, stream = _emit(logger, structured=True)
    wf.debug("hidden", big="x" * 10)
    assert stream.getvalue() == ""
