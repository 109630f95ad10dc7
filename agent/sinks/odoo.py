"""The ``odoo`` sink: land canonical documents in Odoo, exactly once in effect.

Two modes, chosen per sink:

* ``direct``: map each document onto Odoo's own models over RPC
  (:mod:`agent.odoo.mapping`: sale orders, pickings, vendor bills, chatter
  notes, quants).  Idempotency comes from looking before creating, with
  deliveries of one business document serialised here, in this process.
* ``exchange_record``: hand the envelope to the OCA EDI framework as an
  ``edi.exchange.record`` (state ``input_received``), whose
  ``UNIQUE(external_identifier, backend_id, type_id)`` makes a second
  delivery of the same idempotency key a no-op at the database level; Odoo's
  own handlers do the mapping atomically.

The wire protocol stays behind :class:`~agent.odoo.transport.OdooTransport`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import urllib.parse
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.errors import PermanentDeliveryError
from agent.odoo.json2 import OdooJson2Settings, OdooJson2Transport
from agent.odoo.lookup import OdooMappingOptions
from agent.odoo.mapping import MAPPERS, OdooOutcome, business_key
from agent.odoo.transport import OdooRejected, OdooRpcSettings, OdooRpcTransport, OdooTransport
from agent.sinks.base import Delivery
from agent.tls import TlsIdentity, TlsSettings, TlsStatus
from partners.permissions import private_file_problem

logger = logging.getLogger(__name__)

Mode = Literal["direct", "exchange_record"]


class OdooSinkConfig(BaseModel):
    """``[[sinks]] kind = "odoo"``.

    Attributes:
        name: sink name as configured.
        mode: ``direct`` mapping or ``exchange_record`` (OCA edi framework).
        protocol: ``jsonrpc`` (odoorpc, Odoo ≤ 19, deprecated in 19) or ``json2`` (Odoo ≥ 19, API key).
        url: ``https://host[:port]`` of Odoo (or its mTLS proxy); odoorpc supports no sub-path.
        database: Odoo database name.
        login: the bot user's login.
        secret_file: file holding its API key (preferred) or password; refused unless mode 0600.
        secret_env: environment variable holding it instead (systemd ``LoadCredential``/``Environment``).
        timeout: seconds per RPC.
        workers: RPCs in flight (threads; odoorpc is synchronous).
        keep_alive: reuse connections instead of urllib's one-connection-per-RPC.
        tls: our client certificate and the pinned CA (``[sinks.tls]``), required for https.
        options: mapping options per gateway partner id (``[sinks.options.<partner>]``).
        default_options: options for partners without their own.
        backend_id: ``edi.backend`` id (exchange_record mode).
        exchange_types: canonical document type -> ``edi.exchange.type`` code (exchange_record mode);
            missing types use ``edigate_<document_type>``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["odoo"] = "odoo"
    mode: Mode = "direct"
    protocol: Literal["jsonrpc", "json2"] = "jsonrpc"
    url: str | None = Field(default=None, pattern=r"^https?://[^/]+")
    database: str | None = None
    login: str | None = None
    secret_file: Path | None = None
    secret_env: str | None = None
    timeout: float = Field(default=60.0, gt=0)
    workers: int = Field(default=8, ge=1, le=64)
    keep_alive: bool = True
    tls: TlsSettings | None = None
    options: dict[str, OdooMappingOptions] = Field(default_factory=dict)
    default_options: OdooMappingOptions = Field(default_factory=OdooMappingOptions)
    backend_id: int | None = None
    exchange_types: dict[str, str] = Field(default_factory=dict)

    def build_transport(self) -> OdooTransport:
        """Build the transport these settings describe.

        Returns:
            An :class:`OdooRpcTransport` or :class:`OdooJson2Transport` (not yet connected).

        Raises:
            ValueError: connection settings missing, or the secret cannot be read or is
                readable by other users.
            TlsConfigError: the ``tls`` files cannot be used.
        """
        needed = ("url", "database", "login") if self.protocol == "jsonrpc" else ("url",)
        missing = [n for n in needed if getattr(self, n) is None]
        if self.secret_file is None and self.secret_env is None:
            missing.append("secret_file or secret_env")
        if missing:
            raise ValueError(f"odoo sink {self.name}: missing {', '.join(missing)}")
        assert self.url is not None
        parsed = urllib.parse.urlsplit(self.url)
        use_tls = parsed.scheme == "https"
        if use_tls and self.tls is None:
            raise ValueError(
                f"odoo sink {self.name}: an https url needs [sinks.tls] (the link is mutual TLS)"
            )
        identity = self.tls.load() if use_tls and self.tls else None
        if self.protocol == "json2":
            json2 = OdooJson2Settings(
                base_url=self.url, api_key=self._secret(), database=self.database, timeout=self.timeout
            )
            return OdooJson2Transport(json2, identity=identity)
        if parsed.path not in ("", "/"):
            raise ValueError(
                f"odoo sink {self.name}: odoorpc cannot reach Odoo under a sub-path ({self.url})"
            )
        assert self.database is not None and self.login is not None
        settings = OdooRpcSettings(
            host=parsed.hostname or "",
            port=parsed.port or (443 if use_tls else 8069),
            database=self.database,
            login=self.login,
            secret=self._secret(),
            use_tls=use_tls,
            timeout=self.timeout,
            workers=self.workers,
            keep_alive=self.keep_alive,
        )
        return OdooRpcTransport(settings, identity=identity)

    def _secret(self) -> str:
        if self.secret_file is not None:
            problem = private_file_problem(self.secret_file, "Odoo secret")
            if problem is not None:
                raise ValueError(f"odoo sink {self.name}: {problem}")
            try:
                secret = self.secret_file.read_text().strip()
            except OSError as exc:
                raise ValueError(
                    f"odoo sink {self.name}: cannot read secret_file {self.secret_file}: "
                    f"{exc.strerror or exc}"
                ) from exc
        else:
            assert self.secret_env is not None
            secret = os.environ.get(self.secret_env, "").strip()
        if not secret:
            where = self.secret_file or f"${self.secret_env}"
            raise ValueError(f"odoo sink {self.name}: the secret in {where} is empty")
        return secret


