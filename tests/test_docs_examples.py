"""Runs the examples of the docs as tests, so the docs cannot rot: every Python example of
docs/fixtures.md as a test module, every scenario of docs/scenarios.md as a scenario file, and
docs/ci.md's target file against the real command line, with its actions table checked."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
DOC = DOCS / "fixtures.md"
EXAMPLES = re.findall(r"### (.+?)\n\n```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_fixture_reference_has_examples() -> None:
    """The reference shows at least one runnable example per fixture."""
    text = "\n".join(code for _, code in EXAMPLES)
    for fixture in ("tapps_project", "tapps_clock", "tapps_faults", "tapps_logs"):
        assert f"{fixture}" in text, fixture
    assert len(EXAMPLES) >= 5


HYPOTHESIS_GUIDE = DOCS / "hypothesis.md"
HYPOTHESIS_EXAMPLES = re.findall(
    r"### (.+?)\n\n```python\n(.*?)```", HYPOTHESIS_GUIDE.read_text(encoding="utf-8"), re.S
)
#: The runnable python blocks of docs/fixtures.md and docs/hypothesis.md.
PYTHON_EXAMPLES = [(f"fixtures: {t}", c) for t, c in EXAMPLES] + [
    (f"hypothesis: {t}", c) for t, c in HYPOTHESIS_EXAMPLES
]


@pytest.mark.parametrize(
    ("title", "code"), PYTHON_EXAMPLES, ids=[title for title, _ in PYTHON_EXAMPLES]
)
def test_example_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, title: str, code: str
) -> None:
    """Each example of docs/fixtures.md and docs/hypothesis.md passes under pytest -p tapps
    with autoloading off."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_example=code)
    result = pytester.runpytest("-p", "tapps", "--strict-markers", "-W", "error")
    assert result.ret == 0, f"{title}:\n{result.stdout.str()}"


# -- docs/scenarios.md ---------------------------------------------------------------------------
#
# A ```yaml block that starts with `name:` or `scenarios:` is a scenario file. HTML comments on
# the line(s) just before a block say more about it:
#   <!-- file: PATH -->     write the block at PATH (from the project root), whatever it starts
#                           with: a scenario file if PATH ends in .tapps.yaml, else a fragment
#                           for include: (written beside every example)
#   <!-- invalid -->        the file must fail collection (exit 2)
#   <!-- fails -->          the scenario must fail (SCENARIO FAILED)
#   <!-- harness-error -->  the scenario must end in a HARNESS ERROR
# The ```text block after an invalid, failing or harness-error example is the output the guide
# shows: each of its lines must appear in the output, in order (a leading "..." stands for the
# folders before the file name; a line of "..." alone stands for lines left out).

SCENARIO_GUIDE = DOCS / "scenarios.md"
_BLOCK = re.compile(
    r"((?:<!--[^\n]*-->\n)*)```(yaml|text)\n(.*?)```",
    re.S,
)
_EXPECTS = ("invalid", "fails", "harness-error")


@dataclass(frozen=True)
class Block:
    """One YAML example of the guide, with what the guide says about it."""

    line: int
    text: str
    path: str
    expect: str
    shown: str

    @property
    def id(self) -> str:
        return f"line-{self.line}-{self.expect}"


def _blocks(text: str) -> tuple[list[Block], list[Block]]:
    """The guide's scenario examples and its fragment files, in document order."""
    found = list(_BLOCK.finditer(text))
    scenarios: list[Block] = []
    fragments: list[Block] = []
    for index, match in enumerate(found):
        comments, kind, body = match.groups()
        if kind != "yaml":
            continue
        notes = re.findall(r"<!--\s*(.*?)\s*-->", comments)
        path = next((n.split(":", 1)[1].strip() for n in notes if n.startswith("file:")), "")
        expect = next((n for n in notes if n in _EXPECTS), "passes")
        line = text.count("\n", 0, match.start(2)) + 1
        following = found[index + 1] if index + 1 < len(found) else None
        shown = ""
        if expect != "passes":
            assert following is not None, f"line {line}: {expect} example without a ```text block"
            assert following.group(2) == "text", f"line {line}: no ```text block after it"
            shown = following.group(3)
        first = body.lstrip().split("\n", 1)[0]
        if path and not path.endswith(".tapps.yaml"):
            fragments.append(Block(line, body, path, "fragment", ""))
        elif path or first.startswith(("name:", "scenarios:")):
            default = f"scenarios/guide/example-{line}.tapps.yaml"
            scenarios.append(Block(line, body, path or default, expect, shown))
    return scenarios, fragments


