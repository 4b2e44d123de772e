"""Measuring a scenario suite against a catalogue of bugs: which scenarios catch each one.

Every scenario of the suite runs first on the reference core
(:class:`~pytest_tapps.scenario.CoreTarget`); only those that pass there count. Each of those
then runs against every bug that is in place during one of its actions: a bug that none of a
scenario's actions reaches behaves as the core there, so it cannot be caught by that scenario
and is not run (this is what keeps a measure short). A bug is *caught* by a scenario that
passes on the core and does not pass on the bug:

* a :class:`~pytest_tapps.scenario.ScenarioFailure` (an expectation did not hold) catches it;
* any other exception raised while the scenario runs on the bug (the implementation crashed,
  ``SystemExit`` included) catches it too: a crash is a departure a suite can see;
* :class:`~pytest_tapps.scenario.Unsupported`, :class:`~pytest_tapps.scenario.ScenarioSkip` and
  a :class:`~pytest_tapps.harness.HarnessError` do not: they say the scenario could not be
  asked of the bug, not that the bug did wrong.

On the core, a scenario that fails (or raises, or hits a harness error) is left out with the
first line of its evidence; one the core cannot perform is counted as unsupported, one that
cannot run on this machine (``requires: git``...) as skipped.

Runs are spread over ``processes`` forked workers, which send back plain data: first every
scenario on the core, then every (scenario, bug) run those that passed call for, those of the
scenarios slowest on the core first (one long scenario's runs then share the workers instead of
ending the measure on one). Every run has its own temporary folder, removed after it. The
engine imports no pytest.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pytest_tapps.strength._bug import Bug
from pytest_tapps.strength._catalogue import CATALOGUE

if TYPE_CHECKING:
    from pytest_tapps.scenario._load import Loaded
    from pytest_tapps.scenario._model import Scenario


class SuiteError(ValueError):
    """The suite cannot be measured: a path that is not there or an invalid scenario file;
    ``problems`` lists each (``FILE:LINE: field: message``)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class BugResult:
    """One bug of the catalogue and the scenarios that caught it (``file::name``, sorted)."""

    name: str
    runbook: str
    defect: str
    caught_by: tuple[str, ...]

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)


@dataclass(frozen=True)
class Excluded:
    """A scenario left out of the measure, and why (one line)."""

    scenario: str
    reason: str


@dataclass(frozen=True)
class Strength:
    """What :func:`measure` found."""

    bugs: tuple[BugResult, ...]
    #: The scenarios that passed on the reference core: those that count.
    scenarios: tuple[str, ...]
    #: Every scenario of the suite (outline rows one each).
    total: int
    failed: tuple[Excluded, ...]
    unsupported: tuple[Excluded, ...]
    skipped: tuple[Excluded, ...]
    elapsed: float

    @property
    def caught(self) -> int:
        """How many bugs some scenario caught."""
        return sum(bug.caught for bug in self.bugs)

    @property
    def missed(self) -> tuple[BugResult, ...]:
        return tuple(bug for bug in self.bugs if not bug.caught)

    @property
    def percent(self) -> float:
        """The caught share of the bugs, in percent (100 when there are no bugs)."""
        return 100.0 * self.caught / len(self.bugs) if self.bugs else 100.0


class _Case(NamedTuple):
    """A scenario to measure: its key, the loaded file part and the model."""

    key: str
    loaded: Loaded
    scenario: Scenario


class _Run(NamedTuple):
    """What a worker sends back for one scenario (plain data)."""

    key: str
    status: str  # passed, failed, unsupported, skipped
    reason: str
    caught: tuple[str, ...]  # the names of the bugs it caught


