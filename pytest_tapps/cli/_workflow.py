"""``tapps workflow ...``: inspect, run, resume and repair workflow state."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pytest_tapps.cli._app import (
    EXIT_OK,
    EXIT_PROBLEMS,
    add_stuck_after,
    layout_of,
    warning_line,
)
from pytest_tapps.cli._output import Printed, duration, emit, format_table, json_text, text
from pytest_tapps.cli._runner import RUNNER_HELP, load_runner
from pytest_tapps.core._errors import ConfigurationError
from pytest_tapps.core._timeutil import to_iso

if TYPE_CHECKING:  # the handlers import these when they run: `tapps --help` stays light
    from pytest_tapps.core._executor import WorkflowExecutor
    from pytest_tapps.core._locks import LockInspection
    from pytest_tapps.core._recovery import Diagnosis, Edit, ForceCleanup
    from pytest_tapps.core._state import WorkflowState


def _id_option(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--workflow-id",
        metavar="ID",
        required=required,
        help=None if required else "default: the current workflow",
    )


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    workflow = commands.add_parser("workflow", help="inspect, run, resume and repair workflows")
    actions = workflow.add_subparsers(dest="action", metavar="ACTION", required=True)

    status = actions.add_parser(
        "status",
        parents=[common],
        help="a workflow's status and a table of its steps",
        description=(
            "Show a workflow's status and its steps (status, attempts, duration, error); a "
            "running workflow with a dead or missing lock holder, or no heartbeat or progress "
            "for longer than --stuck-after, is reported stuck with the evidence."
        ),
    )
    _id_option(status, required=False)
    add_stuck_after(status, by_format=True)
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=cmd_status, changes=False)

    run = actions.add_parser(
        "run",
        parents=[common],
        help="run a workflow definition (the runbook's step YAML)",
    )
    run.add_argument("definition", type=Path, metavar="FILE", help="workflow definition YAML")
    run.add_argument("--runner", metavar="MODULE:ATTR", help=RUNNER_HELP)
    run.add_argument("--seed", help="seed for retry jitter (reproducible schedules)")
    _trace_option(run)
    run.add_argument("--json", action="store_true", help="print the final state as JSON")
    # needs_project=False: the first run of a new project makes its .tapps-agents/
    run.set_defaults(handler=cmd_run, changes=True, needs_project=False)

    resume = actions.add_parser(
        "resume",
        parents=[common],
        help="continue a workflow from its first incomplete step",
        description=(
            "Continue the same workflow (same id) from its first incomplete step after a "
            "failure, a pause or a crash; completed steps are not run again. A state that "
            "holds no definition (written by hand, by another implementation or by the real "
            "tapps-agents package) needs --definition."
        ),
    )
    _id_option(resume)
    resume.add_argument(
        "--definition",
        type=Path,
        metavar="FILE",
        help="the workflow's definition YAML (default: the one its state recorded)",
    )
    resume.add_argument("--runner", metavar="MODULE:ATTR", help=RUNNER_HELP)
    resume.add_argument(
        "--take-over",
        action="store_true",
        help="continue a running state of the tapps-agents package although it saved recently "
        "(that package holds no lock file: say so only when none of its processes runs it)",
    )
    resume.add_argument("--seed", help="seed for retry jitter (reproducible schedules)")
    _trace_option(resume)
    resume.add_argument("--json", action="store_true", help="print the final state as JSON")
    resume.set_defaults(handler=cmd_resume, changes=True)

    for name, helptext, handler in (
        ("retry-step", "mark a step to run again on the next resume", cmd_retry_step),
        ("skip-step", "mark a step skipped; resume continues with the next", cmd_skip_step),
    ):
        edit = actions.add_parser(name, parents=[common], help=helptext)
        _id_option(edit)
        edit.add_argument("--step", required=True, metavar="STEP")
        _edit_options(edit)
        edit.set_defaults(handler=handler, changes=True)

    reset_parser = actions.add_parser(
        "reset", parents=[common], help="set steps back to pending (from --to-step on)"
    )
    _id_option(reset_parser)
    reset_parser.add_argument("--to-step", metavar="STEP", help="default: the first step")
    _edit_options(reset_parser)
    reset_parser.set_defaults(handler=cmd_reset, changes=True)

    locks = actions.add_parser(
        "locks",
        parents=[common],
        help="every workflow lock file: holder, heartbeat, stale or held",
        description=(
            "List every workflow lock file of the project (the runbook's 'Check for locks'), "
            "each with its holder, its heartbeat's age and whether it is stale (holder not "
            "running, heartbeat older than its TTL, or unreadable) or held; a stale lock gets "
            "the force-cleanup that removes it. Exit 1 when any lock is stale."
        ),
    )
    locks.add_argument("--json", action="store_true", help="print JSON instead of lines")
    locks.set_defaults(handler=cmd_locks, changes=False)

    cleanup = actions.add_parser(
        "force-cleanup",
        parents=[common],
        help="remove the workflow's stale lock; report its stuck worktrees",
        description=(
            "Remove the workflow's lock only if it is stale (holder dead or heartbeat expired); "
            "a live holder's lock is never removed. Lists the workflow's unfinished worktrees."
        ),
    )
    _id_option(cleanup)
    cleanup.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    cleanup.add_argument("--json", action="store_true", help="print JSON")
    cleanup.set_defaults(handler=cmd_force_cleanup, changes=True)


def _edit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="show the change, write nothing")
    parser.add_argument("--json", action="store_true", help="print the change as JSON")


def step_rows(state: WorkflowState) -> list[dict[str, Any]]:
    """One summary per step: newest status, attempts, total duration, newest error."""
    rows = []
    for step_id, newest in state.latest().items():
        executions = state.executions_of(step_id)
        durations = [ex.duration_seconds for ex in executions if ex.duration_seconds is not None]
        error = newest.error
        rows.append(
            {
                "step_id": step_id,
                "agent": newest.agent,
                "action": newest.action,
                "status": newest.status.value,
                "attempts": state.attempts(step_id),
                "duration_seconds": sum(durations) if durations else None,
                "error_code": error.code if error else None,
                "error_category": error.category.value if error else None,
                "recoverable": error.recoverable if error else None,
                "worktree": newest.worktree,
            }
        )
    return rows


def _error_cell(row: dict[str, Any]) -> str | None:
    if row["error_category"] is None:
        return None
    flag = "recoverable" if row["recoverable"] else "not recoverable"
    return f"{row['error_category']} ({flag})"


def steps_lines(state: WorkflowState) -> list[str]:
    """The table of a workflow's steps (newest status, attempts, duration, error)."""
    rows = step_rows(state)
    if not rows:
        return ["no step has run yet"]
    table = [
        (
            r["step_id"],
            r["agent"],
            r["action"],
            r["status"],
            r["attempts"],
            duration(r["duration_seconds"]),
            _error_cell(r),
        )
        for r in rows
    ]
    headers = ("step", "agent", "action", "status", "attempts", "duration", "error")
    return [format_table(headers, table)]


