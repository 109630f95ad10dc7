"""``warehouse_shipping_order``: depositor asks the warehouse to ship (X12 940)."""

from __future__ import annotations

from pydantic import Field

from .common import Carrier, DecimalStr, Measure, ProductIds, Totals
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class ShippingOrderLine(LineBase):
    """One item to pick and ship (X12 LX/W01 loop)."""

    line_number: str | None = None
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    quantity: DecimalStr | None = Field(default=None, description="quantity ordered")
    unit: str | None = None
    lot_number: str | None = Field(default=None, description="warehouse lot number requested")
    measures: list[Measure] = Field(default_factory=list)


class WarehouseShippingOrder(BusinessDocument):
    """An instruction to a warehouse to ship goods held for a depositor."""

    status: str | None = Field(default=None, description="order status code, e.g. 'N' original, 'F' cancel")
    depositor_order_number: str = Field(description="depositor's shipping order number")
    purchase_order_number: str | None = None
    link_sequence: str | None = None
    master_reference: str | None = None
    carriers: list[Carrier] = Field(default_factory=list)
    lines: list[ShippingOrderLine] = Field(default_factory=list)
    totals: Totals | None = None


__all__ = ["SCHEMA_VERSION", "ShippingOrderLine", "WarehouseShippingOrder"]
