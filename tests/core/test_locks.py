"""Tests for pytest_tapps.core._locks with real lock files and real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core import (
    Layout,
    LockHeldError,
    LockInspection,
    LockLostError,
    VirtualClock,
    WorkflowLock,
    break_stale_lock,
    inspect_lock,
    is_stale,
    list_locks,
    pid_alive,
)
from pytest_tapps.core._clock import utcnow
from pytest_tapps.core._timeutil import to_iso
from pytest_tapps.harness import spawn_lock_holder
from tests.helpers import dead_pid, live_lock


@pytest.fixture
def live_holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A real child process holding the lock of workflow 'wf' until the test ends."""
    with live_lock(tmp_path, "wf") as child:
        yield child


def test_acquire_writes_the_runbook_lock_record(tmp_path: Path) -> None:
    """The lock file holds pid, host, UTC Z timestamps and the TTL."""
    clock = VirtualClock()
    with WorkflowLock(Layout(tmp_path), "wf", ttl_seconds=120, clock=clock) as lock:
        data = json.loads(lock.path.read_text())
        assert lock.path == tmp_path / ".tapps-agents" / "workflow-state" / "wf.lock"
        assert data["pid"] == os.getpid()
        assert data["host"] == socket.gethostname()
        assert data["created_at"] == data["heartbeat_at"] == "2026-01-15T10:30:00Z"
        assert data["ttl_seconds"] == 120
        assert data["workflow_id"] == lock.workflow_id == "wf"
        assert isinstance(data["token"], str)
        assert data["token"]  # tells this holder's lock from a successor's
        assert sorted(data) == [
            "created_at",
            "heartbeat_at",
            "host",
            "pid",
            "token",
            "ttl_seconds",
            "workflow_id",
        ]
    assert not lock.path.exists()


def test_a_held_lock_refuses_a_second_holder_naming_the_first(tmp_path: Path) -> None:
    """Acquiring a live lock fails with the holder's pid and host in the message."""
    layout = Layout(tmp_path)
    with WorkflowLock(layout, "wf"), pytest.raises(LockHeldError) as info:
        WorkflowLock(layout, "wf", break_stale=True).acquire()
    assert f"pid {os.getpid()} on {socket.gethostname()}" in str(info.value)
    assert "(running, heartbeat" in str(info.value)


def test_live_child_lock_is_not_stale_and_never_broken(
    tmp_path: Path, live_holder: subprocess.Popen[str]
) -> None:
    """A lock held by a running process is reported held and survives break attempts."""
    path = Layout(tmp_path).lock_file("wf")
    inspection = inspect_lock(path)
    assert not inspection.stale
    assert not is_stale(path)
    assert inspection.holder_alive is True
    assert inspection.record is not None
    assert inspection.record.pid == live_holder.pid
    listing = sorted(p.name for p in path.parent.iterdir())
    assert break_stale_lock(path) is None
    assert (
        sorted(p.name for p in path.parent.iterdir()) == listing
    )  # a refusal leaves no file behind
    assert path.exists()
    with pytest.raises(LockHeldError):
        WorkflowLock(Layout(tmp_path), "wf", break_stale=True).acquire()


def test_breaking_a_stale_lock_leaves_no_other_file(
    tmp_path: Path, live_holder: subprocess.Popen[str]
) -> None:
    """break_stale_lock removes the dead holder's lock and leaves nothing else behind."""
    live_holder.send_signal(signal.SIGKILL)
    live_holder.wait()
    path = Layout(tmp_path).lock_file("wf")
    assert break_stale_lock(path) is not None
    assert list(path.parent.iterdir()) == []


