"""The real tapps-agents package reads what the ``tapps-agents-3.7`` layout fabricates.

Skipped unless ``tapps_agents`` is importable (it needs Python >= 3.12): ``.ci/conformance``
runs this file in its Python 3.12 environment with tapps-agents 3.7.1 installed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pytest_tapps.harness import project

REAL = "tapps-agents-3.7"
#: The package's dependencies (stevedore) warn on import; not this test's business.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
pytest.importorskip("tapps_agents", reason="the real tapps-agents package is not installed here")


def test_its_state_manager_loads_a_fabricated_state_and_its_checksum_holds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tapps_agents.workflow.state_manager import AdvancedStateManager

    with project(tmp_path, layout=REAL) as built:
        (
            built.workflow("wf-1", "failed", current=True)
            .step("plan")
            .step("lint", "skipped")
            .step("build", "failed", error={"category": "timeout", "message": "timed out"})
            .save()
        )
        manager = AdvancedStateManager(built.layout.state_dir)
        with caplog.at_level(logging.WARNING):
            state, meta = manager.load_state(workflow_id="wf-1", validate=True)
            last, _ = manager.load_state(validate=True)
    assert "validation failed" not in caplog.text  # else it silently recovers from history
    assert (state.workflow_id, state.status, state.error) == ("wf-1", "failed", "timed out")
    assert (state.completed_steps, state.skipped_steps) == (["plan"], ["lint"])
    assert state.current_step == "build"
    assert meta.state_file.startswith("wf-1-")
    assert last.workflow_id == "wf-1"


def test_its_kb_cache_reads_a_fabricated_context7_entry(tmp_path: Path) -> None:
    from tapps_agents.context7.kb_cache import KBCache

    with project(tmp_path, layout=REAL) as built:
        built.context7("FastAPI", {"routing.md": "Use @app.get('/').", "hooks.md": "x"})
        cache = KBCache(built.layout.context7_cache_dir.parent)
        entry = cache.get("FastAPI", "routing")
        listed = sorted((e.library, e.topic) for e in cache.list_entries())
    assert entry is not None
    assert entry.content == "Use @app.get('/')."
    assert listed == [("fastapi", "hooks"), ("fastapi", "routing")]


def test_worktree_names_are_the_ones_its_executor_gives(tmp_path: Path) -> None:
    from tapps_agents.workflow.cursor_executor import CursorWorkflowExecutor

    class _State:
        workflow_id = "wf 1/x"

    executor = CursorWorkflowExecutor.__new__(CursorWorkflowExecutor)
    executor.__dict__["state"] = _State()
    with project(tmp_path, layout=REAL) as built:
        for step in ("build", "a" * 90, "review step"):
            assert built.worktree_name("wf 1/x", step) == executor._worktree_name_for_step(step)


def test_its_analytics_reader_finds_a_fabricated_history_file(tmp_path: Path) -> None:
    from tapps_agents.core.analytics_dashboard import AnalyticsCollector

    with project(tmp_path, layout=REAL) as built:
        path = built.analytics(kind="agents", age="2d")
        collector = AnalyticsCollector(built.layout.analytics_history_dir.parent)
        removed = collector.cleanup_old_history(days_to_keep=1)  # by the date in the name
    assert removed == 1
    assert not path.exists()


def test_the_package_is_imported_only_when_its_target_is_chosen(tmp_path: Path) -> None:
    """With the package installed, a run on another target never imports it; choosing
    ``tapps-agents`` does."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from pytest_tapps.scenario._targets import load_target\n"
        "load_target(sys.argv[1])\n"
        "print('tapps_agents' in sys.modules)"
    )
    seen = {
        target: subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code, target],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            cwd=tmp_path,
        ).stdout.split()[-1]
        for target in ("core", "tapps-cli", "tapps-agents")
    }
    assert seen == {"core": "False", "tapps-cli": "False", "tapps-agents": "True"}


def test_a_tree_the_package_wrote_is_captured_and_replays_to_the_same_decisions(
    tmp_path: Path,
) -> None:
    """Issue 17's round trip on the real thing: the package's own state manager and KB cache
    write the tree (a failed workflow, a cache entry), old logs beside them; the capture in its
    layout replays, in the scenario runner, to the plan, DLQ and status of the live tree."""
    import os
    from datetime import UTC, datetime, timedelta

    from tapps_agents.context7.kb_cache import KBCache
    from tapps_agents.workflow.models import StepExecution, WorkflowState
    from tapps_agents.workflow.state_manager import AdvancedStateManager

    from pytest_tapps.core import TAPPS_AGENTS_3_7, Layout
    from pytest_tapps.scenario import load_file, parse, run_scenario, write_scenario
    from pytest_tapps.scenario._capture import capture

    root = tmp_path / "project"
    layout = Layout(root, TAPPS_AGENTS_3_7)
    layout.state_dir.mkdir(parents=True)
    started = datetime.now(UTC) - timedelta(hours=3)
    state = WorkflowState(
        workflow_id="wf-real",
        started_at=started,
        current_step="build",
        completed_steps=["plan"],
        status="failed",
        error="build timed out",
        step_executions=[
            StepExecution("plan", "planner", "plan", started, started, 1.0, "completed"),
            StepExecution(
                "build", "implementer", "build", started, None, None, "failed", "timed out"
            ),
        ],
    )
    AdvancedStateManager(layout.state_dir).save_state(state)
    KBCache(layout.context7_cache_dir.parent).store("FastAPI", "routing", "Use @app.get('/').")
    old = layout.tapps_dir / "logs" / "agent.log"
    old.parent.mkdir(parents=True)
    old.write_text("x" * 40)
    stamp = datetime.now(UTC).timestamp() - 10 * 86400
    os.utime(old, (stamp, stamp))

    captured = capture(root, layout="tapps-agents-3.7")
    then = captured.parts["then"]
    assert then["dlq"][0]["step_id"] == "build"
    assert then["plan"][".tapps-agents/logs/application/agent.log"].startswith("delete")
    path = write_scenario(tmp_path / "real.tapps.yaml", **captured.parts)
    (loaded,) = load_file(path)
    run_scenario(loaded, parse(loaded.data), root=tmp_path / "replay")  # raises if a then fails
