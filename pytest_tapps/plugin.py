"""The pytest plugin, enabled with ``pytest -p tapps`` (or autoloaded through ``pytest11``).

It stays inert until a test asks for it: loading it registers options, ini keys and the marker,
and imports no pydantic, Hypothesis, pyfakefs, freezegun or YAML. Every fixture is a thin wrapper
over a context manager of :mod:`pytest_tapps.harness`, usable without pytest.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_tapps import _outcomes
from pytest_tapps._outcomes import skip_outcome
from pytest_tapps._stash import SEED_KEY

if TYPE_CHECKING:
    from pytest_tapps.harness import Faults, LogCapture, TappsClock, TappsProject

MARKER = (
    "tapps(now=None, fs=None, seed=None, layout=None, skip_unsupported=False): per-test settings "
    "of the tapps fixtures (layout: runbook or tapps-agents-3.7); skip_unsupported skips the "
    "test where a fixture or fault cannot run (e.g. git on the fake filesystem) instead of "
    "failing it as a harness error"
)
HARNESS_ERROR = (
    "HARNESS ERROR (the harness could not set up or inject this; "
    "not a failure of the system under test)"
)
#: The JUnit XML property (``<property name="tapps_outcome" value="harness-error"/>``) of a
#: test that ended in a harness error, for CI to tell it from a failure.
HARNESS_ERROR_PROPERTY = ("tapps_outcome", "harness-error")
_CACHE_KEY = "tapps/seed"
_ROOTS_KEY = pytest.StashKey[list[Path]]()
_COVERAGE_KEY = pytest.StashKey[Any]()
_EXPORT_KEY = pytest.StashKey[str | None]()
#: pytest_tapps.stateful.EXPORT_ENV (not imported here: it imports Hypothesis).
_EXPORT_ENV = "TAPPS_EXPORT_FAILURES"
#: The layouts tapps_project can write (pytest_tapps.core.PROFILES, not imported at load).
LAYOUTS = ("runbook", "tapps-agents-3.7")
#: What a bare --tapps-strength measures with: the shipped catalogue of bugs.
CATALOGUE_SPEC = "pytest_tapps.strength:CATALOGUE"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ``tapps`` option group and its ini keys."""
    group = parser.getgroup("tapps", "pytest-tapps: runbook recovery and retention checks")
    group.addoption(
        "--tapps-fs",
        choices=["real", "fake"],
        default=None,
        help="filesystem for tapps_project: real (tmp_path) or fake (pyfakefs); ini: tapps_fs",
    )
    group.addoption(
        "--tapps-layout",
        choices=LAYOUTS,
        default=None,
        help="on-disk layout tapps_project writes: the runbook's (default) or the real "
        "tapps-agents 3.7 package's; ini: tapps_layout",
    )
    group.addoption(
        "--tapps-seed",
        default=None,
        metavar="INT|last",
        help="seed for jitter and fault choices (last: reuse the previous run's); ini: tapps_seed",
    )
    group.addoption(
        "--tapps-target",
        default=None,
        metavar="core|tapps-cli|tapps-agents|MODULE:ATTR",
        help="the system under test of scenario files (default: core, the reference core; "
        "tapps-agents: the real package, if installed); "
        "ini: tapps_target",
    )
    group.addoption(
        "--tapps-scenarios",
        action="append",
        default=[],
        metavar="PATH",
        help="also collect every *.yaml under PATH as scenario files (repeatable); "
        "ini: tapps_scenarios",
    )
    group.addoption(
        "--tapps-traceback",
        action="store_true",
        help="show Python tracebacks of failing scenarios (normally only the scenario's picture)",
    )
    group.addoption(
        "--tapps-coverage",
        action="store_true",
        help="after the run, print the runbook procedures against the scenarios that ran, "
        "with their outcome",
    )
    group.addoption(
        "--tapps-coverage-fail-under",
        type=float,
        default=None,
        metavar="PCT",
        help="fail the run when fewer than PCT%% of the runbook's procedures have all their "
        "scenarios passing (implies --tapps-coverage)",
    )
    group.addoption(
        "--tapps-strength",
        nargs="?",
        const=CATALOGUE_SPEC,
        default=None,
        metavar="MODULE:ATTR",
        help="after the run, measure the scenario files that ran against a catalogue of runbook "
        "bugs (default: the shipped one; or a Bug subclass, instance or iterable of them) and "
        "print which bugs they catch; write --tapps-strength=MODULE:ATTR, after the paths",
    )
    group.addoption(
        "--tapps-strength-fail-under",
        type=float,
        default=None,
        metavar="PCT",
        help="fail the run when the scenarios catch fewer than PCT%% of the bugs "
        "(implies --tapps-strength)",
    )
    group.addoption(
        "--tapps-export-failures",
        default=None,
        metavar="DIR",
        help="write the shrunk steps of a failing pytest_tapps.stateful machine as a "
        ".tapps.yaml scenario into DIR",
    )
    parser.addini("tapps_fs", "default filesystem for tapps_project: real or fake", default="real")
    parser.addini(
        "tapps_layout", "default layout for tapps_project: runbook or tapps-agents-3.7", default=""
    )
    parser.addini("tapps_target", "system under test of scenario files", default="")
    parser.addini(
        "tapps_scenarios", "folders whose *.yaml files are scenario files", type="paths", default=[]
    )
    parser.addini("tapps_seed", "default seed (an integer), else a random one per run", default="")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, check the ini layout and settle the run's seed."""
    config.addinivalue_line("markers", MARKER)
    layout = config.getini("tapps_layout")
    if layout and layout not in LAYOUTS:
        message = f"ini tapps_layout = {layout!r}: use one of {', '.join(LAYOUTS)}"
        raise pytest.UsageError(message)
    config.stash[SEED_KEY] = _resolve_seed(config)
    export = config.getoption("--tapps-export-failures")
    if export:
        config.stash[_EXPORT_KEY] = os.environ.get(_EXPORT_ENV)
        os.environ[_EXPORT_ENV] = str(Path(export).resolve())
    threshold = config.getoption("--tapps-coverage-fail-under")
    if config.getoption("--tapps-coverage") or threshold is not None:
        config.pluginmanager.register(_CoverageRecorder(config), "tapps-coverage")
    strength = config.getoption("--tapps-strength")
    strength_under = config.getoption("--tapps-strength-fail-under")
    if (strength or strength_under is not None) and not hasattr(config, "workerinput"):
        from pytest_tapps.strength._session import StrengthRecorder

        try:
            recorder = StrengthRecorder(
                config, strength or CATALOGUE_SPEC, strength_under, seed=config.stash[SEED_KEY]
            )
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        config.pluginmanager.register(recorder, "tapps-strength")
    if config.getoption("--tapps-target") or config.getini("tapps_target"):
        from pytest_tapps.scenario._collect import resolve_target

        resolve_target(config)  # a bad target is a usage error before anything runs


