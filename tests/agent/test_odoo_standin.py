"""The Odoo stand-in, checked with the real odoorpc client (reference/odoo.md §2-3)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import odoorpc
import pytest

from tests.support.odoo_standin import OdooStandin


@pytest.fixture
def standin() -> Iterator[OdooStandin]:
    server = OdooStandin(api_keys=("k3y-abc",)).start()
    try:
        yield server
    finally:
        server.stop()


def _client(standin: OdooStandin, secret: str = "s3cret") -> Any:
    odoo = odoorpc.ODOO("127.0.0.1", port=standin.port, protocol="jsonrpc")
    odoo.login("edi", "gateway", secret)
    return odoo


def _raw(standin: OdooStandin, path: str, payload: Any, content_type: str = "application/json") -> Any:
    request = urllib.request.Request(
        f"{standin.url}{path}", data=json.dumps(payload).encode(), headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_version_login_and_context(standin: OdooStandin) -> None:
    odoo = _client(standin)
    assert odoo.version == "17.0"
    assert odoo.env.uid == 2
    assert odoo.env.context["tz"] == "Europe/Brussels"
    methods = [(c.service, c.method, c.model_method) for c in standin.calls[:2]]
    assert methods == [("common", "login", None), ("object", "execute", "context_get")]
    # An API key works in place of the password.
    assert _client(standin, "k3y-abc").env.uid == 2


def test_wrong_password_at_login(standin: OdooStandin) -> None:
    odoo = odoorpc.ODOO("127.0.0.1", port=standin.port, protocol="jsonrpc")
    with pytest.raises(odoorpc.error.RPCError, match="Wrong login ID or password") as info:
        odoo.login("edi", "gateway", "nope")
    assert info.value.info is False


def test_revoked_secret_on_later_calls_is_access_denied(standin: OdooStandin) -> None:
    odoo = _client(standin)
    standin.password = "rotated"
    with pytest.raises(odoorpc.error.RPCError, match="Access Denied") as info:
        odoo.execute_kw("res.partner", "search", [[]])
    assert info.value.info["data"]["name"] == "odoo.exceptions.AccessDenied"
    assert info.value.info["code"] == 200
    assert info.value.info["message"] == "Odoo Server Error"


def test_orm_roundtrip_through_odoorpc_models(standin: OdooStandin) -> None:
    partner = standin.seed("res.partner", name="ACME Retail", ref="ACME01")
    product = standin.seed("product.product", name="Widget", barcode="00012345678905", uom_id=1)
    odoo = _client(standin)
    SaleOrder = odoo.env["sale.order"]
    assert odoo.env["res.partner"].search([("ref", "=", "ACME01")]) == [partner]
    order_id = SaleOrder.create(
        {
            "partner_id": partner,
            "client_order_ref": "PO-4711",
            "order_line": [(0, 0, {"product_id": product, "product_uom_qty": 5})],
        }
    )
    order = SaleOrder.browse(order_id)
    assert order.name == "S00001"
    assert order.partner_id.name == "ACME Retail"
    assert [line.product_id.barcode for line in order.order_line] == ["00012345678905"]
    assert not order.partner_shipping_id  # empty many2one
    order.client_order_ref = "PO-4711-A"  # write through odoorpc's auto-commit
    assert standin.records("sale.order")[0]["client_order_ref"] == "PO-4711-A"
    # load='_classic_write' gives plain ids; the default gives [id, display_name].
    classic = odoo.execute_kw("sale.order", "read", [[order_id], ["partner_id"]], {"load": "_classic_write"})
    default = odoo.execute_kw("sale.order", "read", [[order_id], ["partner_id"]])
    assert classic == [{"id": order_id, "partner_id": partner}]
    assert default == [{"id": order_id, "partner_id": [partner, "ACME Retail"]}]
    assert odoo.execute_kw("sale.order", "read", [[order_id, 999], ["name"]]) == [
        {"id": order_id, "name": "S00001"}
    ]
    assert odoo.env["res.partner"].name_search("ACME") == [[partner, "ACME Retail"]]
    assert odoo.execute_kw("sale.order", "default_get", [["state", "name"]]) == {"state": "draft"}
    fields = odoo.execute_kw("sale.order", "fields_get", [], {"attributes": ["type", "relation"]})
    assert fields["partner_id"] == {"type": "many2one", "relation": "res.partner"}


def test_domains_with_operators_dotted_paths_and_child_of(standin: OdooStandin) -> None:
    parent = standin.seed("res.partner", name="ACME", ref="ACME01")
    child = standin.seed(
        "res.partner", name="DC East", ref="0614141000012", parent_id=parent, type="delivery"
    )
    standin.seed("res.partner", name="Other", ref="OTH")
    odoo = _client(standin)

    def search(domain: list[Any]) -> list[int]:
        return list(odoo.execute_kw("res.partner", "search", [domain]))

    assert search([("id", "child_of", parent)]) == [parent, child]
    assert search(["|", ("ref", "=", "OTH"), ("name", "ilike", "east")]) == [child, 3]
    assert search(["!", ("ref", "in", ["ACME01", "OTH"])]) == [child]
    assert search([("parent_id.ref", "=", "ACME01")]) == [child]
    assert search([("parent_id", "=", False), ("name", "=ilike", "ac%")]) == [parent]
    assert odoo.execute_kw("res.partner", "search_count", [[("type", "!=", "delivery")]]) == 2
    assert search([("commercial_partner_id", "=", parent)]) == [parent, child]
    rows = odoo.execute_kw(
        "res.partner", "search_read", [[("ref", "!=", False)], ["name"]], {"order": "name desc", "limit": 2}
    )
    assert [r["name"] for r in rows] == ["Other", "DC East"]


@pytest.mark.parametrize(
    ("model", "method", "args", "name", "text"),
    [
        (
            "sale.order",
            "create",
            [{"client_order_ref": "x"}],
            "odoo.exceptions.ValidationError",
            "mandatory field",
        ),
        ("sale.order", "_compute_amounts", [[1]], "odoo.exceptions.AccessError", "Private methods"),
        ("no.such.model", "search", [[]], "odoo.exceptions.UserError", "Object no.such.model doesn't exist"),
        (
            "sale.order",
            "create",
            [{"bogus": 1}],
            "builtins.ValueError",
            "Invalid field 'bogus' on model 'sale.order'",
        ),
        ("sale.order", "fly", [[1]], "builtins.AttributeError", "has no attribute 'fly'"),
        (
            "sale.order",
            "write",
            [[42], {"note": "x"}],
            "odoo.exceptions.MissingError",
            "Record does not exist",
        ),
    ],
)
def test_error_shapes(
    standin: OdooStandin, model: str, method: str, args: list[Any], name: str, text: str
) -> None:
    odoo = _client(standin)
    with pytest.raises(odoorpc.error.RPCError) as info:
        odoo.execute_kw(model, method, args)
    assert text in str(info.value)
    data = info.value.info["data"]
    assert data["name"] == name
    assert data["arguments"] == [data["message"]]
    assert data["debug"].startswith("Traceback")


def test_result_is_left_out_for_none(standin: OdooStandin) -> None:
    product = standin.seed("product.product", name="Widget")
    quant = standin.seed(
        "stock.quant",
        product_id=product,
        location_id=2,
        quantity=3.0,
        inventory_quantity=7.0,
        inventory_quantity_set=True,
    )
    reply = _raw(
        standin,
        "/jsonrpc",
        {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 5,
            "params": {
                "service": "object",
                "method": "execute_kw",
                "args": ["edi", 2, "s3cret", "stock.quant", "action_apply_inventory", [[quant]]],
            },
        },
    )
    assert reply == {"jsonrpc": "2.0", "id": 5}
    assert _client(standin).execute_kw("stock.quant", "read", [[quant], ["quantity"]]) == [
        {"id": quant, "quantity": 7.0}
    ]


def test_exchange_record_unique_external_identifier(standin: OdooStandin) -> None:
    backend = standin.seed("edi.backend", name="gateway")
    kind = standin.seed("edi.exchange.type", name="850 in", code="edigate_purchase_order", backend_id=backend)
    odoo = _client(standin)
    values = {
        "backend_id": backend,
        "type_id": kind,
        "external_identifier": "K-1",
        "exchange_filename": "a.json",
    }
    assert odoo.execute_kw("edi.exchange.record", "create", [values]) == 1
    with pytest.raises(odoorpc.error.RPCError, match="edi_exchange_record_external_identifier_uniq") as info:
        odoo.execute_kw("edi.exchange.record", "create", [values])
    assert info.value.info["data"]["name"] == "odoo.exceptions.ValidationError"
    assert str(info.value).startswith("The operation cannot be completed")
    assert odoo.execute_kw("edi.exchange.record", "create", [[{**values, "external_identifier": "K-2"}]]) == [
        2
    ]


def test_business_methods(standin: OdooStandin) -> None:
    partner = standin.seed("res.partner", name="ACME")
    product = standin.seed("product.product", name="Widget")
    odoo = _client(standin)
    order = odoo.execute_kw(
        "sale.order",
        "create",
        [{"partner_id": partner, "order_line": [[0, 0, {"product_id": product, "product_uom_qty": 10}]]}],
    )
    assert odoo.execute_kw("sale.order", "action_confirm", [[order]]) is True
    [picking] = standin.records("stock.picking")
    [move] = standin.records("stock.move")
    assert picking["origin"] == "S00001" and picking["state"] == "assigned"
    odoo.execute_kw("stock.move", "write", [[move["id"]], {"quantity": 4, "picked": True}])
    wizard = odoo.execute_kw("stock.picking", "button_validate", [[picking["id"]]])
    assert wizard["res_model"] == "stock.backorder.confirmation"
    done = odoo.execute_kw(
        "stock.picking",
        "button_validate",
        [[picking["id"]]],
        {"context": {"skip_backorder": True, "picking_ids_not_to_backorder": [picking["id"]]}},
    )
    assert done is True
    assert standin.records("stock.picking")[0]["state"] == "done"
    assert len(standin.records("stock.picking")) == 1  # no backorder
    message = odoo.execute_kw(
        "stock.picking",
        "message_post",
        [[picking["id"]]],
        {"body": "hello", "message_type": "comment", "subtype_xmlid": "mail.mt_note"},
    )
    assert standin.records("mail.message")[0]["id"] == message
    bill = odoo.execute_kw(
        "account.move",
        "create",
        [
            {
                "move_type": "in_invoice",
                "partner_id": partner,
                "invoice_line_ids": [[0, 0, {"name": "x", "quantity": 2, "price_unit": 2.5}]],
            }
        ],
    )
    assert odoo.execute_kw("account.move", "read", [[bill], ["amount_total"]]) == [
        {"id": bill, "amount_total": 5.0}
    ]
    assert odoo.execute_kw("account.move", "action_post", [[bill]]) is True


def test_http_layer_hooks_and_bad_content_type(standin: OdooStandin) -> None:
    odoo = _client(standin)
    standin.fail_http(502)
    with pytest.raises(urllib.error.HTTPError) as info:
        odoo.execute_kw("res.partner", "search", [[]])
    assert info.value.code == 502
    info.value.close()
    assert odoo.execute_kw("res.partner", "search", [[]]) == []  # only the next request failed
    standin.fail_rpc(
        "psycopg2.errors.SerializationFailure",
        "could not serialize access due to concurrent update",
        model="res.partner",
        method="search",
    )
    with pytest.raises(odoorpc.error.RPCError, match="could not serialize"):
        odoo.execute_kw("res.partner", "search", [[]])
    with pytest.raises(urllib.error.HTTPError) as bad:
        _raw(standin, "/jsonrpc", {"params": {}}, content_type="application/x-www-form-urlencoded")
    assert bad.value.code == 400
    assert b"type='json'" in bad.value.read()
    bad.value.close()
    standin.stop()
    with pytest.raises(urllib.error.URLError):
        odoo.execute_kw("res.partner", "search", [[]])
