"""Outbound pull (downlink): poll Odoo for documents our EDI partners must receive.

The site accepts no inbound connection from the cloud, so the gateway asks
(reference/odoo.md §7).  Three queries, one per document kind:

==================  ===============  =====================================================
kind                model            what qualifies
==================  ===============  =====================================================
``ship_notice``     stock.picking    outgoing, ``state = done``
``invoice``         account.move     ``out_invoice``, ``state = posted``
``order_response``  sale.order       ``state = sale`` with a ``client_order_ref`` (an EDI PO)
==================  ===============  =====================================================

Each also requires the partner's commercial entity ``ref`` to be one of
the configured EDI partners and the export flag (``x_edi_exported`` by
default, a custom boolean field) to be unset.

Rules (the order matters; each step is durable before the next starts):

1. **Cursor.**  Keyset over ``(write_date, id)`` ascending, never
   ``offset`` (rows move while paging).  Each poll starts ``overlap``
   seconds before the stored cursor, because ``write_date`` is the
   *start* of Odoo's transaction and a long transaction commits "in the
   past".  The cursor lives in the journal database (table
   ``pull_cursors``), moved after each page is journaled.
2. **De-duplication.**  A re-read record is skipped when the journal
   already holds a message for the same ``<model>:<id>``, whatever its
   ``write_date`` (a later edit must not send the document twice).
3. **Journal first.**  The canonical document is appended to the journal
   (``Intake(transport="odoo", external_id="<model>:<id>:<write_date>")``,
   fsynced) before anything else happens to it.
4. **Mark exported last.**  Only when the journal says the message was
   delivered to the partner does :meth:`OdooPull.mark_exported` write the
   export flag in Odoo; the table ``pull_exports`` remembers which marks
   were written, and a crash between the write and the record only repeats
   an idempotent write.

The agent ships JSON and never EDI: the canonical documents built here are
rendered for the partner by ``gateway.outbound``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from agent.errors import DeliveryError
from gateway.journal import Intake, Journal

log = logging.getLogger("edigate.pull")

#: True while the pull appends to the journal; the daemon's ``on_received``
#: router reads it to keep outbound documents away from the inbound pipeline.
PULLING: contextvars.ContextVar[bool] = contextvars.ContextVar("edigate_pulling", default=False)

OUTBOUND_SCHEMA = "edigate.outbound/1"
_ODOO_TIME = "%Y-%m-%d %H:%M:%S"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pull_cursors (
    name TEXT PRIMARY KEY, write_date TEXT NOT NULL, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pull_exports (message_id INTEGER PRIMARY KEY, model TEXT NOT NULL,
    res_id INTEGER NOT NULL, at REAL NOT NULL);
"""


class OdooCaller(Protocol):
    """What the pull needs from ``agent.odoo.OdooTransport``."""

    async def call(
        self, model: str, method: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
    ) -> Any: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PullSettings:
    """What to pull and how often.

    Attributes:
        partner_refs: Odoo ``res.partner.ref`` of a commercial partner → gateway partner id.
        kinds: document kinds to pull.
        export_field: boolean field marking a record as sent (``x_edi_exported``).
        overlap_seconds: how far before the cursor each poll starts again.
        page_size: records per ``search_read``.
        interval: seconds between polls.
        mark_interval: seconds between checks for delivered documents to flag in Odoo.
        unit: unit code for quantities (Odoo's units are not mapped yet).
    """

    partner_refs: Mapping[str, str]
    kinds: tuple[str, ...] = ("order_response", "ship_notice", "invoice")
    export_field: str = "x_edi_exported"
    overlap_seconds: float = 300.0
    page_size: int = 200
    interval: float = 30.0
    mark_interval: float = 2.0
    unit: str = "EA"


@dataclass(frozen=True, slots=True)
class _Kind:
    model: str
    domain: tuple[Any, ...]
    fields: tuple[str, ...]


