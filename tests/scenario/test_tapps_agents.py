"""Tests for the ``tapps-agents`` target's mapping (pytest_tapps.scenario._tapps_agents), against
a small fake of the real package with the same signatures (tests/scenario/fake_tapps_agents.py).
The real package is run by ``.ci/conformance`` (docs/conformance/)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_tapps.core import WorkflowDefinition
from pytest_tapps.scenario import ScenarioFailure, Unsupported, load_file, parse, run_scenario
from pytest_tapps.scenario._run import Result
from pytest_tapps.scenario._tapps_agents import (
    UNSUPPORTED,
    TappsAgentsTarget,
    workflow_yaml,
)
from pytest_tapps.scenario._targets import Outcome, Session, load_target
from tests.scenario import fake_tapps_agents as fake


@pytest.fixture(autouse=True)
def _fresh_fake() -> None:
    fake.StateManager.status = "failed"
    fake.CALLS.clear()
    fake.CleanupTool.script = []
    fake.CoreWorktreeManager.names = []


def target() -> TappsAgentsTarget:
    return TappsAgentsTarget(modules=fake.modules())


def run_text(tmp_path: Path, text: str, chosen: TappsAgentsTarget | None = None) -> Result:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "s.tapps.yaml"
    path.write_text(textwrap.dedent(text))
    (loaded,) = load_file(path)
    return run_scenario(
        loaded, parse(loaded.data), target=chosen or target(), root=tmp_path / "project"
    )


WORKFLOW = """\
name: a step that always fails
runbook: Retry/Timeout Handling > Automatic Retries > Stop after max_attempts
given:
  workflows:
    - id: wf-1
      steps:
        - {id: plan, agent: planner, action: plan}
        - id: build
          retry: {max_attempts: 3, backoff_strategy: exponential, initial_delay: 5, max_delay: 60}
faults:
  - %s
when:
  - run: wf-1
then:
  exit_code: 1
  elapsed: %s
"""


def test_run_fires_the_step_faults_at_the_executor_s_step_seam(tmp_path: Path) -> None:
    """The executor runs the translated workflow; each call of the failing step is an attempt;
    the package's backoff sleeps move the virtual clock (5 s then 10 s), not the real one."""
    result = run_text(
        tmp_path, WORKFLOW % ("step_failure: {step: build, category: timeout}", "15s")
    )
    (done,) = result.performed
    assert done.outcome.output.splitlines()[-2:] == [
        "workflow wf-1: failed",
        "Step failed: injected failure",
    ]
    (loaded,) = [value for name, value in fake.CALLS if name == "load_workflow"]
    assert [s["id"] for s in loaded["steps"]] == ["plan", "build"]


def test_a_step_timeout_lasts_the_package_s_own_step_timeout(tmp_path: Path) -> None:
    """A step that outlives its timeout is stopped at the executor's timeout (3600 s, which the
    runbook's step ``timeout:`` cannot change there), three times: 3 x 3600 s + 5 s + 10 s."""
    run_text(tmp_path, WORKFLOW % ("step_timeout: {step: build}", "10815s"))


def test_the_run_happens_in_the_project_at_virtual_time_with_the_run_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During an action: cwd is the project, datetime.now() is the scenario's now, headless
    mode, workflow ids kept, Cursor variables unset, a failing npx first on PATH, Beads and
    Context7 off in config. Afterwards the environment is as before."""
    seen: dict[str, Any] = {}
    monkeypatch.setenv("CURSOR_TRACE_ID", "abc")

    class Probe(TappsAgentsTarget):
        def worktree_prune(self, spec: Any, session: Session) -> Outcome:
            npx = shutil.which("npx")
            seen.update(
                cwd=Path.cwd(),
                now=datetime.now().astimezone(),
                mode=os.environ.get("TAPPS_AGENTS_MODE"),
                preserve=os.environ.get("TAPPS_AGENTS_PRESERVE_WORKFLOW_ID"),
                cursor=os.environ.get("CURSOR_TRACE_ID"),
                npx=subprocess.run([npx or "npx", "--version"], check=False).returncode,
                config=session.layout.config_file.read_text(),
            )
            return Outcome()

    text = """\
        name: probe
        runbook: Worktree Cleanup and Management > Automatic Cleanup
        now: 2026-03-01T12:00:00Z
        when:
          - worktree_prune: {}
        """
    result = run_text(tmp_path, text, Probe(modules=fake.modules()))
    assert seen["cwd"] == result.session.root
    assert seen["now"].isoformat() == "2026-03-01T12:00:00+00:00"
    assert (seen["mode"], seen["preserve"], seen["cursor"]) == ("headless", "true", None)
    assert seen["npx"] == 1
    assert "beads:\n  enabled: false" in seen["config"]
    assert "context7:\n  enabled: false" in seen["config"]
    assert os.environ["CURSOR_TRACE_ID"] == "abc"
    assert "TAPPS_AGENTS_MODE" not in os.environ


RESUME = """\
name: resume
runbook: Retry/Timeout Handling > Manual Retry Procedures > Resume Workflow
given:
  workflows:
    - {id: wf-1, steps: [{id: plan}]}
