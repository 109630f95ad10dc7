"""agent.sinks.base.Delivery: the envelope is read from the body only when a sink asks for it."""

from __future__ import annotations

import pytest

from agent.sinks.base import Delivery


def _delivery(body: bytes, **kw: object) -> Delivery:
    return Delivery(
        delivery_id=1, idempotency_key="k", partner="acme", document_type="purchase_order", body=body, **kw
    )


def test_the_envelope_is_the_body_read_as_json() -> None:
    delivery = _delivery(b'{"schema":"edigate.envelope","document":{"po":"1"}}')
    assert delivery.envelope == {"schema": "edigate.envelope", "document": {"po": "1"}}
    assert delivery.envelope is delivery.envelope  # read once


def test_an_envelope_given_is_used_as_it_is() -> None:
    given = {"document": {"po": "2"}}
    assert _delivery(b"{}", envelope=given).envelope is given


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json"])
def test_a_body_that_is_not_a_json_object_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        _ = _delivery(body).envelope


def test_repr_names_the_delivery_without_its_body() -> None:
    text = repr(_delivery(b'{"secret": "payload"}'))
    assert "delivery_id=1" in text and "secret" not in text
