"""What the pytest plugin and the scenario layer agree on: the reason a scenario its target
cannot perform is skipped with, how a skip reason reads as an outcome, and a test's seed.

Standard library only, so that the plugin can import it at load and the ``tapps`` command
line (``tapps scenario conformance``) without pytest; the scenario layer imports it instead of
``pytest_tapps.plugin``, which imports the scenario layer (docs/architecture.md).
"""

from __future__ import annotations

import hashlib

#: The skip reason of a scenario whose target cannot perform one of its actions.
UNSUPPORTED = "not supported by this target"


def skip_outcome(reason: str) -> str:
    """``unsupported`` for a scenario its target cannot perform, else ``skipped``."""
    return "unsupported" if UNSUPPORTED in reason else "skipped"


def seed_for(run_seed: int, nodeid: str) -> int:
    """A test's seed: the run's seed and the test id, hashed (stable across xdist workers)."""
    digest = hashlib.sha256(f"{run_seed}:{nodeid}".encode()).digest()
    return int.from_bytes(digest[:4], "big")
