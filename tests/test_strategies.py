"""Tests for pytest_tapps.strategies: every strategy draws what the core accepts (or, with
``invalid=True``, what it refuses), validates its arguments at once, and reprs as its call."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from pydantic import ValidationError

from pytest_tapps import strategies
from pytest_tapps.core import (
    CATEGORIES,
    DONE_STATUSES,
    ErrorEnvelope,
    Layout,
    RetentionPolicy,
    RetryPolicy,
    StepStatus,
    WorkflowDefinition,
    WorkflowState,
    WorkflowStatus,
    YamlFileError,
    format_duration,
    inspect_lock,
    load_retention,
    parse_timeout,
    pid_alive,
)
from pytest_tapps.core._locks import read_lock
from pytest_tapps.core._retention import BY_NAME, DAY, parse_retention
from pytest_tapps.core._yamlutil import Problem
from pytest_tapps.harness import project
from pytest_tapps.strategies import (
    LockState,
    TreeDescription,
    ages,
    error_envelopes,
    lock_states,
    retention_policies,
    retry_policies,
    timeouts,
    trees,
    workflow_states,
)

# -- the module ----------------------------------------------------------------------------------


def test_public_names_are_sorted_and_resolve() -> None:
    """__all__ is sorted and every name in it exists."""
    assert strategies.__all__ == sorted(strategies.__all__)
    assert all(hasattr(strategies, name) for name in strategies.__all__)


def test_nothing_else_imports_the_strategies() -> None:
    """The plugin, the harness and the core load neither Hypothesis nor this module."""
    code = (
        "import sys, pytest_tapps, pytest_tapps.plugin, pytest_tapps.core, pytest_tapps.harness\n"
        "print('hypothesis' in sys.modules, 'pytest_tapps.strategies' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.split() == ["False", "False"]


def test_the_ci_profile_is_in_force_under_ci() -> None:
    """With CI set (and no explicit profile), these tests run on the bounded, derandomized
    profile that tests/conftest.py registers; no test here raises its example count."""
    if not os.environ.get("CI") or os.environ.get("TAPPS_HYPOTHESIS_PROFILE"):
        pytest.skip("CI is not set")
    assert settings().derandomize
    assert settings().max_examples == 60


# -- reprs and argument validation ---------------------------------------------------------------

REPRS = [
    (retry_policies, "retry_policies()"),
    (lambda: retry_policies(max_attempts=5), "retry_policies(max_attempts=5)"),
    (
        lambda: retry_policies(strategies=["fixed"], invalid=True),
        "retry_policies(strategies=['fixed'], invalid=True)",
    ),
    (lambda: timeouts(units=True), "timeouts(units=True)"),
    (lambda: timeouts(min_value=1, max_value=60.0), "timeouts(min_value=1, max_value=60.0)"),
    (lambda: error_envelopes(recoverable=False), "error_envelopes(recoverable=False)"),
    (lambda: workflow_states(max_steps=2), "workflow_states(max_steps=2)"),
    (lambda: retention_policies(never=False), "retention_policies(never=False)"),
    (lambda: ages(around="30d"), "ages(around='30d')"),
    (ages, "ages()"),
    (lambda: trees(hostile=False, symlinks=False), "trees(hostile=False, symlinks=False)"),
    (lambda: lock_states(kinds=["live"]), "lock_states(kinds=['live'])"),
    (lambda: ages(around=7).map(abs), "ages(around=7).map(abs)"),
]


@pytest.mark.parametrize(("make", "expected"), REPRS, ids=[r for _, r in REPRS])
def test_strategies_repr_as_their_call(make: Callable[[], Any], expected: str) -> None:
    """A strategy's repr is the call that made it, with only the arguments passed."""
    assert repr(make()) == expected


