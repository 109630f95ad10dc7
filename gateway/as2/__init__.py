"""The AS2 codec (RFC 4130): MIME, CMS, messages and MDNs. Pure functions, no sockets, no clock.

``gateway.sources.as2`` puts it behind an HTTP listener; partner delivery uses
:func:`build_message`, :func:`parse_mdn` and :func:`check_mdn` for the other direction
(the listener recognises asynchronous MDNs with :func:`is_mdn`).
"""

from __future__ import annotations

from gateway.as2.cms import KeyPair
from gateway.as2.errors import (
    As2AuthenticationFailed,
    As2DecryptionFailed,
    As2Error,
    As2InsufficientSecurity,
    As2IntegrityCheckFailed,
    As2MalformedMessage,
    As2MessageTooLarge,
    As2NegativeMdn,
    As2UnknownPartner,
    As2Unsupported,
)
from gateway.as2.keys import load_certificates, load_key_pair, load_private_key
from gateway.as2.mdn import Mdn, MdnOut, build_mdn, check_mdn, is_mdn, parse_mdn, parse_mdn_bytes
from gateway.as2.message import (
    As2Envelope,
    As2Identity,
    As2Partner,
    InboundMessage,
    MdnRequest,
    Mic,
    OutboundMessage,
    build_message,
    mic_for_error,
    open_message,
    parse_envelope,
)

__all__ = [
    "As2AuthenticationFailed",
    "As2DecryptionFailed",
    "As2Envelope",
    "As2Error",
    "As2Identity",
    "As2InsufficientSecurity",
    "As2IntegrityCheckFailed",
    "As2MalformedMessage",
    "As2MessageTooLarge",
    "As2NegativeMdn",
    "As2Partner",
    "As2UnknownPartner",
    "As2Unsupported",
    "InboundMessage",
    "KeyPair",
    "Mdn",
    "MdnOut",
    "MdnRequest",
    "Mic",
    "OutboundMessage",
    "build_mdn",
    "build_message",
    "check_mdn",
    "is_mdn",
    "load_certificates",
    "load_key_pair",
    "load_private_key",
    "mic_for_error",
    "open_message",
    "parse_envelope",
    "parse_mdn",
    "parse_mdn_bytes",
]
