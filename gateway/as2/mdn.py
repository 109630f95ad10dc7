"""Message Disposition Notifications for AS2 (RFC 4130 §7.4, RFC 8098, RFC 6522).

Build: a ``multipart/report; report-type=disposition-notification`` with a
human-readable part and a ``message/disposition-notification`` part, wrapped
in ``multipart/signed`` when the partner asked for a signed receipt and we have
a signing key. The MDN's own signature uses the MIC algorithm the partner
requested (RFC 4130 §7.3: signed-receipt-micalg).

Parse: the same structures from any product (mendelson, Sterling, OpenAS2
write them differently: LF-stored part headers, lower-case names, no text
part). A signature is checked against the partner's certificates when given;
a damaged MDN raises an :class:`~gateway.as2.errors.As2Error`, nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from cryptography import x509

from gateway.as2 import cms
from gateway.as2.cms import KeyPair
from gateway.as2.errors import (
    As2AuthenticationFailed,
    As2Error,
    As2IntegrityCheckFailed,
    As2MalformedMessage,
    As2NegativeMdn,
)
from gateway.as2.message import As2Envelope, Mic
from gateway.as2.mime import (
    MimeEntity,
    base64_lines,
    build_entity,
    build_multipart,
    canonical_candidates,
    entity_from_http,
    parse_entity,
    parse_headers,
    split_multipart,
)

_DEFAULT_UA = "edigate AS2"


@dataclass(frozen=True, slots=True, kw_only=True)
class MdnOut:
    """An MDN ready to send: HTTP headers and body (also what ``record_reply`` keeps)."""

    message_id: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def serialize(self) -> bytes:
        """Headers and body as one CRLF MIME blob, for the journal and for resends."""
        return build_entity(self.headers, self.body)

    @classmethod
    def deserialize(cls, blob: bytes) -> MdnOut:
        """The inverse of :meth:`serialize`.

        Raises:
            As2MalformedMessage: the stored blob is not one we wrote.
        """
        entity = parse_entity(blob)
        message_id = entity.header("Message-ID") or ""
        return cls(message_id=message_id, headers=entity.headers, body=entity.body)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mdn:
    """A parsed MDN.

    Attributes:
        original_message_id: the message it answers.
        disposition: the whole Disposition field value.
        disposition_type: ``processed``, ``failed``...
        modifier: e.g. ``error: authentication-failed`` (lower-cased), None when positive.
        mic: the Received-Content-MIC, if any.
        signed: the MDN came inside multipart/signed.
        signer: the partner certificate that verified it (None if not checked).
        text: the human-readable part.
        fields: every disposition-notification field, names lower-cased.
    """

    original_message_id: str | None
    disposition: str
    disposition_type: str
    modifier: str | None
    mic: Mic | None
    signed: bool
    signer: x509.Certificate | None
    text: str
    fields: dict[str, str]

    @property
    def positive(self) -> bool:
        """``processed`` with no error or failure modifier (warnings still count as positive)."""
        return self.disposition_type == "processed" and (
            self.modifier is None or self.modifier.startswith("warning")
        )


def build_mdn(
    *,
    envelope: As2Envelope,
    disposition: str,
    text: str,
    mic: Mic | None,
    now: datetime,
    signer: KeyPair | None = None,
    digest_name: str = "sha256",
    our_name: str | None = None,
    reporting_ua: str = _DEFAULT_UA,
    message_id: str | None = None,
) -> MdnOut:
    """Build an MDN answering ``envelope``.

    Args:
        envelope: the request being answered.
        disposition: ``processed`` or e.g. ``processed/Error: decryption-failed``
            (see ``As2Error.disposition``).
        text: the human-readable explanation (no secrets).
        mic: the Received-Content-MIC, or None when it could not be computed.
        now: the Date header and signing time.
        signer: our key to sign with, or None for an unsigned MDN.
        digest_name: digest for the MDN signature (the requested micalg).
        our_name: our AS2 name (defaults to the AS2-To we were addressed by).
        reporting_ua: the Reporting-UA field.
        message_id: a fixed Message-ID (tests), else a new one.

    Returns:
        The MDN.
    """
    me = our_name or envelope.as2_to
    fields = [
        ("Reporting-UA", reporting_ua),
        ("Original-Recipient", f"rfc822; {me}"),
        ("Final-Recipient", f"rfc822; {me}"),
        ("Original-Message-ID", envelope.message_id),
    ]
    if mic is not None:
        fields.append(("Received-Content-MIC", mic.field()))
    # RFC 8098 §3.2.6: action-mode/sending-mode; disposition-type[/modifier]
    fields.append(("Disposition", f"automatic-action/MDN-sent-automatically; {disposition}"))
    notification = "".join(f"{k}: {v}\r\n" for k, v in fields).encode("latin-1")
    boundary = f"----=_edigate_mdn_{os.urandom(10).hex()}"
    human = build_entity(
        [("Content-Type", "text/plain; charset=us-ascii"), ("Content-Transfer-Encoding", "7bit")],
        text.encode("ascii", "replace").replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n") + b"\r\n",
    )
    machine = build_entity(
        [("Content-Type", "message/disposition-notification"), ("Content-Transfer-Encoding", "7bit")],
        notification,
    )
    report = build_entity(
        [("Content-Type", f'multipart/report; report-type=disposition-notification; boundary="{boundary}"')],
        build_multipart([human, machine], boundary),
    )
    if signer is not None:
        name = cms.hash_name(digest_name)
        sig = cms.sign(report, signer, digest_name=name, now=now)
        outer = f"----=_edigate_sig_{os.urandom(10).hex()}"
        sig_part = build_entity(
            [
                ("Content-Type", 'application/pkcs7-signature; name="smime.p7s"'),
                ("Content-Transfer-Encoding", "base64"),
                ("Content-Disposition", 'attachment; filename="smime.p7s"'),
            ],
            base64_lines(sig),
        )
        content_type = (
            f'multipart/signed; protocol="application/pkcs7-signature"; '
            f'micalg={_micalg_label(digest_name)}; boundary="{outer}"'
        )
        body = build_multipart([report, sig_part], outer)
    else:
        top = parse_entity(report)
        content_type, body = str(top.header("Content-Type")), top.body
    mdn_id = message_id or f"<{os.urandom(12).hex()}@{me.replace(' ', '_')}.edigate>"
    headers = (
        ("AS2-Version", "1.2"),
        ("AS2-From", _quote(me)),
        ("AS2-To", _quote(envelope.as2_from)),
        ("Message-ID", mdn_id),
        ("Date", format_datetime(now, usegmt=True)),
        ("MIME-Version", "1.0"),
        ("Subject", "Message Disposition Notification"),
        ("Content-Type", content_type),
    )
    return MdnOut(message_id=mdn_id, headers=headers, body=body)


def _micalg_label(name: str) -> str:
    norm = cms.hash_name(name)
    return "sha1" if norm == "sha1" else f"sha-{norm[3:]}" if norm.startswith("sha") else norm


def _quote(name: str) -> str:
    return f'"{name}"' if any(c in name for c in ' "\\()<>@,;:/[]?={}') else name


def parse_mdn(
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    certificates: Sequence[x509.Certificate] = (),
    now: datetime | None = None,
    require_signature: bool = False,
) -> Mdn:
    """Parse (and, with certificates, verify) an MDN received over HTTP.

    Args:
        headers: the HTTP headers (only Content-* are used).
        body: the HTTP body.
        certificates: the partner's certificates; when given, a signed MDN must verify
            with one valid at ``now``.
        now: the clock for certificate validity (required with ``certificates``).
        require_signature: refuse an unsigned MDN.

    Returns:
        The MDN.

    Raises:
        As2AuthenticationFailed: unsigned when required, or the signature fails.
        As2IntegrityCheckFailed: the MDN was altered after signing.
        As2MalformedMessage: not an MDN.
    """
    if certificates and now is None:
        raise ValueError("parse_mdn: 'now' is required to check certificates")
    try:
        return _parse(entity_from_http(headers, body), certificates, now, require_signature)
    except As2Error:
        raise
    except (ValueError, TypeError, KeyError, IndexError, UnicodeError) as exc:
        raise As2MalformedMessage(f"the MDN could not be parsed: {exc}") from exc


def parse_mdn_bytes(
    data: bytes,
    *,
    certificates: Sequence[x509.Certificate] = (),
    now: datetime | None = None,
    require_signature: bool = False,
) -> Mdn:
    """Parse an MDN stored as one blob (headers, blank line, body), as in captures and our journal.

    Raises:
        As2Error: as :func:`parse_mdn`.
    """
    entity = parse_entity(data)
    return parse_mdn(
        entity.headers, entity.body, certificates=certificates, now=now, require_signature=require_signature
    )


def _parse(
    entity: MimeEntity,
    certificates: Sequence[x509.Certificate],
    now: datetime | None,
    require_signature: bool,
) -> Mdn:
    signed = False
    signer: x509.Certificate | None = None
    if entity.content_type == "multipart/signed":
        signed = True
        parts = split_multipart(entity.body, entity.param("boundary") or "")
        if len(parts) != 2:
            raise As2MalformedMessage(f"a signed MDN must have 2 parts, this one has {len(parts)}")
        if certificates and now is not None:
            sig = parse_entity(parts[1])
            verified = cms.verify(sig.decoded_body(), canonical_candidates(parts[0]), certificates, now=now)
            signer = verified.signer
            entity = parse_entity(verified.content)
        else:
            entity = parse_entity(parts[0])
    elif require_signature:
        raise As2AuthenticationFailed("the MDN is not signed, and a signed MDN was requested")
    if entity.content_type != "multipart/report":
        raise As2MalformedMessage(f"an MDN must be multipart/report, this is {entity.content_type}")
    text = ""
    notification: MimeEntity | None = None
    for raw in split_multipart(entity.body, entity.param("boundary") or ""):
        part = parse_entity(raw)
        if part.content_type == "message/disposition-notification":
            notification = part
        elif part.content_type == "text/plain" and not text:
            text = part.decoded_body().decode("utf-8", "replace").strip()
    if notification is None:
        raise As2MalformedMessage("the report has no message/disposition-notification part")
    fields = {k.lower(): v for k, v in parse_headers(notification.decoded_body())}
    disposition = fields.get("disposition")
    if not disposition:
        raise As2MalformedMessage("the MDN has no Disposition field")
    _, _, outcome = disposition.partition(";")
    dtype, _, modifier = outcome.strip().partition("/")
    mic = None
    if "received-content-mic" in fields:
        value, _, alg = fields["received-content-mic"].partition(",")
        mic = Mic(value.strip(), alg.strip())
    return Mdn(
        original_message_id=fields.get("original-message-id"),
        disposition=disposition,
        disposition_type=dtype.strip().lower(),
        modifier=modifier.strip().lower() or None,
        mic=mic,
        signed=signed,
        signer=signer,
        text=text,
        fields=fields,
    )


def is_mdn(headers: Sequence[tuple[str, str]], body: bytes) -> bool:
    """Whether an HTTP request carries an MDN rather than a message (an asynchronous MDN, RFC 4130 §7.3).

    An MDN is ``multipart/report; report-type=disposition-notification``, bare or as
    the first part of ``multipart/signed`` (RFC 4130 §7.4.2; MDNs are never
    encrypted). Anything that cannot be parsed is not an MDN: it then fails as a message.
    """
    try:
        entity = entity_from_http(headers, body)
        if entity.content_type == "multipart/signed":
            parts = split_multipart(entity.body, entity.param("boundary") or "")
            if not parts:
                return False
            entity = parse_entity(parts[0])
        return (
            entity.content_type == "multipart/report"
            and (entity.param("report-type") or "").lower() == "disposition-notification"
        )
    except (As2Error, ValueError, TypeError, KeyError, IndexError, UnicodeError):
        return False


def check_mdn(mdn: Mdn, *, message_id: str, mic: Mic) -> None:
    """Check that an MDN acknowledges our message with the MIC we computed when sending it.

    Args:
        mdn: the parsed (and verified) MDN.
        message_id: the Message-ID we sent.
        mic: the MIC from :class:`gateway.as2.message.OutboundMessage`.

    Raises:
        As2MalformedMessage: it answers another message.
        As2IntegrityCheckFailed: the partner received different content (MIC mismatch).
        As2NegativeMdn: the partner reported a negative disposition (the text says which).
    """
    if (mdn.original_message_id or "").strip("<> ") != message_id.strip("<> "):
        raise As2MalformedMessage(f"the MDN answers {mdn.original_message_id}, not {message_id}")
    if not mdn.positive:
        raise As2NegativeMdn(f"the partner reported {mdn.disposition!r}: {mdn.text[:200]}")
    if mdn.mic is None or not mdn.mic.matches(mic):
        got = mdn.mic.field() if mdn.mic else "none"
        raise As2IntegrityCheckFailed(f"the MDN's Received-Content-MIC {got} differs from ours {mic.field()}")


__all__ = ["Mdn", "MdnOut", "build_mdn", "check_mdn", "is_mdn", "parse_mdn", "parse_mdn_bytes"]
