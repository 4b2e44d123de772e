"""Tests for pytest_tapps.core._policy: retry schedules and their validation."""

from __future__ import annotations

import itertools
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core import BackoffStrategy, Jitter, RetryPolicy, parse_timeout
from pytest_tapps.core._policy import RETRY_FIELDS, retry_problems


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"max_attempts": 0},
            "max_attempts: must be >= 1 (it counts the first attempt; 1 means no retry), got 0",
        ),
        (
            {"max_attempts": -3},
            "max_attempts: must be >= 1 (it counts the first attempt; 1 means no retry), got -3",
        ),
        ({"max_attempts": 2.5}, "max_attempts: expected a whole number, got 2.5"),
        ({"max_attempts": True}, "max_attempts: expected a whole number, got True"),
        (
            {"max_attempts": 3, "backoff_strategy": "exponentail"},
            "backoff_strategy: 'exponentail' is not one of 'exponential', 'linear', 'fixed'",
        ),
        (
            {"max_attempts": 3, "jitter": "random"},
            "jitter: 'random' is not one of 'none', 'full', 'equal', 'decorrelated'",
        ),
        ({"max_attempts": 3, "initial_delay": -1}, "initial_delay: must be >= 0 seconds, got -1"),
        ({"max_attempts": 3, "initial_delay": math.nan}, "initial_delay: must be finite, got nan"),
        ({"max_attempts": 3, "max_delay": math.inf}, "max_delay: must be finite, got inf"),
        (
            {"max_attempts": 3, "initial_delay": 10, "max_delay": 5},
            "max_delay: must be >= initial_delay (10), got 5",
        ),
        (
            {"max_attempts": 3, "initial_delay": "5s"},
            "initial_delay: expected a number of seconds, got '5s'",
        ),
    ],
)
def test_policies_are_validated_when_built(kwargs: dict[str, object], message: str) -> None:
    """Each bad field is refused at construction with its name, value and the rule."""
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_the_runbook_example_waits_5_then_10() -> None:
    """max_attempts 3, exponential, 5 s initial, 60 s max: two waits, 5 s and 10 s."""
    policy = RetryPolicy(3, "exponential", 5, 60)
    assert policy.delays() == [5.0, 10.0]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("exponential", [5, 10, 20, 40, 60, 60]),
        ("linear", [5, 10, 15, 20, 25, 30]),
        ("fixed", [5, 5, 5, 5, 5, 5]),
    ],
)
def test_strategies_follow_their_formula_capped(strategy: str, expected: list[float]) -> None:
    """exponential doubles, linear adds, fixed repeats; all stop at max_delay."""
    assert RetryPolicy(7, strategy, 5, 60).delays() == expected


def test_from_mapping_reads_the_runbook_block_with_units() -> None:
    """The runbook's retry: block parses as written, and delays may carry units."""
    policy = RetryPolicy.from_mapping(
        {
            "max_attempts": 3,
            "backoff_strategy": "exponential",
            "initial_delay": "5s",
            "max_delay": "1m",
        }
    )
    assert (policy.initial_delay, policy.max_delay, policy.backoff_strategy) == (
        5.0,
        60.0,
        BackoffStrategy.EXPONENTIAL,
    )


def test_from_mapping_refuses_unknown_fields() -> None:
    """A misspelt key is an error naming it, not a silently ignored setting."""
    with pytest.raises(ValueError, match=r"^max_attempt: unknown retry field; expected one of"):
        RetryPolicy.from_mapping({"max_attempt": 3})


def test_retry_problems_names_every_bad_field_at_once() -> None:
    """Each field is checked on its own, so three bad fields are three problems in the
    block's order, and from_mapping's message lists them all."""
    block = {"max_attempts": 0, "backoff_strategy": "exponental", "jitter": "ful", "tries": 2}
    assert retry_problems(block) == [
        ("max_attempts", "must be >= 1 (it counts the first attempt; 1 means no retry), got 0"),
        ("backoff_strategy", "'exponental' is not one of 'exponential', 'linear', 'fixed'"),
        ("jitter", "'ful' is not one of 'none', 'full', 'equal', 'decorrelated'"),
        ("tries", f"unknown retry field; expected one of {sorted(RETRY_FIELDS)}"),
    ]
    message = "; ".join(f"{name}: {why}" for name, why in retry_problems(block))
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        RetryPolicy.from_mapping(block)


def test_an_unknown_retry_field_does_not_hide_the_fields_after_it() -> None:
    """Checking goes on past an unknown key: a bad field written after it is still named."""
    block = {"delay": 60, "max_attempts": 0, "jitter": "ful"}
    assert [name for name, _ in retry_problems(block)] == ["delay", "max_attempts", "jitter"]


