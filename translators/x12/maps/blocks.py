"""Segments many transaction sets share, read into and written from canonical dicts.

Each reader has its writer next to it so that the two stay symmetrical:
whatever a reader places, the writer renders, which is what makes
canonical -> X12 -> canonical round trips exact.  Readers build plain dicts
and leave out absent values (the models supply defaults), so map output
stays small and fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..syntax import Segment
from . import values
from .context import PRODUCT_FIELDS, MapContext, Placement, placed

Doc = dict[str, Any]

# Key order: where a reader is free to choose it, it inserts a dict's keys in sorted order. The
# gateway encodes documents with sorted keys (orjson OPT_SORT_KEYS), whose insertion sort of each
# dict's keys then does one comparison per key instead of one per pair out of order (~37
# instructions each). Documents hold the same keys and values either way.


def el(seg: Segment, index: int) -> str:
    """Element ``index`` or ``""``."""
    return seg[index] if index < len(seg) else ""


def make(tag: str, *elements: str | None) -> Segment:
    """Build a segment, dropping trailing empty elements (X12.6: they are omitted)."""
    items = ["" if e is None else e for e in elements]
    while items and not items[-1]:
        items.pop()
    return (tag, *items)


def put(target: Doc, key: str, value: Any) -> None:
    """Set ``key`` only when ``value`` carries something (not None, "", [] or {})."""
    # Type tests and a length, not ``value not in ("", [], {})``: that built a list and a dict
    # per call, and compared generically. A tuple of types, not ``str | list | dict``: compiled,
    # that union is a new types.UnionType built on every call.
    if value is None or (isinstance(value, (str, list, dict)) and not value):
        return
    target[key] = value


# -- references, dates, notes ---------------------------------------------

REF_PLACED: Final[Placement] = placed(1, 2, 3)


def ref(seg: Segment) -> Doc:
    """REF/N9/L11-style (qualifier, value, description) reference."""
    n = len(seg)
    out: Doc = {"qualifier": seg[1] if n > 1 else "", "value": seg[2] if n > 2 else ""}
    if n > 3 and seg[3]:
        out["description"] = seg[3]
    return out


def l11(seg: Segment) -> Doc:
    """L11 (value first, then qualifier, then description)."""
    out: Doc = {"qualifier": el(seg, 2), "value": el(seg, 1)}
    if len(seg) > 3 and seg[3]:
        out["description"] = seg[3]
    return out


def write_refs(refs: Sequence[Mapping[str, Any]], *, tag: str = "REF") -> list[Segment]:
    """References as REF (or N9/L11) segments; one with ``text`` becomes an N9 + MSG loop."""
    out: list[Segment] = []
    for r in refs:
        text = r.get("text") or []
        if tag == "L11":
            out.append(make("L11", r.get("value"), r.get("qualifier"), r.get("description")))
        elif text or tag == "N9":
            out.append(make("N9", r.get("qualifier"), r.get("value"), r.get("description")))
        else:
            out.append(make("REF", r.get("qualifier"), r.get("value"), r.get("description")))
        out.extend(make("MSG", t) for t in text)
    return out


DTM_PLACED: Final[Placement] = placed(1, 2, 3, 4)


def dtm(ctx: MapContext, seg: Segment, pos: int) -> Doc:
    """DTM: qualifier, date, time, time code."""
    n = len(seg)
    out: Doc = {}
    if n > 2 and seg[2]:
        date = ctx.date(seg, 2, pos)
        if date is not None:
            out["date"] = date
    out["qualifier"] = seg[1] if n > 1 else ""
    if n > 3 and seg[3]:
        time = ctx.time(seg, 3, pos)
        if time is not None:
            out["time"] = time
    if n > 4 and seg[4]:
        out["time_zone"] = seg[4]
    return out


def write_dtm(d: Mapping[str, Any]) -> Segment:
    """The DTM for one canonical date."""
    return make(
        "DTM",
        d.get("qualifier"),
        values.x12_date(d.get("date")),
        values.x12_time(d.get("time")),
        d.get("time_zone"),
    )


G62_PLACED: Final[Placement] = placed(1, 2, 3, 4, 5)


def g62(ctx: MapContext, seg: Segment, pos: int) -> Doc:
    """G62: date qualifier, date, time qualifier, time, time code."""
    out: Doc = {"qualifier": el(seg, 1) or el(seg, 3)}
    put(out, "date", ctx.date(seg, 2, pos))
    put(out, "time_qualifier", el(seg, 3))
    put(out, "time", ctx.time(seg, 4, pos))
    put(out, "time_zone", el(seg, 5))
    return out


def write_g62(d: Mapping[str, Any]) -> Segment:
    """The G62 for one canonical date."""
    qual = d.get("qualifier") if d.get("date") or not d.get("time_qualifier") else ""
    return make(
        "G62",
        qual,
        values.x12_date(d.get("date")),
        d.get("time_qualifier"),
        values.x12_time(d.get("time")),
        d.get("time_zone"),
    )


NTE_PLACED: Final[Placement] = placed(1, 2)


def nte(seg: Segment) -> Doc:
    """NTE: note reference code, text."""
    out: Doc = {"text": el(seg, 2)}
    put(out, "qualifier", el(seg, 1))
    return out


def write_notes(notes: Sequence[Mapping[str, Any]]) -> list[Segment]:
    """Notes as NTE segments."""
    return [make("NTE", n.get("qualifier"), n.get("text")) for n in notes]


# -- parties (N1 loop) -------------------------------------------------------

N1_PLACED: Final[Placement] = placed(1, 2, 3, 4)
N2_PLACED: Final[Placement] = placed(1, 2)
N3_PLACED: Final[Placement] = placed(1, 2)
N4_PLACED: Final[Placement] = placed(1, 2, 3, 4)
PER_PLACED: Final[Placement] = placed(1, 2, 3, 4, 5, 6, 7, 8)

_COMM: Final = {"TE": "phone", "FX": "fax", "EM": "email"}
_COMM_OUT = (("phone", "TE"), ("fax", "FX"), ("email", "EM"))


def n1(seg: Segment) -> Doc:
    """N1: role, name, id qualifier, id."""
    n = len(seg)
    out: Doc = {}
    if n > 4 and seg[4]:
        out["id"] = seg[4]
    if n > 3 and seg[3]:
        out["id_qualifier"] = seg[3]
    if n > 2 and seg[2]:
        out["name"] = seg[2]
    out["role"] = seg[1] if n > 1 else ""
    return out


def n2(party: Doc, seg: Segment) -> None:
    """N2: additional name lines."""
    party.setdefault("additional_names", []).extend(v for v in seg[1:3] if v)


def n3(party: Doc, seg: Segment) -> None:
    """N3: street lines."""
    # setdefault: one lookup where a get and an insert were two; a party's first N3 (nearly every
    # one) opens its address, which then has no lines to look up.
    fresh: Doc = {}
    addr: Doc = party.setdefault("address", fresh)
    lines: list[str] | None = None if addr is fresh else addr.get("lines")
    if lines is None:
        lines = addr["lines"] = []
    n = len(seg)
    if n > 1 and seg[1]:
        lines.append(seg[1])
    if n > 2 and seg[2]:
        lines.append(seg[2])


def n4(party: Doc, seg: Segment) -> None:
    """N4: city, state, postal code, country."""
    # Unrolled and typed: a loop over a tuple of (index, key) pairs is iterated generically
    # once compiled (an iterator and a boxed pair per element) and ``addr`` was Any.
    addr: Doc | None = party.get("address")
    if addr is None:
        addr = party["address"] = {}
    n = len(seg)
    if n > 1 and seg[1]:
        addr["city"] = seg[1]
    if n > 4 and seg[4]:
        addr["country"] = seg[4]
    if n > 3 and seg[3]:
        addr["postal_code"] = seg[3]
    if n > 2 and seg[2]:
        addr["state"] = seg[2]


def per(seg: Segment) -> Doc:
    """PER: contact function, name and up to three communication numbers."""
    out: Doc = {}
    n = len(seg)
    if n > 1 and seg[1]:
        out["function"] = seg[1]
    if n > 2 and seg[2]:
        out["name"] = seg[2]
    for i in range(3, 8, 2):  # PER03/05/07; a range is a native loop, a tuple literal is not
        if i >= n:
            break
        qual = seg[i]
        num = seg[i + 1] if i + 1 < n else ""
        if not qual and not num:
            continue
        key = _COMM.get(qual)
        if key is not None and key not in out:
            out[key] = num
        else:
            out.setdefault("other", []).append({"qualifier": qual, "value": num})
    return out


def write_per(c: Mapping[str, Any]) -> list[Segment]:
    """A contact as PER segments (three numbers per PER)."""
    pairs: list[tuple[str, str]] = [(q, c[k]) for k, q in _COMM_OUT if c.get(k)]
    pairs += [(o.get("qualifier", ""), o.get("value", "")) for o in c.get("other", [])]
    chunks = [pairs[i : i + 3] for i in range(0, len(pairs), 3)] or [[]]
    out: list[Segment] = []
    for n, chunk in enumerate(chunks):
        flat = [x for pair in chunk for x in pair]
        if n == 0:
            out.append(make("PER", c.get("function"), c.get("name"), *flat))
        else:
            out.append(make("PER", c.get("function"), "", *flat))
    return out


def write_party(p: Mapping[str, Any], *, ref_tag: str = "REF", contact_tag: str = "PER") -> list[Segment]:
    """A party as its N1 loop: N1, N2, N3, N4, REF, PER (X12 N1 loop order)."""
    out: list[Segment] = [make("N1", p.get("role"), p.get("name"), p.get("id_qualifier"), p.get("id"))]
    names = p.get("additional_names") or []
    out.extend(make("N2", *names[i : i + 2]) for i in range(0, len(names), 2))
    addr = p.get("address") or {}
    lines = addr.get("lines") or []
    out.extend(make("N3", *lines[i : i + 2]) for i in range(0, len(lines), 2))
    if any(addr.get(k) for k in ("city", "state", "postal_code", "country")):
        out.append(
            make("N4", addr.get("city"), addr.get("state"), addr.get("postal_code"), addr.get("country"))
        )
    out.extend(write_refs(p.get("references") or [], tag=ref_tag))
    for c in p.get("contacts") or []:
        if contact_tag == "G61":
            out.append(write_g61(c))
        else:
            out.extend(write_per(c))
    return out


G61_PLACED: Final[Placement] = placed(1, 2, 3, 4)


def g61(seg: Segment) -> Doc:
    """G61: contact function, name, one communication number."""
    out: Doc = {}
    put(out, "function", el(seg, 1))
    put(out, "name", el(seg, 2))
    qual, num = el(seg, 3), el(seg, 4)
    if qual or num:
        key = _COMM.get(qual)
        if key is not None:
            out[key] = num
        else:
            out["other"] = [{"qualifier": qual, "value": num}]
    return out


def write_g61(c: Mapping[str, Any]) -> Segment:
    """A contact as one G61 (a single number)."""
    for key, qual in _COMM_OUT:
        if c.get(key):
            return make("G61", c.get("function"), c.get("name"), qual, c[key])
    other = (c.get("other") or [{}])[0]
    return make("G61", c.get("function"), c.get("name"), other.get("qualifier"), other.get("value"))


class PartyLoop:
    """Attaches N2/N3/N4/REF/PER to the party its N1 opened.

    A map keeps one instance; ``current`` is reset by the runner's caller
    whenever a segment outside the N1 loop appears.
    """

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current: Doc | None = None


# -- products ----------------------------------------------------------------


def products(ctx: MapContext, seg: Segment, start: int, stop: int | None = None) -> Doc:
    """Qualifier/id pairs from element ``start`` on, as a ProductIds dict.

    The first id of each kind fills its field; any further or unknown one goes
    to ``other`` with its qualifier, so no identifier is lost.
    """
    out: Doc = {}
    end = len(seg) if stop is None else min(stop, len(seg))
    for i in range(start, end - 1, 2):
        value = seg[i + 1]
        qual = seg[i]
        if not value and not qual:
            continue
        name = ctx.product_field(qual)
        # ``out and``: the first id needs no lookup to know its field is free.
        if name is None or name == "other" or (out and name in out):
            out.setdefault("other", []).append({"qualifier": qual, "value": value})
        else:
            out[name] = value
    return out


def product_pairs(ctx: MapContext, product: Mapping[str, Any]) -> list[str]:
    """A ProductIds dict as a flat qualifier/id list for LIN/PO1/IT1 style segments."""
    out: list[str] = []
    for name in PRODUCT_FIELDS:
        value = product.get(name)
        if not value:
            continue
        qual = ("UK" if len(value) == 14 else "EN") if name == "gtin" else ctx.product_output[name]
        out += [qual, value]
    for o in product.get("other") or []:
        out += [o.get("qualifier", ""), o.get("value", "")]
    return out


PID_PLACED: Final[Placement] = placed(1, 5)


def pid_text(seg: Segment) -> str | None:
    """PID05 free-form description when PID01 is F (free form) or absent."""
    return el(seg, 5) or None


# -- carriers, terms, charges, totals ----------------------------------------

TD5_PLACED: Final[Placement] = placed(1, 2, 3, 4, 5, 12)
TD3_PLACED: Final[Placement] = placed(1, 3)


def td5(seg: Segment) -> Doc:
    """TD5: routing sequence, id qualifier, carrier code, mode, routing, service level."""
    # Unrolled: a loop over (index, key) pairs is iterated generically once compiled.
    out: Doc = {}
    n = len(seg)
    if n > 1 and seg[1]:
        out["routing_sequence"] = seg[1]
    if n > 2 and seg[2]:
        out["id_qualifier"] = seg[2]
    if n > 3 and seg[3]:
        out["scac"] = seg[3]
    if n > 4 and seg[4]:
        out["transport_method"] = seg[4]
    if n > 5 and seg[5]:
        out["name"] = seg[5]
    if n > 12 and seg[12]:
        out["service_level"] = seg[12]
    return out


def td3(carriers: list[Doc], seg: Segment) -> None:
    """TD3: equipment type and number, merged into the last carrier without equipment."""
    target = carriers[-1] if carriers and "equipment_type" not in carriers[-1] else None
    if target is None or "equipment_number" in target:
        target = {}
        carriers.append(target)
    put(target, "equipment_type", el(seg, 1))
    put(target, "equipment_number", el(seg, 3))


def write_carriers(carriers: Sequence[Mapping[str, Any]]) -> list[Segment]:
    """Carriers as TD5 (+ TD3 for equipment) segments."""
    out: list[Segment] = []
    for c in carriers:
        if any(
            c.get(k)
            for k in ("routing_sequence", "id_qualifier", "scac", "transport_method", "name", "service_level")
        ):
            out.append(
                make(
                    "TD5",
                    c.get("routing_sequence"),
                    c.get("id_qualifier"),
                    c.get("scac"),
                    c.get("transport_method"),
                    c.get("name"),
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    c.get("service_level"),
                )
            )
        if c.get("equipment_type") or c.get("equipment_number"):
            out.append(make("TD3", c.get("equipment_type"), "", c.get("equipment_number")))
    return out


ITD_PLACED: Final[Placement] = placed(1, 2, 3, 4, 5, 6, 7, 8, 12)


def itd(ctx: MapContext, seg: Segment, pos: int) -> Doc:
    """ITD: terms type, basis date, discount %, discount due date/days, net due date/days,
    discount amount, description.

    ITD01 type_code, 02 basis_date_code, 03 discount_percent (R), 04 discount_due_date (DT),
    05 discount_days (N0), 06 net_due_date (DT), 07 net_days (N0), 08 discount_amount (N2),
    12 description; absent, empty or invalid values are left out.
    """
    out: Doc = {}
    n = len(seg)
    # Converted in element order (an invalid value's warnings and invalid_values entries keep
    # that order), inserted in key order.
    discount_percent = ctx.dec(seg, 3, pos) if n > 3 and seg[3] else None
    discount_due_date = ctx.date(seg, 4, pos) if n > 4 and seg[4] else None
    discount_days = ctx.integer(seg, 5, pos) if n > 5 and seg[5] else None
    net_due_date = ctx.date(seg, 6, pos) if n > 6 and seg[6] else None
    net_days = ctx.integer(seg, 7, pos) if n > 7 and seg[7] else None
    discount_amount = ctx.implied(seg, 8, pos, 2) if n > 8 and seg[8] else None
    if n > 2 and seg[2]:
        out["basis_date_code"] = seg[2]
    if n > 12 and seg[12]:
        out["description"] = seg[12]
    _put_some(out, "discount_amount", discount_amount)
    _put_some(out, "discount_days", discount_days)
    _put_some(out, "discount_due_date", discount_due_date)
    _put_some(out, "discount_percent", discount_percent)
    _put_some(out, "net_days", net_days)
    _put_some(out, "net_due_date", net_due_date)
    if n > 1 and seg[1]:
        out["type_code"] = seg[1]
    return out


def _put_some(target: Doc, key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def write_itd(t: Mapping[str, Any]) -> Segment:
    """Payment terms as ITD."""

    def num(key: str) -> str:
        v = t.get(key)
        return "" if v is None else str(v)

    return make(
        "ITD",
        t.get("type_code"),
        t.get("basis_date_code"),
        t.get("discount_percent"),
        values.x12_date(t.get("discount_due_date")),
        num("discount_days"),
        values.x12_date(t.get("net_due_date")),
        num("net_days"),
        values.x12_implied(t.get("discount_amount"), 2),
        "",
        "",
        "",
        t.get("description"),
    )


SAC_PLACED: Final[Placement] = placed(1, 2, 5, 7, 15)


def sac(ctx: MapContext, seg: Segment, pos: int) -> Doc:
    """SAC: indicator, code, amount (N2), percent, description."""
    out: Doc = {"indicator": el(seg, 1)}
    put(out, "code", el(seg, 2))
    put(out, "amount", ctx.implied(seg, 5, pos, 2))
    put(out, "percent", ctx.dec(seg, 7, pos))
    put(out, "description", el(seg, 15))
    return out


def write_sac(a: Mapping[str, Any]) -> Segment:
    """An allowance/charge as SAC (SAC06 percent qualifier 'Z' is left to the partner)."""
    return make(
        "SAC",
        a.get("indicator"),
        a.get("code"),
        "",
        "",
        values.x12_implied(a.get("amount"), 2),
        "",
        a.get("percent"),
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        a.get("description"),
    )


TXI_PLACED: Final[Placement] = placed(1, 2, 3, 5)


def txi(ctx: MapContext, seg: Segment, pos: int) -> Doc:
    """TXI: tax type, amount, percent, jurisdiction code."""
    out: Doc = {"type_code": el(seg, 1)}
    put(out, "amount", ctx.dec(seg, 2, pos))
    put(out, "percent", ctx.dec(seg, 3, pos))
    put(out, "jurisdiction", el(seg, 5))
    return out


def write_txi(t: Mapping[str, Any]) -> Segment:
    """A tax as TXI."""
    return make("TXI", t.get("type_code"), t.get("amount"), t.get("percent"), "", t.get("jurisdiction"))


CTT_PLACED: Final[Placement] = placed(1, 2, 3, 4, 5, 6)


def ctt(ctx: MapContext, seg: Segment, pos: int, totals: Doc) -> None:
    """CTT: line count, hash total, weight + unit, volume + unit."""
    put(totals, "line_count", ctx.integer(seg, 1, pos))
    if len(seg) > 2:
        put(totals, "quantity", ctx.dec(seg, 2, pos))
        put(totals, "weight", ctx.dec(seg, 3, pos))
        put(totals, "weight_unit", el(seg, 4))
        put(totals, "volume", ctx.dec(seg, 5, pos))
        put(totals, "volume_unit", el(seg, 6))


def write_ctt(t: Mapping[str, Any]) -> list[Segment]:
    """Totals as CTT (only when it carries something)."""
    keys = ("line_count", "quantity", "weight", "weight_unit", "volume", "volume_unit")
    if not any(t.get(k) is not None for k in keys):
        return []
    lc = t.get("line_count")
    return [
        make(
            "CTT",
            "" if lc is None else str(lc),
            t.get("quantity"),
            t.get("weight"),
            t.get("weight_unit"),
            t.get("volume"),
            t.get("volume_unit"),
        )
    ]


AMT_PLACED: Final[Placement] = placed(1, 2)


def amt(ctx: MapContext, seg: Segment, pos: int, totals: Doc, *, total_qualifiers: tuple[str, ...]) -> None:
    """AMT: the first total-amount qualifier fills ``amount``; others go to ``amounts``."""
    value = ctx.dec(seg, 2, pos)
    if value is None:
        return
    if el(seg, 1) in total_qualifiers and "amount" not in totals:
        totals["amount"] = value
    else:
        totals.setdefault("amounts", []).append({"qualifier": el(seg, 1), "value": value})


# -- measures and packaging ----------------------------------------------------

PO4_PLACED: Final[Placement] = placed(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)


def measure(kind: str, qualifier: str, value: str | None, unit: str) -> Doc | None:
    """A Measure dict, None without a value."""
    if value is None:
        return None
    out: Doc = {"kind": kind, "value": value}
    put(out, "qualifier", qualifier)
    put(out, "unit", unit)
    return out


def po4(ctx: MapContext, seg: Segment, pos: int) -> Doc:
    """PO4: pack, size, unit, packaging code, weight, volume, dimensions, inner pack."""
    # On the 850 hot path: only look at elements that are there.
    out: Doc = {}
    n = len(seg)
    if n > 1 and seg[1]:
        out["pack"] = ctx.dec(seg, 1, pos)
    if n > 2 and seg[2]:
        out["size"] = ctx.dec(seg, 2, pos)
    if n > 3 and seg[3]:
        out["unit"] = ctx.unit(seg[3])
    if n > 4 and seg[4]:
        out["packaging_code"] = seg[4]
    if n > 5:
        ms: list[Doc] = []
        if n > 6 and seg[6]:
            w = measure("weight", seg[5], ctx.dec(seg, 6, pos), el(seg, 7))
            if w is not None:
                ms.append(w)
        if n > 8 and seg[8]:
            vol = measure("volume", "", ctx.dec(seg, 8, pos), el(seg, 9))
            if vol is not None:
                ms.append(vol)
        dim_unit = el(seg, 13)
        dims = 0
        for idx, kind in ((10, "length"), (11, "width"), (12, "height")):
            if n > idx and seg[idx]:
                dims += 1
                m = measure(kind, "", ctx.dec(seg, idx, pos), dim_unit)
                if m is not None:
                    ms.append(m)
        if ms:
            out["measures"] = ms
        if n > 14 and seg[14]:
            out["inner_pack"] = ctx.dec(seg, 14, pos)
        if dim_unit and not dims:
            ctx.leftover(pos, seg, [13])
    return out


def write_po4(ctx: MapContext, p: Mapping[str, Any]) -> Segment:
    """Packaging as PO4."""
    by_kind: dict[str, Mapping[str, Any]] = {}
    for m in p.get("measures") or []:
        by_kind.setdefault(m["kind"], m)
    w = by_kind.get("weight", {})
    v = by_kind.get("volume", {})
    dims = [by_kind.get(k, {}) for k in ("length", "width", "height")]
    dim_unit = next((d.get("unit") for d in dims if d.get("unit")), "")
    return make(
        "PO4",
        p.get("pack"),
        p.get("size"),
        ctx.unit_out(p.get("unit")),
        p.get("packaging_code"),
        w.get("qualifier"),
        w.get("value"),
        w.get("unit"),
        v.get("value"),
        v.get("unit"),
        dims[0].get("value"),
        dims[1].get("value"),
        dims[2].get("value"),
        dim_unit,
        p.get("inner_pack"),
    )


TD1_PLACED: Final[Placement] = placed(1, 2, 6, 7, 8, 9, 10)


def td1(ctx: MapContext, seg: Segment, pos: int, target: Doc) -> None:
    """TD1: packaging code, lading quantity, weight, volume into ``target``."""
    put(target, "packaging_code", el(seg, 1))
    put(target, "lading_quantity", ctx.dec(seg, 2, pos))
    ms = target.setdefault("measures", [])
    w = measure("weight", el(seg, 6), ctx.dec(seg, 7, pos), el(seg, 8))
    if w is not None:
        ms.append(w)
    v = measure("volume", "", ctx.dec(seg, 9, pos), el(seg, 10))
    if v is not None:
        ms.append(v)
    if not ms:
        del target["measures"]


def write_td1(t: Mapping[str, Any]) -> list[Segment]:
    """Lading data as TD1."""
    ms = t.get("measures") or []
    w: Mapping[str, Any] = next((m for m in ms if m["kind"] == "weight"), {})
    v: Mapping[str, Any] = next((m for m in ms if m["kind"] == "volume"), {})
    if not (t.get("packaging_code") or t.get("lading_quantity") or w or v):
        return []
    return [
        make(
            "TD1",
            t.get("packaging_code"),
            t.get("lading_quantity"),
            "",
            "",
            "",
            w.get("qualifier"),
            w.get("value"),
            w.get("unit"),
            v.get("value"),
            v.get("unit"),
        )
    ]


MEA_PLACED: Final[Placement] = placed(2, 3, 4)


def mea(ctx: MapContext, seg: Segment, pos: int) -> Doc | None:
    """MEA: qualifier, value, unit (first component of MEA04); MEA01 stays unplaced."""
    unit = el(seg, 4).split(ctx.component, 1)[0]
    kind = {
        "WT": "weight",
        "G": "weight",
        "N": "weight",
        "VOL": "volume",
        "LN": "length",
        "WD": "width",
        "HT": "height",
    }.get(el(seg, 2), "measurement")
    return measure(kind, el(seg, 2), ctx.dec(seg, 3, pos), unit)


def write_mea(m: Mapping[str, Any]) -> Segment:
    """A measure as MEA."""
    return make("MEA", "", m.get("qualifier"), m.get("value"), m.get("unit"))


# -- warehouse line items (W01/W04/W07/W12) --------------------------------------


def wproducts(ctx: MapContext, seg: Segment, upc: int, pairs: Sequence[int]) -> Doc:
    """Product ids of a warehouse line: the UPC element plus qualifier/id pairs at ``pairs``."""
    flat: list[str] = ["", "UP", el(seg, upc)] if el(seg, upc) else [""]
    for i in pairs:
        flat += [el(seg, i), el(seg, i + 1)]
    return products(ctx, tuple(flat), 1)


def wproduct_elements(ctx: MapContext, product: Mapping[str, Any], slots: int) -> tuple[str, list[str]]:
    """The UPC element and up to ``slots`` qualifier/id pairs for a warehouse line.

    Raises:
        ValueError: the product has more identifiers than the segment can carry.
    """
    rest = dict(product)
    upc = rest.pop("upc", None) or ""
    pairs = product_pairs(ctx, rest)
    if len(pairs) > 2 * slots:
        raise ValueError(f"product {product!r} has more than {slots} identifiers besides the UPC")
    return upc, pairs


W20_PLACED: Final[Placement] = placed(4, 5, 6)


def w20(ctx: MapContext, seg: Segment, pos: int) -> Doc | None:
    """W20 line weight: weight, qualifier, unit."""
    return measure("weight", el(seg, 5), ctx.dec(seg, 4, pos), el(seg, 6))


def write_w20(m: Mapping[str, Any]) -> Segment:
    """A weight measure as W20."""
    return make("W20", "", "", "", m.get("value"), m.get("qualifier"), m.get("unit"))


def wtotals(ctx: MapContext, seg: Segment, pos: int, totals: Doc, *, first: str = "quantity") -> None:
    """W03/W76 totals: quantity, weight + unit, volume + unit."""
    put(totals, first, ctx.dec(seg, 1, pos))
    put(totals, "weight", ctx.dec(seg, 2, pos))
    put(totals, "weight_unit", el(seg, 3))
    put(totals, "volume", ctx.dec(seg, 4, pos))
    put(totals, "volume_unit", el(seg, 5))


def write_wtotals(tag: str, t: Mapping[str, Any]) -> list[Segment]:
    """Totals as W03/W76."""
    keys = ("quantity", "weight", "weight_unit", "volume", "volume_unit")
    if not any(t.get(k) for k in keys):
        return []
    return [
        make(
            tag,
            t.get("quantity"),
            t.get("weight"),
            t.get("weight_unit"),
            t.get("volume"),
            t.get("volume_unit"),
        )
    ]


W27_PLACED: Final[Placement] = placed(1, 2, 3, 4, 5, 7)


def w27(seg: Segment) -> Doc:
    """W27 carrier detail: mode, SCAC, routing, payment method, equipment."""
    out: Doc = {}
    put(out, "transport_method", el(seg, 1))
    put(out, "scac", el(seg, 2))
    put(out, "name", el(seg, 3))
    put(out, "payment_method", el(seg, 4))
    put(out, "equipment_type", el(seg, 5))
    put(out, "equipment_number", el(seg, 7))
    return out


def write_w27(c: Mapping[str, Any]) -> Segment:
    """A carrier as W27."""
    return make(
        "W27",
        c.get("transport_method"),
        c.get("scac"),
        c.get("name"),
        c.get("payment_method"),
        c.get("equipment_type"),
        "",
        c.get("equipment_number"),
    )
