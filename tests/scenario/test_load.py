"""Tests for pytest_tapps.scenario._load: strict YAML, defaults and includes, every problem."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.scenario._load import (
    Loaded,
    Origin,
    ScenarioFileError,
    load_file,
    merge,
    parse,
    scenario_paths,
)
from pytest_tapps.scenario._model import ACTIONS, FAULTS, FailedResultFault, action_value
from tests.scenario.helpers import EXAMPLE, WriteYaml, exactly, problems_of

RUNBOOK = "Retry/Timeout Handling > Automatic Retries > Stop after max_attempts"
BOOLEAN = "{!r} is a boolean in YAML 1.1; write true/false, or quote it ('{}') if you mean the word"
SEXAGESIMAL = "{!r} is a base-60 number in YAML 1.1; write a duration with a unit (90s) or quote it"
EMPTY = "empty value; write a value, or remove the key"
ACTION_LIST = ", ".join(ACTIONS)
FAULT_LIST = ", ".join(FAULTS)


def minimal(body: str = "") -> str:
    """A valid scenario's name and runbook, then ``body`` (dedented)."""
    return f"name: case\nrunbook: {RUNBOOK}\n" + textwrap.dedent(body)


# -- valid files ---------------------------------------------------------------------------------


def test_a_valid_scenario_loads_with_its_origins(write: WriteYaml) -> None:
    """A file holding one scenario gives one Loaded, starting at line 1, each value with its
    line and source line."""
    path = write(EXAMPLE)
    [loaded] = load_file(path)
    assert loaded.name == "critical step times out three times and lands in the DLQ"
    assert (loaded.path, loaded.line) == (path, 1)
    assert loaded.data["now"] == "2026-01-15T10:30:00Z"
    assert loaded.origin(["then", "elapsed"]) == Origin(
        path, 19, "elapsed: 915s", ("then", "elapsed")
    )
    assert parse(loaded.data).then.elapsed == 915.0


def test_origin_falls_back_to_the_nearest_written_parent(write: WriteYaml) -> None:
    """A location pydantic invents (a missing key) points at the value that holds it."""
    [loaded] = load_file(write(EXAMPLE))
    assert loaded.origin(["then", "steps", "critical-step", "error"]).line == 18
    assert loaded.origin(["nowhere"]).line == 1


def test_quoted_words_are_strings_where_a_string_is_allowed(write: WriteYaml) -> None:
    """Quoting opts out of the YAML 1.1 traps: 'no', '010' and '1:30' are plain strings."""
    path = write(minimal("description: 'no'\nmarks: ['010', \"1:30\", 'on']\n"))
    [loaded] = load_file(path)
    assert loaded.data["description"] == "no"
    assert loaded.data["marks"] == ["010", "1:30", "on"]


def test_real_booleans_and_plain_numbers_are_accepted(write: WriteYaml) -> None:
    """true/false and numbers without a leading zero are what they look like."""
    path = write(
        minimal("when:\n  - cleanup: {dry_run: true}\n  - command: x\nthen:\n  exit_code: 0\n")
    )
    [loaded] = load_file(path)
    assert loaded.data["when"][0] == {"cleanup": {"dry_run": True}}
    assert loaded.data["then"]["exit_code"] == 0


# -- strict YAML ---------------------------------------------------------------------------------


def test_a_leading_zero_is_refused_with_the_line(write: WriteYaml) -> None:
    """``010`` (octal 8 in YAML 1.1, 10 in 1.2) is refused: FILE:LINE: field: message, source."""
    path = write(minimal("when:\n  - command: x\nthen:\n  exit_code: 010\n"))
    assert problems_of(path) == [
        f"{path}:6: then.exit_code: 010 has a leading zero, which YAML 1.1 reads as octal; "
        "write 10 or quote it\n    exit_code: 010"
    ]


def test_a_leading_zero_in_a_flow_list_is_refused(write: WriteYaml) -> None:
    """The leading zero is found inside ``[...]`` too, and named without the bracket."""
    path = write(minimal("faults:\n  - step_timeout: {step: s, attempts: [01, 2]}\n"))
    assert problems_of(path)[0] == (
        f"{path}:4: faults.0.step_timeout.attempts.0: 01 has a leading zero, which YAML 1.1 "
        "reads as octal; write 1 or quote it\n    - step_timeout: {step: s, attempts: [01, 2]}"
    )


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "Yes", "OFF", "y", "N"])
def test_yaml11_booleans_are_refused_unquoted(write: WriteYaml, word: str) -> None:
    """``dry_run: no`` is a string in YAML 1.2 and a boolean in 1.1: refused either way."""
    path = write(minimal(f"when:\n  - cleanup: {{dry_run: {word}}}\n"))
    assert problems_of(path) == [
        f"{path}:4: when.0.cleanup.dry_run: {BOOLEAN.format(word, word)}\n"
        f"    - cleanup: {{dry_run: {word}}}"
    ]


@pytest.mark.parametrize("value", ["1:30", "12:30:00", "-1:30"])
def test_sexagesimal_numbers_are_refused(write: WriteYaml, value: str) -> None:
    """``1:30`` (90 in YAML 1.1) is refused with the duration to write instead."""
    path = write(minimal(f"when:\n  - advance: {value}\n"))
    assert problems_of(path) == [
        f"{path}:4: when.0.advance: {SEXAGESIMAL.format(value)}\n    - advance: {value}"
    ]


