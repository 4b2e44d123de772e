"""Tests for pytest_tapps.scenario._collect: scenario files as pytest tests, through pytester."""

from __future__ import annotations

import textwrap

import pytest

from tests.scenario.helpers import EXAMPLE


def critical(name: str = "critical step times out three times", attempts: int = 3) -> str:
    """The runbook's critical-step example named ``name``; ``attempts`` other than 3 makes it
    fail (the expectation is on line 18)."""
    text = EXAMPLE.replace(
        "name: critical step times out three times and lands in the DLQ", f"name: {name}"
    )
    return text.replace("attempts: 3, delays", f"attempts: {attempts}, delays")


def write(pytester: pytest.Pytester, name: str, text: str) -> None:
    path = pytester.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_a_tapps_yaml_file_is_collected_and_passes(tapps_pytester: pytest.Pytester) -> None:
    """A .tapps.yaml file becomes one passing test per scenario."""
    write(tapps_pytester, "critical.tapps.yaml", critical())
    result = tapps_pytester.runpytest("-p", "tapps", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*critical.tapps.yaml::critical step times out three times PASSED*"]
    )


def test_plain_yaml_files_are_not_claimed(tapps_pytester: pytest.Pytester) -> None:
    """Only *.tapps.yaml (or files under --tapps-scenarios) are collected: other YAML is left."""
    write(tapps_pytester, "config.yaml", "just: data\n")
    result = tapps_pytester.runpytest("-p", "tapps")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_tapps_scenarios_collects_yaml_but_not_fragments(tapps_pytester: pytest.Pytester) -> None:
    """Under --tapps-scenarios every *.yaml is a scenario, except files and folders named _*."""
    write(tapps_pytester, "suite/one.yaml", critical("one"))
    write(tapps_pytester, "suite/_fragments/shared.yaml", "now: 2026-01-15T10:30:00Z\n")
    write(tapps_pytester, "suite/_draft.yaml", "not: a scenario\n")
    result = tapps_pytester.runpytest("-p", "tapps", "--tapps-scenarios", "suite", "suite")
    result.assert_outcomes(passed=1)


def test_the_ini_key_names_scenario_folders(tapps_pytester: pytest.Pytester) -> None:
    """ini tapps_scenarios works like --tapps-scenarios."""
    write(tapps_pytester, "suite/one.yaml", critical("one"))
    tapps_pytester.makeini("[pytest]\ntapps_scenarios = suite\n")
    result = tapps_pytester.runpytest("-p", "tapps", "suite")
    result.assert_outcomes(passed=1)


def test_k_selects_scenarios_by_name(tapps_pytester: pytest.Pytester) -> None:
    """-k matches scenario names."""
    write(
        tapps_pytester,
        "two.tapps.yaml",
        "scenarios:\n"
        + textwrap.indent("- " + critical("alpha").replace("\n", "\n  ").rstrip(), "  ")
        + "\n"
        + textwrap.indent("- " + critical("beta").replace("\n", "\n  ").rstrip(), "  ")
        + "\n",
    )
    result = tapps_pytester.runpytest("-p", "tapps", "-k", "beta", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*::beta PASSED*"])


def test_marks_from_the_scenario_apply(tapps_pytester: pytest.Pytester) -> None:
    """marks: become pytest marks: -m selects on them, and --strict-markers checks them."""
    text = critical("marked") + "marks: [slow]\n"
    write(tapps_pytester, "marked.tapps.yaml", text)
    write(tapps_pytester, "plain.tapps.yaml", critical("plain"))
    tapps_pytester.makeini("[pytest]\nmarkers =\n    slow: slow scenarios\n")
    result = tapps_pytester.runpytest("-p", "tapps", "-m", "slow", "--strict-markers")
    result.assert_outcomes(passed=1, deselected=1)


def test_last_failed_reruns_only_the_failing_scenario(tapps_pytester: pytest.Pytester) -> None:
    """--lf remembers scenario node ids like any test's."""
    write(tapps_pytester, "good.tapps.yaml", critical("good"))
    write(tapps_pytester, "bad.tapps.yaml", critical("bad", attempts=2))
    tapps_pytester.runpytest("-p", "tapps")
    result = tapps_pytester.runpytest("-p", "tapps", "--lf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*rerun previous 1 failure*"])


