"""The ``edigate`` command line: a thin layer over the daemon and the journal.

The commands, flags and exit codes here are a contract operators' scripts
rely on:

* ``validate`` exits 0 when valid, 78 (EX_CONFIG) on any problem;
* ``translate`` exits 65 (EX_DATAERR) on bad input, with one line on stderr;
* ``status`` exits 0 running, 3 not running (journal figures still shown),
  4 unknown (LSB ``status`` codes, as supervisorctl);
* every listing takes ``--json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import report
from .config import Config, default_config_path, load_config
from .errors import ConfigError, ControlError, GatewayError

EX_OK = 0
EX_FAILURE = 1
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_CONFIG = 78
STATUS_NOT_RUNNING = 3
STATUS_UNKNOWN = 4


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _config(args: argparse.Namespace) -> Config:
    path = Path(args.config) if args.config else default_config_path()
    return load_config(path)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return _dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M:%S")


def _reader(cfg: Config) -> Any:
    from .journal import connect

    db = cfg.gateway.state_dir / "journal.sqlite"
    if not db.exists():
        return None
    return connect(db, readonly=True)


# ---------------------------------------------------------------------- commands


def cmd_init(args: argparse.Namespace) -> int:
    from .scaffold import create_dev_setup

    created = create_dev_setup(Path(args.dir), force=args.force)
    for line in created:
        print(line)
    return EX_OK


def cmd_run(args: argparse.Namespace) -> int:
    from . import logs
    from .daemon import run

    try:
        cfg = _config(args)
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return EX_CONFIG
    logs.configure(args.log_level or cfg.gateway.log_level)
    return run(cfg)


def cmd_validate(args: argparse.Namespace) -> int:
    from .daemon import check_config

    try:
        cfg = _config(args)
        problems = check_config(cfg, environment=not args.no_environment)
    except ConfigError as exc:
        problems = exc.problems
    if args.json:
        _print_json({"valid": not problems, "problems": problems})
    else:
        for p in problems:
            print(p, file=sys.stderr)
        if not problems:
            print("configuration is valid")
    return EX_CONFIG if problems else EX_OK


def cmd_status(args: argparse.Namespace) -> int:
    while True:
        code = _status_once(args)
        if not args.watch:
            return code
        time.sleep(args.interval)


def _status_once(args: argparse.Namespace) -> int:
    from .control import request

    try:
        cfg = _config(args)
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return STATUS_UNKNOWN
    live: dict[str, Any] | None = None
    code = EX_OK
    try:
        live = request(cfg.gateway.socket_path, {"command": "status"})
    except (FileNotFoundError, ConnectionRefusedError):
        code = STATUS_NOT_RUNNING
    except (ControlError, OSError) as exc:
        code = STATUS_UNKNOWN
        live = {"error": str(exc)}
    conn = _reader(cfg)
    now = time.time()
    journal: dict[str, Any] = {}
    if conn is not None:
        with conn:
            journal = {
                "totals": report.totals(conn),
                "partners": report.partner_summary(conn, now),
                "sinks": report.sink_backlog(conn, now),
                "events_24h": report.recent_events(conn, now - 86400),
            }
    out = {"running": code == EX_OK, "exit_code": code, "daemon": live, "journal": journal}
    if args.json:
        _print_json(out)
    else:
        print(_format_status(out, cfg))
    return code


def _format_status(out: dict[str, Any], cfg: Config) -> str:
    lines: list[str] = []
    live = out["daemon"] or {}
    if out["running"]:
        lines.append(
            f"edigate {live.get('version', '?')} is RUNNING (pid {live.get('pid')}, up "
            f"{_age(live.get('uptime_seconds'))})"
        )
    elif out["exit_code"] == STATUS_NOT_RUNNING:
        lines.append("edigate is NOT RUNNING (figures below are from the journal)")
    else:
        lines.append(f"edigate state UNKNOWN: {live.get('error')}")
    free = live.get("disk_free_bytes")
    if free is not None:
        floor = live.get("disk_floor_bytes") or 0
        warn = "  << BELOW FLOOR: intake paused" if free < floor else ""
        lines.append(f"disk free: {free // (1024 * 1024)} MiB (floor {floor // (1024 * 1024)} MiB){warn}")
    journal = out["journal"]
    if not journal:
        lines.append("journal: empty (nothing received yet)")
        return "\n".join(lines)
    lines.append("")
    lines.append("PARTNERS")
    header = (
        f"  {'partner':<20} {'today':>6} {'waiting':>8} {'oldest':>9} {'delivered':>10} {'failed':>7}"
        "  last problem"
    )
    lines.append(header)
    for p in journal["partners"]:
        st = p["states"]
        waiting = st["received"] + st["translated"] + st["queued"]
        failed = st["rejected"] + st["dead"]
        problem = p["last_error"] or ""
        if problem:
            problem = f"{_when(p['last_error_at'])}: {problem}"
        lines.append(
            f"  {p['partner'][:20]:<20} {p['received_today']:>6} {waiting:>8} "
            f"{_age(p['oldest_undelivered_seconds']):>9} {st['delivered']:>10} {failed:>7}  {problem[:120]}"
        )
    lines.append("")
    lines.append("SINKS")
    live_sinks = {s["name"]: s for s in live.get("sinks", [])}
    backlog = {s["sink"]: s for s in journal["sinks"]}
    names = sorted(set(live_sinks) | set(backlog) | {s.name for s in cfg.sinks})
    for name in names:
        ls = live_sinks.get(name, {})
        b = backlog.get(name, {"pending": 0, "oldest_seconds": None, "last_error": None})
        health = ("up" if ls.get("healthy") else f"DOWN ({ls.get('breaker')})") if ls else "-"
        err = ls.get("last_error") or b.get("last_error") or ""
        lines.append(
            f"  {name:<20} {health:<16} backlog {b['pending']:>6}  oldest {_age(b['oldest_seconds']):>9}"
            f"  {('last error: ' + err)[:100] if err else ''}"
        )
    if live.get("sources"):
        lines.append("")
        lines.append("SOURCES")
        for s in live["sources"]:
            lines.append(
                f"  {s.get('name', '?'):<20} {s.get('kind', ''):<10} {s.get('listening', '')}  "
                f"taken {s.get('taken', '-')}  refused {s.get('refused', '-')}"
            )
            for w in s.get("waiting", [])[:5]:
                lines.append(f"      waiting {_age(w['waiting_seconds'])}: {w['file']}: {w['reason']}")
    events = journal.get("events_24h") or {}
    if events:
        lines.append("")
        lines.append("LAST 24 H: " + ", ".join(f"{k} {v}" for k, v in sorted(events.items())))
    profiles = live.get("profiles") or {}
    for e in profiles.get("errors", []):
        lines.append(f"PROFILE PROBLEM: {e}")
    t = journal["totals"]
    lines.append("")
    lines.append("TOTAL: " + ", ".join(f"{k} {v}" for k, v in t.items()))
    return "\n".join(lines)


def cmd_messages(args: argparse.Namespace) -> int:
    cfg = _config(args)
    conn = _reader(cfg)
    if conn is None:
        print("the journal is empty", file=sys.stderr)
        return EX_NOINPUT if args.action != "list" else EX_OK
    with conn:
        if args.action == "list":
            states = tuple(args.state.split(",")) if args.state else None
            rows = report.list_messages(conn, states=states, partner=args.partner, limit=args.limit)
            if args.json:
                _print_json(rows)
            else:
                _print_message_rows(rows)
            return EX_OK
        detail = (report.message_trace if args.action == "trace" else report.message_detail)(conn, args.id)
        if detail is None:
            print(f"no message {args.id}", file=sys.stderr)
            return EX_NOINPUT
        if args.action == "trace":
            spool = cfg.gateway.state_dir / "spool" / detail["sha256"][:2] / detail["sha256"]
            detail["raw_path"] = str(spool)
            if args.raw or args.json:
                try:
                    detail["raw"] = spool.read_bytes().decode("latin-1")
                except FileNotFoundError:
                    detail["raw"] = None
        if args.json:
            _print_json(detail)
        else:
            _print_detail(detail)
        return EX_OK


def _print_message_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'id':>8}  {'received':<19}  {'partner':<16} {'state':<10} {'file':<30} reason")
    for r in rows:
        print(
            f"{r['id']:>8}  {_when(r['received_at']):<19}  {str(r['partner'] or '-')[:16]:<16} "
            f"{r['state']:<10} {str(r['file_name'] or '-')[:30]:<30} {(r['reason'] or '')[:100]}"
        )


def _print_detail(d: dict[str, Any]) -> None:
    print(f"message {d['id']}: {d['state']}" + (f" - {d['reason']}" if d["reason"] else ""))
    print(
        f"  partner {d['partner']}  via {d['transport']}  file {d['file_name']}  {d['size']} bytes  "
        f"sha256 {d['sha256']}"
    )
    print(f"  received {_when(d['received_at'])}")
    if "raw_path" in d:
        print(f"  raw bytes: {d['raw_path']}")
    for h in d.get("history", []):
        print(f"  {_when(h['at'])}  -> {h['state']}" + (f": {h['reason']}" if h["reason"] else ""))
    for doc in d["documents"]:
        print(f"  document {doc['seq']}: {doc['document_type']}  key {doc['idempotency_key']}")
    for dl in d["deliveries"]:
        print(
            f"  delivery {dl['id']} to {dl['sink']}: {dl['state']} after {dl['attempts']} attempt(s)"
            + (f"; last error: {dl['last_error']}" if dl["last_error"] else "")
        )
        for a in dl.get("attempts_log", []):
            print(f"      {_when(a['at'])} {'ok' if a['ok'] else 'failed: ' + str(a['error'])}")
    for c in d.get("canonical", []):
        print(json.dumps(c, indent=2, default=str))
    if d.get("raw") is not None and "canonical" in d:
        print("----- raw -----")
        print(d["raw"])


def cmd_dead(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.action == "list":
        conn = _reader(cfg)
        rows = (
            []
            if conn is None
            else report.list_messages(
                conn, states=report.FAILED_STATES, partner=args.partner, limit=args.limit
            )
        )
        if args.json:
            _print_json(rows)
        else:
            _print_message_rows(rows)
        return EX_OK
    if not args.all and not args.ids:
        print("name message ids or --all", file=sys.stderr)
        return EX_USAGE
    return _replay(cfg, [int(i) for i in args.ids], all_=args.all, as_json=args.json)


def _replay(cfg: Config, ids: list[int], *, all_: bool, as_json: bool) -> int:
    from .control import request

    command = {"command": "replay", "ids": ids, "all": all_}
    try:
        answer = request(cfg.gateway.socket_path, command, timeout=600)
    except (FileNotFoundError, ConnectionRefusedError):
        answer = _replay_offline(cfg, ids, all_)
    results = answer.get("replayed", [])
    if as_json:
        _print_json(results)
    else:
        for r in results:
            print(
                f"message {r['id']}: "
                + (f"replayed ({r['action']})" if r["ok"] else f"not replayed: {r['error']}")
            )
        print(f"{sum(1 for r in results if r['ok'])} of {len(results)} replayed")
    return EX_OK if all(r["ok"] for r in results) else EX_FAILURE


def _replay_offline(cfg: Config, ids: list[int], all_: bool) -> dict[str, Any]:
    import asyncio

    from .journal import Journal

    async def go() -> dict[str, Any]:
        journal = Journal.open(cfg.gateway.state_dir)
        try:
            todo = ids
            if all_:
                todo = [
                    int(m["id"])
                    for m in journal.read_sync(
                        lambda c: report.list_messages(c, states=report.FAILED_STATES, limit=1_000_000)
                    )
                ]
            out = []
            for i, mid in enumerate(todo):
                try:
                    out.append({"id": mid, "ok": True, "action": await journal.replay(mid)})
                except (GatewayError, ValueError) as exc:
                    out.append({"id": mid, "ok": False, "error": str(exc)})
                if len(todo) > 100 and i % 100 == 0:
                    print(f"replaying: {i}/{len(todo)}", file=sys.stderr)
            return {"replayed": out}
        finally:
            journal.close()

    return asyncio.run(go())


def cmd_translate(args: argparse.Namespace) -> int:
    from .translate import translate_file

    return translate_file(args)


def cmd_schema(args: argparse.Namespace) -> int:
    from translators import models

    try:
        schema = models.json_schema(args.document)
    except KeyError:
        print(
            f"unknown document {args.document!r}; known: {', '.join(sorted(models.DOCUMENT_MODELS))}",
            file=sys.stderr,
        )
        return EX_USAGE
    _print_json(schema)
    return EX_OK


# ---------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from .daemon import VERSION

    parser = argparse.ArgumentParser(prog="edigate", description="EDI gateway appliance")
    parser.add_argument("--version", action="version", version=f"edigate {VERSION}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", "-c", help="config file (default: $EDIGATE_CONFIG, then /etc/edigate/edigate.toml)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create a complete dev setup in DIR")
    p.add_argument("dir")
    p.add_argument("--force", action="store_true", help="overwrite an existing config")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("run", parents=[common], help="run the gateway in the foreground")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", parents=[common], help="check the configuration; exit 78 when invalid")
    p.add_argument("--no-environment", action="store_true", help="skip checks of folders and permissions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("status", parents=[common], help="what flows and what is stuck")
    p.add_argument("--json", action="store_true")
    p.add_argument("--watch", action="store_true", help="refresh until interrupted")
    p.add_argument("--interval", type=float, default=2.0)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("messages", parents=[common], help="list, show and trace messages")
    msub = p.add_subparsers(dest="action", required=True)
    q = msub.add_parser("list", parents=[common])
    q.add_argument("--state", help="comma-separated states")
    q.add_argument("--partner")
    q.add_argument("--limit", type=int, default=50)
    q.add_argument("--json", action="store_true")
    for action in ("show", "trace"):
        q = msub.add_parser(action, parents=[common])
        q.add_argument("id", type=int)
        q.add_argument("--json", action="store_true")
        q.add_argument("--raw", action="store_true", help="include the raw bytes")
    p.set_defaults(func=cmd_messages)

    p = sub.add_parser("dead", parents=[common], help="rejected and dead messages; replay them")
    dsub = p.add_subparsers(dest="action", required=True)
    q = dsub.add_parser("list", parents=[common])
    q.add_argument("--partner")
    q.add_argument("--limit", type=int, default=100)
    q.add_argument("--json", action="store_true")
    q = dsub.add_parser("replay", parents=[common])
    q.add_argument("ids", nargs="*")
    q.add_argument("--all", action="store_true")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dead)

    p = sub.add_parser("translate", parents=[common], help="translate a file and print canonical JSON")
    p.add_argument("file")
    p.add_argument("--partner", help="partner profile to use")
    p.add_argument("--syntax", action="store_true", help="print the lossless syntax layer instead")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("schema", help="JSON Schema of the canonical envelope or one document")
    p.add_argument("document", nargs="?")
    p.set_defaults(func=cmd_schema)

    try:
        from .commands import partners as partner_commands
    except ImportError:
        partner_commands = None  # type: ignore[assignment]
    if partner_commands is not None:
        partner_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``edigate`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "config"):
        args.config = None
    if args.command == "partners" and getattr(args, "partners_dir", None) is None:
        # The partners folder comes from the config when one can be read.
        try:
            args.partners_dir = str(_config(args).gateway.partners_dir)
        except ConfigError:
            args.partners_dir = "partners.d"
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        return EX_CONFIG
    except BrokenPipeError:
        return EX_OK
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
