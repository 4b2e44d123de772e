"""Fabricated ``.tapps-agents/`` trees: what a test sets up before it runs recovery or cleanup.

:class:`TappsProject` builds a project fluently (``project.workflow(...)``,
``project.file("analytics/history/a.jsonl", age="100d")``, ``project.worktree("wt", git=True)``)
or from a declarative mapping (:meth:`TappsProject.build`). Ages set real mtimes relative to the
clock's now. It works on the real filesystem and under pyfakefs; what needs the real one (git,
subprocesses) fails under pyfakefs with a :class:`HarnessError` that says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from pytest_tapps.core import Layout, LayoutProfile, TappsError, VirtualClock, parse_duration

Age = str | float | int | timedelta


#: Categories a fabricated failure is recoverable in unless told otherwise (the runbook's
#: "Recoverable Errors": configuration, external dependency, timeout).
_RECOVERABLE = ("timeout", "external_dependency", "configuration")


class HarnessError(TappsError):
    """The harness could not set up or inject what a test asked for (not a test failure)."""


class NotInLayout(HarnessError):
    """What a test asked for has no place in the project's on-disk layout (a workflow lock file
    or a tiered-cache folder in the real package's): the system under test cannot meet it."""


def age_seconds(age: Age) -> float:
    """Seconds from ``"40d"``, ``3600`` or a ``timedelta`` (negative: in the future)."""
    if isinstance(age, timedelta):
        return age.total_seconds()
    if isinstance(age, str) and age.startswith("-"):
        return -parse_duration(age[1:], field="age")
    if isinstance(age, int | float) and not isinstance(age, bool):
        return float(age)
    return parse_duration(age, field="age")


def _load_core() -> None:
    """Import every module of the core before pyfakefs starts.

    pyfakefs patches the modules already loaded and restores them afterwards, but a module
    first imported while it patches binds its fake ``os`` for good, and is dropped from
    ``sys.modules`` at the end. ``pytest_tapps.core`` keeps the names it loaded lazily, so such
    a module's functions would outlive their fake filesystem: the next ``fs="fake"`` project
    would run them against a dead patcher (an AssertionError inside pyfakefs).

    The names ``pytest_tapps.core`` keeps are bound again to the modules now loaded: a module
    can be dropped from ``sys.modules`` and imported anew (pytester's in-process runs undo the
    imports made inside them), and a name still bound to the dropped module's function would
    escape the patcher, which patches only the modules in ``sys.modules``."""
    import importlib
    import pkgutil

    from pytest_tapps import core

    for module in pkgutil.iter_modules(core.__path__):
        importlib.import_module(f"{core.__name__}.{module.name}")
    kept = vars(core)
    for name, (module_name, attribute) in core._EXPORTS.items():
        if name in kept:
            kept[name] = getattr(importlib.import_module(module_name), attribute)


#: Modules that keep the real filesystem while a fake one is active, as pyfakefs's own pytest
#: plugin arranges when it loads (by adding them to ``Patcher.SKIPMODULES`` for the whole
#: process): pytest's output capture, which ``dup2``s real descriptors around every test phase
#: (``Bad file descriptor`` otherwise), its path helpers, ``py`` and coverage's source reader.
#: With plugin autoloading off that plugin is not loaded; :func:`project` then names them to
#: its own ``Patcher`` (see :func:`_keep_real`).
_REAL_FS_MODULES = ("_pytest.capture", "_pytest.pathlib", "coverage.python", "py", "pytest")


def _keep_real(skipped: Collection[object]) -> list[str]:
    """The modules of :data:`_REAL_FS_MODULES` that are loaded and not ``skipped`` already.

    Naming a module to pyfakefs makes every fake ``os`` call look at its caller's stack (two to
    three times the cost of a test heavy on fake ``os`` calls), so only what is missing is named:
    nothing when pyfakefs's plugin is loaded, nor without pytest. Names, not imports."""
    return [
        name
        for name in _REAL_FS_MODULES
        if (module := sys.modules.get(name)) is not None and module not in skipped
    ]


