"""Running one scenario: build the tree, inject the faults, act through a target, check.

Three outcomes besides a pass stay apart: :class:`ScenarioFailure` (the system under test did
not do what the scenario expects), a :class:`~pytest_tapps.harness.HarnessError` (a fault could
not be injected here), and :class:`~pytest_tapps.scenario.Unsupported` (the target cannot
perform an action). An invalid scenario never gets this far: it fails at load time.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_tapps.core import LayoutProfile, VirtualClock
from pytest_tapps.core._fsutil import fsync_off
from pytest_tapps.harness import (
    ExecutorKilled,
    FailedResult,
    Faults,
    FaultUnavailable,
    HarnessError,
    NotInLayout,
    TappsProject,
    capture_logs,
    layout_profile,
    project,
)
from pytest_tapps.harness._time import DEFAULT_NOW, to_epoch
from pytest_tapps.scenario._expect import check
from pytest_tapps.scenario._load import Loaded
from pytest_tapps.scenario._model import (
    HARNESS_ACTIONS,
    FileSpec,
    Given,
    Scenario,
    action_name,
    action_value,
)
from pytest_tapps.scenario._targets import CoreTarget, Outcome, Session, Target, Unsupported

#: How a shell reports a process killed by ``kill -9`` (128 + SIGKILL), as the command target
#: does.
KILLED_EXIT_CODE = 137


class ScenarioFailure(AssertionError):
    """The system under test did not behave as the scenario expects."""


class ScenarioSkip(Exception):
    """The scenario cannot run on this machine (a requirement is missing)."""


@dataclass
class Performed:
    """One action and its outcome."""

    index: int
    name: str
    value: Any
    outcome: Outcome


@dataclass
class Result:
    """Everything the expectations look at after the actions."""

    scenario: Scenario
    loaded: Loaded
    session: Session
    target: Target
    before: dict[str, str]
    after: dict[str, str]
    start: float
    performed: list[Performed] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def last(self, *names: str) -> Performed | None:
        """The last action among ``names`` (any action but ``advance`` when none is given)."""
        for done in reversed(self.performed):
            if done.name in names or (not names and done.name != "advance"):
                return done
        return None


def snapshot(root: Path) -> dict[str, str]:
    """The project and the ``../outside`` folder beside it, path by path."""
    found = TappsProject(root).snapshot()
    outside = root.parent / "outside"
    if outside.is_dir():
        found.update({f"../outside/{k}": v for k, v in TappsProject(outside).snapshot().items()})
    return found


def _requirements(scenario: Scenario) -> None:
    for need in scenario.requires:
        if need == "git" and shutil.which("git") is None:
            message = "requires git, which is not on PATH"
            raise ScenarioSkip(message)
        if need == "root" and os.geteuid() != 0:
            message = "requires running as root"
            raise ScenarioSkip(message)
        if need == "non-root" and os.geteuid() == 0 and scenario.fs == "real":
            message = "requires a non-root user (root ignores permissions); or use fs: fake"
            raise ScenarioSkip(message)


def build_given(proj: TappsProject, given: Given) -> None:
    """Write the ``given:`` tree into ``proj``."""
    from pytest_tapps.core import format_duration

    root = proj.root
    worktrees = {proj.worktree(**tree.model_dump()): tree.age for tree in given.worktrees}
    for spec in given.files:
        _write_file(proj, spec, worktrees)
    for entry in given.context7:
        proj.context7(entry.library, entry.documents, age=entry.age)
    for tiered in given.tiered:
        proj.tiered(tiered.name, age=tiered.age)
    if given.profile is not None:
        proj.write(proj.layout.project_profile, "language: python\n", age=given.profile.age)
    for state in given.states:
        builder = proj.workflow(state.id, state.status.value, current=state.current)
        for step in state.steps:
            error: Any = step.error
            if error is not None and not isinstance(error, str):
                error = error.model_dump(mode="json", exclude_none=True)
            builder.step(
                step.id,
                step.status.value,
                agent=step.agent,
                action=step.action,
                attempts=step.attempts,
                error=error,
                worktree=step.worktree,
            )
        builder.save()
    if given.retention:
        lines = ["retention:"]
        for name, value in given.retention.items():
            text = value if isinstance(value, str) else format_duration(value)
            lines.append(f"  {name}: {text}")
        proj.write(proj.layout.config_file, "\n".join(lines) + "\n")
    for link in given.symlinks:
        path = root / link.path
        path.parent.mkdir(parents=True, exist_ok=True)
        target = Path(os.path.normpath(root / link.target))
        path.symlink_to(target)
        proj.age(path, link.age)  # the link's own time (lstat), on the scenario's clock
    # Last, deepest first: making anything in a folder changes its mtime.
    for folder in sorted(given.folders, key=lambda f: -PurePosixPath(f.path).as_posix().count("/")):
        path = root / folder.path
        path.mkdir(parents=True, exist_ok=True)
        os.utime(path, (proj.clock.time() - folder.age,) * 2)


def _write_file(proj: TappsProject, spec: FileSpec, worktrees: dict[Path, float]) -> None:
    """A ``given.files`` entry (each of its files, with ``count:``). Inside a given worktree, a
    file without an ``age:`` of its own is as old as the worktree; one with an age keeps it (a
    fresh file keeps an old worktree alive, as the runbook ages a worktree by its newest file).
    The worktree's folders keep the worktree's age either way."""
    data = spec.data()
    if spec.count is not None and not worktrees:
        _write_numbered(proj, spec, data)
        return
    for relative, age in spec.expand():
        path = proj.root / relative
        owner = next((folder for folder in worktrees if path.is_relative_to(folder)), None)
        if owner is None:
            proj.write(path, data, age=age)
            continue
        proj.write(path, data, age=age if "age" in spec.model_fields_set else worktrees[owner])
        _age_worktree_folders(proj, path, owner, worktrees[owner])


def _write_numbered(proj: TappsProject, spec: FileSpec, data: bytes) -> None:
    """A ``count:`` entry's files, with plain ``os`` calls on str paths: a captured folder of
    100,000 files is written in about the time the files take (bench/bench_capture.py)."""
    now = proj.clock.time()
    root = str(proj.root)
    made: set[str] = set()
    for relative, age in spec.expand():
        path = os.path.join(root, relative)  # noqa: PTH118
        folder = os.path.dirname(path)  # noqa: PTH120
        if folder not in made:
            os.makedirs(folder, exist_ok=True)  # noqa: PTH103
            made.add(folder)
        fd = os.open(path, _WRITE_NEW, 0o666)
        try:
            written = os.write(fd, data)
            while written < len(data):  # a short write: a large file on some filesystems
                written += os.write(fd, data[written:])
        finally:
            os.close(fd)
        os.utime(path, (now - age, now - age))


#: ``open(path, "wb")`` as flags: its buffered file object cost a third of the writing.
_WRITE_NEW = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _age_worktree_folders(proj: TappsProject, path: Path, owner: Path, age: float) -> None:
    stamp = proj.clock.time() - age
    folder = path.parent
    while folder.is_relative_to(owner):
        os.utime(folder, (stamp, stamp))
        folder = folder.parent


def _tree_fault(faults: Faults, name: str, spec: Any) -> None:
    proj = faults.project
    tapps = proj.layout.tapps_dir
    if name == "crash_during_write":
        faults.crash_during_write(spec.workflow, kind=spec.kind)
    elif name == "corrupt_cache_entry":
        faults.corrupt_cache_entry(spec.library, spec.kind)
    elif name == "stuck_worktree":
        faults.stuck_worktree(spec.name, spec.kind)
    elif name == "locked_file":
        faults.locked_file(os.path.relpath(proj.root / spec.path, tapps), kind=spec.kind)
    elif name == "clock_skew":
        faults.clock_skew(os.path.relpath(proj.root / spec.path, tapps), ahead=spec.ahead)
    elif name == "permission_denied":
        faults.permission_denied(
            os.path.relpath(proj.root / spec.path, tapps), listable=spec.listable
        )
    elif name == "undeletable":
        try:
            faults.undeletable(os.path.relpath(proj.root / spec.path, tapps))
        except FaultUnavailable as exc:  # this machine cannot stage it: not the scenario's fault
            raise ScenarioSkip(str(exc)) from None
    elif name == "disk_full":
        faults.disk_full(spec.free_bytes)


def _step_faults(faults: Faults, scenario: Scenario) -> list[dict[str, Any]]:
    plain = []
    for fault in scenario.faults:
        name = action_name(fault)
        spec = action_value(fault)
        attempts: Any = getattr(spec, "attempts", "all")
        data = spec.model_dump(mode="json", exclude_none=True)  # a result's error: keys written
        if name == "step_timeout":
            faults.step_timeout(spec.step, attempts)
        elif name == "step_failure":
            faults.step_failure(
                spec.step,
                spec.category.value,
                recoverable=spec.recoverable,
                attempts=attempts,
                message=spec.message,
            )
        elif name == "failed_result":
            data.pop("raw_error", None)
            data["error"] = spec.returned_error()  # as the harness's FailedResult takes it
            faults.add(FailedResult(spec.step, attempts, data["error"], spec.trace_id))
        elif name == "flaky":
            faults.flaky(spec.step, spec.failures, spec.category.value)
        elif name == "hang":
            faults.hang(spec.step, attempts)
        elif name == "slow":
            faults.slow(spec.step, spec.takes, attempts, ignores_timeout=spec.ignores_timeout)
        elif name == "kill_executor":
            faults.kill_executor(spec.step, attempts)
        else:
            continue
        plain.append({name: data})
    return plain


def _locks(faults: Faults, given: Given) -> None:
    from pytest_tapps.core import DEFAULT_TTL_SECONDS

    for lock in given.locks:
        ttl = DEFAULT_TTL_SECONDS if lock.ttl is None else lock.ttl
        if lock.holder == "live":
            faults.live_lock(
                lock.workflow,
                process_name=lock.process_name,
                heartbeat_age=lock.heartbeat_age or 0.0,
                created_age=lock.created_age,
                ttl_seconds=ttl,
            )
        else:
            faults.stale_lock(
                lock.workflow,
                kind=lock.holder,
                heartbeat_age=lock.heartbeat_age,
                created_age=lock.created_age,
                ttl_seconds=ttl,
            )


def in_layout(scenario: Scenario, profile: LayoutProfile) -> Scenario:
    """``scenario`` with its paths (given files and links, fault paths, ``then`` paths) moved
    from the runbook's layout to ``profile``'s, so it asks for the same places there.

    Raises :class:`NotInLayout` when two of its paths become one (the real package keeps the
    three log folders in one ``logs/``): the scenario cannot be asked of that layout."""
    from pytest_tapps.core._layout import RUNBOOK, translate

    if profile == RUNBOOK:
        return scenario
    origins: dict[str, str] = {}

    def moved(path: str) -> str:
        there = translate(path, RUNBOOK, profile)
        first = origins.setdefault(there, path)
        if first != path:
            message = f"{first} and {path} are one place, {there}, in the {profile.name} layout"
            raise NotInLayout(message)
        return there

    def moved_fault(item: Any) -> Any:
        name, spec = action_name(item), action_value(item)
        if not isinstance(getattr(spec, "path", None), str):
            return item
        return item.model_copy(update={name: spec.model_copy(update={"path": moved(spec.path)})})

    given = scenario.given.model_copy(
        update={
            "files": [f.model_copy(update={"path": moved(f.path)}) for f in scenario.given.files],
            "folders": [
                f.model_copy(update={"path": moved(f.path)}) for f in scenario.given.folders
            ],
            "symlinks": [
                link.model_copy(update={"path": moved(link.path), "target": moved(link.target)})
                for link in scenario.given.symlinks
            ],
        }
    )
    actions: list[Any] = list(scenario.when)
    when = [
        item.model_copy(update={"inject": moved_fault(action_value(item))})
        if action_name(item) == "inject"
        else item
        for item in actions
    ]
    then = scenario.then.model_copy(
        update={
            "present": [moved(p) for p in scenario.then.present],
            "absent": [moved(p) for p in scenario.then.absent],
            "plan": {moved(p): label for p, label in scenario.then.plan.items()},
        }
    )
    return scenario.model_copy(
        update={
            "given": given,
            "faults": [moved_fault(f) for f in scenario.faults],
            "when": when,
            "then": then,
        }
    )


def run_scenario(
    loaded: Loaded,
    scenario: Scenario,
    *,
    target: Target | None = None,
    root: Path | None = None,
    fs: str | None = None,
    seed: int = 0,
) -> Result:
    """Run ``scenario`` in ``root`` (a fresh folder; ``/project`` on the fake filesystem) and
    raise :class:`ScenarioFailure` with the picture when an expectation does not hold."""
    _requirements(scenario)
    target = target or CoreTarget()
    clock = VirtualClock(to_epoch(scenario.now or DEFAULT_NOW))
    start = clock.time()
    chosen_fs = fs or scenario.fs
    if chosen_fs == "fake":
        for worktree in scenario.given.worktrees:
            if worktree.git:
                message = "git worktrees cannot run on the fake filesystem"
                raise HarnessError(message)
    # Scenarios test atomicity and recovery, not power loss: no fsync (it dominates a scenario's
    # time on a real disk); the command target's subprocesses inherit it.
    layout = layout_profile(scenario.layout or target.layout)
    try:
        scenario = in_layout(scenario, layout)
    except NotInLayout as exc:
        raise Unsupported(f"{target.name}: {exc}") from None
    with fsync_off(), project(root, fs=chosen_fs, clock=clock, layout=layout) as proj:
        (proj.root.parent / "outside").mkdir(parents=True, exist_ok=True)
        proj.root.mkdir(parents=True, exist_ok=True)
        faults = Faults(proj)
        try:
            try:
                build_given(proj, scenario.given)
                for fault in scenario.faults:
                    _tree_fault(faults, action_name(fault), action_value(fault))
                step_faults = _step_faults(faults, scenario)
                _locks(faults, scenario.given)
            except NotInLayout as exc:  # the target's system has no such thing to test
                raise Unsupported(f"{target.name}: {exc}") from None
            scratch = proj.root.parent / "scratch"
            session = Session(
                layout=proj.layout,
                clock=clock,
                definitions={w.id: w for w in scenario.given.workflows},
                runner=faults.runner(awaited=scenario.agents == "async"),
                step_faults=step_faults,
                scratch=scratch,
                seed=seed,
                fake_fs=proj.fake_fs,
                agents=scenario.agents,
            )
            result = _act(
                loaded=loaded,
                faults=faults,
                scenario=scenario,
                target=target,
                session=session,
                start=start,
            )
            # Checked while the project is still there: on the fake filesystem it goes away
            # with the patcher, and the helper processes of the faults are still running.
            problems = check(result)
            if problems:
                from pytest_tapps.scenario._report import render_failure

                raise ScenarioFailure(render_failure(result, problems))
        finally:
            faults.close()
    return result


def _harness_action(faults: Faults, name: str, value: Any, held: dict[str, Any]) -> Outcome:
    """``advance``, ``hold_lock``, ``release_lock`` and ``inject``: the harness changes the
    world between the target's actions."""
    if name == "advance":
        faults.project.clock.sleep(value)
        for workflow_id, holder in held.items():  # a working executor keeps beating
            faults.beat(workflow_id, holder)
    elif name == "hold_lock":
        if value in held:
            message = f"hold_lock: {value!r} is already held by this scenario's executor"
            raise HarnessError(message)
        held[value] = faults.live_lock(value)
    elif name == "release_lock":
        child = held.pop(value, None)
        if child is None:
            message = f"release_lock: no hold_lock of {value!r} before it"
            raise HarnessError(message)
        child.kill()
        child.wait()
    else:
        _tree_fault(faults, action_name(value), action_value(value))
    return Outcome()


