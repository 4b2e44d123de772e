"""Scenario files: the QA-written ``.tapps.yaml`` format, its loader, runner and targets.

``pytest -p tapps scenarios/`` collects the files; :func:`load_file` and :func:`run_scenario`
do the same without pytest. A :class:`Target` is how the actions reach the system under test:
:class:`CoreTarget` (the reference core, default) or :class:`CommandTarget` (any command line,
with a template per action, :data:`TAPPS_COMMANDS` for this package's ``tapps``, and the
parsers of :data:`TAPPS_PARSERS`). Each action method gets its spec (:class:`RunAction`,
:class:`CleanupAction`...) and returns an :class:`Outcome` whose data is :class:`PlanData`,
:class:`StatusData`, :data:`CacheProblems` or :data:`WorktreeRows` (docs/ci.md).
"""

from pytest_tapps.scenario._command import (
    FAULTS_ENV,
    TAPPS_COMMANDS,
    TAPPS_PARSERS,
    CommandTarget,
    Parser,
    fault_runner,
    parse_cleanup,
    parse_recover,
    parse_status,
    parse_verify,
    parse_worktrees,
    tapps_cli,
)
from pytest_tapps.scenario._coverage import Coverage, coverage, read_junit
from pytest_tapps.scenario._export import scenario_text, write_scenario
from pytest_tapps.scenario._load import Loaded, ScenarioFileError, load_file, parse
from pytest_tapps.scenario._model import (
    CleanupAction,
    DlqRetryAction,
    ForceCleanupAction,
    InvalidateAction,
    LogAction,
    NoArguments,
    ResetAction,
    ResumeAction,
    RunAction,
    Scenario,
    StatusAction,
    StepAction,
    WarmAction,
    WorktreeRemoveAction,
)
from pytest_tapps.scenario._run import Result, ScenarioFailure, ScenarioSkip, run_scenario
from pytest_tapps.scenario._runbook import Runbook, runbook
from pytest_tapps.scenario._targets import (
    CacheProblems,
    CoreTarget,
    Outcome,
    PlanData,
    Session,
    StatusData,
    Target,
    Unsupported,
    WorktreeRow,
    WorktreeRows,
    load_target,
)

__all__ = [
    "FAULTS_ENV",
    "TAPPS_COMMANDS",
    "TAPPS_PARSERS",
    "CacheProblems",
    "CleanupAction",
    "CommandTarget",
    "CoreTarget",
    "Coverage",
    "DlqRetryAction",
    "ForceCleanupAction",
    "InvalidateAction",
    "Loaded",
    "LogAction",
    "NoArguments",
    "Outcome",
    "Parser",
    "PlanData",
    "ResetAction",
    "Result",
    "ResumeAction",
    "RunAction",
    "Runbook",
    "Scenario",
    "ScenarioFailure",
    "ScenarioFileError",
    "ScenarioSkip",
    "Session",
    "StatusAction",
    "StatusData",
    "StepAction",
    "Target",
    "Unsupported",
    "WarmAction",
    "WorktreeRemoveAction",
    "WorktreeRow",
    "WorktreeRows",
    "coverage",
    "fault_runner",
    "load_file",
    "load_target",
    "parse",
    "parse_cleanup",
    "parse_recover",
    "parse_status",
    "parse_verify",
    "parse_worktrees",
    "read_junit",
    "run_scenario",
    "runbook",
    "scenario_text",
    "tapps_cli",
    "write_scenario",
]
