"""Tests for the packaging: every package is listed, and the wheel carries the bundled suite."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from pytest_tapps.scenario._load import bundled_path, scenario_paths

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject() -> None:
    """pyproject lists packages by hand (for the bundled suite's mapping): none is forgotten."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "pytest_tapps").rglob("__init__.py")
    }
    assert found | {"pytest_tapps.bundled"} == listed


def test_the_bundled_suite_is_found_from_a_source_checkout() -> None:
    """tapps scenario path points at scenarios/ when the package is installed editable."""
    assert bundled_path() == ROOT / "scenarios"
    assert scenario_paths([bundled_path()])


def test_the_wheel_carries_the_suite_and_the_runbook_map(tmp_path: Path) -> None:
    """A built wheel holds every bundled scenario file, the runbook map and the scenario
    format's JSON Schema (which `tapps scenario schema -o` writes out in a downstream repo)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "pytest_tapps/bundled/" + str(path.relative_to(ROOT / "scenarios"))
        for path in (ROOT / "scenarios").rglob("*.yaml")
    }
    assert expected
    assert expected <= names
    assert "pytest_tapps/scenario/runbook.json" in names
    assert "pytest_tapps/scenario/scenario.schema.json" in names