@pytest.mark.parametrize("empty", ["", " ~", " null"])
def test_an_empty_value_is_refused(write: WriteYaml, empty: str) -> None:
    """``key:`` with nothing after it is an error, not None."""
    path = write(minimal(f"description:{empty}\n"))
    assert problems_of(path) == [f"{path}:3: description: {EMPTY}\n    description:{empty}"]


def test_an_empty_list_item_is_refused(write: WriteYaml) -> None:
    """``- `` with nothing after it is an error too."""
    path = write(minimal("marks:\n  -\n"))
    assert problems_of(path) == [f"{path}:4: marks.0: {EMPTY}\n    -"]


def test_every_duplicate_key_is_refused_with_its_field(write: WriteYaml) -> None:
    """A key written twice is reported where it repeats, with the line of the first, and so
    is every other duplicate and problem of the file."""
    path = write(
        minimal(
            """\
            then:
              exit_code: 0
              exit_code: 1
            name: again
            when:
              - cleanup: {dry_run: true, dry_run: false}
              - advance: 5
            """
        )
    )
    assert problems_of(path) == [
        f"{path}:5: then.exit_code: duplicate key 'exit_code' (first at line 4); each key may appear once\n    exit_code: 1",
        f"{path}:6: name: duplicate key 'name' (first at line 1); each key may appear once\n    name: again",
        f"{path}:8: when.0.cleanup.dry_run: duplicate key 'dry_run' (first at line 8); each key may appear once\n    - cleanup: {{dry_run: true, dry_run: false}}",
        f"{path}:9: when.1.advance: 5 has no unit; write a number with a unit: '90s', '15m', '12h', '40d' (ms, s, m, h, d, w)\n    - advance: 5",
    ]


def test_a_yaml_syntax_error_is_one_problem_with_its_line(write: WriteYaml) -> None:
    """Invalid YAML cannot be read further: one problem, at the line the parser stopped,
    with the line as written."""
    path = write(minimal("when: [run: x\nthen: {}\n"))
    assert problems_of(path) == [
        f"{path}:4: the '[' opened on line 3 is not closed before this line (or a ',' is "
        "missing between its entries)\n    then: {}"
    ]


INDENTED_DEEPER = (
    "indentation: this line is indented more than line {}, so YAML reads it as part of that "
    "line's value; keys of one mapping start in the same column"
)


@pytest.mark.parametrize(
    ("body", "line", "message", "source"),
    [
        (
            "given:\n  files:\n    - path: a.log\n       age: 1d\n",
            6,
            INDENTED_DEEPER.format(5),
            "       age: 1d",
        ),
        (
            "given:\n  files:\n    - path: a.log\n    age: 1d\n",
            6,
            "indentation: this line is at the column of the list above (line 5) but is not an "
            "item of it; indent it under its item, or start it with '- '",
            "    age: 1d",
        ),
        (
            "given:\n  files: []\n retention: {}\n",
            5,
            "indentation: this line does not line up with the keys of the mapping above it "
            "(line 1); keys of one mapping start in the same column",
            " retention: {}",
        ),
        (
            "when:\n  - cleanup: {}\n - advance: 1d\n",
            5,
            "indentation: this list item ('- ') does not line up with the items above it, or "
            "follows a key that already has a value",
            " - advance: 1d",
        ),
        (
            "given:\n\tfiles: []\n",
            4,
            "a tab character (column 1); YAML indents and separates with spaces only: replace "
            "the tab with spaces",
            "\\tfiles: []",
        ),
        (
            "then: {}\n---\nname: second\n",
            4,
            "a second YAML document starts here; the file holds one document: several "
            "scenarios go in one list under scenarios:",
            "---",
        ),
        (
            "description: Logs > Debug: old\n",
            3,
            "this value contains ': ', which YAML reads as another key; put the whole value in "
            'quotes: "Logs > Debug: old"',
            "description: Logs > Debug: old",
        ),
        (
            "given\nthen: {}\n",
            3,
            "this line has no ':' after its key; write 'key: value'",
            "given",
        ),
        (
            "when:\n  -cleanup: {}\n  -advance\n",
            5,
            "a list item starts with '- ' (a dash, then a space)",
            "  -advance",
        ),
        (
            'description: "never closed\nthen: {}\n',
            3,
            "a quote opened on this line is never closed; close it",
            'description: "never closed',
        ),
    ],
)
def test_yaml_mistakes_are_said_in_plain_words(
    write: WriteYaml, body: str, line: int, message: str, source: str
) -> None:
    """Indentation, a tab, a second document, a ': ' in a value, a missing ':' or space,
    an open quote: each is said in words a QA engineer knows, at the line to fix, with
    that line as written (its indentation shows), never the parser's own terms."""
    path = write(minimal(body))
    assert problems_of(path) == [f"{path}:{line}: {message}\n    {source}"]


