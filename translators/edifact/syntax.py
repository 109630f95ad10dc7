"""EDIFACT syntax types shared by the reader, the writer, the maps and the acks.

Strategy: the reader (:mod:`.reader`) turns bytes into the frozen events
below; everything downstream (envelope checks, maps, CONTRL, the lossless
syntax model) works on these values and never on raw bytes.

Problems that leave the framing intact (a wrong UNT count, a bad UNB date)
are attached to the event they concern (``errors``, each a
:class:`~translators.errors.RemoteSyntaxError` with ``ack_hint`` = CONTRL
0085 code and ``scope``) and reading continues; problems that break the
framing are raised from :meth:`EdifactReader.next_event`.

Invariants of a :data:`Segment`:

* index 0 is the tag (``"UNH"``), index ``i`` the i-th data element, so the
  index equals the element position the standard and UCD 0098 count;
* an element is a ``str`` (simple, or a composite with one component), a
  ``tuple[str, ...]`` (composite: components in order, empty ones kept), or
  a :class:`Repeated` (syntax version 4 repetition separator, ISO 9735-1
  clause 7.1: "repeating data elements");
* release characters are already removed: values are the real values, and
  trailing empty elements/components are kept so writing gives the bytes back.
"""

from __future__ import annotations

import enum
from dataclasses import FrozenInstanceError, dataclass
from typing import Final, Literal, TypeAlias

from ..errors import RemoteSyntaxError


@dataclass(frozen=True, slots=True)
class Repeated:
    """A data element repeated with the repetition separator (syntax 4 only).

    ``values`` holds one entry per occurrence, each a ``str`` or a
    composite ``tuple[str, ...]``.
    """

    values: tuple[str | tuple[str, ...], ...]


Element: TypeAlias = "str | tuple[str, ...] | Repeated"
Segment: TypeAlias = "tuple[Element, ...]"


@dataclass(frozen=True, slots=True)
class Delimiters:
    """Service characters of one interchange (ISO 9735-1 clause 7, UNA).

    ``release`` is None when the interchange declares none (a space in UNA4);
    ``repetition`` is None in syntax versions 1-3, where UNA5 is "reserved for
    future use" and must be a space, and for syntax 4 when UNA5 is a space.
    """

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    repetition: str | None = None
    segment: str = "'"

    @classmethod
    def default(cls, syntax_version: int = 3) -> Delimiters:
        """The default service characters for level A/C when no UNA is sent.

        Args:
            syntax_version: 0002 of UNB S001; version 4 adds ``*`` as repetition.

        Returns:
            ``:+.? '`` (syntax 1-3) or ``:+.?*'`` (syntax 4).
        """
        return cls(repetition="*" if syntax_version >= 4 else None)

    @classmethod
    def level_b(cls) -> Delimiters:
        """Defaults for UNOB without UNA: information separators IS1-IS4.

        Returns:
            component IS1 (0x1F), element IS3 (0x1D), segment IS4 (0x1C),
            repetition IS2 (0x1E), release none (ISO 9735-1 annex A).
        """
        return cls(component="\x1f", element="\x1d", release=None, repetition="\x1e", segment="\x1c")

    def una(self) -> str:
        """The nine-character UNA service string advice for these characters.

        Returns:
            ``UNA`` followed by component, element, decimal, release,
            repetition/reserved and segment terminator (space for "none").
        """
        return (
            "UNA"
            + self.component
            + self.element
            + self.decimal
            + (self.release or " ")
            + (self.repetition or " ")
            + self.segment
        )

    def specials(self) -> str:
        """Characters that must be released inside a value."""
        chars = self.component + self.element + self.segment
        if self.release:
            chars += self.release
        if self.repetition:
            chars += self.repetition
        return chars


class Sentinel(enum.Enum):
    """Sentinels returned by :meth:`EdifactReader.next_event`."""

    #: the reader needs more bytes (or the end-of-data signal ``b""``)
    NEED_DATA = "NEED_DATA"


NEED_DATA: Literal[Sentinel.NEED_DATA] = Sentinel.NEED_DATA


