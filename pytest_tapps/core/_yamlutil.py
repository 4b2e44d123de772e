"""YAML with line numbers, for error messages that point at the line to fix.

ruamel.yaml (YAML 1.2: ``no`` stays a string, ``1:30`` is not sexagesimal; duplicate keys are
errors) is imported only when a YAML file is actually read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pytest_tapps.core._errors import TappsError


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


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    import difflib  # here: only a misspelt name needs it

    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
    except UnicodeDecodeError:
        raise YamlFileError([Problem(path, None, "", "not UTF-8 text")]) from None
    try:
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = preserve_quotes
        yaml.allow_duplicate_keys = allow_duplicate_keys
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        if "duplicate key" in reason:
            reason += "; each key may appear once"
        lines = text.splitlines()
        source = lines[line - 1].strip() if line is not None and line <= len(lines) else None
        raise YamlFileError([Problem(path, line, "", reason, source)]) from None
    except YAMLError as exc:
        raise YamlFileError([Problem(path, None, "", f"invalid YAML: {exc}")]) from None
    return YamlDocument(path, data, text)
