"""X12 997 Functional Acknowledgment and 999 Implementation Acknowledgment <-> ``functional_ack``.

Placement: AK1 (acknowledged group: functional id, control number, version);
per transaction set AK2 (set id, control number, implementation reference),
AK3/IK3 segment errors (tag, position, loop id, code), CTX context (999),
AK4/IK4 element errors (position[:component[:repetition]], element reference,
code, bad value), AK5/IK5 status and codes; AK9 group status, counts, codes.
X12-core's ack builder writes acknowledgments itself; this map reads the
partner's acks (and writes ours when asked through :func:`write`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..syntax import Segment
from . import blocks as b
from .context import MapContext, missing, placed, run
from .walker import Entry

Doc = dict[str, Any]

DOCUMENT_TYPE = "functional_ack"


class _Ack:
    __slots__ = ("ctx", "doc", "seen", "segment", "tx")

    def __init__(self, ctx: MapContext, doc: Doc) -> None:
        self.ctx = ctx
        self.doc = doc
        self.tx: Doc | None = None
        self.segment: Doc | None = None
        self.seen = False


def _ak1(st: _Ack, seg: Segment, pos: int) -> bool:
    if st.seen:
        return False
    st.seen = True
    b.put(st.doc, "functional_id", b.el(seg, 1))
    b.put(st.doc, "group_control_number", b.el(seg, 2))
    b.put(st.doc, "version", b.el(seg, 3))
    return True


def _ak2(st: _Ack, seg: Segment, pos: int) -> bool:
    tx: Doc = {"control_number": b.el(seg, 2)}
    b.put(tx, "set_id", b.el(seg, 1))
    b.put(tx, "implementation_reference", b.el(seg, 3))
    st.doc.setdefault("transactions", []).append(tx)
    st.tx = tx
    st.segment = None
    return True


def _ak3(st: _Ack, seg: Segment, pos: int) -> bool:
    if st.tx is None:
        return False
    err: Doc = {}
    b.put(err, "segment_tag", b.el(seg, 1))
    b.put(err, "position", st.ctx.integer(seg, 2, pos))
    b.put(err, "loop_id", b.el(seg, 3))
    b.put(err, "error_code", b.el(seg, 4))
    st.tx.setdefault("segment_errors", []).append(err)
    st.segment = err
    return True


def _ctx(st: _Ack, seg: Segment, pos: int) -> bool:
    if st.segment is None:
        return False
    st.segment.setdefault("context", []).append("*".join(seg[1:]))
    return True


def _ak4(st: _Ack, seg: Segment, pos: int) -> bool:
    if st.segment is None:
        return False
    ctx = st.ctx
    err: Doc = {}
    parts = b.el(seg, 1).split(ctx.component)
    for key, raw in zip(("position", "component_position", "repetition"), parts, strict=False):
        if raw:
            try:
                err[key] = int(raw)
            except ValueError:
                ctx.invalid(pos, seg, 1, "element position")
    b.put(err, "element_reference", b.el(seg, 2))
    b.put(err, "error_code", b.el(seg, 3))
    b.put(err, "bad_value", b.el(seg, 4))
    st.segment.setdefault("element_errors", []).append(err)
    return True


def _ak5(st: _Ack, seg: Segment, pos: int) -> bool:
    if st.tx is None or "status" in st.tx:
        return False
    b.put(st.tx, "status", b.el(seg, 1))
    b.put(st.tx, "error_codes", [c for c in seg[2:7] if c])
    st.segment = None
    return True


def _ak9(st: _Ack, seg: Segment, pos: int) -> bool:
    doc, ctx = st.doc, st.ctx
    if "status" in doc:
        return False
    b.put(doc, "status", b.el(seg, 1))
    b.put(doc, "transactions_included", ctx.integer(seg, 2, pos))
    b.put(doc, "transactions_received", ctx.integer(seg, 3, pos))
    b.put(doc, "transactions_accepted", ctx.integer(seg, 4, pos))
    b.put(doc, "error_codes", [c for c in seg[5:10] if c])
    st.tx = None
    st.segment = None
    return True


TABLE: dict[str, Entry] = {
    "AK1": (_ak1, placed(1, 2, 3)),
    "AK2": (_ak2, placed(1, 2, 3)),
    "AK3": (_ak3, placed(1, 2, 3, 4)),
    "IK3": (_ak3, placed(1, 2, 3, 4)),
    "CTX": (_ctx, placed(*range(1, 10))),
    "AK4": (_ak4, placed(1, 2, 3, 4)),
    "IK4": (_ak4, placed(1, 2, 3, 4)),
    "AK5": (_ak5, placed(1, 2, 3, 4, 5, 6)),
    "IK5": (_ak5, placed(1, 2, 3, 4, 5, 6)),
    "AK9": (_ak9, placed(1, 2, 3, 4, 5, 6, 7, 8, 9)),
}


def read(segments: Sequence[Segment], ctx: MapContext, set_id: str = "997") -> Doc:
    """Map a whole 997 or 999 (ST..SE) to a ``functional_ack`` dict.

    Raises:
        RemoteSyntaxError: no AK1 segment.
    """
    doc: Doc = {"ack_type": set_id}
    st = _Ack(ctx, doc)
    run(segments, TABLE, st, ctx)
    if not st.seen:
        raise missing(set_id, "AK1", "the acknowledged group")
    return doc


def write(doc: Mapping[str, Any], ctx: MapContext, set_id: str = "997") -> list[Segment]:
    """Render a ``functional_ack`` dict as the body of a 997 or 999 (without ST/SE)."""
    seg_tag, el_tag, tx_tag = ("IK3", "IK4", "IK5") if set_id == "999" else ("AK3", "AK4", "AK5")
    out: list[Segment] = [
        b.make(
            "AK1",
            doc.get("functional_id"),
            doc.get("group_control_number"),
            doc.get("version") if set_id == "999" or doc.get("version") else "",
        )
    ]
    for tx in doc.get("transactions") or []:
        out.append(
            b.make("AK2", tx.get("set_id"), tx.get("control_number"), tx.get("implementation_reference"))
        )
        for se in tx.get("segment_errors") or []:
            pos = se.get("position")
            out.append(
                b.make(
                    seg_tag,
                    se.get("segment_tag"),
                    "" if pos is None else str(pos),
                    se.get("loop_id"),
                    se.get("error_code"),
                )
            )
            out.extend(("CTX", *c.split("*")) for c in se.get("context") or [])
            for ee in se.get("element_errors") or []:
                parts = [ee.get("position"), ee.get("component_position"), ee.get("repetition")]
                while parts and parts[-1] is None:
                    parts.pop()
                where = ctx.component.join("" if p is None else str(p) for p in parts)
                out.append(
                    b.make(
                        el_tag, where, ee.get("element_reference"), ee.get("error_code"), ee.get("bad_value")
                    )
                )
        if tx.get("status") or tx.get("error_codes"):
            out.append(b.make(tx_tag, tx.get("status"), *(tx.get("error_codes") or [])))

    def count(key: str) -> str:
        v = doc.get(key)
        return "" if v is None else str(v)

    out.append(
        b.make(
            "AK9",
            doc.get("status"),
            count("transactions_included"),
            count("transactions_received"),
            count("transactions_accepted"),
            *(doc.get("error_codes") or []),
        )
    )
    return out


__all__ = ["DOCUMENT_TYPE", "read", "write"]
