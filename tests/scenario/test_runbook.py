"""Tests for pytest_tapps.scenario._runbook and runbook.json: the map of runbook procedures."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.scenario._runbook import SEPARATOR, Runbook, normalise, runbook
from tests.scenario.helpers import exactly

STOP = "Retry/Timeout Handling > Automatic Retries > Stop after max_attempts"


def raw() -> dict[str, object]:
    """runbook.json as shipped."""
    text = resources.files("pytest_tapps.scenario").joinpath("runbook.json").read_text("utf-8")
    data: dict[str, object] = json.loads(text)
    return data


def test_an_exact_procedure_is_accepted() -> None:
    """A reference written as the heading path names its procedure."""
    assert runbook().check(STOP) == STOP


@pytest.mark.parametrize(
    "written",
    [
        "retry/timeout handling > automatic retries > stop after MAX_ATTEMPTS",
        "Retry/Timeout Handling>Automatic Retries>Stop after max_attempts",
        "  Retry/Timeout   Handling  >  Automatic Retries >Stop  after max_attempts ",
    ],
)
def test_case_and_whitespace_variants_name_the_same_procedure(written: str) -> None:
    """Case, spaces around ``>`` and repeated spaces do not matter; the canonical form is
    returned."""
    assert runbook().check(written) == STOP


@given(st.lists(st.sampled_from([" ", "  ", ""]), min_size=6, max_size=6))
def test_normalise_ignores_spacing_around_separators(spaces: list[str]) -> None:
    """However the parts are spaced, the normalised reference is the same."""
    parts = STOP.split(SEPARATOR)
    written = ">".join(f"{spaces[2 * i]}{part}{spaces[2 * i + 1]}" for i, part in enumerate(parts))
    assert normalise(written) == STOP


def test_a_heading_with_several_procedures_is_refused_with_the_list() -> None:
    """A heading is not specific enough: the message lists its procedures."""
    reference = "Retry/Timeout Handling > Automatic Retries"
    message = (
        f"{reference!r} is a heading with several procedures; name one: "
        "Retry/Timeout Handling > Automatic Retries > one of 'Retry failed steps with backoff'; "
        "'Stop after max_attempts'; 'Cap delays at max_delay'"
    )
    with pytest.raises(ValueError, match=exactly(message)):
        runbook().check(reference)


def test_a_heading_is_recognised_whatever_its_case() -> None:
    """A heading written in lower case is still a heading, not an unknown reference."""
    with pytest.raises(ValueError, match="is a heading with several procedures"):
        runbook().check("retry/timeout handling > automatic retries")


def test_a_top_level_heading_lists_procedures_by_their_path_below_it() -> None:
    """Under a section with subsections, each procedure is listed with its subsection, so
    the suggested reference is one that exists."""
    message = (
        "'Cleanup Tools' is a heading with several procedures; name one: Cleanup Tools > one of "
        "'Automated Cleanup Script'; 'Usage > Dry run'; 'Usage > Actual cleanup'; "
        "'Manual Cleanup Commands > Remove old worktrees'; "
        "'Manual Cleanup Commands > Remove old analytics'; "
        "'Manual Cleanup Commands > Remove old quality reports'"
    )
    with pytest.raises(ValueError, match=exactly(message)):
        runbook().check("Cleanup Tools")


@pytest.mark.parametrize(
    "reference",
    [
        "Agent Failures and Recovery > Prevention",
        "Worktree Cleanup and Management > Prevention",
        "Workflow Stuck/Failed Recovery > Prevention",
        "Related Documentation",
    ],
)
def test_advice_headings_are_refused(reference: str) -> None:
    """Prevention and Related Documentation are advice, not procedures a scenario tests."""
    message = f"{reference!r} is advice in the runbook, not a procedure to test"
    with pytest.raises(ValueError, match=exactly(message)):
        runbook().check(reference)


def test_an_unknown_reference_suggests_the_closest_procedure() -> None:
    """A typo in a reference gets the procedure it was meant to be."""
    reference = "Retry/Timeout Handling > Automatic Retries > Stop after max attempt"
    message = f"{reference!r} is not a runbook procedure (did you mean {STOP!r}?)"
    with pytest.raises(ValueError, match=exactly(message)):
        runbook().check(reference)


def test_a_procedure_named_alone_suggests_its_full_path() -> None:
    """The procedure's title without its headings is matched by its last part."""
    message = (
        "'skip failed step' is not a runbook procedure "
        "(did you mean 'Retry/Timeout Handling > Manual Retry Procedures > Skip Failed Step'?)"
    )
    with pytest.raises(ValueError, match=exactly(message)):
        runbook().check("skip failed step")


