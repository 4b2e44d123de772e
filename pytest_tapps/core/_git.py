"""The few git worktree operations the cleanup engine needs, through the ``git`` command.

``git worktree list --porcelain`` tells which folders git has registered, locked or prunable;
removal is ``git worktree remove --force`` (twice ``--force`` for a locked one), then
``git worktree prune``; a branch made for a workflow is deleted with ``git branch -D``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pytest_tapps.core._errors import TappsError

if TYPE_CHECKING:
    import subprocess


class GitError(TappsError):
    """A git command failed; the message carries git's own words."""


class GitWorktree(NamedTuple):
    """One entry of ``git worktree list --porcelain``."""

    path: Path
    head: str | None = None
    branch: str | None = None
    locked: bool = False
    lock_reason: str = ""
    prunable: bool = False
    bare: bool = False


def _which_git() -> str | None:
    import shutil  # here: projects without git never need it (it loads ~2 ms of modules)

    return shutil.which("git")


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    git = _which_git()
    if git is None:
        message = "git is not installed (needed for git worktrees)"
        raise GitError(message)
    import subprocess  # here: projects without git never start it, nor import subprocess

    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    done = subprocess.run(
        [git, "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    if check and done.returncode != 0:
        message = f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}"
        raise GitError(message)
    return done


def _may_be_repository(path: Path) -> bool:
    """False when git cannot find a repository from ``path``: no ``.git`` in it or any parent
    and no ``GIT_DIR`` (saves starting git, about 8 ms, for projects without one)."""
    if "GIT_DIR" in os.environ:
        return True
    return any(os.path.lexists(folder / ".git") for folder in (path, *path.parents))


def is_repository(path: Path) -> bool:
    """Whether ``path`` is inside a git work tree (False when git is missing)."""
    if not path.is_dir() or not _may_be_repository(path.absolute()):
        return False
    if _which_git() is None:
        return False
    return _git(path, "rev-parse", "--git-dir", check=False).returncode == 0


def list_worktrees(repo: Path) -> list[GitWorktree]:
    """Every worktree git knows for ``repo`` (the main one first)."""
    out = _git(repo, "worktree", "list", "--porcelain").stdout
    found: list[GitWorktree] = []
    for block in out.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            fields[key] = value
        if "worktree" not in fields:
            continue
        branch = fields.get("branch")
        found.append(
            GitWorktree(
                path=Path(fields["worktree"]),
                head=fields.get("HEAD"),
                branch=branch.removeprefix("refs/heads/") if branch else None,
                locked="locked" in fields,
                lock_reason=fields.get("locked", ""),
                prunable="prunable" in fields,
                bare="bare" in fields,
            )
        )
    return found


def is_dirty(path: Path) -> bool | None:
    """Whether a worktree has uncommitted changes (None if git cannot tell)."""
    done = _git(path, "status", "--porcelain", "--untracked-files=normal", check=False)
    if done.returncode != 0:
        return None
    return bool(done.stdout.strip())


def remove_worktree(repo: Path, path: Path, *, locked: bool) -> None:
    """``git worktree remove --force`` (``-f -f`` for a locked worktree)."""
    forces = ["--force", "--force"] if locked else ["--force"]
    _git(repo, "worktree", "remove", *forces, str(path))


def prune(repo: Path) -> None:
    """``git worktree prune``: forget registrations whose folder is gone."""
    _git(repo, "worktree", "prune")


def delete_branch(repo: Path, branch: str) -> bool:
    """``git branch -D``; False when the branch does not exist."""
    done = _git(repo, "branch", "-D", branch, check=False)
    return done.returncode == 0
