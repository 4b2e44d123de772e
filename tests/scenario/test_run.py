"""Tests for pytest_tapps.scenario._run (with _expect and _report): building the tree, acting,
checking ``then:`` and the failure picture."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_tapps.harness import HarnessError
from pytest_tapps.scenario import (
    CoreTarget,
    Outcome,
    ScenarioFailure,
    ScenarioSkip,
    Session,
    Target,
    Unsupported,
    load_file,
    parse,
    run_scenario,
)
from pytest_tapps.scenario._run import Result


def run_text(tmp_path: Path, text: str, target: Target | None = None) -> Result:
    """Write ``text`` as a scenario file and run its only scenario in ``tmp_path``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "s.tapps.yaml"
    path.write_text(textwrap.dedent(text))
    (loaded,) = load_file(path)
    return run_scenario(loaded, parse(loaded.data), target=target, root=tmp_path / "project")


RETENTION = """\
name: analytics expire at 90 days
runbook: Data Retention Policies > Metrics > Analytics history
given:
  files:
    - {path: .tapps-agents/analytics/history/old.jsonl, age: 91d}
    - {path: .tapps-agents/analytics/history/new.jsonl, age: 89d}
when:
  - cleanup: {dry_run: %s}
then:
%s
"""


def test_a_dry_run_plan_is_checked_and_leaves_the_tree(tmp_path: Path) -> None:
    """The plan's decisions match by prefix, and a dry run leaves the tree as given."""
    then = """\
  unchanged: true
  plan:
    .tapps-agents/analytics/history/old.jsonl: delete
    .tapps-agents/analytics/history/new.jsonl: "keep: too new"
"""
    result = run_text(tmp_path, RETENTION % ("true", then))
    assert result.before == result.after
    assert (tmp_path / "project/.tapps-agents/analytics/history/old.jsonl").exists()


def test_a_wrong_plan_expectation_shows_the_plan_table(tmp_path: Path) -> None:
    """A decision that differs is reported with the plan of the last cleanup."""
    then = "  plan: {.tapps-agents/analytics/history/new.jsonl: delete}\n"
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path, RETENTION % ("true", then))
    message = str(caught.value)
    assert "then.plan['.tapps-agents/analytics/history/new.jsonl']" in message
    assert "expected: delete\n    actual:   keep: too new" in message
    assert "cleanup plan (dry run):" in message
    assert "delete: " in message.split("cleanup plan (dry run):")[1]


def test_a_real_run_removes_and_the_tree_picture_shows_it(tmp_path: Path) -> None:
    """After a real cleanup, a path expected present but removed is shown in the tree diff."""
    then = "  present: [.tapps-agents/analytics/history/old.jsonl]\n"
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path, RETENTION % ("false", then))
    message = str(caught.value)
    assert "expected: .tapps-agents/analytics/history/old.jsonl present" in message
    assert "tree change:\n    - .tapps-agents/analytics/history/old.jsonl" in message


def test_paths_outside_the_project_are_given_and_checked(tmp_path: Path) -> None:
    """A symlink to ../outside is made as a link, and ../outside paths can be expected."""
    result = run_text(
        tmp_path,
        """\
        name: a link out of the tree is removed as a link
        runbook: Data Retention Policies > Metrics > Analytics history
        given:
          files:
            - {path: ../outside/precious/keep.txt}
          symlinks:
            - {path: .tapps-agents/analytics/history/link, target: ../outside/precious}
        when:
          - cleanup: {}
        then:
          present: [../outside/precious/keep.txt]
        """,
    )
    assert (result.session.root.parent / "outside/precious/keep.txt").read_text() == "x"


def test_the_retention_override_is_written_to_config(tmp_path: Path) -> None:
    """given.retention becomes the retention: section of config.yaml, which cleanup reads."""
    result = run_text(
        tmp_path,
        """\
        name: a shorter analytics retention
        runbook: Data Retention Policies > Metrics > Analytics history
        given:
          retention: {analytics_history: 30d}
          files:
            - {path: .tapps-agents/analytics/history/a.jsonl, age: 40d}
        when:
          - cleanup: {dry_run: true}
        then:
          plan: {.tapps-agents/analytics/history/a.jsonl: delete}
        """,
    )
    config = result.session.root / ".tapps-agents/config.yaml"
    assert config.read_text() == "retention:\n  analytics_history: 30d\n"


