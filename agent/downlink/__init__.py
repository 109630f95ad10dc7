"""Downlinks: documents the cloud sends to this site, journaled before they are acknowledged.

Only NATS JetStream for now (:mod:`agent.downlink.nats`); the Odoo pull lives in ``agent.pull``.
"""

from __future__ import annotations

from .nats import DOWNLINK_APPEND, NatsDownlink, PoisonMessage, parse_document

__all__ = ["DOWNLINK_APPEND", "NatsDownlink", "PoisonMessage", "parse_document"]