@dataclass(frozen=True, slots=True, kw_only=True)
class InterchangeStart:
    """UNA (optional) and UNB: the interchange header.

    Attributes follow UNB (ISO 9735-1 / syntax 3 and 4): S001 syntax
    identifier 0001 + version 0002, S002 sender 0004/0007, S003 recipient
    0010/0007, S004 date 0017 and time 0019, 0020 control reference, S005
    recipient's password, 0026 application reference, 0029 priority, 0031
    acknowledgment request, 0032 agreement id, 0035 test indicator.
    """

    syntax_id: str
    syntax_version: int
    charset: str
    sender_id: str
    sender_qualifier: str | None
    recipient_id: str
    recipient_qualifier: str | None
    date: str
    time: str
    control_ref: str
    application_ref: str | None
    priority: str | None
    ack_request: bool
    agreement_id: str | None
    test_indicator: bool
    delimiters: Delimiters
    una_present: bool
    una_text: str | None
    segment: Segment
    byte_offset: int
    errors: tuple[RemoteSyntaxError, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupStart:
    """UNG: a functional group (ISO 9735 syntax 3) / message group (syntax 4).

    ``group_id`` is 0038; sender/recipient are S006/S007; ``reference`` is
    0048; ``agency`` 0051; ``version``/``release`` S008 0052/0054.
    """

    group_id: str
    sender_id: str
    sender_qualifier: str | None
    recipient_id: str
    recipient_qualifier: str | None
    date: str
    time: str
    reference: str
    agency: str | None
    version: str | None
    release: str | None
    segment: Segment
    byte_offset: int
    errors: tuple[RemoteSyntaxError, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One message, UNH to UNT inclusive.

    Attributes:
        type / version / release / agency / association: UNH S009 0065,
            0052, 0054, 0051, 0057 (e.g. ``ORDERS``, ``D``, ``96A``, ``UN``,
            ``EAN008``).
        reference: UNH 0062 message reference number.
        segments: every segment from UNH to UNT inclusive.
        delimiters: the interchange's service characters.
        interchange_ref: UNB 0020.  group_ref: UNG 0048 or None.
        byte_offset: offset of the ``U`` of UNH in the stream.
        index: 1-based position of the message in its interchange.
        errors: transaction-scope problems the reader found (UNT count or
            reference, character set); the message is still delivered so the
            caller can acknowledge it precisely.
        warnings: non-fatal deviations in plain words.
    """

    type: str
    version: str
    release: str
    agency: str
    association: str | None
    reference: str
    segments: tuple[Segment, ...]
    delimiters: Delimiters
    interchange_ref: str
    group_ref: str | None
    byte_offset: int
    index: int
    errors: tuple[RemoteSyntaxError, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def version_string(self) -> str:
        """``D:96A:UN`` (plus ``:EAN008`` when an association code is present)."""
        text = f"{self.version}:{self.release}:{self.agency}"
        return f"{text}:{self.association}" if self.association else text


def _native_stores() -> bool:
    """True when this module is compiled: assigning a field of a frozen Message is then a native
    slot store, where the pure-Python dataclass raises (its ``__setattr__`` forbids it)."""
    probe = Message.__new__(Message)
    try:
        probe.type = ""  # type: ignore[misc]
    except FrozenInstanceError:
        return False
    return True


#: what :func:`new_message` may do (decided once, at import)
_NATIVE_STORES: Final = _native_stores()


def new_message(  # noqa: PLR0917 - one argument per field, in the order of the fields
    type: str,
    version: str,
    release: str,
    agency: str,
    association: str | None,
    reference: str,
    segments: tuple[Segment, ...],
    delimiters: Delimiters,
    interchange_ref: str,
    group_ref: str | None,
    byte_offset: int,
    index: int,
    errors: tuple[RemoteSyntaxError, ...],
    warnings: tuple[str, ...],
) -> Message:
    """``Message(type=type, ...)`` for the reader, once per message.

    The frozen dataclass's ``__init__`` stays interpreted under mypyc (keyword matching, then an
    ``object.__setattr__`` per field); compiled, these stores write the native slots directly.
    Frozen only forbids assignment through ``__setattr__``, which they do not go through, and the
    instance is complete before anyone else sees it.  Run as pure Python, the constructor.
    """
    if not _NATIVE_STORES:
        return Message(
            type=type,
            version=version,
            release=release,
            agency=agency,
            association=association,
            reference=reference,
            segments=segments,
            delimiters=delimiters,
            interchange_ref=interchange_ref,
            group_ref=group_ref,
            byte_offset=byte_offset,
            index=index,
            errors=errors,
            warnings=warnings,
        )
    msg = Message.__new__(Message)
    msg.type = type  # type: ignore[misc]
    msg.version = version  # type: ignore[misc]
    msg.release = release  # type: ignore[misc]
    msg.agency = agency  # type: ignore[misc]
    msg.association = association  # type: ignore[misc]
    msg.reference = reference  # type: ignore[misc]
    msg.segments = segments  # type: ignore[misc]
    msg.delimiters = delimiters  # type: ignore[misc]
    msg.interchange_ref = interchange_ref  # type: ignore[misc]
    msg.group_ref = group_ref  # type: ignore[misc]
    msg.byte_offset = byte_offset  # type: ignore[misc]
    msg.index = index  # type: ignore[misc]
    msg.errors = errors  # type: ignore[misc]
    msg.warnings = warnings  # type: ignore[misc]
    return msg


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupEnd:
    """UNE: ``count`` is 0060 (messages in the group), ``reference`` 0048."""

    count: str
    reference: str
    segment: Segment
    byte_offset: int
    errors: tuple[RemoteSyntaxError, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class InterchangeEnd:
    """UNZ: ``count`` is 0036, ``reference`` 0020.

    ``end_offset`` is the offset just past the UNZ segment terminator;
    ``line_break`` is the CR/LF sequence that follows the UNB segment
    terminator (``""`` when segments are not on lines); the writer repeats
    it after every segment.
    """

    count: str
    reference: str
    segment: Segment
    byte_offset: int
    end_offset: int
    line_break: str = ""
    errors: tuple[RemoteSyntaxError, ...] = ()
    warnings: tuple[str, ...] = ()


Event: TypeAlias = "InterchangeStart | GroupStart | Message | GroupEnd | InterchangeEnd"


def _first(value: str | tuple[str, ...] | Repeated) -> str | tuple[str, ...]:
    if isinstance(value, Repeated):
        return value.values[0] if value.values else ""
    return value


def element(seg: Segment, i: int) -> str:
    """The value of data element ``i`` (its first component when composite).

    Args:
        seg: a segment; ``seg[0]`` is the tag.
        i: element position, 1 for the first data element.

    Returns:
        The value, or ``""`` when the element is absent.
    """
    if i >= len(seg):
        return ""
    value = _first(seg[i])
    if isinstance(value, tuple):
        return value[0] if value else ""
    return value


def component(seg: Segment, i: int, j: int) -> str:
    """Component ``j`` (0-based) of data element ``i`` (1-based).

    ``component(seg, i, 0) == element(seg, i)``; a simple element is a
    composite of one component.

    Args:
        seg: a segment.
        i: element position, 1 for the first data element.
        j: component index, 0 for the first component.

    Returns:
        The value, or ``""`` when absent.
    """
    if i >= len(seg):
        return ""
    value = _first(seg[i])
    if isinstance(value, tuple):
        return value[j] if j < len(value) else ""
    return value if j == 0 else ""


def components(seg: Segment, i: int) -> tuple[str, ...]:
    """All components of element ``i`` (a simple element gives a 1-tuple).

    Args:
        seg: a segment.
        i: element position, 1 for the first data element.

    Returns:
        The components, ``()`` when the element is absent.
    """
    if i >= len(seg):
        return ()
    value = _first(seg[i])
    return value if isinstance(value, tuple) else (value,)


def repetitions(seg: Segment, i: int) -> tuple[str | tuple[str, ...], ...]:
    """Every occurrence of element ``i`` (one unless it is :class:`Repeated`).

    Args:
        seg: a segment.
        i: element position, 1 for the first data element.

    Returns:
        The occurrences, ``()`` when the element is absent.
    """
    if i >= len(seg):
        return ()
    value = seg[i]
    return value.values if isinstance(value, Repeated) else (value,)


def tag(seg: Segment) -> str:
    """The segment tag (``seg[0]``)."""
    head = seg[0]
    return head if isinstance(head, str) else element(seg, 0)


__all__ = [
    "NEED_DATA",
    "Delimiters",
    "Element",
    "Event",
    "GroupEnd",
    "GroupStart",
    "InterchangeEnd",
    "InterchangeStart",
    "Message",
    "Repeated",
    "Segment",
    "Sentinel",
    "component",
    "components",
    "element",
    "repetitions",
    "tag",
]
