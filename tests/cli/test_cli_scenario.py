"""Tests for ``tapps scenario schema|validate|coverage`` (real subprocess runs of the CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import ANALYTICS_KEPT as GOOD
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "pytest_tapps" / "scenario" / "scenario.schema.json"
BUNDLED = ROOT / "scenarios"

FAILING = (
    GOOD.replace("name: analytics survive", "name: analytics wrongly")
    .replace('"keep: too new"', "delete")
    .replace("Analytics history", "Performance metrics")
)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_command_prints_the_shipped_schema(tmp_path: Path) -> None:
    """`tapps scenario schema` prints the schema shipped in the package, byte for byte, as
    editors get it (that it is the models' schema is tests/scenario/test_schema's business)."""
    done = run_cli("scenario", "schema", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, SCHEMA.read_text()), done.stderr


def test_every_bundled_scenario_validates_against_the_schema() -> None:
    """The published schema accepts what the loader accepts (editors agree with pytest): each
    bundled file as written, and each of its scenarios with defaults and fragments merged."""
    from pytest_tapps.core._yamlutil import load_yaml
    from pytest_tapps.scenario._load import _plain, load_file, scenario_paths

    schema = json.loads(SCHEMA.read_text())
    scenario_schema = {**schema, "if": True, "then": {"$ref": "#/definitions/Scenario"}}
    # One validator each, the schema checked once (jsonschema.validate checks it on every
    # call: 280 scenarios took a minute under coverage that way).
    kind = jsonschema.validators.validator_for(schema)
    kind.check_schema(schema)
    whole, one = kind(schema), kind(scenario_schema)
    files = scenario_paths([BUNDLED])
    assert files, "the bundled suite has scenario files"
    for path in files:
        doc = load_yaml(path)
        whole.validate(_plain(doc.data, doc, (), {}))
        for loaded in load_file(path):
            one.validate(loaded.data)


def test_the_schema_rejects_what_the_loader_rejects() -> None:
    """An unknown key and a duration without a unit fail the schema too."""
    schema = json.loads(SCHEMA.read_text())
    base = {"name": "x", "runbook": "Cleanup Tools > Usage > Dry run"}
    jsonschema.validate(base, schema)
    for bad in ({**base, "thne": {}}, {**base, "when": [{"advance": "5"}]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_schema_output_writes_the_shipped_schema_into_a_new_folder(tmp_path: Path) -> None:
    """`tapps scenario schema -o .tapps/scenario.schema.json` makes the folder and writes the
    schema shipped in the package (what a downstream repo points its editor at)."""
    done = run_cli("scenario", "schema", "-o", ".tapps/scenario.schema.json", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "wrote .tapps/scenario.schema.json\n")
    written = (tmp_path / ".tapps" / "scenario.schema.json").read_text(encoding="utf-8")
    assert json.loads(written) == json.loads(SCHEMA.read_text())


def test_schema_output_into_a_file_where_a_folder_belongs_is_one_error(tmp_path: Path) -> None:
    """A path that cannot be written is one line naming it, exit 2, no traceback."""
    (tmp_path / "taken").write_text("x")
    done = run_cli("scenario", "schema", "-o", "taken/schema.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("tapps: error: taken: cannot make the folder (")
    assert "Traceback" not in done.stderr


def test_validate_accepts_good_files(tmp_path: Path) -> None:
    """A valid folder: exit 0 and a count."""
    write(tmp_path / "suite", "a.tapps.yaml", GOOD)
    done = run_cli("scenario", "validate", "suite", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "1 file(s), 1 scenario(s): valid\n")


def test_validate_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    """Problems print as FILE:LINE: field: message with the source line; exit 2; no traceback."""
    write(tmp_path / "suite", "a.tapps.yaml", GOOD)
    write(
        tmp_path / "suite",
        "b.tapps.yaml",
        GOOD.replace("dry_run: true", "dry_run: no").replace("age: 40d", "age: 40"),
    )
    done = run_cli("scenario", "validate", "suite", "missing.tapps.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        "missing.tapps.yaml: no such file or folder",
        "suite/b.tapps.yaml:5: given.files.0.age: 40 has no unit; write a number with a unit: "
        "'90s', '15m', '12h', '40d' (ms, s, m, h, d, w)",
        "    - {path: .tapps-agents/analytics/history/a.jsonl, age: 40}",
        "suite/b.tapps.yaml:7: when.0.cleanup.dry_run: 'no' is a boolean in YAML 1.1; write "
        "true/false, or quote it ('no') if you mean the word",
        "    - cleanup: {dry_run: no}",
    ]
    assert done.stderr == ("tapps: error: 3 problem(s); 1 valid file(s) with 1 scenario(s)\n")


def test_coverage_lists_procedures_and_gates(tmp_path: Path) -> None:
    """The table marks covered procedures; --fail-under turns low coverage into exit 1."""
    write(tmp_path / "suite", "a.tapps.yaml", GOOD)
    done = run_cli("scenario", "coverage", "suite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("  ✓ Metrics > Analytics history") for line in lines)
    assert any(line.startswith("  ✗ Metrics > Performance metrics") for line in lines)
    from pytest_tapps.scenario import runbook

    total = len(runbook().procedures)
    assert lines[-1] == f"1 of {total} procedures covered ({100 / total:.1f}%)"
    gated = run_cli("scenario", "coverage", "suite", "--fail-under", "90", cwd=tmp_path)
    assert gated.returncode == 1
    assert "is below --fail-under 90%" in gated.stderr


def test_coverage_with_results_shows_pass_status(tmp_path: Path) -> None:
    """With a JUnit XML file from a real pytest run, each procedure shows how it fared."""
    write(tmp_path / "suite", "a.tapps.yaml", GOOD)
    write(tmp_path / "suite", "b.tapps.yaml", FAILING)
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tapps", "suite", "--junitxml=out.xml", "-q"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=120,
    )
    done = run_cli("scenario", "coverage", "suite", "--results", "out.xml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["procedure"]: row for row in json.loads(done.stdout)["rows"]}
    assert rows["Data Retention Policies > Metrics > Analytics history"]["status"] == "passed"
    assert rows["Data Retention Policies > Metrics > Performance metrics"]["status"] == "failed"
    assert json.loads(done.stdout)["covered"] == 1


def test_the_bundled_suite_covers_every_procedure(tmp_path: Path) -> None:
    """scenarios/ exercises 100% of the runbook's procedures."""
    done = run_cli("scenario", "coverage", str(BUNDLED), "--fail-under", "100", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr


def test_the_committed_mapping_is_what_coverage_prints() -> None:
    """docs/runbook-mapping.md (procedure -> scenarios) is kept in sync with the suite."""
    done = run_cli("scenario", "coverage", "--markdown", "scenarios/", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (ROOT / "docs" / "runbook-mapping.md").read_text(), (
        "docs/runbook-mapping.md is stale: run `tapps scenario coverage --markdown scenarios/ "
        "> docs/runbook-mapping.md`"
    )


#: An outline over two procedures: each row counts for its own.
OUTLINE = """\
name: a file <younger> old is kept
runbook: Data Retention Policies > <procedure>
given:
  files:
    - {path: <folder>/a.log, age: <younger>}
when:
  - cleanup: {dry_run: true}
then:
  plan: {<folder>/a.log: "keep: too new"}
examples:
  - {id: debug, procedure: Logs > Debug logs, folder: .tapps-agents/logs/debug, younger: 6d}
  - {id: app, procedure: Logs > Application logs, folder: .tapps-agents/logs/application,
     younger: 29d}
"""


def test_validate_counts_each_row_and_points_at_a_bad_one(tmp_path: Path) -> None:
    """Each row of an outline is a scenario; a bad cell is reported at its own line."""
    write(tmp_path / "suite", "a.tapps.yaml", OUTLINE)
    done = run_cli("scenario", "validate", "suite", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "1 file(s), 2 scenario(s): valid\n")
    write(tmp_path / "suite", "a.tapps.yaml", OUTLINE.replace("younger: 29d", "younger: 29"))
    done = run_cli("scenario", "validate", "suite", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [
        "suite/a.tapps.yaml:13: given.files.0.age: 29 has no unit; write a number with a unit: "
        "'90s', '15m', '12h', '40d' (ms, s, m, h, d, w)",
        "    younger: 29}",
    ]


def test_coverage_counts_each_row_for_its_own_procedure(tmp_path: Path) -> None:
    """A row's filled runbook: reference is what coverage maps, under the row's test name."""
    write(tmp_path / "suite", "a.tapps.yaml", OUTLINE)
    done = run_cli("scenario", "coverage", "suite", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["procedure"]: row["scenarios"] for row in json.loads(done.stdout)["rows"]}
    assert rows["Data Retention Policies > Logs > Debug logs"] == [
        {"file": "suite/a.tapps.yaml", "name": "a file 6d old is kept[debug]"}
    ]
    assert rows["Data Retention Policies > Logs > Application logs"] == [
        {"file": "suite/a.tapps.yaml", "name": "a file 29d old is kept[app]"}
    ]


def test_the_schema_takes_an_action_named_by_a_column(tmp_path: Path) -> None:
    """An outline may name its action by a column (`- <action>: {}`), as the loader takes it;
    an item key that is neither an action nor a <column> is still refused."""
    from pytest_tapps.scenario._load import load_file

    schema = json.loads(SCHEMA.read_text())
    doc = {
        "name": "<action> with nothing to do",
        "runbook": "Cleanup Tools > Usage > Dry run",
        "when": [{"<action>": {}}],
        "examples": [{"action": "cleanup"}, {"action": "worktree_prune"}],
    }
    jsonschema.validate(doc, schema)
    path = tmp_path / "outline.tapps.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert [list(s.data["when"][0]) for s in load_file(path)] == [["cleanup"], ["worktree_prune"]]
    for bad in ("<action", "clenaup", "<act ion>"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**doc, "when": [{bad: {}}]}, schema)


def test_the_schema_takes_an_outline_as_written() -> None:
    """Editors check an outline before it is filled: the schema has examples: and accepts a
    <column> wherever a value goes, and still refuses what is no placeholder."""
    from ruamel.yaml import YAML

    schema = json.loads(SCHEMA.read_text())
    table = YAML(typ="safe").load((BUNDLED / "retention" / "table.tapps.yaml").read_text())
    jsonschema.validate(table, schema)
    for bad in (
        {**table, "examples": []},
        {**table, "examples": [{"w/x": 1}]},
        {**table, "given": {"files": [{"path": "a", "age": "<younger"}]}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
