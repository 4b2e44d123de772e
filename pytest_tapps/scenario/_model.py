"""The scenario file format as pydantic models: one source for validation and the JSON Schema.

Every model forbids unknown keys and uses strict types, so ``attempts: "3"`` or ``dry_run: no``
is an error rather than a guess. Durations carry units (``5s``, ``15m``, ``40d``). ``when`` and
``faults`` are lists of one-key mappings (``- run: workflow-123``); the key picks the model.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pytest_tapps.core._definition import WorkflowDefinition
from pytest_tapps.core._envelope import Category
from pytest_tapps.core._layout import SAFE_NAME_PATTERN
from pytest_tapps.core._retention import BY_NAME
from pytest_tapps.core._state import StepStatus, WorkflowStatus

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
#: A signed duration; the loader and the JSON Schema read it with the same ``re.search``.
DURATION_PATTERN = r"^\s*(-?[0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)\s*$"
_SIGNED = re.compile(DURATION_PATTERN)
_UNSIGNED = re.compile(DURATION_PATTERN.replace("-?", ""))
_HOW = "write a number with a unit: '90s', '15m', '12h', '40d' (ms, s, m, h, d, w)"


def seconds_of(value: Any, *, signed: bool = False) -> float:
    """Seconds from ``'5s'``/``'40d'`` (``'-1h'`` when ``signed``); anything else is an error."""
    if isinstance(value, bool) or not isinstance(value, str):
        message = f"{value!r} has no unit; {_HOW}"
        raise ValueError(message)
    match = (_SIGNED if signed else _UNSIGNED).search(value)
    if match is None:
        message = f"{value!r} is not a duration; {_HOW}"
        raise ValueError(message)
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds):
        message = f"{value!r} is too large"
        raise ValueError(message)
    return seconds


def _duration_schema(description: str, *, signed: bool = False) -> WithJsonSchema:
    pattern = (_SIGNED if signed else _UNSIGNED).pattern
    return WithJsonSchema({"type": "string", "pattern": pattern, "description": description})


Duration = Annotated[
    float,
    BeforeValidator(seconds_of),
    _duration_schema("a duration with a unit: 90s, 15m, 12h, 40d"),
]
Age = Annotated[
    float,
    BeforeValidator(lambda value: seconds_of(value, signed=True)),
    _duration_schema("how old, with a unit (40d); negative is in the future (-1h)", signed=True),
]


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            message = f"{value!r} is not a timestamp; write 2026-01-15T10:30:00Z"
            raise ValueError(message) from None
    else:
        message = f"expected a timestamp such as 2026-01-15T10:30:00Z, got {value!r}"
        raise ValueError(message)
    if moment.tzinfo is None or moment.utcoffset() is None:
        message = f"{value!s} has no time zone; add Z (UTC) or an offset such as +02:00"
        raise ValueError(message)
    if isinstance(value, str) and re.search(MOMENT_PATTERN, value) is None:
        message = f"{value!r} is not a timestamp; write 2026-01-15T10:30:00Z"
        raise ValueError(message)
    return moment


#: A timestamp with its zone, as the loader accepts it (``Z`` or ``+HH:MM``).
MOMENT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
Moment = Annotated[
    datetime,
    BeforeValidator(_moment),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": MOMENT_PATTERN,
            "examples": ["2026-01-15T10:30:00Z"],
        }
    ),
]


def check_relative(value: str) -> str:
    """A path relative to the project root, staying inside it (or under ``../outside/``)."""
    path = PurePosixPath(value)
    if not value or path.is_absolute():
        message = f"{value!r}: write a path relative to the project root, e.g. .tapps-agents/x"
        raise ValueError(message)
    depth: list[str] = []
    for part in path.parts:
        if part == "..":
            if not depth:
                depth.append("..")
                continue
            if depth[-1] == "..":
                depth.append("..")
                continue
            depth.pop()
        elif part != ".":
            depth.append(part)
    if (depth[:1] == [".."] and depth[:2] != ["..", "outside"]) or depth.count("..") > 1:
        message = (
            f"{value!r} leaves the project; paths stay inside it, or under ../outside/ "
            "for things outside the project (symlink targets)"
        )
        raise ValueError(message)
    return value


Attempts = Literal["all"] | Annotated[int, Field(ge=1)] | list[Annotated[int, Field(ge=1)]]


class Strict(BaseModel):
    """Unknown keys are errors; types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def one_of(*forms: dict[str, Any]) -> ConfigDict:
    """A :class:`Strict` model's config whose JSON Schema accepts any one of ``forms`` (which
    keys go together), as its validator does."""
    return ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra={"anyOf": list(forms)}
    )


