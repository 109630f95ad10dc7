"""One partner's FTP/FTPS session: pyftpdlib handlers bent to the gateway's promises.

Strategy and invariants:

* pyftpdlib runs each control connection in its own thread
  (``ThreadedFTPServer``) with its own poll loop.  Anything that needs the
  journal is handed to the daemon's asyncio loop through
  :class:`SessionHost` (``asyncio.run_coroutine_threadsafe``) and the session
  thread waits for the answer; other sessions are not held up.
* **Commit point.** RFC 959 stream mode marks the end of a file by closing the
  data connection; only then (and only for a final name) are the bytes read
  back, appended to the journal (which fsyncs) and the file removed; the
  ``226`` goes out after that.  A temp name (``*.part``, ``*.tmp``, dot file)
  stays on disk with a ``226`` and is journaled on ``RNFR``/``RNTO`` to a final
  name, whose ``250`` is likewise sent after the append.  Journal trouble maps
  to ``451``/``452`` (try later), policy to ``550``/``552``/``553``.
* **Confinement.** Each account sees ``/inbound`` (uploads) and ``/outbound``
  (documents to fetch).  A path with a ``..`` component is refused outright;
  every other path goes through pyftpdlib's ``validpath`` (``realpath`` under
  the root, so symlinks leading out are refused too).  Uploads, appends and
  renames are allowed only directly in ``inbound/``; no folders, no chmod, no
  active mode (RFC 2577 section 3: PORT invites bounce attacks).
* **TLS.** After ``AUTH TLS`` (RFC 4217 section 4) the session must also send
  ``PROT P`` before any data connection (RFC 4217 section 9).  A session
  without TLS gets past ``USER`` only if the account allows plain FTP and the
  client address is in the configured site networks; otherwise ``534``
  (RFC 2228: "request denied for policy reasons"), before a password is sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import posixpath
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from OpenSSL import SSL
from pyftpdlib.exceptions import _RetryError  # type: ignore[import-untyped]
from pyftpdlib.handlers import DTPHandler, TLS_DTPHandler, TLS_FTPHandler  # type: ignore[import-untyped]
from pyftpdlib.ioloop import _ERRNOS_DISCONNECTED  # type: ignore[import-untyped]

from gateway.errors import DiskFloorError, GatewayError, JournalWriteError, MessageTooLargeError
from gateway.sources.sftp_fs import INBOUND, OUTBOUND, is_temp_name

log = logging.getLogger(__name__)

#: FTP commands whose argument is a path the partner names.
_PATH_COMMANDS = frozenset(
    {
        "CWD", "XCWD", "LIST", "NLST", "MLSD", "MLST", "STAT", "SIZE", "MDTM", "RETR", "STOR",
        "APPE", "DELE", "RNFR", "RNTO", "MKD", "XMKD", "RMD", "XRMD", "SITE CHMOD", "MFMT",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionAccount:
    """What a logged-in session knows about its account."""

    username: str
    partner: str
    allow_plain: bool


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """The answer to one ``PASS``: the account, or the words for the ``530``."""

    account: SessionAccount | None
    message: str = ""


class SessionHost(Protocol):
    """What a session thread needs from :class:`gateway.sources.ftp.FtpSource`."""

    max_upload_bytes: int
    temp_suffixes: tuple[str, ...]
    require_close_notify: bool

    def plain_allowed(self, username: str, remote: str) -> bool:
        """Whether ``username`` may log in without TLS from ``remote``."""
        ...

    def login(self, username: str, password: str, remote: str, tls: bool) -> LoginOutcome:
        """Check credentials and throttling (called in the session thread)."""
        ...

    def root_of(self, username: str) -> str:
        """The account's root folder, created if missing."""
        ...

    def commit(self, account: SessionAccount, name: str, data: bytes, meta: dict[str, Any]) -> None:
        """Journal an upload; returns after fsync.  Raises GatewayError."""
        ...

    def uploading(self, delta: int) -> None:
        """Count an upload starting (+1) or ending (-1), for a graceful stop."""
        ...

    def claim(self, path: str) -> bool:
        """Reserve ``path`` for one upload; False when another session is writing it."""
        ...

    def release(self, path: str) -> None:
        """End a :meth:`claim`."""
        ...


