"""Tests for pytest_tapps.scenario._targets: the reference core's actions print what the same
``tapps`` command prints, exit as it exits, and return the same normal form as the command
target reads from the command line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_tapps.scenario import (
    TAPPS_COMMANDS,
    CoreTarget,
    Loaded,
    Scenario,
    ScenarioSkip,
    Session,
    Unsupported,
    load_file,
    parse,
    run_scenario,
)
from pytest_tapps.scenario import tapps_cli as tapps_cli_target
from pytest_tapps.scenario._model import ACTIONS, HARNESS_ACTIONS, action_name
from pytest_tapps.scenario._run import Result

FAILED_STATE = """\
given:
  workflows:
    - id: wf-1
      steps: [{id: plan, agent: planner}, {id: build, agent: implementer}, {id: ship}]
  states:
    - id: wf-1
      status: failed
      current: true
      steps:
        - {id: plan, status: completed}
        - {id: build, status: failed, error: {category: timeout, recoverable: true}}
"""

#: A failed workflow's worktree of the given age, beside another worktree.
FAILED_WORKTREE = """\
given:
  states:
    - id: wf-1
      status: failed
      steps: [{id: build, status: failed, error: execution, worktree: wt-failed}]
  worktrees: [{name: wt-failed, age: %s}, {name: %s}]
