"""``pytest -p tapps --tapps-strength``: after the run, the scenario files that ran measured
against the bugs (:func:`~pytest_tapps.strength.measure`), the report in the terminal summary,
and the verdict of ``--tapps-strength-fail-under``. Registered by the plugin when asked; it
imports no pytest (pytest calls its hooks by name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_tapps.strength._engine import Strength, default_processes, load_bugs, measure

#: pytest's exit code of a run with failures (``pytest.ExitCode.TESTS_FAILED``).
TESTS_FAILED = 1


class StrengthRecorder:
    """Notes the scenario files whose scenarios ran (on the xdist controller too: from the
    reports), measures them when the session ends, and prints the report."""

    def __init__(self, config: Any, spec: str, threshold: float | None, *, seed: int) -> None:
        if threshold is not None and not 0 <= threshold <= 100:
            message = f"--tapps-strength-fail-under={threshold:g}: give a percent from 0 to 100"
            raise ValueError(message)
        self.config = config
        self.bugs = load_bugs(spec, option="--tapps-strength")
        self.threshold = threshold
        self.seed = seed
        self.files: dict[str, None] = {}
        self.strength: Strength | None = None

    def pytest_runtest_logreport(self, report: Any) -> None:
        path = report.nodeid.partition("::")[0]
        if path.endswith((".yaml", ".yml")):
            self.files.setdefault(path)

    def pytest_sessionfinish(self, session: Any, exitstatus: int) -> None:
        if not self.files:
            return
        root = Path(self.config.rootpath)
        self.strength = measure(
            [root / name for name in self.files],
            self.bugs,
            processes=self._processes(),
            seed=self.seed,
        )
        if exitstatus == 0 and self.failed:
            session.exitstatus = TESTS_FAILED

    @property
    def failed(self) -> bool:
        """No scenario passed on the core, or fewer bugs than the threshold were caught."""
        found = self.strength
        if found is None:
            return False
        below = self.threshold is not None and found.percent < self.threshold
        return below or not found.scenarios

    def _processes(self) -> int:
        """As many processes as pytest-xdist's ``-n`` (one without it)."""
        count = getattr(self.config.option, "numprocesses", None)
        if isinstance(count, int) and count > 0:
            return count
        if count in ("auto", "logical"):
            return default_processes()
        return 1

    def summary(self, terminal: Any) -> None:
        """The report as ``tapps scenario strength`` prints it, in its own section."""
        from pytest_tapps.strength._report import render, warnings

        terminal.section("scenario strength", sep="-")
        found = self.strength
        if found is None:
            terminal.line("no scenario file ran: nothing to measure")
            return
        for line in render(found):
            terminal.line(line)
        for line in warnings(found):
            terminal.line(f"WARNING: {line}", yellow=True)
        if not found.scenarios:
            terminal.line("FAIL: no scenario passed on the reference core", red=True)
        elif self.threshold is not None and found.percent < self.threshold:
            terminal.line(
                f"FAIL: {found.percent:.1f}% of the bugs caught is below "
                f"--tapps-strength-fail-under {self.threshold:g}%",
                red=True,
            )
