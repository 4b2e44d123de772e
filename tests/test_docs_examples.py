"""Runs every Python example of docs/fixtures.md as a test module, so the docs cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).parent.parent / "docs" / "fixtures.md"
EXAMPLES = re.findall(r"### (.+?)\n\n```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_fixture_reference_has_examples() -> None:
    """The reference shows at least one runnable example per fixture."""
    text = "\n".join(code for _, code in EXAMPLES)
    for fixture in ("tapps_project", "tapps_clock", "tapps_faults", "tapps_logs"):
        assert f"{fixture}" in text, fixture
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize(("title", "code"), EXAMPLES, ids=[title for title, _ in EXAMPLES])
def test_example_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, title: str, code: str
) -> None:
    """Each example passes under pytest -p tapps with autoloading off."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_example=code)
    result = pytester.runpytest("-p", "tapps", "--strict-markers", "-W", "error")
    assert result.ret == 0, f"{title}:\n{result.stdout.str()}"