class OdooSink:
    """Deliver canonical envelopes into Odoo through an :class:`OdooTransport`.

    Args:
        config: the sink settings.
        transport: the Odoo transport; built from ``config`` (odoorpc) when None.
            Closed by :meth:`aclose`.

    Raises:
        ValueError: exchange_record mode without a backend id; connection settings missing.
        TlsConfigError: the ``tls`` files cannot be used.
    """

    def __init__(self, config: OdooSinkConfig, transport: OdooTransport | None = None) -> None:
        if config.mode == "exchange_record" and config.backend_id is None:
            raise ValueError(f"odoo sink {config.name}: exchange_record mode needs backend_id")
        if transport is None:
            transport = config.build_transport()
        self.name = config.name
        self._config = config
        self._transport = transport
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, int] = {}
        self._type_ids: dict[str, int] = {}
        #: The outcome of the latest successful delivery (status and tests read it).
        self.last_outcome: OdooOutcome | None = None

    def tls_status(self) -> TlsStatus | None:
        """Our certificate's subject and expiry for ``edigate status`` (None without TLS)."""
        identity = getattr(self._transport, "identity", None)
        return identity.status() if isinstance(identity, TlsIdentity) else None

    async def healthcheck(self) -> None:
        """Log in if needed and ask Odoo for the user's context (a cheap authenticated call).

        Raises:
            DeliveryError: Odoo unreachable, credentials refused, TLS problems.
        """
        await self._transport.call("res.users", "context_get", [])

    async def deliver(self, delivery: Delivery) -> None:
        """Land one document in Odoo; a repeated idempotency key changes nothing.

        Args:
            delivery: the envelope.

        Raises:
            TransientDeliveryError: Odoo unreachable, busy, or lost a transaction race.
            PermanentDeliveryError: Odoo refused the document (its message included),
                the document type has no mapping, or referenced records are missing.
        """
        outcome = await self.deliver_with_outcome(delivery)
        logger.info(
            "sink %s: delivery %s (%s %s) -> %s %s %s%s",
            self.name,
            delivery.delivery_id,
            delivery.partner,
            delivery.document_type,
            outcome.action,
            outcome.model,
            outcome.res_id,
            f" ({'; '.join(outcome.detail)})" if outcome.detail else "",
        )

    async def deliver_with_outcome(self, delivery: Delivery) -> OdooOutcome:
        """Like :meth:`deliver`, returning what was done.

        Returns:
            The :class:`~agent.odoo.mapping.OdooOutcome`.

        Raises:
            DeliveryError: as :meth:`deliver`.
        """
        if self._config.mode == "exchange_record":
            outcome = await self._exchange_record(delivery)
        else:
            mapper = MAPPERS.get(delivery.document_type)
            if mapper is None:
                raise PermanentDeliveryError(
                    f"odoo sink {self.name} has no mapping for {delivery.document_type!r}; "
                    f"it maps {', '.join(sorted(MAPPERS))} (or use exchange_record mode)"
                )
            options = self._config.options.get(delivery.partner, self._config.default_options)
            key = business_key(delivery)
            async with self._lock(key):
                outcome = await mapper(self._transport, delivery, options)
        self.last_outcome = outcome
        return outcome

    def _lock(self, key: str) -> _KeyLock:
        return _KeyLock(self, key)

    async def _type_id(self, document_type: str) -> int:
        code = self._config.exchange_types.get(document_type, f"edigate_{document_type}")
        if code not in self._type_ids:
            found = await self._transport.call(
                "edi.exchange.type",
                "search",
                [
                    [
                        ["code", "=", code],
                        "|",
                        ["backend_id", "=", self._config.backend_id],
                        ["backend_id", "=", False],
                    ]
                ],
                {"limit": 1},
            )
            if not found:
                raise PermanentDeliveryError(
                    f"odoo sink {self.name}: no edi.exchange.type with code {code!r} "
                    f"in Odoo for {document_type}"
                )
            self._type_ids[code] = int(found[0])
        return self._type_ids[code]

    async def _exchange_record(self, delivery: Delivery) -> OdooOutcome:
        type_id = await self._type_id(delivery.document_type)
        domain = [
            ["external_identifier", "=", delivery.idempotency_key],
            ["backend_id", "=", self._config.backend_id],
            ["type_id", "=", type_id],
        ]
        existing = await self._transport.call("edi.exchange.record", "search", [domain], {"limit": 1})
        if existing:
            return OdooOutcome("existing", "edi.exchange.record", int(existing[0]))
        values = {
            "backend_id": self._config.backend_id,
            "type_id": type_id,
            "external_identifier": delivery.idempotency_key,
            "exchange_filename": f"{delivery.partner}-{delivery.document_type}-{delivery.delivery_id}.json",
            "exchange_file": base64.b64encode(delivery.body).decode("ascii"),
            "edi_exchange_state": "input_received",
        }
        try:
            record_id = await self._transport.call("edi.exchange.record", "create", [values])
        except OdooRejected as exc:
            # A concurrent or lost-reply delivery won the unique constraint: that is success.
            if "ValidationError" not in exc.exception_name:
                raise
            again = await self._transport.call("edi.exchange.record", "search", [domain], {"limit": 1})
            if not again:
                raise
            return OdooOutcome("existing", "edi.exchange.record", int(again[0]))
        return OdooOutcome("created", "edi.exchange.record", int(record_id))

    async def aclose(self) -> None:
        """Close the transport."""
        await self._transport.aclose()


class _KeyLock:
    """One asyncio lock per business key, dropped when nobody waits (no unbounded dict)."""

    def __init__(self, sink: OdooSink, key: str) -> None:
        self._sink, self._key = sink, key

    async def __aenter__(self) -> None:
        sink = self._sink
        sink._waiters[self._key] = sink._waiters.get(self._key, 0) + 1
        lock = sink._locks.setdefault(self._key, asyncio.Lock())
        try:
            await lock.acquire()
        except BaseException:  # cancelled while waiting: forget our place, then propagate
            self._leave()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._sink._locks[self._key].release()
        self._leave()

    def _leave(self) -> None:
        sink = self._sink
        sink._waiters[self._key] -= 1
        if sink._waiters[self._key] == 0:
            del sink._waiters[self._key], sink._locks[self._key]


__all__ = ["OdooSink", "OdooSinkConfig"]
