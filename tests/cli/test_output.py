"""Tests for pytest_tapps.cli._output: table and duration formatting."""

from __future__ import annotations

import pytest

from pytest_tapps.cli._output import duration, format_table


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, None),
        (0, "0s"),
        (5.2, "5.2s"),
        (59, "59s"),
        (60, "1m 0s"),
        (910, "15m 10s"),
        (3600, "1h 0m"),
        (47 * 3600 + 59 * 60, "47h 59m"),
        (48 * 3600, "2d 0h"),
        (30 * 86400 + 3600, "30d 1h"),
    ],
)
def test_durations_read_at_a_glance(seconds: float | None, text: str | None) -> None:
    """Durations use the largest sensible units."""
    assert duration(seconds) == text


def test_tables_align_columns_and_mark_missing_cells() -> None:
    """Columns are as wide as their widest cell; None prints as '-'."""
    table = format_table(("step", "attempts"), [("plan", 1), ("critical-step", None)])
    assert table.splitlines() == [
        "STEP           ATTEMPTS",
        "plan           1",
        "critical-step  -",
    ]
