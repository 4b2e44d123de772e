"""Printing tables and JSON for the command line, and :class:`Printed`: what a command prints,
rendered once for the command line and for the scenario layer's reference target."""

from __future__ import annotations

import codecs
import contextlib
import sys
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, TextIO

from pytest_tapps.core._durations import human_duration
from pytest_tapps.core._shown import escaped, visible


class Printed(NamedTuple):
    """What a command prints on stdout and stderr, and the exit code it gives.

    Each command renders its result into one of these: the command line writes it
    (:func:`emit`) and the reference core's scenario target returns it as the action's output,
    so a scenario reads the same text from the core in-process as from ``tapps`` itself."""

    code: int
    out: str = ""
    err: str = ""


def emit(printed: Printed) -> int:
    """Write ``printed`` (stderr first, as warnings come before what they qualify) and return
    its exit code."""
    if printed.err:
        sys.stderr.write(printed.err)
    if printed.out:
        sys.stdout.write(printed.out)
    return printed.code


#: The codec error handler that writes each unencodable character as :func:`escaped` says.
ESCAPE_ERRORS = "tapps.escape"


def _escape_errors(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join(map(escaped, exc.object[exc.start : exc.end])), exc.end


@contextlib.contextmanager
def escaping_output() -> Iterator[None]:
    """For the block, stdout and stderr write what they cannot encode (a file name's
    undecodable bytes, a lone surrogate read from a state) escaped, instead of raising
    ``UnicodeEncodeError`` halfway through a command's output."""
    codecs.register_error(ESCAPE_ERRORS, _escape_errors)
    restore: list[tuple[Any, str | None]] = []
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and stream.errors != ESCAPE_ERRORS:
            restore.append((stream, stream.errors))
            stream.reconfigure(errors=ESCAPE_ERRORS)
    try:
        yield
    finally:
        for stream, errors in restore:
            stream.reconfigure(errors=errors)


def text(lines: Iterable[str]) -> str:
    """``lines`` as printed one ``print`` each: every line ends with a newline."""
    return "".join(f"{line}\n" for line in lines)


def columns(
    rows: Sequence[Sequence[Any]], *, right: Collection[int] = (), indent: str = ""
) -> list[str]:
    """``rows`` as lines of aligned columns, as ``column -t`` does: each column as wide as its
    widest cell (measured after :func:`visible` escapes, as printed), two spaces apart; the
    columns numbered in ``right`` are aligned right; ``None`` cells print as ``-``."""
    cells = [[("-" if cell is None else visible(str(cell))) for cell in row] for row in rows]
    widths = [max(map(len, column)) for column in zip(*cells, strict=True)]
    return [
        indent
        + "  ".join(
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table under upper-case ``headers``; ``None`` cells print as ``-``."""
    return "\n".join(columns([[header.upper() for header in headers], *rows]))


def json_text(data: Any) -> str:
    """Pretty JSON, one document and a newline: what ``--json`` prints.

    It is always UTF-8 text: a lone surrogate in a string (an undecodable byte of a file name,
    or one read from a state) is written as the text :func:`escaped` gives, so a name with the
    byte 0xff reads ``"a\\\\xff"`` in the JSON (the four characters ``\\xff`` once parsed)."""
    import json  # here: commands print text unless asked for --json

    dumped = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    return visible(dumped, backslash="\\")


def print_json(data: Any, stream: TextIO | None = None) -> None:
    """Pretty JSON on stdout, one document."""
    out = stream if stream is not None else sys.stdout
    out.write(json_text(data))


def duration(seconds: float | None) -> str | None:
    """A duration or an age in a table (:func:`~pytest_tapps.core._durations.human_duration`:
    ``5.2s``, ``15m 0s``, ``120d 3h``); ``None`` when there is none."""
    return None if seconds is None else human_duration(seconds)


def age(seconds: float | None) -> str | None:
    """An age in a table: :func:`duration` of the whole seconds (``120d 3h``), ``-1h 0m`` for
    a timestamp that lies ahead of the clock; ``None`` when there is none."""
    if seconds is None:
        return None
    whole = round(seconds)
    return f"-{human_duration(-whole)}" if whole < 0 else human_duration(whole)


def human_bytes(count: int) -> str:
    """``0 B``, ``512 B``, ``1.5 KiB``, ``3.2 MiB``."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"  # unreachable: the loop returns at GiB


class Progress:
    """``[n/total]`` (or ``[n]``) on stderr, only on a terminal and only once a run has lasted a
    second."""

    def __init__(self, label: str) -> None:
        import time

        self._time = time.monotonic
        self._start = self._time()
        self._label = label
        self._shown = False
        self._enabled = sys.stderr.isatty()

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self._enabled or self._time() - self._start < 1.0:
            return
        count = f"{done}/{total}" if total is not None else f"{done} items"
        sys.stderr.write(f"\r{self._label} [{count}]")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
