"""The failure message of a scenario: source lines, expected vs actual, and the picture."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pytest_tapps.harness import diff_snapshots, timeline

if TYPE_CHECKING:
    from pytest_tapps.scenario._expect import Mismatch
    from pytest_tapps.scenario._run import Result

_MAX_RECORDS = 20
#: At most this many lines of a plan, a tree change or one action's output: the rest is counted,
#: not printed (a scenario of 20,000 numbered files would otherwise print every one).
_MAX_LINES = 100


def _capped(lines: list[str], limit: int = _MAX_LINES) -> list[str]:
    """``lines``, or their first ``limit`` and a line counting the rest."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"... {len(lines) - limit} more ({len(lines)} in all)"]


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _timelines(result: Result) -> str:
    from pytest_tapps.core import StateFileError, StateStore

    parts = []
    for _path, state in StateStore(result.session.layout).iter_states():
        if isinstance(state, StateFileError):
            parts.append(f"  {state}")
            continue
        parts.append(f"  {state.workflow_id} ({state.status.value}):\n{_indent(timeline(state))}")
    elapsed = result.session.clock.time() - result.start
    parts.append(f"  simulated time elapsed: {elapsed:g}s")
    return "attempt timeline (virtual time):\n" + "\n".join(parts)


def _plan(result: Result) -> str:
    done = result.last("cleanup", "worktree_prune")
    if done is None:
        return "cleanup plan: (no cleanup ran)"
    items = (done.outcome.data or {}).get("items", {})
    width = max((len(label) for label in items.values()), default=0)
    rows = _capped([f"{label:<{width}}  {path}" for path, label in sorted(items.items())])
    kind = "dry run" if getattr(done.value, "dry_run", False) else "removed or skipped"
    return f"cleanup plan ({kind}):\n" + _indent("\n".join(rows) or "(empty)")


def _logs(result: Result) -> str:
    records = result.records
    lines = _capped([json.dumps(r, default=str) for r in records], _MAX_RECORDS)
    return f"log records ({len(records)}):\n" + _indent("\n".join(lines) or "(none)")


def _output(result: Result) -> str:
    lines = []
    for done in result.performed:
        if done.name == "advance":
            continue
        lines.append(f"  when.{done.index} {done.name} -> exit {done.outcome.exit_code}")
        if done.outcome.output:
            shown = _capped(done.outcome.output.rstrip().splitlines())
            lines.append(_indent("\n".join(shown), "      | "))
    return "actions:\n" + ("\n".join(lines) or "  (none)")


def _tree_change(result: Result) -> str:
    return "\n".join(_capped(diff_snapshots(result.before, result.after).splitlines()))


def field_path(loc: tuple[str | int, ...]) -> str:
    """``then.plan[".tapps-agents/a.jsonl"]``: keys that hold dots or slashes are quoted."""
    text = ""
    for part in loc:
        key = str(part)
        if any(mark in key for mark in "./ "):
            text += f"[{key!r}]"
        else:
            text += f".{key}" if text else key
    return text


def render_failure(result: Result, mismatches: list[Mismatch]) -> str:
    """Every mismatch with its source line, then each picture they call for, once."""
    loaded = result.loaded
    lines = [
        f"scenario {loaded.name!r} failed against {result.target.name}: "
        f"{len(mismatches)} expectation(s) do not hold"
    ]
    pictures: list[str] = []
    for mismatch in mismatches:
        where = loaded.origin(mismatch.loc)
        field = field_path(mismatch.loc)
        line = f"{where.path}:{where.line}" if where.line else str(where.path)
        lines.append(f"\n{line}: {field}")
        if where.source:
            lines.append(f"    {where.line:>4} | {where.source}")
        lines.append(f"    expected: {mismatch.expected}")
        lines.append(f"    actual:   {mismatch.actual}")
        if mismatch.picture and mismatch.picture not in pictures:
            pictures.append(mismatch.picture)
    draw = {
        "timeline": lambda: _timelines(result),
        "tree": lambda: "tree change:\n" + _indent(_tree_change(result)),
        "plan": lambda: _plan(result),
        "logs": lambda: _logs(result),
        "output": lambda: _output(result),
    }
    for picture in pictures:
        lines.append("")
        lines.append(draw[picture]())
    if "output" not in pictures:
        lines.append("")
        lines.append(_output(result))
    return "\n".join(lines)
