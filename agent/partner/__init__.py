"""Partner delivery: ship rendered files to trading partners (SFTP, AS2, directory, mail).

Each transport is a :class:`~agent.sinks.base.Sink`, so the delivery engine
drives it with the same retries, backoff, circuit breaker and dead-letter
as the cloud sinks.  A partner transport receives a delivery whose envelope
is a ``edigate.partner-file/1`` object (file name, content type, base64
bytes, control numbers) rendered by ``gateway.outbound``; it ships bytes
and never parses EDI.

:func:`build_partner_sink` turns a profile's ``[delivery]`` table (plain
data) into the transport; what the agent may not build itself (the AS2
codec, which lives in ``gateway.as2``) is passed in by the daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agent.sinks.base import Sink

from .as2 import As2CodecLike, As2PartnerSink
from .base import FILE_SCHEMA, PartnerFile, partner_file
from .directory import DirectoryPartnerSink
from .mail import MailPartnerSink, MailRelay, MailSettings
from .sftp import SftpPartnerSink, SftpPushSettings


def build_partner_sink(
    name: str,
    delivery: Mapping[str, Any],
    resolve: Callable[[str], Path],
    *,
    as2_codec: As2CodecLike | None = None,
    mail_relay: MailRelay | tuple[str, int] | None = None,
    tls_ca: Path | None = None,
) -> Sink:
    """Build the transport a profile's ``[delivery]`` table describes.

    Args:
        name: sink name (``partner:<id>``).
        delivery: the table as data (``partners.delivery`` models dumped).
        resolve: resolves a path written in the profile (relative to its file).
        as2_codec: the partner's AS2 codec (required for ``as2``).
        mail_relay: the site's SMTP relay (the gateway's ``[mail]`` section, or a bare
            ``(host, port)``); required for ``mail``.
        tls_ca: the profile's ``certificates.tls_ca``, resolved (FTPS pinning).

    Raises:
        ValueError: an unknown transport, a missing collaborator or settings
            the transport refuses.
        OSError: the FTP ``password_file`` cannot be read.
    """
    transport = delivery.get("transport")
    if transport == "directory":
        return DirectoryPartnerSink(
            name, resolve(str(delivery["path"])), temp_suffix=str(delivery.get("temp_suffix", ".part"))
        )
    if transport == "sftp":
        return SftpPartnerSink(
            name,
            SftpPushSettings(
                host=str(delivery["host"]),
                port=int(delivery.get("port", 22)),
                user=str(delivery["user"]),
                key=resolve(str(delivery["key"])),
                known_hosts=resolve(str(delivery["known_hosts"])),
                remote_dir=str(delivery.get("remote_dir", ".")),
                temp_suffix=str(delivery.get("temp_suffix", ".part")),
            ),
        )
    if transport == "as2":
        if as2_codec is None:
            raise ValueError(f"{name}: AS2 delivery needs the partner's AS2 codec (certificates)")
        return As2PartnerSink(
            name, str(delivery["url"]), as2_codec, timeout=float(delivery.get("timeout_seconds", 120))
        )
    if transport == "mail":
        if mail_relay is None:
            raise ValueError(
                f"{name}: mail delivery needs a mail relay: set [mail] relay_host in the gateway config"
            )
        relay = (
            mail_relay
            if isinstance(mail_relay, MailRelay)
            else MailRelay(host=mail_relay[0], port=mail_relay[1])
        )
        return MailPartnerSink(
            name,
            MailSettings(
                relay_host=relay.host,
                relay_port=relay.port,
                starttls=relay.starttls,
                username=relay.username,
                password=relay.password,
                envelope_sender=relay.envelope_sender,
                timeout=relay.timeout,
                sender=str(delivery["sender"]),
                to=tuple(delivery["to"]),
                subject=str(delivery.get("subject", "EDI {document_type} {control_number}")),
            ),
        )
    if transport == "ftp":
        # Another engineer's module (agent/partner/ftp.py); imported here only when used.
        from .ftp import FtpPartnerSink, settings_from_delivery

        secret = delivery.get("password_file")
        password = resolve(str(secret)).read_text().strip() if secret else ""
        return FtpPartnerSink(name, settings_from_delivery(dict(delivery), password, tls_ca))
    raise ValueError(f"{name}: partner delivery over {transport!r} is not available in this build")


__all__ = [
    "FILE_SCHEMA",
    "As2CodecLike",
    "As2PartnerSink",
    "DirectoryPartnerSink",
    "MailPartnerSink",
    "MailRelay",
    "MailSettings",
    "PartnerFile",
    "SftpPartnerSink",
    "SftpPushSettings",
    "build_partner_sink",
    "partner_file",
]
