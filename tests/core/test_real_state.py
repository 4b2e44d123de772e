"""Tests for pytest_tapps.core._real_state: reading the real tapps-agents 3.x state files."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_tapps.core import (
    Category,
    Layout,
    StateFileError,
    StateStore,
    StepStatus,
    WorkflowState,
)
from tests.helpers import write_json


def real_checksum(data: dict[str, Any]) -> str:
    """The real package's AdvancedStateManager checksum, written out independently."""
    stable = {
        "workflow_id": data["workflow_id"],
        "current_step": data.get("current_step"),
        "completed_steps": sorted(data.get("completed_steps", [])),
        "skipped_steps": sorted(data.get("skipped_steps", [])),
        "status": data["status"],
        "variables": data.get("variables", {}),
    }
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()


def default_writer_state(**changes: Any) -> dict[str, Any]:
    """What AdvancedStateManager writes: step lists, no executions, naive local times."""
    data: dict[str, Any] = {
        "workflow_id": "full-sdlc-20260115-103000",
        "started_at": "2026-01-15T10:30:00.123456",
        "current_step": "implement",
        "completed_steps": ["plan", "design"],
        "skipped_steps": ["docs"],
        "artifacts": {},
        "variables": {"target": "api"},
        "status": "failed",
        "error": "Step implement timed out. This error may be recoverable.",
    }
    data.update(changes)
    data["_checksum"] = real_checksum(data)
    return data


def write_default_writer_files(state_dir: Path, data: dict[str, Any]) -> Path:
    """The state file, its .meta.json pointer and last.json, as the real package lays them."""
    name = f"{data['workflow_id']}-20260115-103512.json"
    path = write_json(state_dir / name, data)
    write_json(
        state_dir / f"{data['workflow_id']}.meta.json",
        {"version": "2.0", "workflow_id": data["workflow_id"], "state_file": name},
    )
    write_json(
        state_dir / "last.json",
        {"workflow_id": data["workflow_id"], "state_file": str(path), "version": "2.0"},
    )
    return path


def test_default_writer_state_is_read_through_last_json(tmp_path: Path) -> None:
    """last.json leads to the newest save; steps are rebuilt from the step lists."""
    layout = Layout(tmp_path)
    write_default_writer_files(layout.state_dir, default_writer_state())
    state = StateStore(layout).load()
    assert state.workflow_id == "full-sdlc-20260115-103000"
    latest = state.latest()
    assert {k: v.status for k, v in latest.items()} == {
        "plan": StepStatus.COMPLETED,
        "design": StepStatus.COMPLETED,
        "docs": StepStatus.SKIPPED,
        "implement": StepStatus.FAILED,
    }
    error = latest["implement"].error
    assert error is not None
    assert (error.category, error.recoverable) == (Category.TIMEOUT, True)
    assert error.details["inferred"] is True
    assert state.model_extra == {"source_format": "tapps-agents-3.7"}


def test_naive_local_timestamps_become_utc(tmp_path: Path) -> None:
    """The real package writes naive local time; it is read as local and stored as UTC."""
    layout = Layout(tmp_path)
    write_default_writer_files(layout.state_dir, default_writer_state())
    state = StateStore(layout).load()
    expected = datetime.fromisoformat("2026-01-15T10:30:00.123456").astimezone()
    assert state.started_at == expected


def test_checksum_mismatch_is_reported_and_file_kept(tmp_path: Path) -> None:
    """A hand-edited state (checksum no longer matches) is refused, not silently trusted."""
    layout = Layout(tmp_path)
    data = default_writer_state()
    data["status"] = "running"  # edited after the checksum was computed
    path = write_default_writer_files(layout.state_dir, data)
    before = path.read_bytes()
    with pytest.raises(StateFileError) as info:
        StateStore(layout).load()
    assert info.value.reason == "checksum mismatch: the file was edited by hand or is damaged"
    assert path.read_bytes() == before


