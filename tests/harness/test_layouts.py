"""Tests for the layout profiles of tree fabrication: the runbook's and the real tapps-agents 3.7's.

What the real package writes is described in docs/state-formats.md and
../shared/design/REAL_TAPPS_AGENTS.md; the expectations here are written from that description,
not from the writer under test.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_tapps.core import StateFileError, StateStore, StepStatus, VirtualClock, WorkflowState
from pytest_tapps.core._worktrees import inventory
from pytest_tapps.harness import Faults, HarnessError, NotInLayout, TappsProject, project

REAL = "tapps-agents-3.7"


def _real_checksum(data: dict[str, Any]) -> str:
    """The real package's StateValidator.calculate_checksum, written out from its source."""
    stable = {
        "workflow_id": data.get("workflow_id"),
        "current_step": data.get("current_step"),
        "completed_steps": sorted(data.get("completed_steps", [])),
        "skipped_steps": sorted(data.get("skipped_steps", [])),
        "status": data.get("status"),
        "variables": data.get("variables", {}),
    }
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()


def _failed_workflow(
    built: TappsProject, workflow_id: str = "wf-1", *, current: bool = True
) -> None:
    (
        built.workflow(workflow_id, "failed", current=current)
        .step("plan", "completed")
        .step("lint", "skipped")
        .step("build", "failed", error={"category": "timeout", "message": "timed out"})
        .save()
    )


def test_a_real_layout_state_is_saved_as_the_real_state_manager_saves_it(tmp_path: Path) -> None:
    """State file <id>-<YYYYmmdd-HHMMSS>.json with a valid _checksum, its history copy, the
    <id>.meta.json pointer and last.json; step lists, naive local times, a string error."""
    clock = VirtualClock()
    with project(tmp_path, clock=clock, layout=REAL) as built:
        _failed_workflow(built)
        state_dir = tmp_path / ".tapps-agents/workflow-state"
        stamp = datetime.fromtimestamp(clock.time()).strftime("%Y%m%d-%H%M%S")
        name = f"wf-1-{stamp}.json"
        assert sorted(p.name for p in state_dir.iterdir()) == sorted(
            [name, "history", "wf-1.meta.json", "last.json"]
        )
        data = json.loads((state_dir / name).read_text())
        assert (state_dir / "history" / name).read_bytes() == (state_dir / name).read_bytes()
        assert data["_checksum"] == _real_checksum(data)
        assert data["completed_steps"] == ["plan"]
        assert data["skipped_steps"] == ["lint"]
        assert data["current_step"] == "build"
        assert data["status"] == "failed"
        assert data["error"] == "timed out"
        assert "step_executions" not in data  # the default writer keeps none
        assert datetime.fromisoformat(data["started_at"]).tzinfo is None
        assert datetime.fromisoformat(data["started_at"]).timestamp() == clock.time()
        meta = json.loads((state_dir / "wf-1.meta.json").read_text())
        assert meta["state_file"] == name
        assert meta["checksum"] == data["_checksum"]
        assert meta["version"] == "2.0"
        last = json.loads((state_dir / "last.json").read_text())
        assert Path(last["state_file"]) == state_dir / name
        assert not (state_dir / "current_state.json").exists()


def test_the_core_reads_a_fabricated_real_state_back(tmp_path: Path) -> None:
    """The core's readers accept what the real-layout fabricator writes, step by step."""
    with project(tmp_path, layout=REAL) as built:
        _failed_workflow(built)
        _failed_workflow(built, "wf-2", current=False)
        store = StateStore(built.layout)
        state = store.load("wf-1")
        assert state.model_extra == {"source_format": REAL}
        steps = {ex.step_id: ex.status for ex in state.step_executions}
        assert steps == {
            "plan": StepStatus.COMPLETED,
            "lint": StepStatus.SKIPPED,
            "build": StepStatus.FAILED,
        }
        assert store.load().workflow_id == "wf-1"  # last.json points at the current one
        ids = {s.workflow_id for _, s in store.iter_states() if isinstance(s, WorkflowState)}
        assert ids == {"wf-1", "wf-2"}


def test_last_json_points_at_the_current_workflow_whatever_the_order(tmp_path: Path) -> None:
    with project(tmp_path, layout=REAL) as built:
        built.workflow("first", "completed").step("a").save()
        built.workflow("second", "running", current=True).step("a", "running").save()
        built.workflow("third", "completed").step("a").save()
        assert StateStore(built.layout).load().workflow_id == "second"


def test_the_runbook_layout_stays_the_default(tmp_path: Path) -> None:
    with project(tmp_path) as built:
        _failed_workflow(built)
        assert built.layout.profile.name == "runbook"
        state_dir = tmp_path / ".tapps-agents/workflow-state"
        assert [p.name for p in state_dir.iterdir()] == ["current_state.json"]


