"""``edigate status`` for people: does it flow, what is stuck, and why, in plain words.

Two halves, kept apart so both can be tested without a daemon or a terminal:

* :func:`collect` gathers figures (the live answer of the control socket, if
  any, and cheap read-only journal queries) into one JSON-able dict.  The keys
  scripts already read (``running``, ``exit_code``, ``daemon``, ``journal``)
  keep their shape; the staff view is added under ``summary``.
* :func:`render` turns that dict into text with rich.  Colour only when asked
  (the CLI asks when stdout is a terminal), so piped output and mail from cron
  carry no escape codes.

Every time is relative to an injected ``now``, so golden tests can freeze it.
"Today" is the UTC day, as in :func:`gateway.report.partner_summary`.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from . import acktrack, report

#: LSB status codes, as the CLI returns them
RUNNING = 0
NOT_RUNNING = 3
UNKNOWN = 4

_WAITING_STATES = ("received", "translated", "queued")

# (pattern, plain words): the first match explains a technical error to staff.
# The original text is always shown too; these only add the "what it means".
_PLAIN_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.I), words)
    for p, words in (
        (r"certificate verify failed|unknown ca|self.signed", "the other side's certificate is not trusted"),
        (r"certificate (has )?expired", "a certificate has expired"),
        (r"connection refused|connecterror|cannot connect|connect call failed", "could not reach the system"),
        (r"name or service not known|temporary failure in name resolution", "the address is unknown"),
        (r"timed? ?out|timeout", "the other system took too long to answer"),
        (r"\b(401|403)\b|unauthori[sz]ed|forbidden|access denied", "our credentials were refused"),
        (r"\b5\d\d\b|server error|service unavailable", "the other system reported an internal problem"),
        (r"\b(400|422)\b|validation", "the other system refused the document's content"),
        (r"no space|disk (is )?full|below (the )?floor", "the disk is full"),
        (r"unknown partner|partner .*not (found|known)|no profile", "the sender is not set up as a partner"),
        (r"duplicate", "the same file was already received"),
        (r"too large|larger than", "the file is too large"),
        (r"syntax|segment|delimiter|truncated|malformed|isa|unb", "the file is not valid EDI"),
        (r"gave up after", "delivery kept failing and was given up"),
    )
)


def plain_reason(reason: str | None) -> str | None:
    """What a technical error means, in words staff understand (``None`` if unknown).

    Args:
        reason: the error text recorded in the journal or by a sink.

    Returns:
        a short phrase, or ``None`` when no rule recognises the text.
    """
    if not reason:
        return None
    for pattern, words in _PLAIN_REASONS:
        if pattern.search(reason):
            return words
    return None


# ---------------------------------------------------------------------- collecting


def _day_start(now: float) -> float:
    return now - (now % 86400)


def _partner_today(conn: sqlite3.Connection, now: float) -> dict[str, dict[str, int]]:
    """Per partner: delivered and failed today (by the time of the last state change)."""
    out: dict[str, dict[str, int]] = {}
    # messages_state_updated(state, updated_at) makes this an index range scan.
    for partner, state, count in conn.execute(
        "SELECT partner, state, COUNT(*) FROM messages"
        " WHERE state IN ('delivered', 'rejected', 'dead') AND updated_at >= ? GROUP BY partner, state",
        (_day_start(now),),
    ):
        e = out.setdefault(partner or "(unidentified)", {"out_today": 0, "failed_today": 0})
        e["out_today" if state == "delivered" else "failed_today"] += int(count)
    return out


def _acks(conn: sqlite3.Connection, now: float) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Overdue acknowledgments (997/CONTRL and async AS2 MDNs) per tracked partner (others absent)."""
    overview = acktrack.ack_overview(conn, now=now)
    mdns = acktrack.mdn_overview(conn, now=now)
    tracked: dict[str, int] = {}
    if overview["counts"]:
        tracked.update({str(r[0]): 0 for r in conn.execute("SELECT DISTINCT partner FROM outbound_acks")})
    if mdns["counts"]:
        tracked.update({str(r[0]): 0 for r in conn.execute("SELECT DISTINCT partner FROM as2_receipts")})
    overdue = [*overview["overdue"], *mdns["overdue"]]
    for item in overdue:
        tracked[item["partner"]] = tracked.get(item["partner"], 0) + 1
    return tracked, overdue


