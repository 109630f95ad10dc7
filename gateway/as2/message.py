"""AS2 messages (RFC 4130): read the envelope, open inbound messages, build outbound ones.

Strategy: an inbound request is peeled layer by layer — ``multipart/signed``,
``application/pkcs7-mime`` enveloped / auth-enveloped / signed / compressed
data — in whatever order and nesting the sender chose (bounded depth). The CMS
content type decides what a layer is; the ``smime-type`` parameter is only a
hint, since senders get it wrong.

MIC (RFC 4130 §7.3.1): for a signed message it is the digest of the signed
MIME entity, headers included, in the exact form whose signature verified;
for an unsigned message, of the first entity after decryption (or the HTTP
entity when not encrypted). RFC 5402 §4: when compression comes first, the
signed (or decrypted) entity *is* the compressed one.

Errors are :mod:`gateway.as2.errors` only; each names the cause in words.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime

from cryptography import x509

from gateway.as2 import cms
from gateway.as2.cms import KeyPair
from gateway.as2.errors import (
    As2Error,
    As2InsufficientSecurity,
    As2MalformedMessage,
    As2Unsupported,
)
from gateway.as2.mime import (
    MimeEntity,
    base64_lines,
    build_entity,
    build_multipart,
    canonical_candidates,
    entity_from_http,
    parse_entity,
    split_multipart,
)

_MAX_LAYERS = 8
_PKCS7_MIME = ("application/pkcs7-mime", "application/x-pkcs7-mime")
#: how we write a MIC algorithm when the partner did not name one (RFC 5751 §3.4.3.2)
_MIC_LABELS = {
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha-224",
    "sha256": "sha-256",
    "sha384": "sha-384",
    "sha512": "sha-512",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class As2Partner:
    """What the codec needs to know about one trading partner.

    Attributes:
        partner_id: the partner registry's id (goes into the journal).
        as2_name: the partner's AS2 name (their AS2-From).
        certificates: their certificates, old and new during a rollover; the
            ones valid at the time of checking are used.
        require_signature: refuse unsigned messages (``insufficient-message-security``).
        require_encryption: refuse unencrypted messages.
        sign_mdn: force (True) or forbid (False) signing our MDNs; None = as requested.
    """

    partner_id: str
    as2_name: str
    certificates: tuple[x509.Certificate, ...] = ()
    require_signature: bool = True
    require_encryption: bool = False
    sign_mdn: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class As2Identity:
    """Who we are: our AS2 names and keys (several decryption keys during a rollover)."""

    as2_names: tuple[str, ...]
    decryption_keys: tuple[KeyPair, ...] = ()
    signing_key: KeyPair | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MdnRequest:
    """What the sender asked for in Disposition-Notification-* headers (RFC 4130 §7.3).

    Attributes:
        address: the Disposition-Notification-To value (presence means "send an MDN").
        signed: a pkcs7-signature receipt was requested.
        signed_required: that request was ``required`` rather than ``optional``.
        micalgs: the MIC algorithms in preference order, as the sender wrote them.
        micalg_required: the micalg request was ``required``.
        async_url: Receipt-Delivery-Option: POST the MDN there instead of answering in-line.
        unsupported: why a ``required`` option cannot be honoured (answered ``failed/Failure``).
    """

    address: str
    signed: bool = False
    signed_required: bool = False
    micalgs: tuple[str, ...] = ()
    micalg_required: bool = False
    async_url: str | None = None
    unsupported: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class As2Envelope:
    """The AS2 HTTP headers that identify a message (RFC 4130 §6)."""

    message_id: str
    as2_from: str
    as2_to: str
    subject: str | None = None
    mdn: MdnRequest | None = None


@dataclass(frozen=True, slots=True)
class Mic:
    """A Received-Content-MIC: base64 digest and the algorithm label as the partner wrote it."""

    value: str
    algorithm: str

    def field(self) -> str:
        """The header field value, ``<base64>, <alg>`` (RFC 4130 §7.4.3)."""
        return f"{self.value}, {self.algorithm}"

    def matches(self, other: Mic) -> bool:
        """Same digest with the same algorithm, whatever the label spelling."""
        try:
            return self.value == other.value and cms.hash_name(self.algorithm) == cms.hash_name(
                other.algorithm
            )
        except As2Unsupported:
            return False


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """An opened AS2 message."""

    envelope: As2Envelope
    payload: bytes
    content_type: str
    file_name: str | None
    signed: bool
    encrypted: bool
    compressed: bool
    signer: str | None
    mic: Mic | None
    layers: tuple[str, ...] = field(default=())


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value.strip()
    return None


def _strip_quotes(value: str) -> str:
    value = value.strip()
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def parse_mdn_request(headers: Sequence[tuple[str, str]]) -> MdnRequest | None:
    """Read Disposition-Notification-To/-Options and Receipt-Delivery-Option (RFC 4130 §7.3)."""
    address = _header(headers, "Disposition-Notification-To")
    if address is None:
        return None
    signed = signed_required = micalg_required = False
    micalgs: tuple[str, ...] = ()
    options = _header(headers, "Disposition-Notification-Options") or ""
    # "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=optional, sha-256, sha1"
    for item in options.split(";"):
        name, _, rest = item.partition("=")
        values = [_strip_quotes(v) for v in rest.split(",") if v.strip()]
        if not values:
            continue
        importance, choices = values[0].lower(), values[1:]
        if name.strip().lower() == "signed-receipt-protocol":
            signed = any(c.lower() == "pkcs7-signature" for c in choices)
            signed_required = importance == "required"
            if signed_required and not signed:
                raise As2Unsupported(f"the required receipt protocol {', '.join(choices)!r} is not supported")
        elif name.strip().lower() == "signed-receipt-micalg":
            micalgs = tuple(choices)
            micalg_required = importance == "required"
    async_url = _header(headers, "Receipt-Delivery-Option")
    return MdnRequest(
        address=address,
        signed=signed,
        signed_required=signed_required,
        micalgs=micalgs,
        micalg_required=micalg_required,
        async_url=async_url or None,
    )


def parse_envelope(headers: Sequence[tuple[str, str]]) -> As2Envelope:
    """The identifying headers of an AS2 request.

    Args:
        headers: the HTTP request headers, any case.

    Returns:
        The envelope (the MDN request is read leniently; see :func:`parse_mdn_request`).

    Raises:
        As2MalformedMessage: AS2-From, AS2-To or Message-ID missing.
    """
    values = {name: _header(headers, name) for name in ("AS2-From", "AS2-To", "Message-ID")}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise As2MalformedMessage(f"the AS2 request lacks the header(s) {', '.join(missing)} (RFC 4130 §6)")
    try:
        mdn = parse_mdn_request(headers)
    except As2Unsupported as exc:
        # Keep the envelope usable so the failed/Failure MDN can still be sent (RFC 4130 §7.4.3).
        mdn = MdnRequest(
            address=_header(headers, "Disposition-Notification-To") or "",
            signed_required=True,
            async_url=_header(headers, "Receipt-Delivery-Option"),
            unsupported=exc.message,
        )
    return As2Envelope(
        message_id=str(values["Message-ID"]),
        as2_from=_strip_quotes(str(values["AS2-From"])),
        as2_to=_strip_quotes(str(values["AS2-To"])),
        subject=_header(headers, "Subject"),
        mdn=mdn,
    )


def choose_mic_algorithm(request: MdnRequest | None, fallback: str | None) -> tuple[str, str]:
    """The MIC algorithm to use: ``(hash name, label to write)``.

    The first requested algorithm we implement wins and is echoed as written
    (peers.md gotcha 1: ``sha256`` / ``SHA-256`` / ``sha-256``).

    Raises:
        As2Unsupported: a ``required`` micalg list names nothing we implement.
    """
    if request is not None:
        for label in request.micalgs:
            try:
                return cms.hash_name(label), label
            except As2Unsupported:
                continue
        if request.micalgs and request.micalg_required:
            raise As2Unsupported(
                f"none of the MIC algorithms {', '.join(request.micalgs)} is supported", what="MIC-algorithms"
            )
    name = cms.hash_name(fallback) if fallback else "sha256"
    return name, _MIC_LABELS[name]


def compute_mic(content: bytes, name: str, label: str) -> Mic:
    """base64(digest(content)) labelled for the MDN."""
    return Mic(base64.b64encode(cms.digest(name, content)).decode("ascii"), label)


def open_message(
    envelope: As2Envelope,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    partner: As2Partner,
    identity: As2Identity,
    now: datetime,
    max_size: int,
) -> InboundMessage:
    """Decrypt, verify and decompress an AS2 request down to its payload.

    Args:
        envelope: from :func:`parse_envelope`.
        headers: the HTTP request headers (the Content-* ones describe the body).
        body: the HTTP body as received.
        partner: the sender, already identified by AS2-From.
        identity: our keys.
        now: the clock for certificate validity.
        max_size: limit for any decompressed content.

    Returns:
        The payload and what was done to reach it, with the MIC to report.

    Raises:
        As2AuthenticationFailed, As2DecryptionFailed, As2IntegrityCheckFailed,
        As2InsufficientSecurity, As2MessageTooLarge, As2MalformedMessage, As2Unsupported.
    """
    if envelope.mdn is not None and envelope.mdn.unsupported:
        raise As2Unsupported(envelope.mdn.unsupported)
    try:
        return _open(envelope, headers, body, partner=partner, identity=identity, now=now, max_size=max_size)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeError) as exc:
        # Invariant (h11 fuzz style): damaged input yields an As2Error, never a stray exception.
        raise As2MalformedMessage(f"the message structure is damaged: {exc}") from exc


def _open(
    envelope: As2Envelope,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    partner: As2Partner,
    identity: As2Identity,
    now: datetime,
    max_size: int,
) -> InboundMessage:
    entity = entity_from_http(headers, body)
    signed_content: bytes | None = None
    signer: x509.Certificate | None = None
    signer_digest: str | None = None
    unsigned_mic_source = entity.head + entity.body
    encrypted = compressed = False
    layers: list[str] = []
    for _ in range(_MAX_LAYERS):
        ctype = entity.content_type
        if ctype == "multipart/signed":
            verified = _verify_multipart(entity, partner, now)
            layers.append("signed")
        elif ctype in _PKCS7_MIME:
            der = entity.decoded_body()
            kind = cms.content_type_of(der)
            if kind in ("enveloped_data", "authenticated_enveloped_data"):
                inner = cms.decrypt(der, identity.decryption_keys)
                if not encrypted and signed_content is None:
                    unsigned_mic_source = inner
                encrypted = True
                layers.append("encrypted")
                entity = parse_entity(inner, allow_headerless=True)
                continue
            if kind == "compressed_data":
                compressed = True
                layers.append("compressed")
                entity = parse_entity(cms.decompress(der, max_size=max_size), allow_headerless=True)
                continue
            if kind != "signed_data":
                raise As2Unsupported(f"CMS content type {kind} is not an AS2 layer")
            verified = cms.verify(der, None, partner.certificates, now=now)
            layers.append("signed")
        else:
            break
        if signed_content is None:
            signed_content, signer, signer_digest = verified.content, verified.signer, verified.digest
        entity = parse_entity(verified.content, allow_headerless=True)
    else:
        raise As2MalformedMessage(f"more than {_MAX_LAYERS} nested security layers")
    if partner.require_signature and signed_content is None:
        raise As2InsufficientSecurity(
            f"partner {partner.partner_id} must sign its messages, and this one is unsigned"
        )
    if partner.require_encryption and not encrypted:
        raise As2InsufficientSecurity(
            f"partner {partner.partner_id} must encrypt its messages, and this one is not"
        )
    name, label = choose_mic_algorithm(envelope.mdn, signer_digest)
    mic_source = signed_content if signed_content is not None else unsigned_mic_source
    return InboundMessage(
        envelope=envelope,
        payload=entity.decoded_body(),
        content_type=entity.content_type,
        file_name=entity.param("filename", "Content-Disposition"),
        signed=signed_content is not None,
        encrypted=encrypted,
        compressed=compressed,
        signer=signer.subject.rfc4514_string() if signer is not None else None,
        mic=compute_mic(mic_source, name, label),
        layers=tuple(layers),
    )


def _verify_multipart(entity: MimeEntity, partner: As2Partner, now: datetime) -> cms.Verified:
    boundary = entity.param("boundary") or ""
    parts = split_multipart(entity.body, boundary)
    if len(parts) != 2:
        raise As2MalformedMessage(
            f"multipart/signed must have 2 parts, this one has {len(parts)} (RFC 1847 §2.1)"
        )
    signature = parse_entity(parts[1])
    if signature.content_type not in ("application/pkcs7-signature", "application/x-pkcs7-signature"):
        raise As2MalformedMessage(
            f"the signature part is {signature.content_type}, not application/pkcs7-signature"
        )
    return cms.verify(signature.decoded_body(), canonical_candidates(parts[0]), partner.certificates, now=now)


def mic_for_error(envelope: As2Envelope) -> tuple[str, str] | None:
    """The MIC algorithm for a negative MDN, or None when even that cannot be chosen."""
    try:
        return choose_mic_algorithm(envelope.mdn, None)
    except As2Error:
        return None


# --- outbound ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMessage:
    """An AS2 request ready to POST, and the MIC its MDN must return."""

    message_id: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    mic: Mic


def new_message_id(domain: str) -> str:
    """A fresh ``<...@domain>`` Message-ID (RFC 5322 §3.6.4)."""
    return f"<{os.urandom(12).hex()}@{domain}>"


def build_message(
    payload: bytes,
    *,
    as2_from: str,
    as2_to: str,
    now: datetime,
    content_type: str = "application/edi-x12",
    file_name: str | None = None,
    signer: KeyPair | None = None,
    digest_name: str = "sha256",
    recipient: x509.Certificate | None = None,
    cipher: str = "aes256_cbc",
    oaep_hash: str | None = None,
    compress: bool = False,
    mdn_to: str | None = None,
    mdn_signed: bool = True,
    mdn_async_url: str | None = None,
    message_id: str | None = None,
    subject: str = "EDI message",
) -> OutboundMessage:
    """Build an AS2 request: payload entity → [compress] → [sign] → [encrypt] (RFC 4130 §3, RFC 5402).

    Args:
        payload: the EDI bytes (sent binary, byte-exact).
        as2_from: our AS2 name.
        as2_to: the partner's AS2 name.
        now: Date header and signing time.
        content_type: payload media type.
        file_name: for Content-Disposition.
        signer: our signing key, or None for unsigned.
        digest_name: signature digest and requested MIC algorithm.
        recipient: the partner's certificate to encrypt for, or None for unencrypted.
        cipher: content cipher (see :func:`gateway.as2.cms.encrypt`).
        oaep_hash: RSA-OAEP hash, or None for PKCS#1 v1.5.
        compress: add an RFC 3274 compressed-data layer before signing.
        mdn_to: Disposition-Notification-To (None = no MDN requested).
        mdn_signed: ask for a signed MDN.
        mdn_async_url: ask for an asynchronous MDN at this URL.
        message_id: a fixed Message-ID (tests), else a new one.
        subject: the Subject header.

    Returns:
        Headers, body, Message-ID and the MIC to expect back.
    """
    disposition = f'attachment; filename="{file_name}"' if file_name else "attachment"
    entity = build_entity(
        [
            ("Content-Type", content_type),
            ("Content-Transfer-Encoding", "binary"),
            ("Content-Disposition", disposition),
        ],
        payload,
    )
    if compress:
        entity = build_entity(
            [
                ("Content-Type", 'application/pkcs7-mime; smime-type=compressed-data; name="smime.p7z"'),
                ("Content-Transfer-Encoding", "binary"),
            ],
            cms.compress(entity),
        )
    name = cms.hash_name(digest_name)
    label = _MIC_LABELS[name]
    mic = compute_mic(entity, name, label)
    if signer is not None:
        signature = cms.sign(entity, signer, digest_name=name, now=now)
        boundary = f"----=_edigate_{os.urandom(12).hex()}"
        sig_part = build_entity(
            [
                ("Content-Type", 'application/pkcs7-signature; name="smime.p7s"'),
                ("Content-Transfer-Encoding", "base64"),
                ("Content-Disposition", 'attachment; filename="smime.p7s"'),
            ],
            base64_lines(signature),
        )
        entity = build_entity(
            [
                (
                    "Content-Type",
                    f'multipart/signed; protocol="application/pkcs7-signature"; '
                    f'micalg={label}; boundary="{boundary}"',
                )
            ],
            build_multipart([entity, sig_part], boundary),
        )
    if recipient is not None:
        entity = build_entity(
            [
                ("Content-Type", 'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'),
                ("Content-Transfer-Encoding", "binary"),
                ("Content-Disposition", 'attachment; filename="smime.p7m"'),
            ],
            cms.encrypt(entity, recipient, cipher=cipher, oaep_hash=oaep_hash),
        )
    top = parse_entity(entity)
    msg_id = message_id or new_message_id(as2_from.replace(" ", "_") + ".edigate")
    headers: list[tuple[str, str]] = [
        ("AS2-Version", "1.2"),
        ("AS2-From", _quote_name(as2_from)),
        ("AS2-To", _quote_name(as2_to)),
        ("Message-ID", msg_id),
        ("MIME-Version", "1.0"),
        ("Subject", subject),
        ("Date", format_datetime(now, usegmt=True)),
        ("EDIINT-Features", "CEM"),
    ]
    headers += [(k, v) for k, v in top.headers]
    if mdn_to is not None:
        headers.append(("Disposition-Notification-To", mdn_to))
        if mdn_signed:
            headers.append(
                (
                    "Disposition-Notification-Options",
                    "signed-receipt-protocol=optional, pkcs7-signature; "
                    f"signed-receipt-micalg=optional, {label}",
                )
            )
        if mdn_async_url:
            headers.append(("Receipt-Delivery-Option", mdn_async_url))
    return OutboundMessage(message_id=msg_id, headers=tuple(headers), body=top.body, mic=mic)


def _quote_name(name: str) -> str:
    # RFC 4130 §6.2: AS2 names with spaces or specials are quoted.
    return f'"{name}"' if any(c in name for c in ' "\\()<>@,;:/[]?={}') else name


__all__ = [
    "As2Envelope",
    "As2Identity",
    "As2Partner",
    "InboundMessage",
    "MdnRequest",
    "Mic",
    "OutboundMessage",
    "build_message",
    "choose_mic_algorithm",
    "compute_mic",
    "mic_for_error",
    "new_message_id",
    "open_message",
    "parse_envelope",
    "parse_mdn_request",
]
