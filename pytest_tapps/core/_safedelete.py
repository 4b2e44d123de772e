"""Deleting files and folders the way a cleanup tool must.

- Never follow a symlink: a link is removed as a link, its target untouched. Removals work
  relative to an open folder descriptor, so a folder below it swapped for a link mid-run is
  not followed; :func:`remove_walked` starts from the descriptor its caller holds (the
  one-pass cleanup's category and worktrees folders), :func:`remove_path` from the parent it
  opens by path (a link swapped into that path in between would be followed).
- Never cross a mount point: a folder on another device is left alone and reported.
- Never leave the boundary folder: a path whose parent resolves outside it is refused.
- Skip what a live process has locked (``flock``/``fcntl`` locks, read from ``/proc/locks``).
- Keep going past what cannot be deleted, and report it.
- A folder is first renamed to a hidden tombstone beside it, then emptied: it disappears at once,
  and a run killed half-way leaves a tombstone that the next run finishes. A tombstone is named
  ``.tapps-deleting-<pid>-<time>-<random>-<name>`` (:func:`tombstone_name`): the process that
  made it and when (8 hex digits of UNIX seconds), so that only a real folder of that exact
  form, whose maker is gone, is taken for an unfinished deletion (:func:`tombstone_busy`).
  What cannot be removed is reported under the path the user knows (``run-1/sub``), with where
  it now is (the tombstone).
- Walks (for a folder's age) go through descriptors too: each entry ``lstat``-ed relative to its
  open folder, each subfolder opened relative to its parent, never through a link. A folder
  removed right after its walk (:func:`remove_walked`) is emptied from that walk's listing, while
  its tombstone is still the folder walked; what was added since is listed and removed too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pytest_tapps.core._clock import SYSTEM_CLOCK
from pytest_tapps.core._record import Record

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TypeAlias

    #: A folder's entries: the names of its files (and links, and anything but folders), and
    #: its folders, each with its own listing when known.
    Listing: TypeAlias = tuple[list[str], list[tuple[str, "Listing | None"]]]

TOMBSTONE_PREFIX = ".tapps-deleting-"
_TOMBSTONE = re.compile(
    r"\.tapps-deleting-([1-9][0-9]{0,9})-([0-9a-f]{8})-[0-9a-f]{8}-.", re.DOTALL
)
#: A tombstone whose maker still runs is left to it for this long (after that its pid is taken
#: for a reused one, and the tombstone is finished).
TOMBSTONE_GRACE = 86400.0
_NAME_MAX = 255  # bytes in one file name (Linux, macOS)


class Removal(Record):
    """What one removal did: counts, and the paths it could not remove with the reason."""

    __slots__ = ("bytes", "failures", "files", "folders", "vanished")

    def __init__(self) -> None:
        self.files = self.folders = self.bytes = 0
        self.vanished = False
        self.failures: list[tuple[Path, str]] = []

    @property
    def ok(self) -> bool:
        return not self.failures


def is_locked(
    path: str | os.PathLike[str],
    st: os.stat_result,
    locks: set[tuple[int, int]] | None,
    *,
    dir_fd: int | None = None,
) -> bool:
    """Whether a live process holds a lock on this file (``path`` relative to ``dir_fd`` when
    given): from ``locks`` (the locked inodes of /proc/locks: any lock), or, where that could
    not be read, by probing the file for an exclusive lock of both kinds a program takes,
    ``flock`` (a log's) and POSIX ``fcntl`` (a database's writer's): neither probe sees the
    other kind. The probes take shared locks, so a shared lock of another process is seen only
    through /proc/locks; a file that cannot be opened, or whose filesystem cannot lock (NFS
    without its lock daemon), reads as not locked."""
    if locks is not None:
        return (st.st_dev, st.st_ino) in locks
    import errno
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        # A shared POSIX lock of our own, given back at once by the close below (a process's
        # POSIX locks on a file go with any of its descriptors of it: this one is the only).
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:  # EAGAIN or EACCES: another process's lock; else no way to tell
        return exc.errno in (errno.EAGAIN, errno.EACCES)
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


class TreeStats(NamedTuple):
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
    counted, never followed; what vanishes during the walk (or is no folder any more) is passed
    over. (:class:`Walked` walks it.)"""
    try:
        fd = open_folder(path)
    except OSError as exc:
        gone = isinstance(exc, FileNotFoundError) or exc.errno in (errno.ELOOP, errno.ENOTDIR)
        unreadable = None if gone else ("", exc.strerror or str(exc))
        return TreeStats(None, 0, 0, False, False, unreadable)
    try:
        return Walked(fd, os.fstat(fd), device, locks).stats()
    finally:
        os.close(fd)


def _fail(removal: Removal, path: Path, exc: OSError) -> None:
    removal.failures.append((path, exc.strerror or str(exc)))


_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def open_folder(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
    """Open a folder for the ``*at`` calls, never through a link. (pyfakefs answers ENOTDIR for
    a folder the user may not read; the real error, EACCES, is raised instead.)"""
    try:
        return os.open(path, _FOLDER, dir_fd=dir_fd)
    except NotADirectoryError:
        try:
            st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            st = None
        if st is None or not stat.S_ISDIR(st.st_mode):
            raise
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path)) from None


