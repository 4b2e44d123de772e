"""Capturing a real ``.tapps-agents/`` tree as a regression scenario (``tapps scenario capture``).

The tree is read, never written: every entry is ``lstat``-ed (no link is followed), and only the
files the runbook's logic reads (workflow states, lock files, the config, cache metadata) are
opened. It becomes ``given:`` (each file with its age to the nanosecond of ``now``; the others as
placeholders of their size), a lock file of this host becomes a lock whose holder is live or dead
as its pid is now, with its own heartbeat, creation time and TTL, and the reference core is asked,
at ``now``, what the chosen procedures decide: written as ``then:``, so the scenario passes on the
core at once and fails when a change breaks one of those decisions.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_tapps.core import TappsError
from pytest_tapps.scenario._model import COUNTER

#: The procedures a capture can pin, in the order they are performed.
CAPTURE_ACTIONS = ("cleanup", "dlq", "status", "resume")
#: What a capture pins unless told: the procedures that only read (a resume is replayed).
DEFAULT_ACTIONS = ("cleanup", "dlq", "status")
#: The runbook procedure each one exercises (the scenario's ``runbook:``).
_PROCEDURES = {
    "cleanup": "Cleanup Tools > Usage > Dry run",
    "dlq": "Dead Letter Queue (DLQ) Handling > DLQ Inspection > Check workflow state",
    "status": "Workflow Stuck/Failed Recovery > Diagnosis > Check workflow state",
    "resume": "Workflow Stuck/Failed Recovery > Recovery Procedures > Resume Workflow",
}
#: More placeholder files than this in one folder with one cleanup decision are written as
#: one numbered entry (``count:``).
COMPACT_OVER = 20
#: Bytes of a name or of text content that YAML cannot carry as they are (NEL is read back as
#: a line break); such content is written as base64, such a name is skipped.
_NOT_IN_YAML = re.compile("[\x85\ud800-\udfff]")
_DIGIT = re.compile(r"\d")
_DIGITS = re.compile("[0-9]+")


class CaptureError(TappsError):
    """The capture cannot be made: no ``.tapps-agents/`` folder, a layout that does not match."""


@dataclass
class Capture:
    """A captured tree: the scenario's parts (for :func:`~pytest_tapps.scenario.write_scenario`)
    and what was left out, each ``path: why``."""

    parts: dict[str, Any]
    skipped: list[str] = field(default_factory=list)
    #: The paths (from the project root) left out of ``given:``; ``then:`` decides nothing
    #: about them or about a folder that holds one.
    left_out: list[str] = field(default_factory=list)
    #: Paths of ``given:`` whose decision ``then:`` cannot name (they hold ``{n}``).
    unpinned: list[str] = field(default_factory=list)

    def covers(self, relative: str) -> bool:
        """Whether the decision on ``relative`` is pinned by ``then:`` when it is asked."""
        return relative not in self.unpinned and not left_out_of(relative, self.left_out)


def capture(
    project_root: Path,
    *,
    layout: str = "runbook",
    now: datetime | None = None,
    workflow_id: str | None = None,
    actions: Sequence[str] = DEFAULT_ACTIONS,
    name: str | None = None,
    compact_over: int | None = COMPACT_OVER,
    redact_names: bool = False,
) -> Capture:
    """Capture ``project_root``'s tree at ``now`` (default: the end of this second) as a
    scenario whose ``when:`` performs ``actions`` and whose ``then:`` is what the reference core
    decides.

    More than ``compact_over`` placeholder files of one folder with one cleanup decision are
    written as one numbered entry (``count:``, their ages spread from the newest to the oldest,
    their mean size); ``None`` writes every file. ``redact_names`` replaces each name inside
    a folder whose rules do not read names (analytics, logs, artifacts, metrics, reports, the
    tiered cache) by a stable hash keeping its extension; workflow ids, worktree names and
    library ids stay, since rules match them."""
    from pytest_tapps.core import PROFILES, Layout, to_iso, utcnow
    from pytest_tapps.core._clock import SYSTEM_CLOCK

    unknown = [action for action in actions if action not in CAPTURE_ACTIONS]
    if unknown:
        message = f"unknown action {unknown[0]!r}: choose from {', '.join(CAPTURE_ACTIONS)}"
        raise CaptureError(message)
    profile = PROFILES.get(layout)
    if profile is None:
        message = f"unknown layout {layout!r}: use runbook or tapps-agents-3.7"
        raise CaptureError(message)
    tree = Layout(project_root, profile)
    _check_tree(tree)
    if now is None:  # this second's end: a file written a moment ago is not in the future
        moment = utcnow(SYSTEM_CLOCK).replace(microsecond=0) + timedelta(seconds=1)
    else:
        moment = now
    now_ns = _epoch_ns(moment)
    reader = _Reader(tree, now_ns)
    given = reader.given()
    requested = [action for action in CAPTURE_ACTIONS if action in actions]
    chosen = list(requested)
    states = f".tapps-agents/{profile.state_dir}/"
    if "status" in chosen and any(out.startswith(states) for out in reader.left_out):
        chosen.remove("status")  # which workflow is current, and its state, may be the one left
        reader.skipped.append(
            "status: not pinned, since a file of the workflow states was left out (the replayed "
            "tree could find another current workflow, or none)"
        )
    when, then, labels = _decisions(tree, now_ns, chosen, workflow_id, reader)
    _settle_plan(given, then, labels, reader, compact_over)
    resumed = _resumed(tree, workflow_id, reader) if "resume" in chosen else None
    where = "" if redact_names else f" from {project_root}"
    if redact_names:
        _redact(given, then, reader)
    parts: dict[str, Any] = {
        "name": name
        or f"captured{'' if redact_names else ' from ' + project_root.resolve().name} at "
        f"{to_iso(moment)}",
        "description": (
            f"Captured by tapps scenario capture{where} at {to_iso(moment)}: the tree as it "
            "was, and what the reference core decided then."
        ),
        "runbook": [_PROCEDURES[action] for action in requested],
        "now": to_iso(moment),
        "given": given,
        "when": when,
        "then": then,
    }
    if profile.name != "runbook":
        parts["layout"] = profile.name
    if any(lock.get("holder") == "live" for lock in given.get("locks", ())):
        parts["fs"] = "real"
    if given.get("worktrees"):
        parts["fs"] = "real"
        parts["requires"] = ["git"]
    if resumed is not None:
        _pin_resume(parts, resumed)
    return Capture(parts, reader.skipped, reader.left_out, reader.unpinned)


def _settle_plan(
    given: dict[str, Any],
    then: dict[str, Any],
    labels: Mapping[str, str],
    reader: _Reader,
    compact_over: int | None,
) -> None:
    """``then.plan`` without what the replayed tree cannot show, and ``given.files`` and the
    plan with files alike as numbered entries."""
    if "plan" in then:  # what was left out is not in the replayed tree: nothing to decide
        then["plan"] = {
            path: label for path, label in then["plan"].items() if not reader.left(path)
        }
        for path in [path for path in then["plan"] if COUNTER in path]:
            del then["plan"][path]  # a path holding {n} reads as numbered files: not pinned
            reader.unpinned.append(path)
            reader.skipped.append(f"{path}: its decision is not pinned (a path holding {COUNTER})")
    if "folders" in given:  # a folder made by one inside it needs no entry, unless decided
        folders = [spec["path"] for spec in given["folders"]]
        given["folders"] = [
            spec
            for spec in given["folders"]
            if spec["path"] in labels
            or not any(other.startswith(spec["path"] + "/") for other in folders)
        ]
    if compact_over is not None and "files" in given:
        given["files"], numbered, gone = _compact(given["files"], labels, reader, compact_over)
        if "plan" in then and numbered:  # each numbered entry's files as its {n} path
            plan = {path: label for path, label in then["plan"].items() if path not in gone}
            plan.update({path: label for path, label in numbered.items() if label is not None})
            then["plan"] = dict(sorted(plan.items()))


#: Per layout: what only the other layout writes, who writes it, and the layout to pass.
_FOREIGN = {
    "runbook": (
        ("kb", "workflow-state/last.json"),
        "by the tapps-agents 3.7 package",
        "tapps-agents-3.7",
    ),
    "tapps-agents-3.7": (
        ("workflow-state/current_state.json", "context7/cache"),
        "in the runbook's layout",
        "runbook",
    ),
}


def _check_tree(layout: Any) -> None:
    tapps = layout.tapps_dir
    try:
        st = os.lstat(tapps)
    except OSError:
        message = (
            f"{layout.project_root} has no .tapps-agents/ folder: give the project root that "
            "holds it with --project-root"
        )
        raise CaptureError(message) from None
    if not stat.S_ISDIR(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a folder"
        message = f"{tapps} is {what}: a capture reads a real .tapps-agents/ folder"
        raise CaptureError(message)
    markers, written_by, other = _FOREIGN[layout.profile.name]
    foreign = [relative for relative in markers if os.path.lexists(tapps / relative)]
    if foreign:
        message = (
            f"{tapps} looks written {written_by} ({foreign[0]} is there): pass --layout {other}"
        )
        raise CaptureError(message)


def _epoch_ns(moment: datetime) -> int:
    from datetime import UTC

    seconds = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (seconds.days * 86400 + seconds.seconds) * 10**9 + seconds.microseconds * 1000


def age_text(age_ns: int) -> str:
    """An age in nanoseconds as a duration the scenario format reads back exactly: whole days,
    hours or minutes when it is one, else seconds with as many decimals as it needs."""
    sign, magnitude = ("-", -age_ns) if age_ns < 0 else ("", age_ns)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if magnitude and magnitude % (size * 10**9) == 0:
            return f"{sign}{magnitude // (size * 10**9)}{unit}"
    whole, fraction = divmod(magnitude, 10**9)
    if not fraction:
        return f"{sign}{whole}s"
    return f"{sign}{whole}.{fraction:09d}".rstrip("0") + "s"


class _Reader:
    """Walks the tree (``lstat`` only) into the ``given:`` mapping."""

    def __init__(self, layout: Any, now_ns: int) -> None:
        self.layout = layout
        self.root = layout.project_root
        self.now_ns = now_ns
        self.skipped: list[str] = []
        #: The paths left out, whose decisions the replayed tree cannot show.
        self.left_out: list[str] = []
        #: Paths in the tree whose decision ``then:`` cannot name (they hold ``{n}``).
        self.unpinned: list[str] = []
        self.files: list[dict[str, Any]] = []
        self.folders: list[dict[str, Any]] = []
        self.symlinks: list[dict[str, Any]] = []
        self.locks: list[dict[str, Any]] = []
        #: Each placeholder file's age in nanoseconds (for numbered entries).
        self.age_ns: dict[str, int] = {}
        #: Each scenario path and the live path it came from.
        self.seen: dict[str, str] = {}
        #: Registered git worktrees by folder name, and the age of every file inside one.
        self.git: dict[str, Any] = {}
        self.inner_ns: dict[str, int] = {}
        profile = layout.profile
        tapps = ".tapps-agents/"
        #: Folders whose files the runbook's logic reads: copied as they are.
        self.read_whole = (tapps + profile.state_dir + "/",)
        self.lock_folder = tapps + profile.state_dir + "/"

    def given(self) -> dict[str, Any]:
        self._registered()
        self._walk(self.layout.tapps_dir)
        quality = self.layout.quality_reports_dir
        try:
            st = os.lstat(quality)
        except OSError:
            st = None  # no reports folder: nothing to capture
        if st is not None and stat.S_ISDIR(st.st_mode):
            self._walk(quality)
        elif st is not None:
            self._skip(
                self.layout.profile.project_quality_reports_dir,
                "not a folder (a capture does not follow a link)",
            )
        given: dict[str, Any] = {}
        for key, items in (
            ("files", self.files),
            ("folders", self.folders),
            ("symlinks", self.symlinks),
            ("locks", self.locks),
        ):
            if items:
                given[key] = items
        worktrees = self._git_worktrees()
        if worktrees:
            given["worktrees"] = worktrees
        return given

    def _registered(self) -> None:
        """The git worktrees registered in the project's repository (``git worktree list``,
        which changes nothing) whose folders are in the worktrees folder."""
        from pytest_tapps.core._git import GitError, is_repository, list_worktrees

        try:
            if not is_repository(self.root):
                return
            listed = list_worktrees(self.root)
        except (GitError, OSError) as exc:
            self.skipped.append(f"git worktrees: not read ({exc}); worktrees are their files")
            return
        folder = os.path.realpath(self.layout.worktrees_dir)
        for entry in listed:
            parent, _, name = os.path.realpath(entry.path).rpartition(os.sep)
            if parent == folder and name:
                self.git[name] = entry

    def _git_worktrees(self) -> list[dict[str, Any]]:
        """Each registered worktree as ``given.worktrees`` makes one: a real git worktree,
        locked as it is, gone when its folder is, aged as its newest file (the files git checks
        out in the replay must not make it newer; the captured files keep their own ages)."""
        from pytest_tapps.core._layout import safe_name

        found = []
        for name, entry in sorted(self.git.items()):
            try:
                safe_name(name)
            except TappsError:
                continue  # captured as its files
            relative = f".tapps-agents/{self.layout.profile.worktrees_dir}/{name}"
            ages = [age for path, age in self.inner_ns.items() if path.startswith(relative + "/")]
            spec: dict[str, Any] = {"name": name, "git": True, "files": 0}
            if ages:
                spec["age"] = age_text(min(ages))
            if entry.locked:
                spec["locked"] = True
            if not os.path.lexists(self.root / relative):
                spec["gone"] = True
            found.append(spec)
        return found

    def _relative(self, path: str) -> str | None:
        relative = os.path.relpath(path, self.root).replace(os.sep, "/")
        if _NOT_IN_YAML.search(relative):
            self._skip(relative, "a name a scenario file cannot hold (not UTF-8, or NEL)")
            return None
        return relative

    def left(self, relative: str) -> bool:
        """Whether ``relative`` (a path from the project root) was left out of the capture, or
        holds something that was (a folder whose decision the replayed tree cannot show)."""
        return left_out_of(relative, self.left_out)

    def scenario_path(self, relative: str) -> str:
        """``relative`` (a path of the live tree) as a scenario names it: in the runbook's
        layout, which a scenario's ``layout:`` moves back to the tree's."""
        from pytest_tapps.core._layout import RUNBOOK, translate

        return translate(relative, self.layout.profile, RUNBOOK)

    def _out(self, relative: str) -> str | None:
        """The scenario's path for ``relative``, or ``None`` (and left out) when another path
        of the tree is already that place in the runbook's layout."""
        path = self.scenario_path(relative)
        first = self.seen.setdefault(path, relative)
        if first != relative:
            self._skip(relative, f"{first} and it are one place, {path}, in the runbook's layout")
            return None
        return path

    def _skip(self, relative: str, why: str) -> None:
        self.left_out.append(self.scenario_path(relative))
        shown = relative if relative.isprintable() else repr(relative)
        self.skipped.append(f"{shown}: {why}")

    def _age(self, st: os.stat_result) -> str:
        return age_text(self.now_ns - st.st_mtime_ns)

    def names_in(self, folder: str) -> set[str]:
        """The names of everything captured in ``folder`` (from the project root)."""
        found = set()
        for spec in (*self.files, *self.folders, *self.symlinks):
            parent, _, base = spec["path"].rpartition("/")
            if parent == folder:
                found.add(base)
            elif parent.startswith(folder + "/"):
                found.add(parent[len(folder) + 1 :].partition("/")[0])
        found.update(
            out.rpartition("/")[2] for out in self.left_out if out.rpartition("/")[0] == folder
        )
        return found

    def _walk(self, top: Path) -> bool:
        """Capture ``top`` (a folder); whether anything but folders is inside it."""
        try:
            entries = sorted(os.scandir(top), key=lambda entry: entry.name)
        except OSError as exc:
            relative = self._relative(str(top))
            if relative is not None:
                self._skip(relative, f"cannot be listed ({exc.strerror})")
            return True  # what it holds is unknown: not an empty folder
        holds = False
        for entry in entries:
            holds |= self._entry(entry)
        if not holds:
            relative = self._relative(str(top))
            if relative is not None:
                try:
                    st = os.lstat(top)
                except OSError:
                    return False
                path = self._out(relative)
                if path is not None:
                    self.folders.append({"path": path, "age": self._age(st)})
        return holds

    def _entry(self, entry: os.DirEntry[str]) -> bool:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            relative = self._relative(entry.path)
            if relative is not None:
                self._skip(relative, f"cannot be read ({exc.strerror})")
            return True
        if stat.S_ISDIR(st.st_mode):
            return self._walk(Path(entry.path))
        relative = self._relative(entry.path)
        if relative is None:
            return True
        if self._in_git_worktree(relative):
            self.inner_ns[relative] = self.now_ns - st.st_mtime_ns
            if relative.count("/") == 3 and entry.name == ".git":
                return True  # git makes it in the replay
        if stat.S_ISLNK(st.st_mode):
            self._link(entry.path, relative, st)
        elif stat.S_ISREG(st.st_mode):
            self._file(entry.path, relative, st)
        else:
            self._skip(relative, "not a file, folder or link (a pipe, socket or device)")
        return True

    def _in_git_worktree(self, relative: str) -> bool:
        prefix = f".tapps-agents/{self.layout.profile.worktrees_dir}/"
        return relative.startswith(prefix) and relative[len(prefix) :].partition("/")[0] in self.git

    def _link(self, path: str, relative: str, st: os.stat_result) -> None:
        target = os.readlink(path)
        base = os.path.dirname(path) if not os.path.isabs(target) else ""
        resolved = os.path.normpath(os.path.join(base, target))
        inside = os.path.relpath(resolved, self.root).replace(os.sep, "/")
        if inside == ".." or inside.startswith("../") or inside == ".":
            inside = "../outside/" + (os.path.basename(resolved) or "root")
        if _NOT_IN_YAML.search(inside):
            self._skip(relative, "its target's name is not UTF-8 (or holds NEL)")
            return
        named = self._out(relative)
        if named is not None:
            aim = inside if inside.startswith("../") else self.scenario_path(inside)
            self.symlinks.append({"path": named, "target": aim, "age": self._age(st)})

    def _file(self, path: str, relative: str, st: os.stat_result) -> None:
        if self._lock(path, relative, st):
            return
        named = self._out(relative)
        if named is None:
            return
        spec: dict[str, Any] = {"path": named, "age": self._age(st)}
        if not self._read_whole(relative):
            spec["size"] = st.st_size
            self.files.append(spec)
            self.age_ns[named] = self.now_ns - st.st_mtime_ns
            return
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            self._skip(relative, f"cannot be read ({exc.strerror})")
            return
        spec.update(_content(data))
        self.files.append(spec)

    def _read_whole(self, relative: str) -> bool:
        profile = self.layout.profile
        if relative.startswith(self.read_whole):
            return True
        if relative == ".tapps-agents/config.yaml":
            return True
        if profile.context7_format == "kb":  # the real package's metadata and index
            kb = ".tapps-agents/" + profile.context7_cache_dir.rpartition("/")[0] + "/"
            return relative.startswith(kb) and relative.endswith(".yaml")
        cache = ".tapps-agents/" + profile.context7_cache_dir + "/"
        return relative.startswith(cache) and relative.endswith("/meta.json")

    def _lock(self, path: str, relative: str, st: os.stat_result) -> bool:
        """A lock file of this host, as a lock with a live or dead holder (its pid means
        nothing on another machine); anything else is kept as its bytes."""
        import socket

        from pytest_tapps.core._layout import safe_name
        from pytest_tapps.core._locks import pid_alive, read_lock

        folder, _, file_name = relative.rpartition("/")
        if not self.layout.profile.workflow_locks:
            return False  # that package writes no workflow locks: any such file is its bytes
        if folder + "/" != self.lock_folder or not file_name.endswith(".lock"):
            return False
        workflow = file_name.removesuffix(".lock")
        try:
            safe_name(workflow)
            record = read_lock(Path(path))
        except (OSError, ValueError, TappsError):
            return False  # unreadable or damaged: its bytes keep the fault
        if record.host != socket.gethostname() or st.st_size > 64 * 1024:
            return False
        lock: dict[str, Any] = {
            "workflow": workflow,
            "holder": "live" if pid_alive(record.pid) else "dead-pid",
            "heartbeat_age": age_text(self.now_ns - _epoch_ns(record.heartbeat_at)),
            "created_age": age_text(self.now_ns - _epoch_ns(record.created_at)),
            "ttl": age_text(round(record.ttl_seconds * 10**9)),
        }
        self.locks.append(lock)
        return True


