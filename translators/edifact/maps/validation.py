"""Light structural checks of the mapped messages (``validate``).

Strategy: the reader already checked the syntax; this checks what the
business maps rely on, per message, from a small declarative table: the
mandatory segments (BGM; DTM 137 document date; at least one LIN for an
order or invoice) and segments that may occur once only.  Each problem is a
:class:`~translators.errors.RemoteSyntaxError` with scope ``transaction``,
a :class:`~translators.errors.Location` and the CONTRL 0085 code as
``ack_hint``: 13 missing, 12 invalid value, 35 too many repetitions
(UNTDID 0085 syntax error codes).
"""

from __future__ import annotations

from typing import Final

from ...errors import Location, RemoteSyntaxError
from ..syntax import Message, Segment
from .segment import comp, el

MISSING: Final = "13"
INVALID_VALUE: Final = "12"
TOO_MANY: Final = "35"

#: message type -> segment tags that must be present (ORDERS D96A: BGM and
#: DTM are mandatory header segments, SG25 LIN carries the order lines).
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "ORDERS": ("BGM", "DTM", "LIN"),
    "ORDRSP": ("BGM", "DTM"),
    "DESADV": ("BGM", "DTM"),
    "INVOIC": ("BGM", "DTM", "LIN"),
    "RECADV": ("BGM", "DTM"),
    "IFTSTA": ("BGM",),
    "INVRPT": ("BGM", "DTM"),
    "IFTMIN": ("BGM",),
}

#: segments that may occur once per message (BGM 1, UNS 1 in every one of them)
ONCE: Final[tuple[str, ...]] = ("BGM", "UNS")

#: segments that open the first segment groups (after them a DTM dates a group).
_GROUP_TRIGGERS: Final = frozenset(("RFF", "NAD", "CUX", "PAT", "TDT", "CPS", "LIN", "CNI", "STS", "UNS"))

#: every tag the loop of :func:`validate` looks at
_INTERESTING: Final = frozenset((*ONCE, *_GROUP_TRIGGERS, "DTM", "BGM", "QTY"))

# validate() notes only these tags: every required one must be among them.
assert all(tag in _INTERESTING for tags in REQUIRED.values() for tag in tags)

# What validate() does with a tag (the low bits of its TAG_CHECKS entry).
_QTY_KIND: Final = 1
_DTM_KIND: Final = 2
_ONCE_KIND: Final = 3  # may occur once and does not open a group (BGM)
# from here on the kinds open a segment group
_TRIGGER_KIND: Final = 4  # may repeat
_ONCE_TRIGGER_KIND: Final = 5  # may occur once (UNS)
_KIND_BITS: Final = 3


def _kind(tag: str) -> int:
    if tag == "QTY":
        return _QTY_KIND
    if tag == "DTM":
        return _DTM_KIND
    if tag in ONCE:
        return _ONCE_TRIGGER_KIND if tag in _GROUP_TRIGGERS else _ONCE_KIND
    return _TRIGGER_KIND


#: tag -> its kind, plus a bit of its own above _KIND_BITS that records it was seen: one dict
#: lookup per segment answers "is it checked", "how" and "note it" (a set of seen tags and a
#: chain of set tests cost several lookups per segment).
TAG_CHECKS: Final[dict[str, int]] = {
    tag: (1 << (_KIND_BITS + i)) | _kind(tag) for i, tag in enumerate(sorted(_INTERESTING))
}
_KIND_MASK: Final = (1 << _KIND_BITS) - 1
_DTM_SEEN: Final = TAG_CHECKS["DTM"] & ~_KIND_MASK
#: message type -> the seen bits of its REQUIRED tags: one test when all are there (the usual case)
_REQUIRED_SEEN: Final[dict[str, int]] = {
    name: sum({TAG_CHECKS[tag] & ~_KIND_MASK for tag in tags}) for name, tags in REQUIRED.items()
}

#: message types whose header must carry the document date (DTM 2005 '137');
#: D93A invoices use '3' (invoice date) instead, which is accepted too.
DOCUMENT_DATE: Final[dict[str, tuple[str, ...]]] = {
    "ORDERS": ("137",),
    "ORDRSP": ("137",),
    "DESADV": ("137", "11"),
    "INVOIC": ("137", "3"),
    "RECADV": ("137",),
    "INVRPT": ("137",),
}


def _error(
    msg: Message, text: str, code: str, tag: str, *, position: int | None, element: int | None = None
) -> RemoteSyntaxError:
    where = Location(
        interchange=msg.interchange_ref,
        group=msg.group_ref,
        transaction=msg.reference,
        segment_tag=tag,
        segment_position=position,
        element_position=element,
    )
    return RemoteSyntaxError(
        f"{msg.type} {msg.reference}: {text}", ack_hint=code, scope="transaction", location=where
    )


