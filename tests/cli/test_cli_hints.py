"""Every ``next:`` hint of ``tapps workflow status`` (and the advice of ``workflow run`` on an
existing id) is a command that works on the tree it was printed for: the tests build trees an
operator meets, run ``status``, and run each hint through the installed ``tapps`` script."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from pytest_tapps.core import VirtualClock
from pytest_tapps.harness import project
from tests.helpers import (
    dead_pid,
    envelope,
    execution,
    live_lock,
    run_cli,
    running_process,
    state,
    write_current,
    write_lock,
)

WID = "workflow-123"

STEPS = textwrap.dedent(
    """
    def run_step(step, context):
        with open(context.project_root / "ran.log", "a") as log:
            log.write(step.id + "\\n")
    """
)

DEFINITION = textwrap.dedent(
    f"""
    id: {WID}
    steps:
      - id: plan
        agent: planner
      - id: critical-step
        agent: implementer
      - id: review
        agent: reviewer
    """
)

NEXT = re.compile(r"^  next:\s+(tapps .*)$", re.MULTILINE)
NOTE = re.compile(r"^  note:\s+(.*)$", re.MULTILINE)
STUCK = re.compile(r"^  stuck:\s+(.*)$", re.MULTILINE)


def _project(root: Path) -> Path:
    (root / "steps.py").write_text(STEPS)
    (root / "workflow.yaml").write_text(DEFINITION)
    return root


def _status(root: Path) -> subprocess.CompletedProcess[str]:
    done = run_cli("workflow", "status", "--workflow-id", WID, cwd=root)
    assert done.returncode == 0, done.stderr
    return done


def hints(output: str) -> list[list[str]]:
    """The ``next:`` commands of a status output, as argument lists after ``tapps``."""
    commands = [shlex.split(line) for line in NEXT.findall(output)]
    assert all(words[0] == "tapps" for words in commands)
    return [words[1:] for words in commands]


def runnable(words: list[str]) -> list[str]:
    """A hint with its placeholders filled: the test's runner module and definition file."""
    fill = {"MODULE:ATTR": "steps:run_step", "FILE": "workflow.yaml"}
    return [fill.get(word, word) for word in words]


def walk(root: Path) -> list[list[str]]:
    """Run ``status``, then each of its hints in order; every one must exit 0. Returns them."""
    advised = hints(_status(root).stdout)
    for words in advised:
        done = run_cli(*runnable(words), cwd=root)
        assert done.returncode == 0, (words, done.stdout, done.stderr)
    return advised


def _ran(root: Path) -> list[str]:
    return (root / "ran.log").read_text().split()


def _completed_and_quiet(root: Path) -> None:
    """The workflow completed, and status advises nothing more."""
    done = run_cli("workflow", "status", "--workflow-id", WID, "--json", cwd=root)
    data = json.loads(done.stdout)
    assert (data["status"], data["next"], data["notes"]) == ("completed", [], [])


def _fabricated(root: Path, status: str, *steps: dict[str, object]) -> None:
    """A state no executor of this package wrote: no ``definition``."""
    write_current(root, state(WID, status, *steps))


def test_fabricated_failed_state_resumes_with_the_definition(tmp_path: Path) -> None:
    """No definition recorded: the resume hint carries --definition FILE, and it completes."""
    root = _project(tmp_path)
    _fabricated(
        root,
        "failed",
        execution("plan"),
        execution("critical-step", "failed", error=envelope("timeout")),
    )
    resume = ["workflow", "resume", "--workflow-id", WID, "--runner", "MODULE:ATTR"]
    assert walk(root) == [[*resume, "--definition", "FILE"]]
    assert _ran(root) == ["critical-step", "review"]
    _completed_and_quiet(root)


def test_non_recoverable_failure_is_retried_before_resume(tmp_path: Path) -> None:
    """Resume would refuse a non-recoverable failure: the hints put retry-step first."""
    root = _project(tmp_path)
    failure = envelope("execution", recoverable=False, message="bad input")
    _fabricated(
        root, "failed", execution("plan"), execution("critical-step", "failed", error=failure)
    )
    status = _status(root)
    assert NOTE.findall(status.stdout) == [
        "step 'critical-step' failed with a non-recoverable error: fix the cause first "
        "(or skip it: tapps workflow skip-step)"
    ]
    assert [words[1] for words in walk(root)] == ["retry-step", "resume"]
    _completed_and_quiet(root)


def test_state_run_by_the_executor_resumes_without_definition(tmp_path: Path) -> None:
    """A state this executor wrote records its definition: resume needs no --definition."""
    root = _project(tmp_path)
    (root / "steps.py").write_text(
        STEPS + "\n    if step.id == 'review' and not (context.project_root / 'ok').exists():"
        "\n        raise TimeoutError('slow reviewer')\n"
    )
    run = run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=root)
    assert run.returncode == 1, run.stderr
    (root / "ok").touch()
    assert walk(root) == [["workflow", "resume", "--workflow-id", WID, "--runner", "MODULE:ATTR"]]
    _completed_and_quiet(root)