def _checked_path(value: Any) -> Any:
    return check_relative(value) if isinstance(value, str) else value


Path_ = Annotated[str, BeforeValidator(_checked_path), Field(min_length=1)]


def _safe(what: str) -> BeforeValidator:
    """The core's :func:`~pytest_tapps.core.safe_name` check, naming the value as ``what``
    (``library id '../etc' must not contain ...``)."""
    from pytest_tapps.core._layout import safe_name

    def checked(value: Any) -> Any:
        return safe_name(value, what=what) if isinstance(value, str) else value

    return BeforeValidator(checked)


_ONE_NAME = WithJsonSchema(
    {"type": "string", "pattern": SAFE_NAME_PATTERN, "description": "one name: no '/', no '..'"}
)
#: Names that become one file or folder name in the given tree: they cannot leave their folder.
WorkflowName = Annotated[str, _safe("workflow id"), _ONE_NAME]
WorktreeName = Annotated[str, _safe("worktree name"), _ONE_NAME]
StepName = Annotated[str, _safe("step id"), _ONE_NAME]
LibraryId = Annotated[str, _safe("library id"), _ONE_NAME]
FileName = Annotated[str, _safe("file name"), _ONE_NAME]
_SEGMENT = r"(?![A-Za-z]:)(?!\.(?:/|(?![\s\S])))(?:(?!\.\.)[^/\\\x00])+"
#: A Context7 document's name: plain names joined by ``/`` (each one :func:`safe_name`
#: accepts), not the entry's ``meta.json``.
DOCUMENT_PATTERN = rf"^(?!meta\.json(?![\s\S])){_SEGMENT}(?:/{_SEGMENT})*$"


def document_name_ok(name: str) -> bool:
    """Whether ``name`` is a Context7 document name a scenario may give: each part between
    ``/`` passes the core's :func:`~pytest_tapps.core.safe_name`, and it is not ``meta.json``
    (:data:`DOCUMENT_PATTERN` says the same for the JSON Schema)."""
    from pytest_tapps.core._errors import UnsafeNameError
    from pytest_tapps.core._layout import safe_name

    try:
        for part in name.split("/"):
            safe_name(part)
    except UnsafeNameError:
        return False
    return name != "meta.json"


def _document_names(value: Any) -> Any:
    bad = [name for name in value if not document_name_ok(name)] if isinstance(value, dict) else []
    if bad:
        names = ", ".join(repr(name) for name in bad)
        message = (
            f"document name(s) {names}: write a path of plain names inside the entry "
            "(no '..', no leading '/', not meta.json)"
        )
        raise ValueError(message)
    return value


Documents = Annotated[
    dict[str, str],
    BeforeValidator(_document_names),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": DOCUMENT_PATTERN},
            "additionalProperties": {"type": "string"},
            "description": "document name (a path inside the entry): its text",
        }
    ),
]


# -- given ---------------------------------------------------------------------------------------


#: Where a numbered file's number goes in ``files[].path`` (with ``count:``) and in a
#: ``then.plan`` path (any number: every numbered file).
COUNTER = "{n}"


class FileSpec(Strict):
    """A file, by path from the project root, with an age (its mtime) and its bytes: ``content``
    (text), ``base64`` (any bytes: how a capture keeps a file that is not UTF-8 text) or
    ``size`` (that many placeholder bytes: how a capture keeps a file no runbook rule reads)."""

    model_config = one_of(
        {"properties": {"base64": False, "size": False}},
        {"required": ["base64"], "properties": {"content": False, "size": False}},
        {"required": ["size"], "properties": {"content": False, "base64": False}},
    )

    path: Path_
    age: Age = 0.0
    content: str = "x"
    base64: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9+/]*={0,2}$",
        description="the file's bytes in base64 (for a file that is not UTF-8 text)",
    )
    size: int | None = Field(
        default=None, ge=0, description="that many placeholder bytes ('x'), for any content"
    )
    count: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description=(
            "that many files, the path's {n} numbered 1..count, their ages spread evenly from "
            "age (the first) to age_to (the last)"
        ),
    )
    age_to: Age | None = Field(default=None, description="with count: the last file's age")

    @model_validator(mode="after")
    def _one_content(self) -> FileSpec:
        given = [key for key in ("content", "base64", "size") if key in self.model_fields_set]
        if len(given) > 1:
            message = f"give one of content, base64 or size, not {' and '.join(given)}"
            raise ValueError(message)
        if self.base64 is not None:
            self.data()  # a wrong length or padding is an error here, not when written
        if self.count is not None and self.path.count(COUNTER) != 1:
            message = f"a path with count: holds {COUNTER} once, where each file's number goes"
            raise ValueError(message)
        if self.age_to is not None and self.count is None:
            message = "age_to is the last age of count: files; give count too"
            raise ValueError(message)
        return self

    def expand(self) -> list[tuple[str, float]]:
        """Each file's path and age: the one file, or the ``count`` numbered ones."""
        if self.count is None:
            return [(self.path, self.age)]
        last = self.age if self.age_to is None else self.age_to
        step = 0.0 if self.count == 1 else (last - self.age) / (self.count - 1)
        return [
            (
                self.path.replace(COUNTER, str(n)),
                last if n == self.count else self.age + step * (n - 1),
            )
            for n in range(1, self.count + 1)
        ]

    def data(self) -> bytes:
        """The file's bytes."""
        if self.size is not None:
            return b"x" * self.size
        if self.base64 is not None:
            import base64
            import binascii

            try:
                return base64.b64decode(self.base64, validate=True)
            except binascii.Error as exc:
                message = f"base64 does not decode: {exc}"
                raise ValueError(message) from None
        return self.content.encode()


