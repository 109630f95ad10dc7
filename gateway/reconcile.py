"""Reconciliation: does Odoo hold the effect of every message the journal says it delivered?

The journal knows what it delivered to each Odoo sink; Odoo knows what it
holds.  This module compares the two, per partner, in few RPCs (batched
``search_read`` by business key):

=====================  =========================================================
document               expected effect in Odoo
=====================  =========================================================
``purchase_order``     a ``sale.order`` with that ``client_order_ref`` for the
                       partner (``child_of`` its commercial entity), not cancelled
``ship_notice`` /      a ``stock.picking`` in state ``done`` whose sale order has
``warehouse_shipping_  that customer reference (or whose name/origin is the
advice``               shipment id)
``invoice``            an ``account.move`` ``in_invoice`` with that ``ref`` for the partner
=====================  =========================================================

**Gaps** are delivered messages whose effect is missing (someone deleted
or cancelled it in Odoo, or a sink bug).  **Extras** are effects that exist
more than once for one key (a duplicate: the exactly-once promise broken)
or EDI-looking records the journal does not know (created by hand with a
customer reference, or from a journal that was purged).  Everything is
reported in plain words; other document types are counted as not checked.

The Odoo side comes in through :class:`OdooCaller` (the agent's transport,
injected by the composition root), so this module imports no agent code.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class OdooCaller(Protocol):
    """``agent.odoo.OdooTransport`` as seen from here."""

    async def call(
        self, model: str, method: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
    ) -> Any: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    """One document the journal delivered to an Odoo sink."""

    message_id: int
    partner: str
    document_type: str
    key: str
    delivered_at: float


@dataclass(slots=True)
class Finding:
    """A gap or an extra, in plain words."""

    kind: str
    partner: str
    key: str
    text: str
    message_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "kind": self.kind,
            "partner": self.partner,
            "key": self.key,
            "message_id": self.message_id,
            "text": self.text,
        }


@dataclass(slots=True)
class ReconcileReport:
    """What :func:`reconcile` found."""

    checked: int = 0
    not_checked: dict[str, int] = field(default_factory=dict)
    gaps: list[Finding] = field(default_factory=list)
    extras: list[Finding] = field(default_factory=list)
    unmapped_partners: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No gap and no extra."""
        return not self.gaps and not self.extras

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "not_checked": self.not_checked,
            "gaps": [g.as_dict() for g in self.gaps],
            "extras": [e.as_dict() for e in self.extras],
            "unmapped_partners": self.unmapped_partners,
        }

    def lines(self) -> list[str]:
        """The report as sentences."""
        out = [f"checked {self.checked} delivered document(s) against Odoo"]
        out += [f"gap: {g.text}" for g in self.gaps]
        out += [f"extra: {e.text}" for e in self.extras]
        for kind, n in sorted(self.not_checked.items()):
            out.append(f"not checked: {n} {kind} document(s) (no rule for their effect in Odoo)")
        for p in self.unmapped_partners:
            out.append(f"not checked: partner {p} has no partner_ref in the odoo sink options")
        if self.ok:
            out.append("no gaps, no extras")
        return out


def _key(document_type: str, document: Mapping[str, Any]) -> str | None:
    if document_type == "purchase_order":
        value = document.get("order_number")
    elif document_type == "invoice":
        value = document.get("invoice_number")
    elif document_type in ("ship_notice", "warehouse_shipping_advice"):
        orders = document.get("orders") or []
        first = orders[0].get("order_number") if orders else None
        value = first or document.get("purchase_order_number") or document.get("shipment_id")
    else:
        return None
    return str(value) if value else None


def delivered_to(
    c: sqlite3.Connection, sinks: Iterable[str], *, since: float | None = None, partner: str | None = None
) -> list[tuple[Delivered | None, str]]:
    """Documents delivered to the given sinks (read-only journal query).

    Returns:
        ``(Delivered, document_type)``; ``Delivered`` is None for a type with no rule.
    """
    names = sorted(set(sinks))
    if not names:
        return []
    marks = ",".join("?" * len(names))
    sql = (
        "SELECT d.message_id, d.updated_at, m.partner, doc.document_type, doc.envelope FROM deliveries d"
        " JOIN documents doc ON doc.id = d.document_id JOIN messages m ON m.id = d.message_id"
        f" WHERE d.state = 'delivered' AND d.sink IN ({marks})"
    )
    args: list[Any] = list(names)
    if since is not None:
        sql += " AND d.updated_at >= ?"
        args.append(since)
    if partner is not None:
        sql += " AND m.partner = ?"
        args.append(partner)
    out: list[tuple[Delivered | None, str]] = []
    for r in c.execute(sql + " ORDER BY d.message_id", args):
        doc_type = str(r["document_type"])
        envelope = json.loads(r["envelope"])
        key = _key(doc_type, envelope.get("document") or {})
        if key is None:
            out.append((None, doc_type))
            continue
        out.append(
            (
                Delivered(
                    message_id=int(r["message_id"]),
                    partner=str(r["partner"]),
                    document_type=doc_type,
                    key=key,
                    delivered_at=float(r["updated_at"]),
                ),
                doc_type,
            )
        )
    return out