def bugs_of(found: Any) -> list[Bug]:
    """``found`` as a list of bugs: a :class:`Bug` subclass or instance, or an iterable of
    them (the classes instantiated). Raises ``TypeError`` naming what is not a bug and
    ``ValueError`` for two bugs of one name."""
    items = [found] if isinstance(found, Bug | type) else found
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        message = (
            f"got {found!r} ({type(found).__name__}): give a pytest_tapps.strength.Bug "
            "subclass or instance, or an iterable of them"
        )
        raise TypeError(message)
    bugs: list[Bug] = []
    for item in items:
        if isinstance(item, type) and issubclass(item, Bug):
            bugs.append(item())
        elif isinstance(item, Bug):
            bugs.append(item)
        else:
            message = (
                f"{item!r} is not a pytest_tapps.strength.Bug subclass or instance "
                "(a bug is the reference core with one defect: subclass Bug)"
            )
            raise TypeError(message)
    seen: set[str] = set()
    for bug in bugs:
        if bug.name in seen:
            message = f"two bugs are named {bug.name!r}: give each bug its own name"
            raise ValueError(message)
        seen.add(bug.name)
    return bugs


def load_bugs(spec: str | None, *, option: str) -> list[Bug]:
    """The bugs ``spec`` (``MODULE:ATTR``) names, or the shipped catalogue for ``None``;
    a :class:`~pytest_tapps.core.ConfigurationError` naming ``option`` when it names no bugs."""
    from pytest_tapps.cli._runner import load_attribute
    from pytest_tapps.core._errors import ConfigurationError
    from pytest_tapps.core._shown import quoted

    found = (
        CATALOGUE if spec is None else load_attribute(spec, option=option, example="my_bugs:BUGS")
    )
    where = "the catalogue" if spec is None else f"{option} {quoted(spec)}"
    try:
        bugs = bugs_of(found)
    except (TypeError, ValueError) as exc:
        message = f"{where}: {exc}"
        raise ConfigurationError(message) from None
    if not bugs:
        message = f"{where}: no bugs in it"
        raise ConfigurationError(message)
    return bugs


def load_suite(paths: Iterable[Path]) -> list[_Case]:
    """Every scenario under ``paths`` (folders: each ``*.tapps.yaml`` inside; outline rows one
    scenario each), keyed ``file::name``. Raises :class:`SuiteError` with every problem."""
    from pytest_tapps.scenario._load import ScenarioFileError, load_file, parse, scenario_paths

    paths = list(paths)
    problems = [f"{path}: no such file or folder" for path in paths if not path.exists()]
    cases: list[_Case] = []
    for path in scenario_paths(p for p in paths if p.exists()):
        try:
            loaded = load_file(path)
        except ScenarioFileError as exc:
            problems.extend(str(problem) for problem in exc.problems)
            continue
        except OSError as exc:
            problems.append(f"{path}: cannot read it ({exc.strerror or exc})")
            continue
        cases.extend(_Case(f"{path.name}::{item.name}", item, parse(item.data)) for item in loaded)
    if problems:
        raise SuiteError(problems)
    return cases


def measure(
    paths: Iterable[Path | str],
    bugs: Any = CATALOGUE,
    *,
    processes: int = 1,
    seed: int = 0,
    basetemp: Path | str | None = None,
) -> Strength:
    """Run the scenarios under ``paths`` on the reference core and against each bug of
    ``bugs`` (see the module's documentation for what counts as caught). ``seed`` is the
    run's seed; each scenario gets its own from it and its key, as under pytest. Each run's
    project is made in a folder of its own under ``basetemp`` (default:
    :func:`scratch_folder`), removed after it."""
    started = time.monotonic()
    chosen = bugs_of(bugs)
    cases = load_suite(Path(p) for p in paths)
    if processes < 1:
        message = f"processes={processes!r}: give 1 or more"
        raise ValueError(message)
    where = scratch_folder() if basetemp is None else os.fspath(basetemp)
    if where is not None and not os.path.isdir(where):  # noqa: PTH112
        message = f"basetemp {where!r}: no such folder; give an existing one"
        raise ValueError(message)
    runs = _run_all(cases, chosen, processes=processes, seed=seed, scratch=where)
    caught_by: dict[str, list[str]] = {bug.name: [] for bug in chosen}
    for run in runs:
        for name in run.caught:
            caught_by[name].append(run.key)

    def left_out(status: str) -> tuple[Excluded, ...]:
        return tuple(Excluded(run.key, run.reason) for run in runs if run.status == status)

    return Strength(
        bugs=tuple(
            BugResult(bug.name, bug.runbook, bug.defect, tuple(sorted(caught_by[bug.name])))
            for bug in chosen
        ),
        scenarios=tuple(run.key for run in runs if run.status == "passed"),
        total=len(cases),
        failed=left_out("failed"),
        unsupported=left_out("unsupported"),
        skipped=left_out("skipped"),
        elapsed=time.monotonic() - started,
    )


