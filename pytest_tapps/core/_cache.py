"""The Context7 cache, the tiered context cache and the project profile (runbook "Cache
Invalidation and Recovery").

A Context7 entry is a folder ``context7/cache/<library-id>/`` holding its documents and a
``meta.json`` that lists each document with its size and SHA-256::

    {"library_id": "react", "created_at": "2026-01-15T10:30:00Z",
     "files": {"docs.md": {"size": 1234, "sha256": "..."}}}

An entry is corrupt when its metadata is missing or unreadable, names another library, a listed
document is missing, truncated, empty or changed (hash), a JSON or YAML document does not parse,
a file is not listed, or the entry holds a link. ``recover`` removes corrupt entries only, so they
are fetched again on next access; ``warm`` fills missing or corrupt entries from a folder of
documents or a fetcher, and leaves valid ones alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_tapps.core._clock import SYSTEM_CLOCK, Clock, utcnow
from pytest_tapps.core._errors import TappsError, UnsafeNameError
from pytest_tapps.core._fsutil import write_atomic
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._nesting import TOO_DEEP, load_json
from pytest_tapps.core._safedelete import TOMBSTONE_PREFIX, Removal, remove_path, resolves_inside
from pytest_tapps.core._shown import quoted
from pytest_tapps.core._timeutil import to_iso

META = "meta.json"
Documents = Mapping[str, bytes | str]
Fetcher = Callable[[str], Documents]


class CacheError(TappsError):
    """A cache operation that cannot be done as asked."""


class CacheSourceNotFound(CacheError):
    """``warm_from_folder``'s folder does not exist or is no folder: bad input (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class EntryCheck:
    """The verdict on one Context7 entry."""

    library_id: str
    path: Path
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _document(name: object, content: object) -> tuple[str, bytes]:
    """A document's relative name and bytes; a name or content that is neither text nor bytes
    (what a fetcher may return) is refused, naming the document."""
    if not isinstance(name, str):
        message = f"document name {name!r} has type {type(name).__name__}; give text (str)"
        raise CacheError(message)
    if isinstance(content, str):
        try:
            return _document_name(name), content.encode("utf-8")
        except UnicodeEncodeError as exc:
            message = (
                f"document {quoted(name)} is not valid text (a lone surrogate at character "
                f"{exc.start}); give it as UTF-8 text or bytes"
            )
            raise CacheError(message) from None
    if isinstance(content, bytes | bytearray | memoryview):
        return _document_name(name), bytes(content)
    message = f"document {quoted(name)} has type {type(content).__name__}; give text (str) or bytes"
    raise CacheError(message)


def _document_name(name: str) -> str:
    """A document's relative name, refused if it could leave its entry."""
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\0" in name or name == META:
        message = (
            f"document name {quoted(name)} must be a relative path inside the entry (not {META})"
        )
        raise UnsafeNameError(message)
    return pure.as_posix()


def _files(entry: Path) -> Iterator[tuple[str, Path]]:
    for folder, dirs, files in os.walk(entry):
        for name in [*files, *(d for d in dirs if Path(folder, d).is_symlink())]:
            path = Path(folder, name)
            yield path.relative_to(entry).as_posix(), path


def _content_problem(name: str, data: bytes) -> str | None:
    if name.endswith(".json"):
        try:
            load_json(data)
        except (UnicodeDecodeError, ValueError) as exc:
            return f"bad JSON in {name}: {exc}"
    elif name.endswith((".yaml", ".yml")):
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        from pytest_tapps.core._yamlutil import YamlFileError, bounded_load

        try:
            bounded_load(Path(name), data.decode("utf-8"), YAML(typ="safe", pure=True).load)
        except (UnicodeDecodeError, YAMLError) as exc:
            return f"bad YAML in {name}: {' '.join(str(exc).split())}"
        except YamlFileError:
            return f"bad YAML in {name}: {TOO_DEEP}"
    return None


