"""agent.tls: building client contexts, naming what is wrong, reloading on rotation."""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from agent.errors import PermanentDeliveryError, TlsConfigError
from agent.tls import (
    CertificateInvalid,
    ClientCertificateExpired,
    ClientCertificateRejected,
    KeyMismatch,
    KeyNotPrivate,
    ServerCertificateUntrusted,
    ServerHostnameMismatch,
    TlsFileError,
    TlsIdentity,
    classify_http_refusal,
    classify_tls_failure,
)
from tests.support.pki import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _identity(pki: Pki, **kw: object) -> TlsIdentity:
    args: dict[str, object] = {
        "cert_file": pki.client.cert,
        "key_file": pki.client.key,
        "ca_file": pki.cloud_ca,
    }
    args.update(kw)
    return TlsIdentity(**args)  # type: ignore[arg-type]


def test_context_pins_ca_requires_tls12_and_checks_hostname(pki: Pki) -> None:
    ctx = _identity(pki).context
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.check_hostname is True
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    # Only the pinned cloud CA is trusted: the system store stays off.
    cloud = x509.load_pem_x509_certificate(pki.cloud_ca.read_bytes())
    subjects = [
        dict(rdn[0] for rdn in cert["subject"]).get("organizationName")  # type: ignore[misc]
        for cert in ctx.get_ca_certs()
    ]
    assert len(subjects) == 1
    assert subjects[0] == cloud.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value


def test_not_after_and_expiry_window(pki: Pki) -> None:
    leaf = x509.load_pem_x509_certificate(pki.client.cert.read_bytes())
    ident = _identity(pki)
    assert ident.not_after == leaf.not_valid_after_utc
    assert ident.expires_within(30) is False
    near = leaf.not_valid_after_utc - _dt.timedelta(days=10)
    soon = _identity(pki, clock=lambda: near)
    status = soon.status()
    assert status.expiring_soon is True
    assert status.days_left == 9 or status.days_left == 10
    assert "gateway" in status.subject


def test_missing_certificate_is_named(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TlsFileError, match=r"cannot read .*nope\.pem"):
        _identity(pki, cert_file=tmp_path / "nope.pem")


