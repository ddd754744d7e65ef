"""Unit tests of the OIDC parts that need no registry: JWT structure, claim checks, credential choice, stage ids.

The end-to-end cases (the gate's own ID-token request, the exchange, staged publishing) are in
tests/test_e2e_oidc.py.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal import npm, oidc
from gatekeeper._internal.registry import RegistryClient
from gatekeeper.config import Inputs
from gatekeeper.context import Context, GitHubRun
from gatekeeper.errors import OidcError, PolicyError
from gatekeeper.gates import provenance
from gatekeeper.trust import provenance as verified
from gatekeeper.trust import trusted_publishing
from gatekeeper.trust.policy import parse_policy
from tests._support.oidc_issuer import OidcIssuer

REPO = "acme/widget"
SHA = "a" * 40
SERVER = "https://github.com"


def _ctx(policy: str = "", env: dict[str, str] | None = None, token: str = "") -> Context:
    base = {
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_SHA": SHA,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SERVER_URL": SERVER,
        "GITHUB_WORKFLOW_REF": f"{REPO}/.github/workflows/release.yml@refs/heads/main",
        "INPUT_REGISTRY": "https://registry.npmjs.org/",
        "INPUT_NPM-TOKEN": token,
        **(env or {}),
    }
    inputs = Inputs.from_env(base)
    return Context(
        inputs=inputs,
        env=base,
        run=GitHubRun.from_env(base),
        workspace=Path("."),
        package_dir=Path("."),
        policy=parse_policy(policy),
        registry=RegistryClient(inputs.registry),
    )


def _claims(**over: Any) -> dict[str, Any]:
    issuer = OidcIssuer(issuer=oidc.GITHUB_ISSUER)
    claims = issuer.configure(REPO, SHA)
    now = int(time.time())
    claims.update(iss=oidc.GITHUB_ISSUER, aud="npm:registry.npmjs.org", iat=now, nbf=now, exp=now + 300)
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _mismatches(ctx: Context, claims: dict[str, Any]) -> set[str]:
    result = trusted_publishing.check_claims(ctx, claims, default_branch="main")
    return {str(f.evidence.get("claim")) for f in result.findings}


def test_good_claims_match_and_say_what_matched() -> None:
    result = trusted_publishing.check_claims(_ctx(), _claims(), default_branch="main")
    assert result.ok, result.findings
    assert result.matched == {
        "repository": REPO,
        "ref": "refs/heads/main",
        "workflow": "release.yml",
        "runner_environment": "github-hosted",
    }


@pytest.mark.parametrize(
    ("over", "claim"),
    [
        ({"iss": "https://evil.example/token"}, "iss"),
        ({"aud": "npm:evil.example"}, "aud"),
        ({"exp": int(time.time()) - 3600}, "exp"),
        ({"iat": int(time.time()) + 3600}, "exp"),
        ({"repository": "evil/widget"}, "repository"),
        ({"ref": "refs/heads/feature"}, "ref"),
        ({"ref": "refs/tags/v1.0.0"}, "ref"),
        ({"sha": "b" * 40}, "sha"),
        ({"workflow_ref": "evil/widget/.github/workflows/release.yml@refs/heads/main"}, "workflow_ref"),
        ({"runner_environment": "self-hosted"}, "runner_environment"),
        ({"runner_environment": None}, "runner_environment"),
    ],
)
def test_each_wrong_claim_blocks(over: dict[str, Any], claim: str) -> None:
    assert claim in _mismatches(_ctx(), _claims(**over))


def test_pinned_workflow_and_review_environment_are_required() -> None:
    ctx = _ctx("credential:\n  oidc-workflow: release.yml\nreview:\n  environment: npm\n")
    wrong = f"{REPO}/.github/workflows/nightly.yml@refs/heads/main"
    assert _mismatches(ctx, _claims(workflow_ref=wrong, environment="npm")) == {"workflow_ref"}
    assert _mismatches(ctx, _claims(environment="staging")) == {"environment"}
    assert _mismatches(ctx, _claims()) == {"environment"}  # no environment at all
    result = trusted_publishing.check_claims(ctx, _claims(environment="npm"), default_branch="main")
    assert result.ok and result.matched["environment"] == "npm"


def test_release_branches_and_self_hosted_by_policy() -> None:
    ctx = _ctx("branch:\n  release-branches: ['1.x']\ncredential:\n  runner-environment: any\n")
    assert _mismatches(ctx, _claims(ref="refs/heads/1.x", runner_environment="self-hosted")) == set()
    assert _mismatches(ctx, _claims(ref="refs/heads/2.x")) == {"ref"}


def test_audience_and_issuer_follow_registry_and_server() -> None:
    assert oidc.audience_for("http://127.0.0.1:4873/") == "npm:127.0.0.1"
    assert oidc.expected_issuer({}) == oidc.GITHUB_ISSUER
    assert oidc.expected_issuer({"GITHUB_SERVER_URL": "https://ghe.example"}) == "https://ghe.example/_services/token"
    url = oidc._with_audience("https://runner.example/idtoken?api-version=2.0&audience=x", "npm:a b")
    assert url == "https://runner.example/idtoken?api-version=2.0&audience=npm%3Aa+b"


def _jwt(header: dict[str, Any], claims: dict[str, Any], sig: bytes = b"sig") -> str:
    def enc(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    return ".".join([enc(json.dumps(header).encode()), enc(json.dumps(claims).encode()), enc(sig)])


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b",
        _jwt({"alg": "none"}, {"sub": "x"}),
        _jwt({"alg": "HS256"}, {"sub": "x"}),
        _jwt({"alg": "RS256"}, {"sub": "x"}, sig=b""),
        "e30.W10.c2ln",  # claims are a JSON list
        "e30.!!!.c2ln",
        "x" * 20_000,
    ],
)
def test_malformed_id_tokens_fail_closed(token: str) -> None:
    with pytest.raises(OidcError):
        oidc.decode(token)


def test_a_signed_token_decodes() -> None:
    issuer = OidcIssuer(issuer="https://t.example")
    issuer.configure(REPO, SHA)
    decoded = oidc.decode(issuer.issue("npm:registry.npmjs.org"))
    assert decoded.claims["repository"] == REPO and decoded.header["alg"] == "RS256"
    assert str(decoded.jwt) == "***"


def test_credential_choice_by_mode() -> None:
    oidc_env = {oidc.URL_VAR: "https://runner.example/t", oidc.TOKEN_VAR: "req"}
    assert trusted_publishing.choose(_ctx(env=oidc_env)).kind == "oidc"
    assert trusted_publishing.choose(_ctx(env=oidc_env, token="npm_" + "a" * 36)).kind == "token"
    assert trusted_publishing.choose(_ctx("credential:\n  mode: token\n", env=oidc_env)).kind == "token"
    choice = trusted_publishing.choose(_ctx("credential:\n  mode: oidc\n", env={"NPM_TOKEN": "x" * 10}))
    assert choice.kind == "oidc" and choice.tokens == ("NPM_TOKEN",) and not choice.oidc_available
    sneaky = {"npm_config_//registry.npmjs.org/:_authToken": "y" * 10}
    assert trusted_publishing.token_sources(_ctx(env=sneaky)) == ("npm_config_//registry.npmjs.org/:_authToken",)


def test_token_kinds_never_show_the_value() -> None:
    from gatekeeper.secret import Secret

    assert "npm_" in trusted_publishing.token_kind(Secret("npm_" + "A" * 36))
    assert "UUID" in trusted_publishing.token_kind(Secret("0c2a7f1e-1111-2222-3333-444455556666"))
    assert "A" * 36 not in trusted_publishing.token_kind(Secret("npm_" + "A" * 36))


def test_stage_id_from_npm_json_or_text_and_only_a_uuid() -> None:
    sid = "1de6f3db-2ed9-4d72-b3dd-8f0e2b474a2f"
    assert npm.find_stage_id({"pkg": {"name": "pkg", "stageId": sid}}, "") == sid
    assert npm.find_stage_id({}, f"+ pkg@1.0.1 (staged with id {sid})\n") == sid
    assert npm.find_stage_id({"pkg": {"stageId": "$(rm -rf /)"}}, "") == ""


def test_provenance_identity_expected_from_the_policy_or_this_run() -> None:
    """What the verified certificate must name (the certificate itself: tests/test_provenance_verify.py)."""
    env = {"GITHUB_REPOSITORY_ID": "4711"}
    want = provenance.expected(_ctx(env=env))
    assert want == verified.Expected(REPO, f"{SERVER}/{REPO}", "4711", ".github/workflows/release.yml")
    assert provenance.expected(_ctx(env={})).repository_id == ""  # unknown: the identity check says so and blocks
    other = provenance.expected(_ctx("provenance:\n  repository: acme/build\n  workflow: publish.yml\n", env=env))
    assert other == verified.Expected("acme/build", f"{SERVER}/acme/build", "", ".github/workflows/publish.yml")
    pinned = "provenance:\n  repository: acme/build\n  repository-id: 99\n"
    assert provenance.expected(_ctx(pinned, env=env)).repository_id == "99"
    assert verified.purl("@acme/widget", "1.0.0") == "pkg:npm/%40acme/widget@1.0.0"
    for bad in ("provenance:\n  repository: https://github.com/a/b\n", "provenance:\n  workflow: ../x.yml\n"):
        with pytest.raises(PolicyError):
            parse_policy(bad)


def test_trust_ranks_of_a_release_and_of_this_publish() -> None:
    """Issue 23, item 5: staged with 2FA > trusted publisher + provenance > provenance or trusted publisher > token."""
    att = {"dist": {"attestations": {"url": "u", "provenance": {}}}}
    tp = {"_npmUser": {"name": "GitHub Actions", "trustedPublisher": {"id": "github"}}}
    assert [verified.release_rank(m) for m in ({}, att, tp, {**att, **tp})] == [0, 1, 1, 2]
    import dataclasses

    from gatekeeper.context import PackageInfo

    token = dataclasses.replace(_ctx(token="npm_" + "a" * 36), package=PackageInfo("x", "1.0.1"))
    plan = provenance.plan(token)
    assert provenance.publish_rank(token, plan) == 0
    assert [f.rule for f in provenance.downgrade(token, plan, {**att, **tp}, "x@1")] == ["trust-downgrade"]
    assert provenance.downgrade(token, plan, {}, "x@1") == []
    staged = dataclasses.replace(
        _ctx(env={"INPUT_PUBLISH-WITH": "stage"}, token="npm_" + "a" * 36), package=PackageInfo("x", "1.0.1")
    )
    assert provenance.publish_rank(staged, provenance.plan(staged)) == 3
    assert provenance.downgrade(staged, provenance.plan(staged), {**att, **tp}, "x@1") == []