def _resolve_seed(config: pytest.Config) -> int:
    raw = config.getoption("--tapps-seed") or config.getini("tapps_seed") or ""
    cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    if raw == "last":
        last = cache.get(_CACHE_KEY, None) if cache is not None else None
        if last is None:
            message = "--tapps-seed=last: no previous seed is cached; run once without it first"
            raise pytest.UsageError(message)
        return int(last)
    if raw:
        try:
            return int(raw)
        except ValueError:
            message = f"--tapps-seed={raw!r}: expected an integer or 'last'"
            raise pytest.UsageError(message) from None
    return random.Random().getrandbits(32)  # noqa: S311 -- a test seed, not a secret


def pytest_report_header(config: pytest.Config) -> str:
    """Print the seed so any run can be replayed."""
    seed = config.stash[SEED_KEY]
    cache = getattr(config, "cache", None)
    if cache is not None:
        cache.set(_CACHE_KEY, seed)
    return f"Using --tapps-seed={seed}"


def _misuse(request: pytest.FixtureRequest, problem: str) -> Exception:
    """A test that asks the fixtures for what cannot be: a HarnessError naming the test, which
    is reported as its message alone (no traceback)."""
    from pytest_tapps.harness._project import HarnessError

    return HarnessError(f"{request.node.nodeid}: {problem}")


