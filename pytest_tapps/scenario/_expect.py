"""Checking ``then:`` against what happened: the tree, the workflow states, logs and outcomes.

Each expectation that does not hold becomes a :class:`Mismatch` at the expectation's location,
with what was expected, what was found, and which picture explains it (``timeline``, ``tree``,
``plan``, ``logs``, ``output``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_tapps.core import StateFileError, WorkflowNotFoundError, format_duration
from pytest_tapps.harness import delays_of
from pytest_tapps.scenario._model import COUNTER

if TYPE_CHECKING:
    from pytest_tapps.core import WorkflowState
    from pytest_tapps.scenario._model import FileSpec, StepExpectation, WorkflowExpectation
    from pytest_tapps.scenario._run import Result

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Mismatch:
    """One expectation that does not hold."""

    loc: Loc
    expected: str
    actual: str
    picture: str | None = None


def _seconds(values: list[Any]) -> str:
    return "[" + ", ".join(expected_text(v) for v in values) + "]"


def expected_text(want: Any) -> str:
    """An expected duration as written: ``915s``, or bounds such as ``at most 10m``."""
    if isinstance(want, float | int):
        return format_duration(want)
    parts = []
    if want.at_least is not None:
        parts.append(f"at least {format_duration(want.at_least)}")
    if want.at_most is not None:
        parts.append(f"at most {format_duration(want.at_most)}")
    return " and ".join(parts)


def matches(want: Any, seconds: float) -> bool:
    """Whether ``seconds`` is the expected duration (to the millisecond) or within its bounds."""
    if isinstance(want, float | int):
        return round(seconds, 3) == round(want, 3)
    return bool(want.holds(seconds))


def read_state(result: Result, workflow_id: str) -> WorkflowState | str:
    """The workflow's state, or why there is none."""
    from pytest_tapps.core import StateStore

    store = StateStore(result.session.layout, clock=result.session.clock)
    try:
        return store.read(store.locate(workflow_id))
    except (WorkflowNotFoundError, StateFileError) as exc:
        return f"no readable state ({exc})"


_NOT_RECORDED = "not recorded (the state keeps no attempts of its steps)"


def _step(
    loc: Loc, state: WorkflowState, step_id: str, want: StepExpectation
) -> Iterator[Mismatch]:
    executions = state.executions_of(step_id)
    if not executions:
        yield Mismatch(loc, f"a step {step_id!r}", "no such step in the state", "timeline")
        return
    latest = executions[-1]
    if want.status is not None and latest.status is not want.status:
        yield Mismatch((*loc, "status"), want.status.value, latest.status.value, "timeline")
    # A state that keeps no executions (the real package's default writer) has its steps
    # inferred from its step lists: their attempts and waits are unknown, not 1 and none.
    inferred = all((ex.model_extra or {}).get("inferred") for ex in executions)
    if want.attempts is not None:
        attempts = _NOT_RECORDED if inferred else str(state.attempts(step_id))
        if attempts != str(want.attempts):
            yield Mismatch((*loc, "attempts"), str(want.attempts), attempts, "timeline")
    if want.delays is not None:
        delays = None if inferred else delays_of(state, step_id)
        if (
            delays is None
            or len(delays) != len(want.delays)
            or not all(matches(w, d) for w, d in zip(want.delays, delays, strict=True))
        ):
            shown = _NOT_RECORDED if delays is None else _seconds(delays)
            yield Mismatch((*loc, "delays"), _seconds(want.delays), shown, "timeline")
    if want.error is not None:
        yield from _error((*loc, "error"), latest.error, want.error)


#: The parts of an error envelope a ``then`` may compare (only those written are).
_ENVELOPE_PARTS = (
    *("category", "recoverable", "code", "message", "details"),
    *("workflow_id", "step_id", "agent", "trace_id"),
)


