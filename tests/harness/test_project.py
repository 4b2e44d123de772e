"""Tests for pytest_tapps.harness._project: fabricated trees on the real and the fake fs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core import StateStore, StepStatus, VirtualClock, check_entry
from pytest_tapps.core._retention import DAY
from pytest_tapps.harness import Faults, HarnessError, diff_snapshots, project


def test_ages_set_mtimes_relative_to_the_clock(tmp_path: Path) -> None:
    """file(..., age='40d') has an mtime exactly 40 days before the clock's now."""
    clock = VirtualClock()
    with project(tmp_path, clock=clock) as built:
        path = built.file("logs/debug/a.log", age="40d")
        future = built.analytics("b.jsonl", age="-1h")
        assert path == tmp_path / ".tapps-agents/logs/debug/a.log"
        assert path.stat().st_mtime == clock.time() - 40 * DAY
        assert future.stat().st_mtime == clock.time() + 3600


def test_a_link_is_aged_by_its_own_time_not_its_target_s(tmp_path: Path) -> None:
    """symlink(..., age='2d') stamps the link itself (what lstat reads) on the project's
    clock; its target keeps its own time, and a link made without an age is made at now (not
    at the machine's real time, which is after a scenario's clock)."""
    clock = VirtualClock()
    with project(tmp_path, clock=clock) as built:
        target = built.file("logs/debug/a.log", age="8d")
        link = built.symlink("logs/debug/latest.log", target, age="2d")
        fresh = built.symlink("logs/debug/now.log", target)
        assert link.lstat().st_mtime == clock.time() - 2 * DAY
        assert fresh.lstat().st_mtime == clock.time()
        assert target.stat().st_mtime == clock.time() - 8 * DAY


def test_a_declarative_tree_builds_workflows_worktrees_and_caches(tmp_path: Path) -> None:
    """build() takes the same things as the fluent methods, from a mapping."""
    with project(tmp_path) as built:
        built.build(
            {
                "files": [{"path": "reports/quality/q.html", "age": "91d"}],
                "workflows": [
                    {
                        "id": "wf-1",
                        "status": "failed",
                        "current": True,
                        "steps": [
                            {"id": "plan"},
                            {
                                "id": "build",
                                "status": "failed",
                                "error": "timeout",
                                "attempts": 3,
                                "worktree": "wt-build",
                            },
                        ],
                    },
                ],
                "worktrees": [{"name": "wt-build", "age": "8d"}],
                "context7": [{"library": "react"}],
                "tiered": [{"name": "agent-a.json", "age": "31d"}],
            }
        )
        state = StateStore(built.layout).load()
        assert state.workflow_id == "wf-1"
        assert [(e.step_id, e.attempt, e.status) for e in state.step_executions] == [
            ("plan", 1, StepStatus.COMPLETED),
            ("build", 1, StepStatus.FAILED),
            ("build", 2, StepStatus.FAILED),
            ("build", 3, StepStatus.FAILED),
        ]
        failed = state.failed()[0]
        assert failed.error is not None
        assert (failed.error.category, failed.error.recoverable, failed.worktree) == (
            "timeout",
            True,
            "wt-build",
        )
        assert (tmp_path / "reports/quality/q.html").exists()
        assert check_entry(built.layout.context7_entry("react")).ok
        tiered = tmp_path / ".tapps-agents/cache/tiered-context/agent-a.json"
        assert tiered.stat().st_mtime == built.clock.time() - 31 * DAY
        assert sorted(p.name for p in built.layout.worktree("wt-build").iterdir()) == [
            "file-0.txt",
            "file-1.txt",
            "file-2.txt",
        ]


def test_unknown_declarative_keys_are_refused(tmp_path: Path) -> None:
    """A typo in a tree description is a harness error naming the key."""
    with (
        project(tmp_path) as built,
        pytest.raises(HarnessError, match="unknown tree key 'worktree'"),
    ):
        built.build({"worktree": []})


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_worktrees_are_real(tmp_path: Path) -> None:
    """git=True makes a real repository and a real, registered, lockable worktree."""
    from pytest_tapps.core._git import list_worktrees

    with project(tmp_path) as built:
        path = built.worktree("wt-1", git=True, locked=True, dirty=True)
        entries = {w.path.name: w for w in list_worktrees(tmp_path)}
        assert entries["wt-1"].locked
        assert entries["wt-1"].branch == "workflow/wt-1"
        assert (path / "README.md").read_text() == "changed by the harness\n"


