"""Directory drop: write the partner's file into a local or mounted folder, atomically.

The file is written under a temporary name (``NAME<temp_suffix>``), fsynced,
renamed to its final name and the folder fsynced, so a partner process
watching the folder never sees a partial file (peers.md §5: only naming
conventions are reliable) and a crash leaves at worst a temporary file that
the next attempt overwrites.
"""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.sinks.base import Delivery

from .base import partner_file

#: errno values retrying can fix (space, quota, a mount that went away, I/O hiccups)
_TRANSIENT_ERRNO = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ESTALE, errno.EAGAIN, errno.ENOTCONN}
)


class DirectoryPartnerSink:
    """Drop partner files into ``path``.

    Args:
        name: sink name (``partner:<id>``).
        path: the target folder (created if missing).
        temp_suffix: suffix of the temporary name while writing.
    """

    def __init__(self, name: str, path: Path, *, temp_suffix: str = ".part") -> None:
        self.name = name
        self.path = path
        self.temp_suffix = temp_suffix

    async def healthcheck(self) -> None:
        """Raise when the folder cannot be written."""
        if not os.access(self.path if self.path.exists() else self.path.parent, os.W_OK):
            raise PermanentDeliveryError(f"{self.path} is not writable")

    async def deliver(self, delivery: Delivery) -> None:
        """Write the file atomically.

        Raises:
            TransientDeliveryError: disk full, I/O error, stale mount.
            PermanentDeliveryError: permissions, not a folder, bad envelope.
        """
        item = partner_file(delivery)
        try:
            await asyncio.to_thread(self._write, item.name, item.data)
        except OSError as exc:
            reason = f"cannot write {item.name} into {self.path}: {exc.strerror or exc}"
            if exc.errno in _TRANSIENT_ERRNO:
                raise TransientDeliveryError(reason) from exc
            raise PermanentDeliveryError(reason) from exc

    def _write(self, name: str, data: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        final = self.path / name
        temp = self.path / f".{name}{self.temp_suffix}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def aclose(self) -> None:
        """Nothing to release."""


__all__ = ["DirectoryPartnerSink"]
