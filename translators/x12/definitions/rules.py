"""Element rules of each defined segment, flattened for the clean-segment test of the hot path.

Strategy: nearly every segment a partner sends is valid, and a valid segment needs no message, no
location and no list.  :meth:`SegmentRule.clean` answers "has this segment no element finding at
all?" from per-tag tables built once at import, without allocating; only a segment it cannot
vouch for goes to the checker's full ``_element_findings``, which names every problem.

Invariant: the test is conservative.  It may send a valid segment to the full check (a value in a
rare but legal form, such as an exponent or a 6-digit date), which only costs time; it never
passes a segment the full check would report, so findings do not depend on it.  The cases below
mirror ``checker._element_findings`` rule by rule (X12.6 types, lengths, closed code lists,
syntax notes, control characters).
"""

from __future__ import annotations

from typing import Final

from ..maps.values import iso_time, memo_iso_date
from ..syntax import Segment
from .segments import CODES, CONDITIONS, SEGMENTS, ElementDef

# Element kinds, as ints so the per-element dispatch is a native comparison once compiled.
_TEXT: Final = 0  # AN, ID: measured by length
_DATE: Final = 1  # DT
_TIME: Final = 2  # TM
_DECIMAL: Final = 3  # R
_INTEGER: Final = 4  # Nn
_COMPOSITE: Final = 5  # C: only presence (and control characters) is checked

# Syntax-note kinds (X12.6 relational conditions), see segments.RELATIONS.
_PAIRED: Final = 0
_REQUIRED: Final = 1
_EXCLUSION: Final = 2
_CONDITIONAL: Final = 3
_LIST: Final = 4
_OTHER: Final = 5

_NOTE_KINDS: Final = {"P": _PAIRED, "R": _REQUIRED, "E": _EXCLUSION, "C": _CONDITIONAL, "L": _LIST}


def _kind(type_: str) -> int:
    if type_ == "DT":
        return _DATE
    if type_ == "TM":
        return _TIME
    if type_ == "R":
        return _DECIMAL
    if type_[0] == "N":
        return _INTEGER
    if type_ == "C":
        return _COMPOSITE
    return _TEXT


def _decimal_size(value: str) -> int:
    """X12.6 length of an R value in its plain forms (``-``, digits, one ``.``); -1 for any other.

    The sign and the point do not count.  Exponents and malformed values give -1: the full check
    judges those.  A native loop once compiled (``str.partition`` built three strings a price).
    """
    n = len(value)
    i = 1 if n and ord(value[0]) == 45 else 0  # "-"
    digits = 0
    point = False
    while i < n:
        c = ord(value[i])
        if 48 <= c <= 57:
            digits += 1
        elif c == 46 and not point:  # "."
            point = True
        else:
            return -1
        i += 1
    return digits if digits else -1


class ElementRule:
    """One element of a segment definition, as the clean test reads it."""

    def __init__(self, definition: ElementDef) -> None:
        self.kind: Final[int] = _kind(definition.type)
        self.min: Final[int] = definition.min
        self.max: Final[int] = definition.max
        self.codes: Final[frozenset[str] | None] = (
            CODES[definition.codes] if definition.codes is not None else None
        )


class NoteRule:
    """One syntax note: its kind and the element positions it relates."""

    def __init__(self, kind: str, positions: tuple[int, ...]) -> None:
        self.kind: Final[int] = _NOTE_KINDS.get(kind, _OTHER)
        self.positions: Final[tuple[int, ...]] = positions
        self.first: Final[int] = positions[0]
        self.count: Final[int] = len(positions)


class SegmentRule:
    """Every element rule and syntax note of one segment tag."""

    def __init__(
        self, definitions: tuple[ElementDef, ...], notes: tuple[tuple[str, tuple[int, ...]], ...]
    ) -> None:
        self.size: Final[int] = len(definitions)
        self.elements: Final[tuple[ElementRule, ...]] = tuple(ElementRule(d) for d in definitions)
        self.mandatory: Final[tuple[int, ...]] = tuple(
            i for i, d in enumerate(definitions, start=1) if d.required == "M"
        )
        self.notes: Final[tuple[NoteRule, ...]] = tuple(
            NoteRule(kind, positions) for kind, positions in notes
        )

    def clean(self, seg: Segment, plain: bool) -> bool:
        """True when the full check would find nothing in ``seg``; False when it may.

        ``seg`` must carry this rule's tag (so the tag itself holds no control character);
        ``plain`` says its elements are known to be printable ASCII (``TransactionSet.plain``),
        which spares the per-character tests.
        """
        n = len(seg)
        size = self.size
        top = n
        if n - 1 > size:
            for i in range(size + 1, n):
                if seg[i]:
                    return False  # AK4:3, too many elements
            top = size + 1
        for i in self.mandatory:
            if i >= n or not seg[i]:
                return False
        elements = self.elements
        for i in range(1, top):
            value = seg[i]
            if not value:
                continue
            if not plain and not (value.isprintable() and value.isascii()):
                # Every control character is unprintable; so are some legal latin-1 characters,
                # which the full check then passes.  Non-ASCII text goes there too, so that
                # isdigit() below means ASCII digits.
                return False
            rule = elements[i - 1]
            kind = rule.kind
            length = len(value)
            if kind == _TEXT:
                pass
            elif kind == _COMPOSITE:
                continue
            elif kind == _DATE:
                # CCYYMMDD only: a 6-digit date is legal before 004010 alone, the full check knows.
                if length != 8:
                    return False
                # Memoised with the maps, which convert the same value next.
                if not memo_iso_date(value):
                    return False
                continue
            elif kind == _TIME:
                if iso_time(value) is None:
                    return False
                continue
            elif kind == _DECIMAL:
                if not value.isdigit():
                    length = _decimal_size(value)
                    if length < 0:
                        return False
            elif not value.isdigit():
                return False  # a signed Nn value: the full check measures it
            if length < rule.min or length > rule.max:
                return False
            codes = rule.codes
            if codes is not None and value not in codes:
                return False
        for note in self.notes:
            present = 0
            first = False
            for p in note.positions:
                if p < n and seg[p]:
                    present += 1
                    if p == note.first:
                        first = True
            kind = note.kind
            if kind == _EXCLUSION:
                if present > 1:
                    return False
            elif present == note.count:
                continue
            elif kind == _PAIRED:
                if present:
                    return False
            elif kind == _REQUIRED:
                if not present:
                    return False
            elif kind == _CONDITIONAL:
                if first:
                    return False
            elif kind == _LIST and first and present == 1:
                return False
        return True


#: tag -> its rule, for every segment with element definitions.
RULES: Final[dict[str, SegmentRule]] = {
    tag: SegmentRule(definitions, CONDITIONS.get(tag, ())) for tag, definitions in SEGMENTS.items()
}

__all__ = ["RULES", "ElementRule", "NoteRule", "SegmentRule"]
