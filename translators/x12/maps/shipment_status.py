"""X12 214 Transportation Carrier Shipment Status Message <-> ``shipment_status``.

Placement: B10 carrier reference (pro number), shipment id, SCAC; L11
references; N1 loops (N1/N2/N3/N4/G61); K1 remarks as notes; LX events with
AT7 (status, reason, appointment status/reason, date, time, time code; a
second AT7 in the same LX starts another event), MS1 location, MS2
equipment, AT8 weight/lading quantity, L11 and N1 inside the event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from . import values
from .context import MapContext, missing, placed, run
from .walker import Entry, State, pick

Doc = dict[str, Any]

DOCUMENT_TYPE = "shipment_status"
#: DateTime qualifier used for the AT7 status date (AT7 carries no date qualifier).
STATUS_DATE = "AT7"


class _Status(State):
    __slots__ = ("lx", "seen")

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        super().__init__(ctx, doc, line_keys=frozenset({"parties", "measures"}))
        self.lx: str | None = None
        self.seen = False


def _b10(st: _Status, seg: Segment, pos: int) -> bool:
    st.seen = True
    b.put(st.doc, "carrier_reference", b.el(seg, 1))
    b.put(st.doc, "shipment_id", b.el(seg, 2))
    b.put(st.doc, "scac", b.el(seg, 3))
    return True


def _new_event(st: _Status) -> Doc:
    event: Doc = {}
    if st.lx:
        event["sequence"] = st.lx
    st.doc.setdefault("events", []).append(event)
    st.line = event
    st.party = None
    return event


def _lx(st: _Status, seg: Segment, pos: int) -> bool:
    st.lx = b.el(seg, 1) or None
    event = _new_event(st)
    event["_fresh"] = True
    return True


def _at7(st: _Status, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    event = st.line if st.line is not None and st.line.pop("_fresh", False) else _new_event(st)
    b.put(event, "status_code", b.el(seg, 1))
    b.put(event, "status_reason", b.el(seg, 2))
    b.put(event, "appointment_status", b.el(seg, 3))
    b.put(event, "appointment_reason", b.el(seg, 4))
    when: Doc = {"qualifier": STATUS_DATE}
    b.put(when, "date", ctx.date(seg, 5, pos))
    b.put(when, "time", ctx.time(seg, 6, pos))
    b.put(when, "time_zone", b.el(seg, 7))
    if len(when) > 1:
        event["date"] = when
    return True


def _ms1(st: _Status, seg: Segment, pos: int) -> bool:
    if st.line is None or "location" in st.line:
        return False
    loc: Doc = {}
    b.put(loc, "city", b.el(seg, 1))
    b.put(loc, "state", b.el(seg, 2))
    b.put(loc, "country", b.el(seg, 3))
    st.line["location"] = loc
    return True


def _ms2(st: _Status, seg: Segment, pos: int) -> bool:
    if st.line is None or "equipment_number" in st.line or "equipment_scac" in st.line:
        return False
    b.put(st.line, "equipment_scac", b.el(seg, 1))
    b.put(st.line, "equipment_number", b.el(seg, 2))
    b.put(st.line, "equipment_type", b.el(seg, 3))
    return True


def _at8(st: _Status, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    target = st.line if st.line is not None else st.doc
    w = b.measure("weight", b.el(seg, 1), ctx.dec(seg, 3, pos), b.el(seg, 2))
    if w is not None:
        target.setdefault("measures", []).append(w)
    if st.line is not None and "lading_quantity" not in st.line:
        b.put(st.line, "lading_quantity", ctx.dec(seg, 4, pos))
    elif b.el(seg, 4):
        ctx.leftover(pos, seg, [4])
    return True


def _l11(st: _Status, seg: Segment, pos: int) -> bool:
    target = st.line if st.line is not None else st.doc
    target.setdefault("references", []).append(b.l11(seg))
    return True


def _k1(st: _Status, seg: Segment, pos: int) -> bool:
    target = st.line if st.line is not None else st.doc
    target.setdefault("notes", []).extend({"qualifier": "K1", "text": t} for t in seg[1:3] if t)
    return True


TABLE: dict[str, Entry] = {
    **pick("N1", "N2", "N3", "N4", "G61"),
    "B10": (_b10, placed(1, 2, 3)),
    "LX": (_lx, placed(1)),
    "AT7": (_at7, placed(1, 2, 3, 4, 5, 6, 7)),
    "MS1": (_ms1, placed(1, 2, 3)),
    "MS2": (_ms2, placed(1, 2, 3)),
    "AT8": (_at8, placed(1, 2, 3, 4)),
    "L11": (_l11, b.REF_PLACED),
    "K1": (_k1, placed(1, 2)),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 214 (ST..SE) to a ``shipment_status`` dict.

    Raises:
        RemoteSyntaxError: no B10 segment.
    """
    doc: Doc = {}
    st = _Status(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("214", "B10", "the shipment identification")
    for event in doc.get("events", []):
        event.pop("_fresh", None)
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``shipment_status`` dict as the body of a 214 (without ST/SE)."""
    out: list[Segment] = [
        b.make("B10", doc.get("carrier_reference"), doc.get("shipment_id"), doc.get("scac"))
    ]
    out.extend(b.write_refs(doc.get("references") or [], tag="L11"))
    out.extend(b.make("K1", n.get("text")) for n in doc.get("notes") or [])
    for p in doc.get("parties") or []:
        out.extend(b.write_party(p, ref_tag="L11", contact_tag="G61"))
    out.extend(_write_at8(m, None) for m in doc.get("measures") or [])
    for n, event in enumerate(doc.get("events") or []):
        seq = event.get("sequence")
        previous = (doc.get("events") or [])[n - 1] if n else None
        if seq is not None and (previous is None or previous.get("sequence") != seq):
            out.append(b.make("LX", seq))
        when = event.get("date") or {}
        at7 = b.make(
            "AT7",
            event.get("status_code"),
            event.get("status_reason"),
            event.get("appointment_status"),
            event.get("appointment_reason"),
            values.x12_date(when.get("date")),
            values.x12_time(when.get("time")),
            when.get("time_zone"),
        )
        if len(at7) > 1 or seq is None or (previous is not None and previous.get("sequence") == seq):
            out.append(at7)
        loc = event.get("location")
        if loc:
            out.append(b.make("MS1", loc.get("city"), loc.get("state"), loc.get("country")))
        if event.get("equipment_scac") or event.get("equipment_number") or event.get("equipment_type"):
            out.append(
                b.make(
                    "MS2",
                    event.get("equipment_scac"),
                    event.get("equipment_number"),
                    event.get("equipment_type"),
                )
            )
        ms = event.get("measures") or []
        lading = event.get("lading_quantity")
        for i, m in enumerate(ms):
            out.append(_write_at8(m, lading if i == 0 else None))
        if lading and not ms:
            out.append(b.make("AT8", "", "", "", lading))
        out.extend(b.write_refs(event.get("references") or [], tag="L11"))
        out.extend(b.make("K1", n.get("text")) for n in event.get("notes") or [])
        for p in event.get("parties") or []:
            out.extend(b.write_party(p, ref_tag="L11", contact_tag="G61"))
    return out


def _write_at8(m: Mapping[str, Any], lading: str | None) -> Segment:
    return b.make("AT8", m.get("qualifier"), m.get("unit"), m.get("value"), lading)


__all__ = ["DOCUMENT_TYPE", "read", "write"]
