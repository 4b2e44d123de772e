"""Tests for pytest_tapps.core._shown: how names that are not valid text are written."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core._shown import quoted, visible


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        (os.fsdecode(b"lib\xff"), "'lib\\xff'"),
        (os.fsdecode(b"\x80\xfe"), "'\\x80\\xfe'"),
        ("x\ud800", "'x\\ud800'"),
        ("a\\udcff", "'a\\\\udcff'"),  # a literal backslash stays doubled, as repr writes it
        ("it's\udcff", '"it\'s\\xff"'),
        ("line\nbreak", "'line\\nbreak'"),
        ("plain", "'plain'"),
    ],
)
def test_quoted_is_repr_with_a_names_bytes_as_backslash_x(name: str, shown: str) -> None:
    """``quoted`` quotes as ``repr`` does, but writes an undecodable byte as ``\\xNN`` (as
    ``visible`` does), never ``\\udcNN``."""
    assert quoted(name) == shown


@given(st.text())
def test_quoted_differs_from_repr_only_in_surrogates(name: str) -> None:
    """Text with no lone surrogate is quoted exactly as ``repr`` quotes it."""
    clean = "".join(ch for ch in name if not 0xD800 <= ord(ch) <= 0xDFFF)
    assert quoted(clean) == repr(clean)


def test_visible_and_quoted_write_a_byte_the_same_way() -> None:
    """One rule: the byte 0xff reads ``\\xff`` in a table cell and in a quoted name."""
    name = os.fsdecode(b"wt\xff")
    assert visible(name) == "wt\\xff"
    assert quoted(name) == f"'{visible(name)}'"
