"""The ``tapps-agents`` target: scenarios against the real TappsCodingAgents package (3.7).

Selected with ``--tapps-target=tapps-agents``; ``tapps_agents`` is imported only then (it needs
Python >= 3.12). Each action goes to that package's public API, in-process, offline and with no
LLM, in the scenario's project folder (several of its parts read the current folder whatever
root they are given) and at the scenario's virtual time (``datetime.now`` and ``time.time`` are
frozen there; its sleeps advance the virtual clock):

=====================  ==========================================================================
action                 tapps-agents 3.7
=====================  ==========================================================================
run                    ``WorkflowExecutor.execute`` of the scenario's workflow; step faults are
                       injected where the executor calls a step (no agent, no LLM)
resume                 ``WorkflowExecutor`` resumed from its persisted state
skip_step              ``WorkflowExecutor.skip_step`` on the persisted state
cleanup                ``python -m tapps_agents.core.cleanup_tool`` (its ``main``), the runbook's
                       cleanup script; ``only:`` maps to ``--worktrees-only``/``--analytics-only``
worktree_prune         ``CleanupTool.cleanup_worktrees(7)``, its worktree retention, then its
                       branch cleanup (``BranchCleanupService``) in a git repository
worktree_list          ``core.worktree.WorktreeManager.list_worktrees`` (names git has registered)
worktree_remove        ``workflow.worktree_manager.WorktreeManager.remove_worktree`` (with its
                       branch)
cache_invalidate       ``KBCache.delete(library)`` / ``KBCache.clear()``
log                    ``workflow.logging_helper.WorkflowLogger``
the rest               not supported, each with the reason (see ``UNSUPPORTED``)
=====================  ==========================================================================

An exception out of the package is the action's failure (exit 1 with the exception as output),
evidence for the conformance report, not a harness error.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pytest_tapps.scenario._targets import Outcome, Session, Target, Unsupported

#: Actions the real package has no way to perform, with why (shown as the scenario's outcome).
UNSUPPORTED = {
    "retry_step": "it has no command to retry one failed step (resume starts a new workflow)",
    "dlq_skip": "it has no dead letter queue",
    "dlq_retry": "it has no dead letter queue",
    "reset": "it has no command to reset a workflow to a step",
    "force_cleanup": "it keeps no workflow lock files to clean up",
    "status": (
        "it cannot tell a stuck workflow from its files (its only stuck check, "
        "get_workflow_health, reads the running executor's memory)"
    ),
    "cache_verify": "its KB cache keeps no integrity data and has no verify command",
    "cache_recover": (
        "it cannot tell a corrupt KB entry (no integrity data); its rebuild-index only "
        "re-lists the files"
    ),
    "cache_warm": "its cache warmer needs the MCP gateway or the network (no offline warming)",
    "cache_clear_tiered": "its tiered context cache lives in memory only",
    "cache_clear_profile": "it has no command to clear the project profile",
    "command": "the scenario's command line is the tapps CLI's, not tapps-agents'",
}
#: Retention categories and the cleanup tool's option that limits it to them.
_ONLY = {
    "completed_worktrees": "--worktrees-only",
    "failed_worktrees": "--worktrees-only",
    "orphan_worktrees": "--worktrees-only",
    "stuck_worktrees": "--worktrees-only",
    "active_worktrees": "--worktrees-only",
    "analytics_history": "--analytics-only",
}
_REMOVED = re.compile(r"^(?P<verb>Removed|Would remove): (?P<path>.+?)(?: \([\d.]+ [KM]B\))?$")
_ERROR = re.compile(r"^Error processing (?P<path>.+?): (?P<why>.*)$")
PACKAGE = "tapps_agents"


class TargetUnavailable(ValueError):
    """The real package cannot be imported here."""


class TappsAgentsTarget(Target):
    """The real ``tapps-agents`` package, in-process. ``modules`` replaces its modules by name
    (tests use small fakes with the same signatures)."""

    name = "tapps-agents"
    layout = "tapps-agents-3.7"

    def __init__(self, modules: Mapping[str, Any] | None = None) -> None:
        self._modules = dict(modules or {})
        #: Calls of each (workflow, step) in this scenario so far (a fault's attempt numbers
        #: count them).
        self._attempts: dict[tuple[str, str], int] = {}

    def _module(self, name: str) -> Any:
        if name in self._modules:
            return self._modules[name]
        import importlib

        try:
            return importlib.import_module(name)
        except ImportError as exc:
            message = (
                f"--tapps-target=tapps-agents: cannot import {name} ({exc}); install the real "
                "package in this Python: pip install tapps-agents==3.7.1 (it needs Python >= 3.12)"
            )
            raise TargetUnavailable(message) from None

    def check_available(self) -> None:
        """Raise :class:`TargetUnavailable` with the fix when the package is not importable."""
        self._module(PACKAGE)

    # -- running an action ---------------------------------------------------------------------

    def perform(self, action: str, value: Any, session: Session) -> Outcome:
        if action in UNSUPPORTED:
            message = f"{self.name} 3.7: {UNSUPPORTED[action]}"
            raise Unsupported(message)
        if action in ("run", "resume") and any("kill_executor" in f for f in session.step_faults):
            message = (
                f"{self.name} 3.7: kill_executor needs the executor in a process of its own, "
                "and this target runs the package in-process to hold its seams"
            )
            raise Unsupported(message)
        out = io.StringIO()
        try:
            with self._in_project(session, out):
                outcome = super().perform(action, value, session)
        except (Unsupported, TargetUnavailable):
            raise
        except SystemExit as exc:  # a command line's main() exiting
            return Outcome(_exit_code(exc), out.getvalue())
        except Exception as exc:  # the package failing is evidence for the report, not a crash
            text = out.getvalue()
            return Outcome(1, f"{text}{type(exc).__name__}: {exc}".strip())
        printed = out.getvalue()
        if printed:
            outcome.output = f"{printed.rstrip()}\n{outcome.output}".strip()
        return outcome

    @contextlib.contextmanager
    def _in_project(self, session: Session, out: io.StringIO) -> Iterator[None]:
        """In the project folder, at the scenario's virtual time, printing into ``out``, with
        the package's headless mode."""
        from contextlib import chdir, redirect_stderr, redirect_stdout

        from pytest_tapps.harness._time import frozen

        env = _environment(session.scratch)
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update({k: v for k, v in env.items() if v is not None})
        for key in [k for k, v in env.items() if v is None]:
            os.environ.pop(key, None)
        try:
            with (
                warnings.catch_warnings(),  # the package's own warnings are not the scenario's
                chdir(session.root),
                redirect_stdout(out),
                redirect_stderr(out),
            ):
                warnings.simplefilter("ignore")
                self._module(f"{PACKAGE}.cli.main")  # before freezing: its models need datetime
                with frozen(session.clock):
                    yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old

    # -- workflows -----------------------------------------------------------------------------

    def start(self, session: Session) -> None:
        self._attempts = {}
        _settings(session)

    def _executor(self, session: Session, **options: Any) -> Any:
        """A headless ``WorkflowExecutor`` of the project whose step calls fire the scenario's
        step faults (its seam: ``_execute_step_for_parallel``)."""
        module = self._module(f"{PACKAGE}.workflow.executor")
        executor = module.WorkflowExecutor(project_root=session.root, auto_detect=False, **options)
        from pytest_tapps.harness._faults import fire_all, step_faults_from_data

        # Each fault reads only attempt, remaining() and sleep() of its context: _StepCall.
        faults: list[Any] = step_faults_from_data(session.step_faults)
        attempts = self._attempts

        async def step_seam(step: Any, target_path: Any) -> dict[str, Any]:
            key = (str(getattr(executor.state, "workflow_id", "")), step.id)
            attempts[key] = attempts.get(key, 0) + 1
            context = _StepCall(
                attempt=attempts[key],
                timeout=float(executor.parallel_executor.default_timeout_seconds),
            )
            failed = fire_all(faults, step, context)
            return {} if failed is None else failed

        executor._execute_step_for_parallel = step_seam
        return executor

    @staticmethod
    def _finished(state: Any) -> Outcome:
        status = str(state.status)
        error = [line.strip() for line in (state.error or "").splitlines() if line.strip()]
        detail = f"\n{' '.join(error[:2])}" if error and status != "completed" else ""
        return Outcome(
            0 if status == "completed" else 1, f"workflow {state.workflow_id}: {status}{detail}"
        )

    @staticmethod
    def _no_trace_id(spec: Any) -> None:
        if spec.trace_id is not None:
            message = "its workflow executor takes no trace id to put on its records"
            raise Unsupported(message)

    def run(self, spec: Any, session: Session) -> Outcome:
        import asyncio

        self._no_trace_id(spec)
        executor = self._executor(session)
        workflow = executor.load_workflow(_workflow_file(session, spec.workflow))
        return self._finished(asyncio.run(executor.execute(workflow=workflow)))

    def _saved(self, session: Session, workflow_id: str, **options: Any) -> Any:
        """An executor holding ``workflow_id``'s last saved state and its definition (the one
        the state names, else the scenario's), as ``workflow resume --workflow-id`` loads it."""
        executor = self._executor(session, **options)
        state, meta = executor.state_manager.load_state(workflow_id=workflow_id)
        path = Path(meta.workflow_path) if meta.workflow_path else None
        if path is None or not path.exists():  # a state the scenario gave: its definition
            path = _workflow_file(session, workflow_id)
        executor.load_workflow(path)
        executor.state = state
        return executor

    def resume(self, spec: Any, session: Session) -> Outcome:
        """What ``tapps-agents workflow resume --workflow-id ID`` does, in-process: load the
        workflow's last saved state, re-read its definition, set a failed state running again
        (a paused one resumed), and execute."""
        import asyncio

        self._no_trace_id(spec)
        executor = self._saved(session, spec.workflow, auto_mode=True)
        state = executor.state
        if state.status == "failed":
            state.status = "running"
        elif state.status == "paused":
            executor.resume_workflow()
        return self._finished(asyncio.run(executor.execute(workflow=None)))

    def skip_step(self, spec: Any, session: Session) -> Outcome:
        """``WorkflowExecutor.skip_step`` on the workflow's saved state (its only way to skip a
        step; it records the skip and saves)."""
        executor = self._saved(session, spec.workflow)
        executor.skip_step(spec.step)
        return Outcome(0, f"skipped {spec.step} of {spec.workflow}")

    # -- retention -----------------------------------------------------------------------------

    def cleanup(self, spec: Any, session: Session) -> Outcome:
        flags = sorted({_ONLY.get(name, "") for name in spec.only})
        if "" in flags or len(flags) > 1:
            message = (
                f"{self.name} 3.7: its cleanup tool limits a run to worktrees, analytics or its "
                f"file cache, not to {', '.join(spec.only)}"
            )
            raise Unsupported(message)
        argv = ["cleanup_tool", "--project-root", str(session.root), *flags]
        if spec.dry_run:
            argv.append("--dry-run")
        module = self._module(f"{PACKAGE}.core.cleanup_tool")
        out = io.StringIO()
        saved_argv = sys.argv
        sys.argv = argv
        code = 0
        try:
            from contextlib import redirect_stdout

            with redirect_stdout(out):
                module.main()
        except SystemExit as exc:  # its argparse, or an exit of its own
            code = _exit_code(exc)
        finally:
            sys.argv = saved_argv
        outcome = _cleanup_outcome(session, out.getvalue())
        outcome.exit_code = max(outcome.exit_code, code)
        return outcome

    def worktree_prune(self, spec: Any, session: Session) -> Outcome:
        """Its worktree retention (``CleanupTool.cleanup_worktrees(7)``), then, in a git
        repository, its branch cleanup (``BranchCleanupService.cleanup_orphaned_branches``)."""
        import asyncio
        from contextlib import redirect_stdout

        tool = self._module(f"{PACKAGE}.core.cleanup_tool").CleanupTool(project_root=session.root)
        out = io.StringIO()
        with redirect_stdout(out):
            tool.cleanup_worktrees(7, False)
        outcome = _cleanup_outcome(session, out.getvalue())
        if (session.root / ".git").exists():
            branches = self._module(f"{PACKAGE}.workflow.branch_cleanup")
            service = branches.BranchCleanupService(session.root)
            report = asyncio.run(service.cleanup_orphaned_branches(dry_run=False))
            outcome.output = (
                f"{outcome.output}\nbranches deleted: {report.branches_deleted}, "
                f"failed: {report.branches_failed}"
            ).strip()
            if report.branches_failed:
                outcome.exit_code = 1
        return outcome

    # -- worktrees -----------------------------------------------------------------------------

    def worktree_list(self, spec: Any, session: Session) -> Outcome:
        manager = self._module(f"{PACKAGE}.core.worktree").WorktreeManager(session.root)
        found = manager.list_worktrees()
        rows = {str(name): {"registered": True} for name in sorted(found)}
        return Outcome(0, "\n".join(rows), rows)

    def worktree_remove(self, spec: Any, session: Session) -> Outcome:
        import asyncio

        manager = self._module(f"{PACKAGE}.workflow.worktree_manager").WorktreeManager(session.root)
        try:
            asyncio.run(manager.remove_worktree(spec.name, delete_branch=True))
        except ValueError as exc:
            if "Invalid worktree name" not in str(exc):
                raise
            return Outcome(2, f"ValueError: {exc}")  # its refusal of a bad name: bad input
        return Outcome()

    # -- caches --------------------------------------------------------------------------------

    def cache_invalidate(self, spec: Any, session: Session) -> Outcome:
        cache = self._module(f"{PACKAGE}.context7.kb_cache").KBCache(
            session.layout.context7_cache_dir.parent
        )
        if spec.all:
            cache.clear()
            return Outcome()
        found = cache.delete(spec.library)
        return Outcome(0 if found else 1, "" if found else f"no KB entry for {spec.library}")

    # -- logging -------------------------------------------------------------------------------

    def log(self, spec: Any, session: Session) -> Outcome:
        helper = self._module(f"{PACKAGE}.workflow.logging_helper")
        logger = helper.WorkflowLogger(
            workflow_id=spec.workflow_id,
            step_id=spec.step_id,
            agent=spec.agent,
            trace_id=spec.trace_id,
        )
        getattr(logger, spec.level)(spec.message, **spec.fields)
        return Outcome()