def test_lock_of_a_killed_holder_is_stale_and_broken_with_reason(
    tmp_path: Path, live_holder: subprocess.Popen[str]
) -> None:
    """Once its holder is killed, the lock is stale, removable, and the reason says so."""
    layout = Layout(tmp_path)
    live_holder.send_signal(signal.SIGKILL)
    live_holder.wait()
    path = layout.lock_file("wf")
    inspection = inspect_lock(path)
    assert inspection.stale
    assert is_stale(path)
    assert inspection.holder_alive is False
    assert inspection.reason.startswith(
        f"holder pid {live_holder.pid} on {socket.gethostname()} is not running"
    )
    lock = WorkflowLock(layout, "wf", break_stale=True).acquire()
    assert lock.broken is not None
    assert lock.broken.record is not None
    assert lock.broken.record.pid == live_holder.pid
    lock.release()


def test_an_unreaped_zombie_counts_as_dead() -> None:
    """A killed child not yet waited for is a zombie: its pid exists but it holds nothing."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        child.send_signal(signal.SIGKILL)
        for _ in range(500):  # the kernel needs a moment to turn it into a zombie
            if not pid_alive(child.pid):
                break
            time.sleep(0.01)
        assert not pid_alive(child.pid)
        assert Path(f"/proc/{child.pid}").exists()  # still there, as a zombie
    finally:
        child.wait()


def test_heartbeat_older_than_ttl_is_stale_even_if_holder_lives(tmp_path: Path) -> None:
    """An alive holder that stopped heartbeating past its TTL no longer owns the lock."""
    clock = VirtualClock()
    layout = Layout(tmp_path)
    lock = WorkflowLock(layout, "wf", ttl_seconds=300, clock=clock).acquire()
    clock.advance(300)
    assert not inspect_lock(lock.path, clock=clock).stale  # exactly the TTL: still held
    clock.advance(1)
    inspection = inspect_lock(lock.path, clock=clock)
    assert inspection.stale
    assert inspection.expired_but_running
    assert inspection.reason == (
        f"heartbeat of pid {os.getpid()} on {socket.gethostname()} is 5m 1s old, "
        f"older than its TTL of 5m 0s; pid {os.getpid()} still runs on this host"
    )
    assert inspection.hung_holder_advice == (
        f"pid {os.getpid()} may be a hung executor (or another process that took over the "
        "pid): if it is an executor, stop it before you resume"
    )


def test_live_holder_is_named_once_when_the_lock_is_refused(
    tmp_path: Path, live_holder: subprocess.Popen[str]
) -> None:
    """LockHeldError names the live holder and its evidence once, not nested in itself."""
    with pytest.raises(LockHeldError) as info:
        WorkflowLock(Layout(tmp_path), "wf", break_stale=True).acquire()
    message = str(info.value)
    assert message.startswith(
        f"{Layout(tmp_path).lock_file('wf')}: workflow is locked by pid {live_holder.pid} on "
        f"{socket.gethostname()} (running, heartbeat "
    )
    assert message.count(f"pid {live_holder.pid}") == 1
    assert message.count("(") == 1


def test_heartbeat_keeps_a_lock_fresh(tmp_path: Path) -> None:
    """Heartbeating moves heartbeat_at forward, so the TTL counts from the last beat."""
    clock = VirtualClock()
    lock = WorkflowLock(Layout(tmp_path), "wf", ttl_seconds=300, clock=clock).acquire()
    clock.advance(200)
    lock.heartbeat()
    clock.advance(200)
    assert not inspect_lock(lock.path, clock=clock).stale
    assert json.loads(lock.path.read_text())["heartbeat_at"] == "2026-01-15T10:33:20Z"


def test_a_broken_holder_cannot_heartbeat_or_remove_its_successor(tmp_path: Path) -> None:
    """After its stale lock was broken and retaken, the old holder loses it for good."""
    clock = VirtualClock()
    layout = Layout(tmp_path)
    old = WorkflowLock(layout, "wf", ttl_seconds=10, clock=clock).acquire()
    clock.advance(11)
    new = WorkflowLock(layout, "wf", clock=clock, break_stale=True).acquire()
    with pytest.raises(LockLostError) as info:
        old.heartbeat()
    assert str(info.value) == (
        f"{old.path}: lock is no longer held by this process (broken as stale?)"
    )
    old.release()
    assert new.path.exists()
    assert json.loads(new.path.read_text())["ttl_seconds"] == 300
    new.release()
    assert not new.path.exists()


def test_a_live_holders_heartbeat_ahead_of_the_clock_keeps_its_lock(
    tmp_path: Path, live_holder: subprocess.Popen[str]
) -> None:
    """On a clock in the past (tapps --now), a running holder's lock is held and never broken."""
    path = Layout(tmp_path).lock_file("wf")
    before = path.read_bytes()
    past = VirtualClock(datetime(2026, 1, 15, 10, 30, tzinfo=UTC).timestamp())
    inspection = inspect_lock(path, clock=past)
    assert (inspection.stale, inspection.holder_alive) == (False, True)
    assert inspection.heartbeat_age_seconds is not None
    assert inspection.heartbeat_age_seconds < 0
    assert inspection.reason.startswith(
        f"held by pid {live_holder.pid} on {socket.gethostname()} (running, heartbeat "
    )
    assert inspection.reason.endswith(" ahead of the clock)")
    assert break_stale_lock(path, clock=past) is None
    with pytest.raises(LockHeldError):
        WorkflowLock(Layout(tmp_path), "wf", clock=past, break_stale=True).acquire()
    assert path.read_bytes() == before
    assert live_holder.poll() is None


