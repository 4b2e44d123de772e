"""Mutable records for the modules every ``tapps`` command loads at its start.

They are plain classes with ``__slots__``, not dataclasses: ``import dataclasses`` loads
``inspect`` (with ``ast``, ``dis`` and ``tokenize``), about 7 ms of a command's start, which is
what ``tapps cleanup`` lost to ``find`` on a tmpfs (docs/performance.md). Immutable records on
that path are ``typing.NamedTuple`` classes; elsewhere the core uses dataclasses as usual.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Record:
    """A record whose fields are the ``__slots__`` of its classes: a repr that names them (in
    slot order, a base class's first) and equality over ``_compared`` (all fields unless a class
    names fewer). Mutable, hence unhashable, as a dataclass with ``eq=True`` is."""

    __slots__ = ()
    #: The fields equality compares (and the repr shows); empty: all of ``__slots__``.
    _compared: ClassVar[tuple[str, ...]] = ()

    def _shown(self) -> tuple[str, ...]:
        if self._compared:
            return self._compared
        slots = (getattr(cls, "__slots__", ()) for cls in reversed(type(self).__mro__))
        return tuple(name for names in slots for name in names)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._shown())

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)  # noqa: S101 -- for the type checker
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._shown())
        return f"{type(self).__name__}({fields})"
