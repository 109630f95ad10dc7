"""The partner profile schema: one TOML file per trading partner.

Every table is a pydantic model with ``extra="forbid"``, so a misspelt key
is an error rather than a silently ignored setting.  The schema is
published as JSON Schema (:func:`profile_json_schema`, ``edigate partners
schema``).  Checks that span several tables (a document naming a layout
that does not exist) run in :class:`PartnerProfile`'s validator; checks
that span several files (two partners claiming one ISA ID) run in the
registry.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from translators.xml import xml_layout_problems

from .delivery import Certificates, Delivery
from .layouts import LayoutModel, XmlLayoutModel

Direction = Literal["inbound", "outbound"]
StandardName = Literal["x12", "edifact", "csv", "fixed", "xml"]
DuplicatePolicyName = Literal["reject", "suppress", "quarantine", "accept"]
AckWhen = Literal["never", "on_error", "always"]
ProductIdKind = Literal["gtin", "upc", "vendor_part", "buyer_part", "sku"]

_EMAIL_OR_DOMAIN = r"^([^@\s]+@[^@\s]+\.[^@\s]+|@[^@\s]+\.[^@\s]+)$"
_EDI_TEXT = r"^[A-Za-z0-9 &()*+,./:;?=%@!'\"_#$-]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class X12Identity(_Strict):
    """One X12 interchange identity: ISA05/06 (as sender) or ISA07/08."""

    qualifier: str = Field(
        pattern=r"^[0-9A-Z]{2}$", description="ISA05/07 qualifier: 01 DUNS, 12 phone, ZZ ..."
    )
    id: str = Field(min_length=1, max_length=15, pattern=_EDI_TEXT, description="ISA06/08, without padding")
    application_codes: list[Annotated[str, Field(min_length=1, max_length=15)]] = Field(
        default_factory=list, description="GS02/GS03 application codes this partner uses (empty = any)"
    )

    @field_validator("id")
    @classmethod
    def _no_padding(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError("write the ID without leading or trailing spaces; padding is ignored")
        return value


class EdifactIdentity(_Strict):
    """One EDIFACT interchange identity: UNB S002 (as sender) or S003."""

    id: str = Field(min_length=1, max_length=35, description="0004/0010 identification")
    qualifier: str | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="0007 code qualifier: 14 GLN, ZZZ mutually defined...",
    )
    application_codes: list[Annotated[str, Field(min_length=1, max_length=35)]] = Field(
        default_factory=list, description="UNG application sender ids (empty = any)"
    )


class SftpAccount(_Strict):
    """The account the partner logs into our SFTP intake with."""

    user: str = Field(pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")
    public_keys: list[Annotated[str, Field(pattern=r"^(ssh-|ecdsa-|sk-)\S+ \S+")]] = Field(
        default_factory=list
    )
    public_key_files: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    password_hash: str | None = Field(
        default=None,
        pattern=r"^\$(2[aby]|5|6|argon2(id|i|d)|scrypt)\$",
        description="crypt(3)/argon2 hash, never plain",
    )

    @model_validator(mode="after")
    def _some_credential(self) -> Self:
        if not (self.public_keys or self.public_key_files or self.password_hash):
            raise ValueError("an SFTP account needs public_keys, public_key_files or password_hash")
        return self


_SCRYPT_HASH = r"^scrypt\$[0-9]{1,10}\$[0-9]{1,4}\$[0-9]{1,4}\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$"


class FtpAccount(_Strict):
    """The account the partner logs into our FTP/FTPS intake with (``[identities.ftp]``).

    FTP has no keys: a password is the only credential, stored as the scrypt
    hash :func:`gateway.sources.sftp.hash_password` writes
    (``scrypt$16384$8$1$<salt>$<hash>``).  The user name is also the name of the
    account's folder under the listener's ``roots_dir``.
    """

    user: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$", description="FTP login name")
    password_hash: str = Field(
        pattern=_SCRYPT_HASH, description="scrypt$N$r$p$<salt b64>$<hash b64>, never plain"
    )
    allow_plain: bool = Field(
        default=False,
        strict=True,  # a security switch: only TOML true/false, never "yes" or 1
        description="may log in without TLS from the listener's plain_networks",
    )

    @field_validator("password_hash")
    @classmethod
    def _scrypt_parameters(cls, value: str) -> str:
        n, r, p = (int(x) for x in value.split("$")[1:4])
        if n < 2 or n & (n - 1) or r < 1 or p < 1:
            raise ValueError("scrypt parameters must be N a power of two (>= 2), r >= 1 and p >= 1")
        if n * r < 16384 * 8:
            raise ValueError("scrypt cost below N=16384, r=8: hash the password with hash_password()")
        return value


class Identities(_Strict):
    """How the partner is recognised on every channel."""

    x12: list[X12Identity] = Field(default_factory=list)
    edifact: list[EdifactIdentity] = Field(default_factory=list)
    as2_name: str | None = Field(
        default=None, min_length=1, max_length=128, description="AS2-From of the partner"
    )
    sftp: SftpAccount | None = None
    ftp: FtpAccount | None = None
    mail_senders: list[Annotated[str, Field(pattern=_EMAIL_OR_DOMAIN)]] = Field(
        default_factory=list, description="sender addresses, or '@domain' for a whole domain"
    )
    inbox: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="drop-folder name under the inbox root",
    )


class OurIds(_Strict):
    """Our own identity in this partnership (sender of what we send, acks included)."""

    x12: X12Identity | None = None
    edifact: EdifactIdentity | None = None


class NumberFormat(_Strict):
    """How the partner writes numbers that deviate from the standard."""

    decimal_separator: Literal[".", ","] = "."
    implied_decimals: int | None = Field(default=None, ge=0, le=9)


class Deviations(_Strict):
    """The partner's deviations from a built-in map, handed to the map as ``map_options``."""

    qualifiers: dict[str, str] = Field(
        default_factory=dict, description="canonical role -> qualifier the partner uses, e.g. ship_to = 'ST'"
    )
    references: dict[str, str] = Field(
        default_factory=dict,
        description="canonical field -> REF/RFF qualifier carrying it, e.g. store_number = 'DP'",
    )
    date_format: str | None = Field(
        default=None, description="strftime format when not the standard's CCYYMMDD"
    )
    time_format: str | None = None
    number_format: NumberFormat | None = None
    unit_codes: dict[str, str] = Field(
        default_factory=dict, description="partner unit code -> canonical, e.g. CS = 'CA'"
    )
    product_id_preference: list[ProductIdKind] = Field(
        default_factory=list,
        description="which product id to use first when several are sent / we must pick one",
    )
    defaults: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="canonical field -> value when the partner sends none"
    )
    keep_segments: list[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,2}$")]] = Field(
        default_factory=list, description="segments to keep in extensions although the map ignores them"
    )

    def as_map_options(self) -> dict[str, object]:
        """Return the deviations as the opaque dict the built-in map receives."""
        return {k: v for k, v in self.model_dump(mode="json").items() if v not in (None, {}, [])}


