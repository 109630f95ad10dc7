"""Streaming, sans-I/O X12 reader: bytes in, envelope events out.

Strategy (after h11): :class:`X12Reader` owns all parse state for one stream.
The caller feeds bytes with :meth:`X12Reader.receive_data` (``b""`` means end
of input) and pulls events with :meth:`X12Reader.next_event` until it returns
:data:`~translators.x12.syntax.NEED_DATA`.  No I/O, no clock, no logging.

Invariants:

* Text is decoded as latin-1, so every byte is one character and offsets in
  the decoded text are byte offsets; nothing is lost or re-encoded.
* Delimiters are learned from each ISA (element separator = 4th byte, ISA16
  = component separator, the byte after ISA16 = segment terminator, ISA11 =
  repetition separator from version 00402 on).  A mailbag may change them
  between interchanges.
* The hot path splits whole buffered chunks with ``str.split`` on the
  terminator (plus the CR/LF suffix seen after the ISA) and each segment on
  the element separator; per-character work only happens on the ISA.
* Memory is bounded by the largest transaction set: complete segments are
  only kept until their SE is seen, and an unterminated segment longer than
  ``max_segment_bytes`` is an error.
* The reader judges structure only as far as it needs to: a missing SE, GE
  or IEA is reported by *synthesising* the closing event with an empty
  ``segment`` tuple (the envelope validator names the error), so no data is
  dropped silently.  What the reader cannot make sense of (no ISA, bad
  delimiters, data outside any transaction set, oversize input) raises
  :class:`~translators.errors.RemoteSyntaxError` from ``next_event``; the
  reader then resynchronises and ``next_event`` may be called again.

Tolerated on purpose: a UTF-8 BOM and blank lines before an ISA; NUL, Ctrl-Z
and whitespace between or after interchanges; an ISA that is not 106 bytes
(found by counting its 16 element separators, not by offsets); ISA padding
of any kind (values are kept as sent; the envelope checks judge widths);
indentation before segments; line wrapping anywhere, the ISA included; a
terminator given as a multi-byte UTF-8 character (e.g. U+2026): it is kept
as its 2-4 latin-1 characters, so it still round-trips byte for byte; a last
segment without terminator.

Not supported (reported with a TA1 code, never guessed): an element
separator, component separator or terminator that is a letter or digit, or
that repeats another delimiter (``TA1:026``/``027``/``004``); an ISA whose 16
element separators are not found within 512 bytes (``TA1:022``); input ending
inside the ISA (``TA1:023``); CR or LF as data when the terminator is not
itself CR/LF (treated as line wrapping and removed, as X12's character set
has no CR/LF data); data outside any interchange or group (``TA1:024``).
"""

from __future__ import annotations

import enum
from dataclasses import FrozenInstanceError
from sys import intern
from typing import Final

from ..errors import Location, RemoteSyntaxError, Scope
from ..options import TranslatorOptions
from ..shapes import Shape
from .syntax import (
    NEED_DATA,
    Delimiters,
    Event,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Segment,
    TechnicalAck,
    TransactionSet,
    _NeedData,
)

# Final throughout: compiled, a Final module constant is a C static, where any other module name is
# a lookup in the module's dict (~140 instructions) at every use.
_BOM: Final = "\xef\xbb\xbf"  # UTF-8 byte order mark seen through latin-1
_BLANK: Final = " \t\r\n\x00\x1a"  # whitespace, NUL and Ctrl-Z (DOS end of file) between interchanges
_LINE: Final = "\r\n"
_ISA_MAX: Final = 512  # an ISA is 106 bytes; unpadded or wrapped ones stay far below this
_ENVELOPE: Final = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})
_CONTROLS: Final = "".join(map(chr, range(0x20))) + "\x7f"
#: Entries of a reader's segment memo before it starts afresh (a few hundred KiB at most).
_SEGMENT_MEMO_LIMIT: Final = 4096
#: Segments read without the memo after it filled up with fewer than LIMIT / 2 hits (input
#: whose segments do not repeat: the memo then costs a hash, an insert and the longer life of
#: every tuple, and pays nothing), before it is tried again.
_SEGMENT_MEMO_PAUSE: Final = 16 * _SEGMENT_MEMO_LIMIT
#: Places of a set whose last raw segment the reader keeps (see ``X12Reader._recent_raw``).
_RECENT_LIMIT: Final = 512


class _State(enum.Enum):
    #: between interchanges, looking for the next ISA
    OUTSIDE = enum.auto()
    #: inside ISA..IEA, expecting GS, TA1 or IEA
    INTERCHANGE = enum.auto()
    #: inside GS..GE, expecting ST or GE
    GROUP = enum.auto()
    #: inside ST..SE, collecting segments
    TRANSACTION = enum.auto()
    #: discarding an oversize transaction set up to its SE
    SKIP_TRANSACTION = enum.auto()


class TransactionSetError(RemoteSyntaxError):
    """A transaction-scope error the reader found before it could emit the set.

    Carries what an AK2/IK2 needs besides the location.

    Args:
        message: plain-language reason.
        set_id: ST01 of the set in error.
        ack_hint: ``"AK5:<code>"``.
        location: where.
    """

    def __init__(self, message: str, *, set_id: str, ack_hint: str, location: Location) -> None:
        super().__init__(message, ack_hint=ack_hint, scope="transaction", location=location)
        self.set_id = set_id


