"""X12 acknowledgments: TA1, 997 and 999 out; inbound 997/999/TA1 read into ``functional_ack``.

Strategy: pure functions over plain outcome records.  While translating, the
caller records for each interchange an :class:`InterchangeOutcome` (its ISA,
interchange-scope errors, and per group a :class:`GroupOutcome` with one
:class:`TransactionOutcome` per set).  The renderers below turn that into
bytes; nothing here reads the clock or keeps state between calls: the
timestamp and control numbers come from :class:`TranslatorOptions`.

Codes come from each error's ``ack_hint`` (see :mod:`translators.x12.envelope`):
``TA1:<I18>`` → TA105, ``AK9:<716>`` → AK905, ``AK5:<718>`` → AK502/IK502,
``AK3:<720>`` → AK304/IK304, ``AK4:<723>`` → AK403/IK403.  A 999 mirrors the
997 structure with IK3/IK4/IK5 in place of AK3/AK4/AK5 (005010X231).

Version choice (``options.x12_ack``): ``auto`` answers a group whose GS08 is
005010 or later with a 999 and older groups with a 997; the ack's GS08 is
the inbound GS08 for a 997 and ``005010X231A1`` for a 999, and its ISA12 is
the inbound ISA12.  Sender and receiver are swapped (ISA05/06 ↔ ISA07/08,
GS02 ↔ GS03) unless ``options.our_ids`` names our side.  Groups that are
themselves acknowledgments (GS01 ``FA``) are never acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..errors import RemoteSyntaxError
from ..options import TranslatorOptions
from .syntax import Delimiters, Segment, TransactionSet, element
from .writer import encode, group_header, interchange_header, render_segments

FunctionalAckKind = Literal["997", "999"]
#: implementation guide of the 999 we write (GS08 and ST03)
IMPLEMENTATION_999 = "005010X231A1"

_MAX_CODES = 5  # AK502-AK506 / AK905-AK909 carry at most five codes
#: most AK2 loops a streaming translation keeps per group (sets in error only)
STREAMING_AK2_LIMIT = 10_000


@dataclass(slots=True)
class TransactionOutcome:
    """What happened to one inbound transaction set.

    Attributes:
        set_id: ST01.
        control: ST02.
        implementation_ref: ST03, if any.
        errors: its transaction-, segment- and element-scope errors.
        rejected: True when the set was not forwarded.
    """

    set_id: str
    control: str
    implementation_ref: str | None = None
    #: read-only here; a clean set gets the shared ``()``, not a list of its own: a whole-file
    #: translation keeps every outcome until the IEA, and a list per set is one more object for
    #: every collection of the cyclic GC to walk
    errors: Sequence[RemoteSyntaxError] = ()
    rejected: bool = False


#: Bound once: ``TransactionOutcome.__new__(...)`` looked the method up on the class at every call
#: (~200 instructions).
_NEW_OUTCOME: Final = TransactionOutcome.__new__


def accepted_outcome(set_id: str, control: str, implementation_ref: str | None) -> TransactionOutcome:
    """``TransactionOutcome(set_id, control, implementation_ref)``: a clean, accepted set.

    Made once per set of a whole-file translation: the dataclass ``__init__`` stays interpreted
    under mypyc (~1.9k instructions), where these attribute stores are native ones.
    """
    outcome = _NEW_OUTCOME(TransactionOutcome)
    outcome.set_id = set_id
    outcome.control = control
    outcome.implementation_ref = implementation_ref
    outcome.errors = ()
    outcome.rejected = False
    return outcome


@dataclass(slots=True)
class GroupOutcome:
    """What happened to one inbound functional group.

    Attributes:
        header: the GS segment.
        trailer: the GE segment (empty tuple when it was missing).
        errors: group-scope errors.
        transactions: outcomes worth an AK2 loop (all of them, or only the
            ones in error when ``record_accepted`` is False).
        record_accepted: keep accepted sets too (whole-file mode); the
            streaming mode keeps only the ones in error, and at most
            ``STREAMING_AK2_LIMIT`` of them, to bound memory (the AK9 counts
            stay exact).
        received: how many sets were seen.
        accepted: how many were accepted (A or E).
    """

    header: Segment
    trailer: Segment = ()
    errors: list[RemoteSyntaxError] = field(default_factory=list)
    transactions: list[TransactionOutcome] = field(default_factory=list)
    record_accepted: bool = True
    received: int = 0
    accepted: int = 0

    def add(self, outcome: TransactionOutcome) -> None:
        """Record one set."""
        self.received += 1
        if not outcome.rejected:
            self.accepted += 1
        if self.record_accepted or (outcome.errors and len(self.transactions) < STREAMING_AK2_LIMIT):
            self.transactions.append(outcome)

    @property
    def rejected(self) -> bool:
        """True when a group-scope error rejects the whole group."""
        return bool(self.errors)


@dataclass(slots=True)
class InterchangeOutcome:
    """What happened to one inbound interchange.

    Attributes:
        header: the ISA segment.
        delimiters: its delimiters (acks are written with the same ones).
        errors: interchange-scope errors.
        groups: its functional groups.
    """

    header: Segment
    delimiters: Delimiters
    errors: list[RemoteSyntaxError] = field(default_factory=list)
    groups: list[GroupOutcome] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        """True when an interchange-scope error rejects everything in it."""
        return bool(self.errors)


# -- codes --------------------------------------------------------------------------------------------


def _code(error: RemoteSyntaxError, prefix: str) -> str | None:
    hint = error.ack_hint or ""
    if hint.startswith(prefix + ":"):
        return hint[len(prefix) + 1 :]
    return None


def ack_kind_for(version: str, options: TranslatorOptions) -> FunctionalAckKind:
    """997 or 999 for an inbound group of GS08 ``version``.

    Args:
        version: inbound GS08.
        options: ``x12_ack`` forces one kind; ``auto`` mirrors the version.

    Returns:
        ``"999"`` for 005010 and later under ``auto``, else ``"997"``.
    """
    if options.x12_ack != "auto":
        return options.x12_ack
    return "999" if version[:6] >= "005010" else "997"


def _transaction_status(outcome: TransactionOutcome) -> tuple[str, list[str]]:
    codes: list[str] = []
    for error in outcome.errors:
        code = _code(error, "AK5")
        if code and code not in codes:
            codes.append(code)
    has_segment_errors = any(e.scope == "segment" for e in outcome.errors)
    if outcome.rejected:
        if not codes:
            codes.append("5")  # one or more segments in error
        return "R", codes[:_MAX_CODES]
    if has_segment_errors:
        return "E", (codes or ["5"])[:_MAX_CODES]
    return "A", []


def _segment_loops(outcome: TransactionOutcome, kind: FunctionalAckKind) -> list[Segment]:
    seg_tag, el_tag = ("AK3", "AK4") if kind == "997" else ("IK3", "IK4")
    # Group element errors under their segment, in order of first appearance.
    order: list[tuple[int, str]] = []
    seg_codes: dict[tuple[int, str], str] = {}
    elements: dict[tuple[int, str], list[Segment]] = {}
    for error in outcome.errors:
        loc = error.location
        if loc.segment_position is None or error.scope != "segment":
            continue
        key = (loc.segment_position, loc.segment_tag or "")
        if key not in seg_codes:
            order.append(key)
            seg_codes[key] = "8"  # segment has data element errors
            elements[key] = []
        code = _code(error, "AK3")
        if code is not None:
            seg_codes[key] = code
        el_code = _code(error, "AK4")
        if el_code is not None and loc.element_position is not None:
            where = str(loc.element_position)
            if loc.component_position is not None:
                # AK401/IK401 is a composite: element position, component position.
                where += ":" + str(loc.component_position)
            elements[key].append((el_tag, where, "", el_code))
    out: list[Segment] = []
    for key in order:
        seg_position, tag = key
        out.append((seg_tag, tag, str(seg_position), "", seg_codes[key]))
        out.extend(elements[key])
    return out


def _with_component(segments: list[Segment], delimiters: Delimiters) -> list[Segment]:
    # AK401/IK401 positions were built with ':'; write them with the interchange's component separator.
    if delimiters.component == ":":
        return segments
    return [
        (seg[0], seg[1].replace(":", delimiters.component), *seg[2:]) if seg[0] in ("AK4", "IK4") else seg
        for seg in segments
    ]


def _trim(segment: Segment) -> Segment:
    # Trailing empty elements are not written (X12 syntax: omit trailing separators).
    end = len(segment)
    while end > 1 and segment[end - 1] == "":
        end -= 1
    return segment[:end]


def functional_ack_body(group: GroupOutcome, kind: FunctionalAckKind) -> list[Segment]:
    """The segments between ST and SE of the 997/999 answering one group.

    Args:
        group: the inbound group's outcome.
        kind: ``"997"`` or ``"999"``.

    Returns:
        AK1, the AK2 loops (AK2, AK3/AK4 or IK3/IK4, AK5/IK5) and AK9.
    """
    gs = group.header
    ak1: Segment = ("AK1", element(gs, 1), element(gs, 6))
    if kind == "999":
        ak1 = (*ak1, element(gs, 8))
    body: list[Segment] = [ak1]
    status_tag = "AK5" if kind == "997" else "IK5"
    accepted_status: Segment = (status_tag, "A")
    with_errors = False
    append = body.append
    for tx in group.transactions:
        ak2: Segment = ("AK2", tx.set_id, tx.control)
        if kind == "999" and tx.implementation_ref:
            ak2 = (*ak2, tx.implementation_ref)
        append(ak2)
        if not tx.errors and not tx.rejected:
            # A clean set (the bulk of a large group): no AK3/AK4 loops, status A.
            append(accepted_status)
            continue
        body.extend(_segment_loops(tx, kind))
        status, codes = _transaction_status(tx)
        if status == "E":
            with_errors = True
        append((status_tag, status, *codes))
    group_codes: list[str] = []
    for error in group.errors:
        code = _code(error, "AK9")
        if code and code not in group_codes:
            group_codes.append(code)
    trailer = group.trailer
    count = element(trailer, 1)
    included = count if count.isdecimal() else str(group.received)
    if group.rejected:
        status = "R"
        accepted = 0
    else:
        accepted = group.accepted
        if accepted == group.received:
            status = "E" if with_errors else "A"
        elif accepted == 0:
            status = "R"
        else:
            status = "P"
    body.append(("AK9", status, included, str(group.received), str(accepted), *group_codes[:_MAX_CODES]))
    # Only a segment ending in an empty element needs trimming (its tag is never empty).
    return [seg if seg[-1] else _trim(seg) for seg in body]


def _parties(isa: Segment, options: TranslatorOptions) -> tuple[tuple[str, str], tuple[str, str]]:
    # Mirrored values are cut to the ISA widths: a bad inbound ISA must still get its TA1.
    theirs = (element(isa, 5).strip()[:2], element(isa, 6).strip()[:15])
    ours = options.our_ids or (element(isa, 7).strip()[:2], element(isa, 8).strip()[:15])
    return ours, theirs


def _version(isa: Segment) -> str:
    version = element(isa, 12).strip()
    return version if len(version) == 5 and version.isdecimal() else "00401"


def build_ta1(outcome: InterchangeOutcome, options: TranslatorOptions, *, interchange_control: int) -> bytes:
    """Render a TA1 interchange answering one inbound interchange.

    Args:
        outcome: the inbound interchange's outcome.
        options: timestamp (``now``) and ``our_ids``.
        interchange_control: ISA13/IEA02 of the ack interchange.

    Returns:
        ISA, TA1, IEA (IEA01 = 0: a TA1-only interchange has no groups).
    """
    isa = outcome.header
    ours, theirs = _parties(isa, options)
    note = "000"
    status = "A"
    for error in outcome.errors:
        code = _code(error, "TA1")
        if code:
            note, status = code, "R"
            break
    else:
        if outcome.errors:
            status = "R"
    delims = outcome.delimiters
    version = _version(isa)
    header = interchange_header(
        sender=ours,
        receiver=theirs,
        control=interchange_control,
        version=version,
        now=options.now,
        delimiters=delims,
        test=element(isa, 15).strip() == "T",
    )
    ta1: Segment = (
        "TA1",
        element(isa, 13).strip(),
        element(isa, 9).strip(),
        element(isa, 10).strip(),
        status,
        note,
    )
    iea: Segment = ("IEA", "0", f"{interchange_control:09d}")
    return encode(render_segments([header, ta1, iea], delims))


def build_functional_ack(
    outcome: InterchangeOutcome,
    options: TranslatorOptions,
    *,
    interchange_control: int,
    group_control: int,
    transaction_control: int,
) -> tuple[bytes, FunctionalAckKind, bool] | None:
    """Render the 997/999 interchange answering every group of one inbound interchange.

    One GS/GE per inbound group (so each ack group can mirror its version),
    one ST/SE inside each.  Group and transaction control numbers count up
    from the given ones.

    Args:
        outcome: the inbound interchange's outcome.
        options: ``x12_ack``, ``now`` and ``our_ids``.
        interchange_control: ISA13 of the ack.
        group_control: GS06 of the first ack group.
        transaction_control: ST02 of the first ack set.

    Returns:
        (bytes, the kind of the first group's ack, True when every group was
        accepted), or None when there is nothing to acknowledge (no groups,
        or only acknowledgment groups).
    """
    groups = [g for g in outcome.groups if element(g.header, 1) != "FA"]
    if not groups:
        return None
    isa = outcome.header
    delims = outcome.delimiters
    ours, theirs = _parties(isa, options)
    version = _version(isa)
    segments: list[Segment] = [
        interchange_header(
            sender=ours,
            receiver=theirs,
            control=interchange_control,
            version=version,
            now=options.now,
            delimiters=delims,
            test=element(isa, 15).strip() == "T",
        )
    ]
    first_kind: FunctionalAckKind | None = None
    all_accepted = True
    gs_control = group_control
    st_control = transaction_control
    for group in groups:
        inbound_version = element(group.header, 8)
        kind = ack_kind_for(inbound_version, options)
        first_kind = first_kind or kind
        gs_version = inbound_version if kind == "997" else IMPLEMENTATION_999
        gs = group_header(
            functional_id="FA",
            sender=element(group.header, 3),
            receiver=element(group.header, 2),
            control=gs_control,
            version=gs_version or "004010",
            now=options.now,
        )
        body = _with_component(functional_ack_body(group, kind), delims)
        if body[-1][1] != "A":
            all_accepted = False
        control = f"{st_control:04d}"
        st: Segment = ("ST", kind, control, IMPLEMENTATION_999) if kind == "999" else ("ST", kind, control)
        segments.append(gs)
        segments.append(st)
        segments.extend(body)
        segments.append(("SE", str(len(body) + 2), control))
        segments.append(("GE", "1", str(gs_control)))
        gs_control += 1
        st_control += 1
    segments.append(("IEA", str(len(groups)), f"{interchange_control:09d}"))
    assert first_kind is not None  # groups is not empty
    return encode(render_segments(segments, delims)), first_kind, all_accepted


# -- inbound acknowledgments ---------------------------------------------------------------------------


def parse_ta1(segment: Segment) -> dict[str, Any]:
    """Read one inbound TA1 into a ``functional_ack`` document.

    Args:
        segment: the TA1 tuple.

    Returns:
        ``{"ack_type": "TA1", "interchange_control_number": ..., "status": ...,
        "error_codes": [...], "extensions": {"date": ..., "time": ...}}``.
    """
    note = element(segment, 5)
    return {
        "ack_type": "TA1",
        "interchange_control_number": element(segment, 1) or None,
        "status": element(segment, 4) or None,
        "error_codes": [note] if note and note != "000" else [],
        "transactions": [],
        "extensions": {"date": element(segment, 2), "time": element(segment, 3), "note_code": note},
    }


def parse_functional_ack(tx: TransactionSet) -> dict[str, Any]:
    """Read an inbound 997 or 999 into a ``functional_ack`` document.

    Never raises on odd structure (e.g. IK5 before AK2): segments that do
    not fit are kept under ``extensions.unplaced``.

    Args:
        tx: the 997/999 transaction set.

    Returns:
        A dict shaped like :class:`translators.models.functional_ack.FunctionalAck`.
    """
    doc: dict[str, Any] = {"ack_type": tx.set_id, "error_codes": [], "transactions": []}
    unplaced: list[list[str]] = []
    current: dict[str, Any] | None = None
    last_segment: dict[str, Any] | None = None
    for position, seg in enumerate(tx.segments, 1):
        tag = seg[0]
        if tag == "AK1":
            doc["functional_id"] = element(seg, 1) or None
            doc["group_control_number"] = element(seg, 2) or None
            if element(seg, 3):
                doc["version"] = element(seg, 3)
        elif tag == "AK2":
            current = {
                "set_id": element(seg, 1) or None,
                "control_number": element(seg, 2),
                "error_codes": [],
                "segment_errors": [],
            }
            if element(seg, 3):
                current["implementation_reference"] = element(seg, 3)
            doc["transactions"].append(current)
            last_segment = None
        elif tag in ("AK3", "IK3") and current is not None:
            last_segment = {
                "segment_tag": element(seg, 1) or None,
                "position": int(element(seg, 2)) if element(seg, 2).isdecimal() else None,
                "loop_id": element(seg, 3) or None,
                "error_code": element(seg, 4) or None,
                "context": [],
                "element_errors": [],
            }
            current["segment_errors"].append(last_segment)
        elif tag in ("AK4", "IK4") and last_segment is not None:
            pos = element(seg, 1).split(tx.delimiters.component)
            last_segment["element_errors"].append(
                {
                    "position": int(pos[0]) if pos[0].isdecimal() else None,
                    "component_position": int(pos[1]) if len(pos) > 1 and pos[1].isdecimal() else None,
                    "repetition": int(pos[2]) if len(pos) > 2 and pos[2].isdecimal() else None,
                    "element_reference": element(seg, 2) or None,
                    "error_code": element(seg, 3) or None,
                    "bad_value": element(seg, 4) or None,
                }
            )
        elif tag == "CTX" and last_segment is not None:
            last_segment["context"].append(tx.delimiters.element.join(seg[1:]))
        elif tag in ("AK5", "IK5") and current is not None:
            current["status"] = element(seg, 1) or None
            current["error_codes"] = [c for c in seg[2:] if c]
            current = None
            last_segment = None
        elif tag == "AK9":
            doc["status"] = element(seg, 1) or None
            for key, index in (
                ("transactions_included", 2),
                ("transactions_received", 3),
                ("transactions_accepted", 4),
            ):
                value = element(seg, index)
                if value.isdecimal():
                    doc[key] = int(value)
            doc["error_codes"] = [c for c in seg[5:] if c]
        elif tag not in ("ST", "SE"):
            unplaced.append([str(position), *seg])
    if unplaced:
        doc["extensions"] = {"unplaced": unplaced}
    return doc


__all__ = [
    "IMPLEMENTATION_999",
    "STREAMING_AK2_LIMIT",
    "FunctionalAckKind",
    "GroupOutcome",
    "InterchangeOutcome",
    "TransactionOutcome",
    "accepted_outcome",
    "ack_kind_for",
    "build_functional_ack",
    "build_ta1",
    "functional_ack_body",
    "parse_functional_ack",
    "parse_ta1",
]
