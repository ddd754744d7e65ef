"""GitHub Actions OIDC: request this job's ID token from the runner and read its claims.

The ID token comes from `$ACTIONS_ID_TOKEN_REQUEST_URL&audience=...` with
`Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` (answer `{"value": JWT}`). The JWT's
structure and claims are checked here; its RS256 signature is not: the token comes straight from
the runner over the channel the runner authenticates, and the registry verifies the signature
against the issuer's keys at the exchange, which is the step that grants anything (see README,
"Trusted publishing"). Faults raise `OidcError` (fail closed).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from gatekeeper import __version__
from gatekeeper._internal import budget
from gatekeeper._internal.route import Route
from gatekeeper.errors import OidcError
from gatekeeper.secret import Secret

URL_VAR = "ACTIONS_ID_TOKEN_REQUEST_URL"
TOKEN_VAR = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
MAX_JWT_BYTES = 16 * 1024
ALGORITHMS = frozenset({"RS256"})
#: Seconds of clock skew tolerated on iat/nbf/exp.
SKEW = 60
PERMISSION_HINT = "Grant the job `permissions: id-token: write` (and run on GitHub Actions)"


@dataclass(frozen=True)
class IdToken:
    """A decoded ID token: the JWT itself (secret), its header and its claims."""

    jwt: Secret
    header: Mapping[str, Any]
    claims: Mapping[str, Any]


def available(env: Mapping[str, str]) -> bool:
    """Whether this job may request an ID token (`id-token: write`)."""
    return bool(env.get(URL_VAR)) and bool(env.get(TOKEN_VAR))


def audience_for(registry: str) -> str:
    """`npm:<registry host>`, as npm asks for it (host name, no port)."""
    return f"npm:{urlsplit(registry).hostname or ''}"


def expected_issuer(env: Mapping[str, str]) -> str:
    """github.com's issuer, or `<server>/_services/token` on GitHub Enterprise Server."""
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    return GITHUB_ISSUER if server == "https://github.com" else f"{server}/_services/token"


def _with_audience(url: str, audience: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "audience"]
    query.append(("audience", audience))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def request_id_token(
    env: Mapping[str, str],
    audience: str,
    *,
    timeout: float = 30.0,
    retries: int = 2,
    deadline: budget.Deadline | None = None,
    route: Route | None = None,
) -> IdToken:
    """Ask the runner for this job's ID token with `audience`, and decode it (bounded by the run's deadline;
    the request token goes to the endpoint's own origin only)."""
    if not available(env):
        raise OidcError(f"{URL_VAR} / {TOKEN_VAR} are not set, so no OIDC ID token can be requested", PERMISSION_HINT)
    request_token = Secret(env[TOKEN_VAR])
    url = _with_audience(env[URL_VAR], audience)
    if urlsplit(url).scheme not in ("https", "http"):
        raise OidcError(f"{URL_VAR} is not an http(s) URL", "Run the action on GitHub Actions")
    headers = {
        "Accept": "application/json",
        "Authorization": f"Bearer {request_token.reveal()}",
        "User-Agent": f"npm-gatekeeper/{__version__}",
    }
    host = urlsplit(url).netloc
    deadline = deadline or budget.Deadline()
    limits = budget.Limits(
        "The runner's ID-token endpoint",
        deadline,
        timeout,
        MAX_JWT_BYTES * 2,
        allowed_origin=budget.origin(url),
        route=route or Route(),
    )
    session = budget.bounded_session(limits)
    last = ""
    for attempt in range(retries + 1):
        try:
            resp = session.get(url, headers=headers, allow_redirects=False)
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}"
        else:
            with resp:
                if resp.status_code in (429, 500, 502, 503, 504):
                    last = f"HTTP {resp.status_code}"
                elif resp.status_code != 200:
                    raise OidcError(
                        f"The runner's ID-token endpoint ({host}) answered HTTP {resp.status_code}", PERMISSION_HINT
                    )
                else:
                    if len(resp.content) > MAX_JWT_BYTES * 2:
                        raise OidcError("The runner's ID-token answer is too large", "Re-run the job")
                    try:
                        data = resp.json()
                    except ValueError:
                        data = None
                    value = data.get("value") if isinstance(data, dict) else None
                    if not isinstance(value, str) or not value:
                        raise OidcError("The runner's ID-token answer has no `value`", "Re-run the job")
                    return decode(value)
        if attempt < retries and not budget.sleep_within(deadline, 0.5 * (2**attempt)):
            break
    raise OidcError(
        f"The runner's ID-token endpoint ({host}) did not answer ({last}, after {retries + 1} attempts)",
        "Re-run the job; if it persists, check https://www.githubstatus.com",
    )


def _b64url(part: str) -> bytes:
    if not part or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def decode(token: str) -> IdToken:
    """Check a JWT's structure (three base64url parts, JSON header and claims, RS256) and decode it."""
    if len(token) > MAX_JWT_BYTES:
        raise OidcError("The OIDC ID token is larger than 16 KiB", "Re-run the job")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise OidcError("The OIDC ID token is not a JWT (expected three dot-separated parts)", "Re-run the job")
    try:
        header = json.loads(_b64url(parts[0]))
        claims = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise OidcError("The OIDC ID token is malformed (bad base64url or JSON)", "Re-run the job") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise OidcError("The OIDC ID token's header or claims are not JSON objects", "Re-run the job")
    if header.get("alg") not in ALGORITHMS or not signature:
        raise OidcError(
            f"The OIDC ID token is not signed with RS256 (alg {str(header.get('alg'))[:20]!r})", "Re-run the job"
        )
    return IdToken(Secret(token.strip()), header, claims)


def time_problems(claims: Mapping[str, Any], now: float | None = None) -> list[str]:
    """What is wrong with exp/nbf/iat (empty: valid now)."""
    now = time.time() if now is None else now
    out: list[str] = []
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        out.append("it has no numeric `exp`")
    elif exp < now - SKEW:
        out.append("it has expired")
    for key in ("nbf", "iat"):
        value = claims.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > now + SKEW:
            out.append(f"its `{key}` is in the future")
    return out
