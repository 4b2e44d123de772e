"""The candidates of a cleanup: what is in each category's folder, the worktrees, and what no
retention category covers.

An item is a direct child of its category's folder (or a worktree). A category folder that is a
link out of the tree, or cannot be read, is one skipped item; a child that matches no pattern is
``skip: no policy``. Each candidate is decided by :class:`~._decide.Rules`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_tapps.core._clock import Clock
from pytest_tapps.core._decide import Decision, PlanItem, Rules, pattern_matcher, unreadable_reason
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._proclocks import lock_reader
from pytest_tapps.core._retention import (
    CATEGORIES,
    WORKTREE_CATEGORIES,
    RetentionCategory,
    RetentionPolicy,
    load_retention,
)
from pytest_tapps.core._safedelete import TOMBSTONE_PREFIX, is_tombstone

if TYPE_CHECKING:
    from pytest_tapps.core._worktrees import WorktreeInfo


#: Names under .tapps-agents/ that hold no retained data (state is managed, never aged).
_NOT_RETAINED = frozenset({"config.yaml", "workflow-state"})


def unlisted(exc: OSError) -> str:
    """The failure reason for a category folder that cannot be listed."""
    return f"cannot read the folder ({exc.strerror or exc}); nothing in it was checked"


def kind_of(entry: os.DirEntry[str]) -> str:
    """``folder`` or ``file`` from the listing alone (for an entry that cannot be stat-ed)."""
    with contextlib.suppress(OSError):
        if entry.is_dir(follow_symlinks=False):
            return "folder"
    return "file"


class Scan(Rules):
    """One pass over the tree: the :class:`Rules`, and the candidates they decide."""

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
            reason = unreadable_reason(("", exc.strerror or str(exc)))
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
        matcher = pattern_matcher(category.pattern)
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
                reason = unreadable_reason(("", exc.strerror or str(exc)))
                found.append(
                    PlanItem(entry.path, category.name, Decision.SKIP, reason, kind_of(entry))
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
                failed.append((folder, unlisted(exc)))
            else:
                reason = unreadable_reason(("", exc.strerror or str(exc)))
                yield PlanItem(os.fspath(folder), "worktrees", Decision.SKIP, reason, "folder")
            return
        for info in infos:
            if wanted is None or info.category in wanted:
                yield info
        for name in tombstones:
            found = self.worktrees_tombstone(os.fspath(folder / name))
            if found is not None:
                yield found

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


def new_scan(
    layout: Layout, policy: RetentionPolicy | None, clock: Clock, stuck_after: float
) -> Scan:
    """A pass at the clock's now, under ``policy`` (the project's own when None), its
    ``/proc/locks`` read started."""
    policy = policy if policy is not None else load_retention(layout)
    return Scan(
        layout, policy, now=clock.time(), reader=lock_reader(), clock=clock, stuck_after=stuck_after
    )


def wants_worktrees(wanted: set[str] | None) -> bool:
    """Whether the categories asked for (None: all) include a worktree category."""
    return wanted is None or bool(wanted & {c.name for c in WORKTREE_CATEGORIES})
