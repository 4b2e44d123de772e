"""Tests for pytest_tapps.scenario._check: what the schema alone cannot say."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_tapps.scenario._check import RESULT_KEYS, cross_check, subject_workflow
from pytest_tapps.scenario._load import parse
from pytest_tapps.scenario._model import Scenario

RUNBOOK = "Retry/Timeout Handling > Automatic Retries > Stop after max_attempts"
WORKFLOW = {"id": "workflow-123", "steps": [{"id": "critical-step"}, {"id": "review"}]}

Found = list[tuple[tuple[str | int, ...], str]]


def scenario(**keys: Any) -> Scenario:
    """A scenario that passes the schema, with one workflow given unless ``given`` says."""
    data: dict[str, Any] = {
        "name": "case",
        "runbook": RUNBOOK,
        "given": {"workflows": [WORKFLOW]},
        **keys,
    }
    return parse(data)


def problems(**keys: Any) -> Found:
    """The cross-check problems of :func:`scenario` (``keys``)."""
    return list(cross_check(scenario(**keys)))


def test_a_consistent_scenario_has_no_problems() -> None:
    """Run, fault and expectations that agree raise nothing."""
    assert (
        problems(
            faults=[{"step_timeout": "critical-step"}],
            when=[{"run": "workflow-123"}],
            then={"steps": {"critical-step": {"status": "failed"}}, "exit_code": 1},
        )
        == []
    )


def test_a_run_needs_its_workflow_given() -> None:
    """``run:`` of a workflow not in given.workflows is refused, with a suggestion."""
    assert problems(when=[{"command": "x"}, {"run": "workflow-12"}]) == [
        (
            ("when", 1, "run"),
            "no workflow 'workflow-12' in given.workflows (did you mean 'workflow-123'?); "
            "a run needs its definition there",
        )
    ]
    assert problems(given={}, when=[{"run": "w"}]) == [
        (("when", 0, "run"), "no workflow 'w' in given.workflows; a run needs its definition there")
    ]


def test_a_state_does_not_count_as_a_definition() -> None:
    """A workflow known only from a state file cannot be run (there are no steps to run)."""
    assert problems(given={"states": [{"id": "w"}]}, when=[{"run": "w"}]) == [
        (("when", 0, "run"), "no workflow 'w' in given.workflows; a run needs its definition there")
    ]


@pytest.mark.parametrize("fault", ["step_timeout", "step_failure", "flaky", "hang"])
def test_a_step_fault_names_a_given_step(fault: str) -> None:
    """Every step fault must name a step of a given workflow; a typo gets a suggestion."""
    assert problems(faults=[{fault: "critcal-step"}]) == [
        (
            ("faults", 0, fault, "step"),
            "no step 'critcal-step' in given.workflows (did you mean 'critical-step'?)",
        )
    ]


def test_disk_full_needs_the_fake_filesystem() -> None:
    """The real disk is never filled: disk_full requires fs: fake."""
    assert problems(faults=[{"disk_full": {}}]) == [
        (("faults", 0, "disk_full"), "disk_full needs fs: fake (the real disk is not filled)")
    ]
    assert problems(fs="fake", faults=[{"disk_full": {"free_bytes": 10}}]) == []


def test_git_worktrees_need_the_real_filesystem() -> None:
    """git cannot run on the fake filesystem, so a git worktree needs fs: real."""
    worktrees = [{"name": "plain"}, {"name": "real-one", "git": True}]
    assert problems(fs="fake", given={"worktrees": worktrees}) == [
        (
            ("given", "worktrees", 1, "git"),
            "git worktrees need fs: real (git cannot run on the fake filesystem)",
        )
    ]
    assert problems(fs="real", given={"worktrees": worktrees}) == []


def test_a_crash_during_write_fault_names_a_given_state() -> None:
    """A state write can be killed only where a state is written: under faults: the workflow
    needs a state in given.states (inject, after an action, is not checked)."""
    states = [{"id": "wf-1", "status": "failed"}]
    assert problems(faults=[{"crash_during_write": {"workflow": "wf-2"}}]) == [
        (
            ("faults", 0, "crash_during_write", "workflow"),
            "no state 'wf-2' in given.states; crash_during_write damages a state file written "
            "there (inject it after an action to damage a later one)",
        )
    ]
    given = {"workflows": [WORKFLOW], "states": states}
    assert problems(given=given, faults=[{"crash_during_write": {"workflow": "wf-2"}}]) == [
        (
            ("faults", 0, "crash_during_write", "workflow"),
            "no state 'wf-2' in given.states (did you mean 'wf-1'?); crash_during_write damages "
            "a state file written there (inject it after an action to damage a later one)",
        )
    ]
    assert problems(given=given, faults=[{"crash_during_write": {"workflow": "wf-1"}}]) == []
    assert problems(when=[{"inject": {"crash_during_write": {"workflow": "wf-2"}}}]) == []


LIVE = "a real process holds the lock, and a process cannot see the fake filesystem"
GIT = "git cannot run on the fake filesystem"


def test_live_lock_holders_and_stuck_worktrees_need_the_real_filesystem() -> None:
    """A live holder (given.locks, hold_lock) and a stuck git worktree (as a fault or
    injected) cannot exist on fs: fake: each is a problem at its own item; stale holders are
    fine there, and all of them are fine on fs: real."""
    keys: dict[str, Any] = {
        "given": {
            "workflows": [WORKFLOW],
            "locks": [{"workflow": "a", "holder": "dead-pid"}, {"workflow": "b", "holder": "live"}],
        },
        "faults": [{"stuck_worktree": {"name": "wt"}}],
        "when": [
            {"hold_lock": "workflow-123"},
            {"inject": {"stuck_worktree": {"name": "wt-2"}}},
            {"release_lock": "workflow-123"},
        ],
    }
    assert problems(fs="fake", **keys) == [
        (("given", "locks", 1, "holder"), f"a live lock needs fs: real ({LIVE})"),
        (("faults", 0, "stuck_worktree"), f"stuck_worktree needs fs: real ({GIT})"),
        (("when", 0, "hold_lock"), f"hold_lock needs fs: real ({LIVE})"),
        (("when", 1, "inject"), f"stuck_worktree needs fs: real ({GIT})"),
    ]
    assert problems(fs="real", **keys) == []


def test_a_zombie_lock_holder_needs_the_real_filesystem() -> None:
    """An unreaped holder is judged by its /proc state, which fs: fake hides: refused there."""
    keys: dict[str, Any] = {
        "given": {"workflows": [WORKFLOW], "locks": [{"workflow": "a", "holder": "zombie"}]},
    }
    assert problems(fs="fake", **keys) == [
        (
            ("given", "locks", 0, "holder"),
            "a zombie holder needs fs: real (a process's state is read from /proc, which the "
            "fake filesystem hides)",
        ),
    ]
    assert problems(fs="real", **keys) == []


@pytest.mark.parametrize(
    ("key", "value", "producers"),
    [
        ("plan", {"a": "keep"}, "cleanup or worktree_prune"),
        ("corrupted", {"lib": "hash"}, "cache_verify or cache_recover"),
        ("diagnosis", {"stuck": True}, "status"),
        ("worktrees", {"w": {"status": "stuck"}}, "worktree_list"),
    ],
)
def test_result_expectations_need_their_action(key: str, value: Any, producers: str) -> None:
    """then keys that read an action's result need that action in when:."""
    assert problems(then={key: value}, when=[{"command": "x"}]) == [
        (("then", key), f"then.{key} reads the result of {producers}; add one to when:")
    ]


