"""Real partner-side servers for outbound tests: OpenSSH ``sshd`` and an ``openssl cms`` AS2 receiver.

* :class:`Sshd` runs ``/usr/sbin/sshd`` (internal-sftp, chroot) on a free
  loopback port, as root inside a private mount namespace (peers.md §1):
  a tmpfs on ``/run`` gives sshd its ``/run/sshd``, and a bind mount makes
  the root-owned ``<work>/chroot`` appear as ``/srv`` so every chroot path
  component is root-owned although the work folder is under ``/tmp``.
* :class:`OpensslAs2Receiver` is a tiny HTTP server whose only AS2 code is
  ``openssl cms``: ``-decrypt``, ``-verify`` (pinned signer, ``-binary``),
  ``openssl dgst`` for the MIC, and ``-sign`` for the signed MDN (peers.md §2).
  When the request asks for an asynchronous MDN (``Receipt-Delivery-Option``)
  it answers 200 with no MDN, then POSTs the signed MDN there with ``curl``.
* :func:`make_pki` makes the CA, partner and gateway certificates with the
  ``openssl`` command line, with ``emailProtection`` so ``cms -verify`` accepts them.

Missing binaries raise (the tests then fail; they are never skipped).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def _need(binary: str) -> str:
    path = shutil.which(binary) or (binary if os.path.isabs(binary) and os.access(binary, os.X_OK) else None)
    if path is None:
        raise RuntimeError(f"{binary} is not installed; install openssh-server/openssh-client/openssl")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


# --------------------------------------------------------------------------- sshd


class Sshd:
    """OpenSSH sshd serving SFTP to user ``nobody`` chrooted in ``<work>/chroot/nobody``.

    Attributes:
        port: the loopback port.
        client_key: our private key (authorised for ``nobody``).
        known_hosts: a known_hosts file pinning the server key (``[127.0.0.1]:port`` form).
        inbound: the host path of the chroot's ``inbound`` folder (where uploads land).
    """

    user = "nobody"

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.client_key = work / "client_ed25519"
        self.known_hosts = work / "known_hosts"
        self.inbound = work / "chroot" / self.user / "inbound"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> Sshd:
        _need(SSHD)
        keygen = _need("ssh-keygen")
        unshare = _need("unshare")
        w = self.work
        w.mkdir(parents=True, exist_ok=True)
        _run(keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(w / "host_ed25519"))
        _run(keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(self.client_key))
        (w / "authorized_keys").mkdir(exist_ok=True)
        shutil.copy(w / "client_ed25519.pub", w / "authorized_keys" / self.user)
        chroot = w / "chroot"
        (chroot / self.user).mkdir(parents=True, exist_ok=True)
        for d in (chroot, chroot / self.user):
            os.chown(d, 0, 0)
            d.chmod(0o755)
        self.inbound.mkdir(exist_ok=True)
        os.chown(self.inbound, 65534, 65534)
        host_pub = (w / "host_ed25519.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        (w / "sshd_config").write_text(
            f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {w}/host_ed25519
PidFile {w}/sshd.pid
AuthorizedKeysFile /run/edigate-keys/%u
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers {self.user}
AllowTcpForwarding no
Subsystem sftp internal-sftp
Match User {self.user}
    ChrootDirectory /srv/%u
    ForceCommand internal-sftp
"""
        )
        script = (
            "mount -t tmpfs -o mode=0755,size=1m sshd-run /run && "
            "mkdir -m 0755 /run/sshd /run/edigate-keys && "
            # sshd reads authorized_keys as the user, who cannot traverse pytest's 0700 temp folders
            'cp "$1"/authorized_keys/* /run/edigate-keys/ && chmod 0644 /run/edigate-keys/* && '
            'mount --bind "$1/chroot" /srv && ' + SSHD + ' -t -f "$1/sshd_config" && '
            "exec " + SSHD + ' -D -e -f "$1/sshd_config"'
        )
        log = (w / "sshd.log").open("ab")
        self.proc = subprocess.Popen(
            [unshare, "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", str(w)],
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited {self.proc.returncode}: {(w / 'sshd.log').read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as s,
            ):
                if s.recv(4).startswith(b"SSH-"):
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen: {(w / 'sshd.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        return (self.work / "sshd.log").read_text(errors="replace")

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- PKI


@dataclass(frozen=True, slots=True)
class Pki:
    """CA, partner and gateway certificates and keys (PEM paths)."""

    ca: Path
    partner_cert: Path
    partner_key: Path
    gateway_cert: Path
    gateway_key: Path


def make_pki(work: Path) -> Pki:
    """Make a test CA with a partner and a gateway AS2 certificate (openssl CLI, peers.md §2)."""
    openssl = _need("openssl")
    work.mkdir(parents=True, exist_ok=True)
    _run(
        openssl,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-sha256",
        "-nodes",
        "-days",
        "30",
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
        cwd=work,
    )
    (work / "leaf.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment,dataEncipherment\n"
        "extendedKeyUsage=clientAuth,emailProtection\n"
    )
    for name in ("partner", "gateway"):
        _run(
            openssl,
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
            cwd=work,
        )
        _run(
            openssl,
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
            "30",
            "-sha256",
            "-extfile",
            "leaf.ext",
            "-out",
            f"{name}.pem",
            cwd=work,
        )
    return Pki(
        work / "ca.pem",
        work / "partner.pem",
        work / "partner.key",
        work / "gateway.pem",
        work / "gateway.key",
    )


# --------------------------------------------------------------------------- AS2 receiver


@dataclass(slots=True)
class ReceivedAs2:
    """One message the receiver accepted."""

    message_id: str
    payload: bytes
    mic: str


@dataclass(slots=True)
class _State:
    received: list[ReceivedAs2] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    corrupt_mic: bool = False
    negative: bool = False
    #: asynchronous MDNs: "send" them, or "hold" them (never sent)
    async_mode: str = "send"
    #: sign the MDN with this key instead of the partner's ("gateway": a signature we must refuse)
    mdn_signer: str = "partner"
    #: answer this Original-Message-ID instead of the real one
    original_id: str | None = None
    #: ``(http status, answer)`` of each asynchronous MDN POSTed with curl
    async_posts: list[tuple[int, str]] = field(default_factory=list)


class OpensslAs2Receiver:
    """An AS2 partner made of ``openssl cms``: decrypt, verify, answer a signed MDN with the MIC.

    Args:
        pki: certificates (the receiver is the partner; our gateway signs).
        work: scratch folder.
    """

    def __init__(self, pki: Pki, work: Path) -> None:
        self.pki = pki
        self.work = work
        self.state = _State()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/as2"

    @property
    def received(self) -> list[ReceivedAs2]:
        return self.state.received

    def start(self) -> OpensslAs2Receiver:
        openssl = _need("openssl")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                request_headers = dict(self.headers.items())
                async_url = next(
                    (v for k, v in request_headers.items() if k.lower() == "receipt-delivery-option"), None
                )
                try:
                    status, headers, answer = receiver._handle(openssl, request_headers, body)
                except RuntimeError as exc:
                    receiver.state.errors.append(str(exc))
                    status, headers, answer = 500, {"Content-Type": "text/plain"}, str(exc).encode()
                    async_url = None
                mdn = (headers, answer)
                if async_url:
                    status, headers, answer = 200, {"Content-Type": "text/plain"}, b"received\n"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                self.wfile.flush()
                if async_url and receiver.state.async_mode == "send":
                    receiver._post_mdn(async_url, *mdn)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpensslAs2Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _post_mdn(self, url: str, headers: dict[str, str], body: bytes) -> None:
        """POST an asynchronous MDN with curl, as the partner would (RFC 4130 §7.3)."""
        curl = _need("curl")
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            t = Path(tmp)
            (t / "mdn.body").write_bytes(body)
            args = [curl, "-sS", "-o", "answer.txt", "-w", "%{http_code}", "-H", "Expect:"]
            for k, v in {
                **headers,
                "AS2-Version": "1.2",
                "Message-ID": f"<mdn.{os.urandom(6).hex()}@partner>",
            }.items():
                args += ["-H", f"{k}: {v}"]
            args += ["--data-binary", "@mdn.body", url]
            try:
                code = int(_run(*args, cwd=t).decode().strip())
                answer = (t / "answer.txt").read_text()
            except RuntimeError as exc:
                code, answer = 0, str(exc)
                self.state.errors.append(answer)
        with self._lock:
            self.state.async_posts.append((code, answer))

    def _handle(
        self, openssl: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        pki = self.pki
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            t = Path(tmp)
            (t / "body.p7m").write_bytes(body)
            _run(
                openssl,
                "cms",
                "-decrypt",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "body.p7m",
                "-recip",
                str(pki.partner_cert),
                "-inkey",
                str(pki.partner_key),
                "-out",
                "signed.mime",
                cwd=t,
            )
            # No -binary: like most partners, openssl checks the signature over the canonical (CRLF) form.
            _run(
                openssl,
                "cms",
                "-verify",
                "-in",
                "signed.mime",
                "-inform",
                "SMIME",
                "-CAfile",
                str(pki.ca),
                "-certfile",
                str(pki.gateway_cert),
                "-nointern",
                "-out",
                "entity.mime",
                cwd=t,
            )
            entity = (t / "entity.mime").read_bytes()
            mic_digest = _run(openssl, "dgst", "-sha256", "-binary", "entity.mime", cwd=t)
            mic = base64.b64encode(mic_digest).decode()
            if self.state.corrupt_mic:
                mic = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
            head, _, payload = entity.partition(b"\r\n\r\n")
            message_id = next((v for k, v in headers.items() if k.lower() == "message-id"), "")
            disposition = (
                "automatic-action/MDN-sent-automatically; processed/error: decryption-failed"
                if self.state.negative
                else "automatic-action/MDN-sent-automatically; processed"
            )
            report = (
                'Content-Type: multipart/report; report-type=disposition-notification; boundary="R"\r\n\r\n'
                "--R\r\nContent-Type: text/plain\r\n\r\nThe message was received.\r\n"
                "--R\r\nContent-Type: message/disposition-notification\r\n\r\n"
                "Reporting-UA: openssl-cms-test\r\n"
                "Final-Recipient: rfc822; PARTNER\r\n"
                f"Original-Message-ID: {self.state.original_id or message_id}\r\n"
                f"Received-Content-MIC: {mic}, sha-256\r\n"
                f"Disposition: {disposition}\r\n\r\n"
                "--R--\r\n"
            )
            (t / "report.mime").write_bytes(report.encode())
            _run(
                openssl,
                "cms",
                "-sign",
                "-in",
                "report.mime",
                "-signer",
                str(pki.gateway_cert if self.state.mdn_signer == "gateway" else pki.partner_cert),
                "-inkey",
                str(pki.gateway_key if self.state.mdn_signer == "gateway" else pki.partner_key),
                "-md",
                "sha256",
                "-out",
                "mdn.smime",
                cwd=t,
            )
            smime = (t / "mdn.smime").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
            mdn_head, _, mdn_body = smime.partition(b"\r\n\r\n")
            content_type = ""
            for line in mdn_head.decode().split("\r\n"):
                if line.lower().startswith("content-type:"):
                    content_type = line.split(":", 1)[1].strip()
            with self._lock:
                if not self.state.negative:
                    self.state.received.append(ReceivedAs2(message_id, payload, mic))
            del head
        return 200, {"Content-Type": content_type, "AS2-From": "PARTNER", "AS2-To": "GATEWAY"}, mdn_body


__all__ = ["OpensslAs2Receiver", "Pki", "ReceivedAs2", "Sshd", "free_port", "make_pki"]
