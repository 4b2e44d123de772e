"""Retention cleanup: plan what the runbook's policies expire, and delete it safely.

Planning walks each category's folder without following links and decides, for every item, one
of: ``delete`` (expired), ``keep`` (too new, or never expires) or ``skip`` (locked, a link out of
the tree, a mount point, an active or stuck workflow's worktree, a future timestamp, a part that
cannot be read, no policy).
An item is a direct child of its category's folder: a file aged by its mtime, or a folder aged as
one unit by the newest file inside it (editing a deep file keeps the whole folder alive).

Two ways to delete, both deciding each item again right before deleting it, with the same
functions as planning:

- :func:`run_cleanup` (what ``tapps cleanup`` does) decides and deletes item by item in one pass:
  the ``lstat`` that decides is the one just before the ``unlink``, a worktree folder is removed
  right after the walk that ages it (from that walk's listing), and large folders and many
  worktrees are shared out to forked processes;
- :func:`apply_plan` takes a plan made earlier, decides every item again, and skips (and reports)
  anything that changed since.

Either way items that vanished meanwhile are counted, and what cannot be deleted (or a category
folder that cannot be read) is reported while the run goes on.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import re
import stat
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from enum import StrEnum
from fnmatch import translate
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock
from pytest_tapps.core._durations import DEFAULT_STUCK_SECONDS, format_duration
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._proclocks import LockReader, lock_reader
from pytest_tapps.core._record import Record
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
    Removal,
    TreeStats,
    Walked,
    is_locked,
    is_tombstone,
    open_folder,
    remove_path,
    remove_walked,
    tombstone_busy,
    tombstone_maker,
    walk_at,
    walk_stats,
)

if TYPE_CHECKING:
    from pytest_tapps.core._worktrees import WorktreeInfo

#: Names under .tapps-agents/ that hold no retained data (state is managed, never aged).
_NOT_RETAINED = frozenset({"config.yaml", "workflow-state"})
_TOMBSTONE_REASON = "unfinished deletion of an earlier run"
T = TypeVar("T")
R = TypeVar("R", bound=tuple[object, ...])  # a record: a tuple of plain values
#: Folders with at least this many entries are split over processes (see _FolderRun._forked).
FORK_THRESHOLD = 20_000


def _can_fork() -> bool:
    """Forking is safe only while this process runs a single thread (and fork exists), on the
    real filesystem: under pyfakefs (``os`` here is then its fake module, no module at all) a
    child would delete in its own copy of the fake filesystem, unseen by this process."""
    return isinstance(os, ModuleType) and hasattr(os, "fork") and threading.active_count() == 1


def fork_map(
    shares: list[T], child: Callable[[T], bytes], parent: Callable[[T], None]
) -> list[tuple[bytes, bool]]:
    """Run ``child`` on every share but the first in forked processes, and ``parent`` on the
    first meanwhile; return each child's bytes and whether it finished. A child never returns
    into the caller: it writes its result to a pipe and exits."""
    children: list[tuple[int, int]] = []
    for share in shares[1:]:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            code = 0
            try:
                view = memoryview(child(share))
                while view:
                    view = view[os.write(write_end, view) :]
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_end)
        children.append((pid, read_end))
    parent(shares[0])
    results = []
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        results.append((data, os.waitstatus_to_exitcode(status) == 0))
    return results


def fork_queue(
    count: int, processes: int, work: Callable[[Iterator[range]], list[R]], *, size: int
) -> list[tuple[list[R] | None, bool]]:
    """Run ``work`` in this process and in ``processes - 1`` forked ones (see :func:`fork_map`)
    over ``range(count)`` in chunks of ``size``: each process takes the next chunk from a pipe
    they share as it finishes one, so a process slowed down takes fewer. Return what each
    process's ``work`` returned (a forked one's travels back with :mod:`marshal`: plain values
    only), this one's first, and whether it finished (None when not)."""
    size = max(size, -(-count // _MAX_CHUNKS))
    read_end, write_end = os.pipe()
    try:
        # Every chunk's number is in the pipe before any process reads it (at most 16 KiB, far
        # below a pipe's capacity); each read takes one number whole (reads of a pipe are
        # serialised, and what is left is always whole numbers).
        tokens = memoryview(b"".join(i.to_bytes(4, "little") for i in range(0, count, size)))
        while tokens:
            tokens = tokens[os.write(write_end, tokens) :]
        os.close(write_end)
        write_end = -1

        def chunks() -> Iterator[range]:
            while token := os.read(read_end, 4):
                start = int.from_bytes(token, "little")
                yield range(start, min(start + size, count))

        mine: list[list[R]] = []
        results = fork_map(
            list(range(processes)),
            lambda _: marshal.dumps(work(chunks())),
            lambda _: mine.append(work(chunks())),
        )
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    # Only this process's own forks write these bytes (through pipes only they hold open).
    theirs = [(marshal.loads(data) if ok else None, ok) for data, ok in results]  # noqa: S302
    return [(mine[0], True), *theirs]


#: At most this many chunks in :func:`fork_queue`'s pipe (4 bytes each).
_MAX_CHUNKS = 4096

_PATTERNS: dict[str, re.Pattern[str]] = {}


class Decision(StrEnum):
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


def _matcher(pattern: str) -> re.Pattern[str]:
    found = _PATTERNS.get(pattern)
    if found is None:
        found = _PATTERNS[pattern] = re.compile(translate(pattern), re.DOTALL)
    return found


#: A boundary no real path is inside (for a boundary that resolves outside the project).
_NOWHERE = "\0outside-the-project"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _keep_until(limit: float | None) -> float | None:
    """The oldest age a fast path keeps, as :meth:`_Scan.age_decision` decides: exactly the
    limit, nothing at all for a zero limit ("at once"), everything for ``None``."""
    return -1.0 if limit == 0 else limit


def _lock_check(
    locks: set[tuple[int, int]] | None,
) -> tuple[Collection[tuple[int, int]], bool]:
    """For the per-file loops: the locked inodes to look a file up in, and whether each regular
    file must be probed with ``flock`` instead (/proc/locks could not be read: ``locks`` None)."""
    return (frozenset(), True) if locks is None else (locks, False)


def _unreadable(found: tuple[str, str]) -> str:
    """The skip reason for an item with a part that could not be read: ``unreadable (sub:
    Permission denied)``, or ``unreadable (Permission denied)`` for the item itself."""
    where, why = found
    return f"unreadable ({where}: {why})" if where else f"unreadable ({why})"


def _unlisted(exc: OSError) -> str:
    """The failure reason for a category folder that cannot be listed."""
    return f"cannot read the folder ({exc.strerror or exc}); nothing in it was checked"


def _renamed_meanwhile(item: PlanItem, st: os.stat_result | None = None) -> bool:
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


def _kind(entry: os.DirEntry[str]) -> str:
    """``folder`` or ``file`` from the listing alone (for an entry that cannot be stat-ed)."""
    with contextlib.suppress(OSError):
        if entry.is_dir(follow_symlinks=False):
            return "folder"
    return "file"


class _Scan:
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

    def can_fork(self) -> bool:
        """Whether work may be split over processes (once the lock reader has finished)."""
        self.reader.result()
        return _can_fork()

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
            self._roots[key] = real if _inside(real, root) else _NOWHERE
        return self._roots[key]

    def folder_inside(self, folder: Path, category: RetentionCategory | None) -> bool:
        """Whether a category folder is a real folder (not a link) inside its boundary."""
        if folder.is_symlink():
            return False
        return _inside(os.path.realpath(folder), self.real_boundary(category))

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
        if age > limit or limit == 0:
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
            return Decision.SKIP, _unreadable(unreadable), age
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
            if not _inside(target, self.real_boundary(category)):
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
            busy = tombstone_busy(name)
            if busy is None:
                return PlanItem(location, category, Decision.DELETE, _TOMBSTONE_REASON, "folder")
            reason = f"being deleted by another cleanup (pid {busy})"
            return PlanItem(location, category, Decision.SKIP, reason, "folder")
        if not _matcher(pattern).match(name):
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
        elif info.is_symlink and not _inside(
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

    def category_entries(
        self, category: RetentionCategory
    ) -> Iterator[tuple[str, os.stat_result | None, int] | PlanItem]:
        """The children of a category's folder as ``(location, lstat, device)``, or a finished
        item when the folder itself is refused or cannot be read, or a child matches no pattern
        or cannot be stat-ed."""
        folder = category.folder(self.layout)
        if folder is None:
            return
        try:
            found = self._listing(folder, category)
        except OSError as exc:
            reason = _unreadable(("", exc.strerror or str(exc)))
            found = [PlanItem(os.fspath(folder), category.name, Decision.SKIP, reason, "folder")]
        yield from found

    def _listing(
        self, folder: Path, category: RetentionCategory
    ) -> list[tuple[str, os.stat_result | None, int] | PlanItem]:
        if not (folder.exists() or folder.is_symlink()):
            return []
        if not self.folder_inside(folder, category):
            return [
                PlanItem(
                    os.fspath(folder),
                    category.name,
                    Decision.SKIP,
                    "symlink target outside",
                    "folder",
                )
            ]
        if not folder.is_dir():  # the project profile is one file
            location = os.fspath(folder)
            return [(location, os.lstat(location), folder.parent.stat().st_dev)]
        device = folder.stat().st_dev
        matcher = _matcher(category.pattern)
        with os.scandir(folder) as listing:
            entries = list(listing)
        found: list[tuple[str, os.stat_result | None, int] | PlanItem] = []
        for entry in entries:
            name = entry.name
            if not matcher.match(name) and not name.startswith(TOMBSTONE_PREFIX):
                found.append(
                    PlanItem(entry.path, category.name, Decision.SKIP, "no policy", "file")
                )
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:  # a folder that may be listed but not searched
                reason = _unreadable(("", exc.strerror or str(exc)))
                found.append(
                    PlanItem(entry.path, category.name, Decision.SKIP, reason, _kind(entry))
                )
                continue
            found.append((entry.path, st, device))
        return found

    def worktree_items(
        self,
        wanted: set[str] | None,
        *,
        measure: bool = True,
        failed: list[tuple[Path, str]] | None = None,
    ) -> Iterator[PlanItem]:
        """Every worktree decided, and the tombstones of unfinished worktree deletions. Without
        ``measure`` plain worktree folders are not walked (their items carry no age yet).
        A worktrees folder that cannot be read is one skipped item, or, given ``failed``, a
        failure added there."""
        for found in self.worktrees(wanted, measure=measure, failed=failed):
            yield found if isinstance(found, PlanItem) else self.worktree(found)

    def worktrees(
        self,
        wanted: set[str] | None,
        *,
        measure: bool = True,
        failed: list[tuple[Path, str]] | None = None,
    ) -> Iterator[WorktreeInfo | PlanItem]:
        """:meth:`worktree_items`, with each worktree still undecided (its info)."""
        from pytest_tapps.core._worktrees import inventory

        folder = self.layout.worktrees_dir
        try:
            if folder.is_symlink() or (folder.exists() and not self.folder_inside(folder, None)):
                yield PlanItem(
                    os.fspath(folder),
                    "worktrees",
                    Decision.SKIP,
                    "symlink target outside",
                    "folder",
                )
                return
            infos = inventory(
                self.layout,
                clock=self.clock,
                stuck_after=self.stuck_after,
                measure=measure,
                locks=lambda: self.locks,  # read once per pass, and only if needed
            )
            tombstones = []
            if folder.is_dir():
                with os.scandir(folder) as listing:
                    tombstones = sorted(e.name for e in listing if is_tombstone(e))
        except OSError as exc:
            if failed is not None:
                failed.append((folder, _unlisted(exc)))
            else:
                reason = _unreadable(("", exc.strerror or str(exc)))
                yield PlanItem(os.fspath(folder), "worktrees", Decision.SKIP, reason, "folder")
            return
        for info in infos:
            if wanted is None or info.category in wanted:
                yield info
        for name in tombstones:
            found = self.worktrees_tombstone(os.fspath(folder / name))
            if found is not None:
                yield found

    def worktrees_tombstone(self, location: str) -> PlanItem | None:
        """The decision for a tombstone in the worktrees folder (None when it is gone)."""
        try:
            st = os.lstat(location)
        except FileNotFoundError:
            return None
        return self.tombstone(location, st, "worktrees")

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
                yield PlanItem(os.fspath(child), "-", Decision.SKIP, "no policy", kind)


def _scan(
    layout: Layout, policy: RetentionPolicy | None, clock: Clock, stuck_after: float
) -> _Scan:
    policy = policy if policy is not None else load_retention(layout)
    return _Scan(
        layout, policy, now=clock.time(), reader=lock_reader(), clock=clock, stuck_after=stuck_after
    )


def _wants_worktrees(wanted: set[str] | None) -> bool:
    return wanted is None or bool(wanted & {c.name for c in WORKTREE_CATEGORIES})


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
                if not _renamed_meanwhile(item, st):  # a plan lists nothing gone
                    decided.append(item)
        items.extend(sorted(decided, key=lambda item: item.location))
    if _wants_worktrees(wanted):
        items.extend(i for i in scan.worktree_items(wanted) if not _renamed_meanwhile(i))
    if wanted is None:
        items.extend(scan.unclaimed())
    scan.reader.wait()
    return Plan(items, scan.now, scan.policy)


class CleanupReport(Record):
    """What a cleanup run did.

    ``skipped`` pairs each skipped item with the bare reason, without the ``skip:`` of its
    label (``locked``, ``future timestamp``, ``changed since planning: now keep: too new``):
    consumers add their own prefix. ``failed`` pairs each path that could not be removed
    (or, for a folder that could not be read, cleaned) with the error; any failure makes
    ``ok`` false (``tapps cleanup`` exits 1).
    """

    __slots__ = ("failed", "kept", "notes", "removed", "skipped", "vanished")

    def __init__(self) -> None:
        self.removed: list[PlanItem] = []
        self.skipped: list[tuple[PlanItem, str]] = []
        self.failed: list[tuple[Path, str]] = []
        self.vanished: list[PlanItem] = []
        self.kept: Counter[str] = Counter()
        self.notes: list[str] = []

    @property
    def ok(self) -> bool:
        """Nothing failed, and nothing that may be expired was left because it (or the state
        of a workflow that may own it) could not be read (the command line exits 1 otherwise)."""
        return not self.failed and not any(
            why.startswith("unreadable")
            or (item.worktree is not None and item.worktree.owner_unreadable is not None)
            for item, why in self.skipped
        )

    @property
    def bytes_removed(self) -> int:
        return sum(item.size_bytes for item in self.removed)


ApplyReport = CleanupReport


class _Remover:
    """Deletes decided items, in this process, into ``report``."""

    def __init__(self, layout: Layout, report: CleanupReport) -> None:
        self.layout = layout
        self.report = report

    def file(self, item: PlanItem) -> None:
        try:
            os.unlink(item.location)
        except FileNotFoundError:
            self.report.vanished.append(item)
        except OSError as exc:
            self.report.failed.append((item.path, exc.strerror or str(exc)))
        else:
            self.report.removed.append(item)

    def folder(self, item: PlanItem, check: Callable[[], PlanItem | None] | None = None) -> None:
        """Remove a folder, deciding it first with ``check`` when given (right before)."""
        decided = item if check is None else check()
        if decided is None:
            self.report.vanished.append(item)
            return
        if decided.decision is not Decision.DELETE:
            if _renamed_meanwhile(decided):
                self.report.vanished.append(decided)
            else:
                _record(self.report, decided)
            return
        self.record(decided, remove_path(decided.path, device=os.lstat(decided.path.parent).st_dev))

    def record(self, item: PlanItem, removal: Removal) -> None:
        """What removing a folder decided ``delete`` did."""
        if removal.vanished:
            self.report.vanished.append(item)
        elif removal.failures:
            self.report.failed.extend(removal.failures)
        else:
            self.report.removed.append(item)

    def worktree(self, item: PlanItem, clock: Clock) -> None:
        from pytest_tapps.core._worktrees import remove as remove_worktree

        assert item.worktree is not None  # noqa: S101 -- worktree items carry their info
        done = remove_worktree(self.layout, item.worktree.name, clock=clock, info=item.worktree)
        self.report.notes.extend(done.notes)
        failures = done.removal.failures if done.removal is not None else []
        if failures:
            self.report.failed.extend(failures)
        else:
            self.report.removed.append(item)

    def take(self, item: PlanItem, clock: Clock) -> None:
        """Delete one item decided ``delete``, the way its kind needs."""
        if item.worktree is not None:
            self.worktree(item, clock)
        elif item.kind == "folder":
            self.folder(item)
        else:
            self.file(item)


def _record(report: CleanupReport, item: PlanItem) -> None:
    if item.decision is Decision.KEEP:
        report.kept[item.category] += 1
    elif item.decision is Decision.SKIP:
        report.skipped.append((item, item.reason))


class _FolderRun:
    """One category folder being cleaned: what each worker needs to decide and delete."""

    def __init__(
        self,
        scan: _Scan,
        category: RetentionCategory,
        *,
        report: CleanupReport,
        remover: _Remover,
        fd: int,
        prefix: str,
        device: int,
        processes: int = 1,
    ) -> None:
        self.scan, self.category, self.report, self.remover = scan, category, report, remover
        self.fd, self.prefix, self.device, self.processes = fd, prefix, device, processes

    def _forked(self, entries: list[os.DirEntry[str]], tick: Callable[[int], None]) -> None:
        """Split a large folder over processes: each child takes the plain expired files of its
        share (stat, then unlink at once, as in :meth:`entries`) and reports back; everything
        else (links, folders, locked or odd files) comes back to this process to decide."""
        shares = [entries[i :: self.processes] for i in range(self.processes)]
        results = fork_map(
            shares, self._plain_files, lambda share: self.entries(share, tick, split=False)
        )
        for share, (data, ok) in zip(shares[1:], results, strict=True):
            self._merge(data, share, tick, ok=ok)

    def _plain_files(self, share: list[os.DirEntry[str]]) -> bytes:
        """In a child: delete the plain expired files of ``share``; encode what happened.

        Records are ``kind NUL name NUL mtime NUL age NUL detail NUL`` (names cannot hold NUL):
        R removed, V vanished, F failed (detail: the error), D deferred to the parent, K kept
        (name: the count)."""
        limit = self.scan.policy.ages[self.category.name]
        keep_until = _keep_until(limit)
        now, fd = self.scan.now, self.fd
        held, probe = _lock_check(self.scan.locks)
        matcher = _matcher(self.category.pattern).match
        out: list[str] = []
        add = out.append
        kept = 0
        for entry in share:
            name = entry.name
            if name.startswith(TOMBSTONE_PREFIX) or not matcher(name):
                add(f"D\0{name}\0\0\0\0")
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError:
                add(f"D\0{name}\0\0\0\0")  # cannot be stat-ed: the parent reports it
                continue
            age = now - st.st_mtime
            if stat.S_ISREG(st.st_mode) and age >= 0 and (keep_until is None or age <= keep_until):
                kept += 1
                continue
            if (
                not stat.S_ISREG(st.st_mode)
                or age < 0
                or (st.st_dev, st.st_ino) in held
                or (probe and is_locked(name, st, None, dir_fd=fd))
            ):
                add(f"D\0{name}\0\0\0\0")
                continue
            fields = f"\0{name}\0{st.st_mtime!r}\0{age!r}\0{st.st_size}\0"
            try:
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                add("V" + fields)
            except OSError as exc:
                add(f"F\0{name}\0\0\0{exc.strerror or exc}\0")
            else:
                add("R" + fields)
        add(f"K\0{kept}\0\0\0\0")
        return "".join(out).encode("utf-8", "surrogateescape")

    def _merge(
        self, data: bytes, share: list[os.DirEntry[str]], tick: Callable[[int], None], *, ok: bool
    ) -> None:
        """Fold a child's records into the report; decide its deferred entries here."""
        fields = data.decode("utf-8", "surrogateescape").split("\0")
        limit = self.scan.policy.ages[self.category.name]
        expired = f"older than {format_duration(limit)}" if limit is not None else ""
        report, prefix, name_of = self.report, self.prefix, self.category.name
        deferred: set[str] = set()
        seen_end = False
        for index in range(0, len(fields) - 4, 5):
            kind, name, mtime, age, detail = fields[index : index + 5]
            if kind == "K":
                report.kept[name_of] += int(name)
                seen_end = True
            elif kind == "D":
                deferred.add(name)
            elif kind == "F":
                report.failed.append((Path(prefix + name), detail))
            else:
                item = PlanItem(
                    prefix + name,
                    name_of,
                    Decision.DELETE,
                    expired,
                    "file",
                    float(mtime),
                    float(age),
                    limit,
                    int(detail),
                )
                (report.removed if kind == "R" else report.vanished).append(item)
        if not (ok and seen_end):
            report.failed.append((Path(prefix.rstrip(os.sep)), "a cleanup worker process died"))
            return
        if deferred:
            self.entries([e for e in share if e.name in deferred], tick, split=False)

    def entries(
        self, entries: list[os.DirEntry[str]], tick: Callable[[int], None], *, split: bool = True
    ) -> None:
        """Decide and delete the folder's entries. Regular files take a fast path: the ``lstat``
        that decides, then at once ``unlink`` relative to the open folder. (This loop runs per
        file over 100,000-file folders, so it binds what it uses to locals.)"""
        if split and self.processes > 1 and len(entries) >= FORK_THRESHOLD and self.scan.can_fork():
            self._forked(entries, tick)
            return
        category, report, fd, prefix = self.category, self.report, self.fd, self.prefix
        name_of = category.name
        limit = self.scan.policy.ages[name_of]
        keep_until = _keep_until(limit)
        expired = None if limit is None else f"older than {format_duration(limit)}"
        now = self.scan.now
        held, probe = _lock_check(self.scan.locks)
        matcher = _matcher(category.pattern).match
        removed, vanished, failed = report.removed, report.vanished, report.failed
        unlink, is_reg, delete = os.unlink, stat.S_ISREG, Decision.DELETE
        kept = 0
        for index, entry in enumerate(entries):
            if not index & 1023:
                tick(index)
            name = entry.name
            tombstone = name.startswith(TOMBSTONE_PREFIX)
            if not tombstone and not matcher(name):
                item = PlanItem(prefix + name, name_of, Decision.SKIP, "no policy", "file")
                report.skipped.append((item, item.reason))
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:  # a folder that may be listed but not searched
                self.unreadable(entry, exc)
                continue
            if is_reg(st.st_mode) and not tombstone:
                age = now - st.st_mtime
                if age >= 0 and (keep_until is None or age <= keep_until):
                    kept += 1
                    continue
                if (
                    expired is not None
                    and age >= 0
                    and (st.st_dev, st.st_ino) not in held
                    and not (probe and is_locked(name, st, None, dir_fd=fd))
                ):
                    item = PlanItem(
                        prefix + name,
                        name_of,
                        delete,
                        expired,
                        "file",
                        st.st_mtime,
                        age,
                        limit,
                        st.st_size,
                    )
                    try:
                        unlink(name, dir_fd=fd)
                    except FileNotFoundError:
                        vanished.append(item)
                    except OSError as exc:
                        failed.append((item.path, exc.strerror or str(exc)))
                    else:
                        removed.append(item)
                    continue
            self.other(prefix + name, st, tombstone)
        report.kept[name_of] += kept

    def unreadable(self, entry: os.DirEntry[str], exc: OSError) -> None:
        """An entry that cannot be stat-ed (its folder may be listed, not searched): skipped."""
        reason = _unreadable(("", exc.strerror or str(exc)))
        item = PlanItem(
            self.prefix + entry.name, self.category.name, Decision.SKIP, reason, _kind(entry)
        )
        _record(self.report, item)

    def other(self, location: str, st: os.stat_result, tombstone: bool) -> None:
        """Links, folders, locked or odd files: the general decision."""
        scan, category = self.scan, self.category
        if stat.S_ISDIR(st.st_mode) and not tombstone:
            # A folder is walked through descriptors, decided, and if expired removed from that
            # walk's listing at once, relative to this category's open folder (never through a
            # link swapped into the path meanwhile).
            name = location[len(self.prefix) :]
            walked = walk_at(self.fd, name, self.device, scan.locks)
            if walked is None:  # not a plain folder here now: the path-based way tells what
                pending = PlanItem(location, category.name, Decision.DELETE, "", "folder")
                self.remover.folder(pending, _checker(scan, location, category, self.device))
                return
            try:
                item = scan.folder_item(location, category, walked, walked.st.st_mtime)
                if _renamed_meanwhile(item, walked.st):
                    self.report.vanished.append(item)
                elif item.decision is not Decision.DELETE:
                    _record(self.report, item)
                else:
                    removal = remove_walked(self.fd, name, walked, location, self.device)
                    self.remover.record(item, removal)
            finally:
                os.close(walked.fd)
            return
        item = scan.decide(location, st, category, self.device)
        if item.decision is not Decision.DELETE:
            _record(self.report, item)
        elif item.kind == "folder":
            self.remover.folder(item)
        else:
            self.remover.file(item)


def _run_category(
    scan: _Scan,
    category: RetentionCategory,
    report: CleanupReport,
    remover: _Remover,
    tick: Callable[[int], None],
    *,
    processes: int = 1,
) -> None:
    """One category in one pass (a folder of at least FORK_THRESHOLD entries is split over
    ``processes``). A folder that cannot be read is a failure; the run goes on."""
    folder = category.folder(scan.layout)
    if folder is None:
        return
    try:
        if not (folder.exists() or folder.is_symlink()):
            return
        if not folder.is_dir() or not scan.folder_inside(folder, category):
            for found in scan.category_entries(category):  # a refused folder, or the profile
                if isinstance(found, PlanItem):
                    _record(report, found)
                else:
                    location, st, device = found
                    assert st is not None  # noqa: S101 -- category_entries stats children
                    _record(report, scan.decide(location, st, category, device))
            return
        fd = open_folder(folder)
    except OSError as exc:
        report.failed.append((folder, _unlisted(exc)))
        return
    try:
        run = _FolderRun(
            scan,
            category,
            report=report,
            remover=remover,
            fd=fd,
            prefix=os.fspath(folder) + os.sep,
            device=os.fstat(fd).st_dev,
            processes=processes,
        )
        try:
            with os.scandir(fd) as listing:
                entries = list(listing)
        except OSError as exc:  # a folder that may be searched but not listed
            report.failed.append((folder, _unlisted(exc)))
            return
        # One thread: threads over one folder contend for its lock and for the GIL, and
        # measured slower (bench/bench_cleanup.py); a large folder is split over processes.
        run.entries(entries, tick)
    finally:
        os.close(fd)


#: What happened to one plain worktree: ``(kind, name, reason, timestamp, age, size, newest)``,
#: kind R removed, V vanished, K kept, S skipped, or F failed (name: the path, reason: the
#: error).
_Record = tuple[str, str, str, float | None, float | None, int, float | None]


def _plain_worktree_records(
    scan: _Scan, infos: Iterable[WorktreeInfo], decided: dict[str, PlanItem]
) -> list[_Record]:
    """Walk, decide and remove plain worktree folders; say what happened to each (and keep
    each decision in ``decided``, for the process that merges the records to reuse its own).

    Each folder is walked through descriptors (:func:`walk_at`) and, if expired, removed from
    that walk's listing at once; one that is not a plain folder any more takes the path-based
    way."""
    from pytest_tapps.core._worktrees import measure_into, walk_into

    out: list[_Record] = []
    folder = scan.layout.worktrees_dir
    device = folder.stat().st_dev
    try:
        folder_fd: int | None = open_folder(folder)
    except OSError:
        folder_fd = None  # each worktree reports its own error the path-based way
    try:
        for info in infos:
            walked = None if folder_fd is None else walk_into(info, folder_fd, device, scan.locks)
            if walked is None:
                measure_into(info, device, scan.locks)
            try:
                item = scan.worktree(info)
                removal = None
                if _renamed_meanwhile(item, None if walked is None else walked.st):
                    removal = Removal()
                    removal.vanished = True
                elif item.decision is Decision.DELETE:
                    removal = (
                        remove_path(info.path, device=device)
                        if walked is None or folder_fd is None
                        else remove_walked(folder_fd, info.name, walked, item.location, device)
                    )
            finally:
                if walked is not None:
                    os.close(walked.fd)
            decided[info.name] = item
            out.extend(_worktree_records(info, item, removal))
    finally:
        if folder_fd is not None:
            os.close(folder_fd)
    return out


def _worktree_records(info: WorktreeInfo, item: PlanItem, removal: Removal | None) -> list[_Record]:
    """What happened to one worktree (see :data:`_Record`)."""
    if removal is None:
        kind = "K" if item.decision is Decision.KEEP else "S"
    elif removal.vanished:
        kind = "V"
    elif removal.failures:
        return [("F", os.fspath(path), why, None, None, 0, None) for path, why in removal.failures]
    else:
        kind = "R"
    stamp, age = item.timestamp, item.age_seconds
    return [(kind, info.name, item.reason, stamp, age, info.size, info.newest_mtime)]


#: Plain worktree folders are handed out to the processes this many at a time.
_CHUNK = 4


def _run_plain_worktrees(
    scan: _Scan, plain: list[WorktreeInfo], report: CleanupReport, processes: int
) -> None:
    """Plain worktree folders (no git registration, no link): each is walked for its age,
    decided and removed in one go, by several processes when there are many, each taking the
    next few folders as it finishes its last (worktrees differ in size, and a process may share
    its core with other work)."""
    parts = processes if len(plain) >= 64 and scan.can_fork() else 1
    decided: dict[str, PlanItem] = {}  # this process's own
    if parts == 1:
        outputs: list[tuple[list[_Record] | None, bool]] = [
            (_plain_worktree_records(scan, plain, decided), True)
        ]
    else:
        outputs = fork_queue(
            len(plain),
            parts,
            lambda chunks: _plain_worktree_records(
                scan, (plain[i] for c in chunks for i in c), decided
            ),
            size=_CHUNK,
        )
    by_name = {info.name: info for info in plain}
    for records, ok in outputs:
        for kind, name, reason, stamp, age, size, newest in records or ():
            if kind == "F":
                report.failed.append((Path(name), reason))
                continue
            info = by_name[name]
            info.size, info.newest_mtime = size, newest  # measured in whichever process
            category = info.category
            if kind == "K":
                report.kept[category] += 1
                continue
            item = decided.get(name) or PlanItem(
                info.location,
                category,
                Decision.SKIP if kind == "S" else Decision.DELETE,
                reason,
                "worktree",
                stamp,
                age,
                scan.policy.ages[category],
                size,
                worktree=info,
            )
            if kind == "R":
                report.removed.append(item)
            elif kind == "V":
                report.vanished.append(item)
            else:
                report.skipped.append((item, item.reason))
        if not ok:
            report.failed.append((scan.layout.worktrees_dir, "a cleanup worker process died"))


def _run_worktrees(
    scan: _Scan,
    wanted: set[str] | None,
    report: CleanupReport,
    remover: _Remover,
    *,
    processes: int,
) -> None:
    """Every worktree: git's own removal for registered ones, links and tombstones on the
    remover, plain folders walked, decided and removed together (split over processes)."""
    plain: list[WorktreeInfo] = []
    for found in scan.worktrees(wanted, measure=False, failed=report.failed):
        if isinstance(found, PlanItem):
            item = found
        elif found.newest_mtime is None and found.exists and not found.is_symlink:
            plain.append(found)  # a plain folder, decided after its own walk
            continue
        else:
            item = scan.worktree(found)
        if item.decision is not Decision.DELETE:
            _record(report, item)
        elif item.worktree is not None and item.worktree.registered:
            remover.worktree(item, scan.clock)  # git's own removal, one at a time
        else:
            remover.folder(item)  # a link, a tombstone: on the pool
    if plain:
        _run_plain_worktrees(scan, plain, report, processes)


def run_cleanup(
    layout: Layout,
    *,
    policy: RetentionPolicy | None = None,
    clock: Clock = SYSTEM_CLOCK,
    only: Collection[str] | None = None,
    stuck_after: float = DEFAULT_STUCK_SECONDS,
    processes: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> CleanupReport:
    """Decide and delete in one pass: each item is deleted right after the check that decides
    it, in this process (threads measured slower on tmpfs: the GIL; bench/bench_cleanup.py).
    A folder of at least ``FORK_THRESHOLD`` entries is split over ``processes`` (default: the
    CPU count, at most 4) when this process runs a single thread: no GIL between them.
    ``progress(n)`` is called every 1,024 items of a folder."""
    if processes is None:
        processes = min(4, os.cpu_count() or 1)
    scan = _scan(layout, policy, clock, stuck_after)
    wanted = set(only) if only else None
    report = CleanupReport()
    remover = _Remover(layout, report)
    collecting = gc.isenabled()
    gc.disable()  # a run allocates an object per file and frees none: cycle scans are waste

    def tick(done: int) -> None:
        if progress is not None and done:
            progress(done)

    try:
        for category in CATEGORIES:
            if not category.worktrees and (wanted is None or category.name in wanted):
                _run_category(scan, category, report, remover, tick, processes=processes)
        if _wants_worktrees(wanted):
            _run_worktrees(scan, wanted, report, remover, processes=processes)
        if wanted is None:
            for item in scan.unclaimed():
                _record(report, item)
    finally:
        scan.reader.wait()
        if collecting:
            gc.enable()
    report.removed.sort(key=lambda item: item.location)
    report.vanished.sort(key=lambda item: item.location)
    report.skipped.sort(key=lambda pair: pair[0].location)
    report.failed.sort()
    return report


def _checker(
    scan: _Scan, location: str, category: RetentionCategory, device: int
) -> Callable[[], PlanItem | None]:
    def check() -> PlanItem | None:
        with contextlib.suppress(FileNotFoundError):
            return scan.decide(location, os.lstat(location), category, device)
        return None

    return check


def _recheck(
    scan: _Scan, item: PlanItem, worktrees: dict[str, WorktreeInfo] | OSError
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
    scan = _scan(layout, plan.policy, clock, stuck_after)
    worktrees: dict[str, WorktreeInfo] | OSError = {}
    if any(item.kind == "worktree" for item in targets):
        try:
            found = inventory(
                layout, clock=clock, stuck_after=stuck_after, locks=lambda: scan.locks
            )
            worktrees = {info.name: info for info in found}
        except OSError as exc:  # the worktrees folder cannot be read: each worktree fails
            worktrees = exc
    remover = _Remover(layout, report)
    for item in plan.items:
        if item.decision is not Decision.DELETE:
            _record(report, item)
    for index, item in enumerate(targets, start=1):
        if progress is not None:
            progress(index, len(targets))
        scan.now = clock.time()
        category = BY_NAME.get(item.category)
        parent = os.path.realpath(os.path.dirname(item.location))
        if not _inside(parent, scan.real_boundary(category)):
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