def test_every_bad_field_of_a_retry_block_is_reported_at_once(write: WriteYaml) -> None:
    """A retry: block with four mistakes gives four problems, one per field, each naming the
    field and the rule (not only the first one)."""
    path = write(
        minimal(
            """\
            given:
              workflows:
                - id: wf
                  steps:
                    - id: s
                      retry:
                        max_attempts: 0
                        backoff_strategy: exponental
                        jitter: ful
                        initial_dealy: 5
            """
        )
    )
    retry = "given.workflows.0.steps.0.retry"
    assert problems_of(path) == [
        f"{path}:9: {retry}.max_attempts: must be >= 1 (it counts the first attempt; 1 means no retry), got 0\n    max_attempts: 0",
        f"{path}:10: {retry}.backoff_strategy: 'exponental' is not one of 'exponential', 'linear', 'fixed'\n    backoff_strategy: exponental",
        f"{path}:11: {retry}.jitter: 'ful' is not one of 'none', 'full', 'equal', 'decorrelated'\n    jitter: ful",
        f"{path}:12: {retry}.initial_dealy: unknown key (did you mean 'initial_delay'?)\n    initial_dealy: 5",
    ]


def test_a_yaml_trap_in_a_retry_block_is_one_problem(write: WriteYaml) -> None:
    """``jitter: no`` and ``max_delay: 1:30`` in a retry: block are each reported once, as the
    YAML 1.1 trap they are, not again as a bad value of the field."""
    path = write(
        minimal(
            """\
            given:
              workflows:
                - id: wf
                  steps:
                    - id: s
                      retry: {max_attempts: 2, jitter: no, max_delay: 1:30}
            """
        )
    )
    retry = "given.workflows.0.steps.0.retry"
    line = "    retry: {max_attempts: 2, jitter: no, max_delay: 1:30}"
    assert problems_of(path) == [
        f"{path}:8: {retry}.jitter: 'no' is a boolean in YAML 1.1; write true/false, or quote it ('no') if you mean the word\n{line}",
        f"{path}:8: {retry}.max_delay: '1:30' is a base-60 number in YAML 1.1; write a duration with a unit (90s) or quote it\n{line}",
    ]


def test_a_retry_block_whose_cap_is_below_its_first_wait_points_at_the_block(
    write: WriteYaml,
) -> None:
    """initial_delay above the default cap (60 s) is one problem at max_delay, reported at the
    retry: line when max_delay is not written."""
    path = write(
        minimal(
            """\
            given:
              workflows:
                - id: wf
                  steps:
                    - id: s
                      retry: {initial_delay: 2m}
            """
        )
    )
    assert problems_of(path) == [
        f"{path}:8: given.workflows.0.steps.0.retry.max_delay: must be >= initial_delay "
        "(120.0), got 60.0 (the default: write a max_delay)\n    retry: {initial_delay: 2m}"
    ]


def test_a_misspelt_required_key_is_one_problem(write: WriteYaml) -> None:
    """``nmae:`` is one problem, the unknown key with its suggestion, not a second one saying
    name: is missing; the same inside an action (``workflw:`` of run)."""
    path = write(f"nmae: case\nrunbook: {RUNBOOK}\nwhen:\n  - run: {{workflw: w}}\n")
    assert problems_of(path) == [
        f"{path}:1: nmae: unknown key (did you mean 'name'?)\n    nmae: case",
        f"{path}:4: when.0.run.workflw: unknown key (did you mean 'workflow'?)\n    - run: {{workflw: w}}",
    ]


def test_a_missing_key_without_a_near_miss_is_still_required(write: WriteYaml) -> None:
    """An unknown key far from the missing one does not hide the missing one."""
    path = write(f"runbook: {RUNBOOK}\nzzz: 1\n")
    assert problems_of(path) == [
        f"{path}:1: name: required; add it",
        f"{path}:2: zzz: unknown key\n    zzz: 1",
    ]


def test_a_number_in_quotes_says_the_quotes_are_the_problem(write: WriteYaml) -> None:
    """``"3"`` where a number belongs is refused because of its quotes, wherever it is:
    in a retry block, a step timeout, an expectation, a fault's attempts. A quoted number
    that would be wrong without quotes too (a duration needs a unit) keeps its own message."""
    path = write(
        minimal(
            """\
            given:
              workflows:
                - id: wf
                  steps:
                    - {id: s, retry: {max_attempts: "3"}, timeout: "300"}
            faults:
              - step_timeout: {step: s, attempts: "2"}
            when:
              - run: wf
              - advance: "300"
            then:
              exit_code: "1"
            """
        )
    )
    quoted = "'{0}' is in quotes, which makes it text, not a number; write {0} without quotes"
    step = '    - {id: s, retry: {max_attempts: "3"}, timeout: "300"}'
    assert problems_of(path) == [
        f"{path}:7: given.workflows.0.steps.0.retry.max_attempts: {quoted.format(3)}\n{step}",
        f"{path}:7: given.workflows.0.steps.0.timeout: {quoted.format(300)}\n{step}",
        f'{path}:9: faults.0.step_timeout.attempts: {quoted.format(2)}\n    - step_timeout: {{step: s, attempts: "2"}}',
        f"{path}:12: when.1.advance: '300' is not a duration; write a number with a unit: '90s', '15m', '12h', '40d' (ms, s, m, h, d, w)\n    - advance: \"300\"",
        f'{path}:14: then.exit_code: {quoted.format(1)}\n    exit_code: "1"',
    ]


UNSAFE = "must not contain '/' or '\\' (it names one folder or file, not a path)"