def _act(
    *,
    faults: Faults,
    loaded: Loaded,
    scenario: Scenario,
    target: Target,
    session: Session,
    start: float,
) -> Result:
    performed: list[Performed] = []
    held: dict[str, Any] = {}
    with capture_logs() as logs:
        target.start(session)
        before = snapshot(session.root)  # after the target's own setup: not its doing
        try:
            for index, action in enumerate(scenario.when):
                name = action_name(action)
                value = action_value(action)
                if name in HARNESS_ACTIONS or name == "advance":
                    try:
                        outcome = _harness_action(faults, name, value, held)
                    except NotInLayout as exc:  # nothing of the kind in the target's system
                        raise Unsupported(f"{target.name}: {exc}") from None
                else:
                    for workflow_id, holder in held.items():  # healthy executors keep beating
                        faults.beat(workflow_id, holder)
                    try:
                        outcome = target.perform(name, value, session)
                    except ExecutorKilled:  # kill_executor in-process: the "process" is gone
                        outcome = Outcome(KILLED_EXIT_CODE)
                performed.append(Performed(index, name, value, outcome))
        finally:
            target.finish(session)
    after = snapshot(session.root)
    return Result(
        scenario,
        loaded,
        session,
        target,
        before,
        after,
        start,
        performed,
        [*logs.records, *session.records],
    )