def _symbol(c: int) -> int:
    # A tag character's digit in base 37: digits 1-10, capital letters 11-36, anything else 0.
    if 65 <= c <= 90:
        return c - 54
    if 48 <= c <= 57:
        return c - 47
    return 0


def _tag_code(raw: str, separator: int) -> int:
    """The tag of ``raw`` as a number below ``_TAG_CODES`` when it is two or three capital letters
    or digits (every X12 tag), followed by the element separator (code ``separator``) or nothing;
    -1 for any other start.

    Native arithmetic on at most four characters once compiled: it names the tag before the
    segment is split, so that the tag is interned and told from an envelope tag without hashing a
    new string (a set and a dict lookup per segment, ~500 instructions, where segments do not
    repeat).  No two-character code meets a three-character one: symbols start at 1.
    """
    n = len(raw)
    if n < 2:
        return -1
    first = ord(raw[0])
    second = ord(raw[1])
    if separator in (first, second):
        return -1  # a one-character tag, or none (a separator that is a letter or digit)
    a = _symbol(first)
    b = _symbol(second)
    if not a or not b:
        return -1
    if n == 2:
        return a * 37 + b
    c = ord(raw[2])
    if c == separator:
        return a * 37 + b
    d = _symbol(c)
    if not d or (n > 3 and ord(raw[3]) != separator):
        return -1
    return (a * 37 + b) * 37 + d


_TAG_CODES: Final = 37**3
#: Interned tags by :func:`_tag_code`, filled as tags are met (bounded by the codes themselves).
_TAG_TABLE: Final[list[str | None]] = [None] * _TAG_CODES


def _table_tag(code: int, raw: str) -> str:
    # The interned tag of ``raw``, whose tag has this code.
    known = _TAG_TABLE[code]
    if known is None:
        known = intern(raw[: 2 if code < 37 * 37 else 3])
        _TAG_TABLE[code] = known
    return known


def _interned(tag: str) -> str:
    """``tag`` interned when it is an X12 tag; any other text as it is.

    A segment's tag keys most later lookups (envelope checks, validation rules and structures, the
    maps' dispatch tables), whose keys are compiled literals, which are interned: the interned tag
    matches them by identity instead of by a compare of characters.  Text of any other shape
    matches none of them, and is not worth interning.
    """
    code = _tag_code(tag, -1)
    return tag if code < 0 else _table_tag(code, tag)


def _body_fields(raw: str, esep: str, separator: int) -> list[str] | None:
    """The elements of ``raw``, a segment inside a transaction set, its tag interned; None when it
    is an envelope segment (ST, SE, GE, ...), which the reader's general path handles."""
    code = _tag_code(raw, separator)
    if code < 0:
        # No X12 tag, so no envelope tag either: the validation will name it.
        return raw.split(esep)
    known = _table_tag(code, raw)
    # Interned: the set finds it by its cached hash and identity.
    if known in _ENVELOPE:
        return None
    fields = raw.split(esep)
    fields[0] = known
    return fields


def _utf8_length(lead: str) -> int:
    # A UTF-8 lead byte (seen as latin-1) announces how many bytes follow.
    if "\xc2" <= lead <= "\xdf":
        return 2
    if "\xe0" <= lead <= "\xef":
        return 3
    if "\xf0" <= lead <= "\xf4":
        return 4
    return 1


def _clean(raw: str, line_is_data: bool) -> str:
    # Indentation and line wrapping are layout, not data (X12 has no CR/LF in its character set).
    s = raw.lstrip(_BLANK)
    if not line_is_data and ("\n" in s or "\r" in s):
        s = s.replace("\r", "").replace("\n", "")
    return s