class FolderSpec(Strict):
    """A folder with no files in it, by path from the project root, with an age (its mtime):
    the age an empty worktree or run folder is judged by."""

    path: Path_
    age: Age = 0.0


class SymlinkSpec(Strict):
    """A symbolic link at ``path`` pointing at ``target`` (``../outside/...`` for outside)."""

    path: Path_
    target: Path_
    age: Age = 0.0


class WorktreeSpec(Strict):
    """A worktree folder under ``.tapps-agents/worktrees/``; ``git: true`` makes it real. Give
    its ``name``, or the ``workflow`` and ``step`` it was made for: then it is named as the
    layout names a step's worktree (``workflow-<wf>-step-<step>-<8 hex>`` in tapps-agents-3.7's,
    ``<wf>-<step>`` in the runbook's)."""

    model_config = one_of(
        {"required": ["name"], "properties": {"workflow": False, "step": False}},
        {"required": ["workflow", "step"], "properties": {"name": False}},
    )

    name: WorktreeName | None = None
    workflow: WorkflowName | None = None
    step: StepName | None = None
    age: Age = 0.0
    files: int = Field(default=3, ge=0)
    git: bool = False
    locked: bool = False
    dirty: bool = False
    gone: bool = False
    branch: str | None = None

    @model_validator(mode="after")
    def _named(self) -> WorktreeSpec:
        if self.name is None and (self.workflow is None or self.step is None):
            message = "give the worktree's name, or the workflow and step it was made for"
            raise ValueError(message)
        if self.name is not None and (self.workflow is not None or self.step is not None):
            message = "give either name or workflow and step, not both"
            raise ValueError(message)
        return self


class Context7Spec(Strict):
    """A valid Context7 cache entry (documents plus ``meta.json`` with their hashes)."""

    library: LibraryId
    documents: Documents | None = None
    age: Age = 0.0


class TieredSpec(Strict):
    """A tiered context cache file under ``.tapps-agents/cache/tiered-context/``."""

    name: FileName
    age: Age = 0.0


class ProfileSpec(Strict):
    """The project profile, ``.tapps-agents/project-profile.yaml``."""

    age: Age = 0.0


class StepErrorSpec(Strict):
    """A recorded error envelope."""

    category: Category
    recoverable: bool | None = None
    code: str | None = None
    message: str | None = None


class StepStateSpec(Strict):
    """A step as recorded in a workflow state."""

    id: str = Field(min_length=1)
    status: StepStatus = StepStatus.COMPLETED
    agent: str | None = "implementer"
    action: str | None = None
    attempts: int = Field(default=1, ge=1)
    error: Category | StepErrorSpec | None = None
    worktree: str | None = None


class StateSpec(Strict):
    """A workflow state file as a crashed or finished run would have left it."""

    id: WorkflowName
    status: WorkflowStatus = WorkflowStatus.RUNNING
    current: bool = False
    steps: list[StepStateSpec] = Field(default_factory=list)


