"""Segment-order, element and hierarchy checks of one transaction set.

Strategy: one pass over the segments with a stack of open loops (the usual
X12 loop matching: a segment belongs to the innermost open loop that still
has a place for it at or after the current position; otherwise the loop
closes and its parent is tried, where the segment may start the loop
again).  Each finding becomes a :class:`RemoteSyntaxError` whose
``ack_hint`` is the 997/999 code (``AK3:<720>``, ``AK4:<723>``) and whose
location names the segment (ST = position 1), element and component, so
the ack builder can group AK4s under their AK3.

Severity follows the gateway's rule: everything here has scope
``segment`` (reported, accepted with errors unless ``options.strict``)
except what makes the whole set unusable, which has scope ``transaction``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ...errors import Location, RemoteSyntaxError, Scope
from ..maps.values import iso_date, iso_time
from ..syntax import Segment, TransactionSet
from .rules import RULES
from .segments import CODES, CONDITIONS, SEGMENTS, ElementDef
from .structures import SET_TAGS, STRUCTURES, Node

_NUMERIC = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE]-?[0-9]+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

#: level codes the hierarchy checks know (X12 735), with the levels each may sit under.
_HL_PARENTS: dict[str, frozenset[str]] = {
    "S": frozenset(),
    "O": frozenset({"S"}),
    "T": frozenset({"S", "O"}),
    "P": frozenset({"S", "O", "T", "P", "I", "Q"}),
    "Q": frozenset({"P", "T", "O", "S", "I"}),
    "I": frozenset({"S", "O", "T", "P", "Q"}),
}


_POSITIONS: Final[dict[int, dict[str, tuple[int, ...]]]] = {}


def _positions(nodes: tuple[Node, ...]) -> dict[str, tuple[int, ...]]:
    """tag -> indexes of the nodes (segments or loop triggers) with that tag, cached per node list."""
    key = id(nodes)
    got = _POSITIONS.get(key)
    if got is None:
        index: dict[str, list[int]] = {}
        for k, node in enumerate(nodes):
            index.setdefault(node.tag, []).append(k)
        got = {tag: tuple(ks) for tag, ks in index.items()}
        _POSITIONS[key] = got
    return got


@dataclass(slots=True)
class _Frame:
    nodes: tuple[Node, ...]
    index: int = 0
    counts: dict[int, int] = field(default_factory=dict)
    #: 1 inside a loop: its trigger (node 0) only ever starts a new iteration, in the parent
    first: int = 0
    where: dict[str, tuple[int, ...]] = field(default_factory=dict)


#: tag -> (element definitions, mandatory positions, relational conditions), built once.
_COMPILED: dict[
    str, tuple[tuple[ElementDef, ...], tuple[int, ...], tuple[tuple[str, tuple[int, ...]], ...]]
] = {
    tag: (defs, tuple(i for i, d in enumerate(defs, start=1) if d.required == "M"), CONDITIONS.get(tag, ()))
    for tag, defs in SEGMENTS.items()
}


Finding = tuple[str, str, int]  # message, ack hint, element position
Raw = tuple[
    str, str, str | None, int | None, int | None, Scope
]  # message, hint, tag, position, element, scope
_STRUCTURE_CACHE: Final[dict[tuple[str, tuple[str, ...]], tuple[list[bool], list[Raw]]]] = {}
_STRUCTURE_LIMIT: Final = 1024


def _value_findings(
    tag: str, i: int, value: str, d: ElementDef, *, pre_4010: bool, out: list[Finding]
) -> None:
    # Only runs on a cache miss, but then for every element: the element name (a format call) is
    # built only for a finding.
    kind = d.type
    if kind == "DT":
        if not value.isascii() or not value.isdigit() or len(value) not in (6, 8) or iso_date(value) is None:
            out.append((f"{tag}{i:02d} {value!r} is not a valid date", "AK4:8", i))
        elif len(value) == 6 and not pre_4010:
            out.append((f"{tag}{i:02d} {value!r} is a 6-digit date where CCYYMMDD is required", "AK4:4", i))
        return
    if kind == "TM":
        if iso_time(value) is None:
            out.append((f"{tag}{i:02d} {value!r} is not a valid time", "AK4:9", i))
        return
    size = len(value)
    if kind == "R" or kind[0] == "N":
        if kind == "R":
            if not _DECIMAL.fullmatch(value):
                out.append((f"{tag}{i:02d} {value!r} is not a decimal number", "AK4:6", i))
                return
            # X12.6: the minus sign and the decimal point do not count towards the length (the
            # pattern leaves only ASCII digits besides "-", "." and an exponent's "e"/"E").
            size -= value.count("-") + value.count(".") + value.count("e") + value.count("E")
        else:
            if not _NUMERIC.fullmatch(value):
                out.append((f"{tag}{i:02d} {value!r} is not a whole number", "AK4:6", i))
                return
            size -= value.count("-")
    if size < d.min:
        out.append((f"{tag}{i:02d} {value!r} is shorter than {d.min}", "AK4:4", i))
    elif size > d.max:
        out.append((f"{tag}{i:02d} {value!r} is longer than {d.max}", "AK4:5", i))
    if d.codes is not None and value not in CODES[d.codes]:
        out.append((f"{tag}{i:02d} {value!r} is not a valid code (X12 {d.codes})", "AK4:7", i))


def _condition_findings(
    tag: str, kind: str, positions: tuple[int, ...], present: list[int], out: list[Finding]
) -> None:
    if len(present) == len(positions) and kind != "E":
        return
    names = ", ".join(f"{tag}{p:02d}" for p in positions)
    if kind == "P" and present:
        missing = next(p for p in positions if p not in present)
        out.append((f"{names} must be used together", "AK4:2", missing))
    elif kind == "R" and not present:
        out.append((f"at least one of {names} is required", "AK4:2", positions[0]))
    elif kind == "E" and len(present) > 1:
        out.append((f"only one of {names} may be used", "AK4:10", present[1]))
    elif kind == "C" and positions[0] in present:
        missing = next(p for p in positions if p not in present)
        out.append((f"{tag}{missing:02d} is required when {tag}{positions[0]:02d} is used", "AK4:2", missing))
    elif kind == "L" and positions[0] in present and len(present) == 1:
        others = ", ".join(f"{tag}{p:02d}" for p in positions[1:])
        out.append(
            (f"one of {others} is required when {tag}{positions[0]:02d} is used", "AK4:2", positions[1])
        )


def _element_findings(seg: Segment, pre_4010: bool) -> tuple[Finding, ...]:
    """Every element-level finding of one segment (X12.6 types, lengths, codes, syntax notes)."""
    tag = seg[0]
    spec = _COMPILED.get(tag)
    if spec is None:
        return ()
    defs, mandatory, conditions = spec
    out: list[Finding] = []
    n = len(seg)
    size = len(defs)
    if n - 1 > size and any(seg[size + 1 :]):
        extra = next(i for i in range(size + 1, n) if seg[i])
        out.append((f"{tag} has {n - 1} elements, more than the {size} defined", "AK4:3", extra))
    for i in mandatory:
        if i >= n or not seg[i]:
            out.append((f"mandatory element {tag}{i:02d} is missing", "AK4:1", i))
    bad_char = _CONTROL.search("".join(seg)) is not None
    for i in range(1, n if n <= size else size + 1):
        value = seg[i]
        if not value:
            continue
        d = defs[i - 1]
        if bad_char and _CONTROL.search(value):
            out.append((f"{tag}{i:02d} holds a control character", "AK4:6", i))
        elif d.type != "C":
            _value_findings(tag, i, value, d, pre_4010=pre_4010, out=out)
    for kind, positions in conditions:
        present = [p for p in positions if p < n and seg[p]]
        if present or kind == "R":
            _condition_findings(tag, kind, positions, present, out)
    return tuple(out)


class _Checker:
    __slots__ = ("pre_4010", "raw", "tx")

    def __init__(self, tx: TransactionSet) -> None:
        self.tx = tx
        self.raw: list[Raw] = []
        self.pre_4010 = tx.version[:6] < "004010"

    def report(
        self,
        message: str,
        hint: str,
        *,
        tag: str | None,
        position: int | None,
        element: int | None = None,
        scope: Scope = "segment",
    ) -> None:
        self.raw.append((message, hint, tag, position, element, scope))

    def errors(self) -> list[RemoteSyntaxError]:
        """The findings as errors located in this transaction set."""
        tx = self.tx
        return [
            RemoteSyntaxError(
                f"{tx.set_id} {tx.control}: {message}",
                ack_hint=hint,
                scope=scope,
                location=Location(
                    interchange=tx.interchange_control or None,
                    group=tx.group_control or None,
                    transaction=tx.control,
                    segment_tag=tag,
                    segment_position=position,
                    element_position=element,
                ),
            )
            for message, hint, tag, position, element, scope in self.raw
        ]

    # -- structure ---------------------------------------------------------------

    def _missing(self, frame: _Frame, start: int, stop: int, position: int) -> None:
        for k in range(start, stop):
            node = frame.nodes[k]
            if node.required and frame.counts.get(k, 0) == 0:
                what = "loop" if node.children is not None else "segment"
                self.report(
                    f"mandatory {what} {node.tag} is missing before segment {position}",
                    "AK3:3",
                    tag=node.tag,
                    position=position,
                )

    def structure(self, segments: tuple[Segment, ...], memo: CleanMemo | None = None) -> list[bool]:
        """Check segment order; return, per segment, whether it had a defined place.

        The outcome depends only on the sequence of tags, so it is memoised (bounded); ``memo``
        also keeps the last set's tags and outcome, for a file whose sets share their layout.
        """
        set_id = self.tx.set_id
        if memo is not None and memo.layout_set == set_id:
            # Tags are interned by the reader, so equal layouts are mostly told by identity tests
            # alone (a tag that is not the same object only sends the set down the longer path):
            # no tuple of tags is built and hashed for the cache.
            tags = memo.layout
            count = len(segments)
            if len(tags) == count:
                index = 0
                while index < count and tags[index] is segments[index][0]:
                    index += 1
                if index == count:
                    same = memo.layout_outcome
                    self.raw.extend(same[1])
                    return same[0]
        # Over a tuple, the comprehension is a native indexed loop once compiled (over a Sequence
        # it was iterated generically).
        key = (set_id, tuple([seg[0] for seg in segments]))
        hit = _STRUCTURE_CACHE.get(key)
        if hit is None:
            start = len(self.raw)
            placed = self._structure(segments)
            if len(_STRUCTURE_CACHE) >= _STRUCTURE_LIMIT:
                _STRUCTURE_CACHE.clear()
            hit = _STRUCTURE_CACHE[key] = (placed, self.raw[start:])
        else:
            self.raw.extend(hit[1])
        if memo is not None:
            memo.layout_set = set_id
            memo.layout = key[1]
            memo.layout_outcome = hit
        return hit[0]

    def _structure(self, segments: Sequence[Segment]) -> list[bool]:
        nodes = STRUCTURES[self.tx.set_id]
        stack = [_Frame(nodes, where=_positions(nodes))]
        known = SET_TAGS[self.tx.set_id]
        placed: list[bool] = []
        for index, seg in enumerate(segments):
            position = index + 1
            tag = seg[0]
            level = len(stack) - 1
            found = False
            while level >= 0:
                frame = stack[level]
                start = frame.index if frame.index > frame.first else frame.first
                j = next((k for k in frame.where.get(tag, ()) if k >= start), None)
                if j is None:
                    level -= 1
                    continue
                for closed in stack[level + 1 :]:
                    self._missing(closed, closed.index + 1, len(closed.nodes), position)
                del stack[level + 1 :]
                self._missing(frame, frame.index + (1 if frame.counts.get(frame.index) else 0), j, position)
                frame.index = j
                count = frame.counts.get(j, 0) + 1
                frame.counts[j] = count
                node = frame.nodes[j]
                if node.max_use and count > node.max_use:
                    kind, code = ("loop", "AK3:4") if node.children is not None else ("segment", "AK3:5")
                    self.report(
                        f"{kind} {tag} occurs {count} times, more than the {node.max_use} allowed",
                        code,
                        tag=tag,
                        position=position,
                    )
                if node.children is not None:
                    stack.append(_Frame(node.children, 0, {0: 1}, 1, _positions(node.children)))
                found = True
                break
            placed.append(found)
            if found:
                continue
            if tag in known:
                self.report(f"segment {tag} is not expected here", "AK3:2", tag=tag, position=position)
            elif tag in SEGMENTS or re.fullmatch(r"[A-Z][A-Z0-9]{1,2}", tag):
                self.report(
                    f"segment {tag} is not in the {self.tx.set_id} transaction set",
                    "AK3:7",
                    tag=tag,
                    position=position,
                )
            else:
                self.report(f"segment tag {tag!r} is not recognised", "AK3:1", tag=tag, position=position)
        end = len(segments) + 1
        for frame in reversed(stack):
            self._missing(frame, frame.index + 1, len(frame.nodes), end)
        return placed

    # -- 856 hierarchy -------------------------------------------------------------------

    def hierarchy(self, segments: Sequence[Segment]) -> None:
        levels: dict[str, str] = {}
        expected = 1
        first = True
        for index, seg in enumerate(segments):
            if seg[0] != "HL":
                continue
            pos = index + 1
            hid = seg[1] if len(seg) > 1 else ""
            parent = seg[2] if len(seg) > 2 else ""
            level = seg[3] if len(seg) > 3 else ""
            if hid != str(expected):
                self.report(
                    f"HL01 {hid!r} breaks the sequence (expected {expected})",
                    "AK4:7",
                    tag="HL",
                    position=pos,
                    element=1,
                )
            if hid.isascii() and hid.isdigit():
                expected = int(hid) + 1
            if hid in levels:
                self.report(f"HL01 {hid!r} is used twice", "AK4:7", tag="HL", position=pos, element=1)
            if first and level != "S" and self.tx.set_id == "856":
                self.report(
                    "the first HL of a ship notice must be the shipment level (S)",
                    "AK4:7",
                    tag="HL",
                    position=pos,
                    element=3,
                )
            first = False
            if parent:
                parent_level = levels.get(parent)
                if parent_level is None:
                    self.report(
                        f"HL02 {parent!r} does not name an earlier HL",
                        "AK4:7",
                        tag="HL",
                        position=pos,
                        element=2,
                    )
                else:
                    allowed = _HL_PARENTS.get(level)
                    if allowed is not None and parent_level not in allowed:
                        self.report(
                            f"HL level {level!r} cannot sit under level {parent_level!r}",
                            "AK4:7",
                            tag="HL",
                            position=pos,
                            element=3,
                        )
            elif level != "S" and levels:
                self.report(
                    f"HL02 is empty for level {level!r}; the parent is inferred",
                    "AK4:2",
                    tag="HL",
                    position=pos,
                    element=2,
                )
            levels[hid] = level
        if self.tx.set_id == "856" and "S" not in levels.values():
            self.report(
                "the ship notice has no shipment level (HL S)",
                "AK5:5",
                tag="HL",
                position=None,
                scope="transaction",
            )


class CleanMemo:
    """Segments the flat rules vouched for, remembered for one file (or stream).

    A segment's element findings depend on its content alone (tag, elements) and the rules are
    static, so a segment seen clean once is clean in any later set. The memo lives as long as the
    translation of one file: the reader of that file hands out the same tuple for a segment that
    repeats verbatim, so a hit is a tuple hash and an identity compare (a memo shared by every
    file held tuples of other files, each hit then compared element by element, and it kept
    partners' segments in memory between files). Bounded; only clean segments are kept. Input
    whose segments do not repeat fills it with few hits: it then rests for a while (a hash and an
    insert per segment, and tuples kept alive, for nothing).
    """

    __slots__ = ("hits", "layout", "layout_outcome", "layout_set", "paused", "positions", "segments")

    def __init__(self) -> None:
        #: the tags of the last set checked, its set id, and the outcome of its structure check
        self.layout: tuple[str, ...] = ()
        self.layout_set = ""
        self.layout_outcome: tuple[list[bool], list[Raw]] = ([], [])
        self.segments: dict[Segment, bool] = {}
        #: a segment found clean, by its position in the set it was last seen at: a file's sets
        #: mostly repeat their layout (header, parties, terms), so the same tuple at the same
        #: position is found by an identity test, without hashing the tuple
        self.positions: list[Segment | None] = []
        self.hits = 0  # since it last started afresh
        self.paused = 0  # transaction sets still to check without it


_CLEAN_LIMIT: Final = 4096
_CLEAN_PAUSE_SETS: Final = 2048


def check(tx: TransactionSet, memo: CleanMemo | None = None) -> list[RemoteSyntaxError]:
    """Run every check that applies to ``tx``; see :func:`translators.x12.definitions.validate`.

    ``memo`` carries the segments found clean in earlier sets of the same file; without one,
    every segment is checked.
    """
    if tx.set_id not in STRUCTURES:
        return []
    checker = _Checker(tx)
    segments = tx.segments
    if memo is None:
        memo = CleanMemo()
    placed = checker.structure(segments, memo)
    # Most segments are valid: the flat rules vouch for those without building anything, and only
    # the others pay for the full check, which words every finding.
    pre_4010 = checker.pre_4010
    plain = tx.plain
    raw = checker.raw
    clean = memo.segments
    positions = memo.positions
    use_memo = memo.paused <= 0
    if not use_memo:
        memo.paused -= 1
    elif len(positions) < len(segments):
        positions.extend([None] * (len(segments) - len(positions)))
    # Indexed, not zip(): a native loop once compiled (zip is iterated generically).
    for index in range(min(len(segments), len(placed))):
        if not placed[index]:
            continue
        seg = segments[index]
        # Whatever a position holds was found clean (in this set or an earlier one); never an ST
        # or SE, so this identity test may come before the tag test below, which most segments
        # then skip (two string compares each).
        if use_memo and positions[index] is seg:
            memo.hits += 1
            continue
        tag = seg[0]
        if tag in ("ST", "SE"):
            # Judged by the envelope checks; before the memo's lookup, as no memo ever holds them
            # (their control numbers differ from set to set, so looking them up hashed a new tuple
            # twice a set).
            continue
        if use_memo and seg in clean:
            memo.hits += 1
            positions[index] = seg
            continue
        position = index + 1
        rule = RULES.get(tag)
        if rule is None:
            continue
        if rule.clean(seg, plain):
            if use_memo:
                if len(clean) >= _CLEAN_LIMIT:
                    if memo.hits < _CLEAN_LIMIT // 2:
                        memo.paused = _CLEAN_PAUSE_SETS
                    memo.hits = 0
                    clean.clear()
                clean[seg] = True
                positions[index] = seg
            continue
        for message, hint, element in _element_findings(seg, pre_4010):
            raw.append((message, hint, tag, position, element, "segment"))
    if "HL" in SET_TAGS[tx.set_id]:
        checker.hierarchy(segments)
    return checker.errors()


__all__ = ["CleanMemo", "check"]