def _partners(
    journal: dict[str, Any], today: dict[str, dict[str, int]], acks: dict[str, int]
) -> list[dict[str, Any]]:
    rows = []
    for p in journal.get("partners", []):
        st = p["states"]
        t = today.get(p["partner"], {"out_today": 0, "failed_today": 0})
        rows.append(
            {
                "partner": p["partner"],
                "in_today": p["received_today"],
                "out_today": t["out_today"],
                "waiting": sum(int(st.get(s, 0)) for s in _WAITING_STATES),
                "oldest_waiting_seconds": p["oldest_undelivered_seconds"],
                "failed_today": t["failed_today"],
                "failed_total": int(st.get("rejected", 0)) + int(st.get("dead", 0)),
                "last_problem": p["last_error"],
                "last_problem_plain": plain_reason(p["last_error"]),
                "last_problem_at": p["last_error_at"],
                # None ("-"): nothing we sent this partner is tracked, so
                # "0 overdue" would claim more than we know.
                "acks_overdue": acks.get(p["partner"]),
            }
        )
    return rows


def _sinks(
    live: dict[str, Any] | None, journal: dict[str, Any], configured: list[str], running: bool
) -> list[dict[str, Any]]:
    live_sinks = {s["name"]: s for s in (live or {}).get("sinks", []) if isinstance(s, dict)}
    backlog = {s["sink"]: s for s in journal.get("sinks", [])}
    rows = []
    for name in sorted(set(live_sinks) | set(backlog) | set(configured)):
        ls = live_sinks.get(name)
        b = backlog.get(name, {})
        if ls is None or not running:
            state = "unknown"
        elif ls.get("healthy"):
            state = "up"
        else:
            state = "down"
        err = (ls or {}).get("last_error") or b.get("last_error")
        rows.append(
            {
                "name": name,
                "state": state,
                "breaker": (ls or {}).get("breaker"),
                "backlog": int(b.get("pending", 0)),
                "oldest_seconds": b.get("oldest_seconds"),
                "last_error": err,
                "last_error_plain": plain_reason(err),
                "last_success_at": (ls or {}).get("last_success_at"),
            }
        )
    return rows


