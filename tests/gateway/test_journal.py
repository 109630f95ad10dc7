"""The journal: durability, group commit, state machine, counters, retention."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import DiskFloorError, JournalWriteError, MessageTooLargeError, UnknownMessageError
from gateway.journal import DocumentRecord, Intake, Journal, JournalOptions
from gateway.states import TRANSITIONS, MessageState, can_move

_WRITER = {"process": False}


@pytest.fixture(autouse=True, params=["thread", "process"])
def writer(request: pytest.FixtureRequest) -> str:
    """Every journal test runs with the writer on a thread and in its own process (the daemon's)."""
    _WRITER["process"] = request.param == "process"
    return str(request.param)


def _open(tmp: Path, **kw: int) -> Journal:
    return Journal.open(
        tmp / "state",
        JournalOptions(min_free_bytes=kw.pop("min_free_bytes", 0), writer_process=_WRITER["process"], **kw),
    )


def test_concurrent_appends_share_commits(tmp_path: Path) -> None:
    async def main() -> Journal:
        j = _open(tmp_path)
        results = await asyncio.gather(
            *[j.append(Intake(transport="t", data=b"m%d" % i, partner="p")) for i in range(300)]
        )
        assert len({r.message_id for r in results}) == 300
        return j

    j = asyncio.run(main())
    try:
        assert j.ops_committed == 300
        assert j.commits < 300, "group commit did not group anything"
        for i in (0, 150, 299):

            def sha(c: sqlite3.Connection, i: int = i) -> str:
                return str(c.execute("SELECT sha256 FROM messages WHERE id = ?", (i + 1,)).fetchone()[0])

            assert j.spool.read(j.read_sync(sha)) == b"m%d" % i
    finally:
        j.close()


def test_limits_refuse_before_storing(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path, max_message_bytes=10)
        with pytest.raises(MessageTooLargeError):
            await j.append(Intake(transport="t", data=b"x" * 11))
        j.close()
        j = _open(tmp_path, min_free_bytes=1 << 60)
        with pytest.raises(DiskFloorError, match="intake pauses"):
            await j.append(Intake(transport="t", data=b"x"))
        count = j.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        j.close()
        assert count == 0

    asyncio.run(main())


def test_state_machine_table() -> None:
    assert can_move(MessageState.RECEIVED, MessageState.TRANSLATED)
    assert not can_move(MessageState.DELIVERED, MessageState.RECEIVED)
    assert not can_move(MessageState.RECEIVED, MessageState.DELIVERED)
    assert set(TRANSITIONS) == set(MessageState)


def test_translation_delivery_and_replay_history(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path)
        r = await j.append(Intake(transport="t", data=b"abc", partner="p"))
        mid = int(r.message_id)
        docs = [DocumentRecord(idempotency_key="k1", document_type="purchase_order", envelope_json="{}")]
        ids = await j.store_translation(mid, partner="p", standard="x12", documents=docs, sinks=["a", "b"])
        assert len(ids) == 2
        await j.delivery_succeeded(ids[0])
        assert (await j.message_row(mid))["state"] == "queued"
        await j.delivery_failed(ids[1], "boom", retry_at=None)
        row = await j.message_row(mid)
        assert row["state"] == "dead" and "boom" in row["reason"]
        assert await j.replay(mid) == "redeliver"
        pending = await j.pending_deliveries()
        assert [p.delivery_id for p in pending] == [ids[1]]
        await j.delivery_succeeded(ids[1])
        assert (await j.message_row(mid))["state"] == "delivered"
        with pytest.raises(ValueError, match="only rejected or dead"):
            await j.replay(mid)
        # the same document key in a second message is not queued again
        r2 = await j.append(Intake(transport="t", data=b"abcd", partner="p"))
        again = await j.store_translation(
            int(r2.message_id), partner="p", standard="x12", documents=docs, sinks=["a"]
        )
        assert again == []
        assert (await j.message_row(int(r2.message_id)))["state"] == "delivered"
        history = j.read_sync(
            lambda c: [
                r[0]
                for r in c.execute("SELECT state FROM history WHERE message_id = ? ORDER BY rowid", (mid,))
            ]
        )
        assert history == ["received", "translated", "queued", "dead", "queued", "delivered"]
        with pytest.raises(UnknownMessageError):
            await j.replay(9999)
        j.close()

    asyncio.run(main())


def test_rejected_message_replays_to_received(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path)
        r = await j.append(Intake(transport="t", data=b"abc", partner="p"))
        await j.reject(int(r.message_id), "unknown partner")
        dup = await j.append(Intake(transport="t", data=b"abc", partner="p"))
        assert dup.duplicate_of is None, "a rejected original must not make a re-drop a duplicate"
        assert await j.replay(int(r.message_id)) == "retranslate"
        assert int(r.message_id) in await j.unfinished_messages()
        j.close()

    asyncio.run(main())


_COUNTER_CHILD = """
import asyncio, sys
from pathlib import Path
from gateway.journal import Journal, JournalOptions
async def main():
    options = JournalOptions(min_free_bytes=0, writer_process=sys.argv[2] == "process")
    j = Journal.open(Path(sys.argv[1]), options)
    while True:
        n = await j.next_control_number("acme", "out", "isa")
        print(n, flush=True)
asyncio.run(main())
"""


def test_control_numbers_never_repeat_across_sigkill(tmp_path: Path, writer: str) -> None:
    seen: list[int] = []
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _COUNTER_CHILD, str(tmp_path / "state"), writer],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        got: list[int] = []
        deadline = time.monotonic() + 20
        while len(got) < 50 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line:
                got.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        seen.extend(got)
    assert len(seen) == 150
    assert len(set(seen)) == len(seen), "a control number was handed out twice"
    assert seen == sorted(seen)


