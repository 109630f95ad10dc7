"""The nats sink against a real ``nats-server -js`` requiring client certificates.

Each test starts its own server (killed even when the test fails) and talks
to it only through the sink and, to check what arrived, an admin nats-py client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.sinks import build_sink
from agent.sinks.base import Delivery
from agent.sinks.nats import NatsSink, NatsSinkConfig, subject_for, subject_token
from agent.tls import ClientCertificateRejected, TlsSettings
from tests.support.nats import (
    UPLINK_STREAM,
    Identity,
    NatsPki,
    NatsServer,
    admin_connect,
    create_streams,
    make_nats_pki,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> NatsPki:
    return make_nats_pki(tmp_path_factory.mktemp("nats-pki"))


@pytest.fixture
def server(tmp_path: Path, pki: NatsPki) -> Iterator[NatsServer]:
    with NatsServer(tmp_path / "nats", pki) as srv:
        yield srv


def _config(server: NatsServer, identity: Identity, **extra: object) -> NatsSinkConfig:
    table: dict[str, object] = {
        "name": "cloud",
        "kind": "nats",
        "servers": [server.url],
        "site": "alpha",
        "publish_timeout": 2.0,
        "connect_timeout": 2.0,
        "tls": TlsSettings(cert_file=identity.cert, key_file=identity.key, ca_file=server.pki.server_ca),
        **extra,
    }
    return NatsSinkConfig.model_validate(table)


def _delivery(key: str, *, partner: str = "acme", document_type: str = "purchase_order") -> Delivery:
    envelope = {"idempotency_key": key, "partner": partner, "document_type": document_type, "document": {}}
    return Delivery(
        delivery_id=1,
        idempotency_key=key,
        partner=partner,
        document_type=document_type,
        envelope=envelope,
        body=json.dumps(envelope).encode(),
    )


async def _stream_messages(server: NatsServer) -> list[tuple[str, dict[str, str], bytes]]:
    nc = await admin_connect(server)
    try:
        js = nc.jetstream()
        info = await js.stream_info(UPLINK_STREAM)
        out: list[tuple[str, dict[str, str], bytes]] = []
        if info.state.messages == 0:
            return out
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            raw = await js.get_msg(UPLINK_STREAM, seq)
            out.append((raw.subject, dict(raw.headers or {}), raw.data or b""))
        return out
    finally:
        await nc.close()


def test_subject_tokens_are_sanitised() -> None:
    assert subject_token("acme.retail") == "acme_retail"
    assert subject_token("a b*c>d") == "a_b_c_d"
    assert subject_token("...") == "_"
    assert subject_token("Store-42_x") == "Store-42_x"


def test_publish_waits_for_the_ack_and_the_msg_id_makes_a_retry_harmless(
    server: NatsServer, pki: NatsPki
) -> None:
    async def go() -> None:
        await create_streams(server)
        sink = NatsSink(_config(server, pki.sites["alpha"]))
        try:
            await sink.healthcheck()
            await sink.deliver(_delivery("acme:1:1:0001:aa", partner="acme.retail"))
            await sink.deliver(
                _delivery("acme:1:1:0001:aa", partner="acme.retail")
            )  # a retry after a lost ack
            await sink.deliver(_delivery("acme:2:1:0001:bb", document_type="ship notice"))
            assert (sink.published, sink.duplicates) == (3, 1)
        finally:
            await sink.aclose()
        stored = await _stream_messages(server)
        assert [(s, h["Nats-Msg-Id"]) for s, h, _ in stored] == [
            ("edigate.alpha.acme_retail.purchase_order", "alpha:acme:1:1:0001:aa"),
            ("edigate.alpha.acme.ship_notice", "alpha:acme:2:1:0001:bb"),
        ]
        assert json.loads(stored[0][2])["idempotency_key"] == "acme:1:1:0001:aa"

    asyncio.run(go())


def test_build_sink_knows_the_nats_kind(server: NatsServer, pki: NatsPki) -> None:
    ident = pki.sites["alpha"]
    sink = build_sink(
        {
            "name": "cloud",
            "kind": "nats",
            "servers": [server.url],
            "site": "alpha",
            "tls": {"cert_file": str(ident.cert), "key_file": str(ident.key), "ca_file": str(pki.server_ca)},
        }
    )
    assert isinstance(sink, NatsSink)
    assert subject_for(sink.config, "acme", "invoice") == "edigate.alpha.acme.invoice"
    with pytest.raises(ValueError, match="servers"):
        build_sink(
            {"name": "x", "kind": "nats", "servers": [], "site": "a", "tls": sink.config.tls.model_dump()}
        )


def test_missing_stream_is_permanent_with_the_reason(server: NatsServer, pki: NatsPki) -> None:
    async def go() -> None:
        sink = NatsSink(_config(server, pki.sites["alpha"]))
        try:
            with pytest.raises(PermanentDeliveryError, match="stream EDIGATE not found"):
                await sink.deliver(_delivery("k1"))
        finally:
            await sink.aclose()

    asyncio.run(go())


def test_subject_of_another_stream_is_permanent(server: NatsServer, pki: NatsPki) -> None:
    async def go() -> None:
        await create_streams(server)
        sink = NatsSink(_config(server, pki.sites["alpha"], stream="EDIGATE_OUTBOUND"))
        try:
            with pytest.raises(PermanentDeliveryError, match=r"captures \['edigate\.\*\.outbound"):
                await sink.deliver(_delivery("k1"))
        finally:
            await sink.aclose()

    asyncio.run(go())


def test_publishing_as_another_site_is_a_permission_violation(server: NatsServer, pki: NatsPki) -> None:
    async def go() -> None:
        await create_streams(server)
        # alpha's certificate, configured as site beta: the server's permissions refuse it.
        sink = NatsSink(_config(server, pki.sites["alpha"], site="beta"))
        try:
            with pytest.raises(PermanentDeliveryError, match=r"permission violation.*edigate\.beta\.acme"):
                await sink.deliver(_delivery("k1"))
        finally:
            await sink.aclose()
        assert await _stream_messages(server) == []

    asyncio.run(go())


@pytest.mark.timeout(60)
def test_wrong_client_certificate_is_refused_with_a_clear_reason(server: NatsServer, pki: NatsPki) -> None:
    async def go() -> None:
        await create_streams(server)
        sink = NatsSink(_config(server, pki.rogue))
        try:
            with pytest.raises(ClientCertificateRejected, match="client certificate rejected") as info:
                await sink.deliver(_delivery("k1"))
            assert isinstance(info.value, PermanentDeliveryError)
        finally:
            await sink.aclose()
        assert await _stream_messages(server) == []

    asyncio.run(go())
    assert "TLS handshake error" in server.log_tail(20000)


def test_unreachable_server_is_transient(tmp_path: Path, pki: NatsPki) -> None:
    srv = NatsServer(tmp_path / "nats", pki)  # configured, never started: nothing listens

    async def go() -> None:
        sink = NatsSink(_config(srv, pki.sites["alpha"]))
        try:
            with pytest.raises(TransientDeliveryError, match=r"reach|connect"):
                await sink.deliver(_delivery("k1"))
        finally:
            await sink.aclose()

    asyncio.run(go())


def test_outage_is_transient_and_the_link_comes_back(server: NatsServer, pki: NatsPki) -> None:
    async def go() -> None:
        await create_streams(server)
        sink = NatsSink(_config(server, pki.sites["alpha"], reconnect_wait=1.0))
        try:
            await sink.deliver(_delivery("k1"))
            server.stop()
            with pytest.raises(TransientDeliveryError):
                await sink.deliver(_delivery("k2"))
            server.start()
            for _ in range(60):  # the engine's retries, without its backoff
                try:
                    await sink.deliver(_delivery("k2"))
                    break
                except TransientDeliveryError:
                    await asyncio.sleep(0.5)
            await sink.healthcheck()
            assert sink.link.reconnects >= 1
        finally:
            await sink.aclose()
        ids = [h["Nats-Msg-Id"] for _, h, _ in await _stream_messages(server)]
        assert ids == ["alpha:k1", "alpha:k2"]

    asyncio.run(go())


def test_ensure_stream_creates_the_stream(server: NatsServer, pki: NatsPki) -> None:
    async def go() -> None:
        sink = NatsSink(_config(server, pki.admin, ensure_stream=True, duplicate_window=60.0))
        try:
            await sink.healthcheck()
            await sink.deliver(_delivery("k1"))
        finally:
            await sink.aclose()
        nc = await admin_connect(server)
        try:
            info = await nc.jetstream().stream_info(UPLINK_STREAM)
        finally:
            await nc.close()
        assert info.config.subjects == ["edigate.*.*.*"]
        assert info.config.duplicate_window == 60.0
        assert info.state.messages == 1

    asyncio.run(go())


def test_unusable_certificate_files_are_a_config_problem(tmp_path: Path, pki: NatsPki) -> None:
    ident = pki.sites["alpha"]
    table = {
        "name": "cloud",
        "kind": "nats",
        "servers": ["tls://127.0.0.1:4222"],
        "site": "alpha",
        "tls": {
            "cert_file": str(tmp_path / "missing.pem"),
            "key_file": str(ident.key),
            "ca_file": str(pki.server_ca),
        },
    }
    with pytest.raises(ValueError, match=r"tls: .*missing\.pem"):
        build_sink(table)
