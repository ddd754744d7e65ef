"""How the run reaches the network: direct, or through the proxy and CA bundle the trusted policy names.

Self-hosted runners behind a corporate proxy need one (issue 21): `network.https-proxy`,
`network.no-proxy` and `network.ca-bundle` (+ `ca-bundle-sha256`) of the policy. Nothing of it comes from
the environment: HTTP sessions never read HTTPS_PROXY/REQUESTS_CA_BUNDLE (`trust_env = False`), npm gets the
settings in a config file the gate wrote. The CA bundle is read once, checked against the sha256 the policy
pins (a build step cannot swap the file), and held in memory; each user writes its own private copy.

Credentials only travel inside a CONNECT tunnel: a request that carries one to a plain `http://` URL through
the proxy is refused (`budget.BoundedAdapter`), and npm publishes through a proxy only to an `https://` registry.

In publish mode a proxy or CA variable of the job's environment is accepted only when it says exactly what the
policy says (`excused`); `hostenv` refuses every other one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gatekeeper.errors import ConfigError

#: Environment variables naming a proxy (compared upper-cased) and a CA bundle file.
PROXY_VARS = frozenset({"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"})
NO_PROXY_VARS = frozenset({"NO_PROXY"})
CA_VARS = frozenset({"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"})
ENV_VARS = PROXY_VARS | NO_PROXY_VARS | CA_VARS
#: Largest CA bundle read (a system bundle is about 220 KB).
MAX_CA_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Route:
    """The proxy (`http://host:port`, "" for none), the hosts reached without it, and the CA bundle's bytes
    (PEM; None: the default roots) with the path the policy gave for it."""

    proxy: str = ""
    no_proxy: tuple[str, ...] = ()
    ca_pem: bytes | None = None
    ca_path: str = ""

    @property
    def direct(self) -> bool:
        return not self.proxy and self.ca_pem is None

    def proxy_for(self, url: str) -> str:
        """The proxy a request to `url` goes through ("" when none)."""
        if not self.proxy:
            return ""
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        for entry in self.no_proxy:
            entry = entry.lower().lstrip("*").rstrip(".")
            if entry.startswith("."):
                if host.endswith(entry) or host == entry[1:]:
                    return ""
            elif host == entry:
                return ""
        return self.proxy

    def write_ca(self, directory: Path) -> Path | None:
        """A private copy of the CA bundle in `directory` (None when the policy names none)."""
        if self.ca_pem is None:
            return None
        path = directory / "gatekeeper-ca.pem"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.ca_pem)
        return path

    def npmrc_lines(self, directory: Path) -> list[str]:
        """npm's settings for this route (its config file's lines): `proxy`, `https-proxy`, `noproxy`, `cafile`."""
        lines = []
        if self.proxy:
            lines += [f"proxy={self.proxy}", f"https-proxy={self.proxy}"]
            if self.no_proxy:
                lines.append(f"noproxy={','.join(self.no_proxy)}")
        ca = self.write_ca(directory)
        if ca is not None:
            lines.append(f"cafile={ca}")
        return lines

    def excused(self, name: str, value: str, workspace: Path) -> bool:
        """Does the environment's `name=value` say exactly what this route (the policy) says?"""
        upper = name.upper()
        if upper in PROXY_VARS:
            return bool(self.proxy) and value.strip().rstrip("/") == self.proxy
        if upper in NO_PROXY_VARS:
            given = {h.strip().lower() for h in value.split(",") if h.strip()}
            return bool(self.proxy) and given == {h.lower() for h in self.no_proxy}
        if upper in CA_VARS:
            if self.ca_pem is None or not value:
                return False
            return value == self.ca_path or Path(value) == _resolve(self.ca_path, workspace)
        return False


def settings(net: Any) -> tuple[str, tuple[str, ...], str, str]:
    """The route-deciding keys of a policy's `network:` (a `trust.policy.NetworkPolicy`): two policies route alike
    when these are equal."""
    return (net.https_proxy, tuple(net.no_proxy), net.ca_bundle, net.ca_bundle_sha256)


def _resolve(path: str, workspace: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else workspace / p


def from_policy(net: Any, workspace: Path) -> Route:
    """The route a policy names; the CA bundle is read here and must hash to `ca-bundle-sha256`."""
    ca_pem = None
    if net.ca_bundle:
        path = _resolve(net.ca_bundle, workspace)
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_CA_BYTES + 1)
        except OSError as exc:
            raise ConfigError(
                f"The policy's `network.ca-bundle` ({net.ca_bundle}) cannot be read ({type(exc).__name__})",
                "Give the path of the CA bundle file as the job sees it (absolute, or relative to the workspace)",
            ) from None
        if len(data) > MAX_CA_BYTES:
            raise ConfigError(f"`network.ca-bundle` ({net.ca_bundle}) is larger than 4 MiB", "Name a CA bundle file")
        digest = hashlib.sha256(data).hexdigest()
        if digest != net.ca_bundle_sha256:
            raise ConfigError(
                f"The CA bundle at `network.ca-bundle` ({net.ca_bundle}) has sha256 {digest}, not the "
                f"`network.ca-bundle-sha256` the policy pins ({net.ca_bundle_sha256}): it is not the bundle the "
                "policy trusts",
                "If the bundle changed on purpose (a renewed corporate CA), update ca-bundle-sha256 in a reviewed "
                "release; otherwise find out what rewrote the file",
            )
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise ConfigError(f"`network.ca-bundle` ({net.ca_bundle}) holds no PEM certificate", "Name a PEM file")
        ca_pem = data
    return Route(net.https_proxy.rstrip("/"), tuple(net.no_proxy), ca_pem, net.ca_bundle)


def check_proxy_url(value: str) -> str | None:
    """What is wrong with a `network.https-proxy` value (None: fine)."""
    parts = urlsplit(value)
    if parts.scheme != "http":
        return "must be an http:// URL (requests to https:// registries are tunnelled through it with CONNECT)"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user or password (the policy is committed; it holds no secret)"
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be http://host:port"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "has an invalid port"
    return None