@pytest.mark.parametrize(
    ("body", "line", "field", "message"),
    [
        (
            "faults:\n  - corrupt_cache_entry: {library: ../etc}\n",
            4,
            "faults.0.corrupt_cache_entry.library",
            f"library id '../etc' {UNSAFE}",
        ),
        (
            "faults:\n  - stuck_worktree: {name: ../wt}\n",
            4,
            "faults.0.stuck_worktree.name",
            f"worktree name '../wt' {UNSAFE}",
        ),
        (
            "faults:\n  - crash_during_write: {workflow: a/b}\n",
            4,
            "faults.0.crash_during_write.workflow",
            f"workflow id 'a/b' {UNSAFE}",
        ),
        (
            "when:\n  - inject: {corrupt_cache_entry: {library: ..}}\n",
            4,
            "when.0.inject.corrupt_cache_entry.library",
            "library id '..' must not contain '..'",
        ),
        ("when:\n  - hold_lock: ../wf\n", 4, "when.0.hold_lock", f"workflow id '../wf' {UNSAFE}"),
        (
            "given:\n  states:\n    - id: ../wf\n",
            5,
            "given.states.0.id",
            f"workflow id '../wf' {UNSAFE}",
        ),
        (
            "given:\n  locks:\n    - {workflow: .}\n",
            5,
            "given.locks.0.workflow",
            "workflow id '.' must not be empty or '.'",
        ),
        (
            "given:\n  worktrees:\n    - {name: C:wt}\n",
            5,
            "given.worktrees.0.name",
            "worktree name 'C:wt' must not be an absolute path",
        ),
        (
            "given:\n  tiered:\n    - {name: a/b.json}\n",
            5,
            "given.tiered.0.name",
            f"file name 'a/b.json' {UNSAFE}",
        ),
        (
            "given:\n  context7:\n    - {library: r, documents: {../x.md: a, meta.json: b, sub/ok.md: c}}\n",
            5,
            "given.context7.0.documents",
            "document name(s) '../x.md', 'meta.json': write a path of plain names inside the "
            "entry (no '..', no leading '/', not meta.json)",
        ),
    ],
)
def test_unsafe_names_are_refused_at_load(
    write: WriteYaml, body: str, line: int, field: str, message: str
) -> None:
    """A name that would become a path component (fault, given item, harness action) goes
    through the core's safe_name when the file is read: an invalid file with its line, never
    a traceback at run time."""
    path = write(minimal(body))
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:{line}: {field}: {message}\n")


@pytest.mark.parametrize(
    ("value", "tag"),
    [("!!binary aGVsbG8=", "!!binary"), ("!custom x", "!custom"), ("!!set {a, b}", "!!set")],
)
def test_yaml_tags_are_refused_instead_of_crashing(write: WriteYaml, value: str, tag: str) -> None:
    """A tag that makes bytes, a set or a custom object is a reported problem, not a
    traceback (they cannot become scenario values)."""
    path = write(minimal(f"description: {value}\n"))
    assert problems_of(path) == [
        f"{path}:3: description: the YAML tag {tag} is not supported; write a plain string, "
        f"number, list or mapping\n    description: {value}"
    ]


def test_an_explicit_str_tag_is_a_string(write: WriteYaml) -> None:
    """``!!str 010`` is the string '010', like a quoted value."""
    [loaded] = load_file(write(minimal("description: !!str 010\n")))
    assert loaded.data["description"] == "010"


def test_a_date_is_read_as_its_iso_text(write: WriteYaml) -> None:
    """A bare date (YAML makes it a date object) is text where text is allowed, and a
    timestamp without a zone for ``now`` (reported, not a crash)."""
    [loaded] = load_file(write(minimal("description: 2026-01-15\n")))
    assert loaded.data["description"] == "2026-01-15"
    path = write(minimal("now: 2026-01-15\n"), "now.tapps.yaml")
    assert problems_of(path) == [
        f"{path}:3: now: 2026-01-15 has no time zone; add Z (UTC) or an offset such as +02:00\n"
        "    now: 2026-01-15"
    ]


def test_a_naive_now_is_refused_with_the_fix(write: WriteYaml) -> None:
    """``now`` without a zone is refused at its line, saying to add Z or an offset."""
    path = write(minimal("now: 2026-01-15T10:30:00\n"))
    assert problems_of(path) == [
        f"{path}:3: now: 2026-01-15T10:30:00 has no time zone; add Z (UTC) or an offset such as "
        "+02:00\n    now: 2026-01-15T10:30:00"
    ]


@pytest.mark.parametrize(
    ("written", "offset"),
    [
        ("2026-01-15T10:30:00+02:00", 7200),
        ("2026-01-15 10:30:00 +02:00", 7200),
        ("2026-01-15T10:30:00Z", 0),
    ],
)
def test_now_keeps_its_zone(write: WriteYaml, written: str, offset: int) -> None:
    """A timestamp YAML reads itself keeps the zone it was written with."""
    [loaded] = load_file(write(minimal(f"now: {written}\n")))
    now = parse(loaded.data).now
    assert now is not None
    assert now.utcoffset() is not None
    assert now.utcoffset().total_seconds() == offset  # type: ignore[union-attr]


def test_a_merge_key_does_not_crash_the_checks(write: WriteYaml) -> None:
    """Keys merged in with ``<<:`` are read, checked and reported where they are written."""
    path = write(minimal("base: &base {dry_run: true}\n"), "anchors.tapps.yaml")
    assert problems_of(path) == [f"{path}:3: base: unknown key\n    base: &base {{dry_run: true}}"]
    [loaded] = load_file(write(minimal("<<: {fs: fake, description: merged}\n")))
    assert (loaded.data["fs"], loaded.data["description"]) == ("fake", "merged")
    path = write(minimal("<<: {fs: fake, zzz: 1}\n"), "merged.tapps.yaml")
    assert problems_of(path) == [f"{path}:3: zzz: unknown key\n    <<: {{fs: fake, zzz: 1}}"]
    path = write(minimal("when: [command: x]\nthen:\n  <<: {exit_code: 010}\n"), "deep.tapps.yaml")
    assert problems_of(path) == [
        f"{path}:5: then.exit_code: 010 has a leading zero, which YAML 1.1 reads as octal; "
        "write 10 or quote it\n    <<: {exit_code: 010}"
    ]


