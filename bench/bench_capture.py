"""Benchmark: ``tapps scenario capture`` of a 100,000-file analytics folder, and the replay of
what it writes, against the time the files take to write.

    python bench/bench_capture.py [--runs 3] [--files 100000] [--dir PATH]

Each run makes a fresh tree: N ``*.jsonl`` files of 90 to 130 bytes under
``.tapps-agents/analytics/history``, aged 0-200 days (no file within a second of the 90-day
limit), named ``agents-000000.jsonl`` on. Timed, in the same run:

- the baseline: writing those N files and setting their mtimes with the fewest plain ``os``
  calls per file (``open``/``write``/``close``/``utime``) in one Python process, what any
  replay must at least do;
- ``tapps scenario capture --action cleanup`` of the tree (a subprocess, interpreter start-up
  included), and the size of the scenario it writes;
- ``pytest -p tapps`` on that scenario: the replay writes the tree again, plans the cleanup and
  checks the plan and that the dry run changed nothing. Its ``--basetemp`` is in the run's
  folder: pytest would otherwise start by deleting the tree of a run three before.

``--dir /dev/shm`` measures in memory, where writing costs least and the rest shows.

A command that fails (a capture refused, a replay whose ``then:`` does not hold) stops the
benchmark with its output, before any figure (bench/_command.py). Reported: medians, and the
capture's and the replay's ratio to the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _command import timed

DAY = 86400
NOW = 1_780_000_000  # 2026-05-28T20:26:40Z
TAPPS = str(Path(sys.executable).with_name("tapps"))


def ages(count: int) -> list[float]:
    """Ages spread over 0-200 days, none within a second of the 90-day limit."""
    found = []
    for n in range(count):
        age = (n * 7919 % (200 * DAY * 10)) / 10
        if abs(age - 90 * DAY) < 1:
            age += 2
        found.append(age)
    return found


def write_tree(root: Path, count: int) -> float:
    """Write the analytics folder; the seconds it took. The floor: the fewest plain ``os``
    calls per file (open, write, close, utime), as fast as Python writes files."""
    folder = root / ".tapps-agents" / "analytics" / "history"
    folder.mkdir(parents=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    start = time.perf_counter()
    for n, age in enumerate(ages(count)):
        path = os.path.join(folder, f"agents-{n:06d}.jsonl")  # noqa: PTH118
        fd = os.open(path, flags, 0o666)
        try:
            os.write(fd, b"x" * (90 + n % 41))
        finally:
            os.close(fd)
        os.utime(path, (NOW - age, NOW - age))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to make the trees")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-capture-", dir=args.dir))
    written: list[float] = []
    captured: list[float] = []
    replayed: list[float] = []
    size = 0
    try:
        for run in range(args.runs):
            folder = base / f"run-{run}"
            written.append(write_tree(folder / "project", args.files))
            scenario = folder / "captured.tapps.yaml"
            captured.append(
                timed(
                    [
                        TAPPS, "scenario", "capture", "--project-root", "project",
                        "--now", "2026-05-28T20:26:40Z",
                        "--action", "cleanup", "-o", str(scenario),
                    ],
                    cwd=folder,
                )
            )  # fmt: skip
            size = scenario.stat().st_size
            replayed.append(
                timed(
                    [
                        sys.executable, "-m", "pytest", "-p", "tapps", "-p", "no:cacheprovider",
                        "-q", "--basetemp", str(folder / "pytest"), str(scenario),
                    ],
                    cwd=folder,
                    env={**os.environ, "PYTEST_ADDOPTS": ""},
                )
            )  # fmt: skip
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    floor = statistics.median(written)
    print(f"{args.files} analytics files, {args.runs} runs (medians):")
    print(f"  write the files (baseline)       {floor:7.2f}s")
    for name, times in (("tapps scenario capture", captured), ("pytest on the capture", replayed)):
        median = statistics.median(times)
        print(f"  {name:<32} {median:7.2f}s  {median / floor:5.1f}x the baseline")
    print(f"  scenario file                    {size:7d} bytes")


if __name__ == "__main__":
    main()
