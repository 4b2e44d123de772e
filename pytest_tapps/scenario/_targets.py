"""Targets: how a scenario's actions reach the system under test.

A :class:`Target` has one method per action (``run``, ``cleanup``, ``cache_verify``...). Each
returns an :class:`Outcome`: the exit code a command line would give, what it printed, and for
the actions whose result the expectations read, that result in one normal form (so they read
the same from every target): :class:`PlanData` (``cleanup``, ``worktree_prune``),
:data:`CacheProblems` (``cache_verify``, ``cache_recover``), :class:`StatusData` (``status``)
and :data:`WorktreeRows` (``worktree_list``). docs/ci.md lists every action with its method.

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
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    from pytest_tapps.cli._output import Printed
    from pytest_tapps.core import Clock, Layout, StepRunner, WorkflowDefinition


class PlanData(TypedDict):
    """What ``cleanup`` and ``worktree_prune`` return as ``Outcome.data``.

    ``items`` maps each path the action listed (from the project root, ``/``-separated, a
    folder without a trailing ``/``) to its label: ``"delete: older than 30d"``, ``"keep: too
    new"``, ``"skip: active workflow"``. A dry run lists the plan; a real run what it removed
    (``delete: ...``) or skipped (``skip: ...``), and a path it does not list counts as kept.
    ``unlisted`` is the label of every path not listed, for a target whose dry run lists only
    what it would delete (``"keep"``)."""

    items: dict[str, str]
    unlisted: NotRequired[str]


class StatusData(TypedDict):
    """What ``status`` returns as ``Outcome.data``: whether the workflow is stuck, and why
    (one reason per line of evidence: dead lock holder, no heartbeat, no progress)."""

    stuck: bool
    reasons: list[str]


class WorktreeRow(TypedDict):
    """One worktree of ``worktree_list``: its status (``completed``, ``failed``, ``active``,
    ``stuck``, ``orphan``), its git state, and the workflow it belongs to."""

    status: str
    registered: bool
    locked: bool
    dirty: bool | None
    workflow: str | None


#: What ``cache_verify`` and ``cache_recover`` return as ``Outcome.data``: each corrupt (or
#: removed) Context7 entry's library id and its problems, joined by ``"; "``.
CacheProblems = dict[str, str]
#: What ``worktree_list`` returns as ``Outcome.data``: each worktree's folder name and its row.
WorktreeRows = dict[str, WorktreeRow]


class Unsupported(Exception):
    """The target has no way to perform this action."""


class Outcome:
    """What one action did: the exit code its command gives (0 ok, 1 problems, 2 refused as bad
    input), what it printed (stdout, then stderr), and ``data``: the action's result in the
    normal form the expectations read (:class:`PlanData`, :class:`StatusData`,
    :data:`CacheProblems`, :data:`WorktreeRows`), or ``None`` for the other actions.

    ``output`` may be given as a function of no arguments that returns the text: it is called
    when the output is first read, and only then. A plan of 100,000 files prints seconds of
    JSON that only an ``output`` expectation or a failure report reads; such a function must
    render from what it holds, not from the project (which may be gone by then)."""

    __slots__ = ("_output", "data", "exit_code")

    def __init__(
        self, exit_code: int = 0, output: str | Callable[[], str] = "", data: Any = None
    ) -> None:
        self.exit_code = exit_code
        self._output = output
        self.data = data

    @property
    def output(self) -> str:
        if not isinstance(self._output, str):
            self._output = self._output()
        return self._output

    @output.setter
    def output(self, text: str) -> None:
        self._output = text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        mine = (self.exit_code, self.output, self.data)
        return mine == (other.exit_code, other.output, other.data)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it was

    def __repr__(self) -> str:
        return f"Outcome(exit_code={self.exit_code!r}, output={self.output!r}, data={self.data!r})"


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
    #: ``async`` when the steps' agents are awaited (the scenario's ``agents:``): ``runner``
    #: then returns a coroutine.
    agents: str = "sync"
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.layout.project_root

    def relative(self, path: Path | str) -> str:
        """``path`` from the project root, as scenarios write it."""
        text = os.fspath(path)
        if os.fspath(self.root) == "." and not text.startswith("/"):
            return os.path.normpath(text)  # what relpath gives, without two abspath calls
        return os.path.relpath(text, self.root)


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


def shown(printed: Printed, data: Any = None) -> Outcome:
    """The outcome of an action whose command prints ``printed``: its exit code, and its
    stdout then its stderr as the output (as :class:`CommandTarget` reads a command's)."""
    return Outcome(printed.code, printed.out + printed.err, data)


def shown_later(code: int, render: Callable[[], Printed], data: Any = None) -> Outcome:
    """:func:`shown` of what ``render`` prints, rendered when the output is first read; ``code``
    is the exit code it gives (read at once: every scenario checks it)."""

    def output() -> str:
        printed = render()
        if printed.code != code:
            message = f"rendered exit code {printed.code}, not the {code} given"
            raise AssertionError(message)
        return printed.out + printed.err

    return Outcome(code, output, data)


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


def resume_definition(spec: Any, session: Session) -> str | None:
    """The ``given.workflows`` id whose definition a ``resume`` uses: the one it names, else
    the workflow's own id when given; ``None`` when the state's recorded one is to be used."""
    if spec.definition is not None:
        return str(spec.definition)
    return str(spec.workflow) if spec.workflow in session.definitions else None


def plan_data(session: Session, items: Any) -> PlanData:
    """``{"items": {path: label}}`` of plan items."""
    return {"items": {session.relative(item.location): item.label for item in items}}


def report_data(session: Session, report: Any) -> PlanData:
    """``{"items": {path: label}}`` of what a real cleanup removed and skipped."""
    data = plan_data(session, report.removed)
    data["items"].update(
        {session.relative(item.location): f"skip: {why}" for item, why in report.skipped}
    )
    return data


class CoreTarget(Target):
    """The reference core, called in-process with the scenario's virtual clock."""

    name = "reference core"

    def perform(self, action: str, value: Any, session: Session) -> Outcome:
        """Perform ``action`` as ``tapps`` does when run in the project folder: the core works
        on the layout at ``.`` from there, so each path in the output reads as the command
        line prints it; an error is the message and exit code ``tapps`` gives for it."""
        from contextlib import chdir
        from dataclasses import replace

        from pytest_tapps.cli._app import failure
        from pytest_tapps.core import Layout, TappsError

        here = replace(session, layout=Layout(".", session.layout.profile))
        with chdir(session.root):
            try:
                return super().perform(action, value, here)
            except (TappsError, OSError) as exc:  # what the command line reports, not a crash
                return shown(failure(exc))

    # -- workflows -----------------------------------------------------------------------------

    def _executor(
        self, session: Session, seed: int | None = None, trace_id: str | None = None
    ) -> Any:
        from pytest_tapps.core import WorkflowExecutor

        return WorkflowExecutor(
            session.layout,
            session.runner,
            clock=session.clock,
            seed=session.seed if seed is None else seed,
            trace_id=trace_id,
        )

    @staticmethod
    def _finished(state: Any, executor: Any) -> Outcome:
        """What ``tapps workflow run`` (and ``resume``) print for how ``state`` ended."""
        from pytest_tapps.cli._workflow import run_printed

        return shown(run_printed(state, as_json=False, broken_lock=executor.broken_lock))

    @staticmethod
    def _edited(edit: Any) -> Outcome:
        """What ``tapps workflow retry-step`` (``skip-step``, ``reset``, ``dlq skip``) print."""
        from pytest_tapps.cli._workflow import edit_printed

        return shown(edit_printed(edit, as_json=False))

    def run(self, spec: Any, session: Session) -> Outcome:
        executor = self._executor(session, spec.seed, spec.trace_id)
        return self._finished(executor.run(session.definitions[spec.workflow]), executor)

    def resume(self, spec: Any, session: Session) -> Outcome:
        named = resume_definition(spec, session)
        definition = None if named is None else session.definitions[named]
        executor = self._executor(session, trace_id=spec.trace_id)
        return self._finished(executor.resume(spec.workflow, definition), executor)

    def retry_step(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import retry_step

        edit = retry_step(session.layout, spec.workflow, spec.step, clock=session.clock)
        return self._edited(edit)

    def skip_step(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import skip_step

        edit = skip_step(session.layout, spec.workflow, spec.step, clock=session.clock)
        return self._edited(edit)

    def dlq_skip(self, spec: Any, session: Session) -> Outcome:
        """Skip a step of the dead letter queue (refused for a step that is not in it)."""
        from pytest_tapps.core import skip_step

        edit = skip_step(
            session.layout, spec.workflow, spec.step, clock=session.clock, failed_only=True
        )
        return self._edited(edit)

    def reset(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import reset

        edit = reset(session.layout, spec.workflow, to_step=spec.to_step, clock=session.clock)
        return self._edited(edit)

    def force_cleanup(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._workflow import force_cleanup_printed
        from pytest_tapps.core import force_cleanup

        done = force_cleanup(
            session.layout, spec.workflow, clock=session.clock, dry_run=spec.dry_run
        )
        return shown(force_cleanup_printed(done, as_json=False))

    def status(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._workflow import status_printed
        from pytest_tapps.core import diagnose

        found = diagnose(
            session.layout,
            spec.workflow,
            clock=session.clock,
            threshold_seconds=spec.stuck_after,
        )
        data: StatusData = {"stuck": found.stuck, "reasons": list(found.reasons)}
        return shown(status_printed(found, as_json=True), data)

    def dlq_retry(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._dlq import retry_printed
        from pytest_tapps.core import Category, dlq_retry

        category = Category(spec.category).value
        done = dlq_retry(session.layout, category, clock=session.clock)
        return shown(retry_printed(done, category, dry_run=False, as_json=False))

    # -- retention -----------------------------------------------------------------------------

    def cleanup(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._app import EXIT_OK
        from pytest_tapps.cli._cleanup import plan_printed, report_code, report_printed
        from pytest_tapps.core import plan_cleanup, run_cleanup

        only = spec.only or None
        # The JSON of a plan or a report is rendered only if read: 100,000 rows cost seconds.
        if spec.dry_run:
            plan = plan_cleanup(session.layout, clock=session.clock, only=only)
            return shown_later(
                EXIT_OK, lambda: plan_printed(plan, as_json=True), plan_data(session, plan.items)
            )
        report = run_cleanup(session.layout, clock=session.clock, only=only)
        return shown_later(
            report_code(report),
            lambda: report_printed(report, as_json=True),
            report_data(session, report),
        )

    def worktree_prune(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._worktree import prune_printed
        from pytest_tapps.core import apply_plan, plan_cleanup
        from pytest_tapps.core._retention import WORKTREE_CATEGORIES

        only = [c.name for c in WORKTREE_CATEGORIES]
        plan = plan_cleanup(session.layout, clock=session.clock, only=only)
        report = apply_plan(session.layout, plan, clock=session.clock)
        return shown(prune_printed(plan, report, as_json=True), report_data(session, report))

    def worktree_list(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._worktree import list_printed
        from pytest_tapps.core._worktrees import inventory

        infos = inventory(session.layout, clock=session.clock)
        rows: WorktreeRows = {
            info.name: {
                "status": info.status,
                "registered": info.registered,
                "locked": info.git_locked,
                "dirty": info.dirty,
                "workflow": info.workflow_id,
            }
            for info in infos
        }
        now = session.clock.time()
        return shown(list_printed(infos, now, as_json=True), rows)

    def worktree_remove(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._worktree import remove_printed
        from pytest_tapps.core._worktrees import remove

        done = remove(session.layout, spec.name, force=spec.force, clock=session.clock)
        return shown(remove_printed(done, as_json=False))

    # -- caches --------------------------------------------------------------------------------

    def cache_invalidate(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._cache import invalidate_printed

        return shown(invalidate_printed(session.layout, spec.library, every=spec.all))

    def cache_verify(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._cache import verify_printed
        from pytest_tapps.core import verify_cache

        checks = verify_cache(session.layout)
        bad: CacheProblems = {c.library_id: "; ".join(c.problems) for c in checks if not c.ok}
        return shown(verify_printed(checks, as_json=True), bad)

    def cache_recover(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._cache import recover_printed
        from pytest_tapps.core import recover

        corrupt = recover(session.layout)
        bad: CacheProblems = {c.library_id: "; ".join(c.problems) for c in corrupt}
        return shown(recover_printed(corrupt, dry_run=False, as_json=True), bad)

    def cache_warm(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._cache import warm_printed
        from pytest_tapps.core import warm_from_folder

        report = warm_from_folder(session.layout, session.root / spec.source, clock=session.clock)
        return shown(warm_printed(report, as_json=False))

    def cache_clear_tiered(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._cache import clear_tiered_printed
        from pytest_tapps.core import clear_tiered

        return shown(clear_tiered_printed(clear_tiered(session.layout), dry_run=False))

    def cache_clear_profile(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.cli._cache import clear_profile_printed
        from pytest_tapps.core import clear_profile

        return shown(clear_profile_printed(clear_profile(session.layout), dry_run=False))

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
        from pytest_tapps.cli._app import error_line
        from pytest_tapps.cli._logs import emit_record
        from pytest_tapps.core import ConfigurationError

        try:
            emit_record(
                spec.message,
                level=spec.level,
                fields=spec.fields,
                clock=session.clock,
                workflow_id=spec.workflow_id,
                step_id=spec.step_id,
                agent=spec.agent,
                trace_id=spec.trace_id,
            )
        except ConfigurationError as exc:  # what `tapps logs emit` prints and exits with
            return Outcome(exc.exit_code, error_line(str(exc)))
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
        top = module_name.partition(".")[0]
        if getattr(exc, "name", None) == top and (Path(top).is_dir() or Path(f"{top}.py").exists()):
            message += (
                f"; {top!r} is in the current folder, which is not on sys.path: run "
                "'python -m pytest' (it puts the current folder there), or add "
                "'pythonpath = .' to the pytest ini"
            )
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
