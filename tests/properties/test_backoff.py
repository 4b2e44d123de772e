"""Properties of retry schedules and of the workflow-timeout budget, over the whole policy space
that ``pytest_tapps.strategies.retry_policies()`` draws: attempt counts up to ``2**63 - 1``,
delays from ``0`` and ``5e-324`` up to the largest float, every strategy and jitter.

Schedules are read lazily: a policy of ``10**9`` attempts is checked on a prefix that reaches
past the 1024th retry (where doubling leaves the float range) and on retry numbers drawn up to
its last one, never by listing every delay.
"""

from __future__ import annotations

import itertools
import math
import sys
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from pathlib import Path

from hypothesis import event, example, given
from hypothesis import strategies as st

from pytest_tapps.core import (
    BackoffStrategy,
    Category,
    Jitter,
    RetryPolicy,
    StepContext,
    StepDefinition,
    StepError,
    VirtualClock,
    WorkflowDefinition,
    WorkflowExecutor,
    WorkflowState,
    WorkflowStatus,
)
from pytest_tapps.strategies import retry_policies, timeouts
from tests.properties._support import without_fsync

#: Delays read from the front of a schedule: past retry 1024, where 2**(n-1) overflows a float.
PREFIX = 1100
#: Schedules at most this long are also listed whole, to count them exactly.
LISTED = 5000
#: The last retry number whose factor 2.0**(n-1) is a finite float.
LAST_MULTIPLIED = 1024

seeds = st.one_of(st.integers(), st.text(max_size=8))


@st.composite
def retry_numbers(draw: st.DrawFn, policy: RetryPolicy) -> list[int]:
    """Retry numbers of ``policy`` (1 = the second attempt), sorted: the first, the last, those
    around the 1024th, and any in between."""
    last = policy.max_attempts - 1
    if last < 1:
        return []
    edges = [1, 2, 1023, 1024, 1025, 1026, 2098, 2099, last - 1, last]
    special = st.sampled_from(sorted({n for n in edges if 1 <= n <= last}))
    found = draw(st.lists(st.one_of(special, st.integers(1, last)), min_size=1, max_size=8))
    return sorted(set(found))


def documented_delay(policy: RetryPolicy, retry: int) -> float:
    """The wait before retry ``retry`` as docs/recovery.md states it, without jitter:
    ``initial * 2**(n-1)`` (exponential), ``initial * n`` (linear) or ``initial`` (fixed),
    capped at ``max_delay``, correctly rounded (``ldexp`` is exact until it overflows)."""
    if policy.backoff_strategy is BackoffStrategy.FIXED:
        raw = policy.initial_delay
    elif policy.backoff_strategy is BackoffStrategy.LINEAR:
        raw = policy.initial_delay * retry
    else:
        try:
            raw = math.ldexp(policy.initial_delay, retry - 1)
        except OverflowError:
            raw = math.inf
    return min(raw, policy.max_delay)


# -- schedules -----------------------------------------------------------------------------------


@given(retry_policies(), seeds)
def test_a_policy_has_one_delay_per_retry(policy: RetryPolicy, seed: int | str) -> None:
    """max_attempts - 1 delays, produced lazily: a prefix of a huge schedule comes at once."""
    retries = policy.max_attempts - 1
    prefix = list(itertools.islice(policy.iter_delays(seed), PREFIX))
    assert len(prefix) == min(retries, PREFIX)
    assert policy.delays(seed, limit=PREFIX) == prefix
    if retries <= LISTED:
        assert len(policy.delays(seed)) == retries


@given(st.data(), retry_policies(), seeds)
def test_every_delay_lies_between_zero_and_the_cap(
    data: st.DataObject, policy: RetryPolicy, seed: int | str
) -> None:
    """Every wait, jittered or not and at any retry number, is a float in [0, max_delay]."""
    for delay in policy.delays(seed, limit=PREFIX):
        assert 0 <= delay <= policy.max_delay
    for retry in data.draw(retry_numbers(policy)):
        assert 0 <= policy.base_delay(retry) <= policy.max_delay