def _open_folder_at(
    parent_fd: int, name: str, where: str, device: int, removal: Removal
) -> int | None:
    """Open the folder ``name`` to empty it, never through a link; None when there is nothing
    to empty (gone; swapped for a link or a file, which is unlinked; a mount point or an error,
    which is reported)."""
    try:
        fd = open_folder(name, dir_fd=parent_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link or a file: unlink it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=parent_fd)
                removal.files += 1
            return None
        _fail(removal, Path(where), exc)
        return None
    try:
        mounted = os.fstat(fd).st_dev != device
    except BaseException:
        os.close(fd)
        raise
    if mounted:
        os.close(fd)
        removal.failures.append((Path(where), "a mount point: not crossed"))
        return None
    return fd


def _empty_folder(
    parent_fd: int,
    name: str,
    where: str,
    device: int,
    removal: Removal,
    *,
    listing: Listing | None = None,
) -> None:
    """Remove everything below ``name`` (relative to ``parent_fd``), then ``name`` itself.

    ``where`` is the folder's path, used only in failure reports (paths are built lazily: this
    runs per file of every removed tree). ``listing`` is what :func:`walk_at` found in it, if it
    was walked just before: then it is not listed again, unless something was added since (its
    ``rmdir`` finds it not empty)."""
    fd = _open_folder_at(parent_fd, name, where, device, removal)
    if fd is None:
        return
    walked, failures = listing is not None, len(removal.failures)
    try:
        if listing is None:
            listing = [], []
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        listing[1].append((entry.name, None))
                    else:
                        listing[0].append(entry.name)
        _empty_open(fd, where, device, removal, listing)
    finally:
        os.close(fd)
    relist = walked and len(removal.failures) == failures
    _remove_emptied(parent_fd, name, where, device, removal, relist=relist)


def _empty_open(fd: int, where: str, device: int, removal: Removal, listing: Listing) -> None:
    """Remove the entries of ``listing`` from the open folder ``fd`` (folders with their
    content)."""
    files, folders = listing
    unlink, removed = os.unlink, 0
    for child in files:
        try:
            unlink(child, dir_fd=fd)
        except FileNotFoundError:
            continue
        except IsADirectoryError:  # a folder now, where the listing had a file
            _empty_folder(fd, child, f"{where}{os.sep}{child}", device, removal)
        except OSError as exc:
            _fail(removal, Path(where, child), exc)
        else:
            removed += 1
    removal.files += removed
    for child, below in folders:
        _empty_folder(fd, child, f"{where}{os.sep}{child}", device, removal, listing=below)


def _remove_emptied(
    parent_fd: int, name: str, where: str, device: int, removal: Removal, *, relist: bool
) -> None:
    """``rmdir`` a folder just emptied. Not empty, with ``relist`` (it was emptied from an
    earlier listing, and nothing failed in it): what was added since is listed and removed."""
    try:
        os.rmdir(name, dir_fd=parent_fd)
        removal.folders += 1
    except FileNotFoundError:
        pass
    except OSError as exc:
        if relist and exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            _empty_folder(parent_fd, name, where, device, removal)
        elif not removal.failures:
            _fail(removal, Path(where), exc)


@contextlib.contextmanager
def _depth_guard(removal: Removal, where: str) -> Iterator[None]:
    """Emptying recurses once per level: a tree nested deeper than Python's recursion limit
    allows (about 490 levels) is reported as a failure of its own removal, not an error that
    stops the whole run; what was removed stays removed, the rest stays in its tombstone."""
    try:
        yield
    except RecursionError:
        message = "nested too deep to remove (over ~490 folder levels); remove the rest by hand"
        removal.failures.append((Path(where), message))


