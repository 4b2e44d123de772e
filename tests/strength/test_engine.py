"""Tests for pytest_tapps.strength._engine: which scenarios catch which bugs."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pytest_tapps.harness import HarnessError
from pytest_tapps.scenario import Session
from pytest_tapps.strength import Bug, Strength, SuiteError, _engine, measure
from pytest_tapps.strength._engine import bugs_of, scratch_folder
from tests.strength.sample import (
    BUGS,
    CannotClean,
    CleanupCrashes,
    DryRunDeletes,
    WorktreeListWrong,
    write_suite,
)

DRY = "dry.tapps.yaml::a dry run changes nothing"
REAL = "real.tapps.yaml::a cleanup removes the expired log"
BROKEN = "broken.tapps.yaml::a dry run that expects the wrong exit code"
ELSEWHERE = "elsewhere.tapps.yaml::a cleanup on another kind of machine"


@pytest.fixture(name="measured", scope="module")
def measured_fixture(tmp_path_factory: pytest.TempPathFactory) -> Strength:
    """The sample suite measured against the sample bugs, in this process."""
    suite = write_suite(tmp_path_factory.mktemp("suite"))
    WorktreeListWrong.started = 0
    return measure([suite], BUGS)


def caught_by(strength: Strength) -> dict[str, tuple[str, ...]]:
    return {bug.name: bug.caught_by for bug in strength.bugs}


def test_a_failed_expectation_catches_the_bug(measured: Strength) -> None:
    """The dry-run scenario fails on a dry run that deletes: caught by it alone."""
    assert caught_by(measured)["dry-run-deletes"] == (DRY,)


def test_a_crash_of_the_implementation_catches_the_bug(measured: Strength) -> None:
    """A bug that raises in its cleanup is caught by every scenario that cleans, sorted."""
    assert caught_by(measured)["cleanup-crashes"] == (DRY, REAL)


def test_an_unsupported_action_catches_nothing(measured: Strength) -> None:
    """A bug that cannot perform the action is not caught: the scenario was not asked of it."""
    assert caught_by(measured)["cannot-clean"] == ()


def test_a_bug_no_action_of_a_scenario_reaches_is_never_run(measured: Strength) -> None:
    """The worktree-list bug is missed without one run: no scenario lists worktrees."""
    assert caught_by(measured)["worktree-list-wrong"] == ()
    assert WorktreeListWrong.started == 0


def test_the_report_keeps_the_catalogue_order_and_its_texts(measured: Strength) -> None:
    """Each bug's result carries its name, runbook procedure and defect, in the given order."""
    assert [(bug.name, bug.runbook, bug.defect) for bug in measured.bugs] == [
        (bug.name, bug.runbook, bug.defect) for bug in BUGS
    ]
    assert [bug.caught for bug in measured.bugs] == [True, True, False, False]


def test_only_scenarios_that_pass_on_the_core_count(measured: Strength) -> None:
    """The scenario that fails on the core is left out with its first line of evidence; the
    one this machine cannot run is skipped; the summary figures agree."""
    assert measured.scenarios == (DRY, REAL)
    assert measured.total == 4
    assert [item.scenario for item in measured.failed] == [BROKEN]
    assert measured.failed[0].reason.endswith(
        "/broken.tapps.yaml:12: then.exit_code; expected: 3; actual: 0"
    )
    assert [item.scenario for item in measured.skipped] == [ELSEWHERE]
    assert measured.skipped[0].reason.startswith("requires ")
    assert measured.unsupported == ()
    assert (measured.caught, measured.percent) == (2, 50.0)
    assert [bug.name for bug in measured.missed] == ["cannot-clean", "worktree-list-wrong"]


def test_two_processes_find_what_one_finds(tmp_path: Path, measured: Strength) -> None:
    """processes=2 (forked workers) gives the same result as one process."""
    suite = write_suite(tmp_path / "suite")
    parallel = measure([suite], BUGS, processes=2)
    assert caught_by(parallel) == caught_by(measured)
    assert parallel.scenarios == measured.scenarios
    assert [item.scenario for item in parallel.failed] == [BROKEN]
    assert parallel.failed[0].reason.startswith(f"{suite / 'broken.tapps.yaml'}:12: ")
    assert parallel.skipped == measured.skipped


def test_every_run_is_made_under_basetemp_and_leaves_no_folder_behind(tmp_path: Path) -> None:
    """Each run of the core and of the bugs has a project of its own under ``basetemp``; all
    of them are removed after."""
    seen: list[Path] = []

    class Records(Bug):
        name = "records-its-project"
        actions = frozenset({"cleanup"})

        def start(self, session: Session) -> None:
            seen.append(session.root)
            super().start(session)

    suite = write_suite(tmp_path / "suite", ["dry.tapps.yaml", "real.tapps.yaml"])
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    measure([suite], [*BUGS, Records], basetemp=scratch)
    assert len(seen) == 2
    assert {path.parent.parent for path in seen} == {scratch}
    assert len({path.parent for path in seen}) == 2
    assert list(scratch.iterdir()) == []


