"""Directory intake never takes a half-written file (peers.md §5 writer modes).

Each writer mode drops a file into an inbox the way real tools do; the
manifest says whether the drop ends complete.  Every complete drop must be
journaled byte-identical, exactly once, and no incomplete one at all.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from gateway.journal import Intake, Journal, JournalOptions
from gateway.sources.dirwatch import DirectorySource, DirectorySourceConfig, is_temporary_name
from tests.harness import make_850


def _big_850(icn: int) -> bytes:
    return make_850(icn, f"PO{icn}", lines=600)  # ~40 KB: slow writers take a while


def _slow_inplace(dest: Path, data: bytes) -> None:
    with dest.open("wb") as fh:
        for i in range(0, len(data), 4096):
            fh.write(data[i : i + 4096])
            fh.flush()
            time.sleep(0.05)


def _blockwise_reopen(dest: Path, data: bytes) -> None:
    # Like dd in a loop: close and reopen between blocks (CLOSE_WRITE lies).
    for i in range(0, len(data), 8192):
        with dest.open("ab") as fh:
            fh.write(data[i : i + 8192])
        time.sleep(0.08)


def _temp_rename(dest: Path, data: bytes, tmp_name: str) -> None:
    tmp = dest.parent / tmp_name
    _slow_inplace(tmp, data)
    os.replace(tmp, dest)


def _dies_halfway(dest: Path, data: bytes) -> None:
    with dest.open("wb") as fh:
        fh.write(data[: len(data) // 2])


def _truncate_rewrite(dest: Path, data: bytes) -> None:
    dest.write_bytes(data[: len(data) // 3])
    time.sleep(0.4)
    with dest.open("r+b") as fh:
        fh.truncate(0)
    _slow_inplace(dest, data)


def _need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is not installed (make test installs it)")
    return path


async def _run_source(
    cfg: DirectorySourceConfig, journal: Journal, work: asyncio.Future[None]
) -> DirectorySource:
    source = DirectorySource(cfg)
    ready = asyncio.Event()
    task = asyncio.create_task(source.run(journal, ready))
    await ready.wait()
    try:
        await work
        # let the last complete drop settle and be taken
        await asyncio.sleep(2.0)
    finally:
        source.stop()
        await asyncio.wait_for(task, 10)
    return source


def _journaled(journal: Journal) -> list[tuple[str, bytes]]:
    rows = journal.read_sync(lambda c: c.execute("SELECT file_name, sha256 FROM messages").fetchall())
    return [(r[0], journal.spool.read(r[1])) for r in rows]


def test_writer_modes_never_journal_a_partial_file(tmp_path: Path) -> None:
    rsync = _need("rsync")
    root = tmp_path / "inbox"
    inbox = root / "acme"
    inbox.mkdir(parents=True)
    src = tmp_path / "src"
    src.mkdir()
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    cfg = DirectorySourceConfig(
        path=root, archive=tmp_path / "archive", settle_seconds=0.3, quiet_seconds=1.5
    )
    complete: dict[str, bytes] = {}
    incomplete: dict[str, bytes] = {}

    def writers() -> None:
        n = 0

        def payload() -> bytes:
            nonlocal n
            n += 1
            return _big_850(n)

        d = payload()
        _slow_inplace(inbox / "slow.edi", d)
        complete["slow.edi"] = d
        d = payload()
        _blockwise_reopen(inbox / "blocks.edi", d)
        complete["blocks.edi"] = d
        d = payload()
        _temp_rename(inbox / "hidden.edi", d, ".hidden.edi.tmp")
        complete["hidden.edi"] = d
        d = payload()
        _temp_rename(inbox / "part.edi", d, "part.edi.part")
        complete["part.edi"] = d
        d = payload()
        (src / "cp.edi").write_bytes(d)
        subprocess.run(["cp", str(src / "cp.edi"), str(inbox / "cp.edi")], check=True)
        complete["cp.edi"] = d
        d = payload()
        (src / "rs.edi").write_bytes(d)
        subprocess.run([rsync, str(src / "rs.edi"), str(inbox) + "/"], check=True)
        complete["rs.edi"] = d
        d = payload()
        (src / "inplace.edi").write_bytes(d)
        subprocess.run(
            [rsync, "--inplace", "--bwlimit=40", str(src / "inplace.edi"), str(inbox) + "/"], check=True
        )
        complete["inplace.edi"] = d
        # rsync --partial interrupted: renames a truncated file to the final name.
        d = payload()
        (src / "partial.edi").write_bytes(d * 50)
        p = subprocess.Popen(
            [rsync, "--partial", "--bwlimit=100", str(src / "partial.edi"), str(inbox) + "/"],
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2.5)
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        part = inbox / "partial.edi"
        if part.exists():
            incomplete["partial.edi"] = part.read_bytes()
        d = payload()
        _dies_halfway(inbox / "died.edi", d)
        incomplete["died.edi"] = d[: len(d) // 2]
        d = payload()
        _truncate_rewrite(inbox / "rewrite.edi", d)
        complete["rewrite.edi"] = d
        # marker-less flat file written with pauses shorter than the quiet period
        flat = b"".join(b"H,PO%05d,20261129\n" % i for i in range(2000))
        with (inbox / "orders.csv").open("wb") as fh:
            for i in range(0, len(flat), 8000):
                fh.write(flat[i : i + 8000])
                fh.flush()
                time.sleep(0.3)
        complete["orders.csv"] = flat

    async def main() -> DirectorySource:
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(None, writers)
        return await _run_source(cfg, journal, work)

    try:
        source = asyncio.run(main())
        got = _journaled(journal)
    finally:
        journal.close()
    names = [n for n, _ in got]
    assert sorted(names) == sorted(complete), f"journaled {sorted(names)}, complete drops {sorted(complete)}"
    for name, data in got:
        assert data == complete[name], f"{name} journaled with different bytes"
    assert set(incomplete) == {"partial.edi", "died.edi"}, "the interrupted writers left nothing to check"
    for name in incomplete:
        assert (inbox / name).exists(), f"incomplete {name} was taken"
    waiting = {Path(w["file"]).name: w["reason"] for w in source.status()["waiting"]}
    assert "incomplete x12 envelope" in waiting.get("died.edi", ""), waiting
    assert not list(inbox.glob("*.edi")) or set(p.name for p in inbox.glob("*.edi")) <= set(incomplete)


def test_marker_files_are_honoured(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    inbox = root / "wms"
    inbox.mkdir(parents=True)
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    cfg = DirectorySourceConfig(path=root, delete=True, require_marker=True, settle_seconds=0.1)
    data = b"A" * 5000

    async def main() -> list[str]:
        async def work() -> None:
            (inbox / "stock.dat").write_bytes(data)
            await asyncio.sleep(1.5)
            # not taken without its marker, even though it is stable
            assert journal.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM messages").fetchone()[0]) == 0
            (inbox / "stock.dat.ok").write_bytes(b"")

        await _run_source(cfg, journal, asyncio.ensure_future(work()))
        return [n for n, _ in _journaled(journal)]

    try:
        names = asyncio.run(main())
    finally:
        journal.close()
    assert names == ["stock.dat"]
    assert not (inbox / "stock.dat").exists() and not (inbox / "stock.dat.ok").exists()


def test_same_bytes_dropped_again_is_a_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    inbox = root / "acme"
    inbox.mkdir(parents=True)
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
    cfg = DirectorySourceConfig(path=root, archive=tmp_path / "archive", settle_seconds=0.1)
    data = make_850(77, "PO77")

    async def main() -> None:
        async def work() -> None:
            (inbox / "a.edi").write_bytes(data)
            await asyncio.sleep(1.0)
            (inbox / "again.edi").write_bytes(data)

        await _run_source(cfg, journal, asyncio.ensure_future(work()))

    try:
        asyncio.run(main())
        rows = journal.read_sync(
            lambda c: [
                dict(r)
                for r in c.execute(
                    "SELECT id, file_name, state, duplicate_of, reason FROM messages ORDER BY id"
                )
            ]
        )
    finally:
        journal.close()
    assert [r["file_name"] for r in rows] == ["a.edi", "again.edi"]
    assert rows[0]["state"] == "received" and rows[0]["duplicate_of"] is None
    assert rows[1]["state"] == "rejected" and rows[1]["duplicate_of"] == rows[0]["id"]
    assert "duplicate" in rows[1]["reason"]


def test_disk_floor_refuses_and_keeps_the_file(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    inbox = root / "acme"
    inbox.mkdir(parents=True)
    # a floor far above the free space of any test machine
    journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=1 << 60))
    cfg = DirectorySourceConfig(path=root, archive=tmp_path / "archive", settle_seconds=0.1)

    async def main() -> DirectorySource:
        async def work() -> None:
            (inbox / "a.edi").write_bytes(make_850(1, "PO1"))
            await asyncio.sleep(0.5)

        return await _run_source(cfg, journal, asyncio.ensure_future(work()))

    try:
        source = asyncio.run(main())
        count = journal.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
    finally:
        journal.close()
    assert count == 0
    assert (inbox / "a.edi").exists()
    st = source.status()
    assert st["refused"] >= 1
    assert "intake pauses below" in (st["last_error"] or "")


@pytest.mark.parametrize(
    ("name", "temporary"),
    [
        ("a.edi", False),
        (".a.edi", True),
        ("a.edi.part", True),
        ("a.tmp", True),
        ("a.edi~", True),
        ("a.edi.ok", True),
        ("ORDERS.TXT", False),
    ],
)
def test_temporary_names(name: str, temporary: bool) -> None:
    assert is_temporary_name(name, ".ok") is temporary


def test_append_is_durable_before_return_and_ids_are_stable(tmp_path: Path) -> None:
    async def main() -> None:
        journal = Journal.open(tmp_path / "state", JournalOptions(min_free_bytes=0))
        r = await journal.append(Intake(transport="directory", data=b"x", partner="p", external_id="id-1"))
        again = await journal.append(
            Intake(transport="directory", data=b"x", partner="p", external_id="id-1")
        )
        journal.close()
        assert again.message_id == r.message_id and again.duplicate_of == r.message_id
        assert journal.spool.path(r.sha256).read_bytes() == b"x"

    asyncio.run(main())


def test_an_archive_folder_removed_behind_our_back_is_made_again(tmp_path: Path) -> None:
    """The archive folder is created once and remembered; if an admin removes it, the next file still goes."""
    (tmp_path / "in" / "acme").mkdir(parents=True)
    source = DirectorySource(DirectorySourceConfig(path=tmp_path / "in", archive=tmp_path / "archive"))
    for n in (1, 2, 3):
        dropped = tmp_path / "in" / "acme" / f"f{n}.edi"
        dropped.write_bytes(b"x%d" % n)
        source._dispose(str(dropped), "acme", str(n))
        assert not dropped.exists()
        archived = list((tmp_path / "archive" / "acme").glob(f"*/{n}-f{n}.edi"))
        assert [p.read_bytes() for p in archived] == [b"x%d" % n]
        if n == 2:
            shutil.rmtree(tmp_path / "archive")


def test_a_burst_of_file_events_wakes_the_scan_once_until_the_loop_has_seen_it() -> None:
    from watchdog.events import FileClosedEvent

    from gateway.sources.dirwatch import _Nudge

    async def main() -> tuple[int, bool, int, bool]:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        scheduled: list[object] = []

        class CountingLoop:
            def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
                scheduled.append(callback)
                loop.call_soon_threadsafe(callback)

        nudge = _Nudge(cast(asyncio.AbstractEventLoop, CountingLoop()), wake)
        # The events of a burst, all before the loop gets a turn (watchdog's thread is faster).
        for i in range(500):
            nudge.on_any_event(FileClosedEvent(f"/in/acme/f{i}.edi"))
        await asyncio.sleep(0)
        burst = (len(scheduled), wake.is_set())
        # Once the loop has taken the wake-up, the next event is not lost.
        wake.clear()
        await asyncio.to_thread(nudge.on_any_event, FileClosedEvent("/in/acme/late.edi"))
        await asyncio.sleep(0.05)
        return burst[0], burst[1], len(scheduled), wake.is_set()

    burst_wakes, woken, total_wakes, woken_again = asyncio.run(main())
    assert (burst_wakes, woken) == (1, True)
    assert (total_wakes, woken_again) == (2, True)
