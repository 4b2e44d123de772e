"""Tests for pytest_tapps.scenario._capture: a live tree captured as a scenario that passes on
the reference core, decides what the core decides on the live tree, and leaves the tree as it
was."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pytest_tapps.core import VirtualClock
from pytest_tapps.harness import Faults, TappsProject, project
from pytest_tapps.scenario import load_file, parse, run_scenario, write_scenario
from pytest_tapps.scenario._capture import CaptureError, age_text, capture
from pytest_tapps.scenario._run import Result
from pytest_tapps.strategies import TreeDescription, trees, workflow_states

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[TappsProject]:
    """A project on the real filesystem whose clock stands at NOW."""
    with project(tmp_path / "live", clock=VirtualClock(NOW.timestamp())) as proj:
        proj.layout.tapps_dir.mkdir(parents=True, exist_ok=True)
        yield proj


def stamps(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with its mode, size and mtime in nanoseconds (lstat)."""
    import os

    found = {}
    for folder, dirs, names in os.walk(root):
        for name in (*dirs, *names):
            path = Path(folder, name)
            st = path.lstat()
            found[str(path)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def replay(folder: Path, parts: dict[str, Any]) -> Result:
    """Write the captured scenario (checked by the loader as it is written) and run it on the
    reference core in a fresh folder."""
    path = write_scenario(folder / "captured.tapps.yaml", **parts)
    (loaded,) = load_file(path)
    return run_scenario(loaded, parse(loaded.data), root=folder / "replay")


def outcome_of(result: Result, action: str) -> Any:
    done = result.last(action)
    assert done is not None, f"the captured scenario performs no {action}"
    return done.outcome


def test_a_captured_tree_replays_to_the_same_plan_dlq_and_status(live: TappsProject) -> None:
    faults = Faults(live)
    try:
        state = live.workflow("wf-1", "running", current=True)
        state.step("plan", "completed")
        state.step("implement", "failed", error="timeout")
        state.save()
        faults.stale_lock("wf-1")
        live.file("analytics/history/old.jsonl", b"\xff\x00binary", age="91d")
        live.file("analytics/history/new.jsonl", b"{}", age="89d")
        live.file("logs/debug/exactly.log", b"x", age="7d")
        live.file("logs/debug/later.log", b"x", age=7 * 86400 + 1e-6)
        live.symlink("logs/debug/out", "/etc/passwd", age="9d")
        folder = live.layout.tapps_dir / "artifacts" / "workflows" / "run-1"
        folder.mkdir(parents=True)
        live.age(folder, "31d")

        captured = capture(live.root, now=NOW)
        result = replay(live.root.parent / "again", captured.parts)
    finally:
        faults.close()

    plan = captured.parts["then"]["plan"]
    assert plan[".tapps-agents/logs/debug/exactly.log"].startswith("keep")  # exactly 7d is kept
    assert plan[".tapps-agents/logs/debug/later.log"].startswith("delete")
    assert plan[".tapps-agents/artifacts/workflows/run-1"].startswith("delete")
    assert outcome_of(result, "cleanup").data["items"] == plan
    assert captured.parts["then"]["diagnosis"]["stuck"] is True
    assert captured.parts["then"]["dlq"] == [
        {
            "workflow_id": "wf-1",
            "step_id": "implement",
            "category": "timeout",
            "recoverable": True,
            "code": "timeout_error",
        }
    ]
    # The dead holder stays dead, and the file no rule reads is a placeholder of its size.
    (lock,) = captured.parts["given"]["locks"]
    assert lock["holder"] == "dead-pid"
    files = {spec["path"]: spec for spec in captured.parts["given"]["files"]}
    assert files[".tapps-agents/analytics/history/old.jsonl"] == {
        "path": ".tapps-agents/analytics/history/old.jsonl",
        "age": "91d",
        "size": 8,
    }


def test_a_live_holder_is_captured_live_and_a_damaged_state_as_its_bytes(
    live: TappsProject,
) -> None:
    faults = Faults(live)
    try:
        state = live.workflow("wf-2", "running", current=True)
        state.step("implement", "running")
        state.save()
        faults.live_lock("wf-2")
        damaged = live.layout.history_dir / "wf-old.json"
        live.write(damaged, b'{"workflow_id": "wf-old", "status": \xff', age="2d")
        captured = capture(live.root, now=NOW)
        result = replay(live.root.parent / "again", captured.parts)
    finally:
        faults.close()
    (lock,) = captured.parts["given"]["locks"]
    assert lock["holder"] == "live"
    assert captured.parts["then"]["diagnosis"]["stuck"] is False
    files = {spec["path"]: spec for spec in captured.parts["given"]["files"]}
    kept = files[".tapps-agents/workflow-state/history/wf-old.json"]
    assert "base64" in kept
    assert outcome_of(result, "status").exit_code == 0


def test_capture_changes_nothing_and_follows_no_link(live: TappsProject, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "secret.txt").write_text("not to be read")
    live.file("logs/debug/a.log", b"x", age="3d")
    live.symlink("logs/debug/to-folder", outside, age="1d")
    live.symlink("artifacts/workflows", outside / "deep", age="1d")
    before = live.snapshot()
    outside_before = TappsProject(outside).snapshot()

    captured = capture(live.root, now=NOW)

    assert live.snapshot() == before
    assert TappsProject(outside).snapshot() == outside_before
    text = repr(captured.parts)
    assert "secret" not in text
    links = {link["path"]: link["target"] for link in captured.parts["given"]["symlinks"]}
    assert links[".tapps-agents/artifacts/workflows"] == "../outside/deep"


@pytest.mark.parametrize(
    ("nanoseconds", "written"),
    [
        (0, "0s"),
        (7 * 86400 * 10**9, "7d"),
        (3 * 3600 * 10**9, "3h"),
        (90 * 10**9, "90s"),
        (7 * 86400 * 10**9 + 1000, "604800.000001s"),
        (-(10**9) // 2, "-0.5s"),
        (-86400 * 10**9, "-1d"),
    ],
)
def test_ages_are_written_exactly(nanoseconds: int, written: str) -> None:
    assert age_text(nanoseconds) == written


@given(st.integers(-(10**19), 10**19))
def test_an_age_reads_back_to_the_nanosecond(nanoseconds: int) -> None:
    from decimal import Decimal

    from pytest_tapps.scenario._model import seconds_of

    text = age_text(nanoseconds)
    number, unit = text[:-1], text[-1]
    size = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert Decimal(number) * size * 10**9 == nanoseconds
    assert seconds_of(text, signed=True) == pytest.approx(nanoseconds / 10**9, abs=1e-6, rel=1e-15)


def test_a_folder_without_tapps_agents_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"no \.tapps-agents/ folder.*--project-root"):
        capture(tmp_path, now=NOW)


def test_a_tree_of_the_real_package_is_not_taken_for_the_runbooks(live: TappsProject) -> None:
    (live.layout.tapps_dir / "kb" / "context7-cache").mkdir(parents=True)
    with pytest.raises(CaptureError, match=r"--layout tapps-agents-3\.7"):
        capture(live.root, now=NOW)


def unnumbered(items: dict[str, str], plan: dict[str, str]) -> dict[str, str]:
    """``items`` without the paths of the plan's numbered entries, each of which must carry
    its entry's label (and each entry must have a path)."""
    import re

    rest = dict(items)
    for path, label in plan.items():
        if "{n}" not in path:
            continue
        head, _, tail = path.partition("{n}")
        pattern = re.compile(re.escape(head) + "[0-9]+" + re.escape(tail), re.DOTALL)
        matched = {key: value for key, value in rest.items() if pattern.fullmatch(key)}
        assert matched, f"no replayed path for {path}"
        assert set(matched.values()) == {label}, (path, matched)
        for key in matched:
            del rest[key]
    return rest


# -- round trip over fabricated trees ------------------------------------------------------------


def _build(description: TreeDescription, root: Path, states: list[Any]) -> TappsProject:
    clock = VirtualClock(NOW.timestamp())
    proj = TappsProject(root, clock=clock)
    proj.layout.tapps_dir.mkdir(parents=True, exist_ok=True)
    description.build(proj)
    for index, state in enumerate(states):
        current = proj.layout.current_state_file
        path = current if index == 0 and current else proj.layout.history_file(state.workflow_id)
        proj.write(path, state.model_dump_json(indent=2), age=index * 3600)
    return proj


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    description=trees(max_files=8),
    states=st.lists(workflow_states(), max_size=2, unique_by=lambda s: s.workflow_id),
    compact_over=st.sampled_from([None, 1, 2]),
    redact=st.booleans(),
)
def test_capture_then_replay_decides_what_the_core_decides_on_the_live_tree(
    description: TreeDescription, states: list[Any], compact_over: int | None, redact: bool
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tapps-capture-"))
    try:
        live = _build(description, folder / "live", states)
        before, times = live.snapshot(), stamps(live.root)
        captured = capture(live.root, now=NOW, compact_over=compact_over, redact_names=redact)
        assert stamps(live.root) == times, "the capture changed an mtime"
        numbered = [spec for spec in captured.parts["given"].get("files", []) if "count" in spec]
        event(f"numbered entries: {'some' if numbered else 'none'}")
        assert live.snapshot() == before, "the capture changed the tree it read"
        result = replay(folder / "again", captured.parts)  # raises when a `then` fails
        replayed = outcome_of(result, "cleanup").data["items"]
        covered = {path: label for path, label in replayed.items() if captured.covers(path)}
        assert unnumbered(covered, captured.parts["then"]["plan"]) == {
            path: label
            for path, label in captured.parts["then"]["plan"].items()
            if "{n}" not in path
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_what_a_scenario_cannot_hold_is_reported_and_pinned_nowhere(live: TappsProject) -> None:
    """A name with NEL (YAML reads it back as a line break) and a pipe are left out, each with
    why; the run folder holding the name is decided by nothing in `then:`, the rest is."""
    import os

    run = live.layout.tapps_dir / "artifacts" / "workflows" / "run-9"
    live.write(run / "ok.txt", b"x", age="40d")
    live.write(run / "bad\x85name", b"x", age="40d")
    os.mkfifo(live.layout.tapps_dir / "logs-pipe")
    live.file("logs/debug/old.log", b"x", age="8d")

    captured = capture(live.root, now=NOW)

    assert sorted(captured.left_out) == [
        ".tapps-agents/artifacts/workflows/run-9/bad\x85name",
        ".tapps-agents/logs-pipe",
    ]
    assert any("logs-pipe: not a file, folder or link" in why for why in captured.skipped)
    assert any(
        "'.tapps-agents/artifacts/workflows/run-9/bad\\x85name'" in why for why in captured.skipped
    )
    plan = captured.parts["then"]["plan"]
    assert ".tapps-agents/artifacts/workflows/run-9" not in plan
    assert plan[".tapps-agents/logs/debug/old.log"].startswith("delete")
    assert not captured.covers(".tapps-agents/artifacts/workflows/run-9")
    assert captured.covers(".tapps-agents/logs/debug/old.log")


def test_many_files_of_one_folder_and_decision_are_one_numbered_entry(
    live: TappsProject,
) -> None:
    """300 expired and 30 fresh analytics files, 2 odd ones: a few hundred bytes of YAML, and
    the replay decides each numbered file as the live tree decided each real one."""
    for n in range(300):
        live.file(
            f"analytics/history/event-{n:05d}.jsonl", b"x" * (100 + n % 7), age=f"{91 + n % 30}d"
        )
    for n in range(30):
        live.file(f"analytics/history/event-{n + 500:05d}.jsonl", b"{}", age=f"{n}h")
    live.file("analytics/history/odd.jsonl", b"x", age="100d")
    live.file("analytics/history/notes.txt", b"x", age="100d")

    captured = capture(live.root, now=NOW, actions=["cleanup"])

    files = captured.parts["given"]["files"]
    numbered = [spec for spec in files if "count" in spec]
    assert sorted(spec["count"] for spec in numbered) == [30, 300]
    old = next(spec for spec in numbered if spec["count"] == 300)
    # The fresh files share the names' shape, so the expired ones' numbers go after an ordinal:
    # no numbered name of one can be read as one of the other's.
    assert old["path"] == ".tapps-agents/analytics/history/event-001-{n}.jsonl"
    fresh = next(spec for spec in numbered if spec["count"] == 30)
    assert fresh["path"] == ".tapps-agents/analytics/history/event-005{n}.jsonl"
    assert (old["age"], old["age_to"]) == ("91d", "120d")
    assert old["size"] == 103  # the mean
    plan = captured.parts["then"]["plan"]
    assert plan[".tapps-agents/analytics/history/event-001-{n}.jsonl"].startswith("delete")
    assert plan[".tapps-agents/analytics/history/event-005{n}.jsonl"].startswith("keep")
    assert plan[".tapps-agents/analytics/history/odd.jsonl"].startswith("delete")
    from pytest_tapps.scenario._export import scenario_text

    assert len(scenario_text(**captured.parts)) < 2500
    result = replay(live.root.parent / "again", captured.parts)
    replayed = outcome_of(result, "cleanup").data["items"]
    assert len(replayed) == 332
    assert unnumbered(replayed, plan) == {k: v for k, v in plan.items() if "{n}" not in k}


# -- the real package's layout -------------------------------------------------------------------


def _build_real(description: TreeDescription, root: Path, states: list[Any]) -> TappsProject:
    """The tree as the tapps-agents 3.7 package lays it out: the drawn files in its places, and
    the states saved as its state manager saves them (timestamped, checksummed, last.json)."""
    import dataclasses

    from pytest_tapps.core import TappsError
    from pytest_tapps.core._layout import RUNBOOK, TAPPS_AGENTS_3_7, translate
    from pytest_tapps.core._real_state import save_real_state

    taken: set[str] = set()

    def first(item: Any) -> bool:
        """The runbook's three log folders are one in the package's: one item per place."""
        if item.path in taken or any(
            item.path.startswith(p + "/") or p.startswith(item.path + "/") for p in taken
        ):
            return False
        taken.add(item.path)
        return True

    files = [
        dataclasses.replace(f, path=translate(f.path, RUNBOOK, TAPPS_AGENTS_3_7))
        for f in description.files
    ]
    links = [_moved_link(link) for link in description.symlinks]
    moved = dataclasses.replace(
        description,
        files=tuple(f for f in files if first(f)),
        symlinks=tuple(link for link in links if first(link)),
    )
    proj = TappsProject(root, clock=VirtualClock(NOW.timestamp()), layout=TAPPS_AGENTS_3_7)
    proj.layout.tapps_dir.mkdir(parents=True, exist_ok=True)
    moved.build(proj)
    for index, state in enumerate(states):
        try:
            save_real_state(
                proj.layout, state, now=NOW - timedelta(hours=index), point_last=index == 0
            )
        except (TappsError, OSError):
            continue  # an id the package could not name a file after
    return proj


def _moved_link(link: Any) -> Any:
    """A drawn link moved to the real package's places, its target written from the root (a
    relative one would point elsewhere from the link's new folder)."""
    import dataclasses

    from pytest_tapps.core._layout import RUNBOOK, TAPPS_AGENTS_3_7, translate
    from pytest_tapps.strategies import ROOT_MARKER, _resolve_lexically

    if link.target.startswith(ROOT_MARKER):
        aim = link.target.removeprefix(ROOT_MARKER)
    else:
        aim = _resolve_lexically(link)
    if aim.startswith("..") or aim in (".", ""):
        return dataclasses.replace(link, path=translate(link.path, RUNBOOK, TAPPS_AGENTS_3_7))
    kind = "outside-absolute" if link.kind.startswith("outside") else link.kind
    return dataclasses.replace(
        link,
        path=translate(link.path, RUNBOOK, TAPPS_AGENTS_3_7),
        target=ROOT_MARKER + translate(aim, RUNBOOK, TAPPS_AGENTS_3_7),
        kind=kind,
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    description=trees(max_files=8),
    states=st.lists(workflow_states(), max_size=2, unique_by=lambda s: s.workflow_id),
    compact_over=st.sampled_from([None, 1]),
)
def test_a_tree_of_the_real_package_replays_to_its_decisions(
    description: TreeDescription, states: list[Any], compact_over: int | None
) -> None:
    """Captured with --layout tapps-agents-3.7, the scenario is written in the runbook's paths
    with layout: tapps-agents-3.7, and its replay decides what the core decided on the live
    tree (compared in the runbook's paths)."""
    from pytest_tapps.core._layout import RUNBOOK, TAPPS_AGENTS_3_7, translate

    folder = Path(tempfile.mkdtemp(prefix="tapps-capture-"))
    try:
        live = _build_real(description, folder / "live", states)
        before = live.snapshot()
        captured = capture(live.root, layout="tapps-agents-3.7", now=NOW, compact_over=compact_over)
        assert live.snapshot() == before, "the capture changed the tree it read"
        assert captured.parts["layout"] == "tapps-agents-3.7"
        result = replay(folder / "again", captured.parts)  # raises when a `then` fails
        replayed = {
            translate(path, TAPPS_AGENTS_3_7, RUNBOOK): label
            for path, label in outcome_of(result, "cleanup").data["items"].items()
        }
        covered = {path: label for path, label in replayed.items() if captured.covers(path)}
        plan = captured.parts["then"]["plan"]
        assert unnumbered(covered, plan) == {k: v for k, v in plan.items() if "{n}" not in k}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_state_left_out_leaves_the_status_unpinned(live: TappsProject) -> None:
    """The current state's name holds NEL: it cannot be written in a scenario, so which
    workflow is current in the replay is not the live tree's; status is not pinned, and says
    why, while the cleanup still is."""
    live.write(live.layout.history_dir / "wf\x85.json", b"{}", age="1d")
    live.file("logs/debug/old.log", b"x", age="8d")
    captured = capture(live.root, now=NOW, actions=["status", "cleanup"])
    assert "diagnosis" not in captured.parts["then"]
    assert "exit_code" not in captured.parts["then"]
    assert [next(iter(action)) for action in captured.parts["when"]] == ["cleanup"]
    assert any(why.startswith("status: not pinned") for why in captured.skipped)
    assert captured.parts["runbook"] == [
        "Cleanup Tools > Usage > Dry run",
        "Workflow Stuck/Failed Recovery > Diagnosis > Check workflow state",
    ]
    replay(live.root.parent / "again", captured.parts)


def test_redacted_names_hide_what_rules_do_not_read_and_keep_what_they_do(
    live: TappsProject,
) -> None:
    from pytest_tapps.scenario._capture import redacted_name
    from pytest_tapps.scenario._export import scenario_text

    state = live.workflow("wf-customer-acme", "failed", current=True)
    state.step("deploy-acme", "failed", error="timeout")
    state.save()
    live.file("analytics/history/acme-invoices.jsonl", b"x", age="100d")
    live.file("logs/debug/acme/secret-plan.log", b"x", age="8d")
    live.file("artifacts/workflows/acme-run/report.html", b"x", age="40d")
    live.symlink("logs/debug/latest.log", live.layout.tapps_dir / "logs/debug/acme/secret-plan.log")

    captured = capture(live.root, now=NOW, redact_names=True)
    text = scenario_text(**captured.parts)

    for private in ("acme-invoices", "secret-plan", "acme-run", "report", str(live.root)):
        assert private not in text
    assert "wf-customer-acme" in text  # a workflow id: status and the DLQ match it
    hidden = f".tapps-agents/analytics/history/{redacted_name('acme-invoices.jsonl')}"
    assert hidden.endswith(".jsonl")  # the category's *.jsonl still matches
    assert captured.parts["then"]["plan"][hidden].startswith("delete")
    (link,) = captured.parts["given"]["symlinks"]
    assert link["target"] == (
        f".tapps-agents/logs/debug/{redacted_name('acme')}/{redacted_name('secret-plan.log')}"
    )
    assert redacted_name("acme-invoices.jsonl") == redacted_name("acme-invoices.jsonl")
    assert redacted_name("a.jsonl") != redacted_name("b.jsonl")
    replay(live.root.parent / "again", captured.parts)


# -- git worktrees -------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> None:
    import subprocess

    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@x", *args],
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_worktrees_are_captured_registered_locked_and_gone(tmp_path: Path) -> None:
    """A project's own repository (not the harness's) with three worktrees in
    .tapps-agents/worktrees: one old, one old and `git worktree lock`-ed, one whose folder was
    deleted by hand (still registered: prunable). The capture makes each a real git worktree as
    it is, and the replay's plan is the live one's."""
    import os

    root = tmp_path / "live"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('app')\n")
    _git(root, "init", "-q", "-b", "trunk")
    _git(root, "add", "src/app.py")
    _git(root, "commit", "-q", "-m", "app")
    for name in ("wt-old", "wt-locked", "wt-gone"):
        _git(root, "worktree", "add", "-q", "-b", f"work/{name}", f".tapps-agents/worktrees/{name}")
    _git(root, "worktree", "lock", ".tapps-agents/worktrees/wt-locked")
    shutil.rmtree(root / ".tapps-agents" / "worktrees" / "wt-gone")
    stamp = NOW.timestamp() - 20 * 86400
    for folder, _dirs, names in os.walk(root / ".tapps-agents"):
        for name in [*names, *_dirs]:
            os.utime(Path(folder, name), (stamp, stamp), follow_symlinks=False)

    captured = capture(root, now=NOW, actions=["cleanup"])

    worktrees = {spec["name"]: spec for spec in captured.parts["given"]["worktrees"]}
    assert worktrees == {
        "wt-gone": {"name": "wt-gone", "git": True, "files": 0, "gone": True},
        "wt-locked": {"name": "wt-locked", "git": True, "files": 0, "age": "20d", "locked": True},
        "wt-old": {"name": "wt-old", "git": True, "files": 0, "age": "20d"},
    }
    assert captured.parts["requires"] == ["git"]
    paths = [spec["path"] for spec in captured.parts["given"]["files"]]
    assert ".tapps-agents/worktrees/wt-old/src/app.py" in paths
    assert not any(path.endswith("/.git") for path in paths)  # git makes it in the replay
    plan = captured.parts["then"]["plan"]
    assert plan[".tapps-agents/worktrees/wt-locked"].startswith("skip")
    result = replay(tmp_path / "again", captured.parts)
    assert outcome_of(result, "cleanup").data["items"] == plan


def test_a_folder_that_cannot_be_listed_is_reported_and_skipped() -> None:
    """On the fake filesystem (a normal user, so permissions hold even for root): a log folder
    with no read permission is left out, with why, and pinned nowhere; the rest is captured."""
    with project(fs="fake", clock=VirtualClock(NOW.timestamp())) as proj:
        proj.file("logs/debug/old.log", b"x", age="8d")
        proj.file("logs/debug/closed/inner.log", b"x", age="9d")
        closed = proj.layout.tapps_dir / "logs" / "debug" / "closed"
        closed.chmod(0o300)  # searchable, not listable
        captured = capture(proj.root, now=NOW, actions=["cleanup"])
        closed.chmod(0o700)
    assert captured.left_out == [".tapps-agents/logs/debug/closed"]
    assert captured.skipped == [
        ".tapps-agents/logs/debug/closed: cannot be listed (Permission denied)"
    ]
    plan = captured.parts["then"]["plan"]
    assert ".tapps-agents/logs/debug/closed" not in plan
    assert plan[".tapps-agents/logs/debug/old.log"].startswith("delete")


# -- resume ----------------------------------------------------------------------------------------


def test_resume_is_pinned_as_the_core_resumes_the_captured_workflow(live: TappsProject) -> None:
    """A failed workflow whose state records its definition: the capture's resume reruns only
    the failed step and completes the workflow; the live tree is not resumed (nothing changed),
    and the replay passes on the core."""
    from pytest_tapps.core import WorkflowDefinition

    definition = WorkflowDefinition.model_validate(
        {
            "id": "wf-r",
            "steps": [{"id": "plan", "agent": "planner"}, {"id": "build", "agent": "implementer"}],
        }
    )
    state = live.workflow("wf-r", "failed", current=True)
    state.step("plan", "completed").step("build", "failed", error="timeout")
    path = state.save()
    import json

    data = json.loads(path.read_text())
    data["definition"] = definition.model_dump(mode="json", exclude_none=True)
    live.write(path, json.dumps(data, indent=2), age="1h")
    before = live.snapshot()

    captured = capture(live.root, now=NOW, actions=["status", "resume"])

    assert live.snapshot() == before
    assert captured.parts["when"][-1] == {"resume": {"workflow": "wf-r"}}
    then = captured.parts["then"]
    assert then["exit_code"] == 0
    assert then["workflows"] == {
        "wf-r": {
            "status": "completed",
            "steps": {"plan": {"status": "completed"}, "build": {"status": "completed"}},
        }
    }
    assert then["diagnosis"]["stuck"] is False  # the status, asked before the resume
    replay(live.root.parent / "again", captured.parts)


def test_a_resume_the_core_refuses_is_pinned_as_refused(live: TappsProject) -> None:
    state = live.workflow("wf-n", "failed", current=True)
    state.step("build", "failed", error="timeout")
    state.save()  # no definition recorded: resume needs --definition
    captured = capture(live.root, now=NOW, actions=["resume"])
    then = captured.parts["then"]
    assert then["exit_code"] != 0
    assert "definition" in then["output_contains"][0]
    assert then["workflows"]["wf-n"]["status"] == "failed"  # untouched
    replay(live.root.parent / "again", captured.parts)
