"""EdifactWriter, write_model and write_interchange: escaping, round trip, outbound envelopes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from translators.edifact.reader import EdifactReader
from translators.edifact.syntax import NEED_DATA, Delimiters, InterchangeStart, Message, Repeated
from translators.edifact.syntax_model import InterchangeBuilder, InterchangeModel, MessageDocument
from translators.edifact.translator import translate_edifact
from translators.edifact.writer import EdifactWriter, render_segment, write_interchange, write_model
from translators.errors import LocalTranslationError
from translators.options import TranslatorOptions

NOW = dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)


def _events(data: bytes) -> list[Any]:
    r = EdifactReader()
    r.receive_data(data)
    r.receive_data(b"")
    out = []
    while (ev := r.next_event()) is not NEED_DATA:
        out.append(ev)
    return out


@pytest.mark.parametrize(
    ("segment", "text"),
    [
        (("FTX", "AAI", "", "", "A+B:C'D?E"), "FTX+AAI+++A?+B?:C?'D??E'"),
        (("NAD", "BY", ("123", "", "9")), "NAD+BY+123::9'"),
        (("RFF", ("ON", "")), "RFF+ON:'"),
    ],
)
def test_render_escapes_service_characters(segment: tuple[object, ...], text: str) -> None:
    assert render_segment(segment, Delimiters()) == text  # type: ignore[arg-type]


def test_render_repetition_needs_syntax4() -> None:
    seg = ("ABC", Repeated(("A", ("B", "C"))), "x*y")
    assert render_segment(seg, Delimiters.default(4)) == "ABC+A*B:C+x?*y'"
    with pytest.raises(LocalTranslationError):
        render_segment(seg, Delimiters.default(3))


def test_no_release_character_refuses_special_values() -> None:
    d = Delimiters(release=None)
    assert render_segment(("FTX", "PLAIN"), d) == "FTX+PLAIN'"
    with pytest.raises(LocalTranslationError, match="release"):
        render_segment(("FTX", "A+B"), d)


def test_write_interchange_reads_back() -> None:
    messages: list[Any] = [
        [
            ("UNH", "1", ("ORDERS", "D", "96A", "UN", "EAN008")),
            ("BGM", "220", "PO?1+", "9"),
            ("FTX", "AAI", "", "", "Müller's dock: 5"),
        ],
        [("UNH", "2", ("ORDERS", "D", "96A", "UN")), ("BGM", "220", "PO2"), ("UNT", "99", "wrong")],
    ]
    data = write_interchange(
        messages,
        sender=("SENDER", "14"),
        recipient=("RECIP", None),
        control_reference="77",
        now=NOW,
        syntax_id="UNOC",
        ack_request=True,
    )
    assert data.startswith(b"UNA:+.? '\nUNB+UNOC:3+SENDER:14+RECIP+240115:0930+77++++1'\n")
    assert data.endswith(b"UNZ+2+77'\n")
    events = _events(data)
    start, m1, m2, _end = events
    assert isinstance(start, InterchangeStart) and start.ack_request and start.recipient_qualifier is None
    assert isinstance(m1, Message) and isinstance(m2, Message)
    assert m1.segments[1] == ("BGM", "220", "PO?1+", "9")
    assert m1.segments[2][4] == "Müller's dock: 5"
    assert m1.segments[-1] == ("UNT", "4", "1")  # counted for us
    assert m2.segments[-1] == ("UNT", "3", "2")  # a caller's UNT is replaced
    assert all(not getattr(e, "errors", ()) for e in events)


def test_write_interchange_syntax4_and_charset_error() -> None:
    data = write_interchange(
        [[("UNH", "1", ("INVOIC", "D", "03B", "UN"))]],
        sender=("S", None),
        recipient=("R", None),
        control_reference="1",
        now=NOW,
        syntax_id="UNOA",
        syntax_version=4,
        una=False,
        line_break="",
    )
    assert data == b"UNB+UNOA:4+S+R+20240115:0930+1'UNH+1+INVOIC:D:03B:UN'UNT+2+1'UNZ+1+1'"
    with pytest.raises(LocalTranslationError, match=r"UNOA|ascii"):
        write_interchange(
            [[("UNH", "1", ("X", "D", "96A", "UN")), ("FTX", "é")]],
            sender=("S", None),
            recipient=("R", None),
            control_reference="1",
            now=NOW,
            syntax_id="UNOA",
        )
    with pytest.raises(LocalTranslationError, match="UNH"):
        write_interchange(
            [[("BGM", "1")]], sender=("S", None), recipient=("R", None), control_reference="1", now=NOW
        )


def test_model_round_trip_through_json() -> None:
    data = (
        b"UNA:+,? '\r\nUNB+UNOC:3+S:14+R:14+240115:0930+5'\r\nUNG+ORDERS+A+B+240115:0930+G+UN+D:96A'\r\n"
        b"UNH+1+ORDERS:D:96A:UN'\r\nFTX+AAI+++X?+Y:'\r\nMOA+203:12,50'\r\nUNT+4+1'\r\nUNE+1+G'\r\nUNZ+1+5'\r\n"
    )
    builder = InterchangeBuilder()
    writer = EdifactWriter()
    out = b""
    for ev in _events(data):
        builder.feed(ev)
        out += writer.send(ev)
    assert out == data
    (model,) = builder.done
    assert model.line_break == "\r\n" and model.una == "UNA:+,? '" and model.delimiters.decimal == ","
    again = InterchangeModel.model_validate_json(model.model_dump_json())
    assert write_model(again) == data


def test_unmapped_document_is_the_syntax_layer() -> None:
    data = b"UNB+UNOA:3+S+R+240115:0930+5'UNH+1+COARRI:D:95B:UN:ITG13'EQD+CN+ABCU1234567'UNT+3+1'UNZ+1+5'"
    result = translate_edifact(data, TranslatorOptions(map_business=False))
    (doc,) = result.documents
    assert doc.document_type == "edifact.COARRI" and doc.schema_version == "1.0"
    parsed = MessageDocument.model_validate(doc.document)
    assert parsed.message.segments[1] == ["EQD", "CN", "ABCU1234567"]
    assert parsed.interchange_ref == "5" and parsed.syntax_id == "UNOA"
    assert doc.envelope.version == "D:95B:UN" and doc.envelope.transaction_control == "1"
