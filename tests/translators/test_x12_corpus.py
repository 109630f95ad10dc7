"""Every file of the shared X12 corpus: valid ones translate, invalid ones are rejected with the right
code and a reason that names the place; whole and byte-by-byte parsing agree; nothing else escapes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from x12_helpers import X12_CORPUS, core_only, feed, summarise

from translators import translate
from translators.errors import RemoteSyntaxError
from translators.options import ControlNumbers, TranslatorOptions
from translators.result import Translation
from translators.x12 import iter_translate_x12, translate_x12


@pytest.fixture(autouse=True)
def _core_only() -> Iterator[None]:
    # These tests judge the core; the business maps' own checks are tested by their owner.
    with core_only():
        yield


FILES = sorted(p.name for p in X12_CORPUS.iterdir()) if X12_CORPUS.is_dir() else []

# file -> (ack codes that must be reported, whole file rejected, documents expected)
INVALID: dict[str, tuple[set[str], bool, int]] = {
    # SE02/GE02/IEA02 do not match ST02/GS06/ISA13 (SOURCES.md: deliberately invalid)
    "EdiEngine__ControlNumbersMismatch.edi": ({"AK5:3", "AK9:4", "TA1:001"}, True, 0),
    # GE01 and IEA01 counts wrong (SOURCES.md: deliberately invalid)
    "EdiEngine__WrongGroupsAndTranCount.edi": ({"AK9:5", "TA1:021"}, True, 0),
    # no IEA trailer (SOURCES.md: deliberately invalid); its SE01 is 0 as well
    "pyx12__fail_no_IEA.txt": ({"TA1:023", "AK5:4"}, True, 0),
    # IK5 before AK2 etc.; its SE01 (16) does not match the 18 segments either
    "staedi__invalid999.edi": ({"AK5:4"}, False, 0),
    # GS02/GS03 shifted (SOURCES.md: strict envelope validation should complain); ST02 has 10 digits
    "OopFactory-X12__945_inter-americanproducts.txt": ({"AK9:4", "AK5:7"}, False, 0),
    # found here, not in SOURCES.md: GE02/IEA02 are 940001777, GS06 177818711 and ISA13 398161180
    "OopFactory-X12__940_simplot.txt": ({"AK9:4", "TA1:001"}, True, 0),
    # found here, not in SOURCES.md ("Valid"): SE01 says 41 segments, the set has 38
    "EDI.Net__204-MGCTLYST-SAMPLE.EDI": ({"AK5:4"}, False, 0),
}

OPTS = TranslatorOptions(
    map_business=False,
    now=dt.datetime(2024, 5, 6, 7, 8, tzinfo=dt.UTC),
    control_numbers=ControlNumbers(interchange=900, group=90, transaction=9),
)


def _data(name: str) -> bytes:
    return (X12_CORPUS / name).read_bytes()


def _fingerprint(t: Translation) -> tuple[object, ...]:
    return (
        t.rejected,
        [
            (
                d.document_type,
                d.transaction_set,
                d.envelope,
                json.dumps(d.document, sort_keys=True),
                d.warnings,
            )
            for d in t.documents
        ],
        [(a.kind, a.payload, a.accepted, a.answers) for a in t.acks],
        [(str(e), e.ack_hint, e.scope) for e in t.errors],
    )


def test_corpus_present() -> None:
    assert len(FILES) == 45


@pytest.mark.parametrize("name", FILES)
def test_corpus_file_translates_or_is_rejected_with_code(name: str) -> None:
    data = _data(name)
    result = translate_x12(data, OPTS)
    if name in INVALID:
        codes, rejected, ndocs = INVALID[name]
        hints = {e.ack_hint for e in result.errors}
        assert codes <= hints, (hints, [str(e) for e in result.errors])
        assert result.rejected is rejected
        assert len(result.documents) == ndocs
        for error in result.errors:
            # The reason names where: at least the interchange, and the segment for set/group errors.
            assert error.location.interchange is not None
            assert "interchange" in str(error)
        if rejected:
            assert result.acks and result.acks[0].kind == "TA1" and not result.acks[0].accepted
    else:
        assert result.errors == (), [str(e) for e in result.errors]
        assert not result.rejected
        assert result.documents
        for ack in result.acks:
            assert ack.accepted


@pytest.mark.parametrize("name", FILES)
def test_corpus_whole_and_bytewise_agree(name: str) -> None:
    data = _data(name)
    whole = [summarise(e) for e in feed(data)]
    bytewise = [summarise(e) for e in feed(data, 1)]
    chunked = [summarise(e) for e in feed(data, 13)]
    assert whole == bytewise == chunked
    streamed = list(iter_translate_x12([data[i : i + 5] for i in range(0, len(data), 5)], OPTS))
    errors = [str(e) for e in streamed if isinstance(e, RemoteSyntaxError)]
    assert errors == [str(e) for e in translate_x12(data, OPTS).errors]


@pytest.mark.parametrize("name", FILES)
def test_corpus_translation_is_deterministic_across_chunking(name: str) -> None:
    data = _data(name)
    assert _fingerprint(translate_x12(data, OPTS)) == _fingerprint(translate(data, OPTS))


def test_corpus_expected_structures() -> None:
    # Spot checks of what SOURCES.md describes.
    counts = {
        "OopFactory-X12__322Status.txt": 17,
        "bots-plugins__855-004010UCS-01.x12": 6,
        "EdiEngine__MultipleInterchangesAndGroups.edi": 6,
        "staedi__invoice810_po850_dual.edi": 3,
        "bots-plugins__850-02.x12": 4,
        "stupidedi__002001_SH856_fail_1.edi": 2,
        "bots-plugins__testx120029.x12.base": 51,  # TA1 documents
        "OopFactory-X12__TechnicalAcknowledgment_Sample1.txt": 2,
    }
    for name, n in counts.items():
        assert len(translate_x12(_data(name), OPTS).documents) == n, name
    multi = translate_x12(_data("staedi__simple997-multiple-interchanges.edi"), OPTS)
    assert len({d.envelope.interchange_control for d in multi.documents}) == 3
    dual = translate_x12(_data("staedi__invoice810_po850_dual.edi"), OPTS)
    assert {d.envelope.version for d in dual.documents} == {"004010", "003010"}
    assert [a.kind for a in dual.acks] == ["997"]


def test_corpus_with_default_options_raises_nothing_unexpected() -> None:
    # With the business maps enabled (whatever maps exist in this build) only RemoteSyntaxError
    # may surface, and only inside the result.
    for name in FILES:
        result = translate_x12(_data(name), TranslatorOptions())
        assert isinstance(result, Translation)
