"""Tests for pytest_tapps.harness._faults: every fault does what it says, or fails loudly."""

from __future__ import annotations

import inspect
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_tapps.core import (
    Category,
    StateFileError,
    StateStore,
    StepDefinition,
    StepStatus,
    WorkflowDefinition,
    WorkflowExecutor,
    WorkflowState,
    check_entry,
    inspect_lock,
    pid_alive,
)
from pytest_tapps.harness import (
    FaultError,
    Faults,
    FaultUnavailable,
    TappsClock,
    project,
    virtual_time,
)
from pytest_tapps.harness._faults import FailedResult

CRITICAL = {
    "id": "critical-step",
    "agent": "implementer",
    "retry": {"max_attempts": 3, "initial_delay": 5, "max_delay": 60},
    "timeout": 300,
}


def _run(
    root: Path, faults: Faults, *steps: dict[str, object], awaited: bool = False
) -> tuple[WorkflowState, TappsClock]:
    with virtual_time(freeze=False) as clock:
        definition = WorkflowDefinition.parse({"id": "wf", "steps": list(steps)})
        runner = faults.runner(awaited=awaited)
        state = WorkflowExecutor(root, runner, clock=clock).run(definition)
        return state, clock


def test_step_timeout_on_every_attempt_gives_the_runbook_example(tmp_path: Path) -> None:
    """step_timeout(all): three 300 s attempts, waits 5 and 10, a recoverable timeout."""
    with project(tmp_path) as built:
        faults = Faults(built)
        faults.step_timeout("critical-step")
        state, clock = _run(tmp_path, faults, CRITICAL)
        assert clock.sleeps == [300.0, 5.0, 300.0, 10.0, 300.0]
        assert [e.error.category for e in state.executions_of("critical-step") if e.error] == [
            Category.TIMEOUT
        ] * 3


def test_step_timeout_on_one_attempt_then_success(tmp_path: Path) -> None:
    """step_timeout(attempts=1): the second attempt succeeds."""
    with project(tmp_path) as built:
        faults = Faults(built)
        faults.step_timeout("critical-step", attempts=1)
        state, _ = _run(tmp_path, faults, CRITICAL)
        assert [e.status for e in state.executions_of("critical-step")] == [
            StepStatus.FAILED,
            StepStatus.COMPLETED,
        ]


def test_flaky_failure_and_hang(tmp_path: Path) -> None:
    """flaky fails k times then passes; step_failure sets the category; hang ends at timeout."""
    with project(tmp_path) as built:
        faults = Faults(built)
        faults.flaky("a", failures=2)
        faults.step_failure("b", "permission", recoverable=False)
        state, _ = _run(
            tmp_path, faults, {**CRITICAL, "id": "a"}, {"id": "b", "retry": {"max_attempts": 3}}
        )
        assert [e.status.value for e in state.executions_of("a")] == [
            "failed",
            "failed",
            "completed",
        ]
        (b,) = state.executions_of("b")
        assert b.error is not None
        assert b.error.category is Category.PERMISSION
    with project(tmp_path / "hang") as built:
        faults = Faults(built)
        faults.hang("h")
        state, clock = _run(built.root, faults, {"id": "h", "timeout": 60})
        assert clock.elapsed == 60


@pytest.mark.parametrize("awaited", [False, True], ids=["called", "awaited"])
def test_a_slow_agent_finishes_within_its_timeout_and_is_stopped_past_it(
    tmp_path: Path, awaited: bool
) -> None:
    """slow takes its time: exactly the timeout completes, a second more is stopped at it."""
    with project(tmp_path) as built:
        faults = Faults(built)
        faults.slow("exact", 120)
        faults.slow("over", 121, attempts=[1])
        retry = {"max_attempts": 2, "backoff_strategy": "fixed", "initial_delay": 1}
        state, clock = _run(
            tmp_path,
            faults,
            {"id": "exact", "timeout": 120},
            {"id": "over", "timeout": 120, "retry": {**retry, "max_delay": 1}},
            awaited=awaited,
        )
    assert [e.status for e in state.executions_of("exact")] == [StepStatus.COMPLETED]
    over = state.executions_of("over")
    assert [e.status for e in over] == [StepStatus.FAILED, StepStatus.COMPLETED]
    assert over[0].error is not None
    assert over[0].error.details == {"timeout_seconds": 120, "scope": "step"}
    assert clock.elapsed == 120 + 120 + 1


