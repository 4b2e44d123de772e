"""Retention cleanup: plan what the runbook's policies expire, then apply the plan safely.

Planning walks each category's folder without following links and decides, for every item, one
of: ``delete`` (expired), ``keep`` (too new, or never expires) or ``skip`` (locked, a link out of
the tree, a mount point, an active or stuck workflow's worktree, a future timestamp, no policy).
An item is a direct child of its category's folder: a file aged by its mtime, or a folder aged as
one unit by the newest file inside it (editing a deep file keeps the whole folder alive).

Applying decides every item again, right before deleting it, with the same functions: anything
that changed since planning is skipped and reported, items that vanished meanwhile are counted,
and what cannot be deleted is reported while the run goes on.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock
from pytest_tapps.core._durations import format_duration
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._recovery import DEFAULT_STUCK_SECONDS
from pytest_tapps.core._retention import (
    BY_NAME,
    CATEGORIES,
    WORKTREE_CATEGORIES,
    RetentionCategory,
    RetentionPolicy,
    load_retention,
)
from pytest_tapps.core._safedelete import (
    TOMBSTONE_PREFIX,
    is_locked,
    locked_inodes,
    remove_path,
    resolves_inside,
    walk_stats,
)
from pytest_tapps.core._worktrees import WorktreeInfo, inventory
from pytest_tapps.core._worktrees import remove as remove_worktree

#: Names under .tapps-agents/ that hold no retained data (state is managed, never aged).
_NOT_RETAINED = frozenset({"config.yaml", "workflow-state"})
_TOMBSTONE_REASON = "unfinished deletion of an earlier run"


class Decision(StrEnum):
    DELETE = "delete"
    KEEP = "keep"
    SKIP = "skip"


@dataclass(frozen=True)
class PlanItem:
    """One candidate of the plan and what to do with it."""

    path: Path
    category: str
    decision: Decision
    reason: str
    kind: str
    timestamp: float | None = None
    age_seconds: float | None = None
    max_age_seconds: float | None = None
    size_bytes: int = 0
    worktree: WorktreeInfo | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """``delete: older than 30d``, ``keep: too new``, ``skip: locked``."""
        return f"{self.decision.value}: {self.reason}"

    @property
    def human_age(self) -> str:
        return "-" if self.age_seconds is None else format_duration(round(self.age_seconds))


@dataclass
class Plan:
    """The decisions of one planning pass, in walk order."""

    items: list[PlanItem]
    now: float
    policy: RetentionPolicy

    def by_decision(self, decision: Decision) -> list[PlanItem]:
        return [item for item in self.items if item.decision is decision]


@dataclass
class _Scan:
    """What every decision of one pass shares: the tree, the policy, the time, the locks."""

    layout: Layout
    policy: RetentionPolicy
    now: float
    locks: set[tuple[int, int]] | None
    clock: Clock
    stuck_after: float

    def boundary(self, category: RetentionCategory) -> Path:
        layout = self.layout
        return (
            layout.quality_reports_dir if category.name == "quality_reports" else layout.tapps_dir
        )

    def age_decision(
        self, category: RetentionCategory, timestamp: float
    ) -> tuple[Decision, str, float]:
        """Expired strictly after the category's age; a future time is never deleted."""
        age = self.now - timestamp
        limit = self.policy.age(category.name)
        if age < 0:
            return Decision.SKIP, "future timestamp", 0.0
        if limit is None:
            return Decision.KEEP, "never expires", age
        if self.policy.expired(category.name, age):
            if category.name == "completed_worktrees":
                return Decision.DELETE, "workflow completed", age
            return Decision.DELETE, f"older than {format_duration(limit)}", age
        return Decision.KEEP, "too new", age

    def entry(self, path: Path, category: RetentionCategory, device: int) -> PlanItem | None:
        """The decision for one direct child of a category's folder (None if it vanished)."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        limit = self.policy.age(category.name)
        base = PlanItem(path, category.name, Decision.SKIP, "", "file", max_age_seconds=limit)
        if path.name.startswith(TOMBSTONE_PREFIX):
            return _with(base, Decision.DELETE, _TOMBSTONE_REASON, kind="folder")
        if stat.S_ISLNK(st.st_mode):
            root = Path(os.path.realpath(self.boundary(category)))
            if not Path(os.path.realpath(path)).is_relative_to(root):
                return _with(base, Decision.SKIP, "symlink target outside", kind="link")
            decision, reason, age = self.age_decision(category, st.st_mtime)
            return _with(
                base, decision, reason, kind="link", timestamp=st.st_mtime, age_seconds=age
            )
        if stat.S_ISDIR(st.st_mode):
            if st.st_dev != device:
                return _with(base, Decision.SKIP, "mount point", kind="folder")
            stats = walk_stats(path, device, self.locks)
            stamp = stats.newest_mtime if stats.newest_mtime is not None else st.st_mtime
            decision, reason, age = self.age_decision(category, stamp)
            if decision is Decision.DELETE and stats.mounts:
                decision, reason = Decision.SKIP, "contains a mount point"
            elif decision is Decision.DELETE and stats.locked:
                decision, reason = Decision.SKIP, "locked"
            return _with(
                base,
                decision,
                reason,
                kind="folder",
                timestamp=stamp,
                age_seconds=age,
                size_bytes=stats.size,
            )
        decision, reason, age = self.age_decision(category, st.st_mtime)
        if (
            decision is Decision.DELETE
            and stat.S_ISREG(st.st_mode)
            and is_locked(path, st, self.locks)
        ):
            decision, reason = Decision.SKIP, "locked"
        return _with(
            base, decision, reason, timestamp=st.st_mtime, age_seconds=age, size_bytes=st.st_size
        )

    def worktree(self, info: WorktreeInfo) -> PlanItem:
        """The decision for one worktree, from its status, git state and age."""
        category = BY_NAME[f"{info.status}_worktrees"]
        base = PlanItem(
            info.path,
            category.name,
            Decision.SKIP,
            "",
            "worktree",
            max_age_seconds=self.policy.age(category.name),
            size_bytes=info.size,
            worktree=info,
        )
        if info.status in ("active", "stuck"):
            evidence = "; ".join(info.evidence)
            return _with(base, Decision.SKIP, f"{info.status} workflow ({evidence})")
        if info.is_symlink:
            root = Path(os.path.realpath(self.layout.tapps_dir))
            if not Path(os.path.realpath(info.path)).is_relative_to(root):
                return _with(base, Decision.SKIP, "symlink target outside")
        if info.git_locked:
            return _with(base, Decision.SKIP, "git-locked worktree (git worktree lock)")
        if not info.exists:
            return _with(base, Decision.DELETE, "folder gone; prune its git registration")
        stamp = info.timestamp if info.timestamp is not None else self.now
        decision, reason, age = self.age_decision(category, stamp)
        if decision is Decision.DELETE and info.file_locked:
            decision, reason = Decision.SKIP, "locked"
        return _with(base, decision, reason, timestamp=stamp, age_seconds=age)

    def category(self, category: RetentionCategory) -> Iterator[PlanItem]:
        """Every item of one (non-worktree) category."""
        folder = category.folder(self.layout)
        if folder is None or not (folder.exists() or folder.is_symlink()):
            return
        if folder.is_symlink() or not resolves_inside(folder / "x", self.boundary(category)):
            yield PlanItem(folder, category.name, Decision.SKIP, "symlink target outside", "folder")
            return
        if not folder.is_dir():  # the project profile is one file
            found = self.entry(folder, category, folder.lstat().st_dev)
            if found is not None:
                yield found
            return
        device = folder.stat().st_dev
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries)
        for name in names:
            path = folder / name
            matches = fnmatch.fnmatchcase(name, category.pattern)
            if not matches and not name.startswith(TOMBSTONE_PREFIX):
                yield PlanItem(path, category.name, Decision.SKIP, "no policy", "file")
                continue
            found = self.entry(path, category, device)
            if found is not None:
                yield found

    def worktrees(self, wanted: set[str] | None) -> Iterator[PlanItem]:
        """Every worktree, and the tombstones of unfinished worktree deletions."""
        folder = self.layout.worktrees_dir
        if folder.is_symlink() or (
            folder.exists() and not resolves_inside(folder / "x", self.layout.tapps_dir)
        ):
            yield PlanItem(folder, "worktrees", Decision.SKIP, "symlink target outside", "folder")
            return
        for info in inventory(self.layout, clock=self.clock, stuck_after=self.stuck_after):
            item = self.worktree(info)
            if wanted is None or item.category in wanted:
                yield item
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.name.startswith(TOMBSTONE_PREFIX):
                    yield PlanItem(path, "worktrees", Decision.DELETE, _TOMBSTONE_REASON, "folder")

    def unclaimed(self) -> Iterator[PlanItem]:
        """Entries under .tapps-agents/ that no retention category covers: skip, no policy."""
        tapps = self.layout.tapps_dir
        if not tapps.is_dir():
            return
        folders = {
            f
            for c in CATEGORIES
            if (f := c.folder(self.layout)) is not None and f.is_relative_to(tapps)
        }
        ancestors = {a for f in folders for a in f.parents if a.is_relative_to(tapps)}
        for parent in sorted(ancestors):
            if not parent.is_dir() or parent.is_symlink():
                continue
            for child in sorted(parent.iterdir()):
                if child in folders or child in ancestors:
                    continue
                if parent == tapps and child.name in _NOT_RETAINED:
                    continue
                kind = "folder" if child.is_dir() else "file"
                yield PlanItem(child, "-", Decision.SKIP, "no policy", kind)


def _with(base: PlanItem, decision: Decision, reason: str, **changes: object) -> PlanItem:
    from dataclasses import replace

    return replace(base, decision=decision, reason=reason, **changes)  # type: ignore[arg-type]


def _scan(
    layout: Layout, policy: RetentionPolicy | None, clock: Clock, stuck_after: float
) -> _Scan:
    policy = policy if policy is not None else load_retention(layout)
    return _Scan(layout, policy, clock.time(), locked_inodes(), clock, stuck_after)


def plan_cleanup(
    layout: Layout,
    *,
    policy: RetentionPolicy | None = None,
    clock: Clock = SYSTEM_CLOCK,
    only: Collection[str] | None = None,
    stuck_after: float = DEFAULT_STUCK_SECONDS,
) -> Plan:
    """Decide, for every item of every (or only the named) categories, what cleanup does."""
    scan = _scan(layout, policy, clock, stuck_after)
    wanted = set(only) if only else None
    items: list[PlanItem] = []
    for category in CATEGORIES:
        if not category.worktrees and (wanted is None or category.name in wanted):
            items.extend(scan.category(category))
    if wanted is None or wanted & {c.name for c in WORKTREE_CATEGORIES}:
        items.extend(scan.worktrees(wanted))
    if wanted is None:
        items.extend(scan.unclaimed())
    return Plan(items, scan.now, scan.policy)


@dataclass
class ApplyReport:
    """What applying a plan did."""

    removed: list[PlanItem] = field(default_factory=list)
    skipped: list[tuple[PlanItem, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    vanished: list[PlanItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def bytes_removed(self) -> int:
        return sum(item.size_bytes for item in self.removed)


def _recheck(scan: _Scan, item: PlanItem, worktrees: dict[str, WorktreeInfo]) -> PlanItem | None:
    """Decide an item again, as planning would now (None when it is gone)."""
    if item.kind == "worktree":
        assert item.worktree is not None  # noqa: S101 -- worktree items carry their info
        fresh = worktrees.get(item.worktree.name)
        return None if fresh is None else scan.worktree(fresh)
    if item.category == "worktrees":  # a tombstone in the worktrees folder
        return item if (item.path.exists() or item.path.is_symlink()) else None
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
) -> ApplyReport:
    """Delete the plan's ``delete`` items that are still expired now; report the rest."""
    report = ApplyReport()
    targets = plan.by_decision(Decision.DELETE)
    scan = _scan(layout, plan.policy, clock, stuck_after)
    worktrees: dict[str, WorktreeInfo] = {}
    if any(item.kind == "worktree" for item in targets):
        worktrees = {i.name: i for i in inventory(layout, clock=clock, stuck_after=stuck_after)}
    for index, item in enumerate(targets, start=1):
        if progress is not None:
            progress(index, len(targets))
        scan.now = clock.time()
        category = BY_NAME.get(item.category)
        boundary = scan.boundary(category) if category is not None else layout.tapps_dir
        if not resolves_inside(item.path, boundary):
            report.skipped.append((item, "resolves outside the tree now"))
            continue
        fresh = _recheck(scan, item, worktrees)
        if fresh is None:
            report.vanished.append(item)
            continue
        if fresh.decision is not Decision.DELETE:
            report.skipped.append((item, f"changed since planning: now {fresh.label}"))
            continue
        if fresh.worktree is not None:
            done = remove_worktree(layout, fresh.worktree.name, clock=clock, info=fresh.worktree)
            report.notes.extend(done.notes)
            failures = done.removal.failures if done.removal is not None else []
        else:
            removal = remove_path(item.path, device=item.path.parent.stat().st_dev)
            if removal.vanished:
                report.vanished.append(item)
                continue
            failures = removal.failures
        if failures:
            report.failed.extend(failures)
        else:
            report.removed.append(fresh)
    return report
