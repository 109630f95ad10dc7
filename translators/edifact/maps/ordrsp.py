"""ORDRSP (order response) <-> ``order_response``.

Groups (UNTDID D96A ORDRSP; D01B, D10A and EANCOM EAN005/EAN008 agree on
these): header BGM, DTM, FTX; SG1 RFF-DTM; SG3 NAD-(RFF, CTA-COM); SG8
CUX; SG9 TDT; SG26 LIN-(PIA, IMD, QTY, DTM, MOA, FTX, PRI, RFF); UNS; MOA;
CNT.

Line status: the LIN 1229 action code (3 changed, 5 accepted without
amendment, 7 not accepted, 1 added...) is the line's status, QTY 113
(quantity to be delivered) and the line DTMs that follow it are that
status's quantity and schedule; QTY 21 is the ordered quantity.  Further
statuses of the same line (part delivered now, part later) are sub-lines:
a LIN whose C829 names the line as parent (5495 '1'), with its own action
code, QTY 113 and DTMs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ...errors import LocalTranslationError, RemoteSyntaxError
from ...models import MappedDocument
from ...models.order_response import SCHEMA_VERSION
from ..syntax import Message, Segment
from . import handlers as h
from .builder import Builder, Table, mapped_document, steps, walk
from .segment import comp, el, parts
from .writer import Writer

MESSAGE = "ORDRSP"
DOCUMENT_TYPE = "order_response"

#: BGM 1001 '231' (purchase order response) is implied; 1004 is the seller's
#: response number, 1225 (4 change, 27 not accepted, 29 accepted...) the
#: purpose and 4343 (AC, AP, CA, RE...) the acknowledgment type.
_DOC_NAME = "231"
_DTM = h.dtm_header({"137": ("response_date", None)}, {"order_number": "order_date"})
_RFF = h.rff_header({"ON": "order_number"})
_QTY = h.qty({"21": ("quantity", "unit")})


def _bgm(b: Builder, seg: Segment) -> bool:
    for i, field in ((2, "response_number"), (3, "purpose"), (4, "acknowledgment_type")):
        if comp(seg, i, 0):
            b.doc[field] = comp(seg, i, 0)
    h.place(b, seg, {1: 1 if el(seg, 1) in ("", _DOC_NAME) else 0, 2: 1, 3: 1, 4: 1})
    b.target_kind = "BGM"
    return True


def _lin(b: Builder, seg: Segment) -> bool:
    action = el(seg, 2)
    sub_line = parts(seg, 4)
    parent: dict[str, Any] | None = b.state.get("parent")
    if (
        action
        and parent is not None
        and len(sub_line) > 1
        and sub_line[0] == "1"
        and sub_line[1] == parent.get("line_number")
        and not comp(seg, 3, 0)
    ):
        # C829 sub-line of the previous line (5495 '1', 1082 parent): one
        # more action for the same item, e.g. part shipped, part back-ordered.
        parent.setdefault("statuses", []).append({"status": action})
        b.line = parent
        b.target = parent
        b.target_kind = "LIN"
        b.scope = "line"
        h.place(b, seg, {1: 1, 2: 1, 4: 2})
        return True
    line = h.open_line(b, seg)
    b.state["parent"] = line
    if action:
        line["statuses"] = [{"status": action}]
    h.place(b, seg, {1: 1, 2: 1, 3: 2})
    return True


def _status(b: Builder) -> dict[str, Any] | None:
    line = b.line
    if line is None or not line.get("statuses"):
        return None
    status: dict[str, Any] = line["statuses"][-1]
    return status


def _qty(b: Builder, seg: Segment) -> bool:
    status = _status(b)
    if comp(seg, 1, 0) == "113" and status is not None and "quantity" not in status:
        status["quantity"] = b.decimal(comp(seg, 1, 1))
        unit = b.unit(comp(seg, 1, 2))
        if unit:
            status["unit"] = unit
        h.place(b, seg, {1: 3})
        b.target_kind = "QTY"
        return True
    return _QTY(b, seg)


def _dtm_line(b: Builder, seg: Segment) -> bool:
    status = _status(b)
    line = b.line
    if line is None:
        return False
    d = b.date(seg)
    if d is None:
        return True
    entry = {k: v for k, v in d.items() if v is not None}
    if status is not None:
        status.setdefault("scheduled", []).append(entry)
    else:
        line.setdefault("dates", []).append(entry)
    return True


TABLE: Table = {
    "header": {
        "BGM": _bgm,
        "DTM": _DTM,
        "RFF": _RFF,
        "NAD": h.nad_header,
        "CTA": h.cta,
        "COM": h.com,
        "CUX": h.cux,
        "TDT": h.tdt,
        "FTX": h.ftx,
        "LIN": _lin,
        "UNS": h.uns,
    },
    "line": {
        "LIN": _lin,
        "PIA": h.pia,
        "IMD": h.imd,
        "QTY": _qty,
        "PRI": h.pri,
        "DTM": _dtm_line,
        "RFF": h.rff_line,
        "FTX": h.ftx,
        "UNS": h.uns,
    },
    "summary": {"MOA": h.moa_totals(("86", "79")), "CNT": h.cnt},
}


#: :data:`TABLE` as the walk reads it
_STEPS: Final = steps(TABLE)


def read(
    msg: Message, options: Mapping[str, object], errors: list[RemoteSyntaxError] | None = None
) -> MappedDocument:
    """Map one ORDRSP message to an ``order_response`` document.

    Args:
        msg: the message event (UNH..UNT).
        options: the partner's ``map_options["ORDRSP"]``.
        errors: when given, the message is validated in the same pass and
            what :func:`~.validation.validate` finds is appended.

    Returns:
        The document, the segments it did not place and the warnings.
    """
    b = Builder({}, mark=msg.delimiters.decimal, options=options)
    walk(b, msg, _STEPS, errors)
    doc = b.doc
    if "order_number" not in doc:
        doc["order_number"] = ""
        b.warnings.append("ORDRSP has no RFF+ON order number; order_number left empty")
    return mapped_document(DOCUMENT_TYPE, SCHEMA_VERSION, doc, b.extensions(), tuple(b.warnings))


def _write_status(w: Writer, status: Mapping[str, Any]) -> None:
    w.quantity("113", status.get("quantity"), status.get("unit"))
    for d in status.get("scheduled") or ():
        w.date(d)


def write(w: Writer, doc: Mapping[str, Any], options: Mapping[str, object] | None = None) -> None:
    """Render an ``order_response`` document as the ORDRSP body (BGM..CNT).

    Args:
        w: the writer.
        doc: the document (validated by the caller).

    Raises:
        LocalTranslationError: a status with a substituted product or its own
            references, or a line with several statuses and no line number.
    """
    w.refuse("order_response", doc, ("release_number", "contacts"))
    w.bgm(_DOC_NAME, doc.get("response_number"), doc.get("purpose"), doc.get("acknowledgment_type"))
    w.named_date("137", doc.get("response_date"), doc)
    w.dates(doc)
    w.notes(doc)
    w.named_reference("ON", doc.get("order_number"))
    if doc.get("order_date"):
        w.date({"qualifier": "171", "date": doc["order_date"]})
    w.references(doc)
    w.parties(doc)
    w.currency(doc, "9")
    w.carriers(doc)
    for line in w.items(doc, "lines"):
        statuses = line.get("statuses") or []
        number = line.get("line_number")
        if len(statuses) > 1 and not number:
            raise LocalTranslationError("a line with several statuses needs a line number (ORDRSP sub-lines)")
        if statuses and line.get("dates"):
            raise LocalTranslationError("line dates and a line status schedule cannot both be written")
        for status in statuses:
            w.refuse("line status", status, ("product", "references", "dates", "notes", "extensions"))
        first: Mapping[str, Any] = statuses[0] if statuses else {}
        w.lin(line, first.get("status"))
        w.quantity("21", line.get("quantity"), line.get("unit"))
        _write_status(w, first)
        w.dates(line)
        w.notes(line)
        if line.get("unit_price"):
            w.add("PRI", (str(line.get("price_basis") or "AAA"), str(line["unit_price"])))
        w.references(line)
        for k, status in enumerate(statuses[1:], start=1):
            # LIN C829: 5495 '1' sub-line, 1082 the parent line (D96A ORDRSP SG26)
            w.add("LIN", f"{number}.{k}", str(status["status"]), "", ("1", str(number)))
            _write_status(w, status)
    w.summary(doc, total_qualifier="86")


__all__ = ["DOCUMENT_TYPE", "MESSAGE", "TABLE", "read", "write"]
