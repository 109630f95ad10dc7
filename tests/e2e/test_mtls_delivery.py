"""The outward link end to end: real nginx requiring client certificates, real openssl s_server,
the https sink (httpx) and the odoo sink (real odoorpc) against the Odoo stand-in.

Each refusal must carry its named reason and deliver nothing: the backend behind nginx sees no request.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.errors import DeliveryError
from agent.odoo import OdooMappingOptions, OdooRpcSettings, OdooRpcTransport
from agent.sinks import build_sink
from agent.sinks.base import Delivery
from agent.sinks.https import HttpsSink, HttpsSinkConfig
from agent.sinks.odoo import OdooSink, OdooSinkConfig
from agent.tls import (
    ClientCertificateRejected,
    ServerCertificateUntrusted,
    ServerHostnameMismatch,
    TlsIdentity,
    TlsLinkError,
)
from tests.support.backend import RecordingBackend
from tests.support.nginx import Nginx, NginxSettings, OpenSslServer
from tests.support.odoo_standin import OdooStandin
from tests.support.pki import CertPair, Pki, make_pki

PO = {
    "order_number": "PO-9001",
    "parties": [{"role": "BY", "id": "0614141000005", "name": "ACME Retail"}],
    "lines": [{"line_number": "1", "product": {"gtin": "00012345678905"}, "quantity": "4"}],
}


def _delivery(key: str = "ACME:77:1:0001:ff", document: Mapping[str, object] | None = None) -> Delivery:
    envelope = {
        "idempotency_key": key,
        "partner": "acme",
        "document_type": "purchase_order",
        "source": {"transport": "as2", "standard": "x12"},
        "document": document or PO,
    }
    return Delivery(
        delivery_id=1,
        idempotency_key=key,
        partner="acme",
        document_type="purchase_order",
        envelope=envelope,
        body=json.dumps(envelope).encode(),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def backend() -> Iterator[RecordingBackend]:
    with RecordingBackend() as server:
        yield server


@pytest.fixture(scope="module")
def nginx(pki: Pki, backend: RecordingBackend) -> Iterator[Nginx]:
    with Nginx(
        NginxSettings(
            server_cert=pki.server.cert,
            server_key=pki.server.key,
            client_ca=pki.site_ca,
            upstream_port=backend.port,
        )
    ) as server:
        yield server


def _identity(pki: Pki, pair: CertPair | None = None, ca: Path | None = None, **kw: object) -> TlsIdentity:
    pair = pair or pki.client
    return TlsIdentity(cert_file=pair.cert, key_file=pair.key, ca_file=ca or pki.cloud_ca, **kw)  # type: ignore[arg-type]


def _no_cert_client(pki: Pki) -> httpx.AsyncClient:
    ctx = ssl.create_default_context(cafile=str(pki.cloud_ca))  # trusts the server, presents nothing
    return httpx.AsyncClient(verify=ctx, http2=True, trust_env=False)


def _deliver(
    url: str,
    *,
    identity: TlsIdentity | None = None,
    client: httpx.AsyncClient | None = None,
    action: str = "deliver",
    http2: bool = True,
    pipelining: int = 0,
) -> DeliveryError | None:
    async def go() -> DeliveryError | None:
        sink = HttpsSink(
            HttpsSinkConfig(
                name="cloud", url=url, healthcheck_method="GET", http2=http2, pipelining=pipelining
            ),
            identity=identity,
            client=client,
        )
        try:
            if action == "deliver":
                await sink.deliver(_delivery())
            else:
                await sink.healthcheck()
        except DeliveryError as exc:
            return exc
        finally:
            await sink.aclose()
        return None

    return asyncio.run(go())


def test_correct_certificate_delivers(pki: Pki, nginx: Nginx, backend: RecordingBackend) -> None:
    before = len(backend.requests)
    assert _deliver(f"{nginx.url}/ingest", identity=_identity(pki)) is None
    [seen] = backend.requests[before:]
    assert seen.method == "POST" and seen.path == "/ingest"
    assert seen.headers["x-ssl-client-verify"] == "SUCCESS"
    assert "CN=gateway" in seen.headers["x-ssl-client-s-dn"]
    assert seen.headers["idempotency-key"] == "ACME:77:1:0001:ff"
    assert json.loads(seen.body)["document"]["order_number"] == "PO-9001"
    assert nginx.access_log()[-1][2] == "HTTP/2.0"


@pytest.mark.parametrize("case", ["missing", "wrong_ca", "expired"])
def test_refused_client_certificates_deliver_nothing(
    pki: Pki, nginx: Nginx, backend: RecordingBackend, case: str
) -> None:
    before = len(backend.requests)
    if case == "missing":
        error = _deliver(f"{nginx.url}/ingest", client=_no_cert_client(pki))
        expected = "requires a client certificate and got none"
    elif case == "wrong_ca":
        error = _deliver(f"{nginx.url}/ingest", identity=_identity(pki, pki.client_rogue))
        expected = "could not verify our certificate"
    else:
        # Our own check refuses an expired certificate; pretend the clock is wrong to get it on the wire.
        past = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=7)
        error = _deliver(
            f"{nginx.url}/ingest", identity=_identity(pki, pki.client_expired, clock=lambda: past)
        )
        expected = "could not verify our certificate"
    assert isinstance(error, ClientCertificateRejected), error
    assert str(error).startswith("client certificate rejected by server:")
    assert expected in str(error)
    assert backend.requests[before:] == []


def test_server_signed_by_another_ca_is_untrusted(pki: Pki, nginx: Nginx, backend: RecordingBackend) -> None:
    before = len(backend.requests)
    error = _deliver(f"{nginx.url}/ingest", identity=_identity(pki, ca=pki.rogue_ca))
    assert isinstance(error, ServerCertificateUntrusted), error
    assert "not signed by the pinned CA" in str(error)
    assert backend.requests[before:] == []


def test_server_certificate_for_another_host(pki: Pki, backend: RecordingBackend) -> None:
    before = len(backend.requests)
    settings = NginxSettings(
        server_cert=pki.server_wrong_host.cert,
        server_key=pki.server_wrong_host.key,
        client_ca=pki.site_ca,
        upstream_port=backend.port,
    )
    with Nginx(settings) as other:
        error = _deliver(f"{other.url}/ingest", identity=_identity(pki))
    assert isinstance(error, ServerHostnameMismatch), error
    assert "not issued for that host name" in str(error)
    assert backend.requests[before:] == []


def test_one_connection_carries_many_deliveries(pki: Pki, nginx: Nginx, backend: RecordingBackend) -> None:
    before_log, before = len(nginx.access_log()), len(backend.requests)

    async def go() -> None:
        sink = HttpsSink(
            HttpsSinkConfig(name="cloud", url=f"{nginx.url}/ingest", http2=True), identity=_identity(pki)
        )
        try:
            await asyncio.gather(*(sink.deliver(_delivery(f"K-{i}")) for i in range(40)))
        finally:
            await sink.aclose()

    asyncio.run(go())
    lines = nginx.access_log_after(before_log, 40)
    assert len(lines) == 40 and len(backend.requests) - before == 40
    assert len({line[0] for line in lines}) == 1  # one TLS connection (HTTP/2 multiplexed)
    assert {line[3] for line in lines} == {"200"}


def test_keep_alive_pool_reuses_its_connections(pki: Pki, nginx: Nginx, backend: RecordingBackend) -> None:
    """The default client: at most ``max_connections`` HTTP/1.1 connections, kept for later deliveries."""
    before_log, before = len(nginx.access_log()), len(backend.requests)

    async def go() -> None:
        sink = HttpsSink(
            HttpsSinkConfig(name="cloud", url=f"{nginx.url}/ingest", max_connections=4),
            identity=_identity(pki),
        )
        try:
            for wave in range(3):
                await asyncio.gather(*(sink.deliver(_delivery(f"W{wave}-{i}")) for i in range(20)))
        finally:
            await sink.aclose()

    asyncio.run(go())
    lines = nginx.access_log_after(before_log, 60)
    assert len(lines) == 60 and len(backend.requests) - before == 60
    assert {line[2] for line in lines} == {"HTTP/1.1"}
    assert len({line[0] for line in lines}) <= 4, "the pool opened more connections than allowed"
    # Waves run one after another, so nginx logs them in order: the last wave
    # must ride connections the first wave opened (kept alive, not reopened).
    first_wave, last_wave = {line[0] for line in lines[:20]}, {line[0] for line in lines[40:]}
    assert first_wave & last_wave, "no connection of the first wave was kept for the last one"
    keys = [r.headers["idempotency-key"] for r in backend.requests[before:]]
    assert sorted(keys) == sorted(f"W{w}-{i}" for w in range(3) for i in range(20))
    assert {line[3] for line in lines} == {"200"}


@pytest.mark.parametrize(
    ("pair", "alert"), [(None, "TLSV13_ALERT_CERTIFICATE_REQUIRED"), ("rogue", "TLSV1_ALERT_UNKNOWN_CA")]
)
def test_tls_alert_flavour_from_openssl_s_server(pki: Pki, pair: str | None, alert: str) -> None:
    with OpenSslServer(cert=pki.server.cert, key=pki.server.key, client_ca=pki.site_ca) as server:
        if pair is None:
            error = _deliver(f"{server.url}/", client=_no_cert_client(pki), action="healthcheck")
        else:
            error = _deliver(
                f"{server.url}/", identity=_identity(pki, pki.client_rogue), action="healthcheck", http2=False
            )
    assert isinstance(error, ClientCertificateRejected), error
    assert alert in str(error)


def test_pipelining_client_classifies_tls_refusals_the_same_way(
    pki: Pki, nginx: Nginx, backend: RecordingBackend
) -> None:
    """The pipelining client (its own connections, no library in between) against the same refusals."""
    before = len(backend.requests)
    url = f"{nginx.url}/ingest"
    rogue_client = _deliver(url, identity=_identity(pki, pki.client_rogue), pipelining=8)
    assert isinstance(rogue_client, ClientCertificateRejected), rogue_client
    assert "could not verify our certificate" in str(rogue_client)
    rogue_server = _deliver(url, identity=_identity(pki, ca=pki.rogue_ca), pipelining=8)
    assert isinstance(rogue_server, ServerCertificateUntrusted), rogue_server
    with OpenSslServer(cert=pki.server.cert, key=pki.server.key, client_ca=pki.site_ca) as server:
        alert = _deliver(f"{server.url}/", identity=_identity(pki, pki.client_rogue), pipelining=8)
    assert isinstance(alert, ClientCertificateRejected), alert
    assert "TLSV1_ALERT_UNKNOWN_CA" in str(alert)
    settings = NginxSettings(
        server_cert=pki.server_wrong_host.cert,
        server_key=pki.server_wrong_host.key,
        client_ca=pki.site_ca,
        upstream_port=backend.port,
    )
    with Nginx(settings) as other:
        wrong_host = _deliver(f"{other.url}/ingest", identity=_identity(pki), pipelining=8)
    assert isinstance(wrong_host, ServerHostnameMismatch), wrong_host
    assert backend.requests[before:] == []
    assert _deliver(url, identity=_identity(pki), pipelining=8) is None, "positive control"
    assert [r.headers["idempotency-key"] for r in backend.requests[before:]] == ["ACME:77:1:0001:ff"]


@pytest.mark.parametrize("pipelining", [0, 8])
def test_http1_clients_stay_on_http1_when_an_http2_client_shares_the_context(
    pki: Pki, nginx: Nginx, backend: RecordingBackend, pipelining: int
) -> None:
    """httpcore sets ALPN (h2) on the context it is given; our HTTP/1.1 clients must not inherit it."""
    identity = _identity(pki)
    before = len(nginx.access_log())

    async def go() -> None:
        async with httpx.AsyncClient(verify=identity.context, http2=True, trust_env=False) as h2:
            (await h2.post(f"{nginx.url}/ingest", content=b"{}")).raise_for_status()
        sink = HttpsSink(
            HttpsSinkConfig(name="cloud", url=f"{nginx.url}/ingest", pipelining=pipelining), identity=identity
        )
        try:
            await asyncio.gather(*(sink.deliver(_delivery(f"S-{pipelining}-{i}")) for i in range(5)))
        finally:
            await sink.aclose()

    asyncio.run(go())
    protocols = [line[2] for line in nginx.access_log_after(before, 6)]
    assert protocols == ["HTTP/2.0"] + ["HTTP/1.1"] * 5


def test_openssl_s_server_accepts_the_right_certificate(pki: Pki) -> None:
    """Positive control for the test above: same server, our real certificate."""
    with OpenSslServer(cert=pki.server.cert, key=pki.server.key, client_ca=pki.site_ca) as server:
        assert _deliver(f"{server.url}/", identity=_identity(pki), action="healthcheck", http2=False) is None


# -- odoo sink through nginx mTLS ------------------------------------------------------------------


@pytest.fixture(scope="module")
def odoo_link(pki: Pki) -> Iterator[tuple[OdooStandin, Nginx]]:
    standin = OdooStandin(password="k3y", api_keys=("k3y",)).start()
    standin.seed("res.partner", name="ACME Retail", ref="ACME01")
    standin.seed("product.product", name="Widget", barcode="00012345678905")
    try:
        with Nginx(
            NginxSettings(
                server_cert=pki.server.cert,
                server_key=pki.server.key,
                client_ca=pki.site_ca,
                upstream_port=standin.port,
                http2=False,
            )
        ) as proxy:
            yield standin, proxy
    finally:
        standin.stop()


def _odoo_sink(port: int, identity: TlsIdentity, **settings_kw: Any) -> OdooSink:
    settings = OdooRpcSettings(
        host="127.0.0.1",
        port=port,
        database="edi",
        login="gateway",
        secret="k3y",
        use_tls=True,
        timeout=10,
        **settings_kw,
    )
    return OdooSink(
        OdooSinkConfig(name="odoo", default_options=OdooMappingOptions(partner_ref="ACME01")),
        OdooRpcTransport(settings, identity=identity),
    )


def _odoo_deliver(sink: object, *deliveries: Delivery) -> list[str] | DeliveryError:
    assert isinstance(sink, OdooSink)

    async def go() -> list[str] | DeliveryError:
        try:
            return [(await sink.deliver_with_outcome(d)).action for d in deliveries]
        except DeliveryError as exc:
            return exc
        finally:
            await sink.aclose()

    return asyncio.run(go())


def test_odoo_sink_through_nginx_mtls_creates_once(pki: Pki, odoo_link: tuple[OdooStandin, Nginx]) -> None:
    standin, proxy = odoo_link
    actions = _odoo_deliver(_odoo_sink(proxy.port, _identity(pki)), _delivery(), _delivery())
    assert actions == ["created", "existing"]
    [order] = standin.records("sale.order", [["client_order_ref", "=", "PO-9001"]])
    assert order["partner_id"] == 1
    assert {line[4] for line in proxy.access_log()} == {"SUCCESS"}


@pytest.mark.parametrize("case", ["rogue_client", "rogue_server_ca"])
def test_odoo_sink_refused_tls_reaches_nothing(
    pki: Pki, odoo_link: tuple[OdooStandin, Nginx], case: str
) -> None:
    standin, proxy = odoo_link
    calls_before = len(standin.calls)
    identity = _identity(pki, pki.client_rogue) if case == "rogue_client" else _identity(pki, ca=pki.rogue_ca)
    error = _odoo_deliver(_odoo_sink(proxy.port, identity), _delivery("other-key"))
    expected = ClientCertificateRejected if case == "rogue_client" else ServerCertificateUntrusted
    assert isinstance(error, expected), error
    assert len(standin.calls) == calls_before


def test_odoo_sink_tls_alert_from_strict_server(pki: Pki) -> None:
    with OpenSslServer(cert=pki.server.cert, key=pki.server.key, client_ca=pki.site_ca) as server:
        error = _odoo_deliver(_odoo_sink(server.port, _identity(pki, pki.client_rogue)), _delivery())
    assert isinstance(error, ClientCertificateRejected), error
    assert isinstance(error, TlsLinkError)
    assert "TLSV1_ALERT_UNKNOWN_CA" in str(error)


@pytest.mark.parametrize("keep_alive", [True, False])
def test_odoo_rpcs_reuse_one_tls_connection(
    pki: Pki, odoo_link: tuple[OdooStandin, Nginx], keep_alive: bool
) -> None:
    """odoorpc's urllib says ``Connection: close``; our opener keeps the mTLS connection instead."""
    _standin, proxy = odoo_link
    before = len(proxy.access_log())
    sink = _odoo_sink(proxy.port, _identity(pki), workers=1, keep_alive=keep_alive)
    docs = [{**PO, "order_number": f"PO-KA-{keep_alive}-{i}"} for i in range(3)]
    actions = _odoo_deliver(sink, *(_delivery(f"KA-{keep_alive}-{i}", doc) for i, doc in enumerate(docs)))
    assert actions == ["created"] * 3
    lines = proxy.access_log()[before:]
    assert len(lines) >= 10  # login, context, lookups and creates
    connections = {line[0] for line in lines}
    assert len(connections) == (1 if keep_alive else len(lines))