"""

#: A scenario per action whose output is worth comparing: each action of the tapps-cli
#: target's command table, and the in-process ``command``.
SCENARIOS: dict[str, str] = {
    "run": """\
        given:
          workflows:
            - id: wf-1
              steps:
                - {id: plan, agent: planner}
                - {id: build, retry: {max_attempts: 2, initial_delay: 5}}
        faults: [{step_failure: {step: build, category: external_dependency, recoverable: true}}]
        when: [run: wf-1]
        """,
    "resume": FAILED_STATE + "when: [resume: wf-1]\n",
    "retry_step": FAILED_STATE + "when: [retry_step: {workflow: wf-1, step: build}]\n",
    "skip_step": FAILED_STATE + "when: [skip_step: {workflow: wf-1, step: build}]\n",
    "dlq_skip": FAILED_STATE + "when: [dlq_skip: {workflow: wf-1, step: plan}]\n",
    "reset": FAILED_STATE + "when: [reset: {workflow: wf-1, to_step: build}]\n",
    "force_cleanup": """\
        given:
          states:
            - id: wf-1
              steps: [{id: build, status: running, worktree: wt-build}]
          locks: [{workflow: wf-1, holder: expired}]
          worktrees: [{name: wt-build, age: 2h}]
        when: [force_cleanup: wf-1]
        """,
    "status": """\
        given:
          states:
            - id: wf-1
              current: true
              steps: [{id: build, status: running}]
        when: [status: {workflow: wf-1}]
        """,
    "dlq_retry": """\
        given:
          states:
            - id: wf-a
              status: failed
              steps: [{id: a1, status: failed, error: {category: timeout, recoverable: true}}]
            - id: wf-b
              status: failed
              steps: [{id: b1, status: failed, error: {category: timeout, recoverable: false}}]
        when: [dlq_retry: timeout]
        """,
    "cleanup": """\
        given:
          files:
            - {path: .tapps-agents/logs/debug/old.log, age: 8d}
            - {path: .tapps-agents/logs/debug/new.log, age: 6d}
            - {path: .tapps-agents/logs/debug/future.log, age: -1h}
            - {path: .tapps-agents/analytics/history/a.jsonl, age: 91d}
        when:
          - cleanup: {dry_run: true}
          - cleanup: {only: [debug_logs]}
          - cleanup: {}
        """,
    "cache_invalidate": """\
        given:
          context7: [{library: react}, {library: vue}]
        when:
          - cache_invalidate: {library: react}
          - cache_invalidate: {library: nowhere}
          - cache_invalidate: {all: true}
        """,
    "cache_verify": """\
        given:
          context7: [{library: good}, {library: bad}]
        faults: [{corrupt_cache_entry: {library: bad, kind: hash}}]
        when: [cache_verify: {}]
        """,
    "cache_recover": """\
        given:
          context7: [{library: good}, {library: bad}]
        faults: [{corrupt_cache_entry: {library: bad, kind: bad-json}}]
        when: [cache_recover: {}]
        """,
    "cache_warm": """\
        given:
          files:
            - {path: docs-source/react/guide.md, content: "# React"}
            - {path: docs-source/vue.md, content: "# Vue"}
        when:
          - cache_warm: {from: docs-source}
          - cache_warm: {from: no-such-folder}
        """,
    "cache_clear_tiered": """\
        given:
          tiered: [{name: session-a.json}, {name: session-b.json}]
        when: [cache_clear_tiered: {}]
        """,
    "cache_clear_profile": """\
        given:
          profile: {}
        when: [cache_clear_profile: {}, cache_clear_profile: {}]
        """,
    "worktree_list": FAILED_WORKTREE % ("3d", "wt-orphan, age: 9d") + "when: [worktree_list: {}]\n",
    "worktree_remove": """\
        given:
          worktrees: [{name: wt-old, age: 9d}]
        when:
          - worktree_remove: {name: wt-old}
          - worktree_remove: {name: wt-gone}
        """,
    "worktree_prune": FAILED_WORKTREE % ("8d", "wt-young, age: 2d")
    + "when: [worktree_prune: {}]\n",
    "command": FAILED_STATE + "when: [command: dlq list, command: workflow status --json]\n",
    # A record that names a step needs its workflow: refused on both, with the same message.
    "log": "when: [log: {message: Step started, step_id: build, agent: implementer}]\n",
}


def run_on(target_name: str, text: str, folder: Path) -> Result:
    """``text`` as a scenario (no expectations) on the core or through the tapps command line."""
    header = "name: compare\nrunbook: Cleanup Tools > Usage > Actual cleanup\n"
    folder.mkdir(parents=True)
    path = folder / "s.tapps.yaml"
    path.write_text(header + textwrap.dedent(text), encoding="utf-8")
    (loaded,) = load_file(path)
    target = CoreTarget() if target_name == "core" else tapps_cli_target()
    return run_scenario(loaded, parse(loaded.data), target=target, root=folder / "project")


def test_every_action_of_the_core_has_a_comparison() -> None:
    """The table above covers every action the tapps-cli target maps, which is every action
    the core performs but ``command`` (compared too)."""
    performed = {name for name in ACTIONS if name not in HARNESS_ACTIONS and name != "advance"}
    core = {name for name in performed if callable(getattr(CoreTarget, name, None))}
    assert core == performed
    assert set(TAPPS_COMMANDS) == performed - {"command"}
    assert set(SCENARIOS) == set(TAPPS_COMMANDS) | {"command"}


@pytest.mark.parametrize("action", sorted(SCENARIOS))
def test_the_core_prints_what_the_command_line_prints(tmp_path: Path, action: str) -> None:
    """Each action on the reference core gives the exit code, the output (byte for byte) and
    the data the same ``tapps`` command gives through the tapps-cli target."""
    core = run_on("core", SCENARIOS[action], tmp_path / "core")
    cli = run_on("cli", SCENARIOS[action], tmp_path / "cli")
    assert [done.name for done in core.performed] == [done.name for done in cli.performed]
    assert {done.name for done in core.performed} == {action}
    for on_core, on_cli in zip(core.performed, cli.performed, strict=True):
        assert on_core.outcome.output.strip(), f"when.{on_core.index} printed nothing"
        assert on_core.outcome.exit_code == on_cli.outcome.exit_code, on_cli.outcome.output
        assert on_core.outcome.output == on_cli.outcome.output
        assert on_core.outcome.data == on_cli.outcome.data


def test_a_logged_record_is_the_same_on_the_core_and_the_command_line(tmp_path: Path) -> None:
    """``log`` through ``tapps logs emit`` logs the record the core's logger logs: the same
    fields, values and types, at the scenario's time; both print nothing."""
    text = (
        "when: [log: {message: Step completed, workflow_id: wf-1, step_id: build, "
        "level: warning, fields: {duration_seconds: 1.5, attempt: 2, cached: true, note: '7'}}]\n"
    )
    core = run_on("core", text, tmp_path / "core")
    cli = run_on("cli", text, tmp_path / "cli")
    for result in (core, cli):
        (done,) = result.performed
        assert (done.outcome.exit_code, done.outcome.output) == (0, "")
    (on_core,) = [r for r in core.records if r["message"] == "Step completed"]
    (on_cli,) = [r for r in cli.records if r["message"] == "Step completed"]
    assert on_cli == on_core
    assert (on_cli["level"], on_cli["attempt"], on_cli["cached"], on_cli["note"]) == (
        "WARNING",
        2,
        True,
        "7",
    )


