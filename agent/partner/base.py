"""What every partner transport shares: the file carried by a delivery."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from agent.errors import PermanentDeliveryError
from agent.sinks.base import Delivery

#: ``schema`` of the envelope written by ``gateway.outbound``
FILE_SCHEMA = "edigate.partner-file/1"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerFile:
    """One file for a partner.

    Attributes:
        name: file name (no directories; checked).
        data: the bytes to ship.
        content_type: media type (AS2 and mail need it).
        document_type: canonical type, for subjects and logs.
        interchange_control: the interchange control number, for subjects and logs.
    """

    name: str
    data: bytes
    content_type: str
    document_type: str
    interchange_control: str


def partner_file(delivery: Delivery) -> PartnerFile:
    """Unpack and check the file a delivery carries.

    Raises:
        PermanentDeliveryError: the envelope is not a partner file, the name is
            unsafe, or the bytes do not match the recorded size/sha256.
    """
    env = delivery.envelope
    if env.get("schema") != FILE_SCHEMA:
        raise PermanentDeliveryError(
            f"delivery {delivery.delivery_id} is a {delivery.document_type} envelope, not a partner file; "
            "a partner transport only ships files rendered by the outbound translator"
        )
    name = str(env.get("file_name") or "")
    if not _SAFE_NAME.match(name):
        raise PermanentDeliveryError(f"unsafe file name {name!r} for partner {delivery.partner}")
    try:
        data = base64.b64decode(str(env["content_b64"]), validate=True)
    except (KeyError, binascii.Error) as exc:
        raise PermanentDeliveryError(
            f"delivery {delivery.delivery_id} carries no readable file: {exc}"
        ) from exc
    # The journal row is the truth; a damaged row must not reach the partner.
    if len(data) != int(env.get("size", len(data))) or hashlib.sha256(data).hexdigest() != env.get(
        "sha256", hashlib.sha256(data).hexdigest()
    ):
        raise PermanentDeliveryError(f"file {name} does not match its recorded size/sha256")
    return PartnerFile(
        name=name,
        data=data,
        content_type=str(env.get("content_type") or "application/octet-stream"),
        document_type=str(env.get("document_type") or delivery.document_type),
        interchange_control=str(env.get("interchange_control") or ""),
    )


__all__ = ["FILE_SCHEMA", "PartnerFile", "partner_file"]
