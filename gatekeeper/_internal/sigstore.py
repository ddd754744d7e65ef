"""Sigstore verification of npm attestation bundles: npm's own verifier, offline, as a child process.

The verifier is `gatekeeper/verifier/verify.cjs` over `@sigstore/verify` (the library npm's `sigstore.verify`
calls; pinned with integrity in `gatekeeper/verifier/package-lock.json`, installed by `npm ci --ignore-scripts`
into `/opt/verifier/node_modules` in the image, or where `GATEKEEPER_VERIFIER_MODULES` says). The trust root
is the one shipped next to it (`gatekeeper/verifier/trust/`: Sigstore's `trusted_root.json`, npm's registry
keys, and `source.json`: where and when they were taken), so verification needs no network. sigstore-python
4.x cannot verify npm's bundles (`intoto` v0.0.2 log entries, its issue #1384); npm's own libraries can.

The child gets no credentials (PATH and LANG only), runs in its own process group under a time limit,
and its output is bounded. Anything wrong with the verifier itself (no node, not installed, crashed,
garbled output) raises `VerifierError`: the run cannot decide and publishes nothing.

`claims(der)` reads the Fulcio certificate extensions (issuer, source repository URI and id, build config
URI, ref, commit, run, runner environment) of the certificate the verifier checked.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper._internal import proc
from gatekeeper.errors import GatekeeperError

VERIFIER_DIR = Path(__file__).resolve().parents[1] / "verifier"
TRUST_DIR = VERIFIER_DIR / "trust"
#: Where the image installs it (Dockerfile: `npm ci --ignore-scripts` of gatekeeper/verifier/'s lock in /opt/verifier).
DEFAULT_MODULES = Path("/opt/verifier/node_modules")
MODULES_ENV = "GATEKEEPER_VERIFIER_MODULES"
MAX_OUTPUT_CHARS = 8 * 1024 * 1024
TIMEOUT_SECONDS = 60.0
REFRESH = "node scripts/container/refresh-trust-root.cjs [--online]"

#: Fulcio's certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
FULCIO = "1.3.6.1.4.1.57264.1."
CLAIM_OIDS = {
    "issuer": FULCIO + "8",
    "build_signer_uri": FULCIO + "9",
    "runner_environment": FULCIO + "11",
    "source_repository_uri": FULCIO + "12",
    "source_repository_digest": FULCIO + "13",
    "source_repository_ref": FULCIO + "14",
    "source_repository_id": FULCIO + "15",
    "source_repository_owner_id": FULCIO + "17",
    "build_config_uri": FULCIO + "18",
    "build_trigger": FULCIO + "20",
    "run_invocation_uri": FULCIO + "21",
    "source_repository_visibility": FULCIO + "22",
}
LEGACY_ISSUER = FULCIO + "1"  # the raw-string issuer of older certificates


class VerifierError(GatekeeperError):
    """The provenance verifier itself could not run (not a verdict on a bundle)."""


@dataclass(frozen=True)
class Claims:
    """The Fulcio certificate's claims about where and how the signed release was built."""

    issuer: str = ""
    build_signer_uri: str = ""
    runner_environment: str = ""
    source_repository_uri: str = ""
    source_repository_digest: str = ""
    source_repository_ref: str = ""
    source_repository_id: str = ""
    source_repository_owner_id: str = ""
    build_config_uri: str = ""
    build_trigger: str = ""
    run_invocation_uri: str = ""
    source_repository_visibility: str = ""

    @property
    def workflow_path(self) -> str:
        """`.github/workflows/release.yml` from the build config URI (`<repo URI>/<path>@<ref>`)."""
        uri = self.build_config_uri.split("@", 1)[0]
        prefix = self.source_repository_uri.rstrip("/") + "/"
        return uri[len(prefix) :] if self.source_repository_uri and uri.startswith(prefix) else ""


