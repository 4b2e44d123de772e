"""Tests for the benchmarks' command runner (bench/_command.py): a benchmark whose command fails
stops with that command's output and a non-zero exit, and prints no figure."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _command_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_command", BENCH / "_command.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


command = _command_module()
FAILING = [
    sys.executable,
    "-c",
    "import sys; print('collected 0 items', flush=True); "
    "sys.stderr.write('error: unrecognized arguments: -n\\n'); sys.exit(4)",
]


def test_a_failing_command_stops_the_benchmark_with_its_output() -> None:
    """A command exiting 4 raises CommandFailed, a SystemExit whose message names the command,
    its status and both of its output streams."""
    with pytest.raises(command.CommandFailed) as failed:
        command.timed(FAILING)
    assert failed.value.returncode == 4
    assert isinstance(failed.value, SystemExit)
    message = str(failed.value.code)
    head, output = message.split("Its output:\n")
    assert head.startswith("benchmark stopped: `")
    assert head.endswith("exited with status 4; no figure is printed for a command that failed. ")
    assert output == "collected 0 items\nerror: unrecognized arguments: -n"


def test_with_stdout_discarded_a_failure_still_shows_standard_error() -> None:
    """keep_stdout=False (for commands that print a line per file) still shows what the command
    wrote to standard error, and says standard output was discarded."""
    with pytest.raises(command.CommandFailed) as failed:
        command.timed(FAILING, keep_stdout=False)
    output = str(failed.value.code).split("Its output:\n")[1]
    assert (
        output == "(standard output discarded; standard error:)\nerror: unrecognized arguments: -n"
    )


def test_an_allowed_exit_status_is_timed() -> None:
    """An exit status listed in allowed returns the wall time instead of stopping."""
    sleeper = [sys.executable, "-c", "import sys, time; time.sleep(0.05); sys.exit(1)"]
    assert command.timed(sleeper, allowed=(0, 1)) >= 0.05
    with pytest.raises(command.CommandFailed):
        command.timed(sleeper)


def test_bench_scenarios_stops_when_n_2_cannot_run(tmp_path: Path) -> None:
    """With pytest-xdist not loaded, bench_scenarios.py exits 1 with pytest's usage error and
    prints no -n 2 figure (it used to print "-n 2 0.45 s (10.35x)")."""
    (tmp_path / "one.tapps.yaml").write_text(
        textwrap.dedent(
            """\
            name: a debug log is deleted at 8 days
            runbook: Data Retention Policies > Logs > Debug logs
            given:
              files:
                - {path: .tapps-agents/logs/debug/old.log, age: 8d}
            when:
              - cleanup: {}
            then:
              absent: [.tapps-agents/logs/debug/old.log]
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_scenarios.py"), "--runs", "1", "--repeat", "1",
         "--suite", str(tmp_path)],
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "exited with status 4; no figure is printed" in done.stderr
    assert "unrecognized arguments: -n" in done.stderr
    assert "-n 2" not in done.stdout
    assert "serial" not in done.stdout