def test_a_dead_holders_lock_is_stale_though_its_heartbeat_is_ahead_of_the_clock(
    tmp_path: Path, live_holder: subprocess.Popen[str]
) -> None:
    """On a clock in the past, a killed holder's lock is still stale, for its dead pid."""
    live_holder.send_signal(signal.SIGKILL)
    live_holder.wait()
    past = VirtualClock(datetime(2026, 1, 15, 10, 30, tzinfo=UTC).timestamp())
    lock = WorkflowLock(Layout(tmp_path), "wf", clock=past, break_stale=True).acquire()
    assert lock.broken is not None
    assert lock.broken.stale
    assert lock.broken.reason.startswith(
        f"holder pid {live_holder.pid} on {socket.gethostname()} is not running (heartbeat "
    )
    assert lock.broken.reason.endswith(" ahead of the clock)")
    lock.release()
    assert not lock.path.exists()


def test_a_heartbeat_a_moment_ahead_reads_as_now(tmp_path: Path) -> None:
    """Less than half a second ahead of the clock is "0s ago", never "-0s ago"."""
    clock = VirtualClock()
    lock = WorkflowLock(Layout(tmp_path), "wf", clock=VirtualClock(clock.time() + 0.4)).acquire()
    assert inspect_lock(lock.path, clock=clock).reason.endswith("(running, heartbeat 0s ago)")
    lock.release()


def test_lock_on_another_host_is_judged_by_heartbeat_only(tmp_path: Path) -> None:
    """A pid on another host cannot be checked: only its heartbeat decides."""
    clock = VirtualClock()
    lock = WorkflowLock(Layout(tmp_path), "wf", ttl_seconds=60, clock=clock).acquire()
    fresh = inspect_lock(lock.path, clock=clock, host="elsewhere")
    assert (fresh.stale, fresh.holder_alive) == (False, None)
    assert "on another host" in fresh.reason
    clock.advance(61)
    assert inspect_lock(lock.path, clock=clock, host="elsewhere").stale