def test_without_basetemp_runs_go_to_the_system_temporary_folder_when_tmpdir_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TMPDIR is the user's say: honoured, and every folder removed."""
    suite = write_suite(tmp_path / "suite", ["dry.tapps.yaml", "real.tapps.yaml"])
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert scratch_folder() is None
    measure([suite], BUGS)
    assert list(scratch.iterdir()) == []


def test_the_default_scratch_is_a_memory_folder_only_with_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no TMPDIR, the memory folder when it has the room, else the system's default."""
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(_engine, "MEMORY_FOLDER", str(tmp_path))
    monkeypatch.setattr(_engine, "MEMORY_ROOM", 1)
    assert scratch_folder() == str(tmp_path)
    monkeypatch.setattr(_engine, "MEMORY_ROOM", 1 << 62)  # more room than any disk has
    assert scratch_folder() is None
    monkeypatch.setattr(_engine, "MEMORY_ROOM", 1)
    monkeypatch.setattr(_engine, "MEMORY_FOLDER", str(tmp_path / "missing"))
    assert scratch_folder() is None


def test_a_basetemp_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    suite = write_suite(tmp_path / "suite", ["dry.tapps.yaml"])
    with pytest.raises(ValueError, match="no such folder; give an existing one"):
        measure([suite], BUGS, basetemp=tmp_path / "missing")


def test_a_harness_error_on_a_bug_catches_nothing(tmp_path: Path) -> None:
    """A harness error while a bug runs says the machine could not ask it: not caught."""

    class HarnessFails(Bug):
        name = "harness-fails"
        actions = frozenset({"cleanup"})

        def start(self, session: Session) -> None:
            message = "cannot set this up here"
            raise HarnessError(message)

    suite = write_suite(tmp_path / "suite", ["dry.tapps.yaml"])
    assert measure([suite], HarnessFails).bugs[0].caught_by == ()


def test_an_outline_row_is_a_scenario_of_its_own(tmp_path: Path) -> None:
    """Each row of an outline is measured as ``file::NAME[ID]``."""
    (tmp_path / "rows.tapps.yaml").write_text(
        """\
name: a dry run at <age> changes nothing
runbook: Cleanup Tools > Usage > Dry run
given:
  files:
    - {path: .tapps-agents/logs/application/old.log, age: <age>}
when:
  - cleanup: {dry_run: true}
then:
  unchanged: true
examples:
  - {id: young, age: 7d}
  - {id: old, age: 60d}
""",
        encoding="utf-8",
    )
    result = measure([tmp_path], DryRunDeletes)
    assert result.bugs[0].caught_by == ("rows.tapps.yaml::a dry run at 60d changes nothing[old]",)
    assert len(result.scenarios) == 2


def test_an_invalid_suite_is_refused_with_every_problem(tmp_path: Path) -> None:
    """A missing path and an invalid file: one SuiteError listing both, nothing run."""
    (tmp_path / "bad.tapps.yaml").write_text(
        "name: x\nrunbook: Cleanup Tools > Usage > Dry run\nwhen: [{bogus: 1}]\n", encoding="utf-8"
    )
    with pytest.raises(SuiteError) as raised:
        measure([tmp_path / "nowhere", tmp_path / "bad.tapps.yaml"], BUGS)
    assert raised.value.problems[0] == f"{tmp_path / 'nowhere'}: no such file or folder"
    assert raised.value.problems[1].startswith(f"{tmp_path / 'bad.tapps.yaml'}:3: when.0: ")
    assert len(raised.value.problems) == 2


def test_bugs_are_classes_instances_or_iterables_of_them() -> None:
    """A Bug subclass, an instance and a list of both all give instances, in order."""
    instance = CannotClean()
    assert bugs_of(instance) == [instance]
    assert [type(bug) for bug in bugs_of(DryRunDeletes)] == [DryRunDeletes]
    found = bugs_of([CleanupCrashes, instance])
    assert [type(bug) for bug in found] == [CleanupCrashes, CannotClean]


def test_what_is_not_a_bug_is_refused_by_name() -> None:
    """Anything else is a TypeError naming it; two bugs of one name a ValueError."""
    with pytest.raises(TypeError) as raised:
        bugs_of([DryRunDeletes, "dry-run-deletes"])
    assert str(raised.value) == (
        "'dry-run-deletes' is not a pytest_tapps.strength.Bug subclass or instance (a bug is "
        "the reference core with one defect: subclass Bug)"
    )
    with pytest.raises(TypeError, match=r"^got 3 \(int\): give a pytest_tapps"):
        bugs_of(3)
    with pytest.raises(ValueError, match=r"^two bugs are named 'dry-run-deletes': give each"):
        bugs_of([DryRunDeletes, DryRunDeletes()])


def test_processes_below_one_are_refused(tmp_path: Path) -> None:
    """processes=0 is a ValueError saying what to give."""
    with pytest.raises(ValueError, match=r"^processes=0: give 1 or more$"):
        measure([write_suite(tmp_path)], BUGS, processes=0)


def test_the_engine_imports_no_pytest() -> None:
    """Measuring, reporting and the plugin's recorder load without pytest (a subprocess)."""
    code = (
        "import sys, pytest_tapps.strength, pytest_tapps.strength._report, "
        "pytest_tapps.strength._session; assert 'pytest' not in sys.modules, 'pytest'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
