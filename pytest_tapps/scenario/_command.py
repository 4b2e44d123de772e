"""A target that drives an implementation's command line through subprocesses.

Each action maps to an argument template. Elements are taken as they are, except:

- ``{field}`` is replaced by the action's field (``{workflow}``, ``{step}``, ``{library}``...)
  or by one of ``{definition}`` (a JSON file with the workflow's definition), ``{runner}`` (the
  fault-injecting step runner, ``module:attr``), ``{seed}``, ``{now}`` and ``{root}``;
  an element whose field is empty (``--to-step={to_step}`` without a step) is left out;
- ``?field ARG`` stands for ``ARG`` when the field is true (``?dry_run --dry-run``);
- ``*field ARG`` repeats ``ARG ITEM`` per item of a list field (``*only --only``).

Every command runs in the project root with ``TAPPS_AGENTS_STRUCTURED_LOGGING=true`` and the
step faults in ``TAPPS_SCENARIO_FAULTS``; lines of its stderr that are JSON objects are taken as
log records. A ``parse`` function per action turns its stdout into the normal form of
:mod:`pytest_tapps.scenario._targets`; an action without a template is not supported by the
target. docs/ci.md is the user's reference for all of this.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_tapps.scenario._targets import (
    CacheProblems,
    Outcome,
    PlanData,
    Session,
    StatusData,
    Target,
    Unsupported,
    WorktreeRows,
    at_scenario_time,
    resume_definition,
)

#: A parser: ``parse(printed, session)`` gets the JSON value the command printed on stdout and
#: returns the action's result in its normal form (:class:`PlanData` for ``cleanup``...).
Parser = Callable[[Any, Session], Any]

#: Where the command's step runner reads the step faults to inject (a JSON list).
FAULTS_ENV = "TAPPS_SCENARIO_FAULTS"
#: ``async`` when the scenario's agents are awaited (``agents: async``): :func:`fault_runner`
#: then returns a coroutine.
AGENTS_ENV = "TAPPS_SCENARIO_AGENTS"
#: The step runner ``{runner}`` names: :func:`fault_runner`, by its public name.
FAULT_RUNNER = "pytest_tapps.scenario:fault_runner"


def fault_runner(step: Any, context: Any) -> Any:
    """A step runner for subprocesses: works in the step's worktree (if its metadata names
    one), fires the step faults listed in ``TAPPS_SCENARIO_FAULTS`` (written by the command
    target), then succeeds (or returns the failed result a ``failed_result`` fault gave).
    With ``TAPPS_SCENARIO_AGENTS=async`` it is an async agent's: it returns a coroutine."""
    from pytest_tapps.harness._faults import fire_all, step_faults_from_data, work_in_worktree

    work_in_worktree(step, context)
    faults = step_faults_from_data(json.loads(os.environ.get(FAULTS_ENV, "[]")))
    if os.environ.get(AGENTS_ENV) == "async":
        return _awaited_run(faults, step, context)
    with _dies_when_killed():
        failed = fire_all(faults, step, context)
    return {"success": True} if failed is None else failed


async def _awaited_run(faults: list[Any], step: Any, context: Any) -> Any:
    from pytest_tapps.harness._faults import fire_all_awaited

    with _dies_when_killed():
        failed = await fire_all_awaited(faults, step, context)
    return {"success": True} if failed is None else failed


@contextlib.contextmanager
def _dies_when_killed() -> Iterator[None]:
    """``kill_executor``: this process dies for real, mid-step."""
    from pytest_tapps.harness._faults import ExecutorKilled

    try:
        yield
    except ExecutorKilled:
        os.kill(os.getpid(), signal.SIGKILL)


