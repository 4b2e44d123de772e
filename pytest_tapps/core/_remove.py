"""Deleting one decided item, in this process, the way its kind needs (a file, a folder through
:func:`~._safedelete.remove_path`, a worktree through git), into a :class:`~._report.CleanupReport`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pytest_tapps.core._clock import Clock
from pytest_tapps.core._decide import Decision, PlanItem, renamed_meanwhile
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._report import CleanupReport, record
from pytest_tapps.core._safedelete import Removal, remove_path


class Remover:
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
            if renamed_meanwhile(decided):
                self.report.vanished.append(decided)
            else:
                record(self.report, decided)
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
