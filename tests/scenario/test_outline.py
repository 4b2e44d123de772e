"""Tests for pytest_tapps.scenario._outline: one scenario over a table of values (``examples:``)."""

from __future__ import annotations

import json
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.scenario import load_file, parse, run_scenario
from pytest_tapps.scenario._load import Origin
from pytest_tapps.scenario._outline import text_of
from pytest_tapps.scenario._run import ScenarioFailure
from pytest_tapps.scenario._targets import CoreTarget
from tests.scenario.helpers import WriteYaml, problems_of, write_yaml

ROOT = Path(__file__).resolve().parents[2]
NO_UNIT = "has no unit; write a number with a unit: '90s', '15m', '12h', '40d' (ms, s, m, h, d, w)"

#: Two rows of the retention table; the second row is written over two lines.
OUTLINE = """\
name: a file is kept at <younger> and deleted at <days>d
description: |
  Runbook "<procedure>": rm -rf <folder>/<library-id>
runbook: Data Retention Policies > <procedure>
given:
  files:
    - {path: <folder>/kept.log, age: <younger>}
    - {path: <folder>/expired.log, age: "<days>d"}
when:
  - cleanup: {dry_run: <dry>}
then:
  plan:
    <folder>/expired.log: "delete: older than <age>"
examples:
  - {id: debug_logs, procedure: Logs > Debug logs, folder: .tapps-agents/logs/debug,
     age: 7d, younger: 6d, days: 8, dry: true}
  - {id: application_logs, procedure: Logs > Application logs,
     folder: .tapps-agents/logs/application, age: 30d, younger: 29d, days: 31, dry: false}
"""

#: A small outline whose first row is on line 10: ``<age>`` fills an age, ``<word>`` a text.
SMALL = """\
name: case
runbook: Data Retention Policies > Logs > Debug logs
given:
  files:
    - {path: .tapps-agents/logs/debug/<word>.log, age: <age>}
when:
  - cleanup: {dry_run: true}
examples:
  - {word: a, age: 8d}
"""


def small(*rows: str) -> str:
    """:data:`SMALL` with more rows (lines 10, 11, ...)."""
    return SMALL + "".join(f"  - {row}\n" for row in rows)


# -- rows ----------------------------------------------------------------------------------------


def test_each_row_is_a_scenario_with_its_values_filled(write: WriteYaml) -> None:
    """Every placeholder is filled: in values and keys, in the name, the runbook reference and
    inside text; a whole placeholder keeps the cell's type; the rows start at their lines."""
    path = write(OUTLINE)
    debug, application = load_file(path)
    assert (debug.name, debug.line) == ("a file is kept at 6d and deleted at 8d[debug_logs]", 15)
    assert application.name == "a file is kept at 29d and deleted at 31d[application_logs]"
    assert application.line == 17
    assert debug.data["runbook"] == "Data Retention Policies > Logs > Debug logs"
    assert debug.data["given"]["files"] == [
        {"path": ".tapps-agents/logs/debug/kept.log", "age": "6d"},
        {"path": ".tapps-agents/logs/debug/expired.log", "age": "8d"},
    ]
    assert [row.data["when"] for row in (debug, application)] == [
        [{"cleanup": {"dry_run": True}}],
        [{"cleanup": {"dry_run": False}}],
    ]
    assert application.data["then"]["plan"] == {
        ".tapps-agents/logs/application/expired.log": "delete: older than 30d"
    }
    assert "examples" not in debug.data
    scenario = parse(debug.data)
    assert scenario.references == ["Data Retention Policies > Logs > Debug logs"]


def test_description_is_prose_where_an_unknown_word_stays(write: WriteYaml) -> None:
    """In description: the columns are filled and a <word> that is no column stays as written
    (the runbook's own commands quote <library-id>)."""
    debug, _ = load_file(write(OUTLINE))
    assert debug.data["description"] == (
        'Runbook "Logs > Debug logs": rm -rf .tapps-agents/logs/debug/<library-id>\n'
    )


