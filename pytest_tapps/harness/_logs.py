"""Capturing structured records from :class:`~pytest_tapps.core.WorkflowLogger` in tests."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from pytest_tapps.core._logging import CORRELATION_FIELDS, record_fields


class _Handler(logging.Handler):
    def __init__(self, sink: list[dict[str, Any]]) -> None:
        super().__init__(level=logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record_fields(record))


class LogCapture:
    """The records logged while the capture was open, as the runbook's JSON field mappings."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"LogCapture({len(self.records)} records)"

    def find(self, message: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Records whose message (if given) and fields equal the given values."""
        return [
            record
            for record in self.records
            if (message is None or record.get("message") == message)
            and all(record.get(key) == value for key, value in fields.items())
        ]

    def messages(self, **fields: Any) -> list[str]:
        """The messages of the records matching ``fields``, in order."""
        return [record["message"] for record in self.find(**fields)]

    def assert_every_record_has(
        self,
        fields: Sequence[str] = ("workflow_id", "step_id", "agent"),
        *,
        workflow_id: str | None = None,
    ) -> None:
        """Every record (of ``workflow_id``, if given) carries each field; the failure lists the
        records that do not, as JSON lines."""
        chosen = self.find(workflow_id=workflow_id) if workflow_id else self.records
        missing = [r for r in chosen if any(r.get(name) in (None, "") for name in fields)]
        if missing:
            lines = "\n".join(
                f"  missing {[n for n in fields if r.get(n) in (None, '')]}: {json.dumps(r)}"
                for r in missing
            )
            message = f"{len(missing)} of {len(chosen)} records lack {list(fields)}:\n{lines}"
            raise AssertionError(message)

    def correlated(self, workflow_id: str) -> bool:
        """Whether every record naming a step or agent also names ``workflow_id``."""
        return all(
            record.get("workflow_id") == workflow_id
            for record in self.records
            if any(record.get(name) for name in CORRELATION_FIELDS[1:3])
        )


@contextlib.contextmanager
def capture_logs(logger: str = "tapps_agents", level: int = logging.DEBUG) -> Iterator[LogCapture]:
    """Capture every record of ``logger`` (and its children) for the block."""
    capture = LogCapture()
    handler = _Handler(capture.records)
    target = logging.getLogger(logger)
    previous = target.level
    target.addHandler(handler)
    target.setLevel(level)
    try:
        yield capture
    finally:
        target.removeHandler(handler)
        target.setLevel(previous)
