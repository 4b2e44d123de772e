"""Shared settings of the project's own test suite."""

from __future__ import annotations

import concurrent.futures.process  # noqa: F401 -- see below
import importlib
import os
import pkgutil

import pytest
from hypothesis import HealthCheck, settings

import pytest_tapps

# pytester's in-process runs drop from sys.modules what they imported first: a module of this
# package (or the process pool's) first imported inside one would come back later as a second
# copy, whose functions a bug's patches and the pool's pickling do not recognise. Import them all
# now, so no in-process run is first to.
for _module in pkgutil.walk_packages(pytest_tapps.__path__, "pytest_tapps."):
    if not _module.name.endswith(".__main__"):  # that one runs the command line
        importlib.import_module(_module.name)

# CI is deterministic and bounded for a 2-core machine; developers explore more.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(
    os.environ.get("TAPPS_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture
def tapps_pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester with plugin autoloading off: each run names -p tapps itself (as pytest's own
    tests do; an in-process run still sees what this session imported)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Captured output and log records with a lone surrogate (the CLI tests log names with the
    byte 0xff as Python decodes them) are kept with the surrogate written as ``\\udcff``: an
    xdist worker sends each report as UTF-8 and dies on a raw one."""
    report.sections = [(title, escape_surrogates(text)) for title, text in report.sections]


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as its escape (``\\udcff``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
