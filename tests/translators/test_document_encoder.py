"""``TranslatorOptions.encoder``: documents written as bytes as they are made, nothing else changes.

The gateway's translation workers give the X12 and EDIFACT translators an encoder so that a file's
documents never all exist as objects at once.  Every corpus file (and its syntax layer, maps off)
must translate to the same documents, acknowledgments and errors with it as without it; each
document's ``encoded`` pair is the encoder's bytes of the document and extensions made without it,
and its dicts are empty.  Every kind of document the translators make passes through here (mapped,
functional acks from TA1/997/999/CONTRL/APERAK, syntax layer), and the streaming iterators agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest
from x12_helpers import X12_CORPUS

from translators import translate
from translators.edifact import iter_translate_edifact
from translators.errors import RemoteSyntaxError
from translators.options import TranslatorOptions
from translators.result import Acknowledgment, TranslatedDocument, Translation
from translators.x12 import iter_translate_x12

EDIFACT_CORPUS = X12_CORPUS.parent / "edifact"
FILES = [p for corpus in (X12_CORPUS, EDIFACT_CORPUS) if corpus.is_dir() for p in sorted(corpus.iterdir())]
#: the options both ways: maps on (business documents) and off (the syntax layer)
MODES = {"maps": {}, "syntax": {"map_business": False}}
#: inbound acknowledgments the corpus lacks: an APERAK, and the CONTRL we answer an ORDERS with
APERAK = (
    b"UNB+UNOA:3+P+US+240305:1200+9'UNH+1+APERAK:D:96A:UN'BGM+27+AP1+9+RE'"
    b"RFF+ACW:MSG77'ERC+Z01'FTX+AAO+++UNKNOWN ARTICLE'UNT+6+1'UNZ+1+9'"
)


def _inputs() -> dict[str, bytes]:
    inputs = {p.name: p.read_bytes() for p in FILES}
    orders = next(data for data in inputs.values() if data.startswith((b"UNA", b"UNB")) and b"ORDERS" in data)
    inputs["generated APERAK"] = APERAK
    inputs["generated CONTRL"] = translate(orders, TranslatorOptions()).acks[0].payload
    return inputs


INPUTS = _inputs()


def _encode(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str)


def _translate(data: bytes, **options: Any) -> Translation | RemoteSyntaxError:
    try:
        return translate(data, TranslatorOptions(**options))
    except RemoteSyntaxError as exc:  # not X12 or EDIFACT at all: the same both ways
        return exc


def _same_document(encoded: TranslatedDocument, plain: TranslatedDocument) -> None:
    assert encoded.encoded == (_encode(plain.document), _encode(plain.extensions))
    assert encoded.document == {} and encoded.extensions == {}
    assert plain.encoded is None
    for name in ("document_type", "schema_version", "envelope", "transaction_set", "warnings"):
        assert getattr(encoded, name) == getattr(plain, name), name


def test_corpus_is_present() -> None:
    assert len(FILES) > 60, "shared corpus missing"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", INPUTS)
def test_a_file_translates_alike_with_and_without_an_encoder(name: str, mode: str) -> None:
    data = INPUTS[name]
    plain = _translate(data, **MODES[mode])
    encoded = _translate(data, **MODES[mode], encoder=_encode)
    if isinstance(plain, RemoteSyntaxError):
        assert isinstance(encoded, RemoteSyntaxError) and str(encoded) == str(plain)
        return
    assert isinstance(encoded, Translation)
    assert len(encoded.documents) == len(plain.documents)
    for doc, ref in zip(encoded.documents, plain.documents, strict=True):
        _same_document(doc, ref)
    assert encoded.acks == plain.acks
    assert [(str(e), e.ack_hint, e.scope) for e in encoded.errors] == [
        (str(e), e.ack_hint, e.scope) for e in plain.errors
    ]
    assert encoded.rejected == plain.rejected


def test_the_corpus_reaches_every_kind_of_document() -> None:
    # The encoder is applied where each kind is made; this guards against a kind the
    # corpus stops exercising (the test above would then pass without checking it).
    kinds: set[str] = set()
    for data in INPUTS.values():
        for options in MODES.values():
            result = _translate(data, **options, encoder=_encode)
            if isinstance(result, Translation):
                kinds |= {f"{d.transaction_set}:{d.document_type.split('.')[0]}" for d in result.documents}
    for expected in (
        "850:purchase_order",
        "856:ship_notice",
        "TA1:functional_ack",
        "997:functional_ack",
        "999:functional_ack",
        "850:x12",
        "ORDERS:purchase_order",
        "CONTRL:functional_ack",
        "APERAK:functional_ack",
        "ORDERS:edifact",
    ):
        assert expected in kinds, f"no corpus file gives a {expected} document; kinds: {sorted(kinds)}"


def _streamed(items: Iterable[object]) -> list[object]:
    return [item for item in items if isinstance(item, TranslatedDocument | Acknowledgment)]


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if p.parent == X12_CORPUS][:12] + [p for p in FILES if p.parent == EDIFACT_CORPUS][:12],
    ids=lambda p: p.name,
)
def test_the_streaming_iterators_encode_alike(path: Path) -> None:
    data = path.read_bytes()
    if path.parent == X12_CORPUS:
        plain = _streamed(iter_translate_x12([data], TranslatorOptions()))
        encoded = _streamed(iter_translate_x12([data], TranslatorOptions(encoder=_encode)))
    else:
        plain = _streamed(iter_translate_edifact([data], TranslatorOptions(), hold_documents=False))
        encoded = _streamed(
            iter_translate_edifact([data], TranslatorOptions(encoder=_encode), hold_documents=False)
        )
    assert len(encoded) == len(plain)
    for item, ref in zip(encoded, plain, strict=True):
        if isinstance(ref, TranslatedDocument):
            assert isinstance(item, TranslatedDocument)
            _same_document(item, ref)
        else:
            assert item == ref


class _Refused(Exception):
    pass


def _refusing(data: dict[str, Any]) -> bytes:
    raise _Refused(f"{len(data)} keys")


@pytest.mark.parametrize(
    "name",
    [
        "OopFactory-X12__850_Example1_PGWGlass.txt",
        "OopFactory-X12__TechnicalAcknowledgment_Sample1.txt",
    ],
)
def test_what_the_encoder_raises_escapes_the_x12_translation(name: str) -> None:
    # The caller's encoder decides what an unencodable document is (the gateway's raises its own
    # error); the translator must neither swallow it nor turn it into a partner's syntax error.
    with pytest.raises(_Refused):
        translate((X12_CORPUS / name).read_bytes(), TranslatorOptions(encoder=_refusing))


def test_what_the_encoder_raises_escapes_the_edifact_translation() -> None:
    data = next(p for p in FILES if p.parent == EDIFACT_CORPUS and b"ORDERS" in p.read_bytes()).read_bytes()
    with pytest.raises(_Refused):
        translate(data, TranslatorOptions(encoder=_refusing))
