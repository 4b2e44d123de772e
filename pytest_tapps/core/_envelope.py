"""The runbook's error envelope, the classifier from exceptions to envelopes, and the runbook's
recovery advice for each error category, as data."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Category(StrEnum):
    """The six error categories of the runbook ("Check error category")."""

    CONFIGURATION = "configuration"
    EXTERNAL_DEPENDENCY = "external_dependency"
    VALIDATION = "validation"
    EXECUTION = "execution"
    PERMISSION = "permission"
    TIMEOUT = "timeout"


class ErrorEnvelope(BaseModel):
    """What a failed agent run or step execution records about its failure."""

    model_config = ConfigDict(extra="allow", frozen=True)

    code: str = Field(min_length=1)
    category: Category
    recoverable: bool
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    workflow_id: str | None = None
    step_id: str | None = None
    agent: str | None = None
    trace_id: str | None = None


#: The code the classifier gives each category when the exception names none.
DEFAULT_CODES: dict[Category, str] = {
    Category.CONFIGURATION: "config_error",
    Category.EXTERNAL_DEPENDENCY: "external_dependency_unavailable",
    Category.VALIDATION: "validation_error",
    Category.EXECUTION: "execution_error",
    Category.PERMISSION: "permission_error",
    Category.TIMEOUT: "timeout_error",
}


class StepError(Exception):
    """Raise from a step runner to fail a step with an explicit envelope.

    ``StepError("quota exceeded", category="external_dependency", recoverable=True)``.
    """

    def __init__(
        self,
        message: str,
        *,
        category: Category | str,
        recoverable: bool,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.category = Category(category)
        self.recoverable = recoverable
        self.code = code or DEFAULT_CODES[self.category]
        self.details = dict(details or {})


_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ENETRESET,
    }
)


def _named_like(exc: BaseException, *suffixes: str) -> bool:
    return any(cls.__name__.endswith(suffixes) for cls in type(exc).__mro__)


def categorize(exc: BaseException) -> tuple[Category, bool]:
    """The category of an exception and whether it is recoverable.

    Order matters: ``TimeoutError`` and ``PermissionError`` are ``OSError`` subclasses, and
    ``socket.timeout`` is ``TimeoutError``.
    """
    if isinstance(exc, StepError):
        return exc.category, exc.recoverable
    if isinstance(exc, TimeoutError):
        return Category.TIMEOUT, True
    if isinstance(exc, PermissionError):
        return Category.PERMISSION, False
    if isinstance(exc, ConnectionError | socket.gaierror | socket.herror):
        return Category.EXTERNAL_DEPENDENCY, True
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return Category.EXTERNAL_DEPENDENCY, True
    if _named_like(exc, "ConfigurationError", "ConfigError"):
        return Category.CONFIGURATION, True
    if _named_like(exc, "ValidationError") or isinstance(exc, ValueError):
        return Category.VALIDATION, False
    return Category.EXECUTION, False


def classify(
    exc: BaseException,
    *,
    workflow_id: str | None = None,
    step_id: str | None = None,
    agent: str | None = None,
    trace_id: str | None = None,
) -> ErrorEnvelope:
    """Turn an exception into an envelope with the correlation ids of where it happened."""
    category, recoverable = categorize(exc)
    if isinstance(exc, StepError):
        code, message, details = exc.code, exc.message, dict(exc.details)
    else:
        code = DEFAULT_CODES[category]
        message = str(exc) or type(exc).__name__
        details = {"exception_type": f"{type(exc).__module__}.{type(exc).__qualname__}"}
    return ErrorEnvelope(
        code=code,
        category=category,
        recoverable=recoverable,
        message=message,
        details=details,
        workflow_id=workflow_id,
        step_id=step_id,
        agent=agent,
        trace_id=trace_id,
    )


@dataclass(frozen=True)
class Advice:
    """What the runbook says to do about a category of error."""

    diagnosis: str
    recovery: tuple[str, ...]


#: The runbook's "Check error category" line and recovery procedure, per category.
ADVICE: dict[Category, Advice] = {
    Category.CONFIGURATION: Advice(
        "Fix configuration and retry",
        (
            "Fix the configuration in .tapps-agents/config.yaml",
            "Retry the step: tapps workflow resume --workflow-id <id>",
        ),
    ),
    Category.EXTERNAL_DEPENDENCY: Advice(
        "Service may be temporarily unavailable",
        (
            "Wait for the service to become available",
            "Check the service status",
            "Retry with exponential backoff (automatic in the workflow executor)",
        ),
    ),
    Category.VALIDATION: Advice(
        "Fix input parameters",
        ("Fix the input parameters of the step", "Retry the step or restart the workflow"),
    ),
    Category.EXECUTION: Advice(
        "May require code changes",
        ("Review the error message, details and logs", "Fix the underlying code, then retry"),
    ),
    Category.PERMISSION: Advice(
        "Fix file permissions",
        ("Fix the permissions of the files the step uses", "Retry the step"),
    ),
    Category.TIMEOUT: Advice(
        "Increase timeout or optimize operation",
        (
            "Increase the timeout in the workflow step metadata",
            "Optimize the operation if possible",
            "Retry the workflow step",
        ),
    ),
}

#: The runbook's procedure for any error with ``recoverable: false``.
NON_RECOVERABLE_RECOVERY: tuple[str, ...] = (
    "Review the error message and details",
    "Check the logs for the full stack trace (if available)",
    "Fix the underlying issue (code, configuration, etc.)",
    "Restart the workflow from the beginning or from the failed step",
)


def advice_for(envelope: ErrorEnvelope) -> tuple[str, ...]:
    """The recovery steps the runbook gives for this envelope."""
    if envelope.recoverable:
        return ADVICE[envelope.category].recovery
    return NON_RECOVERABLE_RECOVERY
