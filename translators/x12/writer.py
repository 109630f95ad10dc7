"""X12 writer: events, segments or syntax models back to bytes.

Strategy: rendering is the exact inverse of :mod:`translators.x12.reader`
for what the syntax layer keeps: each segment is its elements joined with
the element separator, followed by the terminator and the CR/LF suffix of
the interchange; ISA values are written as stored (padding included).  So
reading a file and writing its events again with the same delimiters gives
the same bytes, except for layout the reader drops (indentation, line
wrapping inside segments, blank lines after the last IEA).

:func:`write_interchange` builds a new outbound interchange (ISA/GS/.../GE/IEA)
around transaction sets produced by the maps; it fills control numbers and
counts itself so the envelope is always consistent, and refuses values that
contain a delimiter (:class:`~translators.errors.LocalTranslationError`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..errors import LocalTranslationError, Location
from ..options import ControlNumbers
from .syntax import (
    Delimiters,
    Event,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Segment,
    TechnicalAck,
    TransactionSet,
)

if TYPE_CHECKING:
    from .syntax_model import SyntaxInterchange

#: GS01 functional identifier for the transaction sets we exchange (X12 code list 479).
FUNCTIONAL_IDS: dict[str, str] = {
    "204": "SM",
    "210": "IM",
    "214": "QM",
    "322": "SO",
    "810": "IN",
    "820": "RA",
    "830": "PS",
    "846": "IB",
    "850": "PO",
    "855": "PR",
    "856": "SH",
    "860": "PC",
    "865": "CA",
    "940": "OW",
    "943": "AR",
    "944": "RE",
    "945": "SW",
    "990": "GF",
    "997": "FA",
    "999": "FA",
}


def render_segment(segment: Segment, delimiters: Delimiters) -> str:
    """One segment as text, terminator and suffix included.

    Args:
        segment: the tuple (tag first).
        delimiters: the interchange's delimiters.

    Returns:
        The segment text (latin-1 characters).
    """
    return delimiters.element.join(segment) + delimiters.segment + delimiters.segment_suffix


def render_segments(segments: Iterable[Segment], delimiters: Delimiters) -> str:
    """Several segments as text, each with terminator and suffix."""
    end = delimiters.segment + delimiters.segment_suffix
    separator = delimiters.element
    # separator.join on a str is a native call once compiled (the bound method was a generic
    # call per segment), and one join by the terminator spares a concatenation per segment.
    rendered = [separator.join(seg) for seg in segments]
    return end.join(rendered) + end if rendered else ""


def encode(text: str) -> bytes:
    """Encode rendered text back to bytes (latin-1 is the reader's decoding).

    Raises:
        LocalTranslationError: the text holds a character outside latin-1.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalTranslationError(
            f"character {exc.object[exc.start : exc.end]!r} cannot be written as one byte"
        ) from exc


class X12Writer:
    """Renders reader events back to bytes (the reverse direction of :class:`X12Reader`).

    The writer takes its delimiters from each :class:`InterchangeStart` it is
    sent, so a mailbag is written with each interchange's own separators.
    Synthetic trailers (the reader's empty-segment marker for a missing
    SE/GE/IEA) are not written.
    """

    def __init__(self, delimiters: Delimiters | None = None) -> None:
        self._delims = delimiters or Delimiters()

    def send(self, event: Event | SyntaxInterchange) -> bytes:
        """Render one event, or a whole syntax-layer interchange.

        Args:
            event: any reader event, or a :class:`SyntaxInterchange` model.

        Returns:
            Its bytes.

        Raises:
            LocalTranslationError: a value cannot be encoded.
        """
        if isinstance(event, TransactionSet):
            return encode(render_segments(event.segments, event.delimiters))
        from .syntax_model import SyntaxInterchange, render_interchange  # the model module imports this one

        if isinstance(event, SyntaxInterchange):
            self._delims = event.delimiters.to_delimiters()
            return render_interchange(event)
        if isinstance(event, InterchangeStart):
            self._delims = event.delimiters
            return encode(event.leading + render_segment(event.segment, event.delimiters))
        if isinstance(event, GroupStart | TechnicalAck | GroupEnd | InterchangeEnd):
            if not event.segment:
                return b""
            return encode(render_segment(event.segment, self._delims))
        raise LocalTranslationError(f"not an X12 event: {event!r}")


def _check_values(segment: Segment, delimiters: Delimiters, index: int) -> None:
    forbidden = [delimiters.element, delimiters.segment]
    if delimiters.repetition is not None:
        forbidden.append(delimiters.repetition)
    for position, value in enumerate(segment):
        for sep in forbidden:
            if sep in value:
                raise LocalTranslationError(
                    f"value {value!r} contains the delimiter {sep!r}",
                    location=Location(
                        segment_tag=segment[0], segment_position=index, element_position=position
                    ),
                )


def _yymmdd(now: _dt.datetime) -> str:
    # Same text as now.strftime("%y%m%d"), without strftime's cost (it runs for every ack).
    return f"{now.year % 100:02d}{now.month:02d}{now.day:02d}"


def _ccyymmdd(now: _dt.datetime) -> str:
    # Same text as now.strftime("%Y%m%d"); strftime does not zero-pad years before 1000.
    if now.year < 1000:
        return now.strftime("%Y%m%d")
    return f"{now.year:04d}{now.month:02d}{now.day:02d}"


def _hhmm(now: _dt.datetime) -> str:
    # Same text as now.strftime("%H%M").
    return f"{now.hour:02d}{now.minute:02d}"


def _pad(value: str, width: int, name: str) -> str:
    if len(value) > width:
        raise LocalTranslationError(f"{name} {value!r} is longer than {width} characters")
    return value.ljust(width)


def interchange_header(
    *,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    control: int,
    version: str,
    now: _dt.datetime,
    delimiters: Delimiters,
    ack_requested: bool = False,
    test: bool = False,
) -> Segment:
    """Build an ISA segment with fixed-width fields.

    Args:
        sender: (ISA05 qualifier, ISA06 id).
        receiver: (ISA07 qualifier, ISA08 id).
        control: ISA13.
        version: ISA12 (``00401``, ``00501``).
        now: ISA09/ISA10.
        delimiters: ISA11 (repetition separator or ``U``) and ISA16 come from here.
        ack_requested: ISA14.
        test: ISA15 ``T`` instead of ``P``.

    Returns:
        The ISA tuple.

    Raises:
        LocalTranslationError: an id is too long or the control number does not fit.
    """
    if not 0 <= control <= 999_999_999:
        raise LocalTranslationError(f"interchange control number {control} does not fit ISA13")
    # ISA11 carries the repetition separator from 00402 on, else the standards id U.
    isa11 = delimiters.repetition if delimiters.repetition is not None and version >= "00402" else "U"
    return (
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        _pad(sender[0], 2, "ISA05"),
        _pad(sender[1], 15, "ISA06"),
        _pad(receiver[0], 2, "ISA07"),
        _pad(receiver[1], 15, "ISA08"),
        _yymmdd(now),
        _hhmm(now),
        isa11,
        _pad(version, 5, "ISA12"),
        f"{control:09d}",
        "1" if ack_requested else "0",
        "T" if test else "P",
        delimiters.component,
    )


def group_header(
    *, functional_id: str, sender: str, receiver: str, control: int, version: str, now: _dt.datetime
) -> Segment:
    """Build a GS segment (GS04 is CCYYMMDD from 004010 on, YYMMDD before)."""
    date = _ccyymmdd(now) if version >= "004010" else _yymmdd(now)
    return ("GS", functional_id, sender, receiver, date, _hhmm(now), str(control), "X", version)


def write_interchange(
    transactions: Sequence[Sequence[Segment]],
    *,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    control_numbers: ControlNumbers,
    version: str,
    now: _dt.datetime,
    delimiters: Delimiters | None = None,
    application_sender: str | None = None,
    application_receiver: str | None = None,
    functional_id: str | None = None,
    ack_requested: bool = False,
    test: bool = False,
) -> bytes:
    """Wrap transaction sets in one interchange with one functional group.

    ST02/SE02 are set from ``control_numbers.transaction`` (counting up) and
    SE01 is recounted, so the envelope is consistent whatever the maps did.

    Args:
        transactions: each a list of segments from ST to SE.
        sender: our (qualifier, id) for ISA05/06.
        receiver: the partner's (qualifier, id) for ISA07/08.
        control_numbers: ISA13, GS06 and the first ST02.
        version: GS08 (``004010``); ISA12 is derived from it (``00401``).
        now: the timestamp for ISA09/10 and GS04/05.
        delimiters: separators to use (default ``* ~ > ^`` with a LF suffix).
        application_sender: GS02 (default: the ISA06 id).
        application_receiver: GS03 (default: the ISA08 id).
        functional_id: GS01 (default: looked up from the first ST01).
        ack_requested: ISA14.
        test: ISA15 = T.

    Returns:
        The interchange bytes.

    Raises:
        LocalTranslationError: no transaction sets, a set not starting with ST
            and ending with SE, a value containing a delimiter, or mixed ST01
            functional groups.
    """
    delims = delimiters or Delimiters(
        element="*", segment="~", segment_suffix="\n", component=">", repetition="^"
    )
    if not transactions:
        raise LocalTranslationError("an interchange needs at least one transaction set")
    fids = set()
    for tx in transactions:
        if not tx or tx[0][0] != "ST" or tx[-1][0] != "SE" or len(tx[0]) < 2:
            raise LocalTranslationError("each transaction set must run from ST to SE")
        fids.add(FUNCTIONAL_IDS.get(tx[0][1], ""))
    if functional_id is None:
        if len(fids) != 1 or "" in fids:
            raise LocalTranslationError(f"cannot derive one GS01 for transaction sets {sorted(fids)}")
        functional_id = fids.pop()
    isa = interchange_header(
        sender=sender,
        receiver=receiver,
        control=control_numbers.interchange,
        version=version[:5],
        now=now,
        delimiters=delims,
        ack_requested=ack_requested,
        test=test,
    )
    gs = group_header(
        functional_id=functional_id,
        sender=application_sender if application_sender is not None else sender[1],
        receiver=application_receiver if application_receiver is not None else receiver[1],
        control=control_numbers.group,
        version=version,
        now=now,
    )
    out: list[Segment] = [isa, gs]
    st_control = control_numbers.transaction
    for tx in transactions:
        control = f"{st_control:04d}"
        st_control += 1
        body = [tuple(seg) for seg in tx]
        body[0] = ("ST", body[0][1], control, *body[0][3:])
        body[-1] = ("SE", str(len(body)), control, *body[-1][3:])
        out.extend(body)
    out.append(("GE", str(len(transactions)), str(control_numbers.group)))
    out.append(("IEA", "1", f"{control_numbers.interchange:09d}"))
    for index, seg in enumerate(out[1:], 2):
        _check_values(seg, delims, index)
    return encode(render_segments(out, delims))


__all__ = [
    "FUNCTIONAL_IDS",
    "X12Writer",
    "encode",
    "group_header",
    "interchange_header",
    "render_segment",
    "render_segments",
    "write_interchange",
]