def _error(loc: Loc, actual: Any, want: Any) -> Iterator[Mismatch]:
    if actual is None:
        yield Mismatch(loc, str(want if isinstance(want, str) else want.category), "no error")
        return
    if isinstance(want, str):
        if actual.category.value != want:
            yield Mismatch(loc, want, actual.category.value, "timeline")
        return
    for name in _ENVELOPE_PARTS:
        wanted = getattr(want, name, None)
        if wanted is None:
            continue
        got = getattr(actual, name)
        got = getattr(got, "value", got)
        wanted = getattr(wanted, "value", wanted)
        if got != wanted:
            yield Mismatch((*loc, name), str(wanted), str(got), "timeline")


def _workflow(
    result: Result, loc: Loc, workflow_id: str, want: WorkflowExpectation
) -> Iterator[Mismatch]:
    state = read_state(result, workflow_id)
    if isinstance(state, str):
        yield Mismatch(loc, f"a state for workflow {workflow_id!r}", state, "tree")
        return
    if want.status is not None and state.status is not want.status:
        yield Mismatch((*loc, "status"), want.status.value, state.status.value, "timeline")
    if want.error is not None:
        yield from _error((*loc, "error"), state.error, want.error)
    for step_id, step_want in want.steps.items():
        yield from _step((*loc, "steps", step_id), state, step_id, step_want)


def _paths(result: Result) -> Iterator[Mismatch]:
    then = result.scenario.then
    root = result.session.root
    for index, path in enumerate(then.present):
        if not os.path.lexists(root / path):
            yield Mismatch(("then", "present", index), f"{path} present", "absent", "tree")
    for index, path in enumerate(then.absent):
        if os.path.lexists(root / path):
            yield Mismatch(("then", "absent", index), f"{path} absent", "present", "tree")
    if then.unchanged is not None and (result.before == result.after) != then.unchanged:
        yield Mismatch(
            ("then", "unchanged"),
            "the tree unchanged" if then.unchanged else "a changed tree",
            "it changed" if then.unchanged else "no change",
            "tree",
        )


def dlq_entries(
    layout: Any, *, leave: Callable[[Path], bool] = lambda _path: False
) -> list[dict[str, Any]]:
    """The dead-letter queue of the states under ``layout``, as ``then.dlq`` compares it: one
    entry per step whose newest execution failed (unreadable states, and those whose file
    ``leave`` is true of, left out)."""
    from pytest_tapps.core import StateStore

    entries = []
    for path, state in StateStore(layout).iter_states():
        if isinstance(state, StateFileError) or leave(path):
            continue
        for execution in state.failed():
            error = execution.error
            entries.append(
                {
                    "workflow_id": state.workflow_id,
                    "step_id": execution.step_id,
                    "category": error.category.value if error else None,
                    "recoverable": error.recoverable if error else None,
                    "code": error.code if error else None,
                }
            )
    return entries


def _dlq(result: Result) -> Iterator[Mismatch]:
    want = result.scenario.then.dlq
    if want is None:
        return
    entries = dlq_entries(result.session.layout)
    wanted = [item.model_dump(mode="json", exclude_none=True) for item in want]
    unmatched = list(entries)
    missing = []
    for item in wanted:
        match = next((e for e in unmatched if all(e.get(k) == v for k, v in item.items())), None)
        if match is None:
            missing.append(item)
        else:
            unmatched.remove(match)
    if missing or unmatched:
        yield Mismatch(
            ("then", "dlq"),
            _entries(wanted),
            _entries(entries),
            "timeline",
        )