#: A memory filesystem holds the measure's projects when it has at least this much room.
MEMORY_ROOM = 1 << 30
#: Where Linux keeps a memory filesystem every user may write to.
MEMORY_FOLDER = "/dev/shm"  # noqa: S108 -- only ever a parent of mkdtemp folders (0700)


def scratch_folder() -> str | None:
    """Where a measure makes its projects by default: the system's temporary folder when
    ``TMPDIR`` names one (None: :mod:`tempfile` reads it); else ``/dev/shm``, a memory
    filesystem, when it is a folder this process may write to with at least 1 GiB free (a
    measure writes and deletes a project tree per scenario and bug: thousands of trees, some
    of 20,000 files, which a disk makes several times slower); else None, the system's
    temporary folder."""
    if os.environ.get("TMPDIR"):
        return None
    try:
        room = os.statvfs(MEMORY_FOLDER)
    except (OSError, AttributeError):  # no such folder; no statvfs (Windows)
        return None
    if room.f_bavail * room.f_frsize < MEMORY_ROOM:
        return None
    if not os.access(MEMORY_FOLDER, os.W_OK | os.X_OK):
        return None
    return MEMORY_FOLDER


# What the forked workers read: set before the pool forks, inherited by the children.
_JOB: tuple[list[_Case], list[Bug], int, str | None] | None = None


def _run_all(
    cases: list[_Case], bugs: list[Bug], *, processes: int, seed: int, scratch: str | None
) -> list[_Run]:
    """Each case measured, in the order of ``cases``: first every case on the core, then
    every (case, bug) run those that passed call for, the cases that took longest on the core
    first, so that one long scenario's runs spread over the processes instead of ending the
    measure on one of them."""
    global _JOB  # noqa: PLW0603 -- handed to the forked workers through their memory
    _JOB = (cases, bugs, seed, scratch)
    try:
        if processes == 1 or not cases:
            cored = [_core_index(index) for index in range(len(cases))]
            pairs = _bug_runs(cases, bugs, cored)
            caught = [_bug_index(pair) for pair in pairs]
        else:
            cored, pairs, caught = _in_pool(cases, bugs, processes)
    finally:
        _JOB = None
    hit_bugs: dict[int, list[int]] = {}
    for (index, bug_index), hit in zip(pairs, caught, strict=True):
        if hit:
            hit_bugs.setdefault(index, []).append(bug_index)
    return [
        run._replace(caught=tuple(bugs[b].name for b in sorted(hit_bugs.get(index, []))))
        for index, (run, _) in enumerate(cored)
    ]


