"""X12 syntax primitives shared by the reader, the writer, the envelope checks and the maps.

Representation (chosen for speed, see the X12 issue): a segment is a plain
``tuple[str, ...]`` whose index 0 is the segment tag and index *i* is element
*i* in X12 numbering, so ``seg[1]`` is BEG01.  Values are kept exactly as read
(decoded as latin-1, so every byte maps to one character and back): ISA
padding is not stripped, a composite stays one string joined with the
component separator and a repeated element stays joined with the repetition
separator.  :func:`components` and :func:`repetitions` split them on demand.

The reader produces the events below; ``NEED_DATA`` means "feed me more
bytes" (h11's sentinel of the same name).  Events are frozen, slotted
dataclasses and hold no reference to the reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

Segment = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The separators of one interchange, as announced by its ISA.

    Attributes:
        element: data element separator (the 4th byte of the ISA).
        segment: segment terminator (the byte after ISA16; may be several
            latin-1 characters when a partner uses a multi-byte UTF-8 symbol).
        segment_suffix: CR/LF characters written after every terminator
            (not data; kept so the writer can reproduce the file).
        component: component element separator (ISA16).
        repetition: repetition separator (ISA11 from version 00402 on), or
            None when ISA11 is the standards identifier ``U``.
    """

    element: str = "*"
    segment: str = "~"
    segment_suffix: str = ""
    component: str = ">"
    repetition: str | None = None

    def __post_init__(self) -> None:
        # Each separator must be distinct or the syntax is ambiguous.
        seps = [self.element, self.segment, self.component]
        if self.repetition is not None:
            seps.append(self.repetition)
        if any(not s for s in seps) or len(set(seps)) != len(seps):
            raise ValueError(f"ambiguous X12 delimiters: {seps!r}")


def components(value: str, delimiters: Delimiters) -> list[str]:
    """Split a composite element value into its components.

    Args:
        value: the element as stored in a :data:`Segment`.
        delimiters: the interchange's delimiters.

    Returns:
        The components, at least one (an empty string for an empty value).
    """
    return value.split(delimiters.component)


def repetitions(value: str, delimiters: Delimiters) -> list[str]:
    """Split a repeated element value into its occurrences.

    Args:
        value: the element as stored in a :data:`Segment`.
        delimiters: the interchange's delimiters.

    Returns:
        The occurrences; ``[value]`` when the interchange has no repetition
        separator (before version 00402).
    """
    if delimiters.repetition is None:
        return [value]
    return value.split(delimiters.repetition)


def element(segment: Segment, position: int) -> str:
    """Element ``position`` (X12 numbering) of ``segment``, ``""`` when absent.

    Args:
        segment: the segment tuple.
        position: 1 for the first element.

    Returns:
        The raw value, or the empty string when the segment is shorter.
    """
    return segment[position] if position < len(segment) else ""


