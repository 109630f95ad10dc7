"""Shared handlers for the warehouse sets (940, 943, 944, 945).

These sets share their header (N1 loops, N9 references, G62 dates, NTE
notes, W27/W66 carrier) and their line shape (LX number, one W-segment with
quantity/unit/product ids, G69 description, N9 references, W20 weight), so
the four maps only differ in their beginning segment and line segment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..syntax import Segment
from . import blocks as b
from .context import MapContext, placed
from .walker import Entry, State, pick

Doc = dict[str, Any]


class WarehouseState(State):
    """Walk state: a line opens on LX or on the W-segment when no LX precedes it."""

    __slots__ = ("lx", "seen")

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        super().__init__(ctx, doc, line_keys=frozenset({"measures", "sscc", "exceptions"}))
        self.lx: str | None = None
        self.seen = False

    def open_line(self) -> Doc:
        """The line the W-segment fills: the one LX opened, or a new one."""
        if self.line is not None and "_open" in self.line:
            del self.line["_open"]
            return self.line
        line: Doc = {}
        self.doc.setdefault("lines", []).append(line)
        self.line = line
        self.party = None
        return line


def h_lx(st: WarehouseState, seg: Segment, pos: int) -> bool:
    line: Doc = {"_open": True}
    b.put(line, "line_number", b.el(seg, 1))
    st.doc.setdefault("lines", []).append(line)
    st.line = line
    st.party = None
    return True


def h_g69(st: WarehouseState, seg: Segment, pos: int) -> bool:
    if st.line is None or "description" in st.line or not b.el(seg, 1):
        return False
    st.line["description"] = seg[1]
    return True


def h_w20(st: WarehouseState, seg: Segment, pos: int) -> bool:
    if st.line is None:
        return False
    m = b.w20(st.ctx, seg, pos)
    if m is None:
        return False
    st.line.setdefault("measures", []).append(m)
    return True


def h_w27(st: WarehouseState, seg: Segment, pos: int) -> bool:
    if st.line is not None:
        return False
    st.doc.setdefault("carriers", []).append(b.w27(seg))
    return True


def finish(st: WarehouseState) -> None:
    """Drop the open-line marker of an LX never followed by its W-segment."""
    for line in st.doc.get("lines", []):
        line.pop("_open", None)
    if st.totals:
        st.doc["totals"] = st.totals


HEADER: dict[str, Entry] = {
    **pick("N1", "N2", "N3", "N4", "PER", "G61", "N9", "MSG", "G62", "NTE"),
    "LX": (h_lx, placed(1)),
    "G69": (h_g69, placed(1)),
    "W20": (h_w20, b.W20_PLACED),
    "W27": (h_w27, b.W27_PLACED),
}


def write_header(doc: Mapping[str, Any], *, carrier: str = "W27") -> list[Segment]:
    """N1 loops, N9 references, G62 dates, NTE notes and the carrier, in X12 warehouse order."""
    out: list[Segment] = []
    for p in doc.get("parties") or []:
        out.extend(b.write_party(p, contact_tag="G61"))
    out.extend(b.write_refs(doc.get("references") or [], tag="N9"))
    out.extend(b.write_g62(d) for d in doc.get("dates") or [])
    out.extend(b.write_notes(doc.get("notes") or []))
    if carrier == "W27":
        out.extend(b.write_w27(c) for c in doc.get("carriers") or [])
    return out


def write_line_tail(line: Mapping[str, Any]) -> list[Segment]:
    """G69 description, N9 references, G62 dates, NTE notes and W20 weights of a line."""
    out: list[Segment] = []
    if line.get("description"):
        out.append(b.make("G69", line["description"]))
    out.extend(b.write_refs(line.get("references") or [], tag="N9"))
    out.extend(b.write_g62(d) for d in line.get("dates") or [])
    out.extend(b.write_notes(line.get("notes") or []))
    out.extend(b.write_w20(m) for m in line.get("measures") or [])
    return out


__all__ = ["HEADER", "WarehouseState", "finish", "write_header", "write_line_tail"]
