"""Checks across a scenario's parts: what the schema alone cannot say.

A ``run:`` needs a definition in ``given.workflows``; a step fault names a step of one; ``then``
keys that read the result of an action (``plan``, ``corrupted``, ``diagnosis``, ``worktrees``)
need that action in ``when``; git worktrees and live lock holders need the real filesystem.
"""

from __future__ import annotations

from collections.abc import Iterator

from pytest_tapps.core._yamlutil import did_you_mean
from pytest_tapps.scenario._model import Scenario, action_name, action_value
from pytest_tapps.scenario._runbook import runbook

Loc = tuple[str | int, ...]

#: ``then`` keys that read what an action returned, and the actions that return it.
RESULT_KEYS = {
    "plan": ("cleanup", "worktree_prune"),
    "corrupted": ("cache_verify", "cache_recover"),
    "diagnosis": ("status",),
    "worktrees": ("worktree_list",),
}
_STEP_FAULTS = (
    "step_timeout",
    "step_failure",
    "failed_result",
    "flaky",
    "hang",
    "slow",
    "kill_executor",
)


def subject_workflow(scenario: Scenario) -> str | None:
    """The workflow ``then.steps`` and ``then.status`` talk about: the last one acted on, or
    the only one given."""
    for action in reversed(scenario.when):
        value = action_value(action)
        workflow = getattr(value, "workflow", None)
        if isinstance(workflow, str):
            return workflow
    ids = [w.id for w in scenario.given.workflows] + [s.id for s in scenario.given.states]
    return ids[0] if len(set(ids)) == 1 else None


def cross_check(scenario: Scenario) -> Iterator[tuple[Loc, str]]:
    """``(location, message)`` for each problem across the scenario's parts."""
    yield from _references(scenario)
    yield from _actions(scenario)
    yield from _faults(scenario)
    yield from _real_only(scenario)
    yield from _then(scenario)


def _references(scenario: Scenario) -> Iterator[tuple[Loc, str]]:
    book = runbook()
    for index, reference in enumerate(scenario.references):
        try:
            book.check(reference)
        except ValueError as exc:
            loc: Loc = ("runbook",) if isinstance(scenario.runbook, str) else ("runbook", index)
            yield loc, str(exc)


def _actions(scenario: Scenario) -> Iterator[tuple[Loc, str]]:
    definitions = {w.id: w for w in scenario.given.workflows}
    held: set[str] = set()
    for index, action in enumerate(scenario.when):
        name = action_name(action)
        value = action_value(action)
        if name == "hold_lock":
            if value in held:
                yield (
                    ("when", index, name),
                    f"{value!r} is already held since an earlier hold_lock",
                )
            held.add(value)
        elif name == "release_lock":
            if value not in held:
                yield (("when", index, name), f"no hold_lock of {value!r} before this release_lock")
            held.discard(value)
        if name == "run" and value.workflow not in definitions:
            hint = did_you_mean(value.workflow, definitions)
            yield (
                ("when", index, name),
                f"no workflow {value.workflow!r} in given.workflows{hint}; "
                "a run needs its definition there",
            )
        if (
            name == "resume"
            and value.definition is not None
            and value.definition not in definitions
        ):
            hint = did_you_mean(value.definition, definitions)
            yield (
                ("when", index, name, "definition"),
                f"no workflow {value.definition!r} in given.workflows{hint}",
            )
        if name == "cache_invalidate" and (value.library is None) == (not value.all):
            yield (("when", index, name), "write either library: ID or all: true")
        if name == "inject" and action_name(value) in _STEP_FAULTS:
            yield (
                ("when", index, name),
                "inject takes tree faults (crash_during_write, corrupt_cache_entry, ...); step "
                "faults go under faults:, with attempts: for the attempts they hit",
            )


def _faults(scenario: Scenario) -> Iterator[tuple[Loc, str]]:
    steps = {step.id for w in scenario.given.workflows for step in w.steps}
    states = {state.id for state in scenario.given.states}
    for index, fault in enumerate(scenario.faults):
        name = action_name(fault)
        value = action_value(fault)
        if name in _STEP_FAULTS and value.step not in steps:
            hint = did_you_mean(value.step, steps)
            yield (
                ("faults", index, name, "step"),
                f"no step {value.step!r} in given.workflows{hint}",
            )
        if name == "crash_during_write" and value.workflow not in states:
            hint = did_you_mean(value.workflow, states)
            yield (
                ("faults", index, name, "workflow"),
                f"no state {value.workflow!r} in given.states{hint}; crash_during_write damages "
                "a state file written there (inject it after an action to damage a later one)",
            )
        if name == "disk_full" and scenario.fs != "fake":
            yield (
                ("faults", index, name),
                "disk_full needs fs: fake (the real disk is not filled)",
            )
    if scenario.fs == "fake":
        for index, worktree in enumerate(scenario.given.worktrees):
            if worktree.git:
                yield (
                    ("given", "worktrees", index, "git"),
                    "git worktrees need fs: real (git cannot run on the fake filesystem)",
                )


_LIVE = "a real process holds the lock, and a process cannot see the fake filesystem"
_ZOMBIE = "a process's state is read from /proc, which the fake filesystem hides"
_GIT = "git cannot run on the fake filesystem"
#: Tree faults only the real filesystem can hold, and why.
_REAL_FAULTS = {
    "stuck_worktree": _GIT,
    "locked_file": "a real process holds the file's lock, and it cannot see the fake filesystem",
}


def _real_only(scenario: Scenario) -> Iterator[tuple[Loc, str]]:
    """What only the real filesystem can hold, in a scenario with ``fs: fake``: a live lock
    holder (``given.locks``, ``hold_lock``) and a git worktree left by a dead run."""
    if scenario.fs != "fake":
        return
    for index, lock in enumerate(scenario.given.locks):
        if lock.holder == "live":
            yield ("given", "locks", index, "holder"), f"a live lock needs fs: real ({_LIVE})"
        if lock.holder == "zombie":
            yield ("given", "locks", index, "holder"), f"a zombie holder needs fs: real ({_ZOMBIE})"
    for index, fault in enumerate(scenario.faults):
        if action_name(fault) in _REAL_FAULTS:
            name = action_name(fault)
            yield ("faults", index, name), f"{name} needs fs: real ({_REAL_FAULTS[name]})"
    for index, action in enumerate(scenario.when):
        name = action_name(action)
        if name == "hold_lock":
            yield ("when", index, name), f"hold_lock needs fs: real ({_LIVE})"
        injected = action_name(action_value(action)) if name == "inject" else None
        if injected in _REAL_FAULTS:
            yield ("when", index, name), f"{injected} needs fs: real ({_REAL_FAULTS[injected]})"


def _then(scenario: Scenario) -> Iterator[tuple[Loc, str]]:
    names = [action_name(a) for a in scenario.when]
    for key, producers in RESULT_KEYS.items():
        if getattr(scenario.then, key) and not any(n in producers for n in names):
            yield (
                ("then", key),
                f"then.{key} reads the result of {' or '.join(producers)}; add one to when:",
            )
    about_subject = [
        key for key in ("steps", "status", "error") if getattr(scenario.then, key) is not None
    ]
    if scenario.then.steps == {}:
        about_subject.remove("steps")
    if about_subject and subject_workflow(scenario) is None:
        yield (
            ("then", about_subject[0]),
            "several workflows are given; say which under then.workflows: {ID: {...}}",
        )
    then = scenario.then
    if (then.exit_code is not None or then.output_contains or then.output_lacks) and not names:
        yield (("then", "exit_code"), "a command's exit code and output need an action in when:")
