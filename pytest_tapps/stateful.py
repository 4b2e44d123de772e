"""A Hypothesis state machine over a fabricated project: the runbook's promises as invariants.

:class:`RecoveryMachine` runs workflows with injected failures and timeouts, crashes writes,
resumes, retries, skips and resets steps, cleans up, moves the virtual clock and takes and
drops live locks, in whatever order Hypothesis chooses, against a :class:`~pytest_tapps.scenario.
Target` (the reference core by default). After each step it checks what the runbook promises:

- every state file stays loadable;
- completed steps never run again on resume;
- a non-recoverable failure gets exactly one attempt;
- a live holder's lock is never removed;
- after a cleanup, completed workflows' worktrees are gone, failed ones are kept for 7 days, and
  running workflows' worktrees stay; the Context7 cache and the project profile are never
  removed by retention.

Use it as a test (``TestRecovery = RecoveryMachine.TestCase``), or subclass it to plug in your
own implementation::

    class MyMachine(RecoveryMachine):
        def make_target(self):
            return my_package.tapps_target()

    TestMine = MyMachine.TestCase

When a check fails, the steps so far are written as a ``.tapps.yaml`` scenario that reproduces
the failure under ``pytest -p tapps`` (into ``TAPPS_EXPORT_FAILURES``, which
``--tapps-export-failures=DIR`` sets). Hypothesis replays the shrunk example last, so the file
left is the shrunk one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pytest_tapps.core import (
    Layout,
    StateFileError,
    StateStore,
    StepStatus,
    VirtualClock,
    WorkflowDefinition,
    WorkflowState,
)
from pytest_tapps.core._fsutil import fsync_off
from pytest_tapps.harness import Faults, StepFailure, StepTimeout, TappsProject
from pytest_tapps.harness._time import DEFAULT_NOW, to_epoch
from pytest_tapps.scenario._targets import CoreTarget, Outcome, Session, Target

#: Where failing machines write their scenario (set by ``--tapps-export-failures=DIR``).
EXPORT_ENV = "TAPPS_EXPORT_FAILURES"
DAY = 86400.0

#: The machine's workflows, in the runbook's step YAML. Each step works in its own worktree.
WORKFLOWS: dict[str, dict[str, Any]] = {
    "wf-a": {
        "id": "wf-a",
        "steps": [
            {"id": "plan", "agent": "planner", "metadata": {"worktree": "wf-a-plan"}},
            {
                "id": "implement",
                "agent": "implementer",
                "retry": {
                    "max_attempts": 3,
                    "backoff_strategy": "exponential",
                    "initial_delay": 5,
                    "max_delay": 60,
                },
                "timeout": 300,
                "metadata": {"worktree": "wf-a-implement"},
            },
            {"id": "review", "agent": "reviewer", "metadata": {"worktree": "wf-a-review"}},
        ],
    },
    "wf-b": {
        "id": "wf-b",
        "steps": [
            {
                "id": "fetch",
                "agent": "researcher",
                "retry": {"max_attempts": 2, "backoff_strategy": "fixed", "initial_delay": 10},
                "timeout": 120,
                "metadata": {"worktree": "wf-b-fetch"},
            },
            {"id": "build", "agent": "implementer"},
        ],
    },
}
WORKFLOW_IDS = sorted(WORKFLOWS)
STEPS = {wid: [s["id"] for s in spec["steps"]] for wid, spec in WORKFLOWS.items()}
CONTEXT7 = ".tapps-agents/context7/cache/react"
PROFILE = ".tapps-agents/project-profile.yaml"

#: What can happen to one step during one run or resume: mostly nothing (so that workflows
#: complete often enough to reach the retention rules), else a failure or a timeout.
step_outcomes = st.sampled_from(["ok", "ok", "ok", "ok", "failure", "timeout"]).flatmap(
    lambda kind: (
        st.builds(
            lambda category, recoverable: {
                "kind": "failure",
                "category": category,
                "recoverable": recoverable,
            },
            st.sampled_from(["execution", "validation", "external_dependency", "permission"]),
            st.booleans(),
        )
        if kind == "failure"
        else st.just({"kind": kind})
    )
)


def plans(workflow_id: str) -> st.SearchStrategy[dict[str, dict[str, Any]]]:
    """A fault plan for one run of ``workflow_id``: what each step does on its attempts."""
    return st.fixed_dictionaries(dict.fromkeys(STEPS[workflow_id], step_outcomes))


class CheckFailed(AssertionError):
    """An invariant of the runbook does not hold; the message says which and where the
    reproducing scenario was written."""


class RecoveryMachine(RuleBasedStateMachine):
    """The runbook's recovery and retention promises, explored by Hypothesis (see the module)."""

    def make_target(self) -> Target:
        """The system under test; override to test your own implementation."""
        return CoreTarget()

    def __init__(self) -> None:
        super().__init__()
        # Atomic writes without fsync: the machine tests recovery, not power loss (as scenarios).
        self._undo = contextlib.ExitStack()
        self._undo.enter_context(fsync_off())
        self._folder = tempfile.TemporaryDirectory(prefix="tapps-machine-")
        root = Path(self._folder.name) / "project"
        self.start = to_epoch(DEFAULT_NOW)
        self.clock = VirtualClock(self.start)
        self.project = TappsProject(root, self.clock)
        root.mkdir(parents=True, exist_ok=True)
        self.faults = Faults(self.project)
        self.definitions = {wid: WorkflowDefinition.parse(spec) for wid, spec in WORKFLOWS.items()}
        self.project.context7("react")
        self.project.write(self.project.layout.project_profile, "language: python\n")
        self.session = Session(
            layout=Layout(root),
            clock=self.clock,
            definitions=self.definitions,
            runner=self.faults.runner(),
            step_faults=[],
            scratch=root.parent / "scratch",
        )
        self.target = self.make_target()
        self.target.start(self.session)
        #: The scenario so far: faults (with the attempts they hit) and actions.
        self.scenario_faults: list[dict[str, Any]] = []
        self.when: list[dict[str, Any]] = []
        self.held: dict[str, Any] = {}
        self._states: list[tuple[Path, WorkflowState | StateFileError]] | None = None

    def teardown(self) -> None:
        try:
            self.target.finish(self.session)
        finally:
            self.faults.close()
            self._folder.cleanup()
            self._undo.close()

    # -- reading the project -------------------------------------------------------------------

    def states(self) -> list[tuple[Path, WorkflowState | StateFileError]]:
        """Every state file as read now (cached until the next action changes the tree)."""
        if self._states is None:
            self._states = list(StateStore(self.session.layout).iter_states())
        return self._states

    def state(self, workflow_id: str) -> WorkflowState | None:
        """The workflow's state, or None when it has none yet."""
        for _path, state in self.states():
            if isinstance(state, WorkflowState) and state.workflow_id == workflow_id:
                return state
        return None

    def readable(self) -> list[str]:
        """The workflows that have a readable state."""
        return [w for w in WORKFLOW_IDS if self.state(w) is not None]

    def attempts(self, workflow_id: str) -> dict[str, int]:
        state = self.state(workflow_id)
        return {s: (state.attempts(s) if state else 0) for s in STEPS[workflow_id]}

    def completed(self, workflow_id: str) -> set[str]:
        state = self.state(workflow_id)
        if state is None:
            return set()
        return {s for s, e in state.latest().items() if e.status is StepStatus.COMPLETED}

    # -- the scenario being recorded -----------------------------------------------------------

    def _do(self, name: str, value: Any, item: Any = None) -> Outcome:
        self.when.append({name: value if item is None else item})
        for workflow_id, holder in self.held.items():  # healthy executors beat while time passes
            self.faults.beat(workflow_id, holder)
        self._states = None
        try:
            return self.target.perform(name, _spec(name, value), self.session)
        finally:
            self._states = None

    def _with_plan(
        self, action: str, workflow_id: str, plan: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, int], Outcome]:
        """Perform ``action`` with the plan's faults on the attempts it may use; then keep
        only the faults of attempts that happened (a refused run made none), so the faults
        recorded for the scenario are exactly the ones that fired."""
        before = self.attempts(workflow_id)
        faults_before, records_before = len(self.faults.step_faults), len(self.scenario_faults)
        self._plan_faults(workflow_id, plan)
        outcome = self._do(action, workflow_id)
        after = self.attempts(workflow_id)
        kept_faults, kept_records = [], []
        added = zip(
            self.faults.step_faults[faults_before:],
            self.scenario_faults[records_before:],
            strict=True,
        )
        for fault, record in added:
            ((name, spec),) = record.items()
            used = [a for a in spec["attempts"] if before[spec["step"]] < a <= after[spec["step"]]]
            if used:
                kept_faults.append(type(fault)(**{**vars(fault), "attempts": tuple(used)}))
                kept_records.append({name: {**spec, "attempts": used}})
        del self.faults.step_faults[faults_before:]
        del self.scenario_faults[records_before:]
        self.faults.step_faults.extend(kept_faults)
        self.scenario_faults.extend(kept_records)
        self.session.step_faults = [dict(fault) for fault in self.scenario_faults]
        return before, outcome

    def _plan_faults(self, workflow_id: str, plan: dict[str, dict[str, Any]]) -> None:
        """Turn a run's plan into step faults on the attempt numbers this run may use."""
        state = self.state(workflow_id)
        faults: list[Any] = []
        for step_id, outcome in plan.items():
            if outcome["kind"] == "ok":
                continue
            first = state.next_attempt(step_id) if state else 1
            tries = self.definitions[workflow_id].step(step_id).retry.max_attempts
            hit = list(range(first, first + tries))
            if outcome["kind"] == "timeout":
                faults.append(StepTimeout(step_id, tuple(hit)))
                record = {"step_timeout": {"step": step_id, "attempts": hit}}
            else:
                faults.append(
                    StepFailure(step_id, outcome["category"], outcome["recoverable"], tuple(hit))
                )
                record = {
                    "step_failure": {
                        "step": step_id,
                        "category": outcome["category"],
                        "recoverable": outcome["recoverable"],
                        "attempts": hit,
                    }
                }
            self.scenario_faults.append(record)
        self.faults.step_faults.extend(faults)
        self.session.step_faults = [
            {k: {**v, "attempts": list(v["attempts"])}}
            for f in self.scenario_faults
            for k, v in f.items()
        ]

    def check(self, ok: bool, what: str, then: dict[str, Any]) -> None:
        """Fail with ``what`` unless ``ok``; the scenario written says ``then``."""
        if ok:
            return
        where = self.export(what, then)
        message = f"{what}" + (f"\nreproducing scenario: {where}" if where else "")
        raise CheckFailed(message)

    def export(self, what: str, then: dict[str, Any]) -> Path | None:
        """Write the steps so far as a scenario (when ``TAPPS_EXPORT_FAILURES`` names a folder)."""
        folder = os.environ.get(EXPORT_ENV)
        if not folder:
            return None
        from pytest_tapps.scenario._export import write_scenario

        path = Path(folder) / f"{type(self).__name__}.tapps.yaml"
        return write_scenario(
            path,
            name=f"{type(self).__name__}: {what}",
            description=(
                "Found by pytest_tapps.stateful.RecoveryMachine and shrunk by Hypothesis; "
                f"it fails against {self.target.name}."
            ),
            runbook=_RUNBOOK_OF.get(then.get("_procedure", ""), _DEFAULT_PROCEDURE),
            given={
                "workflows": list(WORKFLOWS.values()),
                "context7": [{"library": "react"}],
                "profile": {"age": "0s"},
            },
            faults=self.scenario_faults,
            when=self.when,
            then={k: v for k, v in then.items() if not k.startswith("_")},
        )

    # -- rules -----------------------------------------------------------------------------------

    @rule(workflow_id=st.sampled_from(WORKFLOW_IDS), data=st.data())
    def run(self, workflow_id: str, data: st.DataObject) -> None:
        """Start a workflow over (a fresh run) with a plan of failures and timeouts."""
        plan = data.draw(plans(workflow_id), label="plan")
        before, outcome = self._with_plan("run", workflow_id, plan)
        if workflow_id in self.held:
            self.check_lock_kept(workflow_id)
            return
        self._one_attempt_for_non_recoverable(workflow_id, plan, before, outcome)

    @precondition(lambda self: any(self.state(w) for w in WORKFLOW_IDS))
    @rule(workflow_id=st.sampled_from(WORKFLOW_IDS), data=st.data())
    def resume(self, workflow_id: str, data: st.DataObject) -> None:
        """Resume a workflow: completed steps must not run again."""
        if self.state(workflow_id) is None:
            return
        plan = data.draw(plans(workflow_id), label="plan")
        done = self.completed(workflow_id)
        before, outcome = self._with_plan("resume", workflow_id, plan)
        after = self.attempts(workflow_id)
        for step_id in sorted(done):
            self.check(
                after[step_id] == before[step_id],
                f"resume ran completed step {step_id!r} of {workflow_id} again",
                {
                    "_procedure": "resume",
                    "workflows": {workflow_id: {"steps": {step_id: {"attempts": before[step_id]}}}},
                },
            )
        if workflow_id in self.held:
            self.check_lock_kept(workflow_id)
            return
        self._one_attempt_for_non_recoverable(workflow_id, plan, before, outcome)

    def _one_attempt_for_non_recoverable(
        self,
        workflow_id: str,
        plan: dict[str, dict[str, Any]],
        before: dict[str, int],
        outcome: Outcome,
    ) -> None:
        state = self.state(workflow_id)
        if state is None or outcome.exit_code == 2:
            return
        after = self.attempts(workflow_id)
        for step_id, planned in plan.items():
            tried = after[step_id] - before[step_id]
            if planned["kind"] == "failure" and not planned["recoverable"] and tried:
                self.check(
                    tried == 1,
                    f"non-recoverable failure of {step_id!r} in {workflow_id} was tried "
                    f"{tried} times",
                    {
                        "_procedure": "non-recoverable",
                        "workflows": {
                            workflow_id: {"steps": {step_id: {"attempts": before[step_id] + 1}}}
                        },
                    },
                )

    @precondition(lambda self: any(self.state(w) for w in WORKFLOW_IDS))
    @rule(
        workflow_id=st.sampled_from(WORKFLOW_IDS),
        action=st.sampled_from(["retry_step", "skip_step"]),
        data=st.data(),
    )
    def edit_step(self, workflow_id: str, action: str, data: st.DataObject) -> None:
        """retry-step or skip-step on one step."""
        if self.state(workflow_id) is None:
            return
        step_id = data.draw(st.sampled_from(STEPS[workflow_id]), label="step")
        self._do(action, {"workflow": workflow_id, "step": step_id})
        if workflow_id in self.held:
            self.check_lock_kept(workflow_id)

    @precondition(lambda self: any(self.state(w) for w in WORKFLOW_IDS))
    @rule(workflow_id=st.sampled_from(WORKFLOW_IDS))
    def reset(self, workflow_id: str) -> None:
        """Reset a workflow to its first step (with a backup)."""
        if self.state(workflow_id) is None:
            return
        self._do("reset", workflow_id)
        if workflow_id in self.held:
            self.check_lock_kept(workflow_id)

    @precondition(lambda self: any(self.state(w) for w in WORKFLOW_IDS))
    @rule(workflow_id=st.sampled_from(WORKFLOW_IDS))
    def crash_mid_write(self, workflow_id: str) -> None:
        """A write of the workflow's state was killed half-way (a temp file is left)."""
        if self.state(workflow_id) is None:
            return
        self.when.append(
            {"inject": {"crash_during_write": {"workflow": workflow_id, "kind": "temp"}}}
        )
        self.faults.crash_during_write(workflow_id, kind="temp")
        self._states = None

    @rule(seconds=st.sampled_from([1.0, 3600.0, 6 * DAY, 7 * DAY, 7 * DAY + 1, 30 * DAY]))
    def advance(self, seconds: float) -> None:
        """Time passes."""
        from pytest_tapps.core import format_duration

        self.when.append({"advance": format_duration(seconds)})
        self.clock.sleep(seconds)
        for workflow_id, holder in self.held.items():  # a working executor keeps beating
            self.faults.beat(workflow_id, holder)

    @precondition(lambda self: len(self.held) < len(WORKFLOW_IDS))
    @rule(workflow_id=st.sampled_from(WORKFLOW_IDS))
    def hold_lock(self, workflow_id: str) -> None:
        """A live executor takes the workflow's lock (if it is free)."""
        lock = self.session.layout.lock_file(workflow_id)
        if workflow_id in self.held or lock.exists():
            return
        self.when.append({"hold_lock": workflow_id})
        self.held[workflow_id] = self.faults.live_lock(workflow_id)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def release_lock(self, data: st.DataObject) -> None:
        """That executor dies; its lock file stays, stale."""
        workflow_id = data.draw(st.sampled_from(sorted(self.held)), label="workflow")
        child = self.held.pop(workflow_id)
        self.when.append({"release_lock": workflow_id})
        child.kill()
        child.wait()

    @rule()
    def cleanup(self) -> None:
        """The retention cleanup: completed workflows' worktrees go, others follow the rules."""
        from pytest_tapps.core._worktrees import inventory

        infos = {info.name: info for info in inventory(self.session.layout, clock=self.clock)}
        self._do("cleanup", {}, {})
        worktrees = self.session.layout.worktrees_dir
        for name, info in sorted(infos.items()):
            path = f".tapps-agents/worktrees/{name}"
            exists = (worktrees / name).exists()
            age = self.clock.time() - (info.timestamp or self.clock.time())
            if info.status == "completed":
                self.check(
                    not exists,
                    f"the worktree {name} of a completed workflow survived a cleanup",
                    {"_procedure": "completed", "absent": [path]},
                )
            elif info.status in ("active", "stuck"):
                self.check(
                    exists,
                    f"the worktree {name} of a running workflow was removed",
                    {"_procedure": "stuck", "present": [path]},
                )
            elif info.status == "failed" and age <= 7 * DAY:
                self.check(
                    exists,
                    f"the worktree {name} of a failed workflow went before 7 days ({age:g} s)",
                    {"_procedure": "failed", "present": [path]},
                )

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def state_files_load(self) -> None:
        """Every workflow state file can be read."""
        for path, state in self.states():
            if isinstance(state, StateFileError):
                self.check(
                    False,
                    f"state file {path.name} cannot be read: {state.reason}",
                    {
                        "_procedure": "state",
                        "workflows": {w: {} for w in WORKFLOW_IDS if self.state(w)},
                    },
                )

    @invariant()
    def caches_stay(self) -> None:
        """Retention never removes the Context7 cache or the project profile."""
        for relative in (CONTEXT7, PROFILE):
            self.check(
                (self.project.root / relative).exists(),
                f"{relative} was removed",
                {"_procedure": "cache", "present": [relative]},
            )

    def check_lock_kept(self, workflow_id: str) -> None:
        """A live holder's lock file is still there, still naming it."""
        from pytest_tapps.core import inspect_lock

        lock = self.session.layout.lock_file(workflow_id)
        child = self.held[workflow_id]
        ok = lock.exists()
        if ok:
            record = inspect_lock(lock, clock=self.clock).record
            ok = record is not None and record.pid == child.pid
        self.check(
            ok,
            f"the live holder's lock of {workflow_id} was removed or taken over",
            {"_procedure": "lock", "locks": {workflow_id: "present"}},
        )

    @invariant()
    def live_locks_kept(self) -> None:
        for workflow_id in sorted(self.held):
            self.check_lock_kept(workflow_id)


