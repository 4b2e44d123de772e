"""A small suite and a few bugs to measure it with (the engine, the command and the plugin
tests share them; the command's tests copy this file next to the suite as ``my_bugs.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_tapps.core import SYSTEM_CLOCK
from pytest_tapps.scenario import Outcome, Session, Unsupported
from pytest_tapps.strength import Bug, Patch, everywhere

#: The cleanup tree every scenario of the suite starts from.
_TREE = """\
defaults:
  given:
    files:
      - {path: .tapps-agents/logs/application/old.log, age: 31d}
      - {path: .tapps-agents/logs/application/new.log, age: 1d}
scenarios:
"""

#: name -> scenario file text. ``dry`` catches a dry run that deletes; ``real`` a cleanup
#: that crashes; ``broken`` fails on the reference core; ``elsewhere`` needs what this machine
#: is not (root or not root) and is skipped.
SUITE = {
    "dry.tapps.yaml": _TREE
    + """\
  - name: a dry run changes nothing
    runbook: Cleanup Tools > Usage > Dry run
    when:
      - cleanup: {dry_run: true}
    then:
      exit_code: 0
      unchanged: true
""",
    "real.tapps.yaml": _TREE
    + """\
  - name: a cleanup removes the expired log
    runbook: Cleanup Tools > Usage > Actual cleanup
    when:
      - cleanup: {}
    then:
      exit_code: 0
      absent: [.tapps-agents/logs/application/old.log]
      present: [.tapps-agents/logs/application/new.log]
""",
    "broken.tapps.yaml": _TREE
    + """\
  - name: a dry run that expects the wrong exit code
    runbook: Cleanup Tools > Usage > Dry run
    when:
      - cleanup: {dry_run: true}
    then:
      exit_code: 3
""",
    "elsewhere.tapps.yaml": _TREE
    + f"""\
  - name: a cleanup on another kind of machine
    runbook: Cleanup Tools > Usage > Dry run
    requires: [{"non-root" if os.geteuid() == 0 else "root"}]
    when:
      - cleanup: {{dry_run: true}}
    then:
      unchanged: true
""",
}


def write_suite(folder: Path, names: Iterable[str] = SUITE) -> Path:
    """The suite's files (those named) in ``folder``, which is returned."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(SUITE[name], encoding="utf-8")
    return folder


class DryRunDeletes(Bug):
    """Caught by ``dry``: the dry run deletes what its plan lists."""

    name = "dry-run-deletes"
    runbook = "Cleanup Tools > Usage > Dry run"
    defect = "a dry run deletes what it lists"
    actions = frozenset({"cleanup"})

    def patches(self) -> list[Patch]:
        from pytest_tapps.core import _plan

        original = _plan.plan_cleanup

        def plan_and_delete(layout: Any, **kwargs: Any) -> Any:
            plan = original(layout, **kwargs)
            _plan.apply_plan(layout, plan, clock=kwargs.get("clock", SYSTEM_CLOCK))
            return plan

        return everywhere(original, plan_and_delete)


class CleanupCrashes(Bug):
    """Caught by ``real`` (and ``dry``) with an exception, not a failed expectation."""

    name = "cleanup-crashes"
    runbook = "Cleanup Tools > Usage > Actual cleanup"
    defect = "every cleanup raises"
    actions = frozenset({"cleanup"})

    def cleanup(self, spec: Any, session: Session) -> Outcome:
        message = "the cleanup fell over"
        raise RuntimeError(message)


class CannotClean(Bug):
    """Missed: its cleanup is not supported, which catches nothing."""

    name = "cannot-clean"
    runbook = "Cleanup Tools > Usage"
    defect = "it has no cleanup"
    actions = frozenset({"cleanup"})

    def cleanup(self, spec: Any, session: Session) -> Outcome:
        message = "this implementation has no cleanup"
        raise Unsupported(message)


class WorktreeListWrong(Bug):
    """Missed: no scenario of the suite lists worktrees, so it never runs (``started`` stays
    0 in this process)."""

    name = "worktree-list-wrong"
    runbook = "Git Worktree Cleanup > Listing"
    defect = "the worktree list is empty"
    actions = frozenset({"worktree_list"})
    started = 0

    def start(self, session: Session) -> None:
        type(self).started += 1


#: The bugs of this module, as ``--bugs my_bugs:BUGS`` names them.
BUGS = (DryRunDeletes, CleanupCrashes, CannotClean, WorktreeListWrong)
