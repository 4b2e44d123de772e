"""Tests for ``tapps scenario conformance`` (real pytest runs and real subprocess runs of the CLI):
recorded results, the gate on changed outcomes, and the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_tapps.scenario import load_file, parse
from tests.helpers import ANALYTICS_KEPT as PASSING
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "docs" / "conformance" / "tapps-agents-3.7.1.json"

DEPARTING = """\
name: performance metrics go at 10 days
description: A made-up rule the reference core does not follow.
runbook: Data Retention Policies > Metrics > Performance metrics
given:
  files:
    - {path: .tapps-agents/metrics/performance/p.json, age: 10d}
when:
  - cleanup: {dry_run: true}
then:
  plan: {.tapps-agents/metrics/performance/p.json: delete}
"""

UNSUPPORTED = """\
name: warming from a folder
runbook: Cache Invalidation and Recovery > Context7 Cache > Recovery > Cache warming
given:
  files:
    - {path: docs-src/react/docs.md, content: "# react"}
when:
  - cache_warm: {from: docs-src}
"""

TARGET = """\
from pytest_tapps.scenario import CoreTarget, Unsupported


class NoWarming(CoreTarget):
    name = "no-warming"

    def cache_warm(self, spec, session):
        raise Unsupported("it cannot warm its cache offline")


