"""Tests for pytest_tapps.core._cleanup: planning decisions, safe application, adversarial trees."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_tapps.core import Layout, VirtualClock
from pytest_tapps.core._cleanup import (
    CleanupReport,
    Decision,
    Plan,
    apply_plan,
    plan_cleanup,
    run_cleanup,
)
from pytest_tapps.core._retention import DAY, RetentionPolicy
from pytest_tapps.harness import Faults, project
from pytest_tapps.strategies import TreeDescription, trees
from tests.core.test_worktrees import record
from tests.helpers import aged_file, flock_held, snapshot, state, write_current

NOW = 1768473000.0  # 2026-01-15T10:30:00Z


def clock() -> VirtualClock:
    return VirtualClock(NOW)


Clean = Callable[[Layout], CleanupReport]


@pytest.fixture(params=["plan-then-apply", "one-pass"])
def clean(request: pytest.FixtureRequest) -> Clean:
    """Both ways of deleting: apply_plan over a fresh plan, and run_cleanup's single pass."""
    if request.param == "one-pass":
        return lambda layout: run_cleanup(layout, clock=clock())
    return lambda layout: apply_plan(layout, plan_cleanup(layout, clock=clock()), clock=clock())


def labels(root: Path, **kwargs: object) -> dict[str, str]:
    plan = plan_cleanup(Layout(root), clock=clock(), **kwargs)  # type: ignore[arg-type]
    return {str(item.path.relative_to(root)): item.label for item in plan.items}


def test_each_category_expires_at_its_own_age(tmp_path: Path) -> None:
    """Per-category ages, not one --days for everything (the runbook sample's bug)."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "analytics/history/a.jsonl", age=40 * DAY, now=NOW)
    aged_file(t / "logs/debug/d.log", age=8 * DAY, now=NOW)
    aged_file(t / "logs/application/app.log", age=31 * DAY, now=NOW)
    aged_file(t / "metrics/performance/p.json", age=179 * DAY, now=NOW)
    aged_file(tmp_path / "reports/quality/q.html", age=91 * DAY, now=NOW)
    assert labels(tmp_path) == {
        ".tapps-agents/analytics/history/a.jsonl": "keep: too new",
        ".tapps-agents/logs/debug/d.log": "delete: older than 7d",
        ".tapps-agents/logs/application/app.log": "delete: older than 30d",
        ".tapps-agents/metrics/performance/p.json": "keep: too new",
        "reports/quality/q.html": "delete: older than 90d",
    }


def test_analytics_survive_until_ninety_days(tmp_path: Path) -> None:
    """The runbook's sample deletes analytics at 30 days; the policy keeps them 90."""
    history = tmp_path / ".tapps-agents/analytics/history"
    aged_file(history / "agents-2025-11-01.jsonl", age=75 * DAY, now=NOW)
    aged_file(history / "agents-2025-10-01.jsonl", age=90 * DAY + 1, now=NOW)
    plan = plan_cleanup(Layout(tmp_path), clock=clock())
    assert [(i.path.name, i.decision) for i in plan.items] == [
        ("agents-2025-10-01.jsonl", Decision.DELETE),
        ("agents-2025-11-01.jsonl", Decision.KEEP),
    ]


def test_never_expiring_categories_are_kept(tmp_path: Path) -> None:
    """Context7 cache and the project profile are never removed by retention."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "context7/cache/react/docs.md", age=3000 * DAY, now=NOW)
    aged_file(t / "project-profile.yaml", age=3000 * DAY, now=NOW)
    assert labels(tmp_path) == {
        ".tapps-agents/context7/cache/react": "keep: never expires",
        ".tapps-agents/project-profile.yaml": "keep: never expires",
    }


def test_a_folder_is_aged_by_its_newest_file(tmp_path: Path) -> None:
    """Editing one deep file keeps a whole run folder alive; folder times do not count."""
    runs = tmp_path / ".tapps-agents/artifacts/workflows"
    aged_file(runs / "old/a/b/c.txt", age=40 * DAY, now=NOW)
    aged_file(runs / "kept/a/b/c.txt", age=40 * DAY, now=NOW)
    aged_file(runs / "kept/deep/edited.txt", age=1 * DAY, now=NOW)
    os.utime(runs / "old", (NOW, NOW))  # a fresh folder time must not save an old folder
    assert labels(tmp_path) == {
        ".tapps-agents/artifacts/workflows/kept": "keep: too new",
        ".tapps-agents/artifacts/workflows/old": "delete: older than 30d",
    }


def test_future_timestamps_are_reported_never_deleted(tmp_path: Path) -> None:
    """Clock skew: a file from the future has age 0 and is skipped."""
    aged_file(tmp_path / ".tapps-agents/logs/debug/skew.log", age=-3600, now=NOW)
    plan = plan_cleanup(Layout(tmp_path), clock=clock())
    (item,) = plan.items
    assert (item.label, item.age_seconds) == ("skip: future timestamp", 0.0)


def test_files_outside_a_category_pattern_and_tree_are_not_touched(tmp_path: Path) -> None:
    """Analytics are *.jsonl only; unknown folders under .tapps-agents have no policy."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "analytics/history/notes.txt", age=400 * DAY, now=NOW)
    aged_file(t / "mystery/data.bin", age=400 * DAY, now=NOW)
    aged_file(t / "workflow-state/current_state.json", age=400 * DAY, now=NOW)
    assert labels(tmp_path) == {
        ".tapps-agents/analytics/history/notes.txt": "skip: no policy",
        ".tapps-agents/mystery": "skip: no policy",
    }


def test_only_limits_the_categories(tmp_path: Path) -> None:
    """--only plans just the named categories."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "analytics/history/a.jsonl", age=400 * DAY, now=NOW)
    aged_file(t / "logs/debug/d.log", age=400 * DAY, now=NOW)
    assert list(labels(tmp_path, only=["debug_logs"])) == [".tapps-agents/logs/debug/d.log"]


def test_apply_deletes_exactly_the_plan(tmp_path: Path) -> None:
    """What apply removes is what the plan said to delete; the rest stays byte for byte."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "logs/debug/old.log", age=8 * DAY, now=NOW)
    aged_file(t / "logs/debug/new.log", age=6 * DAY, now=NOW)
    aged_file(t / "artifacts/workflows/run-1/out/report.md", age=31 * DAY, now=NOW)
    layout = Layout(tmp_path)
    plan = plan_cleanup(layout, clock=clock())
    report = apply_plan(layout, plan, clock=clock())
    assert sorted(str(i.path.relative_to(tmp_path)) for i in report.removed) == [
        ".tapps-agents/artifacts/workflows/run-1",
        ".tapps-agents/logs/debug/old.log",
    ]
    assert report.ok
    assert (t / "logs/debug/new.log").exists()
    assert not (t / "artifacts/workflows/run-1").exists()
    assert [p.name for p in (t / "artifacts/workflows").iterdir()] == []


def test_apply_rechecks_items_changed_since_planning(tmp_path: Path) -> None:
    """A file touched after planning is kept; one removed meanwhile is counted as vanished."""
    t = tmp_path / ".tapps-agents"
    touched = aged_file(t / "logs/debug/touched.log", age=8 * DAY, now=NOW)
    gone = aged_file(t / "logs/debug/gone.log", age=8 * DAY, now=NOW)
    layout = Layout(tmp_path)
    plan = plan_cleanup(layout, clock=clock())
    os.utime(touched, (NOW, NOW))
    gone.unlink()
    report = apply_plan(layout, plan, clock=clock())
    assert [(i.path.name, why) for i, why in report.skipped] == [
        ("touched.log", "changed since planning: now keep: too new")
    ]
    assert [i.path.name for i in report.vanished] == ["gone.log"]
    assert touched.exists()


