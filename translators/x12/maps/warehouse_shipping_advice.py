"""X12 945 Warehouse Shipping Advice <-> ``warehouse_shipping_advice``.

Placement: W06 reporting code/depositor order/date/shipment id/agent
shipment id/PO/master reference; N1 loops; N9 references (BM bill of
lading, CN tracking number); G62 dates; NTE; W27 carrier; LX lines with MAN
(GM = SSCC-18), W12 (status, ordered/shipped/difference quantities, unit,
UPC, product id pairs W1207/08 and W1217/18, lot, weight), G69, N9, W20; W03 totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from . import values
from .context import MapContext, missing, placed, run
from .ship_notice import sscc
from .walker import Entry, h_n9
from .warehouse_lines import HEADER, WarehouseState, finish, write_header, write_line_tail

Doc = dict[str, Any]

DOCUMENT_TYPE = "warehouse_shipping_advice"


def w06(st: WarehouseState, seg: Segment, pos: int) -> bool:
    """W06 (shared with the 943)."""
    doc, ctx = st.doc, st.ctx
    st.seen = True
    b.put(doc, "status", b.el(seg, 1))
    b.put(doc, "depositor_order_number", b.el(seg, 2))
    b.put(doc, "shipment_date", ctx.date(seg, 3, pos))
    b.put(doc, "shipment_id", b.el(seg, 4))
    b.put(doc, "agent_shipment_id", b.el(seg, 5))
    b.put(doc, "purchase_order_number", b.el(seg, 6))
    return True


def write_w06(doc: Mapping[str, Any], *, extra: str | None = None) -> Segment:
    """The W06 of a 945/943."""
    return b.make(
        "W06",
        doc.get("status"),
        doc.get("depositor_order_number"),
        values.x12_date(doc.get("shipment_date")),
        doc.get("shipment_id"),
        doc.get("agent_shipment_id"),
        doc.get("purchase_order_number"),
        extra,
    )


def _w06(st: WarehouseState, seg: Segment, pos: int) -> bool:
    w06(st, seg, pos)
    b.put(st.doc, "master_reference", b.el(seg, 7))
    return True


def _n9(st: WarehouseState, seg: Segment, pos: int) -> bool:
    if st.line is None and len(seg) < 4:
        key = {"BM": "bill_of_lading", "CN": "tracking_number"}.get(b.el(seg, 1))
        if key is not None and key not in st.doc and b.el(seg, 2):
            st.doc[key] = seg[2]
            return True
    return h_n9(st, seg, pos)


def _man(st: WarehouseState, seg: Segment, pos: int) -> bool:
    if st.line is None or b.el(seg, 1) != "GM" or not b.el(seg, 2):
        return False
    st.line.setdefault("sscc", []).append(sscc(seg[2]))
    return True


def _w12(st: WarehouseState, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    line = st.open_line()
    b.put(line, "status", b.el(seg, 1))
    b.put(line, "quantity_ordered", ctx.dec(seg, 2, pos))
    b.put(line, "quantity", ctx.dec(seg, 3, pos))
    b.put(line, "quantity_difference", ctx.dec(seg, 4, pos))
    b.put(line, "unit", ctx.unit(b.el(seg, 5)))
    line["product"] = b.wproducts(ctx, seg, 6, (7, 17))
    b.put(line, "lot_number", b.el(seg, 9))
    w = b.measure("weight", b.el(seg, 11), ctx.dec(seg, 10, pos), b.el(seg, 12))
    if w is not None:
        line.setdefault("measures", []).append(w)
    return True


def _w03(st: WarehouseState, seg: Segment, pos: int) -> bool:
    st.line = None
    b.wtotals(st.ctx, seg, pos, st.totals)
    return True


TABLE: dict[str, Entry] = {
    **HEADER,
    "W06": (_w06, placed(1, 2, 3, 4, 5, 6, 7)),
    "N9": (_n9, b.REF_PLACED),
    "MAN": (_man, placed(1, 2)),
    "W12": (_w12, placed(*range(1, 13), 17, 18)),
    "W03": (_w03, placed(1, 2, 3, 4, 5)),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 945 (ST..SE) to a ``warehouse_shipping_advice`` dict.

    Raises:
        RemoteSyntaxError: no W06 segment.
    """
    doc: Doc = {}
    st = WarehouseState(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("945", "W06", "the shipment identification")
    finish(st)
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``warehouse_shipping_advice`` dict as the body of a 945 (without ST/SE).

    Raises:
        ValueError: a line has more product ids than W12 can carry.
    """
    out: list[Segment] = [write_w06(doc, extra=doc.get("master_reference"))]
    head = write_header(doc)
    out.extend(s for s in head if s[0] == "N1" or s[0] in ("N2", "N3", "N4", "G61", "PER"))
    if doc.get("bill_of_lading"):
        out.append(b.make("N9", "BM", doc["bill_of_lading"]))
    if doc.get("tracking_number"):
        out.append(b.make("N9", "CN", doc["tracking_number"]))
    out.extend(s for s in head if s[0] not in ("N1", "N2", "N3", "N4", "G61", "PER"))
    for line in doc.get("lines") or []:
        out.append(b.make("LX", line.get("line_number")))
        out.extend(b.make("MAN", "GM", code) for code in line.get("sscc") or [])
        upc, pairs = b.wproduct_elements(ctx, line.get("product") or {}, 2)
        pairs += [""] * (4 - len(pairs))
        weights = [m for m in line.get("measures") or [] if m["kind"] == "weight"]
        w = weights[0] if weights else {}
        out.append(
            b.make(
                "W12",
                line.get("status"),
                line.get("quantity_ordered"),
                line.get("quantity"),
                line.get("quantity_difference"),
                ctx.unit_out(line.get("unit")),
                upc,
                pairs[0],
                pairs[1],
                line.get("lot_number"),
                w.get("value"),
                w.get("qualifier"),
                w.get("unit"),
                "",
                "",
                "",
                "",
                pairs[2],
                pairs[3],
            )
        )
        rest = {**line, "measures": weights[1:]}
        out.extend(write_line_tail(rest))
    out.extend(b.write_wtotals("W03", doc.get("totals") or {}))
    return out


__all__ = ["DOCUMENT_TYPE", "read", "w06", "write", "write_w06"]