def layout_profile(layout: str | LayoutProfile) -> LayoutProfile:
    """The layout profile named ``layout`` (``runbook``, ``tapps-agents-3.7``), or ``layout``."""
    from pytest_tapps.core import PROFILES

    if isinstance(layout, LayoutProfile):
        return layout
    try:
        return PROFILES[layout]
    except KeyError:
        names = ", ".join(repr(name) for name in PROFILES)
        message = f"layout={layout!r}: use one of {names}"
        raise HarnessError(message) from None


@contextlib.contextmanager
def project(
    root: Path | str | None = None,
    *,
    fs: str = "real",
    clock: VirtualClock | None = None,
    layout: str | LayoutProfile = "runbook",
) -> Iterator[TappsProject]:
    """A :class:`TappsProject` for the block: in ``root`` (default: a fresh temporary folder) on
    the real filesystem, or under pyfakefs with ``fs="fake"`` (undone on exit). The fake
    filesystem emulates a normal user, even when the tests run as root, so that permissions
    are enforced there. ``layout`` is the on-disk layout the tree is written in: the
    runbook's (default) or the real package's (``tapps-agents-3.7``).

    With ``fs="fake"`` no thread of the core touches the fake filesystem: a ``/proc/locks`` read
    started ahead on a thread (``tapps cleanup`` starts one) is finished and dropped before
    patching, and the core reads on the calling thread while the fake one is active."""
    if fs not in ("real", "fake"):
        message = f"fs={fs!r}: use 'real' or 'fake'"
        raise HarnessError(message)
    profile = layout_profile(layout)
    if fs == "fake":
        from pyfakefs.fake_filesystem_unittest import Patcher

        from pytest_tapps.core._proclocks import drop_ahead

        _load_core()
        drop_ahead()
        skip: list[str | ModuleType] = [*_keep_real(Patcher.SKIPMODULES)]
        with Patcher(additional_skip_names=skip, allow_root_user=False) as patcher:
            assert patcher.fs is not None  # noqa: S101 -- set by Patcher.__enter__
            yield TappsProject(
                Path(root or "/project"),
                clock,
                fake_fs=True,
                filesystem=patcher.fs,
                layout=profile,
            )
        return
    if root is not None:
        yield TappsProject(Path(root), clock, layout=profile)
        return
    with tempfile.TemporaryDirectory(prefix="tapps-project-") as folder:
        yield TappsProject(Path(folder), clock, layout=profile)


@dataclass
class _Step:
    id: str
    status: str = "completed"
    agent: str | None = "implementer"
    action: str | None = None
    attempts: int = 1
    error: dict[str, Any] | None = None
    worktree: str | None = None
    duration_seconds: float | None = None


