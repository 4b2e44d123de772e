"""Judge one leg of .ci/downstream by its JUnit file: JUNIT MODE.

Prints the counts and exits 0, or exits with the counts and what is wrong:

- every mode: no test ran, or a test failed or errored;
- ``strict`` (the example): a test was skipped, when every test of the example must run;
- ``fake`` (the bundled suite with ``--tapps-fs=fake``): a failure is allowed only as a HARNESS
  ERROR, which the plugin marks with the property ``tapps_outcome=harness-error`` (a scenario that
  needs the real filesystem, such as git or a live lock, cannot be set up on the fake one), so
  every scenario that runs there gives the real filesystem's result; and some scenario must
  pass.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

#: pytest_tapps.plugin.HARNESS_ERROR_PROPERTY (not imported: this runs in any venv's Python).
HARNESS_ERROR_PROPERTY = ("tapps_outcome", "harness-error")


def judge(path: str, mode: str) -> str:
    """The counts of the JUnit file at ``path``; ``SystemExit`` with why when the leg failed."""
    tree = ET.parse(path)  # noqa: S314 -- written by the pytest run just before
    suites = list(tree.iter("testsuite"))
    tests, failures, errors, skipped = (
        sum(int(suite.get(key, 0)) for suite in suites)
        for key in ("tests", "failures", "errors", "skipped")
    )
    passed = tests - failures - errors - skipped
    counts = f"{passed} passed, {failures} failed, {errors} errors, {skipped} skipped"
    if mode == "fake":
        wrong = [
            case.get("name")
            for case in tree.iter("testcase")
            if (case.find("failure") is not None or case.find("error") is not None)
            and HARNESS_ERROR_PROPERTY
            not in {(prop.get("name"), prop.get("value")) for prop in case.iter("property")}
        ]
        if tests == 0 or passed == 0 or wrong:
            sys.exit(f"{counts}: failed on the fake filesystem, not as harness errors: {wrong}")
        return f"{counts} (the failures: harness errors, the real filesystem needed)"
    if tests == 0 or failures or errors:
        sys.exit(f"{counts}: no test ran, or some failed")
    if mode == "strict" and skipped:
        sys.exit(f"{counts}: every test of the example must run")
    return counts


if __name__ == "__main__":
    print(judge(sys.argv[1], sys.argv[2]))
