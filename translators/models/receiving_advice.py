"""``receiving_advice``: what a warehouse or consignee received (X12 944, EDIFACT RECADV)."""

from __future__ import annotations

from pydantic import Field

from .common import DecimalStr, IsoDate, ProductIds, Totals
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class ReceiptException(LineBase):
    """A discrepancy on receipt: damaged, over, short (X12 W13, EDIFACT QVR)."""

    condition: str = Field(description="condition or discrepancy code as sent")
    quantity: DecimalStr | None = None
    unit: str | None = None
    reason: str | None = None


class ReceiptLine(LineBase):
    """One received item (X12 W07 loop, EDIFACT LIN group)."""

    line_number: str | None = None
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    quantity: DecimalStr | None = Field(default=None, description="quantity received")
    unit: str | None = None
    quantity_expected: DecimalStr | None = None
    lot_number: str | None = None
    exceptions: list[ReceiptException] = Field(default_factory=list)


class ReceivingAdvice(BusinessDocument):
    """Confirmation of goods received."""

    status: str | None = Field(default=None, description="reporting code, e.g. 'F' final")
    receipt_date: IsoDate | None = None
    receipt_number: str | None = Field(default=None, description="warehouse receipt number")
    depositor_order_number: str | None = None
    shipment_id: str | None = None
    lines: list[ReceiptLine] = Field(default_factory=list)
    totals: Totals | None = None


__all__ = ["SCHEMA_VERSION", "ReceiptException", "ReceiptLine", "ReceivingAdvice"]
