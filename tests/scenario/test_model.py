"""Tests for pytest_tapps.scenario._model: durations, paths, timestamps and the item unions."""

from __future__ import annotations

import json
import posixpath
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from pytest_tapps.core import format_duration
from pytest_tapps.scenario._model import (
    ACTIONS,
    DURATION_PATTERN,
    FAULTS,
    DiskFullFault,
    Moment,
    RunAction,
    Scenario,
    StepExpectation,
    StepTimeoutFault,
    SymlinkSpec,
    TieredSpec,
    action_name,
    action_value,
    check_relative,
    seconds_of,
)
from tests.scenario.helpers import exactly

HOW = "write a number with a unit: '90s', '15m', '12h', '40d' (ms, s, m, h, d, w)"
RUNBOOK = "Retry/Timeout Handling > Automatic Retries > Stop after max_attempts"


def errors(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """``(loc, message)`` of each error validating ``data`` as the loader does (JSON mode)."""
    with pytest.raises(ValidationError) as caught:
        Scenario.model_validate_json(json.dumps(data))
    return [(tuple(e["loc"]), e["msg"]) for e in caught.value.errors()]


def scenario(**keys: Any) -> Scenario:
    """A valid scenario with ``keys`` on top of a name and a runbook reference."""
    data = {"name": "case", "runbook": RUNBOOK, **keys}
    return Scenario.model_validate_json(json.dumps(data))


# -- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5.0),
        ("15m", 900.0),
        ("12h", 43200.0),
        ("40d", 3456000.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("2w", 1209600.0),
        ("0s", 0.0),
        (" 90s ", 90.0),
    ],
)
def test_seconds_of_reads_a_number_with_a_unit(text: str, seconds: float) -> None:
    """A duration is a number followed by ms, s, m, h, d or w."""
    assert seconds_of(text) == seconds


def test_a_signed_duration_may_be_negative() -> None:
    """With ``signed`` a leading minus means the past-to-future direction: -1h is -3600 s."""
    assert seconds_of("-1h", signed=True) == -3600.0
    assert seconds_of("1h", signed=True) == 3600.0


def test_an_unsigned_duration_refuses_a_minus() -> None:
    """Without ``signed`` a negative duration is not a duration at all."""
    with pytest.raises(ValueError, match=exactly(f"'-1h' is not a duration; {HOW}")):
        seconds_of("-1h")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, f"5 has no unit; {HOW}"),
        (2.5, f"2.5 has no unit; {HOW}"),
        (True, f"True has no unit; {HOW}"),
        (False, f"False has no unit; {HOW}"),
        (None, f"None has no unit; {HOW}"),
        ("1:30", f"'1:30' is not a duration; {HOW}"),
        ("abc", f"'abc' is not a duration; {HOW}"),
        ("5 parsecs", f"'5 parsecs' is not a duration; {HOW}"),
        ("5", f"'5' is not a duration; {HOW}"),
        ("5S", f"'5S' is not a duration; {HOW}"),
        ("5 s", f"'5 s' is not a duration; {HOW}"),
        ("--1h", f"'--1h' is not a duration; {HOW}"),
        ("", f"'' is not a duration; {HOW}"),
    ],
)
def test_seconds_of_refuses_what_is_not_a_number_with_a_unit(value: object, message: str) -> None:
    """Bare numbers, booleans, sexagesimal and unknown units are refused, saying what to write."""
    with pytest.raises(ValueError, match=exactly(message)):
        seconds_of(value, signed=True)


def test_an_overflowing_duration_is_too_large() -> None:
    """A duration whose seconds overflow a float is refused instead of becoming infinity."""
    text = "9" * 400 + "w"
    with pytest.raises(ValueError, match=exactly(f"{text!r} is too large")):
        seconds_of(text)


