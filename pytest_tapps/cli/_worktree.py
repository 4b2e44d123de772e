"""``tapps worktree ...``: list, remove and prune the worktrees under .tapps-agents/worktrees/."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pytest_tapps.cli._app import EXIT_OK, EXIT_PROBLEMS, add_stuck_after, layout_of
from pytest_tapps.cli._cleanup import item_columns, item_json, report_json, report_lines
from pytest_tapps.cli._output import (
    Printed,
    age,
    emit,
    format_table,
    human_bytes,
    json_text,
    text,
)
from pytest_tapps.core._cleanup import CleanupReport, Plan, apply_plan, plan_cleanup
from pytest_tapps.core._retention import WORKTREE_CATEGORIES

if TYPE_CHECKING:  # the handlers import it when they run: `tapps --help` stays light
    from pytest_tapps.core._worktrees import WorktreeInfo, WorktreeRemoval


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    worktree = commands.add_parser("worktree", help="list, remove and prune workflow worktrees")
    actions = worktree.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", parents=[common], help="every worktree with its workflow, status and git state"
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_stuck_after(listing)
    listing.set_defaults(handler=cmd_list, changes=False)
    rm = actions.add_parser(
        "remove",
        parents=[common],
        help="remove a worktree: folder, git registration, and its workflow/NAME branch",
    )
    rm.add_argument("name", metavar="NAME")
    rm.add_argument(
        "--force",
        action="store_true",
        help="also remove an active, stuck, git-locked or unknown-owner worktree",
    )
    rm.add_argument("--json", action="store_true", help="print JSON")
    rm.set_defaults(handler=cmd_remove, changes=True)
    prune = actions.add_parser(
        "prune",
        parents=[common],
        help="apply the worktree retention rules (completed now, failed/orphan after 7 days)",
    )
    prune.add_argument("--dry-run", action="store_true", help="show what would go")
    prune.add_argument("--json", action="store_true", help="print JSON")
    add_stuck_after(prune)
    prune.set_defaults(handler=cmd_prune, changes=True)


def info_json(info: WorktreeInfo, now: float) -> dict[str, Any]:
    return {
        "name": info.name,
        "path": str(info.path),
        "workflow_id": info.workflow_id,
        "step_id": info.step_id,
        "status": info.status,
        "evidence": info.evidence,
        "age_seconds": None if info.timestamp is None else max(0.0, now - info.timestamp),
        "size_bytes": info.size,
        "exists": info.exists,
        "registered": info.registered,
        "git_locked": info.git_locked,
        "lock_reason": info.lock_reason,
        "dirty": info.dirty,
        "prunable": info.prunable,
        "branch": info.branch,
    }


def list_printed(infos: list[WorktreeInfo], now: float, *, as_json: bool) -> Printed:
    """What ``tapps worktree list`` prints: a table, or every worktree as JSON."""
    if as_json:
        return Printed(EXIT_OK, json_text([info_json(i, now) for i in infos]))
    if not infos:
        return Printed(EXIT_OK, text(["no worktrees"]))

    def flags(info: WorktreeInfo) -> str:
        marks = [
            "registered" if info.registered else "not registered",
            *(["locked"] if info.git_locked else []),
            *(["dirty"] if info.dirty else []),
            *(["prunable"] if info.prunable else []),
            *(["folder gone"] if not info.exists else []),
        ]
        return ", ".join(marks)

    rows = [
        (
            i.name,
            i.workflow_id,
            i.step_id,
            i.status,
            None if i.timestamp is None else age(max(0.0, now - i.timestamp)),
            human_bytes(i.size),
            flags(i),
        )
        for i in infos
    ]
    headers = ("name", "workflow", "step", "status", "age", "size", "git")
    lines = [format_table(headers, rows)]
    unknown = [i.owner_unreadable for i in infos if i.status == "unknown"]
    if unknown:  # why a worktree's owner is unknown, once under the table (the same for each)
        lines.append(
            f"unknown: {unknown[0]} (a state that cannot be read may record these worktrees: "
            "none is removed until it is mended)"
        )
    return Printed(EXIT_OK, text(lines))


def cmd_list(args: argparse.Namespace) -> int:
    from pytest_tapps.core._worktrees import inventory

    now = args.clock.time()
    infos = inventory(layout_of(args), clock=args.clock, stuck_after=args.stuck_after)
    return emit(list_printed(infos, now, as_json=args.json))


def remove_printed(done: WorktreeRemoval, *, as_json: bool) -> Printed:
    """What ``tapps worktree remove`` prints; exit 1 unless the folder went entirely."""
    failures = done.removal.failures if done.removal is not None else []
    code = EXIT_OK if done.removed_folder and not failures else EXIT_PROBLEMS
    if as_json:
        data = {
            "name": done.name,
            "path": str(done.path),
            "removed_folder": done.removed_folder,
            "unregistered": done.unregistered,
            "deleted_branch": done.deleted_branch,
            "failed": [{"path": str(p), "why": why} for p, why in failures],
            "notes": done.notes,
        }
        return Printed(code, json_text(data))
    lines = [
        f"removed worktree {done.name}"
        if done.removed_folder
        else f"worktree {done.name}: folder not fully removed"
    ]
    if done.unregistered:
        lines.append("  git registration removed")
    if done.deleted_branch:
        lines.append(f"  deleted branch {done.deleted_branch}")
    lines += [f"  could not remove {path}: {why}" for path, why in failures]
    lines += [f"  note: {note}" for note in done.notes]
    return Printed(code, text(lines))


def cmd_remove(args: argparse.Namespace) -> int:
    from pytest_tapps.core._worktrees import remove

    done = remove(layout_of(args), args.name, force=args.force, clock=args.clock)
    return emit(remove_printed(done, as_json=args.json))


def prune_plan_printed(plan: Plan, *, as_json: bool) -> Printed:
    """What ``tapps worktree prune --dry-run`` prints: each worktree and its decision."""
    if as_json:
        return Printed(
            EXIT_OK, json_text({"dry_run": True, "items": [item_json(i) for i in plan.items]})
        )
    return Printed(EXIT_OK, text(item_columns(plan.items) or ["no worktrees"]))


def prune_printed(plan: Plan, report: CleanupReport, *, as_json: bool) -> Printed:
    """What ``tapps worktree prune`` prints: what went, what was skipped and what was kept
    (each worktree once); exit 1 if anything could not be deleted or an owner state is
    unreadable."""
    code = EXIT_OK if report.ok else EXIT_PROBLEMS
    if as_json:
        return Printed(code, json_text(report_json(report)))
    skipped = {item.path for item, _why in report.skipped}
    kept = [i for i in plan.items if i.decision.value != "delete" and i.path not in skipped]
    lines = [*report_lines(report), *(f"kept {item.path} ({item.label})" for item in kept)]
    return Printed(code, text(lines))


def cmd_prune(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    plan = plan_cleanup(
        layout,
        clock=args.clock,
        only=[c.name for c in WORKTREE_CATEGORIES],
        stuck_after=args.stuck_after,
    )
    if args.dry_run:
        return emit(prune_plan_printed(plan, as_json=args.json))
    report = apply_plan(layout, plan, clock=args.clock, stuck_after=args.stuck_after)
    return emit(prune_printed(plan, report, as_json=args.json))
