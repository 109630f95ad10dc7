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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from agent.errors import PermanentDeliveryError
from agent.odoo.lookup import OdooMappingOptions
from agent.odoo.mapping import MAPPERS, OdooOutcome, business_key
from agent.odoo.transport import OdooRejected, OdooTransport
from agent.sinks.base import Delivery

logger = logging.getLogger(__name__)

Mode = Literal["direct", "exchange_record"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OdooSinkConfig:
    """Settings of one ``odoo`` sink.

    Attributes:
        name: sink name as configured.
        mode: ``direct`` mapping or ``exchange_record`` (OCA edi framework).
        options: mapping options per gateway partner id; ``default_options`` otherwise.
        default_options: options for partners without their own.
        backend_id: ``edi.backend`` id (exchange_record mode).
        exchange_types: canonical document type -> ``edi.exchange.type`` code (exchange_record mode);
            missing types use ``edigate_<document_type>``.
    """

    name: str
    mode: Mode = "direct"
    options: Mapping[str, OdooMappingOptions] = field(default_factory=dict)
    default_options: OdooMappingOptions = field(default_factory=OdooMappingOptions)
    backend_id: int | None = None
    exchange_types: Mapping[str, str] = field(default_factory=dict)


class OdooSink:
    """Deliver canonical envelopes into Odoo through an :class:`OdooTransport`.

    Args:
        config: the sink settings.
        transport: the Odoo transport (odoorpc today); closed by :meth:`aclose`.

    Raises:
        ValueError: exchange_record mode without a backend id.
    """

    def __init__(self, config: OdooSinkConfig, transport: OdooTransport) -> None:
        if config.mode == "exchange_record" and config.backend_id is None:
            raise ValueError(f"odoo sink {config.name}: exchange_record mode needs backend_id")
        self.name = config.name
        self._config = config
        self._transport = transport
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, int] = {}
        self._type_ids: dict[str, int] = {}
        #: The outcome of the latest successful delivery (status and tests read it).
        self.last_outcome: OdooOutcome | None = None

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
