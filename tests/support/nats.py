"""A real ``nats-server -js`` for the NATS tests: TLS with client verification, JetStream on disk.

The server listens on a free 127.0.0.1 port, keeps its JetStream store in a
folder the test owns (so a restart finds the same streams and messages), and
maps each client certificate to a user (``verify_and_map``) whose
permissions are those the deployment notes (``agent/downlink/nats_deployment.md``)
give a site: publish only under ``edigate.<site>.``, pull only its own durable
consumer.  Certificates come from :func:`make_nats_pki` (trustme), independent
of ``tests/support/pki.py``.

A missing ``nats-server`` raises :class:`NatsUnavailable`; tests fail with that
message, never skip.  Every start is paired with a stop that kills the
process even when the test failed (context manager / ``try/finally``).
"""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import nats
import trustme
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

#: How long the server may take to accept connections before the test fails.
START_TIMEOUT = 20.0
#: Stream names the tests (and the deployment notes) use.
UPLINK_STREAM = "EDIGATE"
DOWNLINK_STREAM = "EDIGATE_OUTBOUND"
#: The admin identity (the cloud side in the tests: creates streams, consumes the fan-in).
ADMIN_NAME = "cloud-admin.example"


class NatsUnavailable(RuntimeError):
    """``nats-server`` is not installed; CI installs the Debian package ``nats-server``."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A client certificate and its key."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class NatsPki:
    """The CA pinned by clients, the CA the server verifies clients with, and client identities."""

    server_ca: Path  #: clients pin this to verify the server
    client_ca: Path  #: the server verifies client certificates against this
    server: Identity
    admin: Identity  #: full permissions (the cloud consumer service in tests)
    sites: dict[str, Identity]  #: one identity per site, DNS SAN ``gateway-<site>.example``
    rogue: Identity  #: a client certificate from a CA the server does not know


def site_user(site: str) -> str:
    """The user name ``verify_and_map`` derives from a site's certificate (its DNS SAN)."""
    return f"gateway-{site}.example"


def make_nats_pki(directory: Path, sites: tuple[str, ...] = ("alpha", "beta")) -> NatsPki:
    """Write a server CA, a client CA, the server certificate and one client certificate per site.

    Args:
        directory: an existing folder.
        sites: site names to issue certificates for.
    """
    server_ca, client_ca, rogue_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server_ca.cert_pem.write_to_path(str(directory / "nats-server-ca.pem"))
    client_ca.cert_pem.write_to_path(str(directory / "nats-client-ca.pem"))

    def leaf(ca: trustme.CA, name: str, *hosts: str) -> Identity:
        issued = ca.issue_cert(*hosts)
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        issued.private_key_pem.write_to_path(str(key))
        key.chmod(0o600)  # the gateway refuses a private key readable by others
        return Identity(cert=cert, key=key)

    return NatsPki(
        server_ca=directory / "nats-server-ca.pem",
        client_ca=directory / "nats-client-ca.pem",
        server=leaf(server_ca, "nats-server", "127.0.0.1", "localhost"),
        admin=leaf(client_ca, "nats-admin", ADMIN_NAME),
        sites={site: leaf(client_ca, f"nats-{site}", site_user(site)) for site in sites},
        rogue=leaf(rogue_ca, "nats-rogue", site_user(sites[0])),
    )


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _site_permissions(site: str) -> str:
    durable = f"edigate-{site}"
    return f"""{{
        user: "{site_user(site)}"
        permissions: {{
          publish: {{
            allow: [
              "edigate.{site}.>",
              "$JS.API.STREAM.INFO.{UPLINK_STREAM}",
              "$JS.API.STREAM.INFO.{DOWNLINK_STREAM}",
              "$JS.API.CONSUMER.INFO.{DOWNLINK_STREAM}.{durable}",
              "$JS.API.CONSUMER.MSG.NEXT.{DOWNLINK_STREAM}.{durable}",
              "$JS.ACK.{DOWNLINK_STREAM}.{durable}.>"
            ]
            deny: ["edigate.{site}.outbound.>"]
          }}
          subscribe: {{ allow: ["_INBOX.>"] }}
        }}
      }}"""


