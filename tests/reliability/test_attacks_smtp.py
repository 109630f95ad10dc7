"""SMTP attacks with ``swaks`` against ``SmtpSource`` on the real journal.

The source runs in-process: the daemon does not wire SMTP yet.

Path traversal in attachment names, an unknown sender, a mail with no EDI and an
oversized mail: each is answered in SMTP terms (250 with a cleaned name, 550,
554, 552) and nothing is written outside the state folder.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.journal import Journal, JournalOptions
from gateway.sources.smtp import MailLogin, SmtpSettings, SmtpSource
from tests.harness import make_850
from tests.support.running import RunningSource


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; install the Debian package {binary}")
    return path


class Senders:
    def lookup(self, address: str) -> str | None:
        return "acme" if address == "partner@partner.example" else None

    def login(self, username: str) -> MailLogin | None:
        return None


@dataclass
class MailSite:
    work: Path
    state: Path
    port: int

    def swaks(self, *args: str, sender: str = "partner@partner.example") -> subprocess.CompletedProcess[str]:
        cmd = [
            require("swaks"), "--server", "127.0.0.1", "--port", str(self.port), "--from", sender,
            "--to", "edi@gateway.example", "--header", "Subject: PO", "--timeout", "30", *args,
        ]  # fmt: skip
        return subprocess.run(cmd, cwd=self.work, capture_output=True, text=True, timeout=90, check=False)

    def rows(self) -> list[tuple[str, str]]:
        db = sqlite3.connect(f"file:{self.state / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [
                (str(r[0]), str(r[1]))
                for r in db.execute("SELECT file_name, state FROM messages ORDER BY id")
            ]
        finally:
            db.close()


@pytest.fixture
def mail_site(tmp_path: Path) -> Iterator[MailSite]:
    settings = SmtpSettings(
        name="smtp-attacks", host="127.0.0.1", port=0, max_message_bytes=64 * 1024, shutdown_grace=2.0
    )
    source = SmtpSource(settings, Senders())
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    server = RunningSource(source, journal).start()
    (tmp_path / "po.edi").write_bytes(make_850(1, "PO-MAIL"))
    try:
        yield MailSite(tmp_path, tmp_path / "state", server.port)
    finally:
        server.stop()
        journal.close()


@pytest.mark.parametrize(
    ("attach_name", "expected"),
    [
        ("../../x.edi", "x.edi"),
        ("/etc/cron.d/pwn.edi", "pwn.edi"),
        ("..\\..\\windows\\pwn.edi", None),  # the quoted-string drops the backslashes
        ("....//....//.hidden.edi", "hidden.edi"),
    ],
)
def test_attachment_name_traversal_is_cleaned(
    mail_site: MailSite, attach_name: str, expected: str | None
) -> None:
    r = mail_site.swaks(
        "--attach-type", "application/edi-x12", "--attach-name", attach_name, "--attach", "@po.edi"
    )
    assert r.returncode == 0, r.stdout[-2000:]
    [(name, state)] = mail_site.rows()
    assert state == "received"
    assert "/" not in name and "\\" not in name and not name.startswith("."), name
    if expected is not None:
        assert name == expected
    assert not Path("/etc/cron.d/pwn.edi").exists()
    assert not (mail_site.work.parent / "x.edi").exists()
    assert {p.name for p in mail_site.work.iterdir()} <= {"po.edi", "state"}


def test_unknown_sender_is_refused(mail_site: MailSite) -> None:
    r = mail_site.swaks("--attach", "@po.edi", sender="mallory@evil.example")
    assert r.returncode in (23, 24), r.stdout[-2000:]  # refused at MAIL FROM / RCPT TO
    assert "550" in r.stdout or "553" in r.stdout or "554" in r.stdout
    assert mail_site.rows() == []


def test_mail_without_edi_is_refused_with_554(mail_site: MailSite) -> None:
    r = mail_site.swaks("--body", "hello, no attachment")
    assert r.returncode == 26, r.stdout[-2000:]
    assert "554" in r.stdout
    assert mail_site.rows() == []


def test_oversized_mail_is_refused_with_552(mail_site: MailSite) -> None:
    (mail_site.work / "big.edi").write_bytes(make_850(2, "PO-BIG", lines=3000))
    r = mail_site.swaks("--attach-type", "application/edi-x12", "--attach", "@big.edi")
    assert r.returncode == 26, r.stdout[-2000:]
    assert "552" in r.stdout
    assert mail_site.rows() == []
