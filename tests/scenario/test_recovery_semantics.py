"""Scenarios that say what QA means: resume of a given state, a killed executor, file ages in
a worktree, duration bounds and the workflow's own error envelope (issue 14)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pytest_tapps.core import Layout, inspect_lock
from pytest_tapps.harness._faults import DEAD_PID
from pytest_tapps.scenario import ScenarioFailure, load_file, parse, run_scenario, tapps_cli
from pytest_tapps.scenario._load import ScenarioFileError
from pytest_tapps.scenario._run import Result

DEFINITION = """\
  workflows:
    - id: wf
      steps:
        - {id: plan}
        - {id: build}
        - {id: review}
"""
FAILED_STATE = """\
  states:
    - id: wf
      status: failed
      current: true
      steps:
        - {id: plan}
        - {id: build, status: failed, error: {category: timeout, recoverable: true}}
"""


def run_text(tmp_path: Path, text: str, *, cli: bool = False) -> Result:
    """Write ``text`` as a scenario file and run its only scenario (on the core, or through
    the ``tapps`` command line)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "s.tapps.yaml"
    path.write_text(textwrap.dedent(text))
    (loaded,) = load_file(path)
    return run_scenario(
        loaded,
        parse(loaded.data),
        target=tapps_cli() if cli else None,
        root=tmp_path / "project",
    )


def scenario(given: str, when: str, then: str, faults: str = "") -> str:
    """A scenario file of these parts."""
    return (
        "name: case\nrunbook: Retry/Timeout Handling > Manual Retry Procedures > Resume Workflow\n"
        f"given:\n{given}{faults}when:\n{when}then:\n{then}"
    )


# -- resume of a state this executor did not write -------------------------------------------


@pytest.mark.parametrize("cli", [False, True], ids=["core", "tapps-cli"])
def test_resume_takes_the_definition_given_with_the_same_id(tmp_path: Path, cli: bool) -> None:
    """A given state holds no definition: resume runs the given workflow's unfinished steps."""
    text = scenario(
        DEFINITION + FAILED_STATE,
        "  - resume: wf\n",
        "  exit_code: 0\n  status: completed\n"
        "  steps: {plan: {attempts: 1}, build: {status: completed, attempts: 2},"
        " review: {status: completed, attempts: 1}}\n",
    )
    run_text(tmp_path, text, cli=cli)


@pytest.mark.parametrize("cli", [False, True], ids=["core", "tapps-cli"])
def test_resume_may_name_the_definition_it_takes(tmp_path: Path, cli: bool) -> None:
    """``resume: {workflow, definition}`` takes the steps of another given id."""
    given = DEFINITION.replace("id: wf", "id: wf-definition") + FAILED_STATE
    text = scenario(
        given,
        "  - resume: {workflow: wf, definition: wf-definition}\n",
        "  exit_code: 0\n  workflows: {wf: {status: completed}}\n",
    )
    run_text(tmp_path, text, cli=cli)


def test_resume_without_any_definition_says_how_to_give_one(tmp_path: Path) -> None:
    """No recorded and no given definition: exit 1, naming --definition."""
    text = scenario(
        FAILED_STATE,
        "  - resume: wf\n",
        "  exit_code: 1\n  output_contains: ['--definition FILE']\n  unchanged: true\n",
    )
    run_text(tmp_path, text)


def test_a_resume_naming_an_unknown_definition_is_an_invalid_file(tmp_path: Path) -> None:
    """The named definition must be one of given.workflows (with a did-you-mean)."""
    text = scenario(DEFINITION + FAILED_STATE, "  - resume: {workflow: wf, definition: wff}\n", "")
    with pytest.raises(ScenarioFileError) as caught:
        run_text(tmp_path, text + "  exit_code: 0\n")
    assert (
        "when.0.resume.definition: no workflow 'wff' in given.workflows (did you mean 'wf'?)"
        in (str(caught.value))
    )


# -- the executor killed mid-step ------------------------------------------------------------

KILLED = scenario(
    DEFINITION,
    "  - run: wf\n",
    "  exit_code: 137\n  status: running\n"
    "  steps: {plan: {status: completed}, build: {status: running, attempts: 1},"
    " review: {status: pending, attempts: 0}}\n"
    "  locks: {wf: present}\n",
    faults="faults:\n  - kill_executor: build\n",
)


