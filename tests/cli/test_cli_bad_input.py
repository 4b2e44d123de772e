"""No input gives a traceback: every subcommand, swept over bad argument values and broken
state, lock, config and cache files, exits 0, 1 or 2 with a message.

Most runs are in-process (``pytest_tapps.cli._app.run``) with stdout and stderr as strict UTF-8
text streams, as a real process has: a ``UnicodeEncodeError`` in printing escapes ``run`` as it
would end a subprocess with a traceback (a test below proves the sweep sees it). A handful of
real subprocess runs cover the inputs the outside run found.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_tapps.cli._app import build_parser, run
from pytest_tapps.core import Layout
from tests.helpers import envelope, execution, run_cli, state, write_json

TRACEBACK = "Traceback (most recent call last)"
#: How Python's repr shows a name's undecodable byte (``'lib\\udcff'``); tapps shows ``\\xff``.
BYTE_AS_SURROGATE = re.compile(r"\\udc[89a-f][0-9a-f]")


# -- the command tree --------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public walk of its tree
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def leaf_commands(
    parser: argparse.ArgumentParser | None = None, prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every runnable subcommand (``("workflow", "status")``, ``("cleanup",)``...) with its
    parser, read from the argparse tree: a new subcommand is swept without a change here."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for name, sub in _subcommands(parser or build_parser()).items():
        children = _subcommands(sub)
        if children:
            found.update(leaf_commands(sub, (*prefix, name)))
        else:
            found[(*prefix, name)] = sub
    return found


LEAVES = leaf_commands()

# -- values ------------------------------------------------------------------------------------

#: Files every swept tree holds, for arguments that name a file (and some it does not hold).
PATHS = [
    "def.yaml",
    "deep.yaml",
    "deep.json",
    "deep.log",
    "deep.tapps.yaml",
    "binary.bin",
    "empty.txt",
    "folder",
    "missing.yaml",
    "/nonexistent/x",
    "out/written.txt",
]
#: Loadable ``module:attr`` values: the fetchers below, and names that do not load.
CALLABLES = [
    "fetchers:ok",
    "fetchers:boom",
    "fetchers:two_args",
    "fetchers:a_list",
    "fetchers:surrogate",
    "fetchers:not_callable",
    "no_such_module:x",
    "fetchers:missing",
    "bad_import:x",
    "no-colon",
]
STRINGS = ["x", "", "-", "wf-1", "../x", "a/b", "\udcff", "a" * 300, "[[[", "{}", "0"]
NUMBERS = ["0", "-1", "nan", "inf", "1e309", "x", "30"]
NOW = ["+0s", "-12h", "2026-01-15T10:30:00Z", "+7d", "2026-01-15T10:30:00", "soon", "-999999d"]
PROJECT_ROOTS = [".", "missing", "binary.bin", "folder", ""]

_BY_DEST: dict[str, list[str]] = {
    "workflow_id": ["wf-1", "workflow-123", "../x", "", "\udcff", "a" * 300],
    "step": ["s", "nope", "", "\udcff"],
    "step_id": ["s", "nope", ""],
    "to_step": ["s", "nope"],
    "category": ["timeout", "bogus", ""],
    "runner": CALLABLES,
    "fetcher": CALLABLES,
    "library": ["react", "../x", "", "a/b"],
    "library_id": ["react", "lib", "../x", "/abs", ""],
    "clock": NOW,
    "project_root": PROJECT_ROOTS,
    "field": ["a=1", "nokey", "=x", "a=" + "[" * 5000, 'a="\udcff"'],
    "message": ["hello", "", "\udcff"],
}
#: Dests whose values are files, whatever their names.
_PATH_DESTS = {"paths", "path", "file", "files", "definition", "source", "output", "results"}
_PATH_DESTS |= {"recorded", "report", "notes", "junit_xml", "results_file"}


def values_for(action: argparse.Action) -> list[str]:
    """The values swept for one argument: by its name, its choices or its type."""
    if action.dest in _BY_DEST:
        return _BY_DEST[action.dest]
    if action.choices is not None:
        return [*map(str, action.choices), "bogus"]
    if action.type in (int, float):
        return NUMBERS
    if action.dest in _PATH_DESTS or str(action.metavar or "").upper() in {"FILE", "PATH", "DIR"}:
        return PATHS
    return [*PATHS[:3], *STRINGS]


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0


def _count(action: argparse.Action) -> int | None:
    """How many values an argument takes at least (``None``: optional positional)."""
    if action.nargs in ("?", "*"):
        return None
    if action.nargs == "+":
        return 1
    return action.nargs if isinstance(action.nargs, int) else 1


def _swept_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def _required(parser: argparse.ArgumentParser, action: argparse.Action) -> bool:
    if not action.option_strings:
        return _count(action) is not None
    return bool(action.required)


def _required_groups(parser: argparse.ArgumentParser) -> list[list[argparse.Action]]:
    return [list(g._group_actions) for g in parser._mutually_exclusive_groups if g.required]


def _words(action: argparse.Action, values: list[str]) -> list[str]:
    if not action.option_strings:
        return values
    flag = action.option_strings[-1]
    if not _takes_value(action):
        return [flag]
    return [word for value in values for word in (f"{flag}={value}",)]


def plausible_argv(command: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The command with each required argument given its first (a plausible) value."""
    argv = list(command)
    for action in _swept_actions(parser):
        if _required(parser, action):
            argv += _words(action, [values_for(action)[0]] * (_count(action) or 1))
    for group in _required_groups(parser):
        argv += _words(group[0], [values_for(group[0])[0]])
    return argv


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    """A subcommand with required arguments always given and the others sometimes, each with a
    value drawn from the bad (and some good) values of its kind."""
    command = draw(st.sampled_from(sorted(LEAVES)))
    parser = LEAVES[command]
    argv = list(command)
    for action in _swept_actions(parser):
        # One optional argument in four, each value plausible half the time: most runs get
        # past the parser to the files, and every value is still met.
        if not _required(parser, action) and draw(st.integers(min_value=0, max_value=3)):
            continue
        if _takes_value(action):
            count = _count(action) or draw(st.integers(min_value=1, max_value=2))
            argv += _words(action, draw(st.lists(_value(action), min_size=count, max_size=count)))
        else:
            argv += _words(action, [])
    for group in _required_groups(parser):
        chosen = draw(st.sampled_from(group))
        argv += _words(chosen, [draw(_value(chosen))])
    return argv