def test_a_run_failure_points_at_the_template_line(write: WriteYaml, tmp_path: Path) -> None:
    """Without pytest each row runs as a scenario; a row whose expectation fails is reported at
    the template's line, with the row's filled values."""
    path = write(OUTLINE.replace("age: 7d, younger: 6d", "age: 6d, younger: 6d"))
    failures = []
    for index, loaded in enumerate(load_file(path)):
        try:
            run_scenario(
                loaded, parse(loaded.data), target=CoreTarget(), root=tmp_path / str(index)
            )
        except ScenarioFailure as failure:
            failures.append(str(failure))
    [report] = failures
    assert "scenario 'a file is kept at 6d and deleted at 8d[debug_logs]' failed" in report
    assert f"{path}:13: then.plan['.tapps-agents/logs/debug/expired.log']" in report
    assert '  13 | <folder>/expired.log: "delete: older than <age>"' in report
    assert "expected: delete: older than 6d\n    actual:   delete: older than 7d" in report


def test_every_row_runs_without_pytest(write: WriteYaml, tmp_path: Path) -> None:
    """load_file gives each row as a scenario that run_scenario runs: both rows pass."""
    results = [
        run_scenario(loaded, parse(loaded.data), target=CoreTarget(), root=tmp_path / str(i))
        for i, loaded in enumerate(load_file(write(OUTLINE)))
    ]
    assert [result.loaded.name for result in results] == [
        "a file is kept at 6d and deleted at 8d[debug_logs]",
        "a file is kept at 29d and deleted at 31d[application_logs]",
    ]


def test_the_id_is_the_values_joined_without_an_id_column(write: WriteYaml) -> None:
    """Without an id: column, a row's id is its values as text joined by '-' (pytest-bdd's)."""
    rows = load_file(write(small("{word: b, age: 9d}")))
    assert [row.name for row in rows] == ["case[a-8d]", "case[b-9d]"]


def test_an_outline_among_several_scenarios_fills_the_defaults_too(write: WriteYaml) -> None:
    """Defaults merge first, then each row fills the result; rows are on their own lines."""
    path = write(
        """\
        defaults:
          runbook: Data Retention Policies > Logs > <procedure>
          when:
            - cleanup: {dry_run: true}
        scenarios:
          - name: plain
            runbook: Data Retention Policies > Logs > Debug logs
            when:
              - advance: 1d
          - name: outlined
            given:
              files:
                - {path: .tapps-agents/logs/debug/x.log, age: <age>}
            examples:
              - {procedure: Debug logs, age: 8d}
              - {procedure: Application logs, age: 31}
        """
    )
    assert problems_of(path) == [
        f"{path}:16: given.files.0.age: 31 {NO_UNIT}\n"
        "    - {procedure: Application logs, age: 31}"
    ]
    write(path.read_text().replace("age: 31}", "age: 31d}"))
    plain, first, second = load_file(path)
    assert (plain.name, first.name, second.name) == (
        "plain",
        "outlined[Debug logs-8d]",
        "outlined[Application logs-31d]",
    )
    assert second.data["runbook"] == "Data Retention Policies > Logs > Application logs"
    assert (first.line, second.line) == (15, 16)
    assert second.written(["given", "files", 0, "age"]) == Origin(
        path,
        16,
        "- {procedure: Application logs, age: 31d}",
        ("scenarios", 1, "examples", 1, "age"),
    )


def test_a_whole_list_cell_fills_a_whole_value(write: WriteYaml) -> None:
    """A cell may be a list for a whole value; a problem inside it points at the cell."""
    path = write(
        """\
        name: case
        runbook: Data Retention Policies > Logs > Debug logs
        given:
          files: <files>
        examples:
          - id: two
            files:
              - {path: .tapps-agents/logs/debug/a.log, age: 8d}
              - {path: .tapps-agents/logs/debug/b.log, age: 8}
        """
    )
    assert problems_of(path) == [
        f"{path}:9: given.files.1.age: 8 {NO_UNIT}\n"
        "    - {path: .tapps-agents/logs/debug/b.log, age: 8}"
    ]


# -- a cell is checked as if written in the placeholder's place ----------------------------------


@pytest.mark.parametrize(
    ("cell", "field", "message"),
    [
        ("31", "given.files.0.age", f"31 {NO_UNIT}"),
        (
            '"31"',
            "given.files.0.age",
            "'31' is not a duration; write a number with a unit: "
            "'90s', '15m', '12h', '40d' (ms, s, m, h, d, w)",
        ),
        (
            "010",
            "examples.1.age",
            "010 has a leading zero, which YAML 1.1 reads as octal; write 10 or quote it",
        ),
        (
            "1:30",
            "examples.1.age",
            "'1:30' is a base-60 number in YAML 1.1; write a duration "
            "with a unit (90s) or quote it",
        ),
        (
            "no",
            "examples.1.age",
            "'no' is a boolean in YAML 1.1; write true/false, or quote it "
            "('no') if you mean the word",
        ),
    ],
)
def test_a_typed_cell_is_checked_as_a_literal_there(
    write: WriteYaml, cell: str, field: str, message: str
) -> None:
    """A cell filling a whole value is refused exactly as the same literal written there would
    be (durations need units, YAML 1.1 traps), once, at the row's line."""
    path = write(small(f"{{word: b, age: {cell}}}"))
    assert problems_of(path) == [f"{path}:10: {field}: {message}\n    - {{word: b, age: {cell}}}"]


