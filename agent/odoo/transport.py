"""How the gateway talks to Odoo: a narrow transport seam and its odoorpc implementation.

Strategy: everything above this module speaks only
``await transport.call(model, method, args, kwargs)`` with explicit ids and
values, so Odoo 19's JSON-2 API (``POST /json/2/<model>/<method>``, named
arguments only; :mod:`agent.odoo.json2`) replaces JSON-RPC without touching the
mapping (``reference/odoo.md`` §5: ``/jsonrpc`` is deprecated in 19, removal planned for 22).

:class:`OdooRpcTransport` drives the real ``odoorpc`` client, which is
synchronous: each call runs in a worker thread of the transport's own pool.
odoorpc has no TLS parameter, so the client certificate travels through the
documented ``opener=`` hook: ``build_opener(<HTTPS handler with our context>,
HTTPCookieProcessor(CookieJar()))`` (the cookie processor must be re-added
because our opener replaces the default one).  The HTTPS handler is
:class:`~agent.odoo.keepalive.KeepAliveHTTPSHandler`, which keeps the mTLS
connection open between RPCs instead of urllib's ``Connection: close``.

Secrets: odoorpc 0.10.1 logs the password in clear text at DEBUG (it sits
inside ``params.args``).  :data:`REDACTING_FILTER` is installed on odoorpc's
logger before the first connection and masks the secret in every record,
whatever level the operator configures.  Never call ``ODOO.save()``: it
writes the password to ``~/.odoorpcrc``.

Error mapping (one place, :func:`map_odoo_errors`)::

    TransientDeliveryError
    └─ OdooUnavailable        connection refused/reset, timeout, HTTP 5xx/429/408, proxy page,
                              psycopg2 serialization/lock/deadlock, Odoo 18 ConcurrencyError
    PermanentDeliveryError
    ├─ OdooRejected           ValidationError, UserError, MissingError, AccessError, ValueError, ...
    │                         (.exception_name, .odoo_message: Odoo's own words)
    └─ OdooAccessDenied       login refused or AccessDenied: fix the credentials
    TlsLinkError (agent.tls)  certificate problems on either side
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import http.client
import json
import logging
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any, Protocol

import odoorpc

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.odoo.keepalive import KeepAliveHTTPHandler, KeepAliveHTTPSHandler
from agent.sinks.https import parse_retry_after
from agent.tls import TlsIdentity, classify_http_refusal, classify_tls_failure, eof_after_handshake_hint

logger = logging.getLogger(__name__)

_MASK = "**********"

#: Odoo exception names (``error.data.name``) that mean "try again": the transaction lost a race.
TRANSIENT_EXCEPTIONS = frozenset(
    {
        "psycopg2.errors.SerializationFailure",
        "psycopg2.extensions.TransactionRollbackError",
        "psycopg2.errors.DeadlockDetected",
        "psycopg2.errors.LockNotAvailable",
        "psycopg2.OperationalError",
        "psycopg2.errors.QueryCanceled",
        "odoo.exceptions.ConcurrencyError",
        "odoo.http.SessionExpiredException",
        "werkzeug.exceptions.ServiceUnavailable",
    }
)
_ACCESS_DENIED = "odoo.exceptions.AccessDenied"


class OdooUnavailable(TransientDeliveryError):
    """Odoo (or the proxy in front of it) cannot take the call right now."""


class OdooRejected(PermanentDeliveryError):
    """Odoo refused the call for a business or data reason.

    Attributes:
        exception_name: Odoo's exception class, e.g. ``odoo.exceptions.ValidationError``.
        odoo_message: Odoo's message as it would show it to a user.
    """

    def __init__(self, message: str, *, exception_name: str, odoo_message: str) -> None:
        super().__init__(message)
        self.exception_name = exception_name
        self.odoo_message = odoo_message


class OdooAccessDenied(PermanentDeliveryError):
    """Odoo refused our login, password or API key (every call would fail alike).

    Attributes:
        link_wide: True, as :class:`agent.tls.TlsLinkError`: hold the queue, do not dead-letter each message.
    """

    link_wide = True


class OdooTransport(Protocol):
    """The seam between the Odoo mapping and the wire protocol."""

    async def call(
        self, model: str, method: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
    ) -> Any:
        """Call ``model.method(*args, **kwargs)`` on the server; raise DeliveryError subclasses."""

    async def aclose(self) -> None:
        """Release threads and connections."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OdooRpcSettings:
    """Where and as whom to reach Odoo over JSON-RPC.

    Attributes:
        host: host name (odoorpc builds ``http[s]://host:port/``; no URL sub-path).
        port: TCP port (443 behind a TLS proxy).
        database: Odoo database name.
        login: the bot user's login.
        secret: its password or, better, an API key; never shown in repr or logs.
        use_tls: ``jsonrpc+ssl`` through the client-certificate opener; plain only for local tests.
        timeout: seconds per HTTP request.
        workers: threads for concurrent calls.
        keep_alive: reuse one connection per worker thread instead of urllib's ``Connection: close``.
    """

    host: str
    port: int
    database: str
    login: str
    secret: str = field(repr=False)
    use_tls: bool = True
    timeout: float = 60.0
    workers: int = 8
    keep_alive: bool = True


