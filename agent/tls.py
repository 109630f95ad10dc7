"""Client TLS for the outward link: one place builds every ``ssl.SSLContext``.

Strategy: the gateway only dials out.  It presents its own certificate and
trusts exactly the CA the site pinned for the cloud (the system store stays
off unless the configuration turns it on), with TLS 1.2 as the floor and the
server's hostname always checked.  :class:`TlsIdentity` owns the files and
rebuilds the context when any of them changes on disk (certificate rotation
without a restart): sinks call :meth:`TlsIdentity.refresh` before each batch
of connections, which costs three ``stat`` calls.

Failures come in two families::

    TlsConfigError (agent.errors)      our own files are wrong; found before dialling
    ├─ TlsFileError                    missing or unreadable file
    ├─ KeyNotPrivate                   the key (or its passphrase file) is readable by others
    ├─ CertificateInvalid              not PEM, no certificate, bad CA bundle
    ├─ ClientCertificateExpired        our certificate is expired or not yet valid
    └─ KeyMismatch                     the key does not belong to the certificate
    PermanentDeliveryError (agent.errors)
    └─ TlsLinkError                    the link is misconfigured; every message would fail alike
       ├─ ClientCertificateRejected    the server refused our certificate
       ├─ ServerCertificateUntrusted   the server's certificate does not chain to the pinned CA
       └─ ServerHostnameMismatch       the server's certificate names another host

A :class:`TlsLinkError` is never worth retrying blindly: it affects every
message on the link until an operator fixes a certificate, so the delivery
engine should pause the sink rather than dead-letter message after message.

A server refuses a client certificate in one of two ways, and both are mapped
here: nginx finishes the handshake and answers HTTP 400 "No required SSL
certificate was sent" / "The SSL certificate error"; a strict TLS server
(``openssl s_server -Verify 2 -verify_return_error``) sends a TLS alert
(``certificate required``, ``unknown ca``), which under TLS 1.3 only surfaces
at the first read.  A third, ambiguous way, a bare close without an alert
("EOF occurred in violation of protocol"), cannot be told apart from a crash:
it stays transient, with :func:`eof_after_handshake_hint` saying what it likely means.

:class:`TlsSettings` is the ``[sinks.tls]`` table each sink's configuration carries.
"""

from __future__ import annotations

import datetime as _dt
import os
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict

from agent.errors import PermanentDeliveryError, TlsConfigError
from partners.permissions import private_file_problem

#: Days before expiry from which status warns about our client certificate.
EXPIRY_WARNING_DAYS = 30

# OpenSSL X509_V_ERR_* codes carried by ssl.SSLCertVerificationError.verify_code.
_X509_CERT_HAS_EXPIRED = 10
_X509_HOSTNAME_MISMATCH = 62
_X509_IP_ADDRESS_MISMATCH = 64

# TLS alerts a server sends when it does not accept our certificate (RFC 8446 §6.2;
# OpenSSL names them TLSV13_ALERT_* / SSLV3_ALERT_* / TLSV1_ALERT_*).
_CLIENT_CERT_ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate and got none",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not know the CA that issued our certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server found our certificate bad",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server says our certificate has expired",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "the server says our certificate is revoked",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the server could not use our certificate",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "the server does not support our certificate type",
    "TLSV1_ALERT_ACCESS_DENIED": "the server denied access to our certificate",
}

# nginx turns its internal 495/496 codes into a plain 400 with these titles.
_NGINX_CLIENT_CERT_PAGES = {
    "No required SSL certificate was sent": "the server requires a client certificate and got none",
    "The SSL certificate error": "the server could not verify our certificate (unknown CA or expired)",
}


class TlsFileError(TlsConfigError):
    """A certificate, key or CA file is missing or unreadable."""


class KeyNotPrivate(TlsConfigError):
    """The private key, or the file holding its passphrase, is readable by group or others."""


class CertificateInvalid(TlsConfigError):
    """A file is readable but holds no usable certificate, key or CA bundle."""


class ClientCertificateExpired(TlsConfigError):
    """Our client certificate is outside its validity period."""


class KeyMismatch(TlsConfigError):
    """The private key does not belong to the client certificate."""


class TlsLinkError(PermanentDeliveryError):
    """The TLS link to the server is misconfigured; see the module docstring.

    Attributes:
        reason: short machine-readable reason for status and metrics.
        link_wide: True: every message on this sink would fail alike until an operator
            fixes a certificate, so the engine should hold the queue (open the breaker)
            rather than dead-letter message after message.
    """

    reason = "tls"
    link_wide = True