def test_the_fake_filesystem_leaves_the_disk_alone() -> None:
    """fs='fake' builds under pyfakefs; nothing exists on the real disk afterwards."""
    with project(fs="fake") as built:
        path = built.file("analytics/history/a.jsonl", age="100d")
        assert path.exists()
        assert built.root == Path("/project")
    assert not Path("/project/.tapps-agents").exists()


def test_git_on_the_fake_filesystem_says_what_to_do() -> None:
    """A feature that needs the real filesystem fails with a message naming the fix."""
    with project(fs="fake") as built, pytest.raises(HarnessError) as info:
        built.worktree("wt", git=True)
    assert str(info.value) == (
        "git worktrees need the real filesystem (pyfakefs cannot run git or other "
        "subprocesses): use fs='real' for this test"
    )


def test_snapshot_diff_shows_what_changed(tmp_path: Path) -> None:
    """The diff names removed, added and changed paths, one per line."""
    with project(tmp_path) as built:
        gone = built.file("logs/debug/old.log", age="8d")
        kept = built.file("logs/debug/new.log")
        before = built.snapshot()
        gone.unlink()
        kept.write_text("grown")
        built.file("logs/debug/added.log")
        lines = diff_snapshots(before, built.snapshot()).splitlines()
        assert [line.split("  ")[0] for line in lines] == [
            "+ .tapps-agents/logs/debug/added.log",
            "~ .tapps-agents/logs/debug/new.log",
            "- .tapps-agents/logs/debug/old.log",
        ]
        assert diff_snapshots(before, before) == "(no change)"


def test_a_snapshot_describes_what_it_cannot_read() -> None:
    """An unreadable file keeps its size and time, an unlisted folder says so: no crash."""
    with project(fs="fake") as built:
        built.file("logs/debug/secret.log", age="1d")
        built.file("artifacts/workflows/run-1/sub/a.txt")
        faults = Faults(built)
        faults.permission_denied("logs/debug/secret.log")
        faults.permission_denied("artifacts/workflows/run-1/sub")
        snap = built.snapshot()
        mtime = built.clock.time() - DAY
        assert (
            snap[".tapps-agents/logs/debug/secret.log"] == f"file 1 B unreadable mtime {mtime:.0f}"
        )
        assert snap[".tapps-agents/artifacts/workflows/run-1/sub"] == "folder unreadable"
        faults.close()
        assert diff_snapshots(snap, built.snapshot()).splitlines() == [
            "~ .tapps-agents/artifacts/workflows/run-1/sub  (folder unreadable -> folder)",
            "+ .tapps-agents/artifacts/workflows/run-1/sub/a.txt  "
            f"(file 1 B sha256:2d711642b726 mtime {built.clock.time():.0f})",
            "~ .tapps-agents/logs/debug/secret.log  "
            f"(file 1 B unreadable mtime {mtime:.0f} -> file 1 B sha256:2d711642b726 "
            f"mtime {mtime:.0f})",
        ]


#: A fresh interpreter that has loaded the harness but not yet the cleanup: its first import
#: happens under pyfakefs, as in a scenario run.
_TWO_FAKE_CLEANUPS = textwrap.dedent(
    """
    from pytest_tapps.harness import project

    for attempt in range(2):
        with project(fs="fake") as built:
            from pytest_tapps.core import run_cleanup

            built.file("logs/debug/old.log", age="8d")
            report = run_cleanup(built.layout, clock=built.clock)
            print(attempt, [item.path.name for item in report.removed])
    """
)


