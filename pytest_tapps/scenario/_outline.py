"""One scenario over a table of values: ``examples:``, as Gherkin's Scenario Outline.

A scenario with ``examples:`` is a template. Each row of the table (a mapping of column: value)
makes one scenario named ``NAME[ID]``, its ``<column>`` placeholders filled with the row's
values: in any value or key, in the name, inside text (``"<days>d"``). A placeholder that is a
whole value takes the cell as written, type and all, so ``age: <age>`` with a cell ``31`` is the
number 31 and is refused as a literal 31 would be; inside text the cell is written as text.
Every filled value remembers the cell it came from (:attr:`Loaded.filled`), so a problem caused
by a row points at that row's line, while a failure of the run still points at the template.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_tapps.core._yamlutil import Problem, did_you_mean
from pytest_tapps.scenario._load import Loaded, Loc, Origin

EXAMPLES = "examples"
#: The column that names a row in its test id (it need not be used as a placeholder).
ID = "id"
PLACEHOLDER = re.compile(r"<([A-Za-z_][A-Za-z0-9_-]*)>")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
#: Prose: filled as text, and a ``<word>`` that is no column stays as written (runbook quotes).
_PROSE_LOCS: list[Loc] = [("description",)]
#: Filled as text even where a placeholder is the whole value.
_TEXT_LOCS: list[Loc] = [("name",), *_PROSE_LOCS]


class _Skip(Exception):
    """A row that cannot be filled; its problem is reported."""


def expand(loaded: Iterable[Loaded], problems: list[Problem]) -> list[Loaded]:
    """Every scenario of ``loaded``, each outline replaced by its rows; the problems of the
    tables and templates are appended to ``problems``."""
    out: list[Loaded] = []
    for item in loaded:
        if EXAMPLES in item.data:
            out.extend(_rows(item, problems))
        else:
            out.append(item)
    return out


def text_of(value: Any) -> str | None:
    """A cell as text inside a longer text: ``None`` for a list or mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    if value is None:
        return ""  # an empty cell: the strict checks have reported it
    return None


