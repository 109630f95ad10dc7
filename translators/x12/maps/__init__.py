"""X12 transaction sets <-> canonical business documents.

Inbound: :func:`to_canonical` maps one :class:`~translators.x12.syntax.TransactionSet`
to a :class:`~translators.models.MappedDocument` in one pass over the segments
(dispatch dict, plain dicts, no pydantic); whatever no handler places is kept
in ``extensions`` with its position.  Outbound: :func:`from_canonical`
renders a canonical document as the segments of one transaction set (ST..SE)
for the writer and checks it reads back to the same document.  Element-level
checks live in :mod:`translators.x12.definitions` (:func:`validate`).

Partner deviations: ``options.map_options["<set id>"]`` with the keys in
:data:`MAP_OPTION_KEYS` (``date_format``, ``unit_codes``,
``product_qualifiers``, ``store_reference``, ``store_party_role``); see
:mod:`translators.x12.maps.context`.

Versions: the maps read 004010 and 005010 and tolerate 003xxx, 004030 and
004060 where the segments they place have the same meaning; the version
only matters to validation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, Final

from pydantic import ValidationError

from ...errors import LocalTranslationError, RemoteSyntaxError
from ...models import DOCUMENT_MODELS, SCHEMA_VERSIONS, MappedDocument
from ...options import TranslatorOptions
from ..syntax import Segment, TransactionSet
from . import (
    freight_invoice,
    functional_ack,
    inventory_advice,
    invoice,
    load_tender,
    load_tender_response,
    order_response,
    purchase_order,
    receiving_advice,
    ship_notice,
    shipment_status,
    values,
    warehouse_shipping_advice,
    warehouse_shipping_order,
    warehouse_stock_transfer,
)
from .context import MAP_OPTION_KEYS, MapContext

_MODULES: dict[str, ModuleType] = {
    "850": purchase_order,
    "855": order_response,
    "856": ship_notice,
    "810": invoice,
    "940": warehouse_shipping_order,
    "945": warehouse_shipping_advice,
    "943": warehouse_stock_transfer,
    "944": receiving_advice,
    "846": inventory_advice,
    "214": shipment_status,
    "204": load_tender,
    "990": load_tender_response,
    "210": freight_invoice,
    "997": functional_ack,
    "999": functional_ack,
}

#: X12 set id -> canonical document type
MAPPED_SETS: dict[str, str] = {set_id: str(mod.DOCUMENT_TYPE) for set_id, mod in _MODULES.items()}

#: canonical document type -> the X12 set written by default
OUTBOUND_SETS: dict[str, str] = {
    "purchase_order": "850",
    "order_response": "855",
    "ship_notice": "856",
    "invoice": "810",
    "warehouse_shipping_order": "940",
    "warehouse_shipping_advice": "945",
    "warehouse_stock_transfer": "943",
    "receiving_advice": "944",
    "inventory_advice": "846",
    "shipment_status": "214",
    "load_tender": "204",
    "load_tender_response": "990",
    "freight_invoice": "210",
    "functional_ack": "997",
}

#: functional identifier code (GS01) for each set we write
FUNCTIONAL_IDS: dict[str, str] = {
    "850": "PO",
    "855": "PR",
    "856": "SH",
    "810": "IN",
    "940": "OW",
    "945": "SW",
    "943": "AR",
    "944": "RE",
    "846": "IB",
    "214": "QM",
    "204": "SM",
    "990": "GF",
    "210": "IM",
    "997": "FA",
    "999": "FA",
}


def validate(tx: TransactionSet, options: TranslatorOptions | None = None) -> list[RemoteSyntaxError]:
    """Check ``tx`` against its definition; see :func:`translators.x12.definitions.validate`.

    Args:
        tx: the transaction set.
        options: passed through (strictness is applied by the caller).

    Returns:
        Every finding as a :class:`RemoteSyntaxError` with its 997/999 code.
    """
    global _CHECK  # noqa: PLW0603 - bound once; runs for every transaction set
    if _CHECK is None:
        # Imported here: the definitions read this package's value conversions.
        from ..definitions import validate as check

        _CHECK = check
    return _CHECK(tx, options)


_CHECK: Callable[[TransactionSet, TranslatorOptions | None], list[RemoteSyntaxError]] | None = None


def validator() -> Callable[[TransactionSet], list[RemoteSyntaxError]]:
    """:func:`validate` for the sets of one file, which remembers the segments it found clean.

    A partner's sets repeat most of their segments; each distinct one is checked once per file.
    Make one per file or stream (never share it between files): the findings are the same as
    :func:`validate` gives, set by set.
    """
    from ..definitions import CleanMemo
    from ..definitions import validate as check

    memo = CleanMemo()

    def validate_in_file(tx: TransactionSet) -> list[RemoteSyntaxError]:
        return check(tx, None, memo)

    return validate_in_file


#: No partner options (MapContext only reads them): shared, not a new dict per set.
_NO_OPTIONS: Final[Mapping[str, object]] = {}


def _context(set_id: str, tx: TransactionSet | None, options: TranslatorOptions | None) -> MapContext:
    opts = options.map_options.get(set_id, _NO_OPTIONS) if options is not None else _NO_OPTIONS
    if tx is None:
        return MapContext(set_id, options=opts)
    delimiters = tx.delimiters
    return MapContext(set_id, component=delimiters.component, repetition=delimiters.repetition, options=opts)


#: Everything the inbound hot path needs per set id: (read, document type, schema version).
_INBOUND: Final[dict[str, tuple[Callable[[Sequence[Segment], MapContext], dict[str, Any]], str, str]]] = {}
for _set_id, _mod in _MODULES.items():
    _read: Callable[..., dict[str, Any]] = _mod.read
    if _set_id in ("997", "999"):
        _read = functools.partial(_read, set_id=_set_id)
    _INBOUND[_set_id] = (_read, str(_mod.DOCUMENT_TYPE), SCHEMA_VERSIONS[str(_mod.DOCUMENT_TYPE)])
del _set_id, _mod, _read

#: What :func:`map_parts` returns: document type, schema version, document, extensions, warnings.
MappedParts = tuple[str, str, dict[str, Any], dict[str, Any], list[str]]


def map_parts(tx: TransactionSet, options: TranslatorOptions | None = None) -> MappedParts:
    """:func:`to_canonical` without the :class:`MappedDocument` wrapper, for the translator.

    The X12 translator builds its ``TranslatedDocument`` straight from these parts, which spares
    one frozen object per set on the hot path.  Same arguments, same errors, same content.
    """
    read, document_type, schema_version = _INBOUND[tx.set_id]
    ctx = _context(tx.set_id, tx, options)
    document = read(tx.segments, ctx)
    return document_type, schema_version, document, ctx.extensions, ctx.warnings


def map_segments(
    set_id: str,
    segments: Sequence[Segment],
    *,
    version: str = "004010",
    ctx: MapContext | None = None,
) -> tuple[MappedDocument, MapContext]:
    """Map raw segments (ST..SE) and also return the run context (for tests and stats).

    Raises:
        KeyError: no map for ``set_id``.
        RemoteSyntaxError: the set lacks what identifies the document.
    """
    mod = _MODULES[set_id]
    run_ctx = ctx if ctx is not None else MapContext(set_id)
    read: Callable[..., dict[str, Any]] = mod.read
    document = read(segments, run_ctx) if set_id not in ("997", "999") else read(segments, run_ctx, set_id)
    return run_ctx.result(str(mod.DOCUMENT_TYPE), document), run_ctx


def to_canonical(tx: TransactionSet, options: TranslatorOptions | None = None) -> MappedDocument:
    """Map one X12 transaction set to its canonical business document.

    Args:
        tx: the set as the reader produced it (ST..SE, delimiters, GS08).
        options: partner deviations in ``options.map_options[tx.set_id]``
            (keys in :data:`MAP_OPTION_KEYS`).

    Returns:
        The document, what was not placed (``extensions``) and warnings.

    Raises:
        KeyError: no map exists for ``tx.set_id`` (check :data:`MAPPED_SETS`).
        RemoteSyntaxError: the set lacks the segment that identifies the
            document (e.g. an 850 without BEG), scope ``transaction``.
    """
    doc, _ = map_segments(tx.set_id, tx.segments, version=tx.version, ctx=_context(tx.set_id, tx, options))
    return doc


def from_canonical(
    document_type: str,
    document: Mapping[str, Any],
    *,
    set_id: str | None = None,
    control: str = "0001",
    version: str = "004010",
    implementation_ref: str | None = None,
    options: TranslatorOptions | None = None,
    lossless: bool = True,
) -> tuple[Segment, ...]:
    """Render a canonical document as one X12 transaction set, ST to SE.

    Nothing is dropped silently: unless ``lossless`` is False the rendered
    set is read back through the inbound map and must give the same
    document (``extensions`` aside); a field the set cannot carry (say line
    notes in an 850, or a fourth product id in a W12) raises instead.

    Args:
        document_type: a key of :data:`~translators.models.DOCUMENT_MODELS`.
        document: the document as JSON data; validated against its model first.
        set_id: the X12 set to write (default from :data:`OUTBOUND_SETS`;
            ``"999"`` for a functional_ack written as 999).
        control: ST02/SE02 transaction set control number.
        version: the version the set is written in (GS08 is the writer's job;
            kept for symmetry with :func:`to_canonical`).
        implementation_ref: ST03, e.g. ``005010X231`` for a 999.
        options: partner deviations in ``options.map_options[set_id]``.
        lossless: check that the set carries the whole document.

    Returns:
        The segments, ST first and SE (with the right count) last.

    Raises:
        LocalTranslationError: the document does not validate, holds a
            value X12 cannot carry, or (``lossless``) would lose data.
    """
    sid = set_id or OUTBOUND_SETS.get(document_type)
    if sid is None or sid not in _MODULES or MAPPED_SETS[sid] != document_type:
        raise LocalTranslationError(f"no X12 map writes {document_type!r} as set {sid!r}")
    try:
        model = DOCUMENT_MODELS[document_type].model_validate(dict(document))
    except ValidationError as exc:
        raise LocalTranslationError(f"{document_type} does not validate: {exc}") from exc
    data = model.model_dump(mode="json", exclude_defaults=True)
    ctx = _context(sid, None, options)
    mod = _MODULES[sid]
    try:
        body: list[Segment] = mod.write(data, ctx) if sid not in ("997", "999") else mod.write(data, ctx, sid)
    except ValueError as exc:
        raise LocalTranslationError(f"{document_type} cannot be written as X12 {sid}: {exc}") from exc
    if ctx.date_format is not None:
        body = _partner_dates(body, ctx.date_format)
    st: Segment = ("ST", sid, control, implementation_ref) if implementation_ref else ("ST", sid, control)
    segments: tuple[Segment, ...] = (st, *body, ("SE", str(len(body) + 2), control))
    if lossless:
        data.pop("extensions", None)
        back_ctx = _context(sid, None, options)
        try:
            back, _ = map_segments(sid, segments, ctx=back_ctx)
        except RemoteSyntaxError as exc:
            raise LocalTranslationError(f"{document_type} renders as an unreadable {sid}: {exc}") from exc
        again = (
            DOCUMENT_MODELS[document_type]
            .model_validate(back.document)
            .model_dump(mode="json", exclude_defaults=True)
        )
        lost = _differences(data, again, document_type)
        if lost:
            raise LocalTranslationError(
                f"{document_type} cannot be written as X12 {sid} without losing data at: "
                + ", ".join(lost[:5])
            )
    return segments


def _partner_dates(body: list[Segment], fmt: str) -> list[Segment]:
    """Rewrite every DT element (as the definitions type them) in the partner's date format."""
    from ..definitions import SEGMENTS

    out: list[Segment] = []
    for seg in body:
        defs = SEGMENTS.get(seg[0], ())
        positions = [i for i, d in enumerate(defs, start=1) if d.type == "DT" and i < len(seg) and seg[i]]
        if positions:
            items = list(seg)
            for i in positions:
                items[i] = values.partner_date(items[i], fmt)
            out.append(tuple(items))
        else:
            out.append(seg)
    return out


def _differences(expected: Any, got: Any, path: str) -> list[str]:
    """Paths where two JSON values differ (first few only)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out: list[str] = []
        for key in expected.keys() | got.keys():
            out += _differences(expected.get(key), got.get(key), f"{path}.{key}")
        return out
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        out = []
        for i, (a, b) in enumerate(zip(expected, got, strict=True)):
            out += _differences(a, b, f"{path}[{i}]")
        return out
    return [] if expected == got else [path]


__all__ = [
    "FUNCTIONAL_IDS",
    "MAPPED_SETS",
    "MAP_OPTION_KEYS",
    "OUTBOUND_SETS",
    "MapContext",
    "from_canonical",
    "map_parts",
    "map_segments",
    "to_canonical",
    "validate",
    "validator",
]