def test_a_failing_scenario_shows_its_picture_not_a_traceback(
    tapps_pytester: pytest.Pytester,
) -> None:
    """The failure names the line, expected vs actual and the timeline; no Python traceback."""
    write(tapps_pytester, "bad.tapps.yaml", critical("bad", attempts=2))
    result = tapps_pytester.runpytest("-p", "tapps")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*SCENARIO FAILED (the system under test misbehaved)*",
            "*bad.tapps.yaml:18: then.steps.critical-step.attempts",
            "*18 | steps: {critical-step: {status: failed, attempts: 2, delays: *",
            "*expected: 2",
            "*actual:   3",
            "*attempt timeline (virtual time):*",
            "*+615s   critical-step #3 started  (waited 10s)",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "_run.py" not in result.stdout.str()


def test_tapps_traceback_shows_the_python_traceback(tapps_pytester: pytest.Pytester) -> None:
    """--tapps-traceback brings pytest's usual traceback back."""
    write(tapps_pytester, "bad.tapps.yaml", critical("bad", attempts=2))
    result = tapps_pytester.runpytest("-p", "tapps", "--tapps-traceback")
    result.assert_outcomes(failed=1)
    assert "ScenarioFailure" in result.stdout.str()
    assert "SCENARIO FAILED" not in result.stdout.str()


def test_the_location_is_the_scenario_line(tapps_pytester: pytest.Pytester) -> None:
    """Each scenario's reported location is its own line in the file."""
    text = "scenarios:\n" + "".join(
        textwrap.indent("- " + critical(name).replace("\n", "\n  ").rstrip(), "  ") + "\n"
        for name in ("first", "second")
    )
    write(tapps_pytester, "two.tapps.yaml", text)
    items, _ = tapps_pytester.inline_genitems("-p", "tapps")
    second_line = text.splitlines().index("  - name: second") + 1
    assert [item.location[1] for item in items] == [1, second_line - 1]


def test_an_invalid_file_is_one_collection_error_with_every_problem(
    tapps_pytester: pytest.Pytester,
) -> None:
    """All problems of a file are listed at once and pytest exits 2."""
    write(
        tapps_pytester,
        "broken.tapps.yaml",
        """\
        name: broken
        runbook: Retry/Timeout Handling > Automatic Retry
        now: 2026-01-15T10:30:00Z
        when:
          - clenup: {dry_run: true}
          - advance: 5
        then:
          stpes: {}
        """,
    )
    result = tapps_pytester.runpytest("-p", "tapps")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*INVALID SCENARIO FILE (4 problem(s)):",
            "*broken.tapps.yaml:2: runbook: 'Retry/Timeout Handling > Automatic Retry' is not a "
            "runbook procedure*",
            "*broken.tapps.yaml:5: when.0: unknown action 'clenup' (did you mean 'cleanup'?)*",
            "*- clenup: {dry_run: true}",
            "*broken.tapps.yaml:6: when.1.advance: 5 has no unit*",
            "*broken.tapps.yaml:8: then.stpes: unknown key (did you mean 'steps'?)",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_unsafe_names_and_impossible_faults_are_collection_errors(
    tapps_pytester: pytest.Pytester,
) -> None:
    """A fault naming ../etc or ../wt, and a live lock or a stuck git worktree on fs: fake,
    make their files invalid when pytest collects them (exit 2, file:line), never a traceback
    at run time."""
    write(
        tapps_pytester,
        "unsafe.tapps.yaml",
        """\
        name: unsafe names
        runbook: Cache Invalidation and Recovery > Context7 Cache > Recovery > Cache corruption
        faults:
          - corrupt_cache_entry: {library: ../etc}
          - stuck_worktree: {name: ../wt}
        when:
          - cache_verify: {}
        """,
    )
    write(
        tapps_pytester,
        "fake.tapps.yaml",
        """\
        name: a live lock and a stuck worktree on the fake filesystem
        runbook: Cache Invalidation and Recovery > Context7 Cache > Recovery > Cache corruption
        fs: fake
        given:
          locks:
            - {workflow: wf-1, holder: live}
        faults:
          - stuck_worktree: {name: wt}
        when:
          - cache_verify: {}
        """,
    )
    result = tapps_pytester.runpytest("-p", "tapps")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting fake.tapps.yaml*",
            "INVALID SCENARIO FILE (2 problem(s)):",
            "*fake.tapps.yaml:6: given.locks.0.holder: a live lock needs fs: real (a real "
            "process holds the lock, and a process cannot see the fake filesystem)",
            "    - {workflow: wf-1, holder: live}",
            "*fake.tapps.yaml:8: faults.0.stuck_worktree: stuck_worktree needs fs: real (git "
            "cannot run on the fake filesystem)",
            "*ERROR collecting unsafe.tapps.yaml*",
            "INVALID SCENARIO FILE (2 problem(s)):",
            "*unsafe.tapps.yaml:4: faults.0.corrupt_cache_entry.library: library id '../etc' "
            "must not contain '/' or '\\' (it names one folder or file, not a path)",
            "*unsafe.tapps.yaml:5: faults.1.stuck_worktree.name: worktree name '../wt' must "
            "not contain '/' or '\\' (it names one folder or file, not a path)",
            "*Interrupted: 2 errors during collection*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


