"""End-to-end tests of ``tapps cleanup``, ``tapps worktree`` and ``tapps cache``."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from pytest_tapps.core import Layout
from pytest_tapps.core._cache import write_entry
from tests.helpers import DAY, aged_file, run_cli, snapshot


def _tree(root: Path) -> None:
    now = time.time()
    t = root / ".tapps-agents"
    aged_file(t / "analytics/history/agents-old.jsonl", age=100 * DAY, now=now, content=b"x" * 2048)
    aged_file(t / "analytics/history/agents-new.jsonl", age=40 * DAY, now=now)
    aged_file(t / "logs/debug/d.log", age=8 * DAY, now=now)
    aged_file(t / "context7/cache/react/docs.md", age=900 * DAY, now=now)


def test_dry_run_prints_the_plan_grouped_and_changes_nothing(tmp_path: Path) -> None:
    """The dry run's table has counts and bytes per category, and the tree is untouched."""
    _tree(tmp_path)
    before = snapshot(tmp_path)
    done = run_cli("cleanup", "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == [
        "CATEGORY           DELETE  KEEP  SKIP  TO FREE",
        "debug_logs         1       0     0     1 B",
        "analytics_history  1       1     0     2.0 KiB",
        "context7_cache     0       1     0     0 B",
    ]
    assert "analytics_history: Analytics history, kept 90d" in lines
    assert (
        lines[-1]
        == "dry run: would delete 2 item(s) (2.0 KiB), keep 2, skip 0; nothing was changed"
    )
    assert snapshot(tmp_path) == before


def test_real_run_removes_and_summarises(tmp_path: Path) -> None:
    """The real run prints each removal and a summary line; kept files stay."""
    _tree(tmp_path)
    done = run_cli("cleanup", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "removed .tapps-agents/analytics/history/agents-old.jsonl (analytics_history: older than 90d)",
        "removed .tapps-agents/logs/debug/d.log (debug_logs: older than 7d)",
        "removed 2 item(s) (2.0 KiB), kept 2, skipped 0, vanished 0, failed 0",
    ]
    assert (tmp_path / ".tapps-agents/analytics/history/agents-new.jsonl").exists()
    assert (tmp_path / ".tapps-agents/context7/cache/react/docs.md").exists()


def test_only_and_json(tmp_path: Path) -> None:
    """--only narrows the run; --json lists each decision with its reason and age."""
    _tree(tmp_path)
    done = run_cli("cleanup", "--dry-run", "--only", "analytics_history", "--json", cwd=tmp_path)
    data = json.loads(done.stdout)
    assert [
        (i["path"].rsplit("/", 1)[-1], i["decision"], i["reason"], i["age"]) for i in data["items"]
    ] == [
        ("agents-new.jsonl", "keep", "too new", "40d"),
        ("agents-old.jsonl", "delete", "older than 90d", "100d"),
    ]
    bad = run_cli("cleanup", "--only", "analytics", cwd=tmp_path)
    assert bad.returncode == 2
    assert "invalid choice: 'analytics'" in bad.stderr


def test_a_bad_retention_config_stops_cleanup_with_the_line(tmp_path: Path) -> None:
    """An invalid retention: section: exit 2, file:line: field: message, nothing deleted."""
    _tree(tmp_path)
    (tmp_path / ".tapps-agents/config.yaml").write_text("retention:\n  debug_log: 3d\n")
    before = snapshot(tmp_path)
    done = run_cli("cleanup", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "tapps: error: .tapps-agents/config.yaml:2: retention.debug_log: unknown retention category (did you mean 'debug_logs'?)",
        "    debug_log: 3d",
    ]
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_worktree_list_remove_and_prune(tmp_path: Path) -> None:
    """list shows status and git state; remove refuses escapes (exit 2); prune applies rules."""
    from tests.core.test_worktrees import add_worktree, git, record

    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "f").write_text("x")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "i")
    add_worktree(tmp_path, "done")
    add_worktree(tmp_path, "busy")
    record(tmp_path, "wf-done", "completed", "done")
    record(tmp_path, "wf-busy", "running", "busy")
    listing = json.loads(run_cli("worktree", "list", "--json", cwd=tmp_path).stdout)
    assert [(w["name"], w["status"], w["registered"], w["branch"]) for w in listing] == [
        ("busy", "stuck", True, "workflow/busy"),
        ("done", "completed", True, "workflow/done"),
    ]
    escape = run_cli("worktree", "remove", "../../f", cwd=tmp_path)
    assert escape.returncode == 2
    assert "worktree name '../../f' must not contain" in escape.stderr
    assert (tmp_path / "f").exists()
    refused = run_cli("worktree", "remove", "busy", cwd=tmp_path)
    assert refused.returncode == 1
    assert "pass --force to remove it anyway" in refused.stderr
    pruned = run_cli("worktree", "prune", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert (
        pruned.stdout.splitlines()[0]
        == f"removed {Layout(Path()).worktree('done')} (completed_worktrees: workflow completed)"
    )
    assert not Layout(tmp_path).worktree("done").exists()
    assert Layout(tmp_path).worktree("busy").exists()
    forced = run_cli("worktree", "remove", "busy", "--force", "--json", cwd=tmp_path)
    assert json.loads(forced.stdout)["deleted_branch"] == "workflow/busy"


def test_cache_commands(tmp_path: Path) -> None:
    """verify finds corruption (exit 1), recover removes it, invalidate refuses unsafe ids."""
    layout = Layout(tmp_path)
    write_entry(layout, "react", {"docs.md": "# React\n"})
    broken = write_entry(layout, "vue", {"docs.md": "# Vue\n"})
    (broken / "docs.md").write_text("# V")
    verify = run_cli("cache", "verify", cwd=tmp_path)
    assert verify.returncode == 1
    assert verify.stdout.splitlines() == [
        ".tapps-agents/context7/cache/vue: corrupt: truncated file docs.md (3 of 6 bytes)",
        "2 entries checked, 1 corrupt; run 'tapps cache recover'",
    ]
    assert run_cli("cache", "recover", cwd=tmp_path).returncode == 0
    assert run_cli("cache", "verify", cwd=tmp_path).returncode == 0
    unsafe = run_cli("cache", "invalidate", "../../etc", cwd=tmp_path)
    assert (unsafe.returncode, unsafe.stderr.strip()) == (
        2,
        "tapps: error: library id '../../etc' must not contain '/' or '\\' (it names one folder or file, not a path)",
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vue.md").write_text("# Vue\n")
    warm = run_cli("cache", "warm", "--from", "docs", "--json", cwd=tmp_path)
    assert json.loads(warm.stdout) == {"warmed": ["vue"], "already_valid": [], "failed": []}
    both = run_cli("cache", "invalidate", "react", "--all", cwd=tmp_path)
    assert (both.returncode, both.stderr.strip()) == (
        2,
        "tapps: error: name one LIBRARY_ID or pass --all (not both)",
    )
    assert (
        run_cli("cache", "invalidate", "--all", cwd=tmp_path).stdout.splitlines()[-1]
        == "removed 2 Context7 entries"
    )
