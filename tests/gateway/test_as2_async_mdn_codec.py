"""Asynchronous MDNs for what we send: recognising an MDN, the codec's request, the tracking table.

The real-peer flow (openssl cms + curl posting to our listener) is in
tests/e2e/test_as2_async_mdn.py; these are the parts without sockets.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_as2_kit as kit

from agent.partner.as2 import As2PartnerSink
from agent.sinks.base import Delivery
from gateway import acktrack
from gateway.as2 import As2Envelope, build_mdn, build_message, is_mdn
from gateway.as2.mime import parse_entity
from gateway.outbound import As2Codec

_BODY = b"UNB+UNOC:3+A:14+B:14+261129:1200+1'UNZ+0+1'"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> kit.Pki:
    return kit.session_pki(tmp_path_factory)


def _http(blob: bytes) -> tuple[list[tuple[str, str]], bytes]:
    entity = parse_entity(blob)
    return list(entity.headers), entity.body


def _mdn(pki: kit.Pki, *, signed: bool) -> tuple[list[tuple[str, str]], bytes]:
    envelope = As2Envelope(message_id="<m1@gw>", as2_from="GATEWAY", as2_to="PARTNER")
    out = build_mdn(
        envelope=envelope,
        disposition="processed",
        text="ok",
        mic=None,
        now=kit.NOW,
        signer=pki.keypair("partner") if signed else None,
    )
    return list(out.headers), out.body


@pytest.mark.parametrize("signed", [False, True])
def test_is_mdn_recognises_signed_and_unsigned_reports(pki: kit.Pki, signed: bool) -> None:
    headers, body = _mdn(pki, signed=signed)
    assert is_mdn(headers, body)


def test_is_mdn_says_no_to_messages_and_garbage(pki: kit.Pki) -> None:
    signed = build_message(
        _BODY, as2_from="GATEWAY", as2_to="PARTNER", now=kit.NOW, signer=pki.keypair("gateway")
    )
    assert not is_mdn(list(signed.headers), signed.body)
    plain = build_message(_BODY, as2_from="GATEWAY", as2_to="PARTNER", now=kit.NOW)
    assert not is_mdn(list(plain.headers), plain.body)
    assert not is_mdn([("Content-Type", "multipart/report; report-type=delivery-status; boundary=x")], b"")
    assert not is_mdn([("Content-Type", 'multipart/signed; boundary="b"')], b"\x00\xff not mime")
    assert not is_mdn([], b"")


class _Journal:
    """The journal's ``write`` over an in-memory database with the tables acktrack touches."""

    def __init__(self) -> None:
        self.c = sqlite3.connect(":memory:")
        self.c.row_factory = sqlite3.Row
        self.c.executescript(
            "CREATE TABLE deliveries (id INTEGER PRIMARY KEY, message_id INTEGER);"
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, state TEXT, reason TEXT, updated_at REAL);"
            "CREATE TABLE history (message_id INTEGER, at REAL, state TEXT, reason TEXT);"
            "INSERT INTO messages VALUES (7, 'delivered', NULL, 0); INSERT INTO deliveries VALUES (70, 7);"
        )

    async def write(self, fn: Any) -> Any:
        return fn(self.c)


def _codec(journal: _Journal | None, **kw: Any) -> As2Codec:
    return As2Codec(
        as2_from="GATEWAY",
        as2_to="PARTNER",
        signer=None,
        recipient=None,
        mdn_async_url="https://gw.example/as2",
        mdn_within_seconds=600,
        partner="nord",
        journal=journal,  # type: ignore[arg-type]
        clock=lambda: 1000.0,
        **kw,
    )


def test_codec_asks_for_an_async_mdn_at_our_url() -> None:
    codec = _codec(_Journal())
    request = codec.build(_BODY, file_name="a.edi", content_type="application/edifact")
    headers = {k.lower(): v for k, v in request.headers}
    assert headers["receipt-delivery-option"] == "https://gw.example/as2"
    assert "disposition-notification-to" in headers
    assert codec.async_mdn and not codec.expects_mdn
    with pytest.raises(ValueError, match="journal"):
        _codec(None)


def _delivery() -> Delivery:
    import base64
    import hashlib

    envelope = {
        "schema": "edigate.partner-file/1",
        "file_name": "a.edi",
        "content_type": "application/edifact",
        "content_b64": base64.b64encode(_BODY).decode(),
        "sha256": hashlib.sha256(_BODY).hexdigest(),
        "size": len(_BODY),
    }
    return Delivery(
        delivery_id=70,
        idempotency_key="k",
        partner="nord",
        document_type="invoice",
        envelope=envelope,
        body=b"",
    )