@dataclass(frozen=True)
class Verified:
    """One bundle of an attestations document, as the verifier judged it."""

    predicate_type: str
    verified: bool
    error: str = ""
    statement: Mapping[str, Any] | None = None  # the DSSE payload the signature covers (verified only)
    certificate: bytes = b""  # the leaf certificate (DER) the verifier chained to Fulcio
    keyid: str = ""  # npm's publish attestations: the registry key that signed
    log_index: str = ""
    integrated_time: str = ""

    @property
    def claims(self) -> Claims | None:
        return claims(self.certificate) if self.certificate else None


@dataclass(frozen=True)
class TrustRoot:
    """Where the shipped trust root came from, and how old it is."""

    taken: str
    how: str
    sigstore_tuf: str
    npm: str
    tuf_root_version: int
    tuf_root_expires: str

    def age_days(self, now: dt.datetime | None = None) -> int | None:
        taken = _time(self.taken)
        if taken is None:
            return None
        return max(0, ((now or dt.datetime.now(dt.UTC)) - taken).days)

    def expired(self, now: dt.datetime | None = None) -> bool:
        expires = _time(self.tuf_root_expires)
        return expires is not None and (now or dt.datetime.now(dt.UTC)) > expires

    def describe(self, now: dt.datetime | None = None) -> str:
        age = self.age_days(now)
        text = (
            f"trust root taken {self.taken[:10]} ({'?' if age is None else age} days ago) from @sigstore/tuf "
            f"{self.sigstore_tuf} ({self.how}; TUF root v{self.tuf_root_version}, expires {self.tuf_root_expires[:10]})"
        )
        if self.expired(now):
            text += f"; its TUF metadata has expired: refresh it (`{REFRESH}`, docs/CONTAINER.md)"
        return text


