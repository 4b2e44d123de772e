"""Conformance of a real implementation to the runbook: recorded results and the report.

A run of the bundled suite against an implementation (``pytest -p tapps scenarios/
--tapps-target=... --junitxml=run.xml``) gives each scenario an outcome:

- ``pass``: the implementation does what the runbook says;
- ``departs``: a ``then:`` expectation did not hold: the implementation departs from the
  runbook, and the mismatch is the evidence;
- ``not supported``: the implementation has no way to perform an action (or no place in its
  layout for the given tree);
- ``harness error`` / ``skipped``: the harness could not set the scenario up, or its
  requirements were not met here.

The *recorded results* (a JSON file kept in the repository, updated deliberately) say which
outcome each scenario had when last reviewed, with its evidence; a gate fails when a run's
outcomes or evidence differ from them, or when a scenario is new or gone. The *report*
turns a run into Markdown per runbook section and procedure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_tapps._outcomes import UNSUPPORTED, skip_outcome
from pytest_tapps.core._nesting import load_json
from pytest_tapps.scenario._load import Loaded
from pytest_tapps.scenario._runbook import SEPARATOR, runbook

PASS = "pass"  # noqa: S105 -- an outcome, not a password
DEPARTS = "departs"
NOT_SUPPORTED = "not supported"
HARNESS_ERROR = "harness error"
SKIPPED = "skipped"
#: Worst first: how a procedure's outcome is summarised from its scenarios'.
OUTCOMES = (DEPARTS, HARNESS_ERROR, NOT_SUPPORTED, SKIPPED, PASS)
#: What the recorded-results file says it is.
FORMAT = "pytest-tapps conformance results 1"
_MISMATCH = re.compile(r"^(?P<where>\S.*?):(?P<line>\d+): (?P<field>.+)$")
_UNSUPPORTED = re.compile(rf"{re.escape(UNSUPPORTED)} \([^)]*\): ?")
#: The scenario's project folder in a message (a new temporary folder every run).
_PROJECT = re.compile(r"(?:/[^\s/'\"]+)+/project(?=[/\s'\"]|$)")
_MAX_EVIDENCE_LINES = 12
_MAX_ACTION_LINES = 2
_MAX_BLOCK_LINES = 8
_MTIME = re.compile(r" mtime \d+(?:\.\d+)?")
#: A file's content hash in a tree picture: the package's own files may hold the run's folder
#: or the real time (its history states, a git worktree's .git file), so a rerun would differ.
_HASH = re.compile(r" sha256:[0-9a-f]+")


@dataclass(frozen=True)
class Finding:
    """One scenario's outcome in a run, with its evidence (empty for a pass)."""

    file: str
    name: str
    outcome: str
    evidence: str = ""

    @property
    def key(self) -> str:
        return f"{self.file}::{self.name}"


def evidence_of_failure(text: str) -> str:
    """The mismatches of a failing scenario's picture (field, expected, actual), with file
    paths cut to their names; the first lines when the text is not a scenario's picture (a
    crash)."""
    lines = text.splitlines()
    kept: list[str] = []
    for line in lines:
        found = _MISMATCH.match(line)
        if found is not None:
            kept.append(f"{Path(found['where']).name}:{found['line']}: {found['field']}")
        elif (
            kept and line.startswith("    ") and line.lstrip().startswith(("expected:", "actual:"))
        ):
            kept.append("    " + line.strip())
    if not kept:
        kept = [line for line in lines if line.strip()][:_MAX_EVIDENCE_LINES]
    # a created file's mtime is the machine's real time, and its content may hold the run's
    # folder: both left out (its kind and size stay), so a rerun reads the same
    changed = [_HASH.sub("", _MTIME.sub("", line)) for line in _block(lines, "tree change:")]
    evidence = kept + changed + _failed_actions(lines)
    return _PROJECT.sub("<project>", "\n".join(evidence))


def _block(lines: list[str], heading: str) -> list[str]:
    """The picture's block under ``heading`` (its first lines), when the failure shows it."""
    try:
        start = lines.index(heading)
    except ValueError:
        return []
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        body.append(line.rstrip())
    more = [f"    ... {len(body) - _MAX_BLOCK_LINES} more"] if len(body) > _MAX_BLOCK_LINES else []
    return [heading, *body[:_MAX_BLOCK_LINES], *more]