def _value(action: argparse.Action) -> st.SearchStrategy[str]:
    values = values_for(action)
    return st.one_of(st.just(values[0]), st.sampled_from(values))


# -- the trees ---------------------------------------------------------------------------------

DEEP_JSON = "[" * 3000 + "]" * 3000
FETCHERS = """\
def ok(library_id):
    return {"a.md": "# " + library_id}
def boom(library_id):
    raise RuntimeError("network down")
def two_args(a, b):
    return {}
def a_list(library_id):
    return ["a.md"]
def surrogate(library_id):
    return {"a.md": "x\\ud800"}
not_callable = 5
"""
DEFINITION = "id: wf-2\nsteps:\n  - {id: s, agent: implementer, action: generate-code}\n"


def _failed_state(**extra: object) -> dict[str, object]:
    return state("wf-1", "failed", execution("s", "failed", error=envelope()), **extra)


def _deep_yaml(depth: int = 500) -> str:
    return "k:\n" + "".join("  " * (i + 1) + "- k:\n" for i in range(depth))


def _lock(pid: object = 999_999_999) -> dict[str, object]:
    stamp = "2026-01-15T10:30:00Z"
    return {"pid": pid, "host": "vm", "created_at": stamp, "heartbeat_at": stamp}


def base_tree(root: Path) -> Layout:
    """A project with a failed workflow, its lock, a worktree, logs, a config, a cache entry,
    and the files the path arguments name."""
    layout = Layout(root)
    current = layout.current_state_file
    assert current is not None
    write_json(current, _failed_state())
    write_json(layout.history_file("wf-old"), state("wf-old", "completed"))
    write_json(layout.lock_file("wf-1"), {**_lock(), "ttl_seconds": 60})
    (layout.worktrees_dir / "wf-1-s" / "src").mkdir(parents=True)
    layout.debug_logs_dir.mkdir(parents=True)
    (layout.debug_logs_dir / "a.log").write_text('{"level": "INFO"}\n')
    layout.config_file.write_text("retention:\n  debug_logs: 7d\n")
    entry = layout.context7_cache_dir / "lib"
    entry.mkdir(parents=True)
    (entry / "meta.json").write_text('{"library_id": "lib", "files": {}}')
    (root / "def.yaml").write_text(DEFINITION)
    (root / "deep.yaml").write_text(_deep_yaml())
    (root / "deep.tapps.yaml").write_text("name: x\nrunbook: y\ngiven:\n  " + _deep_yaml())
    (root / "deep.json").write_text(DEEP_JSON)
    (root / "suite").mkdir()
    (root / "suite" / "one.tapps.yaml").write_text(SMALL_SUITE)
    (root / "deep.log").write_text("[" * 100_000 + "\n")
    (root / "binary.bin").write_bytes(bytes(range(256)))
    (root / "empty.txt").write_text("")
    (root / "folder").mkdir()
    (root / "fetchers.py").write_text(FETCHERS)
    (root / "bad_import.py").write_text("raise ValueError('broken at import')\n")
    return layout


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _state_text(layout: Layout) -> str:
    current = layout.current_state_file
    assert current is not None
    return current.read_text()


