"""/proc/locks, read on a thread: the read a command line starts ahead of its pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_tapps.core import _proclocks
from pytest_tapps.core._proclocks import LockReader, lock_reader, read_locks_ahead
from tests.helpers import flock_held


def test_a_pass_takes_the_read_started_ahead_once() -> None:
    """The read a command line starts ahead is the next pass's, and only its."""
    read_locks_ahead()
    ahead = _proclocks._ahead
    assert ahead is not None
    first, second = lock_reader(), lock_reader()
    assert first is ahead[0]
    assert second is not first
    first.wait()
    second.wait()


def test_a_read_started_long_ago_is_not_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read older than a second (a command that never got to its pass) is read again."""
    monkeypatch.setattr(_proclocks, "_AHEAD_SECONDS", 0.0)
    read_locks_ahead()
    ahead = _proclocks._ahead
    assert ahead is not None
    fresh = lock_reader()
    assert fresh is not ahead[0]
    fresh.wait()


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks (Linux)")
def test_the_reader_names_a_file_a_live_process_has_locked(tmp_path: Path) -> None:
    """A file flock-ed by a running process is among the locked inodes on the thread's read,
    and is not once that process has ended."""
    path = tmp_path / "busy.log"
    path.write_text("x")
    st = path.stat()
    with flock_held(path):
        held = LockReader().result()
        assert held is not None
        assert (st.st_dev, st.st_ino) in held
    after = LockReader().result()
    assert after is not None
    assert (st.st_dev, st.st_ino) not in after


def test_no_proc_locks_reads_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /proc/locks cannot be read, the answer is None (callers then probe each file)."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", "/proc/locks")

    monkeypatch.setattr(_proclocks, "open", refuse, raising=False)
    assert LockReader().result() is None


def test_on_a_fake_filesystem_the_read_stays_on_the_calling_thread() -> None:
    """While a fake filesystem is active the reader starts no thread (no thread may touch a
    fake filesystem while another uses it) and finds no /proc/locks there; on the real
    filesystem it still reads on a thread, ahead of the pass."""
    from pytest_tapps.harness import project

    real = LockReader()
    assert real._thread is not None
    real.wait()
    with project(fs="fake"):
        assert not _proclocks.on_real_os()
        reader = LockReader()
        assert reader._thread is None
        assert reader.result() is None
    assert _proclocks.on_real_os()
