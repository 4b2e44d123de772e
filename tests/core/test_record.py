"""The plain records of the cleanup path (``_record.Record``) and ``Layout``: what the
dataclasses they replaced gave (equality, repr, hashing, immutability) still holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_tapps.core import RUNBOOK, TAPPS_AGENTS_3_7, Layout
from pytest_tapps.core._cleanup import Decision, PlanItem
from pytest_tapps.core._record import Record


class _Point(Record):
    __slots__ = ("x", "y")

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


class _Labelled(_Point):
    __slots__ = ("label",)

    def __init__(self, x: int, y: int, label: str) -> None:
        super().__init__(x, y)
        self.label = label


def test_records_compare_and_show_every_field_a_base_class_included() -> None:
    assert _Point(1, 2) == _Point(1, 2)
    assert _Point(1, 2) != _Point(1, 3)
    assert _Labelled(1, 2, "a") != _Labelled(1, 2, "b")
    assert _Labelled(1, 2, "a") != _Labelled(9, 2, "a")  # the base class's fields count too
    assert repr(_Labelled(1, 2, "a")) == "_Labelled(x=1, y=2, label='a')"


def test_records_equal_only_records_of_their_own_class_and_are_unhashable() -> None:
    assert _Point(1, 2) != _Labelled(1, 2, "a")
    assert _Point(1, 2) != (1, 2)
    with pytest.raises(TypeError):
        hash(_Point(1, 2))


def test_a_plan_item_compares_and_shows_its_columns_without_its_worktree() -> None:
    item = PlanItem("/p/a", "debug_logs", Decision.DELETE, "older than 7d", "file", 1.0, 9.0)
    other = PlanItem("/p/a", "debug_logs", Decision.DELETE, "older than 7d", "file", 1.0, 9.0)
    other.worktree = object()  # type: ignore[assignment]
    assert item == other
    assert repr(item).startswith("PlanItem(location='/p/a', category='debug_logs', ")
    assert "worktree" not in repr(item)
    other.reason = "too new"
    assert item != other


def test_layouts_are_values() -> None:
    """Equal for the same root and profile (a str root is a Path), hashable, immutable, and a
    repr that tells a built-in profile from a changed one."""
    assert Layout("/p") == Layout(Path("/p"), RUNBOOK)
    assert len({Layout("/p"), Layout(Path("/p"))}) == 1
    assert Layout("/p") != Layout("/p", TAPPS_AGENTS_3_7)
    changed = RUNBOOK._replace(worktrees_dir="wt")
    assert Layout("/p", changed) != Layout("/p")
    assert repr(Layout("/p")) == "Layout(project_root=PosixPath('/p'), profile=<runbook>)"
    assert "worktrees_dir='wt'" in repr(Layout("/p", changed))
    with pytest.raises(AttributeError):
        Layout("/p").project_root = Path("/q")  # type: ignore[misc]
