"""TA1 / 997 / 999 generation (checked by pyx12's own maps as oracle and against hand-verified files) and
reading inbound acknowledgments into ``functional_ack`` documents."""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from x12_helpers import X12_CORPUS, core_only

import translators.x12 as x12
from translators.errors import Location, RemoteSyntaxError
from translators.models.functional_ack import FunctionalAck
from translators.options import ControlNumbers, TranslatorOptions
from translators.x12 import translate_x12
from translators.x12.acks import (
    GroupOutcome,
    InterchangeOutcome,
    TransactionOutcome,
    ack_kind_for,
    build_functional_ack,
    parse_functional_ack,
    parse_ta1,
)
from translators.x12.reader import read_events
from translators.x12.syntax import Delimiters, TransactionSet


@pytest.fixture(autouse=True)
def _core_only() -> Iterator[None]:
    # These tests judge the core; the business maps' own checks are tested by their owner.
    with core_only():
        yield


DATA = Path(__file__).resolve().parent / "data" / "x12_acks"
NOW = dt.datetime(2024, 2, 3, 4, 5, tzinfo=dt.UTC)
OPTS = TranslatorOptions(
    map_business=False, now=NOW, control_numbers=ControlNumbers(interchange=501, group=61, transaction=71)
)


def interchange(version: str, body: str, *, isa14: str = "0", iea: str = "IEA*1*000000101~") -> bytes:
    """An inbound 837 interchange (pyx12 has maps for acks of HIPAA groups only)."""
    isa12, isa11 = ("00501", "^") if version.startswith("005") else ("00401", "U")
    return (
        f"ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *240101*1200*{isa11}*{isa12}"
        f"*000000101*{isa14}*P*:~\n"
        f"GS*HC*SENDERAPP*RECEIVERAPP*20240101*1200*7*X*{version}~\n" + body + iea + "\n"
    ).encode()


def tx(
    control: str, version: str, extra: str = "", se_count: int | None = None, se_control: str | None = None
) -> str:
    count = 3 + extra.count("~") if se_count is None else se_count
    return (
        f"ST*837*{control}*{version}~\nBHT*0019*00*X*20240101*1200*CH~\n{extra}"
        f"SE*{count}*{se_control or control}~\n"
    )


V4, V5 = "004010X098A1", "005010X222A1"

# name -> (inbound bytes, options)
CASES: dict[str, tuple[bytes, TranslatorOptions]] = {
    "accepted_4010": (interchange(V4, tx("0001", V4) + tx("0002", V4) + "GE*2*7~\n"), OPTS),
    "se_count_4010": (interchange(V4, tx("0001", V4) + tx("0002", V4, se_count=9) + "GE*2*7~\n"), OPTS),
    "se_control_5010": (interchange(V5, tx("0001", V5, se_control="0003") + "GE*1*7~\n"), OPTS),
    "ge_count_4010": (interchange(V4, tx("0001", V4) + "GE*3*7~\n"), OPTS),
    "bad_segment_id_5010": (interchange(V5, tx("0001", V5, extra="nm1*41~\n") + "GE*1*7~\n"), OPTS),
    "all_rejected_5010": (interchange(V5, tx("0001", V5, se_count=1) + "GE*1*7~\n"), OPTS),
    "forced_997_for_5010": (
        interchange(V5, tx("0001", V5) + "GE*1*7~\n"),
        TranslatorOptions(map_business=False, now=NOW, x12_ack="997"),
    ),
}

TA1_CASES: dict[str, tuple[bytes, TranslatorOptions]] = {
    "ta1_iea_mismatch": (interchange(V4, tx("0001", V4) + "GE*1*7~\n", iea="IEA*1*000000999~"), OPTS),
    "ta1_requested": (interchange(V4, tx("0001", V4) + "GE*1*7~\n", isa14="1"), OPTS),
}


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def pyx12_oracle() -> Iterator[object]:
    pyx12_doc = pytest.importorskip("pyx12.x12n_document")
    params = pytest.importorskip("pyx12.params")
    capture = _Capture()
    logger = logging.getLogger("pyx12")
    old = logger.propagate
    logger.addHandler(capture)
    logger.propagate = False

    def validate(payload: bytes) -> list[str]:
        capture.messages.clear()
        ok = pyx12_doc.x12n_document(
            params.params(), io.StringIO(payload.decode("latin-1")), io.StringIO(), None
        )
        problems = list(capture.messages)
        if not ok:
            problems.append("x12n_document returned False")
        return problems

    yield validate
    logger.removeHandler(capture)
    logger.propagate = old


def _ack(data: bytes, options: TranslatorOptions, kind: str) -> bytes:
    result = translate_x12(data, options)
    acks = [a for a in result.acks if a.kind == kind]
    assert len(acks) == 1, [(a.kind, a.payload) for a in result.acks]
    return acks[0].payload


