"""Reading scenario files: strict YAML, defaults and includes, every problem reported at once.

A file holds one scenario (its top-level keys are the scenario's) or several under
``scenarios:``, with optional ``defaults:`` and ``include:`` (fragment files, relative to the
file). Mappings merge key by key; a list in the scenario extends the list from the defaults and
fragments; a scalar replaces. Every value keeps the file and line it came from, so a problem in
an included fragment points into the fragment. A scenario with ``examples:`` is then one scenario
per row (``_outline.py``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_tapps.core._yamlutil import (
    SECOND_DOCUMENT,
    Problem,
    YamlDocument,
    YamlFileError,
    closest,
    did_you_mean,
    plain_scalar,
    value_at,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

    from pytest_tapps.scenario._model import Scenario

Loc = tuple[str | int, ...]

SUFFIX = ".tapps.yaml"
_STR_TAG = "tag:yaml.org,2002:str"
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n"}
_SEXAGESIMAL = re.compile(r"^[-+]?\d+(:[0-5]?\d)+(\.\d*)?$")
_LEADING_ZERO = re.compile(r"^[-+]?0\d+(\s|$|#|,|\]|\})")


class ScenarioFileError(YamlFileError):
    """A scenario file that cannot be run; ``problems`` lists every problem in it."""


@dataclass(frozen=True)
class Origin:
    """Where a value was written: file, line, the source line, and its keys in that file."""

    path: Path
    line: int | None
    source: str | None
    loc: Loc = ()


@dataclass
class Loaded:
    """A scenario read from a file, with where each of its values came from."""

    data: dict[str, Any]
    path: Path
    line: int
    origins: dict[Loc, Origin] = field(default_factory=dict)
    #: A row of an outline (``examples:``): the cells that filled its values, by location.
    filled: dict[Loc, Origin] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.data.get("name", f"scenario at line {self.line}"))

    def origin(self, loc: Sequence[str | int]) -> Origin:
        """The origin of ``loc``, or of its nearest parent that has one."""
        key = tuple(loc)
        while key:
            if key in self.origins:
                return self.origins[key]
            key = key[:-1]
        return self.origins.get((), Origin(self.path, self.line, None))

    def written(self, loc: Sequence[str | int]) -> Origin:
        """Where the value at ``loc`` was written: the cell of the outline's row that filled it
        (or a parent of it), else :meth:`origin`."""
        key = tuple(loc)
        while key:
            if key in self.filled:
                return self.filled[key]
            if key in self.origins:
                return self.origins[key]
            key = key[:-1]
        return self.origin(())

    def problem(self, loc: Sequence[str | int], message: str) -> Problem:
        where = self.written(loc)
        return Problem(where.path, where.line, ".".join(str(k) for k in loc), message, where.source)


# -- strict YAML ---------------------------------------------------------------------------------


def _children(node: Any) -> Iterator[tuple[str | int, Any, tuple[int, int] | None]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield key, value, _position(node, key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield index, value, _position(node, index)


def _position(node: Any, key: Any) -> tuple[int, int] | None:
    """Line and column of a value (in the mapping merged in with ``<<:`` for a key written
    there), or ``None``."""
    from pytest_tapps.core._yamlutil import key_position

    try:
        if isinstance(node, list):
            lc = getattr(node, "lc", None)
            position: tuple[int, int] | None = None if lc is None else lc.item(key)
            return position
        return key_position(node, key, value=True)
    except (KeyError, IndexError, TypeError):
        return None


def _tag(value: Any) -> str | None:
    """The explicit YAML tag of ``value`` when it makes a value the format has no use for."""
    from ruamel.yaml.comments import TaggedScalar

    if isinstance(value, TaggedScalar):
        tag = str(value.tag.value)
        return None if tag == _STR_TAG else tag
    if isinstance(value, bytes):
        return "!!binary"
    if isinstance(value, AbstractSet):
        return "!!set"
    return None


def strict_problems(doc: YamlDocument, lines: Sequence[str]) -> list[Problem]:
    """Values YAML 1.1 readers would misread, and empty values."""
    from ruamel.yaml.scalarstring import ScalarString

    found: list[Problem] = []

    def visit(node: Any, loc: Loc) -> None:
        for key, value, position in _children(node):
            here = (*loc, key)
            token = ""
            if position is not None and position[0] < len(lines):
                token = lines[position[0]][position[1] :]
            message = None
            tag = _tag(value)
            if value is None:
                message = "empty value; write a value, or remove the key"
            elif tag is not None:
                message = (
                    f"the YAML tag {tag} is not supported; write a plain string, number, "
                    "list or mapping"
                )
            elif isinstance(value, bool):
                pass
            elif isinstance(value, int) and _LEADING_ZERO.match(token):
                message = (
                    f"{token.split()[0].rstrip(',]}')} has a leading zero, which YAML 1.1 "
                    f"reads as octal; write {int(value)} or quote it"
                )
            elif isinstance(value, str) and not isinstance(value, ScalarString):
                if value.lower() in _YAML11_BOOLS:
                    message = (
                        f"{value!r} is a boolean in YAML 1.1; write true/false, "
                        f"or quote it ('{value}') if you mean the word"
                    )
                elif _SEXAGESIMAL.match(value):
                    message = (
                        f"{value!r} is a base-60 number in YAML 1.1; write a duration with "
                        "a unit (90s) or quote it"
                    )
            if message is not None:
                found.append(doc.problem(here, message))
            else:
                visit(value, here)

    visit(doc.data, ())
    return found


def _read(path: Path) -> tuple[YamlDocument, list[Problem]]:
    from pytest_tapps.core._yamlutil import load_yaml

    try:
        doc = load_yaml(path, preserve_quotes=True)
    except YamlFileError:
        duplicates = _duplicates(path)
        if not duplicates:
            raise
        doc = load_yaml(path, preserve_quotes=True, allow_duplicate_keys=True)
        return doc, [*duplicates, *strict_problems(doc, doc.lines)]
    return doc, strict_problems(doc, doc.lines)


def _duplicates(path: Path) -> list[Problem]:
    """Every key written twice in its mapping, with its field path; empty when the file has
    none or is not valid YAML (then the reader's own error stands)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError
    from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

    try:
        text = path.read_text(encoding="utf-8")
        root = YAML(typ="rt").compose(text)
    except (OSError, UnicodeDecodeError, YAMLError, RecursionError):
        return []
    lines = text.splitlines()
    found: list[Problem] = []

    def visit(node: Node | None, loc: tuple[str | int, ...]) -> None:
        if isinstance(node, MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = int(key_node.start_mark.line) + 1
                if key in first:
                    message = (
                        f"duplicate key {key!r} (first at line {first[key]}); "
                        "each key may appear once"
                    )
                    source = lines[line - 1].strip() if line <= len(lines) else None
                    found.append(Problem(path, line, _field((*loc, key)), message, source))
                    continue
                first[key] = line
                visit(value_node, (*loc, key))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                visit(item, (*loc, index))

    visit(root, ())
    return found


def _plain(
    node: Any,
    doc: YamlDocument,
    loc: Loc,
    origins: dict[Loc, Origin],
    doc_loc: tuple[Any, ...] | None = None,
) -> Any:
    """Plain Python data from ruamel nodes (JSON types only), recording each value's origin
    under ``loc`` (keys as strings; ``doc_loc`` keeps them as written, for line lookups)."""
    where: tuple[Any, ...] = loc if doc_loc is None else doc_loc
    if isinstance(node, Mapping):
        result: dict[str, Any] = {}
        for key, value in node.items():
            here = (*loc, str(key))
            written = (*where, key)
            line = doc.line_of(written)
            origins[here] = Origin(doc.path, line, doc.source_line(line), written)
            result[str(key)] = _plain(value, doc, here, origins, written)
        return result
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            written = (*where, index)
            line = doc.line_of(written)
            origins[(*loc, index)] = Origin(doc.path, line, doc.source_line(line), written)
            items.append(_plain(value, doc, (*loc, index), origins, written))
        return items
    return plain_scalar(node)  # a tagged value strict_problems has reported: its text


def _moved(origins: Mapping[Loc, Origin], old: Loc, new: Loc) -> dict[Loc, Origin]:
    size = len(old)
    return {(*new, *key[size:]): where for key, where in origins.items() if key[:size] == old}


def merge(
    base: Any, base_origins: dict[Loc, Origin], over: Any, over_origins: dict[Loc, Origin]
) -> tuple[Any, dict[Loc, Origin]]:
    """``over`` on top of ``base``: mappings merge, lists extend, scalars replace."""
    if isinstance(base, dict) and isinstance(over, dict):
        data = dict(base)
        origins = dict(base_origins)
        for key, value in over.items():
            if key in data:
                sub_base = {k[1:]: v for k, v in origins.items() if k[:1] == (key,)}
                sub_over = {k[1:]: v for k, v in over_origins.items() if k[:1] == (key,)}
                merged, sub = merge(data[key], sub_base, value, sub_over)
                origins = {k: v for k, v in origins.items() if k[:1] != (key,)}
                origins.update({(key, *k): v for k, v in sub.items()})
                data[key] = merged
            else:
                data[key] = value
                origins.update({k: v for k, v in over_origins.items() if k[:1] == (key,)})
        return data, origins
    if isinstance(base, list) and isinstance(over, list):
        origins = dict(base_origins)
        for index in range(len(over)):
            origins.update(_moved(over_origins, (index,), (len(base) + index,)))
        if () in over_origins:
            origins[()] = over_origins[()]
        return [*base, *over], origins
    return over, over_origins


# -- files ---------------------------------------------------------------------------------------

_FILE_KEYS = ("include", "defaults", "scenarios")


def load_file(path: Path) -> list[Loaded]:
    """The scenarios of ``path``, validated; :class:`ScenarioFileError` lists every problem."""
    try:
        doc, problems = _read(path)
    except YamlFileError as exc:
        raise ScenarioFileError([_one_document(problem) for problem in exc.problems]) from None
    data = doc.data
    if not isinstance(data, Mapping) or not data:
        if not data:
            what = "empty"
        elif isinstance(data, list):
            what = "a list (its lines start with '- ')"
        else:
            what = f"one value ({str(data)[:40]!r})"
        message = (
            f"the file is {what}; a scenario file is a mapping with name:, runbook:, given:, "
            "when:, then: (or scenarios: for several)"
        )
        raise ScenarioFileError([Problem(path, 1 if not data else doc.line_of([]), "", message)])
    origins: dict[Loc, Origin] = {(): Origin(path, 1, None)}
    plain = _plain(data, doc, (), origins)
    if "scenarios" in plain:
        loaded = _several(path, doc, plain, origins, problems)
    else:
        loaded = [Loaded(plain, path, 1, origins)]
    from pytest_tapps.scenario._outline import expand

    loaded = expand(loaded, problems)  # an outline's rows, each a scenario
    flagged = {(problem.path, problem.field) for problem in problems}
    problems.extend(validate(loaded, flagged=flagged))
    if problems:
        raise ScenarioFileError(sorted(dict.fromkeys(problems), key=_order))
    return loaded


def _order(problem: Problem) -> tuple[str, int]:
    return str(problem.path), problem.line or 0


def _reported(item: Loaded, loc: Loc, flagged: AbstractSet[tuple[Path, str]]) -> bool:
    """Whether the value at ``loc`` (or a value holding it) was written where a strict YAML
    problem has already been reported: in this file, in ``defaults:`` or in a fragment."""
    for size in range(len(loc), 0, -1):
        for where in (item.filled.get(loc[:size]), item.origins.get(loc[:size])):
            if where is not None and (where.path, _field(where.loc)) in flagged:
                return True
    return False


def _field(loc: Sequence[Any]) -> str:
    return ".".join(str(key) for key in loc)


def _several(
    path: Path,
    doc: YamlDocument,
    plain: dict[str, Any],
    origins: dict[Loc, Origin],
    problems: list[Problem],
) -> list[Loaded]:
    for key in plain:
        if key not in _FILE_KEYS:
            problems.append(
                doc.problem(
                    [key],
                    f"unknown key{did_you_mean(key, _FILE_KEYS)}; a file of several scenarios "
                    "has include:, defaults: and scenarios: (scenario keys go inside each "
                    "scenario or under defaults:)",
                )
            )
    base: dict[str, Any] = {}
    base_origins: dict[Loc, Origin] = {}
    includes = plain.get("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        problems.append(doc.problem(["include"], "write a list of file paths"))
        includes = []
    for index, relative in enumerate(includes):
        fragment = Path(os.path.normpath(path.parent / relative))
        try:
            frag_doc, frag_problems = _read(fragment)
        except YamlFileError as exc:
            problems.append(doc.problem(["include", index], f"cannot include {relative!r}"))
            problems.extend(exc.problems)
            continue
        problems.extend(frag_problems)
        if not isinstance(frag_doc.data, Mapping):
            problems.append(
                doc.problem(["include", index], f"{relative!r} must hold a mapping of keys")
            )
            continue
        frag_origins: dict[Loc, Origin] = {}
        frag = _plain(frag_doc.data, frag_doc, (), frag_origins)
        base, base_origins = merge(base, base_origins, frag, frag_origins)
    defaults = plain.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append(doc.problem(["defaults"], "write a mapping of scenario keys"))
        defaults = {}
    base, base_origins = merge(base, base_origins, defaults, _moved(origins, ("defaults",), ()))
    scenarios = plain.get("scenarios")
    if not isinstance(scenarios, list) or not scenarios:
        problems.append(doc.problem(["scenarios"], "write a list of one or more scenarios"))
        return []
    loaded = []
    for index, raw in enumerate(scenarios):
        if not isinstance(raw, dict):
            problems.append(doc.problem(["scenarios", index], "each scenario is a mapping"))
            continue
        own = _moved(origins, ("scenarios", index), ())
        data, merged_origins = merge(base, base_origins, raw, own)
        line = origins[("scenarios", index)].line or 1
        merged_origins[()] = Origin(path, line, None)
        loaded.append(Loaded(data, path, line, merged_origins))
    return loaded


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return _MISSING
    if error["type"] in ("literal_error", "enum"):
        return message.replace("Input should be", "write")
    return message


def _loc(loc: Sequence[str | int], data: Any) -> Loc:
    """The YAML location of a pydantic error location: the tag pydantic adds before a one-key
    item's own key is dropped, and so are type names of union members."""
    out: list[str | int] = []
    node = data
    for key in loc:
        inside_list = isinstance(node, list) and isinstance(key, int) and key < len(node)
        if (isinstance(node, dict) and key in node) or inside_list:
            out.append(key)
            node = node[key]
        elif isinstance(key, str) and _member_tag(key):
            continue
        elif out and out[-1] == key:
            continue  # the tag of a one-key item, repeated by pydantic
        else:
            out.append(key)
            node = None
    return tuple(out)


def _member_tag(key: str) -> bool:
    """A union member's tag pydantic puts in an error location (``str``, ``list[...]``,
    ``str-enum[Category]``, ``constrained-int``, ``StepErrorSpec``); the format's own keys are
    lower-case words."""
    plain = key in ("str", "int", "float", "bool", "none") or key.startswith("constrained-")
    return plain or "[" in key or key[:1].isupper()


def parse(data: dict[str, Any]) -> Scenario:
    """The scenario model of ``data``, validated in strict JSON mode: enums from their names,
    no number from a string, no boolean from ``no``."""
    import json

    from pytest_tapps.scenario._model import Scenario

    return Scenario.model_validate_json(json.dumps(data))


def validate(
    loaded: Iterable[Loaded], *, flagged: AbstractSet[tuple[Path, str]] = frozenset()
) -> list[Problem]:
    """Schema and cross-reference problems of each scenario, in file order; values already
    reported by the strict YAML checks (``flagged``: file and field path) are not reported
    again."""
    from pydantic import ValidationError

    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for item in loaded:
        try:
            scenario = parse(item.data)
        except ValidationError as exc:
            problems.extend(_raw_references(item))
            problems.extend(_schema_problems(item, exc, flagged))
            continue
        if scenario.name in seen:
            problems.append(
                item.problem(
                    ["name"],
                    f"a scenario named {scenario.name!r} is already at line {seen[scenario.name]}"
                    "; names must be unique in a file",
                )
            )
        seen[scenario.name] = item.line
        from pytest_tapps.scenario._check import cross_check

        problems.extend(
            item.problem(loc, message)
            for loc, message in cross_check(scenario)
            if not _reported(item, loc, flagged)
        )
    return problems


def _schema_problems(
    item: Loaded, exc: ValidationError, flagged: AbstractSet[tuple[Path, str]]
) -> list[Problem]:
    """One problem per value the models refuse, in words: every bad field of a ``retry:``
    block, quotes named when they are what makes a number wrong, and a misspelt required key
    reported once (as the unknown key, with its suggestion)."""
    from pytest_tapps.scenario._model import ACTIONS, FAULTS

    found: list[tuple[Loc, str]] = []
    seen_locs: set[Loc] = set()
    meant: set[Loc] = set()  # required keys an unknown key was probably meant to be
    for error in exc.errors():
        loc = _loc(error["loc"], item.data)
        if loc in seen_locs or _reported(item, loc, flagged):
            continue  # union members each explain one value; the first says enough
        seen_locs.add(loc)
        value = value_at(item.data, loc)
        if loc[:2] == ("given", "workflows") and loc[-1:] == ("retry",) and isinstance(value, dict):
            found.extend(
                ((*loc, name), why)
                for name, why in _retry_problems(value)
                if not _reported(item, (*loc, name), flagged)  # a YAML trap said it already
            )
            continue
        message = _message(error)
        if error["type"] in ("action_shape", "fault_shape"):
            message = _shape_message(item.data, loc, ACTIONS, FAULTS) or message
        elif error["type"] == "extra_forbidden":
            known = _known_names(loc, item.data)
            close = closest(str(loc[-1]), known)
            message = "unknown key" if close is None else f"unknown key (did you mean {close!r}?)"
            if close is not None:
                meant.add((*loc[:-1], close))
        elif _still_wrong(item.data, loc, value) is False:
            message = _quoted(value)
        found.append((loc, message.removeprefix(f"{loc[-1]}: ")))  # the field says it
    return [
        item.problem(loc, message)
        for loc, message in found
        if not (message == _MISSING and loc in meant)
    ]


_MISSING = "required; add it"
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _quoted(value: str) -> str:
    return (
        f"{value!r} is in quotes, which makes it text, not a number; write {value} without quotes"
    )


def _number(value: Any) -> int | float | None:
    """The number a quoted ``value`` would be without its quotes, else ``None``."""
    if not isinstance(value, str) or _NUMBER.fullmatch(value) is None:
        return None
    return float(value) if "." in value else int(value)


def _still_wrong(data: dict[str, Any], loc: Loc, value: Any) -> bool | None:
    """For a number written in quotes (``"3"``): whether the scenario is still wrong at
    ``loc`` with the quotes taken away (``False``: the quotes are the problem); ``None``
    for any other value."""
    import copy

    from pydantic import ValidationError

    number = _number(value)
    if number is None:
        return None
    unquoted = copy.deepcopy(data)
    node: Any = unquoted
    for key in loc[:-1]:
        node = node[key]
    node[loc[-1]] = number
    try:
        parse(unquoted)
    except ValidationError as exc:
        return any(_loc(e["loc"], unquoted)[: len(loc)] == loc for e in exc.errors())
    return False


def _retry_problems(block: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every problem of a workflow step's ``retry:`` block, field by field."""
    from pytest_tapps.core._policy import RETRY_FIELDS, retry_problems

    for name, why in retry_problems(block):
        if name not in RETRY_FIELDS:
            yield name, f"unknown key{did_you_mean(name, RETRY_FIELDS)}"
        elif _number(block.get(name)) is not None and not any(
            field == name for field, _ in retry_problems({**block, name: _number(block[name])})
        ):
            yield name, _quoted(block[name])
        else:
            yield name, why


def _one_document(problem: Problem) -> Problem:
    """A second YAML document, told where several scenarios go instead."""
    if problem.message != SECOND_DOCUMENT:
        return problem
    message = f"{SECOND_DOCUMENT}: several scenarios go in one list under scenarios:"
    return problem._replace(message=message)


def _raw_references(item: Loaded) -> Iterator[Problem]:
    """Runbook references checked even when the rest of the scenario is invalid."""
    from pytest_tapps.scenario._runbook import runbook

    raw = item.data.get("runbook")
    references = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    for index, reference in enumerate(references):
        if not isinstance(reference, str):
            continue
        try:
            runbook().check(reference)
        except ValueError as exc:
            loc: Loc = ("runbook",) if isinstance(raw, str) else ("runbook", index)
            yield item.problem(loc, str(exc))


def _shape_message(
    data: Any, loc: Loc, actions: Mapping[str, Any], faults: Mapping[str, Any]
) -> str | None:
    node: Any = data
    for key in loc:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    known = actions if loc[:1] == ("when",) else faults
    what = "action" if loc[:1] == ("when",) else "fault"
    if isinstance(node, dict) and len(node) == 1:
        name = next(iter(node))
        return f"unknown {what} {name!r}{did_you_mean(name, known)}; {what}s: {', '.join(known)}"
    if isinstance(node, dict) and len(node) > 1:
        keys = ", ".join(map(str, node))
        return f"one {what} per list item, found several keys ({keys}); start each with '- '"
    return None


def _known_names(loc: Loc, data: Any) -> list[str]:
    """The keys the mapping holding ``loc`` may have (empty when not known)."""
    from pytest_tapps.scenario._model import ACTIONS, FAULTS, Scenario

    model: Any = Scenario
    path = loc[:-1]
    tables = {"when": ACTIONS, "faults": FAULTS}
    if len(loc) > 3 and loc[0] in tables and str(loc[2]) in tables[str(loc[0])]:
        model = _inner_model(tables[str(loc[0])][str(loc[2])])
        path = loc[3:-1]
    for key in path:
        if isinstance(key, int):
            continue
        fields = getattr(model, "model_fields", {})
        if key not in fields:
            return []
        model = _inner_model(fields[key].annotation)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _inner_model(annotation: Any) -> Any:
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def bundled_path() -> Path:
    """The bundled runbook suite: installed as ``pytest_tapps.bundled``, or the ``scenarios/``
    folder of a source checkout (an editable install)."""
    import importlib

    try:
        bundled = importlib.import_module("pytest_tapps.bundled")
    except ModuleNotFoundError:
        import pytest_tapps

        return Path(pytest_tapps.__file__).resolve().parent.parent / "scenarios"
    return Path(next(iter(bundled.__path__)))


def scenario_paths(paths: Iterable[Path]) -> list[Path]:
    """``*.tapps.yaml`` files under ``paths`` (files named directly are taken as they are)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob(f"*{SUFFIX}") if p.is_file()))
        else:
            found.append(path)
    return found
