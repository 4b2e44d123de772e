"""Hypothesis strategies for the runbook's objects: retry policies, timeouts, error envelopes,
workflow states, retention policies, ages at retention boundaries, hostile ``.tapps-agents/``
trees and lock files.

They follow Hypothesis's own API style: plural names, keyword-only arguments, ``min_*``/``max_*``
bounds, and a :class:`hypothesis.errors.InvalidArgument` at once for an argument that cannot
work (never a strategy that silently draws nothing). Each draws valid objects only, the kind the
core itself writes, unless asked with ``invalid=True`` for input the core must refuse.

This module imports Hypothesis, so import it only where strategies are wanted (neither the
plugin nor the core imports it). See ``docs/hypothesis.md``.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import json
import math
import os
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from pytest_tapps.core import (
    DEFAULT_CODES,
    DEFAULT_STEP_TIMEOUT_SECONDS,
    BackoffStrategy,
    Category,
    ErrorEnvelope,
    Jitter,
    Layout,
    RetentionCategory,
    RetentionPolicy,
    RetryPolicy,
    StepExecution,
    StepStatus,
    UnsafeNameError,
    WorkflowState,
    WorkflowStatus,
    format_duration,
    parse_duration,
    safe_name,
)
from pytest_tapps.core._retention import BY_NAME, CATEGORIES, DAY, FILE_CATEGORIES
from pytest_tapps.core._safedelete import TOMBSTONE_PREFIX
from pytest_tapps.harness import Faults, HarnessError, TappsProject

__all__ = [
    "LOCK_KINDS",
    "LockState",
    "TreeDescription",
    "TreeFile",
    "TreeLink",
    "TreeWorktree",
    "ages",
    "error_envelopes",
    "lock_states",
    "retention_policies",
    "retry_policies",
    "timeouts",
    "trees",
    "workflow_states",
]

T = TypeVar("T")

#: The largest whole number of seconds a float holds exactly (bounds of retention ages).
_EXACT = 2**53
#: Attempt counts that break naive schedules (``2**n`` overflows, lists of every delay).
_HUGE_ATTEMPTS = (10**9, 2**63 - 1)
#: The retention ages of the runbook's table, the default boundaries of :func:`ages`.
_RETENTION_BOUNDARIES: tuple[float, ...] = tuple(
    sorted({c.default for c in CATEGORIES if c.default is not None})
)


# -- the plumbing: eager validation, and reprs that read like the call ---------------------------


def _named(
    name: str, shown: Mapping[str, Any], draw_value: Callable[[st.DrawFn], T]
) -> SearchStrategy[T]:
    """A composite strategy that draws with ``draw_value`` and reprs as ``name(**shown)``.

    ``st.composite`` reprs a strategy as the call that made it; the composite is named after the
    public function and given only the arguments the caller passed, so the repr is the user's
    own call (``retry_policies(max_attempts=5)``), while the drawing closes over every value."""

    def draw_function(draw: st.DrawFn, /, **_shown: Any) -> T:
        return draw_value(draw)

    draw_function.__name__ = draw_function.__qualname__ = name
    # Hypothesis prints keyword arguments in the order of the signature (``**kwargs``: sorted).
    parameters = [inspect.Parameter("draw", inspect.Parameter.POSITIONAL_ONLY)]
    parameters += [
        inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=_UNSET) for key in shown
    ]
    draw_function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return st.composite(draw_function)(**shown)


#: The default of every argument of a named composite: whatever the caller passed differs.
_UNSET = object()


def _shown(function: Callable[..., Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments that differ from ``function``'s defaults (what its repr shows)."""
    parameters = inspect.signature(function).parameters
    shown = {}
    for name, value in arguments.items():
        default = parameters[name].default
        same = value is default or (type(value) is type(default) and value == default)
        if not same:
            shown[name] = value
    return shown


def _fail(message: str) -> InvalidArgument:
    return InvalidArgument(message)


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        message = f"{name}={value!r} must be True or False"
        raise _fail(message)