def test_real_layout_worktrees_are_named_and_branched_as_the_real_package_does(
    tmp_path: Path,
) -> None:
    """workflow-<wf>-step-<step>-<8 hex>, branch workflow/<name>; the name is sanitised to
    [A-Za-z0-9._-] and at most 80 characters."""
    with project(tmp_path, layout=REAL) as built:
        path = built.worktree(workflow="wf 1", step="build", git=True)
        assert re.fullmatch(r"workflow-wf-1-step-build-[0-9a-f]{8}", path.name)
        assert path.parent == tmp_path / ".tapps-agents/worktrees"
        assert path.name == built.worktree_name("wf 1", "build")  # predictable
        (info,) = inventory(built.layout)
        assert info.branch == f"workflow/{path.name}"
        assert info.made_for_workflow(built.layout)
        raw = "workflow-wf-1-step-build"  # the real CursorWorkflowExecutor's derivation
        expected = f"{raw}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"
        assert built.worktree_name("wf-1", "build") == expected
        long = built.worktree_name("w" * 60, "s" * 60)
        assert len(long) == 80
        full = f"workflow-{'w' * 60}-step-{'s' * 60}"
        full = f"{full}-{hashlib.sha256(full.encode()).hexdigest()[:8]}"
        assert long == f"{full[:69]}-{hashlib.sha256(full.encode()).hexdigest()[:10]}"
        assert built.worktree_name("a  b", "c").startswith("workflow-a-b-step-c-")
        assert re.fullmatch(r"[A-Za-z0-9._-]+", built.worktree_name("a/../b", "c\nd"))


def test_runbook_layout_worktrees_take_the_workflow_and_step_names(tmp_path: Path) -> None:
    with project(tmp_path) as built:
        assert built.worktree(workflow="wf-1", step="build").name == "wf-1-build"
        with pytest.raises(HarnessError, match="give its name, or the workflow and step"):
            built.worktree(workflow="wf-1")


@pytest.mark.parametrize(
    ("layout", "expected"),
    [("runbook", "workflows-2026-01-05.jsonl"), (REAL, "workflows-2026-01-05.jsonl")],
)
def test_analytics_files_are_named_by_kind_and_day(
    tmp_path: Path, layout: str, expected: str
) -> None:
    """Without a name, an analytics file is the layout's <kind>-<day>.jsonl of the day it was
    last written (10 days before 2026-01-15)."""
    with project(tmp_path, layout=layout) as built:
        path = built.analytics(kind="workflows", age="10d")
        assert path == tmp_path / ".tapps-agents/analytics/history" / expected


def test_what_the_real_layout_lacks_is_not_in_layout(tmp_path: Path) -> None:
    """The real package has no workflow lock files and no tiered cache folder: asking for one
    is NotInLayout, which names the layout and why."""
    with project(tmp_path, layout=REAL) as built:
        with pytest.raises(NotInLayout, match=r"tapps-agents-3\.7 layout has no tiered"):
            built.tiered("a.json")
        faults = Faults(built)
        try:
            with pytest.raises(NotInLayout, match="no workflow lock files"):
                faults.stale_lock("wf-1")
            with pytest.raises(NotInLayout, match="no workflow lock files"):
                faults.live_lock("wf-1")
        finally:
            faults.close()
        assert not (tmp_path / ".tapps-agents/workflow-state").exists()


def test_an_unknown_layout_names_the_known_ones(tmp_path: Path) -> None:
    expected = "layout='tapps-4': use one of 'runbook', 'tapps-agents"
    with pytest.raises(HarnessError, match=expected), project(tmp_path, layout="tapps-4"):
        pass


def test_the_fixture_takes_the_layout_from_the_marker_option_and_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            """
            import os
            import pytest

            @pytest.mark.tapps(layout="tapps-agents-3.7")
            def test_marked(tapps_project):
                assert tapps_project.layout.profile.name == "tapps-agents-3.7"

            def test_default(tapps_project):
                assert tapps_project.layout.profile.name == os.environ["EXPECTED_LAYOUT"]
            """
        )
    )
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("EXPECTED_LAYOUT", "runbook")
    pytester.runpytest_subprocess("-p", "tapps").assert_outcomes(passed=2)
    monkeypatch.setenv("EXPECTED_LAYOUT", REAL)
    pytester.runpytest_subprocess("-p", "tapps", "--tapps-layout", REAL).assert_outcomes(passed=2)
    pytester.makeini(f"[pytest]\ntapps_layout = {REAL}\n")
    pytester.runpytest_subprocess("-p", "tapps").assert_outcomes(passed=2)
    monkeypatch.setenv("EXPECTED_LAYOUT", "runbook")
    pytester.runpytest_subprocess("-p", "tapps", "--tapps-layout", "runbook").assert_outcomes(
        passed=2
    )


