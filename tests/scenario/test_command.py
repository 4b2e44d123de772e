"""Tests for pytest_tapps.scenario._command: driving a command line through subprocesses."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.scenario import (
    CommandTarget,
    ScenarioFailure,
    Unsupported,
    load_file,
    parse,
    run_scenario,
    tapps_cli,
)
from pytest_tapps.scenario._command import TAPPS_COMMANDS, _fill
from pytest_tapps.scenario._run import Result


def run_text(tmp_path: Path, text: str, target: CommandTarget) -> Result:
    path = tmp_path / "s.tapps.yaml"
    path.write_text(textwrap.dedent(text))
    (loaded,) = load_file(path)
    return run_scenario(loaded, parse(loaded.data), target=target, root=tmp_path / "project")


def test_fill_substitutes_fields_and_drops_empty_ones() -> None:
    """{field} is replaced; an element whose field is empty is left out."""
    template = ["workflow", "reset", "--workflow-id", "{workflow}", "--to-step={to_step}"]
    assert _fill(template, {"workflow": "w-1", "to_step": None}) == [
        "workflow",
        "reset",
        "--workflow-id",
        "w-1",
    ]
    assert _fill(template, {"workflow": "w-1", "to_step": "s2"})[-1] == "--to-step=s2"


@given(flag=st.booleans(), only=st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))
def test_fill_flags_and_repeats(flag: bool, only: list[str]) -> None:
    """?field ARG appears only when true; *field ARG repeats ARG ITEM per item."""
    args = _fill(
        ["cleanup", "?dry_run", "--dry-run", "*only", "--only", "--json"],
        {"dry_run": flag, "only": only},
    )
    expected = ["cleanup", *(["--dry-run"] if flag else [])]
    for item in only:
        expected += ["--only", item]
    assert args == [*expected, "--json"]


CRITICAL = """\
name: critical step times out three times
runbook: Retry/Timeout Handling > Automatic Retries > Stop after max_attempts
given:
  workflows:
    - id: workflow-123
      steps:
        - id: critical-step
          agent: implementer
          retry: {max_attempts: 3, backoff_strategy: exponential, initial_delay: 5, max_delay: 60}
          timeout: 300
faults:
  - step_timeout: critical-step
when:
  - run: workflow-123
then:
  steps: {critical-step: {status: failed, attempts: 3, delays: [5s, 10s]}}
  elapsed: %s
  exit_code: 1
  dlq: [{step_id: critical-step, category: timeout, recoverable: true}]
  logs:
    every_record_has: [workflow_id]
    records: [{message: Step failed, step_id: critical-step, agent: implementer, attempt: 3}]
"""


def test_the_tapps_cli_runs_a_workflow_in_virtual_time(tmp_path: Path) -> None:
    """Through subprocesses: faults from the environment, --now, logs from stderr, elapsed."""
    result = run_text(tmp_path, CRITICAL % "915s", tapps_cli())
    assert [done.name for done in result.performed] == ["run"]
    assert any(r.get("message") == "Workflow failed" for r in result.records)


def test_a_cli_difference_fails_the_scenario(tmp_path: Path) -> None:
    """A wrong expectation under the command target fails with the timeline."""
    with pytest.raises(ScenarioFailure, match=r"expected: 15m\n    actual:   15\.25m"):
        run_text(tmp_path, CRITICAL % "15m", tapps_cli())


def test_an_unmapped_action_is_unsupported(tmp_path: Path) -> None:
    """A command target without a template for an action cannot perform it."""
    target = CommandTarget(program=[sys.executable, "-m", "pytest_tapps"], commands={})
    with pytest.raises(Unsupported, match="command line maps no command to 'run'"):
        run_text(tmp_path, CRITICAL % "915s", target)


def test_a_missing_program_is_unsupported(tmp_path: Path) -> None:
    """A program that is not installed cannot perform anything."""
    target = CommandTarget(program=[str(tmp_path / "no-such-tapps")], commands=TAPPS_COMMANDS)
    with pytest.raises(Unsupported, match="cannot run"):
        run_text(tmp_path, CRITICAL % "915s", target)


def test_plans_and_verdicts_parse_from_the_cli_json(tmp_path: Path) -> None:
    """cleanup --json and cache verify --json become the normal form expectations read."""
    run_text(
        tmp_path,
        """\
        name: plan and cache verdicts through the command line
        runbook: Cleanup Tools > Usage > Dry run
        given:
          files:
            - {path: .tapps-agents/analytics/history/old.jsonl, age: 91d}
            - {path: .tapps-agents/analytics/history/new.jsonl, age: 89d}
          context7: [{library: good}, {library: bad}]
        faults:
          - corrupt_cache_entry: {library: bad, kind: truncated}
        when:
          - cleanup: {dry_run: true}
          - cache_verify: {}
        then:
          plan:
            .tapps-agents/analytics/history/old.jsonl: delete
            .tapps-agents/analytics/history/new.jsonl: "keep: too new"
          corrupted: {bad: truncated}
          exit_code: 1
        """,
        tapps_cli(),
    )


def test_the_fake_filesystem_is_unsupported_by_subprocesses(tmp_path: Path) -> None:
    """A command target cannot act on pyfakefs' tree: it says so instead of failing oddly."""
    path = tmp_path / "s.tapps.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: a dry run on the fake filesystem
            runbook: Cleanup Tools > Usage > Dry run
            fs: fake
            when:
              - cleanup: {dry_run: true}
            then:
              unchanged: true
            """
        )
    )
    (loaded,) = load_file(path)
    with pytest.raises(Unsupported, match=r"cannot see the fake filesystem this scenario uses"):
        run_scenario(loaded, parse(loaded.data), target=tapps_cli())