def test_stale_lock_of_a_dead_holder_then_resume(tmp_path: Path) -> None:
    """A running state whose holder died: force-cleanup, then resume; status then advises
    no force-cleanup."""
    root = _project(tmp_path)
    _fabricated(root, "running", execution("plan"), execution("critical-step", "running"))
    write_lock(root, WID, dead_pid(), heartbeat_at=time.time() - 10)
    status = _status(root)
    assert hints(status.stdout)[0] == ["workflow", "force-cleanup", "--workflow-id", WID]
    cleanup = run_cli("workflow", "force-cleanup", "--workflow-id", WID, cwd=root)
    assert cleanup.returncode == 0, cleanup.stderr
    assert [words[1] for words in hints(_status(root).stdout)] == ["resume"]
    walk(root)
    assert _ran(root) == ["critical-step", "review"]
    _completed_and_quiet(root)


def test_expired_lock_of_a_running_process(tmp_path: Path) -> None:
    """A live pid past its TTL: a note says it still runs; force-cleanup and resume work."""
    root = _project(tmp_path)
    _fabricated(root, "running", execution("plan"), execution("critical-step", "running"))
    with running_process() as sleeper:
        write_lock(root, WID, sleeper.pid, heartbeat_at=time.time() - 3600)
        status = _status(root)
        assert NOTE.findall(status.stdout) == [
            f"pid {sleeper.pid} may be a hung executor (or another process that took over the "
            "pid): if it is an executor, stop it before you resume"
        ]
        # Each fact once: the lock line says the pid runs, the stuck line points at it.
        assert status.stdout.count("still runs on this host") == 1
        assert (
            STUCK.findall(status.stdout)[0] == "status is running but its lock is stale (see lock)"
        )
        assert [words[1] for words in walk(root)] == ["force-cleanup", "resume"]
        assert sleeper.poll() is None  # tapps stopped no process
    _completed_and_quiet(root)


def test_live_lock_gets_no_command_until_its_holder_stops(tmp_path: Path) -> None:
    """A live holder: status names it once and advises no command; after it dies, the hints
    work."""
    root = _project(tmp_path)
    _fabricated(root, "running", execution("plan"), execution("critical-step", "running"))
    with live_lock(root, WID) as holder:
        out = _status(root).stdout
        assert hints(out) == []
        (note,) = NOTE.findall(out)
        assert note == (
            "an executor holds its lock (see lock): wait for it; if it is hung, stop that "
            "process and run 'tapps workflow status' again"
        )
        assert out.count(f"pid {holder.pid}") == 1  # on the lock line only
        holder.kill()
        holder.wait()
        assert [words[1] for words in walk(root)] == ["force-cleanup", "resume"]
    _completed_and_quiet(root)


def _real_save(root: Path, build: Callable[..., object], status: str = "failed") -> None:
    # Saved now: the command line judges a running real save by its age on the real clock.
    with project(root, clock=VirtualClock(time.time()), layout="tapps-agents-3.7") as built:
        build(built.workflow(WID, status, current=True))


def test_real_tapps_agents_save_resumes_with_the_definition(tmp_path: Path) -> None:
    """A state the real package saved (tapps-agents-3.7 layout): resume --definition FILE."""
    root = _project(tmp_path)
    failure = {"category": "timeout", "message": "step timed out; may be recoverable"}
    _real_save(
        root, lambda wf: wf.step("plan").step("critical-step", "failed", error=failure).save()
    )
    assert [words[-2:] for words in walk(root)] == [["--definition", "FILE"]]
    assert _ran(root) == ["critical-step", "review"]
    _completed_and_quiet(root)


def test_real_save_with_a_non_recoverable_failure_is_retried_then_resumed(tmp_path: Path) -> None:
    """Past a non-recoverable failure of a real save the hints are retry-step, then resume, as
    for any state; both work, saving this tool's runbook-form file and leaving every file of
    the real package as it was."""
    root = _project(tmp_path)
    failure = {"category": "execution", "message": "bad input"}
    _real_save(
        root, lambda wf: wf.step("plan").step("critical-step", "failed", error=failure).save()
    )
    state_dir = root / ".tapps-agents/workflow-state"
    theirs = {p: p.read_bytes() for p in state_dir.rglob("*.json")}
    assert [words[1] for words in walk(root)] == ["retry-step", "resume"]
    assert _ran(root) == ["critical-step", "review"]
    _completed_and_quiet(root)
    assert {p: p.read_bytes() for p in theirs} == theirs
    assert (state_dir / "current_state.json").is_file()


