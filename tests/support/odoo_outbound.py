"""Outbound (downlink) additions to the Odoo stand-in, kept apart from its author's files.

* the custom boolean ``x_edi_exported`` on pickings, invoices and sale
  orders (the export flag the pull writes after the partner has the document);
* :func:`seed_downlink` creates what Odoo would hold after a day of work:
  an EDI customer, products, a confirmed sale order, its done picking and
  the posted customer invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.odoo_schema import MODELS, _f

for _model in ("stock.picking", "account.move", "sale.order"):
    MODELS[_model].setdefault("x_edi_exported", _f("boolean", "Exported to EDI"))


@dataclass(frozen=True, slots=True)
class Downlink:
    """Ids of what :func:`seed_downlink` created."""

    partner: int
    order: int
    picking: int
    invoice: int


def seed_customer(store: Any, ref: str, name: str) -> int:
    """An EDI customer (commercial entity with ``ref``) and nothing else."""
    return int(store.seed("res.partner", name=name, ref=ref))


def seed_downlink(store: Any, *, partner: int, po: str, n: int = 1, qty: float = 2.0) -> Downlink:
    """A confirmed order, its done picking and the posted invoice for ``partner``."""
    uom = store.records("uom.uom")[0]["id"]
    product = store.seed(
        "product.product",
        name=f"Widget {n}",
        default_code=f"SKU-{n}",
        barcode=f"0001234567890{n % 10}",
        uom_id=uom,
    )
    order = store.seed(
        "sale.order",
        partner_id=partner,
        client_order_ref=po,
        state="sale",
        x_edi_exported=False,
        order_line=[
            (0, 0, {"product_id": product, "product_uom_qty": qty, "product_uom": uom, "price_unit": 1.25})
        ],
    )
    picking = store.seed(
        "stock.picking",
        partner_id=partner,
        origin=store.records("sale.order", [["id", "=", order]])[0]["name"],
        sale_id=order,
        state="done",
        picking_type_code="outgoing",
        date_done="2026-11-29 09:00:00",
        carrier_tracking_ref=f"1Z{n:06d}",
        x_edi_exported=False,
        move_ids=[
            (
                0,
                0,
                {
                    "product_id": product,
                    "product_uom_qty": qty,
                    "quantity": qty,
                    "picked": True,
                    "state": "done",
                },
            )
        ],
    )
    invoice = store.seed(
        "account.move",
        move_type="out_invoice",
        partner_id=partner,
        state="posted",
        name=f"INV/2026/{n:05d}",
        invoice_date="2026-11-29",
        invoice_origin=po,
        x_edi_exported=False,
        invoice_line_ids=[
            (0, 0, {"product_id": product, "name": f"Widget {n}", "quantity": qty, "price_unit": 1.25})
        ],
    )
    return Downlink(partner=partner, order=order, picking=picking, invoice=invoice)


def x12_profile(*, partner: str = "acme", delivery: str = "", expect_hours: int = 24) -> str:
    """TOML of an X12 partner receiving 855/856/810 (``delivery`` = a ``[delivery]`` table)."""
    return f"""
id = "{partner}"
name = "ACME Retail"

[identities]
x12 = [{{ qualifier = "ZZ", id = "ACMERETAIL" }}]

[our_ids]
x12 = {{ qualifier = "ZZ", id = "OURWAREHOUSE" }}

[[documents]]
type = "997"
standard = "x12"
version = "004010"
direction = "inbound"

[[documents]]
type = "855"
standard = "x12"
version = "004010"
direction = "outbound"

[[documents]]
type = "856"
standard = "x12"
version = "004010"
direction = "outbound"

[[documents]]
type = "810"
standard = "x12"
version = "004010"
direction = "outbound"

[acks]
functional_ack = "never"
expect_ack_within_hours = {expect_hours}

[routing]
sinks = ["local"]

{delivery}
"""


def edifact_profile(*, partner: str = "nord", delivery: str = "") -> str:
    """TOML of an EDIFACT partner receiving DESADV/INVOIC/ORDRSP."""
    return f"""
id = "{partner}"
name = "Nordwaren"

[identities]
edifact = [{{ id = "4000000000001", qualifier = "14" }}]

[our_ids]
edifact = {{ id = "4000000000002", qualifier = "14" }}

[[documents]]
type = "DESADV"
standard = "edifact"
version = "D96A"
direction = "outbound"

[[documents]]
type = "INVOIC"
standard = "edifact"
version = "D96A"
direction = "outbound"

[[documents]]
type = "ORDRSP"
standard = "edifact"
version = "D96A"
direction = "outbound"

[acks]
functional_ack = "never"
expect_ack_within_hours = 24

[routing]
sinks = ["local"]

{delivery}
"""


__all__ = ["Downlink", "edifact_profile", "seed_customer", "seed_downlink", "x12_profile"]
