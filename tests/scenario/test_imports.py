"""The scenario layer's row of docs/architecture.md's may-import table, kept: no circle with the
plugin, pytest only in the collector, no Hypothesis; and the modules below both stay light."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_tapps.scenario

SCENARIO = Path(pytest_tapps.scenario.__file__).parent
PACKAGE = SCENARIO.parent
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def imported_modules(source: Path) -> set[str]:
    """Every module ``source`` imports, at the top or inside a function (``a.b`` for both
    ``import a.b`` and ``from a.b import c``; ``a.b.c`` too, as ``c`` may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


SOURCES = sorted(SCENARIO.glob("*.py"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_no_scenario_module_imports_the_plugin(source: Path) -> None:
    """scenario/ never imports pytest_tapps.plugin, not even lazily: the plugin imports the
    scenario layer, and what both need lives below them (pytest_tapps._outcomes, _stash)."""
    plugin = {name for name in imported_modules(source) if name.startswith("pytest_tapps.plugin")}
    assert plugin == set()


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_only_the_collector_imports_pytest_and_none_hypothesis(source: Path) -> None:
    """pytest only in _collect.py (the scenario files as pytest items); Hypothesis nowhere."""
    roots = {name.split(".")[0] for name in imported_modules(source)}
    assert "hypothesis" not in roots
    assert "_pytest" not in roots
    assert ("pytest" in roots) == (source.name == "_collect.py")


def test_the_shared_outcomes_module_is_standard_library_only() -> None:
    """pytest_tapps._outcomes imports only the standard library, so the command line
    (tapps scenario conformance) and the plugin at load can both use it."""
    roots = {name.split(".")[0] for name in imported_modules(PACKAGE / "_outcomes.py")}
    assert roots <= set(sys.stdlib_module_names) | {"__future__"}


def test_the_collector_and_conformance_load_without_the_plugin() -> None:
    """Importing the collector and reading a JUnit file for conformance does not import
    pytest_tapps.plugin; the conformance reader does not import pytest at all."""
    code = (
        "import sys, tempfile, pathlib\n"
        "from pytest_tapps.scenario._conformance import read_findings\n"
        "junit = pathlib.Path(tempfile.mkdtemp()) / 'r.xml'\n"
        'junit.write_text(\'<testsuite><testcase classname="s.a.tapps.yaml" name="n">'
        '<skipped message="not supported by this target (x): no run"/></testcase>'
        "</testsuite>')\n"
        "print(read_findings(junit)['a.tapps.yaml::n'].outcome)\n"
        "print('pytest' in sys.modules)\n"
        "import pytest_tapps.scenario._collect\n"
        "print('pytest_tapps.plugin' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split("\n") == ["not supported", "False", "False", ""]


def test_the_architecture_table_says_so() -> None:
    """docs/architecture.md's may-import table names the shared module and forbids scenario/
    the plugin, as the tests above keep it."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    row = re.search(r"^\| `scenario/\*` \|(.*)\|(.*)\|$", text, re.M)
    assert row is not None
    assert "`plugin`" in row.group(2)
    assert "`_outcomes`" in row.group(1)
    assert re.search(r"^\| `_outcomes\.py`, `_stash\.py` \|", text, re.M)
