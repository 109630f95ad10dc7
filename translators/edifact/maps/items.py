"""Line item segments: LIN, PIA, IMD, QTY, PRI and the product identifiers.

Item numbers (C212 7140 + 7143 type) fill the canonical ``ProductIds``
slots through :data:`~.builder.PRODUCT_ID_SLOTS` (partner-adjustable with
the ``product_id_types`` and ``product_id_preference`` map options).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..syntax import Segment
from .builder import Builder, Handler, beyond, place, push
from .segment import comp, el, parts


def held_code(codes: list[str], slot: str) -> str | None:
    """The 7143 code that filled ``slot`` of the open line's product, None while it is empty.

    ``codes`` is :attr:`Builder.slot_codes`: slot, code, slot, code... (at most the five slots of
    ProductIds): a list of two made per line where a dict cost about four times as much.
    """
    for i in range(0, len(codes) - 1, 2):
        if codes[i] == slot:
            return codes[i + 1]
    return None


def add_product_id(b: Builder, product: dict[str, Any], code: str, value: str) -> None:
    """Place one item number in ProductIds, resolving slot conflicts by preference."""
    if not value:
        return
    slot = b.slots.get(code, "other")
    if slot != "other":
        codes = b.slot_codes
        held = held_code(codes, slot)
        if held is None:
            product[slot] = value
            codes.append(slot)
            codes.append(code)
            return
        pref = b.preference
        rank_new = pref.index(code) if code in pref else len(pref)
        rank_old = pref.index(held) if held in pref else len(pref)
        if rank_new < rank_old:
            push(product, "other", {"qualifier": held, "value": product[slot]})
            product[slot] = value
            for i in range(0, len(codes) - 1, 2):
                if codes[i] == slot:
                    codes[i + 1] = code
            return
    push(product, "other", {"qualifier": code, "value": value})


def open_line(b: Builder, seg: Segment, lines_key: str = "lines") -> dict[str, Any]:
    """LIN: open a line item (1082 line number, C212 item number)."""
    product: dict[str, Any] = {}
    n = len(seg)
    number = seg[1] if n > 1 else ""
    if type(number) is not str:
        number = el(seg, 1)
    # one dict literal where the number is there (the usual case): no insert after it is built
    line: dict[str, Any] = {"product": product, "line_number": number} if number else {"product": product}
    c = seg[3] if n > 3 else ()
    if type(c) is not tuple:
        c = parts(seg, 3)
    value = c[0] if c else ""
    code = c[1] if len(c) > 1 else ""
    slot = b.slots.get(code, "other") if value else "other"
    if slot != "other":
        # the line's first item number takes its slot: what add_product_id does, without a
        # lookup in the codes just emptied
        product[slot] = value
        b.slot_codes = [slot, code]
    else:
        b.slot_codes = []
        add_product_id(b, product, code, value)
    # typed: compiled, a native append instead of a generic method call on Any
    lines: list[dict[str, Any]] | None = b.doc.get(lines_key)
    if lines is None:
        lines = b.doc[lines_key] = []
    lines.append(line)
    b.line = line
    b.target = line
    b.target_kind = "LIN"
    b.scope = "line"
    return line


#: what :func:`pia` places ({element: components used}), built once (read-only)
_PIA_USED_ID: Final = {1: 1, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2}
_PIA_USED: Final = {1: 0, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2}
_IMD_USED: Final = {1: 1, 3: 5}
_PRI_USED: Final = {1: 2}


def pia(b: Builder, seg: Segment) -> bool:
    """PIA: up to five additional item numbers (C212 7140:7143) for the open line."""
    line = b.line
    if line is None:
        return False
    if len(seg) == 3:
        # hot path, the usual "PIA+1+SKU:SA" / "PIA+5+...": one item number and
        # nothing beyond what is placed (same result as the general code below)
        f = seg[1]
        e = seg[2]
        if type(e) is tuple and len(e) == 2 and type(f) is str and f in ("1", "5"):
            value, code = e
            if value:
                slot = b.slots.get(code, "other")
                product: dict[str, Any] = line["product"]
                codes = b.slot_codes
                if slot != "other" and held_code(codes, slot) is None:
                    product[slot] = value
                    codes.append(slot)
                    codes.append(code)
                else:
                    add_product_id(b, product, code, value)
            b.target_kind = "PIA"
            return True
    product = line["product"]
    for i in range(2, min(len(seg), 7)):
        e = seg[i]
        # comp(seg, i, 1), comp(seg, i, 0) without the calls for the usual shapes (hot path)
        if type(e) is tuple:
            add_product_id(b, product, e[1] if len(e) > 1 else "", e[0] if e else "")
        elif type(e) is str:
            add_product_id(b, product, "", e)
        else:
            add_product_id(b, product, comp(seg, i, 1), comp(seg, i, 0))
    # 4347 '1' (additional id) and '5' (product id) carry no further meaning
    # here; other functions (substitution...) are kept.
    place(b, seg, _PIA_USED_ID if el(seg, 1) in ("1", "5") else _PIA_USED)
    b.target_kind = "PIA"
    return True


def imd(b: Builder, seg: Segment) -> bool:
    """IMD: free-form description (C273 7008, two parts joined) for the open line."""
    line = b.line
    if line is None or "description" in line:
        return False
    if len(seg) == 4:
        # hot path, "IMD+F++:::TEXT[:TEXT]": nothing beyond the placed parts
        f, e2, e = seg[1], seg[2], seg[3]
        # type(...) is str first: compiled, the comparisons are then native string compares
        if (
            type(e) is tuple
            and 4 <= len(e) <= 5
            and type(e2) is str
            and e2 == ""
            and type(f) is str
            and f in ("", "F")
            and not (e[0] or e[1] or e[2])
        ):
            text = e[3] + e[4] if len(e) == 5 else e[3]
            if not text:
                return False
            line["description"] = text
            b.target_kind = "IMD"
            return True
    text = comp(seg, 3, 3) + comp(seg, 3, 4)
    if not text:
        return False
    line["description"] = text
    # 7077 'F' free-form is the only format the writer produces; others kept.
    if _imd_extra(seg) or beyond(seg, _IMD_USED):
        b.keep(seg)
    b.target_kind = "IMD"
    return True


def _imd_extra(seg: Segment) -> bool:
    return (
        el(seg, 1) not in ("", "F")
        or bool(el(seg, 2))
        or bool(comp(seg, 3, 0) or comp(seg, 3, 1) or comp(seg, 3, 2))
    )


_QTY_USED: Final = {1: 3}


def qty_named(b: Builder, seg: Segment, names: dict[str, tuple[str, str]]) -> bool:
    """QTY in a line: ``names`` 6063 qualifiers fill (quantity field, unit field)."""
    line = b.line
    if line is None:
        return False
    c = seg[1] if len(seg) > 1 else ""
    if type(c) is not tuple:
        c = parts(seg, 1)
    n = len(c)
    spec = names.get(c[0]) if n else None
    if spec is None or spec[0] in line:
        return False
    line[spec[0]] = b.decimal(c[1] if n > 1 else "")
    if n > 2 and c[2]:
        units = b.unit_codes
        line[spec[1]] = units.get(c[2], c[2]) if units else c[2]
    if (n > 3 and any(c[3:])) or (len(seg) > 2 and beyond(seg, _QTY_USED)):
        b.keep(seg)
    b.target_kind = "QTY"
    return True


def qty(named: Mapping[str, tuple[str, str]]) -> Handler:
    """QTY in a line: ``named`` 6063 qualifiers fill (quantity field, unit field)."""

    names = dict(named)  # a dict, not a Mapping: native lookups once compiled

    def handler(b: Builder, seg: Segment) -> bool:
        return qty_named(b, seg, names)

    return handler


#: PRI 5125 qualifiers that give the unit price, best first (AAA net
#: calculation price, INV invoice price (D93A), AAB gross, CAL calculation).
UNIT_PRICE_QUALIFIERS: Final = ("AAA", "INV", "AAB", "CAL")


def pri(b: Builder, seg: Segment) -> bool:
    """PRI: unit price; a 5125 qualifier other than AAA is kept as ``price_basis``."""
    line = b.line
    if line is None or "unit_price" in line:
        return False
    if len(seg) == 2 and type(seg[1]) is tuple and len(seg[1]) == 2:
        # hot path, "PRI+AAA:9.95": nothing beyond the placed parts
        basis, price = seg[1]
        if not price:
            return False
        line["unit_price"] = b.decimal(price)
        if basis != "AAA":
            line["price_basis"] = basis
        b.target_kind = "PRI"
        return True
    price = comp(seg, 1, 1)
    if not price:
        return False
    line["unit_price"] = b.decimal(price)
    # 5125 'AAA' (calculation net) is the EANCOM default the writer uses when
    # no basis is given; any other qualifier is kept as the price basis.
    basis = comp(seg, 1, 0)
    if basis != "AAA":
        line["price_basis"] = basis
    place(b, seg, _PRI_USED)
    b.target_kind = "PRI"
    return True


__all__ = [
    "UNIT_PRICE_QUALIFIERS",
    "add_product_id",
    "held_code",
    "imd",
    "open_line",
    "pia",
    "pri",
    "qty",
    "qty_named",
]
