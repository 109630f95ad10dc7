"""FTP fetch mode end to end: ``edigate run`` polls a partner's real vsftpd server.

A partner profile with ``[delivery] transport = "ftp"`` and ``[delivery.fetch]``
points at a Debian ``vsftpd`` (recipe and fixture in ``tests/agent/test_ftp_client.py``:
explicit TLS required, pinned test CA).  The gateway must fetch the file, journal
it under the partner, translate it, deliver it to the directory sink, and delete it
on the server.  A second partner points at a port where nothing listens: its polls
fail, which must show in the status and the events, and change nothing else.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.agent.test_ftp_client import Vsftpd, free_port, vsftpd
from tests.harness import GatewayProcess, make_850, sink_envelopes, write_config

__all__ = ["vsftpd"]  # the fixture, imported for pytest

PROFILE = """id = "{pid}"
name = "Partner {pid}"

[identities]
x12 = [{{ qualifier = "ZZ", id = "{sender}" }}]

[delivery]
transport = "ftp"
host = "127.0.0.1"
port = {port}
user = "anonymous"
tls = "{tls}"
remote_dir = "/incoming"

[delivery.fetch]
remote_dir = "/incoming"
interval_seconds = 1
after = "delete"

[certificates]
tls_ca = "{ca}"
"""


def wait_for(what: str, check: object, timeout: float = 30.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def gateway(tmp_path: Path, vsftpd: Vsftpd) -> GatewayProcess:
    root = tmp_path / "gw"
    cfg = write_config(root)
    partners = root / "partners.d"
    (partners / "fetchy.toml").write_text(
        PROFILE.format(
            pid="fetchy", sender="FETCHSENDER", port=vsftpd.port, tls="explicit", ca=vsftpd.ca_file
        )
    )
    (partners / "broken.toml").write_text(
        PROFILE.format(pid="broken", sender="BROKENSENDER", port=free_port(), tls="none", ca=vsftpd.ca_file)
    )
    return GatewayProcess(cfg)


def test_fetched_file_is_journaled_delivered_and_removed(gateway: GatewayProcess, vsftpd: Vsftpd) -> None:
    data = make_850(4711, "PO-FETCH-1", sender="FETCHSENDER")
    (vsftpd.incoming / "po-4711.edi").write_bytes(data)
    (vsftpd.incoming / "half.edi.part").write_bytes(b"ISA*still-uploading")  # a temp name: left alone
    gateway.start()
    try:
        gateway.wait_settled(1, timeout=40)
        with gateway.db() as db:
            rows = [
                tuple(r)
                for r in db.execute("SELECT transport, partner, file_name, state FROM messages ORDER BY id")
            ]
            events = [
                json.loads(r[0])
                for r in db.execute("SELECT detail FROM events WHERE kind = 'ftp_fetch_error' ORDER BY id")
            ]
        assert rows == [("ftp", "fetchy", "po-4711.edi", "delivered")]
        [envelope] = sink_envelopes(gateway.root)
        assert "PO-FETCH-1" in json.dumps(envelope)
        assert envelope["source"]["file_name"] == "po-4711.edi"
        assert envelope["raw_sha256"] == hashlib.sha256(data).hexdigest()  # the bytes on the server
        # journaled before the server copy went: the server saw RETR, then DELE, and the file is gone
        commands = vsftpd.commands()
        assert commands.index("RETR /incoming/po-4711.edi") < commands.index("DELE /incoming/po-4711.edi")
        assert sorted(p.name for p in vsftpd.incoming.iterdir()) == ["half.edi.part"]

        # the partner whose server is down: failures are visible, nothing is fatal
        wait_for("two failed polls of 'broken'", lambda: _fetch_status(gateway)["broken"]["failures"] >= 2)
        status = _fetch_status(gateway)
        assert status["broken"]["last_error"] and "cannot connect" in status["broken"]["last_error"]
        assert status["broken"]["last_ok_at"] is None
        assert status["fetchy"]["fetched"] == 1 and status["fetchy"]["failures"] == 0
        assert status["fetchy"]["polls"] >= 2  # polled again at its interval
        assert {e["partner"] for e in events} <= {"broken"}
        with gateway.db() as db:
            noted = [
                json.loads(r[0])
                for r in db.execute("SELECT detail FROM events WHERE kind = 'ftp_fetch_error' ORDER BY id")
            ]
        assert noted and all(e["partner"] == "broken" and "cannot connect" in e["error"] for e in noted)

        # a file that appears later is taken on a later poll
        (vsftpd.incoming / "po-4712.edi").write_bytes(make_850(4712, "PO-FETCH-2", sender="FETCHSENDER"))
        gateway.wait_settled(2, timeout=30)
        wait_for("po-4712.edi removed", lambda: not (vsftpd.incoming / "po-4712.edi").exists())
        assert gateway.proc is not None and gateway.proc.poll() is None
    finally:
        code = gateway.stop()
    assert code == 0, gateway.log.read_text()[-3000:]
    assert "po-4711.edi" not in {p.name for p in vsftpd.incoming.iterdir()}


def _fetch_status(gateway: GatewayProcess) -> dict[str, dict[str, Any]]:
    status = gateway.control({"command": "status"})
    fetch = status["ftp_fetch"]
    assert isinstance(fetch, dict)
    return fetch


def test_scheduler_moves_to_the_archive_and_records_a_missing_password_file(
    tmp_path: Path, vsftpd: Vsftpd
) -> None:
    import asyncio

    from agent.partner.ftp_schedule import FtpFetchScheduler
    from gateway.journal import Journal, JournalOptions
    from partners import load_registry

    folder = tmp_path / "partners.d"
    folder.mkdir()
    text = PROFILE.format(
        pid="mover", sender="MOVER", port=vsftpd.port, tls="explicit", ca=vsftpd.ca_file
    ).replace('after = "delete"', 'after = "move:/archive"')
    (folder / "mover.toml").write_text(text)
    (folder / "nopass.toml").write_text(
        PROFILE.format(pid="nopass", sender="NOPASS", port=vsftpd.port, tls="explicit", ca=vsftpd.ca_file)
        .replace('user = "anonymous"', 'user = "anonymous"\npassword_file = "missing.pw"')
    )  # fmt: skip
    registry, errors = load_registry(folder)
    assert errors == []
    (vsftpd.incoming / "in.edi").write_bytes(b"ISA*moved-after-journaling~")
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    try:

        async def one_round() -> FtpFetchScheduler:
            scheduler = FtpFetchScheduler(lambda: registry, journal)
            assert sorted(scheduler.start_due()) == ["mover", "nopass"]
            assert scheduler.start_due() == []  # polling now, and not due again before the interval
            tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("ftp fetch ")]
            await asyncio.gather(*tasks)
            return scheduler

        scheduler = asyncio.run(one_round())
        status = scheduler.status()
        assert status["mover"]["fetched"] == 1 and status["mover"]["last_error"] is None
        assert status["nopass"]["failures"] == 1 and "missing.pw" in str(status["nopass"]["last_error"])
        archived = [p.name for p in (vsftpd.root / "archive").iterdir()]
        assert len(archived) == 1 and archived[0].endswith("-in.edi")
        assert (vsftpd.root / "archive" / archived[0]).read_bytes() == b"ISA*moved-after-journaling~"
        assert list(vsftpd.incoming.iterdir()) == []
    finally:
        journal.close()
    conn = sqlite3.connect(f"file:{tmp_path / 'state' / 'journal.sqlite'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT transport, partner, file_name FROM messages").fetchall()
        kinds = [json.loads(r[0])["partner"] for r in conn.execute(
            "SELECT detail FROM events WHERE kind = 'ftp_fetch_error'")]  # fmt: skip
    finally:
        conn.close()
    assert rows == [("ftp", "mover", "in.edi")]
    assert kinds == ["nopass"]
