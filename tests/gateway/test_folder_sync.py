"""Group fsync of a folder: shared by concurrent writers, never skipped for a late one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import gateway.spool as spool
from gateway.spool import FolderSyncer


def test_one_fsync_serves_many_writers_and_each_waits_for_one_that_began_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[tuple[float, float]] = []
    lock = threading.Lock()

    def slow_fsync(folder: Path) -> None:
        start = time.monotonic()
        time.sleep(0.02)
        with lock:
            syncs.append((start, time.monotonic()))

    monkeypatch.setattr(spool, "_fsync_dir", slow_fsync)
    syncer = FolderSyncer()
    calls: list[tuple[float, float]] = []

    def writer(i: int) -> None:
        time.sleep(0.001 * (i % 7))
        asked = time.monotonic()
        syncer.sync(tmp_path)
        with lock:
            calls.append((asked, time.monotonic()))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 32
    assert len(syncs) < 32, "no fsync was shared"
    for asked, returned in calls:
        assert any(asked <= start and end <= returned for start, end in syncs), (
            "a caller returned without an fsync that began after it asked"
        )


def test_a_failed_fsync_fails_its_callers_and_the_next_call_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes = iter([OSError(5, "Input/output error"), None])

    def flaky(folder: Path) -> None:
        error = next(outcomes)
        if error is not None:
            raise error

    monkeypatch.setattr(spool, "_fsync_dir", flaky)
    syncer = FolderSyncer()
    with pytest.raises(OSError, match="Input/output error"):
        syncer.sync(tmp_path)
    syncer.sync(tmp_path)  # the second fsync succeeds
