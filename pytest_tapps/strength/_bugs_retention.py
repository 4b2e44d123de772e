"""Bugs of the catalogue: retention, cleanup, worktrees and the Context7 cache.

Each is a defect real cleanup code has shown, or plausibly would (the runbook's own sample
script and ``find`` commands, the real tapps-agents package: docs/conformance/), put into the
reference core while a cleanup, worktree or cache action runs. The core's functions are looked
up where it calls them (a method of ``Rules``, a module's global), so the ``tapps`` command
line, run in-process by ``command:``, has the defect too.
"""

from __future__ import annotations

import math
import os
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pytest_tapps.strength._bug import Bug, Patch, everywhere

#: The actions a retention defect lives in.
_CLEANUP = frozenset({"cleanup", "worktree_prune"})
_WORKTREES = frozenset({"cleanup", "worktree_prune", "worktree_list", "worktree_remove"})
_CACHE = frozenset({"cache_verify", "cache_recover", "cache_invalidate"})


def _delete(path: str) -> None:
    """``rm -rf``: what a careless implementation deletes with (links followed inside)."""
    found = Path(path)
    if found.is_dir() and not found.is_symlink():
        shutil.rmtree(found, ignore_errors=True)
    else:
        found.unlink(missing_ok=True)


def _worktree_rule(change: Callable[[Any], None]) -> Iterable[Patch]:
    """A patch of ``Rules.worktree`` that changes a worktree's facts before the core decides."""
    from pytest_tapps.core._decide import Rules

    original = Rules.worktree

    def worktree(self: Any, info: Any) -> Any:
        change(info)
        return original(self, info)

    return [Patch(Rules, "worktree", worktree)]


def _overrides_model(*, extra: str = "forbid", never: float | None = None) -> Callable[[], Any]:
    """The ``retention:`` model as the core builds it, with unknown keys ``extra`` and
    ``never`` read as ``never`` seconds."""
    from pydantic import ConfigDict, create_model, field_validator

    from pytest_tapps.core import _retention

    def age(value: Any, info: Any) -> float | None:
        read = _retention._age(value, info)
        return never if read is None else read

    def build() -> Any:
        fields: dict[str, Any] = {c.name: (float | None, None) for c in _retention.CATEGORIES}
        return create_model(
            "RetentionOverrides",
            __config__=ConfigDict(extra=extra),  # type: ignore[typeddict-item]
            __validators__={"age": field_validator("*", mode="before")(age)},
            **fields,
        )

    return build


def _defaults(change: Callable[[dict[str, float | None]], None]) -> Iterable[Patch]:
    """A patch of ``RetentionPolicy.defaults`` whose ages ``change`` edits."""
    from pytest_tapps.core._retention import CATEGORIES, RetentionPolicy

    def defaults(cls: type[RetentionPolicy]) -> RetentionPolicy:
        ages = {category.name: category.default for category in CATEGORIES}
        change(ages)
        return cls(ages)

    return [Patch(RetentionPolicy, "defaults", classmethod(defaults))]


# -- cleanup as a whole ----------------------------------------------------------------------------


class DryRunDeletes(Bug):
    name = "dry-run-deletes"
    runbook = "Cleanup Tools > Usage > Dry run"
    defect = "a dry run deletes every item it lists as to be deleted"
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._decide import Decision
        from pytest_tapps.core._plan import plan_cleanup

        def planned(*args: Any, **kwargs: Any) -> Any:
            plan = plan_cleanup(*args, **kwargs)
            for item in plan.by_decision(Decision.DELETE):
                _delete(item.location)
            return plan

        return everywhere(plan_cleanup, planned)


