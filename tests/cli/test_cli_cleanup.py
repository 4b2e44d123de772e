"""End-to-end tests of ``tapps cleanup``, ``tapps worktree`` and ``tapps cache``."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_tapps.cli._app import build_parser, run
from pytest_tapps.core import CATEGORIES, Layout, VirtualClock
from pytest_tapps.core._cache import write_entry
from pytest_tapps.harness import Faults, project
from tests.helpers import DAY, aged_file, dead_pid, run_cli, snapshot

NOW = "2026-01-15T10:30:00Z"
NOW_EPOCH = 1768473000.0


def _tree(root: Path, now: float | None = None) -> None:
    now = time.time() if now is None else now
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


def test_a_tombstone_is_shown_and_summed_at_its_real_size(tmp_path: Path) -> None:
    """An unfinished deletion of an earlier run is shown in the dry run, its JSON and the
    real run's summary at the size of what it holds, never 0 B."""
    made = f"{int(time.time()):08x}"
    tomb = f".tapps-deleting-{dead_pid()}-{made}-1234abcd-run"
    aged_file(
        tmp_path / ".tapps-agents/artifacts/workflows" / tomb / "half/a.txt",
        age=0,
        now=time.time(),
        content=b"x" * 3072,
    )
    dry = run_cli("cleanup", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "workflow_artifacts  1       0     0     3.0 KiB" in dry.stdout.splitlines()
    assert dry.stdout.splitlines()[-1] == (
        "dry run: would delete 1 item(s) (3.0 KiB), keep 0, skip 0; nothing was changed"
    )
    data = json.loads(run_cli("cleanup", "--dry-run", "--json", cwd=tmp_path).stdout)
    assert [(i["reason"], i["size_bytes"]) for i in data["items"]] == [
        ("unfinished deletion of an earlier run", 3072)
    ]
    assert data["summary"]["bytes_to_free"] == 3072
    done = run_cli("cleanup", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "removed 1 item(s) (3.0 KiB), kept 0, skipped 0, vanished 0, failed 0"
    )


def test_only_and_json(tmp_path: Path) -> None:
    """--only narrows the run; --json lists each decision with its reason and age."""
    _tree(tmp_path, now=NOW_EPOCH)  # ages measured from a fixed --now: no drift while it runs
    done = run_cli(
        "cleanup", "--dry-run", "--only", "analytics_history", "--json", "--now", NOW, cwd=tmp_path
    )
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


def test_skip_reasons_read_once_in_text_and_json(tmp_path: Path) -> None:
    """A skipped item says "skipped PATH: REASON" and JSON "why" is the bare reason: never
    "skip: skip: future timestamp" for a consumer that adds its own "skip: "."""
    t = tmp_path / ".tapps-agents"
    aged_file(t / "logs/debug/skew.log", age=-3600, now=time.time())
    aged_file(t / "analytics/history/notes.txt", age=400 * DAY, now=time.time())
    data = json.loads(run_cli("cleanup", "--json", cwd=tmp_path).stdout)
    assert sorted((Path(i["path"]).name, i["reason"], i["why"]) for i in data["skipped"]) == [
        ("notes.txt", "no policy", "no policy"),
        ("skew.log", "future timestamp", "future timestamp"),
    ]
    done = run_cli("cleanup", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "skipped .tapps-agents/analytics/history/notes.txt: no policy",
        "skipped .tapps-agents/logs/debug/skew.log: future timestamp",
        "removed 0 item(s) (0 B), kept 0, skipped 2, vanished 0, failed 0",
    ]


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """run() in this process: it sends the tapps_agents logger to the test's stderr, which
    capsys closes after the test; the logger is put back as it was."""
    logger = logging.getLogger("tapps_agents")
    monkeypatch.setattr(logger, "handlers", list(logger.handlers))
    monkeypatch.setattr(logger, "level", logger.level)


@pytest.mark.usefixtures("in_process")
def test_an_unreadable_category_folder_exits_1_and_the_rest_is_cleaned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Permissions are reported, never a traceback: the folder is named, other categories are
    cleaned, and the exit code is 1."""
    build_parser()  # load every command before pyfakefs starts (it unloads what loads under it)
    with project(fs="fake", clock=VirtualClock(NOW_EPOCH)) as built:
        built.file("logs/debug/old.log", age="8d")
        built.file("logs/application/old.log", age="31d")
        faults = Faults(built)
        faults.permission_denied("logs/debug")
        code = run(["cleanup", "--project-root", str(built.root), "--now", NOW])
        faults.close()
    out, err = capsys.readouterr()
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "removed /project/.tapps-agents/logs/application/old.log "
        "(application_logs: older than 30d)",
        "could not remove /project/.tapps-agents/logs/debug: cannot read the folder "
        "(Permission denied); nothing in it was checked",
        "removed 1 item(s) (1 B), kept 0, skipped 0, vanished 0, failed 1",
    ]


_ORDER = """
import sys
from pytest_tapps.core import _proclocks
started = []
_proclocks.read_locks_ahead = lambda: started.append(sorted(
    name for name in sys.modules if name.startswith("pytest_tapps.")
))
from pytest_tapps.cli import main
code = main(sys.argv[1:])
print(started)
"""


@pytest.mark.parametrize(
    ("command", "reads"), [(["cleanup", "--dry-run"], True), (["cache", "verify"], False)]
)
def test_cleanup_starts_reading_the_locks_before_it_loads(
    tmp_path: Path, command: list[str], *, reads: bool
) -> None:
    """tapps cleanup starts its /proc/locks read first, before it loads the command line or
    the cleanup engine (the read can wait 5-25 ms for the kernel); other commands do not."""
    done = subprocess.run(
        [sys.executable, "-c", _ORDER, *command, "--project-root", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    started = json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))
    if reads:
        assert started == [
            ["pytest_tapps.cli", "pytest_tapps.core", "pytest_tapps.core._proclocks"]
        ]
    else:
        assert started == []


@pytest.mark.parametrize("stop", ["bad config", "--help"])
def test_a_cleanup_that_stops_before_its_pass_leaves_no_read_behind(
    tmp_path: Path, stop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The /proc/locks read started ahead is dropped (its thread joined) when the command stops
    before its pass, so a later pass in the same process (an in-process scenario run) reads the
    locks anew instead of taking a snapshot from before it began."""
    from pytest_tapps.cli import main
    from pytest_tapps.core import _proclocks

    (tmp_path / ".tapps-agents").mkdir()
    (tmp_path / ".tapps-agents/config.yaml").write_text("retention:\n  debug_log: 3d\n")
    argv = ["cleanup", "--project-root", str(tmp_path)]
    assert main([*argv, "--help"] if stop == "--help" else argv) == (0 if stop == "--help" else 2)
    capsys.readouterr()
    assert _proclocks._ahead is None


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


def test_an_unreadable_owner_state_is_never_guessed_by_any_worktree_command(
    tmp_path: Path,
) -> None:
    """With a truncated current state, ``cleanup`` and ``worktree prune`` keep an 8-day orphan
    and exit 1 naming the file, ``worktree list`` says ``unknown`` (not ``orphan``) with the
    reason, and ``worktree remove`` needs --force."""
    aged_file(tmp_path / ".tapps-agents/worktrees/wt-1/a.py", age=8 * DAY, now=time.time())
    current = tmp_path / ".tapps-agents/workflow-state/current_state.json"
    current.parent.mkdir(parents=True)
    current.write_text('{"workflow_id": "wf-1", "sta')
    rel = Path(".tapps-agents/workflow-state/current_state.json")
    wt = Path(".tapps-agents/worktrees/wt-1")
    done = run_cli("cleanup", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[0] == f"skipped {wt}: owner state unreadable: {rel}"
    dry = run_cli("cleanup", "--dry-run", cwd=tmp_path)
    assert f"skip: owner state unreadable: {rel}" in dry.stdout
    pruned = run_cli("worktree", "prune", cwd=tmp_path)
    assert pruned.returncode == 1
    named = [line for line in pruned.stdout.splitlines() if str(wt) in line]
    assert named == [f"skipped {wt}: owner state unreadable: {rel}"]  # once, not again as kept
    (listed,) = json.loads(run_cli("worktree", "list", "--json", cwd=tmp_path).stdout)
    assert (listed["status"], listed["evidence"][0]) == (
        "unknown",
        f"owner state unreadable: {rel}: not valid JSON: Unterminated string starting at "
        "line 1 column 25 (truncated?)",
    )
    table = run_cli("worktree", "list", cwd=tmp_path).stdout.splitlines()
    assert table[-1] == (
        f"unknown: owner state unreadable: {rel} (a state that cannot be read may record these "
        "worktrees: none is removed until it is mended)"
    )
    refused = run_cli("worktree", "remove", "wt-1", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(
        f"worktree 'wt-1': owner state unreadable: {rel}, so its workflow may still use it; "
        "repair or remove that state file, or pass --force to remove it anyway"
    )
    assert (tmp_path / wt).is_dir()
    assert run_cli("worktree", "remove", "wt-1", "--force", cwd=tmp_path).returncode == 0
    assert not (tmp_path / wt).exists()


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


def _config(root: Path, text: str) -> None:
    config = Layout(root).config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)


def test_policy_shows_every_category_with_what_sets_its_age(tmp_path: Path) -> None:
    """--policy lists the runbook's categories in order, each with its default, its age here
    and the config line that overrides it (or the default, fixed where no config may change
    it); --only narrows the rows, and nothing in the tree changes."""
    _config(tmp_path, "project: demo\nretention:\n  debug_logs: 36h\n  quality_reports: never\n")
    _tree(tmp_path)
    before = snapshot(tmp_path)
    done = run_cli("cleanup", "--policy", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line.split(None, 4) for line in done.stdout.splitlines()[1:]]
    assert [row[0] for row in rows] == [c.name for c in CATEGORIES]
    by_name = {row[0]: row[1:] for row in rows}
    assert by_name["debug_logs"] == ["Logs", "7d", "1.5d", ".tapps-agents/config.yaml:3"]
    assert by_name["quality_reports"] == [
        "Artifacts",
        "90d",
        "never",
        ".tapps-agents/config.yaml:4",
    ]
    assert by_name["workflow_artifacts"] == ["Artifacts", "30d", "30d", "default"]
    assert by_name["context7_cache"] == ["Cache", "never", "never", "default (fixed)"]
    assert snapshot(tmp_path) == before
    only = run_cli("cleanup", "--policy", "--only", "debug_logs", cwd=tmp_path)
    assert [line.split()[0] for line in only.stdout.splitlines()] == ["CATEGORY", "debug_logs"]


def test_policy_json_names_the_config_file_and_line(tmp_path: Path) -> None:
    """--policy --json: each category's default and age in seconds and as written, whether a
    config may override it, and the file and line that do."""
    _config(tmp_path, "retention:\n  failed_worktrees: 2d\n")
    done = run_cli("cleanup", "--policy", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["categories"]}
    assert rows["failed_worktrees"] == {
        "name": "failed_worktrees",
        "label": "Failed worktrees",
        "section": "Worktrees",
        "default_age_seconds": 7 * DAY,
        "default_age": "7d",
        "age_seconds": 2 * DAY,
        "age": "2d",
        "overridable": True,
        "source": ".tapps-agents/config.yaml",  # as the command names it (run in the root)
        "line": 2,
    }
    assert rows["stuck_worktrees"]["overridable"] is False
    assert rows["stuck_worktrees"]["age_seconds"] is None
    assert rows["completed_worktrees"]["age"] == "at once"
    assert rows["completed_worktrees"]["age_seconds"] == 0
    assert {row["source"] for name, row in rows.items() if name != "failed_worktrees"} == {None}
    # from elsewhere, the file is still named from the project root, as the table names it
    other = run_cli("cleanup", "--policy", "--json", "--project-root", str(tmp_path), cwd=Path("/"))
    rows = {row["name"]: row for row in json.loads(other.stdout)["categories"]}
    assert rows["failed_worktrees"]["source"] == ".tapps-agents/config.yaml"


def test_policy_refuses_a_bad_config_with_its_line_and_takes_a_future_now(tmp_path: Path) -> None:
    """A config the cleanup would refuse is refused here too, with its line and no
    traceback; --policy changes nothing, so a --now in the future is allowed."""
    _config(tmp_path, "retention:\n  debug_logs: 3\n")
    bad = run_cli("cleanup", "--policy", cwd=tmp_path)
    assert bad.returncode == 2
    assert "config.yaml:2: retention.debug_logs: write the age with a unit" in bad.stderr
    assert "Traceback" not in bad.stderr
    _config(tmp_path, "retention:\n  debug_logs: 3d\n")
    future = run_cli("cleanup", "--policy", "--now", "+30d", cwd=tmp_path)
    assert future.returncode == 0, future.stderr
    assert "debug_logs " in future.stdout
    both = run_cli("cleanup", "--policy", "--dry-run", cwd=tmp_path)
    assert both.returncode == 2
    assert "--dry-run: not allowed with argument --policy" in both.stderr