@pytest.mark.parametrize("awaited", [False, True], ids=["called", "awaited"])
def test_an_agent_that_ignores_its_timeout_returns_late_and_times_out_then(
    tmp_path: Path, awaited: bool
) -> None:
    """slow with ignores_timeout runs all of its time past the deadline, then returns a
    success: the executor records the overrun as a timeout of the step's limit (it could not
    stop the agent), and the attempt took the agent's whole time."""
    with project(tmp_path) as built:
        faults = Faults(built)
        faults.slow("late", 200, attempts=[1], ignores_timeout=True)
        retry = {"max_attempts": 2, "backoff_strategy": "fixed", "initial_delay": 1}
        state, clock = _run(
            tmp_path,
            faults,
            {"id": "late", "timeout": 120, "retry": {**retry, "max_delay": 1}},
            awaited=awaited,
        )
    late = state.executions_of("late")
    assert [e.status for e in late] == [StepStatus.FAILED, StepStatus.COMPLETED]
    assert late[0].error is not None
    assert late[0].error.category is Category.TIMEOUT
    assert late[0].error.recoverable
    assert late[0].error.details == {"timeout_seconds": 120, "scope": "step"}
    assert late[0].duration_seconds == 200
    assert clock.elapsed == 200 + 1


def test_an_awaited_runner_returns_a_coroutine_whose_hang_its_timeout_ends(tmp_path: Path) -> None:
    """awaited=True: the runner gives the executor a coroutine; a hang in it is an awaited
    sleep the step's timeout ends, with the same envelope a called runner's hang gets."""
    with project(tmp_path) as built:
        faults = Faults(built)
        faults.hang("h")
        runner = faults.runner(awaited=True)
        given: list[bool] = []

        def spy(step: StepDefinition, context: Any) -> Any:
            pending = runner(step, context)
            given.append(inspect.iscoroutine(pending))
            return pending

        with virtual_time(freeze=False) as clock:
            definition = WorkflowDefinition.parse({"id": "wf", "steps": [{"id": "ok"}]})
            done = WorkflowExecutor(built.root / "spy", spy, clock=clock).run(definition)
        assert given == [True]
        assert done.status.value == "completed"  # no fault on this step: the awaited agent succeeds
        called, _ = _run(built.root, faults, {"id": "h", "timeout": 60})
        awaited, clock = _run(built.root / "a", faults, {"id": "h", "timeout": 60}, awaited=True)
    assert clock.elapsed == 60
    (hung,) = awaited.executions_of("h")
    (before,) = called.executions_of("h")
    assert hung.error is not None
    assert before.error is not None
    assert hung.error.model_dump(exclude={"timestamp"}) == before.error.model_dump(
        exclude={"timestamp"}
    )


def test_crash_during_write_leaves_a_truncated_state_or_a_temp_file(tmp_path: Path) -> None:
    """A truncated state is reported by the store; a leftover temp file is ignored by it."""
    with project(tmp_path) as built:
        built.workflow("wf", current=True).step("a").save()
        temp = Faults(built).crash_during_write("wf", kind="temp")
        assert temp.name.startswith(".")
        assert temp.exists()
        assert StateStore(built.layout).load("wf").workflow_id == "wf"
        Faults(built).crash_during_write("wf")
        with pytest.raises(StateFileError, match="not valid JSON"):
            StateStore(built.layout).load()


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("truncated", "truncated file docs.md"),
        ("bad-json", "bad JSON in index.json"),
        ("bad-yaml", "bad YAML in topics.yaml"),
        ("hash", "hash mismatch in docs.md"),
        ("empty", "empty file docs.md"),
        ("garbage", "hash mismatch in docs.md"),
        ("no-meta", "missing metadata (meta.json)"),
    ],
)
def test_corrupt_cache_entries_are_caught_by_verify(
    tmp_path: Path, kind: str, problem: str
) -> None:
    """Every corruption kind makes the entry fail verification with its own reason."""
    with project(tmp_path) as built:
        entry = Faults(built).corrupt_cache_entry("react", kind)
        assert any(p.startswith(problem) for p in check_entry(entry).problems), check_entry(entry)


