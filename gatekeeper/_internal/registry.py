"""Thin, typed adapter over the npm registry HTTP API (requests).

Faults (network, 5xx past retries, malformed JSON) raise `RegistryError`; a request past its
wall-clock budget or the run's deadline, or an answer past its byte budget, raises
`budget.BudgetExceeded`: the caller fails closed. 404 is an answer, not a fault, where it has a
meaning. The token goes only to the registry's own origin (scheme, host, port): never to a
redirect elsewhere, a `dist.tarball` on another host, or an `http://` URL of an https registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from gatekeeper import __version__
from gatekeeper._internal import budget, neterrors
from gatekeeper._internal.route import Route
from gatekeeper.errors import RegistryError
from gatekeeper.secret import Secret

USER_AGENT = f"npm-gatekeeper/{__version__}"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Registries that always serve signing keys (signatures are required there): (scheme, host, port).
PUBLIC_REGISTRY_ORIGINS = frozenset({("https", "registry.npmjs.org", 443)})
#: Tests only: comma-separated registry URLs to treat as the public registry too. It can only add
#: requirements (signatures), never remove one, so it cannot weaken a production run.
PUBLIC_ALIASES_ENV = "GATEKEEPER_TREAT_AS_PUBLIC_REGISTRY"
#: Wall-clock budget of one tarball download (still bounded by the run's deadline).
DOWNLOAD_SECONDS = 300.0


@dataclass(frozen=True)
class ByteLimits:
    """Byte budgets (decoded) of registry answers; the policy's `network:` section sets them."""

    packument: int = 64 * 1024 * 1024
    json: int = 4 * 1024 * 1024  # whoami, tokens pages, keys, any other JSON answer


MAX_ATTESTATIONS_BYTES = 4 * 1024 * 1024


