"""The content-addressed spool: prefix folders made durably up front, and made again if removed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gateway import filebatch
from gateway import spool as spool_module
from gateway.spool import Spool, sha256_hex


def test_every_prefix_folder_exists_and_the_spool_folder_is_synced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real = spool_module._fsync_dir

    def record(folder: Path) -> None:
        synced.append(folder)
        real(folder)

    monkeypatch.setattr(spool_module, "_fsync_dir", record)
    root = tmp_path / "spool"
    first = Spool(root)
    first.close()
    assert sorted(p.name for p in root.iterdir()) == [f"{i:02x}" for i in range(256)]
    assert synced == [root], "creating the folders must fsync the spool folder"
    synced.clear()
    again = Spool(root)  # reopening finds them all: no fsync, nothing created
    again.close()
    assert synced == []


def test_writes_make_no_folders_and_sync_the_prefix_folders_they_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "spool", "file")
    synced: list[str] = []
    real = filebatch.fsync_folder
    monkeypatch.setattr(
        filebatch, "fsync_folder", lambda folder: (synced.append(Path(folder).name), real(folder))
    )
    made: list[str] = []
    real_mkdir = os.mkdir

    def mkdir(path: str, *args: int, **kwargs: int) -> None:
        made.append(str(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    try:
        items = [(sha256_hex(b"doc %d" % i), b"doc %d" % i) for i in range(20)]
        spool.write_many(items)
        for sha, data in items:
            assert spool.read(sha) == data
        assert made == []
        assert sorted(synced) == sorted({sha[:2] for sha, _ in items})
    finally:
        spool.close()


@pytest.mark.skipif(not filebatch.syncfs_available(), reason="syncfs(2) is Linux-only")
def test_a_batch_is_flushed_twice_whatever_its_size_data_before_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "spool", "filesystem")
    assert spool.sync_mode == "filesystem"
    items = [(sha256_hex(b"doc %d" % i), b"doc %d" % i) for i in range(50)]
    seen: list[tuple[int, int]] = []
    real = filebatch.syncfs

    def record(fd: int) -> None:
        # (final names present, temporaries present) at each flush
        finals = sum(spool.path(sha).exists() for sha, _ in items)
        temps = sum(1 for _ in (tmp_path / "spool").glob("*/.tmp-*"))
        seen.append((finals, temps))
        real(fd)

    monkeypatch.setattr(filebatch, "syncfs", record)
    monkeypatch.setattr(filebatch, "fsync_folder", lambda folder: pytest.fail(f"folder fsync of {folder}"))
    try:
        spool.write_many(items)
        assert seen == [(0, 50), (50, 0)], "data must be flushed before any rename, renames after"
        for sha, data in items:
            assert spool.read(sha) == data
    finally:
        spool.close()


@pytest.mark.skipif(not filebatch.syncfs_available(), reason="syncfs(2) is Linux-only")
def test_a_failed_flush_fails_the_write_and_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "spool", "filesystem")

    def broken(fd: int) -> None:
        raise OSError(5, "syncfs: Input/output error")

    monkeypatch.setattr(filebatch, "syncfs", broken)
    items = [(sha256_hex(b"doc %d" % i), b"doc %d" % i) for i in range(5)]
    try:
        with pytest.raises(OSError, match="Input/output error"):
            spool.write_many(items)
        assert not any(spool.exists(sha) for sha, _ in items), "no name may point at unflushed data"
        assert list((tmp_path / "spool").glob("*/.tmp-*")) == []
    finally:
        spool.close()


def test_a_removed_prefix_folder_is_made_again_and_the_write_still_lands(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    spool = Spool(root)
    try:
        data = b"the bytes of a file whose prefix folder an operator deleted"
        sha = sha256_hex(data)
        shutil.rmtree(root / sha[:2])
        spool.write_many([(sha, data)])
        assert spool.read(sha) == data
        assert (root / sha[:2]).is_dir()
    finally:
        spool.close()