@given(st.integers(min_value=1, max_value=10**12).map(lambda millis: millis / 1000))
def test_format_duration_reads_back_exactly(seconds: float) -> None:
    """Whatever format_duration writes for a positive duration (to the millisecond),
    seconds_of reads back to the same seconds."""
    assert seconds_of(format_duration(seconds)) == seconds


@given(st.floats(min_value=1e-3, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_format_duration_reads_back_to_a_microsecond(seconds: float) -> None:
    """For any positive float, the written duration reads back within the microsecond
    format_duration keeps."""
    assert seconds_of(format_duration(seconds)) == pytest.approx(seconds, abs=1e-6, rel=1e-12)


def test_durations_in_a_scenario_carry_units() -> None:
    """A bare number where a duration belongs is an error pointing at the field."""
    # "Duration": the form the value was read as (the loader drops it from the location).
    assert errors({"name": "x", "runbook": RUNBOOK, "then": {"elapsed": 915}}) == [
        (("then", "elapsed", "Duration"), f"Value error, 915 has no unit; {HOW}")
    ]
    assert scenario(then={"elapsed": "915s"}).then.elapsed == 915.0


def test_ages_are_signed_durations() -> None:
    """A file's age may be in the future (-1h), an action's duration may not."""
    made = scenario(given={"files": [{"path": "a", "age": "-1h"}]})
    assert made.given.files[0].age == -3600.0
    assert errors({"name": "x", "runbook": RUNBOOK, "when": [{"advance": "-1h"}]}) == [
        (("when", 0, "advance", "advance"), f"Value error, '-1h' is not a duration; {HOW}")
    ]


# -- paths ---------------------------------------------------------------------------------------

LEAVES = (
    "{!r} leaves the project; paths stay inside it, or under ../outside/ for things outside "
    "the project (symlink targets)"
)


@pytest.mark.parametrize(
    "path",
    [
        ".tapps-agents/x",
        "reports/quality/a.html",
        "../outside/p",
        "../outside",
        "a/../b",
        "./a",
        "a/b/../../c",
        "../outside/a/../b",
    ],
)
def test_check_relative_accepts_paths_inside_the_project(path: str) -> None:
    """Paths inside the project, or under the ../outside sandbox, are returned unchanged."""
    assert check_relative(path) == path


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "../elsewhere/x", "a/../../x", "..", "../outside/../x", "../outsider"],
)
def test_check_relative_refuses_paths_that_leave_the_project(path: str) -> None:
    """A path whose normal form climbs out of the project (except into ../outside) is refused."""
    with pytest.raises(ValueError, match=exactly(LEAVES.format(path))):
        check_relative(path)


@pytest.mark.parametrize("path", ["/etc/passwd", "/", ""])
def test_check_relative_refuses_absolute_and_empty_paths(path: str) -> None:
    """An absolute or empty path is refused with an example of a relative one."""
    message = f"{path!r}: write a path relative to the project root, e.g. .tapps-agents/x"
    with pytest.raises(ValueError, match=exactly(message)):
        check_relative(path)


def _stays(value: str) -> bool:
    """The oracle: the normalised path is inside the project or under ../outside."""
    if not value or value.startswith("/"):
        return False
    parts = posixpath.normpath(value).split("/")
    return parts[0] != ".." or parts[:2] == ["..", "outside"]


@given(st.lists(st.sampled_from(["a", "b", "outside", "..", ".", ""]), min_size=1, max_size=8))
def test_check_relative_accepts_exactly_the_paths_that_stay(segments: list[str]) -> None:
    """For any path of segments, check_relative accepts it iff it stays inside the project
    or under ../outside."""
    value = "/".join(segments)
    try:
        check_relative(value)
    except ValueError:
        accepted = False
    else:
        accepted = True
    assert accepted == _stays(value), value


def test_paths_in_the_tree_are_checked() -> None:
    """Every path field of the given tree, the faults and then is checked the same way."""
    data = {
        "name": "x",
        "runbook": RUNBOOK,
        "given": {"files": [{"path": "/etc/passwd"}]},
        "then": {"absent": ["../../x"]},
    }
    assert errors(data) == [
        (
            ("given", "files", 0, "path"),
            "Value error, '/etc/passwd': write a path relative to the project root, e.g. .tapps-agents/x",
        ),
        (("then", "absent", 0), "Value error, " + LEAVES.format("../../x")),
    ]


