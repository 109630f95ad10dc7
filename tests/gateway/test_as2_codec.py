"""The AS2 codec against an independent partner (``openssl cms``) and the corpus of other products."""

from __future__ import annotations

import base64
import contextlib
import sys
import warnings
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_as2_kit as kit

from gateway.as2 import (
    As2AuthenticationFailed,
    As2DecryptionFailed,
    As2Error,
    As2Identity,
    As2InsufficientSecurity,
    As2IntegrityCheckFailed,
    As2MalformedMessage,
    As2MessageTooLarge,
    As2NegativeMdn,
    As2Partner,
    As2Unsupported,
    build_mdn,
    build_message,
    check_mdn,
    load_certificates,
    load_key_pair,
    open_message,
    parse_envelope,
    parse_mdn,
    parse_mdn_bytes,
)
from gateway.as2.mime import parse_entity, parse_headers, split_multipart

C = kit.CORPUS


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> kit.Pki:
    return kit.session_pki(tmp_path_factory)


def _open(
    pki: kit.Pki,
    entity_or_der: bytes,
    content_type: str,
    *,
    micalg: str | None = "sha-256",
    partner: As2Partner | None = None,
    identity: As2Identity | None = None,
    now: datetime = kit.NOW,
    cte: str = "binary",
    max_size: int = 10**7,
) -> Any:
    raw = kit.as2_headers("<t@partner>", content_type, micalg=micalg, cte=cte)[1:]
    headers = [(h.split(":", 1)[0], h.split(":", 1)[1].strip()) for h in raw]
    env = parse_envelope(headers)
    return open_message(
        env,
        headers,
        entity_or_der,
        partner=partner or pki.partner(),
        identity=identity or pki.identity(),
        now=now,
        max_size=max_size,
    )


def _post_form(entity: bytes) -> tuple[str, bytes]:
    headers, body = kit.split_top(entity)
    return dict(headers)["Content-Type"], body


# --- openssl as the sender -------------------------------------------------------


@pytest.mark.parametrize(
    "layers",
    [
        "signed",
        "encrypted",
        "signed+encrypted",
        "compressed+signed",
        "compressed+signed+encrypted",
        "signed+compressed+encrypted",
        "compressed+encrypted",
    ],
)
def test_layer_combinations_from_openssl(pki: kit.Pki, tmp_path: Path, layers: str) -> None:
    entity = kit.payload_mime(kit.PAYLOAD)
    signed_entity: bytes | None = None
    first_inside_encryption = entity
    for layer in layers.split("+"):
        if layer == "compressed":
            entity = kit.compressed_entity(entity)
        elif layer == "signed":
            signed_entity = entity
            entity = kit.openssl_sign(pki, tmp_path, entity)
        first_inside_encryption = entity
    partner = pki.partner(require_signature="signed" in layers)
    if layers.endswith("encrypted"):
        der = kit.openssl_encrypt(pki, tmp_path, first_inside_encryption)
        msg = _open(pki, der, kit.ENVELOPED_CT, partner=partner)
    else:
        ctype, body = _post_form(entity)
        msg = _open(pki, body, ctype, partner=partner)
    assert msg.payload == kit.PAYLOAD
    assert msg.file_name == "po123.edi"
    assert msg.content_type == "application/edi-x12"
    assert msg.signed == ("signed" in layers)
    assert msg.encrypted == ("encrypted" in layers)
    assert msg.compressed == ("compressed" in layers)
    # RFC 4130 §7.3.1: signed -> MIC over the signed entity; else over the decrypted entity.
    mic_source = signed_entity if signed_entity is not None else first_inside_encryption
    assert msg.mic.value == kit.openssl_mic(tmp_path, mic_source)
    assert msg.mic.algorithm == "sha-256"


@pytest.mark.parametrize(
    ("md", "label"), [("sha1", "sha1"), ("sha256", "sha256"), ("sha384", "SHA-384"), ("sha512", "sha-512")]
)
def test_digests_and_micalg_spellings(pki: kit.Pki, tmp_path: Path, md: str, label: str) -> None:
    entity = kit.payload_mime(kit.PAYLOAD)
    ctype, body = _post_form(kit.openssl_sign(pki, tmp_path, entity, md=md))
    msg = _open(pki, body, ctype, micalg=label)
    assert msg.mic.value == kit.openssl_mic(tmp_path, entity, md)
    assert msg.mic.algorithm == label  # echoed as the partner wrote it


