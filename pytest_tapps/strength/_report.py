"""How a :class:`~pytest_tapps.strength.Strength` reads: the table of bugs and the summary
line (``tapps scenario strength`` and the pytest plugin's ``--tapps-strength`` print the same),
and its JSON form."""

from __future__ import annotations

from typing import Any

from pytest_tapps.strength._bug import Bug
from pytest_tapps.strength._engine import Strength

#: How many of the scenarios that caught a bug its line names.
NAMED = 2


def render(strength: Strength) -> list[str]:
    """The report's lines: one per bug (``caught`` and by which scenarios, or ``MISSED``,
    with the runbook procedure it violates), then the summary line."""
    from pytest_tapps.cli._output import format_table

    rows = [
        [bug.name, "caught" if bug.caught else "MISSED", bug.runbook or None, _by(bug.caught_by)]
        for bug in strength.bugs
    ]
    lines = format_table(["bug", "result", "runbook", "caught by"], rows).splitlines()
    return [*lines, summary(strength)]


def _by(scenarios: tuple[str, ...]) -> str | None:
    if not scenarios:
        return None
    named = ", ".join(scenarios[:NAMED])
    more = f", +{len(scenarios) - NAMED} more" if len(scenarios) > NAMED else ""
    return f"{len(scenarios)} scenario(s): {named}{more}"


def summary(strength: Strength) -> str:
    """``strength: 27 of 28 bugs caught (96.4%) by 123 scenarios (...)``."""
    left_out = [
        f"{len(group)} {what}"
        for group, what in (
            (strength.failed, "failed on the reference core"),
            (strength.unsupported, "unsupported"),
            (strength.skipped, "skipped"),
        )
        if group
    ]
    details = ", ".join([f"of {strength.total}", *left_out, f"{strength.elapsed:.1f}s"])
    return (
        f"strength: {strength.caught} of {len(strength.bugs)} bugs caught "
        f"({strength.percent:.1f}%) by {len(strength.scenarios)} scenarios ({details})"
    )


def warnings(strength: Strength) -> list[str]:
    """A line per scenario left out because it failed on the reference core."""
    return [
        f"{item.scenario} failed on the reference core and is left out: {item.reason}"
        for item in strength.failed
    ]


def as_json(strength: Strength) -> dict[str, Any]:
    """The JSON object of ``--json``: ``bugs`` (each ``name``, ``runbook``, ``defect``,
    ``caught``, ``caught_by``) and the summary's fields."""

    def excluded(items: tuple[Any, ...]) -> list[dict[str, str]]:
        return [{"scenario": item.scenario, "reason": item.reason} for item in items]

    return {
        "bugs": [
            {
                "name": bug.name,
                "runbook": bug.runbook,
                "defect": bug.defect,
                "caught": bug.caught,
                "caught_by": list(bug.caught_by),
            }
            for bug in strength.bugs
        ],
        "caught": strength.caught,
        "total": len(strength.bugs),
        "percent": round(strength.percent, 2),
        "scenarios": len(strength.scenarios),
        "scenarios_total": strength.total,
        "failed_on_core": excluded(strength.failed),
        "unsupported": excluded(strength.unsupported),
        "skipped": excluded(strength.skipped),
        "elapsed": round(strength.elapsed, 3),
    }


def catalogue_markdown(bugs: list[type[Bug]] | tuple[type[Bug], ...]) -> str:
    """The catalogue as a Markdown table (docs/strength.md carries it): each bug's name, the
    runbook procedure it violates and its defect."""
    rows = [f"| `{bug.name}` | {bug.runbook} | {bug.defect} |" for bug in bugs]
    return "\n".join(["| bug | runbook procedure | defect |", "|---|---|---|", *rows]) + "\n"
