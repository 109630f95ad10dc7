"""One-pass, table-driven walker that turns a message's segments into a document.

Strategy: EDIFACT segment groups are recognised by their *trigger* segment
(ISO 9735-1 clause 8: the first segment of a group is mandatory and only
occurs there), so a map needs no full branching diagram: each message
declares a small table ``{scope: {tag: handler}}``.  A handler places the
segment in the document and may move the walker into another scope (``LIN``
opens a line, ``CPS`` a package level, ``UNS`` the summary section...).

Nothing is dropped: a segment with no handler in the current scope, or
whose handler declines it, is recorded verbatim in ``unmapped`` with its
position, scope and line; a handler that places only part of a segment
calls :meth:`Builder.keep` itself so the whole segment is kept as well.

The walker builds plain dicts (no pydantic) because ORDERS is on the hot
path; the models validate the output in tests and at the sink boundary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

from ...errors import RemoteSyntaxError
from ...models import MappedDocument
from ...shapes import Shape
from ..syntax import Message, Segment
from .segment import parts, segment_json
from .validation import TAG_CHECKS, checker
from .values import edi_date_to_iso, edi_decimal, edi_period_to_iso

Handler = Callable[["Builder", Segment], bool]
Table = dict[str, dict[str, Handler]]

#: ``options.map_options[<MESSAGE>]`` keys every map honours (partner deviations):
#:
#: ``product_id_preference``: ordered 7143 item-number type codes; when two
#:     identifiers of one line land in the same canonical slot (LIN ``EN`` and
#:     PIA ``SRV`` both being a GTIN), the earlier code in this list wins and
#:     the other is kept under ``product.other``.
#: ``product_id_types``: ``{"<7143 code>": "<slot>"}`` overriding which
#:     ``ProductIds`` field a code fills (slots: gtin, upc, vendor_part,
#:     buyer_part, sku, other), for partners who send e.g. their SKU as ``MF``.
#: ``date_formats``: ``{"<2379 code>": "<2379 code>"}`` reading a partner's
#:     mislabelled format as another one (``{"102": "203"}``); key ``"*"``
#:     applies to every format.
#: ``unit_codes``: ``{"<partner 6411 code>": "<canonical code>"}`` applied to
#:     the unit of QTY, PRI and MEA.
#: ``store_number_reference``: the RFF 1153 qualifier that carries the
#:     buyer's store number (ORDERS ``store_number``), e.g. ``"AKX"``; read
#:     and written by the ORDERS map.
MAP_OPTION_KEYS: Final = (
    "product_id_preference",
    "product_id_types",
    "date_formats",
    "unit_codes",
    "store_number_reference",
)

#: 7143 item number type -> ProductIds slot.  EN (EAN-13) in D96A and SRV
#: (GS1 GTIN, EANCOM 2002 on D01B) are both GTINs; SA is the supplier's and
#: IN/BP the buyer's article number (UNTDID 7143).  SK is not a 7143 code; it
#: is accepted so an X12 SKU survives a round trip through EDIFACT.
#: (Filled by a comprehension, not written as one literal: compiled, a literal of more than five
#: entries is a presized dict with general keys, where finding a code read from a segment, an
#: equal but other str object, takes a generic rich compare: twice per line item.)
PRODUCT_ID_SLOTS: Final[dict[str, str]] = {
    code: slot
    for code, slot in (
        ("EN", "gtin"),
        ("SRV", "gtin"),
        ("UP", "upc"),
        ("SA", "vendor_part"),
        ("VN", "vendor_part"),
        ("IN", "buyer_part"),
        ("BP", "buyer_part"),
        ("SK", "sku"),
    )
}

#: Default order for :data:`MAP_OPTION_KEYS` ``product_id_preference``.
DEFAULT_PRODUCT_ID_PREFERENCE: Final[tuple[str, ...]] = ("EN", "SRV", "UP", "SA", "VN", "IN", "BP", "SK")


#: What the canonical models accept as a decimal (``DecimalStr``).
_DECIMAL: Final = re.compile(r"-?\d+(\.\d+)?")
#: outputs of edi_decimal already matched against _DECIMAL (prices and quantities repeat)
_CHECKED_DECIMALS: Final[set[str]] = set()
#: 2379 format -> 2380 value -> :func:`edi_date_to_iso` of them (bounded): two lookups of strings
#: whose hashes are cached (the values come from the reader's shared segments), where the call
#: through its ``lru_cache`` wrapper, which hashes a new key tuple, cost about three times as much
_ISO_DATES: Final[dict[str, dict[str, object]]] = {}
#: what :data:`_ISO_DATES` holds for a value :func:`edi_date_to_iso` cannot read (its None)
_UNREADABLE: Final = object()
#: raw value -> checked ``.`` decimal for the usual ``.`` mark (bounded memo of the pure
#: conversion + check: an interchange repeats the same quantities and prices)
_DOT_DECIMALS: Final[dict[str, str]] = {}


def _is_decimal(text: str) -> bool:
    """``_DECIMAL.fullmatch(text)`` without the regex engine (``\\d`` is str.isdecimal)."""
    digits = text[1:] if text[:1] == "-" else text
    head, dot, tail = digits.partition(".")
    return head.isdecimal() and (not dot or tail.isdecimal())


def _iso_date(value: str, fmt: str) -> tuple[str | None, str | None] | None:
    """``edi_date_to_iso(value, fmt)``, memoised in :data:`_ISO_DATES`."""
    by_value = _ISO_DATES.get(fmt)
    if by_value is None:
        if len(_ISO_DATES) > 64:  # formats are partner data too
            _ISO_DATES.clear()
        by_value = _ISO_DATES[fmt] = {}
    known = by_value.get(value)
    if known is not None:
        return None if known is _UNREADABLE else cast("tuple[str | None, str | None]", known)
    parsed = edi_date_to_iso(value, fmt)
    if len(by_value) > 4096:
        by_value.clear()
    by_value[value] = _UNREADABLE if parsed is None else parsed
    return parsed


class BadValue(Exception):
    """A numeric data element that is not a number; the walk keeps the segment and warns."""


class Builder:
    """Mutable state of one map run: the document and where we are in it.

    Attributes:
        doc: the business document being built (JSON data).
        scope: name of the open segment group, a key of the message table.
        line: the open line item dict, while a line group is open.
        target: what the last group trigger created (party, reference,
            allowance, tax, package...) for the segments that qualify it.
        target_kind: the trigger tag that created ``target``.
        state: per-message scratch space (package tree, current order...).
        parent: the last ORDERS line, which a sub-line names as its parent.
        unmapped: segments kept verbatim, as JSON data.
        extra: other extension data (date periods...).
        warnings: plain-language deviations found while mapping.
    """

    __slots__ = (
        "date_formats",
        "doc",
        "extra",
        "line",
        "mark",
        "parent",
        "position",
        "preference",
        "scope",
        "slot_codes",
        "slots",
        "state",
        "store_ref",
        "target",
        "target_kind",
        "unit_codes",
        "unmapped",
        "warnings",
    )

    preference: tuple[str, ...]
    slots: dict[str, str]
    date_formats: dict[str, str]
    store_ref: str | None
    unit_codes: dict[str, str]

    def __init__(self, doc: dict[str, Any], *, mark: str, options: Mapping[str, object]) -> None:
        self.doc = doc
        self.mark = mark
        self.scope = "header"
        self.line: dict[str, Any] | None = None
        self.target: dict[str, Any] | None = None
        self.target_kind = ""
        self.state: dict[str, Any] = {}
        self.unmapped: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.position = 0
        # the open line's filled ProductIds slots and their codes: slot, code, slot, code...
        self.slot_codes: list[str] = []
        self.parent: dict[str, Any] | None = None
        if not options:
            # no partner deviations (the common case): skip the option parsing
            self.preference = DEFAULT_PRODUCT_ID_PREFERENCE
            self.slots = PRODUCT_ID_SLOTS
            self.date_formats = {}
            self.store_ref = None
            self.unit_codes = {}
            return
        pref = options.get("product_id_preference")
        self.preference = (
            tuple(str(p) for p in pref) if isinstance(pref, list | tuple) else DEFAULT_PRODUCT_ID_PREFERENCE
        )
        types = options.get("product_id_types")
        self.slots = (
            {**PRODUCT_ID_SLOTS, **{str(k): str(v) for k, v in types.items()}}
            if isinstance(types, dict)
            else PRODUCT_ID_SLOTS
        )
        formats = options.get("date_formats")
        self.date_formats = {str(k): str(v) for k, v in formats.items()} if isinstance(formats, dict) else {}
        store = options.get("store_number_reference")
        self.store_ref = str(store) if store else None
        units = options.get("unit_codes")
        self.unit_codes = {str(k): str(v) for k, v in units.items()} if isinstance(units, dict) else {}

    # -- value helpers -------------------------------------------------
    def decimal(self, value: str) -> str | None:
        """A numeric data element as a ``.`` decimal string, None when absent.

        Raises:
            BadValue: the value is not a number (``1020A``, ``$1.179``); handlers
                compute values before they change the document, so the walk
                can keep the whole segment instead.
        """
        if not value:
            return None
        dot = self.mark == "."
        if dot:
            known = _DOT_DECIMALS.get(value)
            if known is not None:
                return known
        out = edi_decimal(value, self.mark)
        if out not in _CHECKED_DECIMALS:
            if not _is_decimal(out):
                raise BadValue(value)
            if len(_CHECKED_DECIMALS) > 4096:
                _CHECKED_DECIMALS.clear()
            _CHECKED_DECIMALS.add(out)
        if dot:
            if len(_DOT_DECIMALS) > 4096:
                _DOT_DECIMALS.clear()
            _DOT_DECIMALS[value] = out
        return out

    def unit(self, code: str) -> str | None:
        """A 6411 measure unit after the partner's translation table."""
        if not code:
            return None
        return self.unit_codes.get(code, code) if self.unit_codes else code

    def date(self, seg: Segment) -> dict[str, Any] | None:
        """DTM C507 as a canonical DateTime dict; None (and a warning) when unreadable.

        A 718 period has no DateTime shape: it goes to ``extensions["periods"]``
        as an ISO 8601 interval and None is returned with no warning.
        """
        found = self.date_parts(seg)
        if found is None:
            return None
        return {"qualifier": found[0], "date": found[1], "time": found[2]}

    def date_parts(self, seg: Segment) -> tuple[str, str | None, str | None] | None:
        """What :meth:`date` returns, as ``(qualifier, date, time)``: no dict for a handler to unpack."""
        c = parts(seg, 1)
        n = len(c)
        qual = c[0] if n else ""
        value = c[1] if n > 1 else ""
        fmt = (c[2] if n > 2 else "") or "102"
        if self.date_formats:
            fmt = self.date_formats.get(fmt, self.date_formats.get("*", fmt))
        if fmt == "718":
            period = edi_period_to_iso(value)
            if period is not None:
                entry: dict[str, Any] = {"qualifier": qual, "period": period, "scope": self.scope}
                if self.line is not None:
                    entry["line"] = self.line.get("line_number")
                self.extra.setdefault("periods", []).append(entry)
                return None
        parsed = _iso_date(value, fmt) if value else None
        if parsed is None:
            self.warnings.append(
                f"DTM {qual} at segment {self.position}: {value!r} is not a valid format {fmt} "
                "date/time; segment kept in extensions"
            )
            self.keep(seg)
            return None
        return qual, parsed[0], parsed[1]

    def keep(self, seg: Segment) -> None:
        """Record a segment verbatim (nothing the partner sent is dropped)."""
        entry: dict[str, Any] = {"position": self.position, "scope": self.scope, "segment": segment_json(seg)}
        if self.line is not None:
            entry["line"] = self.line.get("line_number")
        self.unmapped.append(entry)

    def extensions(self) -> dict[str, Any]:
        """The ``MappedDocument.extensions`` of this run (the run's last use of ``extra``: no copy)."""
        out = self.extra
        if self.unmapped:
            out["unmapped_segments"] = self.unmapped
        return out


