"""One map run: partner options, value conversion, and the record of what was not placed.

Strategy: a map walks the transaction set once.  Each segment tag has a
handler (a dispatch dict, no pydantic, no regex per segment on the hot path)
and a declaration of which element positions the handler places.  The
runner records verbatim every segment no handler took, and every non-empty
element a handler did not declare, in ``extensions``:

* ``unmapped_segments``: ``[{"position": 7, "segment": ["PKG", "F", ...]}]``
* ``unmapped_elements``: ``[{"position": 12, "tag": "N4", "elements": {"5": "SN"}}]``
* ``invalid_values``: values that did not convert (a bad date...), kept raw.

Positions count from 1 with ST = 1, as AK3/IK3 do.  Nothing is dropped.

Partner deviations come from ``options.map_options[<set id>]``; the keys
every X12 map understands are listed in :data:`MAP_OPTION_KEYS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from ...errors import Location, RemoteSyntaxError
from ...models import SCHEMA_VERSIONS, MappedDocument
from ..syntax import Segment
from . import values

#: Keys read from ``options.map_options["<set id>"]`` by every X12 map:
#:
#: ``date_format``: how the partner writes DT elements when it deviates from
#:   CCYYMMDD/YYMMDD (one of :data:`values.DATE_FORMATS`, e.g. ``"MMDDYY"``).
#: ``unit_codes``: ``{"<partner unit>": "<canonical unit>"}`` for unit of
#:   measure codes (X12 355); reversed when writing to the partner.
#: ``product_qualifiers``: ``{"<X12 235 qualifier>": "<ProductIds field>"}``
#:   overriding which product id qualifier fills which field
#:   (e.g. ``{"CB": "buyer_part", "VA": "vendor_part"}``; ``"other"`` to keep
#:   it in ``other``); the first qualifier that fills a field wins.
#: ``store_reference``: REF qualifier that carries the store number
#:   (``purchase_order.store_number``), e.g. ``"ST"`` or ``"DP"``.
#: ``store_party_role``: N1 role whose id is the store number, e.g. ``"BY"``.
MAP_OPTION_KEYS = ("date_format", "unit_codes", "product_qualifiers", "store_reference", "store_party_role")

#: X12 235 product/service id qualifier -> canonical ProductIds field.
DEFAULT_PRODUCT_QUALIFIERS: Final[dict[str, str]] = {
    "UP": "upc",
    "UI": "upc",
    "EN": "gtin",
    "UK": "gtin",
    "UA": "gtin",
    "EO": "gtin",
    "VN": "vendor_part",
    "VP": "vendor_part",
    "BP": "buyer_part",
    "IN": "buyer_part",
    "CB": "buyer_part",
    "PI": "buyer_part",
    "SK": "sku",
}
#: Qualifier written for each field when rendering X12.
DEFAULT_PRODUCT_OUTPUT: dict[str, str] = {
    "upc": "UP",
    "vendor_part": "VN",
    "buyer_part": "BP",
    "sku": "SK",
}
PRODUCT_FIELDS = ("gtin", "upc", "vendor_part", "buyer_part", "sku")


def _qualifier_slot(qual: str) -> int:
    """The index of a two-character qualifier of ``0``..``Z`` in a field table; -1 for any other."""
    if len(qual) != 2:
        return -1
    first = ord(qual[0]) - 48
    second = ord(qual[1]) - 48
    if first < 0 or first > 42 or second < 0 or second > 42:
        return -1
    return first * 43 + second


def _field_slots(fields: Mapping[str, str]) -> list[str | None]:
    """``fields`` as a list indexed by :func:`_qualifier_slot` (None where no qualifier is)."""
    table: list[str | None] = [None] * (43 * 43)
    for qual, name in fields.items():
        slot = _qualifier_slot(qual)
        if slot >= 0:
            table[slot] = name
    return table


#: :data:`DEFAULT_PRODUCT_QUALIFIERS` by :func:`_qualifier_slot`. The qualifiers of PO1, LIN, IT1
#: ... come fresh from the reader: a dict lookup hashed each one first (~300 instructions a pair).
_DEFAULT_FIELD_SLOTS: Final[list[str | None]] = _field_slots(DEFAULT_PRODUCT_QUALIFIERS)


# The dicts below are Final (compiled, a C static instead of a module dict lookup at every use).
_EMPTY: Final[dict[str, str]] = {}
#: ISO dates by (value, partner format), for partners whose dates deviate from X12's (X12's own go
#: through ``values.memo_iso_date``, shared with the validation); dates repeat across sets.
#: An invalid value is memoised as "" (no valid value converts to it): one lookup tells a hit, and
#: a miss is no KeyError (compiled, a caught exception cost ~4.5k instructions: a traceback entry
#: is recorded, then dropped).
_PARTNER_DATES: Final[dict[tuple[str, str], str]] = {}
#: canonical decimals by raw value (prices repeat across sets), memoised the same way.
_DECIMALS: Final[dict[str, str]] = {}


class MapContext:
    """Mutable state of one map run shared by all handlers.

    Attributes:
        set_id: ST01 of the set being mapped.
        component: the interchange's component separator (ISA16).
        repetition: the repetition separator, or None.
        warnings: plain-language deviations.
        extensions: unplaced data, see the module docstring.
        placed: how many segments a handler placed (for tests and stats).
    """

    __slots__ = (
        "component",
        "date_format",
        "extensions",
        "placed",
        "product_fields",
        "product_output",
        "repetition",
        "set_id",
        "store_party_role",
        "store_reference",
        "unit_codes",
        "unit_output",
        "warnings",
    )

    date_format: str | None
    unit_codes: dict[str, str]
    unit_output: dict[str, str]
    product_fields: dict[str, str]
    product_output: dict[str, str]
    store_reference: str | None
    store_party_role: str | None

    def __init__(
        self,
        set_id: str,
        *,
        component: str = ">",
        repetition: str | None = None,
        options: Mapping[str, object] | None = None,
    ) -> None:
        self.set_id = set_id
        self.component = component
        self.repetition = repetition
        self.warnings: list[str] = []
        self.extensions: dict[str, Any] = {}
        self.placed = 0
        if not options:
            # The common case: share the (never mutated) defaults instead of copying them per set.
            self.date_format = None
            self.unit_codes = _EMPTY
            self.unit_output = _EMPTY
            self.product_fields = DEFAULT_PRODUCT_QUALIFIERS
            self.product_output = DEFAULT_PRODUCT_OUTPUT
            self.store_reference = None
            self.store_party_role = None
            return
        opts = options
        unknown = sorted(str(k) for k in opts if k not in MAP_OPTION_KEYS)
        if unknown:
            # A misspelt profile key would otherwise be ignored without a trace.
            self.warnings.append(f"map options for {set_id} not understood and ignored: {', '.join(unknown)}")
        fmt = opts.get("date_format")
        if fmt is not None and fmt not in values.DATE_FORMATS:
            self.warnings.append(
                f"map option date_format {fmt!r} is not one of {', '.join(values.DATE_FORMATS)}"
            )
        self.date_format = fmt if isinstance(fmt, str) and fmt in values.DATE_FORMATS else None
        units = opts.get("unit_codes")
        self.unit_codes = {str(k): str(v) for k, v in units.items()} if isinstance(units, Mapping) else {}
        self.unit_output = {v: k for k, v in self.unit_codes.items()}
        fields = dict(DEFAULT_PRODUCT_QUALIFIERS)
        output = dict(DEFAULT_PRODUCT_OUTPUT)
        quals = opts.get("product_qualifiers")
        if isinstance(quals, Mapping):
            for qual, name in quals.items():
                fields[str(qual)] = str(name)
                if str(name) in PRODUCT_FIELDS:
                    output[str(name)] = str(qual)
        self.product_fields = fields
        self.product_output = output
        ref = opts.get("store_reference")
        self.store_reference = str(ref) if isinstance(ref, str) else None
        role = opts.get("store_party_role")
        self.store_party_role = str(role) if isinstance(role, str) else None

    def product_field(self, qualifier: str) -> str | None:
        """The ProductIds field a product id qualifier fills (``"other"`` or None: none)."""
        fields = self.product_fields
        if fields is DEFAULT_PRODUCT_QUALIFIERS:
            slot = _qualifier_slot(qualifier)
            if slot >= 0:
                return _DEFAULT_FIELD_SLOTS[slot]
        return fields.get(qualifier)

    # -- recording -------------------------------------------------------
    def unplaced(self, position: int, segment: Segment) -> None:
        """Keep a whole segment no handler placed."""
        add_item(self.extensions, "unmapped_segments", {"position": position, "segment": list(segment)})

    def leftover(self, position: int, segment: Segment, indexes: list[int]) -> None:
        """Keep the non-empty elements ``indexes`` of a placed segment."""
        # A typed loop over a list, not a comprehension over any iterable: compiled, that was a
        # generic iteration with a boxed int per index.
        n = len(segment)
        kept: dict[str, str] = {}
        for i in indexes:
            if i < n and segment[i]:
                kept[str(i)] = segment[i]
        if kept:
            entry = {"position": position, "tag": segment[0], "elements": kept}
            add_item(self.extensions, "unmapped_elements", entry)

    def invalid(self, position: int, segment: Segment, index: int, what: str) -> None:
        """Record a value that does not convert; it is kept raw, never guessed."""
        value = segment[index]
        add_item(
            self.extensions,
            "invalid_values",
            {"position": position, "tag": segment[0], "element": index, "value": value},
        )
        self.warnings.append(
            f"{segment[0]}{index:02d} at segment {position}: {value!r} is not a valid {what}; kept raw"
        )

    # -- value conversion ------------------------------------------------
    def date(self, segment: Segment, index: int, position: int) -> str | None:
        """Element ``index`` as an ISO date; None (and recorded) when absent or invalid."""
        raw = segment[index] if index < len(segment) else ""
        if not raw:
            return None
        fmt = self.date_format
        if fmt is None:
            iso = values.memo_iso_date(raw)
        else:
            key = (raw, fmt)
            known = _PARTNER_DATES.get(key)
            if known is None:
                known = values.iso_date(raw, fmt) or ""
                if len(_PARTNER_DATES) > 4096:
                    _PARTNER_DATES.clear()
                _PARTNER_DATES[key] = known
            iso = known
        if not iso:
            self.invalid(position, segment, index, "date")
            return None
        return iso

    def time(self, segment: Segment, index: int, position: int) -> str | None:
        """Element ``index`` as an ISO time; None (and recorded) when absent or invalid."""
        raw = segment[index] if index < len(segment) else ""
        if not raw:
            return None
        iso = values.iso_time(raw)
        if iso is None:
            self.invalid(position, segment, index, "time")
        return iso

    def dec(self, segment: Segment, index: int, position: int) -> str | None:
        """Element ``index`` (type R) as a decimal string; None when absent or invalid."""
        raw = segment[index] if index < len(segment) else ""
        if not raw:
            return None
        # Already canonical (plain integers and most prices): decimal() would return it as is. A
        # native loop over its few characters; the memo below cost a hash and a lookup (~300
        # instructions for an element fresh from the reader) and, for a value not seen before, a
        # conversion and an insert too.
        if values.canonical_decimal(raw):
            return raw
        out = _DECIMALS.get(raw)
        if out is None:
            out = values.decimal(raw) or ""
            if len(_DECIMALS) > 4096:
                _DECIMALS.clear()
            _DECIMALS[raw] = out
        if not out:
            self.invalid(position, segment, index, "number")
            return None
        return out

    def implied(self, segment: Segment, index: int, position: int, places: int) -> str | None:
        """Element ``index`` (type Nn) as a decimal string."""
        raw = segment[index] if index < len(segment) else ""
        if not raw:
            return None
        out = values.implied(raw, places)
        if out is None:
            self.invalid(position, segment, index, f"N{places} number")
        return out

    def integer(self, segment: Segment, index: int, position: int) -> int | None:
        """Element ``index`` (type N0) as an int."""
        raw = segment[index] if index < len(segment) else ""
        if not raw:
            return None
        out = values.integer(raw)
        if out is None:
            self.invalid(position, segment, index, "integer")
        return out

    def unit(self, code: str) -> str | None:
        """A partner unit code after the partner's translation table."""
        if not code:
            return None
        units = self.unit_codes
        # Most partners have no table: no hash of a code fresh from the reader, no lookup.
        return units.get(code, code) if units else code

    def unit_out(self, code: str | None) -> str:
        """A canonical unit code as the partner writes it."""
        if not code:
            return ""
        return self.unit_output.get(code, code)

    # -- result ------------------------------------------------------------
    def result(self, document_type: str, document: dict[str, Any]) -> MappedDocument:
        """Wrap the finished document."""
        return MappedDocument(
            document_type=document_type,
            schema_version=SCHEMA_VERSIONS[document_type],
            document=document,
            extensions=self.extensions,
            warnings=tuple(self.warnings),
        )


