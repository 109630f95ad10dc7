"""Outbound pulls: documents that Odoo produces, fetched over the outbound-only link."""

from __future__ import annotations

from .odoo import PULLING, OdooCaller, OdooPull, PullSettings, PullStats, pull_status

__all__ = ["PULLING", "OdooCaller", "OdooPull", "PullSettings", "PullStats", "pull_status"]
