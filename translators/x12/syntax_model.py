"""The lossless X12 syntax layer as pydantic models (interchange → groups → sets → segments).

Used as the document of ``x12.<set>`` documents (what no map covers) and for
audit.  Segments are lists of element strings exactly as read (index 0 is
the tag), so rendering the model with its delimiters gives back the bytes
the reader consumed (layout it drops aside; see :mod:`translators.x12.writer`).

:class:`SyntaxBuilder` folds reader events into :class:`SyntaxInterchange`
objects; :func:`render_interchange` turns one back into bytes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .syntax import (
    Delimiters,
    Event,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Segment,
    TechnicalAck,
    TransactionSet,
)
from .writer import encode, render_segment, render_segments

SCHEMA_VERSION = "1.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyntaxDelimiters(_Model):
    """The separators seen in the ISA."""

    element: str
    segment: str
    segment_suffix: str = ""
    component: str
    repetition: str | None = None

    @classmethod
    def of(cls, delimiters: Delimiters) -> SyntaxDelimiters:
        """Model of a :class:`Delimiters`."""
        return cls(
            element=delimiters.element,
            segment=delimiters.segment,
            segment_suffix=delimiters.segment_suffix,
            component=delimiters.component,
            repetition=delimiters.repetition,
        )

    def to_delimiters(self) -> Delimiters:
        """Back to the frozen dataclass the reader and writer use."""
        return Delimiters(
            element=self.element,
            segment=self.segment,
            segment_suffix=self.segment_suffix,
            component=self.component,
            repetition=self.repetition,
        )


class SyntaxTransaction(_Model):
    """One transaction set, ST to SE inclusive."""

    set_id: str
    control: str
    implementation_ref: str | None = None
    segments: list[list[str]] = Field(description="each segment as [tag, element1, element2, ...]")


class SyntaxGroup(_Model):
    """One functional group."""

    header: list[str] = Field(description="the GS segment")
    transactions: list[SyntaxTransaction] = Field(default_factory=list)
    trailer: list[str] | None = Field(default=None, description="the GE segment; None when missing")


class SyntaxInterchange(_Model):
    """One interchange with everything needed to write it back."""

    schema_version: str = SCHEMA_VERSION
    leading: str = Field(default="", description="bytes before the ISA (BOM, whitespace), as latin-1")
    delimiters: SyntaxDelimiters
    header: list[str] = Field(description="the ISA segment, padding kept")
    technical_acks: list[list[str]] = Field(default_factory=list, description="TA1 segments")
    groups: list[SyntaxGroup] = Field(default_factory=list)
    trailer: list[str] | None = Field(default=None, description="the IEA segment; None when missing")


class SyntaxTransactionDocument(_Model):
    """Document of an ``x12.<set>`` translation: one set with its envelope headers."""

    schema_version: str = SCHEMA_VERSION
    delimiters: SyntaxDelimiters
    interchange_header: list[str]
    group_header: list[str]
    transaction: SyntaxTransaction


def transaction_model(tx: TransactionSet) -> SyntaxTransaction:
    """The syntax model of one transaction set event."""
    return SyntaxTransaction(
        set_id=tx.set_id,
        control=tx.control,
        implementation_ref=tx.implementation_ref,
        segments=[list(seg) for seg in tx.segments],
    )


def transaction_document(tx: TransactionSet, isa: Segment, gs: Segment) -> dict[str, Any]:
    """The JSON-ready ``x12.<set>`` document for a transaction set no map covers.

    Args:
        tx: the transaction set.
        isa: the ISA of its interchange.
        gs: the GS of its group.

    Returns:
        A dict that validates as :class:`SyntaxTransactionDocument` (segments as tuples).
    """
    # Built directly as a dict (same shape as the model) to keep the hot path cheap.  Segments stay
    # the reader's immutable tuples (JSON arrays when dumped): copying them into lists costs more
    # than the parse, mostly in garbage-collector passes over millions of new lists.
    d = tx.delimiters
    return {
        "schema_version": SCHEMA_VERSION,
        "delimiters": {
            "element": d.element,
            "segment": d.segment,
            "segment_suffix": d.segment_suffix,
            "component": d.component,
            "repetition": d.repetition,
        },
        "interchange_header": isa,
        "group_header": gs,
        "transaction": {
            "set_id": tx.set_id,
            "control": tx.control,
            "implementation_ref": tx.implementation_ref,
            "segments": tx.segments,
        },
    }


class SyntaxBuilder:
    """Folds reader events into :class:`SyntaxInterchange` models.

    ``feed`` returns a finished interchange on its :class:`InterchangeEnd`,
    else None.
    """

    def __init__(self) -> None:
        self._current: SyntaxInterchange | None = None

    def feed(self, event: Event) -> SyntaxInterchange | None:
        """Add one event; returns the interchange it completes, if any."""
        if isinstance(event, InterchangeStart):
            self._current = SyntaxInterchange(
                leading=event.leading,
                delimiters=SyntaxDelimiters.of(event.delimiters),
                header=list(event.segment),
            )
            return None
        current = self._current
        if current is None:
            return None
        if isinstance(event, TransactionSet):
            if current.groups:
                current.groups[-1].transactions.append(transaction_model(event))
        elif isinstance(event, GroupStart):
            current.groups.append(SyntaxGroup(header=list(event.segment)))
        elif isinstance(event, GroupEnd):
            if current.groups:
                current.groups[-1].trailer = list(event.segment) if event.segment else None
        elif isinstance(event, TechnicalAck):
            current.technical_acks.append(list(event.segment))
        elif isinstance(event, InterchangeEnd):
            current.trailer = list(event.segment) if event.segment else None
            self._current = None
            return current
        return None


def render_interchange(model: SyntaxInterchange) -> bytes:
    """Write a syntax-layer interchange back to bytes.

    Args:
        model: the interchange.

    Returns:
        Its bytes with the recorded delimiters.

    Raises:
        LocalTranslationError: a value cannot be encoded as one byte per character.
    """
    delims = model.delimiters.to_delimiters()
    parts = [model.leading, render_segment(tuple(model.header), delims)]
    parts.append(render_segments((tuple(s) for s in model.technical_acks), delims))
    for group in model.groups:
        parts.append(render_segment(tuple(group.header), delims))
        for tx in group.transactions:
            parts.append(render_segments((tuple(s) for s in tx.segments), delims))
        if group.trailer is not None:
            parts.append(render_segment(tuple(group.trailer), delims))
    if model.trailer is not None:
        parts.append(render_segment(tuple(model.trailer), delims))
    return encode("".join(parts))


__all__ = [
    "SCHEMA_VERSION",
    "SyntaxBuilder",
    "SyntaxDelimiters",
    "SyntaxGroup",
    "SyntaxInterchange",
    "SyntaxTransaction",
    "SyntaxTransactionDocument",
    "render_interchange",
    "transaction_document",
    "transaction_model",
]
