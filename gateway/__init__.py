"""The gateway runtime: config, journal, intake sources, pipeline, daemon and CLI."""

from __future__ import annotations

from .config import Config, load_config
from .errors import (
    ConfigError,
    DiskFloorError,
    GatewayError,
    JournalWriteError,
    MessageTooLargeError,
    UnknownMessageError,
)
from .journal import AppendResult, Intake, Journal, JournalOptions
from .resources import Resource
from .states import DeliveryState, MessageState

__all__ = [
    "AppendResult",
    "Config",
    "ConfigError",
    "DeliveryState",
    "DiskFloorError",
    "GatewayError",
    "Intake",
    "Journal",
    "JournalOptions",
    "JournalWriteError",
    "MessageState",
    "MessageTooLargeError",
    "Resource",
    "UnknownMessageError",
    "load_config",
]
