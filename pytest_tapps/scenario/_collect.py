"""Scenario files as pytest tests: a :class:`ScenarioFile` collector and a :class:`ScenarioItem`
per scenario, a real ``pytest.Function`` (fixtures, ``-k``, ``--lf``, marks and xdist work
through pytest's public API). Imported by the plugin only when a scenario file is collected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_tapps._outcomes import UNSUPPORTED, seed_for
from pytest_tapps._stash import SEED_KEY
from pytest_tapps.scenario._load import Loaded, ScenarioFileError, load_file, parse
from pytest_tapps.scenario._run import ScenarioFailure, ScenarioSkip, run_scenario
from pytest_tapps.scenario._targets import Target, Unsupported

if TYPE_CHECKING:
    from pytest_tapps.scenario._model import Scenario

TARGET_KEY = pytest.StashKey["Target"]()


def resolve_target(config: pytest.Config) -> Target:
    """The run's target from ``--tapps-target`` / ini ``tapps_target`` (once per run)."""
    found = config.stash.get(TARGET_KEY, None)
    if found is None:
        from pytest_tapps.scenario._targets import load_target

        spec = config.getoption("--tapps-target") or config.getini("tapps_target") or "core"
        try:
            found = load_target(spec)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        config.stash[TARGET_KEY] = found
    return found


class ScenarioFile(pytest.File):
    """A ``.tapps.yaml`` file (or a YAML file under ``--tapps-scenarios``)."""

    def collect(self) -> Iterator[pytest.Item]:
        for loaded in load_file(self.path):
            scenario = parse(loaded.data)
            item = ScenarioItem.from_parent(
                self, name=scenario.name, callobj=_runner(loaded, scenario)
            )
            item.loaded = loaded
            for mark in scenario.marks:
                item.add_marker(mark)
            yield item

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | Any:
        if isinstance(excinfo.value, ScenarioFileError):
            count = len(excinfo.value.problems)
            return f"INVALID SCENARIO FILE ({count} problem(s)):\n{excinfo.value}"
        return super().repr_failure(excinfo)


def _runner(loaded: Loaded, scenario: Scenario) -> Any:
    def run_scenario_test(request: pytest.FixtureRequest, tmp_path: Path) -> None:
        config = request.config
        target = resolve_target(config)
        fs = config.getoption("--tapps-fs") or None
        seed = seed_for(config.stash[SEED_KEY], request.node.nodeid)
        try:
            run_scenario(
                loaded, scenario, target=target, root=tmp_path / "project", fs=fs, seed=seed
            )
        except ScenarioSkip as exc:
            pytest.skip(str(exc))
        except Unsupported as exc:
            pytest.skip(f"{UNSUPPORTED} ({target.name}): {exc}")

    return run_scenario_test


class ScenarioItem(pytest.Function):
    """One scenario; its location is the scenario's line in the file."""

    loaded: Loaded

    @property
    def id(self) -> Any:
        """The node id as pytest reads one back from its cache (pytest 9's structured ids):
        ``NAME[ID]``, a row of an outline, has ``ID`` as its parameters, as a parametrized test
        has. pytest builds an unparametrized Function's id from its whole name, which ``--lf``
        and ``--nf`` would then never match with the id they read back."""
        built = super().id
        return type(built).parse(str(built))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.loaded.line - 1, f"scenario: {self.name}"

    def repr_failure(  # type: ignore[override]  # pytest.Function drops `style`
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str | Any:
        if isinstance(excinfo.value, ScenarioFailure) and not self.config.getoption(
            "--tapps-traceback"
        ):
            return f"SCENARIO FAILED (the system under test misbehaved)\n{excinfo.value}"
        return super().repr_failure(excinfo)
