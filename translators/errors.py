"""Errors raised by the translators.

Strategy (after h11's ``_util.py``): readers raise :class:`RemoteSyntaxError`
when the partner's bytes are wrong and :class:`LocalTranslationError` when we
cannot render a model.  Any other exception escaping a translator is a bug.

::

    TranslationError            abstract, never raised directly
    ├─ LocalTranslationError    we produced (or were asked to produce) invalid output
    └─ RemoteSyntaxError        the partner sent bad EDI; carries .ack_hint and .scope
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["interchange", "group", "transaction", "segment"]


@dataclass(frozen=True, slots=True)
class Location:
    """Where in an interchange a problem sits; every field optional.

    ``segment_position`` counts from 1 inside the transaction set (ST = 1),
    as AK3/IK3 and UCS report it; ``element_position`` counts from 1 and
    ``component_position`` from 1, as AK4/IK4 and UCD report them.
    """

    interchange: str | None = None
    group: str | None = None
    transaction: str | None = None
    segment_tag: str | None = None
    segment_position: int | None = None
    element_position: int | None = None
    component_position: int | None = None
    byte_offset: int | None = None

    def describe(self) -> str:
        parts: list[str] = []
        if self.interchange is not None:
            parts.append(f"interchange {self.interchange}")
        if self.group is not None:
            parts.append(f"group {self.group}")
        if self.transaction is not None:
            parts.append(f"transaction {self.transaction}")
        if self.segment_tag is not None or self.segment_position is not None:
            seg = self.segment_tag or "?"
            if self.segment_position is not None:
                seg += f" (segment {self.segment_position})"
            parts.append(seg)
        if self.element_position is not None:
            el = f"element {self.element_position:02d}"
            if self.component_position is not None:
                el += f"-{self.component_position}"
            parts.append(el)
        if self.byte_offset is not None:
            parts.append(f"byte {self.byte_offset}")
        return ", ".join(parts) if parts else "unknown place"


class TranslationError(Exception):
    """Base of every translator error; instantiate a subclass instead."""

    def __init__(self, message: str, *, location: Location | None = None) -> None:
        if type(self) is TranslationError:
            raise TypeError("tried to directly instantiate TranslationError")
        super().__init__(message)
        self.message = message
        self.location = location or Location()

    def __str__(self) -> str:
        if self.location == Location():
            return self.message
        return f"{self.message} ({self.location.describe()})"


class LocalTranslationError(TranslationError):
    """We produced, or were asked to render, something the standard forbids."""


class RemoteSyntaxError(TranslationError):
    """The partner's bytes break the standard.

    Args:
        message: plain-language reason for the operator.
        ack_hint: the code that goes into the negative acknowledgment
            (TA1 I18 note code, 997 AK304/AK403/AK502, 999 IK304/IK403/IK502,
            CONTRL 0085 syntax error code), as a string.
        scope: what the error rejects: a whole interchange, one group, one
            transaction set, or (for element errors) one segment.
        location: where the problem is.
    """

    def __init__(
        self,
        message: str,
        *,
        ack_hint: str | None = None,
        scope: Scope = "interchange",
        location: Location | None = None,
    ) -> None:
        super().__init__(message, location=location)
        self.ack_hint = ack_hint
        self.scope: Scope = scope


__all__ = [
    "LocalTranslationError",
    "Location",
    "RemoteSyntaxError",
    "Scope",
    "TranslationError",
]