def _document_problem(name: str, path: Path, expected: Any) -> str | None:
    data = path.read_bytes()
    size = expected.get("size") if isinstance(expected, dict) else None
    sha = expected.get("sha256") if isinstance(expected, dict) else None
    if not data:
        return f"empty file {name}"
    if isinstance(size, int) and len(data) < size:
        return f"truncated file {name} ({len(data)} of {size} bytes)"
    if sha != _digest(data):
        return f"hash mismatch in {name}"
    return _content_problem(name, data)


def _read_meta(entry: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        meta = load_json((entry / META).read_bytes())
    except FileNotFoundError:
        return None, f"missing metadata ({META})"
    except (OSError, ValueError) as exc:
        return None, f"bad metadata ({META}): {exc}"
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        return None, f"bad metadata ({META}): no 'files' mapping"
    return meta, None


def check_entry(entry: Path) -> EntryCheck:
    """Every integrity problem of one entry folder."""
    library_id = entry.name
    if entry.is_symlink() or not entry.is_dir():
        kind = "a link" if entry.is_symlink() else "not a folder"
        return EntryCheck(library_id, entry, (f"entry is {kind}",))
    meta, trouble = _read_meta(entry)
    if meta is None:
        return EntryCheck(library_id, entry, (str(trouble),))
    listed: dict[str, Any] = meta["files"]
    problems = []
    if meta.get("library_id") != library_id:
        named = meta.get("library_id")
        problems.append(f"metadata names library {named!r}, folder is {quoted(library_id)}")
    present = {name: path for name, path in _files(entry) if name != META}
    for name, path in present.items():
        if path.is_symlink():
            problems.append(f"{name} is a link")
        elif name not in listed:
            problems.append(f"{name} is not listed in the metadata")
    for name, expected in sorted(listed.items()):
        found = present.get(name)
        if found is None:
            problems.append(f"missing file {name}")
        elif not found.is_symlink():
            problem = _document_problem(name, found, expected)
            if problem is not None:
                problems.append(problem)
    return EntryCheck(library_id, entry, tuple(problems))


def _entries(layout: Layout) -> list[Path]:
    folder = layout.context7_cache_dir
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith((TOMBSTONE_PREFIX, ".tmp-")))


def verify_cache(layout: Layout) -> list[EntryCheck]:
    """The verdict on every Context7 entry."""
    return [check_entry(entry) for entry in _entries(layout)]


def _remove(layout: Layout, path: Path) -> Removal:
    if not resolves_inside(path, layout.tapps_dir):
        message = f"{path}: resolves outside {layout.tapps_dir}; refused"
        raise CacheError(message)
    return remove_path(path, device=path.parent.stat().st_dev)


def invalidate(layout: Layout, library_id: str, *, dry_run: bool = False) -> Removal | None:
    """Remove one library's entry (``rm -rf context7/cache/<id>``, done safely)."""
    path = layout.context7_entry(library_id)  # refuses unsafe ids before anything is touched
    if not (path.exists() or path.is_symlink()):
        return None
    return Removal() if dry_run else _remove(layout, path)


def invalidate_all(layout: Layout, *, dry_run: bool = False) -> dict[str, Removal]:
    """Remove every entry (the runbook's "full cache clear")."""
    return {p.name: (Removal() if dry_run else _remove(layout, p)) for p in _entries(layout)}


def recover(layout: Layout, *, dry_run: bool = False) -> list[EntryCheck]:
    """Remove the corrupt entries only (they are repopulated on next access); return them."""
    corrupt = [check for check in verify_cache(layout) if not check.ok]
    if not dry_run:
        for check in corrupt:
            _remove(layout, check.path)
    return corrupt


def write_entry(
    layout: Layout, library_id: str, documents: Documents, *, clock: Clock = SYSTEM_CLOCK
) -> Path:
    """Write an entry whole: built in a hidden folder, then renamed into place."""
    target = layout.context7_entry(library_id)
    if not documents:
        message = f"library {quoted(library_id)}: no documents to cache"
        raise CacheError(message)
    checked = dict(_document(name, content) for name, content in documents.items())
    folder = layout.context7_cache_dir
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".tmp-{secrets.token_hex(4)}-{library_id}"
    files: dict[str, Any] = {}
    try:
        for relative, data in sorted(checked.items()):
            write_atomic(staging / relative, data)
            files[relative] = {"size": len(data), "sha256": _digest(data)}
        meta = {"library_id": library_id, "created_at": to_iso(utcnow(clock)), "files": files}
        write_atomic(staging / META, (json.dumps(meta, indent=2) + "\n").encode())
        if target.exists() or target.is_symlink():
            _remove(layout, target)
        staging.rename(target)
    except BaseException:
        if staging.exists():
            remove_path(staging, device=folder.stat().st_dev)
        raise
    return target


