"""Tests for pytest_tapps.plugin: wiring into pytest (entry point, -p tapps, options group)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest


def test_the_pytest11_entry_point_names_the_plugin() -> None:
    """pytest finds the plugin as 'tapps' through the pytest11 entry point."""
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("tapps") == "pytest_tapps.plugin"


def test_p_tapps_works_with_autoload_disabled() -> None:
    """PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 pytest -p tapps --version exits 0."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tapps", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pytest" in done.stdout + done.stderr


def test_p_tapps_registers_the_plugin_and_its_option_group(pytester: pytest.Pytester) -> None:
    """-p tapps loads pytest_tapps.plugin under the name 'tapps'."""
    config = pytester.parseconfig("-p", "tapps")
    plugin = config.pluginmanager.get_plugin("tapps")
    assert plugin is not None
    assert plugin.__name__ == "pytest_tapps.plugin"


def test_loading_the_plugin_changes_no_outcome(pytester: pytest.Pytester) -> None:
    """With the plugin loaded, an ordinary test suite runs exactly as before."""
    pytester.makepyfile("def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest("-p", "tapps")
    result.assert_outcomes(passed=1)