class _NeedData:
    """Type of :data:`NEED_DATA`; a singleton."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


#: Returned by ``X12Reader.next_event`` when it needs more bytes.
NEED_DATA: Final = _NeedData()


@dataclass(frozen=True, slots=True)
class InterchangeStart:
    """An ISA header.

    Attributes:
        segment: the ISA exactly as read (padding kept; ISA16 at index 16).
        delimiters: the separators this ISA announces.
        byte_offset: offset of the ``I`` of ``ISA`` in the stream.
        leading: bytes skipped before the ISA (BOM, whitespace), as latin-1.
    """

    segment: Segment
    delimiters: Delimiters
    byte_offset: int = 0
    leading: str = ""

    @property
    def control(self) -> str:
        """ISA13, the interchange control number (stripped)."""
        return element(self.segment, 13).strip()

    @property
    def sender_qualifier(self) -> str:
        """ISA05."""
        return element(self.segment, 5).strip()

    @property
    def sender_id(self) -> str:
        """ISA06 without padding."""
        return element(self.segment, 6).strip()

    @property
    def receiver_qualifier(self) -> str:
        """ISA07."""
        return element(self.segment, 7).strip()

    @property
    def receiver_id(self) -> str:
        """ISA08 without padding."""
        return element(self.segment, 8).strip()

    @property
    def date(self) -> str:
        """ISA09, YYMMDD."""
        return element(self.segment, 9).strip()

    @property
    def time(self) -> str:
        """ISA10, HHMM."""
        return element(self.segment, 10).strip()

    @property
    def version(self) -> str:
        """ISA12, the interchange control version (``00401``, ``00501``...)."""
        return element(self.segment, 12).strip()

    @property
    def ack_requested(self) -> bool:
        """ISA14 = 1: the sender asks for a TA1."""
        return element(self.segment, 14).strip() == "1"

    @property
    def test_indicator(self) -> bool:
        """ISA15 = T: test data."""
        return element(self.segment, 15).strip() == "T"


@dataclass(frozen=True, slots=True)
class GroupStart:
    """A GS header.

    Attributes:
        segment: the GS as read.
        interchange_control: ISA13 of the enclosing interchange.
        byte_offset: offset of the GS in the stream.
    """

    segment: Segment
    interchange_control: str
    byte_offset: int = 0

    @property
    def functional_id(self) -> str:
        """GS01, the functional identifier code (``PO``, ``IN``...)."""
        return element(self.segment, 1)

    @property
    def application_sender(self) -> str:
        """GS02."""
        return element(self.segment, 2)

    @property
    def application_receiver(self) -> str:
        """GS03."""
        return element(self.segment, 3)

    @property
    def date(self) -> str:
        """GS04, CCYYMMDD (YYMMDD before 004010)."""
        return element(self.segment, 4)

    @property
    def time(self) -> str:
        """GS05, HHMM[SS[dd]]."""
        return element(self.segment, 5)

    @property
    def control(self) -> str:
        """GS06, the group control number."""
        return element(self.segment, 6)

    @property
    def agency(self) -> str:
        """GS07, ``X`` for ASC X12."""
        return element(self.segment, 7)

    @property
    def version(self) -> str:
        """GS08, version/release/industry identifier (``004010``, ``005010X231``)."""
        return element(self.segment, 8)


@dataclass(frozen=True, slots=True)
class TransactionSet:
    """One complete transaction set, ST to SE inclusive.

    Attributes:
        set_id: ST01 (``850``).
        control: ST02.
        segments: every segment from ST to SE, both included.
        version: GS08 of the enclosing group.
        group_control: GS06 of the enclosing group.
        interchange_control: ISA13 of the enclosing interchange.
        delimiters: the interchange's delimiters.
        implementation_ref: ST03 (005010 implementation guide), or None.
        functional_id: GS01 of the enclosing group.
        index: position of this set in its group, from 1.
        byte_offset: offset of the ST in the stream.
        plain: the reader saw only printable ASCII in every element (no control character, no
            byte above 0x7F), so validation may skip its per-character checks.  False unless the
            reader vouches for it; not part of the set's value (no repr, no comparison).
    """

    set_id: str
    control: str
    segments: tuple[Segment, ...]
    version: str
    group_control: str
    interchange_control: str
    delimiters: Delimiters
    implementation_ref: str | None = None
    functional_id: str = ""
    index: int = 1
    byte_offset: int = 0
    plain: bool = field(default=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class TechnicalAck:
    """A TA1 segment found directly inside an interchange (outside any group).

    Attributes:
        segment: the TA1 as read.
        interchange_control: ISA13 of the interchange carrying it.
        byte_offset: offset of the TA1 in the stream.
    """

    segment: Segment
    interchange_control: str
    byte_offset: int = 0


@dataclass(frozen=True, slots=True)
class GroupEnd:
    """A GE trailer.

    Attributes:
        segment: the GE as read.
        group_control: GS06 of the group it closes.
        transaction_count: how many ST..SE the reader saw in the group.
        byte_offset: offset of the GE in the stream.
    """

    segment: Segment
    group_control: str
    transaction_count: int = 0
    byte_offset: int = 0


@dataclass(frozen=True, slots=True)
class InterchangeEnd:
    """An IEA trailer.

    Attributes:
        segment: the IEA as read.
        interchange_control: ISA13 of the interchange it closes.
        group_count: how many GS..GE the reader saw in the interchange.
        byte_offset: offset of the IEA in the stream.
    """

    segment: Segment
    interchange_control: str
    group_count: int = 0
    byte_offset: int = 0


Event = InterchangeStart | GroupStart | TransactionSet | TechnicalAck | GroupEnd | InterchangeEnd

__all__ = [
    "NEED_DATA",
    "Delimiters",
    "Event",
    "GroupEnd",
    "GroupStart",
    "InterchangeEnd",
    "InterchangeStart",
    "Segment",
    "TechnicalAck",
    "TransactionSet",
    "components",
    "element",
    "repetitions",
]
