"""The pytest plugin, enabled with ``pytest -p tapps`` (or autoloaded through ``pytest11``).

It stays inert until a test asks for it: loading it registers options and nothing else, and
imports no pydantic, Hypothesis, pyfakefs, freezegun or YAML.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``tapps`` option group (options arrive with the fixtures that use them)."""
    parser.getgroup("tapps", "pytest-tapps: runbook recovery and retention checks")
