"""The reference core: the runbook's recovery and retention logic.

It imports no test library (pytest, Hypothesis, pyfakefs, freezegun) and reads time only through a
:class:`Clock`, so it serves as an operations tool (the ``tapps`` command) and as the default
system under test of the pytest plugin alike.
"""

from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock, SystemClock, VirtualClock, utcnow
from pytest_tapps.core._envelope import (
    ADVICE,
    DEFAULT_CODES,
    NON_RECOVERABLE_RECOVERY,
    Advice,
    Category,
    ErrorEnvelope,
    StepError,
    advice_for,
    categorize,
    classify,
)
from pytest_tapps.core._errors import (
    ConfigurationError,
    LockHeldError,
    StateFileError,
    TappsError,
    UnsafeNameError,
    WorkflowNotFoundError,
)
from pytest_tapps.core._fsutil import create_exclusive, write_atomic
from pytest_tapps.core._layout import (
    PROFILES,
    RUNBOOK,
    TAPPS_AGENTS_3_7,
    Layout,
    LayoutProfile,
    safe_name,
)
from pytest_tapps.core._locks import (
    DEFAULT_TTL_SECONDS,
    LockInspection,
    LockLostError,
    LockRecord,
    WorkflowLock,
    break_stale_lock,
    inspect_lock,
    is_stale,
    list_locks,
    pid_alive,
)
from pytest_tapps.core._logcheck import LogProblem, grep_file, lint_file, parse_fields
from pytest_tapps.core._logging import (
    CORRELATION_FIELDS,
    STRUCTURED_LOGGING_ENV,
    JsonFormatter,
    KeyValueFormatter,
    WorkflowLogger,
    configure_logging,
    structured_logging_enabled,
)
from pytest_tapps.core._state import (
    DONE_STATUSES,
    StepExecution,
    StepStatus,
    WorkflowState,
    WorkflowStatus,
)
from pytest_tapps.core._store import StateStore
from pytest_tapps.core._timeutil import parse_iso, to_iso

__all__ = [
    "ADVICE",
    "CORRELATION_FIELDS",
    "DEFAULT_CODES",
    "DEFAULT_TTL_SECONDS",
    "DONE_STATUSES",
    "NON_RECOVERABLE_RECOVERY",
    "PROFILES",
    "RUNBOOK",
    "STRUCTURED_LOGGING_ENV",
    "SYSTEM_CLOCK",
    "TAPPS_AGENTS_3_7",
    "Advice",
    "Category",
    "Clock",
    "ConfigurationError",
    "ErrorEnvelope",
    "JsonFormatter",
    "KeyValueFormatter",
    "Layout",
    "LayoutProfile",
    "LockHeldError",
    "LockInspection",
    "LockLostError",
    "LockRecord",
    "LogProblem",
    "StateFileError",
    "StateStore",
    "StepError",
    "StepExecution",
    "StepStatus",
    "SystemClock",
    "TappsError",
    "UnsafeNameError",
    "VirtualClock",
    "WorkflowLock",
    "WorkflowLogger",
    "WorkflowNotFoundError",
    "WorkflowState",
    "WorkflowStatus",
    "advice_for",
    "break_stale_lock",
    "categorize",
    "classify",
    "configure_logging",
    "create_exclusive",
    "grep_file",
    "inspect_lock",
    "is_stale",
    "lint_file",
    "list_locks",
    "parse_fields",
    "parse_iso",
    "pid_alive",
    "safe_name",
    "structured_logging_enabled",
    "to_iso",
    "utcnow",
    "write_atomic",
]
