"""Tests for pytest_tapps.stateful: the recovery state machine, and its failures exported as
scenarios that reproduce under pytest -p tapps."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from pytest_tapps.scenario import Target
from pytest_tapps.stateful import EXPORT_ENV, CheckFailed, RecoveryMachine
from tests.broken_targets import KeepsWorktrees, RerunsCompletedSteps

# The runbook's invariants hold for the reference core (examples: the active profile's).
TestRecoveryOfTheCore = RecoveryMachine.TestCase
TestRecoveryOfTheCore.settings = settings(
    settings.default,
    stateful_step_count=30,
    suppress_health_check=[HealthCheck.too_slow],
)

#: Typed here: older Hypothesis releases leave run_state_machine_as_test unannotated.
run_machine: Callable[..., None] = run_state_machine_as_test

HUNT = settings(
    max_examples=300,
    stateful_step_count=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
#: Shrinking a machine's steps is most of a hunt's time (about a thousand replays); the second
#: broken target is hunted without it, which still proves the scenario reproduces the failure.
QUICK_HUNT = settings(HUNT, phases=[Phase.explicit, Phase.reuse, Phase.generate])


def machine_for(target: type[Target]) -> type[RecoveryMachine]:
    class Broken(RecoveryMachine):
        def make_target(self) -> Target:
            return target()

    Broken.__name__ = f"{target.__name__}Machine"
    return Broken


@pytest.fixture
def export_folder(tmp_path: Path) -> Iterator[Path]:
    """TAPPS_EXPORT_FAILURES pointed at a fresh folder for the test."""
    before = os.environ.get(EXPORT_ENV)
    os.environ[EXPORT_ENV] = str(tmp_path / "found")
    try:
        yield tmp_path / "found"
    finally:
        if before is None:
            del os.environ[EXPORT_ENV]
        else:
            os.environ[EXPORT_ENV] = before


@pytest.mark.parametrize(
    ("target", "finding", "hunt"),
    [
        (KeepsWorktrees, "of a completed workflow survived a cleanup", HUNT),
        (RerunsCompletedSteps, "resume ran completed step", QUICK_HUNT),
    ],
)
def test_a_broken_target_is_caught_and_its_scenario_reproduces_it(  # noqa: PLR0917
    target: type[Target],
    finding: str,
    hunt: settings,
    export_folder: Path,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine finds the bug and writes its steps (shrunk, in the full hunt) as a scenario;
    that scenario fails against the broken target and passes against the reference core."""
    machine = machine_for(target)
    with pytest.raises(CheckFailed, match=finding) as caught:
        run_machine(machine, settings=hunt)
    written = export_folder / f"{machine.__name__}.tapps.yaml"
    assert f"reproducing scenario: {written}" in str(caught.value)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert(Path(__file__).resolve().parents[1])
    scenario = pytester.path / written.name
    scenario.write_text(written.read_text())
    against_broken = pytester.runpytest(
        "-p", "tapps", f"--tapps-target=tests.broken_targets:{target.__name__}", str(scenario)
    )
    against_broken.assert_outcomes(failed=1)
    against_broken.stdout.fnmatch_lines(["*SCENARIO FAILED*"])
    pytester.runpytest("-p", "tapps", str(scenario)).assert_outcomes(passed=1)


def test_the_plugin_option_names_the_export_folder(pytester: pytest.Pytester) -> None:
    """--tapps-export-failures=DIR is where failing machines of the run write their scenario."""
    pytester.makepyfile(
        """
        import os

        def test_sees_the_folder():
            assert os.environ["TAPPS_EXPORT_FAILURES"].endswith("found")
        """
    )
    pytester.runpytest("-p", "tapps", "--tapps-export-failures=found").assert_outcomes(passed=1)
    assert EXPORT_ENV not in os.environ
