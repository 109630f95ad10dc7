"""End to end: OpenSSH ``sftp`` -> SftpSource in its own process -> the real journal.

The gateway side runs in a child Python process (so it can be SIGKILLed) with
``gateway.journal.Journal`` on a temporary state folder.  Promises checked:

* an acknowledged upload (sftp exit 0) is in the journal, byte for byte, and
  survives ``kill -9`` of the gateway;
* a transfer cut by ``kill -9`` is never journaled, not even after a restart;
* SIGTERM during an upload lets the upload finish and be acknowledged.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
SAMPLE = CORPUS / "x12" / "EdiEngine__940.OK.edi"

CHILD = r"""
import asyncio, json, logging, signal, sys
from pathlib import Path
from typing import IO
from gateway.journal import Journal, JournalOptions
from gateway.sources.sftp import SftpAccount, SftpSettings, SftpSource

cfg = json.loads(sys.argv[1])
logging.basicConfig(level=logging.INFO, stream=sys.stderr)

class Accounts:
    def lookup(self, username):
        if username == "acme":
            return SftpAccount(username="acme", partner="ACME", authorized_keys=(cfg["pub"],))
        return None

async def main():
    journal = Journal.open(Path(cfg["state"]), JournalOptions(min_free_bytes=0))
    source = SftpSource(SftpSettings(**cfg["settings"]), Accounts())
    ready = asyncio.Event()
    task = asyncio.create_task(source.run(journal, ready))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if ready.is_set():
        print(f"READY {source.bound_port}", flush=True)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        journal.close()

asyncio.run(main())
"""


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed; install the Debian package openssh-client")
    return path


@dataclass
class Gateway:
    """The child process running the SFTP source."""

    proc: subprocess.Popen[str]
    port: int


@dataclass
class Site:
    work: Path
    state: Path
    roots: Path
    key: Path
    pub: str
    log: IO[str]

    def start(self) -> Gateway:
        settings = {
            "name": "sftp-e2e",
            "host": "127.0.0.1",
            "port": 0,
            "host_key_file": str(self.state / "ssh_host_ed25519_key"),
            "roots_dir": str(self.roots),
            "max_upload_bytes": 8 * 1024 * 1024,
            "auth_failure_delay": 0.0,
            "shutdown_grace": 30.0,
        }
        cfg = json.dumps({"state": str(self.state / "journal"), "pub": self.pub, "settings": settings})
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, cfg],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            proc.kill()
            proc.wait()
            proc.stdout.close()
            pytest.fail(f"gateway child did not start (exit {proc.returncode}): {line!r}")
        port = int(line.split()[1])
        host_pub = (self.state / "ssh_host_ed25519_key.pub").read_text().split()
        (self.work / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        return Gateway(proc, port)

    def sftp_cmd(self, gw: Gateway, batch: str, *extra: str) -> list[str]:
        batch_file = self.work / f"batch-{time.monotonic_ns()}"
        batch_file.write_text(batch)
        return [
            require("sftp"),
            *extra,
            "-b",
            str(batch_file),
            "-P",
            str(gw.port),
            "-i",
            str(self.key),
            "-F",
            "/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={self.work / 'known_hosts'}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "acme@127.0.0.1",
        ]

    def sftp(self, gw: Gateway, batch: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.sftp_cmd(gw, batch), cwd=self.work, capture_output=True, text=True, timeout=120, check=False
        )

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(file_name, partner, sha256, state) of every journaled message, read with plain SQLite."""
        db = sqlite3.connect(f"file:{self.state / 'journal' / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [
                tuple(r)
                for r in db.execute(
                    "SELECT file_name, partner, sha256, state FROM messages"
                    " WHERE transport = 'sftp' ORDER BY id"
                )
            ]
        finally:
            db.close()

    def events(self, kind: str) -> list[str]:
        """The JSON details of the journal events of one kind."""
        db = sqlite3.connect(f"file:{self.state / 'journal' / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [
                str(r[0]) for r in db.execute("SELECT detail FROM events WHERE kind = ? ORDER BY id", (kind,))
            ]
        finally:
            db.close()

    def spooled(self, sha: str) -> bytes:
        return (self.state / "journal" / "spool" / sha[:2] / sha).read_bytes()


def stop(gw: Gateway) -> None:
    try:
        if gw.proc.poll() is None:
            gw.proc.send_signal(signal.SIGTERM)
            try:
                gw.proc.wait(60)
            except subprocess.TimeoutExpired:
                gw.proc.kill()
                gw.proc.wait()
                pytest.fail("gateway child ignored SIGTERM")
    finally:
        if gw.proc.stdout is not None:
            gw.proc.stdout.close()


