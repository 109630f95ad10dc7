"""What a whole-file translation hands back to the gateway.

The streaming readers produce events; :func:`translators.translate` folds
them into one :class:`Translation` per file: the documents to forward, the
acknowledgments to return to the partner, and every problem found.  It is
plain data so the gateway can journal it without knowing any standard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import RemoteSyntaxError

Standard = Literal["x12", "edifact", "csv", "fixed", "xml"]
AckKind = Literal["TA1", "997", "999", "CONTRL", "APERAK"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """Identity of one document inside its interchange.

    Attributes:
        sender_qualifier / sender_id: ISA05/06 or UNB S002 (id, qualifier).
        receiver_qualifier / receiver_id: ISA07/08 or UNB S003.
        interchange_control: ISA13 / UNB 0020.
        group_control: GS06 / UNG 0048 (None when there is no group).
        transaction_control: ST02 / UNH 0062.
        version: GS08 (``004010``) or ``D:96A:UN`` style for EDIFACT.
        application_sender / application_receiver: GS02/GS03 or UNG ids.
    """

    standard: Standard
    sender_qualifier: str | None = None
    sender_id: str | None = None
    receiver_qualifier: str | None = None
    receiver_id: str | None = None
    interchange_control: str | None = None
    group_control: str | None = None
    transaction_control: str | None = None
    version: str | None = None
    application_sender: str | None = None
    application_receiver: str | None = None
    test_indicator: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslatedDocument:
    """One business (or syntax-layer) document ready for the sinks.

    Attributes:
        document_type: canonical name (``purchase_order``) or, when no map
            applies, ``x12.<set>`` / ``edifact.<type>``.
        schema_version: version of that document's schema.
        document: the document as JSON-compatible data.
        extensions: source data the map did not place (never dropped).
        envelope: where it came from.
        transaction_set: ``850``, ``ORDERS``, ``csv`` ...
        warnings: non-fatal deviations, in plain words.
        encoded: ``document`` and ``extensions`` as the options' encoder
            wrote them, when the translation was given one; ``document``
            and ``extensions`` are then empty.
    """

    document_type: str
    schema_version: str
    document: dict[str, Any]
    envelope: Envelope
    transaction_set: str
    extensions: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    encoded: tuple[bytes, bytes] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Acknowledgment:
    """An acknowledgment to send back to the partner, already rendered."""

    kind: AckKind
    payload: bytes
    accepted: bool
    #: interchange control number the ack answers
    answers: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Translation:
    """Outcome of translating one file.

    ``rejected`` is True when nothing in the file may be forwarded (an
    interchange-level error); individual rejected transaction sets are in
    ``errors`` while their valid siblings are in ``documents``.
    """

    standard: Standard
    documents: tuple[TranslatedDocument, ...] = ()
    acks: tuple[Acknowledgment, ...] = ()
    errors: tuple[RemoteSyntaxError, ...] = ()
    rejected: bool = False

    @property
    def reason(self) -> str | None:
        """The first error, in words, or None when the file is clean."""
        return str(self.errors[0]) if self.errors else None


__all__ = [
    "AckKind",
    "Acknowledgment",
    "Envelope",
    "Standard",
    "TranslatedDocument",
    "Translation",
]
