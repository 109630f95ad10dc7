"""EnvelopeValidator: each envelope fault maps to its TA1 / AK9 / AK5 code, scope and place."""

from __future__ import annotations

import pytest

from translators.errors import RemoteSyntaxError
from translators.options import TranslatorOptions
from translators.x12.envelope import EnvelopeValidator
from translators.x12.reader import read_events

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       "
    "*240101*1200*U*00401*000000001*0*P*>~"
)
GOOD = (
    ISA
    + "GS*PO*S*R*20240101*1200*7*X*004010~"
    + "ST*850*0001~BEG*00*SA*1**20240101~SE*3*0001~"
    + "ST*850*0002~BEG*00*SA*2**20240101~SE*3*0002~"
    + "GE*2*7~IEA*1*000000001~"
)


def check(text: str, strict: bool = False) -> tuple[list[RemoteSyntaxError], list[str]]:
    validator = EnvelopeValidator(TranslatorOptions(strict=strict))
    errors: list[RemoteSyntaxError] = []
    for event in read_events(text.encode("latin-1")):
        assert not isinstance(event, RemoteSyntaxError), event
        errors.extend(validator.feed(event))
    return errors, validator.take_warnings()


def isa_with(position: int, value: str) -> str:
    fields = ISA[:-1].split("*")
    fields[position] = value
    return "*".join(fields) + "~"


def test_good_interchange_is_clean() -> None:
    assert check(GOOD) == ([], [])
    assert check(GOOD, strict=True) == ([], [])


# (name, text, ack_hint, scope, segment tag, element position)
FAULTS = [
    (
        "IEA02 differs from ISA13",
        GOOD.replace("IEA*1*000000001", "IEA*1*000000002"),
        "TA1:001",
        "interchange",
        "IEA",
        2,
    ),
    ("IEA01 group count", GOOD.replace("IEA*1*", "IEA*3*"), "TA1:021", "interchange", "IEA", 1),
    ("no IEA", GOOD.replace("IEA*1*000000001~", ""), "TA1:023", "interchange", "IEA", None),
    ("bad ISA date", GOOD.replace("*240101*", "*241301*"), "TA1:014", "interchange", "ISA", 9),
    ("bad ISA time", GOOD.replace("*1200*U", "*2500*U"), "TA1:015", "interchange", "ISA", 10),
    ("bad ISA12", GOOD.replace("*00401*", "*0040X*"), "TA1:017", "interchange", "ISA", 12),
    ("bad ISA13", GOOD.replace("000000001", "00000000A"), "TA1:018", "interchange", "ISA", 13),
    ("bad ISA14", GOOD.replace("*0*P*", "*7*P*"), "TA1:019", "interchange", "ISA", 14),
    ("bad ISA15", GOOD.replace("*0*P*", "*0*X*"), "TA1:020", "interchange", "ISA", 15),
    ("bad ISA01", isa_with(1, "99") + GOOD[len(ISA) :], "TA1:010", "interchange", "ISA", 1),
    ("bad ISA03", isa_with(3, "99") + GOOD[len(ISA) :], "TA1:012", "interchange", "ISA", 3),
    ("empty sender", isa_with(6, " " * 15) + GOOD[len(ISA) :], "TA1:006", "interchange", "ISA", 6),
    ("empty receiver", isa_with(8, " " * 15) + GOOD[len(ISA) :], "TA1:008", "interchange", "ISA", 8),
    ("GE02 differs from GS06", GOOD.replace("GE*2*7", "GE*2*8"), "AK9:4", "group", "GE", 2),
    ("GE01 count", GOOD.replace("GE*2*7", "GE*5*7"), "AK9:5", "group", "GE", 1),
    ("no GE", GOOD.replace("GE*2*7~", ""), "AK9:3", "group", "GE", None),
    (
        "bad GS06",
        GOOD.replace("*1200*7*X", "*1200*X7*X").replace("GE*2*7", "GE*2*X7"),
        "AK9:6",
        "group",
        "GS",
        6,
    ),
    ("empty GS08", GOOD.replace("*X*004010~", "*X*~"), "AK9:2", "group", "GS", 8),
    ("SE02 differs from ST02", GOOD.replace("SE*3*0002", "SE*3*0009"), "AK5:3", "transaction", "SE", 2),
    ("SE01 count", GOOD.replace("SE*3*0002", "SE*9*0002"), "AK5:4", "transaction", "SE", 1),
    ("no SE", GOOD.replace("SE*3*0002~", ""), "AK5:2", "transaction", "SE", None),
    ("bad ST01", GOOD.replace("ST*850*0002", "ST*85*0002"), "AK5:6", "transaction", "ST", 1),
    (
        "short ST02",
        GOOD.replace("ST*850*0002", "ST*850*02").replace("SE*3*0002", "SE*3*02"),
        "AK5:7",
        "transaction",
        "ST",
        2,
    ),
    ("duplicate ST02", GOOD.replace("0002", "0001"), "AK5:23", "transaction", "ST", 2),
    ("bad segment id", GOOD.replace("BEG*00*SA*2", "beg*00*SA*2"), "AK3:1", "segment", "beg", None),
]


