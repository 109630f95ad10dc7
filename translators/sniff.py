"""Cheap looks at raw bytes: which standard, and is the envelope complete.

Used by intake before a file is taken (a rename alone does not mean complete:
an interrupted ``rsync --partial`` renames a truncated file to its final
name) and by :func:`translators.translate` to pick a reader.  Nothing here
validates; the readers do that.
"""

from __future__ import annotations

from dataclasses import dataclass

from .result import Standard

_BOM = b"\xef\xbb\xbf"
_LEADING = b" \t\r\n\x00"
_TRAILING = b" \t\r\n\x00\x1a"  # Ctrl-Z ends some DOS-era files


def _body(data: bytes) -> bytes:
    if data.startswith(_BOM):
        data = data[3:]
    return data.lstrip(_LEADING)


def detect_standard(data: bytes) -> Standard | None:
    """Guess the standard from the first bytes; None when nothing fits."""
    head = _body(data[:4096])
    if head.startswith(b"ISA"):
        return "x12"
    if head.startswith((b"UNA", b"UNB")):
        return "edifact"
    if head.startswith(b"<"):
        return "xml"
    return None


def envelope_complete(data: bytes) -> bool | None:
    """Whether an EDI file holds whole envelopes up to its last byte.

    Returns True when the file ends with the trailer of its last interchange
    (X12 IEA / EDIFACT UNZ) and there are as many trailers as headers; False
    when an envelope is open; None when the file is not X12 or EDIFACT (the
    caller then relies on names, markers and a quiet period).
    """
    standard = detect_standard(data)
    if standard not in ("x12", "edifact"):
        return None
    body = _body(data)
    if standard == "x12":
        sep = body[3:4]  # ISA: the element separator is the fourth byte
        header, trailer = b"ISA" + sep, b"IEA" + sep
    else:
        sep = body[4:5] if body.startswith(b"UNA") else b"+"
        header, trailer = b"UNB" + sep, b"UNZ" + sep
    if not sep:
        return False
    headers, trailers = body.count(header), body.count(trailer)
    if trailers == 0 or headers > trailers:
        return False
    return _ends_with_trailer(body[-512:], trailer, sep)


@dataclass(frozen=True, slots=True)
class EnvelopeIds:
    """Sender and receiver of the first interchange in a file."""

    standard: Standard
    sender_qualifier: str | None
    sender_id: str
    receiver_qualifier: str | None
    receiver_id: str


def peek_ids(data: bytes) -> EnvelopeIds | None:
    """Sender/receiver IDs from the first ISA or UNB, without validating anything.

    Used to find the partner before choosing its translation options; None
    when the header cannot be read.
    """
    standard = detect_standard(data)
    head = _body(data[:4096]).decode("latin-1")
    if standard == "x12" and len(head) > 4:
        # ISA05-08 are the 5th to 8th elements after the tag.
        parts = head.split(head[3], 9)
        if len(parts) < 9:
            return None
        return EnvelopeIds("x12", parts[5].strip(), parts[6].strip(), parts[7].strip(), parts[8].strip())
    if standard == "edifact":
        comp, elem, rel, seg = ":", "+", "?", "'"
        if head.startswith("UNA") and len(head) >= 9:
            comp, elem, rel, seg = head[3], head[4], head[6], head[8]
        start = head.find("UNB")
        if start < 0:
            return None
        end = head.find(seg, start)
        unb = head[start : end if end > 0 else None]
        # Release characters are rare in party IDs; drop them rather than mis-split.
        fields = unb.replace(rel + elem, "").split(elem)
        if len(fields) < 4:
            return None
        s = fields[2].split(comp)
        r = fields[3].split(comp)
        return EnvelopeIds(
            "edifact",
            s[1] if len(s) > 1 and s[1] else None,
            s[0],
            r[1] if len(r) > 1 and r[1] else None,
            r[0],
        )
    return None


def _ends_with_trailer(tail: bytes, trailer: bytes, sep: bytes) -> bool:
    pos = tail.rfind(trailer)
    if pos < 0:
        return False
    rest = tail[pos + len(trailer) :].rstrip(_TRAILING)
    if rest and not rest[-1:].isalnum():
        rest = rest[:-1].rstrip(_TRAILING)  # the segment terminator
    parts = rest.split(sep)
    # IEA01/UNZ 0036 count, then IEA02/UNZ 0020 reference, nothing after.
    return len(parts) == 2 and parts[0].strip().isdigit() and 0 < len(parts[1].strip()) <= 14


__all__ = ["EnvelopeIds", "detect_standard", "envelope_complete", "peek_ids"]
