"""Worktrees under ``.tapps-agents/worktrees/``: what they belong to, and removing them safely.

A worktree's status comes from the workflow state that records it (``step_executions[].worktree``):

- ``completed``: its workflow completed: removed at once by retention;
- ``failed``: its workflow failed or is paused: kept 7 days (by the newest file inside);
- ``active`` / ``stuck``: its workflow is running (stuck: see :func:`diagnose`): never removed
  automatically, only listed;
- ``orphan``: no workflow state records it: kept 7 days;
- ``unknown``: a workflow state file that cannot be read may record it (see
  :func:`unreadable_owners`): never removed automatically, reported as
  ``owner state unreadable: FILE`` (its retention category is the one the readable states give).

A branch is deleted with its worktree only when it was made for the workflow, which is known by its
name: ``workflow/<worktree name>``, the convention the real tapps-agents package uses (and the
harness's fabricator follows). Any other branch is the user's and is kept.
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock
from pytest_tapps.core._durations import DEFAULT_STUCK_SECONDS
from pytest_tapps.core._errors import StateFileError, TappsError
from pytest_tapps.core._git import (
    GitError,
    GitWorktree,
    delete_branch,
    is_dirty,
    is_repository,
    list_worktrees,
    prune,
    remove_worktree,
)
from pytest_tapps.core._layout import TAPPS_AGENTS_3_7, Layout, safe_name
from pytest_tapps.core._proclocks import locked_inodes
from pytest_tapps.core._record import Record
from pytest_tapps.core._safedelete import (
    Removal,
    Walked,
    is_tombstone,
    remove_path,
    resolves_inside,
    walk_at,
    walk_stats,
)
from pytest_tapps.core._shown import quoted

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import TypeAlias

    # Loaded only when a workflow state exists: pydantic is not cheap to import.
    from pytest_tapps.core._state import WorkflowState

    #: Locked inodes as ``(st_dev, st_ino)``; None where ``/proc/locks`` cannot be read.
    Locks: TypeAlias = set[tuple[int, int]] | None


#: The start of the reason a worktree that an unreadable state may own is skipped for.
OWNER_UNREADABLE = "owner state unreadable"


class WorktreeRefused(TappsError):
    """A worktree removal that needs ``--force`` (or is never allowed)."""


class WorktreeNotFound(WorktreeRefused):
    """No worktree of the name given: bad input (the command line exits 2)."""

    exit_code = 2


class WorktreeInfo(Record):
    """Everything ``tapps worktree list`` shows about one worktree: what its folder and the
    workflow states say (given when made), and what git says (set by :func:`inventory`)."""

    __slots__ = (
        "branch",
        "category",
        "completed_at",
        "dirty",
        "evidence",
        "exists",
        "file_locked",
        "git_locked",
        "is_symlink",
        "location",
        "lock_reason",
        "mounts",
        "name",
        "newest_mtime",
        "owner_unreadable",
        "prunable",
        "registered",
        "size",
        "status",
        "step_id",
        "unreadable",
        "workflow_id",
    )

    def __init__(
        self,
        name: str,
        location: str,
        status: str,
        *,
        workflow_id: str | None = None,
        step_id: str | None = None,
        newest_mtime: float | None = None,
        completed_at: float | None = None,
        size: int = 0,
        exists: bool = True,
        is_symlink: bool = False,
        file_locked: bool = False,
        mounts: bool = False,
        unreadable: tuple[str, str] | None = None,
        evidence: list[str] | None = None,
    ) -> None:
        self.name, self.location, self.status = name, location, status
        self.workflow_id, self.step_id = workflow_id, step_id
        self.newest_mtime, self.completed_at, self.size = newest_mtime, completed_at, size
        self.exists, self.is_symlink, self.file_locked = exists, is_symlink, file_locked
        self.mounts = mounts  # a folder inside is another filesystem's mount point
        #: The first part that could not be read (path inside the worktree, error), if any.
        self.unreadable = unreadable
        self.evidence = [] if evidence is None else evidence
        #: Its retention category, from the status the readable states give.
        self.category = f"{status}_worktrees"
        #: ``owner state unreadable: FILE`` when a state that cannot be read may record it.
        self.owner_unreadable: str | None = None
        self.registered = self.git_locked = self.prunable = False
        self.lock_reason = ""
        self.dirty: bool | None = None
        self.branch: str | None = None

    @property
    def path(self) -> Path:
        """Its folder (``location``, its path as a string, is what an inventory keeps: a
        ``Path`` per worktree costs more than the rest of a worktree's inventory)."""
        return Path(self.location)

    @property
    def timestamp(self) -> float | None:
        """The time the worktree is aged by: its newest file, or a later recorded completion."""
        stamps = [t for t in (self.newest_mtime, self.completed_at) if t is not None]
        return max(stamps) if stamps else None

    def made_for_workflow(self, layout: Layout) -> bool:
        """Whether its branch is the one the layout makes with a workflow's worktree."""
        return self.branch == layout.worktree_branch(self.name)


def _named_ids(layout: Layout, path: Path, seen: dict[str, WorkflowState]) -> set[str]:
    """The workflow ids a state file's name may give: none for the current state file; in the
    real package's layout the id before a save time (``<id>-YYYYmmdd-HHMMSS.json``), else the
    name and, for ``workflow-<id>.json``, the id after ``workflow-``. Read through the runbook's
    layout, a file is ``<id>.json``, or a save of the real package's: ``<id>-YYYYmmdd-HHMMSS``
    of a workflow ``seen`` read in that package's format."""
    from pytest_tapps.core._state import source_format
    from pytest_tapps.core._store import save_id

    if path == layout.current_state_file:
        return set()
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    saved = save_id(path)
    if layout.profile.state_format != "tapps-agents-3.7":
        real_save = saved is not None and saved in seen and source_format(seen[saved]) is not None
        return {saved} if real_save and saved is not None else {stem}
    if saved is not None:
        return {saved}
    return {stem, stem.removeprefix("workflow-")}


def unreadable_owners(
    layout: Layout,
) -> tuple[dict[str, tuple[WorkflowState, str, float | None]], list[StateFileError]]:
    """What the workflow states say about worktrees: worktree name -> (state, step id,
    completion time) from every readable state, and the unreadable states that may own any
    worktree.

    A state names its worktrees by its steps' ``worktree`` field, which may name any folder, so
    a state that cannot be read may own every worktree. The one exception: a file whose name
    says which workflow it holds (``history/<id>.json``) when a readable state of that workflow
    was found first, as the current one; that file is an older copy, which would not count if
    it could be read. A state folder that cannot be listed may hide any state: it is one
    unreadable owner too."""
    found: dict[str, tuple[WorkflowState, str, float | None]] = {}
    unreadable: list[StateFileError] = []
    if not layout.state_dir.is_dir():
        return found, unreadable
    from pytest_tapps.core._store import StateStore

    for folder in (layout.state_dir, layout.history_dir):
        try:
            if folder.is_dir():
                with os.scandir(folder):  # pathlib's glob passes over a folder it cannot list
                    pass
        except OSError as exc:
            reason = f"cannot list the folder ({exc.strerror or exc}); any state may be there"
            unreadable.append(StateFileError(folder, reason))
    seen: dict[str, WorkflowState] = {}
    try:
        for path, state in StateStore(layout).iter_states():
            if isinstance(state, StateFileError):
                named = _named_ids(layout, path, seen)
                if not named or not named <= seen.keys():
                    unreadable.append(state)
                continue
            seen[state.workflow_id] = state
            for execution in state.step_executions:
                if execution.worktree and execution.worktree not in found:
                    done = execution.completed_at.timestamp() if execution.completed_at else None
                    found[execution.worktree] = (state, execution.step_id, done)
    except OSError as exc:
        reason = f"cannot list the state files ({exc.strerror or exc})"
        unreadable.append(StateFileError(layout.state_dir, reason))
    if seen:
        for name, owner in _named_by_real_rule(layout, seen.values()).items():
            found.setdefault(name, owner)
    return found, unreadable


def _named_by_real_rule(
    layout: Layout, states: Iterable[WorkflowState]
) -> dict[str, tuple[WorkflowState, str, float | None]]:
    """The worktrees the real package names for the steps of its unfinished workflows.

    Its states record no worktree; it names a step's worktree by rule
    (``workflow-<wf>-step-<step>-<8 hex>``). A folder of that name is taken as the step's only
    to keep it (its workflow may be running): a completed workflow's are left to the orphan rule,
    never removed early on a name alone."""
    from pytest_tapps.core._state import WorkflowStatus, source_format

    real = Layout(layout.project_root, TAPPS_AGENTS_3_7)
    named: dict[str, tuple[WorkflowState, str, float | None]] = {}
    for state in states:
        if source_format(state) is None or state.status is WorkflowStatus.COMPLETED:
            continue
        steps = [execution.step_id for execution in state.step_executions]
        for step_id in dict.fromkeys([*steps, state.current_step]):
            if step_id:
                name = real.worktree_name(state.workflow_id, step_id)
                named.setdefault(name, (state, step_id, None))
    return named


def owner_unreadable_reason(unreadable: list[StateFileError]) -> str:
    """``owner state unreadable: FILE`` (``(and N more)`` when there are several)."""
    first, more = unreadable[0], len(unreadable) - 1
    return f"{OWNER_UNREADABLE}: {first.path}" + (f" (and {more} more)" if more else "")


def _status(
    layout: Layout, state: WorkflowState | None, clock: Clock, stuck_after: float
) -> tuple[str, list[str]]:
    if state is None:
        return "orphan", ["no workflow state records this worktree"]
    from pytest_tapps.core._recovery import diagnose
    from pytest_tapps.core._state import WorkflowStatus

    if state.status is WorkflowStatus.COMPLETED:
        return "completed", [f"workflow {state.workflow_id} completed"]
    if state.status is WorkflowStatus.RUNNING:
        try:
            diagnosis = diagnose(
                layout, state.workflow_id, clock=clock, threshold_seconds=stuck_after
            )
        except TappsError:
            return "stuck", [f"workflow {state.workflow_id} is running; its state is unreadable"]
        if diagnosis.stuck:
            return "stuck", list(diagnosis.reasons)
        return "active", [f"workflow {state.workflow_id} is running"]
    return "failed", [f"workflow {state.workflow_id} is {state.status.value}"]


def _git_entries(layout: Layout) -> dict[str, GitWorktree]:
    """Registered git worktrees under the worktrees folder, by folder name."""
    root = layout.project_root
    if not is_repository(root):
        return {}
    try:
        entries = list_worktrees(root)
    except GitError:
        return {}
    base = Path(os.path.realpath(layout.worktrees_dir))
    return {entry.path.name: entry for entry in entries if entry.path.parent == base}


def _measure(
    location: str, device: int, locks: set[tuple[int, int]] | None, *, walk: bool = True
) -> _Measured:
    """What the folder at ``location`` holds: one ``lstat``, then a walk if it is a folder (and
    ``walk``; otherwise a folder is left unmeasured, ``newest=None``, for a caller to measure)."""
    try:
        st = os.lstat(location)
    except FileNotFoundError:
        return _Measured(exists=False)
    except OSError as exc:  # the worktrees folder cannot be searched: nothing is known
        return _Measured(newest=None, unreadable=("", exc.strerror or str(exc)))
    if not stat.S_ISDIR(st.st_mode):
        return _Measured(is_symlink=stat.S_ISLNK(st.st_mode), newest=st.st_mtime)
    if not walk:
        return _Measured(newest=None)
    stats = walk_stats(location, device, locks)
    newest = stats.newest_mtime if stats.newest_mtime is not None else st.st_mtime
    return _Measured(
        newest=newest,
        size=stats.size,
        locked=stats.locked,
        unreadable=stats.unreadable,
        mounts=stats.mounts,
    )


def measure_into(info: WorktreeInfo, device: int, locks: set[tuple[int, int]] | None) -> None:
    """Walk an unmeasured worktree folder and fill in its newest time, size and lock state."""
    found = _measure(info.location, device, locks)
    info.newest_mtime, info.size, info.file_locked = found.newest, found.size, found.locked
    info.mounts, info.unreadable = found.mounts, found.unreadable


def walk_into(
    info: WorktreeInfo, folder_fd: int, device: int, locks: set[tuple[int, int]] | None
) -> Walked | None:
    """:func:`measure_into` through descriptors (``folder_fd`` is the worktrees folder): the
    walk stays open for :func:`remove_walked`. None, and nothing filled in, when the worktree
    is not a plain folder on ``device`` now (then :func:`measure_into` tells what it is)."""
    walked = walk_at(folder_fd, info.name, device, locks)
    if walked is not None:
        newest = walked.newest_mtime
        info.newest_mtime = newest if newest is not None else walked.st.st_mtime
        info.size, info.file_locked, info.unreadable = walked.size, walked.locked, walked.unreadable
        info.mounts = walked.mounts
    return walked


class _Measured(NamedTuple):
    exists: bool = True
    is_symlink: bool = False
    newest: float | None = None
    size: int = 0
    locked: bool = False
    unreadable: tuple[str, str] | None = None
    mounts: bool = False


_UNMEASURED = _Measured()  # a folder not walked yet


def inventory(
    layout: Layout,
    *,
    clock: Clock = SYSTEM_CLOCK,
    stuck_after: float = DEFAULT_STUCK_SECONDS,
    measure: bool = True,
    locks: Locks | Callable[[], Locks] = locked_inodes,
) -> list[WorktreeInfo]:
    """Every worktree folder (and every registered worktree whose folder is gone), by name.

    ``locks`` are the locked inodes when the caller has read them (``/proc/locks`` can take
    milliseconds to read), or a function that reads them, called only if a folder is walked
    (by default they are read here then)."""
    folder = layout.worktrees_dir
    refs, unreadable = unreadable_owners(layout)
    git = _git_entries(layout)
    if callable(locks):
        locks = locks() if measure or git else None  # nothing is walked: None is never used
    names: set[str] = set(git)
    folders: set[str] = set()  # listed as folders: unmeasured, they need no lstat here
    if folder.is_dir() and not folder.is_symlink():
        with os.scandir(folder) as listing:
            for listed in listing:
                if not is_tombstone(listed):  # an unfinished deletion: cleanup's
                    names.add(listed.name)
                    if not measure and listed.is_dir(follow_symlinks=False):
                        folders.add(listed.name)
    device = folder.stat().st_dev if folder.is_dir() else 0
    ordered = sorted(names)
    prefix = os.fspath(folder) + os.sep
    walk = functools.partial(_measure, device=device, locks=locks, walk=measure)
    measured = [_UNMEASURED if n in folders else walk(prefix + n) for n in ordered]
    infos: dict[str, WorktreeInfo] = {}
    for name, shallow in zip(ordered, measured, strict=True):
        found = shallow
        if found.exists and found.newest is None and not found.is_symlink and name in git:
            found = _measure(prefix + name, device, locks)  # git's worktrees: always measured
        state, step_id, completed_at = refs.get(name, (None, None, None))
        status, evidence = _status(layout, state, clock, stuck_after)
        info = WorktreeInfo(
            name=name,
            location=prefix + name,
            status=status,
            workflow_id=state.workflow_id if state else None,
            step_id=step_id,
            newest_mtime=found.newest,
            completed_at=completed_at,
            size=found.size,
            exists=found.exists,
            is_symlink=found.is_symlink,
            file_locked=found.locked,
            mounts=found.mounts,
            unreadable=found.unreadable,
            evidence=evidence,
        )
        if unreadable and status not in ("active", "stuck"):  # its owner is not known
            info.status, info.owner_unreadable = "unknown", owner_unreadable_reason(unreadable)
            info.evidence = [f"{OWNER_UNREADABLE}: {error}" for error in unreadable] + evidence
        entry = git.get(name)
        if entry is not None:
            info.registered = True
            info.git_locked, info.lock_reason = entry.locked, entry.lock_reason
            info.prunable = entry.prunable or not info.exists
            info.branch = entry.branch
            if info.exists and not info.is_symlink:
                info.dirty = is_dirty(info.path)
        infos[name] = info
    return list(infos.values())


class WorktreeRemoval(Record):
    """What removing one worktree did."""

    __slots__ = (
        "deleted_branch",
        "name",
        "notes",
        "path",
        "removal",
        "removed_folder",
        "unregistered",
    )

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        self.removed_folder = self.unregistered = False
        self.deleted_branch: str | None = None
        self.removal: Removal | None = None
        self.notes: list[str] = []

    @property
    def ok(self) -> bool:
        return self.removal is None or self.removal.ok


def _refusal(name: str, info: WorktreeInfo) -> str | None:
    """Why removing the worktree needs ``--force`` (None: it does not)."""
    if info.status in ("active", "stuck"):
        return (
            f"worktree {quoted(name)} belongs to workflow {info.workflow_id} which is "
            f"{info.status} ({'; '.join(info.evidence)}); pass --force to remove it anyway"
        )
    if info.owner_unreadable is not None:
        return (
            f"worktree {quoted(name)}: {info.owner_unreadable}, so its workflow may still use "
            "it; repair or remove that state file, or pass --force to remove it anyway"
        )
    if info.git_locked:
        reason = f": {info.lock_reason}" if info.lock_reason else ""
        return f"worktree {quoted(name)} is locked by 'git worktree lock'{reason}; pass --force"
    return None


def remove(
    layout: Layout,
    name: str,
    *,
    force: bool = False,
    clock: Clock = SYSTEM_CLOCK,
    info: WorktreeInfo | None = None,
) -> WorktreeRemoval:
    """Remove one worktree: folder, git registration, and its workflow branch.

    An active, stuck, git-locked or unknown-owner worktree needs ``force``. The folder is
    removed without following links; a link in place of a worktree is removed as a link.
    """
    safe_name(name, what="worktree name")
    path = layout.worktree(name)
    if info is None:
        found = {i.name: i for i in inventory(layout, clock=clock)}
        info = found.get(name)
    if info is None:
        message = (
            f"no worktree {quoted(name)} in {layout.worktrees_dir}; 'tapps worktree list' shows "
            "the worktrees there"
        )
        raise WorktreeNotFound(message)
    refusal = None if force else _refusal(name, info)
    if refusal is not None:
        raise WorktreeRefused(refusal)
    if not resolves_inside(path, layout.tapps_dir):
        message = f"{path}: the worktrees folder resolves outside {layout.tapps_dir}; refused"
        raise WorktreeRefused(message)
    result = WorktreeRemoval(name, path)
    repo = layout.project_root
    if info.registered and info.exists and not info.is_symlink:
        try:
            remove_worktree(repo, path, locked=info.git_locked)
            result.unregistered = True
        except GitError as exc:
            result.notes.append(str(exc))
    if path.exists() or path.is_symlink():
        device = layout.worktrees_dir.stat().st_dev
        result.removal = remove_path(path, device=device)
    result.removed_folder = not (path.exists() or path.is_symlink())
    if info.registered:
        try:
            prune(repo)
            result.unregistered = True
        except GitError as exc:
            result.notes.append(str(exc))
        if info.made_for_workflow(layout) and info.branch and delete_branch(repo, info.branch):
            result.deleted_branch = info.branch
    return result
