"""End to end: OIDC trusted publishing done by the gate, provenance checks, staged publishing.

The GitHub stand-in is the runner's ID-token endpoint (RS256 JWTs with a key it generates); the npm
front (tests/_support/npm_front.py) in front of the session Verdaccio answers the token exchange
(checking the JWT and the package's trusted publisher, answering with a real Verdaccio token), the
stage endpoint and the attestations endpoint, and passes everything else through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._support.github_server import GitHubServer
from tests._support.npm_front import EXCHANGE_PREFIX, STAGE_PREFIX, NpmFront, slsa_statement
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import ActionResult, assert_no_leak
from tests.test_e2e_publish import REPO, Release, _recommit
from tests.test_e2e_publish import release as _release_fixture  # noqa: F401  (registers the `release` fixture)


@pytest.fixture
def release(_release_fixture: Any) -> Any:  # noqa: F811  (the imported fixture, by its name)
    """test_e2e_publish's `release` factory (one prepared release: workspace, registry user, GitHub state)."""
    return _release_fixture


@pytest.fixture
def front(verdaccio: Verdaccio, github_server: GitHubServer, verifier_modules: Path) -> Iterator[NpmFront]:
    def token_for(name: str) -> str:
        user = verdaccio.unique("trusted")
        password = f"pw-{user}-Secret1"
        return verdaccio.create_token(verdaccio.add_user(user, password), password)

    server = NpmFront(
        upstream_port=int(verdaccio.proxy.server_address[1]), jwks=github_server.oidc.jwks, token_for=token_for
    ).start()
    try:
        yield server
    finally:
        server.stop()


def _policy(rel: Release, text: str) -> None:
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text(text)


def _oidc_run(
    rel: Release,
    front: NpmFront,
    *,
    workflow: str = "release.yml",
    environment: str | None = None,
    claims: dict[str, Any] | None = None,
    inputs: dict[str, str] | None = None,
    token: str = "",
) -> ActionResult:
    """A run with `id-token: write` and no npm token; the registry is the front."""
    rel.github.oidc.configure(REPO, rel.sha, workflow=workflow, environment=environment, **(claims or {}))
    result = rel.run(token=token, env=rel.github.oidc_env(), inputs={"registry": front.url, **(inputs or {})})
    for secret in [*front.issued, *rel.github.oidc.tokens]:
        assert_no_leak(result, secret)
    return result


def _rules(result: ActionResult, severity: str = "block") -> set[str]:
    assert result.report is not None, result.describe()
    return {f["rule"] for f in result.report["findings"] if f["severity"] == severity}


