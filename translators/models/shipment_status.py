"""``shipment_status``: where a shipment is (X12 214, EDIFACT IFTSTA)."""

from __future__ import annotations

from pydantic import Field

from .common import Address, DateTime, DecimalStr, Measure, Party, Reference
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class StatusEvent(LineBase):
    """One status report: what happened, when and where (X12 LX/AT7 loop)."""

    sequence: str | None = None
    status_code: str | None = Field(default=None, description="shipment status code, e.g. 'D1' delivered")
    status_reason: str | None = Field(default=None, description="reason code, e.g. 'NS' normal")
    appointment_status: str | None = None
    appointment_reason: str | None = None
    date: DateTime | None = Field(default=None, description="when the event happened")
    location: Address | None = None
    equipment_scac: str | None = None
    equipment_number: str | None = None
    equipment_type: str | None = None
    measures: list[Measure] = Field(default_factory=list)
    lading_quantity: DecimalStr | None = None
    parties: list[Party] = Field(default_factory=list)
    order_references: list[Reference] = Field(default_factory=list)


class ShipmentStatus(BusinessDocument):
    """A carrier's status message for a shipment."""

    carrier_reference: str | None = Field(default=None, description="carrier's pro/invoice number")
    shipment_id: str | None = Field(default=None, description="shipper's shipment identification")
    scac: str | None = None
    events: list[StatusEvent] = Field(default_factory=list)
    measures: list[Measure] = Field(default_factory=list)


__all__ = ["SCHEMA_VERSION", "ShipmentStatus", "StatusEvent"]
