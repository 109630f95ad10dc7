"""CMS (RFC 5652) for AS2: sign, verify, encrypt, decrypt, compress, decompress.

Strategy: ``asn1crypto`` parses and builds the structures (including what
``cryptography`` lacks: RFC 3274 compressed data, RFC 5083 auth-enveloped
data, RSA-OAEP parameters, signer identifiers); ``cryptography`` does every
primitive. No I/O, no clock: callers pass ``now``.

Trust rule: a signature counts only if made by one of the certificates the
caller passes (the partner's, valid at ``now``). Certificates embedded in the
CMS are never trusted; they only name the signer in error messages.

Every function raises an :mod:`gateway.as2.errors` error or returns; any other
exception escaping is a bug.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import logging
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, ParamSpec, TypeVar

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.algorithms import AES

from gateway.as2.errors import (
    As2AuthenticationFailed,
    As2DecryptionFailed,
    As2Error,
    As2IntegrityCheckFailed,
    As2MalformedMessage,
    As2MessageTooLarge,
    As2Unsupported,
)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

log = logging.getLogger("edigate.as2.cms")

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
#: content ciphers: asn1crypto name -> (key bytes, kind)
_CIPHERS: dict[str, tuple[int, str]] = {
    "aes128_cbc": (16, "aes"),
    "aes192_cbc": (24, "aes"),
    "aes256_cbc": (32, "aes"),
    "tripledes_3key": (24, "3des"),
}
_GCM_OIDS = {
    "2.16.840.1.101.3.4.1.6": 16,
    "2.16.840.1.101.3.4.1.26": 24,
    "2.16.840.1.101.3.4.1.46": 32,
}
_DER = serialization.Encoding.DER
_ZLIB_OID = "1.2.840.113549.1.9.16.3.8"  # RFC 3274 §2 id-alg-zlibCompress


#: what asn1crypto and the codecs raise on damaged input (never our own errors: those are GatewayErrors)
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, UnicodeError)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(error: type[As2Error], what: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Turn parse errors of damaged input into ``error`` at a public boundary (h11's strategy)."""

    def wrap(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def inner(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return fn(*args, **kwargs)
            except _PARSE_ERRORS as exc:
                raise error(f"the {what} is damaged: {exc}") from exc

        return inner

    return wrap


class _GcmParameters(core.Sequence):  # type: ignore[misc]
    """RFC 5084 §3.2 GCMParameters (asn1crypto has no spec for it)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


@dataclass(frozen=True, slots=True)
class KeyPair:
    """One of our private keys with its certificate."""

    key: PrivateKey
    cert: x509.Certificate


@dataclass(frozen=True, slots=True)
class Verified:
    """A signature that checked out.

    Attributes:
        content: the exact bytes that were signed (the chosen canonical form).
        signer: the partner certificate that made the signature.
        digest: the digest algorithm name (``sha256``...).
    """

    content: bytes
    signer: x509.Certificate
    digest: str


def hash_name(name: str) -> str:
    """Normalise ``SHA-256``/``sha256``/``sha-256``/``rsa-sha256`` to ``sha256`` (peers.md gotcha 1).

    Raises:
        As2Unsupported: an algorithm we do not implement.
    """
    norm = name.strip().lower().replace("-", "").replace("_", "")
    if norm.startswith("rsa"):
        norm = norm[3:]
    if norm not in _HASHES:
        raise As2Unsupported(f"the digest algorithm {name!r} is not supported", what="MIC-algorithms")
    return norm


def digest(name: str, data: bytes) -> bytes:
    """The digest of ``data`` with the named algorithm."""
    return hashlib.new(hash_name(name), data).digest()


@_guarded(As2MalformedMessage, "CMS structure")
def content_type_of(der: bytes) -> str:
    """The CMS content type of a ContentInfo (``signed_data``, ``enveloped_data``...).

    Raises:
        As2MalformedMessage: not a CMS ContentInfo.
    """
    return _load(der)["content_type"].native  # type: ignore[no-any-return]


def _load(der: bytes) -> cms.ContentInfo:
    try:
        info = cms.ContentInfo.load(der)
        _ = info["content_type"].native
        _ = info["content"]
    except (ValueError, TypeError, KeyError) as exc:
        raise As2MalformedMessage(f"the body is not a CMS structure: {exc}") from exc
    return info


def _cert_id(cert: x509.Certificate) -> tuple[bytes, int]:
    return (cert.issuer.public_bytes(), cert.serial_number)


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _matches(rid: cms.RecipientIdentifier | cms.SignerIdentifier, cert: x509.Certificate) -> bool:
    if rid.name == "issuer_and_serial_number":
        ias = rid.chosen
        return bool(
            ias["issuer"].dump() == cert.issuer.public_bytes()
            and ias["serial_number"].native == cert.serial_number
        )
    return bool(rid.chosen.native == _ski(cert))


def _describe(rid: cms.RecipientIdentifier | cms.SignerIdentifier) -> str:
    if rid.name == "issuer_and_serial_number":
        ias = rid.chosen
        return f"issuer {ias['issuer'].human_friendly!r}, serial {ias['serial_number'].native:x}"
    return f"subject key id {rid.chosen.native.hex()}"


def describe_cert(cert: x509.Certificate) -> str:
    """``CN=..., serial ..., valid ... to ...`` for operator messages."""
    return (
        f"{cert.subject.rfc4514_string()} (serial {cert.serial_number:x}, valid "
        f"{cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
    )


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


# --- signing ---------------------------------------------------------------


def _signature_algorithm(key: PrivateKey, digest_name: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        return {"algorithm": "rsassa_pkcs1v15"}
    return {"algorithm": f"{digest_name}_ecdsa"}


def _raw_sign(key: PrivateKey, data: bytes, digest_name: str) -> bytes:
    algo = _HASHES[digest_name]()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, asym_padding.PKCS1v15(), algo)
    return key.sign(data, ec.ECDSA(algo))


def sign(content: bytes, signer: KeyPair, *, digest_name: str, now: datetime, detached: bool = True) -> bytes:
    """A CMS SignedData over ``content`` with signed attributes (RFC 5652 §5.3, RFC 5751 §2.5).

    Args:
        content: the exact bytes to sign (a canonical MIME entity).
        signer: our key and certificate (the certificate is embedded).
        digest_name: ``sha256``, ``sha384``...
        now: the signing time written into the attributes.
        detached: omit the content (multipart/signed) or embed it (signed-data).

    Returns:
        The DER ContentInfo.
    """
    digest_name = hash_name(digest_name)
    cert = asn1_x509.Certificate.load(signer.cert.public_bytes(_DER))
    attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": now})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [digest(digest_name, content)]}),
        ]
    )
    # RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF.
    attrs_der = b"\x31" + attrs.dump()[1:]
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": cert.issuer, "serial_number": cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest_name}),
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm(_signature_algorithm(signer.key, digest_name)),
            "signature": _raw_sign(signer.key, attrs_der, digest_name),
        }
    )
    encap: dict[str, Any] = {"content_type": "data"}
    if not detached:
        encap["content"] = content
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest_name})],
            "encap_content_info": encap,
            "certificates": [cert],
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def _pss_paddings(
    algo: algos.SignedDigestAlgorithm, digest_name: str, key_bits: int, cert: x509.Certificate
) -> tuple[hashes.HashAlgorithm, list[asym_padding.PSS]]:
    """The hash and the padding(s) to try for an RSASSA-PSS signature (RFC 4055 §3.1).

    Present parameters are honoured, with the RFC 4055 defaults (SHA-1, MGF1-SHA-1, salt 20) for
    omitted fields. Absent parameters break RFC 4055 but are what pyas2lib (oscrypto) writes:
    then the SignerInfo digest is the hash and the MGF1 hash, and the salt is as long as the digest
    (oscrypto's documented convention, what it signs with on OpenSSL < 3.0) or, failing that, the
    maximal salt (what oscrypto 1.3.0 really signs with on OpenSSL 3.0, which ignores its salt
    setting there). Nothing else is guessed.

    Raises:
        As2MalformedMessage: damaged or impossible parameters.
        As2Unsupported: a hash or mask generation function we do not implement.
    """
    try:
        params = algo["parameters"]
    except (ValueError, TypeError, KeyError) as exc:
        raise As2MalformedMessage(f"the RSASSA-PSS signature parameters are damaged: {exc}") from exc
    absent = isinstance(params, core.Void)
    if absent:
        pss_hash: hashes.HashAlgorithm = _HASHES[digest_name]()
        mgf_hash: hashes.HashAlgorithm = _HASHES[digest_name]()
        salt: object = pss_hash.digest_size
    else:
        try:
            native = params.native
            unknown = sorted(
                set(native) - {"hash_algorithm", "mask_gen_algorithm", "salt_length", "trailer_field"}
            )
            if unknown:
                raise ValueError(f"unexpected fields {unknown}")
            mgf = native["mask_gen_algorithm"]
            if mgf["algorithm"] != "mgf1":
                raise As2Unsupported(
                    f"RSASSA-PSS mask generation function {mgf['algorithm']} is not supported"
                )
            if not isinstance(mgf["parameters"], dict):
                raise ValueError("MGF1 names no hash algorithm")
            pss_hash = _HASHES[hash_name(native["hash_algorithm"]["algorithm"])]()
            mgf_hash = _HASHES[hash_name(mgf["parameters"]["algorithm"])]()
            salt = native["salt_length"]
            trailer = native["trailer_field"]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise As2MalformedMessage(f"the RSASSA-PSS signature parameters are damaged: {exc}") from exc
        if trailer != "trailer_field_bc":
            raise As2MalformedMessage(f"the RSASSA-PSS trailer field is {trailer}, RFC 4055 §3.1 requires 1")
    # RFC 8017 §9.1.1: emLen >= hLen + sLen + 2, emLen = ceil((modBits - 1) / 8).
    max_salt = (key_bits - 1 + 7) // 8 - pss_hash.digest_size - 2
    if absent:
        salts = sorted({min(pss_hash.digest_size, max_salt), max_salt})
        log.warning(
            "RSASSA-PSS signature by %s has no parameters, which RFC 4055 §3.1 requires; "
            "assuming %s, MGF1 with %s and a %s-byte salt (pyas2lib's convention)",
            describe_cert(cert),
            digest_name,
            digest_name,
            " or ".join(map(str, salts)),
        )
    elif isinstance(salt, int):
        salts = [salt]
    else:
        raise As2MalformedMessage(f"the RSASSA-PSS salt length {salt!r} is not an integer")
    if salts[0] < 0 or salts[-1] > max_salt:
        raise As2MalformedMessage(
            f"the RSASSA-PSS salt length {salt} is impossible for a {key_bits}-bit key with "
            f"{pss_hash.name} (0 to {max_salt})"
        )
    return pss_hash, [asym_padding.PSS(mgf=asym_padding.MGF1(mgf_hash), salt_length=n) for n in salts]


def _verify_raw(
    cert: x509.Certificate, signature: bytes, data: bytes, info: cms.SignerInfo, digest_name: str
) -> None:
    key = cert.public_key()
    algo = info["signature_algorithm"]
    sig_algo = algo.signature_algo
    hash_cls = _HASHES[digest_name]
    if isinstance(key, rsa.RSAPublicKey):
        if sig_algo == "rsassa_pss":
            pss_hash, paddings = _pss_paddings(algo, digest_name, key.key_size, cert)
            for pss in paddings[:-1]:
                with contextlib.suppress(InvalidSignature):
                    key.verify(signature, data, pss, pss_hash)
                    return
            key.verify(signature, data, paddings[-1], pss_hash)
            return
        if sig_algo != "rsassa_pkcs1v15":
            raise As2Unsupported(f"signature algorithm {algo['algorithm'].native} does not fit an RSA key")
        key.verify(signature, data, asym_padding.PKCS1v15(), hash_cls())
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(hash_cls()))
    else:
        raise As2Unsupported(f"signer key type {type(key).__name__} is not supported")


@_guarded(As2MalformedMessage, "CMS signed-data")
def verify(
    der: bytes, candidates: Sequence[bytes] | None, certificates: Sequence[x509.Certificate], *, now: datetime
) -> Verified:
    """Verify a SignedData against the partner's certificates.

    Args:
        der: the DER ContentInfo (detached or with embedded content).
        candidates: for a detached signature, the forms the signed entity may
            have been hashed in (see ``mime.canonical_candidates``); None when
            the content is embedded.
        certificates: the partner's certificates; only those valid at ``now`` count.
        now: the clock for certificate validity.

    Returns:
        What was signed, by which certificate, with which digest.

    Raises:
        As2AuthenticationFailed: no signer is one of the partner's valid certificates,
            or the signature is bad.
        As2IntegrityCheckFailed: the content does not match the signed digest.
        As2MalformedMessage: not a SignedData.
    """
    info = _load(der)
    if info["content_type"].native != "signed_data":
        raise As2MalformedMessage(f"expected CMS signed-data, found {info['content_type'].native}")
    try:
        signed = info["content"]
        signer_infos = list(signed["signer_infos"])
        if candidates is None:
            embedded = signed["encap_content_info"]["content"].native
            if embedded is None:
                raise As2MalformedMessage(
                    "the signed-data carries no content and no detached content was given"
                )
            candidates = [embedded]
    except (ValueError, TypeError, KeyError) as exc:
        raise As2MalformedMessage(f"the CMS signed-data is damaged: {exc}") from exc
    if not signer_infos:
        raise As2AuthenticationFailed("the signed-data has no signer")
    problems: list[str] = []
    for signer_info in signer_infos:
        sid = signer_info["sid"]
        matching = [c for c in certificates if _matches(sid, c)]
        if not matching:
            problems.append(
                f"it was signed by a certificate ({_describe(sid)}) that is not configured for the partner"
            )
            continue
        valid = [c for c in matching if _valid_at(c, now)]
        if not valid:
            problems.append(
                "the signing certificate "
                + "; ".join(describe_cert(c) for c in matching)
                + f" is not valid at {now:%Y-%m-%d %H:%M} UTC"
            )
            continue
        try:
            digest_name = hash_name(signer_info["digest_algorithm"]["algorithm"].native)
            return _check_signer(signer_info, candidates, valid, digest_name)
        except As2AuthenticationFailed as exc:
            problems.append(exc.message)
    raise As2AuthenticationFailed("The signature could not be verified: " + "; ".join(problems) + ".")


def _check_signer(
    info: cms.SignerInfo, candidates: Sequence[bytes], certs: Sequence[x509.Certificate], digest_name: str
) -> Verified:
    signature = info["signature"].native
    attrs = info["signed_attrs"]
    if attrs.native is None or len(attrs) == 0:
        # No signed attributes: the signature covers the content directly.
        for content in candidates:
            for cert in certs:
                try:
                    _verify_raw(cert, signature, content, info, digest_name)
                    return Verified(content=content, signer=cert, digest=digest_name)
                except InvalidSignature:
                    continue
        raise As2IntegrityCheckFailed(
            "the content does not match the partner's signature (altered in transit?)"
        )
    expected: bytes | None = None
    for attr in attrs:
        if attr["type"].native == "message_digest":
            expected = attr["values"][0].native
    if expected is None:
        raise As2AuthenticationFailed(
            "the signed attributes lack the message-digest attribute (RFC 5652 §11.2)"
        )
    chosen = next((c for c in candidates if hmac.compare_digest(digest(digest_name, c), expected)), None)
    if chosen is None:
        raise As2IntegrityCheckFailed(
            f"the content does not match its signed {digest_name} digest: it was altered after signing"
        )
    attrs_der = b"\x31" + attrs.dump()[1:]
    for cert in certs:
        try:
            _verify_raw(cert, signature, attrs_der, info, digest_name)
            return Verified(content=chosen, signer=cert, digest=digest_name)
        except InvalidSignature:
            continue
        except (ValueError, TypeError, KeyError) as exc:
            raise As2MalformedMessage(f"the signer information is damaged: {exc}") from exc
    raise As2AuthenticationFailed(
        "the signature does not verify with " + "; ".join(describe_cert(c) for c in certs)
    )


# --- encryption ------------------------------------------------------------


def _oaep(params: algos.RSAESOAEPParams) -> asym_padding.OAEP:
    hash_cls = _HASHES[hash_name(params["hash_algorithm"]["algorithm"].native)]
    mgf_cls = _HASHES[hash_name(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)]
    label = params["p_source_algorithm"]["parameters"].native or None
    return asym_padding.OAEP(mgf=asym_padding.MGF1(mgf_cls()), algorithm=hash_cls(), label=label)


def encrypt(
    content: bytes, recipient: x509.Certificate, *, cipher: str = "aes256_cbc", oaep_hash: str | None = None
) -> bytes:
    """A CMS EnvelopedData for one RSA recipient (RFC 5652 §6, RSA-OAEP per RFC 8017/RFC 4055).

    Args:
        content: the bytes to encrypt (a MIME entity).
        recipient: the partner's encryption certificate.
        cipher: ``aes128_cbc``, ``aes192_cbc``, ``aes256_cbc`` or ``tripledes_3key``.
        oaep_hash: None for PKCS#1 v1.5 key transport, else the OAEP hash (``sha1``, ``sha256``, ``sha512``).

    Returns:
        The DER ContentInfo.

    Raises:
        As2Unsupported: an unknown cipher or a non-RSA certificate.
    """
    if cipher not in _CIPHERS:
        raise As2Unsupported(f"content cipher {cipher!r} is not supported")
    key = recipient.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise As2Unsupported("only RSA recipient certificates are supported for encryption")
    key_len, kind = _CIPHERS[cipher]
    cek = os.urandom(key_len)
    iv = os.urandom(16 if kind == "aes" else 8)
    ciphertext = _cbc(kind, cek, iv, content, decrypt=False)
    if oaep_hash is None:
        key_alg: dict[str, Any] = {"algorithm": "rsaes_pkcs1v15"}
        encrypted_key = key.encrypt(cek, asym_padding.PKCS1v15())
    else:
        name = hash_name(oaep_hash)
        params = algos.RSAESOAEPParams(
            {
                "hash_algorithm": {"algorithm": name},
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": name}},
            }
        )
        key_alg = {"algorithm": "rsaes_oaep", "parameters": params}
        encrypted_key = key.encrypt(cek, _oaep(params))
    cert = asn1_x509.Certificate.load(recipient.public_bytes(_DER))
    ktri = cms.KeyTransRecipientInfo(
        {
            "version": "v0",
            "rid": cms.RecipientIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": cert.issuer, "serial_number": cert.serial_number}
                    )
                }
            ),
            "key_encryption_algorithm": key_alg,
            "encrypted_key": encrypted_key,
        }
    )
    enveloped = cms.EnvelopedData(
        {
            "version": "v0",
            "recipient_infos": [cms.RecipientInfo({"ktri": ktri})],
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": {"algorithm": cipher, "parameters": core.OctetString(iv)},
                "encrypted_content": ciphertext,
            },
        }
    )
    return bytes(cms.ContentInfo({"content_type": "enveloped_data", "content": enveloped}).dump())


def _cbc(kind: str, key: bytes, iv: bytes, data: bytes, *, decrypt: bool) -> bytes:
    algorithm = AES(key) if kind == "aes" else TripleDES(key)
    block = algorithm.block_size
    cipher = Cipher(algorithm, modes.CBC(iv))
    if not decrypt:
        padder = padding.PKCS7(block).padder()
        enc = cipher.encryptor()
        return enc.update(padder.update(data) + padder.finalize()) + enc.finalize()
    dec = cipher.decryptor()
    plain = dec.update(data) + dec.finalize()
    unpadder = padding.PKCS7(block).unpadder()
    return unpadder.update(plain) + unpadder.finalize()


def _unwrap_key(ktri: cms.KeyTransRecipientInfo, key: PrivateKey) -> bytes:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA key")
    alg = ktri["key_encryption_algorithm"]
    encrypted_key = ktri["encrypted_key"].native
    if alg["algorithm"].native == "rsaes_oaep":
        params = alg["parameters"]
        if params.native is None:
            params = algos.RSAESOAEPParams({})
        return key.decrypt(encrypted_key, _oaep(params))
    if alg["algorithm"].native == "rsaes_pkcs1v15":
        return key.decrypt(encrypted_key, asym_padding.PKCS1v15())
    raise As2Unsupported(f"key transport {alg['algorithm'].native} is not supported")


@_guarded(As2DecryptionFailed, "CMS enveloped-data")
def decrypt(der: bytes, keys: Sequence[KeyPair]) -> bytes:
    """Open an EnvelopedData (AES-CBC, 3DES) or AuthEnvelopedData (AES-GCM, RFC 5083/5084).

    Recipients naming one of our certificates are tried first; then every key
    is tried against every RSA recipient, because some senders write a stale
    recipient identifier after a certificate renewal.

    Args:
        der: the DER ContentInfo.
        keys: our current decryption keys (several during a rollover).

    Returns:
        The decrypted content.

    Raises:
        As2DecryptionFailed: not addressed to us, wrong key, unsupported cipher or damaged ciphertext.
        As2MalformedMessage: not an enveloped structure.
    """
    info = _load(der)
    kind = info["content_type"].native
    if kind not in ("enveloped_data", "authenticated_enveloped_data"):
        raise As2MalformedMessage(f"expected CMS enveloped-data, found {kind}")
    try:
        env = info["content"]
        eci = env["encrypted_content_info" if kind == "enveloped_data" else "auth_encrypted_content_info"]
        ktris = [ri.chosen for ri in env["recipient_infos"] if ri.name == "ktri"]
        ciphertext = eci["encrypted_content"].native
        alg_oid = eci["content_encryption_algorithm"]["algorithm"].dotted
    except (ValueError, TypeError, KeyError) as exc:
        raise As2DecryptionFailed(f"the enveloped data is damaged: {exc}") from exc
    if ciphertext is None:
        raise As2DecryptionFailed("the enveloped data carries no encrypted content")
    if not ktris:
        raise As2DecryptionFailed(
            "no RSA key-transport recipient in the enveloped data (only RSA is supported)"
        )
    ordered = [(r, k) for r in ktris for k in keys if _matches(r["rid"], k.cert)]
    ordered += [(r, k) for r in ktris for k in keys if (r, k) not in ordered]
    last_error = "no key of ours matches a recipient"
    for ktri, pair in ordered:
        try:
            cek = _unwrap_key(ktri, pair.key)
            return _decrypt_content(kind, env, eci, alg_oid, cek=cek, ciphertext=ciphertext)
        except As2Unsupported as exc:
            raise As2DecryptionFailed(exc.message) from exc
        except (ValueError, InvalidTag, TypeError) as exc:
            last_error = str(exc) or type(exc).__name__
            continue
    addressed = ", ".join(_describe(r["rid"]) for r in ktris)
    raise As2DecryptionFailed(
        f"none of our {len(keys)} decryption key(s) opens the message "
        f"(addressed to {addressed}; last error: {last_error})"
    )


def _decrypt_content(kind: str, env: Any, eci: Any, alg_oid: str, *, cek: bytes, ciphertext: bytes) -> bytes:
    if kind == "authenticated_enveloped_data":
        if alg_oid not in _GCM_OIDS:
            raise As2Unsupported(f"authenticated content cipher {alg_oid} is not supported")
        if len(cek) != _GCM_OIDS[alg_oid]:
            raise ValueError("content key has the wrong length")
        params = _GcmParameters.load(eci["content_encryption_algorithm"]["parameters"].dump())
        aad = None
        if env["auth_attrs"].native is not None:
            aad = b"\x31" + env["auth_attrs"].dump()[1:]  # RFC 5083 §2.2: authenticated as a SET OF
        mac = env["mac"].native
        return AESGCM(cek).decrypt(params["aes_nonce"].native, ciphertext + mac, aad)
    name = eci["content_encryption_algorithm"]["algorithm"].native
    if name not in _CIPHERS:
        raise As2Unsupported(f"content cipher {name} is not supported (use AES-CBC, AES-GCM or 3DES)")
    key_len, cipher_kind = _CIPHERS[name]
    if len(cek) != key_len:
        raise ValueError("content key has the wrong length")
    iv = eci["content_encryption_algorithm"].encryption_iv
    return _cbc(cipher_kind, cek, iv, ciphertext, decrypt=True)


# --- compression (RFC 3274) ------------------------------------------------


def compress(content: bytes) -> bytes:
    """A CMS CompressedData with zlib (RFC 3274 §1.1)."""
    data = cms.CompressedData(
        {
            "version": "v0",
            "compression_algorithm": {"algorithm": _ZLIB_OID},
            "encap_content_info": {"content_type": "data", "content": zlib.compress(content)},
        }
    )
    return bytes(cms.ContentInfo({"content_type": "compressed_data", "content": data}).dump())


@_guarded(As2MalformedMessage, "CMS compressed-data")
def decompress(der: bytes, *, max_size: int) -> bytes:
    """Inflate a CompressedData, refusing to produce more than ``max_size`` bytes.

    Raises:
        As2MessageTooLarge: the content inflates beyond ``max_size`` (zip bomb or just big).
        As2MalformedMessage: not zlib compressed data, or the stream is damaged.
    """
    info = _load(der)
    if info["content_type"].native != "compressed_data":
        raise As2MalformedMessage(f"expected CMS compressed-data, found {info['content_type'].native}")
    try:
        data = info["content"]
        alg = data["compression_algorithm"]["algorithm"].dotted
        compressed = data["encap_content_info"]["content"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise As2MalformedMessage(f"the compressed-data is damaged: {exc}") from exc
    if alg != _ZLIB_OID:
        raise As2Unsupported(f"compression algorithm {alg} is not supported (only zlib, RFC 3274)")
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(compressed or b"", max_size + 1)
    except zlib.error as exc:
        raise As2MalformedMessage(f"the compressed content is damaged: {exc}") from exc
    if len(out) > max_size or inflater.unconsumed_tail:
        raise As2MessageTooLarge(f"the compressed content inflates beyond the {max_size}-byte limit")
    if not inflater.eof:
        raise As2MalformedMessage("the compressed content is truncated")
    return out


__all__ = [
    "KeyPair",
    "PrivateKey",
    "Verified",
    "compress",
    "content_type_of",
    "decompress",
    "decrypt",
    "describe_cert",
    "digest",
    "encrypt",
    "hash_name",
    "sign",
    "verify",
]
