"""End-to-end tests of ``--now TIME``: every command on a virtual clock that starts at TIME."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_tapps.cli._app import _attach_negative_now, parse_now
from pytest_tapps.core import Layout
from tests.helpers import DAY, aged_file, run_cli, snapshot, state, write_current

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
