"""X12 204 Motor Carrier Load Tender <-> ``load_tender``.

Placement: B2 tariff service, SCAC, shipment id, payment method; B2A
purpose and application type; L11 references; G62 dates; NTE notes; N7
equipment (number, type, length); header N1 loops (N1/N2/N3/N4/G61); S5
stops (sequence, reason, weight, quantity, volume) with their L11, G62, NTE,
AT8, L5 descriptions, one N1 loop (the stop's party) and OID orders (with
their own L5, AT8, L11); L3 totals (weight, charge, lading quantity).
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

DOCUMENT_TYPE = "load_tender"


class _Tender(State):
    __slots__ = ("order", "seen", "stop")

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        super().__init__(ctx, doc, line_keys=frozenset({"measures"}))
        self.stop: Doc | None = None
        self.order: Doc | None = None
        self.seen = False

    def inner(self) -> Doc:
        """Where a stop-loop segment goes: the open order, else the open stop, else the header."""
        if self.order is not None:
            return self.order
        if self.stop is not None:
            return self.stop
        return self.doc


def _b2(st: _Tender, seg: Segment, pos: int) -> bool:
    st.seen = True
    b.put(st.doc, "tariff_service", b.el(seg, 1))
    b.put(st.doc, "scac", b.el(seg, 2))
    st.doc["shipment_id"] = b.el(seg, 4)
    b.put(st.doc, "payment_method", b.el(seg, 6))
    return True


def _b2a(st: _Tender, seg: Segment, pos: int) -> bool:
    if "purpose" in st.doc:
        return False
    b.put(st.doc, "purpose", b.el(seg, 1))
    b.put(st.doc, "application_type", b.el(seg, 2))
    return True


def _l11(st: _Tender, seg: Segment, pos: int) -> bool:
    if st.party is not None and st.party_pos == pos - 1:
        st.party.setdefault("references", []).append(b.l11(seg))
        st.party_pos = pos
        return True
    st.inner().setdefault("references", []).append(b.l11(seg))
    return True


def _g62(st: _Tender, seg: Segment, pos: int) -> bool:
    target = st.stop if st.stop is not None and st.order is None else (st.doc if st.stop is None else None)
    if target is None:
        return False
    target.setdefault("dates", []).append(b.g62(st.ctx, seg, pos))
    return True


def _nte(st: _Tender, seg: Segment, pos: int) -> bool:
    st.inner().setdefault("notes", []).append(b.nte(seg))
    return True


def _n7(st: _Tender, seg: Segment, pos: int) -> bool:
    if st.stop is not None:
        return False
    eq: Doc = {}
    b.put(eq, "number", b.el(seg, 2))
    b.put(eq, "type_code", b.el(seg, 11))
    b.put(eq, "length", b.el(seg, 15))
    st.doc.setdefault("equipment", []).append(eq)
    return True


def _n1(st: _Tender, seg: Segment, pos: int) -> bool:
    party = b.n1(seg)
    if st.stop is None:
        st.doc.setdefault("parties", []).append(party)
    elif "party" in st.stop or st.order is not None:
        return False
    else:
        st.stop["party"] = party
    st.party = party
    st.party_pos = pos
    return True


def _s5(st: _Tender, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    stop: Doc = {}
    b.put(stop, "sequence", b.el(seg, 1))
    b.put(stop, "reason", b.el(seg, 2))
    ms = [
        b.measure("weight", "", ctx.dec(seg, 3, pos), b.el(seg, 4)),
        b.measure("volume", "", ctx.dec(seg, 7, pos), b.el(seg, 8)),
    ]
    b.put(stop, "measures", [m for m in ms if m is not None])
    b.put(stop, "quantity", ctx.dec(seg, 5, pos))
    b.put(stop, "unit", b.el(seg, 6))
    st.doc.setdefault("stops", []).append(stop)
    st.stop = stop
    st.order = None
    st.party = None
    return True


def _oid(st: _Tender, seg: Segment, pos: int) -> bool:
    if st.stop is None:
        return False
    ctx = st.ctx
    order: Doc = {}
    b.put(order, "reference", b.el(seg, 1))
    b.put(order, "purchase_order_number", b.el(seg, 2))
    b.put(order, "unit", b.el(seg, 4))
    b.put(order, "quantity", ctx.dec(seg, 5, pos))
    ms = [
        b.measure("weight", "", ctx.dec(seg, 7, pos), b.el(seg, 6)),
        b.measure("volume", "", ctx.dec(seg, 9, pos), b.el(seg, 8)),
    ]
    b.put(order, "measures", [m for m in ms if m is not None])
    st.stop.setdefault("orders", []).append(order)
    st.order = order
    st.party = None
    return True


def _l5(st: _Tender, seg: Segment, pos: int) -> bool:
    if st.stop is None or not b.el(seg, 2):
        return False
    st.inner().setdefault("descriptions", []).append(seg[2])
    return True


def _at8(st: _Tender, seg: Segment, pos: int) -> bool:
    w = b.measure("weight", b.el(seg, 1), st.ctx.dec(seg, 3, pos), b.el(seg, 2))
    if w is None or st.stop is None:  # the tender header has no weights of its own
        return False
    st.inner().setdefault("measures", []).append(w)
    return True


def _l3(st: _Tender, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    totals: Doc = {}
    b.put(totals, "weight", ctx.dec(seg, 1, pos))
    b.put(totals, "amount", ctx.implied(seg, 5, pos, 2))
    b.put(totals, "quantity", ctx.dec(seg, 11, pos))
    st.doc["totals"] = totals
    st.stop = None
    st.order = None
    return True


TABLE: dict[str, Entry] = {
    **pick("N2", "N3", "N4", "G61"),
    "B2": (_b2, placed(1, 2, 4, 6)),
    "B2A": (_b2a, placed(1, 2)),
    "L11": (_l11, b.REF_PLACED),
    "G62": (_g62, b.G62_PLACED),
    "NTE": (_nte, b.NTE_PLACED),
    "N7": (_n7, placed(2, 11, 15)),
    "N1": (_n1, b.N1_PLACED),
    "S5": (_s5, placed(1, 2, 3, 4, 5, 6, 7, 8)),
    "OID": (_oid, placed(1, 2, 4, 5, 6, 7, 8, 9)),
    "L5": (_l5, placed(2)),
    "AT8": (_at8, placed(1, 2, 3)),
    "L3": (_l3, placed(1, 5, 11)),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 204 (ST..SE) to a ``load_tender`` dict.

    Raises:
        RemoteSyntaxError: no B2 segment.
    """
    doc: Doc = {"shipment_id": ""}
    st = _Tender(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("204", "B2", "the shipment identification")
    return doc


def _measure_pair(ms: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], Mapping[str, Any], list[Any]]:
    w = next((m for m in ms if m["kind"] == "weight" and not m.get("qualifier")), {})
    v = next((m for m in ms if m["kind"] == "volume" and not m.get("qualifier")), {})
    rest = [m for m in ms if m is not w and m is not v]
    return w, v, rest


