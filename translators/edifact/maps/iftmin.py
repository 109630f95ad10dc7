"""IFTMIN (instruction message) -> ``load_tender`` (inbound only).

IFTMIN is a forwarding/transport instruction, the closest EDIFACT message to
an X12 204 load tender.  Placed (UNTDID D96A IFTMIN; EANCOM EAN002/D01B
agree): BGM 1004 as the shipment id and 1225 as purpose, header DTM, FTX,
RFF, TDT C040 3127 as the carrier code, the header NAD groups as parties,
CNT totals.  The consignment detail (GID goods items, SGP, DGS...) has no
load-tender field in this map and is kept in extensions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ...errors import RemoteSyntaxError
from ...models import MappedDocument
from ...models.load_tender import SCHEMA_VERSION
from ..syntax import Message, Segment
from . import handlers as h
from .builder import Builder, Table, mapped_document, steps, walk
from .segment import comp, el

MESSAGE = "IFTMIN"
DOCUMENT_TYPE = "load_tender"

_DTM = h.dtm_header({}, {})
_RFF = h.rff_header({})


def _bgm(b: Builder, seg: Segment) -> bool:
    if comp(seg, 2, 0):
        b.doc["shipment_id"] = comp(seg, 2, 0)
    if el(seg, 3):
        b.doc["purpose"] = el(seg, 3)
    # 1001 (610 forwarding instruction, 710 ...) has no load-tender field.
    h.place(b, seg, {2: 1, 3: 1})
    b.target_kind = "BGM"
    return True


def _tdt(b: Builder, seg: Segment) -> bool:
    if "scac" in b.doc or not comp(seg, 5, 0):
        return False
    b.doc["scac"] = comp(seg, 5, 0)
    h.place(b, seg, {1: 1 if el(seg, 1) == "20" else 0, 5: 1})
    b.target_kind = "TDT"
    return True


def _cnt(b: Builder, seg: Segment) -> bool:
    return h.cnt(b, seg)


TABLE: Table = {
    "header": {
        "BGM": _bgm,
        "DTM": _DTM,
        "RFF": _RFF,
        "FTX": h.ftx,
        "CNT": _cnt,
        "TDT": _tdt,
        "NAD": h.nad_header,
        "CTA": h.cta,
        "COM": h.com,
    },
}


#: :data:`TABLE` as the walk reads it
_STEPS: Final = steps(TABLE)


def read(
    msg: Message, options: Mapping[str, object], errors: list[RemoteSyntaxError] | None = None
) -> MappedDocument:
    """Map one IFTMIN message to a ``load_tender`` document.

    Args:
        msg: the message event (UNH..UNT).
        options: the partner's ``map_options["IFTMIN"]``.
        errors: when given, the message is validated in the same pass and
            what :func:`~.validation.validate` finds is appended.

    Returns:
        The document, the segments it did not place and the warnings.
    """
    b = Builder({}, mark=msg.delimiters.decimal, options=options)
    walk(b, msg, _STEPS, errors)
    if "shipment_id" not in b.doc:
        b.doc["shipment_id"] = ""
        b.warnings.append("IFTMIN has no document number (BGM 1004); shipment_id left empty")
    return mapped_document(DOCUMENT_TYPE, SCHEMA_VERSION, b.doc, b.extensions(), tuple(b.warnings))


__all__ = ["DOCUMENT_TYPE", "MESSAGE", "TABLE", "read"]
