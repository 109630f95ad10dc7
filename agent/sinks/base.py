"""The seam every sink plugs into."""

from __future__ import annotations

from typing import Any, Protocol

import orjson


class Delivery:
    """One canonical envelope to hand to one sink.

    Attributes:
        delivery_id: journal id of this (document, sink) pair.
        idempotency_key: stable key; the sink must make a second delivery of
            the same key a no-op downstream (HTTP ``Idempotency-Key``, Odoo
            lookup before create, JetStream ``Nats-Msg-Id``).
        partner: partner id.
        document_type: canonical document name.
        envelope: the canonical envelope as JSON-compatible data, parsed from
            ``body`` when first read: sinks that send the bytes as they are
            (directory, HTTPS, NATS) never pay for the parse.
        body: the envelope serialised as UTF-8 JSON (what HTTP/NATS send).
        attempt: 1 for the first try.
    """

    __slots__ = ("_envelope", "attempt", "body", "delivery_id", "document_type", "idempotency_key", "partner")

    def __init__(
        self,
        *,
        delivery_id: int,
        idempotency_key: str,
        partner: str,
        document_type: str,
        body: bytes,
        envelope: dict[str, Any] | None = None,
        attempt: int = 1,
    ) -> None:
        self.delivery_id = delivery_id
        self.idempotency_key = idempotency_key
        self.partner = partner
        self.document_type = document_type
        self.body = body
        self.attempt = attempt
        self._envelope = envelope

    @property
    def envelope(self) -> dict[str, Any]:
        """The envelope as data.

        Raises:
            ValueError: ``body`` is not a JSON object.
        """
        if self._envelope is None:
            self._envelope = parse_envelope(self.body)
        return self._envelope

    def __repr__(self) -> str:
        return (
            f"Delivery(delivery_id={self.delivery_id}, idempotency_key={self.idempotency_key!r}, "
            f"partner={self.partner!r}, document_type={self.document_type!r}, attempt={self.attempt})"
        )


def parse_envelope(body: bytes) -> dict[str, Any]:
    """A canonical envelope's JSON as data.

    Raises:
        ValueError: not JSON, or JSON but not an object.
    """
    value = orjson.loads(body)  # JSONDecodeError is a ValueError
    if not isinstance(value, dict):
        raise ValueError(f"envelope is a JSON {type(value).__name__}, not an object")
    return value


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


__all__ = ["Delivery", "Sink", "parse_envelope"]
