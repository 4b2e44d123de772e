"""Our agent-workflow system against the runbook, through pytest-tapps's fixtures.

Tests without a filesystem in their marker run on whichever one the run chooses (real by
default, pyfakefs under ``--tapps-fs=fake``); those that need real processes or git pin
``fs="real"``, those whose faults need pyfakefs pin ``fs="fake"``.
"""

from __future__ import annotations

import errno
import subprocess
import time
from pathlib import Path

import pytest

from pytest_tapps.core import (
    Layout,
    StepStatus,
    WorkflowDefinition,
    WorkflowExecutor,
    WorkflowStatus,
    force_cleanup,
    run_cleanup,
)
from pytest_tapps.harness import Faults, LogCapture, TappsClock, TappsProject


def _retrying(step: str, *, jitter: str = "none") -> WorkflowDefinition:
    """One step with three attempts and exponential backoff from 5 s, capped at 60 s."""
    return WorkflowDefinition.parse(
        {
            "id": "nightly-build",
            "steps": [
                {
                    "id": step,
                    "agent": "implementer",
                    "retry": {
                        "max_attempts": 3,
                        "backoff_strategy": "exponential",
                        "initial_delay": 5,
                        "max_delay": 60,
                        "jitter": jitter,
                    },
                    "timeout": 300,
                }
            ],
        }
    )


def _git(root: Path, *args: str) -> str:
    """What a git command prints in the project, stripped."""
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_cleanup_deletes_what_expired_and_keeps_the_rest(tapps_project: TappsProject) -> None:
    """A 31-day-old application log, 91-day-old analytics and an 8-day-old debug log go; their
    younger neighbours and a 1000-day-old Context7 entry stay."""
    old_log = tapps_project.file("logs/application/app-31d.log", age="31d")
    new_log = tapps_project.file("logs/application/app-29d.log", age="29d")
    old_analytics = tapps_project.analytics("agents-91d.jsonl", age="91d")
    new_analytics = tapps_project.analytics("agents-89d.jsonl", age="89d")
    debug = tapps_project.file("logs/debug/debug-8d.log", age="8d")
    cache = tapps_project.context7("react", age="1000d")

    report = run_cleanup(Layout(tapps_project.root), clock=tapps_project.clock)

    assert report.ok
    assert sorted(Path(item.location).name for item in report.removed) == [
        "agents-91d.jsonl",
        "app-31d.log",
        "debug-8d.log",
    ]
    assert not old_log.exists()
    assert not old_analytics.exists()
    assert not debug.exists()
    assert new_log.exists()
    assert new_analytics.exists()
    assert cache.exists()


def test_a_flaky_step_is_retried_with_backoff_and_logged(
    tapps_project: TappsProject,
    tapps_clock: TappsClock,
    tapps_faults: Faults,
    tapps_logs: LogCapture,
) -> None:
    """Two recoverable failures, then success: waits of 5 s and 10 s on the virtual clock, three
    attempts in the state, and every record correlated to the workflow."""
    tapps_faults.flaky("fetch-docs", failures=2)
    started = time.monotonic()

    state = WorkflowExecutor(tapps_project.root, tapps_faults.runner(), clock=tapps_clock).run(
        _retrying("fetch-docs")
    )

    assert state.status is WorkflowStatus.COMPLETED
    assert [run.status for run in state.executions_of("fetch-docs")] == [
        StepStatus.FAILED,
        StepStatus.FAILED,
        StepStatus.COMPLETED,
    ]
    assert tapps_clock.sleeps == [5, 10]
    assert time.monotonic() - started == 15  # monotonic time is the virtual clock's too
    assert tapps_logs.messages(message="Retrying step") == ["Retrying step"] * 2
    assert tapps_logs.correlated("nightly-build")
    tapps_logs.assert_every_record_has(["workflow_id"])


def test_a_hung_step_ends_at_its_timeout_and_lands_in_the_dlq(
    tapps_project: TappsProject, tapps_clock: TappsClock, tapps_faults: Faults
) -> None:
    """A step that never returns is stopped after its 300 s timeout on each of three attempts;
    the workflow fails after 915 simulated seconds, with a recoverable timeout recorded."""
    tapps_faults.hang("generate-code")

    state = WorkflowExecutor(tapps_project.root, tapps_faults.runner(), clock=tapps_clock).run(
        _retrying("generate-code")
    )

    assert state.status is WorkflowStatus.FAILED
    newest = state.latest()["generate-code"]
    assert newest.status is StepStatus.FAILED
    assert newest.attempt == 3
    assert newest.error is not None
    assert (newest.error.category, newest.error.recoverable) == ("timeout", True)
    assert tapps_clock.elapsed == 915


def test_jittered_backoff_is_reproducible_from_the_test_seed(
    tapps_project: TappsProject, tapps_clock: TappsClock, tapps_faults: Faults, tapps_seed: int
) -> None:
    """With full jitter, two runs under this test's seed wait exactly the same times, each
    within its exponential bound (5 s, then 10 s)."""
    tapps_faults.step_failure("deploy", "external_dependency", recoverable=True)
    waits = []
    for copy in ("first", "second"):
        before = len(tapps_clock.sleeps)
        executor = WorkflowExecutor(
            tapps_project.root / copy, tapps_faults.runner(), clock=tapps_clock, seed=tapps_seed
        )
        assert executor.run(_retrying("deploy", jitter="full")).status is WorkflowStatus.FAILED
        waits.append(tapps_clock.sleeps[before:])

    first, second = waits
    assert first == second
    assert len(first) == 2
    assert 0 <= first[0] <= 5
    assert 0 <= first[1] <= 10