def _all_states(layout: Layout, data: bytes | str) -> None:
    """The current state and a history copy both hold ``data``."""
    current = layout.current_state_file
    assert current is not None
    _write(current, data)
    _write(layout.history_file("wf-1"), data)


def _each(layout: Layout, data: str, *others: Path) -> None:
    """The states and each of ``others`` hold ``data``."""
    _all_states(layout, data)
    for path in others:
        _write(path, data)


def _wrong_types(layout: Layout) -> None:
    _all_states(layout, json.dumps({"workflow_id": 5, "status": [], "step_executions": 1}))
    _write(layout.lock_file("wf-1"), json.dumps(_lock(pid="x")))
    _write(layout.config_file, "retention: [1, 2]\n")


def _huge_pid(layout: Layout) -> None:
    """A lock whose pid no process can have (os.kill raises OverflowError for it)."""
    _write(layout.lock_file("wf-1"), json.dumps(_lock(pid=99999999999999999999)))


def _real_saves_of_wrong_types(layout: Layout) -> None:
    """Saves of the real tapps-agents package (read through the runbook layout's reader too)
    whose fields have other shapes: a string execution, a number and a mixed list of steps."""
    folder = layout.state_dir
    shapes: list[dict[str, object]] = [
        {"step_executions": ["x"]},
        {"completed_steps": 5},
        {"completed_steps": [1, "a"], "_checksum": "0" * 64},
    ]
    for number, shape in enumerate(shapes):
        save: dict[str, object] = {"workflow_id": f"wfr{number}", "status": "running", **shape}
        _write(folder / f"wfr{number}-20260101-00000{number}.json", json.dumps(save))


def _surrogates(layout: Layout) -> None:
    failed = _failed_state()
    text = json.dumps(failed).replace('"implementer"', '"imp\\ud800"')
    _all_states(layout, text.replace('"step timed out after 300s"', '"\\udcff\\ud800"'))


def _non_utf8_names(layout: Layout) -> None:
    root = os.fsencode(layout.tapps_dir)
    Path(os.fsdecode(root + b"/worktrees/wf-\xff-s/src")).mkdir(parents=True)
    _write(Path(os.fsdecode(root + b"/logs/debug/old-\xfe.log")), "x")
    os.utime(root + b"/logs/debug/old-\xfe.log", (0, 0))
    _write(Path(os.fsdecode(root + b"/workflow-state/history/h\xff.json")), "{}")
    Path(os.fsdecode(root + b"/context7/cache/lib\xff")).mkdir(parents=True)


