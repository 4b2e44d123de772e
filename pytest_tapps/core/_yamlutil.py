"""YAML with line numbers, for error messages that point at the line to fix.

ruamel.yaml (YAML 1.2: ``no`` stays a string, ``1:30`` is not sexagesimal; duplicate keys are
errors) is imported only when a YAML file is actually read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pytest_tapps.core._errors import TappsError
from pytest_tapps.core._nesting import MAX_DEPTH, TOO_DEEP, too_deep


class Problem(NamedTuple):
    """One problem in a file: ``FILE:LINE: field.path: message (did you mean 'x'?)``."""

    path: Path
    line: int | None
    field: str
    message: str
    source: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        head = (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )
        return f"{head}\n    {self.source}" if self.source else head


class YamlFileError(TappsError, ValueError):
    """A YAML file that cannot be used; ``problems`` lists every problem found."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The choice ``name`` was most likely meant to be, or ``None`` when none is close."""
    import difflib  # here: only a misspelt name needs it

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = closest(name, choices)
    return f" (did you mean {close!r}?)" if close is not None else ""


def key_position(node: Any, key: Any, *, value: bool = False) -> tuple[int, int]:
    """0-based line and column of ``key`` (or of its value) in a ruamel mapping, looking into
    the mappings merged in with ``<<:`` for keys written there; ``KeyError`` if unknown."""
    lc = getattr(node, "lc", None)
    if lc is not None:
        try:
            position: tuple[int, int] | None = lc.value(key) if value else lc.key(key)
        except KeyError:
            position = None  # not written in this mapping: merged in, or not there at all
        if position is not None:
            return position
    for source in getattr(node, "merge", None) or ():
        merged = source[1] if isinstance(source, tuple) else source
        if isinstance(merged, dict) and key in merged:
            return key_position(merged, key, value=value)
    raise KeyError(key)


class YamlDocument:
    """A loaded YAML document that can tell the line of any key or item."""

    def __init__(self, path: Path, data: Any, text: str) -> None:
        self.path = path
        self.data = data
        self.lines = text.splitlines()

    def line_of(self, keys: Sequence[str | int]) -> int | None:
        """1-based line of the node at ``keys`` (the deepest one that exists)."""
        node = self.data
        line: int | None = None
        for key in keys:
            lc = getattr(node, "lc", None)
            if lc is None:
                break
            try:
                if isinstance(key, int) and isinstance(node, list):
                    line = lc.item(key)[0] + 1
                    node = node[key]
                elif isinstance(node, dict) and key in node:
                    line = key_position(node, key)[0] + 1
                    node = node[key]
                else:
                    break
            except (KeyError, IndexError, TypeError):
                break
        return line

    def source_line(self, line: int | None) -> str | None:
        if line is None or not 1 <= line <= len(self.lines):
            return None
        return self.lines[line - 1].strip()

    def problem(self, keys: Sequence[str | int], message: str) -> Problem:
        """A problem at ``keys``, with its line and source line."""
        line = self.line_of(keys)
        field = ".".join(str(key) for key in keys)
        return Problem(self.path, line, field, message, self.source_line(line))


def load_yaml(
    path: Path, *, preserve_quotes: bool = False, allow_duplicate_keys: bool = False
) -> YamlDocument:
    """Read ``path`` as YAML; a syntax error or duplicate key raises :class:`YamlFileError`.
    ``preserve_quotes`` keeps quoted strings apart from plain ones (for strictness checks);
    ``allow_duplicate_keys`` keeps the first of duplicate keys (for callers that report every
    duplicate themselves)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(
            [Problem(path, None, "", f"cannot read the file ({exc.strerror})")]
        ) from None
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8"
        raise YamlFileError([Problem(path, None, "", message)]) from None
    try:
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = preserve_quotes
        yaml.allow_duplicate_keys = allow_duplicate_keys
        data = bounded_load(path, text, yaml.load)
    except MarkedYAMLError as exc:
        lines = text.splitlines()
        line, reason = syntax_problem(exc, lines)
        source = None
        if line is not None and line <= len(lines):  # as written: indentation is the point
            source = lines[line - 1].rstrip().replace("\t", "\\t")
        raise YamlFileError([Problem(path, line, "", reason, source)]) from None
    except YAMLError as exc:
        raise YamlFileError([Problem(path, None, "", f"invalid YAML: {exc}")]) from None
    return YamlDocument(path, data, text)


def plain(node: Any) -> Any:
    """Plain Python data from what the round-trip loader gives (its mappings, lists and scalar
    subclasses): ``dict`` with text keys, ``list``, and :func:`plain_scalar`'s values."""
    if isinstance(node, Mapping):
        return {str(key): plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain(item) for item in node]
    return plain_scalar(node)


