"""Benchmark: what loading the plugin costs a pytest run that does not use it.

    python bench/bench_plugin.py [--runs 21]

Times ``pytest --collect-only -q`` of a one-test file with ``-p tapps`` against ``-p no:tapps``
(plugin autoloading off in both, so nothing else differs), alternating the two, and reports the
medians and their difference. Target: under 30 ms added.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _command import timed


def run(folder: Path, plugin: str) -> float:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", plugin, "test_one.py"]
    return timed(command, cwd=folder, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
        run(folder, "tapps")  # warm the OS caches
        with_plugin, without = [], []
        for _ in range(args.runs):
            with_plugin.append(run(folder, "tapps"))
            without.append(run(folder, "no:tapps"))
    loaded, bare = statistics.median(with_plugin), statistics.median(without)
    print(f"pytest --collect-only, one test, {args.runs} runs each (medians):")
    print(f"  -p no:tapps  {bare * 1000:7.1f} ms")
    print(f"  -p tapps     {loaded * 1000:7.1f} ms")
    print(f"  added        {(loaded - bare) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
