"""What an operator reads at 3 a.m., through the real ``tapps`` command: human ages in tables,
columns that stay aligned, exit 2 for what the command line names and is not there, a
``--project-root`` that is no project, and no WARNING record repeating a printed line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.helpers import (
    DAY,
    aged_file,
    dead_pid,
    envelope,
    execution,
    run_cli,
    snapshot,
    state,
    write_current,
    write_lock,
)

NOW = "2026-01-15T10:30:00Z"
NOW_EPOCH = 1768473000.0
#: 120 days and 3 hours: 10,378,800 seconds, which a table must not print as such.
OLD = 120 * DAY + 3 * 3600
LONG_NAME = "wf-a-very-long-worktree-name-made-by-a-workflow-with-a-long-id"


def _aged_tree(root: Path) -> None:
    t = root / ".tapps-agents"
    aged_file(t / "analytics/history/agents-old.jsonl", age=OLD, now=NOW_EPOCH, content=b"x" * 2048)
    aged_file(t / "analytics/history/agents-new.jsonl", age=40 * DAY, now=NOW_EPOCH)
    aged_file(t / "logs/debug/d.log", age=8 * DAY + 90, now=NOW_EPOCH)
    aged_file(t / f"worktrees/{LONG_NAME}/src/a.py", age=OLD, now=NOW_EPOCH)
    aged_file(t / "worktrees/wt-b/a.py", age=100, now=NOW_EPOCH)


def test_the_cleanup_plan_shows_human_ages_in_aligned_columns(tmp_path: Path) -> None:
    """Ages read ``120d 3h`` (not ``10378800s``), right-aligned with the sizes, one alignment
    for the items of every category; --json keeps the seconds."""
    _aged_tree(tmp_path)
    done = run_cli("cleanup", "--dry-run", "--now", NOW, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    wt = ".tapps-agents/worktrees"
    assert done.stdout.splitlines() == [
        "CATEGORY           DELETE  KEEP  SKIP  TO FREE",
        "debug_logs         1       0     0     1 B",
        "analytics_history  1       1     0     2.0 KiB",
        "orphan_worktrees   1       1     0     1 B",
        "",
        "debug_logs: Debug logs, kept 7d",
        "  delete: older than 7d     8d 0h      1 B  .tapps-agents/logs/debug/d.log",
        "",
        "analytics_history: Analytics history, kept 90d",
        "  keep: too new            40d 0h      1 B  .tapps-agents/analytics/history/agents-new.jsonl",
        "  delete: older than 90d  120d 3h  2.0 KiB  .tapps-agents/analytics/history/agents-old.jsonl",
        "",
        "orphan_worktrees: Orphan worktrees (no workflow records them), kept 7d",
        f"  delete: older than 7d   120d 3h      1 B  {wt}/{LONG_NAME}",
        f"  keep: too new            1m 40s      1 B  {wt}/wt-b",
        "",
        "dry run: would delete 3 item(s) (2.0 KiB), keep 2, skip 0; nothing was changed",
    ]
    as_json = run_cli("cleanup", "--dry-run", "--json", "--now", NOW, cwd=tmp_path)
    assert '"age_seconds": 10378800' in as_json.stdout


def test_worktree_tables_align_after_a_long_name(tmp_path: Path) -> None:
    """A worktree name longer than any header widens its column; the later columns stay in
    line, and ages are human in ``list`` and in ``prune --dry-run``."""
    _aged_tree(tmp_path)
    listed = run_cli("worktree", "list", "--now", NOW, cwd=tmp_path)
    pad = " " * (len(LONG_NAME) - len("NAME"))
    assert listed.stdout.splitlines() == [
        f"NAME{pad}  WORKFLOW  STEP  STATUS  AGE      SIZE  GIT",
        f"{LONG_NAME}  -         -     orphan  120d 3h  1 B   not registered",
        f"wt-b{pad}  -         -     orphan  1m 40s   1 B   not registered",
    ]
    pruned = run_cli("worktree", "prune", "--dry-run", "--now", NOW, cwd=tmp_path)
    assert pruned.stdout.splitlines() == [
        f"  delete: older than 7d  120d 3h  1 B  .tapps-agents/worktrees/{LONG_NAME}",
        "  keep: too new           1m 40s  1 B  .tapps-agents/worktrees/wt-b",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("worktree", "remove", "nope"),
            "no worktree 'nope' in .tapps-agents/worktrees; 'tapps worktree list' shows the "
            "worktrees there",
        ),
        (
            ("cache", "warm", "--from", "nowhere"),
            "--from nowhere: no such folder; give a folder of documents (a subfolder per "
            "library id, or a file per library)",
        ),
        (
            ("cache", "warm", "--from", "file.md"),
            "--from file.md: not a folder; give a folder of documents (a subfolder per "
            "library id, or a file per library)",
        ),
        (
            ("cache", "invalidate", "nope"),
            "no Context7 entry 'nope' in .tapps-agents/context7/cache; nothing was removed "
            "('tapps cache verify' lists the entries)",
        ),
        (
            ("workflow", "status", "--workflow-id", "nope"),
            "no workflow state for workflow id 'nope' in .tapps-agents/workflow-state",
        ),
    ],
)
def test_what_the_command_line_names_and_is_not_there_is_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """A worktree, a folder, a library id or a workflow id that does not exist is bad input:
    one error line, exit 2, nothing changed."""
    aged_file(tmp_path / ".tapps-agents/worktrees/wt-a/a.py", age=DAY, now=time.time())
    (tmp_path / "file.md").write_text("# a file, not a folder")
    before = snapshot(tmp_path)
    done = run_cli(*args, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"tapps: error: {message}\n")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "args",
    [
        ("workflow", "status"),
        ("workflow", "force-cleanup", "--workflow-id", "wf-1"),
        ("dlq", "list"),
        ("cleanup", "--dry-run"),
        ("cleanup",),
        ("worktree", "list"),
        ("cache", "verify"),
    ],
)
def test_a_project_root_with_no_tapps_folder_says_so(tmp_path: Path, args: tuple[str, ...]) -> None:
    """A command that reads or repairs a project, pointed at a folder with no .tapps-agents/,
    says so (exit 2) instead of reporting an empty project; a missing folder is named."""
    (tmp_path / "elsewhere").mkdir()
    done = run_cli(*args, "--project-root", "elsewhere", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"tapps: error: not a tapps project: no .tapps-agents/ folder in {tmp_path}/elsewhere "
        "(run it in the project's folder, or name it with --project-root DIR)\n",
    )
    typo = run_cli(*args, "--project-root", "elsewehre", cwd=tmp_path)
    assert (typo.returncode, typo.stderr) == (
        2,
        "tapps: error: --project-root elsewehre: no such folder\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere"]


def test_a_project_root_that_is_a_file_says_it_is_not_a_folder(tmp_path: Path) -> None:
    """``--project-root FILE`` (or a link to one) is not a folder, not "no such folder";
    exit 2 and the file is left as it was."""
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "link").symlink_to("notes.txt")
    for root in ("notes.txt", "link"):
        done = run_cli("dlq", "list", "--project-root", root, cwd=tmp_path)
        assert (done.returncode, done.stdout, done.stderr) == (
            2,
            "",
            f"tapps: error: --project-root {root}: not a folder\n",
        )
    below = run_cli("cleanup", "--project-root", "notes.txt/x", cwd=tmp_path)
    assert (below.returncode, below.stderr) == (
        2,
        "tapps: error: --project-root notes.txt/x: no such folder\n",
    )
    assert (tmp_path / "notes.txt").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a folder whatever its mode")
def test_a_project_root_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    """A ``--project-root`` that cannot be searched (mode 000) is one line naming it and the
    system's reason, exit 2, not a traceback nor "not a tapps project"."""
    locked = tmp_path / "locked"
    (locked / ".tapps-agents").mkdir(parents=True)
    locked.chmod(0)
    try:
        done = run_cli("workflow", "status", "--project-root", "locked", cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "tapps: error: --project-root locked: cannot be read (Permission denied)\n",
    )


