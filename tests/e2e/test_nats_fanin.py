"""NATS JetStream as the cloud fan-in and the downlink, end to end, over mutual TLS.

Real ``edigate run`` children (``GatewayProcess``) for two sites publish to one
real ``nats-server -js`` that verifies client certificates; the cloud side is a
nats-py client in the test.  Promises checked:

* every document reaches the stream exactly once, also across a server outage
  with deliveries queued (the duplicate window absorbs retries after lost acks);
* the downlink journals before it acks: SIGKILL before the journal means
  JetStream redelivers, SIGKILL after it means no second journal row;
* a certificate the server does not accept is refused with that reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from agent.downlink.nats import TEST_PAUSE_ENV
from tests.harness import GatewayProcess, make_850, sink_envelopes, write_config
from tests.support.nats import (
    DOWNLINK_STREAM,
    UPLINK_STREAM,
    Identity,
    NatsPki,
    NatsServer,
    admin_connect,
    create_streams,
    make_nats_pki,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> NatsPki:
    return make_nats_pki(tmp_path_factory.mktemp("nats-pki"))


@pytest.fixture
def server(tmp_path: Path, pki: NatsPki) -> Iterator[NatsServer]:
    with NatsServer(tmp_path / "nats", pki) as srv:
        yield srv


@pytest.fixture
def gateways() -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for gw in started:
        gw.kill()


def _site_config(
    root: Path, server: NatsServer, site: str, identity: Identity, *, downlink: bool = False
) -> Path:
    nats_table = f"""
[[sinks]]
name = "cloud"
kind = "nats"
servers = ["{server.url}"]
site = "{site}"
publish_timeout = 2.0
connect_timeout = 2.0
reconnect_wait = 1.0

