"""Benchmark: the bundled scenario suite's wall time, and what a scenario costs over plain pytest.

    python bench/bench_scenarios.py [--runs 3] [--repeat 51] [--suite scenarios/]

1. The whole suite, ``pytest -p tapps scenarios/`` serial and with ``-n 2`` (median of --runs),
   and the median per-scenario time pytest records (JUnit XML) on the real and the fake
   filesystem (``--tapps-fs=fake``; scenarios that need git or subprocesses are left out there).
2. The per-scenario overhead: one retention scenario (two aged files, a dry-run cleanup, a plan
   check) against a plain function making the same core calls (build the files with their
   mtimes, ``plan_cleanup``, compare the decisions): in-process (medians of --repeat runs,
   alternating), and under pytest as --repeat scenarios and --repeat plain pytest tests in one
   run. Target: a median scenario under 25 ms on the real filesystem.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from _command import timed

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """\
name: analytics expire at 90 days
runbook: Data Retention Policies > Metrics > Analytics history
given:
  files:
    - {path: .tapps-agents/analytics/history/old.jsonl, age: 91d}
    - {path: .tapps-agents/analytics/history/new.jsonl, age: 89d}
when:
  - cleanup: {dry_run: true}
then:
  plan:
    .tapps-agents/analytics/history/old.jsonl: delete
    .tapps-agents/analytics/history/new.jsonl: "keep: too new"
"""


def suite(folder: Path, *options: str, junit: Path | None = None) -> float:
    """Wall time of one pytest run of the scenario suite in ``folder``; a run that fails (a
    failing scenario, a usage error such as ``-n`` without pytest-xdist) stops the benchmark."""
    command = [sys.executable, "-m", "pytest", "-p", "tapps", str(folder), "-q", *options]
    if junit is not None:
        command.append(f"--junitxml={junit}")
    return timed(command, cwd=ROOT)


def fake_run(folder: Path, junit: Path) -> None:
    """The suite once on the fake filesystem. Scenarios that need the real one (git worktrees,
    live lock holders) fail there, so pytest's exit 1 is expected and only passing scenarios are
    timed; any other exit (a usage error, an internal error) stops the benchmark."""
    command = [sys.executable, "-m", "pytest", "-p", "tapps", str(folder), "-q"]
    timed([*command, "--tapps-fs=fake", f"--junitxml={junit}"], cwd=ROOT, allowed=(0, 1))


def per_scenario(junit: Path) -> tuple[float, int]:
    """Median time of the passing scenarios in a JUnit file, and how many passed."""
    times = [
        float(case.get("time", "0"))
        for case in ET.parse(junit).iter("testcase")  # noqa: S314 -- our own report
        if not any(child.tag in ("failure", "error", "skipped") for child in case)
    ]
    if not times:
        message = f"benchmark stopped: no scenario passed in {junit.name}; nothing to time"
        raise SystemExit(message)
    return statistics.median(times), len(times)


def plain(root: Path) -> None:
    """The same core calls as the scenario, written as a plain test would."""
    from pytest_tapps.core import Layout, VirtualClock, plan_cleanup

    clock = VirtualClock(1768473000)
    history = root / ".tapps-agents" / "analytics" / "history"
    history.mkdir(parents=True)
    for name, days in (("old.jsonl", 91), ("new.jsonl", 89)):
        path = history / name
        path.write_text("x")
        stamp = clock.time() - days * 86400
        os.utime(path, (stamp, stamp))
    plan = plan_cleanup(Layout(root), clock=clock)
    labels = {os.path.relpath(item.location, root): item.label for item in plan.items}
    assert labels[".tapps-agents/analytics/history/old.jsonl"].startswith("delete")
    assert labels[".tapps-agents/analytics/history/new.jsonl"] == "keep: too new"


def through_runner(path: Path, root: Path) -> None:
    from pytest_tapps.scenario import load_file, parse, run_scenario

    (loaded,) = load_file(path)
    run_scenario(loaded, parse(loaded.data), root=root)


def overhead(repeat: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "s.tapps.yaml"
        path.write_text(textwrap.dedent(SCENARIO))
        through_runner(path, folder / "warm" / "project")
        plain(folder / "warm-plain")
        scenario, bare = [], []
        for index in range(repeat):
            start = time.perf_counter()
            through_runner(path, folder / f"s{index}" / "project")
            scenario.append(time.perf_counter() - start)
            start = time.perf_counter()
            plain(folder / f"p{index}")
            bare.append(time.perf_counter() - start)
    return statistics.median(scenario), statistics.median(bare)


PLAIN_TEST = """
from pathlib import Path
import sys
sys.path.insert(0, {bench!r})
from bench_scenarios import plain

