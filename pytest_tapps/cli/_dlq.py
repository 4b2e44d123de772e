"""``tapps dlq ...``: the runbook's dead letter queue: failed steps and their envelopes."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pytest_tapps.cli._app import EXIT_OK, EXIT_PROBLEMS, layout_of, warn, warning_line
from pytest_tapps.cli._output import Printed, emit, json_text, print_json, text
from pytest_tapps.core._errors import StateFileError

if TYPE_CHECKING:  # the handlers import these when they run: `tapps --help` stays light
    from pytest_tapps.core._recovery import DlqRetry
    from pytest_tapps.core._state import WorkflowState
    from pytest_tapps.core._store import StateStore

#: The runbook's six error categories, in its order (a test keeps this equal to Category).
CATEGORY_NAMES = (
    "configuration",
    "external_dependency",
    "validation",
    "execution",
    "permission",
    "timeout",
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
    listing.set_defaults(handler=cmd_list, changes=False)

    retry = actions.add_parser(
        "retry",
        parents=[common],
        help="mark every recoverable failed step of a category for retry",
        description=(
            "The runbook's batch processing: mark every recoverable failed step of one error "
            "category, in every workflow, to run again on the next resume. Non-recoverable "
            "failures are listed and left alone."
        ),
    )
    retry.add_argument("--category", required=True, choices=CATEGORY_NAMES)
    retry.add_argument("--dry-run", action="store_true", help="show what would be marked")
    retry.add_argument("--json", action="store_true", help="print JSON")
    retry.set_defaults(handler=cmd_retry, changes=True)

    skip = actions.add_parser(
        "skip", parents=[common], help="skip one failed step; resume continues with the next"
    )
    skip.add_argument("--workflow-id", required=True, metavar="ID")
    skip.add_argument("--step-id", required=True, metavar="STEP")
    skip.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
    skip.add_argument("--json", action="store_true", help="print the change as JSON")
    skip.set_defaults(handler=cmd_skip, changes=True)


def entries_of(state: WorkflowState) -> Iterator[dict[str, Any]]:
    """One DLQ entry per failed step of ``state``."""
    from pytest_tapps.core._envelope import ADVICE, advice_for

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


def among_readable(count: int) -> str:
    """What qualifies "empty" or "no step" when ``count`` state files could not be read: the
    unread ones may hold failed steps (each is named in a warning line)."""
    if not count:
        return ""
    files = "a state file" if count == 1 else f"{count} state files"
    warnings = "the warning" if count == 1 else "the warnings"
    return f" among the readable states; {files} could not be read (see {warnings} above)"


def _print_entry(entry: dict[str, Any]) -> None:
    flag = "recoverable" if entry["recoverable"] else "not recoverable"
    print(f"- {entry['workflow_id']} / {entry['step_id']} (agent {entry['agent'] or '-'})")
    print(f"    code: {entry['code'] or '-'}  category: {entry['category'] or '-'}  {flag}")
    print(f"    attempts: {entry['attempts']}  trace_id: {entry['trace_id'] or '-'}")
    print(f"    message: {entry['message'] or '-'}")
    for step in entry["advice"]:
        print(f"    -> {step}")


def cmd_list(args: argparse.Namespace) -> int:
    from pytest_tapps.core._envelope import ADVICE, Category
    from pytest_tapps.core._store import StateStore

    entries, problems = collect(StateStore(layout_of(args), clock=args.clock))
    if args.recoverable:
        entries = [e for e in entries if e["recoverable"]]
    elif args.non_recoverable:
        entries = [e for e in entries if not e["recoverable"]]
    order = list(CATEGORY_NAMES)
    if args.group_by == "category":
        entries.sort(key=lambda e: order.index(e["category"]) if e["category"] else len(order))
    for problem in problems:
        warn(f"{problem} (skipped; the file was left untouched)")
    if args.json:
        print_json(entries)
    elif not entries:
        wanted = "recoverable" if args.recoverable else "non-recoverable"
        empty = (
            f"the dead letter queue holds no {wanted} failed step"
            if args.recoverable or args.non_recoverable
            else "the dead letter queue is empty"
        )
        print(empty + among_readable(len(problems)))
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


def cmd_retry(args: argparse.Namespace) -> int:
    from pytest_tapps.core._recovery import dlq_retry

    outcome = dlq_retry(layout_of(args), args.category, clock=args.clock, dry_run=args.dry_run)
    return emit(retry_printed(outcome, args.category, dry_run=args.dry_run, as_json=args.json))


def retry_printed(outcome: DlqRetry, category: str, *, dry_run: bool, as_json: bool) -> Printed:
    """What ``tapps dlq retry`` prints: the steps it marked, the ones it left, and a warning
    per unreadable state file; exit 1 if a state file was unreadable or a workflow locked."""
    code = EXIT_PROBLEMS if outcome.unreadable or outcome.locked else EXIT_OK
    warnings = "".join(
        warning_line(f"{problem} (skipped; the file was left untouched)")
        for problem in outcome.unreadable
    )
    if as_json:
        data = {
            "category": category,
            "dry_run": dry_run,
            "marked": [
                {
                    "workflow_id": e.workflow_id,
                    "changes": list(e.changes),
                    "backup": str(e.backup) if e.backup else None,
                }
                for e in outcome.marked
            ],
            "left": outcome.left,
            "locked": outcome.locked,
        }
        return Printed(code, json_text(data), warnings)
    verb = "would mark" if dry_run else "marked"
    lines = [
        f"{verb} for retry: {edit.workflow_id}: {change}"
        for edit in outcome.marked
        for change in edit.changes[:1]
    ]
    lines += [f"left: {line}" for line in outcome.left]
    if not outcome.marked:
        lines.append(
            f"no recoverable failed step of category {category}"
            + among_readable(len(outcome.unreadable))
        )
    elif not dry_run:
        lines.append("resume each workflow to run the marked steps: tapps workflow resume ...")
    return Printed(code, text(lines), warnings)


def cmd_skip(args: argparse.Namespace) -> int:
    from pytest_tapps.cli._workflow import print_edit
    from pytest_tapps.core._recovery import skip_step

    edit = skip_step(
        layout_of(args),
        args.workflow_id,
        args.step_id,
        clock=args.clock,
        dry_run=args.dry_run,
        failed_only=True,
    )
    print_edit(edit, as_json=args.json)
    return EXIT_OK
