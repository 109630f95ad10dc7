"""``warehouse_stock_transfer``: goods on their way to a warehouse (X12 943)."""

from __future__ import annotations

from pydantic import Field

from .common import Carrier, DecimalStr, IsoDate, Measure, ProductIds, Totals
from .document import BusinessDocument, LineBase

SCHEMA_VERSION = "1.0"


class TransferLine(LineBase):
    """One item being transferred (X12 W04 loop)."""

    line_number: str | None = None
    product: ProductIds = Field(default_factory=ProductIds)
    description: str | None = None
    quantity: DecimalStr | None = None
    unit: str | None = None
    lot_number: str | None = None
    measures: list[Measure] = Field(default_factory=list)


class WarehouseStockTransfer(BusinessDocument):
    """A depositor tells the warehouse what stock is coming."""

    status: str | None = Field(default=None, description="reporting code, e.g. 'F' final")
    depositor_order_number: str = Field(description="depositor's transfer/order number")
    shipment_date: IsoDate | None = None
    shipment_id: str | None = None
    agent_shipment_id: str | None = None
    purchase_order_number: str | None = None
    carriers: list[Carrier] = Field(default_factory=list)
    lines: list[TransferLine] = Field(default_factory=list)
    totals: Totals | None = None


__all__ = ["SCHEMA_VERSION", "TransferLine", "WarehouseStockTransfer"]
