"""Sinks: where canonical envelopes go (directory, https, odoo, nats)."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ValidationError

from .base import Delivery, Sink

#: sink kind → "module:SinkClass:ConfigClass", imported when used
SINK_KINDS: dict[str, str] = {
    "directory": "agent.sinks.directory:DirectorySink:DirectorySinkConfig",
    "https": "agent.sinks.https:HttpsSink:HttpsSinkConfig",
    "odoo": "agent.sinks.odoo:OdooSink:OdooSinkConfig",
    "nats": "agent.sinks.nats:NatsSink:NatsSinkConfig",
}


def build_sink(table: dict[str, Any]) -> Sink:
    """Build a sink from its ``[[sinks]]`` table.

    Raises:
        ValueError: unknown kind, or the table does not fit the kind's settings (all problems listed).
    """
    kind = str(table.get("kind", ""))
    ref = SINK_KINDS.get(kind)
    if ref is None:
        raise ValueError(f"unknown sink kind {kind!r}; known: {sorted(SINK_KINDS)}")
    module, sink_name, config_name = ref.split(":")
    try:
        mod = importlib.import_module(module)
        sink_cls = getattr(mod, sink_name)
        config_cls: type[BaseModel] = getattr(mod, config_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"this build has no {kind} sink ({exc})") from exc
    try:
        config = config_cls.model_validate(table)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(details) from exc
    sink: Sink = sink_cls(config)
    return sink


__all__ = ["SINK_KINDS", "Delivery", "Sink", "build_sink"]
