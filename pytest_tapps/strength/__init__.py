"""How strong a scenario suite is: a catalogue of realistic runbook bugs, each a faulty
implementation over the reference core (:class:`Bug`), and the run that says which scenarios
catch each one (``tapps scenario strength``; docs/strength.md)."""

from pytest_tapps.strength._bug import Bug, Patch, everywhere
from pytest_tapps.strength._catalogue import CATALOGUE
from pytest_tapps.strength._engine import (
    BugResult,
    Excluded,
    Strength,
    SuiteError,
    bugs_of,
    load_suite,
    measure,
)

__all__ = [
    "CATALOGUE",
    "Bug",
    "BugResult",
    "Excluded",
    "Patch",
    "Strength",
    "SuiteError",
    "bugs_of",
    "everywhere",
    "load_suite",
    "measure",
]