#: once per message: built from compiled code, not through the dataclass's interpreted __init__
_MAPPED: Final = Shape(
    MappedDocument, ("document_type", "schema_version", "document", "extensions", "warnings")
)


#: What a walked map makes of one message: the fields of its MappedDocument, in the order of
#: :data:`_MAPPED` (document_type, schema_version, document, extensions, warnings).
MappedParts = tuple[str, str, dict[str, Any], dict[str, Any], tuple[str, ...]]


def from_parts(parts: MappedParts) -> MappedDocument:
    """The MappedDocument of :data:`MappedParts`."""
    return _MAPPED.make(parts)


def mapped_document(
    document_type: str,
    schema_version: str,
    document: dict[str, Any],
    extensions: dict[str, Any],
    warnings: tuple[str, ...],
) -> MappedDocument:
    """``MappedDocument(document_type, schema_version, document, extensions, warnings)``, faster."""
    return _MAPPED.make((document_type, schema_version, document, extensions, warnings))


#: the ``"*"`` scope of a table without one (read-only)
_NO_HANDLERS: Final[dict[str, Handler]] = {}


class Step:
    """What the walk does with one tag in one scope: its handler (None: keep the segment), its
    :data:`~.validation.TAG_CHECKS` entry (0: not checked) and the handler's ``code`` in the map's
    own dispatch (-1: none, the walk calls ``handler``)."""

    __slots__ = ("check", "code", "handler")

    def __init__(self, handler: Handler | None, check: int, code: int = -1) -> None:
        self.handler = handler
        self.check = check
        self.code = code


