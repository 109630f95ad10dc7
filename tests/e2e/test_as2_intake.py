"""AS2 intake end to end on the real journal: ``openssl cms`` + ``curl`` as the partner (peers.md §2)."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.as2 import parse_mdn_bytes
from gateway.journal import Journal, JournalOptions
from gateway.sources.as2 import As2Source, As2SourceConfig, StaticAs2Partners


def _load_kit() -> Any:
    if "test_as2_kit" in sys.modules:  # already imported by tests/gateway in the same run
        return sys.modules["test_as2_kit"]
    path = Path(__file__).resolve().parents[1] / "gateway" / "test_as2_kit.py"
    spec = importlib.util.spec_from_file_location("test_as2_kit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


kit = _load_kit()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return kit.session_pki(tmp_path_factory)


@asynccontextmanager
async def gateway(
    pki: Any, state: Path, options: JournalOptions | None = None, **config: Any
) -> AsyncIterator[tuple[Journal, str]]:
    journal = Journal.open(state, options or JournalOptions(min_free_bytes=0))
    cfg = As2SourceConfig(host="127.0.0.1", port=0, as2_names=["GATEWAY"], **config)
    source = As2Source(
        cfg, StaticAs2Partners((pki.partner(),)), identity=pki.identity(), clock=lambda: kit.NOW
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


def full_message(pki: Any, work: Path) -> tuple[bytes, bytes]:
    """compressed → signed (sha-512) → encrypted (AES-256, RSA-OAEP): every layer at once."""
    mime = kit.compressed_entity(kit.payload_mime(kit.PAYLOAD))
    signed = kit.openssl_sign(pki, work, mime, md="sha512")
    return mime, kit.openssl_encrypt(pki, work, signed, keyopts=("rsa_padding_mode:oaep",))


def test_intake_journals_then_answers_and_resend_is_idempotent(pki: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with gateway(pki, tmp_path / "state") as (journal, url):
            mime, body = full_message(pki, tmp_path)
            headers = kit.as2_headers("<e2e-1@partner>", kit.ENVELOPED_CT, micalg="sha-512")
            first = await kit.curl_post(url, headers, body, tmp_path)
            report = kit.openssl_verify_mdn(pki, tmp_path, first.header("Content-Type"), first.body)
            assert kit.mdn_field(report, "Disposition").endswith("; processed")
            assert (
                kit.mdn_field(report, "Received-Content-MIC")
                == f"{kit.openssl_mic(tmp_path, mime, 'sha512')}, sha-512"
            )
            [row] = rows(journal)
            assert (row["transport"], row["partner"], row["state"]) == ("as2", "acme", "received")
            assert row["external_id"] == "<e2e-1@partner>" and row["file_name"] == "po123.edi"
            assert await journal.raw_bytes(row["id"]) == kit.PAYLOAD
            found = await journal.find_external("as2", "acme", "<e2e-1@partner>")
            assert found is not None and found[1]["mdn"].endswith(first.body)  # kept before it was sent
            second = await kit.curl_post(url, headers, body, tmp_path)
            assert second.status == 200 and second.body == first.body
            assert len(rows(journal)) == 1

    asyncio.run(scenario())


def test_refused_message_is_rejected_evidence(pki: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with gateway(pki, tmp_path / "state") as (journal, url):
            mime = kit.payload_mime(kit.PAYLOAD)
            body = kit.openssl_encrypt(
                pki, tmp_path, kit.openssl_sign(pki, tmp_path, mime, signer="stranger")
            )
            result = await kit.curl_post(
                url, kit.as2_headers("<e2e-bad@partner>", kit.ENVELOPED_CT), body, tmp_path
            )
            report = kit.openssl_verify_mdn(pki, tmp_path, result.header("Content-Type"), result.body)
            assert kit.mdn_field(report, "Disposition").endswith("processed/Error: authentication-failed")
            [row] = rows(journal)
            assert row["state"] == "rejected" and "not configured for the partner" in row["reason"]
            assert row["external_id"] is None and await journal.raw_bytes(row["id"]) == body
            events = journal.read_sync(lambda c: c.execute("SELECT kind FROM events").fetchall())
            assert [e["kind"] for e in events] == ["as2_rejected"]

    asyncio.run(scenario())


def test_disk_floor_and_oversize_store_nothing(pki: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        _, body = full_message(pki, tmp_path)
        headers = kit.as2_headers("<e2e-full@partner>", kit.ENVELOPED_CT)
        async with gateway(pki, tmp_path / "full", JournalOptions(min_free_bytes=1 << 62)) as (journal, url):
            result = await kit.curl_post(url, headers, body, tmp_path)
            assert result.status == 503 and result.header("Retry-After")
            assert rows(journal) == []
        async with gateway(pki, tmp_path / "small", max_message_bytes=1000) as (journal, url):
            result = await kit.curl_post(url, headers, body, tmp_path)
            assert result.status == 413
            assert rows(journal) == []

    asyncio.run(scenario())


def test_stored_mdn_parses(pki: Any, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with gateway(pki, tmp_path / "state") as (journal, url):
            _, body = full_message(pki, tmp_path)
            await kit.curl_post(
                url, kit.as2_headers("<e2e-2@partner>", kit.ENVELOPED_CT, micalg="sha-512"), body, tmp_path
            )
            found = await journal.find_external("as2", "acme", "<e2e-2@partner>")
            assert found is not None
            mdn = parse_mdn_bytes(found[1]["mdn"], certificates=[pki.cert("gateway")], now=kit.NOW)
            assert mdn.positive and mdn.original_message_id == "<e2e-2@partner>"

    asyncio.run(scenario())
