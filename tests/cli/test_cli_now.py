"""End-to-end tests of ``--now TIME``: every command on a virtual clock that starts at TIME."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_tapps.cli._app import (
    _attach_negative_now,
    build_parser,
    future_now_refusal,
    parse_now,
)
from pytest_tapps.core import Layout
from tests.helpers import (
    DAY,
    aged_file,
    envelope,
    execution,
    live_lock,
    run_cli,
    snapshot,
    state,
    write_current,
)

NOW = "2026-01-15T10:30:00Z"
NOW_EPOCH = datetime(2026, 1, 15, 10, 30, tzinfo=UTC).timestamp()
HISTORY = ".tapps-agents/analytics/history"
FORMS = (
    "an ISO 8601 timestamp with a zone (2026-01-15T10:30:00Z, 2026-01-15T10:30:00+02:00) "
    "or an offset from now (+7d, -12h)"
)

ALWAYS_TIMES_OUT = textwrap.dedent(
    """
    def run_step(step, context):
        context.sleep(10**9)  # spends the step's time on the executor's clock
    """
)

# The runbook's critical-step: 3 attempts of 300 s, exponential waits of 5 s and 10 s.
CRITICAL_STEP = textwrap.dedent(
    """
    id: workflow-123
    steps:
      - id: critical-step
        agent: implementer
        action: generate-code
        retry: {max_attempts: 3, backoff_strategy: exponential, initial_delay: 5, max_delay: 60}
        timeout: 300
    """
)


def _decisions(done_stdout: str) -> dict[str, tuple[str, str]]:
    """File name -> (decision, age) from ``cleanup --dry-run --json``."""
    items = json.loads(done_stdout)["items"]
    return {Path(i["path"]).name: (i["decision"], i["age"]) for i in items}


def test_cleanup_measures_ages_from_now(tmp_path: Path) -> None:
    """Analytics aged 89 and 91 days before TIME are kept and deleted, though both are older."""
    aged_file(tmp_path / HISTORY / "agents-89.jsonl", age=89 * DAY, now=NOW_EPOCH)
    aged_file(tmp_path / HISTORY / "agents-91.jsonl", age=91 * DAY, now=NOW_EPOCH)
    done = run_cli("cleanup", "--now", NOW, "--dry-run", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _decisions(done.stdout) == {
        "agents-89.jsonl": ("keep", "89d"),
        "agents-91.jsonl": ("delete", "91d"),
    }
    real = run_cli("cleanup", "--dry-run", "--json", cwd=tmp_path)
    assert {d for d, _age in _decisions(real.stdout).values()} == {"delete"}


def test_workflow_run_takes_virtual_time(tmp_path: Path) -> None:
    """Three 300 s timeouts and their waits cost no real time; the state reads from TIME on."""
    (tmp_path / "steps.py").write_text(ALWAYS_TIMES_OUT)
    (tmp_path / "workflow.yaml").write_text(CRITICAL_STEP)
    began = time.monotonic()
    done = run_cli(
        "workflow", "run", "--now", NOW, "workflow.yaml", "--runner", "steps:run_step", cwd=tmp_path
    )
    assert time.monotonic() - began < 30
    assert done.returncode == 1, done.stderr
    current = Layout(tmp_path).current_state_file
    assert current is not None
    saved = json.loads(current.read_text())
    assert (saved["status"], saved["started_at"], saved["updated_at"]) == (
        "failed",
        NOW,
        "2026-01-15T10:45:15Z",
    )
    assert [
        (e["attempt"], e["started_at"], e["completed_at"], e["error"]["category"])
        for e in saved["step_executions"]
    ] == [
        (1, "2026-01-15T10:30:00Z", "2026-01-15T10:35:00Z", "timeout"),
        (2, "2026-01-15T10:35:05Z", "2026-01-15T10:40:05Z", "timeout"),
        (3, "2026-01-15T10:40:15Z", "2026-01-15T10:45:15Z", "timeout"),
    ]


def test_relative_now_moves_from_the_real_now(tmp_path: Path) -> None:
    """+7d ages every file by a week; -12h (also written --now=-12h) makes them younger."""
    now = time.time()
    aged_file(tmp_path / HISTORY / "agents-85.jsonl", age=85 * DAY, now=now)
    aged_file(tmp_path / HISTORY / "agents-80.jsonl", age=80 * DAY, now=now)
    aged_file(tmp_path / ".tapps-agents/logs/debug/d.log", age=7.25 * DAY, now=now)

    def decisions(*now_option: str) -> dict[str, str]:
        done = run_cli("cleanup", "--dry-run", "--json", *now_option, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return {name: decision for name, (decision, _age) in _decisions(done.stdout).items()}

    assert decisions() == {"agents-80.jsonl": "keep", "agents-85.jsonl": "keep", "d.log": "delete"}
    assert decisions("--now", "+7d") == {
        "agents-80.jsonl": "keep",
        "agents-85.jsonl": "delete",
        "d.log": "delete",
    }
    younger = {"agents-80.jsonl": "keep", "agents-85.jsonl": "keep", "d.log": "keep"}
    assert decisions("--now", "-12h") == younger
    assert decisions("--now=-12h") == younger


def test_status_measures_progress_age_from_now(tmp_path: Path) -> None:
    """A running workflow last updated at 10:45 is 900 s silent at 11:00."""
    write_current(tmp_path, state("workflow-123", "running"))
    done = run_cli("workflow", "status", "--json", "--now", "2026-01-15T11:00:00Z", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["last_progress_age_seconds"] == 900.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", f"'yesterday' is not a time; write {FORMS}"),
        (
            "2026-01-15T10:30:00",
            "'2026-01-15T10:30:00' has no time zone: add Z or an offset, "
            "e.g. 2026-01-15T10:30:00Z or 2026-01-15T10:30:00+02:00",
        ),
        (
            "+7",
            "'+7' is not an offset from now; write a sign, a number and a unit, e.g. +7d, "
            "-12h, +30m",
        ),
        (
            "0001-01-01T00:00:00Z",
            "'0001-01-01T00:00:00Z' is out of range; write a time from 1970 to 9998",
        ),
    ],
)
def test_a_bad_now_is_a_usage_error(tmp_path: Path, value: str, message: str) -> None:
    """A bad TIME exits 2 with argparse's usage error naming --now, and touches nothing."""
    aged_file(tmp_path / ".tapps-agents/logs/debug/d.log", age=30 * DAY, now=time.time())
    before = snapshot(tmp_path)
    done = run_cli("cleanup", "--now", value, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[0].startswith("usage: tapps cleanup ")
    assert done.stderr.splitlines()[-1] == f"tapps cleanup: error: argument --now: {message}"
    assert "Traceback" not in done.stderr
    assert snapshot(tmp_path) == before


def test_an_offset_zone_names_the_same_moment() -> None:
    """10:30 at +02:00 is 08:30 UTC: the clock starts at that epoch second."""
    assert parse_now("2026-01-15T10:30:00+02:00").time() == NOW_EPOCH - 2 * 3600
    assert parse_now(NOW).time() == NOW_EPOCH


def test_only_a_value_after_now_that_starts_with_a_digit_is_attached() -> None:
    """--now -12h becomes --now=-12h; other options and anything after -- stay as they are."""
    assert _attach_negative_now(["cleanup", "--now", "-12h", "-v"]) == [
        "cleanup",
        "--now=-12h",
        "-v",
    ]
    assert _attach_negative_now(["cleanup", "--now", "-v"]) == ["cleanup", "--now", "-v"]
    assert _attach_negative_now(["logs", "lint", "--", "--now", "-1"]) == [
        "logs",
        "lint",
        "--",
        "--now",
        "-1",
    ]


def _not_yet_expired(root: Path) -> None:
    """A debug log 5 days old, an orphan worktree 3 days old (both kept for 7 days) and a
    failed workflow-123: nothing a command on the real clock may delete or break yet."""
    now = time.time()
    aged_file(root / ".tapps-agents/logs/debug/d.log", age=5 * DAY, now=now)
    worktree = aged_file(root / ".tapps-agents/worktrees/wt-old/file.txt", age=3 * DAY, now=now)
    os.utime(worktree.parent, (now - 3 * DAY, now - 3 * DAY))
    failed = execution("critical-step", "failed", error=envelope())
    write_current(root, state("workflow-123", "failed", failed))


def _future_refusal(command: str, fix: str = "Preview it with --dry-run.") -> re.Pattern[str]:
    """The refusal of a future --now for ``tapps COMMAND``, any TIME."""
    return re.compile(
        r"tapps: error: --now is in the future \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\); "
        + re.escape(f"'tapps {command}' changes things and would act on ages that have not ")
        + re.escape(f"passed yet. {fix}")
    )


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("cleanup", []),
        ("workflow reset", ["--workflow-id", "workflow-123"]),
        ("worktree prune", []),
    ],
)
def test_a_future_now_is_refused_for_a_command_that_changes_things(
    tmp_path: Path, name: str, options: list[str]
) -> None:
    """A week ahead, a changing command exits 2 naming --dry-run and touches nothing; its dry
    run at the same TIME shows what it would have changed."""
    _not_yet_expired(tmp_path)
    before = snapshot(tmp_path)
    command = [*name.split(), *options]
    done = run_cli(*command, "--now", "+7d", cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert done.stdout == ""
    assert _future_refusal(name).fullmatch(done.stderr.strip()), done.stderr
    assert snapshot(tmp_path) == before
    preview = run_cli(*command, "--now", "+7d", "--dry-run", cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert re.search(r"delete|would change", preview.stdout)
    assert snapshot(tmp_path) == before


def test_a_future_now_is_refused_for_a_command_without_a_dry_run(tmp_path: Path) -> None:
    """worktree remove has no --dry-run: the refusal says to drop --now or use a past TIME."""
    _not_yet_expired(tmp_path)
    before = snapshot(tmp_path)
    done = run_cli(
        "worktree", "remove", "wt-old", "--now", "2099-01-01T00:00:00+02:00", cwd=tmp_path
    )
    assert done.returncode == 2, done.stdout
    assert done.stderr == (
        "tapps: error: --now is in the future (2098-12-31T22:00:00Z); 'tapps worktree remove' "
        "changes things and would act on ages that have not passed yet. It has no --dry-run: "
        "run it without --now, or with a TIME that has passed.\n"
    )
    assert snapshot(tmp_path) == before


def test_a_future_now_is_allowed_to_preview_and_to_read(tmp_path: Path) -> None:
    """cleanup --dry-run and workflow status run a week ahead, and change nothing."""
    _not_yet_expired(tmp_path)
    before = snapshot(tmp_path)
    preview = run_cli("cleanup", "--dry-run", "--json", "--now", "+7d", cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert {d for d, _age in _decisions(preview.stdout).values()} == {"delete"}
    status = run_cli("workflow", "status", "--json", "--now", "+7d", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "failed"
    assert snapshot(tmp_path) == before


def test_a_past_now_never_breaks_a_live_holders_lock(tmp_path: Path) -> None:
    """With the holder's real heartbeat ahead of TIME, retry-step and force-cleanup refuse
    (exit 1) exactly as on the real clock; the lock and its holder survive."""
    _not_yet_expired(tmp_path)
    layout = Layout(tmp_path)
    lock = layout.lock_file("workflow-123")
    current = layout.current_state_file
    assert current is not None
    with live_lock(tmp_path, "workflow-123") as holder:
        held, saved = lock.read_bytes(), current.read_bytes()
        retry = run_cli(
            "workflow",
            "retry-step",
            "--workflow-id",
            "workflow-123",
            "--step",
            "critical-step",
            "--now",
            NOW,
            cwd=tmp_path,
        )
        assert retry.returncode == 1, retry.stdout
        assert f"workflow is locked by pid {holder.pid} on {socket.gethostname()}" in retry.stderr
        assert " ahead of the clock)" in retry.stderr
        cleanup = run_cli(
            "workflow", "force-cleanup", "--workflow-id", "workflow-123", "--now", NOW, cwd=tmp_path
        )
        assert cleanup.returncode == 1, cleanup.stderr
        assert cleanup.stdout.startswith(f"kept lock {lock.relative_to(tmp_path)}: held by pid ")
        assert (lock.read_bytes(), current.read_bytes()) == (held, saved)
        assert not layout.backups_dir.exists()
        assert holder.poll() is None


def test_a_past_now_still_breaks_a_dead_holders_lock(tmp_path: Path) -> None:
    """Once the holder is killed, retry-step at TIME removes its lock, naming the dead pid."""
    _not_yet_expired(tmp_path)
    with live_lock(tmp_path, "workflow-123") as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        done = run_cli(
            "workflow",
            "retry-step",
            "--workflow-id",
            "workflow-123",
            "--step",
            "critical-step",
            "--now",
            NOW,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    assert (
        f"  removed a stale lock: holder pid {holder.pid} on {socket.gethostname()} is not "
        "running (heartbeat "
    ) in done.stdout
    assert "  - step 'critical-step': failed -> pending" in done.stdout
    assert not Layout(tmp_path).lock_file("workflow-123").exists()


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every runnable subcommand of ``parser`` by its full name."""
    found: dict[str, argparse.ArgumentParser] = {}
    # argparse lists its subcommands only in these underscore names.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                inner = _commands(sub)
                found.update({f"{name} {k}": v for k, v in inner.items()} if inner else {name: sub})
    return found


READ_ONLY = {
    "cache verify",
    "dlq list",
    "logs grep",
    "logs lint",
    "workflow status",
    "worktree list",
}
CHANGING = {
    "cache clear-profile",
    "cache clear-tiered",
    "cache invalidate",
    "cache recover",
    "cache warm",
    "cleanup",
    "dlq retry",
    "dlq skip",
    "workflow force-cleanup",
    "workflow reset",
    "workflow resume",
    "workflow retry-step",
    "workflow run",
    "workflow skip-step",
    "worktree prune",
    "worktree remove",
}


def test_every_command_says_whether_it_changes_things() -> None:
    """Each subcommand sets changes=True or False, and every one that writes says True."""
    commands = _commands(build_parser())
    marks = {name: sub.get_default("changes") for name, sub in commands.items()}
    assert {name: mark for name, mark in marks.items() if not isinstance(mark, bool)} == {}
    assert {name: marks.get(name) for name in READ_ONLY} == dict.fromkeys(READ_ONLY, False)
    assert {name: marks.get(name) for name in CHANGING} == dict.fromkeys(CHANGING, True)


@pytest.mark.parametrize("now", ["+0s", "+500ms", "-1s", "-12h", "2026-01-15T10:30:00Z"])
def test_now_and_the_past_are_allowed_for_every_command(now: str) -> None:
    """The real now (within a second) and any past TIME pass for a changing command."""
    args = build_parser().parse_args(_attach_negative_now(["cleanup", "--now", now]))
    assert future_now_refusal(args) is None


def test_two_seconds_ahead_is_refused() -> None:
    """Past the one-second tolerance, a changing command without --dry-run is refused."""
    args = build_parser().parse_args(["dlq", "retry", "--category", "timeout", "--now", "+2s"])
    refusal = future_now_refusal(args)
    assert refusal is not None
    assert refusal.startswith("--now is in the future (")
    assert refusal.endswith(
        "'tapps dlq retry' changes things and would act on ages that have not passed yet. "
        "Preview it with --dry-run."
    )