@pytest.mark.parametrize(
    ("cipher", "keyopts"),
    [
        ("-aes128", ()),
        ("-aes192", ()),
        ("-aes256", ()),
        ("-des3", ()),
        ("-aes-256-gcm", ()),
        ("-aes256", ("rsa_padding_mode:oaep",)),
        ("-aes256", ("rsa_padding_mode:oaep", "rsa_oaep_md:sha256")),
        ("-aes128", ("rsa_padding_mode:oaep", "rsa_oaep_md:sha512", "rsa_mgf1_md:sha512")),
    ],
)
def test_ciphers_and_key_transport(
    pki: kit.Pki, tmp_path: Path, cipher: str, keyopts: tuple[str, ...]
) -> None:
    signed = kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD))
    der = kit.openssl_encrypt(pki, tmp_path, signed, cipher=cipher, keyopts=keyopts)
    assert _open(pki, der, kit.ENVELOPED_CT).payload == kit.PAYLOAD


def test_base64_transfer_encodings(pki: kit.Pki, tmp_path: Path) -> None:
    # base64 payload part, binary signature part, and a base64 HTTP body (libas2 style, peers.md gotcha 4)
    entity = kit.payload_mime(kit.PAYLOAD, cte="base64")
    signed = kit.openssl_sign(pki, tmp_path, entity, cte="binary")
    der = kit.openssl_encrypt(pki, tmp_path, signed)
    msg = _open(pki, base64.encodebytes(der), kit.ENVELOPED_CT, cte="base64")
    assert msg.payload == kit.PAYLOAD
    assert msg.mic.value == kit.openssl_mic(tmp_path, entity)


def test_tampered_body_is_integrity_failure(pki: kit.Pki, tmp_path: Path) -> None:
    ctype, body = _post_form(kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD)))
    tampered = body.replace(b"PO123", b"PO999")
    assert tampered != body
    with pytest.raises(As2IntegrityCheckFailed) as err:
        _open(pki, tampered, ctype)
    assert err.value.disposition == "processed/Error: integrity-check-failed"


def test_unknown_signer_is_authentication_failure(pki: kit.Pki, tmp_path: Path) -> None:
    ctype, body = _post_form(
        kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD), signer="stranger")
    )
    with pytest.raises(As2AuthenticationFailed, match="not configured for the partner") as err:
        _open(pki, body, ctype)
    assert err.value.disposition == "processed/Error: authentication-failed"


def test_certificate_rollover_picks_valid_certificates(pki: kit.Pki, tmp_path: Path) -> None:
    later = kit.NOW + timedelta(days=60)  # partner_old (30 days) has expired by then
    both = As2Partner(
        partner_id="acme", as2_name="PARTNER", certificates=(pki.cert("partner_old"), pki.cert("partner"))
    )
    ctype, body = _post_form(
        kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD), signer="partner_old")
    )
    assert _open(pki, body, ctype, partner=both).signer == "CN=PARTNER_OLD"
    with pytest.raises(As2AuthenticationFailed, match="not valid at"):
        _open(pki, body, ctype, partner=both, now=later)
    ctype, body = _post_form(kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD), signer="partner"))
    assert _open(pki, body, ctype, partner=both, now=later).signer == "CN=PARTNER"


def test_decryption_key_rollover_and_failure(pki: kit.Pki, tmp_path: Path) -> None:
    signed = kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD))
    der = kit.openssl_encrypt(pki, tmp_path, signed)
    two_keys = As2Identity(
        as2_names=("GATEWAY",), decryption_keys=(pki.keypair("stranger"), pki.keypair("gateway"))
    )
    assert _open(pki, der, kit.ENVELOPED_CT, identity=two_keys).payload == kit.PAYLOAD
    wrong = As2Identity(as2_names=("GATEWAY",), decryption_keys=(pki.keypair("stranger"),))
    with pytest.raises(As2DecryptionFailed) as err:
        _open(pki, der, kit.ENVELOPED_CT, identity=wrong)
    assert err.value.disposition == "processed/Error: decryption-failed"


def test_unsigned_when_signature_required(pki: kit.Pki, tmp_path: Path) -> None:
    der = kit.openssl_encrypt(pki, tmp_path, kit.payload_mime(kit.PAYLOAD))
    with pytest.raises(As2InsufficientSecurity) as err:
        _open(pki, der, kit.ENVELOPED_CT, partner=pki.partner(require_signature=True))
    assert err.value.disposition == "processed/Error: insufficient-message-security"