def _bump(rel: Release, version: str) -> None:
    pkg = json.loads((rel.ws / "package.json").read_text())
    pkg["version"] = version
    (rel.ws / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    _recommit(rel, version)  # the workspace must be the released commit, the head of main (issue 8)


def _released_with_provenance(rel: Release, front: NpmFront, statement_repo: str, workflow: str) -> None:
    """1.0.0 on the registry with `dist.attestations` and a provenance statement; the workspace at 1.0.1."""
    rel.verdaccio.publish(rel.ws, rel.token)
    url = f"{front.url}-/npm/v1/attestations/{rel.name}@1.0.0"

    def attest(doc: dict[str, Any]) -> None:
        doc["versions"]["1.0.0"]["dist"]["attestations"] = {
            "url": url,
            "provenance": {"predicateType": "https://slsa.dev/provenance/v1"},
        }

    rel.verdaccio.patch_packument(rel.name, attest)
    front.set_attestations(rel.name, "1.0.0", slsa_statement(rel.name, "1.0.0", statement_repo, workflow))
    _bump(rel, "1.0.1")


def test_good_claims_are_exchanged_and_publish_without_any_npm_token(release, front: NpmFront) -> None:
    rel = release()
    rel.repo.private = True  # provenance stays off (sigstore signing cannot run offline)
    front.trust(rel.name, REPO, "release.yml")
    _policy(rel, "credential:\n  mode: oidc\n  oidc-workflow: release.yml\n")
    result = _oidc_run(rel, front)
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0"]
    assert not any(k in result.env for k in ("NODE_AUTH_TOKEN", "NPM_TOKEN")) and result.env["INPUT_NPM-TOKEN"] == ""
    # exactly one exchange, at publish time, with the gate's own ID token for audience npm:<registry host>
    [exchange] = front.requests_to("POST", EXCHANGE_PREFIX)
    assert exchange.path == EXCHANGE_PREFIX + rel.name
    assert exchange.headers["authorization"] == "Bearer " + rel.github.oidc.tokens[-1]
    assert {c["aud"] for c in rel.github.oidc.issued} == {"npm:127.0.0.1"}
    # the upload was authenticated with the exchanged token, which was masked at once
    [token] = front.issued
    [put] = [r for r in rel.verdaccio.requests if r.method == "PUT" and rel.name in r.path]
    assert put.headers["authorization"] == f"Bearer {token}"
    assert token in result.masks and rel.github.oidc.tokens[-1] in result.masks
    cred = result.report["publish"]["credential"]
    assert cred["type"] == "oidc"
    assert cred["claims"]["repository"] == REPO and cred["claims"]["workflow"] == "release.yml"
    assert cred["claims"]["ref"] == "refs/heads/main"
    assert "oidc-trusted-publishing" in _rules(result, "info")
    assert "Credential: OIDC trusted publishing" in result.summary
    assert result.report["publish"]["provenance"] is False
    assert not list(result.tmpdir.iterdir()), "the temp npmrc with the short-lived token is gone"


def test_wrong_workflow_ref_blocks_before_any_exchange(release, front: NpmFront) -> None:
    rel = release()
    front.trust(rel.name, REPO, "release.yml")
    _policy(rel, "credential:\n  oidc-workflow: release.yml\n")
    result = _oidc_run(rel, front, workflow="nightly.yml")
    assert result.returncode == 1, result.describe()
    assert "oidc-claim-mismatch" in _rules(result)
    msg = json.dumps(result.report["findings"])
    assert "workflow_ref" in msg and "nightly.yml" in msg
    assert front.requests_to("POST", EXCHANGE_PREFIX) == []
    assert rel.versions() == []


def test_wrong_environment_blocks_before_any_exchange(release, front: NpmFront) -> None:
    rel = release()
    front.trust(rel.name, REPO, environment="npm")
    _policy(rel, "review:\n  environment: npm\n")
    result = _oidc_run(rel, front, environment="staging")
    assert result.returncode == 1, result.describe()
    [finding] = [f for f in result.report["findings"] if f["rule"] == "oidc-claim-mismatch"]
    assert finding["evidence"]["claim"] == "environment" and "`staging`" in finding["message"]
    assert front.requests_to("POST", EXCHANGE_PREFIX) == []
    assert rel.versions() == []


def test_claims_of_another_repository_or_a_self_hosted_runner_block(release, front: NpmFront) -> None:
    rel = release()
    front.trust(rel.name, REPO)
    result = _oidc_run(rel, front, claims={"repository": "evil/fork", "runner_environment": "self-hosted"})
    assert result.returncode == 1, result.describe()
    claims = {f["evidence"]["claim"] for f in result.report["findings"] if f["rule"] == "oidc-claim-mismatch"}
    assert claims == {"repository", "runner_environment"}
    assert front.requests_to("POST", EXCHANGE_PREFIX) == []


def test_refused_exchange_blocks_with_the_registry_message(release, front: NpmFront) -> None:
    rel = release()
    rel.repo.private = True
    front.refuse(rel.name, 404, "OIDC token exchange error - package not found")
    result = _oidc_run(rel, front)
    assert result.returncode == 1, result.describe()
    assert result.outputs["published"] == "false"
    assert "oidc-exchange-failed" in _rules(result)
    assert "HTTP 404" in result.summary and "OIDC token exchange error - package not found" in result.summary
    assert "Trusted publishing" in result.summary  # what to check on npmjs.com (the rule's fix)
    assert result.report["gates"]["publish"] == "fail"
    assert len(front.requests_to("POST", EXCHANGE_PREFIX)) == 1
    assert rel.versions() == []


def test_a_token_under_credential_mode_oidc_blocks(release, front: NpmFront) -> None:
    rel = release()
    front.trust(rel.name, REPO)
    _policy(rel, "credential:\n  mode: oidc\n")
    result = _oidc_run(rel, front, token=rel.token)
    assert result.returncode == 1, result.describe()
    assert "oidc-token-present" in _rules(result)
    assert "input `npm-token`" in json.dumps(result.report["findings"])
    assert front.requests_to("POST", EXCHANGE_PREFIX) == []
    assert rel.versions() == []


def test_mode_oidc_without_id_token_permission_blocks(release, front: NpmFront) -> None:
    rel = release()
    _policy(rel, "credential:\n  mode: oidc\n")
    result = rel.run(token="", inputs={"registry": front.url})
    assert result.returncode == 1, result.describe()
    assert "oidc-unavailable" in _rules(result)


def test_provenance_dropped_blocks(release, front: NpmFront) -> None:
    rel = release()
    rel.repo.private = True  # auto: no provenance from a private repository
    front.trust(rel.name, REPO)
    _released_with_provenance(rel, front, f"{rel.github.web_url}/{REPO}", ".github/workflows/release.yml")
    result = _oidc_run(rel, front)
    assert result.returncode == 1, result.describe()
    assert "provenance-dropped" in _rules(result)
    assert "provenance-source-mismatch" not in _rules(result)
    assert rel.versions() == ["1.0.0"]
    assert front.requests_to("POST", EXCHANGE_PREFIX) == []


def test_an_unsigned_provenance_statement_blocks_whatever_it_names(release, front: NpmFront) -> None:
    """A statement without Sigstore signature, certificate and log entry is rejected before its claims are read,
    even when it names this very repository (issue 23; real bundles: tests/test_provenance_verify.py)."""
    for statement_repo in ("https://github.com/someone-else/widget", None):
        rel = release()
        front.trust(rel.name, REPO)
        _released_with_provenance(
            rel, front, statement_repo or f"{rel.github.web_url}/{REPO}", ".github/workflows/release.yml"
        )
        result = _oidc_run(rel, front, inputs={"dry-run": "true"})
        assert result.returncode == 1, result.describe()
        assert _rules(result) == {"provenance-invalid"}
        assert "fails Sigstore verification" in json.dumps(result.report["findings"])


def test_provenance_on_for_a_public_repository(release, front: NpmFront) -> None:
    rel = release()
    front.trust(rel.name, REPO)
    rel.verdaccio.publish(rel.ws, rel.token)
    _bump(rel, "1.0.1")
    result = _oidc_run(rel, front, inputs={"dry-run": "true"})  # a real --provenance needs sigstore (online)
    assert result.returncode == 0, result.describe()
    assert result.report["publish"]["provenance"] is True
    assert "auto: OIDC trusted publishing from a public repository" in result.summary
    assert "provenance-absent" in _rules(result, "info")  # no provenance before: a fact, not an error
    assert rel.versions() == ["1.0.0"]


def test_staged_publish_reaches_the_stage_endpoint_and_publishes_nothing(release, front: NpmFront) -> None:
    rel = release()
    rel.verdaccio.publish(rel.ws, rel.token)
    _bump(rel, "1.0.1")
    result = rel.run(inputs={"registry": front.url, "publish-with": "stage"})
    assert result.returncode == 0, result.describe()
    [stage] = front.requests_to("POST", STAGE_PREFIX)
    assert stage.path == STAGE_PREFIX + rel.name
    [(stage_id, staged)] = front.staged.items()
    assert staged["document"]["versions"].keys() == {"1.0.1"} and staged["user"] == rel.user
    assert result.outputs["stage-id"] == stage_id
    assert result.outputs["published"] == "false" and result.outputs["decision"] == "allow"
    assert rel.versions() == ["1.0.0"], "a staged release is not published"
    assert f"npm stage approve {stage_id}" in result.summary and "staged" in result.summary.splitlines()[0]
    assert result.report["publish"]["stage_id"] == stage_id


def test_staged_publish_only_after_every_gate_allowed(release, front: NpmFront) -> None:
    rel = release(green=False)
    rel.verdaccio.publish(rel.ws, rel.token)
    _bump(rel, "1.0.1")
    rel.repo.add_check_run(rel.sha, "integration", "failure")
    result = rel.run(inputs={"registry": front.url, "publish-with": "stage"})
    assert result.returncode == 1, result.describe()
    assert front.requests_to("POST", STAGE_PREFIX) == [] and result.outputs["stage-id"] == ""


def test_check_mode_checks_the_claims_but_never_exchanges(release, front: NpmFront) -> None:
    rel = release()
    result = _oidc_run(rel, front, inputs={"mode": "check"})
    assert result.returncode == 0, result.describe()
    assert "oidc-trusted-publishing" in _rules(result, "info")
    assert rel.github.oidc.issued and front.requests_to("POST", EXCHANGE_PREFIX) == []


def test_a_staged_release_gets_its_record_so_watch_accepts_it_once_approved(release, front: NpmFront) -> None:
    """notify x stage: a release the gate staged becomes public when a maintainer approves it, with exactly the
    staged bytes. Without a record watch would report every approved staged release as a compromise."""
    from tests.test_watch import _watch

    rel = release()
    gated = rel.run()  # 1.0.0 through the gate: its Release holds a record
    assert gated.returncode == 0 and gated.outputs["notified"] == "true", gated.describe()
    _bump(rel, "1.0.1")
    result = rel.run(inputs={"registry": front.url, "publish-with": "stage"})
    assert result.returncode == 0, result.describe()
    assert result.outputs["notified"] == "true", result.describe()
    [(_, staged)] = front.staged.items()
    rel.verdaccio.call("PUT", f"/{rel.name}", token=rel.token, body=staged["document"])  # `npm stage approve`
    assert rel.versions() == ["1.0.0", "1.0.1"]
    watched = _watch(rel)
    assert watched.returncode == 0, watched.describe()
    assert watched.outputs["unexpected"] == ""


def test_a_refusal_echoing_the_id_token_leaves_it_nowhere(release, front: NpmFront) -> None:
    """Something answering the exchange for the registry (a proxy, a broken registry) echoes the Bearer ID token
    in its refusal: the message goes into the finding, the summary and the report — no part of the token may
    (the message is cut at 500 characters, so the echo here is the part that fits: the signature)."""
    from tests._support.faultproxy import FaultProxy, Reply

    rel = release()
    rel.repo.private = True
    proxy = FaultProxy(front.url).start()
    try:
        sig = lambda seen: seen.headers.get("authorization", "").rsplit(".", 1)[-1]  # noqa: E731
        proxy.add(EXCHANGE_PREFIX, Reply(403, lambda seen: {"message": f"bad signature {sig(seen)}"}), method="POST")
        rel.github.oidc.configure(REPO, rel.sha, workflow="release.yml")
        result = rel.run(token="", env=rel.github.oidc_env(), inputs={"registry": proxy.url})
    finally:
        proxy.stop()
    assert result.returncode == 1, result.describe()
    assert "oidc-exchange-failed" in _rules(result)
    assert "bad signature" in result.summary, result.summary  # the message itself is kept
    assert rel.github.oidc.tokens
    for secret in rel.github.oidc.tokens:
        assert_no_leak(result, secret)
        assert_no_leak(result, secret.rsplit(".", 1)[-1])
