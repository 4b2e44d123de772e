"""The retention decision: for one item, ``delete``, ``keep`` or ``skip``, and why.

:class:`Rules` holds what every decision of one pass shares (the tree, the policy, the time,
the locks) and decides:

- by age (:meth:`Rules.age_decision`), by the policy's one rule
  (:meth:`~pytest_tapps.core.RetentionPolicy.expired`, which users' tests take as their oracle):
  expired strictly after the category's age (exactly the age is kept; an age of zero, "at
  once", expires at once), ``never expires`` for no age, and a ``future timestamp`` is skipped,
  never deleted;
- a direct child of a category's folder from its ``lstat`` (:meth:`Rules.decide`): a file by
  its mtime; a folder as one unit by the newest file inside it (editing a deep file keeps the
  whole folder alive), skipped when expired but holding a locked file or a mount point, or when
  a part of it cannot be read; a link out of the tree, a mount point and a locked file are
  skipped;
- a worktree (:meth:`Rules.worktree`) from its status, git state and age: an active or stuck
  workflow's, one whose owner's state cannot be read, a git-locked one and a link out are
  skipped;
- an entry named ``.tapps-deleting-*`` (:meth:`Rules.tombstone`): deleted only when it is this
  tool's unfinished deletion whose maker is gone.

Every item becomes a :class:`PlanItem` whose :attr:`~PlanItem.label` reads ``delete: older than
30d``, ``keep: too new``, ``skip: locked``. Which items there are (category folders, worktrees,
what no policy covers) is :mod:`._candidates`; deleting them is :mod:`._plan` and
:mod:`._onepass` (whose per-file fast path restates :meth:`Rules.age_decision` inline for plain
regular files: a call per file would cost what it saves).
"""

from __future__ import annotations

import os
import re
import stat
from enum import StrEnum
from fnmatch import translate
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_tapps.core._clock import Clock
from pytest_tapps.core._durations import format_duration
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._proclocks import LockReader
from pytest_tapps.core._record import Record
from pytest_tapps.core._retention import BY_NAME, RetentionCategory, RetentionPolicy
from pytest_tapps.core._safedelete import (
    TOMBSTONE_PREFIX,
    TreeStats,
    Walked,
    is_locked,
    tombstone_busy,
    tombstone_maker,
    walk_stats,
)

if TYPE_CHECKING:
    from pytest_tapps.core._worktrees import WorktreeInfo


#: The reason of a tombstone this tool left (see :meth:`Rules.tombstone`).
_TOMBSTONE_REASON = "unfinished deletion of an earlier run"
_PATTERNS: dict[str, re.Pattern[str]] = {}


class Decision(StrEnum):
    """What cleanup does with an item."""

    DELETE = "delete"
    KEEP = "keep"
    SKIP = "skip"


class PlanItem(Record):
    """One candidate and what to do with it; ``location`` is its path as a string. (Equality
    and the repr leave out ``worktree``, the inventory entry a worktree's item carries.)"""

    __slots__ = (
        "age_seconds",
        "category",
        "decision",
        "kind",
        "location",
        "max_age_seconds",
        "reason",
        "size_bytes",
        "timestamp",
        "worktree",
    )
    _compared = (
        "location",
        "category",
        "decision",
        "reason",
        "kind",
        "timestamp",
        "age_seconds",
        "max_age_seconds",
        "size_bytes",
    )

    def __init__(  # noqa: PLR0917 -- a row of the plan, written positionally
        self,
        location: str,
        category: str,
        decision: Decision,
        reason: str,
        kind: str,
        timestamp: float | None = None,
        age_seconds: float | None = None,
        max_age_seconds: float | None = None,
        size_bytes: int = 0,
        *,
        worktree: WorktreeInfo | None = None,
    ) -> None:
        self.location, self.category, self.kind = location, category, kind
        self.decision, self.reason = decision, reason
        self.timestamp, self.age_seconds, self.max_age_seconds = (
            timestamp,
            age_seconds,
            max_age_seconds,
        )
        self.size_bytes, self.worktree = size_bytes, worktree

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def label(self) -> str:
        """``delete: older than 30d``, ``keep: too new``, ``skip: locked``."""
        return f"{self.decision.value}: {self.reason}"

    @property
    def human_age(self) -> str:
        return "-" if self.age_seconds is None else format_duration(round(self.age_seconds))


class Plan(Record):
    """The decisions of one planning pass, in walk order."""

    __slots__ = ("items", "now", "policy")

    def __init__(self, items: list[PlanItem], now: float, policy: RetentionPolicy) -> None:
        self.items, self.now, self.policy = items, now, policy

    def by_decision(self, decision: Decision) -> list[PlanItem]:
        return [item for item in self.items if item.decision is decision]


def pattern_matcher(pattern: str) -> re.Pattern[str]:
    """A category's name pattern (``*.jsonl``) compiled once per process."""
    found = _PATTERNS.get(pattern)
    if found is None:
        found = _PATTERNS[pattern] = re.compile(translate(pattern), re.DOTALL)
    return found


