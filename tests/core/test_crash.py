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


def test_workers_killed_during_state_writes_never_lose_completed_steps(tmp_path: Path) -> None:
    """Kill workers at random moments of a write-heavy run: the state always loads, and no step
    recorded completed at a kill ever runs again."""
    rng = random.Random(1234)
    layout = Layout(tmp_path)
    store = StateStore(layout)
    kill_points: list[tuple[int, set[str]]] = []
    saw_partial_write = False
    for _round in range(8):
        worker = _worker(tmp_path, 60, slow_disk=True)
        time.sleep(rng.uniform(0.4, 0.9))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert worker.stdout is not None
        worker.stdout.close()
        if layout.state_dir.exists():
            leftovers = [p for p in layout.state_dir.iterdir() if is_temp_name(p.name)]
            saw_partial_write = saw_partial_write or bool(leftovers)
        try:
            state = store.load("wf")  # never corrupt, whatever the moment of the kill
        except WorkflowNotFoundError:
            continue  # killed before the first save
        completed = {k for k, v in state.latest().items() if v.status is StepStatus.COMPLETED}
        kill_points.append((len(_ran(tmp_path)), completed))
        if state.status is WorkflowStatus.COMPLETED:
            break
    finisher = _worker(tmp_path, 60)
    assert finisher.stdout is not None
    assert finisher.stdout.readline().strip() == "finished"
    finisher.wait()
    finisher.stdout.close()

    assert saw_partial_write, "no kill landed inside a state write; the test proved nothing"
    assert kill_points, "no kill happened after the workflow started"
    assert store.load("wf").status is WorkflowStatus.COMPLETED
    ran = _ran(tmp_path)
    assert set(ran) == {f"s{i:03d}" for i in range(60)}
    for offset, completed in kill_points:
        assert not set(ran[offset:]) & completed