def tombstone_name(name: str) -> str:
    """``.tapps-deleting-<pid>-<time>-<random>-<name>``, the name cut to fit in 255 bytes."""
    # os.urandom, as secrets.token_hex does, without importing secrets (hashlib, OpenSSL): the
    # command line starts faster.
    made = int(SYSTEM_CLOCK.time()) & 0xFFFFFFFF  # real time: whatever clock a cleanup runs on
    head = f"{TOMBSTONE_PREFIX}{os.getpid()}-{made:08x}-{os.urandom(4).hex()}-"
    raw = os.fsencode(name)
    room = _NAME_MAX - len(head)
    return head + (name if len(raw) <= room else os.fsdecode(raw[:room]))


def tombstone_maker(name: str) -> tuple[int, int] | None:
    """``(pid, UNIX time)`` of the process that made a tombstone of this name, or None when
    :func:`tombstone_name` does not make such names (a user's ``.tapps-deleting-notes``)."""
    if not name.startswith(TOMBSTONE_PREFIX):
        return None
    found = _TOMBSTONE.match(name)
    return None if found is None else (int(found[1]), int(found[2], 16))


def is_tombstone(entry: os.DirEntry[str]) -> bool:
    """Whether a listed entry is a tombstone: a folder (not a link to one) whose name
    :func:`tombstone_name` made."""
    return tombstone_maker(entry.name) is not None and entry.is_dir(follow_symlinks=False)


def tombstone_busy(name: str) -> int | None:
    """The pid of the process that made tombstone ``name`` if it still runs (and is not this
    one) and made it less than :data:`TOMBSTONE_GRACE` ago: another cleanup may be emptying it
    now. None when the tombstone is an unfinished deletion to finish. The grace is real time,
    as the tombstone's own time is: a cleanup's ``--now`` says how old files are, not how long
    another process has been at work."""
    made = tombstone_maker(name)
    if made is None:
        return None
    pid, when = made
    if pid == os.getpid() or SYSTEM_CLOCK.time() - when >= TOMBSTONE_GRACE:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, another user's
    except (OSError, OverflowError):  # no such process can exist
        return None
    return pid


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
        if tombstone_maker(name) is None:  # a tombstone is finished where it is
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
        with _depth_guard(removal, os.fspath(path)):
            _empty_folder(parent_fd, name, os.fspath(path), device, removal)
        _moved_aside(removal, path.name, name)
    finally:
        os.close(parent_fd)
    return removal


def _moved_aside(removal: Removal, name: str, tomb: str) -> None:
    """Failures name the paths the user knows; say where what is left of them went."""
    if tomb != name and removal.failures:
        aside = f"; what is left of {name} was moved aside to {tomb} (the next cleanup retries it)"
        removal.failures[:] = [(where, why + aside) for where, why in removal.failures]


