"""The tools the workflow half of the bug catalogue is written with: :func:`rewritten` edits a
core function's own source, exactly once, or refuses."""

from __future__ import annotations

import pytest

from pytest_tapps.strength._bugs_workflow import rewritten


def _sample(value: int) -> int:
    """A function for :func:`rewritten` to edit."""
    doubled = value * 2
    return doubled + 1


def test_rewritten_makes_the_edit_in_the_function_s_own_module() -> None:
    """rewritten() compiles the function again with the edit made, leaving the original be."""
    edited = rewritten(_sample, (("value * 2", "value * 3"),))
    assert (edited(5), _sample(5)) == (16, 11)
    assert edited.__globals__ is _sample.__globals__


def test_rewritten_refuses_an_edit_the_source_does_not_have() -> None:
    """An edit whose text is not in the source exactly once raises instead of becoming a no-op
    (an edit written with its indentation matches whole lines only)."""
    with pytest.raises(LookupError, match=r"_sample: 'value \* 4' occurs 0 times"):
        rewritten(_sample, (("value * 4", "value * 3"),))
    with pytest.raises(LookupError, match=r"occurs 0 times in its source, not once"):
        rewritten(_sample, (("  return doubled + 1", "  return doubled"),))
