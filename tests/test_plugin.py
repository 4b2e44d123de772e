"""Tests for pytest_tapps.plugin: wiring into pytest (entry point, -p tapps, options group)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from xml.etree import ElementTree

import pytest

from pytest_tapps.plugin import HARNESS_ERROR


def test_the_pytest11_entry_point_names_the_plugin() -> None:
    """pytest finds the plugin as 'tapps' through the pytest11 entry point."""
    found = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert found.get("tapps") == "pytest_tapps.plugin"


def test_p_tapps_works_with_autoload_disabled() -> None:
    """PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 pytest -p tapps --version exits 0."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tapps", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pytest" in done.stdout + done.stderr


def test_p_tapps_registers_the_plugin_and_its_option_group(pytester: pytest.Pytester) -> None:
    """-p tapps loads pytest_tapps.plugin under the name 'tapps'."""
    config = pytester.parseconfig("-p", "tapps")
    plugin = config.pluginmanager.get_plugin("tapps")
    assert plugin is not None
    assert plugin.__name__ == "pytest_tapps.plugin"


def test_loading_the_plugin_changes_no_outcome(pytester: pytest.Pytester) -> None:
    """With the plugin loaded, an ordinary test suite runs exactly as before."""
    pytester.makepyfile("def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest("-p", "tapps")
    result.assert_outcomes(passed=1)


def test_clock_fixture_follows_the_marker(tapps_pytester: pytest.Pytester) -> None:
    """@pytest.mark.tapps(now=...) sets the virtual start; sleeps advance it at once."""
    tapps_pytester.makepyfile(
        """
        import time
        from datetime import datetime, timezone
        import pytest

        @pytest.mark.tapps(now="2030-06-01T00:00:00Z")
        def test_now(tapps_clock):
            assert datetime.now(timezone.utc) == datetime(2030, 6, 1, tzinfo=timezone.utc)
            time.sleep(3600)
            assert tapps_clock.elapsed == 3600
            assert tapps_clock.now == datetime(2030, 6, 1, 1, tzinfo=timezone.utc)

        def test_default_now(tapps_clock):
            assert tapps_clock.now.isoformat() == "2026-01-15T10:30:00+00:00"
        """
    )
    result = tapps_pytester.runpytest("-p", "tapps", "--strict-markers")
    result.assert_outcomes(passed=2)


def test_fixtures_are_undone_after_each_test(tapps_pytester: pytest.Pytester) -> None:
    """freezegun, the sleep patches and pyfakefs do not leak into the next test."""
    tapps_pytester.makepyfile(
        """
        import os, time
        import pytest

        @pytest.mark.tapps(now="2001-01-01T00:00:00Z", fs="fake")
        def test_a_uses_everything(tapps_project):
            tapps_project.file("logs/debug/a.log", age="8d")
            assert os.path.exists("/project/.tapps-agents/logs/debug/a.log")

        def test_b_sees_the_real_world():
            assert time.time() > 1.7e9
            assert not os.path.exists("/project/.tapps-agents")
            started = time.monotonic()
            time.sleep(0.01)
            assert time.monotonic() - started >= 0.01
        """
    )
    result = tapps_pytester.runpytest("-p", "tapps", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_fs_option_and_ini_choose_the_filesystem(tapps_pytester: pytest.Pytester) -> None:
    """--tapps-fs=fake (or ini tapps_fs) puts tapps_project under pyfakefs; the marker wins."""
    tapps_pytester.makepyfile(
        """
        import pytest

        def test_fake(tapps_project):
            assert tapps_project.fake_fs

        @pytest.mark.tapps(fs="real")
        def test_marker_wins(tapps_project):
            assert not tapps_project.fake_fs
        """
    )
    tapps_pytester.runpytest("-p", "tapps", "--tapps-fs=fake").assert_outcomes(passed=2)
    tapps_pytester.makeini("[pytest]\ntapps_fs = fake\n")
    tapps_pytester.runpytest("-p", "tapps").assert_outcomes(passed=2)


def test_a_bad_marker_is_a_clear_error(tapps_pytester: pytest.Pytester) -> None:
    """An unknown marker keyword names itself and the test."""
    tapps_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.tapps(fz="fake")
        def test_typo(tapps_clock):
            pass
        """
    )
    result = tapps_pytester.runpytest("-p", "tapps")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.tapps got unknown keyword 'fz'*"])


def test_seed_header_last_and_reproduce_line(tapps_pytester: pytest.Pytester) -> None:
    """The header names the seed; --tapps-seed=last replays it; a failure says how to rerun."""
    tapps_pytester.makepyfile(
        """
        def test_seeds(tapps_seed):
            print("SEED", tapps_seed)
            assert tapps_seed % 7 == -1  # never true: shows the reproduce line
        """
    )
    first = tapps_pytester.runpytest("-p", "tapps", "--tapps-seed=1234", "-s")
    first.stdout.fnmatch_lines(
        [
            "Using --tapps-seed=1234",
            "*To reproduce: pytest -p tapps --tapps-seed=1234 test_seed_header_last_and_reproduce_line.py::test_seeds*",
        ]
    )
    seed = re.findall(r"SEED (\d+)", first.stdout.str())
    again = tapps_pytester.runpytest("-p", "tapps", "--tapps-seed=last", "-s")
    again.stdout.fnmatch_lines(["Using --tapps-seed=1234"])
    assert re.findall(r"SEED (\d+)", again.stdout.str()) == seed != []
    bad = tapps_pytester.runpytest("-p", "tapps", "--tapps-seed=soon")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--tapps-seed='soon': expected an integer or 'last'*"])


def test_per_test_seeds_differ_and_are_stable(tapps_pytester: pytest.Pytester) -> None:
    """Each test gets its own seed from the run's seed and its id, the same on every run."""
    tapps_pytester.makepyfile(
        """
        def test_one(tapps_seed):
            print("ONE", tapps_seed)

        def test_two(tapps_seed):
            print("TWO", tapps_seed)
        """
    )
    runs = [tapps_pytester.runpytest("-p", "tapps", "--tapps-seed=7", "-s") for _ in range(2)]
    seeds = [re.findall(r"(ONE|TWO) (\d+)", run.stdout.str()) for run in runs]
    assert seeds[0] == seeds[1]
    assert len(seeds[0]) == 2
    assert seeds[0][0][1] != seeds[0][1][1]


def test_xdist_gives_the_same_outcomes(tapps_pytester: pytest.Pytester) -> None:
    """-n 2 passes and fails exactly the tests a serial run does."""
    tapps_pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_clock(tapps_clock, tapps_project, n):
            tapps_project.file(f"logs/debug/{n}.log", age=f"{n}d")
            time.sleep(60)
            assert tapps_clock.elapsed == 60
            assert n != 4
        """
    )
    serial = tapps_pytester.runpytest_subprocess("-p", "tapps")
    parallel = tapps_pytester.runpytest_subprocess("-p", "tapps", "-p", "xdist", "-n", "2")
    serial.assert_outcomes(passed=5, failed=1)
    parallel.assert_outcomes(passed=5, failed=1)


def test_harness_errors_are_told_apart_and_can_skip(tapps_pytester: pytest.Pytester) -> None:
    """A fault that cannot be injected reports HARNESS ERROR; skip_unsupported skips instead."""
    tapps_pytester.makepyfile(
        """
        import pytest

        @pytest.mark.tapps(fs="fake")
        def test_git_on_fake(tapps_project):
            tapps_project.worktree("wt", git=True)

        @pytest.mark.tapps(fs="fake", skip_unsupported=True)
        def test_git_on_fake_skipped(tapps_faults):
            tapps_faults.live_lock("wf")

        def test_plain_failure():
            assert 1 == 2
        """
    )
    junit = tapps_pytester.path / "junit.xml"
    result = tapps_pytester.runpytest("-p", "tapps", "-rs", f"--junitxml={junit}")
    result.assert_outcomes(failed=2, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*HARNESS ERROR (the harness could not set up or inject this; not a failure of the system under test):",
            "git worktrees need the real filesystem*",
            "*SKIPPED*not supported here: live_lock needs the real filesystem*",
        ]
    )
    assert result.stdout.str().count("HARNESS ERROR") == 1
    # CI tells the harness error apart in JUnit XML too: a property of that test alone.
    cases = ElementTree.parse(junit).iter("testcase")  # noqa: S314 -- pytest wrote it just now
    marked = {
        case.get("name"): [(p.get("name"), p.get("value")) for p in case.iter("property")]
        for case in cases
    }
    assert marked == {
        "test_git_on_fake": [("tapps_outcome", "harness-error")],
        "test_git_on_fake_skipped": [],
        "test_plain_failure": [],
    }


def test_the_seed_ini_key_sets_the_run_seed(tapps_pytester: pytest.Pytester) -> None:
    """ini tapps_seed = N is used when no --tapps-seed is given; the option wins over it."""
    tapps_pytester.makeini("[pytest]\ntapps_seed = 99\n")
    tapps_pytester.makepyfile("def test_x(tapps_seed):\n    assert tapps_seed >= 0\n")
    tapps_pytester.runpytest("-p", "tapps").stdout.fnmatch_lines(["Using --tapps-seed=99"])
    tapps_pytester.runpytest("-p", "tapps", "--tapps-seed=5").stdout.fnmatch_lines(
        ["Using --tapps-seed=5"]
    )


_EVERY_FIXTURE = """
    import logging
    import os
    import sys

    import pytest

    pytestmark = pytest.mark.tapps({marker})


    def test_every_fixture_on_the_fake_filesystem(
        tapps_project, tapps_faults, tapps_clock, tapps_logs, tapps_seed
    ):
        assert "pyfakefs.pytest_plugin" not in sys.modules  # the mode under test
        assert tapps_project.fake_fs
        tapps_project.file("logs/debug/a.log", age="8d")
        tapps_faults.disk_full(free_bytes=10)
        print("out while fake")
        print("err while fake", file=sys.stderr)
        logging.getLogger("tapps_agents").warning("logged while fake")
        assert os.listdir("/project/.tapps-agents/logs/debug") == ["a.log"]


    def test_a_failure_on_the_fake_filesystem_is_reported(tapps_project):
        tapps_project.file("logs/debug/a.log")
        print("captured while fake")
        assert os.listdir("/project/.tapps-agents/logs/debug") == ["b.log"]


    def test_the_real_world_is_back():
        assert not os.path.exists("/project/.tapps-agents")
"""


@pytest.mark.parametrize(
    ("marker", "option"), [("fs='fake'", []), ("", ["--tapps-fs=fake"])], ids=["marker", "option"]
)
def test_the_fake_filesystem_works_with_autoload_off_and_capture_on(
    tapps_pytester: pytest.Pytester, marker: str, option: list[str]
) -> None:
    """With PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 and -p tapps (so pyfakefs's own plugin is not
    loaded) and pytest's default fd capture, every fixture sets up and tears down on the fake
    filesystem, and a failure there is reported with its captured output (pytest's capture
    used to meet the fake os: Bad file descriptor at setup). In a subprocess: the outer
    session has loaded pyfakefs's plugin, whose global skip list would hide the failure."""
    tapps_pytester.makepyfile(_EVERY_FIXTURE.format(marker=marker))
    result = tapps_pytester.runpytest_subprocess("-p", "tapps", "-p", "no:randomly", *option)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_a_failure_on_the_fake_filesystem_is_reported _*",
            "E       AssertionError: assert ['a.log'] == ['b.log']",
            "*- Captured stdout call -*",
            "captured while fake",
        ]
    )
    assert "Bad file descriptor" not in result.stdout.str()