def test_purge_removes_old_delivered_messages_and_their_bytes(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path)
        r = await j.append(Intake(transport="t", data=b"old", partner="p"))
        keep = await j.append(Intake(transport="t", data=b"new", partner="p"))
        await j.store_translation(int(r.message_id), partner="p", standard=None, documents=[], sinks=[])
        count, files = await j.purge(time.time() + 1)
        assert (count, files) == (1, 1)
        assert not j.spool.exists(r.sha256)
        assert j.spool.exists(keep.sha256)
        with pytest.raises(UnknownMessageError):
            await j.message_row(int(r.message_id))
        j.close()

    asyncio.run(main())


@pytest.mark.parametrize("writer", ["thread"], indirect=True)  # the writer process has no spool stage
def test_bytes_purged_between_spool_stage_and_row_are_stored_again(tmp_path: Path) -> None:
    """The spool stage skips content already stored; a purge may remove it before the row commits."""

    async def main() -> None:
        j = _open(tmp_path)
        real = j.spool.write_many
        raced: list[str] = []

        def write_then_lose(items: Any) -> None:
            items = list(items)
            real(items)
            for sha, _ in items:
                if not raced:  # the purge of an earlier copy wins the race once
                    raced.append(sha)
                    j.spool.delete([sha])

        j.spool.write_many = write_then_lose  # type: ignore[method-assign]
        r = await j.append(Intake(transport="t", data=b"same bytes", partner="p"))
        assert raced == [r.sha256]
        assert j.spool.read(r.sha256) == b"same bytes"
        j.close()

    asyncio.run(main())


def test_purge_keeps_bytes_a_newer_message_shares(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path)
        old = await j.append(Intake(transport="t", data=b"shared", partner="p"))
        await j.store_translation(int(old.message_id), partner="p", standard=None, documents=[], sinks=[])
        newer = await j.append(Intake(transport="t", data=b"shared", partner="q"))
        count, files = await j.purge(time.time() + 1)
        assert (count, files) == (1, 0)
        assert j.spool.read(newer.sha256) == b"shared"
        j.close()

    asyncio.run(main())


def _broken(c: sqlite3.Connection) -> None:
    raise TypeError("a bug in one operation")


def _pause(c: sqlite3.Connection, *, seconds: float) -> None:
    time.sleep(seconds)


def _note(c: sqlite3.Connection, *, text: str, fail: bool) -> str:
    c.execute("INSERT INTO events(at, kind, detail) VALUES (0, 'probe', ?)", (text,))
    if fail:
        raise KeyError(text)
    return text


def test_an_unexpected_writer_error_fails_callers_instead_of_hanging(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path)

        def explode(batch: Any) -> None:
            raise RuntimeError("bug outside any operation")

        j._run_batch = explode  # type: ignore[method-assign]
        with pytest.raises(JournalWriteError, match="bug outside any operation"):
            await asyncio.wait_for(j.note_event("probe", {}), timeout=60)
        assert isinstance(j.failed, RuntimeError)
        with pytest.raises(JournalWriteError):
            await j.note_event("probe", {})
        j.close()

    asyncio.run(main())


