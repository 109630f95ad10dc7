"""stub."""
from __future__ import annotations

DOCUMENT_TYPE = "functional_ack"
