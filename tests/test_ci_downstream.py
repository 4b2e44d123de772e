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


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite tests="{tests}" failures="{failures}" errors="0" skipped="{skipped}">
{cases}
</testsuite></testsuites>
"""


def _judge(tmp_path: Path, mode: str, *cases: str) -> subprocess.CompletedProcess[str]:
    """.ci/junit_check.py on a JUnit file of ``cases`` (``pass``, ``skip``, ``fail: MESSAGE``)."""
    body = []
    for index, case in enumerate(cases):
        inner = ""
        if case == "skip":
            inner = '<skipped message="s"/>'
        elif case == "harness error":
            inner = (
                '<properties><property name="tapps_outcome" value="harness-error"/></properties>'
                '<failure message="HARNESS ERROR (the harness could not set up)">x</failure>'
            )
        elif case.startswith("fail: "):
            inner = f'<failure message="{case.removeprefix("fail: ")}">x</failure>'
        body.append(f'<testcase classname="c" name="t{index}">{inner}</testcase>')
    path = tmp_path / "junit.xml"
    path.write_text(
        JUNIT.format(
            tests=len(cases),
            failures=sum(c.startswith(("fail", "harness")) for c in cases),
            skipped=cases.count("skip"),
            cases="\n".join(body),
        )
    )
    return subprocess.run(
        ["python3", str(ROOT / ".ci" / "junit_check.py"), str(path), mode],
        capture_output=True,
        text=True,
        check=False,
    )


def test_on_the_fake_filesystem_only_harness_errors_may_fail(tmp_path: Path) -> None:
    """The fake-filesystem leg of the bundled suite passes with harness errors (git, live
    locks: the plugin's tapps_outcome property), and fails on any other failure, one whose
    message only looks like a harness error included, or when nothing passed."""
    harness = "harness error"
    ok = _judge(tmp_path, "fake", "pass", harness)
    assert (ok.returncode, ok.stdout.strip()) == (
        0,
        "1 passed, 1 failed, 0 errors, 0 skipped (the failures: harness errors, the real "
        "filesystem needed)",
    )
    wrong = _judge(tmp_path, "fake", "pass", harness, "fail: scenario 'x' failed", "fail: HARNESS")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().endswith("not as harness errors: ['t2', 't3']")
    assert _judge(tmp_path, "fake", harness).returncode == 1


def test_the_example_must_run_every_test_and_the_suite_may_skip(tmp_path: Path) -> None:
    """strict (the example) fails on a skip; lenient (the bundled suite) does not; both fail on
    a failure and on no test."""
    assert _judge(tmp_path, "strict", "pass", "skip").stderr.strip() == (
        "1 passed, 0 failed, 0 errors, 1 skipped: every test of the example must run"
    )
    assert _judge(tmp_path, "lenient", "pass", "skip").returncode == 0
    assert _judge(tmp_path, "lenient", "pass", "fail: boom").returncode == 1
    assert _judge(tmp_path, "lenient").returncode == 1