def test_unreadable_lock_file_is_stale_with_the_parse_error(tmp_path: Path) -> None:
    """A lock no correct writer could leave (empty, garbage) is stale and says why."""
    path = Layout(tmp_path).lock_file("wf")
    path.parent.mkdir(parents=True)
    path.write_text("")
    inspection = inspect_lock(path)
    assert inspection.stale
    assert inspection.reason.startswith("unreadable lock file: not valid JSON")
    assert inspection.holder == "an unknown holder (unreadable lock file)"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        pytest.param("", "not valid JSON (Expecting value: line 1 column 1 (char 0))", id="empty"),
        pytest.param(
            '{"pid": "x", "host": "vm"}',
            "pid: Input should be a valid integer, unable to parse string as an integer; "
            "created_at: Field required; heartbeat_at: Field required; "
            "ttl_seconds: Field required",
            id="wrong-fields",
        ),
        pytest.param(
            "[" * 3000 + "]" * 3000,
            "nested too deep (more than 100 levels of arrays and objects)",
            id="too-deep",
        ),
    ],
)
def test_an_unreadable_lock_file_is_inspected_as_stale_with_why(
    tmp_path: Path, content: str, why: str
) -> None:
    """Whatever makes a lock file unreadable, its inspection names that file, knows no holder
    nor heartbeat, is stale, and quotes why (each wrong field, the nesting, the JSON error)."""
    path = Layout(tmp_path).lock_file("wf")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    inspection = inspect_lock(path)
    assert inspection == LockInspection(
        path, None, True, None, None, f"unreadable lock file: {why}"
    )


def test_a_dead_holder_s_inspection_keeps_its_heartbeat_age(tmp_path: Path) -> None:
    """A lock whose holder is dead is stale at once, and its inspection still reports how old
    its heartbeat is on the given clock."""
    layout = Layout(tmp_path)
    clock = VirtualClock()
    path = layout.lock_file("wf")
    path.parent.mkdir(parents=True)
    stamp = to_iso(utcnow(clock))
    record = {"pid": dead_pid(), "host": socket.gethostname(), "created_at": stamp}
    path.write_text(json.dumps({**record, "heartbeat_at": stamp, "ttl_seconds": 300}))
    clock.advance(42)
    inspection = inspect_lock(path, clock=clock)
    assert (inspection.stale, inspection.holder_alive) == (True, False)
    assert inspection.heartbeat_age_seconds == 42


def test_racing_processes_get_the_lock_exactly_once(tmp_path: Path) -> None:
    """Six processes released at once: one wins, five are refused."""
    go = tmp_path / "go"
    children = [spawn_lock_holder(tmp_path, "wf", go) for _ in range(6)]
    go.touch()
    results = []
    for child in children:
        assert child.stdout is not None
        results.append(child.stdout.readline().strip())
    for child in children:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
        assert child.stdout is not None
        child.stdout.close()
    assert sorted(results) == ["lost"] * 5 + ["won"]


def test_list_locks_reports_every_lock_of_the_project(tmp_path: Path) -> None:
    """list_locks finds each workflow's lock with its inspection."""
    layout = Layout(tmp_path)
    with WorkflowLock(layout, "wf-a"), WorkflowLock(layout, "wf-b"):
        found = list_locks(layout)
        assert [i.path.name for i in found] == ["wf-a.lock", "wf-b.lock"]
        assert not any(i.stale for i in found)
    assert list_locks(layout) == []


def test_ttl_must_be_positive(tmp_path: Path) -> None:
    """A zero TTL would make every lock stale at once: it is refused."""
    with pytest.raises(ValueError, match=r"ttl_seconds must be > 0, got 0"):
        WorkflowLock(Layout(tmp_path), "wf", ttl_seconds=0)


