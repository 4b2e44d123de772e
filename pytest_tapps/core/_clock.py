"""The clock the core reads and waits on.

The core never calls ``time.time``, ``time.monotonic``, ``time.sleep`` or ``datetime.now``
itself: it asks a :class:`Clock`. :class:`SystemClock` is the real one; tests and the harness pass
a virtual clock so that simulated minutes of retries cost microseconds.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Protocol, runtime_checkable

from pytest_tapps.core._timeutil import from_epoch


@runtime_checkable
class Clock(Protocol):
    """Wall time, monotonic time and waiting, as one object."""

    def time(self) -> float:
        """Wall-clock time in UTC epoch seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences mean anything."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...

    async def async_sleep(self, seconds: float) -> None:
        """Wait ``seconds`` without blocking the event loop."""
        ...


class SystemClock:
    """The machine's real clock."""

    def time(self) -> float:
        return time.time()  # clock: the one place the core reads wall time

    def monotonic(self) -> float:
        return time.monotonic()  # clock: the one place the core reads monotonic time

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)  # clock: the one place the core waits

    async def async_sleep(self, seconds: float) -> None:
        import asyncio

        await asyncio.sleep(seconds)  # clock: the one place the core waits asynchronously

    def __repr__(self) -> str:
        return "SystemClock()"


def utcnow(clock: Clock) -> datetime:
    """The clock's wall time as an aware UTC datetime."""
    return from_epoch(clock.time())


SYSTEM_CLOCK = SystemClock()


class VirtualClock:
    """A clock that only moves when told to: ``sleep`` advances it at once and is recorded.

    Wall time starts at ``start`` (epoch seconds, default 2026-01-15T10:30:00Z, the runbook's
    example); monotonic time starts at 0 and moves with it.
    """

    def __init__(self, start: float = 1768473000.0) -> None:
        self._wall = float(start)
        self._monotonic = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move wall and monotonic time forward by ``seconds`` (never backwards)."""
        if not seconds >= 0:
            message = f"a clock only moves forward: advance({seconds!r}) needs seconds >= 0"
            raise ValueError(message)
        self._wall += seconds
        self._monotonic += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    async def async_sleep(self, seconds: float) -> None:
        import asyncio

        self.sleep(seconds)
        await asyncio.sleep(0)  # clock: yield to the loop without waiting

    @property
    def elapsed(self) -> float:
        """Seconds of monotonic time since the clock was made."""
        return self._monotonic

    def __repr__(self) -> str:
        return f"VirtualClock(time={self._wall!r}, elapsed={self._monotonic!r})"
