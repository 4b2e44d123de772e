"""Plan, then apply: :func:`plan_cleanup` decides every item without deleting anything;
:func:`apply_plan` takes a plan made earlier, decides every ``delete`` item again right before
deleting it, and skips (and reports) anything that changed since.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from pytest_tapps.core._candidates import Scan, new_scan, wants_worktrees
from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock
from pytest_tapps.core._decide import Decision, Plan, PlanItem, inside, renamed_meanwhile
from pytest_tapps.core._durations import DEFAULT_STUCK_SECONDS
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._remove import Remover
from pytest_tapps.core._report import CleanupReport, record
from pytest_tapps.core._retention import BY_NAME, CATEGORIES, RetentionPolicy

if TYPE_CHECKING:
    from pytest_tapps.core._worktrees import WorktreeInfo


def plan_cleanup(
    layout: Layout,
    *,
    policy: RetentionPolicy | None = None,
    clock: Clock = SYSTEM_CLOCK,
    only: Collection[str] | None = None,
    stuck_after: float = DEFAULT_STUCK_SECONDS,
) -> Plan:
    """Decide, for every item of every (or only the named) categories, what cleanup does."""
    scan = new_scan(layout, policy, clock, stuck_after)
    wanted = set(only) if only else None
    items: list[PlanItem] = []
    for category in CATEGORIES:
        if category.worktrees or (wanted is not None and category.name not in wanted):
            continue
        decided = []
        for found in scan.category_entries(category):
            if isinstance(found, PlanItem):
                decided.append(found)
            else:
                location, st, device = found
                assert st is not None  # noqa: S101 -- category_entries always stats children
                item = scan.decide(location, st, category, device)
                if not renamed_meanwhile(item, st):  # a plan lists nothing gone
                    decided.append(item)
        items.extend(sorted(decided, key=lambda item: item.location))
    if wants_worktrees(wanted):
        items.extend(i for i in scan.worktree_items(wanted) if not renamed_meanwhile(i))
    if wanted is None:
        items.extend(scan.unclaimed())
    scan.reader.wait()
    return Plan(items, scan.now, scan.policy)


def _recheck(
    scan: Scan, item: PlanItem, worktrees: dict[str, WorktreeInfo] | OSError
) -> PlanItem | None:
    """Decide an item again, as planning would now (None when it is gone). ``worktrees`` is
    the inventory, or the error that stopped it (raised again for a worktree)."""
    if item.kind == "worktree":
        assert item.worktree is not None  # noqa: S101 -- worktree items carry their info
        if isinstance(worktrees, OSError):
            raise worktrees
        fresh = worktrees.get(item.worktree.name)
        return None if fresh is None else scan.worktree(fresh)
    if item.category == "worktrees":  # a tombstone in the worktrees folder
        return scan.worktrees_tombstone(item.location)
    category = BY_NAME[item.category]
    folder = category.folder(scan.layout)
    if folder is None or folder.is_symlink() or not folder.exists():
        return None
    device = (folder if folder.is_dir() else folder.parent).stat().st_dev
    return scan.entry(item.path, category, device)


def apply_plan(
    layout: Layout,
    plan: Plan,
    *,
    clock: Clock = SYSTEM_CLOCK,
    progress: Callable[[int, int], None] | None = None,
    stuck_after: float = DEFAULT_STUCK_SECONDS,
) -> CleanupReport:
    """Delete a plan's ``delete`` items that are still expired now; skip and report the rest."""
    from pytest_tapps.core._worktrees import inventory

    report = CleanupReport()
    targets = plan.by_decision(Decision.DELETE)
    scan = new_scan(layout, plan.policy, clock, stuck_after)
    worktrees: dict[str, WorktreeInfo] | OSError = {}
    if any(item.kind == "worktree" for item in targets):
        try:
            found = inventory(
                layout, clock=clock, stuck_after=stuck_after, locks=lambda: scan.locks
            )
            worktrees = {info.name: info for info in found}
        except OSError as exc:  # the worktrees folder cannot be read: each worktree fails
            worktrees = exc
    remover = Remover(layout, report)
    for item in plan.items:
        if item.decision is not Decision.DELETE:
            record(report, item)
    for index, item in enumerate(targets, start=1):
        if progress is not None:
            progress(index, len(targets))
        scan.now = clock.time()
        category = BY_NAME.get(item.category)
        parent = os.path.realpath(os.path.dirname(item.location))
        if not inside(parent, scan.real_boundary(category)):
            report.skipped.append((item, "resolves outside the tree now"))
            continue
        try:
            fresh = _recheck(scan, item, worktrees)
        except OSError as exc:  # permissions changed since planning
            report.failed.append((item.path, exc.strerror or str(exc)))
            continue
        if fresh is None:
            report.vanished.append(item)
        elif fresh.decision is not Decision.DELETE:
            report.skipped.append((item, f"changed since planning: now {fresh.label}"))
        else:
            remover.take(fresh, clock)
    scan.reader.wait()
    return report
