"""Value conversions shared by the EDIFACT business maps.

EDIFACT carries dates as digits plus a *format qualifier* (UNTDID 2379) and
decimals with whichever decimal mark the UNA string announced (ISO 9735-1
clause 7: comma or point).  The canonical documents want ISO 8601 strings
(a date and a separate time of day) and decimal strings with ``.``; both
directions live here so the inbound and outbound maps cannot drift apart.

Invariants:
* Conversions never raise on partner data: a value we cannot read gives
  None and the caller keeps the segment verbatim with a warning, because a
  partner's odd date is no reason to lose the whole order.
* Nothing here allocates more than the result strings (hot path of ORDERS).
"""

from __future__ import annotations

from functools import lru_cache

#: 2379 codes read as a calendar date and/or a time of day, with their length.
#: 102 CCYYMMDD, 203 CCYYMMDDHHMM, 204 CCYYMMDDHHMMSS, 101 YYMMDD,
#: 201 YYMMDDHHMM, 401 HHMM; 718 CCYYMMDD-CCYYMMDD is a period (see
#: :func:`edi_period_to_iso`).
DATE_FORMATS: dict[str, int] = {"102": 8, "203": 12, "204": 14, "101": 6, "201": 10, "401": 4}


def _valid_ymd(text: str) -> bool:
    # Month/day ranges only: enough to refuse "19999715" (a real corpus value)
    # without dragging calendar rules onto the hot path.
    if len(text) != 8 or not text.isdigit():
        return False
    month = int(text[4:6])
    day = int(text[6:8])
    return 1 <= month <= 12 and 1 <= day <= 31


def _valid_hm(text: str) -> bool:
    return text.isdigit() and int(text[:2]) <= 24 and int(text[2:4]) <= 59


def _century(yy: str) -> str:
    # Two-digit years (2379 codes 101/201) use the usual pivot: 00-49 -> 20xx.
    return ("20" if yy < "50" else "19") + yy


@lru_cache(maxsize=4096)
def edi_date_to_iso(value: str, fmt: str) -> tuple[str | None, str | None] | None:
    """Convert a DTM C507 value to an ISO 8601 date and time of day.

    Args:
        value: the C507 2380 value.
        fmt: the C507 2379 format qualifier.

    Returns:
        ``(YYYY-MM-DD or None, HH:MM[:SS] or None)``; None when the value does
        not fit the format or the format is not one of :data:`DATE_FORMATS`.
        Cached (bounded): an interchange repeats the same few dates in every
        message.
    """
    size = DATE_FORMATS.get(fmt)
    if size is None or len(value) != size or not value.isdigit():
        return None
    if fmt == "401":
        return (None, f"{value[:2]}:{value[2:]}") if _valid_hm(value) else None
    if fmt in ("101", "201"):
        value = _century(value[:2]) + value[2:]
    ymd = value[:8]
    if not _valid_ymd(ymd):
        return None
    day = f"{ymd[:4]}-{ymd[4:6]}-{ymd[6:8]}"
    rest = value[8:]
    if not rest:
        return day, None
    if not _valid_hm(rest):
        return None
    if len(rest) == 4:
        return day, f"{rest[:2]}:{rest[2:]}"
    return day, f"{rest[:2]}:{rest[2:4]}:{rest[4:]}"


def edi_period_to_iso(value: str) -> str | None:
    """Convert a 2379 code 718 period ``CCYYMMDD-CCYYMMDD`` to an ISO 8601 interval.

    Returns:
        ``YYYY-MM-DD/YYYY-MM-DD``, or None when the value is not such a period.
    """
    start, sep, end = value.partition("-")
    if not sep or not _valid_ymd(start) or not _valid_ymd(end):
        return None
    return f"{start[:4]}-{start[4:6]}-{start[6:]}/{end[:4]}-{end[4:6]}-{end[6:]}"


def iso_to_edi_date(date: str | None, time: str | None) -> tuple[str, str]:
    """Render an ISO 8601 date and optional time of day as a DTM C507 pair.

    Args:
        date: ``YYYY-MM-DD`` or None (time only).
        time: ``HH:MM``, ``HH:MM:SS`` (fractions dropped: C507 has none) or None.

    Returns:
        ``(2380 value, 2379 format qualifier)``: 102, 203, 204 or 401.

    Raises:
        ValueError: neither a date nor a time, or not ISO shaped.
    """
    day = date.replace("-", "") if date else ""
    clock = time.split(".", 1)[0].replace(":", "") if time else ""
    text = day + clock
    if not text.isdigit() or (day and len(day) != 8):
        raise ValueError(f"not an ISO 8601 date/time: {date!r} {time!r}")
    if not day:
        return clock[:4], "401"
    if not clock:
        return day, "102"
    if len(clock) == 4:
        return text, "203"
    return text, "204"


def iso_period_to_edi(period: str) -> str:
    """Render an ISO interval ``YYYY-MM-DD/YYYY-MM-DD`` as a 718 value.

    Raises:
        ValueError: not such an interval.
    """
    start, sep, end = period.partition("/")
    value = f"{start.replace('-', '')}-{end.replace('-', '')}"
    if not sep or edi_period_to_iso(value) is None:
        raise ValueError(f"not an ISO 8601 date interval: {period!r}")
    return value


def edi_decimal(value: str, mark: str) -> str:
    """Return an EDIFACT numeric value with ``.`` as the decimal mark.

    ISO 9735-1 clause 7 allows either mark whatever UNA says, so both are
    accepted; a leading mark gains a zero (``,5`` is ``0.5``) and a trailing
    one is dropped (``5.`` is ``5``) so the value fits the canonical pattern.
    """
    if mark != "." or "," in value:
        value = value.replace(",", ".")
    if value[-1:] == ".":
        value = value[:-1]
    if value[:1] == ".":
        return "0" + value
    if value[:2] == "-.":
        return "-0" + value[1:]
    return value


def outbound_decimal(value: str, mark: str) -> str:
    """A canonical ``.`` decimal string rendered with the interchange's decimal mark."""
    return value.replace(".", mark) if mark != "." else value


__all__ = [
    "DATE_FORMATS",
    "edi_date_to_iso",
    "edi_decimal",
    "edi_period_to_iso",
    "iso_period_to_edi",
    "iso_to_edi_date",
    "outbound_decimal",
]
