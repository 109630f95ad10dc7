"""DESADV (despatch advice) <-> ``ship_notice``.

Groups (UNTDID D96A DESADV; D01B and EANCOM EAN005/EAN007 agree): header
BGM, DTM; SG1 RFF-DTM; SG2 NAD-(RFF, CTA-COM); SG6 TDT; SG10 CPS-(SG11
PAC-MEA-(SG13 PCI-GIN)), SG15 LIN-(PIA, IMD, MEA, QTY, DTM, SG16 RFF, SG20
PCI-GIN)); CNT.

The packing hierarchy is the EANCOM one: each CPS is a level with its own id
(7164) and its parent's id; PAC says what the level is and GIN+BJ carries
its SSCC (PCI+33E).  It becomes the same shipment -> order -> tares ->
packs -> items tree as an X12 856:

* the root CPS (no parent) is the consignment: its PAC gives the lading
  quantity and package type, its MEA the shipment measures (EANCOM
  practice "CPS+1" for the whole despatch);
* a child CPS whose PAC says outer packaging level (C531 7075 '3') or,
  with no level, a pallet type (UNECE Rec. 21 / 7065 codes in
  :data:`PALLET_TYPES`) is a tare, any other PAC a pack; packs nest under
  the level named as their parent; a CPS without PAC only groups (its LIN
  groups belong to the nearest level above that has one);
* LIN groups belong to the level they follow; a LIN's own PCI+33E/GIN+BJ
  lists the SSCCs of the packs holding it (the 856 "standard pack" layout).

Orders: one order is the header RFF+ON (DTM 171 its date).  Several orders
(an 856 with several O levels) are written without header RFF+ON, each LIN
naming its order in SG16 RFF+ON; on the way in, a DESADV without header
order number whose LINs each name one order, and whose top-level pallets
and packs each hold one order's items, is regrouped into those orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ...errors import LocalTranslationError, RemoteSyntaxError
from ...models import MappedDocument
from ...models.ship_notice import SCHEMA_VERSION
from ..syntax import Message, Segment
from . import handlers as h
from .builder import Builder, Handler, Table, mapped_document, steps, walk
from .segment import comp, el
from .writer import Writer

MESSAGE = "DESADV"
DOCUMENT_TYPE = "ship_notice"

#: 7065 package type codes read as a tare (pallet) rather than a pack.
PALLET_TYPES = frozenset(("200", "201", "202", "203", "PX", "PB", "09", "AH", "PE"))


def _order(b: Builder) -> dict[str, Any]:
    order: dict[str, Any] | None = b.state.get("order")
    if order is None:
        order = {}
        b.doc.setdefault("orders", []).append(order)
        b.state["order"] = order
    return order


def _bgm(b: Builder, seg: Segment) -> bool:
    # 1001 '351' (despatch advice) is implied by the message; others are kept.
    if comp(seg, 2, 0):
        b.doc["shipment_id"] = comp(seg, 2, 0)
    if el(seg, 3):
        b.doc["purpose"] = el(seg, 3)
    h.place(b, seg, {1: 1 if el(seg, 1) in ("", "351") else 0, 2: 1, 3: 1})
    b.target_kind = "BGM"
    return True


_DTM = h.dtm_header({"137": ("shipment_date", "shipment_time")}, {})
_NAMED_REFS = {"BM": "bill_of_lading", "CN": "tracking_number"}


def _rff(b: Builder, seg: Segment) -> bool:
    if b.target_kind == "NAD" and b.target is not None:
        b.target.setdefault("references", []).append(h.reference(b, seg))
        return True
    qual = comp(seg, 1, 0)
    if qual == "ON":
        order = _order(b)
        if "order_number" not in order:
            ref = h.reference(b, seg)
            order["order_number"] = ref["value"]
            b.target = order
            b.target_kind = "RFF:ON"
            return True
    field = _NAMED_REFS.get(qual)
    if field is not None and field not in b.doc:
        b.doc[field] = h.reference(b, seg)["value"]
        b.target_kind = "RFF"
        return True
    b.doc.setdefault("references", []).append(h.reference(b, seg))
    b.target_kind = "RFF"
    return True


def _dtm(b: Builder, seg: Segment) -> bool:
    if b.target_kind == "RFF:ON" and comp(seg, 1, 0) == "171" and b.target is not None:
        d = b.date(seg)
        if d is None:
            return True
        if d["date"] is None or d["time"] is not None or "order_date" in b.target:
            return False
        b.target["order_date"] = d["date"]
        return True
    return _DTM(b, seg)


def _cps(b: Builder, seg: Segment) -> bool:
    level_id = el(seg, 1)
    parent = el(seg, 2)
    root = not parent or parent == level_id
    level: dict[str, Any] = {"id": level_id, "parent": None if root else parent, "node": None}
    b.state["level"] = level
    if level_id:
        b.state.setdefault("levels", {})[level_id] = level
    b.line = None
    b.target = None
    b.target_kind = "CPS"
    b.scope = "package"
    b.state["measure_owner"] = None
    b.state["gin_owner"] = None
    _order(b)
    # 7075 packaging level code has no canonical field: kept when present.
    h.place(b, seg, {1: 1, 2: 1})
    return True


def _pac(b: Builder, seg: Segment) -> bool:
    level = b.state.get("level")
    if level is None:
        return False
    count = el(seg, 1)
    plevel = comp(seg, 2, 0)
    ptype = comp(seg, 3, 0)
    if level["parent"] is None and level["node"] is None and not b.state.get("root_pac"):
        # The root level is the consignment as a whole: total packages and type.
        b.state["root_pac"] = True
        if count:
            b.doc["lading_quantity"] = b.decimal(count)
        if ptype:
            b.doc["packaging_code"] = ptype
        b.state["measure_owner"] = b.doc
        b.state["gin_owner"] = None
        h.place(b, seg, {1: 1, 3: 1})
        b.target_kind = "PAC"
        return True
    nodes: dict[str, tuple[str, dict[str, Any]]] = b.state.setdefault("nodes", {})
    parent_kind, parent_node = _parent_node(b, level, nodes)
    node: dict[str, Any] = {}
    if count:
        node["lading_quantity"] = b.decimal(count)
    if ptype:
        node["packaging_code"] = ptype
    # C531 7075 '3' (outer packaging level) or a pallet type code makes a tare.
    if plevel == "3" or (not plevel and ptype in PALLET_TYPES):
        kind = "tare"
        _order(b).setdefault("tares", []).append(node)
        if parent_kind == "tare":
            b.warnings.append(f"CPS {level['id']}: a pallet inside a pallet is listed as a separate tare")
    else:
        kind = "pack"
        parent_node.setdefault("packs", []).append(node)
    level["node"] = (kind, node)
    if level["id"]:
        nodes[level["id"]] = (kind, node)
    b.state["measure_owner"] = node
    b.state["gin_owner"] = node
    known_level = plevel in ("", "3") or (plevel == "1" and ptype in PALLET_TYPES)
    h.place(b, seg, {1: 1, 2: 1 if known_level else 0, 3: 1})
    b.target_kind = "PAC"
    return True


def _parent_node(
    b: Builder, level: dict[str, Any], nodes: dict[str, tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any]]:
    parent = level.get("parent")
    levels: dict[str, dict[str, Any]] = b.state.get("levels", {})
    while parent is not None:
        if parent in nodes:
            return nodes[parent]
        up = levels.get(parent)
        parent = up.get("parent") if up is not None else None
    return "order", _order(b)


def _pci(b: Builder, seg: Segment) -> bool:
    # PCI+33E announces the SSCC that the next GIN+BJ carries; other marking
    # instructions have no canonical field and are kept.
    if el(seg, 1) == "33E" and len(seg) == 2:
        b.target_kind = "PCI"
        return True
    return False


def _gin_package(b: Builder, seg: Segment) -> bool:
    node = b.state.get("gin_owner")
    if node is None:
        return False
    qual = el(seg, 1)
    for i in range(2, min(len(seg), 7)):
        value = comp(seg, i, 0)
        if not value:
            continue
        if qual == "BJ" and "sscc" not in node:
            node["sscc"] = value
        else:
            node.setdefault("marks", []).append({"qualifier": qual, "value": value})
    h.place(b, seg, {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1})
    return True


def _lin(b: Builder, seg: Segment) -> bool:
    level = b.state.get("level")
    if level is None:
        node = _order(b)
    elif level["node"] is not None:
        node = level["node"][1]
    else:
        node = _parent_node(b, level, b.state.setdefault("nodes", {}))[1]
    item: dict[str, Any] = {"product": {}}
    if el(seg, 1):
        item["line_number"] = el(seg, 1)
    if el(seg, 2):
        item["status"] = el(seg, 2)
    b.slot_codes = []
    h.add_product_id(b, item["product"], comp(seg, 3, 1), comp(seg, 3, 0))
    node.setdefault("items", []).append(item)
    b.line = item
    b.target = item
    b.target_kind = "LIN"
    b.scope = "line"
    b.state["measure_owner"] = item
    b.state["gin_owner"] = None
    h.place(b, seg, {1: 1, 2: 1, 3: 2})
    return True


def _pia(b: Builder, seg: Segment) -> bool:
    item = b.line
    if item is None:
        return False
    rest: list[Any] = [seg[0], seg[1] if len(seg) > 1 else ""]
    for i in range(2, min(len(seg), 7)):
        code = comp(seg, i, 1)
        value = comp(seg, i, 0)
        # 7143 NB batch and SN serial numbers are item facts in the model.
        if code == "NB" and "lot_number" not in item and value:
            item["lot_number"] = value
        elif code == "SN" and value:
            item.setdefault("serial_numbers", []).append(value)
        else:
            rest.append(seg[i])
    if len(rest) > 2:
        h.pia(b, tuple(rest))
    elif el(seg, 1) not in ("1", "5"):
        b.keep(seg)
    return True


def _gin_line(b: Builder, seg: Segment) -> bool:
    item = b.line
    if item is None:
        return False
    qual = el(seg, 1)
    if qual not in ("BJ", "BX", "BN"):
        return False
    for i in range(2, min(len(seg), 7)):
        value = comp(seg, i, 0)
        if not value:
            continue
        if qual == "BJ":
            item.setdefault("packs", []).append({"sscc": value})
        elif qual == "BX" and "lot_number" not in item:
            item["lot_number"] = value
        elif qual == "BN":
            item.setdefault("serial_numbers", []).append(value)
        else:
            b.keep(seg)
            return True
    h.place(b, seg, {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1})
    return True


def _dtm_line(b: Builder, seg: Segment) -> bool:
    item = b.line
    if item is None:
        return False
    d = b.date(seg)
    if d is None:
        return True
    # 2005 '36' expiry date is a ShipItem field; others stay qualified.
    if d["qualifier"] == "36" and d["time"] is None and d["date"] is not None and "expiry_date" not in item:
        item["expiry_date"] = d["date"]
        return True
    entry = {k: v for k, v in d.items() if v is not None}
    item.setdefault("dates", []).append(entry)
    return True


def _rff_line(b: Builder, seg: Segment) -> bool:
    if not h.rff_line(b, seg):
        return False
    if comp(seg, 1, 0) == "ON":
        # remember the order numbers in order of appearance (see _split_orders)
        seen: list[str] = b.state.setdefault("line_orders", [])
        number = comp(seg, 1, 1)
        if number not in seen:
            seen.append(number)
    return True


def _line_order(item: Mapping[str, Any]) -> str | None:
    ons = [r["value"] for r in item.get("references", ()) if r["qualifier"] == "ON"]
    return ons[0] if len(ons) == 1 else None


def _orders_in(node: Mapping[str, Any], out: set[str | None]) -> set[str | None]:
    for item in node.get("items", ()):
        out.add(_line_order(item))
    for inner in node.get("packs", ()):
        _orders_in(inner, out)
    return out


def _drop_line_order(node: dict[str, Any]) -> None:
    for item in node.get("items", ()):
        refs = [r for r in item.get("references", ()) if r["qualifier"] != "ON"]
        if refs:
            item["references"] = refs
        else:
            item.pop("references", None)
    for inner in node.get("packs", ()):
        _drop_line_order(inner)


def _split_orders(b: Builder) -> None:
    """Regroup a DESADV without header RFF+ON into one order per line-level RFF+ON.

    X12 856 puts orders above the packing levels; DESADV names the order on
    each LIN instead (SG16 RFF+ON).  When every item names exactly one order
    and every top-level pallet or pack holds items of one order only, the
    ship notice gets one order per number, in order of appearance, and the
    line references that said so are consumed.  Otherwise nothing changes.
    """
    orders = b.doc.get("orders")
    seen: list[str] | None = b.state.get("line_orders")
    if not seen or not orders or len(orders) != 1 or "order_number" in orders[0]:
        return
    order = orders[0]
    if set(order) - {"items", "tares", "packs"}:
        return
    groups: dict[str, dict[str, Any]] = {number: {"order_number": number} for number in seen}
    placed: list[tuple[str, str, dict[str, Any]]] = []
    for key in ("items", "tares", "packs"):
        for node in order.get(key, ()):
            owners = {_line_order(node)} if key == "items" else _orders_in(node, set())
            if len(owners) != 1 or None in owners:
                return
            placed.append((owners.pop() or "", key, node))
    for number, key, node in placed:
        groups[number].setdefault(key, []).append(node)
        _drop_line_order({"items": [node]} if key == "items" else node)
    b.doc["orders"] = [g for g in groups.values() if len(g) > 1]


_QTY = h.qty({"12": ("quantity", "unit"), "21": ("quantity_ordered", "unit_ordered")})
_MEA: Handler = h.mea()


def _cnt(b: Builder, seg: Segment) -> bool:
    b.line = None
    return h.cnt(b, seg)


TABLE: Table = {
    "header": {
        "BGM": _bgm,
        "DTM": _dtm,
        "RFF": _rff,
        "NAD": h.nad_header,
        "CTA": h.cta,
        "COM": h.com,
        "TDT": h.tdt,
        "FTX": h.ftx,
        "CPS": _cps,
        "LIN": _lin,
        "CNT": _cnt,
    },
    "package": {
        "CPS": _cps,
        "PAC": _pac,
        "MEA": _MEA,
        "PCI": _pci,
        "GIN": _gin_package,
        "LIN": _lin,
        "CNT": _cnt,
    },
    "line": {
        "LIN": _lin,
        "PIA": _pia,
        "IMD": h.imd,
        "QTY": _QTY,
        "MEA": _MEA,
        "DTM": _dtm_line,
        "RFF": _rff_line,
        "FTX": h.ftx,
        "PCI": _pci,
        "GIN": _gin_line,
        "CPS": _cps,
        "CNT": _cnt,
    },
}


#: :data:`TABLE` as the walk reads it
_STEPS: Final = steps(TABLE)


def read(
    msg: Message, options: Mapping[str, object], errors: list[RemoteSyntaxError] | None = None
) -> MappedDocument:
    """Map one DESADV message to a ``ship_notice`` document.

    Args:
        msg: the message event (UNH..UNT).
        options: the partner's ``map_options["DESADV"]``.
        errors: when given, the message is validated in the same pass and
            what :func:`~.validation.validate` finds is appended.

    Returns:
        The document, the segments it did not place and the warnings.
    """
    b = Builder({}, mark=msg.delimiters.decimal, options=options)
    walk(b, msg, _STEPS, errors)
    _split_orders(b)
    doc = b.doc
    if "shipment_id" not in doc:
        doc["shipment_id"] = ""
        b.warnings.append("DESADV has no despatch advice number (BGM 1004); shipment_id left empty")
    return mapped_document(DOCUMENT_TYPE, SCHEMA_VERSION, doc, b.extensions(), tuple(b.warnings))


# -- outbound -------------------------------------------------------------------


class _Levels:
    """Hands out CPS hierarchical ids (7164) in document order."""

    def __init__(self) -> None:
        self.next = 1

    def take(self) -> str:
        value = str(self.next)
        self.next += 1
        return value


def _refuse(kind: str, node: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    present = [f for f in fields if node.get(f)]
    if present:
        raise LocalTranslationError(f"ship_notice {kind} fields {present} have no DESADV place in this map")


def _write_item(w: Writer, item: Mapping[str, Any], order_number: str | None) -> None:
    _refuse("item", item, ("packaging",))
    w.lin(item, item.get("status"))
    extra: list[Any] = []
    if item.get("lot_number"):
        extra.append((str(item["lot_number"]), "NB"))
    extra += [(str(serial), "SN") for serial in item.get("serial_numbers") or ()]
    for start in range(0, len(extra), 5):
        w.add("PIA", "1", *extra[start : start + 5])
    w.measures(item)
    w.quantity("12", item.get("quantity"), item.get("unit"))
    w.quantity("21", item.get("quantity_ordered"), item.get("unit_ordered"))
    if item.get("expiry_date"):
        w.date({"qualifier": "36", "date": item["expiry_date"]})
    w.dates(item)
    w.notes(item)
    w.references(item)
    if order_number is not None:
        if any(r.get("qualifier") == "ON" for r in item.get("references") or ()):
            raise LocalTranslationError(
                "an item of a multi-order ship notice already has an RFF+ON reference"
            )
        w.named_reference("ON", order_number)
    packs = item.get("packs") or ()
    for p in packs:
        if {k for k, v in p.items() if v} - {"sscc"}:
            raise LocalTranslationError(
                "packs under an item can only carry an SSCC in DESADV (LIN group PCI+33E, GIN+BJ)"
            )
    ssccs = [str(p["sscc"]) for p in packs if p.get("sscc")]
    if ssccs:
        w.add("PCI", "33E")
        for start in range(0, len(ssccs), 5):
            w.add("GIN", "BJ", *ssccs[start : start + 5])


def _write_level(
    w: Writer, ids: _Levels, parent: str, node: Mapping[str, Any], kind: str, *, order_number: str | None
) -> None:
    _refuse(kind, node, ("packaging", "references", "dates", "notes", "quantity", "unit"))
    level = ids.take()
    w.add("CPS", level, parent)
    code = str(node.get("packaging_code") or "")
    # A tare is the outer packaging level (C531 7075 '3'); a pack with a pallet
    # type code says '1' so it does not read back as a tare.
    plevel = "3" if kind == "tare" else ("1" if code in PALLET_TYPES else "")
    w.add("PAC", str(node.get("lading_quantity") or ""), plevel, code)
    w.measures(node)
    if node.get("sscc"):
        w.add("PCI", "33E")
        w.add("GIN", "BJ", str(node["sscc"]))
    for mark in node.get("marks") or ():
        if mark.get("description") or mark.get("text"):
            raise LocalTranslationError("package marks can only carry a qualifier and a value (GIN)")
        w.add("GIN", str(mark.get("qualifier") or ""), str(mark.get("value") or ""))
    for item in node.get("items") or ():
        _write_item(w, item, order_number)
    for inner in node.get("packs") or ():
        _write_level(w, ids, level, inner, "pack", order_number=order_number)


def write(w: Writer, doc: Mapping[str, Any], options: Mapping[str, object] | None = None) -> None:
    """Render a ``ship_notice`` document as the DESADV body (BGM..CNT).

    Args:
        w: the writer.
        doc: the document (validated by the caller).

    Raises:
        LocalTranslationError: data DESADV cannot carry (order-level parties,
            dates or measures, a structure code...).
    """
    _refuse("shipment", doc, ("structure_code", "fob", "contacts"))
    orders: list[Mapping[str, Any]] = doc.get("orders") or []
    # One order: header RFF+ON (+ DTM 171).  Several: each LIN names its
    # order (SG16 RFF+ON), which the inbound map regroups (_split_orders).
    multi = len(orders) > 1
    unsupported = (
        "release_number",
        "parties",
        "measures",
        "references",
        "dates",
        "notes",
        "packaging_code",
        "lading_quantity",
    )
    for each in orders:
        _refuse("order", each, (*unsupported, "order_date") if multi else unsupported)
        if multi and not each.get("order_number"):
            raise LocalTranslationError("every order of a multi-order ship notice needs an order number")
    if multi and len({o["order_number"] for o in orders}) != len(orders):
        raise LocalTranslationError("two orders of the ship notice have the same order number")
    order: Mapping[str, Any] = orders[0] if len(orders) == 1 else {}
    w.bgm("351", doc.get("shipment_id"), doc.get("purpose"))
    w.named_date("137", doc.get("shipment_date"), doc, doc.get("shipment_time"))
    w.dates(doc)
    w.notes(doc)
    if order.get("order_number"):
        w.named_reference("ON", order["order_number"])
        if order.get("order_date"):
            w.date({"qualifier": "171", "date": order["order_date"]})
    w.named_reference("BM", doc.get("bill_of_lading"))
    w.named_reference("CN", doc.get("tracking_number"))
    w.references(doc)
    w.parties(doc)
    w.carriers(doc)
    ids = _Levels()
    root = ids.take()
    w.add("CPS", root)
    if doc.get("lading_quantity") or doc.get("packaging_code") or doc.get("measures"):
        w.add("PAC", str(doc.get("lading_quantity") or ""), "", str(doc.get("packaging_code") or ""))
        w.measures(doc)
    for index, each in enumerate(orders):
        order_number = str(each["order_number"]) if multi else None
        if index and each.get("items"):
            # back at the consignment level: a level with no PAC groups the
            # items that are packed in nothing (EANCOM CPS without PAC)
            w.add("CPS", ids.take(), root)
        for item in each.get("items") or ():
            _write_item(w, item, order_number)
        for tare in each.get("tares") or ():
            _write_level(w, ids, root, tare, "tare", order_number=order_number)
        for pack in each.get("packs") or ():
            _write_level(w, ids, root, pack, "pack", order_number=order_number)
    totals = doc.get("totals") or {}
    if totals:
        _refuse("totals", totals, ("amount", "amounts", "volume", "volume_unit"))
        if totals.get("line_count") is not None:
            w.add("CNT", ("2", str(totals["line_count"])))
        if totals.get("quantity"):
            w.add("CNT", ("1", str(totals["quantity"])))
        if totals.get("weight"):
            w.add("CNT", ("7", str(totals["weight"]), str(totals.get("weight_unit") or "")))


__all__ = ["DOCUMENT_TYPE", "MESSAGE", "PALLET_TYPES", "TABLE", "read", "write"]