#: Each way the swept tree's files are broken (applied to :func:`base_tree`).
TREES: dict[str, Callable[[Layout], None]] = {
    "valid": lambda layout: None,
    "truncated": lambda layout: _all_states(layout, _state_text(layout)[:40]),
    "empty": lambda layout: _all_states(layout, b""),
    "binary": lambda layout: _all_states(layout, bytes(range(256))),
    "deep-json": lambda layout: _each(
        layout,
        DEEP_JSON,
        layout.lock_file("wf-1"),
        layout.context7_cache_dir / "lib" / "meta.json",
    ),
    "deep-in-state": lambda layout: _all_states(
        layout, json.dumps(_failed_state(variables={"v": json.loads("[" * 99 + "]" * 99)}))
    ),
    "deep-yaml": lambda layout: _write(layout.config_file, _deep_yaml()),
    "surrogates": _surrogates,
    "wrong-types": _wrong_types,
    "top-level-list": lambda layout: _all_states(layout, "[]"),
    "non-utf8-names": _non_utf8_names,
    "binary-config": lambda layout: _write(layout.config_file, bytes(range(256))),
    "huge-pid": _huge_pid,
    "real-saves-of-wrong-types": _real_saves_of_wrong_types,
}


@contextlib.contextmanager
def swept_tree(kind: str) -> Iterator[Path]:
    """A fresh project broken as ``kind`` says, the current directory for the block."""
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        root = Path(folder)
        TREES[kind](base_tree(root))
        yield root


# -- running -----------------------------------------------------------------------------------


class Run(NamedTuple):
    code: int
    out: bytes
    err: str


def _strict_stream() -> io.TextIOWrapper:
    """A text stream that encodes as a real process's stdout does (UTF-8, strict)."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)


#: The suite ``tapps scenario strength`` measures when no path is given (the bundled one in a
#: real run): one small scenario in the swept tree, so a sweep does not measure the whole
#: bundled suite against the catalogue at every draw.
SMALL_SUITE = """\
name: a debug log past its age is deleted
runbook: Data Retention Policies > Logs > Debug logs
given:
  files:
    - {path: .tapps-agents/logs/debug/old.log, age: 8d}
when:
  - cleanup: {}
then:
  absent: [.tapps-agents/logs/debug/old.log]
"""


def run_in_process(argv: list[str]) -> Run:
    """``tapps ARGV`` in this process; an exception escaping ``run`` is reported as the
    traceback a subprocess would print on stderr (exit 1), as Python does."""
    out, err = _strict_stream(), _strict_stream()
    path, handlers = list(sys.path), list(logging.getLogger("tapps_agents").handlers)
    small = mock.patch(
        "pytest_tapps.scenario._load.bundled_path", return_value=Path.cwd().absolute() / "suite"
    )
    try:
        with small, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = run(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                err.buffer.write(traceback.format_exc().encode("utf-8", "backslashreplace"))
                code = 1
    finally:
        sys.path[:] = path
        logging.getLogger("tapps_agents").handlers[:] = handlers
    stderr = err.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    return Run(code, out.buffer.getvalue(), stderr)  # type: ignore[attr-defined]


def check(argv: list[str], done: Run) -> None:
    """The promises of every run: no traceback, exit 0, 1 or 2, UTF-8 output, and ``--json``
    output that parses."""
    where = f"tapps {' '.join(map(ascii, argv))}"
    assert TRACEBACK not in done.err, f"{where}\n{done.err}"
    assert done.code in (0, 1, 2), f"{where}: exit {done.code}\n{done.err}"
    text = done.out.decode("utf-8")  # raises if the output is not UTF-8
    if "--json" in argv and text.strip() and done.code != 2:
        json.loads(text)


# -- the sweep ---------------------------------------------------------------------------------


def test_the_sweep_finds_every_subcommand() -> None:
    """The sweep reads its commands from the argparse tree: every command of ``tapps --help``
    is there, down to its leaves."""
    assert {command[0] for command in LEAVES} == set(_subcommands(build_parser()))
    assert ("workflow", "status") in LEAVES
    assert ("cleanup",) in LEAVES
    assert len(LEAVES) > 20


@pytest.mark.parametrize("command", sorted(LEAVES), ids=" ".join)
def test_every_subcommand_survives_every_broken_tree(command: tuple[str, ...]) -> None:
    """Each subcommand, with plausible arguments, on each broken tree (truncated, empty,
    binary, deep or surrogate-holding states, wrong types, non-UTF-8 names, bad configs):
    no traceback, exit 0, 1 or 2, UTF-8 output and parseable ``--json``."""
    argv = plausible_argv(command, LEAVES[command])
    for kind in TREES:
        for extra in ([], ["--json"]) if "--json" in _flags(command) else ([],):
            with swept_tree(kind):
                check([*argv, *extra], run_in_process([*argv, *extra]))


#: Arguments that name a step, a library or a worktree (a workflow id keeps its plausible
#: value: the workflow is found, and its steps are looked up by name).
_NAMES = {"step", "step_id", "to_step", "library", "library_id", "name"}
#: Commands whose messages quote a name in modules another part of issue 15 is editing.


def undecodable_argv(command: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The command with each argument that names something, and each other required one
    that takes any text, given a name holding the byte 0xff (``os.fsdecode(b"x\\xff")``)."""
    argv = list(command)
    for action in _swept_actions(parser):
        named = action.dest in _NAMES or (
            _required(parser, action)
            and action.choices is None
            and action.type is None
            and action.dest != "workflow_id"
        )
        if named and _takes_value(action):
            argv += _words(action, ["x\udcff"] * (_count(action) or 1))
        elif _required(parser, action):
            argv += _words(action, [values_for(action)[0]] * (_count(action) or 1))
    for group in _required_groups(parser):
        argv += _words(group[0], [values_for(group[0])[0]])
    return argv


