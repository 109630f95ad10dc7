"""The file system a partner sees over SFTP, and the commit of uploads.

Strategy and invariants:

* Each account is confined to ``<roots_dir>/<account>/``, which holds ``inbound/``
  (the partner uploads here) and ``outbound/`` (documents and acknowledgments
  for the partner to fetch and delete).  asyncssh's ``chroot`` is only a path
  mapping and follows symlinks that already exist inside the root (see
  ``SFTPServer`` docs), so **every** path the client names is resolved with
  ``os.path.realpath`` and refused unless the real path stays inside the
  account's real root.  Clients cannot create links at all.
* An upload is written to a real file in ``inbound/`` while it is open (SFTP
  writes arrive at offsets, possibly out of order, draft-ietf-secsh-filexfer-02
  section 6.4), so the final content exists only at CLOSE.
* **Commit point.** When the client closes a file whose name is final (not a dot
  file, not ``*.part``/``*.tmp``/...), or renames a temp file to a final name, the
  bytes are read back through the open descriptor, appended to the journal
  (which fsyncs), and only then is the file unlinked and ``SSH_FX_OK`` sent.
  If the append fails the client gets ``SSH_FX_FAILURE`` with the reason, and
  the file is removed (close) or renamed back to its temp name (rename).  A
  successfully received file is therefore never kept on disk as a final file:
  the journal is the only copy.
* A file whose transfer did not end with a client CLOSE (connection lost,
  gateway killed) is never journaled.  After a crash, leftover final-named
  files are moved out of the partner's view by :func:`quarantine_leftovers`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from asyncssh import SFTPAttrs, SFTPFailure, SFTPNoSuchFile, SFTPPermissionDenied

from gateway.errors import DiskFloorError, GatewayError, JournalWriteError, MessageTooLargeError

log = logging.getLogger(__name__)

INBOUND = "inbound"
OUTBOUND = "outbound"
_QUARANTINE = ".incomplete"
_INLINE_READ = 256 * 1024

#: Commits an upload: (file name, bytes, virtual path) -> None; raises GatewayError.
CommitFn = Callable[[str, bytes, str], Awaitable[None]]


def is_temp_name(name: str, temp_suffixes: tuple[str, ...]) -> bool:
    """Whether ``name`` marks an upload still in progress.

    Args:
        name: the base name of the file.
        temp_suffixes: lower-case suffixes that mark a temporary name.

    Returns:
        True for dot files and names ending in one of ``temp_suffixes``.
    """
    lower = name.lower()
    return name.startswith(".") or any(lower.endswith(s) for s in temp_suffixes)


def prepare_root(root: Path) -> None:
    """Create an account root with ``inbound/`` and ``outbound/`` (mode 0700).

    Args:
        root: the account's root folder.

    Raises:
        GatewayError: a component exists but is a symlink or not a folder.
    """
    for folder in (root, root / INBOUND, root / OUTBOUND):
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise GatewayError(f"SFTP folder {folder} must be a real folder, not a link or a file")
        folder.mkdir(mode=0o700, exist_ok=True)


def quarantine_leftovers(roots_dir: Path, temp_suffixes: tuple[str, ...]) -> list[Path]:
    """Move final-named files left in ``*/inbound/`` by a crash out of view.

    Such a file is either a transfer that never reached CLOSE (possibly half
    written) or one whose journal append finished but whose client never got
    the answer; neither may be journaled from disk, because a half-written
    file would be taken for a whole one.  The partner re-sends; the journal's
    sha256 marks a re-send of complete content as a duplicate.

    Args:
        roots_dir: the folder holding one root per account.
        temp_suffixes: suffixes that mark temporary names (those stay for resume).

    Returns:
        The new paths under ``<roots_dir>/.incomplete/<account>/``.
    """
    moved: list[Path] = []
    if not roots_dir.is_dir():
        return moved
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for account_root in sorted(roots_dir.iterdir()):
        inbound = account_root / INBOUND
        if account_root.name.startswith(".") or inbound.is_symlink() or not inbound.is_dir():
            continue
        for entry in sorted(inbound.iterdir()):
            if is_temp_name(entry.name, temp_suffixes) or not entry.is_file() or entry.is_symlink():
                continue
            target_dir = roots_dir / _QUARANTINE / account_root.name
            target_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            target = target_dir / f"{stamp}-{entry.name}"
            os.replace(entry, target)
            moved.append(target)
    return moved


@dataclass(slots=True, eq=False)
class OpenFile:
    """One file handle held by a client; uploads carry their state here."""

    fd: int
    virtual: str
    local: bytes
    writable: bool
    failed: str | None = None


@dataclass(slots=True, eq=False)
class SessionState:
    """What an SFTP session shares with its SSH connection and the source."""

    account: str
    partner: str
    root: Path
    remote: str
    commit: CommitFn
    temp_suffixes: tuple[str, ...]
    max_upload_bytes: int
    last_activity: float = field(default_factory=time.monotonic)
    uploads_open: int = 0
    committing: int = 0
    connection_lost: bool = False
    on_idle_change: Callable[[], None] = lambda: None
    #: open writers across the session, by (st_dev, st_ino), so a rename of a
    #: file still being written does not commit half of it.
    writers: dict[tuple[int, int], OpenFile] = field(default_factory=dict)


def _failure_for(exc: GatewayError) -> SFTPFailure:
    """Turn a journal error into the words the partner sees in the status."""
    if isinstance(exc, DiskFloorError):
        return SFTPFailure("gateway storage is nearly full; file NOT accepted, please retry later")
    if isinstance(exc, MessageTooLargeError):
        return SFTPFailure(f"file NOT accepted: too large ({exc})")
    if isinstance(exc, JournalWriteError):
        return SFTPFailure("gateway could not store the file; file NOT accepted, please retry later")
    return SFTPFailure(f"file NOT accepted: {exc}")


class PartnerFileSystem(asyncssh.SFTPServer):
    """The SFTP view of one account: ``/inbound`` to upload, ``/outbound`` to fetch.

    Args:
        chan: the asyncssh channel of this session.
        state: account, root, limits and the commit callback.
    """

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], state: SessionState) -> None:
        self._state = state
        super().__init__(chan, chroot=os.fsencode(state.root))
        self._real_root = os.fsencode(os.path.realpath(state.root))
        self._inbound = posixpath.join(self._real_root, INBOUND.encode())
        self._outbound = posixpath.join(self._real_root, OUTBOUND.encode())

    # -- confinement --------------------------------------------------------------

    def map_path(self, path: bytes) -> bytes:
        """Map a client path into the root, refusing any that resolves outside it.

        Args:
            path: the path as the client sent it.

        Returns:
            The local path (its symlinks resolved and checked).

        Raises:
            SFTPPermissionDenied: the path resolves outside the account's root.
        """
        self._state.last_activity = time.monotonic()
        local = super().map_path(path)
        real = os.path.realpath(local)
        if real != self._real_root and not real.startswith(self._real_root + b"/"):
            log.warning("sftp %s: refused path %r resolving outside the root", self._state.account, path)
            raise SFTPPermissionDenied("permission denied: that path leads outside your folder")
        return real

    def _locate(self, path: bytes) -> bytes:
        """The local path to act on: parent resolved and checked, last component as named.

        Acting on the name itself (not what it points to) means a remove or
        rename touches the link, never its target; opens use O_NOFOLLOW.
        """
        self.map_path(path)
        local = super().map_path(path)
        if os.path.realpath(local) == self._real_root:
            return self._real_root
        parent = os.path.realpath(posixpath.dirname(local))
        return posixpath.join(parent, posixpath.basename(local))

    def _in_inbound(self, real: bytes) -> bool:
        return posixpath.dirname(real) == self._inbound

    def _readable(self, real: bytes) -> bool:
        return real == self._real_root or any(
            real == area or real.startswith(area + b"/") for area in (self._inbound, self._outbound)
        )

    def _virtual(self, real: bytes) -> str:
        return os.fsdecode(self.reverse_map_path(real))

    # -- files --------------------------------------------------------------------

    def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> OpenFile:
        """Open a file: writes only directly in ``/inbound``, reads in both areas."""
        real = self._locate(path)
        write = bool(pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT))
        if write and not self._in_inbound(real):
            raise SFTPPermissionDenied("permission denied: upload files into /inbound")
        if not write and not self._readable(real):
            raise SFTPPermissionDenied("permission denied: only /inbound and /outbound can be read")
        # O_NOFOLLOW: the last component was checked by realpath, refuse a link
        # swapped in since.  Writers open read-write so the commit can read back.
        flags = os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_RDWR if write else os.O_RDONLY)
        for bit, os_bit in (
            (asyncssh.FXF_CREAT, os.O_CREAT),
            (asyncssh.FXF_TRUNC, os.O_TRUNC),
            (asyncssh.FXF_EXCL, os.O_EXCL),
            (asyncssh.FXF_APPEND, os.O_APPEND),
        ):
            if pflags & bit:
                flags |= os_bit
        fd = os.open(real, flags, 0o600)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise SFTPPermissionDenied("permission denied: not a regular file")
        handle = OpenFile(fd=fd, virtual=self._virtual(real), local=real, writable=write)
        if write:
            self._state.writers[(info.st_dev, info.st_ino)] = handle
            self._state.uploads_open += 1
        return handle

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        """Read from an open file."""
        assert isinstance(file_obj, OpenFile)
        self._state.last_activity = time.monotonic()
        return os.pread(file_obj.fd, size, offset)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        """Write to an upload, refusing anything past the size cap.

        Raises:
            SFTPFailure: the write would make the file larger than the cap.
        """
        assert isinstance(file_obj, OpenFile)
        self._state.last_activity = time.monotonic()
        if not file_obj.writable:
            raise SFTPPermissionDenied("permission denied: file was opened for reading")
        if offset + len(data) > self._state.max_upload_bytes:
            file_obj.failed = f"file is larger than the limit of {self._state.max_upload_bytes} bytes"
            raise SFTPFailure(f"upload refused: {file_obj.failed}")
        return os.pwrite(file_obj.fd, data, offset)

    async def close(self, file_obj: object) -> None:
        """Close a handle; for a final-named upload this is the commit point.

        Raises:
            SFTPFailure: the upload was refused or could not be journaled; the
                partner must send it again.
        """
        assert isinstance(file_obj, OpenFile)
        if not file_obj.writable:
            os.close(file_obj.fd)
            return
        try:
            await self._finish_upload(file_obj)
        finally:
            info = os.fstat(file_obj.fd)
            self._state.writers.pop((info.st_dev, info.st_ino), None)
            os.close(file_obj.fd)
            self._state.uploads_open -= 1
            self._state.on_idle_change()

    async def _finish_upload(self, handle: OpenFile) -> None:
        name = posixpath.basename(handle.virtual)
        if self._state.connection_lost or self.channel.is_closing():
            # asyncssh closes handles left open when the session ends; those
            # transfers never reached CLOSE and may be cut short.
            log.warning(
                "sftp %s: transfer of %s ended without CLOSE; not accepted", self._state.account, name
            )
            if not is_temp_name(name, self._state.temp_suffixes):
                self._unlink_same(handle)
            return
        if handle.failed is not None:
            self._unlink_same(handle)
            raise SFTPFailure(f"upload refused: {handle.failed}")
        if is_temp_name(name, self._state.temp_suffixes):
            return
        # Small files (most EDI) are in the page cache: a thread hop costs more than the read.
        if os.fstat(handle.fd).st_size <= _INLINE_READ:
            data = _read_all(handle.fd)
        else:
            data = await asyncio.to_thread(_read_all, handle.fd)
        try:
            await self._commit(name, data, handle.virtual)
        except SFTPFailure:
            self._unlink_same(handle)
            raise
        self._unlink_same(handle)

    async def _commit(self, name: str, data: bytes, virtual: str) -> None:
        if not data:
            raise SFTPFailure("upload refused: the file is empty")
        self._state.committing += 1
        try:
            await self._state.commit(printable(name), data, printable(virtual))
        except GatewayError as exc:
            log.error("sftp %s: upload %s not accepted: %s", self._state.account, virtual, exc)
            raise _failure_for(exc) from exc
        except Exception as exc:
            # A bug, not the partner's fault: say so in the log with the
            # traceback, and tell the partner the file was not taken.
            log.exception("sftp %s: upload %s failed unexpectedly", self._state.account, virtual)
            raise SFTPFailure("gateway internal error; file NOT accepted, please retry later") from exc
        finally:
            self._state.committing -= 1
            self._state.on_idle_change()

    def _unlink_same(self, handle: OpenFile) -> None:
        # Remove only if the name still points at our file (the client may have
        # renamed it, or written a new one under the name).
        try:
            on_disk = os.stat(handle.local, follow_symlinks=False)
        except FileNotFoundError:
            return
        mine = os.fstat(handle.fd)
        if (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino):
            os.unlink(handle.local)

    def fstat(self, file_obj: object) -> os.stat_result:
        """Attributes of an open file."""
        assert isinstance(file_obj, OpenFile)
        return os.fstat(file_obj.fd)

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        """Accepted and ignored: the journal keeps bytes, not modes or times."""
        assert isinstance(file_obj, OpenFile)

    def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        """Accepted and ignored (after the path check): see :meth:`fsetstat`."""
        self.map_path(path)

    def lsetstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        """Accepted and ignored (after the path check): see :meth:`fsetstat`."""
        self.map_path(path)

    def fsync(self, file_obj: object) -> None:
        """Nothing to do: the upload becomes durable in the journal at CLOSE."""
        assert isinstance(file_obj, OpenFile)

    # -- names --------------------------------------------------------------------

    def remove(self, path: bytes) -> None:
        """Delete a file in ``/outbound`` (fetched) or ``/inbound`` (abandoned temp)."""
        real = self._locate(path)
        if real in (self._real_root, self._inbound, self._outbound) or not self._readable(real):
            raise SFTPPermissionDenied(
                "permission denied: only files in /inbound and /outbound can be deleted"
            )
        if not stat.S_ISREG(os.lstat(real).st_mode):
            raise SFTPPermissionDenied("permission denied: not a regular file")
        os.unlink(real)

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        """Folders are fixed; refused."""
        real = self.map_path(path)
        if os.path.isdir(real):
            raise SFTPFailure("folder already exists")
        raise SFTPPermissionDenied("permission denied: folders are fixed; upload into /inbound")

    def rmdir(self, path: bytes) -> None:
        """Folders are fixed; refused."""
        self.map_path(path)
        raise SFTPPermissionDenied("permission denied: folders are fixed")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        """Links are refused: they are how a client would reach outside its root."""
        raise SFTPPermissionDenied("permission denied: links are not allowed")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        """Hard links are refused, like symlinks."""
        raise SFTPPermissionDenied("permission denied: links are not allowed")

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        """SFTPv3 rename: fails if the target exists (draft-ietf-secsh-filexfer-02 6.5)."""
        await self._rename(oldpath, newpath, overwrite=False)

    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        """posix-rename@openssh.com: replaces an existing target."""
        await self._rename(oldpath, newpath, overwrite=True)

    async def _rename(self, oldpath: bytes, newpath: bytes, *, overwrite: bool) -> None:
        old, new = self._locate(oldpath), self._locate(newpath)
        if not (self._in_inbound(old) and self._in_inbound(new)):
            raise SFTPPermissionDenied("permission denied: rename only within /inbound")
        try:
            info = os.lstat(old)
        except FileNotFoundError:
            raise SFTPNoSuchFile("no such file") from None
        if not stat.S_ISREG(info.st_mode):
            raise SFTPPermissionDenied("permission denied: only regular files can be renamed")
        if overwrite:
            os.replace(old, new)
        elif os.path.lexists(new):
            raise SFTPFailure("target file already exists")
        else:
            os.rename(old, new)
        writer = self._state.writers.get((info.st_dev, info.st_ino))
        if writer is not None:
            # Still open: the commit happens at its CLOSE, under its new name.
            writer.local, writer.virtual = new, self._virtual(new)
            return
        name = posixpath.basename(self._virtual(new))
        if is_temp_name(name, self._state.temp_suffixes):
            return
        data = await asyncio.to_thread(_read_file, new)
        try:
            await self._commit(name, data, self._virtual(new))
        except SFTPFailure:
            # Put it back under the temp name so the partner can retry the rename.
            os.rename(new, old)
            raise
        os.unlink(new)

    def exit(self) -> None:
        """The session ended."""
        self._state.on_idle_change()


def printable(name: str) -> str:
    """A file name as valid UTF-8 text: SFTPv3 names are raw bytes, undecodable ones are replaced."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks: list[bytes] = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 1 << 20), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _read_file(path: bytes) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return _read_all(fd)
    finally:
        os.close(fd)
