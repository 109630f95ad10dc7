"""The canonical envelope: what every sink receives for one document.

Versioned: a breaking change to this shape (or to a document model) bumps
:data:`ENVELOPE_SCHEMA_VERSION` and the document's own version.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ENVELOPE_SCHEMA = "edigate.envelope"
ENVELOPE_SCHEMA_VERSION = "1.0"


class Source(BaseModel):
    """Where the document came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: str = Field(description="directory, sftp, ftp, as2, smtp, nats, odoo")
    file_name: str | None = None
    standard: str = Field(description="x12, edifact, csv, fixed, xml")
    transaction_set: str | None = Field(default=None, description="850, ORDERS, ...")
    version: str | None = None
    sender_qualifier: str | None = None
    sender_id: str | None = None
    receiver_qualifier: str | None = None
    receiver_id: str | None = None
    interchange_control: str | None = None
    group_control: str | None = None
    transaction_control: str | None = None
    test_indicator: bool = False


class CanonicalEnvelope(BaseModel):
    """One canonical message as delivered to sinks."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_name: str = Field(default=ENVELOPE_SCHEMA, alias="schema")
    schema_version: str = ENVELOPE_SCHEMA_VERSION
    idempotency_key: str = Field(
        description="partner + interchange/group/transaction control numbers + content hash; "
        "stable across retries and replays"
    )
    message_id: str = Field(description="journal id of the file this document came from")
    partner: str
    document_type: str
    document_schema_version: str
    received_at: _dt.datetime
    source: Source
    document: dict[str, Any]
    extensions: dict[str, Any] = Field(default_factory=dict)
    raw_sha256: str = Field(description="sha256 of the raw bytes kept in the journal")


__all__ = ["ENVELOPE_SCHEMA", "ENVELOPE_SCHEMA_VERSION", "CanonicalEnvelope", "Source"]