def test_plain_{index}(tmp_path: Path) -> None:
    plain(tmp_path)
"""


def under_pytest(copies: int) -> tuple[float, float]:
    """Median pytest time of the scenario and of a plain pytest test making the same core calls,
    ``copies`` of each in one run (JUnit XML times: setup, call and teardown)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines = ["scenarios:"]
        for index in range(copies):
            body = textwrap.indent(
                SCENARIO.replace("name: analytics", f"name: {index} analytics"), "    "
            )
            lines.append("  - " + body.strip())
        (folder / "s.tapps.yaml").write_text("\n".join(lines) + "\n")
        for index in range(copies):
            (folder / f"test_plain_{index}.py").write_text(
                PLAIN_TEST.format(bench=str(Path(__file__).parent), index=index)
            )
        junit = folder / "out.xml"
        timed(
            [sys.executable, "-m", "pytest", "-p", "tapps", "-q", f"--junitxml={junit}", "."],
            cwd=folder,
        )
        times: dict[bool, list[float]] = {True: [], False: []}
        for case in ET.parse(junit).iter("testcase"):  # noqa: S314 -- our own report
            times[case.get("name", "").startswith("test_plain")].append(
                float(case.get("time", "0"))
            )
    return statistics.median(times[False]), statistics.median(times[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=51)
    parser.add_argument(
        "--suite", type=Path, default=ROOT / "scenarios", help="the scenario folder to time"
    )
    args = parser.parse_args()
    args.suite = args.suite.resolve()  # the suite runs in the project's root
    scenario, bare = overhead(args.repeat)
    print(f"one scenario vs the same core calls in a plain function ({args.repeat} runs, medians):")
    print(f"  plain function   {bare * 1000:7.2f} ms")
    print(f"  scenario runner  {scenario * 1000:7.2f} ms   (+{(scenario - bare) * 1000:.2f} ms)")
    as_scenario, as_test = under_pytest(args.repeat)
    print(f"the same under pytest, {args.repeat} of each in one run (medians of JUnit times):")
    print(f"  plain pytest test  {as_test * 1000:7.2f} ms")
    added = (as_scenario - as_test) * 1000
    print(f"  scenario           {as_scenario * 1000:7.2f} ms   (+{added:.2f} ms)")
    with tempfile.TemporaryDirectory() as tmp:
        real, fake = Path(tmp) / "real.xml", Path(tmp) / "fake.xml"
        serial = statistics.median(
            suite(args.suite, junit=real if run == 0 else None) for run in range(args.runs)
        )
        parallel = statistics.median(suite(args.suite, "-n", "2") for _ in range(args.runs))
        fake_run(args.suite, fake)
        real_median, real_count = per_scenario(real)
        fake_median, fake_count = per_scenario(fake)
    print(f"scenario suite, pytest -p tapps {args.suite} ({args.runs} runs, medians):")
    print(f"  serial  {serial:6.2f} s")
    print(f"  -n 2    {parallel:6.2f} s   ({serial / parallel:.2f}x)")
    print("median time per passing scenario (pytest's own timing):")
    print(f"  real filesystem  {real_median * 1000:7.1f} ms   ({real_count} scenarios)")
    print(f"  fake filesystem  {fake_median * 1000:7.1f} ms   ({fake_count} scenarios)")


if __name__ == "__main__":
    main()