UNSUPPORTING = """
from pytest_tapps.scenario import Target

class NoRuns(Target):
    name = "no-runs"

target = NoRuns()
"""


def test_an_action_the_target_cannot_perform_is_unsupported(
    tapps_pytester: pytest.Pytester,
) -> None:
    """--tapps-target=module:attr; a missing action is its own outcome, neither pass nor fail."""
    tapps_pytester.makepyfile(no_runs=UNSUPPORTING)
    write(tapps_pytester, "critical.tapps.yaml", critical())
    tapps_pytester.syspathinsert()
    result = tapps_pytester.runpytest("-p", "tapps", "--tapps-target=no_runs:target")
    result.stdout.fnmatch_lines(
        [
            "critical.tapps.yaml U*",
            "UNSUPPORTED critical.tapps.yaml::critical step times out three times - not "
            "supported by this target (no-runs): no-runs has no way to perform 'run'",
            "*= 1 unsupported in *",
        ]
    )
    assert result.ret == pytest.ExitCode.OK


def test_a_bad_target_is_a_usage_error(tapps_pytester: pytest.Pytester) -> None:
    """An unknown --tapps-target names the forms that work."""
    write(tapps_pytester, "critical.tapps.yaml", critical())
    result = tapps_pytester.runpytest("-p", "tapps", "--tapps-target=nowhere")
    result.stderr.fnmatch_lines(
        ["*--tapps-target='nowhere': write one of core, tapps-cli, tapps-agents, or module:attr*"]
    )
    assert result.ret != pytest.ExitCode.OK


def test_a_fault_that_cannot_be_injected_is_a_harness_error(
    tapps_pytester: pytest.Pytester,
) -> None:
    """A fault the machine cannot inject (disk_full needs the fake fs) is not a scenario failure."""
    write(
        tapps_pytester,
        "full.tapps.yaml",
        """\
        name: disk full on the real disk
        runbook: Cleanup Tools > Usage > Actual cleanup
        fs: fake
        faults:
          - disk_full: {free_bytes: 0}
        when:
          - cleanup: {dry_run: true}
        then:
          unchanged: true
        """,
    )
    result = tapps_pytester.runpytest("-p", "tapps", "--tapps-fs=real")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["HARNESS ERROR*", "disk_full needs fs='fake'*"])
    assert "SCENARIO FAILED" not in result.stdout.str()


def test_scenarios_run_the_same_under_xdist(tapps_pytester: pytest.Pytester) -> None:
    """-n 2 collects and runs scenarios like a serial run."""
    for index in range(3):
        write(tapps_pytester, f"s{index}.tapps.yaml", critical(f"scenario {index}"))
    result = tapps_pytester.runpytest("-p", "tapps", "-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=3)


def test_coverage_after_a_run_shows_outcomes_and_gates(tapps_pytester: pytest.Pytester) -> None:
    """--tapps-coverage prints each procedure with its scenarios' outcome; below
    --tapps-coverage-fail-under the run fails even though every scenario passed."""
    write(tapps_pytester, "critical.tapps.yaml", critical())
    result = tapps_pytester.runpytest("-p", "tapps", "--tapps-coverage")
    result.stdout.fnmatch_lines(
        [
            "*- runbook coverage -*",
            "Retry/Timeout Handling",
            "  ✓ Automatic Retries > Stop after max_attempts * 1 scenario(s)  [[]passed]",
            "  ✗ Automatic Retries > Cap delays at max_delay * 0 scenario(s)",
            "1 of * procedures covered (*%)",
        ]
    )
    assert result.ret == pytest.ExitCode.OK
    gated = tapps_pytester.runpytest("-p", "tapps", "--tapps-coverage-fail-under=50")
    gated.stdout.fnmatch_lines(
        ["FAIL: runbook coverage *% is below --tapps-coverage-fail-under 50%"]
    )
    assert gated.ret == pytest.ExitCode.TESTS_FAILED


def test_a_failed_scenario_marks_its_procedure_failed(tapps_pytester: pytest.Pytester) -> None:
    """A procedure whose scenario failed is shown failed and not counted as covered."""
    write(tapps_pytester, "bad.tapps.yaml", critical("bad", attempts=2))
    result = tapps_pytester.runpytest("-p", "tapps", "--tapps-coverage")
    result.stdout.fnmatch_lines(
        ["*Stop after max_attempts * 1 scenario(s)  [[]failed]", "0 of * procedures covered*"]
    )


def test_autouse_fixtures_of_a_conftest_apply_to_scenarios(tapps_pytester: pytest.Pytester) -> None:
    """A scenario is a pytest.Function: conftest fixtures (autouse) run around it."""
    tapps_pytester.makeconftest(
        """
        import pytest

        SEEN = []

        @pytest.fixture(autouse=True)
        def around(request):
            SEEN.append(request.node.name)
            yield
            print("after", request.node.name)

        def pytest_sessionfinish(session):
            print("seen:", SEEN)
        """
    )
    write(tapps_pytester, "critical.tapps.yaml", critical())
    result = tapps_pytester.runpytest("-p", "tapps", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*after critical step times out three times*",
            "*seen: ?'critical step times out three times'?",
        ]
    )


