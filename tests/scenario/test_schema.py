"""Tests for pytest_tapps.scenario._schema: the JSON Schema editors use agrees with the loader.

The property test draws scenario documents, valid ones and ones with one field broken, and
checks that the shipped schema (jsonschema, draft-07) and the loader accept or refuse the same
ones. What a schema cannot say (the checks across parts, listed in docs/scenarios.md) is kept
valid in every drawn document, so any disagreement is a rule one of the two got wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import best_match

from pytest_tapps.scenario._load import ScenarioFileError, load_file
from pytest_tapps.scenario._model import DOCUMENT_PATTERN, document_name_ok
from pytest_tapps.scenario._schema import SCHEMA_FILE, schema_text

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
RUNBOOK = "Retry/Timeout Handling > Automatic Retries > Stop after max_attempts"
UNITS = ("ms", "s", "m", "h", "d", "w")

Doc = dict[str, Any]
Draw = Callable[..., Any]

# -- valid values ---------------------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_-]{0,7}", fullmatch=True)
amounts = st.one_of(
    st.integers(min_value=0, max_value=10**6).map(str),
    st.integers(min_value=0, max_value=10**6).map(lambda n: f"{n / 4:g}"),
)
durations = st.builds("{}{}".format, amounts, st.sampled_from(UNITS))
ages = st.builds("{}{}".format, st.sampled_from(["", "-"]), durations)
seconds = st.one_of(  # the runbook's step YAML: seconds, or a duration with a unit
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6).map(lambda n: n / 4),
    durations,
)
positive_seconds = st.one_of(
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=10**6).map(lambda n: n / 4),
    st.builds("{}{}".format, st.integers(min_value=1, max_value=10**6), st.sampled_from(UNITS)),
)


def _whole_minutes(moment: datetime) -> bool:
    offset = moment.utcoffset()
    return offset is not None and offset.total_seconds() % 60 == 0


moments: st.SearchStrategy[datetime] = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.timezones()
).filter(_whole_minutes)


def _moment_text(moment: Any) -> str:
    text: str = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    return text


def _plain_seconds(value: Any) -> float:
    """Seconds of a valid delay as the core reads it."""
    if not isinstance(value, str):
        return float(value)
    number, unit = re.fullmatch(r"([0-9.]+)(ms|s|m|h|d|w)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]


def _in_order(bounds: Doc) -> bool:
    """``at_least`` no more than ``at_most`` (a rule only the loader checks)."""
    low, high = bounds.get("at_least"), bounds.get("at_most")
    return low is None or high is None or _plain_seconds(low) <= _plain_seconds(high)


#: ``{at_least, at_most}`` bounds of a duration in ``then``, at least one, in order.
BOUNDS = st.fixed_dictionaries({}, optional={"at_least": durations, "at_most": durations}).filter(
    lambda bounds: bool(bounds) and _in_order(bounds)
)


@st.composite
def retry_blocks(draw: Draw) -> Doc:
    """A valid retry: block (max_delay never below initial_delay)."""
    block: Doc = {}
    if draw(st.booleans()):
        block["max_attempts"] = draw(st.integers(min_value=1, max_value=10))
    if draw(st.booleans()):
        block["backoff_strategy"] = draw(st.sampled_from(["exponential", "linear", "fixed"]))
    if draw(st.booleans()):
        block["jitter"] = draw(st.sampled_from(["none", "full", "equal", "decorrelated"]))
    initial, cap = draw(seconds), draw(seconds)
    low, high = sorted([initial, cap], key=_plain_seconds)
    if draw(st.booleans()):
        block["initial_delay"] = low
        if _plain_seconds(low) > 60 or draw(st.booleans()):
            block["max_delay"] = high
    elif draw(st.booleans()):
        block["max_delay"] = high if _plain_seconds(high) >= 1 else 60
    return block


def _optional(draw: Draw, parts: dict[str, st.SearchStrategy[Any]]) -> Doc:
    """Some of ``parts``, each drawn or left out."""
    return {key: draw(part) for key, part in parts.items() if draw(st.booleans())}


def _items(draw: Draw, parts: dict[str, st.SearchStrategy[Any]]) -> list[Doc]:
    """Some of ``parts`` as one-key list items (``- name: value``)."""
    return [{key: value} for key, value in _optional(draw, parts).items()]


@st.composite
def scenarios(draw: Draw) -> Doc:
    """A valid scenario that exercises most of the format's fields (cross-part rules kept)."""
    fs = draw(st.sampled_from([None, "real", "fake"]))
    steps = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    step = {"agent": names, "retry": retry_blocks(), "timeout": positive_seconds}
    workflow: Doc = {
        draw(st.sampled_from(["id", "workflow_id"])): "wf",
        "steps": [{"id": name} | _optional(draw, step) for name in steps],
        **_optional(draw, {"timeout": positive_seconds}),
    }
    holders = ["dead-pid", "expired"] + ([] if fs == "fake" else ["live"])
    aged = st.fixed_dictionaries
    given_: Doc = {"workflows": [workflow]} | _optional(
        draw,
        {
            "files": st.lists(names, max_size=2).flatmap(
                lambda found: st.tuples(
                    *(aged({"path": st.just(f"{n}.log"), "age": ages}) for n in found)
                ).map(list)
            ),
            "worktrees": st.sampled_from(
                [{"name": "wt-a"}, {"workflow": "wf", "step": steps[0]}]
            ).flatmap(
                lambda named: aged({"files": st.integers(0, 3), "age": ages}).map(
                    lambda rest: [named | rest]
                )
            ),
            "context7": aged(
                {"library": names},
                optional={"documents": st.just({"guide.md": "# x", "sub/api.json": "{}"})},
            ).map(lambda entry: [entry]),
            "tiered": aged({"name": st.just("session.json"), "age": ages}).map(
                lambda entry: [entry]
            ),
            "profile": aged({"age": ages}),
            "locks": aged({"workflow": st.just("other"), "holder": st.sampled_from(holders)}).map(
                lambda lock: [lock]
            ),
            "states": st.just(
                [
                    {
                        "id": "old",
                        "status": "failed",
                        "steps": [{"id": "x", "status": "failed", "error": "timeout"}],
                    }
                ]
            ),
            "retention": aged({"debug_logs": durations, "application_logs": st.just("never")}),
        },
    )
    faults = _items(
        draw,
        {
            "step_timeout": st.one_of(
                st.just(steps[0]),
                aged({"step": st.just(steps[0]), "attempts": st.sampled_from(["all", 1, [1, 2]])}),
            ),
            "flaky": aged({"step": st.just(steps[-1]), "failures": st.integers(1, 3)}),
            "kill_executor": st.one_of(
                st.just(steps[0]),
                aged({"step": st.just(steps[0]), "attempts": st.sampled_from(["all", 2, [1]])}),
            ),
            "corrupt_cache_entry": aged(
                {"library": names, "kind": st.sampled_from(["truncated", "hash", "no-meta"])}
            ),
            **({"crash_during_write": st.just({"workflow": "old"})} if "states" in given_ else {}),
            **({"disk_full": aged({"free_bytes": st.integers(0, 100)})} if fs == "fake" else {}),
            **(
                {"stuck_worktree": aged({"name": names, "kind": st.just("dirty")})}
                if fs != "fake"
                else {}
            ),
        },
    )
    run = {"run": draw(st.sampled_from(["wf", {"workflow": "wf", "seed": 7}]))}
    when = [
        run,
        *_items(
            draw,
            {
                "advance": durations,
                "cleanup": aged({"dry_run": st.booleans(), "only": st.just(["debug_logs"])}),
                "command": st.sampled_from(["dlq list", ["dlq", "list", "--json"]]),
                "log": aged(
                    {
                        "message": st.just("Step started"),
                        "level": st.sampled_from(["info", "error"]),
                        "fields": st.just({"n": 1}),
                    }
                ),
                "dlq_retry": st.sampled_from(["timeout", {"category": "execution"}]),
                "resume": st.sampled_from(["wf", {"workflow": "wf", "definition": "wf"}]),
            },
        ),
    ]
    then = _optional(
        draw,
        {
            "status": st.sampled_from(["failed", "completed", "paused", "running"]),
            "steps": aged(
                {
                    "status": st.just("failed"),
                    "attempts": st.integers(0, 5),
                    "delays": st.lists(st.one_of(durations, BOUNDS), max_size=2),
                }
            ).map(lambda expected: {steps[0]: expected}),
            "elapsed": st.one_of(durations, BOUNDS),
            "error": st.sampled_from(["timeout", {"category": "timeout", "code": "t"}]),
            "exit_code": st.integers(0, 2),
            "dlq": st.just([{"step_id": steps[0], "category": "timeout", "recoverable": True}]),
            "locks": st.sampled_from(["present", "absent"]).map(lambda lock: {"wf": lock}),
        },
    )
    doc: Doc = {"name": draw(names), "runbook": RUNBOOK} | ({"fs": fs} if fs else {})
    doc |= _optional(
        draw,
        {
            "now": moments.map(_moment_text),
            "layout": st.sampled_from(["runbook", "tapps-agents-3.7"]),
            "requires": st.lists(st.sampled_from(["git", "root", "non-root"])),
            "description": st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
        },
    )
    doc["given"] = given_
    doc |= {"faults": faults} if faults else {}
    doc["when"] = when
    doc |= {"then": then} if then else {}
    return doc