def kill(gw: Gateway) -> None:
    if gw.proc.poll() is None:
        gw.proc.kill()
        gw.proc.wait()
    if gw.proc.stdout is not None:
        gw.proc.stdout.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    key = tmp_path / "acme_key"
    subprocess.run([require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with (tmp_path / "gateway.log").open("a") as log:
        yield Site(
            tmp_path,
            tmp_path / "state",
            tmp_path / "roots",
            key,
            key.with_name("acme_key.pub").read_text().strip(),
            log,
        )


def sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def wait_for_partial(path: Path, at_least: int, proc: subprocess.Popen[bytes]) -> None:
    """Block until the upload being written at ``path`` holds ``at_least`` bytes."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= at_least:
            return
        if proc.poll() is not None:
            pytest.fail(f"sftp ended before the upload was under way: exit {proc.returncode}")
        time.sleep(0.02)
    pytest.fail(f"upload never reached {at_least} bytes at {path}")


def test_uploads_reach_the_real_journal(site: Site) -> None:
    gw = site.start()
    try:
        shutil.copy(SAMPLE, site.work / "s.edi")
        result = site.sftp(
            gw,
            "put s.edi /inbound/plain.edi\ncd /inbound\nput s.edi r.edi.part\n"
            "rename r.edi.part renamed.edi\n",
        )
        assert result.returncode == 0, result.stderr
    finally:
        stop(gw)
    rows = site.rows()
    data = SAMPLE.read_bytes()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("plain.edi", "ACME", sha(data)),
        ("renamed.edi", "ACME", sha(data)),
    ]
    # the second copy is the same bytes from the same partner: journaled, marked as a duplicate
    assert [r[3] for r in rows] == ["received", "rejected"]
    assert site.spooled(sha(data)) == data
    assert list((site.roots / "acme" / "inbound").iterdir()) == []


def test_kill_9_mid_upload_loses_nothing_acknowledged_and_journals_nothing_partial(site: Site) -> None:
    small = SAMPLE.read_bytes()
    big = (b"ISA*00*" + os.urandom(16).hex().encode() + b"~") * 1 + os.urandom(1536 * 1024)
    (site.work / "small.edi").write_bytes(small)
    (site.work / "big.edi").write_bytes(big)
    gw = site.start()
    try:
        assert site.sftp(gw, "put small.edi /inbound/acked.edi\n").returncode == 0
        slow = subprocess.Popen(
            site.sftp_cmd(gw, "put big.edi /inbound/big.edi\n", "-l", "2000"),
            cwd=site.work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_partial(site.roots / "acme" / "inbound" / "big.edi", 256 * 1024, slow)
            gw.proc.send_signal(signal.SIGKILL)
            gw.proc.wait(30)
            assert slow.wait(60) != 0, "the client must not see the cut upload as a success"
        finally:
            if slow.poll() is None:
                slow.kill()
                slow.wait()
    finally:
        kill(gw)
    # the acknowledged upload is durable; the cut one is not in the journal
    assert [(r[0], r[2]) for r in site.rows()] == [("acked.edi", sha(small))]
    assert site.spooled(sha(small)) == small
    gw = site.start()
    try:
        # the restart moved the half-written file out of the partner's folder, never journaling it
        assert list((site.roots / "acme" / "inbound").iterdir()) == []
        [moved] = list((site.roots / ".incomplete" / "acme").iterdir())
        assert moved.name.endswith("-big.edi") and 0 < moved.stat().st_size < len(big)
        assert [r[0] for r in site.rows()] == ["acked.edi"]
        # ...and told the operator
        assert [json.loads(d)["moved_to"] for d in site.events("upload_incomplete")] == [str(moved)]
        # the partner re-sends and it is accepted whole
        assert site.sftp(gw, "put big.edi /inbound/big.edi\n").returncode == 0
    finally:
        stop(gw)
    assert [(r[0], r[2]) for r in site.rows()] == [("acked.edi", sha(small)), ("big.edi", sha(big))]
    assert site.spooled(sha(big)) == big


def test_sigterm_during_upload_finishes_it(site: Site) -> None:
    big = os.urandom(1024 * 1024)
    (site.work / "big.edi").write_bytes(big)
    gw = site.start()
    try:
        slow = subprocess.Popen(
            site.sftp_cmd(gw, "put big.edi /inbound/big.edi\n", "-l", "2000"),
            cwd=site.work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_partial(site.roots / "acme" / "inbound" / "big.edi", 128 * 1024, slow)
            gw.proc.send_signal(signal.SIGTERM)
            assert slow.wait(120) == 0
        finally:
            if slow.poll() is None:
                slow.kill()
                slow.wait()
        assert gw.proc.wait(60) == 0
    finally:
        stop(gw)
    assert [(r[0], r[2]) for r in site.rows()] == [("big.edi", sha(big))]


def test_undecodable_file_name_is_journaled_with_replacement(site: Site) -> None:
    # SFTPv3 file names are bytes; a Latin-1 client sends b"caf\xe9.edi".
    shutil.copy(SAMPLE, site.work / "s.edi")
    gw = site.start()
    try:
        batch = site.work / "latin1.batch"
        batch.write_bytes(b"put s.edi /inbound/caf\xe9.edi\n")
        cmd = site.sftp_cmd(gw, "")
        cmd[cmd.index("-b") + 1] = str(batch)
        result = subprocess.run(cmd, cwd=site.work, capture_output=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
    finally:
        stop(gw)
    assert [r[0] for r in site.rows()] == ["caf\ufffd.edi"]
