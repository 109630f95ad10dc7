"""Alerts to people: conditions from the status figures, de-duplicated, sent by mail or webhook.

Strategy (sans-I/O, like h11): :class:`Alerter` is pure state.  Feed it the
status summary of :func:`gateway.status_view.collect` and the time; it
returns :class:`Notification` objects and sends nothing.  The daemon hands
those to :func:`send` (smtplib to a relay, httpx POST of JSON) and reports
back failures with :meth:`Alerter.failed`, so a lost alert is retried on the
next evaluation instead of being forgotten.

Per condition (keyed by what it is about, e.g. ``sink_down:odoo``):

* one ``firing`` notification when it first holds;
* ``reminder`` notifications while it keeps holding, the first after
  ``reminder_minutes`` and each later one ``reminder_backoff`` times further
  apart, never more than a day apart;
* one ``resolved`` notification when it clears.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import enum
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("edigate.alerts")

_MAX_REMINDER_SECONDS = 86400.0


class AlertsSection(BaseModel):
    """``[alerts]``: what to watch and where to send it.

    Nothing is sent unless ``mail_to`` (with ``mail_relay``) or ``webhook_url`` is set.
    """

    model_config = ConfigDict(extra="forbid")

    mail_relay: str | None = Field(default=None, description="SMTP relay host:port (port default 25)")
    mail_from: str = Field(default="edigate@localhost", description="sender address")
    mail_to: list[str] = Field(default_factory=list, description="recipients")
    mail_starttls: bool = Field(default=False, description="STARTTLS before sending")
    mail_username: str | None = Field(default=None, description="SMTP AUTH user (needs mail_password_file)")
    mail_password_file: Path | None = Field(default=None, description="file holding the SMTP password")
    webhook_url: str | None = Field(default=None, description="URL receiving a JSON POST per notification")
    timeout_seconds: float = Field(default=10.0, gt=0, description="per mail or webhook attempt")
    evaluate_seconds: float = Field(default=30.0, gt=0, description="how often conditions are checked")
    reminder_minutes: float = Field(default=240.0, gt=0, description="first reminder while still firing")
    reminder_backoff: float = Field(default=2.0, ge=1.0, description="each reminder this much later")
    sink_down_minutes: float = Field(default=15.0, ge=0, description="alert when a sink is down this long")
    cert_days: float = Field(default=21.0, ge=0, description="alert when a certificate expires this soon")
    dead_letters: bool = Field(default=True, description="alert while rejected/dead messages wait")
    acks_overdue: bool = Field(default=True, description="alert while partner acks are overdue")
    disk_floor: bool = Field(default=True, description="alert while disk free is below the floor")

    @model_validator(mode="after")
    def _mail_complete(self) -> AlertsSection:
        if self.mail_to and not self.mail_relay:
            raise ValueError("mail_to needs mail_relay")
        if self.mail_username and not self.mail_password_file:
            raise ValueError("mail_username needs mail_password_file")
        return self

    @property
    def enabled(self) -> bool:
        """Whether any channel is configured."""
        return bool(self.mail_to or self.webhook_url)


class Kind(enum.Enum):
    """What a notification says about its condition."""

    #: the condition started
    FIRING = "firing"
    #: the condition still holds
    REMINDER = "reminder"
    #: the condition cleared
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Condition:
    """Something wrong right now."""

    key: str
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One message to send."""

    kind: Kind
    key: str
    summary: str
    since: float
    at: float
    site: str = "site"

    @property
    def subject(self) -> str:
        """A mail subject line."""
        tag = {Kind.FIRING: "PROBLEM", Kind.REMINDER: "STILL A PROBLEM", Kind.RESOLVED: "RESOLVED"}[self.kind]
        return f"[edigate {self.site}] {tag}: {self.summary}"

    def as_json(self) -> dict[str, Any]:
        """The webhook body."""
        return {
            "source": "edigate",
            "site": self.site,
            "kind": self.kind.value,
            "key": self.key,
            "summary": self.summary,
            "since": _iso(self.since),
            "at": _iso(self.at),
        }


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class _Active:
    summary: str
    since: float
    next_reminder: float
    interval: float
    announced: bool


