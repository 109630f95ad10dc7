"""Odoo behind a narrow seam: the transport (wire protocol) and the mapping (canonical → Odoo models)."""

from __future__ import annotations

from agent.odoo.json2 import OdooJson2Settings, OdooJson2Transport
from agent.odoo.lookup import OdooMappingOptions
from agent.odoo.mapping import MAPPERS, OdooOutcome, business_key
from agent.odoo.transport import (
    REDACTING_FILTER,
    OdooAccessDenied,
    OdooRejected,
    OdooRpcSettings,
    OdooRpcTransport,
    OdooTransport,
    OdooUnavailable,
    map_odoo_errors,
)

__all__ = [
    "MAPPERS",
    "REDACTING_FILTER",
    "OdooAccessDenied",
    "OdooJson2Settings",
    "OdooJson2Transport",
    "OdooMappingOptions",
    "OdooOutcome",
    "OdooRejected",
    "OdooRpcSettings",
    "OdooRpcTransport",
    "OdooTransport",
    "OdooUnavailable",
    "business_key",
    "map_odoo_errors",
]
