"""Builders and runners shared by the tests (no fixtures here: plain functions)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_tapps.core import Layout

CLI = Path(sys.executable).with_name("tapps")


def envelope(
    category: str = "timeout",
    *,
    recoverable: bool = True,
    code: str | None = None,
    message: str = "step timed out after 300s",
    **ids: Any,
) -> dict[str, Any]:
    """An error envelope as written in a runbook-form state file."""
    return {
        "code": code or f"{category}_error",
        "category": category,
        "recoverable": recoverable,
        "message": message,
        "details": {},
        **ids,
    }


def execution(
    step_id: str, status: str = "completed", attempt: int = 1, **extra: Any
) -> dict[str, Any]:
    """One step execution entry."""
    return {
        "step_id": step_id,
        "agent": extra.pop("agent", "implementer"),
        "action": extra.pop("action", "generate-code"),
        "status": status,
        "attempt": attempt,
        **extra,
    }


def state(
    workflow_id: str = "workflow-123",
    status: str = "running",
    *executions: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """A runbook-form workflow state object."""
    return {
        "workflow_id": workflow_id,
        "status": status,
        "current_step": executions[-1]["step_id"] if executions else None,
        "started_at": "2026-01-15T10:30:00Z",
        "updated_at": "2026-01-15T10:45:00Z",
        "step_executions": list(executions),
        **extra,
    }


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON at ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def write_current(root: Path, data: dict[str, Any]) -> Path:
    """Write the project's current_state.json."""
    current = Layout(root).current_state_file
    assert current is not None
    return write_json(current, data)


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``tapps`` console script in a subprocess."""
    return subprocess.run(
        [str(CLI), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


_HOLDER = """
import sys, time
from pathlib import Path
from pytest_tapps.core import Layout, WorkflowLock, LockHeldError

root, workflow_id, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
lock = WorkflowLock(Layout(root), workflow_id)
try:
    lock.acquire()
except LockHeldError:
    print("lost", flush=True)
    sys.exit(0)
print("won", flush=True)
sys.stdin.read()  # hold until the test closes our stdin
lock.release()
"""


def spawn_lock_holder(root: Path, workflow_id: str, go: Path) -> subprocess.Popen[str]:
    """A real child process that takes the workflow's lock once ``go`` exists and holds it
    until its stdin closes; it prints 'won' or 'lost'."""
    return subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(root), workflow_id, str(go)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def live_lock(root: Path, workflow_id: str) -> Iterator[subprocess.Popen[str]]:
    """The workflow's lock held by a live child process for the duration of the block."""
    go = root / f".go-{workflow_id}"
    go.touch()
    child = spawn_lock_holder(root, workflow_id, go)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "won"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
        go.unlink(missing_ok=True)


DAY = 86400.0


def aged_file(path: Path, *, age: float, now: float, content: bytes = b"x") -> Path:
    """A file whose mtime is ``age`` seconds before ``now`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (now - age, now - age))
    return path


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes | str]]:
    """Every path below ``root`` (links not followed) with its kind, mtime and content."""
    found: dict[str, tuple[str, int, bytes | str]] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            st = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = ("link", st.st_mtime_ns, str(path.readlink()))
            elif path.is_dir():
                found[rel] = ("dir", st.st_mtime_ns, b"")
            else:
                found[rel] = ("file", st.st_mtime_ns, path.read_bytes())
    return found
