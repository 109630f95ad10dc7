"""Frozen slotted dataclasses built from a tuple of values, for the per-message hot path.

A frozen dataclass's generated ``__init__`` is interpreted Python even when its module is compiled
(mypyc leaves the methods the dataclass decorator generates alone): keyword parsing, then one
``object.__setattr__`` per field.  For the classes made once per message (``Message`` events,
``Envelope``, ``TranslatedDocument``, ``MappedDocument``) that cost more than the envelope checks.
A :class:`Shape` makes the same instance without that ``__init__``, one of two ways:

* a plain slotted class (``slots=True`` on an ordinary class: ``Envelope``...): the values are
  stored on an instance of a *twin*, a class made here with the same ``__slots__`` and base and
  nothing else (so no frozen ``__setattr__``: a plain attribute store each), whose ``__class__``
  is then set to the dataclass.  CPython allows that assignment only between classes of the same
  instance layout, and the twin is checked against the class when the shape is made; what
  :meth:`Shape.make` returns is an ordinary instance of the dataclass, like one its ``__init__``
  makes.  About a third of the descriptor path below, which itself is a third of ``__init__``.
* a mypyc native class (``Message``: its attributes are native getters and setters, no layout a
  twin could share): ``cls.__new__``, then each field's descriptor ``__set__``, which stores the
  value directly: no ``__setattr__`` (which a frozen class forbids) and no keyword matching.

Invariants: the classes have no ``__post_init__``; a shape names every field exactly once (checked
when it is made, at import), so no default is ever left out and the values line up with the names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, Final, Generic, TypeVar, cast

_T = TypeVar("_T")


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    # Along the MRO: an inherited field's descriptor lives on the base class.
    for klass in cls.__mro__:
        descriptor: Any = klass.__dict__.get(name)
        if descriptor is not None:
            setter: Callable[[object, object], None] = descriptor.__set__
            return setter
    raise TypeError(f"{cls.__name__}.{name} has no slot")


def _twin(cls: type) -> type | None:
    """A class of the same instance layout as ``cls`` without its ``__setattr__``; None when there is none.

    Only for a class whose own ``__slots__`` hold every field, directly on ``object``: then
    ``object`` plus the same slots is the same layout, and CPython checks that it is (the
    ``__class__`` assignment below raises TypeError otherwise).
    """
    slots = cls.__dict__.get("__slots__")
    if cls.__bases__ != (object,) or not isinstance(slots, tuple):
        return None
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": slots, "__module__": __name__})
    probe = twin()
    probe.__class__ = cls  # TypeError here when the layouts differ
    return twin


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
        # Looked up once: ``cls.__new__`` in make() was a method lookup on the class per instance.
        self.new: Final[Callable[[type[_T]], _T]] = cls.__new__
        self.twin: Final = _twin(cls)

    def make(self, values: tuple[object, ...]) -> _T:
        """What ``cls(**dict(zip(names, values)))`` returns.

        Args:
            values: one value per name of the shape, in that order.

        Returns:
            The instance.
        """
        names = self.names
        if len(values) != len(names):
            raise TypeError(f"{self.cls.__name__} takes {len(names)} values, not {len(values)}")
        twin = self.twin
        if twin is not None:
            staged = twin()
            for i in range(len(names)):
                setattr(staged, names[i], values[i])
            staged.__class__ = self.cls
            return cast(_T, staged)
        setters = self.setters
        instance: _T = self.new(self.cls)
        for i in range(len(setters)):
            setters[i](instance, values[i])
        return instance


__all__ = ["Shape"]
