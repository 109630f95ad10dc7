"""Shared helpers for the X12 tests: feeding the reader three ways and summarising events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from translators.errors import RemoteSyntaxError
from translators.x12.reader import X12Reader
from translators.x12.syntax import (
    NEED_DATA,
    GroupEnd,
    GroupStart,
    InterchangeEnd,
    InterchangeStart,
    TechnicalAck,
    TransactionSet,
)

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
X12_CORPUS = CORPUS / "x12"


def summarise(item: object) -> tuple[object, ...]:
    """A compact, comparable view of one event or error."""
    if isinstance(item, InterchangeStart):
        d = item.delimiters
        return ("ISA", item.control, d.element, d.segment, d.segment_suffix, d.component, d.repetition)
    if isinstance(item, GroupStart):
        return ("GS", item.control, item.version)
    if isinstance(item, TransactionSet):
        return ("TX", item.set_id, item.control, item.segments)
    if isinstance(item, TechnicalAck):
        return ("TA1", item.segment)
    if isinstance(item, GroupEnd):
        return ("GE", item.segment, item.transaction_count)
    if isinstance(item, InterchangeEnd):
        return ("IEA", item.segment, item.group_count)
    if isinstance(item, RemoteSyntaxError):
        return ("ERR", item.ack_hint, item.scope)
    raise AssertionError(f"unexpected item {item!r}")


def drain(reader: X12Reader, out: list[object]) -> None:
    """Pull events (and raised errors) until NEED_DATA."""
    while True:
        try:
            event = reader.next_event()
        except RemoteSyntaxError as exc:
            out.append(exc)
            continue
        if event is NEED_DATA:
            return
        out.append(event)


def feed(
    data: bytes, chunk: int | None = None, *, eof: bool = True, reader: X12Reader | None = None
) -> list[object]:
    """Feed ``data`` in chunks of ``chunk`` bytes (None = whole), pulling events after each."""
    r = reader or X12Reader()
    out: list[object] = []
    size = chunk or max(len(data), 1)
    for start in range(0, len(data), size):
        r.receive_data(data[start : start + size])
        drain(r, out)
    if eof:
        r.receive_data(b"")
        drain(r, out)
    return out


def three_ways(data: bytes) -> list[list[tuple[object, ...]]]:
    """Summaries of parsing whole, byte by byte and in 7-byte chunks."""
    return [[summarise(e) for e in feed(data, chunk)] for chunk in (None, 1, 7)]


@contextmanager
def core_only() -> Iterator[None]:
    """Run translate_x12 without the business maps package (tests of the core alone)."""
    import translators.x12 as x12

    old = x12._MAPS
    x12._MAPS = x12._Maps(None, None, None)
    try:
        yield
    finally:
        x12._MAPS = old
