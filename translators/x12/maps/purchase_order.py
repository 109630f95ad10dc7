"""X12 850 Purchase Order <-> ``purchase_order``.

Hot path: the inbound 850 is the highest-volume document, so this map is
one pass over the segments with a dispatch dict and plain dicts; pydantic
only runs in tests and at the sinks.

Placement (X12 850 004010/005010 segment usage):
BEG purpose/type/number/release/date/contract; CUR currency; REF references
(or the store number, see ``store_reference``); PER contacts; DTM dates;
TD5/TD3 carriers; ITD terms; FOB; SAC; TXI; N9+MSG references with text;
NTE notes (003xxx); N1 loop parties; PO1 lines with PID description, PO4
packaging, line REF/DTM/SAC/TXI/N9/N1 and SLN sub-lines; CTT and AMT totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..syntax import Segment
from . import blocks as b
from .context import MapContext, Placement, leftovers, missing, placed
from .values import ascii_digits
from .walker import (
    Entry,
    State,
    finish_totals,
    h_ctt,
    h_cur,
    h_dtm,
    h_fob,
    h_itd,
    h_n1,
    h_n3,
    h_n4,
    h_per,
    h_ref,
    h_td5,
    pick,
)

Doc = dict[str, Any]

DOCUMENT_TYPE = "purchase_order"
_LINE_KEYS = frozenset({"parties", "allowances_charges", "taxes"})


class OrderLines(State):
    """Walk state of a document with PO1 lines and SLN sublines; the 855 map shares _po1 and _pid.

    Those handlers are typed on this class, not on _PO: compiled by mypyc, a handler checks the
    type of its state argument, so the 855's state must be one of these too.
    """

    __slots__ = ("described", "lines", "packed", "seen", "sub")

    def __init__(
        self, ctx: MapContext, doc: Doc, *, line_keys: frozenset[str] = frozenset(), store: bool = False
    ) -> None:
        super().__init__(ctx, doc, line_keys=line_keys, store=store)
        #: ``doc["lines"]``, kept here: a native attribute read instead of a lookup per PO1
        self.lines: list[Doc] = doc["lines"]
        self.sub: Doc | None = None
        #: the PID target (the open subline, else line) has its ``description``; the open line
        #: has its ``packaging``. Flags instead of a ``key in dict`` lookup (~150 instructions)
        #: per PID and PO4: only _pid and _po4 set those keys, on the dicts _po1 and _sln open.
        self.described = False
        self.packed = False
        self.seen = False


class _PO(OrderLines):
    __slots__ = ()

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        super().__init__(ctx, doc, line_keys=_LINE_KEYS, store=True)


def _beg(st: _PO, seg: Segment, pos: int) -> bool:
    doc = st.doc
    st.seen = True
    n = len(seg)
    if n > 1 and seg[1]:
        doc["purpose"] = seg[1]
    if n > 2 and seg[2]:
        doc["order_type"] = seg[2]
    doc["order_number"] = seg[3] if n > 3 else ""
    if n > 4 and seg[4]:
        doc["release_number"] = seg[4]
    if n > 5 and seg[5]:
        b.put(doc, "order_date", st.ctx.date(seg, 5, pos))
    if n > 6 and seg[6]:
        doc["contract_number"] = seg[6]
    return True


def _po1(st: OrderLines, seg: Segment, pos: int) -> bool:
    ctx = st.ctx
    n = len(seg)
    line: Doc = {}
    if n > 1 and seg[1]:
        line["line_number"] = seg[1]
    # Keys in sorted order where the elements allow (see blocks); values converted in element
    # order, so an invalid one's warnings keep their order.
    quantity: str | None = None
    if n > 2 and seg[2]:
        q = seg[2]
        # ctx.dec's own first test, inlined: most quantities are plain integers.
        quantity = q if ascii_digits(q) else ctx.dec(seg, 2, pos)
    unit_price = ctx.dec(seg, 4, pos) if n > 4 and seg[4] else None
    if n > 5 and seg[5]:
        line["price_basis"] = seg[5]
    line["product"] = b.products(ctx, seg, 6) if n > 7 else {}
    if n > 2 and seg[2]:
        line["quantity"] = quantity
    if n > 3 and seg[3]:
        line["unit"] = ctx.unit(seg[3])
    if n > 4 and seg[4]:
        line["unit_price"] = unit_price
    st.lines.append(line)
    st.line = line
    st.sub = None
    st.described = False
    st.packed = False
    st.party = None
    return True


def _pid(st: OrderLines, seg: Segment, pos: int) -> bool:
    target = st.sub if st.sub is not None else st.line
    if target is None or st.described or len(seg) < 6 or not seg[5]:
        return False
    target["description"] = seg[5]
    st.described = True
    return True


def _po4(st: _PO, seg: Segment, pos: int) -> bool:
    line = st.line
    if line is None or st.packed:
        return False
    line["packaging"] = b.po4(st.ctx, seg, pos)
    st.packed = True
    return True


def _sln(st: _PO, seg: Segment, pos: int) -> bool:
    if st.line is None:
        return False
    ctx = st.ctx
    sub: Doc = {}
    b.put(sub, "line_number", b.el(seg, 1))
    b.put(sub, "relationship", b.el(seg, 3))
    b.put(sub, "quantity", ctx.dec(seg, 4, pos))
    b.put(sub, "unit", ctx.unit(b.el(seg, 5)))
    b.put(sub, "unit_price", ctx.dec(seg, 6, pos))
    sub["product"] = b.products(ctx, seg, 9)
    st.line.setdefault("sublines", []).append(sub)
    st.sub = sub
    st.described = False
    return True


_SLN_PLACED = placed(1, 3, 4, 5, 6, *range(9, 31))

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
        "ITD",
        "FOB",
        "CUR",
        "SAC",
        "TXI",
        "CTT",
        "AMT",
    ),
    "BEG": (_beg, placed(1, 2, 3, 4, 5, 6)),
    "PO1": (_po1, placed(*range(1, 26))),
    "PID": (_pid, b.PID_PLACED),
    "PO4": (_po4, b.PO4_PLACED),
    "SLN": (_sln, _SLN_PLACED),
}


#: The tags whose handlers _place calls directly, the most frequent first; a tag's code is its
#: index. :data:`TABLE` stays the one declaration of what handles a tag (tests run every 850
#: through both and compare).
_DIRECT_TAGS: Final = (
    "PO1",
    "PID",
    "PO4",
    "N1",
    "N3",
    "N4",
    "REF",
    "DTM",
    "BEG",
    "PER",
    "ITD",
    "TD5",
    "CTT",
    "CUR",
    "FOB",
)
_DIRECT: Final[dict[str, int]] = {tag: code for code, tag in enumerate(_DIRECT_TAGS)}
_DIRECT_PLACED: Final[tuple[Placement, ...]] = tuple(TABLE[tag][1] for tag in _DIRECT_TAGS)


#: The direct tags, as names: compiled, each is the interned string constant itself.
_PO1: Final = "PO1"
_PID: Final = "PID"
_PO4: Final = "PO4"
_N1: Final = "N1"
_N3: Final = "N3"
_N4: Final = "N4"
_REF: Final = "REF"
_DTM: Final = "DTM"
_BEG: Final = "BEG"
_PER: Final = "PER"
_ITD: Final = "ITD"
_TD5: Final = "TD5"
_CTT: Final = "CTT"
_CUR: Final = "CUR"
_FOB: Final = "FOB"


def _code(tag: str) -> int:
    """The index of ``tag`` in :data:`_DIRECT_TAGS`, -1 for any other tag."""
    # The reader interns tags, so the usual ones are these very objects: identity tests (a
    # pointer compare each) answer for every direct tag, where the dict lookup below cost ~140
    # instructions. Anything else (another tag, a tag the reader did not intern) is looked up.
    if tag is _PO1:
        return 0
    if tag is _PID:
        return 1
    if tag is _PO4:
        return 2
    if tag is _N1:
        return 3
    if tag is _N3:
        return 4
    if tag is _N4:
        return 5
    if tag is _REF:
        return 6
    if tag is _DTM:
        return 7
    if tag is _BEG:
        return 8
    if tag is _PER:
        return 9
    if tag is _ITD:
        return 10
    if tag is _TD5:
        return 11
    if tag is _CTT:
        return 12
    if tag is _CUR:
        return 13
    if tag is _FOB:
        return 14
    return _DIRECT.get(tag, -1)


def _place(st: _PO, seg: Segment, pos: int) -> Placement | None:
    """Run :data:`TABLE`'s handler for ``seg``; its placement, or None when it placed nothing.

    The handlers an 850 uses most are compiled calls with native arguments here, chosen by an
    int: through the table each was a generic call of a Python callable (~250 instructions with
    the boxing of its arguments and result), and a chain of string compares cost ~36 a compare.
    """
    code = _code(seg[0])
    if code < 0:
        entry = TABLE.get(seg[0])
        if entry is None:
            return None
        handler, spec = entry
        return spec if handler(st, seg, pos) else None
    if code == 0:
        done = _po1(st, seg, pos)
    elif code == 1:
        done = _pid(st, seg, pos)
    elif code == 2:
        done = _po4(st, seg, pos)
    elif code == 3:
        done = h_n1(st, seg, pos)
    elif code == 4:
        done = h_n3(st, seg, pos)
    elif code == 5:
        done = h_n4(st, seg, pos)
    elif code == 6:
        done = h_ref(st, seg, pos)
    elif code == 7:
        done = h_dtm(st, seg, pos)
    elif code == 8:
        done = _beg(st, seg, pos)
    elif code == 9:
        done = h_per(st, seg, pos)
    elif code == 10:
        done = h_itd(st, seg, pos)
    elif code == 11:
        done = h_td5(st, seg, pos)
    elif code == 12:
        done = h_ctt(st, seg, pos)
    elif code == 13:
        done = h_cur(st, seg, pos)
    else:
        done = h_fob(st, seg, pos)
    return _DIRECT_PLACED[code] if done else None


def _walk(segments: Sequence[Segment], st: _PO, ctx: MapContext) -> None:
    """:func:`~translators.x12.maps.context.run` over :data:`TABLE`, dispatched by :func:`_place`."""
    segs: tuple[Segment, ...] = segments if isinstance(segments, tuple) else tuple(segments)
    last = len(segs) - 1
    unplaced = 0
    for index in range(1, last):
        seg = segs[index]
        position = index + 1  # ST is position 1
        spec = _place(st, seg, position)
        if spec is None:
            ctx.unplaced(position, seg)
            unplaced += 1
        elif len(seg) > spec.quiet:
            leftovers(ctx, seg, position, spec)
    ctx.placed += max(last - 1, 0) - unplaced


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 850 (ST..SE) to a ``purchase_order`` dict.

    Args:
        segments: the transaction set, ST first and SE last.
        ctx: the run context (options, unplaced data, warnings).

    Returns:
        The document as plain data (no ``extensions`` key; see ``ctx``).

    Raises:
        RemoteSyntaxError: no BEG segment.
    """
    doc: Doc = {"lines": [], "order_number": ""}
    st = _PO(ctx, doc)
    _walk(segments, st, ctx)
    if not st.seen:
        raise missing("850", "BEG", "the purchase order number")
    finish_totals(st)
    if not st.lines:
        del doc["lines"]
    return doc


