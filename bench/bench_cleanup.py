"""Benchmark: ``tapps cleanup`` against the runbook's own find commands, on the same trees.

    python bench/bench_cleanup.py [--runs 5] [--files 100000] [--worktrees 2000] [--dir PATH]
        [--impl NAME=PATH ...]

Cases (each tool gets a fresh copy of the same tree for every run, made before its timer):

(a) ``analytics/history`` with N ``*.jsonl`` files aged 0-200 days, against
    ``find .tapps-agents/analytics/history -name "*.jsonl" -mtime +90 -delete``;
(b) ``worktrees/`` with W folders of 20 files, aged 0-30 days, against
    ``find .tapps-agents/worktrees -mindepth 1 -maxdepth 1 -type d -mtime +7 -exec rm -rf {} +``.

No item is aged between N and N+1 days, where ``find -mtime +N`` (whole days, rounded down) and
the policy (strictly older than N days) disagree, so every tool must leave the same names; the
script checks that. Also timed: a plain ``os.scandir`` + ``lstat`` + ``os.unlink`` loop (the
floor for any Python tool), and the core's plan + apply in-process (no interpreter start-up).
Reported: medians, ratios to find, and the peak RSS of the ``tapps cleanup`` process.

``--impl NAME=PATH`` (repeatable) times ``tapps cleanup`` and the in-process core once per
implementation, each with ``PYTHONPATH=PATH`` (a folder holding a ``pytest_tapps`` package, e.g.
``git archive HEAD pytest_tapps | tar -x -C /tmp/before``), in the same runs and on the same
trees, and reports each one's medians against the first's.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _command import timed

DAY = 86400
TAPPS = str(Path(sys.executable).with_name("tapps"))
BASELINE = """
import os, sys, time
folder, days, want_dirs = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "dirs"
cutoff = time.time() - days * 86400
def rmtree(path):
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            rmtree(entry.path)
        else:
            os.unlink(entry.path)
    os.rmdir(path)
for entry in os.scandir(folder):
    if want_dirs:
        old = entry.stat(follow_symlinks=False).st_mtime < cutoff
        if entry.is_dir(follow_symlinks=False) and old:
            rmtree(entry.path)
    elif entry.name.endswith(".jsonl") and entry.stat(follow_symlinks=False).st_mtime < cutoff:
        os.unlink(entry.path)
