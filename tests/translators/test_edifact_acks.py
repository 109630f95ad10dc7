"""CONTRL out (golden files checked by hand) and CONTRL/APERAK in.

Each ``data/edifact_acks/<case>.in.edi`` is translated with a fixed clock and
fixed control numbers; the CONTRL must equal ``<case>.contrl.edi`` byte for
byte.  The golden files were read segment by segment against the CONTRL
layout (UCI 0020/S002/S003/0083/0085/0013/S011, UCM, UCS, UCF) before being
committed; see the per-case notes below.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from translators.edifact import translate_edifact
from translators.edifact.acks import parse_aperak, parse_contrl
from translators.edifact.reader import EdifactReader
from translators.edifact.syntax import NEED_DATA, Message
from translators.models.functional_ack import FunctionalAck
from translators.options import ControlNumbers, TranslatorOptions

DATA = Path(__file__).resolve().parent / "data" / "edifact_acks"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "edifact"
OPTS = TranslatorOptions(
    now=dt.datetime(2024, 3, 5, 14, 7, tzinfo=dt.UTC),
    control_numbers=ControlNumbers(interchange=4711, transaction=12),
    map_business=False,
)

# case -> (accepted, the line of the CONTRL that carries the verdict)
GOLDEN = {
    "accepted_v3": (True, b"UCI+IC1+SENDER:14+RECIP:14+7'"),
    "unt_count": (False, b"UCM+M2+ORDERS:D:96A:UN+4+29+UNT+1'"),  # UNT says 9, 3 segments
    "unz_reference": (False, b"UCI+IC3+SENDER:14+RECIP:14+4+28+UNZ+2'"),  # UNZ 0020 IC9 vs UNB IC3
    "charset_in_body": (False, b"UCS+3+21'"),  # 0xC3 in NAD, the 3rd segment (UNH = 1)
    "group_count": (False, b"UCF+G1+APPS:14+APPR:14+4+29+UNE+1'"),  # UNE says 2, 1 message
    "syntax4_accepted": (True, b"UNH+12+CONTRL:4:1:UN'"),
    "unb_bad_date": (False, b"UCI+IC7+SENDER:14+RECIP:14+4+12+UNB+4:1'"),  # month 13
    "truncated": (False, b"UCI+IC8+SENDER:14+RECIP:14+4+13+UNT'"),
}


def test_golden_files_present() -> None:
    assert sorted(p.name.split(".")[0] for p in DATA.glob("*.in.edi")) == sorted(GOLDEN)


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_contrl_golden(case: str) -> None:
    data = (DATA / f"{case}.in.edi").read_bytes()
    expected = (DATA / f"{case}.contrl.edi").read_bytes()
    result = translate_edifact(data, OPTS)
    (ack,) = result.acks
    assert ack.kind == "CONTRL"
    assert ack.payload == expected
    accepted, verdict = GOLDEN[case]
    assert ack.accepted is accepted
    assert verdict in ack.payload
    number = {
        "accepted_v3": 1,
        "unt_count": 2,
        "unz_reference": 3,
        "charset_in_body": 4,
        "group_count": 5,
        "syntax4_accepted": 6,
        "unb_bad_date": 7,
        "truncated": 8,
    }[case]
    assert ack.answers == f"IC{number}"
    assert f"UCI+IC{number}+".encode() in ack.payload
    # the mirrored envelope: our UNB swaps sender and recipient and uses our clock and numbers
    assert b"+240305:1407+4711'" in expected or b"+20240305:1407+4711'" in expected


def _message(data: bytes) -> Message:
    r = EdifactReader()
    r.receive_data(data)
    r.receive_data(b"")
    while (ev := r.next_event()) is not NEED_DATA:
        if isinstance(ev, Message):
            return ev
    raise AssertionError("no message")


def test_our_contrl_reads_back_as_functional_ack() -> None:
    contrl = (DATA / "unt_count.contrl.edi").read_bytes()
    result = translate_edifact(contrl, OPTS)
    (doc,) = result.documents
    assert doc.document_type == "functional_ack" and doc.transaction_set == "CONTRL"
    ack = FunctionalAck.model_validate(doc.document)
    assert ack.ack_type == "CONTRL" and ack.interchange_control_number == "IC2"
    assert ack.status == "P"  # interchange acknowledged, one message rejected
    assert [(t.control_number, t.status, t.error_codes) for t in ack.transactions] == [
        ("M1", "A", []),
        ("M2", "R", ["29"]),
    ]
    assert ack.transactions_accepted == 1
    # an accepted interchange of CONTRL is not acknowledged again
    assert result.acks == ()


def test_contrl_segment_and_element_errors_parse() -> None:
    data = (
        b"UNB+UNOA:3+P+US+240305:1200+9'UNH+1+CONTRL:D:3:UN'UCI+55+US+P+7'"
        b"UCM+7+ORDERS:D:96A:UN+4'UCS+5'UCD+12+3:2'UCS+9+13'UNT+7+1'UNZ+1+9'"
    )
    doc = parse_contrl(_message(data))
    ack = FunctionalAck.model_validate(doc)
    (tx,) = ack.transactions
    assert (tx.control_number, tx.set_id, tx.status) == ("7", "ORDERS", "R")
    assert [(s.position, s.error_code) for s in tx.segment_errors] == [(5, None), (9, "13")]
    (el,) = tx.segment_errors[0].element_errors
    assert (el.position, el.component_position, el.error_code) == (3, 2, "12")


def test_contrl_interchange_rejection_parse() -> None:
    contrl = (DATA / "unz_reference.contrl.edi").read_bytes()
    doc = parse_contrl(_message(contrl))
    assert doc["status"] == "R" and doc["error_codes"] == ["28"] and doc["transactions"] == []
    FunctionalAck.model_validate(doc)


@pytest.mark.parametrize(
    ("name", "status", "codes"),
    [("pydifact__v3_aperak_rejected.edi", "E", ["12"]), ("pydifact__v4_aperak.edi", "E", ["1"])],
)
def test_aperak_from_corpus(name: str, status: str, codes: list[str]) -> None:
    msg = _message((CORPUS / name).read_bytes())
    ack, app = parse_aperak(msg)
    FunctionalAck.model_validate(ack)
    assert ack["status"] == status and ack["error_codes"] == codes
    assert [t["control_number"] for t in ack["transactions"]] == ["PO123456"]
    assert app["errors"][0]["code"] == codes[0] and app["errors"][0]["texts"]


def test_aperak_response_type_and_translation() -> None:
    data = (
        b"UNB+UNOA:3+P+US+240305:1200+9'UNH+1+APERAK:D:96A:UN'BGM+27+AP1+9+RE'"
        b"RFF+ACW:MSG77'ERC+Z01'FTX+AAO+++UNKNOWN ARTICLE'UNT+6+1'UNZ+1+9'"
    )
    result = translate_edifact(data, OPTS)
    (doc,) = result.documents
    assert doc.document_type == "functional_ack" and doc.transaction_set == "APERAK"
    assert doc.document["status"] == "R"
    assert doc.document["transactions"][0]["control_number"] == "MSG77"
    assert doc.extensions["application_errors"]["errors"] == [{"code": "Z01", "texts": ["UNKNOWN ARTICLE"]}]


def test_ack_policy() -> None:
    clean = (DATA / "accepted_v3.in.edi").read_bytes()
    bad = (DATA / "unt_count.in.edi").read_bytes()
    never = TranslatorOptions(functional_ack="never", map_business=False)
    on_error = TranslatorOptions(functional_ack="on_error", map_business=False)
    assert translate_edifact(clean, never).acks == () and translate_edifact(bad, never).acks == ()
    assert translate_edifact(clean, on_error).acks == ()
    assert len(translate_edifact(bad, on_error).acks) == 1
    # UNB 0031 = 1: the sender asked for an acknowledgment
    asked = clean.replace(b"+IC1'", b"+IC1++++1'", 1)
    (ack,) = translate_edifact(asked, on_error).acks
    assert ack.accepted


def test_our_ids_and_syntax_id_in_contrl() -> None:
    data = (DATA / "accepted_v3.in.edi").read_bytes()
    opts = TranslatorOptions(our_ids=("ZZ", "GATEWAY"), map_business=False)
    (ack,) = translate_edifact(data, opts).acks
    assert ack.payload.startswith(b"UNB+UNOA:3+GATEWAY:ZZ+SENDER:14+")
