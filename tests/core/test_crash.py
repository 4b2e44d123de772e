"""Crash tests: real worker processes killed during a step and during state writes.

Whatever moment a worker dies at, the state file stays loadable, and resume finishes the
workflow without running again any step the state records as completed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pytest_tapps.core import (
    Layout,
    StateStore,
    StepContext,
    StepDefinition,
    StepRunner,
    StepStatus,
    WorkflowExecutor,
    WorkflowNotFoundError,
    WorkflowStatus,
)
from pytest_tapps.core._fsutil import is_temp_name

WORKER = textwrap.dedent(
    """
    import os, stat, sys, time
    from pathlib import Path
    from pytest_tapps.core import (
        Layout, StateStore, WorkflowDefinition, WorkflowExecutor, WorkflowNotFoundError,
    )

    root, steps, hang_at, slow_disk = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    if slow_disk == "yes":  # a slow disk: file fsyncs take 20 ms, so kills land inside writes
        real_fsync = os.fsync
        def slow_fsync(fd):
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                time.sleep(0.02)
            real_fsync(fd)
        os.fsync = slow_fsync

    def runner(step, context):
        with open(root / "ran.log", "a") as log:
            log.write(step.id + "\\n")
        if step.id == hang_at:
            (root / "in-step").touch()
            time.sleep(60)

    definition = WorkflowDefinition.parse(
        {"id": "wf", "steps": [{"id": f"s{i:03d}"} for i in range(steps)]}
    )
    executor = WorkflowExecutor(root, runner)
    try:
        StateStore(Layout(root)).locate("wf")
    except WorkflowNotFoundError:
        executor.run(definition)
    else:
        executor.resume("wf")
    print("finished", flush=True)
    """
)


def _worker(
    root: Path, steps: int, *, hang_at: str = "-", slow_disk: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER,
            str(root),
            str(steps),
            hang_at,
            "yes" if slow_disk else "no",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def _ran(root: Path) -> list[str]:
    log = root / "ran.log"
    return log.read_text().split() if log.exists() else []


def _recording_runner(root: Path) -> StepRunner:
    def runner(step: StepDefinition, context: StepContext) -> None:
        with (root / "ran.log").open("a") as log:
            log.write(step.id + "\n")

    return runner


def test_worker_killed_during_a_step_is_resumed_to_completion(tmp_path: Path) -> None:
    """SIGKILL inside step s001: resume runs s001 again and s002, never s000."""
    worker = _worker(tmp_path, 3, hang_at="s001")
    deadline = time.monotonic() + 60
    while not (tmp_path / "in-step").exists():
        assert worker.poll() is None, "the worker ended before reaching its step"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.stdout is not None
    worker.stdout.close()

    layout = Layout(tmp_path)
    crashed = StateStore(layout).load("wf")
    assert crashed.status is WorkflowStatus.RUNNING
    assert crashed.latest()["s000"].status is StepStatus.COMPLETED
    assert crashed.latest()["s001"].status is StepStatus.RUNNING
    assert layout.lock_file("wf").exists()  # left behind by the dead worker

    state = WorkflowExecutor(tmp_path, _recording_runner(tmp_path)).resume("wf")
    assert state.status is WorkflowStatus.COMPLETED
    assert _ran(tmp_path) == ["s000", "s001", "s001", "s002"]
    interrupted, rerun = state.executions_of("s001")
    assert (interrupted.status, interrupted.attempt) == (StepStatus.CANCELLED, 1)
    assert interrupted.error is not None
    assert interrupted.error.code == "interrupted"
    assert (rerun.status, rerun.attempt) == (StepStatus.COMPLETED, 2)
    assert not layout.lock_file("wf").exists()


#: Kills of write-heavy workers: at least this many, and then more until one has landed inside
#: a state write (a temp file left behind), within a bound generous enough for a loaded machine.
KILLS_AT_LEAST = 8
KILLS_AT_MOST = 150
KILL_SECONDS_AT_MOST = 240.0


def _kill_while_running(root: Path, rng: random.Random) -> None:
    """Start a slow-disk worker on ``root``; once it has started a step of its own (however long
    its start-up took on a loaded machine), SIGKILL it a random moment later."""
    before = len(_ran(root))
    worker = _worker(root, 60, slow_disk=True)
    deadline = time.monotonic() + 60
    while len(_ran(root)) <= before and worker.poll() is None:
        assert time.monotonic() < deadline, "the worker started no step within 60 s"
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.3))
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.stdout is not None
    worker.stdout.close()


def _finish(root: Path) -> list[str]:
    """Resume the workflow to the end in a worker that is not killed; the steps run in all."""
    finisher = _worker(root, 60)
    assert finisher.stdout is not None
    assert finisher.stdout.readline().strip() == "finished"
    finisher.wait()
    finisher.stdout.close()
    assert StateStore(Layout(root)).load("wf").status is WorkflowStatus.COMPLETED
    ran = _ran(root)
    assert set(ran) == {f"s{i:03d}" for i in range(60)}
    return ran


def test_workers_killed_during_state_writes_never_lose_completed_steps(tmp_path: Path) -> None:
    """Kill workers at random moments of a write-heavy run, until a kill has landed inside a
    state write: the state always loads, and no step recorded completed at a kill runs again."""
    rng = random.Random(1234)
    started = time.monotonic()
    kills = partial_writes = projects = 0

    def enough() -> bool:
        return kills >= KILLS_AT_LEAST and partial_writes > 0

    def out_of_bounds() -> bool:
        return kills >= KILLS_AT_MOST or time.monotonic() - started > KILL_SECONDS_AT_MOST

    while not enough():
        assert not out_of_bounds(), (
            f"no kill landed inside a state write in {kills} kills over "
            f"{time.monotonic() - started:.0f} s (bounds: {KILLS_AT_MOST} kills, "
            f"{KILL_SECONDS_AT_MOST:.0f} s); the test proved nothing: is fsync still slowed "
            "down in WORKER, and does the store still write through a temp file?"
        )
        projects += 1
        root = tmp_path / f"project-{projects}"
        root.mkdir()
        layout = Layout(root)
        store = StateStore(layout)
        kill_points: list[tuple[int, set[str]]] = []
        while not (enough() or out_of_bounds()):
            _kill_while_running(root, rng)
            kills += 1
            if layout.state_dir.exists() and any(
                is_temp_name(path.name) for path in layout.state_dir.iterdir()
            ):
                partial_writes += 1
            try:
                state = store.load("wf")  # never corrupt, whatever the moment of the kill
            except WorkflowNotFoundError:
                continue  # killed before the first save
            completed = {k for k, v in state.latest().items() if v.status is StepStatus.COMPLETED}
            kill_points.append((len(_ran(root)), completed))
            if state.status is WorkflowStatus.COMPLETED:
                break  # this workflow is done; the next kills need a new one
        assert kill_points, "no kill happened after the workflow started"
        ran = _finish(root)
        for offset, completed in kill_points:
            assert not set(ran[offset:]) & completed
