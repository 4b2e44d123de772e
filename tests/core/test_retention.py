"""Tests for pytest_tapps.core._retention: the runbook's table and config overrides."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_tapps.core import Layout
from pytest_tapps.core._retention import (
    BY_NAME,
    CATEGORIES,
    DAY,
    RetentionPolicy,
    load_retention,
    retention_table,
)
from pytest_tapps.core._yamlutil import YamlFileError

#: The runbook's "Data Retention Policies" table, row by row (None: never / manual).
RUNBOOK_TABLE = {
    "workflow_artifacts": 30,
    "quality_reports": 90,
    "test_results": 30,
    "documentation_artifacts": 90,
    "application_logs": 30,
    "structured_logs": 90,
    "debug_logs": 7,
    "analytics_history": 90,
    "performance_metrics": 180,
    "confidence_metrics": 90,
    "context7_cache": None,
    "tiered_context_cache": 30,
    "project_profile": None,
    "completed_worktrees": 0,
    "failed_worktrees": 7,
    "stuck_worktrees": None,
}


@pytest.mark.parametrize(("category", "days"), RUNBOOK_TABLE.items())
def test_defaults_are_the_runbook_table(category: str, days: int | None) -> None:
    """Every row of the runbook's retention table is a category with its age."""
    expected = None if days is None else days * DAY
    assert RetentionPolicy.defaults().age(category) == expected


def test_every_category_has_a_folder_inside_the_project(tmp_path: Path) -> None:
    """Each category says where its files live, under .tapps-agents/ or reports/quality/."""
    layout = Layout(tmp_path)
    for category in BY_NAME.values():
        folder = category.folder(layout)
        assert folder is not None
        assert folder.is_relative_to(layout.tapps_dir) or folder == layout.quality_reports_dir


def test_exactly_the_age_is_kept() -> None:
    """Expiry is strictly older-than: 30 days is kept, 30 days and a second is not."""
    policy = RetentionPolicy.defaults()
    assert not policy.expired("workflow_artifacts", 30 * DAY)
    assert policy.expired("workflow_artifacts", 30 * DAY + 1)
    assert not policy.expired("context7_cache", 10**9)


def test_an_age_of_zero_expires_at_once_but_not_in_the_future() -> None:
    """Completed worktrees go "at once": age 0 has expired, as the cleanup deletes it; a time
    in the future (clock skew) has not, whatever the category."""
    policy = RetentionPolicy.defaults()
    assert policy.expired("completed_worktrees", 0.0)
    assert not policy.expired("completed_worktrees", -1e-6)
    assert not policy.expired("debug_logs", -30 * DAY)


def _config(tmp_path: Path, text: str) -> Layout:
    layout = Layout(tmp_path)
    layout.config_file.parent.mkdir(parents=True, exist_ok=True)
    layout.config_file.write_text(textwrap.dedent(text))
    return layout


def test_config_overrides_named_categories_only(tmp_path: Path) -> None:
    """retention: in config.yaml overrides the categories it names, with units or never."""
    layout = _config(
        tmp_path,
        """
        agents: {implementer: {model: x}}
        retention:
          analytics_history: 120d
          debug_logs: 12h
          application_logs: never
        """,
    )
    policy = load_retention(layout)
    assert policy.age("analytics_history") == 120 * DAY
    assert policy.age("debug_logs") == 12 * 3600
    assert policy.age("application_logs") is None
    assert policy.age("structured_logs") == 90 * DAY
    assert policy.source == layout.config_file


def test_no_config_or_no_section_means_defaults(tmp_path: Path) -> None:
    """Without config.yaml, or without a retention: section, the runbook table applies."""
    assert load_retention(Layout(tmp_path)) == RetentionPolicy.defaults()
    layout = _config(tmp_path, "agents: {}\n")
    assert load_retention(layout).ages == RetentionPolicy.defaults().ages


