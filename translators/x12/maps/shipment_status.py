"""stub."""
from __future__ import annotations

DOCUMENT_TYPE = "shipment_status"