class DocumentSpec(_Strict):
    """One document the partner exchanges with us."""

    type: str = Field(
        pattern=r"^([0-9]{3}|[A-Z]{6}|[a-z_]+)$",
        description="X12 transaction set (850), EDIFACT message (ORDERS) or canonical name for flat/XML",
    )
    standard: StandardName
    version: str | None = Field(default=None, description="004010, 005010, D:96A:UN ...")
    direction: Direction
    map: str | None = Field(default=None, description="built-in map name; defaults to type")
    layout: str | None = Field(default=None, description="name of a [layouts.NAME] table (csv, fixed, xml)")
    deviations: Deviations = Field(default_factory=Deviations)

    @model_validator(mode="after")
    def _layout_when_needed(self) -> Self:
        if self.standard in ("csv", "fixed", "xml") and self.layout is None:
            raise ValueError(
                f"a {self.standard} document needs layout = 'NAME' naming a [layouts.NAME] table"
            )
        if self.standard in ("x12", "edifact") and self.layout is not None:
            raise ValueError(f"{self.standard} documents use built-in maps, not layouts")
        if self.standard == "x12" and not self.type.isdigit():
            raise ValueError("an X12 document type is a transaction set number such as 850")
        if self.standard == "edifact" and not (self.type.isalpha() and self.type.isupper()):
            raise ValueError("an EDIFACT document type is a message type such as ORDERS")
        return self

    @property
    def map_name(self) -> str:
        """The built-in map this document uses."""
        return self.map or self.type


