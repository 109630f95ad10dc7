"""stub."""
from __future__ import annotations

DOCUMENT_TYPE = "freight_invoice"