@dataclass(slots=True)
class Alerter:
    """Pure alert state: conditions in, notifications out.

    Args:
        config: thresholds and reminder timing.
        site: the site name put into every notification.
    """

    config: AlertsSection
    site: str = "site"
    active: dict[str, _Active] = field(default_factory=dict)
    #: when each sink was first seen down (cleared when it is up again)
    down_since: dict[str, float] = field(default_factory=dict)

    def conditions(self, summary: dict[str, Any], now: float) -> list[Condition]:
        """The conditions that hold in a status summary (updates sink down-times)."""
        cfg = self.config
        out: list[Condition] = []
        if cfg.dead_letters:
            failed = sum(int(p.get("failed_total", 0)) for p in summary.get("partners", []))
            if failed:
                out.append(
                    Condition("dead_letters", f"{failed} failed document(s) wait to be fixed and replayed")
                )
        if cfg.acks_overdue:
            for p in summary.get("partners", []):
                n = p.get("acks_overdue")
                if isinstance(n, int) and n > 0:
                    out.append(
                        Condition(
                            f"acks_overdue:{p['partner']}",
                            f"{n} acknowledgment(s) overdue from {p['partner']}",
                        )
                    )
        seen_down: set[str] = set()
        for s in summary.get("sinks", []):
            if s.get("state") != "down":
                continue
            seen_down.add(s["name"])
            first = self.down_since.setdefault(s["name"], now)
            if now - first >= cfg.sink_down_minutes * 60:
                out.append(
                    Condition(
                        f"sink_down:{s['name']}",
                        f"destination {s['name']} has been down for {int((now - first) // 60)} min, "
                        f"{s.get('backlog', 0)} document(s) waiting",
                    )
                )
        for name in list(self.down_since):
            if name not in seen_down:
                del self.down_since[name]
        for c in summary.get("certificates", []):
            days = float(c["days_left"])
            if days < cfg.cert_days:
                when = "has expired" if days < 0 else f"expires in {days:.0f} day(s)"
                out.append(Condition(f"cert:{c['owner']}", f"certificate of {c['owner']} {when}"))
        disk = summary.get("disk") or {}
        if cfg.disk_floor and disk.get("below_floor"):
            out.append(
                Condition(
                    "disk_below_floor",
                    f"disk free {disk['free_bytes'] // 2**20} MiB is below the floor of "
                    f"{disk['floor_bytes'] // 2**20} MiB: new files are refused",
                )
            )
        return out

    def evaluate(self, summary: dict[str, Any], now: float) -> list[Notification]:
        """Compare the conditions now with those already announced.

        Args:
            summary: the ``summary`` part of :func:`gateway.status_view.collect`.
            now: the time (epoch seconds).

        Returns:
            what to send now, in a stable order.
        """
        return self.step(self.conditions(summary, now), now)

    def step(self, conditions: list[Condition], now: float) -> list[Notification]:
        """Turn the conditions that hold at ``now`` into notifications."""
        cfg = self.config
        first_interval = cfg.reminder_minutes * 60
        out: list[Notification] = []
        holding = {c.key: c for c in conditions}
        for key in sorted(holding):
            c = holding[key]
            a = self.active.get(key)
            if a is None:
                self.active[key] = _Active(c.summary, now, now + first_interval, first_interval, True)
                out.append(self._note(Kind.FIRING, key, c.summary, now, now))
            elif not a.announced:
                # The first announcement failed to go out: try it again.
                a.announced = True
                a.summary = c.summary
                out.append(self._note(Kind.FIRING, key, c.summary, a.since, now))
            elif now >= a.next_reminder:
                a.summary = c.summary
                a.interval = min(a.interval * cfg.reminder_backoff, _MAX_REMINDER_SECONDS)
                a.next_reminder = now + a.interval
                out.append(self._note(Kind.REMINDER, key, c.summary, a.since, now))
        for key in sorted(set(self.active) - set(holding)):
            a = self.active.pop(key)
            if a.announced:
                out.append(self._note(Kind.RESOLVED, key, a.summary, a.since, now))
        return out

    def failed(self, notification: Notification) -> None:
        """A notification could not be sent; make the next evaluation send it again."""
        a = self.active.get(notification.key)
        if notification.kind is Kind.FIRING and a is not None:
            a.announced = False
        elif notification.kind is Kind.REMINDER and a is not None:
            a.next_reminder = notification.at
        elif notification.kind is Kind.RESOLVED and a is None:
            # Re-arm as "announced and cleared": the next step sends resolved again
            # unless the condition came back (then no resolved is owed).
            self.active[notification.key] = _Active(notification.summary, notification.since, 0.0, 0.0, True)

    def _note(self, kind: Kind, key: str, summary: str, since: float, now: float) -> Notification:
        return Notification(kind=kind, key=key, summary=summary, since=since, at=now, site=self.site)