def plain_scalar(node: Any) -> Any:
    """A scalar of the round-trip loader as a JSON value: ``bool`` (an anchored ``&t true``
    loads as ruamel's ``ScalarBoolean``, an ``int``), ``int``, ``float``, text (timestamps in
    ISO form, a tagged value's text), or ``None``."""
    from datetime import date, datetime

    from ruamel.yaml.comments import TaggedScalar
    from ruamel.yaml.scalarbool import ScalarBoolean

    if isinstance(node, bool | ScalarBoolean):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime):
        return node.isoformat().replace("+00:00", "Z")
    if isinstance(node, date):
        return node.isoformat()
    if isinstance(node, TaggedScalar):
        return str(node.value)
    return None if node is None else str(node)


def value_at(data: Any, loc: Sequence[Any]) -> Any:
    """The value at ``loc`` (keys and indexes) in ``data``, or ``None`` when there is none."""
    node = data
    for key in loc:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def bounded_load(path: Path, text: str, load: Callable[[str], Any]) -> Any:
    """``load(text)`` (a YAML loader's ``load``), refusing a file nested deeper than
    :data:`MAX_DEPTH` (which the loader, or the code walking what it loaded, cannot recurse
    through) with a :class:`YamlFileError` at the line where it gets too deep."""
    try:
        data = load(text)
    except RecursionError:
        raise YamlFileError([nesting_problem(path, text)]) from None
    if too_deep(data):
        raise YamlFileError([nesting_problem(path, text)])
    return data


