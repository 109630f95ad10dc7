"""X12 855 Purchase Order Acknowledgment <-> ``order_response``.

Placement: BAK purpose/acknowledgment type/order number/order date/release
and the seller's order number and date (BAK08/09); CUR; REF; PER; DTM;
TD5/TD3; N9+MSG; NTE; N1 loops; PO1 lines with PID, REF, DTM and ACK line
statuses (status, quantity, unit, date, substituted product); CTT/AMT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from . import values
from .context import MapContext, missing, placed, run
from .purchase_order import OrderLines, _pid, _po1
from .walker import Entry, finish_totals, pick

Doc = dict[str, Any]

DOCUMENT_TYPE = "order_response"


class _Ack(OrderLines):
    __slots__ = ()


def _bak(st: _Ack, seg: Segment, pos: int) -> bool:
    doc, ctx = st.doc, st.ctx
    st.seen = True
    b.put(doc, "purpose", b.el(seg, 1))
    b.put(doc, "acknowledgment_type", b.el(seg, 2))
    doc["order_number"] = b.el(seg, 3)
    b.put(doc, "order_date", ctx.date(seg, 4, pos))
    b.put(doc, "release_number", b.el(seg, 5))
    b.put(doc, "response_number", b.el(seg, 8))
    b.put(doc, "response_date", ctx.date(seg, 9, pos))
    return True


def _ack(st: _Ack, seg: Segment, pos: int) -> bool:
    if st.line is None:
        return False
    ctx = st.ctx
    status: Doc = {"status": b.el(seg, 1)}
    b.put(status, "quantity", ctx.dec(seg, 2, pos))
    b.put(status, "unit", ctx.unit(b.el(seg, 3)))
    if b.el(seg, 4) or b.el(seg, 5):
        when: Doc = {"qualifier": b.el(seg, 4)}
        b.put(when, "date", ctx.date(seg, 5, pos))
        status["scheduled"] = [when]
    product = b.products(ctx, seg, 7)
    if product:
        status["product"] = product
    st.line.setdefault("statuses", []).append(status)
    return True


TABLE: dict[str, Entry] = {
    **pick(
        "REF", "PER", "DTM", "N1", "N2", "N3", "N4", "NTE", "N9", "MSG", "TD5", "TD3", "CUR", "CTT", "AMT"
    ),
    "BAK": (_bak, placed(1, 2, 3, 4, 5, 8, 9)),
    "PO1": (_po1, placed(*range(1, 26))),
    "PID": (_pid, b.PID_PLACED),
    "ACK": (_ack, placed(1, 2, 3, 4, 5, *range(7, 29))),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 855 (ST..SE) to an ``order_response`` dict.

    Raises:
        RemoteSyntaxError: no BAK segment.
    """
    doc: Doc = {"order_number": "", "lines": []}
    st = _Ack(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("855", "BAK", "the purchase order number")
    finish_totals(st)
    if not doc["lines"]:
        del doc["lines"]
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render an ``order_response`` dict as the body of an 855 (without ST/SE)."""
    out: list[Segment] = [
        b.make(
            "BAK",
            doc.get("purpose"),
            doc.get("acknowledgment_type"),
            doc.get("order_number"),
            values.x12_date(doc.get("order_date")),
            doc.get("release_number"),
            "",
            "",
            doc.get("response_number"),
            values.x12_date(doc.get("response_date")),
        )
    ]
    if doc.get("currency"):
        out.append(b.make("CUR", "SE", doc["currency"]))
    refs = doc.get("references") or []
    out.extend(b.write_refs([r for r in refs if not r.get("text")]))
    for c in doc.get("contacts") or []:
        out.extend(b.write_per(c))
    out.extend(b.write_dtm(d) for d in doc.get("dates") or [])
    out.extend(b.write_carriers(doc.get("carriers") or []))
    out.extend(b.write_notes(doc.get("notes") or []))
    out.extend(b.write_refs([r for r in refs if r.get("text")]))
    for p in doc.get("parties") or []:
        out.extend(b.write_party(p))
    for line in doc.get("lines") or []:
        out.append(
            b.make(
                "PO1",
                line.get("line_number"),
                line.get("quantity"),
                ctx.unit_out(line.get("unit")),
                line.get("unit_price"),
                line.get("price_basis"),
                *b.product_pairs(ctx, line.get("product") or {}),
            )
        )
        if line.get("description"):
            out.append(b.make("PID", "F", "", "", "", line["description"]))
        lrefs = line.get("references") or []
        out.extend(b.write_refs([r for r in lrefs if not r.get("text")]))
        out.extend(b.write_dtm(d) for d in line.get("dates") or [])
        out.extend(b.write_refs([r for r in lrefs if r.get("text")]))
        out.extend(b.write_notes(line.get("notes") or []))
        for s in line.get("statuses") or []:
            when = (s.get("scheduled") or [{}])[0]
            out.append(
                b.make(
                    "ACK",
                    s.get("status"),
                    s.get("quantity"),
                    ctx.unit_out(s.get("unit")),
                    when.get("qualifier"),
                    values.x12_date(when.get("date")),
                    "",
                    *b.product_pairs(ctx, s.get("product") or {}),
                )
            )
    totals = doc.get("totals") or {}
    out.extend(b.write_ctt(totals))
    if totals.get("amount") is not None:
        out.append(b.make("AMT", "TT", totals["amount"]))
    out.extend(b.make("AMT", a.get("qualifier"), a.get("value")) for a in totals.get("amounts") or [])
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
