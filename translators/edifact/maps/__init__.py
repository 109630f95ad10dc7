"""EDIFACT business maps: messages <-> canonical logistics documents.

Strategy: one module per message (``orders``, ``desadv``...), each with a
small declarative table walked in one pass (:mod:`.builder`) for the
inbound direction and a ``write`` function for the outbound one
(:mod:`.writer`).  The maps key on the message type only: D96A and D01B
(and the EANCOM subsets EAN002-EAN010, and other directories where the
segments agree) share one table, because the groups the maps use are
unchanged between those directories.

Partner deviations arrive in ``options.map_options[<MESSAGE>]`` (keys in
:data:`~.builder.MAP_OPTION_KEYS`).  Nothing is dropped: every segment a
map does not place, or places only in part, is kept verbatim in
``MappedDocument.extensions["unmapped_segments"]`` with its position.

Codes the models keep "as sent" are copied verbatim both ways, except the
few that only restate the message (BGM 1001 220 in ORDERS, 380 in INVOIC,
35 in INVRPT, 351/231/632/23 in DESADV/ORDRSP/RECADV/IFTSTA; PRI 5125
AAA): those are implied on the way in and written as defaults on the way
out, so a document that did not name them reads back unchanged.

APERAK and CONTRL: the parsing rules live in :mod:`translators.edifact.acks`
(the core uses them to reconcile acknowledgments); :mod:`.acknowledgments`
only wraps them so :func:`to_canonical` answers for every message type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, cast

from ...errors import LocalTranslationError, RemoteSyntaxError
from ...models import DOCUMENT_MODELS, MappedDocument
from ...options import TranslatorOptions
from ..syntax import Message, Segment
from . import acknowledgments, desadv, iftmin, iftsta, invoic, invrpt, orders, ordrsp, recadv
from .builder import MAP_OPTION_KEYS, MappedParts
from .validation import validate
from .writer import Writer, envelope

Reader = Callable[[Message, Mapping[str, object]], MappedDocument]
#: A map that also validates the message in its walk, into the list it is given.
CheckedReader = Callable[[Message, Mapping[str, object], list[RemoteSyntaxError] | None], MappedDocument]

#: The maps of :data:`READERS` that walk a table: they validate the message in the same pass.
_CHECKED_READERS: dict[str, CheckedReader] = {
    "ORDERS": orders.read,
    "ORDRSP": ordrsp.read,
    "DESADV": desadv.read,
    "INVOIC": invoic.read,
    "RECADV": recadv.read,
    "IFTSTA": iftsta.read,
    "INVRPT": invrpt.read,
    "IFTMIN": iftmin.read,
}

#: The walked maps :func:`to_canonical_parts` reads as :data:`~.builder.MappedParts`.
_PARTS_READERS: dict[
    str, Callable[[Message, Mapping[str, object], list[RemoteSyntaxError] | None], MappedParts]
] = {"ORDERS": orders.read_parts}

#: UNH 0065 message type -> inbound map (a walked map's ``errors`` argument is optional).
READERS: dict[str, Reader] = {
    **{kind: cast(Reader, read) for kind, read in _CHECKED_READERS.items()},
    "APERAK": acknowledgments.read_aperak,
    "CONTRL": acknowledgments.read_contrl,
}

_OUTBOUND: dict[str, ModuleType] = {
    "purchase_order": orders,
    "order_response": ordrsp,
    "ship_notice": desadv,
    "invoice": invoic,
    "receiving_advice": recadv,
    "shipment_status": iftsta,
    "inventory_advice": invrpt,
}

#: canonical document type -> UNH 0065 message type written by :func:`from_canonical`.
OUTBOUND_MESSAGES: dict[str, str] = {name: module.MESSAGE for name, module in _OUTBOUND.items()}


def _extensions_at(node: object, path: str) -> str | None:
    """The path of the first non-empty ``extensions`` in a dumped document, or None."""
    if isinstance(node, dict):
        if node.get("extensions"):
            return path
        for key, value in node.items():
            found = _extensions_at(value, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _extensions_at(value, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def to_canonical(msg: Message, options: TranslatorOptions) -> MappedDocument | None:
    """Map one EDIFACT message to its canonical business document.

    Args:
        msg: a message event from the EDIFACT reader (UNH..UNT).
        options: ``options.map_options[msg.type]`` carries the partner's
            deviations (``product_id_preference``, ``product_id_types``,
            ``date_formats``, ``unit_codes``).

    Returns:
        The document, or None when no map exists for ``msg.type``.
    """
    reader = READERS.get(msg.type)
    if reader is None:
        return None
    return reader(msg, options.map_options.get(msg.type, {}))


def to_canonical_checked(
    msg: Message, options: TranslatorOptions
) -> tuple[MappedDocument | None, list[RemoteSyntaxError]]:
    """:func:`validate` and :func:`to_canonical` of one message, in one pass over its segments.

    The map runs whatever the validation finds (the walk is where it looks): the caller drops the
    document when it keeps an error.

    Args:
        msg: a message event from the EDIFACT reader (UNH..UNT).
        options: as for :func:`to_canonical`.

    Returns:
        What :func:`to_canonical` returns (None as well when a type without a walk fails
        :func:`validate`, which then maps nothing, as before), and what :func:`validate` returns.
    """
    reader = _CHECKED_READERS.get(msg.type)
    if reader is None:
        errors = validate(msg)
        return (None if errors else to_canonical(msg, options)), errors
    found: list[RemoteSyntaxError] = []
    return reader(msg, options.map_options.get(msg.type, {}), found), found


def to_canonical_parts(
    msg: Message, options: TranslatorOptions
) -> tuple[MappedParts | MappedDocument | None, list[RemoteSyntaxError]]:
    """:func:`to_canonical_checked`, where an ORDERS (the hot path) hands back its
    :data:`~.builder.MappedParts` instead of a MappedDocument the translator would only read once
    (made from compiled code, its five fields then read generically: ~3k instructions a message).

    Args:
        msg: a message event from the EDIFACT reader (UNH..UNT).
        options: as for :func:`to_canonical`.

    Returns:
        The document (as parts or as a MappedDocument) or None, and the validation errors.
    """
    reader = _PARTS_READERS.get(msg.type)
    if reader is None:
        return to_canonical_checked(msg, options)
    found: list[RemoteSyntaxError] = []
    return reader(msg, options.map_options.get(msg.type, {}), found), found


def from_canonical(
    document_type: str,
    document: Mapping[str, Any],
    *,
    directory: str = "D96A",
    control: str,
    agency: str = "UN",
    association: str | None = None,
    options: TranslatorOptions | None = None,
) -> list[Segment]:
    """Render a canonical document as one EDIFACT message, UNH to UNT.

    Args:
        document_type: ``purchase_order``, ``order_response``, ``ship_notice``,
            ``invoice``, ``receiving_advice``, ``shipment_status`` or
            ``inventory_advice``.
        document: the document as JSON data; it is validated against its
            model first, so a malformed document fails here, not at the partner.
        directory: UNH 0052 + 0054, e.g. ``D96A`` or ``D01B``.
        control: UNH 0062 message reference (repeated in UNT 0062).
        agency: UNH 0051 controlling agency.
        association: UNH 0057 association code, e.g. ``EAN005``.
        options: ``options.map_options[<MESSAGE>]`` holds the partner's
            deviations the writer honours (ORDERS ``store_number_reference``).

    Returns:
        The segments, UNH first and UNT (with the 0074 count filled) last.

    Raises:
        LocalTranslationError: no outbound map for the type, the document does
            not validate, or it holds data the message cannot carry.
    """
    module = _OUTBOUND.get(document_type)
    if module is None:
        raise LocalTranslationError(f"no EDIFACT outbound map for {document_type!r}")
    model = DOCUMENT_MODELS[document_type]
    try:
        checked = model.model_validate(document).model_dump(mode="json", exclude_none=True)
    except ValueError as exc:
        raise LocalTranslationError(f"{document_type} does not validate: {exc}") from exc
    where = _extensions_at(checked, document_type)
    if where is not None:
        raise LocalTranslationError(
            f"{where}: extensions cannot be rendered as EDIFACT (source data of another map)"
        )
    w = Writer(directory=directory)
    write: Callable[[Writer, Mapping[str, Any], Mapping[str, object]], None] = module.write
    write(w, checked, options.map_options.get(module.MESSAGE, {}) if options is not None else {})
    return envelope(
        w.segments,
        message=module.MESSAGE,
        control=control,
        directory=directory,
        agency=agency,
        association=association,
    )


__all__ = [
    "MAP_OPTION_KEYS",
    "OUTBOUND_MESSAGES",
    "READERS",
    "from_canonical",
    "to_canonical",
    "to_canonical_checked",
    "to_canonical_parts",
    "validate",
]
