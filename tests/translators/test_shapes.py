"""Shape: the per-message frozen dataclasses built without their interpreted ``__init__``.

Whichever way a shape builds (a slotted class through its layout twin, a mypyc native class
through its descriptors), what it returns must be indistinguishable from what the class's own
``__init__`` returns: same type, equal, frozen, hashable alike, picklable.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, fields

import pytest

from translators.edifact.syntax import Delimiters, Message
from translators.models import MappedDocument
from translators.result import Envelope, TranslatedDocument
from translators.shapes import Shape

_ENVELOPE_VALUES = {
    "standard": "edifact",
    "sender_qualifier": "14",
    "sender_id": "5412345000013",
    "receiver_qualifier": None,
    "receiver_id": "4012345500004",
    "interchange_control": "1",
    "group_control": None,
    "transaction_control": "M1",
    "version": "D:96A:UN",
    "application_sender": None,
    "application_receiver": None,
    "test_indicator": True,
}


def _built(cls: type, values: dict[str, object]) -> object:
    # the shape takes the values in its own order: reversed, to show the order is the shape's
    names = tuple(reversed(list(values)))
    return Shape(cls, names).make(tuple(values[n] for n in names))


def _message_values() -> dict[str, object]:
    return {
        "type": "ORDERS",
        "version": "D",
        "release": "96A",
        "agency": "UN",
        "association": None,
        "reference": "M1",
        "segments": (("UNH", "M1", ("ORDERS", "D", "96A", "UN")), ("UNT", "2", "M1")),
        "delimiters": Delimiters(),
        "interchange_ref": "1",
        "group_ref": None,
        "byte_offset": 10,
        "index": 1,
        "errors": (),
        "warnings": ("w",),
    }


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (Envelope, _ENVELOPE_VALUES),
        (
            TranslatedDocument,
            {
                "document_type": "purchase_order",
                "schema_version": "1.0",
                "document": {"order_number": "1"},
                "envelope": Envelope(**_ENVELOPE_VALUES),  # type: ignore[arg-type]
                "transaction_set": "ORDERS",
                "extensions": {},
                "warnings": (),
                "encoded": (b'{"order_number":"1"}', b"{}"),
            },
        ),
        (
            MappedDocument,
            {
                "document_type": "purchase_order",
                "schema_version": "1.0",
                "document": {},
                "extensions": {"x": 1},
                "warnings": ("a",),
            },
        ),
        (Message, _message_values()),
    ],
)
def test_a_shape_builds_what_the_class_builds(cls: type, values: dict[str, object]) -> None:
    made = _built(cls, values)
    expected = cls(**values)
    assert type(made) is cls
    assert made == expected
    assert {f.name: getattr(made, f.name) for f in fields(cls)} == values
    if cls is not Message:
        # the results cross the worker pool by pickle (a compiled Delimiters, inside a Message,
        # does not unpickle, built either way: events stay in the process that reads)
        assert pickle.loads(pickle.dumps(made)) == expected
    name = fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, name, "changed")
    assert getattr(made, name) == values[name]
    if cls in (Envelope, Message):  # the others hold dicts: unhashable either way
        assert hash(made) == hash(expected)


def test_a_shape_names_every_field_once() -> None:
    names = tuple(_ENVELOPE_VALUES)
    with pytest.raises(TypeError, match="not its fields"):
        Shape(Envelope, names[:-1])
    with pytest.raises(TypeError, match="not its fields"):
        Shape(Envelope, (*names, "extra"))
    with pytest.raises(TypeError, match="takes 12 values"):
        Shape(Envelope, names).make(("edifact",))


@dataclass(frozen=True, slots=True)
class _Base:
    a: str


@dataclass(frozen=True, slots=True)
class _Derived(_Base):
    b: int


def test_a_class_with_inherited_fields_is_built_too() -> None:
    # An inherited field lives in the base class's slots: no twin of the same layout is made
    # then, and the descriptor path sets every field.
    made = Shape(_Derived, ("b", "a")).make((2, "x"))
    assert type(made) is _Derived
    assert made == _Derived(a="x", b=2)