def test_a_time_without_a_zone_is_a_clear_error(tapps_pytester: pytest.Pytester) -> None:
    """A marker now= without a time zone (a string or a naive datetime) is a harness error
    naming the test, the value and the aware spelling to use, with no traceback."""
    tapps_pytester.makepyfile(
        """
        from datetime import datetime
        import pytest

        @pytest.mark.tapps(now="2026-01-15T10:30:00")
        def test_naive_text(tapps_clock):
            pass

        @pytest.mark.tapps(now=datetime(2026, 1, 15, 10, 30))
        def test_naive_datetime(tapps_project):
            pass
        """
    )
    result = tapps_pytester.runpytest("-p", "tapps")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_naive_text _*",
            HARNESS_ERROR + ":",
            "test_a_time_without_a_zone_is_a_clear_error.py::test_naive_text: "
            "@pytest.mark.tapps: now='2026-01-15T10:30:00' has no time zone: "
            "write it in UTC, now='2026-01-15T10:30:00Z'",
            "*_ ERROR at setup of test_naive_datetime _*",
            HARNESS_ERROR + ":",
            "test_a_time_without_a_zone_is_a_clear_error.py::test_naive_datetime: "
            "@pytest.mark.tapps: now=datetime.datetime(2026, 1, 15, 10, 30) has no time zone: "
            "write it in UTC, "
            "now=datetime.datetime(2026, 1, 15, 10, 30, tzinfo=datetime.timezone.utc)",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "tapps_clock_fixture" not in result.stdout.str()