_KINDS: dict[str, _Kind] = {
    "ship_notice": _Kind(
        "stock.picking",
        (["picking_type_code", "=", "outgoing"], ["state", "=", "done"]),
        ("name", "partner_id", "origin", "sale_id", "date_done", "carrier_tracking_ref", "write_date"),
    ),
    "invoice": _Kind(
        "account.move",
        (["move_type", "=", "out_invoice"], ["state", "=", "posted"]),
        ("name", "partner_id", "invoice_date", "invoice_origin", "ref", "amount_total", "write_date"),
    ),
    "order_response": _Kind(
        "sale.order",
        (["state", "=", "sale"], ["client_order_ref", "!=", False]),
        ("name", "partner_id", "client_order_ref", "date_order", "write_date"),
    ),
}


@dataclass(slots=True)
class PullStats:
    """Counters for status."""

    polls: int = 0
    journaled: int = 0
    skipped_duplicates: int = 0
    marked: int = 0
    last_error: str | None = None
    last_poll_at: float | None = None
    per_kind: dict[str, int] = field(default_factory=dict)


def _ensure_schema(c: sqlite3.Connection) -> None:
    for statement in _SCHEMA.strip().split(";"):
        if statement.strip():
            c.execute(statement)


def _decimal(value: Any) -> str:
    # Odoo sends floats; the canonical models want exact decimal strings.
    text = format(Decimal(str(value or 0)).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _date(value: Any) -> str | None:
    return str(value)[:10] if value else None


class OdooPull:
    """Polls Odoo for outbound documents and journals them.

    Args:
        transport: the Odoo transport (same seam as the Odoo sink).
        journal: the journal.
        settings: what to pull.
        on_appended: called with each new message id once it is durable
            (the daemon hands it to ``gateway.outbound``).
        clock: wall clock.
    """

    def __init__(
        self,
        transport: OdooCaller,
        journal: Journal,
        settings: PullSettings,
        *,
        on_appended: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.journal = journal
        self.settings = settings
        self._on_appended = on_appended
        self._clock = clock
        self._partners: dict[int, str | None] = {}
        self.stats = PullStats()
        self._schema_ready = False

    async def _schema(self) -> None:
        if not self._schema_ready:
            await self.journal._run(_ensure_schema)
            self._schema_ready = True

    # ------------------------------------------------------------------ loop

    async def run(self) -> None:
        """Poll every ``interval`` and set export flags every ``mark_interval`` until cancelled.

        Marking is checked more often than polling: it costs one journal
        query when nothing was delivered, and Odoo users see "sent" sooner.
        An unreachable Odoo is logged and retried next round.
        """
        next_poll = 0.0
        while True:
            now = time.monotonic()
            try:
                if now >= next_poll:
                    next_poll = now + self.settings.interval
                    await self.poll_once()
                await self.mark_exported()
            except DeliveryError as exc:
                self.stats.last_error = exc.message
                log.warning("Odoo pull paused: %s", exc.message)
            await asyncio.sleep(min(self.settings.mark_interval, self.settings.interval))

    async def poll_once(self) -> int:
        """Journal every new qualifying document of every kind.

        Returns:
            How many documents were journaled.

        Raises:
            DeliveryError: Odoo unreachable or refusing (nothing is lost: the
                cursor only moves past journaled records).
        """
        await self._schema()
        total = 0
        for kind in self.settings.kinds:
            total += await self._poll_kind(kind)
        self.stats.polls += 1
        self.stats.last_poll_at = self._clock()
        self.stats.last_error = None
        return total

    async def _poll_kind(self, kind: str) -> int:
        spec = _KINDS[kind]
        cursor = await self.journal.read(lambda c: _read_cursor(c, kind))
        start = "1970-01-01 00:00:00"
        if cursor is not None:
            at = datetime.strptime(cursor[0], _ODOO_TIME) - timedelta(seconds=self.settings.overlap_seconds)
            start = at.strftime(_ODOO_TIME)
        base: list[Any] = [
            *spec.domain,
            [self.settings.export_field, "=", False],
            ["partner_id.commercial_partner_id.ref", "in", sorted(self.settings.partner_refs)],
        ]
        after: tuple[str, int] = (start, 0)
        journaled = 0
        while True:
            ts, last_id = after
            keyset = ["|", ["write_date", ">", ts], "&", ["write_date", "=", ts], ["id", ">", last_id]]
            rows: list[dict[str, Any]] = await self.transport.call(
                spec.model,
                "search_read",
                [[*base, *keyset]],
                {
                    "fields": list(spec.fields),
                    "order": "write_date asc, id asc",
                    "limit": self.settings.page_size,
                    "load": "_classic_write",
                },
            )
            if not rows:
                break
            journaled += await self._journal_page(kind, spec, rows)
            last = rows[-1]
            after = (str(last["write_date"]), int(last["id"]))
            await self.journal._run(functools.partial(_write_cursor, kind=kind, after=after))
            if len(rows) < self.settings.page_size:
                break
        self.stats.per_kind[kind] = self.stats.per_kind.get(kind, 0) + journaled
        return journaled

    async def _journal_page(self, kind: str, spec: _Kind, rows: list[dict[str, Any]]) -> int:
        fresh = []
        for row in rows:
            prefix = f"{spec.model}:{row['id']}:"
            seen = await self.journal.read(functools.partial(_already_journaled, prefix=prefix))
            if seen:
                self.stats.skipped_duplicates += 1
                continue
            fresh.append(row)
        if not fresh:
            return 0
        partners = await self._gateway_partners([int(r["partner_id"]) for r in fresh if r.get("partner_id")])
        builder = {
            "ship_notice": self._ship_notices,
            "invoice": self._invoices,
            "order_response": self._responses,
        }
        documents = await builder[kind](fresh)
        count = 0
        for row in fresh:
            partner = partners.get(int(row["partner_id"] or 0))
            document = documents.get(int(row["id"]))
            if partner is None or document is None:
                continue
            origin = {
                "model": spec.model,
                "id": int(row["id"]),
                "name": row.get("name"),
                "write_date": row["write_date"],
            }
            data = json.dumps(
                {
                    "schema": OUTBOUND_SCHEMA,
                    "partner": partner,
                    "document_type": kind,
                    "document": document,
                    "origin": origin,
                },
                sort_keys=True,
                separators=(",", ":"),
            ).encode()
            token = PULLING.set(True)
            try:
                result = await self.journal.append(
                    Intake(
                        transport="odoo",
                        partner=partner,
                        data=data,
                        file_name=f"{kind}-{row.get('name') or row['id']}.json",
                        external_id=f"{spec.model}:{row['id']}:{row['write_date']}",
                        meta={"direction": "outbound", "model": spec.model, "res_id": int(row["id"])},
                    )
                )
            finally:
                PULLING.reset(token)
            if result.duplicate_of is None:
                count += 1
                self.stats.journaled += 1
                if self._on_appended is not None:
                    self._on_appended(int(result.message_id))
        return count

    async def _gateway_partners(self, partner_ids: list[int]) -> dict[int, str | None]:
        unknown = sorted({p for p in partner_ids if p not in self._partners})
        if unknown:
            rows = await self.transport.call(
                "res.partner", "read", [unknown, ["commercial_partner_id"]], {"load": "_classic_write"}
            )
            commercial = {int(r["id"]): int(r["commercial_partner_id"] or r["id"]) for r in rows}
            refs_rows = await self.transport.call(
                "res.partner", "read", [sorted(set(commercial.values())), ["ref"]], {"load": "_classic_write"}
            )
            refs = {int(r["id"]): r.get("ref") or None for r in refs_rows}
            for pid, cid in commercial.items():
                ref = refs.get(cid)
                self._partners[pid] = self.settings.partner_refs.get(ref) if ref else None
        return {p: self._partners.get(p) for p in partner_ids}

    async def _products(self, ids: set[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = await self.transport.call(
            "product.product",
            "read",
            [sorted(ids), ["default_code", "barcode", "name"]],
            {"load": "_classic_write"},
        )
        out: dict[int, dict[str, Any]] = {}
        for r in rows:
            product: dict[str, Any] = {}
            if r.get("barcode"):
                product["gtin"] = str(r["barcode"])
            if r.get("default_code"):
                product["vendor_part"] = str(r["default_code"])
            out[int(r["id"])] = product
        return out

    async def _lines(
        self, model: str, parent: str, ids: list[int], fields: list[str]
    ) -> dict[int, list[dict[str, Any]]]:
        rows = await self.transport.call(
            model,
            "search_read",
            [[[parent, "in", ids]]],
            {"fields": [parent, *fields], "order": "id asc", "load": "_classic_write"},
        )
        grouped: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            grouped.setdefault(int(r[parent]), []).append(r)
        return grouped

    async def _ship_notices(self, rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        moves = await self._lines(
            "stock.move", "picking_id", [int(r["id"]) for r in rows], ["product_id", "quantity"]
        )
        products = await self._products(
            {int(m["product_id"]) for ms in moves.values() for m in ms if m["product_id"]}
        )
        sale_ids = sorted({int(r["sale_id"]) for r in rows if r.get("sale_id")})
        sales: dict[int, dict[str, Any]] = {}
        if sale_ids:
            for s in await self.transport.call(
                "sale.order", "read", [sale_ids, ["client_order_ref", "name"]], {"load": "_classic_write"}
            ):
                sales[int(s["id"])] = s
        out: dict[int, dict[str, Any]] = {}
        for r in rows:
            sale = sales.get(int(r["sale_id"] or 0), {})
            items = [
                {
                    "line_number": str(i),
                    "product": products.get(int(m["product_id"] or 0), {}),
                    "quantity": _decimal(m["quantity"]),
                    "unit": self.settings.unit,
                }
                for i, m in enumerate(moves.get(int(r["id"]), []), 1)
            ]
            order: dict[str, Any] = {"items": items}
            po = sale.get("client_order_ref") or r.get("origin")
            if po:
                order["order_number"] = str(po)
            # X12 BSN01/BSN03/BSN04 are mandatory: purpose "00" (original), date and time shipped.
            doc: dict[str, Any] = {"purpose": "00", "shipment_id": str(r["name"]), "orders": [order]}
            if r.get("date_done"):
                doc["shipment_date"] = _date(r["date_done"])
                doc["shipment_time"] = str(r["date_done"])[11:16]
            if r.get("carrier_tracking_ref"):
                doc["tracking_number"] = str(r["carrier_tracking_ref"])
            out[int(r["id"])] = doc
        return out

    async def _invoices(self, rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        lines = await self._lines(
            "account.move.line",
            "move_id",
            [int(r["id"]) for r in rows],
            ["product_id", "quantity", "price_unit"],
        )
        products = await self._products(
            {int(x["product_id"]) for ls in lines.values() for x in ls if x["product_id"]}
        )
        out: dict[int, dict[str, Any]] = {}
        for r in rows:
            doc: dict[str, Any] = {
                "invoice_number": str(r["name"]),
                "lines": [
                    {
                        "line_number": str(i),
                        "product": products.get(int(x["product_id"] or 0), {}),
                        "quantity": _decimal(x["quantity"]),
                        "unit": self.settings.unit,
                        "unit_price": _decimal(x["price_unit"]),
                    }
                    for i, x in enumerate(lines.get(int(r["id"]), []), 1)
                ],
                "totals": {
                    "amount": format(Decimal(str(r.get("amount_total") or 0)).quantize(Decimal("0.01")), "f")
                },
            }
            if r.get("invoice_date"):
                doc["invoice_date"] = _date(r["invoice_date"])
            if r.get("invoice_origin"):
                doc["order_number"] = str(r["invoice_origin"])
            out[int(r["id"])] = doc
        return out

    async def _responses(self, rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        lines = await self._lines(
            "sale.order.line",
            "order_id",
            [int(r["id"]) for r in rows],
            ["product_id", "product_uom_qty", "price_unit"],
        )
        products = await self._products(
            {int(x["product_id"]) for ls in lines.values() for x in ls if x["product_id"]}
        )
        out: dict[int, dict[str, Any]] = {}
        for r in rows:
            out[int(r["id"])] = {
                "purpose": "00",
                "acknowledgment_type": "AD",
                "order_number": str(r["client_order_ref"]),
                # BAK04 is mandatory; Odoo keeps no customer PO date, so the order's date stands in.
                "order_date": _date(r.get("date_order")),
                "response_number": str(r["name"]),
                # EDIFACT ORDRSP needs a document date (DTM 137): when Odoo confirmed it.
                "response_date": _date(r.get("write_date")),
                "lines": [
                    {
                        "line_number": str(i),
                        "product": products.get(int(x["product_id"] or 0), {}),
                        "quantity": _decimal(x["product_uom_qty"]),
                        "unit": self.settings.unit,
                        "unit_price": _decimal(x["price_unit"]),
                    }
                    for i, x in enumerate(lines.get(int(r["id"]), []), 1)
                ],
            }
        return out

    # ------------------------------------------------------------------ export marks

    async def mark_exported(self) -> int:
        """Set the export flag in Odoo for every pulled document the partner now has.

        Returns:
            How many records were marked.

        Raises:
            DeliveryError: Odoo unreachable or refusing (retried next round).
        """
        await self._schema()
        todo = await self.journal.read(_delivered_unmarked)
        by_model: dict[str, list[tuple[int, int]]] = {}
        for message_id, model, res_id in todo:
            by_model.setdefault(model, []).append((message_id, res_id))
        marked = 0
        for model, pairs in by_model.items():
            ids = sorted({res_id for _, res_id in pairs})
            await self.transport.call(model, "write", [ids, {self.settings.export_field: True}])
            now = self._clock()
            rows = [(mid, model, rid, now) for mid, rid in pairs]
            await self.journal._run(functools.partial(_record_exports, rows=rows))
            marked += len(pairs)
        self.stats.marked += marked
        return marked


def _read_cursor(c: sqlite3.Connection, kind: str) -> tuple[str, int] | None:
    try:
        row = c.execute("SELECT write_date, last_id FROM pull_cursors WHERE name = ?", (kind,)).fetchone()
    except sqlite3.OperationalError:
        return None  # table not created yet: first poll
    return None if row is None else (str(row[0]), int(row[1]))


def _write_cursor(c: sqlite3.Connection, kind: str, after: tuple[str, int]) -> None:
    c.execute(
        "INSERT INTO pull_cursors VALUES (?,?,?) ON CONFLICT(name) DO UPDATE"
        " SET write_date = excluded.write_date,"
        " last_id = excluded.last_id WHERE excluded.write_date > pull_cursors.write_date"
        " OR (excluded.write_date = pull_cursors.write_date AND excluded.last_id > pull_cursors.last_id)",
        (kind, after[0], after[1]),
    )


def _record_exports(c: sqlite3.Connection, rows: list[tuple[int, str, int, float]]) -> None:
    c.executemany("INSERT OR IGNORE INTO pull_exports VALUES (?,?,?,?)", rows)


def _already_journaled(c: sqlite3.Connection, prefix: str) -> bool:
    # Escape LIKE wildcards: model names contain '.', ids digits, so only '_' matters.
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    row = c.execute(
        "SELECT 1 FROM messages WHERE transport = 'odoo' AND external_id LIKE ? ESCAPE '\\' LIMIT 1",
        (pattern,),
    ).fetchone()
    return row is not None


def _delivered_unmarked(c: sqlite3.Connection) -> list[tuple[int, str, int]]:
    rows = c.execute(
        "SELECT m.id, m.external_id FROM messages m LEFT JOIN pull_exports e ON e.message_id = m.id"
        " WHERE m.transport = 'odoo' AND m.state = 'delivered' AND e.message_id IS NULL ORDER BY m.id"
    ).fetchall()
    out = []
    for row in rows:
        model, _, rest = str(row[1] or "").partition(":")
        res_id = rest.partition(":")[0]
        if model and res_id.isdigit():
            out.append((int(row[0]), model, int(res_id)))
    return out


def pull_status(c: sqlite3.Connection) -> dict[str, Any]:
    """Cursor positions and export marks for ``edigate status`` (read-only)."""
    try:
        cursors = {
            str(r[0]): {"write_date": r[1], "last_id": int(r[2])}
            for r in c.execute("SELECT * FROM pull_cursors")
        }
        marked = int(c.execute("SELECT COUNT(*) FROM pull_exports").fetchone()[0])
    except sqlite3.OperationalError:
        return {"cursors": {}, "marked": 0}
    return {"cursors": cursors, "marked": marked}


def now_odoo(clock: Callable[[], float] = time.time) -> str:
    """The clock as Odoo writes datetimes (naive UTC)."""
    return datetime.fromtimestamp(clock(), tz=UTC).strftime(_ODOO_TIME)


__all__ = ["PULLING", "OdooCaller", "OdooPull", "PullSettings", "PullStats", "now_odoo", "pull_status"]
