"""Tests for pytest_tapps.cli._output: table and duration formatting."""

from __future__ import annotations

import io
import sys

import pytest

from pytest_tapps.cli._output import Progress, age, columns, duration, format_table


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
        (59.96, "1m 0s"),
        (10368054, "120d 0h"),
        (120 * 86400 + 3 * 3600 + 59, "120d 3h"),
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


def test_columns_align_after_a_long_label_measured_as_printed() -> None:
    """Each column is as wide as its widest cell once escaped (a name's byte 0xff prints as
    the four characters \\xff); right-aligned columns line up at their right edge."""
    rows = [("wf-\udcff", "1d 0h", "a"), ("a-much-longer-label", "5s", "b"), ("x", None, "c")]
    assert columns(rows, right=(1,), indent="  ") == [
        "  wf-\\xff              1d 0h  a",
        "  a-much-longer-label     5s  b",
        "  x                        -  c",
    ]


def test_ages_are_whole_and_signed() -> None:
    """An age rounds to whole seconds; one ahead of the clock keeps its sign; none is None."""
    assert [age(s) for s in (None, 4.6, -3600.0, 10378800.4)] == [None, "5s", "-1h 0m", "120d 3h"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_only_on_a_terminal_after_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short runs and pipes stay quiet; a long run on a terminal shows a counter on stderr."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    ticks = iter([0.5, 2.0, 2.5])
    progress = Progress("tapps cleanup")
    progress._time = lambda: next(ticks)
    progress._start = 0.0
    progress(10)
    assert terminal.getvalue() == ""
    progress(2048, 4096)
    progress(3000)
    progress.close()
    assert terminal.getvalue() == "\rtapps cleanup [2048/4096]\rtapps cleanup [3000 items]\n"
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    quiet = Progress("tapps cleanup")
    quiet._start = -10.0
    quiet(5)
    quiet.close()
    assert piped.getvalue() == ""


def test_a_printed_result_is_written_warnings_first_and_gives_its_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """emit writes stderr (warnings) then stdout exactly as rendered, and returns the code;
    text() ends every line with a newline, as one print per line would."""
    from pytest_tapps.cli._output import Printed, emit, text

    printed = Printed(1, text(["removed a", "", "kept 2"]), "tapps: warning: x\n")
    assert printed.out == "removed a\n\nkept 2\n"
    assert emit(printed) == 1
    assert capsys.readouterr() == ("removed a\n\nkept 2\n", "tapps: warning: x\n")
    assert text([]) == ""
