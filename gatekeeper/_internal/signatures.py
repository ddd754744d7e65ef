"""Integrity (SRI sha512) and npm registry signatures of a published version.

Registry signatures are ECDSA P-256 / SHA-256 over `${name}@${version}:${integrity}`
(`dist.signatures: [{keyid, sig}]`, `sig` base64 DER), with keys from
`GET /-/npm/v1/keys` (`key`: base64 SPKI DER). As pacote does (`lib/registry.js`):
every signature must name a known key id, the key must not have expired before
the version was published (`time[version]`, or 2015-01-01 for packuments without
one), and must verify. A registry that serves keys while a version carries no
signature counts as a failure, as `npm audit signatures` reports it ("missing").
Entry points: `check_integrity`, `verify_signatures`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # cryptography is imported only when a signature is verified (start-up time)
    from cryptography.hazmat.primitives.asymmetric import ec

#: pacote's cutoff for packuments whose `time` has no entry for the version.
MISSING_TIME_CUTOFF = "2015-01-01T00:00:00.000Z"

VERIFIED, UNAVAILABLE, INVALID = "verified", "unavailable", "invalid"


@dataclass(frozen=True)
class IntegrityResult:
    """Whether downloaded bytes match the recorded integrity."""

    ok: bool
    expected: str
    actual: str
    message: str


@dataclass(frozen=True)
class SignatureResult:
    """`verified`, `unavailable` (no keys served) or `invalid` (with the reason)."""

    status: str
    message: str
    keyid: str = ""


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def check_integrity(data: bytes, integrity: object, shasum: object = None) -> IntegrityResult:
    """Compare bytes with `dist.integrity` (its sha512 entries), else with `dist.shasum` (sha1 hex)."""
    actual = sri_sha512(data)
    digest = hashlib.sha512(data).digest()
    if isinstance(integrity, str) and integrity.strip():
        wanted = [t for t in integrity.split() if t.startswith("sha512-")]
        if wanted:
            for token in wanted:
                b64 = token[len("sha512-") :].split("?", 1)[0]
                try:
                    expected = base64.b64decode(b64, validate=True)
                except (binascii.Error, ValueError):
                    continue
                if hmac.compare_digest(expected, digest):
                    return IntegrityResult(True, token, actual, "sha512 integrity matches")
            return IntegrityResult(
                False, wanted[0], actual, f"the download's sha512 is {actual}, the registry recorded {wanted[0]}"
            )
    if isinstance(shasum, str) and shasum.strip():
        sha1 = hashlib.sha1(data).hexdigest()
        if hmac.compare_digest(sha1, shasum.strip().lower()):
            return IntegrityResult(True, f"sha1:{shasum}", actual, "sha1 shasum matches (no sha512 recorded)")
        return IntegrityResult(False, f"sha1:{shasum}", actual, f"the download's sha1 is {sha1}, recorded {shasum}")
    return IntegrityResult(False, "", actual, "the registry recorded neither dist.integrity nor dist.shasum")


def parse_time(text: object) -> datetime | None:
    """An ISO-8601 registry timestamp as an aware datetime (naive: UTC; `Z` accepted); None when absent or bad."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _public_key(entry: Mapping[str, Any]) -> ec.EllipticCurvePublicKey | None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    raw = entry.get("key")
    if not isinstance(raw, str):
        return None
    try:
        key = load_der_public_key(base64.b64decode(raw, validate=True))
    except (ValueError, binascii.Error, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return key


def verify_signatures(
    name: str,
    version: str,
    integrity: str,
    signatures: object,
    keys: Sequence[Mapping[str, Any]] | None,
    published: object = None,
) -> SignatureResult:
    """Verify `dist.signatures` of `name@version` against the registry's keys, as npm does."""
    if not keys:
        return SignatureResult(UNAVAILABLE, "the registry serves no signing keys (/-/npm/v1/keys)")
    if not isinstance(signatures, list) or not signatures:
        return SignatureResult(
            INVALID, f"{name}@{version} has no registry signature although the registry serves signing keys"
        )
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    message = f"{name}@{version}:{integrity}".encode()
    when = parse_time(published) or parse_time(MISSING_TIME_CUTOFF)
    by_id = {k.get("keyid"): k for k in keys if isinstance(k, Mapping)}
    for sig in signatures:
        if not isinstance(sig, Mapping) or not isinstance(sig.get("keyid"), str) or not isinstance(sig.get("sig"), str):
            return SignatureResult(INVALID, f"{name}@{version} has a malformed dist.signatures entry")
        keyid = sig["keyid"]
        entry = by_id.get(keyid)
        if entry is None:
            return SignatureResult(
                INVALID, f"{name}@{version} is signed with key {keyid}, which the registry does not list", keyid
            )
        expires = entry.get("expires")
        if expires:
            end = parse_time(expires)
            if end is None or when is None or not when < end:
                return SignatureResult(
                    INVALID,
                    f"{name}@{version} (published {published or 'before 2015'}) is signed with key {keyid}, "
                    f"which expired {expires}",
                    keyid,
                )
        key = _public_key(entry)
        if key is None:
            return SignatureResult(INVALID, f"the registry's key {keyid} is not an ECDSA P-256 public key", keyid)
        try:
            key.verify(base64.b64decode(sig["sig"], validate=True), message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, binascii.Error, ValueError):
            return SignatureResult(
                INVALID, f"the registry signature of {name}@{version} by key {keyid} does not verify", keyid
            )
    ids = ", ".join(str(s["keyid"]) for s in signatures)
    return SignatureResult(VERIFIED, f"registry signature verified (key {ids})")
