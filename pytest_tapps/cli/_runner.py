"""Loading a step runner named ``module:attr`` on the command line."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from pytest_tapps.core._errors import ConfigurationError
from pytest_tapps.core._shown import quoted

RUNNER_HELP = (
    "the step runner as module:attr, a callable (step, context) -> result; the current "
    "directory is importable, as with python -m"
)


def load_runner(spec: str, *, option: str = "--runner", takes: tuple[str, ...] = ()) -> Any:
    """Import ``module:attr`` and check that it is callable (with the arguments named in
    ``takes``, when given); errors say how to fix the name."""
    target = load_attribute(spec, option=option, example="my_steps:run_step")
    if not callable(target):
        attr = spec.partition(":")[2]
        message = (
            f"{option} {quoted(spec)}: {quoted(attr)} is a {type(target).__name__}, not a callable"
        )
        raise ConfigurationError(message)
    if takes:
        _check_signature(target, spec, option, takes)
    return target


def load_attribute(spec: str, *, option: str, example: str) -> Any:
    """Import ``module:attr`` (``attr`` may be dotted) from the current directory too, as
    ``python -m`` does; errors name the option and say how to fix the name."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        message = f"{option} {quoted(spec)}: write it as module:attr, e.g. {option} {example}"
        raise ConfigurationError(message)
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"{option} {quoted(spec)}: cannot import module {quoted(module_name)} ({exc})"
        raise ConfigurationError(message) from None
    except Exception as exc:  # the module's own code failed while it was imported
        message = (
            f"{option} {quoted(spec)}: importing module {quoted(module_name)} raised "
            f"{type(exc).__name__}: {exc}"
        )
        raise ConfigurationError(message) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            message = (
                f"{option} {quoted(spec)}: module {quoted(module_name)} has no attribute "
                f"{quoted(attr)}"
            )
            raise ConfigurationError(message)
        target = getattr(target, part)
    return target


def _check_signature(target: Any, spec: str, option: str, takes: tuple[str, ...]) -> None:
    """Refuse a callable that cannot be called with the arguments ``takes`` names."""
    import inspect

    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # no signature to read (some built-ins): let the call tell
        return
    try:
        signature.bind(*takes)
    except TypeError:
        call = f"({', '.join(takes)})"
        message = (
            f"{option} {quoted(spec)}: it takes {signature}, but is called as {call}; "
            f"give a callable that takes {call}"
        )
        raise ConfigurationError(message) from None
