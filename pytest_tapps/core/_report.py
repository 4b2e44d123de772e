"""What a cleanup run did: :class:`CleanupReport` (removed, skipped with the reason, failed,
vanished, kept per category), and :func:`record` for an item not deleted.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pytest_tapps.core._decide import Decision, PlanItem
from pytest_tapps.core._record import Record


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


def record(report: CleanupReport, item: PlanItem) -> None:
    """Count an item not deleted: kept, per category; skipped, with its reason."""
    if item.decision is Decision.KEEP:
        report.kept[item.category] += 1
    elif item.decision is Decision.SKIP:
        report.skipped.append((item, item.reason))
