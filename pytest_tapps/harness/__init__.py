"""The harness: fabricated projects, one virtual clock, and (to come) the fault catalogue.

Every pytest fixture of the plugin is a thin wrapper over a context manager here, usable without
pytest (and inside Hypothesis tests, where function-scoped fixtures do not fit).
"""

from pytest_tapps.harness._assertions import (
    assert_attempts,
    assert_dlq,
    assert_tree_change,
    delays_of,
    timeline,
)
from pytest_tapps.harness._faults import (
    ExecutorKilled,
    FailedResult,
    FaultError,
    Faults,
    FaultUnavailable,
    Flaky,
    Hang,
    KillExecutor,
    Slow,
    StepFailure,
    StepTimeout,
    hold_lock,
    spawn_lock_holder,
)
from pytest_tapps.harness._logs import LogCapture, capture_logs
from pytest_tapps.harness._project import (
    HarnessError,
    NotInLayout,
    TappsProject,
    WorkflowBuilder,
    age_seconds,
    diff_snapshots,
    layout_profile,
    project,
)
from pytest_tapps.harness._time import DEFAULT_NOW, TappsClock, virtual_time

__all__ = [
    "DEFAULT_NOW",
    "ExecutorKilled",
    "FailedResult",
    "FaultError",
    "FaultUnavailable",
    "Faults",
    "Flaky",
    "Hang",
    "HarnessError",
    "KillExecutor",
    "LogCapture",
    "NotInLayout",
    "Slow",
    "StepFailure",
    "StepTimeout",
    "TappsClock",
    "TappsProject",
    "WorkflowBuilder",
    "age_seconds",
    "assert_attempts",
    "assert_dlq",
    "assert_tree_change",
    "capture_logs",
    "delays_of",
    "diff_snapshots",
    "hold_lock",
    "layout_profile",
    "project",
    "spawn_lock_holder",
    "timeline",
    "virtual_time",
]
