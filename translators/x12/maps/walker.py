"""Handlers for segments that mean the same in every set, and the walk state they share.

Context rules (from the X12 loop structure, without a full loop tree):

* a segment that continues an N1 loop (N2, N3, N4, REF, PER, G61) belongs to
  the party only when it directly follows that loop's previous segment —
  ``party_pos`` remembers where the loop last grew;
* MSG belongs to the N9 directly before it (X12 N9 loop: N9 then MSG);
* once a line item opened (PO1, IT1, LX, W01 ...), line-level segments go to
  that line until the summary (CTT, SE) closes it.

A handler returns False when the segment has no place in the current
context; the runner then keeps it verbatim in ``extensions``.
"""

from __future__ import annotations

from typing import Any

from ..syntax import Segment
from . import blocks as b
from .context import Handler, MapContext, Placement, placed
from .context import add_item as _add

Doc = dict[str, Any]


class State:
    """Walk state shared by the generic handlers; maps subclass it for their own levels."""

    __slots__ = (
        "ctx",
        "doc",
        "line",
        "line_keys",
        "note_pos",
        "note_ref",
        "party",
        "party_pos",
        "store",
        "totals",
    )

    def __init__(
        self, ctx: MapContext, doc: Doc, *, line_keys: frozenset[str] = frozenset(), store: bool = False
    ) -> None:
        self.ctx = ctx
        #: the document has a ``store_number`` (purchase_order)
        self.store = store
        self.doc = doc
        self.line: Doc | None = None
        #: keys the open line's model accepts besides LineBase's (e.g. "parties")
        self.line_keys = line_keys
        self.party: Doc | None = None
        self.party_pos = -9
        self.note_ref: Doc | None = None
        self.note_pos = -9
        self.totals: Doc = {}

    def scope(self, key: str) -> Doc | None:
        """The line when one is open and accepts ``key``, else the header; None if neither may."""
        if self.line is None:
            return self.doc
        if key in ("references", "dates", "notes") or key in self.line_keys:
            return self.line
        return None


def h_ref(st: State, seg: Segment, pos: int) -> bool:
    party = st.party
    if party is not None and st.party_pos == pos - 1:
        _add(party, "references", b.ref(seg))
        st.party_pos = pos
        return True
    line = st.line
    if line is not None:
        _add(line, "references", b.ref(seg))
        return True
    doc = st.doc
    if st.store:
        store_reference = st.ctx.store_reference
        if (
            store_reference is not None
            and b.el(seg, 1) == store_reference
            and b.el(seg, 2)
            and "store_number" not in doc
        ):
            doc["store_number"] = seg[2]
            return True
    _add(doc, "references", b.ref(seg))
    return True


def h_per(st: State, seg: Segment, pos: int) -> bool:
    contact = b.per(seg)
    party = st.party
    if party is not None and st.party_pos == pos - 1:
        _add(party, "contacts", contact)
        st.party_pos = pos
        return True
    if st.line is not None:
        return False
    _add(st.doc, "contacts", contact)
    return True


def h_g61(st: State, seg: Segment, pos: int) -> bool:
    party = st.party
    if party is not None and st.party_pos == pos - 1:
        _add(party, "contacts", b.g61(seg))
        st.party_pos = pos
        return True
    return False


def h_dtm(st: State, seg: Segment, pos: int) -> bool:
    line = st.line
    _add(st.doc if line is None else line, "dates", b.dtm(st.ctx, seg, pos))
    return True


def h_g62(st: State, seg: Segment, pos: int) -> bool:
    line = st.line
    _add(st.doc if line is None else line, "dates", b.g62(st.ctx, seg, pos))
    return True


def h_n1(st: State, seg: Segment, pos: int) -> bool:
    line = st.line
    if line is None:
        target = st.doc
    elif "parties" in st.line_keys:
        target = line
    else:
        return False
    party = b.n1(seg)
    _add(target, "parties", party)
    st.party = party
    st.party_pos = pos
    if st.store:
        role = st.ctx.store_party_role
        if role is not None and b.el(seg, 1) == role and "id" in party:
            st.doc.setdefault("store_number", party["id"])
    return True


def h_n2(st: State, seg: Segment, pos: int) -> bool:
    party = st.party
    if party is None or st.party_pos != pos - 1:
        return False
    st.party_pos = pos
    b.n2(party, seg)
    return True


def h_n3(st: State, seg: Segment, pos: int) -> bool:
    party = st.party
    if party is None or st.party_pos != pos - 1:
        return False
    st.party_pos = pos
    b.n3(party, seg)
    return True


