"""The runbook's headings and procedures, shipped as data (``runbook.json``).

A scenario's ``runbook:`` names a procedure by its heading path, ``Section > Sub > Procedure``.
A heading with no procedures under it is a procedure itself; advice headings (Prevention) are
listed but are not procedures.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

SEPARATOR = " > "


def normalise(reference: str) -> str:
    """``a>b``, ``a  >  b`` and ``a > b`` are the same reference."""
    return SEPARATOR.join(" ".join(part.split()) for part in reference.split(">"))


@dataclass(frozen=True)
class Runbook:
    """Headings (in document order) and the procedures a scenario can exercise."""

    title: str
    version: str
    headings: tuple[str, ...]
    procedures: tuple[str, ...]

    def section_of(self, procedure: str) -> str:
        """The top-level section a procedure belongs to."""
        return procedure.split(SEPARATOR, maxsplit=1)[0]

    def check(self, reference: str) -> str:
        """The procedure ``reference`` names; ``ValueError`` says what to write instead."""
        wanted = normalise(reference)
        if wanted in self.procedures:
            return wanted
        by_lower = {p.lower(): p for p in self.procedures}
        if wanted.lower() in by_lower:
            return by_lower[wanted.lower()]
        heading = {h.lower(): h for h in self.headings}.get(wanted.lower())
        if heading is not None:
            under = [p for p in self.procedures if p.startswith(heading + SEPARATOR)]
            if under:
                listed = "; ".join(repr(p.removeprefix(heading + SEPARATOR)) for p in under)
                message = (
                    f"{reference!r} is a heading with several procedures; name one: "
                    f"{heading} > one of {listed}"
                )
            else:
                message = f"{reference!r} is advice in the runbook, not a procedure to test"
            raise ValueError(message)
        message = f"{reference!r} is not a runbook procedure{self._suggest(wanted)}"
        raise ValueError(message)

    def _suggest(self, wanted: str) -> str:
        from pytest_tapps.core._yamlutil import did_you_mean

        hint = did_you_mean(wanted, self.procedures)
        if hint:
            return hint
        leaf = wanted.rsplit(SEPARATOR, 1)[-1].lower()
        matches = [p for p in self.procedures if p.rsplit(SEPARATOR, 1)[-1].lower() == leaf]
        if matches:
            return f" (did you mean {matches[0]!r}?)"
        return "; `tapps scenario coverage` lists them all"


@functools.cache
def runbook() -> Runbook:
    """The runbook map shipped with the package."""
    raw = json.loads(resources.files(__package__).joinpath("runbook.json").read_text("utf-8"))
    headings = tuple(section["heading"] for section in raw["sections"])
    procedures: list[str] = []
    for section in raw["sections"]:
        heading = section["heading"]
        if section.get("advice"):
            continue
        if section.get("procedures"):
            procedures.extend(heading + SEPARATOR + title for title in section["procedures"])
        elif not any(other.startswith(heading + SEPARATOR) for other in headings):
            procedures.append(heading)
    return Runbook(raw["title"], raw["version"], headings, tuple(procedures))