@pytest.mark.parametrize("command", sorted(LEAVES), ids=" ".join)
def test_no_subcommand_prints_a_names_byte_as_a_surrogate(command: tuple[str, ...]) -> None:
    """Each subcommand, given names with the byte 0xff on a tree of such names, writes the
    byte as ``\\xff`` in every line (errors, warnings, tables, JSON), never as Python's
    ``\\udcff``."""
    argv = undecodable_argv(command, LEAVES[command])
    for extra in ([], ["--json"]) if "--json" in _flags(command) else ([],):
        with swept_tree("non-utf8-names"):
            done = run_in_process([*argv, *extra])
        check([*argv, *extra], done)
        printed = done.err + done.out.decode("utf-8")
        shown = BYTE_AS_SURROGATE.search(printed)
        assert shown is None, f"{argv}: a name's byte printed as {shown and shown[0]}\n{printed}"


def _flags(command: tuple[str, ...]) -> set[str]:
    return {flag for action in LEAVES[command]._actions for flag in action.option_strings}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=argvs(), kind=st.sampled_from(sorted(TREES)))
def test_no_argument_values_give_a_traceback(argv: list[str], kind: str) -> None:
    """Any subcommand with any of the swept values for its arguments (empty, unsafe,
    surrogate, unparseable numbers and times, missing, deep and binary files, fetchers that
    fail) on any broken tree: no traceback and an exit code of 0, 1 or 2."""
    with swept_tree(kind):
        check(argv, run_in_process(argv))