def add_item(target: dict[str, Any], key: str, item: Any) -> None:
    """``target.setdefault(key, []).append(item)``, without a throwaway list when the key is there."""
    # Typed, so the append below is a native list append once compiled, not a method lookup.
    items: list[Any] | None = target.get(key)
    if items is None:
        target[key] = [item]
    else:
        items.append(item)


def missing(set_id: str, tag: str, what: str) -> RemoteSyntaxError:
    """The error for a set that lacks the segment identifying its document (X12 AK3 code 3)."""
    return RemoteSyntaxError(
        f"{set_id} has no {tag} segment, so {what} is missing",
        ack_hint="AK3:3",
        scope="transaction",
        location=Location(segment_tag=tag),
    )


Handler = Callable[[Any, Segment, int], bool]


class Placement:
    """Which element positions a handler places: 1..``top`` except ``holes``.

    ``stop`` (``top + 1``), ``first_hole`` and ``quiet`` are precomputed for :func:`run`: a
    segment no longer than ``stop`` has nothing beyond ``top``, one no longer than
    ``first_hole`` fills no hole, so one no longer than ``quiet`` (the smaller of the two) needs
    no further look; that is most segments.
    """

    __slots__ = ("first_hole", "holes", "quiet", "stop", "top")

    def __init__(self, top: int, holes: Sequence[int] = ()) -> None:
        self.top = top
        self.holes = tuple(holes)
        self.stop = top + 1
        self.first_hole = min(self.holes) if self.holes else 1 << 30
        self.quiet = min(self.stop, self.first_hole)