#: An outline of three rows; the row ``wrong`` fails (a 1-day-old debug log is kept).
OUTLINE = """\
name: a debug log <age> old is <what>
runbook: Data Retention Policies > Logs > Debug logs
given:
  files:
    - {path: .tapps-agents/logs/debug/x.log, age: <age>}
when:
  - cleanup: {}
then:
  <what>: [.tapps-agents/logs/debug/x.log]
examples:
  - {id: young, age: 6d, what: present}
  - {id: old, age: 8d, what: absent}
  - {id: wrong, age: 1d, what: absent}
"""


def test_each_row_of_an_outline_is_a_test_with_its_id(tapps_pytester: pytest.Pytester) -> None:
    """An examples: table gives one test per row, named NAME[ID], located at the row's line."""
    write(tapps_pytester, "outline.tapps.yaml", OUTLINE)
    result = tapps_pytester.runpytest("-p", "tapps", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*outline.tapps.yaml::a debug log 6d old is present[[]young] PASSED*",
            "*outline.tapps.yaml::a debug log 8d old is absent[[]old] PASSED*",
            "*outline.tapps.yaml::a debug log 1d old is absent[[]wrong] FAILED*",
        ]
    )
    items, _ = tapps_pytester.inline_genitems("-p", "tapps")
    assert [item.location[1] for item in items] == [10, 11, 12]


def test_k_and_a_node_id_select_rows_of_an_outline(tapps_pytester: pytest.Pytester) -> None:
    """-k matches a row's id; FILE::NAME[ID] runs that row alone."""
    write(tapps_pytester, "outline.tapps.yaml", OUTLINE)
    result = tapps_pytester.runpytest("-p", "tapps", "-k", "young or old]")
    result.assert_outcomes(passed=2, deselected=1)
    alone = tapps_pytester.runpytest(
        "-p", "tapps", "outline.tapps.yaml::a debug log 8d old is absent[old]"
    )
    alone.assert_outcomes(passed=1)


def test_last_failed_reruns_only_the_failing_row(tapps_pytester: pytest.Pytester) -> None:
    """--lf remembers the failing row by its node id, not the whole outline."""
    write(tapps_pytester, "outline.tapps.yaml", OUTLINE)
    tapps_pytester.runpytest("-p", "tapps")
    result = tapps_pytester.runpytest("-p", "tapps", "--lf", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*rerun previous 1 failure*", "*[[]wrong] FAILED*"])


def test_outline_rows_run_under_xdist(tapps_pytester: pytest.Pytester) -> None:
    """-n 2 collects the same rows on each worker and runs them apart."""
    write(tapps_pytester, "outline.tapps.yaml", OUTLINE)
    result = tapps_pytester.runpytest("-p", "tapps", "-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=2, failed=1)


def test_a_bad_row_is_an_invalid_scenario_file_at_its_line(tapps_pytester: pytest.Pytester) -> None:
    """A cell that would be refused as a literal there makes the file invalid (exit 2), at the
    row's line, with the template field it fills."""
    write(tapps_pytester, "outline.tapps.yaml", OUTLINE.replace("age: 8d,", "age: 8,"))
    result = tapps_pytester.runpytest("-p", "tapps")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*INVALID SCENARIO FILE (1 problem(s)):",
            "*outline.tapps.yaml:12: given.files.0.age: 8 has no unit; write a number with a "
            "unit: *",
            "*- {id: old, age: 8, what: absent}",
        ]
    )
