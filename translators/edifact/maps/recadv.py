"""RECADV (receiving advice) <-> ``receiving_advice``.

Groups (UNTDID D96A RECADV; D01B and EANCOM EAN007 agree on these): header
BGM, DTM; SG1 RFF-DTM; SG4 NAD-(RFF, CTA-COM); SG16 CPS-(SG22 LIN-(PIA,
IMD, QTY, DTM, RFF, QVR)); CNT.

Field placement: BGM 1004 is the receipt number and 1225 the report status,
DTM 50 (goods receipt date) the receipt date, RFF DQ/AAK (delivery note,
despatch advice) the shipment id and RFF ON the depositor's order number.
On a line QTY 48 (received) is the quantity, QTY 12 (despatched) the
expected one, and each QVR (quantity variance: C279 quantity + qualifier,
4221 discrepancy code, C960 4295 reason) a receipt exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ...errors import RemoteSyntaxError
from ...models import MappedDocument
from ...models.receiving_advice import SCHEMA_VERSION
from ..syntax import Message, Segment
from . import handlers as h
from .builder import Builder, Table, mapped_document, steps, walk
from .segment import comp, el
from .writer import Writer

MESSAGE = "RECADV"
DOCUMENT_TYPE = "receiving_advice"

#: BGM 1001 '632' (goods receipt advice, EANCOM) is implied by the message.
_DOC_NAME = "632"
_DTM = h.dtm_header({"50": ("receipt_date", None)}, {})
_RFF = h.rff_header({"DQ": "shipment_id", "AAK": "shipment_id", "ON": "depositor_order_number"})
_QTY = h.qty({"48": ("quantity", "unit"), "12": ("quantity_expected", "_expected_unit")})


def _bgm(b: Builder, seg: Segment) -> bool:
    for i, field in ((2, "receipt_number"), (3, "status")):
        if comp(seg, i, 0):
            b.doc[field] = comp(seg, i, 0)
    h.place(b, seg, {1: 1 if el(seg, 1) in ("", _DOC_NAME) else 0, 2: 1, 3: 1})
    b.target_kind = "BGM"
    return True


def _cps(b: Builder, seg: Segment) -> bool:
    # Only the grouping: RECADV's packaging levels carry no canonical data.
    b.line = None
    b.scope = "line"
    b.target_kind = "CPS"
    h.place(b, seg, {1: 1})
    return True


def _lin(b: Builder, seg: Segment) -> bool:
    h.open_line(b, seg)
    h.place(b, seg, {1: 1, 3: 2})
    return True


def _pia(b: Builder, seg: Segment) -> bool:
    line = b.line
    if line is None:
        return False
    rest: list[Any] = [seg[0], seg[1] if len(seg) > 1 else ""]
    for i in range(2, min(len(seg), 7)):
        # 7143 NB (batch number) is the received lot.
        if comp(seg, i, 1) == "NB" and "lot_number" not in line and comp(seg, i, 0):
            line["lot_number"] = comp(seg, i, 0)
        else:
            rest.append(seg[i])
    if len(rest) > 2:
        h.pia(b, tuple(rest))
    elif el(seg, 1) not in ("1", "5"):
        b.keep(seg)
    return True


def _qty(b: Builder, seg: Segment) -> bool:
    if not _QTY(b, seg):
        return False
    line = b.line
    if line is not None and "_expected_unit" in line:
        unit = line.pop("_expected_unit")
        if unit != line.get("unit"):
            b.keep(seg)  # ReceiptLine has one unit; a different one is kept
    return True


def _qvr(b: Builder, seg: Segment) -> bool:
    line = b.line
    condition = el(seg, 2)
    if line is None or not condition:
        return False
    exc: dict[str, Any] = {"condition": condition}
    if comp(seg, 1, 0):
        exc["quantity"] = b.decimal(comp(seg, 1, 0))
    if comp(seg, 3, 0):
        exc["reason"] = comp(seg, 3, 0)
    line.setdefault("exceptions", []).append(exc)
    # C279 6063 qualifier (e.g. 21 ordered) says what the variance is against.
    h.place(b, seg, {1: 1, 2: 1, 3: 1})
    return True


TABLE: Table = {
    "header": {
        "BGM": _bgm,
        "DTM": _DTM,
        "RFF": _RFF,
        "NAD": h.nad_header,
        "CTA": h.cta,
        "COM": h.com,
        "FTX": h.ftx,
        "CPS": _cps,
        "LIN": _lin,
        "CNT": h.cnt,
    },
    "line": {
        "CPS": _cps,
        "LIN": _lin,
        "PIA": _pia,
        "IMD": h.imd,
        "QTY": _qty,
        "QVR": _qvr,
        "DTM": h.dtm_line(),
        "RFF": h.rff_line,
        "FTX": h.ftx,
        "CNT": h.cnt,
        "UNS": h.uns,
    },
    "summary": {"CNT": h.cnt},
}


#: :data:`TABLE` as the walk reads it
_STEPS: Final = steps(TABLE)


def read(
    msg: Message, options: Mapping[str, object], errors: list[RemoteSyntaxError] | None = None
) -> MappedDocument:
    """Map one RECADV message to a ``receiving_advice`` document.

    Args:
        msg: the message event (UNH..UNT).
        options: the partner's ``map_options["RECADV"]``.
        errors: when given, the message is validated in the same pass and
            what :func:`~.validation.validate` finds is appended.

    Returns:
        The document, the segments it did not place and the warnings.
    """
    b = Builder({}, mark=msg.delimiters.decimal, options=options)
    walk(b, msg, _STEPS, errors)
    return mapped_document(DOCUMENT_TYPE, SCHEMA_VERSION, b.doc, b.extensions(), tuple(b.warnings))


def write(w: Writer, doc: Mapping[str, Any], options: Mapping[str, object] | None = None) -> None:
    """Render a ``receiving_advice`` document as the RECADV body (BGM..CNT).

    Args:
        w: the writer.
        doc: the document (validated by the caller).
    """
    w.refuse("receiving_advice", doc, ("contacts",))
    w.bgm(_DOC_NAME, doc.get("receipt_number"), doc.get("status"))
    w.named_date("50", doc.get("receipt_date"), doc)
    w.dates(doc)
    w.notes(doc)
    w.named_reference("DQ", doc.get("shipment_id"))
    w.named_reference("ON", doc.get("depositor_order_number"))
    w.references(doc)
    w.parties(doc)
    lines = w.items(doc, "lines")
    if lines:
        w.add("CPS", "1")
    for line in lines:
        w.lin(line)
        if line.get("lot_number"):
            w.add("PIA", "1", (str(line["lot_number"]), "NB"))
        w.quantity("48", line.get("quantity"), line.get("unit"))
        w.quantity("12", line.get("quantity_expected"), line.get("unit"))
        w.dates(line)
        w.notes(line)
        w.references(line)
        for exc in line.get("exceptions") or ():
            w.refuse("receipt exception", exc, ("references", "dates", "notes", "unit"))
            w.add("QVR", str(exc.get("quantity") or ""), str(exc["condition"]), str(exc.get("reason") or ""))
    totals = doc.get("totals") or {}
    if totals:
        w.refuse("totals", totals, ("amount", "amounts", "volume", "volume_unit", "weight", "weight_unit"))
        if totals.get("line_count") is not None:
            w.add("CNT", ("2", str(totals["line_count"])))
        if totals.get("quantity"):
            w.add("CNT", ("1", str(totals["quantity"])))


__all__ = ["DOCUMENT_TYPE", "MESSAGE", "TABLE", "read", "write"]
