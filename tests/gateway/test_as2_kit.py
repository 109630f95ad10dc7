"""Shared helpers for the AS2 tests: a test PKI and an independent partner (``openssl cms`` + ``curl``).

Everything follows shared/reference/peers.md §2. No test functions live here;
the AS2 test modules import it. A missing binary fails the test (never skips).
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms

from gateway.as2 import As2Identity, As2Partner, KeyPair, load_certificates, load_key_pair

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "as2"
# Later than the test PKI's creation (it lasts 10 years; partner_old 30 days).
NOW = datetime.now(UTC) + timedelta(minutes=10)
PAYLOAD = (
    b"ISA*00*          *00*          *ZZ*PARTNER        *ZZ*GATEWAY        "
    b"*260601*1200*U*00401*000000001*0*T*>~\n"
    b"GS*PO*PARTNER*GATEWAY*20260601*1200*1*X*004010~\nST*850*0001~\nBEG*00*SA*PO123**20260601~\n"
    b"SE*3*0001~\nGE*1*1~\nIEA*1*000000001~\n"
)


def require(binary: str) -> str:
    """The path of a binary, or FAIL (not skip) with a clear message."""
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"the '{binary}' binary is required for this test (apt-get install {binary})")
    return path


def run(args: Sequence[str | Path], *, cwd: Path, stdin: bytes | None = None) -> bytes:
    """Run a command, failing the test with its stderr when it fails."""
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, input=stdin, capture_output=True, check=False, timeout=60
    )
    if proc.returncode != 0:
        pytest.fail(f"command failed ({proc.returncode}): {' '.join(map(str, args))}\n{proc.stderr.decode()}")
    return proc.stdout


def crlf_lines(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


@dataclass
class Pki:
    """A throw-away CA with partner, gateway, stranger and TLS certificates (peers.md §2 recipe)."""

    dir: Path
    cache: dict[str, KeyPair] = field(default_factory=dict)

    def path(self, name: str, ext: str) -> Path:
        return self.dir / f"{name}.{ext}"

    def keypair(self, name: str) -> KeyPair:
        # cached: loading an RSA key checks it, which costs ~0.1 s on a busy machine
        if name not in self.cache:
            self.cache[name] = load_key_pair(
                self.path(name, "key").read_bytes(), None, self.path(name, "pem").read_bytes()
            )
        return self.cache[name]

    def cert(self, name: str) -> Any:
        return load_certificates(self.path(name, "pem").read_bytes())[0]

    def identity(self) -> As2Identity:
        return As2Identity(
            as2_names=("GATEWAY",),
            decryption_keys=(self.keypair("gateway"),),
            signing_key=self.keypair("gateway"),
        )

    def partner(self, **kw: Any) -> As2Partner:
        return As2Partner(partner_id="acme", as2_name="PARTNER", certificates=(self.cert("partner"),), **kw)


def session_pki(factory: pytest.TempPathFactory) -> Pki:
    """One PKI per test session, shared by every AS2 test module (RSA key generation is slow)."""
    root = factory.getbasetemp() / "as2pki"
    if not (root / "partner_old.pem").exists():
        return make_pki(root)
    return Pki(dir=root)


def make_pki(root: Path) -> Pki:
    """Build the PKI with the openssl CLI exactly as peers.md shows."""
    require("openssl")
    root.mkdir(parents=True, exist_ok=True)
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-sha256",
            "-nodes",
            "-days",
            "3650",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=EDI Test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        cwd=root,
    )
    (root / "leaf.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment,"
        "dataEncipherment\nextendedKeyUsage=clientAuth,emailProtection\n"
    )
    (root / "tls.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    for name, ext, days in (
        ("partner", "leaf", 3650),
        ("gateway", "leaf", 3650),
        ("stranger", "leaf", 3650),
        ("tls", "tls", 3650),
        ("partner_old", "leaf", 30),
    ):
        run(
            [
                "openssl",
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                f"{name}.key",
                "-out",
                f"{name}.csr",
                "-subj",
                f"/CN={name.upper()}",
            ],
            cwd=root,
        )
        run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                f"{name}.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                str(days),
                "-sha256",
                "-extfile",
                f"{ext}.ext",
                "-out",
                f"{name}.pem",
            ],
            cwd=root,
        )
    return Pki(dir=root)


# --- the partner: openssl cms --------------------------------------------------


def payload_mime(
    payload: bytes,
    *,
    content_type: str = "application/edi-x12",
    cte: str = "binary",
    file_name: str = "po123.edi",
) -> bytes:
    body = payload if cte == "binary" else base64.encodebytes(payload).replace(b"\n", b"\r\n")
    return (
        crlf_lines(
            f"Content-Type: {content_type}",
            f"Content-Transfer-Encoding: {cte}",
            f'Content-Disposition: attachment; filename="{file_name}"',
            "",
        )
        + body
    )


def openssl_sign(
    pki: Pki, work: Path, mime: bytes, *, md: str = "sha256", signer: str = "partner", cte: str = "base64"
) -> bytes:
    """multipart/signed exactly as peers.md builds it. Returns the whole entity (headers + body)."""
    (work / "payload.mime").write_bytes(mime)
    run(
        [
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-in",
            "payload.mime",
            "-signer",
            pki.path(signer, "pem"),
            "-inkey",
            pki.path(signer, "key"),
            "-md",
            md,
            "-outform",
            "DER",
            "-out",
            "sig.p7s",
        ],
        cwd=work,
    )
    sig = (work / "sig.p7s").read_bytes()
    boundary = "----=_Part_" + os.urandom(12).hex()
    sig_body = base64.encodebytes(sig).replace(b"\n", b"\r\n") if cte == "base64" else sig + b"\r\n"
    body = (
        f"--{boundary}\r\n".encode()
        + mime
        + f"\r\n--{boundary}\r\n".encode()
        + crlf_lines(
            'Content-Type: application/pkcs7-signature; name="smime.p7s"',
            f"Content-Transfer-Encoding: {cte}",
            "",
        )
        + sig_body
        + f"--{boundary}--\r\n".encode()
    )
    micalg = {"sha1": "sha1"}.get(md, "sha-" + md[3:])
    return (
        crlf_lines(
            f'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; '
            f'micalg={micalg}; boundary="{boundary}"',
            "",
        )
        + body
    )


def openssl_encrypt(
    pki: Pki,
    work: Path,
    mime: bytes,
    *,
    cipher: str = "-aes256",
    keyopts: Sequence[str] = (),
    recipient: str = "gateway",
) -> bytes:
    """DER enveloped-data for the gateway (peers.md: ``openssl cms -encrypt -binary``)."""
    (work / "inner.mime").write_bytes(mime)
    args: list[str | Path] = [
        "openssl",
        "cms",
        "-encrypt",
        "-binary",
        cipher,
        "-in",
        "inner.mime",
        "-recip",
        pki.path(recipient, "pem"),
    ]
    for opt in keyopts:
        args += ["-keyopt", opt]
    run([*args, "-outform", "DER", "-out", "body.p7m"], cwd=work)
    return (work / "body.p7m").read_bytes()


def compressed_entity(mime: bytes) -> bytes:
    """RFC 3274 compressed-data built with asn1crypto (Debian's openssl lacks zlib; peers.md)."""
    data = asn1_cms.CompressedData(
        {
            "version": "v0",
            "compression_algorithm": {"algorithm": "1.2.840.113549.1.9.16.3.8"},
            "encap_content_info": {"content_type": "data", "content": zlib.compress(mime)},
        }
    )
    der: bytes = asn1_cms.ContentInfo({"content_type": "compressed_data", "content": data}).dump()
    return (
        crlf_lines(
            'Content-Type: application/pkcs7-mime; smime-type=compressed-data; name="smime.p7z"',
            "Content-Transfer-Encoding: binary",
            "",
        )
        + der
    )


ENVELOPED_CT = 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'


def as2_headers(
    message_id: str,
    content_type: str,
    *,
    micalg: str | None = "sha-256",
    extra: Sequence[str] = (),
    as2_from: str = "PARTNER",
    cte: str = "binary",
) -> list[str]:
    headers = [
        "Expect:",
        "AS2-Version: 1.2",
        f"AS2-From: {as2_from}",
        "AS2-To: GATEWAY",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        "Subject: PO 123",
        f"Content-Type: {content_type}",
        f"Content-Transfer-Encoding: {cte}",
        "Disposition-Notification-To: edi@partner.example",
    ]
    if micalg is not None:
        headers.append(
            "Disposition-Notification-Options: signed-receipt-protocol=optional, pkcs7-signature; "
            f"signed-receipt-micalg=optional, {micalg}"
        )
    return headers + list(extra)


def split_top(entity: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of an entity built above (CRLF)."""
    head, _, body = entity.partition(b"\r\n\r\n")
    headers = []
    for line in head.decode().split("\r\n"):
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return headers, body


@dataclass
class CurlResult:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


async def curl_post(
    url: str, headers: Sequence[str], body: bytes, work: Path, *, extra: Sequence[str] = ()
) -> CurlResult:
    """POST with the curl CLI (peers.md), asynchronously so the in-process server can answer."""
    require("curl")
    (work / "req.body").write_bytes(body)
    args = [
        "curl",
        "-sS",
        "-o",
        str(work / "resp.body"),
        "-D",
        str(work / "resp.headers"),
        "-w",
        "%{http_code}",
        "--max-time",
        "30",
        *extra,
    ]
    for h in headers:
        args += ["-H", h]
    args += ["--data-binary", f"@{work / 'req.body'}", url]
    proc = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        pytest.fail(f"curl failed ({proc.returncode}): {err.decode()}")
    raw = (work / "resp.headers").read_bytes().decode("latin-1").split("\r\n\r\n")
    final = [block for block in raw if block.strip()][-1]
    parsed = []
    for line in final.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        parsed.append((k.strip(), v.strip()))
    return CurlResult(status=int(out.decode()), headers=parsed, body=(work / "resp.body").read_bytes())


def openssl_verify_mdn(pki: Pki, work: Path, content_type: str, body: bytes) -> str:
    """``openssl cms -verify`` the MDN as peers.md shows; returns the signed report text."""
    (work / "mdn.mime").write_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    run(
        [
            "openssl",
            "cms",
            "-verify",
            "-in",
            "mdn.mime",
            "-inform",
            "SMIME",
            "-CAfile",
            pki.path("ca", "pem"),
            "-certfile",
            pki.path("gateway", "pem"),
            "-nointern",
            "-out",
            "mdn.txt",
        ],
        cwd=work,
    )
    return (work / "mdn.txt").read_text("latin-1")


def openssl_mic(work: Path, data: bytes, md: str = "sha256") -> str:
    """``openssl dgst -<md> -binary | base64``: the MIC the MDN must carry."""
    (work / "mic.in").write_bytes(data)
    return base64.b64encode(run(["openssl", "dgst", f"-{md}", "-binary", "mic.in"], cwd=work)).decode()


def mdn_field(report: str, name: str) -> str | None:
    for line in report.replace("\r\n", "\n").split("\n"):
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() == name.lower():
            return v.strip()
    return None


class FakeJournal:
    """In-memory stand-in with the Journal signatures (used where the real one is not the subject)."""

    def __init__(self) -> None:
        self.entries: list[Any] = []
        self.replies: dict[str, dict[str, bytes]] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: Exception | None = None
        self.rejected: dict[str, str] = {}

    async def append(self, intake: Any) -> Any:
        from gateway.journal import AppendResult

        if self.fail_with is not None:
            raise self.fail_with
        message_id = str(len(self.entries) + 1)
        self.entries.append((message_id, intake))
        import hashlib

        return AppendResult(
            message_id=message_id, sha256=hashlib.sha256(intake.data).hexdigest(), duplicate_of=None
        )

    async def record_reply(self, message_id: str, kind: str, payload: bytes) -> None:
        self.replies.setdefault(message_id, {})[kind] = payload

    async def find_external(
        self, transport: str, partner: str | None, external_id: str
    ) -> tuple[str, dict[str, bytes]] | None:
        for message_id, intake in self.entries:
            if (intake.transport, intake.partner, intake.external_id) == (transport, partner, external_id):
                return message_id, self.replies.get(message_id, {})
        return None

    async def note_event(self, kind: str, detail: dict[str, Any]) -> None:
        self.events.append((kind, detail))

    async def reject(
        self, message_id: int, reason: str, *, partner: str | None = None, standard: str | None = None
    ) -> None:
        self.rejected[str(message_id)] = reason
