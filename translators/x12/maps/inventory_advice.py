"""stub."""
from __future__ import annotations

DOCUMENT_TYPE = "inventory_advice"
