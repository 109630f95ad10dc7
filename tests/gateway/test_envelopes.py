"""gateway.envelopes writes exactly the published CanonicalEnvelope, without building the model.

Every corpus document (X12 and EDIFACT) is encoded both ways: by ``encode_envelope`` and by the
pydantic model's ``model_dump_json``.  The two must read back to the same value, and the fast
one must validate as a ``CanonicalEnvelope`` equal to the model's own JSON read back.
"""

from __future__ import annotations

import datetime as _dt
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.envelopes import encode_document, encode_envelope
from gateway.pipeline import idempotency_key
from translators import translate
from translators.models.envelope import CanonicalEnvelope, Source
from translators.options import TranslatorOptions
from translators.result import Envelope, TranslatedDocument

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
FILES = [p for sub in ("x12", "edifact") for p in sorted((CORPUS / sub).iterdir()) if p.is_file()]


def _model(doc: TranslatedDocument, key: str, received_at: _dt.datetime, **row: Any) -> CanonicalEnvelope:
    env = doc.envelope
    return CanonicalEnvelope(
        idempotency_key=key,
        message_id=str(row["message_id"]),
        partner=row["partner"],
        document_type=doc.document_type,
        document_schema_version=doc.schema_version,
        received_at=received_at,
        source=Source(
            transport=row["transport"],
            file_name=row["file_name"],
            standard=env.standard,
            transaction_set=doc.transaction_set,
            version=env.version,
            sender_qualifier=env.sender_qualifier,
            sender_id=env.sender_id,
            receiver_qualifier=env.receiver_qualifier,
            receiver_id=env.receiver_id,
            interchange_control=env.interchange_control,
            group_control=env.group_control,
            transaction_control=env.transaction_control,
            test_indicator=env.test_indicator,
        ),
        document=doc.document,
        extensions=doc.extensions,
        raw_sha256=row["raw_sha256"],
    )


def _both(doc: TranslatedDocument, received_at: _dt.datetime) -> tuple[str, CanonicalEnvelope]:
    row: dict[str, Any] = {
        "message_id": 42,
        "partner": "acme",
        "transport": "directory",
        "file_name": "in.edi",
        "raw_sha256": "ab" * 32,
    }
    document_json = encode_document(doc.document)
    key = idempotency_key("acme", doc, document_json)
    fast = encode_envelope(
        doc=doc, document_json=document_json, idempotency_key=key, received_at=received_at, **row
    )
    return fast, _model(doc, key, received_at, **row)


def _check(doc: TranslatedDocument, received_at: _dt.datetime) -> None:
    fast, model = _both(doc, received_at)
    assert orjson.loads(fast) == orjson.loads(model.model_dump_json(by_alias=True))
    # Validated, it is the model the published schema describes (read back from JSON both,
    # since the model built from Python values still holds tuples and Decimals).
    assert CanonicalEnvelope.model_validate_json(fast) == CanonicalEnvelope.model_validate_json(
        model.model_dump_json(by_alias=True)
    )
    # The document inside is the sorted encoding the idempotency key hashed.
    assert encode_document(doc.document).decode() in fast


def test_corpus_is_present() -> None:
    assert len(FILES) > 40, "shared corpus missing"


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_corpus_document_encodes_as_the_model_does(path: Path) -> None:
    documents = translate(path.read_bytes(), TranslatorOptions()).documents
    stamp = _dt.datetime(2026, 11, 30, 3, 35, 0, 123456, tzinfo=_dt.UTC)
    for doc in documents:
        _check(doc, stamp)


def _sample(**envelope: Any) -> TranslatedDocument:
    return TranslatedDocument(
        document_type="purchase_order",
        schema_version="1.0",
        document={"z": 1, "a": {"y": [1.5, None, "x"], "b": True}, "amount": Decimal("10.50")},
        envelope=Envelope(standard="x12", sender_id="S", interchange_control="000000001", **envelope),
        transaction_set="850",
        extensions={"segments": [["N9", "ZZ", "1"]], "b": {}},
    )


@pytest.mark.parametrize(
    "received_at",
    [
        _dt.datetime(2026, 11, 30, 3, 35, 0, tzinfo=_dt.UTC),  # no microseconds: pydantic writes none
        _dt.datetime(2026, 11, 30, 3, 35, 0, 7, tzinfo=_dt.UTC),
        _dt.datetime(2026, 11, 30, 4, 35, 0, 500000, tzinfo=_dt.timezone(_dt.timedelta(hours=1))),
    ],
)
def test_times_and_values_the_model_writes_its_own_way(received_at: _dt.datetime) -> None:
    doc = _sample(test_indicator=True)
    _check(doc, received_at)
    fast, model = _both(doc, received_at)
    # Byte for byte where the model's form is fixed: the timestamp and a Decimal.
    assert orjson.loads(fast)["received_at"] == orjson.loads(model.model_dump_json())["received_at"]
    if received_at.utcoffset() == _dt.timedelta(0):
        assert orjson.loads(fast)["received_at"].endswith("Z")
    assert orjson.loads(fast)["document"]["amount"] == "10.50"


def test_document_keys_are_sorted_so_equal_documents_are_equal_bytes() -> None:
    fast, _ = _both(_sample(), _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC))
    document = fast[fast.index('"document":') : fast.index(',"extensions":')]
    assert document == '"document":{"a":{"b":true,"y":[1.5,null,"x"]},"amount":"10.50","z":1}'


def test_integers_past_64_bits_are_written_as_their_digits() -> None:
    # orjson refuses them without asking ``default``; a malformed count (CTT01 of 20 digits) made one.
    big = 2**70
    document = {"totals": {"line_count": big}, "lines": [{"quantity": -big}, {"quantity": 3}]}
    encoded = orjson.loads(encode_document(document))
    assert encoded == {
        "lines": [{"quantity": str(-big)}, {"quantity": 3}],
        "totals": {"line_count": str(big)},
    }
    # Within 64 bits numbers stay numbers.
    assert orjson.loads(encode_document({"n": 2**64 - 1, "m": -(2**63)})) == {"n": 2**64 - 1, "m": -(2**63)}


def test_keys_that_are_not_strings_are_written_as_their_text_in_order() -> None:
    # Translators make string keys only; anything else still encodes, as its text, sorted.
    document = {2: "b", "a": {None: 1, True: 2}, 1: [2**70]}
    assert encode_document(document) == b'{"1":["1180591620717411303424"],"2":"b","a":{"null":1,"true":2}}'
    assert encode_document({}) == b"{}"


def test_a_key_no_json_can_hold_is_an_encode_error() -> None:
    with pytest.raises(orjson.JSONEncodeError):
        encode_document({("a", "b"): 1})  # type: ignore[dict-item]


@pytest.mark.parametrize("size", [0, 100, 1_500, 20_000])
def test_an_encoded_document_holds_only_its_own_bytes(size: int) -> None:
    # orjson hands back its working buffer (4 KiB for ``{}``, 16 KiB for 1.5 KB of JSON); a worker
    # keeps every encoded document of a file, so each must cost its length, not orjson's buffer.
    document = {"text": "x" * size} if size else {}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        encoded = encode_document(document)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert orjson.loads(encoded) == document
    assert held <= len(encoded) + 64, f"{held} bytes held for {len(encoded)} bytes of JSON"