def _fill(template: list[str], values: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    index = 0
    while index < len(template):
        element = template[index]
        if element[:1] in ("?", "*") and index + 1 < len(template):
            value = values.get(element[1:])
            option = template[index + 1]
            if element[0] == "?" and value:
                args.append(option)
            elif element[0] == "*":
                for item in value or ():
                    args.extend([option, str(item)])
            index += 2
            continue
        if "{" in element:
            try:
                text = element.format_map(_Strict(values))
            except _Missing:
                index += 1
                continue
            args.append(text)
        else:
            args.append(element)
        index += 1
    return args


class _Missing(Exception):
    pass


class _Strict(dict[str, Any]):
    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__({k: v for k, v in values.items() if v not in (None, "")})

    def __missing__(self, key: str) -> Any:
        raise _Missing(key)


def _items(session: Session, rows: list[dict[str, Any]], label: Callable[[Any], str]) -> Any:
    return {session.relative(session.root / row["path"]): label(row) for row in rows}


def parse_cleanup(data: Any, session: Session) -> PlanData:
    """``tapps cleanup --json`` and ``tapps worktree prune --json`` (dry run or real) as
    :class:`PlanData`: a dry run's ``items`` (``path``, ``decision``, ``reason``), a real run's
    ``removed`` (``path``, ``reason``) and ``skipped`` (``path``, ``why``)."""
    if data.get("dry_run"):
        rows = data.get("items", [])
        return {"items": _items(session, rows, lambda r: f"{r['decision']}: {r['reason']}")}
    items = _items(session, data.get("removed", []), lambda r: f"delete: {r['reason']}")
    items.update(_items(session, data.get("skipped", []), lambda r: f"skip: {r['why']}"))
    return {"items": items}


def parse_verify(data: Any, session: Session) -> CacheProblems:
    """``tapps cache verify --json`` (a list of ``library_id``, ``ok``, ``problems``) as
    :data:`CacheProblems`: the entries that are not ok."""
    return {row["library_id"]: "; ".join(row["problems"]) for row in data if not row["ok"]}


def parse_recover(data: Any, session: Session) -> CacheProblems:
    """``tapps cache recover --json`` (``removed``: ``library_id``, ``problems``) as
    :data:`CacheProblems`."""
    return {row["library_id"]: "; ".join(row["problems"]) for row in data["removed"]}


def parse_status(data: Any, session: Session) -> StatusData:
    """``tapps workflow status --json`` (``stuck``, ``stuck_reasons``) as :class:`StatusData`."""
    return {"stuck": data["stuck"], "reasons": data["stuck_reasons"]}


def parse_worktrees(data: Any, session: Session) -> WorktreeRows:
    """``tapps worktree list --json`` (a list of ``name``, ``status``, ``registered``,
    ``git_locked``, ``dirty``, ``workflow_id``) as :data:`WorktreeRows`."""
    return {
        row["name"]: {
            "status": row["status"],
            "registered": row["registered"],
            "locked": row["git_locked"],
            "dirty": row["dirty"],
            "workflow": row["workflow_id"],
        }
        for row in data
    }


#: The ``tapps`` command line of this package.
TAPPS_COMMANDS: dict[str, list[str]] = {
    "run": [
        "workflow", "run", "{definition}", "--runner", "{runner}", "--seed={seed}",
        "--trace-id={trace_id}",
    ],
    "resume": [
        "workflow", "resume", "--workflow-id", "{workflow}", "--definition={definition}",
        "--runner", "{runner}", "--seed={seed}", "--trace-id={trace_id}",
    ],
    "retry_step": ["workflow", "retry-step", "--workflow-id", "{workflow}", "--step", "{step}"],
    "skip_step": ["workflow", "skip-step", "--workflow-id", "{workflow}", "--step", "{step}"],
    "reset": ["workflow", "reset", "--workflow-id", "{workflow}", "--to-step={to_step}"],
    "force_cleanup": [
        "workflow", "force-cleanup", "--workflow-id", "{workflow}", "?dry_run", "--dry-run",
    ],
    "status": [
        "workflow", "status", "--workflow-id={workflow}", "--stuck-after={stuck_after}", "--json",
    ],
    "dlq_retry": ["dlq", "retry", "--category", "{category}"],
    "dlq_skip": ["dlq", "skip", "--workflow-id", "{workflow}", "--step-id", "{step}"],
    "cleanup": ["cleanup", "?dry_run", "--dry-run", "*only", "--only", "--json"],
    "cache_invalidate": ["cache", "invalidate", "{library}", "?all", "--all"],
    "cache_verify": ["cache", "verify", "--json"],
    "cache_recover": ["cache", "recover", "--json"],
    "cache_warm": ["cache", "warm", "--from", "{source}"],
    "cache_clear_tiered": ["cache", "clear-tiered"],
    "cache_clear_profile": ["cache", "clear-profile"],
    "worktree_list": ["worktree", "list", "--json"],
    "worktree_remove": ["worktree", "remove", "{name}", "?force", "--force"],
    "worktree_prune": ["worktree", "prune", "--json"],
    "log": [
        "logs", "emit", "{message}", "--workflow-id={workflow_id}", "--step-id={step_id}",
        "--agent={agent}", "--trace-id={trace_id}", "--level={level}", "*fields", "--field",
    ],
}  # fmt: skip

TAPPS_PARSERS: dict[str, Parser] = {
    "cleanup": parse_cleanup,
    "worktree_prune": parse_cleanup,
    "cache_verify": parse_verify,
    "cache_recover": parse_recover,
    "status": parse_status,
    "worktree_list": parse_worktrees,
}


@dataclass
class CommandTarget(Target):
    """Any implementation's command line: ``program`` plus a template per action.

    ``now_option`` is how the program is told the scenario's virtual now (``--now``); a
    program without one cannot run scenarios that depend on time.
    """

    program: list[str]
    commands: dict[str, list[str]]
    parsers: dict[str, Parser] = field(default_factory=dict)
    name: str = "command line"
    now_option: str | None = "--now"
    verbose_option: str | None = "-v"
    timeout: float = 120.0

    def perform(self, action: str, value: Any, session: Session) -> Outcome:
        if session.fake_fs:
            message = (
                f"{self.name} runs commands in subprocesses, which cannot see the fake "
                "filesystem this scenario uses (fs: fake)"
            )
            raise Unsupported(message)
        if action == "command":
            return self._call(list(value), session, action)
        template = self.commands.get(action)
        if template is None:
            message = f"{self.name} maps no command to {action!r}"
            raise Unsupported(message)
        values = self._values(action, value, session)
        return self._call(_fill(template, values), session, action)

    def _values(self, action: str, value: Any, session: Session) -> dict[str, Any]:
        from pytest_tapps.core import to_iso, utcnow

        values: dict[str, Any] = {
            "root": str(session.root),
            "now": to_iso(utcnow(session.clock)),
            "seed": str(session.seed),
            "runner": FAULT_RUNNER,
        }
        if hasattr(value, "model_dump"):
            for key, item in value.model_dump(mode="json", exclude_none=True).items():
                values[key] = item
        if action == "run":
            values["definition"] = str(self._definition(value.workflow, session))
        if action == "resume":
            named = resume_definition(value, session)
            if named is not None:
                values["definition"] = str(self._definition(named, session))
        if action == "log":  # fields as KEY=VALUE, each value in JSON: "7" stays text
            values["fields"] = [f"{key}={json.dumps(item)}" for key, item in value.fields.items()]
        return values

    @staticmethod
    def _definition(workflow_id: str, session: Session) -> Any:
        """A file with the definition of ``workflow_id`` from ``given.workflows``."""
        definition = session.definitions[workflow_id]
        session.scratch.mkdir(parents=True, exist_ok=True)
        path = session.scratch / f"{workflow_id}.workflow.json"
        path.write_text(json.dumps(definition.model_dump(mode="json", by_alias=True)))
        return path

    def _call(self, args: list[str], session: Session, action: str) -> Outcome:
        wants_help = {"-h", "--help", "--version"} & set(args)
        args = at_scenario_time(args, session, option=self.now_option)
        if self.verbose_option and not wants_help:
            args = [*args, self.verbose_option]
        env = {
            **os.environ,
            "TAPPS_AGENTS_STRUCTURED_LOGGING": "true",
            FAULTS_ENV: json.dumps(session.step_faults),
            AGENTS_ENV: session.agents,
        }
        try:
            done = subprocess.run(
                [*self.program, *args],
                cwd=session.root,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Outcome(124, f"{' '.join(args)}: still running after {self.timeout:g}s")
        except OSError as exc:
            message = f"{self.name}: cannot run {self.program[0]!r} ({exc.strerror})"
            raise Unsupported(message) from None
        # A process killed by a signal exits as a shell reports it: 128 + the signal.
        code = done.returncode if done.returncode >= 0 else 128 - done.returncode
        other = []
        for line in done.stderr.splitlines():
            record = _json_object(line)
            if record is not None and "message" in record:
                session.records.append(record)
            else:
                other.append(line)
        output = done.stdout + "".join(f"{line}\n" for line in other)
        data = None
        parse = self.parsers.get(action)
        if parse is not None:
            parsed = _json_value(done.stdout)
            if parsed is not None:
                data = parse(parsed, session)
        if action in ("run", "resume"):
            self._catch_up(session)
        return Outcome(code, output, data)

    @staticmethod
    def _catch_up(session: Session) -> None:
        """Move the scenario's clock to the newest time the command wrote in a state."""
        from pytest_tapps.core import StateFileError, StateStore

        newest = session.clock.time()
        for _path, state in StateStore(session.layout).iter_states():
            if isinstance(state, StateFileError) or state.updated_at is None:
                continue
            newest = max(newest, state.updated_at.timestamp())
        session.clock.sleep(newest - session.clock.time())


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def tapps_cli() -> CommandTarget:
    """This package's ``tapps`` command line, run as ``python -m pytest_tapps``."""
    return CommandTarget(
        program=[sys.executable, "-m", "pytest_tapps"],
        commands=TAPPS_COMMANDS,
        parsers=TAPPS_PARSERS,
        name="tapps command line",
    )
