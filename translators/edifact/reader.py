"""Streaming, sans-I/O EDIFACT reader (h11 style): bytes in, events out.

Usage::

    reader = EdifactReader(options)
    reader.receive_data(chunk)          # as often as needed; b"" means end of data
    while (event := reader.next_event()) is not NEED_DATA:
        ...

Strategy:

* The header (UNA service string advice, ISO 9735-1 clause 7.2, then UNB) is
  read at the byte level: UNA fixes the six service characters, the UNB
  syntax identifier fixes the character set.  Without UNA the ISO 9735
  defaults apply (``:+.? '``; syntax 4 adds ``*`` as repetition separator;
  UNOB with IS4 after UNB means the IS1-IS4 defaults).
* After the header, whole buffered runs of complete segments are split with
  ``bytes.split`` on the segment terminator (C speed); a piece ending in an
  odd run of release characters is glued back to the next piece, because
  ``?'`` is a released terminator (ISO 9735-1 clause 7.4: the release
  character restores the ordinary meaning of the character that follows).
  A run decodes in one call when the character set has one byte per
  character (offsets are then string lengths); otherwise, or when decoding
  fails, each segment is decoded on its own so the error names the exact
  byte offset and segment.  In the common case (clean decode, one
  line-break style, no hard wrap) the run is split with list comprehensions
  and message bodies are appended by slices (:meth:`EdifactReader._bulk`);
  unusual runs take a per-segment loop.  Segments without a release
  character are split with ``str.split``; the rest go through a regex
  tokenizer.
* Line breaks: CR and LF are not in any EDIFACT graphic repertoire, so they
  are never data.  CR/LF right after a terminator is a line-break style
  (reported in :class:`InterchangeEnd` so the writer can reproduce it);
  CR/LF inside a segment is a hard wrap and is dropped.  When the UNA makes
  CR or LF itself a service character, that character is kept.
* State (delimiters, open interchange/group/message, counts) lives here, one
  reader per stream.  Problems that leave the framing intact are attached to
  the event concerned (``errors``); problems that break it raise
  :class:`RemoteSyntaxError` from :meth:`next_event` and the reader stays
  failed, re-raising the same error.
* Memory is bounded: a segment longer than ``max_segment_bytes`` or a
  message with more than ``max_transaction_segments`` segments raises;
  consumed bytes are dropped from the buffer.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from sys import intern
from typing import Any, Final, cast

from ..errors import Location, RemoteSyntaxError, Scope
from ..options import TranslatorOptions
from . import envelope
from .charset import CHARSETS, Charset, lenient_decode
from .syntax import (
    NEED_DATA,
    Delimiters,
    Element,
    Event,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Repeated,
    Segment,
    Sentinel,
    component,
    element,
    new_message,
)

# Whitespace and DOS padding tolerated between interchanges and at the end
# of a file (same set as translators.sniff), plus a UTF-8 byte order mark.
_BOM = b"\xef\xbb\xbf"
_GAP = b" \t\r\n\x00\x1a"
# Bytes split per run.  Small enough that one run's segments are consumed
# before the cyclic GC sees many of them (a 256 KiB run made it traverse
# thousands of live tuples again and again), large enough that the per-run
# checks (counts, decode, repertoire search) stay negligible.
_WINDOW = 32 * 1024
# Split segments are memoised per reader (text -> tuple): an interchange
# repeats many segments verbatim (parties, dates, currency, UNS, CNT...), and a
# dict lookup is much cheaper than splitting again.  Segments are immutable, so
# messages may share them.  Bounded by the characters fed through it since the
# last reset (keys are slices of those runs) and by its entry count.
_MEMO_CHARS = 1 << 20
_MEMO_ENTRIES = 2048
# The memo pays only when segments repeat.  A run where fewer than one
# segment in _MEMO_MIN_HITS was found turns it off for the next _MEMO_REST
# runs (a file of unique segments then splits directly, without the lookup,
# the insert and the live tuples the memo holds), after which it is tried again.
_MEMO_MIN_HITS = 4
_MEMO_REST = 16
# What the reader knows of a well-formed tag (EdifactReader._known_tags).  A tag whose segments
# filled more than 1 in _MEMO_CROWD of the memo when it overflowed (a line item number, an order
# number: a value that differs in every message) is kept out of it from then on: those
# segments cost an insert each and crowded out the ones that repeat, for the clear to drop.
# (Final: compiled, a constant instead of a module-dict lookup per use; _MEMO_CROWD is read
# only when the memo overflows, and tests change it.)
_BODY: Final = 0
_SERVICE: Final = 1
_BODY_UNMEMOISED: Final = 2
_MEMO_CROWD = 4
#: bound of a reader's interned tag names (a file of garbage tags must not grow it without end)
_MAX_TAG_NAMES: Final = 1024
_SERVICE_TAGS = frozenset({"UNH", "UNT", "UNG", "UNE", "UNZ", "UNB", "UNA"})
_TAG_RE = re.compile(r"[A-Z0-9]{3}")
_NEVER = re.compile(r"(?!)")


class ReaderState(enum.Enum):
    """Where the reader is in the interchange grammar."""

    #: expecting UNA/UNB (start of stream, or after UNZ)
    HEADER = "HEADER"
    #: inside UNB..UNZ, outside any group or message
    INTERCHANGE = "INTERCHANGE"
    #: inside UNG..UNE, outside a message
    GROUP = "GROUP"
    #: inside UNH..UNT
    MESSAGE = "MESSAGE"
    #: end of data seen and everything consumed
    DONE = "DONE"
    #: a framing error was raised; every later call re-raises it
    ERROR = "ERROR"


@dataclass(slots=True)
class _Interchange:
    ref: str
    start: InterchangeStart
    offset: int
    messages: int = 0
    groups: int = 0
    refs: set[str] = field(default_factory=set)
    line_break: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Group:
    ref: str
    messages: int = 0


class _Offsets:
    """Where each piece of a run starts in the stream, summed only as far as it is asked.

    Only the service segments (two per message) and the rare error need an offset, and they are
    asked in increasing order: a running sum over native ints, instead of a list of every
    piece's offset (a boxed int per segment).
    """

    def __init__(self, pieces: list[str], base: int, step: int) -> None:
        self.pieces = pieces
        self.base = base
        self.step = step
        self.index = 0
        self.offset = base

    def of(self, i: int) -> int:
        """Offset of piece ``i`` (``i == len(pieces)``: just past the last terminator and break)."""
        if i < self.index:
            self.index = 0
            self.offset = self.base
        pieces = self.pieces
        step = self.step
        offset = self.offset
        for j in range(self.index, i):
            offset += len(pieces[j]) + step
        self.index = i
        self.offset = offset
        return offset


class _Memo:
    """A memoised segment, and the piece that followed its text the last time it was read.

    Interchanges repeat whole runs of segments in the same order (a party with its contact,
    a line's PIA-IMD-QTY-PRI, UNS-CNT): when a piece is the text that followed the previous
    piece's entry last time, one string comparison finds its entry, where the memo's dict hashes
    the piece and compares it again (see :meth:`EdifactReader._split_run_memo`).  When what
    followed was no memo material (a LIN or UNT, different in every message: ``lone``), the next
    such piece is split without the lookup that could not find it, and ``after2``/``next2`` hold
    the piece after that one (a line's PIA after its LIN).  An entry holds two such texts at
    most, each no longer than a segment: the memo's bound at most triples.
    """

    __slots__ = ("after", "after2", "lone", "next", "next2", "seg")

    def __init__(self, seg: Segment) -> None:
        self.seg = seg
        self.after: str | None = None  # the text of the piece that followed
        self.next: _Memo | None = None  # and its entry
        self.lone = False  # the piece that followed last was no memo material
        self.after2: str | None = None  # then: the text of the piece after it
        self.next2: _Memo | None = None  # and its entry


class _Open:
    # A plain class, not a dataclass: one per message, and a dataclass
    # ``__init__`` (default factories) costs ten times more, even compiled.
    __slots__ = ("errors", "header", "index", "offset", "ref", "segments", "warnings")

    def __init__(self, ref: str, header: Segment, offset: int, index: int) -> None:
        self.ref = ref
        self.header = header
        self.offset = offset
        self.index = index
        self.segments: list[Segment] = [header]
        self.errors: list[RemoteSyntaxError] = []
        self.warnings: list[str] = []


@lru_cache(maxsize=64)
def _tokenizer(d: Delimiters) -> re.Pattern[str]:
    # Memoised: every file and every UNA would otherwise compile the same pattern again.
    specials = d.element + d.component + (d.repetition or "")
    body = "".join(re.escape(c) for c in specials)
    plain = "".join(re.escape(c) for c in specials + (d.release or ""))
    if not d.release:
        return re.compile(f"(?!)(.)|([{body}])|([^{plain}]+)|(?!)(.)", re.S)
    rel = re.escape(d.release)
    return re.compile(f"{rel}(.)|([{body}])|([^{plain}]+)|({rel})$", re.S)


class EdifactReader:
    """Incremental EDIFACT parser; see the module docstring for the strategy.

    Args:
        options: limits (``max_segment_bytes``, ``max_transaction_segments``,
            ``max_interchange_bytes``), ``lenient_charset`` and ``strict``.
    """

    def __init__(self, options: TranslatorOptions | None = None) -> None:
        self.options = options or TranslatorOptions()
        self.state = ReaderState.HEADER
        self._buf: bytes | bytearray = b""
        self._pos = 0  # read position inside _buf
        self._base = 0  # stream offset of _buf[0]
        self._eof = False
        self._events: deque[Event] = deque()
        self._error: RemoteSyntaxError | None = None
        self._delims = Delimiters()
        self._charset: Charset = CHARSETS["UNOA"]
        self._bad_char: re.Pattern[bytes] | None = None
        self._bad_char_text: re.Pattern[str] = _NEVER
        self._token: re.Pattern[str] = _tokenizer(self._delims)
        self._wrap = b"\r\n"
        self._ic: _Interchange | None = None
        self._group: _Group | None = None
        self._msg: _Open | None = None
        self._seen_first = False
        # Tags already checked well-formed -> whether they are service tags (UNH, UNT...): one
        # lookup per segment answers both questions. A malformed tag is never recorded.
        self._known_tags: dict[Element, int] = {}  # _BODY, _SERVICE or _BODY_UNMEMOISED
        self._tag_names: dict[str, str] = {}  # tag -> the same tag interned (see _named)
        self._memo: dict[str, _Memo] = {}
        self._memo_chars = 0
        self._memo_delims = self._delims
        self._memo_rest = 0  # runs left with the memo off (see _MEMO_REST)

    # -- public API -------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes to the buffer; ``b""`` signals the end of the data.

        Args:
            data: the next chunk, any size, split anywhere.

        Raises:
            RuntimeError: data after the end-of-data signal (a caller bug).
        """
        if self._eof and data:
            raise RuntimeError("receive_data() after end of data")
        if not data:
            self._eof = True
            return
        if self._pos >= len(self._buf):
            self._base += len(self._buf)
            self._buf = bytes(data)
            self._pos = 0
            return
        if isinstance(self._buf, bytes):
            rest = bytearray(self._buf[self._pos :])
            self._base += self._pos
            self._pos = 0
            self._buf = rest
        elif self._pos > 1 << 20 and self._pos > len(self._buf) // 2:
            del self._buf[: self._pos]
            self._base += self._pos
            self._pos = 0
        self._buf += data

    def next_event(self) -> Event | Sentinel:
        """Return the next event, or :data:`NEED_DATA`.

        After the end of data has been received and every event returned,
        :data:`NEED_DATA` means there is nothing more (``state`` is DONE).

        Returns:
            An :class:`InterchangeStart`, :class:`GroupStart`,
            :class:`Message`, :class:`GroupEnd`, :class:`InterchangeEnd`,
            or :data:`NEED_DATA`.

        Raises:
            RemoteSyntaxError: the bytes break the EDIFACT framing (no UNB,
                bad UNA, truncated interchange, limits exceeded ...).  The
                reader stays failed and raises the same error again.
        """
        while True:
            if self._events:
                return self._events.popleft()
            if self._error is not None:
                raise self._error
            try:
                progressed = self._step()
            except RemoteSyntaxError as exc:
                # Events completed before the error are still delivered, so
                # whole-buffer and byte-by-byte reading see the same sequence.
                self._error = exc
                self.state = ReaderState.ERROR
                continue
            if not progressed:
                return NEED_DATA

    @property
    def finished(self) -> bool:
        """True once the end of data was received and every event returned."""
        return self.state is ReaderState.DONE and not self._events

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not consumed yet."""
        return self._base + self._pos

    # -- driving ----------------------------------------------------------------

    def _step(self) -> bool:
        if self.state is ReaderState.DONE:
            return False
        if self.state is ReaderState.HEADER:
            return self._header()
        return self._segments()

    def _fail(
        self,
        text: str,
        code: str | None,
        *,
        scope: Scope = "interchange",
        offset: int | None = None,
        tag: str | None = None,
    ) -> RemoteSyntaxError:
        ic = self._ic
        tag = tag or None  # an empty tag (e.g. a stray terminator) is no tag
        return RemoteSyntaxError(
            text,
            ack_hint=code,
            scope=scope,
            location=Location(
                interchange=ic.ref if ic else None,
                group=self._group.ref if self._group else None,
                transaction=self._msg.ref if self._msg else None,
                segment_tag=tag,
                segment_position=len(self._msg.segments) + 1 if self._msg and tag else None,
                byte_offset=self.offset if offset is None else offset,
            ),
        )

    # -- header: UNA + UNB --------------------------------------------------------

    def _header(self) -> bool:
        buf, pos = self._buf, self._pos
        n = len(buf)
        while pos < n and buf[pos] in _GAP:
            pos += 1
        if buf[pos : pos + 3] == _BOM:
            pos += 3
            while pos < n and buf[pos] in _GAP:
                pos += 1
        if pos >= n:
            self._pos = n
            if self._eof:
                if not self._seen_first:
                    raise self._fail("empty file: no UNB interchange header", None)
                self.state = ReaderState.DONE
            return False
        if n - pos < 3 or bytes(buf[pos : pos + 3]) in (b"\xef", b"\xef\xbb"):
            if self._eof:
                raise self._fail(
                    f"truncated data {bytes(buf[pos:])!r} where UNA/UNB is expected",
                    "22" if self._seen_first else None,
                    offset=self._base + pos,
                )
            return False
        start = pos
        head = bytes(buf[pos : pos + 3])
        una_text: str | None = None
        if head == b"UNA":
            if n - pos < 9:
                if self._eof:
                    raise self._fail("UNA service string advice is truncated", "22", offset=self._base + pos)
                return False
            una_text = bytes(buf[pos : pos + 9]).decode("latin-1")
            pos += 9
            while pos < n and buf[pos] in b"\r\n":
                pos += 1
            if n - pos < 4:
                if self._eof:
                    raise self._fail("UNB expected after UNA", "13", offset=self._base + pos)
                return False
        elif head != b"UNB":
            what = "no UNA/UNB interchange header" if not self._seen_first else "data after UNZ"
            raise self._fail(
                f"{what}: found {bytes(buf[pos : pos + 3])!r}",
                "22" if self._seen_first else None,
                offset=self._base + pos,
            )
        if bytes(buf[pos : pos + 3]) != b"UNB":
            raise self._fail("UNB expected after UNA", "13", offset=self._base + pos, tag="UNB")
        if una_text is not None:
            delims = self._una(una_text, self._base + start)
        elif buf[pos + 3 : pos + 4] == b"\x1d":
            delims = Delimiters.level_b()
        else:
            delims = Delimiters()
        end = self._find_terminator(buf, pos, delims)
        if end < 0:
            if n - pos > self.options.max_segment_bytes:
                raise self._fail("UNB segment terminator not found", "13", offset=self._base + pos, tag="UNB")
            if self._eof:
                raise self._fail("interchange truncated inside UNB", "13", offset=self._base + pos, tag="UNB")
            return False
        raw = bytes(buf[pos:end]).decode("latin-1")
        # UNB never repeats an element; its split must not depend on the
        # repetition separator, which only the syntax version makes real.
        plain = replace(delims, repetition=None)
        seg = self._split(self._unwrap(raw, plain), plain, _tokenizer(plain))
        self._start_interchange(seg, delims, una_text, self._base + pos, self._base + start)
        self._pos = end + 1
        self._seen_first = True
        return True

    def _una(self, text: str, offset: int) -> Delimiters:
        chars = text[3:]
        comp, elem, dec, rel, rep, term = (chars[0], chars[1], chars[2], chars[3], chars[4], chars[5])
        if len({comp, elem, term} | ({rel} if rel != " " else set())) < (4 if rel != " " else 3):
            raise self._fail(f"UNA {text!r} uses one character for two roles", "20", offset=offset, tag="UNA")
        if dec not in ".,":
            raise self._fail(
                f"UNA decimal mark {dec!r} is neither '.' nor ','", "19", offset=offset, tag="UNA"
            )
        if any(c.isalnum() for c in (comp, elem, term)):
            raise self._fail(
                f"UNA {text!r} uses a letter or digit as a separator", "20", offset=offset, tag="UNA"
            )
        return Delimiters(
            component=comp,
            element=elem,
            decimal=dec,
            release=None if rel == " " else rel,
            repetition=None if rep == " " else rep,
            segment=term,
        )

    def _find_terminator(self, buf: bytes | bytearray, start: int, d: Delimiters) -> int:
        t = ord(d.segment)
        rel = ord(d.release) if d.release else -1
        i = buf.find(t, start)
        while i >= 0 and rel >= 0:
            k = i - 1
            while k >= start and buf[k] == rel:
                k -= 1
            if (i - 1 - k) % 2 == 0:
                return i
            i = buf.find(t, i + 1)
        return i

    def _start_interchange(
        self, seg: Segment, delims: Delimiters, una_text: str | None, offset: int, start_offset: int
    ) -> None:
        syntax_id = component(seg, 1, 0)
        version_text = component(seg, 1, 1)
        ref = element(seg, 5)
        where = Location(interchange=ref or None, segment_tag="UNB", byte_offset=offset)
        errors = envelope.check(seg, "interchange", where)
        charset = CHARSETS.get(syntax_id)
        if charset is None:
            errors.insert(
                0,
                RemoteSyntaxError(
                    f"UNB: syntax identifier {syntax_id!r} is not supported",
                    ack_hint="2",
                    scope="interchange",
                    location=Location(
                        interchange=ref or None,
                        segment_tag="UNB",
                        element_position=1,
                        component_position=1,
                        byte_offset=offset,
                    ),
                ),
            )
            charset = CHARSETS["UNOC"]
        version = int(version_text) if version_text.isdecimal() else 3
        if version_text.isdecimal() and not 1 <= version <= 4:
            errors.append(
                RemoteSyntaxError(
                    f"UNB: syntax version {version_text!r} is not supported",
                    ack_hint="2",
                    scope="interchange",
                    location=Location(
                        interchange=ref or None,
                        segment_tag="UNB",
                        element_position=1,
                        component_position=2,
                        byte_offset=offset,
                    ),
                )
            )
        # ISO 9735 v4 clause 7.1: the repetition separator exists from syntax 4
        # on; in v1-3 UNA5 is reserved and a space.
        if version >= 4:
            if una_text is None and delims.segment == "'":
                delims = Delimiters.default(4)
        elif delims.repetition is not None and delims.segment != "\x1c":
            delims = Delimiters(
                component=delims.component,
                element=delims.element,
                decimal=delims.decimal,
                release=delims.release,
                repetition=None,
                segment=delims.segment,
            )
        warnings: list[str] = []
        if self.options.strict is False and ref == "":
            warnings.append("UNB 0020 control reference is empty")
        start = InterchangeStart(
            syntax_id=syntax_id,
            syntax_version=version,
            charset=charset.codec,
            sender_id=component(seg, 2, 0),
            sender_qualifier=component(seg, 2, 1) or None,
            recipient_id=component(seg, 3, 0),
            recipient_qualifier=component(seg, 3, 1) or None,
            date=component(seg, 4, 0),
            time=component(seg, 4, 1),
            control_ref=ref,
            application_ref=element(seg, 7) or None,
            priority=element(seg, 8) or None,
            ack_request=element(seg, 9) == "1",
            agreement_id=element(seg, 10) or None,
            test_indicator=element(seg, 11) == "1",
            delimiters=delims,
            una_present=una_text is not None,
            una_text=una_text,
            segment=seg,
            byte_offset=start_offset,
            errors=tuple(errors),
            warnings=tuple(warnings),
        )
        self._delims = delims
        self._charset = charset
        self._bad_char = charset.bad_character_pattern(delims.specials() + delims.decimal)
        self._bad_char_text = (
            re.compile(self._bad_char.pattern.decode("latin-1")) if self._bad_char else _NEVER
        )
        self._token = _tokenizer(delims)
        self._wrap = bytes(c for c in b"\r\n" if chr(c) not in delims.specials())
        self._ic = _Interchange(ref=ref, start=start, offset=start_offset)
        self._group = None
        self._msg = None
        self.state = ReaderState.INTERCHANGE
        self._events.append(start)

    # -- segments -------------------------------------------------------------------

    def _segments(self) -> bool:
        buf, pos = self._buf, self._pos
        d = self._delims
        t = d.segment.encode("latin-1")
        limit = min(len(buf), pos + _WINDOW)
        end = self._last_terminator(buf, pos, limit, t)
        if end < 0:
            end = self._find_terminator(buf, pos, d)
            if end < 0:
                return self._no_terminator(buf, pos)
        region = bytes(buf[pos:end])
        ic = self._ic
        assert ic is not None
        if self._base + end - ic.offset > self.options.max_interchange_bytes:
            raise self._fail(f"interchange larger than {self.options.max_interchange_bytes} bytes", None)
        codec = self._charset.codec
        rel, rep = d.release, d.repetition
        # Fast path: decode the whole run once; when every character is one
        # byte (ISO 8859 levels, or pure-ASCII UTF-8) offsets are lengths.
        # Otherwise each segment is decoded on its own (exact byte offsets,
        # precise charset errors).
        pieces: list[Any]  # str pieces on the fast path, bytes on the slow one
        try:
            text = region.decode(codec)
            slow = len(text) != len(region)
        except UnicodeDecodeError:
            slow = True
        bad = self._bad_char is not None and self._bad_char.search(region) is not None
        need_esc = bool(
            (rel and rel.encode("latin-1") in region) or (rep and rep.encode("latin-1") in region)
        )
        wrap = self._wrap
        wrapchars = wrap.decode("latin-1")
        # CR/LF only right after terminators (a line-break style) need no
        # per-segment search for hard wraps.
        # The run starts right after a terminator, so its leading breaks count too.
        lead = len(region) - len(region.lstrip(wrap)) if wrap else 0
        # Without any CR (the usual LF or unbroken styles) every CR count is
        # zero: one scan for it saves the other CR passes over the run.
        has_cr = b"\r" in region
        check_inner = False
        if has_cr and b"\r" in wrap and region.count(b"\r", lead) != region.count(t + b"\r"):
            check_inner = True
        lf_after = -1  # terminators followed by LF, once counted
        # The usual LF style, split on terminator + LF before it is known to be uniform: the pieces
        # count the terminators followed by LF (a scan of the run fewer), and they are the split
        # wanted when the run is uniform (checked below, with the same counts as otherwise).
        # Needs one character per byte and an ASCII terminator (the byte counts answer for the
        # text) and at most one leading LF (cut below).
        lf_pieces: list[str] | None = None
        # lf_pieces joined: the text past its leading LF without the terminator + LF pairs. The
        # questions asked of the whole run (an LF elsewhere? a terminator not followed by LF?) are
        # then whether it holds the character at all, a memchr search, where counting it in the
        # run took ~5 instructions a byte (two counts were a twentieth of a translation).
        lf_rest = ""
        if b"\n" in wrap and not slow and not has_cr and lead <= 1 and d.segment.isascii():
            lf_pieces = (text[lead:] if lead else text).split(d.segment + "\n")
            lf_after = len(lf_pieces) - 1
            lf_rest = "".join(lf_pieces)
            # LF elsewhere than after a terminator (the byte count of LF past ``lead`` != lf_after)
            check_inner = "\n" in lf_rest
        elif b"\n" in wrap:
            lf_after = region.count(t + b"\n")
            if region.count(b"\n", lead) != lf_after + (region.count(t + b"\r\n") if has_cr else 0):
                check_inner = True
        # Uniform style (every terminator followed by the same break): split
        # on terminator + break and skip the per-segment strip.
        # Released terminators (``?'`` inside a value) need not be followed by
        # the break: when every release run before a terminator is a single
        # release character, those are exactly the released ones.
        brk = ""
        # Where release + terminator occurs in the text (found once, when first needed): the few
        # questions about released terminators below look there instead of rescanning the run.
        rel_at: list[int] | None = None
        if not slow and not check_inner and wrap and rel:
            rel_at = _occurrences(text, rel + d.segment)
            # A CR or LF right after a released terminator is inside a segment: a wrap, which the
            # per-segment check strips. The counts above took it for a break after a terminator,
            # and a split on terminator + break kept it in the value, so the output depended on
            # where the input was cut (a run holding a CR elsewhere went the per-segment way).
            if rel_at and any(_released_before(text, rel, d.segment, c, rel_at) for c in wrapchars):
                check_inner = True
        if not slow and not check_inner and wrap:
            sc = d.segment
            # Split on terminator + LF, the terminators are those pairs' and those left in lf_rest
            # (the leading break holds none: wrap characters are no delimiters).
            terms = lf_after + len(_occurrences(lf_rest, sc)) if lf_pieces is not None else text.count(sc)
            released = 0
            rsc = (rel or "") + sc
            # rel_at was found above, whenever there is a release character
            # every release run before a terminator is one character (no "??'")
            if rel and rel_at and not any(p > 0 and text[p - 1] == rel for p in rel_at):
                released = len(rel_at)
            # One character per byte here, and every supported codec maps ASCII to itself: the
            # byte scans above answer for the text when the terminator is ASCII (no rescan).
            ascii_sc = sc.isascii()
            for cand in ("\r\n", "\n", "\r"):
                if cand != "\n" and not has_cr:
                    continue  # no CR: nothing is followed by this break
                found = lf_after if cand == "\n" and lf_after >= 0 and ascii_sc else text.count(sc + cand)
                if (
                    found == terms
                    or (
                        released
                        and found == terms - released
                        and not any(_at(text, p + len(rsc), cand) for p in rel_at or ())
                    )
                ) and (sc + cand) in text:
                    # the run's own leading break must be absent or the same
                    if text[:lead] in ("", cand):
                        brk = cand
                    break
        strip_each = bool(wrap) and not brk
        off = self._base + pos
        if slow:
            pieces = region.split(t)
            if rel and (rel.encode("latin-1") + t) in region:
                pieces = _glue_bytes(pieces, rel.encode("latin-1"), t)
        else:
            if brk and ic.line_break is None:
                # line_break is what follows the interchange's first
                # terminator (UNB's): the leading break of its first run.
                ic.line_break = brk if text.startswith(brk) else ""
            whole = text
            cut = len(brk) if brk and text.startswith(brk) else 0
            off += cut
            sep = d.segment + brk
            if lf_pieces is not None and brk == "\n":
                # lf_pieces split the text past its leading LF (lead <= 1, no CR: cut == lead)
                pieces = lf_pieces
            else:
                pieces = (text[cut:] if cut else text).split(sep)
            # Only a piece followed by another one can end in a release run: is release + sep
            # in the text (past the cut)?
            if rel:
                if rel_at is None:
                    rel_at = _occurrences(whole, rel + d.segment)
                if any(p >= cut and _at(whole, p + len(rel), sep) for p in rel_at):
                    pieces = _glue(pieces, rel, sep)
        step = 1 + len(brk)
        # No piece can be longer than the run it comes from.
        max_bytes = (
            self.options.max_segment_bytes if len(region) > self.options.max_segment_bytes else len(region)
        )
        es, cs = d.element, d.component
        token = self._token
        known = self._known_tags
        service = _SERVICE_TAGS
        max_segs = self.options.max_transaction_segments
        msg = self._msg
        segs = msg.segments if msg is not None else None
        # Limits can only be reached when the run itself is that big.
        check_len = len(region) > max_bytes
        check_count = (len(segs) if segs is not None else 0) + len(pieces) > max_segs
        if not slow and not bad and not check_inner and not check_len:
            return self._bulk(
                cast("list[str]", pieces),
                off,
                step,
                strip=wrapchars if strip_each else "",
                need_esc=need_esc,
                end=end,
            )
        piece: Any
        for piece in pieces:
            seg_off = off
            if slow:
                raw = cast(bytes, piece)
                off += len(raw) + 1
                try:
                    p = raw.decode(codec)
                except UnicodeDecodeError as exc:
                    p = self._decode_error(raw, exc, seg_off)
            else:
                p = piece
                off += len(p) + step
            if strip_each and p[:1] in wrapchars and p:
                q = p.lstrip(wrapchars)
                n = len(p) - len(q)
                if ic.line_break is None:
                    ic.line_break = p[:n]
                seg_off += n
                p = q
            elif strip_each and ic.line_break is None:
                ic.line_break = ""
            if check_inner and ("\n" in p or "\r" in p):
                p = self._unwrap(p, d)
            if check_len and len(p) > max_bytes:
                raise self._fail(f"segment longer than {max_bytes} bytes", None, offset=seg_off)
            if bad:
                self._check_repertoire(p, seg_off)
            if need_esc and ((rel is not None and rel in p) or (rep is not None and rep in p)):
                seg = _split_escaped(p, d, token)
            elif cs in p:
                seg = tuple([tuple(x.split(cs)) if cs in x else x for x in p.split(es)])
            else:
                seg = tuple(p.split(es))
            tag = seg[0]
            if segs is not None and tag not in service:
                segs.append(seg)
                if check_count and len(segs) > max_segs:
                    raise self._fail(
                        f"message {self._msg.ref if self._msg else ''} has more than {max_segs} segments",
                        "35",
                        offset=seg_off,
                    )
                if tag not in known:
                    if isinstance(tag, str) and _TAG_RE.fullmatch(tag) is not None:
                        known[tag] = _SERVICE if tag in service else _BODY
                    else:
                        assert self._msg is not None
                        self._msg.errors.append(
                            self._seg_error(f"invalid segment tag {tag!r}", "22", seg, seg_off)
                        )
                continue
            seg_end = off - len(brk)
            if self._service(seg, seg_off, seg_end):
                # UNZ: the header parser takes over from the byte after it.
                self._pos = seg_end - self._base
                return True
            msg = self._msg
            segs = msg.segments if msg is not None else None
        self._pos = end + 1
        return True

    def _bulk(self, pieces: list[str], off: int, step: int, *, strip: str, need_esc: bool, end: int) -> bool:
        """The common case, done with comprehensions and slices instead of a per-segment loop.

        Preconditions (checked by :meth:`_segments`): single-byte decoding
        succeeded, no character outside the repertoire, no hard wrap inside a
        segment, no segment over the size limit.  ``strip`` holds the
        line-break characters to remove from the start of each piece (empty
        when the pieces were split on terminator + break).
        """
        ic = self._ic
        assert ic is not None
        offsets = _Offsets(pieces, off, step)
        texts = pieces
        if strip:
            texts = [p.lstrip(strip) for p in pieces]
            if ic.line_break is None:
                first = pieces[0]
                ic.line_break = first[: len(first) - len(texts[0])] if first[:1] in strip else ""
        # Where the service segments are (the message boundaries), and which tags are malformed.
        marks: list[int] = []
        bad_tags: set[Element] = set()
        # where each mark's piece starts, from ``off``: summed on the way through the pieces
        # (:class:`_Offsets` is left for the rare error about another segment)
        mark_at: list[int] = []
        if self._memo_rest > 0:
            self._memo_rest -= 1
            segs_all = self._split_run(texts, need_esc)
            at = 0
            for i in range(len(segs_all)):
                count = len(marks)
                self._classify(segs_all[i], i, marks, bad_tags)
                if len(marks) > count:
                    mark_at.append(at)
                at += len(pieces[i]) + step
        else:
            chars = 0
            for p in pieces:
                chars += len(p)
            segs_all = self._split_run_memo(
                texts, need_esc, chars, marks, bad_tags, pieces=pieces, step=step, mark_at=mark_at
            )
        marks.append(len(segs_all))

        def start(i: int) -> int:
            return offsets.of(i) + (len(pieces[i]) - len(texts[i]))

        prev = 0
        for k in range(len(marks)):
            i = marks[k]
            if i > prev:
                self._body(segs_all, bad_tags, (prev, i), start)
            if i == len(segs_all):
                break
            piece = pieces[i]
            seg_start = off + mark_at[k] + (len(piece) - len(texts[i]))
            seg_end = off + mark_at[k] + len(piece) + 1
            if self._service(segs_all[i], seg_start, seg_end):
                self._pos = seg_end - self._base  # UNZ: the header parser takes over
                return True
            prev = i + 1
        self._pos = end + 1
        return True

    def _classify(self, seg: Segment, i: int, marks: list[int], bad_tags: set[Element]) -> bool:
        """Note piece ``i`` in ``marks`` (a service segment) or ``bad_tags`` (a malformed tag).

        Returns:
            True for a segment with a well-formed tag that is no service segment and whose tag
            is still memoised.
        """
        tg = seg[0]
        # one dict lookup per segment; the tag is checked only the first time it is seen
        kind = self._known_tags.get(tg)
        if kind is None:
            if isinstance(tg, str) and _TAG_RE.fullmatch(tg) is not None:
                kind = self._known_tags[tg] = _SERVICE if tg in _SERVICE_TAGS else _BODY
            else:
                bad_tags.add(tg)
                return False
        if kind == _SERVICE:
            marks.append(i)
            return False
        return kind == _BODY

    def _unmemoise_crowding_tags(self, memo: dict[str, _Memo]) -> None:
        """Keep the tags that fill the overflowing memo out of it (see :data:`_MEMO_CROWD`)."""
        counts: dict[Element, int] = {}
        for entry in memo.values():
            tg = entry.seg[0]
            counts[tg] = counts.get(tg, 0) + 1
        for tg, n in counts.items():
            if n * _MEMO_CROWD > len(memo):
                self._known_tags[tg] = _BODY_UNMEMOISED

    def _split_run(self, texts: list[str], need_esc: bool) -> list[Segment]:
        """Split every piece of a run (no memo: the last runs did not repeat segments)."""
        d = self._delims
        es, cs, rel, rep = d.element, d.component, d.release, d.repetition
        token = self._token
        if need_esc:
            return [
                _split_escaped(p, d, token)
                if (rel is not None and rel in p) or (rep is not None and rep in p)
                else _split_plain(p, es, cs)
                for p in texts
            ]
        return [_split_plain(p, es, cs) for p in texts]

    def _split_run_memo(
        self,
        texts: list[str],
        need_esc: bool,
        chars: int,
        marks: list[int],
        bad_tags: set[Element],
        *,
        pieces: list[str],
        step: int,
        mark_at: list[int],
    ) -> list[Segment]:
        """Split every piece of a run through the memo; turn the memo off when it found little.

        Only segments with a well-formed tag that are no service segment enter the memo (and not
        those of a tag that crowded it, see :data:`_MEMO_CROWD`), so a memo hit needs no tag
        check: the service segments (UNH and UNT carry the message reference, they do not repeat)
        and the malformed tags are classified when they are split, into ``marks`` and
        ``bad_tags`` (see :meth:`_classify`).  ``mark_at`` gets where each mark's piece starts
        in the run (``pieces``, each followed by ``step`` characters).
        """
        d = self._delims
        es, cs, rel, rep = d.element, d.component, d.release, d.repetition
        token = self._token
        names = self._tag_names
        memo = self._memo
        if self._memo_delims is not d or self._memo_chars > _MEMO_CHARS or len(memo) > _MEMO_ENTRIES:
            if self._memo_delims is d and len(memo) > _MEMO_ENTRIES:
                self._unmemoise_crowding_tags(memo)
            memo.clear()
            self._memo_chars = 0
            self._memo_delims = d
        self._memo_chars += chars
        misses = 0
        segs_all: list[Segment] = []
        # The entry of the previous piece (None after a piece the memo does not keep): when this
        # piece is the text that followed it last time, its entry is known without a lookup (one
        # string comparison, where the lookup hashes the piece and compares it too). Otherwise a
        # hit costs one hash lookup (memo.get called on the dict, not through a bound-method
        # alias: compiled, a direct C call), and the previous entry learns what followed it; a
        # miss splits and classifies the segment.
        prev: _Memo | None = None
        # After a piece that is no memo material: the entry before it (its ``after2`` may be this
        # piece), else None.
        before: _Memo | None = None
        at = 0
        for i in range(len(texts)):
            p = texts[i]
            here = at
            at += len(pieces[i]) + step
            entry: _Memo | None = None
            if prev is not None:
                after = prev.after
                if after is not None and after == p:
                    entry = prev.next
            elif before is not None:
                after = before.after2
                if after is not None and after == p:
                    entry = before.next2
            if entry is None:
                # a piece where no memo material came last time is split without the lookup
                if prev is None or not prev.lone:
                    entry = memo.get(p)
                if entry is None:
                    if need_esc and ((rel is not None and rel in p) or (rep is not None and rep in p)):
                        seg = _split_escaped(p, d, token)
                    else:
                        seg = _split_plain(p, es, cs)
                    count = len(marks)
                    if not self._classify(seg, i, marks, bad_tags):
                        misses += 1
                        if len(marks) > count:
                            mark_at.append(here)
                        segs_all.append(seg)
                        if prev is not None:
                            prev.lone = True
                        before = prev
                        prev = None
                        continue
                    # memo material after all: the lookup skipped above is made now
                    entry = memo.get(p) if prev is not None and prev.lone else None
                    if entry is None:
                        misses += 1
                        entry = memo[p] = _Memo(_named(seg, names))
                if prev is not None:
                    prev.after = p
                    prev.next = entry
                    prev.lone = False
                elif before is not None:
                    before.after2 = p
                    before.next2 = entry
            segs_all.append(entry.seg)
            prev = entry
            before = None
        if (len(texts) - misses) * _MEMO_MIN_HITS < len(texts):
            self._memo_rest = _MEMO_REST
        return segs_all

    def _body(
        self,
        segs_all: list[Segment],
        bad_tags: set[Element],
        span: tuple[int, int],
        start: Callable[[int], int],
    ) -> None:
        """Append segments a..b-1 (no service segment among them) to the open message."""
        a, b = span
        msg = self._msg
        if msg is None:
            name = element(segs_all[a], 0)
            raise self._fail(f"segment {name!r} outside a message", "33", offset=start(a), tag=name)
        before = len(msg.segments)
        if before + (b - a) > self.options.max_transaction_segments:
            j = a + self.options.max_transaction_segments - before
            raise self._fail(
                f"message {msg.ref} has more than {self.options.max_transaction_segments} segments",
                "35",
                offset=start(j),
            )
        msg.segments.extend(segs_all[a:b])
        if bad_tags:
            for j in range(a, b):
                if segs_all[j][0] in bad_tags:
                    msg.errors.append(
                        self._seg_error(
                            f"invalid segment tag {segs_all[j][0]!r}",
                            "22",
                            segs_all[j],
                            start(j),
                            position=before + (j - a) + 1,
                        )
                    )

    def _last_terminator(self, buf: bytes | bytearray, start: int, limit: int, t: bytes) -> int:
        i = buf.rfind(t, start, limit)
        rel = self._delims.release
        if not rel:
            return i
        r = ord(rel)
        while i >= 0:
            k = i - 1
            while k >= start and buf[k] == r:
                k -= 1
            if (i - 1 - k) % 2 == 0:
                return i
            i = buf.rfind(t, start, i)
        return -1

    def _no_terminator(self, buf: bytes | bytearray, pos: int) -> bool:
        rest = len(buf) - pos
        if rest > self.options.max_segment_bytes:
            raise self._fail(f"no segment terminator within {self.options.max_segment_bytes} bytes", None)
        if not self._eof:
            return False
        tail = bytes(buf[pos:]).strip(_GAP)
        if self._msg is not None:
            raise self._fail(
                f"interchange truncated inside message {self._msg.ref}: UNT and UNZ missing", "13", tag="UNT"
            )
        if tail:
            raise self._fail(f"interchange truncated: unterminated segment {tail[:20]!r}", "13")
        raise self._fail("interchange truncated: UNZ missing", "13", tag="UNZ")

    def _unwrap(self, text: str, d: Delimiters) -> str:
        specials = d.specials()
        if "\r" not in specials:
            text = text.replace("\r", "")
        if "\n" not in specials:
            text = text.replace("\n", "")
        return text

    @staticmethod
    def _split(text: str, d: Delimiters, token: re.Pattern[str]) -> Segment:
        es, cs = d.element, d.component
        if (not d.release or d.release not in text) and (not d.repetition or d.repetition not in text):
            parts = text.split(es)
            if cs in text:
                return tuple([tuple(p.split(cs)) if cs in p else p for p in parts])
            return tuple(parts)
        return _split_escaped(text, d, token)

    def _decode_error(self, raw: bytes, exc: UnicodeDecodeError, seg_off: int) -> str:
        tag = raw.lstrip(self._wrap)[:3].decode("latin-1", "replace")
        byte = raw[exc.start]
        text = (
            f"byte 0x{byte:02X} at offset {seg_off + exc.start} in segment {tag} is not valid "
            f"{self._charset.syntax_id} ({self._charset.codec})"
        )
        if self.options.lenient_charset:
            self._warn(text + "; decoded leniently")
            return lenient_decode(raw)
        error = self._fail(
            text,
            "21",
            scope="transaction" if self._msg else "interchange",
            offset=seg_off + exc.start,
            tag=tag,
        )
        if self._msg is None:
            raise error
        self._msg.errors.append(error)
        return raw.decode("latin-1")

    def _check_repertoire(self, text: str, seg_off: int) -> None:
        assert self._bad_char is not None
        hit = self._bad_char_text.search(text)
        if hit is None or ord(hit.group()) >= 0x80:
            return  # characters outside ASCII are reported by the decoder
        tag = text[:3]
        where = seg_off + hit.start()
        what = (
            f"character {hit.group()!r} at offset {where} in segment {tag} is outside the "
            f"{self._charset.syntax_id} repertoire"
        )
        if not self.options.strict or self.options.lenient_charset:
            self._warn(what)
            return
        error = self._fail(
            what, "21", scope="transaction" if self._msg else "interchange", offset=where, tag=tag
        )
        if self._msg is None:
            raise error
        self._msg.errors.append(error)

    def _warn(self, text: str) -> None:
        if self._msg is not None:
            self._msg.warnings.append(text)
        elif self._ic is not None:
            self._ic.warnings.append(text)

    def _seg_error(
        self,
        text: str,
        code: str,
        seg: Segment,
        seg_off: int,
        *,
        pos: int | None = None,
        position: int | None = None,
    ) -> RemoteSyntaxError:
        msg = self._msg
        tag = element(seg, 0)
        return RemoteSyntaxError(
            f"{tag}: {text}" if not text.startswith(tag) else text,
            ack_hint=code,
            scope="transaction",
            location=Location(
                interchange=self._ic.ref if self._ic else None,
                group=self._group.ref if self._group else None,
                transaction=msg.ref if msg else None,
                segment_tag=tag,
                segment_position=position if position is not None else len(msg.segments) if msg else None,
                element_position=pos,
                byte_offset=seg_off,
            ),
        )

    # -- service segments (the interchange grammar) ---------------------------------

    def _service(self, seg: Segment, seg_off: int, end_off: int) -> bool:
        tag = seg[0]
        ic = self._ic
        assert ic is not None
        if tag == "UNH":
            if self._msg is not None:
                self._close_message_without_unt(seg_off)
            if self.state is ReaderState.INTERCHANGE and ic.groups:
                raise self._fail(
                    "UNH outside a group in an interchange that uses UNG groups",
                    "30",
                    offset=seg_off,
                    tag="UNH",
                )
            self._open_message(seg, seg_off)
            return False
        if tag == "UNT":
            if self._msg is None:
                raise self._fail("UNT without UNH", "15", offset=seg_off, tag="UNT")
            self._close_message(seg, seg_off)
            return False
        if self._msg is not None:
            self._close_message_without_unt(seg_off)
        if tag == "UNG":
            if self.state is ReaderState.GROUP:
                raise self._fail("UNG inside an open group (UNE missing)", "13", offset=seg_off, tag="UNE")
            if ic.messages and not ic.groups:
                raise self._fail("UNG after messages outside groups", "30", offset=seg_off, tag="UNG")
            self._open_group(seg, seg_off)
            return False
        if tag == "UNE":
            if self.state is not ReaderState.GROUP:
                raise self._fail("UNE without UNG", "15", offset=seg_off, tag="UNE")
            self._close_group(seg, seg_off)
            return False
        if tag == "UNZ":
            if self.state is ReaderState.GROUP:
                raise self._fail("UNZ inside an open group (UNE missing)", "13", offset=seg_off, tag="UNE")
            self._close_interchange(seg, seg_off, end_off)
            return True
        if tag in ("UNB", "UNA"):
            raise self._fail(
                f"{tag} inside an open interchange (UNZ missing)", "13", offset=seg_off, tag="UNZ"
            )
        raise self._fail(
            f"segment {element(seg, 0)!r} outside a message", "33", offset=seg_off, tag=element(seg, 0)
        )

    def _open_message(self, seg: Segment, seg_off: int) -> None:
        ic = self._ic
        assert ic is not None
        ref = element(seg, 1)
        ic.messages += 1
        if self._group is not None:
            self._group.messages += 1
        msg = _Open(ref, seg, seg_off, ic.messages)
        self._msg = msg
        self.state = ReaderState.MESSAGE
        if not envelope.plain_unh(seg):
            where = Location(
                interchange=ic.ref,
                group=self._group.ref if self._group else None,
                transaction=ref or None,
                segment_tag="UNH",
                segment_position=1,
                byte_offset=seg_off,
            )
            msg.errors.extend(envelope.check(seg, "transaction", where))
        if ref and ref in ic.refs:
            text = f"UNH: message reference {ref!r} is used twice in interchange {ic.ref}"
            if self.options.strict:
                msg.errors.append(
                    RemoteSyntaxError(
                        text,
                        ack_hint="26",
                        scope="transaction",
                        location=Location(
                            interchange=ic.ref,
                            transaction=ref,
                            segment_tag="UNH",
                            segment_position=1,
                            element_position=1,
                            byte_offset=seg_off,
                        ),
                    )
                )
            else:
                msg.warnings.append(text)
        if len(ic.refs) < 100_000:  # bounded memory on huge interchanges
            ic.refs.add(ref)

    def _emit_message(self, msg: _Open) -> None:
        ic = self._ic
        assert ic is not None
        s009 = msg.header[2] if len(msg.header) > 2 else ""
        ident = s009 if type(s009) is tuple else (s009,) if type(s009) is str else ()
        ident = (*ident, "", "", "", "", "")
        self._events.append(
            new_message(
                ident[0],
                ident[1],
                ident[2],
                ident[3],
                ident[4] or None,
                msg.ref,
                tuple(msg.segments),
                self._delims,
                ic.ref,
                self._group.ref if self._group else None,
                msg.offset,
                msg.index,
                tuple(msg.errors),
                tuple(msg.warnings),
            )
        )
        self._msg = None
        self.state = ReaderState.GROUP if self._group is not None else ReaderState.INTERCHANGE

    def _close_message(self, seg: Segment, seg_off: int) -> None:
        msg = self._msg
        ic = self._ic
        assert msg is not None and ic is not None
        msg.segments.append(seg)
        count = len(msg.segments)
        declared = element(seg, 1)
        ref = element(seg, 2)
        if declared == str(count) and ref == msg.ref and envelope.plain_unt(seg):
            self._emit_message(msg)  # the common case: nothing to report
            return
        where = Location(
            interchange=ic.ref,
            group=self._group.ref if self._group else None,
            transaction=msg.ref or None,
            segment_tag="UNT",
            segment_position=count,
            byte_offset=seg_off,
        )
        field_errors = envelope.check(seg, "transaction", where)
        msg.errors.extend(field_errors)
        if declared.isdecimal() and int(declared) != count:
            msg.errors.append(
                RemoteSyntaxError(
                    f"UNT: segment count {declared} does not match the {count} segments UNH..UNT",
                    ack_hint="29",
                    scope="transaction",
                    location=Location(
                        interchange=ic.ref,
                        group=where.group,
                        transaction=msg.ref or None,
                        segment_tag="UNT",
                        segment_position=count,
                        element_position=1,
                        byte_offset=seg_off,
                    ),
                )
            )
        if ref and ref != msg.ref:
            msg.errors.append(
                RemoteSyntaxError(
                    f"UNT: message reference {ref!r} does not match UNH {msg.ref!r}",
                    ack_hint="28",
                    scope="transaction",
                    location=Location(
                        interchange=ic.ref,
                        group=where.group,
                        transaction=msg.ref or None,
                        segment_tag="UNT",
                        segment_position=count,
                        element_position=2,
                        byte_offset=seg_off,
                    ),
                )
            )
        self._emit_message(msg)

    def _close_message_without_unt(self, seg_off: int) -> None:
        msg = self._msg
        assert msg is not None
        msg.errors.append(
            RemoteSyntaxError(
                f"message {msg.ref} has no UNT",
                ack_hint="13",
                scope="transaction",
                location=Location(
                    interchange=self._ic.ref if self._ic else None,
                    group=self._group.ref if self._group else None,
                    transaction=msg.ref or None,
                    segment_tag="UNT",
                    segment_position=len(msg.segments) + 1,
                    byte_offset=seg_off,
                ),
            )
        )
        self._emit_message(msg)

    def _open_group(self, seg: Segment, seg_off: int) -> None:
        ic = self._ic
        assert ic is not None
        ref = element(seg, 5)
        ic.groups += 1
        self._group = _Group(ref=ref)
        self.state = ReaderState.GROUP
        where = Location(interchange=ic.ref, group=ref or None, segment_tag="UNG", byte_offset=seg_off)
        self._events.append(
            GroupStart(
                group_id=element(seg, 1),
                sender_id=component(seg, 2, 0),
                sender_qualifier=component(seg, 2, 1) or None,
                recipient_id=component(seg, 3, 0),
                recipient_qualifier=component(seg, 3, 1) or None,
                date=component(seg, 4, 0),
                time=component(seg, 4, 1),
                reference=ref,
                agency=element(seg, 6) or None,
                version=component(seg, 7, 0) or None,
                release=component(seg, 7, 1) or None,
                segment=seg,
                byte_offset=seg_off,
                errors=tuple(envelope.check(seg, "group", where)),
            )
        )

    def _close_group(self, seg: Segment, seg_off: int) -> None:
        ic, group = self._ic, self._group
        assert ic is not None and group is not None
        where = Location(interchange=ic.ref, group=group.ref or None, segment_tag="UNE", byte_offset=seg_off)
        errors = envelope.check(seg, "group", where)
        declared, ref = element(seg, 1), element(seg, 2)
        if declared.isdecimal() and int(declared) != group.messages:
            errors.append(
                RemoteSyntaxError(
                    f"UNE: message count {declared} does not match the {group.messages} messages"
                    f" in group {group.ref}",
                    ack_hint="29",
                    scope="group",
                    location=Location(
                        interchange=ic.ref,
                        group=group.ref or None,
                        segment_tag="UNE",
                        element_position=1,
                        byte_offset=seg_off,
                    ),
                )
            )
        if ref and ref != group.ref:
            errors.append(
                RemoteSyntaxError(
                    f"UNE: group reference {ref!r} does not match UNG {group.ref!r}",
                    ack_hint="28",
                    scope="group",
                    location=Location(
                        interchange=ic.ref,
                        group=group.ref or None,
                        segment_tag="UNE",
                        element_position=2,
                        byte_offset=seg_off,
                    ),
                )
            )
        if group.messages == 0:
            errors.append(
                RemoteSyntaxError(
                    f"group {group.ref} holds no message",
                    ack_hint="32",
                    scope="group",
                    location=Location(
                        interchange=ic.ref, group=group.ref or None, segment_tag="UNE", byte_offset=seg_off
                    ),
                )
            )
        self._events.append(
            GroupEnd(count=declared, reference=ref, segment=seg, byte_offset=seg_off, errors=tuple(errors))
        )
        self._group = None
        self.state = ReaderState.INTERCHANGE

    def _close_interchange(self, seg: Segment, seg_off: int, end_off: int) -> None:
        ic = self._ic
        assert ic is not None
        where = Location(interchange=ic.ref or None, segment_tag="UNZ", byte_offset=seg_off)
        errors = envelope.check(seg, "interchange", where)
        declared, ref = element(seg, 1), element(seg, 2)
        # ISO 9735: UNZ 0036 counts the groups when UNG is used, else the messages.
        expected, what = (ic.groups, "groups") if ic.groups else (ic.messages, "messages")
        if declared.isdecimal() and int(declared) != expected:
            errors.append(
                RemoteSyntaxError(
                    f"UNZ: control count {declared} does not match the {expected} {what}"
                    f" in interchange {ic.ref}",
                    ack_hint="29",
                    scope="interchange",
                    location=Location(
                        interchange=ic.ref or None, segment_tag="UNZ", element_position=1, byte_offset=seg_off
                    ),
                )
            )
        if ref and ref != ic.ref:
            errors.append(
                RemoteSyntaxError(
                    f"UNZ: control reference {ref!r} does not match UNB {ic.ref!r}",
                    ack_hint="28",
                    scope="interchange",
                    location=Location(
                        interchange=ic.ref or None, segment_tag="UNZ", element_position=2, byte_offset=seg_off
                    ),
                )
            )
        if expected == 0:
            errors.append(
                RemoteSyntaxError(
                    f"interchange {ic.ref} holds no message",
                    ack_hint="32",
                    scope="interchange",
                    location=Location(interchange=ic.ref or None, segment_tag="UNZ", byte_offset=seg_off),
                )
            )
        self._events.append(
            InterchangeEnd(
                count=declared,
                reference=ref,
                segment=seg,
                byte_offset=seg_off,
                end_offset=end_off,
                line_break=ic.line_break or "",
                errors=tuple(errors),
                warnings=tuple(ic.warnings),
            )
        )
        self._ic = None
        self.state = ReaderState.HEADER


def _named(seg: Segment, names: dict[str, str]) -> Segment:
    """``seg`` with its tag interned (``names``: tag -> the interned tag, a reader's, bounded).

    For the segments the memo keeps, which every later message shares: the maps and the validation
    look each tag up in dicts keyed by literals, which mypyc interns, and an interned tag is found
    there by identity, where another copy is compared character by character on each lookup.
    (Only these: interning every split segment's tag cost more than the lookups it sped up.)
    """
    tag = seg[0]
    if type(tag) is not str:
        return seg
    name = names.get(tag)
    if name is None:
        if len(names) >= _MAX_TAG_NAMES:  # tags are partner data
            names.clear()
        name = names[tag] = intern(tag)
    return seg if name is tag else (name,) + seg[1:]  # noqa: RUF005 - compiled, (name, *seg[1:]) builds a list first


def _split_plain(text: str, es: str, cs: str) -> Segment:
    """Split a segment without release or repetition characters."""
    if cs in text:
        return tuple([tuple(x.split(cs)) if cs in x else x for x in text.split(es)])
    return tuple(text.split(es))


def _released_before(text: str, rel: str, sc: str, brk: str, rel_at: list[int]) -> bool:
    """Whether some terminator in ``text`` is released (an odd run of ``rel`` before it) and
    followed by ``brk``; ``rel_at`` is where ``rel + sc`` occurs."""
    step = len(rel)
    for p in rel_at:
        if not _at(text, p + step + len(sc), brk):
            continue
        run = 1
        q = p - step
        while q >= 0 and _at(text, q, rel):
            run += 1
            q -= step
        if run % 2 == 1:
            return True
    return False


def _at(text: str, i: int, part: str) -> bool:
    """``text.startswith(part, i)``: compiled, a slice and a compare, where the method call with a
    start argument is a generic call (~1.4k instructions; once per released terminator of a run)."""
    return text[i : i + len(part)] == part


def _occurrences(text: str, pattern: str) -> list[int]:
    """Every start of ``pattern`` in ``text``, left to right, not overlapping (as ``str.count`` counts)."""
    if len(pattern) == 2 and pattern[0] != pattern[1]:
        # release + terminator: its first character is found with memchr, where the two-character
        # search scans at ~4 instructions a byte; such a pattern cannot overlap itself
        first = pattern[0]
        second = pattern[1]
        pairs: list[int] = []
        i = text.find(first)
        while i >= 0:
            if text[i + 1 : i + 2] == second:
                pairs.append(i)
                i = text.find(first, i + 2)
            else:
                i = text.find(first, i + 1)
        return pairs
    found: list[int] = []
    i = text.find(pattern)
    while i >= 0:
        found.append(i)
        i = text.find(pattern, i + len(pattern))
    return found


def _glue(pieces: list[str], rel: str, t: str) -> list[str]:
    """Join pieces split at a released terminator (odd run of release characters before it)."""
    marks = [i for i, p in enumerate(pieces) if p.endswith(rel)]
    if not marks:
        return pieces
    out = list(pieces)
    # Right to left, so out[i] is still the original piece when it is examined
    # and a chain of released terminators collapses into one segment.
    for i in reversed(marks):
        p = out[i]
        if (len(p) - len(p.rstrip(rel))) % 2 == 1 and i + 1 < len(out):
            out[i : i + 2] = [p + t + out[i + 1]]
    return out


def _glue_bytes(pieces: list[bytes], rel: bytes, t: bytes) -> list[bytes]:
    """:func:`_glue` for undecoded pieces (two functions, not AnyStr: mypyc compiles each natively)."""
    marks = [i for i, p in enumerate(pieces) if p.endswith(rel)]
    if not marks:
        return pieces
    out = list(pieces)
    for i in reversed(marks):
        p = out[i]
        if (len(p) - len(p.rstrip(rel))) % 2 == 1 and i + 1 < len(out):
            out[i : i + 2] = [p + t + out[i + 1]]
    return out


# Released service characters are swapped for private-use code points, the
# segment is split like an unescaped one, and the code points are swapped
# back.  Text that already holds these code points takes the tokenizer.
_HIDE = "\ue000\ue001\ue002\ue003\ue004"
_HIDDEN = re.compile("[\ue000-\ue004]")


@lru_cache(maxsize=64)
def _hider(d: Delimiters) -> tuple[re.Pattern[str], dict[str, str], dict[int, str]]:
    assert d.release is not None
    specials = [d.element, d.component, d.segment, d.release] + ([d.repetition] if d.repetition else [])
    hide = {c: _HIDE[i] for i, c in enumerate(specials)}
    show = {ord(_HIDE[i]): c for i, c in enumerate(specials)}
    return re.compile(re.escape(d.release) + "(.)", re.S), hide, show


def _split_escaped(text: str, d: Delimiters, token: re.Pattern[str]) -> Segment:
    """Split a segment that contains release or repetition characters."""
    if d.release is None or _HIDDEN.search(text) is not None:
        return _split_tokens(text, d, token)
    released, hide, show = _hider(d)
    hidden = released.sub(lambda m: hide.get(m.group(1), m.group(1)), text)
    es, cs, rs = d.element, d.component, d.repetition
    out: list[Element] = []
    for x in hidden.split(es):
        if rs is not None and rs in x:
            out.append(
                Repeated(
                    tuple(
                        tuple(o.translate(show) for o in occ.split(cs)) if cs in occ else occ.translate(show)
                        for occ in x.split(rs)
                    )
                )
            )
        elif cs in x:
            out.append(tuple(c.translate(show) for c in x.split(cs)))
        else:
            out.append(x.translate(show))
    return tuple(out)


def _split_tokens(text: str, d: Delimiters, token: re.Pattern[str]) -> Segment:
    """Split with the regex tokenizer (no release character, or private-use text)."""
    es, cs, rs = d.element, d.component, d.repetition
    elements: list[Element] = []
    occurrences: list[str | tuple[str, ...]] = []
    comps: list[str] = []
    cur: list[str] = []

    def close_occurrence() -> None:
        comps.append("".join(cur))
        cur.clear()
        occurrences.append(tuple(comps) if len(comps) > 1 else comps[0])
        comps.clear()

    def close_element() -> None:
        close_occurrence()
        if len(occurrences) > 1:
            elements.append(Repeated(tuple(occurrences)))
        else:
            elements.append(occurrences[0])
        occurrences.clear()

    for released, sep, plain, dangling in token.findall(text):
        if plain:
            cur.append(plain)
        elif sep:
            if sep == es:
                close_element()
            elif sep == cs:
                comps.append("".join(cur))
                cur.clear()
            elif sep == rs:
                close_occurrence()
        elif released:
            cur.append(released)
        elif dangling:
            cur.append(dangling)  # a release character at the very end releases nothing
    close_element()
    return tuple(elements)


__all__ = ["EdifactReader", "ReaderState"]