class OneAgeForEverything(Bug):
    name = "one-age-for-everything"
    runbook = "Cleanup Tools > Automated Cleanup Script"
    defect = (
        "one 30-day cutoff is applied to every category, as the sample script's --days 30 "
        "does, so 90-day analytics go at 31 days"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        def thirty(ages: dict[str, float | None]) -> None:
            for name, age in ages.items():
                if age:
                    ages[name] = 30 * 86400.0

        return _defaults(thirty)


class RetentionAtOrOver(Bug):
    name = "retention-at-or-over"
    runbook = "Worktree Cleanup and Management > Manual Cleanup Procedures > Bulk cleanup"
    defect = "an item exactly as old as its category's age is deleted (>= instead of >)"
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _onepass
        from pytest_tapps.core._decide import Rules

        original = Rules.age_decision

        def age_decision(self: Any, category: Any, timestamp: float) -> Any:
            limit = self.policy.ages[category.name]
            if limit and self.now - timestamp == limit:
                return original(self, category, timestamp - 1.0)  # "at the limit": expired
            return original(self, category, timestamp)

        def keep_until(limit: float | None) -> float | None:
            if limit is None:
                return None
            return -1.0 if limit == 0 else math.nextafter(limit, 0.0)

        return [
            Patch(Rules, "age_decision", age_decision),
            Patch(_onepass, "_keep_until", keep_until),
        ]


class FutureTimestampDeleted(Bug):
    name = "future-timestamp-deleted"
    runbook = "Cleanup Tools > Automated Cleanup Script"
    defect = "a file stamped in the future (clock skew) is taken as expired and deleted"
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._decide import Decision, Rules

        original = Rules.age_decision

        def age_decision(self: Any, category: Any, timestamp: float) -> Any:
            if timestamp > self.now and self.policy.ages[category.name] is not None:
                return Decision.DELETE, "older than its age", self.now - timestamp
            return original(self, category, timestamp)

        return [Patch(Rules, "age_decision", age_decision)]


class AnalyticsPatternIgnored(Bug):
    name = "analytics-pattern-ignored"
    runbook = "Cleanup Tools > Manual Cleanup Commands > Remove old analytics"
    defect = "every old file in analytics/history is deleted, not only the *.jsonl files"
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._decide import pattern_matcher

        return everywhere(pattern_matcher, lambda pattern: pattern_matcher("*"))


class FollowsSymlink(Bug):
    name = "follows-symlink"
    runbook = "Cleanup Tools > Manual Cleanup Commands > Remove old analytics"
    defect = (
        "a link in a category folder is aged and deleted through its target, so a folder "
        "outside the project it points at is deleted"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._decide import PlanItem, Rules
        from pytest_tapps.core._remove import Remover
        from pytest_tapps.core._safedelete import walk_stats

        decide = Rules.decide

        def followed(self: Any, location: str, st: Any, category: Any, device: int) -> Any:
            if not stat.S_ISLNK(st.st_mode):
                return decide(self, location, st, category, device)
            target = Path(location).stat()  # follows the link
            stamp = target.st_mtime
            if stat.S_ISDIR(target.st_mode):  # a folder: by its newest file, as any folder
                found = walk_stats(os.path.realpath(location), target.st_dev, self.locks)
                stamp = found.newest_mtime if found.newest_mtime is not None else stamp
            decision, reason, age = self.age_decision(category, stamp)
            limit = self.policy.ages[category.name]
            kind = "folder" if stat.S_ISDIR(target.st_mode) else "file"
            return PlanItem(location, category.name, decision, reason, kind, stamp, age, limit)

        def removed(self: Any, item: Any, check: Any = None) -> None:
            _delete(os.path.realpath(item.location))
            _delete(item.location)
            self.report.removed.append(item)

        return [Patch(Rules, "decide", followed), Patch(Remover, "folder", removed)]


class TombstoneAnyone(Bug):
    name = "tombstone-anyone"
    runbook = "Cleanup Tools > Usage > Actual cleanup"
    defect = (
        "anything named .tapps-deleting-* is finished as an unfinished deletion, even a "
        "user's fresh file or folder"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._decide import Decision, PlanItem, Rules

        def tombstone(self: Any, location: str, st: Any, category: str, pattern: str = "*") -> Any:
            kind = "folder" if stat.S_ISDIR(st.st_mode) else "file"
            reason = "unfinished deletion of an earlier run"
            return PlanItem(location, category, Decision.DELETE, reason, kind)

        return [Patch(Rules, "tombstone", tombstone)]


class EmptyFolderAgedAsAncient(Bug):
    name = "empty-folder-aged-as-ancient"
    runbook = "Data Retention Policies > Worktrees > Failed worktrees"
    defect = (
        "a folder with no file inside has no newest file and is taken as infinitely old "
        "(deleted at once), instead of being aged by its own time"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._decide import Rules

        folder_item = Rules.folder_item

        def aged(self: Any, location: str, category: Any, found: Any, folder_mtime: float) -> Any:
            if found.newest_mtime is None:
                folder_mtime = 0.0
            return folder_item(self, location, category, found, folder_mtime)

        def empty(info: Any) -> None:
            if info.exists and not info.is_symlink and _holds_no_file(info.location):
                info.newest_mtime, info.completed_at = 0.0, None

        return [Patch(Rules, "folder_item", aged), *_worktree_rule(empty)]


def _holds_no_file(folder: str) -> bool:
    return not any(files for _, _, files in os.walk(folder))


# -- retention configuration ---------------------------------------------------------------------


class ConfigTypoAccepted(Bug):
    name = "config-typo-accepted"
    runbook = "Data Retention Policies > Logs > Debug logs"
    defect = (
        "a misspelt category in config.yaml's retention: section is ignored silently, so the "
        "intended age never applies and no error names the line"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _retention

        return [Patch(_retention, "_overrides_model", _overrides_model(extra="ignore"))]


class RetentionNeverAsZero(Bug):
    name = "retention-never-as-zero"
    runbook = "Data Retention Policies > Logs > Application logs"
    defect = "an age of 'never' in config.yaml is read as 0 days, so everything expires at once"
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _retention

        return [Patch(_retention, "_overrides_model", _overrides_model(never=0.0))]


class Context7CacheExpires(Bug):
    name = "context7-cache-expires"
    runbook = "Data Retention Policies > Cache > Context7 cache"
    defect = "the Context7 cache, which never expires automatically, is aged out at 30 days"
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        def expiring(ages: dict[str, float | None]) -> None:
            ages["context7_cache"] = 30 * 86400.0

        return _defaults(expiring)


# -- worktrees -----------------------------------------------------------------------------------


class WorktreeAgedByFolderMtime(Bug):
    name = "worktree-aged-by-folder-mtime"
    runbook = "Worktree Cleanup and Management > Manual Cleanup Procedures > Bulk cleanup"
    defect = (
        "a worktree is aged by its folder's own mtime, not by its newest file, so a worktree "
        "with a fresh file in an old folder is removed"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        def by_folder(info: Any) -> None:
            if info.exists and not info.is_symlink:
                info.newest_mtime = os.lstat(info.location).st_mtime

        return _worktree_rule(by_folder)


class FindDeletesWorktreesFolder(Bug):
    name = "find-deletes-worktrees-folder"
    runbook = "Cleanup Tools > Manual Cleanup Commands > Remove old worktrees"
    defect = (
        "find .tapps-agents/worktrees -type d -mtime +7 -exec rm -rf: the worktrees folder "
        "itself matches once its own mtime is old, and goes with every worktree in it"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._onepass import run_cleanup
        from pytest_tapps.core._plan import apply_plan

        def old_folder_first(layout: Any, clock: Any) -> None:
            folder = layout.worktrees_dir
            limit = 7 * 86400.0
            if folder.is_dir() and clock.time() - folder.stat().st_mtime > limit:
                _delete(os.fspath(folder))

        def run(layout: Any, **kwargs: Any) -> Any:
            from pytest_tapps.core import SYSTEM_CLOCK

            old_folder_first(layout, kwargs.get("clock", SYSTEM_CLOCK))
            return run_cleanup(layout, **kwargs)

        def apply(layout: Any, plan: Any, **kwargs: Any) -> Any:
            from pytest_tapps.core import SYSTEM_CLOCK

            old_folder_first(layout, kwargs.get("clock", SYSTEM_CLOCK))
            return apply_plan(layout, plan, **kwargs)

        return [*everywhere(run_cleanup, run), *everywhere(apply_plan, apply)]


class CompletedWorktreeKept(Bug):
    name = "completed-worktree-kept"
    runbook = "Data Retention Policies > Worktrees > Completed worktrees"
    defect = (
        "a completed workflow's worktree is kept 7 days like a failed one's, instead of being "
        "removed at once"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        def as_failed(info: Any) -> None:
            if info.category == "completed_worktrees":
                info.category = "failed_worktrees"

        return _worktree_rule(as_failed)


class RunningWorktreeRemoved(Bug):
    name = "running-worktree-removed"
    runbook = "Data Retention Policies > Worktrees > Stuck worktrees"
    defect = (
        "a running (or stuck) workflow's worktree is aged like a failed one's and removed after "
        "7 days, under the executor still using it"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        def as_failed(info: Any) -> None:
            if info.status in ("active", "stuck"):
                info.status, info.category = "failed", "failed_worktrees"

        return _worktree_rule(as_failed)


class UserBranchDeleted(Bug):
    name = "user-branch-deleted"
    runbook = (
        "Worktree Cleanup and Management > Manual Cleanup Procedures > Remove specific worktree"
    )
    defect = (
        "removing a worktree deletes whatever branch it has checked out, the user's own "
        "feature branch included, not only the workflow/<name> branch made for it"
    )
    actions = _WORKTREES

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._worktrees import WorktreeInfo

        return [Patch(WorktreeInfo, "made_for_workflow", lambda self, layout: True)]


# -- the Context7 cache ---------------------------------------------------------------------------


class CacheVerifySkipsHashes(Bug):
    name = "cache-verify-skips-hashes"
    runbook = "Cache Invalidation and Recovery > Context7 Cache > Recovery > Cache corruption"
    defect = (
        "cache verify checks that documents are there and parse, not their recorded sha256, so "
        "a changed or garbled document passes"
    )
    actions = _CACHE

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core import _cache

        original = _cache._document_problem

        def problem(name: str, path: Any, expected: Any) -> str | None:
            found = original(name, path, expected)
            return None if found is not None and found.startswith("hash mismatch") else found

        return [Patch(_cache, "_document_problem", problem)]


class CacheRecoverClearsAll(Bug):
    name = "cache-recover-clears-all"
    runbook = "Cache Invalidation and Recovery > Context7 Cache > Recovery > Cache corruption"
    defect = (
        "cache recovery clears the whole Context7 cache when any entry is corrupt, not only "
        "the corrupt entries"
    )
    actions = _CACHE

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._cache import invalidate_all, recover

        def clear_all(layout: Any, *, dry_run: bool = False) -> Any:
            corrupt = recover(layout, dry_run=dry_run)
            if corrupt and not dry_run:
                invalidate_all(layout)
            return corrupt

        return everywhere(recover, clear_all)


class DeletesLockedFile(Bug):
    name = "deletes-locked-file"
    runbook = "Cleanup Tools > Automated Cleanup Script"
    defect = (
        "a file a running program holds a lock on is deleted once it is past its age, as the "
        "runbook's find command would"
    )
    actions = _CLEANUP

    def patches(self) -> Iterable[Patch]:
        from pytest_tapps.core._proclocks import locked_inodes
        from pytest_tapps.core._safedelete import is_locked

        def no_locks() -> set[tuple[int, int]]:
            return set()

        def never_locked(*args: Any, **kwargs: Any) -> bool:
            return False

        return [*everywhere(locked_inodes, no_locks), *everywhere(is_locked, never_locked)]


RETENTION_BUGS: tuple[type[Bug], ...] = (
    DryRunDeletes,
    OneAgeForEverything,
    RetentionAtOrOver,
    FutureTimestampDeleted,
    AnalyticsPatternIgnored,
    FollowsSymlink,
    TombstoneAnyone,
    EmptyFolderAgedAsAncient,
    ConfigTypoAccepted,
    RetentionNeverAsZero,
    Context7CacheExpires,
    WorktreeAgedByFolderMtime,
    FindDeletesWorktreesFolder,
    CompletedWorktreeKept,
    RunningWorktreeRemoved,
    UserBranchDeleted,
    CacheVerifySkipsHashes,
    CacheRecoverClearsAll,
    DeletesLockedFile,
)
