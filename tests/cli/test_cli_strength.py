"""Tests for ``tapps scenario strength`` (real subprocess runs of the CLI)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.strength import sample
from tests.strength.sample import write_suite

DRY = "dry.tapps.yaml::a dry run changes nothing"
REAL = "real.tapps.yaml::a cleanup removes the expired log"
BROKEN = "broken.tapps.yaml::a dry run that expects the wrong exit code"
BUGS = ["--bugs", "my_bugs:BUGS"]


@pytest.fixture(name="here")
def here_fixture(tmp_path: Path) -> Path:
    """A folder with the sample suite in ``suite/`` and the sample bugs as ``my_bugs.py``."""
    write_suite(tmp_path / "suite")
    shutil.copy(sample.__file__, tmp_path / "my_bugs.py")
    return tmp_path


def test_the_report_has_a_line_per_bug_and_a_summary(here: Path) -> None:
    """Each bug is caught (by how many scenarios: which) or MISSED, with its runbook
    procedure, in aligned columns; then the summary; the scenario that fails on the core is a
    warning on stderr; exit 0 without --fail-under."""
    done = run_cli("scenario", "strength", "suite", *BUGS, cwd=here)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    starts = [lines[0].index(header) for header in ("BUG", "RESULT", "RUNBOOK", "CAUGHT BY")]
    assert [line[: starts[1]].rstrip() for line in lines[1:5]] == [
        "dry-run-deletes",
        "cleanup-crashes",
        "cannot-clean",
        "worktree-list-wrong",
    ]
    cells = [
        [line[start:end].rstrip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
        for line in lines[1:5]
    ]
    assert [row[1:] for row in cells] == [
        ["caught", "Cleanup Tools > Usage > Dry run", f"1 scenario(s): {DRY}"],
        ["caught", "Cleanup Tools > Usage > Actual cleanup", f"2 scenario(s): {DRY}, {REAL}"],
        ["MISSED", "Cleanup Tools > Usage", "-"],
        ["MISSED", "Git Worktree Cleanup > Listing", "-"],
    ]
    assert lines[5].startswith(
        "strength: 2 of 4 bugs caught (50.0%) by 2 scenarios (of 4, 1 failed on the reference "
        "core, 1 skipped, "
    )
    assert len(lines) == 6
    assert done.stderr.startswith(
        f"tapps: warning: {BROKEN} failed on the reference core and is left out: "
    )
    assert done.stderr.rstrip().endswith("then.exit_code; expected: 3; actual: 0")


def test_json_lists_each_bug_with_the_scenarios_that_caught_it(here: Path) -> None:
    """--json: ``bugs`` as name, runbook, defect, caught, caught_by, and the summary's fields."""
    done = run_cli("scenario", "strength", "suite", *BUGS, "--json", cwd=here)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["bugs"][:2] == [
        {
            "name": "dry-run-deletes",
            "runbook": "Cleanup Tools > Usage > Dry run",
            "defect": "a dry run deletes what it lists",
            "caught": True,
            "caught_by": [DRY],
        },
        {
            "name": "cleanup-crashes",
            "runbook": "Cleanup Tools > Usage > Actual cleanup",
            "defect": "every cleanup raises",
            "caught": True,
            "caught_by": [DRY, REAL],
        },
    ]
    assert [(bug["name"], bug["caught"], bug["caught_by"]) for bug in report["bugs"][2:]] == [
        ("cannot-clean", False, []),
        ("worktree-list-wrong", False, []),
    ]
    assert {key: report[key] for key in ("caught", "total", "percent", "scenarios")} == {
        "caught": 2,
        "total": 4,
        "percent": 50.0,
        "scenarios": 2,
    }
    assert report["scenarios_total"] == 4
    assert [item["scenario"] for item in report["failed_on_core"]] == [BROKEN]
    assert [item["scenario"] for item in report["skipped"]] == [
        "elsewhere.tapps.yaml::a cleanup on another kind of machine"
    ]
    assert report["unsupported"] == []
    assert isinstance(report["elapsed"], float)


def test_two_processes_report_what_one_does(here: Path) -> None:
    """-n 2 catches the same bugs by the same scenarios as -n 1."""
    one = run_cli("scenario", "strength", "suite", *BUGS, "--json", cwd=here)
    two = run_cli("scenario", "strength", "suite", *BUGS, "--json", "-n", "2", cwd=here)
    assert (one.returncode, two.returncode) == (0, 0), two.stderr
    assert json.loads(two.stdout)["bugs"] == json.loads(one.stdout)["bugs"]


@pytest.mark.parametrize(("threshold", "code"), [("50", 0), ("50.1", 1), ("0", 0)])
def test_fail_under_fails_below_the_threshold(here: Path, threshold: str, code: int) -> None:
    """--fail-under PERCENT: exit 1 when the caught share (50% here) is below it, 0 else."""
    done = run_cli("scenario", "strength", "suite", *BUGS, "--fail-under", threshold, cwd=here)
    assert done.returncode == code, done.stderr
    below = (
        "tapps: error: 50.0% of the bugs caught is below --fail-under 50.1%; the MISSED bugs "
        "need a scenario that catches them\n"
    )
    assert done.stderr.endswith(below) == (code == 1)