class LockSpec(Strict):
    """A workflow's lock file: held by a live process, or stale (dead holder, a killed holder
    not yet reaped by its parent (a zombie), expired, or a hand-edited pid no process can have)."""

    workflow: WorkflowName
    holder: Literal["live", "dead-pid", "zombie", "expired", "impossible-pid"] = "dead-pid"
    process_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=15,
        pattern=r"^[^/\x00]+$",
        description="a live holder's process name as ps shows it (at most 15 characters, no '/'),"
        " e.g. '(sd-pam)'",
    )

    heartbeat_age: Age | None = Field(
        default=None,
        description="how long ago the holder last beat (default: now; 1h for an expired holder)",
    )
    created_age: Age | None = Field(
        default=None, description="how long ago the lock was taken (default: at its heartbeat)"
    )
    ttl: Annotated[Duration, Field(gt=0)] | None = Field(
        default=None, description="the lock's TTL (default 300s, the core's)"
    )

    @model_validator(mode="after")
    def _named_live(self) -> LockSpec:
        if self.process_name is not None and self.holder != "live":
            message = "process_name names a live holder's process: use it with holder: live"
            raise ValueError(message)
        return self


#: A category of the runbook's retention table (checked with a suggestion by the models).
RetentionCategory = Annotated[
    str, Field(min_length=1), WithJsonSchema({"type": "string", "enum": list(BY_NAME)})
]


class Given(Strict):
    """The project before the scenario acts: the runbook's ``.tapps-agents/`` tree."""

    workflows: list[WorkflowDefinition] = Field(
        default_factory=list, description="workflow definitions (the runbook's step YAML)"
    )
    states: list[StateSpec] = Field(default_factory=list)
    files: list[FileSpec] = Field(default_factory=list)
    folders: list[FolderSpec] = Field(
        default_factory=list, description="empty folders and their ages (files make the rest)"
    )
    symlinks: list[SymlinkSpec] = Field(default_factory=list)
    worktrees: list[WorktreeSpec] = Field(default_factory=list)
    context7: list[Context7Spec] = Field(default_factory=list)
    tiered: list[TieredSpec] = Field(default_factory=list)
    profile: ProfileSpec | None = None
    locks: list[LockSpec] = Field(default_factory=list)
    retention: dict[RetentionCategory, Duration | Literal["never"]] = Field(
        default_factory=dict, description="the retention: section of .tapps-agents/config.yaml"
    )

    @field_validator("retention")
    @classmethod
    def _known_categories(cls, value: dict[str, Any]) -> dict[str, Any]:
        from pytest_tapps.core._yamlutil import did_you_mean

        for name in value:
            if name not in BY_NAME:
                message = f"unknown retention category {name!r}{did_you_mean(name, BY_NAME)}"
                raise ValueError(message)
        return value


# -- faults --------------------------------------------------------------------------------------


def _shorthand(model: Any, key: str) -> Any:
    """``model``, also written as a plain string meaning ``{key: string}``
    (``- run: workflow-123``); the JSON Schema accepts both forms."""

    def expand(value: Any) -> Any:
        return {key: value} if isinstance(value, str) else value

    field = model.model_fields[key]  # the string form obeys the key's own rules
    short = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return Annotated[model, BeforeValidator(expand, json_schema_input_type=short | model)]


class StepTimeoutFault(Strict):
    """The step outlives its timeout on the given attempts."""

    step: str = Field(min_length=1)
    attempts: Attempts = "all"


class StepFailureFault(Strict):
    """The step fails with an error envelope of ``category``."""

    step: str = Field(min_length=1)
    category: Category = Category.EXECUTION
    recoverable: bool = False
    attempts: Attempts = "all"
    message: str = "injected failure"


class ResultErrorSpec(Strict):
    """The ``error`` an agent puts in a failed result, key by key: a key left out is not in
    the result (the executor's defaults apply: category ``execution``, the category's code,
    not recoverable, an empty message)."""

    code: str | None = Field(default=None, min_length=1)
    category: Category | None = None
    recoverable: bool | None = None
    message: str | None = None
    details: dict[str, str | int | float | bool] | None = None
    trace_id: str | None = None


class FailedResultFault(Strict):
    """The step's agent returns ``{success: false, error: ...}`` in its result, without
    raising: ``error`` is the envelope it returns (only the keys written), a plain message,
    or nothing (no ``error`` key at all)."""

    step: str = Field(min_length=1)
    attempts: Attempts = "all"
    error: ResultErrorSpec | str | None = None
    raw_error: JsonValue = Field(
        default=None,
        description=(
            "instead of error: the error exactly as written, any JSON, checked by nothing (what "
            "an agent may return that the runbook's envelope cannot hold: a category it does "
            "not name, a number as code, a list as details)"
        ),
    )
    trace_id: str | None = Field(
        default=None,
        min_length=1,
        description="the agent's own trace id, written beside error in its result",
    )

    @model_validator(mode="after")
    def _one_error(self) -> FailedResultFault:
        if {"error", "raw_error"} <= self.model_fields_set:
            message = "give error (an envelope, checked) or raw_error (any JSON), not both"
            raise ValueError(message)
        return self

    def returned_error(self) -> Any:
        """The ``error`` the agent returns: as written (``raw_error``), else the keys of
        ``error`` that were written, else None (no ``error`` key)."""
        if "raw_error" in self.model_fields_set:
            return self.raw_error
        if isinstance(self.error, ResultErrorSpec):
            return self.error.model_dump(mode="json", exclude_none=True)
        return self.error


