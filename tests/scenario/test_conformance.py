"""Tests for pytest_tapps.scenario._conformance: the evidence taken from a failing scenario's
picture (the command and the report are tested through the CLI in
tests/cli/test_cli_conformance.py)."""

from __future__ import annotations

from pytest_tapps.scenario._conformance import Finding, changes, evidence_of_failure

PICTURE = """\
SCENARIO FAILED (the system under test misbehaved)
scenario 'x' failed against tapps-agents: 2 expectation(s) do not hold

/home/qa/suite/usage.tapps.yaml:21: then.unchanged
      21 | unchanged: true
    expected: the tree unchanged
    actual:   it changed

/home/qa/suite/usage.tapps.yaml:23: then.exit_code
      23 | exit_code: 0
    expected: 0
    actual:   1

tree change:
    - .tapps-agents/analytics/history/old.jsonl  (file 1 B sha256:2d711642b726 mtime 1760610600)
    + .tapps-agents/kb/index.yaml  (file 9 B sha256:475bc3ec0693 mtime 1795674112.5)

actions:
  when.0 cleanup -> exit 0
      | Removed: /tmp/pytest-of-root/pytest-7/x0/project/.tapps-agents/a.log
  when.1 worktree_remove -> exit 1
      | line 1
      | line 2
      | ValueError: Invalid worktree name: '/tmp/pytest-of-root/pytest-7/x0/project/../x'
"""


def test_the_evidence_is_the_mismatches_the_tree_change_and_the_failed_actions() -> None:
    """File paths cut to names, source lines left out, mtimes and content hashes dropped (a
    created file's time is the real time, and its content may hold the run's folder), the
    project folder written as <project>, only actions that failed, each with its last two
    lines."""
    assert evidence_of_failure(PICTURE).splitlines() == [
        "usage.tapps.yaml:21: then.unchanged",
        "    expected: the tree unchanged",
        "    actual:   it changed",
        "usage.tapps.yaml:23: then.exit_code",
        "    expected: 0",
        "    actual:   1",
        "tree change:",
        "    - .tapps-agents/analytics/history/old.jsonl  (file 1 B)",
        "    + .tapps-agents/kb/index.yaml  (file 9 B)",
        "when.1 worktree_remove -> exit 1",
        "    line 2",
        "    ValueError: Invalid worktree name: '<project>/../x'",
    ]


def test_a_crash_s_evidence_is_its_first_lines() -> None:
    text = "\n".join(["Traceback (most recent call last):", *(f"  frame {n}" for n in range(20))])
    evidence = evidence_of_failure(text).splitlines()
    assert evidence[0] == "Traceback (most recent call last):"
    assert len(evidence) == 12


def test_a_long_tree_change_is_cut_with_a_count() -> None:
    lines = ["tree change:", *(f"    + f{n}  (file 1 B)" for n in range(11)), "", "x:1: then.a"]
    evidence = evidence_of_failure("\n".join(lines)).splitlines()
    assert evidence[-1] == "    ... 3 more"
    assert evidence[-2] == "    + f7  (file 1 B)"


def test_a_known_departure_that_departs_differently_is_a_change() -> None:
    """Same outcome, other evidence (the package now fails another way): reported with the
    difference of the evidence, so the gate sees changes inside a departure."""
    before = {"a::x": Finding("a", "x", "departs", "then.elapsed\n    actual:   915s")}
    after = {"a::x": Finding("a", "x", "departs", "then.elapsed\n    actual:   920s")}
    assert changes(before, after) == [
        "changed evidence: a::x: departs as recorded, differently",
        "    @@ -1,2 +1,2 @@",
        "     then.elapsed",
        "    -    actual:   915s",
        "    +    actual:   920s",
    ]
    assert changes(before, before) == []
