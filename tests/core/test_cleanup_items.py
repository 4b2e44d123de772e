"""Tests for the rows of a cleanup's plan and report: each item's path, category, decision,
reason, kind, time, age, limit and size, as ``tapps cleanup --json`` prints them, planned and
in the one-pass run alike."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_tapps.core import Layout, VirtualClock
from pytest_tapps.core._cleanup import PlanItem, plan_cleanup, run_cleanup
from pytest_tapps.core._retention import DAY
from tests.core import test_cleanup
from tests.helpers import aged_file

NOW = 1768473000.0  # 2026-01-15T10:30:00Z
mount_in = test_cleanup.mount_in  # the fixture: a tmpfs mounted at a folder


def clock(now: float = NOW) -> VirtualClock:
    return VirtualClock(now)


def _rows(items: list[PlanItem], root: Path) -> dict[str, tuple[object, ...]]:
    """Each item by its path relative to ``root``: every field a plan row prints."""
    return {
        os.path.relpath(i.location, root): (
            i.category,
            i.decision.value,
            i.reason,
            i.kind,
            i.timestamp,
            i.age_seconds,
            i.max_age_seconds,
            i.size_bytes,
        )
        for i in items
    }


def test_expired_files_and_folders_are_reported_with_every_field(tmp_path: Path) -> None:
    """An expired file and an expired run folder carry their category, kind, time, age, the
    category's limit and size: in the plan, and as removed by the one-pass run."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "logs/debug/old.log", age=8 * DAY, now=NOW, content=b"12345")
    aged_file(t / "artifacts/workflows/run-1/a.json", age=40 * DAY, now=NOW, content=b"abc")
    aged_file(t / "artifacts/workflows/run-1/sub/b.json", age=31 * DAY, now=NOW, content=b"de")
    expected = {
        ".tapps-agents/logs/debug/old.log": (
            "debug_logs", "delete", "older than 7d", "file",
            NOW - 8 * DAY, 8 * DAY, 7 * DAY, 5,
        ),
        ".tapps-agents/artifacts/workflows/run-1": (
            "workflow_artifacts", "delete", "older than 30d", "folder",
            NOW - 31 * DAY, 31 * DAY, 30 * DAY, 5,
        ),
    }  # fmt: skip
    layout = Layout(tmp_path)
    assert _rows(plan_cleanup(layout, clock=clock()).items, tmp_path) == expected
    assert _rows(run_cleanup(layout, clock=clock()).removed, tmp_path) == expected


def test_kept_folders_carry_their_category_and_limit(tmp_path: Path) -> None:
    """A folder kept as too new, and one of a category that never expires, still name their
    category and its limit (None: never)."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "artifacts/workflows/run-2/a.json", age=2 * DAY, now=NOW)
    aged_file(t / "context7/cache/react/docs.md", age=400 * DAY, now=NOW)
    rows = _rows(plan_cleanup(Layout(tmp_path), clock=clock()).items, tmp_path)
    assert rows[".tapps-agents/artifacts/workflows/run-2"][:4] == (
        "workflow_artifacts",
        "keep",
        "too new",
        "folder",
    )
    assert rows[".tapps-agents/artifacts/workflows/run-2"][6] == 30 * DAY
    react = next(v for k, v in rows.items() if k.endswith("react"))
    assert (react[0], react[2], react[3], react[6]) == (
        "context7_cache",
        "never expires",
        "folder",
        None,
    )


def test_a_file_outside_the_pattern_is_a_skipped_file_of_no_policy(tmp_path: Path) -> None:
    """A file a category's pattern does not match is ``skip: no policy``, of kind file, in its
    category: planned and in the one-pass run; what no category covers is ``-``."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "analytics/history/notes.txt", age=400 * DAY, now=NOW)
    aged_file(t / "stray.txt", age=400 * DAY, now=NOW)
    (t / "odd-folder").mkdir()
    expected = {
        ".tapps-agents/analytics/history/notes.txt": (
            "analytics_history", "skip", "no policy", "file", None, None, None, 0,
        ),
        ".tapps-agents/odd-folder": ("-", "skip", "no policy", "folder", None, None, None, 0),
        ".tapps-agents/stray.txt": ("-", "skip", "no policy", "file", None, None, None, 0),
    }  # fmt: skip
    layout = Layout(tmp_path)
    assert _rows(plan_cleanup(layout, clock=clock()).items, tmp_path) == expected
    report = run_cleanup(layout, clock=clock())
    assert _rows([i for i, _ in report.skipped], tmp_path) == expected
    assert [why for _, why in report.skipped] == ["no policy"] * 3


