"""Workflow lock files: ``workflow-state/<workflow_id>.lock``.

A lock is a small JSON file (``pid``, ``host``, ``created_at``, ``heartbeat_at``, ``ttl_seconds``,
and a ``token`` that tells the holder its own lock from a successor's). It is created complete or
not at all, and it is stale when its holder is dead on this host, or its heartbeat is older than
its TTL. A heartbeat ahead of the reading clock (a clock set into the past, such as ``tapps
--now`` with a past TIME) has no age: it never makes a lock stale, so only a dead holder does.
Only stale locks are ever removed, and every removal says why.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock, utcnow
from pytest_tapps.core._durations import human_duration
from pytest_tapps.core._errors import LockHeldError, TappsError
from pytest_tapps.core._fsutil import create_exclusive, write_atomic
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._nesting import NestingError, load_json
from pytest_tapps.core._state import Timestamp
from pytest_tapps.core._store import describe_validation_error

#: A lock whose heartbeat is older than this is stale, unless the lock names its own TTL.
DEFAULT_TTL_SECONDS = 300.0


class LockRecord(BaseModel):
    """The content of a lock file."""

    model_config = ConfigDict(extra="allow", frozen=True)

    pid: int = Field(gt=0)
    host: str
    created_at: Timestamp
    heartbeat_at: Timestamp
    ttl_seconds: float = Field(gt=0)
    token: str = ""
    workflow_id: str | None = None


class LockLostError(TappsError):
    """The lock file no longer holds this holder's record (it was broken as stale)."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    except (OverflowError, OSError):  # a pid no process can have (99999999999999999999)
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust kill(0)
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


@dataclass(frozen=True)
class LockInspection:
    """What is known about one lock file."""

    path: Path
    record: LockRecord | None
    stale: bool
    holder_alive: bool | None
    heartbeat_age_seconds: float | None
    reason: str

    @property
    def holder(self) -> str:
        if self.record is None:
            return "an unknown holder (unreadable lock file)"
        return f"pid {self.record.pid} on {self.record.host}"

    @property
    def locked_by(self) -> str:
        """Who holds the lock and the evidence, naming the holder once: ``pid 42 on vm
        (running, heartbeat 3s ago)``, or ``a stale lock (...)``."""
        if self.stale:
            return f"a stale lock ({self.reason})"
        return self.reason.removeprefix("held by ")

    @property
    def expired_but_running(self) -> bool:
        """Stale by its heartbeat although its holder still runs on this host: a hung executor,
        a runner blocked past its TTL, or an unrelated process that reused the pid."""
        return self.stale and self.holder_alive is True

    @property
    def hung_holder_advice(self) -> str | None:
        """What to do about a holder that still runs although its heartbeat expired (the one
        wording every command uses), or ``None`` for any other lock."""
        if not self.expired_but_running or self.record is None:
            return None
        return (
            f"pid {self.record.pid} may be a hung executor (or another process that took over "
            "the pid): if it is an executor, stop it before you resume"
        )