def left_out_of(relative: str, left_out: Sequence[str]) -> bool:
    """Whether the decision on ``relative`` (from the project root) depends on a path of
    ``left_out``: it is one, lies in one, or holds one."""
    relative = relative.replace(os.sep, "/")
    return any(
        relative == out or relative.startswith(out + "/") or out.startswith(relative + "/")
        for out in left_out
    )


def _content(data: bytes) -> dict[str, Any]:
    """``content:`` for UTF-8 text YAML carries as it is, else ``base64:``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or _NOT_IN_YAML.search(text):
        return {"base64": base64.b64encode(data).decode("ascii")}
    return {"content": text}


def _decisions(
    tree: Any,
    now_ns: int,
    chosen: list[str],
    workflow_id: str | None,
    reader: _Reader,
) -> tuple[list[Any], dict[str, Any], dict[str, str]]:
    """The ``when:`` and ``then:`` of the chosen procedures: what the reference core decides
    on the live tree at ``now``, asked as a scenario's actions ask it; and the cleanup plan's
    label of each path, chosen or not."""
    from pytest_tapps.core import VirtualClock
    from pytest_tapps.scenario._model import CleanupAction, StatusAction
    from pytest_tapps.scenario._targets import CoreTarget, Session

    clock = VirtualClock(now_ns / 10**9)
    session = Session(
        layout=tree,
        clock=clock,
        definitions={},
        runner=_no_agents,
        step_faults=[],
        scratch=tree.project_root / ".tapps-capture-unused",
    )
    core = CoreTarget()
    when: list[Any] = []
    then: dict[str, Any] = {}
    done = core.perform("cleanup", CleanupAction(dry_run=True), session)
    items = (done.data or {}).get("items", {})
    labels = dict(sorted((reader.scenario_path(path), label) for path, label in items.items()))
    if "cleanup" in chosen:
        when.append({"cleanup": {"dry_run": True}})
        then["plan"] = dict(labels)
        then["unchanged"] = True
    if "dlq" in chosen:
        from pytest_tapps.scenario._expect import dlq_entries

        then["dlq"] = [
            {key: value for key, value in entry.items() if value is not None}
            for entry in dlq_entries(
                tree,
                leave=lambda path: reader.left(
                    reader.scenario_path(os.path.relpath(path, tree.project_root))
                ),
            )
        ]
    if "status" in chosen:
        spec: dict[str, Any] = {} if workflow_id is None else {"workflow": workflow_id}
        when.append({"status": spec})
        done = core.perform("status", StatusAction(**spec), session)
        then["exit_code"] = done.exit_code
        if done.data is not None:
            then["diagnosis"] = {
                "stuck": done.data["stuck"],
                "reasons_contain": list(_reason_texts(done.data["reasons"])),
            }
        else:
            first = done.output.strip().splitlines()
            if first:
                then["output_contains"] = [_DIGIT.split(first[0], 1)[0].rstrip()]
    return when, then, labels


def _reason_texts(reasons: Sequence[str]) -> Iterator[str]:
    """Each reason up to its first number (a pid, an age: what another run of the same tree
    need not repeat)."""
    for reason in reasons:
        text = _DIGIT.split(reason, 1)[0].rstrip()
        if len(text) >= 10:
            yield text


def _no_agents(*_args: Any, **_kwargs: Any) -> Any:
    message = "a capture runs no agent"
    raise AssertionError(message)


def expected_from(path: Path) -> dict[str, Any]:
    """The ``then:`` a user wants instead of the core's decisions (``--expect-from FILE``): the
    file holds a ``then:`` mapping, or the mapping alone. Each key replaces the captured one of
    that name. A file that is not such a mapping raises :class:`CaptureError` naming the file,
    line and field."""
    import json

    from pydantic import ValidationError

    from pytest_tapps.core._yamlutil import YamlFileError, load_yaml
    from pytest_tapps.scenario._model import Then

    try:
        doc = load_yaml(path)
    except YamlFileError as exc:
        raise CaptureError(str(exc)) from None
    except OSError as exc:
        message = f"--expect-from {path}: cannot be read ({exc.strerror or exc})"
        raise CaptureError(message) from None
    data = doc.data
    prefix: list[str | int] = []
    if isinstance(data, dict) and list(data) == ["then"]:
        data, prefix = data["then"], ["then"]
    if not isinstance(data, dict) or not data:
        message = (
            f"{path}: write the outcome you want as a then: mapping, e.g. "
            "'then: {diagnosis: {stuck: false}}'"
        )
        raise CaptureError(message)
    plain = json.loads(json.dumps(data))  # ruamel's own types, as plain values
    try:
        Then.model_validate(plain)
    except ValidationError as exc:
        problems = []
        for problem in exc.errors(include_url=False):
            loc = [*prefix, *problem["loc"]]
            line = doc.line_of(loc) or 1
            field = ".".join(str(part) for part in ["then", *problem["loc"]])
            problems.append(
                f"{path}:{line}: {field}: {problem['msg'].removeprefix('Value error, ')}"
            )
        raise CaptureError("; ".join(problems)) from None
    return dict(plain)


def _compact(
    files: list[dict[str, Any]], labels: Mapping[str, str], reader: _Reader, over: int
) -> tuple[list[dict[str, Any]], dict[str, str | None], set[str]]:
    """``files`` with each group of more than ``over`` placeholder files of one folder, one
    cleanup label and one name shape (their names alike but for numbers) written as one
    numbered entry; each entry's path with its label; and the paths the entries replace.

    An entry's numbered names keep the group's common beginning and end (a category's name
    pattern, ``*.jsonl``, still matches); where another name of the folder could read as one
    of them, the group's ordinal goes before the number (``event-2-{n}.jsonl``), and where
    even that could, the group stays as it is."""
    groups: dict[tuple[str, str, str | None], list[dict[str, Any]]] = {}
    for spec in files:
        if "size" in spec:
            folder, _, name = spec["path"].rpartition("/")
            shape = _DIGITS.sub("#", name)  # event-00017.jsonl and event-00018.jsonl: one shape
            groups.setdefault((folder, shape, labels.get(spec["path"])), []).append(spec)
    replaced: dict[str, dict[str, Any]] = {}
    numbered: dict[str, str | None] = {}
    entries: dict[str, list[dict[str, Any]]] = {}  # per folder
    for (folder, _shape, label), members in groups.items():
        if len(members) <= over:
            continue
        made = entries.setdefault(folder, [])
        entry = _numbered_entry(folder, members, reader, made)
        if entry is None:
            continue
        made.append(entry)
        numbered[entry["path"]] = label
        for spec in members:
            replaced[spec["path"]] = entry
    kept: list[dict[str, Any]] = []
    added: set[str] = set()
    for spec in files:
        entry = replaced.get(spec["path"], spec)
        if entry["path"] not in added:  # a numbered entry where its first file was
            added.add(entry["path"])
            kept.append(entry)
    return kept, numbered, set(replaced)


def _numbered_names(entry: Mapping[str, Any]) -> Iterator[str]:
    """Names an entry makes: its first thousand and its last (enough to tell two apart)."""
    name = entry["path"].rpartition("/")[2]
    count = entry["count"]
    for n in (*range(1, min(count, 1000) + 1), count):
        yield name.replace(COUNTER, str(n))


def _numbered_entry(
    folder: str, members: list[dict[str, Any]], reader: _Reader, made: list[dict[str, Any]]
) -> dict[str, Any] | None:
    names = [spec["path"].rpartition("/")[2] for spec in members]
    # Names, not paths: their common beginning and end, character by character.
    head = os.path.commonprefix(names)  # noqa: RUF071
    tail = os.path.commonprefix([name[len(head) :][::-1] for name in names])[::-1]  # noqa: RUF071
    if COUNTER in head or COUNTER in tail:
        return None
    others = reader.names_in(folder) - set(names)
    others.update(name for entry in made for name in _numbered_names(entry))
    others.update(entry["path"].rpartition("/")[2] for entry in made)
    for start in (head, f"{head}{len(made) + 1}-"):
        pattern = re.compile(re.escape(start) + "[0-9]+" + re.escape(tail), re.DOTALL)
        template = f"{start}{COUNTER}{tail}"
        mine = {template.replace(COUNTER, str(n)) for n in (1, len(members))}
        if template in others or mine & others or any(pattern.fullmatch(n) for n in others):
            continue  # the numbered names could be taken for another file's
        ages = [reader.age_ns[spec["path"]] for spec in members]
        return {
            "path": f"{folder}/{template}",
            "count": len(members),
            "age": age_text(min(ages)),
            "age_to": age_text(max(ages)),
            "size": round(sum(spec["size"] for spec in members) / len(members)),
        }
    return None


@functools.cache
def _nameless_folders() -> tuple[str, ...]:
    """Folders (runbook paths) whose rules read no name below them: what ``--redact-names``
    hides. Every place of the layout but the states, worktrees, Context7 cache and profile."""
    from pytest_tapps.core._layout import _PLACES, RUNBOOK

    named = {
        "current_state",
        "state_dir",
        "history_dir",
        "backups_dir",
        "worktrees_dir",
        "context7_cache_dir",
        "project_profile",
    }
    folders = [
        f".tapps-agents/{getattr(RUNBOOK, place)}/" for place in _PLACES if place not in named
    ]
    return (*folders, f"{RUNBOOK.project_quality_reports_dir}/", "../outside/")


_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")


def redacted_name(name: str) -> str:
    """A stable stand-in for ``name``: a hash of it, its extension kept (a category's name
    pattern, ``*.jsonl``, still matches); a numbered entry's ``{n}`` kept."""
    import hashlib

    if COUNTER in name:
        head, _, tail = name.partition(COUNTER)
        found = _EXTENSION.search(tail)
        digest = hashlib.sha256(f"{head}\0{tail}".encode(errors="surrogatepass")).hexdigest()
        return f"h{digest[:12]}-{COUNTER}{found.group() if found else ''}"
    found = _EXTENSION.search(name)
    digest = hashlib.sha256(name.encode(errors="surrogatepass")).hexdigest()
    return f"h{digest[:12]}{found.group() if found else ''}"


