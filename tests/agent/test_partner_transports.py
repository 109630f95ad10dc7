"""Partner transports against real peers: sshd (SFTP), an openssl AS2 receiver, aiosmtpd, a folder."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import subprocess
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.partner import (
    As2PartnerSink,
    DirectoryPartnerSink,
    MailPartnerSink,
    MailSettings,
    SftpPartnerSink,
    SftpPushSettings,
)
from agent.sinks.base import Delivery
from gateway.as2 import load_certificates, load_key_pair
from gateway.outbound import As2Codec
from tests.support.partner_peers import OpensslAs2Receiver, Sshd, free_port, make_pki

EDI = (
    b"ISA*00*          *00*          *ZZ*US             *ZZ*THEM           *261129*1200*U*00401*"
    b"000000001*0*P*>~\n"
)


def _delivery(data: bytes = EDI, name: str = "acme-856-000000001.x12", **env_kw) -> Delivery:
    env = {
        "schema": "edigate.partner-file/1",
        "file_name": name,
        "content_type": "application/edi-x12",
        "document_type": "ship_notice",
        "interchange_control": "1",
        "content_b64": base64.b64encode(data).decode(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        **env_kw,
    }
    return Delivery(
        delivery_id=1,
        idempotency_key="k",
        partner="acme",
        document_type="ship_notice",
        envelope=env,
        body=b"",
    )


# ----------------------------------------------------------------------------- directory


def test_directory_drop_is_atomic_and_a_resend_replaces_the_file(tmp_path: Path) -> None:
    sink = DirectoryPartnerSink("partner:acme", tmp_path / "drop")
    asyncio.run(sink.deliver(_delivery()))
    asyncio.run(sink.deliver(_delivery()))
    assert sorted(p.name for p in (tmp_path / "drop").iterdir()) == ["acme-856-000000001.x12"]
    assert (tmp_path / "drop" / "acme-856-000000001.x12").read_bytes() == EDI


def test_a_damaged_or_unsafe_file_never_reaches_the_partner(tmp_path: Path) -> None:
    sink = DirectoryPartnerSink("partner:acme", tmp_path / "drop")
    with pytest.raises(PermanentDeliveryError, match="unsafe file name"):
        asyncio.run(sink.deliver(_delivery(name="../../etc/passwd")))
    with pytest.raises(PermanentDeliveryError, match="does not match its recorded size/sha256"):
        asyncio.run(sink.deliver(_delivery(sha256="0" * 64)))
    with pytest.raises(PermanentDeliveryError, match="not a partner file"):
        asyncio.run(sink.deliver(_delivery(schema="edigate.envelope/1")))
    assert not (tmp_path / "drop").exists() or not any((tmp_path / "drop").iterdir())


def test_directory_without_permission_is_permanent(tmp_path: Path) -> None:
    target = tmp_path / "ro"
    target.write_text("a file, not a folder")
    with pytest.raises(PermanentDeliveryError, match="cannot write"):
        asyncio.run(DirectoryPartnerSink("partner:acme", target).deliver(_delivery()))


# ----------------------------------------------------------------------------- SFTP (OpenSSH sshd)


def _sftp(sshd: Sshd, **kw) -> SftpPartnerSink:
    settings = dict(
        host="127.0.0.1",
        port=sshd.port,
        user="nobody",
        key=sshd.client_key,
        known_hosts=sshd.known_hosts,
        remote_dir="/inbound",
        timeout=10,
    )
    settings.update(kw)
    return SftpPartnerSink("partner:acme", SftpPushSettings(**settings))


def test_sftp_push_to_openssh_renames_into_place_and_checks_the_host_key(tmp_path: Path) -> None:
    with Sshd(tmp_path / "sshd") as sshd:
        asyncio.run(_sftp(sshd).deliver(_delivery()))
        asyncio.run(_sftp(sshd).deliver(_delivery()))  # a resend replaces, never fails on the existing name
        assert sorted(p.name for p in sshd.inbound.iterdir()) == ["acme-856-000000001.x12"]
        assert (sshd.inbound / "acme-856-000000001.x12").read_bytes() == EDI

        wrong = tmp_path / "wrong_known_hosts"
        other = tmp_path / "other_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        wrong.write_text(
            f"[127.0.0.1]:{sshd.port} {' '.join(Path(f'{other}.pub').read_text().split()[:2])}\n"
        )
        with pytest.raises(PermanentDeliveryError, match="not the one pinned"):
            asyncio.run(_sftp(sshd, known_hosts=wrong).deliver(_delivery(name="x.x12")))
        with pytest.raises(PermanentDeliveryError, match="login refused"):
            asyncio.run(_sftp(sshd, key=other).deliver(_delivery(name="x.x12")))
        with pytest.raises(PermanentDeliveryError, match="upload"):
            asyncio.run(_sftp(sshd, remote_dir="/no/such/folder").deliver(_delivery(name="x.x12")))
        with pytest.raises(PermanentDeliveryError, match="cannot read"):
            asyncio.run(_sftp(sshd, key=tmp_path / "no-such-key").deliver(_delivery(name="x.x12")))
        assert not (sshd.inbound / "x.x12").exists()
    with pytest.raises(TransientDeliveryError, match="cannot connect"):
        asyncio.run(_sftp(sshd).deliver(_delivery()))


# ----------------------------------------------------------------------------- AS2 (openssl cms)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def _codec(pki) -> As2Codec:
    ours = load_key_pair(pki.gateway_key.read_bytes(), None, pki.gateway_cert.read_bytes())
    theirs = load_certificates(pki.partner_cert.read_bytes())
    return As2Codec(
        as2_from="GATEWAY", as2_to="PARTNER", signer=ours, recipient=theirs[0], partner_certificates=theirs
    )


def _send(url: str, pki) -> None:
    async def go() -> None:
        sink = As2PartnerSink("partner:nord", url, _codec(pki), timeout=30)
        try:
            await sink.deliver(_delivery())
        finally:
            await sink.aclose()

    asyncio.run(go())


def test_as2_send_is_verified_by_openssl_and_the_signed_mdn_mic_is_checked(tmp_path: Path, pki) -> None:
    with OpensslAs2Receiver(pki, tmp_path) as receiver:
        _send(receiver.url, pki)
        assert receiver.state.errors == []
        assert [r.payload for r in receiver.received] == [EDI.replace(b"\n", b"\r\n")]
        receiver.state.corrupt_mic = True
        with pytest.raises(TransientDeliveryError, match="Received-Content-MIC"):
            _send(receiver.url, pki)
        receiver.state.corrupt_mic = False
        receiver.state.negative = True
        with pytest.raises(PermanentDeliveryError, match="refused the message"):
            _send(receiver.url, pki)


def test_as2_endpoint_down_is_transient(pki) -> None:
    with pytest.raises(TransientDeliveryError, match="AS2 POST"):
        _send(f"http://127.0.0.1:{free_port()}/as2", pki)


# ----------------------------------------------------------------------------- mail (aiosmtpd relay)


class _Relay:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.answer: str | None = None

    async def handle_DATA(self, server, session, envelope):
        if self.answer is not None:
            return self.answer
        self.messages.append(envelope.content)
        return "250 OK"


def test_mail_hands_the_file_to_the_relay_and_maps_its_replies() -> None:
    relay = _Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sink = MailPartnerSink(
            "partner:acme",
            MailSettings(
                relay_host="127.0.0.1",
                relay_port=controller.port,
                sender="edi@site.example",
                to=("edi@acme.example",),
                timeout=10,
            ),
        )
        asyncio.run(sink.deliver(_delivery()))
        msg = message_from_bytes(relay.messages[0])
        assert msg["Subject"] == "EDI ship_notice 1"
        parts = [p for p in msg.walk() if p.get_filename()]
        assert parts[0].get_filename() == "acme-856-000000001.x12"
        assert parts[0].get_payload(decode=True) == EDI
        relay.answer = "451 Try again later"
        with pytest.raises(TransientDeliveryError, match="451"):
            asyncio.run(sink.deliver(_delivery()))
        relay.answer = "554 Transaction failed: attachment refused"
        with pytest.raises(PermanentDeliveryError, match="554"):
            asyncio.run(sink.deliver(_delivery()))
    finally:
        controller.stop()


def test_build_partner_sink_from_profile_delivery_tables(tmp_path: Path) -> None:
    from agent.partner import build_partner_sink

    def resolve(p: str) -> Path:
        return tmp_path / p

    (tmp_path / "ftp.pw").write_text("pw\n")
    built = {
        kind: type(
            build_partner_sink(
                f"partner:{kind}",
                table,
                resolve,
                as2_codec=object(),  # type: ignore[arg-type]
                mail_relay=("127.0.0.1", 25),
            )
        ).__name__
        for kind, table in {
            "directory": {"transport": "directory", "path": "drop"},
            "sftp": {"transport": "sftp", "host": "h", "user": "u", "key": "k", "known_hosts": "kh"},
            "as2": {"transport": "as2", "url": "http://127.0.0.1:1/as2"},
            "mail": {"transport": "mail", "to": ["a@b.example"], "sender": "c@d.example"},
            "ftp": {
                "transport": "ftp",
                "host": "h",
                "user": "u",
                "password_file": "ftp.pw",
                "tls": "explicit",
            },
        }.items()
    }
    assert built == {
        "directory": "DirectoryPartnerSink",
        "sftp": "SftpPartnerSink",
        "as2": "As2PartnerSink",
        "mail": "MailPartnerSink",
        "ftp": "FtpPartnerSink",
    }
    with pytest.raises(ValueError, match="AS2 codec"):
        build_partner_sink("partner:x", {"transport": "as2", "url": "http://x/"}, resolve)
    with pytest.raises(ValueError, match="mail relay"):
        build_partner_sink("partner:x", {"transport": "mail", "to": [], "sender": "s@x.example"}, resolve)
    with pytest.raises(ValueError, match="not available"):
        build_partner_sink("partner:x", {"transport": "carrier-pigeon"}, resolve)
