"""The https sink against httpx.MockTransport: status matrix, Retry-After, headers, exception mapping."""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import shutil
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agent.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from agent.sinks import build_sink
from agent.sinks.base import Delivery
from agent.sinks.https import HttpsSink, HttpsSinkConfig, parse_retry_after
from agent.tls import ClientCertificateRejected, ServerCertificateUntrusted, TlsFileError, TlsIdentity
from tests.support.pki import make_pki

URL = "https://cloud.example:8443/v1/ingest"
NOW = _dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=_dt.UTC)


def _delivery(key: str = "ACME:000000123:1:0001:ab12") -> Delivery:
    envelope = {"schema": "edigate.envelope", "idempotency_key": key, "document": {"order_number": "PO-1"}}
    return Delivery(
        delivery_id=7,
        idempotency_key=key,
        partner="acme",
        document_type="purchase_order",
        envelope=envelope,
        body=json.dumps(envelope).encode(),
    )


Handler = Callable[[httpx.Request], httpx.Response]


def _run(handler: Handler, action: str = "deliver", **config: object) -> list[httpx.Request]:
    """Run one sink call against a MockTransport; return its requests (raises what the sink raised)."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    async def go() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(record))
        sink = HttpsSink(
            HttpsSinkConfig(name="cloud", url=URL, **config),  # type: ignore[arg-type]
            client=client,
            clock=lambda: NOW,
        )
        try:
            if action == "deliver":
                await sink.deliver(_delivery())
            else:
                await sink.healthcheck()
        finally:
            await sink.aclose()
        assert client.is_closed

    asyncio.run(go())
    return seen


def test_2xx_delivers_with_idempotency_key_and_json_body() -> None:
    seen = _run(lambda r: httpx.Response(202, json={"id": 1}), headers={"X-Tenant": "site-7"})
    assert len(seen) == 1
    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["Idempotency-Key"] == "ACME:000000123:1:0001:ab12"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Tenant"] == "site-7"
    assert request.content == _delivery().body


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_transient(status: int) -> None:
    with pytest.raises(TransientDeliveryError) as info:
        _run(lambda r: httpx.Response(status, text="busy, try later"))
    assert str(status) in str(info.value)
    assert "busy, try later" in str(info.value)
    assert info.value.retry_after is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 415, 422])
def test_other_4xx_are_permanent_with_the_servers_message(status: int) -> None:
    body = {"message": f"order rejected: reason {status}"}
    with pytest.raises(PermanentDeliveryError) as info:
        _run(lambda r: httpx.Response(status, json=body))
    assert not isinstance(info.value, TransientDeliveryError)
    assert f"order rejected: reason {status}" in str(info.value)
    assert f"with {status}" in str(info.value)


def test_redirect_is_permanent_and_names_the_target() -> None:
    with pytest.raises(PermanentDeliveryError, match=r"redirected .* to https://elsewhere/"):
        _run(lambda r: httpx.Response(301, headers={"Location": "https://elsewhere/"}))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("Sun, 29 Nov 2026 12:01:30 GMT", 90.0),
        ("Sun, 29 Nov 2026 11:00:00 GMT", 0.0),
    ],
)
def test_retry_after_seconds_and_http_date(header: str, expected: float) -> None:
    with pytest.raises(TransientDeliveryError) as info:
        _run(lambda r: httpx.Response(503, headers={"Retry-After": header}))
    assert info.value.retry_after == expected


def test_retry_after_garbage_is_ignored() -> None:
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None
    assert parse_retry_after(" 7 ", now=NOW) == 7.0


@pytest.mark.parametrize("title", ["No required SSL certificate was sent", "The SSL certificate error"])
def test_nginx_client_certificate_pages_are_rejections(title: str) -> None:
    page = (
        f"<html><head><title>400 {title}</title></head><body><center><h1>400 Bad Request</h1>"
        f"</center><center>{title}</center><hr><center>nginx</center></body></html>"
    )
    with pytest.raises(ClientCertificateRejected) as info:
        _run(lambda r: httpx.Response(400, text=page, headers={"Content-Type": "text/html"}))
    assert str(info.value).startswith("client certificate rejected by server:")
    assert title in str(info.value)


@pytest.mark.parametrize(
    ("exc", "expected", "text"),
    [
        (httpx.ReadTimeout("read timed out"), TransientDeliveryError, "did not answer in time"),
        (httpx.ConnectTimeout("connect timed out"), TransientDeliveryError, "did not answer in time"),
        (httpx.ConnectError("[Errno 111] Connection refused"), TransientDeliveryError, "cannot connect"),
        (httpx.RemoteProtocolError("Server disconnected"), TransientDeliveryError, "connection failed"),
        (httpx.DecodingError("Error -3 while decompressing data"), TransientDeliveryError, "HTTP exchange"),
        (
            httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'"),
            PermanentDeliveryError,
            "unusable",
        ),
    ],
)
def test_transport_exceptions_are_mapped(exc: Exception, expected: type[DeliveryError], text: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(expected, match=text) as info:
        _run(fail)
    assert type(info.value).__mro__.index(expected) >= 0
    if expected is PermanentDeliveryError:
        assert not isinstance(info.value, TransientDeliveryError)


def test_certificate_verify_failure_inside_connect_error_is_untrusted_server() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        cause = ssl.SSLCertVerificationError(
            1, "certificate verify failed: unable to get local issuer certificate"
        )
        cause.verify_code = 20
        cause.verify_message = "unable to get local issuer certificate"
        raise httpx.ConnectError("verify failed") from cause

    with pytest.raises(ServerCertificateUntrusted, match="not signed by the pinned CA"):
        _run(fail)


def test_healthcheck_head_ok_and_errors() -> None:
    seen = _run(
        lambda r: httpx.Response(200),
        action="healthcheck",
        healthcheck_url="https://cloud.example:8443/health",
    )
    assert [(r.method, r.url.path) for r in seen] == [("HEAD", "/health")]
    # The POST endpoint itself may answer 405 to HEAD: reaching it proves TLS and routing.
    _run(lambda r: httpx.Response(405), action="healthcheck")
    with pytest.raises(TransientDeliveryError, match="503"):
        _run(lambda r: httpx.Response(503), action="healthcheck")
    with pytest.raises(PermanentDeliveryError, match="404"):
        _run(
            lambda r: httpx.Response(404),
            action="healthcheck",
            healthcheck_url="https://cloud.example/health",
        )


def test_sink_without_client_identity_or_tls_settings_is_refused() -> None:
    with pytest.raises(ValueError, match=r"set \[sinks.tls\]"):
        HttpsSink(HttpsSinkConfig(name="x", url=URL))


def test_build_sink_from_a_config_table(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    tls = {"cert_file": str(pki.client.cert), "key_file": str(pki.client.key), "ca_file": str(pki.cloud_ca)}
    sink = build_sink({"name": "cloud", "kind": "https", "url": URL, "http2": False, "tls": tls})
    assert isinstance(sink, HttpsSink)
    status = sink.tls_status()
    assert status is not None and status.days_left >= 300 and not status.expiring_soon
    asyncio.run(sink.aclose())
    with pytest.raises(ValueError, match="verify_ssl: Extra inputs are not permitted"):
        build_sink({"name": "cloud", "kind": "https", "url": URL, "verify_ssl": False, "tls": tls})
    with pytest.raises(TlsFileError, match=r"missing\.pem"):
        build_sink(
            {
                "name": "cloud",
                "kind": "https",
                "url": URL,
                "tls": {**tls, "cert_file": str(tmp_path / "missing.pem")},
            }
        )


def test_own_client_is_rebuilt_when_certificate_files_rotate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(pki.client.cert, cert)
    shutil.copy(pki.client.key, key)
    identity = TlsIdentity(cert_file=cert, key_file=key, ca_file=pki.cloud_ca)

    now = [0.0]

    async def go() -> None:
        sink = HttpsSink(HttpsSinkConfig(name="cloud", url=URL), identity=identity, monotonic=lambda: now[0])
        first = sink._current_client()
        assert sink._current_client() is first
        for src, dst in ((pki.client_rogue.key, key), (pki.client_rogue.cert, cert)):
            tmp = dst.with_suffix(".tmp")
            shutil.copy(src, tmp)
            tmp.replace(dst)
        now[0] += 0.5
        assert sink._current_client() is first, "the files are looked at once a second, not per request"
        now[0] += 0.5
        second = sink._current_client()
        assert second is not first
        await sink.aclose()
        assert first.is_closed and second.is_closed

    asyncio.run(go())
