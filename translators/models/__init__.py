"""Canonical business documents and the envelope that carries them.

Every document type has a pydantic model (published as JSON Schema, see
:func:`json_schema`) and a schema version.  Maps build plain dicts on the
hot path and return them as :class:`MappedDocument`; validating them against
:data:`DOCUMENT_MODELS` is for tests, sinks and outbound rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import (
    freight_invoice,
    functional_ack,
    inventory_advice,
    invoice,
    load_tender,
    load_tender_response,
    order_response,
    purchase_order,
    receiving_advice,
    ship_notice,
    shipment_status,
    warehouse_shipping_advice,
    warehouse_shipping_order,
    warehouse_stock_transfer,
)
from .envelope import ENVELOPE_SCHEMA, ENVELOPE_SCHEMA_VERSION, CanonicalEnvelope, Source
from .freight_invoice import FreightInvoice
from .functional_ack import FunctionalAck
from .inventory_advice import InventoryAdvice
from .invoice import Invoice
from .load_tender import LoadTender
from .load_tender_response import LoadTenderResponse
from .order_response import OrderResponse
from .purchase_order import PurchaseOrder
from .receiving_advice import ReceivingAdvice
from .ship_notice import ShipNotice
from .shipment_status import ShipmentStatus
from .warehouse_shipping_advice import WarehouseShippingAdvice
from .warehouse_shipping_order import WarehouseShippingOrder
from .warehouse_stock_transfer import WarehouseStockTransfer

#: canonical document name -> model
DOCUMENT_MODELS: dict[str, type[BaseModel]] = {
    "purchase_order": PurchaseOrder,
    "order_response": OrderResponse,
    "ship_notice": ShipNotice,
    "invoice": Invoice,
    "warehouse_shipping_order": WarehouseShippingOrder,
    "warehouse_shipping_advice": WarehouseShippingAdvice,
    "warehouse_stock_transfer": WarehouseStockTransfer,
    "inventory_advice": InventoryAdvice,
    "shipment_status": ShipmentStatus,
    "load_tender": LoadTender,
    "load_tender_response": LoadTenderResponse,
    "freight_invoice": FreightInvoice,
    "receiving_advice": ReceivingAdvice,
    "functional_ack": FunctionalAck,
}

#: canonical document name -> schema version of its model
SCHEMA_VERSIONS: dict[str, str] = {
    "purchase_order": purchase_order.SCHEMA_VERSION,
    "order_response": order_response.SCHEMA_VERSION,
    "ship_notice": ship_notice.SCHEMA_VERSION,
    "invoice": invoice.SCHEMA_VERSION,
    "warehouse_shipping_order": warehouse_shipping_order.SCHEMA_VERSION,
    "warehouse_shipping_advice": warehouse_shipping_advice.SCHEMA_VERSION,
    "warehouse_stock_transfer": warehouse_stock_transfer.SCHEMA_VERSION,
    "inventory_advice": inventory_advice.SCHEMA_VERSION,
    "shipment_status": shipment_status.SCHEMA_VERSION,
    "load_tender": load_tender.SCHEMA_VERSION,
    "load_tender_response": load_tender_response.SCHEMA_VERSION,
    "freight_invoice": freight_invoice.SCHEMA_VERSION,
    "receiving_advice": receiving_advice.SCHEMA_VERSION,
    "functional_ack": functional_ack.SCHEMA_VERSION,
}


@dataclass(frozen=True, slots=True)
class MappedDocument:
    """What a map hands back: one business document as plain JSON data.

    Attributes:
        document_type: canonical name, a key of :data:`DOCUMENT_MODELS`.
        schema_version: :data:`SCHEMA_VERSIONS` of that name.
        document: the document; validates against its model.  It carries no
            ``extensions`` key of its own: unplaced data is in ``extensions``.
        extensions: source data the map did not place, e.g.
            ``{"unmapped_segments": [{"position": 7, "segment": ["PKG", "F", ...]}]}``.
        warnings: harmless deviations found while mapping, in plain words.
    """

    document_type: str
    schema_version: str
    document: dict[str, Any]
    extensions: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def json_schema(name: str | None = None) -> dict[str, Any]:
    """Return the published JSON Schema of a document, or of the envelope.

    Args:
        name: a key of :data:`DOCUMENT_MODELS`; None gives the envelope schema
            with every document model in ``$defs`` and ``document`` constrained
            to one of them.

    Returns:
        A JSON Schema (draft 2020-12, as pydantic emits it) as a dict.

    Raises:
        KeyError: ``name`` is not a known document type.
    """
    if name is not None:
        model = DOCUMENT_MODELS[name]
        schema = model.model_json_schema()
        schema["$id"] = f"edigate.{name}/{SCHEMA_VERSIONS[name]}"
        return schema
    models: list[tuple[type[BaseModel], Any]] = [(CanonicalEnvelope, "serialization")]
    models += [(model, "validation") for model in DOCUMENT_MODELS.values()]
    refs, combined = models_json_schema(models, ref_template="#/$defs/{model}")
    defs: dict[str, Any] = combined.get("$defs", {})
    env_ref = refs[(CanonicalEnvelope, "serialization")]["$ref"].rsplit("/", 1)[-1]
    envelope = dict(defs.pop(env_ref))
    properties = dict(envelope["properties"])
    properties["document"] = {
        "description": "the business document; its type is named by document_type",
        "anyOf": [refs[(model, "validation")] for model in DOCUMENT_MODELS.values()],
    }
    envelope["properties"] = properties
    envelope["$defs"] = defs
    envelope["$id"] = f"{ENVELOPE_SCHEMA}/{ENVELOPE_SCHEMA_VERSION}"
    envelope["x-document-types"] = {
        doc: {"$ref": refs[(model, "validation")]["$ref"], "version": SCHEMA_VERSIONS[doc]}
        for doc, model in DOCUMENT_MODELS.items()
    }
    return envelope


__all__ = [
    "DOCUMENT_MODELS",
    "ENVELOPE_SCHEMA",
    "ENVELOPE_SCHEMA_VERSION",
    "SCHEMA_VERSIONS",
    "CanonicalEnvelope",
    "FreightInvoice",
    "FunctionalAck",
    "InventoryAdvice",
    "Invoice",
    "LoadTender",
    "LoadTenderResponse",
    "MappedDocument",
    "OrderResponse",
    "PurchaseOrder",
    "ReceivingAdvice",
    "ShipNotice",
    "ShipmentStatus",
    "Source",
    "WarehouseShippingAdvice",
    "WarehouseShippingOrder",
    "WarehouseStockTransfer",
    "json_schema",
]