def test_every_problem_is_reported_at_once_with_file_line_and_hint(tmp_path: Path) -> None:
    """Unknown names get a did-you-mean; bad ages say what to write; all lines at once."""
    layout = _config(
        tmp_path,
        """
        retention:
          analytcs_history: 120d
          debug_logs: 0d
          test_results: -3d
          quality_reports: 90
          structured_logs: 1:30
          context7_cache: 30d
        """,
    )
    with pytest.raises(YamlFileError) as info:
        load_retention(layout)
    path = layout.config_file
    assert str(info.value).splitlines() == [
        f"{path}:3: retention.analytcs_history: unknown retention category (did you mean 'analytics_history'?)",
        "    analytcs_history: 120d",
        f"{path}:4: retention.debug_logs: must be > 0 seconds, got '0d'",
        "    debug_logs: 0d",
        f"{path}:5: retention.test_results: '-3d' is not a duration; write a number of seconds or a string with a unit such as '5s', '15m', '12h', '30d'",
        "    test_results: -3d",
        f"{path}:6: retention.quality_reports: write the age with a unit, e.g. '90d' or 'never' (got 90)",
        "    quality_reports: 90",
        f"{path}:7: retention.structured_logs: '1:30' is not a duration; write a number of seconds or a string with a unit such as '5s', '15m', '12h', '30d'",
        "    structured_logs: 1:30",
        f"{path}:8: retention.context7_cache: Context7 cache: never removed automatically (the runbook: manual cleanup); remove this line",
        "    context7_cache: 30d",
    ]


def test_worktree_ages_are_overridable_except_for_stuck_and_active_ones(tmp_path: Path) -> None:
    """Failed and orphan worktrees take the config's ages; stuck and active worktrees are
    never removed automatically, so a line for them is refused. Each problem points at its
    own key, also after a number used as a key."""
    layout = _config(tmp_path, "retention:\n  failed_worktrees: 3d\n  orphan_worktrees: 2d\n")
    ages = load_retention(layout).ages
    assert (ages["failed_worktrees"], ages["orphan_worktrees"]) == (3 * DAY, 2 * DAY)
    layout = _config(
        tmp_path,
        """
        retention:
          7: 3d
          failed_worktrees: 0d
          stuck_worktrees: 3d
          active_worktrees: 3d
        """,
    )
    with pytest.raises(YamlFileError) as info:
        load_retention(layout)
    path = layout.config_file
    manual = "never removed automatically (the runbook: manual cleanup); remove this line"
    assert str(info.value).splitlines() == [
        f"{path}:3: retention.7: unknown retention category",
        "    7: 3d",
        f"{path}:4: retention.failed_worktrees: must be > 0 seconds, got '0d'",
        "    failed_worktrees: 0d",
        f"{path}:5: retention.stuck_worktrees: Stuck worktrees: {manual}",
        "    stuck_worktrees: 3d",
        f"{path}:6: retention.active_worktrees: Active worktrees (workflow running): {manual}",
        "    active_worktrees: 3d",
    ]


def test_duplicate_keys_are_an_error_with_the_line(tmp_path: Path) -> None:
    """A category written twice is refused instead of silently keeping the last."""
    layout = _config(tmp_path, "retention:\n  debug_logs: 3d\n  debug_logs: 4d\n")
    with pytest.raises(YamlFileError, match=r"config\.yaml:3: found duplicate key \"debug_logs\""):
        load_retention(layout)


def test_the_section_is_a_pydantic_model_of_every_category_and_nothing_else() -> None:
    """config.yaml's retention: section is validated by a pydantic model with one optional
    field per category and no other key; what it accepts is the ages in seconds."""
    from pydantic import BaseModel

    from pytest_tapps.core._retention import _overrides_model

    model = _overrides_model()
    assert issubclass(model, BaseModel)
    schema = model.model_json_schema()
    assert sorted(schema["properties"]) == sorted(BY_NAME)
    assert schema["additionalProperties"] is False
    parsed = model.model_validate({"debug_logs": "12h", "test_results": "never"})
    assert parsed.model_dump(exclude_unset=True) == {"debug_logs": 43200.0, "test_results": None}


def test_a_key_that_is_no_name_is_an_unknown_category(tmp_path: Path) -> None:
    """A number as a key (YAML reads ``1:`` as an int) is reported as an unknown category at
    its line, as a misspelt name is, not as pydantic's 'Keys should be strings'."""
    layout = _config(tmp_path, "retention:\n  1: 3d\n")
    with pytest.raises(YamlFileError) as info:
        load_retention(layout)
    assert str(info.value).splitlines()[0] == (
        f"{layout.config_file}:2: retention.1: unknown retention category"
    )


