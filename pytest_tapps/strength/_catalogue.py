"""The catalogue of realistic runbook bugs that ships with the package: each a :class:`Bug`
with one named defect and the runbook procedure it violates (docs/strength.md lists them)."""

from __future__ import annotations

from pytest_tapps.strength._bug import Bug
from pytest_tapps.strength._bugs_retention import RETENTION_BUGS
from pytest_tapps.strength._bugs_workflow import WORKFLOW_BUGS

#: Every bug of the catalogue, retention and cleanup first, then workflows and recovery.
CATALOGUE: tuple[type[Bug], ...] = (*RETENTION_BUGS, *WORKFLOW_BUGS)
