"""Thin, typed adapter over the npm registry HTTP API (requests).

Faults (network, 5xx past retries, malformed JSON) raise `RegistryError`:
the caller fails closed. 404 is an answer, not a fault, where it has a meaning.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from .. import __version__
from ..errors import RegistryError
from ..secret import Secret

USER_AGENT = f"npm-gatekeeper/{__version__}"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RegistryClient:
    """A registry at `base_url`, optionally authenticated with a bearer token."""

    def __init__(
        self,
        base_url: str,
        token: Secret | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 1.0,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.trust_env = True

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _auth(self, auth: bool) -> dict[str, str]:
        if auth and self.token:
            return {"Authorization": f"Bearer {self.token.reveal()}"}
        return {}

    def _get(
        self, url: str, *, auth: bool = True, accept: str = "application/json", stream: bool = False
    ) -> requests.Response:
        headers = {"Accept": accept, **self._auth(auth and self._same_host(url))}
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
                resp = self._session.get(
                    url, headers=headers, timeout=self.timeout, stream=stream, allow_redirects=True
                )
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {self._clean(str(exc))}"
            else:
                if resp.status_code not in RETRY_STATUSES:
                    return resp
                last = f"HTTP {resp.status_code}"
                resp.close()
            if attempt < self.retries:
                time.sleep(self.backoff * (2**attempt))
        raise RegistryError(
            f"The npm registry did not answer GET {self._safe(url)} ({last}, after {self.retries + 1} attempts)",
            "Check that the registry is up and reachable, then re-run the job",
        )

    def _same_host(self, url: str) -> bool:
        return urlsplit(url).netloc == self.host

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
        resp = self._get(self.url(escape_name(name)))
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise RegistryError(
                f"GET packument of {name} answered HTTP {resp.status_code}", "Check the registry and the token"
            )
        data = self._json(resp, f"the packument of {name}")
        if not isinstance(data, dict) or not isinstance(data.get("versions", {}), dict):
            raise RegistryError(f"The packument of {name} is malformed", "Check the `registry` input")
        return data

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

    def download(self, url: str, max_bytes: int) -> bytes:
        """Download a tarball, refusing more than `max_bytes`."""
        resp = self._get(url, accept="application/octet-stream", stream=True)
        with resp:
            if resp.status_code != 200:
                raise RegistryError(
                    f"Downloading {self._safe(url)} answered HTTP {resp.status_code}", "Check the registry"
                )
            chunks: list[bytes] = []
            total = 0
            try:
                for chunk in resp.iter_content(64 * 1024):
                    total += len(chunk)
                    if total > max_bytes:
                        raise RegistryError(
                            f"The tarball at {self._safe(url)} is larger than {max_bytes} bytes",
                            "Raise diff.limits.max-compressed-bytes in the policy if this is expected",
                        )
                    chunks.append(chunk)
            except requests.RequestException as exc:
                raise RegistryError(
                    f"Downloading {self._safe(url)} failed ({type(exc).__name__})", "Re-run the job"
                ) from exc
        return b"".join(chunks)


def escape_name(name: str) -> str:
    """`@scope/name` -> `@scope%2fname` as the registry expects."""
    if name.startswith("@"):
        return "@" + quote(name[1:], safe="")
    return quote(name, safe="")
