"""Pure translation: bytes in, canonical documents and acknowledgments out.

No I/O, no clock, no logging configuration: everything that varies arrives in
:class:`TranslatorOptions`.  A partner's bad bytes raise (or are reported as)
:class:`RemoteSyntaxError`; any other exception escaping from here is a bug.
"""

from __future__ import annotations

from .errors import LocalTranslationError, Location, RemoteSyntaxError, TranslationError
from .options import ControlNumbers, TranslatorOptions
from .result import Acknowledgment, Envelope, Standard, TranslatedDocument, Translation
from .sniff import EnvelopeIds, detect_standard, envelope_complete, peek_ids


def translate(data: bytes, options: TranslatorOptions | None = None) -> Translation:
    """Translate one file of X12 or EDIFACT into canonical documents.

    Args:
        data: the raw bytes as received.
        options: policy; defaults are lenient and generate acks.

    Returns:
        The documents, the acknowledgments for the partner and every problem.

    Raises:
        RemoteSyntaxError: the bytes are not a standard we can read at all.
    """
    opts = options or TranslatorOptions()
    standard = detect_standard(data)
    if standard == "x12":
        from .x12 import translate_x12

        return translate_x12(data, opts)
    if standard == "edifact":
        from .edifact import translate_edifact

        return translate_edifact(data, opts)
    raise RemoteSyntaxError(
        "unrecognised format: not X12 (no ISA header) and not EDIFACT (no UNA/UNB header)",
        scope="interchange",
    )


__all__ = [
    "Acknowledgment",
    "ControlNumbers",
    "Envelope",
    "EnvelopeIds",
    "LocalTranslationError",
    "Location",
    "RemoteSyntaxError",
    "Standard",
    "TranslatedDocument",
    "Translation",
    "TranslationError",
    "TranslatorOptions",
    "detect_standard",
    "envelope_complete",
    "peek_ids",
    "translate",
]
