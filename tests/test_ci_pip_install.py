"""Tests for .ci/pip_install: a registry's cut-off answer is retried past pip's cache, and a
failure that lasts fails with pip's own status and output."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "pip_install"


def _fake_pip(tmp_path: Path, succeeds_at: int) -> Path:
    """A pip that records each call's arguments and fails as the registry did until its
    `succeeds_at`th call."""
    pip = tmp_path / "pip"
    pip.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> "{tmp_path}/calls"\n'
        f'n=$(wc -l < "{tmp_path}/calls")\n'
        f'if [ "$n" -ge {succeeds_at} ]; then\n'
        '  echo "WARNING: Location of something"; echo "installed"; exit 0\n'
        "fi\n"
        'echo "json.decoder.JSONDecodeError: Unterminated string starting at: line 1"\n'
        "exit 2\n"
    )
    pip.chmod(0o755)
    return pip


def _run(tmp_path: Path, succeeds_at: int) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    pip = _fake_pip(tmp_path, succeeds_at)
    env = {**os.environ, "PIP_INSTALL_PAUSE": "0", "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(SCRIPT), str(pip), "tapps-agents==3.7.1", "."],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, (tmp_path / "calls").read_text().splitlines()


@pytest.mark.parametrize("succeeds_at", [1, 2, 3])
def test_an_install_that_succeeds_within_three_tries_passes(
    tmp_path: Path, succeeds_at: int
) -> None:
    done, calls = _run(tmp_path, succeeds_at)
    assert done.returncode == 0, done.stderr
    assert len(calls) == succeeds_at
    assert calls[0] == "install -q tapps-agents==3.7.1 ."
    # Every retry goes past the cache, which may hold the cut-off page.
    assert all(call == "install -q --no-cache-dir tapps-agents==3.7.1 ." for call in calls[1:])
    assert "installed" in done.stdout
    assert "WARNING: Location" not in done.stdout
    assert done.stderr.count("failed (exit 2)") == succeeds_at - 1


def test_an_install_that_fails_three_times_fails_with_pips_status_and_output(
    tmp_path: Path,
) -> None:
    done, calls = _run(tmp_path, succeeds_at=99)
    assert done.returncode == 2
    assert len(calls) == 3
    assert "Unterminated string" in done.stderr
    assert "failed 3 times (exit 2)" in done.stderr
    assert not list(tmp_path.glob("pip-install.*")), "the log is left behind"
