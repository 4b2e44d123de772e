"""Tests for pytest_tapps.core._durations: strict durations with units."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (300, 300.0),
        (2.5, 2.5),
        ("5s", 5.0),
        ("250ms", 0.25),
        ("15m", 900.0),
        ("12h", 43200.0),
        ("30d", 2592000.0),
        ("1w", 604800.0),
        (" 1.5h ", 5400.0),
        ("0s", 0.0),
    ],
)
def test_numbers_are_seconds_and_strings_carry_units(value: object, seconds: float) -> None:
    """A bare number is seconds; a string needs one of ms, s, m, h, d, w."""
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "1:30",
            "timeout: '1:30' is not a duration; write a number of seconds or a string with a unit such as '5s', '15m', '12h', '30d'",
        ),
        (
            "5",
            "timeout: '5' is not a duration; write a number of seconds or a string with a unit such as '5s', '15m', '12h', '30d'",
        ),
        (
            "5 minutes",
            "timeout: '5 minutes' is not a duration; write a number of seconds or a string with a unit such as '5s', '15m', '12h', '30d'",
        ),
        (
            True,
            "timeout: expected a number of seconds or a string with a unit such as '5s', '15m', '12h', '30d', got True",
        ),
        (
            None,
            "timeout: expected a number of seconds or a string with a unit such as '5s', '15m', '12h', '30d', got None",
        ),
        (
            [5],
            "timeout: expected a number of seconds or a string with a unit such as '5s', '15m', '12h', '30d', got list [5]",
        ),
        (-1, "timeout: must be >= 0 seconds, got -1"),
        (float("inf"), "timeout: must be a finite duration, got inf"),
        (float("nan"), "timeout: must be a finite duration, got nan"),
        (10**400, "timeout: must be a finite duration, got a number too large for seconds"),
    ],
)
def test_bad_durations_say_what_to_write(value: object, message: str) -> None:
    """YAML surprises, booleans, empties, negatives and infinities are refused by field."""
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        parse_duration(value, field="timeout")
    assert str(info.value) == message


def test_zero_can_be_refused() -> None:
    """Timeouts and retention ages must be positive where zero makes no sense."""
    with pytest.raises(ValueError, match=r"^age: must be > 0 seconds, got '0d'$"):
        parse_duration("0d", field="age", allow_zero=False)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5s"), (0.25, "0.25s"), (900, "15m"), (5400, "1.5h"), (2592000, "30d"), (61, "61s")],
)
def test_format_picks_the_largest_exact_unit(seconds: float, text: str) -> None:
    """Formatting prefers the unit people would write."""
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_is_exact_for_whole_seconds(seconds: int) -> None:
    """Whatever format_duration writes, parse_duration reads back to the same seconds."""
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-12)
