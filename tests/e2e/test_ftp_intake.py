"""End to end: ``lftp``/``curl`` over FTPS -> ``edigate run`` (child process) -> the real journal.

The gateway runs as ``python -m gateway.cli run`` with an ``[[sources.ftp]]``
listener, so it can be SIGKILLed.  Promises checked:

* an acknowledged upload (client exit 0, i.e. ``226`` received) is in the
  journal byte for byte and survives ``kill -9``;
* a transfer cut by ``kill -9`` of the gateway is never journaled, not even
  after a restart (the half file is moved out of the partner's view);
* SIGTERM during an upload lets it finish and be acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from gateway.sources.sftp import hash_password
from tests.harness import GatewayProcess, write_config

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
SAMPLE = CORPUS / "x12" / "EdiEngine__940.OK.edi"
PASSWORD = "e2e-Secret-9"


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; install the Debian package {binary}")
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Site:
    root: Path
    ca_file: Path
    gw: GatewayProcess

    @property
    def port(self) -> int:
        [ftp] = [s for s in self.gw.control({"command": "status"})["sources"] if s.get("kind") == "ftp"]
        return int(ftp["listening"].rsplit(":", 1)[1])

    def curl(self, *args: str, port: int) -> list[str]:
        return [
            require("curl"), "-sS", "--max-time", "120", "--ssl-reqd", "--cacert", str(self.ca_file),
            "--user", f"acme:{PASSWORD}", *args,
        ]  # fmt: skip

    def url(self, path: str, port: int) -> str:
        return f"ftp://127.0.0.1:{port}{path}"

    def rows(self) -> list[tuple[str, str]]:
        db = sqlite3.connect(f"file:{self.root / 'state' / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [
                (str(r[0]), str(r[1]))
                for r in db.execute(
                    "SELECT file_name, sha256 FROM messages WHERE transport = 'ftp' ORDER BY id"
                )
            ]
        finally:
            db.close()

    def spooled(self, digest: str) -> bytes:
        return (self.root / "state" / "spool" / digest[:2] / digest).read_bytes()

    def inbound(self) -> list[Path]:
        return sorted((self.root / "ftp" / "acme" / "inbound").iterdir())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "ftps.key"))
    (tmp_path / "ftps.key").chmod(0o600)
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "ftps.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    extra = f"""
[[sources.ftp]]
name = "ftps"
host = "127.0.0.1"
port = 0
roots_dir = "ftp"
cert_file = "ftps.pem"
key_file = "ftps.key"
auth_failure_delay = 0.0
shutdown_grace = 15.0

[[sources.ftp.accounts]]
user = "acme"
partner = "acme"
password_hash = "{hash_password(PASSWORD)}"
"""
    cfg = write_config(tmp_path, extra=extra)
    gw = GatewayProcess(cfg)
    try:
        yield Site(tmp_path, tmp_path / "ca.pem", gw)
    finally:
        gw.kill()


def wait_for_partial(path: Path, at_least: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= at_least:
            return
        if proc.poll() is not None:
            pytest.fail(f"curl ended before the upload was under way: exit {proc.returncode}")
        time.sleep(0.02)
    pytest.fail(f"upload never reached {at_least} bytes at {path}")


def test_kill_9_mid_upload_loses_nothing_acknowledged_and_journals_nothing_partial(site: Site) -> None:
    small = SAMPLE.read_bytes()
    big = b"ISA*00*" + os.urandom(1024 * 1024)
    (site.root / "small.edi").write_bytes(small)
    (site.root / "big.edi").write_bytes(big)
    site.gw.start()
    port = site.port
    lftp = subprocess.run(
        [
            require("lftp"), "-c",
            f"set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:ca-file {site.ca_file}; "
            f"set net:max-retries 1; set cmd:fail-exit true; open -u acme,{PASSWORD} -p {port} 127.0.0.1; "
            "put small.edi -o /inbound/acked.edi; bye",
        ],
        cwd=site.root, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HOME": str(site.root)},
    )  # fmt: skip
    assert lftp.returncode == 0, lftp.stderr
    slow = subprocess.Popen(
        site.curl("--limit-rate", "256k", "-T", "big.edi", site.url("/inbound/big.edi", port), port=port),
        cwd=site.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_partial(site.root / "ftp" / "acme" / "inbound" / "big.edi", 256 * 1024, slow)
        site.gw.kill()
        assert slow.wait(60) != 0, "the client must not see the cut upload as a success"
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    # the acknowledged upload is durable; the cut one is not in the journal
    assert site.rows() == [("acked.edi", sha(small))]
    assert site.spooled(sha(small)) == small
    site.gw.start()
    port = site.port
    # the restart moved the half-written file out of the partner's folder without journaling it
    assert site.inbound() == []
    [moved] = list((site.root / "ftp" / ".incomplete" / "acme").iterdir())
    assert moved.name.endswith("-big.edi") and 0 < moved.stat().st_size < len(big)
    assert site.rows() == [("acked.edi", sha(small))]
    with site.gw.db() as c:
        events = [
            json.loads(r[0]) for r in c.execute("SELECT detail FROM events WHERE kind = 'upload_incomplete'")
        ]
    assert [e["moved_to"] for e in events] == [str(moved)]
    # the partner re-sends and it is accepted whole
    resend = subprocess.run(
        site.curl("-T", "big.edi", site.url("/inbound/big.edi", port), port=port),
        cwd=site.root, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert resend.returncode == 0, resend.stderr
    assert site.gw.stop() == 0
    assert site.rows() == [("acked.edi", sha(small)), ("big.edi", sha(big))]
    assert site.spooled(sha(big)) == big


def test_sigterm_during_upload_finishes_it(site: Site) -> None:
    big = b"ISA*00*" + os.urandom(640 * 1024)
    (site.root / "big.edi").write_bytes(big)
    site.gw.start()
    port = site.port
    slow = subprocess.Popen(
        site.curl("--limit-rate", "320k", "-T", "big.edi", site.url("/inbound/big.edi", port), port=port),
        cwd=site.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_partial(site.root / "ftp" / "acme" / "inbound" / "big.edi", 128 * 1024, slow)
        site.gw.signal(signal.SIGTERM)
        assert slow.wait(120) == 0, "an upload under way at SIGTERM must be finished and acknowledged"
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    assert site.gw.proc is not None and site.gw.proc.wait(60) == 0
    assert site.rows() == [("big.edi", sha(big))]