def _lock_json(lock: LockInspection | None) -> dict[str, Any] | None:
    if lock is None:
        return None
    record = lock.record
    return {
        "file": str(lock.path),
        "workflow_id": record.workflow_id if record else None,
        "pid": record.pid if record else None,
        "host": record.host if record else None,
        "holder_alive": lock.holder_alive,
        "heartbeat_at": to_iso(record.heartbeat_at) if record else None,
        "heartbeat_age_seconds": lock.heartbeat_age_seconds,
        "ttl_seconds": record.ttl_seconds if record else None,
        "stale": lock.stale,
        "reason": lock.reason,
    }


class Advice(NamedTuple):
    """What ``status`` tells an operator to do next: notes to read, then commands to run in
    order (``MODULE:ATTR`` and ``FILE`` stand for the step runner and the definition file)."""

    notes: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()


def _command(*words: str) -> str:
    import shlex

    return shlex.join(["tapps", "workflow", *words])


def advice(diagnosis: Diagnosis) -> Advice:
    """The next commands for a workflow, each one that works on its tree as it stands: none
    while it runs healthily or is done, none past a live lock holder; force-cleanup only while
    a stale lock file exists; resume with ``--definition FILE`` when the state records no
    definition; retry-step first when resume would refuse a non-recoverable failure."""
    from pytest_tapps.core._recovery import resume_blocker
    from pytest_tapps.core._state import WorkflowStatus, source_format

    state, lock = diagnosis.state, diagnosis.lock
    wid = state.workflow_id
    if state.status is WorkflowStatus.COMPLETED:
        return Advice()
    if lock is not None and not lock.stale:
        return Advice(
            (
                "an executor holds its lock (see lock): wait for it; if it is hung, stop that "
                "process and run 'tapps workflow status' again",
            )
        )
    unlocked = source_format(state) if lock is None else None
    running = state.status is WorkflowStatus.RUNNING
    if running and not diagnosis.stuck:
        if unlocked is None:
            return Advice()
        return Advice((_unlocked_note(diagnosis, unlocked),))
    notes: list[str] = []
    if running and unlocked is not None:
        notes.append(
            f"the {unlocked} package holds no lock file: make sure none of its processes still "
            "runs this workflow before you resume it"
        )
    commands: list[str] = []
    if lock is not None:
        if lock.hung_holder_advice is not None:
            notes.append(lock.hung_holder_advice)
        commands.append(_command("force-cleanup", "--workflow-id", wid))
    blocker = resume_blocker(state)
    if blocker is not None:
        notes.append(
            f"step {blocker.step_id!r} failed with a non-recoverable error: fix the cause "
            "first (or skip it: tapps workflow skip-step)"
        )
        commands.append(_command("retry-step", "--workflow-id", wid, "--step", blocker.step_id))
    resume = ["resume", "--workflow-id", wid, "--runner", "MODULE:ATTR"]
    if state.definition is None:
        resume += ["--definition", "FILE"]
    commands.append(_command(*resume))
    return Advice(tuple(notes), tuple(commands))