def test_sink_records_the_expectation_before_the_post_and_awaits_after_2xx() -> None:
    journal = _Journal()
    seen: list[str | None] = []

    def partner(request: httpx.Request) -> httpx.Response:
        # A fast partner can post its MDN before our POST returns: the record must already exist.
        row = journal.c.execute("SELECT state FROM as2_receipts").fetchone()
        seen.append(None if row is None else row[0])
        return httpx.Response(200, text="received")

    async def scenario() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(partner))
        sink = As2PartnerSink("partner:nord", "https://partner.example/as2", _codec(journal), client=client)
        await sink.deliver(_delivery())
        await client.aclose()

    asyncio.run(scenario())
    assert seen == [acktrack.SENDING]
    row = journal.c.execute("SELECT * FROM as2_receipts").fetchone()
    assert (row["state"], row["message_id"], row["partner"], row["expect_by"]) == (
        "waiting",
        7,
        "nord",
        1600.0,
    )


def test_failed_post_leaves_the_record_sending_and_never_overdue() -> None:
    journal = _Journal()

    async def scenario() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
        sink = As2PartnerSink("partner:nord", "https://partner.example/as2", _codec(journal), client=client)
        with pytest.raises(Exception, match="503"):
            await sink.deliver(_delivery())
        await client.aclose()

    asyncio.run(scenario())
    assert [r[0] for r in journal.c.execute("SELECT state FROM as2_receipts")] == [acktrack.SENDING]
    assert acktrack.mdn_overview(journal.c, now=10**9)["overdue"] == []


def _expect(c: sqlite3.Connection, mid: str = "<abc@gw>", within: float = 60) -> None:
    acktrack.expect_mdn(
        c,
        acktrack.ExpectedMdn(
            as2_message_id=mid,
            partner="nord",
            delivery_id=70,
            mic="bWlj",
            mic_algorithm="sha-256",
            signed=True,
            within_seconds=within,
        ),
        100.0,
    )


def test_tracking_overdue_settle_and_repeat() -> None:
    c = _Journal().c
    _expect(c)
    acktrack.mdn_sent(c, "abc@gw")  # brackets or not: the same Message-ID
    assert acktrack.mdn_overview(c, now=159.0)["overdue"] == []
    late = acktrack.mdn_overview(c, now=160.0)["overdue"]
    assert [o["message_id"] for o in late] == [7] and "has not sent the AS2 MDN" in late[0]["reason"]
    assert acktrack.find_mdn(c, "other-partner", "<abc@gw>") is None
    pending = acktrack.find_mdn(c, "nord", " <abc@gw> ")
    assert pending is not None and (pending.mic, pending.signed) == ("bWlj", True)
    assert acktrack.settle_mdn(c, "<abc@gw>", accepted=False, detail="refused: because", mdn=b"x", now=200.0)
    assert not acktrack.settle_mdn(c, "<abc@gw>", accepted=True, detail="again", mdn=b"y", now=201.0)
    overview = acktrack.mdn_overview(c, now=300.0)
    assert overview["counts"] == {"rejected": 1} and overview["overdue"] == []
    assert [r["reason"] for r in overview["rejected"]] == ["refused: because"]
    assert c.execute("SELECT reason, state FROM messages WHERE id = 7").fetchone()[:] == (
        "refused: because",
        "delivered",
    )
    assert [tuple(r) for r in c.execute("SELECT state, reason FROM history")] == [
        ("delivered", "refused: because")
    ]


def test_accepted_mdn_keeps_the_message_reason() -> None:
    c = _Journal().c
    _expect(c)
    assert acktrack.settle_mdn(
        c, "<abc@gw>", accepted=True, detail="processed, MIC matched", mdn=b"x", now=5.0
    )
    assert c.execute("SELECT reason FROM messages WHERE id = 7").fetchone()[0] is None
    assert acktrack.mdn_overview(c, now=10**9) == {"counts": {"accepted": 1}, "overdue": [], "rejected": []}


def _daemon_with(tmp_path: Path, pki: kit.Pki, source_extra: str) -> Any:
    from gateway.config import load_config
    from gateway.daemon import Daemon, load_partners
    from gateway.journal import Journal, JournalOptions

    (tmp_path / "partners.d").mkdir()
    (tmp_path / "partners.d" / "nord.toml").write_text(
        f"""id = "nord"
name = "Nordwaren"

[identities]
as2_name = "PARTNER"

[delivery]
transport = "as2"
url = "https://partner.example/as2"
as2_from = "GATEWAY"
as2_to = "PARTNER"
mdn = "async"

[certificates]
as2_partner = "{pki.path("partner", "pem")}"
as2_ours = "{pki.path("gateway", "pem")}"
as2_ours_key = "{pki.path("gateway", "key")}"
"""
    )
    (tmp_path / "edigate.toml").write_text(
        f"""[gateway]
state_dir = "state"
partners_dir = "partners.d"

[[sources.as2]]
port = 0
as2_names = ["GATEWAY"]
{source_extra}
"""
    )
    daemon = Daemon(load_config(tmp_path / "edigate.toml"))
    daemon.registry, problems = load_partners(tmp_path / "partners.d")
    assert problems == []
    daemon.journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    return daemon


