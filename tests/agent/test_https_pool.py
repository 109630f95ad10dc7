"""The https sink's own HTTP/1.1 clients against a real local TLS server (aiohttp.web).

Both the default aiohttp keep-alive pool and the pipelining client
(``pipelining = N``, :mod:`agent.sinks.http1`) run every test.  The status
mapping itself is shared with the httpx client and tested in
test_https_sink.py; here: what reaches the server, that each kind of answer
and each kind of network failure arrives at that mapping, and clean shutdown.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from agent.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from agent.sinks.base import Delivery
from agent.sinks.https import AiohttpLink, HttpsSink, HttpsSinkConfig, PipelinedHttpLink
from agent.tls import ClientCertificateRejected, TlsIdentity
from tests.support.pki import Pki, make_pki

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


CLIENTS = {"pool": {}, "pipelined": {"pipelining": 16, "max_connections": 2}}


@pytest.fixture(params=sorted(CLIENTS))
def client(request: pytest.FixtureRequest) -> dict[str, int]:
    """Sink settings selecting one of the two clients."""
    return CLIENTS[str(request.param)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _delivery(key: str = "ACME:1:1:0001:aa") -> Delivery:
    envelope = {"idempotency_key": key, "document": {"order_number": "PO-1"}}
    return Delivery(
        delivery_id=3,
        idempotency_key=key,
        partner="acme",
        document_type="purchase_order",
        envelope=envelope,
        body=json.dumps(envelope).encode(),
    )


async def _serve(pki: Pki, handler: Handler) -> AsyncGenerator[str, None]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.server.cert, pki.server.key)
    ctx.load_verify_locations(pki.site_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield f"https://127.0.0.1:{port}/ingest"
    finally:
        await runner.cleanup()


def _run(
    pki: Pki,
    handler: Handler,
    client: dict[str, int],
    *,
    action: str = "deliver",
    url: str | None = None,
    count: int = 1,
    **config: object,
) -> DeliveryError | None:
    """``count`` sink calls at once against ``handler``; returns the first delivery error raised, if any."""

    async def go() -> DeliveryError | None:
        identity = TlsIdentity(cert_file=pki.client.cert, key_file=pki.client.key, ca_file=pki.cloud_ca)
        serving = _serve(pki, handler)
        base = await anext(serving)
        sink = HttpsSink(
            HttpsSinkConfig(name="cloud", url=url or base, **client, **config),  # type: ignore[arg-type]
            identity=identity,
        )
        assert isinstance(sink._client, PipelinedHttpLink if client else AiohttpLink)
        try:
            if action == "deliver":
                calls = [
                    sink.deliver(_delivery(f"K-{i}" if count > 1 else "ACME:1:1:0001:aa"))
                    for i in range(count)
                ]
                for outcome in await asyncio.gather(*calls, return_exceptions=True):
                    if isinstance(outcome, BaseException):
                        raise outcome
            else:
                await sink.healthcheck()
        except DeliveryError as exc:
            return exc
        finally:
            await sink.aclose()
            await serving.aclose()
            assert sink._client.is_closed
        return None

    return asyncio.run(go())


def test_the_post_carries_the_envelope_and_its_idempotency_key(pki: Pki, client: dict[str, int]) -> None:
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, dict(request.headers), await request.read()))
        return web.json_response({"status": "accepted"}, status=202)

    assert _run(pki, handler, client, headers={"X-Tenant": "t1"}) is None
    [(method, path, headers, body)] = seen
    assert (method, path) == ("POST", "/ingest")
    assert headers["Idempotency-Key"] == "ACME:1:1:0001:aa"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Tenant"] == "t1"
    assert json.loads(body)["document"]["order_number"] == "PO-1"


def test_503_with_retry_after_is_transient(pki: Pki, client: dict[str, int]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy", headers={"Retry-After": "120"})

    error = _run(pki, handler, client)
    assert isinstance(error, TransientDeliveryError), error
    assert error.retry_after == 120.0
    assert "503" in str(error) and "busy" in str(error)


def test_400_is_permanent_with_the_servers_own_message(pki: Pki, client: dict[str, int]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"message": "order has no lines"}, status=422)

    error = _run(pki, handler, client)
    assert isinstance(error, PermanentDeliveryError) and not isinstance(error, TransientDeliveryError)
    assert "refused delivery 3 with 422: order has no lines" in str(error)


def test_a_redirect_is_not_followed(pki: Pki, client: dict[str, int]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": "https://elsewhere/"})

    error = _run(pki, handler, client)
    assert isinstance(error, PermanentDeliveryError)
    assert "redirected delivery 3 to https://elsewhere/" in str(error)


def test_nginx_certificate_page_is_a_rejection(pki: Pki, client: dict[str, int]) -> None:
    page = "<html><head><title>400 The SSL certificate error</title></head></html>"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=400, text=page, content_type="text/html")

    error = _run(pki, handler, client)
    assert isinstance(error, ClientCertificateRejected), error


def test_a_slow_server_is_a_transient_timeout(pki: Pki, client: dict[str, int]) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response()

    error = _run(pki, handler, client, timeout=0.2)
    assert isinstance(error, TransientDeliveryError), error
    assert "did not answer in time" in str(error)


def test_a_dropped_connection_is_transient(pki: Pki, client: dict[str, int]) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.abort()
        await asyncio.sleep(1)
        return web.Response()

    error = _run(pki, handler, client)
    assert isinstance(error, TransientDeliveryError), error
    assert "connection failed" in str(error)


def test_nobody_listening_is_transient(pki: Pki, client: dict[str, int], tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused

        async def handler(request: web.Request) -> web.Response:
            return web.Response()

        error = _run(pki, handler, client, url=f"https://127.0.0.1:{port}/ingest")
    assert isinstance(error, TransientDeliveryError), error
    assert "cannot connect to 127.0.0.1" in str(error)


def test_healthcheck_accepts_405_from_the_post_endpoint(pki: Pki, client: dict[str, int]) -> None:
    methods: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        methods.append(request.method)
        return web.Response(status=405)

    assert _run(pki, handler, client, action="healthcheck") is None
    assert methods == ["HEAD"]


def test_many_deliveries_at_once_reach_the_server_once_each(pki: Pki, client: dict[str, int]) -> None:
    keys: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        keys.append(request.headers["Idempotency-Key"])
        return web.Response(status=200, text='{"status":"accepted"}')

    assert _run(pki, handler, client, count=100) is None
    assert sorted(keys) == sorted(f"K-{i}" for i in range(100))


def test_a_server_closing_connections_between_answers_loses_and_repeats_nothing(
    pki: Pki, client: dict[str, int]
) -> None:
    """Every third answer says ``Connection: close``; requests written after it are sent again."""
    keys: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        keys.append(request.headers["Idempotency-Key"])
        response = web.Response(status=200, text="ok")
        if len(keys) % 3 == 0:
            response.force_close()
        return response

    assert _run(pki, handler, client, count=60) is None
    assert sorted(keys) == sorted(f"K-{i}" for i in range(60)), "each request processed exactly once"
