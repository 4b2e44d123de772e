"""Deleting files and folders the way a cleanup tool must.

- Never follow a symlink: a link is removed as a link, its target untouched (all removals work
  relative to an open folder descriptor, so a folder swapped for a link mid-run is not followed).
- Never cross a mount point: a folder on another device is left alone and reported.
- Never leave the boundary folder: a path whose parent resolves outside it is refused.
- Skip what a live process has locked (``flock``/``fcntl`` locks, read from ``/proc/locks``).
- Keep going past what cannot be deleted, and report it.
- A folder is first renamed to a hidden tombstone beside it, then emptied: it disappears at once,
  and a run killed half-way leaves a tombstone that the next run finishes. What cannot be removed
  is reported under the path the user knows (``run-1/sub``), with where it now is (the tombstone).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

TOMBSTONE_PREFIX = ".tapps-deleting-"


@dataclass
class Removal:
    """What one removal did: counts, and the paths it could not remove with the reason."""

    files: int = 0
    folders: int = 0
    bytes: int = 0
    vanished: bool = False
    failures: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def locked_inodes() -> set[tuple[int, int]] | None:
    """``(st_dev, st_ino)`` of every file with a lock held by any process (``/proc/locks``).

    ``None`` where ``/proc/locks`` cannot be read (then callers probe with ``flock``).
    """
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        return None
    found = set()
    for line in text.splitlines():
        for token in line.split():
            parts = token.split(":")
            if len(parts) == 3 and all(parts):  # MAJOR:MINOR:INODE, major and minor in hex
                try:
                    device = os.makedev(int(parts[0], 16), int(parts[1], 16))
                    found.add((device, int(parts[2])))
                except ValueError:
                    continue
                break
    return found


def is_locked(
    path: str | os.PathLike[str], st: os.stat_result, locks: set[tuple[int, int]] | None
) -> bool:
    """Whether a live process holds a lock on this file."""
    if locks is not None:
        return (st.st_dev, st.st_ino) in locks
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def resolves_inside(path: Path, boundary: Path) -> bool:
    """Whether ``path``'s parent folder, with every link resolved, lies inside ``boundary``."""
    try:
        parent = Path(os.path.realpath(path.parent))
        root = Path(os.path.realpath(boundary))
    except OSError:
        return False
    return parent == root or parent.is_relative_to(root)


@dataclass(frozen=True)
class TreeStats:
    """What a walk of a folder found: newest file time, total size, locked files, mounts, and
    the first part that could not be read (``(path relative to the folder, error)``; ``""`` for
    the folder itself), if any: then the newest time is only a lower bound."""

    newest_mtime: float | None
    size: int
    files: int
    locked: bool
    mounts: bool
    unreadable: tuple[str, str] | None = None


def walk_stats(
    path: str | os.PathLike[str], device: int, locks: set[tuple[int, int]] | None
) -> TreeStats:
    """Newest mtime of the files (not folders) below ``path``, their size, whether any is
    locked or a folder below sits on another device, and the first part that could not be read
    (a folder that cannot be listed, an entry that cannot be stat-ed: permissions). Links are
    counted, never followed; what vanishes during the walk is passed over."""
    newest: float | None = None
    size = files = 0
    locked = mounts = False
    unreadable: tuple[str, str] | None = None
    root = os.fspath(path)
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except FileNotFoundError:
            continue
        except OSError as exc:
            unreadable = unreadable or (_below(root, folder), exc.strerror or str(exc))
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                unreadable = unreadable or (_below(root, entry.path), exc.strerror or str(exc))
                continue
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev != device:
                    mounts = True
                else:
                    stack.append(entry.path)
                continue
            files += 1
            size += st.st_size
            if newest is None or st.st_mtime > newest:
                newest = st.st_mtime
            if not locked and stat.S_ISREG(st.st_mode) and is_locked(entry.path, st, locks):
                locked = True
    return TreeStats(newest, size, files, locked, mounts, unreadable)


def _below(root: str, path: str) -> str:
    """``path`` relative to ``root`` (``""`` for ``root`` itself)."""
    return path[len(root) :].lstrip(os.sep)


def _fail(removal: Removal, path: Path, exc: OSError) -> None:
    removal.failures.append((path, exc.strerror or str(exc)))


def _empty_folder(parent_fd: int, name: str, where: str, device: int, removal: Removal) -> None:
    """Remove everything below ``name`` (relative to ``parent_fd``), then ``name`` itself.

    ``where`` is the folder's path, used only in failure reports (paths are built lazily: this
    runs per file of every removed tree)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link or a file: unlink it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=parent_fd)
                removal.files += 1
            return
        _fail(removal, Path(where), exc)
        return
    try:
        if os.fstat(fd).st_dev != device:
            removal.failures.append((Path(where), "a mount point: not crossed"))
            return
        with os.scandir(fd) as entries:
            listed = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
        unlink = os.unlink
        for child, is_dir in listed:
            if is_dir:
                _empty_folder(fd, child, f"{where}{os.sep}{child}", device, removal)
                continue
            try:
                unlink(child, dir_fd=fd)
                removal.files += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                _fail(removal, Path(where, child), exc)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=parent_fd)
        removal.folders += 1
    except FileNotFoundError:
        pass
    except OSError as exc:
        if not removal.failures:
            _fail(removal, Path(where), exc)


def tombstone_name(name: str) -> str:
    return f"{TOMBSTONE_PREFIX}{secrets.token_hex(4)}-{name}"


def remove_path(path: Path, *, device: int) -> Removal:
    """Remove a file, a link (as a link) or a folder tree at ``path``, safely (module docs)."""
    removal = Removal()
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        removal.vanished = True
        return removal
    except OSError as exc:
        _fail(removal, path, exc)
        return removal
    try:
        parent_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        _fail(removal, path, exc)
        return removal
    try:
        if not stat.S_ISDIR(st.st_mode):
            try:
                os.unlink(path.name, dir_fd=parent_fd)
                removal.files += 1
                removal.bytes += st.st_size
            except FileNotFoundError:
                removal.vanished = True
            except OSError as exc:
                _fail(removal, path, exc)
            return removal
        if st.st_dev != device:
            removal.failures.append((path, "a mount point: not crossed"))
            return removal
        name = path.name
        if not name.startswith(TOMBSTONE_PREFIX):
            tomb = tombstone_name(name)
            try:
                os.rename(name, tomb, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
                name = tomb
            except FileNotFoundError:
                removal.vanished = True
                return removal
            except OSError as exc:
                _fail(removal, path, exc)
                return removal
        _empty_folder(parent_fd, name, os.fspath(path), device, removal)
        if name != path.name and removal.failures:
            # Failures name the paths the user knows; say where what is left of them went.
            aside = (
                f"; what is left of {path.name} was moved aside to {name} "
                "(the next cleanup retries it)"
            )
            removal.failures[:] = [(where, why + aside) for where, why in removal.failures]
    finally:
        os.close(parent_fd)
    return removal