def nesting_problem(path: Path, text: str) -> Problem:
    """The problem of a YAML file nested deeper than :data:`MAX_DEPTH`, at the line where the
    first mapping or list too deep starts (found by ruamel's parser, which does not recurse)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

    depth = 0
    line: int | None = None
    for event in YAML(typ="rt").parse(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1
                break
        elif isinstance(event, CollectionEndEvent):
            depth -= 1
    lines = text.splitlines()
    source = lines[line - 1].strip()[:80] if line is not None and line <= len(lines) else None
    if line is None:  # as written it is shallow: an alias repeats a mapping or list inside itself
        message = f"{TOO_DEEP}: an alias (*name) inside the mapping or list it names (&name)"
    else:
        message = f"{TOO_DEEP}; flatten it"
    return Problem(path, line, "", message, source)


#: The message for a second document (``---``) in a file that holds one.
SECOND_DOCUMENT = "a second YAML document starts here; the file holds one document"
_BAD_START = re.compile(r"found character '(.+)' that cannot start any token")
_ALIAS = re.compile(r"found undefined alias '(.+)'")
_INDENTATION = (
    "indentation: this line does not line up with the keys of the mapping above it (line {}); "
    "keys of one mapping start in the same column"
)


def syntax_problem(exc: Any, lines: Sequence[str]) -> tuple[int | None, str]:
    """The line and a plain-words message for ruamel's ``MarkedYAMLError`` ``exc``: what is
    wrong in words a reader of the file knows (indentation, a tab, a quote never closed),
    not the parser's own terms; the parser's text when no plain reading is known."""
    problem = " ".join(str(exc.problem or "").split())
    context = " ".join(str(exc.context or "").split())
    mark, start = exc.problem_mark, exc.context_mark
    line = mark.line + 1 if mark is not None else start.line + 1 if start is not None else None
    opened = start.line + 1 if start is not None else None
    text = lines[line - 1] if line is not None and line <= len(lines) else ""
    if "duplicate key" in problem:
        return line, f"{problem}; each key may appear once"
    if problem == "found character '\\t' that cannot start any token":
        column = mark.column + 1 if mark is not None else 1
        return line, (
            f"a tab character (column {column}); YAML indents and separates with spaces "
            "only: replace the tab with spaces"
        )
    if (found := _BAD_START.fullmatch(problem)) is not None:
        value = text[mark.column :].strip() if mark is not None else ""
        return line, f'{found[1]!r} cannot start a value; put the value in quotes: "{value}"'
    if problem == "but found another document":
        return line, SECOND_DOCUMENT
    if problem == "mapping values are not allowed here":
        return _misplaced_colon(line, text, lines, mark.column if mark is not None else 0)
    if problem == "could not find expected ':'" and opened is not None:
        key = lines[opened - 1].strip() if opened <= len(lines) else ""
        if key.startswith("-") and not key.startswith(("- ", "-\t")) and key != "-":
            return opened, "a list item starts with '- ' (a dash, then a space)"
        return opened, "this line has no ':' after its key; write 'key: value'"
    if "while scanning a quoted scalar" in context and opened is not None:
        return opened, "a quote opened on this line is never closed; close it"
    if context.startswith("while parsing a flow") and opened is not None:
        brace = "{" if "mapping" in context else "["
        if opened == line:
            return (
                line,
                f"a ',' is missing between the entries of this {brace!r}, or it is not closed",
            )
        return line, (
            f"the {brace!r} opened on line {opened} is not closed before this line "
            "(or a ',' is missing between its entries)"
        )
    if problem.startswith("expected <block end>"):
        column = mark.column if mark is not None else 0
        return line, _block_end(problem, context, opened, text[:column])
    if (alias := _ALIAS.fullmatch(problem)) is not None:
        return line, f"'*{alias[1]}' refers to an anchor '&{alias[1]}' that is not defined above"
    return line, problem or context or "invalid YAML"


def _block_end(problem: str, context: str, opened: int | None, before: str) -> str:
    """``expected <block end>``: a line that does not line up with its block; ``before`` is
    the text of the line before the point the parser stopped at."""
    if "block collection" in context:
        return (
            f"indentation: this line is at the column of the list above (line {opened}) "
            "but is not an item of it; indent it under its item, or start it with '- '"
        )
    if problem.endswith(("'-'", "'<block sequence start>'")):
        return (
            "indentation: this list item ('- ') does not line up with the items above "
            "it, or follows a key that already has a value"
        )
    if problem.endswith("'<scalar>'") and before.rstrip().endswith(("'", '"')):
        return "text after a closing quote; put the whole value inside the quotes"
    return _INDENTATION.format(opened)


def _misplaced_colon(
    line: int | None, text: str, lines: Sequence[str], column: int
) -> tuple[int | None, str]:
    """``mapping values are not allowed here``: a value holding ``': '``, a line indented
    deeper than the one above, or a key above without its ``':'``."""
    colon = text.find(": ")
    if 0 <= colon < column and not text.lstrip().startswith("#"):
        value = text[colon + 2 :].strip()
        return line, (
            f"this value contains ': ', which YAML reads as another key; put the whole value "
            f'in quotes: "{value}"'
        )
    if line is None:
        return line, "a ':' where YAML cannot place a key: check the indentation"
    above = next(
        (
            number
            for number in range(line - 1, 0, -1)
            if lines[number - 1].strip() and not lines[number - 1].lstrip().startswith("#")
        ),
        None,
    )
    if above is not None and _content_column(lines[above - 1]) < _content_column(text):
        return line, (
            f"indentation: this line is indented more than line {above}, so YAML reads it as "
            f"part of that line's value; keys of one mapping start in the same column"
        )
    if above is not None:
        return above, "this line has no ':' after its key; write 'key: value'"
    return line, "a ':' where YAML cannot place a key: check the indentation"


def _content_column(text: str) -> int:
    """Where a line's key starts: after its indentation and any ``- `` list markers."""
    column = len(text) - len(text.lstrip(" "))
    while text[column : column + 2] == "- ":
        column += 2
        column += len(text[column:]) - len(text[column:].lstrip(" "))
    return column
