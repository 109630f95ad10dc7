"""The AS2 receiver driven by ``curl`` with messages made by ``openssl cms`` (peers.md §2).

The journal here is the in-memory stand-in (so failures like a full disk can be
forced); tests/e2e/test_as2_intake.py runs the same flow on the real journal.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import h11
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_as2_kit as kit

from gateway.as2 import parse_mdn
from gateway.errors import DiskFloorError, JournalWriteError
from gateway.sources.as2 import As2MdnRetry, As2Source, As2SourceConfig, StaticAs2Partners


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> kit.Pki:
    return kit.session_pki(tmp_path_factory)


@asynccontextmanager
async def running(pki: kit.Pki, journal: Any, **config: Any) -> AsyncIterator[tuple[As2Source, str]]:
    cfg = As2SourceConfig(
        name="as2-test",
        host="127.0.0.1",
        port=0,
        as2_names=["GATEWAY"],
        mdn_retry=As2MdnRetry(attempts=3, initial_delay_seconds=0.05),
        **config,
    )
    partners = StaticAs2Partners((pki.partner(),))
    source = As2Source(cfg, partners, identity=pki.identity(), clock=lambda: kit.NOW)
    ready = asyncio.Event()
    task = asyncio.create_task(source.run(journal, ready))
    await asyncio.wait_for(ready.wait(), 10)
    scheme = "https" if cfg.tls_cert_file else "http"
    try:
        yield source, f"{scheme}://127.0.0.1:{source.bound_port}/as2"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def run_async(fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(fn())  # type: ignore[arg-type]


def signed_encrypted(
    pki: kit.Pki, work: Path, *, md: str = "sha256", signer: str = "partner", recipient: str = "gateway"
) -> tuple[bytes, bytes]:
    mime = kit.payload_mime(kit.PAYLOAD)
    signed = kit.openssl_sign(pki, work, mime, md=md, signer=signer)
    return mime, kit.openssl_encrypt(pki, work, signed, recipient=recipient)


def verify_mdn(pki: kit.Pki, work: Path, result: kit.CurlResult) -> str:
    assert result.status == 200, result.body
    ctype = result.header("Content-Type")
    assert ctype is not None and ctype.startswith("multipart/signed"), ctype
    return str(kit.openssl_verify_mdn(pki, work, ctype, result.body))


def test_sync_signed_mdn_after_journal(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = kit.FakeJournal()
        async with running(pki, journal) as (_source, url):
            mime, body = signed_encrypted(pki, tmp_path, md="sha384")
            result = await kit.curl_post(
                url, kit.as2_headers("<sync-1@partner>", kit.ENVELOPED_CT, micalg="sha-384"), body, tmp_path
            )
        report = verify_mdn(pki, tmp_path, result)
        assert kit.mdn_field(report, "Disposition") == "automatic-action/MDN-sent-automatically; processed"
        assert (
            kit.mdn_field(report, "Received-Content-MIC")
            == f"{kit.openssl_mic(tmp_path, mime, 'sha384')}, sha-384"
        )
        assert kit.mdn_field(report, "Original-Message-ID") == "<sync-1@partner>"
        assert result.header("AS2-From") == "GATEWAY" and result.header("AS2-To") == "PARTNER"
        [(mid, intake)] = journal.entries
        assert intake.transport == "as2" and intake.partner == "acme" and intake.data == kit.PAYLOAD
        assert intake.external_id == "<sync-1@partner>" and intake.file_name == "po123.edi"
        assert intake.meta["signed"] and intake.meta["encrypted"]
        assert b"processed" in journal.replies[mid]["mdn"]

    run_async(scenario)


def test_resend_returns_same_mdn_and_one_entry(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = kit.FakeJournal()
        async with running(pki, journal) as (source, url):
            _, body = signed_encrypted(pki, tmp_path)
            headers = kit.as2_headers("<resend-1@partner>", kit.ENVELOPED_CT)
            first = await kit.curl_post(url, headers, body, tmp_path)
            second = await kit.curl_post(url, headers, body, tmp_path)
        assert first.status == second.status == 200
        assert first.body == second.body
        assert first.header("Message-ID") == second.header("Message-ID")
        verify_mdn(pki, tmp_path, second)
        assert len(journal.entries) == 1 and source.stats.resent == 1
        assert any(kind == "as2_resend" for kind, _ in journal.events)

    run_async(scenario)


def test_oversize_is_413_and_not_journaled(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = kit.FakeJournal()
        async with running(pki, journal, max_message_bytes=2000) as (_source, url):
            _, body = signed_encrypted(pki, tmp_path)
            assert len(body) > 2000
            result = await kit.curl_post(
                url, kit.as2_headers("<big@partner>", kit.ENVELOPED_CT), body, tmp_path
            )
            # chunked upload (no Content-Length): the limit holds while reading
            chunked = await kit.curl_post(
                url,
                [*kit.as2_headers("<big2@partner>", kit.ENVELOPED_CT), "Transfer-Encoding: chunked"],
                body,
                tmp_path,
            )
        assert result.status == 413 and b"limit" in result.body
        assert chunked.status == 413
        assert journal.entries == []

    run_async(scenario)


def test_disk_floor_is_503_without_mdn(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = kit.FakeJournal()
        journal.fail_with = DiskFloorError("only 10 MiB free")
        async with running(pki, journal) as (_source, url):
            _, body = signed_encrypted(pki, tmp_path)
            result = await kit.curl_post(
                url, kit.as2_headers("<full@partner>", kit.ENVELOPED_CT), body, tmp_path
            )
        assert result.status == 503
        assert result.header("Retry-After") is not None
        assert b"processed" not in result.body and not (result.header("Content-Type") or "").startswith(
            "multipart"
        )
        assert journal.entries == [] and journal.replies == {}

    run_async(scenario)


@pytest.mark.parametrize(
    ("case", "modifier"),
    [
        ("unknown-partner", "authentication-failed"),
        ("unknown-signer", "authentication-failed"),
        ("tampered", "integrity-check-failed"),
        ("wrong-recipient", "decryption-failed"),
    ],
)
def test_negative_mdns(pki: kit.Pki, tmp_path: Path, case: str, modifier: str) -> None:
    async def scenario() -> None:
        journal = kit.FakeJournal()
        async with running(pki, journal) as (_source, url):
            as2_from = "PARTNER"
            if case == "unknown-partner":
                as2_from = "NOBODY"
                _, body = signed_encrypted(pki, tmp_path)
                ctype = kit.ENVELOPED_CT
            elif case == "unknown-signer":
                _, body = signed_encrypted(pki, tmp_path, signer="stranger")
                ctype = kit.ENVELOPED_CT
            elif case == "wrong-recipient":
                _, body = signed_encrypted(pki, tmp_path, recipient="stranger")
                ctype = kit.ENVELOPED_CT
            else:
                headers, body = kit.split_top(kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD)))
                ctype = dict(headers)["Content-Type"]
                body = body.replace(b"PO123", b"PO666")
            result = await kit.curl_post(
                url, kit.as2_headers(f"<{case}@partner>", ctype, as2_from=as2_from), body, tmp_path
            )
        report = verify_mdn(pki, tmp_path, result)
        disposition = kit.mdn_field(report, "Disposition") or ""
        assert disposition == f"automatic-action/MDN-sent-automatically; processed/Error: {modifier}"
        assert kit.mdn_field(report, "Received-Content-MIC") is None
        # raw request kept as rejected evidence, never as a payload to translate
        [(_mid, intake)] = journal.entries
        assert intake.data == body and intake.meta["as2_rejected"] and intake.external_id is None
        assert intake.rejected_reason and "refused" in intake.rejected_reason
        assert [k for k, _ in journal.events] == ["as2_rejected"]

    run_async(scenario)


def test_unsigned_mdn_and_no_mdn(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = kit.FakeJournal()
        async with running(pki, journal) as (_source, url):
            _, body = signed_encrypted(pki, tmp_path)
            unsigned = await kit.curl_post(
                url, kit.as2_headers("<u@partner>", kit.ENVELOPED_CT, micalg=None), body, tmp_path
            )
            headers = [
                h
                for h in kit.as2_headers("<n@partner>", kit.ENVELOPED_CT, micalg=None)
                if not h.startswith("Disposition-Notification-To")
            ]
            none = await kit.curl_post(url, headers, body, tmp_path)
        assert unsigned.status == 200
        assert (unsigned.header("Content-Type") or "").startswith("multipart/report")
        mdn = parse_mdn(unsigned.headers, unsigned.body)
        assert mdn.positive and not mdn.signed and mdn.original_message_id == "<u@partner>"
        assert none.status == 200 and len(journal.entries) == 2

    run_async(scenario)


def test_expect_100_continue_https_and_http_errors(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = kit.FakeJournal()
        async with running(
            pki, journal, tls_cert_file=pki.path("tls", "pem"), tls_key_file=pki.path("tls", "key")
        ) as (_source, url):
            _, body = signed_encrypted(pki, tmp_path)
            headers = [h for h in kit.as2_headers("<tls@partner>", kit.ENVELOPED_CT) if h != "Expect:"]
            result = await kit.curl_post(
                url,
                [*headers, "Expect: 100-continue"],
                body,
                tmp_path,
                extra=["--cacert", str(pki.path("ca", "pem")), "--expect100-timeout", "20"],
            )
            verify_mdn(pki, tmp_path, result)
            wrong_path = await kit.curl_post(
                url.replace("/as2", "/nope"),
                headers,
                b"x",
                tmp_path,
                extra=["--cacert", str(pki.path("ca", "pem"))],
            )
            missing = await kit.curl_post(
                url,
                ["Content-Type: text/plain"],
                b"x",
                tmp_path,
                extra=["--cacert", str(pki.path("ca", "pem"))],
            )
        assert wrong_path.status == 404
        assert missing.status == 400 and b"AS2-From" in missing.body
        assert len(journal.entries) == 1

    run_async(scenario)


class MdnCatcher:
    """A tiny HTTP server (h11) standing in for the partner's async-MDN URL; fails the first N posts."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.received: list[tuple[list[tuple[str, str]], bytes]] = []
        self.attempts = 0
        self.got = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        headers: list[tuple[str, str]] = []
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
                continue
            if isinstance(event, h11.Request):
                headers = [(k.decode(), v.decode()) for k, v in event.headers]
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                writer.close()
                return
        self.attempts += 1
        status = 500 if self.attempts <= self.fail_first else 200
        writer.write(
            conn.send(
                h11.Response(status_code=status, headers=[("Content-Length", "0"), ("Connection", "close")])
            )
            or b""
        )
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        writer.close()
        if status == 200:
            self.received.append((headers, body))
            self.got.set()


