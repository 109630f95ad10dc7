"""Direct-mode mappings beyond sale orders: ship notices, 945s, vendor bills, carrier status, stock reports.

Each one is delivered twice to prove the second delivery changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent.errors import PermanentDeliveryError
from agent.odoo import OdooMappingOptions, OdooRpcSettings, OdooRpcTransport
from agent.sinks.odoo import OdooSink, OdooSinkConfig
from tests.support.deliveries import PO, delivery, fails, run
from tests.support.odoo_standin import OdooStandin


@pytest.fixture
def odoo() -> Iterator[OdooStandin]:
    server = OdooStandin().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ids(odoo: OdooStandin) -> dict[str, int]:
    partner = odoo.seed("res.partner", name="ACME Retail", ref="ACME01")
    return {
        "partner": partner,
        "vendor": odoo.seed("res.partner", name="Supplies Inc", ref="SUP01"),
        "widget": odoo.seed("product.product", name="Widget", barcode="00012345678905"),
        "gadget": odoo.seed("product.product", name="Gadget", default_code="GAD-2"),
    }


def sink(odoo: OdooStandin, **options: Any) -> OdooSink:
    settings = OdooRpcSettings(
        host="127.0.0.1",
        port=odoo.port,
        database="edi",
        login="gateway",
        secret="s3cret",
        use_tls=False,
        timeout=10,
    )
    opts = OdooMappingOptions(**{"partner_ref": "ACME01", **options})
    return OdooSink(OdooSinkConfig(name="odoo", default_options=opts), OdooRpcTransport(settings))


def confirmed_order(odoo: OdooStandin) -> dict[str, Any]:
    run(sink(odoo, confirm_orders=True), delivery("purchase_order", PO, key="po"))
    [picking] = odoo.records("stock.picking")
    return picking


ASN = {
    "shipment_id": "ASN-1",
    "tracking_number": "1Z999AA10123456784",
    "orders": [
        {
            "order_number": "PO-4711",
            "packs": [
                {
                    "sscc": "006141411234567890",
                    "items": [{"product": {"gtin": "00012345678905"}, "quantity": "10"}],
                },
                {
                    "sscc": "006141411234567906",
                    "items": [{"product": {"vendor_part": "GAD-2"}, "quantity": "3"}],
                },
            ],
        }
    ],
}


def test_ship_notice_sets_quantities_tracking_and_validates_once(
    odoo: OdooStandin, ids: dict[str, int]
) -> None:
    picking = confirmed_order(odoo)
    first, again = run(
        sink(odoo), delivery("ship_notice", ASN, key="asn"), delivery("ship_notice", ASN, key="asn")
    )
    assert (first.action, again.action) == ("updated", "existing")
    [done] = odoo.records("stock.picking")
    assert done["id"] == picking["id"] and done["state"] == "done"
    assert done["carrier_tracking_ref"] == "1Z999AA10123456784"
    assert sorted((m["product_id"], m["quantity"], m["picked"]) for m in odoo.records("stock.move")) == [
        (ids["widget"], 10.0, True),
        (ids["gadget"], 3.0, True),
    ]
    assert len(odoo.model_calls("stock.picking", "button_validate")) == 1


def test_partial_ship_notice_backorder_follows_the_profile(odoo: OdooStandin, ids: dict[str, int]) -> None:
    confirmed_order(odoo)
    partial = {
        **ASN,
        "orders": [
            {"order_number": "PO-4711", "items": [{"product": {"gtin": "00012345678905"}, "quantity": "6"}]}
        ],
    }
    run(sink(odoo, create_backorders=True), delivery("ship_notice", partial, key="asn"))
    pickings = odoo.records("stock.picking")
    assert [p["state"] for p in pickings] == ["done", "assigned"]
    assert pickings[1]["backorder_id"] == pickings[0]["id"]


def test_ship_notice_for_unknown_order_is_permanent(odoo: OdooStandin, ids: dict[str, int]) -> None:
    exc = fails(
        sink(odoo),
        delivery(
            "ship_notice", {**ASN, "shipment_id": "WH/OUT/99999", "orders": [{"order_number": "PO-0000"}]}
        ),
    )
    assert isinstance(exc, PermanentDeliveryError)
    assert "no open outgoing transfer" in str(exc) and "WH/OUT/99999" in str(exc)


def test_ship_notice_with_product_not_on_the_transfer(odoo: OdooStandin, ids: dict[str, int]) -> None:
    confirmed_order(odoo)
    odoo.seed("product.product", name="Extra", barcode="11111111111111")
    bad = {
        **ASN,
        "orders": [
            {"order_number": "PO-4711", "items": [{"product": {"gtin": "11111111111111"}, "quantity": "1"}]}
        ],
    }
    exc = fails(sink(odoo), delivery("ship_notice", bad))
    assert isinstance(exc, PermanentDeliveryError) and "GTIN 11111111111111" in str(exc)
    assert odoo.records("stock.picking")[0]["state"] == "assigned"


def test_warehouse_shipping_advice_by_picking_name(odoo: OdooStandin, ids: dict[str, int]) -> None:
    picking = confirmed_order(odoo)
    advice = {
        "depositor_order_number": picking["name"],
        "bill_of_lading": "BOL-77",
        "lines": [
            {"product": {"gtin": "00012345678905"}, "quantity": "10"},
            {"product": {"vendor_part": "GAD-2"}, "quantity": "3"},
        ],
    }
    first, again = run(
        sink(odoo),
        delivery("warehouse_shipping_advice", advice, key="945"),
        delivery("warehouse_shipping_advice", advice, key="945"),
    )
    assert (first.action, again.action) == ("updated", "existing")
    [done] = odoo.records("stock.picking")
    assert done["state"] == "done" and done["carrier_tracking_ref"] == "BOL-77"


INVOICE = {
    "invoice_number": "INV-5001",
    "invoice_date": "2026-11-25",
    "order_number": "PO-4711",
    "payment_terms": [{"net_due_date": "2026-12-25"}],
    "lines": [
        {"product": {"gtin": "00012345678905"}, "quantity": "10", "unit_price": "2.50"},
        {"description": "Freight", "quantity": "1", "unit_price": "5.00"},
    ],
    "totals": {"amount": "30.00"},
}


def test_invoice_creates_one_vendor_bill_and_posts_when_totals_match(
    odoo: OdooStandin, ids: dict[str, int]
) -> None:
    first, again = run(
        sink(odoo, partner_ref="SUP01", post_invoices=True),
        delivery("invoice", INVOICE),
        delivery("invoice", INVOICE),
    )
    assert (first.action, again.action) == ("created", "existing")
    [bill] = odoo.records("account.move")
    assert (bill["move_type"], bill["partner_id"], bill["ref"]) == ("in_invoice", ids["vendor"], "INV-5001")
    assert (bill["invoice_date"], bill["invoice_date_due"], bill["invoice_origin"]) == (
        "2026-11-25",
        "2026-12-25",
        "PO-4711",
    )
    assert bill["state"] == "posted" and bill["amount_total"] == 30.0
    lines = odoo.records("account.move.line")
    assert [(ln["product_id"], ln["name"]) for ln in lines] == [
        (ids["widget"], "GTIN 00012345678905"),
        (False, "Freight"),
    ]


def test_invoice_with_wrong_total_stays_draft(odoo: OdooStandin, ids: dict[str, int]) -> None:
    [outcome] = run(
        sink(odoo, partner_ref="SUP01", post_invoices=True),
        delivery("invoice", {**INVOICE, "totals": {"amount": "31.00"}}),
    )
    assert odoo.records("account.move")[0]["state"] == "draft"
    assert "differs from the invoice total 31.0" in outcome.detail[0]


STATUS = {
    "carrier_reference": "1Z999AA10123456784",
    "scac": "UPSN",
    "events": [
        {
            "status_code": "D1",
            "status_reason": "NS",
            "date": {"qualifier": "AT7", "date": "2026-11-28", "time": "14:05"},
            "location": {"city": "Leuven", "country": "BE"},
        }
    ],
}


def test_shipment_status_is_noted_once_on_the_picking(odoo: OdooStandin, ids: dict[str, int]) -> None:
    confirmed_order(odoo)
    run(sink(odoo), delivery("ship_notice", ASN, key="asn"))
    first, again = run(
        sink(odoo),
        delivery("shipment_status", STATUS, key="214-1"),
        delivery("shipment_status", STATUS, key="214-1"),
    )
    assert (first.action, again.action) == ("noted", "existing")
    [note] = odoo.records("mail.message")
    assert (note["model"], note["res_id"]) == ("stock.picking", first.res_id)
    assert "Status D1 (reason NS) on 2026-11-28 14:05 at Leuven." in note["body"]
    assert note["subtype_xmlid"] == "mail.mt_note"


def test_shipment_status_without_matching_transfer(odoo: OdooStandin, ids: dict[str, int]) -> None:
    exc = fails(sink(odoo), delivery("shipment_status", STATUS))
    assert isinstance(exc, PermanentDeliveryError) and "1Z999AA10123456784" in str(exc)


def _stock(odoo: OdooStandin, ids: dict[str, int]) -> dict[str, Any]:
    odoo.seed("stock.quant", product_id=ids["widget"], location_id=2, quantity=40.0)
    return {
        "report_number": "846-1",
        "items": [
            {"product": {"gtin": "00012345678905"}, "quantities": [{"qualifier": "17", "quantity": "38"}]},
            {"product": {"vendor_part": "GAD-2"}, "quantities": [{"qualifier": "33", "quantity": "5"}]},
        ],
    }


def test_inventory_advice_compares_by_default(odoo: OdooStandin, ids: dict[str, int]) -> None:
    [outcome] = run(sink(odoo, inventory_location_id=1), delivery("inventory_advice", _stock(odoo, ids)))
    assert outcome.action == "compared"
    assert outcome.detail == (
        f"product {ids['widget']}: Odoo 40, partner 38",
        f"product {ids['gadget']}: Odoo 0, partner 5",
    )
    assert [q["quantity"] for q in odoo.records("stock.quant")] == [40.0]  # nothing written


def test_inventory_advice_applies_when_the_partner_is_authoritative(
    odoo: OdooStandin, ids: dict[str, int]
) -> None:
    report = _stock(odoo, ids)
    options = {"inventory_location_id": 2, "inventory_authoritative": True}
    first, again = run(
        sink(odoo, **options), delivery("inventory_advice", report), delivery("inventory_advice", report)
    )
    assert (first.action, again.action) == ("applied", "applied")
    assert again.detail == ()  # the second report finds Odoo already in line
    quants = {q["product_id"]: q["quantity"] for q in odoo.records("stock.quant")}
    assert quants == {ids["widget"]: 38.0, ids["gadget"]: 5.0}


def test_inventory_advice_needs_a_location(odoo: OdooStandin, ids: dict[str, int]) -> None:
    exc = fails(sink(odoo), delivery("inventory_advice", _stock(odoo, ids)))
    assert isinstance(exc, PermanentDeliveryError) and "inventory_location_id" in str(exc)