def placed(*positions: int) -> Placement:
    """Build a :class:`Placement` from the element positions a handler places."""
    top = max(positions) if positions else 0
    return Placement(top, [i for i in range(1, top + 1) if i not in positions])


HandlerTable = Mapping[str, tuple[Handler, Placement]]
#: One handler table entry; :func:`run` takes a dict of them (native dict operations once compiled).
Entry = tuple[Handler, Placement]


def run(segments: Sequence[Segment], table: dict[str, Entry], state: Any, ctx: MapContext) -> None:
    """Walk the body of a transaction set (between ST and SE) once.

    Args:
        segments: the whole set, ST first and SE last.
        table: tag -> (handler, placement).  A handler returns False to
            decline a segment it cannot place in the current context.
        state: the map's own state object, passed to every handler.
        ctx: the run context that records what was not placed.
    """
    # A tuple (what the reader gives) is indexed natively once compiled; no body slice either.
    segs: tuple[Segment, ...] = segments if isinstance(segments, tuple) else tuple(segments)
    last = len(segs) - 1
    unplaced = 0
    for index in range(1, last):
        seg = segs[index]
        position = index + 1  # ST is position 1
        entry = table.get(seg[0])
        if entry is None:
            ctx.unplaced(position, seg)
            unplaced += 1
            continue
        handler, spec = entry
        if not handler(state, seg, position):
            ctx.unplaced(position, seg)
            unplaced += 1
            continue
        if len(seg) > spec.quiet:
            leftovers(ctx, seg, position, spec)
    ctx.placed += max(last - 1, 0) - unplaced


def leftovers(ctx: MapContext, seg: Segment, position: int, spec: Placement) -> None:
    """Keep what a placed segment holds beyond ``spec``: for one longer than ``spec.quiet``."""
    n = len(seg)
    stop = spec.stop
    # A native loop: ``any(seg[stop:])`` was a slice and a generic call of any().
    for i in range(stop, n):
        if seg[i]:
            ctx.leftover(position, seg, list(range(stop, n)))
            break
    if n > spec.first_hole:
        holes = spec.holes
        for i in holes:
            if i < n and seg[i]:
                ctx.leftover(position, seg, [h for h in holes if h < n])
                break


__all__ = [
    "DEFAULT_PRODUCT_QUALIFIERS",
    "MAP_OPTION_KEYS",
    "PRODUCT_FIELDS",
    "Handler",
    "HandlerTable",
    "MapContext",
    "Placement",
    "add_item",
    "leftovers",
    "missing",
    "placed",
    "run",
]
