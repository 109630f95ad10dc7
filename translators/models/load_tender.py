"""``load_tender``: a shipper offers a load to a carrier (X12 204, EDIFACT IFTMIN)."""

from __future__ import annotations

from pydantic import Field

from .common import DecimalStr, Measure, Party, Reference, Totals
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class StopOrder(LineBase):
    """An order picked up or delivered at a stop (X12 OID, L5)."""

    reference: str | None = None
    purchase_order_number: str | None = None
    quantity: DecimalStr | None = None
    unit: str | None = None
    measures: list[Measure] = Field(default_factory=list)
    descriptions: list[str] = Field(default_factory=list)


class Stop(LineBase):
    """A pickup or delivery stop (X12 S5 loop)."""

    sequence: str | None = None
    reason: str | None = Field(default=None, description="stop reason, e.g. 'LD' load, 'UL' unload, 'CL'")
    measures: list[Measure] = Field(default_factory=list)
    quantity: DecimalStr | None = None
    unit: str | None = None
    party: Party | None = None
    orders: list[StopOrder] = Field(default_factory=list)
    descriptions: list[str] = Field(default_factory=list, description="lading descriptions (L5)")


class Equipment(LineBase):
    """Equipment requested (X12 N7)."""

    number: str | None = None
    type_code: str | None = None
    length: str | None = None


class LoadTender(BusinessDocument):
    """A motor carrier load tender."""

    purpose: str | None = Field(default=None, description="'00' original, '01' cancel, '04' change")
    application_type: str | None = None
    shipment_id: str = Field(description="shipper's shipment identification (load id)")
    scac: str | None = None
    payment_method: str | None = None
    tariff_service: str | None = None
    equipment: list[Equipment] = Field(default_factory=list)
    stops: list[Stop] = Field(default_factory=list)
    totals: Totals | None = None
    order_references: list[Reference] = Field(default_factory=list)


__all__ = ["SCHEMA_VERSION", "Equipment", "LoadTender", "Stop", "StopOrder"]
