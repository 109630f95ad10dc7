"""INVRPT (inventory report) <-> ``inventory_advice``.

Groups (UNTDID D96A INVRPT; D01B and EANCOM EAN008 agree on these): header
BGM, DTM; SG1 RFF-DTM; SG2 NAD-(RFF, CTA-COM); SG4 CUX; SG9 LIN-(PIA, IMD,
PRI, SG11 INV-QTY-DTM, LOC); UNS; CNT.

BGM 1001 (35 inventory report...) is the report type, 1004 the report
number, 1225 the purpose; DTM 137 the report date and time.  Every QTY of a
line becomes one qualified quantity (6063 as sent: 145 actual stock, 198
quantity available...) and a DTM right after a QTY dates that quantity.  A
LOC in a line is a location the quantities apply to, kept as a party whose
role is the LOC 3227 qualifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ...errors import RemoteSyntaxError
from ...models import MappedDocument
from ...models.inventory_advice import SCHEMA_VERSION
from ..syntax import Message, Segment
from . import handlers as h
from .builder import Builder, Table, mapped_document, steps, walk
from .segment import comp, el
from .writer import Writer

MESSAGE = "INVRPT"
DOCUMENT_TYPE = "inventory_advice"

_BGM = h.bgm("report_type", "report_number", "purpose", implied="35")
_DTM = h.dtm_header({"137": ("report_date", "report_time")}, {})
_RFF = h.rff_header({})


def _lin(b: Builder, seg: Segment) -> bool:
    h.open_line(b, seg, "items")
    h.place(b, seg, {1: 1, 3: 2})
    return True


def _qty(b: Builder, seg: Segment) -> bool:
    item = b.line
    if item is None or not comp(seg, 1, 1):
        return False
    q: dict[str, Any] = {"qualifier": comp(seg, 1, 0), "quantity": b.decimal(comp(seg, 1, 1))}
    unit = b.unit(comp(seg, 1, 2))
    if unit:
        q["unit"] = unit
    item.setdefault("quantities", []).append(q)
    b.target = q
    b.target_kind = "QTY"
    h.place(b, seg, {1: 3})
    return True


def _dtm_line(b: Builder, seg: Segment) -> bool:
    item = b.line
    if item is None:
        return False
    d = b.date(seg)
    if d is None:
        return True
    entry = {k: v for k, v in d.items() if v is not None}
    owner = b.target if b.target_kind == "QTY" and b.target is not None else item
    owner.setdefault("dates", []).append(entry)
    return True


def _loc(b: Builder, seg: Segment) -> bool:
    item = b.line
    if item is None or not el(seg, 1):
        return False
    p: dict[str, Any] = {"role": el(seg, 1)}
    if comp(seg, 2, 0):
        p["id"] = comp(seg, 2, 0)
    if comp(seg, 2, 2):
        p["id_qualifier"] = comp(seg, 2, 2)
    if comp(seg, 2, 3):
        p["name"] = comp(seg, 2, 3)
    item.setdefault("parties", []).append(p)
    h.place(b, seg, {1: 1, 2: 4 if not comp(seg, 2, 1) else 1})
    b.target_kind = "LOC"
    return True


def _inv(b: Builder, seg: Segment) -> bool:
    # INV (inventory movement direction/type) opens SG11; its codes have no field.
    return False


TABLE: Table = {
    "header": {
        "BGM": _BGM,
        "DTM": _DTM,
        "RFF": _RFF,
        "NAD": h.nad_header,
        "CTA": h.cta,
        "COM": h.com,
        "CUX": h.cux,
        "FTX": h.ftx,
        "LIN": _lin,
        "UNS": h.uns,
    },
    "line": {
        "LIN": _lin,
        "PIA": h.pia,
        "IMD": h.imd,
        "PRI": h.pri,
        "INV": _inv,
        "QTY": _qty,
        "DTM": _dtm_line,
        "LOC": _loc,
        "RFF": h.rff_line,
        "FTX": h.ftx,
        "UNS": h.uns,
    },
    "summary": {"CNT": h.cnt},
}


#: :data:`TABLE` as the walk reads it
_STEPS: Final = steps(TABLE)


def read(
    msg: Message, options: Mapping[str, object], errors: list[RemoteSyntaxError] | None = None
) -> MappedDocument:
    """Map one INVRPT message to an ``inventory_advice`` document.

    Args:
        msg: the message event (UNH..UNT).
        options: the partner's ``map_options["INVRPT"]``.
        errors: when given, the message is validated in the same pass and
            what :func:`~.validation.validate` finds is appended.

    Returns:
        The document, the segments it did not place and the warnings.
    """
    b = Builder({}, mark=msg.delimiters.decimal, options=options)
    walk(b, msg, _STEPS, errors)
    for item in b.doc.get("items", ()):
        # InventoryItem has a unit price but no price basis
        basis = item.pop("price_basis", None)
        if basis not in (None, "AAA"):
            b.warnings.append(
                f"INVRPT item {item.get('line_number')}: price qualifier {basis} read as unit price"
            )
    return mapped_document(DOCUMENT_TYPE, SCHEMA_VERSION, b.doc, b.extensions(), tuple(b.warnings))


def write(w: Writer, doc: Mapping[str, Any], options: Mapping[str, object] | None = None) -> None:
    """Render an ``inventory_advice`` document as the INVRPT body (BGM..CNT).

    Args:
        w: the writer.
        doc: the document (validated by the caller).
    """
    w.refuse("inventory_advice", doc, ("action", "contacts"))
    w.bgm(doc.get("report_type") or "35", doc.get("report_number"), doc.get("purpose"))
    w.named_date("137", doc.get("report_date"), doc, doc.get("report_time"))
    w.dates(doc)
    w.notes(doc)
    w.references(doc)
    w.parties(doc)
    w.currency(doc, "9")
    for item in w.items(doc, "items"):
        w.lin(item)
        if item.get("unit_price"):
            w.add("PRI", ("AAA", str(item["unit_price"])))
        w.dates(item)
        w.notes(item)
        w.references(item)
        for p in item.get("parties") or ():
            w.refuse("inventory location", p, ("additional_names", "address", "contacts", "references"))
            w.add(
                "LOC",
                str(p["role"]),
                (str(p.get("id") or ""), "", str(p.get("id_qualifier") or ""), str(p.get("name") or "")),
            )
        for q in item.get("quantities") or ():
            w.refuse("inventory quantity", q, ("references", "notes"))
            w.quantity(str(q["qualifier"]), q["quantity"], q.get("unit"))
            w.dates(q)
    w.add("UNS", "S")


__all__ = ["DOCUMENT_TYPE", "MESSAGE", "TABLE", "read", "write"]