def test_daemon_gives_async_partners_the_listener_public_url(tmp_path: Path, pki: kit.Pki) -> None:
    daemon = _daemon_with(tmp_path, pki, 'public_url = "https://edi.example.com/as2"')
    try:
        sinks = daemon._outbound_sinks()
        assert daemon.state.profile_errors == []
        request = sinks["partner:nord"].codec.build(
            _BODY, file_name="a.edi", content_type="application/edifact"
        )
        assert ("Receipt-Delivery-Option", "https://edi.example.com/as2") in request.headers
    finally:
        daemon.journal.close()


def test_daemon_reports_an_async_partner_without_a_url(tmp_path: Path, pki: kit.Pki) -> None:
    daemon = _daemon_with(tmp_path, pki, "")
    try:
        assert "partner:nord" not in daemon._outbound_sinks()
        assert any("async_mdn_url" in p and "public_url" in p for p in daemon.state.profile_errors)
    finally:
        daemon.journal.close()


def test_listener_refuses_unsigned_mdn_when_signed_was_asked_and_unknown_senders(
    tmp_path: Path, pki: kit.Pki
) -> None:
    from gateway.as2 import Mic
    from gateway.journal import Journal, JournalOptions
    from gateway.sources.as2 import As2Source, As2SourceConfig, StaticAs2Partners

    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    source = As2Source(
        As2SourceConfig(port=0, as2_names=["GATEWAY"]),
        StaticAs2Partners((pki.partner(),)),
        identity=pki.identity(),
        clock=lambda: kit.NOW,
    )
    source._journal = journal  # what run() does; no socket needed here
    envelope = As2Envelope(message_id="<ours-1@gw>", as2_from="GATEWAY", as2_to="PARTNER")

    def mdn(*, signed: bool, as2_from: str = "PARTNER") -> tuple[list[tuple[str, str]], bytes]:
        out = build_mdn(
            envelope=envelope,
            disposition="processed",
            text="ok",
            mic=Mic("bWlj", "sha-256"),
            now=kit.NOW,
            signer=pki.keypair("partner") if signed else None,
            our_name="PARTNER",
        )
        headers = [(k, as2_from if k == "AS2-From" else v) for k, v in out.headers]
        return headers, out.body

    async def scenario() -> list[int]:
        await journal.write(
            lambda c: acktrack.expect_mdn(
                c,
                acktrack.ExpectedMdn(
                    as2_message_id="<ours-1@gw>",
                    partner="acme",
                    delivery_id=None,
                    mic="bWlj",
                    mic_algorithm="sha-256",
                    signed=True,
                    within_seconds=60,
                ),
                1.0,
            )
        )
        codes = [(await source.handle(*mdn(signed=False))).status]
        codes.append((await source.handle(*mdn(signed=True, as2_from="STRANGER"))).status)
        codes.append((await source.handle(*mdn(signed=True))).status)
        return codes

    try:
        assert asyncio.run(scenario()) == [403, 403, 200]
        refused = journal.read_sync(
            lambda c: [r[0] for r in c.execute("SELECT detail FROM events WHERE kind = 'as2_mdn_refused'")]
        )
        assert len(refused) == 2 and "not signed" in refused[0] and "STRANGER" in refused[1]
        state = journal.read_sync(lambda c: c.execute("SELECT state FROM as2_receipts").fetchone()[0])
        assert state == acktrack.ACCEPTED  # only the signed MDN from the partner settled it
        assert (source.stats.mdn_refused, source.stats.mdn_accepted) == (2, 1)
    finally:
        journal.close()


def test_validate_reports_an_async_partner_without_a_url(tmp_path: Path, pki: kit.Pki) -> None:
    from gateway.daemon import check_config

    daemon = _daemon_with(tmp_path, pki, "")
    try:
        problems = check_config(daemon.config, environment=False)
        assert any("nord.toml" in p and "async_mdn_url" in p and "public_url" in p for p in problems), (
            problems
        )
    finally:
        daemon.journal.close()


def test_validate_accepts_an_async_partner_with_the_listener_public_url(tmp_path: Path, pki: kit.Pki) -> None:
    from gateway.daemon import check_config

    daemon = _daemon_with(tmp_path, pki, 'public_url = "https://edi.example.com/as2"')
    try:
        problems = check_config(daemon.config, environment=False)
        assert not any("async_mdn_url" in p for p in problems), problems
    finally:
        daemon.journal.close()
