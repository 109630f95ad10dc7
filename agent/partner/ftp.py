"""FTP/FTPS to a partner's server: push files to it, or fetch files from it.

Built on the stdlib ``ftplib.FTP_TLS``, run in a worker thread (ftplib blocks).

Rules:

* Explicit TLS (RFC 4217): ``AUTH TLS`` before ``USER``, then ``PBSZ 0`` and
  ``PROT P`` so file data is protected too.  The server certificate is checked
  against the pinned CA file and the host name; a failure is permanent
  ("server certificate not trusted"), never downgraded to plain FTP.  Plain
  FTP only when the settings say ``tls = "none"``.
* Data connections resume the control connection's TLS session: many servers
  (vsftpd's default ``require_ssl_reuse=YES``) refuse a data connection that
  does not, to be sure it comes from the same client (RFC 4217 section 10.2).
* Passive mode only (RFC 2577 section 3: active mode needs an inbound port here).
* Push: ``STOR`` under a temporary name, check the size with ``SIZE``
  (RFC 3659; ``LIST`` when the server lacks it), then ``RNFR``/``RNTO`` to the
  final name, so a partner job polling the folder never sees half a file.
* Fetch: list the remote folder, download each final-named file, check its
  size, ``journal.append`` it (transport ``ftp``), and only after the journal
  returned delete it or move it to the archive folder on the server.  A crash
  between the two re-downloads the file on the next poll; the journal marks
  the same bytes from the same partner as a duplicate.

Errors (RFC 959 section 4.2): ``4xx`` replies, timeouts and lost connections
are transient; ``5xx`` replies (login refused, no such folder, permission) and
an untrusted certificate are permanent: a person must fix the profile or the
partner's account.
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import io
import logging
import posixpath
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from agent.errors import PermanentDeliveryError, TlsConfigError, TransientDeliveryError
from agent.sinks.base import Delivery
from gateway.journal import AppendResult, Intake

from .base import partner_file

log = logging.getLogger(__name__)

_TEMP_SUFFIXES = (".part", ".tmp", ".filepart")


@dataclass(frozen=True, slots=True, kw_only=True)
class FtpSettings:
    """Where and as whom to connect (``[delivery] transport = "ftp"`` of a profile).

    Attributes:
        host: the partner's server.
        port: its control port.
        user: our account there.
        password: its password (read from the profile's ``password_file``).
        tls: ``explicit`` (AUTH TLS, the default) or ``none``.
        ca_file: PEM bundle the server certificate must chain to (required with TLS).
        remote_dir: folder to upload into, or to fetch from.
        temp_suffix: suffix of the temporary name during an upload.
        timeout: seconds for connecting and for each reply.
        max_fetch_bytes: larger remote files are not fetched.
    """

    host: str
    port: int = 21
    user: str
    password: str = field(repr=False)
    tls: Literal["explicit", "none"] = "explicit"
    ca_file: Path | None = None
    remote_dir: str = "."
    temp_suffix: str = ".part"
    timeout: float = 60.0
    max_fetch_bytes: int = 64 * 1024 * 1024


class _ReusingFtpTls(ftplib.FTP_TLS):
    """``FTP_TLS`` whose data connections resume the control connection's TLS session."""

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            assert isinstance(self.sock, ssl.SSLSocket)
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is None:
        raise TlsConfigError("FTPS needs ca_file: the CA bundle the partner's server certificate chains to")
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"pinned CA file {ca_file} cannot be loaded: {exc}") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


