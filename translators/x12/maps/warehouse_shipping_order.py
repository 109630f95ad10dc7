"""X12 940 Warehouse Shipping Order <-> ``warehouse_shipping_order``.

Placement: W05 status/depositor order/PO/link sequence/master reference;
N1 loops; N9 references; G62 dates; NTE notes; W66 carrier (payment method,
mode, routing, SCAC); LX + W01 lines (quantity, unit, UPC, product id pairs,
warehouse lot) with G69, N9, G62, W20; W76 totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from .context import MapContext, missing, placed, run
from .walker import Entry
from .warehouse_lines import HEADER, WarehouseState, finish, write_header, write_line_tail

Doc = dict[str, Any]

DOCUMENT_TYPE = "warehouse_shipping_order"


def _w05(st: WarehouseState, seg: Segment, pos: int) -> bool:
    doc = st.doc
    st.seen = True
    b.put(doc, "status", b.el(seg, 1))
    doc["depositor_order_number"] = b.el(seg, 2)
    b.put(doc, "purchase_order_number", b.el(seg, 3))
    b.put(doc, "link_sequence", b.el(seg, 4))
    b.put(doc, "master_reference", b.el(seg, 5))
    return True


def _w66(st: WarehouseState, seg: Segment, pos: int) -> bool:
    if st.line is not None:
        return False
    carrier: Doc = {}
    b.put(carrier, "payment_method", b.el(seg, 1))
    b.put(carrier, "transport_method", b.el(seg, 2))
    b.put(carrier, "name", b.el(seg, 5))
    b.put(carrier, "scac", b.el(seg, 10))
    st.doc.setdefault("carriers", []).append(carrier)
    return True


def _w01(st: WarehouseState, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    line = st.open_line()
    b.put(line, "quantity", ctx.dec(seg, 1, pos))
    b.put(line, "unit", ctx.unit(b.el(seg, 2)))
    line["product"] = b.wproducts(ctx, seg, 3, (4, 6, 15))
    b.put(line, "lot_number", b.el(seg, 13))
    return True


def _w76(st: WarehouseState, seg: Segment, pos: int) -> bool:
    st.line = None
    b.wtotals(st.ctx, seg, pos, st.totals)
    return True


TABLE: dict[str, Entry] = {
    **HEADER,
    "W05": (_w05, placed(1, 2, 3, 4, 5)),
    "W66": (_w66, placed(1, 2, 5, 10)),
    "W01": (_w01, placed(1, 2, 3, 4, 5, 6, 7, 13, 15, 16)),
    "W76": (_w76, placed(1, 2, 3, 4, 5)),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 940 (ST..SE) to a ``warehouse_shipping_order`` dict.

    Raises:
        RemoteSyntaxError: no W05 segment.
    """
    doc: Doc = {"depositor_order_number": ""}
    st = WarehouseState(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("940", "W05", "the depositor order number")
    finish(st)
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``warehouse_shipping_order`` dict as the body of a 940 (without ST/SE).

    Raises:
        ValueError: a line has more product ids than W01 can carry.
    """
    out: list[Segment] = [
        b.make(
            "W05",
            doc.get("status"),
            doc.get("depositor_order_number"),
            doc.get("purchase_order_number"),
            doc.get("link_sequence"),
            doc.get("master_reference"),
        )
    ]
    out.extend(write_header(doc, carrier="W66"))
    for c in doc.get("carriers") or []:
        out.append(
            b.make(
                "W66",
                c.get("payment_method"),
                c.get("transport_method"),
                "",
                "",
                c.get("name"),
                "",
                "",
                "",
                "",
                c.get("scac"),
            )
        )
    for line in doc.get("lines") or []:
        out.append(b.make("LX", line.get("line_number")))
        upc, pairs = b.wproduct_elements(ctx, line.get("product") or {}, 3)
        pairs += [""] * (6 - len(pairs))
        out.append(
            b.make(
                "W01",
                line.get("quantity"),
                ctx.unit_out(line.get("unit")),
                upc,
                *pairs[:4],
                "",
                "",
                "",
                "",
                "",
                line.get("lot_number"),
                "",
                *pairs[4:6],
            )
        )
        out.extend(write_line_tail(line))
    out.extend(b.write_wtotals("W76", doc.get("totals") or {}))
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
