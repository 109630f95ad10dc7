"""``warehouse_shipping_advice``: warehouse confirms what it shipped (X12 945)."""

from __future__ import annotations

from pydantic import Field

from .common import Carrier, DecimalStr, IsoDate, Measure, ProductIds, Totals
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class ShippingAdviceLine(LineBase):
    """One shipped item (X12 LX/W12 loop)."""

    line_number: str | None = None
    status: str | None = Field(default=None, description="shipment status code, e.g. 'CL' complete")
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    quantity_ordered: DecimalStr | None = None
    quantity: DecimalStr | None = Field(default=None, description="quantity shipped")
    quantity_difference: DecimalStr | None = None
    unit: str | None = None
    lot_number: str | None = None
    sscc: list[str] = Field(default_factory=list, description="SSCC-18 of the cartons/pallets (MAN GM)")
    measures: list[Measure] = Field(default_factory=list)


class WarehouseShippingAdvice(BusinessDocument):
    """Confirmation of a shipment made from a warehouse."""

    status: str | None = Field(default=None, description="reporting code, e.g. 'F' final, 'N' ...")
    depositor_order_number: str | None = None
    shipment_date: IsoDate | None = None
    shipment_id: str | None = Field(default=None, description="warehouse's shipment identification")
    agent_shipment_id: str | None = None
    purchase_order_number: str | None = None
    master_reference: str | None = None
    bill_of_lading: str | None = None
    tracking_number: str | None = None
    carriers: list[Carrier] = Field(default_factory=list)
    lines: list[ShippingAdviceLine] = Field(default_factory=list)
    totals: Totals | None = None


__all__ = ["SCHEMA_VERSION", "ShippingAdviceLine", "WarehouseShippingAdvice"]