def _failed_actions(lines: list[str]) -> list[str]:
    """The actions of the picture that exited non-zero, each with the last lines it printed
    (where an exception shows)."""
    try:
        start = lines.index("actions:")
    except ValueError:
        return []
    out: list[str] = []
    action: str | None = None
    printed: list[str] = []

    def flush() -> None:
        if action is not None and not action.endswith("-> exit 0"):
            out.append(action.strip())
            out.extend("    " + text for text in printed[-_MAX_ACTION_LINES:])

    for line in lines[start + 1 :]:
        if line.startswith("  when."):
            flush()
            action, printed = line, []
        elif line.startswith("      | ") and action is not None:
            printed.append(line[len("      | ") :].rstrip())
        elif not line.startswith(" "):
            break
    flush()
    return out


def _file_from_classname(classname: str) -> str:
    """pytest writes ``scenarios/dlq/x.tapps.yaml`` as the class name
    ``scenarios.dlq.x.tapps.yaml``; the file name is what follows the folders."""
    for suffix in (".tapps.yaml", ".yaml", ".yml"):
        if classname.endswith(suffix):
            return classname[: -len(suffix)].rsplit(".", 1)[-1] + suffix
    return classname


def read_findings(junit: Path) -> dict[str, Finding]:
    """``file::scenario`` -> :class:`Finding` from a JUnit XML file of a scenario run."""
    import xml.etree.ElementTree as ET

    tree = ET.parse(junit)  # noqa: S314 -- a local report file
    found: dict[str, Finding] = {}
    for case in tree.iter("testcase"):
        file = _file_from_classname(case.get("classname", ""))
        name = case.get("name", "")
        outcome, evidence = PASS, ""
        for child in case:
            text = (child.text or "").strip() or child.get("message", "")
            if child.tag == "failure":
                outcome, evidence = DEPARTS, evidence_of_failure(text)
            elif child.tag == "error":
                outcome, evidence = HARNESS_ERROR, evidence_of_failure(text)
            elif child.tag == "skipped":
                message = child.get("message", "") or text
                if skip_outcome(message) == "unsupported":
                    outcome = NOT_SUPPORTED
                    evidence = _UNSUPPORTED.split(message, maxsplit=1)[-1].strip()
                else:
                    outcome, evidence = SKIPPED, message.strip()
        if outcome == DEPARTS and evidence.startswith("HARNESS ERROR"):
            outcome = HARNESS_ERROR
        finding = Finding(file, name, outcome, evidence)
        found[finding.key] = finding
    return found


# -- recorded results --------------------------------------------------------------------------


class RecordedResultsError(ValueError):
    """The recorded-results file cannot be read."""