@pytest.mark.parametrize(
    ("folder_name", "category", "inside"),
    [
        pytest.param("logs/debug", "debug_logs", "old.log", id="category-folder"),
        pytest.param("worktrees", "worktrees", "wt-old/a.txt", id="worktrees-folder"),
    ],
)
def test_a_folder_linked_out_is_one_skipped_folder(
    tmp_path: Path, folder_name: str, category: str, inside: str
) -> None:
    """A category folder (the worktrees folder too) that is a link out of the tree is one
    item: the folder, skipped as ``symlink target outside``, in its category; nothing behind
    it is listed or removed."""
    outside = tmp_path / "outside"
    aged_file(outside / inside, age=30 * DAY, now=NOW)
    folder = tmp_path / ".tapps-agents" / folder_name
    folder.parent.mkdir(parents=True)
    folder.symlink_to(outside)
    expected = {
        f".tapps-agents/{folder_name}": (
            category, "skip", "symlink target outside", "folder", None, None, None, 0,
        )
    }  # fmt: skip
    layout = Layout(tmp_path)
    assert _rows(plan_cleanup(layout, clock=clock()).items, tmp_path) == expected
    report = run_cleanup(layout, clock=clock())
    assert _rows([i for i, _ in report.skipped], tmp_path) == expected
    assert (outside / inside).exists()


def test_links_are_items_at_their_own_path(tmp_path: Path) -> None:
    """A link to a file inside the tree is aged by its own time and named by its own path
    (kind link, its category's limit); a link out is skipped, with the limit still given."""
    debug = tmp_path / ".tapps-agents/logs/debug"
    target = aged_file(tmp_path / ".tapps-agents/logs/application/app.log", age=DAY, now=NOW)
    (debug / "inside.log").parent.mkdir(parents=True)
    (debug / "inside.log").symlink_to(target)
    (debug / "outside.log").symlink_to(tmp_path / "elsewhere.log")
    for name in ("inside.log", "outside.log"):
        os.utime(debug / name, (NOW - 9 * DAY, NOW - 9 * DAY), follow_symlinks=False)
    rows = _rows(plan_cleanup(Layout(tmp_path), clock=clock()).items, tmp_path)
    assert rows[".tapps-agents/logs/debug/inside.log"] == (
        "debug_logs", "delete", "older than 7d", "link", NOW - 9 * DAY, 9 * DAY, 7 * DAY, 0,
    )  # fmt: skip
    assert rows[".tapps-agents/logs/debug/outside.log"] == (
        "debug_logs", "skip", "symlink target outside", "link", None, None, 7 * DAY, 0,
    )  # fmt: skip


def test_a_symlinked_worktree_is_decided_by_where_it_points(tmp_path: Path) -> None:
    """A worktree that is a link out of the tree is skipped (``symlink target outside``); one
    linking inside the tree is an orphan aged by the link's own time."""
    trees = tmp_path / ".tapps-agents/worktrees"
    inner = aged_file(tmp_path / ".tapps-agents/artifacts/workflows/run/a.txt", age=DAY, now=NOW)
    trees.mkdir(parents=True)
    (trees / "wt-out").symlink_to(tmp_path)
    (trees / "wt-in").symlink_to(inner.parent)
    for name in ("wt-out", "wt-in"):
        os.utime(trees / name, (NOW - 9 * DAY, NOW - 9 * DAY), follow_symlinks=False)
    plan = plan_cleanup(Layout(tmp_path), clock=clock(), only=["orphan_worktrees"])
    assert {i.path.name: (i.category, i.label, i.kind) for i in plan.items} == {
        "wt-out": ("orphan_worktrees", "skip: symlink target outside", "worktree"),
        "wt-in": ("orphan_worktrees", "delete: older than 7d", "worktree"),
    }