def _listeners(live: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for s in (live or {}).get("sources", []):
        rows.append(
            {
                "name": s.get("name", "?"),
                "kind": s.get("kind"),
                "listening": s.get("listening"),
                "taken": s.get("taken"),
                "refused": s.get("refused"),
                "waiting": list(s.get("waiting", [])),
            }
        )
    return rows


def _as_epoch(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_dt.UTC)
        return parsed.timestamp()
    return None


def certificates(live: dict[str, Any] | None, now: float) -> list[dict[str, Any]]:
    """Certificates the running sources and sinks report (``cert_not_after``), soonest first.

    A part may report one ``cert_not_after`` or a list ``certificates`` of
    ``{"name", "not_after"}``; both epoch seconds and ISO 8601 are accepted.
    """
    out = []
    for kind in ("sources", "sinks"):
        for part in (live or {}).get(kind, []):
            if not isinstance(part, dict):
                continue
            entries: list[tuple[str, Any]] = []
            if part.get("cert_not_after") is not None:
                entries.append((str(part.get("name", "?")), part["cert_not_after"]))
            for c in part.get("certificates", []) or []:
                entries.append((f"{part.get('name', '?')}: {c.get('name', '?')}", c.get("not_after")))
            for name, raw in entries:
                at = _as_epoch(raw)
                if at is None:
                    continue
                out.append(
                    {
                        "owner": f"{kind[:-1]} {name}",
                        "not_after": at,
                        "days_left": round((at - now) / 86400, 1),
                    }
                )
    return sorted(out, key=lambda c: c["not_after"])


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _disk(
    live: dict[str, Any] | None, state_dir: Path, floor_bytes: int, free_bytes: Callable[[Path], int]
) -> dict[str, Any]:
    free = (live or {}).get("disk_free_bytes")
    floor = (live or {}).get("disk_floor_bytes", floor_bytes)
    measured_by = "daemon"
    if free is None:
        # Daemon down: measure the journal's folder ourselves (the same statvfs).
        probe = state_dir
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = free_bytes(probe)
        measured_by = "status"
    return {
        "free_bytes": int(free),
        "floor_bytes": int(floor),
        "below_floor": int(free) < int(floor),
        "measured_by": measured_by,
    }


def collect(
    *,
    code: int,
    live: dict[str, Any] | None,
    conn: sqlite3.Connection | None,
    now: float,
    state_dir: Path,
    disk_floor_bytes: int,
    configured_sinks: list[str],
    free_bytes: Callable[[Path], int] = _free_bytes,
) -> dict[str, Any]:
    """Everything ``edigate status`` shows, as JSON-able data.

    Args:
        code: the status exit code (0 running, 3 not running, 4 unknown).
        live: the daemon's answer to ``status`` (``None`` when not running).
        conn: a read-only journal connection, or ``None`` when there is no journal yet.
        now: the current time (epoch seconds); every age is relative to it.
        state_dir: the journal folder (disk free is measured there when the daemon is down).
        disk_floor_bytes: the configured floor, used when the daemon does not report one.
        configured_sinks: sink names from the config, shown even when idle.
        free_bytes: measures free space in a folder (injectable for tests).

    Returns:
        the existing keys ``running``, ``exit_code``, ``daemon``, ``journal``, and
        ``generated_at`` and ``summary`` (the staff view).
    """
    journal: dict[str, Any] = {}
    today: dict[str, dict[str, int]] = {}
    acks: dict[str, int] = {}
    overdue: list[dict[str, Any]] = []
    mdn_rejected: list[dict[str, Any]] = []
    if conn is not None:
        journal = {
            "totals": report.totals(conn),
            "partners": report.partner_summary(conn, now),
            "sinks": report.sink_backlog(conn, now),
            "events_24h": report.recent_events(conn, now - 86400),
        }
        today = _partner_today(conn, now)
        acks, overdue = _acks(conn, now)
        mdn_rejected = acktrack.mdn_overview(conn, now=now)["rejected"]
    running = code == RUNNING
    summary = {
        "partners": _partners(journal, today, acks),
        "acks_overdue": overdue,
        "mdn_rejected": mdn_rejected,
        "sinks": _sinks(live, journal, configured_sinks, running),
        "listeners": _listeners(live),
        "certificates": certificates(live, now),
        "disk": _disk(live, state_dir, disk_floor_bytes, free_bytes),
        "profile_errors": list(((live or {}).get("profiles") or {}).get("errors", [])),
    }
    summary["attention"] = attention(summary, now)
    return {
        "running": running,
        "exit_code": code,
        "daemon": live,
        "journal": journal,
        "generated_at": now,
        "summary": summary,
    }


def attention(summary: dict[str, Any], now: float, *, cert_days: float = 30) -> list[str]:
    """The things someone should look at, one sentence each (empty: all is well)."""
    out: list[str] = []
    failed = sum(p["failed_total"] for p in summary["partners"])
    if failed:
        out.append(f"{failed} document(s) failed and wait for someone to fix and replay them")
    late = sum(p["acks_overdue"] or 0 for p in summary["partners"])
    if late:
        out.append(f"{late} document(s) we sent have not been acknowledged in time")
    refused = len(summary.get("mdn_rejected", ()))
    if refused:
        out.append(f"{refused} AS2 message(s) we sent were refused by the partner's MDN")
    for s in summary["sinks"]:
        if s["state"] == "down":
            out.append(f"destination {s['name']} is down; {s['backlog']} document(s) wait for it")
    for c in summary["certificates"]:
        if c["days_left"] < cert_days:
            verb = "expired" if c["days_left"] < 0 else f"expires in {_days(c['days_left'])}"
            out.append(f"certificate of {c['owner']} {verb}")
    if summary["disk"]["below_floor"]:
        out.append("disk space is below the floor: new files are refused")
    if summary["profile_errors"]:
        out.append(f"{len(summary['profile_errors'])} partner profile(s) have problems")
    return out


# ---------------------------------------------------------------------- rendering


def age(seconds: float | None) -> str:
    """A duration for people: ``45 s``, ``12 min``, ``3.5 h``, ``2.0 days``."""
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


def _days(days: float) -> str:
    return f"{days:.0f} day(s)"


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB"


def _when(ts: float | None, tz: _dt.tzinfo | None) -> str:
    if ts is None:
        return "-"
    return _dt.datetime.fromtimestamp(float(ts), tz).strftime("%Y-%m-%d %H:%M")


def _reason(raw: str | None, plain: str | None, limit: int = 70) -> str:
    if not raw:
        return ""
    raw = " ".join(raw.split())
    if len(raw) > limit:
        raw = raw[: limit - 3] + "..."
    return f"{plain}: {raw}" if plain else raw


def _headline(out: dict[str, Any]) -> Text:
    live = out["daemon"] or {}
    if out["running"]:
        return Text.assemble(
            (f"edigate {live.get('version', '?')} is ", ""),
            ("RUNNING", "bold green"),
            f" (pid {live.get('pid')}, up {age(live.get('uptime_seconds'))})",
        )
    if out["exit_code"] == NOT_RUNNING:
        return Text.assemble(
            "edigate is ", ("NOT RUNNING", "bold red"), " (figures below are from the journal)"
        )
    return Text.assemble("edigate state ", ("UNKNOWN", "bold yellow"), f": {live.get('error')}")


def _table(title: str, columns: list[tuple[str, str]], plain: bool) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.ASCII if plain else box.SIMPLE_HEAD,
        show_edge=not plain,
        pad_edge=False,
        header_style="bold",
    )
    for name, justify in columns:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    return table


