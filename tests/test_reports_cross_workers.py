"""The suite's own reports survive the trip from an xdist worker (tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.conftest import pytest_runtest_logreport


def test_a_report_with_a_lone_surrogate_is_sent_with_it_escaped() -> None:
    """Captured log and output with a lone surrogate become UTF-8 text that names it, which
    an xdist worker can send (a raw one killed the worker: 'surrogates not allowed')."""
    report = pytest.TestReport(
        nodeid="t.py::t",
        location=("t.py", 1, "t"),
        keywords={},
        outcome="passed",
        longrepr=None,
        when="call",
        sections=[
            ("Captured log call", "WARNING x: name a\udcffb"),
            ("Captured stdout call", "plain ü"),
        ],
    )
    pytest_runtest_logreport(report)
    assert report.sections == [
        ("Captured log call", "WARNING x: name a\\udcffb"),
        ("Captured stdout call", "plain ü"),
    ]
    for _, text in report.sections:
        text.encode("utf-8")  # what execnet does; raised UnicodeEncodeError before
