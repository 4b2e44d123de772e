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

This module is the engine's one name for its callers; each idea is its own module:

- :mod:`._decide`: the retention decision, what is deleted, kept or skipped and why
  (:class:`Decision`, :class:`PlanItem`, :class:`Plan`, the rules);
- :mod:`._candidates`: what there is to decide (category folders, worktrees, unclaimed names);
- :mod:`._plan`: :func:`plan_cleanup` and :func:`apply_plan`;
- :mod:`._onepass`: :func:`run_cleanup`, the one-pass walk and removal;
- :mod:`._forks`: :func:`fork_map` and :func:`fork_queue`, the work split over processes;
- :mod:`._remove`, :mod:`._report`: deleting one decided item; :class:`CleanupReport`.
"""

from __future__ import annotations

from pytest_tapps.core._decide import Decision, Plan, PlanItem
from pytest_tapps.core._forks import fork_map, fork_queue
from pytest_tapps.core._onepass import run_cleanup
from pytest_tapps.core._plan import apply_plan, plan_cleanup
from pytest_tapps.core._report import ApplyReport, CleanupReport

__all__ = [
    "ApplyReport",
    "CleanupReport",
    "Decision",
    "Plan",
    "PlanItem",
    "apply_plan",
    "fork_map",
    "fork_queue",
    "plan_cleanup",
    "run_cleanup",
]