def _marker(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("tapps")
    if marker is None:
        return {}
    if marker.args:
        message = (
            "@pytest.mark.tapps takes keywords only (now=, fs=, seed=, layout=, skip_unsupported=)"
        )
        raise _misuse(request, message)
    unknown = sorted(set(marker.kwargs) - {"now", "fs", "seed", "layout", "skip_unsupported"})
    if unknown:
        message = f"@pytest.mark.tapps got unknown keyword {unknown[0]!r}"
        raise _misuse(request, message)
    return dict(marker.kwargs)


@pytest.fixture(name="tapps_seed")
def tapps_seed_fixture(request: pytest.FixtureRequest) -> int:
    """This test's seed: derived from the run's seed and the test id (or the marker's seed)."""
    given = _marker(request).get("seed")
    if given is not None:
        return int(given)
    return seed_for(request.config, request.node.nodeid)


def seed_for(config: pytest.Config, nodeid: str) -> int:
    """A test's seed: the run's seed and the test id, hashed (stable across xdist workers)."""
    return _outcomes.seed_for(config.stash[SEED_KEY], nodeid)


def _skip_reason(report: pytest.TestReport) -> str:
    return str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""


@pytest.fixture(name="tapps_clock")
def tapps_clock_fixture(request: pytest.FixtureRequest) -> Iterator[TappsClock]:
    """One virtual clock for the test: wall, monotonic, sleeps and the core's clock together."""
    from pytest_tapps.harness import DEFAULT_NOW, HarnessError, virtual_time
    from pytest_tapps.harness._time import to_epoch

    now = _marker(request).get("now", DEFAULT_NOW)
    try:
        start = to_epoch(now)  # a time without a zone, or no time at all, is refused
    except HarnessError as exc:
        message = f"@pytest.mark.tapps: {exc}"
        raise _misuse(request, message) from None
    with virtual_time(start) as clock:
        yield clock


@pytest.fixture(name="tapps_project")
def tapps_project_fixture(
    request: pytest.FixtureRequest,
    tapps_clock: TappsClock,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TappsProject]:
    """A project root with a ``.tapps-agents/`` tree to fabricate, on the real or fake fs."""
    from pytest_tapps.harness import project

    fs = _marker(request).get("fs") or request.config.getoption("--tapps-fs")
    fs = fs or request.config.getini("tapps_fs") or "real"
    layout = _marker(request).get("layout") or request.config.getoption("--tapps-layout")
    layout = layout or request.config.getini("tapps_layout") or "runbook"
    real_folders = [name for name in ("tmpdir", "tmp_path") if name in request.fixturenames]
    if fs == "fake" and real_folders:
        message = (
            f"{real_folders[0]} is a folder on the real disk, which the fake filesystem "
            "(fs='fake') hides: use tapps_project.root, a folder on the fake filesystem, "
            f"or mark the test @pytest.mark.tapps(fs='real') to keep {real_folders[0]}"
        )
        raise _misuse(request, message)
    root = tmp_path_factory.mktemp("tapps-project") if fs == "real" else None
    with project(root, fs=fs, clock=tapps_clock, layout=layout) as built:
        yield built


@pytest.fixture(name="tapps_faults")
def tapps_faults_fixture(tapps_project: TappsProject) -> Iterator[Faults]:
    """The fault catalogue against this test's project; helper processes end with the test."""
    from pytest_tapps.harness import Faults

    faults = Faults(tapps_project)
    try:
        yield faults
    finally:
        faults.close()


@pytest.fixture(name="tapps_logs")
def tapps_logs_fixture() -> Iterator[LogCapture]:
    """Structured records logged through WorkflowLogger during the test."""
    from pytest_tapps.harness import capture_logs

    with capture_logs() as captured:
        yield captured


def pytest_unconfigure(config: pytest.Config) -> None:
    """Put TAPPS_EXPORT_FAILURES back as it was before the run."""
    if _EXPORT_KEY not in config.stash:
        return
    before = config.stash[_EXPORT_KEY]
    if before is None:
        os.environ.pop(_EXPORT_ENV, None)
    else:
        os.environ[_EXPORT_ENV] = before


def _scenario_roots(config: pytest.Config) -> list[Path]:
    roots: list[Path] | None = config.stash.get(_ROOTS_KEY, None)
    if roots is None:
        named = [Path(p) for p in config.getoption("--tapps-scenarios")]
        roots = [p.resolve() for p in (*named, *config.getini("tapps_scenarios"))]
        config.stash[_ROOTS_KEY] = roots
    return roots


def _is_scenario_file(path: Path, config: pytest.Config) -> bool:
    if path.name.endswith(".tapps.yaml"):
        return True
    if path.suffix not in (".yaml", ".yml"):
        return False
    roots = _scenario_roots(config)
    if not roots:
        return False
    resolved = path.resolve()
    for root in roots:
        if resolved.is_relative_to(root):
            inner = resolved.relative_to(root).parts
            return not any(part.startswith("_") for part in inner)
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Scenario files: ``*.tapps.yaml`` anywhere, or any YAML under ``--tapps-scenarios``
    (files and folders whose names start with ``_`` are fragments for ``include:``)."""
    if not _is_scenario_file(file_path, parent.config):
        return None
    from pytest_tapps.scenario._collect import ScenarioFile

    return ScenarioFile.from_parent(parent, path=file_path)


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    """Scenarios a target cannot perform are their own outcome: UNSUPPORTED, not a skip."""
    if report.skipped and skip_outcome(_skip_reason(report)) == "unsupported":
        return "unsupported", "U", "UNSUPPORTED"
    return None


class _CoverageRecorder:
    """Registered with --tapps-coverage: each scenario's outcome (on the xdist controller
    too), the runbook coverage at the end, and the --tapps-coverage-fail-under verdict."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = report.nodeid.partition("::")[0]
        if not path.endswith((".yaml", ".yml")):
            return
        before = self.outcomes.setdefault(report.nodeid, "passed")
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped and before == "passed":
            self.outcomes[report.nodeid] = skip_outcome(_skip_reason(report))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.outcomes:
            return
        from pytest_tapps.scenario._coverage import run_coverage

        report = run_coverage(self.config.rootpath, self.outcomes)
        self.config.stash[_COVERAGE_KEY] = report
        threshold = self.config.getoption("--tapps-coverage-fail-under")
        if threshold is not None and report.percent < threshold and exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the scenarios the target could not perform, and the runbook coverage if asked."""
    config = terminalreporter.config
    coverage = config.stash.get(_COVERAGE_KEY, None)
    if coverage is not None:
        from pytest_tapps.scenario._coverage import render

        terminalreporter.section("runbook coverage", sep="-")
        for line in render(coverage).splitlines():
            terminalreporter.line(line)
        threshold = config.getoption("--tapps-coverage-fail-under")
        if threshold is not None and coverage.percent < threshold:
            terminalreporter.line(
                f"FAIL: runbook coverage {coverage.percent:.1f}% is below "
                f"--tapps-coverage-fail-under {threshold:g}%",
                red=True,
            )
    strength = config.pluginmanager.get_plugin("tapps-strength")
    if strength is not None:
        strength.summary(terminalreporter)
    reports = terminalreporter.stats.get("unsupported", [])
    if not reports:
        return
    terminalreporter.section("scenarios not supported by the target", sep="-")
    for report in reports:
        reason = _skip_reason(report).removeprefix("Skipped: ")
        terminalreporter.line(f"UNSUPPORTED {report.nodeid} - {reason}")


def _is_harness_error(error: BaseException | None) -> bool:
    if error is None or not type(error).__module__.startswith("pytest_tapps."):
        return False
    from pytest_tapps.harness._project import HarnessError

    return isinstance(error, HarnessError)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Skip, instead of fail, a test marked ``skip_unsupported`` when the harness cannot run it."""
    try:
        return (yield)
    except Exception as exc:
        marker = item.get_closest_marker("tapps")
        if _is_harness_error(exc) and marker is not None and marker.kwargs.get("skip_unsupported"):
            pytest.skip(f"not supported here: {exc}")
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Tell harness errors apart from failures; on a failing seeded test, say how to replay."""
    report = yield
    if report.failed and call.excinfo is not None and _is_harness_error(call.excinfo.value):
        report.longrepr = f"{HARNESS_ERROR}:\n{call.excinfo.value}"
        # On the item: JUnit XML writes the properties the item has at its teardown.
        item.user_properties.append(HARNESS_ERROR_PROPERTY)
        report.user_properties.append(HARNESS_ERROR_PROPERTY)
    if report.failed and "tapps_seed" in getattr(item, "fixturenames", ()):
        seed = item.config.stash[SEED_KEY]
        report.sections.append(
            ("tapps", f"To reproduce: pytest -p tapps --tapps-seed={seed} {item.nodeid}")
        )
    return report
