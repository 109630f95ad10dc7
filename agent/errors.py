"""Errors of the outward side.

::

    DeliveryError                 abstract
    ├─ TransientDeliveryError     try again later; .retry_after seconds when the peer said so
    └─ PermanentDeliveryError     retrying cannot help → dead-letter with the reason
    TlsConfigError                our certificate, key or pinned CA cannot be loaded

Sinks map their client library's exceptions to these in one place (like
httpx's ``map_httpcore_exceptions``); the delivery engine only sees these.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every agent error."""


class DeliveryError(AgentError):
    """A delivery attempt failed; instantiate a subclass."""

    def __init__(self, message: str) -> None:
        if type(self) is DeliveryError:
            raise TypeError("tried to directly instantiate DeliveryError")
        super().__init__(message)
        self.message = message


class TransientDeliveryError(DeliveryError):
    """The sink may accept the message later (outage, 5xx, timeout, 429)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """The sink refused the message for a reason retrying cannot fix."""


class TlsConfigError(AgentError):
    """A certificate, key or CA file is missing, unreadable or invalid."""


__all__ = [
    "AgentError",
    "DeliveryError",
    "PermanentDeliveryError",
    "TlsConfigError",
    "TransientDeliveryError",
]
