"""OIDC preflight with readable failures (issue 21, item 4).

Before any ID token is requested or exchanged: npm >= 11.5.1 and Node >= 22.14 where the gate runs (the
Dockerfile's versions are kept in step here), no placeholder NODE_AUTH_TOKEN (actions/setup-node's
`registry-url` dummy), and the job a job of the calling workflow (npm's trusted publisher names the caller,
not a reusable workflow). End to end through the entrypoint with the GitHub stand-in's ID-token endpoint and
the npm front (tests/_support/npm_front.py) in front of Verdaccio.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.trust.trusted_publishing import MIN_NODE, MIN_NPM, PLACEHOLDER_TOKEN
from tests._support import semrel
from tests._support.github_server import GitHubServer
from tests._support.npm_front import EXCHANGE_PREFIX, NpmFront
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import assert_no_leak
from tests.test_e2e_oidc import front as _front_fixture  # noqa: F401  (registers test_e2e_oidc's npm front)
from tests.test_e2e_publish import REPO, Release, node22_path
from tests.test_e2e_publish import release as _release_fixture  # noqa: F401  (registers the `release` fixture)

ROOT = Path(__file__).resolve().parent.parent


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


def test_the_dockerfile_ships_npm_and_node_new_enough_for_trusted_publishing() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    npm = re.search(r"^ARG NPM_VERSION=(\d+\.\d+\.\d+)$", text, re.MULTILINE)
    node = re.search(r"node:(\d+)-bookworm-slim, Node (\d+\.\d+\.\d+)\)", text)
    assert npm and node, "the Dockerfile must state its npm version (ARG) and its base image's Node version"
    assert _version(npm.group(1)) >= MIN_NPM, f"npm {npm.group(1)} < {MIN_NPM}"
    assert _version(node.group(2)) >= MIN_NODE, f"Node {node.group(2)} < {MIN_NODE}"
    assert node.group(2).split(".")[0] == node.group(1)
    assert re.search(rf"^ARG BASE_IMAGE=docker\.io/library/node:{node.group(1)}-bookworm-slim@sha256:", text, re.M)


@pytest.mark.parametrize("value", ["XXXXX-XXXXX-XXXXX-XXXXX", "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"])
def test_the_placeholder_is_recognised(value: str) -> None:
    assert PLACEHOLDER_TOKEN.match(value)
    assert not PLACEHOLDER_TOKEN.match("npm_" + "X" * 36)


@pytest.fixture
def release(_release_fixture: Any) -> Any:  # noqa: F811
    return _release_fixture


@pytest.fixture
def front(_front_fixture: NpmFront) -> NpmFront:  # noqa: F811
    """test_e2e_oidc's npm front: npmjs's OIDC exchange played in front of Verdaccio."""
    return _front_fixture


def _run(rel: Release, front: NpmFront, env: dict[str, str] | None = None, **claims: Any):
    rel.repo.private = True  # no provenance (sigstore cannot sign offline)
    front.trust(rel.name, REPO, "release.yml")
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text("credential:\n  mode: oidc\n")
    rel.github.oidc.configure(REPO, rel.sha, workflow="release.yml", **claims)
    result = rel.run(
        token="", env={**rel.github.oidc_env(), **(env or {})}, inputs={"registry": front.url}, outside_image=True
    )
    for secret in [*front.issued, *rel.github.oidc.tokens]:
        assert_no_leak(result, secret)
    return result


def _blocked_by_preflight(result, rel: Release, front: NpmFront) -> dict[str, Any]:
    assert result.returncode == 1, result.describe()
    assert result.outputs["published"] == "false"
    assert rel.versions() == []
    assert front.requests_to("POST", EXCHANGE_PREFIX) == []  # nothing was exchanged
    findings = [f for f in result.report["findings"] if f["rule"] == "oidc-preflight-failed"]
    assert findings, result.describe()
    return findings[0]


def test_an_npm_too_old_for_trusted_publishing_blocks_before_any_id_token(
    release, front: NpmFront, tmp_path: Path
) -> None:
    rel = release()
    old = tmp_path / "old-npm"
    old.mkdir()
    # the real npm, except that it says it is 10.9.2 (Node 22's bundled npm) when asked its version
    real = shutil.which("npm")
    (old / "npm").write_text(f'#!/bin/sh\n[ "$1" = --version ] && {{ echo 10.9.2; exit 0; }}\nexec "{real}" "$@"\n')
    (old / "npm").chmod(0o755)
    result = _run(rel, front, env={"PATH": f"{old}{os.pathsep}{node22_path()}"})
    f = _blocked_by_preflight(result, rel, front)
    assert "npm 10.9.2 (needs >= 11.5.1)" in f["message"], f
    assert rel.github.oidc.issued == [], "no ID token was requested"


def test_a_node_too_old_for_trusted_publishing_blocks(release, front: NpmFront, tmp_path: Path) -> None:
    rel = release()
    old = tmp_path / "old-node"
    old.mkdir()
    # the real Node 22, except that it says it is v20.19.0 when asked its version (npm runs on it unchanged)
    real = semrel.ensure_installed().node
    (old / "node").write_text(f'#!/bin/sh\n[ "$1" = --version ] && {{ echo v20.19.0; exit 0; }}\nexec "{real}" "$@"\n')
    (old / "node").chmod(0o755)
    result = _run(rel, front, env={"PATH": f"{old}{os.pathsep}{node22_path()}"})
    f = _blocked_by_preflight(result, rel, front)
    assert "node 20.19.0 (needs >= 22.14.0)" in f["message"], f


def test_setup_nodes_placeholder_token_blocks_with_what_to_remove(release, front: NpmFront) -> None:
    rel = release()
    result = _run(rel, front, env={"NODE_AUTH_TOKEN": "XXXXX-XXXXX-XXXXX-XXXXX"})
    f = _blocked_by_preflight(result, rel, front)
    assert "registry-url" in f["message"] and "NODE_AUTH_TOKEN" in f["message"]
    assert front.requests_to("GET", "/-/whoami") == [], "a dummy is never sent"
    assert front.requests_to("PUT", "/") == []


def test_a_job_in_a_reusable_workflow_blocks_before_the_exchange(release, front: NpmFront) -> None:
    rel = release()
    reusable = "acme/shared/.github/workflows/publish.yml@refs/heads/main"
    result = _run(rel, front, job_workflow_ref=reusable)
    f = _blocked_by_preflight(result, rel, front)
    assert reusable in f["message"] and "release.yml" in f["message"]


def test_the_preflight_passes_on_the_real_node_22_and_npm(release, front: NpmFront) -> None:
    rel = release()
    result = _run(rel, front)
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0"]


def test_an_upload_refused_after_the_exchange_names_what_to_check_on_npmjs(
    release, verdaccio: Verdaccio, github_server: GitHubServer
) -> None:
    """The exchange answers a token the registry then refuses (npm says only E401/ENEEDAUTH)."""
    server = NpmFront(
        upstream_port=int(verdaccio.proxy.server_address[1]),
        jwks=github_server.oidc.jwks,
        token_for=lambda name: "npm_" + "R" * 36,  # a token Verdaccio does not know
    ).start()
    try:
        rel = release()
        result = _run(rel, server)
    finally:
        server.stop()
    assert result.returncode == 2, result.describe()
    assert rel.versions() == []
    assert len(server.requests_to("POST", EXCHANGE_PREFIX)) == 1
    error = result.report["error"]
    assert "Trusted publishing" in error and f"`{REPO}`" in error and "`release.yml`" in error, error
