"""The outward side: sinks, delivery with retries and dead-letter, outbound pulls.

Ships canonical JSON only: it never imports an EDI reader.
"""

from __future__ import annotations

from .delivery import BreakerState, DeliveryEngine, RetryPolicy
from .errors import (
    AgentError,
    DeliveryError,
    PermanentDeliveryError,
    TlsConfigError,
    TransientDeliveryError,
)
from .sinks import SINK_KINDS, Delivery, Sink, build_sink

__all__ = [
    "SINK_KINDS",
    "AgentError",
    "BreakerState",
    "Delivery",
    "DeliveryEngine",
    "DeliveryError",
    "PermanentDeliveryError",
    "RetryPolicy",
    "Sink",
    "TlsConfigError",
    "TransientDeliveryError",
    "build_sink",
]
