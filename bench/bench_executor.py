"""Benchmark: wall time of workflows on the virtual clock (issue: recovery engine).

    python bench/bench_executor.py [--runs 30] [--dir /dev/shm]

Cases, each run in a fresh project folder (made before the timer starts):

- ``critical-step``: the runbook's example (3 attempts, exponential 5 s / 60 s, 300 s timeout,
  always timing out): 915 simulated seconds.
- ``20-steps``: 20 steps, each failing twice with a recoverable error before succeeding
  (exponential 1 s / 60 s): 60 attempts, 40 backoff waits.
- ``1000-attempts``: one step failing recoverably 1,000 times (fixed 1 s backoff): the state is
  saved whole after every attempt, so this measures saving a long state (``--long-runs``).

Reported: median and spread of wall time, and the speed-up over real time (simulated seconds /
wall seconds). Target: critical-step median under 20 ms, i.e. at least 45,000x real time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_tapps.core import (
    StepContext,
    StepDefinition,
    VirtualClock,
    WorkflowDefinition,
    WorkflowExecutor,
    WorkflowStatus,
)

CRITICAL = WorkflowDefinition.parse(
    {
        "id": "workflow-123",
        "steps": [
            {
                "id": "critical-step",
                "agent": "implementer",
                "action": "generate-code",
                "retry": {
                    "max_attempts": 3,
                    "backoff_strategy": "exponential",
                    "initial_delay": 5,
                    "max_delay": 60,
                },
                "timeout": 300,
            }
        ],
    }
)
TWENTY = WorkflowDefinition.parse(
    {
        "id": "workflow-20",
        "steps": [
            {
                "id": f"step-{i:02d}",
                "agent": "implementer",
                "retry": {"max_attempts": 3, "initial_delay": 1, "max_delay": 60},
            }
            for i in range(20)
        ],
    }
)

LONG = WorkflowDefinition.parse(
    {
        "id": "workflow-long",
        "steps": [
            {
                "id": "fetch-docs",
                "agent": "researcher",
                "retry": {
                    "max_attempts": 1000,
                    "backoff_strategy": "fixed",
                    "initial_delay": 1,
                    "max_delay": 1,
                },
            }
        ],
    }
)


def down(step: StepDefinition, context: StepContext) -> None:
    raise ConnectionResetError("service down")


def hang(step: StepDefinition, context: StepContext) -> None:
    context.sleep(10**9)


def flaky(step: StepDefinition, context: StepContext) -> None:
    context.sleep(2)
    if context.attempt < 3:
        raise ConnectionResetError("transient")


def measure(
    definition: WorkflowDefinition,
    runner: Any,
    runs: int,
    base: Path,
    expect: WorkflowStatus,
) -> dict[str, float]:
    """Wall times of ``runs`` runs; a run that does not end ``expect`` stops the benchmark
    (timing a workflow that went another way measures something else)."""
    walls, simulated = [], 0.0
    for index in range(runs):
        root = base / f"{definition.id}-{index}"
        root.mkdir()
        clock = VirtualClock()
        executor = WorkflowExecutor(root, runner, clock=clock)
        start = time.perf_counter()
        state = executor.run(definition)
        walls.append(time.perf_counter() - start)
        if state.status is not expect:
            message = (
                f"benchmark stopped: workflow {definition.id!r} ended {state.status.value}, "
                f"expected {expect.value}; no figure is printed for it"
            )
            raise SystemExit(message)
        simulated = clock.elapsed
    median = statistics.median(walls)
    return {
        "median_ms": median * 1000,
        "min_ms": min(walls) * 1000,
        "max_ms": max(walls) * 1000,
        "simulated_s": simulated,
        "speedup": simulated / median,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=None, help="where to make project folders")
    parser.add_argument("--long-runs", type=int, default=5, help="runs of 1000-attempts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        base = Path(folder)
        warm = base / "warm-up"
        warm.mkdir()
        # imports and first-call costs stay out of the figures
        measure(CRITICAL, hang, 3, warm, WorkflowStatus.FAILED)
        print(f"folder: {base} ({args.runs} runs each)")
        header = ("median ms", "min ms", "max ms", "simulated s", "x real time")
        print(f"{'case':<15}" + "".join(f"{h:>13}" for h in header))
        for name, definition, runner, expect, runs in (
            ("critical-step", CRITICAL, hang, WorkflowStatus.FAILED, args.runs),
            ("20-steps", TWENTY, flaky, WorkflowStatus.COMPLETED, args.runs),
            ("1000-attempts", LONG, down, WorkflowStatus.FAILED, args.long_runs),
        ):
            result = measure(definition, runner, runs, base, expect)
            print(
                f"{name:<15}{result['median_ms']:>13.2f}{result['min_ms']:>13.2f}"
                f"{result['max_ms']:>13.2f}{result['simulated_s']:>13.0f}{result['speedup']:>13,.0f}"
            )


if __name__ == "__main__":
    main()
