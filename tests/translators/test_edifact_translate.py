"""translate_edifact / iter_translate_edifact: documents, rejection scope, policies, streaming."""

from __future__ import annotations

import importlib

from translators import translate
from translators.edifact import iter_translate_edifact, translate_edifact
from translators.errors import RemoteSyntaxError
from translators.options import TranslatorOptions
from translators.result import Acknowledgment, TranslatedDocument

SYNTAX_ONLY = TranslatorOptions(map_business=False)
IC = (
    b"UNB+UNOA:3+SENDER:14+RECIP:ZZ+240115:0930+{ref}++++++1'"
    b"UNH+1+COARRI:D:95B:UN'EQD+CN+ABCU1234567'UNT+3+1'"
    b"UNH+2+COARRI:D:95B:UN'EQD+CN+ABCU7654321'UNT+3+2'UNZ+2+{ref}'"
)


def ic(ref: bytes, tail: bytes = b"") -> bytes:
    return IC.replace(b"{ref}", ref) + tail


def test_documents_and_envelope() -> None:
    result = translate_edifact(ic(b"A1"), SYNTAX_ONLY)
    assert not result.rejected and result.errors == ()
    assert [d.envelope.transaction_control for d in result.documents] == ["1", "2"]
    env = result.documents[0].envelope
    assert (env.standard, env.sender_id, env.sender_qualifier, env.receiver_id, env.receiver_qualifier) == (
        "edifact",
        "SENDER",
        "14",
        "RECIP",
        "ZZ",
    )
    assert (env.interchange_control, env.version, env.test_indicator, env.group_control) == (
        "A1",
        "D:95B:UN",
        True,
        None,
    )


def test_message_error_rejects_only_that_message() -> None:
    data = ic(b"A1").replace(b"UNT+3+2'", b"UNT+5+2'")
    result = translate_edifact(data, SYNTAX_ONLY)
    assert not result.rejected
    assert [d.envelope.transaction_control for d in result.documents] == ["1"]
    (err,) = result.errors
    assert (err.ack_hint, err.scope, err.location.transaction) == ("29", "transaction", "2")
    assert b"UCM+2+COARRI:D:95B:UN+4+29+UNT+1'" in result.acks[0].payload


def test_interchange_error_rejects_all_its_documents_only() -> None:
    bad = ic(b"B1").replace(b"UNZ+2+B1'", b"UNZ+3+B1'")
    both = translate_edifact(ic(b"A1", b"\n") + bad, SYNTAX_ONLY)
    assert not both.rejected  # the first interchange's documents may go
    assert {d.envelope.interchange_control for d in both.documents} == {"A1"}
    assert [(e.ack_hint, e.scope) for e in both.errors] == [("29", "interchange")]
    assert [a.accepted for a in both.acks] == [True, False]
    alone = translate_edifact(bad, SYNTAX_ONLY)
    assert alone.rejected and alone.documents == ()
    assert b"UCI+B1+SENDER:14+RECIP:ZZ+4+29+UNZ+1'" in alone.acks[0].payload


def test_reject_unmapped() -> None:
    result = translate_edifact(ic(b"A1"), TranslatorOptions(map_business=False, reject_unmapped=True))
    assert result.documents == ()
    assert {(e.ack_hint, e.location.element_position) for e in result.errors} == {("17", 2)}
    assert result.acks[0].payload.count(b"+4+17+UNH+2:1'") == 2


def test_garbage_is_rejected_without_ack() -> None:
    result = translate_edifact(b"not edifact at all", SYNTAX_ONLY)
    assert result.rejected and result.acks == () and result.documents == ()
    assert result.reason is not None and "UNB" in result.reason


def test_size_limit() -> None:
    result = translate_edifact(ic(b"A1"), TranslatorOptions(max_interchange_bytes=50, map_business=False))
    assert result.rejected and "larger than 50" in str(result.errors[0])


def test_top_level_translate_dispatches_to_edifact() -> None:
    result = translate(b"\xef\xbb\xbf" + ic(b"A1"), SYNTAX_ONLY)
    assert result.standard == "edifact" and len(result.documents) == 2


def _collect(items: object) -> tuple[list[TranslatedDocument], list[RemoteSyntaxError], list[Acknowledgment]]:
    docs, errs, acks = [], [], []
    for item in items:  # type: ignore[attr-defined]
        if isinstance(item, TranslatedDocument):
            docs.append(item)
        elif isinstance(item, RemoteSyntaxError):
            errs.append(item)
        else:
            acks.append(item)
    return docs, errs, acks


def test_iter_translate_matches_whole_file_in_any_chunking() -> None:
    data = ic(b"A1", b"\r\n") + ic(b"A2").replace(b"UNT+3+2'", b"UNT+9+2'")
    whole = translate_edifact(data, SYNTAX_ONLY)
    for size in (1, 7, 64, len(data)):
        chunks = (data[i : i + size] for i in range(0, len(data), size))
        docs, errs, acks = _collect(iter_translate_edifact(chunks, SYNTAX_ONLY))
        assert [d.document for d in docs] == [d.document for d in whole.documents]
        assert [str(e) for e in errs] == [str(e) for e in whole.errors]
        assert [a.payload for a in acks] == [a.payload for a in whole.acks]


def test_hold_documents_false_releases_before_unz() -> None:
    data = ic(b"A1")
    head = data[: data.index(b"UNZ")]
    gen = iter_translate_edifact(iter([head, b"UNZ+2+A1'"]), SYNTAX_ONLY, hold_documents=False)
    first = next(gen)
    assert isinstance(first, TranslatedDocument)  # released while UNZ is still unread
    rest = list(gen)
    assert sum(isinstance(x, TranslatedDocument) for x in rest) == 1


def test_business_map_is_used_when_present() -> None:
    maps = importlib.import_module("translators.edifact.maps")
    orders = (
        b"UNB+UNOC:3+5412345000013:14+4012345500004:14+240115:1200+1'UNH+1+ORDERS:D:96A:UN:EAN008'"
        b"BGM+220+PO1+9'DTM+137:20240115:102'NAD+BY+5412345000013::9'LIN+1++5400000000017:EN'"
        b"QTY+21:12'UNS+S'UNT+8+1'UNZ+1+1'"
    )
    result = translate_edifact(orders, TranslatorOptions())
    assert result.errors == ()
    (doc,) = result.documents
    if getattr(maps, "to_canonical", None) is None:
        assert doc.document_type == "edifact.ORDERS"
    else:
        assert doc.document_type == "purchase_order"
        assert doc.envelope.version == "D:96A:UN" and doc.transaction_set == "ORDERS"


def test_fast_built_results_equal_normally_built_ones() -> None:
    # The translator builds Envelope and TranslatedDocument field by field (hot path); a field
    # added to either dataclass must be added there too, or it would be missing here.
    from dataclasses import fields

    from translators.result import Envelope

    result = translate_edifact(ic(b"1"), TranslatorOptions())
    assert result.documents
    for doc in result.documents:
        rebuilt = TranslatedDocument(**{f.name: getattr(doc, f.name) for f in fields(TranslatedDocument)})
        assert rebuilt == doc
        env = doc.envelope
        assert Envelope(**{f.name: getattr(env, f.name) for f in fields(Envelope)}) == env