@pytest.mark.parametrize("name", sorted(CASES))
def test_functional_ack_matches_hand_verified_file_and_pyx12(name: str, pyx12_oracle: object) -> None:
    data, options = CASES[name]
    kind = "999" if V5 in data.decode() and options.x12_ack != "997" else "997"
    payload = _ack(data, options, kind)
    expected = (DATA / f"{name}.{kind}").read_bytes()
    assert payload == expected
    if name != "forced_997_for_5010":  # pyx12 has no 997 map for a 005010X222A1 group
        assert pyx12_oracle(payload) == []  # type: ignore[operator]


@pytest.mark.parametrize("name", sorted(TA1_CASES))
def test_ta1_matches_hand_verified_file(name: str) -> None:
    data, options = TA1_CASES[name]
    assert _ack(data, options, "TA1") == (DATA / f"{name}.ta1").read_bytes()


def test_oracle_can_fail(pyx12_oracle: object) -> None:
    good = (DATA / "se_count_4010.997").read_bytes()
    assert pyx12_oracle(good) == []  # type: ignore[operator]
    assert pyx12_oracle(good.replace(b"AK5*R*4", b"AK5*Q*4")) != []  # type: ignore[operator]


def test_element_errors_become_ak3_ak4_and_ik3_ik4(
    monkeypatch: pytest.MonkeyPatch, pyx12_oracle: object
) -> None:
    def fake_validate(t: TransactionSet) -> list[RemoteSyntaxError]:
        where: dict[str, Any] = {
            "interchange": t.interchange_control,
            "group": t.group_control,
            "transaction": t.control,
        }
        return [
            RemoteSyntaxError(
                "BHT02 code not allowed",
                ack_hint="AK4:7",
                scope="segment",
                location=Location(segment_tag="BHT", segment_position=2, element_position=2, **where),
            ),
            RemoteSyntaxError(
                "BHT04 bad date",
                ack_hint="AK4:8",
                scope="segment",
                location=Location(segment_tag="BHT", segment_position=2, element_position=4, **where),
            ),
        ]

    monkeypatch.setattr(x12, "_MAPS", x12._Maps(None, fake_validate, None))
    for version, kind in ((V4, "997"), (V5, "999")):
        data = interchange(version, tx("0001", version) + "GE*1*7~\n")
        lenient = translate_x12(data, OPTS)
        assert len(lenient.documents) == 1 and lenient.documents[0].warnings
        payload = _ack(data, OPTS, kind)
        assert payload == (DATA / f"element_errors_{kind}.{kind}").read_bytes()
        assert pyx12_oracle(payload) == []  # type: ignore[operator]
        strict = TranslatorOptions(
            map_business=False, now=NOW, strict=True, control_numbers=OPTS.control_numbers
        )
        strict_result = translate_x12(data, strict)
        assert strict_result.documents == ()
        strict_payload = _ack(data, strict, kind)
        assert b"5*R*5~" in strict_payload and b"AK9*R*1*1*0~" in strict_payload
        assert pyx12_oracle(strict_payload) == []  # type: ignore[operator]


def test_ack_mirrors_version_and_swaps_parties() -> None:
    data, _ = CASES["accepted_4010"]
    payload = _ack(data, OPTS, "997").decode()
    isa = payload.split("~")[0].split("*")
    assert (isa[5], isa[6].strip(), isa[7], isa[8].strip()) == ("ZZ", "RECEIVER", "ZZ", "SENDER")
    assert isa[12] == "00401" and isa[13] == "000000501" and (isa[9], isa[10]) == ("240203", "0405")
    gs = payload.split("~")[1].strip().split("*")
    assert gs[1:4] == ["FA", "RECEIVERAPP", "SENDERAPP"] and gs[6] == "61" and gs[8] == V4
    assert "ST*997*0071~" in payload
    ours = TranslatorOptions(map_business=False, now=NOW, our_ids=("01", "OURDUNS"))
    assert "*01*OURDUNS        *ZZ*SENDER" in _ack(data, ours, "997").decode()


def test_ack_policies() -> None:
    data, _ = CASES["accepted_4010"]
    never = TranslatorOptions(map_business=False, functional_ack="never", ta1="never")
    assert translate_x12(data, never).acks == ()
    on_error = TranslatorOptions(map_business=False, functional_ack="on_error")
    assert translate_x12(data, on_error).acks == ()
    bad, _ = CASES["se_count_4010"]
    assert [a.kind for a in translate_x12(bad, on_error).acks] == ["997"]
    always = TranslatorOptions(map_business=False, ta1="always")
    assert [a.kind for a in translate_x12(data, always).acks] == ["TA1", "997"]
    # No ack for acknowledgments.
    ack_file = (X12_CORPUS / "staedi__simple999.edi").read_bytes()
    assert translate_x12(ack_file, OPTS).acks == ()


