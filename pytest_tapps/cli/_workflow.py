"""``tapps workflow ...``: inspect (and, with the recovery engine, repair) workflow state."""

from __future__ import annotations

import argparse
from typing import Any

from pytest_tapps.cli._app import EXIT_OK, layout_of
from pytest_tapps.cli._output import duration, format_table, print_json
from pytest_tapps.core import StateStore, WorkflowState, to_iso


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    workflow = commands.add_parser("workflow", help="inspect workflow state")
    actions = workflow.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status",
        parents=[common],
        help="a workflow's status and a table of its steps",
        description="Show a workflow's status and its steps (status, attempts, duration, error).",
    )
    status.add_argument("--workflow-id", metavar="ID", help="default: the current workflow")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=cmd_status)


def step_rows(state: WorkflowState) -> list[dict[str, Any]]:
    """One summary per step: newest status, attempts, total duration, newest error."""
    rows = []
    for step_id, newest in state.latest().items():
        executions = state.executions_of(step_id)
        durations = [ex.duration_seconds for ex in executions if ex.duration_seconds is not None]
        error = newest.error
        rows.append(
            {
                "step_id": step_id,
                "agent": newest.agent,
                "action": newest.action,
                "status": newest.status.value,
                "attempts": state.attempts(step_id),
                "duration_seconds": sum(durations) if durations else None,
                "error_code": error.code if error else None,
                "error_category": error.category.value if error else None,
                "recoverable": error.recoverable if error else None,
                "worktree": newest.worktree,
            }
        )
    return rows


def _error_cell(row: dict[str, Any]) -> str | None:
    if row["error_category"] is None:
        return None
    flag = "recoverable" if row["recoverable"] else "not recoverable"
    return f"{row['error_category']} ({flag})"


def cmd_status(args: argparse.Namespace) -> int:
    store = StateStore(layout_of(args))
    path = store.locate(args.workflow_id)
    state = store.read(path)
    rows = step_rows(state)
    if args.json:
        print_json(
            {
                "workflow_id": state.workflow_id,
                "status": state.status.value,
                "current_step": state.current_step,
                "started_at": to_iso(state.started_at) if state.started_at else None,
                "updated_at": to_iso(state.updated_at) if state.updated_at else None,
                "file": str(path),
                "steps": rows,
            }
        )
        return EXIT_OK
    print(f"workflow {state.workflow_id}: {state.status.value}")
    print(f"  current step: {state.current_step or '-'}")
    print(f"  started:      {to_iso(state.started_at) if state.started_at else '-'}")
    print(f"  updated:      {to_iso(state.updated_at) if state.updated_at else '-'}")
    print(f"  state file:   {path}")
    print()
    if not rows:
        print("no step has run yet")
        return EXIT_OK
    table = [
        (
            row["step_id"],
            row["agent"],
            row["action"],
            row["status"],
            row["attempts"],
            duration(row["duration_seconds"]),
            _error_cell(row),
        )
        for row in rows
    ]
    headers = ("step", "agent", "action", "status", "attempts", "duration", "error")
    print(format_table(headers, table))
    return EXIT_OK