@dataclass
class WorkflowBuilder:
    """A workflow state under construction; ``.step(...)`` adds steps, ``.save()`` writes it."""

    project: TappsProject
    workflow_id: str
    status: str = "running"
    current: bool = False
    steps: list[_Step] = field(default_factory=list)

    def step(
        self,
        step_id: str,
        status: str = "completed",
        *,
        agent: str | None = "implementer",
        action: str | None = None,
        attempts: int = 1,
        error: str | Mapping[str, Any] | None = None,
        recoverable: bool | None = None,
        worktree: str | None = None,
        duration_seconds: float | None = None,
    ) -> WorkflowBuilder:
        """Add a step; ``error`` is a category name (a mapping with ``category`` and any of
        ``code``, ``message``, ``recoverable`` fills in the rest) or a whole envelope."""
        envelope: dict[str, Any] | None = None
        if isinstance(error, str):
            error = {"category": error}
        if error is not None:
            envelope = dict(error)
            category = str(envelope.get("category"))
            envelope.setdefault("code", f"{category}_error")
            if envelope.get("recoverable") is None:
                envelope["recoverable"] = (
                    category in _RECOVERABLE if recoverable is None else recoverable
                )
            envelope.setdefault("message", f"{step_id} failed ({category})")
        self.steps.append(
            _Step(step_id, status, agent, action, attempts, envelope, worktree, duration_seconds)
        )
        return self

    def state(self) -> dict[str, Any]:
        """The runbook-form state JSON of this workflow."""
        from pytest_tapps.core import to_iso

        now = to_iso(self.project.clock_now())
        executions = []
        for step in self.steps:
            for attempt in range(1, max(step.attempts, 1) + 1):
                last = attempt == max(step.attempts, 1)
                status = step.status if last else "failed"
                entry: dict[str, Any] = {
                    "step_id": step.id,
                    "agent": step.agent,
                    "action": step.action,
                    "status": status,
                    "attempt": attempt,
                    "worktree": step.worktree,
                    "duration_seconds": step.duration_seconds,
                }
                if status == "failed":
                    envelope = step.error or {
                        "code": "execution_error",
                        "category": "execution",
                        "recoverable": False,
                        "message": "failed",
                    }
                    entry["error"] = {
                        **envelope,
                        "workflow_id": self.workflow_id,
                        "step_id": step.id,
                        "agent": step.agent,
                    }
                executions.append(entry)
        running = [s.id for s in self.steps if s.status in ("running", "failed")]
        return {
            "workflow_id": self.workflow_id,
            "status": self.status,
            "current_step": running[0] if running else None,
            "started_at": now,
            "updated_at": now,
            "step_executions": executions,
        }

    def save(self) -> Path:
        """Write the state as the project's layout does: in the runbook's, to
        ``current_state.json`` when ``current``, else ``history/<id>.json``; in the real
        package's, as its state manager saves (``last.json`` points at the current one, or at
        the first saved when none is current)."""
        layout = self.project.layout
        if layout.profile.state_format == "tapps-agents-3.7":
            from pytest_tapps.core import WorkflowState
            from pytest_tapps.core._real_state import save_real_state

            state = WorkflowState.model_validate(self.state())
            last = layout.state_dir / "last.json"
            point_last = self.current or not last.exists()
            now = self.project.clock_now()
            saved = save_real_state(layout, state, now=now, point_last=point_last)
            # Saved at the clock's now, as the real package would have: its files' times are
            # the only sign of life of a running workflow (it holds no lock file).
            pointer = layout.state_dir / f"{self.workflow_id}.meta.json"
            written = [saved, layout.history_dir / saved.name, pointer]
            for file in [*written, last] if point_last else written:
                self.project.age(file, 0)
            return saved
        path = layout.current_state_file if self.current else layout.history_file(self.workflow_id)
        assert path is not None  # noqa: S101 -- the runbook layout has a current state file
        self.project.write(path, json.dumps(self.state(), indent=2) + "\n")
        return path