def test_a_number_as_key_points_at_its_own_line(write: WriteYaml) -> None:
    """An unknown key YAML reads as a number is reported at its line, not the file's first."""
    path = write(minimal("1: x\n"))
    assert problems_of(path) == [f"{path}:3: 1: unknown key\n    1: x"]


# -- every problem at once -----------------------------------------------------------------------

MANY = f"""\
name: many problems
runbook: {RUNBOOK}
desciption: typo
fs: fake
given:
  files:
    - {{path: /etc/passwd, age: 010}}
  worktrees:
    - {{name: w1, git: yes}}
faults:
  - step_timout: s
  - hang: s
    flaky: s
when:
  - advance: 1:30
  - runn: w
then:
  stauts: failed
  exit_code:
"""


def test_every_problem_is_reported_at_once_sorted_by_line(write: WriteYaml) -> None:
    """One ScenarioFileError lists the strict-YAML and the schema problems of the whole file,
    by line, each once."""
    path = write(MANY)
    with pytest.raises(ScenarioFileError) as caught:
        load_file(path)
    problems = caught.value.problems
    assert [(p.line, p.field) for p in problems] == [
        (3, "desciption"),
        (7, "given.files.0.age"),
        (7, "given.files.0.path"),
        (9, "given.worktrees.0.git"),
        (11, "faults.0"),
        (12, "faults.1"),
        (15, "when.0.advance"),
        (16, "when.1"),
        (18, "then.stauts"),
        (19, "then.exit_code"),
    ]
    assert str(caught.value) == "\n".join(str(p) for p in problems)
    assert str(problems[2]) == (
        f"{path}:7: given.files.0.path: '/etc/passwd': write a path relative to the project "
        "root, e.g. .tapps-agents/x\n    - {path: /etc/passwd, age: 010}"
    )


def test_unknown_keys_suggest_the_closest_known_one(write: WriteYaml) -> None:
    """Unknown keys at the top, nested, inside an action and inside a workflow step name the
    key they were probably meant to be."""
    path = write(
        minimal(
            """\
            desciption: x
            given:
              workflows:
                - id: w
                  steps: [{id: s, agnt: implementer}]
            faults:
              - step_timeout: {step: s, atempts: all}
            when:
              - run: {workflow: w, sed: 1}
            then:
              logs: {every_record_hass: [workflow_id]}
            """
        )
    )
    assert problems_of(path) == [
        f"{path}:3: desciption: unknown key (did you mean 'description'?)\n    desciption: x",
        f"{path}:7: given.workflows.0.steps.0.agnt: unknown key (did you mean 'agent'?)\n    steps: [{{id: s, agnt: implementer}}]",
        f"{path}:9: faults.0.step_timeout.atempts: unknown key (did you mean 'attempts'?)\n    - step_timeout: {{step: s, atempts: all}}",
        f"{path}:11: when.0.run.sed: unknown key (did you mean 'seed'?)\n    - run: {{workflow: w, sed: 1}}",
        f"{path}:13: then.logs.every_record_hass: unknown key (did you mean 'every_record_has'?)\n    logs: {{every_record_hass: [workflow_id]}}",
    ]


def test_an_unknown_key_without_a_close_match_says_so_plainly(write: WriteYaml) -> None:
    """No suggestion when nothing is close."""
    path = write(minimal("zzz: 1\n"))
    assert problems_of(path) == [f"{path}:3: zzz: unknown key\n    zzz: 1"]


def test_unknown_actions_and_faults_list_the_known_ones(write: WriteYaml) -> None:
    """An unknown item name gets a suggestion and the list of every name the format knows."""
    path = write(minimal("faults:\n  - step_timout: s\nwhen:\n  - runn: w\n  - zzz: 1\n"))
    assert problems_of(path) == [
        f"{path}:4: faults.0: unknown fault 'step_timout' (did you mean 'step_timeout'?); faults: {FAULT_LIST}\n    - step_timout: s",
        f"{path}:6: when.0: unknown action 'runn' (did you mean 'run'?); actions: {ACTION_LIST}\n    - runn: w",
        f"{path}:7: when.1: unknown action 'zzz'; actions: {ACTION_LIST}\n    - zzz: 1",
    ]


def test_an_item_with_two_keys_asks_for_one_action_per_item(write: WriteYaml) -> None:
    """A forgotten ``- `` joins two actions into one mapping: say so."""
    path = write(minimal("when:\n  - run: w\n    resume: w\n"))
    assert problems_of(path) == [
        f"{path}:4: when.0: one action per list item, found several keys (run, resume); start each with '- '\n    - run: w"
    ]


def test_an_item_that_is_not_a_mapping_shows_the_shape(write: WriteYaml) -> None:
    """A bare string in when: is refused with an example item."""
    path = write(minimal("when:\n  - w\n"))
    assert problems_of(path) == [
        f"{path}:4: when.0: write each action as a one-key mapping, e.g. '- run: ...'\n    - w"
    ]


