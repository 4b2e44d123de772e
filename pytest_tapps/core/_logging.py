"""Structured logging with the runbook's correlation fields ("Log and Trace Field Conventions").

:class:`WorkflowLogger` binds ``workflow_id``, ``step_id``, ``agent`` and ``trace_id`` to every
record it emits through the standard :mod:`logging` module. :class:`JsonFormatter` writes the
runbook's JSON lines; :class:`KeyValueFormatter` writes text with ``key=value`` pairs so that
``grep "workflow_id=workflow-123"`` finds a workflow's lines. :func:`configure_logging` picks one
from ``TAPPS_AGENTS_STRUCTURED_LOGGING``.

Extra keyword fields travel inside one record attribute (``record.tapps``), so no field name can
clash with a :class:`logging.LogRecord` attribute. A field named like one of the four base keys of
the JSON form (``timestamp``, ``level``, ``logger``, ``message``) is renamed ``extra_<name>``; a
field named like a correlation field overrides the bound value for that one record.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any, Self

from pytest_tapps.core._clock import Clock
from pytest_tapps.core._timeutil import from_epoch, to_iso

CORRELATION_FIELDS = ("workflow_id", "step_id", "agent", "trace_id")
BASE_FIELDS = ("timestamp", "level", "logger", "message")
STRUCTURED_LOGGING_ENV = "TAPPS_AGENTS_STRUCTURED_LOGGING"
DEFAULT_LOGGER_NAME = "tapps_agents.workflow"
RECORD_ATTRIBUTE = "tapps"
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})

# A library's loggers stay silent until the application configures logging (no "last resort"
# warnings on stderr); configure_logging() or the application's own handlers turn them on.
logging.getLogger("tapps_agents").addHandler(logging.NullHandler())


def structured_logging_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``TAPPS_AGENTS_STRUCTURED_LOGGING`` asks for JSON lines (true/1/yes/on)."""
    env = os.environ if environ is None else environ
    return env.get(STRUCTURED_LOGGING_ENV, "").strip().lower() in _TRUE_WORDS


@dataclass(frozen=True)
class _Payload:
    """What a :class:`WorkflowLogger` attaches to each record."""

    context: dict[str, str]
    fields: dict[str, Any] = field(default_factory=dict)
    timestamp: float | None = None


def _rename_reserved(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {(f"extra_{key}" if key in BASE_FIELDS else key): value for key, value in fields.items()}


@dataclass(frozen=True)
class WorkflowLogger:
    """A logger bound to a workflow's correlation fields.

    >>> log = WorkflowLogger("workflow-123", step_id="step-1", agent="implementer")
    >>> log.info("Step started", duration_seconds=5.2)  # doctest: +SKIP
    """

    workflow_id: str
    step_id: str | None = None
    agent: str | None = None
    trace_id: str | None = None
    logger: logging.Logger = field(
        default_factory=lambda: logging.getLogger(DEFAULT_LOGGER_NAME), compare=False
    )
    clock: Clock | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.workflow_id, str) or not self.workflow_id:
            message = f"workflow_id must be a non-empty string, got {self.workflow_id!r}"
            raise ValueError(message)

    @classmethod
    def named(cls, name: str, workflow_id: str, **context: Any) -> WorkflowLogger:
        """A workflow logger that writes through ``logging.getLogger(name)``."""
        return cls(workflow_id, logger=logging.getLogger(name), **context)

    @property
    def context(self) -> dict[str, str]:
        """The bound correlation fields that are set."""
        values = (self.workflow_id, self.step_id, self.agent, self.trace_id)
        return {k: v for k, v in zip(CORRELATION_FIELDS, values, strict=True) if v is not None}

    def with_context(self, **changes: str | None) -> Self:
        """A child logger with some correlation fields changed (``step_id="step-2"``)."""
        unknown = sorted(set(changes) - set(CORRELATION_FIELDS))
        if unknown:
            message = (
                f"with_context() takes only correlation fields {CORRELATION_FIELDS}, "
                f"got {unknown}; pass other fields to each log call instead"
            )
            raise TypeError(message)
        return replace(
            self,
            workflow_id=changes.get("workflow_id", self.workflow_id) or self.workflow_id,
            step_id=changes.get("step_id", self.step_id),
            agent=changes.get("agent", self.agent),
            trace_id=changes.get("trace_id", self.trace_id),
        )

    def log(
        self,
        level: int,
        msg: str,
        /,
        *args: object,
        exc_info: Any = None,
        stack_info: bool = False,
        **fields: Any,
    ) -> None:
        """Emit ``msg`` at ``level`` with the bound context and extra ``fields``."""
        if not self.logger.isEnabledFor(level):
            return
        context = dict(self.context)
        for name in CORRELATION_FIELDS:
            if name in fields:
                value = fields.pop(name)
                if value is None:
                    context.pop(name, None)
                else:
                    context[name] = value
        payload = _Payload(
            context=context,
            fields=_rename_reserved(fields),
            timestamp=None if self.clock is None else self.clock.time(),
        )
        self.logger.log(
            level,
            msg,
            *args,
            exc_info=exc_info,
            stack_info=stack_info,
            stacklevel=3,
            extra={RECORD_ATTRIBUTE: payload},
        )

    def debug(self, msg: str, /, *args: object, **fields: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **fields)

    def info(self, msg: str, /, *args: object, **fields: Any) -> None:
        self.log(logging.INFO, msg, *args, **fields)

    def warning(self, msg: str, /, *args: object, **fields: Any) -> None:
        self.log(logging.WARNING, msg, *args, **fields)

    def error(self, msg: str, /, *args: object, **fields: Any) -> None:
        self.log(logging.ERROR, msg, *args, **fields)

    def critical(self, msg: str, /, *args: object, **fields: Any) -> None:
        self.log(logging.CRITICAL, msg, *args, **fields)

    def exception(self, msg: str, /, *args: object, **fields: Any) -> None:
        """Log at ERROR with the exception being handled."""
        fields.setdefault("exc_info", True)
        self.log(logging.ERROR, msg, *args, **fields)


