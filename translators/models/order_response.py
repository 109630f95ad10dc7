"""``order_response``: the seller's answer to an order (X12 855, EDIFACT ORDRSP)."""

from __future__ import annotations

from pydantic import Field

from .common import Carrier, DateTime, DecimalStr, IsoDate, ProductIds, Totals
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class LineStatus(LineBase):
    """What the seller will do with (part of) a line (X12 ACK, EDIFACT line action)."""

    status: str = Field(description="line status code as sent, e.g. 'IA' accepted, 'IR' rejected")
    quantity: DecimalStr | None = None
    unit: str | None = None
    scheduled: list[DateTime] = Field(default_factory=list, description="dates the status applies to")
    product: ProductIds | None = Field(default=None, description="substituted product, if any")


class ResponseLine(LineBase):
    """One line of the order as acknowledged (X12 PO1 loop in 855)."""

    line_number: str | None = None
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    quantity: DecimalStr | None = Field(default=None, description="quantity ordered")
    unit: str | None = None
    unit_price: DecimalStr | None = None
    price_basis: str | None = None
    statuses: list[LineStatus] = Field(default_factory=list)


class OrderResponse(BusinessDocument):
    """Acknowledgment of a purchase order: accepted, changed or rejected."""

    purpose: str | None = Field(default=None, description="'00' original, '06' confirmation ...")
    acknowledgment_type: str | None = Field(
        default=None, description="'AC' with changes, 'AD' as is, 'RJ' rejected, 'AP' ... (X12 587)"
    )
    order_number: str = Field(description="buyer's purchase order number being acknowledged")
    order_date: IsoDate | None = None
    release_number: str | None = None
    response_number: str | None = Field(default=None, description="seller's order/acknowledgment number")
    response_date: IsoDate | None = None
    currency: str | None = None
    carriers: list[Carrier] = Field(default_factory=list)
    lines: list[ResponseLine] = Field(default_factory=list)
    totals: Totals | None = None


__all__ = ["SCHEMA_VERSION", "LineStatus", "OrderResponse", "ResponseLine"]
