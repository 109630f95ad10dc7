"""Element value conversions between X12 data types and canonical JSON values.

X12 data types (X12.6 "data element types"): ``DT`` dates are CCYYMMDD
(YYMMDD before version 004010 and in ISA), ``TM`` times HHMM[SS[d..]],
``R`` decimals carry an explicit optional point (".5", "5." and "-5" are
all legal), ``Nn`` numbers have *n* implied decimal places (TDS01 "28566"
with N2 is 285.66).  Canonical values are ISO dates, ``HH:MM[:SS]`` times and
plain decimal strings, so these helpers are the only place that knows both.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

_DIGITS = re.compile(r"[0-9]+")

#: Two-digit years below this belong to the 2000s.  X12 itself gives no
#: century for YYMMDD (X12.6 leaves it to trading partners); a sliding window
#: like this one is the common convention.
CENTURY_PIVOT = 70

DateFormat = str  # "CCYYMMDD" | "YYMMDD" | "MMDDYY" | "MMDDCCYY" | "DDMMCCYY"
DATE_FORMATS = ("CCYYMMDD", "YYMMDD", "MMDDYY", "MMDDCCYY", "DDMMCCYY")


def ascii_digits(value: str) -> bool:
    """True when ``value`` is one or more ASCII digits (``str.isdigit`` alone also takes ``²`` and
    other scripts' digits).

    ``value.isdigit() and value.isascii()`` in one native loop once compiled: ``isascii`` has no
    compiled form, and its generic method call cost ~210 instructions, ten times this loop over
    a quantity's few digits.
    """
    if not value:
        return False
    for i in range(len(value)):
        c = ord(value[i])
        if c < 48 or c > 57:
            return False
    return True


def canonical_decimal(value: str) -> bool:
    """``-?[0-9]+(\\.[0-9]+)?`` (what :func:`decimal` returns), without the regex.

    A native loop once compiled: a fullmatch of the pattern was a generic method call, ~2.2k
    instructions for a price.
    """
    n = len(value)
    i = 1 if n and ord(value[0]) == 45 else 0  # "-"
    start = i
    while i < n and 48 <= ord(value[i]) <= 57:
        i += 1
    if i == start:
        return False
    if i == n:
        return True
    if ord(value[i]) != 46:  # "."
        return False
    i += 1
    point = i
    while i < n and 48 <= ord(value[i]) <= 57:
        i += 1
    return i == n and i > point


def _valid_ymd(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return day <= (29 if leap else 28)
    return day <= (30 if month in (4, 6, 9, 11) else 31)


def _number(value: str, start: int, stop: int) -> int:
    # value[start:stop] as an int, the caller having checked its ASCII digits: a native loop once
    # compiled, where a slice and int() built two objects per field.
    result = 0
    for i in range(start, stop):
        result = result * 10 + ord(value[i]) - 48
    return result


def iso_date(value: str, fmt: DateFormat | None = None) -> str | None:
    """Convert an X12 DT value to an ISO date.

    Args:
        value: the element as sent.
        fmt: a partner's deviating format (one of :data:`DATE_FORMATS`);
            None reads CCYYMMDD or YYMMDD by length, as X12 does.

    Returns:
        ``YYYY-MM-DD``, or None when the value is empty or not a real date.
    """
    if not ascii_digits(value):
        return None
    n = len(value)
    # Offsets of the year (and its width), the month and the day in ``value``.
    if fmt in (None, "CCYYMMDD", "YYMMDD"):
        if n == 8:
            y, width, m, d = 0, 4, 4, 6
        elif n == 6:
            y, width, m, d = 0, 2, 2, 4
        else:
            return None
    elif fmt == "MMDDYY" and n == 6:
        y, width, m, d = 4, 2, 0, 2
    elif fmt == "MMDDCCYY" and n == 8:
        y, width, m, d = 4, 4, 0, 2
    elif fmt == "DDMMCCYY" and n == 8:
        y, width, m, d = 4, 4, 2, 0
    else:
        return None
    year = _number(value, y, y + width)
    if width == 2:
        year += 2000 if year < CENTURY_PIVOT else 1900
    month = _number(value, m, m + 2)
    day = _number(value, d, d + 2)
    if not _valid_ymd(year, month, day):
        return None
    if y == 0 and width == 4:
        return f"{value[:4]}-{value[4:6]}-{value[6:8]}"
    return f"{year:04d}-{value[m : m + 2]}-{value[d : d + 2]}"


#: :func:`memo_iso_date` by value: a partner's dates repeat from set to set, and the validation
#: and the map both convert each one. Bounded: cleared when full.
_ISO_DATES: Final[dict[str, str]] = {}
_ISO_DATES_LIMIT: Final = 4096


def memo_iso_date(value: str) -> str:
    """``iso_date(value)`` in X12's own formats (CCYYMMDD, YYMMDD), "" when not a date; memoised.

    "" rather than None, so that one lookup tells a hit from a miss, invalid values included.
    """
    iso = _ISO_DATES.get(value)
    if iso is None:
        iso = iso_date(value) or ""
        if len(_ISO_DATES) >= _ISO_DATES_LIMIT:
            _ISO_DATES.clear()
        _ISO_DATES[value] = iso
    return iso


def x12_date(value: str | None, *, digits: int = 8) -> str:
    """Render an ISO date as X12 DT (CCYYMMDD, or YYMMDD when ``digits`` is 6)."""
    if not value:
        return ""
    compact = value.replace("-", "")
    return compact[2:] if digits == 6 else compact


def partner_date(ccyymmdd: str, fmt: DateFormat) -> str:
    """Rewrite a CCYYMMDD value in a partner's deviating date format (see :data:`DATE_FORMATS`)."""
    if len(ccyymmdd) != 8 or not ccyymmdd.isdigit():
        return ccyymmdd
    y, m, d = ccyymmdd[:4], ccyymmdd[4:6], ccyymmdd[6:]
    return {
        "YYMMDD": y[2:] + m + d,
        "MMDDYY": m + d + y[2:],
        "MMDDCCYY": m + d + y,
        "DDMMCCYY": d + m + y,
    }.get(fmt, ccyymmdd)


def iso_time(value: str) -> str | None:
    """Convert an X12 TM value (HHMM, HHMMSS, HHMMSSd..) to ``HH:MM[:SS[.d]]``.

    Returns:
        The ISO time, or None when empty or not a valid time of day.
    """
    n = len(value)
    if n < 4 or not value.isascii() or not value.isdigit() or int(value[:2]) > 23 or int(value[2:4]) > 59:
        return None
    if n == 4:
        return f"{value[:2]}:{value[2:4]}"
    if n < 6 or int(value[4:6]) > 59:
        return None
    if n == 6:
        return f"{value[:2]}:{value[2:4]}:{value[4:6]}"
    return f"{value[:2]}:{value[2:4]}:{value[4:6]}.{value[6:]}"


def x12_time(value: str | None) -> str:
    """Render ``HH:MM[:SS[.d]]`` as X12 TM."""
    return value.replace(":", "").replace(".", "") if value else ""


def decimal(value: str) -> str | None:
    """Normalise an X12 R value to a canonical decimal string.

    Args:
        value: the element as sent (".5", "5.", "+5", "-0.50" ...).

    Returns:
        The number as ``-?\\d+(\\.\\d+)?`` text, keeping the sender's
        significant digits; None when empty or not a number.
    """
    if not value:
        return None
    if canonical_decimal(value):
        return value
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    text = format(number, "f")
    if text.endswith("."):
        text = text[:-1]
    return text if canonical_decimal(text) else None


def implied(value: str, places: int) -> str | None:
    """Read an X12 Nn value (``places`` implied decimals) as a decimal string.

    Returns:
        "285.66" for ("28566", 2); None when empty or not an integer.
    """
    if not value:
        return None
    sign = ""
    digits = value
    if digits[0] in "+-":
        sign = "-" if digits[0] == "-" else ""
        digits = digits[1:]
    if not _DIGITS.fullmatch(digits):
        return None
    if places == 0:
        return sign + (digits.lstrip("0") or "0")
    digits = digits.rjust(places + 1, "0")
    whole = digits[:-places].lstrip("0") or "0"
    return f"{sign}{whole}.{digits[-places:]}"


def x12_implied(value: str | None, places: int) -> str:
    """Render a decimal string as an X12 Nn value with ``places`` implied decimals.

    Raises:
        ValueError: the value has more decimals than the type can carry.
    """
    if value is None or value == "":
        return ""
    number = Decimal(value).scaleb(places)
    if number != number.to_integral_value():
        raise ValueError(f"{value} has more than {places} decimal places")
    return str(int(number))


def integer(value: str) -> int | None:
    """An X12 N0 value as an int, None when empty or not numeric."""
    if not value:
        return None
    n = len(value)
    if n <= 18:
        # Plain ASCII digits (nearly every N0 value) summed by a native loop once compiled:
        # int() parsed them for ~450 instructions. Anything else (a sign, blanks, other scripts'
        # digits, a longer number) is int()'s to judge, as before.
        number = 0
        for i in range(n):
            c = ord(value[i])
            if c < 48 or c > 57:
                break
            number = number * 10 + c - 48
        else:
            return number
    try:
        return int(value)
    except ValueError:
        return None


__all__ = [
    "CENTURY_PIVOT",
    "DATE_FORMATS",
    "ascii_digits",
    "canonical_decimal",
    "decimal",
    "implied",
    "integer",
    "iso_date",
    "iso_time",
    "memo_iso_date",
    "partner_date",
    "x12_date",
    "x12_implied",
    "x12_time",
]
