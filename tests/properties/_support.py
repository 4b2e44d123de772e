"""Plain helpers the property suites share (no fixtures: they run inside ``@given``)."""

from __future__ import annotations

from pytest_tapps.core._fsutil import fsync_off

#: Skip fsync in the core's atomic writes for a block (they stay atomic): an executor saves its
#: state twice per attempt, and on a slow disk the fsyncs would dominate a property that runs
#: hundreds of attempts.
without_fsync = fsync_off

__all__ = ["without_fsync"]
