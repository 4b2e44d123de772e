"""The runbook's "Data Retention Policies" as data: categories, where they live, how long.

Each category names its folder in the layout, the runbook's default age, and whether a project
may override it in ``.tapps-agents/config.yaml``::

    retention:
      analytics_history: 120d
      debug_logs: 3d
      application_logs: never

Ages are strictly older-than: an item is expired when ``now - timestamp > age`` (exactly the age
is kept), in UTC epoch seconds. Context7 cache, the project profile and stuck worktrees never
expire automatically (the runbook: manual cleanup), and cannot be given an age.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pytest_tapps.core._durations import format_duration, parse_duration
from pytest_tapps.core._layout import Layout
from pytest_tapps.core._yamlutil import Problem, YamlFileError, did_you_mean, load_yaml

DAY = 86400.0
NEVER = None


class RetentionCategory(NamedTuple):
    """One row of the runbook's retention table, and where its items live."""

    name: str
    section: str
    label: str
    default: float | None
    layout_attr: str
    pattern: str = "*"
    overridable: bool = True
    worktrees: bool = False

    def folder(self, layout: Layout) -> Path | None:
        """The category's folder in ``layout`` (the project profile: its file)."""
        found: Path | None = getattr(layout, self.layout_attr)
        return found

    def describe_default(self) -> str:
        """The runbook's age for this category as written: ``30d``, ``never``."""
        return describe_age(self.default)


def describe_age(seconds: float | None) -> str:
    """A retention age for people: ``30d`` (as ``config.yaml`` writes it), ``never`` for
    ``None``, ``at once`` for zero (completed worktrees; no config may give it)."""
    if seconds is None:
        return "never"
    return "at once" if seconds == 0 else format_duration(seconds)


def _c(
    name: str, section: str, label: str, days: float | None, layout_attr: str, **options: Any
) -> RetentionCategory:
    seconds = None if days is None else days * DAY
    return RetentionCategory(name, section, label, seconds, layout_attr, **options)


def _wt(
    name: str, label: str, days: float | None, *, overridable: bool = True
) -> RetentionCategory:
    seconds = None if days is None else days * DAY
    return RetentionCategory(
        name, "Worktrees", label, seconds, "worktrees_dir", overridable=overridable, worktrees=True
    )


CATEGORIES: tuple[RetentionCategory, ...] = (
    _c("workflow_artifacts", "Artifacts", "Workflow artifacts", 30, "workflow_artifacts_dir"),
    _c("quality_reports", "Artifacts", "Quality reports", 90, "quality_reports_dir"),
    _c("test_results", "Artifacts", "Test results", 30, "test_results_dir"),
    _c(
        "documentation_artifacts",
        "Artifacts",
        "Documentation artifacts",
        90,
        "documentation_artifacts_dir",
    ),
    _c("application_logs", "Logs", "Application logs", 30, "application_logs_dir"),
    _c("structured_logs", "Logs", "Structured logs (JSON)", 90, "structured_logs_dir"),
    _c("debug_logs", "Logs", "Debug logs", 7, "debug_logs_dir"),
    _c(
        "analytics_history",
        "Metrics",
        "Analytics history",
        90,
        "analytics_history_dir",
        pattern="*.jsonl",
    ),
    _c("performance_metrics", "Metrics", "Performance metrics", 180, "performance_metrics_dir"),
    _c("confidence_metrics", "Metrics", "Confidence metrics", 90, "confidence_metrics_dir"),
    _c("context7_cache", "Cache", "Context7 cache", NEVER, "context7_cache_dir", overridable=False),
    _c("tiered_context_cache", "Cache", "Tiered context cache", 30, "tiered_cache_dir"),
    _c("project_profile", "Cache", "Project profile", NEVER, "project_profile", overridable=False),
    _wt("completed_worktrees", "Completed worktrees", 0),
    _wt("failed_worktrees", "Failed worktrees", 7),
    _wt("orphan_worktrees", "Orphan worktrees (no workflow records them)", 7),
    _wt("stuck_worktrees", "Stuck worktrees", NEVER, overridable=False),
    _wt("active_worktrees", "Active worktrees (workflow running)", NEVER, overridable=False),
)
BY_NAME: dict[str, RetentionCategory] = {category.name: category for category in CATEGORIES}
#: Categories whose items live directly in a folder of their own (not worktrees).
FILE_CATEGORIES = tuple(c for c in CATEGORIES if not c.worktrees)
WORKTREE_CATEGORIES = tuple(c for c in CATEGORIES if c.worktrees)


class RetentionPolicy(NamedTuple):
    """The age after which each category's items expire (``None``: never)."""

    ages: Mapping[str, float | None]
    source: Path | None = None

    @classmethod
    def defaults(cls) -> RetentionPolicy:
        return cls({category.name: category.default for category in CATEGORIES})

    def age(self, category: str) -> float | None:
        return self.ages[category]

    def expired(self, category: str, age_seconds: float) -> bool:
        """Whether an item ``age_seconds`` old has expired, as the cleanup decides: strictly
        older than the category's age (exactly the age is kept); an age of zero ("at once":
        completed worktrees) expires anything not in the future; ``None`` never expires."""
        limit = self.ages[category]
        if limit is None or age_seconds < 0:
            return False
        return age_seconds > limit or limit == 0