def test_certificate_rotation_without_restart(
    pki: Pki, nginx: Nginx, backend: RecordingBackend, tmp_path: Path
) -> None:
    """The sink starts with a certificate nginx refuses; the operator drops in the right one.

    The next delivery goes through on a new connection, and the old client is closed once idle.
    """
    cert, key = tmp_path / "gateway.pem", tmp_path / "gateway.key"
    cert.write_bytes(pki.client_rogue.cert.read_bytes())
    key.write_bytes(pki.client_rogue.key.read_bytes())
    key.chmod(0o600)
    identity = TlsIdentity(cert_file=cert, key_file=key, ca_file=pki.cloud_ca)
    before = len(backend.requests)

    async def go() -> tuple[DeliveryError | None, bool]:
        sink = HttpsSink(HttpsSinkConfig(name="cloud", url=f"{nginx.url}/ingest"), identity=identity)
        try:
            refused: DeliveryError | None = None
            try:
                await sink.deliver(_delivery("rot-1"))
            except DeliveryError as exc:
                refused = exc
            old = sink._client
            for src, dst in ((pki.client.key, key), (pki.client.cert, cert)):  # atomic replace, key first
                tmp = dst.with_suffix(".new")
                tmp.write_bytes(src.read_bytes())
                tmp.chmod(0o600)  # a key readable by others would be refused (and kept out of rotation)
                tmp.replace(dst)
            await sink.deliver(_delivery("rot-2"))
            return refused, old.is_closed
        finally:
            await sink.aclose()

    refused, old_closed = asyncio.run(go())
    assert isinstance(refused, ClientCertificateRejected)
    assert [r.headers["idempotency-key"] for r in backend.requests[before:]] == ["rot-2"]
    assert old_closed
    assert identity.generation == 2


