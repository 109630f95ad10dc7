"""INVOIC (invoice) <-> ``invoice``.

Groups (UNTDID D96A INVOIC; D93A, D97A/B, D01B, D03B and EANCOM EAN008
agree on these): header BGM, DTM, PAI, FTX; SG1 RFF-DTM; SG2 NAD-(RFF,
CTA-COM); SG6 TAX-MOA; SG7 CUX; SG8 PAT-DTM-PCD-MOA; SG10 TDT; SG15
ALC-(PCD, MOA, TAX); SG25 LIN-(PIA, IMD, QTY, DTM, MOA, PRI, RFF, TAX-MOA,
NAD, ALC-MOA); UNS; MOA; SG48 ALC-MOA; SG50 TAX-MOA; CNT.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ...errors import RemoteSyntaxError
from ...models import MappedDocument
from ...models.invoice import SCHEMA_VERSION
from ..syntax import Message, Segment
from . import handlers as h
from .builder import Builder, Table, mapped_document, steps, walk
from .segment import parts
from .writer import Writer

MESSAGE = "INVOIC"
DOCUMENT_TYPE = "invoice"

#: BGM 1001 (381 credit note, 383 debit note...) -> transaction_type; 380 (commercial
#: invoice) only restates the message and is implied.
_BGM = h.bgm("transaction_type", "invoice_number", "purpose", implied="380")
#: DTM 137 document date; D93A invoices use 3 (invoice date) instead.
_DTM = h.dtm_header(
    {"137": ("invoice_date", None), "3": ("invoice_date", None)}, {"order_number": "order_date"}
)
_RFF = h.rff_header({"ON": "order_number"})
_QTY = h.qty({"47": ("quantity", "unit")})
#: MOA 77 invoice amount (EANCOM), 86 message total (D93A/D03B), 39 invoice total.
_TOTALS = h.moa_totals(("77", "86", "39"))


_LIN_USED = {1: 1, 3: 2}


def _lin(b: Builder, seg: Segment) -> bool:
    h.open_line(b, seg)
    # 1229 action code and C829 sub-line information have no canonical field.
    # fast path: "LIN+1++GTIN:EN" has nothing beyond the placed parts
    if len(seg) > 2 and (seg[2] or len(seg) > 4 or len(parts(seg, 3)) > 2) and h.beyond(seg, _LIN_USED):
        b.keep(seg)
    return True


_LINE_MOA = h.moa_line_amount

TABLE: Table = {
    "header": {
        "BGM": _BGM,
        "DTM": _DTM,
        "RFF": _RFF,
        "NAD": h.nad_header,
        "CTA": h.cta,
        "COM": h.com,
        "CUX": h.cux,
        "PAT": h.pat,
        "PCD": h.pcd,
        "TDT": h.tdt,
        "ALC": h.alc,
        "MOA": h.moa_qualifying,
        "TAX": h.tax,
        "FTX": h.ftx,
        "LIN": _lin,
        "UNS": h.uns,
    },
    "line": {
        "LIN": _lin,
        "PIA": h.pia,
        "IMD": h.imd,
        "QTY": _QTY,
        "PRI": h.pri,
        "MOA": _LINE_MOA,
        "DTM": h.dtm_line(),
        "RFF": h.rff_line,
        "NAD": h.nad_line,
        "CTA": h.cta,
        "COM": h.com,
        "ALC": h.alc,
        "PCD": h.pcd,
        "TAX": h.tax,
        "FTX": h.ftx,
        "UNS": h.uns,
    },
    # SG48 ALC-ALI-MOA in the summary: document-level allowances and charges
    "summary": {"MOA": _TOTALS, "TAX": h.tax, "ALC": h.alc, "PCD": h.pcd, "CNT": h.cnt},
}


#: :data:`TABLE` as the walk reads it
_STEPS: Final = steps(TABLE)


def read(
    msg: Message, options: Mapping[str, object], errors: list[RemoteSyntaxError] | None = None
) -> MappedDocument:
    """Map one INVOIC message to an ``invoice`` document.

    Args:
        msg: the message event (UNH..UNT).
        options: the partner's ``map_options["INVOIC"]``.
        errors: when given, the message is validated in the same pass and
            what :func:`~.validation.validate` finds is appended.

    Returns:
        The document, the segments it did not place and the warnings.
    """
    b = Builder({}, mark=msg.delimiters.decimal, options=options)
    walk(b, msg, _STEPS, errors)
    doc = b.doc
    if "invoice_number" not in doc:
        doc["invoice_number"] = ""
        b.warnings.append("INVOIC has no invoice number (BGM 1004); invoice_number left empty")
    return mapped_document(DOCUMENT_TYPE, SCHEMA_VERSION, doc, b.extensions(), tuple(b.warnings))


def write(w: Writer, doc: Mapping[str, Any], options: Mapping[str, object] | None = None) -> None:
    """Render an ``invoice`` document as the INVOIC body (BGM..CNT).

    Args:
        w: the writer.
        doc: the document (validated by the caller).
    """
    w.refuse("invoice", doc, ("release_number", "fob", "contacts"))
    w.bgm(doc.get("transaction_type") or "380", doc.get("invoice_number"), doc.get("purpose"))
    w.named_date("137", doc.get("invoice_date"), doc)
    w.dates(doc)
    w.notes(doc)
    if doc.get("order_number"):
        w.named_reference("ON", doc["order_number"])
        if doc.get("order_date"):
            w.date({"qualifier": "171", "date": doc["order_date"]})
    elif doc.get("order_date"):
        w.refuse("invoice", doc, ("order_date",))
    w.references(doc)
    w.parties(doc)
    w.currency(doc, "4")
    w.payment_terms(doc)
    w.carriers(doc)
    w.allowances(doc)
    for line in w.items(doc, "lines"):
        w.line(line, quantity=("47", "quantity", "unit"), amount=True)
    w.summary(doc, total_qualifier="77", taxes=True)


__all__ = ["DOCUMENT_TYPE", "MESSAGE", "TABLE", "read", "write"]
