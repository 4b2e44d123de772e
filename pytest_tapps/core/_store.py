"""Reading and writing workflow state files safely.

Reads never modify a file; a file that cannot be read gives a :class:`StateFileError` naming the
file and the reason. Writes are atomic (:func:`write_atomic`), and edits write a timestamped backup
to ``workflow-state/backups/`` first.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock, utcnow
from pytest_tapps.core._errors import StateFileError, WorkflowNotFoundError
from pytest_tapps.core._fsutil import create_exclusive, is_temp_name, write_atomic
from pytest_tapps.core._layout import Layout, safe_name
from pytest_tapps.core._nesting import NestingError, load_json
from pytest_tapps.core._shown import quoted
from pytest_tapps.core._state import WorkflowState


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, ``field.path: message``, without pydantic's URLs."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"{where}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object stored at ``path``, or a :class:`StateFileError` saying why not."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StateFileError(path, "file does not exist") from None
    except IsADirectoryError:
        raise StateFileError(path, "is a directory, not a state file") from None
    except PermissionError:
        raise StateFileError(path, "permission denied reading the file") from None
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise StateFileError(path, f"not a valid gzip file ({exc})") from None
    if not raw.strip():
        raise StateFileError(path, "file is empty (a write was interrupted?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateFileError(path, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        data = load_json(text)
    except NestingError as exc:
        raise StateFileError(path, str(exc)) from None
    except json.JSONDecodeError as exc:
        hint = "" if text.rstrip().endswith(("}", "]")) else " (truncated?)"
        at = "" if exc.msg.endswith(" at") else " at"  # json's "starting at" ends in "at"
        reason = f"not valid JSON: {exc.msg}{at} line {exc.lineno} column {exc.colno}{hint}"
        raise StateFileError(path, reason) from None
    if not isinstance(data, dict):
        reason = f"top-level JSON value is {type(data).__name__}, expected an object"
        raise StateFileError(path, reason)
    return data


def dump_json(data: Any) -> bytes:
    """The project's JSON file form: indented, UTF-8, trailing newline. A string holding a lone
    surrogate (read from a JSON ``\\ud800`` escape) is no UTF-8 text: such data is written with
    every non-ASCII character escaped, valid JSON that reads back the same."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(data, indent=2) + "\n").encode("ascii")


def parse_state(path: Path, data: dict[str, Any]) -> WorkflowState:
    """Validate a runbook-form state object read from ``path``."""
    try:
        return WorkflowState.model_validate(data)
    except ValidationError as exc:
        raise StateFileError(
            path, f"invalid workflow state: {describe_validation_error(exc)}"
        ) from None


