"""AS2 attacks: ``openssl cms`` + ``curl`` as the attacker against ``As2Source`` on the real journal.

Forged signer, unknown AS2-From, replayed Message-ID carrying other content,
a payload changed after signing (MIC mismatch), a decompression bomb, and
oversized headers.  Each must be refused in AS2 terms (negative MDN or an HTTP
4xx) with nothing accepted for delivery, and the listener must keep serving.
Also the clock: the source takes an injected clock, so a jump past the
partner certificate's expiry (and back) is tested here (faketime is not
available on the build host).
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.as2 import parse_mdn
from gateway.journal import Journal, JournalOptions
from gateway.sources.as2 import As2Source, As2SourceConfig, StaticAs2Partners
from tests.harness import make_850
from tests.reliability.site import load_as2_kit

kit = load_as2_kit()
PAYLOAD = make_850(7, "PO-ATTACK")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return kit.session_pki(tmp_path_factory)


@asynccontextmanager
async def listener(
    pki: Any, state: Path, *, clock: Callable[[], datetime] | None = None, **config: Any
) -> AsyncIterator[tuple[Journal, str]]:
    journal = Journal.open(state, JournalOptions(min_free_bytes=0))
    cfg = As2SourceConfig(host="127.0.0.1", port=0, as2_names=["GATEWAY"], **config)
    source = As2Source(
        cfg, StaticAs2Partners((pki.partner(),)), identity=pki.identity(), clock=clock or (lambda: kit.NOW)
    )
    ready = asyncio.Event()
    task = asyncio.create_task(source.run(journal, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield journal, f"http://127.0.0.1:{source.bound_port}/as2"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        journal.close()


def rows(journal: Journal) -> list[sqlite3.Row]:
    return journal.read_sync(lambda c: c.execute("SELECT * FROM messages ORDER BY id").fetchall())


def accepted(journal: Journal) -> list[sqlite3.Row]:
    return [r for r in rows(journal) if r["state"] != "rejected"]


def signed(
    pki: Any, work: Path, payload: bytes = PAYLOAD, *, signer: str = "partner"
) -> tuple[list[str], bytes]:
    entity = kit.openssl_sign(pki, work, kit.payload_mime(payload), signer=signer)
    head, body = kit.split_top(entity)
    return [f"{k}: {v}" for k, v in head], body


async def post(
    pki: Any, url: str, work: Path, msg_id: str, head: list[str], body: bytes, **kw: Any
) -> tuple[int, Any]:
    ct = next(h.split(": ", 1)[1] for h in head if h.lower().startswith("content-type"))
    headers = kit.as2_headers(msg_id, ct, **kw)
    result = await kit.curl_post(url, headers, body, work)
    if result.status != 200:
        return result.status, None
    mdn = parse_mdn(result.headers, result.body, certificates=[pki.cert("gateway")], now=kit.NOW)
    return result.status, mdn


async def still_serving(pki: Any, url: str, work: Path, journal: Journal) -> None:
    head, body = signed(pki, work, make_850(99, "PO-AFTER"))
    status, mdn = await post(pki, url, work, "<after-attack@partner>", head, body)
    assert status == 200 and mdn.positive, "the listener must keep serving honest partners"
    assert any(r["external_id"] and "after-attack" in r["external_id"] for r in rows(journal)) or accepted(
        journal
    )


def test_forged_signer_is_refused_with_a_negative_mdn(pki: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listener(pki, tmp_path / "state") as (journal, url):
            head, body = signed(pki, tmp_path, signer="stranger")
            status, mdn = await post(pki, url, tmp_path, "<forged@partner>", head, body)
            assert status == 200 and not mdn.positive
            assert "authentication-failed" in (mdn.modifier or "") or "integrity" in (mdn.modifier or ""), mdn
            assert accepted(journal) == []
            await still_serving(pki, url, tmp_path, journal)

    asyncio.run(scenario())


def test_unknown_as2_from_is_refused(pki: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listener(pki, tmp_path / "state") as (journal, url):
            head, body = signed(pki, tmp_path)
            status, mdn = await post(pki, url, tmp_path, "<unknown@partner>", head, body, as2_from="MALLORY")
            assert status != 200 or not mdn.positive, "an unknown sender must not get a positive MDN"
            assert accepted(journal) == []

    asyncio.run(scenario())


def test_payload_changed_after_signing_is_refused(pki: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listener(pki, tmp_path / "state") as (journal, url):
            head, body = signed(pki, tmp_path)
            tampered = body.replace(b"PO-ATTACK", b"PO-ATTACX", 1)
            assert tampered != body
            status, mdn = await post(pki, url, tmp_path, "<tampered@partner>", head, tampered)
            assert status == 200 and not mdn.positive, "a MIC mismatch must be a negative MDN"
            assert accepted(journal) == []

    asyncio.run(scenario())


def test_replayed_message_id_with_other_content_is_not_accepted(pki: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listener(pki, tmp_path / "state") as (journal, url):
            head, body = signed(pki, tmp_path)
            status, first = await post(pki, url, tmp_path, "<replay-1@partner>", head, body)
            assert status == 200 and first.positive
            head2, body2 = signed(pki, tmp_path, make_850(8, "PO-REPLAYED"))
            status, second = await post(pki, url, tmp_path, "<replay-1@partner>", head2, body2)
            # the replay is answered with the original MDN (its MIC is the first message's): the other
            # content is never journaled, and the partner's MIC check fails on its side
            live = accepted(journal)
            assert len(live) == 1, [dict(r) for r in live]
            assert status != 200 or second.mic == first.mic or not second.positive
            # the exact replay is idempotent: same answer, nothing new
            status, third = await post(pki, url, tmp_path, "<replay-1@partner>", head, body)
            assert status == 200 and third.positive and third.mic == first.mic
            assert len(accepted(journal)) == 1

    asyncio.run(scenario())


def test_decompression_bomb_is_refused_with_bounded_memory(pki: Any, tmp_path: Path) -> None:
    bomb_size = 256 * 1024 * 1024
    compressor = zlib.compressobj(9)
    chunk = b"\0" * (8 * 1024 * 1024)
    deflated = (
        b"".join(compressor.compress(chunk) for _ in range(bomb_size // len(chunk))) + compressor.flush()
    )
    mime = kit.payload_mime(b"")
    der_entity = kit.compressed_entity(mime)
    # swap the compressed content for the bomb: rebuild through the kit with a stand-in, then patch
    from asn1crypto import cms as asn1_cms

    data = asn1_cms.CompressedData(
        {
            "version": "v0",
            "compression_algorithm": {"algorithm": "1.2.840.113549.1.9.16.3.8"},
            "encap_content_info": {"content_type": "data", "content": deflated},
        }
    )
    der = asn1_cms.ContentInfo({"content_type": "compressed_data", "content": data}).dump()
    head_end = der_entity.index(b"\r\n\r\n") + 4
    bomb_entity = der_entity[:head_end] + der
    assert len(bomb_entity) < 2 * 1024 * 1024

    async def scenario() -> None:
        async with listener(pki, tmp_path / "state", max_message_bytes=8 * 1024 * 1024) as (journal, url):
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            entity = kit.openssl_sign(pki, tmp_path, bomb_entity)
            head, body = kit.split_top(entity)
            headers = [f"{k}: {v}" for k, v in head]
            status, mdn = await post(pki, url, tmp_path, "<bomb@partner>", headers, body)
            assert status == 413 or (status == 200 and not mdn.positive), (status, mdn)
            assert accepted(journal) == []
            grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
            assert grown_kib < 256 * 1024, f"inflating the bomb grew the peak RSS by {grown_kib} KiB"
            await still_serving(pki, url, tmp_path, journal)

    asyncio.run(scenario())


def test_oversized_headers_are_refused_and_the_listener_survives(pki: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listener(pki, tmp_path / "state") as (journal, url):
            # one 200 KiB header line (curl reads it from a file: argv strings stop at 128 KiB)
            (tmp_path / "huge.headers").write_text("X-Padding: " + "a" * (200 * 1024) + "\n")
            result = await kit.curl_post(
                url, ["AS2-From: PARTNER", f"@{tmp_path / 'huge.headers'}"], b"x", tmp_path
            )
            assert result.status in (400, 413, 431), result.status
            many = [f"X-H{i}: {'b' * 900}" for i in range(120)]
            result = await kit.curl_post(url, ["AS2-From: PARTNER", *many], b"x", tmp_path)
            assert result.status in (400, 413, 431), result.status
            assert accepted(journal) == []
            await still_serving(pki, url, tmp_path, journal)

    asyncio.run(scenario())


def test_clock_jump_past_certificate_expiry_and_back(pki: Any, tmp_path: Path) -> None:
    """The partner's certificate is valid for ten years; the clock jumps 20 years ahead, then back."""
    now = {"t": kit.NOW}

    async def scenario() -> None:
        async with listener(pki, tmp_path / "state", clock=lambda: now["t"]) as (journal, url):
            now["t"] = kit.NOW + timedelta(days=365 * 20)
            head, body = signed(pki, tmp_path)
            result = await kit.curl_post(
                url, kit.as2_headers("<future@partner>", head[0].split(": ", 1)[1]), body, tmp_path
            )
            if result.status == 200:
                mdn = parse_mdn(result.headers, result.body)
                assert not mdn.positive, "an expired signer certificate must not be accepted"
            assert accepted(journal) == []
            now["t"] = datetime.now(UTC)
            head, body = signed(pki, tmp_path, make_850(9, "PO-BACK"))
            status, mdn = await post(pki, url, tmp_path, "<back@partner>", head, body)
            assert status == 200 and mdn.positive, "after the clock comes back the partner is accepted again"
            assert len(accepted(journal)) == 1

    asyncio.run(scenario())