class ClientCertificateRejected(TlsLinkError):
    """The server refused our client certificate (HTTP 400 from nginx or a TLS alert)."""

    reason = "client_certificate_rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(f"client certificate rejected by server: {detail}")
        self.detail = detail


class ServerCertificateUntrusted(TlsLinkError):
    """The server's certificate does not chain to the pinned CA (or is expired)."""

    reason = "server_certificate_untrusted"


class ServerHostnameMismatch(TlsLinkError):
    """The server's certificate is valid but issued for another host name."""

    reason = "server_hostname_mismatch"


@dataclass(frozen=True, slots=True)
class _FileStamp:
    """What identifies one version of a file on disk (rotation replaces the inode)."""

    inode: int
    mtime_ns: int
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsStatus:
    """What ``edigate status`` shows about the client identity.

    Attributes:
        subject: RFC 4514 subject of our certificate.
        not_after: end of validity (UTC).
        days_left: whole days until ``not_after`` (negative when expired).
        expiring_soon: True within :data:`EXPIRY_WARNING_DAYS` days of expiry.
        last_reload_error: why the newest files on disk were not taken, if they were not.
    """

    subject: str
    not_after: _dt.datetime
    days_left: int
    expiring_soon: bool
    last_reload_error: str | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for ``edigate status --json``."""
        return {
            "subject": self.subject,
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left,
            "expiring_soon": self.expiring_soon,
            "last_reload_error": self.last_reload_error,
        }


def _stamp(path: Path) -> _FileStamp:
    try:
        st = path.stat()
    except OSError as exc:
        raise TlsFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return _FileStamp(inode=st.st_ino, mtime_ns=st.st_mtime_ns, size=st.st_size)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsFileError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from exc


def _require_private(path: Path, what: str) -> None:
    problem = private_file_problem(path, what)
    if problem is not None:
        raise KeyNotPrivate(problem)


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class TlsIdentity:
    """Our client certificate, its key and the pinned CA, reloaded when they change.

    Args:
        cert_file: PEM file with our certificate first, then any intermediates.
        key_file: PEM private key of that certificate.
        ca_file: PEM bundle of the CA(s) that may sign the server; None only
            together with ``use_system_cas=True``.
        use_system_cas: also trust the operating system's CA store (off by default).
        key_password: passphrase of an encrypted key, if any.
        clock: returns the current UTC time (tests pass a fixed one).

    Raises:
        TlsConfigError: a file is missing, unreadable or invalid, the key does
            not match, or the certificate is expired (see the subclasses).
    """

    def __init__(
        self,
        *,
        cert_file: str | os.PathLike[str],
        key_file: str | os.PathLike[str],
        ca_file: str | os.PathLike[str] | None,
        use_system_cas: bool = False,
        key_password: str | None = None,
        clock: Callable[[], _dt.datetime] = _utcnow,
    ) -> None:
        if ca_file is None and not use_system_cas:
            raise TlsConfigError("no CA configured for the server: set a pinned CA file or enable system CAs")
        self._cert_file = Path(cert_file)
        self._key_file = Path(key_file)
        self._ca_file = Path(ca_file) if ca_file is not None else None
        self._use_system_cas = use_system_cas
        self._key_password = key_password
        self._clock = clock
        self._last_reload_error: str | None = None
        self.generation = 0
        self._stamps = self._current_stamps()
        self._context, self._leaf = self._build()
        self.generation = 1

    # -- public API -------------------------------------------------------------------------

    @property
    def context(self) -> ssl.SSLContext:
        """The current client context (rebuilt by :meth:`refresh`)."""
        return self._context

    @property
    def not_after(self) -> _dt.datetime:
        """End of validity of our client certificate (aware, UTC)."""
        return self._leaf.not_valid_after_utc

    @property
    def subject(self) -> str:
        """RFC 4514 subject of our client certificate."""
        return self._leaf.subject.rfc4514_string()

    def expires_within(self, days: int = EXPIRY_WARNING_DAYS) -> bool:
        """Tell whether our certificate expires within ``days`` days from now.

        Args:
            days: the warning window.

        Returns:
            True when ``not_after`` is at most ``days`` days away (or past).
        """
        return self.not_after - self._clock() <= _dt.timedelta(days=days)

    def status(self) -> TlsStatus:
        """Summarise the identity for ``edigate status``.

        Returns:
            A :class:`TlsStatus` snapshot.
        """
        left = self.not_after - self._clock()
        return TlsStatus(
            subject=self.subject,
            not_after=self.not_after,
            days_left=left.days,
            expiring_soon=self.expires_within(),
            last_reload_error=self._last_reload_error,
        )

    def refresh(self) -> bool:
        """Rebuild the context when a file changed on disk since the last load.

        A rotation that is caught half-written (key and certificate do not
        match yet, file missing for a moment) keeps the previous context and
        records why in :attr:`TlsStatus.last_reload_error`; the next call tries again.

        Returns:
            True when a new context was installed (callers rebuild their clients).
        """
        try:
            stamps = self._current_stamps()
        except TlsFileError as exc:
            self._last_reload_error = str(exc)
            return False
        if stamps == self._stamps:
            return False
        try:
            context, leaf = self._build()
        except TlsConfigError as exc:
            self._last_reload_error = str(exc)
            return False
        self._stamps, self._context, self._leaf = stamps, context, leaf
        self._last_reload_error = None
        self.generation += 1
        return True

    # -- loading ----------------------------------------------------------------------------

    def _files(self) -> Iterator[Path]:
        yield self._cert_file
        yield self._key_file
        if self._ca_file is not None:
            yield self._ca_file

    def _current_stamps(self) -> tuple[_FileStamp, ...]:
        return tuple(_stamp(path) for path in self._files())

    def _build(self) -> tuple[ssl.SSLContext, x509.Certificate]:
        leaf = self._check_certificate_and_key()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # sets CERT_REQUIRED and check_hostname
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self._use_system_cas:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if self._ca_file is not None:
            ca_pem = _read(self._ca_file, "CA")
            try:
                context.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
            except (ssl.SSLError, ValueError) as exc:
                raise CertificateInvalid(
                    f"the CA file {self._ca_file} holds no usable certificate: {exc}"
                ) from exc
        try:
            context.load_cert_chain(self._cert_file, self._key_file, password=self._key_password)
        except ssl.SSLError as exc:
            raise KeyMismatch(
                f"cannot use the certificate {self._cert_file} with the key {self._key_file}: "
                f"{exc.reason or exc}"
            ) from exc
        except OSError as exc:
            raise TlsFileError(f"cannot read the certificate or key: {exc.strerror or exc}") from exc
        if hasattr(context, "post_handshake_auth"):
            # TLS 1.3 servers may ask for the certificate after the handshake.
            context.post_handshake_auth = True
        return context, leaf

    def _check_certificate_and_key(self) -> x509.Certificate:
        cert_pem = _read(self._cert_file, "client certificate")
        _require_private(self._key_file, "mTLS client private key")
        key_pem = _read(self._key_file, "private key")
        try:
            chain = x509.load_pem_x509_certificates(cert_pem)
        except ValueError as exc:
            raise CertificateInvalid(f"{self._cert_file} is not a PEM certificate: {exc}") from exc
        leaf = chain[0]
        try:
            key = serialization.load_pem_private_key(
                key_pem, password=self._key_password.encode() if self._key_password else None
            )
        except (ValueError, TypeError) as exc:
            # The message never includes the key material, only why it failed.
            raise CertificateInvalid(f"{self._key_file} is not a usable PEM private key: {exc}") from exc
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if key.public_key().public_bytes(der, spki) != leaf.public_key().public_bytes(der, spki):
            raise KeyMismatch(
                f"the private key {self._key_file} does not belong to the certificate {self._cert_file}"
            )
        now = self._clock()
        if now >= leaf.not_valid_after_utc:
            raise ClientCertificateExpired(
                f"our client certificate {self._cert_file} ({leaf.subject.rfc4514_string()}) "
                f"expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
            )
        if now < leaf.not_valid_before_utc:
            raise ClientCertificateExpired(
                f"our client certificate {self._cert_file} is not valid before "
                f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (check the clock)"
            )
        return leaf


class TlsSettings(BaseModel):
    """``[sinks.tls]``: the files of our client identity and the server CA we pin.

    Attributes:
        cert_file: PEM certificate (then intermediates) the gateway presents.
        key_file: its PEM private key; refused unless private to its owner (mode 0600).
        ca_file: PEM bundle of the CA(s) allowed to sign the server; required unless
            ``use_system_cas``.
        use_system_cas: also trust the operating system's store (off: the cloud CA is pinned).
        key_password_file: file holding the key's passphrase, if the key is encrypted (mode 0600 too).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path
    key_file: Path
    ca_file: Path | None = None
    use_system_cas: bool = False
    key_password_file: Path | None = None

    def load(self) -> TlsIdentity:
        """Load the files into a :class:`TlsIdentity`.

        Returns:
            The identity (reloads itself when the files change).

        Raises:
            TlsConfigError: missing, unreadable, mismatched or expired files, or a key
                or passphrase file readable by others (:class:`KeyNotPrivate`).
        """
        password = None
        if self.key_password_file is not None:
            _require_private(self.key_password_file, "mTLS key passphrase file")
            password = _read(self.key_password_file, "key passphrase").decode().strip()
        return TlsIdentity(
            cert_file=self.cert_file,
            key_file=self.key_file,
            ca_file=self.ca_file,
            use_system_cas=self.use_system_cas,
            key_password=password,
        )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)  # urllib.error.URLError wraps the SSLError here
        if isinstance(reason, BaseException) and id(reason) not in seen:
            yield from _chain(reason)
        current = current.__cause__ or current.__context__


