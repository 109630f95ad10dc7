"""Loading our keys and partners' certificates from PEM, DER or PKCS#12 bytes.

Pure functions over bytes: the caller reads the files, so the codec stays free
of I/O. Passwords are never echoed in errors.
"""

from __future__ import annotations

import warnings

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key, pkcs12

from gateway.as2.cms import KeyPair, PrivateKey
from gateway.as2.errors import As2MalformedMessage


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, or the one DER certificate.

    Raises:
        As2MalformedMessage: no certificate could be read.
    """
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return list(x509.load_pem_x509_certificates(data))
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise As2MalformedMessage(f"no X.509 certificate could be read: {exc}") from exc


def _as_private_key(key: object) -> PrivateKey:
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        return key
    raise As2MalformedMessage(f"unsupported private key type {type(key).__name__} (RSA or EC only)")


def load_private_key(data: bytes, password: bytes | None) -> PrivateKey:
    """A private key from PEM (PKCS#1/PKCS#8, encrypted or not) or DER.

    Raises:
        As2MalformedMessage: unreadable key or wrong password (without saying which secret).
    """
    try:
        if b"-----BEGIN" in data:
            return _as_private_key(load_pem_private_key(data, password))
        return _as_private_key(load_der_private_key(data, password))
    except (ValueError, TypeError) as exc:
        raise As2MalformedMessage(
            f"the private key could not be read (wrong password or format?): {exc}"
        ) from exc


def load_key_pair(data: bytes, password: bytes | None, cert_data: bytes | None = None) -> KeyPair:
    """Our key and certificate from PKCS#12 bytes, or from a PEM holding both, or a key plus ``cert_data``.

    Args:
        data: PKCS#12, or PEM with the key (and the certificate if ``cert_data`` is None).
        password: the keystore / key password, if any.
        cert_data: the certificate file's bytes when kept apart from the key.

    Returns:
        The pair; the certificate is the one whose public key matches the key.

    Raises:
        As2MalformedMessage: unreadable input, or no certificate matches the key.
    """
    if b"-----BEGIN" not in data:
        try:
            with warnings.catch_warnings():
                # Old keystores are BER; cryptography warns and still reads them.
                warnings.simplefilter("ignore")
                store = pkcs12.load_pkcs12(data, password)
        except ValueError as exc:
            raise As2MalformedMessage(
                f"the PKCS#12 keystore could not be opened (wrong password?): {exc}"
            ) from exc
        if store.key is None or store.cert is None:
            raise As2MalformedMessage("the PKCS#12 keystore holds no private key with a certificate")
        return KeyPair(key=_as_private_key(store.key), cert=store.cert.certificate)
    key = load_private_key(data, password)
    certs = load_certificates(cert_data if cert_data is not None else data)
    wanted = key.public_key().public_numbers()
    for cert in certs:
        if cert.public_key().public_numbers() == wanted:  # type: ignore[union-attr]
            return KeyPair(key=key, cert=cert)
    raise As2MalformedMessage("none of the certificates matches the private key")


__all__ = ["load_certificates", "load_key_pair", "load_private_key"]