def test_a_union_error_names_the_field_not_the_member_type(write: WriteYaml) -> None:
    """``error: timeot`` (a category or an envelope) is one problem at ``...error``, without
    pydantic's member names in the field path."""
    path = write(minimal("when: [{command: x}]\nthen:\n  steps: {s: {error: timeot}}\n"))
    assert problems_of(path) == [
        f"{path}:5: then.steps.s.error: write 'configuration', 'external_dependency', "
        "'validation', 'execution', 'permission' or 'timeout'\n    steps: {s: {error: timeot}}"
    ]


def test_a_missing_required_key_says_to_add_it(write: WriteYaml) -> None:
    """A scenario without a name is told to add one, at the top of the scenario."""
    path = write(f"runbook: {RUNBOOK}\n")
    assert problems_of(path) == [f"{path}:1: name: required; add it"]


def test_a_runbook_error_is_reported_even_when_the_scenario_is_invalid(write: WriteYaml) -> None:
    """A wrong reference and a schema problem are both reported in one go."""
    path = write(
        "name: x\nrunbook: [Retry/Timeout Handling > Automatic Retries > Stop after max_attempts, nope]\n"
        "then: {stauts: failed}\n"
    )
    assert problems_of(path) == [
        f"{path}:2: runbook.1: 'nope' is not a runbook procedure; `tapps scenario coverage` lists them all\n"
        "    runbook: [Retry/Timeout Handling > Automatic Retries > Stop after max_attempts, nope]",
        f"{path}:3: then.stauts: unknown key (did you mean 'status'?)\n    then: {{stauts: failed}}",
    ]


def test_cross_check_problems_carry_their_line(write: WriteYaml) -> None:
    """Problems found across parts (a run of an unknown workflow) point at the action."""
    path = write(minimal("when:\n  - run: workflow-12\n"))
    assert problems_of(path) == [
        f"{path}:4: when.0.run: no workflow 'workflow-12' in given.workflows; a run needs its definition there\n    - run: workflow-12"
    ]


# -- files of several scenarios ------------------------------------------------------------------


def test_several_scenarios_share_defaults(write: WriteYaml) -> None:
    """Under defaults: mappings merge, lists extend and scalars replace; each scenario starts
    at its own line."""
    path = write(
        f"""\
        defaults:
          runbook: {RUNBOOK}
          fs: fake
          given:
            workflows: [{{id: w, steps: [{{id: s}}]}}]
          marks: [slow]
          when:
            - run: w
        scenarios:
          - name: first
          - name: second
            fs: real
            given:
              states: [{{id: w}}]
            marks: [flaky]
            when:
              - resume: w
        """
    )
    first, second = load_file(path)
    assert (first.name, first.line, second.name, second.line) == ("first", 10, "second", 11)
    assert first.data["fs"] == "fake"
    assert second.data["fs"] == "real"
    assert second.data["given"] == {
        "workflows": [{"id": "w", "steps": [{"id": "s"}]}],
        "states": [{"id": "w"}],
    }
    assert second.data["marks"] == ["slow", "flaky"]
    assert second.data["when"] == [{"run": "w"}, {"resume": "w"}]
    assert second.origin(["when", 0]).line == 8
    assert second.origin(["when", 1]).line == 17


def test_a_problem_after_a_default_list_points_at_the_scenario_line(write: WriteYaml) -> None:
    """A scenario's own list item keeps its line though defaults come before it in the list."""
    path = write(
        f"""\
        defaults:
          runbook: {RUNBOOK}
          when: [{{command: a}}, {{command: b}}]
        scenarios:
          - name: one
            when:
              - advance: 5
        """
    )
    assert problems_of(path) == [
        f"{path}:7: when.2.advance: 5 has no unit; write a number with a unit: '90s', '15m', '12h', '40d' (ms, s, m, h, d, w)\n    - advance: 5"
    ]


def test_included_fragments_merge_before_defaults(write: WriteYaml) -> None:
    """Fragments (relative to the file) come first, then defaults, then the scenario."""
    write("given:\n  workflows: [{id: w, steps: [{id: s}]}]\nfs: fake\n", "parts/tree.yaml")
    path = write(
        f"""\
        include: [parts/tree.yaml]
        defaults:
          runbook: {RUNBOOK}
          fs: real
        scenarios:
          - name: one
            when: [run: w]
        """
    )
    [loaded] = load_file(path)
    assert loaded.data["fs"] == "real"
    assert loaded.data["given"]["workflows"][0]["id"] == "w"
    assert loaded.origin(["given", "workflows", 0]).path == path.parent / "parts/tree.yaml"


def test_a_problem_in_a_fragment_points_into_the_fragment(write: WriteYaml) -> None:
    """A wrong value that came from a fragment is reported at the fragment's file and line,
    once, though two scenarios use it."""
    fragment = write("given:\n  files:\n    - {path: a, age: 5}\n", "parts/tree.yaml")
    path = write(
        f"""\
        include: [parts/tree.yaml]
        defaults: {{runbook: {RUNBOOK}}}
        scenarios:
          - name: one
          - name: two
        """
    )
    assert problems_of(path) == [
        f"{fragment}:3: given.files.0.age: 5 has no unit; write a number with a unit: '90s', '15m', '12h', '40d' (ms, s, m, h, d, w)\n    - {{path: a, age: 5}}"
    ]