def fill_text(text: str, cells: Mapping[str, Any]) -> str:
    """``text`` with each ``<column>`` of ``cells`` written as text, in one pass (a cell's
    own ``<...>`` is not filled again); other ``<...>`` stay as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in cells:
            return match.group(0)
        written = text_of(cells[name])
        if written is None:
            raise _Skip(name)
        return written

    return PLACEHOLDER.sub(replace, text)


def whole(text: str, cells: Mapping[str, Any]) -> str | None:
    """The column ``text`` names when it is one placeholder and nothing else."""
    match = PLACEHOLDER.fullmatch(text)
    return match.group(1) if match is not None and match.group(1) in cells else None


# -- the table -----------------------------------------------------------------------------------


def _rows(item: Loaded, problems: list[Problem]) -> list[Loaded]:
    table = item.data[EXAMPLES]
    if table is None:
        return []  # an empty value: the strict checks have reported it
    if not isinstance(table, list) or not table:
        message = "write a list of rows, each a mapping of column: value, e.g. '- {id: a, age: 8d}'"
        problems.append(item.problem([EXAMPLES], message))
        return []
    rows = [(index, row) for index, row in enumerate(table) if _is_row(item, index, row, problems)]
    if not rows:
        return []
    first_index, first = rows[0]
    columns = list(first)
    template = {key: value for key, value in item.data.items() if key != EXAMPLES}
    used, unknown = _placeholders(item, template, columns)
    problems.extend(unknown)
    for column in columns:
        if column != ID and column not in used:
            message = (
                f"column {column!r} is not used: write <{column}> where its value goes, "
                "or remove the column"
            )
            problems.append(item.problem([EXAMPLES, first_index, column], message))
    if unknown:
        return []  # rows with placeholders left in would only repeat these problems
    out: list[Loaded] = []
    ids: dict[str, int] = {}
    for index, cells in rows:
        if not _same_columns(item, index, cells, columns, problems):
            continue
        row_id = _row_id(item, index, cells, problems)
        if row_id is None:
            continue
        line = item.origins[(EXAMPLES, index)].line or item.line
        if row_id in ids:
            hint = "" if ID in cells else " (add an id: column to name each row)"
            message = (
                f"this row's id {row_id!r} is already the id of the row at line {ids[row_id]}; "
                f"give each row its own id{hint}"
            )
            where: Loc = (EXAMPLES, index, ID) if ID in cells else (EXAMPLES, index)
            problems.append(item.problem(where, message))
            continue
        ids[row_id] = line
        row = _Row(item, index, cells)
        try:
            data = row.fill(template, ())
        except _Skip:
            problems.extend(row.problems)
            continue
        problems.extend(row.problems)
        if isinstance(data.get("name"), str):
            data["name"] = f"{data['name']}[{row_id}]"
        row.origins[()] = Origin(item.path, line, None)
        out.append(Loaded(data, item.path, line, row.origins, row.filled))
    return out


def _is_row(item: Loaded, index: int, row: Any, problems: list[Problem]) -> bool:
    if not isinstance(row, dict) or not row:
        message = "each row is a mapping of column: value, e.g. '- {id: debug, age: 8d}'"
        problems.append(item.problem([EXAMPLES, index], message))
        return False
    good = True
    for column in row:
        if not _COLUMN.match(column):
            message = (
                f"{column!r} cannot be a column: a column is a word of letters, digits, _ and - "
                "(it is written <name> where its value goes)"
            )
            problems.append(item.problem([EXAMPLES, index, column], message))
            good = False
    return good


def _same_columns(
    item: Loaded, index: int, cells: Mapping[str, Any], columns: list[str], problems: list[Problem]
) -> bool:
    listed = ", ".join(columns)
    found = []
    for column in cells:
        if column not in columns:
            message = (
                f"column {column!r} is not in the first row{did_you_mean(column, columns)}; "
                f"every row has the first row's columns: {listed}"
            )
            found.append(item.problem([EXAMPLES, index, column], message))
    for column in columns:
        if column not in cells:
            message = (
                f"no value for {column!r}, so <{column}> is left unfilled; every row has the "
                f"first row's columns: {listed}"
            )
            found.append(item.problem([EXAMPLES, index], message))
    problems.extend(found)
    return not found


def _row_id(
    item: Loaded, index: int, cells: Mapping[str, Any], problems: list[Problem]
) -> str | None:
    """The row's id: its ``id`` cell, else its values joined by ``-`` (as pytest-bdd does)."""
    if ID in cells:
        written = cells[ID]
        if isinstance(written, bool) or not isinstance(written, str | int | float) or written == "":
            if written is not None:  # an empty cell is reported by the strict checks
                message = f"write the row's id as text, e.g. 'debug-logs' (got {written!r})"
                problems.append(item.problem([EXAMPLES, index, ID], message))
            return None
        return str(written)
    parts = [text_of(value) for value in cells.values()]
    return "-".join(part for part in parts if part) or str(index)