class _StepCall:
    """What a step fault needs of one call of a step: its attempt number and the time it has
    (the executor's own per-step timeout: 3600 s unless set in code). Sleeping past it raises
    ``TimeoutError``, as the executor's ``asyncio.timeout`` would."""

    def __init__(self, *, attempt: int, timeout: float) -> None:
        self.attempt = attempt
        self._left = timeout

    def remaining(self) -> float:
        return self._left

    def sleep(self, seconds: float) -> None:
        import time

        spent = min(seconds, self._left)
        time.sleep(spent)  # the virtual clock's sleep while the target runs
        self._left -= spent
        if seconds >= self._left + spent:
            raise TimeoutError


#: What every run needs in ``.tapps-agents/config.yaml``: Beads off (the package requires its
#: ``bd`` tool by default) and Context7 off (its startup refresh).
_SETTINGS = "beads:\n  enabled: false\ncontext7:\n  enabled: false\n"


def _settings(session: Session) -> None:
    """Add the run settings to the project's config (kept: anything the scenario wrote)."""
    config = session.layout.config_file
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    if "beads:" not in text:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(text + ("\n" if text and not text.endswith("\n") else "") + _SETTINGS)


def workflow_yaml(definition: Any) -> dict[str, Any]:
    """The runbook's workflow definition in the real package's schema: steps chained by
    ``next:``; a step's retry policy as ``metadata.retry`` (``max_attempts``,
    ``initial_backoff_seconds``, ``max_backoff_seconds``, ``backoff_multiplier``: 2 for
    exponential backoff, 1 for fixed). The runbook's step ``timeout:`` has no place there (the
    package's schema rejects it; its executor's timeout is set in code only)."""
    steps = []
    for index, step in enumerate(definition.steps):
        entry: dict[str, Any] = {
            "id": step.id,
            "agent": step.agent or "noop",
            "action": step.action or "run",
        }
        if index + 1 < len(definition.steps):
            entry["next"] = definition.steps[index + 1].id
        retry = step.retry
        if retry is not None and getattr(retry, "max_attempts", 1) > 1:
            strategy = str(getattr(retry.backoff_strategy, "value", retry.backoff_strategy))
            entry["metadata"] = {
                "retry": {
                    "max_attempts": retry.max_attempts,
                    "initial_backoff_seconds": float(retry.initial_delay),
                    "max_backoff_seconds": float(retry.max_delay),
                    "backoff_multiplier": 1.0 if strategy == "fixed" else 2.0,
                }
            }
        steps.append(entry)
    return {
        "workflow": {
            "id": definition.id,
            "name": definition.id,
            "description": f"scenario workflow {definition.id}",
            "version": "1.0.0",
            "steps": steps,
        }
    }


