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
    tty = sys.stdout.isatty()
    while True:
        if args.watch and tty and not args.json:
            # Clear and home: a refreshing screen, not a scrolling log.
            sys.stdout.write("\x1b[2J\x1b[H")
        code = _status_once(args, color=tty)
        if not args.watch:
            return code
        sys.stdout.flush()
        time.sleep(args.interval)


def _status_once(args: argparse.Namespace, *, color: bool = False) -> int:
    from . import status_view
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
    try:
        out = status_view.collect(
            code=code,
            live=live,
            conn=conn,
            now=time.time(),
            state_dir=cfg.gateway.state_dir,
            disk_floor_bytes=cfg.journal.min_free_mb * 1024 * 1024,
            configured_sinks=[s.name for s in cfg.sinks],
        )
    finally:
        if conn is not None:
            conn.close()
    if args.json:
        _print_json(out)
    else:
        print(status_view.render(out, color=color, width=_width()))
    return code


def _width() -> int:
    import shutil

    # Piped output still gets a readable layout, not rich's 80-column default.
    return max(100, shutil.get_terminal_size((120, 40)).columns)


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
    from .audit import current_actor
    from .control import request

    # The daemon records who asked in its audit log.
    command = {"command": "replay", "ids": ids, "all": all_, "actor": current_actor()}
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
            from .audit import LOG_NAME, AuditLog

            AuditLog(cfg.gateway.state_dir / LOG_NAME).append(
                "replay", {"all": all_, "results": out, "via": "offline (daemon not running)"}
            )
            return {"replayed": out}
        finally:
            journal.close()

    return asyncio.run(go())


def cmd_audit(args: argparse.Namespace) -> int:
    """``edigate audit verify``: 0 when the chain is intact, 1 naming the first broken record."""
    from .audit import LOG_NAME, verify

    cfg = _config(args)
    path = cfg.gateway.state_dir / LOG_NAME
    result = verify(path)
    if args.json:
        _print_json(
            {
                "ok": result.ok,
                "records": result.records,
                "broken_at": result.broken_at,
                "reason": result.reason,
            }
        )
    elif result.ok:
        print(f"{path}: chain intact, {result.records} record(s)")
    else:
        print(f"{path}: BROKEN: {result.reason}", file=sys.stderr)
    return EX_OK if result.ok else EX_FAILURE


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

    p = sub.add_parser("audit", parents=[common], help="the audit log of operator actions")
    asub = p.add_subparsers(dest="action", required=True)
    q = asub.add_parser("verify", parents=[common], help="check the hash chain; exit 1 when tampered")
    q.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)

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
    from .commands import reconcile as reconcile_command  # edigate reconcile

    reconcile_command.register(sub)
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