#: A message table as the walk reads it (:func:`steps`): ``{scope: {tag: step}}``.
Steps = dict[str, dict[str, Step]]


def steps(table: Table, codes: Mapping[Handler, int] | None = None) -> Steps:
    """The walk's form of a message table, made once per table.

    Each scope lists every tag it has a handler for (its own, else the ``"*"`` scope's, as the
    table says) and every tag the validation checks: one lookup per segment answers both.
    ``codes`` numbers the handlers a map's own walk calls directly (see ``orders._walk``).
    """
    fallback = table.get("*", _NO_HANDLERS)
    out: Steps = {}
    for scope, handlers in table.items():
        merged: dict[str, Step] = {}
        for tag in (*handlers, *fallback, *TAG_CHECKS):
            if tag not in merged:
                handler = handlers.get(tag)
                if handler is None:
                    handler = fallback.get(tag)
                code = codes.get(handler, -1) if codes is not None and handler is not None else -1
                merged[tag] = Step(handler, TAG_CHECKS.get(tag, 0), code)
        out[scope] = merged
    return out


class Direct:
    """A map's own dispatch of its most used handlers, by the ``code`` :func:`steps` gave them.

    Through the table each handler is a generic call of a Python callable (its arguments checked
    and its result boxed, ~115 instructions); compiled, :meth:`call` is a native method call and
    a subclass's ``if code == ...`` chain makes native calls of the handlers.
    """

    def call(self, code: int, b: Builder, seg: Segment) -> bool:
        """Run the handler numbered ``code``; what it returns."""
        raise NotImplementedError


