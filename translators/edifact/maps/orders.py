"""ORDERS (purchase order) <-> ``purchase_order``.

Groups (UNTDID D96A ORDERS; D01B and EANCOM EAN008/EAN010 agree on these):
header BGM, DTM; SG1 RFF-DTM; SG2 NAD-(RFF, CTA-COM); SG7 CUX; SG8 PAT;
SG10 TDT; SG12 TOD; SG19 ALC; SG25 LIN-(PIA, IMD, QTY, DTM, MOA, FTX, PRI,
RFF, NAD, ALC, TAX); UNS; MOA; CNT.  A LIN whose C829 names the previous
line as parent (5495 '1') is a sub-line of it (X12 SLN), its 1229 action
code the sub-line relationship.

This is the hot path of the gateway (speed goal: a full translation of an
ORDERS well above pydifact's parse alone), so the table maps each tag to
one small function and the walk is a single pass over the segments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ...errors import LocalTranslationError, RemoteSyntaxError
from ...models import MappedDocument
from ...models.purchase_order import SCHEMA_VERSION
from ..syntax import Message, Segment
from . import handlers as h
from .builder import Builder, Direct, Handler, MappedParts, Table, from_parts, push, steps, walk
from .segment import comp, el, parts
from .writer import Writer

MESSAGE: Final = "ORDERS"
DOCUMENT_TYPE: Final = "purchase_order"

#: BGM C002 1001 -> order_type (220 "order" is implied), 1004 -> order_number, 1225 -> purpose.
_BGM: Final = h.bgm("order_type", "order_number", "purpose", implied="220")
#: DTM 137 document date; other qualifiers (2 delivery requested, 64/63
#: earliest/latest delivery) stay qualified in ``dates``.
_DTM_NAMES: Final[dict[str, tuple[str, str | None]]] = {"137": ("order_date", None)}
_DTM_REFS: Final[dict[str, str]] = {}
_DTM: Final = h.dtm_header(_DTM_NAMES, _DTM_REFS)
_NAMED_RFF: Final = h.rff_header({"CT": "contract_number"})


def _rff(b: Builder, seg: Segment) -> bool:
    # the partner's store-number qualifier (map option store_number_reference)
    if b.store_ref is not None and b.target_kind != "NAD" and "store_number" not in b.doc:
        c = parts(seg, 1)
        if len(c) > 1 and c[0] == b.store_ref:
            b.doc["store_number"] = c[1]
            if len(c) > 2 and any(c[2:]):
                b.keep(seg)
            b.target_kind = "RFF"
            return True
    return _NAMED_RFF(b, seg)


_QTY_NAMES: Final = {"21": ("quantity", "unit")}
_QTY: Final = h.qty(_QTY_NAMES)


_LIN_USED: Final = {1: 1, 3: 2}


def _lin(b: Builder, seg: Segment) -> bool:
    if len(seg) > 4:
        sub = parts(seg, 4)
        parent = b.parent
        if (
            parent is not None
            and len(sub) > 1
            and sub[0] == "1"
            and sub[1]
            and sub[1] == parent.get("line_number")
        ):
            return _sub_line(b, seg, parent)
    line = h.open_line(b, seg)
    b.parent = line
    # 1229 action code and C829 sub-line information have no line field.
    # fast path: "LIN+1++GTIN:EN" has nothing beyond the placed parts
    if len(seg) > 2 and (seg[2] or len(seg) > 4 or len(parts(seg, 3)) > 2) and h.beyond(seg, _LIN_USED):
        b.keep(seg)
    return True


_SUB_USED: Final = {1: 1, 2: 1, 3: 2, 4: 2}


def _sub_line(b: Builder, seg: Segment, parent: dict[str, Any]) -> bool:
    # C829: 5495 '1' (sub-line information) + 1082 the parent line's number
    # (D96A ORDERS SG25); the 1229 action code is the sub-line relationship.
    sub: dict[str, Any] = {"product": {}}
    if el(seg, 1):
        sub["line_number"] = el(seg, 1)
    if el(seg, 2):
        sub["relationship"] = el(seg, 2)
    b.slot_codes = []
    item = parts(seg, 3)
    if item:
        h.add_product_id(b, sub["product"], item[1] if len(item) > 1 else "", item[0])
    push(parent, "sublines", sub)
    b.line = sub
    b.target = sub
    b.target_kind = "LIN"
    b.scope = "subline"
    h.place(b, seg, _SUB_USED)
    return True


def _sub_pri(b: Builder, seg: Segment) -> bool:
    # a SubLine has a unit price but no price basis: only AAA (the default) fits
    if comp(seg, 1, 0) not in ("", "AAA"):
        return False
    return h.pri(b, seg)


_COMMON: Final[dict[str, Handler]] = {"FTX": h.ftx}

TABLE: Final[Table] = {
    "header": {
        "BGM": _BGM,
        "DTM": _DTM,
        "RFF": _rff,
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
        "LIN": _lin,
        "UNS": h.uns,
        **_COMMON,
    },
    "line": {
        "LIN": _lin,
        "PIA": h.pia,
        "IMD": h.imd,
        "QTY": _QTY,
        "PRI": h.pri,
        "DTM": h.dtm_line(),
        "RFF": h.rff_line,
        "NAD": h.nad_line,
        "CTA": h.cta,
        "COM": h.com,
        "ALC": h.alc,
        "PCD": h.pcd,
        "TAX": h.tax,
        "MOA": h.moa_qualifying,
        "UNS": h.uns,
        **_COMMON,
    },
    "subline": {
        "LIN": _lin,
        "PIA": h.pia,
        "IMD": h.imd,
        "QTY": _QTY,
        "PRI": _sub_pri,
        "DTM": h.dtm_line(),
        "RFF": h.rff_line,
        "UNS": h.uns,
        **_COMMON,
    },
    "summary": {"MOA": h.moa_totals(("86", "79")), "CNT": h.cnt},
}


#: the handlers :class:`_Direct` calls, by code: one per segment of a usual ORDERS
_CODES: Final[dict[Handler, int]] = {
    _lin: 0,
    h.pia: 1,
    h.imd: 2,
    _QTY: 3,
    h.pri: 4,
    _DTM: 5,
    h.nad_header: 6,
    _rff: 7,
    h.cta: 8,
    h.com: 9,
    h.cux: 10,
    h.ftx: 11,
    h.uns: 12,
    h.cnt: 13,
}


class _Direct(Direct):
    """:data:`_CODES`' handlers as native calls (``_QTY`` and ``_DTM`` through the functions
    their closures call, with the same dicts)."""

    def call(self, code: int, b: Builder, seg: Segment) -> bool:
        # most frequent first: a line's LIN, PIA, IMD, QTY, PRI
        if code == 0:
            return _lin(b, seg)
        if code == 1:
            return h.pia(b, seg)
        if code == 2:
            return h.imd(b, seg)
        if code == 3:
            return h.qty_named(b, seg, _QTY_NAMES)
        if code == 4:
            return h.pri(b, seg)
        if code == 5:
            return h.dtm_header_named(b, seg, _DTM_NAMES, _DTM_REFS)
        if code == 6:
            return h.nad_header(b, seg)
        if code == 7:
            return _rff(b, seg)
        if code == 8:
            return h.cta(b, seg)
        if code == 9:
            return h.com(b, seg)
        if code == 10:
            return h.cux(b, seg)
        if code == 11:
            return h.ftx(b, seg)
        if code == 12:
            return h.uns(b, seg)
        return h.cnt(b, seg)


#: :data:`TABLE` as the walk reads it
_STEPS: Final = steps(TABLE, _CODES)
_DIRECT: Final = _Direct()


def read_parts(
    msg: Message, options: Mapping[str, object], errors: list[RemoteSyntaxError] | None = None
) -> MappedParts:
    """What :func:`read` returns, as :data:`~.builder.MappedParts` (the translator's hot path)."""
    b = Builder({}, mark=msg.delimiters.decimal, options=options)
    walk(b, msg, _STEPS, errors, _DIRECT)
    doc = b.doc
    if "order_number" not in doc:
        doc["order_number"] = ""
        b.warnings.append("ORDERS has no order number (BGM 1004); order_number left empty")
    return (DOCUMENT_TYPE, SCHEMA_VERSION, doc, b.extensions(), tuple(b.warnings))


def read(
    msg: Message, options: Mapping[str, object], errors: list[RemoteSyntaxError] | None = None
) -> MappedDocument:
    """Map one ORDERS message to a ``purchase_order`` document.

    Args:
        msg: the message event (UNH..UNT).
        options: the partner's ``map_options["ORDERS"]`` (see
            :data:`~.builder.MAP_OPTION_KEYS`).
        errors: when given, the message is validated in the same pass and
            what :func:`~.validation.validate` finds is appended.

    Returns:
        The document, the segments it did not place and the warnings.
    """
    return from_parts(read_parts(msg, options, errors))


def write(w: Writer, doc: Mapping[str, Any], options: Mapping[str, object] | None = None) -> None:
    """Render a ``purchase_order`` document as the ORDERS body (BGM..CNT).

    Args:
        w: the writer holding the UNH already.
        doc: the document (validated by the caller).
        options: the partner's ``map_options["ORDERS"]``; a store number is
            written as RFF with the ``store_number_reference`` qualifier.

    Raises:
        LocalTranslationError: data ORDERS cannot carry, or a store number
            without a ``store_number_reference`` option.
    """
    w.refuse("purchase_order", doc, ("release_number", "fob", "contacts"))
    store_ref = (options or {}).get("store_number_reference")
    if doc.get("store_number") and not store_ref:
        raise LocalTranslationError("store_number needs the partner option store_number_reference (RFF 1153)")
    # 1001 '220' (order) when the document names no type: BGM C002 is what
    # tells the partner this is an order at all.
    w.bgm(doc.get("order_type") or "220", doc.get("order_number"), doc.get("purpose"))
    w.named_date("137", doc.get("order_date"), doc)
    w.dates(doc)
    w.notes(doc)
    w.named_reference("CT", doc.get("contract_number"))
    if store_ref:
        w.named_reference(str(store_ref), doc.get("store_number"))
    w.references(doc)
    w.parties(doc)
    # D96A order: SG6 TAX, SG7 CUX, SG8 PAT, SG10 TDT, SG19 ALC.
    w.taxes(doc)
    w.currency(doc, "9")
    w.payment_terms(doc)
    w.carriers(doc)
    w.allowances(doc)
    for line in w.items(doc, "lines"):
        w.line(line, quantity=("21", "quantity", "unit"))
        for sub in line.get("sublines") or ():
            if not line.get("line_number"):
                raise LocalTranslationError("a line with sub-lines needs a line number (LIN C829 parent)")
            w.lin(sub, sub.get("relationship"), parent=line["line_number"])
            w.quantity("21", sub.get("quantity"), sub.get("unit"))
            w.dates(sub)
            w.notes(sub)
            if sub.get("unit_price"):
                w.add("PRI", ("AAA", str(sub["unit_price"])))
            w.references(sub)
    w.summary(doc, total_qualifier="86")


__all__ = ["DOCUMENT_TYPE", "MESSAGE", "TABLE", "read", "read_parts", "write"]