@contextlib.contextmanager
def _map_errors(server: str, what: str) -> Iterator[None]:
    """Turn ftplib, ssl and socket errors into delivery errors with plain reasons."""
    try:
        yield
    except ssl.SSLCertVerificationError as exc:
        raise PermanentDeliveryError(
            f"{server}: server certificate not trusted ({exc.verify_message}); "
            "check the pinned CA file with the partner"
        ) from exc
    except ftplib.error_temp as exc:
        raise TransientDeliveryError(f"{server}: {what} failed, server said: {exc}") from exc
    except ftplib.error_perm as exc:
        raise PermanentDeliveryError(f"{server}: {what} refused, server said: {exc}") from exc
    except (ftplib.error_reply, ftplib.error_proto, EOFError) as exc:
        raise TransientDeliveryError(f"{server}: unexpected reply during {what}: {exc}") from exc
    except ssl.SSLError as exc:
        raise TransientDeliveryError(f"{server}: TLS failed during {what}: {exc.reason or exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise TransientDeliveryError(f"{server}: cannot {what}: {exc}") from exc


class _Session:
    """One logged-in connection (used from one worker thread at a time)."""

    def __init__(self, settings: FtpSettings) -> None:
        self.settings = settings
        self.server = f"ftp://{settings.user}@{settings.host}:{settings.port}"
        self.ftp: ftplib.FTP | None = None

    def open(self) -> ftplib.FTP:
        s = self.settings
        ftp: ftplib.FTP
        if s.tls == "explicit":
            ftp = _ReusingFtpTls(context=_tls_context(s.ca_file), timeout=s.timeout)
        else:
            ftp = ftplib.FTP(timeout=s.timeout)
        self.ftp = ftp
        with _map_errors(self.server, "connect"):
            ftp.connect(s.host, s.port, timeout=s.timeout)
        if isinstance(ftp, ftplib.FTP_TLS):
            with _map_errors(self.server, "start TLS (AUTH TLS)"):
                ftp.auth()
        with _map_errors(self.server, "log in"):
            ftp.login(s.user, s.password)
        if isinstance(ftp, ftplib.FTP_TLS):
            with _map_errors(self.server, "protect the data connection (PROT P)"):
                ftp.prot_p()
        ftp.set_pasv(True)
        with _map_errors(self.server, "switch to binary mode"):
            ftp.voidcmd("TYPE I")
        return ftp

    def close(self) -> None:
        if self.ftp is None:
            return
        if self.ftp.sock is None:  # never connected
            self.ftp = None
            return
        try:
            self.ftp.quit()
        except (OSError, EOFError, ftplib.Error):
            self.ftp.close()
        self.ftp = None

    def remote_size(self, path: str) -> int | None:
        """The size of ``path`` by SIZE (RFC 3659), else from a LIST line, else None."""
        assert self.ftp is not None
        try:
            size = self.ftp.size(path)
            if size is not None:
                return int(size)
        except ftplib.error_perm:
            pass  # 500/502: SIZE not implemented; 550 in ASCII mode on some servers
        lines: list[str] = []
        self.ftp.retrlines(f"LIST {path}", lines.append)
        for line in lines:
            parts = line.split(None, 8)
            if len(parts) >= 9 and parts[4].isdigit():
                return int(parts[4])
        return None


class FtpPartnerSink:
    """Push partner files to their FTP/FTPS server.

    Args:
        name: sink name (``partner:<id>``).
        settings: server, account, TLS pinning, folder.
    """

    def __init__(self, name: str, settings: FtpSettings) -> None:
        self.name = name
        self.settings = settings

    async def healthcheck(self) -> None:
        """Log in and change into the remote folder.

        Raises:
            TransientDeliveryError / PermanentDeliveryError: see the module docstring.
        """
        await asyncio.to_thread(self._healthcheck)

    def _healthcheck(self) -> None:
        session = _Session(self.settings)
        try:
            ftp = session.open()
            with _map_errors(session.server, f"open folder {self.settings.remote_dir}"):
                ftp.cwd(self.settings.remote_dir)
        finally:
            session.close()

    async def deliver(self, delivery: Delivery) -> None:
        """Upload one file (temporary name, size check, rename).

        Args:
            delivery: a delivery carrying an ``edigate.partner-file/1`` envelope.

        Raises:
            TransientDeliveryError / PermanentDeliveryError: see the module docstring.
        """
        item = partner_file(delivery)
        await self.upload(item.name, item.data)

    async def upload(self, name: str, data: bytes) -> None:
        """Upload ``data`` as ``name`` into the remote folder.

        Args:
            name: the final file name (no folders).
            data: the bytes.

        Raises:
            TransientDeliveryError / PermanentDeliveryError: see the module docstring.
        """
        if "/" in name or name in ("", ".", ".."):
            raise PermanentDeliveryError(f"unsafe file name {name!r}")
        await asyncio.to_thread(self._upload, name, data)

    def _upload(self, name: str, data: bytes) -> None:
        s = self.settings
        final = posixpath.join(s.remote_dir, name)
        temp = posixpath.join(s.remote_dir, f"{name}{s.temp_suffix}")
        session = _Session(s)
        stored = False
        try:
            ftp = session.open()
            with _map_errors(session.server, f"upload {temp}"):
                ftp.storbinary(f"STOR {temp}", io.BytesIO(data))
                stored = True
            with _map_errors(session.server, f"check the size of {temp}"):
                size = session.remote_size(temp)
            if size != len(data):
                raise TransientDeliveryError(
                    f"{session.server}: {temp} has {size} bytes after upload, expected {len(data)}"
                )
            with _map_errors(session.server, f"rename {temp} to {final}"):
                ftp.rename(temp, final)
            stored = False
        finally:
            if stored and session.ftp is not None:
                # Leave no half-delivered temp file behind; the next attempt uploads again.
                with contextlib.suppress(OSError, EOFError, ftplib.Error):
                    session.ftp.delete(temp)
            session.close()
        log.info("ftp: delivered %s to %s (%d bytes)", name, session.server, len(data))

    async def aclose(self) -> None:
        """Nothing is kept open between deliveries."""


class FetchJournal(Protocol):
    """The part of :class:`gateway.journal.Journal` a fetch uses."""

    async def append(self, intake: Intake) -> AppendResult:
        """Store bytes durably; returns after fsync."""
        ...


@dataclass(frozen=True, slots=True)
class FetchedFile:
    """One remote file taken into the journal."""

    name: str
    size: int
    result: AppendResult


class FtpFetcher:
    """Fetch files a partner leaves on their own FTP/FTPS server.

    Args:
        partner: partner id journaled with each file.
        settings: server, account, TLS pinning, the folder to poll.
        after: ``delete`` the remote file once journaled, or ``move`` it into ``archive_dir``.
        archive_dir: remote folder for ``after = "move"``.
    """

    def __init__(
        self,
        partner: str,
        settings: FtpSettings,
        *,
        after: Literal["delete", "move"] = "delete",
        archive_dir: str | None = None,
    ) -> None:
        if after == "move" and not archive_dir:
            raise ValueError("fetch with after = 'move' needs archive_dir")
        self.partner = partner
        self.settings = settings
        self.after = after
        self.archive_dir = archive_dir

    async def poll(self, journal: FetchJournal, *, max_files: int = 100) -> list[FetchedFile]:
        """Take every finished file in the remote folder into the journal.

        Args:
            journal: where the files are appended.
            max_files: at most this many files per poll.

        Returns:
            The files journaled (and then removed or moved on the server).

        Raises:
            TransientDeliveryError / PermanentDeliveryError: the server could not be used;
                files journaled before the error are kept and, at worst, fetched again.
            gateway.errors.JournalError: the journal refused a file; it stays on the server.
        """
        session = _Session(self.settings)
        taken: list[FetchedFile] = []
        try:
            await asyncio.to_thread(session.open)
            names = await asyncio.to_thread(self._list, session)
            for name in names[:max_files]:
                fetched = await asyncio.to_thread(self._download, session, name)
                if fetched is None:
                    continue
                data, path = fetched
                result = await journal.append(
                    Intake(
                        transport="ftp",
                        data=data,
                        partner=self.partner,
                        file_name=name,
                        meta={"remote": session.server, "path": path, "mode": "fetch"},
                    )
                )
                # Only now, with the bytes fsynced, may the partner's copy go.
                await asyncio.to_thread(self._dispose, session, name, result.message_id)
                taken.append(FetchedFile(name, len(data), result))
                log.info("ftp: fetched %s from %s as %s", name, session.server, result.message_id)
        finally:
            await asyncio.to_thread(session.close)
        return taken

    def _list(self, session: _Session) -> list[str]:
        assert session.ftp is not None
        ftp, folder = session.ftp, self.settings.remote_dir
        with _map_errors(session.server, f"list {folder}"):
            try:
                entries = [
                    (n, facts.get("type", "")) for n, facts in ftp.mlsd(folder, facts=["type", "size"])
                ]
                names = [n for n, kind in entries if kind == "file"]
            except ftplib.error_perm:
                # MLSD (RFC 3659) missing: NLST lists files and folders alike; folders fail RETR later.
                names = [posixpath.basename(n) for n in ftp.nlst(folder)]
        return sorted(n for n in names if not _is_temp(n))

    def _download(self, session: _Session, name: str) -> tuple[bytes, str] | None:
        assert session.ftp is not None
        path = posixpath.join(self.settings.remote_dir, name)
        with _map_errors(session.server, f"check the size of {path}"):
            expected = session.remote_size(path)
        if expected is not None and expected > self.settings.max_fetch_bytes:
            log.warning(
                "ftp: %s on %s is %d bytes, over the fetch limit; left there", path, session.server, expected
            )
            return None
        buffer = io.BytesIO()
        with _map_errors(session.server, f"download {path}"):
            session.ftp.retrbinary(f"RETR {path}", buffer.write)
        data = buffer.getvalue()
        if expected is not None and len(data) != expected:
            raise TransientDeliveryError(
                f"{session.server}: downloaded {len(data)} bytes of {path}, the server said {expected}"
            )
        return data, path

    def _dispose(self, session: _Session, name: str, message_id: str) -> None:
        assert session.ftp is not None
        path = posixpath.join(self.settings.remote_dir, name)
        if self.after == "move":
            assert self.archive_dir is not None
            target = posixpath.join(self.archive_dir, f"{message_id}-{name}")
            with _map_errors(session.server, f"move {path} to {target}"):
                session.ftp.rename(path, target)
        else:
            with _map_errors(session.server, f"delete {path}"):
                session.ftp.delete(path)


def _is_temp(name: str) -> bool:
    lower = name.lower()
    return name.startswith(".") or lower.endswith(_TEMP_SUFFIXES)


def settings_from_delivery(delivery: dict[str, Any], password: str, ca_file: Path | None) -> FtpSettings:
    """Build :class:`FtpSettings` from a profile's ``[delivery]`` table (``partners.FtpDelivery``).

    Args:
        delivery: the table as data.
        password: read from its ``password_file`` by the caller.
        ca_file: the profile's ``certificates.tls_ca``, resolved.

    Returns:
        The settings.

    Raises:
        ValueError: implicit TLS was asked for, or active mode (neither is supported).
    """
    tls = str(delivery.get("tls", "explicit"))
    if tls not in ("explicit", "none"):
        raise ValueError(f"FTP delivery tls = {tls!r} is not supported; use 'explicit' (AUTH TLS) or 'none'")
    if not delivery.get("passive", True):
        raise ValueError("FTP delivery in active mode is not supported; passive mode needs no inbound port")
    return FtpSettings(
        host=str(delivery["host"]),
        port=int(delivery.get("port", 21)),
        user=str(delivery["user"]),
        password=password,
        tls="explicit" if tls == "explicit" else "none",
        ca_file=ca_file,
        remote_dir=str(delivery.get("remote_dir", ".")),
    )


__all__ = [
    "FetchJournal",
    "FetchedFile",
    "FtpFetcher",
    "FtpPartnerSink",
    "FtpSettings",
    "settings_from_delivery",
]