def test_two_fake_filesystem_cleanups_in_one_process() -> None:
    """A cleanup under one fake filesystem does not break the next one in the same process
    (pyfakefs unloads what was first imported under it; the core keeps what it loaded)."""
    done = subprocess.run(
        [sys.executable, "-c", _TWO_FAKE_CLEANUPS], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["0 ['old.log']", "1 ['old.log']"]


def test_an_empty_worktree_folder_can_be_made(tmp_path: Path) -> None:
    """files=0 makes the worktree folder with nothing in it, aged like the others."""
    with project(tmp_path) as built:
        path = built.worktree("empty", files=0, age="2d")
        assert path.is_dir()
        assert list(path.iterdir()) == []
        assert built.clock.time() - path.stat().st_mtime == 2 * 86400


def test_a_lock_read_in_flight_ends_before_the_fake_filesystem_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A /proc/locks read started ahead on a thread (as tapps cleanup starts one) finishes on
    the real filesystem before project(fs='fake') patches, and is dropped: no thread reads
    while the fake filesystem is active, and a pass there reads anew."""
    import time

    from pytest_tapps.core import _proclocks

    finished_on_real_os: list[bool] = []

    def slow_read() -> None:
        time.sleep(0.2)
        finished_on_real_os.append(_proclocks.on_real_os())

    monkeypatch.setattr(_proclocks, "locked_inodes", slow_read)
    _proclocks.read_locks_ahead()
    with project(fs="fake"):
        assert finished_on_real_os == [True]
        assert _proclocks._ahead is None


def test_only_what_pyfakefs_does_not_skip_is_named_to_it() -> None:
    """The fake filesystem leaves pytest's capture and path helpers on the real one by naming
    them to its own Patcher, but only the loaded ones pyfakefs does not skip already (its
    pytest plugin, when loaded, skips them for every Patcher; a named module makes every
    fake os call look at its caller)."""
    from pytest_tapps.harness._project import _REAL_FS_MODULES, _keep_real

    loaded = [name for name in _REAL_FS_MODULES if name in sys.modules]
    assert {"_pytest.capture", "_pytest.pathlib", "pytest"} <= set(loaded)
    assert _keep_real(set()) == loaded
    assert _keep_real({sys.modules[name] for name in loaded}) == []
    capture = sys.modules["_pytest.capture"]
    assert _keep_real({capture}) == [name for name in loaded if name != "_pytest.capture"]


def test_a_core_name_bound_to_a_dropped_module_still_sees_the_fake_filesystem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A module dropped from sys.modules (as pytester's in-process runs drop the imports made
    inside them) is loaded anew, and the core's cached names follow it into the patcher."""
    from pytest_tapps import core

    stale = core.plan_cleanup  # cached in the core's namespace, bound to this module object
    # After the test the old module comes back everywhere: the package's attribute and cached
    # name too, or the rest of the session would run on two copies of it.
    monkeypatch.setattr(core, "_plan", sys.modules["pytest_tapps.core._plan"])
    monkeypatch.setattr(core, "plan_cleanup", stale)
    monkeypatch.delitem(sys.modules, "pytest_tapps.core._plan")
    with project(fs="fake") as built:
        built.file("logs/debug/old.log", age="8d")
        plan = core.plan_cleanup(built.layout, clock=built.clock)
        assert [item.path.name for item in plan.items] == ["old.log"]
    assert core.plan_cleanup is not stale


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7])
def test_a_snapshot_hashes_every_byte_of_a_file(tmp_path: Path, size: int) -> None:
    """The hash covers the whole file, below, at and past the read size, and a change of the
    last byte alone shows."""
    import hashlib

    data = bytes(n % 251 for n in range(size))
    with project(tmp_path / "p") as built:
        path = built.write(built.root / ".tapps-agents/logs/debug/big.log", data)
        want = hashlib.sha256(data).hexdigest()[:12]
        assert f" B sha256:{want} " in built.snapshot()[".tapps-agents/logs/debug/big.log"]
        if size:  # the last byte changed, the size and the mtime kept: only the hash shows it
            before = built.snapshot()
            kept = path.stat()
            path.write_bytes(data[:-1] + bytes([(data[-1] + 1) % 256]))
            os.utime(path, ns=(kept.st_atime_ns, kept.st_mtime_ns))
            changed = diff_snapshots(before, built.snapshot())
            assert changed.startswith("~ ")
            assert " sha256:" in changed


def test_a_snapshot_does_not_read_a_fifo(tmp_path: Path) -> None:
    """A FIFO in the tree is described, not opened (a read would wait for a writer forever)."""
    import threading

    with project(tmp_path / "p") as built:
        fifo = built.root / ".tapps-agents" / "logs" / "pipe"
        fifo.parent.mkdir(parents=True)
        os.mkfifo(fifo)
        found: dict[str, str] = {}
        worker = threading.Thread(target=lambda: found.update(built.snapshot()), daemon=True)
        worker.start()
        worker.join(timeout=30)
        if worker.is_alive():  # unblock the read before failing, so the thread can end
            with open(fifo, "wb"):  # noqa: PTH123
                pass
            pytest.fail("the snapshot opened the FIFO and waited on it")
        assert found[".tapps-agents/logs/pipe"].startswith("fifo mtime ")


@given(
    st.lists(
        st.lists(
            st.text(st.characters(blacklist_characters="/\0", codec=None), min_size=1, max_size=4),
            min_size=1,
            max_size=4,
        ),
        max_size=12,
    )
)
def test_snapshot_order_is_component_by_component(paths: list[list[str]]) -> None:
    """The one-string sort key orders paths as comparing them component by component does
    (``a/b`` before ``a-b`` before ``ab``), whatever characters the names hold."""
    from pytest_tapps.harness._project import _as_components

    texts = ["/".join(parts) for parts in paths]
    assert sorted(texts, key=_as_components) == sorted(texts, key=lambda t: t.split("/"))
