"""Assertions whose failure messages show the picture: the attempt timeline in virtual time,
the tree diff, the envelopes of the dead letter queue."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_tapps.core import WorkflowState
from pytest_tapps.harness._project import diff_snapshots


def _at(seconds: float) -> str:
    return f"+{seconds:g}s".ljust(8)


def timeline(state: WorkflowState) -> str:
    """The attempts of a workflow as a timeline, in seconds from its start::

    +0s     critical-step #1 started
    +300s   critical-step #1 failed: timeout (recoverable) after 300s
    +305s   critical-step #2 started  (waited 5s)
    """
    origin = state.started_at.timestamp() if state.started_at else None
    lines = []
    previous_end: float | None = None
    for execution in state.step_executions:
        name = f"{execution.step_id} #{execution.attempt}"
        if execution.started_at is None:
            lines.append(f"{'':8}{name} {execution.status.value}")
            continue
        start = execution.started_at.timestamp()
        base = origin if origin is not None else start
        waited = previous_end is not None and start > previous_end
        wait = f"  (waited {start - previous_end:g}s)" if waited else ""  # type: ignore[operator]
        lines.append(f"{_at(start - base)}{name} started{wait}")
        if execution.completed_at is None:
            continue
        end = execution.completed_at.timestamp()
        outcome = execution.status.value
        if execution.error is not None:
            flag = "recoverable" if execution.error.recoverable else "not recoverable"
            outcome += f": {execution.error.category.value} ({flag})"
        if execution.duration_seconds is not None:
            outcome += f" after {execution.duration_seconds:g}s"
        lines.append(f"{_at(end - base)}{name} {outcome}")
        previous_end = end
    return "\n".join(lines) if lines else "(no attempts)"


def delays_of(state: WorkflowState, step_id: str) -> list[float]:
    """The waits between a step's attempts, from their recorded times."""
    spans = [
        (e.started_at.timestamp(), e.completed_at.timestamp())
        for e in state.executions_of(step_id)
        if e.started_at is not None and e.completed_at is not None
    ]
    return [round(later[0] - earlier[1], 6) for earlier, later in itertools.pairwise(spans)]


def assert_attempts(
    state: WorkflowState,
    step_id: str,
    *,
    attempts: int | None = None,
    status: str | None = None,
    delays: Sequence[float] | None = None,
) -> None:
    """Check a step's attempt count, final status and waits; on failure show the timeline."""
    problems = []
    actual_attempts = state.attempts(step_id)
    newest = state.latest().get(step_id)
    if attempts is not None and actual_attempts != attempts:
        problems.append(f"attempts: expected {attempts}, got {actual_attempts}")
    if status is not None and (newest is None or newest.status.value != status):
        got = newest.status.value if newest else "never ran"
        problems.append(f"status: expected {status}, got {got}")
    if delays is not None and delays_of(state, step_id) != [float(d) for d in delays]:
        problems.append(f"delays: expected {list(delays)}, got {delays_of(state, step_id)}")
    if problems:
        message = f"step {step_id!r} of {state.workflow_id}:\n  " + "\n  ".join(problems)
        message += "\n\ntimeline (virtual time):\n" + timeline(state)
        raise AssertionError(message)


def assert_tree_change(
    before: Mapping[str, str], after: Mapping[str, str], *, removed: Sequence[str] = ()
) -> None:
    """Exactly ``removed`` (paths relative to the project) disappeared and nothing else changed;
    on failure show the whole diff."""
    gone = sorted(set(before) - set(after))
    expected = sorted(removed)
    changed = [rel for rel in before if rel in after and before[rel] != after[rel]]
    added = sorted(set(after) - set(before))
    # Removing a folder removes what it holds: accept children of expected paths.
    unexpected_gone = [
        g for g in gone if not any(g == r or g.startswith(r + "/") for r in expected)
    ]
    missing = [r for r in expected if r in after]
    if unexpected_gone or missing or changed or added:
        message = "the tree did not change as expected:\n"
        if missing:
            message += f"  still present (should be gone): {missing}\n"
        if unexpected_gone:
            message += f"  gone (should be kept): {unexpected_gone}\n"
        message += "\ndiff:\n" + diff_snapshots(before, after)
        raise AssertionError(message)


def assert_dlq(state: WorkflowState, expected: Sequence[Mapping[str, Any]]) -> None:
    """The failed steps carry envelopes matching ``expected`` (``step_id``, ``category``,
    ``recoverable``, ``code``... only the keys given are compared)."""
    actual = [
        {"step_id": e.step_id, **(e.error.model_dump(mode="json") if e.error else {})}
        for e in state.failed()
    ]
    trimmed = [{k: a.get(k) for k in want} for a, want in zip(actual, expected, strict=False)]
    if len(actual) != len(expected) or trimmed != [dict(e) for e in expected]:
        shown = "\n".join(f"  {json.dumps(a, sort_keys=True)}" for a in actual) or "  (empty)"
        wanted = "\n".join(f"  {json.dumps(dict(e), sort_keys=True)}" for e in expected)
        message = (
            f"dead letter queue of {state.workflow_id}:\nexpected:\n{wanted}\nactual:\n{shown}"
        )
        raise AssertionError(message)
