"""A faulty implementation of the runbook: the reference core with one named defect.

A :class:`Bug` is a scenario :class:`~pytest_tapps.scenario.Target`: the reference core
(:class:`~pytest_tapps.scenario.CoreTarget`) with its defect put in place while it performs the
actions the defect lives in. A scenario *catches* the bug when it passes on the reference core
and fails on the bug. ``tapps scenario strength`` runs a suite against every bug of a
catalogue (:data:`~pytest_tapps.strength.CATALOGUE` by default) and says which scenarios caught
each one.

To write one, subclass :class:`Bug`, name it, say which runbook procedure it violates and in
which actions it lives, and give the patches that put the defect in place (each a module or
class, an attribute of it, and what replaces it while an action of ``actions`` runs)::

    class DryRunDeletes(Bug):
        name = "dry-run-deletes"
        runbook = "Cleanup Tools > Usage > Dry run"
        defect = "a dry run deletes what it lists"
        actions = frozenset({"cleanup"})

        def patches(self):
            from pytest_tapps.scenario import _targets

            yield Patch(_targets.CoreTarget, "cleanup", ...)

A bug that needs more than attribute patches overrides :meth:`Bug.applied` (a context manager
during which the defect is in place) or the action methods themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, NamedTuple
from unittest import mock

from pytest_tapps.scenario._targets import CoreTarget, Outcome, Session

#: The action every bug is in too: ``command:`` runs the ``tapps`` command line in-process, on
#: the same core the defect is put into.
COMMAND = "command"


class Patch(NamedTuple):
    """``owner.attribute`` is ``replacement`` while the defect is in place (``owner``: a module
    or a class, patched where the core looks the name up)."""

    owner: Any
    attribute: str
    replacement: Any


def everywhere(original: Any, replacement: Any) -> list[Patch]:
    """Patches that replace ``original`` (a function or class) under every name it is bound
    to in this package's loaded modules (``from x import f`` copies the name into each module
    that imports it): the core's own module, ``pytest_tapps.core`` and the command line's
    modules alike. The module that defines it is loaded first, so that it is found there."""
    import importlib
    import sys

    importlib.import_module(original.__module__)
    # The core's public names are bound on first use: bind them all now (a name may be an
    # alias, `remove_worktree` for `_worktrees.remove`), or a first use while the defect is in
    # place would keep the faulty function there for good.
    core = importlib.import_module("pytest_tapps.core")
    for name in getattr(core, "__all__", ()):
        getattr(core, name)
    found = [
        Patch(module, attribute, replacement)
        for module_name, module in list(sys.modules.items())
        if module_name == "pytest_tapps" or module_name.startswith("pytest_tapps.")
        for attribute, value in list(vars(module).items())
        if value is original
    ]
    if not found:  # pragma: no cover - the module that defines it binds it
        message = f"{original!r} is bound to no name of this package"
        raise LookupError(message)
    return found


class Bug(CoreTarget):
    """The reference core with one defect (see the module's documentation).

    ``name`` is short and unique (``dry-run-deletes``); ``runbook`` is the runbook procedure the
    defect violates, written as a scenario's ``runbook:`` is (``Section > Procedure``);
    ``defect`` says in one sentence what the implementation does wrong; ``actions`` are the
    scenario actions (``cleanup``, ``run``, ``resume``, ``status``...) whose behaviour the defect
    changes: the defect is in place only while one of them (or a ``command:``) runs, so a
    scenario without them behaves as on the reference core and cannot catch it."""

    name = "bug"
    runbook: ClassVar[str] = ""
    defect: ClassVar[str] = ""
    actions: ClassVar[frozenset[str]] = frozenset()

    def patches(self) -> Iterable[Patch]:
        """The attribute patches that put the defect in place."""
        return ()

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The defect in place for the block (by default: :meth:`patches`)."""
        with contextlib.ExitStack() as stack:
            for patch in self.patches():
                stack.enter_context(
                    mock.patch.object(patch.owner, patch.attribute, patch.replacement)
                )
            yield

    def affects(self, action: str) -> bool:
        """Whether the defect is in place while ``action`` runs."""
        return action in self.actions or action == COMMAND

    def perform(self, action: str, value: Any, session: Session) -> Outcome:
        if not self.affects(action):
            return super().perform(action, value, session)
        with self.applied():
            return super().perform(action, value, session)

    def __repr__(self) -> str:
        return f"<Bug {self.name}>"
