"""The clock the core reads and waits on.

The core never calls ``time.time``, ``time.monotonic``, ``time.sleep`` or ``datetime.now``
itself: it asks a :class:`Clock`. :class:`SystemClock` is the real one; tests and the harness pass
a virtual clock so that simulated minutes of retries cost microseconds.
"""

from __future__ import annotations

import asyncio
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
        await asyncio.sleep(seconds)  # clock: the one place the core waits asynchronously

    def __repr__(self) -> str:
        return "SystemClock()"


def utcnow(clock: Clock) -> datetime:
    """The clock's wall time as an aware UTC datetime."""
    return from_epoch(clock.time())


SYSTEM_CLOCK = SystemClock()
