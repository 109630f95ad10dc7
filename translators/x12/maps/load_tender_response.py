"""X12 990 Response to a Load Tender <-> ``load_tender_response``.

Placement: B1 SCAC, shipment id, date, reservation action code (A accept,
D decline); N9 references; V9 decline reason (V9 event code when B104 = D);
NTE and K1 notes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from . import values
from .context import MapContext, missing, placed, run
from .walker import Entry, State, pick

Doc = dict[str, Any]

DOCUMENT_TYPE = "load_tender_response"


class _Resp(State):
    __slots__ = ("seen",)

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        super().__init__(ctx, doc)
        self.seen = False


def _b1(st: _Resp, seg: Segment, pos: int) -> bool:
    st.seen = True
    b.put(st.doc, "scac", b.el(seg, 1))
    st.doc["shipment_id"] = b.el(seg, 2)
    b.put(st.doc, "date", st.ctx.date(seg, 3, pos))
    b.put(st.doc, "action", b.el(seg, 4))
    return True


def _v9(st: _Resp, seg: Segment, pos: int) -> bool:
    if "decline_reason" in st.doc or not b.el(seg, 1):
        return False
    st.doc["decline_reason"] = seg[1]
    return True


def _k1(st: _Resp, seg: Segment, pos: int) -> bool:
    st.doc.setdefault("notes", []).extend({"qualifier": "K1", "text": t} for t in seg[1:3] if t)
    return True


TABLE: dict[str, Entry] = {
    **pick("N9", "MSG", "NTE"),
    "B1": (_b1, placed(1, 2, 3, 4)),
    "V9": (_v9, placed(1)),
    "K1": (_k1, placed(1, 2)),
}


def read(segments: Sequence[Segment], ctx: MapContext) -> Doc:
    """Map a whole 990 (ST..SE) to a ``load_tender_response`` dict.

    Raises:
        RemoteSyntaxError: no B1 segment.
    """
    doc: Doc = {"shipment_id": ""}
    st = _Resp(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing("990", "B1", "the shipment identification")
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext) -> list[Segment]:
    """Render a ``load_tender_response`` dict as the body of a 990 (without ST/SE)."""
    out: list[Segment] = [
        b.make(
            "B1", doc.get("scac"), doc.get("shipment_id"), values.x12_date(doc.get("date")), doc.get("action")
        )
    ]
    out.extend(b.write_refs(doc.get("references") or [], tag="N9"))
    if doc.get("decline_reason"):
        out.append(b.make("V9", doc["decline_reason"]))
    for n in doc.get("notes") or []:
        if n.get("qualifier") == "K1":
            out.append(b.make("K1", n.get("text")))
        else:
            out.append(b.make("NTE", n.get("qualifier"), n.get("text")))
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
