"""Registry signatures (ECDSA P-256 over `name@version:integrity`) and sha512 integrity, with keys made here."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gatekeeper._internal.signatures import (
    INVALID,
    UNAVAILABLE,
    VERIFIED,
    check_integrity,
    sri_sha512,
    verify_signatures,
)

NAME, VERSION = "@scope/demo", "1.2.3"
INTEGRITY = sri_sha512(b"tarball bytes")
PUBLISHED = "2023-06-01T12:00:00.000Z"


def keypair(curve: ec.EllipticCurve | None = None) -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(curve or ec.SECP256R1())
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(spki).decode()


def sign(private: ec.EllipticCurvePrivateKey, message: str) -> str:
    return base64.b64encode(private.sign(message.encode(), ec.ECDSA(hashes.SHA256()))).decode()


@pytest.fixture(scope="module")
def key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    return keypair()


def registry_keys(spki: str, keyid: str = "SHA256:test-key", expires: str | None = None) -> list[dict[str, object]]:
    return [
        {
            "keyid": keyid,
            "keytype": "ecdsa-sha2-nistp256",
            "scheme": "ecdsa-sha2-nistp256",
            "key": spki,
            "expires": expires,
        }
    ]


def good_signature(private: ec.EllipticCurvePrivateKey, keyid: str = "SHA256:test-key") -> list[dict[str, str]]:
    return [{"keyid": keyid, "sig": sign(private, f"{NAME}@{VERSION}:{INTEGRITY}")}]


def test_good_signature_verifies(key) -> None:
    private, spki = key
    res = verify_signatures(NAME, VERSION, INTEGRITY, good_signature(private), registry_keys(spki), PUBLISHED)
    assert res.status == VERIFIED and "SHA256:test-key" in res.message


def test_signature_over_other_integrity_does_not_verify(key) -> None:
    private, spki = key
    res = verify_signatures(
        NAME, VERSION, sri_sha512(b"other"), good_signature(private), registry_keys(spki), PUBLISHED
    )
    assert res.status == INVALID and "does not verify" in res.message


def test_signature_by_another_key_does_not_verify(key) -> None:
    _, spki = key
    other, _ = keypair()
    res = verify_signatures(NAME, VERSION, INTEGRITY, good_signature(other), registry_keys(spki), PUBLISHED)
    assert res.status == INVALID


def test_signature_for_another_version_does_not_verify(key) -> None:
    private, spki = key
    sig = [{"keyid": "SHA256:test-key", "sig": sign(private, f"{NAME}@9.9.9:{INTEGRITY}")}]
    assert verify_signatures(NAME, VERSION, INTEGRITY, sig, registry_keys(spki), PUBLISHED).status == INVALID


def test_unknown_key_id(key) -> None:
    private, spki = key
    res = verify_signatures(NAME, VERSION, INTEGRITY, good_signature(private, "SHA256:gone"), registry_keys(spki))
    assert res.status == INVALID and "does not list" in res.message and res.keyid == "SHA256:gone"


def test_expired_key_is_valid_only_for_versions_published_before_expiry(key) -> None:
    private, spki = key
    sig = good_signature(private)
    before = verify_signatures(
        NAME, VERSION, INTEGRITY, sig, registry_keys(spki, expires="2024-01-01T00:00:00Z"), PUBLISHED
    )
    assert before.status == VERIFIED
    after = verify_signatures(
        NAME, VERSION, INTEGRITY, sig, registry_keys(spki, expires="2023-01-01T00:00:00Z"), PUBLISHED
    )
    assert after.status == INVALID and "expired 2023-01-01" in after.message
    same_instant = verify_signatures(NAME, VERSION, INTEGRITY, sig, registry_keys(spki, expires=PUBLISHED), PUBLISHED)
    assert same_instant.status == INVALID  # pacote: valid only when published < expires


def test_missing_publish_time_uses_the_2015_cutoff_like_pacote(key) -> None:
    private, spki = key
    sig = good_signature(private)
    assert (
        verify_signatures(NAME, VERSION, INTEGRITY, sig, registry_keys(spki, expires="2016-01-01T00:00:00Z")).status
        == VERIFIED
    )
    assert (
        verify_signatures(NAME, VERSION, INTEGRITY, sig, registry_keys(spki, expires="2014-01-01T00:00:00Z")).status
        == INVALID
    )


def test_no_keys_served_means_unavailable(key) -> None:
    private, _ = key
    assert verify_signatures(NAME, VERSION, INTEGRITY, good_signature(private), None).status == UNAVAILABLE
    assert verify_signatures(NAME, VERSION, INTEGRITY, None, []).status == UNAVAILABLE


def test_keys_served_but_no_signature_is_invalid(key) -> None:
    _, spki = key
    for sigs in (None, []):
        res = verify_signatures(NAME, VERSION, INTEGRITY, sigs, registry_keys(spki), PUBLISHED)
        assert res.status == INVALID and "no registry signature" in res.message


def test_every_signature_must_verify(key) -> None:
    private, spki = key
    other, other_spki = keypair()
    keys = registry_keys(spki) + registry_keys(other_spki, keyid="SHA256:two")
    sigs = [*good_signature(private), {"keyid": "SHA256:two", "sig": sign(other, "something else")}]
    assert verify_signatures(NAME, VERSION, INTEGRITY, sigs, keys, PUBLISHED).status == INVALID
    sigs[1]["sig"] = sign(other, f"{NAME}@{VERSION}:{INTEGRITY}")
    assert verify_signatures(NAME, VERSION, INTEGRITY, sigs, keys, PUBLISHED).status == VERIFIED


@pytest.mark.parametrize(
    "sigs",
    [
        [{"keyid": "SHA256:test-key", "sig": "!!!not base64!!!"}],
        [{"keyid": "SHA256:test-key", "sig": base64.b64encode(b"garbage").decode()}],
        [{"keyid": "SHA256:test-key"}],
        ["not a mapping"],
    ],
)
def test_malformed_signatures_are_invalid_not_crashes(key, sigs) -> None:
    _, spki = key
    assert verify_signatures(NAME, VERSION, INTEGRITY, sigs, registry_keys(spki), PUBLISHED).status == INVALID


def test_wrong_curve_or_garbage_key_is_invalid(key) -> None:
    private, _ = key
    _, p384 = keypair(ec.SECP384R1())
    for spki in (p384, "bm90IGEga2V5", "***"):
        res = verify_signatures(NAME, VERSION, INTEGRITY, good_signature(private), registry_keys(spki), PUBLISHED)
        assert res.status == INVALID and "not an ECDSA P-256" in res.message


def test_integrity_checks() -> None:
    data = b"tarball bytes"
    assert check_integrity(data, sri_sha512(data)).ok
    multi = f"sha1-abc {sri_sha512(b'x')} {sri_sha512(data)}"
    assert check_integrity(data, multi).ok
    bad = check_integrity(data, sri_sha512(b"tampered"))
    assert not bad.ok and sri_sha512(data) in bad.message
    assert check_integrity(data, None, hashlib.sha1(data).hexdigest()).ok
    assert not check_integrity(data, None, hashlib.sha1(b"x").hexdigest()).ok
    assert not check_integrity(data, None, None).ok
    assert not check_integrity(data, "sha512-@@@").ok