def redacted_path(path: str) -> str:
    """``path`` with each name below a folder whose rules read no name replaced."""
    for folder in _nameless_folders():
        if path.startswith(folder):
            rest = path[len(folder) :].split("/")
            return folder + "/".join(redacted_name(part) for part in rest)
    return path


def _redact(given: dict[str, Any], then: dict[str, Any], reader: _Reader) -> None:
    """``--redact-names`` over the captured parts (and the paths left out, so that what
    ``then:`` does not pin stays known)."""
    for key in ("files", "folders", "symlinks"):
        for spec in given.get(key, ()):
            spec["path"] = redacted_path(spec["path"])
            if "target" in spec:
                spec["target"] = redacted_path(spec["target"])
    if "plan" in then:
        then["plan"] = dict(
            sorted((redacted_path(path), label) for path, label in then["plan"].items())
        )
    reader.left_out[:] = [redacted_path(path) for path in reader.left_out]
    reader.unpinned[:] = [redacted_path(path) for path in reader.unpinned]


def _resumed(tree: Any, workflow_id: str | None, reader: _Reader) -> str | None:
    """The workflow a ``resume`` is to pin: ``workflow_id``, else the current one; ``None``
    (and said why) when there is none to name."""
    from pytest_tapps.core import StateStore

    if workflow_id is not None:
        return workflow_id
    try:
        store = StateStore(tree)
        state = store.read(store.locate(None))
    except (TappsError, OSError) as exc:
        reader.skipped.append(f"resume: not pinned, no current workflow to resume ({exc})")
        return None
    return state.workflow_id