async def reconcile(
    items: Sequence[tuple[Delivered | None, str]],
    odoo: OdooCaller,
    partner_refs: Mapping[str, str],
    *,
    since_odoo: str | None = None,
) -> ReconcileReport:
    """Compare delivered documents with what Odoo holds.

    Args:
        items: from :func:`delivered_to`.
        odoo: the Odoo transport.
        partner_refs: gateway partner id → ``res.partner.ref`` (odoo sink options).
        since_odoo: only look for extras among records created since this
            Odoo datetime (``YYYY-MM-DD HH:MM:SS``, UTC); None = all.

    Raises:
        DeliveryError (from the transport): Odoo unreachable or refusing.
    """
    report = ReconcileReport()
    by_partner: dict[str, list[Delivered]] = defaultdict(list)
    for item, doc_type in items:
        if item is None:
            report.not_checked[doc_type] = report.not_checked.get(doc_type, 0) + 1
        else:
            by_partner[item.partner].append(item)
    for partner, delivered in sorted(by_partner.items()):
        ref = partner_refs.get(partner)
        if ref is None:
            report.unmapped_partners.append(partner)
            continue
        found = await odoo.call("res.partner", "search", [[["ref", "=", ref]]], {"limit": 1})
        if not found:
            for d in delivered:
                report.gaps.append(
                    Finding(
                        "gap",
                        partner,
                        d.key,
                        f"message {d.message_id} ({partner} {d.document_type} {d.key}) was delivered, "
                        f"but Odoo has no partner with reference {ref}",
                        d.message_id,
                    )
                )
            continue
        commercial = int(found[0])
        report.checked += len(delivered)
        for doc_type in sorted({d.document_type for d in delivered}):
            mine = [d for d in delivered if d.document_type == doc_type]
            await _check(
                report,
                odoo,
                partner=partner,
                commercial=commercial,
                doc_type=doc_type,
                delivered=mine,
                since_odoo=since_odoo,
            )
    return report


_RULES: dict[str, tuple[str, str, list[Any], str]] = {
    # document type: (model, key field, extra domain, words for the record)
    "purchase_order": ("sale.order", "client_order_ref", [["state", "!=", "cancel"]], "sale order"),
    "invoice": (
        "account.move",
        "ref",
        [["move_type", "=", "in_invoice"], ["state", "!=", "cancel"]],
        "vendor bill",
    ),
    "ship_notice": (
        "stock.picking",
        "sale_id.client_order_ref",
        [["state", "=", "done"]],
        "validated picking",
    ),
    "warehouse_shipping_advice": (
        "stock.picking",
        "sale_id.client_order_ref",
        [["state", "=", "done"]],
        "validated picking",
    ),
}


async def _check(
    report: ReconcileReport,
    odoo: OdooCaller,
    *,
    partner: str,
    commercial: int,
    doc_type: str,
    delivered: list[Delivered],
    since_odoo: str | None,
) -> None:
    model, field_name, extra, words = _RULES[doc_type]
    keys = sorted({d.key for d in delivered})
    domain = [[field_name, "in", keys], ["partner_id", "child_of", commercial], *extra]
    rows = await odoo.call(model, "search_read", [domain], {"fields": ["name"], "load": "_classic_write"})
    counts: dict[str, list[str]] = defaultdict(list)
    if field_name == "sale_id.client_order_ref":
        names = {int(r["id"]): str(r.get("name")) for r in rows}
        # The key sits on the sale order: read it per picking (one more RPC, batched).
        if names:
            detail = await odoo.call(
                model, "read", [sorted(names), ["sale_id", "name", "origin"]], {"load": "_classic_write"}
            )
            sale_ids = sorted({int(r["sale_id"]) for r in detail if r.get("sale_id")})
            refs = {}
            if sale_ids:
                for s in await odoo.call(
                    "sale.order", "read", [sale_ids, ["client_order_ref"]], {"load": "_classic_write"}
                ):
                    refs[int(s["id"])] = s.get("client_order_ref")
            for r in detail:
                ref = refs.get(int(r["sale_id"] or 0))
                if ref:
                    counts[str(ref)].append(str(r["name"]))
    else:
        full = await odoo.call(
            model,
            "read",
            [[int(r["id"]) for r in rows], [field_name, "name"]],
            {"load": "_classic_write"},
        )
        for r in full:
            counts[str(r[field_name])].append(str(r.get("name")))
    for d in delivered:
        if not counts.get(d.key):
            report.gaps.append(
                Finding(
                    "gap",
                    partner,
                    d.key,
                    f"message {d.message_id} ({partner} {doc_type} {d.key}) was delivered, "
                    f"but Odoo has no {words} for it",
                    d.message_id,
                )
            )
    for key in keys:
        if len(counts.get(key, [])) > 1 and doc_type != "ship_notice":
            report.extras.append(
                Finding(
                    "extra",
                    partner,
                    key,
                    f"Odoo holds {len(counts[key])} {words}s for {partner} {key} "
                    f"({', '.join(sorted(counts[key]))}); the journal delivered it once",
                )
            )
    if doc_type == "purchase_order":
        await _unknown_orders(
            report, odoo, partner=partner, commercial=commercial, known=set(keys), since_odoo=since_odoo
        )


async def _unknown_orders(
    report: ReconcileReport,
    odoo: OdooCaller,
    *,
    partner: str,
    commercial: int,
    known: set[str],
    since_odoo: str | None,
) -> None:
    domain: list[Any] = [
        ["client_order_ref", "!=", False],
        ["partner_id", "child_of", commercial],
        ["state", "!=", "cancel"],
    ]
    if since_odoo is not None:
        domain.append(["create_date", ">=", since_odoo])
    rows = await odoo.call(
        "sale.order",
        "search_read",
        [domain],
        {"fields": ["client_order_ref", "name"], "load": "_classic_write"},
    )
    for r in rows:
        ref = str(r["client_order_ref"])
        if ref not in known:
            report.extras.append(
                Finding(
                    "extra",
                    partner,
                    ref,
                    f"sale order {r['name']} for {partner} carries customer reference {ref}, "
                    "which no delivered message in this window explains",
                )
            )


__all__ = ["Delivered", "Finding", "OdooCaller", "ReconcileReport", "delivered_to", "reconcile"]
