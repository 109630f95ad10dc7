"""IFTSTA (international multimodal status report) <-> ``shipment_status``.

Groups (UNTDID D96A IFTSTA; D01B agrees on these): header BGM, DTM; SG1
NAD-(CTA-COM); SG2 RFF-DTM; SG4 TDT; SG14 CNI-(SG15 STS-(RFF, DTM, NAD,
LOC, MEA)).

BGM 1004 is the carrier's report reference, CNI C503 1004 the shipper's
shipment id, TDT C040 3127 the carrier code.  Each STS is one status
event: C555 4405 status code, C556 9013 reason; the DTM after it is when
it happened; NAD and LOC after it are the event's parties (a LOC becomes a
party whose role is its 3227 qualifier); RFF after it an order reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ...errors import RemoteSyntaxError
from ...models import MappedDocument
from ...models.shipment_status import SCHEMA_VERSION
from ..syntax import Message, Segment
from . import handlers as h
from .builder import Builder, Table, mapped_document, steps, walk
from .segment import comp, el
from .writer import Writer

MESSAGE = "IFTSTA"
DOCUMENT_TYPE = "shipment_status"

_DOC_NAME = "23"  # 1001 '23': status information
_DTM = h.dtm_header({}, {})
_RFF = h.rff_header({})


def _bgm(b: Builder, seg: Segment) -> bool:
    if comp(seg, 2, 0):
        b.doc["carrier_reference"] = comp(seg, 2, 0)
    h.place(b, seg, {1: 1 if el(seg, 1) in ("", _DOC_NAME) else 0, 2: 1, 3: 1 if el(seg, 3) == "9" else 0})
    b.target_kind = "BGM"
    return True


def _tdt(b: Builder, seg: Segment) -> bool:
    if "scac" in b.doc or not comp(seg, 5, 0):
        return False
    b.doc["scac"] = comp(seg, 5, 0)
    h.place(b, seg, {1: 1 if el(seg, 1) == "20" else 0, 5: 1})
    b.target_kind = "TDT"
    return True


def _cni(b: Builder, seg: Segment) -> bool:
    if "shipment_id" in b.doc or not comp(seg, 2, 0):
        return False
    b.doc["shipment_id"] = comp(seg, 2, 0)
    b.scope = "event"
    b.line = None
    b.target_kind = "CNI"
    h.place(b, seg, {1: 1, 2: 1})
    return True


def _sts(b: Builder, seg: Segment) -> bool:
    event: dict[str, Any] = {}
    if comp(seg, 2, 0):
        event["status_code"] = comp(seg, 2, 0)
    if comp(seg, 3, 0):
        event["status_reason"] = comp(seg, 3, 0)
    b.doc.setdefault("events", []).append(event)
    b.line = event
    b.scope = "event"
    b.target = event
    b.target_kind = "STS"
    b.state["measure_owner"] = event
    # C601 9015 status category '1' (transport) is what the writer sends.
    h.place(b, seg, {1: 1 if el(seg, 1) in ("", "1") else 0, 2: 1, 3: 1})
    return True


def _dtm_event(b: Builder, seg: Segment) -> bool:
    event = b.line
    if event is None or "date" in event:
        return False
    d = b.date(seg)
    if d is None:
        return True
    event["date"] = {k: v for k, v in d.items() if v is not None}
    return True


def _nad_event(b: Builder, seg: Segment) -> bool:
    return h.nad_line(b, seg)


def _loc_event(b: Builder, seg: Segment) -> bool:
    event = b.line
    if event is None or not el(seg, 1):
        return False
    p: dict[str, Any] = {"role": el(seg, 1)}
    if comp(seg, 2, 0):
        p["id"] = comp(seg, 2, 0)
    if comp(seg, 2, 2):
        p["id_qualifier"] = comp(seg, 2, 2)
    if comp(seg, 2, 3):
        p["name"] = comp(seg, 2, 3)
    event.setdefault("parties", []).append(p)
    h.place(b, seg, {1: 1, 2: 4 if not comp(seg, 2, 1) else 1})
    return True


def _rff_event(b: Builder, seg: Segment) -> bool:
    event = b.line
    if event is None:
        return False
    event.setdefault("order_references", []).append(h.reference(b, seg))
    return True


TABLE: Table = {
    "header": {
        "BGM": _bgm,
        "DTM": _DTM,
        "RFF": _RFF,
        "NAD": h.nad_header,
        "CTA": h.cta,
        "COM": h.com,
        "FTX": h.ftx,
        "TDT": _tdt,
        "CNI": _cni,
        "STS": _sts,
    },
    "event": {
        "CNI": _cni,
        "STS": _sts,
        "DTM": _dtm_event,
        "NAD": _nad_event,
        "LOC": _loc_event,
        "RFF": _rff_event,
        "MEA": h.mea(),
        "FTX": h.ftx,
    },
}


#: :data:`TABLE` as the walk reads it
_STEPS: Final = steps(TABLE)


def read(
    msg: Message, options: Mapping[str, object], errors: list[RemoteSyntaxError] | None = None
) -> MappedDocument:
    """Map one IFTSTA message to a ``shipment_status`` document.

    Args:
        msg: the message event (UNH..UNT).
        options: the partner's ``map_options["IFTSTA"]``.
        errors: when given, the message is validated in the same pass and
            what :func:`~.validation.validate` finds is appended.

    Returns:
        The document, the segments it did not place and the warnings.
    """
    b = Builder({}, mark=msg.delimiters.decimal, options=options)
    walk(b, msg, _STEPS, errors)
    return mapped_document(DOCUMENT_TYPE, SCHEMA_VERSION, b.doc, b.extensions(), tuple(b.warnings))


def write(w: Writer, doc: Mapping[str, Any], options: Mapping[str, object] | None = None) -> None:
    """Render a ``shipment_status`` document as the IFTSTA body (BGM..STS groups).

    Args:
        w: the writer.
        doc: the document (validated by the caller).

    Raises:
        LocalTranslationError: data IFTSTA cannot carry in this map (event
            addresses, equipment, appointment codes...).
    """
    w.refuse("shipment_status", doc, ("contacts", "measures"))
    w.bgm(_DOC_NAME, doc.get("carrier_reference"), "9")
    w.dates(doc)
    w.notes(doc)
    w.references(doc)
    w.parties(doc)
    if doc.get("scac"):
        w.add("TDT", "20", "", "", "", (str(doc["scac"]),))
    events = w.items(doc, "events")
    if doc.get("shipment_id") or events:
        w.add("CNI", "1", str(doc.get("shipment_id") or ""))
    for event in events:
        w.refuse(
            "status event",
            event,
            (
                "sequence",
                "appointment_status",
                "appointment_reason",
                "location",
                "equipment_scac",
                "equipment_number",
                "equipment_type",
                "lading_quantity",
                "references",
                "dates",
            ),
        )
        w.add("STS", "1", str(event.get("status_code") or ""), str(event.get("status_reason") or ""))
        w.references(event, "order_references")
        if event.get("date"):
            w.date(event["date"])
        w.measures(event)
        w.notes(event)
        for p in event.get("parties") or ():
            if str(p["role"]).isdigit():
                # a LOC qualifier (3227) as role: the party is a location
                w.refuse("status location", p, ("additional_names", "address", "contacts", "references"))
                w.add(
                    "LOC",
                    str(p["role"]),
                    (str(p.get("id") or ""), "", str(p.get("id_qualifier") or ""), str(p.get("name") or "")),
                )
            else:
                w.party(p)


__all__ = ["DOCUMENT_TYPE", "MESSAGE", "TABLE", "read", "write"]
