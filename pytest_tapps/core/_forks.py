"""Work split over forked processes: :func:`fork_map` (one share each) and :func:`fork_queue`
(chunks taken from a shared pipe as each process finishes one).

A child never returns into its caller: it writes its result to a pipe and exits. Forking is
allowed only while this process runs a single thread, on the real filesystem (:func:`can_fork`).
"""

from __future__ import annotations

import marshal
import os
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R", bound=tuple[object, ...])  # a record: a tuple of plain values


def can_fork() -> bool:
    """Forking is safe only while this process runs a single thread (and fork exists), on the
    real filesystem: under pyfakefs (``os`` here is then its fake module, no module at all) a
    child would delete in its own copy of the fake filesystem, unseen by this process."""
    return isinstance(os, ModuleType) and hasattr(os, "fork") and threading.active_count() == 1


def fork_map(
    shares: list[T], child: Callable[[T], bytes], parent: Callable[[T], None]
) -> list[tuple[bytes, bool]]:
    """Run ``child`` on every share but the first in forked processes, and ``parent`` on the
    first meanwhile; return each child's bytes and whether it finished. A child never returns
    into the caller: it writes its result to a pipe and exits."""
    children: list[tuple[int, int]] = []
    for share in shares[1:]:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            code = 0
            try:
                view = memoryview(child(share))
                while view:
                    view = view[os.write(write_end, view) :]
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_end)
        children.append((pid, read_end))
    parent(shares[0])
    results = []
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        results.append((data, os.waitstatus_to_exitcode(status) == 0))
    return results


def fork_queue(
    count: int, processes: int, work: Callable[[Iterator[range]], list[R]], *, size: int
) -> list[tuple[list[R] | None, bool]]:
    """Run ``work`` in this process and in ``processes - 1`` forked ones (see :func:`fork_map`)
    over ``range(count)`` in chunks of ``size``: each process takes the next chunk from a pipe
    they share as it finishes one, so a process slowed down takes fewer. Return what each
    process's ``work`` returned (a forked one's travels back with :mod:`marshal`: plain values
    only), this one's first, and whether it finished (None when not)."""
    size = max(size, -(-count // _MAX_CHUNKS))
    read_end, write_end = os.pipe()
    try:
        # Every chunk's number is in the pipe before any process reads it (at most 16 KiB, far
        # below a pipe's capacity); each read takes one number whole (reads of a pipe are
        # serialised, and what is left is always whole numbers).
        tokens = memoryview(b"".join(i.to_bytes(4, "little") for i in range(0, count, size)))
        while tokens:
            tokens = tokens[os.write(write_end, tokens) :]
        os.close(write_end)
        write_end = -1

        def chunks() -> Iterator[range]:
            while token := os.read(read_end, 4):
                start = int.from_bytes(token, "little")
                yield range(start, min(start + size, count))

        mine: list[list[R]] = []
        results = fork_map(
            list(range(processes)),
            lambda _: marshal.dumps(work(chunks())),
            lambda _: mine.append(work(chunks())),
        )
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    # Only this process's own forks write these bytes (through pipes only they hold open).
    theirs = [(marshal.loads(data) if ok else None, ok) for data, ok in results]  # noqa: S302
    return [(mine[0], True), *theirs]


#: At most this many chunks in :func:`fork_queue`'s pipe (4 bytes each).
_MAX_CHUNKS = 4096