def test_symlinks_pointing_outside_survive_with_their_targets(tmp_path: Path, clean: Clean) -> None:
    """Links out of the tree in analytics and worktrees are skipped; targets untouched."""
    outside = tmp_path / "outside"
    aged_file(outside / "precious.jsonl", age=400 * DAY, now=NOW)
    t = tmp_path / "project/.tapps-agents"
    (t / "analytics/history").mkdir(parents=True)
    (t / "worktrees").mkdir(parents=True)
    (t / "analytics/history/evil.jsonl").symlink_to(outside / "precious.jsonl")
    (t / "worktrees/evil").symlink_to(outside)
    layout = Layout(tmp_path / "project")
    plan = plan_cleanup(layout, clock=clock())
    assert {i.path.name: i.label for i in plan.items} == {
        "evil.jsonl": "skip: symlink target outside",
        "evil": "skip: symlink target outside",
    }
    report = clean(layout)
    assert sorted(i.path.name for i, _ in report.skipped) == ["evil", "evil.jsonl"]
    assert (outside / "precious.jsonl").read_bytes() == b"x"
    assert (t / "analytics/history/evil.jsonl").is_symlink()


def test_links_inside_an_expired_folder_are_removed_as_links(tmp_path: Path, clean: Clean) -> None:
    """A link inside a folder being deleted goes as a link: its target outside survives."""
    outside = tmp_path / "outside"
    aged_file(outside / "keep.txt", age=400 * DAY, now=NOW)
    run = tmp_path / "project/.tapps-agents/artifacts/workflows/run-1"
    aged_file(run / "log.txt", age=40 * DAY, now=NOW)
    (run / "to-outside").symlink_to(outside)
    (run / "loop").symlink_to(run)
    os.utime(run / "to-outside", (NOW - 40 * DAY, NOW - 40 * DAY), follow_symlinks=False)
    os.utime(run / "loop", (NOW - 40 * DAY, NOW - 40 * DAY), follow_symlinks=False)
    layout = Layout(tmp_path / "project")
    report = clean(layout)
    assert [i.path.name for i in report.removed] == ["run-1"]
    assert not run.exists()
    assert (outside / "keep.txt").exists()


def test_link_loops_are_removed_as_links_without_looping(tmp_path: Path, clean: Clean) -> None:
    """A link to itself, and two links to each other, age and go as links: no hang, no error."""
    history = tmp_path / ".tapps-agents/analytics/history"
    history.mkdir(parents=True)
    (history / "self.jsonl").symlink_to("self.jsonl")
    (history / "a.jsonl").symlink_to("b.jsonl")
    (history / "b.jsonl").symlink_to("a.jsonl")
    for name in ("self.jsonl", "a.jsonl", "b.jsonl"):
        os.utime(history / name, (NOW - 100 * DAY, NOW - 100 * DAY), follow_symlinks=False)
    report = clean(Layout(tmp_path))
    assert sorted(i.path.name for i in report.removed) == ["a.jsonl", "b.jsonl", "self.jsonl"]
    assert report.ok
    assert list(history.iterdir()) == []


def test_a_category_folder_that_is_a_link_out_is_refused(tmp_path: Path) -> None:
    """If analytics/history itself links outside, nothing in it is planned."""
    outside = tmp_path / "outside"
    aged_file(outside / "a.jsonl", age=400 * DAY, now=NOW)
    (tmp_path / "p/.tapps-agents/analytics").mkdir(parents=True)
    (tmp_path / "p/.tapps-agents/analytics/history").symlink_to(outside)
    plan = plan_cleanup(Layout(tmp_path / "p"), clock=clock())
    assert [(i.path.name, i.label) for i in plan.items] == [
        ("history", "skip: symlink target outside")
    ]


@pytest.mark.parametrize(
    "name", ["a..b.jsonl", "with space.jsonl", "new\nline.jsonl", "-rf.jsonl", "ünïcödé.jsonl"]
)
def test_odd_names_are_planned_and_removed_like_any_other(
    tmp_path: Path, name: str, clean: Clean
) -> None:
    """Dots, spaces, newlines, dashes and unicode in names change nothing."""
    path = aged_file(tmp_path / ".tapps-agents/analytics/history" / name, age=91 * DAY, now=NOW)
    layout = Layout(tmp_path)
    report = clean(layout)
    assert [i.path for i in report.removed] == [path]


def test_non_utf8_names_are_removed(tmp_path: Path, clean: Clean) -> None:
    """A file name that is not UTF-8 is handled (surrogate-escaped), not a crash."""
    folder = tmp_path / ".tapps-agents/logs/debug"
    folder.mkdir(parents=True)
    raw = folder / os.fsdecode(b"bad-\xff.log")  # a surrogate-escaped name, as os gives it
    raw.write_bytes(b"x")
    os.utime(raw, (NOW - 8 * DAY, NOW - 8 * DAY))
    assert os.fsencode(raw.name) == b"bad-\xff.log"
    layout = Layout(tmp_path)
    report = clean(layout)
    assert len(report.removed) == 1
    assert list(folder.iterdir()) == []


def test_read_only_files_and_folders_are_removed_when_expired(tmp_path: Path, clean: Clean) -> None:
    """Read-only modes do not stop an expired folder from going (the folder is ours)."""
    run = tmp_path / ".tapps-agents/artifacts/workflows/run"
    ro = aged_file(run / "ro.txt", age=40 * DAY, now=NOW)
    ro.chmod(0o444)
    layout = Layout(tmp_path)
    report = clean(layout)
    assert report.ok
    assert not run.exists()


def test_a_file_locked_by_a_live_process_is_skipped(tmp_path: Path) -> None:
    """An expired file that a running process holds a lock on is not deleted."""
    path = aged_file(tmp_path / ".tapps-agents/logs/debug/busy.log", age=30 * DAY, now=NOW)
    with flock_held(path):
        os.utime(path, (NOW - 30 * DAY, NOW - 30 * DAY))
        layout = Layout(tmp_path)
        plan = plan_cleanup(layout, clock=clock())
        assert [i.label for i in plan.items] == ["skip: locked"]
        apply_plan(layout, plan, clock=clock())
        assert path.exists()
        report = run_cleanup(layout, clock=clock())
        assert [(i.path.name, why) for i, why in report.skipped] == [("busy.log", "locked")]
        assert path.exists()
    assert [i.label for i in plan_cleanup(Layout(tmp_path), clock=clock()).items] == [
        "delete: older than 7d"
    ]


@pytest.mark.parametrize("kind", ["flock", "posix"])
@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("proc_locks", ["read", "unreadable"])
def test_a_locked_file_among_many_survives_the_one_pass_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proc_locks: str, processes: int, kind: str
) -> None:
    """In a folder cleaned by the per-file fast path (and split over processes), an expired
    file a live process has locked, with flock or a POSIX lock, is skipped and the rest
    removed, whether the locks come from /proc/locks or, where it cannot be read, from probing
    each file."""
    from pytest_tapps.core import _onepass, _proclocks

    if proc_locks == "unreadable":
        monkeypatch.setattr(_proclocks, "locked_inodes", lambda: None)
    monkeypatch.setattr(_onepass, "FORK_THRESHOLD", 10)  # split this small folder too
    debug = tmp_path / ".tapps-agents/logs/debug"
    files = [aged_file(debug / f"f{i:02d}.log", age=30 * DAY, now=NOW) for i in range(40)]
    # The run lists the folder in this order and gives entry i to process i % processes: one
    # locked file in this process's share, one in a forked worker's.
    listed = [debug / entry.name for entry in os.scandir(debug)]
    busy = listed[:2]
    with flock_held(*busy, kind=kind):
        for path in busy:
            os.utime(path, (NOW - 30 * DAY, NOW - 30 * DAY))
        report = run_cleanup(Layout(tmp_path), clock=clock(), processes=processes)
        assert sorted((i.path.name, why) for i, why in report.skipped) == [
            (path.name, "locked") for path in sorted(busy)
        ]
        assert sorted(i.path.name for i in report.removed) == sorted(
            f.name for f in files if f not in busy
        )
        assert all(path.exists() for path in busy)


