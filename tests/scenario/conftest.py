"""Fixtures of the scenario-format tests: scenario files written into ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenario.helpers import WriteYaml, write_yaml


@pytest.fixture(name="write")
def write_fixture(tmp_path: Path) -> WriteYaml:
    """``write(text, name="case.tapps.yaml")``: a YAML file in ``tmp_path``."""

    def write(text: str, name: str = "case.tapps.yaml") -> Path:
        return write_yaml(tmp_path, text, name)

    return write
