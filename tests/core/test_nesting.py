"""The nesting bound: JSON and YAML nested deeper than 100 levels are refused, not recursed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core._errors import StateFileError
from pytest_tapps.core._nesting import MAX_DEPTH, TOO_DEEP, NestingError, load_json, too_deep
from pytest_tapps.core._store import dump_json, read_json_object
from pytest_tapps.core._yamlutil import YamlFileError, load_yaml


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@given(depth=st.integers(min_value=1, max_value=2 * MAX_DEPTH))
def test_json_up_to_the_bound_loads_and_deeper_is_refused(depth: int) -> None:
    """A value nested ``depth`` levels loads when ``depth <= MAX_DEPTH``, else NestingError."""
    if depth <= MAX_DEPTH:
        assert too_deep(load_json(_nested(depth))) is False
    else:
        with pytest.raises(NestingError, match=r"^nested too deep \(more than 100 levels"):
            load_json(_nested(depth))


def test_json_too_deep_for_the_parser_is_a_nesting_error() -> None:
    """100,000 brackets (past Python's recursion limit) are a NestingError, not RecursionError."""
    with pytest.raises(NestingError):
        load_json("[" * 100_000)


def test_a_value_that_holds_itself_is_too_deep() -> None:
    """A list holding itself (a YAML alias can make one) ends the walk as too deep."""
    looped: list[object] = []
    looped.append(looped)
    assert too_deep(looped)


def test_a_state_nested_too_deep_is_a_state_file_error(tmp_path: Path) -> None:
    """read_json_object names the file and the reason."""
    path = tmp_path / "state.json"
    path.write_text('{"a": ' + _nested(3000) + "}")
    with pytest.raises(StateFileError) as caught:
        read_json_object(path)
    assert str(caught.value) == f"{path}: {TOO_DEEP}"


def test_a_lone_surrogate_is_written_as_ascii_json_that_reads_back() -> None:
    """dump_json escapes what UTF-8 cannot hold; other data stays UTF-8 text."""
    assert dump_json({"a": "é"}) == '{\n  "a": "é"\n}\n'.encode()
    written = dump_json({"a": "x\ud800", "b": "é"})
    assert b"\\ud800" in written
    assert json.loads(written.decode("utf-8")) == {"a": "x\ud800", "b": "é"}


def test_yaml_too_deep_names_its_line(tmp_path: Path) -> None:
    """A YAML file nested 500 deep is one problem at the line of the 101st level."""
    path = tmp_path / "deep.yaml"
    path.write_text("a:\n" + "".join("  " * (i + 1) + "- b:\n" for i in range(500)))
    with pytest.raises(YamlFileError) as caught:
        load_yaml(path)
    assert str(caught.value) == f"{path}:51: {TOO_DEEP}; flatten it\n    - b:"
