"""RSASSA-PSS signatures in CMS (RFC 4055 §3.1, RFC 4056) as ``gateway.as2.cms.verify`` reads them.

pyas2lib 1.4.4 with ``sign_alg="rsassa_pss"`` writes the SignerInfo signature algorithm with NO
parameters (against RFC 4055 §3.1); oscrypto signs with MGF1 over the signature hash and a salt as
long as the hash. We accept that (with a warning) and honour parameters when present; damaged
parameters give a codec error with a reason, never a bare TypeError/KeyError.

The PSS-signed CMS is built here with ``cryptography`` + ``asn1crypto`` (our ``sign`` writes only
PKCS#1 v1.5); the last test sends a real pyas2lib PSS message to our ``As2Source`` over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import algos, core
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from gateway.as2 import (
    As2AuthenticationFailed,
    As2Error,
    As2IntegrityCheckFailed,
    As2MalformedMessage,
    As2Partner,
    As2Unsupported,
    load_certificates,
)
from gateway.as2 import cms as gw_cms
from gateway.journal import Journal, JournalOptions
from gateway.sources.as2 import As2Source, As2SourceConfig, StaticAs2Partners
from tests.support.pyas2lib_env import (
    Pyas2lib,
    Pyas2libEnvError,
    TestIdentity,
    b64,
    ensure_venv,
    make_identity,
    unb64,
)

NOW = datetime.now(UTC)
CONTENT = b"Content-Type: application/edi-x12\r\n\r\nISA*00*          *00*~IEA*1*000000001~\r\n"
_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_PSS_OID = algos.SignedDigestAlgorithmId("rsassa_pss").dump()
LOGGER = "edigate.as2.cms"


@dataclass(frozen=True)
class Signer:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate


@pytest.fixture(scope="module")
def signer() -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PSS PARTNER")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return Signer(key, cert)


def pss_params(
    hash_name: str | None = "sha256", mgf_hash: str | None = "sha256", salt: int | None = 32
) -> bytes:
    """DER RSASSA-PSS-params; a None field is left out (its RFC 4055 default applies)."""
    fields: dict[str, Any] = {}
    if hash_name is not None:
        fields["hash_algorithm"] = {"algorithm": hash_name}
    if mgf_hash is not None:
        fields["mask_gen_algorithm"] = {"algorithm": "mgf1", "parameters": {"algorithm": mgf_hash}}
    if salt is not None:
        fields["salt_length"] = salt
    if not fields:
        return b"\x30\x00"  # asn1crypto cannot dump an empty RSASSAPSSParams
    return bytes(algos.RSASSAPSSParams(fields).dump())


def signed_der(
    signer: Signer,
    *,
    params: bytes | None,
    digest: str = "sha256",
    pss_hash: str | None = None,
    mgf_hash: str | None = None,
    salt: int | None = None,
    content: bytes = CONTENT,
    signed_attrs: bool = True,
) -> bytes:
    """A detached CMS SignedData over ``content`` with an RSASSA-PSS signature.

    ``params`` is the raw DER written after the rsassa_pss OID (None: absent, as pyas2lib does);
    ``pss_hash``/``mgf_hash``/``salt`` are what the signature is really made with (default: the
    digest and its length, oscrypto's convention).
    """
    hash_cls = _HASH[pss_hash or digest]
    salt_length = hash_cls().digest_size if salt is None else salt
    cert = asn1_x509.Certificate.load(signer.cert.public_bytes(serialization.Encoding.DER))
    message_digest = hashes.Hash(_HASH[digest]())
    message_digest.update(content)
    attrs = asn1_cms.CMSAttributes(
        [
            asn1_cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            asn1_cms.CMSAttribute({"type": "message_digest", "values": [message_digest.finalize()]}),
        ]
    )
    to_sign = b"\x31" + attrs.dump()[1:] if signed_attrs else content
    signature = signer.key.sign(
        to_sign,
        padding.PSS(mgf=padding.MGF1(_HASH[mgf_hash or pss_hash or digest]()), salt_length=salt_length),
        hash_cls(),
    )
    algo_body = _PSS_OID + (params or b"")
    algo = algos.SignedDigestAlgorithm.load(bytes(core.Sequence(contents=algo_body).dump()))
    info: dict[str, Any] = {
        "version": "v1",
        "sid": asn1_cms.SignerIdentifier(
            {
                "issuer_and_serial_number": asn1_cms.IssuerAndSerialNumber(
                    {"issuer": cert.issuer, "serial_number": cert.serial_number}
                )
            }
        ),
        "digest_algorithm": {"algorithm": digest},
        "signature_algorithm": algo,
        "signature": signature,
    }
    if signed_attrs:
        info["signed_attrs"] = attrs
    signed = asn1_cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": digest}],
            "encap_content_info": {"content_type": "data"},
            "certificates": [cert],
            "signer_infos": [asn1_cms.SignerInfo(info)],
        }
    )
    der = bytes(asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())
    # the raw parameters must reach the wire untouched (asn1crypto must not "repair" them)
    reread = asn1_cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature_algorithm"]
    assert reread.contents == algo_body
    return der


def verify(signer: Signer, der: bytes, content: bytes = CONTENT) -> gw_cms.Verified:
    return gw_cms.verify(der, [content], [signer.cert], now=NOW)


def pss_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


# --- parameters absent: pyas2lib's convention -------------------------------------------


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("signed_attrs", [True, False], ids=["signed-attrs", "no-signed-attrs"])
def test_absent_parameters_use_the_signer_digest_and_warn(
    signer: Signer, caplog: pytest.LogCaptureFixture, digest: str, signed_attrs: bool
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    der = signed_der(signer, params=None, digest=digest, signed_attrs=signed_attrs)
    got = verify(signer, der)
    assert (got.content, got.signer, got.digest) == (CONTENT, signer.cert, digest)
    [warning] = pss_warnings(caplog)
    assert "no parameters" in warning and "RFC 4055" in warning and "pyas2lib" in warning
    size = _HASH[digest]().digest_size
    assert f"assuming {digest}, MGF1 with {digest} and a {size} or {256 - size - 2}-byte salt" in warning
    assert "PSS PARTNER" in warning  # names the signer


@pytest.mark.parametrize("digest", ["sha256", "sha512"])
def test_absent_parameters_accept_the_maximal_salt_of_oscrypto_on_openssl3(
    signer: Signer, digest: str
) -> None:
    """oscrypto 1.3.0 skips its salt setting on OpenSSL >= 3.0, whose default is the maximal salt.

    Seen with pyas2lib 1.4.4 on OpenSSL 3.0.22: a 2048-bit key and SHA-256 give a 222-byte salt.
    """
    size = _HASH[digest]().digest_size
    der = signed_der(signer, params=None, digest=digest, salt=256 - size - 2)
    assert verify(signer, der).digest == digest


@pytest.mark.parametrize("salt", [0, 20, 64, 221], ids=lambda n: f"salt-{n}")
def test_absent_parameters_do_not_guess_another_salt(signer: Signer, salt: int) -> None:
    """Absent parameters mean salt = hash length or maximal; any other salt does not verify."""
    der = signed_der(signer, params=None, digest="sha256", salt=salt)
    with pytest.raises(As2AuthenticationFailed, match="does not verify"):
        verify(signer, der)


def test_absent_parameters_do_not_guess_another_mgf1_hash(signer: Signer) -> None:
    der = signed_der(signer, params=None, digest="sha256", mgf_hash="sha1")
    with pytest.raises(As2AuthenticationFailed, match="does not verify"):
        verify(signer, der)


def test_absent_parameters_still_detect_altered_content(signer: Signer) -> None:
    der = signed_der(signer, params=None)
    with pytest.raises(As2IntegrityCheckFailed, match="altered after signing"):
        verify(signer, der, CONTENT + b"tampered")


# --- parameters present: RFC 4055 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("pss_hash", "mgf_hash", "salt"),
    [
        ("sha256", "sha256", 32),
        ("sha256", "sha256", 0),
        ("sha256", "sha256", 20),
        ("sha256", "sha256", 64),
        ("sha256", "sha256", 256 - 32 - 2),  # the largest salt a 2048-bit key allows
        ("sha256", "sha1", 32),  # MGF1 hash differs from the signature hash
        ("sha512", "sha512", 64),  # PSS hash differs from the SignerInfo digest (sha256)
    ],
)
def test_present_parameters_are_honoured(
    signer: Signer, caplog: pytest.LogCaptureFixture, pss_hash: str, mgf_hash: str, salt: int
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    der = signed_der(
        signer,
        params=pss_params(pss_hash, mgf_hash, salt),
        pss_hash=pss_hash,
        mgf_hash=mgf_hash,
        salt=salt,
    )
    assert verify(signer, der).signer == signer.cert
    assert pss_warnings(caplog) == []


def test_empty_parameters_mean_the_rfc4055_defaults(signer: Signer) -> None:
    """``SEQUENCE {}``: SHA-1, MGF1-SHA-1, salt 20 (RFC 4055 §3.1 defaults), not the digest."""
    ok = signed_der(signer, params=pss_params(None, None, None), pss_hash="sha1", mgf_hash="sha1", salt=20)
    assert verify(signer, ok).signer == signer.cert
    oscrypto_style = signed_der(signer, params=pss_params(None, None, None))  # sha256/32: no
    with pytest.raises(As2AuthenticationFailed, match="does not verify"):
        verify(signer, oscrypto_style)


@pytest.mark.parametrize(
    ("written", "used"),
    [
        (("sha256", "sha256", 20), ("sha256", "sha256", 32)),  # salt differs
        (("sha256", "sha1", 32), ("sha256", "sha256", 32)),  # MGF1 hash differs
        (("sha384", "sha384", 32), ("sha256", "sha256", 32)),  # hash differs
    ],
    ids=["salt", "mgf1-hash", "hash"],
)
def test_parameters_that_do_not_match_the_signature_fail_authentication(
    signer: Signer, written: tuple[str, str, int], used: tuple[str, str, int]
) -> None:
    der = signed_der(signer, params=pss_params(*written), pss_hash=used[0], mgf_hash=used[1], salt=used[2])
    with pytest.raises(As2AuthenticationFailed, match="does not verify"):
        verify(signer, der)


# --- damaged parameters: a codec error with a reason ------------------------------------------


def _tagged(tag: int, inner: bytes) -> bytes:
    return bytes([0xA0 | tag, len(inner)]) + inner


def _seq(*parts: bytes) -> bytes:
    body = b"".join(parts)
    return bytes([0x30, len(body)]) + body


_SHA256 = bytes(algos.DigestAlgorithm({"algorithm": "sha256"}).dump())
_MGF1_OID = algos.MaskGenAlgorithmId("mgf1").dump()

DAMAGED = [
    ("null", b"\x05\x00", As2MalformedMessage, "RSASSA-PSS signature parameters are damaged"),
    ("octet-string", b"\x04\x03abc", As2MalformedMessage, "RSASSA-PSS signature parameters are damaged"),
    ("negative-salt", pss_params(salt=-1), As2MalformedMessage, "salt length -1 is impossible"),
    ("huge-salt", pss_params(salt=10**6), As2MalformedMessage, "salt length 1000000 is impossible"),
    ("salt-too-long-for-key", pss_params(salt=223), As2MalformedMessage, "salt length 223 is impossible"),
    (
        "trailer-2",
        _seq(_tagged(3, core.Integer(2).dump())),
        As2MalformedMessage,
        "trailer field",
    ),
    (
        "mgf1-without-hash",
        _seq(_tagged(0, _SHA256), _tagged(1, _seq(_MGF1_OID))),
        As2MalformedMessage,
        "MGF1 names no hash algorithm",
    ),
    (
        "hash-without-oid",
        _seq(_tagged(0, _seq())),
        As2MalformedMessage,
        "RSASSA-PSS signature parameters are damaged",
    ),
    (
        "unexpected-field",
        _seq(_tagged(0, _SHA256), core.Integer(5).dump()),
        As2MalformedMessage,
        "unexpected fields",
    ),
    (
        "unknown-mgf",
        _seq(_tagged(1, _seq(core.ObjectIdentifier("1.2.3.4").dump(), _SHA256))),
        As2Unsupported,
        "mask generation function 1.2.3.4 is not supported",
    ),
    (
        "unknown-hash",
        _seq(_tagged(0, _seq(core.ObjectIdentifier("1.2.3.4.5").dump()))),
        As2Unsupported,
        "digest algorithm '1.2.3.4.5' is not supported",
    ),
]


@pytest.mark.parametrize(("params", "error", "reason"), [d[1:] for d in DAMAGED], ids=[d[0] for d in DAMAGED])
@pytest.mark.parametrize("signed_attrs", [True, False], ids=["signed-attrs", "no-signed-attrs"])
def test_damaged_parameters_give_a_codec_error_with_a_reason(
    signer: Signer, params: bytes, error: type[As2Error], reason: str, signed_attrs: bool
) -> None:
    der = signed_der(signer, params=params, signed_attrs=signed_attrs)
    with pytest.raises(As2Error) as caught:
        verify(signer, der)
    assert type(caught.value) is error, repr(caught.value)
    assert reason in caught.value.message
    assert "Void" not in caught.value.message and "subscriptable" not in caught.value.message


# --- interop: pyas2lib sign_alg="rsassa_pss" → our As2Source ---------------------------------


def _load_kit() -> Any:
    if "test_as2_kit" in sys.modules:  # already imported by another AS2 test module in this run
        return sys.modules["test_as2_kit"]
    path = Path(__file__).resolve().parent / "test_as2_kit.py"
    spec = importlib.util.spec_from_file_location("test_as2_kit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


kit = _load_kit()
PYAS2_NAME = "PYAS2LIB"


@pytest.fixture(scope="module")
def pyas2lib(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pyas2lib:
    """pyas2lib in its cached venv; the test FAILS (never skips) when it cannot be had."""
    capman = request.config.pluginmanager.getplugin("capturemanager")

    def progress(message: str) -> None:
        ctx = capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()
        with ctx:
            print(f"\n[pyas2lib] {message}", file=sys.stderr, flush=True)

    try:
        python = ensure_venv(progress=progress)
    except Pyas2libEnvError as exc:
        pytest.fail(f"pyas2lib test environment unavailable: {exc}", pytrace=False)
    return Pyas2lib(python=python, work=tmp_path_factory.mktemp("pyas2lib-pss") / "calls")


@asynccontextmanager
async def gateway(pki: Any, own: TestIdentity, state: Path) -> AsyncIterator[tuple[Journal, str]]:
    journal = Journal.open(state, JournalOptions(min_free_bytes=0))
    partner = As2Partner(
        partner_id="pyas2",
        as2_name=PYAS2_NAME,
        certificates=(load_certificates(own.cert.read_bytes())[0],),
    )
    source = As2Source(
        As2SourceConfig(host="127.0.0.1", port=0, as2_names=["GATEWAY"]),
        StaticAs2Partners((partner,)),
        identity=pki.identity(),
        clock=lambda: kit.NOW,
    )
    ready = asyncio.Event()
    task = asyncio.create_task(source.run(journal, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield journal, f"http://127.0.0.1:{source.bound_port}/as2"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        journal.close()


def test_pyas2lib_rsassa_pss_without_parameters_gets_a_processed_mdn(
    pyas2lib: Pyas2lib,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    pki = kit.session_pki(tmp_path_factory)
    own = make_identity(tmp_path / "keys", "pyas2lib", PYAS2_NAME)
    cert, ca = str(pki.path("gateway", "pem")), str(pki.path("ca", "pem"))
    partner = {
        "as2_name": "GATEWAY",
        "verify_cert": cert,
        "verify_cert_ca": ca,
        "encrypt_cert": cert,
        "encrypt_cert_ca": ca,
        "sign": True,
        "sign_alg": "rsassa_pss",
        "digest_alg": "sha256",
        "encrypt": True,
        "enc_alg": "aes_256_cbc",
        "mdn_mode": "SYNC",
        "mdn_digest_alg": "sha256",
    }
    org = {"as2_name": PYAS2_NAME, "key_file": str(own.combined)}
    built = pyas2lib.call(
        "build",
        {
            "org": org,
            "partner": partner,
            "data": b64(kit.PAYLOAD),
            "filename": "po123.edi",
            "content_type": "application/octet-stream",
        },
    )
    assert built["mic"], "pyas2lib computed no MIC for a signed message"

    async def scenario() -> tuple[int, bytes, list[sqlite3.Row], bytes]:
        async with gateway(pki, own, tmp_path / "state") as (journal, url):
            async with httpx.AsyncClient(timeout=30, trust_env=False) as client:  # loopback only
                response = await client.post(url, headers=built["headers"], content=unb64(built["body"]))
            head = b"".join(k + b": " + v + b"\r\n" for k, v in response.headers.raw)
            found = journal.read_sync(lambda c: c.execute("SELECT * FROM messages ORDER BY id").fetchall())
            stored = await journal.raw_bytes(found[0]["id"]) if found else b""
            return response.status_code, head + b"\r\n" + response.content, found, stored

    status, raw_mdn, found, stored = asyncio.run(scenario())
    assert status == 200, raw_mdn.decode("latin-1")[:2000]
    [row] = found
    assert (row["partner"], row["state"]) == ("pyas2", "received"), dict(row)
    assert stored == kit.PAYLOAD
    meta = json.loads(row["meta"])
    assert tuple(meta["layers"]) == ("encrypted", "signed")
    assert meta["mic"] == f"{built['mic']}, sha256"
    # what pyas2lib really wrote: rsassa_pss with no parameters, hence our warning
    assert any("has no parameters" in w and "RFC 4055" in w for w in pss_warnings(caplog)), caplog.text

    verdict = pyas2lib.call(
        "parse_mdn",
        {
            "org": org,
            "partner": partner,
            "message_id": built["message_id"],
            "mic": built["mic"],
            "raw": b64(raw_mdn),
        },
    )
    assert (verdict["status"], verdict["detail"]) == ("processed", None), verdict