@pytest.mark.parametrize(
    ("key", "value", "action"),
    [
        ("plan", {"a": "keep"}, {"cleanup": {"dry_run": True}}),
        ("plan", {"a": "keep"}, {"worktree_prune": {}}),
        ("corrupted", {}, {"cache_recover": {}}),
        ("diagnosis", {"stuck": True}, {"status": "workflow-123"}),
        ("worktrees", {"w": {"status": "stuck"}}, {"worktree_list": {}}),
    ],
)
def test_result_expectations_with_their_action_pass(key: str, value: Any, action: Any) -> None:
    """With the producing action in when:, the result expectation is fine."""
    assert problems(then={key: value}, when=[action]) == []


def test_the_result_keys_are_then_fields() -> None:
    """Every result key names a field of then, and every producer an action."""
    from pytest_tapps.scenario._model import ACTIONS, Then

    for key, producers in RESULT_KEYS.items():
        assert key in Then.model_fields
        assert set(producers) <= set(ACTIONS)


def test_step_expectations_need_one_subject_workflow() -> None:
    """then.steps with two workflows given and none acted on is ambiguous."""
    two = {"workflows": [WORKFLOW, {"id": "other", "steps": [{"id": "s"}]}]}
    assert problems(given=two, then={"steps": {"s": {"status": "failed"}}}) == [
        (
            ("then", "steps"),
            "several workflows are given; say which under then.workflows: {ID: {...}}",
        )
    ]
    assert problems(given=two, then={"status": "failed"}) == [
        (
            ("then", "status"),
            "several workflows are given; say which under then.workflows: {ID: {...}}",
        )
    ]
    assert problems(given=two, when=[{"run": "other"}], then={"status": "failed"}) == []