def test_unreadable_key_is_named(pki: Pki, tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    shutil.copy(pki.client.key, key)
    key.chmod(0)
    if os.geteuid() == 0:
        # root reads anything; make the path unreadable another way: a directory in its place.
        key.unlink()
        key.mkdir()
    with pytest.raises(TlsFileError, match=r"client\.key"):
        _identity(pki, key_file=key)


def test_key_readable_by_others_is_refused_and_a_rotation_to_one_is_not_taken(
    pki: Pki, tmp_path: Path
) -> None:
    key = tmp_path / "client.key"
    shutil.copy(pki.client.key, key)
    key.chmod(0o644)
    with pytest.raises(KeyNotPrivate, match=rf"{key}: .* \(mode 0644\); .*chmod 600 {key}"):
        _identity(pki, key_file=key)
    key.chmod(0o600)
    ident = _identity(pki, key_file=key)
    first = ident.context
    # An operator rotates the key but forgets the mode: the old context stays, the reason is shown.
    new = tmp_path / "new.key"
    shutil.copy(pki.client.key, new)
    new.chmod(0o644)
    os.replace(new, key)
    assert ident.refresh() is False
    assert ident.context is first
    assert "chmod 600" in (ident.status().last_reload_error or "")
    key.chmod(0o600)
    os.utime(key, ns=(0, 1))  # a new stamp, as the fixed file would have
    assert ident.refresh() is True


def test_key_certificate_mismatch(pki: Pki) -> None:
    with pytest.raises(KeyMismatch, match="does not belong"):
        _identity(pki, cert_file=pki.client_other_key.cert, key_file=pki.client_other_key.key)


def test_expired_client_certificate(pki: Pki) -> None:
    with pytest.raises(ClientCertificateExpired, match="expired on"):
        _identity(pki, cert_file=pki.client_expired.cert, key_file=pki.client_expired.key)


def test_not_a_certificate(pki: Pki, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    with pytest.raises(CertificateInvalid, match="not a PEM certificate"):
        _identity(pki, cert_file=junk)
    with pytest.raises(CertificateInvalid, match="CA file"):
        _identity(pki, ca_file=junk)


def test_no_ca_at_all_is_refused(pki: Pki) -> None:
    with pytest.raises(TlsConfigError, match="no CA configured"):
        _identity(pki, ca_file=None)


def test_reload_on_rotation_and_keep_old_on_half_written_files(pki: Pki, tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    shutil.copy(pki.client.cert, cert)
    shutil.copy(pki.client.key, key)
    ident = _identity(pki, cert_file=cert, key_file=key)
    first_ctx, first_subject = ident.context, ident.subject
    assert ident.refresh() is False
    assert ident.context is first_ctx

    # Half-written rotation: new certificate, old key. The old context stays in use.
    tmp = tmp_path / "new.pem"
    shutil.copy(pki.client_rogue.cert, tmp)
    os.replace(tmp, cert)
    assert ident.refresh() is False
    assert ident.context is first_ctx
    assert "does not belong" in (ident.status().last_reload_error or "")

    # The key arrives: now the new pair is taken.
    tmp = tmp_path / "new.key"
    shutil.copy(pki.client_rogue.key, tmp)
    os.replace(tmp, key)
    assert ident.refresh() is True
    assert ident.context is not first_ctx
    assert ident.generation == 2
    assert ident.status().last_reload_error is None
    assert ident.subject != first_subject


def test_nginx_refusal_pages_are_recognised() -> None:
    page = "<html><head><title>400 No required SSL certificate was sent</title></head></html>"
    err = classify_http_refusal(400, page, server="h:1")
    assert isinstance(err, ClientCertificateRejected)
    assert isinstance(err, PermanentDeliveryError)
    assert str(err).startswith("client certificate rejected by server:")
    assert isinstance(
        classify_http_refusal(400, "<title>400 The SSL certificate error</title>", server="h:1"),
        ClientCertificateRejected,
    )
    assert classify_http_refusal(400, "<title>400 Bad Request</title>", server="h:1") is None
    assert classify_http_refusal(403, "No required SSL certificate was sent", server="h:1") is None


def _handshake_error(ctx: ssl.SSLContext, server_ctx: ssl.SSLContext, hostname: str) -> BaseException:
    """Run a real in-memory TLS handshake and return the client's error."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side, out, peer_in in ((client, c_out, s_in), (server, s_out, c_in)):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                if side is client:
                    return exc
                raise
            peer_in.write(out.read())
    raise AssertionError("handshake did not fail")


def _server_ctx(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def test_server_trust_failures_are_classified(pki: Pki) -> None:
    ident = _identity(pki)
    untrusted = _handshake_error(
        ident.context, _server_ctx(pki.server_rogue.cert, pki.server_rogue.key), "127.0.0.1"
    )
    assert isinstance(classify_tls_failure(untrusted, server="s:1"), ServerCertificateUntrusted)
    wrong = _handshake_error(ident.context, _server_ctx(pki.server.cert, pki.server.key), "cloud.example")
    err = classify_tls_failure(wrong, server="s:1")
    assert isinstance(err, ServerHostnameMismatch)
    assert "not issued for that host name" in str(err)
    assert classify_tls_failure(ConnectionRefusedError(111, "refused"), server="s:1") is None


def test_link_errors_are_marked_link_wide() -> None:
    from agent.odoo import OdooAccessDenied, OdooRejected

    assert ClientCertificateRejected("x").link_wide is True
    assert ServerHostnameMismatch("x").link_wide is True
    assert OdooAccessDenied("x").link_wide is True
    assert getattr(OdooRejected("x", exception_name="n", odoo_message="m"), "link_wide", False) is False