@pytest.mark.tapps(seed=20260115)
def test_the_marker_fixes_the_seed(tapps_seed: int) -> None:
    """@pytest.mark.tapps(seed=...) replaces the derived seed, whatever --tapps-seed says."""
    assert tapps_seed == 20260115


def test_a_stale_lock_is_broken_and_the_workflow_resumes(
    tapps_project: TappsProject,
    tapps_clock: TappsClock,
    tapps_faults: Faults,
    tapps_logs: LogCapture,
) -> None:
    """The lock of an executor that died is removed by force-cleanup (and logged), and resume
    then finishes the interrupted step."""
    tapps_project.workflow("wf-dead", "running", current=True).step("build", "running").save()
    lock = tapps_faults.stale_lock("wf-dead")
    layout = Layout(tapps_project.root)

    report = force_cleanup(layout, "wf-dead", clock=tapps_clock)

    assert [broken.path for broken in report.removed_locks] == [lock]
    assert report.live_lock is None
    assert not lock.exists()
    assert tapps_logs.find("Removed stale lock", workflow_id="wf-dead")
    definition = WorkflowDefinition.parse({"id": "wf-dead", "steps": [{"id": "build"}]})
    executor = WorkflowExecutor(tapps_project.root, tapps_faults.runner(), clock=tapps_clock)
    resumed = executor.resume("wf-dead", definition)
    assert resumed.status is WorkflowStatus.COMPLETED
    assert resumed.latest()["build"].status is StepStatus.COMPLETED


@pytest.mark.tapps(fs="real")
def test_a_live_executors_lock_is_never_broken_until_its_heartbeat_expires(
    tapps_project: TappsProject, tapps_clock: TappsClock, tapps_faults: Faults
) -> None:
    """A lock held by a live process survives force-cleanup; once that process stops
    heartbeating past the 300 s TTL it counts as hung, and the lock is broken."""
    tapps_project.workflow("wf-live", "running").step("build", "running").save()
    holder = tapps_faults.live_lock("wf-live")
    layout = Layout(tapps_project.root)

    held = force_cleanup(layout, "wf-live", clock=tapps_clock)
    assert held.live_lock is not None
    assert held.live_lock.record is not None
    assert held.live_lock.record.pid == holder.pid
    assert held.removed_locks == ()
    assert layout.lock_file("wf-live").exists()

    tapps_clock.advance("301s")
    hung = force_cleanup(layout, "wf-live", clock=tapps_clock)
    assert hung.live_lock is None
    assert len(hung.removed_locks) == 1
    assert not layout.lock_file("wf-live").exists()


@pytest.mark.tapps(fs="real")
def test_a_completed_workflows_worktree_goes_with_its_git_registration(
    tapps_project: TappsProject,
) -> None:
    """Cleanup removes a completed workflow's git worktree at once, with its registration and
    branch; the failed workflow's worktree beside it stays for debugging."""
    tapps_project.workflow("wf-done", "completed").step("build", worktree="wt-done").save()
    tapps_project.workflow("wf-failed", "failed").step(
        "build", "failed", error="execution", worktree="wt-failed"
    ).save()
    done = tapps_project.worktree("wt-done", git=True, age="1m")
    failed = tapps_project.worktree("wt-failed", age="1m")

    report = run_cleanup(Layout(tapps_project.root), clock=tapps_project.clock)

    assert report.ok
    assert not done.exists()
    assert failed.exists()
    assert "wt-done" not in _git(tapps_project.root, "worktree", "list", "--porcelain")
    assert _git(tapps_project.root, "branch", "--list", "workflow/*") == ""


@pytest.mark.tapps(fs="fake")
def test_cleanup_frees_space_on_a_full_disk(
    tapps_project: TappsProject, tapps_faults: Faults
) -> None:
    """With the disk full, new writes fail with ENOSPC, yet cleanup still deletes an expired
    debug log."""
    expired = tapps_project.file("logs/debug/old.log", b"x" * 100, age="8d")
    young = tapps_project.file("logs/debug/young.log", b"y" * 100, age="6d")
    tapps_faults.disk_full(free_bytes=0)
    with pytest.raises(OSError, match="No space left on device") as full:
        tapps_project.file("logs/debug/new.log", b"x" * 100)
    assert full.value.errno == errno.ENOSPC

    report = run_cleanup(Layout(tapps_project.root), clock=tapps_project.clock)

    assert report.ok
    assert not expired.exists()
    assert young.read_bytes() == b"y" * 100


@pytest.mark.tapps(fs="fake")
def test_an_unreadable_run_folder_is_left_and_fails_the_cleanup(
    tapps_project: TappsProject, tapps_faults: Faults
) -> None:
    """An expired run folder with a part the cleanup cannot read is kept and reported as
    unreadable (the run is not ok), while the expired debug log beside it still goes."""
    run = tapps_project.file("artifacts/workflows/run-1/result.json", age="40d").parent
    tapps_project.file("artifacts/workflows/run-1/locked/step.log", age="40d")
    debug = tapps_project.file("logs/debug/debug-8d.log", age="8d")
    tapps_faults.permission_denied("artifacts/workflows/run-1/locked")

    report = run_cleanup(Layout(tapps_project.root), clock=tapps_project.clock)

    assert not report.ok
    assert [(Path(item.location), why) for item, why in report.skipped] == [
        (run, "unreadable (locked: Permission denied)")
    ]
    assert (run / "result.json").exists()
    assert not debug.exists()
