"""Targets: how a scenario's actions reach the system under test.

A :class:`Target` has one method per action (``run``, ``cleanup``, ``cache_verify``...). Each
returns an :class:`Outcome`: the exit code a command line would give, its output, and the
action's result in one normal form (so expectations read the same from every target):

- ``cleanup``: ``{"items": {path: "delete: older than 30d", ...}}`` (paths from the project root;
  a real run lists what it removed or skipped, and everything else counts as kept; a target
  whose dry run lists only what it would delete adds ``"unlisted": "keep"``);
- ``cache_verify`` / ``cache_recover``: ``{library_id: "problem; problem"}`` for bad entries;
- ``status``: ``{"stuck": bool, "reasons": [...]}``;
- ``worktree_list``: ``{name: {"status", "registered", "locked", "dirty", "workflow"}}``.

An action a target cannot perform raises :class:`Unsupported`: the scenario is reported as not
supported by that target, neither passed nor failed. The state on disk, the logs and the clock
are read by the runner, not the target.

Two targets ship: :class:`CoreTarget` (the reference core, in-process, the default) and
:class:`~pytest_tapps.scenario._command.CommandTarget` (any implementation's command line,
through subprocesses).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_tapps.core import Clock, Layout, StepRunner, WorkflowDefinition


class Unsupported(Exception):
    """The target has no way to perform this action."""


@dataclass
class Outcome:
    """What one action did."""

    exit_code: int = 0
    output: str = ""
    data: Any = None


@dataclass
class Session:
    """What a target is given for one scenario: where, when, and the injected step faults."""

    layout: Layout
    clock: Clock
    definitions: Mapping[str, WorkflowDefinition]
    #: The step faults, as a runner (in-process targets) and as plain data (others).
    runner: StepRunner
    step_faults: list[dict[str, Any]]
    scratch: Path
    seed: int = 0
    #: Whether the project lives on pyfakefs' fake filesystem (subprocesses cannot see it).
    fake_fs: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.layout.project_root

    def relative(self, path: Path | str) -> str:
        """``path`` from the project root, as scenarios write it."""
        return os.path.relpath(path, self.root)


class Target:
    """The actions of a scenario; each method returns an :class:`Outcome`. The base class
    performs nothing: a subclass implements the actions its system has."""

    name = "target"
    #: The on-disk layout this target's system reads and writes; a scenario's ``given:`` tree
    #: is written in it unless the scenario names its own ``layout:``.
    layout = "runbook"

    def start(self, session: Session) -> None:
        """Called before the first action of a scenario. What it writes into the project (a
        setting its system needs) is part of the tree the scenario starts from, not a change
        the actions made."""

    def finish(self, session: Session) -> None:
        """Called after the last action (also when one failed)."""

    def perform(self, action: str, value: Any, session: Session) -> Outcome:
        """Dispatch ``action`` to the method of that name."""
        method: Callable[[Any, Session], Outcome] | None = getattr(self, action, None)
        if method is None:
            message = f"{self.name} has no way to perform {action!r}"
            raise Unsupported(message)
        return method(value, session)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _error_outcome(exc: BaseException) -> Outcome:
    """The exit code and message the ``tapps`` command line gives for ``exc``."""
    from pytest_tapps.core import TappsError

    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return Outcome(1, f"tapps: error: {where}{exc.strerror or exc}")
    code = exc.exit_code if isinstance(exc, TappsError) else 1
    return Outcome(code, f"tapps: error: {exc}")


def at_scenario_time(
    argv: list[str], session: Session, *, option: str | None = "--now"
) -> list[str]:
    """``argv`` with ``option <the scenario's virtual now>`` appended, unless the command asks
    for help or the version, already names the option, or ``option`` is None."""
    from pytest_tapps.core import to_iso, utcnow

    args = list(argv)
    if option is None or option in args or {"-h", "--help", "--version"} & set(args):
        return args
    return [*args, option, to_iso(utcnow(session.clock))]


def plan_data(session: Session, items: Any) -> dict[str, Any]:
    """``{"items": {path: label}}`` of plan items."""
    return {"items": {session.relative(item.location): item.label for item in items}}


class CoreTarget(Target):
    """The reference core, called in-process with the scenario's virtual clock."""

    name = "reference core"

    def perform(self, action: str, value: Any, session: Session) -> Outcome:
        from pytest_tapps.core import TappsError

        try:
            return super().perform(action, value, session)
        except (TappsError, OSError) as exc:  # what the command line reports, not a crash
            return _error_outcome(exc)

    # -- workflows -----------------------------------------------------------------------------

    def _executor(self, session: Session, seed: int | None = None) -> Any:
        from pytest_tapps.core import WorkflowExecutor

        return WorkflowExecutor(
            session.layout,
            session.runner,
            clock=session.clock,
            seed=session.seed if seed is None else seed,
        )

    @staticmethod
    def _finished(state: Any) -> Outcome:
        failed = state.status.value != "completed"
        return Outcome(1 if failed else 0, f"workflow {state.workflow_id}: {state.status.value}")

    def run(self, spec: Any, session: Session) -> Outcome:
        state = self._executor(session, spec.seed).run(session.definitions[spec.workflow])
        return self._finished(state)

    def resume(self, spec: Any, session: Session) -> Outcome:
        return self._finished(self._executor(session).resume(spec.workflow))

    def retry_step(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import retry_step

        edit = retry_step(session.layout, spec.workflow, spec.step, clock=session.clock)
        return Outcome(0, "\n".join(edit.changes))

    def skip_step(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import skip_step

        edit = skip_step(session.layout, spec.workflow, spec.step, clock=session.clock)
        return Outcome(0, "\n".join(edit.changes))

    def dlq_skip(self, spec: Any, session: Session) -> Outcome:
        """Skip a step of the dead letter queue (refused for a step that is not in it)."""
        from pytest_tapps.core import skip_step

        edit = skip_step(
            session.layout, spec.workflow, spec.step, clock=session.clock, failed_only=True
        )
        return Outcome(0, "\n".join(edit.changes))

    def reset(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import reset

        edit = reset(session.layout, spec.workflow, to_step=spec.to_step, clock=session.clock)
        return Outcome(0, "\n".join(edit.changes))

    def force_cleanup(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import force_cleanup

        done = force_cleanup(
            session.layout, spec.workflow, clock=session.clock, dry_run=spec.dry_run
        )
        lines = [f"removed stale lock: {lock.reason}" for lock in done.removed_locks]
        if done.live_lock is not None:
            lines.append(f"left live lock of pid {done.live_lock.record.pid}")  # type: ignore[union-attr]
        lines.extend(f"stuck worktree: {session.relative(p)}" for p in done.stuck_worktrees)
        return Outcome(1 if done.live_lock is not None else 0, "\n".join(lines))

    def status(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import diagnose

        found = diagnose(
            session.layout,
            spec.workflow,
            clock=session.clock,
            threshold_seconds=spec.stuck_after,
        )
        data = {"stuck": found.stuck, "reasons": list(found.reasons)}
        verdict = "stuck" if found.stuck else found.state.status.value
        return Outcome(
            0, "\n".join([f"{found.state.workflow_id}: {verdict}", *found.reasons]), data
        )

    def dlq_retry(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import dlq_retry

        done = dlq_retry(session.layout, spec.category, clock=session.clock)
        lines = [f"marked {edit.workflow_id}: {'; '.join(edit.changes)}" for edit in done.marked]
        lines.extend(f"left {why}" for why in done.left)
        lines.extend(f"unreadable: {problem}" for problem in done.unreadable)
        return Outcome(1 if done.unreadable or done.locked else 0, "\n".join(lines))

    # -- retention -----------------------------------------------------------------------------

    def cleanup(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import plan_cleanup, run_cleanup

        only = spec.only or None
        if spec.dry_run:
            plan = plan_cleanup(session.layout, clock=session.clock, only=only)
            return Outcome(0, "", plan_data(session, plan.items))
        report = run_cleanup(session.layout, clock=session.clock, only=only)
        data = plan_data(session, report.removed)
        data["items"].update(
            {session.relative(item.location): f"skip: {why}" for item, why in report.skipped}
        )
        failed = "\n".join(f"could not remove {p}: {why}" for p, why in report.failed)
        return Outcome(0 if report.ok else 1, failed, data)

    def worktree_prune(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core._retention import WORKTREE_CATEGORIES

        only = [c.name for c in WORKTREE_CATEGORIES]
        return self.cleanup(type("Prune", (), {"dry_run": False, "only": only})(), session)

    def worktree_list(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core._worktrees import inventory

        rows = {
            info.name: {
                "status": info.status,
                "registered": info.registered,
                "locked": info.git_locked,
                "dirty": info.dirty,
                "workflow": info.workflow_id,
            }
            for info in inventory(session.layout, clock=session.clock)
        }
        return Outcome(0, "\n".join(f"{k} {v['status']}" for k, v in rows.items()), rows)

    def worktree_remove(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core._worktrees import remove

        done = remove(session.layout, spec.name, force=spec.force, clock=session.clock)
        return Outcome(0 if done.removed_folder and done.ok else 1, "\n".join(done.notes))

    # -- caches --------------------------------------------------------------------------------

    def cache_invalidate(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import invalidate, invalidate_all

        if spec.all:
            invalidate_all(session.layout)
        else:
            invalidate(session.layout, spec.library)
        return Outcome()

    def cache_verify(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import verify_cache

        bad = {
            c.library_id: "; ".join(c.problems) for c in verify_cache(session.layout) if not c.ok
        }
        return Outcome(1 if bad else 0, "\n".join(f"{k}: {v}" for k, v in bad.items()), bad)

    def cache_recover(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import recover

        bad = {c.library_id: "; ".join(c.problems) for c in recover(session.layout)}
        return Outcome(0, "\n".join(f"removed {k}: {v}" for k, v in bad.items()), bad)

    def cache_warm(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import warm_from_folder

        report = warm_from_folder(session.layout, session.root / spec.source, clock=session.clock)
        return Outcome(0 if not report.failed else 1, ", ".join(report.warmed))

    def cache_clear_tiered(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import clear_tiered

        clear_tiered(session.layout)
        return Outcome()

    def cache_clear_profile(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import clear_profile

        clear_profile(session.layout)
        return Outcome()

    def command(self, argv: list[str], session: Session) -> Outcome:
        """A ``tapps`` command line, run in-process in the project root at the scenario's
        virtual now (the ``tapps-cli`` target runs the same commands in subprocesses)."""
        import io
        import logging
        from contextlib import chdir, redirect_stderr, redirect_stdout

        from pytest_tapps.cli import main as run

        args = at_scenario_time(argv, session)
        out, err = io.StringIO(), io.StringIO()
        logger = logging.getLogger("tapps_agents")
        handlers, level = list(logger.handlers), logger.level
        try:
            with chdir(session.root), redirect_stdout(out), redirect_stderr(err):
                code = run(args)
        finally:
            logger.handlers[:] = handlers
            logger.setLevel(level)
        return Outcome(code, out.getvalue() + err.getvalue())

    # -- logging -------------------------------------------------------------------------------

    def log(self, spec: Any, session: Session) -> Outcome:
        import logging

        from pytest_tapps.core import WorkflowLogger

        try:
            logger = WorkflowLogger(
                workflow_id=spec.workflow_id,
                step_id=spec.step_id,
                agent=spec.agent,
                trace_id=spec.trace_id,
                logger=logging.getLogger("tapps_agents.workflow.executor"),
                clock=session.clock,
            )
        except ValueError as exc:
            return Outcome(2, f"tapps: error: {exc}")
        getattr(logger, spec.level)(spec.message, **spec.fields)
        return Outcome()


#: Targets named by a word instead of ``module:attr``.
NAMED_TARGETS = {
    "core": "pytest_tapps.scenario._targets:CoreTarget",
    "tapps-cli": "pytest_tapps.scenario._command:tapps_cli",
    "tapps-agents": "pytest_tapps.scenario._tapps_agents:tapps_agents",
}


def load_target(spec: str) -> Target:
    """The target named by ``spec``: ``core``, ``tapps-cli`` or ``module:attr`` (a
    :class:`Target` instance, a subclass, or a function returning one)."""
    import importlib

    path = NAMED_TARGETS.get(spec, spec)
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        names = ", ".join(NAMED_TARGETS)
        message = f"--tapps-target={spec!r}: write one of {names}, or module:attr"
        raise ValueError(message)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"--tapps-target={spec!r}: cannot import {module_name!r} ({exc})"
        raise ValueError(message) from None
    try:
        found = getattr(module, attr)
    except AttributeError:
        message = f"--tapps-target={spec!r}: module {module_name!r} has no {attr!r}"
        raise ValueError(message) from None
    if not isinstance(found, Target) and callable(found):
        found = found()  # a Target subclass, or a factory
    if not isinstance(found, Target):
        message = (
            f"--tapps-target={spec!r}: {attr!r} is a {type(found).__name__}, not a "
            "pytest_tapps.scenario.Target (or a function returning one)"
        )
        raise ValueError(message)
    return found
