"""Errors of the AS2 codec, each carrying the MDN disposition it should produce.

::

    As2Error                      abstract, never raised directly (h11 ProtocolError)
    ├─ As2AuthenticationFailed    bad or missing signature, signer not the partner's  → processed/Error
    ├─ As2DecryptionFailed        none of our keys opens the envelope                 → processed/Error
    ├─ As2IntegrityCheckFailed    content does not match its signed digest / MIC      → processed/Error
    ├─ As2InsufficientSecurity    partner must sign/encrypt and did not               → processed/Error
    ├─ As2UnknownPartner          AS2-From unknown or AS2-To not ours                 → processed/Error
    ├─ As2MessageTooLarge         over the size limit (also after decompression)     → HTTP 413
    ├─ As2MalformedMessage        not parseable as MIME / CMS / MDN                   → processed/Error
    ├─ As2Unsupported             an algorithm or format we do not implement         → failed/Failure
    └─ As2NegativeMdn             (outbound) the partner's MDN reports an error; .disposition is theirs

The modifiers are those of RFC 4130 §7.5.3 ("authentication-failed",
"decryption-failed", "integrity-check-failed", "insufficient-message-security",
"unexpected-processing-error"); ``failed/Failure: unsupported ...`` is what
RFC 4130 §7.4.3 / RFC 3335 §5.2 prescribe when a *required* option cannot be
honoured. Every message is plain language for the operator and the partner;
none carries key material.
"""

from __future__ import annotations

from gateway.errors import GatewayError


class As2Error(GatewayError):
    """Base of AS2 codec errors; carries the MDN disposition to answer with.

    Args:
        message: a plain-language reason, safe to show to the partner.
    """

    #: disposition type of the negative MDN (RFC 8098 §3.2.6)
    disposition_type: str = "processed"
    #: RFC 4130 §7.5.3 disposition modifier
    modifier: str = "Error: unexpected-processing-error"

    def __init__(self, message: str) -> None:
        if type(self) is As2Error:
            raise TypeError("tried to directly instantiate As2Error")
        super().__init__(message)
        self.message = message

    @property
    def disposition(self) -> str:
        """The ``processed/Error: ...`` (or ``failed/Failure: ...``) part of the Disposition field."""
        return f"{self.disposition_type}/{self.modifier}"


class As2AuthenticationFailed(As2Error):
    """The signature is missing, invalid, or made with a certificate not configured for the partner."""

    modifier = "Error: authentication-failed"


class As2DecryptionFailed(As2Error):
    """None of our current keys could open the enveloped data."""

    modifier = "Error: decryption-failed"


class As2IntegrityCheckFailed(As2Error):
    """The content does not match the digest it was signed with (or an MDN MIC does not match)."""

    modifier = "Error: integrity-check-failed"


class As2InsufficientSecurity(As2Error):
    """The partner agreement requires signing or encryption and the message lacks it."""

    modifier = "Error: insufficient-message-security"


class As2UnknownPartner(As2Error):
    """AS2-From names no configured partner, or AS2-To is not one of our names.

    RFC 4130 has no dedicated modifier; an unknown sender cannot be
    authenticated, so the MDN says ``authentication-failed`` and the text says why.
    """

    modifier = "Error: authentication-failed"


class As2MessageTooLarge(As2Error):
    """The message (or its decompressed content) exceeds the configured limit."""

    modifier = "Error: unexpected-processing-error"


class As2MalformedMessage(As2Error):
    """The request, MIME structure, CMS structure or MDN could not be parsed."""

    modifier = "Error: unexpected-processing-error"


class As2Unsupported(As2Error):
    """A required option or an algorithm is not implemented (RFC 4130 §7.4.3 ``failed/Failure``).

    Args:
        message: the plain-language reason.
        what: the RFC wording after ``unsupported``: ``"format"`` or ``"MIC-algorithms"``.
    """

    disposition_type = "failed"

    def __init__(self, message: str, *, what: str = "format") -> None:
        super().__init__(message)
        self.modifier = f"Failure: unsupported {what}"


class As2NegativeMdn(As2Error):
    """The partner's MDN for a message we sent reports an error or failure."""


__all__ = [
    "As2AuthenticationFailed",
    "As2DecryptionFailed",
    "As2Error",
    "As2InsufficientSecurity",
    "As2IntegrityCheckFailed",
    "As2MalformedMessage",
    "As2MessageTooLarge",
    "As2NegativeMdn",
    "As2UnknownPartner",
    "As2Unsupported",
]