def test_stale_and_live_locks(tmp_path: Path) -> None:
    """dead-pid, expired and impossible-pid locks are stale; a live lock runs until close()."""
    with project(tmp_path) as built:
        faults = Faults(built)
        dead = inspect_lock(faults.stale_lock("wf-dead"))
        assert dead.stale
        assert "is not running" in dead.reason
        expired = inspect_lock(faults.stale_lock("wf-old", kind="expired"), clock=built.clock)
        assert expired.stale
        assert "older than its TTL" in expired.reason
        impossible = inspect_lock(
            faults.stale_lock("wf-edit", kind="impossible-pid"), clock=built.clock
        )
        assert impossible.stale
        assert impossible.reason.startswith("holder pid 99999999999999999999 on ")
        assert impossible.reason.endswith(" is not running (heartbeat 0s ago)")
        child = faults.live_lock("wf-live")
        assert pid_alive(child.pid)
        live = inspect_lock(built.layout.lock_file("wf-live"), clock=built.clock)
        assert not live.stale
        assert live.record is not None
        assert live.record.pid == child.pid
        assert live.record.heartbeat_at.timestamp() == built.clock.time()
        built.clock.sleep(301)  # a holder that stops beating for longer than its TTL is hung
        assert inspect_lock(built.layout.lock_file("wf-live"), clock=built.clock).stale
        faults.close()
        assert child.poll() is not None


def test_a_live_holder_runs_under_the_process_name_it_is_given(tmp_path: Path) -> None:
    """live_lock(process_name=...) runs the holder under that name, as /proc/PID/stat shows it
    (parentheses and all); the holder is alive, and close() stops it and removes its link."""
    with project(tmp_path) as built:
        faults = Faults(built)
        child = faults.live_lock("wf", process_name="ci) Z (job")
        stat = Path(f"/proc/{child.pid}/stat").read_text()
        assert stat.startswith(f"{child.pid} (ci) Z (job) ")
        assert pid_alive(child.pid)
        assert isinstance(child.args, list)
        link = Path(child.args[0])
        assert link.name == "ci) Z (job"
        assert not link.is_relative_to(tmp_path)
        faults.close()
        assert child.poll() is not None
        assert not link.parent.exists()


def test_a_beating_holder_keeps_the_time_it_took_its_lock(tmp_path: Path) -> None:
    """beat() refreshes a live holder's heartbeat to the clock's now and keeps created_at, as
    WorkflowLock.heartbeat() does: the lock's age and its heartbeat's age differ."""
    with project(tmp_path) as built:
        faults = Faults(built)
        child = faults.live_lock("wf")
        taken = built.clock.time()
        built.clock.sleep(7200)
        faults.beat("wf", child)
        lock = inspect_lock(built.layout.lock_file("wf"), clock=built.clock)
        assert lock.record is not None
        assert lock.record.created_at.timestamp() == taken
        assert lock.record.heartbeat_at.timestamp() == taken + 7200
        assert not lock.stale
        faults.close()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_stuck_worktrees_are_real(tmp_path: Path) -> None:
    """locked and prunable worktrees show up as such in the inventory."""
    from pytest_tapps.core import inventory

    with project(tmp_path) as built:
        faults = Faults(built)
        faults.stuck_worktree("held", "locked")
        faults.stuck_worktree("gone", "prunable")
        infos = {i.name: i for i in inventory(built.layout)}
        assert infos["held"].git_locked
        assert (infos["gone"].exists, infos["gone"].prunable) == (False, True)


