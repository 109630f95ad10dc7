"""Content-addressed spool of raw bytes.

Invariant: a file at ``spool/ab/<sha256>`` is complete and durable.  It is
written under a temporary name, flushed, renamed into place, and the rename
flushed, before any journal row may point at it (a batch shares its flushes:
see :mod:`gateway.filebatch`).  Identical content is
stored once.  Temporary files left by a crash are removed at start.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .filebatch import FileBatch, PendingFile, SyncMode, fsync_folder

_TMP_PREFIX = ".tmp-"


def sha256_hex(data: bytes) -> str:
    """The hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class Spool:
    """Raw message bytes on disk, addressed by their sha256.

    Args:
        root: the spool folder (created when missing).
    """

    def __init__(self, root: Path, sync: SyncMode = "auto") -> None:
        self.root = root
        # File names are built as strings: pathlib's joins and hashing were a
        # tenth of the journal writer's CPU time.
        self._root = str(root)
        root.mkdir(parents=True, exist_ok=True)
        self._make_folders()
        self._batch = FileBatch(self._root, sync)

    def _make_folders(self) -> None:
        """Create the 256 digest-prefix folders, durably, once.

        A file's fsync does not make the entry of a folder created for it
        durable; creating them all up front (and fsyncing the spool folder)
        keeps that out of every write.
        """
        created = False
        for prefix in range(256):
            try:
                (self.root / f"{prefix:02x}").mkdir()
                created = True
            except FileExistsError:
                continue
        if created:
            _fsync_dir(self.root)

    def path(self, sha256: str) -> Path:
        """Where the content with that digest lives."""
        return Path(self._file(sha256))

    def _file(self, sha256: str) -> str:
        return f"{self._root}/{sha256[:2]}/{sha256}"

    def exists(self, sha256: str) -> bool:
        """Whether that content is already stored."""
        return os.path.exists(self._file(sha256))

    def read(self, sha256: str) -> bytes:
        """The stored bytes.

        Raises:
            FileNotFoundError: the content is not in the spool.
        """
        return self.path(sha256).read_bytes()

    def write_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Store several contents durably, sharing the fsyncs.

        Returns only after every file and every folder entry is on disk.

        Raises:
            OSError: the disk refused (the journal turns it into a write error).
        """
        unique: dict[str, bytes] = {sha: data for sha, data in items if not os.path.exists(self._file(sha))}
        if not unique:
            return
        pid = os.getpid()
        files = [
            PendingFile(f"{self._root}/{sha[:2]}/{_TMP_PREFIX}{sha}-{pid}", self._file(sha), data, 0o600)
            for sha, data in unique.items()
        ]
        errors = self._batch.write(files)
        if any(isinstance(e, FileNotFoundError) for e in errors):
            # A prefix folder was removed behind our back: make it again, durably.
            self._make_folders()
            retry = [f for f, e in zip(files, errors, strict=True) if isinstance(e, FileNotFoundError)]
            errors = [e for e in errors if not isinstance(e, FileNotFoundError)] + self._batch.write(retry)
        for error in errors:
            if error is not None:
                raise error

    def delete(self, sha256s: Iterable[str]) -> int:
        """Remove contents no row refers to any more; returns how many went."""
        removed = 0
        for sha in sha256s:
            try:
                self.path(sha).unlink()
                removed += 1
            except FileNotFoundError:
                continue
        return removed

    def iter_digests(self) -> Iterator[str]:
        """Every stored digest (for garbage collection)."""
        for sub in self.root.iterdir():
            if sub.is_dir() and len(sub.name) == 2:
                for f in sub.iterdir():
                    if not f.name.startswith(_TMP_PREFIX):
                        yield f.name

    def remove_temporaries(self) -> int:
        """Delete half-written files a crash left behind."""
        removed = 0
        for sub in self.root.iterdir():
            if sub.is_dir():
                for f in sub.glob(f"{_TMP_PREFIX}*"):
                    f.unlink(missing_ok=True)
                    removed += 1
        return removed

    @property
    def sync_mode(self) -> str:
        """How writes are made durable: ``filesystem`` (syncfs per batch) or ``file`` (fsync each)."""
        return self._batch.mode

    def close(self) -> None:
        """Stop the fsync threads."""
        self._batch.close()


def _fsync_dir(folder: Path) -> None:
    fsync_folder(str(folder))


__all__ = ["Spool", "sha256_hex"]
