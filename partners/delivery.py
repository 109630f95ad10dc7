"""Profile schema of outbound delivery settings and certificates.

Only the *shape* is validated here (a host is a host name, a port is a
port, an AS2 URL is http(s)); opening connections is the agent's job.
Paths are kept as written: relative paths are resolved against the
profile's folder by :class:`partners.Profile`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

_HOST = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^\[[0-9A-Fa-f:.]+\]$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SftpDelivery(_Strict):
    """Push files to the partner's SFTP server."""

    transport: Literal["sftp"]
    host: str = Field(pattern=_HOST)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(min_length=1)
    key: str = Field(min_length=1, description="path of our private key")
    known_hosts: str = Field(min_length=1, description="path of the known_hosts file pinning the server key")
    remote_dir: str = Field(default=".", min_length=1)
    temp_suffix: str = Field(default=".part", description="upload under this suffix, then rename")


class FtpFetch(_Strict):
    """Fetch mode (``[delivery.fetch]``): poll the partner's server for files they leave us.

    Each poll downloads every finished file of ``remote_dir``, journals it, and
    only then deletes it (``after = "delete"``) or renames it into a folder on
    the server (``after = "move:<folder>"``).
    """

    remote_dir: str = Field(default=".", min_length=1, description="remote folder to poll")
    interval_seconds: float = Field(default=300.0, ge=1.0, le=86400.0, description="seconds between polls")
    after: str = Field(
        default="delete",
        pattern=r"^(delete|move:\S(.*\S)?)$",
        description="'delete' or 'move:<remote folder>' once the file is journaled",
    )

    @property
    def archive_dir(self) -> str | None:
        """The remote folder of ``after = "move:<folder>"``, else None."""
        return self.after.split(":", 1)[1] if self.after.startswith("move:") else None


class FtpDelivery(_Strict):
    """Push files to the partner's FTP/FTPS server, and optionally fetch theirs (``fetch``)."""

    transport: Literal["ftp"]
    host: str = Field(pattern=_HOST)
    port: int = Field(default=21, ge=1, le=65535)
    user: str = Field(min_length=1)
    password_file: str | None = Field(default=None, description="path of a file holding the password")
    tls: Literal["none", "explicit", "implicit"] = "explicit"
    passive: bool = True
    remote_dir: str = Field(default=".", min_length=1)
    fetch: FtpFetch | None = Field(default=None, description="also poll the server for the partner's files")


class As2Delivery(_Strict):
    """Send AS2 messages (RFC 4130)."""

    transport: Literal["as2"]
    url: str = Field(pattern=r"^https?://[^\s]+$")
    as2_from: str = Field(min_length=1, max_length=128, description="our AS2 name")
    as2_to: str = Field(min_length=1, max_length=128, description="the partner's AS2 name")
    sign: bool = True
    encrypt: bool = True
    compress: bool = False
    signing_algorithm: Literal["sha1", "sha256", "sha384", "sha512"] = "sha256"
    encryption_algorithm: Literal["des3", "aes128-cbc", "aes192-cbc", "aes256-cbc"] = "aes256-cbc"
    mdn: Literal["sync", "async", "none"] = Field(
        default="sync",
        description="sync: the MDN comes in the HTTP answer; async: the partner POSTs it to our AS2 listener"
        " later (Receipt-Delivery-Option); none: a 2xx answer is all there is",
    )
    mdn_signed: bool = True
    async_mdn_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="where the partner must POST async MDNs; default: public_url of our [[sources.as2]]",
    )
    async_mdn_within_minutes: float = Field(
        default=60.0,
        ge=0,
        le=7 * 24 * 60,
        description="an async MDN not received by then is shown as overdue in edigate status",
    )
    timeout_seconds: int = Field(default=120, ge=1, le=3600)

    @model_validator(mode="after")
    def _url_only_for_async(self) -> Self:
        if self.async_mdn_url and self.mdn != "async":
            raise ValueError("async_mdn_url is only used with mdn = 'async'")
        return self


class DirectoryDelivery(_Strict):
    """Write files into a local (or mounted) directory."""

    transport: Literal["directory"]
    path: str = Field(min_length=1)
    temp_suffix: str = ".part"


class MailDelivery(_Strict):
    """Send files as e-mail attachments."""

    transport: Literal["mail"]
    to: list[Annotated[str, Field(pattern=_EMAIL)]] = Field(min_length=1)
    sender: str = Field(pattern=_EMAIL)
    subject: str = "EDI {document_type} {control_number}"


Delivery = Annotated[
    SftpDelivery | FtpDelivery | As2Delivery | DirectoryDelivery | MailDelivery,
    Field(discriminator="transport"),
]


class Certificates(_Strict):
    """Certificate and key files used with this partner (paths)."""

    as2_partner: str | None = Field(default=None, description="partner's AS2 certificate (verify / encrypt)")
    as2_partner_ca: str | None = Field(
        default=None, description="CA bundle the partner's certificate chains to"
    )
    as2_ours: str | None = Field(default=None, description="our AS2 certificate, if not the gateway default")
    as2_ours_key: str | None = Field(default=None, description="private key of as2_ours")
    tls_ca: str | None = Field(default=None, description="CA bundle for FTPS / HTTPS to the partner")

    def paths(self) -> dict[str, str]:
        """Return the certificate paths that are set, by field name."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


__all__ = [
    "As2Delivery",
    "Certificates",
    "Delivery",
    "DirectoryDelivery",
    "FtpDelivery",
    "FtpFetch",
    "MailDelivery",
    "SftpDelivery",
]
