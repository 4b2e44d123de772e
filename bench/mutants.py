"""Mutation strength of the core's recovery and retention modules, on a seeded sample.

A mutant is the core with one small automatic change (``>`` made ``>=``, ``and`` made ``or``, a
constant changed, an argument dropped...). A test suite kills it when a test fails with the change
in place. mutmut 3.8.1 makes the mutants and runs them (its own runner: per mutant only the tests
that reached the mutated function, in parallel, with its CPU-time limit); this script adds what
mutmut has no option for:

- a **seeded sample** of the mutants, stratified per module (``--size`` split evenly over the six
  modules of ``MODULES``, ``--seed`` fixes the draw), passed to ``mutmut run`` by name;
- **two test commands** measured the same way (``--suite scenarios``: the bundled scenario suite
  alone, ``pytest -p tapps scenarios/``; ``--suite unit``: the core's unit tests,
  ``pytest tests/core/ tests/properties/``). mutmut reads its settings from ``pyproject.toml``
  only, so each suite runs in its own copy of the project under ``.mutmut/SUITE/`` whose
  ``[tool.mutmut]`` names that suite's tests;
- a **real run** of every mutant mutmut did not kill against the suite's whole test command
  (see ``confirm``; ``--no-confirm`` keeps mutmut's verdicts);
- a per-module report (killed, survived, no tests, timeout) and every survivor with its diff
  (what ``mutmut show NAME`` prints), or ``--json``.

    python bench/mutants.py --suite scenarios --size 240 --seed 16 -n 2
    python bench/mutants.py --suite unit --size 240 --seed 16 -n 2 --json > unit.json
    python bench/mutants.py --suite scenarios --module _policy.py --all -n 2   # a full run

Not part of CI (minutes to an hour on 2 cores). See docs/strength.md, "Mutants".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: The six modules measured (issue 16): the cleanup decisions are split over four files.
MODULES: dict[str, tuple[str, ...]] = {
    "_policy.py": ("pytest_tapps/core/_policy.py",),
    "_executor.py": ("pytest_tapps/core/_executor.py",),
    "_recovery.py": ("pytest_tapps/core/_recovery.py",),
    "_locks.py": ("pytest_tapps/core/_locks.py",),
    "_retention.py": ("pytest_tapps/core/_retention.py",),
    "cleanup decisions": (
        "pytest_tapps/core/_decide.py",
        "pytest_tapps/core/_candidates.py",
        "pytest_tapps/core/_plan.py",
        "pytest_tapps/core/_onepass.py",
    ),
}

#: What each suite puts in [tool.mutmut]: (pytest_add_cli_args_test_selection, pytest_add_cli_args).
#: The unit tests are the core's own (tests/core/, tests/properties/): the rest of tests/ mostly
#: runs pytest or the command line in other processes, where a kill is not seen, and its checks of
#: what an import loads fail with mutmut's trampolines in every function. test_purity.py is left
#: out for that reason (it checks imports, not behaviour). See docs/strength.md, "Mutants".
SUITES: dict[str, tuple[list[str], list[str]]] = {
    "scenarios": (["scenarios/"], ["-p", "tapps"]),
    "unit": (["tests/core/", "tests/properties/", "--ignore=tests/core/test_purity.py"], []),
}

#: Copied into the suite's work folder: the package and what its tests read.
COPIED = (
    "pytest_tapps",
    "tests",
    "scenarios",
    "docs",
    "examples",
    "bench",
    "README.md",
    "CHANGELOG.md",
    "pyproject.toml",
)

#: mutmut's statuses (mutmut.stats.status_by_exit_code) in the order they are reported.
STATUSES = ("killed", "timeout", "survived", "no tests", "suspicious", "segfault", "not checked")


def all_mutants() -> dict[str, list[str]]:
    """Every mutant name mutmut makes, per module of MODULES, in mutmut's own order."""
    from mutmut.mutation.file_mutation import mutate_file_contents
    from mutmut.utils.format_utils import get_mutant_name

    names: dict[str, list[str]] = {}
    for module, files in MODULES.items():
        names[module] = []
        for file in files:
            source = (ROOT / file).read_text(encoding="utf-8")
            mutated = mutate_file_contents(file, source)
            names[module] += [get_mutant_name(Path(file), name) for name in mutated.mutant_names]
    return names