when:
  - resume: wf-1
then:
  exit_code: 0
"""


def test_resume_loads_the_saved_state_and_re_reads_the_definition(tmp_path: Path) -> None:
    """resume = the CLI's ``workflow resume --workflow-id``: load that workflow's state, read its
    definition (the scenario's, when the state names none), then execute."""
    run_text(tmp_path, RESUME)
    names = [name for name, _ in fake.CALLS]
    assert names == ["load_state", "load_workflow"]
    assert fake.CALLS[0] == ("load_state", "wf-1")


def test_skip_step_skips_on_the_saved_state(tmp_path: Path) -> None:
    """skip_step loads the workflow as resume does and calls the executor's skip_step."""
    text = """\
        name: skip
        runbook: Retry/Timeout Handling > Manual Retry Procedures > Skip Failed Step
        given:
          workflows:
            - {id: wf-1, steps: [{id: plan}, {id: build}]}
        when:
          - skip_step: {workflow: wf-1, step: build}
        then:
          exit_code: 0
        """
    run_text(tmp_path, text)
    assert [name for name, _ in fake.CALLS] == ["load_state", "load_workflow", "skip_step"]
    assert fake.CALLS[-1] == ("skip_step", "build")


FLAKY = """\
name: flaky builds
runbook: Retry/Timeout Handling > Automatic Retries > Retry failed steps with backoff
given:
  workflows:
    - id: wf-a
      steps:
        - {id: build, retry: {max_attempts: 2, backoff_strategy: fixed, initial_delay: 5}}
    - id: wf-b
      steps:
        - {id: build, retry: {max_attempts: 2, backoff_strategy: fixed, initial_delay: 7}}
faults:
  - flaky: {step: build, failures: 1}
when:
  - run: wf-a
  - run: wf-b
then:
  exit_code: 0
  elapsed: 12s
"""


def test_attempts_are_counted_per_workflow_and_step(tmp_path: Path) -> None:
    """Each call of a step is its next attempt, counted apart for each workflow: both builds
    fail their first call and pass their second, after their own backoff (5 s, then 7 s)."""
    run_text(tmp_path, FLAKY)


@pytest.mark.parametrize(("saved", "calls"), [("failed", []), ("paused", ["resume_workflow"])])
def test_resume_runs_a_failed_or_paused_workflow_again(
    tmp_path: Path, saved: str, calls: list[str]
) -> None:
    """A failed state is set running, a paused one resumed, as the package's CLI does; its
    executor runs only a running workflow, so without that the resume would do nothing."""
    fake.StateManager.status = saved
    result = run_text(tmp_path, RESUME)
    assert result.performed[0].outcome.output == "workflow wf-1: completed"
    names = [name for name, _ in fake.CALLS]
    assert names == ["load_state", "load_workflow", *calls]


@pytest.mark.parametrize(("code", "status"), [("3", 3), ("none", 0), ("no such folder", 1)])
def test_a_command_line_s_exit_status_and_output_are_kept(
    tmp_path: Path, code: str, status: int
) -> None:
    """The cleanup tool exiting (SystemExit) gives the status sys.exit would (None is 0, a
    message 1), with what it printed."""
    fake.CleanupTool.script = [
        ("remove", ".tapps-agents/analytics/history/old.jsonl"),
        ("exit", code),
    ]
    result = run_text(tmp_path, CLEANUP.split("then:", maxsplit=1)[0] % "{}")
    (done,) = result.performed
    assert done.outcome.exit_code == status
    assert done.outcome.data["items"] == {".tapps-agents/analytics/history/old.jsonl": "delete"}


def test_a_refused_worktree_name_is_bad_input(tmp_path: Path) -> None:
    """The package's ValueError refusing a worktree name is the action's bad input (exit 2)."""
    text = """\
        name: a name with ..
        runbook: Worktree Cleanup and Management > Manual Cleanup Procedures > Remove specific worktree
        when:
          - worktree_remove: {name: ../x}
        then:
          exit_code: 2
          output_contains: ["Invalid worktree name"]
        """
    run_text(tmp_path, text)


def test_cwd_environment_and_time_come_back_after_the_package_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package raising mid-action leaves the working folder, the environment and the
    real clock as they were before the action."""
    monkeypatch.setenv("CURSOR_SESSION_ID", "s-1")
    before = (Path.cwd(), dict(os.environ), time.sleep)

    class Raising(TappsAgentsTarget):
        def worktree_prune(self, spec: Any, session: Session) -> Outcome:
            raise RuntimeError("boom")

    text = """\
        name: raising
        runbook: Worktree Cleanup and Management > Automatic Cleanup
        when:
          - worktree_prune: {}
        then:
          exit_code: 1
          output_contains: ["RuntimeError: boom"]
        """
    run_text(tmp_path, text, Raising(modules=fake.modules()))
    assert (Path.cwd(), dict(os.environ), time.sleep) == before
    assert abs(datetime.now().timestamp() - time.time()) < 5
    assert datetime.now().year >= 2026


def test_the_definition_is_translated_to_the_package_s_schema() -> None:
    """Steps chained by next:, retry as metadata.retry with the package's key names, no
    timeout key (its schema rejects one)."""
    definition = WorkflowDefinition.model_validate(
        {
            "id": "wf",
            "steps": [
                {"id": "a", "timeout": 300},
                {
                    "id": "b",
                    "agent": "implementer",
                    "action": "generate-code",
                    "retry": {"max_attempts": 4, "backoff_strategy": "fixed", "initial_delay": 7},
                },
            ],
        }
    )
    steps = workflow_yaml(definition)["workflow"]["steps"]
    assert steps[0] == {"id": "a", "agent": "noop", "action": "run", "next": "b"}
    assert steps[1]["metadata"] == {
        "retry": {
            "max_attempts": 4,
            "initial_backoff_seconds": 7.0,
            "max_backoff_seconds": 60.0,
            "backoff_multiplier": 1.0,
        }
    }
    assert "next" not in steps[1]


CLEANUP = """\
name: cleanup
runbook: Cleanup Tools > Usage > Dry run
given:
  files:
    - {path: .tapps-agents/analytics/history/old.jsonl, age: 100d}
    - {path: .tapps-agents/analytics/history/new.jsonl, age: 1d}
when:
  - cleanup: %s
then:
  plan:
    .tapps-agents/analytics/history/old.jsonl: "delete: older than 90d"
    .tapps-agents/analytics/history/new.jsonl: "keep: too new"
"""


def test_cleanup_runs_the_cleanup_script_and_reads_what_it_printed(tmp_path: Path) -> None:
    """The tool's main() gets --project-root and --dry-run; what it printed becomes the plan
    (a bare 'delete', checked on the decision alone since the tool gives no reason)."""
    fake.CleanupTool.script = [("remove", ".tapps-agents/analytics/history/old.jsonl")]
    result = run_text(tmp_path / "a", CLEANUP % "{dry_run: true}")
    (call,) = [value for name, value in fake.CALLS if name == "cleanup_tool.main"]
    assert call["dry_run"] is True
    assert call["project_root"] == result.session.root
    assert result.performed[0].outcome.data == {
        "items": {".tapps-agents/analytics/history/old.jsonl": "delete"},
        "unlisted": "keep",  # the tool prints only what it removes
    }


def test_a_plan_from_the_script_that_deletes_the_wrong_file_departs(tmp_path: Path) -> None:
    fake.CleanupTool.script = [("remove", ".tapps-agents/analytics/history/new.jsonl")]
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path, CLEANUP % "{}")
    message = str(caught.value)
    assert "expected: keep: too new\n    actual:   delete" in message
    assert "expected: delete: older than 90d\n    actual:   keep" in message


def test_a_file_the_script_could_not_process_fails_the_cleanup(tmp_path: Path) -> None:
    fake.CleanupTool.script = [("error", ".tapps-agents/analytics/history/old.jsonl")]
    result = run_text(
        tmp_path, CLEANUP.split("then:", maxsplit=1)[0] % "{}" + "then:\n  exit_code: 1\n"
    )
    assert result.performed[0].outcome.data["items"] == {
        ".tapps-agents/analytics/history/old.jsonl": "skip: [Errno 13] Permission denied"
    }


def test_only_maps_to_the_tool_s_one_category_options(tmp_path: Path) -> None:
    """Worktree categories are --worktrees-only; categories the tool cannot single out are not
    supported by this target."""
    run_text(tmp_path / "a", CLEANUP.split("then:", maxsplit=1)[0] % "{only: [failed_worktrees]}")
    (call,) = [value for name, value in fake.CALLS if name == "cleanup_tool.main"]
    assert call["worktrees_only"] is True
    with pytest.raises(Unsupported, match="not to debug_logs"):
        run_text(tmp_path / "b", CLEANUP.split("then:", maxsplit=1)[0] % "{only: [debug_logs]}")


def test_actions_the_package_has_no_way_to_perform_are_unsupported_with_the_reason(
    tmp_path: Path,
) -> None:
    text = """\
        name: reset
        runbook: Workflow Stuck/Failed Recovery > Recovery Procedures > Reset Workflow State
        given:
          states: [{id: wf-1, status: failed, steps: [{id: a, status: failed}]}]
        when:
          - reset: {workflow: wf-1}
        """
    with pytest.raises(Unsupported, match=r"tapps-agents 3\.7: it has no command to reset"):
        run_text(tmp_path, text)
    assert set(UNSUPPORTED) >= {"retry_step", "dlq_skip", "dlq_retry", "cache_verify"}


def test_a_kill_of_the_in_process_package_is_unsupported_not_a_departure(
    tmp_path: Path,
) -> None:
    """kill_executor cannot kill a package that runs in pytest's process: UNSUPPORTED, with
    why, before the package runs (not a harness traceback recorded as a departure)."""
    text = WORKFLOW % ("kill_executor: build", "0s")
    with pytest.raises(Unsupported, match="kill_executor needs the executor in a process"):
        run_text(tmp_path, text)


def test_an_exception_of_the_package_is_the_action_s_failure(tmp_path: Path) -> None:
    """The package raising is an exit code and the exception as output (evidence), not a
    harness error: here its KBCache.clear() ImportError."""
    text = """\
        name: clear
        runbook: Cache Invalidation and Recovery > Context7 Cache > Invalidation > Full cache clear
        when:
          - cache_invalidate: {all: true}
        then:
          exit_code: 1
          output_contains: ["ImportError: cannot import name 'CacheIndex'"]
        """
    run_text(tmp_path, text)


def test_worktree_and_cache_actions_reach_the_package(tmp_path: Path) -> None:
    fake.CoreWorktreeManager.names = ["workflow-wf-step-a-12345678"]
    text = """\
        name: worktrees
        runbook: Worktree Cleanup and Management > Manual Cleanup Procedures > List worktrees
        when:
          - worktree_list: {}
          - worktree_remove: {name: wt-a}
          - cache_invalidate: {library: react}
        then:
          worktrees: {workflow-wf-step-a-12345678: {registered: true}}
        """
    result = run_text(tmp_path, text)
    assert ("remove_worktree", ("wt-a", True)) in fake.CALLS
    kb_root = result.session.root / ".tapps-agents/kb/context7-cache"
    assert ("kb.delete", (kb_root, "react")) in fake.CALLS


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_prune_runs_the_worktree_retention_then_the_branch_cleanup(tmp_path: Path) -> None:
    """In a git repository (a git worktree makes one) worktree_prune also cleans branches."""
    fake.CleanupTool.script = [("remove", ".tapps-agents/worktrees/wt-old")]
    text = """\
        name: prune
        runbook: Worktree Cleanup and Management > Manual Cleanup Procedures > Bulk cleanup
        requires: [git]
        given:
          worktrees: [{name: wt-old, git: true, age: 8d}]
        when:
          - worktree_prune: {}
        then:
          output_contains: ["branches deleted: 1, failed: 0"]
        """
    run_text(tmp_path, text)
    assert [name for name, _ in fake.CALLS] == ["cleanup_worktrees", "cleanup_orphaned_branches"]
    assert fake.CALLS[0] == ("cleanup_worktrees", (7, False))


def test_the_workflow_logger_s_records_are_captured(tmp_path: Path) -> None:
    text = """\
        name: log
        runbook: Log and Trace Field Conventions > Standard Fields
        when:
          - log: {message: Step started, workflow_id: wf-1, step_id: s1, agent: a, fields: {duration_seconds: 5.2}}
        then:
          logs:
            records:
              - {message: Step started, workflow_id: wf-1, step_id: s1, duration_seconds: 5.2}
        """
    run_text(tmp_path, text)


def test_the_target_writes_the_real_package_s_layout(tmp_path: Path) -> None:
    text = """\
        name: layout
        runbook: Worktree Cleanup and Management > Automatic Cleanup
        given:
          states: [{id: wf-1, status: failed, current: true, steps: [{id: a, status: failed}]}]
        when:
          - worktree_prune: {}
        """
    result = run_text(tmp_path, text)
    assert result.session.layout.profile.name == "tapps-agents-3.7"
    assert (result.session.root / ".tapps-agents/workflow-state/wf-1.meta.json").is_file()


@pytest.mark.skipif(
    importlib.util.find_spec("tapps_agents") is not None, reason="the real package is here"
)
def test_without_the_package_the_target_says_how_to_install_it() -> None:
    with pytest.raises(ValueError, match=r"pip install tapps-agents==3\.7\.1"):
        load_target("tapps-agents")