"""


def _ages(count: int, top: float, gap: float) -> list[float]:
    """``count`` ages spread over [0, top) days, none near [gap, gap + 1] days."""
    ages = []
    for index in range(count):
        day = top * index / count
        if gap - 0.5 <= day <= gap + 1.5:  # half a day of margin: a disk run lasts an hour
            day = gap + 2
        ages.append(day * DAY)
    return ages


def build_analytics(root: Path, count: int) -> None:
    folder = root / ".tapps-agents/analytics/history"
    folder.mkdir(parents=True)
    now = time.time()
    for index, age in enumerate(_ages(count, 200, 90)):
        path = folder / f"agents-{index:06d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b'{"event": "x"}\n')
        os.close(fd)
        os.utime(path, (now - age, now - age))


def build_worktrees(root: Path, count: int) -> None:
    folder = root / ".tapps-agents/worktrees"
    folder.mkdir(parents=True)
    now = time.time()
    for index, age in enumerate(_ages(count, 30, 7)):
        tree = folder / f"workflow-wf-step-{index:05d}"
        (tree / "src").mkdir(parents=True)
        for number in range(20):
            path = tree / ("src" if number % 2 else "") / f"file-{number}.py"
            path.write_bytes(b"print('hello')\n")
            os.utime(path, (now - age, now - age))
        for sub in (tree / "src", tree):
            os.utime(sub, (now - age, now - age))


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def in_process(root: Path) -> float:
    from pytest_tapps.core import Layout
    from pytest_tapps.core._cleanup import run_cleanup

    layout = Layout(root)
    start = time.perf_counter()
    run_cleanup(layout)
    return time.perf_counter() - start


#: The in-process core of another implementation, timed in a process of its own.
IN_PROCESS = """
import sys, time
from pytest_tapps.core import Layout
from pytest_tapps.core._cleanup import run_cleanup
layout = Layout(sys.argv[1])
start = time.perf_counter()
run_cleanup(layout)
print(time.perf_counter() - start)
"""


def command_at(command: list[str], path: Path) -> Callable[[Path], float]:
    """Time ``command`` run with the implementation under ``path`` (``PYTHONPATH``)."""
    env = {**os.environ, "PYTHONPATH": str(path)}
    return lambda root: timed(command, cwd=root, env=env, keep_stdout=False)


def in_process_at(path: Path) -> Callable[[Path], float]:
    """:func:`in_process` for the implementation under ``path`` (its run_cleanup's own time)."""
    env = {**os.environ, "PYTHONPATH": str(path)}

    def measure(root: Path) -> float:
        done = subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(root)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return float(done.stdout)

    return measure


Tools = dict[str, Callable[[Path], float]]
HISTORY = ".tapps-agents/analytics/history"
TREES = ".tapps-agents/worktrees"
FIND_A = ["find", HISTORY, "-name", "*.jsonl", "-mtime", "+90", "-delete"]
FIND_B = [
    "find",
    TREES,
    "-mindepth",
    "1",
    "-maxdepth",
    "1",
    "-type",
    "d",
    "-mtime",
    "+7",
    "-exec",
    "rm",
    "-rf",
    "{}",
    "+",
]


def tools_for(
    find: list[str], folder: str, days: str, kind: str, category: str, *, impls: dict[str, Path]
) -> Tools:
    """find, the plain loop, the tapps command and the in-process core, for one case (the last
    two once per implementation of ``impls`` when there are any)."""
    tapps = [TAPPS, "cleanup", "--only", category]
    tools: Tools = {
        # Output to /dev/null as before: tapps cleanup prints a line per removed item.
        "find": lambda w: timed(find, cwd=w, keep_stdout=False),
        "scandir-unlink loop": lambda w: timed(
            [sys.executable, "-c", BASELINE, folder, days, kind], cwd=w, keep_stdout=False
        ),
    }
    if not impls:
        tools["tapps cleanup"] = lambda w: timed(tapps, cwd=w, keep_stdout=False)
        tools["core in-process"] = in_process
    for name, path in impls.items():
        tools[f"tapps cleanup [{name}]"] = command_at(tapps, path)
    for name, path in impls.items():
        tools[f"core in-process [{name}]"] = in_process_at(path)
    return tools


def run_case(name: str, template: Path, base: Path, runs: int, tools: Tools) -> None:
    results: dict[str, list[float]] = {tool: [] for tool in tools}
    expected: list[str] | None = None
    for _ in range(runs):
        for tool, measure in tools.items():
            work = base / f"{name}-{tool}"
            subprocess.run(["cp", "-a", str(template), str(work)], check=True)
            subprocess.run(["sync"], check=True)
            results[tool].append(measure(work))
            # Printed as it goes: a disk run takes most of an hour, and a cut run keeps its data.
            print(f"  run {len(results[tool])}: {tool:<22}{results[tool][-1]:.3f} s", flush=True)
            left = listing(work)
            if expected is None:
                expected = left
            elif left != expected:
                message = f"{tool} left a different tree than find in case {name}"
                raise SystemExit(message)
            subprocess.run(["rm", "-rf", str(work)], check=True)
    find = statistics.median(results["find"])
    print(f"\ncase {name} ({runs} runs):")
    print(f"  {'tool':<28}{'median s':>10}{'min s':>9}{'max s':>9}{'x find':>8}{'x first':>9}")
    first: dict[str, float] = {}
    for tool, times in results.items():
        median = statistics.median(times)
        low, high = min(times), max(times)
        same = tool.split(" [")[0]  # the same tool of another implementation
        versus = median / first.setdefault(same, median)
        print(
            f"  {tool:<28}{median:>10.3f}{low:>9.3f}{high:>9.3f}{median / find:>8.2f}{versus:>9.3f}"
        )


def _pick(tools: Tools, args: argparse.Namespace) -> Tools:
    wanted = {"find", *(name.strip() for name in args.tools.split(","))}
    return {name: measure for name, measure in tools.items() if name.split(" [")[0] in wanted}


def _impls(specs: list[str]) -> dict[str, Path]:
    """``NAME=PATH`` options as a mapping; a PATH must hold a ``pytest_tapps`` package."""
    impls: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not (Path(path) / "pytest_tapps" / "__init__.py").is_file():
            message = f"--impl {spec!r}: give NAME=PATH, PATH a folder holding pytest_tapps/"
            raise SystemExit(message)
        impls[name] = Path(path).resolve()
    return impls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--worktrees", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="where to build trees")
    parser.add_argument("--only", choices=["a", "b"], default=None)
    parser.add_argument(
        "--tools",
        default="find,scandir-unlink loop,tapps cleanup,core in-process",
        help="comma-separated tools to time (find is always kept as the baseline)",
    )
    parser.add_argument(
        "--impl",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="time tapps cleanup and the core of the pytest_tapps under PATH (repeatable)",
    )
    args = parser.parse_args()
    impls = _impls(args.impl)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        base = Path(folder)
        print(f"trees in {base}")
        if args.only in (None, "a"):
            template = base / "template-a"
            build_analytics(template, args.files)
            tools = _pick(
                tools_for(FIND_A, HISTORY, "91", "files", "analytics_history", impls=impls), args
            )
            run_case("a-analytics", template, base, args.runs, tools)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"  peak RSS of any child (tapps cleanup is the largest): {peak:.0f} MB")
            shutil.rmtree(template)
        if args.only in (None, "b"):
            template = base / "template-b"
            build_worktrees(template, args.worktrees)
            tools = _pick(
                tools_for(FIND_B, TREES, "8", "dirs", "orphan_worktrees", impls=impls), args
            )
            run_case("b-worktrees", template, base, args.runs, tools)


if __name__ == "__main__":
    main()
