"""Tests for pytest_tapps.core._cache: Context7 entry integrity, recovery, warming, clearing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_tapps.core import Layout, UnsafeNameError, VirtualClock
from pytest_tapps.core._cache import (
    CacheError,
    check_entry,
    clear_profile,
    clear_tiered,
    invalidate,
    invalidate_all,
    recover,
    verify_cache,
    warm_from_folder,
    warm_with,
    write_entry,
)

DOCS = {"docs.md": "# React\n", "index.json": '{"topics": ["hooks"]}', "meta/topics.yaml": "a: 1\n"}


def _entry(tmp_path: Path, library_id: str = "react") -> Path:
    return write_entry(Layout(tmp_path), library_id, DOCS, clock=VirtualClock())


def test_written_entries_verify_clean(tmp_path: Path) -> None:
    """An entry written by write_entry lists every document with size and hash."""
    entry = _entry(tmp_path)
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["library_id"] == "react"
    assert meta["created_at"] == "2026-01-15T10:30:00Z"
    assert sorted(meta["files"]) == ["docs.md", "index.json", "meta/topics.yaml"]
    assert check_entry(entry).ok


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda e: (e / "meta.json").unlink(), "missing metadata (meta.json)"),
        (
            lambda e: (e / "meta.json").write_text("{"),
            "bad metadata (meta.json): Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (lambda e: (e / "docs.md").write_text("# Re"), "truncated file docs.md (4 of 8 bytes)"),
        (lambda e: (e / "docs.md").write_text(""), "empty file docs.md"),
        (lambda e: (e / "docs.md").write_text("# Vue!!\n"), "hash mismatch in docs.md"),
        (lambda e: (e / "docs.md").unlink(), "missing file docs.md"),
        (
            lambda e: (e / "extra.bin").write_bytes(b"\x00\xff"),
            "extra.bin is not listed in the metadata",
        ),
        (lambda e: (e / "ghost").symlink_to("/etc/passwd"), "ghost is a link"),
    ],
)
def test_each_kind_of_corruption_is_named(tmp_path: Path, damage: object, problem: str) -> None:
    """verify says which file is wrong and how."""
    entry = _entry(tmp_path)
    damage(entry)  # type: ignore[operator]
    assert check_entry(entry).problems == (problem,)


def test_bad_json_and_yaml_documents_are_corrupt(tmp_path: Path) -> None:
    """A JSON or YAML document that no longer parses is reported even if its hash was updated."""
    layout = Layout(tmp_path)
    entry = write_entry(layout, "broken", {"a.json": "{nope", "b.yaml": "a: [1,"})
    problems = check_entry(entry).problems
    assert problems[0].startswith("bad JSON in a.json: Expecting property name")
    assert problems[1].startswith("bad YAML in b.yaml:")


def test_recover_removes_corrupt_entries_only(tmp_path: Path) -> None:
    """Valid entries stay; corrupt ones go (to be fetched again); a dry run removes nothing."""
    good = _entry(tmp_path, "react")
    bad = _entry(tmp_path, "vue")
    (bad / "docs.md").write_text("")
    layout = Layout(tmp_path)
    assert [c.library_id for c in recover(layout, dry_run=True)] == ["vue"]
    assert bad.exists()
    assert [c.library_id for c in recover(layout)] == ["vue"]
    assert good.exists()
    assert not bad.exists()
    assert [c.ok for c in verify_cache(layout)] == [True]


def test_invalidate_refuses_unsafe_ids_and_deletes_nothing(tmp_path: Path) -> None:
    """'../x', absolute and nested ids are refused before anything is touched."""
    _entry(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    for bad in ("../../victim", "/tmp", "a/b", "..", ""):
        with pytest.raises(UnsafeNameError):
            invalidate(Layout(tmp_path), bad)
    assert victim.exists()
    assert check_entry(Layout(tmp_path).context7_entry("react")).ok


def test_invalidate_one_and_all(tmp_path: Path) -> None:
    """One library's entry, or every entry, is removed; a missing one is not an error."""
    _entry(tmp_path, "react")
    _entry(tmp_path, "vue")
    layout = Layout(tmp_path)
    assert invalidate(layout, "nope") is None
    assert invalidate(layout, "react") is not None
    assert [c.library_id for c in verify_cache(layout)] == ["vue"]
    assert list(invalidate_all(layout)) == ["vue"]
    assert verify_cache(layout) == []


def test_an_entry_that_is_a_link_is_removed_as_a_link(tmp_path: Path) -> None:
    """A library id pointing out of the cache: the link goes, its target stays."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.md").write_text("keep")
    cache = Layout(tmp_path).context7_cache_dir
    cache.mkdir(parents=True)
    (cache / "evil").symlink_to(outside)
    assert check_entry(cache / "evil").problems == ("entry is a link",)
    recover(Layout(tmp_path))
    assert not (cache / "evil").is_symlink()
    assert (outside / "keep.md").exists()


def test_warm_from_a_folder_fills_missing_and_corrupt_entries_only(tmp_path: Path) -> None:
    """Subfolders and loose files become entries; valid entries are left as they are."""
    source = tmp_path / "docs"
    (source / "react").mkdir(parents=True)
    (source / "react" / "hooks.md").write_text("# hooks\n")
    (source / "vue.md").write_text("# vue\n")
    (source / "nextjs").mkdir()
    (source / "nextjs" / "routing.md").write_text("# routing\n")
    project = tmp_path / "project"
    layout = Layout(project)
    existing = write_entry(layout, "react", {"old.md": "old"})
    broken = write_entry(layout, "nextjs", {"routing.md": "x"})
    (broken / "routing.md").write_text("")
    report = warm_from_folder(layout, source)
    assert (report.warmed, report.already_valid, report.failed) == (
        ["nextjs", "vue"],
        ["react"],
        [],
    )
    assert (existing / "old.md").read_text() == "old"
    assert all(c.ok for c in verify_cache(layout))
    assert (layout.context7_entry("vue") / "vue.md").read_text() == "# vue\n"


def test_warm_with_a_fetcher_and_report_its_failures(tmp_path: Path) -> None:
    """A fetcher fills the named libraries; one that fails is reported, others still warm."""

    def fetch(library_id: str) -> dict[str, str]:
        if library_id == "down":
            raise CacheError("service unavailable")
        return {"docs.md": f"# {library_id}\n"}

    report = warm_with(Layout(tmp_path), fetch, ["react", "down", "../x"])
    assert report.warmed == ["react"]
    assert [lib for lib, _ in report.failed] == ["down", "../x"]
    assert "must not contain" in report.failed[1][1]


def test_clear_tiered_and_profile(tmp_path: Path) -> None:
    """The tiered cache is emptied (folder kept); the profile file is removed."""
    layout = Layout(tmp_path)
    tiered = layout.tiered_cache_dir
    assert tiered is not None
    (tiered / "agent-a").mkdir(parents=True)
    (tiered / "agent-a" / "ctx.json").write_text("{}")
    (tiered / "top.json").write_text("{}")
    layout.project_profile.write_text("project: x\n")
    assert [p.name for p in clear_tiered(layout, dry_run=True)] == ["agent-a", "top.json"]
    assert len(list(tiered.iterdir())) == 2
    clear_tiered(layout)
    assert list(tiered.iterdir()) == []
    assert clear_profile(layout) == layout.project_profile
    assert not layout.project_profile.exists()
    assert clear_profile(layout) is None
