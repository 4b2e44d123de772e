"""Retry and timeout policies (runbook "Retry/Timeout Handling"; PRODUCT.md "Retry", "Timeout").

``max_attempts`` counts every attempt including the first (1 = no retry; 0 is refused). The delay
before retry ``n`` (``n = 1`` is the second attempt) is ``initial_delay * 2**(n-1)`` for
``exponential``, ``initial_delay * n`` for ``linear`` and ``initial_delay`` for ``fixed``, capped at
``max_delay``. Jitter follows the AWS architecture blog's "Exponential Backoff And Jitter": ``full``
draws from ``[0, d]``, ``equal`` from ``[d/2, d]``, ``decorrelated`` from
``[initial_delay, 3 * previous]`` capped at ``max_delay``; a seed reproduces a schedule.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pytest_tapps.core._durations import parse_duration

#: Exponents past this make any positive delay exceed any finite cap: stop multiplying.
_MAX_EXPONENT = 1023  # 2.0 ** 1024 overflows
#: Past this exponent even the smallest positive float (2**-1074) times 2**n overflows.
_LDEXP_LIMIT = 2200


class BackoffStrategy(StrEnum):
    EXPONENTIAL = "exponential"
    LINEAR = "linear"
    FIXED = "fixed"


class Jitter(StrEnum):
    NONE = "none"
    FULL = "full"
    EQUAL = "equal"
    DECORRELATED = "decorrelated"


def _choice(enum: type[StrEnum], value: object, field: str) -> Any:
    if isinstance(value, enum):
        return value
    if isinstance(value, str) and value in {member.value for member in enum}:
        return enum(value)
    allowed = ", ".join(repr(member.value) for member in enum)
    message = f"{field}: {value!r} is not one of {allowed}"
    raise ValueError(message)


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        message = f"{field}: expected a number of seconds, got {value!r}"
        raise ValueError(message)
    if not math.isfinite(value):
        message = f"{field}: must be finite, got {value!r}"
        raise ValueError(message)
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long apart a failed step is tried again.

    Validated when built: a bad field raises ``ValueError`` naming the field, the value and the
    rule (``max_attempts: must be >= 1 (it counts the first attempt), got 0``).
    """

    max_attempts: int = 1
    backoff_strategy: BackoffStrategy | str = BackoffStrategy.EXPONENTIAL
    initial_delay: float = 1.0
    max_delay: float = 60.0
    jitter: Jitter | str = Jitter.NONE

    def __post_init__(self) -> None:
        values = {name: _field(name, getattr(self, name)) for name in RETRY_FIELDS}
        if values["max_delay"] < values["initial_delay"]:
            message = (
                f"max_delay: must be >= initial_delay ({self.initial_delay!r}), "
                f"got {self.max_delay!r}"
            )
            raise ValueError(message)
        for name in ("backoff_strategy", "jitter", "initial_delay", "max_delay"):
            object.__setattr__(self, name, values[name])

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RetryPolicy:
        """Build from the runbook's ``retry:`` block; delays may carry units (``5s``, ``1m``).
        ``ValueError`` names every bad field (``field: why; field: why``)."""
        values, problems = _read(data)
        if problems:
            message = "; ".join(f"{name}: {why}" for name, why in problems)
            raise ValueError(message)
        return cls(**values)

    def base_delay(self, retry: int) -> float:
        """The un-jittered wait before retry ``retry`` (1 = the second attempt), capped."""
        if retry < 1:
            message = f"retry number must be >= 1, got {retry!r}"
            raise ValueError(message)
        if self.backoff_strategy is BackoffStrategy.FIXED:
            delay = self.initial_delay
        elif self.backoff_strategy is BackoffStrategy.LINEAR:
            delay = self.initial_delay * retry
        elif self.initial_delay == 0:
            delay = 0.0
        elif retry - 1 > _MAX_EXPONENT:
            # initial_delay * 2**(retry-1) without overflowing: ldexp scales the float's
            # exponent, so a tiny initial delay keeps doubling past 2**1023 until the cap.
            try:
                delay = math.ldexp(self.initial_delay, min(retry - 1, _LDEXP_LIMIT))
            except OverflowError:
                delay = math.inf
        else:
            delay = self.initial_delay * 2.0 ** (retry - 1)
        return min(delay, self.max_delay)

    def iter_delays(self, seed: int | str | None = None) -> Iterator[float]:
        """The waits between attempts, lazily (``max_attempts - 1`` of them)."""
        import random  # here: the cleanup command, which needs none, starts faster

        rng = random.Random(seed)  # noqa: S311 -- backoff jitter, not cryptography
        previous = self.initial_delay
        for retry in range(1, self.max_attempts):
            base = self.base_delay(retry)
            if self.jitter is Jitter.FULL:
                delay = rng.uniform(0.0, base)
            elif self.jitter is Jitter.EQUAL:
                # min(): halving a subnormal float can round up past the base
                delay = min(base, base / 2 + rng.uniform(0.0, base / 2))
            elif self.jitter is Jitter.DECORRELATED:
                upper = min(self.max_delay, max(self.initial_delay, previous * 3))
                delay = min(self.max_delay, rng.uniform(self.initial_delay, upper))
            else:
                delay = base
            previous = delay
            yield delay

    def delays(self, seed: int | str | None = None, *, limit: int | None = None) -> list[float]:
        """The waits between attempts as a list (at most ``limit`` of them, if given)."""
        return list(itertools.islice(self.iter_delays(seed), limit))