class Walked:
    """A folder walked through descriptors, left open: its descriptor ``fd`` (the caller
    closes it), its own ``fstat`` ``st``, what the walk found (the fields of
    :class:`TreeStats`), and its ``listing``, from which :func:`remove_walked` removes it
    without listing it again.

    Every entry is ``lstat``-ed relative to its open folder and every subfolder opened relative
    to its parent, never through a link. The walk goes depth first, last subfolder first, with a
    descriptor open per level (no recursion: any depth)."""

    __slots__ = (
        "_device",
        "_locks",
        "fd",
        "files",
        "listing",
        "locked",
        "mounts",
        "newest_mtime",
        "size",
        "st",
        "unreadable",
    )

    def __init__(
        self, fd: int, st: os.stat_result, device: int, locks: set[tuple[int, int]] | None
    ) -> None:
        self.fd, self.st, self._device, self._locks = fd, st, device, locks
        self.newest_mtime: float | None = None
        self.size = self.files = 0
        self.locked = self.mounts = False
        self.unreadable: tuple[str, str] | None = None
        self.listing, walked = self._folder(fd, "")
        # A frame per open level: its descriptor, where it is, its listing, the subfolders left.
        stack = [(fd, "", self.listing, reversed(walked))]
        try:
            while stack:
                parent_fd, above, listing, left = stack[-1]
                index = next(left, None)
                if index is None:
                    stack.pop()
                    if parent_fd != fd:
                        os.close(parent_fd)
                    continue
                name = listing[1][index][0]
                below = f"{above}{os.sep}{name}" if above else name
                try:
                    child_fd = open_folder(name, dir_fd=parent_fd)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):  # not swapped for a link
                        self._cannot_read(below, exc)
                    continue
                try:
                    child, walked = self._folder(child_fd, below)
                except BaseException:
                    os.close(child_fd)
                    raise
                listing[1][index] = (name, child)
                stack.append((child_fd, below, child, reversed(walked)))
        finally:
            for open_fd, *_ in stack:
                if open_fd != fd:
                    os.close(open_fd)

    def stats(self) -> TreeStats:
        """What the walk found, as :func:`walk_stats` tells it."""
        return TreeStats(
            self.newest_mtime, self.size, self.files, self.locked, self.mounts, self.unreadable
        )

    def _cannot_read(self, below: str, exc: OSError) -> None:
        if self.unreadable is None:
            self.unreadable = (below, exc.strerror or str(exc))

    def _folder(self, fd: int, below: str) -> tuple[Listing, list[int]]:
        """List the open folder ``fd`` (``below`` the top) and ``lstat`` its entries relative to
        it; its listing, and where in the listing's folders are those to walk. (This loop runs
        per file of every worktree: what it uses is bound to locals.)"""
        try:
            with os.scandir(fd) as entries:
                found = list(entries)
        except OSError as exc:
            self._cannot_read(below, exc)
            return ([], []), []
        files: list[str] = []
        folders: list[tuple[str, Listing | None]] = []
        walked: list[int] = []
        device, locks = self._device, self._locks
        probe = locks is None  # /proc/locks unreadable: each regular file is probed (is_locked)
        held = locks or None  # the locked inodes, when any lock is held on the system
        is_dir, is_reg = stat.S_ISDIR, stat.S_ISREG
        newest, size = self.newest_mtime, self.size
        for entry in found:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._cannot_read(f"{below}{os.sep}{entry.name}" if below else entry.name, exc)
                continue
            if is_dir(st.st_mode):
                if st.st_dev != device:
                    self.mounts = True  # listed, not walked: its removal refuses it
                else:
                    walked.append(len(folders))
                folders.append((entry.name, None))
                continue
            files.append(entry.name)
            size += st.st_size
            if newest is None or st.st_mtime > newest:
                newest = st.st_mtime
            if held is not None:
                if (st.st_dev, st.st_ino) in held and is_reg(st.st_mode):
                    self.locked = True
            elif probe and not self.locked and is_reg(st.st_mode):
                self.locked = is_locked(entry.name, st, None, dir_fd=fd)
        self.newest_mtime, self.size, self.files = newest, size, self.files + len(files)
        return (files, folders), walked


def walk_at(
    parent_fd: int, name: str, device: int, locks: set[tuple[int, int]] | None
) -> Walked | None:
    """Open the folder ``name`` (relative to ``parent_fd``) and walk it, keeping it open and
    its listing for :func:`remove_walked`. None when it cannot be opened as a folder on
    ``device`` (a link, a file, a mount point, no permission, gone): the caller takes the
    path-based way, which tells those apart."""
    try:
        fd = open_folder(name, dir_fd=parent_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_dev == device:
            return Walked(fd, st, device, locks)
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def remove_walked(parent_fd: int, name: str, walked: Walked, where: str, device: int) -> Removal:
    """Remove the folder ``name`` (relative to ``parent_fd``) that :func:`walk_at` has just
    walked, as :func:`remove_path` does: renamed to a tombstone, then emptied. While the
    tombstone is the folder walked, that is through its open descriptor and from the walk's
    listing (what was added since is listed and removed too); otherwise it is listed anew."""
    removal = Removal()
    tomb = tombstone_name(name)
    try:
        os.rename(name, tomb, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
    except FileNotFoundError:
        removal.vanished = True
        return removal
    except OSError as exc:
        _fail(removal, Path(where), exc)
        return removal
    try:
        now = os.stat(tomb, dir_fd=parent_fd, follow_symlinks=False)
    except OSError:
        now = None
    with _depth_guard(removal, where):
        if now is not None and (now.st_dev, now.st_ino) == (walked.st.st_dev, walked.st.st_ino):
            _empty_open(walked.fd, where, device, removal, walked.listing)
            relist = not removal.failures
            _remove_emptied(parent_fd, tomb, where, device, removal, relist=relist)
        else:
            _empty_folder(parent_fd, tomb, where, device, removal)
    _moved_aside(removal, name, tomb)
    return removal