def test_a_new_project_can_still_start_and_be_warmed(tmp_path: Path) -> None:
    """``cache warm`` and ``logs lint`` need no .tapps-agents/ yet: warm makes the cache."""
    (tmp_path / "docs/react").mkdir(parents=True)
    (tmp_path / "docs/react/guide.md").write_text("# React")
    (tmp_path / "log.jsonl").write_text("")
    warmed = run_cli("cache", "warm", "--from", "docs", cwd=tmp_path)
    assert (warmed.returncode, warmed.stdout, warmed.stderr) == (0, "warmed react\n", "")
    linted = run_cli("logs", "lint", "log.jsonl", "--project-root", "nowhere", cwd=tmp_path)
    assert linted.returncode == 0, linted.stderr


def _stale_locked(root: Path) -> None:
    failed = execution("build", "failed", error=envelope())
    write_current(root, state("workflow-123", "failed", failed))
    write_lock(root, "workflow-123", dead_pid(), heartbeat_at=round(time.time()) - 7200)


@pytest.mark.parametrize(
    ("args", "printed"),
    [
        (("force-cleanup", "--workflow-id", "workflow-123"), "removed stale lock "),
        (
            ("retry-step", "--workflow-id", "workflow-123", "--step", "build"),
            "  removed a stale lock: ",
        ),
    ],
)
def test_a_warning_the_command_printed_is_not_logged_again_without_v(
    tmp_path: Path, args: tuple[str, ...], printed: str
) -> None:
    """The command prints that it removed a stale lock; its WARNING record shows with -v only."""
    _stale_locked(tmp_path)
    quiet = run_cli("workflow", *args, cwd=tmp_path)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert sum(line.startswith(printed) for line in quiet.stdout.splitlines()) == 1
    _stale_locked(tmp_path)
    verbose = run_cli("workflow", *args, "-v", cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    warnings = [
        line.split(" ", 1)[1] for line in verbose.stderr.splitlines() if " WARNING " in line
    ]
    assert [line.partition(" workflow_id=")[0] for line in warnings] == [
        "WARNING tapps_agents.workflow.recovery Removed stale lock",
    ]


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "0", "soon", "1\udcff"])
@pytest.mark.parametrize("command", [["workflow", "status"], ["cleanup", "--dry-run"]])
def test_stuck_after_is_a_positive_number_of_seconds(
    tmp_path: Path, command: list[str], value: str
) -> None:
    """--stuck-after that is no positive finite number is a usage error naming the option and
    the form, exit 2 (inf gave a traceback, -5 called every workflow stuck); a name's byte is
    written \\xff."""
    write_current(tmp_path, state("wf-1", "running", execution("plan", "running")))
    done = run_cli(*command, "--stuck-after", value, cwd=tmp_path)
    assert done.returncode == 2
    shown = value.replace("\udcff", "\\xff")
    assert done.stderr.splitlines()[-1].endswith(
        f"error: argument --stuck-after: '{shown}': write a positive number of seconds, e.g. 1800"
    )
    assert "Traceback" not in done.stderr