def recorded_text(findings: Mapping[str, Finding], *, about: str) -> str:
    """``findings`` as the recorded-results JSON (sorted; evidence kept for reviewers)."""
    data = {
        "format": FORMAT,
        "about": about,
        "results": {
            key: {"outcome": f.outcome, "evidence": f.evidence}
            for key, f in sorted(findings.items())
        },
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def read_recorded(path: Path) -> dict[str, Finding]:
    """The recorded results in ``path``; a clear error when it is not such a file."""
    try:
        data: Any = load_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        message = f"{path}: cannot read the recorded results ({exc.strerror or exc})"
        raise RecordedResultsError(message) from None
    except ValueError as exc:
        message = f"{path}: not JSON ({exc}); write it with --update"
        raise RecordedResultsError(message) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        message = f'{path}: not a recorded-results file (no "format": {FORMAT!r})'
        raise RecordedResultsError(message)
    results = data.get("results")
    if not isinstance(results, dict):
        message = (
            f'{path}: "results" must be a mapping of file::scenario to outcomes; '
            "write the file with --update"
        )
        raise RecordedResultsError(message)
    found: dict[str, Finding] = {}
    for key, entry in results.items():
        file, _, name = str(key).partition("::")
        outcome = entry.get("outcome") if isinstance(entry, dict) else None
        if outcome not in OUTCOMES:
            message = f"{path}: results[{key!r}].outcome is {outcome!r}; use one of " + ", ".join(
                repr(o) for o in OUTCOMES
            )
            raise RecordedResultsError(message)
        found[key] = Finding(file, name, outcome, str(entry.get("evidence", "")))
    return found


def changes(recorded: Mapping[str, Finding], found: Mapping[str, Finding]) -> list[str]:
    """How a run differs from the recorded results: a line per scenario whose outcome changed
    (with its evidence), that is new, or that did not run; and for a scenario that departs
    (or is not supported) as before but differently, the difference of its evidence, so a
    change inside a known departure fails the gate too."""
    import difflib

    lines = []
    for key in sorted(set(recorded) | set(found)):
        before = recorded.get(key)
        after = found.get(key)
        if before is None and after is not None:
            lines.append(f"new scenario: {key}: {after.outcome}")
        elif after is None and before is not None:
            lines.append(f"not run: {key} (recorded: {before.outcome})")
        elif before is not None and after is not None and before.outcome != after.outcome:
            lines.append(f"changed: {key}: recorded {before.outcome}, now {after.outcome}")
            if after.evidence:
                lines.extend("    " + line for line in after.evidence.splitlines())
        elif before is not None and after is not None and before.evidence != after.evidence:
            lines.append(f"changed evidence: {key}: {after.outcome} as recorded, differently")
            diff = difflib.unified_diff(
                before.evidence.splitlines(), after.evidence.splitlines(), lineterm="", n=1
            )
            lines.extend("    " + line for line in list(diff)[2:])  # no ---/+++ header
    return lines


# -- the report --------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_report(
    loaded: Iterable[Loaded],
    found: Mapping[str, Finding],
    *,
    title: str,
    command: str,
    notes: str = "",
) -> str:
    """Markdown: per runbook section, each procedure's outcome; then each departure with what
    the runbook says (the procedure and the scenario's description) and what happened."""
    from pytest_tapps.scenario._load import parse

    book = runbook()
    by_procedure: dict[str, list[tuple[Any, Finding]]] = {p: [] for p in book.procedures}
    for item in loaded:
        scenario = parse(item.data)
        finding = found.get(f"{item.path.name}::{scenario.name}")
        if finding is None:
            continue
        for reference in scenario.references:
            by_procedure[book.check(reference)].append((scenario, finding))
    totals = dict.fromkeys(OUTCOMES, 0)
    for finding in found.values():
        totals[finding.outcome] = totals.get(finding.outcome, 0) + 1
    summary = ", ".join(f"{count} {outcome}" for outcome, count in totals.items() if count)
    lines = [
        f"# {title}",
        "",
        f"Generated by `{command}` from a run of the bundled scenarios. Scenarios: {summary}.",
        "",
        "Outcomes: **pass** (does what the runbook says), **departs** (a `then:` expectation "
        "did not hold: the evidence is below), **not supported** (the package has no way to "
        "perform an action of the scenario, or no place in its layout for its tree).",
    ]
    if notes.strip():
        lines += ["", notes.strip()]
    departures: list[tuple[str, Any, Finding]] = []
    section = None
    for procedure, pairs in by_procedure.items():
        if procedure.split(SEPARATOR)[0] != section:
            section = procedure.split(SEPARATOR)[0]
            lines += [
                "",
                f"## {section}",
                "",
                "| procedure | outcome | scenarios |",
                "|---|---|---|",
            ]
        title_cell = procedure[len(section or "") + len(SEPARATOR) :] or "(the section itself)"
        if not pairs:
            lines.append(f"| {_cell(title_cell)} | not run | |")
            continue
        outcome = min((f.outcome for _, f in pairs), key=OUTCOMES.index)
        names = "<br>".join(f"{_cell(s.name)} ({f.outcome})" for s, f in pairs)
        lines.append(f"| {_cell(title_cell)} | **{outcome}** | {names} |")
        departures += [(procedure, s, f) for s, f in pairs if f.outcome == DEPARTS]
    if departures:
        lines += ["", "## Departures: the evidence", ""]
        seen: set[str] = set()
        for procedure, scenario, finding in departures:
            if finding.key in seen:
                continue
            seen.add(finding.key)
            lines += [
                f"### {scenario.name}",
                "",
                f"- Runbook: {procedure}",
                f"- What the runbook says: {' '.join((scenario.description or '').split())}",
                f"- Scenario: `{finding.file}`",
                "- What happened:",
                "",
                "```",
                finding.evidence or "(no detail recorded)",
                "```",
                "",
            ]
    unsupported = sorted(
        (f for f in found.values() if f.outcome == NOT_SUPPORTED), key=lambda f: f.key
    )
    if unsupported:
        lines += ["", "## Not supported by this package", "", "| scenario | why |", "|---|---|"]
        lines += [f"| {_cell(f.name)} | {_cell(f.evidence)} |" for f in unsupported]
    return "\n".join(lines).rstrip() + "\n"