def test_a_cancelled_caller_does_not_stop_the_writer(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path)
        task = asyncio.ensure_future(j.append(Intake(transport="t", data=b"gone", partner="p")))
        await asyncio.sleep(0)
        task.cancel()
        for _ in range(50):  # cancel more callers while their operations are queued or running
            t = asyncio.ensure_future(j.note_event("probe", {}))
            await asyncio.sleep(0)
            t.cancel()
        r = await j.append(Intake(transport="t", data=b"after", partner="p"))
        assert j.spool.read(r.sha256) == b"after"
        assert j.failed is None
        j.close()

    asyncio.run(main())


def test_a_failing_operation_fails_only_its_caller(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path)

        with pytest.raises(TypeError, match="a bug in one operation"):
            await j._run(_broken)
        r = await j.append(Intake(transport="t", data=b"still fine", partner="p"))
        assert int(r.message_id) >= 1 and j.failed is None
        j.close()

    asyncio.run(main())


def test_batch_payloads_and_successes_match_the_single_calls(tmp_path: Path) -> None:
    """``delivery_payloads`` / ``deliveries_succeeded`` do in one round trip what the single calls do."""

    async def main() -> None:
        j = _open(tmp_path)
        ids: list[int] = []
        mids: list[int] = []
        for i in range(3):
            r = await j.append(Intake(transport="t", data=b"batch %d" % i, partner="p"))
            mids.append(int(r.message_id))
            docs = [
                DocumentRecord(
                    idempotency_key=f"bk{i}", document_type="purchase_order", envelope_json=f'{{"n": {i}}}'
                )
            ]
            ids += await j.store_translation(
                mids[-1], partner="p", standard="x12", documents=docs, sinks=["a", "b"]
            )
        payloads = await j.delivery_payloads([*ids, 9999])
        assert sorted(payloads) == sorted(ids), "an unknown id is simply absent"
        for d in ids:
            assert payloads[d] == await j.delivery_payload(d)
        commits = j.commits
        # message 0: both deliveries; message 1: one of two; 9999 is unknown; a repeated id counts once
        missing = await j.deliveries_succeeded([ids[0], ids[1], ids[2], ids[0], 9999])
        assert j.commits == commits + 1
        assert missing == {9999}
        states = [(await j.message_row(m))["state"] for m in mids]
        assert states == ["delivered", "queued", "queued"]
        rows = j.read_sync(
            lambda c: [tuple(r) for r in c.execute("SELECT id, state, attempts FROM deliveries ORDER BY id")]
        )
        assert rows[:3] == [(ids[0], "delivered", 1), (ids[1], "delivered", 1), (ids[2], "delivered", 1)]
        assert all(state == "pending" for _, state, _ in rows[3:])
        attempts = j.read_sync(
            lambda c: c.execute("SELECT COUNT(*) FROM attempts WHERE ok = 1").fetchone()[0]
        )
        assert attempts == 3
        j.close()

    asyncio.run(main())


def test_a_failing_operation_in_a_batch_rolls_back_only_its_own_writes(tmp_path: Path) -> None:
    """One transaction per batch: the failing operation's writes go, its neighbours' stay."""

    async def main() -> None:
        j = _open(tmp_path)
        commits = j.commits
        # Keeps the writer busy while the next three queue up behind it.
        held = asyncio.ensure_future(j._run(functools.partial(_pause, seconds=1.0)))
        await asyncio.sleep(0.2)
        calls = [
            asyncio.ensure_future(j._run(functools.partial(_note, text=t, fail=t == "b")))
            for t in ("a", "b", "c")
        ]
        await held
        out = await asyncio.gather(*calls, return_exceptions=True)
        assert out[0] == "a" and out[2] == "c"
        assert isinstance(out[1], KeyError)
        assert j.commits == commits + 2, "the three should have shared one batch"
        kept = j.read_sync(
            lambda c: [r[0] for r in c.execute("SELECT detail FROM events WHERE kind = 'probe' ORDER BY id")]
        )
        assert kept == ["a", "c"]
        assert j.failed is None
        j.close()

    asyncio.run(main())


