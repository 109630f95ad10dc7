"""The NATS downlink against a real ``nats-server -js`` with client certificates and a real journal.

Each test starts its own server; the cloud side (an admin nats-py client)
creates the streams and the durable consumer, publishes, and reads the
consumer's state to see what the downlink acknowledged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.downlink.nats import NatsDownlink, PoisonMessage, parse_document
from agent.sinks.nats import NatsSinkConfig
from agent.tls import TlsSettings
from gateway.journal import Journal, JournalOptions
from tests.support.nats import (
    DOWNLINK_STREAM,
    NatsPki,
    NatsServer,
    admin_connect,
    create_streams,
    make_nats_pki,
)

DOC = {"shipment_id": "SH-1", "lines": [{"sku": "SKU-1", "quantity": "2"}]}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> NatsPki:
    return make_nats_pki(tmp_path_factory.mktemp("nats-pki"))


@pytest.fixture
def server(tmp_path: Path, pki: NatsPki) -> Iterator[NatsServer]:
    with NatsServer(tmp_path / "nats", pki) as srv:
        yield srv


def _config(server: NatsServer, site: str = "alpha") -> NatsSinkConfig:
    ident = server.pki.sites[site]
    return NatsSinkConfig.model_validate(
        {
            "name": "cloud",
            "servers": [server.url],
            "site": site,
            "tls": TlsSettings(cert_file=ident.cert, key_file=ident.key, ca_file=server.pki.server_ca),
            "downlink": {"batch": 8, "fetch_timeout": 0.5, "nak_delay": 0.2},
        }
    )


def _check(subject: str, body: object, known: tuple[str, ...] = ("acme",)) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_document(
        subject,
        data,
        subject_prefix="edigate",
        site="alpha",
        known_partner=known.__contains__,
        origin={"o": 1},
    )


def test_parse_document_builds_canonical_bytes() -> None:
    doc = _check("edigate.alpha.outbound.acme.ship_notice", {"document": DOC, "origin": {"odoo_id": 7}})
    assert (doc.partner, doc.document_type) == ("acme", "ship_notice")
    body = json.loads(doc.data)
    assert body == {
        "schema": "edigate.outbound/1",
        "partner": "acme",
        "document_type": "ship_notice",
        "document": DOC,
        "origin": {"odoo_id": 7, "o": 1},
    }
    assert doc.data == json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("subject", "body", "reason"),
    [
        ("edigate.alpha.outbound.acme.ship_notice", b"{not json", "invalid JSON"),
        ("edigate.alpha.outbound.acme.ship_notice", b"\xff\xfe", "invalid JSON"),
        ("edigate.alpha.outbound.acme.ship_notice", [1, 2], "not an object"),
        ("edigate.alpha.outbound.acme.ship_notice", {"documentx": {}}, "no 'document' object"),
        ("edigate.alpha.outbound.nobody.ship_notice", {"document": DOC}, "unknown partner 'nobody'"),
        (
            "edigate.alpha.outbound.acme.ship_notice",
            {"partner": "other", "document": DOC},
            "the subject names",
        ),
        ("edigate.beta.outbound.acme.ship_notice", {"document": DOC}, "is not edigate.alpha.outbound"),
    ],
)
def test_poison_messages_are_named(subject: str, body: object, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        _check(subject, body)


async def _publish(server: NatsServer, items: list[tuple[str, bytes, str | None]]) -> None:
    nc = await admin_connect(server)
    try:
        js = nc.jetstream()
        for subject, data, msg_id in items:
            await js.publish(subject, data, headers={"Nats-Msg-Id": msg_id} if msg_id else None)
    finally:
        await nc.close()


async def _consumer(server: NatsServer, durable: str = "edigate-alpha") -> Any:
    nc = await admin_connect(server)
    try:
        return await nc.jetstream().consumer_info(DOWNLINK_STREAM, durable)
    finally:
        await nc.close()


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(journal: Journal) -> list[dict[str, Any]]:
    return journal.read_sync(
        lambda c: [dict(r) for r in c.execute("SELECT * FROM messages ORDER BY id").fetchall()]
    )


async def _run_downlink(
    server: NatsServer, journal: Journal, handed: list[int], body: Callable[[NatsDownlink], Awaitable[None]]
) -> NatsDownlink:
    downlink = NatsDownlink(
        _config(server), journal, known_partner=lambda p: p == "acme", on_journaled=handed.append
    )
    task = asyncio.create_task(downlink.run())
    try:
        await body(downlink)
    finally:
        downlink.stop()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return downlink


def test_published_document_is_journaled_handed_off_then_acked(tmp_path: Path, server: NatsServer) -> None:
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    handed: list[int] = []

    async def go() -> None:
        await create_streams(server, sites=("alpha",))
        body = json.dumps({"document": DOC}).encode()
        await _publish(
            server,
            [
                ("edigate.alpha.outbound.acme.ship_notice", body, "odoo-asn-1"),
                ("edigate.alpha.outbound.acme.invoice", body, None),
                ("edigate.alpha.outbound.acme.ship_notice", body, "odoo-asn-1"),  # dropped by the window
            ],
        )

        async def body_fn(downlink: NatsDownlink) -> None:
            async def acked() -> bool:
                info = await _consumer(server)
                return bool(info.ack_floor.stream_seq == 2 and info.num_ack_pending == 0)

            await _until(acked, "both messages acked")
            assert downlink.stats.acked == 2

        await _run_downlink(server, journal, handed, body_fn)

    try:
        asyncio.run(go())
        rows = _rows(journal)
    finally:
        journal.close()
    assert [(r["transport"], r["partner"], r["external_id"], r["state"]) for r in rows] == [
        ("nats", "acme", "odoo-asn-1", "received"),
        ("nats", "acme", f"{DOWNLINK_STREAM}:2", "received"),
    ]
    assert handed == [r["id"] for r in rows]
    raw = Journal.open(tmp_path / "state")
    try:
        stored = json.loads(raw.spool.read(rows[0]["sha256"]))
    finally:
        raw.close()
    assert stored["schema"] == "edigate.outbound/1"
    assert stored["document"] == DOC
    assert stored["origin"]["msg_id"] == "odoo-asn-1"


def test_poison_is_journaled_as_rejected_evidence_then_terminated(tmp_path: Path, server: NatsServer) -> None:
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    handed: list[int] = []

    async def go() -> None:
        await create_streams(server, sites=("alpha",))
        await _publish(
            server,
            [
                ("edigate.alpha.outbound.acme.ship_notice", b"{broken", "bad-json"),
                (
                    "edigate.alpha.outbound.ghost.ship_notice",
                    json.dumps({"document": DOC}).encode(),
                    "ghost-1",
                ),
            ],
        )

        async def body_fn(downlink: NatsDownlink) -> None:
            async def settled() -> bool:
                info = await _consumer(server)
                return bool(info.ack_floor.stream_seq == 2 and info.num_ack_pending == 0)

            await _until(settled, "both poison messages terminated")
            assert downlink.stats.rejected == 2

        await _run_downlink(server, journal, handed, body_fn)

    try:
        asyncio.run(go())
        rows = _rows(journal)
    finally:
        journal.close()
    assert handed == []
    assert [(r["external_id"], r["state"]) for r in rows] == [
        ("bad-json", "rejected"),
        ("ghost-1", "rejected"),
    ]
    assert "invalid JSON" in rows[0]["reason"]
    assert "unknown partner 'ghost'" in rows[1]["reason"]
    assert json.loads(rows[1]["meta"])["claimed_partner"] == "ghost"


def test_full_disk_naks_and_the_message_stays_in_the_stream(tmp_path: Path, server: NatsServer) -> None:
    # A floor no disk can meet: every append raises DiskFloorError.
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=1 << 62))
    handed: list[int] = []

    async def go() -> None:
        await create_streams(server, sites=("alpha",))
        await _publish(
            server,
            [("edigate.alpha.outbound.acme.ship_notice", json.dumps({"document": DOC}).encode(), "m1")],
        )

        async def body_fn(downlink: NatsDownlink) -> None:
            async def nakked_twice() -> bool:
                return downlink.stats.naks >= 2  # NAKed, redelivered after the delay, NAKed again

            await _until(nakked_twice, "two NAKs")
            info = await _consumer(server)
            assert info.ack_floor.stream_seq == 0
            assert info.num_redelivered >= 1 or info.num_ack_pending == 1
            assert "free" in (downlink.stats.last_error or "")

        await _run_downlink(server, journal, handed, body_fn)

    try:
        asyncio.run(go())
        rows = _rows(journal)
    finally:
        journal.close()
    assert rows == [] and handed == []


def test_missing_consumer_is_reported_and_retried_not_fatal(tmp_path: Path, server: NatsServer) -> None:
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))

    async def go() -> None:
        await create_streams(server)  # streams only: no consumer for alpha

        async def body_fn(downlink: NatsDownlink) -> None:
            async def reported() -> bool:
                return "consumer edigate-alpha not found" in (downlink.stats.last_error or "")

            await _until(reported, "the missing consumer to be reported")

        await _run_downlink(server, journal, [], body_fn)

    try:
        asyncio.run(go())
    finally:
        journal.close()