def test_a_cell_inside_text_is_written_as_text(write: WriteYaml) -> None:
    """<days>d with a number cell is the text '8d', a valid duration."""
    path = write(SMALL.replace("age: <age>", 'age: "<age>d"').replace("age: 8d", "age: 8"))
    [row] = load_file(path)
    assert row.data["given"]["files"][0]["age"] == "8d"


@given(
    value=st.one_of(
        st.integers(min_value=-(10**12), max_value=10**12),
        st.booleans(),
        st.text(
            st.characters(
                blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                blacklist_characters="\ufeff\ufffe\uffff",
            ),
            min_size=1,
            max_size=20,
        ),
    )
)
def test_whole_placeholders_keep_the_value_and_text_takes_its_text(value: Any) -> None:
    """For any scalar cell: a whole placeholder gives the cell's value with its type; inside
    text it is the cell as text; a cell's own <...> is never filled again."""
    text = f"""\
name: case
runbook: Log and Trace Field Conventions > JSON Structured Logging
when:
  - log: {{message: m, fields: {{whole: <v>, inside: "[<v>]"}}}}
examples:
  - {{id: row, v: {json.dumps(value, ensure_ascii=False)}}}
"""
    with tempfile.TemporaryDirectory() as folder:
        [row] = load_file(write_yaml(Path(folder), text))
    fields = row.data["when"][0]["log"]["fields"]
    assert (fields["whole"], type(fields["whole"])) == (value, type(value))
    assert fields["inside"] == f"[{text_of(value)}]"


# -- problems of the table -----------------------------------------------------------------------


def test_an_unknown_placeholder_points_at_the_template(write: WriteYaml) -> None:
    """A placeholder naming no column is reported once, where it is written."""
    path = write(SMALL.replace("<word>.log", "<wrod>.log").replace("{word: a,", "{word: a,"))
    assert problems_of(path) == [
        f"{path}:5: given.files.0.path: unknown placeholder <wrod> (did you mean 'word'?); the "
        "columns of examples: are word, age\n"
        "    - {path: .tapps-agents/logs/debug/<wrod>.log, age: <age>}",
        f"{path}:9: examples.0.word: column 'word' is not used: write <word> where its value "
        "goes, or remove the column\n"
        "    - {word: a, age: 8d}",
    ]


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        pytest.param(
            "{age: 8d}",
            "examples.1",
            "no value for 'word', so <word> is left unfilled; every row has the first row's "
            "columns: word, age",
            id="missing column",
        ),
        pytest.param(
            "{word: b, agee: 8d, age: 8d}",
            "examples.1.agee",
            "column 'agee' is not in the first row (did you mean 'age'?); every row has the "
            "first row's columns: word, age",
            id="column not in the first row",
        ),
        pytest.param(
            "{word: [b], age: 8d}",
            "examples.1.word",
            "column 'word' holds a list, which cannot be part of the text "
            "'.tapps-agents/logs/debug/<word>.log'; write <word> alone as the whole value, or "
            "give the column text",
            id="list inside text",
        ),
        pytest.param(
            "{word: a, age: 8d}",
            "examples.1",
            "this row's id 'a-8d' is already the id of the row at line 9; give each row its own "
            "id (add an id: column to name each row)",
            id="same generated id",
        ),
    ],
)
def test_a_bad_row_is_refused_at_its_line(
    write: WriteYaml, row: str, field: str, message: str
) -> None:
    """A row missing a column (its placeholder left unfilled), a column the first row lacks, a
    list inside a text, an id another row has: each one problem at the row's line."""
    path = write(small(row))
    assert problems_of(path) == [f"{path}:10: {field}: {message}\n    - {row}"]


