"""``tapps dlq ...``: the runbook's dead letter queue: failed steps and their envelopes."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from pytest_tapps.cli._app import EXIT_OK, EXIT_PROBLEMS, layout_of, warn
from pytest_tapps.cli._output import print_json
from pytest_tapps.core import (
    ADVICE,
    Category,
    StateFileError,
    StateStore,
    WorkflowState,
    advice_for,
)

#: The JSON fields of one DLQ entry, in order.
ENTRY_FIELDS = (
    "workflow_id",
    "step_id",
    "agent",
    "trace_id",
    "code",
    "category",
    "recoverable",
    "message",
    "details",
    "attempts",
    "diagnosis",
    "advice",
)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    dlq = commands.add_parser("dlq", help="inspect failed steps (the dead letter queue)")
    actions = dlq.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="failed steps of all workflows with their error envelopes",
        description=(
            "List the failed steps of every workflow with code, category, recoverable, message, "
            "correlation ids and the runbook's advice for the category."
        ),
    )
    listing.add_argument("--group-by", choices=["category"], help="group the entries")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--recoverable", action="store_true", help="only recoverable failures")
    which.add_argument(
        "--non-recoverable", action="store_true", help="only non-recoverable failures"
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list of entries")
    listing.set_defaults(handler=cmd_list)


def entries_of(state: WorkflowState) -> Iterator[dict[str, Any]]:
    """One DLQ entry per failed step of ``state``."""
    for execution in state.failed():
        envelope = execution.error
        entry: dict[str, Any] = {
            "workflow_id": state.workflow_id,
            "step_id": execution.step_id,
            "agent": execution.agent,
            "trace_id": None,
            "code": None,
            "category": None,
            "recoverable": False,
            "message": None,
            "details": {},
            "attempts": state.attempts(execution.step_id),
            "diagnosis": None,
            "advice": [],
        }
        if envelope is not None:
            entry.update(
                trace_id=envelope.trace_id,
                code=envelope.code,
                category=envelope.category.value,
                recoverable=envelope.recoverable,
                message=envelope.message,
                details=envelope.details,
                diagnosis=ADVICE[envelope.category].diagnosis,
                advice=list(advice_for(envelope)),
            )
        yield entry


def collect(store: StateStore) -> tuple[list[dict[str, Any]], list[StateFileError]]:
    """Every DLQ entry of the project, and the state files that could not be read."""
    entries: list[dict[str, Any]] = []
    problems: list[StateFileError] = []
    for _path, state in store.iter_states():
        if isinstance(state, StateFileError):
            problems.append(state)
        else:
            entries.extend(entries_of(state))
    return entries, problems


def _print_entry(entry: dict[str, Any]) -> None:
    flag = "recoverable" if entry["recoverable"] else "not recoverable"
    print(f"- {entry['workflow_id']} / {entry['step_id']} (agent {entry['agent'] or '-'})")
    print(f"    code: {entry['code'] or '-'}  category: {entry['category'] or '-'}  {flag}")
    print(f"    attempts: {entry['attempts']}  trace_id: {entry['trace_id'] or '-'}")
    print(f"    message: {entry['message'] or '-'}")
    for step in entry["advice"]:
        print(f"    -> {step}")


def cmd_list(args: argparse.Namespace) -> int:
    entries, problems = collect(StateStore(layout_of(args)))
    if args.recoverable:
        entries = [e for e in entries if e["recoverable"]]
    elif args.non_recoverable:
        entries = [e for e in entries if not e["recoverable"]]
    order = [c.value for c in Category]
    if args.group_by == "category":
        entries.sort(key=lambda e: order.index(e["category"]) if e["category"] else len(order))
    for problem in problems:
        warn(f"{problem} (skipped; the file was left untouched)")
    if args.json:
        print_json(entries)
    elif not entries:
        print("the dead letter queue is empty")
    elif args.group_by == "category":
        current = object()
        for entry in entries:
            if entry["category"] != current:
                current = entry["category"]
                count = sum(1 for e in entries if e["category"] == current)
                title = current or "no envelope"
                diagnosis = f": {ADVICE[Category(current)].diagnosis}" if current else ""
                print(f"{title} ({count}){diagnosis}")
            _print_entry(entry)
    else:
        for entry in entries:
            _print_entry(entry)
    return EXIT_PROBLEMS if problems else EXIT_OK
