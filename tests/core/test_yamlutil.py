"""Tests for pytest_tapps.core._yamlutil: YAML mistakes said in plain words, at their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_tapps.core._yamlutil import YamlFileError, closest, did_you_mean, load_yaml


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "a: @foo\n",
            1,
            "'@' cannot start a value; put the value in quotes: \"@foo\"",
        ),
        (
            "a: *nope\n",
            1,
            "'*nope' refers to an anchor '&nope' that is not defined above",
        ),
        (
            "a: {b: 1 c: 2}\n",
            1,
            "a ',' is missing between the entries of this '{', or it is not closed",
        ),
        (
            'a: "x" y\n',
            1,
            "text after a closing quote; put the whole value inside the quotes",
        ),
        (
            "a:\n  b: 1\nc: 2\n  d: 3\n",
            4,
            "indentation: this line is indented more than line 3, so YAML reads it as part of "
            "that line's value; keys of one mapping start in the same column",
        ),
        (
            "a: 1\n...\nb: 2\n",
            3,
            "a second YAML document starts here; the file holds one document",
        ),
        (
            "a:\n  b:\n  \tc: 2\n",
            3,
            "a tab character (column 3); YAML indents and separates with spaces only: replace "
            "the tab with spaces",
        ),
    ],
)
def test_yaml_mistakes_are_said_in_plain_words(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    """Each mistake ruamel can only name in parser terms (token, block end, simple key) is
    one problem in plain words at the line to fix."""
    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YamlFileError) as caught:
        load_yaml(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.message) == (line, message)


def test_a_mistake_without_a_plain_reading_keeps_the_parser_words(tmp_path: Path) -> None:
    """A directive after a document has no plain reading: the parser's own words stay."""
    path = tmp_path / "file.yaml"
    path.write_text("a: 1\n%YAML 1.2\n", encoding="utf-8")
    with pytest.raises(YamlFileError) as caught:
        load_yaml(path)
    assert caught.value.problems[0].message == (
        "expected '<document start>', but found ('<stream end>',)"
    )


def test_closest_is_the_suggestion_did_you_mean_words() -> None:
    """closest() gives the name did_you_mean() suggests, or None when nothing is close."""
    assert closest("stauts", ["status", "steps"]) == "status"
    assert did_you_mean("stauts", ["status", "steps"]) == " (did you mean 'status'?)"
    assert closest("zzz", ["status"]) is None
    assert did_you_mean("zzz", ["status"]) == ""