class NatsServer:
    """``nats-server -js`` with mutual TLS, in a child process.

    Args:
        work: folder for the config, the log and the JetStream store (kept across restarts).
        pki: certificates from :func:`make_nats_pki`.
        port: fixed port (a restart reuses the first one); default: a free one.
    """

    def __init__(self, work: Path, pki: NatsPki, *, port: int | None = None) -> None:
        binary = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/bin")
        if binary is None:
            raise NatsUnavailable(
                "nats-server is not installed: apt-get install nats-server (CI installs it); "
                "the NATS tests need a real server and are never skipped"
            )
        self.binary = binary
        self.work = work
        self.pki = pki
        self.port = port or free_port()
        self.store = work / "jetstream"
        self.config = work / "nats.conf"
        self.log = work / "nats.log"
        self.proc: subprocess.Popen[bytes] | None = None
        work.mkdir(parents=True, exist_ok=True)
        users = ",\n      ".join(
            [f'{{ user: "{ADMIN_NAME}" }}'] + [_site_permissions(site) for site in pki.sites]
        )
        self.config.write_text(
            f"""
listen: 127.0.0.1:{self.port}
server_name: edigate-test
jetstream {{ store_dir: "{self.store}", max_memory_store: 64MB, max_file_store: 1GB }}
tls {{
  cert_file: "{pki.server.cert}"
  key_file: "{pki.server.key}"
  ca_file: "{pki.client_ca}"
  verify_and_map: true
  timeout: 5
}}
authorization {{
  users: [
      {users}
  ]
}}
""",
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        """The client URL (``tls://``: the client must upgrade)."""
        return f"tls://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it accepts TLS connections."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}:\n{self.log_tail()}")
            if "Server is ready" in self.log.read_text(errors="replace")[offset:]:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nats-server did not start within {START_TIMEOUT}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); safe to call twice."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server log."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def client_context(self, identity: Identity) -> ssl.SSLContext:
        """A client TLS context presenting ``identity`` and pinning the server CA."""
        ctx = ssl.create_default_context(cafile=str(self.pki.server_ca))
        ctx.load_cert_chain(identity.cert, identity.key)
        return ctx

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def admin_connect(server: NatsServer) -> NatsClient:
    """A nats-py connection with the admin identity (the cloud side of the tests)."""
    return await nats.connect(
        server.url, tls=server.client_context(server.pki.admin), allow_reconnect=False, connect_timeout=5
    )


async def create_streams(
    server: NatsServer,
    *,
    duplicate_window: float = 120.0,
    sites: tuple[str, ...] = (),
    ack_wait: float = 30.0,
) -> None:
    """Create the uplink and downlink streams (and a durable consumer per site), as the cloud side does.

    The definitions are those of ``agent/downlink/nats_deployment.md``: the
    uplink stream takes every site's 4-token subjects, the downlink stream the
    5-token ``edigate.<site>.outbound.<partner>.<document>`` (4 and 5 tokens
    never overlap, which JetStream requires of two streams).
    """
    nc = await admin_connect(server)
    try:
        js = nc.jetstream()
        await js.add_stream(
            StreamConfig(
                name=UPLINK_STREAM,
                subjects=["edigate.*.*.*"],
                storage=StorageType.FILE,
                duplicate_window=duplicate_window,
            )
        )
        await js.add_stream(
            StreamConfig(
                name=DOWNLINK_STREAM,
                subjects=["edigate.*.outbound.*.*"],
                storage=StorageType.FILE,
                duplicate_window=duplicate_window,
            )
        )
        for site in sites:
            await js.add_consumer(
                DOWNLINK_STREAM,
                ConsumerConfig(
                    durable_name=f"edigate-{site}",
                    filter_subject=f"edigate.{site}.outbound.*.*",
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=ack_wait,
                    max_deliver=-1,
                ),
            )
    finally:
        await nc.close()


__all__ = [
    "ADMIN_NAME",
    "DOWNLINK_STREAM",
    "UPLINK_STREAM",
    "Identity",
    "NatsPki",
    "NatsServer",
    "NatsUnavailable",
    "admin_connect",
    "create_streams",
    "free_port",
    "make_nats_pki",
    "site_user",
]