def h_n4(st: State, seg: Segment, pos: int) -> bool:
    party = st.party
    if party is None or st.party_pos != pos - 1:
        return False
    st.party_pos = pos
    b.n4(party, seg)
    return True


def h_nte(st: State, seg: Segment, pos: int) -> bool:
    line = st.line
    _add(st.doc if line is None else line, "notes", b.nte(seg))
    return True


def h_n9(st: State, seg: Segment, pos: int) -> bool:
    line = st.line
    ref = b.ref(seg)
    _add(st.doc if line is None else line, "references", ref)
    st.note_ref = ref
    st.note_pos = pos
    return True


def h_msg(st: State, seg: Segment, pos: int) -> bool:
    note_ref = st.note_ref
    if note_ref is None or st.note_pos != pos - 1:
        return False
    _add(note_ref, "text", b.el(seg, 1))
    st.note_pos = pos
    return True


def h_td5(st: State, seg: Segment, pos: int) -> bool:
    if st.line is not None:
        return False
    _add(st.doc, "carriers", b.td5(seg))
    return True


def h_td3(st: State, seg: Segment, pos: int) -> bool:
    if st.line is not None:
        return False
    b.td3(st.doc.setdefault("carriers", []), seg)
    return True


def h_itd(st: State, seg: Segment, pos: int) -> bool:
    if st.line is not None:
        return False
    _add(st.doc, "payment_terms", b.itd(st.ctx, seg, pos))
    return True


def h_fob(st: State, seg: Segment, pos: int) -> bool:
    if st.line is not None:
        return False
    _add(st.doc, "fob", b.el(seg, 1))
    return True


def h_cur(st: State, seg: Segment, pos: int) -> bool:
    if st.line is not None or "currency" in st.doc or len(seg) < 3 or not seg[2]:
        return False
    st.doc["currency"] = seg[2]
    return True


def h_sac(st: State, seg: Segment, pos: int) -> bool:
    target = st.scope("allowances_charges")
    if target is None:
        return False
    _add(target, "allowances_charges", b.sac(st.ctx, seg, pos))
    return True


def h_txi(st: State, seg: Segment, pos: int) -> bool:
    target = st.scope("taxes")
    if target is None:
        return False
    _add(target, "taxes", b.txi(st.ctx, seg, pos))
    return True


def h_ctt(st: State, seg: Segment, pos: int) -> bool:
    st.line = None
    b.ctt(st.ctx, seg, pos, st.totals)
    return True


def h_amt(st: State, seg: Segment, pos: int) -> bool:
    b.amt(st.ctx, seg, pos, st.totals, total_qualifiers=("TT", "1", "GV", "N"))
    return True


Entry = tuple[Handler, Placement]

#: Generic handlers by tag, to be picked by each map.
COMMON: dict[str, Entry] = {
    "REF": (h_ref, b.REF_PLACED),
    "PER": (h_per, b.PER_PLACED),
    "G61": (h_g61, b.G61_PLACED),
    "DTM": (h_dtm, b.DTM_PLACED),
    "G62": (h_g62, b.G62_PLACED),
    "N1": (h_n1, b.N1_PLACED),
    "N2": (h_n2, b.N2_PLACED),
    "N3": (h_n3, b.N3_PLACED),
    "N4": (h_n4, b.N4_PLACED),
    "NTE": (h_nte, b.NTE_PLACED),
    "N9": (h_n9, b.REF_PLACED),
    "MSG": (h_msg, placed(1)),
    "TD5": (h_td5, b.TD5_PLACED),
    "TD3": (h_td3, b.TD3_PLACED),
    "ITD": (h_itd, b.ITD_PLACED),
    "FOB": (h_fob, placed(1)),
    "CUR": (h_cur, placed(1, 2)),
    "SAC": (h_sac, b.SAC_PLACED),
    "TXI": (h_txi, b.TXI_PLACED),
    "CTT": (h_ctt, b.CTT_PLACED),
    "AMT": (h_amt, b.AMT_PLACED),
}


def pick(*tags: str) -> dict[str, Entry]:
    """The generic handlers for ``tags``."""
    return {t: COMMON[t] for t in tags}


def finish_totals(st: State, *, amount_key: str = "totals") -> None:
    """Attach collected totals to the document."""
    if st.totals:
        st.doc[amount_key] = st.totals


__all__ = ["COMMON", "Entry", "State", "finish_totals", "pick"]
