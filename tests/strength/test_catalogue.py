"""The bug catalogue: each bug is a real defect the bundled suite catches.

Each bug runs the one bundled scenario found to catch it (:mod:`tests.strength.catching`): the
scenario fails on the bug and passes on the reference core (the whole suite against every bug
is ``tapps scenario strength``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_tapps.scenario import CoreTarget, ScenarioFailure, load_file, parse, run_scenario
from pytest_tapps.scenario._model import ACTIONS
from pytest_tapps.scenario._runbook import runbook
from pytest_tapps.strength import CATALOGUE, Bug
from pytest_tapps.strength._bugs_retention import RETENTION_BUGS
from pytest_tapps.strength._bugs_workflow import WORKFLOW_BUGS
from tests.strength.catching import CATCHING

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _run(bug_name: str, target: CoreTarget, root: Path) -> None:
    """Run the scenario that catches ``bug_name`` against ``target`` in ``root``."""
    relative, name = CATCHING[bug_name]
    (loaded,) = [item for item in load_file(SCENARIOS / relative) if item.name == name]
    run_scenario(loaded, parse(loaded.data), target=target, root=root)


@pytest.mark.parametrize("bug", CATALOGUE, ids=lambda bug: bug.name)
def test_bug_is_caught(bug: type[Bug], tmp_path: Path) -> None:
    """The bundled scenario named for the bug fails on it and passes on the reference core."""
    _run(bug.name, CoreTarget(), tmp_path / "core" / "project")
    with pytest.raises(ScenarioFailure, match=f"failed against {bug.name}"):
        _run(bug.name, bug(), tmp_path / "bug" / "project")


def test_every_bug_has_a_catching_scenario() -> None:
    """Each bug names one scenario that catches it, and no scenario is for no bug."""
    assert sorted(CATCHING) == sorted(bug.name for bug in CATALOGUE)


def test_names_are_unique_and_the_catalogue_is_whole() -> None:
    """No two bugs share a name; the catalogue is both halves, at least 25 bugs."""
    names = [bug.name for bug in CATALOGUE]
    assert len(names) == len(set(names))
    assert set(CATALOGUE) == {*RETENTION_BUGS, *WORKFLOW_BUGS}
    assert len(names) >= 25


@pytest.mark.parametrize("bug", CATALOGUE, ids=lambda bug: bug.name)
def test_bug_is_described(bug: type[Bug]) -> None:
    """Each bug names a runbook procedure, real scenario actions and a one-sentence defect."""
    assert runbook().check(bug.runbook) == bug.runbook
    assert bug.actions
    assert bug.actions <= set(ACTIONS)
    assert bug.defect
    assert ". " not in bug.defect
    assert not bug.defect.endswith(".")


@pytest.mark.parametrize("bug", CATALOGUE, ids=lambda bug: bug.name)
def test_defect_is_in_place_only_while_applied(bug: type[Bug]) -> None:
    """Each name a bug patches holds the faulty code while its defect is in place and the
    core's own afterwards."""
    patched = [(patch.owner, patch.attribute) for patch in bug().patches()]
    assert patched
    before = [vars(owner)[attribute] for owner, attribute in patched]
    with bug().applied():
        during = [vars(owner)[attribute] for owner, attribute in patched]
    after = [vars(owner)[attribute] for owner, attribute in patched]
    assert all(faulty is not own for faulty, own in zip(during, before, strict=True))
    assert all(now is own for now, own in zip(after, before, strict=True))


def test_the_docs_list_the_catalogue_as_it_is() -> None:
    """docs/strength.md carries the catalogue's table as catalogue_markdown() writes it from
    CATALOGUE, and says how many bugs there are (regenerate it when a bug is added)."""
    from pytest_tapps.strength._report import catalogue_markdown

    docs = (Path(__file__).resolve().parents[2] / "docs" / "strength.md").read_text()
    assert catalogue_markdown(CATALOGUE) in docs
    assert f"The shipped catalogue, {len(CATALOGUE)} bugs" in docs


def test_no_defect_outlives_its_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """The core binds its public names on first use (an alias too: remove_worktree is
    _worktrees.remove): one first used while a defect is in place is still the core's own
    after the block, for every bug of the catalogue."""
    from pytest_tapps import core

    own = {name: getattr(core, name) for name in core.__all__}
    for bug in CATALOGUE:
        for name in core.__all__:
            monkeypatch.delitem(vars(core), name, raising=False)  # not used yet
        with bug().applied():
            for name in core.__all__:
                getattr(core, name)
        leaked = [name for name in core.__all__ if getattr(core, name) is not own[name]]
        assert leaked == [], bug.name