def test_async_mdn_posted_with_retry(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        catcher = MdnCatcher(fail_first=1)
        server = await asyncio.start_server(catcher.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        journal = kit.FakeJournal()
        try:
            async with running(pki, journal) as (source, url):
                mime, body = signed_encrypted(pki, tmp_path)
                headers = kit.as2_headers(
                    "<async-1@partner>",
                    kit.ENVELOPED_CT,
                    extra=[f"Receipt-Delivery-Option: http://127.0.0.1:{port}/mdn"],
                )
                result = await kit.curl_post(url, headers, body, tmp_path)
                assert result.status == 200
                assert not (result.header("Content-Type") or "").startswith("multipart")
                assert len(journal.entries) == 1  # journaled before the 200
                await asyncio.wait_for(catcher.got.wait(), 20)
                for _ in range(100):  # the event is noted right after the POST returns
                    if source.stats.async_mdn_sent:
                        break
                    await asyncio.sleep(0.02)
        finally:
            server.close()
            await server.wait_closed()
        assert catcher.attempts == 2 and source.stats.async_mdn_sent == 1
        [(mdn_headers, mdn_body)] = catcher.received
        ctype = dict((k.lower(), v) for k, v in mdn_headers)["content-type"]
        report = kit.openssl_verify_mdn(pki, tmp_path, ctype, mdn_body)
        assert kit.mdn_field(report, "Original-Message-ID") == "<async-1@partner>"
        assert kit.mdn_field(report, "Received-Content-MIC") == f"{kit.openssl_mic(tmp_path, mime)}, sha-256"
        [(mid, _)] = journal.entries
        assert journal.replies[mid]["mdn"].endswith(mdn_body)
        assert [d["attempts"] for k, d in journal.events if k == "as2_async_mdn_sent"] == [2]

    run_async(scenario)


class BlockingJournal(kit.FakeJournal):
    """Holds ``append`` until released, to stop the source while a request is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def append(self, intake: Any) -> Any:
        self.entered.set()
        await self.release.wait()
        return await super().append(intake)


def test_stop_lets_request_in_flight_finish(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = BlockingJournal()
        cfg = As2SourceConfig(host="127.0.0.1", port=0, as2_names=["GATEWAY"], shutdown_grace_seconds=30)
        source = As2Source(
            cfg, StaticAs2Partners((pki.partner(),)), identity=pki.identity(), clock=lambda: kit.NOW
        )
        ready = asyncio.Event()
        task = asyncio.create_task(source.run(journal, ready))
        await asyncio.wait_for(ready.wait(), 10)
        _, body = signed_encrypted(pki, tmp_path)
        url = f"http://127.0.0.1:{source.bound_port}/as2"
        post = asyncio.create_task(
            kit.curl_post(url, kit.as2_headers("<stop@partner>", kit.ENVELOPED_CT), body, tmp_path)
        )
        await asyncio.wait_for(journal.entered.wait(), 20)
        task.cancel()  # SIGTERM while the message is being journaled
        await asyncio.sleep(0)
        journal.release.set()
        result = await asyncio.wait_for(post, 30)
        await asyncio.gather(task, return_exceptions=True)
        assert task.done()
        assert len(journal.entries) == 1
        verify_mdn(pki, tmp_path, result)

    run_async(scenario)


def test_journal_write_error_answers_500_and_stops(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = kit.FakeJournal()
        journal.fail_with = JournalWriteError("the disk refused the write")
        cfg = As2SourceConfig(host="127.0.0.1", port=0, as2_names=["GATEWAY"])
        source = As2Source(
            cfg, StaticAs2Partners((pki.partner(),)), identity=pki.identity(), clock=lambda: kit.NOW
        )
        ready = asyncio.Event()
        task = asyncio.create_task(source.run(journal, ready))
        await asyncio.wait_for(ready.wait(), 10)
        _, body = signed_encrypted(pki, tmp_path)
        url = f"http://127.0.0.1:{source.bound_port}/as2"
        result = await kit.curl_post(url, kit.as2_headers("<jwe@partner>", kit.ENVELOPED_CT), body, tmp_path)
        assert result.status == 500 and b"processed" not in result.body
        with pytest.raises(JournalWriteError):  # fail-stop: run() ends with the journal's error
            await asyncio.wait_for(task, 30)

    run_async(scenario)


def test_registry_adapter(pki: kit.Pki, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from gateway.sources.as2 import RegistryAs2Partners

    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "acme.pem").write_bytes(
        pki.path("partner_old", "pem").read_bytes() + pki.path("partner", "pem").read_bytes()
    )
    profile = SimpleNamespace(
        id="acme",
        source_path=tmp_path / "acme.toml",
        model=SimpleNamespace(certificates=SimpleNamespace(as2_partner="certs/acme.pem")),
    )
    registry = SimpleNamespace(by_as2_name=lambda name: profile if name == "PARTNER" else None)
    partners = RegistryAs2Partners(lambda: registry)
    found = partners.lookup("PARTNER")
    assert found is not None and found.partner_id == "acme" and found.require_signature
    assert [c.subject.rfc4514_string() for c in found.certificates] == ["CN=PARTNER_OLD", "CN=PARTNER"]
    assert partners.lookup("OTHER") is None
    (tmp_path / "certs" / "acme.pem").write_bytes(pki.path("partner", "pem").read_bytes() + b"\n")
    again = partners.lookup("PARTNER")
    assert again is not None and len(again.certificates) == 1  # reloaded after the file changed


def test_concurrent_resend_waits_for_the_original(pki: kit.Pki, tmp_path: Path) -> None:
    async def scenario() -> None:
        journal = kit.FakeJournal()
        async with running(pki, journal) as (_source, url):
            _, body = signed_encrypted(pki, tmp_path)
            headers = kit.as2_headers("<twice@partner>", kit.ENVELOPED_CT)
            dirs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
            for d in dirs:
                d.mkdir()
            results = await asyncio.gather(*(kit.curl_post(url, headers, body, d) for d in dirs))
        assert {r.status for r in results} == {200}
        assert len({r.body for r in results}) == 1  # every copy got the same MDN
        assert len(journal.entries) == 1

    run_async(scenario)


def test_mendelson_capture_over_http(tmp_path: Path) -> None:
    """Replay a real mendelson request (corpus) through curl, with its own headers and keys."""
    from datetime import UTC, datetime

    from gateway.as2 import As2Identity, As2Partner, load_certificates, load_key_pair
    from gateway.as2.mime import parse_headers

    data = (kit.CORPUS / "pyas2-lib__mecas2_compressed_signed_encrypted.as2").read_bytes()
    end = data.index(b"\n\r\n")
    headers = [
        (k, v) for k, v in parse_headers(data[: end + 1]) if k.lower() not in ("content-length", "host")
    ]
    body = data[end + 3 :]
    ours = load_key_pair((kit.CORPUS / "pyas2-lib__cert_test.p12").read_bytes(), b"test")
    mecas2 = load_certificates((kit.CORPUS / "pyas2-lib__cert_mecas2_public.pem").read_bytes())

    async def scenario() -> None:
        journal = kit.FakeJournal()
        cfg = As2SourceConfig(host="127.0.0.1", port=0, as2_names=["pyas2lib"])
        partners = StaticAs2Partners(
            (As2Partner(partner_id="mendelson", as2_name="mecas2", certificates=tuple(mecas2)),)
        )
        source = As2Source(
            cfg,
            partners,
            identity=As2Identity(as2_names=("pyas2lib",), decryption_keys=(ours,), signing_key=ours),
            clock=lambda: datetime(2024, 1, 1, tzinfo=UTC),
        )
        ready = asyncio.Event()
        task = asyncio.create_task(source.run(journal, ready))
        await asyncio.wait_for(ready.wait(), 10)
        try:
            url = f"http://127.0.0.1:{source.bound_port}/as2"
            result = await kit.curl_post(
                url, [f"{k}: {v}" for k, v in headers], body, tmp_path, extra=["--expect100-timeout", "20"]
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # mendelson asked for an unsigned MDN (no Disposition-Notification-Options)
        assert result.status == 200, result.body
        mdn = parse_mdn(result.headers, result.body)
        assert (
            mdn.positive
            and mdn.original_message_id == "<mendelson_opensource_AS2-1641303797008-52@mecas2_pyas2lib>"
        )
        [(_, intake)] = journal.entries
        assert intake.data == (kit.CORPUS / "pyas2-lib__payload.txt").read_bytes()
        assert intake.partner == "mendelson" and intake.meta["layers"] == [
            "encrypted",
            "signed",
            "compressed",
        ]

    run_async(scenario)
