"""The seam every sink plugs into."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One canonical envelope to hand to one sink.

    Attributes:
        delivery_id: journal id of this (document, sink) pair.
        idempotency_key: stable key; the sink must make a second delivery of
            the same key a no-op downstream (HTTP ``Idempotency-Key``, Odoo
            lookup before create, JetStream ``Nats-Msg-Id``).
        partner: partner id.
        document_type: canonical document name.
        envelope: the canonical envelope as JSON-compatible data.
        body: the envelope serialised as UTF-8 JSON (what HTTP/NATS send).
        attempt: 1 for the first try.
    """

    delivery_id: int
    idempotency_key: str
    partner: str
    document_type: str
    envelope: dict[str, Any]
    body: bytes
    attempt: int = 1


class Sink(Protocol):
    """A destination for canonical envelopes.

    ``deliver`` returns only when the destination has durably accepted the
    message (2xx, publish ack, committed record); it raises
    :class:`~agent.errors.TransientDeliveryError` or
    :class:`~agent.errors.PermanentDeliveryError` otherwise.
    """

    name: str

    async def healthcheck(self) -> None:
        """Raise a DeliveryError when the sink cannot be reached."""

    async def deliver(self, delivery: Delivery) -> None:
        """Deliver one envelope; see the class docstring."""

    async def aclose(self) -> None:
        """Release connections."""


__all__ = ["Delivery", "Sink"]