def test_future_folders_and_worktrees_stay_in_the_plan(tmp_path: Path) -> None:
    """A run folder and a worktree whose newest file is in the future are planned (not taken
    for vanished) as ``skip: future timestamp``, and skipped by the one-pass run."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "artifacts/workflows/run-1/a.json", age=-3600, now=NOW)
    aged_file(t / "worktrees/wt-1/a.txt", age=-3600, now=NOW)
    expected = {
        ".tapps-agents/artifacts/workflows/run-1": "skip: future timestamp",
        ".tapps-agents/worktrees/wt-1": "skip: future timestamp",
    }
    layout = Layout(tmp_path)
    plan = plan_cleanup(layout, clock=clock())
    assert {os.path.relpath(i.location, tmp_path): i.label for i in plan.items} == expected
    report = run_cleanup(layout, clock=clock())
    got = {os.path.relpath(i.location, tmp_path): f"skip: {why}" for i, why in report.skipped}
    assert (got, report.vanished) == (expected, [])


def test_a_worktree_another_cleanup_empties_meanwhile_is_vanished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run takes a plain worktree folder while this one walks it: it is reported
    vanished (not removed, not a future timestamp)."""
    from pytest_tapps.core import _safedelete

    now = time.time() - 3600
    tree = aged_file(tmp_path / ".tapps-agents/worktrees/wt-1/a.txt", age=40 * DAY, now=now).parent
    tomb = tree.parent / f"{_safedelete.TOMBSTONE_PREFIX}wt-1-gone"
    test_cleanup.empty_when_opened(monkeypatch, tree, tomb)
    report = run_cleanup(Layout(tmp_path), clock=VirtualClock(now))
    assert ([i.path for i in report.vanished], report.removed, report.skipped) == ([tree], [], [])