def test_clock_skew_puts_a_file_in_the_future(tmp_path: Path) -> None:
    """clock_skew makes an mtime later than the clock's now."""
    with project(tmp_path) as built:
        path = Faults(built).clock_skew("logs/debug/skewed.log", ahead="2h")
        assert path.stat().st_mtime == built.clock.time() + 7200


def test_faults_that_cannot_be_injected_say_why() -> None:
    """Real-fs-only faults on the fake fs, and permissions as root, are harness errors."""
    with project(fs="fake") as built:
        faults = Faults(built)
        with pytest.raises(FaultError, match="live_lock needs the real filesystem"):
            faults.live_lock("wf")
        with pytest.raises(FaultError, match="git worktrees need the real filesystem"):
            faults.stuck_worktree("wt")
        with pytest.raises(FaultError, match=r"corrupt_cache_entry\(kind='melted'\): use one of"):
            faults.corrupt_cache_entry("react", "melted")
    if os.geteuid() == 0:
        with project() as real:
            real.file("logs/debug/x.log")
            with pytest.raises(FaultError, match="cannot be injected as root"):
                Faults(real).permission_denied("logs/debug/x.log")


def test_disk_full_and_permission_denied_on_the_fake_fs() -> None:
    """ENOSPC and EACCES are real errors of the (fake) filesystem for the code under test."""
    with project(fs="fake") as built:
        faults = Faults(built)
        faults.disk_full(free_bytes=10)
        with pytest.raises(OSError, match="No space left on device"):
            built.file("logs/debug/big.log", b"x" * 100)
    with project(fs="fake") as built:
        built.file("logs/debug/secret.log")
        Faults(built).permission_denied("logs/debug/secret.log")
        with pytest.raises(PermissionError):
            (built.layout.tapps_dir / "logs/debug/secret.log").read_text()


def test_a_listable_permission_denied_folder_lists_names_but_stats_nothing() -> None:
    """permission_denied(listable=True) leaves a folder readable but not searchable: its names
    are listed, looking at an entry fails with EACCES; close() gives its mode back."""
    with project(fs="fake") as built:
        built.file("logs/debug/a.log")
        faults = Faults(built)
        folder = faults.permission_denied("logs/debug", listable=True)
        with os.scandir(folder) as listing:
            entries = list(listing)
        assert [entry.name for entry in entries] == ["a.log"]
        with pytest.raises(PermissionError):
            entries[0].stat(follow_symlinks=False)
        faults.close()
        assert (folder / "a.log").read_text() == "x"


def test_a_full_disk_keeps_what_is_on_it_and_frees_what_is_deleted() -> None:
    """disk_full(n) leaves exactly n bytes free over the files already there, so a cleanup of
    a full disk deletes its old files (freeing space) and keeps the young ones."""
    from pytest_tapps.core import run_cleanup

    with project(fs="fake") as built:
        built.file("logs/debug/old.log", b"o" * 100, age="8d")
        built.file("logs/debug/new.log", b"n" * 100, age="6d")
        assert built.filesystem is not None
        Faults(built).disk_full(free_bytes=10)
        usage = built.filesystem.get_disk_usage(str(built.root))
        assert (usage.used, usage.free) == (200, 10)
        report = run_cleanup(built.layout, clock=built.clock)
        assert report.failed == []
        assert not (built.layout.tapps_dir / "logs/debug/old.log").exists()
        assert built.filesystem.get_disk_usage(str(built.root)).free == 110


def test_permission_denied_is_undone_even_when_the_path_went_away() -> None:
    """close() tolerates a path the code under test removed or moved aside (a cleanup renames
    a folder to a tombstone first); a path still there gets its mode back."""
    with project(fs="fake") as built:
        built.file("artifacts/workflows/run-1/sub/a.txt")
        kept = built.file("logs/debug/kept.log")
        faults = Faults(built)
        faults.permission_denied("logs/debug/kept.log")
        sub = faults.permission_denied("artifacts/workflows/run-1/sub")
        run = sub.parent
        run.rename(run.with_name(".tapps-deleting-0000-run-1"))
        faults.close()
        assert kept.read_text() == "x"