@pytest.mark.parametrize("proc_locks", ["read", "unreadable"])
def test_a_folder_holding_a_file_locked_by_a_live_process_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proc_locks: str
) -> None:
    """An expired worktree and an expired run folder, each with a file a running process
    holds a lock on, are skipped whole (planned and in one pass), whether the locks come from
    /proc/locks or, where it cannot be read, from probing each file; an unlocked sibling goes."""
    from pytest_tapps.core import _proclocks

    if proc_locks == "unreadable":
        monkeypatch.setattr(_proclocks, "locked_inodes", lambda: None)
    root = tmp_path / ".tapps-agents"
    busy_tree = aged_file(root / "worktrees/busy/src/a.py", age=30 * DAY, now=NOW)
    busy_run = aged_file(root / "artifacts/workflows/busy/out.json", age=60 * DAY, now=NOW)
    free = aged_file(root / "worktrees/free/src/a.py", age=30 * DAY, now=NOW)
    with flock_held(busy_tree), flock_held(busy_run):
        for path in (busy_tree, busy_run):
            os.utime(path, (NOW - 60 * DAY, NOW - 60 * DAY))
        layout = Layout(tmp_path)
        plan = plan_cleanup(layout, clock=clock())
        planned = {str(Path(i.location).relative_to(root)): i.label for i in plan.items}
        assert planned == {
            "artifacts/workflows/busy": "skip: locked",
            "worktrees/busy": "skip: locked",
            "worktrees/free": "delete: older than 7d",
        }
        report = run_cleanup(layout, clock=clock())
        assert sorted((i.path.name, why) for i, why in report.skipped) == [
            ("busy", "locked"),
            ("busy", "locked"),
        ]
        assert [i.path.name for i in report.removed] == ["free"]
        assert busy_tree.exists()
        assert busy_run.exists()
        assert not free.exists()


@pytest.fixture
def mount_in(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """Mount a fresh tmpfs at a folder (made as needed); unmounted after the test. Skips
    where mounting is not allowed (not root, no mount command)."""
    mounted: list[Path] = []

    def mount(folder: Path) -> Path:
        folder.mkdir(parents=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "none", str(folder)], capture_output=True, check=False
        )
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_folder_holding_a_mount_point_is_skipped_whole(
    tmp_path: Path, mount_in: Callable[[Path], Path]
) -> None:
    """An expired run folder and an expired worktree, each holding another filesystem's mount
    point, are skipped ('contains a mount point'), planned and in one pass: nothing around the
    mount or in it is removed, no tombstone is left."""
    root = tmp_path / ".tapps-agents"
    for folder in (root / "worktrees/wt", root / "artifacts/workflows/run"):
        aged_file(folder / "a.txt", age=60 * DAY, now=NOW)
        mount = mount_in(folder / "mnt")
        aged_file(mount / "precious.txt", age=60 * DAY, now=NOW)
        os.utime(folder / "mnt", (NOW - 60 * DAY, NOW - 60 * DAY))
    layout = Layout(tmp_path)
    planned = {Path(i.location).name: i.label for i in plan_cleanup(layout, clock=clock()).items}
    assert planned == {"wt": "skip: contains a mount point", "run": "skip: contains a mount point"}
    report = run_cleanup(layout, clock=clock())
    assert sorted(why for _, why in report.skipped) == ["contains a mount point"] * 2
    assert not report.removed
    for folder in (root / "worktrees/wt", root / "artifacts/workflows/run"):
        assert (folder / "a.txt").exists()
        assert (folder / "mnt/precious.txt").exists()
    assert not [p for p in (root / "worktrees").iterdir() if p.name.startswith(".tapps-deleting")]


def _nest(folder: Path, depth: int) -> None:
    """``folder/d/d/.../d/f`` (``depth`` levels, made relative to each open level: no path is
    ever longer than a name), its file expired."""
    folder.mkdir(parents=True)
    fd = os.open(folder, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        below = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.utime("f", (NOW - 60 * DAY, NOW - 60 * DAY), dir_fd=fd)
    os.close(fd)


def test_a_tree_too_deep_to_remove_fails_alone_and_the_run_goes_on(tmp_path: Path) -> None:
    """An expired worktree and run folder nested 1,200 levels deep (past Python's recursion
    limit) are each reported as failed with why; the run still removes the rest."""
    root = tmp_path / ".tapps-agents"
    try:
        for top in ("worktrees/deep", "artifacts/workflows/deep"):
            _nest(root / top, 1200)
        log = aged_file(root / "logs/debug/old.log", age=60 * DAY, now=NOW)
        report = run_cleanup(Layout(tmp_path), clock=clock())
        assert not report.ok
        assert sorted(str(path.relative_to(root)) for path, _ in report.failed) == [
            "artifacts/workflows/deep",
            "worktrees/deep",
        ]
        assert all("nested too deep to remove" in why for _, why in report.failed)
        assert [i.path for i in report.removed] == [log]
        assert not log.exists()
    finally:  # pytest's own removal of old temporary folders would recurse too deep
        subprocess.run(["rm", "-rf", str(root)], check=True)


@pytest.mark.parametrize(
    ("folder", "module"),
    [("artifacts/workflows", "_onepass"), ("worktrees", "_worktrees")],
)
def test_a_category_folder_swapped_for_a_link_mid_run_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str, module: str
) -> None:
    """Right after an expired folder's walk, its category folder is moved away and a link to
    a folder outside the project put in its place: the removal works from the folder it
    walked, so nothing outside is deleted (the moved-away folder is removed)."""
    import importlib

    from pytest_tapps.core import _safedelete

    category = tmp_path / "p/.tapps-agents" / folder
    aged_file(category / "run1/out.json", age=60 * DAY, now=NOW)
    outside = tmp_path / "outside"
    precious = aged_file(outside / "run1/precious.txt", age=60 * DAY, now=NOW)

    def swapped_after(walk: Any) -> Any:
        def walk_then_swap(*args: Any, **kwargs: Any) -> Any:
            walked = walk(*args, **kwargs)
            if not category.is_symlink():
                category.rename(category.with_name("moved"))
                category.symlink_to(outside)
            return walked

        return walk_then_swap

    target = importlib.import_module(f"pytest_tapps.core.{module}")
    walks = [name for name in ("walk_at", "walk_stats") if hasattr(target, name)]
    assert walks  # whichever walk the run uses
    for name in walks:
        monkeypatch.setattr(target, name, swapped_after(getattr(_safedelete, name)))
    report = run_cleanup(Layout(tmp_path / "p"), clock=clock(), processes=1)
    assert category.is_symlink()  # the swap happened during the run
    assert precious.exists()
    assert [i.path.name for i in report.removed] == ["run1"]
    assert not (category.with_name("moved") / "run1").exists()


def test_an_undeletable_file_is_reported_and_the_run_goes_on(tmp_path: Path, clean: Clean) -> None:
    """An immutable file (chattr +i) fails; the rest is removed; the report says what failed."""
    debug = tmp_path / ".tapps-agents/logs/debug"
    stuck = aged_file(debug / "a-immutable.log", age=30 * DAY, now=NOW)
    other = aged_file(debug / "b-plain.log", age=30 * DAY, now=NOW)
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True, check=False).returncode:
        pytest.skip("this filesystem does not support immutable files (chattr +i)")
    try:
        layout = Layout(tmp_path)
        report = clean(layout)
        assert [(p.name, why) for p, why in report.failed] == [
            ("a-immutable.log", "Operation not permitted")
        ]
        assert not report.ok
        assert not other.exists()
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=False)


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _tomb(name: str, pid: int, made: float | None = None) -> str:
    """A tombstone name as a cleanup of process ``pid`` makes it at (real) time ``made``, by
    default now: a tombstone records real time, whatever clock the cleanup runs on."""
    made = time.time() if made is None else made
    return f".tapps-deleting-{pid}-{int(made):08x}-1234abcd-{name}"