def test_required_unknown_micalg_is_failed_unsupported(pki: kit.Pki, tmp_path: Path) -> None:
    ctype, body = _post_form(kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD)))
    headers = [
        ("AS2-From", "PARTNER"),
        ("AS2-To", "GATEWAY"),
        ("Message-ID", "<x@p>"),
        ("Content-Type", ctype),
        ("Disposition-Notification-To", "x"),
        (
            "Disposition-Notification-Options",
            "signed-receipt-protocol=optional, pkcs7-signature; signed-receipt-micalg=required, gost94",
        ),
    ]
    env = parse_envelope(headers)
    with pytest.raises(As2Unsupported) as err:
        open_message(
            env, headers, body, partner=pki.partner(), identity=pki.identity(), now=kit.NOW, max_size=10**6
        )
    assert err.value.disposition == "failed/Failure: unsupported MIC-algorithms"


def test_zip_bomb_fails_with_size_error(pki: kit.Pki) -> None:
    bomb = b"Content-Type: application/edi-x12\r\n\r\n" + b"\0" * (20 * 1024 * 1024)
    data = asn1_cms.CompressedData(
        {
            "version": "v0",
            "compression_algorithm": {"algorithm": "1.2.840.113549.1.9.16.3.8"},
            "encap_content_info": {"content_type": "data", "content": zlib.compress(bomb, 9)},
        }
    )
    der = asn1_cms.ContentInfo({"content_type": "compressed_data", "content": data}).dump()
    assert len(der) < 64 * 1024
    with pytest.raises(As2MessageTooLarge, match="inflates beyond"):
        _open(
            pki,
            der,
            "application/pkcs7-mime; smime-type=compressed-data",
            max_size=1024 * 1024,
            partner=pki.partner(require_signature=False),
        )


