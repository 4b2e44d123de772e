"""Deliberately broken targets: the state machine must catch them, and the scenarios it writes
must fail against them and pass against the reference core."""

from __future__ import annotations

from typing import Any

from pytest_tapps.scenario import CoreTarget, Outcome, Session


class KeepsWorktrees(CoreTarget):
    """A cleanup that forgets worktrees: completed workflows' worktrees survive it."""

    name = "keeps-worktrees"

    def cleanup(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import run_cleanup
        from pytest_tapps.core._retention import CATEGORIES, WORKTREE_CATEGORIES

        worktrees = {c.name for c in WORKTREE_CATEGORIES}
        only = [c.name for c in CATEGORIES if c.name not in worktrees]
        report = run_cleanup(session.layout, clock=session.clock, only=only)
        return Outcome(0 if report.ok else 1, "", {"items": {}})


class RerunsCompletedSteps(CoreTarget):
    """A resume that starts the workflow from its first step again."""

    name = "reruns-completed-steps"

    def resume(self, spec: Any, session: Session) -> Outcome:
        from pytest_tapps.core import reset

        reset(session.layout, spec.workflow, clock=session.clock)
        return super().resume(spec, session)