# ---------------------------------------------------------------------- sending


def _relay(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, 25
    return host.strip("[]"), int(port)


def _mail(config: AlertsSection, notes: list[Notification]) -> None:
    # Imported here: Config imports this module, and every CLI command loads Config.
    import smtplib
    import ssl
    from email.message import EmailMessage

    assert config.mail_relay is not None
    host, port = _relay(config.mail_relay)
    with smtplib.SMTP(host, port, timeout=config.timeout_seconds) as smtp:
        if config.mail_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.mail_username and config.mail_password_file:
            password = config.mail_password_file.read_text(encoding="utf-8").strip()
            smtp.login(config.mail_username, password)
        for n in notes:
            msg = EmailMessage()
            msg["From"] = config.mail_from
            msg["To"] = ", ".join(config.mail_to)
            msg["Subject"] = n.subject
            msg.set_content(
                f"{n.summary}\n\nsite: {n.site}\nstate: {n.kind.value}\nsince: {_iso(n.since)}\n"
                f"checked: {_iso(n.at)}\n\nRun `edigate status` on the gateway for details.\n"
            )
            smtp.send_message(msg)


def _host(url: str) -> str:
    import httpx

    # Webhook URLs often carry a token in the path or query: name only the host.
    return httpx.URL(url).host


async def send(
    config: AlertsSection, notes: list[Notification], *, client: httpx.AsyncClient | None = None
) -> list[tuple[Notification, str]]:
    """Send notifications through every configured channel.

    Args:
        config: the channels.
        notes: what to send.
        client: the HTTP client for the webhook (tests pass one; default: a new one).

    Returns:
        the notifications that failed on some channel, with the error in words
        (pass them to :meth:`Alerter.failed`).
    """
    import smtplib

    import httpx

    failures: list[tuple[Notification, str]] = []
    if not notes:
        return failures
    if config.mail_to:
        try:
            await asyncio.to_thread(_mail, config, notes)
        except (OSError, smtplib.SMTPException) as exc:
            failures.extend((n, f"mail via {config.mail_relay}: {exc}") for n in notes)
    if config.webhook_url:
        owned = client is None
        http = client or httpx.AsyncClient(timeout=config.timeout_seconds)
        try:
            for n in notes:
                try:
                    r = await http.post(config.webhook_url, json=n.as_json())
                    r.raise_for_status()
                except httpx.HTTPStatusError as exc:
                    failures.append(
                        (n, f"webhook to {_host(config.webhook_url)}: HTTP {exc.response.status_code}")
                    )
                except httpx.HTTPError as exc:
                    failures.append(
                        (n, f"webhook to {_host(config.webhook_url)}: {type(exc).__name__}: {exc}")
                    )
        finally:
            if owned:
                await http.aclose()
    merged: dict[int, tuple[Notification, list[str]]] = {}
    for n, err in failures:
        merged.setdefault(id(n), (n, []))[1].append(err)
    return [(n, "; ".join(errs)) for n, errs in merged.values()]


__all__ = ["Alerter", "AlertsSection", "Condition", "Kind", "Notification", "send"]
