"""Issue 21, the one exception of item 2: a proxy and CA bundle the TRUSTED policy names (self-hosted runners
behind a corporate proxy).

Through the entrypoint, against Verdaccio and the GitHub stand-in, each behind a TLS front with its own test CA
(`FaultProxy(tls=True)`), and a forward proxy on loopback that tunnels CONNECT and records what it could read
(`TunnelProxy`). The policy names the proxy and the two CAs (a file committed in the workspace, pinned by
sha256). Then:
- the trusted policy's route is used for every request (the gate's and npm's) and the proxy only ever sees
  CONNECT: no Authorization header, no clear-text request; the package is published;
- the same HTTPS_PROXY set by the job as well is accepted when it says exactly what the policy says;
- a proxy only the environment names, or only the released commit's policy (not the last release's), is
  refused in publish mode: exit 2, nothing published.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._support.faultproxy import FaultProxy
from tests._support.github_server import GitHubServer
from tests._support.tunnelproxy import TunnelProxy
from tests._support.verdaccio import Verdaccio
from tests.test_e2e_publish import Release, release_factory
from tests.test_e2e_trust import _commit, _manifest, _released

POLICY = ".github/npm-gatekeeper.yml"


@pytest.fixture
def fronts(verdaccio: Verdaccio, github_server: GitHubServer) -> Iterator[tuple[FaultProxy, FaultProxy]]:
    reg = FaultProxy(verdaccio.url, tls=True).start()
    gh = FaultProxy(github_server.url, tls=True).start()
    try:
        yield reg, gh
    finally:
        reg.stop()
        gh.stop()


@pytest.fixture
def tunnel() -> Iterator[TunnelProxy]:
    with TunnelProxy() as proxy:
        yield proxy


@pytest.fixture
def release(verdaccio: Verdaccio, github_server: GitHubServer, package_repo: Callable[..., Path], tmp_path: Path):
    return release_factory(verdaccio, github_server, package_repo, tmp_path, lint_status=False)


@pytest.fixture
def ca(fronts: tuple[FaultProxy, FaultProxy], tmp_path: Path) -> Path:
    """The runner's CA bundle (outside the workspace, as a self-hosted runner's would be): both fronts' CAs."""
    reg, gh = fronts
    assert reg.ca_file is not None and gh.ca_file is not None
    path = tmp_path / "corp-ca.pem"
    path.write_bytes(reg.ca_file.read_bytes() + gh.ca_file.read_bytes())
    return path


def _route_policy(proxy: str, ca: Path) -> str:
    return (
        f"network:\n  https-proxy: {proxy}\n  ca-bundle: {ca}\n"
        f"  ca-bundle-sha256: '{hashlib.sha256(ca.read_bytes()).hexdigest()}'\n"
    )


def _through(rel: Release, fronts: tuple[FaultProxy, FaultProxy], env: dict[str, str] | None = None, **kw):
    reg, gh = fronts
    run_env = {**getattr(rel, "run_env", {}), "GITHUB_API_URL": gh.url.rstrip("/"), **(env or {})}
    return rel.run(env=run_env, inputs={"registry": reg.url, **kw.pop("inputs", {})}, **kw)


def _nothing_readable(tunnel: TunnelProxy, secrets: list[str]) -> None:
    """The proxy saw CONNECT requests only, each followed by a TLS handshake; no credential in anything it read."""
    assert tunnel.seen, "the proxy was used"
    assert {s.method for s in tunnel.seen} == {"CONNECT"}, [(s.method, s.target) for s in tunnel.seen]
    assert all(t.first_byte == 0x16 for t in tunnel.tunnels if t.bytes_up), "a tunnel carried no TLS"
    read = json.dumps([s.__dict__ for s in tunnel.seen])
    assert "authorization" not in read.lower()
    for secret in secrets:
        assert secret not in read


def test_the_trusted_policys_proxy_and_ca_carry_every_request_and_see_no_token(
    release, fronts, ca: Path, tunnel: TunnelProxy
) -> None:
    rel: Release = release(extra_files={POLICY: _route_policy(tunnel.url, ca)})
    result = _through(rel, fronts)  # a first release: this commit's policy is the trusted one
    assert result.returncode == 0, result.describe()
    assert result.outputs["published"] == "true"
    assert rel.versions() == ["1.0.0"]
    reg, gh = fronts
    targets = {t.target for t in tunnel.tunnels}
    assert f"127.0.0.1:{reg.port}" in targets and f"127.0.0.1:{gh.port}" in targets, targets
    # npm's upload went through the tunnel too: the registry front saw the PUT, the proxy only its CONNECT
    assert any(r.method == "PUT" and "authorization" in r.headers for r in reg.requests)
    _nothing_readable(tunnel, [rel.token, rel.login_token, rel.github.token or ""])


def test_the_same_proxy_in_the_jobs_environment_too_is_accepted(release, fronts, ca: Path, tunnel: TunnelProxy) -> None:
    rel: Release = release(extra_files={POLICY: _route_policy(tunnel.url, ca)})
    env = {"HTTPS_PROXY": tunnel.url, "http_proxy": tunnel.url + "/", "SSL_CERT_FILE": str(ca)}
    result = _through(rel, fronts, env)
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0"]
    _nothing_readable(tunnel, [rel.token, rel.login_token])


def test_a_proxy_only_the_environment_names_is_refused(release, fronts, ca: Path, tunnel: TunnelProxy) -> None:
    rel: Release = release(extra_files={POLICY: _route_policy(tunnel.url, ca)})
    other = TunnelProxy().start()
    try:
        result = _through(rel, fronts, {"HTTPS_PROXY": other.url})  # not what the policy names
    finally:
        other.stop()
    assert result.returncode == 2, result.describe()
    assert "`HTTPS_PROXY`" in result.stdout and "Refusing to publish" in result.stdout
    assert rel.versions() == []
    assert other.seen == [] and tunnel.seen == []  # refused before any request


def test_a_proxy_only_the_released_commits_policy_names_is_refused(
    release, fronts, ca: Path, tunnel: TunnelProxy
) -> None:
    rel: Release = release()
    _released(rel)  # 1.0.0, its policy names no route: the trusted policy of the next release
    files = {"package.json": _manifest(rel, "1.0.1"), POLICY: _route_policy(tunnel.url, ca)}
    _commit(rel, files, "route through my proxy")
    result = _through(rel, fronts, {"HTTPS_PROXY": tunnel.url})
    assert result.returncode == 2, result.describe()
    assert "not the trusted policy's" in result.stdout, result.describe()
    assert rel.versions() == ["1.0.0"]
    assert all(s.method == "CONNECT" for s in tunnel.seen)


def test_a_swapped_ca_bundle_stops_the_run(release, fronts, ca: Path, tunnel: TunnelProxy) -> None:
    rel: Release = release(extra_files={POLICY: _route_policy(tunnel.url, ca)})
    ca.write_bytes(ca.read_bytes() + b"\n")  # something rewrote it
    result = _through(rel, fronts)
    assert result.returncode == 2, result.describe()
    assert "ca-bundle-sha256" in result.stdout
    assert rel.versions() == [] and tunnel.seen == []