@pytest.mark.parametrize("cli", [False, True], ids=["core", "tapps-cli"])
def test_a_killed_executor_leaves_a_stale_lock_and_a_running_entry(
    tmp_path: Path, cli: bool
) -> None:
    """kill_executor: exit 137, the lock of a dead holder and the running step stay on disk."""
    result = run_text(tmp_path, KILLED, cli=cli)
    lock = inspect_lock(Layout(result.session.root).lock_file("wf"))
    assert lock.stale
    assert lock.holder_alive is False
    if not cli:
        assert lock.record is not None
        assert lock.record.pid == DEAD_PID


@pytest.mark.parametrize("cli", [False, True], ids=["core", "tapps-cli"])
def test_resume_after_a_kill_completes_without_rerunning_completed_steps(
    tmp_path: Path, cli: bool
) -> None:
    """The stale lock is broken; the killed attempt is cancelled; only build and review run."""
    text = KILLED.replace("  - run: wf\n", "  - run: wf\n  - resume: wf\n").split("then:")[0] + (
        "then:\n  exit_code: 0\n  status: completed\n"
        "  steps: {plan: {attempts: 1}, build: {status: completed, attempts: 2},"
        " review: {attempts: 1}}\n  locks: {wf: absent}\n"
    )
    result = run_text(tmp_path, text, cli=cli)
    state = json.loads(Layout(result.session.root).current_state_file.read_text())  # type: ignore[union-attr]
    build = [e for e in state["step_executions"] if e["step_id"] == "build"]
    assert [e["status"] for e in build] == ["cancelled", "completed"]


def test_the_kill_fires_only_on_the_attempts_it_names(tmp_path: Path) -> None:
    """``attempts: [2]`` spares the first attempt: a recoverable failure, then the kill."""
    text = scenario(
        DEFINITION.replace("{id: build}", "{id: build, retry: {max_attempts: 2}}"),
        "  - run: wf\n",
        "  exit_code: 137\n  steps: {build: {status: running, attempts: 2}}\n",
        faults=(
            "faults:\n  - kill_executor: {step: build, attempts: [2]}\n"
            "  - step_failure: {step: build, recoverable: true, attempts: [1]}\n"
        ),
    )
    run_text(tmp_path, text)


# -- a file inside a given worktree ----------------------------------------------------------


def test_a_file_with_its_own_age_inside_a_worktree_keeps_it(tmp_path: Path) -> None:
    """``age: 0s`` inside an 8-day worktree stays fresh, and keeps the worktree from cleanup."""
    text = textwrap.dedent(
        """\
        name: case
        runbook: Data Retention Policies > Worktrees > Failed worktrees
        given:
          worktrees: [{name: wt, age: 8d}]
          files:
            - {path: .tapps-agents/worktrees/wt/fresh.txt, age: 0s}
            - {path: .tapps-agents/worktrees/wt/sub/old.txt}
        when:
          - cleanup: {dry_run: true}
        then:
          plan: {.tapps-agents/worktrees/wt: "keep: too new"}
        """
    )
    result = run_text(tmp_path, text)
    folder = result.session.root / ".tapps-agents/worktrees/wt"
    now = result.session.clock.time()
    assert now - (folder / "fresh.txt").stat().st_mtime == 0
    # Without an age of its own, a file is as old as its worktree, and so are the folders.
    assert now - (folder / "sub/old.txt").stat().st_mtime == 8 * 86400
    assert now - (folder / "sub").stat().st_mtime == 8 * 86400
    assert now - (folder / "file-0.txt").stat().st_mtime == 8 * 86400


def test_a_worktree_of_old_files_only_is_old(tmp_path: Path) -> None:
    """Without a fresh file the same worktree is past its 7 days and deleted."""
    text = textwrap.dedent(
        """\
        name: case
        runbook: Data Retention Policies > Worktrees > Failed worktrees
        given:
          worktrees: [{name: wt, age: 8d}]
          files: [{path: .tapps-agents/worktrees/wt/note.txt}]
        when:
          - cleanup: {dry_run: true}
        then:
          plan: {.tapps-agents/worktrees/wt: delete}
        """
    )
    run_text(tmp_path, text)


# -- duration bounds and the workflow's error envelope ---------------------------------------

TIMEOUT = """\
name: case
runbook: Retry/Timeout Handling > Timeout Configuration > Workflow timeout
given:
  workflows:
    - id: wf
      timeout: 200
      steps: [{id: generate, timeout: 300}]
faults:
  - hang: generate
when:
  - run: wf
then:
"""


