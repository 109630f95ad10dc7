"""Segment handlers shared by the message maps, and factories for the named ones.

Each handler has the :data:`~.builder.Handler` shape ``(builder, segment) ->
placed``.  Handlers that depend on a message (which DTM qualifier is the
order date, which RFF is the order number) are made by factories so each
message table stays a small declarative dict.

This module is the catalogue the message tables draw from: header,
reference, date, money, tax and summary handlers live here; the party
handlers (:mod:`.parties`) and line-item handlers (:mod:`.items`) are
re-exported so a table needs one import.  Element positions follow the
UNTDID segment directory (D96A, unchanged in D01B except where noted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..syntax import Segment
from .builder import Builder, Handler, beyond, place, push
from .items import UNIT_PRICE_QUALIFIERS, add_product_id, imd, open_line, pia, pri, qty, qty_named
from .parties import com, cta, nad_header, nad_line, party
from .segment import comp, el, parts


def bgm(
    name: str | None, number: str, function: str | None, response: str | None = None, *, implied: str = ""
) -> Handler:
    """BGM: C002 1001 document name, C106 1004 number, 1225 message function, 4343 response type.

    Each argument names the document field the element fills (None: not
    placed, kept in extensions when present).  D96A has 1004 as a simple
    element; D01B wraps it in C106 with version and revision (left unplaced).
    ``implied`` is the 1001 code that only restates the message (220 for
    ORDERS, 380 for INVOIC): it is placed but not copied into the document,
    so a document without a type written out and read back is unchanged.
    """

    # element position -> the field it fills (index 0, the tag, fills none)
    fields: tuple[str | None, ...] = (None, name, number, function, response)

    def handler(b: Builder, seg: Segment) -> bool:
        doc = b.doc
        # what place() with the elements used would find, noted on the way (no dict of them)
        extra = False
        for i in range(1, len(seg)):
            e = seg[i]
            field = fields[i] if i < 5 else None
            value = e if type(e) is str else comp(seg, i, 0)
            if field is not None and value:
                if i != 1 or value != implied:
                    doc[field] = value
                # one component placed: a composite may hold more, a repetition always does
                if type(e) is not str and (type(e) is not tuple or any(e[1:])):
                    extra = True
            elif type(e) is tuple:
                extra = extra or any(e)
            elif type(e) is not str or e:
                extra = True
        if extra:
            b.keep(seg)
        b.target_kind = "BGM"
        return True

    return handler


# -- parties -------------------------------------------------------------------


_RFF_USED: Final = {1: 2}


def reference(b: Builder, seg: Segment) -> dict[str, Any]:
    """A canonical Reference dict from RFF C506 (1153 qualifier, 1154 number).

    1156 (line number), 4000 (version) and 1060 (revision) have no field: a
    reference carrying them is also kept whole.
    """
    c = parts(seg, 1)
    n = len(c)
    if (n > 2 and any(c[2:])) or (len(seg) > 2 and beyond(seg, _RFF_USED)):
        b.keep(seg)
    return {"qualifier": c[0] if n else "", "value": c[1] if n > 1 else ""}


def rff_header(named: Mapping[str, str]) -> Handler:
    """RFF in the header: ``named`` qualifiers fill document fields, others ``references``.

    After a NAD (ORDERS SG3, INVOIC SG2...) the RFF qualifies that party instead.
    """

    names = dict(named)  # a dict, not a Mapping: native lookups once compiled

    def handler(b: Builder, seg: Segment) -> bool:
        if b.target_kind not in _REF_KINDS and not b.target_kind.startswith("RFF"):
            return False
        ref = reference(b, seg)
        if b.target_kind == "NAD" and b.target is not None:
            push(b.target, "references", ref)
            return True
        field = names.get(ref["qualifier"])
        if field is not None and field not in b.doc:
            b.doc[field] = ref["value"]
            b.target = ref
            b.target_kind = "RFF:" + field
            return True
        push(b.doc, "references", ref)
        b.target = ref
        b.target_kind = "RFF"
        return True

    return handler


#: Header states after which an RFF is a document (or party) reference.
_REF_KINDS: Final = frozenset(("", "BGM", "DTM", "RFF", "NAD", "FTX", "UNS", "MOA", "CNT"))


def dtm_header_named(
    b: Builder, seg: Segment, names: dict[str, tuple[str, str | None]], refs: dict[str, str]
) -> bool:
    """DTM in the header, with the ``named`` and ``ref_dates`` of :func:`dtm_header` as dicts."""
    kind = b.target_kind
    if kind == "PAT":
        return dtm_terms(b, seg)
    if kind.startswith("RFF"):
        field = refs.get(kind[4:]) if kind != "RFF" else None
        if field is None or field in b.doc:
            return False
        d = b.date(seg)
        if d is None or d["date"] is None:
            return d is None
        b.doc[field] = d["date"]
        if d["time"] is not None:
            b.keep(seg)
        return True
    if kind not in _HEADER_DATE_KINDS:
        return False
    b.target_kind = "DTM"
    found = b.date_parts(seg)
    if found is None:
        return True
    qual, date, time = found
    doc = b.doc
    spec = names.get(qual)
    if spec is not None and date is not None and spec[0] not in doc:
        doc[spec[0]] = date
        if time is not None:
            if spec[1] is not None:
                doc[spec[1]] = time
            else:
                push(doc, "dates", _date_time(qual, date, time))
        return True
    push(doc, "dates", _date_time(qual, date, time))
    return True


def dtm_header(named: Mapping[str, tuple[str, str | None]], ref_dates: Mapping[str, str]) -> Handler:
    """DTM in the header.

    Args:
        named: 2005 qualifier -> (date field, time field or None).  A time
            that has no field of its own is kept by also listing the DateTime
            under ``dates`` (the writer then renders only that one).
        ref_dates: for a DTM following a named RFF (SG1 RFF-DTM): the field
            the RFF filled -> the date field (``order_number`` -> ``order_date``).
    """

    names = dict(named)  # dicts, not Mappings: native lookups once compiled
    refs = dict(ref_dates)

    def handler(b: Builder, seg: Segment) -> bool:
        return dtm_header_named(b, seg, names, refs)

    return handler


#: Header states in which a DTM is a document date (EANCOM: DTM follows BGM).
_HEADER_DATE_KINDS: Final = frozenset(("", "BGM", "DTM", "UNS", "MOA", "CNT"))


def _date_time(qual: str, date: str | None, time: str | None) -> dict[str, Any]:
    """A canonical DateTime without its absent parts (keys in the order of :meth:`Builder.date`)."""
    if date is None:
        return {"qualifier": qual} if time is None else {"qualifier": qual, "time": time}
    if time is None:
        return {"qualifier": qual, "date": date}
    return {"qualifier": qual, "date": date, "time": time}


def rff_line(b: Builder, seg: Segment) -> bool:
    """RFF inside a line group: a line reference (SG29/SG32-style RFF groups)."""
    line = b.line
    if line is None:
        return False
    push(line, "references", reference(b, seg))
    b.target_kind = "RFF"
    return True


def dtm_line(named: Mapping[str, str] | None = None) -> Handler:
    """DTM in a line group: ``named`` qualifiers fill line fields, others ``dates``."""
    names: dict[str, str] = dict(named) if named else {}

    def handler(b: Builder, seg: Segment) -> bool:
        line = b.line
        if line is None or b.target_kind not in ("LIN", "QTY", "PIA", "IMD", "PRI", "DTM"):
            return False
        found = b.date_parts(seg)
        if found is None:
            return True
        qual, date, time = found
        field = names.get(qual) if names else None
        if field is not None and field not in line and date is not None and time is None:
            line[field] = date
            return True
        push(line, "dates", _date_time(qual, date, time))
        return True

    return handler


def ftx(b: Builder, seg: Segment) -> bool:
    """FTX: a note (4451 subject -> qualifier; C108 lines joined with newlines)."""
    c108 = seg[4] if len(seg) > 4 else ""
    if type(c108) is tuple:
        lines = list(c108[:5])
    elif type(c108) is str:
        lines = [c108]
    else:
        lines = [comp(seg, 4, j) for j in range(5)]
    while lines and not lines[-1]:
        lines.pop()
    note: dict[str, Any] = {"text": "\n".join(lines)}
    if el(seg, 1):
        note["qualifier"] = el(seg, 1)
    owner = b.line if b.line is not None else b.doc
    push(owner, "notes", note)
    place(b, seg, _FTX_USED)
    return True


_FTX_USED: Final = {1: 1, 4: 5}


def cux(b: Builder, seg: Segment) -> bool:
    """CUX: C504 6345 is the document currency."""
    if "currency" in b.doc or not comp(seg, 1, 1):
        return False
    b.doc["currency"] = comp(seg, 1, 1)
    # 6347 '2' (reference currency) and 6343 '4'/'9' (invoicing/ordering) are
    # what every writer sends; anything else is kept.
    extra = comp(seg, 1, 0) not in ("", "2") or comp(seg, 1, 2) not in ("", "4", "9")
    if extra or beyond(seg, _CUX_USED):
        b.keep(seg)
    return True


_CUX_USED: Final = {1: 3}


# -- line items -----------------------------------------------------------------


def moa_line_amount(b: Builder, seg: Segment) -> bool:
    """MOA 203 (line item amount) in a line; MOA after ALC/TAX qualifies those."""
    if b.target_kind in ("ALC", "TAX"):
        return moa_qualifying(b, seg)
    line = b.line
    if line is None or comp(seg, 1, 0) != "203" or "amount" in line:
        return False
    line["amount"] = b.decimal(comp(seg, 1, 1))
    place(b, seg, {1: 2})
    return True


def moa_qualifying(b: Builder, seg: Segment) -> bool:
    """MOA after ALC (8 allowance/charge amount) or TAX (124 tax amount)."""
    t = b.target
    if t is None or "amount" in t:
        return False
    qual = comp(seg, 1, 0)
    if (b.target_kind == "ALC" and qual in ("8", "23", "204")) or (b.target_kind == "TAX" and qual == "124"):
        t["amount"] = b.decimal(comp(seg, 1, 1))
        if qual not in ("8", "124"):
            b.keep(seg)
        else:
            place(b, seg, {1: 2})
        return True
    return False


def alc(b: Builder, seg: Segment) -> bool:
    """ALC: an allowance or charge (5463 indicator, C214 7161 service code)."""
    ac: dict[str, Any] = {"indicator": el(seg, 1)}
    code = comp(seg, 5, 0)
    if code:
        ac["code"] = code
    if comp(seg, 5, 3):
        ac["description"] = comp(seg, 5, 3)
    owner = b.line if b.line is not None else b.doc
    push(owner, "allowances_charges", ac)
    place(b, seg, {1: 1, 5: 1 if not comp(seg, 5, 3) or any(comp(seg, 5, j) for j in (1, 2)) else 4})
    b.target = ac
    b.target_kind = "ALC"
    return True


def pcd(b: Builder, seg: Segment) -> bool:
    """PCD after ALC (percentage of the allowance) or PAT (12 discount percent)."""
    t = b.target
    if t is None:
        return False
    if b.target_kind == "ALC" and "percent" not in t:
        t["percent"] = b.decimal(comp(seg, 1, 1))
        # 5245 '1'/'2'/'3' allowance, charge, allowance or charge: implied by ALC.
        place(b, seg, {1: 2} if comp(seg, 1, 0) in ("1", "2", "3", "12") else {})
        return True
    if b.target_kind == "PAT" and "discount_percent" not in t and comp(seg, 1, 0) == "12":
        t["discount_percent"] = b.decimal(comp(seg, 1, 1))
        place(b, seg, {1: 2})
        return True
    return False


def tax(b: Builder, seg: Segment) -> bool:
    """TAX: 5283 '7' tax, C241 5153 type (VAT), C243 5278 rate as ``percent``.

    A TAX inside an ALC group (the tax on an allowance) has no canonical
    place and is kept.
    """
    if b.target_kind == "ALC":
        return False
    t: dict[str, Any] = {"type_code": comp(seg, 2, 0)}
    rate = comp(seg, 5, 3)
    if rate:
        t["percent"] = b.decimal(rate)
    owner = b.line if b.line is not None else b.doc
    push(owner, "taxes", t)
    # 5305 category (S standard, E exempt) has no canonical field: kept.
    used = {1: 1 if el(seg, 1) == "7" else 0, 2: 1, 5: 4 if not any(comp(seg, 5, j) for j in range(3)) else 0}
    place(b, seg, used)
    b.target = t
    b.target_kind = "TAX"
    return True


def pat(b: Builder, seg: Segment) -> bool:
    """PAT: payment terms (4279 type; C112 2475 reference, 2151 period, 2152 days)."""
    terms: dict[str, Any] = {}
    if el(seg, 1):
        terms["type_code"] = el(seg, 1)
    ref = comp(seg, 3, 0)
    if ref:
        terms["basis_date_code"] = ref
    days = comp(seg, 3, 3)
    simple = comp(seg, 3, 1) in ("", "3") and comp(seg, 3, 2) in ("", "D") and (not days or days.isdigit())
    if days and simple:
        terms["net_days"] = int(days)
    push(b.doc, "payment_terms", terms)
    if not simple or beyond(seg, {1: 1, 3: 4}):
        b.keep(seg)
    b.target = terms
    b.target_kind = "PAT"
    return True


def dtm_terms(b: Builder, seg: Segment) -> bool:
    """DTM after PAT: 13 terms net due date (140 payment due date), 12 discount due date."""
    t = b.target
    qual = comp(seg, 1, 0)
    field = _TERMS_DATES.get(qual)
    if t is None or b.target_kind != "PAT" or field is None or field in t:
        return False
    d = b.date(seg)
    if d is None or d["date"] is None or d["time"] is not None:
        return d is None
    t[field] = d["date"]
    return True


#: DTM 2005 qualifier after PAT -> PaymentTerms field (UNTDID 2005: 13 terms
#: net due date, 140 payment due date, 12 terms discount due date).
_TERMS_DATES: Final = {"13": "net_due_date", "140": "net_due_date", "12": "discount_due_date"}


def tdt(b: Builder, seg: Segment) -> bool:
    """TDT: a carrier (C220 8067 mode, C040 3127 carrier id and 3128 name)."""
    c: dict[str, Any] = {}
    if comp(seg, 3, 0):
        c["transport_method"] = comp(seg, 3, 0)
    if comp(seg, 5, 0):
        c["scac"] = comp(seg, 5, 0)
    if comp(seg, 5, 2):
        c["id_qualifier"] = comp(seg, 5, 2)
    if comp(seg, 5, 3):
        c["name"] = comp(seg, 5, 3)
    if el(seg, 2):
        c["tracking_number"] = el(seg, 2)
    push(b.doc, "carriers", c)
    # 8051 stage '20' (main carriage) is what the writer sends.
    used = {1: 1 if el(seg, 1) in ("", "20") else 0, 2: 1, 3: 1, 5: 4 if not comp(seg, 5, 1) else 0}
    place(b, seg, used)
    b.target = c
    b.target_kind = "TDT"
    return True


def _totals(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc.setdefault("totals", {})`` without the KeyError compiled ``setdefault`` raises for a new key."""
    totals: dict[str, Any] | None = doc.get("totals")
    if totals is None:
        totals = doc["totals"] = {}
    return totals