def test_advance_moves_the_virtual_clock_and_elapsed_counts_it(tmp_path: Path) -> None:
    """advance: is simulated time; elapsed: compares it."""
    text = """\
    name: time passes
    runbook: Workflow Stuck/Failed Recovery > Symptoms > Running but no progress
    when:
      - advance: 2h
      - advance: 30m
    then:
      elapsed: %s
    """
    result = run_text(tmp_path, text % "150m")
    assert result.session.clock.time() - result.start == 9000
    with pytest.raises(ScenarioFailure, match=r"expected: 2h\n    actual:   2\.5h"):
        run_text(tmp_path / "again", text % "2h")


def test_log_expectations_show_the_records(tmp_path: Path) -> None:
    """A missing record is reported with the records that were logged."""
    text = """\
    name: the runbook's logger example
    runbook: Log and Trace Field Conventions > Examples
    when:
      - log: {message: Step started, workflow_id: workflow-123, step_id: step-1,
              agent: implementer, trace_id: trace-456, fields: {duration_seconds: 5.2}}
    then:
      logs:
        records: [{message: Step started, workflow_id: workflow-123, duration_seconds: %s}]
    """
    run_text(tmp_path, text % "5.2")
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path / "again", text % "5.3")
    message = str(caught.value)
    assert "then.logs.records.0" in message
    assert "log records (1):" in message
    assert '"duration_seconds": 5.2' in message


def test_exit_code_and_output_are_of_the_last_action(tmp_path: Path) -> None:
    """exit_code and output_contains read the last action; the actions picture shows them."""
    text = """\
    name: a hostile library id is refused
    runbook: Cache Invalidation and Recovery > Context7 Cache > Invalidation > Manual invalidation
    when:
      - cache_invalidate: {library: ../escape}
    then:
      exit_code: %s
      output_contains: [escape]
    """
    run_text(tmp_path, text % "2")
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path / "again", text % "0")
    assert "when.0 cache_invalidate -> exit 2" in str(caught.value)


def test_a_missing_requirement_skips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """requires: [git] without git on PATH is a skip, not a failure."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ScenarioSkip, match="requires git"):
        run_text(
            tmp_path,
            """\
            name: needs git
            runbook: Worktree Cleanup and Management > Manual Cleanup Procedures > List worktrees
            requires: [git]
            """,
        )


def test_git_worktrees_on_the_fake_fs_are_a_harness_error(tmp_path: Path) -> None:
    """The harness says it cannot set up git on pyfakefs; it is not the system's failure."""
    path = tmp_path / "s.tapps.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: real git worktree
            runbook: Worktree Cleanup and Management > Manual Cleanup Procedures > List worktrees
            given:
              worktrees: [{name: wt, git: true}]
            """
        )
    )
    (loaded,) = load_file(path)
    with pytest.raises(HarnessError, match="git worktrees cannot run on the fake filesystem"):
        run_scenario(loaded, parse(loaded.data), fs="fake")


class Recorder(Target):
    """A target that performs only cleanup, and records what it was asked."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def cleanup(self, spec: Any, session: Session) -> Outcome:
        self.calls.append(("cleanup", spec.dry_run))
        return Outcome(0, "", {"items": {}})


def test_a_target_gets_each_action_and_lacks_the_rest(tmp_path: Path) -> None:
    """Actions dispatch to the target's methods; a method it lacks is Unsupported."""
    target = Recorder()
    run_text(tmp_path, RETENTION % ("true", "  unchanged: true\n"), target)
    assert target.calls == [("cleanup", True)]
    with pytest.raises(Unsupported, match="recorder has no way to perform 'run'"):
        target.perform("run", None, Session.__new__(Session))


def test_the_project_root_is_where_the_scenario_says(tmp_path: Path) -> None:
    """Files land under the given root, with their ages as mtimes on the virtual clock."""
    result = run_text(tmp_path, RETENTION % ("true", "  unchanged: true\n"))
    old = result.session.root / ".tapps-agents/analytics/history/old.jsonl"
    assert result.session.clock.time() - old.stat().st_mtime == pytest.approx(91 * 86400)


def test_an_error_of_the_core_is_an_exit_code_not_a_crash(tmp_path: Path) -> None:
    """The core target reports a refused input as the command line would, not as a crash: a
    folder named that is not there is exit 2, with the path."""
    result = run_text(
        tmp_path,
        """\
        name: warming from a folder that is not there
        runbook: Cache Invalidation and Recovery > Context7 Cache > Recovery > Cache warming
        when:
          - cache_warm: {from: no-such-folder}
        then:
          exit_code: 2
        """,
    )
    (done,) = result.performed
    assert done.outcome.output.startswith("tapps: error: ")
    assert "no-such-folder" in done.outcome.output


