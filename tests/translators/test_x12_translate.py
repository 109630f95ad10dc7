"""translate_x12 / iter_translate_x12: what is forwarded, what is dropped, and by which scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from x12_helpers import core_only

from translators import translate
from translators.errors import RemoteSyntaxError
from translators.options import TranslatorOptions
from translators.result import Acknowledgment, TranslatedDocument
from translators.x12 import X12Writer, iter_translate_x12, translate_x12
from translators.x12.reader import read_events
from translators.x12.syntax_model import SyntaxBuilder


@pytest.fixture(autouse=True)
def _core_only() -> Iterator[None]:
    with core_only():
        yield


OPTS = TranslatorOptions(map_business=False)


def isa(control: int, isa14: str = "0") -> str:
    return (
        "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
        f"*240101*1200*U*00401*{control:09d}*{isa14}*P*>~\n"
    )


def group(control: int, sets: list[str], ge_count: int | None = None) -> str:
    body = "".join(f"ST*850*{c}~\nBEG*00*SA*{c}**20240101~\nSE*3*{c}~\n" for c in sets)
    count = len(sets) if ge_count is None else ge_count
    return f"GS*PO*S*R*20240101*1200*{control}*X*004010~\n{body}GE*{count}*{control}~\n"


def interchange(control: int, groups: list[str], iea_control: int | None = None) -> bytes:
    trailer = control if iea_control is None else iea_control
    return (isa(control) + "".join(groups) + f"IEA*{len(groups)}*{trailer:09d}~\n").encode()


def test_group_error_drops_only_that_group() -> None:
    data = interchange(1, [group(1, ["0001", "0002"]), group(2, ["0001"], ge_count=5)])
    result = translate_x12(data, OPTS)
    assert not result.rejected
    assert [(d.envelope.group_control, d.envelope.transaction_control) for d in result.documents] == [
        ("1", "0001"),
        ("1", "0002"),
    ]
    assert [e.ack_hint for e in result.errors] == ["AK9:5"]
    (ack,) = result.acks
    assert ack.kind == "997" and not ack.accepted
    assert b"AK9*A*2*2*2~" in ack.payload and b"AK9*R*5*1*0*5~" in ack.payload


def test_mailbag_with_one_bad_interchange() -> None:
    good = interchange(1, [group(1, ["0001"])])
    bad = interchange(2, [group(1, ["0001"])], iea_control=3)
    result = translate_x12(bad + good, OPTS)
    assert not result.rejected
    assert [d.envelope.interchange_control for d in result.documents] == ["000000001"]
    assert [(a.kind, a.accepted, a.answers) for a in result.acks] == [
        ("TA1", False, "000000002"),
        ("997", True, "000000001"),
    ]
    assert translate_x12(bad, OPTS).rejected


def test_transaction_error_drops_only_that_set() -> None:
    data = interchange(1, [group(1, ["0001", "0002"])]).replace(b"SE*3*0002", b"SE*3*0009")
    result = translate_x12(data, OPTS)
    assert [d.envelope.transaction_control for d in result.documents] == ["0001"]
    assert [(e.ack_hint, e.scope, e.location.transaction) for e in result.errors] == [
        ("AK5:3", "transaction", "0002")
    ]


def test_junk_only_is_rejected_with_a_reason() -> None:
    result = translate_x12(b"ISA*this is not x12", OPTS)
    assert result.rejected and result.documents == () and result.reason


def test_warnings_reach_the_documents() -> None:
    data = interchange(1, [group(1, ["0001"])]).replace(b"*U*00401*", b"* *00401*")
    (doc,) = translate_x12(data, OPTS).documents
    assert any("ISA11" in w for w in doc.warnings)


def test_envelope_of_documents() -> None:
    (doc,) = translate_x12(interchange(7, [group(3, ["0042"])]), OPTS).documents
    env = doc.envelope
    assert (env.sender_qualifier, env.sender_id, env.receiver_id) == ("ZZ", "SENDER", "RECEIVER")
    assert (env.interchange_control, env.group_control, env.transaction_control) == ("000000007", "3", "0042")
    assert (env.version, env.application_sender, env.application_receiver, env.test_indicator) == (
        "004010",
        "S",
        "R",
        False,
    )
    assert doc.document_type == "x12.850" and doc.transaction_set == "850"


def test_iterator_yields_as_it_goes_and_flags_later_group_errors() -> None:
    data = interchange(1, [group(1, ["0001", "0002"], ge_count=9)])
    items = list(iter_translate_x12([data[i : i + 10] for i in range(0, len(data), 10)], OPTS))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["TranslatedDocument", "TranslatedDocument", "RemoteSyntaxError", "Acknowledgment"]
    error = items[2]
    assert isinstance(error, RemoteSyntaxError) and error.scope == "group" and error.ack_hint == "AK9:5"
    ack = items[3]
    assert isinstance(ack, Acknowledgment) and not ack.accepted
    # Whole-file mode applies the group error: nothing forwarded.
    assert translate_x12(data, OPTS).documents == ()


def test_iterator_documents_match_whole_file() -> None:
    data = interchange(1, [group(1, [f"{n:04d}" for n in range(1, 40)])]) * 1
    streamed = [i for i in iter_translate_x12([data], OPTS) if isinstance(i, TranslatedDocument)]
    assert streamed == list(translate_x12(data, OPTS).documents)


def test_translate_dispatches_to_x12() -> None:
    data = interchange(1, [group(1, ["0001"])])
    assert translate(b"\xef\xbb\xbf\r\n" + data, OPTS).documents[0].transaction_set == "850"


def test_writer_renders_a_syntax_model() -> None:
    data = interchange(1, [group(1, ["0001", "0002"])])
    builder = SyntaxBuilder()
    (model,) = [m for m in (builder.feed(e) for e in read_events(data)) if m is not None]  # type: ignore[arg-type]
    assert X12Writer().send(model) == data