def cnt(b: Builder, seg: Segment) -> bool:
    """CNT: 2 number of lines, 1 quantity hash total, 7 gross weight (6069)."""
    totals = _totals(b.doc)
    qual = comp(seg, 1, 0)
    value = comp(seg, 1, 1)
    if qual == "2" and "line_count" not in totals and value.isdigit():
        totals["line_count"] = int(value)
        place(b, seg, _TWO_USED)
        return True
    if qual == "1" and "quantity" not in totals:
        totals["quantity"] = b.decimal(value)
        place(b, seg, _TWO_USED)
        return True
    if qual == "7" and "weight" not in totals:
        totals["weight"] = b.decimal(value)
        unit = b.unit(comp(seg, 1, 2))
        if unit:
            totals["weight_unit"] = unit
        place(b, seg, {1: 3})
        return True
    if not totals:
        del b.doc["totals"]
    return False


#: element 1 with its two components placed (read-only)
_TWO_USED: Final = {1: 2}


def moa_totals(total_qualifiers: tuple[str, ...]) -> Handler:
    """MOA in the summary: the first of ``total_qualifiers`` is ``totals.amount``, others ``amounts``.

    An MOA right after a summary TAX is that tax's amount instead.
    """

    def handler(b: Builder, seg: Segment) -> bool:
        if b.target_kind in ("TAX", "ALC"):
            # MOA 125 (taxable amount) and friends inside a TAX/ALC group
            # belong to that group, not to the totals: kept when unplaced.
            return moa_qualifying(b, seg)
        qual = comp(seg, 1, 0)
        amount = b.decimal(comp(seg, 1, 1))
        if amount is None:
            return False
        totals = _totals(b.doc)
        if qual in total_qualifiers and "amount" not in totals:
            totals["amount"] = amount
            b.state["total_qualifier"] = qual
        else:
            push(totals, "amounts", {"qualifier": qual, "value": amount})
        place(b, seg, {1: 2})
        b.target_kind = "MOA"
        return True

    return handler


