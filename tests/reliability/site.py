"""A whole gateway site for the reliability suite.

``edigate run`` with directory, AS2 and FTPS intake at once.

Partners are driven by real clients: files renamed into the drop folder,
``openssl cms`` signed AS2 posted over HTTP (httpx) and FTPS uploads
(``ftplib.FTP_TLS``, explicit TLS).  Each partner remembers what the gateway
*acknowledged* (file gone from the inbox / positive MDN / ``226``) so that the
audit can check the promise: every acknowledged file delivered exactly once in
effect, nothing stuck, every refusal answered in the protocol's own terms.
"""

from __future__ import annotations

import ftplib
import hashlib
import importlib.util
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from gateway.as2 import parse_mdn
from gateway.sources.sftp import hash_password
from tests.harness import GatewayProcess, make_850, sink_envelopes, write_config

FTP_PASSWORD = "Reliab1lity-ftp"
FINAL = ("delivered", "rejected", "dead")
ACTIVE = ("received", "translated", "queued")


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed: install the Debian package providing it (make debs)")
    return path


def load_as2_kit() -> Any:
    if "test_as2_kit" in sys.modules:
        return sys.modules["test_as2_kit"]
    path = Path(__file__).resolve().parents[1] / "gateway" / "test_as2_kit.py"
    spec = importlib.util.spec_from_file_location("test_as2_kit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Ledger:
    """What each partner sent and what the gateway acknowledged or refused, per transport."""

    sent: dict[str, set[str]] = field(default_factory=dict)
    acked: dict[str, set[str]] = field(default_factory=dict)
    refusals: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, transport: str, digest: str) -> None:
        with self.lock:
            self.sent.setdefault(transport, set()).add(digest)

    def ack(self, transport: str, digest: str) -> None:
        with self.lock:
            self.acked.setdefault(transport, set()).add(digest)

    def refuse(self, answer: str) -> None:
        with self.lock:
            self.refusals[answer] += 1

    def all_acked(self) -> set[str]:
        return set().union(*self.acked.values()) if self.acked else set()