def test_a_live_lock_refusal_names_the_force_cleanup_that_works(tmp_path: Path) -> None:
    """An edit refused by a live lock names 'tapps workflow force-cleanup --workflow-id ID' (run
    as written it works once the holder is gone)."""
    from tests.helpers import live_lock

    write_current(tmp_path, state("wf-1", "failed", execution("plan", "failed")))
    with live_lock(tmp_path, "wf-1"):
        done = run_cli(
            "workflow", "retry-step", "--workflow-id", "wf-1", "--step", "plan", cwd=tmp_path
        )
    assert done.returncode == 1
    assert done.stderr.rstrip().endswith(
        "run 'tapps workflow force-cleanup --workflow-id wf-1' to remove a stale lock"
    )


def test_force_cleanup_json_carries_the_hung_holder_advice(tmp_path: Path) -> None:
    """--json says what the text says about a holder still running past its TTL."""
    import json

    from tests.helpers import running_process

    write_current(tmp_path, state("wf-1", "running", execution("plan", "running")))
    with running_process() as holder:
        write_lock(tmp_path, "wf-1", holder.pid, heartbeat_at=time.time() - 3600)
        done = run_cli("workflow", "force-cleanup", "--workflow-id", "wf-1", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (removed,) = json.loads(done.stdout)["removed_locks"]
    assert removed["advice"] == (
        f"pid {holder.pid} may be a hung executor (or another process that took over the "
        "pid): if it is an executor, stop it before you resume"
    )


def test_an_import_error_of_a_runner_writes_the_name_s_byte_as_x(tmp_path: Path) -> None:
    """An exception's own text that quotes a name (ImportError: No module named 'mod\\udcff')
    is printed with the byte as \\xff."""
    (tmp_path / "wf.yaml").write_text("id: wf\nsteps:\n  - id: a\n")
    done = run_cli("workflow", "run", "wf.yaml", "--runner", "mod\udcff:run", cwd=tmp_path)
    assert done.returncode == 2
    assert "\\udc" not in done.stderr
    assert "(No module named 'mod\\xff')" in done.stderr