def test_the_in_process_run_sees_what_a_subprocess_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Printing a lone surrogate without the CLI's escaping fails in the sweep's streams as
    it does on a real stdout: the sweep would report it as a traceback."""
    monkeypatch.setattr("pytest_tapps.cli._app.escaping_output", contextlib.nullcontext)
    with swept_tree("surrogates"):
        done = run_in_process(["dlq", "list"])
    assert TRACEBACK in done.err
    assert "UnicodeEncodeError" in done.err


# -- the outside run's inputs, in real subprocesses --------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["workflow", "status"],
        ["dlq", "list"],
        ["dlq", "skip", "--workflow-id", "wf-1", "--step-id", "s"],
        ["workflow", "reset", "--workflow-id", "wf-1"],
        ["worktree", "list"],
    ],
)
def test_a_state_nested_3000_deep_is_an_unreadable_state(tmp_path: Path, argv: list[str]) -> None:
    """A state nested 3,000 deep is named as unreadable ("nested too deep"), exit 1, and the
    file is left as it was."""
    layout = base_tree(tmp_path)
    current = layout.current_state_file
    assert current is not None
    current.write_text(DEEP_JSON)
    done = run_cli(*argv, cwd=tmp_path)
    assert TRACEBACK not in done.stderr
    if argv != ["worktree", "list"]:
        assert done.returncode == 1
        assert (
            f"{current.relative_to(tmp_path)}: nested too deep (more than 100 levels of arrays "
            "and objects)"
        ) in done.stderr
    assert current.read_text() == DEEP_JSON


def test_a_cleanup_goes_on_past_a_state_nested_too_deep(tmp_path: Path) -> None:
    """``tapps cleanup --dry-run`` with a deep state (and a deep history copy) still plans
    the rest of the tree."""
    with swept_tree("deep-json") as root:
        done = run_cli("cleanup", "--dry-run", cwd=root)
    assert TRACEBACK not in done.stderr
    assert done.returncode in (0, 1)
    assert "dry run: would delete" in done.stdout


def test_a_log_line_of_100000_brackets_is_a_lint_problem(tmp_path: Path) -> None:
    """``tapps logs lint`` names the line nested too deep and goes on (exit 1)."""
    (tmp_path / "deep.log").write_text("[" * 100_000 + "\n" + '{"a": 1}\n')
    done = run_cli("logs", "lint", "deep.log", cwd=tmp_path)
    assert TRACEBACK not in done.stderr
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        "deep.log:1: not a JSON record: nested too deep (more than 100 levels of arrays and "
        "objects)"
    )


def test_yaml_nested_500_deep_is_one_problem_with_its_line(tmp_path: Path) -> None:
    """A scenario file and a config nested 500 deep: "nested too deep" at the line where the
    101st level starts (each ``- k:`` line opens a list and a mapping), exit 2."""
    base_tree(tmp_path)
    done = run_cli("scenario", "validate", "deep.tapps.yaml", cwd=tmp_path)
    assert TRACEBACK not in done.stderr
    assert done.returncode == 2
    assert done.stdout.startswith(
        "deep.tapps.yaml:54: nested too deep (more than 100 levels of arrays and objects); "
        "flatten it\n"
    )
    (tmp_path / ".tapps-agents/config.yaml").write_text(_deep_yaml())
    done = run_cli("cleanup", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "tapps: error: .tapps-agents/config.yaml:51: nested too deep (more than 100 levels of "
        "arrays and objects); flatten it\n"
    )


def test_a_lone_surrogate_in_a_state_is_printed_escaped_and_saved_as_json(
    tmp_path: Path,
) -> None:
    """A state string holding ``\\ud800`` prints as ``\\ud800`` (text and --json), and an edit
    writes the state back as valid UTF-8 JSON that reads the same string."""
    with swept_tree("surrogates") as root:
        status = run_cli("workflow", "status", cwd=root)
        listed = run_cli("dlq", "list", "--json", cwd=root)
        skipped = run_cli("dlq", "skip", "--workflow-id", "wf-1", "--step-id", "s", cwd=root)
        saved = (root / ".tapps-agents/workflow-state/current_state.json").read_bytes()
    assert (status.returncode, listed.returncode, skipped.returncode) == (0, 0, 0)
    assert "imp\\ud800" in status.stdout
    entry = json.loads(listed.stdout)[0]
    assert (entry["agent"], entry["message"]) == ("imp\\ud800", "\\xff\\ud800")
    execution = json.loads(saved.decode("utf-8"))["step_executions"][-1]
    assert (execution["agent"], execution["status"]) == ("imp\ud800", "skipped")


def test_json_output_writes_undecodable_name_bytes_as_backslash_x(tmp_path: Path) -> None:
    """``--json`` output is UTF-8 JSON with a non-UTF-8 name's byte 0xff as the text
    ``\\xff``; the text output shows the same."""
    with swept_tree("non-utf8-names") as root:
        listed = run_cli("worktree", "list", "--json", cwd=root)
        plan = run_cli("cleanup", "--dry-run", "--json", cwd=root)
        text = run_cli("cleanup", "--dry-run", cwd=root)
    names = {entry["name"] for entry in json.loads(listed.stdout)}
    assert "wf-\\xff-s" in names
    paths = {item["path"] for item in json.loads(plan.stdout)["items"]}
    assert ".tapps-agents/logs/debug/old-\\xfe.log" in paths
    assert ".tapps-agents/logs/debug/old-\\xfe.log" in text.stdout


@pytest.mark.parametrize(
    ("argv", "code", "line"),
    [
        (
            ["cache", "invalidate", b"lib\xfe"],
            2,
            "tapps: error: no Context7 entry 'lib\\xfe' in .tapps-agents/context7/cache; "
            "nothing was removed ('tapps cache verify' lists the entries)",
        ),
        (
            ["worktree", "remove", b"a/\xff"],
            2,
            "tapps: error: worktree name 'a/\\xff' must not contain '/' or '\\' (it names one "
            "folder or file, not a path)",
        ),
        (
            ["workflow", "status", "--workflow-id", b"x\xff"],
            1,
            "tapps: error: .tapps-agents/workflow-state/history/h\\xff.json: invalid workflow "
            "state: workflow_id: Field required; status: Field required; no readable state "
            "holds workflow id 'x\\xff', so it may be in this file",
        ),
        (
            ["dlq", "retry", "--category", "timeout", "--dry-run"],
            1,
            "tapps: warning: .tapps-agents/workflow-state/history/h\\xff.json: invalid workflow "
            "state: workflow_id: Field required; status: Field required (skipped; the file was "
            "left untouched)",
        ),
        (
            ["cleanup", "--now", b"+\xff"],
            2,
            "tapps cleanup: error: argument --now: '+\\xff' is not an offset from now; write a "
            "sign, a number and a unit, e.g. +7d, -12h, +30m",
        ),
        (
            ["cleanup", "--only", b"a\xff"],
            2,
            "tapps cleanup: error: argument --only: invalid choice: 'a\\xff' (choose from ",
        ),
        (
            ["worktree", "remove", b"wt\xff"],
            2,
            "tapps: error: no worktree 'wt\\xff' in .tapps-agents/worktrees; 'tapps worktree "
            "list' shows the worktrees there",
        ),
    ],
    ids=lambda value: " ".join(map(os.fsdecode, value)) if isinstance(value, list) else None,
)
def test_a_names_undecodable_byte_is_quoted_as_backslash_x(
    argv: list[str | bytes], code: int, line: str
) -> None:
    """An argument or a file name with a byte that is not UTF-8 is written ``\\xff`` in the
    error and warning lines (``'lib\\xfe'`` where a name is quoted), never ``\\udcff``."""
    with swept_tree("non-utf8-names") as root:
        done = run_cli(*map(os.fsdecode, argv), cwd=root)
    assert done.returncode == code, done.stderr
    lines = done.stderr.splitlines()
    assert any(shown.startswith(line) for shown in lines), done.stderr
    assert BYTE_AS_SURROGATE.search(done.stderr + done.stdout) is None, done.stderr


@pytest.mark.parametrize(
    ("fetcher", "code", "message"),
    [
        ("fetchers:boom", 1, "could not warm react: the fetcher raised RuntimeError: network down"),
        (
            "fetchers:a_list",
            1,
            "could not warm react: the fetcher returned type list, not a mapping of document "
            "names to text or bytes",
        ),
        (
            "fetchers:surrogate",
            1,
            "could not warm react: document 'a.md' is not valid text (a lone surrogate at "
            "character 1); give it as UTF-8 text or bytes",
        ),
        (
            "fetchers:two_args",
            2,
            "tapps: error: --fetcher 'fetchers:two_args': it takes (a, b), but is called as "
            "(library_id); give a callable that takes (library_id)",
        ),
        (
            "bad_import:x",
            2,
            "tapps: error: --fetcher 'bad_import:x': importing module 'bad_import' raised "
            "ValueError: broken at import",
        ),
    ],
)
def test_a_fetcher_that_fails_is_one_message_and_an_exit_code(
    tmp_path: Path, fetcher: str, code: int, message: str
) -> None:
    """``tapps cache warm --fetcher``: a fetcher that raises, returns no mapping or bad text
    fails its library (exit 1); one with the wrong signature or that cannot be imported is a
    usage error (exit 2); never a traceback, and no entry is written."""
    base_tree(tmp_path)
    done = run_cli("cache", "warm", "--fetcher", fetcher, "--library", "react", cwd=tmp_path)
    assert TRACEBACK not in done.stderr
    assert done.returncode == code
    assert message in (done.stdout + done.stderr).splitlines()
    assert not (tmp_path / ".tapps-agents/context7/cache/react").exists()