def test_a_symlink_target_stays_in_the_sandbox() -> None:
    """A symlink may point under ../outside, never at an absolute path outside the sandbox
    (a buggy cleanup following it would delete real files)."""
    assert SymlinkSpec(path="a/link", target="../outside/precious").target == "../outside/precious"
    with pytest.raises(ValidationError, match="write a path relative to the project root"):
        SymlinkSpec(path="a/link", target="/home")


@pytest.mark.parametrize("name", ["../../../../escape", "a/b", "..", "."])
def test_names_in_the_tree_are_single_components(name: str) -> None:
    """A tiered cache file name cannot climb out of its folder."""
    with pytest.raises(ValidationError, match="must not"):
        TieredSpec(name=name)


# -- timestamps ----------------------------------------------------------------------------------

MOMENT: TypeAdapter[datetime] = TypeAdapter(Moment)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-15T10:30:00Z", datetime(2026, 1, 15, 10, 30, tzinfo=UTC)),
        (
            "2026-01-15T10:30:00+02:00",
            datetime(2026, 1, 15, 10, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_now_is_a_timestamp_with_a_zone(text: str, expected: datetime) -> None:
    """``now`` takes ISO timestamps with Z or an offset."""
    moment = MOMENT.validate_python(text)
    assert moment == expected
    assert moment.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2026-01-15T10:30:00",
            "Value error, 2026-01-15T10:30:00 has no time zone; add Z (UTC) or an offset such as +02:00",
        ),
        (
            datetime(2026, 1, 15, 10, 30),  # naive on purpose
            "Value error, 2026-01-15 10:30:00 has no time zone; add Z (UTC) or an offset such as +02:00",
        ),
        ("tomorrow", "Value error, 'tomorrow' is not a timestamp; write 2026-01-15T10:30:00Z"),
        (
            1700000000,
            "Value error, expected a timestamp such as 2026-01-15T10:30:00Z, got 1700000000",
        ),
    ],
)
def test_now_refuses_naive_and_non_timestamps(value: object, message: str) -> None:
    """A naive time is refused with the fix (add Z or an offset); so is anything else."""
    with pytest.raises(ValidationError) as caught:
        MOMENT.validate_python(value)
    assert [e["msg"] for e in caught.value.errors()] == [message]


# -- strict types and the item unions ------------------------------------------------------------


def test_a_process_name_names_a_live_holder_only() -> None:
    """given.locks' process_name is for a live holder, at most 15 characters and without '/'
    (a name the kernel keeps); a stale holder with one is refused at its item."""
    given = {"locks": [{"workflow": "wf", "holder": "live", "process_name": "ci) Z (job"}]}
    assert scenario(given=given).given.locks[0].process_name == "ci) Z (job"
    assert errors(
        {
            "name": "c",
            "runbook": RUNBOOK,
            "given": {"locks": [{"workflow": "wf", "process_name": "x"}]},
        }
    ) == [
        (
            ("given", "locks", 0),
            "Value error, process_name names a live holder's process: use it with holder: live",
        )
    ]
    for bad in ("a/b", "", "sixteen-letters!"):
        lock = {"workflow": "wf", "holder": "live", "process_name": bad}
        found = errors({"name": "c", "runbook": RUNBOOK, "given": {"locks": [lock]}})
        assert [loc for loc, _ in found] == [("given", "locks", 0, "process_name")], bad


