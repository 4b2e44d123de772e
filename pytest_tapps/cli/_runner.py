"""Loading a step runner named ``module:attr`` on the command line."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from pytest_tapps.core._errors import ConfigurationError

RUNNER_HELP = (
    "the step runner as module:attr, a callable (step, context) -> result; the current "
    "directory is importable, as with python -m"
)


def load_runner(spec: str, *, option: str = "--runner") -> Any:
    """Import ``module:attr`` and check that it is callable; errors say how to fix the name."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        message = f"{option} {spec!r}: write it as module:attr, e.g. {option} my_steps:run_step"
        raise ConfigurationError(message)
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"{option} {spec!r}: cannot import module {module_name!r} ({exc})"
        raise ConfigurationError(message) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            message = f"{option} {spec!r}: module {module_name!r} has no attribute {attr!r}"
            raise ConfigurationError(message)
        target = getattr(target, part)
    if not callable(target):
        message = f"{option} {spec!r}: {attr!r} is a {type(target).__name__}, not a callable"
        raise ConfigurationError(message)
    return target
