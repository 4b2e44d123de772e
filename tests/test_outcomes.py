"""Tests for pytest_tapps._outcomes: the names the plugin and the scenario layer share."""

from __future__ import annotations

import pytest

from pytest_tapps._outcomes import UNSUPPORTED, seed_for, skip_outcome


def test_a_test_seed_is_pinned_to_the_run_seed_and_the_test_id() -> None:
    """The same run seed and test id give the same seed as every earlier version (the first
    four bytes of sha256("RUN:ID")), so a seed printed by an older run still replays."""
    assert seed_for(0, "a.py::t") == 4222418117
    assert seed_for(123456789, "scenarios/x.tapps.yaml::name") == 1624059807
    assert seed_for(0, "a.py::u") != seed_for(0, "a.py::t")


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [
        (f"Skipped: {UNSUPPORTED} (tapps command line): no command for 'log'", "unsupported"),
        ("Skipped: requires: git (not installed here)", "skipped"),
        ("", "skipped"),
    ],
)
def test_a_skip_reason_reads_as_its_outcome(reason: str, outcome: str) -> None:
    """A skip naming UNSUPPORTED is the unsupported outcome; any other skip is a skip."""
    assert skip_outcome(reason) == outcome


def test_the_tapps_seed_fixture_is_the_shared_seed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plugin's tapps_seed (and with it the scenario collector, which calls the same
    function) is seed_for(--tapps-seed, the test id)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(
        """
        from pytest_tapps._outcomes import seed_for

        def test_seed(tapps_seed, request):
            assert tapps_seed == seed_for(7, request.node.nodeid)
        """
    )
    pytester.runpytest("-p", "tapps", "--tapps-seed=7").assert_outcomes(passed=1)
