"""Envelope checks for X12: ISA/IEA, GS/GE and ST/SE, fed with reader events.

Strategy: the reader only tokenizes and keeps the nesting; this module judges
the envelope.  :class:`EnvelopeValidator` is fed every event in order and
returns the errors each one reveals, so it works on a stream and keeps only
per-interchange and per-group counters (memory does not grow with the
number of transaction sets when their control numbers are sequential).

Every error is a :class:`~translators.errors.RemoteSyntaxError` whose
``ack_hint`` names the code for the acknowledgment and whose ``scope`` says
what it rejects:

* ``TA1:<I18 note code>`` with scope ``interchange`` (e.g. ``TA1:001``
  control numbers of ISA and IEA differ, ``TA1:021`` group count wrong,
  ``TA1:023`` premature end of the interchange);
* ``AK9:<716 code>`` with scope ``group`` (997 AK905, 999 AK905 alike);
* ``AK5:<718 code>`` with scope ``transaction`` (997 AK502, 999 IK502);
* ``AK3:<720 code>`` with scope ``segment`` (997 AK304, 999 IK304).

Deviations that well-known senders make routinely (unpadded ISA fields, a
non-``U`` ISA11 before 00402, an IEA02 that is ISA13 without its leading
zeros) are warnings unless ``options.strict`` is set.
"""

from __future__ import annotations

import re

from ..errors import Location, RemoteSyntaxError
from ..options import TranslatorOptions
from .syntax import (
    Event,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    TechnicalAck,
    TransactionSet,
)

# ISA element widths, fixed by the standard (ISA is a fixed-length segment).
_ISA_WIDTHS = (0, 2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
_AUTH_QUALIFIERS = frozenset({"00", "01", "02", "03", "04", "05", "06"})  # ISA01
_SECURITY_QUALIFIERS = frozenset({"00", "01"})  # ISA03
_TEST_FLAGS = frozenset({"P", "T", "I"})  # ISA15: production, test, information
_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}\Z")
_DIGITS = re.compile(r"[0-9]+\Z")


def _valid_date(value: str) -> bool:
    # YYMMDD (ISA09, GS04 before 004010) or CCYYMMDD (GS04 from 004010 on).
    if not _DIGITS.match(value) or len(value) not in (6, 8):
        return False
    month, day = int(value[-4:-2]), int(value[-2:])
    return 1 <= month <= 12 and 1 <= day <= 31


def _valid_time(value: str) -> bool:
    # HHMM, optionally SS and decimal seconds (GS05 allows 4-8 digits).
    if not _DIGITS.match(value) or not 4 <= len(value) <= 8:
        return False
    hours, minutes = int(value[:2]), int(value[2:4])
    seconds = int(value[4:6]) if len(value) >= 6 else 0
    return hours < 24 and minutes < 60 and seconds < 60


def _ascii_number(value: str) -> int:
    """``int(value)`` for 1 to 18 ASCII digits, else -1 (the caller falls back on ``str.isdecimal``).

    A native loop once compiled: ``isdecimal`` (a generic method call) and ``int`` cost ~800
    instructions for a control number, this ~10 a digit.
    """
    n = len(value)
    if n == 0 or n > 18:
        return -1
    number = 0
    for i in range(n):
        c = ord(value[i])
        if c < 48 or c > 57:
            return -1
        number = number * 10 + c - 48
    return number


class _SequenceSet:
    """Remembers control numbers; O(1) memory while they arrive in sequence."""

    __slots__ = ("_hi", "_lo", "_others")

    def __init__(self) -> None:
        self._lo = -1
        self._hi = -2
        self._others: set[str] = set()

    def add(self, value: str) -> bool:
        """Add ``value``; False when it was already present."""
        number = _ascii_number(value)
        if number < 0 and value.isdecimal():
            number = int(value)  # other scripts' digits, or a very long number
        if number >= 0:
            if self._lo <= number <= self._hi:
                return False
            # _others is nearly always empty: no hash of the value then.
            if number == self._hi + 1 and (not self._others or value not in self._others):
                self._hi = number
                return True
            if self._hi < self._lo:
                self._lo = self._hi = number
                return True
        if value in self._others:
            return False
        self._others.add(value)
        return True


def _tx_error(
    tx: TransactionSet,
    message: str,
    code: str,
    tag: str,
    *,
    position: int | None = None,
    element: int | None = None,
) -> RemoteSyntaxError:
    """A transaction-scope error (``AK5:<code>``) located in ``tx``."""
    return RemoteSyntaxError(
        message,
        ack_hint=f"AK5:{code}",
        scope="transaction",
        location=Location(
            interchange=tx.interchange_control,
            group=tx.group_control,
            transaction=tx.control,
            segment_tag=tag,
            segment_position=position,
            element_position=element,
        ),
    )


