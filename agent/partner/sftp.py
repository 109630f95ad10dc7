"""SFTP push: upload the partner's file to their server with asyncssh.

Rules (peers.md §1):

* The server key is checked against the profile's ``known_hosts`` file,
  never trust-on-first-use; a non-22 port is written ``[host]:port`` there.
* Upload under a temporary name, check the remote size, then rename to the
  final name (``posix-rename@openssh.com`` when offered, which replaces an
  earlier partial upload of the same file), so a partner job polling the
  folder never picks up half a file.
* One connection per delivery: partner servers drop idle sessions, and the
  delivery engine's concurrency bounds how many we open.

Errors: refused/timeout/disconnect → transient; host key mismatch,
authentication refused, permission denied, no such folder → permanent
(a person must fix the profile or the partner's account).
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.sinks.base import Delivery

from .base import partner_file


@dataclass(frozen=True, slots=True, kw_only=True)
class SftpPushSettings:
    """Where and as whom to upload (``[delivery] transport = "sftp"`` of a profile)."""

    host: str
    port: int
    user: str
    key: Path
    known_hosts: Path
    remote_dir: str = "."
    temp_suffix: str = ".part"
    timeout: float = 60.0


@contextlib.contextmanager
def _map_errors(server: str, what: str) -> Iterator[None]:
    try:
        yield
    except asyncssh.HostKeyNotVerifiable as exc:
        raise PermanentDeliveryError(
            f"{server}: the server's host key is not the one pinned in known_hosts ({exc.reason}); "
            "check with the partner before changing the pin"
        ) from exc
    except asyncssh.PermissionDenied as exc:
        raise PermanentDeliveryError(f"{server}: login refused for our key ({exc.reason})") from exc
    except asyncssh.SFTPError as exc:
        permanent = (
            asyncssh.SFTPPermissionDenied,
            asyncssh.SFTPNoSuchFile,
            asyncssh.SFTPNoSuchPath,
            asyncssh.SFTPOpUnsupported,
            asyncssh.SFTPWriteProtect,
        )
        reason = f"{server}: {what} failed: {exc.reason}"
        if isinstance(exc, permanent):
            raise PermanentDeliveryError(reason) from exc
        raise TransientDeliveryError(reason) from exc
    except (asyncssh.DisconnectError, asyncssh.ChannelOpenError, asyncssh.ConnectionLost) as exc:
        raise TransientDeliveryError(f"{server}: connection lost during {what}: {exc.reason}") from exc
    except (FileNotFoundError, PermissionError) as exc:
        # Our key or the known_hosts pin is missing or unreadable: the profile needs fixing.
        raise PermanentDeliveryError(f"{server}: cannot read {exc.filename}: {exc.strerror}") from exc
    except (OSError, TimeoutError) as exc:
        raise TransientDeliveryError(f"{server}: cannot {what}: {exc}") from exc
    except asyncssh.KeyImportError as exc:
        raise PermanentDeliveryError(f"{server}: our private key cannot be loaded: {exc}") from exc


class SftpPartnerSink:
    """Push partner files over SFTP.

    Args:
        name: sink name (``partner:<id>``).
        settings: server, account, key, pinned host key.
    """

    def __init__(self, name: str, settings: SftpPushSettings) -> None:
        self.name = name
        self.settings = settings
        self._server = f"sftp://{settings.user}@{settings.host}:{settings.port}"

    async def _connect(self) -> asyncssh.SSHClientConnection:
        s = self.settings
        with _map_errors(self._server, "connect"):
            return await asyncio.wait_for(
                asyncssh.connect(
                    s.host,
                    s.port,
                    username=s.user,
                    client_keys=[str(s.key)],
                    known_hosts=str(s.known_hosts),
                    agent_path=None,
                    config=None,
                    password=None,
                    kbdint_auth=False,
                ),
                timeout=s.timeout,
            )

    async def healthcheck(self) -> None:
        """Log in and look at the remote folder."""
        async with await self._connect() as conn, conn.start_sftp_client() as sftp:
            with _map_errors(self._server, "stat the remote folder"):
                await sftp.stat(self.settings.remote_dir)

    async def deliver(self, delivery: Delivery) -> None:
        """Upload one file (temporary name, size check, rename).

        Raises:
            TransientDeliveryError / PermanentDeliveryError: see the module docstring.
        """
        item = partner_file(delivery)
        s = self.settings
        final = posixpath.join(s.remote_dir, item.name)
        temp = posixpath.join(s.remote_dir, f"{item.name}{s.temp_suffix}")
        conn = await self._connect()
        try:
            with _map_errors(self._server, f"upload {item.name}"):
                async with conn.start_sftp_client() as sftp:
                    async with sftp.open(temp, "wb") as f:
                        await f.write(item.data)
                    attrs = await sftp.stat(temp)
                    if attrs.size != len(item.data):
                        raise TransientDeliveryError(
                            f"{self._server}: {temp} has {attrs.size} bytes after upload, "
                            f"expected {len(item.data)}"
                        )
                    try:
                        await sftp.posix_rename(temp, final)
                    except asyncssh.SFTPOpUnsupported:
                        # Plain SFTPv3 rename fails on an existing target: a resend replaces it.
                        with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                            await sftp.remove(final)
                        await sftp.rename(temp, final)
        finally:
            conn.close()
            with contextlib.suppress(OSError, asyncssh.Error):
                await conn.wait_closed()

    async def aclose(self) -> None:
        """Nothing is kept open between deliveries."""


__all__ = ["SftpPartnerSink", "SftpPushSettings"]
