"""Durations as people write them: ``300`` (seconds), ``5s``, ``15m``, ``12h``, ``30d``.

Strict on purpose (LESSONS.md "Bad YAML"): a boolean, a negative or non-finite number, an empty
value, a sexagesimal ``1:30`` or an unknown unit is an error that says what to write instead.
"""

from __future__ import annotations

import math
import re

from pytest_tapps.core._shown import quoted

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_EXAMPLES = "a number of seconds or a string with a unit such as '5s', '15m', '12h', '30d'"

#: The runbook's default step timeout: 900 seconds (15 minutes).
DEFAULT_STEP_TIMEOUT_SECONDS = 900.0
#: A running workflow with no heartbeat or progress for this long is reported stuck. Twice the
#: runbook's default step timeout: a healthy executor saves progress at least once per attempt
#: and an attempt ends at its timeout, so it never stays silent this long. (Here, not in
#: ``_policy``: the cleanup and worktree commands need it without the retry policy's module.)
DEFAULT_STUCK_SECONDS = 2 * DEFAULT_STEP_TIMEOUT_SECONDS
#: The real tapps-agents package's default step timeout: 3600 seconds.
REAL_PACKAGE_STEP_TIMEOUT_SECONDS = 3600.0
#: The same rule for a state of the real package, which holds no lock file and saves at each
#: step: twice its default step timeout without a save.
UNLOCKED_STUCK_SECONDS = 2 * REAL_PACKAGE_STEP_TIMEOUT_SECONDS


def parse_duration(value: object, *, field: str = "duration", allow_zero: bool = True) -> float:
    """Seconds from a number or a ``<number><unit>`` string; ``ValueError`` names ``field``."""
    seconds: float
    if isinstance(value, bool) or value is None:
        message = f"{field}: expected {_EXAMPLES}, got {value!r}"
        raise ValueError(message)
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int past the largest float: ``timeout: 1000...0``
            message = f"{field}: must be a finite duration, got a number too large for seconds"
            raise ValueError(message) from None
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if match is None:
            message = f"{field}: {quoted(value)} is not a duration; write {_EXAMPLES}"
            raise ValueError(message)
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        message = f"{field}: expected {_EXAMPLES}, got {type(value).__name__} {value!r}"
        raise ValueError(message)
    if not math.isfinite(seconds):
        message = f"{field}: must be a finite duration, got {value!r}"
        raise ValueError(message)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        message = f"{field}: must be {bound} seconds, got {value!r}"
        raise ValueError(message)
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact unit form: ``5s``, ``15m``, ``1.5h``, ``30d``; fractions of a second
    in seconds (``0.25s``)."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and (seconds / size) * 4 == int((seconds / size) * 4):
            return f"{_plain(seconds / size)}{unit}"
    return f"{_plain(seconds)}s"


def human_duration(seconds: float) -> str:
    """A duration or an age for a table, in its two largest units: ``5.2s``, ``15m 0s``,
    ``2h 3m``, ``47h 59m``, ``120d 0h`` (hours up to two days, then days). Rounded, so not
    for reading back: :func:`format_duration` writes what the parser reads."""
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s" if round(seconds, 1) % 1 else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _plain(number: float) -> str:
    """A number without exponent notation, trailing zeros dropped (what the parser reads)."""
    text = f"{number:f}".rstrip("0").rstrip(".")
    return text or "0"