def test_expectations_are_checked_on_the_fake_filesystem_itself(tmp_path: Path) -> None:
    """On fs: fake, present/absent look at the fake tree (not the real disk after the patcher
    is gone): a kept file is present, a deleted one absent."""
    path = tmp_path / "s.tapps.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: cleanup on the fake filesystem
            runbook: Cleanup Tools > Usage > Actual cleanup
            fs: fake
            given:
              files:
                - {path: .tapps-agents/logs/debug/old.log, age: 8d}
                - {path: .tapps-agents/logs/debug/new.log, age: 6d}
            when:
              - cleanup: {}
            then:
              present: [.tapps-agents/logs/debug/new.log]
              absent: [.tapps-agents/logs/debug/old.log]
            """
        )
    )
    (loaded,) = load_file(path)
    result = run_scenario(loaded, parse(loaded.data))
    assert result.session.fake_fs


REAL_LAYOUT = """\
name: a failed workflow in the real package's layout
runbook: Retry/Timeout Handling > Manual Retry Procedures > Skip Failed Step
%s
given:
  states:
    - id: wf-1
      status: failed
      current: true
      steps:
        - {id: plan, status: completed}
        - {id: build, status: failed, error: timeout}
  %s
when:
  - status: {workflow: wf-1}
then:
  exit_code: 0
"""


def test_a_scenario_layout_writes_the_given_tree_in_it(tmp_path: Path) -> None:
    """layout: tapps-agents-3.7 writes the real package's state files; the core reads them."""
    result = run_text(tmp_path, REAL_LAYOUT % ("layout: tapps-agents-3.7", ""))
    state_dir = result.session.root / ".tapps-agents/workflow-state"
    assert (state_dir / "wf-1.meta.json").is_file()
    assert (state_dir / "last.json").is_file()
    assert not (state_dir / "current_state.json").exists()
    assert result.session.layout.profile.name == "tapps-agents-3.7"
    printed = json.loads(result.performed[0].outcome.output)  # workflow status --json
    assert (printed["workflow_id"], printed["status"]) == ("wf-1", "failed")


class RealLayoutTarget(CoreTarget):
    name = "real-layout core"
    layout = "tapps-agents-3.7"


def test_a_target_s_layout_is_the_default_and_the_scenario_s_wins(tmp_path: Path) -> None:
    result = run_text(tmp_path / "a", REAL_LAYOUT % ("", ""), RealLayoutTarget())
    assert result.session.layout.profile.name == "tapps-agents-3.7"
    result = run_text(tmp_path / "b", REAL_LAYOUT % ("layout: runbook", ""), RealLayoutTarget())
    assert result.session.layout.profile.name == "runbook"
    assert (result.session.root / ".tapps-agents/workflow-state/current_state.json").is_file()


def test_a_given_the_layout_has_no_place_for_is_unsupported(tmp_path: Path) -> None:
    """A workflow lock in the real package's layout (it has none): not supported, not a crash."""
    text = REAL_LAYOUT % ("layout: tapps-agents-3.7", "locks: [{workflow: wf-1}]")
    with pytest.raises(Unsupported, match=r"tapps-agents-3\.7 layout has no workflow lock files"):
        run_text(tmp_path, text)


def test_a_harness_action_the_layout_has_no_place_for_is_unsupported(tmp_path: Path) -> None:
    """hold_lock in the real package's layout (no workflow lock files) is not supported by the
    target, not a harness error."""
    text = """\
        name: a live executor in the real layout
        runbook: Workflow Stuck/Failed Recovery > Diagnosis > Check for locks
        layout: tapps-agents-3.7
        when:
          - hold_lock: wf-1
        """
    with pytest.raises(Unsupported, match="no workflow lock files"):
        run_text(tmp_path, text)


def test_a_given_worktree_named_by_workflow_and_step_takes_the_layout_s_name(
    tmp_path: Path,
) -> None:
    text = """\
        name: a step's worktree in the real layout
        runbook: Worktree Cleanup and Management > Manual Cleanup Procedures > List worktrees
        layout: %s
        given:
          worktrees: [{workflow: wf-1, step: build, files: 1}]
        when:
          - worktree_list: {}
        """
    real = run_text(tmp_path / "real", text % "tapps-agents-3.7")
    (name,) = [p.name for p in real.session.layout.worktrees_dir.iterdir()]
    assert name.startswith("workflow-wf-1-step-build-")
    runbook = run_text(tmp_path / "runbook", text % "runbook")
    assert [p.name for p in runbook.session.layout.worktrees_dir.iterdir()] == ["wf-1-build"]