class RegistryClient:
    """A registry at `base_url`, optionally authenticated with a bearer token."""

    def __init__(
        self,
        base_url: str,
        token: Secret | None = None,
        *,
        timeout: float = budget.DEFAULT_REQUEST_SECONDS,
        retries: int = 3,
        backoff: float = 1.0,
        deadline: budget.Deadline | None = None,
        limits: ByteLimits | None = None,
        public_aliases: Sequence[str] = (),
        auth_scheme: str = "Bearer",
        route: Route | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.token = token
        #: "Bearer" (a token) or "Basic" (npm's `_auth` / username + _password), only to `origin`.
        self.auth_scheme = auth_scheme
        self.timeout = timeout
        self.retries = min(max(retries, 0), 10)
        self.backoff = backoff
        self.deadline = deadline or budget.Deadline()
        self.limits = limits or ByteLimits()
        self.origin = budget.origin(self.base_url)
        aliases = {budget.origin(a.strip()) for a in public_aliases if a.strip()}
        #: The public registry (or a test alias of it): signatures are required.
        self.public = self.origin in PUBLIC_REGISTRY_ORIGINS or self.origin in aliases
        self.budget = budget.Limits(
            "The npm registry",
            self.deadline,
            timeout,
            self.limits.json,
            allowed_origin=self.origin,
            route=route or Route(),
        )
        self.route = route or Route()
        self._session = budget.bounded_session(self.budget)
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.trust_env = False  # no proxy/CA bundle from the environment (issue 21)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def session(self) -> requests.Session:
        """The bounded session (for other registry calls, e.g. an OIDC exchange): same budgets, same origin rule."""
        return self._session

    def _auth(self, auth: bool) -> dict[str, str]:
        if auth and self.token:
            return {"Authorization": f"{self.auth_scheme} {self.token.reveal()}"}
        return {}

    def _get(
        self,
        url: str,
        *,
        auth: bool = True,
        accept: str = "application/json",
        stream: bool = False,
        max_bytes: int | None = None,
        request_seconds: float | None = None,
        offsite: bool = False,
        headers_extra: dict[str, str] | None = None,
    ) -> requests.Response:
        """GET with retries (capped, and never sleeping past the run's deadline); the body is read, bounded.

        API answers must come from the registry's own origin: a redirect elsewhere is a fault (the
        request there went without the token). `offsite=True` (tarballs, which CDNs may serve) allows it."""
        headers = {"Accept": accept, **(headers_extra or {}), **self._auth(auth and self.same_origin(url))}
        last: str = ""
        answered = False
        what = f"GET {self._safe(url)}"
        with budget.call_scope(
            what, max_requests=(self.retries + 1) * 6, max_bytes=max_bytes, request_seconds=request_seconds
        ):
            for attempt in range(self.retries + 1):
                try:
                    resp = self._session.get(url, headers=headers, allow_redirects=True)
                except requests.RequestException as exc:
                    last, answered = self._clean(neterrors.reason(exc, self.timeout)), False
                else:
                    if not offsite and resp.history and not self.same_origin(resp.url):
                        raise RegistryError(
                            f"The npm registry redirected {what} to {self._safe(resp.url)}, outside the registry "
                            "(that request went without the token)",
                            "Check the `registry` input and any proxy in between",
                        )
                    if resp.status_code not in RETRY_STATUSES:
                        return resp
                    last, answered = f"it answered HTTP {resp.status_code}", True
                    resp.close()
                if attempt < self.retries and not budget.sleep_within(self.deadline, self.backoff * (2**attempt)):
                    last += f"; {self.deadline.describe()} left no time for another attempt"
                    break
        tries = "1 attempt" if attempt == 0 else f"{attempt + 1} attempts"
        failed = "kept failing" if answered else "could not be reached"
        raise RegistryError(
            f"The npm registry at {self._safe(self.base_url)} {failed}: {last} ({what}, after {tries})",
            f"Check that the registry URL is right and the registry is up and reachable, then {neterrors.try_again()}",
        )

    def same_origin(self, url: str) -> bool:
        """True when `url` has the registry's scheme, host and port (where the token may go)."""
        return budget.origin(url) == self.origin

    def _same_host(self, url: str) -> bool:
        return self.same_origin(url)

    def _clean(self, text: str) -> str:
        return self.token.redact(text) if self.token else text

    @staticmethod
    def _safe(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}{parts.path}"

    def _json(self, resp: requests.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError as exc:
            raise RegistryError(
                f"The npm registry answered {what} with malformed JSON (HTTP {resp.status_code})",
                "Check the `registry` input points at an npm registry",
            ) from exc

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    def whoami(self) -> str | None:
        """The token's username, or None when the registry rejects the token."""
        resp = self._get(self.url("-/whoami"))
        if resp.status_code in (401, 403):
            return None
        if resp.status_code != 200:
            raise RegistryError(f"GET /-/whoami answered HTTP {resp.status_code}", "Check the registry and the token")
        data = self._json(resp, "/-/whoami")
        name = data.get("username") if isinstance(data, dict) else None
        return name if isinstance(name, str) and name else None

    def packument(self, name: str) -> dict[str, Any] | None:
        """The full packument of `name`, or None when the package does not exist."""
        return self.packument_if_changed(name, None)[0]  # no ETag: an unconditional GET

    def packument_if_changed(self, name: str, etag: str | None) -> tuple[dict[str, Any] | None, str | None, bool]:
        """(packument or None, its ETag, not_modified): a conditional GET when an ETag is known.

        `not_modified` True means the registry answered 304: the caller's copy for `etag` is current."""
        extra = {"If-None-Match": etag} if etag else None
        resp = self._get(self.url(escape_name(name)), headers_extra=extra, max_bytes=self.limits.packument)
        if resp.status_code == 304 and etag:
            return None, etag, True
        if resp.status_code == 404:
            return None, None, False
        if resp.status_code != 200:
            raise RegistryError(
                f"GET packument of {name} answered HTTP {resp.status_code}", "Check the registry and the token"
            )
        data = self._json(resp, f"the packument of {name}")
        if not isinstance(data, dict) or not isinstance(data.get("versions", {}), dict):
            raise RegistryError(f"The packument of {name} is malformed", "Check the `registry` input")
        return data, resp.headers.get("ETag"), False

    def tokens(self) -> list[dict[str, Any]] | None:
        """The account's tokens, or None when this token may not list them (unknown, not a pass)."""
        out: list[dict[str, Any]] = []
        url: str | None = self.url("-/npm/v1/tokens?perPage=100")
        pages = 0
        while url and pages < 50:
            pages += 1
            resp = self._get(url)
            if resp.status_code in (401, 403, 404, 405, 501):
                return None
            data, objects = self._objects(resp, "/-/npm/v1/tokens", "objects")
            out.extend(objects)
            nxt = (data.get("urls") or {}).get("next") if isinstance(data.get("urls"), dict) else None
            url = self.url(nxt) if isinstance(nxt, str) and nxt else None
        return out

    def keys(self) -> list[dict[str, Any]] | None:
        """Registry signing keys, or None when the registry serves none (private registries)."""
        resp = self._get(self.url("-/npm/v1/keys"), auth=False)
        if resp.status_code in (404, 405, 501):
            return None
        return self._objects(resp, "/-/npm/v1/keys", "keys")[1]

    def _objects(self, resp: requests.Response, path: str, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(document, its list `key` of objects) from a 200 answer; anything else is a fault."""
        if resp.status_code != 200:
            raise RegistryError(f"GET {path} answered HTTP {resp.status_code}", "Check the registry")
        data = self._json(resp, path)
        items = data.get(key) if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise RegistryError(f"The registry's answer to GET {path} is malformed", "Check the `registry` input")
        return data, [o for o in items if isinstance(o, dict)]

    def oidc_exchange(self, name: str, id_token: Secret) -> ExchangeAnswer:
        """POST /-/npm/v1/oidc/token/exchange/package/<name> with the ID token as Bearer.

        Through the bounded session: the ID token goes to the registry's own origin only (never a
        redirect), within the run's deadline. A refusal (4xx) is an answer with the registry's status
        and message; faults raise RegistryError (or BudgetExceeded)."""
        path = f"-/npm/v1/oidc/token/exchange/package/{escape_name(name)}"
        url = self.url(path)
        headers = {"Accept": "application/json", "Authorization": f"Bearer {id_token.reveal()}"}
        what = f"POST /{path}"
        last = ""
        attempt = 0
        with budget.call_scope(what, max_requests=self.retries + 1):
            for attempt in range(self.retries + 1):
                try:
                    resp = self._session.post(url, headers=headers, allow_redirects=False)
                except requests.RequestException as exc:
                    last = f"{type(exc).__name__}: {id_token.redact(self._clean(str(exc)))[:300]}"
                else:
                    if resp.status_code not in RETRY_STATUSES:
                        answer = _exchange_answer(resp)
                        return replace(answer, message=_without_jwt(answer.message, id_token))
                    last = f"HTTP {resp.status_code}"
                    resp.close()
                if attempt < self.retries and not budget.sleep_within(self.deadline, self.backoff * (2**attempt)):
                    last += f"; {self.deadline.describe()} left no time for another attempt"
                    break
        raise RegistryError(
            f"The npm registry did not answer the OIDC token exchange {what} ({last}, after {attempt + 1} attempts)",
            "Check that the registry is up and reachable, then re-run the job",
        )

    def attestations(self, name: str, version: str, url: str | None = None) -> dict[str, Any] | None:
        """The attestations document of `name@version` (the path of the packument's `dist.attestations.url`,
        always on this registry's host, as pacote does), or None when the registry has none (404)."""
        path = urlsplit(url).path if url else f"/-/npm/v1/attestations/{escape_name(name)}@{version}"
        resp = self._get(self.url(path), auth=False, max_bytes=MAX_ATTESTATIONS_BYTES)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise RegistryError(
                f"GET the attestations of {name}@{version} answered HTTP {resp.status_code}", "Check the registry"
            )
        data = self._json(resp, f"the attestations of {name}@{version}")
        if not isinstance(data, dict) or not isinstance(data.get("attestations"), list):
            raise RegistryError(f"The attestations of {name}@{version} are malformed", "Check the `registry` input")
        return data

    def download(self, url: str, max_bytes: int) -> bytes:
        """Download a tarball, refusing more than `max_bytes`."""
        resp = self._get(
            url,
            accept="application/octet-stream",
            max_bytes=max_bytes,
            offsite=True,
            request_seconds=max(self.timeout, DOWNLOAD_SECONDS),
        )
        if resp.status_code != 200:
            raise RegistryError(f"Downloading {self._safe(url)} answered HTTP {resp.status_code}", "Check the registry")
        return resp.content


@dataclass(frozen=True)
class ExchangeAnswer:
    """The registry's answer to an OIDC token exchange: a token (201/200) or a refusal."""

    status: int
    token: Secret | None
    message: str


def _without_jwt(text: str, jwt: Secret) -> str:
    """The registry's message with the ID token and each of its parts (header, claims, signature) removed: a
    refusal that echoes it goes into findings, the summary and the report."""
    text = jwt.redact(text)
    for part in jwt.reveal().split("."):
        if len(part) >= 16:
            text = text.replace(part, "***")
    return text


def _exchange_answer(resp: requests.Response) -> ExchangeAnswer:
    try:
        data = resp.json() if len(resp.content) <= 64 * 1024 else None
    except ValueError:
        data = None
    doc: dict[str, Any] = data if isinstance(data, dict) else {}
    token = doc.get("token")
    if resp.status_code in (200, 201) and isinstance(token, str) and token.strip():
        return ExchangeAnswer(resp.status_code, Secret(token.strip()), "")
    message = doc.get("message") or doc.get("error") or ""
    if not isinstance(message, str) or not message:
        message = "the answer carried no token" if resp.status_code in (200, 201) else "no message"
    return ExchangeAnswer(resp.status_code, None, " ".join(message.split())[:500])


def escape_name(name: str) -> str:
    """`@scope/name` -> `@scope%2fname` as the registry expects."""
    if name.startswith("@"):
        return "@" + quote(name[1:], safe="")
    return quote(name, safe="")