def draw(names: dict[str, list[str]], *, size: int | None, seed: int) -> dict[str, list[str]]:
    """``size`` mutants split evenly over the modules, each module's drawn with its own seeded
    generator (so adding a module does not change another's draw); every mutant when ``size``
    is None."""
    if size is None:
        return {module: sorted(module_names) for module, module_names in names.items()}
    share, extra = divmod(size, len(names))
    sample = {}
    for index, (module, module_names) in enumerate(names.items()):
        count = min(share + (index < extra), len(module_names))
        generator = random.Random(f"{seed}:{module}")  # noqa: S311 (a reproducible draw)
        sample[module] = sorted(generator.sample(module_names, count))
    return sample


def prepare(suite: str, workdir: Path) -> None:
    """A copy of the project in ``workdir`` whose [tool.mutmut] runs ``suite``'s tests."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source, target = ROOT / name, workdir / name
        if source.is_dir():
            shutil.copytree(
                source,
                target,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        else:
            shutil.copy2(source, target)
    selection, cli_args = SUITES[suite]
    pyproject = (workdir / "pyproject.toml").read_text(encoding="utf-8")
    for key, value in (
        ("pytest_add_cli_args_test_selection", selection),
        ("pytest_add_cli_args", cli_args),
    ):
        pyproject, count = re.subn(
            rf"^{key} = .*$", f"{key} = {json.dumps(value)}", pyproject, flags=re.MULTILINE
        )
        if count != 1:
            message = f"pyproject.toml's [tool.mutmut] has no single {key!r} line to set"
            raise SystemExit(message)
    (workdir / "pyproject.toml").write_text(pyproject, encoding="utf-8")


def run_mutmut(workdir: Path, names: Sequence[str], processes: int) -> float:
    """``mutmut run`` on the named mutants in ``workdir``; the seconds it took."""
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut), "run", "--max-children", str(processes), *names]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    log = workdir / "mutmut-run.log"
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        message = f"mutmut run exited {done.returncode}; its output is in {log}"
        raise SystemExit(message)
    return elapsed


def results(workdir: Path, sample: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """Each sampled mutant's status, read from mutmut's result files (what ``mutmut results``
    prints)."""
    from mutmut.stats import status_by_exit_code

    exit_codes: dict[str, int | None] = {}
    for files in MODULES.values():
        for file in files:
            meta = workdir / "mutants" / f"{file}.meta"
            exit_codes.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return {
        module: {name: status_by_exit_code[exit_codes.get(name)] for name in names}
        for module, names in sample.items()
    }


def confirm(
    workdir: Path, suite: str, names: Sequence[str], *, processes: int, timeout: float
) -> dict[str, str]:
    """Each mutant run against the suite's whole test command in a fresh process: killed,
    survived or timeout.

    mutmut runs a mutant against the tests that reached its function while it recorded them,
    in a process forked after the package was imported. Both miss what happens at collection or
    import: a scenario file's retry policy and retention ages are parsed while pytest collects
    it (mutmut credits that to the first scenario that runs), and a table built at import is
    built before the mutant is switched on. A fresh ``pytest`` with ``MUTANT_UNDER_TEST`` set
    from the start sees both, so every mutant mutmut did not kill is run this way."""
    from concurrent.futures import ThreadPoolExecutor

    selection, cli_args = SUITES[suite]
    command = [sys.executable, "-m", "pytest", "--rootdir=.", "-x", "-q", "-p", "no:cacheprovider"]
    command += [*selection, *cli_args]
    mutants = workdir / "mutants"

    def one(name: str) -> str:
        env = {**os.environ, "MUTANT_UNDER_TEST": name, "PY_IGNORE_IMPORTMISMATCH": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(mutants), env.get("PYTHONPATH")]))
        try:
            done = subprocess.run(
                command, cwd=mutants, env=env, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return "timeout"
        return "survived" if done.returncode == 0 else "killed"

    # The check mutmut makes first: with the "fail" mutant every mutated function raises, so a
    # suite that still passes never switched the mutants on.
    if one("fail") != "killed":
        message = "the suite passes with every mutant raising: the mutants are not switched on"
        raise SystemExit(message)
    # And with no mutant it must pass, or every mutant would count as killed.
    if one("") != "survived":
        message = f"the suite fails without a mutant in {mutants}: fix that first"
        raise SystemExit(message)
    with ThreadPoolExecutor(max_workers=processes) as pool:
        return dict(zip(names, pool.map(one, names), strict=True))


def diffs(workdir: Path, names: Sequence[str]) -> dict[str, str]:
    """What ``mutmut show NAME`` prints for each mutant, without a process per mutant."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    shown = {}
    here = Path.cwd()
    os.chdir(workdir)
    try:
        for name in names:
            module = name.rpartition(".x")[0]
            path = Path(*module.split(".")).with_suffix(".py")
            shown[name] = get_diff_for_mutant(name, path=path)
    finally:
        os.chdir(here)
    return shown


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=sorted(SUITES), default="scenarios")
    parser.add_argument("--size", type=int, default=240, help="mutants in all (default 240)")
    parser.add_argument("--seed", type=int, default=16, help="seed of the draw (default 16)")
    parser.add_argument(
        "--module",
        action="append",
        choices=sorted(MODULES),
        help="measure only this module (repeatable); default: all six",
    )
    parser.add_argument(
        "--all", action="store_true", help="every mutant of the modules, not a sample (--size)"
    )
    parser.add_argument("-n", "--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", type=Path, help="default: .mutmut/SUITE")
    parser.add_argument(
        "--no-confirm",
        action="store_true",
        help="keep mutmut's verdicts (do not run what it did not kill against the whole suite)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per confirming run (default 600)"
    )
    parser.add_argument("--list", action="store_true", help="print the sample's names and stop")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    everything = all_mutants()
    if args.module:
        everything = {module: everything[module] for module in args.module}
    sample = draw(everything, size=None if args.all else args.size, seed=args.seed)
    if args.list:
        print("\n".join(name for names in sample.values() for name in names))
        return 0
    workdir = args.workdir or ROOT / ".mutmut" / args.suite
    prepare(args.suite, workdir)
    elapsed = run_mutmut(workdir, [n for names in sample.values() for n in names], args.processes)
    statuses = results(workdir, sample)
    mutmut_statuses = {module: dict(by_name) for module, by_name in statuses.items()}
    if not args.no_confirm:
        unkilled = [
            name
            for by_name in statuses.values()
            for name, status in by_name.items()
            if status not in ("killed", "timeout")
        ]
        confirmed = confirm(
            workdir, args.suite, unkilled, processes=args.processes, timeout=args.timeout
        )
        for by_name in statuses.values():
            for name in by_name.keys() & confirmed.keys():
                by_name[name] = confirmed[name]
    survivors = [
        name
        for module in statuses.values()
        for name, status in module.items()
        if status not in ("killed", "timeout")
    ]
    shown = diffs(workdir, survivors)

    modules: dict[str, dict[str, Any]] = {}
    for module, by_name in statuses.items():
        counts = dict.fromkeys(STATUSES, 0)
        for status in by_name.values():
            counts[status] = counts.get(status, 0) + 1
        killed = counts["killed"] + counts["timeout"]
        modules[module] = {
            "mutants": len(by_name),
            "in_module": len(everything[module]),
            **counts,
            "percent": round(100 * killed / len(by_name), 1) if by_name else 0.0,
        }
    total = sum(m["mutants"] for m in modules.values())
    killed = sum(m["killed"] + m["timeout"] for m in modules.values())
    report: dict[str, Any] = {
        "suite": args.suite,
        "test_selection": SUITES[args.suite][0],
        "pytest_args": SUITES[args.suite][1],
        "seed": None if args.all else args.seed,
        "confirmed": not args.no_confirm,
        "killed_on_confirmation": sum(
            statuses[m][n] != mutmut_statuses[m][n] for m in statuses for n in statuses[m]
        ),
        "size": total,
        "killed": killed,
        "percent": round(100 * killed / total, 1) if total else 0.0,
        "elapsed": round(elapsed, 1),
        "modules": modules,
        "survivors": [
            {
                "name": name,
                "status": statuses[module][name],
                "mutmut_status": mutmut_statuses[module][name],
                "module": module,
                "diff": shown[name],
            }
            for module in statuses
            for name in statuses[module]
            if name in shown
        ],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    drawn = "every mutant" if args.all else f"seed {args.seed}"
    print(f"suite {args.suite}: {drawn}, {total} mutants, {elapsed:.0f}s")
    print(
        f"{'MODULE':<20}{'MUTANTS':>8}{'KILLED':>8}{'TIMEOUT':>8}{'SURVIVED':>9}"
        f"{'NO TESTS':>9}{'OTHER':>6}{'SCORE':>8}"
    )
    for module, m in modules.items():
        other = m["suspicious"] + m["segfault"] + m["not checked"]
        print(
            f"{module:<20}{m['mutants']:>8}{m['killed']:>8}{m['timeout']:>8}{m['survived']:>9}"
            f"{m['no tests']:>9}{other:>6}{m['percent']:>7.1f}%"
        )
    print(f"{'all':<20}{total:>8}{'':>42}{report['percent']:>7.1f}%")
    for survivor in report["survivors"]:
        print(f"\n# {survivor['name']}: {survivor['status']}\n{survivor['diff']}")
    if not args.no_confirm:
        killed_late = report["killed_on_confirmation"]
        print(f"\n{killed_late} mutant(s) mutmut let live were killed by the whole suite")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