class TappsProject:
    """A project root with a fabricated ``.tapps-agents/`` tree, aged on a clock."""

    def __init__(
        self,
        root: Path,
        clock: VirtualClock | None = None,
        *,
        fake_fs: bool = False,
        filesystem: Any = None,
        layout: str | LayoutProfile = "runbook",
    ):
        self.root = Path(root)
        self.layout = Layout(self.root, layout_profile(layout))
        self.clock = clock if clock is not None else VirtualClock()
        self.fake_fs = fake_fs
        #: pyfakefs' FakeFilesystem when ``fake_fs`` (for faults such as a full disk).
        self.filesystem = filesystem
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        name = self.layout.profile.name
        layout = "" if name == "runbook" else f", layout={name!r}"
        return f"TappsProject({str(self.root)!r}, fake_fs={self.fake_fs}{layout})"

    def clock_now(self) -> Any:
        from pytest_tapps.core._timeutil import from_epoch

        return from_epoch(self.clock.time())

    # -- files ---------------------------------------------------------------------------------

    def write(self, path: Path, content: str | bytes = b"", *, age: Age = 0) -> Path:
        """Write a file (folders made as needed) and set its mtime ``age`` before now."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        path.write_bytes(data)
        self.age(path, age)
        return path

    def age(self, path: Path, age: Age) -> None:
        """Set ``path``'s mtime (and, for a folder, every file inside) ``age`` before now."""
        stamp = self.clock.time() - age_seconds(age)
        targets = [path]
        if path.is_dir() and not path.is_symlink():
            targets = [
                Path(folder, name)
                for folder, dirs, files in os.walk(path)
                for name in (*files, *dirs)
            ] + [path]
        for target in targets:
            os.utime(target, (stamp, stamp), follow_symlinks=False)

    def file(self, relative: str, content: str | bytes = b"x", *, age: Age = 0) -> Path:
        """A file under ``.tapps-agents/`` (or the project root for ``reports/...``)."""
        base = self.root if relative.startswith("reports/") else self.layout.tapps_dir
        return self.write(base / relative, content, age=age)

    def analytics(self, name: str | None = None, *, kind: str = "agents", age: Age = 0) -> Path:
        """An analytics history file ``age`` old; without ``name``, named as the layout names
        the ``kind`` (agents, workflows) file of the day it was last written."""
        if name is None:
            day = self.clock_now() - timedelta(seconds=age_seconds(age))
            path = self.layout.analytics_file(kind, day.strftime("%Y-%m-%d"))
        else:
            path = self.layout.analytics_history_dir / name
        return self.write(path, '{"event": "x"}\n', age=age)

    def tiered(self, name: str, content: str = "{}", *, age: Age = 0) -> Path:
        """An entry of the tiered context cache (a file under ``cache/tiered-context/``)."""
        folder = self.layout.tiered_cache_dir
        if folder is None:
            message = (
                f"the {self.layout.profile.name} layout has no tiered context cache on disk "
                "(that package keeps it in memory)"
            )
            raise NotInLayout(message)
        return self.write(folder / name, content, age=age)

    def symlink(self, relative: str, target: Path | str, *, age: Age = 0) -> Path:
        """A link under ``.tapps-agents/`` pointing at ``target`` (anywhere), itself ``age``
        old on the project's clock (the link's own time, which ``lstat`` reads)."""
        link = self.layout.tapps_dir / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)
        self.age(link, age)
        return link

    # -- workflows, worktrees, caches ----------------------------------------------------------

    def workflow(
        self, workflow_id: str, status: str = "running", *, current: bool = False
    ) -> WorkflowBuilder:
        """Start a workflow state; add steps with ``.step()`` and write it with ``.save()``."""
        return WorkflowBuilder(self, workflow_id, status, current)

    def worktree(
        self,
        name: str | None = None,
        *,
        workflow: str | None = None,
        step: str | None = None,
        age: Age = 0,
        files: int = 3,
        git: bool = False,
        locked: bool = False,
        dirty: bool = False,
        gone: bool = False,
        branch: str | None = None,
    ) -> Path:
        """A worktree folder: plain files, or a real ``git worktree`` of the project's repo.

        Without ``name`` it is named as the layout names the worktree of ``step`` of
        ``workflow`` (the real package's ``workflow-<wf>-step-<step>-<8 hex>``, the hex digits
        those of the name's SHA-256, as that package derives them); a git worktree's branch is
        the layout's (``workflow/<name>``) unless ``branch`` says otherwise."""
        if name is None:
            if workflow is None or step is None:
                message = "worktree: give its name, or the workflow and step it belongs to"
                raise HarnessError(message)
            name = self.worktree_name(workflow, step)
        path = self.layout.worktree(name)
        if not git:
            path.mkdir(parents=True, exist_ok=True)  # files=0: an empty worktree folder
            for number in range(files):
                self.write(path / f"file-{number}.txt", f"{name} {number}\n", age=age)
            # Only what it made is aged: a file already in the folder keeps its own age.
            stamp = self.clock.time() - age_seconds(age)
            os.utime(path, (stamp, stamp))
            return path
        self._require_real("git worktrees")
        self.git_repository()
        path.parent.mkdir(parents=True, exist_ok=True)
        branch = branch or self.layout.worktree_branch(name)
        self._git("worktree", "add", "-q", "-b", branch, str(path))
        if dirty:
            (path / "README.md").write_text("changed by the harness\n")
        if locked:
            self._git("worktree", "lock", "--reason", "held by the harness", str(path))
        self.age(path, age)
        if gone:
            from pytest_tapps.core._safedelete import remove_path

            remove_path(path, device=path.parent.stat().st_dev)
        return path

    def worktree_name(self, workflow: str, step: str) -> str:
        """The name the layout gives the worktree of ``step`` of ``workflow`` here."""
        return self.layout.worktree_name(workflow, step)

    def context7(
        self, library_id: str, documents: Mapping[str, str | bytes] | None = None, *, age: Age = 0
    ) -> Path:
        """A valid Context7 entry: documents and ``meta.json`` in the runbook's layout; in the
        real package's, a ``<topic>.md`` per document with ``meta.yaml`` and ``index.yaml``."""
        from pytest_tapps.core import write_entry

        if self.layout.profile.context7_format == "kb":
            from pytest_tapps.core._kb_cache import write_kb_entry

            folder = write_kb_entry(
                self.layout,
                library_id,
                documents or {f"{library_id}.md": f"# {library_id}\n"},
                now=self.clock_now(),
            )
            self.age(folder, age)
            return folder
        entry = write_entry(
            self.layout, library_id, documents or {"docs.md": f"# {library_id}\n"}, clock=self.clock
        )
        self.age(entry, age)
        return entry

    def git_repository(self) -> None:
        """Make the project root a git repository with one commit (once)."""
        if (self.root / ".git").exists():
            return
        self._require_real("git repositories")
        self._git("init", "-q", "-b", "main")
        (self.root / "README.md").write_text("project\n")
        (self.root / ".gitignore").write_text(".tapps-agents/\n")
        self._git("add", "README.md", ".gitignore")
        self._git("commit", "-q", "-m", "initial commit")

    def _require_real(self, what: str) -> None:
        if self.fake_fs:
            message = (
                f"{what} need the real filesystem (pyfakefs cannot run git or other "
                "subprocesses): use fs='real' for this test"
            )
            raise HarnessError(message)

    def _git(self, *args: str) -> None:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "tapps",
            "GIT_AUTHOR_EMAIL": "tapps@example.invalid",
            "GIT_COMMITTER_NAME": "tapps",
            "GIT_COMMITTER_EMAIL": "tapps@example.invalid",
        }
        done = subprocess.run(
            ["git", "-C", str(self.root), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            message = f"git {' '.join(args)} failed: {done.stderr.strip()}"
            raise HarnessError(message)

    # -- declarative ---------------------------------------------------------------------------

    def build(self, description: Mapping[str, Any]) -> TappsProject:
        """Build from a mapping: ``files``, ``analytics``, ``workflows``, ``worktrees``,
        ``context7`` (each a list of keyword mappings for the matching method)."""
        known = {"files", "analytics", "workflows", "worktrees", "context7", "tiered"}
        unknown = sorted(set(description) - known)
        if unknown:
            message = f"unknown tree key {unknown[0]!r}; expected one of {sorted(known)}"
            raise HarnessError(message)
        for raw in description.get("files", []):
            spec = dict(raw)
            self.file(spec.pop("path"), spec.pop("content", b"x"), **spec)
        for raw in description.get("analytics", []):
            spec = dict(raw)
            self.analytics(spec.pop("name"), **spec)
        for raw in description.get("worktrees", []):
            spec = dict(raw)
            self.worktree(spec.pop("name"), **spec)
        for raw in description.get("tiered", []):
            spec = dict(raw)
            self.tiered(spec.pop("name"), **spec)
        for raw in description.get("context7", []):
            spec = dict(raw)
            self.context7(spec.pop("library"), spec.pop("documents", None), **spec)
        for raw in description.get("workflows", []):
            spec = dict(raw)
            steps = spec.pop("steps", [])
            builder = self.workflow(spec.pop("id"), spec.pop("status", "running"), **spec)
            for raw_step in steps:
                step = dict(raw_step)
                builder.step(step.pop("id"), step.pop("status", "completed"), **step)
            builder.save()
        return self

    # -- looking at it -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, str]:
        """Every path under the project (not ``.git``) with a short description (kind, size,
        hash, mtime), links not followed.

        What cannot be read is described, not a failure: ``file 1 B unreadable mtime T``; a
        folder that cannot be listed is ``folder unreadable`` (its contents unknown); an entry
        that cannot be stat-ed is ``unreadable (Permission denied)``."""
        # str paths and scandir: a scenario snapshots a 100,000-file tree twice, and pathlib's
        # objects cost more than the reads (bench/bench_capture.py).
        found: dict[str, str] = {}
        root = str(self.root)
        start = len(root.rstrip(os.sep)) + 1
        folders = [root]
        while folders:
            folder = folders.pop()
            try:
                with os.scandir(folder) as listing:
                    children = [entry.path for entry in listing]
            except FileNotFoundError:  # the root itself, or removed meanwhile
                continue
            except OSError:
                found[os.path.relpath(folder, root)] = "folder unreadable"
                continue
            for path in children:
                relative = path[start:]
                if folder == root and relative == ".git":
                    continue
                description = found[relative] = self._describe(path)
                if description == "folder":
                    folders.append(path)
        # Path order, component by component (as the snapshot was always sorted): the separator
        # read as NUL, which sorts before every character a name can hold.
        return {path: found[path] for path in sorted(found, key=_as_components)}

    @staticmethod
    def _describe(path: str) -> str:
        try:
            st = os.lstat(path)
        except OSError as exc:
            return f"unreadable ({exc.strerror or exc})"
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            return f"link -> {os.readlink(path)}"  # noqa: PTH115 -- str paths, as above
        if stat.S_ISDIR(mode):
            return "folder"
        if not stat.S_ISREG(mode):  # a FIFO would block a read; a device is not data
            return f"{_SPECIAL.get(stat.S_IFMT(mode), 'special file')} mtime {st.st_mtime:.0f}"
        return f"file {st.st_size} B {_content(path, st.st_size)} mtime {st.st_mtime:.0f}"


_SPECIAL = {
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "device",
    stat.S_IFBLK: "device",
}


def _content(path: str, size: int) -> str:
    """``sha256:`` and the first 12 hex digits of the file's bytes, ``unreadable`` when it
    cannot be read. Plain ``os`` calls with a read the file's size: a snapshot reads 100,000
    files twice per scenario (bench/bench_capture.py), and ``open()``'s buffered file object
    cost as much as the reading."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return "unreadable"
    digest = hashlib.sha256()
    try:
        want = size + 1 if size < _CHUNK else _CHUNK  # + 1: a file grown since its stat
        while chunk := os.read(fd, want):
            digest.update(chunk)
            if len(chunk) < want:  # a short read of a regular file: its end
                break
            want = _CHUNK
    except OSError:
        return "unreadable"
    finally:
        os.close(fd)
    return f"sha256:{digest.hexdigest()[:12]}"


_CHUNK = 1 << 20


def _as_components(path: str) -> str:
    return path.replace(os.sep, "\0")


def diff_snapshots(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """What changed between two snapshots, a line per path: ``- gone``, ``+ new``, ``~ changed``."""
    lines = []
    for rel in sorted(set(before) | set(after)):
        if rel not in after:
            lines.append(f"- {rel}  ({before[rel]})")
        elif rel not in before:
            lines.append(f"+ {rel}  ({after[rel]})")
        elif before[rel] != after[rel]:
            lines.append(f"~ {rel}  ({before[rel]} -> {after[rel]})")
    return "\n".join(lines) if lines else "(no change)"
