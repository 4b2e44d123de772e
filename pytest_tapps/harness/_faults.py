"""The fault catalogue: what can go wrong, injected on purpose.

Two kinds of fault:

- **step faults** change how steps run: wrap a step runner with :meth:`Faults.runner` and the
  registered faults fire on the attempts they name (``StepTimeout``, ``StepFailure``, ``Flaky``,
  ``Hang``, ``Slow``);
- **tree faults** change the project on disk at once (``CrashDuringWrite``, ``CorruptCacheEntry``,
  ``StaleLock``, ``LiveLock``, ``StuckWorktree``, ``PermissionDenied``, ``DiskFull``,
  ``ClockSkew``).

A fault that cannot be injected (git on a fake filesystem, permissions as root on the real one)
raises :class:`FaultError`, a harness error: it is not a failure of the system under test.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pytest_tapps.core import DEFAULT_TTL_SECONDS, StepError
from pytest_tapps.harness._project import Age, HarnessError, NotInLayout, TappsProject, age_seconds

if TYPE_CHECKING:
    from pytest_tapps.core import StepContext, StepDefinition, StepRunner


class FaultError(HarnessError):
    """A fault could not be injected (a harness problem, not a failure of the system under test)."""


class FaultUnavailable(FaultError):
    """A fault this machine cannot stage (a kernel feature or a permission it lacks); a
    scenario that uses it is skipped, with this message as the reason."""


Attempts = Literal["all"] | int | Iterable[int]


def _hits(attempts: Attempts, attempt: int) -> bool:
    if attempts == "all":
        return True
    if isinstance(attempts, int):
        return attempt == attempts
    return attempt in set(attempts)


# -- step faults --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepTimeout:
    """The step outlives its timeout on the given attempts (``"all"``, ``n`` or ``[n, m]``)."""

    step: str
    attempts: Attempts = "all"

    def fire(self, step: StepDefinition, context: StepContext) -> None:
        if step.id == self.step and _hits(self.attempts, context.attempt):
            context.sleep(context.remaining() + 1)  # stops exactly at the deadline


@dataclass(frozen=True)
class StepFailure:
    """The step fails with an envelope of ``category`` on the given attempts."""

    step: str
    category: str = "execution"
    recoverable: bool = False
    attempts: Attempts = "all"
    message: str = "injected failure"

    def fire(self, step: StepDefinition, context: StepContext) -> None:
        if step.id == self.step and _hits(self.attempts, context.attempt):
            raise StepError(self.message, category=self.category, recoverable=self.recoverable)


@dataclass(frozen=True)
class FailedResult:
    """The step's agent returns ``{"success": False, "error": error}`` on the given attempts,
    without raising (``error`` ``None``: the result has no ``error`` key): an envelope, a
    message, or any JSON an agent may write there (a list, a number); with ``trace_id``, the
    result carries the agent's own trace id beside ``error``."""

    step: str
    attempts: Attempts = "all"
    error: Any = None
    #: The agent's own trace id, beside ``error`` in its result (not inside the envelope).
    trace_id: str | None = None

    def fire(self, step: StepDefinition, context: StepContext) -> dict[str, Any] | None:
        if step.id != self.step or not _hits(self.attempts, context.attempt):
            return None
        result: dict[str, Any] = {"success": False}
        if self.error is not None:
            result["error"] = dict(self.error) if isinstance(self.error, Mapping) else self.error
        if self.trace_id is not None:
            result["trace_id"] = self.trace_id
        return result


@dataclass(frozen=True)
class Flaky:
    """The step fails ``failures`` times (recoverably), then succeeds."""

    step: str
    failures: int = 1
    category: str = "external_dependency"

    def fire(self, step: StepDefinition, context: StepContext) -> None:
        if step.id == self.step and context.attempt <= self.failures:
            message = f"flaky: failure {context.attempt} of {self.failures}"
            raise StepError(message, category=self.category, recoverable=True)


@dataclass(frozen=True)
class Hang:
    """The step never returns by itself and stops heartbeating: only its timeout ends it."""

    step: str
    attempts: Attempts = "all"

    def fire(self, step: StepDefinition, context: StepContext) -> None:
        if step.id == self.step and _hits(self.attempts, context.attempt):
            context.sleep(float("inf"))