def test_a_killed_run_is_finished_by_the_next(tmp_path: Path) -> None:
    """A folder renamed to a tombstone but not emptied is removed by the next run."""
    runs = tmp_path / ".tapps-agents/artifacts/workflows"
    run = runs / _tomb("run", _dead_pid())
    aged_file(run / "half/deleted.txt", age=0, now=NOW)
    plan = plan_cleanup(Layout(tmp_path), clock=clock())
    assert [i.label for i in plan.items] == ["delete: unfinished deletion of an earlier run"]
    apply_plan(Layout(tmp_path), plan, clock=clock())
    assert not run.exists()


def test_only_a_folder_named_as_a_tombstone_is_an_unfinished_deletion(
    tmp_path: Path, clean: Clean
) -> None:
    """A user's ``.tapps-deleting-*`` file, link or loosely named folder is an ordinary item:
    aged by its category (never in the Context7 cache), counted at its real size; only a
    folder named as this tool names tombstones, whose maker is gone, is finished."""
    t = tmp_path / ".tapps-agents"
    dead = _dead_pid()
    cache_file = aged_file(t / "context7/cache/.tapps-deleting-notes", age=0, now=NOW)
    cache_folder = aged_file(t / "context7/cache/.tapps-deleting-x/a.md", age=0, now=NOW).parent
    fresh = aged_file(t / "logs/debug/.tapps-deleting-fresh.log", age=0, now=NOW)
    old = aged_file(
        t / "logs/debug/.tapps-deleting-old.log", age=8 * DAY, now=NOW, content=b"12345"
    )
    loose = aged_file(t / "logs/debug/.tapps-deleting-1234abcd-run/a", age=0, now=NOW).parent
    target = aged_file(t / "logs/debug/real/a", age=0, now=NOW).parent
    link = t / "logs/debug" / _tomb("link", dead)
    link.symlink_to(target)
    os.utime(link, (NOW, NOW), follow_symlinks=False)
    cache_tomb = aged_file(t / "context7/cache" / _tomb("react", dead) / "a.md", age=0, now=NOW)
    assert labels(tmp_path) == {
        ".tapps-agents/context7/cache/.tapps-deleting-notes": "keep: never expires",
        ".tapps-agents/context7/cache/.tapps-deleting-x": "keep: never expires",
        f".tapps-agents/context7/cache/{cache_tomb.parent.name}": (
            "delete: unfinished deletion of an earlier run"
        ),
        ".tapps-agents/logs/debug/.tapps-deleting-1234abcd-run": "keep: too new",
        ".tapps-agents/logs/debug/.tapps-deleting-fresh.log": "keep: too new",
        ".tapps-agents/logs/debug/.tapps-deleting-old.log": "delete: older than 7d",
        f".tapps-agents/logs/debug/{link.name}": "keep: too new",
        ".tapps-agents/logs/debug/real": "keep: too new",
    }
    report = clean(Layout(tmp_path))
    assert sorted(i.path.name for i in report.removed) == [
        cache_tomb.parent.name,
        ".tapps-deleting-old.log",
    ]
    assert [i.size_bytes for i in report.removed if i.path == old] == [5]
    assert all(p.exists() for p in (cache_file, cache_folder, fresh, loose, target))
    assert link.is_symlink()
    assert not old.exists()


def test_a_tombstone_another_live_cleanup_made_is_left_to_it(tmp_path: Path, clean: Clean) -> None:
    """A tombstone whose maker still runs, made less than a day ago, may be being emptied now:
    it is skipped, saying by whom; a day later its pid is taken for a reused one."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runs = tmp_path / ".tapps-agents/artifacts/workflows"
        busy = aged_file(runs / _tomb("run-1", holder.pid) / "a", age=0, now=NOW).parent
        stale = runs / _tomb("run-2", holder.pid, made=time.time() - DAY)
        aged_file(stale / "a", age=0, now=NOW)
        worktree = aged_file(
            tmp_path / ".tapps-agents/worktrees" / _tomb("wt", holder.pid) / "a", age=0, now=NOW
        ).parent
        report = clean(Layout(tmp_path))
        assert sorted((i.path, why, i.kind) for i, why in report.skipped) == [
            (busy, f"being deleted by another cleanup (pid {holder.pid})", "folder"),
            (worktree, f"being deleted by another cleanup (pid {holder.pid})", "folder"),
        ]
        assert [i.path for i in report.removed] == [stale]
        assert report.ok
    finally:
        holder.kill()
        holder.wait()


def test_a_tombstone_is_counted_at_the_size_of_what_it_holds(tmp_path: Path, clean: Clean) -> None:
    """An unfinished deletion (in a category folder or the worktrees folder) is planned,
    removed and counted at the size of the files it still holds, not 0 B."""
    t = tmp_path / ".tapps-agents"
    dead = _dead_pid()
    run = t / "artifacts/workflows" / _tomb("run", dead)
    aged_file(run / "half/a.txt", age=0, now=NOW, content=b"x" * 3000)
    aged_file(run / "b.txt", age=0, now=NOW, content=b"x" * 7)
    worktree = t / "worktrees" / _tomb("wt", dead)
    aged_file(worktree / "c.txt", age=0, now=NOW, content=b"x" * 1024)
    plan = plan_cleanup(Layout(tmp_path), clock=clock())
    assert sorted((i.path, i.size_bytes) for i in plan.items) == [(run, 3007), (worktree, 1024)]
    report = clean(Layout(tmp_path))
    assert sorted((i.path, i.size_bytes) for i in report.removed) == [
        (run, 3007),
        (worktree, 1024),
    ]
    assert report.bytes_removed == 4031
    assert not run.exists()
    assert not worktree.exists()


def test_a_long_name_still_gets_a_tombstone(tmp_path: Path) -> None:
    """A folder whose name has 255 bytes is renamed to a tombstone that fits (the name cut),
    and removed."""
    runs = tmp_path / ".tapps-agents/artifacts/workflows"
    long_run = aged_file(runs / ("é" * 127 + "x") / "a", age=40 * DAY, now=NOW).parent
    report = run_cleanup(Layout(tmp_path), clock=clock())
    assert ([i.path for i in report.removed], report.failed) == ([long_run], [])
    assert list(runs.iterdir()) == []


_CLEANER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pytest_tapps.core import Layout
    from pytest_tapps.core._cleanup import run_cleanup
    layout = Layout(Path(sys.argv[1]))
    report = run_cleanup(layout)
    print(len(report.removed), len(report.failed), flush=True)
    """
)


def _many_runs(root: Path, count: int, files: int) -> None:
    now = time.time()
    for index in range(count):
        age = (40 if index % 2 else 10) * DAY
        for number in range(files):
            aged_file(
                root / f".tapps-agents/artifacts/workflows/run-{index:03d}/f{number}",
                age=age,
                now=now,
            )


def test_two_cleanups_at_once_both_finish_within_policy(tmp_path: Path) -> None:
    """Two processes racing over the same tree both succeed; only expired runs go."""
    _many_runs(tmp_path, 60, 20)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLEANER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=120)[0].split() for r in runs]
    assert all(r.returncode == 0 for r in runs)
    assert all(failed == "0" for _, failed in outputs)
    left = sorted(p.name for p in (tmp_path / ".tapps-agents/artifacts/workflows").iterdir())
    assert left == [f"run-{i:03d}" for i in range(0, 60, 2)]


