"""Test certificates for the mTLS link, made with trustme.

Two independent CAs play the real roles: the *cloud CA* signs the server
certificate (what the gateway pins) and the *site CA* signs the gateway's
client certificate (what nginx requires).  A *rogue CA* signs the "wrong CA"
variants of both.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True, slots=True)
class CertPair:
    """A certificate file and its key file."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class Pki:
    """Every file the mTLS tests need, written under one directory."""

    cloud_ca: Path  #: pinned by the gateway to verify the server
    site_ca: Path  #: given to nginx to verify client certificates
    rogue_ca: Path  #: a CA nobody trusts
    server: CertPair  #: for 127.0.0.1 and localhost, signed by the cloud CA
    server_wrong_host: CertPair  #: for cloud.example only, signed by the cloud CA
    server_rogue: CertPair  #: for 127.0.0.1, signed by the rogue CA
    client: CertPair  #: the gateway's certificate, signed by the site CA
    client_rogue: CertPair  #: signed by the rogue CA
    client_expired: CertPair  #: signed by the site CA, expired yesterday
    client_other_key: CertPair  #: the client certificate with the key of another certificate


def _write_leaf(leaf: trustme.LeafCert, directory: Path, name: str) -> CertPair:
    cert = directory / f"{name}.pem"
    key = directory / f"{name}.key"
    # The chain without the root, as a server or client presents it.
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)  # the gateway refuses a private key readable by others
    return CertPair(cert=cert, key=key)


def make_pki(directory: Path) -> Pki:
    """Create the CAs and certificates under ``directory``.

    Args:
        directory: an existing directory.

    Returns:
        The paths of every file written.
    """
    cloud, site, rogue = trustme.CA(), trustme.CA(), trustme.CA()
    now = _dt.datetime.now(_dt.UTC)
    for ca, name in ((cloud, "cloud-ca"), (site, "site-ca"), (rogue, "rogue-ca")):
        ca.cert_pem.write_to_path(str(directory / f"{name}.pem"))
    client = _write_leaf(site.issue_cert("gateway.site.example", common_name="gateway"), directory, "client")
    other = _write_leaf(site.issue_cert("other.site.example"), directory, "other")
    mixed = CertPair(cert=client.cert, key=other.key)
    return Pki(
        cloud_ca=directory / "cloud-ca.pem",
        site_ca=directory / "site-ca.pem",
        rogue_ca=directory / "rogue-ca.pem",
        server=_write_leaf(cloud.issue_cert("127.0.0.1", "localhost"), directory, "server"),
        server_wrong_host=_write_leaf(cloud.issue_cert("cloud.example"), directory, "server-wrong-host"),
        server_rogue=_write_leaf(rogue.issue_cert("127.0.0.1", "localhost"), directory, "server-rogue"),
        client=client,
        client_rogue=_write_leaf(rogue.issue_cert("gateway.site.example"), directory, "client-rogue"),
        client_expired=_write_leaf(
            site.issue_cert(
                "gateway.site.example",
                not_before=now - _dt.timedelta(days=30),
                not_after=now - _dt.timedelta(days=1),
            ),
            directory,
            "client-expired",
        ),
        client_other_key=mixed,
    )