def test_odoo_sink_to_a_tls_standin_demanding_client_certificates(pki: Pki) -> None:
    """Third flavour: Python's own ssl server with CERT_REQUIRED (reference/odoo.md §4), no proxy."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.server.cert, pki.server.key)
    server_ctx.load_verify_locations(pki.site_ca)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    standin = OdooStandin(password="k3y", tls=server_ctx).start()
    standin.seed("res.partner", name="ACME Retail", ref="ACME01")
    standin.seed("product.product", name="Widget", barcode="00012345678905")
    try:
        refused = _odoo_deliver(_odoo_sink(standin.port, _identity(pki, pki.client_rogue)), _delivery())
        accepted = _odoo_deliver(_odoo_sink(standin.port, _identity(pki)), _delivery(), _delivery())
    finally:
        standin.stop()
    assert isinstance(refused, ClientCertificateRejected), refused
    assert accepted == ["created", "existing"]
    assert "gateway" in standin.peer_subjects
    assert len(standin.records("sale.order")) == 1


def test_odoo_sink_built_from_its_config_table(
    pki: Pki, odoo_link: tuple[OdooStandin, Nginx], tmp_path: Path
) -> None:
    """What the daemon does: ``build_sink`` from the ``[[sinks]]`` table, https + [sinks.tls]."""
    standin, proxy = odoo_link
    secret = tmp_path / "odoo.key"
    secret.write_text("k3y\n")
    secret.chmod(0o600)
    sink = build_sink(
        {
            "name": "odoo",
            "kind": "odoo",
            "url": f"https://127.0.0.1:{proxy.port}",
            "database": "edi",
            "login": "gateway",
            "secret_file": str(secret),
            "tls": {
                "cert_file": str(pki.client.cert),
                "key_file": str(pki.client.key),
                "ca_file": str(pki.cloud_ca),
            },
            "default_options": {"partner_ref": "ACME01"},
        }
    )
    assert isinstance(sink, OdooSink)
    status = sink.tls_status()
    assert (
        status is not None and "CN=gateway" in status.subject and status.as_dict()["expiring_soon"] is False
    )
    doc = {**PO, "order_number": "PO-CONFIG-1"}
    assert _odoo_deliver(sink, _delivery("cfg-1", doc)) == ["created"]
    assert len(standin.records("sale.order", [["client_order_ref", "=", "PO-CONFIG-1"]])) == 1


def test_odoo19_json2_sink_through_nginx_mtls(
    pki: Pki, odoo_link: tuple[OdooStandin, Nginx], tmp_path: Path
) -> None:
    standin, proxy = odoo_link
    secret = tmp_path / "odoo.key"
    secret.write_text("k3y\n")
    secret.chmod(0o600)
    tls = {"cert_file": str(pki.client.cert), "key_file": str(pki.client.key), "ca_file": str(pki.cloud_ca)}
    table = {
        "name": "odoo19",
        "kind": "odoo",
        "protocol": "json2",
        "url": f"https://127.0.0.1:{proxy.port}",
        "database": "edi",
        "secret_file": str(secret),
        "tls": tls,
        "default_options": {"partner_ref": "ACME01"},
    }
    doc = {**PO, "order_number": "PO-JSON2-1"}
    assert _odoo_deliver(build_sink(table), _delivery("j2-1", doc), _delivery("j2-1", doc)) == [
        "created",
        "existing",
    ]
    assert len(standin.records("sale.order", [["client_order_ref", "=", "PO-JSON2-1"]])) == 1
    rogue = {
        **table,
        "tls": {**tls, "cert_file": str(pki.client_rogue.cert), "key_file": str(pki.client_rogue.key)},
    }
    refused = _odoo_deliver(build_sink(rogue), _delivery("j2-2", {**PO, "order_number": "PO-JSON2-2"}))
    assert isinstance(refused, ClientCertificateRejected), refused