def _workflow_file(session: Session, workflow_id: str) -> Path:
    """The scenario's definition of ``workflow_id`` written as the package's YAML (in the
    scenario's scratch folder)."""
    import json

    try:
        definition = session.definitions[workflow_id]
    except KeyError:
        message = f"no definition of workflow {workflow_id!r} in given.workflows"
        raise FileNotFoundError(message) from None
    path = session.scratch / "tapps-agents" / f"{workflow_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(workflow_yaml(definition), indent=2), encoding="utf-8")
    return path


def _environment(scratch: Path) -> dict[str, str | None]:
    """The environment a run needs (None: unset): headless mode (not Cursor's executor), the
    scenario's workflow ids kept as given, and an ``npx`` that fails at once first on PATH (a
    module of the package runs ``npx --yes jscpd --version`` on import, which downloads)."""
    stub = scratch / "bin" / "npx"
    if not stub.exists():
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 1\n")
        stub.chmod(0o755)
    cursor = dict.fromkeys((k for k in os.environ if k.startswith("CURSOR")), None)
    return {
        "TAPPS_AGENTS_MODE": "headless",
        "TAPPS_AGENTS_PRESERVE_WORKFLOW_ID": "true",
        "PATH": os.pathsep.join([str(stub.parent), os.environ.get("PATH", "")]),
        **cursor,
    }


def _exit_code(exc: SystemExit) -> int:
    """The exit status ``sys.exit`` would give: None is 0, a number itself, a message 1."""
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def _cleanup_outcome(session: Session, printed: str) -> Outcome:
    """The normal form of a cleanup from what the cleanup tool printed: ``Removed: PATH`` and
    ``Would remove: PATH (SIZE)`` lines are deletions (``delete``, with no reason: the tool
    gives none), ``Error processing PATH: WHY`` failures (exit 1)."""
    items: dict[str, str] = {}
    failed = []
    for line in printed.splitlines():
        if found := _REMOVED.match(line.strip()):
            # the tool gives no reason: a bare decision, checked on the decision alone
            items[session.relative(Path(found["path"]))] = "delete"
        elif found := _ERROR.match(line.strip()):
            failed.append(line.strip())
            items[session.relative(Path(found["path"]))] = f"skip: {found['why']}"
    return Outcome(1 if failed else 0, printed.strip(), {"items": items, "unlisted": "keep"})


def tapps_agents() -> TappsAgentsTarget:
    """The target for ``--tapps-target=tapps-agents`` (checks the package is importable)."""
    target = TappsAgentsTarget()
    target.check_available()
    return target