[sinks.tls]
cert_file = "{identity.cert}"
key_file = "{identity.key}"
ca_file = "{server.pki.server_ca}"
"""
    if downlink:
        nats_table += "\n[sinks.downlink]\nfetch_timeout = 0.5\nbatch = 8\n"
    cfg = write_config(root, extra=nats_table, extra_gateway=f'site = "{site}"')
    text = cfg.read_text(encoding="utf-8")
    # Documents go to the local folder (the cross-check) and to NATS; a quick breaker reset
    # keeps the test short once the server is back.
    text = text.replace('default_sinks = ["local"]', 'default_sinks = ["local", "cloud"]')
    text = text.replace("backoff_max_seconds = 0.5", "backoff_max_seconds = 0.5\nbreaker_reset_seconds = 0.5")
    cfg.write_text(text, encoding="utf-8")
    return cfg


def _drop(root: Path, first: int, count: int, prefix: str) -> None:
    inbox = root / "inbox" / "acme"
    for icn in range(first, first + count):
        tmp = inbox / f".{prefix}{icn}.tmp"
        tmp.write_bytes(make_850(icn, f"{prefix}-PO{icn}"))
        os.replace(tmp, inbox / f"{prefix}{icn}.edi")


def _wait(check: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except sqlite3.OperationalError:
            pass  # the journal is being created
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _failed_cloud_attempts(gw: GatewayProcess) -> int:
    with gw.db() as c:
        row = c.execute(
            "SELECT COUNT(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
            " WHERE d.sink = 'cloud' AND a.ok = 0"
        ).fetchone()
        return int(row[0])


def _pending_cloud(gw: GatewayProcess) -> int:
    with gw.db() as c:
        row = c.execute(
            "SELECT COUNT(*) FROM deliveries WHERE sink = 'cloud' AND state = 'pending'"
        ).fetchone()
        return int(row[0])


async def _consume_all(server: NatsServer) -> list[tuple[str, str, dict[str, Any]]]:
    """The cloud consumer service: pull everything from the uplink stream, ack each."""
    nc = await admin_connect(server)
    try:
        js = nc.jetstream()
        await js.add_consumer(
            UPLINK_STREAM,
            ConsumerConfig(
                durable_name="cloud-test", ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL
            ),
        )
        sub = await js.pull_subscribe_bind(durable="cloud-test", stream=UPLINK_STREAM)
        seen: list[tuple[str, str, dict[str, Any]]] = []
        while True:
            info = await js.consumer_info(UPLINK_STREAM, "cloud-test")
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return seen
            try:
                msgs = await sub.fetch(64, timeout=1)
            except TimeoutError:
                continue
            for msg in msgs:
                seen.append((msg.subject, (msg.headers or {})["Nats-Msg-Id"], json.loads(msg.data)))
                await msg.ack_sync()
    finally:
        await nc.close()


def test_two_sites_fan_in_exactly_once_across_a_server_outage(
    tmp_path: Path, server: NatsServer, pki: NatsPki, gateways: list[GatewayProcess]
) -> None:
    asyncio.run(create_streams(server))
    sites = {}
    for site in ("alpha", "beta"):
        root = tmp_path / site
        gw = GatewayProcess(_site_config(root, server, site, pki.sites[site]))
        gateways.append(gw)
        gw.start()
        sites[site] = (root, gw)
    # Distinct control numbers per site: the idempotency key (partner, control numbers, content
    # hash) carries no site, and the duplicate window is per stream.
    base = {"alpha": 1000, "beta": 2000}
    for site, (root, _) in sites.items():
        _drop(root, base[site] + 1, 10, "a")
    for _, gw in sites.values():
        assert gw.wait_settled(10) == {"delivered": 10}

    server.stop()
    for site, (root, _) in sites.items():
        _drop(root, base[site] + 101, 10, "b")
    for site, (_, gw) in sites.items():
        # Queued on disk and already refused by the dead link at least once.
        _wait(lambda gw=gw: _failed_cloud_attempts(gw) >= 1 and _pending_cloud(gw) == 10, f"{site} queued")
    server.start()
    for _, gw in sites.values():
        assert gw.wait_settled(20) == {"delivered": 20}

    seen = asyncio.run(_consume_all(server))
    expected: dict[str, tuple[str, str]] = {}
    for site, (root, _) in sites.items():
        for env in sink_envelopes(root):
            expected[f"{site}:{env['idempotency_key']}"] = (site, env["document_type"])
    assert len(expected) == 40
    ids = [msg_id for _, msg_id, _ in seen]
    assert len(ids) == len(set(ids)) == 40, "a document reached the stream twice or not at all"
    assert set(ids) == set(expected)
    for subject, msg_id, body in seen:
        site, document_type = expected[msg_id]
        assert subject == f"edigate.{site}.acme.{document_type}"
        assert f"{site}:{body['idempotency_key']}" == msg_id
    for _, gw in sites.values():
        assert gw.stop() == 0


def _nats_rows(gw: GatewayProcess) -> list[sqlite3.Row]:
    with gw.db() as c:
        return c.execute("SELECT * FROM messages WHERE transport = 'nats' ORDER BY id").fetchall()


async def _publish_outbound(server: NatsServer, msg_id: str) -> None:
    nc = await admin_connect(server)
    try:
        body = {"document": {"shipment_id": "SH-1", "lines": [{"sku": "SKU-1", "quantity": "2"}]}}
        await nc.jetstream().publish(
            "edigate.alpha.outbound.acme.ship_notice",
            json.dumps(body).encode(),
            headers={"Nats-Msg-Id": msg_id},
        )
    finally:
        await nc.close()


def _consumer(server: NatsServer) -> Any:
    async def go() -> Any:
        nc = await admin_connect(server)
        try:
            return await nc.jetstream().consumer_info(DOWNLINK_STREAM, "edigate-alpha")
        finally:
            await nc.close()

    return asyncio.run(go())


@pytest.mark.parametrize("point", ["fetched", "journaled"])
def test_downlink_sigkill_before_the_journal_redelivers_after_it_deduplicates(
    point: str,
    tmp_path: Path,
    server: NatsServer,
    pki: NatsPki,
    gateways: list[GatewayProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(create_streams(server, sites=("alpha",), ack_wait=2.0))
    asyncio.run(_publish_outbound(server, "odoo-asn-77"))
    root = tmp_path / "alpha"
    gw = GatewayProcess(_site_config(root, server, "alpha", pki.sites["alpha"], downlink=True))
    gateways.append(gw)
    marker = tmp_path / "paused"
    monkeypatch.setenv(TEST_PAUSE_ENV, f"{point}:{marker}")
    gw.start()
    _wait(marker.exists, f"the downlink to pause after {point}")
    assert marker.read_text() == "odoo-asn-77"
    journaled_before_kill = len(_nats_rows(gw))
    gw.kill()  # SIGKILL: no ack was sent
    assert journaled_before_kill == (0 if point == "fetched" else 1)
    assert _consumer(server).ack_floor.stream_seq == 0

    monkeypatch.delenv(TEST_PAUSE_ENV)
    gw.start()
    # JetStream redelivers once ack_wait expires; the restarted consumer journals (or finds) it and acks.
    _wait(lambda: _consumer(server).ack_floor.stream_seq == 1, "the redelivered message to be acked")
    info = _consumer(server)
    assert info.delivered.consumer_seq >= 2, "the message was not redelivered"
    rows = _nats_rows(gw)
    assert [(r["partner"], r["external_id"]) for r in rows] == [("acme", "odoo-asn-77")]
    # Handed to partner delivery: the outbound processor moved it on from 'received'.
    _wait(lambda: _nats_rows(gw)[0]["state"] != "received", "the hand-off to partner delivery")
    assert gw.stop() == 0


def test_wrong_client_certificate_is_refused_with_the_reason_and_nothing_is_lost(
    tmp_path: Path, server: NatsServer, pki: NatsPki, gateways: list[GatewayProcess]
) -> None:
    asyncio.run(create_streams(server))
    root = tmp_path / "alpha"
    gw = GatewayProcess(_site_config(root, server, "alpha", pki.rogue))
    gateways.append(gw)
    gw.start()
    _drop(root, 1, 1, "a")

    def refused() -> bool:
        with gw.db() as c:
            row = c.execute("SELECT last_error FROM deliveries WHERE sink = 'cloud'").fetchone()
        return row is not None and "client certificate rejected" in (row[0] or "")

    _wait(refused, "the refusal to be recorded")
    # A link-wide refusal holds the queue (the engine's breaker) instead of dead-lettering.
    assert gw.states() == {"queued": 1}
    status = gw.control({"command": "status"})
    cloud = next(s for s in status["sinks"] if s["name"] == "cloud")
    assert "client certificate rejected" in (cloud["last_error"] or "")
    assert len(sink_envelopes(root)) == 1  # the local sink still got it

    async def stored() -> int:
        nc = await admin_connect(server)
        try:
            return int((await nc.jetstream().stream_info(UPLINK_STREAM)).state.messages)
        finally:
            await nc.close()

    assert asyncio.run(stored()) == 0
    assert gw.stop() == 0
