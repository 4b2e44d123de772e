"""``tapps cleanup``: the runbook's retention table, applied safely (with a dry run)."""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

from pytest_tapps.cli._app import EXIT_OK, EXIT_PROBLEMS, add_stuck_after, layout_of
from pytest_tapps.cli._output import (
    Printed,
    Progress,
    age,
    columns,
    emit,
    format_table,
    human_bytes,
    json_text,
    text,
)
from pytest_tapps.core._cleanup import (
    CleanupReport,
    Decision,
    Plan,
    PlanItem,
    plan_cleanup,
    run_cleanup,
)
from pytest_tapps.core._durations import format_duration
from pytest_tapps.core._retention import BY_NAME, CATEGORIES, RetentionRow, retention_table


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    cleanup = commands.add_parser(
        "cleanup",
        parents=[common],
        help="apply the runbook's retention policies (safely; --dry-run to preview)",
        description=(
            "Delete what the retention policies expire, per category (the runbook's table, "
            "overridden by the retention: section of .tapps-agents/config.yaml). Never follows "
            "links, never leaves .tapps-agents/ (or reports/quality/), skips locked files and "
            "the worktrees of running workflows. Exit 1 if anything could not be deleted, or a "
            "worktree is kept because a state that may own it cannot be read."
        ),
    )
    only_shows = cleanup.add_mutually_exclusive_group()
    only_shows.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    cleanup.add_argument(
        "--only",
        nargs="+",
        metavar="CATEGORY",
        choices=[c.name for c in CATEGORIES],
        help="only these categories (see docs/retention.md)",
    )
    add_stuck_after(cleanup)
    only_shows.add_argument(
        "--policy",
        action="store_true",
        help=(
            "print each category's retention age in this project and what sets it (the "
            "default, from the runbook's table, or a line of config.yaml); change nothing"
        ),
    )
    cleanup.add_argument("--json", action="store_true", help="print JSON")
    # logs=False: the cleanup logs nothing, so it starts without the logging module
    cleanup.set_defaults(handler=cmd_cleanup, changes=True, logs=False)


def item_json(item: PlanItem) -> dict[str, Any]:
    """One plan item as JSON."""
    return {
        "path": str(item.path),
        "category": item.category,
        "decision": item.decision.value,
        "reason": item.reason,
        "kind": item.kind,
        "timestamp": item.timestamp,
        "age_seconds": item.age_seconds,
        "age": item.human_age,
        "max_age_seconds": item.max_age_seconds,
        "size_bytes": item.size_bytes,
    }


def _summary(items: list[PlanItem]) -> dict[str, Any]:
    counts = {d.value: sum(1 for i in items if i.decision is d) for d in Decision}
    freed = sum(i.size_bytes for i in items if i.decision is Decision.DELETE)
    return {**counts, "bytes_to_free": freed}


def plan_lines(plan: Plan) -> list[str]:
    """The plan grouped by category: counts and bytes, then each item with its reason."""
    groups: dict[str, list[PlanItem]] = defaultdict(list)
    for item in plan.items:
        groups[item.category].append(item)
    rows = []
    for name, items in groups.items():
        deleting = [i for i in items if i.decision is Decision.DELETE]
        rows.append(
            (
                name,
                len(deleting),
                sum(1 for i in items if i.decision is Decision.KEEP),
                sum(1 for i in items if i.decision is Decision.SKIP),
                human_bytes(sum(i.size_bytes for i in deleting)),
            )
        )
    if not rows:
        return ["nothing to clean: no retained data found"]
    lines = [format_table(("category", "delete", "keep", "skip", "to free"), rows)]
    # one alignment for the items of every category, so that ages and sizes line up throughout
    item_lines = iter(item_columns([item for items in groups.values() for item in items]))
    for name, items in groups.items():
        category = BY_NAME.get(name)
        if category is None:
            title = f"{name}: not covered by any policy"
        else:
            max_age = plan.policy.age(name)
            kept = "never expires" if max_age is None else f"kept {format_duration(max_age)}"
            title = f"{name}: {category.label}, {kept}"
        lines.append(f"\n{title}")
        lines += [next(item_lines) for _ in items]
    return lines


def item_columns(items: list[PlanItem]) -> list[str]:
    """A line per plan item, ``decision: reason  age  size  path``, in aligned columns (ages
    and sizes aligned right, as human as the table above: ``120d 3h``, ``2.0 KiB``)."""
    rows = [
        (item.label, age(item.age_seconds), human_bytes(item.size_bytes), item.path)
        for item in items
    ]
    return columns(rows, right=(1, 2), indent="  ")


