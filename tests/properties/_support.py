"""Plain helpers the property suites share (no fixtures: they run inside ``@given``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from pytest_tapps.core._fsutil import FSYNC_ENV


@contextlib.contextmanager
def without_fsync() -> Iterator[None]:
    """Skip fsync in the core's atomic writes for the block (they stay atomic), then restore
    the environment: an executor saves its state twice per attempt, and on a slow disk the
    fsyncs would dominate a property that runs hundreds of attempts."""
    before = os.environ.get(FSYNC_ENV)
    os.environ[FSYNC_ENV] = "0"
    try:
        yield
    finally:
        if before is None:
            del os.environ[FSYNC_ENV]
        else:
            os.environ[FSYNC_ENV] = before
