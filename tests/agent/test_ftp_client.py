"""FTP/FTPS partner client against a server that is not ours: Debian ``vsftpd``.

Recipe (works as root in a sandbox, no system user needed): each test starts
``vsftpd CONFIG`` in the foreground (``background=NO``) on a free 127.0.0.1 port with

* anonymous login only (``anonymous_enable=YES``, ``local_enable=NO``), chrooted to
  ``anon_root`` (owned by root, not writable), uploads into ``incoming/`` which is
  owned by the ``ftp`` user (``anon_upload_enable``, ``anon_other_write_enable`` for
  rename and delete);
* explicit TLS required for login and data (``ssl_enable``, ``allow_anon_ssl``,
  ``force_anon_logins_ssl``, ``force_anon_data_ssl``) with a trustme certificate,
  and ``require_ssl_reuse=YES`` (vsftpd's default: data connections must resume
  the control connection's TLS session);
* a passive range of free ports, ``seccomp_sandbox=NO`` (containers), and
  ``log_ftp_protocol=YES`` so the test can read the commands our client sent.

Our own FTP source is the second server: it answers ``452`` when the journal is
under its disk floor, which must be a transient error.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from agent.errors import PermanentDeliveryError, TlsConfigError, TransientDeliveryError
from agent.partner.ftp import FtpFetcher, FtpPartnerSink, FtpSettings, settings_from_delivery
from gateway.errors import DiskFloorError
from gateway.journal import Journal, JournalOptions


def require(binary: str) -> str:
    for folder in ("", "/usr/sbin/", "/sbin/"):
        path = (
            shutil.which(binary)
            if not folder
            else (folder + binary if os.path.exists(folder + binary) else None)
        )
        if path:
            return path
    pytest.fail(f"{binary} is not installed; install the Debian package {binary}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Vsftpd:
    port: int
    root: Path
    incoming: Path
    ca_file: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def settings(self, **overrides: object) -> FtpSettings:
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "anonymous",
            "password": "edigate@example.com",
            "ca_file": self.ca_file,
            "remote_dir": "/incoming",
            "timeout": 20.0,
            **overrides,
        }
        return FtpSettings(**values)  # type: ignore[arg-type]

    def commands(self) -> list[str]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if "FTP command:" in line:
                out.append(line.rsplit('", "', 1)[1].rstrip('"'))
        return out


@pytest.fixture
def vsftpd(tmp_path: Path) -> Iterator[Vsftpd]:
    binary = require("vsftpd")
    ftp_user = pwd.getpwnam("ftp")  # the Debian package creates it
    root, empty = tmp_path / "anon", tmp_path / "empty"
    incoming = root / "incoming"
    incoming.mkdir(parents=True)
    empty.mkdir()
    root.chmod(0o755)
    os.chown(incoming, ftp_user.pw_uid, ftp_user.pw_gid)
    (root / "archive").mkdir()
    os.chown(root / "archive", ftp_user.pw_uid, ftp_user.pw_gid)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    port = free_port()
    pasv = free_port()
    log = tmp_path / "vsftpd.log"
    conf = tmp_path / "vsftpd.conf"
    conf.write_text(
        f"""listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