class EnvelopeValidator:
    """Checks control numbers, counts and header fields of a stream of events.

    Args:
        options: ``strict`` turns the tolerated deviations into errors.

    Example::

        validator = EnvelopeValidator(options)
        for event in events:
            errors = validator.feed(event)
    """

    def __init__(self, options: TranslatorOptions | None = None) -> None:
        self._strict = (options or TranslatorOptions()).strict
        self._isa: InterchangeStart | None = None
        self._gs: GroupStart | None = None
        self._isa_controls: set[str] = set()
        self._gs_controls: set[str] = set()
        self._st_controls = _SequenceSet()
        self._known_tags: set[str] = set()
        self._warnings: list[str] = []
        self._ta1_count = 0

    def take_warnings(self) -> list[str]:
        """Return and forget the tolerated deviations seen so far (plain words)."""
        out, self._warnings = self._warnings, []
        return out

    def feed(self, event: Event) -> list[RemoteSyntaxError]:
        """Check one event.

        Args:
            event: the next event from :class:`~translators.x12.reader.X12Reader`.

        Returns:
            The errors this event reveals (empty when it is fine).
        """
        if isinstance(event, TransactionSet):
            return self.check_transaction(event)
        if isinstance(event, InterchangeStart):
            return self._interchange_start(event)
        if isinstance(event, GroupStart):
            return self._group_start(event)
        if isinstance(event, GroupEnd):
            return self._group_end(event)
        if isinstance(event, InterchangeEnd):
            return self._interchange_end(event)
        if isinstance(event, TechnicalAck):
            self._ta1_count += 1
            return []
        raise TypeError(f"not an X12 event: {event!r}")

    # -- interchange --------------------------------------------------------------------------------

    def _isa_error(self, message: str, code: str, position: int | None, control: str) -> RemoteSyntaxError:
        return RemoteSyntaxError(
            message,
            ack_hint=f"TA1:{code}",
            scope="interchange",
            location=Location(interchange=control, segment_tag="ISA", element_position=position),
        )

    def _deviation(self, error: RemoteSyntaxError, errors: list[RemoteSyntaxError]) -> None:
        if self._strict:
            errors.append(error)
        else:
            self._warnings.append(str(error))

    def _interchange_start(self, event: InterchangeStart) -> list[RemoteSyntaxError]:
        self._isa = event
        self._gs = None
        self._ta1_count = 0
        self._gs_controls = set()
        seg = event.segment
        control = event.control
        errors: list[RemoteSyntaxError] = []

        def err(message: str, code: str, position: int) -> None:
            errors.append(self._isa_error(message, code, position, control))

        for position in range(1, 16):
            width = _ISA_WIDTHS[position]
            if len(seg[position]) != width:
                self._deviation(
                    self._isa_error(
                        f"ISA{position:02d} is {len(seg[position])} characters, the fixed width is {width}",
                        "022",
                        position,
                        control,
                    ),
                    errors,
                )
        if seg[1].strip() not in _AUTH_QUALIFIERS:
            err(f"invalid authorization information qualifier {seg[1]!r}", "010", 1)
        if seg[3].strip() not in _SECURITY_QUALIFIERS:
            err(f"invalid security information qualifier {seg[3]!r}", "012", 3)
        if not seg[5].strip().isalnum():
            err(f"invalid sender ID qualifier {seg[5]!r}", "005", 5)
        if not seg[6].strip():
            err("empty interchange sender ID", "006", 6)
        if not seg[7].strip().isalnum():
            err(f"invalid receiver ID qualifier {seg[7]!r}", "007", 7)
        if not seg[8].strip():
            err("empty interchange receiver ID", "008", 8)
        if not _valid_date(seg[9].strip()) or len(seg[9].strip()) != 6:
            err(f"invalid interchange date {seg[9]!r} (YYMMDD)", "014", 9)
        if not _valid_time(seg[10].strip()) or len(seg[10].strip()) != 4:
            err(f"invalid interchange time {seg[10]!r} (HHMM)", "015", 10)
        version = seg[12].strip()
        if not (len(version) == 5 and version.isdecimal()):
            err(f"invalid interchange control version {seg[12]!r}", "017", 12)
        elif version < "00402" and seg[11] != "U":
            # Before 00402 ISA11 is the standards identifier, always U.
            self._deviation(
                self._isa_error(
                    f"ISA11 is {seg[11]!r}, expected 'U' before version 00402", "016", 11, control
                ),
                errors,
            )
        if not (control.isdecimal() and len(control) <= 9):
            err(f"invalid interchange control number {seg[13]!r}", "018", 13)
        elif control in self._isa_controls:
            # Duplicate detection across files is the journal's job; inside one file it is reported.
            self._deviation(
                self._isa_error(
                    f"interchange control number {control} repeats an earlier one in this file",
                    "025",
                    13,
                    control,
                ),
                errors,
            )
        self._isa_controls.add(control)
        if seg[14].strip() not in ("0", "1"):
            err(f"invalid acknowledgment requested flag {seg[14]!r}", "019", 14)
        if seg[15].strip() not in _TEST_FLAGS:
            err(f"invalid test indicator {seg[15]!r}", "020", 15)
        return errors

    def _interchange_end(self, event: InterchangeEnd) -> list[RemoteSyntaxError]:
        isa = self._isa
        self._isa = None
        self._gs = None
        control = event.interchange_control
        if isa is None:
            return []
        seg = event.segment
        if not seg:
            return [
                RemoteSyntaxError(
                    f"interchange {control} is not closed by an IEA segment",
                    ack_hint="TA1:023",
                    scope="interchange",
                    location=Location(interchange=control, segment_tag="IEA"),
                )
            ]
        errors: list[RemoteSyntaxError] = []
        count = seg[1] if len(seg) > 1 else ""
        trailer = seg[2].strip() if len(seg) > 2 else ""
        if len(seg) != 3:
            errors.append(
                self._iea_error(f"IEA has {len(seg) - 1} elements, expected 2", "024", None, control)
            )
        if count.isdecimal() and event.group_count == 0 and int(count) == self._ta1_count > 0:
            # Some senders count TA1 segments in IEA01 of an acknowledgment-only interchange.
            self._deviation(
                self._iea_error(
                    f"IEA01 counts the {count} TA1 segment(s) as functional groups", "021", 1, control
                ),
                errors,
            )
        elif not count.isdecimal() or int(count) != event.group_count:
            errors.append(
                self._iea_error(
                    f"IEA01 says {count!r} functional groups, the interchange has {event.group_count}",
                    "021",
                    1,
                    control,
                )
            )
        if trailer != control:
            if trailer.isdecimal() and control.isdecimal() and int(trailer) == int(control):
                self._deviation(
                    self._iea_error(
                        f"IEA02 {trailer!r} is ISA13 {control!r} without padding", "001", 2, control
                    ),
                    errors,
                )
            else:
                errors.append(
                    self._iea_error(f"IEA02 {trailer!r} does not match ISA13 {control!r}", "001", 2, control)
                )
        return errors

    def _iea_error(self, message: str, code: str, position: int | None, control: str) -> RemoteSyntaxError:
        return RemoteSyntaxError(
            message,
            ack_hint=f"TA1:{code}",
            scope="interchange",
            location=Location(interchange=control, segment_tag="IEA", element_position=position),
        )

    # -- group ---------------------------------------------------------------------------------------

    def _group_error(
        self, message: str, code: str | None, tag: str, position: int | None, event: GroupStart | GroupEnd
    ) -> RemoteSyntaxError:
        interchange = self._isa.control if self._isa else None
        group = event.control if isinstance(event, GroupStart) else event.group_control
        return RemoteSyntaxError(
            message,
            ack_hint=f"AK9:{code}" if code else None,
            scope="group",
            location=Location(
                interchange=interchange, group=group, segment_tag=tag, element_position=position
            ),
        )

    def _group_start(self, event: GroupStart) -> list[RemoteSyntaxError]:
        self._gs = event
        self._st_controls = _SequenceSet()
        seg = event.segment
        errors: list[RemoteSyntaxError] = []
        if len(seg) != 9:
            errors.append(
                self._group_error(f"GS has {len(seg) - 1} elements, expected 8", None, "GS", None, event)
            )
        control = event.control
        if not (control.isdecimal() and len(control) <= 9):
            errors.append(self._group_error(f"invalid group control number {control!r}", "6", "GS", 6, event))
        elif control in self._gs_controls:
            errors.append(
                self._group_error(
                    f"group control number {control} repeats in this interchange", "19", "GS", 6, event
                )
            )
        self._gs_controls.add(control)
        if not event.functional_id:
            errors.append(self._group_error("empty functional identifier (GS01)", "1", "GS", 1, event))
        if not event.version:
            errors.append(self._group_error("empty version identifier (GS08)", "2", "GS", 8, event))
        if not _valid_date(event.date):
            self._deviation(
                self._group_error(f"invalid group date {event.date!r}", None, "GS", 4, event), errors
            )
        if not _valid_time(event.time):
            self._deviation(
                self._group_error(f"invalid group time {event.time!r}", None, "GS", 5, event), errors
            )
        return errors

    def _group_end(self, event: GroupEnd) -> list[RemoteSyntaxError]:
        self._gs = None
        seg = event.segment
        if not seg:
            return [
                self._group_error(
                    f"functional group {event.group_control} is not closed by a GE segment",
                    "3",
                    "GE",
                    None,
                    event,
                )
            ]
        errors: list[RemoteSyntaxError] = []
        count = seg[1] if len(seg) > 1 else ""
        trailer = seg[2] if len(seg) > 2 else ""
        if not count.isdecimal() or int(count) != event.transaction_count:
            errors.append(
                self._group_error(
                    f"GE01 says {count!r} transaction sets, the group has {event.transaction_count}",
                    "5",
                    "GE",
                    1,
                    event,
                )
            )
        if trailer != event.group_control:
            errors.append(
                self._group_error(
                    f"GE02 {trailer!r} does not match GS06 {event.group_control!r}", "4", "GE", 2, event
                )
            )
        return errors

    # -- transaction set -----------------------------------------------------------------------------

    def check_transaction(self, tx: TransactionSet) -> list[RemoteSyntaxError]:
        """Check ST/SE of one transaction set and that every segment tag is well formed.

        Args:
            tx: the transaction set event.

        Returns:
            Transaction-scope errors (``AK5:<code>``) and segment-scope errors
            (``AK3:1``, unrecognised segment id).
        """
        segs = tx.segments
        errors: list[RemoteSyntaxError] = []
        set_id = tx.set_id
        control = tx.control
        if not (len(set_id) == 3 and set_id.isalnum()):
            errors.append(
                _tx_error(
                    tx,
                    f"missing or invalid transaction set identifier {set_id!r}",
                    "6",
                    "ST",
                    position=1,
                    element=1,
                )
            )
        if not (4 <= len(control) <= 9 and control.strip()):
            errors.append(
                _tx_error(
                    tx,
                    f"missing or invalid transaction set control number {control!r}",
                    "7",
                    "ST",
                    position=1,
                    element=2,
                )
            )
        elif not self._st_controls.add(control):
            errors.append(
                _tx_error(
                    tx,
                    f"transaction set control number {control} repeats in this group",
                    "23",
                    "ST",
                    position=1,
                    element=2,
                )
            )
        last = segs[-1]
        if last[0] != "SE" or len(segs) < 2:
            errors.append(
                _tx_error(tx, f"transaction set {control} is not closed by an SE segment", "2", "SE")
            )
        else:
            count = last[1] if len(last) > 1 else ""
            trailer = last[2] if len(last) > 2 else ""
            if trailer != control:
                errors.append(
                    _tx_error(
                        tx,
                        f"SE02 {trailer!r} does not match ST02 {control!r}",
                        "3",
                        "SE",
                        position=len(segs),
                        element=2,
                    )
                )
            number = _ascii_number(count)
            if number < 0 and count.isdecimal():
                number = int(count)
            if number != len(segs):
                errors.append(
                    _tx_error(
                        tx,
                        f"SE01 says {count!r} segments, the transaction set has {len(segs)}",
                        "4",
                        "SE",
                        position=len(segs),
                        element=1,
                    )
                )
        known = self._known_tags
        # A native loop over the tags (compiled; issuperset(map(itemgetter(0), ...)) made one
        # generic call per segment through the map iterator).
        for seg in segs:
            if seg[0] not in known:
                break
        else:
            return errors
        for position, seg in enumerate(segs, 1):
            tag = seg[0]
            if tag in known:
                continue
            if _TAG.match(tag):
                known.add(tag)
                continue
            errors.append(
                RemoteSyntaxError(
                    f"unrecognised segment id {tag[:10]!r}",
                    ack_hint="AK3:1",
                    scope="segment",
                    location=Location(
                        interchange=tx.interchange_control,
                        group=tx.group_control,
                        transaction=tx.control,
                        segment_tag=tag[:3],
                        segment_position=position,
                    ),
                )
            )
        return errors


__all__ = ["EnvelopeValidator"]