class FlakyFault(Strict):
    """The step fails recoverably ``failures`` times, then succeeds."""

    step: str = Field(min_length=1)
    failures: int = Field(default=1, ge=1)
    category: Category = Category.EXTERNAL_DEPENDENCY


class HangFault(Strict):
    """The step never returns and stops heartbeating; only its timeout ends it."""

    step: str = Field(min_length=1)
    attempts: Attempts = "all"


class SlowFault(Strict):
    """The step's agent takes ``takes`` (a duration), then succeeds: late within its timeout,
    stopped by it past it (or, ``ignores_timeout``, back only after all of it)."""

    step: str = Field(min_length=1)
    takes: Duration
    attempts: Attempts = "all"
    ignores_timeout: bool = Field(
        default=False,
        description=(
            "the agent never looks at its deadline (a synchronous agent nothing interrupts): it "
            "returns after all of takes, and an overrun is found only then"
        ),
    )


class KillExecutorFault(Strict):
    """The executor's process dies (``kill -9``) in the middle of the step, on the given
    attempts (the first, unless said): its lock file and the step's ``running`` entry are left
    behind, as a crash leaves them."""

    step: str = Field(min_length=1)
    attempts: Attempts = Field(default_factory=lambda: [1])


class CrashDuringWriteFault(Strict):
    """A state write killed half-way (``truncated`` file, or a leftover ``temp`` file)."""

    workflow: WorkflowName
    kind: Literal["truncated", "temp"] = "truncated"


class CorruptCacheFault(Strict):
    """A Context7 entry damaged on disk."""

    library: LibraryId
    kind: Literal["truncated", "bad-json", "bad-yaml", "hash", "empty", "garbage", "no-meta"] = (
        "truncated"
    )


class StuckWorktreeFault(Strict):
    """A real git worktree left behind by a dead run: ``locked`` in git, ``dirty``,
    ``prunable`` (folder deleted by hand, still registered) or ``gone``."""

    name: WorktreeName
    kind: Literal["locked", "dirty", "prunable", "gone"] = "locked"


class LockedFileFault(Strict):
    """A file another process holds a lock on (an exclusive ``flock``, or a POSIX ``fcntl``
    lock) for the rest of the scenario, as a running program holds its log or database: a
    cleanup leaves it however old. Made if missing; needs ``fs: real``."""

    path: Path_
    kind: Literal["flock", "posix"] = Field(
        default="flock",
        description="flock (a log's lock) or posix (an fcntl lock: SQLite's, most databases')",
    )


class ClockSkewFault(Strict):
    """A file whose mtime lies in the future."""

    path: Path_
    ahead: Duration = 3600.0


class PermissionDeniedFault(Strict):
    """A file or folder that cannot be changed (read-only folder)."""

    path: Path_
    listable: bool = Field(
        default=False,
        description=(
            "true: a folder whose names can still be listed, but nothing in it opened or "
            "looked at (read, not search, permission)"
        ),
    )


class UndeletableFault(Strict):
    """A folder whose files cannot be removed (another user's read-only folder; as root, each
    file immutable): a cleanup that reaches them fails on each and must say so and go on.
    The folder must hold files only."""

    path: Path_


class DiskFullFault(Strict):
    """The disk has only ``free_bytes`` left (fake filesystem only)."""

    free_bytes: int = Field(default=0, ge=0)


