"""Persistent HTTP(S) connections for odoorpc's urllib opener.

Why: urllib sends ``Connection: close`` on every request, so through the mTLS
proxy each Odoo RPC pays a TCP and TLS handshake (a sale order takes five or
more RPCs).  These handlers keep one connection per worker thread and host
open and reuse it, the way ``http.client`` allows.

Rules that keep reuse safe:

* a connection is reused only when the previous response was read to the end
  (odoorpc reads every body; an HTTP error page may not be);
* a connection idle longer than ``idle_timeout`` is replaced before use, so
  we do not race a proxy's keep-alive timeout (nginx: 75 s);
* a *reused* connection that turns out to be closed by the peer before any
  response byte (``RemoteDisconnected``, reset, broken pipe) is replaced and
  the request sent once more.  The peer closed an idle connection, so it never
  processed the first copy; and the mapping looks before it creates anyway.

Failures are wrapped in ``urllib.error.URLError`` exactly as urllib's own
``do_open`` does, so callers see the same exceptions either way.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

#: Replace a connection idle this long (seconds), below common proxy keep-alive timeouts.
DEFAULT_IDLE_TIMEOUT = 20.0

_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@dataclass(slots=True)
class _Slot:
    connection: http.client.HTTPConnection
    response: http.client.HTTPResponse | None
    used_at: float


class _KeepAliveMixin:
    """Per-thread connection cache shared by the HTTP and HTTPS handlers."""

    def _init_cache(self, idle_timeout: float) -> None:
        self._idle_timeout = idle_timeout
        self._local = threading.local()
        self._every_thread: list[dict[str, _Slot]] = []
        self._registry_lock = threading.Lock()

    def _slots(self) -> dict[str, _Slot]:
        slots: dict[str, _Slot] | None = getattr(self._local, "slots", None)
        if slots is None:
            slots = self._local.slots = {}
            with self._registry_lock:
                self._every_thread.append(slots)
        return slots

    def _new_connection(self, host: str, timeout: float | None) -> http.client.HTTPConnection:
        raise NotImplementedError

    def _checkout(self, host: str, timeout: float | None) -> tuple[http.client.HTTPConnection, bool]:
        slots = self._slots()
        slot = slots.get(host)
        if slot is not None:
            fresh_enough = time.monotonic() - slot.used_at < self._idle_timeout
            drained = slot.response is None or slot.response.isclosed()
            if fresh_enough and drained and slot.connection.sock is not None:
                if timeout is None or isinstance(timeout, (int, float)):
                    slot.connection.timeout = timeout
                    slot.connection.sock.settimeout(timeout)
                return slot.connection, True
            slot.connection.close()
            del slots[host]
        return self._new_connection(host, timeout), False

    def _open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        host = req.host
        if not host:
            raise urllib.error.URLError("no host given")
        headers = {name.title(): value for name, value in {**req.unredirected_hdrs, **req.headers}.items()}
        headers.pop("Connection", None)  # keep-alive is HTTP/1.1's default
        timeout = getattr(req, "timeout", None)
        for attempt in (1, 2):
            connection, reused = self._checkout(host, timeout)
            try:
                connection.request(req.get_method(), req.selector, req.data, headers)
                response = connection.getresponse()
            except _STALE as exc:
                connection.close()
                self._slots().pop(host, None)
                if reused and attempt == 1:
                    continue  # the peer had closed the idle connection: it never saw this request
                raise urllib.error.URLError(exc) from exc
            except OSError as exc:  # includes ssl.SSLError and timeouts, as urllib's do_open
                connection.close()
                self._slots().pop(host, None)
                raise urllib.error.URLError(exc) from exc
            self._slots()[host] = _Slot(connection, response, time.monotonic())
            response.url = req.get_full_url()  # what urllib's do_open sets
            response.msg = response.reason  # type: ignore[assignment]
            return response
        raise AssertionError("unreachable: the second attempt returns or raises")

    def close_all(self) -> None:
        """Close every cached connection; call once the threads using this handler are done."""
        with self._registry_lock:
            for slots in self._every_thread:
                for slot in slots.values():
                    slot.connection.close()
                slots.clear()


class KeepAliveHTTPSHandler(_KeepAliveMixin, urllib.request.HTTPSHandler):
    """``https://`` with persistent connections and our client-certificate context.

    Args:
        context: the client ``SSLContext`` (our certificate, pinned CA, hostname check).
        idle_timeout: replace connections idle longer than this (seconds).
    """

    def __init__(self, context: ssl.SSLContext, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        super().__init__(context=context)
        self._tls_context = context
        self._init_cache(idle_timeout)

    def _new_connection(self, host: str, timeout: float | None) -> http.client.HTTPConnection:
        return http.client.HTTPSConnection(host, timeout=timeout, context=self._tls_context)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        """Open ``req`` on a kept-alive connection (urllib handler hook)."""
        return self._open(req)


class KeepAliveHTTPHandler(_KeepAliveMixin, urllib.request.HTTPHandler):
    """``http://`` with persistent connections (local tests and loopback deployments).

    Args:
        idle_timeout: replace connections idle longer than this (seconds).
    """

    def __init__(self, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        super().__init__()
        self._init_cache(idle_timeout)

    def _new_connection(self, host: str, timeout: float | None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(host, timeout=timeout)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        """Open ``req`` on a kept-alive connection (urllib handler hook)."""
        return self._open(req)


__all__ = ["DEFAULT_IDLE_TIMEOUT", "KeepAliveHTTPHandler", "KeepAliveHTTPSHandler"]