def test_one_bug_class_is_enough(here: Path) -> None:
    """--bugs may name one Bug subclass: caught by the dry-run scenario, 100%."""
    done = run_cli(
        "scenario", "strength", "suite/dry.tapps.yaml", "--bugs", "my_bugs:DryRunDeletes", cwd=here
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(
        "strength: 1 of 1 bugs caught (100.0%) by 1 scenarios (of 1, "
    )


def test_no_scenario_passing_on_the_core_is_exit_1(here: Path) -> None:
    """A suite whose scenarios all fail on the reference core measures nothing: exit 1."""
    done = run_cli("scenario", "strength", "suite/broken.tapps.yaml", *BUGS, cwd=here)
    assert done.returncode == 1
    assert done.stderr.endswith(
        "tapps: error: no scenario passed on the reference core: there is nothing to measure with\n"
    )


def test_the_default_suite_is_the_bundled_one(here: Path) -> None:
    """Without PATH the bundled suite is measured (its dry-run scenarios catch the bug)."""
    done = run_cli(
        "scenario", "strength", "--bugs", "my_bugs:DryRunDeletes", "-n", "2", "--json", cwd=here
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["scenarios"] > 100
    assert report["failed_on_core"] == []
    assert (
        "usage.tapps.yaml::the dry run names each file it would remove"
        in (report["bugs"][0]["caught_by"])
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nowhere", *BUGS], "nowhere: no such file or folder\n"),
        (
            ["suite", "--bugs", "my_bugs"],
            "tapps: error: --bugs 'my_bugs': write it as module:attr, e.g. --bugs my_bugs:BUGS\n",
        ),
        (
            ["suite", "--bugs", "no_such_module:BUGS"],
            "tapps: error: --bugs 'no_such_module:BUGS': cannot import module 'no_such_module' "
            "(No module named 'no_such_module')\n",
        ),
        (
            ["suite", "--bugs", "my_bugs:NOPE"],
            "tapps: error: --bugs 'my_bugs:NOPE': module 'my_bugs' has no attribute 'NOPE'\n",
        ),
        (
            ["suite", "--bugs", "my_bugs:DRY"],
            "tapps: error: --bugs 'my_bugs:DRY': got 'dry.tapps.yaml::a dry run changes "
            "nothing' (str): give a pytest_tapps.strength.Bug subclass or instance, or an "
            "iterable of them\n",
        ),
        (
            ["suite", "--bugs", "my_bugs:NONE"],
            "tapps: error: --bugs 'my_bugs:NONE': no bugs in it\n",
        ),
        (
            ["suite", "--fail-under", "101"],
            "argument --fail-under: '101': give a percent from 0 to 100\n",
        ),
        (
            ["suite", "--fail-under", "nan"],
            "argument --fail-under: 'nan': give a percent from 0 to 100\n",
        ),
        (
            ["suite", "-n", "0"],
            "argument -n/--processes: '0': give a number of processes (1 or more) or auto\n",
        ),
        (
            ["suite", "--basetemp", "no-such-folder"],
            "argument --basetemp: 'no-such-folder': no such folder; give an existing one\n",
        ),
    ],
)
def test_bad_input_is_one_message_and_exit_2(
    here: Path, arguments: list[str], message: str
) -> None:
    """A missing path, a --bugs that names no bugs, a bad --fail-under or -n: exit 2 with one
    message naming what to fix, no traceback, nothing run."""
    (here / "my_bugs.py").write_text(
        (here / "my_bugs.py").read_text() + '\nDRY = "dry.tapps.yaml::a dry run changes nothing"'
        "\nNONE = ()\n"
    )
    done = run_cli("scenario", "strength", *arguments, cwd=here)
    assert done.returncode == 2
    assert (done.stdout + done.stderr).endswith(message) or done.stdout == message, done.stderr
    assert "Traceback" not in done.stderr


def test_an_invalid_scenario_file_is_listed_and_exit_2(here: Path) -> None:
    """An invalid file: each problem as FILE:LINE: field: message, then how to go on; exit 2."""
    (here / "suite" / "bad.tapps.yaml").write_text(
        "name: x\nrunbook: Cleanup Tools > Usage > Dry run\nwhen: [{bogus: 1}]\n"
    )
    done = run_cli("scenario", "strength", "suite", *BUGS, cwd=here)
    assert done.returncode == 2
    assert done.stdout.startswith("suite/bad.tapps.yaml:3: when.0: unknown action 'bogus'")
    assert done.stderr == (
        "tapps: error: fix the scenario files above first (`tapps scenario validate`)\n"
    )


def test_a_basetemp_this_user_may_not_write_to_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--basetemp must be a folder the measure can make its projects in (as root every folder
    is, so the permission is answered by a stand-in): else every scenario would fail on the
    core, and the run end in 'no scenario passed'."""
    import argparse
    import os

    from pytest_tapps.cli._scenario import _folder

    assert _folder(str(tmp_path)) == tmp_path
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(argparse.ArgumentTypeError, match="may not make folders in it"):
        _folder(str(tmp_path))
