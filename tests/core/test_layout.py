"""Tests for pytest_tapps.core._layout: paths of the tree, and refusing unsafe names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_tapps.core import RUNBOOK, TAPPS_AGENTS_3_7, Layout, UnsafeNameError, safe_name
from pytest_tapps.core._layout import _PLACES, SAFE_NAME_PATTERN, LayoutProfile, translate


def test_runbook_paths_match_the_product_table(tmp_path: Path) -> None:
    """Every area of PRODUCT.md's on-disk table sits where the runbook's commands look."""
    layout = Layout(tmp_path)
    tapps = tmp_path / ".tapps-agents"
    assert layout.config_file == tapps / "config.yaml"
    assert layout.current_state_file == tapps / "workflow-state" / "current_state.json"
    assert layout.history_file("wf-1") == tapps / "workflow-state" / "history" / "wf-1.json"
    assert layout.lock_file("wf-1") == tapps / "workflow-state" / "wf-1.lock"
    assert layout.backups_dir == tapps / "workflow-state" / "backups"
    assert layout.worktree("wt-a") == tapps / "worktrees" / "wt-a"
    assert layout.context7_entry("react") == tapps / "context7" / "cache" / "react"
    assert layout.tiered_cache_dir == tapps / "cache" / "tiered-context"
    assert layout.project_profile == tapps / "project-profile.yaml"
    assert layout.analytics_history_dir == tapps / "analytics" / "history"
    assert layout.quality_reports_dir == tmp_path / "reports" / "quality"


def test_every_runbook_area_is_inside_the_project(tmp_path: Path) -> None:
    """No directory of the runbook layout points outside the project root."""
    layout = Layout(tmp_path)
    for name in dir(layout):
        if name.endswith("_dir") and getattr(layout, name) is not None:
            path: Path = getattr(layout, name)
            assert path.is_relative_to(tmp_path), name


def test_real_profile_moves_context7_and_drops_current_state(tmp_path: Path) -> None:
    """The tapps-agents 3.7 profile uses kb/context7-cache and has no current_state.json."""
    layout = Layout(tmp_path, TAPPS_AGENTS_3_7)
    assert layout.context7_entry("react") == (
        tmp_path / ".tapps-agents" / "kb" / "context7-cache" / "libraries" / "react"
    )
    assert layout.current_state_file is None
    assert layout.tiered_cache_dir is None
    assert Layout(tmp_path).profile is RUNBOOK


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must not be empty or '.'"),
        (".", "must not be empty or '.'"),
        ("..", "must not contain '..'"),
        ("a..b", "must not contain '..'"),
        ("a/b", "must not contain '/' or '\\' (it names one folder or file, not a path)"),
        ("a\\b", "must not contain '/' or '\\' (it names one folder or file, not a path)"),
        ("/etc", "must not be an absolute path"),
        ("\\share", "must not be an absolute path"),
        ("C:evil", "must not be an absolute path"),
        ("a\0b", "must not contain a NUL byte"),
    ],
)
def test_unsafe_names_are_refused_with_the_reason(name: str, problem: str) -> None:
    """Each unsafe form is refused with a message naming the value and the rule."""
    with pytest.raises(UnsafeNameError) as info:
        safe_name(name, what="worktree name")
    assert str(info.value) == f"worktree name {name!r} {problem}"
    assert info.value.exit_code == 2


def test_every_name_taking_path_method_refuses_traversal(tmp_path: Path) -> None:
    """Worktree names, library ids and workflow ids all go through safe_name."""
    layout = Layout(tmp_path)
    for build in (layout.worktree, layout.context7_entry, layout.history_file, layout.lock_file):
        with pytest.raises(UnsafeNameError):
            build("../outside")


@given(st.text(min_size=1).filter(lambda s: s != "." and not {"/", "\\", "\0"} & set(s)))
def test_accepted_names_stay_one_level_inside(name: str) -> None:
    """A name safe_name accepts always makes a path directly inside its folder."""
    try:
        safe_name(name)
    except UnsafeNameError:
        assert ".." in name or name[1:2] == ":"
        return
    base = Path("/project/.tapps-agents/worktrees")
    built = Layout(Path("/project")).worktree(name)
    assert built.parent == base
    assert built.name == name


@given(st.text(), st.sampled_from(["/", "\\", "..", "\0"]), st.text())
def test_names_containing_a_separator_are_always_refused(head: str, bad: str, tail: str) -> None:
    """Whatever surrounds it, a separator, '..' or NUL makes a name unsafe."""
    with pytest.raises(UnsafeNameError):
        safe_name(head + bad + tail)


_NAME_PARTS = st.sampled_from(["a", "Z", ".", "..", "/", "\\", "\0", ":", "C:", "\n", " ", "é"])


@given(st.one_of(st.text(), st.lists(_NAME_PARTS, max_size=5).map("".join)))
def test_the_schema_pattern_accepts_exactly_the_safe_names(name: str) -> None:
    """SAFE_NAME_PATTERN (the JSON Schema's twin of safe_name) accepts a name iff safe_name
    does, including the edges: '.', '..' inside, a drive prefix, a trailing newline."""
    try:
        safe_name(name)
    except UnsafeNameError:
        accepted = False
    else:
        accepted = True
    assert (re.search(SAFE_NAME_PATTERN, name) is not None) == accepted


@pytest.mark.parametrize(
    ("runbook_path", "real_path"),
    [
        # a place of the runbook's layout that the real package keeps elsewhere
        (
            ".tapps-agents/context7/cache/react/docs.md",
            ".tapps-agents/kb/context7-cache/libraries/react/docs.md",
        ),
        (".tapps-agents/context7/cache", ".tapps-agents/kb/context7-cache/libraries"),
        # the folder holding it, when both layouts nest it one level deeper
        (".tapps-agents/context7/x", ".tapps-agents/kb/context7-cache/x"),
        (".tapps-agents/logs/debug/d.log", ".tapps-agents/logs/d.log"),
        (".tapps-agents/metrics/performance/p.json", ".tapps-agents/metrics/p.json"),
        # the same place in both, one the real layout lacks, and paths outside the tree
        (".tapps-agents/analytics/history/a.jsonl", ".tapps-agents/analytics/history/a.jsonl"),
        (".tapps-agents/cache/tiered-context/a.json", ".tapps-agents/cache/tiered-context/a.json"),
        (".tapps-agents/context7/cachet/a", ".tapps-agents/kb/context7-cache/cachet/a"),
        ("reports/quality/r.html", "reports/quality/r.html"),
        ("../outside/x", "../outside/x"),
    ],
)
def test_a_runbook_path_names_the_same_place_in_the_real_layout(
    runbook_path: str, real_path: str
) -> None:
    """A runbook path is moved to the real package's place for it; within one layout it stays."""
    assert translate(runbook_path, RUNBOOK, TAPPS_AGENTS_3_7) == real_path
    assert translate(runbook_path, RUNBOOK, RUNBOOK) == runbook_path


def test_the_deepest_place_a_path_is_in_decides_where_it_moves() -> None:
    """A path in a place nested in another (``x/t`` in ``x``) moves with the nested place,
    whichever the profile lists first."""
    source = RUNBOOK._replace(context7_cache_dir="x", tiered_cache_dir="x/t")
    target = RUNBOOK._replace(context7_cache_dir="c7", tiered_cache_dir="tier")
    assert translate(".tapps-agents/x/t/f", source, target) == ".tapps-agents/tier/f"
    assert translate(".tapps-agents/x/f", source, target) == ".tapps-agents/c7/f"


#: Fields of a profile that are not places under .tapps-agents/ (translate leaves them).
_NOT_PLACES = {
    "name",
    "project_quality_reports_dir",  # relative to the project, not .tapps-agents/
    "state_format",
    "context7_format",
    "worktree_name",
    "worktree_digest",
    "worktree_branch",
    "analytics_file",
    "workflow_locks",
}


def test_every_place_of_a_profile_is_one_translate_moves() -> None:
    """A new place field must be added to _PLACES (or here, if it is no place): otherwise
    scenarios' paths in it would silently stay the runbook's in another layout."""
    assert set(_PLACES) == set(LayoutProfile._fields) - _NOT_PLACES