def parse_retention(
    section: Any, *, problem: Callable[[Sequence[str | int], str], Problem]
) -> tuple[dict[str, float | None], list[Problem]]:
    """Overrides from a ``retention:`` mapping, and every problem found in it, in the order of
    the section's keys. Validated with pydantic (:func:`_overrides_model`), loaded here: only a
    project whose ``config.yaml`` has the section pays for its import (docs/performance.md)."""
    from pydantic import ValidationError

    try:
        parsed = _overrides_model().model_validate(section)
    except ValidationError as exc:
        keys = list(section) if isinstance(section, Mapping) else []
        order = {str(key): index for index, key in enumerate(keys)}
        found = [_problem_of(error, keys, problem) for error in exc.errors()]
        found.sort(key=lambda pair: order.get(pair[0], len(order)))
        return {}, [found_problem for _, found_problem in found]
    overrides: dict[str, float | None] = parsed.model_dump(exclude_unset=True)
    return overrides, []


def _problem_of(
    error: Any, keys: list[Any], problem: Callable[[Sequence[str | int], str], Problem]
) -> tuple[str, Problem]:
    """A pydantic error as the problem it reports, with the key it is at (``""``: the section);
    ``keys`` are the section's own (a number stays a number, for its line to be found)."""
    if not error["loc"]:  # not a mapping at all
        message = "expected a mapping of category: age, e.g. 'debug_logs: 3d'"
        return "", problem(["retention"], message)
    key = str(error["loc"][0])
    # pydantic reports a number key as its int and a YAML `true:`/`false:` key as 1/0
    written = next((k for k in keys if isinstance(k, int) and str(int(k)) == key), key)
    key = str(written)
    where: list[str | int] = ["retention", written]
    if key not in BY_NAME:  # an unknown name, or no name at all (a number as the key)
        return key, problem(where, f"unknown retention category{did_you_mean(key, BY_NAME)}")
    cause = error.get("ctx", {}).get("error")
    return key, problem(where, str(cause) if cause is not None else error["msg"])


def _age(value: Any, info: Any) -> float | None:
    """One override, before pydantic's own check: ``never``, or an age with a unit (> 0)."""
    category = BY_NAME[info.field_name]
    if not category.overridable:
        message = (
            f"{category.label}: never removed automatically (the runbook: manual cleanup); "
            "remove this line"
        )
        raise ValueError(message)
    if isinstance(value, str) and value.strip().lower() == "never":
        return None
    if isinstance(value, bool) or not isinstance(value, str):
        example = category.describe_default() if category.default else "7d"  # never "at once"
        message = f"write the age with a unit, e.g. '{example}' or 'never' (got {value!r})"
        raise ValueError(message)  # pydantic reports ValueErrors (a TypeError would escape it)
    try:
        return parse_duration(value, field="age", allow_zero=False)
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("age: ")) from None


@functools.cache
def _overrides_model() -> Any:
    """The ``retention:`` section as a pydantic model: one optional field per category, no
    other key (``extra="forbid"``), each value read by :func:`_age`."""
    from pydantic import ConfigDict, create_model, field_validator

    fields: dict[str, Any] = {category.name: (float | None, None) for category in CATEGORIES}
    return create_model(
        "RetentionOverrides",
        __config__=ConfigDict(extra="forbid"),
        __validators__={"age": field_validator("*", mode="before")(_age)},
        **fields,
    )


def load_retention(layout: Layout) -> RetentionPolicy:
    """The runbook's defaults, overridden by ``config.yaml``'s ``retention:`` section.

    Raises :class:`YamlFileError` listing every problem with its line.
    """
    return _load(layout)[0]


def _load(layout: Layout) -> tuple[RetentionPolicy, dict[str, int | None]]:
    """The policy, and the line of ``config.yaml`` that sets each overridden category."""
    path = layout.config_file
    if not path.is_file():
        return RetentionPolicy.defaults(), {}
    document = load_yaml(path)
    if not isinstance(document.data, Mapping) or "retention" not in document.data:
        return RetentionPolicy.defaults(), {}
    overrides, problems = parse_retention(
        document.data["retention"],
        problem=document.problem,
    )
    if problems:
        raise YamlFileError(problems)
    ages: dict[str, float | None] = dict(RetentionPolicy.defaults().ages)
    ages.update(overrides)
    lines = {name: document.line_of(["retention", name]) for name in overrides}
    return RetentionPolicy(ages, source=path), lines


class RetentionRow(NamedTuple):
    """One category of a project's retention policy: its age here, and what set it."""

    category: RetentionCategory
    #: The age the cleanup uses in this project (``None``: never expires).
    age: float | None
    #: The ``config.yaml`` that sets this category's age, ``None`` for the runbook's default.
    source: Path | None = None
    #: The line of ``source`` that sets it.
    line: int | None = None

    def describe_age(self) -> str:
        """The age here as written: ``3d``, ``never``."""
        return describe_age(self.age)


def retention_table(layout: Layout) -> list[RetentionRow]:
    """Every category, in the runbook's order, with the age the cleanup uses in this project
    and where that age comes from: the runbook's table, or a line of ``config.yaml``
    (``tapps cleanup --policy`` prints this). Raises :class:`YamlFileError` as
    :func:`load_retention` does."""
    policy, lines = _load(layout)
    rows = []
    for category in CATEGORIES:
        age = policy.age(category.name)
        if category.name in lines:
            rows.append(RetentionRow(category, age, policy.source, lines[category.name]))
        else:
            rows.append(RetentionRow(category, age))
    return rows