@pytest.mark.parametrize(
    "elapsed",
    ["200s", "{at_most: 10m}", "{at_least: 200s}", "{at_least: 3m, at_most: 200s}"],
)
def test_elapsed_is_exact_or_within_bounds(tmp_path: Path, elapsed: str) -> None:
    """200 s elapsed meets the exact value and every bound that includes it."""
    run_text(tmp_path, TIMEOUT + f"  elapsed: {elapsed}\n")


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        ("{at_most: 199s}", "at most 199s"),
        ("{at_least: 201s, at_most: 1h}", "at least 201s and at most 1h"),
    ],
)
def test_elapsed_out_of_bounds_fails_naming_the_bounds(
    tmp_path: Path, elapsed: str, expected: str
) -> None:
    """A bound that 200 s misses is a failure that shows the bounds and the actual time."""
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path, TIMEOUT + f"  elapsed: {elapsed}\n")
    assert f"expected: {expected}\n    actual:   200s" in str(caught.value)


def test_step_delays_may_be_bounds(tmp_path: Path) -> None:
    """Each expected delay may be exact or bounds (jittered waits)."""
    text = textwrap.dedent(
        """\
        name: case
        runbook: Retry/Timeout Handling > Automatic Retries > Retry failed steps with backoff
        given:
          workflows:
            - id: wf
              steps:
                - id: s
                  retry: {max_attempts: 3, initial_delay: 10, max_delay: 60, jitter: full}
        faults:
          - step_failure: {step: s, recoverable: true, attempts: [1, 2]}
        when:
          - run: wf
        then:
          steps: {s: {attempts: 3, delays: [{at_most: 10s}, {at_least: 0s, at_most: 20s}]}}
        """
    )
    run_text(tmp_path, text)
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path / "again", text.replace("{at_most: 10s}, ", "{at_most: 10s}, 60s, "))
    assert "expected: [at most 10s, 1m, at least 0s and at most 20s]" in str(caught.value)


def test_the_workflow_s_own_error_envelope_is_checked(tmp_path: Path) -> None:
    """``then.error`` reads the workflow's envelope: a workflow timeout, not the step's."""
    run_text(tmp_path, TIMEOUT + "  error: {category: timeout, code: workflow_timeout}\n")
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path / "again", TIMEOUT + "  error: {category: timeout, code: step_timeout}\n")
    assert "then.error.code" in str(caught.value)
    assert "expected: step_timeout\n    actual:   workflow_timeout" in str(caught.value)


def test_a_workflow_without_an_error_fails_an_error_expectation(tmp_path: Path) -> None:
    """A completed workflow has no envelope: ``then.workflows.ID.error`` says so."""
    text = TIMEOUT.replace("faults:\n  - hang: generate\n", "") + (
        "  workflows: {wf: {error: timeout}}\n"
    )
    with pytest.raises(ScenarioFailure) as caught:
        run_text(tmp_path, text)
    assert "expected: timeout\n    actual:   no error" in str(caught.value)


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ("{}", "give at_least, at_most or both"),
        (
            "{at_least: 5m, at_most: 1m}",
            "at_least is more than at_most: nothing can be within these bounds",
        ),
        ("{at_most: 10}", "10 has no unit"),
        ("{at_mots: 10m}", "at_mots"),
    ],
)
def test_bad_bounds_are_an_invalid_file(tmp_path: Path, bounds: str, message: str) -> None:
    """Bounds are validated at load like any duration, pointing at the field."""
    with pytest.raises(ScenarioFileError) as caught:
        run_text(tmp_path, TIMEOUT + f"  elapsed: {bounds}\n")
    text = str(caught.value)
    assert ":13: then.elapsed" in text
    assert message in text


def test_fresh_files_do_not_disturb_the_harness_worktree_of_a_fixture_user(
    tmp_path: Path,
) -> None:
    """TappsProject.worktree ages only the files it writes, not one already in the folder."""
    from pytest_tapps.core import VirtualClock
    from pytest_tapps.harness import project

    clock = VirtualClock(1_700_000_000.0)
    with project(tmp_path / "p", clock=clock) as proj:
        fresh = proj.write(proj.layout.worktree("wt") / "mine.txt", "x")
        made = proj.worktree("wt", age="8d")
        assert fresh.stat().st_mtime == clock.time()
        assert (made / "file-0.txt").stat().st_mtime == clock.time() - 8 * 86400