def test_a_scenario_s_runbook_paths_name_the_same_places_in_the_layout(tmp_path: Path) -> None:
    """In the real package's layout, a given file and the then: paths under the runbook's
    context7/cache/ both name its kb/context7-cache/libraries/ (and the picture says so)."""
    text = """\
        name: a cache file in the real layout
        runbook: Data Retention Policies > Cache > Context7 cache
        layout: tapps-agents-3.7
        given:
          files:
            - {path: .tapps-agents/context7/cache/react/docs.md, age: 400d}
        when:
          - cleanup: {}
        then:
          present: [.tapps-agents/context7/cache/react/docs.md]
          absent: [.tapps-agents/context7/cache/vue/docs.md]
        """
    result = run_text(tmp_path, text)
    moved = result.session.root / ".tapps-agents/kb/context7-cache/libraries/react/docs.md"
    assert moved.is_file()
    assert not (result.session.root / ".tapps-agents/context7").exists()
    wrong = text.replace(
        "absent: [.tapps-agents/context7/cache/vue", "absent: [.tapps-agents/context7/cache/react"
    )
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path / "again", wrong)
    assert ".tapps-agents/kb/context7-cache/libraries/react/docs.md absent" in str(caught.value)


def test_attempts_a_state_does_not_record_are_not_recorded_not_one(tmp_path: Path) -> None:
    """The real package's default state keeps no executions: a step's attempts and waits are
    unknown, and the failure says so instead of showing the inferred single entry."""
    text = """\
        name: attempts of a real-layout state
        runbook: Retry/Timeout Handling > Automatic Retries > Stop after max_attempts
        layout: tapps-agents-3.7
        given:
          states:
            - id: wf-1
              status: failed
              current: true
              steps: [{id: build, status: failed, attempts: 3, error: timeout}]
        when:
          - status: {workflow: wf-1}
        then:
          steps: {build: {status: failed, attempts: 3, delays: [5s, 10s]}}
        """
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path, text)
    message = str(caught.value)
    assert "2 expectation(s) do not hold" in message
    assert message.count("actual:   not recorded (the state keeps no attempts of its steps)") == 2


def test_the_error_of_a_step_a_state_does_not_record_attempts_of_is_still_checked(
    tmp_path: Path,
) -> None:
    """An inferred step (real-layout state) still has its error: a wrong category fails the
    scenario, the right one passes."""
    text = """\
        name: error of a real-layout state
        runbook: Retry/Timeout Handling > Automatic Retries > Stop after max_attempts
        layout: tapps-agents-3.7
        given:
          states:
            - id: wf-1
              status: failed
              current: true
              steps: [{id: build, status: failed, attempts: 3, error: timeout}]
        when:
          - status: {workflow: wf-1}
        then:
          steps: {build: {status: failed, error: CATEGORY}}
        """
    run_text(tmp_path / "right", text.replace("CATEGORY", "timeout"))
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path / "wrong", text.replace("CATEGORY", "permission"))
    assert "steps.build.error" in str(caught.value)


