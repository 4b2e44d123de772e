"""Tests for pytest_tapps.harness._assertions: failure messages that show the picture."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_tapps.core import WorkflowDefinition, WorkflowExecutor, WorkflowState
from pytest_tapps.harness import (
    Faults,
    assert_attempts,
    assert_dlq,
    assert_tree_change,
    delays_of,
    project,
    timeline,
    virtual_time,
)

CRITICAL = {
    "id": "critical-step",
    "retry": {"max_attempts": 3, "initial_delay": 5, "max_delay": 60},
    "timeout": 300,
}


def _critical(root: Path) -> WorkflowState:
    with project(root) as built, virtual_time(freeze=False) as clock:
        faults = Faults(built)
        faults.step_timeout("critical-step")
        definition = WorkflowDefinition.parse({"id": "wf", "steps": [CRITICAL]})
        return WorkflowExecutor(root, faults.runner(), clock=clock).run(definition)


def test_timeline_shows_attempts_and_waits_in_virtual_time(tmp_path: Path) -> None:
    """The runbook example reads as six lines: three attempts, two waits."""
    assert timeline(_critical(tmp_path)).splitlines() == [
        "+0s     critical-step #1 started",
        "+300s   critical-step #1 failed: timeout (recoverable) after 300s",
        "+305s   critical-step #2 started  (waited 5s)",
        "+605s   critical-step #2 failed: timeout (recoverable) after 300s",
        "+615s   critical-step #3 started  (waited 10s)",
        "+915s   critical-step #3 failed: timeout (recoverable) after 300s",
    ]


def test_assert_attempts_passes_and_fails_with_the_timeline(tmp_path: Path) -> None:
    """Right expectations pass; a wrong one fails listing every mismatch and the timeline."""
    state = _critical(tmp_path)
    assert delays_of(state, "critical-step") == [5.0, 10.0]
    assert_attempts(state, "critical-step", attempts=3, status="failed", delays=[5, 10])
    with pytest.raises(AssertionError) as info:
        assert_attempts(state, "critical-step", attempts=2, status="completed", delays=[5])
    lines = str(info.value).splitlines()
    assert lines[:4] == [
        "step 'critical-step' of wf:",
        "  attempts: expected 2, got 3",
        "  status: expected completed, got failed",
        "  delays: expected [5], got [5.0, 10.0]",
    ]
    assert "timeline (virtual time):" in lines
    assert lines[-1] == "+915s   critical-step #3 failed: timeout (recoverable) after 300s"


def test_assert_dlq_compares_only_the_given_keys(tmp_path: Path) -> None:
    """DLQ expectations name the fields that matter; a mismatch shows all envelopes."""
    state = _critical(tmp_path)
    assert_dlq(state, [{"step_id": "critical-step", "category": "timeout", "recoverable": True}])
    with pytest.raises(
        AssertionError,
        match=r"(?s)expected:\n  \{\"category\": \"execution\".*actual:\n  \{.*\"code\": \"timeout_error\"",
    ):
        assert_dlq(state, [{"category": "execution"}])


def test_assert_tree_change_shows_the_diff(tmp_path: Path) -> None:
    """Removing what was expected passes; removing more fails with the full diff."""
    with project(tmp_path) as built:
        built.file("logs/debug/old.log", age="8d")
        built.file("logs/debug/new.log")
        built.file("artifacts/workflows/run/a/b.txt")
        before = built.snapshot()
        (built.layout.debug_logs_dir / "old.log").unlink()
        assert_tree_change(before, built.snapshot(), removed=[".tapps-agents/logs/debug/old.log"])
        (built.layout.debug_logs_dir / "new.log").unlink()
        with pytest.raises(AssertionError) as info:
            assert_tree_change(
                before, built.snapshot(), removed=[".tapps-agents/logs/debug/old.log"]
            )
    message = str(info.value)
    assert "gone (should be kept): ['.tapps-agents/logs/debug/new.log']" in message
    assert "- .tapps-agents/logs/debug/new.log" in message


def test_failure_output_under_pytest_reads_well(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a real pytest run the timeline appears in the failure report."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(
        """
        from pytest_tapps.core import WorkflowDefinition, WorkflowExecutor
        from pytest_tapps.harness import assert_attempts

        def test_retries(tapps_project, tapps_clock, tapps_faults):
            tapps_faults.flaky("fetch", failures=2)
            definition = WorkflowDefinition.parse({"id": "wf", "steps": [
                {"id": "fetch", "retry": {"max_attempts": 3, "initial_delay": 1, "max_delay": 60}}]})
            state = WorkflowExecutor(tapps_project.root, tapps_faults.runner(), clock=tapps_clock).run(definition)
            assert_attempts(state, "fetch", attempts=1)
        """
    )
    result = pytester.runpytest("-p", "tapps")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*step 'fetch' of wf:",
            "*attempts: expected 1, got 3",
            "*timeline (virtual time):",
            "*+0s     fetch #1 started",
            "*+0s     fetch #1 failed: external_dependency (recoverable) after 0s",
            "*+1s     fetch #2 started  (waited 1s)",
        ]
    )