def walk(
    builder: Builder,
    msg: Message,
    table: Steps,
    errors: list[RemoteSyntaxError] | None = None,
    direct: Direct | None = None,
) -> None:
    """Feed the body segments (between UNH and UNT) through the message table.

    Args:
        builder: the state, holding the document to fill.
        msg: the message; UNH and UNT are envelope, not body.
        table: :func:`steps` of ``{scope: {tag: handler}}``; scope ``"*"``
            answers for a tag the current scope has no handler for.
        errors: when given, the message is also validated in this pass
            (what :func:`~.validation.validate` reports, in its order, is
            appended); UNH and UNT carry no checked tag.
        direct: runs the steps that have a ``code`` (required when ``table`` was made with codes).
    """
    segments = msg.segments
    end = len(segments) - 1 if segments and segments[-1][0] == "UNT" else len(segments)
    start = 1 if segments and segments[0][0] == "UNH" else 0
    check = checker(msg, errors) if errors is not None else None
    scope = builder.scope
    current = table[scope]
    position = start
    # indexes, not a slice: no copy of the message's segments
    for i in range(start, end):
        seg = segments[i]
        position += 1
        builder.position = position
        tag = seg[0]
        if type(tag) is not str:
            builder.keep(seg)
            continue
        if builder.scope is not scope:
            # handlers move the scope rarely (LIN, UNS, CPS): look the table up then
            scope = builder.scope
            current = table[scope]
        step = current.get(tag)
        if step is None:
            builder.keep(seg)
            continue
        if check is not None and step.check:
            check.note(seg, i, tag, step.check)
        handler = step.handler
        code = step.code
        try:
            if code >= 0 and direct is not None:
                placed = direct.call(code, builder, seg)
            else:
                placed = handler is not None and handler(builder, seg)
        except BadValue as exc:
            builder.warnings.append(
                f"{tag} at segment {builder.position}: {exc.args[0]!r} is not a number; "
                "segment kept in extensions"
            )
            placed = False
        if not placed:
            builder.keep(seg)
    if check is not None:
        check.finish()