def _time(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def trust_root() -> TrustRoot:
    """The shipped trust root's provenance (`trust/source.json`)."""
    try:
        doc = json.loads((TRUST_DIR / "source.json").read_text(encoding="utf-8"))
        root = doc.get("tuf_root") or {}
        return TrustRoot(
            str(doc.get("taken", "")),
            str(doc.get("how", "")),
            str(doc.get("sigstore_tuf", "")),
            str(doc.get("npm", "")),
            int(root.get("version", 0)),
            str(root.get("expires", "")),
        )
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise VerifierError(
            f"The provenance verifier's trust root ({TRUST_DIR}) cannot be read ({exc})",
            f"Reinstall the action, or refresh the trust root (`{REFRESH}`)",
        ) from exc


def modules_dir(env: Mapping[str, str]) -> Path:
    """The pinned verifier's node_modules: the image's, always, where it exists (a variable a step before the gate
    set must never swap the verifier); elsewhere (tests, a local checkout) the folder `MODULES_ENV` names."""
    if (DEFAULT_MODULES / "@sigstore" / "verify" / "package.json").is_file():
        return DEFAULT_MODULES
    given = env.get(MODULES_ENV, "")
    return Path(given).resolve() if given else DEFAULT_MODULES  # absolute: the child runs in VERIFIER_DIR


def verify(attestations: Sequence[Any], env: Mapping[str, str], timeout: float = TIMEOUT_SECONDS) -> list[Verified]:
    """Verify every bundle of an attestations document (`{"predicateType", "bundle"}` items), in order."""
    import shutil

    path = env.get("PATH") or os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    node = shutil.which("node", path=path)
    modules = modules_dir(env)
    remedy = (
        f"Install the pinned verifier: `npm ci --ignore-scripts` with {VERIFIER_DIR}/package.json and "
        f"package-lock.json, into the folder `{MODULES_ENV}` names (the image has it at {DEFAULT_MODULES})"
    )
    if node is None:
        raise VerifierError("Cannot verify provenance: `node` is not on PATH", remedy)
    if not (modules / "@sigstore" / "verify" / "package.json").is_file():
        raise VerifierError(f"Cannot verify provenance: the Sigstore verifier is not installed in {modules}", remedy)
    trust_root()  # readable, or a clear error
    payload = json.dumps({"attestations": list(attestations)})
    child = {"PATH": path, "LANG": "C.UTF-8"}  # no credentials, no NODE_OPTIONS, no npm config
    try:
        done = _run_with_input([node, str(VERIFIER_DIR / "verify.cjs"), str(modules)], payload, child, timeout)
    except TimeoutError as exc:
        raise VerifierError(f"The provenance verifier did not finish within {timeout:.0f} s", remedy) from exc
    except OSError as exc:
        raise VerifierError(f"The provenance verifier could not start ({exc})", remedy) from exc
    if done.returncode != 0:
        raise VerifierError(f"The provenance verifier failed (exit {done.returncode}): {done.stderr[-500:].strip()}")
    if len(done.stdout) > MAX_OUTPUT_CHARS:
        raise VerifierError("The provenance verifier's output is larger than expected")
    try:
        results = json.loads(done.stdout)["results"]
        if not isinstance(results, list) or len(results) != len(attestations):
            raise ValueError("one result per bundle expected")
        return [_verified(r) for r in results]
    except (ValueError, KeyError, TypeError) as exc:
        raise VerifierError(f"The provenance verifier's output is malformed ({exc})") from exc


def _run_with_input(argv: list[str], data: str, env: dict[str, str], timeout: float) -> proc.Completed:
    """`proc.run` with `data` on stdin (through a private temp file: no pipe to deadlock on)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+", encoding="utf-8") as fh:
        fh.write(data)
        fh.seek(0)
        child = subprocess.Popen(
            argv,
            cwd=VERIFIER_DIR,
            env=env,
            stdin=fh,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        try:
            stdout, stderr = child.communicate(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired as exc:
            proc.stop_group(child)
            raise TimeoutError from exc
        except BaseException:
            proc.stop_group(child)
            raise
    return proc.Completed(child.returncode, stdout, stderr)


def _verified(r: Any) -> Verified:
    if not isinstance(r, dict):
        raise TypeError("a result is not an object")
    ptype = str(r.get("predicateType") or "")
    if r.get("verified") is not True:
        return Verified(ptype, False, error=str(r.get("error") or "not verified")[:500])
    statement = json.loads(base64.b64decode(str(r.get("payload", "")), validate=True))
    if not isinstance(statement, dict):
        raise TypeError("the verified statement is not a JSON object")
    cert = r.get("certificate")
    try:
        der = base64.b64decode(cert, validate=True) if isinstance(cert, str) else b""
    except binascii.Error as exc:
        raise ValueError("the certificate is not base64") from exc
    return Verified(
        ptype,
        True,
        statement=statement,
        certificate=der,
        keyid=str(r.get("keyid") or ""),
        log_index=str(r.get("logIndex") or ""),
        integrated_time=str(r.get("integratedTime") or ""),
    )


def claims(der: bytes) -> Claims:
    """The Fulcio extensions of a certificate (DER); absent ones are empty."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    values: dict[str, str] = {}
    by_oid = {ext.oid.dotted_string: ext.value for ext in cert.extensions}
    for name, oid in CLAIM_OIDS.items():
        value = by_oid.get(oid)
        raw = getattr(value, "value", None)
        if isinstance(raw, bytes):
            values[name] = _der_utf8(raw)
    if not values.get("issuer"):
        legacy = getattr(by_oid.get(LEGACY_ISSUER), "value", None)
        if isinstance(legacy, bytes):
            values["issuer"] = legacy.decode("utf-8", "replace")
    return Claims(**values)


def _der_utf8(raw: bytes) -> str:
    """A DER UTF8String (tag 0x0c) -> str; anything else -> ''."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return ""
    length, offset = raw[1], 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or len(raw) < 2 + n:
            return ""
        length, offset = int.from_bytes(raw[2 : 2 + n], "big"), 2 + n
    if offset + length != len(raw):
        return ""
    return raw[offset:].decode("utf-8", "replace")
