"""Mail delivery: send the partner's file as an attachment through the site's SMTP relay.

Uses the stdlib ``smtplib`` on a worker thread (one message per connection;
relays throttle long sessions).  The relay accepting the message (``250``
after DATA) is what "delivered" means; what happens after the relay is the
mail system's job.  4xx replies and connection problems are transient,
5xx permanent.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from agent.errors import PermanentDeliveryError, TransientDeliveryError
from agent.sinks.base import Delivery

from .base import PartnerFile, partner_file


@dataclass(frozen=True, slots=True, kw_only=True)
class MailRelay:
    """The site's SMTP relay (the gateway config's ``[mail]`` section).

    Attributes:
        host: relay host name or address.
        port: relay port.
        starttls: upgrade the session with STARTTLS before sending.
        username: log in as this user (``None``: no AUTH).
        password: the password for ``username`` (from the environment, never the file).
        envelope_sender: MAIL FROM address (``None``: each profile's ``sender``).
        timeout: seconds for each SMTP operation.
    """

    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    envelope_sender: str | None = None
    timeout: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MailSettings:
    """Relay and addresses (``[delivery] transport = "mail"`` plus the relay from the gateway config)."""

    relay_host: str
    relay_port: int = 25
    starttls: bool = False
    tls_context: ssl.SSLContext | None = None
    sender: str
    to: tuple[str, ...]
    subject: str = "EDI {document_type} {control_number}"
    timeout: float = 60.0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: MAIL FROM (bounces); ``None`` uses ``sender``
    envelope_sender: str | None = None


class MailPartnerSink:
    """Mail partner files.

    Args:
        name: sink name (``partner:<id>``).
        settings: relay and addresses.
    """

    def __init__(self, name: str, settings: MailSettings) -> None:
        self.name = name
        self.settings = settings

    def _message(self, item: PartnerFile) -> EmailMessage:
        s = self.settings
        msg = EmailMessage()
        msg["From"] = s.sender
        msg["To"] = ", ".join(s.to)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(domain=s.sender.rsplit("@", 1)[-1])
        msg["Subject"] = s.subject.format(
            document_type=item.document_type, control_number=item.interchange_control, file_name=item.name
        )
        msg.set_content(f"{item.document_type} {item.interchange_control} attached ({item.name}).\n")
        maintype, _, subtype = item.content_type.partition("/")
        msg.add_attachment(
            item.data, maintype=maintype, subtype=subtype or "octet-stream", filename=item.name
        )
        return msg

    def _send(self, msg: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.relay_host, s.relay_port, timeout=s.timeout) as smtp:
            if s.starttls:
                smtp.starttls(context=s.tls_context or ssl.create_default_context())
            if s.username is not None:
                smtp.login(s.username, s.password or "")
            refused = smtp.send_message(msg, from_addr=s.envelope_sender or s.sender, to_addrs=list(s.to))
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    async def healthcheck(self) -> None:
        """Open a session with the relay and say NOOP."""

        def probe() -> None:
            with smtplib.SMTP(
                self.settings.relay_host, self.settings.relay_port, timeout=self.settings.timeout
            ) as smtp:
                smtp.noop()

        try:
            await asyncio.to_thread(probe)
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientDeliveryError(f"mail relay unreachable: {exc}") from exc

    async def deliver(self, delivery: Delivery) -> None:
        """Hand one file to the relay.

        Raises:
            TransientDeliveryError: relay unreachable or 4xx.
            PermanentDeliveryError: 5xx (recipient or message refused).
        """
        item = partner_file(delivery)
        relay = f"{self.settings.relay_host}:{self.settings.relay_port}"
        try:
            await asyncio.to_thread(self._send, self._message(item))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            reason = f"relay {relay} refused recipients {sorted(exc.recipients)}: {codes}"
            if all(400 <= c < 500 for c in codes):
                raise TransientDeliveryError(reason) from exc
            raise PermanentDeliveryError(reason) from exc
        except smtplib.SMTPResponseException as exc:
            reason = f"relay {relay} answered {exc.smtp_code} {exc.smtp_error!r}"
            if 400 <= exc.smtp_code < 500:
                raise TransientDeliveryError(reason) from exc
            raise PermanentDeliveryError(reason) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientDeliveryError(f"cannot send through relay {relay}: {exc}") from exc

    async def aclose(self) -> None:
        """Nothing is kept open."""


__all__ = ["MailPartnerSink", "MailRelay", "MailSettings"]