BAD_ARGUMENTS = [
    (
        lambda: retry_policies(min_attempts=0),
        "min_attempts=0 is less than 1 (max_attempts counts the first try); pass min_attempts >= 1",
    ),
    (
        lambda: retry_policies(min_attempts=5, max_attempts=3),
        "max_attempts=3 is less than min_attempts=5; pass max_attempts >= min_attempts",
    ),
    (
        lambda: retry_policies(max_attempts=2.5),  # type: ignore[call-overload]
        "max_attempts=2.5 must be a whole number (an int); pass e.g. max_attempts=1",
    ),
    (
        lambda: retry_policies(strategies=[]),
        "strategies=[] is empty, so nothing could be drawn; name at least one backoff strategy, "
        "or pass None for all of them",
    ),
    (
        lambda: retry_policies(strategies=["expo"]),
        "strategies contains 'expo', which is not a backoff strategy; use ['exponential', "
        "'linear', 'fixed']",
    ),
    (
        lambda: retry_policies(jitters=["ful"]),
        "jitters contains 'ful', which is not a jitter (did you mean 'full'?); use ['none', "
        "'full', 'equal', 'decorrelated']",
    ),
    (
        lambda: retry_policies(strategies="fixed"),
        "strategies='fixed' must be a list of backoff strategy names, e.g. "
        "strategies=['exponential'], or None for all of them",
    ),
    (
        lambda: retry_policies(max_initial_delay=100, max_delay=10),
        "max_delay=10.0 is less than max_initial_delay=100.0 (a policy's max_delay is at least "
        "its initial_delay); pass max_delay >= max_initial_delay",
    ),
    (
        lambda: retry_policies(max_delay=-1),
        "max_delay=-1 must be a finite number of seconds >= 0",
    ),
    (
        lambda: retry_policies(max_delay=math.inf),
        "max_delay=inf must be a finite number of seconds >= 0",
    ),
    (lambda: retry_policies(invalid=1), "invalid=1 must be True or False"),  # type: ignore[call-overload]
    (
        lambda: timeouts(min_value=0),
        "min_value=0 is not positive, and a timeout must be > 0 seconds (parse_timeout refuses "
        "0); pass min_value > 0, or None for just above zero",
    ),
    (
        lambda: timeouts(min_value=10, max_value=5),
        "max_value=5.0 is less than min_value=10.0; pass max_value >= min_value",
    ),
    (
        lambda: timeouts(min_value=1 / 3, max_value=1 / 3, units=True),
        "no duration with a unit lies in [min_value=0.3333333333333333, max_value="
        "0.3333333333333333] (units are ms, s, m, h, d, w with up to 3 decimals); widen the "
        "bounds or pass units=False",
    ),
    (
        lambda: timeouts(max_value="15m"),  # type: ignore[arg-type]
        "max_value='15m' must be a number of seconds; pass e.g. max_value=60.0",
    ),
    (
        lambda: error_envelopes(categories=["network"]),
        "categories contains 'network', which is not a category; use ['configuration', "
        "'external_dependency', 'validation', 'execution', 'permission', 'timeout']",
    ),
    (lambda: error_envelopes(recoverable="yes"), "recoverable='yes' must be True or False"),  # type: ignore[call-overload]
    (
        lambda: workflow_states(min_steps=3, max_steps=1),
        "max_steps=1 is less than min_steps=3; pass max_steps >= min_steps",
    ),
    (
        lambda: workflow_states(max_steps=0, statuses=["failed"]),
        "statuses=['failed'] with max_steps=0: a failed or paused workflow has at least one "
        "step; raise max_steps, or allow 'running' or 'completed'",
    ),
    (
        lambda: workflow_states(statuses=["done"]),
        "statuses contains 'done', which is not a workflow status; use ['running', 'paused', "
        "'completed', 'failed']",
    ),
    (
        lambda: retention_policies(categories=["context7_cache"]),
        "categories contains 'context7_cache', which cannot be given an age (the runbook: manual "
        "cleanup); leave it out (overridable: ['workflow_artifacts', 'quality_reports', "
        "'test_results', 'documentation_artifacts', 'application_logs', 'structured_logs', "
        "'debug_logs', 'analytics_history', 'performance_metrics', 'confidence_metrics', "
        "'tiered_context_cache', 'completed_worktrees', 'failed_worktrees', 'orphan_worktrees'])",
    ),
    (
        lambda: retention_policies(categories=["analytic_history"]),
        "categories contains 'analytic_history', which is not a retention category (did you "
        "mean 'analytics_history'?); use ['workflow_artifacts', 'quality_reports', "
        "'test_results', 'documentation_artifacts', 'application_logs', 'structured_logs', "
        "'debug_logs', 'analytics_history', 'performance_metrics', 'confidence_metrics', "
        "'context7_cache', 'tiered_context_cache', 'project_profile', 'completed_worktrees', "
        "'failed_worktrees', 'orphan_worktrees', 'stuck_worktrees', 'active_worktrees']",
    ),
    (
        lambda: retention_policies(min_age=0),
        "min_age=0: retention ages must be > 0 (config.yaml refuses 0); pass min_age >= 1",
    ),
    (
        lambda: retention_policies(min_age=1.2, max_age=1.8),
        "no whole number of seconds lies in [min_age=1.2, max_age=1.8] (drawn ages are whole "
        "seconds, so config.yaml holds them exactly); widen the bounds",
    ),
    (
        lambda: ages(around=[]),
        "around=[] is empty, so there is no boundary to cluster at; pass a duration such as "
        "around='30d', or a list of them",
    ),
    (
        lambda: ages(around="30 days"),
        "around: '30 days' is not a duration; write a number of seconds or a string with a unit "
        "such as '5s', '15m', '12h', '30d'",
    ),
    (lambda: ages(around=-5), "around: must be >= 0 seconds, got -5"),
    (
        lambda: trees(min_files=-1),
        "min_files=-1 is less than 0; pass min_files >= 0",
    ),
    (
        lambda: trees(categories=["orphan_worktrees"], min_files=1),
        "categories=['orphan_worktrees'] holds no category with files, but min_files=1; add a "
        "file category (such as 'debug_logs') or pass min_files=0",
    ),
    (
        lambda: lock_states(kinds=["stale"]),
        "kinds contains 'stale', which is not a lock kind; use ['live', 'dead-pid', 'expired', "
        "'ahead', 'garbage']",
    ),
    (
        lambda: lock_states(kinds=()),
        "kinds=() is empty, so nothing could be drawn; name at least one lock kind, or pass None "
        "for all of them",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"), BAD_ARGUMENTS, ids=[str(i) for i in range(len(BAD_ARGUMENTS))]
)
def test_bad_arguments_fail_at_once(make: Callable[[], Any], message: str) -> None:
    """A bad argument raises InvalidArgument when the strategy is made, naming the argument,
    the value and the fix."""
    with pytest.raises(InvalidArgument) as raised:
        make()
    assert str(raised.value) == message


def test_arguments_are_keyword_only() -> None:
    """Positional arguments are refused, as in Hypothesis's own strategies."""
    with pytest.raises(TypeError):
        retry_policies(1)  # type: ignore[call-overload]


# -- retry policies ------------------------------------------------------------------------------


def _as_mapping(policy: RetryPolicy) -> dict[str, Any]:
    return {key: str(value) if key in ("backoff_strategy", "jitter") else value
            for key, value in asdict(policy).items()}  # fmt: skip


@given(retry_policies())
def test_retry_policies_round_trip_through_from_mapping(policy: RetryPolicy) -> None:
    """A drawn policy is rebuilt equal from its own retry: mapping, and its schedule stays
    within [0, max_delay] however many attempts it allows."""
    assert RetryPolicy.from_mapping(_as_mapping(policy)) == policy
    for delay in policy.delays(seed=1, limit=64):
        assert 0.0 <= delay <= policy.max_delay


@given(retry_policies(min_attempts=2, max_attempts=4, strategies=["linear"], jitters=["none"],
                      max_initial_delay=5, max_delay=10))  # fmt: skip
def test_retry_policies_respect_their_bounds(policy: RetryPolicy) -> None:
    """Attempts, names and delays stay within what was asked."""
    assert 2 <= policy.max_attempts <= 4
    assert policy.backoff_strategy == "linear"
    assert policy.jitter == "none"
    assert 0 <= policy.initial_delay <= 5
    assert policy.initial_delay <= policy.max_delay <= 10


@pytest.mark.parametrize("attempts", [10**9, 2**63 - 1, 1])
def test_retry_policies_reach_huge_attempt_counts(attempts: int) -> None:
    """Unbounded, the draws include the counts that break naive schedules."""
    found = find(retry_policies(), lambda policy: policy.max_attempts == attempts)
    assert found.max_attempts == attempts


@pytest.mark.parametrize("delay", [0.0, 5e-324, 1e-6])
def test_retry_policies_reach_tiny_delays(delay: float) -> None:
    """Zero, the smallest float and a microsecond are among the initial delays."""
    assert find(retry_policies(), lambda p: p.initial_delay == delay).initial_delay == delay


@given(retry_policies(invalid=True))
def test_invalid_retry_mappings_are_refused(mapping: dict[str, Any]) -> None:
    """Every invalid=True draw is refused by RetryPolicy.from_mapping."""
    with pytest.raises(ValueError, match=r"^\w+: "):
        RetryPolicy.from_mapping(mapping)


# -- timeouts ------------------------------------------------------------------------------------


@given(timeouts())
def test_timeouts_parse(value: float) -> None:
    """Drawn numbers are positive and finite, and parse to themselves."""
    assert parse_timeout(value) == value > 0


@given(timeouts(min_value=60, max_value=3600, units=True))
def test_timeouts_with_units_parse_within_bounds(value: str) -> None:
    """Strings with units parse to a value inside the bounds."""
    assert isinstance(value, str)
    assert 60 <= parse_timeout(value) <= 3600


@given(timeouts(min_value=0.5, max_value=0.5, units=True))
def test_timeouts_with_units_hit_a_single_value(value: str) -> None:
    """Even a one-value range is written with a unit (0.5s or 500ms)."""
    assert parse_timeout(value) == 0.5


def test_timeouts_reach_the_runbook_default() -> None:
    """900 s (the runbook's default step timeout) is among the draws."""
    assert find(timeouts(), lambda value: value == 900) == 900


@given(timeouts(invalid=True))
def test_invalid_timeouts_are_refused(value: object) -> None:
    """Every invalid=True draw is refused by parse_timeout."""
    with pytest.raises(ValueError, match=r"^timeout: "):
        parse_timeout(value)


# -- error envelopes -----------------------------------------------------------------------------


@given(error_envelopes())
def test_error_envelopes_round_trip_through_json(envelope: ErrorEnvelope) -> None:
    """A drawn envelope survives model_dump_json / model_validate_json unchanged."""
    assert ErrorEnvelope.model_validate_json(envelope.model_dump_json()) == envelope
    assert json.loads(envelope.model_dump_json())["category"] == envelope.category.value


@given(error_envelopes(categories=["timeout", "permission"], recoverable=True))
def test_error_envelopes_respect_categories_and_recoverable(envelope: ErrorEnvelope) -> None:
    """Only the named categories, and the fixed flag."""
    assert envelope.category in ("timeout", "permission")
    assert envelope.recoverable is True


@given(error_envelopes(invalid=True))
def test_invalid_envelopes_are_refused(mapping: dict[str, Any]) -> None:
    """Every invalid=True draw is refused, from Python and from JSON."""
    with pytest.raises(ValidationError):
        ErrorEnvelope.model_validate(mapping)
    with pytest.raises(ValidationError):
        ErrorEnvelope.model_validate_json(json.dumps(mapping))


# -- workflow states -----------------------------------------------------------------------------


@given(workflow_states())
def test_workflow_states_round_trip_and_are_consistent(state: WorkflowState) -> None:
    """States survive JSON, number each step's attempts 1..n, keep time moving forward, give
    every failed or cancelled entry a matching envelope, and agree with their status."""
    assert WorkflowState.model_validate_json(state.model_dump_json()) == state
    assert WorkflowState.model_validate(state.to_json_dict()) == state
    assert state.started_at is not None
    assert state.updated_at is not None
    previous_end = state.started_at
    for step_id in state.step_ids():
        executions = state.executions_of(step_id)
        assert [ex.attempt for ex in executions] == list(range(1, len(executions) + 1))
        for ex in executions:
            if ex.started_at is not None:
                assert previous_end <= ex.started_at <= state.updated_at
                previous_end = ex.started_at
            if ex.completed_at is not None:
                assert ex.started_at is not None
                assert ex.duration_seconds == (ex.completed_at - ex.started_at).total_seconds()
                previous_end = ex.completed_at
            if ex.status in (StepStatus.FAILED, StepStatus.CANCELLED):
                assert ex.error is not None
                assert (ex.error.workflow_id, ex.error.step_id) == (state.workflow_id, step_id)
    newest = state.latest()
    if state.status is WorkflowStatus.COMPLETED:
        assert state.current_step is None
        assert all(ex.status in DONE_STATUSES for ex in newest.values())
    elif state.status is WorkflowStatus.FAILED:
        assert state.current_step is not None
        assert newest[state.current_step].status is StepStatus.FAILED
        assert [ex.step_id for ex in state.failed()] == [state.current_step]
    elif state.status is WorkflowStatus.PAUSED:
        assert state.current_step is not None
        assert newest[state.current_step].status is StepStatus.PENDING
    elif state.step_executions:
        assert state.current_step is not None
        assert newest[state.current_step].status is StepStatus.RUNNING
    if state.definition is not None:
        definition = WorkflowDefinition.parse(state.definition)
        assert [step.id for step in definition.steps] == state.step_ids()


@given(workflow_states(min_steps=2, max_steps=3, statuses=["failed", WorkflowStatus.PAUSED]))
def test_workflow_states_respect_steps_and_statuses(state: WorkflowState) -> None:
    """Step counts and statuses stay within what was asked."""
    assert 2 <= len(state.step_ids()) <= 3
    assert state.status in ("failed", "paused")


def test_workflow_states_save_and_load_through_the_store() -> None:
    """What the strategy draws, the core's StateStore writes and reads back equal."""
    from pytest_tapps.core import StateStore

    @settings(max_examples=min(settings().max_examples, 20), database=None)
    @given(workflow_states(min_steps=1))
    def check(state: WorkflowState) -> None:
        with project() as built:
            store = StateStore(built.layout, clock=built.clock)
            path = store.save(state)
            assert store.read(path) == state

    os.environ.setdefault("TAPPS_FSYNC", "0")
    check()


# -- retention policies --------------------------------------------------------------------------


def _retention_yaml(section: object) -> str:
    import io

    from ruamel.yaml import YAML

    stream = io.StringIO()
    YAML().dump({"retention": section}, stream)
    return stream.getvalue()


@given(retention_policies())
def test_retention_policies_load_back_from_config_yaml(policy: RetentionPolicy) -> None:
    """Every drawn policy, written to config.yaml with format_duration, loads back equal; the
    ages that cannot be overridden keep their defaults."""
    section = {
        name: "never" if age is None else format_duration(age)
        for name, age in policy.ages.items()
        if BY_NAME[name].overridable
    }
    with tempfile.TemporaryDirectory() as folder:
        layout = Layout(Path(folder))
        layout.tapps_dir.mkdir()
        layout.config_file.write_text(_retention_yaml(section))
        assert dict(load_retention(layout).ages) == dict(policy.ages)
    for category in CATEGORIES:
        if not category.overridable:
            assert policy.age(category.name) == category.default


@given(retention_policies(categories=["debug_logs"], min_age=3600, max_age=7 * DAY, never=False))
def test_retention_policies_respect_their_bounds(policy: RetentionPolicy) -> None:
    """Only the named categories change, within the bounds, never to 'never'."""
    age = policy.age("debug_logs")
    assert age is not None
    assert 3600 <= age <= 7 * DAY
    assert age == int(age)
    others = {k: v for k, v in policy.ages.items() if k != "debug_logs"}
    assert others == {k: v for k, v in RetentionPolicy.defaults().ages.items() if k in others}


def _problem(keys: Any, message: str) -> Problem:
    return Problem(Path("config.yaml"), None, ".".join(map(str, keys)), message)


@given(retention_policies(invalid=True))
def test_invalid_retention_sections_are_refused(section: object) -> None:
    """Every invalid=True draw has a problem for parse_retention, and load_retention refuses
    it as a config.yaml."""
    _, problems = parse_retention(section, problem=_problem)
    assert problems
    with tempfile.TemporaryDirectory() as folder:
        layout = Layout(Path(folder))
        layout.tapps_dir.mkdir()
        layout.config_file.write_text(_retention_yaml(section))
        with pytest.raises(YamlFileError):
            load_retention(layout)


# -- ages ----------------------------------------------------------------------------------------


def test_ages_cluster_at_the_boundary() -> None:
    """One ordinary run (the profile's example count) draws N, N +- 1 s, N +- 1 microsecond and
    0 for every boundary: Hypothesis tries each distinct value once, and these come first."""
    boundaries = (7 * DAY, 90 * DAY)
    near = {b + offset for b in boundaries for offset in (0.0, 1.0, -1.0, 1e-6, -1e-6)} | {0.0}
    seen: list[float] = []

    @settings(database=None)
    @given(ages(around=["7d", "90d"]))
    def record(age: float) -> None:
        seen.append(age)

    record()
    assert near <= set(seen), sorted(near - set(seen))
    assert sum(age in near for age in seen[:40]) >= 10, seen[:40]


@pytest.mark.parametrize(
    "offset", [0.0, 1.0, -1.0, 1e-6, -1e-6], ids=["N", "N+1s", "N-1s", "N+1us", "N-1us"]
)
def test_ages_reach_every_offset(offset: float) -> None:
    """Each offset from each boundary is drawn."""
    for boundary in (7 * DAY, 90 * DAY):
        wanted = boundary + offset

        def hit(age: float, wanted: float = wanted) -> bool:
            return age == wanted

        assert find(ages(around=["7d", "90d"]), hit) == wanted


def test_ages_reach_fresh_future_and_epoch() -> None:
    """0 (fresh), the future (negative) and, given the clock's now, the epoch are drawn."""
    assert find(ages(), lambda age: age == 0.0) == 0.0
    assert find(ages(), lambda age: age <= -365 * DAY) < 0
    now = 1_768_473_000.0
    assert find(ages(around=3600, now=now), lambda age: age == now) == now


# -- trees ---------------------------------------------------------------------------------------


def _everything(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` with its kind and bytes, links not followed."""
    found = {}
    for current, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(current, name)
            if path.is_symlink():
                found[str(path)] = f"link {path.readlink()}"
            elif path.is_dir():
                found[str(path)] = "folder"
            else:
                found[str(path)] = f"file {path.read_bytes()!r}"
    return found


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_trees_build_inside_the_project_root(tree: TreeDescription) -> None:
    """Building writes only under the project root (its siblings stay as they were), with each
    file at its age on the project's clock and each link as described."""
    with tempfile.TemporaryDirectory() as folder:
        parent = Path(folder)
        (parent / "sibling").mkdir()
        (parent / "sibling" / "keep.txt").write_text("mine\n")
        before = _everything(parent)
        with project(parent / "project") as built:
            tree.build(built)
            root = built.root
            after = _everything(parent)
            outside_root = {p: d for p, d in after.items() if not p.startswith(str(root))}
            assert outside_root == before
            for file in tree.files:
                path = root / file.path
                assert path.is_file()
                assert path.read_bytes() == file.content
                assert path.stat().st_mtime == pytest.approx(
                    built.clock.time() - file.age, abs=1e-5
                )
            for link in tree.symlinks:
                path = root / link.path
                assert path.is_symlink()
                target = str(path.readlink())
                if link.target.startswith(strategies.ROOT_MARKER):
                    assert target == str(root / link.target.removeprefix(strategies.ROOT_MARKER))
                else:
                    assert target == link.target
                    resolved = os.path.normpath(f"{path.parent}/{target}")
                    assert resolved.startswith(str(root) + os.sep) or resolved == str(root)
            for relative in tree.outside_targets():
                assert relative.startswith("outside/")
                assert (root / relative).is_file()
            for worktree in tree.worktrees:
                assert built.layout.worktree(worktree.name).is_dir()


@given(trees(min_files=2, max_files=4, categories=["debug_logs"], hostile=False, symlinks=False))
def test_trees_respect_their_arguments(tree: TreeDescription) -> None:
    """Counts, categories, plain names and no links, as asked."""
    assert 2 <= len(tree.files) <= 4
    assert not tree.symlinks
    assert not tree.worktrees
    for file in tree.files:
        assert file.category == "debug_logs"
        assert file.path.startswith(".tapps-agents/logs/debug/")
        assert file.path.isascii()
        assert " " not in file.path


HOSTILE: dict[str, Callable[[str], bool]] = {
    "unicode": lambda path: not path.isascii(),
    "spaces": lambda path: " " in path,
    "dot-dot names": lambda path: "/..foo" in path,
    "dash names": lambda path: "/-rf" in path,
    "tombstone look-alikes": lambda path: "/.tapps-deleting-x" in path,
    "near-miss folders": lambda path: (
        path.startswith(".tapps-agents/")
        and not any(path.startswith(folder + "/") for folder in strategies._FOLDERS.values())
    ),
    "project-root near misses": lambda path: not path.startswith((".tapps-agents/", "reports/")),
}
LINK_KINDS = {"inside", "outside", "outside-absolute", "loop", "up", "dangling"}


def _first(strategy: st.SearchStrategy[Any], condition: Callable[[Any], bool]) -> Any:
    """The first draw that meets ``condition`` (``find`` without its costly shrinking)."""
    quick = settings(phases=[Phase.generate], max_examples=2000, database=None)
    return find(strategy, condition, settings=quick)


@pytest.mark.parametrize("wanted", sorted(HOSTILE))
def test_trees_hold_hostile_names(wanted: str) -> None:
    """Every kind of hostile name and near-miss folder is drawn."""
    check = HOSTILE[wanted]
    tree = _first(trees(min_files=1), lambda t: any(check(f.path) for f in t.files))
    assert any(check(f.path) for f in tree.files)


@pytest.mark.parametrize("kind", sorted(LINK_KINDS))
def test_trees_hold_every_kind_of_link(kind: str) -> None:
    """Links inside, outside (relative and absolute), to themselves, up, and to nothing."""
    tree = _first(trees(), lambda t: any(link.kind == kind for link in t.symlinks))
    assert any(link.kind == kind for link in tree.symlinks)


def test_tree_reprs_are_short_and_show_paths_and_ages() -> None:
    """A tree's repr names each path and its age, not the bytes inside."""
    tree = TreeDescription(
        files=(strategies.TreeFile(".tapps-agents/logs/debug/-rf", 7 * DAY + 1, b"x" * 99, None),),
        symlinks=(
            strategies.TreeLink(".tapps-agents/logs/debug/l", "../../../outside/a", "outside", 0.0),
        ),
        worktrees=(strategies.TreeWorktree("wt", 30 * DAY - 1e-6, 2),),
    )
    assert repr(tree) == (
        "TreeDescription(files=['.tapps-agents/logs/debug/-rf' @7d+1s], "
        "symlinks=['.tapps-agents/logs/debug/l' -> '../../../outside/a' (outside)], "
        "worktrees=['wt' @30d-1us (2 files)])"
    )


# -- lock files ----------------------------------------------------------------------------------


@given(lock_states())
def test_lock_states_are_judged_as_described(state: LockState) -> None:
    """The core finds each built lock stale exactly when the description says so; a live
    holder's process ends with the block."""
    with project() as built:
        with state.build(built, "workflow-123") as path:
            inspection = inspect_lock(path, clock=built.clock)
            assert inspection.stale is state.stale, inspection.reason
            if state.kind == "garbage":
                assert inspection.reason.startswith("unreadable lock file: ")
            else:
                record = read_lock(path)
                assert record.ttl_seconds == state.ttl_seconds
                holder = record.pid
        if state.kind == "live":
            assert not pid_alive(holder)


@given(lock_states(kinds=["ahead", "expired"]))
def test_lock_states_respect_kinds(state: LockState) -> None:
    """Only the named kinds; heartbeats ahead are negative ages, expired ones past the TTL."""
    assert state.kind in ("ahead", "expired")
    if state.kind == "ahead":
        assert state.heartbeat_age < 0
    else:
        assert state.heartbeat_age > state.ttl_seconds


@pytest.mark.parametrize("kind", strategies.LOCK_KINDS)
def test_lock_states_reach_every_kind(kind: str) -> None:
    """Each kind is drawn."""
    assert find(lock_states(), lambda state: state.kind == kind).kind == kind


@given(st.data())
def test_strategies_compose_with_data(data: st.DataObject) -> None:
    """Strategies draw inside st.data() like any other."""
    policy = data.draw(retry_policies(max_attempts=3), label="policy")
    assert policy.max_attempts <= 3