def _write_at8s(ms: Sequence[Mapping[str, Any]]) -> list[Segment]:
    return [b.make("AT8", m.get("qualifier"), m.get("unit"), m.get("value")) for m in ms]


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``load_tender`` dict as the body of a 204 (without ST/SE).

    Raises:
        ValueError: the total charge has more than two decimals (L305 is N2).
    """
    out: list[Segment] = [
        b.make(
            "B2",
            doc.get("tariff_service"),
            doc.get("scac"),
            "",
            doc.get("shipment_id"),
            "",
            doc.get("payment_method"),
        ),
    ]
    if doc.get("purpose") or doc.get("application_type"):
        out.append(b.make("B2A", doc.get("purpose"), doc.get("application_type")))
    out.extend(b.write_refs(doc.get("references") or [], tag="L11"))
    out.extend(b.write_g62(d) for d in doc.get("dates") or [])
    out.extend(b.write_notes(doc.get("notes") or []))
    for p in doc.get("parties") or []:
        out.extend(b.write_party(p, ref_tag="L11", contact_tag="G61"))
    for eq in doc.get("equipment") or []:
        out.append(
            b.make(
                "N7",
                "",
                eq.get("number"),
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                eq.get("type_code"),
                "",
                "",
                "",
                eq.get("length"),
            )
        )
    for stop in doc.get("stops") or []:
        w, v, rest = _measure_pair(stop.get("measures") or [])
        out.append(
            b.make(
                "S5",
                stop.get("sequence"),
                stop.get("reason"),
                w.get("value"),
                w.get("unit"),
                stop.get("quantity"),
                stop.get("unit"),
                v.get("value"),
                v.get("unit"),
            )
        )
        out.extend(b.write_refs(stop.get("references") or [], tag="L11"))
        out.extend(b.write_g62(d) for d in stop.get("dates") or [])
        out.extend(b.write_notes(stop.get("notes") or []))
        out.extend(_write_at8s(rest))
        out.extend(b.make("L5", "", d) for d in stop.get("descriptions") or [])
        if stop.get("party"):
            out.extend(b.write_party(stop["party"], ref_tag="L11", contact_tag="G61"))
        for order in stop.get("orders") or []:
            ow, ov, orest = _measure_pair(order.get("measures") or [])
            out.append(
                b.make(
                    "OID",
                    order.get("reference"),
                    order.get("purchase_order_number"),
                    "",
                    order.get("unit"),
                    order.get("quantity"),
                    ow.get("unit"),
                    ow.get("value"),
                    ov.get("unit"),
                    ov.get("value"),
                )
            )
            out.extend(b.make("L5", "", d) for d in order.get("descriptions") or [])
            out.extend(_write_at8s(orest))
            out.extend(b.write_refs(order.get("references") or [], tag="L11"))
            out.extend(b.write_notes(order.get("notes") or []))
    totals = doc.get("totals") or {}
    if any(totals.get(k) for k in ("weight", "amount", "quantity")):
        out.append(
            b.make(
                "L3",
                totals.get("weight"),
                "",
                "",
                "",
                values.x12_implied(totals.get("amount"), 2),
                "",
                "",
                "",
                "",
                "",
                totals.get("quantity"),
            )
        )
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
