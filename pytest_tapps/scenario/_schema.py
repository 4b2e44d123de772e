"""The JSON Schema of scenario files, for editors: the models' schema, plus what the loader adds.

pydantic writes the schema of the models. Three things the loader does are added here, so that an
editor refuses what pytest refuses: every empty value is an error (no ``null`` anywhere); a file
with ``scenarios:`` holds several scenarios, any other file is one (``if``/``then``/``else``, so a
misspelt key is reported as that key, not as a mismatch with both shapes); an item of ``when:`` or
``faults:`` has exactly one key, one of the known names. The schema uses JSON Schema draft-07
keywords only: the YAML language server behind VS Code's YAML extension validates draft-07.

A copy ships inside the package (``scenario.schema.json`` beside this module), which ``tapps
scenario schema`` prints, and in ``docs/``; tests keep both equal to
what :func:`schema_text` writes from the models. The file names no pydantic version, so a
pydantic release that writes the same schema changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The schema as shipped in the wheel (``tapps scenario schema -o FILE`` writes the same text).
SCHEMA_FILE = Path(__file__).with_name("scenario.schema.json")
_DRAFT = "http://json-schema.org/draft-07/schema#"
_REF = "#/definitions/"


def schema_json() -> dict[str, Any]:
    """The JSON Schema of a scenario file: one scenario, or several under ``scenarios:``."""
    from pydantic.json_schema import models_json_schema

    from pytest_tapps.scenario._model import Scenario, ScenarioFile

    _, generated = models_json_schema(
        [(Scenario, "validation"), (ScenarioFile, "validation")],
        ref_template=_REF + "{model}",
    )
    definitions: dict[str, Any] = generated["$defs"]
    _accept_both_names(definitions["WorkflowDefinition"], "id", "workflow_id")
    part = {key: value for key, value in definitions["Scenario"].items() if key != "required"}
    definitions["ScenarioPart"] = {
        **part,
        "title": "ScenarioPart",
        "description": "scenario keys for defaults:, a fragment or one of scenarios: (name and "
        "runbook may come from defaults: or a fragment)",
    }
    several = definitions["ScenarioFile"]["properties"]
    several["defaults"] = {"$ref": _REF + "ScenarioPart"}
    several["scenarios"]["items"] = {"$ref": _REF + "ScenarioPart"}
    from pytest_tapps.scenario._outline import accept_placeholders

    accept_placeholders(definitions, ref=_REF)  # an outline's template: `age: <age>`
    definitions["PlaceholderItem"] = {
        "type": "object",
        "title": "PlaceholderItem",
        "description": "an action or fault named by a column of examples: (`- <action>: {}`), "
        "checked once each row fills it",
        "propertyNames": {"$ref": _REF + "Placeholder"},
        "minProperties": 1,
        "maxProperties": 1,
    }
    schema = {
        "$schema": _DRAFT,
        "$id": "https://pytest-tapps.invalid/scenario.schema.json",
        "title": "pytest-tapps scenario file (*.tapps.yaml)",
        "if": {"required": ["scenarios"]},
        "then": {"$ref": _REF + "ScenarioFile"},
        "else": {"$ref": _REF + "Scenario"},
        "definitions": definitions,
    }
    finished: dict[str, Any] = _finished(schema, definitions)
    return finished


def schema_text() -> str:
    """The schema as the shipped file holds it: sorted keys, two-space indents."""
    return json.dumps(schema_json(), indent=2, sort_keys=True) + "\n"


def _accept_both_names(schema: dict[str, Any], name: str, alias: str) -> None:
    """pydantic lists a field under its alias only; the loader accepts either name."""
    properties = schema["properties"]
    properties[name] = properties[alias]
    schema["required"] = [key for key in schema.get("required", []) if key != alias]
    schema["oneOf"] = [{"required": [name]}, {"required": [alias]}]


def _finished(node: Any, definitions: dict[str, Any]) -> Any:
    """``node`` without ``null`` (the loader refuses every empty value) and with each one-key
    item union told its names, so a misspelt action is reported as not one of them."""
    if isinstance(node, list):
        return [_finished(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    done = {
        key: _finished(value, definitions)
        for key, value in node.items()
        if not (key == "default" and value is None)
    }
    for key in ("anyOf", "oneOf"):
        members = done.get(key)
        if not isinstance(members, list):
            continue
        members = [member for member in members if member != {"type": "null"}]
        if len(members) == 1:
            del done[key]
            done = {**members[0], **done}
        else:
            done[key] = members
    names = _item_names(done.get("oneOf"), definitions)
    if names:  # an item of when: or faults:: one of its names, or an outline's <column>
        done.update(type="object", minProperties=1, maxProperties=1)
        done["propertyNames"] = {"anyOf": [{"enum": names}, {"$ref": _REF + "Placeholder"}]}
        done["oneOf"] = [*done["oneOf"], {"$ref": _REF + "PlaceholderItem"}]
    return done


def _item_names(members: Any, definitions: dict[str, Any]) -> list[str]:
    """The keys of a union of one-key items (``RunItem``, ``StepTimeoutItem``, ...), else
    an empty list."""
    if not isinstance(members, list) or not members:
        return []
    names: list[str] = []
    for member in members:
        ref = member.get("$ref", "") if isinstance(member, dict) else ""
        if not (ref.startswith(_REF) and ref.endswith("Item")):
            return []
        names.extend(definitions[ref.removeprefix(_REF)]["required"])
    return names