def _pin_resume(parts: dict[str, Any], workflow: str) -> None:
    """Add ``- resume: WORKFLOW`` to ``when:`` (last: a resume changes the tree the other
    procedures were asked about) and pin what the reference core does: the scenario, replayed
    in a scratch folder (never the live tree), with every agent succeeding. Its exit code
    replaces the status's, whose verdict stays pinned."""
    import tempfile

    from pytest_tapps.core import StateStore
    from pytest_tapps.scenario._export import write_scenario
    from pytest_tapps.scenario._load import load_file, parse
    from pytest_tapps.scenario._run import run_scenario

    then = parts["then"]
    then.pop("exit_code", None)
    then.pop("output_contains", None)
    parts["when"] = [*parts["when"], {"resume": {"workflow": workflow}}]
    with tempfile.TemporaryDirectory(prefix="tapps-capture-") as scratch:
        draft = {**parts, "then": {}}
        path = write_scenario(Path(scratch) / "draft.tapps.yaml", **draft)
        (loaded,) = load_file(path)
        result = run_scenario(loaded, parse(loaded.data), root=Path(scratch) / "replay")
        done = result.last("resume")
        assert done is not None  # noqa: S101 -- the draft's last action
        then["exit_code"] = done.outcome.exit_code
        store = StateStore(result.session.layout)
        try:
            state = store.read(store.locate(workflow))
        except (TappsError, OSError):
            state = None
        if done.outcome.exit_code != 0:
            lines = done.outcome.output.strip().splitlines()
            if lines:
                then["output_contains"] = [_DIGIT.split(lines[0], 1)[0].rstrip()]
        if state is not None:
            then["workflows"] = {
                workflow: {
                    "status": state.status.value,
                    "steps": {
                        step: {"status": execution.status.value}
                        for step, execution in state.latest().items()
                    },
                }
            }
