"""Field-level checks of the EDIFACT service segments UNB, UNG, UNH and their trailers.

Strategy: each service segment has a small table (element position, name,
status, components with representation and length) transcribed from
ISO 9735 syntax versions 3 and 4; where the versions differ the table takes
the wider rule so a valid file of either version passes.  :func:`check`
walks a segment against its table and returns every problem at once, each a
:class:`RemoteSyntaxError` placed by element and component with the CONTRL
0085 code as ``ack_hint``:

* 13 missing (mandatory element or component empty),
* 16 too many constituents (elements or components),
* 37 invalid type of character(s) (``n`` with non-digits, ``a`` with digits),
* 39 data element too long, 40 data element too short,
* 12 invalid value (a date or time that does not exist, a bad flag).

Counts and references (UNT/UNE/UNZ against their headers: 28 and 29) are
checked by the reader, which holds the state.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from ..errors import Location, RemoteSyntaxError, Scope
from .syntax import Repeated, Segment


@dataclass(frozen=True, slots=True)
class Field:
    """One simple element or component: name, status, representation, lengths."""

    name: str
    mandatory: bool
    kind: str  # "a", "n" or "an" (ISO 9735 representation)
    min_len: int
    max_len: int


@dataclass(frozen=True, slots=True)
class Slot:
    """One data element position of a segment (simple when one component)."""

    name: str
    mandatory: bool
    parts: tuple[Field, ...]


def _s(name: str, mandatory: bool, kind: str, lo: int, hi: int) -> Slot:
    return Slot(name, mandatory, (Field(name, True, kind, lo, hi),))


def _c(name: str, mandatory: bool, *parts: Field) -> Slot:
    return Slot(name, mandatory, parts)


def _f(name: str, mandatory: bool, kind: str, lo: int, hi: int) -> Field:
    return Field(name, mandatory, kind, lo, hi)


# ISO 9735 UNB (v3 clause 7 / v4 part 1 annex B).  Version 4 widened the
# routing fields to an..35 and added S001 0080/0133; date 0017 is n6 in v3
# and n8 (CCYYMMDD) in v4.
UNB: tuple[Slot, ...] = (
    _c(
        "S001",
        True,
        _f("0001", True, "a", 4, 4),
        _f("0002", True, "n", 1, 1),
        _f("0080", False, "an", 1, 6),
        _f("0133", False, "an", 1, 3),
    ),
    _c(
        "S002",
        True,
        _f("0004", True, "an", 1, 35),
        _f("0007", False, "an", 1, 4),
        _f("0008", False, "an", 1, 35),
        _f("0042", False, "an", 1, 35),
    ),
    _c(
        "S003",
        True,
        _f("0010", True, "an", 1, 35),
        _f("0007", False, "an", 1, 4),
        _f("0014", False, "an", 1, 35),
        _f("0046", False, "an", 1, 35),
    ),
    _c("S004", True, _f("0017", True, "n", 6, 8), _f("0019", True, "n", 4, 4)),
    _s("0020", True, "an", 1, 14),
    _c("S005", False, _f("0022", True, "an", 1, 14), _f("0025", False, "an", 2, 2)),
    _s("0026", False, "an", 1, 14),
    _s("0029", False, "a", 1, 1),
    _s("0031", False, "n", 1, 1),
    _s("0032", False, "an", 1, 35),
    _s("0035", False, "n", 1, 1),
)

# UNG: in syntax 4 S004, 0051 and S008 became conditional; take that.
UNG: tuple[Slot, ...] = (
    _s("0038", True, "an", 1, 6),
    _c("S006", True, _f("0040", True, "an", 1, 35), _f("0007", False, "an", 1, 4)),
    _c("S007", True, _f("0044", True, "an", 1, 35), _f("0007", False, "an", 1, 4)),
    _c("S004", False, _f("0017", True, "n", 6, 8), _f("0019", True, "n", 4, 4)),
    _s("0048", True, "an", 1, 14),
    _s("0051", False, "an", 1, 3),
    _c(
        "S008",
        False,
        _f("0052", True, "an", 1, 3),
        _f("0054", True, "an", 1, 3),
        _f("0057", False, "an", 1, 6),
    ),
    _s("0058", False, "an", 1, 14),
)

# UNH: S009 0065/0052/0054/0051 are mandatory in every version; v4 adds
# S009 0110/0113 and the S016-S018 subset/guideline/scenario composites.
UNH: tuple[Slot, ...] = (
    _s("0062", True, "an", 1, 14),
    _c(
        "S009",
        True,
        _f("0065", True, "an", 1, 6),
        _f("0052", True, "an", 1, 3),
        _f("0054", True, "an", 1, 3),
        _f("0051", True, "an", 1, 3),
        _f("0057", False, "an", 1, 6),
        _f("0110", False, "an", 1, 6),
        _f("0113", False, "an", 1, 6),
    ),
    _s("0068", False, "an", 1, 35),
    _c("S010", False, _f("0070", True, "n", 1, 2), _f("0073", False, "a", 1, 1)),
    _c(
        "S016",
        False,
        _f("0115", True, "an", 1, 14),
        _f("0116", False, "an", 1, 3),
        _f("0118", False, "an", 1, 3),
        _f("0051", False, "an", 1, 3),
    ),
    _c(
        "S017",
        False,
        _f("0121", True, "an", 1, 14),
        _f("0122", False, "an", 1, 3),
        _f("0124", False, "an", 1, 3),
        _f("0051", False, "an", 1, 3),
    ),
    _c(
        "S018",
        False,
        _f("0127", True, "an", 1, 14),
        _f("0128", False, "an", 1, 3),
        _f("0130", False, "an", 1, 3),
        _f("0051", False, "an", 1, 3),
    ),
)

# 0074 is n..6 in v3 and n..10 in v4.
UNT: tuple[Slot, ...] = (_s("0074", True, "n", 1, 10), _s("0062", True, "an", 1, 14))
UNE: tuple[Slot, ...] = (_s("0060", True, "n", 1, 6), _s("0048", True, "an", 1, 14))
UNZ: tuple[Slot, ...] = (_s("0036", True, "n", 1, 6), _s("0020", True, "an", 1, 14))

TABLES: dict[str, tuple[Slot, ...]] = {"UNB": UNB, "UNG": UNG, "UNH": UNH, "UNT": UNT, "UNE": UNE, "UNZ": UNZ}


_Reporter = Callable[[str, str, "int | None", "int | None"], None]


def _kind_ok(kind: str, value: str) -> bool:
    if kind == "n":
        return value.isdecimal() and value.isascii()
    if kind == "a":
        return not any(ch.isdecimal() for ch in value)
    return True


def plain_unh(seg: Segment) -> bool:
    """True for the common well-formed UNH (0062 and a 4-5 part S009 within limits): no check needed."""
    if len(seg) != 3:
        return False
    ref, s009 = seg[1], seg[2]
    if type(ref) is not str or not 0 < len(ref) <= 14 or type(s009) is not tuple or not 4 <= len(s009) <= 5:
        return False
    a, b, c, d = s009[0], s009[1], s009[2], s009[3]
    return (
        0 < len(a) <= 6
        and 0 < len(b) <= 3
        and 0 < len(c) <= 3
        and 0 < len(d) <= 3
        and (len(s009) == 4 or 0 < len(s009[4]) <= 6)
    )


def plain_unt(seg: Segment) -> bool:
    """True for a well-formed UNT (n..10 count, an..14 reference): no check needed."""
    if len(seg) != 3:
        return False
    count, ref = seg[1], seg[2]
    return (
        type(count) is str
        and 0 < len(count) <= 10
        and count.isdecimal()
        and count.isascii()
        and type(ref) is str
        and 0 < len(ref) <= 14
    )


def check(seg: Segment, scope: Scope, where: Location) -> list[RemoteSyntaxError]:
    """Check one service segment against its ISO 9735 table.

    Args:
        seg: the segment (tag at index 0).
        scope: what an error here rejects (``interchange`` for UNB/UNZ...).
        where: the location of the segment; element/component are filled in.

    Returns:
        Every problem found, in element order (empty when the segment is fine).
    """
    tag = seg[0]
    table = TABLES.get(tag if isinstance(tag, str) else "")
    if table is None:
        return []
    errors: list[RemoteSyntaxError] = []

    def err(text: str, code: str, pos: int | None, comp: int | None) -> None:
        loc = Location(
            interchange=where.interchange,
            group=where.group,
            transaction=where.transaction,
            segment_tag=where.segment_tag,
            segment_position=where.segment_position,
            element_position=pos,
            component_position=comp,
            byte_offset=where.byte_offset,
        )
        errors.append(
            RemoteSyntaxError(f"{where.segment_tag}: {text}", ack_hint=code, scope=scope, location=loc)
        )

    if len(seg) - 1 > len(table):
        err(f"{len(seg) - 1} data elements, at most {len(table)} allowed", "16", len(table) + 1, None)
    for pos, slot in enumerate(table, start=1):
        raw = seg[pos] if pos < len(seg) else ""
        if isinstance(raw, Repeated):
            err(f"{slot.name} may not repeat", "35", pos, None)
            continue
        parts = raw if isinstance(raw, tuple) else (raw,)
        if all(p == "" for p in parts):
            if slot.mandatory:
                err(f"mandatory {slot.name} is missing", "13", pos, None)
            continue
        if len(parts) > len(slot.parts):
            err(
                f"{slot.name} has {len(parts)} components, at most {len(slot.parts)}",
                "16",
                pos,
                len(slot.parts) + 1,
            )
        composite = len(slot.parts) > 1
        for j, spec in enumerate(slot.parts):
            value = parts[j] if j < len(parts) else ""
            comp = j + 1 if composite else None
            if value == "":
                if spec.mandatory:
                    err(f"mandatory {spec.name} is missing", "13", pos, comp)
                continue
            if not _kind_ok(spec.kind, value):
                err(f"{spec.name} {value!r} is not of type {spec.kind}", "37", pos, comp)
            elif len(value) > spec.max_len:
                err(f"{spec.name} {value!r} is longer than {spec.max_len}", "39", pos, comp)
            elif len(value) < spec.min_len:
                err(f"{spec.name} {value!r} is shorter than {spec.min_len}", "40", pos, comp)
    if tag in ("UNB", "UNG") and not errors:
        _check_datetime(seg, 4, err)
    return errors


@lru_cache(maxsize=256)
def _valid_date(date: str) -> bool:
    # strptime is slow and every file repeats the same few dates: memoised.
    try:
        _dt.datetime.strptime(date, "%y%m%d" if len(date) == 6 else "%Y%m%d")
    except ValueError:
        return False
    return True


def _check_datetime(seg: Segment, pos: int, report: _Reporter) -> None:
    """Validate S004 date (YYMMDD or CCYYMMDD) and time (HHMM) as real values."""
    if pos >= len(seg):
        return
    value = seg[pos]
    parts = value if isinstance(value, tuple) else (value,) if isinstance(value, str) else ()
    date = parts[0] if parts else ""
    time = parts[1] if len(parts) > 1 else ""
    if date and not _valid_date(date):
        report(f"date 0017 {date!r} is not a valid date", "12", pos, 1)
    if time:
        hh, mm = int(time[:2]), int(time[2:4])
        if hh > 23 or mm > 59:
            report(f"time 0019 {time!r} is not a valid time", "12", pos, 2)


__all__ = ["TABLES", "Field", "Slot", "check", "plain_unh", "plain_unt"]