def test_fresh_bytes_go_to_translation_from_memory_once_then_from_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What intake just made durable is handed to the pipeline without a spool read, once."""
    from gateway import journal as journal_module

    monkeypatch.setattr(journal_module, "_FRESH_FILE_LIMIT", 100)

    async def main() -> None:
        j = _open(tmp_path)
        submitted: list[int] = []
        j.on_received = submitted.append
        small = await j.append(
            Intake(
                transport="t",
                data=b"small file",
                partner="p",
                file_name="a.edi",
                external_id="x1",
                meta={"k": 1},
            )
        )
        large = await j.append(Intake(transport="t", data=b"L" * 101, partner="p"))
        dup = await j.append(Intake(transport="t", data=b"small file", partner="p"))
        assert dup.duplicate_of is not None
        assert submitted == [int(small.message_id), int(large.message_id)]
        spool_reads: list[str] = []
        real_read = j.spool.read

        def counting_read(sha: str) -> bytes:
            spool_reads.append(sha)
            return real_read(sha)

        j.spool.read = counting_read  # type: ignore[method-assign]
        assert j.message_size(int(small.message_id)) == len(b"small file")
        row, data = await j.message_with_bytes(int(small.message_id))
        assert (data, row["sha256"], spool_reads) == (b"small file", small.sha256, [])
        # Handed over, not kept: a second read (a replay) comes from the spool.
        db_row, again = await j.message_with_bytes(int(small.message_id))
        assert again == b"small file" and spool_reads == [small.sha256]
        # The row kept in memory is the row the database holds, column for column.
        assert dict(row) == dict(db_row)
        # Over the per-file limit: never held in memory.
        _, big = await j.message_with_bytes(int(large.message_id))
        assert big == b"L" * 101 and spool_reads == [small.sha256, large.sha256]
        assert j._fresh == {} and j._fresh_bytes == 0
        j.close()

    asyncio.run(main())


def test_acknowledgments_stay_owed_until_they_reach_the_outbox(tmp_path: Path) -> None:
    """Replies stored with a translation or a rejection count as unsent until ``replies_sent``."""

    async def main() -> None:
        j = _open(tmp_path)
        ok = await j.append(Intake(transport="t", data=b"good", partner="acme"))
        bad = await j.append(Intake(transport="t", data=b"bad", partner="acme"))
        mdn = await j.append(Intake(transport="as2", data=b"as2 body", partner="acme"))
        ok_id, bad_id, mdn_id = int(ok.message_id), int(bad.message_id), int(mdn.message_id)
        await j.store_translation(
            ok_id, partner="acme", standard="x12", documents=[], sinks=[], replies={"ack-0-997": b"AK9*A"}
        )
        await j.reject(bad_id, "broken", partner="acme", replies={"ack-0-997": b"AK9*R", "ack-1-ta1": b"TA1"})
        await j.record_reply(mdn_id, "mdn", b"signed MDN")  # answered on the partner's connection
        owed = await j.unsent_replies()
        assert owed == [
            (ok_id, "acme", [("ack-0-997", b"AK9*A")]),
            (bad_id, "acme", [("ack-0-997", b"AK9*R"), ("ack-1-ta1", b"TA1")]),
        ]
        commits = j.commits
        j.replies_sent(ok_id)
        j.replies_sent(bad_id)
        for _ in range(100):
            if not await j.unsent_replies():
                break
            await asyncio.sleep(0.05)
        assert await j.unsent_replies() == []
        assert j.commits == commits + 1, "both marks should share one operation"
        j.close()

    asyncio.run(main())


def test_marks_not_yet_flushed_are_written_at_close(tmp_path: Path) -> None:
    async def main() -> int:
        j = _open(tmp_path)
        r = await j.append(Intake(transport="t", data=b"good", partner="acme"))
        mid = int(r.message_id)
        await j.store_translation(
            mid, partner="acme", standard="x12", documents=[], sinks=[], replies={"ack-0-997": b"AK9*A"}
        )
        j.replies_sent(mid)  # the half-second flush has not run yet
        j.close()
        return mid

    asyncio.run(main())
    reopened = _open(tmp_path)
    assert asyncio.run(reopened.unsent_replies()) == []
    reopened.close()


def test_a_journal_from_before_sent_at_counts_its_replies_as_sent(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "journal.sqlite") as c:
        c.execute(
            "CREATE TABLE replies (message_id INTEGER NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL,"
            " at REAL NOT NULL, PRIMARY KEY (message_id, kind))"
        )
        c.execute("INSERT INTO replies VALUES (1, 'ack-0-997', x'41', 12.5)")
    j = _open(tmp_path)
    rows = j.read_sync(lambda c: c.execute("SELECT message_id, sent_at FROM replies").fetchall())
    assert [tuple(r) for r in rows] == [(1, 12.5)]
    j.close()