anonymous_enable=YES
anon_root={root}
no_anon_password=YES
write_enable=YES
anon_upload_enable=YES
anon_other_write_enable=YES
anon_umask=022
local_enable=NO
pasv_enable=YES
pasv_min_port={pasv}
pasv_max_port={pasv}
pasv_address=127.0.0.1
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
require_ssl_reuse=YES
rsa_cert_file={tmp_path / "cert.pem"}
rsa_private_key_file={tmp_path / "key.pem"}
seccomp_sandbox=NO
secure_chroot_dir={empty}
xferlog_enable=YES
xferlog_std_format=NO
log_ftp_protocol=YES
vsftpd_log_file={log}
"""
    )
    proc = subprocess.Popen([binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
                proc.kill()
                proc.wait()
                pytest.fail(f"vsftpd did not start (exit {proc.returncode}): {err}")
            time.sleep(0.05)
    try:
        yield Vsftpd(port, root, incoming, tmp_path / "ca.pem", log, proc)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


# -- push ------------------------------------------------------------------------------


def test_upload_lands_byte_identical_via_temp_name_and_rename(vsftpd: Vsftpd) -> None:
    data = b"ISA*00*delivery~" + os.urandom(200_000)
    asyncio.run(FtpPartnerSink("partner:acme", vsftpd.settings()).upload("856-1.edi", data))
    assert (vsftpd.incoming / "856-1.edi").read_bytes() == data
    assert sorted(p.name for p in vsftpd.incoming.iterdir()) == ["856-1.edi"]
    sent = vsftpd.commands()
    # never written under the final name: stored as .part, size-checked, then renamed
    assert "STOR /incoming/856-1.edi" not in sent
    i = sent.index("STOR /incoming/856-1.edi.part")
    assert sent[i + 1 : i + 4] == ["SIZE /incoming/856-1.edi.part", "RNFR /incoming/856-1.edi.part",
                                   "RNTO /incoming/856-1.edi"]  # fmt: skip
    assert "PROT P" in sent and "AUTH TLS" in sent
    assert sent.index("AUTH TLS") < next(i for i, c in enumerate(sent) if c.startswith("USER"))


def test_resend_replaces_the_earlier_file(vsftpd: Vsftpd) -> None:
    sink = FtpPartnerSink("partner:acme", vsftpd.settings())
    asyncio.run(sink.upload("810.edi", b"first"))
    asyncio.run(sink.upload("810.edi", b"second version"))
    assert (vsftpd.incoming / "810.edi").read_bytes() == b"second version"


def test_untrusted_certificate_is_a_permanent_error(vsftpd: Vsftpd, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(PermanentDeliveryError, match="server certificate not trusted"):
        asyncio.run(FtpPartnerSink("p", vsftpd.settings(ca_file=other)).upload("x.edi", b"x"))
    assert list(vsftpd.incoming.iterdir()) == []
    assert not any(c.startswith(("USER", "PASS")) for c in vsftpd.commands())


def test_refused_login_is_permanent(vsftpd: Vsftpd) -> None:
    with pytest.raises(PermanentDeliveryError, match="log in refused, server said: 530"):
        asyncio.run(FtpPartnerSink("p", vsftpd.settings(user="acme")).upload("x.edi", b"x"))


def test_missing_remote_folder_is_permanent(vsftpd: Vsftpd) -> None:
    with pytest.raises(PermanentDeliveryError, match=r"55[03]"):
        asyncio.run(FtpPartnerSink("p", vsftpd.settings(remote_dir="/nope")).upload("x.edi", b"x"))


def test_connection_refused_is_transient() -> None:
    settings = FtpSettings(host="127.0.0.1", port=free_port(), user="u", password="p", tls="none")
    with pytest.raises(TransientDeliveryError, match="cannot connect"):
        asyncio.run(FtpPartnerSink("p", settings).upload("x.edi", b"x"))


def test_tls_without_ca_file_is_a_config_error(vsftpd: Vsftpd) -> None:
    with pytest.raises(TlsConfigError, match="ca_file"):
        asyncio.run(FtpPartnerSink("p", vsftpd.settings(ca_file=None)).upload("x.edi", b"x"))


def test_healthcheck(vsftpd: Vsftpd) -> None:
    asyncio.run(FtpPartnerSink("p", vsftpd.settings()).healthcheck())
    with pytest.raises(PermanentDeliveryError):
        asyncio.run(FtpPartnerSink("p", vsftpd.settings(remote_dir="/nope")).healthcheck())


def test_settings_from_profile_delivery_table(tmp_path: Path) -> None:
    table = {"transport": "ftp", "host": "ftp.example.com", "port": 990, "user": "u", "remote_dir": "/in"}
    s = settings_from_delivery(table, "pw", tmp_path / "ca.pem")
    assert (s.host, s.port, s.tls, s.remote_dir, s.ca_file) == ("ftp.example.com", 990, "explicit", "/in",
                                                                tmp_path / "ca.pem")  # fmt: skip
    assert "pw" not in repr(s)
    with pytest.raises(ValueError, match="implicit"):
        settings_from_delivery({**table, "tls": "implicit"}, "pw", None)
    with pytest.raises(ValueError, match="active mode"):
        settings_from_delivery({**table, "passive": False}, "pw", None)


# -- fetch -----------------------------------------------------------------------------


def _leave(vsftpd: Vsftpd, name: str, data: bytes) -> None:
    path = vsftpd.incoming / name
    path.write_bytes(data)
    path.chmod(0o644)  # vsftpd serves anonymous users world-readable files only


def test_fetch_journals_then_deletes_and_skips_temp_names(vsftpd: Vsftpd, tmp_path: Path) -> None:
    a, b = b"ISA*fetch-a~" + os.urandom(5000), b"ISA*fetch-b~"
    _leave(vsftpd, "a.edi", a)
    _leave(vsftpd, "b.edi", b)
    _leave(vsftpd, "c.edi.part", b"still uploading")
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    try:
        fetched = asyncio.run(FtpFetcher("acme", vsftpd.settings()).poll(journal))
        rows = journal.read_sync(
            lambda c: [
                tuple(r) for r in c.execute("SELECT file_name, partner, transport, sha256 FROM messages")
            ]
        )
        assert [f.name for f in fetched] == ["a.edi", "b.edi"]
        assert [r[:3] for r in rows] == [("a.edi", "acme", "ftp"), ("b.edi", "acme", "ftp")]
        raw = [asyncio.run(journal.raw_bytes(int(f.result.message_id))) for f in fetched]
        assert raw == [a, b]
    finally:
        journal.close()
    assert sorted(p.name for p in vsftpd.incoming.iterdir()) == ["c.edi.part"]
    sent = vsftpd.commands()
    # deleted only after the append: each DELE follows that file's RETR
    assert sent.index("DELE /incoming/a.edi") > sent.index("RETR /incoming/a.edi")


def test_fetch_move_mode_archives_on_the_server(vsftpd: Vsftpd, tmp_path: Path) -> None:
    _leave(vsftpd, "a.edi", b"ISA*move~")
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    try:
        [f] = asyncio.run(
            FtpFetcher("acme", vsftpd.settings(), after="move", archive_dir="/archive").poll(journal)
        )
    finally:
        journal.close()
    assert list(vsftpd.incoming.iterdir()) == []
    assert (vsftpd.root / "archive" / f"{f.result.message_id}-a.edi").read_bytes() == b"ISA*move~"


def test_fetch_leaves_the_file_when_the_journal_refuses(vsftpd: Vsftpd, tmp_path: Path) -> None:
    _leave(vsftpd, "a.edi", b"ISA*keep-me~")
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=1 << 62))
    try:
        with pytest.raises(DiskFloorError):
            asyncio.run(FtpFetcher("acme", vsftpd.settings()).poll(journal))
    finally:
        journal.close()
    assert (vsftpd.incoming / "a.edi").read_bytes() == b"ISA*keep-me~"
    assert not any(c.startswith("DELE") for c in vsftpd.commands())


# -- against our own FTPS source: a 452 is transient ----------------------------------


def test_452_from_our_own_source_is_transient(tmp_path: Path) -> None:
    from tests.gateway.test_source_ftp import PASSWORD, make_env

    gen = make_env(tmp_path)
    env = next(gen)
    try:
        settings = FtpSettings(
            host="127.0.0.1", port=env.port, user="acme", password=PASSWORD, ca_file=env.ca_file,
            remote_dir="/inbound", timeout=20.0,
        )  # fmt: skip
        sink = FtpPartnerSink("p", settings)
        asyncio.run(sink.upload("ok.edi", b"ISA*accepted~"))
        assert [r[0] for r in env.rows()] == ["ok.edi"]
        env.running.journal.options = JournalOptions(min_free_bytes=1 << 62)
        with pytest.raises(TransientDeliveryError, match="452"):
            asyncio.run(sink.upload("later.edi", b"ISA*not-now~"))
    finally:
        gen.close()