def _check_int(name: str, value: object, *, minimum: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        message = f"{name}={value!r} must be a whole number (an int); pass e.g. {name}={minimum}"
        raise _fail(message)
    if value < minimum:
        message = f"{name}={value!r} is less than {minimum}{why}; pass {name} >= {minimum}"
        raise _fail(message)
    return value


def _check_seconds(name: str, value: object, *, why: str = "") -> float:
    """A finite, non-negative number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        message = f"{name}={value!r} must be a number of seconds; pass e.g. {name}=60.0"
        raise _fail(message)
    if not math.isfinite(value) or value < 0:
        message = f"{name}={value!r} must be a finite number of seconds >= 0{why}"
        raise _fail(message)
    return float(value)


def _check_order(low_name: str, low: float, high_name: str, high: float, why: str = "") -> None:
    if high < low:
        message = (
            f"{high_name}={high!r} is less than {low_name}={low!r}{why}; "
            f"pass {high_name} >= {low_name}"
        )
        raise _fail(message)


def _check_choices(
    name: str, value: Iterable[object] | None, allowed: Sequence[str], what: str
) -> tuple[str, ...]:
    """The chosen names (all of ``allowed`` for ``None``), each checked, in ``allowed`` order."""
    if value is None:
        return tuple(allowed)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        message = (
            f"{name}={value!r} must be a list of {what} names, e.g. {name}=[{allowed[0]!r}]"
            ", or None for all of them"
        )
        raise _fail(message)
    chosen = list(value)
    for item in chosen:
        text = item.value if isinstance(item, StrEnum) else item
        if text not in allowed:
            close = difflib.get_close_matches(str(text), allowed, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"{name} contains {item!r}, which is not a {what}{hint}; use {list(allowed)}"
            raise _fail(message)
    if not chosen:
        message = (
            f"{name}={value!r} is empty, so nothing could be drawn; name at least one {what}, "
            f"or pass None for all of them"
        )
        raise _fail(message)
    names = {item.value if isinstance(item, StrEnum) else item for item in chosen}
    return tuple(name for name in allowed if name in names)


def _safe(name: str) -> bool:
    try:
        safe_name(name)
    except UnsafeNameError:
        return False
    return True


# -- retry policies ------------------------------------------------------------------------------

_STRATEGY_NAMES = tuple(member.value for member in BackoffStrategy)
_JITTER_NAMES = tuple(member.value for member in Jitter)


@overload
def retry_policies(
    *,
    min_attempts: int = 1,
    max_attempts: int | None = None,
    strategies: Collection[BackoffStrategy | str] | None = None,
    max_initial_delay: float | None = None,
    max_delay: float | None = None,
    jitters: Collection[Jitter | str] | None = None,
    invalid: Literal[False] = False,
) -> SearchStrategy[RetryPolicy]: ...
@overload
def retry_policies(
    *,
    min_attempts: int = 1,
    max_attempts: int | None = None,
    strategies: Collection[BackoffStrategy | str] | None = None,
    max_initial_delay: float | None = None,
    max_delay: float | None = None,
    jitters: Collection[Jitter | str] | None = None,
    invalid: Literal[True],
) -> SearchStrategy[dict[str, Any]]: ...
def retry_policies(
    *,
    min_attempts: int = 1,
    max_attempts: int | None = None,
    strategies: Collection[BackoffStrategy | str] | None = None,
    max_initial_delay: float | None = None,
    max_delay: float | None = None,
    jitters: Collection[Jitter | str] | None = None,
    invalid: bool = False,
) -> SearchStrategy[RetryPolicy] | SearchStrategy[dict[str, Any]]:
    """:class:`~pytest_tapps.core.RetryPolicy` objects, valid by construction.

    ``max_attempts`` (the policy's ``max_attempts`` counts the first try) lies in
    ``[min_attempts, max_attempts]``; ``None`` is unbounded, and then draws include ``10**9``
    and ``2**63 - 1``. ``initial_delay`` lies in ``[0, max_initial_delay]`` and the policy's
    ``max_delay`` in ``[initial_delay, max_delay]`` (``None``: any finite float), with ``0``,
    ``5e-324``, a microsecond and the bounds themselves among the draws. ``strategies`` and
    ``jitters`` restrict the names drawn.

    ``invalid=True`` draws instead the raw ``retry:`` mapping that
    :meth:`RetryPolicy.from_mapping` must refuse: one field broken (``max_attempts`` 0 or a
    boolean, a negative or NaN delay, ``max_delay < initial_delay``, an unknown strategy, jitter
    or field name).
    """
    arguments = dict(locals())
    _check_int("min_attempts", min_attempts, minimum=1, why=" (max_attempts counts the first try)")
    if max_attempts is not None:
        _check_int("max_attempts", max_attempts, minimum=1, why=" (it counts the first try)")
        _check_order("min_attempts", min_attempts, "max_attempts", max_attempts)
    chosen_strategies = _check_choices(
        "strategies", strategies, _STRATEGY_NAMES, "backoff strategy"
    )
    chosen_jitters = _check_choices("jitters", jitters, _JITTER_NAMES, "jitter")
    cap_bound = sys.float_info.max
    if max_delay is not None:
        cap_bound = _check_seconds("max_delay", max_delay)
    initial_bound = cap_bound
    if max_initial_delay is not None:
        initial_bound = _check_seconds("max_initial_delay", max_initial_delay)
        _check_order(
            "max_initial_delay",
            initial_bound,
            "max_delay",
            cap_bound,
            " (a policy's max_delay is at least its initial_delay)",
        )
    _check_bool("invalid", invalid)
    options = _RetryOptions(
        min_attempts, max_attempts, chosen_strategies, chosen_jitters, initial_bound, cap_bound
    )
    shown = _shown(retry_policies, arguments)
    if invalid:
        return _named(
            "retry_policies", shown, functools.partial(_draw_bad_retry_mapping, options=options)
        )
    return _named("retry_policies", shown, functools.partial(_draw_retry_policy, options=options))


@dataclass(frozen=True)
class _RetryOptions:
    min_attempts: int
    max_attempts: int | None
    strategies: tuple[str, ...]
    jitters: tuple[str, ...]
    initial_bound: float
    cap_bound: float


def _some_of(values: Iterable[float], low: float, high: float) -> list[float]:
    return sorted({value for value in values if low <= value <= high})


def _draw_retry_policy(draw: st.DrawFn, *, options: _RetryOptions) -> RetryPolicy:
    low, high = options.min_attempts, options.max_attempts
    small_high = low + 9 if high is None else min(high, low + 9)
    special = [low, *([] if high is None else [high])]
    special += [n for n in _HUGE_ATTEMPTS if n >= low and (high is None or n <= high)]
    attempts = draw(
        st.one_of(st.integers(low, small_high), st.sampled_from(special), st.integers(low, high))
    )
    bound = options.initial_bound
    tiny = (0.0, 5e-324, 1e-6, 0.001, 1.0, 5.0, 60.0, bound)
    initial = draw(
        st.one_of(
            st.sampled_from(_some_of(tiny, 0.0, bound)),
            st.floats(0.0, bound, allow_nan=False, allow_infinity=False),
        )
    )
    cap_bound = options.cap_bound
    caps = _some_of((initial, 60.0, 3600.0, cap_bound), initial, cap_bound)
    cap = draw(
        st.one_of(
            st.sampled_from(caps),
            st.floats(initial, cap_bound, allow_nan=False, allow_infinity=False),
        )
    )
    return RetryPolicy(
        max_attempts=attempts,
        backoff_strategy=draw(st.sampled_from(options.strategies)),
        initial_delay=initial,
        max_delay=cap,
        jitter=draw(st.sampled_from(options.jitters)),
    )


_BAD_ATTEMPTS: tuple[object, ...] = (0, -1, True, False, 1.5, "3", None, float("nan"))
_BAD_DELAYS: tuple[object, ...] = (
    -1.0, -1e-6, float("nan"), float("inf"), True, "1:30", "abc", "-5s", "5 s s", "15M", "1e3s",
    None,
)  # fmt: skip
_BAD_NAMES: tuple[object, ...] = ("", "Exponential", "EXPONENTIAL", "exp", "expo nential", 1, None)
_UNKNOWN_RETRY_FIELDS = ("max_retries", "retries", "initialDelay", "backoff", "delay")


def _draw_bad_retry_mapping(draw: st.DrawFn, *, options: _RetryOptions) -> dict[str, Any]:
    policy = _draw_retry_policy(draw, options=options)
    mapping: dict[str, Any] = {
        "max_attempts": policy.max_attempts,
        "backoff_strategy": str(policy.backoff_strategy),
        "initial_delay": policy.initial_delay,
        "max_delay": policy.max_delay,
        "jitter": str(policy.jitter),
    }
    fault = draw(
        st.sampled_from(
            [
                "max_attempts",
                "initial_delay",
                "max_delay",
                "inverted",
                "backoff_strategy",
                "jitter",
                "unknown",
            ]
        )
    )
    if fault == "max_attempts":
        mapping["max_attempts"] = draw(
            st.one_of(st.sampled_from(_BAD_ATTEMPTS), st.integers(max_value=0))
        )
    elif fault in ("initial_delay", "max_delay"):
        mapping[fault] = draw(
            st.one_of(st.sampled_from(_BAD_DELAYS), st.floats(max_value=-1e-9, allow_nan=False))
        )
    elif fault == "inverted":
        initial = draw(st.floats(1e-3, 1e6))
        mapping["initial_delay"] = initial
        mapping["max_delay"] = draw(st.floats(0.0, initial, exclude_max=True))
    elif fault in ("backoff_strategy", "jitter"):
        mapping[fault] = draw(st.sampled_from(_BAD_NAMES))
    else:
        mapping[draw(st.sampled_from(_UNKNOWN_RETRY_FIELDS))] = draw(st.integers(1, 5))
    return mapping


# -- timeouts ------------------------------------------------------------------------------------

_UNITS = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", DAY), ("w", 7 * DAY))
#: Counts written with units stay readable: at most this many of a unit.
_MAX_COUNT = 10**12
_BAD_TIMEOUTS: tuple[object, ...] = (
    "1:30", "01:30:00", -5, -0.001, 0, 0.0, "0s", "0m", True, False, None, "abc", "", " ",
    float("nan"), float("inf"), float("-inf"), "15 minutes", "15M", "1e3s", "-5s", "5", "nan s",
    [], {}, b"5s",
)  # fmt: skip


_Form = tuple[str, int, int, int]


def _unit_forms(low: float, high: float, exclusive_low: bool) -> list[_Form]:
    """``(unit, decimals, first count, last count)`` choices that write a duration with a unit
    inside ``[low, high]`` (counts in steps of ``10**-decimals`` of the unit, at most
    ``_MAX_COUNT`` of them)."""
    forms = []
    for unit, size in _UNITS:
        for decimals in range(4):
            scale = size / 10**decimals
            if low / scale > _MAX_COUNT:
                continue
            first = max(1, math.ceil(low / scale))
            if exclusive_low and first * scale <= low:
                first += 1
            last = math.floor(min(high / scale, _MAX_COUNT))
            if first <= last:
                forms.append((unit, decimals, first, last))
    return forms


def _written(count: int, decimals: int, unit: str) -> str:
    if decimals == 0:
        return f"{count}{unit}"
    whole, fraction = divmod(count, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}{unit}"


def timeouts(
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    units: bool = False,
    invalid: bool = False,
) -> SearchStrategy[Any]:
    """Step or workflow timeouts that :func:`~pytest_tapps.core.parse_timeout` accepts.

    Seconds as numbers (floats, and sometimes whole ints as YAML gives them) in
    ``[min_value, max_value]``; ``min_value=None`` means "just above zero" (a timeout of 0 is
    refused), ``max_value=None`` any finite number. With ``units=True``, strings with a unit
    (``"15m"``, ``"1.5h"``, ``"250ms"``) whose value lies in the bounds. The runbook's default,
    900 s, is among the draws when it fits.

    ``invalid=True`` draws what ``parse_timeout`` refuses: ``"1:30"``, ``-5``, ``0``, ``True``,
    ``"abc"``, ``float("nan")``, ``"15M"``, ``"1e3s"`` and such (the bounds are then ignored).
    """
    arguments = dict(locals())
    low = 0.0
    if min_value is not None:
        low = _check_seconds("min_value", min_value)
        if low == 0:
            message = (
                f"min_value={min_value!r} is not positive, and a timeout must be > 0 seconds "
                "(parse_timeout refuses 0); pass min_value > 0, or None for just above zero"
            )
            raise _fail(message)
    high = sys.float_info.max
    if max_value is not None:
        high = _check_seconds("max_value", max_value)
        if high == 0:
            message = f"max_value={max_value!r}: a timeout must be > 0 seconds; pass max_value > 0"
            raise _fail(message)
        if min_value is not None:
            _check_order("min_value", low, "max_value", high)
    _check_bool("units", units)
    _check_bool("invalid", invalid)
    forms = _unit_forms(low, high, exclusive_low=min_value is None) if units else []
    if units and not invalid and not forms:
        message = (
            f"no duration with a unit lies in [min_value={min_value!r}, max_value={max_value!r}] "
            "(units are ms, s, m, h, d, w with up to 3 decimals); widen the bounds or pass "
            "units=False"
        )
        raise _fail(message)
    shown = _shown(timeouts, arguments)
    if invalid:
        return _named("timeouts", shown, _draw_bad_timeout)
    if units:
        return _named(
            "timeouts",
            shown,
            functools.partial(_draw_timeout_text, forms=forms, low=low, high=high),
        )
    return _named(
        "timeouts",
        shown,
        functools.partial(_draw_timeout_seconds, low=low, high=high, exclusive=min_value is None),
    )


def _draw_timeout_seconds(draw: st.DrawFn, *, low: float, high: float, exclusive: bool) -> float:
    special = [v for v in (DEFAULT_STEP_TIMEOUT_SECONDS, 1.0, 60.0, 300.0, high) if low < v <= high]
    if not exclusive:
        special.append(low)
    seconds = draw(
        st.one_of(
            st.sampled_from(sorted(set(special))) if special else st.nothing(),
            st.floats(low, high, exclude_min=exclusive, allow_nan=False, allow_infinity=False),
        )
    )
    if seconds.is_integer() and seconds < _EXACT and draw(st.booleans()):
        return int(seconds)  # YAML's `timeout: 300` is an int
    return seconds


def _draw_timeout_text(draw: st.DrawFn, *, forms: list[_Form], low: float, high: float) -> str:
    unit, decimals, first, last = draw(st.sampled_from(forms))
    count = draw(st.one_of(st.sampled_from([first, last]), st.integers(first, last)))
    text = _written(count, decimals, unit)
    # first and last came from float division: at an edge the written value may round out.
    assume(low <= parse_duration(text) <= high)
    return text


def _draw_bad_timeout(draw: st.DrawFn) -> object:
    return draw(
        st.one_of(
            st.sampled_from(_BAD_TIMEOUTS),
            st.floats(max_value=0.0, allow_nan=False),
            st.text(max_size=8).filter(lambda text: not _parses(text)),
        )
    )


def _parses(value: object) -> bool:
    try:
        parse_duration(value, allow_zero=False)
    except ValueError:
        return False
    return True


# -- error envelopes -----------------------------------------------------------------------------

_CATEGORY_NAMES = tuple(member.value for member in Category)
_JSON_SAFE_INT = 2**53 - 1  # what every JSON reader (JavaScript included) reads exactly
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-_JSON_SAFE_INT, _JSON_SAFE_INT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=6,
)
_ids = st.one_of(
    st.none(),
    st.sampled_from(["workflow-123", "critical-step", "implementer", "trace-1"]),
    st.text(min_size=1, max_size=16),
)
_OTHER_CODES = ("workflow_timeout", "interrupted", "quota_exceeded", "step_failed")


@overload
def error_envelopes(
    *,
    categories: Collection[Category | str] | None = None,
    recoverable: bool | None = None,
    invalid: Literal[False] = False,
) -> SearchStrategy[ErrorEnvelope]: ...
@overload
def error_envelopes(
    *,
    categories: Collection[Category | str] | None = None,
    recoverable: bool | None = None,
    invalid: Literal[True],
) -> SearchStrategy[dict[str, Any]]: ...
def error_envelopes(
    *,
    categories: Collection[Category | str] | None = None,
    recoverable: bool | None = None,
    invalid: bool = False,
) -> SearchStrategy[ErrorEnvelope] | SearchStrategy[dict[str, Any]]:
    """:class:`~pytest_tapps.core.ErrorEnvelope` objects that survive a JSON round trip.

    ``categories`` restricts the categories, ``recoverable`` fixes the flag (``None``: both).
    Codes are the category's default code, codes the executor writes, or any non-empty text;
    messages and ids are any text (unicode included); every correlation id may be ``None``;
    ``details`` are JSON values (integers within +-(2**53 - 1), finite floats).

    ``invalid=True`` draws instead a JSON object that ``ErrorEnvelope.model_validate`` (and
    ``model_validate_json``) must refuse: a required field missing, an empty code, an unknown
    category, a non-boolean ``recoverable``, ``details`` that are not an object, a non-text
    message or id.
    """
    arguments = dict(locals())
    chosen = _check_choices("categories", categories, _CATEGORY_NAMES, "category")
    if recoverable is not None:
        _check_bool("recoverable", recoverable)
    _check_bool("invalid", invalid)
    shown = _shown(error_envelopes, arguments)
    if invalid:
        return _named(
            "error_envelopes",
            shown,
            functools.partial(_draw_bad_envelope, categories=chosen, recoverable=recoverable),
        )
    return _named(
        "error_envelopes",
        shown,
        functools.partial(_draw_envelope, categories=chosen, recoverable=recoverable),
    )


def _draw_envelope(
    draw: st.DrawFn, *, categories: tuple[str, ...], recoverable: bool | None
) -> ErrorEnvelope:
    category = Category(draw(st.sampled_from(categories)))
    code = draw(
        st.one_of(
            st.just(DEFAULT_CODES[category]),
            st.sampled_from(_OTHER_CODES),
            st.text(min_size=1, max_size=30),
        )
    )
    return ErrorEnvelope(
        code=code,
        category=category,
        recoverable=draw(st.booleans()) if recoverable is None else recoverable,
        message=draw(st.text(max_size=60)),
        details=draw(st.dictionaries(st.text(max_size=10), _json_values, max_size=3)),
        workflow_id=draw(_ids),
        step_id=draw(_ids),
        agent=draw(_ids),
        trace_id=draw(_ids),
    )


_BAD_ENVELOPE_FIELDS: dict[str, tuple[object, ...]] = {
    "code": ("", None, 5, []),
    "category": ("Timeout", "timeout_error", "network", "", None, 3),
    "recoverable": ("maybe", "", 2, 0.5, None, []),
    "message": (None, 5, [], {}),
    "details": ([], "x", 5, None),
    "workflow_id": (5, [], {}),
    "step_id": (5, [], {}),
    "agent": (5, []),
    "trace_id": (5, {}),
}


def _draw_bad_envelope(
    draw: st.DrawFn, *, categories: tuple[str, ...], recoverable: bool | None
) -> dict[str, Any]:
    envelope = _draw_envelope(draw, categories=categories, recoverable=recoverable)
    mapping: dict[str, Any] = envelope.model_dump(mode="json")
    field = draw(st.sampled_from(sorted(_BAD_ENVELOPE_FIELDS)))
    required = field in ("code", "category", "recoverable", "message")
    if required and draw(st.booleans()):
        del mapping[field]
    else:
        mapping[field] = draw(st.sampled_from(_BAD_ENVELOPE_FIELDS[field]))
    return mapping


# -- workflow states -----------------------------------------------------------------------------

_STATUS_NAMES = tuple(member.value for member in WorkflowStatus)
_NEEDS_A_STEP = frozenset({"failed", "paused"})
_workflow_ids = st.one_of(
    st.sampled_from(["workflow-123", "wf-1", "build-docs"]),
    st.text(min_size=1, max_size=20).filter(_safe),
)
_step_ids = st.one_of(
    st.sampled_from(["critical-step", "plan", "implement", "review", "test"]),
    st.text(min_size=1, max_size=12),
)
_agents = st.sampled_from([None, "implementer", "reviewer", "tester", "planner"])
_actions = st.sampled_from([None, "generate-code", "review-code", "run-tests"])
#: Durations and waits of attempts, in whole microseconds (the precision of the timestamps).
_micros = st.one_of(st.just(0), st.integers(1, 3_600_000_000))


def workflow_states(
    *,
    min_steps: int = 0,
    max_steps: int = 5,
    statuses: Collection[WorkflowStatus | str] | None = None,
) -> SearchStrategy[WorkflowState]:
    """Internally consistent :class:`~pytest_tapps.core.WorkflowState` objects, as the executor
    and the recovery commands write them.

    ``min_steps``..``max_steps`` distinct steps (ids: any text), a workflow status from
    ``statuses``. Every step starts as a pending placeholder (attempt 1); each attempt reuses
    the placeholder or appends an entry numbered on (1..n per step); attempts before the last
    failed recoverably; failed and cancelled entries carry envelopes whose correlation ids match;
    timestamps (UTC, whole microseconds) never go backwards, ``duration_seconds`` is
    ``completed_at - started_at``, and ``updated_at`` is the newest. A ``completed`` workflow's
    steps are all completed or skipped; a ``running`` one's current step is running; a
    ``failed`` one's current step failed (sometimes with a workflow timeout as the state's
    ``error``); a ``paused`` one was failed and then given to ``retry-step``. Steps after the
    current one are pending. States with steps carry the executor's ``definition`` at times.
    A workflow with no step is ``running`` or ``completed``.
    """
    arguments = dict(locals())
    _check_int("min_steps", min_steps, minimum=0)
    _check_int("max_steps", max_steps, minimum=0)
    _check_order("min_steps", min_steps, "max_steps", max_steps)
    chosen = _check_choices("statuses", statuses, _STATUS_NAMES, "workflow status")
    if max_steps == 0 and set(chosen) <= _NEEDS_A_STEP:
        message = (
            f"statuses={statuses!r} with max_steps=0: a failed or paused workflow has at least "
            "one step; raise max_steps, or allow 'running' or 'completed'"
        )
        raise _fail(message)
    draw_value = functools.partial(
        _draw_state, min_steps=min_steps, max_steps=max_steps, statuses=chosen
    )
    return _named("workflow_states", _shown(workflow_states, arguments), draw_value)


class _History:
    """A workflow's step executions built the way the executor builds them."""

    def __init__(self, draw: st.DrawFn, workflow_id: str, now: datetime) -> None:
        self.draw = draw
        self.workflow_id = workflow_id
        self.now = now
        self.executions: list[StepExecution] = []

    def latest(self, step_id: str) -> StepExecution:
        return [ex for ex in self.executions if ex.step_id == step_id][-1]

    def wait(self) -> None:
        self.now += timedelta(microseconds=self.draw(_micros))

    def begin(self, step_id: str) -> StepExecution:
        newest = self.latest(step_id)
        if newest.status is StepStatus.PENDING:
            execution = newest
        else:
            attempt = max(ex.attempt for ex in self.executions if ex.step_id == step_id) + 1
            execution = StepExecution(
                step_id=step_id, agent=newest.agent, action=newest.action, attempt=attempt
            )
            self.executions.append(execution)
        execution.status = StepStatus.RUNNING
        execution.started_at = self.now
        return execution

    def end(
        self, execution: StepExecution, status: StepStatus, error: ErrorEnvelope | None
    ) -> None:
        took = timedelta(microseconds=self.draw(_micros))
        self.now += took
        execution.completed_at = self.now
        execution.duration_seconds = took.total_seconds()
        execution.status = status
        execution.error = error

    def envelope(self, execution: StepExecution, *, recoverable: bool | None) -> ErrorEnvelope:
        drawn = self.draw(error_envelopes(recoverable=recoverable))
        return drawn.model_copy(
            update={
                "workflow_id": self.workflow_id,
                "step_id": execution.step_id,
                "agent": execution.agent,
            }
        )

    def fail(self, step_id: str, *, recoverable: bool | None = True) -> StepExecution:
        """One failed attempt (or, at times, one interrupted and cancelled on resume)."""
        execution = self.begin(step_id)
        if recoverable and self.draw(st.integers(0, 4)) == 0:
            execution.status = StepStatus.CANCELLED  # found running by a resume: interrupted
            execution.error = _interrupted(execution, self.workflow_id)
        else:
            self.end(
                execution, StepStatus.FAILED, self.envelope(execution, recoverable=recoverable)
            )
        self.wait()
        return execution

    def failures(self, step_id: str) -> None:
        for _ in range(self.draw(st.integers(0, 2))):
            self.fail(step_id)


def _interrupted(execution: StepExecution, workflow_id: str) -> ErrorEnvelope:
    from pytest_tapps.core._executor import interrupted_envelope

    return interrupted_envelope(execution, workflow_id)


def _draw_state(
    draw: st.DrawFn, *, min_steps: int, max_steps: int, statuses: tuple[str, ...]
) -> WorkflowState:
    count = draw(st.integers(min_steps, max_steps))
    if count == 0 and set(statuses) <= _NEEDS_A_STEP:
        count = 1
    possible = [s for s in statuses if count > 0 or s not in _NEEDS_A_STEP]
    status = WorkflowStatus(draw(st.sampled_from(possible)))
    workflow_id = draw(_workflow_ids)
    step_ids = draw(st.lists(_step_ids, min_size=count, max_size=count, unique=True))
    start = draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
    history = _History(draw, workflow_id, start)
    history.executions = [
        StepExecution(step_id=step_id, agent=draw(_agents), action=draw(_actions))
        for step_id in step_ids
    ]
    active = (
        count
        if status is WorkflowStatus.COMPLETED or count == 0
        else draw(st.integers(0, count - 1))
    )
    for step_id in step_ids[:active]:
        history.failures(step_id)
        if draw(st.integers(0, 5)) == 0:
            history.fail(step_id)  # then skip-step: a skipped entry, numbered on
            _mark(history, step_id, StepStatus.SKIPPED)
        else:
            history.end(history.begin(step_id), StepStatus.COMPLETED, None)
            history.wait()
    error = None
    current = None
    if active < count:
        current = step_ids[active]
        history.failures(current)
        if status is WorkflowStatus.RUNNING:
            history.begin(current)
        else:
            last = history.fail(current, recoverable=None)
            if status is WorkflowStatus.PAUSED:
                _mark(history, current, StepStatus.PENDING)  # retry-step
            elif last.error is not None and last.error.recoverable and draw(st.booleans()):
                error = _workflow_timeout(history, last, draw(st.floats(1.0, 86400.0)))
    definition = None
    if count and draw(st.booleans()):
        definition = _definition(workflow_id, history.executions[:count])
    return WorkflowState(
        workflow_id=workflow_id,
        status=status,
        current_step=current,
        started_at=start,
        updated_at=history.now,
        step_executions=history.executions,
        error=error,
        definition=definition,
    )


def _mark(history: _History, step_id: str, status: StepStatus) -> None:
    """What retry-step (pending) and skip-step (skipped) append: a new numbered entry."""
    newest = history.latest(step_id)
    attempt = max(ex.attempt for ex in history.executions if ex.step_id == step_id) + 1
    history.executions.append(
        StepExecution(
            step_id=step_id,
            agent=newest.agent,
            action=newest.action,
            status=status,
            attempt=attempt,
        )
    )


def _workflow_timeout(history: _History, last: StepExecution, limit: float) -> ErrorEnvelope:
    return ErrorEnvelope(
        code="workflow_timeout",
        category=Category.TIMEOUT,
        recoverable=True,
        message=f"workflow timeout of {limit:g} s would cut off the next attempt",
        details={"timeout_seconds": limit, "scope": "workflow"},
        workflow_id=history.workflow_id,
        step_id=last.step_id,
        agent=last.agent,
    )


def _definition(workflow_id: str, placeholders: list[StepExecution]) -> dict[str, Any]:
    from pytest_tapps.core import StepDefinition, WorkflowDefinition

    definition = WorkflowDefinition(
        id=workflow_id,
        steps=[
            StepDefinition(id=ex.step_id, agent=ex.agent, action=ex.action) for ex in placeholders
        ],
    )
    dumped: dict[str, Any] = definition.model_dump(mode="json", by_alias=True)
    return dumped


# -- retention policies --------------------------------------------------------------------------

_OVERRIDABLE = tuple(c.name for c in CATEGORIES if c.overridable)
_ALL_CATEGORIES = tuple(c.name for c in CATEGORIES)
_NEAR_MISS_CATEGORIES = ("analytic_history", "Debug_logs", "debug-logs", "logs", "worktree")
_BAD_AGES: tuple[object, ...] = (
    30, 30.5, "30", "0d", "0s", "-1d", "1:30", "30 days", "abc", "", True, None, "nev", "30D",
    "1e3s", [], {"days": 30},
)  # fmt: skip


@overload
def retention_policies(
    *,
    categories: Collection[str] | None = None,
    min_age: float = 1.0,
    max_age: float | None = None,
    never: bool = True,
    invalid: Literal[False] = False,
) -> SearchStrategy[RetentionPolicy]: ...
@overload
def retention_policies(
    *,
    categories: Collection[str] | None = None,
    min_age: float = 1.0,
    max_age: float | None = None,
    never: bool = True,
    invalid: Literal[True],
) -> SearchStrategy[object]: ...
def retention_policies(
    *,
    categories: Collection[str] | None = None,
    min_age: float = 1.0,
    max_age: float | None = None,
    never: bool = True,
    invalid: bool = False,
) -> SearchStrategy[RetentionPolicy] | SearchStrategy[object]:
    """:class:`~pytest_tapps.core.RetentionPolicy` objects: the runbook's defaults with the ages
    of ``categories`` (default: every category a project may override) drawn.

    Drawn ages are whole seconds in ``[min_age, max_age]`` (``None``: up to ``2**53``), so that
    every policy can be written in ``config.yaml`` exactly (``format_duration``) and loaded back;
    they cluster at the defaults, a second either side and whole days. ``never=True`` draws
    ``None`` (``never``) too. Categories that cannot be given an age (Context7 cache, project
    profile, stuck and active worktrees) keep their defaults and cannot be named.

    ``invalid=True`` draws instead a ``retention:`` section that
    :func:`~pytest_tapps.core.load_retention` must refuse with at least one problem: an unknown
    category (near misses such as ``analytic_history``), an age for a category that cannot have
    one, a bare number, zero, a negative, ``1:30``, a boolean, an empty value, or a section that
    is not a mapping.
    """
    arguments = dict(locals())
    if categories is not None:
        chosen_all = _check_choices("categories", categories, _ALL_CATEGORIES, "retention category")
        fixed = [name for name in chosen_all if not BY_NAME[name].overridable]
        if fixed:
            message = (
                f"categories contains {fixed[0]!r}, which cannot be given an age (the runbook: "
                f"manual cleanup); leave it out (overridable: {list(_OVERRIDABLE)})"
            )
            raise _fail(message)
    chosen = _check_choices("categories", categories, _OVERRIDABLE, "retention category")
    low = _check_seconds("min_age", min_age)
    if low == 0:
        message = (
            f"min_age={min_age!r}: retention ages must be > 0 (config.yaml refuses 0); "
            "pass min_age >= 1"
        )
        raise _fail(message)
    high = float(_EXACT)
    if max_age is not None:
        high = _check_seconds("max_age", max_age)
        _check_order("min_age", low, "max_age", high)
    if math.ceil(low) > min(math.floor(high), _EXACT):
        message = (
            f"no whole number of seconds lies in [min_age={min_age!r}, max_age={max_age!r}] "
            "(drawn ages are whole seconds, so config.yaml holds them exactly); widen the bounds"
        )
        raise _fail(message)
    _check_bool("never", never)
    _check_bool("invalid", invalid)
    shown = _shown(retention_policies, arguments)
    first, last = math.ceil(low), min(math.floor(high), _EXACT)
    if invalid:
        bad = functools.partial(
            _draw_bad_retention, categories=chosen, low=first, high=last, never=never
        )
        return _named("retention_policies", shown, bad)
    good = functools.partial(_draw_retention, categories=chosen, low=first, high=last, never=never)
    return _named("retention_policies", shown, good)


def _draw_age_override(
    draw: st.DrawFn, name: str, *, low: int, high: int, never: bool
) -> float | None:
    default = BY_NAME[name].default or 0.0
    nice = [default, default - 1, default + 1, 1.0, 12 * 3600.0]
    nice += [days * DAY for days in (1, 7, 30, 90, 180, 365)]
    options: list[SearchStrategy[float | None]] = [st.integers(low, high).map(float)]
    fitting = _some_of((float(v) for v in nice), low, high)
    if fitting:
        options.insert(0, st.sampled_from(fitting))
    if never:
        options.append(st.none())
    age: float | None = draw(st.one_of(options))
    return age


def _draw_retention(
    draw: st.DrawFn, *, categories: tuple[str, ...], low: int, high: int, never: bool
) -> RetentionPolicy:
    ages = dict(RetentionPolicy.defaults().ages)
    for name in categories:
        ages[name] = _draw_age_override(draw, name, low=low, high=high, never=never)
    return RetentionPolicy(ages)


def _draw_bad_retention(
    draw: st.DrawFn, *, categories: tuple[str, ...], low: int, high: int, never: bool
) -> object:
    if draw(st.integers(0, 9)) == 0:  # the section itself is not a mapping
        return draw(st.sampled_from([["debug_logs: 3d"], "debug_logs: 3d", 30, None, True]))
    section: dict[str, object] = {}
    for name in draw(st.lists(st.sampled_from(categories), max_size=3, unique=True)):
        age = _draw_age_override(draw, name, low=low, high=high, never=never)
        section[name] = "never" if age is None else format_duration(age)
    fault = draw(st.sampled_from(["unknown", "fixed", "value"]))
    if fault == "unknown":
        section[draw(st.sampled_from(_NEAR_MISS_CATEGORIES))] = "30d"
    elif fault == "fixed":
        fixed = [c.name for c in CATEGORIES if not c.overridable]
        section[draw(st.sampled_from(fixed))] = draw(st.sampled_from(["30d", "never"]))
    else:
        section[draw(st.sampled_from(categories))] = draw(st.sampled_from(_BAD_AGES))
    return section


# -- ages ----------------------------------------------------------------------------------------

_YEAR = 365 * DAY
_AGE_KINDS = ("exact", "+1s", "-1s", "+1us", "-1us", "fresh", "future", "far future", "uniform")


def ages(
    *,
    around: float | str | timedelta | Sequence[float | str | timedelta] = _RETENTION_BOUNDARIES,
    now: float | datetime | None = None,
) -> SearchStrategy[float]:
    """Ages in seconds (``now - mtime``; negative: in the future) clustered at boundaries.

    ``around`` is one boundary or a list of them: seconds, a duration string (``"30d"``) or a
    ``timedelta``; by default every age of the runbook's retention table (0, 7d, 30d, 90d,
    180d). For a boundary N, five of nine draws are N exactly, N +- 1 s or N +- 1 microsecond
    (Hypothesis tries each distinct value once, so in a run these all come early); the rest
    are 0 (fresh), a little in the future (-1 day..-1 microsecond), ten years in the future, or
    uniform in [0, max(2N, 1 day)]. With ``now`` (the clock's epoch seconds, or an aware
    datetime), the age that puts the mtime at the epoch (1970-01-01) is drawn too.
    """
    arguments = dict(locals())
    items: Sequence[object]
    if isinstance(around, str | int | float | timedelta):
        items = [around]
    elif isinstance(around, Sequence):
        items = list(around)
        if not items:
            message = (
                "around=[] is empty, so there is no boundary to cluster at; pass a duration "
                "such as around='30d', or a list of them"
            )
            raise _fail(message)
    else:
        message = f"around={around!r} must be a duration ('30d', 3600, a timedelta) or a list"
        raise _fail(message)
    boundaries = sorted({_boundary(item) for item in items})
    epoch_age: float | None = None
    if now is not None:
        if isinstance(now, datetime):
            if now.tzinfo is None:
                message = f"now={now!r} is naive; pass an aware datetime (tzinfo=UTC)"
                raise _fail(message)
            epoch_age = now.timestamp()
        else:
            epoch_age = _check_seconds("now", now)
    draw_value = functools.partial(_draw_age, boundaries=boundaries, epoch_age=epoch_age)
    return _named("ages", _shown(ages, arguments), draw_value)


def _boundary(item: object) -> float:
    if isinstance(item, timedelta):
        seconds = item.total_seconds()
        if seconds < 0:
            message = f"around contains {item!r}, a negative duration; boundaries are >= 0"
            raise _fail(message)
        return seconds
    try:
        return parse_duration(item, field="around")
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _draw_age(draw: st.DrawFn, *, boundaries: list[float], epoch_age: float | None) -> float:
    kinds = _AGE_KINDS if epoch_age is None else (*_AGE_KINDS, "epoch")
    kind = draw(st.sampled_from(kinds))
    boundary = draw(st.sampled_from(boundaries))
    offsets = {"exact": 0.0, "+1s": 1.0, "-1s": -1.0, "+1us": 1e-6, "-1us": -1e-6}
    if kind in offsets:
        return boundary + offsets[kind]
    if kind == "fresh":
        return 0.0
    if kind == "future":
        return -draw(st.floats(1e-6, DAY))
    if kind == "far future":
        return -10 * _YEAR
    if kind == "epoch":
        assert epoch_age is not None  # noqa: S101 -- only drawn when given
        return epoch_age
    return draw(st.floats(0.0, max(2 * boundary, DAY)))


# -- trees ---------------------------------------------------------------------------------------

_TAPPS = ".tapps-agents"


#: Root-relative folder of each category (``reports/quality`` lives at the project root).
def _root_relative(category: RetentionCategory) -> str:
    folder = category.folder(Layout(Path("/p")))
    assert folder is not None  # noqa: S101 -- the runbook layout has every folder
    return folder.relative_to("/p").as_posix()


_FOLDERS: dict[str, str] = {c.name: _root_relative(c) for c in FILE_CATEGORIES}
_WORKTREE_CATEGORIES = frozenset(c.name for c in CATEGORIES if c.worktrees)
_PLAIN_NAMES = (
    "a.log", "run-1", "events.jsonl", "agents-2026-01-15.jsonl", "report.json", "notes.txt",
    "cache-entry", "x",
)  # fmt: skip
#: Names a cleanup must survive: near-miss dots and dashes, a tombstone look-alike, spaces,
#: unicode (a decomposed "é" is another name than the composed one), control and glob
#: characters, a right-to-left override, and 206 characters.
_HOSTILE_NAMES = (
    "..foo", "-rf", "--", "-", f"{TOMBSTONE_PREFIX}x", "...", ".hidden", " leading space",
    "trailing space ", "two  spaces.jsonl", "résumé.log", "e\u0301.jsonl", "日志.jsonl",
    "emoji-\U0001f642.jsonl", "new\nline.log", "tab\tname", "*.jsonl", "[ab].jsonl", "?", "~",
    "$HOME", "'quote\"", "a.jsonl.bak", "A.JSONL", ".jsonl", "\u202eexe.jsonl",
    "x" * 200 + ".jsonl",
)  # fmt: skip


def _near_misses() -> tuple[str, ...]:
    """Folders one character away from a real one: ``analytic/history``, ``Analytics/history``,
    ``logs/debugs``, ``.tapps-agent/logs/debug`` (at the project root)."""
    real = {folder for name, folder in _FOLDERS.items() if name != "project_profile"}
    found: set[str] = set()
    for folder in real:
        parts = folder.split("/")
        for index, part in enumerate(parts):
            dots = part[: len(part) - len(part.lstrip("."))]
            upper = dots + part[len(dots) :].capitalize()
            if index == 0:  # .tapps-agents, reports: at the project root
                edits = {part[:-1], part[len(dots) :], upper}
            else:
                edits = {part[:-1], part[1:], upper, part + "s", part + " "}
            for edit in edits:
                candidate = "/".join([*parts[:index], edit, *parts[index + 1 :]])
                if edit and edit not in (".", "..") and _clear_of(candidate, real):
                    found.add(candidate)
    return tuple(sorted(found))


def _clear_of(candidate: str, real: set[str]) -> bool:
    """Neither a real folder, nor inside one, nor holding one."""
    return all(
        candidate != folder
        and not folder.startswith(candidate + "/")
        and not candidate.startswith(folder + "/")
        for folder in real
    )


_NEAR_MISSES = _near_misses()
#: Where links and outside targets go (``<root>/outside/``): beside ``.tapps-agents/``, outside
#: the tree the cleanup may touch, but inside the project root, so a build writes nothing above
#: the root.
OUTSIDE = "outside"
#: A link target that starts with this is absolute: the project root, filled in by build().
ROOT_MARKER = "<root>/"


def _show_age(seconds: float) -> str:
    """``7d``, ``7d+1s``, ``30d-1us``, ``-10y``..., short enough for a falsifying example."""
    for unit, size in (("y", _YEAR), ("d", DAY)):
        whole = round(seconds / size)
        rest = seconds - whole * size
        if whole and abs(rest) <= 1.5:
            if rest == 0:
                return f"{whole}{unit}"
            if abs(abs(rest) - 1.0) < 1e-9:
                return f"{whole}{unit}{rest:+.0f}s"
            if abs(abs(rest) - 1e-6) < 1e-8:
                return f"{whole}{unit}{'+' if rest > 0 else '-'}1us"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class TreeFile:
    """A file of a :class:`TreeDescription`: where (``/``-separated, from the project root),
    how old (seconds; negative: in the future), what it holds, and the category whose folder
    holds it (``None``: a near miss or an unclaimed place)."""

    path: str
    age: float
    content: bytes
    category: str | None

    def __repr__(self) -> str:
        return f"{self.path!r} @{_show_age(self.age)}"


@dataclass(frozen=True)
class TreeLink:
    """A symlink: its path (from the project root), the target written into it (relative to the
    link's folder, or starting with ``<root>/`` for an absolute path into the project), its kind
    (``inside``, ``outside``, ``loop``, ``up``, ``dangling``) and its own age."""

    path: str
    target: str
    kind: str
    age: float

    def __repr__(self) -> str:
        return f"{self.path!r} -> {self.target!r} ({self.kind})"


@dataclass(frozen=True)
class TreeWorktree:
    """A plain worktree folder (no workflow records it: an orphan) with ``files`` files."""

    name: str
    age: float
    files: int

    def __repr__(self) -> str:
        return f"{self.name!r} @{_show_age(self.age)} ({self.files} files)"


@dataclass(frozen=True)
class TreeDescription:
    """A fabricated project tree; :meth:`build` makes it in a :class:`TappsProject`.

    Every path is relative to the project root; none has an empty, ``.`` or ``..`` component,
    so nothing lands above the root. Link targets outside the cleanup's tree point into
    ``<root>/outside/``, which :meth:`build` creates.
    """

    files: tuple[TreeFile, ...]
    symlinks: tuple[TreeLink, ...]
    worktrees: tuple[TreeWorktree, ...]

    def __repr__(self) -> str:
        parts = [f"files={list(self.files)!r}"]
        if self.symlinks:
            parts.append(f"symlinks={list(self.symlinks)!r}")
        if self.worktrees:
            parts.append(f"worktrees={list(self.worktrees)!r}")
        return f"TreeDescription({', '.join(parts)})"

    def outside_targets(self) -> list[str]:
        """The files under ``outside/`` that :meth:`build` creates (from the project root)."""
        found = set()
        for link in self.symlinks:
            if link.kind == "outside":
                found.add(_resolve_lexically(link))
            elif link.kind == "outside-absolute":
                found.add(link.target.removeprefix(ROOT_MARKER))
        return sorted(found)

    def build(self, project: TappsProject) -> TappsProject:
        """Write the files (aged on the project's clock), the link targets under ``outside/``,
        the links (aged, not followed) and the worktrees. Returns ``project``."""
        root = project.root
        for file in self.files:
            project.write(_inside(root, file.path), file.content, age=file.age)
        for relative in self.outside_targets():
            project.write(_inside(root, relative), b"outside the tree: never to be deleted\n")
        for link in self.symlinks:
            path = _inside(root, link.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            target = link.target
            if target.startswith(ROOT_MARKER):
                target = str(_inside(root, target.removeprefix(ROOT_MARKER)))
            path.symlink_to(target)
            project.age(path, link.age)
        for worktree in self.worktrees:
            project.worktree(worktree.name, age=worktree.age, files=worktree.files)
        return project


def _resolve_lexically(link: TreeLink) -> str:
    """Where a relative link points, worked out on the text (nothing is followed)."""
    return os.path.normpath(f"{_parent(link.path)}/{link.target}")


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _base(path: str) -> str:
    return path.rpartition("/")[2]


def _inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that could leave the root."""
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        message = f"tree path {relative!r} would leave the project root; nothing was written"
        raise HarnessError(message)
    return root.joinpath(*parts)


def trees(
    *,
    min_files: int = 0,
    max_files: int = 10,
    categories: Collection[str] | None = None,
    hostile: bool = True,
    symlinks: bool = True,
) -> SearchStrategy[TreeDescription]:
    """:class:`TreeDescription` objects: files with ages in the folders of ``categories``
    (default: all), and with ``hostile=True`` also in near-miss folders (``analytic/history``,
    ``Analytics/history``, ``.tapps-agent/...``) and with hostile names (unicode, spaces,
    ``..foo``, ``-rf``, ``.tapps-deleting-x``, newlines, glob characters, 200 characters).
    With ``symlinks=True``, up to three links: to a file or folder inside, into ``outside/``
    (relative ``../../outside/...`` or absolute), to themselves, to their own parent folder,
    or to nothing. When a worktree category is among ``categories``, up to two plain worktree
    folders (orphans: no workflow state records them).

    Ages cluster at each category's retention age (:func:`ages`). ``min_files``..``max_files``
    counts files only.
    """
    arguments = dict(locals())
    _check_int("min_files", min_files, minimum=0)
    _check_int("max_files", max_files, minimum=0)
    _check_order("min_files", min_files, "max_files", max_files)
    chosen = _check_choices("categories", categories, _ALL_CATEGORIES, "retention category")
    file_categories = tuple(name for name in chosen if name in _FOLDERS)
    if not file_categories and min_files > 0:
        message = (
            f"categories={categories!r} holds no category with files, but min_files="
            f"{min_files!r}; add a file category (such as 'debug_logs') or pass min_files=0"
        )
        raise _fail(message)
    _check_bool("hostile", hostile)
    _check_bool("symlinks", symlinks)
    draw_value = functools.partial(
        _draw_tree,
        min_files=min_files,
        max_files=max_files if file_categories else 0,
        categories=file_categories,
        worktrees=bool(_WORKTREE_CATEGORIES & set(chosen)),
        hostile=hostile,
        links=symlinks,
    )
    return _named("trees", _shown(trees, arguments), draw_value)


class _Places:
    """Paths taken so far: no file where a folder must be, no two things at one path."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.folders: set[str] = set()

    def free(self, path: str) -> bool:
        parents = path.split("/")[:-1]
        return (
            path not in self.files
            and path not in self.folders
            and all("/".join(parents[: i + 1]) not in self.files for i in range(len(parents)))
        )

    def take(self, path: str) -> str:
        self.files.add(path)
        parents = path.split("/")[:-1]
        self.folders.update("/".join(parents[: i + 1]) for i in range(len(parents)))
        return path

    def unique(self, folder: str, name: str) -> str:
        """``folder/name``, or ``folder/name~N`` when that is taken."""
        path, number = f"{folder}/{name}", 1
        while not self.free(path):
            path, number = f"{folder}/{name}~{number}", number + 1
        return self.take(path)


def _names(hostile: bool) -> SearchStrategy[str]:
    plain = st.sampled_from(_PLAIN_NAMES)
    if not hostile:
        return plain
    text = st.text(
        st.characters(exclude_characters="/\0", exclude_categories=["Cs"]), min_size=1, max_size=12
    ).filter(lambda name: name not in (".", ".."))
    return st.one_of(plain, st.sampled_from(_HOSTILE_NAMES), text)


def _draw_tree(
    draw: st.DrawFn,
    *,
    min_files: int,
    max_files: int,
    categories: tuple[str, ...],
    worktrees: bool,
    hostile: bool,
    links: bool,
) -> TreeDescription:
    names = _names(hostile)
    places = _Places()
    for name, folder in _FOLDERS.items():  # the real folders stay folders
        if name == "project_profile":
            continue
        places.folders.update(
            "/".join(folder.split("/")[: i + 1]) for i in range(folder.count("/") + 1)
        )
    files = []
    for _ in range(draw(st.integers(min_files, max_files))):
        category: str | None = draw(st.sampled_from(categories))
        folder = _FOLDERS[str(category)]
        if hostile and draw(st.integers(0, 3)) == 0:
            folder, category = draw(st.sampled_from(_NEAR_MISSES)), None
        default = BY_NAME[category].default if category else None
        age = draw(ages(around=30 * DAY if default is None else default))
        content = draw(st.binary(max_size=24))
        if category == "project_profile":
            if places.free(folder):
                files.append(TreeFile(places.take(folder), age, content, category))
                continue
            folder, category = _FOLDERS["debug_logs"], "debug_logs"
        if draw(st.booleans()):  # a folder item: the category's item is the folder
            folder = places.unique(folder, draw(names))
            places.files.discard(folder)
            places.folders.add(folder)
        files.append(TreeFile(places.unique(folder, draw(names)), age, content, category))
    found_links = _draw_links(draw, places, files, names) if links else []
    found_worktrees = []
    if worktrees:
        taken: set[str] = set()
        for _ in range(draw(st.integers(0, 2))):
            name = draw(names.filter(_safe))
            if name in taken:
                continue
            taken.add(name)
            age = draw(ages(around=[0, 7 * DAY]))
            found_worktrees.append(TreeWorktree(name, age, draw(st.integers(0, 3))))
    return TreeDescription(tuple(files), tuple(found_links), tuple(found_worktrees))


def _draw_links(
    draw: st.DrawFn, places: _Places, files: list[TreeFile], names: SearchStrategy[str]
) -> list[TreeLink]:
    found = []
    folders = sorted(set(_FOLDERS.values()) - {_FOLDERS["project_profile"]})
    for _ in range(draw(st.integers(0, 3))):
        kinds = ["outside", "absolute", "loop", "up", "dangling"] + (["inside"] if files else [])
        kind = draw(st.sampled_from(kinds))
        folder = draw(st.sampled_from(folders))
        path = places.unique(folder, draw(names))
        age = draw(ages(around=BY_NAME[_category_of(folder)].default or 30 * DAY))
        link_folder = _parent(path)
        if kind == "inside":
            chosen = draw(st.sampled_from(files)).path
            if draw(st.booleans()):
                chosen = _parent(chosen)  # a folder (its category's, or an item)
            target = os.path.relpath(chosen, link_folder)
        elif kind in ("outside", "absolute"):
            name = draw(st.sampled_from(_PLAIN_NAMES))
            outside = places.unique(OUTSIDE, name)
            target = os.path.relpath(outside, link_folder)
            if kind == "absolute":
                target, kind = ROOT_MARKER + outside, "outside-absolute"
        elif kind == "loop":
            target = _base(path)
        elif kind == "up":
            target = ".."
        else:
            target = _base(places.unique(link_folder, "no-such-target"))
        found.append(TreeLink(path, target, kind, age))
    return found


def _category_of(folder: str) -> str:
    return next(name for name, where in _FOLDERS.items() if where == folder)


# -- lock files ----------------------------------------------------------------------------------

#: The lock files :func:`lock_states` draws.
LOCK_KINDS = ("live", "dead-pid", "expired", "ahead", "garbage")
#: Staleness is decided against timestamps kept to the microsecond, on float epoch seconds: a
#: heartbeat this far past its TTL (or this far inside it) is on one side whatever the rounding.
_MARGIN = 1e-3
_GARBAGE: tuple[bytes, ...] = (
    b"",
    b"{",
    b"null",
    b"[]",
    b"\xff\xfe\x00garbage",
    b'{"pid": 0, "host": "h", "created_at": "2026-01-15T10:30:00Z", '
    b'"heartbeat_at": "2026-01-15T10:30:00Z", "ttl_seconds": 300}',
    b'{"pid": "abc", "host": "h", "created_at": "2026-01-15T10:30:00Z", '
    b'"heartbeat_at": "2026-01-15T10:30:00Z", "ttl_seconds": 300}',
    b'{"pid": 1, "host": "h", "created_at": "2026-01-15T10:30:00", '
    b'"heartbeat_at": "2026-01-15T10:30:00", "ttl_seconds": 300}',
    b'{"pid": 1, "host": "h", "created_at": "2026-01-15T10:30:00Z", '
    b'"heartbeat_at": "2026-01-15T10:30:00Z", "ttl_seconds": 0}',
    b'{"pid": 1, "host": "h", "created_at": "2026-01-15T10:30:00Z"}',
    b'{"pid": 1, "host": "h", "created_at": "2026-01-15T10:30:00Z", "heartbeat_at": "202',
)


@dataclass(frozen=True)
class LockState:
    """A workflow lock file to put in place with :meth:`build`.

    ``kind``: ``live`` (a real child process holds it, heartbeat ``heartbeat_age`` seconds old,
    within its TTL), ``dead-pid`` (its holder exited), ``expired`` (a live holder, heartbeat
    older than ``ttl_seconds``), ``ahead`` (a live holder whose heartbeat lies ahead of the
    clock: ``heartbeat_age`` is negative) or ``garbage`` (``content`` is not a lock record).
    """

    kind: str
    heartbeat_age: float
    ttl_seconds: float
    content: bytes = b""

    @property
    def stale(self) -> bool:
        """What the runbook says of this lock: may it be broken?"""
        return self.kind in ("dead-pid", "expired", "garbage")

    @contextlib.contextmanager
    def build(self, project: TappsProject, workflow_id: str) -> Iterator[Path]:
        """Write the lock of ``workflow_id`` in ``project`` for the block (a live holder, a
        real child process, lives until the block ends); yields the lock file's path. Uses the
        fault catalogue's lock writer, on the project's clock."""
        faults = Faults(project)
        try:
            yield self._write(faults, workflow_id)
        finally:
            faults.close()

    def _write(self, faults: Faults, workflow_id: str) -> Path:
        project = faults.project
        beat = project.clock.time() - self.heartbeat_age
        if self.kind == "garbage":
            return project.write(project.layout.lock_file(workflow_id), self.content)
        if self.kind == "live":
            child = faults.live_lock(workflow_id)
            pid = child.pid
        elif self.kind == "dead-pid":
            pid = faults._dead_pid()  # the catalogue's own helpers: one lock writer
        else:
            pid = os.getpid()  # alive for as long as the test runs
        return faults._lock_file(workflow_id, pid, beat, ttl_seconds=self.ttl_seconds)


def lock_states(*, kinds: Collection[str] | None = None) -> SearchStrategy[LockState]:
    """:class:`LockState` descriptions of a workflow's lock file, of the ``kinds`` named
    (default: all of :data:`LOCK_KINDS`). TTLs are the default 300 s or drawn from a
    millisecond to a day; heartbeats lie just inside the TTL, just past it, at 0, or (``ahead``)
    up to a day ahead of the clock; garbage is empty, truncated, not JSON, or JSON that breaks
    the record's rules (``pid: 0``, a naive timestamp, ``ttl_seconds: 0``)."""
    arguments = dict(locals())
    chosen = _check_choices("kinds", kinds, LOCK_KINDS, "lock kind")
    return _named(
        "lock_states", _shown(lock_states, arguments), functools.partial(_draw_lock, kinds=chosen)
    )


def _draw_lock(draw: st.DrawFn, *, kinds: tuple[str, ...]) -> LockState:
    kind = draw(st.sampled_from(kinds))
    ttl = draw(st.one_of(st.just(300.0), st.sampled_from([0.002, 1.0, 60.0, 3600.0, DAY])))
    ttl = max(ttl, 2 * _MARGIN)
    if kind == "garbage":
        content = draw(st.one_of(st.sampled_from(_GARBAGE), st.binary(max_size=32)))
        if _is_record(content):
            content = b"{"  # by chance a readable record: make it garbage
        return LockState(kind, 0.0, ttl, content)
    if kind == "ahead":
        return LockState(kind, -draw(st.floats(1e-6, DAY)), ttl)
    if kind == "expired":
        past = draw(st.one_of(st.just(_MARGIN), st.just(1.0), st.floats(_MARGIN, 10 * DAY)))
        return LockState(kind, ttl + past, ttl)
    inside = ttl - _MARGIN
    age = draw(st.one_of(st.just(0.0), st.just(inside), st.floats(0.0, inside)))
    return LockState(kind, age, ttl)


def _is_record(content: bytes) -> bool:
    from pytest_tapps.core import LockRecord

    try:
        LockRecord.model_validate(json.loads(content))
    except (ValueError, TypeError):
        return False
    return True
