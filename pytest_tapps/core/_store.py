"""Reading and writing workflow state files safely.

Reads never modify a file; a file that cannot be read gives a :class:`StateFileError` naming the
file and the reason. Writes are atomic (:func:`write_atomic`), and edits write a timestamped backup
to ``workflow-state/backups/`` first.
"""

from __future__ import annotations

import gzip
import json
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
        reason = f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
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
        """Every file that may hold a workflow state, current first."""
        current = self.layout.current_state_file
        if current is not None and current.is_file():
            yield current
        from pytest_tapps.core import _real_state

        yield from _real_state.state_files(self.layout)
        if self.layout.history_dir.is_dir():
            # Newest first where names carry a save time (the real package's history copies).
            yield from sorted(
                (p for p in self.layout.history_dir.glob("*.json") if not is_temp_name(p.name)),
                reverse=True,
            )

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