def _unlocked_note(diagnosis: Diagnosis, writer: str) -> str:
    """Why a running state of a writer that holds no lock file is not stuck yet."""
    from pytest_tapps.core._durations import human_duration

    age = diagnosis.last_progress_age_seconds
    saved = "" if age is None else f"; it saved {human_duration(round(max(age, 0)))} ago"
    return (
        f"the {writer} package holds no lock file, so whether it still runs this workflow is "
        f"known only by its saves{saved}: wait, it counts as stuck after "
        f"{human_duration(diagnosis.threshold_seconds)} without one; if none of its processes "
        "runs it, 'tapps workflow resume --take-over' continues it now"
    )


def cmd_status(args: argparse.Namespace) -> int:
    from pytest_tapps.core._recovery import diagnose

    diagnosis = diagnose(
        layout_of(args), args.workflow_id, clock=args.clock, threshold_seconds=args.stuck_after
    )
    return emit(status_printed(diagnosis, as_json=args.json))


def _stuck_lines(diagnosis: Diagnosis) -> list[str]:
    """The stuck reasons as ``status`` prints them under its ``lock:`` line: the stale lock's
    reason, printed there, is not repeated."""
    lock = diagnosis.lock
    if lock is None:
        return list(diagnosis.reasons)
    return [reason.replace(f": {lock.reason}", " (see lock)") for reason in diagnosis.reasons]


def status_printed(diagnosis: Diagnosis, *, as_json: bool) -> Printed:
    """What ``tapps workflow status`` prints: the workflow, whether it is stuck and why, and
    its steps."""
    state = diagnosis.state
    advised = advice(diagnosis)
    if as_json:
        return Printed(
            EXIT_OK,
            json_text(
                {
                    "workflow_id": state.workflow_id,
                    "status": state.status.value,
                    "current_step": state.current_step,
                    "started_at": to_iso(state.started_at) if state.started_at else None,
                    "updated_at": to_iso(state.updated_at) if state.updated_at else None,
                    "file": str(diagnosis.path),
                    "stuck": diagnosis.stuck,
                    "stuck_reasons": list(diagnosis.reasons),
                    "running_step": diagnosis.running_step,
                    "last_progress_age_seconds": diagnosis.last_progress_age_seconds,
                    "lock": _lock_json(diagnosis.lock),
                    "error": state.error.model_dump(mode="json") if state.error else None,
                    "steps": step_rows(state),
                    "notes": list(advised.notes),
                    "next": list(advised.commands),
                }
            ),
        )
    headline = state.status.value + (" (STUCK)" if diagnosis.stuck else "")
    lines = [
        f"workflow {state.workflow_id}: {headline}",
        f"  current step: {state.current_step or '-'}",
        f"  started:      {to_iso(state.started_at) if state.started_at else '-'}",
        f"  updated:      {to_iso(state.updated_at) if state.updated_at else '-'}",
        f"  state file:   {diagnosis.path}",
    ]
    if diagnosis.lock is not None:
        lines.append(f"  lock:         {diagnosis.lock.reason}")
    if state.error is not None:
        lines.append(f"  error:        {state.error.category.value}: {state.error.message}")
    lines += [f"  stuck:        {reason}" for reason in _stuck_lines(diagnosis)]
    if diagnosis.stuck:
        lines.append(f"  running step: {diagnosis.running_step or '-'}")
    lines += [f"  note:         {note}" for note in advised.notes]
    lines += [f"  next:         {command}" for command in advised.commands]
    return Printed(EXIT_OK, text([*lines, "", *steps_lines(state)]))


