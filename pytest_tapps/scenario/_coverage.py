"""Runbook coverage: which scenarios exercise each procedure, and how they fared.

Results come from a JUnit XML file written by ``pytest --junitxml`` (or from a run's reports):
a scenario passed, failed, was unsupported by the target, or was skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_tapps.scenario._load import Loaded
from pytest_tapps.scenario._runbook import SEPARATOR, Runbook, runbook

#: How a procedure's status is worst-first summarised from its scenarios' outcomes.
_ORDER = ("failed", "unsupported", "skipped", "not run", "passed")


@dataclass(frozen=True)
class ScenarioRef:
    """A scenario by file and name."""

    path: Path
    name: str


@dataclass
class Row:
    """One procedure and the scenarios that exercise it."""

    procedure: str
    scenarios: list[ScenarioRef] = field(default_factory=list)
    status: str | None = None

    @property
    def section(self) -> str:
        return self.procedure.split(SEPARATOR)[0]


@dataclass
class Coverage:
    """The runbook's procedures against the scenarios."""

    rows: list[Row]

    @property
    def covered(self) -> int:
        """Procedures with a scenario; with results, with all of their scenarios passing."""
        return sum(
            1
            for row in self.rows
            if row.scenarios and (row.status is None or row.status == "passed")
        )

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / len(self.rows) if self.rows else 100.0


def coverage(
    loaded: Iterable[Loaded],
    results: Mapping[tuple[str, str], str] | None = None,
    book: Runbook | None = None,
) -> Coverage:
    """Map each procedure to its scenarios; with ``results`` (``(file name, scenario name)``
    -> outcome) each row gets the worst outcome of its scenarios."""
    from pytest_tapps.scenario._load import parse

    book = book or runbook()
    rows = {procedure: Row(procedure) for procedure in book.procedures}
    for item in loaded:
        scenario = parse(item.data)
        for reference in scenario.references:
            procedure = book.check(reference)
            rows[procedure].scenarios.append(ScenarioRef(item.path, scenario.name))
    if results is not None:
        for row in rows.values():
            outcomes = [results.get((ref.path.name, ref.name), "not run") for ref in row.scenarios]
            row.status = min(outcomes, key=_ORDER.index) if outcomes else None
    return Coverage(list(rows.values()))


def read_junit(path: Path) -> dict[tuple[str, str], str]:
    """``(file name, scenario name)`` -> passed/failed/skipped/unsupported from JUnit XML (a
    harness error counts as failed here: the procedure is not proven)."""
    from pytest_tapps.scenario._conformance import read_findings

    return {(f.file, f.name): _COVERAGE_OUTCOME[f.outcome] for f in read_findings(path).values()}


#: A conformance outcome as the coverage table words it.
_COVERAGE_OUTCOME = {
    "pass": "passed",
    "departs": "failed",
    "harness error": "failed",
    "not supported": "unsupported",
    "skipped": "skipped",
}


def render(report: Coverage) -> str:
    """A table per section: procedure, scenarios, and status when known."""
    lines: list[str] = []
    section = None
    with_status = any(row.status is not None for row in report.rows)
    for row in report.rows:
        if row.section != section:
            section = row.section
            lines.append(f"\n{section}")
        title = row.procedure[len(section) + len(SEPARATOR) :] or "(the section itself)"
        count = len(row.scenarios)
        mark = "✓" if count else "✗"
        status = f"  [{row.status}]" if with_status and row.status else ""
        lines.append(f"  {mark} {title:<58} {count:>2} scenario(s){status}")
    lines.append(
        f"\n{report.covered} of {len(report.rows)} procedures covered ({report.percent:.1f}%)"
    )
    return "\n".join(lines).lstrip("\n")


def run_coverage(rootdir: Path, outcomes: Mapping[str, str]) -> Coverage:
    """Coverage of the scenario files a pytest run collected, with their outcomes
    (``outcomes`` maps node ids ``path::scenario name`` to passed/failed/...)."""
    from pytest_tapps.scenario._load import ScenarioFileError, load_file

    files: dict[str, list[str]] = {}
    for nodeid in outcomes:
        relative, _, name = nodeid.partition("::")
        files.setdefault(relative, []).append(name)
    loaded = []
    results: dict[tuple[str, str], str] = {}
    for relative in sorted(files):
        file_path = rootdir / relative
        try:
            loaded.extend(load_file(file_path))
        except (ScenarioFileError, OSError):
            continue  # reported as a collection error already
        for name in files[relative]:
            results[(file_path.name, name)] = outcomes[f"{relative}::{name}"]
    return coverage(loaded, results)


def render_markdown(report: Coverage, *, root: Path | None = None) -> str:
    """The mapping as Markdown: a table per runbook section, each procedure with the scenarios
    that exercise it (file relative to ``root``, and name)."""
    lines = [
        "# Runbook procedures and the scenarios that exercise them",
        "",
        "Generated by `tapps scenario coverage --markdown scenarios/`; "
        "`tests/cli/test_cli_scenario.py` keeps it in sync. "
        f"{report.covered} of {len(report.rows)} procedures covered "
        f"({report.percent:.1f}%).",
    ]
    section = None
    for row in report.rows:
        if row.section != section:
            section = row.section
            lines += ["", f"## {section}", "", "| procedure | scenarios |", "|---|---|"]
        title = row.procedure[len(section) + len(SEPARATOR) :] or "(the section itself)"
        names = "<br>".join(f"`{_shown(ref.path, root)}`: {ref.name}" for ref in row.scenarios)
        lines.append(f"| {title} | {names or '**none**'} |")
    return "\n".join(lines) + "\n"


def _shown(path: Path, root: Path | None) -> str:
    if root is None:
        return path.name
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
