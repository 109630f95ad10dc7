"""Canonical business models: registry, JSON Schema, strictness of values."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from pydantic import ValidationError

from translators.models import (
    DOCUMENT_MODELS,
    ENVELOPE_SCHEMA_VERSION,
    SCHEMA_VERSIONS,
    CanonicalEnvelope,
    MappedDocument,
    json_schema,
)

#: The smallest valid document of each type (only required fields).
MINIMAL: dict[str, dict[str, Any]] = {
    "purchase_order": {"order_number": "PO-1"},
    "order_response": {"order_number": "PO-1"},
    "ship_notice": {"shipment_id": "ASN-1"},
    "invoice": {"invoice_number": "INV-1"},
    "warehouse_shipping_order": {"depositor_order_number": "SO-1"},
    "warehouse_shipping_advice": {},
    "warehouse_stock_transfer": {"depositor_order_number": "TR-1"},
    "inventory_advice": {},
    "shipment_status": {},
    "load_tender": {"shipment_id": "LOAD-1"},
    "load_tender_response": {"shipment_id": "LOAD-1"},
    "freight_invoice": {"invoice_number": "FB-1"},
    "receiving_advice": {},
    "functional_ack": {"ack_type": "997"},
}


def test_registry_covers_every_document_type() -> None:
    expected = {
        "purchase_order",
        "order_response",
        "ship_notice",
        "invoice",
        "warehouse_shipping_order",
        "warehouse_shipping_advice",
        "warehouse_stock_transfer",
        "inventory_advice",
        "shipment_status",
        "load_tender",
        "load_tender_response",
        "freight_invoice",
        "receiving_advice",
        "functional_ack",
    }
    assert set(DOCUMENT_MODELS) == expected
    assert set(SCHEMA_VERSIONS) == expected
    assert set(MINIMAL) == expected
    assert all(v.count(".") == 1 for v in SCHEMA_VERSIONS.values())


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_minimal_document_validates_and_unknown_keys_are_refused(name: str) -> None:
    model = DOCUMENT_MODELS[name]
    assert model.model_validate(MINIMAL[name]).model_dump(exclude_defaults=True) == MINIMAL[name]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        model.model_validate({**MINIMAL[name], "not_a_field": 1})


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_document_schema_is_json_and_documented(name: str) -> None:
    schema = json_schema(name)
    assert schema["$id"] == f"edigate.{name}/{SCHEMA_VERSIONS[name]}"
    assert schema["additionalProperties"] is False
    json.dumps(schema)  # publishable as JSON
    assert "extensions" in schema["properties"]
    assert schema["description"]  # the model docstring


def test_envelope_schema_names_every_document() -> None:
    schema = json_schema()
    assert schema["$id"].endswith(ENVELOPE_SCHEMA_VERSION)
    assert set(schema["x-document-types"]) == set(DOCUMENT_MODELS)
    refs = {alt["$ref"] for alt in schema["properties"]["document"]["anyOf"]}
    assert len(refs) == len(DOCUMENT_MODELS)
    for ref in refs:
        assert ref.rsplit("/", 1)[-1] in schema["$defs"]
    assert {"idempotency_key", "partner", "document", "extensions", "raw_sha256"} <= set(schema["properties"])
    with pytest.raises(KeyError):
        json_schema("not_a_document")


def test_values_are_decimal_strings_and_iso_dates() -> None:
    po = DOCUMENT_MODELS["purchase_order"]
    good = {
        "order_number": "1",
        "order_date": "2026-11-29",
        "lines": [{"quantity": "12.50", "unit_price": "-0.5", "unit": "EA"}],
    }
    po.model_validate(good)
    for bad in (
        {"order_number": "1", "order_date": "20261129"},
        {"order_number": "1", "lines": [{"quantity": 12.5}]},
        {"order_number": "1", "lines": [{"quantity": "1,5"}]},
        {"order_number": "1", "lines": [{"quantity": ".5"}]},
    ):
        with pytest.raises(ValidationError):
            po.model_validate(bad)
    asn = DOCUMENT_MODELS["ship_notice"]
    asn.model_validate({"shipment_id": "1", "shipment_time": "14:24:28"})
    with pytest.raises(ValidationError):
        asn.model_validate({"shipment_id": "1", "shipment_time": "1424"})


def test_ship_notice_hierarchy_nests_packs_and_items() -> None:
    asn = DOCUMENT_MODELS["ship_notice"].model_validate(
        {
            "shipment_id": "A",
            "orders": [
                {
                    "order_number": "PO",
                    "tares": [
                        {
                            "sscc": "340123450000000017",
                            "packs": [
                                {
                                    "sscc": "340123450000000024",
                                    "items": [
                                        {
                                            "product": {"gtin": "04012345000011"},
                                            "quantity": "12",
                                            "unit": "EA",
                                        }
                                    ],
                                },
                            ],
                        }
                    ],
                    "items": [{"quantity": "1", "packs": [{"quantity": "1", "packs": [{"sscc": "1"}]}]}],
                }
            ],
        }
    )
    dumped = asn.model_dump(exclude_defaults=True)
    pack = dumped["orders"][0]["tares"][0]["packs"][0]
    assert pack["items"][0]["product"] == {"gtin": "04012345000011"}
    assert dumped["orders"][0]["items"][0]["packs"][0]["packs"] == [{"sscc": "1"}]


def test_mapped_document_is_frozen() -> None:
    doc = MappedDocument("invoice", "1.0", {"invoice_number": "1"})
    assert doc.extensions == {} and doc.warnings == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        doc.document_type = "x"  # type: ignore[misc]


def test_envelope_model_round_trips_by_alias() -> None:
    env = CanonicalEnvelope.model_validate(
        {
            "schema": "edigate.envelope",
            "idempotency_key": "k",
            "message_id": "m",
            "partner": "acme",
            "document_type": "invoice",
            "document_schema_version": "1.0",
            "received_at": "2026-11-29T10:25:00Z",
            "source": {"transport": "sftp", "standard": "x12"},
            "document": {"invoice_number": "1"},
            "raw_sha256": "0" * 64,
        }
    )
    assert env.model_dump(by_alias=True)["schema"] == "edigate.envelope"
