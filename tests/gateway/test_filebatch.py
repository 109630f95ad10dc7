"""Batches of small files made durable together (gateway.filebatch)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from gateway import filebatch
from gateway.filebatch import FileBatch, PendingFile

MODES = [
    "file",
    pytest.param(
        "filesystem",
        marks=pytest.mark.skipif(not filebatch.syncfs_available(), reason="syncfs(2) is Linux-only"),
    ),
]


def _pending(folder: Path, name: str, data: bytes) -> PendingFile:
    return PendingFile(str(folder / f".{name}.tmp"), str(folder / name), data, 0o640)


@pytest.mark.parametrize("mode", MODES)
def test_every_file_lands_complete_under_its_final_name(tmp_path: Path, mode: str) -> None:
    batch = FileBatch(str(tmp_path), mode)  # type: ignore[arg-type]
    try:
        files = [_pending(tmp_path, f"doc{i}.json", b"x" * i) for i in range(40)]
        assert batch.write(files) == [None] * 40
        for i in range(40):
            assert (tmp_path / f"doc{i}.json").read_bytes() == b"x" * i
        assert not list(tmp_path.glob(".*.tmp"))
    finally:
        batch.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_file_that_cannot_be_written_fails_alone(tmp_path: Path, mode: str) -> None:
    batch = FileBatch(str(tmp_path), mode)  # type: ignore[arg-type]
    try:
        gone = tmp_path / "no-such-folder"
        files = [
            _pending(tmp_path, "a.json", b"a"),
            _pending(gone, "b.json", b"b"),
            _pending(tmp_path, "c.json", b"c"),
        ]
        errors = batch.write(files)
        assert errors[0] is None and errors[2] is None
        assert isinstance(errors[1], FileNotFoundError)
        assert (tmp_path / "a.json").read_bytes() == b"a"
        assert (tmp_path / "c.json").read_bytes() == b"c"
    finally:
        batch.close()


@pytest.mark.skipif(not filebatch.syncfs_available(), reason="syncfs(2) is Linux-only")
def test_a_folder_on_another_filesystem_is_fsynced_file_by_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One flush covers one filesystem: a folder mounted elsewhere must not be
    # taken as flushed by the anchor's syncfs.
    batch = FileBatch(str(tmp_path), "filesystem")
    other = tmp_path / "mounted"
    other.mkdir()
    real_stat = os.stat

    def stat(path: str | os.PathLike[str], *args: object, **kwargs: object) -> os.stat_result:
        st = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if os.fspath(path) == str(other):
            fields = list(st)
            fields[2] = st.st_dev + 1  # st_dev
            return os.stat_result(fields)
        return st

    monkeypatch.setattr(os, "stat", stat)
    fsynced: list[str] = []
    monkeypatch.setattr(filebatch, "fsync_folder", fsynced.append)
    flushes: list[int] = []
    real_syncfs = filebatch.syncfs
    monkeypatch.setattr(filebatch, "syncfs", lambda fd: (flushes.append(fd), real_syncfs(fd)))
    try:
        errors = batch.write([_pending(tmp_path, "here.json", b"h"), _pending(other, "there.json", b"t")])
        assert errors == [None, None]
        assert fsynced == [str(other)], "the other filesystem's folder is fsynced itself"
        assert len(flushes) == 2, "the anchor's own file is flushed with syncfs"
        assert (other / "there.json").read_bytes() == b"t"
    finally:
        batch.close()


def test_filesystem_mode_is_refused_where_there_is_no_syncfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(filebatch, "_SYNCFS", None)
    with pytest.raises(OSError, match="syncfs"):
        FileBatch(str(tmp_path), "filesystem")
    auto = FileBatch(str(tmp_path), "auto")
    assert auto.mode == "file"
    auto.close()


@pytest.mark.skipif(not filebatch.syncfs_available(), reason="syncfs(2) is Linux-only")
@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EPERM])
def test_auto_falls_back_to_fsyncs_where_a_sandbox_refuses_syncfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def refused(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(filebatch, "syncfs", refused)
    batch = FileBatch(str(tmp_path), "auto")
    try:
        assert batch.mode == "filesystem"
        assert batch.write([_pending(tmp_path, "a.json", b"a"), _pending(tmp_path, "b.json", b"b")]) == [
            None,
            None,
        ]
        assert batch.mode == "file", "the next batches go the classic way at once"
        assert batch.write([_pending(tmp_path, "c.json", b"c")]) == [None]
        assert [(tmp_path / n).read_bytes() for n in ("a.json", "b.json", "c.json")] == [b"a", b"b", b"c"]
        assert not list(tmp_path.glob(".*.tmp"))
    finally:
        batch.close()


@pytest.mark.skipif(not filebatch.syncfs_available(), reason="syncfs(2) is Linux-only")
def test_a_disk_error_from_syncfs_is_never_taken_for_a_missing_syscall(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(filebatch, "syncfs", failing)
    for mode in ("auto", "filesystem"):
        batch = FileBatch(str(tmp_path), mode)  # type: ignore[arg-type]
        with pytest.raises(OSError, match="Input/output error"):
            batch.write([_pending(tmp_path, f"{mode}.json", b"x")])
        assert not (tmp_path / f"{mode}.json").exists()
        batch.close()