def test_every_path_of_a_scenario_moves_to_the_layout(tmp_path: Path) -> None:
    """in_layout moves given links (path and target), fault and inject paths, and then: plan
    keys, as it does given files and present/absent paths."""
    from pytest_tapps.core import TAPPS_AGENTS_3_7
    from pytest_tapps.scenario._run import in_layout

    path = tmp_path / "s.tapps.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: every kind of path
            runbook: Data Retention Policies > Cache > Context7 cache
            given:
              files:
                - {path: .tapps-agents/context7/cache/a/docs.md, age: 1d}
              symlinks:
                - {path: .tapps-agents/context7/cache/b, target: .tapps-agents/context7/cache/a}
            faults:
              - clock_skew: {path: .tapps-agents/context7/cache/a/docs.md, ahead: 2h}
            when:
              - inject: {clock_skew: {path: .tapps-agents/context7/cache/b, ahead: 1h}}
              - cleanup: {dry_run: true}
            then:
              plan: {.tapps-agents/context7/cache/a: "keep: never expires"}
            """
        )
    )
    (loaded,) = load_file(path)
    moved: Any = in_layout(parse(loaded.data), TAPPS_AGENTS_3_7)  # Any: reads union members
    there = ".tapps-agents/kb/context7-cache/libraries"
    (link,) = moved.given.symlinks
    assert (link.path, link.target) == (f"{there}/b", f"{there}/a")
    (fault,) = moved.faults
    assert fault.clock_skew.path == f"{there}/a/docs.md"
    assert moved.when[0].inject.clock_skew.path == f"{there}/b"
    assert list(moved.then.plan) == [f"{there}/a"]


def test_two_paths_that_become_one_in_the_layout_are_unsupported(tmp_path: Path) -> None:
    """The real package keeps the three log folders in one logs/: a scenario giving a debug
    and an application log of one name cannot be asked of it (not a false failure)."""
    text = """\
        name: two logs of one name
        runbook: Data Retention Policies > Logs > Debug logs
        layout: %s
        given:
          files:
            - {path: .tapps-agents/logs/debug/a.log, age: 10d}
            - {path: .tapps-agents/logs/application/a.log, age: 1d}
        when:
          - cleanup: {}
        then:
          absent: [.tapps-agents/logs/debug/a.log]
          present: [.tapps-agents/logs/application/a.log]
        """
    run_text(tmp_path / "runbook", text % "runbook")
    with pytest.raises(Unsupported, match=r"are one place, \.tapps-agents/logs/a\.log"):
        run_text(tmp_path / "real", text % "tapps-agents-3.7")


FAILED_RESULT = """\
name: the agent returns success false
runbook: "Agent Failures and Recovery > Symptoms > Agent result success: false"
given:
  workflows:
    - id: workflow-123
      steps: [{id: implement, agent: implementer}]
faults:
  - failed_result: {step: implement, error: {category: validation, details: {line: 3}}}
when:
  - run: workflow-123
then:
  steps:
    implement:
      error: {category: validation, code: validation_error, recoverable: false, message: "",
              details: {line: 3},
              workflow_id: workflow-123, step_id: implement, agent: %s}
"""


def test_a_failed_result_fault_is_returned_as_written_and_its_envelope_checked(
    tmp_path: Path,
) -> None:
    """failed_result returns only the error keys written (the executor's defaults fill the
    rest), and a step's error compares details and correlation IDs, naming a wrong one."""
    run_text(tmp_path, FAILED_RESULT % "implementer")
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path / "again", FAILED_RESULT % "reviewer")
    message = str(caught.value)
    assert "then.steps.implement.error.agent" in message
    assert "expected: reviewer" in message
    assert "actual:   implementer" in message


@pytest.mark.parametrize(
    ("listable", "planned"),
    [
        ("true", ".tapps-agents/logs/debug/old.log"),
        ("false", ".tapps-agents/logs/debug"),
    ],
)
def test_a_listable_permission_denied_folder_shows_its_entries(
    tmp_path: Path, listable: str, planned: str
) -> None:
    """permission_denied with listable: true leaves the folder's names readable (each entry is
    planned unreadable); without it the folder itself cannot be read."""
    text = f"""\
        name: a folder listed but not searched
        runbook: Cleanup Tools > Usage > Dry run
        fs: fake
        given:
          files:
            - {{path: .tapps-agents/logs/debug/old.log, age: 8d}}
        faults:
          - permission_denied: {{path: .tapps-agents/logs/debug, listable: {listable}}}
        when:
          - cleanup: {{dry_run: true}}
        then:
          plan: {{{planned}: "skip: unreadable (Permission denied)"}}
        """
    result = run_text(tmp_path, text)
    assert result.before == result.after


NUMBERED = """\
name: numbered logs
runbook: Data Retention Policies > Logs > Debug logs
given:
  files:
    - path: .tapps-agents/logs/debug/run-{n}.log
      count: 4
      age: 6d
      age_to: 9d
      size: 10
when:
  - cleanup: {dry_run: true}
then:
  plan:
    .tapps-agents/logs/debug/run-{n}.log: %s
"""


def test_a_numbered_plan_path_holds_for_every_numbered_file(tmp_path: Path) -> None:
    """6d, 7d, 8d, 9d: the first two kept (exactly 7 days is kept), the others deleted; a
    {n} path names all four, so one label for all is wrong, and says how many differ."""
    with pytest.raises(ScenarioFailure) as failed:
        run_text(tmp_path / "a", NUMBERED % "delete")
    assert "delete" in str(failed.value)
    assert "keep: too new for 2 of 4, e.g. .tapps-agents/logs/debug/run-1.log" in str(failed.value)
    missing = NUMBERED.replace("run-{n}.log: %s", "other-{n}.log: delete")
    with pytest.raises(ScenarioFailure, match="no path of the plan matches"):
        run_text(tmp_path / "b", missing)
    passing = NUMBERED.replace("age: 6d", "age: 8d")
    result = run_text(tmp_path / "c", passing % "delete")
    assert len(result.performed[0].outcome.data["items"]) == 4