def test_a_zombie_lock_holder_exists_but_its_lock_is_stale(tmp_path: Path) -> None:
    """A zombie holder's pid still exists (kill 0 succeeds) until close() reaps it, yet its lock
    is stale: the holder is not running."""
    with project(tmp_path) as built:
        faults = Faults(built)
        inspection = inspect_lock(faults.stale_lock("wf-z", kind="zombie"), clock=built.clock)
        assert inspection.record is not None
        pid = inspection.record.pid
        os.kill(pid, 0)  # the pid is still taken
        assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        assert (inspection.stale, inspection.holder_alive) == (True, False)
        assert inspection.reason.startswith(f"holder pid {pid} on ")
        assert inspection.reason.endswith(" is not running (heartbeat 0s ago)")
        faults.close()
        assert not Path(f"/proc/{pid}").exists()  # reaped


def test_a_zombie_lock_holder_needs_the_real_filesystem() -> None:
    """On the fake filesystem a zombie holder is refused with how to fix it."""
    with project(fs="fake") as built, pytest.raises(FaultError) as info:
        Faults(built).stale_lock("wf-z", kind="zombie")
    assert str(info.value) == (
        "a zombie lock holder needs the real filesystem (its state is read from /proc): "
        "use fs='real'"
    )


def test_a_lock_is_written_with_the_times_it_is_given(tmp_path: Path) -> None:
    """A captured lock keeps its heartbeat's and its creation's age and its TTL (on the
    project's clock); without them an expired lock's heartbeat is an hour old."""
    import json

    from pytest_tapps.core import VirtualClock, inspect_lock

    clock = VirtualClock(1_800_000_000.0)
    with project(tmp_path / "p", clock=clock) as proj:
        faults = Faults(proj)
        try:
            path = faults.stale_lock(
                "wf-1", kind="dead-pid", heartbeat_age=90.0, created_age=600.0, ttl_seconds=60.0
            )
            record = json.loads(path.read_text())
            assert record["heartbeat_at"] == "2027-01-15T07:58:30Z"
            assert record["created_at"] == "2027-01-15T07:50:00Z"
            assert record["ttl_seconds"] == 60.0
            faults.stale_lock("wf-2", kind="expired")
            assert (
                inspect_lock(proj.layout.lock_file("wf-2"), clock=clock).heartbeat_age_seconds
                == 3600
            )
            faults.live_lock("wf-3", heartbeat_age=120.0, ttl_seconds=60.0)
            live = inspect_lock(proj.layout.lock_file("wf-3"), clock=clock)
            assert (live.holder_alive, live.stale) == (True, True)  # alive but hung
        finally:
            faults.close()


@pytest.mark.parametrize("kind", ["flock", "posix"])
def test_a_locked_file_is_held_by_a_live_process_with_the_kind_of_lock_asked(
    tmp_path: Path, kind: str
) -> None:
    """locked_file: another process holds the lock (of the kind asked) until close(): the
    kernel's table lists the file, a probe of either kind finds it, and it is free after."""
    from pytest_tapps.core._proclocks import locked_inodes
    from pytest_tapps.core._safedelete import is_locked

    with project(tmp_path) as built:
        faults = Faults(built)
        path = faults.locked_file("logs/application/db.sqlite", kind=kind)
        st = path.stat()
        assert (st.st_dev, st.st_ino) in (locked_inodes() or set())
        assert is_locked(path, st, None)
        faults.close()
        assert not is_locked(path, st, None)


def test_a_locked_file_of_an_unknown_kind_is_a_fault_error(tmp_path: Path) -> None:
    with project(tmp_path) as built, pytest.raises(FaultError, match="give 'flock' or 'posix'"):
        Faults(built).locked_file("logs/application/app.log", kind="fcntl")