def test_a_slow_agent_needs_how_long_it_takes_and_agents_are_sync_or_async() -> None:
    """slow: takes is a required duration (units allowed); agents: only sync or async."""
    (fault,) = scenario(faults=[{"slow": {"step": "s", "takes": "2m"}}]).faults
    assert action_name(fault) == "slow"
    assert action_value(fault).model_dump() == {
        "step": "s",
        "takes": 120.0,
        "attempts": "all",
        "ignores_timeout": False,
    }
    found = errors({"name": "c", "runbook": RUNBOOK, "faults": [{"slow": {"step": "s"}}]})
    assert [loc[-1] for loc, _ in found] == ["takes"]
    assert scenario().agents == "sync"
    assert scenario(agents="async").agents == "async"
    found = errors({"name": "c", "runbook": RUNBOOK, "agents": "threaded"})
    assert [loc for loc, _ in found] == [("agents",)]


def test_types_are_not_coerced() -> None:
    """A count written as a string, or a flag as a string, is an error, not a guess."""
    with pytest.raises(ValidationError) as caught:
        StepExpectation.model_validate_json('{"attempts": "3"}')
    assert [e["msg"] for e in caught.value.errors()] == ["Input should be a valid integer"]
    assert errors({"name": "x", "runbook": RUNBOOK, "when": [{"cleanup": {"dry_run": "no"}}]}) == [
        (("when", 0, "cleanup", "cleanup", "dry_run"), "Input should be a valid boolean")
    ]


def test_unknown_keys_are_refused_everywhere() -> None:
    """Every model forbids keys it does not know, at the top and nested."""
    data = {"name": "x", "runbook": RUNBOOK, "desc": 1, "then": {"stauts": "failed"}}
    assert sorted(errors(data)) == [  # the order of pydantic's errors varies by version
        (("desc",), "Extra inputs are not permitted"),
        (("then", "stauts"), "Extra inputs are not permitted"),
    ]


def test_shorthands_fill_the_one_required_field() -> None:
    """``- run: ID`` and ``- step_timeout: STEP`` name the workflow and the step."""
    made = scenario(
        given={"workflows": [{"id": "w", "steps": [{"id": "s"}]}]},
        faults=[{"step_timeout": "s"}, {"disk_full": {}}],
        when=[{"run": "w"}, {"dlq_retry": "timeout"}, {"command": "dlq list --json"}],
        fs="fake",
    )
    assert [action_name(a) for a in made.when] == ["run", "dlq_retry", "command"]
    assert action_value(made.when[0]) == RunAction(workflow="w")
    assert action_value(made.when[2]) == ["dlq", "list", "--json"]
    assert action_value(made.faults[0]) == StepTimeoutFault(step="s", attempts="all")
    assert action_value(made.faults[1]) == DiskFullFault(free_bytes=0)


@pytest.mark.parametrize(
    ("attempts", "ok"), [("all", True), (2, True), ([1, 3], True), (0, False), ([0], False)]
)
def test_attempts_are_all_a_count_or_a_list(attempts: object, ok: bool) -> None:
    """A fault's attempts: ``all``, a positive attempt number, or a list of them."""
    data = {"step_timeout": {"step": "s", "attempts": attempts}}
    if ok:
        made = scenario(faults=[data])
        assert action_value(made.faults[0]).attempts == attempts
    else:
        with pytest.raises(ValidationError):
            scenario(faults=[data])


def test_an_item_that_is_not_a_one_key_mapping_says_how_to_write_it() -> None:
    """A bare string or a two-key mapping in when: is refused with the item's shape."""
    data = {"name": "x", "runbook": RUNBOOK, "when": ["w", {"run": "w", "resume": "w"}]}
    message = "write each action as a one-key mapping, e.g. '- run: ...'"
    assert errors(data) == [(("when", 0), message), (("when", 1), message)]


def test_each_action_and_fault_is_one_model_per_name() -> None:
    """The tables name every item the format knows; the union is built from them."""
    assert "run" in ACTIONS
    assert "disk_full" in FAULTS
    schema = Scenario.model_json_schema()
    assert schema["required"] == ["name", "runbook"]
    assert schema["additionalProperties"] is False