@dataclass
class WarmReport:
    """What warming did per library."""

    warmed: list[str] = field(default_factory=list)
    already_valid: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def _documents_in(source: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(library id, documents) for each folder (or loose file) of a warming source."""
    for child in sorted(source.iterdir()):
        if child.is_symlink() or child.name.startswith("."):
            continue
        if child.is_dir():
            docs = {
                name: path.read_bytes()
                for name, path in _files(child)
                if path.is_file() and not path.is_symlink()
            }
            yield child.name, docs
        elif child.is_file():
            yield child.stem, {child.name: child.read_bytes()}


def _warm_one(
    layout: Layout,
    library_id: str,
    documents: Callable[[], Documents],
    report: WarmReport,
    clock: Clock,
) -> None:
    try:
        path = layout.context7_entry(library_id)
        if (path.exists() or path.is_symlink()) and check_entry(path).ok:
            report.already_valid.append(library_id)
            return
        write_entry(layout, library_id, documents(), clock=clock)
        report.warmed.append(library_id)
    except (TappsError, OSError, ValueError) as exc:
        report.failed.append((library_id, str(exc)))


def warm_from_folder(layout: Layout, source: Path, *, clock: Clock = SYSTEM_CLOCK) -> WarmReport:
    """Warm from a folder: each subfolder is a library's documents, each loose file a library
    of one document (``react.md`` -> library ``react``)."""
    if not source.is_dir():
        what = "not a folder" if source.exists() else "no such folder"
        message = (
            f"--from {source}: {what}; give a folder of documents (a subfolder per library "
            "id, or a file per library)"
        )
        raise CacheSourceNotFound(message)
    report = WarmReport()
    for library_id, docs in _documents_in(source):
        _warm_one(layout, library_id, functools.partial(dict, docs), report, clock=clock)
    return report


def warm_with(
    layout: Layout, fetcher: Fetcher, library_ids: list[str], *, clock: Clock = SYSTEM_CLOCK
) -> WarmReport:
    """Warm the named libraries with ``fetcher(library_id) -> {name: content}``. A fetcher
    that raises or returns something else than such a mapping fails that library (in
    ``report.failed``, with what it did), and the others are still warmed."""
    report = WarmReport()
    for library_id in library_ids:
        fetch = functools.partial(_fetched, fetcher, library_id)
        _warm_one(layout, library_id, fetch, report, clock=clock)
    return report


def _fetched(fetcher: Fetcher, library_id: str) -> Documents:
    """``fetcher(library_id)``, its failure or a result that is no mapping a :class:`CacheError`."""
    try:
        documents = fetcher(library_id)
    except Exception as exc:  # the caller's code: whatever it raises fails this library only
        message = f"the fetcher raised {type(exc).__name__}: {exc}"
        raise CacheError(message) from None
    if not isinstance(documents, Mapping):
        message = (
            f"the fetcher returned type {type(documents).__name__}, not a mapping of document "
            "names to text or bytes"
        )
        raise CacheError(message)
    return documents


def clear_tiered(layout: Layout, *, dry_run: bool = False) -> list[Path]:
    """Empty the tiered context cache (``rm -rf cache/tiered-context/*``, done safely)."""
    folder = layout.tiered_cache_dir
    if folder is None or not folder.is_dir() or folder.is_symlink():
        return []
    children = sorted(folder.iterdir())
    if not dry_run:
        for child in children:
            _remove(layout, child)
    return children


def clear_profile(layout: Layout, *, dry_run: bool = False) -> Path | None:
    """Remove the project profile (it is rebuilt on next use)."""
    path = layout.project_profile
    if not (path.exists() or path.is_symlink()):
        return None
    if not dry_run:
        _remove(layout, path)
    return path