def _placeholders(
    item: Loaded, template: Mapping[str, Any], columns: list[str]
) -> tuple[set[str], list[Problem]]:
    """The columns the template uses, and a problem for each placeholder that names none."""
    used: set[str] = set()
    unknown: list[Problem] = []

    def check(text: str, loc: Loc, prose: bool) -> None:
        for name in dict.fromkeys(PLACEHOLDER.findall(text)):
            if name in columns:
                used.add(name)
            elif not prose:
                message = (
                    f"unknown placeholder <{name}>{did_you_mean(name, columns)}; the columns of "
                    f"examples: are {', '.join(columns)}"
                )
                unknown.append(item.problem(loc, message))

    def visit(node: Any, loc: Loc) -> None:
        prose = loc[:1] in _PROSE_LOCS
        if isinstance(node, str):
            check(node, loc, prose)
        elif isinstance(node, dict):
            for key, value in node.items():
                check(key, (*loc, key), prose)
                visit(value, (*loc, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                visit(value, (*loc, index))

    visit(template, ())
    return used, unknown


# -- one row -------------------------------------------------------------------------------------


class _Row:
    """The template filled with one row's cells; where each value came from."""

    def __init__(self, item: Loaded, index: int, cells: Mapping[str, Any]) -> None:
        self.item = item
        self.index = index
        self.cells = cells
        self.origins: dict[Loc, Origin] = {}
        self.filled: dict[Loc, Origin] = {}
        self.problems: list[Problem] = []

    def fill(self, node: Any, loc: Loc, written: Loc | None = None) -> Any:
        """``node`` (written at template location ``written``) filled, recorded under ``loc``."""
        written = loc if written is None else written
        if written in self.item.origins:
            self.origins[loc] = self.item.origins[written]
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                new_key, source = self._text(key) if "<" in key else (key, None)
                if new_key in out:
                    message = (
                        f"the key {new_key!r} is written twice in this row once its "
                        "placeholders are filled"
                    )
                    self.problems.append(self.item.problem([EXAMPLES, self.index], message))
                out[new_key] = self.fill(value, (*loc, new_key), (*written, key))
                if source is not None:
                    self.filled[(*loc, new_key)] = source
            return out
        if isinstance(node, list):
            return [self.fill(value, (*loc, i), (*written, i)) for i, value in enumerate(node)]
        if not isinstance(node, str) or "<" not in node:
            return node
        column = None if loc[:1] in _TEXT_LOCS else whole(node, self.cells)
        if column is not None:
            cell: Loc = (EXAMPLES, self.index, column)
            for key, where in self.item.origins.items():
                if key[: len(cell)] == cell:  # a list or mapping cell: each of its values
                    self.filled[(*loc, *key[len(cell) :])] = where
            return copy.deepcopy(self.cells[column])
        text, origin = self._text(node)
        if origin is not None:
            self.filled[loc] = origin
        return text

    def _text(self, text: str) -> tuple[str, Origin | None]:
        """``text`` filled, and where a problem with it points: the cell when one column
        filled it, the row when several did."""
        try:
            filled = fill_text(text, self.cells)
        except _Skip as skip:
            column = str(skip)
            kind = "list" if isinstance(self.cells[column], list) else "mapping"
            message = (
                f"column {column!r} holds a {kind}, which cannot be part of the text {text!r}; "
                f"write <{column}> alone as the whole value, or give the column text"
            )
            self.problems.append(self.item.problem([EXAMPLES, self.index, column], message))
            raise
        names = {name for name in PLACEHOLDER.findall(text) if name in self.cells}
        if not names:
            return filled, None
        where: Loc = (EXAMPLES, self.index, *names) if len(names) == 1 else (EXAMPLES, self.index)
        return filled, self.item.origins.get(where)


# -- the schema ----------------------------------------------------------------------------------

#: Kept at a value's own level when it is wrapped to accept a placeholder, for editors to show.
_ANNOTATIONS = ("title", "description", "default", "examples")


def accept_placeholders(definitions: dict[str, Any], *, ref: str) -> None:
    """Let every single value of the scenario definitions that is not free text also be a
    ``<column>``, as an outline's template writes it (``age: <age>``, ``status: <status>``);
    ``ref`` is the prefix of the definitions' references. A placeholder for a whole list or
    mapping is left to the loader, so that a misspelt key keeps its own message. The loader
    checks each row with its values filled in."""
    placeholder = {"$ref": ref + "Placeholder"}

    def container(schema: Any) -> bool:
        if not isinstance(schema, dict):
            return True
        target = schema.get("$ref", "")
        if target.startswith(ref):
            return container(definitions[target.removeprefix(ref)])
        members = schema.get("anyOf", schema.get("oneOf"))
        if isinstance(members, list):
            return all(container(member) for member in members)
        shapes = ("properties", "items", "additionalProperties", "propertyNames")
        return schema.get("type") in ("object", "array") or any(key in schema for key in shapes)

    def opened(schema: Any) -> Any:
        if not isinstance(schema, dict):
            return schema
        out = dict(schema)
        if isinstance(out.get("properties"), dict):
            out["properties"] = {key: value(sub) for key, sub in out["properties"].items()}
        for key in ("items", "additionalProperties"):
            if isinstance(out.get(key), dict):
                out[key] = value(out[key])
        for key in ("anyOf", "oneOf", "allOf"):
            if isinstance(out.get(key), list):
                out[key] = [opened(member) for member in out[key]]
        return out

    def value(schema: Any) -> Any:
        done = opened(schema)
        if container(done) or _takes_text(done):
            return done
        kept = {key: done.pop(key) for key in _ANNOTATIONS if key in done}
        return {**kept, "anyOf": [done, placeholder]}

    for name, schema in list(definitions.items()):
        if name != "ScenarioFile":  # include:, defaults: and scenarios: are filled by no row
            definitions[name] = opened(schema)
    definitions["Placeholder"] = {
        "type": "string",
        "pattern": "^<[A-Za-z_][A-Za-z0-9_-]*>$",
        "description": "a column of examples:, filled with the value of each row",
    }


def _takes_text(schema: dict[str, Any]) -> bool:
    """Whether any text is valid there (and so a placeholder already is)."""
    members = schema.get("anyOf", schema.get("oneOf"))
    if isinstance(members, list):
        return any(isinstance(m, dict) and _takes_text(m) for m in members)
    if not schema:
        return True
    limits = ("pattern", "format", "enum", "const", "$ref", "not")
    return schema.get("type") == "string" and not any(key in schema for key in limits)