def push(owner: dict[str, Any], key: str, value: object) -> None:
    """``owner.setdefault(key, []).append(value)``: the list typed, so compiled this is a native append.

    (``setdefault`` on a ``dict[str, Any]`` gives ``Any``, whose ``append`` is a generic method call.
    Nor ``setdefault`` at all: compiled, it looks the key up with ``owner[key]`` and so raises and
    clears a KeyError for every new key, which cost more than the rest of a handler.)
    """
    items: list[object] | None = owner.get(key)
    if items is None:
        owner[key] = [value]
    else:
        items.append(value)


def beyond(seg: Segment, placed: dict[int, int]) -> bool:
    """True when the segment holds data beyond ``placed`` ({element: components used})."""
    # placed.get called on the dict each time, not through a bound-method alias: compiled, that
    # is a direct C call, where the alias cost a generic attribute lookup and a generic call per use.
    for i in range(1, len(seg)):
        e = seg[i]
        if type(e) is str:
            if e and not placed.get(i, 0):
                return True
        elif type(e) is tuple:
            used = placed.get(i, 0)
            if len(e) > used and any(e[used:]):
                return True
        else:  # a syntax 4 repetition: never placed by the maps
            return True
    return False


def place(b: Builder, seg: Segment, placed: dict[int, int]) -> None:
    """Keep the whole segment in extensions when part of it was not placed."""
    if beyond(seg, placed):
        b.keep(seg)


# -- beginning of message ------------------------------------------------------


__all__ = [
    "DEFAULT_PRODUCT_ID_PREFERENCE",
    "MAP_OPTION_KEYS",
    "PRODUCT_ID_SLOTS",
    "Builder",
    "Direct",
    "Handler",
    "MappedParts",
    "Step",
    "Steps",
    "Table",
    "beyond",
    "from_parts",
    "mapped_document",
    "place",
    "push",
    "steps",
    "walk",
]
