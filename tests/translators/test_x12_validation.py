"""Element-level validation of X12 transaction sets driven by translators/x12/definitions."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from translators import translate
from translators.errors import RemoteSyntaxError
from translators.x12.definitions import SEGMENTS, SET_TAGS, STRUCTURES, validate
from translators.x12.definitions.checker import _element_findings
from translators.x12.definitions.rules import RULES
from translators.x12.definitions.segments import CODES, ElementDef
from translators.x12.maps import MAPPED_SETS
from translators.x12.reader import X12Reader
from translators.x12.syntax import NEED_DATA, Delimiters, TransactionSet

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "x12"

PO_HEAD = "ST*850*0001~BEG*00*SA*PO1**20261129~"
PO_BODY = "REF*DP*038~N1*ST*Store*92*0001~PO1*1*2*EA*1.5**UP*012345678905~CTT*1~"
ASN_HEAD = "ST*856*0001~BSN*00*ASN1*20261129*1200*0001~"
ASN_BODY = (
    "HL*1**S~TD1*CTN*2~HL*2*1*O~PRF*PO1~HL*3*2*P~MAN*GM*340123450000000017~"
    "HL*4*3*I~LIN**UP*012345678905~SN1**2*EA~"
)


def tx_from(text: str, *, version: str = "004010") -> TransactionSet:
    body = [s.strip() for s in text.strip().strip("~").split("~") if s.strip()]
    count = len(body) + 1
    segs = (*(tuple(s.split("*")) for s in body), ("SE", str(count), body[0].split("*")[2]))
    return TransactionSet(
        set_id=segs[0][1],
        control=segs[0][2],
        segments=segs,
        version=version,
        group_control="9",
        interchange_control="000000009",
        delimiters=Delimiters(),
    )


def hints(text: str, *, version: str = "004010") -> list[str | None]:
    return [e.ack_hint for e in validate(tx_from(text, version=version))]


def only(text: str, hint: str, *, version: str = "004010") -> RemoteSyntaxError:
    errors = validate(tx_from(text, version=version))
    assert [e.ack_hint for e in errors] == [hint], [str(e) for e in errors]
    return errors[0]


def test_clean_sets_have_no_findings() -> None:
    assert hints(PO_HEAD + PO_BODY) == []
    assert hints(ASN_HEAD + ASN_BODY + "CTT*4~") == []


# -- segment level (AK3) ----------------------------------------------------------------------------


def test_ak3_1_unrecognised_segment() -> None:
    err = only(PO_HEAD + "zz*1~" + PO_BODY, "AK3:1")
    assert err.location.segment_tag == "zz" and err.location.segment_position == 3
    assert err.scope == "segment"


def test_ak3_2_segment_out_of_place() -> None:
    err = only(PO_HEAD + PO_BODY.replace("CTT*1~", "BEG*00*SA*PO2**20261129~CTT*1~"), "AK3:2")
    assert err.location.segment_tag == "BEG" and err.location.segment_position == 6


def test_ak3_3_mandatory_segment_missing() -> None:
    err = only(PO_HEAD + "REF*DP*038~CTT*1~", "AK3:3")
    assert err.location.segment_tag == "PO1"
    assert "PO1" in str(err)
    only("ST*850*0001~" + PO_BODY, "AK3:3")


def test_ak3_4_loop_over_maximum() -> None:
    err = only(PO_HEAD + PO_BODY + "CTT*1~", "AK3:4")
    assert err.location.segment_tag == "CTT" and err.location.segment_position == 7


def test_ak3_5_segment_over_maximum_use() -> None:
    err = only(PO_HEAD + "CUR*BY*USD~CUR*BY*EUR~" + PO_BODY, "AK3:5")
    assert err.location.segment_position == 4


def test_ak3_7_segment_not_in_set() -> None:
    err = only(PO_HEAD + "BSN*00*1*20261129*1200~" + PO_BODY, "AK3:7")
    assert err.location.segment_tag == "BSN"


# -- element level (AK4) ------------------------------------------------------------------------------


def test_ak4_1_mandatory_element_missing() -> None:
    err = only("ST*850*0001~BEG*00*SA***20261129~" + PO_BODY, "AK4:1")
    loc = err.location
    assert (loc.segment_tag, loc.segment_position, loc.element_position) == ("BEG", 2, 3)
    assert (loc.transaction, loc.group, loc.interchange) == ("0001", "9", "000000009")


def test_ak4_2_conditional_element_missing() -> None:
    err = only(PO_HEAD + PO_BODY.replace("N1*ST*Store*92*0001", "N1*ST*Store*92"), "AK4:2")
    assert err.location.element_position == 4


def test_ak4_3_too_many_elements() -> None:
    err = only(PO_HEAD + "CUR*BY*USD*1.2345*SE*EUR*USD*X*Y~" + PO_BODY, "AK4:3")
    assert err.location.element_position == 7


def test_ak4_4_too_short() -> None:
    err = only(PO_HEAD + PO_BODY.replace("REF*DP*038", "REF*D*038"), "AK4:4")
    assert err.location.element_position == 1


def test_ak4_4_six_digit_date_where_ccyymmdd_is_required() -> None:
    text = "ST*850*0001~BEG*00*SA*PO1**261129~" + PO_BODY
    assert hints(text) == ["AK4:4"]
    assert hints(text, version="003010") == []  # YYMMDD is right before 004010


def test_ak4_5_too_long() -> None:
    err = only(
        PO_HEAD + PO_BODY.replace("N1*ST*Store*92*0001~", "N1*ST*Store*92*0001~N4*SOLON*OHIO*44139~"), "AK4:5"
    )
    assert (err.location.segment_tag, err.location.element_position) == ("N4", 2)


def test_ak4_6_invalid_character() -> None:
    err = only(PO_HEAD + PO_BODY.replace("PO1*1*2*EA", "PO1*1*2x*EA"), "AK4:6")
    assert err.location.element_position == 2
    only(PO_HEAD + PO_BODY.replace("N1*ST*Store", "N1*ST*St\x01re"), "AK4:6")


def test_ak4_7_invalid_code() -> None:
    err = only("ST*856*0001~BSN*00*ASN1*20261129*1200*9999~" + ASN_BODY, "AK4:7")
    assert (err.location.segment_tag, err.location.element_position) == ("BSN", 5)
    only("ST*997*0001~AK1*PO*17~AK2*850*0001~AK5*Q~AK9*A*1*1*1~", "AK4:7")


def test_ak4_8_invalid_date() -> None:
    err = only("ST*850*0001~BEG*00*SA*PO1**20261340~" + PO_BODY, "AK4:8")
    assert err.location.element_position == 5


def test_ak4_9_invalid_time() -> None:
    err = only("ST*856*0001~BSN*00*ASN1*20261129*2561*0001~" + ASN_BODY, "AK4:9")
    assert (err.location.segment_tag, err.location.element_position) == ("BSN", 4)


def test_ak4_10_exclusion_violated() -> None:
    err = only(ASN_HEAD + ASN_BODY.replace("TD1*CTN*2~", "MEA*PD*G*10*LB****EA~TD1*CTN*2~"), "AK4:10")
    assert (err.location.segment_tag, err.location.element_position) == ("MEA", 3)


# -- 856 hierarchy --------------------------------------------------------------------------------------


def test_hl_parent_must_exist() -> None:
    err = only(ASN_HEAD + ASN_BODY.replace("HL*2*1*O", "HL*2*7*O"), "AK4:7")
    assert (err.location.segment_tag, err.location.element_position) == ("HL", 2)


def test_hl_level_must_fit_its_parent() -> None:
    err = only(ASN_HEAD + ASN_BODY + "HL*5*4*O~", "AK4:7")
    assert err.location.element_position == 3 and "cannot sit under" in str(err)


def test_hl_ids_are_sequential() -> None:
    err = only(ASN_HEAD + ASN_BODY.replace("HL*4*3*I", "HL*6*3*I"), "AK4:7")
    assert err.location.element_position == 1


def test_hl_without_shipment_level_rejects_the_set() -> None:
    text = ASN_HEAD + "HL*1**O~PRF*PO1~HL*2*1*I~LIN**UP*012345678905~SN1**2*EA~"
    errors = validate(tx_from(text))
    assert [e.ack_hint for e in errors] == ["AK4:7", "AK5:5"]
    assert errors[1].scope == "transaction"


def test_hl_missing_parent_is_inferred_with_a_finding() -> None:
    err = only(ASN_HEAD + ASN_BODY.replace("HL*2*1*O", "HL*2**O"), "AK4:2")
    assert err.location.element_position == 2


# -- definitions and the corpus -------------------------------------------------------------------------


def test_every_mapped_set_has_a_definition() -> None:
    assert set(MAPPED_SETS) <= set(STRUCTURES)
    for set_id, tags in SET_TAGS.items():
        assert {"ST", "SE"} <= tags, set_id
    # every segment a map reads has element definitions
    for tag in (
        "BEG",
        "PO1",
        "BAK",
        "ACK",
        "BSN",
        "HL",
        "LIN",
        "SN1",
        "MAN",
        "BIG",
        "IT1",
        "TDS",
        "W05",
        "W01",
        "W06",
        "W12",
        "W03",
        "W04",
        "W17",
        "W07",
        "BIA",
        "QTY",
        "B10",
        "AT7",
        "B2",
        "S5",
        "B1",
        "B3",
        "L0",
        "L1",
        "AK1",
        "AK2",
        "AK3",
        "AK4",
        "AK5",
        "AK9",
        "IK3",
        "IK4",
        "IK5",
    ):
        assert tag in SEGMENTS, tag


def test_unknown_sets_are_not_checked() -> None:
    assert validate(tx_from("ST*830*0001~BFR*00~")) == []


def corpus_findings(name: str) -> list[tuple[str, str | None]]:
    reader = X12Reader()
    reader.receive_data((CORPUS / name).read_bytes())
    reader.receive_data(b"")
    out: list[tuple[str, str | None]] = []
    while True:
        try:
            event = reader.next_event()
        except RemoteSyntaxError:
            continue
        if event is NEED_DATA:
            return out
        if isinstance(event, TransactionSet):
            out.extend((event.set_id, e.ack_hint) for e in validate(event))


@pytest.mark.parametrize(
    "name",
    [
        "node-x12__850.edi",
        "node-x12__850_fat.edi",
        "bots-plugins__850-02.x12",
        "bots-plugins__850_01.x12",
        "bots-plugins__850-004010.13.x12",
        "OopFactory-X12__850_Example1_PGWGlass.txt",
        "stupidedi__004010_PR855_pass_1.edi",
        "bots-plugins__855-004010UCS-01.x12",
        "staedi__multi-tx-transaction-type.edi",
        "node-x12__856.edi",
        "EdiEngine__856.Crossdock.OK.edi",
        "bots-plugins__856_1.x12",
        "stupidedi__002001_SH856_fail_1.edi",
        "EDI.Net__x12.810a.edi",
        "EdiEngine__940.OK.edi",
        "OopFactory-X12__940_simplot.txt",
        "stupidedi__004010_AR943_pass_1.edi",
        "stupidedi__004010_RE944_pass_1.edi",
        "OopFactory-X12__846_Example1.txt",
        "EDI.Net__214-MGCTLYST-SAMPLE.EDI",
        "staedi__ts214_ellipses_segterm.edi",
        "EDI.Net__204-MGCTLYST-SAMPLE.EDI",
        "stupidedi__004010_SM204_case_1.edi",
        "EDI.Net__990-MGCTLYST-SAMPLE.EDI",
        "stupidedi__004010_FA997_pass_1.edi",
        "bots-plugins__997-004010VICS-01.x12",
        "staedi__simple997-multiple-interchanges.edi",
        "staedi__simple999.edi",
        "pyx12__834_ls_le_ls_5010.999.txt",
    ],
)
def test_well_formed_corpus_sets_pass(name: str) -> None:
    assert corpus_findings(name) == []


def test_corpus_deviations_are_found() -> None:
    assert corpus_findings("staedi__invalid999.edi") == [
        ("999", "AK3:2"),
        ("999", "AK3:5"),
        ("999", "AK4:5"),
        ("999", "AK4:3"),
        ("999", "AK4:7"),
    ]
    # W12 without its mandatory unit of measure (W1205) on each of the three lines
    assert corpus_findings("OopFactory-X12__945_inter-americanproducts.txt") == [("945", "AK4:1")] * 3
    # a 940 without its W76 total
    assert corpus_findings("EdiEngine__WrongGroupsAndTranCount.edi") == [("940", "AK3:3")]
    # N1 qualifier without its id (003010)
    assert ("850", "AK4:2") in corpus_findings("staedi__invoice810_po850_dual.edi")


def test_findings_reach_the_functional_ack() -> None:
    """An element error becomes AK3/AK4 in the 997 the gateway sends back (tolerant: accepted with errors)."""
    data = (
        b"ISA*00*          *00*          *ZZ*BUYER          *ZZ*WAREHOUSE      "
        b"*261129*1025*U*00401*000000009*0*P*>~"
        b"GS*PO*BUYER*WAREHOUSE*20261129*1025*9*X*004010~"
        b"ST*850*0001~BEG*00*SA*PO1**20261340~REF*DP*038~N1*ST*Store*92*0001~PO1*1*2*EA*1.5**UP*012345678905~"
        b"CTT*1~SE*7*0001~GE*1*9~IEA*1*000000009~"
    )
    result = translate(data)
    assert any(e.ack_hint == "AK4:8" and e.location.segment_position == 2 for e in result.errors)
    assert [d.document_type for d in result.documents] == ["purchase_order"]
    (ack,) = [a for a in result.acks if a.kind == "997"]
    text = ack.payload.decode("latin-1")
    assert "AK3*BEG*2**8" in text and "AK4*5**8" in text
    assert "AK5*E" in text


def test_segments_that_join_to_the_same_text_are_judged_apart() -> None:
    # Elements are judged one by one (never as joined text): a hand-built segment holding the
    # separator inside an element, or the same text under another separator, is not the segment it
    # resembles.
    clean = tx_from(PO_HEAD + PO_BODY)
    assert validate(clean) == []
    segs = list(clean.segments)
    at = next(i for i, s in enumerate(segs) if s[0] == "REF")
    assert segs[at] == ("REF", "DP", "038")
    glued = dataclasses.replace(clean, segments=(*segs[:at], ("REF", "DP*038"), *segs[at + 1 :]))
    # REF01 "DP*038" is too long; REF02/REF03 are both missing
    assert [e.ack_hint for e in validate(glued)] == ["AK4:5", "AK4:2"]
    other = dataclasses.replace(glued, delimiters=Delimiters(element="|"))
    assert [e.ack_hint for e in validate(other)] == ["AK4:5", "AK4:2"]
    pipe = dataclasses.replace(clean, delimiters=Delimiters(element="|"))
    assert validate(pipe) == [] and validate(clean) == []


def _sample_value(rng: random.Random, d: ElementDef) -> str:
    # Mostly values that fit the definition (so the clean path runs), some just outside it.
    if rng.random() < 0.1:
        return rng.choice(_EDGE_VALUES)
    if d.codes is not None and rng.random() < 0.8:
        return rng.choice(sorted(CODES[d.codes]))
    if d.type == "DT":
        return rng.choice(["20240101", "20240229", "20230229", "20241301", "240101"])
    if d.type == "TM":
        return rng.choice(["1200", "235959", "2400", "120000123", "12"])
    if d.type == "R":
        return rng.choice(["1", "12.50", "-3", ".5", "5.", "0", "-.5", "1e3", "123456789012"])
    if d.type.startswith("N"):
        return rng.choice(["1", "12", "-4", "0", "1.5"])
    return "".join(rng.choice("AB12 -") for _ in range(rng.randint(max(0, d.min - 1), d.max + 1)))


_EDGE_VALUES = [
    "", "a\x01", "x\x7f", "\xa0x", "\xe9t\xe9", "\xb2", "1\xb2", "1e3", "-1.5", "--1", "1.2.3", "-", ".",
    "240101", "12345678901234567890123", "0.", "2400", "1260", "123456", "12345678",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_clean_rules_never_pass_a_segment_the_full_check_reports(seed: int) -> None:
    # The flat rules only decide whether the full check runs; a segment they call clean must have
    # no finding, or validation would silently lose it.
    rng = random.Random(seed)
    tags = sorted(SEGMENTS)
    vouched = 0
    for _ in range(20_000):
        tag = rng.choice(tags)
        defs = SEGMENTS[tag]
        count = rng.randint(0, len(defs) + 1)
        seg = (
            tag,
            *[
                (_sample_value(rng, defs[i]) if rng.random() < 0.7 else "")
                if i < len(defs)
                else rng.choice(["", "X"])
                for i in range(count)
            ],
        )
        pre_4010 = rng.random() < 0.3
        # plain=True is only claimed for printable ASCII (the reader's promise)
        plain = all(v.isascii() and v.isprintable() for v in seg)
        if RULES[tag].clean(seg, plain and rng.random() < 0.5):
            vouched += 1
            assert _element_findings(seg, pre_4010) == (), seg
    assert vouched > 1_000  # the clean path was exercised, not just the fallback


def test_clean_segment_memo_keeps_only_clean_segments() -> None:
    # Segments the flat rules vouch for are remembered by content, for the sets of one file; a
    # finding is never memoised, so the same bad segment is reported in every set that carries it.
    from translators.x12.definitions import CleanMemo

    memo = CleanMemo()
    good = ("DTM", "002", "20240115")
    bad = ("DTM", "002", "20241315")

    def with_date(date: str) -> list[str | None]:
        tx = tx_from(PO_HEAD + PO_BODY.replace("N1*", f"DTM*002*{date}~N1*", 1))
        return [e.ack_hint for e in validate(tx, None, memo)]

    for _ in range(2):
        assert with_date("20240115") == []
        assert good in memo.segments
        assert with_date("20241315") == ["AK4:8"]
        assert bad not in memo.segments