def test_a_strict_problem_in_defaults_is_reported_once(write: WriteYaml) -> None:
    """``1:30`` in defaults is one problem at its line, not one per scenario, and not again
    as a schema error."""
    path = write(
        f"""\
        defaults:
          runbook: {RUNBOOK}
          then: {{elapsed: 1:30}}
        scenarios:
          - name: one
          - name: two
            then: {{status: yes}}
        """
    )
    assert problems_of(path) == [
        f"{path}:3: defaults.then.elapsed: {SEXAGESIMAL.format('1:30')}\n    then: {{elapsed: 1:30}}",
        f"{path}:7: scenarios.1.then.status: {BOOLEAN.format('yes', 'yes')}\n    then: {{status: yes}}",
    ]


def test_strict_problems_in_a_fragment_are_not_repeated(write: WriteYaml) -> None:
    """A strict YAML problem in a fragment whose list lands behind another fragment's items
    is still reported once (not again as a schema error at its merged index)."""
    write("given:\n  files: [{path: a}]\n", "first.yaml")
    second = write("given:\n  files: [{path: b, age: 1:30}]\n", "second.yaml")
    path = write(
        f"""\
        include: [first.yaml, second.yaml]
        defaults: {{runbook: {RUNBOOK}}}
        scenarios:
          - name: one
        """
    )
    assert problems_of(path) == [
        f"{second}:2: given.files.0.age: {SEXAGESIMAL.format('1:30')}\n    files: [{{path: b, age: 1:30}}]"
    ]


def test_a_strict_problem_does_not_hide_another_value_at_the_same_field(
    write: WriteYaml,
) -> None:
    """``elapsed: 1:30`` in a fragment and ``elapsed: 5`` in a scenario are two problems,
    though both are ``then.elapsed``."""
    fragment = write("then: {elapsed: 1:30}\n", "frag.yaml")
    path = write(
        f"""\
        include: [frag.yaml]
        defaults: {{runbook: {RUNBOOK}}}
        scenarios:
          - name: one
            then: {{elapsed: 5}}
        """
    )
    assert problems_of(path) == [
        f"{path}:5: then.elapsed: 5 has no unit; write a number with a unit: '90s', '15m', '12h', '40d' (ms, s, m, h, d, w)\n    then: {{elapsed: 5}}",
        f"{fragment}:1: then.elapsed: {SEXAGESIMAL.format('1:30')}\n    then: {{elapsed: 1:30}}",
    ]


def test_duplicate_scenario_names_are_refused(write: WriteYaml) -> None:
    """Two scenarios of a file cannot share a name (pytest ids would collide)."""
    path = write(
        f"""\
        defaults: {{runbook: {RUNBOOK}}}
        scenarios:
          - name: same
          - name: other
          - name: same
        """
    )
    assert problems_of(path) == [
        f"{path}:5: name: a scenario named 'same' is already at line 3; names must be unique in a file\n    - name: same"
    ]


def test_a_missing_include_names_the_fragment(write: WriteYaml) -> None:
    """An include that cannot be read is reported with the include line and the reason."""
    path = write(f"include: [nope.yaml]\nscenarios:\n  - {{name: a, runbook: {RUNBOOK}}}\n")
    assert problems_of(path) == [
        f"{path}:1: include.0: cannot include 'nope.yaml'\n    include: [nope.yaml]",
        f"{path.parent / 'nope.yaml'}: cannot read the file (No such file or directory)",
    ]


def test_a_fragment_must_be_a_mapping(write: WriteYaml) -> None:
    """A fragment holding a list cannot be merged into scenarios."""
    write("- a\n", "frag.yaml")
    path = write(f"include: [frag.yaml]\nscenarios:\n  - {{name: a, runbook: {RUNBOOK}}}\n")
    assert problems_of(path) == [
        f"{path}:1: include.0: 'frag.yaml' must hold a mapping of keys\n    include: [frag.yaml]"
    ]


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (
            "include: frag.yaml\nscenarios: [{name: a}]\n",
            1,
            "include",
            "write a list of file paths",
        ),
        (
            "defaults: [a]\nscenarios: [{name: a}]\n",
            1,
            "defaults",
            "write a mapping of scenario keys",
        ),
        ("scenarios: []\n", 1, "scenarios", "write a list of one or more scenarios"),
        ("scenarios: [a]\n", 1, "scenarios.0", "each scenario is a mapping"),
        (
            "defaultz: {}\nscenarios: [{name: a}]\n",
            1,
            "defaultz",
            "unknown key (did you mean 'defaults'?); a file of several scenarios has include:, "
            "defaults: and scenarios: (scenario keys go inside each scenario or under defaults:)",
        ),
    ],
)
def test_the_file_keys_are_checked(
    write: WriteYaml, text: str, line: int, field: str, message: str
) -> None:
    """include:, defaults: and scenarios: have shapes of their own, and nothing else sits
    beside them."""
    path = write(text)
    with pytest.raises(ScenarioFileError) as caught:
        load_file(path)
    assert (caught.value.problems[0].line, caught.value.problems[0].field) == (line, field)
    assert caught.value.problems[0].message == message