def _yaml(path: Path) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text())


def test_a_real_layout_context7_entry_is_written_as_kbcache_stores_it(tmp_path: Path) -> None:
    """libraries/<library lower-cased>/<topic>.md with its header and metadata comments,
    meta.yaml naming the library and its topics, index.yaml listing every library; time stamps
    in the package's '+00:00Z' form."""
    clock = VirtualClock()
    with project(tmp_path, clock=clock, layout=REAL) as built:
        folder = built.context7("FastAPI", {"routing.md": "Use @app.get('/').", "hooks.md": "x"})
        built.context7("react")
    cache = tmp_path / ".tapps-agents/kb/context7-cache"
    assert folder == cache / "libraries/fastapi"
    assert sorted(p.name for p in folder.iterdir()) == ["hooks.md", "meta.yaml", "routing.md"]
    document = (folder / "routing.md").read_text()
    assert document.startswith("# FastAPI - routing\n")
    assert "\n---\n\nUse @app.get('/').\n\n---\n" in document
    assert "<!-- Library: FastAPI -->" in document
    assert "**Last Updated**: 2026-01-15T10:30:00+00:00Z" in document
    meta = _yaml(folder / "meta.yaml")
    assert (meta["library"], meta["topics"]) == ("FastAPI", ["hooks", "routing"])
    index = _yaml(cache / "index.yaml")
    assert index["total_entries"] == 3
    assert set(index["libraries"]) == {"fastapi", "react"}
    assert set(index["libraries"]["fastapi"]["topics"]) == {"hooks", "routing"}
    assert (cache / "cross-references.yaml").is_file()


@pytest.mark.parametrize(
    ("kind", "damaged"),
    [
        ("truncated", lambda entry: len((entry / "docs.md").read_bytes()) == 5),
        ("empty", lambda entry: (entry / "docs.md").read_bytes() == b""),
        ("no-meta", lambda entry: not (entry / "meta.yaml").exists()),
        ("bad-yaml", lambda entry: (entry / "meta.yaml").read_bytes() == b"topics: [docs"),
    ],
)
def test_corrupting_a_real_layout_entry_damages_its_kb_files(
    tmp_path: Path, kind: str, damaged: Any
) -> None:
    with project(tmp_path, layout=REAL) as built:
        faults = Faults(built)
        entry = faults.corrupt_cache_entry("React", kind)
        assert entry == built.layout.context7_cache_dir / "react"
        assert damaged(entry)


def test_kinds_without_a_counterpart_in_the_real_layout_are_not_in_layout(tmp_path: Path) -> None:
    with project(tmp_path, layout=REAL) as built:
        faults = Faults(built)
        with pytest.raises(NotInLayout, match="entries have no hashes"):
            faults.corrupt_cache_entry("react", "hash")
        with pytest.raises(NotInLayout, match="entries have no JSON documents"):
            faults.corrupt_cache_entry("react", "bad-json")
        with pytest.raises(HarnessError, match="use one of"):
            faults.corrupt_cache_entry("react", "melted")


def test_a_crash_during_write_truncates_the_real_layout_s_saved_state(tmp_path: Path) -> None:
    """The save that <id>.meta.json points at is cut in half; reading it fails, naming it, and
    the workflow is then read from its history copy, as the real package recovers."""
    with project(tmp_path, layout=REAL) as built:
        _failed_workflow(built)
        saved = Faults(built).crash_during_write("wf-1")
        assert saved.parent == built.layout.state_dir
        assert saved.name.startswith("wf-1-")
        store = StateStore(built.layout)
        with pytest.raises(StateFileError, match=re.escape(saved.name)):
            store.read(saved)
        assert store.locate("wf-1") == built.layout.history_dir / saved.name


def test_the_plugin_and_the_scenario_schema_know_every_layout_of_the_core() -> None:
    """The plugin names the layouts without importing the core at load, and the scenario
    model as a Literal (for its JSON schema); both stay in sync with the core's profiles."""
    from typing import get_args

    from pytest_tapps.core import PROFILES
    from pytest_tapps.plugin import LAYOUTS
    from pytest_tapps.scenario._model import LayoutName

    assert set(LAYOUTS) == set(PROFILES)
    assert set(get_args(LayoutName)) == set(PROFILES)


def test_a_bad_ini_layout_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """An unknown ini tapps_layout stops the run as a usage error naming the known layouts."""
    pytester.makeini("[pytest]\ntapps_layout = tapps-agents-4\n")
    pytester.makepyfile("def test_x(tapps_project):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "tapps")
    result.stderr.fnmatch_lines(
        ["*ini tapps_layout = 'tapps-agents-4': use one of runbook, tapps-agents-3.7*"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