def _executor(args: argparse.Namespace, command: str) -> WorkflowExecutor:
    from pytest_tapps.core._executor import WorkflowExecutor

    if not args.runner:
        message = (
            f"{command} needs a step runner to execute steps: name one with "
            "--runner module:attr (a callable taking (step, context)), e.g. "
            "--runner my_project.steps:run_step"
        )
        raise ConfigurationError(message)
    return WorkflowExecutor(
        layout_of(args),
        load_runner(args.runner),
        clock=args.clock,
        seed=args.seed,
        trace_id=args.trace_id,
    )


def _trace_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trace-id",
        type=_trace_id,
        metavar="ID",
        help="a distributed tracing id, put on every log record and error envelope of this run",
    )


def _trace_id(text: str) -> str:
    if not text.strip():
        message = "a trace id must not be empty"
        raise argparse.ArgumentTypeError(message)
    return text


def run_printed(
    state: WorkflowState, *, as_json: bool, broken_lock: LockInspection | None = None
) -> Printed:
    """What ``tapps workflow run`` and ``resume`` print: how the workflow ended, its error and
    its steps; exit 1 unless it completed. A stale lock broken to start is a warning on stderr
    (its reason says whether its holder still runs), as the state edits report theirs."""
    from pytest_tapps.core._state import WorkflowStatus

    code = EXIT_OK if state.status is WorkflowStatus.COMPLETED else EXIT_PROBLEMS
    err = "" if broken_lock is None else warning_line(f"removed a stale lock: {broken_lock.reason}")
    if as_json:
        return Printed(code, json_text(state.to_json_dict()), err)
    lines = [f"workflow {state.workflow_id}: {state.status.value}"]
    if state.error is not None:
        lines.append(f"  error: {state.error.category.value}: {state.error.message}")
    return Printed(code, text([*lines, "", *steps_lines(state)]), err)


def _report_run(args: argparse.Namespace, state: WorkflowState, executor: WorkflowExecutor) -> int:
    return emit(run_printed(state, as_json=args.json, broken_lock=executor.broken_lock))


def cmd_run(args: argparse.Namespace) -> int:
    from pytest_tapps.core._definition import WorkflowDefinition
    from pytest_tapps.core._executor import WorkflowExistsError

    executor = _executor(args, "workflow run")
    definition = WorkflowDefinition.from_yaml_file(args.definition)
    try:
        return _report_run(args, executor.run(definition), executor)
    except WorkflowExistsError as exc:  # point at the resume that takes this very file
        raise WorkflowExistsError(
            exc.workflow_id, exc.path, definition=str(args.definition), runner=args.runner
        ) from None


def cmd_resume(args: argparse.Namespace) -> int:
    from pytest_tapps.core._definition import WorkflowDefinition
    from pytest_tapps.core._executor import NoDefinitionError

    executor = _executor(args, "workflow resume")
    definition = None
    if args.definition is not None:
        definition = WorkflowDefinition.from_yaml_file(args.definition)
    try:
        state = executor.resume(args.workflow_id, definition, take_over=args.take_over)
        return _report_run(args, state, executor)
    except NoDefinitionError as exc:  # point at the resume that takes this very runner
        raise NoDefinitionError(exc.workflow_id, exc.path, runner=args.runner) from None


def edit_printed(edit: Edit, *, as_json: bool) -> Printed:
    """What a state edit changed, or would change in a dry run (``retry-step``, ``skip-step``,
    ``reset``, ``dlq skip``)."""
    if as_json:
        data = {
            "workflow_id": edit.workflow_id,
            "file": str(edit.path),
            "dry_run": edit.dry_run,
            "changes": list(edit.changes),
            "backup": str(edit.backup) if edit.backup else None,
            "removed_stale_lock": edit.broken_lock.reason if edit.broken_lock else None,
        }
        return Printed(EXIT_OK, json_text(data))
    verb = "would change" if edit.dry_run else "changed"
    done = f" ({edit.path}): {verb}" if edit.changes else ": nothing to change"
    lines = [f"workflow {edit.workflow_id}{done}"]
    lines += [f"  - {change}" for change in edit.changes]
    if edit.broken_lock is not None:  # said even when there was nothing to change
        lines.append(f"  removed a stale lock: {edit.broken_lock.reason}")
    if edit.backup is not None:
        lines.append(f"  backup: {edit.backup}")
    if edit.dry_run and edit.changes:
        lines.append("dry run: nothing was written")
    return Printed(EXIT_OK, text(lines))


def print_edit(edit: Edit, *, as_json: bool) -> None:
    """Show what a state edit changed, or would change in a dry run."""
    emit(edit_printed(edit, as_json=as_json))


