"""Benchmark: the catalogue of runbook bugs against the bundled suite (``tapps scenario
strength``), the wall time a CI job waits for.

    python bench/bench_strength.py [--runs 3] [--processes 2] [--suite scenarios/] [--basetemp DIR]

Runs ``tapps scenario strength --json -n PROCESSES`` (the shipped catalogue, the bundled suite
unless --suite is given) --runs times in a subprocess and prints the median wall time with
what the runs measured. A run that fails (an invalid suite, no scenario passing on the
reference core, a crash) stops the benchmark with its output and exit status 1, and no figure
is printed. ``--basetemp DIR`` makes the runs' projects under DIR (the command's default is a
memory filesystem when there is one with room: ``--basetemp /tmp`` shows what a disk costs).
Target: well under two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _command import CommandFailed

ROOT = Path(__file__).resolve().parents[1]


def strength(suite: Path, processes: int, basetemp: Path | None) -> tuple[float, dict[str, object]]:
    """Wall time and JSON report of one ``tapps scenario strength`` run."""
    command = [
        sys.executable,
        "-m",
        "pytest_tapps",
        "scenario",
        "strength",
        str(suite),
        "--json",
        "-n",
        str(processes),
        *(["--basetemp", str(basetemp)] if basetemp else []),
    ]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise CommandFailed(command, done.returncode, done.stdout + done.stderr)
    return elapsed, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--suite", type=Path, default=ROOT / "scenarios")
    parser.add_argument("--basetemp", type=Path, help="where the runs' projects are made")
    args = parser.parse_args()
    times: list[float] = []
    report: dict[str, object] = {}
    for _ in range(args.runs):
        elapsed, report = strength(args.suite, args.processes, args.basetemp)
        times.append(elapsed)
    where = f" --basetemp {args.basetemp}" if args.basetemp else ""
    print(
        f"tapps scenario strength -n {args.processes}{where}: "
        f"median {statistics.median(times):.1f}s of {args.runs} runs "
        f"({', '.join(f'{t:.1f}s' for t in times)}); "
        f"{report['caught']} of {report['total']} bugs caught by {report['scenarios']} "
        f"scenarios"
    )


if __name__ == "__main__":
    main()