#: What every LogRecord carries (not a field a caller added with ``extra=``).
_STANDARD_ATTRIBUTES = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", None, None).__dict__,
        "message",
        "asctime",
        "taskName",
        RECORD_ATTRIBUTE,
    }
)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record as the runbook's ordered fields: base keys, correlation fields, extras."""
    payload = getattr(record, RECORD_ATTRIBUTE, None)
    created = record.created
    context: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    if isinstance(payload, _Payload):
        created = payload.timestamp if payload.timestamp is not None else created
        context, extras = payload.context, payload.fields
    else:  # another logger's record: its ``extra=`` fields are attributes of the record
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRIBUTES}
        context = {name: extras.pop(name) for name in CORRELATION_FIELDS if name in extras}
    out: dict[str, Any] = {
        "timestamp": to_iso(from_epoch(created)),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    out.update((name, context[name]) for name in CORRELATION_FIELDS if name in context)
    out.update(extras)
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per line, in the runbook's field order."""

    def format(self, record: logging.LogRecord) -> str:
        out = record_fields(record)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        import json  # here: a command that logs nothing starts without it

        return json.dumps(out, ensure_ascii=False, default=str)


def _kv_value(value: Any) -> str:
    import json  # here: a command that logs nothing starts without it

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(ch in text for ch in ' ="\n\t\\'):
        return json.dumps(text, ensure_ascii=False)
    return text


class KeyValueFormatter(logging.Formatter):
    """``TIMESTAMP LEVEL LOGGER MESSAGE key=value ...``: readable, and greppable by field."""

    def format(self, record: logging.LogRecord) -> str:
        out = record_fields(record)
        head = f"{out.pop('timestamp')} {out.pop('level')} {out.pop('logger')} {out.pop('message')}"
        pairs = " ".join(f"{key}={_kv_value(value)}" for key, value in out.items())
        text = f"{head} {pairs}" if pairs else head
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


class _TappsHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler :func:`configure_logging` installed, so a second call replaces it."""


def configure_logging(
    *,
    structured: bool | None = None,
    level: int = logging.INFO,
    stream: IO[str] | None = None,
    logger_name: str = "tapps_agents",
) -> logging.Handler:
    """Send ``logger_name``'s records to ``stream`` (default stderr) as JSON or key=value text.

    ``structured=None`` reads ``TAPPS_AGENTS_STRUCTURED_LOGGING``. The level is set too, so that
    INFO records show (turning structured logging on must not hide everything). Calling it again
    replaces the handler it installed before.
    """
    if structured is None:
        structured = structured_logging_enabled()
    target = logging.getLogger(logger_name)
    for old in [h for h in target.handlers if isinstance(h, _TappsHandler)]:
        target.removeHandler(old)
    handler = _TappsHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if structured else KeyValueFormatter())
    target.addHandler(handler)
    target.setLevel(level)
    return handler