def test_a_cleanup_killed_mid_run_completes_when_run_again(tmp_path: Path) -> None:
    """SIGKILL while a folder is half deleted, then a second run: every expired run is gone."""
    _many_runs(tmp_path, 6, 1500)
    runs = tmp_path / ".tapps-agents/artifacts/workflows"
    first = subprocess.Popen(
        [sys.executable, "-c", _CLEANER, str(tmp_path)], stdout=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".tapps-deleting-") for p in runs.iterdir()):
        assert first.poll() is None, "the first run finished before it could be killed"
        assert time.monotonic() < deadline
    first.kill()
    first.wait()
    assert first.stdout is not None
    first.stdout.close()
    assert any(p.name.startswith(".tapps-deleting-") for p in runs.iterdir())  # half done
    second = subprocess.run(
        [sys.executable, "-c", _CLEANER, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert second.stdout.split()[1] == "0"
    assert sorted(p.name for p in runs.iterdir()) == ["run-000", "run-002", "run-004"]


CATEGORY_FOLDERS = {
    "analytics/history": ("analytics_history", 90, ".jsonl"),
    "logs/debug": ("debug_logs", 7, ".log"),
    "logs/application": ("application_logs", 30, ".log"),
    "artifacts/test-results": ("test_results", 30, ".xml"),
    "cache/tiered-context": ("tiered_context_cache", 30, ".json"),
}
offsets = st.sampled_from([-1.0, -1e-6, 0.0, 1e-6, 1.0]) | st.floats(
    min_value=-5 * DAY, max_value=5 * DAY
)


@settings(max_examples=40)
@given(folder=st.sampled_from(sorted(CATEGORY_FOLDERS)), offset=offsets)
def test_boundary_ages_keep_exactly_n_days(folder: str, offset: float) -> None:
    """Exactly N days is kept; N days and any positive amount more is deleted."""
    _, days, suffix = CATEGORY_FOLDERS[folder]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = aged_file(root / ".tapps-agents" / folder / f"item{suffix}", age=0, now=NOW)
        stamp = NOW - days * DAY - offset
        os.utime(path, (stamp, stamp))
        real_age = NOW - path.stat().st_mtime
        (item,) = plan_cleanup(Layout(root), clock=clock()).items
        assert (item.decision is Decision.DELETE) == (real_age > days * DAY)


@settings(max_examples=40)
@given(offset=offsets)
def test_a_completed_worktree_goes_at_once(offset: float) -> None:
    """A completed workflow's worktree is deleted from age 0 on, exactly now included; only a
    time in the future keeps it (skipped, never deleted)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        record(root, "wf", "completed", "wt")
        path = aged_file(Layout(root).worktree("wt") / "f.txt", age=0, now=NOW)
        stamp = NOW - offset
        os.utime(path, (stamp, stamp))
        real_age = NOW - path.stat().st_mtime
        only = ["completed_worktrees"]
        (item,) = plan_cleanup(Layout(root), clock=clock(), only=only).items
        due = real_age >= 0
        assert item.label == ("delete: workflow completed" if due else "skip: future timestamp")
        assert RetentionPolicy.defaults().expired("completed_worktrees", real_age) == due
        report = run_cleanup(Layout(root), clock=clock(), only=only)
        assert [i.path.name for i in report.removed] == (["wt"] if due else [])


@settings(max_examples=40)
@given(
    limit=st.sampled_from([0.0, 1e-6, 1.0, 7 * DAY]),
    ages=st.lists(offsets | st.sampled_from([7 * DAY, 7 * DAY + 1e-6]), min_size=1, max_size=6),
)
def test_plan_and_one_pass_share_the_boundary(limit: float, ages: list[float]) -> None:
    """For any age limit, zero ("at once") included, the one-pass fast path deletes exactly
    what the plan does: strictly older than the limit, or any age >= 0 for a zero limit."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for index, age in enumerate(ages):
            aged_file(root / f".tapps-agents/logs/debug/{index}.log", age=age, now=NOW)
        policy = RetentionPolicy({**RetentionPolicy.defaults().ages, "debug_logs": limit})
        layout = Layout(root)
        plan = plan_cleanup(layout, clock=clock(), policy=policy)
        for item in plan.items:
            real_age = NOW - item.path.stat().st_mtime
            expired = real_age >= 0 and (real_age > limit or limit == 0)
            assert (item.decision is Decision.DELETE) == expired, (real_age, item.label)
            # the policy's own rule, the oracle users' tests take, says the same
            assert policy.expired("debug_logs", real_age) == expired, real_age
        report = run_cleanup(layout, clock=clock(), policy=policy)
        assert {i.path for i in report.removed} == {
            i.path for i in plan.by_decision(Decision.DELETE)
        }


def test_skip_reasons_are_bare_in_both_ways(tmp_path: Path, clean: Clean) -> None:
    """report.skipped holds the reason without the "skip: " of the label, however it ran."""
    aged_file(tmp_path / ".tapps-agents/logs/debug/skew.log", age=-3600, now=NOW)
    aged_file(tmp_path / ".tapps-agents/analytics/history/notes.txt", age=400 * DAY, now=NOW)
    report = clean(Layout(tmp_path))
    assert sorted((i.path.name, why) for i, why in report.skipped) == [
        ("notes.txt", "no policy"),
        ("skew.log", "future timestamp"),
    ]


def test_an_unreadable_category_folder_fails_and_the_run_goes_on() -> None:
    """A category folder that cannot be read is a failure of the run (not a crash); the other
    categories are cleaned; the dry run lists it as skip: unreadable."""
    with project(fs="fake", clock=clock()) as built:
        built.file("logs/debug/old.log", age="8d")
        other = built.file("logs/application/old.log", age="31d")
        faults = Faults(built)
        debug = faults.permission_denied("logs/debug")
        plan = plan_cleanup(built.layout, clock=clock())
        assert [(i.path, i.label) for i in plan.items] == [
            (other, "delete: older than 30d"),
            (debug, "skip: unreadable (Permission denied)"),
        ]
        report = run_cleanup(built.layout, clock=clock())
        assert report.failed == [
            (debug, "cannot read the folder (Permission denied); nothing in it was checked")
        ]
        assert [i.path for i in report.removed] == [other]
        assert not report.ok
        faults.close()
        assert (debug / "old.log").exists()


def test_the_entries_of_a_folder_that_is_listed_but_not_searched_are_planned_unreadable() -> None:
    """A category folder whose names can be listed but whose entries cannot be looked at: the
    plan lists each entry as skip: unreadable with the system's reason, nothing else."""
    with project(fs="fake", clock=clock()) as built:
        old = built.file("logs/debug/old.log", age="8d")
        new = built.file("logs/debug/new.log", age="1d")
        faults = Faults(built)
        faults.permission_denied("logs/debug", listable=True)
        plan = plan_cleanup(built.layout, clock=clock())
        assert sorted((i.path, i.label, i.kind) for i in plan.items) == [
            (new, "skip: unreadable (Permission denied)", "file"),
            (old, "skip: unreadable (Permission denied)", "file"),
        ]
        faults.close()


def test_a_run_folder_with_an_unreadable_part_is_skipped_as_unreadable() -> None:
    """Its newest file may be in what cannot be read: skip: unreadable (not a future timestamp
    from the folder's own time, not a half deletion)."""
    with project(fs="fake", clock=clock()) as built:
        runs = built.layout.tapps_dir / "artifacts/workflows"
        built.file("artifacts/workflows/only-hidden/sub/a.txt", age="40d")
        built.file("artifacts/workflows/partly-hidden/seen.txt", age="40d")
        built.file("artifacts/workflows/partly-hidden/deep/sub/a.txt", age="40d")
        built.file("artifacts/workflows/fresh/seen.txt", age="1d")
        built.file("artifacts/workflows/fresh/sub/a.txt", age="40d")
        faults = Faults(built)
        for run in ("only-hidden", "partly-hidden/deep", "fresh"):
            faults.permission_denied(f"artifacts/workflows/{run}/sub")
        before = built.snapshot()
        expected = {
            "fresh": "keep: too new",
            "only-hidden": "skip: unreadable (sub: Permission denied)",
            "partly-hidden": "skip: unreadable (deep/sub: Permission denied)",
        }
        plan = plan_cleanup(built.layout, clock=clock())
        assert {i.path.name: i.label for i in plan.items} == expected
        for report in (run_cleanup(built.layout, clock=clock()), apply_plan(built.layout, plan)):
            assert {i.path.name: f"skip: {why}" for i, why in report.skipped} == {
                k: v for k, v in expected.items() if v.startswith("skip")
            }
            assert (report.removed, report.failed) == ([], [])
        assert built.snapshot() == before
        faults.close()
        assert sorted(p.name for p in runs.iterdir()) == sorted(expected)


def test_worktrees_that_cannot_be_read_are_not_removed() -> None:
    """A completed worktree with an unreadable part is skipped as unreadable; a worktrees
    folder that cannot be read is a skip in the plan and a failure of the run."""
    with project(fs="fake", clock=clock()) as built:
        built.workflow("wf", "completed").step("build", worktree="wt").save()
        built.worktree("wt", files=1)
        built.file("worktrees/wt/sub/a.txt")
        faults = Faults(built)
        faults.permission_denied("worktrees/wt/sub")
        only = ["completed_worktrees"]
        (item,) = plan_cleanup(built.layout, clock=clock(), only=only).items
        assert item.label == "skip: unreadable (sub: Permission denied)"
        report = run_cleanup(built.layout, clock=clock(), only=only)
        assert ([i.path.name for i, _ in report.skipped], report.removed) == (["wt"], [])
        folder = faults.permission_denied("worktrees")
        (item,) = plan_cleanup(built.layout, clock=clock(), only=only).items
        assert (item.path, item.label) == (folder, "skip: unreadable (Permission denied)")
        report = run_cleanup(built.layout, clock=clock(), only=only)
        assert report.failed == [
            (folder, "cannot read the folder (Permission denied); nothing in it was checked")
        ]
        faults.close()


def test_a_failure_inside_a_removed_folder_names_the_known_path_and_the_tombstone() -> None:
    """What cannot be removed is reported at the path the user knows, saying that what is left
    was moved aside to a tombstone, which the next run retries."""
    with project(fs="fake", clock=clock()) as built:
        run = built.layout.tapps_dir / "artifacts/workflows/run-1"
        built.file("artifacts/workflows/run-1/seen.txt", age="40d")
        stuck = built.file("artifacts/workflows/run-1/sub/a.txt", age="40d")
        (run / "sub").chmod(0o555)  # listed, but nothing in it can be unlinked
        report = run_cleanup(built.layout, clock=clock())
        ((path, why),) = report.failed
        assert path == stuck
        (tomb,) = run.parent.iterdir()
        assert why == (
            f"Permission denied; what is left of run-1 was moved aside to {tomb.name} "
            "(the next cleanup retries it)"
        )
        (tomb / "sub").chmod(0o755)
        again = run_cleanup(built.layout, clock=clock())
        assert [(i.path, i.reason) for i in again.removed] == [
            (tomb, "unfinished deletion of an earlier run")
        ]


_FAKE_FS_FORK = textwrap.dedent(
    """
    from pytest_tapps.core._cleanup import run_cleanup
    from pytest_tapps.harness import project

    with project(fs="fake") as built:
        for index in range(70):
            built.worktree(f"wt-{index:02d}", age="8d", files=1)
        report = run_cleanup(built.layout, clock=built.clock, processes=2)
        left = list(built.layout.worktrees_dir.iterdir())
        print(len(report.removed), len(report.failed), len(left))
    """
)


def test_no_worker_processes_on_the_fake_filesystem() -> None:
    """Under pyfakefs a forked worker would delete in its own copy of the fake tree: many
    worktrees are removed in this process instead, and are gone."""
    done = subprocess.run(
        [sys.executable, "-c", _FAKE_FS_FORK], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout.split()) == (0, ["70", "0", "0"]), done.stderr[-2000:]


tree_entries = st.lists(
    st.tuples(
        st.sampled_from(sorted(CATEGORY_FOLDERS)),
        st.text(alphabet="abc xyz.-_", min_size=1, max_size=8).filter(
            lambda s: s not in (".", "..")
        ),
        st.floats(min_value=-2 * DAY, max_value=400 * DAY),
        st.booleans(),
    ),
    max_size=12,
)


def _build(root: Path, entries: list[tuple[str, str, float, bool]]) -> None:
    for folder, name, age, nested in entries:
        suffix = CATEGORY_FOLDERS[folder][2]
        base = root / ".tapps-agents" / folder
        path = base / name / f"inner{suffix}" if nested else base / f"{name}{suffix}"
        if path.exists() or (base / name).is_file() or (base / f"{name}{suffix}").is_dir():
            continue
        aged_file(path, age=age, now=NOW)


@settings(max_examples=30)
@given(tree_entries)
def test_a_dry_run_changes_nothing(entries: list[tuple[str, str, float, bool]]) -> None:
    """Planning leaves contents, mtimes and listings exactly as they were."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _build(root, entries)
        before = snapshot(root)
        plan_cleanup(Layout(root), clock=clock())
        assert snapshot(root) == before


@settings(max_examples=30)
@given(tree_entries)
def test_plan_and_apply_agree_and_cleanup_is_idempotent(
    entries: list[tuple[str, str, float, bool]],
) -> None:
    """Apply removes exactly the planned deletions; a second cleanup finds nothing to delete."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _build(root, entries)
        layout = Layout(root)
        plan = plan_cleanup(layout, clock=clock())
        report = apply_plan(layout, plan, clock=clock())
        assert {i.path for i in report.removed} == {
            i.path for i in plan.by_decision(Decision.DELETE)
        }
        assert all(not i.path.exists() for i in report.removed)
        assert all(i.path.exists() for i in plan.items if i.decision is not Decision.DELETE)
        after_once = snapshot(root)
        again = plan_cleanup(layout, clock=clock())
        assert again.by_decision(Decision.DELETE) == []
        apply_plan(layout, again, clock=clock())
        assert snapshot(root) == after_once


@settings(max_examples=30)
@given(tree_entries)
def test_the_one_pass_run_deletes_what_the_plan_says(
    entries: list[tuple[str, str, float, bool]],
) -> None:
    """run_cleanup (what tapps cleanup does) removes exactly the plan's deletions."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _build(root, entries)
        layout = Layout(root)
        planned = {i.path for i in plan_cleanup(layout, clock=clock()).by_decision(Decision.DELETE)}
        report = run_cleanup(layout, clock=clock())
        assert {i.path for i in report.removed} == planned
        assert report.ok
        assert plan_cleanup(layout, clock=clock()).by_decision(Decision.DELETE) == []


#: Prepended to the forking scripts: os.fork wrapped to count the workers a run starts.
_COUNT_FORKS = textwrap.dedent(
    """
    import os

    def count_forks():
        forks = []
        real_fork = os.fork

        def counting_fork():
            forks.append(1)
            return real_fork()

        os.fork = counting_fork
        return forks
    """
)

_FORKED = _COUNT_FORKS + textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    import pytest_tapps.core._cleanup as cleanup
    import pytest_tapps.core._onepass as onepass
    from pytest_tapps.core import Layout, VirtualClock

    root = Path(sys.argv[1])
    now = 1768473000.0
    history = root / ".tapps-agents/analytics/history"
    history.mkdir(parents=True)
    outside = root / "outside"
    outside.mkdir()
    for i in range(300):
        path = history / f"f-{i:03d}.jsonl"
        path.write_text("x")
        age = (i % 200) * 86400.0 + 1 - (7200 if i % 37 == 0 else 0)  # a few land in the future
        os.utime(path, (now - age, now - age))
    (history / "notes.txt").write_text("no policy")
    (history / "out.jsonl").symlink_to(outside)
    (history / "sub.jsonl").mkdir()
    os.utime(history / "f-150.jsonl", (now + 3600, now + 3600))
    clock = VirtualClock(now)
    layout = Layout(root)
    plan = cleanup.plan_cleanup(layout, clock=clock)
    forks = count_forks()
    onepass.FORK_THRESHOLD = 10

    def row(i):
        return [i.location, i.category, i.decision.value, i.reason, i.kind, i.timestamp,
                i.age_seconds, i.max_age_seconds, i.size_bytes]

    report = cleanup.run_cleanup(layout, clock=clock, processes=3)
    print(json.dumps({
        "forks": len(forks),
        "planned": sorted(i.location for i in plan.by_decision(cleanup.Decision.DELETE)),
        "removed": sorted(i.location for i in report.removed),
        "planned_rows": sorted(row(i) for i in plan.by_decision(cleanup.Decision.DELETE)),
        "removed_rows": sorted(row(i) for i in report.removed),
        "skipped": sorted(i.location for i, _ in report.skipped),
        "planned_skips": sorted(i.location for i in plan.by_decision(cleanup.Decision.SKIP)),
        "skip_rows": sorted(row(i) + [why] for i, why in report.skipped),
        "planned_skip_rows": sorted(
            row(i) + [i.reason] for i in plan.by_decision(cleanup.Decision.SKIP)
        ),
        "kept": sum(report.kept.values()),
        "planned_kept": len(plan.by_decision(cleanup.Decision.KEEP)),
        "failed": report.failed,
        "left": sorted(p.name for p in history.iterdir()),
    }))
    """
)


def test_a_large_folder_split_over_processes_does_what_the_plan_says(tmp_path: Path) -> None:
    """Forked workers delete exactly the planned files; links, folders, odd names and future
    files come back to the parent and are decided as in one process."""
    done = subprocess.run(
        [sys.executable, "-c", _FORKED, str(tmp_path)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    assert result["forks"] == 2
    assert result["removed"] == result["planned"]
    assert result["removed_rows"] == result["planned_rows"]  # every field, as planned
    assert len(result["removed"]) > 100
    assert result["skipped"] == result["planned_skips"]
    assert result["skip_rows"] == result["planned_skip_rows"]
    assert result["kept"] == result["planned_kept"]
    assert result["failed"] == []
    assert "out.jsonl" in result["left"]
    assert (tmp_path / "outside").is_dir()


_FORKED_WORKTREES = _COUNT_FORKS + textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import pytest_tapps.core._cleanup as cleanup
    from pytest_tapps.core import Layout, VirtualClock

    root = Path(sys.argv[1])
    now = 1768473000.0
    trees = root / ".tapps-agents/worktrees"
    odd = os.fsdecode(b"wt-\\xff new\\nline")  # not UTF-8, a space, a newline
    for i in range(120):
        tree = trees / (odd if i == 119 else f"wt-{i:03d}")
        (tree / "src").mkdir(parents=True)
        for name in ("a.py", "src/b.py"):
            (tree / name).write_text("x")
            age = (i % 14) * 86400.0 + 60
            os.utime(tree / name, (now - age, now - age))
    (trees / "wt-000" / "src" / "fresh.py").write_text("edited just now")
    os.utime(trees / "wt-000" / "src" / "fresh.py", (now, now))
    clock = VirtualClock(now)
    layout = Layout(root)
    plan = cleanup.plan_cleanup(layout, clock=clock)
    forks = count_forks()
    report = cleanup.run_cleanup(layout, clock=clock, processes=2)
    print(json.dumps({
        "forks": len(forks),
        "planned": sorted(i.location for i in plan.by_decision(cleanup.Decision.DELETE)),
        "removed": sorted(i.location for i in report.removed),
        "planned_items": sorted(
            (i.location, i.size_bytes, i.timestamp, i.worktree.newest_mtime)
            for i in plan.by_decision(cleanup.Decision.DELETE)
        ),
        "removed_items": sorted(
            (i.location, i.size_bytes, i.timestamp, i.worktree.newest_mtime)
            for i in report.removed
        ),
        "kept": sum(report.kept.values()),
        "planned_kept": len(plan.by_decision(cleanup.Decision.KEEP)),
        "failed": report.failed,
        "left": sorted(p.name for p in trees.iterdir()),
    }))
    """
)


def test_many_plain_worktrees_split_over_processes_do_what_the_plan_says(tmp_path: Path) -> None:
    """Worktree folders walked, decided and removed by forked workers match the plan, sizes and
    times included; a deep fresh file keeps its worktree."""
    done = subprocess.run(
        [sys.executable, "-c", _FORKED_WORKTREES, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["forks"] == 1
    assert result["removed"] == result["planned"]
    assert result["removed_items"] == result["planned_items"]  # sizes measured in a worker too
    assert result["kept"] == result["planned_kept"]
    assert result["failed"] == []
    assert "wt-000" in result["left"]
    assert len(result["left"]) == result["planned_kept"]


@pytest.mark.parametrize("linked", [".tapps-agents", "reports"])
def test_a_project_folder_linked_out_of_the_project_is_not_followed(
    tmp_path: Path, linked: str
) -> None:
    """.tapps-agents or reports/ as a link to a folder outside the project: nothing there is
    deleted, by the plan or the one-pass run; the categories are skipped as links out."""
    root, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    root.mkdir()
    old = DAY * 400
    clock = VirtualClock(1768473000)
    target = elsewhere / linked
    files = [
        target / "analytics/history/old.jsonl",
        target / "quality/old.html",
    ]
    for path in files:
        aged_file(path, age=old, now=clock.time())
    (root / linked).symlink_to(target)
    plan = plan_cleanup(Layout(root), clock=clock)
    assert [i for i in plan.items if i.decision is Decision.DELETE] == []
    report = run_cleanup(Layout(root), clock=clock)
    assert report.removed == []
    assert all(path.exists() for path in files)


def test_one_pass_reads_the_locks_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc/locks is read once per planning pass, worktrees included (it can take ms)."""
    from pytest_tapps.core import _proclocks, _worktrees

    calls: list[int] = []
    read = _proclocks.locked_inodes

    def counted() -> set[tuple[int, int]] | None:
        calls.append(1)
        return read()

    monkeypatch.setattr(_proclocks, "locked_inodes", counted)
    monkeypatch.setattr(_worktrees, "locked_inodes", counted)
    clock = VirtualClock(1768473000)
    aged_file(tmp_path / ".tapps-agents/worktrees/wt/a.txt", age=DAY, now=clock.time())
    plan = plan_cleanup(Layout(tmp_path), clock=clock)
    assert [item.category for item in plan.items] == ["orphan_worktrees"]
    assert len(calls) == 1


def _seen(plan_or_report: Plan | CleanupReport, root: Path) -> list[tuple[Any, ...]]:
    """A plan's items, or a report's outcomes, with every path relative to ``root``."""

    def here(text: str | Path) -> str:
        return str(text).replace(f"{root}/", "<root>/")

    if isinstance(plan_or_report, Plan):
        return [
            (here(i.location), i.category, i.decision, here(i.reason), i.kind)
            for i in plan_or_report.items
        ]
    report = plan_or_report
    return [
        *(("removed", here(i.location), i.reason) for i in report.removed),
        *(("skipped", here(i.location), here(why)) for i, why in report.skipped),
        *(("failed", here(path), here(why)) for path, why in report.failed),
        *(("vanished", here(i.location)) for i in report.vanished),
        ("kept", sorted(report.kept.items())),
    ]


def _clean_on(fs: str, tree: TreeDescription) -> tuple[list[Any], list[float]]:
    """Build ``tree`` on the real or the fake filesystem; plan, clean, and list what is left;
    the plan's timestamps apart. (Both roots are names no tree path holds, so that only they
    read as ``<root>``.)"""
    with project("/tapps-fake-root" if fs == "fake" else None, fs=fs, clock=clock()) as built:
        tree.build(built)
        plan = plan_cleanup(built.layout, clock=clock())
        report = _seen(run_cleanup(built.layout, clock=clock()), built.root)
        left = sorted(str(path.relative_to(built.root)) for path in built.root.rglob("*"))
    stamps = [-1.0 if i.timestamp is None else i.timestamp for i in plan.items]
    return [_seen(plan, built.root), report, left], stamps


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(trees(max_files=6))
def test_the_fake_filesystem_cleans_as_the_real_one_does(tree: TreeDescription) -> None:
    """On any tree (hostile names, links in and out, worktrees), plan_cleanup and run_cleanup
    decide, remove and leave exactly the same on the fake filesystem as on the real one (on
    Python 3.13 a lock read on a thread once made the fake pass see an empty tree)."""
    fake, fake_stamps = _clean_on("fake", tree)
    real, real_stamps = _clean_on("real", tree)
    assert fake == real
    # pyfakefs keeps a float where a disk keeps nanoseconds: equal to the microsecond.
    assert fake_stamps == pytest.approx(real_stamps, abs=1e-6)


def test_no_thread_touches_the_fake_filesystem(monkeypatch: pytest.MonkeyPatch) -> None:
    """While the fake filesystem is active, planning, a one-pass cleanup and the in-process
    tapps cleanup (which starts its lock read ahead) start no thread at all."""
    import threading

    from pytest_tapps.cli import main

    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def recorded(thread: threading.Thread) -> None:
        started.append(thread)
        real_start(thread)

    with project(fs="fake", clock=clock()) as built:
        built.file("logs/debug/old.log", age="8d")
        built.worktree("wt", age="8d", files=1)
        monkeypatch.setattr(threading.Thread, "start", recorded)
        plan = plan_cleanup(built.layout, clock=clock())
        report = run_cleanup(built.layout, clock=clock())
        code = main(["cleanup", "--dry-run", "--project-root", str(built.root)])
        monkeypatch.undo()
    assert started == []
    assert len(plan.by_decision(Decision.DELETE)) == 2
    assert len(report.removed) == 2
    assert code == 0


def _worktrees_of(root: Path, ages: dict[str, float]) -> Path:
    """Plain worktree folders aged as given (days); returns the worktrees folder."""
    folder = root / ".tapps-agents/worktrees"
    for name, days in ages.items():
        aged_file(folder / name / "src.py", age=days * DAY, now=NOW)
    return folder


def test_a_worktree_an_unreadable_state_may_own_is_kept_and_fails_the_run(
    tmp_path: Path, clean: Clean
) -> None:
    """A truncated current state may name any worktree: none is removed, not the orphan nor
    the completed workflow's, each is skipped naming the file, and the run is not ok."""
    folder = _worktrees_of(tmp_path, {"wt-orphan": 8, "wt-done": 1})
    record(tmp_path, "wf-done", "completed", "wt-done")
    current = Layout(tmp_path).current_state_file
    assert current is not None
    current.write_text('{"workflow_id": "wf-run", "status": "runn')
    why = f"owner state unreadable: {current}"
    plan = plan_cleanup(Layout(tmp_path), clock=clock())
    assert [(i.path.name, i.category, i.label) for i in plan.items] == [
        ("wt-done", "completed_worktrees", f"skip: {why}"),
        ("wt-orphan", "orphan_worktrees", f"skip: {why}"),
    ]
    report = clean(Layout(tmp_path))
    assert sorted((i.path.name, reason) for i, reason in report.skipped) == [
        ("wt-done", why),
        ("wt-orphan", why),
    ]
    assert (report.removed, report.ok) == ([], False)
    assert sorted(p.name for p in folder.iterdir()) == ["wt-done", "wt-orphan"]


def test_an_older_unreadable_copy_of_a_readable_workflow_owns_nothing(tmp_path: Path) -> None:
    """``history/wf-1.json`` unreadable while the current state holds wf-1: that copy would not
    count if it could be read, so worktrees are decided as usual."""
    _worktrees_of(tmp_path, {"wt-orphan": 8})
    write_current(tmp_path, state("wf-1", "running"))
    copy = Layout(tmp_path).history_file("wf-1")
    copy.parent.mkdir(parents=True)
    copy.write_text("{")
    report = run_cleanup(Layout(tmp_path), clock=clock())
    assert [(i.path.name, i.reason) for i in report.removed] == [("wt-orphan", "older than 7d")]
    assert report.ok


@pytest.mark.parametrize("layout_name", ["runbook", "tapps-agents-3.7"])
@pytest.mark.parametrize(
    "bad", [b"", b"\x00\xff binary", b'{"workflow_id": "w', b"[1, 2]", b"{}", b"[" * 5000]
)
def test_any_unreadable_state_file_keeps_every_worktree(
    layout_name: str, bad: bytes, tmp_path: Path
) -> None:
    """Empty, binary, truncated, not an object, invalid, too deep: in either layout, a state of
    a workflow no readable state holds keeps every worktree, plan and run alike."""
    with project(tmp_path, clock=clock(), layout=layout_name) as built:
        built.worktree("wt-a", age="8d", files=1)
        built.worktree(workflow="wf-2", step="build", age="30d", files=1)
        built.workflow("wf-1", "completed").step("s1", worktree="wt-a").save()
        name = "wf-2-20260101-120000.json" if layout_name != "runbook" else "history/wf-2.json"
        bad_file = built.layout.state_dir / name
        bad_file.write_bytes(bad)
        plan = plan_cleanup(built.layout, clock=clock())
        report = run_cleanup(built.layout, clock=clock())
        expected = f"owner state unreadable: {bad_file}"
        assert {i.reason for i in plan.items} == {expected}
        assert {why for _, why in report.skipped} == {expected}
        assert len(report.skipped) == len(plan.items) == 2
        assert (report.removed, report.ok) == ([], False)


def test_forked_workers_keep_the_worktrees_an_unreadable_state_may_own(tmp_path: Path) -> None:
    """Many worktrees, shared out to forked workers: with an unreadable state none goes, each
    skipped as the plan says."""
    _worktrees_of(tmp_path, {f"wt-{i:03d}": 8 for i in range(80)})
    current = Layout(tmp_path).current_state_file
    assert current is not None
    write_current(tmp_path, {"workflow_id": 3})
    plan = plan_cleanup(Layout(tmp_path), clock=clock())
    report = run_cleanup(Layout(tmp_path), clock=clock(), processes=2)
    assert sorted((i.location, why) for i, why in report.skipped) == [
        (i.location, i.reason) for i in plan.items
    ]
    assert {i.reason for i in plan.items} == {f"owner state unreadable: {current}"}
    assert len(list((tmp_path / ".tapps-agents/worktrees").iterdir())) == 80
    assert not report.ok


def empty_when_opened(monkeypatch: pytest.MonkeyPatch, folder: Path, tomb: Path) -> None:
    """Another cleanup takes ``folder`` the moment this run opens it: renamed to ``tomb``,
    emptied and removed."""
    from pytest_tapps.core import _safedelete

    real_open = _safedelete.open_folder

    def racing_open(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
        fd = real_open(path, dir_fd=dir_fd)
        if os.fspath(path) == folder.name and folder.exists():  # the other run takes it now
            folder.rename(tomb)
            for child in tomb.iterdir():
                child.unlink()
            tomb.rmdir()
        return fd

    monkeypatch.setattr(_safedelete, "open_folder", racing_open)


def test_a_folder_another_cleanup_empties_meanwhile_is_vanished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run renames a folder to its tombstone and empties it while this one walks it:
    the folder's time is then after this run's now, and it is reported vanished, not as a
    future timestamp."""

    now = time.time() - 3600
    run = aged_file(
        tmp_path / ".tapps-agents/artifacts/workflows/run-1/a.txt", age=40 * DAY, now=now
    ).parent
    empty_when_opened(monkeypatch, run, run.parent / _tomb("run-1", os.getpid() + 1))
    report = run_cleanup(Layout(tmp_path), clock=VirtualClock(now))
    assert ([i.path for i in report.vanished], report.skipped) == ([run], [])


@pytest.mark.parametrize(
    ("code", "locked"),
    [(errno.EAGAIN, True), (errno.EACCES, True), (errno.ENOLCK, False), (errno.EINVAL, False)],
)
def test_a_lock_probe_that_cannot_lock_reads_as_not_locked_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, locked: bool
) -> None:
    """Where /proc/locks cannot be read, a POSIX probe refused for another process's lock
    (EAGAIN, EACCES) means locked; one the filesystem cannot do (NFS without its lock daemon:
    ENOLCK; EINVAL) means nothing can be told: not locked, as an unopenable file is, and no
    traceback."""
    import fcntl

    from pytest_tapps.core._safedelete import is_locked

    path = aged_file(tmp_path / "f.log", age=DAY, now=NOW)

    def refused(fd: int, operation: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "lockf", refused)
    assert is_locked(path, path.stat(), None) is locked
