"""Tests for pytest_tapps.core._worktrees with real git repositories and real ``git worktree``."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pytest_tapps.core import Layout, UnsafeNameError, VirtualClock
from pytest_tapps.core._cleanup import apply_plan, plan_cleanup
from pytest_tapps.core._git import list_worktrees
from pytest_tapps.core._retention import DAY
from pytest_tapps.core._worktrees import WorktreeRefused, inventory, remove
from pytest_tapps.harness import layout_profile, project
from tests.helpers import execution, live_lock, state, write_json

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository with one commit, as the project root."""
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "README.md").write_text("hello\n")
    (tmp_path / ".gitignore").write_text(".tapps-agents/\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def add_worktree(repo: Path, name: str, branch: str | None = None) -> Path:
    path = Layout(repo).worktree(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "-q", "-b", branch or f"workflow/{name}", str(path))
    return path


def age_tree(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.utime(Path(folder, name), (stamp, stamp), follow_symlinks=False)


def record(repo: Path, workflow_id: str, status: str, worktree: str) -> None:
    """A workflow state (in history) whose step ran in ``worktree``."""
    write_json(
        Layout(repo).history_file(workflow_id),
        state(
            workflow_id,
            status,
            execution("build", "failed" if status == "failed" else "completed", worktree=worktree),
        ),
    )


def by_name(repo: Path) -> dict[str, object]:
    return {i.name: i for i in inventory(Layout(repo))}


def test_inventory_reads_git_registration_lock_dirt_and_missing_folders(repo: Path) -> None:
    """Registered, locked, dirty, deleted-by-hand and plain folders are each told apart."""
    add_worktree(repo, "clean")
    locked = add_worktree(repo, "locked")
    git(repo, "worktree", "lock", "--reason", "debugging", str(locked))
    dirty = add_worktree(repo, "dirty")
    (dirty / "README.md").write_text("changed\n")
    gone = add_worktree(repo, "gone")
    shutil.rmtree(gone)
    (Layout(repo).worktrees_dir / "plain").mkdir()
    infos = {i.name: i for i in inventory(Layout(repo))}
    assert set(infos) == {"clean", "locked", "dirty", "gone", "plain"}
    assert (infos["clean"].registered, infos["clean"].dirty, infos["clean"].git_locked) == (
        True,
        False,
        False,
    )
    assert (infos["locked"].git_locked, infos["locked"].lock_reason) == (True, "debugging")
    assert infos["dirty"].dirty is True
    assert (infos["gone"].exists, infos["gone"].prunable) == (False, True)
    assert (infos["plain"].registered, infos["plain"].status) == (False, "orphan")
    assert infos["clean"].branch == "workflow/clean"


def test_status_comes_from_the_workflow_that_recorded_the_worktree(repo: Path) -> None:
    """completed / failed / active / stuck / orphan, from workflow states and their locks."""
    for name in ("done", "broken", "busy", "hung", "nobody"):
        add_worktree(repo, name)
    record(repo, "wf-done", "completed", "done")
    record(repo, "wf-broken", "failed", "broken")
    record(repo, "wf-busy", "running", "busy")
    record(repo, "wf-hung", "running", "hung")
    with live_lock(repo, "wf-busy"):
        infos = {i.name: i for i in inventory(Layout(repo))}
    assert {n: i.status for n, i in infos.items()} == {
        "done": "completed",
        "broken": "failed",
        "busy": "active",
        "hung": "stuck",
        "nobody": "orphan",
    }
    assert (
        infos["hung"].evidence[0]
        == "status is running but no executor holds its lock (no lock file)"
    )
    assert infos["done"].workflow_id == "wf-done"


def test_remove_deletes_folder_registration_and_workflow_branch(repo: Path) -> None:
    """The folder goes, git forgets it, and its workflow/NAME branch is deleted."""
    path = add_worktree(repo, "wt-1")
    (path / "untracked.txt").write_text("work in progress\n")
    done = remove(Layout(repo), "wt-1")
    assert (done.removed_folder, done.unregistered, done.deleted_branch) == (
        True,
        True,
        "workflow/wt-1",
    )
    assert not path.exists()
    assert [w.path.name for w in list_worktrees(repo)] == [repo.name]
    assert "workflow/wt-1" not in git(repo, "branch", "--list")


def test_a_users_own_branch_is_kept(repo: Path) -> None:
    """Only branches named workflow/<worktree> were made for the workflow; others stay."""
    add_worktree(repo, "wt-2", branch="feature/mine")
    done = remove(Layout(repo), "wt-2")
    assert done.deleted_branch is None
    assert "feature/mine" in git(repo, "branch", "--list")


def test_a_git_locked_worktree_needs_force(repo: Path) -> None:
    """git worktree lock is respected unless --force (then git's -f -f)."""
    path = add_worktree(repo, "held")
    git(repo, "worktree", "lock", str(path))
    with pytest.raises(
        WorktreeRefused, match=r"worktree 'held' is locked by 'git worktree lock'; pass --force"
    ):
        remove(Layout(repo), "held")
    assert path.exists()
    assert remove(Layout(repo), "held", force=True).removed_folder
    assert not path.exists()
    assert [w.path.name for w in list_worktrees(repo)] == [repo.name]


def test_an_active_worktree_needs_force(repo: Path) -> None:
    """The worktree of a running workflow is never removed without --force."""
    path = add_worktree(repo, "live")
    record(repo, "wf-live", "running", "live")
    with (
        live_lock(repo, "wf-live"),
        pytest.raises(WorktreeRefused, match="belongs to workflow wf-live which is active"),
    ):
        remove(Layout(repo), "live")
    assert path.exists()


def test_a_folder_deleted_by_hand_is_pruned(repo: Path) -> None:
    """After rm -rf, git remove fails; prune clears the registration and the branch goes."""
    path = add_worktree(repo, "handmade")
    shutil.rmtree(path)
    done = remove(Layout(repo), "handmade")
    assert (done.unregistered, done.deleted_branch) == (True, "workflow/handmade")
    assert [w.path.name for w in list_worktrees(repo)] == [repo.name]


def test_names_that_escape_are_refused_before_anything_happens(repo: Path) -> None:
    """A name with a path in it is refused, and nothing is deleted."""
    add_worktree(repo, "safe")
    for bad in ("../../README.md", "/etc", "a/b", ".."):
        with pytest.raises(UnsafeNameError):
            remove(Layout(repo), bad)
    assert (repo / "README.md").exists()


def test_retention_removes_completed_at_once_and_failed_after_seven_days(repo: Path) -> None:
    """completed: gone now; failed: kept at 6 days, gone at 8; active/stuck: only listed."""
    for name in ("done", "fresh-fail", "old-fail", "hung"):
        add_worktree(repo, name)
    orphan = Layout(repo).worktree("old-orphan")
    orphan.mkdir()
    (orphan / "f.txt").write_text("x")
    record(repo, "wf-done", "completed", "done")
    record(repo, "wf-fresh", "failed", "fresh-fail")
    record(repo, "wf-old", "failed", "old-fail")
    record(repo, "wf-hung", "running", "hung")
    age_tree(Layout(repo).worktree("fresh-fail"), 6)
    age_tree(Layout(repo).worktree("old-fail"), 8)
    age_tree(Layout(repo).worktree("hung"), 30)
    age_tree(orphan, 8)
    layout = Layout(repo)
    plan = plan_cleanup(
        layout,
        only=["completed_worktrees", "failed_worktrees", "orphan_worktrees", "stuck_worktrees"],
    )
    assert {i.path.name: i.label.split(" (")[0] for i in plan.items} == {
        "done": "delete: workflow completed",
        "fresh-fail": "keep: too new",
        "old-fail": "delete: older than 7d",
        "hung": "skip: stuck workflow",
        "old-orphan": "delete: older than 7d",
    }
    report = apply_plan(layout, plan)
    assert report.ok, report.failed
    assert sorted(p.name for p in layout.worktrees_dir.iterdir()) == ["fresh-fail", "hung"]
    assert sorted(w.path.name for w in list_worktrees(repo)) == sorted(
        [repo.name, "fresh-fail", "hung"]
    )
    assert "workflow/done" not in git(repo, "branch", "--list")


def test_the_runbook_find_command_would_delete_fresh_worktrees(repo: Path) -> None:
    """Why not find -mtime +7 -exec rm -rf: it matches worktrees/ itself once that is old."""
    fresh = add_worktree(repo, "fresh")
    folder = Layout(repo).worktrees_dir
    stamp = time.time() - 10 * DAY
    os.utime(folder, (stamp, stamp))
    matched = subprocess.run(
        ["find", str(folder), "-type", "d", "-mtime", "+7"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert str(folder) in matched  # the runbook's command would rm -rf the whole folder
    plan = plan_cleanup(Layout(repo), clock=VirtualClock(time.time()))
    assert [(i.path, i.label) for i in plan.items] == [(fresh, "keep: too new")]


def test_an_inventory_that_walks_nothing_reads_no_locks(tmp_path: Path) -> None:
    """Unmeasured plain folders are not walked, so the function that reads the locks is never
    called (a pass reads /proc/locks on a thread meanwhile)."""
    (Layout(tmp_path).worktrees_dir / "wt").mkdir(parents=True)

    def never() -> set[tuple[int, int]] | None:
        message = "the locks were read"
        raise AssertionError(message)

    (info,) = inventory(Layout(tmp_path), measure=False, locks=never)
    assert (info.name, info.newest_mtime, info.exists, info.is_symlink) == ("wt", None, True, False)


def _labels(layout: Layout, clock: VirtualClock) -> dict[str, str]:
    """Each worktree's plan label, by folder name."""
    plan = plan_cleanup(layout, clock=clock, only=list(WORKTREE_CATEGORIES))
    return {i.path.name: i.label.split(" (")[0] for i in plan.items}


WORKTREE_CATEGORIES = (
    "active_worktrees",
    "stuck_worktrees",
    "completed_worktrees",
    "failed_worktrees",
    "orphan_worktrees",
)


@pytest.mark.parametrize("read_as", ["runbook", "tapps-agents-3.7"])
def test_the_real_package_s_worktree_is_kept_by_its_name_while_its_workflow_runs(
    tmp_path: Path, read_as: str
) -> None:
    """The real package records no worktree in its states; it names a step's worktree by rule.
    A folder so named for a running workflow is that workflow's (kept, whichever layout the
    tree is read through: the command line reads the runbook's); one named for a completed
    workflow is not removed at once on its name alone, it is an orphan."""
    clock = VirtualClock(time.time())
    with project(tmp_path, clock=clock, layout="tapps-agents-3.7") as built:
        built.workflow("wf-run").step("plan").step("build", "running").save()
        built.workflow("wf-done", "completed").step("build").save()
        running = built.worktree(workflow="wf-run", step="build", age="30d", files=1)
        done = built.worktree(workflow="wf-done", step="build", age="1d", files=1)
    layout = Layout(tmp_path, layout_profile(read_as))
    info = {i.name: i for i in inventory(layout, clock=clock)}
    assert (info[running.name].workflow_id, info[running.name].step_id) == ("wf-run", "build")
    assert info[running.name].status == "active"
    assert (info[done.name].status, info[done.name].workflow_id) == ("orphan", None)
    assert _labels(layout, clock) == {
        running.name: "skip: active workflow",
        done.name: "keep: too new",
    }


@pytest.mark.parametrize("read_as", ["runbook", "tapps-agents-3.7"])
def test_an_unreadable_older_save_of_a_real_workflow_owns_nothing(
    tmp_path: Path, read_as: str
) -> None:
    """A damaged older save (``<id>-YYYYmmdd-HHMMSS.json``, in the state folder or history) of
    a workflow whose newest save reads would not count if it could be read: through either
    layout the worktrees are decided as usual. A damaged save of a workflow no readable state
    holds, or a runbook state's file so named, may own any worktree: they are all kept."""
    clock = VirtualClock(time.time())
    with project(tmp_path, clock=clock, layout="tapps-agents-3.7") as built:
        built.workflow("wf-1", "completed").step("build").save()
        orphan = built.worktree("wt-orphan", age="8d", files=1)
    layout = Layout(tmp_path, layout_profile(read_as))
    damaged = [
        layout.state_dir / "wf-1-20200101-120000.json",
        layout.history_dir / "wf-1-20200101-120000.json",
    ]
    for path in damaged:
        path.write_text('{"workflow_id": "wf-1", "sta')
        os.utime(path, (time.time() - 9 * DAY,) * 2)  # older than the readable save
    assert _labels(layout, clock) == {orphan.name: "delete: older than 7d"}
    unknown = layout.history_dir / "wf-9-20200101-120000.json"
    unknown.write_text("{")
    assert _labels(layout, clock) == {orphan.name: f"skip: owner state unreadable: {unknown}"}


def test_a_runbook_state_file_named_like_a_real_save_is_never_taken_for_one(
    tmp_path: Path,
) -> None:
    """``history/wf-1-20200101-120000.json`` beside a readable runbook-form wf-1 may hold the
    workflow ``wf-1-20200101-120000`` (a runbook writer names history files by id): damaged,
    it keeps every worktree."""
    clock = VirtualClock(time.time())
    with project(tmp_path, clock=clock) as built:
        built.workflow("wf-1", "completed").step("build").save()
        orphan = built.worktree("wt-orphan", age="8d", files=1)
    copy = Layout(tmp_path).history_dir / "wf-1-20200101-120000.json"
    copy.write_text("{")
    assert _labels(Layout(tmp_path), clock) == {
        orphan.name: f"skip: owner state unreadable: {copy}"
    }


def test_a_running_workflow_s_worktree_stays_its_own_beside_an_unreadable_state(
    tmp_path: Path,
) -> None:
    """An unreadable state may own any worktree, but one a readable running workflow records is
    kept as that workflow's (active), not as unknown; the others are unknown and skipped."""
    clock = VirtualClock(time.time())
    with project(tmp_path, clock=clock) as built:
        built.workflow("wf-run").step("build", "running", worktree="wt-run").save()
        built.worktree("wt-run", age="30d", files=1)
        built.worktree("wt-other", age="30d", files=1)
    live = live_lock(tmp_path, "wf-run")
    with live:
        damaged = Layout(tmp_path).history_dir / "wf-x.json"
        damaged.write_text("{")
        info = {i.name: i for i in inventory(Layout(tmp_path), clock=clock)}
        assert (info["wt-run"].status, info["wt-run"].owner_unreadable) == ("active", None)
        assert info["wt-other"].status == "unknown"
        assert _labels(Layout(tmp_path), clock) == {
            "wt-run": "skip: active workflow",
            "wt-other": f"skip: owner state unreadable: {damaged}",
        }