@pytest.mark.parametrize("folder", ["tmp_path", "tmpdir"])
@pytest.mark.parametrize("order", ["before", "after"])
def test_the_fake_filesystem_with_a_real_tmp_folder_is_a_clear_error(
    tapps_pytester: pytest.Pytester, folder: str, order: str
) -> None:
    """fs='fake' (marker or --tapps-fs) with tmp_path or tmpdir in one test, in either order,
    is a harness error saying why and what to use instead, not pytest's traceback about a
    numbered folder it could not create."""
    arguments = f"{folder}, tapps_project" if order == "before" else f"tapps_project, {folder}"
    tapps_pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.tapps(fs="fake")
        def test_marked({arguments}):
            pass

        def test_by_option({arguments}):
            pass
        """
    )
    result = tapps_pytester.runpytest("-p", "tapps", "--tapps-fs=fake")
    result.assert_outcomes(errors=2)
    module = "test_the_fake_filesystem_with_a_real_tmp_folder_is_a_clear_error.py"
    for test in ("test_marked", "test_by_option"):
        result.stdout.fnmatch_lines(
            [
                f"*_ ERROR at setup of {test} _*",
                HARNESS_ERROR + ":",
                f"{module}::{test}: {folder} is a folder on the real disk, which the fake "
                "filesystem (fs='fake') hides: use tapps_project.root, a folder on the fake "
                f"filesystem, or mark the test @pytest.mark.tapps(fs='real') to keep {folder}",
            ]
        )
    assert "numbered dir" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()
