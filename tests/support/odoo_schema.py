"""Field definitions of the Odoo 17 models the stand-in serves, and Odoo's domain language.

Only what the gateway's mapping touches is modelled, with Odoo's own field
names, types and relations (``reference/odoo.md`` §6).  ``fields_get`` serves
these definitions, so the real ``odoorpc`` client builds its models from them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

Field = dict[str, Any]


def _f(ftype: str, string: str, relation: str | None = None, **extra: Any) -> Field:
    field: Field = {"type": ftype, "string": string, "readonly": False, "required": False, **extra}
    if relation is not None:
        field["relation"] = relation
    return field


def _m2o(relation: str, string: str, **extra: Any) -> Field:
    return _f("many2one", string, relation, **extra)


def _o2m(relation: str, string: str, inverse: str) -> Field:
    return _f("one2many", string, relation, relation_field=inverse)


_COMMON: dict[str, Field] = {
    "display_name": _f("char", "Display Name", readonly=True),
    "create_date": _f("datetime", "Created on", readonly=True),
    "write_date": _f("datetime", "Last Updated on", readonly=True),
}

MODELS: dict[str, dict[str, Field]] = {
    "res.users": {
        "name": _f("char", "Name"),
        "login": _f("char", "Login"),
        "partner_id": _m2o("res.partner", "Partner"),
    },
    "res.company": {"name": _f("char", "Company Name")},
    "res.partner": {
        "name": _f("char", "Name"),
        "ref": _f("char", "Reference"),
        "vat": _f("char", "Tax ID"),
        "barcode": _f("char", "Barcode"),
        "type": _f("selection", "Address Type"),
        "parent_id": _m2o("res.partner", "Related Company"),
        "child_ids": _o2m("res.partner", "Contact", "parent_id"),
        "commercial_partner_id": _m2o("res.partner", "Commercial Entity", readonly=True),
        "company_id": _m2o("res.company", "Company"),
        "active": _f("boolean", "Active"),
    },
    "uom.uom": {"name": _f("char", "Unit", required=True)},
    "product.product": {
        "name": _f("char", "Name", required=True),
        "default_code": _f("char", "Internal Reference"),
        "barcode": _f("char", "Barcode"),
        "uom_id": _m2o("uom.uom", "Unit of Measure"),
        "active": _f("boolean", "Active"),
    },
    "sale.order": {
        "name": _f("char", "Order Reference"),
        "partner_id": _m2o("res.partner", "Customer", required=True),
        "partner_invoice_id": _m2o("res.partner", "Invoice Address"),
        "partner_shipping_id": _m2o("res.partner", "Delivery Address"),
        "client_order_ref": _f("char", "Customer Reference"),
        "origin": _f("char", "Source Document"),
        "commitment_date": _f("datetime", "Delivery Date"),
        "date_order": _f("datetime", "Order Date"),
        "state": _f("selection", "Status"),
        "note": _f("html", "Terms and conditions"),
        "order_line": _o2m("sale.order.line", "Order Lines", "order_id"),
        "picking_ids": _o2m("stock.picking", "Transfers", "sale_id"),
    },
    "sale.order.line": {
        "order_id": _m2o("sale.order", "Order Reference", required=True),
        "name": _f("text", "Description"),
        "product_id": _m2o("product.product", "Product"),
        "product_uom_qty": _f("float", "Quantity"),
        "product_uom": _m2o("uom.uom", "Unit of Measure"),
        "price_unit": _f("float", "Unit Price"),
    },
    "stock.location": {"name": _f("char", "Location Name"), "location_id": _m2o("stock.location", "Parent")},
    "stock.picking": {
        "name": _f("char", "Reference"),
        "origin": _f("char", "Source Document"),
        "partner_id": _m2o("res.partner", "Contact"),
        "picking_type_code": _f("selection", "Type of Operation"),
        "state": _f("selection", "Status"),
        "carrier_tracking_ref": _f("char", "Tracking Reference"),
        "date_done": _f("datetime", "Date of Transfer"),
        "sale_id": _m2o("sale.order", "Sales Order"),
        "move_ids": _o2m("stock.move", "Stock Moves", "picking_id"),
        "move_line_ids": _o2m("stock.move.line", "Operations", "picking_id"),
        "backorder_id": _m2o("stock.picking", "Back Order of"),
    },
    "stock.move": {
        "picking_id": _m2o("stock.picking", "Transfer"),
        "product_id": _m2o("product.product", "Product", required=True),
        "product_uom_qty": _f("float", "Demand"),
        "quantity": _f("float", "Quantity"),
        "picked": _f("boolean", "Picked"),
        "state": _f("selection", "Status"),
    },
    "stock.move.line": {
        "move_id": _m2o("stock.move", "Stock Operation"),
        "picking_id": _m2o("stock.picking", "Transfer"),
        "product_id": _m2o("product.product", "Product"),
        "quantity": _f("float", "Quantity"),
        "lot_name": _f("char", "Lot/Serial Number Name"),
        "result_package_name": _f("char", "Destination Package"),
        "picked": _f("boolean", "Picked"),
    },
    "account.move": {
        "name": _f("char", "Number"),
        "move_type": _f("selection", "Type", required=True),
        "partner_id": _m2o("res.partner", "Partner"),
        "ref": _f("char", "Reference"),
        "invoice_date": _f("date", "Invoice/Bill Date"),
        "invoice_date_due": _f("date", "Due Date"),
        "invoice_origin": _f("char", "Origin"),
        "payment_reference": _f("char", "Payment Reference"),
        "state": _f("selection", "Status"),
        "amount_total": _f("monetary", "Total", readonly=True),
        "invoice_line_ids": _o2m("account.move.line", "Invoice lines", "move_id"),
    },
    "account.move.line": {
        "move_id": _m2o("account.move", "Journal Entry", required=True),
        "product_id": _m2o("product.product", "Product"),
        "name": _f("char", "Label"),
        "quantity": _f("float", "Quantity"),
        "price_unit": _f("float", "Unit Price"),
    },
    "stock.quant": {
        "product_id": _m2o("product.product", "Product", required=True),
        "location_id": _m2o("stock.location", "Location", required=True),
        "quantity": _f("float", "Quantity", readonly=True),
        "reserved_quantity": _f("float", "Reserved Quantity", readonly=True),
        "inventory_quantity": _f("float", "Counted Quantity"),
        "inventory_quantity_set": _f("boolean", "Inventory Quantity Set"),
    },
    "mail.message": {
        "model": _f("char", "Related Document Model"),
        "res_id": _f("many2one_reference", "Related Document ID"),
        "body": _f("html", "Contents"),
        "message_type": _f("selection", "Type"),
        "subtype_xmlid": _f("char", "Subtype"),
    },
    "edi.backend": {"name": _f("char", "Name", required=True)},
    "edi.exchange.type": {
        "name": _f("char", "Name", required=True),
        "code": _f("char", "Code", required=True),
        "direction": _f("selection", "Direction"),
        "backend_id": _m2o("edi.backend", "Backend"),
    },
    "edi.exchange.record": {
        "identifier": _f("char", "Identifier", readonly=True),
        "external_identifier": _f("char", "External ID"),
        "type_id": _m2o("edi.exchange.type", "Exchange type", required=True),
        "backend_id": _m2o("edi.backend", "Backend", required=True),
        "exchange_file": _f("binary", "Exchange file"),
        "exchange_filename": _f("char", "Exchange filename"),
        "edi_exchange_state": _f("selection", "Exchange state"),
        "model": _f("char", "Model"),
        "res_id": _f("many2one_reference", "Record"),
    },
}
for _fields in MODELS.values():
    _fields.update(_COMMON)

#: Default values ``create`` fills in (Odoo's field defaults).
DEFAULTS: dict[str, dict[str, Any]] = {
    "res.partner": {"type": "contact", "active": True},
    "product.product": {"active": True},
    "sale.order": {"state": "draft"},
    "stock.picking": {"state": "draft", "picking_type_code": "outgoing"},
    "stock.move": {"state": "draft", "quantity": 0.0, "picked": False},
    "account.move": {"state": "draft", "name": "/"},
    "edi.exchange.record": {"edi_exchange_state": "new"},
}

#: SQL unique constraints: ``(model) -> [(fields, constraint name)]`` (edi_oca's exchange record).
UNIQUE: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "edi.exchange.record": [
        (("external_identifier", "backend_id", "type_id"), "edi_exchange_record_external_identifier_uniq")
    ],
}


class DomainError(ValueError):
    """A domain the stand-in (and Odoo) cannot evaluate."""


def _like(value: Any, pattern: Any, *, case: bool, wrap: bool) -> bool:
    if value is False or value is None:
        return False
    text, pat = str(value), str(pattern)
    if not case:
        text, pat = text.lower(), pat.lower()
    if wrap:
        return pat in text
    return fnmatch.fnmatchcase(text, pat.replace("%", "*").replace("_", "?"))


def _compare(op: str, value: Any, target: Any) -> bool:
    if isinstance(value, list):  # x2many: true when any linked id matches
        if op in ("=", "in"):
            wanted = target if isinstance(target, list) else [target]
            return bool(set(value) & set(wanted)) if value else (target is False or target == [])
        if op in ("!=", "not in"):
            return not _compare("in" if op == "not in" else "=", value, target)
    if op == "=":
        return bool(value == target or (target is False and value in (False, None, "")))
    if op == "!=":
        return not _compare("=", value, target)
    if op == "in":
        return value in target
    if op == "not in":
        return value not in target
    if op in ("<", ">", "<=", ">="):
        if value is False or value is None or target is False:
            return False
        return bool(
            {"<": value < target, ">": value > target, "<=": value <= target, ">=": value >= target}[op]
        )
    if op == "ilike":
        return _like(value, target, case=False, wrap=True)
    if op == "not ilike":
        return not _like(value, target, case=False, wrap=True)
    if op == "like":
        return _like(value, target, case=True, wrap=True)
    if op == "=ilike":
        return _like(value, target, case=False, wrap=False)
    if op == "=like":
        return _like(value, target, case=True, wrap=False)
    raise DomainError(f"Invalid operator {op!r}")


def relation_of(model: str, path: str) -> str:
    """The model a (dotted) field path ends on; ``id`` is the model itself."""
    current = model
    for name in path.split("."):
        if name == "id":
            return current
        field = MODELS[current].get(name)
        if field is None:
            raise DomainError(f"Invalid field {name!r} on model {current!r}")
        current = field.get("relation", current)
    return current


Resolver = Callable[[str, dict[str, Any], str], list[Any]]
Descendants = Callable[[str, list[int]], set[int]]


def evaluate(
    domain: list[Any], model: str, record: dict[str, Any], resolve: Resolver, descendants: Descendants
) -> bool:
    """Evaluate an Odoo domain (Polish notation, implicit AND) on one record.

    Args:
        domain: e.g. ``['|', ('name', '=', 'x'), ('ref', 'ilike', 'y')]``.
        model: the record's model.
        record: the stored values.
        resolve: ``(model, record, dotted_path) -> values`` following relations.
        descendants: ``(model, ids) -> ids and their children`` for ``child_of``.

    Returns:
        Whether the record matches.

    Raises:
        DomainError: malformed domain or unknown operator.
    """

    def leaf(term: list[Any] | tuple[Any, ...]) -> bool:
        if len(term) != 3:
            raise DomainError(f"Invalid leaf {term!r}")
        path, op, target = term
        if op in ("child_of", "parent_of"):
            ids = target if isinstance(target, list) else [target]
            relation = relation_of(model, path)
            wanted = descendants(relation, [int(i) for i in ids])
            values = resolve(model, record, path)
            flat = [v for item in values for v in (item if isinstance(item, list) else [item])]
            return any(v in wanted for v in flat)
        values = resolve(model, record, path)
        if not values:
            return _compare(op, False, target) if op not in ("in",) else False
        if op in ("!=", "not in", "not ilike"):
            return all(_compare(op, v, target) for v in values)
        return any(_compare(op, v, target) for v in values)

    def parse(pos: int) -> tuple[bool, int]:
        token = domain[pos]
        if token == "!":
            value, nxt = parse(pos + 1)
            return not value, nxt
        if token in ("&", "|"):
            left, nxt = parse(pos + 1)
            right, nxt = parse(nxt)
            return (left and right) if token == "&" else (left or right), nxt
        if isinstance(token, (list, tuple)):
            return leaf(token), pos + 1
        raise DomainError(f"Invalid domain term {token!r}")

    pos, result = 0, True
    while pos < len(domain):
        value, pos = parse(pos)
        result = result and value
    return result