#: The fields of a ``retry:`` block, in the runbook's order.
RETRY_FIELDS = ("max_attempts", "backoff_strategy", "initial_delay", "max_delay", "jitter")


def _field(name: str, value: object) -> Any:
    """``value`` of the retry field ``name``, normalised; ``ValueError`` ``'name: why'``."""
    if name == "max_attempts":
        if isinstance(value, bool) or not isinstance(value, int):
            message = f"max_attempts: expected a whole number, got {value!r}"
            raise ValueError(message)
        if value < 1:
            message = (
                f"max_attempts: must be >= 1 (it counts the first attempt; 1 means no retry), "
                f"got {value!r}"
            )
            raise ValueError(message)
        return value
    if name == "backoff_strategy":
        return _choice(BackoffStrategy, value, name)
    if name == "jitter":
        return _choice(Jitter, value, name)
    number = _number(value, name)
    if name == "initial_delay" and number < 0:
        message = f"initial_delay: must be >= 0 seconds, got {value!r}"
        raise ValueError(message)
    return number


def _read(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The fields of a ``retry:`` block and its problems, each field checked on its own."""
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for name, value in data.items():
        if name not in RETRY_FIELDS:
            problems.append(
                (str(name), f"unknown retry field; expected one of {sorted(RETRY_FIELDS)}")
            )
            continue
        try:
            delay = name in ("initial_delay", "max_delay")
            values[name] = _field(name, parse_duration(value, field=name) if delay else value)
        except ValueError as exc:
            problems.append((name, str(exc).removeprefix(f"{name}: ")))
    if not problems:
        try:
            RetryPolicy(**values)
        except ValueError as exc:  # the rule across fields: max_delay >= initial_delay
            why = str(exc).removeprefix("max_delay: ")
            if "max_delay" not in data:
                why += " (the default: write a max_delay)"
            problems.append(("max_delay", why))
    return values, problems


def retry_problems(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem of a runbook ``retry:`` block as ``(field, why)``, in the block's order:
    each field is checked on its own, and ``max_delay`` against ``initial_delay`` once both
    are fine. Empty when :meth:`RetryPolicy.from_mapping` accepts ``data``."""
    return _read(data)[1]


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_timeout(value: object, *, field: str = "timeout") -> float:
    """A step or workflow timeout in seconds: a positive number or a duration with a unit."""
    return parse_duration(value, field=field, allow_zero=False)