def test_cleanup_output_names_what_it_removed_and_skipped(tmp_path: Path) -> None:
    """A real cleanup on the core prints ``tapps cleanup --json``: the removed and skipped
    files by their paths from the project, and the count of the kept ones."""
    result = run_on("core", SCENARIOS["cleanup"], tmp_path / "core")
    output = result.performed[1].outcome.output  # cleanup: {only: [debug_logs]}
    assert '"path": ".tapps-agents/logs/debug/old.log"' in output
    assert '"reason": "older than 7d"' in output
    assert '"why": "future timestamp"' in output
    assert '"kept": 1' in output
    assert "new.log" not in output
    assert "a.jsonl" not in output


def test_the_target_api_is_public_and_sorted() -> None:
    """What a downstream target needs is exported from pytest_tapps.scenario, in a sorted
    __all__ whose every name resolves, and each action's spec class is exported under the
    name its method receives."""
    import pytest_tapps.scenario as api

    assert api.__all__ == sorted(
        api.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n)
    )
    assert [name for name in api.__all__ if not hasattr(api, name)] == []
    needed = {
        "CommandTarget", "Target", "Outcome", "Session", "Unsupported", "TAPPS_COMMANDS",
        "TAPPS_PARSERS", "Parser", "PlanData", "StatusData", "CacheProblems", "WorktreeRow",
        "WorktreeRows", "parse_cleanup", "parse_verify", "parse_recover", "parse_status",
        "parse_worktrees", "fault_runner", "FAULTS_ENV",
    }  # fmt: skip
    assert needed <= set(api.__all__)
    for action in TAPPS_COMMANDS:
        spec = spec_class(action)
        assert getattr(api, spec.__name__) is spec, action


def spec_class(action: str) -> type:
    """The class of the object a target's ``action`` method receives."""
    from typing import get_args

    annotation = ACTIONS[action]
    return annotation if isinstance(annotation, type) else get_args(annotation)[0]


