"""The canonical envelope's JSON, written without building the pydantic model.

:class:`translators.models.envelope.CanonicalEnvelope` is the published
shape (``edigate schema``).  Building it and calling ``model_dump_json`` for
every document cost a validation pass and a second serialisation of the
document, which the pipeline has already encoded once (sorted keys) for the
idempotency hash.  :func:`encode_envelope` writes the same fields in the
model's order around that encoding.  ``tests/gateway/test_envelopes.py``
holds it to the model: its output validates as a ``CanonicalEnvelope`` and
reads back equal to ``model_dump_json``'s.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import orjson

from translators.models.envelope import ENVELOPE_SCHEMA, ENVELOPE_SCHEMA_VERSION
from translators.result import TranslatedDocument

#: how documents and extensions are encoded: sorted keys, so equal documents are equal bytes
JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
#: the same for a document whose keys are all strings, as translators make them: orjson's
#: OPT_NON_STR_KEYS doubles its time on every document (6.6 against 3.3 us for a bench 850)
_STR_KEYS_OPTIONS = orjson.OPT_SORT_KEYS


def encode_document(document: dict[str, Any]) -> bytes:
    """A canonical document as JSON (sorted keys; what is not JSON becomes its ``str``).

    Raises:
        orjson.JSONEncodeError: something no JSON can hold (a key of a type orjson refuses).
    """
    if not document:
        return b"{}"  # most documents' extensions: no orjson call, no buffer to copy
    try:
        encoded = orjson.dumps(document, option=_STR_KEYS_OPTIONS, default=str)
    except orjson.JSONEncodeError:
        # A key that is not a string (written as its text), or an integer past 64 bits, which
        # orjson refuses without asking ``default`` (a 20-digit count in a malformed file mapped
        # to an int): written as its digits, in a string.
        encoded = orjson.dumps(_big_ints_as_text(document), option=JSON_OPTIONS, default=str)
    # orjson hands back its whole working buffer: 4 KiB for ``{}``, 8-16 KiB for a 1.5 KB 850
    # (tracemalloc, orjson 3.13). A worker keeps every document of a file until it sends them
    # back, so the bytes are copied to their size (~0.3 us) and the buffer is freed at once.
    return memoryview(encoded).tobytes()


def _big_ints_as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _big_ints_as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_big_ints_as_text(v) for v in value]
    if type(value) is int and not -(2**63) <= value < 2**64:
        return str(value)
    return value


def encode_envelope(
    *,
    doc: TranslatedDocument,
    document_json: bytes,
    extensions_json: bytes | None = None,
    idempotency_key: str,
    message_id: int,
    partner: str,
    received_at: _dt.datetime,
    transport: str,
    file_name: str | None,
    raw_sha256: str,
) -> str:
    """The envelope of ``doc`` as JSON text.

    ``document_json`` is ``encode_document(doc.document)``, and ``extensions_json``
    ``encode_document(doc.extensions)`` when the caller has it (a translation worker made it).
    """
    env = doc.envelope
    head = {
        "schema": ENVELOPE_SCHEMA,
        "schema_version": ENVELOPE_SCHEMA_VERSION,
        "idempotency_key": idempotency_key,
        "message_id": str(message_id),
        "partner": partner,
        "document_type": doc.document_type,
        "document_schema_version": doc.schema_version,
        # As pydantic writes it (OPT_UTC_Z): UTC as "Z", microseconds only when there are some.
        "received_at": received_at,
        "source": {
            "transport": transport,
            "file_name": file_name,
            "standard": env.standard,
            "transaction_set": doc.transaction_set,
            "version": env.version,
            "sender_qualifier": env.sender_qualifier,
            "sender_id": env.sender_id,
            "receiver_qualifier": env.receiver_qualifier,
            "receiver_id": env.receiver_id,
            "interchange_control": env.interchange_control,
            "group_control": env.group_control,
            "transaction_control": env.transaction_control,
            "test_indicator": bool(env.test_indicator),
        },
    }
    # The head ends with "}" and the tail is spliced in before it: the document is not encoded twice.
    parts = (
        orjson.dumps(head, option=orjson.OPT_UTC_Z)[:-1],
        b',"document":',
        document_json,
        b',"extensions":',
        encode_document(doc.extensions) if extensions_json is None else extensions_json,
        b',"raw_sha256":',
        orjson.dumps(raw_sha256),
        b"}",
    )
    return b"".join(parts).decode()


__all__ = ["JSON_OPTIONS", "encode_document", "encode_envelope"]