def read_lock(path: Path) -> LockRecord:
    """Parse a lock file; ``ValueError`` says why it cannot be read."""
    raw = path.read_bytes()
    try:
        data: Any = load_json(raw)
    except NestingError as exc:
        raise ValueError(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        message = f"not valid JSON ({exc})"
        raise ValueError(message) from None
    try:
        return LockRecord.model_validate(data)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None


def _heartbeat_age(age: float) -> str:
    """``heartbeat 12s ago`` (``2h 0m ago``), or how far ahead of the clock a heartbeat lies."""
    if round(age) < 0:
        return f"heartbeat {human_duration(round(-age))} ahead of the clock"
    return f"heartbeat {human_duration(round(max(age, 0.0)))} ago"


def inspect_lock(
    path: Path, *, clock: Clock = SYSTEM_CLOCK, host: str | None = None
) -> LockInspection:
    """Decide whether the lock at ``path`` is stale, and why. Raises ``FileNotFoundError``.

    ``heartbeat_age_seconds`` is negative when the heartbeat lies ahead of ``clock``; such a lock
    is stale only when its holder is dead on this host.
    """
    this_host = host if host is not None else socket.gethostname()
    try:
        record = read_lock(path)
    except ValueError as exc:
        # Lock files are created complete (create_exclusive), so an unreadable one was not
        # written by a live holder of this package: treat it as stale, and say so.
        return LockInspection(path, None, True, None, None, f"unreadable lock file: {exc}")
    age = clock.time() - record.heartbeat_at.timestamp()
    heartbeat = _heartbeat_age(age)
    alive: bool | None = None
    if record.host == this_host:
        alive = pid_alive(record.pid)
        if not alive:
            reason = f"holder pid {record.pid} on {record.host} is not running ({heartbeat})"
            return LockInspection(path, record, True, False, age, reason)
    # A heartbeat ahead of the clock (age < 0) is no evidence of staleness: the holder beat at a
    # time this clock has not reached, so it cannot have expired yet.
    if age > record.ttl_seconds:
        reason = (
            f"heartbeat of pid {record.pid} on {record.host} is {human_duration(round(age))} "
            f"old, older than its TTL of {human_duration(record.ttl_seconds)}"
        )
        if alive:
            reason += f"; pid {record.pid} still runs on this host"
        return LockInspection(path, record, True, alive, age, reason)
    liveness = "running" if alive else "on another host"
    reason = f"held by pid {record.pid} on {record.host} ({liveness}, {heartbeat})"
    return LockInspection(path, record, False, alive, age, reason)


def is_stale(path: Path, *, clock: Clock = SYSTEM_CLOCK, host: str | None = None) -> bool:
    """Whether the lock at ``path`` is stale: its holder is dead on this host, or its heartbeat
    is older than its TTL (a heartbeat ahead of ``clock`` is not). Raises ``FileNotFoundError``
    when there is no lock."""
    return inspect_lock(path, clock=clock, host=host).stale


@contextlib.contextmanager
def _break_guard(path: Path) -> Any:
    """Serialise stale-lock removal between processes: an flock on the lock's folder itself,
    so that checking for staleness leaves no file behind (a refused command changes nothing)."""
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def break_stale_lock(
    path: Path, *, clock: Clock = SYSTEM_CLOCK, host: str | None = None
) -> LockInspection | None:
    """Remove the lock at ``path`` if and only if it is stale; return the inspection that
    justified the removal, or ``None`` when nothing was removed (absent or live)."""
    try:
        if not inspect_lock(path, clock=clock, host=host).stale:
            return None  # live: nothing to break, and no need to take the guard
    except FileNotFoundError:
        return None
    with _break_guard(path):
        try:
            inspection = inspect_lock(path, clock=clock, host=host)  # again, under the guard
        except FileNotFoundError:
            return None
        if not inspection.stale:
            return None
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return inspection


class WorkflowLock:
    """The lock of one workflow, held by this process.

    ``with WorkflowLock(layout, "workflow-123"):`` acquires (raising :class:`LockHeldError` when a
    live holder has it), and releases on exit. Pass ``break_stale=True`` to remove a stale lock
    first; the removal is reported through ``on_break``.
    """

    def __init__(
        self,
        layout: Layout,
        workflow_id: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
        break_stale: bool = False,
    ) -> None:
        if not ttl_seconds > 0:
            message = f"ttl_seconds must be > 0, got {ttl_seconds!r}"
            raise ValueError(message)
        self.path = layout.lock_file(workflow_id)
        self.workflow_id = workflow_id
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self.break_stale = break_stale
        self.broken: LockInspection | None = None
        self._record: LockRecord | None = None

    def __repr__(self) -> str:
        state = "held" if self._record is not None else "not held"
        return f"WorkflowLock({str(self.path)!r}, {state})"

    @property
    def held(self) -> bool:
        return self._record is not None

    def _new_record(self, token: str) -> LockRecord:
        now = utcnow(self.clock)
        return LockRecord(
            pid=os.getpid(),
            host=socket.gethostname(),
            created_at=now,
            heartbeat_at=now,
            ttl_seconds=self.ttl_seconds,
            token=token,
            workflow_id=self.workflow_id,
        )

    @staticmethod
    def _encode(record: LockRecord) -> bytes:
        return (record.model_dump_json(indent=2) + "\n").encode()

    def acquire(self) -> Self:
        """Take the lock, or raise :class:`LockHeldError` naming the live holder."""
        if self._record is not None:
            message = f"{self.path}: this WorkflowLock is already held"
            raise RuntimeError(message)
        record = self._new_record(secrets.token_hex(8))
        for _ in range(3):  # the holder may release between our create and our inspection
            if create_exclusive(self.path, self._encode(record)):
                self._record = record
                return self
            if self.break_stale:
                self.broken = break_stale_lock(self.path, clock=self.clock) or self.broken
                if create_exclusive(self.path, self._encode(record)):
                    self._record = record
                    return self
            try:
                inspection = inspect_lock(self.path, clock=self.clock)
            except FileNotFoundError:
                continue
            raise LockHeldError(self.path, inspection.locked_by)
        raise LockHeldError(self.path, "holders that kept changing while we tried")

    def _still_ours(self) -> bool:
        assert self._record is not None  # noqa: S101 -- callers check held first
        try:
            return read_lock(self.path).token == self._record.token
        except (OSError, ValueError):
            return False

    def heartbeat(self) -> None:
        """Refresh ``heartbeat_at``; raise :class:`LockLostError` if the lock is no longer ours."""
        if self._record is None or not self._still_ours():
            message = f"{self.path}: lock is no longer held by this process (broken as stale?)"
            raise LockLostError(message)
        self._record = self._record.model_copy(update={"heartbeat_at": utcnow(self.clock)})
        write_atomic(self.path, self._encode(self._record))

    def release(self) -> None:
        """Remove the lock file if it still holds this holder's record."""
        if self._record is None:
            return
        if self._still_ours():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self._record = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def list_locks(
    layout: Layout, *, clock: Clock = SYSTEM_CLOCK, host: str | None = None
) -> list[LockInspection]:
    """Every lock file of the project with its inspection, sorted by path."""
    if not layout.state_dir.is_dir():
        return []
    found = []
    for path in sorted(layout.state_dir.glob("*.lock")):
        with contextlib.suppress(FileNotFoundError):
            found.append(inspect_lock(path, clock=clock, host=host))
    return found
