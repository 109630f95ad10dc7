"""Finding the EDI files inside a received mail (pure: bytes in, parts out).

Rules, in order:

1. Every leaf part that is an attachment (``Content-Disposition: attachment``,
   or any part carrying a file name, RFC 2183 section 2.3) is a candidate.  A
   candidate is EDI when its media type is an EDI type (RFC 1767:
   ``application/EDI-X12``, ``application/EDIFACT``, ``application/EDI-consent``),
   its decoded bytes start like an interchange (``ISA``, ``UNA``, ``UNB``), or its
   file name ends with one of the configured extensions.  Other attachments
   (signatures, logos, PDFs) are listed in :attr:`MailContent.skipped`.
2. With no EDI attachment, a body that is itself an interchange (a
   ``text/plain`` or EDI-typed body starting ``ISA``/``UNA``/``UNB``) is taken.
3. Otherwise :class:`NoEdiContentError` says why.

Bytes are the transfer-decoded content (base64/quoted-printable undone,
RFC 2045 section 6), never re-encoded, so an attachment is journaled exactly
as the partner's file.  File names lose any folder part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

from gateway.errors import GatewayError

#: media types of RFC 1767, lower case
EDI_MEDIA_TYPES = frozenset({"application/edi-x12", "application/edifact", "application/edi-consent"})
DEFAULT_EXTENSIONS = (".edi", ".x12", ".edifact", ".edf")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_NAME = 200


class NoEdiContentError(GatewayError):
    """The mail holds nothing that looks like an EDI file.

    Args:
        reason: what was found instead, for the 554 reply and the operator.
    """


@dataclass(frozen=True, slots=True)
class EdiPart:
    """One EDI file found in a mail."""

    index: int
    file_name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class MailContent:
    """What a mail carried."""

    message_id: str | None
    subject: str
    header_from: str
    parts: tuple[EdiPart, ...]
    skipped: tuple[str, ...]


def safe_file_name(raw: str | None, index: int) -> str:
    """A file name with no folder part, no control characters, not hidden.

    Args:
        raw: the name from Content-Disposition/Content-Type (RFC 2231 decoded).
        index: the part's position, for a fallback name.

    Returns:
        A name safe to show and store, ``attachment-<index>.edi`` when nothing is left.
    """
    text = (raw or "").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    name = _CONTROL.sub("", text).replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    if len(name) > _MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: _MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) < 16 else name[:_MAX_NAME]
    return name or f"attachment-{index}.edi"


def looks_like_edi(data: bytes) -> bool:
    """Whether bytes start like an X12 (ISA) or EDIFACT (UNA/UNB) interchange."""
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:3] in (b"ISA", b"UNA", b"UNB")


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    raise NoEdiContentError(f"part {part.get_content_type()} could not be decoded")


def extract_edi(raw: bytes, *, extensions: tuple[str, ...] = DEFAULT_EXTENSIONS) -> MailContent:
    """Find the EDI files in a mail.

    Args:
        raw: the message as received after DATA (RFC 5322 headers and body).
        extensions: file name endings (lower case) that mark an attachment as EDI.

    Returns:
        The EDI parts with the mail's Message-ID, Subject and From.

    Raises:
        NoEdiContentError: no attachment and no body is EDI; the reason lists what was found.
    """
    try:
        return _extract(raw, extensions)
    except (IndexError, ValueError, TypeError, AttributeError, LookupError) as exc:
        # CPython's email header parser has crashes on hostile headers (found by
        # tests/reliability fuzzing: IndexError in get_domain); the mail is refused, not a 500.
        raise NoEdiContentError(
            f"the mail's MIME structure could not be parsed ({type(exc).__name__})"
        ) from exc


def _header(msg: Message, name: str) -> str | None:
    try:
        value = msg.get(name)
    except (IndexError, ValueError, TypeError, AttributeError, LookupError):
        value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    return None if value is None else str(value)


def _extract(raw: bytes, extensions: tuple[str, ...]) -> MailContent:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    parts: list[EdiPart] = []
    skipped: list[str] = []
    leaves = [p for p in msg.walk() if not p.is_multipart()]
    for index, part in enumerate(leaves, start=1):
        name = part.get_filename()
        if part.get_content_disposition() != "attachment" and name is None:
            continue
        ctype = part.get_content_type()
        data = _payload(part)
        lower = (name or "").lower()
        if ctype in EDI_MEDIA_TYPES or looks_like_edi(data) or lower.endswith(tuple(extensions)):
            parts.append(EdiPart(index, safe_file_name(name, index), ctype, data))
        else:
            skipped.append(f"{safe_file_name(name, index)} ({ctype})")
    if not parts:
        for index, part in enumerate(leaves, start=1):
            ctype = part.get_content_type()
            if part.get_content_disposition() == "attachment" or part.get_filename() is not None:
                continue
            if ctype in EDI_MEDIA_TYPES or ctype == "text/plain":
                data = _payload(part)
                if looks_like_edi(data):
                    parts.append(EdiPart(index, f"body-{index}.edi", ctype, data))
                    break
    if not parts:
        found = ", ".join(skipped) if skipped else "no attachments"
        raise NoEdiContentError(
            f"no EDI content: no X12/EDIFACT attachment and the body is not an interchange (found: {found})"
        )
    message_id = _header(msg, "Message-ID")
    return MailContent(
        message_id=message_id.strip() if message_id else None,
        subject=_header(msg, "Subject") or "",
        header_from=_header(msg, "From") or "",
        parts=tuple(parts),
        skipped=tuple(skipped),
    )


__all__ = ["EdiPart", "MailContent", "NoEdiContentError", "extract_edi", "looks_like_edi", "safe_file_name"]