def render(out: dict[str, Any], *, color: bool, width: int = 120, tz: _dt.tzinfo | None = None) -> str:
    """The staff view as text.

    Args:
        out: what :func:`collect` returned.
        color: emit ANSI colours (only when stdout is a terminal).
        width: the line width to lay the tables out in.
        tz: time zone for clock times (default: the machine's).

    Returns:
        the text, ending without a newline.
    """
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    plain = not color
    s = out["summary"]
    now = float(out["generated_at"])
    console.print(_headline(out))
    disk = s["disk"]
    disk_line = Text(f"disk free: {_mib(disk['free_bytes'])} (floor {_mib(disk['floor_bytes'])})")
    if disk["below_floor"]:
        disk_line.append("  BELOW FLOOR: new files are refused", style="bold red")
    console.print(disk_line)
    if s["attention"]:
        console.print(Text("NEEDS ATTENTION:", style="bold red"))
        for line in s["attention"]:
            console.print(f"  - {line}")
    elif out["journal"]:
        console.print(Text("All is well: nothing failed, every destination is up.", style="green"))

    if not out["journal"]:
        console.print("journal: empty (nothing received yet)")
    else:
        t = _table(
            "PARTNERS (today = since 00:00 UTC)",
            [
                ("partner", "left"),
                ("in today", "right"),
                ("out today", "right"),
                ("waiting", "right"),
                ("oldest waiting", "right"),
                ("failed today", "right"),
                ("failed, open", "right"),
                ("acks overdue", "right"),
            ],
            plain,
        )
        for p in s["partners"]:
            t.add_row(
                p["partner"],
                str(p["in_today"]),
                str(p["out_today"]),
                str(p["waiting"]),
                age(p["oldest_waiting_seconds"]),
                Text(str(p["failed_today"]), style="red" if p["failed_today"] else ""),
                Text(str(p["failed_total"]), style="red" if p["failed_total"] else ""),
                "-" if p["acks_overdue"] is None else str(p["acks_overdue"]),
            )
        console.print()
        console.print(t)
        problems = [p for p in s["partners"] if p["last_problem"]]
        if problems:
            # Full sentences below the table: a narrow column would chop them into fragments.
            console.print("Last problem per partner:")
            for p in problems:
                line = (
                    f"{p['partner']}, {_when(p['last_problem_at'], tz)}: "
                    f"{_reason(p['last_problem'], p['last_problem_plain'], limit=160)}"
                )
                console.print(Padding(Text(line), (0, 0, 0, 2)))
        for item in s["acks_overdue"][:5]:
            console.print(Text(f"  ack overdue: {item['reason']}", style="yellow"))
        if len(s["acks_overdue"]) > 5:
            console.print(f"  ... and {len(s['acks_overdue']) - 5} more acks overdue")
        for item in s.get("mdn_rejected", [])[-5:]:
            console.print(Text(f"  MDN refused: {item['reason']}", style="red"))

    if s["sinks"]:
        t = _table(
            "DESTINATIONS (sinks)",
            [
                ("sink", "left"),
                ("state", "left"),
                ("backlog", "right"),
                ("oldest", "right"),
                ("last delivered", "left"),
                ("last error", "left"),
            ],
            plain,
        )
        styles = {"up": "green", "down": "bold red", "unknown": "yellow"}
        for k in s["sinks"]:
            state = k["state"].upper() if k["state"] == "down" else k["state"]
            t.add_row(
                k["name"],
                Text(state, style=styles[k["state"]]),
                str(k["backlog"]),
                age(k["oldest_seconds"]),
                _when(k["last_success_at"], tz),
                _reason(k["last_error"], k["last_error_plain"]),
            )
        console.print()
        console.print(t)

    if s["listeners"]:
        t = _table(
            "LISTENERS (sources)",
            [
                ("source", "left"),
                ("kind", "left"),
                ("listening on", "left"),
                ("taken", "right"),
                ("refused", "right"),
            ],
            plain,
        )
        for src in s["listeners"]:
            t.add_row(
                str(src["name"]),
                str(src["kind"] or "-"),
                str(src["listening"] or "-"),
                "-" if src["taken"] is None else str(src["taken"]),
                "-" if src["refused"] is None else str(src["refused"]),
            )
        console.print()
        console.print(t)
        for src in s["listeners"]:
            for w in src["waiting"][:5]:
                waited = age(w.get("waiting_seconds"))
                console.print(f"  {src['name']}: {w.get('file')} waiting {waited}: {w.get('reason')}")

    if s["certificates"]:
        columns = [("used by", "left"), ("valid until", "left"), ("days left", "right")]
        t = _table("CERTIFICATES", columns, plain)
        for c in s["certificates"]:
            style = "bold red" if c["days_left"] < 0 else "yellow" if c["days_left"] < 30 else ""
            t.add_row(c["owner"], _when(c["not_after"], tz), Text(f"{c['days_left']:.0f}", style=style))
        console.print()
        console.print(t)

    for e in s["profile_errors"]:
        console.print(Text(f"PROFILE PROBLEM: {e}", style="red"))
    if out["journal"]:
        totals = out["journal"]["totals"]
        events = out["journal"].get("events_24h") or {}
        console.print()
        if events:
            console.print("last 24 h: " + ", ".join(f"{k} {v}" for k, v in sorted(events.items())))
        console.print("all time: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    console.print(f"as of {_when(now, tz)}")
    # rich pads every line to the table width; trailing blanks only upset diffs and mail.
    return "\n".join(line.rstrip() for line in buf.getvalue().rstrip("\n").splitlines())


__all__ = ["age", "attention", "certificates", "collect", "plain_reason", "render"]