def _spec(name: str, value: Any) -> Any:
    """The action's model, as a scenario would have parsed it."""
    return _adapter(name).validate_python(value)


@functools.cache
def _adapter(name: str) -> Any:
    """One pydantic adapter per action (building one costs more than the action itself)."""
    from pydantic import TypeAdapter

    from pytest_tapps.scenario._model import ACTIONS

    return TypeAdapter(ACTIONS[name])


_DEFAULT_PROCEDURE = "Workflow Stuck/Failed Recovery > Recovery Procedures > Resume Workflow"
_RUNBOOK_OF = {
    "resume": "Retry/Timeout Handling > Manual Retry Procedures > Resume Workflow",
    "non-recoverable": (
        "Agent Failures and Recovery > Recovery Procedures > Non-Recoverable Errors > "
        "Review error message and details"
    ),
    "completed": "Data Retention Policies > Worktrees > Completed worktrees",
    "failed": "Data Retention Policies > Worktrees > Failed worktrees",
    "stuck": "Data Retention Policies > Worktrees > Stuck worktrees",
    "cache": "Data Retention Policies > Cache > Context7 cache",
    "lock": "Workflow Stuck/Failed Recovery > Recovery Procedures > Force Cleanup",
    "state": "Workflow Stuck/Failed Recovery > Diagnosis > Check workflow state",
}

__all__ = ["EXPORT_ENV", "WORKFLOWS", "CheckFailed", "RecoveryMachine", "plans"]
