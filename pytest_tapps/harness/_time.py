"""One virtual clock for a whole test: the core's clock, wall time, monotonic time and sleeps.

No time-faking library gives a coherent clock on its own (LESSONS.md "Time"): freezegun freezes
``time.monotonic`` so ``asyncio.sleep`` hangs unless ``real_asyncio=True``, and it never advances
on ``time.sleep``. :func:`virtual_time` freezes wall time with freezegun once, then moves
freezegun's time, the core's :class:`~pytest_tapps.core.VirtualClock` and the sleeps together:
``time.sleep(s)`` and ``await asyncio.sleep(s)`` return at once and advance every clock by ``s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pytest_tapps.core import Clock, VirtualClock, parse_duration
from pytest_tapps.core._timeutil import from_epoch
from pytest_tapps.harness._project import HarnessError

#: The runbook's JSON example time: the default "now" of a test.
DEFAULT_NOW = "2026-01-15T10:30:00Z"
#: Modules whose clock reads stay real: pytest's own timing (durations, --durations, the
#: terminal's summary) and xdist's workers. freezegun matches these as prefixes against the
#: modules of the calling frames, so only leaf modules may be named: ignoring "_pytest" whole
#: would unfreeze every test, since every test is called from pytest's frames.
IGNORED_MODULES = (
    "_pytest.timing",
    "_pytest.runner.",
    "_pytest.terminal.",
    "_pytest.junitxml",
    "xdist.",
    "execnet.",
)

Moment = datetime | float | int | str


def to_epoch(moment: Moment) -> float:
    """Epoch seconds from an ISO 8601 string with a time zone, an aware datetime or an epoch
    number. A time without a zone is refused (:class:`HarnessError`, saying how to write it):
    read as the machine's local time, a test would pass in one zone and fail in another."""
    if isinstance(moment, int | float) and not isinstance(moment, bool):
        return float(moment)
    when = moment
    if isinstance(moment, str):
        try:
            when = datetime.fromisoformat(moment)
        except ValueError:
            message = f"now={moment!r} is not an ISO 8601 time: write it as now={DEFAULT_NOW!r}"
            raise HarnessError(message) from None
    if not isinstance(when, datetime):
        message = (
            f"now={moment!r} is not a time: give an ISO 8601 string with a time zone "
            f"({DEFAULT_NOW!r}), an aware datetime or epoch seconds"
        )
        raise HarnessError(message)
    if when.utcoffset() is None:
        aware = when.replace(tzinfo=UTC)
        fixed = aware.isoformat().replace("+00:00", "Z") if isinstance(moment, str) else aware
        message = f"now={moment!r} has no time zone: write it in UTC, now={fixed!r}"
        raise HarnessError(message)
    return when.timestamp()


class TappsClock(VirtualClock):
    """The test's virtual clock. ``advance("15m")`` moves everything; ``sleeps`` lists waits."""

    def __init__(self, start: Moment = DEFAULT_NOW) -> None:
        super().__init__(to_epoch(start))
        self._factory: Any = None
        self._real_async_sleep = asyncio.sleep

    @property
    def now(self) -> datetime:
        """The current virtual time as an aware UTC datetime."""
        return from_epoch(self.time())

    def advance(self, seconds: float | str | timedelta) -> None:
        """Move wall, monotonic and frozen time forward (``5``, ``"15m"``, ``timedelta``)."""
        if isinstance(seconds, timedelta):
            amount = seconds.total_seconds()
        elif isinstance(seconds, str):
            amount = parse_duration(seconds, field="advance")
        else:
            amount = seconds
        super().advance(amount)
        if self._factory is not None:
            self._factory.tick(timedelta(seconds=amount))

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await self._real_async_sleep(0)

    def __repr__(self) -> str:
        return f"TappsClock(now={self.now.isoformat()!r}, elapsed={self.elapsed!r})"


@contextlib.contextmanager
def virtual_time(start: Moment = DEFAULT_NOW, *, freeze: bool = True) -> Iterator[TappsClock]:
    """Run the block on a :class:`TappsClock` starting at ``start``.

    With ``freeze`` (the default) freezegun freezes wall time once for the block (pytest's own
    modules ignored), and ``time.sleep``/``asyncio.sleep`` advance the clock instead of waiting.
    Everything is undone on exit. Without ``freeze`` only the core's clock is virtual.
    """
    clock = TappsClock(start)
    if not freeze:
        yield clock
        return
    with frozen(clock):
        yield clock


@contextlib.contextmanager
def frozen(clock: Clock) -> Iterator[None]:
    """Freeze wall time (``datetime.now``, ``time.time``) at ``clock``'s now for the block, and
    make ``time.sleep``/``asyncio.sleep`` advance ``clock`` and the frozen time instead of
    waiting: code that reads the system clock (a real implementation under test) sees the same
    virtual time as the core. Undone on exit."""
    from freezegun import freeze_time

    freezer = freeze_time(
        from_epoch(clock.time()), tick=False, real_asyncio=True, ignore=list(IGNORED_MODULES)
    )
    real_sleep, real_async_sleep = time.sleep, asyncio.sleep
    factory = freezer.start()
    if isinstance(clock, TappsClock):  # its advance() moves the frozen time too
        clock._factory = factory
        clock._real_async_sleep = real_async_sleep

    def fake_sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if not isinstance(clock, TappsClock):
            factory.tick(timedelta(seconds=max(seconds, 0)))

    async def fake_async_sleep(seconds: float, result: Any = None) -> Any:
        fake_sleep(seconds)
        await real_async_sleep(0)
        return result

    time.sleep = fake_sleep  # type: ignore[assignment]
    asyncio.sleep = fake_async_sleep  # type: ignore[assignment]
    try:
        yield
    finally:
        time.sleep = real_sleep
        asyncio.sleep = real_async_sleep
        if isinstance(clock, TappsClock):
            clock._factory = None
        freezer.stop()