class StateStore:
    """The workflow state files of one project."""

    def __init__(self, layout: Layout, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.layout = layout
        self.clock = clock

    def __repr__(self) -> str:
        return f"StateStore({self.layout.project_root!s})"

    # -- reading -------------------------------------------------------------------------------

    def read(self, path: Path) -> WorkflowState:
        """The state stored in one file, in either supported form."""
        from pytest_tapps.core import _real_state

        data = read_json_object(path)
        if _real_state.looks_real(data):
            return _real_state.to_runbook_state(path, data)
        return parse_state(path, data)

    def _candidates(self) -> Iterator[Path]:
        """Every file that may hold a workflow state, in the order they count: the current
        state; this tool's history files (``history/<id>.json``: also its runbook-form copy of
        a workflow it took over from the real package, which must win over that package's
        saves); the real package's saves, newest first; their history copies, newest first."""
        current = self.layout.current_state_file
        if current is not None and current.is_file():
            yield current
        from pytest_tapps.core import _real_state

        history: list[Path] = []
        if self.layout.history_dir.is_dir():
            history = sorted(
                (p for p in self.layout.history_dir.glob("*.json") if not is_temp_name(p.name)),
                reverse=True,
            )
        saves = [p for p in history if save_id(p) is not None]
        yield from (p for p in history if save_id(p) is None)
        yield from _real_state.state_files(self.layout)
        yield from saves

    def iter_states(self) -> Iterator[tuple[Path, WorkflowState | StateFileError]]:
        """Every state file with its state, or the error that kept it from loading.

        A workflow that appears in several files (the current state and an older copy) is
        reported once, from the first file: the current state wins, then the newest save.
        """
        seen: set[str] = set()
        for path in self._candidates():
            try:
                state = self.read(path)
            except StateFileError as exc:
                yield path, exc
                continue
            if state.workflow_id in seen:
                continue
            seen.add(state.workflow_id)
            yield path, state

    def locate(self, workflow_id: str | None = None) -> Path:
        """The file holding ``workflow_id`` (default: the current workflow)."""
        if workflow_id is None:
            current = self.layout.current_state_file
            if current is not None and current.is_file():
                return current
            from pytest_tapps.core import _real_state

            newest = _real_state.newest_state_file(self.layout)
            if newest is not None:
                return newest
            message = f"no workflow state in {self.layout.state_dir}"
            raise WorkflowNotFoundError(message)
        safe_name(workflow_id, what="workflow id")
        unreadable: list[StateFileError] = []
        for path, state in self.iter_states():
            if isinstance(state, StateFileError):
                unreadable.append(state)
            elif state.workflow_id == workflow_id:
                _refuse_older_save(workflow_id, path, unreadable)
                return path
        if unreadable:
            # The workflow may be in a file that cannot be read: say so, not "no such workflow".
            first, *others = unreadable
            also = "".join(f"\n  also unreadable: {error}" for error in others)
            reason = (
                f"{first.reason}; no readable state holds workflow id {quoted(workflow_id)}, "
                f"so it may be in this file{also}"
            )
            raise StateFileError(first.path, reason)
        message = (
            f"no workflow state for workflow id {quoted(workflow_id)} in {self.layout.state_dir}"
        )
        raise WorkflowNotFoundError(message)

    def load(self, workflow_id: str | None = None) -> WorkflowState:
        """The state of ``workflow_id`` (default: the current workflow)."""
        return self.read(self.locate(workflow_id))

    # -- writing -------------------------------------------------------------------------------

    def own_path(self, state: WorkflowState, path: Path) -> Path:
        """Where an edited ``state`` read from ``path`` is saved: that file, or for a state read
        in another writer's format (the real package's), this tool's runbook-form file for it
        (:meth:`default_path`), which is read first from then on. Another writer's files are
        never overwritten; the state loses its ``source_format`` mark (it is this tool's now)."""
        if not (state.model_extra or {}).pop("source_format", None):
            return path
        return self.default_path(state.workflow_id)

    def default_path(self, workflow_id: str) -> Path:
        """Where a runbook-form state for ``workflow_id`` is written when no path is given.

        The current workflow's file if it is this workflow or there is none yet; otherwise
        ``history/<workflow_id>.json``.
        """
        current = self.layout.current_state_file
        if current is not None:
            if not current.exists():
                return current
            try:
                if read_json_object(current).get("workflow_id") == workflow_id:
                    return current
            except StateFileError:
                pass  # a corrupt current file is never overwritten: write beside it
        return self.layout.history_file(workflow_id)

    def save(self, state: WorkflowState, path: Path | None = None) -> Path:
        """Write ``state`` atomically and return the path written."""
        target = path if path is not None else self.default_path(state.workflow_id)
        # pydantic's serializer: the same JSON as dump_json, without Python's slow indenting encoder
        try:
            data = state.model_dump_json(indent=2).encode() + b"\n"
        except PydanticSerializationError:  # a lone surrogate in a string: dump_json escapes it
            data = dump_json(state.model_dump(mode="json"))
        write_atomic(target, data)
        return target

    def backup(self, path: Path) -> Path:
        """Copy ``path`` to ``backups/<name>.<UTC timestamp>.json`` before an edit; return it.

        The copy holds the file's exact bytes, so even a state this package cannot parse is kept.
        """
        data = path.read_bytes()
        stamp = utcnow(self.clock).strftime("%Y%m%dT%H%M%S.%fZ")
        stem = path.name.removesuffix(".json")
        for counter in range(1000):
            suffix = "" if counter == 0 else f"-{counter}"
            target = self.layout.backups_dir / f"{stem}.{stamp}{suffix}.json"
            if create_exclusive(target, data):
                return target
        message = f"could not find a free backup name for {path} in {self.layout.backups_dir}"
        raise FileExistsError(message)


#: A save time in a state file's name, as the real package writes it (``-YYYYmmdd-HHMMSS``).
_SAVE_STAMP = re.compile(r"-[0-9]{8}-[0-9]{6}$")


def save_id(path: Path) -> str | None:
    """The workflow id of a save the real package names ``<id>-YYYYmmdd-HHMMSS.json`` (or its
    history copy); ``None`` for any other name."""
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    saved = _SAVE_STAMP.sub("", stem)
    return saved if saved != stem else None


def _stamp(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".json")[-15:]


def _refuse_older_save(workflow_id: str, path: Path, unreadable: list[StateFileError]) -> None:
    """Raise when the real package's save ``path`` of ``workflow_id`` has a newer save (by the
    time in its name) that cannot be read: the state at ``path`` would be out of date. A
    history copy of that very save (the same name) is the save itself, and may stand in for it;
    this tool's own file (no time in its name) is never out of date."""
    if save_id(path) != workflow_id:
        return
    for error in unreadable:
        if save_id(error.path) == workflow_id and _stamp(error.path) > _stamp(path):
            reason = (
                f"{error.reason}; it is the newest save of workflow {workflow_id!r}, and the "
                f"readable older one ({path}) may be out of date: restore this file (from "
                "workflow-state/history/ or backups/), or remove it to go on from the older save"
            )
            raise StateFileError(error.path, reason)
