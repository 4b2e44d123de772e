"""The ``config.stash`` keys the pytest plugin writes and the scenario collector reads: below
both, so the scenario layer reads them without importing ``pytest_tapps.plugin``."""

from __future__ import annotations

import pytest

#: The run's seed (``--tapps-seed``, the ini's ``tapps_seed``, or a random one).
SEED_KEY = pytest.StashKey[int]()
