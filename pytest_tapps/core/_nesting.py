"""How deep a file's arrays and objects may nest, and JSON read within that bound.

A JSON or YAML file nested thousands deep (hostile, or a runaway writer) makes Python's parsers
and every recursive walk after them (pydantic, ``json.dumps``, checksums) raise
``RecursionError``. Such a file is refused as nested too deep, with the same message wherever
it is read: no state, lock, cache entry, log or scenario is anywhere near this deep.
"""

from __future__ import annotations

from typing import Any

#: The deepest nesting of arrays/objects (lists/mappings) a file may have.
MAX_DEPTH = 100
#: Why such a file is refused (the reason in a state file's or a YAML file's error).
TOO_DEEP = f"nested too deep (more than {MAX_DEPTH} levels of arrays and objects)"


class NestingError(ValueError):
    """A JSON text nested deeper than :data:`MAX_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(TOO_DEEP)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests dicts and lists more than ``limit`` levels deep.

    No recursion, and each level walks a shared container (a YAML alias) once, so a value that
    holds itself is too deep rather than endless, and repeated aliases cost no more than one."""
    level = [value]
    depth = 0
    while level:
        containers = {id(item): item for item in level if isinstance(item, dict | list)}
        if not containers:
            return False
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for item in containers.values()
            for child in (item.values() if isinstance(item, dict) else item)
        ]
    return False


def load_json(text: str | bytes) -> Any:
    """``json.loads(text)``, refusing with :class:`NestingError` a value nested deeper than
    :data:`MAX_DEPTH` (which the parser or the code after it could not walk). Raises
    ``json.JSONDecodeError`` and ``UnicodeDecodeError`` as ``json.loads`` does."""
    import json  # here: ``tapps cleanup`` loads this module (for YAML) and never reads JSON

    try:
        value = json.loads(text)
    except RecursionError:
        raise NestingError from None
    if too_deep(value):
        raise NestingError
    return value
