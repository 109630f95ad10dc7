"""The content-addressed spool: prefix folders made durably up front, and made again if removed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

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
    spool = Spool(tmp_path / "spool")
    synced: list[str] = []
    real = spool_module._fsync_dir
    monkeypatch.setattr(spool_module, "_fsync_dir", lambda folder: (synced.append(folder.name), real(folder)))
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
