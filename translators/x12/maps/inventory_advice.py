"""X12 846 Inventory Inquiry/Advice <-> ``inventory_advice``.

Placement: BIA purpose/report type/report number/date/time/action; CUR;
REF; PER; DTM; N1 loops; LIN items (line number, product id pairs) with
PID description, CTP unit price (CTP03), QTY quantities (qualifier,
quantity, unit from QTY03 or the UIT that follows), item REF/DTM/N1; CTT.
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

DOCUMENT_TYPE = "inventory_advice"


class _Inv(State):
    __slots__ = ("qty", "seen")

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        super().__init__(ctx, doc, line_keys=frozenset({"parties"}))
        self.qty: Doc | None = None
        self.seen = False


def _bia(st: _Inv, seg: Segment, pos: int) -> bool:
    doc, ctx = st.doc, st.ctx
    st.seen = True
    b.put(doc, "purpose", b.el(seg, 1))
    b.put(doc, "report_type", b.el(seg, 2))
    b.put(doc, "report_number", b.el(seg, 3))
    b.put(doc, "report_date", ctx.date(seg, 4, pos))
    b.put(doc, "report_time", ctx.time(seg, 5, pos))
    b.put(doc, "action", b.el(seg, 6))
    return True


def _lin(st: _Inv, seg: Segment, pos: int) -> bool:
    item: Doc = {}
    b.put(item, "line_number", b.el(seg, 1))
    item["product"] = b.products(st.ctx, seg, 2)
    st.doc.setdefault("items", []).append(item)
    st.line = item
    st.qty = None
    st.party = None
    return True


def _pid(st: _Inv, seg: Segment, pos: int) -> bool:
    if st.line is None or "description" in st.line or not b.el(seg, 5):
        return False
    st.line["description"] = seg[5]
    return True


def _ctp(st: _Inv, seg: Segment, pos: int) -> bool:
    if st.line is None or "unit_price" in st.line:
        return False
    price = st.ctx.dec(seg, 3, pos)
    if price is None:
        return False
    st.line["unit_price"] = price
    return True


def _qty(st: _Inv, seg: Segment, pos: int) -> bool:
    if st.line is None:
        return False
    ctx = st.ctx
    quantity = ctx.dec(seg, 2, pos)
    if quantity is None:
        return False
    qty: Doc = {"qualifier": b.el(seg, 1), "quantity": quantity}
    b.put(qty, "unit", ctx.unit(b.el(seg, 3).split(ctx.component, 1)[0]))
    st.line.setdefault("quantities", []).append(qty)
    st.qty = qty
    return True


def _uit(st: _Inv, seg: Segment, pos: int) -> bool:
    unit = b.el(seg, 1).split(st.ctx.component, 1)[0]
    if st.qty is None or "unit" in st.qty or not unit:
        return False
    st.qty["unit"] = st.ctx.unit(unit)
    return True


TABLE: dict[str, Entry] = {
    **pick("REF", "PER", "DTM", "N1", "N2", "N3", "N4", "NTE", "N9", "MSG", "CUR", "CTT"),
    "BIA": (_bia, placed(1, 2, 3, 4, 5, 6)),
    "LIN": (_lin, placed(*range(1, 32))),
    "PID": (_pid, b.PID_PLACED),
    "CTP": (_ctp, placed(3)),
    "QTY": (_qty, placed(1, 2, 3)),
    "UIT": (_uit, placed(1)),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 846 (ST..SE) to an ``inventory_advice`` dict.

    Raises:
        RemoteSyntaxError: no BIA segment.
    """
    doc: Doc = {}
    st = _Inv(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("846", "BIA", "the report header")
    if st.totals:
        doc["totals"] = st.totals
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render an ``inventory_advice`` dict as the body of an 846 (without ST/SE)."""
    out: list[Segment] = [
        b.make(
            "BIA",
            doc.get("purpose"),
            doc.get("report_type"),
            doc.get("report_number"),
            values.x12_date(doc.get("report_date")),
            values.x12_time(doc.get("report_time")),
            doc.get("action"),
        )
    ]
    if doc.get("currency"):
        out.append(b.make("CUR", "BY", doc["currency"]))
    refs = doc.get("references") or []
    out.extend(b.write_refs([r for r in refs if not r.get("text")]))
    for c in doc.get("contacts") or []:
        out.extend(b.write_per(c))
    out.extend(b.write_dtm(d) for d in doc.get("dates") or [])
    out.extend(b.write_notes(doc.get("notes") or []))
    out.extend(b.write_refs([r for r in refs if r.get("text")]))
    for p in doc.get("parties") or []:
        out.extend(b.write_party(p))
    for item in doc.get("items") or []:
        out.append(b.make("LIN", item.get("line_number"), *b.product_pairs(ctx, item.get("product") or {})))
        if item.get("description"):
            out.append(b.make("PID", "F", "", "", "", item["description"]))
        if item.get("unit_price"):
            out.append(b.make("CTP", "", "", item["unit_price"]))
        lrefs = item.get("references") or []
        out.extend(b.write_refs([r for r in lrefs if not r.get("text")]))
        out.extend(b.write_dtm(d) for d in item.get("dates") or [])
        out.extend(b.write_notes(item.get("notes") or []))
        out.extend(b.write_refs([r for r in lrefs if r.get("text")]))
        for q in item.get("quantities") or []:
            out.append(b.make("QTY", q.get("qualifier"), q.get("quantity"), ctx.unit_out(q.get("unit"))))
        for p in item.get("parties") or []:
            out.extend(b.write_party(p))
    out.extend(b.write_ctt(doc.get("totals") or {}))
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