def test_control_numbers_count_up_across_a_mailbag() -> None:
    data, _ = CASES["accepted_4010"]
    result = translate_x12(data + data.replace(b"000000101", b"000000102"), OPTS)
    controls = [a.payload.split(b"*")[13] for a in result.acks]
    assert controls == [b"000000501", b"000000502"]
    assert [a.answers for a in result.acks] == ["000000101", "000000102"]


def test_ack_kind_choice() -> None:
    auto = TranslatorOptions()
    assert ack_kind_for("004010", auto) == "997"
    assert ack_kind_for("005010X222A1", auto) == "999"
    assert ack_kind_for("003010", auto) == "997"
    assert ack_kind_for("004010", TranslatorOptions(x12_ack="999")) == "999"


def test_streaming_ack_lists_only_sets_in_error() -> None:
    group = GroupOutcome(
        header=("GS", "HC", "A", "B", "20240101", "1200", "7", "X", V4),
        trailer=("GE", "3", "7"),
        record_accepted=False,
    )
    group.add(TransactionOutcome(set_id="837", control="0001"))
    group.add(
        TransactionOutcome(
            set_id="837",
            control="0002",
            rejected=True,
            errors=[RemoteSyntaxError("x", ack_hint="AK5:4", scope="transaction")],
        )
    )
    group.add(TransactionOutcome(set_id="837", control="0003"))
    outcome = InterchangeOutcome(
        header=tuple(read_events(CASES["accepted_4010"][0])[0].segment),  # type: ignore[union-attr]
        delimiters=Delimiters(),
        groups=[group],
    )
    built = build_functional_ack(outcome, OPTS, interchange_control=1, group_control=1, transaction_control=1)
    assert built is not None
    text = built[0].decode()
    assert "AK2*837*0002~AK5*R*4~AK9*P*3*3*2~" in text and "0001" not in text.split("AK1")[1].split("SE")[0]


# -- inbound ----------------------------------------------------------------------------------------------


def _inbound(name: str) -> list[TransactionSet]:
    return [e for e in read_events((X12_CORPUS / name).read_bytes()) if isinstance(e, TransactionSet)]


def test_parse_inbound_999() -> None:
    (t,) = _inbound("staedi__simple999.edi")
    doc = parse_functional_ack(t)
    FunctionalAck.model_validate(doc)
    assert doc["ack_type"] == "999"
    assert doc["status"] in ("A", "E", "P", "R")
    assert doc["transactions"] and all("control_number" in x for x in doc["transactions"])


def test_parse_inbound_997s() -> None:
    (t,) = _inbound("bots-plugins__997-004010VICS-01.x12")
    doc = parse_functional_ack(t)
    FunctionalAck.model_validate(doc)
    assert (doc["functional_id"], doc["group_control_number"], doc["status"]) == ("PR", "10001", "A")
    assert doc["transactions"] == [
        {"set_id": "855", "control_number": "1294", "error_codes": [], "segment_errors": [], "status": "A"}
    ]
    assert (doc["transactions_included"], doc["transactions_received"], doc["transactions_accepted"]) == (
        1,
        1,
        1,
    )


def test_parse_generated_997_with_errors_round_trips() -> None:
    payload = (DATA / "element_errors_997.997").read_bytes()
    (t,) = [e for e in read_events(payload) if isinstance(e, TransactionSet)]
    doc = parse_functional_ack(t)
    FunctionalAck.model_validate(doc)
    seg_error = doc["transactions"][0]["segment_errors"][0]
    assert seg_error["segment_tag"] == "BHT" and seg_error["position"] == 2 and seg_error["error_code"] == "8"
    assert [e["error_code"] for e in seg_error["element_errors"]] == ["7", "8"]
    assert doc["transactions"][0]["status"] == "E"


def test_parse_malformed_999_does_not_raise() -> None:
    for t in _inbound("staedi__invalid999.edi"):
        doc = parse_functional_ack(t)
        FunctionalAck.model_validate(doc)


def test_parse_ta1() -> None:
    doc = parse_ta1(("TA1", "000000050", "200229", "1200", "R", "021"))
    FunctionalAck.model_validate(doc)
    assert (doc["interchange_control_number"], doc["status"], doc["error_codes"]) == (
        "000000050",
        "R",
        ["021"],
    )
    result = translate_x12((X12_CORPUS / "staedi__x12_interchange_ack.txt").read_bytes(), OPTS)
    assert [d.document["status"] for d in result.documents] == ["A"]


def test_streaming_keeps_a_bounded_number_of_ak2_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    import translators.x12.acks as acks_module

    monkeypatch.setattr(acks_module, "STREAMING_AK2_LIMIT", 2)
    group = GroupOutcome(
        header=("GS", "HC", "A", "B", "20240101", "1200", "7", "X", V4), record_accepted=False
    )
    for n in range(5):
        error = RemoteSyntaxError("x", ack_hint="AK5:4", scope="transaction")
        group.add(TransactionOutcome(set_id="837", control=f"{n:04d}", rejected=True, errors=[error]))
    assert len(group.transactions) == 2
    assert (group.received, group.accepted) == (5, 0)
