"""Real TLS peers for the mTLS tests: nginx requiring client certificates, and ``openssl s_server``.

Both listen on a free 127.0.0.1 port and are stopped by the test that
started them.  A missing binary raises :class:`PeerUnavailable` (the test
fails with that message; it is never skipped).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

#: How long a peer may take to start listening before the test fails.
START_TIMEOUT = 15.0

NGINX_CONF = """\
{user}
pid {work}/nginx.pid;
error_log {work}/error.log info;
worker_processes 1;
events {{ worker_connections 512; }}
http {{
  log_format edigate '$connection $connection_requests $server_protocol $status $ssl_client_verify';
  access_log {work}/access.log edigate;
  client_body_temp_path {work}/t/body; proxy_temp_path {work}/t/proxy;
  fastcgi_temp_path {work}/t/fastcgi; uwsgi_temp_path {work}/t/uwsgi; scgi_temp_path {work}/t/scgi;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port} ssl{http2};
    ssl_certificate {server_cert}; ssl_certificate_key {server_key};
    ssl_client_certificate {client_ca};
    ssl_verify_client on;
    location / {{
{location}
    }}
  }}
}}
"""

PROXY_LOCATION = """\
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
      proxy_set_header X-SSL-Client-S-DN $ssl_client_s_dn;"""
# nginx answers by itself: the TLS link and the client are all that is measured.
STATIC_LOCATION = """\
      default_type application/json;
      return 200 '{"status":"accepted"}';"""


class PeerUnavailable(RuntimeError):
    """A binary the test needs is not installed, or the peer did not start."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(name: str, package: str) -> str:
    """Find ``name`` on PATH (or /usr/sbin) or raise a plain message.

    Args:
        name: the executable.
        package: the Debian package that ships it.

    Returns:
        The absolute path.

    Raises:
        PeerUnavailable: not installed.
    """
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise PeerUnavailable(f"{name} is not installed: apt-get install {package} (the mTLS tests need it)")
    return path


def _wait_listening(port: int, proc: subprocess.Popen[bytes], describe: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise PeerUnavailable(f"{describe} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise PeerUnavailable(f"{describe} did not listen on 127.0.0.1:{port} within {START_TIMEOUT} s")


@dataclass(frozen=True, slots=True, kw_only=True)
class NginxSettings:
    """What one nginx instance verifies and where it forwards."""

    server_cert: Path
    server_key: Path
    client_ca: Path
    upstream_port: int | None  #: None: nginx answers 200 itself (benchmarks)
    http2: bool = True


class Nginx:
    """nginx in the foreground with ``ssl_verify_client on`` in front of a local backend.

    Args:
        settings: certificates and upstream.
    """

    def __init__(self, settings: NginxSettings) -> None:
        self.settings = settings
        self.port = 0
        self.work = Path()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the TLS listener."""
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        """Write the config, start nginx and wait until it accepts connections.

        Returns:
            self.

        Raises:
            PeerUnavailable: nginx missing, config rejected, or not listening in time.
        """
        binary = require_binary("nginx", "nginx")
        self.work = Path(tempfile.mkdtemp(prefix="edigate-nginx-"))
        os.chmod(self.work, 0o755)
        temp = self.work / "t"
        temp.mkdir()
        user = ""
        if os.geteuid() == 0:
            # As root nginx drops its workers to nobody; they must be able to use the temp dirs.
            user = "user nobody nogroup;"
            nobody = pwd.getpwnam("nobody")
            for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (temp / sub).mkdir()
                os.chown(temp / sub, nobody.pw_uid, nobody.pw_gid)
        self.port = free_port()
        s = self.settings
        conf = NGINX_CONF.format(
            user=user,
            work=self.work,
            port=self.port,
            upstream_port=s.upstream_port or 9,
            location=PROXY_LOCATION if s.upstream_port else STATIC_LOCATION,
            http2=" http2" if s.http2 else "",
            server_cert=s.server_cert,
            server_key=s.server_key,
            client_ca=s.client_ca,
        )
        (self.work / "nginx.conf").write_text(conf)
        cmd = [
            binary,
            "-p",
            str(self.work),
            "-c",
            str(self.work / "nginx.conf"),
            "-e",
            str(self.work / "error.log"),
        ]
        check = subprocess.run([*cmd, "-t"], capture_output=True, check=False)
        if check.returncode != 0:
            raise PeerUnavailable(f"nginx rejected the test config: {check.stderr.decode(errors='replace')}")
        self._proc = subprocess.Popen(
            [*cmd, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _wait_listening(self.port, self._proc, "nginx")
        return self

    def access_log(self) -> list[list[str]]:
        """Access log lines split into fields: connection, request on it, protocol, status, client verify."""
        path = self.work / "access.log"
        return [line.split() for line in path.read_text().splitlines()] if path.exists() else []

    def access_log_after(self, before: int, count: int, timeout: float = 10.0) -> list[list[str]]:
        """The lines after the first ``before``, once there are ``count`` of them (or the timeout).

        nginx writes a request's line after it has sent the response, so a client
        can hold its answer before the line is in the file.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = self.access_log()[before:]
            if len(lines) >= count or time.monotonic() >= deadline:
                return lines
            time.sleep(0.02)

    def error_log(self) -> str:
        """The nginx error log so far (for assertion messages)."""
        path = self.work / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop nginx gracefully and remove its work directory."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGQUIT)
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            self._proc = None
        if self.work != Path() and self.work.exists():
            shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class OpenSslServer:
    """``openssl s_server -Verify 2 -verify_return_error -www``: refuses bad client certs with a TLS alert.

    Args:
        cert: server certificate.
        key: server key.
        client_ca: CA that must have signed the client certificate.
    """

    def __init__(self, *, cert: Path, key: Path, client_ca: Path) -> None:
        self._args = (cert, key, client_ca)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: list[str] = []
        self._pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the listener."""
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> OpenSslServer:
        """Start s_server and wait for its ``ACCEPT`` line (a probe connection would use up a handshake).

        Returns:
            self.

        Raises:
            PeerUnavailable: openssl missing or not ready in time.
        """
        binary = require_binary("openssl", "openssl")
        cert, key, ca = self._args
        self.port = free_port()
        self._proc = subprocess.Popen(
            [
                binary,
                "s_server",
                "-accept",
                f"127.0.0.1:{self.port}",
                "-cert",
                str(cert),
                "-key",
                str(key),
                "-CAfile",
                str(ca),
                "-Verify",
                "2",
                "-verify_return_error",
                "-www",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for raw in self._proc.stdout:
                line = raw.decode(errors="replace")
                self._output.append(line)
                if line.startswith("ACCEPT"):
                    ready.set()
            ready.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        if not ready.wait(START_TIMEOUT) or self._proc.poll() is not None:
            raise PeerUnavailable(f"openssl s_server did not start: {''.join(self._output)}")
        return self

    def output(self) -> str:
        """Everything s_server printed (verify errors, accepted handshakes)."""
        return "".join(self._output)

    def stop(self) -> None:
        """Terminate s_server."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                self._proc.wait(timeout=10)
            if self._pump is not None:
                self._pump.join(timeout=10)  # EOF after exit ends the pump
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None

    def __enter__(self) -> OpenSslServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
