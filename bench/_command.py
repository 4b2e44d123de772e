"""Running a benchmark's commands: one that fails stops the benchmark, loudly.

A benchmark that times a failing command measures nothing (a pytest usage error exits in half a
second), so every script under ``bench/`` times its commands through :func:`timed`: a command
that exits non-zero ends the script with exit status 1 and the command's output, before any
figure is printed.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path


class CommandFailed(SystemExit):
    """A benchmarked command exited non-zero; raised out of ``main()``, it prints its message
    (the command, its exit status and its output) and exits with status 1."""

    def __init__(self, command: Sequence[str], returncode: int, output: str) -> None:
        message = (
            f"benchmark stopped: `{shlex.join(command)}` exited with status {returncode}; "
            f"no figure is printed for a command that failed. Its output:\n{output.rstrip()}"
        )
        super().__init__(message)
        self.command = list(command)
        self.returncode = returncode
        self.output = output


def timed(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    keep_stdout: bool = True,
    allowed: Collection[int] = (0,),
) -> float:
    """Run ``command``; its wall time in seconds, or :class:`CommandFailed` if its exit status
    is not one of ``allowed``.

    ``keep_stdout=False`` sends standard output to ``/dev/null`` (a command that prints a line
    per file must not be timed writing into a pipe); standard error is kept either way."""
    start = time.perf_counter()
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if keep_stdout else subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in allowed:
        output = (done.stdout if keep_stdout else done.stderr).decode(errors="replace")
        if not keep_stdout:
            output = f"(standard output discarded; standard error:)\n{output}"
        raise CommandFailed(command, done.returncode, output)
    return elapsed