def test_a_target_file_in_the_current_folder_off_sys_path_says_how_to_reach_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--tapps-target=ci.tapps_target:target from a folder not on sys.path (the `pytest`
    script, not `python -m pytest`) says why it cannot be imported and what to run instead."""
    from pytest_tapps.scenario import load_target

    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "tapps_target.py").write_text("def target(): ...\n")
    monkeypatch.chdir(tmp_path)
    expected = (
        "--tapps-target='ci.tapps_target:target': cannot import 'ci.tapps_target' (No module "
        "named 'ci'); 'ci' is in the current folder, which is not on sys.path: run 'python -m "
        "pytest' (it puts the current folder there), or add 'pythonpath = .' to the pytest ini"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        load_target("ci.tapps_target:target")
    with pytest.raises(ValueError, match=r"cannot import 'nowhere' \(No module named 'nowhere'\)$"):
        load_target("nowhere:target")


# -- the bundled scenarios that read an action's output -------------------------------------------

BUNDLED = Path(__file__).parent.parent.parent / "scenarios"
#: Actions no `tapps` command performs: through the command line a scenario using one is
#: unsupported, everywhere else it must pass. (None now: ``log`` is ``tapps logs emit``.)
NO_COMMAND: set[str] = set()


def _output_scenarios() -> list[tuple[str, Loaded, Scenario]]:
    """Every bundled scenario whose ``then:`` reads the output (output_contains/lacks)."""
    from pytest_tapps.scenario._load import scenario_paths

    found = []
    for path in scenario_paths([BUNDLED]):
        for loaded in load_file(path):
            scenario = parse(loaded.data)
            if scenario.then.output_contains or scenario.then.output_lacks:
                found.append((f"{path.relative_to(BUNDLED)}::{loaded.name}", loaded, scenario))
    return found


OUTPUT_SCENARIOS = _output_scenarios()


def _actions(scenario: Scenario) -> set[str]:
    return {action_name(item) for item in scenario.when}


def test_bundled_scenarios_read_the_output_of_cleanup_and_worktree_prune() -> None:
    """Some bundled scenario checks what cleanup prints, and some what worktree_prune prints,
    the last action of each (the one output_contains reads)."""
    lasts = {action_name(s.when[-1]) for _, _, s in OUTPUT_SCENARIOS if s.when}
    assert {"cleanup", "worktree_prune"} <= lasts
    assert len(OUTPUT_SCENARIOS) >= 20


@pytest.mark.parametrize(
    ("target_name", "loaded", "scenario"),
    [
        pytest.param(target_name, loaded, scenario, id=f"{target_name}-{name}")
        for target_name in ("core", "tapps-cli")
        for name, loaded, scenario in OUTPUT_SCENARIOS
        # the command line runs in subprocesses, which cannot see a fake filesystem
        if target_name == "core" or not (_actions(scenario) & NO_COMMAND or scenario.fs == "fake")
    ],
)
def test_a_bundled_output_check_passes_on_the_core_and_the_command_line_alike(
    tmp_path: Path, target_name: str, loaded: Loaded, scenario: Scenario
) -> None:
    """Each bundled scenario that reads an action's output passes on the default target and
    through --tapps-target=tapps-cli: the core prints what the command prints."""
    target = CoreTarget() if target_name == "core" else tapps_cli_target()
    try:
        run_scenario(loaded, scenario, target=target, root=tmp_path / "project")
    except ScenarioSkip as exc:  # a requirement (git, root) this machine lacks
        pytest.skip(str(exc))


def test_no_output_scenario_stays_off_the_command_line() -> None:
    """The test above runs every output scenario through tapps-cli too: every action has a
    command, and one that had none would be reported unsupported by name."""
    performed = set(ACTIONS) - set(HARNESS_ACTIONS) - {"advance", "command"}
    assert performed - set(TAPPS_COMMANDS) == NO_COMMAND
    target = tapps_cli_target()
    target.commands = {k: v for k, v in target.commands.items() if k != "log"}
    with pytest.raises(Unsupported, match=r"^tapps command line maps no command to 'log'$"):
        target.perform("log", None, Session.__new__(Session))


def test_a_plan_is_rendered_only_when_its_output_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON of a cleanup (100,000 rows for a big folder) is rendered on the first read of
    the output and only then, from the plan the action made: the project may be gone by then."""
    import shutil

    from pytest_tapps.cli import _cleanup

    calls: list[str] = []

    def counted(name: str) -> Any:
        real = getattr(_cleanup, name)

        def printed(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return real(*args, **kwargs)

        return printed

    for name in ("plan_printed", "report_printed"):
        monkeypatch.setattr(_cleanup, name, counted(name))
    text = """\
        given:
          files:
            - {path: .tapps-agents/logs/debug/old.log, age: 8d}
        when:
          - cleanup: {dry_run: true}
          - cleanup: {}
        """
    result = run_on("core", text, tmp_path / "core")
    assert calls == []
    shutil.rmtree(result.session.root)
    plan, report = (done.outcome for done in result.performed)
    assert (plan.exit_code, report.exit_code) == (0, 0)
    assert '"path": ".tapps-agents/logs/debug/old.log"' in plan.output
    assert '"dry_run": true' in plan.output
    assert '"dry_run": false' in report.output
    assert plan.output == plan.output
    assert calls == ["plan_printed", "report_printed"]


def test_an_outcome_given_a_function_reads_as_the_text_it_returns() -> None:
    """``Outcome(code, render, data)`` equals and shows as the outcome of the rendered text;
    a rendering whose exit code is not the one given is a bug, said at once."""
    from pytest_tapps.cli._output import Printed
    from pytest_tapps.scenario import Outcome
    from pytest_tapps.scenario._targets import shown_later

    later = shown_later(1, lambda: Printed(1, "out\n", "err\n"), {"k": 1})
    assert later == Outcome(1, "out\nerr\n", {"k": 1})
    assert later != Outcome(0, "out\nerr\n", {"k": 1})
    assert repr(later) == "Outcome(exit_code=1, output='out\\nerr\\n', data={'k': 1})"
    later.output = "replaced"
    assert later.output == "replaced"
    wrong = shown_later(0, lambda: Printed(1, "out"))
    with pytest.raises(AssertionError, match="rendered exit code 1, not the 0 given"):
        _ = wrong.output
