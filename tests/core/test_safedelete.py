"""Tests for pytest_tapps.core._safedelete: walking through descriptors, removing from a walk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_tapps.core._safedelete import (
    TOMBSTONE_PREFIX,
    Walked,
    remove_walked,
    walk_at,
    walk_stats,
)
from tests.helpers import aged_file, snapshot

NOW = 1768473000.0  # 2026-01-15T10:30:00Z


@pytest.fixture
def parent(tmp_path: Path) -> Iterator[int]:
    """The test's folder, open for the ``*at`` calls."""
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def _walk(parent: int, tmp_path: Path, name: str) -> Walked:
    walked = walk_at(parent, name, tmp_path.stat().st_dev, set())
    assert walked is not None
    return walked


def _tree(root: Path) -> None:
    """Files at two depths, a link to a file and a link to a folder outside."""
    aged_file(root / "a.py", age=10, now=NOW, content=b"12345")
    aged_file(root / "src/deep/b.py", age=5, now=NOW, content=b"123")
    (root / "src/empty").mkdir()
    outside = aged_file(root.parent / "outside/big.bin", age=0, now=NOW, content=b"x" * 100)
    (root / "link-to-file").symlink_to(outside)
    (root / "src/link-to-folder").symlink_to(outside.parent)


def test_a_walk_finds_what_walk_stats_finds(tmp_path: Path, parent: int) -> None:
    """Newest time, size and count of the files below, links counted and never followed."""
    _tree(tmp_path / "wt")
    walked = _walk(parent, tmp_path, "wt")
    os.close(walked.fd)
    found = walked.stats()
    expected = walk_stats(tmp_path / "wt", tmp_path.stat().st_dev, set())
    assert found == expected
    links = [tmp_path / "wt/link-to-file", tmp_path / "wt/src/link-to-folder"]
    newest = max(NOW - 5, *(link.lstat().st_mtime for link in links))  # a link's own time
    assert (found.files, found.size, found.newest_mtime) == (
        4,
        8 + sum(link.lstat().st_size for link in links),
        newest,
    )
    assert (tmp_path / "outside/big.bin").exists()