def test_subject_workflow_is_the_last_acted_on_or_the_only_one() -> None:
    """The workflow then.steps talks about: the last action's, else the only one given."""
    assert subject_workflow(scenario()) == "workflow-123"
    assert subject_workflow(scenario(given={"states": [{"id": "s"}]})) == "s"
    assert (
        subject_workflow(
            scenario(
                given={"workflows": [WORKFLOW], "states": [{"id": "workflow-123"}]},
            )
        )
        == "workflow-123"
    )
    acted = scenario(when=[{"run": "workflow-123"}, {"resume": "later"}, {"cleanup": {}}])
    assert subject_workflow(acted) == "later"
    assert subject_workflow(scenario(given={})) is None


@pytest.mark.parametrize(
    "then", [{"exit_code": 0}, {"output_contains": ["x"]}, {"output_lacks": ["x"]}]
)
def test_exit_code_and_output_need_an_action(then: dict[str, Any]) -> None:
    """A command's exit code and output need something in when: to produce them."""
    assert problems(then=then) == [
        (("then", "exit_code"), "a command's exit code and output need an action in when:")
    ]
    assert problems(then=then, when=[{"command": "dlq list"}]) == []


@pytest.mark.parametrize("arguments", [{}, {"library": "lib", "all": True}, {"all": False}])
def test_cache_invalidate_takes_a_library_or_all(arguments: dict[str, Any]) -> None:
    """cache_invalidate needs exactly one of library: and all: true."""
    assert problems(when=[{"cache_invalidate": arguments}]) == [
        (("when", 0, "cache_invalidate"), "write either library: ID or all: true")
    ]


@pytest.mark.parametrize("arguments", [{"library": "lib"}, {"all": True}])
def test_cache_invalidate_with_one_target_passes(arguments: dict[str, Any]) -> None:
    """One library, or the whole cache, is a valid invalidation."""
    assert problems(when=[{"cache_invalidate": arguments}]) == []


def test_runbook_references_are_checked() -> None:
    """Each reference of a list is checked, and its problem points at its index."""
    assert problems(runbook=[RUNBOOK, "Retry/Timeout Handling > Prevention"]) == [
        (
            ("runbook", 1),
            "'Retry/Timeout Handling > Prevention' is not a runbook procedure "
            "(did you mean 'Retry/Timeout Handling > Timeout Configuration > Default timeout'?)",
        )
    ]
    assert problems(runbook="Related Documentation") == [
        (("runbook",), "'Related Documentation' is advice in the runbook, not a procedure to test")
    ]


def test_every_problem_of_a_scenario_is_reported() -> None:
    """Cross-checks do not stop at the first problem."""
    found = problems(
        fs="fake",
        faults=[{"hang": "nope"}, {"disk_full": {}}],
        when=[{"run": "nope"}],
        given={"workflows": [WORKFLOW], "worktrees": [{"name": "w", "git": True}]},
        then={"plan": {"a": "keep"}},
    )
    assert [loc for loc, _ in found] == [
        ("when", 0, "run"),
        ("faults", 0, "hang", "step"),
        ("given", "worktrees", 0, "git"),
        ("then", "plan"),
    ]


def test_inject_takes_tree_faults_only() -> None:
    """A step fault mid-scenario is refused (step faults go under faults: with attempts:)."""
    assert problems(when=[{"inject": {"step_timeout": "review"}}]) == [
        (
            ("when", 0, "inject"),
            "inject takes tree faults (crash_during_write, corrupt_cache_entry, ...); step "
            "faults go under faults:, with attempts: for the attempts they hit",
        )
    ]
    tree_fault = {"inject": {"crash_during_write": {"workflow": "workflow-123", "kind": "temp"}}}
    assert problems(when=[tree_fault]) == []


def test_locks_are_released_only_after_they_are_held() -> None:
    """release_lock needs an earlier hold_lock of the same workflow; hold_lock is not doubled."""
    when = [
        {"release_lock": "wf-1"},
        {"hold_lock": "wf-1"},
        {"hold_lock": "wf-1"},
        {"release_lock": "wf-1"},
    ]
    assert problems(when=when) == [
        (("when", 0, "release_lock"), "no hold_lock of 'wf-1' before this release_lock"),
        (("when", 2, "hold_lock"), "'wf-1' is already held since an earlier hold_lock"),
    ]


def test_a_locked_file_needs_the_real_filesystem() -> None:
    """locked_file (a process holds the file's lock) on fs: fake is a problem at its item, as
    a fault or injected, naming why; on fs: real it is fine."""
    why = "a real process holds the file's lock, and it cannot see the fake filesystem"
    keys: dict[str, Any] = {
        "faults": [{"locked_file": {"path": ".tapps-agents/logs/application/a.log"}}],
        "when": [{"inject": {"locked_file": {"path": ".tapps-agents/logs/debug/b.log"}}}],
    }
    assert problems(fs="fake", **keys) == [
        (("faults", 0, "locked_file"), f"locked_file needs fs: real ({why})"),
        (("when", 0, "inject"), f"locked_file needs fs: real ({why})"),
    ]
    assert problems(fs="real", **keys) == []
