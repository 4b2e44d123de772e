"""Tests for pytest_tapps.core._store: reading errors, atomic writes, backups."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_tapps.core import (
    Layout,
    StateFileError,
    StateStore,
    VirtualClock,
    WorkflowNotFoundError,
    WorkflowState,
)
from pytest_tapps.core._fsutil import create_exclusive, is_temp_name, write_atomic
from tests.helpers import execution, state, write_current, write_json


def _snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty (a write was interrupted?)"),
        (b"   \n", "file is empty (a write was interrupted?)"),
        (
            b'{"workflow_id": "wf", "sta',
            "not valid JSON: Unterminated string starting at line 1 column 23 (truncated?)",
        ),
        (
            b'{"workflow_id": "wf",',
            "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 22 (truncated?)",
        ),
        (b"[1, 2]", "top-level JSON value is list, expected an object"),
        (b"\xff\xfe{}", "not UTF-8 text (bad byte at offset 0)"),
        (b'{"workflow_id": "wf"}', "invalid workflow state: status: Field required"),
        (
            b'{"workflow_id": "wf", "status": "stuck"}',
            "invalid workflow state: status: Input should be 'running', 'paused', 'completed' or 'failed'",
        ),
    ],
)
def test_unreadable_state_names_file_and_reason_and_is_kept(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    """A corrupt or truncated state gives one clear error and the file stays byte-identical."""
    path = Layout(tmp_path).current_state_file
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    before = _snapshot(path)
    with pytest.raises(StateFileError) as info:
        StateStore(Layout(tmp_path)).load()
    assert info.value.path == path
    assert info.value.reason == reason
    assert str(info.value) == f"{path}: {reason}"
    assert _snapshot(path) == before


def test_a_workflow_that_may_be_in_a_corrupt_file_names_that_file(tmp_path: Path) -> None:
    """Asking for a workflow no readable file holds, with a corrupt file present, blames the
    corrupt file (exit 1), not a missing workflow; the file is left as it was."""
    path = Layout(tmp_path).current_state_file
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"workflow_id": "workflow-123", "sta')
    before = _snapshot(path)
    with pytest.raises(StateFileError) as info:
        StateStore(Layout(tmp_path)).locate("workflow-123")
    assert info.value.path == path
    assert info.value.exit_code == 1
    assert "no readable state holds workflow id 'workflow-123', so it may be in this file" in (
        info.value.reason
    )
    assert _snapshot(path) == before


def test_missing_workflow_is_reported_with_the_folder(tmp_path: Path) -> None:
    """Asking for an id that has no file says which id and where it looked."""
    write_current(tmp_path, state("workflow-1"))
    with pytest.raises(WorkflowNotFoundError, match=r"no workflow state for workflow id 'nope' in"):
        StateStore(Layout(tmp_path)).load("nope")


def test_load_finds_current_and_history_workflows(tmp_path: Path) -> None:
    """The current workflow lives in current_state.json, the others in history/<id>.json."""
    layout = Layout(tmp_path)
    write_current(tmp_path, state("wf-current", "running"))
    write_json(layout.history_file("wf-old"), state("wf-old", "failed"))
    store = StateStore(layout)
    assert store.load().workflow_id == "wf-current"
    assert store.load("wf-old").status == "failed"
    assert store.locate("wf-old") == layout.history_file("wf-old")


def test_current_state_wins_over_a_stale_history_copy(tmp_path: Path) -> None:
    """A workflow in both files is listed once, from current_state.json."""
    layout = Layout(tmp_path)
    write_current(tmp_path, state("wf", "completed"))
    write_json(layout.history_file("wf"), state("wf", "running"))
    listed = list(StateStore(layout).iter_states())
    assert [(p, s.status) for p, s in listed if isinstance(s, WorkflowState)] == [
        (layout.current_state_file, "completed")
    ]


def test_save_round_trips_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """A saved state loads back equal, and the folder holds only the state file."""
    store = StateStore(Layout(tmp_path))
    original = WorkflowState.model_validate(state("wf", "running", execution("s1", "running")))
    path = store.save(original)
    assert store.read(path) == original
    assert sorted(p.name for p in path.parent.iterdir()) == ["current_state.json"]


def test_save_puts_other_workflows_in_history(tmp_path: Path) -> None:
    """Saving a second workflow never overwrites the current one."""
    store = StateStore(Layout(tmp_path))
    store.save(WorkflowState.model_validate(state("wf-a")))
    path = store.save(WorkflowState.model_validate(state("wf-b")))
    assert path == Layout(tmp_path).history_file("wf-b")
    assert store.load().workflow_id == "wf-a"


def test_save_never_overwrites_a_corrupt_current_state(tmp_path: Path) -> None:
    """A corrupt current_state.json is kept; the new state goes to history."""
    layout = Layout(tmp_path)
    current = layout.current_state_file
    assert current is not None
    current.parent.mkdir(parents=True)
    current.write_text('{"workflow_id": "wf", "sta')
    path = StateStore(layout).save(WorkflowState.model_validate(state("wf")))
    assert path == layout.history_file("wf")
    assert current.read_text() == '{"workflow_id": "wf", "sta'


def test_backup_copies_exact_bytes_with_a_timestamped_name(tmp_path: Path) -> None:
    """Backups keep the file's bytes (even unparsable ones) under a UTC-stamped name."""
    layout = Layout(tmp_path)
    path = write_current(tmp_path, state("wf"))
    clock = VirtualClock()
    store = StateStore(layout, clock=clock)
    first = store.backup(path)
    second = store.backup(path)
    assert first.name == "current_state.20260115T103000.000000Z.json"
    assert second.name == "current_state.20260115T103000.000000Z-1.json"
    assert first.read_bytes() == path.read_bytes() == second.read_bytes()
    assert first.parent == layout.backups_dir


