"""The exceptions the core raises: each one carries a message a user can act on."""

from __future__ import annotations

from pathlib import Path


class TappsError(Exception):
    """Base class of every error the core raises on purpose.

    ``exit_code`` is what the command line exits with when this error ends a command:
    2 for bad usage or input, 1 for an operation that found problems or failed.
    """

    exit_code = 1


class UnsafeNameError(TappsError, ValueError):
    """A user-supplied name would leave its folder if it became a path."""

    exit_code = 2


class StateFileError(TappsError):
    """A workflow state file cannot be read: missing, corrupt, truncated or invalid.

    The file is never modified by the code that raises this.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class WorkflowNotFoundError(TappsError):
    """No state exists for the requested workflow id."""

    exit_code = 2


class LockHeldError(TappsError):
    """The workflow lock is held by a live holder; the operation must not proceed."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        import shlex

        command = shlex.join(["tapps", "workflow", "force-cleanup", "--workflow-id", path.stem])
        message = (
            f"{path}: workflow is locked by {holder}; wait for it to finish, or if that process is "
            f"gone, run '{command}' to remove a stale lock"
        )
        super().__init__(message)


class ConfigurationError(TappsError, ValueError):
    """A configuration value is missing or invalid."""

    exit_code = 2
