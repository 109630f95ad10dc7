"""APERAK and CONTRL -> ``functional_ack``.

Split with the EDIFACT core: the parsing rules for inbound CONTRL (UCI, UCF,
UCM, UCS, UCD) and APERAK (BGM, RFF, ERC, FTX) live in
:mod:`translators.edifact.acks` (``parse_contrl``/``parse_aperak``), which
the translator already uses for acknowledgment reconciliation; this module
only wraps their output as a :class:`MappedDocument` so ``to_canonical``
answers for every message type, and moves their ``extensions`` out of the
document (``MappedDocument.document`` carries none of its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...models import MappedDocument
from ...models.functional_ack import SCHEMA_VERSION
from .. import acks
from ..syntax import Message

DOCUMENT_TYPE = "functional_ack"


def _wrap(doc: dict[str, Any], extra: Mapping[str, Any]) -> MappedDocument:
    ext = dict(doc.pop("extensions", None) or {})
    ext.update(extra)
    return MappedDocument(DOCUMENT_TYPE, SCHEMA_VERSION, doc, ext, ())


def read_contrl(msg: Message, options: Mapping[str, object]) -> MappedDocument:
    """Map an inbound CONTRL (syntax and service report) to ``functional_ack``.

    Args:
        msg: the CONTRL message event.
        options: unused (CONTRL has no partner deviations); kept for the map signature.

    Returns:
        The acknowledgment; UCF groups and the UCI action are in ``extensions``.
    """
    return _wrap(acks.parse_contrl(msg), {})


def read_aperak(msg: Message, options: Mapping[str, object]) -> MappedDocument:
    """Map an inbound APERAK (application error and acknowledgement) to ``functional_ack``.

    Args:
        msg: the APERAK message event.
        options: unused; kept for the map signature.

    Returns:
        The acknowledgment; the application errors (ERC codes with their FTX
        texts) are in ``extensions["application_errors"]``.
    """
    ack, app = acks.parse_aperak(msg)
    return _wrap(ack, {"application_errors": app})


__all__ = ["DOCUMENT_TYPE", "read_aperak", "read_contrl"]