def test_garbage_bodies_fail_cleanly(pki: kit.Pki, tmp_path: Path) -> None:
    der = kit.openssl_encrypt(pki, tmp_path, kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD)))
    cases = [der[: len(der) // 2], der[:40], b"", b"not cms at all", bytes(200)]
    cases += [
        der[:i] + bytes([der[i] ^ 0xFF]) + der[i + 1 :] for i in range(0, len(der), max(1, len(der) // 40))
    ]
    failures = 0
    for body in cases:
        # Invariant: the exact payload or an As2Error; flips in unauthenticated metadata
        # (a recipient's serial number, say) may legitimately still open.
        try:
            assert _open(pki, body, kit.ENVELOPED_CT).payload == kit.PAYLOAD
        except As2Error:
            failures += 1
    assert failures >= len(cases) // 2


# --- MDNs we build, checked by openssl -----------------------------------------------


@pytest.mark.parametrize("digest", ["sha256", "sha512", "sha1"])
def test_signed_mdn_verifies_with_openssl(pki: kit.Pki, tmp_path: Path, digest: str) -> None:
    entity = kit.payload_mime(kit.PAYLOAD)
    ctype, body = _post_form(kit.openssl_sign(pki, tmp_path, entity, md=digest))
    msg = _open(pki, body, ctype, micalg=digest)
    mdn = build_mdn(
        envelope=msg.envelope,
        disposition="processed",
        text="ok",
        mic=msg.mic,
        now=kit.NOW,
        signer=pki.keypair("gateway"),
        digest_name=digest,
    )
    report = kit.openssl_verify_mdn(pki, tmp_path, dict(mdn.headers)["Content-Type"], mdn.body)
    mic_field = kit.mdn_field(report, "Received-Content-MIC")
    assert mic_field == f"{kit.openssl_mic(tmp_path, entity, digest)}, {digest}"
    assert kit.mdn_field(report, "Disposition") == "automatic-action/MDN-sent-automatically; processed"
    assert kit.mdn_field(report, "Original-Message-ID") == "<t@partner>"
    parsed = parse_mdn(mdn.headers, mdn.body, certificates=[pki.cert("gateway")], now=kit.NOW)
    assert parsed.positive and parsed.mic == msg.mic


# --- outbound: our messages, opened by openssl ----------------------------------------


@pytest.mark.parametrize("oaep", [None, "sha256"])
def test_outbound_message_opens_with_openssl(pki: kit.Pki, tmp_path: Path, oaep: str | None) -> None:
    out = build_message(
        kit.PAYLOAD,
        as2_from="GATEWAY",
        as2_to="PARTNER",
        now=kit.NOW,
        file_name="810.edi",
        signer=pki.keypair("gateway"),
        recipient=pki.cert("partner"),
        oaep_hash=oaep,
        mdn_to="edi@gateway.example",
    )
    (tmp_path / "out.p7m").write_bytes(out.body)
    kit.run(
        [
            "openssl",
            "cms",
            "-decrypt",
            "-in",
            "out.p7m",
            "-inform",
            "DER",
            "-recip",
            pki.path("partner", "pem"),
            "-inkey",
            pki.path("partner", "key"),
            "-out",
            "dec.mime",
        ],
        cwd=tmp_path,
    )
    # OpenSSL's S/MIME reader rewrites LF to CRLF inside parts, which breaks any binary payload; so the
    # two parts are cut out here and openssl verifies the detached DER signature over the exact bytes.
    top = parse_entity((tmp_path / "dec.mime").read_bytes())
    signed, sig = split_multipart(top.body, top.param("boundary") or "")
    (tmp_path / "signed.mime").write_bytes(signed)
    (tmp_path / "sig.der").write_bytes(parse_entity(sig).decoded_body())
    kit.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-in",
            "sig.der",
            "-inform",
            "DER",
            "-content",
            "signed.mime",
            "-CAfile",
            pki.path("ca", "pem"),
            "-certfile",
            pki.path("gateway", "pem"),
            "-nointern",
            "-out",
            "verified.mime",
        ],
        cwd=tmp_path,
    )
    assert (tmp_path / "verified.mime").read_bytes() == signed
    assert signed.split(b"\r\n\r\n", 1)[1] == kit.PAYLOAD
    assert out.mic.value == kit.openssl_mic(tmp_path, signed)
    headers = dict(out.headers)
    assert headers["AS2-To"] == "PARTNER" and headers["Content-Type"].startswith("application/pkcs7-mime")


def test_outbound_round_trip_and_mdn_check(pki: kit.Pki) -> None:
    out = build_message(
        kit.PAYLOAD,
        as2_from="GATEWAY",
        as2_to="PARTNER",
        now=kit.NOW,
        compress=True,
        signer=pki.keypair("gateway"),
        recipient=pki.cert("partner"),
        mdn_to="x",
        digest_name="sha384",
    )
    # the partner side, played by our own codec with roles swapped
    them = As2Identity(
        as2_names=("PARTNER",), decryption_keys=(pki.keypair("partner"),), signing_key=pki.keypair("partner")
    )
    us = As2Partner(partner_id="gw", as2_name="GATEWAY", certificates=(pki.cert("gateway"),))
    env = parse_envelope(list(out.headers))
    msg = open_message(
        env, list(out.headers), out.body, partner=us, identity=them, now=kit.NOW, max_size=10**6
    )
    assert msg.payload == kit.PAYLOAD and msg.layers == ("encrypted", "signed", "compressed")
    assert msg.mic == out.mic
    mdn = build_mdn(
        envelope=env,
        disposition="processed",
        text="ok",
        mic=msg.mic,
        now=kit.NOW,
        signer=pki.keypair("partner"),
        digest_name="sha384",
    )
    parsed = parse_mdn(
        mdn.headers, mdn.body, certificates=[pki.cert("partner")], now=kit.NOW, require_signature=True
    )
    check_mdn(parsed, message_id=out.message_id, mic=out.mic)
    with pytest.raises(As2IntegrityCheckFailed):
        check_mdn(parsed, message_id=out.message_id, mic=type(out.mic)("AAAA", "sha-384"))
    with pytest.raises(As2AuthenticationFailed):  # signed by someone else
        parse_mdn(mdn.headers, mdn.body, certificates=[pki.cert("stranger")], now=kit.NOW)
    bad = build_mdn(
        envelope=env, disposition="processed/Error: decryption-failed", text="no", mic=None, now=kit.NOW
    )
    with pytest.raises(As2NegativeMdn, match="decryption-failed"):
        check_mdn(parse_mdn(bad.headers, bad.body), message_id=out.message_id, mic=out.mic)
    with pytest.raises(As2AuthenticationFailed):
        parse_mdn(bad.headers, bad.body, require_signature=True)


# --- the corpus: other products' messages and MDNs ---------------------------------------


def _corpus_request(name: str) -> tuple[list[tuple[str, str]], bytes]:
    data = (C / name).read_bytes()
    if data.startswith(b"HTTP 1.1 POST"):  # OpenAS2 capture: pseudo request line (SOURCES.md)
        data = data.split(b"\n", 1)[1]
    end = min(i for i in (data.find(b"\n\r\n"), data.find(b"\n\n")) if i >= 0)
    sep = 3 if data[end : end + 3] == b"\n\r\n" else 2
    return list(parse_headers(data[: end + 1])), data[end + sep :]


def _load_p12(name: str, password: bytes) -> pkcs12.PKCS12KeyAndCertificates:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy BER keystores (SOURCES.md)
        return pkcs12.load_pkcs12((C / name).read_bytes(), password)


@pytest.mark.parametrize(
    ("name", "layers"),
    [
        ("pyas2-lib__mecas2_encrypted.as2", ("encrypted",)),
        ("pyas2-lib__mecas2_signed.as2", ("signed",)),
        ("pyas2-lib__mecas2_compressed.as2", ("signed", "compressed")),
        ("pyas2-lib__mecas2_signed_encrypted.as2", ("encrypted", "signed")),
        ("pyas2-lib__mecas2_compressed_signed_encrypted.as2", ("encrypted", "signed", "compressed")),
    ],
)
def test_corpus_mendelson_messages(name: str, layers: tuple[str, ...]) -> None:
    ours = load_key_pair((C / "pyas2-lib__cert_test.p12").read_bytes(), b"test")
    pem = load_key_pair((C / "pyas2-lib__cert_test.pem").read_bytes(), b"test")
    assert pem.cert == ours.cert
    mecas2 = load_certificates((C / "pyas2-lib__cert_mecas2_public.pem").read_bytes())
    headers, body = _corpus_request(name)
    env = parse_envelope(headers)
    assert (env.as2_from, env.as2_to) == ("mecas2", "pyas2lib")
    partner = As2Partner(
        partner_id="mecas2",
        as2_name="mecas2",
        certificates=tuple(mecas2),
        require_signature="signed" in layers,
    )
    msg = open_message(
        env,
        headers,
        body,
        partner=partner,
        identity=As2Identity(as2_names=("pyas2lib",), decryption_keys=(ours,)),
        now=datetime(2024, 1, 1, tzinfo=UTC),
        max_size=10**6,
    )
    assert msg.layers == layers
    assert msg.payload == (C / "pyas2-lib__payload.txt").read_bytes()
    if "signed" in layers:
        assert msg.signer is not None and "mendelson" in msg.signer.lower()


def test_corpus_sterling_signed_compressed() -> None:
    headers, body = _corpus_request("pyas2-lib__sb2bi_signed_cmp.msg")
    env = parse_envelope(headers)
    sb2bi = load_certificates((C / "pyas2-lib__cert_sb2bi_public.pem").read_bytes())
    partner = As2Partner(partner_id="mclane", as2_name=env.as2_from, certificates=tuple(sb2bi))
    identity = As2Identity(as2_names=(env.as2_to,))
    msg = open_message(
        env,
        headers,
        body,
        partner=partner,
        identity=identity,
        now=datetime(2019, 1, 1, tzinfo=UTC),
        max_size=10**6,
    )
    assert msg.layers == ("signed", "compressed")
    assert msg.payload.startswith(b"ISA*") and msg.mic is not None and msg.mic.algorithm == "sha1"
    # the certificate expired in 2020: with today's clock it no longer authenticates
    with pytest.raises(As2AuthenticationFailed, match="not valid at"):
        open_message(env, headers, body, partner=partner, identity=identity, now=kit.NOW, max_size=10**6)


def test_corpus_openas2_signed() -> None:
    headers, body = _corpus_request("as2-lib__issue12-1.txt")
    env = parse_envelope(headers)
    store = _load_p12("as2-lib__certs.p12", b"test")
    certs = [c.certificate for c in store.additional_certs if c.friendly_name == b"openas2b_alias"]
    assert certs, "alias openas2b_alias missing from as2-lib__certs.p12"
    partner = As2Partner(partner_id="openas2b", as2_name="OpenAS2B", certificates=tuple(certs))
    msg = open_message(
        env,
        headers,
        body,
        partner=partner,
        identity=As2Identity(as2_names=("OpenAS2A",)),
        now=certs[0].not_valid_before_utc + timedelta(days=1),
        max_size=10**6,
    )
    assert msg.layers == ("signed",) and msg.payload.startswith(b"ISA*00*ssssssssss")
    assert msg.file_name == "test_data_2.edi"
    assert store.cert is not None
    wrong = As2Partner(partner_id="x", as2_name="OpenAS2B", certificates=(store.cert.certificate,))
    with pytest.raises(As2AuthenticationFailed):
        open_message(
            env,
            headers,
            body,
            partner=wrong,
            identity=As2Identity(as2_names=("OpenAS2A",)),
            now=certs[0].not_valid_before_utc + timedelta(days=1),
            max_size=10**6,
        )


def test_corpus_mdns() -> None:
    headers, body = _corpus_request("pyas2-lib__mecas2_signed.mdn")
    mdn = parse_mdn(headers, body)
    assert mdn.positive and mdn.signed and mdn.signer is None
    assert mdn.mic is not None and mdn.mic.value == "O4bvrm5t2YunRfwvZicNdEUmPaPZ9vUslX8loVLDck0="

    mdn = parse_mdn_bytes((C / "pyas2-lib__mecas2_unsigned.mdn").read_bytes())
    assert not mdn.positive and mdn.modifier == "error: authentication-failed"

    headers, body = _corpus_request("pyas2-lib__sb2bi_signed.mdn")
    sb2bi = load_certificates((C / "pyas2-lib__cert_sb2bi_public.pem").read_bytes())
    mdn = parse_mdn(
        headers, body, certificates=sb2bi, now=datetime(2019, 1, 1, tzinfo=UTC), require_signature=True
    )
    assert mdn.positive and mdn.signer == sb2bi[0]
    assert mdn.original_message_id == "<151694007918.24690.7052273208458909245@ip-172-31-14-209.ec2.internal>"

    headers = list(parse_headers((C / "as2-lib__20190925-david.header").read_bytes()))
    body = (C / "as2-lib__20190925-david.payload").read_bytes()
    mdn = parse_mdn(headers, body)
    assert mdn.disposition_type == "processed" and mdn.modifier == "error:unexpected-processing-error"
    assert not mdn.positive
    david = load_certificates((C / "as2-lib__20190925-david.pem").read_bytes())
    with pytest.raises(As2IntegrityCheckFailed):  # stored with LF: the signature does not verify (SOURCES.md)
        parse_mdn(headers, body, certificates=david, now=datetime(2020, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("name", ["pyas2-lib__sb2bi_signed.mdn", "pyas2-lib__mecas2_signed.mdn"])
def test_damaged_corpus_mdns_fail_cleanly(name: str) -> None:
    headers, body = _corpus_request(name)
    sb2bi = load_certificates((C / "pyas2-lib__cert_sb2bi_public.pem").read_bytes())
    certs = sb2bi if "sb2bi" in name else []
    then = datetime(2019, 1, 1, tzinfo=UTC)
    # Invariant: an MDN parses or raises As2Error, never anything else (h11 fuzz invariant).
    truncated = [body[:n] for n in range(0, len(body) - 200, max(1, len(body) // 25))]
    for data in truncated:  # cut before the closing boundary: never a valid MDN
        with pytest.raises(As2Error):
            parse_mdn(headers, data, certificates=certs, now=then)
    for i in range(0, len(body), 17):
        flipped = body[:i] + bytes([body[i] ^ 0x55]) + body[i + 1 :]
        with contextlib.suppress(As2Error):
            parse_mdn(headers, flipped, certificates=certs, now=then)
    if certs:  # verified: any change to the signed report must be caught
        for field in (b"Original-Message-ID: <", b"Received-Content-MIC: ", b"Disposition: "):
            i = body.index(field) + len(field) + 3
            flipped = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
            with pytest.raises(As2IntegrityCheckFailed):
                parse_mdn(headers, flipped, certificates=certs, now=then)


def test_malformed_envelope() -> None:
    with pytest.raises(As2MalformedMessage, match="AS2-From"):
        parse_envelope([("AS2-To", "x"), ("Message-ID", "<1@x>")])


# --- fuzz invariant: the payload, or an As2Error, never anything else ----------------------------------

_FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
_EDITS = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(1, 255)), max_size=4)


@pytest.fixture(scope="module")
def fuzz_inputs(pki: kit.Pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("fuzz")
    der = kit.openssl_encrypt(pki, work, kit.openssl_sign(pki, work, kit.payload_mime(kit.PAYLOAD)))
    ctype, body = _post_form(
        kit.openssl_sign(pki, work, kit.compressed_entity(kit.payload_mime(kit.PAYLOAD)))
    )
    env = parse_envelope([("AS2-From", "PARTNER"), ("AS2-To", "GATEWAY"), ("Message-ID", "<f@p>")])
    mdn = build_mdn(
        envelope=env, disposition="processed", text="ok", mic=None, now=kit.NOW, signer=pki.keypair("gateway")
    )
    return {"enveloped": der, "signed": (ctype, body), "mdn": mdn}


def _mutate(data: bytes, cut: int, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data[: cut % (len(data) + 1)] if cut % 3 == 0 else data)
    for pos, xor in edits:
        if out:
            out[pos % len(out)] ^= xor
    return bytes(out)


@_FUZZ
@given(cut=st.integers(0, 1 << 16), edits=_EDITS, which=st.sampled_from(["enveloped", "signed"]))
def test_fuzz_open_message(
    pki: kit.Pki, fuzz_inputs: dict[str, Any], cut: int, edits: list[tuple[int, int]], which: str
) -> None:
    if which == "enveloped":
        ctype, body = kit.ENVELOPED_CT, fuzz_inputs["enveloped"]
    else:
        ctype, body = fuzz_inputs["signed"]
    try:
        msg = _open(pki, _mutate(body, cut, edits), ctype)
    except As2Error:
        return
    assert msg.payload == kit.PAYLOAD  # whatever was altered was not part of what is authenticated


@_FUZZ
@given(cut=st.integers(0, 1 << 16), edits=_EDITS)
def test_fuzz_parse_mdn(
    pki: kit.Pki, fuzz_inputs: dict[str, Any], cut: int, edits: list[tuple[int, int]]
) -> None:
    mdn = fuzz_inputs["mdn"]
    try:
        parsed = parse_mdn(
            mdn.headers, _mutate(mdn.body, cut, edits), certificates=[pki.cert("gateway")], now=kit.NOW
        )
    except As2Error:
        return
    assert parsed.original_message_id == "<f@p>" and parsed.positive


def test_opaque_signed_data_from_openssl(pki: kit.Pki, tmp_path: Path) -> None:
    # application/pkcs7-mime; smime-type=signed-data (content inside the CMS), then encrypted
    mime = kit.payload_mime(kit.PAYLOAD)
    (tmp_path / "payload.mime").write_bytes(mime)
    kit.run(
        [
            "openssl",
            "cms",
            "-sign",
            "-nodetach",
            "-binary",
            "-in",
            "payload.mime",
            "-signer",
            pki.path("partner", "pem"),
            "-inkey",
            pki.path("partner", "key"),
            "-md",
            "sha256",
            "-outform",
            "DER",
            "-out",
            "opaque.p7m",
        ],
        cwd=tmp_path,
    )
    entity = kit.crlf_lines(
        'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"',
        "Content-Transfer-Encoding: base64",
        "",
    )
    entity += base64.encodebytes((tmp_path / "opaque.p7m").read_bytes()).replace(b"\n", b"\r\n")
    msg = _open(pki, kit.openssl_encrypt(pki, tmp_path, entity), kit.ENVELOPED_CT)
    assert msg.payload == kit.PAYLOAD and msg.layers == ("encrypted", "signed")
    assert msg.mic.value == kit.openssl_mic(tmp_path, mime)


def test_required_unknown_receipt_protocol_is_failed_unsupported(pki: kit.Pki, tmp_path: Path) -> None:
    ctype, body = _post_form(kit.openssl_sign(pki, tmp_path, kit.payload_mime(kit.PAYLOAD)))
    headers = [
        ("AS2-From", "PARTNER"),
        ("AS2-To", "GATEWAY"),
        ("Message-ID", "<y@p>"),
        ("Content-Type", ctype),
        ("Disposition-Notification-To", "x"),
        ("Disposition-Notification-Options", "signed-receipt-protocol=required, pgp-signature"),
    ]
    env = parse_envelope(headers)
    with pytest.raises(As2Unsupported) as err:
        open_message(
            env, headers, body, partner=pki.partner(), identity=pki.identity(), now=kit.NOW, max_size=10**6
        )
    assert err.value.disposition == "failed/Failure: unsupported format"