#: A boundary no real path is inside (for a boundary that resolves outside the project).
_NOWHERE = "\0outside-the-project"


def inside(path: str, root: str) -> bool:
    """Whether a resolved path is ``root`` or under it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def unreadable_reason(found: tuple[str, str]) -> str:
    """The skip reason for an item with a part that could not be read: ``unreadable (sub:
    Permission denied)``, or ``unreadable (Permission denied)`` for the item itself."""
    where, why = found
    return f"unreadable ({where}: {why})" if where else f"unreadable ({why})"


def renamed_meanwhile(item: PlanItem, st: os.stat_result | None = None) -> bool:
    """Whether a folder decided ``future timestamp`` is no longer at its path (or, given its
    ``st``, is another folder now): another cleanup renamed it to its tombstone while this one
    walked it, and emptying it set the folder's time after this run's now. It vanished."""
    if item.reason != "future timestamp" or item.kind not in ("folder", "worktree"):
        return False
    try:
        now = os.lstat(item.location)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return st is not None and (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino)


class Rules:
    """What every decision of one pass shares: the tree, the policy, the time, the locks."""

    def __init__(
        self,
        layout: Layout,
        policy: RetentionPolicy,
        *,
        now: float,
        reader: LockReader,
        clock: Clock,
        stuck_after: float,
    ) -> None:
        self.layout, self.policy, self.now = layout, policy, now
        self.reader, self.clock, self.stuck_after = reader, clock, stuck_after
        self._roots: dict[str, str] = {}
        self._expired: dict[float, str] = {}  # "older than 7d", by age

    @property
    def locks(self) -> set[tuple[int, int]] | None:
        """The locked inodes (None: /proc/locks cannot be read; each candidate is probed)."""
        return self.reader.result()

    def boundary(self, category: RetentionCategory | None) -> Path:
        if category is not None and category.name == "quality_reports":
            return self.layout.quality_reports_dir
        return self.layout.tapps_dir

    def real_boundary(self, category: RetentionCategory | None) -> str:
        """The boundary with every link resolved (cached per run). A boundary that resolves
        outside the project (``.tapps-agents`` or ``reports/`` a link to elsewhere) holds
        nothing: its categories are skipped as links out, never followed."""
        key = os.fspath(self.boundary(category))
        if key not in self._roots:
            real = os.path.realpath(key)
            root = os.path.realpath(self.layout.project_root)
            self._roots[key] = real if inside(real, root) else _NOWHERE
        return self._roots[key]

    def folder_inside(self, folder: Path, category: RetentionCategory | None) -> bool:
        """Whether a category folder is a real folder (not a link) inside its boundary."""
        if folder.is_symlink():
            return False
        return inside(os.path.realpath(folder), self.real_boundary(category))

    def age_decision(
        self, category: RetentionCategory, timestamp: float
    ) -> tuple[Decision, str, float]:
        """Expired strictly after the category's age (exactly the age is kept), except that an
        age of zero ("at once": completed worktrees) expires at age 0; a future time is never
        deleted."""
        age = self.now - timestamp
        limit = self.policy.ages[category.name]
        if age < 0:
            return Decision.SKIP, "future timestamp", 0.0
        if limit is None:
            return Decision.KEEP, "never expires", age
        if self.policy.expired(category.name, age):
            if category.name == "completed_worktrees":
                return Decision.DELETE, "workflow completed", age
            reason = self._expired.get(limit)
            if reason is None:
                reason = self._expired[limit] = f"older than {format_duration(limit)}"
            return Decision.DELETE, reason, age
        return Decision.KEEP, "too new", age

    def tree_decision(
        self,
        category: RetentionCategory,
        stamp: float,
        unreadable: tuple[str, str] | None,
        *,
        locked: bool,
        mounts: bool = False,
    ) -> tuple[Decision, str, float]:
        """:meth:`age_decision` for a folder aged by its newest file, which is skipped when a
        part could not be read (unless kept), or, expired, when it holds a mount point or a
        locked file."""
        decision, reason, age = self.age_decision(category, stamp)
        if unreadable is not None and decision is not Decision.KEEP:
            # Its newest file may be in what could not be read: its age is unknown.
            return Decision.SKIP, unreadable_reason(unreadable), age
        if decision is Decision.DELETE and mounts:
            return Decision.SKIP, "contains a mount point", age
        if decision is Decision.DELETE and locked:
            return Decision.SKIP, "locked", age
        return decision, reason, age

    def decide(
        self, location: str, st: os.stat_result, category: RetentionCategory, device: int
    ) -> PlanItem:
        """The decision for one direct child of a category's folder, from its ``lstat``."""
        limit = self.policy.ages[category.name]
        name = os.path.basename(location)
        mode = st.st_mode
        if name.startswith(TOMBSTONE_PREFIX):
            found = self.tombstone(location, st, category.name, category.pattern)
            if found is not None:
                return found
        if stat.S_ISLNK(mode):
            target = os.path.realpath(location)
            if not inside(target, self.real_boundary(category)):
                return PlanItem(
                    location,
                    category.name,
                    Decision.SKIP,
                    "symlink target outside",
                    "link",
                    max_age_seconds=limit,
                )
            decision, reason, age = self.age_decision(category, st.st_mtime)
            return PlanItem(
                location, category.name, decision, reason, "link", st.st_mtime, age, limit
            )
        if stat.S_ISDIR(mode):
            if st.st_dev != device:
                return PlanItem(
                    location,
                    category.name,
                    Decision.SKIP,
                    "mount point",
                    "folder",
                    max_age_seconds=limit,
                )
            stats = walk_stats(location, device, self.locks)
            return self.folder_item(location, category, stats, st.st_mtime)
        decision, reason, age = self.age_decision(category, st.st_mtime)
        if (
            decision is Decision.DELETE
            and stat.S_ISREG(mode)
            and is_locked(location, st, self.locks)
        ):
            decision, reason = Decision.SKIP, "locked"
        return PlanItem(
            location, category.name, decision, reason, "file", st.st_mtime, age, limit, st.st_size
        )

    def tombstone(
        self, location: str, st: os.stat_result, category: str, pattern: str = "*"
    ) -> PlanItem | None:
        """The decision for an entry named ``.tapps-deleting-*``: an unfinished deletion of an
        earlier run when it is a folder named as this tool names its tombstones, unless the
        process that made it still runs (it may be emptying it now); anything else so named
        is an ordinary item (None), or of no policy when the category's pattern does not
        match it."""
        name = os.path.basename(location)
        if stat.S_ISDIR(st.st_mode) and tombstone_maker(name) is not None:
            # Counted at the size of what it still holds, as any removed folder is (tombstones
            # are rare: the walk costs the hot path nothing). No lock is looked for (an empty
            # set of locked inodes): the walk is for the size alone.
            size = walk_stats(location, st.st_dev, set()).size
            busy = tombstone_busy(name)
            if busy is None:
                return PlanItem(
                    location,
                    category,
                    Decision.DELETE,
                    _TOMBSTONE_REASON,
                    "folder",
                    size_bytes=size,
                )
            reason = f"being deleted by another cleanup (pid {busy})"
            return PlanItem(location, category, Decision.SKIP, reason, "folder", size_bytes=size)
        if not pattern_matcher(pattern).match(name):
            kind = "folder" if stat.S_ISDIR(st.st_mode) else "file"
            return PlanItem(location, category, Decision.SKIP, "no policy", kind)
        return None

    def folder_item(
        self,
        location: str,
        category: RetentionCategory,
        found: TreeStats | Walked,
        folder_mtime: float,
    ) -> PlanItem:
        """The decision for a folder from its walk: aged by its newest file (by its own time,
        ``folder_mtime``, when it holds none)."""
        stamp = found.newest_mtime if found.newest_mtime is not None else folder_mtime
        decision, reason, age = self.tree_decision(
            category, stamp, found.unreadable, locked=found.locked, mounts=found.mounts
        )
        limit = self.policy.ages[category.name]
        return PlanItem(
            location, category.name, decision, reason, "folder", stamp, age, limit, found.size
        )

    def entry(self, path: Path, category: RetentionCategory, device: int) -> PlanItem | None:
        """:meth:`decide` for a path (None if it vanished)."""
        location = os.fspath(path)
        try:
            st = os.lstat(location)
        except FileNotFoundError:
            return None
        return self.decide(location, st, category, device)

    def worktree(self, info: WorktreeInfo) -> PlanItem:
        """The decision for one worktree, from its status, git state and age."""
        category = BY_NAME[info.category]
        decision, stamp, age = Decision.SKIP, None, None
        if info.owner_unreadable is not None:  # never guessed: its workflow may be running
            reason = info.owner_unreadable
            stamp = info.timestamp
            age = None if stamp is None else max(0.0, self.now - stamp)
        elif info.status in ("active", "stuck"):
            reason = f"{info.status} workflow ({'; '.join(info.evidence)})"
        elif info.is_symlink and not inside(
            os.path.realpath(info.location), self.real_boundary(None)
        ):
            reason = "symlink target outside"
        elif info.git_locked:
            reason = "git-locked worktree (git worktree lock)"
        elif not info.exists:
            decision, reason = Decision.DELETE, "folder gone; prune its git registration"
        else:
            stamp = info.timestamp if info.timestamp is not None else self.now
            decision, reason, age = self.tree_decision(
                category, stamp, info.unreadable, locked=info.file_locked, mounts=info.mounts
            )
        limit = self.policy.ages[category.name]
        return PlanItem(
            info.location,
            category.name,
            decision,
            reason,
            "worktree",
            stamp,
            age,
            limit,
            info.size,
            worktree=info,
        )

    def worktrees_tombstone(self, location: str) -> PlanItem | None:
        """The decision for a tombstone in the worktrees folder (None when it is gone)."""
        try:
            st = os.lstat(location)
        except FileNotFoundError:
            return None
        return self.tombstone(location, st, "worktrees")
