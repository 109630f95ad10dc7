"""The odoo sink with the real odoorpc client against the Odoo stand-in (plain HTTP on 127.0.0.1).

The same sink through nginx with client certificates is in tests/e2e/test_mtls_delivery.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import odoorpc
import pytest

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.odoo import (
    REDACTING_FILTER,
    OdooAccessDenied,
    OdooMappingOptions,
    OdooRejected,
    OdooRpcSettings,
    OdooRpcTransport,
    OdooUnavailable,
)
from agent.odoo.mapping import OdooOutcome
from agent.sinks import build_sink
from agent.sinks.odoo import OdooSink, OdooSinkConfig
from tests.support.deliveries import PO, delivery, fails, run
from tests.support.odoo_standin import OdooStandin

SECRET = "s3cret-Pa55-do-not-log"


@pytest.fixture
def standin() -> Iterator[OdooStandin]:
    server = OdooStandin(password=SECRET).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def acme(standin: OdooStandin) -> dict[str, int]:
    """A customer with a delivery address and two products, as a site would have them."""
    partner = standin.seed("res.partner", name="ACME Retail", ref="ACME01")
    return {
        "partner": partner,
        "dc": standin.seed(
            "res.partner", name="DC East", ref="0614141000012", parent_id=partner, type="delivery"
        ),
        "widget": standin.seed("product.product", name="Widget", barcode="00012345678905", uom_id=1),
        "gadget": standin.seed("product.product", name="Gadget", default_code="GAD-2", uom_id=1),
    }


def _settings(standin: OdooStandin, secret: str = SECRET) -> OdooRpcSettings:
    return OdooRpcSettings(
        host="127.0.0.1",
        port=standin.port,
        database="edi",
        login="gateway",
        secret=secret,
        use_tls=False,
        timeout=10,
    )


def _sink(standin: OdooStandin, *, secret: str = SECRET, **config: Any) -> OdooSink:
    config.setdefault("default_options", OdooMappingOptions(partner_ref="ACME01"))
    return OdooSink(OdooSinkConfig(name="odoo", **config), OdooRpcTransport(_settings(standin, secret)))


# -- purchase order -> sale.order --------------------------------------------------------------


def test_purchase_order_creates_one_sale_order(standin: OdooStandin, acme: dict[str, int]) -> None:
    [outcome] = run(_sink(standin), delivery("purchase_order", PO))
    assert outcome.action == "created"
    [order] = standin.records("sale.order")
    assert outcome.res_id == order["id"]
    assert order["client_order_ref"] == "PO-4711"
    assert order["partner_id"] == acme["partner"]
    assert order["partner_shipping_id"] == acme["dc"]
    assert order["commitment_date"] == "2026-12-01 08:30:00"
    assert order["origin"] == "EDI acme / ICN 000000123 / GCN 1 / TCN 0001"
    lines = standin.records("sale.order.line")
    assert [(ln["product_id"], ln["product_uom_qty"], ln["price_unit"]) for ln in lines] == [
        (acme["widget"], 10.0, 2.5),
        (acme["gadget"], 3.0, False),
    ]


def test_second_delivery_of_the_same_order_creates_nothing(
    standin: OdooStandin, acme: dict[str, int]
) -> None:
    first, again, replay = run(
        _sink(standin),
        delivery("purchase_order", PO),
        delivery("purchase_order", PO),
        delivery("purchase_order", PO, key="ACME:2:1:0001:aa"),
    )
    assert (first.action, again.action, replay.action) == ("created", "existing", "existing")
    assert again.res_id == first.res_id == replay.res_id
    assert len(standin.records("sale.order")) == 1
    assert len(standin.model_calls("sale.order", "create")) == 1


def test_concurrent_duplicates_create_one_order(standin: OdooStandin, acme: dict[str, int]) -> None:
    standin.latency = 0.01  # widen the window between the lookup and the create
    sink = _sink(standin)

    async def go() -> list[OdooOutcome]:
        try:
            return list(
                await asyncio.gather(
                    *(sink.deliver_with_outcome(delivery("purchase_order", PO)) for _ in range(6))
                )
            )
        finally:
            await sink.aclose()

    outcomes = asyncio.run(go())
    assert sorted(o.action for o in outcomes) == ["created"] + ["existing"] * 5
    assert len(standin.records("sale.order")) == 1


def test_confirm_orders_option(standin: OdooStandin, acme: dict[str, int]) -> None:
    run(
        _sink(standin, default_options=OdooMappingOptions(partner_ref="ACME01", confirm_orders=True)),
        delivery("purchase_order", PO),
    )
    assert standin.records("sale.order")[0]["state"] == "sale"
    assert len(standin.records("stock.picking")) == 1


def test_partner_found_by_gln_without_profile_ref(standin: OdooStandin, acme: dict[str, int]) -> None:
    buyer = standin.seed("res.partner", name="Buyer HQ", barcode="0614141000005")
    [outcome] = run(_sink(standin, default_options=OdooMappingOptions()), delivery("purchase_order", PO))
    order = standin.records("sale.order")[0]
    assert outcome.action == "created"
    assert order["partner_id"] == buyer  # matched on barcode = the buyer's GLN
    assert order["partner_shipping_id"] is False  # the DC belongs to another commercial partner
    assert any("ship-to" in d for d in outcome.detail)


def test_unknown_product_refuses_the_whole_order(standin: OdooStandin, acme: dict[str, int]) -> None:
    po = {
        **PO,
        "lines": [*PO["lines"], {"line_number": "3", "product": {"gtin": "99999999999999"}, "quantity": "1"}],
    }
    exc = fails(_sink(standin), delivery("purchase_order", po))
    assert isinstance(exc, PermanentDeliveryError)
    assert "line 3 (GTIN 99999999999999)" in str(exc)
    assert standin.records("sale.order") == []


def test_unknown_customer_is_permanent_and_says_what_was_tried(standin: OdooStandin) -> None:
    exc = fails(_sink(standin, default_options=OdooMappingOptions()), delivery("purchase_order", PO))
    assert isinstance(exc, PermanentDeliveryError)
    assert "no Odoo contact matches partner 'acme'" in str(exc)
    assert "barcode='0614141000005'" in str(exc)


def test_invalid_document_is_permanent(standin: OdooStandin, acme: dict[str, int]) -> None:
    exc = fails(_sink(standin), delivery("purchase_order", {"lines": []}))
    assert isinstance(exc, PermanentDeliveryError)
    assert "does not match its schema" in str(exc) and "order_number" in str(exc)


def test_unmapped_document_type_is_permanent(standin: OdooStandin) -> None:
    exc = fails(_sink(standin), delivery("load_tender", {"shipment_id": "X"}))
    assert isinstance(exc, PermanentDeliveryError)
    assert "no mapping for 'load_tender'" in str(exc)


# -- error mapping ---------------------------------------------------------------------------------


def test_validation_error_is_permanent_with_odoos_message(standin: OdooStandin, acme: dict[str, int]) -> None:
    standin.fail_rpc(
        "odoo.exceptions.ValidationError",
        "The customer reference must be unique per company",
        model="sale.order",
        method="create",
    )
    exc = fails(_sink(standin), delivery("purchase_order", PO))
    assert isinstance(exc, OdooRejected)
    assert not isinstance(exc, TransientDeliveryError)
    assert exc.exception_name == "odoo.exceptions.ValidationError"
    assert exc.odoo_message == "The customer reference must be unique per company"
    assert "sale.order.create" in str(exc)


@pytest.mark.parametrize(
    "name", ["odoo.exceptions.UserError", "odoo.exceptions.MissingError", "odoo.exceptions.AccessError"]
)
def test_business_errors_are_permanent(standin: OdooStandin, acme: dict[str, int], name: str) -> None:
    standin.fail_rpc(name, "nope", model="sale.order", method="create")
    exc = fails(_sink(standin), delivery("purchase_order", PO))
    assert isinstance(exc, OdooRejected) and exc.exception_name == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("psycopg2.errors.SerializationFailure", "could not serialize access due to concurrent update"),
        ("psycopg2.errors.LockNotAvailable", 'could not obtain lock on row in relation "sale_order"'),
        ("psycopg2.errors.DeadlockDetected", "deadlock detected"),
    ],
)
def test_database_races_are_transient(
    standin: OdooStandin, acme: dict[str, int], name: str, message: str
) -> None:
    standin.fail_rpc(name, message, model="sale.order", method="create")
    exc = fails(_sink(standin), delivery("purchase_order", PO))
    assert isinstance(exc, OdooUnavailable)
    assert message in str(exc)
    assert standin.records("sale.order") == []


def test_proxy_503_is_transient_with_retry_after(standin: OdooStandin, acme: dict[str, int]) -> None:
    standin.fail_http(503, retry_after="30")
    exc = fails(_sink(standin), delivery("purchase_order", PO))
    assert isinstance(exc, OdooUnavailable)
    assert exc.retry_after == 30.0
    assert "HTTP 503" in str(exc)


def test_stopped_odoo_is_transient(standin: OdooStandin, acme: dict[str, int]) -> None:
    standin.stop()
    exc = fails(_sink(standin), delivery("purchase_order", PO))
    assert isinstance(exc, OdooUnavailable)
    assert "cannot reach Odoo at 127.0.0.1" in str(exc)


def test_odoo_going_away_between_calls_is_transient_then_recovers(
    standin: OdooStandin, acme: dict[str, int]
) -> None:
    sink = _sink(standin)
    port = standin.port

    async def go() -> tuple[BaseException | None, OdooOutcome]:
        try:
            await sink.healthcheck()
            standin.stop()
            error: BaseException | None = None
            try:
                await sink.deliver_with_outcome(delivery("purchase_order", PO))
            except TransientDeliveryError as exc:
                error = exc
            standin.start(port)
            return error, await sink.deliver_with_outcome(delivery("purchase_order", PO))
        finally:
            await sink.aclose()

    error, outcome = asyncio.run(go())
    assert isinstance(error, OdooUnavailable)
    assert outcome.action == "created"


def test_wrong_password_is_access_denied(standin: OdooStandin, acme: dict[str, int]) -> None:
    exc = fails(_sink(standin, secret="wrong"), delivery("purchase_order", PO))
    assert isinstance(exc, OdooAccessDenied)
    assert "refused the login of 'gateway' on database 'edi'" in str(exc)
    assert "wrong" not in str(exc).split(":")[0]


def test_revoked_key_later_is_access_denied(standin: OdooStandin, acme: dict[str, int]) -> None:
    sink = _sink(standin)

    async def go() -> BaseException:
        try:
            await sink.healthcheck()
            standin.password = "rotated"
            with pytest.raises(OdooAccessDenied) as info:
                await sink.deliver(delivery("purchase_order", PO))
            return info.value
        finally:
            await sink.aclose()

    assert "changed, revoked or expired" in str(asyncio.run(go()))


# -- secrets -----------------------------------------------------------------------------------


def test_odoorpc_debug_logging_never_shows_the_secret(
    standin: OdooStandin, acme: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("odoorpc").setLevel(logging.DEBUG)
    try:
        sink = _sink(standin)
        run(sink, delivery("purchase_order", PO))
        assert SECRET not in repr(sink._transport) and SECRET not in repr(_settings(standin))
    finally:
        logging.getLogger("odoorpc").setLevel(logging.NOTSET)
    sent = [r for r in caplog.records if r.name == "odoorpc.rpc.jsonrpclib"]
    assert any("common" in r.getMessage() and "login" in r.getMessage() for r in sent)  # login was logged
    assert any("sale.order" in r.getMessage() and "create" in r.getMessage() for r in sent)
    assert SECRET not in caplog.text
    assert all(SECRET not in r.getMessage() for r in caplog.records)
    assert "**********" in caplog.text


def test_without_the_filter_odoorpc_would_leak(
    standin: OdooStandin, caplog: pytest.LogCaptureFixture
) -> None:
    """Control: proves the test above can fail (odoorpc 0.10.1 logs the password at DEBUG)."""
    log = logging.getLogger("odoorpc.rpc.jsonrpclib")
    had = REDACTING_FILTER in log.filters
    log.removeFilter(REDACTING_FILTER)
    caplog.set_level(logging.DEBUG, logger="odoorpc.rpc.jsonrpclib")
    try:
        odoo = odoorpc.ODOO("127.0.0.1", port=standin.port)
        odoo.login("edi", "gateway", SECRET)
    finally:
        if had:
            log.addFilter(REDACTING_FILTER)
    assert SECRET in caplog.text


# -- exchange record mode ------------------------------------------------------------------------


def _exchange_setup(standin: OdooStandin) -> int:
    backend = standin.seed("edi.backend", name="edigate")
    standin.seed("edi.exchange.type", name="Inbound 850", code="edigate_purchase_order", backend_id=backend)
    return backend


def test_exchange_record_mode_is_idempotent(standin: OdooStandin) -> None:
    backend = _exchange_setup(standin)
    sink = _sink(standin, mode="exchange_record", backend_id=backend)
    first, again = run(sink, delivery("purchase_order", PO), delivery("purchase_order", PO))
    assert (first.action, again.action) == ("created", "existing")
    [record] = standin.records("edi.exchange.record")
    assert record["external_identifier"] == "ACME:1:1:0001:aa"
    assert record["edi_exchange_state"] == "input_received"
    assert record["backend_id"] == backend
    assert standin.records("sale.order") == []  # Odoo's own handlers map it, not the gateway


class _BlindFirstSearch:
    """Wraps a transport so the first lookup misses: the create then hits the unique constraint."""

    def __init__(self, inner: OdooRpcTransport) -> None:
        self.inner, self.hidden = inner, False

    async def call(
        self, model: str, method: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
    ) -> Any:
        if model == "edi.exchange.record" and method == "search" and not self.hidden:
            self.hidden = True
            return []
        return await self.inner.call(model, method, args, kwargs)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_exchange_record_unique_violation_counts_as_delivered(standin: OdooStandin) -> None:
    backend = _exchange_setup(standin)
    run(_sink(standin, mode="exchange_record", backend_id=backend), delivery("purchase_order", PO))
    racing = OdooSink(
        OdooSinkConfig(name="odoo", mode="exchange_record", backend_id=backend),
        _BlindFirstSearch(OdooRpcTransport(_settings(standin))),
    )
    [outcome] = run(racing, delivery("purchase_order", PO))
    assert outcome.action == "existing"
    assert len(standin.model_calls("edi.exchange.record", "create")) == 2  # the second was refused by Odoo
    assert len(standin.records("edi.exchange.record")) == 1


def test_exchange_record_unknown_type_is_permanent(standin: OdooStandin) -> None:
    backend = _exchange_setup(standin)
    exc = fails(
        _sink(standin, mode="exchange_record", backend_id=backend),
        delivery("invoice", {"invoice_number": "1"}),
    )
    assert isinstance(exc, PermanentDeliveryError)
    assert "no edi.exchange.type with code 'edigate_invoice'" in str(exc)


# -- connection reuse ------------------------------------------------------------------------------


def test_idle_connection_closed_by_the_server_is_replaced_transparently(
    standin: OdooStandin, acme: dict[str, int]
) -> None:
    settings = OdooRpcSettings(
        host="127.0.0.1",
        port=standin.port,
        database="edi",
        login="gateway",
        secret=SECRET,
        use_tls=False,
        workers=1,
    )
    sink = OdooSink(
        OdooSinkConfig(name="odoo", default_options=OdooMappingOptions(partner_ref="ACME01")),
        OdooRpcTransport(settings),
    )

    async def go() -> OdooOutcome:
        try:
            await sink.healthcheck()
            standin.drop_connections()  # e.g. a proxy's keep-alive timeout while we were idle
            return await sink.deliver_with_outcome(delivery("purchase_order", PO))
        finally:
            await sink.aclose()

    assert asyncio.run(go()).action == "created"
    assert len(standin.records("sale.order")) == 1


# -- configuration ---------------------------------------------------------------------------------


def test_build_sink_from_a_config_table_with_a_secret_file(
    standin: OdooStandin, acme: dict[str, int], tmp_path: Path
) -> None:
    secret = tmp_path / "odoo.key"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    table = {
        "name": "odoo",
        "kind": "odoo",
        "url": standin.url,
        "database": "edi",
        "login": "gateway",
        "secret_file": str(secret),
        "options": {"acme": {"partner_ref": "ACME01", "confirm_orders": True}},
    }
    sink = build_sink(table)
    assert isinstance(sink, OdooSink)
    [outcome] = run(sink, delivery("purchase_order", PO))
    assert outcome.action == "created"
    assert standin.records("sale.order")[0]["state"] == "sale"  # the per-partner option applied


def test_config_secret_from_environment_and_errors(
    standin: OdooStandin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base = {"name": "odoo", "kind": "odoo", "url": standin.url, "database": "edi", "login": "gateway"}
    monkeypatch.setenv("EDIGATE_ODOO_KEY", SECRET)
    sink = build_sink({**base, "secret_env": "EDIGATE_ODOO_KEY"})
    assert isinstance(sink, OdooSink)

    async def check() -> None:
        try:
            await sink.healthcheck()  # logs in with the secret from the environment
        finally:
            await sink.aclose()

    asyncio.run(check())
    with pytest.raises(ValueError, match="missing secret_file or secret_env"):
        build_sink(base)
    with pytest.raises(ValueError, match="cannot read secret_file"):
        build_sink({**base, "secret_file": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match=r"needs \[sinks\.tls\]"):
        build_sink({**base, "url": "https://odoo.example", "secret_env": "EDIGATE_ODOO_KEY"})
    with pytest.raises(ValueError, match="cannot reach Odoo under a sub-path"):
        build_sink({**base, "url": "http://odoo.example/odoo/", "secret_env": "EDIGATE_ODOO_KEY"})
    with pytest.raises(ValueError, match="exchange_record mode needs backend_id"):
        build_sink({**base, "secret_env": "EDIGATE_ODOO_KEY", "mode": "exchange_record"})
