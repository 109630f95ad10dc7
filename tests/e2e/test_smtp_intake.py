"""End to end: ``swaks`` -> SmtpSource in its own process -> the real journal.

Promises checked:

* a mail answered 250 is in the journal byte for byte even when the gateway
  is ``kill -9``-ed the moment swaks returns;
* a mail re-sent with the same Message-ID (an MTA retry) is not journaled twice;
* the real journal's disk floor turns into ``452`` (the sender retries later).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
X12 = CORPUS / "x12" / "staedi__invoice810_po850_dual.edi"

CHILD = r"""
import asyncio, json, logging, signal, sys
from pathlib import Path
from gateway.journal import Journal, JournalOptions
from gateway.sources.smtp import SmtpSettings, SmtpSource

cfg = json.loads(sys.argv[1])
logging.basicConfig(level=logging.INFO, stream=sys.stderr)

class Senders:
    def lookup(self, address):
        return "ACME" if address == "edi@acme.example" else None
    def login(self, username):
        return None

async def main():
    journal = Journal.open(Path(cfg["state"]), JournalOptions(min_free_bytes=cfg["min_free"]))
    source = SmtpSource(SmtpSettings(**cfg["settings"]), Senders())
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
        pytest.fail(f"{binary} is not installed; install the Debian packages swaks and libnet-ssleay-perl")
    return path


@dataclass
class Gateway:
    proc: subprocess.Popen[str]
    port: int

    def swaks(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                require("swaks"),
                "--server",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--from",
                "edi@acme.example",
                "--to",
                "edi@gateway.example",
                "--helo",
                "partner.example",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                self.proc.wait(60)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()


@dataclass
class Site:
    state: Path
    log: IO[str]

    def start(self, *, min_free: int = 0) -> Gateway:
        settings = {"name": "smtp-e2e", "host": "127.0.0.1", "port": 0, "max_message_bytes": 1024 * 1024}
        cfg = json.dumps({"state": str(self.state), "min_free": min_free, "settings": settings})
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
        return Gateway(proc, int(line.split()[1]))

    def rows(self) -> list[tuple[str, str, str, str]]:
        db = sqlite3.connect(f"file:{self.state / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            return [
                (str(r[0]), str(r[1]), str(r[2]), str(r[3]))
                for r in db.execute(
                    "SELECT file_name, partner, sha256, external_id FROM messages ORDER BY id"
                )
            ]
        finally:
            db.close()

    def spooled(self, sha: str) -> bytes:
        return (self.state / "spool" / sha[:2] / sha).read_bytes()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with (tmp_path / "gateway.log").open("a") as log:
        yield Site(tmp_path / "state", log)


def test_250_means_durable_even_after_kill_9(site: Site) -> None:
    gw = site.start()
    try:
        result = gw.swaks(
            "--header",
            "Message-Id: <inv-810@acme.example>",
            "--body",
            "invoice attached",
            "--attach-type",
            "application/edi-x12",
            "--attach-name",
            "inv810.edi",
            "--attach",
            f"@{X12}",
        )
        assert result.returncode == 0, result.stdout
        assert "250 2.0.0 Accepted 1 EDI file(s)" in result.stdout
    finally:
        gw.stop(signal.SIGKILL)
    data = X12.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    assert site.rows() == [("inv810.edi", "ACME", sha, "<inv-810@acme.example>#2")]
    assert site.spooled(sha) == data


def test_mta_retry_with_same_message_id_is_journaled_once(site: Site) -> None:
    gw = site.start()
    try:
        for _ in range(2):
            result = gw.swaks(
                "--header",
                "Message-Id: <retry-1@acme.example>",
                "--attach-type",
                "application/edi-x12",
                "--attach-name",
                "po.edi",
                "--attach",
                f"@{X12}",
            )
            assert result.returncode == 0, result.stdout
    finally:
        gw.stop()
    assert [r[3] for r in site.rows()] == ["<retry-1@acme.example>#2"]


def test_real_disk_floor_answers_452(site: Site) -> None:
    gw = site.start(min_free=1 << 62)  # more free space than any disk has: always under the floor
    try:
        result = gw.swaks("--attach-type", "application/edi-x12", "--attach", f"@{X12}")
        assert result.returncode == 26, result.stdout
        assert "452 4.3.1" in result.stdout
    finally:
        gw.stop()
    assert site.rows() == []