@given(st.data(), retry_policies(strategies=["exponential", "linear"], jitters=["none"]))
def test_unjittered_exponential_and_linear_schedules_never_decrease(
    data: st.DataObject, policy: RetryPolicy
) -> None:
    """Without jitter each wait is at least the one before it, up to the last retry."""
    prefix = policy.delays(limit=PREFIX)
    assert all(a <= b for a, b in itertools.pairwise(prefix))
    waits = [policy.base_delay(retry) for retry in data.draw(retry_numbers(policy))]
    assert all(a <= b for a, b in itertools.pairwise(waits))


@given(st.data(), retry_policies(strategies=["fixed"], jitters=["none"]))
def test_a_fixed_schedule_is_constant(data: st.DataObject, policy: RetryPolicy) -> None:
    """A fixed, unjittered policy waits initial_delay before every retry."""
    assert set(policy.delays(limit=PREFIX)) <= {policy.initial_delay}
    for retry in data.draw(retry_numbers(policy)):
        assert policy.base_delay(retry) == policy.initial_delay


@given(retry_policies(jitters=["full", "equal", "decorrelated"]), seeds)
def test_jitter_stays_within_the_bounds_of_its_kind(policy: RetryPolicy, seed: int | str) -> None:
    """full: [0, d]; equal: [d/2, d]; decorrelated: [initial, min(cap, 3 x previous)]."""
    previous = policy.initial_delay
    for retry, delay in enumerate(policy.iter_delays(seed), start=1):
        if retry > PREFIX:
            break
        base = policy.base_delay(retry)
        if policy.jitter is Jitter.FULL:
            assert 0 <= delay <= base
        elif policy.jitter is Jitter.EQUAL:
            assert base / 2 <= delay <= base
        else:
            upper = min(policy.max_delay, max(policy.initial_delay, previous * 3))
            assert policy.initial_delay <= delay <= upper
        previous = delay


@example(  # found by this property: halving a subnormal base rounded up past it
    policy=RetryPolicy(
        max_attempts=2,
        backoff_strategy="fixed",
        initial_delay=1.5e-323,
        max_delay=1.5e-323,
        jitter="equal",
    ),
    seed=0,
)
@given(retry_policies(jitters=["equal"], max_delay=1e-320), seeds)
def test_equal_jitter_never_exceeds_the_base_delay(policy: RetryPolicy, seed: int | str) -> None:
    """An equal-jittered wait never exceeds its base delay, subnormal delays included."""
    for retry, delay in enumerate(policy.delays(seed, limit=PREFIX), start=1):
        assert delay <= policy.base_delay(retry) <= policy.max_delay


