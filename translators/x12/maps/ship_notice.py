"""X12 856 Ship Notice/Manifest <-> ``ship_notice``.

The 856 is one hierarchy of HL loops (X12 HL: HL01 id, HL02 parent id,
HL03 level code).  Levels read: S shipment, O order, T tare (pallet), P pack
(carton; Q subpack is read as a pack), I item.  Any pick-pack (S/O/P/I),
standard-pack (S/O/I/P), tare (S/O/T/P/I) or order-less (S/I, S/T/I/P)
layout lands in the same tree: shipment -> orders -> tares -> packs -> items.
When HL02 is empty (some partners omit it) the parent is the latest level
above.  Children of the shipment level outside any order go to an order
without ``order_number``.

Placement per level: S - TD1, TD5/TD3, REF (BM bill of lading, CN tracking
number), PER, DTM, FOB, N1 loops; O - PRF, TD1, REF, DTM, N1 loops;
T/P - MAN (GM = SSCC-18, others as marks), PO4, MEA, TD1, REF, DTM (P: SN1
quantity when the pack sits under an item); I - LIN, SN1, PID, PO4, MEA,
REF (LT lot number), DTM (036 expiry date).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from . import values
from .context import MapContext, missing, placed, run
from .walker import Entry, State, h_dtm, h_ref, pick

Doc = dict[str, Any]

DOCUMENT_TYPE = "ship_notice"

_RANK = {"S": 0, "O": 1, "T": 2, "P": 3, "Q": 3, "I": 4}
_LEVEL_KEYS: dict[str, frozenset[str]] = {
    "O": frozenset({"parties", "measures"}),
    "T": frozenset({"measures"}),
    "P": frozenset({"measures"}),
    "I": frozenset({"measures"}),
}
#: REF qualifiers with a field of their own at shipment level (X12 128).
_BILL_OF_LADING = "BM"
_TRACKING = "CN"
_LOT = "LT"
_EXPIRY = "036"
_SSCC_QUALIFIER = "GM"


def sscc(value: str) -> str:
    """SSCC-18 without the GS1 application identifier '00' some partners prefix."""
    if len(value) == 20 and value.startswith("00") and value.isascii() and value.isdigit():
        return value[2:]
    return value


class _Asn(State):
    __slots__ = ("implicit", "level", "nodes", "seen", "stack")

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        super().__init__(ctx, doc)
        self.level = ""
        self.nodes: dict[str, tuple[str, Doc]] = {}
        self.stack: list[tuple[str, Doc]] = []
        self.implicit: Doc | None = None
        self.seen = False


def _bsn(st: _Asn, seg: Segment, pos: int) -> bool:
    doc, ctx = st.doc, st.ctx
    st.seen = True
    b.put(doc, "purpose", b.el(seg, 1))
    doc["shipment_id"] = b.el(seg, 2)
    b.put(doc, "shipment_date", ctx.date(seg, 3, pos))
    b.put(doc, "shipment_time", ctx.time(seg, 4, pos))
    b.put(doc, "structure_code", b.el(seg, 5))
    return True


def _order_for_shipment(st: _Asn) -> Doc:
    if st.implicit is None:
        st.implicit = {}
        st.doc.setdefault("orders", []).append(st.implicit)
    return st.implicit


def _hl(st: _Asn, seg: Segment, pos: int) -> bool:
    hid, parent_id, level = b.el(seg, 1), b.el(seg, 2), b.el(seg, 3)
    rank = _RANK.get(level)
    if rank is None:
        st.ctx.warnings.append(f"HL at segment {pos}: level code {level!r} is read as a pack")
        level, rank = "P", 3
    if level == "Q":
        level = "P"
    parent: tuple[str, Doc] | None = st.nodes.get(parent_id) if parent_id else None
    if parent is None:
        if parent_id:
            st.ctx.warnings.append(f"HL at segment {pos}: parent {parent_id!r} is not a previous HL")
        parent = next((n for n in reversed(st.stack) if _RANK[n[0]] < rank), ("S", st.doc))
    plevel, pnode = parent
    node: Doc
    if level == "S":
        node = st.doc
    elif level == "O":
        node = {}
        st.doc.setdefault("orders", []).append(node)
    else:
        container = _order_for_shipment(st) if plevel == "S" else pnode
        node = {}
        if level == "T":
            if plevel not in ("S", "O"):
                return False
            container.setdefault("tares", []).append(node)
        elif level == "P":
            container.setdefault("packs", []).append(node)
        else:
            if plevel == "I":
                return False
            container.setdefault("items", []).append(node)
    st.nodes[hid] = (level, node)
    st.stack.append((level, node))
    st.level = level
    st.line = None if level == "S" else node
    st.line_keys = _LEVEL_KEYS.get(level, frozenset())
    st.party = None
    return True


def _prf(st: _Asn, seg: Segment, pos: int) -> bool:
    if st.level != "O" or st.line is None or "order_number" in st.line:
        return False
    b.put(st.line, "order_number", b.el(seg, 1))
    b.put(st.line, "release_number", b.el(seg, 2))
    b.put(st.line, "order_date", st.ctx.date(seg, 4, pos))
    return True


def _td1(st: _Asn, seg: Segment, pos: int) -> bool:
    target = st.doc if st.line is None else st.line
    if st.level == "I" or "packaging_code" in target or "lading_quantity" in target:
        return False
    b.td1(st.ctx, seg, pos, target)
    return True


def _man(st: _Asn, seg: Segment, pos: int) -> bool:
    if st.level not in ("T", "P") or st.line is None:
        return False
    qual, value = b.el(seg, 1), b.el(seg, 2)
    if qual == _SSCC_QUALIFIER and "sscc" not in st.line:
        st.line["sscc"] = sscc(value)
    else:
        st.line.setdefault("marks", []).append({"qualifier": qual, "value": value})
    return True


def _po4(st: _Asn, seg: Segment, pos: int) -> bool:
    if st.level not in ("P", "I") or st.line is None or "packaging" in st.line:
        return False
    st.line["packaging"] = b.po4(st.ctx, seg, pos)
    return True


def _mea(st: _Asn, seg: Segment, pos: int) -> bool:
    target = st.doc if st.line is None else st.line
    m = b.mea(st.ctx, seg, pos)
    if m is None:
        return False
    target.setdefault("measures", []).append(m)
    return True


def _lin(st: _Asn, seg: Segment, pos: int) -> bool:
    if st.level != "I" or st.line is None or "product" in st.line:
        return False
    b.put(st.line, "line_number", b.el(seg, 1))
    st.line["product"] = b.products(st.ctx, seg, 2)
    return True


def _sn1(st: _Asn, seg: Segment, pos: int) -> bool:
    line, ctx = st.line, st.ctx
    if line is None or st.level not in ("I", "P") or "quantity" in line:
        return False
    if st.level == "P":
        b.put(line, "quantity", ctx.dec(seg, 2, pos))
        b.put(line, "unit", ctx.unit(b.el(seg, 3)))
        ctx.leftover(pos, seg, [1, *range(4, len(seg))])
        return True
    assigned = b.el(seg, 1)
    if assigned and "line_number" not in line:
        line["line_number"] = assigned
    elif assigned and line.get("line_number") != assigned:
        ctx.leftover(pos, seg, [1])
    b.put(line, "quantity", ctx.dec(seg, 2, pos))
    b.put(line, "unit", ctx.unit(b.el(seg, 3)))
    b.put(line, "quantity_ordered", ctx.dec(seg, 5, pos))
    b.put(line, "unit_ordered", ctx.unit(b.el(seg, 6)))
    b.put(line, "status", b.el(seg, 8))
    return True


def _pid(st: _Asn, seg: Segment, pos: int) -> bool:
    if st.level != "I" or st.line is None or "description" in st.line or not b.el(seg, 5):
        return False
    st.line["description"] = seg[5]
    return True


def _ref(st: _Asn, seg: Segment, pos: int) -> bool:
    qual = b.el(seg, 1)
    if st.party is None or st.party_pos != pos - 1:
        if st.level == "I" and st.line is not None and qual == _LOT and "lot_number" not in st.line:
            st.line["lot_number"] = b.el(seg, 2)
            st.ctx.leftover(pos, seg, [3])
            return True
        if st.line is None and qual == _BILL_OF_LADING and "bill_of_lading" not in st.doc:
            st.doc["bill_of_lading"] = b.el(seg, 2)
            st.ctx.leftover(pos, seg, [3])
            return True
        if st.line is None and qual == _TRACKING and "tracking_number" not in st.doc:
            st.doc["tracking_number"] = b.el(seg, 2)
            st.ctx.leftover(pos, seg, [3])
            return True
    return h_ref(st, seg, pos)


def _dtm(st: _Asn, seg: Segment, pos: int) -> bool:
    if st.level == "I" and st.line is not None and b.el(seg, 1) == _EXPIRY and "expiry_date" not in st.line:
        expiry = st.ctx.date(seg, 2, pos)
        if expiry is not None and len(seg) <= 3:
            st.line["expiry_date"] = expiry
            return True
    return h_dtm(st, seg, pos)


def _ctt(st: _Asn, seg: Segment, pos: int) -> bool:
    st.line = None
    st.level = ""
    b.ctt(st.ctx, seg, pos, st.totals)
    return True


_COMMON = pick("PER", "N1", "N2", "N3", "N4", "NTE", "TD5", "TD3", "FOB")
TABLE: dict[str, Entry] = {
    **_COMMON,
    "BSN": (_bsn, placed(1, 2, 3, 4, 5)),
    "HL": (_hl, placed(1, 2, 3, 4)),
    "PRF": (_prf, placed(1, 2, 4)),
    "TD1": (_td1, b.TD1_PLACED),
    "MAN": (_man, placed(1, 2)),
    "PO4": (_po4, b.PO4_PLACED),
    "MEA": (_mea, b.MEA_PLACED),
    "LIN": (_lin, placed(*range(1, 32))),
    "SN1": (_sn1, placed(1, 2, 3, 5, 6, 8)),
    "PID": (_pid, b.PID_PLACED),
    "REF": (_ref, b.REF_PLACED),
    "DTM": (_dtm, b.DTM_PLACED),
    "CTT": (_ctt, b.CTT_PLACED),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 856 (ST..SE) to a ``ship_notice`` dict.

    Raises:
        RemoteSyntaxError: no BSN segment.
    """
    doc: Doc = {"shipment_id": ""}
    st = _Asn(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("856", "BSN", "the shipment identification")
    if st.totals:
        doc["totals"] = st.totals
    return doc


# -- writing ---------------------------------------------------------------------


class _Numbering:
    __slots__ = ("count", "out")

    def __init__(self) -> None:
        self.count = 0
        self.out: list[Segment] = []

    def hl(self, parent: int, level: str) -> int:
        self.count += 1
        self.out.append(b.make("HL", str(self.count), str(parent) if parent else "", level))
        return self.count


def _common(node: Mapping[str, Any]) -> Iterator[Segment]:
    yield from b.write_refs([r for r in node.get("references") or [] if not r.get("text")])
    yield from (b.write_dtm(d) for d in node.get("dates") or [])
    yield from b.write_notes(node.get("notes") or [])
    yield from b.write_refs([r for r in node.get("references") or [] if r.get("text")])


def _measures(node: Mapping[str, Any], *, lading: bool) -> Iterator[Segment]:
    """TD1 (lading levels) for packaging code, lading quantity, first weight/volume; MEA for the rest."""
    ms = list(node.get("measures") or [])
    if lading:
        weight = next((m for m in ms if m["kind"] == "weight"), None)
        volume = next((m for m in ms if m["kind"] == "volume"), None)
        td1_measures = [m for m in (weight, volume) if m is not None]
        if td1_measures or node.get("packaging_code") or node.get("lading_quantity"):
            yield from b.write_td1({**node, "measures": td1_measures})
        ms = [m for m in ms if m is not weight and m is not volume]
    yield from (b.write_mea(m) for m in ms)


def _marks(node: Mapping[str, Any]) -> Iterator[Segment]:
    if node.get("sscc"):
        yield b.make("MAN", _SSCC_QUALIFIER, node["sscc"])
    yield from (b.make("MAN", m.get("qualifier"), m.get("value")) for m in node.get("marks") or [])


def _write_item(ctx: MapContext, num: _Numbering, item: Mapping[str, Any], parent: int) -> None:
    me = num.hl(parent, "I")
    out = num.out
    out.append(b.make("LIN", item.get("line_number"), *b.product_pairs(ctx, item.get("product") or {})))
    if any(item.get(k) for k in ("quantity", "unit", "quantity_ordered", "unit_ordered", "status")):
        out.append(
            b.make(
                "SN1",
                "",
                item.get("quantity"),
                ctx.unit_out(item.get("unit")),
                "",
                item.get("quantity_ordered"),
                ctx.unit_out(item.get("unit_ordered")),
                "",
                item.get("status"),
            )
        )
    if item.get("packaging"):
        out.append(b.write_po4(ctx, item["packaging"]))
    if item.get("description"):
        out.append(b.make("PID", "F", "", "", "", item["description"]))
    out.extend(_measures(item, lading=False))
    if item.get("lot_number"):
        out.append(b.make("REF", _LOT, item["lot_number"]))
    out.extend(_common(item))
    if item.get("expiry_date"):
        out.append(b.make("DTM", _EXPIRY, values.x12_date(item["expiry_date"])))
    for pack in item.get("packs") or []:
        _write_pack(ctx, num, pack, me)


def _write_pack(ctx: MapContext, num: _Numbering, pack: Mapping[str, Any], parent: int) -> None:
    me = num.hl(parent, "P")
    out = num.out
    if pack.get("quantity") or pack.get("unit"):
        out.append(b.make("SN1", "", pack.get("quantity"), ctx.unit_out(pack.get("unit"))))
    if pack.get("packaging"):
        out.append(b.write_po4(ctx, pack["packaging"]))
    out.extend(_measures(pack, lading=True))
    out.extend(_common(pack))
    out.extend(_marks(pack))
    for inner in pack.get("packs") or []:
        _write_pack(ctx, num, inner, me)
    for item in pack.get("items") or []:
        _write_item(ctx, num, item, me)


def _write_children(ctx: MapContext, num: _Numbering, node: Mapping[str, Any], me: int) -> None:
    for tare in node.get("tares") or []:
        tid = num.hl(me, "T")
        num.out.extend(_measures(tare, lading=True))
        num.out.extend(_common(tare))
        num.out.extend(_marks(tare))
        for pack in tare.get("packs") or []:
            _write_pack(ctx, num, pack, tid)
        for item in tare.get("items") or []:
            _write_item(ctx, num, item, tid)
    for pack in node.get("packs") or []:
        _write_pack(ctx, num, pack, me)
    for item in node.get("items") or []:
        _write_item(ctx, num, item, me)


_ORDER_DATA = (
    "order_number",
    "release_number",
    "order_date",
    "parties",
    "references",
    "dates",
    "notes",
    "measures",
    "packaging_code",
    "lading_quantity",
    "extensions",
)


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``ship_notice`` dict as the body of an 856 (without ST/SE).

    HL ids are numbered depth-first from 1, each child pointing to its parent
    (X12 HL01/HL02), in the order shipment, order, tare, pack, item.
    """
    num = _Numbering()
    num.out.append(
        b.make(
            "BSN",
            doc.get("purpose"),
            doc.get("shipment_id"),
            values.x12_date(doc.get("shipment_date")),
            values.x12_time(doc.get("shipment_time")),
            doc.get("structure_code"),
        )
    )
    sid = num.hl(0, "S")
    out = num.out
    out.extend(_measures(doc, lading=True))
    out.extend(b.write_carriers(doc.get("carriers") or []))
    if doc.get("bill_of_lading"):
        out.append(b.make("REF", _BILL_OF_LADING, doc["bill_of_lading"]))
    if doc.get("tracking_number"):
        out.append(b.make("REF", _TRACKING, doc["tracking_number"]))
    out.extend(_common(doc))
    for c in doc.get("contacts") or []:
        out.extend(b.write_per(c))
    out.extend(b.make("FOB", f) for f in doc.get("fob") or [])
    for p in doc.get("parties") or []:
        out.extend(b.write_party(p))
    for order in doc.get("orders") or []:
        if not any(order.get(k) for k in _ORDER_DATA):
            _write_children(ctx, num, order, sid)
            continue
        oid = num.hl(sid, "O")
        if order.get("order_number") or order.get("release_number") or order.get("order_date"):
            out.append(
                b.make(
                    "PRF",
                    order.get("order_number"),
                    order.get("release_number"),
                    "",
                    values.x12_date(order.get("order_date")),
                )
            )
        out.extend(_measures(order, lading=True))
        out.extend(_common(order))
        for p in order.get("parties") or []:
            out.extend(b.write_party(p))
        _write_children(ctx, num, order, oid)
    out.extend(b.write_ctt(doc.get("totals") or {}))
    return out


__all__ = ["DOCUMENT_TYPE", "read", "sscc", "write"]