def test_the_json_schema_gives_durations_their_pattern() -> None:
    """Editors validate durations with the same pattern the parser reads."""
    text = json.dumps(Scenario.model_json_schema())
    assert json.dumps({"pattern": DURATION_PATTERN})[1:-1] in text
    assert json.dumps({"pattern": DURATION_PATTERN.replace("-?", "")})[1:-1] in text


def test_references_are_always_a_list() -> None:
    """One runbook reference or several: ``references`` lists them."""
    assert scenario().references == [RUNBOOK]
    assert scenario(runbook=[RUNBOOK, "x"]).references == [RUNBOOK, "x"]


# -- what a capture writes: bytes, placeholders, empty folders, a lock's own times ---------------


@given(st.binary(max_size=64))
def test_a_files_bytes_written_in_base64_read_back_exactly(data: bytes) -> None:
    import base64

    from pytest_tapps.scenario._model import FileSpec

    spec = FileSpec(path=".tapps-agents/x", base64=base64.b64encode(data).decode())
    assert spec.data() == data


def test_a_file_is_given_one_content() -> None:
    from pytest_tapps.scenario._model import FileSpec

    assert FileSpec(path="a", size=4).data() == b"xxxx"
    assert FileSpec(path="a").data() == b"x"
    assert FileSpec(path="a", content="é").data() == "é".encode()
    with pytest.raises(
        ValidationError, match="give one of content, base64 or size, not content and size"
    ):
        FileSpec(path="a", content="x", size=1)
    with pytest.raises(ValidationError, match="not base64 and size"):
        FileSpec(path="a", base64="eA==", size=1)
    with pytest.raises(ValidationError, match="base64 does not decode"):
        FileSpec(path="a", base64="eA=")
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        FileSpec(path="a", size=-1)


def test_a_lock_keeps_its_own_times() -> None:
    from pytest_tapps.scenario._model import LockSpec

    lock = LockSpec.model_validate(
        {
            "workflow": "wf",
            "holder": "live",
            "heartbeat_age": "2h",
            "created_age": "3h",
            "ttl": "10m",
        }
    )
    assert (lock.heartbeat_age, lock.created_age, lock.ttl) == (7200.0, 10800.0, 600.0)
    assert LockSpec(workflow="wf").ttl is None  # the core's default is used
    with pytest.raises(ValidationError, match="greater than 0"):
        LockSpec.model_validate({"workflow": "wf", "ttl": "0s"})
    with pytest.raises(ValidationError, match="has no unit"):
        LockSpec.model_validate({"workflow": "wf", "heartbeat_age": 5})


def test_numbered_files_spread_their_ages_from_the_first_to_the_last() -> None:
    from pytest_tapps.scenario._model import FileSpec

    spec = FileSpec.model_validate(
        {"path": "a/e-{n}.log", "count": 5, "age": "1d", "age_to": "5d", "size": 2}
    )
    assert spec.expand() == [
        ("a/e-1.log", 86400.0),
        ("a/e-2.log", 172800.0),
        ("a/e-3.log", 259200.0),
        ("a/e-4.log", 345600.0),
        ("a/e-5.log", 432000.0),
    ]
    same = FileSpec.model_validate({"path": "a/{n}", "count": 2, "age": "3h"})
    assert [age for _, age in same.expand()] == [10800.0, 10800.0]
    assert FileSpec(path="a/{n}").expand() == [("a/{n}", 0.0)]  # without count: a plain name
    with pytest.raises(ValidationError, match=r"holds \{n\} once"):
        FileSpec.model_validate({"path": "a/b", "count": 2})
    with pytest.raises(ValidationError, match=r"holds \{n\} once"):
        FileSpec.model_validate({"path": "a/{n}-{n}", "count": 2})
    with pytest.raises(ValidationError, match="give count too"):
        FileSpec.model_validate({"path": "a/{n}", "age_to": "1d"})
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        FileSpec.model_validate({"path": "a/{n}", "count": 0})
