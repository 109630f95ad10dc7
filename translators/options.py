"""Everything that varies between translations, passed in explicitly.

Translators never read the clock, the environment or a file: the timestamp
written into acknowledgments, the control numbers, strictness and size limits
all arrive here (the way h2 takes ``H2Configuration``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

AckPolicy = Literal["never", "on_error", "always"]
X12AckKind = Literal["auto", "997", "999"]
#: Writes one document's data (``document`` or ``extensions``) as bytes: the gateway's canonical JSON.
DocumentEncoder = Callable[[dict[str, Any]], bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlNumbers:
    """Control numbers for an interchange we write (ack or outbound document)."""

    interchange: int = 1
    group: int = 1
    transaction: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslatorOptions:
    """Policy knobs for one translation.

    Attributes:
        now: timestamp written into generated envelopes (ISA09/10, GS04/05,
            UNB 0017/0019).  The caller passes the clock; translators never
            read it.
        control_numbers: numbers for generated acknowledgments.
        strict: reject element-level deviations (lengths, data types, code
            values) instead of reporting them as warnings.
        max_interchange_bytes: refuse larger interchanges.
        max_segment_bytes: bound on one segment; memory stays bounded by it.
        max_transaction_segments: bound on one transaction set.
        x12_ack: which functional ack to generate for X12 (``auto`` mirrors
            the inbound version: 999 for 005010 and later, 997 before).
        functional_ack: when to generate 997/999/CONTRL.
        ta1: when to generate TA1 (``always`` honours nothing else; ``on_error``
            still answers an ISA14=1 request).
        lenient_charset: decode EDIFACT bytes that do not match the declared
            syntax identifier instead of rejecting them.
        map_business: translate known transaction sets into business
            documents; when False everything stays at the syntax layer.
        reject_unmapped: reject a valid transaction set that has no map.
        map_options: partner deviations for the built-in maps, keyed by map
            name (``"850"``, ``"ORDERS"``...), opaque to the core.
        our_ids: our (qualifier, id) as receiver, used as sender in acks when
            the inbound receiver is not to be mirrored.
        encoder: when set, the X12 and EDIFACT translators write each
            document's ``document`` and ``extensions`` with it as soon as the
            document is made and keep only the bytes
            (``TranslatedDocument.encoded``; both dicts are then empty), so
            the documents of a large file never all exist as objects at once.
            The gateway's translation workers set it; it must be pure, and
            whatever it raises escapes the translation.  The CSV,
            fixed-width and XML readers ignore it.
    """

    now: _dt.datetime = field(default_factory=lambda: _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC))
    control_numbers: ControlNumbers = field(default_factory=ControlNumbers)
    strict: bool = False
    max_interchange_bytes: int = 512 * 1024 * 1024
    max_segment_bytes: int = 1024 * 1024
    max_transaction_segments: int = 1_000_000
    x12_ack: X12AckKind = "auto"
    functional_ack: AckPolicy = "always"
    ta1: AckPolicy = "on_error"
    lenient_charset: bool = False
    map_business: bool = True
    reject_unmapped: bool = False
    map_options: dict[str, dict[str, object]] = field(default_factory=dict)
    our_ids: tuple[str, str] | None = None
    encoder: DocumentEncoder | None = None


__all__ = ["AckPolicy", "ControlNumbers", "DocumentEncoder", "TranslatorOptions", "X12AckKind"]
