"""A small stand-in for the parts of the real ``tapps-agents`` 3.7 package that the
``tapps-agents`` target calls, with the same names and signatures (read off the package's
source), so the target's mapping is tested without the package (which needs Python >= 3.12).

Each fake records what it was asked in ``CALLS`` and behaves as simply as the mapping needs: the
executor runs steps in order through ``_execute_step_for_parallel`` and retries a failing step
``metadata.retry.max_attempts`` times with ``asyncio.sleep`` backoffs, as the real inner layer
does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

CALLS: list[tuple[str, Any]] = []


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


# -- tapps_agents.core.cleanup_tool -------------------------------------------------------------


class CleanupTool:
    #: What the next cleanup prints, as (verb, path relative to the project root) pairs.
    script: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, project_root: Path | None = None, config: Any = None) -> None:
        self.project_root = Path(project_root or Path.cwd())

    def _report(self, dry_run: bool) -> dict[str, Any]:
        for verb, relative in self.script:
            path = self.project_root / relative
            if verb == "exit":
                continue
            if verb == "error":
                print(f"Error processing {path}: [Errno 13] Permission denied")
            elif dry_run:
                print(f"Would remove: {path} (0.00 MB)")
            else:
                print(f"Removed: {path}")
        return {"removed": len(self.script), "total_size": 0, "dry_run": dry_run}

    def cleanup_worktrees(self, days: int = 7, dry_run: bool = False) -> dict[str, Any]:
        CALLS.append(("cleanup_worktrees", (days, dry_run)))
        return self._report(dry_run)

    def cleanup_all(self, *args: Any, dry_run: bool = False) -> dict[str, Any]:
        CALLS.append(("cleanup_all", (args, dry_run)))
        return self._report(dry_run)


def cleanup_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project-root", type=Path, default=None)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--worktrees-only", action="store_true")
    parser.add_argument("--analytics-only", action="store_true")
    parser.add_argument("--cache-only", action="store_true")
    args = parser.parse_args()
    CALLS.append(("cleanup_tool.main", vars(args)))
    tool = CleanupTool(project_root=args.project_root)
    tool._report(args.dry_run)
    for verb, code in tool.script:
        if verb == "exit":  # "3": sys.exit(3); "none": sys.exit(); other text: sys.exit(text)
            raise SystemExit(None if code == "none" else int(code) if code.isdigit() else code)


# -- worktrees, KB cache, logging ---------------------------------------------------------------


class CoreWorktreeManager:
    names: ClassVar[list[str]] = []

    def __init__(self, base_path: Path, worktree_base: Path | None = None) -> None:
        self.base_path = base_path

    def list_worktrees(self) -> dict[str, Path]:
        return {name: self.base_path / ".tapps-agents/worktrees" / name for name in self.names}


class WorkflowWorktreeManager:
    def __init__(self, project_root: Path) -> None:
        self.project_root = project_root

    async def remove_worktree(self, worktree_name: str, delete_branch: bool = True) -> None:
        if ".." in worktree_name:
            message = f"Invalid worktree name: {worktree_name!r}"
            raise ValueError(message)
        CALLS.append(("remove_worktree", (worktree_name, delete_branch)))


class BranchCleanupService:
    def __init__(self, project_root: Path, config: Any = None) -> None:
        self.project_root = project_root

    async def cleanup_orphaned_branches(
        self, dry_run: bool = False, patterns: Any = None, max_age_days: Any = None
    ) -> Any:
        CALLS.append(("cleanup_orphaned_branches", dry_run))
        return types.SimpleNamespace(branches_deleted=1, branches_failed=0)


class KBCache:
    def __init__(self, cache_root: Path | None = None) -> None:
        self.cache_root = cache_root

    def delete(self, library: str, topic: str | None = None) -> bool:
        CALLS.append(("kb.delete", (self.cache_root, library)))
        return library == "react"

    def clear(self) -> None:
        message = "cannot import name 'CacheIndex' from 'cache_structure'"
        raise ImportError(message)


class WorkflowLogger:
    def __init__(  # noqa: PLR0917 -- the real signature
        self,
        workflow_id: str | None = None,
        step_id: str | None = None,
        agent: str | None = None,
        base_logger: logging.Logger | None = None,
        trace_id: str | None = None,
        structured_output: bool = False,
    ) -> None:
        self._extra = {
            k: v
            for k, v in {
                "workflow_id": workflow_id,
                "step_id": step_id,
                "agent": agent,
                "trace_id": trace_id,
            }.items()
            if v
        }
        self._logger = base_logger or logging.getLogger("tapps_agents.workflow.logging_helper")

    def info(self, message: str, **kwargs: Any) -> None:
        self._logger.info(message, extra={**self._extra, **kwargs})


# -- the workflow executor ----------------------------------------------------------------------


@dataclass
class Step:
    id: str
    agent: str
    action: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    workflow_id: str
    status: str = "running"
    error: str | None = None


class ParallelStepExecutor:
    def __init__(self) -> None:
        self.default_timeout_seconds = 3600.0


class StateManager:
    #: The status of the state the next load_state returns.
    status = "failed"

    def __init__(self, executor: WorkflowExecutor) -> None:
        self.executor = executor

    def load_state(self, workflow_id: str | None = None) -> tuple[State, Any]:
        CALLS.append(("load_state", workflow_id))
        meta = types.SimpleNamespace(workflow_path=None)
        return State(str(workflow_id), status=self.status), meta


class WorkflowExecutor:
    def __init__(
        self, project_root: Path | None = None, auto_detect: bool = True, auto_mode: bool = False
    ) -> None:
        self.project_root = project_root
        self.parallel_executor = ParallelStepExecutor()
        self.state_manager = StateManager(self)
        self.workflow: Any = None
        self.state: State | None = None

    def load_workflow(self, workflow_path: Path) -> Any:
        data = json.loads(Path(workflow_path).read_text())["workflow"]  # JSON is YAML
        CALLS.append(("load_workflow", data))
        self.workflow = types.SimpleNamespace(
            id=data["id"], steps=[Step(**step_fields(s)) for s in data["steps"]]
        )
        return self.workflow

    def resume_workflow(self) -> None:
        CALLS.append(("resume_workflow", None))
        if self.state is not None and self.state.status == "paused":
            self.state.status = "running"

    def skip_step(self, step_id: str | None = None) -> None:
        if self.state is None or self.workflow is None:
            message = "Workflow not started"
            raise ValueError(message)
        CALLS.append(("skip_step", step_id))

    async def _execute_step_for_parallel(self, step: Step, target_path: Path | None) -> Any:
        raise AssertionError("the target replaces this seam")  # pragma: no cover

    async def execute(self, workflow: Any = None, target_file: str | None = None) -> State:
        workflow = workflow or self.workflow
        state = self.state = self.state or State(workflow.id)
        if state.status != "running":  # as the real loop: it runs only a running workflow
            return state
        for step in workflow.steps:
            retry = step.metadata.get("retry", {})
            attempts = int(retry.get("max_attempts", 1))
            delay = float(retry.get("initial_backoff_seconds", 1.0))
            for attempt in range(1, attempts + 1):
                try:
                    await self._execute_step_for_parallel(step=step, target_path=None)
                    break
                except Exception as exc:  # as the real executor: any exception is retried
                    if attempt == attempts:
                        state.status, state.error = "failed", f"Step failed: {exc}"
                        return state
                    await asyncio.sleep(
                        delay * float(retry.get("backoff_multiplier", 2.0)) ** (attempt - 1)
                    )
        state.status = "completed"
        return state


def step_fields(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: raw[key] for key in ("id", "agent", "action", "metadata") if key in raw}


def modules() -> dict[str, types.ModuleType]:
    """The fake modules by the real modules' names, for ``TappsAgentsTarget(modules=...)``."""
    return {
        "tapps_agents": _module("tapps_agents"),
        "tapps_agents.cli.main": _module("tapps_agents.cli.main"),
        "tapps_agents.core.cleanup_tool": _module(
            "tapps_agents.core.cleanup_tool", CleanupTool=CleanupTool, main=cleanup_main
        ),
        "tapps_agents.core.worktree": _module(
            "tapps_agents.core.worktree", WorktreeManager=CoreWorktreeManager
        ),
        "tapps_agents.workflow.worktree_manager": _module(
            "tapps_agents.workflow.worktree_manager", WorktreeManager=WorkflowWorktreeManager
        ),
        "tapps_agents.workflow.branch_cleanup": _module(
            "tapps_agents.workflow.branch_cleanup", BranchCleanupService=BranchCleanupService
        ),
        "tapps_agents.context7.kb_cache": _module(
            "tapps_agents.context7.kb_cache", KBCache=KBCache
        ),
        "tapps_agents.workflow.logging_helper": _module(
            "tapps_agents.workflow.logging_helper", WorkflowLogger=WorkflowLogger
        ),
        "tapps_agents.workflow.executor": _module(
            "tapps_agents.workflow.executor", WorkflowExecutor=WorkflowExecutor
        ),
    }