def test_pending_placeholders_with_attempt_zero_resume(tmp_path: Path) -> None:
    """Placeholders numbered 0 (not yet tried) read; the resumed tries are numbered 1."""
    root = _project(tmp_path)
    _fabricated(
        root,
        "paused",
        execution("plan"),
        execution("critical-step", "pending", attempt=0),
        execution("review", "pending", attempt=0),
    )
    walk(root)
    data = json.loads(
        run_cli("workflow", "status", "--workflow-id", WID, "--json", cwd=root).stdout
    )
    assert [(s["step_id"], s["status"], s["attempts"]) for s in data["steps"]] == [
        ("plan", "completed", 1),
        ("critical-step", "completed", 1),
        ("review", "completed", 1),
    ]
    saved = json.loads((root / data["file"]).read_text())
    assert [e["attempt"] for e in saved["step_executions"]] == [1, 1, 1]


def test_run_on_an_existing_id_points_at_a_resume_that_works(tmp_path: Path) -> None:
    """workflow run DEF on an id with state: its advice is resume with that very file."""
    root = _project(tmp_path)
    _fabricated(root, "failed", execution("plan"), execution("critical-step", "failed"))
    run = run_cli("workflow", "run", "workflow.yaml", "--runner", "steps:run_step", cwd=root)
    assert run.returncode == 1
    assert run.stderr.strip() == (
        f"tapps: error: workflow '{WID}' already has state in "
        ".tapps-agents/workflow-state/current_state.json; resume it with 'tapps workflow "
        f"resume --workflow-id {WID} --runner steps:run_step --definition workflow.yaml', or "
        "give the definition a new id"
    )
    (advised,) = re.findall(r"resume it with '(tapps [^']*)'", run.stderr)
    done = run_cli(*shlex.split(advised)[1:], cwd=root)
    assert done.returncode == 0, done.stderr
    _completed_and_quiet(root)


def test_a_running_real_save_is_judged_by_its_age_not_by_a_missing_lock(tmp_path: Path) -> None:
    """The real package holds no lock file: a fresh running save is not stuck, gets a note but
    no command, and resume refuses it (a second executor beside it); once its save is older
    than twice that package's default step timeout (3600 s) it is stuck, and the hints resume
    it."""
    root = _project(tmp_path)
    _real_save(
        root,
        lambda wf: wf.step("plan").step("critical-step", "running").save(),
        status="running",
    )
    fresh = json.loads(
        run_cli("workflow", "status", "--workflow-id", WID, "--json", cwd=root).stdout
    )
    assert (fresh["stuck"], fresh["next"], fresh["stuck_reasons"]) == (False, [], [])
    (note,) = fresh["notes"]
    assert note.startswith(
        "the tapps-agents-3.7 package holds no lock file, so whether it still runs this "
        "workflow is known only by its saves; it saved "
    )
    assert note.endswith(
        "ago: wait, it counts as stuck after 2h 0m without one; if none of its processes runs "
        "it, 'tapps workflow resume --take-over' continues it now"
    )
    resume = ["workflow", "resume", "--workflow-id", WID, "--runner", "steps:run_step"]
    refused = run_cli(*resume, "--definition", "workflow.yaml", cwd=root)
    assert refused.returncode == 1
    assert "so it may still be executing it: wait until 'tapps workflow status' says it is " in (
        refused.stderr
    )
    assert not (root / "ran.log").exists()
    saved = root / fresh["file"]
    silent = time.time() - 3 * 3600
    os.utime(saved, (silent, silent))
    status = _status(root)
    assert STUCK.findall(status.stdout) == ["no state saved for 3h 0m (stuck threshold 2h 0m)"]
    assert NOTE.findall(status.stdout) == [
        "the tapps-agents-3.7 package holds no lock file: make sure none of its processes still "
        "runs this workflow before you resume it"
    ]
    assert [words[-2:] for words in walk(root)] == [["--definition", "FILE"]]
    assert _ran(root) == ["critical-step", "review"]
    _completed_and_quiet(root)


def test_take_over_resumes_a_fresh_real_save(tmp_path: Path) -> None:
    """An operator who knows no process of the real package runs it takes the workflow over
    at once with --take-over; the real package's save is left as it was."""
    root = _project(tmp_path)
    _real_save(
        root,
        lambda wf: wf.step("plan").step("critical-step", "running").save(),
        status="running",
    )
    theirs = {p: p.read_bytes() for p in (root / ".tapps-agents").rglob("*.json")}
    resume = ["workflow", "resume", "--workflow-id", WID, "--runner", "steps:run_step"]
    done = run_cli(*resume, "--definition", "workflow.yaml", "--take-over", cwd=root)
    assert done.returncode == 0, done.stderr
    assert _ran(root) == ["critical-step", "review"]
    assert {p: p.read_bytes() for p in theirs} == theirs
    _completed_and_quiet(root)