@pytest.mark.parametrize("error", [["gateway", "down"], 504, True, "refused"])
def test_a_failed_result_returns_any_error_an_agent_may_write(tmp_path: Path, error: Any) -> None:
    """The error is handed back as written, whatever JSON it is (raw_error): a list, a number
    and a flag as well as a message; the executor makes an envelope of each."""
    with project(tmp_path) as built:
        faults = Faults(built)
        faults.add(FailedResult("s", "all", error))
        state, _clock = _run(built.root, faults, {"id": "s"})
    (only,) = state.executions_of("s")
    assert only.status is StepStatus.FAILED
    assert only.error is not None
    assert only.error.message == str(error)


def _moved_aside_then_closed(built: Any) -> tuple[Path, Faults]:
    built.file("artifacts/workflows/run-1/a.txt")
    built.file("artifacts/workflows/run-1/b.txt")
    faults = Faults(built)
    folder = faults.undeletable("artifacts/workflows/run-1")
    return folder, faults


@pytest.mark.skipif(os.geteuid() != 0, reason="as root the files are made immutable")
def test_undeletable_files_resist_root_until_close_wherever_they_were_moved(tmp_path: Path) -> None:
    """As root on the real filesystem each file is made immutable: removing it fails with
    EPERM, though its folder can be moved aside; close() clears the flag on the moved files,
    so they (and the test's temporary folder) can be removed again."""
    with project(tmp_path) as built:
        try:
            folder, faults = _moved_aside_then_closed(built)
        except FaultUnavailable as exc:  # pragma: no cover - a filesystem without chattr
            pytest.skip(str(exc))
        try:
            with pytest.raises(PermissionError):
                (folder / "a.txt").unlink()
            moved = folder.rename(folder.with_name(".tapps-deleting-0000-run-1"))
            with pytest.raises(PermissionError):
                (moved / "b.txt").unlink()
        finally:
            faults.close()
        (moved / "a.txt").unlink()
        (moved / "b.txt").unlink()
        moved.rmdir()


def test_undeletable_on_the_fake_filesystem_is_a_read_only_folder() -> None:
    """On the fake filesystem (a normal user) the folder is made read-only: nothing in it can
    be removed or added, and it can still be read."""
    with project(fs="fake") as built:
        folder, faults = _moved_aside_then_closed(built)
        with pytest.raises(PermissionError):
            (folder / "a.txt").unlink()
        with pytest.raises(PermissionError):
            (folder / "c.txt").write_text("new")
        assert (folder / "b.txt").read_text() == "x"
        faults.close()


def test_undeletable_needs_a_folder_of_files(tmp_path: Path) -> None:
    """A path that is not a folder, or a folder holding a folder, is refused with what to fix,
    before anything is changed."""
    with project(tmp_path) as built:
        built.file("artifacts/workflows/run-1/sub/a.txt")
        built.file("logs/debug/d.log")
        faults = Faults(built)
        with pytest.raises(FaultError, match="must hold files, and files only"):
            faults.undeletable("artifacts/workflows/run-1")
        (built.root / ".tapps-agents/logs/empty").mkdir()
        with pytest.raises(FaultError, match="it is empty"):
            faults.undeletable("logs/empty")
        with pytest.raises(FaultError, match=r"is not a folder under \.tapps-agents/"):
            faults.undeletable("logs/debug/d.log")
        faults.close()
        (built.root / ".tapps-agents/artifacts/workflows/run-1/sub/a.txt").unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="as root the files are made immutable")
def test_close_runs_every_undo_even_after_one_fails(tmp_path: Path) -> None:
    """An undo that fails does not stop the others: the immutable files are freed all the
    same, and the failure is raised after."""
    with project(tmp_path) as built:
        try:
            folder, faults = _moved_aside_then_closed(built)
        except FaultUnavailable as exc:  # pragma: no cover - a filesystem without chattr
            pytest.skip(str(exc))

        def broken() -> None:
            message = "an undo that fails"
            raise OSError(message)

        faults._undo.append(broken)
        with pytest.raises(OSError, match="an undo that fails"):
            faults.close()
        (folder / "a.txt").unlink()
        (folder / "b.txt").unlink()