def _write_line(ctx: MapContext, line: Mapping[str, Any]) -> list[Segment]:
    out: list[Segment] = [
        b.make(
            "PO1",
            line.get("line_number"),
            line.get("quantity"),
            ctx.unit_out(line.get("unit")),
            line.get("unit_price"),
            line.get("price_basis"),
            *b.product_pairs(ctx, line.get("product") or {}),
        )
    ]
    if line.get("description"):
        out.append(b.make("PID", "F", "", "", "", line["description"]))
    if line.get("packaging"):
        out.append(b.write_po4(ctx, line["packaging"]))
    refs = line.get("references") or []
    out.extend(b.write_refs([r for r in refs if not r.get("text")]))
    out.extend(b.write_sac(a) for a in line.get("allowances_charges") or [])
    out.extend(b.write_txi(t) for t in line.get("taxes") or [])
    out.extend(b.write_dtm(d) for d in line.get("dates") or [])
    out.extend(b.write_refs([r for r in refs if r.get("text")]))
    for p in line.get("parties") or []:
        out.extend(b.write_party(p))
    for s in line.get("sublines") or []:
        out.append(
            b.make(
                "SLN",
                s.get("line_number"),
                "",
                s.get("relationship"),
                s.get("quantity"),
                ctx.unit_out(s.get("unit")),
                s.get("unit_price"),
                "",
                "",
                *b.product_pairs(ctx, s.get("product") or {}),
            )
        )
        if s.get("description"):
            out.append(b.make("PID", "F", "", "", "", s["description"]))
    return out


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``purchase_order`` dict as the body of an 850 (without ST/SE).

    Args:
        doc: the document (already validated against its model).
        ctx: the run context (partner unit and product qualifier tables).

    Returns:
        The segments from BEG to the last summary segment.
    """
    from . import values

    out: list[Segment] = [
        b.make(
            "BEG",
            doc.get("purpose"),
            doc.get("order_type"),
            doc.get("order_number"),
            doc.get("release_number"),
            values.x12_date(doc.get("order_date")),
            doc.get("contract_number"),
        )
    ]
    if doc.get("currency"):
        out.append(b.make("CUR", "BY", doc["currency"]))
    refs = doc.get("references") or []
    out.extend(b.write_refs([r for r in refs if not r.get("text")]))
    store = doc.get("store_number")
    if store and ctx.store_reference and not ctx.store_party_role:
        out.append(b.make("REF", ctx.store_reference, store))
    for c in doc.get("contacts") or []:
        out.extend(b.write_per(c))
    out.extend(b.write_txi(t) for t in doc.get("taxes") or [])
    out.extend(b.make("FOB", f) for f in doc.get("fob") or [])
    out.extend(b.write_sac(a) for a in doc.get("allowances_charges") or [])
    out.extend(b.write_itd(t) for t in doc.get("payment_terms") or [])
    out.extend(b.write_dtm(d) for d in doc.get("dates") or [])
    out.extend(b.write_carriers(doc.get("carriers") or []))
    out.extend(b.write_notes(doc.get("notes") or []))
    out.extend(b.write_refs([r for r in refs if r.get("text")]))
    for p in doc.get("parties") or []:
        out.extend(b.write_party(p))
    for line in doc.get("lines") or []:
        out.extend(_write_line(ctx, line))
    totals = doc.get("totals") or {}
    out.extend(b.write_ctt(totals))
    if totals.get("amount") is not None:
        out.append(b.make("AMT", "TT", totals["amount"]))
    out.extend(b.make("AMT", a.get("qualifier"), a.get("value")) for a in totals.get("amounts") or [])
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
