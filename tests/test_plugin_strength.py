"""Tests for ``pytest -p tapps --tapps-strength``: the scenario files that ran, measured against
the bugs after the session, reported in the terminal summary (pytest_tapps.strength._session)."""

from __future__ import annotations

import shutil

import pytest

from tests.strength import sample
from tests.strength.sample import write_suite

DRY = "dry.tapps.yaml::a dry run changes nothing"
PASSING = ["dry.tapps.yaml", "real.tapps.yaml"]


@pytest.fixture(name="here")
def here_fixture(tapps_pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with the sample bugs importable as ``my_bugs``."""
    shutil.copy(sample.__file__, tapps_pytester.path / "my_bugs.py")
    return tapps_pytester


def run(here: pytest.Pytester, *args: str) -> pytest.RunResult:
    return here.runpytest_subprocess("-p", "tapps", "-p", "no:cacheprovider", *args)


def test_the_report_follows_the_run(here: pytest.Pytester) -> None:
    """The scenarios run as tests; the summary then lists each bug caught or MISSED and the
    strength line; exit 0 without a threshold, though bugs were missed."""
    write_suite(here.path / "suite", PASSING)
    result = run(here, "suite", "--tapps-strength=my_bugs:BUGS")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*- scenario strength -*",
            "BUG * RESULT * RUNBOOK * CAUGHT BY",
            f"dry-run-deletes * caught * Cleanup Tools > Usage > Dry run * 1 scenario(s): {DRY}",
            "cleanup-crashes * caught *",
            "cannot-clean * MISSED * Cleanup Tools > Usage * -",
            "worktree-list-wrong * MISSED *",
            "strength: 2 of 4 bugs caught (50.0%) by 2 scenarios (of 2, *s)",
        ]
    )


def test_fail_under_fails_a_green_run(here: pytest.Pytester) -> None:
    """--tapps-strength-fail-under above the caught share fails the session (exit 1) and
    says why, though every scenario passed."""
    write_suite(here.path / "suite", PASSING)
    result = run(here, "suite", "--tapps-strength=my_bugs:BUGS", "--tapps-strength-fail-under=75")
    result.assert_outcomes(passed=2)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["FAIL: 50.0% of the bugs caught is below --tapps-strength-fail-under 75%"]
    )


def test_fail_under_met_passes(here: pytest.Pytester) -> None:
    """A threshold the suite meets keeps exit 0."""
    write_suite(here.path / "suite", PASSING)
    result = run(here, "suite", "--tapps-strength=my_bugs:BUGS", "--tapps-strength-fail-under=50")
    assert result.ret == 0
    result.stdout.no_fnmatch_line("FAIL:*")


def test_a_scenario_failing_on_the_core_is_a_warning(here: pytest.Pytester) -> None:
    """The scenario that fails on the core fails as a test and is left out of the measure."""
    write_suite(here.path / "suite", [*PASSING, "broken.tapps.yaml"])
    result = run(here, "suite", "--tapps-strength=my_bugs:BUGS")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "strength: 2 of 4 bugs caught (50.0%) by 2 scenarios (of 3, 1 failed on the "
            "reference core, *",
            "WARNING: broken.tapps.yaml::a dry run that expects the wrong exit code failed on "
            "the reference core and is left out: */broken.tapps.yaml:12: then.exit_code; "
            "expected: 3; actual: 0",
        ]
    )


def test_xdist_workers_leave_the_measure_to_the_controller(here: pytest.Pytester) -> None:
    """Under -n 2 the report is printed once, with the same result."""
    write_suite(here.path / "suite", PASSING)
    result = run(here, "suite", "-p", "xdist", "-n", "2", "--tapps-strength=my_bugs:BUGS")
    result.assert_outcomes(passed=2)
    assert result.stdout.str().count("strength: 2 of 4 bugs caught (50.0%)") == 1


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "--tapps-strength=my_bugs:NOPE",
            "ERROR: --tapps-strength 'my_bugs:NOPE': module 'my_bugs' has no attribute 'NOPE'",
        ),
        (
            "--tapps-strength-fail-under=101",
            "ERROR: --tapps-strength-fail-under=101: give a percent from 0 to 100",
        ),
    ],
)
def test_bad_options_are_usage_errors(here: pytest.Pytester, option: str, message: str) -> None:
    """A --tapps-strength that names no bugs, or a threshold outside 0..100: a usage error
    before anything runs."""
    write_suite(here.path / "suite", PASSING)
    result = run(here, "suite", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_without_the_option_nothing_is_measured(here: pytest.Pytester) -> None:
    """A plain run prints no strength section."""
    write_suite(here.path / "suite", PASSING)
    result = run(here, "suite")
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*scenario strength*")
