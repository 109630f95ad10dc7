"""The control socket: newline-delimited JSON over a Unix socket (mode 0600).

One request per connection: ``{"command": "status"}`` → one JSON answer.
Only the service user (and root) can connect; the socket carries no secrets
but lets its caller trigger replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .errors import ControlError

log = logging.getLogger("edigate.control")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
_MAX_REQUEST = 64 * 1024


async def serve_control(path: Path, handler: Handler) -> asyncio.AbstractServer:
    """Listen on ``path`` and answer each request with ``handler``."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            if len(line) > _MAX_REQUEST:
                answer: dict[str, Any] = {"ok": False, "error": "request too large"}
            else:
                try:
                    request = json.loads(line or b"{}")
                    answer = await handler(request)
                except json.JSONDecodeError as exc:
                    answer = {"ok": False, "error": f"bad request: {exc}"}
            writer.write(json.dumps(answer, default=str).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("control client went away: %s", exc)
        finally:
            writer.close()

    old = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(on_client, path=str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return server


def request(path: Path, command: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one command to a running daemon (blocking; for the CLI).

    Raises:
        FileNotFoundError / ConnectionRefusedError: no daemon is listening.
        ControlError: it answered something unreadable or too slowly.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(command).encode() + b"\n")
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError as exc:
            raise ControlError(f"the daemon did not answer within {timeout} s") from exc
    try:
        answer = json.loads(b"".join(chunks))
    except json.JSONDecodeError as exc:
        raise ControlError(f"unreadable answer from the daemon: {exc}") from exc
    if not isinstance(answer, dict):
        raise ControlError("unreadable answer from the daemon")
    return answer


__all__ = ["request", "serve_control"]
