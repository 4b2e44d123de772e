"""Tests for pytest_tapps.core._envelope: the classifier, the envelope model and the advice."""

from __future__ import annotations

import errno
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from pytest_tapps.core import (
    ADVICE,
    NON_RECOVERABLE_RECOVERY,
    Category,
    ConfigurationError,
    ErrorEnvelope,
    StepError,
    advice_for,
    categorize,
    classify,
)


class _Model(BaseModel):
    count: int


def _pydantic_error() -> ValidationError:
    try:
        _Model.model_validate({"count": "many"})
    except ValidationError as exc:
        return exc
    raise AssertionError("pydantic accepted a bad value")


class VendorConfigError(Exception):
    """A third-party configuration error recognised by its name."""


@pytest.mark.parametrize(
    ("exc", "category", "recoverable"),
    [
        (TimeoutError("slow"), Category.TIMEOUT, True),
        (TimeoutError(), Category.TIMEOUT, True),
        (TimeoutError("read"), Category.TIMEOUT, True),
        (PermissionError(errno.EACCES, "denied", "/x"), Category.PERMISSION, False),
        (ConnectionRefusedError(), Category.EXTERNAL_DEPENDENCY, True),
        (ConnectionResetError(), Category.EXTERNAL_DEPENDENCY, True),
        (socket.gaierror(-2, "Name or service not known"), Category.EXTERNAL_DEPENDENCY, True),
        (OSError(errno.ENETUNREACH, "unreachable"), Category.EXTERNAL_DEPENDENCY, True),
        (OSError(errno.EHOSTUNREACH, "no route"), Category.EXTERNAL_DEPENDENCY, True),
        (OSError(errno.ENOSPC, "disk full"), Category.EXECUTION, False),
        (FileNotFoundError(), Category.EXECUTION, False),
        (ConfigurationError("bad key"), Category.CONFIGURATION, True),
        (VendorConfigError("bad"), Category.CONFIGURATION, True),
        (_pydantic_error(), Category.VALIDATION, False),
        (ValueError("negative"), Category.VALIDATION, False),
        (RuntimeError("boom"), Category.EXECUTION, False),
        (KeyError("k"), Category.EXECUTION, False),
    ],
)
def test_classifier_maps_exceptions_to_the_runbook_categories(
    exc: BaseException, category: Category, recoverable: bool
) -> None:
    """Each exception family lands in the category and recoverability the issue lists."""
    assert categorize(exc) == (category, recoverable)


def test_classify_fills_code_message_details_and_correlation_ids() -> None:
    """The envelope carries the category's default code and where the error happened."""
    env = classify(
        TimeoutError("step exceeded 300s"),
        workflow_id="workflow-123",
        step_id="critical-step",
        agent="implementer",
        trace_id="trace-456",
    )
    assert env.code == "timeout_error"
    assert env.message == "step exceeded 300s"
    assert env.details == {"exception_type": "builtins.TimeoutError"}
    assert (env.workflow_id, env.step_id, env.agent, env.trace_id) == (
        "workflow-123",
        "critical-step",
        "implementer",
        "trace-456",
    )


def test_an_exception_without_text_is_named_by_its_type() -> None:
    """An empty message would leave the DLQ unreadable: the type name stands in."""
    assert classify(RuntimeError()).message == "RuntimeError"


def test_step_error_sets_the_envelope_explicitly() -> None:
    """A runner can fail a step with any category, flag, code and details."""
    env = classify(
        StepError(
            "quota exceeded",
            category="external_dependency",
            recoverable=False,
            code="quota",
            details={"retry_after": 30},
        )
    )
    assert (env.category, env.recoverable, env.code, env.message, env.details) == (
        Category.EXTERNAL_DEPENDENCY,
        False,
        "quota",
        "quota exceeded",
        {"retry_after": 30},
    )


def test_step_error_refuses_an_unknown_category() -> None:
    """A typo in a category fails at once, not when the DLQ is read."""
    with pytest.raises(ValueError, match="'timout' is not a valid Category"):
        StepError("x", category="timout", recoverable=True)


def test_envelope_rejects_unknown_category_and_empty_code() -> None:
    """The model accepts only the runbook's six categories and a non-empty code."""
    with pytest.raises(ValidationError) as info:
        ErrorEnvelope.model_validate(
            {"code": "", "category": "network", "recoverable": True, "message": "m"}
        )
    fields = {error["loc"][0] for error in info.value.errors()}
    assert fields == {"code", "category"}


def test_every_category_has_the_runbook_advice() -> None:
    """The advice table covers all six categories with the runbook's diagnosis line."""
    assert set(ADVICE) == set(Category)
    assert ADVICE[Category.CONFIGURATION].diagnosis == "Fix configuration and retry"
    assert (
        ADVICE[Category.EXTERNAL_DEPENDENCY].diagnosis == "Service may be temporarily unavailable"
    )
    assert ADVICE[Category.VALIDATION].diagnosis == "Fix input parameters"
    assert ADVICE[Category.EXECUTION].diagnosis == "May require code changes"
    assert ADVICE[Category.PERMISSION].diagnosis == "Fix file permissions"
    assert ADVICE[Category.TIMEOUT].diagnosis == "Increase timeout or optimize operation"


def test_non_recoverable_errors_get_the_non_recoverable_procedure() -> None:
    """recoverable: false follows the runbook's four-step procedure whatever the category."""
    env = classify(RuntimeError("bug"))
    assert advice_for(env) == NON_RECOVERABLE_RECOVERY
    assert advice_for(classify(TimeoutError())) == ADVICE[Category.TIMEOUT].recovery


envelopes = st.builds(
    ErrorEnvelope,
    code=st.text(min_size=1),
    category=st.sampled_from(Category),
    recoverable=st.booleans(),
    message=st.text(),
    details=st.dictionaries(st.text(), st.integers() | st.text() | st.booleans()),
    workflow_id=st.none() | st.text(min_size=1),
    step_id=st.none() | st.text(min_size=1),
    agent=st.none() | st.text(min_size=1),
    trace_id=st.none() | st.text(min_size=1),
)


@given(envelopes)
def test_envelopes_survive_a_json_round_trip(env: ErrorEnvelope) -> None:
    """What is written to a state file reads back as the same envelope."""
    assert ErrorEnvelope.model_validate_json(env.model_dump_json()) == env