def cmd_retry_step(args: argparse.Namespace) -> int:
    from pytest_tapps.core._recovery import retry_step

    edit = retry_step(
        layout_of(args), args.workflow_id, args.step, clock=args.clock, dry_run=args.dry_run
    )
    print_edit(edit, as_json=args.json)
    return EXIT_OK


def cmd_skip_step(args: argparse.Namespace) -> int:
    from pytest_tapps.core._recovery import skip_step

    edit = skip_step(
        layout_of(args), args.workflow_id, args.step, clock=args.clock, dry_run=args.dry_run
    )
    print_edit(edit, as_json=args.json)
    return EXIT_OK


def cmd_reset(args: argparse.Namespace) -> int:
    from pytest_tapps.core._recovery import reset

    edit = reset(
        layout_of(args), args.workflow_id, args.to_step, clock=args.clock, dry_run=args.dry_run
    )
    print_edit(edit, as_json=args.json)
    return EXIT_OK


def cmd_locks(args: argparse.Namespace) -> int:
    from pytest_tapps.core._locks import list_locks

    return emit(locks_printed(list_locks(layout_of(args), clock=args.clock), as_json=args.json))


def locks_printed(locks: list[LockInspection], *, as_json: bool) -> Printed:
    """What ``tapps workflow locks`` prints: a line per lock file, stale or held, and the
    force-cleanup of each stale one (exit 1 when there is one)."""
    code = EXIT_PROBLEMS if any(lock.stale for lock in locks) else EXIT_OK
    if as_json:
        rows = [{**(_lock_json(lock) or {}), "next": _force_cleanup_of(lock)} for lock in locks]
        return Printed(code, json_text(rows))
    if not locks:
        return Printed(code, text(["no workflow lock files"]))
    lines: list[str] = []
    for lock in locks:
        verdict = "STALE: " if lock.stale else ""
        lines.append(f"{lock.path}: {verdict}{lock.reason}")
        if lock.stale:
            lines.append(f"  next: {_force_cleanup_of(lock)}")
    return Printed(code, text(lines))


def _force_cleanup_of(lock: LockInspection) -> str | None:
    """The command that removes ``lock`` if it is stale (the lock file is named after its
    workflow: ``<workflow_id>.lock``)."""
    if not lock.stale:
        return None
    return _command("force-cleanup", "--workflow-id", lock.path.stem)


def cmd_force_cleanup(args: argparse.Namespace) -> int:
    from pytest_tapps.core._recovery import force_cleanup

    report = force_cleanup(
        layout_of(args), args.workflow_id, clock=args.clock, dry_run=args.dry_run
    )
    return emit(force_cleanup_printed(report, as_json=args.json))


def force_cleanup_printed(report: ForceCleanup, *, as_json: bool) -> Printed:
    """What ``tapps workflow force-cleanup`` prints: the stale locks it removed, a live lock it
    kept (exit 1) and the workflow's unfinished worktrees."""
    code = EXIT_PROBLEMS if report.live_lock is not None else EXIT_OK
    warnings = ""
    if report.state_problem is not None:
        warnings = warning_line(report.state_problem)
    if as_json:
        data = {
            "workflow_id": report.workflow_id,
            "dry_run": report.dry_run,
            "state_problem": report.state_problem,
            "removed_locks": [
                {"file": str(i.path), "reason": i.reason, "advice": i.hung_holder_advice}
                for i in report.removed_locks
            ],
            "live_lock": (
                {
                    "file": str(report.live_lock.path),
                    "holder": report.live_lock.holder,
                    "reason": report.live_lock.reason,
                }
                if report.live_lock
                else None
            ),
            "stuck_worktrees": [str(p) for p in report.stuck_worktrees],
        }
        return Printed(code, json_text(data), warnings)
    verb = "would remove" if report.dry_run else "removed"
    lines = [f"{verb} stale lock {i.path}: {i.reason}" for i in report.removed_locks]
    lines += [
        f"  {i.hung_holder_advice} (it writes no more state: its next heartbeat finds the "
        "lock gone)"
        for i in report.removed_locks
        if i.hung_holder_advice is not None
    ]
    if report.live_lock is not None:
        lines.append(
            f"kept lock {report.live_lock.path}: {report.live_lock.reason}; stop that process first"
        )
    if not report.removed_locks and report.live_lock is None:
        lines.append(f"workflow {report.workflow_id}: no lock file")
    lines += [
        f"unfinished worktree {path}: kept for the resume (remove it with 'tapps worktree "
        f"remove NAME --force' only if the workflow is abandoned)"
        for path in report.stuck_worktrees
    ]
    return Printed(code, text(lines), warnings)
