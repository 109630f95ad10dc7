"""``load_tender_response``: the carrier accepts or declines a tender (X12 990)."""

from __future__ import annotations

from pydantic import Field

from .common import IsoDate
from .document import BusinessDocument

SCHEMA_VERSION = "1.0"


class LoadTenderResponse(BusinessDocument):
    """A carrier's answer to a load tender."""

    scac: str | None = None
    shipment_id: str = Field(description="shipper's shipment identification being answered")
    date: IsoDate | None = None
    action: str | None = Field(default=None, description="'A' accepted, 'D' declined, 'R' ... (X12 1128)")
    decline_reason: str | None = None


__all__ = ["SCHEMA_VERSION", "LoadTenderResponse"]