def test_a_true_key_is_an_unknown_category_at_its_own_line_in_file_order(tmp_path: Path) -> None:
    """A ``true:`` key (YAML reads it as a boolean, pydantic reports it as 1) is reported at its
    own line and in the order of the file, not at the section's line after every other."""
    layout = _config(tmp_path, "retention:\n  debug_logs: 0d\n  true: 3d\n  debug_log: 3d\n")
    with pytest.raises(YamlFileError) as info:
        load_retention(layout)
    path = layout.config_file
    assert str(info.value).splitlines()[::2] == [
        f"{path}:2: retention.debug_logs: must be > 0 seconds, got '0d'",
        f"{path}:3: retention.True: unknown retention category",
        f"{path}:4: retention.debug_log: unknown retention category (did you mean 'debug_logs'?)",
    ]


@pytest.mark.parametrize("section", ["retention: 30d\n", "retention:\n  - debug_logs\n"])
def test_a_section_that_is_no_mapping_is_refused_at_its_line(tmp_path: Path, section: str) -> None:
    """One age for everything, or a list of names, is refused at the retention: line with an
    example of a category: age mapping."""
    layout = _config(tmp_path, "agents: {}\n" + section)
    with pytest.raises(YamlFileError) as info:
        load_retention(layout)
    assert str(info.value).splitlines()[0] == (
        f"{layout.config_file}:2: retention: expected a mapping of category: age, "
        "e.g. 'debug_logs: 3d'"
    )


def test_each_runbook_row_is_the_category_filed_under_its_heading() -> None:
    """Every procedure of the runbook's "Data Retention Policies" (heading > row) is one
    category's section and label; every category's section is one of those headings, and
    the worktree rows (and only they) are worktree categories living in the worktrees folder."""
    from pytest_tapps.scenario._runbook import SEPARATOR, runbook

    top = "Data Retention Policies"
    rows = [p.split(SEPARATOR)[1:] for p in runbook().procedures if p.startswith(top + SEPARATOR)]
    filed = {(category.section, category.label): category for category in CATEGORIES}
    assert rows
    for section, label in rows:
        assert (section, label) in filed, f"no category for {section} > {label}"
    headings = set(runbook().headings)
    for category in CATEGORIES:
        assert f"{top}{SEPARATOR}{category.section}" in headings, category.name
        assert category.worktrees == (category.section == "Worktrees"), category.name
        if category.worktrees:
            assert category.layout_attr == "worktrees_dir", category.name


def test_a_category_s_default_is_shown_as_an_age_or_never() -> None:
    """The default age shown for a category: its runbook age with a unit, or ``never``."""
    assert BY_NAME["debug_logs"].describe_default() == "7d"
    assert BY_NAME["context7_cache"].describe_default() == "never"


def test_the_table_names_the_line_of_each_override_and_nothing_else(tmp_path: Path) -> None:
    """retention_table: every category in the runbook's order with the age the cleanup uses;
    an overridden one carries config.yaml and its line, every other one neither, also when
    the override repeats the default or the section is empty."""
    layout = _config(
        tmp_path,
        """
        project: demo
        retention:
          # shorter debug logs
          debug_logs: 2d
          workflow_artifacts: 30d
        """,
    )
    rows = retention_table(layout)
    assert [row.category for row in rows] == list(CATEGORIES)
    by_name = {row.category.name: row for row in rows}
    assert by_name["debug_logs"][1:] == (2 * DAY, layout.config_file, 5)
    assert by_name["workflow_artifacts"][1:] == (30 * DAY, layout.config_file, 6)
    assert by_name["quality_reports"][1:] == (90 * DAY, None, None)
    assert by_name["context7_cache"].describe_age() == "never"
    assert by_name["debug_logs"].describe_age() == "2d"
    _config(tmp_path, "retention: {}\n")
    assert all(row.source is None for row in retention_table(layout))
    layout.config_file.unlink()
    assert [row.age for row in retention_table(layout)] == [c.default for c in CATEGORIES]