class Site:
    """One gateway with every intake the daemon wires (directory, AS2, FTPS) and a directory sink."""

    def __init__(
        self, root: Path, *, min_free_mb: int = 0, state_dir: Path | None = None, pki: Any | None = None
    ) -> None:
        self.root = root
        self.kit = load_as2_kit()
        require("openssl")
        self.pki = pki if pki is not None else self.kit.make_pki(root / "pki")
        self.as2_port = free_port()
        self.ftp_port = free_port()
        self.sftp_port = free_port()
        self.smtp_port = free_port()
        (root / "state-keys").mkdir(mode=0o700, exist_ok=True)
        self.ssh_key = root / "partner_ed25519"
        if not self.ssh_key.exists():
            subprocess.run(
                [require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(self.ssh_key)], check=True
            )
        self.ssh_pub = self.ssh_key.with_name("partner_ed25519.pub").read_text().strip()
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        cert.private_key_pem.write_to_path(str(root / "ftps.key"))
        os.chmod(root / "ftps.key", 0o600)
        cert.cert_chain_pems[0].write_to_path(str(root / "ftps.pem"))
        self.ftp_ctx = ssl.create_default_context()
        ca.configure_trust(self.ftp_ctx)
        p = self.pki
        extra = f"""
[[sources.as2]]
name = "as2"
host = "127.0.0.1"
port = {self.as2_port}
as2_names = ["GATEWAY"]
decryption_keys = [{{ key_file = "{p.path("gateway", "key")}", cert_file = "{p.path("gateway", "pem")}" }}]
signing_key = {{ key_file = "{p.path("gateway", "key")}", cert_file = "{p.path("gateway", "pem")}" }}

[[sources.ftp]]
name = "ftps"
host = "127.0.0.1"
port = {self.ftp_port}
roots_dir = "ftp"
cert_file = "ftps.pem"
key_file = "ftps.key"
auth_failure_delay = 0.0
shutdown_grace = 5.0

[[sources.ftp.accounts]]
user = "acme"
partner = "acme"
password_hash = "{hash_password(FTP_PASSWORD)}"

[[sources.sftp]]
name = "sftp"
host = "127.0.0.1"
port = {self.sftp_port}
host_key_file = "state-keys/ssh_host_ed25519_key"
roots_dir = "sftp"
auth_failure_delay = 0.0
shutdown_grace = 2.0

[[sources.smtp]]
name = "smtp"
host = "127.0.0.1"
port = {self.smtp_port}
shutdown_grace = 2.0
"""
        self.config = write_config(root, extra=extra, min_free_mb=min_free_mb)
        if state_dir is not None:
            text = self.config.read_text().replace('state_dir = "state"', f'state_dir = "{state_dir}"')
            self.config.write_text(text)
        self.write_profile()
        self.gw = GatewayProcess(self.config)
        self.ledger = Ledger()
        self.pending: list[int] = []
        self.errors: list[BaseException] = []
        self.drops: list[tuple[Path, bytes]] = []

    def write_profile(self, name: str = "ACME Retail") -> None:
        (self.root / "partners.d" / "acme.toml").write_text(
            f'id = "acme"\nname = "{name}"\n\n[identities]\ninbox = "acme"\nas2_name = "PARTNER"\n'
            f'mail_senders = ["partner@partner.example"]\n'
            f'sftp = {{ user = "acme", public_keys = ["{self.ssh_pub}"] }}\n\n'
            '[[identities.x12]]\nqualifier = "ZZ"\nid = "ACMESENDER"\n\n'
            f'[certificates]\nas2_partner = "{self.pki.path("partner", "pem")}"\n',
            encoding="utf-8",
        )
        os.chmod(self.root / "partners.d" / "acme.toml", 0o600)

    # ------------------------------------------------------------------ partners

    def drop(self, icn: int) -> tuple[Path, bytes]:
        """Directory partner: temp name then rename; acknowledged when the gateway takes the file away."""
        data = make_850(icn, f"D{icn:07d}")
        inbox = self.root / "inbox" / "acme"
        tmp = inbox / f".d{icn}.tmp"
        tmp.write_bytes(data)
        final = inbox / f"d{icn}.edi"
        os.replace(tmp, final)
        self.ledger.send("directory", sha(data))
        return final, data

    def settle_drops(self, drops: list[tuple[Path, bytes]]) -> None:
        for path, data in drops:
            if not path.exists():
                self.ledger.ack("directory", sha(data))

    def as2_post(self, icn: int, work: Path, *, message_id: str | None = None) -> str:
        """AS2 partner: signed message, synchronous MDN; returns the answer in AS2 terms."""
        data = make_850(icn, f"A{icn:07d}")
        self.ledger.send("as2", sha(data))
        work.mkdir(parents=True, exist_ok=True)
        entity = self.kit.openssl_sign(self.pki, work, self.kit.payload_mime(data, file_name=f"a{icn}.edi"))
        head, body = self.kit.split_top(entity)
        headers = dict(head)
        headers.update(
            {
                "AS2-Version": "1.2",
                "AS2-From": "PARTNER",
                "AS2-To": "GATEWAY",
                "Message-ID": message_id or f"<rel-{icn}-{os.urandom(4).hex()}@partner.example>",
                "MIME-Version": "1.0",
                "Disposition-Notification-To": "edi@partner.example",
                "Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; "
                "signed-receipt-micalg=optional, sha-256",
            }
        )
        try:
            r = httpx.post(f"http://127.0.0.1:{self.as2_port}/as2", content=body, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            return f"connection: {type(exc).__name__}"
        if r.status_code != 200:
            answer = f"http {r.status_code}"
            self.ledger.refuse(answer)
            return answer
        mdn = parse_mdn(
            list(r.headers.items()), r.content, certificates=[self.pki.cert("gateway")], now=datetime.now(UTC)
        )
        if mdn.positive:
            self.ledger.ack("as2", sha(data))
            return "processed"
        self.ledger.refuse(f"mdn {mdn.disposition}")
        return f"mdn {mdn.disposition}"

    def ftp_put(self, icn: int) -> str:
        """FTPS partner: explicit TLS, STOR under the final name; acknowledged by ``226``."""
        data = make_850(icn, f"F{icn:07d}")
        self.ledger.send("ftp", sha(data))
        try:
            with ftplib.FTP_TLS(context=self.ftp_ctx, timeout=30) as ftp:
                ftp.connect("127.0.0.1", self.ftp_port)
                ftp.login("acme", FTP_PASSWORD)
                ftp.prot_p()
                import io

                reply = ftp.storbinary(f"STOR /inbound/f{icn}.edi", io.BytesIO(data))
        except ftplib.error_temp as exc:
            self.ledger.refuse(str(exc)[:3])
            return str(exc)
        except (OSError, EOFError, ftplib.Error) as exc:
            return f"connection: {type(exc).__name__}: {exc}"
        if reply.startswith("226"):
            self.ledger.ack("ftp", sha(data))
        return reply

    def sftp_put(self, icn: int) -> str:
        """SFTP partner (OpenSSH ``sftp``): put under the final name; acked by exit 0 (CLOSE status)."""
        data = make_850(icn, f"S{icn:07d}")
        self.ledger.send("sftp", sha(data))
        local = self.root / "sftpwork" / f"s{icn}.edi"
        local.parent.mkdir(exist_ok=True)
        local.write_bytes(data)
        batch = local.with_suffix(".batch")
        batch.write_text(f"put {local} /inbound/s{icn}.edi\n")
        args = [
            require("sftp"), "-b", str(batch), "-P", str(self.sftp_port), "-i", str(self.ssh_key),
            "-F", "/dev/null",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20",
            "acme@127.0.0.1",
        ]  # fmt: skip
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            return "timeout"
        if r.returncode == 0:
            self.ledger.ack("sftp", sha(data))
            return "ok"
        if r.returncode == 1:
            self.ledger.refuse("sftp failure")
        return f"sftp exit {r.returncode}: {r.stderr.strip()[-200:]}"

    def smtp_send(self, icn: int) -> str:
        """Mail partner (``swaks``): one attachment; acknowledged by exit 0 (``250`` after DATA)."""
        data = make_850(icn, f"M{icn:07d}")
        self.ledger.send("smtp", sha(data))
        local = self.root / "mailwork" / f"m{icn}.edi"
        local.parent.mkdir(exist_ok=True)
        local.write_bytes(data)
        args = [
            require("swaks"), "--server", "127.0.0.1", "--port", str(self.smtp_port),
            "--from", "partner@partner.example", "--to", "edi@gateway.example",
            "--header", f"Subject: PO {icn}",
            "--header", f"Message-ID: <m{icn}@partner.example>", "--attach-type", "application/edi-x12",
            "--attach-name", f"m{icn}.edi", "--attach", f"@{local}", "--timeout", "30",
        ]  # fmt: skip
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            return "timeout"
        if r.returncode == 0:
            self.ledger.ack("smtp", sha(data))
            return "ok"
        if r.returncode in (24, 25, 26):
            self.ledger.refuse(f"smtp exit {r.returncode}")
        return f"swaks exit {r.returncode}"

    # ------------------------------------------------------------------ audit

    def db(self) -> sqlite3.Connection:
        return self.gw.db()

    def audit(self) -> dict[str, Any]:
        """The common end-of-test audit (see module docstring); returns figures."""
        with self.db() as c:
            states = {r[0]: r[1] for r in c.execute("SELECT state, COUNT(*) FROM messages GROUP BY state")}
            ok = c.execute("PRAGMA integrity_check").fetchone()[0]
            journaled = {str(r[0]) for r in c.execute("SELECT sha256 FROM messages")}
        assert ok == "ok", f"journal integrity_check: {ok}"
        stuck = {s: n for s, n in states.items() if s in ACTIVE and n}
        assert not stuck, f"messages stuck in non-final states: {stuck}"
        envelopes = sink_envelopes(self.root)
        delivered = Counter(str(e["raw_sha256"]) for e in envelopes)
        keys = Counter(str(e["idempotency_key"]) for e in envelopes)
        acked = self.ledger.all_acked()
        lost = acked - set(delivered)
        assert not lost, f"{len(lost)} acknowledged files never delivered (e.g. {sorted(lost)[:3]})"
        twice = {k: n for k, n in keys.items() if n > 1}
        assert not twice, f"delivered twice under one idempotency key: {list(twice)[:3]}"
        doubled = {d: n for d, n in delivered.items() if n > 1}
        assert not doubled, f"the same content delivered twice with effect: {list(doubled)[:3]}"
        unknown = set(delivered) - set().union(*self.ledger.sent.values())
        assert not unknown, "delivered documents nobody sent"
        assert journaled >= acked
        return {"states": states, "acked": len(acked), "delivered": sum(delivered.values())}


def shared_pki(factory: pytest.TempPathFactory) -> Any:
    """One AS2 PKI per test session (RSA key generation is slow); the same one tests/gateway uses."""
    return load_as2_kit().session_pki(factory)
