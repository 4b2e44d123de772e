"""Writing a scenario file from code: how a counterexample found by Hypothesis becomes a
regression scenario that ``pytest -p tapps`` runs."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_tapps.core._fsutil import write_atomic


def scenario_text(
    *,
    name: str,
    runbook: str | Sequence[str],
    description: str | None = None,
    now: str | None = None,
    fs: str | None = None,
    layout: str | None = None,
    requires: Sequence[str] = (),
    given: Mapping[str, Any] | None = None,
    faults: Sequence[Mapping[str, Any]] = (),
    when: Sequence[Mapping[str, Any]] = (),
    then: Mapping[str, Any] | None = None,
) -> str:
    """The YAML text of one scenario with these parts (keys in the guide's order)."""

    data: dict[str, Any] = {"name": name}
    if description:
        data["description"] = description
    data["runbook"] = runbook if isinstance(runbook, str) else list(runbook)
    for key, text in (("now", now), ("fs", fs), ("layout", layout)):
        if text is not None:
            data[key] = text
    if requires:
        data["requires"] = list(requires)
    for key, value in (("given", given), ("faults", faults), ("when", when), ("then", then)):
        if value:
            data[key] = _plain(value)
    text = _dump(data, blocks=True)
    if not _reads_back(text, data):
        # ruamel.yaml folds some double-quoted strings wrongly at the line width (a backslash
        # or a space at the fold is lost or doubled): such a file is written unfolded.
        text = _dump(data, blocks=False)
    return text


def _misread_by_yaml11(value: str) -> bool:
    """Whether YAML 1.1 would read ``value`` unquoted as a boolean or a base-60 number (the
    scenario loader refuses such plain scalars: a file we write must be one it accepts)."""
    from pytest_tapps.scenario._load import _SEXAGESIMAL, _YAML11_BOOLS

    return value.lower() in _YAML11_BOOLS or bool(_SEXAGESIMAL.match(value))


def _reads_back(text: str, data: Any) -> bool:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return bool(YAML(typ="safe", pure=True).load(text) == data)
    except YAMLError:
        return False


def _dump(data: Any, *, blocks: bool) -> str:
    """``data`` as YAML: with ``blocks``, multi-line text of printable lines as literal blocks
    (``|``, as a person writes a file's content) and other lines folded at 100 characters;
    else every string on one line."""
    from ruamel.yaml import YAML
    from ruamel.yaml.representer import SafeRepresenter

    class Representer(SafeRepresenter):
        pass

    def text(representer: SafeRepresenter, value: str) -> Any:
        lines = value.rstrip("\n").split("\n")
        block = (
            blocks
            and len(lines) > 1
            and all(line.isprintable() and line == line.rstrip() for line in lines)
        )
        style = "|" if block else None
        if _misread_by_yaml11(value):  # 'N', 'on', '1:20': quoted, as the loader asks
            style = "'"
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Representer.add_representer(str, text)
    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = Representer
    yaml.default_flow_style = False
    yaml.representer.sort_base_mapping_type_on_output = False  # the guide's order, as given
    yaml.width = 100 if blocks else 2**30
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def write_scenario(path: Path, **parts: Any) -> Path:
    """Write a scenario file and return its path. It is checked before it takes its name: parts
    that would not load raise :class:`ScenarioFileError` and leave nothing behind."""
    import contextlib

    from pytest_tapps.core._fsutil import temp_name_for
    from pytest_tapps.scenario._load import load_file

    path.parent.mkdir(parents=True, exist_ok=True)
    draft = temp_name_for(path)
    write_atomic(draft, scenario_text(**parts).encode())
    try:
        load_file(draft)  # a file we write must be one we accept
        draft.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            draft.unlink()
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return getattr(value, "value", value)  # enums as their names
