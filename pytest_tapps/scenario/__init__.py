"""Scenario files: the QA-written ``.tapps.yaml`` format, its loader, runner and targets.

``pytest -p tapps scenarios/`` collects the files; :func:`load_file` and :func:`run_scenario`
do the same without pytest. A :class:`Target` is how the actions reach the system under test:
:class:`CoreTarget` (the reference core, default) or :class:`CommandTarget` (any command line).
"""

from pytest_tapps.scenario._command import CommandTarget, fault_runner, tapps_cli
from pytest_tapps.scenario._coverage import Coverage, coverage, read_junit
from pytest_tapps.scenario._export import scenario_text, write_scenario
from pytest_tapps.scenario._load import Loaded, ScenarioFileError, load_file, parse
from pytest_tapps.scenario._model import Scenario
from pytest_tapps.scenario._run import Result, ScenarioFailure, ScenarioSkip, run_scenario
from pytest_tapps.scenario._runbook import Runbook, runbook
from pytest_tapps.scenario._targets import (
    CoreTarget,
    Outcome,
    Session,
    Target,
    Unsupported,
    load_target,
)

__all__ = [
    "CommandTarget",
    "CoreTarget",
    "Coverage",
    "Loaded",
    "Outcome",
    "Result",
    "Runbook",
    "Scenario",
    "ScenarioFailure",
    "ScenarioFileError",
    "ScenarioSkip",
    "Session",
    "Target",
    "Unsupported",
    "coverage",
    "fault_runner",
    "load_file",
    "load_target",
    "parse",
    "read_junit",
    "run_scenario",
    "runbook",
    "scenario_text",
    "tapps_cli",
    "write_scenario",
]