def test_a_link_or_a_file_is_not_walked(tmp_path: Path, parent: int) -> None:
    """walk_at opens folders only, never through a link: the caller takes the path-based way."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "file").write_text("x")
    device = tmp_path.stat().st_dev
    assert [walk_at(parent, name, device, set()) for name in ("link", "file", "gone")] == [
        None,
        None,
        None,
    ]


def test_removal_from_the_walk_leaves_nothing(tmp_path: Path, parent: int) -> None:
    """The folder goes, links inside go as links, their targets stay."""
    _tree(tmp_path / "wt")
    walked = _walk(parent, tmp_path, "wt")
    try:
        removal = remove_walked(parent, "wt", walked, str(tmp_path / "wt"), walked.st.st_dev)
    finally:
        os.close(walked.fd)
    assert (removal.ok, removal.vanished, removal.files, removal.folders) == (True, False, 4, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside"]
    assert (tmp_path / "outside/big.bin").read_bytes() == b"x" * 100


def test_what_is_added_after_the_walk_is_removed_too(tmp_path: Path, parent: int) -> None:
    """A file or folder made between the walk and the removal is listed again and removed, as
    a removal that lists at once would have removed it."""
    _tree(tmp_path / "wt")
    walked = _walk(parent, tmp_path, "wt")
    aged_file(tmp_path / "wt/src/deep/new.py", age=0, now=NOW)
    aged_file(tmp_path / "wt/later/c.py", age=0, now=NOW)
    try:
        removal = remove_walked(parent, "wt", walked, str(tmp_path / "wt"), walked.st.st_dev)
    finally:
        os.close(walked.fd)
    assert (removal.ok, removal.failures) == (True, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside"]


def test_a_folder_swapped_after_the_walk_is_removed_as_found(tmp_path: Path, parent: int) -> None:
    """When the folder at the name is not the one walked any more, what is there now is listed
    and removed (as the path-based removal does); the walked folder, moved away, is untouched."""
    _tree(tmp_path / "wt")
    walked = _walk(parent, tmp_path, "wt")
    (tmp_path / "wt").rename(tmp_path / "moved")
    aged_file(tmp_path / "wt/other.txt", age=0, now=NOW)
    before = snapshot(tmp_path / "moved")
    try:
        removal = remove_walked(parent, "wt", walked, str(tmp_path / "wt"), walked.st.st_dev)
    finally:
        os.close(walked.fd)
    assert removal.ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moved", "outside"]
    assert snapshot(tmp_path / "moved") == before


def test_a_folder_gone_before_its_removal_has_vanished(tmp_path: Path, parent: int) -> None:
    """Nothing at the name any more: the removal says it vanished and leaves no tombstone."""
    _tree(tmp_path / "wt")
    walked = _walk(parent, tmp_path, "wt")
    (tmp_path / "wt").rename(tmp_path / "moved")
    try:
        removal = remove_walked(parent, "wt", walked, str(tmp_path / "wt"), walked.st.st_dev)
    finally:
        os.close(walked.fd)
    assert (removal.vanished, removal.failures) == (True, [])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TOMBSTONE_PREFIX)]


_DEEP = textwrap.dedent(
    """
    import os, sys
    from pytest_tapps.core._safedelete import walk_at

    top = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open("wt", os.O_RDONLY | os.O_DIRECTORY, dir_fd=top)
    for _ in range(300):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(os.open("f.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)
    sys.setrecursionlimit(100)
    walked = walk_at(top, "wt", os.fstat(top).st_dev, set())
    print(walked.files, walked.unreadable)
    """
)


def test_a_deep_tree_is_walked_without_recursion(tmp_path: Path) -> None:
    """A folder deeper than the recursion limit is walked (a descriptor per level, a loop)."""
    (tmp_path / "wt").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _DEEP, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["1", "None"]


_QUEUE = textwrap.dedent(
    """
    import json, os, sys, time
    from pytest_tapps.core._cleanup import fork_queue

    def work(chunks):
        done = []
        for chunk in chunks:
            time.sleep(0.005)  # time for the other process to take some
            done += [(os.getpid(), i) for i in chunk]
        if sys.argv[1] == "die" and os.getpid() != parent:
            os._exit(3)
        return done

    parent = os.getpid()
    results = fork_queue(103, 2, work, size=4)
    print(json.dumps([[records, ok] for records, ok in results]))
    """
)


@pytest.mark.parametrize("mode", ["ok", "die"])
def test_fork_queue_hands_out_every_chunk_once(mode: str) -> None:
    """Every index goes to exactly one process, both take some; a process that dies is
    reported as not finished, with nothing from it."""
    done = subprocess.run(
        [sys.executable, "-c", _QUEUE, mode], capture_output=True, text=True, check=True
    )
    (mine, mine_ok), (theirs, theirs_ok) = json.loads(done.stdout)
    assert mine_ok
    if mode == "die":
        assert (theirs, theirs_ok) == (None, False)
        return
    assert theirs_ok
    indexes = sorted(i for _, i in [*mine, *theirs])
    assert indexes == list(range(103))
    assert len({pid for pid, _ in mine}) == len({pid for pid, _ in theirs}) == 1


_MANY = textwrap.dedent(
    """
    import json
    from pytest_tapps.core._forks import _MAX_CHUNKS, fork_queue

    def work(chunks):
        return [(chunk.start, chunk.stop) for chunk in chunks]

    results = fork_queue(100_000, 2, lambda chunks: work(chunks), size=1)
    ranges = sorted(r for records, ok in results for r in records)
    print(json.dumps([len(ranges), _MAX_CHUNKS, ranges[0], ranges[-1]]))
    """
)


def test_fork_queue_caps_its_chunks_so_the_queue_fits_its_pipe() -> None:
    """100,000 items asked in chunks of 1 are handed out in at most _MAX_CHUNKS chunks (all
    their numbers must fit in the pipe before any process reads it, or the run would hang)."""
    done = subprocess.run(
        [sys.executable, "-c", _MANY], capture_output=True, text=True, check=True, timeout=60
    )
    chunks, cap, first, last = json.loads(done.stdout)
    assert chunks <= cap
    assert first[0] == 0
    assert last[1] == 100_000
