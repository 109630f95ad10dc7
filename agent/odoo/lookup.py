"""Finding Odoo records for canonical parties and products, and the options that steer it.

Matching follows OCA ``base_business_document_import`` (``_match_partner``,
``_match_product_search``): a partner by ``ref``, then its GLN in
``barcode``, then ``vat``, then the exact name, restricted to our company or
none; a product by ``barcode`` (GTIN/UPC), then ``default_code`` (vendor part,
SKU).  A document that names something Odoo does not know is refused as a
whole (permanently, naming what is missing) rather than half-created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent.errors import PermanentDeliveryError
from agent.odoo.transport import OdooTransport
from translators.models.common import Party, ProductIds


class OdooMappingOptions(BaseModel):
    """What a partner profile says about landing its documents in Odoo.

    Attributes:
        partner_ref: ``res.partner.ref`` of this trading partner; wins over matching party ids.
        company_id: our Odoo company (partners/products of other companies are ignored).
        confirm_orders: call ``action_confirm`` on new sale orders.
        post_invoices: call ``action_post`` on new vendor bills whose total matches the document.
        create_backorders: a partial ship notice leaves a backorder instead of closing the picking.
        inventory_authoritative: the partner (a 3PL) owns the stock figures: apply them, not just compare.
        inventory_location_id: ``stock.location`` id the inventory reports are about.
        stock_qualifiers: quantity qualifiers read as on-hand stock (X12 QTY01 / EDIFACT 6063),
            in preference order.
        order_date_qualifiers: qualifiers of the requested delivery date
            (X12 374 '002', EDIFACT 2005 '2').
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    partner_ref: str | None = None
    company_id: int | None = None
    confirm_orders: bool = False
    post_invoices: bool = False
    create_backorders: bool = False
    inventory_authoritative: bool = False
    inventory_location_id: int | None = None
    stock_qualifiers: tuple[str, ...] = ("17", "33", "145", "198")
    order_date_qualifiers: tuple[str, ...] = ("002", "2", "010", "037")


@dataclass(slots=True)
class Lookup:
    """Cached partner/product lookups for one delivery (one Odoo snapshot).

    Args:
        transport: the Odoo transport.
        options: the partner's mapping options.
    """

    transport: OdooTransport
    options: OdooMappingOptions
    _products: dict[tuple[str, str], int | None] = field(default_factory=dict)

    def _company(self) -> list[Any]:
        cid = self.options.company_id
        return [["company_id", "in", [cid, False]]] if cid else []

    async def search(
        self, model: str, domain: Sequence[Any], *, limit: int | None = None, order: str | None = None
    ) -> list[int]:
        """``model.search(domain)`` returning ids.

        Raises:
            DeliveryError: from the transport.
        """
        kwargs: dict[str, Any] = {}
        if limit:
            kwargs["limit"] = limit
        if order:
            kwargs["order"] = order
        result = await self.transport.call(model, "search", [list(domain)], kwargs)
        return [int(i) for i in result]

    async def read_one(self, model: str, rec_id: int, fields: Sequence[str]) -> Mapping[str, Any]:
        """Read one record with plain ids for many2one (``_classic_write``).

        Raises:
            PermanentDeliveryError: the record vanished.
        """
        rows = await self.transport.call(model, "read", [[rec_id], list(fields)], {"load": "_classic_write"})
        if not rows:
            raise PermanentDeliveryError(f"{model} {rec_id} no longer exists in Odoo")
        row: Mapping[str, Any] = rows[0]
        return row

    async def commercial_partner(
        self, parties: Sequence[Party], roles: Sequence[str], *, partner: str
    ) -> int:
        """Find the trading partner's commercial ``res.partner`` id.

        Args:
            parties: the document's header parties.
            roles: party roles to try, in order (e.g. ``BY`` for a buyer).
            partner: gateway partner id, for the message.

        Returns:
            The commercial partner id.

        Raises:
            PermanentDeliveryError: nothing matches (names what was tried).
        """
        tried: list[str] = []
        candidates: list[tuple[str, Any]] = []
        if self.options.partner_ref:
            candidates.append(("ref", self.options.partner_ref))
        for role in roles:
            for party in (p for p in parties if p.role == role):
                if party.id:
                    candidates += [("ref", party.id), ("barcode", party.id), ("vat", party.id)]
                if party.name:
                    candidates.append(("name", party.name))
        for field_name, value in candidates:
            tried.append(f"{field_name}={value!r}")
            ids = await self.search("res.partner", [[field_name, "=", value], *self._company()], limit=1)
            if ids:
                row = await self.read_one("res.partner", ids[0], ["commercial_partner_id"])
                return int(row["commercial_partner_id"] or ids[0])
        hint = ", ".join(tried) or f"no party with role {'/'.join(roles)} in the document"
        raise PermanentDeliveryError(
            f"no Odoo contact matches partner {partner!r} (tried {hint}); set partner_ref in the profile "
            "or add the reference to the contact in Odoo"
        )

    async def address(self, parties: Sequence[Party], roles: Sequence[str], commercial_id: int) -> int | None:
        """Find a child address (ship-to, bill-to) of the commercial partner by ``ref`` or GLN.

        Returns:
            The contact id, or None (Odoo then uses the commercial partner's own address).
        """
        for party in (p for p in parties if p.role in roles and p.id):
            for field_name in ("ref", "barcode"):
                ids = await self.search(
                    "res.partner", [[field_name, "=", party.id], ["id", "child_of", commercial_id]], limit=1
                )
                if ids:
                    return ids[0]
        return None

    async def product(self, ids: ProductIds) -> int | None:
        """Find a ``product.product`` by barcode (GTIN/UPC), then internal reference.

        Returns:
            The product id or None.
        """
        candidates = [("barcode", v) for v in (ids.gtin, ids.upc) if v]
        candidates += [("default_code", v) for v in (ids.vendor_part, ids.sku, ids.buyer_part) if v]
        for field_name, value in candidates:
            key = (field_name, value)
            if key not in self._products:
                found = await self.search(
                    "product.product", [[field_name, "=", value], *self._company()], limit=1
                )
                self._products[key] = found[0] if found else None
            if self._products[key] is not None:
                return self._products[key]
        return None


def describe_product(ids: ProductIds) -> str:
    """Name a product the way the partner identified it, for error messages."""
    parts = [
        f"{name} {value}"
        for name, value in (
            ("GTIN", ids.gtin),
            ("UPC", ids.upc),
            ("vendor part", ids.vendor_part),
            ("SKU", ids.sku),
            ("buyer part", ids.buyer_part),
        )
        if value
    ]
    return ", ".join(parts) or "a line without product id"


__all__ = ["Lookup", "OdooMappingOptions", "describe_product"]