def test_worktrees_are_measured_by_path_when_their_folder_cannot_be_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the worktrees folder cannot be opened for the walk, each plain worktree is walked
    by its path instead: an expired one with subfolders is removed (not taken for a mount
    point), a fresh one kept."""
    from pytest_tapps.core import _onepass, _safedelete

    trees = tmp_path / ".tapps-agents/worktrees"
    aged_file(trees / "wt-old/src/deep/a.py", age=9 * DAY, now=NOW)
    aged_file(trees / "wt-new/src/b.py", age=DAY, now=NOW)
    real_open = _safedelete.open_folder

    def refused(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
        if Path(path) == trees:
            raise PermissionError(13, "Permission denied")
        return real_open(path, dir_fd=dir_fd)

    monkeypatch.setattr(_onepass, "open_folder", refused)
    report = run_cleanup(Layout(tmp_path), clock=clock(), only=["orphan_worktrees"])
    assert _rows(report.removed, tmp_path) == {
        ".tapps-agents/worktrees/wt-old": (
            "orphan_worktrees", "delete", "older than 7d", "worktree",
            NOW - 9 * DAY, 9 * DAY, 7 * DAY, 1,
        )
    }  # fmt: skip
    assert (report.skipped, report.failed, dict(report.kept)) == ([], [], {"orphan_worktrees": 1})
    assert sorted(p.name for p in trees.iterdir()) == ["wt-new"]


def test_a_tombstone_in_the_worktrees_folder_is_finished(tmp_path: Path) -> None:
    """An unfinished deletion a dead cleanup left among the worktrees is removed by the next
    run as ``unfinished deletion of an earlier run``, beside an expired plain worktree."""
    trees = tmp_path / ".tapps-agents/worktrees"
    tomb = aged_file(
        trees / test_cleanup._tomb("wt-gone", test_cleanup._dead_pid()) / "a.txt", age=DAY, now=NOW
    ).parent
    aged_file(trees / "wt-old/a.txt", age=9 * DAY, now=NOW)
    report = run_cleanup(Layout(tmp_path), clock=clock())
    assert {i.path.name: (i.category, i.label) for i in report.removed} == {
        tomb.name: ("worktrees", "delete: unfinished deletion of an earlier run"),
        "wt-old": ("orphan_worktrees", "delete: older than 7d"),
    }
    assert list(trees.iterdir()) == []


def test_a_folder_that_cannot_be_opened_is_skipped_as_unreadable() -> None:
    """A run folder the cleanup may see but not open is ``skip: unreadable`` in the one-pass
    run (decided the path-based way), and nothing is removed from it."""
    from pytest_tapps.harness import Faults, project

    with project(fs="fake", clock=clock()) as built:
        built.file("artifacts/workflows/run-1/a.json", age="40d")
        faults = Faults(built)
        run = faults.permission_denied("artifacts/workflows/run-1")
        report = run_cleanup(built.layout, clock=clock())
        assert [(i.path, i.kind, why) for i, why in report.skipped] == [
            (run, "folder", "unreadable (Permission denied)")
        ]
        assert (report.removed, report.failed) == ([], [])
        faults.close()
        assert (run / "a.json").exists()


def test_a_run_folder_that_is_a_mount_point_is_skipped_whole(
    tmp_path: Path, mount_in: Callable[[Path], Path]
) -> None:
    """A run folder that is another filesystem's mount point is one skipped folder (``mount
    point``, its category's limit given), planned and in the one-pass run; nothing in it goes."""
    runs = tmp_path / ".tapps-agents/artifacts/workflows"
    mount = mount_in(runs / "run-m")
    precious = aged_file(mount / "a.json", age=60 * DAY, now=NOW)
    os.utime(mount, (NOW - 60 * DAY, NOW - 60 * DAY))
    expected = {
        ".tapps-agents/artifacts/workflows/run-m": (
            "workflow_artifacts", "skip", "mount point", "folder", None, None, 30 * DAY, 0,
        )
    }  # fmt: skip
    layout = Layout(tmp_path)
    assert _rows(plan_cleanup(layout, clock=clock()).items, tmp_path) == expected
    report = run_cleanup(layout, clock=clock())
    assert _rows([i for i, _ in report.skipped], tmp_path) == expected
    assert (report.removed, report.failed) == ([], [])
    assert precious.exists()


def test_expired_files_are_unlinked_in_the_folder_listed_not_through_a_swapped_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after a category folder is listed, it is moved away and a link to a folder outside
    put in its place: the expired file is unlinked in the folder that was listed, and the
    same-named file outside the project stays."""
    from pytest_tapps.core import _onepass

    debug = tmp_path / "p/.tapps-agents/logs/debug"
    aged_file(debug / "old.log", age=8 * DAY, now=NOW)
    precious = aged_file(tmp_path / "outside/old.log", age=8 * DAY, now=NOW)
    real_check = _onepass._lock_check

    def swap_then_check(locks: set[tuple[int, int]] | None) -> object:
        if not debug.is_symlink():
            debug.rename(debug.with_name("moved"))
            debug.symlink_to(precious.parent)
        return real_check(locks)

    monkeypatch.setattr(_onepass, "_lock_check", swap_then_check)
    report = run_cleanup(Layout(tmp_path / "p"), clock=clock(), only=["debug_logs"], processes=1)
    assert debug.is_symlink()  # the swap happened during the run
    assert precious.exists()
    assert not (debug.with_name("moved") / "old.log").exists()
    assert [i.path for i in report.removed] == [debug / "old.log"]