def test_an_unrelated_reference_points_at_the_coverage_listing() -> None:
    """With nothing close, the message says where every procedure is listed."""
    message = "'nope' is not a runbook procedure; `tapps scenario coverage` lists them all"
    with pytest.raises(ValueError, match=exactly(message)):
        runbook().check("nope")


def test_a_heading_without_procedures_or_subheadings_is_a_procedure() -> None:
    """A leaf heading with no listed procedures is itself what a scenario tests."""
    book = runbook()
    assert "Dead Letter Queue (DLQ) Handling > Overview" in book.procedures
    assert "Cleanup Tools > Automated Cleanup Script" in book.procedures
    assert "Cleanup Tools" not in book.procedures
    assert "Agent Failures and Recovery > Prevention" not in book.procedures


# -- the map itself ------------------------------------------------------------------------------


def test_every_heading_parent_exists_and_comes_first() -> None:
    """Headings are in document order: each one's parent heading is listed before it."""
    headings = runbook().headings
    for index, heading in enumerate(headings):
        if SEPARATOR in heading:
            parent = heading.rsplit(SEPARATOR, 1)[0]
            assert parent in headings[:index], heading


def test_headings_and_procedures_are_unique() -> None:
    """No heading and no procedure is listed twice."""
    book = runbook()
    assert len(set(book.headings)) == len(book.headings)
    assert len(set(book.procedures)) == len(book.procedures)
    assert len({p.lower() for p in book.procedures}) == len(book.procedures)


def test_the_runbook_has_its_procedures() -> None:
    """The map covers the runbook: at least 60 procedures, in the nine sections."""
    book = runbook()
    assert len(book.procedures) >= 60
    sections = [h for h in book.headings if SEPARATOR not in h]
    assert sections[:9] == [
        "Agent Failures and Recovery",
        "Retry/Timeout Handling",
        "Dead Letter Queue (DLQ) Handling",
        "Cache Invalidation and Recovery",
        "Worktree Cleanup and Management",
        "Workflow Stuck/Failed Recovery",
        "Log and Trace Field Conventions",
        "Data Retention Policies",
        "Cleanup Tools",
    ]
    assert {book.section_of(p) for p in book.procedures} == set(sections[:9])


def test_every_procedure_is_accepted_as_written() -> None:
    """Each listed procedure checks as itself (no separator or spacing inside a title)."""
    book = runbook()
    for procedure in book.procedures:
        assert book.check(procedure) == procedure
        assert normalise(procedure) == procedure


def test_the_json_keys_are_the_known_ones() -> None:
    """Each section has a heading and optionally procedures or advice; nothing else."""
    data = raw()
    assert (data["title"], data["version"]) == ("Operational Runbooks", "2.4.1")
    sections = data["sections"]
    assert isinstance(sections, list)
    for section in sections:
        assert set(section) <= {"heading", "procedures", "advice"}, section
        assert not (section.get("advice") and section.get("procedures")), section


def test_section_of_is_the_top_heading() -> None:
    """section_of gives the first part of a procedure's path."""
    assert runbook().section_of(STOP) == "Retry/Timeout Handling"


def test_the_runbook_is_read_once() -> None:
    """runbook() is cached: the same object every time."""
    assert runbook() is runbook()
    assert isinstance(runbook(), Runbook)
