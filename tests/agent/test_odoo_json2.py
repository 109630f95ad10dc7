"""The Odoo 19 JSON-2 transport: named arguments, bare results, status-based errors; same sink on top."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent.errors import PermanentDeliveryError
from agent.odoo import OdooAccessDenied, OdooMappingOptions, OdooRejected, OdooUnavailable
from agent.odoo.json2 import OdooJson2Settings, OdooJson2Transport, named_arguments
from agent.sinks import build_sink
from agent.sinks.odoo import OdooSink, OdooSinkConfig
from agent.tls import ClientCertificateRejected
from tests.support.deliveries import PO, delivery, fails, run
from tests.support.odoo_standin import OdooStandin

KEY = "19-api-key-secret"


@pytest.fixture
def odoo19() -> Iterator[OdooStandin]:
    server = OdooStandin(version="19.0", api_keys=(KEY,)).start()
    server.seed("res.partner", name="ACME Retail", ref="ACME01")
    server.seed("product.product", name="Widget", barcode="00012345678905")
    server.seed("product.product", name="Gadget", default_code="GAD-2")
    try:
        yield server
    finally:
        server.stop()


def sink(odoo: OdooStandin, key: str = KEY, **config: Any) -> OdooSink:
    transport = OdooJson2Transport(OdooJson2Settings(base_url=odoo.url, api_key=key, database="edi"))
    config.setdefault("default_options", OdooMappingOptions(partner_ref="ACME01"))
    return OdooSink(OdooSinkConfig(name="odoo19", **config), transport)


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "body"),
    [
        ("search", [[["ref", "=", "X"]]], {"limit": 1}, {"domain": [["ref", "=", "X"]], "limit": 1}),
        (
            "read",
            [[4, 5], ["name"]],
            {"load": "_classic_write"},
            {"ids": [4, 5], "fields": ["name"], "load": "_classic_write"},
        ),
        ("write", [[4], {"note": "x"}], None, {"ids": [4], "vals": {"note": "x"}}),
        (
            "create",
            [{"name": "n"}],
            {"context": {"lang": "en_US"}},
            {"vals_list": {"name": "n"}, "context": {"lang": "en_US"}},
        ),
        (
            "button_validate",
            [[9]],
            {"context": {"skip_backorder": True}},
            {"ids": [9], "context": {"skip_backorder": True}},
        ),
        ("message_post", [[9]], {"body": "hi"}, {"ids": [9], "body": "hi"}),
        ("context_get", [], None, {}),
    ],
)
def test_positional_arguments_are_named(
    method: str, args: list[Any], kwargs: dict[str, Any] | None, body: dict[str, Any]
) -> None:
    assert named_arguments(method, args, kwargs) == body


def test_unnamed_positional_argument_is_refused_before_sending() -> None:
    with pytest.raises(PermanentDeliveryError, match="JSON-2 needs named arguments"):
        named_arguments("button_validate", [[1], "extra"], None)


def test_purchase_order_over_json2_is_created_once(odoo19: OdooStandin) -> None:
    first, again = run(sink(odoo19), delivery("purchase_order", PO), delivery("purchase_order", PO))
    assert (first.action, again.action) == ("created", "existing")
    [order] = odoo19.records("sale.order")
    assert order["client_order_ref"] == "PO-4711" and order["id"] == first.res_id
    assert len(odoo19.records("sale.order.line")) == 2
    assert {c.service for c in odoo19.calls} == {"json2"}  # no JSON-RPC at all
    create = odoo19.model_calls("sale.order", "create")[0]
    assert set(create.kwargs) == {"vals_list"} and create.args == []


def test_bad_api_key_is_access_denied(odoo19: OdooStandin) -> None:
    exc = fails(sink(odoo19, key="revoked"), delivery("purchase_order", PO))
    assert isinstance(exc, OdooAccessDenied)
    assert "Invalid apikey" in str(exc) and "revoked" not in str(exc)


def test_validation_error_is_422_and_permanent(odoo19: OdooStandin) -> None:
    odoo19.fail_rpc(
        "odoo.exceptions.ValidationError", "Reference must be unique", model="sale.order", method="create"
    )
    exc = fails(sink(odoo19), delivery("purchase_order", PO))
    assert isinstance(exc, OdooRejected)
    assert exc.exception_name == "odoo.exceptions.ValidationError"
    assert exc.odoo_message == "Reference must be unique"


def test_serialization_failure_is_transient(odoo19: OdooStandin) -> None:
    odoo19.fail_rpc(
        "psycopg2.errors.SerializationFailure",
        "could not serialize access due to concurrent update",
        model="sale.order",
        method="create",
    )
    exc = fails(sink(odoo19), delivery("purchase_order", PO))
    assert isinstance(exc, OdooUnavailable)


def test_proxy_503_with_retry_after_is_transient(odoo19: OdooStandin) -> None:
    odoo19.fail_http(503, retry_after="12")
    exc = fails(sink(odoo19), delivery("purchase_order", PO))
    assert isinstance(exc, OdooUnavailable) and exc.retry_after == 12.0


def test_unknown_model_is_permanent(odoo19: OdooStandin) -> None:
    async def go() -> None:
        transport = OdooJson2Transport(OdooJson2Settings(base_url=odoo19.url, api_key=KEY))
        try:
            await transport.call("no.such.model", "search", [[]])
        finally:
            await transport.aclose()

    with pytest.raises(OdooRejected, match=r"Object no\.such\.model doesn't exist"):
        asyncio.run(go())


def test_nginx_client_certificate_page_is_recognised() -> None:
    page = "<html><head><title>400 No required SSL certificate was sent</title></head></html>"

    async def go() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(400, text=page)))
        transport = OdooJson2Transport(
            OdooJson2Settings(base_url="https://odoo.example", api_key=KEY), client=client
        )
        try:
            await transport.call("res.users", "context_get")
        finally:
            await transport.aclose()

    with pytest.raises(ClientCertificateRejected):
        asyncio.run(go())


def test_api_key_not_in_repr() -> None:
    settings = OdooJson2Settings(base_url="http://127.0.0.1:1", api_key=KEY)
    transport = OdooJson2Transport(settings)
    assert KEY not in repr(settings) and KEY not in repr(transport)
    asyncio.run(transport.aclose())


def test_json2_sink_built_from_config(odoo19: OdooStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODOO19_KEY", KEY)
    built = build_sink(
        {
            "name": "odoo19",
            "kind": "odoo",
            "protocol": "json2",
            "url": odoo19.url,
            "database": "edi",
            "secret_env": "ODOO19_KEY",
            "default_options": {"partner_ref": "ACME01"},
        }
    )
    assert isinstance(built, OdooSink)
    [outcome] = run(built, delivery("purchase_order", PO))
    assert outcome.action == "created"