def test_row_ids_must_be_unique(write: WriteYaml) -> None:
    """Two rows with one id would be one test name: the second is refused."""
    path = write(SMALL.replace("{word: a,", "{id: x, word: a,") + "  - {id: x, word: b, age: 9d}\n")
    assert problems_of(path) == [
        f"{path}:10: examples.1.id: this row's id 'x' is already the id of the row at line 9; "
        "give each row its own id\n"
        "    - {id: x, word: b, age: 9d}"
    ]


@pytest.mark.parametrize(
    ("table", "field", "message", "source"),
    [
        (
            "examples: []",
            "examples",
            "write a list of rows, each a mapping of column: value, e.g. '- {id: a, age: 8d}'",
            "examples: []",
        ),
        (
            "examples:\n  - debug",
            "examples.0",
            "each row is a mapping of column: value, e.g. '- {id: debug, age: 8d}'",
            "- debug",
        ),
        (
            "examples:\n  - {id: [a], word: a, age: 8d}",
            "examples.0.id",
            "write the row's id as text, e.g. 'debug-logs' (got ['a'])",
            "- {id: [a], word: a, age: 8d}",
        ),
        (
            "examples:\n  - {w/x: a, word: a, age: 8d}",
            "examples.0.w/x",
            "'w/x' cannot be a column: a column is a word of letters, digits, _ and - (it is "
            "written <name> where its value goes)",
            "- {w/x: a, word: a, age: 8d}",
        ),
    ],
)
def test_a_malformed_table_says_how_to_write_it(
    write: WriteYaml, table: str, field: str, message: str, source: str
) -> None:
    """Not a list, a row that is not a mapping, an id that is not text, a column that cannot be
    written as a placeholder: each one problem at its line."""
    text = SMALL.split("examples:", maxsplit=1)[0] + table + "\n"
    path = write(text)
    line = next(n for n, written in enumerate(text.splitlines(), 1) if source in written)
    assert problems_of(path) == [f"{path}:{line}: {field}: {message}\n    {source}"]


def test_a_key_filled_twice_in_a_row_is_refused(write: WriteYaml) -> None:
    """Two keys that become one once filled would lose a value: refused at the row."""
    path = write(
        """\
        name: case
        runbook: Data Retention Policies > Logs > Debug logs
        when:
          - cleanup: {dry_run: true}
        then:
          plan: {"<a>.log": keep, "<b>.log": keep}
        examples:
          - {a: x, b: x}
        """
    )
    assert problems_of(path) == [
        f"{path}:8: examples.0: the key 'x.log' is written twice in this row once its "
        "placeholders are filled\n"
        "    - {a: x, b: x}"
    ]


# -- the bundled suite ---------------------------------------------------------------------------


def test_the_bundled_retention_table_is_one_outline_row_per_category() -> None:
    """scenarios/retention/table.tapps.yaml gives one scenario per file category of the
    runbook's retention table, each counted for its own procedure."""
    rows = load_file(ROOT / "scenarios" / "retention" / "table.tapps.yaml")
    procedures = {row.name.rpartition("[")[2].rstrip("]"): parse(row.data).runbook for row in rows}
    assert procedures == {
        "quality_reports": "Data Retention Policies > Artifacts > Quality reports",
        "test_results": "Data Retention Policies > Artifacts > Test results",
        "documentation_artifacts": "Data Retention Policies > Artifacts > Documentation artifacts",
        "application_logs": "Data Retention Policies > Logs > Application logs",
        "structured_logs": "Data Retention Policies > Logs > Structured logs (JSON)",
        "debug_logs": "Data Retention Policies > Logs > Debug logs",
        "analytics_history": "Data Retention Policies > Metrics > Analytics history",
        "performance_metrics": "Data Retention Policies > Metrics > Performance metrics",
        "confidence_metrics": "Data Retention Policies > Metrics > Confidence metrics",
    }


def test_text_of_writes_cells_as_yaml_would() -> None:
    """Booleans as true/false, numbers as written, no text for a list or mapping."""
    assert [text_of(v) for v in (True, False, 3, 1.5, "x", [1], {"a": 1})] == [
        "true",
        "false",
        "3",
        "1.5",
        "x",
        None,
        None,
    ]


def test_a_description_placeholder_counts_as_a_use(write: WriteYaml) -> None:
    """A column used only in the description is used (it is filled there)."""
    text = textwrap.dedent(SMALL).replace("name: case\n", "name: case\ndescription: <note>\n")
    path = write(text.replace("{word: a, age: 8d}", "{word: a, age: 8d, note: why}"))
    [row] = load_file(path)
    assert row.data["description"] == "why"