def test_create_exclusive_refuses_an_existing_file(tmp_path: Path) -> None:
    """Exclusive creation writes once and never replaces what is there."""
    target = tmp_path / "lock"
    assert create_exclusive(target, b"first")
    assert not create_exclusive(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["lock"]


def test_temp_leftovers_are_ignored_by_readers(tmp_path: Path) -> None:
    """A hidden temp file left by a killed writer is not mistaken for a state."""
    layout = Layout(tmp_path)
    write_json(layout.history_file("wf"), state("wf"))
    leftover = layout.history_dir / ".wf.json.1234.abcd.tmp"
    leftover.write_text('{"workflow_id": "wf", "sta')
    assert is_temp_name(leftover.name)
    listed = [s for _, s in StateStore(layout).iter_states()]
    assert [s.workflow_id for s in listed if isinstance(s, WorkflowState)] == ["wf"]
    assert not any(isinstance(s, StateFileError) for s in listed)


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pytest_tapps.core import Layout, StateStore, WorkflowState, write_atomic
    from pytest_tapps.core._store import dump_json

    store = StateStore(Layout(Path(sys.argv[1])))
    steps = [
        {"step_id": f"step-{i}", "agent": "a" * 300, "status": "completed"} for i in range(2500)
    ]
    versions = [
        WorkflowState.model_validate(
            {"workflow_id": "wf", "status": "running", "current_step": f"v{n}",
             "step_executions": steps}
        )
        for n in (0, 1)
    ]
    path = store.save(versions[0])
    encoded = [dump_json(version.to_json_dict()) for version in versions]
    print("ready", flush=True)
    n = 1
    while True:  # the same writes store.save does, minus the encoding, so kills land mid-write
        write_atomic(path, encoded[n % 2])
        n += 1
    """
)


def test_killing_a_writer_mid_write_leaves_old_or_new_state(tmp_path: Path) -> None:
    """SIGKILL at any moment of a save leaves a whole state file, never a partial one."""
    layout = Layout(tmp_path)
    store = StateStore(layout)
    saw_temp_leftover = False
    for round_number in range(10):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.01 + 0.007 * round_number)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        loaded = store.load()
        assert loaded.current_step in {"v0", "v1"}
        assert len(loaded.step_executions) == 2500
        leftovers = [p for p in layout.state_dir.iterdir() if is_temp_name(p.name)]
        saw_temp_leftover = saw_temp_leftover or bool(leftovers)
        for leftover in leftovers:
            leftover.unlink()
    # The kills really landed inside writes: some left the writer's temp file behind.
    assert saw_temp_leftover


def test_write_atomic_replaces_content_whole(tmp_path: Path) -> None:
    """write_atomic makes folders as needed and replaces the old bytes entirely."""
    target = tmp_path / "a" / "b.json"
    write_atomic(target, b'{"long": "' + b"x" * 1000 + b'"}')
    write_atomic(target, b"{}")
    assert json.loads(target.read_bytes()) == {}
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_saved_files_use_the_project_json_form(tmp_path: Path) -> None:
    """State files are 2-space indented UTF-8 JSON with a trailing newline (non-ASCII kept)."""
    from pytest_tapps.core._store import dump_json

    original = WorkflowState.model_validate(state("wf-é", "running", execution("s", "running")))
    path = StateStore(Layout(tmp_path)).save(original)
    assert path.read_bytes() == dump_json(original.to_json_dict())
    assert "wf-é" in path.read_text(encoding="utf-8")


def test_pending_placeholder_numbered_zero_is_read(tmp_path: Path) -> None:
    """Another writer's ``pending`` entry with ``attempt: 0`` loads; it counts no attempt."""
    write_current(
        tmp_path,
        state("wf", "paused", execution("a"), execution("b", "pending", attempt=0)),
    )
    loaded = StateStore(Layout(tmp_path)).load("wf")
    assert [(ex.step_id, ex.attempt) for ex in loaded.step_executions] == [("a", 1), ("b", 0)]
    assert (loaded.attempts("b"), loaded.next_attempt("b")) == (0, 1)


def test_a_damaged_newest_real_save_is_not_passed_over_for_an_older_one(tmp_path: Path) -> None:
    """The real package's newest save of a workflow cannot be read, an older one can: the
    older would be out of date, so loading names the newest and how to mend it. Its history
    copy (the same save) stands in for it; this tool's own file is never out of date."""
    from pytest_tapps.core._errors import StateFileError
    from pytest_tapps.core._layout import TAPPS_AGENTS_3_7

    layout = Layout(tmp_path, TAPPS_AGENTS_3_7)
    older = layout.state_dir / "wf-20260101-100000.json"
    newest = layout.state_dir / "wf-20260102-100000.json"
    older.parent.mkdir(parents=True)
    older.write_text(
        json.dumps({"workflow_id": "wf", "status": "completed", "step_executions": []})
    )
    newest.write_text('{"workflow_id": "wf", "status": "runn')
    os.utime(older, (time.time() - 60,) * 2)
    with pytest.raises(StateFileError) as refused:
        StateStore(layout).load("wf")
    assert refused.value.path == newest
    assert f"the readable older one ({older}) may be out of date: restore this file" in str(
        refused.value
    )
    older.unlink()
    copy = layout.history_dir / newest.name
    copy.parent.mkdir()
    copy.write_text(json.dumps({"workflow_id": "wf", "status": "running", "step_executions": []}))
    assert StateStore(layout).locate("wf") == copy
