"""The journal's writer in its own process: failures stay specific, and it never outlives the daemon."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.errors import JournalWriteError
from gateway.journal import Intake, Journal, JournalOptions


def _open(tmp: Path) -> Journal:
    return Journal.open(tmp / "state", JournalOptions(min_free_bytes=0, writer_process=True))


class _Stubborn(Exception):
    """An exception pickle can dump but not load (its constructor wants two arguments)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")


def _raise_stubborn(c: sqlite3.Connection) -> None:
    raise _Stubborn(7, "odd")


def _event(c: sqlite3.Connection, *, text: str) -> str:
    c.execute("INSERT INTO events(at, kind, detail) VALUES (0, 'probe', ?)", (text,))
    return text


def _pause(c: sqlite3.Connection, *, seconds: float) -> None:
    time.sleep(seconds)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return fh.read().split(") ", 1)[1][0] != "Z"


def _writer_pid(j: Journal) -> int:
    assert j._process is not None and j._process.pid is not None
    return j._process.pid


def test_an_operation_that_cannot_be_sent_fails_alone(tmp_path: Path) -> None:
    """A lambda does not pickle: its caller gets a TypeError naming it; the batch around it commits."""

    async def main() -> None:
        j = _open(tmp_path)
        held = asyncio.ensure_future(j.write(functools.partial(_pause, seconds=0.5)))
        await asyncio.sleep(0.1)
        calls = [
            asyncio.ensure_future(j.write(functools.partial(_event, text="a"))),
            asyncio.ensure_future(j.write(lambda c: c.execute("DELETE FROM events"))),
            asyncio.ensure_future(j.write(functools.partial(_event, text="c"))),
        ]
        await held
        out = await asyncio.gather(*calls, return_exceptions=True)
        assert out[0] == "a" and out[2] == "c"
        assert isinstance(out[1], TypeError) and "cannot be sent to the writer process" in str(out[1])
        kept = j.read_sync(lambda c: [r[0] for r in c.execute("SELECT detail FROM events ORDER BY id")])
        assert kept == ["a", "c"]
        assert j.failed is None
        j.close()

    asyncio.run(main())


def test_an_exception_that_does_not_unpickle_arrives_as_a_description(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path)
        with pytest.raises(RuntimeError, match="_Stubborn: 7: odd"):
            await j.write(_raise_stubborn)
        assert await j.write(functools.partial(_event, text="after")) == "after"
        j.close()

    asyncio.run(main())


def test_a_dead_writer_process_stops_the_journal(tmp_path: Path) -> None:
    """Fail-stop: once the writer is gone, every write fails with a journal error; none hangs."""

    async def main() -> None:
        j = _open(tmp_path)
        await j.append(Intake(transport="t", data=b"before", partner="p"))
        os.kill(_writer_pid(j), signal.SIGKILL)
        with pytest.raises(JournalWriteError, match="writer process is gone"):
            await asyncio.wait_for(j.append(Intake(transport="t", data=b"after", partner="p")), 60)
        assert j.failed is not None
        with pytest.raises(JournalWriteError):
            await j.note_event("probe", {})
        count = j.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
        assert count == 1
        j.close()

    asyncio.run(main())


def test_a_disk_failure_in_the_writer_process_is_a_journal_error(tmp_path: Path) -> None:
    async def main() -> None:
        j = _open(tmp_path)
        spool = tmp_path / "state" / "spool"
        shutil.rmtree(spool)
        spool.write_bytes(b"not a folder")  # every spool write now fails
        with pytest.raises(JournalWriteError, match="journal write failed"):
            await asyncio.wait_for(j.append(Intake(transport="t", data=b"x", partner="p")), 60)
        with pytest.raises(JournalWriteError):
            await j.note_event("probe", {})
        j.close()

    asyncio.run(main())


def test_ctrl_c_in_the_terminal_does_not_stop_the_writer_process(tmp_path: Path) -> None:
    """SIGINT reaches the whole foreground group; the daemon, not the writer, decides when to stop."""

    async def main() -> None:
        j = _open(tmp_path)
        os.kill(_writer_pid(j), signal.SIGINT)
        await asyncio.sleep(0.2)
        r = await j.append(Intake(transport="t", data=b"still written", partner="p"))
        assert j.spool.read(r.sha256) == b"still written"
        pid = _writer_pid(j)
        j.close()
        assert not _alive(pid)

    asyncio.run(main())


_HOLDER = """
import asyncio, sys
from pathlib import Path
from gateway.journal import Intake, Journal, JournalOptions
async def main():
    j = Journal.open(Path(sys.argv[1]), JournalOptions(min_free_bytes=0, writer_process=True))
    print(j._process.pid, flush=True)
    n = 0
    while True:
        n += 1
        await j.append(Intake(transport="t", data=b"%d" % n, partner="p"))
asyncio.run(main())
"""


def test_the_writer_process_dies_with_the_daemon(tmp_path: Path) -> None:
    """kill -9 of the daemon leaves no writer behind to hold the database."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "state")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    time.sleep(0.5)  # writing away
    assert _alive(pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the writer process outlived the daemon"
    # What it committed is intact and the next daemon can write.
    j = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0, writer_process=True))
    count = j.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
    assert count > 0
    asyncio.run(j.note_event("restarted", {}))
    j.close()
