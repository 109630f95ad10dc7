"""``inventory_advice``: stock on hand and availability (X12 846, EDIFACT INVRPT)."""

from __future__ import annotations

from pydantic import Field

from .common import DecimalStr, IsoDate, IsoTime, Party, ProductIds, Totals
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class InventoryQuantity(LineBase):
    """A qualified quantity (X12 QTY + UIT, EDIFACT QTY)."""

    qualifier: str = Field(description="quantity qualifier as sent, e.g. '33' available, '17' on hand")
    quantity: DecimalStr
    unit: str | None = None


class InventoryItem(LineBase):
    """One product and its quantities (X12 LIN loop, EDIFACT LIN group)."""

    line_number: str | None = None
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    unit_price: DecimalStr | None = None
    quantities: list[InventoryQuantity] = Field(default_factory=list)
    parties: list[Party] = Field(default_factory=list, description="locations the quantities apply to")


class InventoryAdvice(BusinessDocument):
    """An inventory report."""

    purpose: str | None = None
    report_type: str | None = Field(default=None, description="e.g. 'MM' merchandise management, 'CM'")
    report_number: str | None = None
    report_date: IsoDate | None = None
    report_time: IsoTime | None = None
    action: str | None = None
    currency: str | None = None
    items: list[InventoryItem] = Field(default_factory=list)
    totals: Totals | None = None


__all__ = ["SCHEMA_VERSION", "InventoryAdvice", "InventoryItem", "InventoryQuantity"]
