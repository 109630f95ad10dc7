"""The one way the X12 and EDIFACT translators make a :class:`TranslatedDocument`.

With an encoder in the options (the gateway's translation workers give one), each document's data
is written as bytes the moment it is made and the dicts are let go.  Encoding the whole translation
afterwards, as the gateway did, kept every document of a file alive as objects until the end: for
10,000 X12 850s about 140 MB of fresh pages, which the kernel had to fault in (a quarter of the
worker's CPU time went to the system) and the allocator handed back after the file.  Made one at a
time, a document's objects are freed while they are still in the cache and their memory is reused
by the next one.
"""

from __future__ import annotations

from typing import Any, Final

from .options import DocumentEncoder
from .result import Envelope, TranslatedDocument
from .shapes import Shape

_DOCUMENT: Final = Shape(
    TranslatedDocument,
    (
        "document_type",
        "schema_version",
        "document",
        "envelope",
        "transaction_set",
        "extensions",
        "warnings",
        "encoded",
    ),
)


def make_document(
    *,
    document_type: str,
    schema_version: str,
    document: dict[str, Any],
    envelope: Envelope,
    transaction_set: str,
    extensions: dict[str, Any],
    warnings: tuple[str, ...],
    encoder: DocumentEncoder | None,
) -> TranslatedDocument:
    """A translated document; with an ``encoder``, its data as bytes in ``encoded`` and its dicts empty.

    Raises:
        whatever ``encoder`` raises (the caller's encoder decides what an unencodable document is).
    """
    if encoder is None:
        values: tuple[object, ...] = (
            document_type,
            schema_version,
            document,
            envelope,
            transaction_set,
            extensions,
            warnings,
            None,
        )
    else:
        encoded = (encoder(document), encoder(extensions))
        values = (document_type, schema_version, {}, envelope, transaction_set, {}, warnings, encoded)
    return _DOCUMENT.make(values)


__all__ = ["make_document"]