@given(retry_policies(), seeds)
def test_the_same_seed_gives_the_same_schedule(policy: RetryPolicy, seed: int | str) -> None:
    """A seed reproduces a schedule, from an equal policy too, and a shorter prefix is a prefix."""
    schedule = policy.delays(seed, limit=PREFIX)
    assert replace(policy).delays(seed, limit=PREFIX) == schedule
    assert policy.delays(seed, limit=PREFIX // 2) == schedule[: PREFIX // 2]


@given(st.data(), retry_policies(jitters=["none"]))
def test_unjittered_delays_follow_the_documented_formula(
    data: st.DataObject, policy: RetryPolicy
) -> None:
    """Unjittered waits are initial x 2**(n-1), initial x n or initial, capped, at any retry n."""
    for retry, delay in enumerate(policy.delays(limit=PREFIX), start=1):
        assert delay == documented_delay(policy, retry)
    for retry in data.draw(retry_numbers(policy)):
        assert policy.base_delay(retry) == documented_delay(policy, retry)


@example(policy=RetryPolicy(max_attempts=1026, initial_delay=5e-324, max_delay=1.0), retry=1025)
@given(
    policy=retry_policies(
        min_attempts=LAST_MULTIPLIED + 2,
        strategies=["exponential"],
        jitters=["none"],
        max_initial_delay=0.5,
    ),
    retry=st.integers(LAST_MULTIPLIED + 1, 2099),
)
def test_exponential_delays_past_the_1024th_retry_follow_the_documented_formula(
    policy: RetryPolicy, retry: int
) -> None:
    """Past retry 1024 (2.0**1024 overflows) a small initial delay still doubles up to the cap."""
    if retry < policy.max_attempts:
        assert policy.base_delay(retry) == documented_delay(policy, retry)


# -- the workflow-timeout budget -----------------------------------------------------------------

#: What a drawn step does on each attempt.
BEHAVIOURS = ("hang", "hang-async", "fail", "fatal", "succeed")
#: The workflow timeout is at most this many times the shortest step timeout, so that a run
#: makes at most a few dozen attempts (each saves the state twice).
MAX_RATIO = 10.0
#: Workflow timeouts stay below a century: the virtual clock's wall time must remain a date
#: (datetime ends in year 9999; a hanging step spends the whole budget).
CENTURY = 100 * 365 * 86400.0


@dataclass(frozen=True)
class Step:
    """A drawn step: its policy and timeout, and what its runner does on each attempt
    (``spend``: the share of its timeout an attempt spends before failing or succeeding)."""

    id: str
    policy: RetryPolicy
    timeout: float
    behaviour: str
    spend: float

    def definition(self) -> StepDefinition:
        return StepDefinition(id=self.id, retry=self.policy, timeout=self.timeout)


@dataclass(frozen=True)
class Budgeted:
    """A drawn workflow: steps, the workflow timeout, and the executor's seed."""

    steps: tuple[Step, ...]
    budget: float
    seed: int

    def definition(self) -> WorkflowDefinition:
        return WorkflowDefinition(
            id="workflow-123", steps=[s.definition() for s in self.steps], timeout=self.budget
        )


def rounding(budget: float) -> float:
    """How far past its deadline a stopped attempt may end: sleeping ``deadline - now`` from
    ``now`` lands on the deadline give or take one rounding (1 ulp)."""
    return math.ulp(budget)


@st.composite
def budgeted_workflows(draw: st.DrawFn) -> Budgeted:
    """One to three steps with drawn policies and timeouts, under a drawn workflow timeout
    from a sliver of the shortest step timeout up to ten times it. Failing attempts spend at
    least half their timeout, so that zero delays and 2**63 attempts still end in the budget."""
    steps = []
    for index in range(draw(st.integers(1, 3))):
        behaviour = draw(st.just("succeed") | st.sampled_from(BEHAVIOURS))  # some runs complete
        low = 0.0 if behaviour == "succeed" else 0.5
        steps.append(
            Step(
                id=f"step-{index}",
                policy=draw(retry_policies()),
                timeout=float(draw(timeouts(max_value=CENTURY))),
                behaviour=behaviour,
                spend=draw(st.sampled_from([low, 1.0]) | st.floats(low, 1.0)),
            )
        )
    shortest = min(step.timeout for step in steps)
    budget = float(draw(timeouts(max_value=min(MAX_RATIO * shortest, CENTURY))))
    return Budgeted(tuple(steps), budget, draw(st.integers(0, 2**32)))


@dataclass(frozen=True)
class Attempt:
    """What the runner saw of one attempt, on the monotonic clock."""

    step_id: str
    number: int
    start: float
    deadline: float
    scope: str


def run_budgeted(
    workflow: Budgeted,
) -> tuple[WorkflowState, VirtualClock, list[Attempt]]:
    """Run ``workflow`` on a virtual clock in a fresh folder; the final state, the clock and
    every attempt as the runner saw it."""
    plans = {step.id: step for step in workflow.steps}
    seen: list[Attempt] = []

    def runner(step: StepDefinition, context: StepContext) -> Awaitable[None] | None:
        plan = plans[step.id]
        seen.append(
            Attempt(
                step.id,
                context.attempt,
                context.clock.monotonic(),
                context.deadline,
                context.scope,
            )
        )
        if plan.behaviour == "hang":
            context.sleep(math.inf)
        if plan.behaviour == "hang-async":
            return context.async_sleep(math.inf)
        spent = plan.spend * plan.timeout
        if plan.behaviour == "succeed":
            context.sleep(spent)
            return None
        context.sleep(spent or plan.timeout)  # half a subnormal timeout rounds to 0
        recoverable = plan.behaviour == "fail"
        raise StepError("drawn failure", category="execution", recoverable=recoverable)

    clock = VirtualClock()
    with without_fsync(), tempfile.TemporaryDirectory() as folder:
        executor = WorkflowExecutor(Path(folder), runner, clock=clock, seed=workflow.seed)
        state = executor.run(workflow.definition())
    return state, clock, seen


@given(budgeted_workflows())
def test_the_workflow_timeout_budget_is_never_exceeded(workflow: Budgeted) -> None:
    """No run ends, and no attempt's deadline lies, past started_at + the workflow timeout."""
    state, clock, seen = run_budgeted(workflow)
    assert clock.elapsed <= workflow.budget + rounding(workflow.budget)
    assert all(attempt.deadline <= workflow.budget for attempt in seen)
    assert state.status in (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED)


@given(budgeted_workflows())
def test_a_run_stops_for_its_budget_only_as_documented(workflow: Budgeted) -> None:
    """Retries start only if wait + step timeout fit; a budget stop is a workflow_timeout error."""
    # docs: "a retry is not started when its wait plus its step timeout would pass the workflow
    # deadline; that, or an attempt cut at the workflow deadline, ends the run with a workflow
    # timeout in state.error". So only a step's first attempt can be cut by the budget.
    state, clock, seen = run_budgeted(workflow)
    plans = {step.id: step for step in workflow.steps}
    for attempt in seen:
        if attempt.number > 1:
            assert attempt.start + plans[attempt.step_id].timeout <= workflow.budget
            assert attempt.scope == "step"
    if state.status is WorkflowStatus.COMPLETED:
        event("completed")
        assert state.error is None
        assert all(plans[a.step_id].behaviour == "succeed" for a in seen)
        return
    last = plans[seen[-1].step_id]
    execution = state.executions_of(last.id)[-1]
    assert execution.error is not None
    tried = state.attempts(last.id)
    if state.error is None:  # the step itself ended the run: out of attempts, or fatal
        event("failed: out of attempts, or fatal")
        assert execution.error.details.get("scope") != "workflow"
        assert tried == last.policy.max_attempts or not execution.error.recoverable
        return
    assert (state.error.code, state.error.category) == ("workflow_timeout", Category.TIMEOUT)
    if execution.error.details.get("scope") == "workflow":  # cut at the deadline
        event("workflow timeout: an attempt cut at the deadline")
        assert abs(clock.elapsed - workflow.budget) <= rounding(workflow.budget)
        assert seen[-1].scope == "workflow"
        return
    event("workflow timeout: a retry that would not fit")
    assert tried < last.policy.max_attempts
    assert state.error.message.startswith(
        f"workflow timeout of {workflow.budget:g} s would cut off attempt {tried + 1} of step "
        f"{last.id!r}"
    )
    if last.policy.jitter is Jitter.NONE:  # the refused wait is known without the seed
        wait = last.policy.delays(limit=tried)[tried - 1]
        assert clock.elapsed + wait + last.timeout > workflow.budget


@example(step_timeout=1e308, max_delay=1e308)
@given(
    step_timeout=timeouts(min_value=1e308),
    max_delay=st.floats(min_value=1e308, max_value=sys.float_info.max),
)
def test_a_workflow_runs_whatever_its_step_timeout_and_max_delay(
    step_timeout: float, max_delay: float
) -> None:
    """Timeouts and delays that parse are run, even when their sum passes the largest float."""
    step = StepDefinition(
        id="s", retry=RetryPolicy(max_attempts=2, max_delay=max_delay), timeout=step_timeout
    )
    workflow = WorkflowDefinition(id="workflow-123", steps=[step], timeout=60)
    with without_fsync(), tempfile.TemporaryDirectory() as folder:
        state = WorkflowExecutor(
            Path(folder), lambda step, context: None, clock=VirtualClock()
        ).run(workflow)
    assert state.status is WorkflowStatus.COMPLETED