def test_retry_problems_checks_the_cap_only_when_both_delays_are_valid() -> None:
    """max_delay below initial_delay is one problem at max_delay; a broken delay is reported
    as itself, without a second complaint about the order."""
    assert retry_problems({"initial_delay": "1m", "max_delay": "5s"}) == [
        ("max_delay", "must be >= initial_delay (60.0), got 5.0")
    ]
    assert retry_problems({"initial_delay": "5 sec", "max_delay": 1}) == [
        (
            "initial_delay",
            "'5 sec' is not a duration; write a number of seconds or a string with a unit "
            "such as '5s', '15m', '12h', '30d'",
        )
    ]
    assert retry_problems({"max_attempts": 3, "initial_delay": "5s", "max_delay": 60}) == []


def test_huge_attempt_counts_are_lazy_and_never_overflow() -> None:
    """10**6 attempts: the first delays come at once, and late exponents stay at the cap."""
    policy = RetryPolicy(10**6, "exponential", 5, 60)
    assert policy.delays(limit=3) == [5.0, 10.0, 20.0]
    assert policy.base_delay(10**6 - 1) == 60.0
    assert policy.base_delay(5000) == 60.0


def test_zero_initial_delay_means_no_wait_even_at_huge_exponents() -> None:
    """0 * 2**n is 0 for every n, never NaN."""
    assert RetryPolicy(10**6, "exponential", 0, 0).base_delay(10**5) == 0.0


def test_timeouts_must_be_positive() -> None:
    """A zero timeout could never let a step finish: it is refused."""
    assert parse_timeout("5m") == 300.0
    with pytest.raises(ValueError, match=r"^timeout: must be > 0 seconds, got 0$"):
        parse_timeout(0)


delays = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@st.composite
def policies(draw: st.DrawFn, *, jitter: list[str] | None = None) -> RetryPolicy:
    initial = draw(st.sampled_from([0.0, 1e-6, 0.001]) | delays)
    cap = draw(st.floats(min_value=initial, max_value=max(initial, 1e7)) | st.just(initial))
    return RetryPolicy(
        max_attempts=draw(st.integers(min_value=1, max_value=40)),
        backoff_strategy=draw(st.sampled_from(list(BackoffStrategy))),
        initial_delay=initial,
        max_delay=cap,
        jitter=draw(st.sampled_from(jitter or list(Jitter))),
    )


@given(policies(), st.integers())
def test_there_is_one_delay_per_retry_each_within_bounds(policy: RetryPolicy, seed: int) -> None:
    """max_attempts - 1 delays, every one in [0, max_delay]."""
    schedule = policy.delays(seed)
    assert len(schedule) == policy.max_attempts - 1
    assert all(0 <= d <= policy.max_delay for d in schedule)


@given(policies(jitter=["none"]))
def test_unjittered_exponential_and_linear_never_decrease(policy: RetryPolicy) -> None:
    """Without jitter each wait is at least the one before it."""
    schedule = policy.delays()
    assert all(a <= b for a, b in itertools.pairwise(schedule))


@given(policies(), st.integers())
def test_jitter_stays_within_its_strategy_bounds(policy: RetryPolicy, seed: int) -> None:
    """full: [0, d]; equal: [d/2, d]; decorrelated: [initial, max]; none: exactly d."""
    schedule = policy.delays(seed)
    for retry, delay in enumerate(schedule, start=1):
        base = policy.base_delay(retry)
        if policy.jitter is Jitter.NONE:
            assert delay == base
        elif policy.jitter is Jitter.FULL:
            assert 0 <= delay <= base
        elif policy.jitter is Jitter.EQUAL:
            assert base / 2 - 1e-9 * base <= delay <= base
        else:
            assert policy.initial_delay <= delay <= policy.max_delay


@given(policies(), st.integers() | st.text())
def test_the_same_seed_gives_the_same_schedule(policy: RetryPolicy, seed: int | str) -> None:
    """A seed reproduces a jittered schedule exactly."""
    assert policy.delays(seed) == policy.delays(seed)


def test_different_seeds_give_different_jitter() -> None:
    """Jitter really is random across seeds (or it would not spread retries)."""
    policy = RetryPolicy(10, "exponential", 1, 60, jitter="full")
    assert len({tuple(policy.delays(seed)) for seed in range(20)}) == 20


@given(
    st.integers(min_value=1, max_value=10**9),
    st.sampled_from(list(BackoffStrategy)),
    st.floats(min_value=0, max_value=1e300),
)
def test_base_delay_is_capped_for_any_attempt_number(
    retry: int, strategy: BackoffStrategy, initial: float
) -> None:
    """No attempt number, however large, makes a delay exceed max_delay or overflow."""
    policy = RetryPolicy(2, strategy, initial, max(initial, 60.0))
    assert 0 <= policy.base_delay(retry) <= policy.max_delay


def test_a_retry_number_below_one_is_refused_by_name() -> None:
    """Retry 1 is the second attempt; asking for the wait before retry 0 is a caller's error
    that says what it got."""
    policy = RetryPolicy()
    with pytest.raises(ValueError, match=r"^retry number must be >= 1, got 0$"):
        policy.base_delay(0)