@given(
    ttl=st.floats(min_value=1e-3, max_value=1e7),
    age=st.floats(min_value=0, max_value=2e7),
)
def test_staleness_boundary_is_strictly_older_than_ttl(ttl: float, age: float) -> None:
    """A live holder's lock is stale exactly when its heartbeat age exceeds the TTL."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        start = datetime(2026, 1, 15, tzinfo=UTC).timestamp()
        clock = VirtualClock(start)
        lock = WorkflowLock(Layout(Path(folder)), "wf", ttl_seconds=ttl, clock=clock).acquire()
        clock.advance(age)
        measured = clock.time() - start
        assert inspect_lock(lock.path, clock=clock).stale == (measured > ttl)
        lock.release()


# pid_max is at most 2**22 on Linux: no process can have this pid.
_NO_SUCH_PID = 2**22 + 12345


def _lock_at(folder: Path, *, heartbeat: float, ttl: float, pid: int | None = None) -> Path:
    """A lock of this host whose heartbeat is at ``heartbeat``, held by ``pid`` (default: us)."""
    lock = WorkflowLock(Layout(folder), "wf", ttl_seconds=ttl, clock=VirtualClock(heartbeat))
    lock.acquire()
    if pid is not None:
        data = json.loads(lock.path.read_text())
        lock.path.write_text(json.dumps({**data, "pid": pid}))
    return lock.path


@given(
    ttl=st.floats(min_value=1e-3, max_value=1e7),
    lead=st.floats(min_value=0, max_value=1e9, exclude_min=True),
    this_host=st.booleans(),
)
def test_a_heartbeat_ahead_of_the_clock_never_makes_a_lock_stale(
    ttl: float, lead: float, this_host: bool
) -> None:
    """A live or unknown holder whose heartbeat lies ahead of the clock keeps its lock."""
    import tempfile

    start = datetime(2026, 1, 15, tzinfo=UTC).timestamp()
    host = None if this_host else "elsewhere"
    with tempfile.TemporaryDirectory() as folder:
        path = _lock_at(Path(folder), heartbeat=start + lead, ttl=ttl)
        clock = VirtualClock(start)
        inspection = inspect_lock(path, clock=clock, host=host)
        assert not inspection.stale
        assert inspection.holder_alive is (True if this_host else None)
        assert not is_stale(path, clock=clock, host=host)
        assert break_stale_lock(path, clock=clock, host=host) is None
        assert path.exists()


@given(
    ttl=st.floats(min_value=1e-3, max_value=1e7),
    offset=st.floats(min_value=-1e9, max_value=1e9),
)
def test_a_dead_holder_is_stale_wherever_its_heartbeat_lies(ttl: float, offset: float) -> None:
    """A dead pid on this host makes a lock stale, its heartbeat behind or ahead of the clock."""
    import tempfile

    start = datetime(2026, 1, 15, tzinfo=UTC).timestamp()
    with tempfile.TemporaryDirectory() as folder:
        path = _lock_at(Path(folder), heartbeat=start + offset, ttl=ttl, pid=_NO_SUCH_PID)
        clock = VirtualClock(start)
        inspection = inspect_lock(path, clock=clock)
        assert (inspection.stale, inspection.holder_alive) == (True, False)
        assert inspection.reason.startswith(f"holder pid {_NO_SUCH_PID} on ")
        broken = break_stale_lock(path, clock=clock)
        assert broken is not None
        assert not path.exists()


def _claimed_by(path: Path, *, host: str, pid: int) -> Path:
    """Rewrite the lock at ``path`` as held by ``pid`` on ``host``, its times unchanged."""
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "host": host, "pid": pid}))
    return path


def test_break_stale_lock_judges_the_given_host_again_under_the_guard(tmp_path: Path) -> None:
    """Told it runs on vm-2, break_stale_lock removes a dead vm-2 pid's fresh lock, and says so."""
    clock = VirtualClock()
    pid = dead_pid()
    path = _claimed_by(_lock_at(tmp_path, heartbeat=clock.time(), ttl=300), host="vm-2", pid=pid)
    assert break_stale_lock(path, clock=clock) is None  # from here vm-2's pid cannot be checked
    assert path.exists()
    broken = break_stale_lock(path, clock=clock, host="vm-2")
    assert broken is not None
    assert broken.reason == f"holder pid {pid} on vm-2 is not running (heartbeat 0s ago)"
    assert not path.exists()


