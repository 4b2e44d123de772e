"""The core's promises about what it imports and which clocks it reads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_tapps.core

CORE = Path(pytest_tapps.core.__file__).parent
TEST_LIBRARIES = ("pytest", "_pytest", "hypothesis", "pyfakefs", "freezegun")


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return {name.split(".")[0] for name in out.split()}


def test_core_imports_no_test_library() -> None:
    """Importing the whole core loads none of pytest, Hypothesis, pyfakefs or freezegun."""
    loaded = _modules_after("import pytest_tapps.core, pytest_tapps.cli._app")
    assert "pytest_tapps" in loaded
    assert loaded.isdisjoint(TEST_LIBRARIES)


def test_plugin_module_imports_nothing_heavy() -> None:
    """Loading the pytest plugin imports no pydantic, Hypothesis, pyfakefs, freezegun or YAML."""
    loaded = _modules_after("import pytest_tapps.plugin")
    heavy = {"pydantic", "pydantic_core", "hypothesis", "pyfakefs", "freezegun", "ruamel", "yaml"}
    assert loaded.isdisjoint(heavy), loaded & heavy


@pytest.mark.parametrize("source", sorted(CORE.rglob("*.py")), ids=lambda p: p.name)
def test_core_reads_time_only_through_the_clock(source: Path) -> None:
    """No core module but the clock calls time.sleep/monotonic/time or datetime.now itself."""
    forbidden = re.compile(
        r"\btime\.(sleep|monotonic|time|perf_counter)\(|\bdatetime\.(now|utcnow|today)\(|"
        r"\bdate\.today\("
    )
    hits = [
        f"{source.name}:{number}: {line.strip()}"
        for number, line in enumerate(source.read_text().splitlines(), start=1)
        if forbidden.search(line) and "# clock:" not in line
    ]
    assert hits == []


@pytest.mark.parametrize("source", sorted(CORE.rglob("*.py")), ids=lambda p: p.name)
def test_core_sources_do_not_import_test_libraries(source: Path) -> None:
    """Not even a lazy import of a test library hides in the core."""
    pattern = re.compile(rf"^\s*(import|from)\s+({'|'.join(TEST_LIBRARIES)})\b", re.M)
    assert not pattern.search(source.read_text())


def test_every_public_name_of_the_core_resolves() -> None:
    """The lazy core exports exactly its sorted __all__, and every name loads."""
    from pytest_tapps import core

    assert core.__all__ == sorted(
        core.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n)
    )
    missing = [name for name in core.__all__ if getattr(core, name, None) is None]
    assert missing == []
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = core.nope


def test_cli_category_names_match_the_envelope_categories() -> None:
    """The CLI's light copy of the six categories stays equal to Category."""
    from pytest_tapps.cli._dlq import CATEGORY_NAMES
    from pytest_tapps.core import Category

    assert list(CATEGORY_NAMES) == [c.value for c in Category]


def test_tapps_help_and_cleanup_do_not_import_pydantic() -> None:
    """Commands that read no workflow state start without pydantic (a ~100 ms import)."""
    loaded = _modules_after(
        "from pytest_tapps.cli._app import build_parser; build_parser()\n"
        "import pytest_tapps.core._cleanup, pytest_tapps.core._cache"
    )
    assert "pydantic" not in loaded
