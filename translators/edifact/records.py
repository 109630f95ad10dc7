"""Frozen slotted dataclasses built from a tuple of values, for the per-message hot path.

A frozen dataclass's generated ``__init__`` is interpreted Python even when its module is compiled
(mypyc leaves the methods the dataclass decorator generates alone): keyword parsing, then one
``object.__setattr__`` per field.  For the classes made once per message (``Message`` events,
``Envelope``, ``TranslatedDocument``, ``MappedDocument``) that cost more than the envelope checks.
A :class:`Shape` makes the same instance from ``cls.__new__`` and each field's slot descriptor,
whose ``__set__`` stores the value directly: no ``__setattr__`` (which a frozen class forbids), no
keyword matching and no type lookup per field; about a third of the time, compiled.

Invariants: the classes are slotted (``slots=True``, or a mypyc native class) and have no
``__post_init__``; a shape names every field exactly once (checked when it is made, at import),
so no default is ever left out and the values line up with the names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, Final, Generic, TypeVar

_T = TypeVar("_T")


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    # Along the MRO: an inherited field's descriptor lives on the base class.
    for klass in cls.__mro__:
        descriptor: Any = klass.__dict__.get(name)
        if descriptor is not None:
            setter: Callable[[object, object], None] = descriptor.__set__
            return setter
    raise TypeError(f"{cls.__name__}.{name} has no slot")


class Shape(Generic[_T]):
    """How to build one frozen slotted dataclass from values given in a fixed field order.

    Args:
        cls: the dataclass.
        names: every field of ``cls``, each once, in the order :meth:`make` takes the values.

    Raises:
        TypeError: ``names`` is not exactly the fields of ``cls``.
    """

    def __init__(self, cls: type[_T], names: tuple[str, ...]) -> None:
        declared: Any = cls
        expected = sorted(f.name for f in fields(declared))
        if sorted(names) != expected:
            raise TypeError(f"a shape of {cls.__name__} names {sorted(names)}, not its fields {expected}")
        self.cls: Final = cls
        self.names: Final = names
        self.setters: Final = tuple(_slot_setter(cls, name) for name in names)

    def make(self, values: tuple[object, ...]) -> _T:
        """What ``cls(**dict(zip(names, values)))`` returns.

        Args:
            values: one value per name of the shape, in that order.

        Returns:
            The instance.
        """
        setters = self.setters
        if len(values) != len(setters):
            raise TypeError(f"{self.cls.__name__} takes {len(setters)} values, not {len(values)}")
        instance: _T = self.cls.__new__(self.cls)
        for i in range(len(setters)):
            setters[i](instance, values[i])
        return instance


__all__ = ["Shape"]
