"""Tests for pytest_tapps.scenario._export: scenarios written from code load and run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_tapps.scenario import load_file, parse, run_scenario, write_scenario


def test_a_written_scenario_loads_and_runs(tmp_path: Path) -> None:
    """The parts given become a valid scenario that the runner passes."""
    path = write_scenario(
        tmp_path / "found" / "analytics.tapps.yaml",
        name="analytics at 91 days are deleted",
        runbook="Data Retention Policies > Metrics > Analytics history",
        given={"files": [{"path": ".tapps-agents/analytics/history/a.jsonl", "age": "91d"}]},
        when=[{"cleanup": {}}],
        then={"absent": [".tapps-agents/analytics/history/a.jsonl"]},
    )
    (loaded,) = load_file(path)
    assert loaded.data["then"] == {"absent": [".tapps-agents/analytics/history/a.jsonl"]}
    run_scenario(loaded, parse(loaded.data), root=tmp_path / "project")


def test_writing_an_invalid_scenario_is_refused(tmp_path: Path) -> None:
    """What the writer produces must load; parts that would not are an error, not a bad file."""
    from pytest_tapps.scenario import ScenarioFileError

    with pytest.raises(ScenarioFileError, match="unknown action 'explode'"):
        write_scenario(
            tmp_path / "bad.tapps.yaml",
            name="x",
            runbook="Cleanup Tools > Usage > Dry run",
            when=[{"explode": {}}],
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("word", ["N", "y", "on", "Off", "yes", "1:20", "-3:05"])
def test_a_word_yaml_1_1_misreads_is_written_quoted_and_loads(tmp_path: Path, word: str) -> None:
    """A workflow id `N` (YAML 1.1's false) was written plain, and the loader refused the file
    we wrote: such words are quoted."""
    from pytest_tapps.scenario import load_file, write_scenario

    path = write_scenario(
        tmp_path / "s.tapps.yaml",
        name="quoted words",
        runbook="Dead Letter Queue (DLQ) Handling > DLQ Inspection > Check workflow state",
        then={"dlq": [{"workflow_id": word, "step_id": word}]},
    )
    (loaded,) = load_file(path)
    assert loaded.data["then"]["dlq"] == [{"workflow_id": word, "step_id": word}]
