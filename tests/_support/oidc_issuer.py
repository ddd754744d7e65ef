"""The GitHub Actions OIDC provider of the GitHub stand-in: the runner's ID-token endpoint and a JWKS.

`GET /_oidc/token?api-version=2.0&audience=A` with `Authorization: Bearer <request token>` answers
`{"count": 1, "value": JWT}` like the runner's endpoint (ACTIONS_ID_TOKEN_REQUEST_URL). The JWT is
RS256-signed with a key generated per server; `GET /_oidc/jwks` serves its public half (as
`https://token.actions.githubusercontent.com/.well-known/jwks` does). Claims come from
`issuer.claims` (set with `configure(...)`) plus iss/aud/iat/nbf/exp/jti at issue time.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

REQUEST_TOKEN = "oidc-request-" + "R" * 24  # what the runner gives as ACTIONS_ID_TOKEN_REQUEST_TOKEN


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


@dataclass
class OidcIssuer:
    """Issues ID tokens for one GitHub stand-in (issuer `<web url>/_services/token`, GHES style)."""

    issuer: str
    request_token: str = REQUEST_TOKEN
    claims: dict[str, Any] = field(default_factory=dict)
    issued: list[dict[str, Any]] = field(default_factory=list)  # claims of every token issued
    tokens: list[str] = field(default_factory=list)  # the JWTs themselves (to search for leaks)
    lifetime: int = 300
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    _key: rsa.RSAPrivateKey | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._key

    def configure(
        self,
        repository: str,
        sha: str,
        /,
        *,
        ref: str = "refs/heads/main",
        workflow: str = "release.yml",
        environment: str | None = None,
        runner_environment: str = "github-hosted",
        visibility: str = "public",
        event_name: str = "push",
        **extra: Any,
    ) -> dict[str, Any]:
        """The claims of this job's tokens, as GitHub writes them (`extra` overrides or adds any claim)."""
        owner = repository.split("/", 1)[0]
        workflow_ref = f"{repository}/.github/workflows/{workflow}@{ref}"
        sub = f"repo:{repository}:environment:{environment}" if environment else f"repo:{repository}:ref:{ref}"
        claims: dict[str, Any] = {
            "sub": sub,
            "repository": repository,
            "repository_owner": owner,
            "repository_owner_id": "1001",
            "repository_id": "2002",
            "repository_visibility": visibility,
            "ref": ref,
            "ref_type": "branch" if ref.startswith("refs/heads/") else "tag",
            "ref_protected": "true",
            "sha": sha,
            "workflow": "Release",
            "workflow_ref": workflow_ref,
            "workflow_sha": sha,
            "job_workflow_ref": workflow_ref,
            "job_workflow_sha": sha,
            "event_name": event_name,
            "run_id": "4242",
            "run_number": "7",
            "run_attempt": "1",
            "actor": "octocat",
            "actor_id": "3003",
            "runner_environment": runner_environment,
        }
        if environment:
            claims["environment"] = environment
        claims.update(extra)
        self.claims = {k: v for k, v in claims.items() if v is not None}
        return self.claims

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        """A JWT over `claims`, RS256 with this issuer's key."""
        head = header or {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(sig)}"

    def issue(self, audience: str) -> str:
        now = int(time.time())
        claims = {
            "jti": str(uuid.uuid4()),
            "aud": audience,
            **self.claims,
            "iss": self.issuer,
            "nbf": now - 5,
            "iat": now - 5,
            "exp": now + self.lifetime,
        }
        jwt = self.sign(claims)
        with self._lock:
            self.issued.append(claims)
            self.tokens.append(jwt)
        return jwt

    def jwks(self) -> dict[str, Any]:
        pub = self.key.public_key().public_numbers()
        key = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": _int_b64(pub.n), "e": _int_b64(pub.e)}
        return {"keys": [key]}

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        """(status, JSON body) for /_oidc/token and /_oidc/jwks."""
        if method == "GET" and path == "/_oidc/jwks":
            return 200, self.jwks()
        if method != "GET" or path != "/_oidc/token":
            return 404, {"message": "Not Found"}
        if headers.get("authorization", "") != f"Bearer {self.request_token}":
            return 401, {"message": "Unauthorized"}
        if not self.claims:
            return 500, {"message": "the test did not configure the OIDC claims (issuer.configure(...))"}
        audience = query.get("audience") or "https://github.com/" + str(self.claims.get("repository_owner", ""))
        return 200, {"count": 1, "value": self.issue(audience)}


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any] | None:
    """The claims of an RS256 JWT whose signature verifies against `jwks`, else None (what a registry does)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        header = json.loads(b64url_decode(head_b64))
        claims = json.loads(b64url_decode(claims_b64))
        sig = b64url_decode(sig_b64)
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(claims, dict):
        return None
    for key in jwks.get("keys", []):
        if key.get("kid") != header.get("kid"):
            continue
        numbers = RSAPublicNumbers(
            int.from_bytes(b64url_decode(key["e"]), "big"), int.from_bytes(b64url_decode(key["n"]), "big")
        )
        try:
            numbers.public_key().verify(sig, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return None
        return claims
    return None
