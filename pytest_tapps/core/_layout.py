"""Where everything lives under a project's ``.tapps-agents/`` folder.

One :class:`LayoutProfile` describes each on-disk layout (the runbook's, and the real
tapps-agents 3.7 package's); :class:`Layout` binds a profile to a project root. Every place where
a user-supplied name (workflow id, worktree name, library id) becomes a path goes through
:func:`safe_name`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from pytest_tapps.core._errors import UnsafeNameError
from pytest_tapps.core._shown import quoted

_DRIVE = re.compile(r"^[A-Za-z]:")
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")
_DOTS = re.compile(r"\.{2,}")
_MAX_NAME = 80
#: What :func:`safe_name` accepts, as a regular expression that Python's ``re.search`` and
#: JavaScript read alike (for the scenario format's JSON Schema, so editors refuse what the
#: loader refuses): not a drive prefix, not ``.``, no ``..``, no ``/``, ``\\`` or NUL.
SAFE_NAME_PATTERN = r"^(?![A-Za-z]:)(?!\.(?![\s\S]))(?![\s\S]*\.\.)[^/\\\x00]+$"


def safe_name(name: str, *, what: str = "name") -> str:
    """Return ``name`` unchanged if it is safe as one path component, else raise.

    Refused: empty, ``.``, anything containing ``/``, ``\\``, ``..`` or NUL, and absolute paths
    (including Windows drive prefixes such as ``C:``). ``what`` names the thing in the message
    ("worktree name", "library id").
    """
    problem = None
    if not isinstance(name, str):
        problem = f"must be a string, not {type(name).__name__}"
    elif name in ("", "."):
        problem = "must not be empty or '.'"
    elif "\0" in name:
        problem = "must not contain a NUL byte"
    elif name.startswith(("/", "\\")) or _DRIVE.match(name):
        problem = "must not be an absolute path"
    elif "/" in name or "\\" in name:
        problem = "must not contain '/' or '\\' (it names one folder or file, not a path)"
    elif ".." in name:
        problem = "must not contain '..'"
    if problem is not None:
        message = f"{what} {quoted(name) if isinstance(name, str) else repr(name)} {problem}"
        raise UnsafeNameError(message)
    return name


class LayoutProfile(NamedTuple):
    """Relative locations of one on-disk layout. Paths are relative to ``.tapps-agents/``
    unless the field name says ``project``."""

    name: str
    state_dir: str
    current_state: str | None
    history_dir: str
    backups_dir: str
    worktrees_dir: str
    context7_cache_dir: str
    tiered_cache_dir: str | None
    project_profile: str
    analytics_history_dir: str
    application_logs_dir: str
    structured_logs_dir: str
    debug_logs_dir: str
    workflow_artifacts_dir: str
    test_results_dir: str
    documentation_artifacts_dir: str
    performance_metrics_dir: str
    confidence_metrics_dir: str
    project_quality_reports_dir: str
    #: How workflow states are written: ``runbook`` (``current_state.json`` and
    #: ``history/<id>.json``) or ``tapps-agents-3.7`` (timestamped saves with a ``_checksum``, a
    #: ``<id>.meta.json`` pointer, a history copy and ``last.json``).
    state_format: str = "runbook"
    #: How a Context7 entry is stored: ``meta.json`` (documents plus a hash list) or ``kb``
    #: (the real package's ``<topic>.md`` files with ``meta.yaml``).
    context7_format: str = "meta.json"
    #: The name of a worktree a workflow step makes (``{workflow}``, ``{step}``); with
    #: ``worktree_digest`` the first 8 hex digits of that name's SHA-256 are appended (the real
    #: package's rule); and the branch made with it (``{name}``).
    worktree_name: str = "{workflow}-{step}"
    worktree_digest: bool = False
    worktree_branch: str = "workflow/{name}"
    #: The name of an analytics history file (``{kind}``: agents or workflows; ``{date}``).
    analytics_file: str = "{kind}-{date}.jsonl"
    #: Whether a running workflow holds a ``workflow-state/<id>.lock`` file.
    workflow_locks: bool = True


#: The fields of a profile that name a place (relative to ``.tapps-agents/``).
_PLACES = (
    "current_state",
    "state_dir",
    "history_dir",
    "backups_dir",
    "worktrees_dir",
    "context7_cache_dir",
    "tiered_cache_dir",
    "project_profile",
    "analytics_history_dir",
    "application_logs_dir",
    "structured_logs_dir",
    "debug_logs_dir",
    "workflow_artifacts_dir",
    "test_results_dir",
    "documentation_artifacts_dir",
    "performance_metrics_dir",
    "confidence_metrics_dir",
)


def translate(path: str, source: LayoutProfile, target: LayoutProfile) -> str:
    """``path`` (from the project root) in ``source``'s layout, as the same place in
    ``target``'s: the longest place of ``source`` it lies in is swapped for ``target``'s (the
    runbook's ``context7/cache/react/docs.md`` is ``kb/context7-cache/libraries/react/docs.md``
    in tapps-agents 3.7's), and so is the folder holding such a place when both layouts nest it
    (``context7/x`` is ``kb/context7-cache/x``). A path in no place of ``source``, or in one
    ``target`` lacks, is returned as it is."""
    prefix = ".tapps-agents/"
    if source == target or not path.startswith(prefix):
        return path
    rest = path[len(prefix) :]
    pairs: list[tuple[str, str]] = []
    for name in _PLACES:
        mine, theirs = getattr(source, name), getattr(target, name)
        if mine is None or theirs is None or mine == theirs:
            continue
        pairs.append((mine, theirs))
        parent, their_parent = mine.rpartition("/")[0], theirs.rpartition("/")[0]
        if parent and their_parent and parent != their_parent:
            pairs.append((parent, their_parent))
    for mine, theirs in sorted(pairs, key=lambda pair: -len(pair[0])):
        if rest == mine or rest.startswith(mine + "/"):
            return prefix + theirs + rest[len(mine) :]
    return path


RUNBOOK = LayoutProfile(
    name="runbook",
    state_dir="workflow-state",
    current_state="workflow-state/current_state.json",
    history_dir="workflow-state/history",
    backups_dir="workflow-state/backups",
    worktrees_dir="worktrees",
    context7_cache_dir="context7/cache",
    tiered_cache_dir="cache/tiered-context",
    project_profile="project-profile.yaml",
    analytics_history_dir="analytics/history",
    application_logs_dir="logs/application",
    structured_logs_dir="logs/structured",
    debug_logs_dir="logs/debug",
    workflow_artifacts_dir="artifacts/workflows",
    test_results_dir="artifacts/test-results",
    documentation_artifacts_dir="artifacts/documentation",
    performance_metrics_dir="metrics/performance",
    confidence_metrics_dir="metrics/confidence",
    project_quality_reports_dir="reports/quality",
)

TAPPS_AGENTS_3_7 = LayoutProfile(
    name="tapps-agents-3.7",
    state_dir="workflow-state",
    current_state=None,  # the real package points at its newest state through last.json
    history_dir="workflow-state/history",
    backups_dir="workflow-state/backups",
    worktrees_dir="worktrees",
    context7_cache_dir="kb/context7-cache/libraries",
    tiered_cache_dir=None,  # in memory only in the real package
    project_profile="project-profile.yaml",
    analytics_history_dir="analytics/history",
    application_logs_dir="logs",
    structured_logs_dir="logs",
    debug_logs_dir="logs",
    workflow_artifacts_dir="artifacts",
    test_results_dir="artifacts/test-results",
    documentation_artifacts_dir="artifacts/documentation",
    performance_metrics_dir="metrics",
    confidence_metrics_dir="metrics",
    project_quality_reports_dir="reports/quality",
    state_format="tapps-agents-3.7",
    context7_format="kb",
    worktree_name="workflow-{workflow}-step-{step}",
    worktree_digest=True,
    workflow_locks=False,
)

PROFILES = {profile.name: profile for profile in (RUNBOOK, TAPPS_AGENTS_3_7)}


class Layout:
    """Every path of a project's ``.tapps-agents/`` tree, for one layout profile. Immutable;
    equal to a layout of the same root and profile.

    (Records on the cleanup path are plain classes and named tuples, not dataclasses: importing
    ``dataclasses`` loads ``inspect``, about 7 ms of every ``tapps`` command's start.)"""

    __slots__ = ("_profile", "_root")

    def __init__(
        self, project_root: str | os.PathLike[str], profile: LayoutProfile = RUNBOOK
    ) -> None:
        self._root = Path(project_root)
        self._profile = profile

    @property
    def project_root(self) -> Path:
        return self._root

    @property
    def profile(self) -> LayoutProfile:
        return self._profile

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Layout):
            return NotImplemented
        return (self._root, self._profile) == (other._root, other._profile)

    def __hash__(self) -> int:
        return hash((self._root, self._profile))

    def __repr__(self) -> str:
        """Names a built-in profile (``profile=<runbook>``); shows any other one whole."""
        profile = self._profile
        shown = f"<{profile.name}>" if PROFILES.get(profile.name) == profile else repr(profile)
        return f"Layout(project_root={self._root!r}, profile={shown})"

    def _in(self, relative: str) -> Path:
        return self.tapps_dir / relative

    @property
    def tapps_dir(self) -> Path:
        return self.project_root / ".tapps-agents"

    @property
    def config_file(self) -> Path:
        return self.tapps_dir / "config.yaml"

    @property
    def state_dir(self) -> Path:
        return self._in(self.profile.state_dir)

    @property
    def current_state_file(self) -> Path | None:
        current = self.profile.current_state
        return None if current is None else self._in(current)

    @property
    def history_dir(self) -> Path:
        return self._in(self.profile.history_dir)

    def history_file(self, workflow_id: str) -> Path:
        return self.history_dir / f"{safe_name(workflow_id, what='workflow id')}.json"

    @property
    def backups_dir(self) -> Path:
        return self._in(self.profile.backups_dir)

    def lock_file(self, workflow_id: str) -> Path:
        return self.state_dir / f"{safe_name(workflow_id, what='workflow id')}.lock"

    @property
    def worktrees_dir(self) -> Path:
        return self._in(self.profile.worktrees_dir)

    def worktree(self, name: str) -> Path:
        return self.worktrees_dir / safe_name(name, what="worktree name")

    def worktree_name(self, workflow_id: str, step_id: str) -> str:
        """The folder name this layout gives the worktree of ``step_id`` of ``workflow_id``,
        made safe as the real package does: runs of characters outside ``[A-Za-z0-9._-]``
        become one ``-``, and a name over 80 characters is cut to 69 plus ``-`` and 10 hex
        digits of its SHA-256 (also ``..`` becomes ``.``: it never names a parent folder)."""
        import hashlib  # here: most commands never name a worktree, and it costs ~3 ms to load

        raw = self.profile.worktree_name.format(workflow=workflow_id, step=step_id)
        if self.profile.worktree_digest:
            raw = f"{raw}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"
        name = _DASHES.sub("-", _UNSAFE_IN_NAME.sub("-", raw.strip())).strip("-")
        name = _DOTS.sub(".", name) or "worktree"
        if len(name) > _MAX_NAME:
            name = f"{name[: _MAX_NAME - 11]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
        return safe_name(name, what="worktree name")

    def worktree_branch(self, name: str) -> str:
        """The branch this layout makes with worktree ``name``."""
        return self.profile.worktree_branch.format(name=name)

    def analytics_file(self, kind: str, day: str) -> Path:
        """An analytics history file: ``kind`` (agents, workflows) of ``day`` (YYYY-MM-DD)."""
        name = self.profile.analytics_file.format(kind=kind, date=day)
        return self.analytics_history_dir / safe_name(name, what="analytics file name")

    @property
    def context7_cache_dir(self) -> Path:
        return self._in(self.profile.context7_cache_dir)

    def context7_entry(self, library_id: str) -> Path:
        return self.context7_cache_dir / safe_name(library_id, what="library id")

    @property
    def tiered_cache_dir(self) -> Path | None:
        tiered = self.profile.tiered_cache_dir
        return None if tiered is None else self._in(tiered)

    @property
    def project_profile(self) -> Path:
        return self._in(self.profile.project_profile)

    @property
    def analytics_history_dir(self) -> Path:
        return self._in(self.profile.analytics_history_dir)

    @property
    def application_logs_dir(self) -> Path:
        return self._in(self.profile.application_logs_dir)

    @property
    def structured_logs_dir(self) -> Path:
        return self._in(self.profile.structured_logs_dir)

    @property
    def debug_logs_dir(self) -> Path:
        return self._in(self.profile.debug_logs_dir)

    @property
    def workflow_artifacts_dir(self) -> Path:
        return self._in(self.profile.workflow_artifacts_dir)

    @property
    def test_results_dir(self) -> Path:
        return self._in(self.profile.test_results_dir)

    @property
    def documentation_artifacts_dir(self) -> Path:
        return self._in(self.profile.documentation_artifacts_dir)

    @property
    def performance_metrics_dir(self) -> Path:
        return self._in(self.profile.performance_metrics_dir)

    @property
    def confidence_metrics_dir(self) -> Path:
        return self._in(self.profile.confidence_metrics_dir)

    @property
    def quality_reports_dir(self) -> Path:
        return self.project_root / self.profile.project_quality_reports_dir
