"""Branch and green-build gates called directly with a Context, against the GitHub stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal.github import GitHubClient
from gatekeeper._internal.registry import RegistryClient
from gatekeeper.config import Inputs
from gatekeeper.context import Context, GitHubRun
from gatekeeper.gates import branch, green_build
from gatekeeper.secret import Secret
from gatekeeper.steps.run import run_gate
from gatekeeper.trust.policy import Policy, parse_policy
from tests._support.github_server import GitHubServer

REPO = "acme/widget"
SHA = "a" * 40


def make_ctx(
    server: GitHubServer,
    *,
    event_name: str = "push",
    ref: str = "refs/heads/main",
    event: dict[str, Any] | None = None,
    policy: Policy | None = None,
    token: str | None = None,
    wait: int = 0,
) -> Context:
    run = GitHubRun(
        event_name=event_name,
        event=event or {},
        repository=REPO,
        ref=ref,
        sha=SHA,
        api_url=server.url,
        run_id=None,
        run_attempt=None,
        job="release",
        runner_name="",
        workflow_ref="",
    )
    inputs = Inputs.from_env({"INPUT_WAIT-FOR-CHECKS": str(wait)})
    gh = GitHubClient(server.url, REPO, Secret(token if token is not None else server.token or ""))
    return Context(
        inputs=inputs,
        env={"GITHUB_ACTIONS": "true"},
        run=run,
        workspace=Path("."),
        package_dir=Path("."),
        policy=policy or Policy(),
        registry=RegistryClient("http://127.0.0.1:9/", None, retries=0),
        github=gh,
    )


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_GITHUB_RETRIES", "1")
    monkeypatch.setenv("GATEKEEPER_GITHUB_BACKOFF", "0.01")


def _rules(ctx: Context, gate: Any) -> list[str]:
    result = run_gate(gate.NAME, gate.check, ctx)
    assert result.status != "error", result.error
    return [f.rule for f in result.findings]


def test_release_event_targeting_the_default_branch_passes(github_server: GitHubServer) -> None:
    github_server.repo(REPO, default_branch="main")
    policy = parse_policy("branch: {events: [push, release]}")
    event = {"release": {"tag_name": "v1.0.0", "target_commitish": "main"}}
    ctx = make_ctx(github_server, event_name="release", ref="refs/tags/v1.0.0", event=event, policy=policy)
    assert _rules(ctx, branch) == []


def test_release_event_targeting_a_sha_or_other_branch_blocks(github_server: GitHubServer) -> None:
    github_server.repo(REPO, default_branch="main")
    policy = parse_policy("branch: {events: [push, release]}")
    for target, rule in ((SHA, "tag-ref"), ("feature", "not-default-branch")):
        event = {"release": {"tag_name": "v1", "target_commitish": target}}
        ctx = make_ctx(github_server, event_name="release", ref="refs/tags/v1", event=event, policy=policy)
        assert _rules(ctx, branch) == [rule]


def test_release_event_not_allowed_by_default(github_server: GitHubServer) -> None:
    github_server.repo(REPO, default_branch="main")
    event = {"release": {"target_commitish": "main"}}
    ctx = make_ctx(github_server, event_name="release", ref="refs/tags/v1", event=event)
    assert _rules(ctx, branch) == ["event-not-allowed"]


def test_pull_request_target_blocks(github_server: GitHubServer) -> None:
    github_server.repo(REPO, default_branch="main")
    ctx = make_ctx(github_server, event_name="pull_request_target", ref="refs/heads/main")
    assert _rules(ctx, branch) == ["pull-request-event"]


def test_bad_github_credentials_fail_closed(github_server: GitHubServer) -> None:
    github_server.repo(REPO, default_branch="main")
    ctx = make_ctx(github_server, token="ghs_wrong_token_000000000000000000")
    result = run_gate(branch.NAME, branch.check, ctx)
    assert result.status == "error"
    assert "HTTP 401" in (result.error or "") and "Nothing was published" in (result.error or "")
    assert "ghs_wrong" not in (result.error or "")


def test_malformed_check_runs_fail_closed(github_server: GitHubServer) -> None:
    repo = github_server.repo(REPO, default_branch="main")
    repo.add_commit(SHA, "main")
    github_server.fail(r"/check-runs", status=200, times=5, body="<html>not json</html>")
    result = run_gate(green_build.NAME, green_build.check, make_ctx(github_server))
    assert result.status == "error" and "Nothing was published" in (result.error or "")


def test_status_contexts_count_and_ignore_globs_apply(github_server: GitHubServer) -> None:
    repo = github_server.repo(REPO, default_branch="main")
    repo.add_check_run(SHA, "test", "success")
    repo.add_status(SHA, "codecov/patch", "failure")
    repo.add_status(SHA, "ci/build", "pending")
    assert _rules(make_ctx(github_server), green_build) == ["check-failed", "check-pending"]
    policy = parse_policy("checks: {ignore: ['codecov/*', 'ci/*']}")
    assert _rules(make_ctx(github_server, policy=policy), green_build) == []


def test_policy_required_check_must_be_present(github_server: GitHubServer) -> None:
    repo = github_server.repo(REPO, default_branch="main")
    repo.add_check_run(SHA, "test", "success")
    policy = parse_policy("checks: {required: [test, e2e]}")
    ctx = make_ctx(github_server, policy=policy)
    result = run_gate(green_build.NAME, green_build.check, ctx)
    assert [f.rule for f in result.findings] == ["required-check-missing"]
    assert "`e2e`" in result.findings[0].message


@pytest.mark.parametrize("conclusion", ["neutral", "skipped", "success"])
def test_ok_conclusions_pass(github_server: GitHubServer, conclusion: str) -> None:
    repo = github_server.repo(REPO, default_branch="main")
    repo.add_check_run(SHA, "x", conclusion)
    assert _rules(make_ctx(github_server), green_build) == []


@pytest.mark.parametrize("conclusion", ["failure", "cancelled", "timed_out", "action_required", "stale"])
def test_bad_conclusions_block(github_server: GitHubServer, conclusion: str) -> None:
    repo = github_server.repo(REPO, default_branch="main")
    repo.add_check_run(SHA, "x", conclusion)
    assert _rules(make_ctx(github_server), green_build) == ["check-failed"]
