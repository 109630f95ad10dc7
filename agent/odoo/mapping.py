"""Canonical documents → Odoo 17/18 records (``reference/odoo.md`` §6).

Rule 1: every mapper looks before it writes.  A second delivery of the same
document (the engine delivers at least once) must find what the first one
made and change nothing:

* ``purchase_order`` → ``sale.order``: same ``client_order_ref`` for the same
  commercial partner and not cancelled (OCA ``sale_order_import``
  ``_search_existing_order_domain``);
* ``ship_notice`` / ``warehouse_shipping_advice`` → the open outgoing picking;
  a picking already ``done`` for that order means "already applied";
* ``invoice`` → vendor bill with the same ``ref`` for the same partner, not cancelled;
* ``shipment_status`` → a chatter note carrying the idempotency key;
* ``inventory_advice`` → compare (default) or set absolute counted quantities
  (idempotent by construction).

Odoo has no unique constraint behind the first four, so the sink serialises
deliveries per business key (:func:`business_key`) and the journal remains the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from agent.errors import PermanentDeliveryError
from agent.odoo.lookup import Lookup, OdooMappingOptions, describe_product
from agent.odoo.transport import OdooTransport
from agent.sinks.base import Delivery
from translators.models import (
    InventoryAdvice,
    Invoice,
    PurchaseOrder,
    ShipmentStatus,
    ShipNotice,
    WarehouseShippingAdvice,
)
from translators.models.common import DateTime, ProductIds
from translators.models.ship_notice import Pack, ShipItem, Tare

Action = Literal["created", "existing", "updated", "noted", "compared", "applied"]

#: Context for ``button_validate``: no SMS, no expiry wizard, no backorder question.
VALIDATE_CONTEXT: dict[str, Any] = {"skip_backorder": True, "skip_sms": True, "skip_expired": True}


@dataclass(frozen=True, slots=True)
class OdooOutcome:
    """What a delivery did in Odoo (logged, shown in status, asserted in tests).

    Attributes:
        action: created / existing (nothing to do) / updated / noted / compared / applied.
        model: the main model touched.
        res_id: the main record id (0 when several or none).
        detail: plain-language notes (unmatched addresses, stock differences, totals).
    """

    action: Action
    model: str
    res_id: int
    detail: tuple[str, ...] = field(default=())


_M = TypeVar("_M", bound=BaseModel)


def _parse(model: type[_M], delivery: Delivery) -> _M:
    document = delivery.envelope.get("document")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PermanentDeliveryError(
            f"the {delivery.document_type} in delivery {delivery.delivery_id} does not match its schema "
            f"({exc.error_count()} problem(s), first at {where or 'top'}: {first['msg']})"
        ) from exc


def _qty(value: str | None, *, what: str) -> float:
    try:
        return float(Decimal(value)) if value is not None else 0.0
    except InvalidOperation as exc:
        raise PermanentDeliveryError(f"{what} is not a number: {value!r}") from exc


def _datetime(dates: Sequence[DateTime], qualifiers: Sequence[str]) -> str | None:
    for qualifier in qualifiers:
        for d in dates:
            if d.qualifier == qualifier and d.date:
                # Odoo stores naive UTC "YYYY-MM-DD HH:MM:SS"; the partner's zone is unknown here.
                clock = d.time or "00:00"
                return f"{d.date} {clock[:8] if len(clock) >= 8 else clock[:5] + ':00'}"
    return None


def _origin(delivery: Delivery) -> str:
    source = delivery.envelope.get("source") or {}
    controls = [
        f"{label}{source[key]}"
        for label, key in (
            ("ICN ", "interchange_control"),
            ("GCN ", "group_control"),
            ("TCN ", "transaction_control"),
        )
        if source.get(key)
    ]
    return " / ".join([f"EDI {delivery.partner}", *controls])


def business_key(delivery: Delivery) -> str:
    """The business identity two deliveries must not race on (same PO, same invoice, ...).

    Args:
        delivery: the delivery.

    Returns:
        ``partner:type:number``, or the idempotency key when the document has no number.
    """
    doc = delivery.envelope.get("document") or {}
    number = None
    if isinstance(doc, Mapping):
        for key in (
            "order_number",
            "invoice_number",
            "shipment_id",
            "depositor_order_number",
            "carrier_reference",
            "report_number",
        ):
            if doc.get(key):
                number = doc[key]
                break
    return f"{delivery.partner}:{delivery.document_type}:{number or delivery.idempotency_key}"


async def map_purchase_order(
    transport: OdooTransport, delivery: Delivery, options: OdooMappingOptions
) -> OdooOutcome:
    """Create the ``sale.order`` for a purchase order, unless it exists.

    Raises:
        PermanentDeliveryError: unknown customer or products, invalid document, Odoo refusal.
        TransientDeliveryError: Odoo unreachable.
    """
    po = _parse(PurchaseOrder, delivery)
    look = Lookup(transport, options)
    commercial = await look.commercial_partner(po.parties, ("BY", "SO", "OB"), partner=delivery.partner)
    existing = await look.search(
        "sale.order",
        [
            ["client_order_ref", "=", po.order_number],
            ["partner_id", "child_of", commercial],
            ["state", "!=", "cancel"],
        ],
        limit=1,
    )
    if existing:
        return OdooOutcome(
            "existing", "sale.order", existing[0], (f"order {po.order_number} already in Odoo",)
        )
    lines: list[list[Any]] = []
    unknown: list[str] = []
    for number, line in enumerate(po.lines, start=1):
        product = await look.product(line.product)
        if product is None:
            unknown.append(f"line {line.line_number or number} ({describe_product(line.product)})")
            continue
        values: dict[str, Any] = {
            "product_id": product,
            "product_uom_qty": _qty(line.quantity, what=f"quantity of line {number}"),
        }
        if line.unit_price is not None:
            values["price_unit"] = _qty(line.unit_price, what=f"price of line {number}")
        if line.description:
            values["name"] = line.description
        lines.append([0, 0, values])
    if unknown:
        raise PermanentDeliveryError(
            f"purchase order {po.order_number}: no Odoo product for {', '.join(unknown)} "
            "(matched on barcode, then internal reference)"
        )
    order: dict[str, Any] = {
        "partner_id": commercial,
        "client_order_ref": po.order_number,
        "origin": _origin(delivery),
        "order_line": lines,
    }
    detail: list[str] = []
    shipping = await look.address(po.parties, ("ST", "DP"), commercial)
    if shipping:
        order["partner_shipping_id"] = shipping
    elif any(p.role in ("ST", "DP") for p in po.parties):
        detail.append("ship-to address not found in Odoo; the customer's own address is used")
    invoicing = await look.address(po.parties, ("BT", "IV"), commercial)
    if invoicing:
        order["partner_invoice_id"] = invoicing
    commitment = _datetime(po.dates, options.order_date_qualifiers)
    if commitment:
        order["commitment_date"] = commitment
    order_id = int(await transport.call("sale.order", "create", [order]))
    if options.confirm_orders:
        await transport.call("sale.order", "action_confirm", [[order_id]])
    return OdooOutcome("created", "sale.order", order_id, tuple(detail))


def _items(
    items: Iterable[ShipItem], packs: Iterable[Pack], tares: Iterable[Tare] = ()
) -> Iterable[ShipItem]:
    yield from items
    for pack in packs:
        yield from _items(pack.items, pack.packs)
    for tare in tares:
        yield from _items(tare.items, tare.packs)


async def _apply_shipment(
    transport: OdooTransport,
    look: Lookup,
    *,
    picking_refs: Sequence[str],
    order_numbers: Sequence[str],
    commercial: int,
    quantities: Sequence[tuple[ProductIds, float]],
    tracking: str | None,
    options: OdooMappingOptions,
    what: str,
) -> OdooOutcome:
    origins: list[str] = []
    for number in order_numbers:
        for order_id in await look.search(
            "sale.order", [["client_order_ref", "=", number], ["partner_id", "child_of", commercial]]
        ):
            origins.append(str((await look.read_one("sale.order", order_id, ["name"]))["name"]))
    names = [r for r in picking_refs if r]
    if not names and not origins:
        raise PermanentDeliveryError(f"{what}: no order number or shipment reference to find the transfer by")
    which: list[Any] = ["|", ["name", "in", names], ["origin", "in", origins]]
    base = [["picking_type_code", "=", "outgoing"], *which]
    open_ids = await look.search(
        "stock.picking", [*base, ["state", "not in", ["done", "cancel"]]], limit=1, order="id asc"
    )
    if not open_ids:
        done = await look.search("stock.picking", [*base, ["state", "=", "done"]], limit=1)
        if done:
            return OdooOutcome("existing", "stock.picking", done[0], (f"{what}: transfer already validated",))
        raise PermanentDeliveryError(
            f"{what}: no open outgoing transfer in Odoo for {', '.join(names + origins) or 'the order'}"
        )
    picking = open_ids[0]
    moves = await transport.call(
        "stock.move",
        "search_read",
        [[["picking_id", "=", picking]], ["product_id", "product_uom_qty"]],
        {"load": "_classic_write"},
    )
    by_product: dict[int, int] = {int(m["product_id"]): int(m["id"]) for m in moves}
    shipped: dict[int, float] = {}
    unknown: list[str] = []
    for ids, qty in quantities:
        product = await look.product(ids)
        if product is None or product not in by_product:
            unknown.append(describe_product(ids))
            continue
        shipped[by_product[product]] = shipped.get(by_product[product], 0.0) + qty
    if unknown:
        raise PermanentDeliveryError(f"{what}: not on transfer {picking}: {', '.join(unknown)}")
    for move_id, qty in shipped.items():
        await transport.call("stock.move", "write", [[move_id], {"quantity": qty, "picked": True}])
    if tracking:
        await transport.call("stock.picking", "write", [[picking], {"carrier_tracking_ref": tracking}])
    context = dict(VALIDATE_CONTEXT)
    if not options.create_backorders:
        context["picking_ids_not_to_backorder"] = [picking]
    result = await transport.call("stock.picking", "button_validate", [[picking]], {"context": context})
    if isinstance(result, Mapping):
        raise PermanentDeliveryError(
            f"{what}: Odoo asked a question instead of validating transfer {picking} "
            f"(wizard {result.get('res_model', '?')}); validate it by hand"
        )
    return OdooOutcome("updated", "stock.picking", picking)


async def map_ship_notice(
    transport: OdooTransport, delivery: Delivery, options: OdooMappingOptions
) -> OdooOutcome:
    """Record shipped quantities and tracking on the picking(s) of a ship notice, then validate.

    Raises:
        PermanentDeliveryError: no matching transfer, unknown products, a wizard.
    """
    asn = _parse(ShipNotice, delivery)
    look = Lookup(transport, options)
    commercial = await look.commercial_partner(
        asn.parties, ("BY", "ST", "SF", "SU"), partner=delivery.partner
    )
    quantities = [
        (item.product, _qty(item.quantity, what="shipped quantity"))
        for order in asn.orders
        for item in _items(order.items, order.packs, order.tares)
    ]
    tracking = (
        asn.tracking_number
        or asn.bill_of_lading
        or next((c.tracking_number for c in asn.carriers if c.tracking_number), None)
    )
    return await _apply_shipment(
        transport,
        look,
        picking_refs=[asn.shipment_id],
        commercial=commercial,
        quantities=quantities,
        order_numbers=[o.order_number for o in asn.orders if o.order_number],
        tracking=tracking,
        options=options,
        what=f"ship notice {asn.shipment_id}",
    )


async def map_warehouse_shipping_advice(
    transport: OdooTransport, delivery: Delivery, options: OdooMappingOptions
) -> OdooOutcome:
    """Record a 3PL's shipping advice (945) on the picking it answers, then validate.

    Raises:
        PermanentDeliveryError: no matching transfer, unknown products, a wizard.
    """
    wsa = _parse(WarehouseShippingAdvice, delivery)
    look = Lookup(transport, options)
    commercial = await look.commercial_partner(wsa.parties, ("ST", "BY", "DE"), partner=delivery.partner)
    quantities = [(line.product, _qty(line.quantity, what="shipped quantity")) for line in wsa.lines]
    return await _apply_shipment(
        transport,
        look,
        picking_refs=[r for r in (wsa.depositor_order_number, wsa.shipment_id) if r],
        order_numbers=[wsa.purchase_order_number] if wsa.purchase_order_number else [],
        commercial=commercial,
        quantities=quantities,
        tracking=wsa.tracking_number or wsa.bill_of_lading,
        options=options,
        what=f"shipping advice {wsa.depositor_order_number or wsa.shipment_id}",
    )


async def map_invoice(
    transport: OdooTransport, delivery: Delivery, options: OdooMappingOptions
) -> OdooOutcome:
    """Create the vendor bill for a supplier's invoice, unless it exists.

    Raises:
        PermanentDeliveryError: unknown vendor, invalid document, Odoo refusal.
    """
    inv = _parse(Invoice, delivery)
    look = Lookup(transport, options)
    vendor = await look.commercial_partner(
        inv.parties, ("SU", "SE", "II", "RI", "RE"), partner=delivery.partner
    )
    move_type = "in_refund" if (inv.transaction_type or "").upper() in ("CR", "381") else "in_invoice"
    existing = await look.search(
        "account.move",
        [
            ["move_type", "=", move_type],
            ["ref", "=", inv.invoice_number],
            ["partner_id", "child_of", vendor],
            ["state", "!=", "cancel"],
        ],
        limit=1,
    )
    if existing:
        return OdooOutcome(
            "existing", "account.move", existing[0], (f"bill {inv.invoice_number} already in Odoo",)
        )
    lines: list[list[Any]] = []
    for number, line in enumerate(inv.lines, start=1):
        values: dict[str, Any] = {
            "name": line.description or describe_product(line.product),
            "quantity": _qty(line.quantity, what=f"quantity of line {number}"),
            "price_unit": _qty(line.unit_price, what=f"price of line {number}"),
        }
        product = await look.product(line.product)
        if product is not None:
            values["product_id"] = product
        lines.append([0, 0, values])
    bill: dict[str, Any] = {
        "move_type": move_type,
        "partner_id": vendor,
        "ref": inv.invoice_number,
        "payment_reference": inv.invoice_number,
        "invoice_line_ids": lines,
    }
    if inv.invoice_date:
        bill["invoice_date"] = inv.invoice_date
    if inv.order_number:
        bill["invoice_origin"] = inv.order_number
    due = next((t.net_due_date for t in inv.payment_terms if t.net_due_date), None)
    if due:
        bill["invoice_date_due"] = due
    move_id = int(await transport.call("account.move", "create", [bill]))
    detail: list[str] = []
    if options.post_invoices:
        total = (await look.read_one("account.move", move_id, ["amount_total"]))["amount_total"]
        declared = _qty(inv.totals.amount, what="invoice total") if inv.totals and inv.totals.amount else None
        if declared is not None and abs(float(total) - declared) < 0.005:
            await transport.call("account.move", "action_post", [[move_id]])
        else:
            detail.append(f"left in draft: Odoo total {total} differs from the invoice total {declared}")
    return OdooOutcome("created", "account.move", move_id, tuple(detail))


async def map_shipment_status(
    transport: OdooTransport, delivery: Delivery, options: OdooMappingOptions
) -> OdooOutcome:
    """Post a carrier status as a note on the matching picking (once per idempotency key).

    Raises:
        PermanentDeliveryError: no transfer matches the carrier's references.
    """
    status = _parse(ShipmentStatus, delivery)
    look = Lookup(transport, options)
    refs = [r for r in (status.carrier_reference, status.shipment_id) if r]
    refs += [r.value for r in status.references if r.value]
    if not refs:
        raise PermanentDeliveryError(
            "shipment status without carrier or shipment reference: nothing to attach it to"
        )
    pickings = await look.search(
        "stock.picking",
        ["|", ["carrier_tracking_ref", "in", refs], ["name", "in", refs]],
        limit=1,
        order="id desc",
    )
    if not pickings:
        raise PermanentDeliveryError(f"shipment status: no transfer in Odoo with tracking ref or name {refs}")
    marker = f"[edigate {delivery.idempotency_key}]"
    seen = await look.search(
        "mail.message",
        [["model", "=", "stock.picking"], ["res_id", "=", pickings[0]], ["body", "ilike", marker]],
        limit=1,
    )
    if seen:
        return OdooOutcome("existing", "stock.picking", pickings[0], ("status already noted",))
    events = []
    for event in status.events:
        when = (
            f" on {event.date.date} {event.date.time or ''}".rstrip()
            if event.date and event.date.date
            else ""
        )
        where = ""
        if event.location and (event.location.city or event.location.state):
            where = " at " + ", ".join(x for x in (event.location.city, event.location.state) if x)
        reason = f" (reason {event.status_reason})" if event.status_reason else ""
        events.append(f"Status {event.status_code or '?'}{reason}{when}{where}.")
    carrier = f"Carrier {status.scac or ''} {status.carrier_reference or ''}"
    body = f"{carrier}: {' '.join(events) or 'status received'} {marker}"
    await transport.call(
        "stock.picking",
        "message_post",
        [[pickings[0]]],
        {"body": " ".join(body.split()), "message_type": "comment", "subtype_xmlid": "mail.mt_note"},
    )
    return OdooOutcome("noted", "stock.picking", pickings[0])


async def map_inventory_advice(
    transport: OdooTransport, delivery: Delivery, options: OdooMappingOptions
) -> OdooOutcome:
    """Compare a stock report with Odoo's quants, or apply it when the partner is authoritative.

    Raises:
        PermanentDeliveryError: no location configured, unknown products.
    """
    report = _parse(InventoryAdvice, delivery)
    location = options.inventory_location_id
    if location is None:
        raise PermanentDeliveryError(
            f"inventory advice from {delivery.partner}: the profile sets no inventory_location_id "
            "to compare against"
        )
    look = Lookup(transport, options)
    reported: dict[int, float] = {}
    unknown: list[str] = []
    for item in report.items:
        stock = next(
            (q for qual in options.stock_qualifiers for q in item.quantities if q.qualifier == qual), None
        )
        if stock is None:
            continue
        product = await look.product(item.product)
        if product is None:
            unknown.append(describe_product(item.product))
            continue
        reported[product] = reported.get(product, 0.0) + _qty(stock.quantity, what="stock quantity")
    if unknown:
        raise PermanentDeliveryError(f"inventory advice: no Odoo product for {', '.join(unknown)}")
    quants = await transport.call(
        "stock.quant",
        "search_read",
        [
            [["product_id", "in", sorted(reported)], ["location_id", "child_of", location]],
            ["product_id", "location_id", "quantity"],
        ],
        {"load": "_classic_write"},
    )
    on_hand: dict[int, float] = {}
    for quant in quants:
        on_hand[int(quant["product_id"])] = on_hand.get(int(quant["product_id"]), 0.0) + float(
            quant["quantity"]
        )
    differences = tuple(
        f"product {p}: Odoo {on_hand.get(p, 0.0):g}, partner {q:g}"
        for p, q in sorted(reported.items())
        if abs(on_hand.get(p, 0.0) - q) > 1e-9
    )
    if not options.inventory_authoritative:
        return OdooOutcome("compared", "stock.quant", 0, differences)
    context = {"inventory_mode": True}
    to_apply: list[int] = []
    for product, qty in sorted(reported.items()):
        exact = [q for q in quants if int(q["product_id"]) == product and int(q["location_id"]) == location]
        values = {"inventory_quantity": qty, "inventory_quantity_set": True}
        if exact:
            await transport.call(
                "stock.quant", "write", [[int(exact[0]["id"])], values], {"context": context}
            )
            to_apply.append(int(exact[0]["id"]))
        else:
            new_id = await transport.call(
                "stock.quant",
                "create",
                [{"product_id": product, "location_id": location, **values}],
                {"context": context},
            )
            to_apply.append(int(new_id))
    if to_apply:
        await transport.call("stock.quant", "action_apply_inventory", [to_apply], {"context": context})
    return OdooOutcome("applied", "stock.quant", 0, differences)


#: canonical document type -> mapper
MAPPERS = {
    "purchase_order": map_purchase_order,
    "ship_notice": map_ship_notice,
    "warehouse_shipping_advice": map_warehouse_shipping_advice,
    "invoice": map_invoice,
    "shipment_status": map_shipment_status,
    "inventory_advice": map_inventory_advice,
}

__all__ = ["MAPPERS", "VALIDATE_CONTEXT", "OdooOutcome", "business_key"]