def _entries(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no entries"
    return "; ".join(
        ", ".join(f"{k}={v}" for k, v in item.items() if v is not None) for item in items
    )


def _matches(record: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    return all(k in record and record[k] == v for k, v in want.items() if v is not None)


def _logs(result: Result) -> Iterator[Mismatch]:
    want = result.scenario.then.logs
    if want is None:
        return
    records = result.records
    for name in want.every_record_has:
        lacking = [r for r in records if r.get(name) in (None, "")]
        if lacking or not records:
            actual = (
                "no records"
                if not records
                else f"{len(lacking)} of {len(records)} lack it, e.g. {lacking[0].get('message')!r}"
            )
            loc: Loc = ("then", "logs", "every_record_has", want.every_record_has.index(name))
            yield Mismatch(loc, f"every record has {name}", actual, "logs")
    for index, record in enumerate(want.records):
        fields = record.model_dump(exclude_none=True)
        if not any(_matches(r, fields) for r in records):
            yield Mismatch(
                ("then", "logs", "records", index), _fields(fields), "no such record", "logs"
            )
    for index, record in enumerate(want.no_records):
        fields = record.model_dump(exclude_none=True)
        found = [r for r in records if _matches(r, fields)]
        if found:
            yield Mismatch(
                ("then", "logs", "no_records", index),
                f"no record with {_fields(fields)}",
                f"{len(found)} record(s)",
                "logs",
            )


def _fields(fields: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in fields.items())


def _results(result: Result) -> Iterator[Mismatch]:
    yield from _plan(result)
    yield from _corrupted(result)
    yield from _diagnosis(result)
    yield from _worktrees(result)


def _plan(result: Result) -> Iterator[Mismatch]:
    then = result.scenario.then
    if not then.plan:
        return
    done = result.last("cleanup", "worktree_prune")
    data = (done.outcome.data or {}) if done else {}
    items: dict[str, str] = data.get("items", {})
    dry = bool(done and getattr(done.value, "dry_run", False))
    # A plan that lists only what it removed or skipped (a real run) says what the rest is.
    unlisted = data.get("unlisted") or ("keep" if done and not dry else None)
    given: Collection[str] = ()
    if unlisted is not None and any(COUNTER in path for path in then.plan):
        # Only those still there: a file removed with its folder is no "keep" of the run's.
        given = _given_paths(result.scenario.given.files) & result.after.keys()
    for path, wanted in then.plan.items():
        if COUNTER in path:
            yield from _numbered(path, wanted, items, unlisted, given)
            continue
        actual = items.get(os.path.normpath(path)) or unlisted or "not in the plan"
        if not _same_decision(wanted, actual):
            yield Mismatch(("then", "plan", path), wanted, actual, "plan")


def _numbered(
    path: str, wanted: str, items: Mapping[str, str], unlisted: str | None, given: Collection[str]
) -> Iterator[Mismatch]:
    """``then.plan``'s ``{n}`` path: every path with a number there has the label, and there is
    at least one. The paths are the plan's and, when the plan says what it leaves out (a real
    run keeps what it does not list), the ``given`` ones still there (:func:`_given_paths`)."""
    import re

    head, _, tail = os.path.normpath(path).partition(COUNTER)
    pattern = re.compile(re.escape(head) + "[0-9]+" + re.escape(tail), re.DOTALL)
    found = {key: label for key, label in items.items() if pattern.fullmatch(key)}
    if unlisted is not None:
        found.update(
            (key, unlisted) for key in given if key not in found and pattern.fullmatch(key)
        )
    if not found:
        yield Mismatch(("then", "plan", path), wanted, "no path of the plan matches", "plan")
        return
    wrong = {key: label for key, label in found.items() if not _same_decision(wanted, label)}
    if wrong:
        key, label = min(wrong.items())
        actual = f"{label} for {len(wrong)} of {len(found)}, e.g. {key}"
        yield Mismatch(("then", "plan", path), wanted, actual, "plan")


def _given_paths(files: Iterable[FileSpec]) -> set[str]:
    """Every given file's path and the folders it is in, below the project."""
    paths: set[str] = set()
    for spec in files:
        for name, _age in spec.expand():
            key = os.path.normpath(name)
            while key and key not in paths:
                paths.add(key)
                key = os.path.dirname(key)  # noqa: PTH120 (str paths, by the thousand)
    return paths


def _same_decision(wanted: str, actual: str) -> bool:
    """Whether a plan label matches: by prefix (``delete`` matches ``delete: older than 7d``);
    a target that gives a bare decision with no reason (``delete``) is checked on the decision
    alone, since it has no reason to compare."""
    if ":" not in actual:
        return wanted.partition(":")[0].strip() == actual.strip()
    return actual.startswith(wanted)


def _corrupted(result: Result) -> Iterator[Mismatch]:
    want = result.scenario.then.corrupted
    if want is None:
        return
    done = result.last("cache_verify", "cache_recover")
    found: dict[str, str] = (done.outcome.data or {}) if done else {}
    if set(found) != set(want) or any(reason not in found[key] for key, reason in want.items()):
        yield Mismatch(("then", "corrupted"), _pairs(want), _pairs(found), "output")


def _diagnosis(result: Result) -> Iterator[Mismatch]:
    want = result.scenario.then.diagnosis
    if want is None:
        return
    done = result.last("status")
    data = (done.outcome.data or {}) if done else {}
    if want.stuck is not None and data.get("stuck") != want.stuck:
        yield Mismatch(
            ("then", "diagnosis", "stuck"), str(want.stuck), str(data.get("stuck")), "output"
        )
    reasons = data.get("reasons", [])
    for index, text in enumerate(want.reasons_contain):
        if not any(text in reason for reason in reasons):
            yield Mismatch(
                ("then", "diagnosis", "reasons_contain", index),
                f"a reason containing {text!r}",
                "; ".join(reasons) or "no reasons",
                "output",
            )


def _worktrees(result: Result) -> Iterator[Mismatch]:
    wanted = result.scenario.then.worktrees
    if not wanted:
        return
    done = result.last("worktree_list")
    rows: dict[str, Any] = (done.outcome.data or {}) if done else {}
    for name, row_want in wanted.items():
        row = rows.get(name)
        if row is None:
            yield Mismatch(("then", "worktrees", name), "listed", "not listed", "output")
            continue
        for key, value in row_want.model_dump(exclude_none=True).items():
            if row.get(key) != value:
                yield Mismatch(
                    ("then", "worktrees", name, key), str(value), str(row.get(key)), "output"
                )


def _pairs(mapping: Mapping[str, str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in mapping.items()) or "none"


def _outcome(result: Result) -> Iterator[Mismatch]:
    then = result.scenario.then
    done = result.last()
    if done is None:
        return
    outcome = done.outcome
    if then.exit_code is not None and outcome.exit_code != then.exit_code:
        yield Mismatch(("then", "exit_code"), str(then.exit_code), str(outcome.exit_code), "output")
    for index, text in enumerate(then.output_contains):
        if text not in outcome.output:
            yield Mismatch(
                ("then", "output_contains", index),
                f"output containing {text!r}",
                "not in it",
                "output",
            )
    for index, text in enumerate(then.output_lacks):
        if text in outcome.output:
            yield Mismatch(
                ("then", "output_lacks", index), f"output without {text!r}", "it is there", "output"
            )


def check(result: Result) -> list[Mismatch]:
    """Every expectation of ``then:`` that does not hold."""
    from pytest_tapps.scenario._check import subject_workflow
    from pytest_tapps.scenario._model import WorkflowExpectation

    then = result.scenario.then
    found: list[Mismatch] = []
    found.extend(_paths(result))
    if then.status is not None or then.steps or then.error is not None:
        subject = subject_workflow(result.scenario)
        assert subject is not None  # noqa: S101 -- load-time cross checks guarantee it
        want = WorkflowExpectation(status=then.status, steps=then.steps, error=then.error)
        for mismatch in _workflow(result, ("then",), subject, want):
            found.append(mismatch)
    for workflow_id, want in then.workflows.items():
        found.extend(_workflow(result, ("then", "workflows", workflow_id), workflow_id, want))
    if then.elapsed is not None:
        elapsed = result.session.clock.time() - result.start
        if not matches(then.elapsed, elapsed):
            found.append(
                Mismatch(
                    ("then", "elapsed"),
                    expected_text(then.elapsed),
                    format_duration(elapsed),
                    "timeline",
                )
            )
    found.extend(_dlq(result))
    for workflow_id, wanted in then.locks.items():
        present = result.session.layout.lock_file(workflow_id).exists()
        if present != (wanted == "present"):
            found.append(
                Mismatch(
                    ("then", "locks", workflow_id),
                    wanted,
                    "present" if present else "absent",
                    "tree",
                )
            )
    found.extend(_logs(result))
    found.extend(_results(result))
    found.extend(_outcome(result))
    return found
