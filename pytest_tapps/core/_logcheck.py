"""Checking and searching log files by the runbook's field conventions.

:func:`lint_file` reports JSON-lines records that break "Log and Trace Field Conventions";
:func:`grep_file` finds the lines of a workflow (or step) in JSON-lines and ``key=value`` text logs
by exact field value, not by substring.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_tapps.core._logging import BASE_FIELDS
from pytest_tapps.core._nesting import NestingError, load_json
from pytest_tapps.core._timeutil import parse_iso

LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_TIME_WORDS = frozenset(
    {
        "duration",
        "elapsed",
        "latency",
        "timeout",
        "delay",
        "interval",
        "ttl",
        "age",
        "wait",
        "backoff",
        "uptime",
        "runtime",
    }
)
_SIZE_WORDS = frozenset({"size", "memory"})
_UNITS = frozenset(
    {
        "seconds",
        "secs",
        "ms",
        "milliseconds",
        "us",
        "microseconds",
        "ns",
        "nanoseconds",
        "minutes",
        "hours",
        "days",
        "bytes",
        "kb",
        "kib",
        "mb",
        "mib",
        "gb",
        "gib",
        "percent",
        "ratio",
        "count",
    }
)
#: Abbreviations the runbook asks to spell out ("workflow_id not wf_id").
_ABBREVIATIONS = {"wf": "workflow", "ts": "timestamp", "msg": "message", "dur": "duration"}
_PAIR = re.compile(r'(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)')


@dataclass(frozen=True)
class LogProblem:
    """One convention broken by one line of a log file."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def suggest_name(name: str) -> str:
    """The snake_case, spelled-out form of a field name."""
    snake = _CAMEL_BOUNDARY.sub("_", name).replace("-", "_").replace(" ", "_").lower()
    snake = re.sub(r"_+", "_", snake).strip("_")
    return "_".join(_ABBREVIATIONS.get(token, token) for token in snake.split("_"))


def _unit_problem(name: str, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    tokens = set(name.split("_"))
    if tokens & _UNITS:
        return None
    if tokens & _TIME_WORDS:
        unit = "seconds"
    elif tokens & _SIZE_WORDS:
        unit = "bytes"
    else:
        return None
    return (
        f"field {name!r} is a number without a unit in its name; "
        f"name the unit, e.g. '{name}_{unit}'"
    )


def _name_problems(name: str, value: Any) -> Iterator[str]:
    if not _SNAKE.match(name):
        yield f"field {name!r} is not snake_case; use {suggest_name(name)!r}"
        return
    spelled = suggest_name(name)
    if spelled != name:
        yield f"field {name!r} abbreviates; use the descriptive name {spelled!r}"
    unit = _unit_problem(name, value)
    if unit is not None:
        yield unit


def _timestamp_problem(stamp: Any) -> str | None:
    example = "write UTC ISO 8601 such as '2026-01-15T10:30:00Z'"
    if not isinstance(stamp, str):
        return f"timestamp {stamp!r} is not a string; {example}"
    try:
        parse_iso(stamp)
    except ValueError as exc:
        return f"timestamp: {exc}"
    if not stamp.endswith("Z"):
        return f"timestamp {stamp!r} must be UTC with a 'Z' suffix"
    return None


def lint_record(record: Mapping[str, Any]) -> Iterator[str]:
    """The convention problems of one JSON log record."""
    for required in BASE_FIELDS:
        if required not in record:
            yield f"missing required field {required!r}"
    if "timestamp" in record:
        problem = _timestamp_problem(record["timestamp"])
        if problem is not None:
            yield problem
    level = record.get("level")
    if "level" in record and level not in LEVELS:
        yield f"level {level!r} is not one of {', '.join(sorted(LEVELS))}"
    named = [field for field in ("step_id", "agent") if record.get(field) not in (None, "")]
    if named and record.get("workflow_id") in (None, ""):
        names = " and ".join(named)
        yield f"record names {names} but has no 'workflow_id' (required in workflow context)"
    for name, value in record.items():
        yield from _name_problems(name, value)


def lint_lines(path: Path, lines: Iterator[str]) -> Iterator[LogProblem]:
    """Problems of each non-blank line of a JSON-lines log."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = load_json(line)
        except NestingError as exc:
            yield LogProblem(path, number, f"not a JSON record: {exc}")
            continue
        except json.JSONDecodeError as exc:
            yield LogProblem(path, number, f"not a JSON record: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(record, dict):
            yield LogProblem(path, number, f"not a JSON object but a {type(record).__name__}")
            continue
        for message in lint_record(record):
            yield LogProblem(path, number, message)


def _read_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            yield line.rstrip("\n")


def lint_file(path: Path) -> list[LogProblem]:
    """Every convention problem in one JSON-lines log file (raises ``OSError`` if unreadable)."""
    return list(lint_lines(path, _read_lines(path)))


def parse_fields(line: str) -> dict[str, Any]:
    """The fields of one log line: a JSON object's keys, or the ``key=value`` pairs of text."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            record = load_json(stripped)
        except ValueError:  # not JSON, or nested too deep: read as text
            record = None
        if isinstance(record, dict):
            return record
    fields: dict[str, Any] = {}
    for key, raw in _PAIR.findall(line):
        value: Any = raw
        if raw.startswith('"'):
            try:
                value = load_json(raw)
            except ValueError:
                value = raw.strip('"')
        fields[key] = value
    return fields


def line_matches(line: str, criteria: Mapping[str, str]) -> bool:
    """Whether every criterion field of the line equals its value exactly."""
    fields = parse_fields(line)
    return all(str(fields.get(key)) == value and key in fields for key, value in criteria.items())


def grep_file(path: Path, criteria: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` for each line of ``path`` whose fields match ``criteria``."""
    for number, line in enumerate(_read_lines(path), start=1):
        if line_matches(line, criteria):
            yield number, line
