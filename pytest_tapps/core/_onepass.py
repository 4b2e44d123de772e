"""The one-pass cleanup (what ``tapps cleanup`` does): :func:`run_cleanup` decides and deletes
item by item. The ``lstat`` that decides a file is the one just before its ``unlink``, both
relative to the open folder; a folder is removed right after the walk that ages it (from that
walk's listing); large folders and many plain worktree folders are shared out to forked
processes (:mod:`._forks`), which report back what they did.
"""

from __future__ import annotations

import contextlib
import gc
import os
import stat
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_tapps.core._candidates import Scan, kind_of, new_scan, unlisted, wants_worktrees
from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock
from pytest_tapps.core._decide import (
    Decision,
    PlanItem,
    pattern_matcher,
    renamed_meanwhile,
    unreadable_reason,
)
from pytest_tapps.core._durations import DEFAULT_STUCK_SECONDS, format_duration
from pytest_tapps.core._forks import can_fork, fork_map, fork_queue
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._remove import Remover
from pytest_tapps.core._report import CleanupReport, record
from pytest_tapps.core._retention import CATEGORIES, RetentionCategory, RetentionPolicy
from pytest_tapps.core._safedelete import (
    TOMBSTONE_PREFIX,
    Removal,
    is_locked,
    open_folder,
    remove_path,
    remove_walked,
    walk_at,
)

if TYPE_CHECKING:
    from pytest_tapps.core._worktrees import WorktreeInfo


#: Folders with at least this many entries are split over processes (see _FolderRun._forked).
FORK_THRESHOLD = 20_000


def _may_fork(scan: Scan) -> bool:
    """Whether work may be split over processes (once the lock reader has finished)."""
    scan.reader.result()
    return can_fork()


def _keep_until(limit: float | None) -> float | None:
    """The oldest age a fast path keeps, as :meth:`Rules.age_decision` decides: exactly the
    limit, nothing at all for a zero limit ("at once"), everything for ``None``."""
    return -1.0 if limit == 0 else limit


def _lock_check(
    locks: set[tuple[int, int]] | None,
) -> tuple[Collection[tuple[int, int]], bool]:
    """For the per-file loops: the locked inodes to look a file up in, and whether each regular
    file must be probed instead (:func:`is_locked`; /proc/locks unreadable: ``locks`` None)."""
    return (frozenset(), True) if locks is None else (locks, False)


class _FolderRun:
    """One category folder being cleaned: what each worker needs to decide and delete."""

    def __init__(
        self,
        scan: Scan,
        category: RetentionCategory,
        *,
        report: CleanupReport,
        remover: Remover,
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
        matcher = pattern_matcher(self.category.pattern).match
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
        if split and self.processes > 1 and len(entries) >= FORK_THRESHOLD and _may_fork(self.scan):
            self._forked(entries, tick)
            return
        category, report, fd, prefix = self.category, self.report, self.fd, self.prefix
        name_of = category.name
        limit = self.scan.policy.ages[name_of]
        keep_until = _keep_until(limit)
        expired = None if limit is None else f"older than {format_duration(limit)}"
        now = self.scan.now
        held, probe = _lock_check(self.scan.locks)
        matcher = pattern_matcher(category.pattern).match
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
        reason = unreadable_reason(("", exc.strerror or str(exc)))
        item = PlanItem(
            self.prefix + entry.name, self.category.name, Decision.SKIP, reason, kind_of(entry)
        )
        record(self.report, item)

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
                if renamed_meanwhile(item, walked.st):
                    self.report.vanished.append(item)
                elif item.decision is not Decision.DELETE:
                    record(self.report, item)
                else:
                    removal = remove_walked(self.fd, name, walked, location, self.device)
                    self.remover.record(item, removal)
            finally:
                os.close(walked.fd)
            return
        item = scan.decide(location, st, category, self.device)
        if item.decision is not Decision.DELETE:
            record(self.report, item)
        elif item.kind == "folder":
            self.remover.folder(item)
        else:
            self.remover.file(item)


def _run_category(
    scan: Scan,
    category: RetentionCategory,
    report: CleanupReport,
    remover: Remover,
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
                    record(report, found)
                else:
                    location, st, device = found
                    assert st is not None  # noqa: S101 -- category_entries stats children
                    record(report, scan.decide(location, st, category, device))
            return
        fd = open_folder(folder)
    except OSError as exc:
        report.failed.append((folder, unlisted(exc)))
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
            report.failed.append((folder, unlisted(exc)))
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
    scan: Scan, infos: Iterable[WorktreeInfo], decided: dict[str, PlanItem]
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
                if renamed_meanwhile(item, None if walked is None else walked.st):
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
    scan: Scan, plain: list[WorktreeInfo], report: CleanupReport, processes: int
) -> None:
    """Plain worktree folders (no git registration, no link): each is walked for its age,
    decided and removed in one go, by several processes when there are many, each taking the
    next few folders as it finishes its last (worktrees differ in size, and a process may share
    its core with other work)."""
    parts = processes if len(plain) >= 64 and _may_fork(scan) else 1
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
    scan: Scan,
    wanted: set[str] | None,
    report: CleanupReport,
    remover: Remover,
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
            record(report, item)
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
    scan = new_scan(layout, policy, clock, stuck_after)
    wanted = set(only) if only else None
    report = CleanupReport()
    remover = Remover(layout, report)
    collecting = gc.isenabled()
    gc.disable()  # a run allocates an object per file and frees none: cycle scans are waste

    def tick(done: int) -> None:
        if progress is not None and done:
            progress(done)

    try:
        for category in CATEGORIES:
            if not category.worktrees and (wanted is None or category.name in wanted):
                _run_category(scan, category, report, remover, tick, processes=processes)
        if wants_worktrees(wanted):
            _run_worktrees(scan, wanted, report, remover, processes=processes)
        if wanted is None:
            for item in scan.unclaimed():
                record(report, item)
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
    scan: Scan, location: str, category: RetentionCategory, device: int
) -> Callable[[], PlanItem | None]:
    def check() -> PlanItem | None:
        with contextlib.suppress(FileNotFoundError):
            return scan.decide(location, os.lstat(location), category, device)
        return None

    return check
