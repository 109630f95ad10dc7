"""stub."""
from __future__ import annotations

DOCUMENT_TYPE = "load_tender"
