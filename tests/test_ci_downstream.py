"""Tests for .ci/downstream's promises that need no install: a Python the machine lacks is
reported SKIPPED by version, never passed, and a machine with none of them fails the run.

The runs themselves (wheel, fresh virtual environments, examples/downstream) are what
.ci/downstream does in .ci/run; they take minutes, too long for the unit suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "downstream"


def _run(*versions: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The script with a PATH of only the tools it needs before its first install (no
    python3.X on it) and an empty pyenv root."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "dirname", "mktemp", "rm", "sed"):
        found = shutil.which(tool)
        assert found is not None, tool
        (tools / tool).symlink_to(found)
    pyenv = tmp_path / "pyenv"
    (pyenv / "versions").mkdir(parents=True)
    env = {**os.environ, "PATH": str(tools), "PYENV_ROOT": str(pyenv), "TMPDIR": str(tmp_path)}
    return subprocess.run(
        [str(tools / "bash"), str(SCRIPT), *versions],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_supported_python_that_is_missing_is_reported_skipped(tmp_path: Path) -> None:
    """With no interpreter, each version of pyproject's classifiers gets its SKIPPED line, and
    the run fails: nothing was tested."""
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    versions = [
        c.rsplit(" :: ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert versions[0] == "3.11"

    done = _run(tmp_path=tmp_path)

    assert done.returncode == 1
    pyenv = tmp_path / "pyenv"
    assert done.stdout.splitlines() == [
        f"downstream: Python {v} SKIPPED: no python{v} on PATH or under {pyenv}/versions/{v}.*"
        for v in versions
    ]
    assert done.stderr == (
        f"downstream: none of Python {' '.join(versions)} is on this machine; nothing ran\n"
    )
    assert not list(tmp_path.glob("tapps-downstream.*"))  # its work folder is removed


def test_a_version_asked_for_by_name_is_skipped_when_missing(tmp_path: Path) -> None:
    """`.ci/downstream 3.99` on a machine without it says so and exits 1, building nothing."""
    done = _run("3.99", tmp_path=tmp_path)
    assert done.returncode == 1
    assert "SKIPPED: no python3.99 on PATH" in done.stdout
    assert "building the wheel" not in done.stdout