class AckPolicyModel(_Strict):
    """Which acknowledgments we send, and which we expect."""

    functional_ack: AckWhen = Field(default="always", description="997/999/CONTRL for what the partner sends")
    x12_kind: Literal["auto", "997", "999"] = "auto"
    ta1: AckWhen = "on_error"
    expect_ack_within_hours: int | None = Field(
        default=24, ge=1, le=24 * 30, description="alert when the partner has not acknowledged what we sent"
    )


class DuplicatePolicyModel(_Strict):
    """What to do with an interchange whose control number and content we already took."""

    policy: DuplicatePolicyName = "reject"
    window_days: int = Field(default=30, ge=1, le=3650)


class RoutingModel(_Strict):
    """Where the partner's documents go (names of sinks in the gateway config)."""

    sinks: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="empty = default sinks"
    )
    ordered: bool | None = Field(
        default=None,
        description=(
            "deliver this partner's outbound files in journal order; "
            "default: the gateway's [delivery] ordered_sinks (every partner transport)"
        ),
    )


class TranslationModel(_Strict):
    """Strictness and limits for this partner's files."""

    strict: bool = False
    reject_unmapped: bool = False
    lenient_charset: bool = False
    map_business: bool = True
    max_interchange_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)


class PartnerProfile(_Strict):
    """A trading partner: who it is, what it exchanges, and how we talk to it."""

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="stable partner id used in the journal"
    )
    name: str = Field(min_length=1, max_length=200)
    identities: Identities = Field(default_factory=Identities)
    our_ids: OurIds = Field(default_factory=OurIds)
    documents: list[DocumentSpec] = Field(default_factory=list)
    acks: AckPolicyModel = Field(default_factory=AckPolicyModel)
    duplicates: DuplicatePolicyModel = Field(default_factory=DuplicatePolicyModel)
    routing: RoutingModel = Field(default_factory=RoutingModel)
    translation: TranslationModel = Field(default_factory=TranslationModel)
    delivery: Delivery | None = None
    certificates: Certificates = Field(default_factory=Certificates)
    layouts: dict[str, LayoutModel] = Field(default_factory=dict)


Loc = tuple[str | int, ...]


def cross_references(profile: PartnerProfile) -> list[tuple[Loc, str]]:
    """Check what spans several tables of one profile.

    Kept out of the model so each problem carries its own location (and so
    its own line in the file), which a model validator cannot do.

    Args:
        profile: a profile that passed field validation.

    Returns:
        ``(loc, reason)`` for every problem; empty when consistent.
    """
    problems: list[tuple[Loc, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for index, doc in enumerate(profile.documents):
        if doc.layout is not None:
            layout = profile.layouts.get(doc.layout)
            if layout is None:
                defined = ", ".join(sorted(profile.layouts)) or "none"
                problems.append(
                    (
                        ("documents", index, "layout"),
                        f"layout {doc.layout!r} is not defined (defined: {defined})",
                    )
                )
            elif layout.format != doc.standard:
                problems.append(
                    (
                        ("documents", index, "layout"),
                        f"layout {doc.layout!r} is {layout.format}, not {doc.standard}",
                    )
                )
            elif isinstance(layout, XmlLayoutModel) and doc.direction == "outbound":
                # an outbound layout must build its elements, so only simple paths will do
                for problem in xml_layout_problems(layout.build(), outbound=True):
                    problems.append((("layouts", doc.layout), problem))
        key = (doc.standard, doc.type, doc.direction)
        if key in seen and doc.layout is None:
            problems.append((("documents", index, "type"), f"{doc.type} {doc.direction} is listed twice"))
        seen.add(key)
    return problems


def profile_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of a partner profile file.

    Returns:
        The schema (draft 2020-12) as a dict, with an ``$id``.
    """
    schema = PartnerProfile.model_json_schema()
    schema["$id"] = "edigate.partner_profile/1.0"
    schema["title"] = "edigate partner profile"
    return schema


__all__ = [
    "AckPolicyModel",
    "Deviations",
    "DocumentSpec",
    "DuplicatePolicyModel",
    "EdifactIdentity",
    "FtpAccount",
    "Identities",
    "Loc",
    "NumberFormat",
    "OurIds",
    "PartnerProfile",
    "RoutingModel",
    "SftpAccount",
    "TranslationModel",
    "X12Identity",
    "cross_references",
    "profile_json_schema",
]