REAL_RUN = """\
name: numbered logs and folders, a real run
runbook: Data Retention Policies > Logs > Debug logs
given:
  files:
    - {path: ".tapps-agents/logs/debug/run-{n}.log", count: 3, age: 1d, age_to: 7d}
    - {path: ".tapps-agents/logs/debug/old-{n}.log", count: 2, age: 8d}
    - {path: ".tapps-agents/logs/debug/job-{n}/trace.log", count: 2, age: 1d}
when:
  - cleanup: {}
then:
  plan:
    .tapps-agents/logs/debug/run-{n}.log: %s
    .tapps-agents/logs/debug/job-{n}: %s
    .tapps-agents/logs/debug/old-{n}.log: "delete: older than 7d"
"""


def test_after_a_real_run_a_numbered_path_the_plan_does_not_list_is_kept(tmp_path: Path) -> None:
    """A real run lists only what it removed or skipped: the given numbered files it kept, and
    the numbered folders they are in, count as ``keep``, each of them, as a single path does."""
    result = run_text(tmp_path / "a", REAL_RUN % ("keep", "keep"))
    assert set(result.performed[0].outcome.data["items"]) == {
        ".tapps-agents/logs/debug/old-1.log",
        ".tapps-agents/logs/debug/old-2.log",
    }
    with pytest.raises(ScenarioFailure) as failed:
        run_text(tmp_path / "b", REAL_RUN % ("delete", "delete"))
    text = str(failed.value)
    assert "keep for 3 of 3, e.g. .tapps-agents/logs/debug/run-1.log" in text
    assert "keep for 2 of 2, e.g. .tapps-agents/logs/debug/job-1" in text
    # A given file the run removed with its folder is no keep, listed or not.
    gone = REAL_RUN.replace(
        'job-{n}/trace.log", count: 2, age: 1d', 'job-{n}/trace.log", count: 2, age: 8d'
    )
    gone = gone.replace(
        ".tapps-agents/logs/debug/job-{n}: %s", ".tapps-agents/logs/debug/job-{n}/trace.log: %s"
    )
    with pytest.raises(ScenarioFailure) as failed:
        run_text(tmp_path / "c", gone % ("keep", "keep"))
    assert "then.plan['.tapps-agents/logs/debug/job-{n}/trace.log']" in str(failed.value)
    assert "no path of the plan matches" in str(failed.value)


def test_a_dry_run_does_not_count_unlisted_numbered_files_as_kept(tmp_path: Path) -> None:
    """A dry run lists every decision: a numbered path none of its rows names is not there,
    whatever was given (here the 7-day boundary file is listed, so the label is checked)."""
    text = REAL_RUN.replace("cleanup: {}", "cleanup: {dry_run: true}")
    text = text.replace("job-{n}: %s", "nothing-{n}: %s")
    with pytest.raises(ScenarioFailure) as failed:
        run_text(tmp_path, text % ("keep", "keep"))
    assert "nothing-{n}" in str(failed.value)
    assert "no path of the plan matches" in str(failed.value)


def test_a_failure_picture_of_a_large_plan_is_cut_with_a_count(tmp_path: Path) -> None:
    """A plan of 300 rows and an output of as many lines are shown up to 100 lines each, then
    counted, so a scenario of thousands of files does not print them all."""
    text = NUMBERED.replace("count: 4", "count: 300").replace("age: 6d", "age: 8d")
    with pytest.raises(ScenarioFailure) as failed:
        run_text(tmp_path, text % "keep")
    picture = str(failed.value).splitlines()
    plan = picture.index("cleanup plan (dry run):")
    rows = picture[plan + 1 : plan + 102]
    assert all(row.startswith("    delete: older than 7d  .tapps-agents/") for row in rows[:100])
    assert rows[100] == "    ... 200 more (300 in all)"
    output = picture.index("  when.0 cleanup -> exit 0")
    shown = picture[output + 1 :]
    assert len(shown) == 101
    assert all(line.startswith("      | ") for line in shown)
    assert shown[-1].startswith("      | ... ")
    assert shown[-1].endswith(" in all)")