@dataclass(frozen=True)
class Slow:
    """The step's agent takes ``takes`` seconds, then goes on, on the given attempts: within its
    timeout it succeeds late; past it, its timeout stops it. With ``ignores_timeout`` it never
    looks at its deadline (a synchronous agent nothing can interrupt): it returns after all of
    ``takes``, and the executor finds the overrun only then."""

    step: str
    takes: float
    attempts: Attempts = "all"
    ignores_timeout: bool = False

    def fire(self, step: StepDefinition, context: StepContext) -> None:
        if step.id == self.step and _hits(self.attempts, context.attempt):
            if self.ignores_timeout:
                context.clock.sleep(self.takes)
            else:
                context.sleep(self.takes)


class ExecutorKilled(BaseException):
    """The executor's process died (``kill -9``) mid-step: raised by :class:`KillExecutor`.

    A ``BaseException``, so no ``except Exception`` of the system under test handles it: it
    unwinds the executor as the death would, saving nothing more. The runner that fired it
    makes it real: :func:`pytest_tapps.scenario.fault_runner` (in a subprocess) kills its own
    process; :meth:`Faults.runner` (in-process) leaves the lock file behind with a dead holder,
    as the dead process would have."""


@dataclass(frozen=True)
class KillExecutor:
    """The executor dies in the middle of the step on the given attempts (the first by
    default, so that a resume can finish the step)."""

    step: str
    attempts: Attempts = (1,)

    def fire(self, step: StepDefinition, context: StepContext) -> None:
        if step.id == self.step and _hits(self.attempts, context.attempt):
            message = (
                f"the executor was killed (kill -9) during step {step.id!r}, "
                f"attempt {context.attempt}"
            )
            raise ExecutorKilled(message)


StepFault = StepTimeout | StepFailure | FailedResult | Flaky | Hang | Slow | KillExecutor
#: The step faults by the key a scenario writes them with.
STEP_FAULTS: dict[str, type[StepFault]] = {
    "step_timeout": StepTimeout,
    "step_failure": StepFailure,
    "failed_result": FailedResult,
    "flaky": Flaky,
    "hang": Hang,
    "slow": Slow,
    "kill_executor": KillExecutor,
}
#: A pid above Linux's largest (``pid_max`` is at most 2**22): no process has it.
DEAD_PID = 2**22 + 12345
#: A pid no process can have (more than the kernel's pid type holds): a hand-edited lock's.
IMPOSSIBLE_PID = 99999999999999999999


def step_faults_from_data(plain: Iterable[Mapping[str, Any]]) -> list[StepFault]:
    """Step faults written as plain data (``[{"flaky": {"step": "a", "failures": 2}}]``, as a
    scenario's faults travel to a subprocess or another implementation's seam)."""
    faults: list[StepFault] = []
    for item in plain:
        ((name, raw),) = item.items()
        spec = dict(raw)
        if isinstance(spec.get("attempts"), list):
            spec["attempts"] = tuple(spec["attempts"])
        faults.append(STEP_FAULTS[name](**spec))
    return faults


def fire_all(faults: Iterable[StepFault], step: StepDefinition, context: Any) -> Any:
    """Fire each fault on this attempt of ``step``; the failed result the first one that
    returns one gave (:class:`FailedResult`), else ``None``: the step goes on to succeed."""
    for fault in faults:
        result = fault.fire(step, context)
        if result is not None:
            return result
    return None


class _Wait(Exception):
    """A fault's sleep, handed back to the awaited agent to await (:func:`fire_all_awaited`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class _AwaitingContext:
    """The step's context as an awaited agent's faults see it: the same, except that a sleep is
    handed back to the agent's coroutine, which awaits it (``StepContext.async_sleep``)."""

    def __init__(self, context: StepContext) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def sleep(self, seconds: float) -> None:
        raise _Wait(seconds)


async def fire_all_awaited(faults: Iterable[StepFault], step: StepDefinition, context: Any) -> Any:
    """:func:`fire_all` as an async agent runs it (the runbook's ``await agent.run(...)``): a
    fault's sleep (a timeout, a hang) is awaited with ``context.async_sleep``, so the step's
    timeout ends the awaited sleep."""
    awaiting = cast("StepContext", _AwaitingContext(context))  # a StepContext but for sleep
    for fault in faults:
        try:
            result = fault.fire(step, awaiting)
        except _Wait as wait:
            await context.async_sleep(wait.seconds)
            continue
        if result is not None:
            return result
    return None


