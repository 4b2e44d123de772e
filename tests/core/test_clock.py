"""Tests for pytest_tapps.core._clock: the clock protocol, the system and virtual clocks."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core import SYSTEM_CLOCK, Clock, VirtualClock, utcnow


def test_both_clocks_satisfy_the_protocol() -> None:
    """SystemClock and VirtualClock are interchangeable wherever a Clock is taken."""
    assert isinstance(SYSTEM_CLOCK, Clock)
    assert isinstance(VirtualClock(), Clock)


def test_system_clock_reads_real_time() -> None:
    """The system clock agrees with the machine's clocks."""
    assert abs(SYSTEM_CLOCK.time() - time.time()) < 5
    first = SYSTEM_CLOCK.monotonic()
    SYSTEM_CLOCK.sleep(0)
    assert SYSTEM_CLOCK.monotonic() >= first


def test_virtual_clock_starts_at_the_runbook_example_time() -> None:
    """Default now is 2026-01-15T10:30:00Z, the runbook's JSON example."""
    assert utcnow(VirtualClock()).isoformat() == "2026-01-15T10:30:00+00:00"


def test_virtual_sleep_advances_instantly_and_is_recorded() -> None:
    """A 15-minute sleep moves both clocks 900 s at once and is listed."""
    clock = VirtualClock()
    start = time.monotonic()
    clock.sleep(900)
    clock.sleep(5)
    assert time.monotonic() - start < 1
    assert clock.sleeps == [900, 5]
    assert clock.elapsed == 905
    assert clock.time() == 1768473000 + 905


def test_virtual_async_sleep_does_not_hang_the_loop() -> None:
    """asyncio code sleeping on the virtual clock finishes at once, in order."""
    clock = VirtualClock()
    order: list[str] = []

    async def worker(name: str, seconds: float) -> None:
        await clock.async_sleep(seconds)
        order.append(name)

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(worker("a", 300), worker("b", 60)), timeout=5)

    asyncio.run(main())
    assert sorted(order) == ["a", "b"]
    assert clock.elapsed == 360


def test_virtual_clock_never_moves_backwards() -> None:
    """advance() with a negative or NaN amount is refused with the fix in the message."""
    clock = VirtualClock()
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="a clock only moves forward"):
            clock.advance(bad)
    assert clock.elapsed == 0


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=20))
def test_elapsed_is_the_sum_of_sleeps(sleeps: list[float]) -> None:
    """Monotonic time advances by exactly what was slept, and wall time with it."""
    clock = VirtualClock(0)
    for seconds in sleeps:
        clock.sleep(seconds)
    assert clock.elapsed == pytest.approx(sum(sleeps))
    assert clock.time() == pytest.approx(clock.elapsed)
