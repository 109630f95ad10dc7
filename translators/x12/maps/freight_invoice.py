"""X12 210 Motor Carrier Freight Details and Invoice <-> ``freight_invoice``.

Placement: B3 invoice number, shipment id, payment method, billing date,
net amount due (N2), delivery date, SCAC; C3 currency; N9 references; G62
dates; N1 loops; LX lines with L5 descriptions, L0 (weight, volume, lading
quantity, packaging), L1 (rate, rate qualifier, charge N2, special charge
code), L7 tariff number; L3 totals (weight, charge N2, lading quantity).
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

DOCUMENT_TYPE = "freight_invoice"


class _Bill(State):
    __slots__ = ("seen",)

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        super().__init__(ctx, doc, line_keys=frozenset({"measures"}))
        self.seen = False


def _b3(st: _Bill, seg: Segment, pos: int) -> bool:
    doc, ctx = st.doc, st.ctx
    st.seen = True
    doc["invoice_number"] = b.el(seg, 2)
    b.put(doc, "shipment_id", b.el(seg, 3))
    b.put(doc, "payment_method", b.el(seg, 4))
    b.put(doc, "invoice_date", ctx.date(seg, 6, pos))
    b.put(doc, "amount_due", ctx.implied(seg, 7, pos, 2))
    b.put(doc, "delivery_date", ctx.date(seg, 9, pos))
    b.put(doc, "scac", b.el(seg, 11))
    return True


def _c3(st: _Bill, seg: Segment, pos: int) -> bool:
    if "currency" in st.doc or not b.el(seg, 1):
        return False
    st.doc["currency"] = seg[1]
    return True


def _lx(st: _Bill, seg: Segment, pos: int) -> bool:
    line: Doc = {}
    b.put(line, "line_number", b.el(seg, 1))
    st.doc.setdefault("lines", []).append(line)
    st.line = line
    st.party = None
    return True


def _same_line(st: _Bill, seg: Segment, pos: int) -> None:
    """L5/L0/L1/L7 element 1 repeats the LX number (placed); a different number is kept."""
    if st.line is not None and b.el(seg, 1) and b.el(seg, 1) != st.line.get("line_number"):
        st.ctx.leftover(pos, seg, [1])


def _l5(st: _Bill, seg: Segment, pos: int) -> bool:
    if st.line is None or not b.el(seg, 2):
        return False
    _same_line(st, seg, pos)
    st.line.setdefault("descriptions", []).append(seg[2])
    return True


def _l0(st: _Bill, seg: Segment, pos: int) -> bool:
    line, ctx = st.line, st.ctx
    if line is None or "quantity" in line or "packaging" in line:
        return False
    _same_line(st, seg, pos)
    ms = [
        b.measure("weight", b.el(seg, 5), ctx.dec(seg, 4, pos), b.el(seg, 11)),
        b.measure("volume", "", ctx.dec(seg, 6, pos), b.el(seg, 7)),
    ]
    line.setdefault("measures", []).extend(m for m in ms if m is not None)
    if not line["measures"]:
        del line["measures"]
    b.put(line, "quantity", ctx.dec(seg, 8, pos))
    b.put(line, "packaging", b.el(seg, 9))
    return True


def _l1(st: _Bill, seg: Segment, pos: int) -> bool:
    line, ctx = st.line, st.ctx
    if line is None or "charge" in line or "rate" in line:
        return False
    _same_line(st, seg, pos)
    b.put(line, "rate", ctx.dec(seg, 2, pos))
    b.put(line, "rate_qualifier", b.el(seg, 3))
    b.put(line, "charge", ctx.implied(seg, 4, pos, 2))
    b.put(line, "charge_code", b.el(seg, 8))
    return True


def _l7(st: _Bill, seg: Segment, pos: int) -> bool:
    if st.line is None or "tariff" in st.line or not b.el(seg, 3):
        return False
    _same_line(st, seg, pos)
    st.line["tariff"] = seg[3]
    return True


def _l3(st: _Bill, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    totals: Doc = {}
    b.put(totals, "weight", ctx.dec(seg, 1, pos))
    b.put(totals, "amount", ctx.implied(seg, 5, pos, 2))
    b.put(totals, "quantity", ctx.dec(seg, 11, pos))
    st.doc["totals"] = totals
    st.line = None
    return True


TABLE: dict[str, Entry] = {
    **pick("N1", "N2", "N3", "N4", "N9", "MSG", "G62", "G61", "NTE"),
    "B3": (_b3, placed(2, 3, 4, 6, 7, 9, 11)),
    "C3": (_c3, placed(1)),
    "LX": (_lx, placed(1)),
    "L5": (_l5, placed(1, 2)),
    "L0": (_l0, placed(1, 4, 5, 6, 7, 8, 9, 11)),
    "L1": (_l1, placed(1, 2, 3, 4, 8)),
    "L7": (_l7, placed(1, 3)),
    "L3": (_l3, placed(1, 5, 11)),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 210 (ST..SE) to a ``freight_invoice`` dict.

    Raises:
        RemoteSyntaxError: no B3 segment.
    """
    doc: Doc = {"invoice_number": ""}
    st = _Bill(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("210", "B3", "the invoice number")
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``freight_invoice`` dict as the body of a 210 (without ST/SE).

    Raises:
        ValueError: an amount has more than two decimals (B307, L104, L305 are N2).
    """
    out: list[Segment] = [
        b.make(
            "B3",
            "",
            doc.get("invoice_number"),
            doc.get("shipment_id"),
            doc.get("payment_method"),
            "",
            values.x12_date(doc.get("invoice_date")),
            values.x12_implied(doc.get("amount_due"), 2),
            "",
            values.x12_date(doc.get("delivery_date")),
            "",
            doc.get("scac"),
        ),
    ]
    if doc.get("currency"):
        out.append(b.make("C3", doc["currency"]))
    out.extend(b.write_refs(doc.get("references") or [], tag="N9"))
    out.extend(b.write_g62(d) for d in doc.get("dates") or [])
    out.extend(b.write_notes(doc.get("notes") or []))
    for p in doc.get("parties") or []:
        out.extend(b.write_party(p, contact_tag="G61"))
    for line in doc.get("lines") or []:
        n = line.get("line_number")
        out.append(b.make("LX", n))
        out.extend(b.make("L5", n, d) for d in line.get("descriptions") or [])
        ms = line.get("measures") or []
        w: Mapping[str, Any] = next((m for m in ms if m["kind"] == "weight"), {})
        v: Mapping[str, Any] = next((m for m in ms if m["kind"] == "volume"), {})
        if w or v or line.get("quantity") or line.get("packaging"):
            out.append(
                b.make(
                    "L0",
                    n,
                    "",
                    "",
                    w.get("value"),
                    w.get("qualifier"),
                    v.get("value"),
                    v.get("unit"),
                    line.get("quantity"),
                    line.get("packaging"),
                    "",
                    w.get("unit"),
                )
            )
        if any(line.get(k) for k in ("rate", "rate_qualifier", "charge", "charge_code")):
            out.append(
                b.make(
                    "L1",
                    n,
                    line.get("rate"),
                    line.get("rate_qualifier"),
                    values.x12_implied(line.get("charge"), 2),
                    "",
                    "",
                    "",
                    line.get("charge_code"),
                )
            )
        if line.get("tariff"):
            out.append(b.make("L7", n, "", line["tariff"]))
        out.extend(b.write_refs(line.get("references") or [], tag="N9"))
        out.extend(b.write_g62(d) for d in line.get("dates") or [])
        out.extend(b.write_notes(line.get("notes") or []))
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
