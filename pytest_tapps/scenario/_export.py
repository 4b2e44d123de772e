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
    given: Mapping[str, Any] | None = None,
    faults: Sequence[Mapping[str, Any]] = (),
    when: Sequence[Mapping[str, Any]] = (),
    then: Mapping[str, Any] | None = None,
) -> str:
    """The YAML text of one scenario with these parts (keys in the guide's order)."""
    from ruamel.yaml import YAML

    data: dict[str, Any] = {"name": name}
    if description:
        data["description"] = description
    data["runbook"] = runbook if isinstance(runbook, str) else list(runbook)
    for key, value in (("given", given), ("faults", faults), ("when", when), ("then", then)):
        if value:
            data[key] = _plain(value)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 100
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
