"""Which files a live process holds a lock on, from ``/proc/locks``, read on a thread.

Its own small module (it imports ``os``, ``threading`` and ``time``): ``tapps cleanup`` starts the
read before its command line and cleanup engine load, because the first read in a while waits
for the kernel (an RCU grace period: 5-25 ms measured), which their loading then overlaps
(docs/performance.md). A command that stops before its pass drops the read (:func:`drop_ahead`).

Under a fake filesystem (pyfakefs) the read stays on the calling thread: no thread may touch a
fake filesystem while another uses it (see :class:`LockReader`).
"""

from __future__ import annotations

import os
import threading
import time
from types import ModuleType  # loaded with threading: costs nothing at start


def locked_inodes() -> set[tuple[int, int]] | None:
    """``(st_dev, st_ino)`` of every file with a lock held by any process (``/proc/locks``).

    ``None`` where ``/proc/locks`` cannot be read (then callers probe each file: ``is_locked``).
    """
    try:
        # open(), not pathlib: this module loads before the rest of ``tapps cleanup``; UTF-8,
        # whose codec is loaded at start (the ascii one would be imported: 0.5 ms).
        with open("/proc/locks", encoding="utf-8", errors="replace") as file:  # noqa: PTH123
            text = file.read()
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


def on_real_os() -> bool:
    """Whether ``os`` is the real module here. pyfakefs puts an object of its own in place of
    every module's ``os`` while a fake filesystem is active (the core never imports it)."""
    return isinstance(os, ModuleType)


class LockReader:
    """``/proc/locks``, read on a thread, which a pass spends on other work; its first decision
    joins the thread, as does any fork (only one thread may run then).

    On a fake filesystem it reads at once, on the calling thread: pyfakefs is not thread-safe,
    and on Python 3.13 a thread that merely formats a stack there switches every fake ``os``
    call, in all threads, to the real one for that moment (a class-wide flag), so the pass's
    own listings would look at the real disk and find nothing."""

    def __init__(self) -> None:
        self._found: set[tuple[int, int]] | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if on_real_os():
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        else:
            self._read()

    def _read(self) -> None:
        try:
            self._found = locked_inodes()
        except BaseException as exc:  # raised again in the thread that asks
            self._error = exc

    def wait(self) -> None:
        """Wait for the read to end (a pass ends so: no thread of it outlives it)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def result(self) -> set[tuple[int, int]] | None:
        """The locked inodes, as :func:`locked_inodes` returns them."""
        self.wait()
        if self._error is not None:
            raise self._error
        return self._found


#: A reader started by :func:`read_locks_ahead`, and when (``time.monotonic``).
_ahead: tuple[LockReader, float] | None = None
#: How old a read started ahead may be when a pass takes it.
_AHEAD_SECONDS = 1.0


def read_locks_ahead() -> None:
    """Start reading ``/proc/locks`` now, for this process's next pass to take: a command line
    about to clean calls this before it loads the rest of itself."""
    global _ahead  # noqa: PLW0603 -- one read in flight per process
    _ahead = (LockReader(), time.monotonic())  # clock: real time, the age of an OS snapshot


def lock_reader() -> LockReader:
    """The read :func:`read_locks_ahead` started, if in the last second; else a new one."""
    global _ahead
    found, _ahead = _ahead, None
    if found is not None:
        reader, started = found
        if time.monotonic() - started < _AHEAD_SECONDS:  # clock: real time, as above
            return reader
        reader.wait()
    return LockReader()


def drop_ahead() -> None:
    """Forget a read started ahead that no pass took (its command stopped before its pass: bad
    input, ``--help``): its thread is joined, and a later pass in this process reads anew
    rather than take a snapshot from before that pass began."""
    global _ahead
    found, _ahead = _ahead, None
    if found is not None:
        found[0].wait()