def test_older_checksum_form_with_nested_variables_is_accepted(tmp_path: Path) -> None:
    """Older releases hashed variables as a JSON string; their files still load."""
    data = default_writer_state()
    stable = {
        "workflow_id": data["workflow_id"],
        "current_step": data["current_step"],
        "completed_steps": sorted(data["completed_steps"]),
        "skipped_steps": sorted(data["skipped_steps"]),
        "status": data["status"],
        "variables": json.dumps(data["variables"], sort_keys=True),
    }
    data["_checksum"] = hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()
    layout = Layout(tmp_path)
    write_default_writer_files(layout.state_dir, data)
    assert StateStore(layout).load().status == "failed"


def test_executor_state_with_string_errors_and_retries(tmp_path: Path) -> None:
    """workflow-<id>.json entries: plain-string errors become inferred envelopes, retries
    become attempt numbers."""
    layout = Layout(tmp_path)
    entry = {
        "agent": "implementer",
        "action": "generate-code",
        "started_at": "2026-01-15T10:30:00",
        "completed_at": "2026-01-15T10:35:00",
        "duration_seconds": 300.0,
    }
    write_json(
        layout.state_dir / "workflow-wf-9.json",
        {
            "workflow_id": "wf-9",
            "started_at": "2026-01-15T10:30:00",
            "current_step": "build",
            "completed_steps": [],
            "skipped_steps": [],
            "artifacts": {},
            "variables": {},
            "status": "failed",
            "error": None,
            "step_executions": [
                {**entry, "step_id": "build", "status": "failed", "error": "Connection refused"},
                {**entry, "step_id": "build", "status": "failed", "error": "Permission denied: /x"},
            ],
        },
    )
    state = StateStore(layout).load("wf-9")
    assert [ex.attempt for ex in state.step_executions] == [1, 2]
    assert state.attempts("build") == 2
    categories = [ex.error.category for ex in state.step_executions if ex.error]
    assert categories == [Category.EXTERNAL_DEPENDENCY, Category.PERMISSION]
    last_error = state.failed()[0].error
    assert last_error is not None
    assert last_error.recoverable is False


def test_compressed_state_files_are_read(tmp_path: Path) -> None:
    """state_persistence.compression writes .json.gz files; they load like plain ones."""
    layout = Layout(tmp_path)
    data = default_writer_state(status="completed", error=None, current_step=None)
    layout.state_dir.mkdir(parents=True)
    name = f"{data['workflow_id']}-20260115-103512.json.gz"
    (layout.state_dir / name).write_bytes(gzip.compress(json.dumps(data).encode()))
    (layout.state_dir / "broken-20260115-103512.json.gz").write_bytes(b"not gzip")
    results = dict(StateStore(layout).iter_states())
    good = results[layout.state_dir / name]
    assert isinstance(good, WorkflowState)
    assert good.status == "completed"
    bad = results[layout.state_dir / "broken-20260115-103512.json.gz"]
    assert isinstance(bad, StateFileError)
    assert bad.reason.startswith("not a valid gzip file")


def test_pointer_and_plan_files_are_not_taken_for_states(tmp_path: Path) -> None:
    """meta, last and execution-plan files sit beside states but are not states."""
    layout = Layout(tmp_path)
    write_default_writer_files(layout.state_dir, default_writer_state())
    write_json(layout.state_dir / "full-sdlc-execution-plan.json", {"schema_version": "2.0"})
    paths = [path.name for path, _ in StateStore(layout).iter_states()]
    assert paths == ["full-sdlc-20260115-103000-20260115-103512.json"]


def test_newest_save_of_a_workflow_wins(tmp_path: Path) -> None:
    """Of several timestamped saves, the one the meta pointer names is the workflow's state."""
    layout = Layout(tmp_path)
    old = default_writer_state(status="running", error=None)
    write_json(layout.state_dir / "full-sdlc-20260115-103000-20260115-103100.json", old)
    write_default_writer_files(layout.state_dir, default_writer_state())
    states = [s for _, s in StateStore(layout).iter_states() if isinstance(s, WorkflowState)]
    assert [s.status for s in states] == ["failed"]