def uns(b: Builder, seg: Segment) -> bool:
    """UNS+S: the summary section starts; no line is open any more."""
    b.line = None
    b.target = None
    b.target_kind = "UNS"
    b.scope = "summary"
    place(b, seg, _UNS_USED if el(seg, 1) == "S" else _NOTHING_USED)
    return True


_UNS_USED: Final = {1: 1}
_NOTHING_USED: Final[dict[int, int]] = {}


#: MEA C502 6313 dimension -> Measure.kind.  UNTDID 6313 codes first (AAA
#: net weight, AAB/AAD gross weight, AAF net net, AAW/AAX/ABJ volume, LN
#: length, WD width, HT height), then the X12 codes an X12-sourced document
#: carries (G gross, N net, WT weight, VOL volume) so they read back alike.
MEASURE_KINDS: Final[dict[str, str]] = {
    "AAA": "weight",
    "AAB": "weight",
    "AAD": "weight",
    "AAF": "weight",
    "G": "weight",
    "N": "weight",
    "WT": "weight",
    "AAW": "volume",
    "AAX": "volume",
    "ABJ": "volume",
    "VOL": "volume",
    "LN": "length",
    "WD": "width",
    "HT": "height",
}


def mea(owner_key: str = "measures") -> Handler:
    """MEA: 6311 purpose PD/AAE, C502 6313 dimension, C174 6411 unit + 6314 value.

    The measure goes to ``state["measure_owner"]`` (the open package, item...).
    """

    def handler(b: Builder, seg: Segment) -> bool:
        t = b.state.get("measure_owner")
        if t is None:
            return False
        value = comp(seg, 3, 1)
        if not value:
            return False
        qual = comp(seg, 2, 0)
        m: dict[str, Any] = {"kind": MEASURE_KINDS.get(qual, "measurement"), "value": b.decimal(value)}
        if qual:
            m["qualifier"] = qual
        unit = b.unit(comp(seg, 3, 0))
        if unit:
            m["unit"] = unit
        push(t, owner_key, m)
        place(b, seg, {1: 1 if el(seg, 1) in ("PD", "AAE") else 0, 2: 1, 3: 2})
        return True

    return handler


__all__ = [
    "MEASURE_KINDS",
    "UNIT_PRICE_QUALIFIERS",
    "add_product_id",
    "alc",
    "beyond",
    "bgm",
    "cnt",
    "com",
    "cta",
    "cux",
    "dtm_header",
    "dtm_header_named",
    "dtm_line",
    "dtm_terms",
    "ftx",
    "imd",
    "mea",
    "moa_line_amount",
    "moa_qualifying",
    "moa_totals",
    "nad_header",
    "nad_line",
    "open_line",
    "party",
    "pat",
    "pcd",
    "pia",
    "place",
    "pri",
    "qty",
    "qty_named",
    "reference",
    "rff_header",
    "rff_line",
    "tax",
    "tdt",
    "uns",
]
