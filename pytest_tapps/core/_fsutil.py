"""Crash-safe file writing: a reader sees the old file or the new one, never a partial one."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

TEMP_SUFFIX = ".tmp"

#: ``TAPPS_FSYNC=0`` skips the fsync calls: writes stay atomic (a reader never sees a partial
#: file) but are not made durable against power loss. For simulations and test runs on disks
#: where fsync dominates (the scenario runner sets it); never needed in production.
FSYNC_ENV = "TAPPS_FSYNC"


@contextlib.contextmanager
def fsync_off() -> Iterator[None]:
    """``TAPPS_FSYNC=0`` for the block (and the subprocesses it starts), then as it was."""
    before = os.environ.get(FSYNC_ENV)
    os.environ[FSYNC_ENV] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(FSYNC_ENV, None)
        else:
            os.environ[FSYNC_ENV] = before


def _durable() -> bool:
    return os.environ.get(FSYNC_ENV, "1") != "0"


def temp_name_for(path: Path) -> Path:
    """A fresh hidden temporary name beside ``path`` (same folder, so rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def is_temp_name(name: str) -> bool:
    """True for names made by :func:`temp_name_for`: leftovers of an interrupted write."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _fsync_dir(folder: Path) -> None:
    if not _durable():
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: Path, data: bytes) -> Path:
    temp = temp_name_for(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if _durable():
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    os.close(fd)
    return temp


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file in the same folder, fsync, rename, fsync folder.

    A crash at any point leaves either the old content or the new content at ``path``; at worst
    a hidden ``.NAME.PID.XXXX.tmp`` file stays behind, which readers ignore.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _write_temp(path, data)
    try:
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` only if nothing exists there; return whether it did.

    The file appears complete or not at all (written to a temp name, then hard-linked), so a
    reader never sees it empty or half-written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _write_temp(path, data)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    _fsync_dir(path.parent)
    return True
