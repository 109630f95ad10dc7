"""Text ↔ canonical value conversion for flat-file and XML fields.

Canonical values follow :mod:`translators.models.common`: decimals are
strings without exponent (``"12.50"``; trailing zeros kept, so nothing the
partner wrote is rounded), dates ISO ``YYYY-MM-DD``, times ``HH:MM`` (or
``HH:MM:SS`` when the format has seconds).  Both directions raise
``ValueError`` with a plain reason; readers turn it into a
``RemoteSyntaxError``, writers into a ``LocalTranslationError``.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal, InvalidOperation
from typing import Literal

FieldType = Literal["string", "decimal", "integer", "date", "time"]


def parse_value(
    raw: str, kind: FieldType, *, fmt: str | None = None, implied_decimals: int = 0
) -> str | int | None:
    """Convert a field's text to its canonical value.

    Args:
        raw: the text as found (padding included).
        kind: the field type.
        fmt: ``strftime`` format for dates and times.
        implied_decimals: digits after an implied decimal point.

    Returns:
        The value, or None for a blank field.

    Raises:
        ValueError: the text is not a valid value of that type.
    """
    text = raw.strip()
    if not text:
        return None
    if kind == "string":
        return text
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if kind == "decimal":
        return _parse_decimal(text, implied_decimals)
    if fmt is None:
        raise ValueError(f"{kind} field without a format")
    try:
        parsed = _dt.datetime.strptime(text, fmt)
    except ValueError:
        raise ValueError(f"{text!r} does not match the {kind} format {fmt!r}") from None
    if kind == "date":
        return parsed.date().isoformat()
    return parsed.strftime("%H:%M:%S" if "%S" in fmt else "%H:%M")


def _parse_decimal(text: str, implied_decimals: int) -> str:
    negative = False
    if text.endswith("-"):  # COBOL-style trailing sign
        negative, text = True, text[:-1].strip()
    elif text.endswith("+"):
        text = text[:-1].strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{text!r} is not a number")
    if implied_decimals and "." not in text:
        number = number.scaleb(-implied_decimals)
    if negative:
        number = -number
    return format(number, "f")


def format_value(
    value: object,
    kind: FieldType,
    *,
    fmt: str | None = None,
    implied_decimals: int = 0,
    decimals: int | None = None,
) -> str:
    """Convert a canonical value to a field's text (before padding).

    Args:
        value: the canonical value (not None).
        kind: the field type.
        fmt: ``strftime`` format for dates and times.
        implied_decimals: digits after an implied point (the point is not written).
        decimals: digits written after an explicit point.

    Returns:
        The text.

    Raises:
        ValueError: the value cannot be written in that type.
    """
    if kind == "string":
        return str(value)
    if kind == "integer":
        try:
            return str(int(str(value)))
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
    if kind == "decimal":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if implied_decimals:
            scaled = number.scaleb(implied_decimals)
            if scaled != scaled.to_integral_value():
                raise ValueError(f"{value} has more than {implied_decimals} decimals")
            return str(int(scaled))
        if decimals is not None:
            quantized = number.quantize(Decimal(1).scaleb(-decimals))
            if quantized != number:
                raise ValueError(f"{value} has more than {decimals} decimals")
            return format(quantized, "f")
        return format(number, "f")
    if fmt is None:
        raise ValueError(f"{kind} field without a format")
    try:
        if kind == "date":
            day = _dt.date.fromisoformat(str(value))
            # glibc's %Y drops leading zeros before year 1000; the partner's field does not
            return day.strftime(fmt.replace("%Y", f"{day.year:04d}"))
        return _dt.time.fromisoformat(str(value)).strftime(fmt)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO {kind}") from None


__all__ = ["FieldType", "format_value", "parse_value"]