def plan_printed(plan: Plan, *, as_json: bool) -> Printed:
    """What ``tapps cleanup --dry-run`` prints: the plan, and what it would do."""
    summary = _summary(plan.items)
    if as_json:
        items = [item_json(i) for i in plan.items]
        return Printed(EXIT_OK, json_text({"dry_run": True, "items": items, "summary": summary}))
    done = (
        f"\ndry run: would delete {summary['delete']} item(s) "
        f"({human_bytes(summary['bytes_to_free'])}), keep {summary['keep']}, "
        f"skip {summary['skip']}; nothing was changed"
    )
    return Printed(EXIT_OK, text([*plan_lines(plan), done]))


def report_lines(report: CleanupReport) -> list[str]:
    """One line per removed, skipped and failed item, and the notes."""
    lines = [f"removed {item.location} ({item.category}: {item.reason})" for item in report.removed]
    lines += [f"skipped {item.location}: {why}" for item, why in report.skipped]
    lines += [f"could not remove {path}: {why}" for path, why in report.failed]
    lines += [f"note: {note}" for note in report.notes]
    return lines


def report_json(report: CleanupReport) -> dict[str, Any]:
    """What was removed, skipped and could not be removed, as JSON."""
    return {
        "removed": [item_json(i) for i in report.removed],
        "skipped": [{**item_json(i), "why": why} for i, why in report.skipped],
        "failed": [{"path": str(p), "why": why} for p, why in report.failed],
    }


def report_code(report: CleanupReport) -> int:
    """The exit code of a real cleanup: 1 if anything could not be deleted, else 0."""
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def report_printed(report: CleanupReport, *, as_json: bool) -> Printed:
    """What ``tapps cleanup`` prints after a real run (one write: there may be 100,000 lines);
    exit 1 if anything could not be deleted."""
    code = report_code(report)
    if as_json:
        data = {
            "dry_run": False,
            **report_json(report),
            "vanished": [str(i.path) for i in report.vanished],
            "kept": sum(report.kept.values()),
            "notes": report.notes,
        }
        return Printed(code, json_text(data))
    summary = (
        f"removed {len(report.removed)} item(s) ({human_bytes(report.bytes_removed)}), "
        f"kept {sum(report.kept.values())}, skipped {len(report.skipped)}, "
        f"vanished {len(report.vanished)}, failed {len(report.failed)}"
    )
    return Printed(code, text([*report_lines(report), summary]))


def _shown_path(path: Path, root: Path) -> str:
    """``path`` from the project root when it lies inside, else as it is."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def policy_printed(rows: list[RetentionRow], root: Path, *, as_json: bool) -> Printed:
    """What ``tapps cleanup --policy`` prints: each category's age here and what sets it."""
    if as_json:
        categories = [
            {
                "name": row.category.name,
                "label": row.category.label,
                "section": row.category.section,
                "default_age_seconds": row.category.default,
                "default_age": row.category.describe_default(),
                "age_seconds": row.age,
                "age": row.describe_age(),
                "overridable": row.category.overridable,
                "source": None if row.source is None else _shown_path(row.source, root),
                "line": row.line,
            }
            for row in rows
        ]
        return Printed(EXIT_OK, json_text({"categories": categories}))
    table = []
    for row in rows:
        if row.source is not None:
            set_by = _shown_path(row.source, root) + ("" if row.line is None else f":{row.line}")
        else:  # the runbook's table (and PRODUCT.md's rows for orphan and active worktrees)
            set_by = "default" if row.category.overridable else "default (fixed)"
        table.append(
            (
                row.category.name,
                row.category.section,
                row.category.describe_default(),
                row.describe_age(),
                set_by,
            )
        )
    headers = ("category", "section", "default", "here", "set by")
    return Printed(EXIT_OK, text([format_table(headers, table)]))


def cmd_cleanup(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    if args.policy:
        rows = [r for r in retention_table(layout) if not args.only or r.category.name in args.only]
        return emit(policy_printed(rows, layout.project_root, as_json=args.json))
    if args.dry_run:
        plan = plan_cleanup(layout, clock=args.clock, only=args.only, stuck_after=args.stuck_after)
        return emit(plan_printed(plan, as_json=args.json))
    progress = Progress("tapps cleanup")
    try:
        report = run_cleanup(
            layout,
            clock=args.clock,
            only=args.only,
            stuck_after=args.stuck_after,
            progress=progress,
        )
    finally:
        progress.close()
    return emit(report_printed(report, as_json=args.json))