def classify_tls_failure(exc: BaseException, *, server: str) -> TlsLinkError | None:
    """Recognise a TLS failure anywhere in an exception chain.

    Args:
        exc: what the client library raised (httpx, urllib, ssl).
        server: host:port for the message.

    Returns:
        The matching :class:`TlsLinkError`, or None when ``exc`` is not about
        certificates (a plain connection failure stays the caller's to map).
    """
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            code = item.verify_code
            detail = item.verify_message or str(item)
            if code in (_X509_HOSTNAME_MISMATCH, _X509_IP_ADDRESS_MISMATCH):
                return ServerHostnameMismatch(
                    f"the certificate of {server} is not issued for that host name ({detail})"
                )
            if code == _X509_CERT_HAS_EXPIRED:
                return ServerCertificateUntrusted(f"the certificate of {server} has expired ({detail})")
            return ServerCertificateUntrusted(
                f"the certificate of {server} is not signed by the pinned CA ({detail})"
            )
        if isinstance(item, ssl.SSLError):
            name = item.reason or ""
            if name in _CLIENT_CERT_ALERTS:
                return ClientCertificateRejected(
                    f"{_CLIENT_CERT_ALERTS[name]} (TLS alert {name} from {server})"
                )
    return None


def eof_after_handshake_hint(exc: BaseException) -> str | None:
    """Explain an abrupt TLS end ("EOF occurred in violation of protocol") in operator terms.

    Some servers refuse a client certificate by closing the connection without an alert
    (or the alert is lost to a reset).  That is indistinguishable from a crash on the wire,
    so callers keep it transient but say what it most likely means.

    Args:
        exc: what the client library raised.

    Returns:
        A hint to append to the message, or None when ``exc`` is not an abrupt TLS end.
    """
    for item in _chain(exc):
        if isinstance(item, ssl.SSLEOFError) or (
            isinstance(item, ssl.SSLError) and (item.reason or "") == "UNEXPECTED_EOF_WHILE_READING"
        ):
            return (
                "the server closed the TLS connection without answering; if this repeats it most "
                "likely refuses our client certificate (check the CA it trusts and our certificate's expiry)"
            )
    return None


def classify_http_refusal(status: int, body: str, *, server: str) -> ClientCertificateRejected | None:
    """Recognise nginx's way of refusing a client certificate: HTTP 400 after the handshake.

    Args:
        status: HTTP status code.
        body: the response body as text (the HTML error page).
        server: host:port for the message.

    Returns:
        :class:`ClientCertificateRejected` when the page says so, else None.
    """
    if status != 400:
        return None
    for title, meaning in _NGINX_CLIENT_CERT_PAGES.items():
        if title in body:
            return ClientCertificateRejected(f'{meaning} (HTTP 400 "{title}" from {server})')
    return None


__all__ = [
    "EXPIRY_WARNING_DAYS",
    "CertificateInvalid",
    "ClientCertificateExpired",
    "ClientCertificateRejected",
    "KeyMismatch",
    "KeyNotPrivate",
    "ServerCertificateUntrusted",
    "ServerHostnameMismatch",
    "TlsFileError",
    "TlsIdentity",
    "TlsLinkError",
    "TlsSettings",
    "TlsStatus",
    "classify_http_refusal",
    "classify_tls_failure",
    "eof_after_handshake_hint",
]
