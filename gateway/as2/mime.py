"""A byte-exact MIME reader and writer for AS2 (RFC 2045/2046, RFC 1847, RFC 4130).

Strategy: the stdlib ``email`` package re-serialises what it parses, which
breaks signatures and MICs. Here an entity keeps the exact bytes it was cut
from (``raw``); headers are parsed into a read-only view beside them. Signature
checks try the raw bytes first and canonical forms after (see
:func:`canonical_candidates`), because real senders disagree on line ends.

Invariant: every function here either returns or raises
:class:`~gateway.as2.errors.As2MalformedMessage`; no other exception escapes.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.as2.errors import As2MalformedMessage

_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_CRLF = b"\r\n"


@dataclass(frozen=True, slots=True)
class MimeEntity:
    """One MIME entity: its parsed headers and the bytes it was cut from.

    Attributes:
        headers: ``(name, value)`` pairs in order, values unfolded and stripped.
        head: the header block exactly as received, including the blank line ending it.
        body: the body exactly as received (still transfer-encoded).
    """

    headers: tuple[tuple[str, str], ...]
    head: bytes
    body: bytes

    @property
    def raw(self) -> bytes:
        """The whole entity as received."""
        return self.head + self.body

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def content_type(self) -> str:
        """The lower-cased media type; ``text/plain`` when absent (RFC 2045 §5.2)."""
        value = self.header("Content-Type")
        return parse_header_value(value)[0].lower() if value else "text/plain"

    def param(self, name: str, header: str = "Content-Type") -> str | None:
        """A parameter of a structured header (``boundary``, ``smime-type``, ``filename``...)."""
        value = self.header(header)
        if value is None:
            return None
        return parse_header_value(value)[1].get(name.lower())

    def decoded_body(self) -> bytes:
        """The body with its Content-Transfer-Encoding removed.

        Raises:
            As2MalformedMessage: an unknown encoding, or base64 that does not decode.
        """
        return decode_transfer_encoding(self.body, self.header("Content-Transfer-Encoding"))


def parse_header_value(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type/sub; a=1; b="x; y"`` into the value and its lower-cased parameters."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    params: dict[str, str] = {}
    for item in parts[1:]:
        key, sep, val = item.partition("=")
        if not sep:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        params[key.strip().lower()] = val
    return parts[0].strip(), params


def _split_head(data: bytes) -> tuple[bytes, bytes] | None:
    candidates = [i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0]
    if data.startswith((b"\r\n", b"\n")):
        # An entity with no headers at all: just the separating blank line.
        skip = 2 if data.startswith(b"\r\n") else 1
        return data[:skip], data[skip:]
    if not candidates:
        return None
    end = min(candidates)
    sep = 4 if data[end : end + 4] == b"\r\n\r\n" else 2
    return data[: end + sep], data[end + sep :]


def parse_headers(head: bytes) -> tuple[tuple[str, str], ...]:
    """Parse a header block (folded lines allowed) into ``(name, value)`` pairs.

    Raises:
        As2MalformedMessage: a line that is neither a header nor a continuation.
    """
    headers: list[list[str]] = []
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not headers:
                raise As2MalformedMessage("a MIME header block starts with a continuation line")
            headers[-1][1] += " " + line.strip().decode("latin-1")
            continue
        if not _HEADER_LINE.match(line):
            raise As2MalformedMessage(f"not a MIME header line: {line[:60]!r}")
        name, _, value = line.partition(b":")
        headers.append([name.decode("ascii").strip(), value.strip().decode("latin-1")])
    return tuple((name, value) for name, value in headers)


def parse_entity(data: bytes, *, allow_headerless: bool = False) -> MimeEntity:
    """Cut a MIME entity into headers and body without changing a byte.

    Args:
        data: the entity bytes.
        allow_headerless: accept content with no MIME headers (some senders,
            e.g. mendelson, encrypt the bare payload). Such content becomes an
            entity with no headers, typed ``text/plain`` by RFC 2045 default.

    Returns:
        The entity.

    Raises:
        As2MalformedMessage: the header block is broken and headerless content is not allowed.
    """
    split = _split_head(data)
    if split is not None:
        head, body = split
        try:
            headers = parse_headers(head)
        except As2MalformedMessage:
            if not allow_headerless:
                raise
        else:
            # EDI lines such as "UNB+UNOA:2+..." look like headers; only a block
            # naming a MIME header is taken as one.
            if not allow_headerless or any(k.lower().startswith("content-") for k, _ in headers):
                return MimeEntity(headers=headers, head=head, body=body)
    if not allow_headerless:
        raise As2MalformedMessage("the MIME entity has no header block ending in a blank line")
    return MimeEntity(headers=(), head=b"", body=data)


def entity_from_http(headers: Iterable[tuple[str, str]], body: bytes) -> MimeEntity:
    """The AS2 entity carried by an HTTP request: its Content-* headers plus the body (RFC 4130 §5.1)."""
    kept = tuple(
        (k, v) for k, v in headers if k.lower().startswith("content-") and k.lower() != "content-length"
    )
    return MimeEntity(headers=kept, head=format_headers(kept), body=body)


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The body parts of a multipart body, byte-exact (RFC 2046 §5.1.1).

    The line break before each delimiter belongs to the delimiter, so it is
    not part of the preceding body part.

    Raises:
        As2MalformedMessage: no delimiter, or no closing delimiter.
    """
    if not boundary or len(boundary) > 200:
        raise As2MalformedMessage("multipart entity without a usable boundary parameter")
    marker = b"--" + boundary.encode("latin-1")
    parts: list[bytes] = []
    start: int | None = None
    pos = 0
    while True:
        hit = body.find(marker, pos)
        if hit < 0:
            break
        pos = hit + len(marker)
        # A delimiter starts a line: at the very start, or right after LF (the CRLF/LF before it is its own).
        if hit != 0 and body[hit - 1 : hit] != b"\n":
            continue
        line_end = body.find(b"\n", pos)
        rest = body[pos : len(body) if line_end < 0 else line_end].rstrip(b"\r \t")
        if rest not in (b"", b"--"):
            continue  # a longer boundary that merely starts with ours
        if start is not None:
            cut = hit - 1 if hit > 0 else 0
            if cut > 0 and body[cut - 1 : cut] == b"\r":
                cut -= 1
            parts.append(body[start:cut])
        if rest == b"--":
            if not parts:
                raise As2MalformedMessage("multipart entity has no body parts")
            return parts
        start = len(body) if line_end < 0 else line_end + 1
        pos = start
    raise As2MalformedMessage(f"multipart entity is missing its closing boundary --{boundary[:40]}--")


