"""X12 944 Warehouse Stock Transfer Receipt Advice <-> ``receiving_advice``.

Placement: W17 reporting code/receipt date/receipt number/depositor order/shipment id;
N1 loops; N9; G62; NTE; W07 lines (quantity received, unit, UPC, product id
pairs W0704-07 and W0710/11, warehouse lot), optionally opened by LX, with W13 exceptions
(quantity, unit, condition), G69, N9, G62, W20; W14 total quantity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from . import values
from .context import MapContext, missing, placed, run
from .walker import Entry
from .warehouse_lines import HEADER, WarehouseState, finish, write_header, write_line_tail

Doc = dict[str, Any]

DOCUMENT_TYPE = "receiving_advice"


def _w17(st: WarehouseState, seg: Segment, pos: int) -> bool:
    doc, ctx = st.doc, st.ctx
    st.seen = True
    b.put(doc, "status", b.el(seg, 1))
    b.put(doc, "receipt_date", ctx.date(seg, 2, pos))
    b.put(doc, "receipt_number", b.el(seg, 3))
    b.put(doc, "depositor_order_number", b.el(seg, 4))
    b.put(doc, "shipment_id", b.el(seg, 5))
    return True


def _w07(st: WarehouseState, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    line = st.open_line()
    b.put(line, "quantity", ctx.dec(seg, 1, pos))
    b.put(line, "unit", ctx.unit(b.el(seg, 2)))
    line["product"] = b.wproducts(ctx, seg, 3, (4, 6, 10))
    b.put(line, "lot_number", b.el(seg, 8))
    return True


def _w13(st: WarehouseState, seg: Segment, pos: int) -> bool:
    if st.line is None:
        return False
    ctx = st.ctx
    exc: Doc = {"condition": b.el(seg, 3)}
    b.put(exc, "quantity", ctx.dec(seg, 1, pos))
    b.put(exc, "unit", ctx.unit(b.el(seg, 2)))
    st.line.setdefault("exceptions", []).append(exc)
    return True


def _w14(st: WarehouseState, seg: Segment, pos: int) -> bool:
    st.line = None
    b.put(st.totals, "quantity", st.ctx.dec(seg, 1, pos))
    return True


TABLE: dict[str, Entry] = {
    **HEADER,
    "W17": (_w17, placed(1, 2, 3, 4, 5)),
    "W07": (_w07, placed(1, 2, 3, 4, 5, 6, 7, 8, 10, 11)),
    "W13": (_w13, placed(1, 2, 3)),
    "W14": (_w14, placed(1)),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 944 (ST..SE) to a ``receiving_advice`` dict.

    Raises:
        RemoteSyntaxError: no W17 segment.
    """
    doc: Doc = {}
    st = WarehouseState(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("944", "W17", "the warehouse receipt number")
    finish(st)
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``receiving_advice`` dict as the body of a 944 (without ST/SE).

    Raises:
        ValueError: a line has more product ids than W07 can carry.
    """
    out: list[Segment] = [
        b.make(
            "W17",
            doc.get("status"),
            values.x12_date(doc.get("receipt_date")),
            doc.get("receipt_number"),
            doc.get("depositor_order_number"),
            doc.get("shipment_id"),
        )
    ]
    out.extend(write_header(doc))
    for line in doc.get("lines") or []:
        if line.get("line_number"):
            out.append(b.make("LX", line["line_number"]))
        upc, pairs = b.wproduct_elements(ctx, line.get("product") or {}, 3)
        pairs += [""] * (6 - len(pairs))
        out.append(
            b.make(
                "W07",
                line.get("quantity"),
                ctx.unit_out(line.get("unit")),
                upc,
                *pairs[:4],
                line.get("lot_number"),
                "",
                *pairs[4:],
            )
        )
        out.extend(
            b.make("W13", e.get("quantity"), ctx.unit_out(e.get("unit")), e.get("condition"))
            for e in line.get("exceptions") or []
        )
        out.extend(write_line_tail(line))
    totals = doc.get("totals") or {}
    if totals.get("quantity"):
        out.append(b.make("W14", totals["quantity"]))
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
