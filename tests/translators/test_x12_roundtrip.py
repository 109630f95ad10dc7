"""Lossless syntax layer: reading then writing gives the same bytes; outbound interchanges read back clean."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from x12_helpers import X12_CORPUS, core_only

from translators.errors import LocalTranslationError, RemoteSyntaxError
from translators.options import ControlNumbers, TranslatorOptions
from translators.x12 import translate_x12, write_interchange
from translators.x12.envelope import EnvelopeValidator
from translators.x12.reader import read_events
from translators.x12.syntax import Delimiters, TransactionSet
from translators.x12.syntax_model import (
    SyntaxBuilder,
    SyntaxInterchange,
    SyntaxTransactionDocument,
    render_interchange,
)
from translators.x12.writer import X12Writer


@pytest.fixture(autouse=True)
def _core_only() -> Iterator[None]:
    # These tests judge the core; the business maps' own checks are tested by their owner.
    with core_only():
        yield


FILES = sorted(p.name for p in X12_CORPUS.iterdir()) if X12_CORPUS.is_dir() else []

# Layout the reader deliberately drops (it is not data): indentation between segments and line
# wrapping inside segments.  These files round-trip their segments, not their bytes.
LAYOUT_ONLY = {
    "EDI.Net__x12.810a.edi",
    "OopFactory-X12__322Status.txt",
    "OopFactory-X12__846_Example1.txt",
    "OopFactory-X12__850_Example1_PGWGlass.txt",
    "OopFactory-X12__856_Example4.txt",
    "OopFactory-X12__940_simplot.txt",
    "OopFactory-X12__945_inter-americanproducts.txt",
    "OopFactory-X12__999_DHS_Wisconsin_Sample.txt",
    "OopFactory-X12__TechnicalAcknowledgment_Sample1.txt",
    "staedi__ts210_80char.edi",
}
_TAIL = b" \r\n\x1a\x00"


def _events(data: bytes) -> list[Any]:
    events: list[Any] = read_events(data)
    assert not any(isinstance(e, RemoteSyntaxError) for e in events)
    return events


def _segments(data: bytes) -> list[object]:
    out: list[object] = []
    for e in _events(data):
        out.append(e.segments if isinstance(e, TransactionSet) else getattr(e, "segment", None))
    return out


def _same_bytes(original: bytes, written: bytes) -> None:
    if written == original:
        return
    # Only the end may differ: a missing final suffix or extra blank lines / Ctrl-Z after the last IEA.
    assert written.rstrip(_TAIL) == original.rstrip(_TAIL)


@pytest.mark.parametrize("name", FILES)
def test_events_write_back_to_the_same_bytes(name: str) -> None:
    data = (X12_CORPUS / name).read_bytes()
    writer = X12Writer()
    written = b"".join(writer.send(e) for e in _events(data))  # type: ignore[arg-type]
    if name in LAYOUT_ONLY:
        assert _segments(written) == _segments(data)
    else:
        _same_bytes(data, written)


@pytest.mark.parametrize("name", FILES)
def test_syntax_model_round_trip(name: str) -> None:
    data = (X12_CORPUS / name).read_bytes()
    builder = SyntaxBuilder()
    models = [m for m in (builder.feed(e) for e in _events(data)) if m is not None]  # type: ignore[arg-type]
    # Through JSON and back, as a sink would store it.
    models = [SyntaxInterchange.model_validate_json(m.model_dump_json()) for m in models]
    written = b"".join(render_interchange(m) for m in models)
    if name in LAYOUT_ONLY:
        assert _segments(written) == _segments(data)
    else:
        _same_bytes(data, written)


def test_exact_round_trip_of_a_clean_file() -> None:
    data = (X12_CORPUS / "bots-plugins__856_1.x12").read_bytes()
    writer = X12Writer()
    assert b"".join(writer.send(e) for e in _events(data)) == data  # type: ignore[arg-type]


def test_unmapped_document_is_the_syntax_layer() -> None:
    data = (X12_CORPUS / "stupidedi__004010_PS830_pass_1.edi").read_bytes()
    result = translate_x12(data, TranslatorOptions(map_business=False))
    (doc,) = result.documents
    assert doc.document_type == "x12.830" and doc.schema_version == "1.0"
    model = SyntaxTransactionDocument.model_validate(doc.document)
    assert model.transaction.segments[0] == ["ST", "830", model.transaction.control]
    # The composite stays one element, joined with ISA16, exactly as sent.
    assert ["UIT", "PC>>>LB>>3.25", "432.65"] in model.transaction.segments
    rejected = translate_x12(data, TranslatorOptions(map_business=False, reject_unmapped=True))
    assert rejected.documents == () and [e.ack_hint for e in rejected.errors] == ["AK5:1"]


NOW = dt.datetime(2024, 7, 8, 9, 10, tzinfo=dt.UTC)
TX = [
    [("ST", "850", "X"), ("BEG", "00", "SA", "PO1", "", "20240708"), ("REF", "ZZ", "A>B"), ("SE", "0", "X")],
    [("ST", "850", "Y"), ("BEG", "00", "SA", "PO2", "", "20240708"), ("SE", "0", "Y")],
]


@pytest.mark.parametrize(
    "delims", [None, Delimiters(element="|", segment="\n", component="^", repetition="!")]
)
def test_write_interchange_reads_back_clean(delims: Delimiters | None) -> None:
    data = write_interchange(
        TX,
        sender=("ZZ", "US"),
        receiver=("01", "THEM"),
        control_numbers=ControlNumbers(interchange=42, group=5, transaction=17),
        version="004010",
        now=NOW,
        delimiters=delims,
    )
    assert data.startswith(b"ISA") and len(data.split(b"\n" if delims else b"~")[0]) == 105
    events = _events(data)
    validator = EnvelopeValidator(TranslatorOptions(strict=True))
    assert [err for e in events for err in validator.feed(e)] == []  # type: ignore[arg-type]
    txs = [e for e in events if isinstance(e, TransactionSet)]
    assert [(t.control, t.segments[-1]) for t in txs] == [
        ("0017", ("SE", "4", "0017")),
        ("0018", ("SE", "3", "0018")),
    ]
    assert events[0].segment[13] == "000000042"  # type: ignore[attr-defined]
    gs = events[1].segment  # type: ignore[attr-defined]
    assert gs[1] == "PO" and gs[4] == "20240708" and gs[6] == "5" and gs[8] == "004010"


def test_write_interchange_refuses_bad_input() -> None:
    kwargs = {
        "sender": ("ZZ", "US"),
        "receiver": ("ZZ", "THEM"),
        "control_numbers": ControlNumbers(),
        "version": "004010",
        "now": NOW,
    }
    with pytest.raises(LocalTranslationError, match="delimiter"):
        write_interchange([[("ST", "850", "1"), ("BEG", "A*B"), ("SE", "3", "1")]], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(LocalTranslationError, match="ST to SE"):
        write_interchange([[("BEG", "A")]], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(LocalTranslationError, match="longer than"):
        write_interchange(TX, **{**kwargs, "sender": ("ZZ", "X" * 16)})  # type: ignore[arg-type]
    with pytest.raises(LocalTranslationError):
        write_interchange([], **kwargs)  # type: ignore[arg-type]