def in_networks(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    """Whether ``address`` (IPv4, IPv6 or IPv4-mapped IPv6) lies in one of ``networks``.

    Args:
        address: the client's address as the socket reports it.
        networks: the site networks.

    Returns:
        True when it does; False for an unparsable address.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def reply_for(exc: GatewayError) -> str:
    """The FTP reply for a journal refusal (RFC 959 section 4.2 reply codes).

    Args:
        exc: what the journal raised.

    Returns:
        One reply line, code first.
    """
    if isinstance(exc, DiskFloorError):
        # 452: "insufficient storage space in system" - transient, the partner retries.
        return "452 Gateway storage is nearly full; file NOT accepted, please retry later."
    if isinstance(exc, MessageTooLargeError):
        # 552: "exceeded storage allocation" - permanent for this file.
        return f"552 File NOT accepted: too large ({exc})."
    if isinstance(exc, JournalWriteError):
        return "451 Gateway could not store the file; file NOT accepted, please retry later."
    return f"451 File NOT accepted: {exc}."


class Authorizer:
    """pyftpdlib's authorizer interface; logins go through :meth:`ControlHandler.ftp_PASS`.

    Permissions (pyftpdlib letters): ``e`` change folder, ``l`` list, ``r`` fetch,
    ``d`` delete, ``w``/``a``/``f`` store, append, rename.  Where each is allowed is
    decided by :meth:`ControlHandler._policy`; here every path inside the root
    passes, so the session can answer with the specific reason.
    """

    def __init__(self, host: SessionHost) -> None:
        self._host = host

    def has_user(self, username: str) -> bool:
        return True

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        raise AssertionError("logins go through ControlHandler.ftp_PASS")

    def get_home_dir(self, username: str) -> str:
        return self._host.root_of(username)

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return perm in "elrdwaf"

    def get_perms(self, username: str) -> str:
        return "elrdwaf"

    def get_msg_login(self, username: str) -> str:
        return "Logged in; upload into /inbound, fetch from /outbound."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        return None

    def terminate_impersonation(self, username: str) -> None:
        return None


class DataHandler(TLS_DTPHandler):  # type: ignore[misc]
    """A data connection that commits an upload before the ``226``."""

    def __init__(self, sock: Any, cmd_channel: Any) -> None:
        super().__init__(sock, cmd_channel)
        self._over_limit = False
        self.tls_eof_clean: bool | None = None

    def recv(self, buffer_size: int) -> bytes:
        if not self._ssl_requested:
            plain: bytes = super().recv(buffer_size)
            return plain
        # pyftpdlib's TLS mixin turns the end of the stream into DTPHandler.handle_close,
        # skipping ours (and the commit); read below the mixin and end the stream here.
        try:
            data: bytes = DTPHandler.recv(self, buffer_size)
        except SSL.WantReadError as exc:
            self._ssl_want_read = True
            raise _RetryError from exc
        except SSL.WantWriteError as exc:
            self._ssl_want_write = True
            raise _RetryError from exc
        except SSL.ZeroReturnError:
            # close_notify: the client ended the TLS stream on purpose (RFC 8446 section 6.1).
            self.tls_eof_clean = True
            self.handle_close()
            return b""
        except SSL.SysCallError as exc:
            errnum, errstr = exc.args
            if errnum in _ERRNOS_DISCONNECTED or errstr == "Unexpected EOF":
                self.tls_eof_clean = False
                self.handle_close()
                return b""
            raise
        return data

    def handle_read_event(self) -> None:
        # pyftpdlib binds handle_read_event to the base handle_read; check after every read.
        super().handle_read_event()
        limit = self.cmd_channel.host.max_upload_bytes
        if not self._closed and self.file_obj is not None and self.file_obj.tell() > limit:
            self._over_limit = True
            # 552: "exceeded storage allocation" (RFC 959 section 4.2).
            self._resp = (f"552 File NOT accepted: larger than the {limit} byte limit.", log.warning)
            self.close()

    def handle_close(self) -> None:
        if self._closed or not self.receive or self._over_limit:
            super().handle_close()
            return
        # RFC 959 section 3.4: in stream mode the end of the file is the close of the data connection.
        self.transfer_finished = True
        try:
            reply = self.cmd_channel.finish_upload(self.file_obj, tls_eof_clean=self.tls_eof_clean)
        except Exception:
            log.exception("ftp: finishing an upload failed")
            reply = "451 File NOT accepted: internal error, please retry later."
        self._resp = (reply, log.debug)
        self.close()


class ControlHandler(TLS_FTPHandler):  # type: ignore[misc]
    """The control connection of one partner session.

    Class attributes are set per listener by :func:`handler_class`.
    """

    host: SessionHost
    account: SessionAccount | None = None
    _rnfr: str | None
    dtp_handler = DataHandler

    def __init__(self, conn: Any, server: Any, ioloop: Any = None) -> None:
        super().__init__(conn, server, ioloop)
        self.account = None
        self._upload_open: str | None = None

    # -- policy gates -------------------------------------------------------------

    def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
        if self.authenticated and cmd in _PATH_COMMANDS and arg:
            parts = arg.replace("\\", "/").split("/")
            if ".." in parts:
                # RFC 959 553: "file name not allowed"; refuse rather than clamp, so
                # the partner sees that the path was wrong.
                self.respond("553 Path refused: '..' leads outside your folder.")
                return
        super().pre_process_command(line, cmd, arg)

    def process_command(self, cmd: str, *args: Any, **kwargs: Any) -> None:
        if cmd in ("PORT", "EPRT"):
            # RFC 2577 section 3: active mode lets a client aim our data connection anywhere.
            self.respond("502 Active mode is disabled; use passive mode (PASV or EPSV).")
            return
        if cmd in ("PASV", "EPSV") and self._ssl_established and not self._prot:
            # RFC 4217 section 9: a server may refuse unprotected data on a protected session.
            self.respond("534 Data connections must be protected: send PBSZ 0 and PROT P first.")
            return
        if cmd in ("STOU", "MKD", "XMKD", "RMD", "XRMD", "SITE CHMOD", "MFMT"):
            self.respond("553 Not allowed here: upload files into /inbound.")
            return
        super().process_command(cmd, *args, **kwargs)

    def _policy(self, path: str) -> str | None:
        """Why ``path`` (a local path from ``ftp2fs``) may not be written, or None."""
        real_parent = os.path.realpath(os.path.dirname(path))
        root = os.path.realpath(self.fs.root)
        if real_parent != os.path.join(root, INBOUND):
            return "553 Not allowed here: upload files into /inbound."
        if os.path.islink(path):
            return "553 Path refused: that name is a link."
        return None

    # -- login ----------------------------------------------------------------------

    def ftp_USER(self, line: str) -> None:
        if not self._ssl_established and not self.host.plain_allowed(line, self.remote_ip):
            # Before the password is sent in clear (RFC 2228 section 4: 534 = denied by policy).
            self.respond("534 TLS is required: send AUTH TLS before logging in.")
            return
        super().ftp_USER(line)

    def ftp_PASS(self, line: str) -> None:
        if self.authenticated:
            self.respond("503 User already authenticated.")
            return
        if not self.username:
            self.respond("503 Login with USER first.")
            return
        outcome = self.host.login(self.username, line, self.remote_ip, self._ssl_established)
        if outcome.account is None:
            # pyftpdlib delays the 530 by auth_failed_timeout without blocking the loop;
            # the password is not passed on, so it is never logged.
            self.handle_auth_failed(outcome.message, "")
            return
        self.account = outcome.account
        self.handle_auth_success(
            self.host.root_of(outcome.account.username), "", self.authorizer.get_msg_login("")
        )

    # -- uploads --------------------------------------------------------------------

    def ftp_STOR(self, file: str, mode: str = "w") -> str | None:
        refusal = self._policy(file)
        if refusal is not None:
            self.respond(refusal)
            return None
        name = os.path.basename(file)
        if ("a" in mode or self._restart_position) and not is_temp_name(name, self.host.temp_suffixes):
            self.respond("553 Resume and append only work on temporary names (*.part, *.tmp).")
            return None
        if not self.host.claim(file):
            # Two sessions writing one file would interleave their bytes.
            self.respond("450 That file is being uploaded by another session; try again later.")
            return None
        self._upload_done()
        result: str | None = super().ftp_STOR(file, mode)
        if result is None:
            self.host.release(file)
            return None
        self._upload_open = file
        self.host.uploading(+1)
        return result

    def _upload_done(self) -> None:
        if self._upload_open is not None:
            self.host.release(self._upload_open)
            self._upload_open = None
            self.host.uploading(-1)

    def finish_upload(self, file_obj: Any, *, tls_eof_clean: bool | None) -> str:
        """Commit a finished STOR/APPE (called in the session thread).

        Args:
            file_obj: the open file the data was written to.
            tls_eof_clean: whether a protected transfer ended with TLS close_notify.

        Returns:
            The reply line to send after the data connection is closed.
        """
        try:
            file_obj.flush()
            path: str = file_obj.name
            name = os.path.basename(path)
            if tls_eof_clean is False and self.host.require_close_notify:
                # RFC 4217 section 10.2 / RFC 8446 section 6.1: without close_notify a cut
                # connection looks like the end of the file; only TLS can tell them apart.
                if not is_temp_name(name, self.host.temp_suffixes):
                    os.unlink(path)
                return (
                    "426 Data connection ended without TLS close_notify; file may be cut short, NOT accepted."
                )
            if is_temp_name(name, self.host.temp_suffixes):
                return "226 Transfer complete; rename it to its final name to hand it over."
            with open(path, "rb") as stored:
                data = stored.read()
            if not data:
                os.unlink(path)
                return "550 File NOT accepted: it is empty."
            reply = self._commit(name, data, self.fs.fs2ftp(path), tls_eof_clean)
            os.unlink(path)
            return reply
        finally:
            self._upload_done()

    def _commit(self, name: str, data: bytes, virtual: str, tls_eof_clean: bool | None) -> str:
        assert self.account is not None
        meta: dict[str, Any] = {
            "account": self.account.username,
            "remote": self.remote_ip,
            "path": virtual,
            "tls": bool(self._ssl_established),
        }
        if tls_eof_clean is not None:
            meta["tls_close_notify"] = tls_eof_clean
        try:
            self.host.commit(self.account, name, data, meta)
        except GatewayError as exc:
            return reply_for(exc)
        return "226 Transfer complete; file accepted."

    def on_incomplete_file_received(self, file: str) -> None:
        # A transfer that did not end with a normal close (ABOR, size cap, lost
        # connection) is never journaled; a final-named half file is removed.
        self._upload_done()
        if not is_temp_name(os.path.basename(file), self.host.temp_suffixes):
            try:
                os.unlink(file)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.error("ftp: could not remove incomplete upload %s: %s", file, exc.strerror)

    def close(self) -> None:
        self._upload_done()
        super().close()

    # -- renames ----------------------------------------------------------------------

    def ftp_RNFR(self, path: str) -> None:
        refusal = self._policy(path)
        if refusal is not None:
            self.respond(refusal)
            return
        super().ftp_RNFR(path)

    def ftp_RNTO(self, path: str) -> tuple[str, str] | None:
        src: str | None = self._rnfr
        if not src:
            self.respond("503 Bad sequence of commands: use RNFR first.")
            return None
        refusal = self._policy(path)
        if refusal is not None:
            self._rnfr = None
            self.respond(refusal)
            return None
        if not self.host.claim(src):
            self._rnfr = None
            self.respond("450 That file is still being uploaded; rename it once the upload has finished.")
            return None
        try:
            name = os.path.basename(path)
            if is_temp_name(name, self.host.temp_suffixes):
                result: tuple[str, str] | None = super().ftp_RNTO(path)
                return result
            self._rnfr = None
            return self._commit_rename(src, path, name)
        finally:
            self.host.release(src)

    def _commit_rename(self, src: str, path: str, name: str) -> tuple[str, str] | None:
        # The commit point of temp+rename: journal under the final name, then drop the temp file.
        try:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            self.respond(f"550 Cannot read {posixpath.basename(self.fs.fs2ftp(src))}: {exc.strerror}.")
            return None
        with os.fdopen(fd, "rb") as stored:
            data = stored.read()
        if not data:
            self.respond("550 File NOT accepted: it is empty.")
            return None
        reply = self._commit(name, data, self.fs.fs2ftp(path), None)
        if reply.startswith("226"):
            os.unlink(src)
            self.respond("250 Renamed; file accepted.")
            return (src, path)
        # The temp file stays, so the partner can rename again later.
        self.respond(reply)
        return None

    def ftp_DELE(self, path: str) -> str | None:
        real_parent = os.path.realpath(os.path.dirname(path))
        root = os.path.realpath(self.fs.root)
        name = os.path.basename(path)
        in_outbound = real_parent == os.path.join(root, OUTBOUND)
        temp_inbound = real_parent == os.path.join(root, INBOUND) and is_temp_name(
            name, self.host.temp_suffixes
        )
        if not (in_outbound or temp_inbound):
            self.respond("553 Not allowed: only files in /outbound and temporary uploads can be deleted.")
            return None
        result: str | None = super().ftp_DELE(path)
        return result


def handler_class(
    host: SessionHost,
    *,
    ssl_context: SSL.Context,
    passive_ports: range | None,
    masquerade_address: str | None,
    idle_timeout: float,
    auth_failure_delay: float,
) -> type[ControlHandler]:
    """A :class:`ControlHandler` subclass bound to one listener's settings.

    pyftpdlib reads its settings from class attributes, so each listener gets
    its own subclass instead of changing the shared base class.

    Args:
        host: the source the sessions report to.
        ssl_context: the server's TLS context.
        passive_ports: ports offered in PASV/EPSV replies (None: any free port).
        masquerade_address: the address put in PASV replies (NAT), or None.
        idle_timeout: seconds a session may stay idle.
        auth_failure_delay: seconds before a failed login is answered.

    Returns:
        The handler class to give the server.
    """
    attrs: dict[str, Any] = {
        "host": host,
        "authorizer": Authorizer(host),
        "ssl_context": ssl_context,
        "passive_ports": passive_ports,
        "masquerade_address": masquerade_address,
        "timeout": idle_timeout,
        "auth_failed_timeout": auth_failure_delay,
        "permit_foreign_addresses": False,
        "permit_privileged_ports": False,
        "banner": "edigate FTP intake ready.",
        "use_sendfile": False,
    }
    return type("ListenerHandler", (ControlHandler,), attrs)


def call_soon_in(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` on ``loop`` without waiting; its own errors are its own to log."""
    asyncio.run_coroutine_threadsafe(coro, loop)


class Counter:
    """A thread-safe counter with a change callback (uploads in flight)."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._lock = threading.Lock()
        self._value = 0
        self._on_change = on_change
        self.changed_at = time.monotonic()

    def add(self, delta: int) -> None:
        """Add ``delta`` and notify."""
        with self._lock:
            self._value += delta
            self.changed_at = time.monotonic()
        self._on_change()

    @property
    def value(self) -> int:
        """The current value."""
        return self._value


__all__ = [
    "Authorizer",
    "ControlHandler",
    "Counter",
    "DataHandler",
    "LoginOutcome",
    "SessionAccount",
    "SessionHost",
    "call_soon_in",
    "handler_class",
    "in_networks",
    "reply_for",
]
