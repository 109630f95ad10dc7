"""SMTP source driven by the real ``swaks`` client, with an in-memory journal.

Also the pure MIME extraction of :mod:`gateway.sources.mail`.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import DiskFloorError, GatewayError
from gateway.journal import AppendResult, Intake
from gateway.sources.mail import NoEdiContentError, extract_edi, safe_file_name
from gateway.sources.sftp import hash_password
from gateway.sources.smtp import MailLogin, SmtpSettings, SmtpSource
from tests.support.running import RunningSource

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
X12 = CORPUS / "x12" / "node-x12__850.edi"
X12_TXT = CORPUS / "x12" / "OopFactory-X12__850_Example1_PGWGlass.txt"
SENDER = "edi@acme.example"


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; install the Debian packages swaks and libnet-ssleay-perl")
    return path


@dataclass
class FakeJournal:
    """Same signatures as gateway.journal.Journal.append/note_event."""

    intakes: list[Intake] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: GatewayError | None = None
    #: when set, append() waits for ``gate`` after setting ``entered``
    gate: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)

    async def append(self, intake: Intake) -> AppendResult:
        if self.fail is not None:
            raise self.fail
        if self.gate is not None:
            self.entered.set()
            await asyncio.to_thread(self.gate.wait, 60)
        self.intakes.append(intake)
        return AppendResult(str(len(self.intakes)), hashlib.sha256(intake.data).hexdigest(), None)

    async def note_event(self, kind: str, detail: dict[str, Any]) -> None:
        self.events.append((kind, detail))


class Senders:
    def __init__(self) -> None:
        self.logins = {
            "acme-edi": MailLogin(username="acme-edi", partner="ACME", password_hash=hash_password("s3cret"))
        }

    def lookup(self, address: str) -> str | None:
        return {"edi@acme.example": "ACME", "edi@globex.example": "GLOBEX"}.get(address)

    def login(self, username: str) -> MailLogin | None:
        return self.logins.get(username)


@dataclass
class Env:
    work: Path
    journal: FakeJournal
    server: RunningSource
    ca_pem: Path

    def swaks(self, *args: str, sender: str = SENDER) -> subprocess.CompletedProcess[str]:
        assert self.server.source.bound_port is not None
        return subprocess.run(
            [
                require("swaks"),
                "--server",
                "127.0.0.1",
                "--port",
                str(self.server.source.bound_port),
                "--from",
                sender,
                "--to",
                "edi@gateway.example",
                "--helo",
                "partner.example",
                *args,
            ],
            cwd=self.work,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def listening(port: int) -> bool:
    """Whether a socket listens on the port, read from /proc (no probe connection: a
    connect-and-close probe racing the stop can leave asyncio a half-made transport)."""
    with open("/proc/net/tcp") as table:
        next(table)
        # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN
        return any(line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A" for line in table)


def make_env(tmp_path: Path, **overrides: Any) -> Iterator[Env]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    (tmp_path / "server.pem").chmod(0o600)  # it holds the key
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    options: dict[str, Any] = {
        "name": "smtp-test",
        "host": "127.0.0.1",
        "port": 0,
        "max_message_bytes": 256 * 1024,
        "auth_failure_delay": 0.0,
        "shutdown_grace": 5.0,
    }
    options.update(overrides)
    if options.pop("tls", False):
        options["tls_cert_file"] = options["tls_key_file"] = tmp_path / "server.pem"
    journal = FakeJournal()
    server = RunningSource(SmtpSource(SmtpSettings(**options), Senders()), journal).start()
    try:
        yield Env(tmp_path, journal, server, tmp_path / "ca.pem")
    finally:
        server.stop()
        # A socket the source failed to close shows up here, in the test that leaked it.
        gc.collect()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path)


@pytest.fixture
def tls_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, tls=True, auth="optional")


@pytest.fixture
def auth_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, tls=True, auth="required", auth_max_failures=3)


# -- swaks -----------------------------------------------------------------------------


def test_attachment_is_journaled_byte_for_byte(env: Env) -> None:
    result = env.swaks(
        "--header",
        "Subject: PO 123",
        "--header",
        "Message-Id: <po123@acme.example>",
        "--body",
        "EDI attached.",
        "--attach-type",
        "application/edi-x12",
        "--attach-name",
        "po123.edi",
        "--attach",
        f"@{X12}",
    )
    assert result.returncode == 0, result.stdout
    [intake] = env.journal.intakes
    assert intake.data == X12.read_bytes()
    assert (intake.transport, intake.partner, intake.file_name) == ("smtp", "ACME", "po123.edi")
    assert intake.external_id is not None and intake.external_id.startswith("<po123@acme.example>#")
    assert intake.meta["subject"] == "PO 123" and intake.meta["sender"] == SENDER
    assert "250 2.0.0 Accepted 1 EDI file(s)" in result.stdout


def test_several_attachments_one_entry_each_and_others_skipped(env: Env) -> None:
    (env.work / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    result = env.swaks(
        "--body",
        "two orders",
        "--attach-type",
        "application/octet-stream",
        "--attach-name",
        "../../etc/first.txt",
        "--attach",
        f"@{X12_TXT}",
        "--attach-type",
        "application/edi-x12",
        "--attach-name",
        "second.edi",
        "--attach",
        f"@{X12}",
        "--attach-type",
        "image/png",
        "--attach-name",
        "logo.png",
        "--attach",
        "@logo.png",
    )
    assert result.returncode == 0, result.stdout
    assert [(i.file_name, i.data) for i in env.journal.intakes] == [
        ("first.txt", X12_TXT.read_bytes()),
        ("second.edi", X12.read_bytes()),
    ]
    assert env.journal.intakes[0].meta["skipped"] == ["logo.png (image/png)"]


def test_body_only_edi_is_accepted(env: Env) -> None:
    result = env.swaks("--body", f"@{X12}")
    assert result.returncode == 0, result.stdout
    [intake] = env.journal.intakes
    # SMTP carries text with CRLF line ends (RFC 5321 section 2.3.8)
    assert intake.data.replace(b"\r\n", b"\n").strip() == X12.read_bytes().strip()
    assert intake.file_name is not None and intake.file_name.startswith("body-")


def test_mail_without_edi_is_refused_554_with_reason(env: Env) -> None:
    result = env.swaks("--body", "Hello, please find our order attached (forgot it).")
    assert result.returncode == 26, result.stdout
    assert "554 5.6.0 no EDI content" in result.stdout
    assert env.journal.intakes == []
    assert [k for k, _ in env.journal.events] == ["mail_refused"]


def test_unknown_sender_is_refused_at_mail(env: Env) -> None:
    result = env.swaks("--body", f"@{X12}", sender="mallory@evil.example")
    assert result.returncode == 23, result.stdout  # swaks: refused after MAIL FROM
    assert "550 5.7.1" in result.stdout
    assert env.journal.intakes == []


@pytest.fixture
def rcpt_env(tmp_path: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, recipients=("orders@gateway.example",))


def test_unknown_recipient_is_refused(rcpt_env: Env) -> None:
    result = rcpt_env.swaks("--body", f"@{X12}")
    assert result.returncode == 24, result.stdout
    assert "550 5.1.1" in result.stdout


def test_oversized_mail_is_refused_552(env: Env) -> None:
    big = env.work / "big.edi"
    big.write_bytes(X12.read_bytes() * (256 * 1024 // X12.stat().st_size + 5))
    result = env.swaks("--body", "big", "--attach-type", "application/edi-x12", "--attach", f"@{big}")
    assert result.returncode == 26, result.stdout  # swaks sends no SIZE=, so it bites after DATA
    assert "552" in result.stdout
    assert env.journal.intakes == []


def test_disk_floor_answers_452_so_the_sender_retries(env: Env) -> None:
    env.journal.fail = DiskFloorError("only 10 MiB free")
    result = env.swaks("--attach-type", "application/edi-x12", "--attach", f"@{X12}")
    assert result.returncode == 26, result.stdout
    assert "452 4.3.1" in result.stdout
    assert env.journal.intakes == []


def test_stop_lets_the_mail_in_flight_finish(env: Env) -> None:
    env.journal.gate = threading.Event()
    assert env.server.source.bound_port is not None
    port = env.server.source.bound_port
    proc = subprocess.Popen(
        [
            require("swaks"),
            "--server",
            "127.0.0.1",
            "--port",
            str(port),
            "--from",
            SENDER,
            "--to",
            "edi@gateway.example",
            "--attach-type",
            "application/edi-x12",
            "--attach",
            f"@{X12}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert env.journal.entered.wait(60), "the mail never reached the journal"
        stopper = threading.Thread(target=env.server.stop)
        stopper.start()
        # wait until the listener is closed (the stop is under way), then let the append finish
        deadline = time.monotonic() + 60
        while listening(port):
            assert time.monotonic() < deadline, "the listener never closed"
            time.sleep(0.02)
        env.journal.gate.set()
        out, _ = proc.communicate(timeout=60)
        stopper.join(60)
    finally:
        env.journal.gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "250 2.0.0 Accepted 1 EDI file(s)" in out
    assert [i.data for i in env.journal.intakes] == [X12.read_bytes()]


def test_starttls_with_test_ca(tls_env: Env) -> None:
    result = tls_env.swaks(
        "--tls",
        "--tls-verify",
        "--tls-ca-path",
        str(tls_env.ca_pem),
        "--attach-type",
        "application/edi-x12",
        "--attach-name",
        "tls.edi",
        "--attach",
        f"@{X12}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [i.file_name for i in tls_env.journal.intakes] == ["tls.edi"]


def test_auth_plain_and_login_over_tls(auth_env: Env) -> None:
    for mech in ("PLAIN", "LOGIN"):
        result = auth_env.swaks(
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            str(auth_env.ca_pem),
            "--auth",
            mech,
            "--auth-user",
            "acme-edi",
            "--auth-password",
            "s3cret",
            "--attach-type",
            "application/edi-x12",
            "--attach",
            f"@{X12}",
        )
        assert result.returncode == 0, result.stdout
    assert len(auth_env.journal.intakes) == 2
    # the password never appears in what we record
    assert "s3cret" not in repr(auth_env.journal.events)


def test_auth_failure_and_lockout(auth_env: Env) -> None:
    def attempt(password: str) -> subprocess.CompletedProcess[str]:
        return auth_env.swaks(
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            str(auth_env.ca_pem),
            "--auth",
            "PLAIN",
            "--auth-user",
            "acme-edi",
            "--auth-password",
            password,
            "--body",
            f"@{X12}",
        )

    for _ in range(3):
        result = attempt("Guess-9f3e")
        assert result.returncode == 28, result.stdout
        assert "535 5.7.8" in result.stdout
    locked = attempt("s3cret")
    assert locked.returncode == 28, locked.stdout
    assert "454 4.7.0" in locked.stdout
    assert auth_env.journal.intakes == []
    failures = [d for k, d in auth_env.journal.events if k == "auth_failure"]
    assert len(failures) == 4 and failures[2]["locked"]
    assert "Guess-9f3e" not in repr(auth_env.journal.events)


def test_auth_required_refuses_unauthenticated_mail_and_plaintext_auth(auth_env: Env) -> None:
    result = auth_env.swaks(
        "--tls", "--tls-verify", "--tls-ca-path", str(auth_env.ca_pem), "--body", f"@{X12}"
    )
    assert result.returncode != 0 and "530 5.7.0" in result.stdout
    # without STARTTLS, AUTH is not even offered
    plain = auth_env.swaks(
        "--auth", "PLAIN", "--auth-user", "acme-edi", "--auth-password", "s3cret", "--body", f"@{X12}"
    )
    assert plain.returncode == 28, plain.stdout
    assert auth_env.journal.intakes == []


def test_login_of_another_partner_cannot_send_as_this_sender(auth_env: Env) -> None:
    result = auth_env.swaks(
        "--tls",
        "--tls-verify",
        "--tls-ca-path",
        str(auth_env.ca_pem),
        "--auth",
        "PLAIN",
        "--auth-user",
        "acme-edi",
        "--auth-password",
        "s3cret",
        "--body",
        f"@{X12}",
        sender="edi@globex.example",
    )
    assert result.returncode == 23, result.stdout
    assert "does not belong" in result.stdout
    assert auth_env.journal.intakes == []


def test_auth_settings_need_tls() -> None:
    with pytest.raises(ValueError, match="passwords never travel in clear"):
        SmtpSettings(name="x", auth="required")


# -- MIME extraction -------------------------------------------------------------------


def mail(*attachments: tuple[bytes, str, str], body: str = "see attached") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = SENDER, "edi@gw", "s", "<m1@x>"
    msg.set_content(body)
    for data, maintype_sub, name in attachments:
        maintype, subtype = maintype_sub.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def test_extract_keeps_binary_bytes_and_strips_paths() -> None:
    edi = b"ISA*00*\x00\xff binary~\r\nIEA*1*1~"
    content = extract_edi(mail((edi, "application/octet-stream", "C:\\out\\..\\po.edi")))
    [part] = content.parts
    assert (part.data, part.file_name, content.message_id) == (edi, "po.edi", "<m1@x>")


def test_extract_refuses_non_edi_with_what_it_found() -> None:
    with pytest.raises(NoEdiContentError, match=r"invoice\.pdf \(application/pdf\)"):
        extract_edi(mail((b"%PDF-1.4", "application/pdf", "invoice.pdf")))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..", "attachment-3.edi"),
        ("", "attachment-3.edi"),
        (None, "attachment-3.edi"),
        (".hidden.edi", "hidden.edi"),
        ("a\x00b\r\n.edi", "ab.edi"),
        ("dir\\sub\\x.edi", "x.edi"),
        ("caf\udce9.edi", "caf\ufffd.edi"),
    ],
)
def test_safe_file_name(raw: str | None, expected: str) -> None:
    assert safe_file_name(raw, 3) == expected


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_extract_either_finds_parts_or_says_why(raw: bytes) -> None:
    try:
        content = extract_edi(raw)
    except NoEdiContentError as exc:
        assert str(exc)
    else:
        assert content.parts and all(p.data for p in content.parts)
