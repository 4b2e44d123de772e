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
from pytest_tapps.harness import hold_lock

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


# The harness owns the real-process lock holder; the tests use the same one.
live_lock = hold_lock

_FLOCKER = """
import fcntl, sys
kind, paths = sys.argv[1], sys.argv[2:]
handles = [open(path, "a") for path in paths]
for handle in handles:
    if kind == "posix":
        fcntl.lockf(handle, fcntl.LOCK_EX)
    else:
        fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def flock_held(*paths: Path, kind: str = "flock") -> Iterator[None]:
    """An exclusive lock on each of ``paths`` (opened to append: content and, on most
    filesystems, mtime unchanged) held by one live child process for the block: a ``flock``,
    or with ``kind="posix"`` a POSIX ``fcntl`` lock (SQLite's kind)."""
    locker = subprocess.Popen(
        [sys.executable, "-c", _FLOCKER, kind, *map(str, paths)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        yield
    finally:
        locker.kill()
        locker.wait()
        for stream in (locker.stdin, locker.stdout):
            if stream is not None:
                stream.close()


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


#: A scenario that passes on the reference core: analytics 40 days old are kept.
ANALYTICS_KEPT = """\
name: analytics survive until 90 days
runbook: Data Retention Policies > Metrics > Analytics history
given:
  files:
    - {path: .tapps-agents/analytics/history/a.jsonl, age: 40d}
when:
  - cleanup: {dry_run: true}
then:
  plan: {.tapps-agents/analytics/history/a.jsonl: "keep: too new"}
"""


def dead_pid() -> int:
    """The pid of a child process that has exited and been reaped: a lock holder that died."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@contextlib.contextmanager
def running_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is no executor (a hung one, or one that took over a dead holder's
    pid), killed after the block."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def write_lock(
    root: Path, workflow_id: str, pid: int, *, heartbeat_at: float, ttl: float = 300.0
) -> Path:
    """A workflow lock file as an executor writes it, held by ``pid`` on this host, its last
    heartbeat at ``heartbeat_at`` (epoch seconds)."""
    import socket

    from pytest_tapps.core._timeutil import from_epoch, to_iso

    beat = to_iso(from_epoch(heartbeat_at))
    record = {
        "pid": pid,
        "host": socket.gethostname(),
        "created_at": beat,
        "heartbeat_at": beat,
        "ttl_seconds": ttl,
        "token": "written-by-a-test",
        "workflow_id": workflow_id,
    }
    return write_json(Layout(root).lock_file(workflow_id), record)
