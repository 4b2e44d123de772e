"""Tests for pytest_tapps.harness._time: one virtual clock for wall, monotonic and sleeps."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from pytest_tapps.core import VirtualClock
from pytest_tapps.harness import HarnessError, TappsClock, virtual_time
from pytest_tapps.harness._time import Moment, frozen

START = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)


def test_wall_time_and_datetime_start_frozen_at_now() -> None:
    """Inside the block, time.time and datetime.now read the virtual start."""
    with virtual_time("2026-01-15T10:30:00Z") as clock:
        assert time.time() == START.timestamp()
        assert datetime.now(UTC) == START
        assert clock.now == START


def test_sleep_advances_every_clock_without_waiting() -> None:
    """time.sleep(900) returns at once; wall, monotonic and the core clock move 900 s."""
    with virtual_time() as clock:
        wall, mono = time.time(), time.monotonic()
        started = time.perf_counter()
        time.sleep(900)
        assert time.time() - wall == 900
        assert time.monotonic() - mono == pytest.approx(900)
        assert clock.elapsed == 900
        assert clock.sleeps == [900]
    assert time.perf_counter() - started < 5


def test_asyncio_sleep_does_not_hang_and_advances() -> None:
    """await asyncio.sleep(300) inside asyncio.run finishes at once and moves time 300 s."""

    async def work() -> float:
        before = time.time()
        await asyncio.wait_for(asyncio.sleep(300), timeout=5)
        return time.time() - before

    with virtual_time() as clock:
        assert asyncio.run(work()) == 300
        assert clock.elapsed == 300


def test_advance_takes_durations_and_timedeltas() -> None:
    """advance('15m'), advance(60) and advance(timedelta) move the same clock."""
    with virtual_time() as clock:
        clock.advance("15m")
        clock.advance(60)
        clock.advance(timedelta(seconds=5))
        assert clock.now == START + timedelta(seconds=965)
        assert datetime.now(UTC) == clock.now


def test_everything_is_undone_after_the_block() -> None:
    """time.sleep, asyncio.sleep and the wall clock are real again afterwards."""
    real_sleep, real_async_sleep = time.sleep, asyncio.sleep
    with virtual_time("2001-01-01T00:00:00Z"):
        assert time.sleep is not real_sleep
    assert time.sleep is real_sleep
    assert asyncio.sleep is real_async_sleep
    assert abs(time.time() - datetime.now(UTC).timestamp()) < 5
    assert datetime.now(UTC).year >= 2026


def test_the_clock_is_a_core_clock() -> None:
    """The harness clock plugs into the core wherever a Clock is taken."""
    assert isinstance(TappsClock(), VirtualClock)
    with virtual_time(freeze=False) as clock:
        clock.sleep(10)
        assert clock.elapsed == 10
        assert abs(time.time() - datetime.now(UTC).timestamp()) < 5  # wall time untouched


def test_frozen_gives_other_code_the_virtual_clock_s_time() -> None:
    """frozen(clock): datetime.now() and time.time() read the clock; time.sleep and
    asyncio.sleep advance it (and them) at once; all is undone after. What a real
    implementation under test sees."""
    clock = VirtualClock(1_768_473_000.0)  # 2026-01-15T10:30:00Z
    real_sleep = time.sleep
    with frozen(clock):
        assert datetime.now(UTC).isoformat() == "2026-01-15T10:30:00+00:00"
        time.sleep(5)
        asyncio.run(asyncio.sleep(10))
        assert clock.time() == 1_768_473_015.0
        assert time.time() == 1_768_473_015.0
        assert datetime.now(UTC).isoformat() == "2026-01-15T10:30:15+00:00"
    assert time.sleep is real_sleep
    assert datetime.now(UTC).year >= 2026
    assert abs(time.time() - datetime.now(UTC).timestamp()) < 5


@pytest.mark.parametrize(
    ("now", "message"),
    [
        (
            "2026-01-15T10:30:00",
            "now='2026-01-15T10:30:00' has no time zone: write it in UTC, "
            "now='2026-01-15T10:30:00Z'",
        ),
        (
            datetime(2026, 1, 15, 10, 30),
            "now=datetime.datetime(2026, 1, 15, 10, 30) has no time zone: write it in UTC, "
            "now=datetime.datetime(2026, 1, 15, 10, 30, tzinfo=datetime.timezone.utc)",
        ),
        ("soon", "now='soon' is not an ISO 8601 time: write it as now='2026-01-15T10:30:00Z'"),
        (
            True,
            "now=True is not a time: give an ISO 8601 string with a time zone "
            "('2026-01-15T10:30:00Z'), an aware datetime or epoch seconds",
        ),
    ],
    ids=["naive text", "naive datetime", "not a time", "a bool"],
)
def test_a_start_without_a_zone_is_refused_with_its_fix(now: Moment, message: str) -> None:
    """virtual_time refuses a start that is not a zoned time, naming it and how to write it
    (read as local time, a test would pass in one zone and fail in another)."""
    with pytest.raises(HarnessError) as raised, virtual_time(now):
        pass
    assert str(raised.value) == message


def test_zoned_starts_and_epoch_seconds_are_the_same_moment() -> None:
    """'...Z', another offset, an aware datetime and epoch seconds start at one instant."""
    starts: list[Moment] = [
        "2026-01-15T10:30:00Z",
        "2026-01-15T11:30:00+01:00",
        START,
        START.timestamp(),
    ]
    for start in starts:
        with virtual_time(start, freeze=False) as clock:
            assert clock.now == START
