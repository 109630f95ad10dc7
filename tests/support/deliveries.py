"""Canonical deliveries for the sink tests, and helpers to run an Odoo sink to completion."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.odoo.mapping import OdooOutcome
from agent.sinks.base import Delivery
from agent.sinks.odoo import OdooSink


def delivery(document_type: str, document: Mapping[str, Any], key: str = "ACME:1:1:0001:aa") -> Delivery:
    envelope = {
        "idempotency_key": key,
        "partner": "acme",
        "document_type": document_type,
        "source": {
            "transport": "sftp",
            "standard": "x12",
            "interchange_control": "000000123",
            "group_control": "1",
            "transaction_control": "0001",
        },
        "document": dict(document),
    }
    return Delivery(
        delivery_id=1,
        idempotency_key=key,
        partner="acme",
        document_type=document_type,
        envelope=envelope,
        body=json.dumps(envelope).encode(),
    )


PO = {
    "order_number": "PO-4711",
    "order_date": "2026-11-20",
    "dates": [{"qualifier": "002", "date": "2026-12-01", "time": "08:30"}],
    "parties": [
        {"role": "BY", "id": "0614141000005", "id_qualifier": "UL", "name": "ACME Retail"},
        {"role": "ST", "id": "0614141000012", "id_qualifier": "UL", "name": "DC East"},
    ],
    "lines": [
        {
            "line_number": "1",
            "product": {"gtin": "00012345678905"},
            "quantity": "10",
            "unit": "EA",
            "unit_price": "2.50",
        },
        {"line_number": "2", "product": {"vendor_part": "GAD-2"}, "quantity": "3", "unit": "EA"},
    ],
}


def run(sink: OdooSink, *deliveries: Delivery) -> list[OdooOutcome]:
    async def go() -> list[OdooOutcome]:
        try:
            return [await sink.deliver_with_outcome(d) for d in deliveries]
        finally:
            await sink.aclose()

    return asyncio.run(go())


def fails(sink: OdooSink, item: Delivery) -> BaseException:
    try:
        run(sink, item)
    except (TransientDeliveryError, PermanentDeliveryError) as exc:
        return exc
    raise AssertionError("the delivery was expected to fail")
