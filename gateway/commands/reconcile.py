"""``edigate reconcile [--since T] [--partner P] [--json]``: compare the journal with Odoo.

For every document the journal delivered to an Odoo sink, check that its
effect exists in Odoo (see :mod:`gateway.reconcile`) and print the gaps and
extras in plain words.  Registered by the main CLI like ``partners``
(:func:`register`).

Exit codes: 0 no gaps or extras; 1 gaps or extras found; 69
(``EX_UNAVAILABLE``) Odoo or the journal cannot be reached; 78 config problems.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from ..config import default_config_path, load_config
from ..errors import ConfigError
from ..journal import connect
from ..reconcile import ReconcileReport, delivered_to, reconcile

EX_OK = 0
EX_GAPS = 1
EX_UNAVAILABLE = 69
EX_CONFIG = 78

_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")


def parse_since(text: str, *, now: float | None = None) -> float:
    """``24h``, ``7d``, ``90m`` or an ISO date/datetime (UTC when no zone) → epoch seconds.

    Raises:
        ValueError: not understood.
    """
    at = time.time() if now is None else now
    m = _RELATIVE.match(text.strip())
    if m:
        return at - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    parsed = _dt.datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.UTC)
    return parsed.timestamp()


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Run the reconciliation and print it."""
    try:
        cfg = load_config(Path(args.config) if args.config else default_config_path())
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return EX_CONFIG
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError:
        print(f"--since {args.since!r}: use 24h, 7d or an ISO date such as 2026-11-29T00:00", file=sys.stderr)
        return EX_CONFIG
    from ..daemon import odoo_reconcile_link

    link = odoo_reconcile_link(cfg)
    if link is None:
        print("no odoo sink is configured: nothing to reconcile", file=sys.stderr)
        return EX_CONFIG
    sinks, refs, transport, unavailable = link
    db = cfg.gateway.state_dir / "journal.sqlite"
    if not db.exists():
        print(f"no journal at {db}", file=sys.stderr)
        return EX_UNAVAILABLE
    conn = connect(db, readonly=True)
    try:
        items = delivered_to(conn, sinks, since=since, partner=args.partner)
    finally:
        conn.close()
    since_odoo = (
        _dt.datetime.fromtimestamp(since, tz=_dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if since else None
    )
    try:
        report = asyncio.run(_run(items, transport, refs, since_odoo))
    except unavailable as exc:
        print(f"cannot reconcile: {exc}", file=sys.stderr)
        return EX_UNAVAILABLE
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for line in report.lines():
            print(line)
    return EX_OK if report.ok else EX_GAPS


async def _run(items: Any, transport: Any, refs: dict[str, str], since_odoo: str | None) -> ReconcileReport:
    try:
        return await reconcile(items, transport, refs, since_odoo=since_odoo)
    finally:
        await transport.aclose()


def register(subparsers: Any) -> None:
    """Add ``reconcile`` to the main CLI.

    Args:
        subparsers: the ``argparse`` sub-parsers action of the main parser.
    """
    p = subparsers.add_parser("reconcile", help="check that Odoo holds what the journal delivered")
    p.add_argument("--config", "-c", help="config file")
    p.add_argument("--since", help="only deliveries since: 24h, 7d or an ISO date/time (UTC)")
    p.add_argument("--partner", help="only this partner")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reconcile)


__all__ = ["cmd_reconcile", "parse_since", "register"]
