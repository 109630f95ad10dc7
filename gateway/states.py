"""Message and delivery states, and the legal moves between them.

Rule: everything that decides whether a state change is legal lives here
(after h11's ``_state.py``); the journal refuses any other move.
"""

from __future__ import annotations

import enum


class MessageState(enum.Enum):
    """Where one received file stands."""

    #: raw bytes are durable in the journal; nothing else done yet
    RECEIVED = "received"
    #: translated into canonical documents (stored in the journal)
    TRANSLATED = "translated"
    #: every document has a delivery queued for each of its sinks
    QUEUED = "queued"
    #: every delivery succeeded (final)
    DELIVERED = "delivered"
    #: bad input: not translatable, unknown partner, duplicate... (final, replayable)
    REJECTED = "rejected"
    #: a delivery gave up after its retries (final, replayable)
    DEAD = "dead"


class DeliveryState(enum.Enum):
    """Where one (document, sink) pair stands."""

    #: waiting for its next attempt
    PENDING = "pending"
    #: the sink accepted it (final)
    DELIVERED = "delivered"
    #: retries exhausted or a permanent refusal (final, replayable)
    DEAD = "dead"


FINAL_STATES = frozenset({MessageState.DELIVERED, MessageState.REJECTED, MessageState.DEAD})
ACTIVE_STATES = frozenset(MessageState) - FINAL_STATES

#: legal moves; replay is the only way out of a final failure state
TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    MessageState.RECEIVED: frozenset({MessageState.TRANSLATED, MessageState.REJECTED}),
    MessageState.TRANSLATED: frozenset({MessageState.QUEUED, MessageState.REJECTED}),
    MessageState.QUEUED: frozenset({MessageState.DELIVERED, MessageState.DEAD}),
    MessageState.DELIVERED: frozenset(),
    MessageState.REJECTED: frozenset({MessageState.RECEIVED}),
    MessageState.DEAD: frozenset({MessageState.QUEUED}),
}


def can_move(old: MessageState, new: MessageState) -> bool:
    """Whether ``old → new`` is a legal transition."""
    return new in TRANSITIONS[old]


__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "TRANSITIONS",
    "DeliveryState",
    "MessageState",
    "can_move",
]