class X12Reader:
    """Incremental X12 parser producing envelope events.

    Args:
        options: size limits come from ``max_segment_bytes``,
            ``max_transaction_segments`` and ``max_interchange_bytes``.

    Example::

        reader = X12Reader(options)
        reader.receive_data(chunk)          # any number of times
        reader.receive_data(b"")            # end of input
        while (event := reader.next_event()) is not NEED_DATA:
            ...
    """

    def __init__(self, options: TranslatorOptions | None = None) -> None:
        opts = options or TranslatorOptions()
        self._max_segment = opts.max_segment_bytes
        self._max_tx = opts.max_transaction_segments
        self._max_interchange = opts.max_interchange_bytes
        self._pending: list[str] = []
        self._text = ""  # unsplit text; starts at stream offset self._text_offset
        self._text_offset = 0
        self._received = 0
        self._eof = False
        # A list, not a deque: it rarely holds more than one item, and list append and pop(0) are
        # native once compiled (a deque's were generic method calls, ~220 instructions each).
        self._outbox: list[Event | RemoteSyntaxError] = []
        self._state = _State.OUTSIDE
        # segment mode: complete raw segments split from the text
        self._parts: list[str] = []
        self._idx = 0
        self._joiner = ""
        self._clean_parts = True
        self._offset = 0  # stream offset of self._parts[self._idx]
        # A control character that can sit inside an element under the current delimiters.
        self._unplain = tuple(_CONTROLS)
        self._chunk_plain = False  # the segments in self._parts hold printable ASCII only
        # Body segments by raw text, under the current element separator. Most segments of a
        # partner's sets repeat verbatim (its addresses, contacts, terms, packaging, ...): a hit
        # costs one hash and compare instead of a split, a tuple and ~5 strings, and later stages
        # see the same tuple again (the validator memoises clean segments by it). Tuples of
        # strings are immutable, so sets may share them.
        self._memo: dict[str, Segment] = {}
        self._memo_hits = 0  # since the memo last started afresh
        self._memo_paused = 0  # segments still to read without it
        # The raw text and tuple of the segment last read at each place of a set (index 0, the
        # ST, is never used): the memo's first look, under the same element separator.
        self._recent_raw: list[str] = [""]
        self._recent_segs: list[Segment] = [()]
        self._tx_plain = False  # ... and so did every chunk the open transaction set came from
        # envelope context
        self._delims = Delimiters()
        self._line_is_data = False
        self._isa_control = ""
        self._isa_offset = 0
        self._group_count = 0
        self._gs: Segment = ()
        self._tx_count = 0
        self._tx: list[Segment] = []
        self._tx_offset = 0
        self._stray_reported = False
        self._junk_reported = False
        self._discarding = False
        self._iea_suffix = ""
        self._leading = ""
        self._oversize_at: int | None = None

    # -- public API -------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes; ``b""`` marks the end of input.

        Args:
            data: the next chunk, any size (one byte is fine).

        Raises:
            RuntimeError: data after the end of input was signalled (a caller bug).
        """
        if self._eof:
            if data:
                raise RuntimeError("X12Reader received data after end of input")
            return
        if not data:
            self._eof = True
            return
        self._received += len(data)
        self._pending.append(data.decode("latin-1"))

    @property
    def finished(self) -> bool:
        """True once end of input was signalled and every event has been returned."""
        return (
            self._eof
            and not self._outbox
            and self._state is _State.OUTSIDE
            and not self._pending
            and not self._text.strip(_BLANK)
        )

    def next_event(self) -> Event | _NeedData:
        """Return the next event, or ``NEED_DATA`` when more bytes are needed.

        After end of input, ``NEED_DATA`` means everything has been returned.

        Returns:
            An :class:`InterchangeStart`, :class:`GroupStart`,
            :class:`TransactionSet`, :class:`TechnicalAck`, :class:`GroupEnd`
            or :class:`InterchangeEnd`, or ``NEED_DATA``.

        Raises:
            RemoteSyntaxError: the bytes break X12 syntax here; the error names
                the place and carries the TA1/997/999 code in ``ack_hint``.  The
                reader has already resynchronised, so calling ``next_event``
                again continues with the rest of the input.
        """
        while True:
            if self._outbox:
                item = self._outbox.pop(0)
                if isinstance(item, RemoteSyntaxError):
                    raise item
                return item
            outside = self._state is _State.OUTSIDE
            progressed = self._find_interchange() if outside else self._read_segments()
            if not progressed and not self._outbox:
                return NEED_DATA

    # -- buffering --------------------------------------------------------------------------------

    def _merge_pending(self) -> None:
        if self._pending:
            self._text = self._text + "".join(self._pending)
            self._pending.clear()

    def _leave_segment_mode(self, from_index: int) -> None:
        # Give the unread segments back to the text buffer (split/join are inverse), so the next
        # ISA is parsed with its own delimiters.
        rest = self._parts[from_index:]
        if rest:
            self._text = self._joiner.join(rest) + self._joiner + self._text
            self._text_offset = self._offset
        self._parts = []
        self._idx = 0

    def _error(self, message: str, ack_hint: str | None, scope: Scope, location: Location) -> None:
        self._outbox.append(RemoteSyntaxError(message, ack_hint=ack_hint, scope=scope, location=location))

    # -- outside interchanges ---------------------------------------------------------------------

    def _find_interchange(self) -> bool:
        self._merge_pending()
        text = self._text
        start = 0
        if self._text_offset == 0:
            # A UTF-8 byte order mark is tolerated at the very start of the stream only.
            if text and len(text) < 3 and _BOM.startswith(text) and not self._eof:
                return False
            if text.startswith(_BOM):
                start = 3
        if self._iea_suffix:
            # In slow mode the previous IEA's CR/LF suffix is still in the text.
            if len(text) < len(self._iea_suffix) and self._iea_suffix.startswith(text) and not self._eof:
                return False
            if text.startswith(self._iea_suffix):
                self._advance_text(len(self._iea_suffix))
                text = self._text
            self._iea_suffix = ""
        n = len(text)
        while start < n and text[start] in _BLANK:
            start += 1
        rest = text[start:]
        if not rest:
            self._leading += text
            self._text_offset += len(text)
            self._text = ""
            return False
        if not rest.startswith("ISA"):
            if "ISA".startswith(rest) and not self._eof:
                self._leading += text[:start]
                self._advance_text(start)
                return False
            self._leading = ""
            found = rest.find("ISA", 1)
            if not self._junk_reported and not self._discarding:
                self._junk_reported = True
                self._error(
                    "data outside any interchange (expected an ISA segment)",
                    "TA1:024",
                    "interchange",
                    Location(byte_offset=self._text_offset + start),
                )
            if found < 0:
                keep = 0 if self._eof else 2  # a split "IS" may start the next ISA
                self._advance_text(max(start, n - keep))
                return bool(self._outbox)
            self._advance_text(start + found)
            return True
        if len(rest) < 4:
            if self._eof:
                return self._truncated_isa(start)
            self._leading += text[:start]
            self._advance_text(start)
            return False
        return self._parse_isa(start)

    def _advance_text(self, count: int) -> None:
        self._text = self._text[count:]
        self._text_offset += count

    def _truncated_isa(self, start: int) -> bool:
        self._error(
            "input ends inside the ISA header",
            "TA1:023",
            "interchange",
            Location(segment_tag="ISA", byte_offset=self._text_offset + start),
        )
        self._text_offset += len(self._text)
        self._text = ""
        return True

    def _bad_isa(self, start: int, message: str, code: str) -> bool:
        self._error(
            message,
            f"TA1:{code}",
            "interchange",
            Location(segment_tag="ISA", byte_offset=self._text_offset + start),
        )
        # Skip this ISA and everything up to the next one.
        self._advance_text(start + 3)
        self._junk_reported = True
        self._discarding = True
        return True

    def _parse_isa(self, start: int) -> bool:
        text = self._text
        isa_offset = self._text_offset + start
        esep = text[start + 3]
        if esep.isalnum() or esep in _LINE:
            return self._bad_isa(start, f"invalid element separator {esep!r} in ISA", "026")
        pos = start + 4
        limit = start + _ISA_MAX
        for _ in range(15):
            j = text.find(esep, pos, limit)
            if j < 0:
                if len(text) < limit and not self._eof:
                    return False
                if self._eof and len(text) < limit:
                    return self._truncated_isa(start)
                return self._bad_isa(start, "ISA does not have 16 elements", "022")
            pos = j + 1
        # ISA16 follows the 16th separator; a line wrap may sit in between.
        k = pos
        n = len(text)
        while k < n and text[k] in _LINE:
            k += 1
        if k + 1 >= n:
            if not self._eof:
                return False
            return self._truncated_isa(start)
        component = text[k]
        term = text[k + 1]
        tlen = _utf8_length(term)
        if tlen > 1:
            if k + 1 + tlen > n and not self._eof:
                return False
            candidate = text[k + 1 : k + 1 + tlen]
            if len(candidate) == tlen and all("\x80" <= c <= "\xbf" for c in candidate[1:]):
                # A multi-byte UTF-8 terminator (e.g. U+2026): kept as its latin-1 characters.
                term = candidate
            else:
                tlen = 1
        after = k + 1 + tlen
        m = after
        while m < n and text[m] in _LINE and text[m] not in term:
            m += 1
        if m >= n and not self._eof:
            return False  # the CR/LF suffix may continue in the next chunk
        suffix = text[after:m]
        raw_isa = text[start:pos]
        if "\r" in raw_isa or "\n" in raw_isa:
            raw_isa = raw_isa.replace("\r", "").replace("\n", "")
        fields = raw_isa.split(esep)
        seg: Segment = (*fields[:16], component)
        if component.isalnum() or component == esep:
            return self._bad_isa(start, f"invalid component separator (ISA16) {component!r}", "027")
        if term.isalnum() or term in (esep, component):
            return self._bad_isa(start, f"invalid segment terminator {term!r} after ISA16", "004")
        version = seg[12].strip()
        rep: str | None = seg[11]
        # ISA11 is the repetition separator from version 00402 on; before, it is the standards id.
        if version < "00402" or rep is None or rep.isalnum() or rep in (esep, component, term) or rep == " ":
            rep = None
        try:
            delims = Delimiters(
                element=esep, segment=term, segment_suffix=suffix, component=component, repetition=rep
            )
        except ValueError as exc:
            return self._bad_isa(start, str(exc), "026")
        leading = self._leading + text[:start] if not self._discarding else ""
        self._leading = ""
        if delims.element != self._delims.element:
            self._memo = {}
            self._memo_hits = 0
            self._recent_raw = [""]
            self._recent_segs = [()]
        self._delims = delims
        self._line_is_data = term in _LINE
        # Splitting removes the terminator, its CR/LF suffix and the element separator (the
        # clean-text checks in _refill verify that they occur nowhere else); any other control
        # character would reach an element.
        self._unplain = tuple(c for c in _CONTROLS if c not in term + suffix + esep)
        self._isa_control = seg[13].strip()
        self._isa_offset = isa_offset
        self._group_count = 0
        self._stray_reported = False
        self._junk_reported = False
        self._discarding = False
        self._state = _State.INTERCHANGE
        self._outbox.append(
            InterchangeStart(segment=seg, delimiters=delims, byte_offset=isa_offset, leading=leading)
        )
        self._advance_text(m)
        self._offset = self._text_offset
        self._parts = []
        self._idx = 0
        return True

    # -- inside interchanges ----------------------------------------------------------------------

    def _refill(self) -> bool:
        """Split the buffered text into complete raw segments; False if none is complete."""
        if self._oversize_at is not None:
            return self._oversize_segment()
        self._merge_pending()
        text = self._text
        term = self._delims.segment
        suffix = self._delims.segment_suffix
        ts = term + suffix
        # A buffer may end between a terminator and its suffix (a chunk boundary, or a last segment
        # with no line end yet): that segment waits for the next bytes, or for the end of input.
        # Taken now, it left the next buffer starting with the suffix alone, as layout, and both
        # buffers took the careful path below (a third of the reader's speed on 1 MiB chunks).
        end = len(text)
        if suffix and not self._eof:
            last = text.rfind(term)
            rest = len(text) - last - len(term)
            if last >= 0 and rest < len(suffix) and suffix.startswith(text[last + len(term) :]):
                end = last
        cut = text.rfind(ts, 0, end)
        if cut < 0 and end < len(text) and end <= self._max_segment and text.rfind(term, 0, end) < 0:
            return self._no_complete_segment()  # the waiting segment is all there is
        parts: list[str] | None = None
        if suffix and cut >= 0 and text.find(term, cut + len(ts), end) < 0:
            complete = text[: cut + len(ts)]
            parts = complete.split(ts)
            # Verify every terminator carried exactly the suffix and nothing else is layout: no
            # terminator (nor, below, CR or LF) is left inside a segment. Looked for in the
            # segments joined, a copy and one memchr pass each (~0.3 instructions a byte), not
            # counted in the text: str.count of one character is a loop of ~3 instructions a
            # byte. A multi-byte terminator that two joined segments happen to spell is a false
            # alarm, which only costs the careful path below.
            inner = "".join(parts)
            if (
                complete[0] in _BLANK
                or term in inner
                or (ts + " ") in complete
                # NUL / Ctrl-Z before a tag is layout too (the slow path strips it, as a chunked
                # feed does): without this check a whole buffer kept it in the tag. Each of these
                # characters is first looked for alone (one memchr pass, ~15 us per MiB): they are
                # rare, and a pair search costs ~0.9 ms per MiB when the terminator is frequent.
                or ("\t" in complete and (ts + "\t") in complete)
                or ("\x00" in complete and (ts + "\x00") in complete)
                or ("\x1a" in complete and (ts + "\x1a") in complete)
                or (not self._line_is_data and ("\r" in inner or "\n" in inner))
            ):
                parts = None
            if parts is not None:
                self._joiner = ts
                self._clean_parts = True
        if parts is None:
            cut = text.rfind(term, 0, end)
            if cut < 0:
                cut = text.rfind(term)  # a waiting segment too long to wait: taken as it is
            if cut < 0:
                return self._no_complete_segment()
            complete = text[: cut + len(term)]
            parts = complete.split(term)
            self._joiner = term
            self._clean_parts = not suffix and _is_plain(complete, term)
        self._offset = self._text_offset
        self._text = text[len(complete) :]
        self._text_offset += len(complete)
        parts.pop()  # complete ends with the joiner
        limit = self._max_segment
        big = -1
        # An indexed loop, native once compiled: max(map(len, parts)) made a generic call of len()
        # per segment (~300 instructions each).
        for i in range(len(parts)):
            if len(parts[i]) > limit:
                big = i
                break
        if big >= 0:
            # Process what precedes the oversize segment first (as a chunked feed would), then
            # report it; what follows it is searched for the next ISA.
            jl = len(self._joiner)
            at = self._offset + sum(len(p) + jl for p in parts[:big])
            after = parts[big + 1 :]
            if after:
                self._text = self._joiner.join(after) + self._joiner + self._text
            self._text_offset = at + len(parts[big]) + jl
            self._oversize_at = at
            parts = parts[:big]
        self._parts = parts
        self._idx = 0
        # Once per chunk, instead of per-element character checks in validation: one memchr pass
        # per control character (~0.5 ms per MiB in all; bytes.translate took 1.5, a regex 6).
        plain = self._clean_parts and not self._line_is_data and complete.isascii()
        if plain:
            for c in self._unplain:
                if c in complete:
                    plain = False
                    break
        self._chunk_plain = plain
        self._tx_plain = self._tx_plain and plain
        if self._text_offset - self._isa_offset > self._max_interchange:
            return self._oversize_interchange()
        return True

    def _no_complete_segment(self) -> bool:
        text = self._text
        if not self._eof:
            if len(text) > self._max_segment:
                return self._oversize_segment()
            return False
        if text.strip(_BLANK):
            # Lenient: the last segment (usually the IEA) may lack its terminator.
            self._parts = [text.rstrip(_BLANK)]
            self._joiner = self._delims.segment
            self._clean_parts = False
            self._chunk_plain = self._tx_plain = False
            self._offset = self._text_offset
            self._text_offset += len(text)
            self._text = ""
            self._idx = 0
            return True
        self._text_offset += len(text)
        self._text = ""
        self._close_open_structures()
        return True

    def _oversize_segment(self) -> bool:
        at = self._oversize_at
        if at is None:
            # No terminator within the limit: drop the unterminated text itself.
            at = self._text_offset
            self._text_offset += len(self._text)
            self._text = ""
        self._oversize_at = None
        self._error(
            f"segment longer than {self._max_segment} bytes (or segment terminator "
            f"{self._delims.segment!r} missing)",
            "TA1:024",
            "interchange",
            Location(interchange=self._isa_control, byte_offset=at),
        )
        self._abandon_interchange()
        return True

    def _oversize_interchange(self) -> bool:
        self._error(
            f"interchange larger than {self._max_interchange} bytes",
            "TA1:024",
            "interchange",
            Location(interchange=self._isa_control, byte_offset=self._isa_offset),
        )
        self._abandon_interchange()
        return True

    def _abandon_interchange(self) -> None:
        # Close what is open with synthetic trailers so consumers see the envelope end, then skip
        # everything up to the next ISA.
        off = self._text_offset
        self._tx = []
        if self._state in (_State.TRANSACTION, _State.SKIP_TRANSACTION):
            self._state = _State.GROUP if self._gs else _State.INTERCHANGE
        if self._state is _State.GROUP:
            self._end_group((), off)
        if self._state is _State.INTERCHANGE:
            self._end_interchange((), off)
        self._parts = []
        self._idx = 0
        self._state = _State.OUTSIDE
        self._iea_suffix = ""
        self._discarding = True
        self._junk_reported = True

    def _close_open_structures(self) -> None:
        # Input ended inside an envelope: synthesise the missing trailers (empty segment tuples)
        # so the envelope validator reports each one (TA1 023 premature end of file).
        off = self._text_offset
        if self._state in (_State.TRANSACTION, _State.SKIP_TRANSACTION):
            self._finish_transaction(off)
        if self._state is _State.GROUP:
            self._end_group((), off)
        if self._state is _State.INTERCHANGE:
            self._end_interchange((), off)

    def _read_segments(self) -> bool:
        if self._idx >= len(self._parts):
            if not self._refill():
                return False
            if self._state is _State.OUTSIDE or self._outbox:
                return True
        parts = self._parts
        n = len(parts)
        idx = self._idx
        off = self._offset
        jl = len(self._joiner)
        esep = self._delims.element
        separator = ord(esep) if len(esep) == 1 else -1
        clean = self._clean_parts
        line_is_data = self._line_is_data
        tx = self._tx
        envelope = _ENVELOPE
        in_tx = self._state is _State.TRANSACTION
        memo = self._memo
        while idx < n:
            if in_tx and clean:
                # The hot path: the body of a transaction set in layout-free text.  Runs up to the
                # next envelope segment (or an empty part), which the general loop below handles.
                start = idx
                size = 0
                if self._memo_paused > 0:
                    while idx < n:
                        raw = parts[idx]
                        if not raw:
                            break
                        fields = _body_fields(raw, esep, separator)
                        if fields is None:
                            break
                        tx.append(tuple(fields))
                        size += len(raw)
                        idx += 1
                    self._memo_paused -= idx - start
                recent = self._recent_raw
                recent_segs = self._recent_segs
                while idx < n and self._memo_paused <= 0:
                    raw = parts[idx]
                    k = len(tx)  # the segment's place in its set (ST is 0)
                    if 0 < k < len(recent) and recent[k] == raw:
                        # A partner's sets mostly repeat the one before, place by place: a
                        # compare with the text read there last time costs less than hashing.
                        tx.append(recent_segs[k])
                        self._memo_hits += 1
                        size += len(raw)
                        idx += 1
                        continue
                    seg = memo.get(raw)
                    if seg is None:
                        if not raw:
                            break
                        fields = _body_fields(raw, esep, separator)
                        if fields is None:
                            break  # never memoised: envelope segments take the general path
                        seg = tuple(fields)
                        if len(memo) >= _SEGMENT_MEMO_LIMIT:
                            if self._memo_hits < _SEGMENT_MEMO_LIMIT // 2:
                                self._memo_paused = _SEGMENT_MEMO_PAUSE
                            self._memo_hits = 0
                            memo.clear()
                        memo[raw] = seg
                    else:
                        self._memo_hits += 1
                    if 0 < k < len(recent):
                        recent[k] = raw
                        recent_segs[k] = seg
                    elif k == len(recent) and k < _RECENT_LIMIT:
                        recent.append(raw)
                        recent_segs.append(seg)
                    tx.append(seg)
                    size += len(raw)
                    idx += 1
                if idx > start:
                    off += size + jl * (idx - start)
                    if idx >= n:
                        break
            raw = parts[idx]
            seg_off = off
            idx += 1
            off += len(raw) + jl
            s = raw if clean else _clean(raw, line_is_data)
            if not s:
                continue
            fields = s.split(esep)
            tag = fields[0] = _interned(fields[0])
            if in_tx and tag not in envelope:
                tx.append(tuple(fields))
                continue
            self._idx = idx
            self._offset = off
            seg = tuple(fields)
            # Offsets name the tag itself, not the layout before it.
            at = seg_off if clean else seg_off + len(raw) - len(raw.lstrip(_BLANK))
            reprocess = self._envelope_segment(tag, seg, at)
            if reprocess:
                self._idx = idx - 1
                self._offset = seg_off
            if self._state is _State.OUTSIDE:
                self._leave_segment_mode(self._idx)
                return True
            if self._outbox:
                return True
            parts = self._parts
            n = len(parts)
            idx = self._idx
            off = self._offset
            tx = self._tx
            in_tx = self._state is _State.TRANSACTION
        self._idx = idx
        self._offset = off
        if self._state is _State.TRANSACTION and len(tx) > self._max_tx:
            self._oversize_transaction()
        return True

    def _oversize_transaction(self) -> None:
        st = self._tx[0]
        self._outbox.append(
            TransactionSetError(
                f"transaction set has more than {self._max_tx} segments",
                set_id=st[1] if len(st) > 1 else "",
                ack_hint="AK5:5",
                location=Location(
                    interchange=self._isa_control,
                    group=self._gs[6] if len(self._gs) > 6 else None,
                    transaction=st[2] if len(st) > 2 else None,
                    byte_offset=self._tx_offset,
                ),
            )
        )
        self._tx = []
        self._state = _State.SKIP_TRANSACTION

    def _envelope_segment(self, tag: str, seg: Segment, off: int) -> bool:
        """Handle a segment outside the hot path; True means: process it again in the new state."""
        state = self._state
        if state is _State.TRANSACTION:
            if tag == "SE":
                self._tx.append(seg)
                self._finish_transaction(off)
                return False
            # ST/GE/GS/IEA/ISA before SE: close the set without its trailer and re-read.
            self._finish_transaction(off)
            return True
        if state is _State.SKIP_TRANSACTION:
            back = _State.GROUP if self._gs else _State.INTERCHANGE
            if tag == "SE":
                self._state = back
                return False
            if tag in ("ST", "GE", "GS", "IEA", "ISA"):
                self._state = back
                return True
            return False
        if state is _State.GROUP:
            if tag == "ST":
                self._tx = [seg]
                self._tx_plain = self._chunk_plain
                self._tx_offset = off
                self._tx_count += 1
                self._state = _State.TRANSACTION
                self._stray_reported = False
                return False
            if tag == "GE":
                self._end_group(seg, off)
                return False
            if tag in ("GS", "IEA", "ISA"):
                self._end_group((), off)
                return True
            self._stray(tag, off, "group")
            return False
        # INTERCHANGE
        if tag == "GS":
            self._gs = seg
            self._group_count += 1
            self._tx_count = 0
            self._state = _State.GROUP
            self._stray_reported = False
            self._outbox.append(
                GroupStart(segment=seg, interchange_control=self._isa_control, byte_offset=off)
            )
            return False
        if tag == "IEA":
            self._end_interchange(seg, off)
            return False
        if tag == "TA1":
            self._outbox.append(
                TechnicalAck(segment=seg, interchange_control=self._isa_control, byte_offset=off)
            )
            return False
        if tag == "ISA":
            self._end_interchange((), off)
            return True
        if tag == "ST":
            # A transaction set outside any group cannot be acknowledged by a 997/999.
            self._stray(tag, off, "interchange")
            self._tx = [seg]
            self._state = _State.SKIP_TRANSACTION
            return False
        self._stray(tag, off, "interchange")
        return False

    def _stray(self, tag: str, off: int, scope: Scope) -> None:
        if self._stray_reported:
            return
        self._stray_reported = True
        where = "a functional group (GS..GE)" if scope == "interchange" else "a transaction set (ST..SE)"
        self._error(
            f"segment {tag} outside {where}",
            "TA1:024",
            scope,
            Location(
                interchange=self._isa_control,
                group=(self._gs[6] if len(self._gs) > 6 else None) if scope == "group" else None,
                segment_tag=tag,
                byte_offset=off,
            ),
        )

    def _finish_transaction(self, off: int) -> None:
        if self._state is _State.SKIP_TRANSACTION:
            self._state = _State.GROUP if self._gs else _State.INTERCHANGE
            return
        segs = self._tx
        if len(segs) > self._max_tx:
            self._oversize_transaction()
            self._state = _State.GROUP
            return
        self._tx = []
        st = segs[0]
        gs = self._gs
        n = len(st)
        g = len(gs)
        set_id = st[1] if n > 1 else ""
        control = st[2] if n > 2 else ""
        version = gs[8] if g > 8 else ""
        group_control = gs[6] if g > 6 else ""
        implementation_ref = st[3] if n > 3 and st[3] else None
        functional_id = gs[1] if g > 1 else ""
        if _NATIVE_STORES:
            tx = _transaction_set(
                set_id=set_id,
                control=control,
                segments=tuple(segs),
                version=version,
                group_control=group_control,
                interchange_control=self._isa_control,
                delimiters=self._delims,
                implementation_ref=implementation_ref,
                functional_id=functional_id,
                index=self._tx_count,
                byte_offset=self._tx_offset,
                plain=self._tx_plain,
            )
        else:
            tx = _TRANSACTION_SET.make(
                (
                    set_id,
                    control,
                    tuple(segs),
                    version,
                    group_control,
                    self._isa_control,
                    self._delims,
                    implementation_ref,
                    functional_id,
                    self._tx_count,  # index
                    self._tx_offset,  # byte_offset
                    self._tx_plain,  # plain
                )
            )
        self._outbox.append(tx)
        self._state = _State.GROUP

    def _end_group(self, seg: Segment, off: int) -> None:
        gs = self._gs
        self._outbox.append(
            GroupEnd(
                segment=seg,
                group_control=gs[6] if len(gs) > 6 else "",
                transaction_count=self._tx_count,
                byte_offset=off,
            )
        )
        self._gs = ()
        self._state = _State.INTERCHANGE
        self._stray_reported = False

    def _end_interchange(self, seg: Segment, off: int) -> None:
        self._outbox.append(
            InterchangeEnd(
                segment=seg,
                interchange_control=self._isa_control,
                group_count=self._group_count,
                byte_offset=off,
            )
        )
        self._state = _State.OUTSIDE
        self._junk_reported = False
        self._iea_suffix = "" if self._clean_parts else self._delims.segment_suffix


#: TransactionSet built from compiled code (see :class:`~translators.shapes.Shape`): its
#: dataclass ``__init__`` stays interpreted under mypyc (keyword parsing, then one
#: ``object.__setattr__`` per field through an interpreted frame); each field's slot setter
#: stores the value directly. The compiled-vs-pure snapshot test compares the results.
_TRANSACTION_SET: Final = Shape(
    TransactionSet,
    (
        "set_id",
        "control",
        "segments",
        "version",
        "group_control",
        "interchange_control",
        "delimiters",
        "implementation_ref",
        "functional_id",
        "index",
        "byte_offset",
        "plain",
    ),
)


#: Bound once: ``TransactionSet.__new__(...)`` looked the method up on the class at every call
#: (~200 instructions).
_NEW_TRANSACTION_SET: Final = TransactionSet.__new__


def _transaction_set(
    *,
    set_id: str,
    control: str,
    segments: tuple[Segment, ...],
    version: str,
    group_control: str,
    interchange_control: str,
    delimiters: Delimiters,
    implementation_ref: str | None,
    functional_id: str,
    index: int,
    byte_offset: int,
    plain: bool,
) -> TransactionSet:
    """What ``TransactionSet(...)`` returns, made the compiled way; only where :data:`_NATIVE_STORES`.

    Compiled, each assignment below stores into the instance's slot directly: the frozen
    ``__setattr__`` the dataclass decorator adds at run time is Python-level and a native store
    never calls it (mypy sees the frozen fields as read-only, hence the ignores). ~0.5k
    instructions a set, against ~6k through :data:`_TRANSACTION_SET` (a generic call of a slot
    setter per field). Every field is assigned: ``__new__`` leaves them all undefined.
    """
    tx: TransactionSet = _NEW_TRANSACTION_SET(TransactionSet)
    tx.set_id = set_id  # type: ignore[misc]
    tx.control = control  # type: ignore[misc]
    tx.segments = segments  # type: ignore[misc]
    tx.version = version  # type: ignore[misc]
    tx.group_control = group_control  # type: ignore[misc]
    tx.interchange_control = interchange_control  # type: ignore[misc]
    tx.delimiters = delimiters  # type: ignore[misc]
    tx.implementation_ref = implementation_ref  # type: ignore[misc]
    tx.functional_id = functional_id  # type: ignore[misc]
    tx.index = index  # type: ignore[misc]
    tx.byte_offset = byte_offset  # type: ignore[misc]
    tx.plain = plain  # type: ignore[misc]
    return tx


def _native_stores() -> bool:
    # Interpreted (a pure build, or the pure-import test hook), the stores above go through the
    # frozen __setattr__ and raise: the shape is used instead.
    probe: TransactionSet = TransactionSet.__new__(TransactionSet)
    try:
        probe.set_id = ""  # type: ignore[misc]
    except FrozenInstanceError:
        return False
    return True


#: True when this module is compiled and :func:`_transaction_set` can be used.
_NATIVE_STORES: Final = _native_stores()


def _is_plain(text: str, term: str) -> bool:
    # No layout characters at all (other than the terminator itself): segments need no cleaning.
    for c in "\r\n\t\x00\x1a":
        if c not in term and c in text:
            return False
    return text[:1] not in _BLANK and not text.startswith(term) and (term + " ") not in text


def read_events(data: bytes, options: TranslatorOptions | None = None) -> list[Event | RemoteSyntaxError]:
    """Parse a whole buffer; errors are returned in sequence instead of raised.

    Args:
        data: the complete input.
        options: size limits.

    Returns:
        Events and errors in the order the reader produced them.
    """
    reader = X12Reader(options)
    reader.receive_data(data)
    reader.receive_data(b"")
    out: list[Event | RemoteSyntaxError] = []
    while True:
        try:
            event = reader.next_event()
        except RemoteSyntaxError as exc:
            out.append(exc)
            continue
        if isinstance(event, _NeedData):
            return out
        out.append(event)


__all__ = ["TransactionSetError", "X12Reader", "read_events"]