@pytest.mark.parametrize(
    ("name", "text", "hint", "scope", "tag", "element"), FAULTS, ids=[f[0] for f in FAULTS]
)
def test_fault_is_reported_with_code_and_place(
    name: str, text: str, hint: str, scope: str, tag: str, element: int | None
) -> None:
    errors, _ = check(text)
    matching = [e for e in errors if e.ack_hint == hint]
    assert matching, [(e.ack_hint, str(e)) for e in errors]
    error = matching[0]
    assert error.scope == scope
    assert error.location.segment_tag == tag
    assert error.location.element_position == element
    assert error.location.interchange in ("000000001", "00000000A")
    if scope in ("group", "transaction", "segment"):
        assert error.location.group is not None
    if scope in ("transaction", "segment"):
        assert error.location.transaction in ("0001", "0002", "02")
        if tag not in ("ST",):
            assert error.location.segment_position is not None or tag == "SE"
    # Only the fault we made is reported.
    assert {e.ack_hint for e in errors} == {hint}, [str(e) for e in errors]


def test_deviations_are_warnings_unless_strict() -> None:
    unpadded = "ISA*00* *00* *ZZ*SENDER *ZZ*RECEIVER *240101*1200*U*00401*000000001*0*P*>~" + GOOD[
        len(ISA) :
    ].replace("IEA*1*000000001", "IEA*1*1")
    errors, warnings = check(unpadded)
    assert errors == []
    assert any("ISA02" in w for w in warnings) and any("IEA02" in w for w in warnings)
    strict_errors, _ = check(unpadded, strict=True)
    assert {e.ack_hint for e in strict_errors} == {"TA1:022", "TA1:001"}


def test_isa11_before_00402_must_be_u_in_strict_mode() -> None:
    text = GOOD.replace("*U*00401*", "* *00401*")
    assert check(text)[0] == []
    assert [e.ack_hint for e in check(text, strict=True)[0]] == ["TA1:016"]


def test_duplicate_isa_and_gs_controls() -> None:
    text = GOOD + GOOD
    errors, warnings = check(text)
    assert errors == [] and any("repeats" in w for w in warnings)
    assert [e.ack_hint for e in check(text, strict=True)[0]] == ["TA1:025"]
    two_groups = GOOD.replace("GE*2*7~", "GE*2*7~GS*PO*S*R*20240101*1200*7*X*004010~GE*0*7~").replace(
        "IEA*1*", "IEA*2*"
    )
    assert [e.ack_hint for e in check(two_groups)[0]] == ["AK9:19"]


def test_ta1_counted_in_iea01_is_tolerated() -> None:
    text = ISA + "TA1*000000050*200229*1200*A*000~IEA*1*000000001~"
    errors, warnings = check(text)
    assert errors == [] and warnings
    assert [e.ack_hint for e in check(ISA + "TA1*000000050*200229*1200*A*000~IEA*2*000000001~")[0]] == [
        "TA1:021"
    ]


def test_st_controls_in_sequence_use_constant_memory() -> None:
    validator = EnvelopeValidator()
    body = "".join(f"ST*850*{n:04d}~SE*2*{n:04d}~" for n in range(1, 3001))
    text = ISA + "GS*PO*S*R*20240101*1200*7*X*004010~" + body + "GE*3000*7~IEA*1*000000001~"
    errors: list[RemoteSyntaxError] = []
    for event in read_events(text.encode()):
        assert not isinstance(event, RemoteSyntaxError)
        errors.extend(validator.feed(event))
    assert errors == []
    assert len(validator._st_controls._others) == 0