class Checker:
    """The checks of :func:`validate` on one message, fed its segments one at a time.

    :func:`validate` feeds it every segment; the business maps' walk
    (:func:`~.builder.walk`) feeds it the segments it walks, so a mapped
    message is checked in the same pass that maps it.  Only the tags of
    :data:`TAG_CHECKS` are fed, with their entry.
    """

    __slots__ = ("errors", "header_dates", "in_header", "mark", "msg", "repeated", "required", "seen")

    def __init__(self, msg: Message, required: int, errors: list[RemoteSyntaxError]) -> None:
        self.msg = msg
        self.required = required
        self.errors = errors
        self.mark = msg.delimiters.decimal
        # the seen bits of the checked tags found so far (every tag asked about after the
        # segments is among them: REQUIRED, DTM)
        self.seen = 0
        # the seen bits of the tags that may occur once and were already reported as repeated
        self.repeated = 0
        self.header_dates: list[str] = []
        self.in_header = True

    def note(self, seg: Segment, i: int, tag: str, entry: int) -> None:
        """Check segment ``i`` of the message (UNH is 0), whose tag has the entry ``entry``."""
        msg = self.msg
        before = self.seen
        self.seen = before | entry
        kind = entry & _KIND_MASK
        index = i + 1
        # The most frequent tags first; each branch makes the checks the
        # general rules below make for that tag, in the same order.
        if kind == _QTY_KIND:
            value = comp(seg, 1, 1)
            # plain digits are a number whatever the decimal mark (UNA allows '.' or ',')
            if value and not value.isdigit() and not _is_number(value, self.mark):
                self.errors.append(
                    _error(
                        msg,
                        f"QTY value {value!r} is not a number",
                        INVALID_VALUE,
                        tag,
                        position=index,
                        element=1,
                    )
                )
            return
        if kind == _DTM_KIND:
            if self.in_header:
                self.header_dates.append(comp(seg, 1, 0))
            if not comp(seg, 1, 1) and el(seg, 1):
                self.errors.append(
                    _error(
                        msg, f"DTM {el(seg, 1)} has no date value", MISSING, tag, position=index, element=1
                    )
                )
            return
        if kind >= _TRIGGER_KIND:
            # the document dates are the DTMs before the first segment group
            self.in_header = False
            if kind == _TRIGGER_KIND:
                return
        # a segment that may occur once (BGM, UNS): its seen bit tells a repetition, reported the
        # second time only
        bit = entry & ~_KIND_MASK
        if before & bit and not self.repeated & bit:
            self.repeated |= bit
            self.errors.append(_error(msg, f"{tag} occurs more than once", TOO_MANY, tag, position=index))
        if tag == "BGM" and not comp(seg, 2, 0) and msg.type != "IFTSTA":
            self.errors.append(
                _error(msg, "BGM has no document number (1004)", MISSING, tag, position=index, element=2)
            )

    def finish(self) -> None:
        """The checks of the whole message, once every segment was noted."""
        msg = self.msg
        seen = self.seen
        required = self.required
        if seen & required != required:
            for tag in REQUIRED[msg.type]:
                if not seen & TAG_CHECKS[tag] & ~_KIND_MASK:
                    self.errors.append(
                        _error(msg, f"mandatory segment {tag} is missing", MISSING, tag, position=None)
                    )
        wanted = DOCUMENT_DATE.get(msg.type)
        if wanted is not None and seen & _DTM_SEEN and not any(q in wanted for q in self.header_dates):
            self.errors.append(
                _error(
                    msg,
                    f"no document date (DTM {'/'.join(wanted)}) in the header",
                    MISSING,
                    "DTM",
                    position=None,
                )
            )


def checker(msg: Message, errors: list[RemoteSyntaxError]) -> Checker | None:
    """A :class:`Checker` of ``msg`` reporting into ``errors``; None when its type has no checks."""
    required = _REQUIRED_SEEN.get(msg.type)
    if required is None:
        return None
    return Checker(msg, required, errors)


def validate(msg: Message) -> list[RemoteSyntaxError]:
    """Check the segments a business map relies on.

    Args:
        msg: a message event (UNH..UNT).

    Returns:
        One error per problem (empty when the message is fine or its type
        has no map); each has scope ``transaction``, ``ack_hint`` 13/12/35 and
        the segment position counted from UNH = 1.
    """
    errors: list[RemoteSyntaxError] = []
    check = checker(msg, errors)
    if check is None:
        return errors
    segments: tuple[Segment, ...] = msg.segments
    info = TAG_CHECKS
    # range, not enumerate: compiled, a native int loop instead of an iterator object per message
    for i in range(len(segments)):
        seg = segments[i]
        tag = seg[0]
        if type(tag) is not str:
            continue  # a malformed tag is none of the checked ones
        # The loop stops only at the few tags it checks (most segments of a message are none of them)
        entry = info.get(tag)
        if entry is not None:
            check.note(seg, i, tag, entry)
    check.finish()
    return errors


def _is_number(value: str, mark: str) -> bool:
    text = value.replace(mark, ".") if mark != "." else value
    text = text.replace(",", ".")
    head, _, tail = text.lstrip("-").partition(".")
    return (head.isdigit() or (head == "" and tail.isdigit())) and (tail == "" or tail.isdigit())


__all__ = [
    "DOCUMENT_DATE",
    "INVALID_VALUE",
    "MISSING",
    "ONCE",
    "REQUIRED",
    "TAG_CHECKS",
    "TOO_MANY",
    "Checker",
    "checker",
    "validate",
]
