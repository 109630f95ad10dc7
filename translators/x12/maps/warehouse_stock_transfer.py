"""X12 943 Warehouse Stock Transfer Shipment Advice <-> ``warehouse_stock_transfer``.

Placement: W06 (as in the 945); N1 loops; N9; G62; NTE; W27 carrier; W04
lines (quantity, unit, UPC, product id pairs), optionally opened by LX, with
G69, N9, G62, W20; W03 totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from .context import MapContext, missing, placed, run
from .walker import Entry
from .warehouse_lines import HEADER, WarehouseState, finish, write_header, write_line_tail
from .warehouse_shipping_advice import w06, write_w06

Doc = dict[str, Any]

DOCUMENT_TYPE = "warehouse_stock_transfer"


def _w04(st: WarehouseState, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    line = st.open_line()
    b.put(line, "quantity", ctx.dec(seg, 1, pos))
    b.put(line, "unit", ctx.unit(b.el(seg, 2)))
    line["product"] = b.wproducts(ctx, seg, 3, (4, 6))
    return True


def _w03(st: WarehouseState, seg: Segment, pos: int) -> bool:
    st.line = None
    b.wtotals(st.ctx, seg, pos, st.totals)
    return True


TABLE: dict[str, Entry] = {
    **HEADER,
    "W06": (w06, placed(1, 2, 3, 4, 5, 6)),
    "W04": (_w04, placed(1, 2, 3, 4, 5, 6, 7)),
    "W03": (_w03, placed(1, 2, 3, 4, 5)),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 943 (ST..SE) to a ``warehouse_stock_transfer`` dict.

    Raises:
        RemoteSyntaxError: no W06 segment.
    """
    doc: Doc = {"depositor_order_number": ""}
    st = WarehouseState(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("943", "W06", "the depositor order number")
    finish(st)
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``warehouse_stock_transfer`` dict as the body of a 943 (without ST/SE).

    Raises:
        ValueError: a line has more product ids than W04 can carry.
    """
    out: list[Segment] = [write_w06(doc)]
    out.extend(write_header(doc))
    for line in doc.get("lines") or []:
        if line.get("line_number"):
            out.append(b.make("LX", line["line_number"]))
        upc, pairs = b.wproduct_elements(ctx, line.get("product") or {}, 2)
        out.append(b.make("W04", line.get("quantity"), ctx.unit_out(line.get("unit")), upc, *pairs))
        out.extend(write_line_tail(line))
    out.extend(b.write_wtotals("W03", doc.get("totals") or {}))
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