def test_list_locks_judges_each_lock_on_the_given_host_and_clock(tmp_path: Path) -> None:
    """list_locks checks pids only on the host it is told, and ages heartbeats by its clock."""
    layout = Layout(tmp_path)
    clock = VirtualClock()
    ours = WorkflowLock(layout, "wf-a", ttl_seconds=60, clock=clock).acquire()
    pid = dead_pid()
    theirs = WorkflowLock(layout, "wf-b", ttl_seconds=60, clock=clock).acquire()
    _claimed_by(theirs.path, host="vm-2", pid=pid)
    on_vm2 = list_locks(layout, clock=clock, host="vm-2")
    assert [(i.path, i.stale, i.holder_alive) for i in on_vm2] == [
        (ours.path, False, None),
        (theirs.path, True, False),
    ]
    assert on_vm2[1].reason == f"holder pid {pid} on vm-2 is not running (heartbeat 0s ago)"
    here = list_locks(layout, clock=clock)
    assert [(i.stale, i.holder_alive) for i in here] == [(False, True), (False, None)]
    clock.advance(61)
    assert [i.stale for i in list_locks(layout, clock=clock)] == [True, True]


def test_a_holder_releasing_while_we_look_lets_us_take_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the live holder releases between our failed create and our look, we try again and win."""
    import pytest_tapps.core._locks as locks_module

    real_inspect = locks_module.inspect_lock
    looks: list[Path] = []
    with live_lock(tmp_path, "wf") as holder:

        def holder_releases_first(path: Path, **kwargs: Any) -> LockInspection:
            if not looks:  # the holder finishes at this very moment, for real
                assert holder.stdin is not None
                holder.stdin.close()
                holder.wait(timeout=30)
            looks.append(path)
            return real_inspect(path, **kwargs)

        monkeypatch.setattr(locks_module, "inspect_lock", holder_releases_first)
        lock = WorkflowLock(Layout(tmp_path), "wf").acquire()
        assert lock.held
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        assert looks == [lock.path]
        lock.release()


def test_a_lock_path_that_keeps_vanishing_is_refused_after_a_few_tries(tmp_path: Path) -> None:
    """A lock path that cannot be created yet reads as gone (a dangling link) ends in one clear
    refusal, not an endless loop."""
    path = Layout(tmp_path).lock_file("wf")
    path.parent.mkdir(parents=True)
    path.symlink_to(tmp_path / "nowhere")
    with pytest.raises(LockHeldError) as info:
        WorkflowLock(Layout(tmp_path), "wf", break_stale=True).acquire()
    assert str(info.value).startswith(
        f"{path}: workflow is locked by holders that kept changing while we tried; "
    )
    assert path.is_symlink()


def test_heartbeat_of_a_lock_never_taken_is_refused(tmp_path: Path) -> None:
    """A WorkflowLock that was never acquired cannot heartbeat: the error says it is not held."""
    lock = WorkflowLock(Layout(tmp_path), "wf")
    with pytest.raises(LockLostError) as info:
        lock.heartbeat()
    assert str(info.value) == (
        f"{lock.path}: lock is no longer held by this process (broken as stale?)"
    )
    assert not lock.path.exists()


@pytest.mark.parametrize("pid", [_NO_SUCH_PID, 10**20])
def test_a_pid_no_process_can_have_holds_nothing(tmp_path: Path, pid: int) -> None:
    """A lock naming a pid past pid_max (even one too large for the kernel) is stale."""
    assert pid_alive(pid) is False
    clock = VirtualClock()
    inspection = inspect_lock(_lock_at(tmp_path, heartbeat=clock.time(), ttl=300, pid=pid))
    assert (inspection.stale, inspection.holder_alive) == (True, False)


def test_a_lock_object_says_whether_it_is_held_and_is_taken_once(tmp_path: Path) -> None:
    """Its repr names the file and whether it is held; a second acquire of the same object is
    a programming error that names the file, and leaves the lock held."""
    lock = WorkflowLock(Layout(tmp_path), "wf")
    assert repr(lock) == f"WorkflowLock({str(lock.path)!r}, not held)"
    with lock:
        assert repr(lock) == f"WorkflowLock({str(lock.path)!r}, held)"
        with pytest.raises(RuntimeError, match=r"this WorkflowLock is already held$") as info:
            lock.acquire()
        assert str(info.value) == f"{lock.path}: this WorkflowLock is already held"
        assert lock.path.exists()