# -- one field broken ---------------------------------------------------------------------------

UNSAFE = st.sampled_from(["../x", "a/b", "a\\b", ".", "..", "x..y", "C:x", ""])
NOT_SECONDS = st.sampled_from(["5 sec", "5", "-5s", "1:30", True, "", "5S"])
NOT_POSITIVE = st.sampled_from([0, -5, -0.5, "0s", "0.0m", "-5m", "300", True, "5 parsecs"])
NOT_DURATION = st.sampled_from([5, 0, "5", "5 s", "-5s", "5S", "1:30", True, ""])


def _step(doc: Doc) -> Doc:
    step: Doc = doc["given"]["workflows"][0]["steps"][0]
    return step


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[path[-1]] = value

    return apply


def _retry(field: str, value: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        _step(doc)["retry"] = {**_step(doc).get("retry", {}), field: value}

    return apply


def _add(key: str, item: Any) -> Callable[[Doc], None]:
    """Append ``item`` to the top-level list ``key`` (``when``, ``faults``)."""

    def apply(doc: Doc) -> None:
        doc.setdefault(key, []).append(item)

    return apply


def _given(key: str, item: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        doc["given"][key] = [item]

    return apply


def _delete(*path: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return apply


def _metadata_timeout(value: Any) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        _step(doc).pop("timeout", None)
        _step(doc)["metadata"] = {"timeout": value}

    return apply


def _breakages(draw: Draw) -> list[tuple[str, Callable[[Doc], None]]]:
    """Ways to break one field, each with the rule it breaks."""
    bad_name = draw(UNSAFE)
    return [
        (
            "max_attempts below 1 or not a whole number",
            _retry("max_attempts", draw(st.sampled_from([0, -1, "3", True, 2.5, "all"]))),
        ),
        (
            "backoff_strategy not a strategy",
            _retry("backoff_strategy", draw(st.sampled_from(["exponental", "Linear", "", "exp"]))),
        ),
        (
            "jitter not a jitter",
            _retry("jitter", draw(st.sampled_from(["ful", "None", "", "half"]))),
        ),
        (
            "initial_delay not seconds",
            _retry("initial_delay", draw(st.one_of(NOT_SECONDS, st.integers(max_value=-1)))),
        ),
        (
            "max_delay not seconds",
            _retry("max_delay", draw(st.one_of(NOT_SECONDS, st.integers(max_value=-1)))),
        ),
        ("an unknown retry key", _retry("retries", 3)),
        ("a step timeout not positive", lambda doc: _step(doc).update(timeout=draw(NOT_POSITIVE))),
        (
            "a workflow timeout not positive",
            _set(("given", "workflows", 0, "timeout"), draw(NOT_POSITIVE)),
        ),
        ("a metadata timeout not positive", _metadata_timeout(draw(NOT_POSITIVE))),
        ("a workflow id unsafe", _set(("given", "workflows", 0, "id"), bad_name)),
        (
            "a file age without a unit",
            _given(
                "files",
                {
                    "path": "a.log",
                    "age": draw(st.sampled_from([8, "8", "8 d", "1:30", True, "--1h"])),
                },
            ),
        ),
        ("a file path empty", _given("files", {"path": ""})),
        ("a worktree name unsafe", _given("worktrees", {"name": bad_name})),
        (
            "a worktree with name and workflow",
            _given("worktrees", {"name": "w", "workflow": "wf", "step": "s"}),
        ),
        ("a worktree with half a step", _given("worktrees", {"workflow": "wf"})),
        ("worktree files negative", _given("worktrees", {"name": "w", "files": -1})),
        ("a library id unsafe", _given("context7", {"library": bad_name})),
        (
            "a document name unsafe",
            _given(
                "context7",
                {
                    "library": "r",
                    "documents": {
                        draw(
                            st.sampled_from(
                                ["../x.md", "meta.json", "/abs.md", "a/./b", "a//b", ""]
                            )
                        ): "x"
                    },
                },
            ),
        ),
        ("a tiered name unsafe", _given("tiered", {"name": bad_name})),
        ("a state id unsafe", _given("states", {"id": bad_name})),
        ("a lock workflow unsafe", _given("locks", {"workflow": bad_name})),
        ("a lock holder unknown", _given("locks", {"workflow": "w", "holder": "alive"})),
        ("a retention category unknown", _set(("given", "retention"), {"debug_log": "1d"})),
        (
            "a retention value without a unit",
            _set(
                ("given", "retention"), {"debug_logs": draw(st.sampled_from([7, "forever", "7"]))}
            ),
        ),
        (
            "a corrupt library unsafe",
            _add("faults", {"corrupt_cache_entry": {"library": bad_name}}),
        ),
        (
            "a corruption kind unknown",
            _add("faults", {"corrupt_cache_entry": {"library": "r", "kind": "bad"}}),
        ),
        ("a stuck worktree unsafe", _add("faults", {"stuck_worktree": {"name": bad_name}})),
        (
            "a crashed workflow unsafe",
            _add("faults", {"crash_during_write": {"workflow": bad_name}}),
        ),
        ("flaky failures below 1", _add("faults", {"flaky": {"step": "s", "failures": 0}})),
        (
            "attempts below 1",
            _add(
                "faults",
                {"hang": {"step": "s", "attempts": draw(st.sampled_from([0, [0], "some"]))}},
            ),
        ),
        ("free_bytes negative", _add("faults", {"disk_full": {"free_bytes": -1}})),
        ("a fault unknown", _add("faults", {"step_timout": "s"})),
        ("an empty step name", _add("faults", {"step_timeout": ""})),
        ("a hold_lock workflow unsafe", _add("when", {"hold_lock": bad_name})),
        ("an action unknown", _add("when", {"restart": "wf"})),
        ("an action item with two keys", _add("when", {"run": "wf", "resume": "wf"})),
        ("an action item empty", _add("when", {})),
        ("advance without a unit", _add("when", {"advance": draw(NOT_DURATION)})),
        ("a cleanup category unknown", _add("when", {"cleanup": {"only": ["debug_log"]}})),
        ("a command empty", _add("when", {"command": draw(st.sampled_from(["", "   ", []]))})),
        ("a log level unknown", _add("when", {"log": {"message": "m", "level": "fatal"}})),
        ("a dlq_retry category unknown", _add("when", {"dlq_retry": "tiemout"})),
        (
            "a run without its workflow",
            lambda doc: doc["when"].__setitem__(0, {"run": {"workflw": "wf"}}),
        ),
        ("fs unknown", _set(("fs",), "fak")),
        ("layout unknown", _set(("layout",), "rnbook")),
        ("a requirement unknown", _set(("requires",), ["gti"])),
        (
            "now without a zone",
            _set(
                ("now",),
                draw(
                    st.sampled_from(
                        [
                            "2026-01-15T10:30:00",
                            "yesterday",
                            "2026-01-15T10:30:00+0100",
                            "2026-01-15",
                        ]
                    )
                ),
            ),
        ),
        ("an unknown top-level key", _set(("thne",), {})),
        ("an unknown then key", _set(("then", "stauts"), "failed")),
        ("a workflow status unknown", _set(("then", "status"), "done")),
        ("attempts expected negative", _set(("then", "steps"), {"s": {"attempts": -1}})),
        ("a step status unknown", _set(("then", "steps"), {"s": {"status": "ok"}})),
        (
            "an exit code quoted or not whole",
            _set(("then", "exit_code"), draw(st.sampled_from(["3", 1.5, True]))),
        ),
        (
            "a dlq category unknown",
            _set(("then", "dlq"), [{"step_id": "s", "category": "tiemout"}]),
        ),
        ("a lock expectation unknown", _set(("then", "locks"), {"wf": "gone"})),
        ("elapsed without a unit", _set(("then", "elapsed"), draw(NOT_DURATION))),
        ("bounds without a bound", _set(("then", "elapsed"), {})),
        ("bounds with an unknown key", _set(("then", "elapsed"), {"at_mots": "5s"})),
        ("a bound without a unit", _set(("then", "elapsed"), {"at_most": draw(NOT_DURATION)})),
        (
            "a delay's bound without a unit",
            _set(("then", "steps"), {"s": {"delays": [{"at_least": draw(NOT_DURATION)}]}}),
        ),
        ("a workflow error category unknown", _set(("then", "error"), "tiemout")),
        (
            "a resume definition empty",
            _add("when", {"resume": {"workflow": "wf", "definition": ""}}),
        ),
        (
            "kill_executor attempts below 1",
            _add("faults", {"kill_executor": {"step": "s", "attempts": 0}}),
        ),
        (
            "an empty value",
            _set(
                draw(st.sampled_from([("description",), ("then", "status"), ("given", "files")])),
                None,
            ),
        ),
        ("marks not a list", _set(("marks",), "slow")),
        ("name missing", _delete("name")),
        ("runbook missing", _delete("runbook")),
        ("a step id missing", lambda doc: _step(doc).pop("id")),
    ]


def _loader_accepts(doc: Doc, folder: Path) -> bool:
    path = folder / "drawn.tapps.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML; every string is quoted
    try:
        load_file(path)
    except ScenarioFileError:
        return False
    return True


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the drawn files (module-scoped: Hypothesis reuses it across examples)."""
    return tmp_path_factory.mktemp("drawn")


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.data())
def test_the_schema_and_the_loader_accept_the_same_documents(
    folder: Path, doc: Doc, data: st.DataObject
) -> None:
    """A drawn scenario is valid for both; with one field broken (an enum, a bound, a unit,
    an unsafe name, quotes, an unknown or missing key, an empty value) both refuse it."""
    assert _loader_accepts(doc, folder), json.dumps(doc)
    assert VALIDATOR.is_valid(doc), best_match(VALIDATOR.iter_errors(doc))
    rule, breaks = data.draw(st.sampled_from(_breakages(data.draw)), label="broken")
    breaks(doc)
    assert _loader_accepts(doc, folder) is False, rule
    assert VALIDATOR.is_valid(doc) is False, rule


@settings(max_examples=25, deadline=None)
@given(scenarios())
def test_a_file_of_several_scenarios_is_checked_as_one(folder: Path, doc: Doc) -> None:
    """The same scenario under scenarios:, its name from defaults:, is valid for both; an
    unknown key beside scenarios: is refused by both."""
    several: Doc = {"defaults": {"runbook": doc.pop("runbook")}, "scenarios": [doc]}
    assert _loader_accepts(several, folder)
    assert VALIDATOR.is_valid(several), best_match(VALIDATOR.iter_errors(several))
    several["defualts"] = several.pop("defaults")
    assert _loader_accepts(several, folder) is False
    assert VALIDATOR.is_valid(several) is False


@given(st.text(alphabet="ab./\\:\0\nmetajsonC", max_size=12))
def test_the_document_pattern_agrees_with_the_check(name: str) -> None:
    """DOCUMENT_PATTERN (the schema's) accepts a document name iff the model's check does."""
    assert (re.search(DOCUMENT_PATTERN, name) is not None) == document_name_ok(name)


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"name": "x", "runbook": RUNBOOK, "thne": {}}, "thne"),
        ({"nmae": "x", "runbook": RUNBOOK}, "nmae"),
        ({"scenarios": [{"name": "x"}], "defualts": {}}, "defualts"),
    ],
)
def test_the_best_match_names_the_misspelt_key(doc: Doc, key: str) -> None:
    """jsonschema's best_match (what tools built on it print first) names the top-level key
    that is wrong, not a mismatch with both file shapes (one scenario, or several)."""
    error = best_match(VALIDATOR.iter_errors(doc))
    assert error is not None
    assert error.message == f"Additional properties are not allowed ({key!r} was unexpected)"
    assert list(error.absolute_path) == []


def _explained(errors: Any) -> list[jsonschema.ValidationError]:
    """Every error with the ones inside it (the members of anyOf and oneOf)."""
    return [e for error in errors for e in (error, *_explained(error.context))]


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"name": "x", "runbook": RUNBOOK, "when": [{"restart": "wf"}]}, "restart"),
        ({"name": "x", "runbook": RUNBOOK, "faults": [{"hng": "s"}]}, "hng"),
        ({"name": "x", "runbook": RUNBOOK, "when": [{"inject": {"hng": "s"}}]}, "hng"),
    ],
)
def test_an_unknown_action_or_fault_is_named_among_the_errors(doc: Doc, key: str) -> None:
    """An item of when: or faults: with an unknown name is refused as that name (not one of
    the known ones), not only as matching none of the item shapes."""
    named = [
        error
        for error in _explained(VALIDATOR.iter_errors(doc))
        if error.validator == "enum" and error.instance == key
    ]
    assert named
    assert named[0].message.startswith(f"{key!r} is not one of [")


def test_the_schema_uses_draft_07_keywords_only() -> None:
    """The YAML language server behind VS Code validates draft-07: the schema says draft-07,
    and is itself a valid draft-07 schema."""
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert "$defs" not in json.dumps(SCHEMA)


def test_the_shipped_schema_and_the_docs_copy_are_what_the_models_give() -> None:
    """pytest_tapps/scenario/scenario.schema.json (in the wheel) and docs/scenario.schema.json
    are byte for byte what `tapps scenario schema` writes (regenerate both on a model change)."""
    stale = (
        "the schema is stale: run `tapps scenario schema -o pytest_tapps/scenario/"
        "scenario.schema.json && cp pytest_tapps/scenario/scenario.schema.json docs/`"
    )
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), stale
    assert (ROOT / "docs" / "scenario.schema.json").read_bytes() == SCHEMA_FILE.read_bytes(), stale