def _one_key(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    return None


def _single(name: str, spec: Any) -> Any:
    """A one-field model ``{name: spec}``: how a ``- name: ...`` list item is written."""
    from pydantic import create_model

    model = create_model(  # type: ignore[call-overload]
        f"{''.join(part.title() for part in name.split('_'))}Item",
        __base__=Strict,
        **{name: (spec, ...)},
    )
    return Annotated[model, Tag(name)]


FAULTS: dict[str, Any] = {
    "step_timeout": _shorthand(StepTimeoutFault, "step"),
    "step_failure": _shorthand(StepFailureFault, "step"),
    "failed_result": _shorthand(FailedResultFault, "step"),
    "flaky": _shorthand(FlakyFault, "step"),
    "hang": _shorthand(HangFault, "step"),
    "slow": SlowFault,
    "kill_executor": _shorthand(KillExecutorFault, "step"),
    "crash_during_write": CrashDuringWriteFault,
    "corrupt_cache_entry": CorruptCacheFault,
    "stuck_worktree": StuckWorktreeFault,
    "locked_file": LockedFileFault,
    "clock_skew": ClockSkewFault,
    "permission_denied": PermissionDeniedFault,
    "undeletable": UndeletableFault,
    "disk_full": DiskFullFault,
}


# -- when ----------------------------------------------------------------------------------------


class RunAction(Strict):
    """Run a workflow definition from ``given.workflows`` to its end (or failure)."""

    workflow: str = Field(min_length=1)
    seed: int | None = None
    #: The run's distributed tracing id (``--trace-id``): on every record and envelope.
    trace_id: str | None = Field(default=None, min_length=1)


class WorkflowAction(Strict):
    """An operation on one workflow."""

    workflow: str = Field(min_length=1)


class ResumeAction(Strict):
    """Resume a workflow from its first unfinished step. Its steps come from ``definition``
    (an id of ``given.workflows``), else from the ``given.workflows`` entry with the workflow's
    own id, else from the definition its state recorded when it was run."""

    workflow: str = Field(min_length=1)
    definition: str | None = Field(default=None, min_length=1)
    #: The resumed run's distributed tracing id (``--trace-id``).
    trace_id: str | None = Field(default=None, min_length=1)


class StepAction(Strict):
    """An operation on one step of a workflow."""

    workflow: str = Field(min_length=1)
    step: str = Field(min_length=1)


class ResetAction(Strict):
    """Reset a workflow (backup first) to a step, default the first."""

    workflow: str = Field(min_length=1)
    to_step: str | None = None


class ForceCleanupAction(Strict):
    """Remove a workflow's stale lock (never a live one) and report its stuck worktrees."""

    workflow: str = Field(min_length=1)
    dry_run: bool = False


class StatusAction(Strict):
    """Diagnose a workflow: stuck or not, and why."""

    workflow: str | None = None
    stuck_after: Duration = 1800.0


class DlqRetryAction(Strict):
    """Batch processing: mark every recoverable DLQ entry of ``category`` for retry."""

    category: Category


class CleanupAction(Strict):
    """The retention cleanup; ``dry_run`` plans only; ``only`` limits categories."""

    dry_run: bool = False
    only: list[RetentionCategory] = Field(default_factory=list)

    @field_validator("only")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from pytest_tapps.core._yamlutil import did_you_mean

        for name in value:
            if name not in BY_NAME:
                message = f"unknown retention category {name!r}{did_you_mean(name, BY_NAME)}"
                raise ValueError(message)
        return value


class InvalidateAction(Strict):
    """Invalidate one Context7 library (``library``) or the whole cache (``all: true``)."""

    library: str | None = None
    all: bool = False


class WarmAction(Strict):
    """Warm the Context7 cache offline from a folder of documents (path from the project)."""

    source: Path_ = Field(alias="from")

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class WorktreeRemoveAction(Strict):
    """Remove one worktree (folder, git registration, workflow branch)."""

    name: str = Field(min_length=1)
    force: bool = False


class NoArguments(Strict):
    """An action without arguments: write ``{}``."""


class LogAction(Strict):
    """Log one record through the workflow logger (the runbook's logging example)."""

    message: str = Field(min_length=1)
    workflow_id: str | None = None
    step_id: str | None = None
    agent: str | None = None
    trace_id: str | None = None
    level: Literal["debug", "info", "warning", "error"] = "info"
    fields: dict[str, str | int | float | bool] = Field(default_factory=dict)


def _command(value: Any) -> Any:
    if isinstance(value, str):
        import shlex

        return shlex.split(value)
    return value


Command = Annotated[
    list[str],
    BeforeValidator(_command),
    Field(min_length=1),
    WithJsonSchema(
        {
            "description": "tapps arguments, as a string or a list: 'dlq list --json'",
            "anyOf": [
                {"type": "string", "pattern": "\\S"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1},
            ],
        }
    ),
]

ACTIONS: dict[str, Any] = {
    "run": _shorthand(RunAction, "workflow"),
    "resume": _shorthand(ResumeAction, "workflow"),
    "retry_step": StepAction,
    "skip_step": StepAction,
    "reset": _shorthand(ResetAction, "workflow"),
    "force_cleanup": _shorthand(ForceCleanupAction, "workflow"),
    "status": _shorthand(StatusAction, "workflow"),
    "dlq_retry": _shorthand(DlqRetryAction, "category"),
    "dlq_skip": StepAction,
    "cleanup": CleanupAction,
    "cache_invalidate": InvalidateAction,
    "cache_verify": NoArguments,
    "cache_recover": NoArguments,
    "cache_warm": WarmAction,
    "cache_clear_tiered": NoArguments,
    "cache_clear_profile": NoArguments,
    "worktree_list": NoArguments,
    "worktree_remove": WorktreeRemoveAction,
    "worktree_prune": NoArguments,
    "advance": Duration,
    "log": LogAction,
    "command": Command,
}


# -- then ----------------------------------------------------------------------------------------


class Bounds(Strict):
    """A duration within bounds, for what varies (jitter): ``{at_least: 5s, at_most: 10m}``;
    either bound may be left out. Both bounds are included."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra={"minProperties": 1}
    )

    at_least: Duration | None = None
    at_most: Duration | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.at_least is None and self.at_most is None:
            message = "give at_least, at_most or both"
            raise ValueError(message)
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            message = "at_least is more than at_most: nothing can be within these bounds"
            raise ValueError(message)
        return self

    def holds(self, seconds: float) -> bool:
        """Whether ``seconds`` is within the bounds (to the millisecond)."""
        value = round(seconds, 3)
        low = self.at_least is None or value >= round(self.at_least, 3)
        return low and (self.at_most is None or value <= round(self.at_most, 3))


def _exact_or_bounds(value: Any) -> str:
    return "Bounds" if isinstance(value, dict | Bounds) else "Duration"


#: A duration in ``then``: exact (``915s``) or within bounds (``{at_most: 10m}``). A mapping is
#: read as bounds, anything else as a duration, so an error speaks of the form written.
Expected = Annotated[
    Annotated[Duration, Tag("Duration")] | Annotated[Bounds, Tag("Bounds")],
    Discriminator(_exact_or_bounds),
]


class ErrorExpectation(StepErrorSpec):
    """Parts of a recorded error envelope, with its details and correlation IDs (the
    runbook's "review error envelopes: ... correlation IDs"); ``details`` is compared whole,
    its values any JSON (an agent's details the executor kept as written)."""

    details: dict[str, JsonValue] | None = None
    workflow_id: str | None = None
    step_id: str | None = None
    agent: str | None = None
    trace_id: str | None = None


class StepExpectation(Strict):
    """What a step's record must show."""

    status: StepStatus | None = None
    attempts: int | None = Field(default=None, ge=0)
    delays: list[Expected] | None = None
    error: Category | ErrorExpectation | None = None


class WorkflowExpectation(Strict):
    """What a workflow's state must show."""

    status: WorkflowStatus | None = None
    steps: dict[str, StepExpectation] = Field(default_factory=dict)
    error: Category | ErrorExpectation | None = Field(
        default=None,
        description="the workflow's own error envelope (a workflow timeout, for one)",
    )


class DlqExpectation(Strict):
    """One dead-letter entry: a step whose newest execution failed."""

    step_id: str = Field(min_length=1)
    workflow_id: str | None = None
    category: Category | None = None
    recoverable: bool | None = None
    code: str | None = None


class LogRecordExpectation(BaseModel):
    """A record that must (or must not) have been logged: its message and fields."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    message: str | None = None
    level: str | None = None


class LogsExpectation(Strict):
    """Log records of the scenario's actions."""

    every_record_has: list[str] = Field(default_factory=list)
    records: list[LogRecordExpectation] = Field(default_factory=list)
    no_records: list[LogRecordExpectation] = Field(default_factory=list)


class DiagnosisExpectation(Strict):
    """The verdict of the last ``status`` action."""

    stuck: bool | None = None
    reasons_contain: list[str] = Field(default_factory=list)


class WorktreeExpectation(Strict):
    """A row of the last ``worktree_list``."""

    status: Literal["completed", "failed", "active", "stuck", "orphan"] | None = None
    registered: bool | None = None
    locked: bool | None = None
    dirty: bool | None = None
    workflow: str | None = None


class Then(Strict):
    """What must hold after the actions."""

    present: list[Path_] = Field(default_factory=list)
    absent: list[Path_] = Field(default_factory=list)
    unchanged: bool | None = Field(
        default=None, description="true: the tree is byte-for-byte as given (content and mtimes)"
    )
    status: WorkflowStatus | None = Field(
        default=None, description="status of the scenario's workflow"
    )
    steps: dict[str, StepExpectation] = Field(default_factory=dict)
    error: Category | ErrorExpectation | None = Field(
        default=None,
        description="the error envelope of the scenario's workflow itself (a workflow timeout)",
    )
    workflows: dict[str, WorkflowExpectation] = Field(default_factory=dict)
    elapsed: Expected | None = None
    dlq: list[DlqExpectation] | None = None
    locks: dict[str, Literal["present", "absent"]] = Field(default_factory=dict)
    logs: LogsExpectation | None = None
    plan: dict[Path_, str] = Field(
        default_factory=dict, description="path: decision of the last cleanup ('keep: too new')"
    )
    corrupted: dict[str, str] | None = Field(
        default=None, description="library id: reason (substring) from the last cache_verify"
    )
    worktrees: dict[str, WorktreeExpectation] = Field(default_factory=dict)
    diagnosis: DiagnosisExpectation | None = None
    exit_code: int | None = None
    output_contains: list[str] = Field(default_factory=list)
    output_lacks: list[str] = Field(default_factory=list)


# -- the scenario --------------------------------------------------------------------------------


def _tagged_union(items: dict[str, Any], what: str) -> Any:
    members = tuple(_single(name, spec) for name, spec in items.items())
    return Annotated[
        _union(members),
        Discriminator(
            _one_key,
            custom_error_type=f"{what}_shape",
            custom_error_message=(
                f"write each {what} as a one-key mapping, e.g. '- {next(iter(items))}: ...'"
            ),
        ),
    ]


def _union(members: tuple[Any, ...]) -> Any:
    from typing import Union

    return Union[members]  # noqa: UP007 -- built from a tuple at runtime


Fault = _tagged_union(FAULTS, "fault")

WorkflowId = WorkflowName
#: Actions the harness performs itself (like ``advance``): the world changing mid-scenario.
HARNESS_ACTIONS: dict[str, Any] = {
    "hold_lock": WorkflowId,  # a live executor takes the workflow's lock
    "release_lock": WorkflowId,  # that executor dies: its lock file stays behind, stale
    "inject": Fault,  # a tree fault, now (crash_during_write, corrupt_cache_entry, ...)
}
ACTIONS.update(HARNESS_ACTIONS)
Action = _tagged_union(ACTIONS, "action")

FS = Literal["real", "fake"]
LayoutName = Literal["runbook", "tapps-agents-3.7"]
Requirement = Literal["git", "root", "non-root"]


#: A row of ``examples:``: column -> the value that fills ``<column>`` (any YAML value).
ExampleRow = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
            "description": (
                "column: value; the column 'id' names the row in its test id "
                "(else the values joined by '-')"
            ),
        }
    ),
]