def _exited_child() -> subprocess.Popen[str]:
    """A child process that has run nothing and exited, not yet reaped (a zombie until its
    parent waits for it)."""
    child = subprocess.Popen([shutil.which("true") or sys.executable, "-c", "pass"], text=True)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    return child


def work_in_worktree(step: StepDefinition, context: StepContext) -> None:
    """What a step of the harness does besides its faults: a step whose definition has
    ``metadata: {worktree: NAME}`` works in ``.tapps-agents/worktrees/NAME`` (made if missing,
    with a log file written at the clock's now) and names it on the attempt's context, so the
    execution records it as the real package's steps do."""
    name = step.metadata.get("worktree")
    if not isinstance(name, str) or not name:
        return
    from pytest_tapps.core import Layout

    folder = Layout(context.project_root).worktree(name)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{step.id}-attempt-{context.attempt}.log"
    log.write_text(f"{context.workflow_id} {step.id} attempt {context.attempt}\n")
    now = context.clock.time()
    os.utime(log, (now, now))
    os.utime(folder, (now, now))
    context.worktree = name


@dataclass
class Faults:
    """The faults of one test, against one project. Tree faults apply at once."""

    project: TappsProject
    step_faults: list[StepFault] = field(default_factory=list)
    _undo: list[Callable[[], object]] = field(default_factory=list, repr=False)

    # step faults ------------------------------------------------------------------------------

    def add(self, fault: StepFault) -> StepFault:
        """Register a step fault (it fires through :meth:`runner`)."""
        self.step_faults.append(fault)
        return fault

    def step_timeout(self, step: str, attempts: Attempts = "all") -> StepFault:
        return self.add(StepTimeout(step, attempts))

    def step_failure(
        self,
        step: str,
        category: str = "execution",
        *,
        recoverable: bool = False,
        attempts: Attempts = "all",
        message: str = "injected failure",
    ) -> StepFault:
        return self.add(StepFailure(step, category, recoverable, attempts, message))

    def flaky(
        self, step: str, failures: int = 1, category: str = "external_dependency"
    ) -> StepFault:
        return self.add(Flaky(step, failures, category))

    def hang(self, step: str, attempts: Attempts = "all") -> StepFault:
        return self.add(Hang(step, attempts))

    def slow(
        self, step: str, takes: float, attempts: Attempts = "all", *, ignores_timeout: bool = False
    ) -> StepFault:
        return self.add(Slow(step, takes, attempts, ignores_timeout))

    def kill_executor(self, step: str, attempts: Attempts = (1,)) -> StepFault:
        return self.add(KillExecutor(step, attempts))

    def runner(self, base: StepRunner | None = None, *, awaited: bool = False) -> StepRunner:
        """A step runner that fires the registered faults, then runs ``base`` (if any).

        ``awaited``: the runner is an async agent's: it returns a coroutine the executor awaits,
        in which a fault's sleep (a timeout, a hang) is awaited (:func:`fire_all_awaited`).

        When :class:`KillExecutor` fires, the executor runs in this process, which must live
        on: the lock file is left to a dead holder before :class:`ExecutorKilled` unwinds the
        executor (whose own release then finds the lock no longer its own)."""

        def run(step: StepDefinition, context: StepContext) -> Any:
            work_in_worktree(step, context)
            if awaited:
                return run_awaited(step, context)
            with self._killed(context):
                result = fire_all(self.step_faults, step, context)
            if result is not None:
                return result
            return None if base is None else base(step, context)

        async def run_awaited(step: StepDefinition, context: StepContext) -> Any:
            with self._killed(context):
                result = await fire_all_awaited(self.step_faults, step, context)
            if result is not None or base is None:
                return result
            outcome = base(step, context)
            return await outcome if inspect.isawaitable(outcome) else outcome

        return run

    @contextlib.contextmanager
    def _killed(self, context: StepContext) -> Iterator[None]:
        """Leaves the workflow's lock to a dead holder when :class:`KillExecutor` fires."""
        try:
            yield
        except ExecutorKilled:
            self._abandon_lock(context.workflow_id)
            raise

    def _abandon_lock(self, workflow_id: str) -> None:
        """The workflow's lock, as its holder's death leaves it: the same times, a dead pid,
        and a token that is no longer this process's."""
        if not self.project.layout.profile.workflow_locks:
            return
        from pytest_tapps.core._fsutil import write_atomic

        path = self.project.layout.lock_file(workflow_id)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return  # no lock (or no readable one) to leave behind
        record.update(pid=DEAD_PID, token="killed")  # noqa: S106 -- a lock token, no secret
        write_atomic(path, json.dumps(record).encode())

    # tree faults ------------------------------------------------------------------------------

    def crash_during_write(self, workflow_id: str, *, kind: str = "truncated") -> Path:
        """A state write killed half-way: a hidden temp file left over (``kind="temp"``), or
        a truncated state file (``kind="truncated"``, what a non-atomic writer leaves)."""
        layout = self.project.layout
        path = layout.current_state_file
        if path is None:  # the real package's layout: the save its meta file points at
            from pytest_tapps.core._real_state import saved_state_file

            path = saved_state_file(layout, workflow_id) or layout.history_file(workflow_id)
        elif not path.exists():
            path = layout.history_file(workflow_id)
        if kind == "temp":
            leftover = path.with_name(f".{path.name}.99999.dead.tmp")
            self.project.write(leftover, '{"workflow_id": "' + workflow_id + '", "sta')
            return leftover
        if kind != "truncated":
            message = f"crash_during_write(kind={kind!r}): use 'truncated' or 'temp'"
            raise FaultError(message)
        if not path.exists():
            message = f"crash_during_write: workflow {workflow_id!r} has no state file to damage"
            raise FaultError(message)
        data = path.read_bytes()
        path.write_bytes(data[: max(1, len(data) // 2)])
        return path

    def corrupt_cache_entry(self, library_id: str, kind: str = "truncated") -> Path:
        """Damage a Context7 entry: ``truncated``, ``bad-json``, ``bad-yaml``, ``hash``, ``empty``,
        ``garbage`` or ``no-meta``. In the real package's layout (no hashes, no JSON documents)
        ``hash`` and ``bad-json`` have no counterpart; ``bad-yaml`` damages ``meta.yaml``."""
        if self.project.layout.profile.context7_format == "kb":
            return self._corrupt_kb_entry(library_id, kind)
        entry = self.project.layout.context7_entry(library_id)
        if not (entry / "meta.json").exists():
            self.project.context7(
                library_id,
                {"docs.md": "# docs\n" * 20, "index.json": "{}", "topics.yaml": "a: 1\n"},
            )
        document = entry / "docs.md"
        data = document.read_bytes()
        if kind == "truncated":
            document.write_bytes(data[:5])
        elif kind == "bad-json":
            self._rewrite(entry, "index.json", b"{not json")
        elif kind == "bad-yaml":
            self._rewrite(entry, "topics.yaml", b"a: [1,")
        elif kind == "hash":
            document.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, one bit changed
        elif kind == "empty":
            document.write_bytes(b"")
        elif kind == "garbage":
            document.write_bytes(os.urandom(len(data)))
        elif kind == "no-meta":
            (entry / "meta.json").unlink()
        else:
            kinds = ["bad-json", "bad-yaml", "empty", "garbage", "hash", "no-meta", "truncated"]
            message = f"corrupt_cache_entry(kind={kind!r}): use one of {kinds}"
            raise FaultError(message)
        return entry

    def _corrupt_kb_entry(self, library_id: str, kind: str) -> Path:
        entry = self.project.layout.context7_entry(library_id.lower())
        if not (entry / "meta.yaml").exists():
            self.project.context7(library_id, {"docs.md": "# docs\n" * 20})
        document = sorted(entry.glob("*.md"))[0]
        data = document.read_bytes()
        damage: dict[str, Callable[[], Any]] = {
            "truncated": lambda: document.write_bytes(data[:5]),
            "bad-yaml": lambda: (entry / "meta.yaml").write_bytes(b"topics: [docs"),
            "empty": lambda: document.write_bytes(b""),
            "garbage": lambda: document.write_bytes(os.urandom(len(data))),
            "no-meta": (entry / "meta.yaml").unlink,
        }
        if kind in ("hash", "bad-json"):
            what = "hashes" if kind == "hash" else "JSON documents"
            layout = self.project.layout.profile.name
            message = (
                f"corrupt_cache_entry(kind={kind!r}): the {layout} layout's entries have no {what}"
            )
            raise NotInLayout(message)
        if kind not in damage:
            message = f"corrupt_cache_entry(kind={kind!r}): use one of {sorted(damage)}"
            raise FaultError(message)
        damage[kind]()
        return entry

    @staticmethod
    def _rewrite(entry: Path, name: str, data: bytes) -> None:
        """Replace a document and its hash in meta.json, so only its content is bad."""
        import hashlib

        (entry / name).write_bytes(data)
        meta = json.loads((entry / "meta.json").read_text())
        meta["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        (entry / "meta.json").write_text(json.dumps(meta))

    def stale_lock(
        self,
        workflow_id: str,
        *,
        kind: str = "dead-pid",
        heartbeat_age: float | None = None,
        created_age: float | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> Path:
        """A lock whose holder is gone (``dead-pid``), was killed but not yet reaped by its
        parent (``zombie``: ``<defunct>`` in ``ps``), whose heartbeat expired (``expired``), or
        whose pid was hand-edited to one no process can have (``impossible-pid``:
        :data:`IMPOSSIBLE_PID`, with a fresh heartbeat).

        Its heartbeat is ``heartbeat_age`` seconds old (default: fresh, or an hour for
        ``expired``), it was taken ``created_age`` seconds ago (default: at the heartbeat) and
        its TTL is ``ttl_seconds``: a captured lock keeps its own times."""
        if kind not in ("dead-pid", "zombie", "expired", "impossible-pid"):
            message = (
                f"stale_lock(kind={kind!r}): use 'dead-pid', 'zombie', 'expired' or "
                "'impossible-pid'"
            )
            raise FaultError(message)
        if heartbeat_age is None:
            heartbeat_age = 3600.0 if kind == "expired" else 0.0
        if kind == "dead-pid":
            pid = self._dead_pid()
        elif kind == "zombie":
            pid = self._zombie_pid()
        elif kind == "expired":
            pid = os.getpid()
        else:
            pid = IMPOSSIBLE_PID
        return self._aged_lock(workflow_id, pid, heartbeat_age, created_age, ttl_seconds)

    def _aged_lock(
        self,
        workflow_id: str,
        pid: int,
        heartbeat_age: float,
        created_age: float | None,
        ttl_seconds: float,
    ) -> Path:
        from pytest_tapps.core import to_iso
        from pytest_tapps.core._timeutil import from_epoch

        now = self.project.clock.time()
        created = None if created_age is None else to_iso(from_epoch(now - created_age))
        return self._lock_file(
            workflow_id, pid, now - heartbeat_age, ttl_seconds=ttl_seconds, created_at=created
        )

    def _lock_file(
        self,
        workflow_id: str,
        pid: int,
        beat: float,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        created_at: str | None = None,
    ) -> Path:
        """A lock file as :class:`~pytest_tapps.core.WorkflowLock` writes it, held by ``pid``
        with its last heartbeat at ``beat`` (on the project's clock), a TTL of
        ``ttl_seconds``, taken at ``created_at`` (ISO time; default: at ``beat``)."""
        import socket

        from pytest_tapps.core import to_iso
        from pytest_tapps.core._timeutil import from_epoch

        self._need_workflow_locks()
        record = {
            "pid": pid,
            "host": socket.gethostname(),
            "created_at": created_at or to_iso(from_epoch(beat)),
            "heartbeat_at": to_iso(from_epoch(beat)),
            "ttl_seconds": ttl_seconds,
            "workflow_id": workflow_id,
            "token": "injected",
        }
        path = self.project.layout.lock_file(workflow_id)
        self.project.write(path, json.dumps(record))
        return path

    def _need_workflow_locks(self) -> None:
        profile = self.project.layout.profile
        if not profile.workflow_locks:
            message = (
                f"the {profile.name} layout has no workflow lock files "
                "(that package does not lock a running workflow)"
            )
            raise NotInLayout(message)

    def _dead_pid(self) -> int:
        """The pid of a process that has exited (and been reaped)."""
        if self.project.fake_fs:
            return DEAD_PID
        child = _exited_child()
        child.wait()
        return child.pid

    def _zombie_pid(self) -> int:
        """The pid of a child that has exited but is not reaped until :meth:`close`: the pid
        still exists (``kill(pid, 0)`` succeeds), yet the process runs nothing."""
        if self.project.fake_fs:
            message = (
                "a zombie lock holder needs the real filesystem (its state is read from /proc): "
                "use fs='real'"
            )
            raise FaultError(message)
        child = _exited_child()
        self._stop_at_close(child)
        return child.pid

    def beat(self, workflow_id: str, holder: subprocess.Popen[str]) -> None:
        """The live ``holder`` refreshes its heartbeat to the clock's now, as a healthy
        executor does while it works (a holder that never beats is a hung one). The lock keeps
        the time it was taken, as :meth:`~pytest_tapps.core.WorkflowLock.heartbeat` does."""
        path = self.project.layout.lock_file(workflow_id)
        try:
            created_at = json.loads(path.read_text()).get("created_at")
        except (OSError, ValueError, AttributeError):
            created_at = None  # gone or damaged: taken anew
        self._lock_file(
            workflow_id,
            holder.pid,
            self.project.clock.time(),
            created_at=created_at if isinstance(created_at, str) else None,
        )

    def _stop_at_close(self, child: subprocess.Popen[str]) -> None:
        """Stop a helper process at :meth:`close`: its stdin closed (it ends by itself), else
        killed; its pipes closed."""

        def stop() -> None:
            if child.stdin is not None:
                child.stdin.close()
            if child.poll() is None:
                child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()

        self._undo.append(stop)

    def live_lock(
        self,
        workflow_id: str,
        *,
        process_name: str | None = None,
        heartbeat_age: float = 0.0,
        created_age: float | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> subprocess.Popen[str]:
        """A real, live child process holds the workflow's lock until the test ends; its
        heartbeat is the project clock's now (a virtual clock's time, in a scenario), so it goes
        stale only as that clock moves past the lock's TTL, like a hung executor's.

        ``process_name`` is the holder's name as ``ps`` and ``/proc/PID/stat`` show it (at most
        15 characters, no ``/``), such as ``(sd-pam)``: it runs through a link of that name.
        ``heartbeat_age``, ``created_age`` and ``ttl_seconds`` give the lock its own times, as
        :meth:`stale_lock`'s do (a live holder whose heartbeat is older than its TTL is hung)."""
        if self.project.fake_fs:
            message = (
                "live_lock needs the real filesystem (a child process holds the lock): "
                "use fs='real'"
            )
            raise FaultError(message)
        self._need_workflow_locks()
        cat = shutil.which("cat")
        command = [sys.executable, "-c", "import sys; sys.stdin.read()"] if cat is None else [cat]
        if process_name is not None:
            import tempfile

            folder = Path(tempfile.mkdtemp(prefix="tapps-holder-"))
            self._undo.append(lambda: shutil.rmtree(folder, ignore_errors=True))
            (folder / process_name).symlink_to(command[0])
            command[0] = str(folder / process_name)
        child = subprocess.Popen(
            command,  # lives until its stdin closes; starts in a millisecond
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )

        self._stop_at_close(child)
        self._aged_lock(workflow_id, child.pid, heartbeat_age, created_age, ttl_seconds)
        return child

    def stuck_worktree(self, name: str, kind: str = "locked") -> Path:
        """A real git worktree that is ``locked``, ``dirty``, ``prunable`` (folder deleted by
        hand, still registered) or plain ``gone``."""
        if kind not in ("locked", "dirty", "prunable", "gone"):
            message = f"stuck_worktree(kind={kind!r}): use locked, dirty, prunable or gone"
            raise FaultError(message)
        try:
            return self.project.worktree(
                name,
                git=True,
                locked=kind == "locked",
                dirty=kind == "dirty",
                gone=kind in ("prunable", "gone"),
            )
        except HarnessError as exc:
            raise FaultError(str(exc)) from None

    def locked_file(self, relative: str, *, kind: str = "flock") -> Path:
        """A file (under .tapps-agents/, made if missing) on which a live child process holds an
        exclusive lock until the test ends, as a running program holds its log (``flock``) or
        database (``kind="posix"``: an ``fcntl`` lock, SQLite's): a cleanup must leave it
        (needs the real filesystem: the lock is in the kernel's table, which a process on the
        fake filesystem cannot take)."""
        if kind not in ("flock", "posix"):
            message = f"locked_file: kind {kind!r}: give 'flock' or 'posix'"
            raise FaultError(message)
        if self.project.fake_fs:
            message = "locked_file needs the real filesystem (a child process holds the lock)"
            raise FaultError(message)
        path = self.project.layout.tapps_dir / relative
        if not path.exists():
            self.project.file(relative)
        child = subprocess.Popen(
            [sys.executable, "-c", _HOLD_FLOCK, str(path), kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

        self._stop_at_close(child)
        assert child.stdout is not None  # noqa: S101 -- created with a pipe
        if child.stdout.readline().strip() != "locked":
            message = f"locked_file: could not lock {path}"
            raise FaultError(message)
        return path

    def clock_skew(self, relative: str, *, ahead: Age = "1h") -> Path:
        """Give a file (under .tapps-agents/) an mtime in the future."""
        path = self.project.layout.tapps_dir / relative
        if not path.exists():
            self.project.file(relative)
        self.project.age(path, -age_seconds(ahead))
        return path

    def permission_denied(self, relative: str, *, listable: bool = False) -> Path:
        """Make a file or folder unreadable and unwritable (needs a non-root user or fs='fake');
        ``listable``: a folder whose names can still be listed (read, not search, permission)."""
        path = self.project.layout.tapps_dir / relative
        if not self.project.fake_fs and os.geteuid() == 0:
            message = (
                "permission_denied cannot be injected as root on the real filesystem (root "
                "ignores permissions): use fs='fake', which emulates a normal user"
            )
            raise FaultError(message)
        mode = path.stat().st_mode
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH if listable else 0)
        self._undo.append(lambda: _restore_mode(path, mode))
        return path

    def undeletable(self, relative: str) -> Path:
        """The files directly in a folder (under .tapps-agents/) cannot be removed, as in a
        folder another user made read-only: a cleanup that reaches them fails on each, must
        say so and go on. The folder may still be moved; it must hold files only.

        On the fake filesystem and for a non-root user the folder is made read-only (r-x). As
        root on the real filesystem, which modes do not stop, each file is made immutable
        (``chattr +i``; Linux, on a filesystem with the flag, with CAP_LINUX_IMMUTABLE): else
        :class:`FaultUnavailable`. Undone at close, wherever the files were moved meanwhile."""
        folder = self.project.layout.tapps_dir / relative
        if not folder.is_dir() or folder.is_symlink():
            message = f"undeletable: {relative} is not a folder under .tapps-agents/"
            raise FaultError(message)
        files = sorted(folder.iterdir())
        if not files or any(entry.is_symlink() or not entry.is_file() for entry in files):
            message = (
                f"undeletable: {relative} must hold files, and files only (it is empty, or a "
                "folder or link is in it)"
            )
            raise FaultError(message)
        if self.project.fake_fs:  # emulates a normal user; gone with the fake filesystem
            folder.chmod(0o555)  # r-x: nothing added or removed
            return folder
        if os.geteuid() != 0:
            self._undo.append(_held_mode(folder, 0o555))
            return folder
        for file in files:
            self._undo.append(_immutable(file))
        return folder

    def disk_full(self, free_bytes: int = 0) -> None:
        """Writes beyond ``free_bytes`` more fail with ENOSPC (needs fs='fake')."""
        filesystem = self.project.filesystem
        if filesystem is None:
            message = (
                "disk_full needs fs='fake' (pyfakefs can limit the disk size; the real disk "
                "cannot be filled safely)"
            )
            raise FaultError(message)
        root = str(self.project.root)
        # pyfakefs counts what is on the disk only once the disk has a size: give it one first,
        # or ``used`` is 0 and the disk is made smaller than what it holds already.
        filesystem.set_disk_usage(2**50, root)
        used = filesystem.get_disk_usage(root).used
        filesystem.set_disk_usage(used + free_bytes, root)

    def close(self) -> None:
        """Undo what must be undone and stop helper processes (the fixture calls this). Every
        undo runs, even after one fails (an immutable file must not outlive the test); the
        first failure is raised after."""
        first: BaseException | None = None
        while self._undo:
            try:
                self._undo.pop()()
            except Exception as exc:  # kept, raised once every undo ran
                first = first or exc
        if first is not None:
            raise first


#: A child that takes an exclusive flock on argv[1], says so, and holds it until stdin closes.
_HOLD_FLOCK = (
    "import fcntl, sys\n"
    "f = open(sys.argv[1], 'ab')\n"  # a POSIX write lock needs a descriptor open to write
    "if sys.argv[2] == 'posix':\n"
    "    fcntl.lockf(f, fcntl.LOCK_EX)\n"
    "else:\n"
    "    fcntl.flock(f, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


def _held_mode(folder: Path, mode: int) -> Callable[[], None]:
    """Give ``folder`` ``mode``; the undo gives its mode back through a descriptor held
    meanwhile, so it finds the folder wherever a cleanup moved it (a tombstone)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        before = os.fstat(fd).st_mode
        os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        raise

    def undo() -> None:
        try:
            os.fchmod(fd, stat.S_IMODE(before))
        finally:
            os.close(fd)

    return undo


#: Linux's ``FS_IOC_GETFLAGS``/``FS_IOC_SETFLAGS`` ioctls and ``FS_IMMUTABLE_FL`` (``chattr +i``).
_GETFLAGS, _SETFLAGS, _IMMUTABLE = 0x80086601, 0x40086602, 0x10


def _set_immutable(fd: int, *, on: bool) -> None:
    import fcntl
    import struct

    (flags,) = struct.unpack("i", fcntl.ioctl(fd, _GETFLAGS, b"\0" * 4))
    flags = flags | _IMMUTABLE if on else flags & ~_IMMUTABLE
    fcntl.ioctl(fd, _SETFLAGS, struct.pack("i", flags))


def _immutable(file: Path) -> Callable[[], None]:
    """Make ``file`` immutable; the undo clears the flag through a descriptor held meanwhile
    (the file may have been moved), and closes it."""
    fd = os.open(file, os.O_RDONLY)
    try:
        _set_immutable(fd, on=True)
    except OSError as exc:
        os.close(fd)
        message = (
            f"undeletable: cannot make {file.name} immutable as root here ({exc.strerror}: "
            "the filesystem lacks the flag or this process lacks CAP_LINUX_IMMUTABLE); run as "
            "a non-root user, or with fs: fake"
        )
        raise FaultUnavailable(message) from None

    def undo() -> None:
        try:
            _set_immutable(fd, on=False)
        finally:
            os.close(fd)

    return undo


def _restore_mode(path: Path, mode: int) -> None:
    """Give ``path`` its mode back, unless the code under test removed it or moved it aside
    (a cleanup renames a folder to a tombstone before emptying it)."""
    with contextlib.suppress(FileNotFoundError):
        path.chmod(mode)


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
sys.stdin.read()  # hold until the parent closes our stdin
lock.release()
"""


def spawn_lock_holder(root: Path, workflow_id: str, go: Path) -> subprocess.Popen[str]:
    """A real child process that takes the workflow's lock once ``go`` exists and holds it until
    its stdin closes; it prints ``won`` or ``lost``."""
    return subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(root), workflow_id, str(go)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def hold_lock(root: Path, workflow_id: str) -> Iterator[subprocess.Popen[str]]:
    """The workflow's lock held by a live child process for the block."""
    go = Path(root) / f".go-{workflow_id}"
    go.parent.mkdir(parents=True, exist_ok=True)
    go.touch()
    child = spawn_lock_holder(Path(root), workflow_id, go)
    try:
        assert child.stdout is not None  # noqa: S101 -- created with a pipe
        if child.stdout.readline().strip() != "won":
            message = f"could not take the lock of {workflow_id!r}: another holder has it"
            raise FaultError(message)
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
        go.unlink(missing_ok=True)