GUIDE_TEXT = SCENARIO_GUIDE.read_text(encoding="utf-8")
SCENARIOS, FRAGMENTS = _blocks(GUIDE_TEXT)


def _shown_in_order(shown: str, output: str) -> None:
    """Each line the guide shows is in the output, in the same order."""
    position = 0
    for raw in shown.splitlines():
        line = raw.strip(" _!=")
        if line.startswith("..."):
            line = line[3:].strip()
        if not line:
            continue
        found = output.find(line, position)
        assert found >= 0, f"the guide shows {line!r}, not in the output after it:\n{output}"
        position = found + len(line)


def test_the_scenario_guide_has_an_example_per_action() -> None:
    """Every action of the format has a complete, passing scenario in the guide."""
    from pytest_tapps.scenario._model import ACTIONS

    passing = "\n".join(b.text for b in SCENARIOS if b.expect == "passes")
    missing = [name for name in ACTIONS if not re.search(rf"- {name}:", passing)]
    assert not missing, f"no example in docs/scenarios.md for: {missing}"
    assert {b.expect for b in SCENARIOS} == {"passes", *_EXPECTS}


@pytest.mark.parametrize("block", SCENARIOS, ids=[b.id for b in SCENARIOS])
def test_scenario_guide_example(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, block: Block
) -> None:
    """Each scenario of docs/scenarios.md does what the guide says: passes on the reference
    core, or fails the way the guide shows."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\n")  # the project root is the rootdir, as in a real project
    for fragment in FRAGMENTS:
        target = pytester.path / fragment.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fragment.text, encoding="utf-8")
    path = pytester.path / block.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block.text, encoding="utf-8")
    # A subprocess per example: fake-filesystem scenarios patch modules of the process.
    result = pytester.runpytest_subprocess("-p", "tapps", "-p", "no:cacheprovider", block.path)
    output = result.stdout.str()
    where = f"docs/scenarios.md line {block.line}:\n{output}"
    if block.expect == "passes":
        outcomes = result.parseoutcomes()
        if "skipped" in outcomes and "requires:" in block.text:
            pytest.skip(f"line {block.line}: a requirement is missing here")
        assert result.ret == 0, where
        assert set(outcomes) == {"passed"}, where
        return
    if block.expect == "invalid":
        assert result.ret == pytest.ExitCode.INTERRUPTED, where
        assert "INVALID SCENARIO FILE" in output, where
    elif block.expect == "fails":
        assert result.ret == pytest.ExitCode.TESTS_FAILED, where
        assert "SCENARIO FAILED" in output, where
    else:
        assert result.ret == pytest.ExitCode.TESTS_FAILED, where
        assert "HARNESS ERROR" in output, where
    _shown_in_order(block.shown, output)


# -- docs/hypothesis.md --------------------------------------------------------------------------


def test_the_hypothesis_guide_shows_every_strategy() -> None:
    """Every public strategy appears in at least one runnable example."""
    from pytest_tapps import strategies

    text = "\n".join(code for _, code in HYPOTHESIS_EXAMPLES)
    names = [name for name in strategies.__all__ if name.islower()]
    assert [name for name in names if f"{name}(" not in text] == []


# -- docs/ci.md ----------------------------------------------------------------------------------
#
# The ```python block that starts with `# ci/tapps_target.py` is a downstream repository's
# target file, run as it is against the real `tapps` command line; the table between
# <!-- actions --> and <!-- /actions --> is the target API, checked against the code.

CI_GUIDE = DOCS / "ci.md"
CI_TEXT = CI_GUIDE.read_text(encoding="utf-8")
BUNDLED = DOCS.parent / "scenarios"
#: Bundled scenario files the guide's target runs: ones whose actions it maps, and one it
#: does not (cache_verify), which must come out unsupported.
CI_SCENARIOS = (
    "cleanup-tools/usage.tapps.yaml",
    "stuck-failed/symptoms.tapps.yaml",
    "retry-timeout/retry-specific-step.tapps.yaml",
    "retry-timeout/resume-a-state-written-elsewhere.tapps.yaml",
    "cache/corruption.tapps.yaml",
)


def _ci_target_file() -> str:
    found = re.search(r"```python\n(# ci/tapps_target\.py\n.*?)```", CI_TEXT, re.S)
    assert found is not None, "docs/ci.md has no ```python block starting # ci/tapps_target.py"
    return found.group(1)


def _expected_outcomes(files: list[Path], mapped: set[str]) -> dict[str, int]:
    """How many of the scenarios in ``files`` a target mapping ``mapped`` can pass, and how many
    need an action it lacks."""
    from pytest_tapps.scenario import load_file, parse
    from pytest_tapps.scenario._model import HARNESS_ACTIONS, action_name

    counts = {"passed": 0, "unsupported": 0}
    for path in files:
        for loaded in load_file(path):
            names = {action_name(item) for item in parse(loaded.data).when}
            needed = names - set(HARNESS_ACTIONS) - {"advance", "command"}
            counts["passed" if needed <= mapped else "unsupported"] += 1
    return counts


def test_the_ci_guide_target_runs_bundled_scenarios_through_a_real_command_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CommandTarget file of docs/ci.md, as written, drives the real `tapps` command line
    (python -m pytest, as the guide says): every bundled scenario whose actions it maps passes,
    and the others are UNSUPPORTED, naming the action it lacks."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    # `tapps` on PATH, as after `pip install pytest-tapps`
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    code = _ci_target_file()
    (pytester.path / "ci").mkdir()
    (pytester.path / "ci" / "tapps_target.py").write_text(code, encoding="utf-8")
    files = []
    for name in CI_SCENARIOS:
        target = pytester.path / "scenarios" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((BUNDLED / name).read_text(encoding="utf-8"), encoding="utf-8")
        files.append(target)
    namespace: dict[str, object] = {}
    exec(compile(code, "ci/tapps_target.py", "exec"), namespace)  # noqa: S102 -- the guide's code
    mapped = set(namespace["target"]().commands)  # type: ignore[operator]
    expected = _expected_outcomes(files, mapped)
    assert expected["passed"] >= 5  # the files still fit the guide's target
    assert expected["unsupported"] >= 1
    result = pytester.runpytest_subprocess(
        "-p",
        "tapps",
        "-p",
        "no:cacheprovider",
        "--tapps-target=ci.tapps_target:target",
        "scenarios",
    )
    output = result.stdout.str()
    assert result.ret == 0, output
    assert result.parseoutcomes() == expected, output
    result.stdout.fnmatch_lines(["UNSUPPORTED *mytool maps no command to 'cache_verify'"])


def _actions_table() -> list[list[str]]:
    found = re.search(r"<!-- actions -->\n(.*?)<!-- /actions -->", CI_TEXT, re.S)
    assert found is not None, "docs/ci.md has no <!-- actions --> table"
    rows = [line.strip("|").split("|") for line in found.group(1).splitlines()[2:]]
    return [[cell.strip() for cell in row] for row in rows]


def test_the_ci_guide_lists_every_action_as_the_code_has_it() -> None:
    """docs/ci.md's actions table names every action a target performs, the spec class it
    receives (exported, with exactly the fields listed), the data it returns (exported when
    there is one, and then the tapps-cli target parses it) and the tapps command the core's
    output matches (the tapps-cli target's template)."""
    from typing import get_args

    import pytest_tapps.scenario as api
    from pytest_tapps.scenario._model import ACTIONS, HARNESS_ACTIONS

    rows = {row[0].strip("`"): row[1:] for row in _actions_table()}
    performed = set(ACTIONS) - set(HARNESS_ACTIONS) - {"advance", "command"}
    assert set(rows) == performed
    for action, (spec, data, command) in rows.items():
        spec_name, _, fields = spec.partition(":")
        annotation = ACTIONS[action]
        cls = annotation if isinstance(annotation, type) else get_args(annotation)[0]
        assert spec_name.strip("` ") == cls.__name__, action
        assert getattr(api, cls.__name__) is cls, action
        listed = [field.strip(" `") for field in fields.split(",") if field.strip()]
        assert listed == list(cls.model_fields), action
        data_name = data.strip("`")
        assert (data_name != "None") == (action in api.TAPPS_PARSERS), action
        assert data_name == "None" or data_name in api.__all__, action
        assert command.strip("`") == " ".join(api.TAPPS_COMMANDS[action]), action