target = NoWarming()
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with three scenarios and the JUnit XML of their run against a target that
    lacks cache warming: one passes, one departs, one is not supported."""
    folder = tmp_path_factory.mktemp("conformance")
    suite = folder / "suite"
    suite.mkdir()
    for name, text in (("a", PASSING), ("b", DEPARTING), ("c", UNSUPPORTED)):
        (suite / f"{name}.tapps.yaml").write_text(text)
    (folder / "no_warming.py").write_text(TARGET)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tapps",
            "suite",
            "--tapps-target=no_warming:target",
            "--junitxml=results.xml",
            "-q",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(folder)},
        check=False,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr  # the departure
    return folder


def conformance(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("scenario", "conformance", "results.xml", "suite", *args, cwd=folder)


def test_update_records_each_outcome_with_the_evidence(run: Path) -> None:
    done = conformance(run, "--recorded", "rec.json", "--update")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote 3 recorded result(s) to rec.json"
    results = json.loads((run / "rec.json").read_text())["results"]
    assert {key: entry["outcome"] for key, entry in results.items()} == {
        "a.tapps.yaml::analytics survive until 90 days": "pass",
        "b.tapps.yaml::performance metrics go at 10 days": "departs",
        "c.tapps.yaml::warming from a folder": "not supported",
    }
    evidence = results["b.tapps.yaml::performance metrics go at 10 days"]["evidence"]
    assert evidence.splitlines() == [
        "b.tapps.yaml:10: then.plan['.tapps-agents/metrics/performance/p.json']",
        "    expected: delete",
        "    actual:   keep: too new",
    ]
    unsupported = results["c.tapps.yaml::warming from a folder"]["evidence"]
    assert unsupported == "it cannot warm its cache offline"


def test_the_same_outcomes_pass_the_gate(run: Path) -> None:
    conformance(run, "--recorded", "same.json", "--update")
    done = conformance(run, "--recorded", "same.json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3 scenario(s): as recorded in same.json"


def test_a_changed_outcome_fails_the_gate_and_names_the_scenario(run: Path) -> None:
    """Recorded says the departure passed: the run differs, exit 1, with the evidence; a
    recorded scenario that did not run and a new one are named too."""
    conformance(run, "--recorded", "old.json", "--update")
    data = json.loads((run / "old.json").read_text())
    results = data["results"]
    results["b.tapps.yaml::performance metrics go at 10 days"]["outcome"] = "pass"
    results["gone.tapps.yaml::an old scenario"] = {"outcome": "pass", "evidence": ""}
    del results["a.tapps.yaml::analytics survive until 90 days"]
    (run / "old.json").write_text(json.dumps(data))
    done = conformance(run, "--recorded", "old.json")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "new scenario: a.tapps.yaml::analytics survive until 90 days: pass",
        "changed: b.tapps.yaml::performance metrics go at 10 days: recorded pass, now departs",
        "    b.tapps.yaml:10: then.plan['.tapps-agents/metrics/performance/p.json']",
        "        expected: delete",
        "        actual:   keep: too new",
        "not run: gone.tapps.yaml::an old scenario (recorded: pass)",
    ]
    assert "3 scenario(s) differ from old.json" in done.stderr
    assert "rerun with --update" in done.stderr


def test_the_report_lists_each_procedure_and_the_evidence_of_each_departure(run: Path) -> None:
    (run / "notes.md").write_text("## How it was run\n\nWith a made-up target.\n")
    done = conformance(
        run, "--report", "out/report.md", "--title", "Made-up target", "--notes", "notes.md"
    )
    assert done.returncode == 0, done.stderr
    text = (run / "out" / "report.md").read_text()
    assert text.startswith("# Made-up target\n")
    assert "Scenarios: 1 departs, 1 not supported, 1 pass." in text
    assert "## How it was run\n\nWith a made-up target." in text
    assert "## Data Retention Policies" in text
    assert (
        "| Metrics > Analytics history | **pass** | analytics survive until 90 days (pass) |"
        in text
    )
    assert "| Metrics > Performance metrics | **departs** |" in text
    assert "| Metrics > Confidence metrics | not run | |" in text
    evidence = text.split("### performance metrics go at 10 days", 1)[1]
    assert "- What the runbook says: A made-up rule the reference core does not follow." in evidence
    assert "    expected: delete\n    actual:   keep: too new" in evidence
    assert "| warming from a folder | it cannot warm its cache offline |" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--update",), "--update needs --recorded FILE"),
        (("--recorded", "missing.json"), "missing.json: cannot read the recorded results"),
        (("--recorded", "bad.json"), "bad.json: not JSON"),
        (("--recorded", "other.json"), 'other.json: not a recorded-results file (no "format"'),
        (("--recorded", "odd.json"), "results['x::y'].outcome is 'fine'; use one of 'departs'"),
        (("--report", "r.md", "--notes", "none.md"), "none.md: cannot read the notes"),
        (("--report", "r.md", "--notes", "latin1.md"), "latin1.md: cannot read the notes (not UTF"),
        (("--recorded", "list.json"), '"results" must be a mapping of file::scenario'),
        (("--recorded", "bare.json"), '"results" must be a mapping of file::scenario'),
        (("--report", "suite"), "suite: cannot write it"),
        (("--recorded", "suite", "--update"), "suite: cannot write it"),
    ],
)
def test_bad_input_is_a_message_and_exit_2(run: Path, args: tuple[str, ...], message: str) -> None:
    (run / "bad.json").write_text("{")
    (run / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    fmt = '"format": "pytest-tapps conformance results 1"'
    (run / "list.json").write_text(f'{{{fmt}, "results": []}}')
    (run / "bare.json").write_text(f"{{{fmt}}}")
    (run / "other.json").write_text('{"results": {}}')
    (run / "odd.json").write_text(
        json.dumps(
            {
                "format": "pytest-tapps conformance results 1",
                "results": {"x::y": {"outcome": "fine"}},
            }
        )
    )
    done = conformance(run, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_that_is_not_junit_xml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "results.xml").write_text("not xml")
    done = run_cli("scenario", "conformance", "results.xml", "--report", "r.md", cwd=tmp_path)
    assert done.returncode == 2
    assert "results.xml: cannot read JUnit XML" in done.stderr


def test_conformance_with_nothing_to_do_is_a_usage_error(run: Path) -> None:
    """Without --recorded or --report there is nothing to do: exit 2, naming what to add."""
    done = conformance(run)
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "tapps: error: nothing to do: add --recorded FILE to compare the run with the recorded "
        "results (with --update to record them), or --report FILE to write the report\n",
    )


def test_the_recorded_results_name_exactly_the_bundled_scenarios() -> None:
    """docs/conformance/tapps-agents-3.7.1.json has an outcome for every bundled scenario and
    none for a scenario that is gone: a renamed scenario is re-recorded with it."""
    recorded = json.loads(RECORDED.read_text())
    bundled = {
        f"{path.name}::{parse(loaded.data).name}"
        for path in sorted((ROOT / "scenarios").rglob("*.tapps.yaml"))
        for loaded in load_file(path)
    }
    assert set(recorded["results"]) == bundled, textwrap.shorten(
        f"re-record with `.ci/conformance --update`: {set(recorded['results']) ^ bundled}", 500
    )


def test_a_report_needs_the_scenarios_the_run_ran(run: Path) -> None:
    """Scenario files that are not the ones the run used would give a report of rows 'not
    run': refused, naming the first scenario it cannot find, and nothing written."""
    (run / "other").mkdir(exist_ok=True)
    (run / "other" / "a.tapps.yaml").write_text(PASSING)
    done = run_cli("scenario", "conformance", "results.xml", "other", "--report", "x.md", cwd=run)
    assert done.returncode == 2
    assert "2 scenario(s) of results.xml are not in other (first: b.tapps.yaml::" in done.stderr
    assert not (run / "x.md").exists()
