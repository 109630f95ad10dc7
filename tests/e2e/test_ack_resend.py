"""Acknowledgments committed but not yet in the outbox when the gateway died are written at the next start.

The crash window is made exactly, without racing a kill: the journal is left
as a gateway dies right after committing a translation and its 997, before
the file reached the partner's outbox.  A gateway started on that journal
must write the file, record it as sent, and not write it again after that.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.journal import Intake, Journal, JournalOptions
from tests.harness import GatewayProcess, make_850, write_config


def _leave_an_owed_ack(state: Path) -> int:
    async def main() -> int:
        journal = Journal.open(state, JournalOptions(min_free_bytes=0))
        try:
            r = await journal.append(Intake(transport="directory", data=make_850(7, "PO7"), partner="acme"))
            mid = int(r.message_id)
            await journal.store_translation(
                mid,
                partner="acme",
                standard="x12",
                documents=[],
                sinks=[],
                replies={"ack-0-997": b"ISA*owed 997~"},
            )
            return mid
        finally:
            journal.close()  # no replies_sent: the process died before the outbox write

    return asyncio.run(main())


def _sent_at(gw: GatewayProcess, mid: int) -> object:
    with gw.db() as c:
        return c.execute("SELECT sent_at FROM replies WHERE message_id = ?", (mid,)).fetchone()[0]


def test_an_owed_acknowledgment_is_written_once_at_the_next_start(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    mid = _leave_an_owed_ack(tmp_path / "state")
    ack = tmp_path / "outbox" / "acme" / f"{mid}-ack-0-997.edi"
    assert not ack.exists()
    gw = GatewayProcess(cfg)
    gw.start()
    try:
        deadline = time.monotonic() + 30
        while (not ack.exists() or _sent_at(gw, mid) is None) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ack.read_bytes() == b"ISA*owed 997~"
        assert _sent_at(gw, mid) is not None, "the resent acknowledgment must be recorded as sent"
    finally:
        assert gw.stop() == 0
    ack.unlink()  # the partner fetched it
    gw = GatewayProcess(cfg)
    gw.start()
    try:
        time.sleep(2)  # the resend runs right after start; give it the time it had above
        assert not ack.exists(), "an acknowledgment already sent was written again"
    finally:
        assert gw.stop() == 0


def test_acknowledgments_of_the_normal_flow_are_not_written_again_after_a_restart(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    inbox = tmp_path / "inbox" / "acme"
    outbox = tmp_path / "outbox" / "acme"
    gw = GatewayProcess(cfg)
    gw.start()
    try:
        for icn in (1, 2, 3):
            (inbox / f".f{icn}").write_bytes(make_850(icn, f"PO{icn}"))
            (inbox / f".f{icn}").rename(inbox / f"f{icn}.edi")
        gw.wait_settled(3)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with gw.db() as c:
                owed = c.execute("SELECT COUNT(*) FROM replies WHERE sent_at IS NULL").fetchone()[0]
            if owed == 0 and len(list(outbox.iterdir())) == 3:
                break
            time.sleep(0.1)
        assert owed == 0 and len(list(outbox.iterdir())) == 3
    finally:
        assert gw.stop() == 0
    for f in outbox.iterdir():
        f.unlink()  # the partner fetched them
    gw = GatewayProcess(cfg)
    gw.start()
    try:
        time.sleep(2)
        assert list(outbox.iterdir()) == [], "acknowledgments already in the outbox were written again"
    finally:
        assert gw.stop() == 0
