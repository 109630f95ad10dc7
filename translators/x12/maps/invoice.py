"""X12 810 Invoice <-> ``invoice``.

Placement: BIG invoice date/number, order date/number, release, transaction
type, purpose; CUR; REF; PER; N1 loops; ITD terms; DTM; FOB; TD5/TD3;
N9+MSG; NTE; IT1 lines with PID, REF, DTM, SAC, TXI and line N1 loops; TDS
total (N2: two implied decimals, X12.6); summary TXI/SAC; CTT; AMT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from . import values
from .context import MapContext, missing, placed, run
from .walker import Entry, State, finish_totals, pick

Doc = dict[str, Any]

DOCUMENT_TYPE = "invoice"
_LINE_KEYS = frozenset({"parties", "allowances_charges", "taxes"})


class _Inv(State):
    __slots__ = ("seen",)

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        super().__init__(ctx, doc, line_keys=_LINE_KEYS)
        self.seen = False


def _big(st: _Inv, seg: Segment, pos: int) -> bool:
    doc, ctx = st.doc, st.ctx
    st.seen = True
    b.put(doc, "invoice_date", ctx.date(seg, 1, pos))
    doc["invoice_number"] = b.el(seg, 2)
    b.put(doc, "order_date", ctx.date(seg, 3, pos))
    b.put(doc, "order_number", b.el(seg, 4))
    b.put(doc, "release_number", b.el(seg, 5))
    b.put(doc, "transaction_type", b.el(seg, 7))
    b.put(doc, "purpose", b.el(seg, 8))
    return True


def _it1(st: _Inv, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    line: Doc = {}
    b.put(line, "line_number", b.el(seg, 1))
    b.put(line, "quantity", ctx.dec(seg, 2, pos))
    b.put(line, "unit", ctx.unit(b.el(seg, 3)))
    b.put(line, "unit_price", ctx.dec(seg, 4, pos))
    b.put(line, "price_basis", b.el(seg, 5))
    line["product"] = b.products(ctx, seg, 6)
    st.doc.setdefault("lines", []).append(line)
    st.line = line
    st.party = None
    return True


def _pid(st: _Inv, seg: Segment, pos: int) -> bool:
    if st.line is None or "description" in st.line or not b.el(seg, 5):
        return False
    st.line["description"] = seg[5]
    return True


def _tds(st: _Inv, seg: Segment, pos: int) -> bool:
    st.line = None
    b.put(st.totals, "amount", st.ctx.implied(seg, 1, pos, 2))
    return True


def _amt(st: _Inv, seg: Segment, pos: int) -> bool:
    b.amt(st.ctx, seg, pos, st.totals, total_qualifiers=("TT",))
    return True


TABLE: dict[str, Entry] = {
    **pick(
        "REF",
        "PER",
        "DTM",
        "N1",
        "N2",
        "N3",
        "N4",
        "NTE",
        "N9",
        "MSG",
        "TD5",
        "TD3",
        "CUR",
        "ITD",
        "FOB",
        "SAC",
        "TXI",
        "CTT",
    ),
    "BIG": (_big, placed(1, 2, 3, 4, 5, 7, 8)),
    "IT1": (_it1, placed(*range(1, 26))),
    "PID": (_pid, b.PID_PLACED),
    "TDS": (_tds, placed(1)),
    "AMT": (_amt, b.AMT_PLACED),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 810 (ST..SE) to an ``invoice`` dict.

    Raises:
        RemoteSyntaxError: no BIG segment.
    """
    doc: Doc = {"invoice_number": ""}
    st = _Inv(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("810", "BIG", "the invoice number")
    finish_totals(st)
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render an ``invoice`` dict as the body of an 810 (without ST/SE).

    Raises:
        ValueError: the total is missing or has more than two decimals (TDS01 is N2).
    """
    out: list[Segment] = [
        b.make(
            "BIG",
            values.x12_date(doc.get("invoice_date")),
            doc.get("invoice_number"),
            values.x12_date(doc.get("order_date")),
            doc.get("order_number"),
            doc.get("release_number"),
            "",
            doc.get("transaction_type"),
            doc.get("purpose"),
        )
    ]
    if doc.get("currency"):
        out.append(b.make("CUR", "SE", doc["currency"]))
    refs = doc.get("references") or []
    out.extend(b.write_refs([r for r in refs if not r.get("text")]))
    for c in doc.get("contacts") or []:
        out.extend(b.write_per(c))
    for p in doc.get("parties") or []:
        out.extend(b.write_party(p))
    out.extend(b.write_itd(t) for t in doc.get("payment_terms") or [])
    out.extend(b.write_dtm(d) for d in doc.get("dates") or [])
    out.extend(b.make("FOB", f) for f in doc.get("fob") or [])
    out.extend(b.write_carriers(doc.get("carriers") or []))
    out.extend(b.write_notes(doc.get("notes") or []))
    out.extend(b.write_refs([r for r in refs if r.get("text")]))
    for line in doc.get("lines") or []:
        out.append(
            b.make(
                "IT1",
                line.get("line_number"),
                line.get("quantity"),
                ctx.unit_out(line.get("unit")),
                line.get("unit_price"),
                line.get("price_basis"),
                *b.product_pairs(ctx, line.get("product") or {}),
            )
        )
        if line.get("description"):
            out.append(b.make("PID", "F", "", "", "", line["description"]))
        lrefs = line.get("references") or []
        out.extend(b.write_refs([r for r in lrefs if not r.get("text")]))
        out.extend(b.write_dtm(d) for d in line.get("dates") or [])
        out.extend(b.write_sac(a) for a in line.get("allowances_charges") or [])
        out.extend(b.write_txi(t) for t in line.get("taxes") or [])
        out.extend(b.write_notes(line.get("notes") or []))
        out.extend(b.write_refs([r for r in lrefs if r.get("text")]))
        for p in line.get("parties") or []:
            out.extend(b.write_party(p))
    totals = doc.get("totals") or {}
    if totals.get("amount") is None:
        raise ValueError("an 810 needs the total invoice amount (TDS01 is mandatory)")
    out.append(b.make("TDS", values.x12_implied(totals["amount"], 2)))
    out.extend(b.write_txi(t) for t in doc.get("taxes") or [])
    out.extend(b.write_sac(a) for a in doc.get("allowances_charges") or [])
    out.extend(b.write_ctt(totals))
    out.extend(b.make("AMT", a.get("qualifier"), a.get("value")) for a in totals.get("amounts") or [])
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
