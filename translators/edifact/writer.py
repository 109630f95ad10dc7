"""Render EDIFACT: reader events or syntax models back to bytes, and new interchanges.

Round trip (reader -> :class:`EdifactWriter` or the syntax model -> bytes)
gives the same bytes for a valid file when the file:

* uses one line-break style after every segment terminator (none, LF or
  CRLF: kept, including after UNA; a file whose last line has no break is
  kept with ``final_line_break=False``);
* releases only the characters that need it (ISO 9735-1 clause 7.4: the
  release character precedes a service character or itself); a needless
  ``?A`` in the input is read as ``A`` and written as ``A``;
* has no hard wraps inside segments and no leading byte order mark (both
  are dropped by the reader, by design).

Everything else (delimiters, UNA text as sent, empty and trailing elements
and components, repetitions) is kept exactly.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence

from ..errors import LocalTranslationError
from .charset import CHARSETS
from .syntax import (
    Delimiters,
    Element,
    Event,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    Message,
    Repeated,
    Segment,
    element,
)
from .syntax_model import GroupModel, InterchangeModel, MessageModel, segment_from_json


class _Escaper:
    """Inserts the release character before every service character."""

    def __init__(self, d: Delimiters) -> None:
        self.d = d
        self.specials = d.specials()
        # the service characters a plain segment holds only inside a value
        self.others = [c for c in self.specials if c not in (d.element, d.component)]
        rel = d.release
        self.table = {ord(c): rel + c for c in self.specials} if rel else None

    def value(self, text: str) -> str:
        if self.table is None:
            for c in self.specials:
                if c in text:
                    raise LocalTranslationError(
                        f"value {text!r} contains the service character {c!r} and the interchange has no "
                        "release character"
                    )
            return text
        for c in self.specials:
            if c in text:
                return text.translate(self.table)
        return text

    def occurrence(self, value: str | tuple[str, ...]) -> str:
        if isinstance(value, tuple):
            return self.d.component.join([self.value(v) for v in value])
        return self.value(value)

    def segment(self, seg: Segment) -> str:
        """The segment's elements joined, without its terminator.

        Fast path: a plain segment (text and composite elements only) is joined as it is, and kept
        when the joined text holds no service character beyond the separators the join put in (a
        value holding one would add to their count): two counts and a few scans of one string,
        instead of a list of every value and a search of their concatenation.
        """
        d = self.d
        cs = d.component
        es = d.element
        texts: list[str] = []
        joined = 0  # component separators the join puts in
        for e in seg:
            if type(e) is str:
                texts.append(e)
            elif type(e) is tuple:
                texts.append(cs.join(e))
                if len(e) > 1:
                    joined += len(e) - 1
            else:
                return es.join([self.element(e) for e in seg])
        text = es.join(texts)
        if text.count(es) == len(texts) - 1 and text.count(cs) == joined:
            for c in self.others:
                if c in text:
                    break
            else:
                return text
        return es.join([self.element(e) for e in seg])

    def element(self, value: Element) -> str:
        if isinstance(value, Repeated):
            if not self.d.repetition:
                raise LocalTranslationError("repeated element but no repetition separator (syntax 4 only)")
            return self.d.repetition.join([self.occurrence(v) for v in value.values])
        return self.occurrence(value)


def render_segment(seg: Segment, d: Delimiters) -> str:
    """One segment, terminator included, with release characters inserted.

    Args:
        seg: tag then elements.
        d: the service characters.

    Returns:
        The segment text.

    Raises:
        LocalTranslationError: a value needs releasing but there is no release character.
    """
    esc = _Escaper(d)
    return d.element.join([esc.element(e) for e in seg]) + d.segment


class EdifactWriter:
    """Turn reader events back into bytes (the reverse of :class:`EdifactReader`).

    Args:
        line_break: written after every segment terminator (``""``, ``"\\n"``
            or ``"\\r\\n"``); None takes the style each interchange reported.
        final_line_break: write the line break after UNZ too.
    """

    def __init__(self, *, line_break: str | None = None, final_line_break: bool = True) -> None:
        self._line_break = line_break
        self._final = final_line_break
        self._d = Delimiters()
        self._esc = _Escaper(self._d)
        self._codec = "latin-1"
        self._pending: list[str] = []

    def _text(self, seg: Segment) -> str:
        return self._d.element.join([self._esc.element(e) for e in seg]) + self._d.segment

    def send(self, event: Event, *, final_line_break: bool | None = None) -> bytes:
        """Render one event.

        :class:`InterchangeEnd` carries the line-break style, so the
        segments of an interchange are held back and returned with it.

        Args:
            event: any reader event, in reading order.
            final_line_break: for an :class:`InterchangeEnd`, overrides the
                writer's setting (e.g. a break between interchanges but none
                at the end of the file).

        Returns:
            The bytes to write (empty until the interchange is complete).

        Raises:
            LocalTranslationError: a value cannot be written with these delimiters or charset.
        """
        if isinstance(event, InterchangeStart):
            self._d = event.delimiters
            self._esc = _Escaper(self._d)
            self._codec = event.charset
            self._pending = []
            if event.una_text is not None:
                self._pending.append(event.una_text)
            self._pending.append(self._text(event.segment))
        elif isinstance(event, Message):
            self._pending.extend(self._text(s) for s in event.segments)
        elif isinstance(event, GroupStart | GroupEnd):
            self._pending.append(self._text(event.segment))
        elif isinstance(event, InterchangeEnd):
            self._pending.append(self._text(event.segment))
            brk = event.line_break if self._line_break is None else self._line_break
            final = self._final if final_line_break is None else final_line_break
            text = brk.join(self._pending) + (brk if final else "")
            self._pending = []
            return _encode(text, self._codec)
        return b""


def _encode(text: str, codec: str) -> bytes:
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise LocalTranslationError(f"character {text[exc.start]!r} cannot be written in {codec}") from exc


def write_model(model: InterchangeModel) -> bytes:
    """Render a syntax-layer interchange.

    Args:
        model: an :class:`InterchangeModel` (from the reader or built by hand).

    Returns:
        The interchange bytes in its charset (by the UNB syntax identifier).

    Raises:
        LocalTranslationError: a value cannot be written with these delimiters or charset.
    """
    d = model.delimiters.delimiters()
    esc = _Escaper(d)
    out: list[str] = []
    if model.una is not None:
        out.append(model.una)

    def put(seg: list[object]) -> None:
        out.append(d.element.join([esc.element(e) for e in segment_from_json(seg)]) + d.segment)

    def put_messages(messages: list[MessageModel]) -> None:
        for m in messages:
            for s in m.segments:
                put(list(s))

    put(list(model.header))
    put_messages(model.messages)
    group: GroupModel
    for group in model.groups:
        put(list(group.header))
        put_messages(group.messages)
        if group.trailer is not None:
            put(list(group.trailer))
    if model.trailer is not None:
        put(list(model.trailer))
    brk = model.line_break
    charset = CHARSETS.get(model.syntax_id)
    return _encode(
        brk.join(out) + (brk if model.final_line_break else ""), charset.codec if charset else "latin-1"
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


def write_interchange(
    messages: Iterable[Sequence[Segment]],
    *,
    sender: tuple[str, str | None],
    recipient: tuple[str, str | None],
    control_reference: str,
    now: _dt.datetime,
    syntax_id: str = "UNOC",
    syntax_version: int = 3,
    delimiters: Delimiters | None = None,
    una: bool = True,
    line_break: str = "\n",
    application_ref: str | None = None,
    ack_request: bool = False,
    test: bool = False,
) -> bytes:
    """Write a new interchange around messages (outbound documents, CONTRL).

    Each message is its segments starting with UNH; a final UNT is replaced
    (or added) with the right segment count and reference, so callers need
    not count (ISO 9735 UNT 0074 counts UNH..UNT inclusive).

    Args:
        messages: one segment sequence per message, UNH first.
        sender / recipient: (id, qualifier) for UNB S002 / S003.
        control_reference: UNB/UNZ 0020.
        now: written as UNB S004 (YYMMDD, or CCYYMMDD in syntax 4, and HHMM).
        syntax_id / syntax_version: UNB S001.
        delimiters: service characters; defaults per syntax version.
        una: write the UNA service string advice.
        line_break: after each segment terminator.
        application_ref: UNB 0026.
        ack_request: UNB 0031 = 1.
        test: UNB 0035 = 1.

    Returns:
        The interchange bytes.

    Raises:
        LocalTranslationError: a message does not start with UNH, or a value
            cannot be written with these delimiters or charset.
    """
    d = delimiters or Delimiters.default(syntax_version)
    charset = CHARSETS.get(syntax_id)
    if charset is None:
        raise LocalTranslationError(f"unknown syntax identifier {syntax_id!r}")
    date = _ccyymmdd(now) if syntax_version >= 4 else _yymmdd(now)
    unb: list[Element] = [
        "UNB",
        (syntax_id, str(syntax_version)),
        (sender[0], sender[1]) if sender[1] else sender[0],
        (recipient[0], recipient[1]) if recipient[1] else recipient[0],
        (date, _hhmm(now)),
        control_reference,
    ]
    tail: list[Element] = ["", application_ref or "", "", "1" if ack_request else "", "", "1" if test else ""]
    while tail and tail[-1] == "":
        tail.pop()
    unb.extend(tail)
    esc = _Escaper(d)
    # Segments without their terminators: it goes in with the line break when they are joined.
    out: list[str] = [esc.segment(tuple(unb))]
    count = 0
    for msg in messages:
        segs = list(msg)
        if not segs or element(segs[0], 0) != "UNH":
            raise LocalTranslationError("an outbound message must start with UNH")
        if element(segs[-1], 0) == "UNT":
            segs.pop()
        segs.append(("UNT", str(len(segs) + 1), element(segs[0], 1)))
        for s in segs:
            out.append(esc.segment(s))
        count += 1
    out.append(esc.segment(("UNZ", str(count), control_reference)))
    end = d.segment + line_break
    text = end.join(out) + end
    return _encode(d.una() + line_break + text if una else text, charset.codec)


__all__ = ["EdifactWriter", "render_segment", "write_interchange", "write_model"]
