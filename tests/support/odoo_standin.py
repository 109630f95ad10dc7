"""An Odoo 17 stand-in that speaks Odoo's JSON-RPC well enough for the real ``odoorpc``.

Faithful to ``/work/shared/reference/odoo.md``:

* ``POST /web/webclient/version_info`` and ``POST /jsonrpc`` (services
  ``common``: ``version``/``login``/``authenticate``; ``object``:
  ``execute``/``execute_kw``; ``db``: ``list``), always HTTP 200 with
  ``{"jsonrpc":"2.0","id":…,"result":…}`` and ``result`` left out for ``None``;
* errors in Odoo's shape (``code`` 200, ``message`` "Odoo Server Error",
  ``data.name`` = ``odoo.exceptions.ValidationError`` …);
* db/uid/secret checked on every ``object`` call (password or API key),
  private methods refused, unknown models/fields/methods answered like Odoo;
* ``read`` with ``load="_classic_write"`` gives plain ids for many2one,
  otherwise ``[id, display_name]``; empty values are ``false``.

State lives in memory behind one lock (every call is its own transaction, as
in Odoo).  Test hooks: :meth:`OdooStandin.fail_http` (HTTP 5xx from a proxy),
:meth:`OdooStandin.fail_rpc` (any Odoo exception on a matching call),
:attr:`OdooStandin.latency`, and :meth:`OdooStandin.stop` for "refused".
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.odoo_store import OdooFault, OdooStore


@dataclass(frozen=True, slots=True)
class Call:
    """One RPC the stand-in received (for assertions)."""

    service: str
    method: str
    model: str | None = None
    model_method: str | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _RpcFailure:
    name: str
    message: str
    count: int
    model: str | None
    method: str | None


@dataclass(slots=True)
class _HttpFailure:
    status: int
    count: int
    body: bytes
    headers: dict[str, str]


class OdooStandin(OdooStore):
    """The stand-in server.

    Args:
        db: database name.
        login: the gateway's user login.
        password: its password.
        api_keys: API keys accepted in place of the password.
        version: the ``server_version`` announced.
        tls: serve HTTPS with this server context (``verify_mode = CERT_REQUIRED`` to demand a
            client certificate, as reference/odoo.md §4 checks); plain HTTP when None.
    """

    def __init__(
        self,
        *,
        db: str = "edi",
        login: str = "gateway",
        password: str = "s3cret",
        api_keys: tuple[str, ...] = (),
        version: str = "17.0",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(login=login)
        self.db, self.password, self.version = db, password, version
        self.api_keys = set(api_keys)
        self.latency = 0.0
        self.calls: list[Call] = []
        self._rpc_failures: list[_RpcFailure] = []
        self._http_failures: list[_HttpFailure] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.port = 0
        self._tls = tls
        #: Client certificate subjects seen on TLS connections (RFC 4514-ish, CN only).
        self.peer_subjects: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL (plain HTTP unless started with ``tls``)."""
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> OdooStandin:
        """Listen on 127.0.0.1 (a free port unless given) and serve in a thread."""
        self._server = _Server(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        if self._tls is not None:
            # The handshake runs in the handler thread, so a refused client cannot stall accept().
            self._server.socket = self._tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: later connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Kept-alive connections outlive the listener; a stopped Odoo must not answer on them.
        self.drop_connections()

    def drop_connections(self) -> None:
        """Close every open client connection, as a proxy's idle timeout would."""
        with self._lock:
            for connection in list(self._connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> OdooStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test hooks --------------------------------------------------------------------------

    def fail_rpc(
        self, name: str, message: str, *, count: int = 1, model: str | None = None, method: str | None = None
    ) -> None:
        """Make the next ``count`` matching object calls raise Odoo exception ``name``."""
        with self._lock:
            self._rpc_failures.append(_RpcFailure(name, message, count, model, method))

    def fail_http(
        self,
        status: int = 503,
        *,
        count: int = 1,
        body: bytes = b"<html>Service Unavailable</html>",
        retry_after: str | None = None,
    ) -> None:
        """Answer the next ``count`` HTTP requests with ``status`` (as a proxy in front of Odoo would)."""
        headers = {"Content-Type": "text/html"}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        with self._lock:
            self._http_failures.append(_HttpFailure(status, count, body, headers))

    def model_calls(self, model: str, method: str | None = None) -> list[Call]:
        """Object calls received on ``model`` (optionally only ``method``)."""
        return [c for c in self.calls if c.model == model and (method is None or c.model_method == method)]

    # -- HTTP --------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, format: str, *args: object) -> None:
                return

            def setup(self) -> None:
                if isinstance(self.request, ssl.SSLSocket):
                    try:
                        self.request.do_handshake()
                    except (ssl.SSLError, OSError):
                        _linger(self.request)
                        raise
                    peer = self.request.getpeercert() or {}
                    subject = dict(rdn[0] for rdn in peer.get("subject", ()))  # type: ignore[misc]
                    with standin._lock:
                        standin.peer_subjects.append(str(subject.get("commonName", "")))
                super().setup()
                with standin._lock:
                    standin._connections.add(self.connection)

            def finish(self) -> None:
                with standin._lock:
                    standin._connections.discard(self.connection)
                super().finish()

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/web/version":  # Odoo 19
                    major, _, minor = standin.version.partition(".")
                    info = {
                        "version_info": [int(major), int(minor or 0), 0, "final", 0, ""],
                        "version": standin.version,
                    }
                    self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
                    return
                self._send(404, b"<html><title>404 Not Found</title></html>", {"Content-Type": "text/html"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/json/2/"):
                    status, body, headers = standin._json2(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, raw
                    )
                else:
                    status, body, headers = standin._http(
                        self.path, self.headers.get("Content-Type", ""), raw
                    )
                self._send(status, body, headers)

        return Handler

    def _http(self, path: str, content_type: str, raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            if self._http_failures:
                failure = self._http_failures[0]
                failure.count -= 1
                if failure.count <= 0:
                    self._http_failures.pop(0)
                return failure.status, failure.body, failure.headers
        if path not in ("/jsonrpc", "/web/webclient/version_info"):
            return 404, b"<html><title>404 Not Found</title></html>", {"Content-Type": "text/html"}
        if not content_type.startswith("application/json"):
            message = (
                f"Request inferred type is compatible with ['http'] but '{path}' is type='json'."
            ).encode()
            return (
                400,
                b"<html><title>400 Bad Request</title><p>" + message + b"</p></html>",
                {"Content-Type": "text/html"},
            )
        try:
            request = json.loads(raw)
            params = request.get("params") or {}
        except (ValueError, AttributeError):
            return 400, b"<html><title>400 Bad Request</title></html>", {"Content-Type": "text/html"}
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
        try:
            result = self._version_info() if path != "/jsonrpc" else self._dispatch(params)
        except OdooFault as fault:
            reply["error"] = {
                "code": 200,
                "message": "Odoo Server Error",
                "data": {
                    "name": fault.name,
                    "debug": f"Traceback (most recent call last):\n{fault.name}: {fault.message}",
                    "message": fault.message,
                    "arguments": [fault.message],
                    "context": {},
                },
            }
        else:
            if result is not None:  # Odoo omits "result" for None (odoo/http.py _response)
                reply["result"] = result
        headers = {"Content-Type": "application/json"}
        if path != "/jsonrpc":
            headers["Set-Cookie"] = "session_id=standin; HttpOnly; Path=/"
        return 200, json.dumps(reply).encode(), headers

    def _json2(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        """Odoo 19 ``POST /json/2/<model>/<method>``: bearer API key, named arguments, bare results."""
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            if self._http_failures:
                failure = self._http_failures[0]
                failure.count -= 1
                if failure.count <= 0:
                    self._http_failures.pop(0)
                return failure.status, failure.body, failure.headers
        _, _, rest = path.partition("/json/2/")
        model, _, method = rest.partition("/")

        def error(status: int, name: str, message: str) -> tuple[int, bytes, dict[str, str]]:
            body = {
                "name": name,
                "message": message,
                "arguments": [message],
                "context": {},
                "debug": f"Traceback (most recent call last):\n{name}: {message}",
            }
            return status, json.dumps(body).encode(), {"Content-Type": "application/json"}

        auth = headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or key not in self.api_keys:
            return error(401, "werkzeug.exceptions.Unauthorized", "Invalid apikey")
        database = headers.get("x-odoo-database")
        if database is not None and database != self.db:
            return error(404, "werkzeug.exceptions.NotFound", f"database {database!r} not found")
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError as exc:
            return error(400, "werkzeug.exceptions.BadRequest", str(exc))
        ids = body.pop("ids", None)
        args = [ids] if ids is not None else []
        with self._lock:
            self.calls.append(Call("json2", method, model, method, copy.deepcopy(args), copy.deepcopy(body)))
            try:
                self._injected(model, method)
                if method == "create":
                    result = self._call(model, method, args, body)
                    result = [result] if isinstance(result, int) else result  # a recordset's ids
                else:
                    result = self._call(model, method, args, body)
            except OdooFault as fault:
                status = {
                    "odoo.exceptions.AccessDenied": 403,
                    "odoo.exceptions.AccessError": 403,
                    "odoo.exceptions.MissingError": 404,
                    "odoo.exceptions.UserError": 422,
                    "odoo.exceptions.ValidationError": 422,
                    "builtins.AttributeError": 404,
                }.get(fault.name, 500)
                if fault.message.startswith("Object ") and fault.message.endswith("doesn't exist"):
                    status = 404
                return error(status, fault.name, fault.message)
        return 200, json.dumps(result).encode(), {"Content-Type": "application/json"}

    def _version_info(self) -> dict[str, Any]:
        major, _, minor = self.version.partition(".")
        return {
            "server_version": self.version,
            "server_version_info": [int(major), int(minor or 0), 0, "final", 0, ""],
            "server_serie": self.version,
            "protocol_version": 1,
        }

    # -- services ----------------------------------------------------------------------------

    def _dispatch(self, params: dict[str, Any]) -> Any:
        service, method = params.get("service"), params.get("method")
        args = list(params.get("args") or [])
        if service == "common":
            self.calls.append(Call("common", str(method)))
            if method == "version":
                return self._version_info()
            if method in ("login", "authenticate"):
                db, login, secret = args[0], args[1], args[2]
                ok = db == self.db and login == self.login and self._secret_ok(secret)
                return self.uid if ok else False
            raise OdooFault("builtins.AttributeError", f"module 'common' has no attribute {method!r}")
        if service == "db" and method == "list":
            return [self.db]
        if service != "object" or method not in ("execute", "execute_kw"):
            raise OdooFault("builtins.KeyError", f"Unknown service or method {service}.{method}")
        db, uid, secret, model, model_method = args[:5]
        rest = args[5:]
        call_args = list(rest[0]) if method == "execute_kw" and rest else list(rest)
        kwargs = dict(rest[1]) if method == "execute_kw" and len(rest) > 1 and rest[1] else {}
        with self._lock:
            self.calls.append(
                Call("object", method, model, model_method, copy.deepcopy(call_args), copy.deepcopy(kwargs))
            )
            if db != self.db:
                raise OdooFault("psycopg2.OperationalError", f'FATAL:  database "{db}" does not exist')
            if uid != self.uid or not self._secret_ok(secret):
                raise OdooFault("odoo.exceptions.AccessDenied", "Access Denied")
            self._injected(model, model_method)
            return self._call(model, model_method, call_args, kwargs)

    def _secret_ok(self, secret: Any) -> bool:
        return secret == self.password or secret in self.api_keys

    def _injected(self, model: str, method: str) -> None:
        for failure in self._rpc_failures:
            if failure.model in (None, model) and failure.method in (None, method):
                failure.count -= 1
                if failure.count <= 0:
                    self._rpc_failures.remove(failure)
                raise OdooFault(failure.name, failure.message)


def _linger(sock: socket.socket) -> None:
    """After a refused handshake, let the TLS alert reach the client before closing.

    Closing a socket with unread client data makes the kernel send RST, which can overtake
    the alert; a real proxy drains first.  Send FIN, then read until the client hangs up.
    """
    raw = socket.socket(fileno=os.dup(sock.fileno()))
    try:
        raw.shutdown(socket.SHUT_WR)
        raw.settimeout(2.0)
        while raw.recv(65536):
            pass
    except OSError:
        pass  # the client went away first: nothing left to protect
    finally:
        raw.close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client refused during the TLS handshake, or one that hung up, is expected in
        # tests; anything else is a stand-in bug and keeps its traceback.
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            super().handle_error(request, client_address)


__all__ = ["Call", "OdooFault", "OdooStandin"]