@pytest.mark.parametrize(
    ("text", "what", "line"),
    [
        ("", "empty", 1),
        ("# nothing\n", "empty", 1),
        ("- a\n- b\n", "a list (its lines start with '- ')", None),
        ("just text\n", "one value ('just text')", None),
    ],
)
def test_a_file_without_a_mapping_is_one_problem(
    write: WriteYaml, text: str, what: str, line: int | None
) -> None:
    """An empty file, a list or a scalar at the top level is not a scenario file."""
    path = write(text)
    with pytest.raises(ScenarioFileError) as caught:
        load_file(path)
    [problem] = caught.value.problems
    assert (problem.path, problem.line, problem.field) == (path, line, "")
    assert problem.message == (
        f"the file is {what}; a scenario file is a mapping with name:, runbook:, given:, "
        "when:, then: (or scenarios: for several)"
    )


def test_a_file_that_is_not_utf8_is_one_problem(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are reported, not a traceback."""
    path = tmp_path / "bad.tapps.yaml"
    path.write_bytes(b"name: \xff\n")
    message = f"{path}: not UTF-8 text (bad byte at offset 6); save the file as UTF-8"
    with pytest.raises(ScenarioFileError, match=exactly(message)):
        load_file(path)


def test_an_anchored_boolean_is_a_boolean_in_a_scenario_file(write: WriteYaml) -> None:
    """``&dry true`` / ``*dry`` load as ruamel's int-like ScalarBoolean: still booleans, so
    ``dry_run: *dry`` is a dry run, not the number 1 refused as one."""
    path = write(
        minimal("when:\n  - cleanup: {dry_run: &dry true}\n  - cleanup: {dry_run: *dry}\n")
    )
    (loaded,) = load_file(path)
    assert [action_value(a).dry_run for a in parse(loaded.data).when] == [True, True]


# -- merge ---------------------------------------------------------------------------------------


def _origin(line: int) -> Origin:
    return Origin(Path("f"), line, None)


def test_merge_keeps_the_origin_of_each_value() -> None:
    """Merged values keep the line of whoever wrote them; list items move with the list."""
    data, origins = merge(
        {"a": [1], "b": {"x": 1}},
        {("a",): _origin(1), ("a", 0): _origin(2), ("b",): _origin(3), ("b", "x"): _origin(4)},
        {"a": [2], "b": {"y": 2}, "c": 3},
        {("a",): _origin(10), ("a", 0): _origin(11), ("b", "y"): _origin(12), ("c",): _origin(13)},
    )
    assert data == {"a": [1, 2], "b": {"x": 1, "y": 2}, "c": 3}
    assert {k: v.line for k, v in origins.items()} == {
        ("a",): 10,
        ("a", 0): 2,
        ("a", 1): 11,
        ("b",): 3,
        ("b", "x"): 4,
        ("b", "y"): 12,
        ("c",): 13,
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(json_values, json_values)
def test_merge_rules(base: Any, over: Any) -> None:
    """Mappings merge key by key, lists extend, anything else is replaced by ``over``."""
    merged, _ = merge(base, {}, over, {})
    if isinstance(base, dict) and isinstance(over, dict):
        assert set(merged) == set(base) | set(over)
        for key in set(base) - set(over):
            assert merged[key] == base[key]
    elif isinstance(base, list) and isinstance(over, list):
        assert merged == [*base, *over]
    else:
        assert merged == over


# -- finding files -------------------------------------------------------------------------------


def test_scenario_paths_finds_only_scenario_files(tmp_path: Path) -> None:
    """Folders are searched for *.tapps.yaml, sorted; files named directly are kept as given."""
    for name in ("b/z.tapps.yaml", "a.tapps.yaml", "b/frag.yaml", "c.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    named = tmp_path / "c.yaml"
    assert scenario_paths([tmp_path, named]) == [
        tmp_path / "a.tapps.yaml",
        tmp_path / "b/z.tapps.yaml",
        named,
    ]


def test_loaded_name_falls_back_to_its_line() -> None:
    """A scenario without a name is named by its line in messages."""
    assert Loaded({}, Path("f"), 7).name == "scenario at line 7"


def test_a_failed_result_takes_error_or_raw_error_not_both(write: WriteYaml) -> None:
    """``raw_error`` is any JSON, as an agent may write it; with ``error`` too it is refused at
    the fault's line, saying which to keep."""
    path = write(
        minimal("faults:\n  - failed_result: {step: s, error: boom, raw_error: {code: 5}}\n")
    )
    assert problems_of(path) == [
        f"{path}:4: faults.0.failed_result: give error (an envelope, checked) or raw_error "
        "(any JSON), not both\n    - failed_result: {step: s, error: boom, raw_error: {code: 5}}"
    ]


@pytest.mark.parametrize(
    ("written", "returned"),
    [
        (
            {"raw_error": {"category": "Timeout", "code": 504, "details": ["a"]}},
            {"category": "Timeout", "code": 504, "details": ["a"]},
        ),
        ({"raw_error": [1, 2]}, [1, 2]),
        ({"raw_error": 7}, 7),
        ({"error": {"code": "c", "category": "timeout"}}, {"code": "c", "category": "timeout"}),
        ({"error": "refused"}, "refused"),
        ({"attempts": 1}, None),
    ],
)
def test_a_failed_result_returns_its_error_as_written(
    written: dict[str, Any], returned: object
) -> None:
    """What the agent returns: ``raw_error`` untouched, ``error``'s written keys, or nothing."""
    fault = FailedResultFault.model_validate_json(json.dumps({"step": "s", **written}))
    assert fault.returned_error() == returned
