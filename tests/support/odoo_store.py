"""The in-memory Odoo database behind the stand-in: records, the ORM methods, business methods.

Every method here runs under the stand-in's lock, so each RPC is one transaction as in Odoo.
Field definitions and the domain language are in :mod:`tests.support.odoo_schema`.
"""

from __future__ import annotations

import copy
import datetime as _dt
import threading
from collections.abc import Callable
from typing import Any

from tests.support.odoo_schema import DEFAULTS, MODELS, UNIQUE, DomainError, evaluate

#: Methods any model answers (``odoo/models.py``).
_GENERIC = {
    "fields_get",
    "search",
    "search_read",
    "search_count",
    "read",
    "create",
    "write",
    "unlink",
    "default_get",
    "name_search",
}
_MAIL_THREAD = {"res.partner", "sale.order", "stock.picking", "account.move"}


class OdooFault(Exception):
    """An exception the stand-in's "server" raises; serialised as Odoo does."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _validation(message: str) -> OdooFault:
    return OdooFault("odoo.exceptions.ValidationError", f"The operation cannot be completed: {message}")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class OdooStore:
    """Records of every modelled model, with Odoo's ORM semantics.

    Args:
        login: the gateway user's login (its ``res.users`` record).
    """

    def __init__(self, *, login: str) -> None:
        self.login = login
        self.uid = 2
        self._lock = threading.RLock()
        self._data: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in MODELS}
        self._next: dict[str, int] = {name: 1 for name in MODELS}
        self._seed_base()

    def seed(self, model: str, **values: Any) -> int:
        """Insert a record directly (no RPC, no failure hooks) and return its id."""
        with self._lock:
            return self._create(model, values)

    def records(self, model: str, domain: list[Any] | None = None) -> list[dict[str, Any]]:
        """Stored records of ``model`` matching ``domain``, as ``read`` returns them (classic write)."""
        with self._lock:
            ids = self._search(model, domain or [])
            return self._read(model, ids, None, classic=True)

    def _call(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if method.startswith("_"):
            raise OdooFault(
                "odoo.exceptions.AccessError",
                f"Private methods (such as '{model}.{method}') cannot be called remotely.",
            )
        if model not in MODELS:
            raise OdooFault("odoo.exceptions.UserError", f"Object {model} doesn't exist")
        context = kwargs.pop("context", None) or {}
        handler: Callable[..., Any] | None = getattr(self, f"_m_{method}", None)
        specific = {
            "context_get": "res.users",
            "action_confirm": "sale.order",
            "button_validate": "stock.picking",
            "action_post": "account.move",
            "action_apply_inventory": "stock.quant",
        }
        allowed = (
            method in _GENERIC
            or specific.get(method) == model
            or (method == "message_post" and model in _MAIL_THREAD)
        )
        if handler is None or not allowed:
            raise OdooFault("builtins.AttributeError", f"type object '{model}' has no attribute '{method}'")
        try:
            return handler(model, *args, context=context, **kwargs)
        except TypeError as exc:
            raise OdooFault("builtins.TypeError", str(exc)) from exc
        except DomainError as exc:
            raise OdooFault("builtins.ValueError", str(exc)) from exc

    # -- storage -----------------------------------------------------------------------------

    def _seed_base(self) -> None:
        self._create("res.company", {"name": "Site Company"})
        self._data["res.users"][self.uid] = {
            "id": self.uid,
            "name": "EDI Gateway",
            "login": self.login,
            "partner_id": False,
            "create_date": _now(),
            "write_date": _now(),
        }
        self._next["res.users"] = self.uid + 1
        self._create("uom.uom", {"name": "Units"})
        wh = self._create("stock.location", {"name": "WH"})
        self._create("stock.location", {"name": "Stock", "location_id": wh})

    def _check_fields(self, model: str, values: dict[str, Any]) -> None:
        for name in values:
            if name not in MODELS[model] or name in ("display_name", "create_date", "write_date"):
                raise OdooFault("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")

    def _create(self, model: str, values: dict[str, Any]) -> int:
        self._check_fields(model, values)
        fields = MODELS[model]
        new_id = self._next[model]
        record: dict[str, Any] = {
            name: False for name, f in fields.items() if f["type"] not in ("one2many", "many2many")
        }
        record.update(DEFAULTS.get(model, {}))
        commands = {k: v for k, v in values.items() if fields[k]["type"] in ("one2many", "many2many")}
        record.update({k: v for k, v in values.items() if k not in commands})
        record.update(id=new_id, create_date=_now(), write_date=_now())
        self._complete(model, record)
        for name, f in fields.items():
            if f.get("required") and record.get(name) in (False, None, ""):
                raise _validation(
                    f"a mandatory field is not set.\n\nModel: {model}\nField: {f['string']} ({name})"
                )
            if f["type"] == "many2one" and record.get(name) and record[name] not in self._data[f["relation"]]:
                raise _validation(
                    f"the record {f['relation']}({record[name]}) referenced by {name} does not exist"
                )
        for columns, constraint in UNIQUE.get(model, []):
            key = tuple(record.get(c) for c in columns)
            if any(tuple(other.get(c) for c in columns) == key for other in self._data[model].values()):
                raise _validation(
                    f'duplicate key value violates unique constraint "{constraint}"\n'
                    f"DETAIL:  Key ({', '.join(columns)})=({', '.join(map(str, key))}) already exists."
                )
        self._data[model][new_id] = record
        self._next[model] = new_id + 1
        try:
            for name, cmds in commands.items():
                self._x2many(model, new_id, name, cmds)
        except OdooFault:
            del self._data[model][new_id]  # the whole create is one transaction
            raise
        self._after_create(model, record)
        return new_id

    def _complete(self, model: str, record: dict[str, Any]) -> None:
        seq = self._next[model]
        if model == "sale.order" and not record.get("name"):
            record["name"], record["date_order"] = f"S{seq:05d}", _now()
        elif model == "stock.picking" and not record.get("name"):
            record["name"] = f"WH/OUT/{seq:05d}"
        elif model == "edi.exchange.record":
            record["identifier"] = f"EDI/{seq:05d}"

    def _after_create(self, model: str, record: dict[str, Any]) -> None:
        if model == "res.partner":
            parent = record.get("parent_id")
            record["commercial_partner_id"] = (
                self._data["res.partner"][parent]["commercial_partner_id"] if parent else record["id"]
            )
        if model == "account.move":
            lines = self._children("account.move.line", "move_id", record["id"])
            record["amount_total"] = round(sum(ln["quantity"] * ln["price_unit"] for ln in lines), 2)

    def _children(self, model: str, inverse: str, parent: int) -> list[dict[str, Any]]:
        return [r for r in self._data[model].values() if r.get(inverse) == parent]

    def _x2many(self, model: str, rec_id: int, name: str, commands: list[Any]) -> None:
        f = MODELS[model][name]
        relation, inverse = str(f["relation"]), str(f.get("relation_field"))
        for command in commands:
            code = command[0]
            if code == 0:
                self._create(relation, {**command[2], inverse: rec_id})
            elif code == 1:
                self._write(relation, [command[1]], command[2])
            elif code == 2:
                self._data[relation].pop(command[1], None)
            elif code in (4, 6):
                for child in [command[1]] if code == 4 else command[2]:
                    self._write(relation, [child], {inverse: rec_id})
            else:
                raise OdooFault("builtins.ValueError", f"Unsupported x2many command {command!r}")

    def _write(self, model: str, ids: list[int], values: dict[str, Any]) -> bool:
        self._check_fields(model, values)
        missing = [i for i in ids if i not in self._data[model]]
        if missing:
            raise OdooFault(
                "odoo.exceptions.MissingError",
                f"Record does not exist or has been deleted.\n(Record: {model}({missing[0]},), "
                f"User: {self.uid})",
            )
        for rec_id in ids:
            record = self._data[model][rec_id]
            for name, value in values.items():
                if MODELS[model][name]["type"] in ("one2many", "many2many"):
                    self._x2many(model, rec_id, name, value)
                else:
                    record[name] = value
            record["write_date"] = _now()
        return True

    def _display_name(self, model: str, rec_id: int) -> str:
        record = self._data[model][rec_id]
        if model == "res.partner" and record.get("parent_id"):
            return f"{self._display_name(model, record['parent_id'])}, {record['name']}"
        return str(record.get("name") or record.get("identifier") or f"{model},{rec_id}")

    def _value(self, model: str, record: dict[str, Any], name: str, *, classic: bool) -> Any:
        f = MODELS[model][name]
        if name == "display_name":
            return self._display_name(model, record["id"])
        if f["type"] in ("one2many", "many2many"):
            return sorted(r["id"] for r in self._children(f["relation"], f["relation_field"], record["id"]))
        value = record.get(name, False)
        if f["type"] == "many2one" and value and not classic:
            return [value, self._display_name(f["relation"], value)]
        return value

    def _resolve(self, model: str, record: dict[str, Any], path: str) -> list[Any]:
        head, _, rest = path.partition(".")
        if head == "id":
            return [record["id"]]
        if head not in MODELS[model]:
            raise DomainError(f"Invalid field {head!r} on model {model!r}")
        value = self._value(model, record, head, classic=True)
        if not rest:
            return [value]
        relation = MODELS[model][head].get("relation")
        if relation is None:
            raise DomainError(f"Field {head!r} on {model!r} is not relational")
        ids = value if isinstance(value, list) else ([value] if value else [])
        out: list[Any] = []
        for rel_id in ids:
            out.extend(self._resolve(relation, self._data[relation][rel_id], rest))
        return out

    def _descendants(self, model: str, ids: list[int]) -> set[int]:
        found, frontier = set(ids), list(ids)
        parent_field = "parent_id" if "parent_id" in MODELS[model] else "location_id"
        while frontier:
            current = frontier.pop()
            for rec in self._data[model].values():
                if rec.get(parent_field) == current and rec["id"] not in found:
                    found.add(rec["id"])
                    frontier.append(rec["id"])
        return found

    def _search(
        self,
        model: str,
        domain: list[Any],
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
    ) -> list[int]:
        matches = [
            r
            for r in self._data[model].values()
            if ("active" not in r or r["active"] is not False or _mentions(domain, "active"))
            and evaluate(domain, model, r, self._resolve, self._descendants)
        ]
        for term in reversed([t.strip() for t in (order or "id").split(",") if t.strip()]):
            name, _, direction = term.partition(" ")
            matches.sort(
                key=lambda r, n=name: (r.get(n) is False, r.get(n) or 0),  # type: ignore[misc]
                reverse=direction.strip().lower() == "desc",
            )
        ids = [r["id"] for r in matches][offset:]
        return ids[:limit] if limit else ids

    def _read(
        self, model: str, ids: list[int], fields: list[str] | None, *, classic: bool
    ) -> list[dict[str, Any]]:
        names = [n for n in (fields or list(MODELS[model])) if n != "id"]
        for name in names:
            if name not in MODELS[model]:
                raise OdooFault("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")
        out = []
        for rec_id in ids:
            record = self._data[model].get(rec_id)
            if record is not None:  # missing ids are left out silently, as Odoo does
                out.append(
                    {"id": rec_id, **{n: self._value(model, record, n, classic=classic) for n in names}}
                )
        return out

    # -- ORM methods (``_m_<name>``) ------------------------------------------------------------

    def _m_fields_get(
        self,
        model: str,
        allfields: list[str] | None = None,
        attributes: list[str] | None = None,
        *,
        context: dict[str, Any],
    ) -> dict[str, Any]:
        fields = {
            "id": {"type": "integer", "string": "ID", "readonly": True, "required": False},
            **copy.deepcopy(MODELS[model]),
        }
        if allfields:
            fields = {k: v for k, v in fields.items() if k in allfields}
        if attributes:
            fields = {k: {a: v[a] for a in attributes if a in v} for k, v in fields.items()}
        return fields

    def _m_search(
        self,
        model: str,
        domain: list[Any],
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        count: bool = False,
        *,
        context: dict[str, Any],
    ) -> Any:
        ids = self._search(model, domain, offset, limit, order)
        return len(ids) if count else ids

    def _m_search_count(
        self, model: str, domain: list[Any], limit: int | None = None, *, context: dict[str, Any]
    ) -> int:
        return len(self._search(model, domain, 0, limit))

    def _m_search_read(
        self,
        model: str,
        domain: list[Any] | None = None,
        fields: list[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        *,
        context: dict[str, Any],
        load: str = "_classic_read",
    ) -> list[dict[str, Any]]:
        ids = self._search(model, domain or [], offset, limit, order)
        return self._read(model, ids, fields, classic=load == "_classic_write")

    def _m_read(
        self,
        model: str,
        ids: list[int] | int,
        fields: list[str] | None = None,
        *,
        context: dict[str, Any],
        load: str = "_classic_read",
    ) -> list[dict[str, Any]]:
        return self._read(
            model, [ids] if isinstance(ids, int) else list(ids), fields, classic=load == "_classic_write"
        )

    def _m_create(
        self, model: str, vals_list: dict[str, Any] | list[dict[str, Any]], *, context: dict[str, Any]
    ) -> int | list[int]:
        # odoo/api.py _call_kw_model_create: a dict gives an id, a list gives ids.
        if isinstance(vals_list, dict):
            return self._create(model, vals_list)
        return [self._create(model, vals) for vals in vals_list]

    def _m_write(self, model: str, ids: list[int], vals: dict[str, Any], *, context: dict[str, Any]) -> bool:
        return self._write(model, list(ids), vals)

    def _m_unlink(self, model: str, ids: list[int], *, context: dict[str, Any]) -> bool:
        for rec_id in ids:
            self._data[model].pop(rec_id, None)
        return True

    def _m_default_get(
        self, model: str, fields_list: list[str], *, context: dict[str, Any]
    ) -> dict[str, Any]:
        return {k: v for k, v in DEFAULTS.get(model, {}).items() if k in fields_list}

    def _m_name_search(
        self,
        model: str,
        name: str = "",
        args: list[Any] | None = None,
        operator: str = "ilike",
        limit: int = 100,
        *,
        context: dict[str, Any],
    ) -> list[list[Any]]:
        domain = list(args or []) + ([("name", operator, name)] if name else [])
        return [[i, self._display_name(model, i)] for i in self._search(model, domain, 0, limit)]

    def _m_context_get(self, model: str, *, context: dict[str, Any]) -> dict[str, Any]:
        return {"lang": "en_US", "tz": "Europe/Brussels"}

    def _m_action_confirm(self, model: str, ids: list[int], *, context: dict[str, Any]) -> bool:
        for order_id in ids:
            order = self._data[model][order_id]
            if order["state"] != "draft":
                raise OdooFault(
                    "odoo.exceptions.UserError", "Some orders are not in a state requiring confirmation."
                )
            order["state"] = "sale"
            lines = self._children("sale.order.line", "order_id", order_id)
            if lines:
                self._create(
                    "stock.picking",
                    {
                        "origin": order["name"],
                        "partner_id": order["partner_shipping_id"] or order["partner_id"],
                        "sale_id": order_id,
                        "state": "assigned",
                        "move_ids": [
                            [
                                0,
                                0,
                                {
                                    "product_id": ln["product_id"],
                                    "product_uom_qty": ln["product_uom_qty"],
                                    "state": "assigned",
                                },
                            ]
                            for ln in lines
                            if ln["product_id"]
                        ],
                    },
                )
        return True

    def _m_button_validate(self, model: str, ids: list[int], *, context: dict[str, Any]) -> Any:
        for picking_id in ids:
            picking = self._data[model][picking_id]
            if picking["state"] in ("done", "cancel"):
                raise OdooFault(
                    "odoo.exceptions.UserError", "You cannot validate a transfer that is done or cancelled."
                )
            moves = self._children("stock.move", "picking_id", picking_id)
            if not any(m["quantity"] for m in moves):
                raise OdooFault(
                    "odoo.exceptions.UserError",
                    "You cannot validate a transfer if no quantities are reserved nor done.",
                )
            short = [m for m in moves if m["quantity"] < m["product_uom_qty"]]
            if short and not context.get("skip_backorder"):
                return {
                    "type": "ir.actions.act_window",
                    "res_model": "stock.backorder.confirmation",
                    "name": "Create Backorder?",
                    "target": "new",
                    "context": {"button_validate_picking_ids": ids},
                }
            for move in moves:
                move["state"] = "done"
            picking.update(state="done", date_done=_now())
            if short and picking_id not in context.get("picking_ids_not_to_backorder", []):
                self._create(
                    "stock.picking",
                    {
                        "origin": picking["origin"],
                        "partner_id": picking["partner_id"],
                        "sale_id": picking["sale_id"],
                        "backorder_id": picking_id,
                        "state": "assigned",
                        "move_ids": [
                            [
                                0,
                                0,
                                {
                                    "product_id": m["product_id"],
                                    "state": "assigned",
                                    "product_uom_qty": m["product_uom_qty"] - m["quantity"],
                                },
                            ]
                            for m in short
                        ],
                    },
                )
        return True

    def _m_action_post(self, model: str, ids: list[int], *, context: dict[str, Any]) -> bool:
        for move_id in ids:
            move = self._data[model][move_id]
            if move["state"] != "draft":
                raise OdooFault("odoo.exceptions.UserError", "Only draft journal entries can be posted.")
            move.update(state="posted", name=f"BILL/{move_id:04d}")
        return True

    def _m_action_apply_inventory(self, model: str, ids: list[int], *, context: dict[str, Any]) -> None:
        for quant_id in ids:
            quant = self._data[model][quant_id]
            if quant["inventory_quantity_set"]:
                quant.update(
                    quantity=quant["inventory_quantity"], inventory_quantity=0.0, inventory_quantity_set=False
                )
        return None  # Odoo returns None here: the reply has no "result" key

    def _m_message_post(
        self,
        model: str,
        ids: list[int] | int,
        *,
        context: dict[str, Any],
        body: str = "",
        message_type: str = "notification",
        subtype_xmlid: str | None = None,
        **_ignored: Any,
    ) -> int:
        rec_ids = [ids] if isinstance(ids, int) else list(ids)
        if len(rec_ids) != 1 or rec_ids[0] not in self._data[model]:
            raise OdooFault("builtins.ValueError", f"Expected singleton: {model}{tuple(rec_ids)}")
        return self._create(
            "mail.message",
            {
                "model": model,
                "res_id": rec_ids[0],
                "body": body,
                "message_type": message_type,
                "subtype_xmlid": subtype_xmlid or False,
            },
        )


def _mentions(domain: list[Any], name: str) -> bool:
    return any(isinstance(t, (list, tuple)) and t and t[0] == name for t in domain)


__all__ = ["OdooFault", "OdooStore"]