class Scenario(Strict):
    """One scenario: a tree, faults, actions and what must hold afterwards."""

    name: str = Field(min_length=1)
    description: str | None = None
    runbook: str | list[str] = Field(
        description=(
            "the runbook procedure(s) exercised, e.g. "
            "'Retry/Timeout Handling > Manual Retry Procedures > Resume Workflow'"
        )
    )
    now: Moment | None = None
    fs: FS = "real"
    agents: Literal["sync", "async"] = Field(
        default="sync",
        description=(
            "how the steps' agents are called: sync (a plain call), or async (the runbook's "
            "`result = await agent.run(...)`: the executor awaits each step, and a timeout or "
            "a hang is an awaited sleep its timeout ends)"
        ),
    )
    layout: LayoutName | None = Field(
        default=None,
        description=(
            "the on-disk layout the given tree is written in: runbook, or tapps-agents-3.7 (the "
            "real package's); default: the target's own"
        ),
    )
    requires: list[Requirement] = Field(default_factory=list)
    marks: list[str] = Field(default_factory=list)
    given: Given = Field(default_factory=Given)
    faults: list[Fault] = Field(default_factory=list)  # type: ignore[valid-type]
    when: list[Action] = Field(default_factory=list)  # type: ignore[valid-type]
    then: Then = Field(default_factory=Then)
    examples: list[ExampleRow] = Field(
        default_factory=list,
        min_length=1,
        description=(
            "one scenario over a table of values: each row makes one scenario, NAME[ID], with "
            "every <column> in the other keys filled with the row's value"
        ),
    )

    @property
    def references(self) -> list[str]:
        return [self.runbook] if isinstance(self.runbook, str) else list(self.runbook)


class ScenarioFile(Strict):
    """A file of several scenarios sharing defaults and included fragments."""

    include: list[str] = Field(default_factory=list)
    defaults: dict[str, Any] = Field(default_factory=dict)
    scenarios: list[dict[str, Any]] = Field(min_length=1)


def action_name(action: BaseModel) -> str:
    """The key an action or fault item was written with (``run``, ``step_timeout``)."""
    return next(iter(type(action).model_fields))


def action_value(action: BaseModel) -> Any:
    return getattr(action, action_name(action))