def _in_pool(
    cases: list[_Case], bugs: list[Bug], processes: int
) -> tuple[list[tuple[_Run, float]], list[tuple[int, int]], list[bool]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            cored = list(pool.map(_core_index, range(len(cases))))
            pairs = _bug_runs(cases, bugs, cored)
            return cored, pairs, list(pool.map(_bug_index, pairs))
    except BrokenProcessPool:
        message = (
            "a worker process died while measuring (a bug that ends the process?); "
            "run with processes=1 to see which scenario"
        )
        raise RuntimeError(message) from None


def _bug_runs(
    cases: list[_Case], bugs: list[Bug], cored: list[tuple[_Run, float]]
) -> list[tuple[int, int]]:
    """The (case, bug) runs to make: each bug one of a passing case's actions reaches, the
    cases slowest on the core first."""
    from pytest_tapps.scenario._model import action_name

    pairs = []
    for index, (run, _) in enumerate(cored):
        if run.status != "passed":
            continue
        actions = {action_name(item) for item in cases[index].scenario.when}
        pairs += [(index, b) for b, bug in enumerate(bugs) if any(bug.affects(a) for a in actions)]
    pairs.sort(key=lambda pair: -cored[pair[0]][1])  # stable: file order among equals
    return pairs


def _core_index(index: int) -> tuple[_Run, float]:
    assert _JOB is not None  # noqa: S101 -- set before the pool forks
    cases, _, seed, scratch = _JOB
    started = time.monotonic()
    run = _measure_core(cases[index], seed, scratch)
    return run, time.monotonic() - started


def _bug_index(pair: tuple[int, int]) -> bool:
    assert _JOB is not None  # noqa: S101 -- set before the pool forks
    cases, bugs, seed, scratch = _JOB
    return _caught(cases[pair[0]], bugs[pair[1]], seed, scratch)


def _measure_core(case: _Case, seed: int, scratch: str | None) -> _Run:
    """``case`` on the core: passed, or left out (failed, unsupported, skipped) and why."""
    from pytest_tapps.harness import HarnessError
    from pytest_tapps.scenario._run import ScenarioFailure, ScenarioSkip
    from pytest_tapps.scenario._targets import CoreTarget, Unsupported

    try:
        _run_once(case, CoreTarget(), _seed_of(case, seed), scratch)
    except ScenarioSkip as exc:
        return _Run(case.key, "skipped", _first_line(exc), ())
    except Unsupported as exc:
        return _Run(case.key, "unsupported", _first_line(exc), ())
    except HarnessError as exc:
        return _Run(case.key, "failed", f"harness error: {_first_line(exc)}", ())
    except ScenarioFailure as exc:
        return _Run(case.key, "failed", _evidence(exc), ())
    except (Exception, SystemExit) as exc:
        return _Run(case.key, "failed", f"{type(exc).__name__}: {_first_line(exc)}", ())
    return _Run(case.key, "passed", "", ())


def _caught(case: _Case, bug: Bug, seed: int, scratch: str | None) -> bool:
    """Whether ``case``, which passes on the core, does not pass on ``bug``."""
    from pytest_tapps.harness import HarnessError
    from pytest_tapps.scenario._run import ScenarioSkip
    from pytest_tapps.scenario._targets import Unsupported

    try:
        _run_once(case, bug, _seed_of(case, seed), scratch)
    except (Unsupported, ScenarioSkip, HarnessError):
        return False
    except (Exception, SystemExit):  # ScenarioFailure, or the bug crashed
        return True
    return False


def _seed_of(case: _Case, seed: int) -> int:
    from pytest_tapps._outcomes import seed_for

    return seed_for(seed, case.key)


def _run_once(case: _Case, target: Any, seed: int, scratch: str | None) -> None:
    """One run of ``case`` on ``target`` in a temporary folder of its own (under ``scratch``,
    or the system's temporary folder), removed after."""
    from pytest_tapps.scenario._run import run_scenario

    with tempfile.TemporaryDirectory(
        prefix="tapps-strength-", dir=scratch, ignore_cleanup_errors=True
    ) as tmp:
        run_scenario(
            case.loaded, case.scenario, target=target, root=Path(tmp) / "project", seed=seed
        )


def _evidence(failure: BaseException) -> str:
    """The first mismatch of a scenario failure in one line (``FILE:LINE: field: expected:
    3; actual: 0``), else its first line."""
    lines = str(failure).splitlines()
    block: list[str] = []
    for line in lines[1:]:
        text = " ".join(line.split())
        if not text:
            if block:
                break
            continue
        if not block or not text[0].isdigit():  # source lines read "12 | exit_code: 3"
            block.append(text)
    return "; ".join(block).replace(": ;", ":", 1) if block else _first_line(failure)


def _first_line(exc: BaseException) -> str:
    """The first non-blank line of what ``exc`` says."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def default_processes() -> int:
    """How many processes ``auto`` means: the CPUs this process may run on."""
    if sys.platform == "linux":
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1