class _SecretRedactor(logging.Filter):
    """Masks credentials in odoorpc's log records before any handler sees them."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str) -> None:
        with self._lock:
            if secret:
                self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, Mapping) and isinstance(args.get("data"), Mapping):
            # Never mutate odoorpc's own dict: the SEND record is logged before it is serialised.
            safe: dict[str, Any] = copy.deepcopy(dict(args))
            params = safe["data"].get("params")
            if (
                isinstance(params, dict)
                and isinstance(params.get("args"), list)
                and len(params["args"]) > 2
                and params.get("service") in ("common", "object")
            ):
                params["args"][2] = _MASK  # [db, login|uid, password, ...]
            record.args = safe
        text = record.getMessage()
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, _MASK).replace(json.dumps(secret)[1:-1], _MASK)
        record.msg, record.args = text, None
        return True


#: Installed on odoorpc's logger once; every transport registers its secret here.
REDACTING_FILTER = _SecretRedactor()
_ODOORPC_LOGGERS = ("odoorpc.rpc.jsonrpclib", "odoorpc.rpc", "odoorpc")


def _install_redactor() -> None:
    for name in _ODOORPC_LOGGERS:
        log = logging.getLogger(name)
        if REDACTING_FILTER not in log.filters:
            log.addFilter(REDACTING_FILTER)


def _rpc_error(exc: odoorpc.error.RPCError, *, what: str, settings: OdooRpcSettings) -> Exception:
    info: Mapping[str, Any] = exc.info if isinstance(exc.info, Mapping) else {}
    raw = info.get("data")
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    name = str(data.get("name") or "")
    message = str(data.get("message") or exc)
    if not info and "Wrong login" in message:
        return OdooAccessDenied(
            f"Odoo refused the login of {settings.login!r} on database {settings.database!r}: "
            "wrong login, password or API key"
        )
    if name == _ACCESS_DENIED:
        return OdooAccessDenied(
            f"Odoo denied {what} for {settings.login!r}: "
            "the password or API key was changed, revoked or expired"
        )
    if name in TRANSIENT_EXCEPTIONS or "could not serialize access" in message:
        return OdooUnavailable(
            f"Odoo could not complete {what} right now ({name or 'server error'}): {message}"
        )
    short = name.rsplit(".", 1)[-1] or "error"
    return OdooRejected(
        f"Odoo refused {what} ({short}): {message}", exception_name=name, odoo_message=message
    )


@contextlib.contextmanager
def map_odoo_errors(*, what: str, settings: OdooRpcSettings) -> Iterator[None]:
    """Translate odoorpc/urllib/ssl exceptions into delivery errors (one place).

    Args:
        what: the call, e.g. ``sale.order.create``, for messages.
        settings: for the server name and login in messages (never the secret).

    Raises:
        OdooUnavailable, OdooRejected, OdooAccessDenied, TlsLinkError: see the module docstring.
    """
    server = f"{settings.host}:{settings.port}"
    try:
        yield
    except odoorpc.error.RPCError as exc:
        raise _rpc_error(exc, what=what, settings=settings) from exc
    except odoorpc.error.Error as exc:  # InternalError: odoorpc's own state (e.g. not logged in)
        raise OdooUnavailable(f"odoorpc could not run {what}: {exc}") from exc
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read().decode("utf-8", "replace")
        except OSError:
            body = ""
        finally:
            exc.close()  # the error holds the socket open until closed
        refusal = classify_http_refusal(exc.code, body, server=server)
        if refusal is not None:
            raise refusal from exc
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise OdooUnavailable(
                f"{server} answered HTTP {exc.code} to {what}",
                retry_after=parse_retry_after(exc.headers.get("Retry-After")),
            ) from exc
        raise PermanentDeliveryError(
            f"{server} answered HTTP {exc.code} to {what}: {' '.join(body.split())[:300]}"
        ) from exc
    except (urllib.error.URLError, ssl.SSLError) as exc:
        tls = classify_tls_failure(exc, server=server)
        if tls is not None:
            raise tls from exc
        reason = getattr(exc, "reason", exc)
        hint = eof_after_handshake_hint(exc)
        detail = f" ({hint})" if hint else ""
        raise OdooUnavailable(f"cannot reach Odoo at {server} for {what}: {reason}{detail}") from exc
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise OdooUnavailable(
            f"connection to Odoo at {server} failed during {what}: {exc or type(exc).__name__}"
        ) from exc
    except json.JSONDecodeError as exc:
        raise OdooUnavailable(
            f"{server} answered {what} with something that is not JSON (a proxy error page?)"
        ) from exc
    except KeyError as exc:
        # odoorpc indexes error['data']['message']; a server without it is not Odoo-compatible.
        raise PermanentDeliveryError(
            f"{server} sent a malformed JSON-RPC error for {what} (missing {exc})"
        ) from exc
    except OSError as exc:
        raise OdooUnavailable(f"network error talking to Odoo at {server} during {what}: {exc}") from exc


class OdooRpcTransport:
    """:class:`OdooTransport` over JSON-RPC with the real ``odoorpc`` client.

    Args:
        settings: server, database and credentials.
        identity: our client certificate and pinned CA (required when ``settings.use_tls``).

    Raises:
        ValueError: TLS requested without an identity.
    """

    def __init__(self, settings: OdooRpcSettings, *, identity: TlsIdentity | None = None) -> None:
        if settings.use_tls and identity is None:
            raise ValueError("an Odoo transport over TLS needs a TlsIdentity")
        self.settings = settings
        self._identity = identity
        self._odoo: Any = None
        self._keepalive: KeepAliveHTTPHandler | KeepAliveHTTPSHandler | None = None
        self._connect_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="odoo-rpc")
        _install_redactor()
        REDACTING_FILTER.register(settings.secret)

    @property
    def identity(self) -> TlsIdentity | None:
        """The TLS identity presented to Odoo, if any."""
        return self._identity

    def __repr__(self) -> str:
        s = self.settings
        return f"OdooRpcTransport({s.login}@{s.host}:{s.port}/{s.database})"

    def _opener(self) -> urllib.request.OpenerDirector:
        # Our opener replaces odoorpc's default one, so the cookie processor is ours to add.
        handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPCookieProcessor(CookieJar())]
        self._close_connections()
        s = self.settings
        if s.use_tls and self._identity is not None:
            if s.keep_alive:
                self._keepalive = KeepAliveHTTPSHandler(self._identity.context)
                handlers.append(self._keepalive)
            else:
                handlers.append(urllib.request.HTTPSHandler(context=self._identity.context))
        elif s.keep_alive:
            self._keepalive = KeepAliveHTTPHandler()
            handlers.append(self._keepalive)
        return urllib.request.build_opener(*handlers)

    def _close_connections(self) -> None:
        if self._keepalive is not None:
            self._keepalive.close_all()
            self._keepalive = None

    def _session(self) -> Any:
        with self._connect_lock:
            if self._identity is not None and self._identity.refresh():
                self._odoo = None  # rotated certificate: reconnect with the new context
            if self._odoo is None:
                s = self.settings
                with map_odoo_errors(what="login", settings=s):
                    odoo = odoorpc.ODOO(
                        s.host,
                        protocol="jsonrpc+ssl" if s.use_tls else "jsonrpc",
                        port=s.port,
                        timeout=s.timeout,
                        opener=self._opener(),
                    )
                    odoo.login(s.database, s.login, s.secret)
                logger.info("connected to Odoo %s at %s:%s as %s", odoo.version, s.host, s.port, s.login)
                self._odoo = odoo
            return self._odoo

    def _call_sync(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        odoo = self._session()
        with map_odoo_errors(what=f"{model}.{method}", settings=self.settings):
            return odoo.execute_kw(model, method, args, kwargs)

    async def call(
        self, model: str, method: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None
    ) -> Any:
        """Call ``model.method`` with positional ``args`` and keyword ``kwargs``.

        Args:
            model: e.g. ``sale.order``.
            method: e.g. ``search``.
            args: positional arguments (ids first for record methods).
            kwargs: keyword arguments, ``context`` included when wanted.

        Returns:
            Odoo's result (None when Odoo returned nothing).

        Raises:
            DeliveryError: see :func:`map_odoo_errors`.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self._call_sync, model, method, list(args), dict(kwargs or {})
        )

    async def version(self) -> str:
        """Connect (and log in) if needed and return the server version string.

        Raises:
            DeliveryError: see :func:`map_odoo_errors`.
        """
        loop = asyncio.get_running_loop()
        odoo = await loop.run_in_executor(self._pool, self._session)
        return str(odoo.version)

    async def aclose(self) -> None:
        """Forget the session and stop the worker threads."""
        self._odoo = None
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown)
        self._close_connections()


__all__ = [
    "REDACTING_FILTER",
    "TRANSIENT_EXCEPTIONS",
    "OdooAccessDenied",
    "OdooRejected",
    "OdooRpcSettings",
    "OdooRpcTransport",
    "OdooTransport",
    "OdooUnavailable",
    "map_odoo_errors",
]
