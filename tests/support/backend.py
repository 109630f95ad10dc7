"""A tiny HTTP backend behind nginx that records what reached it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request the backend received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Reply:
    """What the backend answers."""

    status: int = 200
    body: bytes = b'{"status":"accepted"}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class RecordingBackend:
    """Plain HTTP/1.1 keep-alive server on 127.0.0.1 that records requests.

    Args:
        reply: returns the answer for each request (default: 200 JSON).
        record: keep the requests (the benchmark turns this off).
    """

    def __init__(self, reply: Callable[[SeenRequest], Reply] | None = None, *, record: bool = True) -> None:
        self.requests: list[SeenRequest] = []
        self.count = 0
        self._lock = threading.Lock()
        self._reply = reply or (lambda _req: Reply())
        self._record = record
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def log_message(self, format: str, *args: object) -> None:
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = SeenRequest(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with backend._lock:
                    backend.count += 1
                    if backend._record:
                        backend.requests.append(seen)
                answer = backend._reply(seen)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_POST = do_HEAD = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> RecordingBackend:
        """Start serving in a thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RecordingBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