def decode_transfer_encoding(body: bytes, encoding: str | None) -> bytes:
    """Undo a Content-Transfer-Encoding (RFC 2045 §6).

    Raises:
        As2MalformedMessage: unknown encoding or invalid base64.
    """
    enc = (encoding or "binary").strip().lower()
    if enc in ("binary", "7bit", "8bit"):
        return body
    if enc == "base64":
        try:
            return base64.b64decode(re.sub(rb"\s+", b"", body), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise As2MalformedMessage(f"the base64 body does not decode: {exc}") from exc
    if enc == "quoted-printable":
        return quopri.decodestring(body)
    raise As2MalformedMessage(f"unknown Content-Transfer-Encoding {encoding!r}")


def canonicalize(data: bytes) -> bytes:
    """Every line end as CRLF (RFC 5751 §3.1.1 canonical form)."""
    return re.sub(rb"\r?\n", _CRLF, data)


def canonical_candidates(entity: bytes) -> list[bytes]:
    """The forms a signer may have hashed, most faithful first, without duplicates.

    1. the bytes as received (binary-safe senders);
    2. headers in CRLF form, body untouched (mendelson, OpenAS2 and Sterling
       store part headers with LF but sign them with CRLF: SOURCES.md);
    3. everything in CRLF form (RFC 5751 canonical text).
    """
    forms = [entity]
    split = _split_head(entity)
    if split is not None:
        forms.append(canonicalize(split[0]) + split[1])
    forms.append(canonicalize(entity))
    unique: list[bytes] = []
    for form in forms:
        if form not in unique:
            unique.append(form)
    return unique


def format_headers(headers: Sequence[tuple[str, str]]) -> bytes:
    """Serialise headers in CRLF form followed by the blank line."""
    return b"".join(f"{k}: {v}".encode("latin-1") + _CRLF for k, v in headers) + _CRLF


def build_entity(headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    """A MIME entity from headers and an (already encoded) body."""
    return format_headers(headers) + body


def build_multipart(parts: Sequence[bytes], boundary: str) -> bytes:
    """A multipart body from whole entities (RFC 2046 §5.1.1; CRLF belongs to the delimiter)."""
    out = bytearray()
    for part in parts:
        out += f"--{boundary}\r\n".encode("ascii") + part + b"\r\n"
    out += f"--{boundary}--\r\n".encode("ascii")
    return bytes(out)


def base64_lines(data: bytes) -> bytes:
    """Base64 in 76-character CRLF lines (RFC 2045 §6.8)."""
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + 76] + _CRLF for i in range(0, len(encoded), 76))


__all__ = [
    "MimeEntity",
    "base64_lines",
    "build_entity",
    "build_multipart",
    "canonical_candidates",
    "canonicalize",
    "decode_transfer_encoding",
    "entity_from_http",
    "format_headers",
    "parse_entity",
    "parse_header_value",
    "parse_headers",
    "split_multipart",
]
