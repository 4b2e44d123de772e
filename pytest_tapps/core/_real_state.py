"""Reading the workflow state files of the real tapps-agents 3.x package.

That package writes ``workflow-state/<workflow_id>-<YYYYmmdd-HHMMSS>.json`` (with a ``_checksum``
and a ``<workflow_id>.meta.json`` pointer, plus ``last.json``), or ``workflow-<id>.json`` /
``<id>.json`` with ``step_executions``. Its timestamps are naive local time, its errors plain
strings. This module turns such a file into the runbook-form :class:`WorkflowState`; what it has
to infer is marked ``"inferred": true`` in the step's envelope details and listed in
``docs/state-formats.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pytest_tapps.core._envelope import DEFAULT_CODES, Category, ErrorEnvelope
from pytest_tapps.core._errors import StateFileError
from pytest_tapps.core._fsutil import is_temp_name
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._state import StepExecution, StepStatus, WorkflowState
from pytest_tapps.core._store import describe_validation_error, read_json_object
from pytest_tapps.core._timeutil import parse_iso

SOURCE_FORMAT = "tapps-agents-3.7"
_REAL_KEYS = frozenset({"_checksum", "completed_steps", "skipped_steps", "artifacts", "variables"})
_NOT_STATE = re.compile(
    r"(^last\.json$|\.meta\.json$|-execution-plan\.json$|^current_state\.json$)"
)
_RECOVERABLE_PHRASE = "may be recoverable"
_KEYWORDS: tuple[tuple[Category, tuple[str, ...]], ...] = (
    (Category.TIMEOUT, ("timed out", "timeout")),
    (Category.PERMISSION, ("permission denied", "permission", "access denied")),
    (Category.EXTERNAL_DEPENDENCY, ("connection", "unavailable", "network", "context7")),
    (Category.CONFIGURATION, ("config",)),
    (Category.VALIDATION, ("validation", "invalid", "not found")),
)


def looks_real(data: dict[str, Any]) -> bool:
    """Whether a state object is in the real package's form rather than the runbook's."""
    if _REAL_KEYS & data.keys() or isinstance(data.get("error"), str):
        return True
    executions = data.get("step_executions")
    return isinstance(executions, list) and any(
        isinstance(ex, dict) and isinstance(ex.get("error"), str) for ex in executions
    )


def _digest(data: dict[str, Any], variables: Any) -> str:
    stable = {
        "workflow_id": data.get("workflow_id"),
        "current_step": data.get("current_step"),
        "completed_steps": sorted(data.get("completed_steps", [])),
        "skipped_steps": sorted(data.get("skipped_steps", [])),
        "status": data.get("status"),
        "variables": variables,
    }
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()


def checksum(data: dict[str, Any]) -> str:
    """The ``_checksum`` the current real package writes for ``data`` (for writers and tests)."""
    return _digest(data, data.get("variables", {}))


def _checksums(data: dict[str, Any]) -> set[str]:
    """The checksums of the real package's two known versions (older ones nested variables as
    a JSON string)."""
    variables = data.get("variables", {})
    return {_digest(data, variables), _digest(data, json.dumps(variables, sort_keys=True))}


def infer_category(message: str) -> Category:
    """A best guess at the category of a plain-string error, from its words."""
    lowered = message.lower()
    for category, words in _KEYWORDS:
        if any(word in lowered for word in words):
            return category
    return Category.EXECUTION


def envelope_from_string(
    message: str, *, workflow_id: str, step_id: str | None, agent: str | None
) -> ErrorEnvelope:
    """An envelope inferred from the plain-string ``error`` the real package records."""
    category = infer_category(message)
    return ErrorEnvelope(
        code=DEFAULT_CODES[category],
        category=category,
        recoverable=_RECOVERABLE_PHRASE in message.lower(),
        message=message,
        details={"inferred": True, "source_format": SOURCE_FORMAT},
        workflow_id=workflow_id,
        step_id=step_id,
        agent=agent,
    )


def _local(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return parse_iso(str(value), naive_is_local=True)


def _executions(data: dict[str, Any], workflow_id: str) -> list[StepExecution]:
    raw = data.get("step_executions")
    if isinstance(raw, list):
        out: list[StepExecution] = []
        tries: dict[str, int] = {}
        for entry in raw:
            step_id = str(entry["step_id"])
            tries[step_id] = tries.get(step_id, 0) + 1  # every retry appends an entry
            error = entry.get("error")
            envelope = None
            if isinstance(error, str) and error:
                envelope = envelope_from_string(
                    error, workflow_id=workflow_id, step_id=step_id, agent=entry.get("agent")
                )
            elif isinstance(error, dict):
                envelope = ErrorEnvelope.model_validate(error)
            out.append(
                StepExecution(
                    step_id=step_id,
                    agent=entry.get("agent"),
                    action=entry.get("action"),
                    status=StepStatus(entry.get("status", "running")),
                    attempt=tries[step_id],
                    started_at=_local(entry.get("started_at")),
                    completed_at=_local(entry.get("completed_at")),
                    duration_seconds=entry.get("duration_seconds"),
                    error=envelope,
                )
            )
        return out
    # The default writer keeps no executions: rebuild one per step from the step lists.
    inferred = [
        StepExecution(step_id=str(step), status=StepStatus.COMPLETED, inferred=True)
        for step in data.get("completed_steps", [])
    ]
    inferred += [
        StepExecution(step_id=str(step), status=StepStatus.SKIPPED, inferred=True)
        for step in data.get("skipped_steps", [])
    ]
    current = data.get("current_step")
    status = data.get("status")
    if (
        current
        and current not in {ex.step_id for ex in inferred}
        and status in ("running", "failed")
    ):
        error = data.get("error")
        envelope = None
        if status == "failed":
            envelope = envelope_from_string(
                str(error or "workflow failed"),
                workflow_id=workflow_id,
                step_id=current,
                agent=None,
            )
        inferred.append(
            StepExecution(
                step_id=str(current), status=StepStatus(status), error=envelope, inferred=True
            )
        )
    return inferred


def to_runbook_state(path: Path, data: dict[str, Any]) -> WorkflowState:
    """Convert a real-package state object read from ``path``; errors name the file."""
    try:
        claimed = data.get("_checksum")
        if claimed is not None and claimed not in _checksums(data):
            reason = "checksum mismatch: the file was edited by hand or is damaged"
            raise StateFileError(path, reason)
        workflow_id = str(data["workflow_id"])
        return WorkflowState(
            workflow_id=workflow_id,
            status=data["status"],
            current_step=data.get("current_step"),
            started_at=_local(data.get("started_at")),
            step_executions=_executions(data, workflow_id),
            source_format=SOURCE_FORMAT,
        )
    except KeyError as exc:
        raise StateFileError(path, f"missing required field {exc.args[0]!r}") from None
    except ValidationError as exc:
        reason = f"invalid tapps-agents state: {describe_validation_error(exc)}"
        raise StateFileError(path, reason) from None
    except ValueError as exc:
        raise StateFileError(path, f"invalid tapps-agents state: {exc}") from None
    except (TypeError, AttributeError) as exc:  # a field of another shape: ["x"], 5, [1, "a"]
        reason = f"invalid tapps-agents state: a field has the wrong type ({exc})"
        raise StateFileError(path, reason) from None


def saved_state_file(layout: Layout, workflow_id: str) -> Path | None:
    """The state file ``<workflow_id>.meta.json`` points at, if it names one that exists."""
    meta = layout.state_dir / f"{workflow_id}.meta.json"
    try:
        name = read_json_object(meta).get("state_file")
    except StateFileError:
        return None
    if isinstance(name, str) and name:
        candidate = layout.state_dir / Path(name).name  # never a path out of the folder
        if candidate.is_file():
            return candidate
    return None


def _pointed_files(layout: Layout) -> list[Path]:
    """State files named by ``*.meta.json`` pointers (the default writer's newest saves)."""
    pointed = []
    for meta in sorted(layout.state_dir.glob("*.meta.json")):
        found = saved_state_file(layout, meta.name.removesuffix(".meta.json"))
        if found is not None:
            pointed.append(found)
    return pointed


def state_files(layout: Layout) -> Iterator[Path]:
    """Real-package state files, the newest save of each workflow first."""
    if not layout.state_dir.is_dir():
        return
    pointed = _pointed_files(layout)
    others = [
        path
        for path in layout.state_dir.iterdir()
        if path.name.endswith((".json", ".json.gz"))
        and not _NOT_STATE.search(path.name)
        and not is_temp_name(path.name)
        and path.is_file()
        and path not in pointed
    ]
    others.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    yield from pointed
    yield from others


def newest_state_file(layout: Layout) -> Path | None:
    """The state file ``last.json`` points at, else the newest real-package state file."""
    last = layout.state_dir / "last.json"
    if last.is_file():
        try:
            name = read_json_object(last).get("state_file")
        except StateFileError:
            name = None
        if isinstance(name, str) and name:
            candidate = layout.state_dir / Path(name).name
            if candidate.is_file():
                return candidate
    return next(state_files(layout), None)


# -- writing (for fabricating real-looking trees: the harness's ``tapps-agents-3.7`` layout) ----

#: The state format version the real package's ``AdvancedStateManager`` writes.
STATE_VERSION = "2.0"


def _naive_local(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone().replace(tzinfo=None).isoformat()


def real_state_document(state: WorkflowState) -> dict[str, Any]:
    """``state`` as the real package's default writer stores it: step lists instead of
    executions (it keeps none), naive local timestamps, a plain-string error, a ``_checksum``."""
    final: dict[str, StepExecution] = {}
    for execution in state.step_executions:
        final[execution.step_id] = execution  # the last attempt of each step decides
    failed = [ex for ex in final.values() if ex.status is StepStatus.FAILED]
    error = state.error or (failed[0].error if failed else None)
    data: dict[str, Any] = {
        "workflow_id": state.workflow_id,
        "started_at": _naive_local(state.started_at or state.updated_at),
        "current_step": state.current_step,
        "completed_steps": [s for s, ex in final.items() if ex.status is StepStatus.COMPLETED],
        "skipped_steps": [s for s, ex in final.items() if ex.status is StepStatus.SKIPPED],
        "artifacts": {},
        "variables": {},
        "status": state.status.value,
        "error": None if error is None else error.message,
    }
    data["_checksum"] = checksum(data)
    return data


def save_real_state(
    layout: Layout, state: WorkflowState, *, now: datetime, point_last: bool = True
) -> Path:
    """Write ``state`` as the real package's ``AdvancedStateManager.save_state`` does: the
    timestamped state file, its history copy, the ``<id>.meta.json`` pointer and (when
    ``point_last``) ``last.json``. ``now`` is the save time (aware). Returns the state file."""
    from pytest_tapps.core._fsutil import write_atomic

    local_now = now.astimezone().replace(tzinfo=None)
    data = real_state_document(state)
    name = f"{state.workflow_id}-{local_now.strftime('%Y%m%d-%H%M%S')}.json"
    path = layout.state_dir / name
    body = json.dumps(data, indent=2).encode()
    write_atomic(path, body)
    write_atomic(layout.history_dir / name, body)
    meta_path = layout.state_dir / f"{state.workflow_id}.meta.json"
    meta = {
        "version": STATE_VERSION,
        "saved_at": local_now.isoformat(),
        "checksum": data["_checksum"],
        "workflow_id": state.workflow_id,
        "state_file": name,
        "workflow_path": None,
        "compression": False,
        "current_step": state.current_step,
        "completed_steps_count": len(data["completed_steps"]),
        "progress_percentage": 0.0,
        "trigger_step_id": None,
    }
    write_atomic(meta_path, json.dumps(meta, indent=2).encode())
    if point_last:
        last = {
            "workflow_id": state.workflow_id,
            "state_file": str(path),
            "metadata_file": str(meta_path),
            "saved_at": local_now.isoformat(),
            "version": STATE_VERSION,
            "workflow_path": None,
        }
        write_atomic(layout.state_dir / "last.json", json.dumps(last, indent=2).encode())
    return path
