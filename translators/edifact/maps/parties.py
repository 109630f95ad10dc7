"""Party segments: NAD and the CTA/COM contacts that qualify it.

NAD (UNTDID D96A): 3035 party qualifier + C082 (3039 id, 1131 code list,
3055 agency) + C058 unstructured name and address + C080 party name (five
3036 lines, 3045 format) + C059 street (four 3042 lines) + 3164 city +
3229 (C819 in D01B) country sub-entity + 3251 postal code + 3207 country.
The party qualifier and the 3055 agency are kept as sent (``role``,
``id_qualifier``), as the canonical model asks.
"""

from __future__ import annotations

from typing import Any, Final

from ..syntax import Segment
from .builder import Builder, place, push
from .segment import comp, el, parts

_NAD_PLACED: Final = {1: 1, 2: 1, 4: 5, 5: 4, 6: 1, 7: 1, 8: 1, 9: 1}


def party(b: Builder, seg: Segment) -> dict[str, Any]:
    """A canonical Party dict from NAD (the 3055 agency becomes ``id_qualifier``)."""
    used_c058 = False
    c = parts(seg, 2)
    n = len(c)
    pid = c[0] if n else ""
    agency = c[2] if n > 2 else ""
    # one dict literal in the usual shape (an id and its agency): no inserts after it is built
    p: dict[str, Any]
    if pid and agency:
        p = {"role": el(seg, 1), "id": pid, "id_qualifier": agency}
    else:
        p = {"role": el(seg, 1)}
        if pid:
            p["id"] = pid
        if agency:
            p["id_qualifier"] = agency
    if len(seg) <= 3:
        # the common EANCOM "NAD+BY+GLN::9": only the code list qualifier
        # (1131) or trailing C082 parts could be unplaced
        if (n > 1 and c[1]) or (n > 3 and any(c[3:])):
            b.keep(seg)
        return p
    if len(seg) > 3:
        names = seg[4] if len(seg) > 4 else ""
        if not names and seg[3]:
            # Only C058 (unstructured name and address lines) was sent: its
            # lines are the name, as in the D93A corpus invoices.
            names = seg[3]
            used_c058 = True
        if type(names) is str:
            if names:
                p["name"] = names
        elif isinstance(names, tuple):
            # C080: five 3036 lines, then 3045 format code (left unplaced).
            name_lines = list(names[:5])
            while name_lines and not name_lines[-1]:
                name_lines.pop()
            if name_lines:
                p["name"] = name_lines[0]
                if len(name_lines) > 1:
                    p["additional_names"] = name_lines[1:]
        street = [comp(seg, 5, j) for j in range(4)]
        while street and not street[-1]:
            street.pop()
        city = el(seg, 6)
        state = comp(seg, 7, 0)
        postal = el(seg, 8)
        country = el(seg, 9)
        if street or city or state or postal or country:
            addr: dict[str, Any] = {"lines": street}
            if city:
                addr["city"] = city
            if state:
                addr["state"] = state
            if postal:
                addr["postal_code"] = postal
            if country:
                addr["country"] = country
            p["address"] = addr
    used = dict(_NAD_PLACED)
    if used_c058:
        used[3] = 5
    used[2] = 1 if not agency else 3
    if comp(seg, 2, 1):
        used[2] = 1  # 1131 code list qualifier present: keep the segment
    place(b, seg, used)
    return p


def nad_header(b: Builder, seg: Segment) -> bool:
    """NAD in the header: a document party; RFF/CTA/COM that follow qualify it."""
    p = party(b, seg)
    push(b.doc, "parties", p)
    b.target = p
    b.target_kind = "NAD"
    return True


def nad_line(b: Builder, seg: Segment) -> bool:
    """NAD inside a line group: a line party."""
    if b.line is None:
        return False
    p = party(b, seg)
    push(b.line, "parties", p)
    b.target = p
    b.target_kind = "NAD"
    return True


def cta(b: Builder, seg: Segment) -> bool:
    """CTA after NAD: a contact of that party (3139 function, C056 3412 name)."""
    if b.target_kind not in ("NAD", "CTA") or b.target is None:
        return False
    p = b.state.get("party") if b.target_kind == "CTA" else b.target
    if p is None:
        return False
    c: dict[str, Any] = {}
    if el(seg, 1):
        c["function"] = el(seg, 1)
    if comp(seg, 2, 1):
        c["name"] = comp(seg, 2, 1)
    push(p, "contacts", c)
    b.state["party"] = p
    b.target = c
    b.target_kind = "CTA"
    place(b, seg, _CTA_NAME_USED if not comp(seg, 2, 0) else _CTA_FUNCTION_USED)
    return True


#: what :func:`cta` places: the function and the C056 name, or only the function when the
#: 3413 contact identifier is sent (read-only)
_CTA_NAME_USED: Final = {1: 1, 2: 2}
_CTA_FUNCTION_USED: Final = {1: 1, 2: 0}


#: COM 3155 channel -> Contact field (UNTDID 3155: TE telephone, FX fax, EM e-mail).
_CHANNELS: Final = {"TE": "phone", "FX": "fax", "EM": "email"}


def com(b: Builder, seg: Segment) -> bool:
    """COM after CTA: a communication number of that contact."""
    if b.target_kind != "CTA" or b.target is None:
        return False
    number = comp(seg, 1, 0)
    channel = comp(seg, 1, 1)
    field = _CHANNELS.get(channel)
    c = b.target
    if field is not None and field not in c:
        c[field] = number
    else:
        push(c, "other", {"qualifier": channel, "value": number})
    place(b, seg, _COM_USED)
    return True


_COM_USED: Final = {1: 2}


# -- references and dates -----------------------------------------------------


__all__ = ["com", "cta", "nad_header", "nad_line", "party"]
