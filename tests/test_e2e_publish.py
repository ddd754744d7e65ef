"""End to end: entrypoint.py run as GitHub runs it, a real git workspace, Verdaccio, the GitHub stand-in.

Each case looks at the registry afterwards, and at everything the run wrote for the token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._support.github_server import GitHubServer, Repo
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import (
    CLI_OUTSIDE_IMAGE,
    ActionResult,
    assert_no_leak,
    commit_all,
    head_sha,
    run_action,
)

REPO = "acme/widget"


def node22_path() -> str:
    """PATH with the tests' real Node 22 first (the npm on PATH runs on it): what the gate's image ships."""
    from tests._support import semrel

    return f"{semrel.ensure_installed().bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


FAST_RETRIES = {"GATEKEEPER_GITHUB_RETRIES": "2", "GATEKEEPER_GITHUB_BACKOFF": "0.05"}


@dataclass
class Release:
    """One prepared release: a workspace, a registry user with a token, GitHub state."""

    ws: Path
    name: str
    user: str
    password: str
    login_token: str
    token: str
    sha: str
    repo: Repo
    verdaccio: Verdaccio
    github: GitHubServer
    home: Path

    def run(
        self,
        *,
        env: dict[str, str] | None = None,
        event: dict[str, Any] | None = None,
        inputs: dict[str, str] | None = None,
        token: str | None = None,
        outside_image: bool = False,
    ) -> ActionResult:
        """One run of the Action. `outside_image`: as `gatekeeper action` (see CLI_OUTSIDE_IMAGE), for a test that
        puts tools the image ships first on PATH; an OIDC run gets Node 22 first on PATH that way."""
        all_inputs = {
            "npm-token": self.token if token is None else token,
            "github-token": self.github.token or "",
            "registry": self.verdaccio.url,
        }
        all_inputs.update(inputs or {})
        full_env = {**self.github.env(), "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": self.sha, **FAST_RETRIES}
        full_env.update(env or {})
        if "ACTIONS_ID_TOKEN_REQUEST_URL" in full_env and "PATH" not in full_env:
            full_env["PATH"] = node22_path()  # OIDC's preflight wants Node >= 22.14, as the image has
            outside_image = True
        ev = (
            event if event is not None else {"ref": "refs/heads/main", "after": self.sha, "repository": {"fork": False}}
        )
        # The image refuses a PATH other than its own (issue 21): a run that needs the image's tools first on PATH
        # is the same Action run outside the image.
        argv = CLI_OUTSIDE_IMAGE if outside_image else None
        result = run_action(self.ws, full_env, ev, home=self.home, inputs=all_inputs, timeout=180, argv=argv)
        assert_no_leak(result, self.token)
        assert_no_leak(result, self.login_token)
        return result

    def versions(self) -> list[str]:
        doc = self.verdaccio.packument(self.name)
        return sorted((doc or {}).get("versions", {}))


def release_factory(
    verdaccio: Verdaccio,
    github_server: GitHubServer,
    package_repo: Callable[..., Path],
    tmp_path: Path,
    *,
    lint_status: bool,
) -> Callable[..., Release]:
    """`make(version, green, **repo_kw) -> Release`: a commit on main (green: a passing check run, and a passing
    `ci/lint` status when `lint_status`), a registry user, this job in run 4242."""

    def make(version: str = "1.0.0", green: bool = True, **repo_kw: Any) -> Release:
        user = verdaccio.unique("alice")
        password = "pw-" + user + "-Secret1"
        login = verdaccio.add_user(user, password)
        token = verdaccio.create_token(login, password)
        name = verdaccio.unique("widget")
        ws = package_repo(name=name, version=version, **repo_kw)
        sha = head_sha(ws)
        repo = github_server.repo(REPO, default_branch="main")
        repo.add_commit(sha, "main")
        if green:
            repo.add_check_run(sha, "test", "success")
            if lint_status:
                repo.add_status(sha, "ci/lint", "success")
        run = repo.add_workflow_run(sha, run_id=4242)
        run.add_job("release", status="in_progress", runner_name="GitHub Actions 2")
        home = tmp_path / f"home-{name}"
        home.mkdir()
        return Release(ws, name, user, password, login, token, sha, repo, verdaccio, github_server, home)

    return make


@pytest.fixture
def release(verdaccio: Verdaccio, github_server: GitHubServer, package_repo: Callable[..., Path], tmp_path: Path):
    return release_factory(verdaccio, github_server, package_repo, tmp_path, lint_status=True)


def _recommit(rel: Release, message: str) -> None:
    """Commit the workspace and make it the green head of main (a workspace must be the released commit)."""
    rel.sha = commit_all(rel.ws, message)
    rel.repo.add_commit(rel.sha, "main")
    rel.repo.add_check_run(rel.sha, "test", "success")
    rel.repo.runs[4242].head_sha = rel.sha
    for job in rel.repo.runs[4242].jobs:
        job.head_sha = rel.sha


def _rules(result: ActionResult) -> set[str]:
    assert result.report is not None, result.describe()
    return {f["rule"] for f in result.report["findings"] if f["severity"] == "block"}


def _assert_blocked(result: ActionResult, rel: Release, rule: str, code: int = 1) -> None:
    assert result.returncode == code, result.describe()
    assert result.outputs["decision"] == "block"
    assert result.outputs["published"] == "false"
    assert rel.versions() == [], "nothing may reach the registry"
    if code == 1:
        assert rule in _rules(result), result.describe()
        assert "NOT published" in result.summary


def test_green_default_branch_publishes_the_packed_tarball(release) -> None:
    rel = release()
    result = rel.run()
    assert result.returncode == 0, result.describe()
    out = result.outputs
    assert out["decision"] == "allow" and out["published"] == "true"
    assert out["name"] == rel.name and out["version"] == "1.0.0"
    assert rel.versions() == ["1.0.0"]
    # exactly the packed tarball was published: the registry's integrity is the one reported
    doc = rel.verdaccio.packument(rel.name)
    assert doc is not None
    assert doc["versions"]["1.0.0"]["dist"]["integrity"] == result.report["publish"]["integrity"]
    assert result.report["gates"] == {
        "policy": "pass",
        "branch": "pass",
        "commit": "pass",
        "green-build": "pass",
        "credential": "pass",
        "isolation": "pass",
        "diff": "pass",
        "provenance": "pass",
        "publish": "pass",
    }
    assert result.summary.startswith("## ✅ npm-gatekeeper")
    assert "| green-build | ✅ pass |" in result.summary
    # the token was masked before anything else was printed
    assert result.masks[0] == rel.token
    assert result.stdout.index("::add-mask::") == 0
    # this job's own in-progress check run was ignored, and the jobs were read
    assert rel.github.requests_to("GET", r"/actions/runs/4242/attempts/1/jobs")
    # no temp npmrc or tarball left behind
    assert not list(result.tmpdir.iterdir()), list(result.tmpdir.iterdir())


def test_failed_check_blocks_naming_it_with_url(release) -> None:
    rel = release(green=False)
    rel.repo.add_check_run(rel.sha, "test", "success")
    rel.repo.add_check_run(rel.sha, "integration", "failure")
    rel.repo.add_status(rel.sha, "ci/legacy", "error", target_url="https://ci.example.test/build/9")
    result = rel.run()
    _assert_blocked(result, rel, "check-failed")
    msgs = [f["message"] for f in result.report["findings"] if f["rule"] == "check-failed"]
    assert any("`integration` concluded `failure`" in m and "/job/" not in m and "http" in m for m in msgs), msgs
    assert any("`ci/legacy`" in m and "https://ci.example.test/build/9" in m for m in msgs), msgs
    assert result.report["gates"]["green-build"] == "fail"
    assert result.annotations("error")


def test_cancelled_check_blocks(release) -> None:
    rel = release()
    rel.repo.add_check_run(rel.sha, "e2e", "cancelled")
    _assert_blocked(rel.run(), rel, "check-failed")


def test_pending_check_past_the_wait_blocks(release) -> None:
    rel = release()
    rel.repo.add_check_run(rel.sha, "slow-suite", None, status="in_progress")
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text("checks:\n  poll-interval: 1\n")
    commit_all(rel.ws, "policy")
    rel.sha = head_sha(rel.ws)
    rel.repo.add_commit(rel.sha, "main")
    rel.repo.add_check_run(rel.sha, "slow-suite", None, status="in_progress")
    run = rel.repo.add_workflow_run(rel.sha, run_id=4243)
    run.add_job("release", status="in_progress")
    result = rel.run(inputs={"wait-for-checks": "2"}, env={"GITHUB_RUN_ID": "4243"})
    _assert_blocked(result, rel, "check-pending")
    # it polled more than once before giving up
    assert len(rel.github.requests_to("GET", rf"/commits/{rel.sha}/check-runs")) >= 2


def test_pending_check_that_turns_green_during_the_wait_publishes(release) -> None:
    rel = release()
    check = rel.repo.add_check_run(rel.sha, "slow-suite", None, status="in_progress")
    calls = {"n": 0}

    def flip(_req: object, _state: object) -> None:
        calls["n"] += 1
        if calls["n"] >= 2:
            check.status, check.conclusion = "completed", "success"

    rel.github.on(rf"/commits/{rel.sha}/check-runs", flip)
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text("checks:\n  poll-interval: 1\n")
    result = rel.run(inputs={"wait-for-checks": "30"})
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0"]


def test_no_checks_at_all_blocks_unless_policy_allows(release) -> None:
    rel = release(green=False)
    _assert_blocked(rel.run(), rel, "no-checks")
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text("checks:\n  require-checks: false\n")
    result = rel.run()
    assert result.returncode == 0, result.describe()
    assert "no-checks" in {f["rule"] for f in result.report["findings"]}


def test_required_check_missing_blocks(release) -> None:
    rel = release()
    rel.repo.require_checks("main", ["test", "security-scan"])
    result = rel.run()
    _assert_blocked(result, rel, "required-check-missing")
    assert "security-scan" in json.dumps(result.report["findings"])


def test_check_runs_are_followed_across_link_pages(release) -> None:
    rel = release()
    for i in range(120):  # more than one page of 100
        rel.repo.add_check_run(rel.sha, f"shard-{i}", "success")
    rel.repo.add_check_run(rel.sha, "shard-last", "failure")
    result = rel.run()
    _assert_blocked(result, rel, "check-failed")
    assert "shard-last" in json.dumps(result.report["findings"])
    assert any(r.query.get("page") == "2" for r in rel.github.requests_to("GET", r"/check-runs"))


def test_other_branch_blocks(release) -> None:
    rel = release()
    result = rel.run(env={"GITHUB_REF": "refs/heads/feature/x"})
    _assert_blocked(result, rel, "not-default-branch")
    assert "`main`" in json.dumps(result.report["findings"])


def test_default_branch_is_read_from_the_api_not_assumed(release) -> None:
    rel = release()
    rel.repo.default_branch = "trunk"
    rel.repo.add_commit(rel.sha, "trunk")
    _assert_blocked(rel.run(), rel, "not-default-branch")  # main is not the default here
    result = rel.run(env={"GITHUB_REF": "refs/heads/trunk"})
    assert result.returncode == 0, result.describe()


def test_release_branch_from_policy_publishes(release) -> None:
    rel = release()
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text("branch:\n  release-branches: ['1.x']\n")
    rel.repo.add_commit(rel.sha, "1.x")
    result = rel.run(env={"GITHUB_REF": "refs/heads/1.x"})
    assert result.returncode == 0, result.describe()


def test_tag_ref_blocks(release) -> None:
    rel = release()
    _assert_blocked(rel.run(env={"GITHUB_REF": "refs/tags/v1.0.0"}), rel, "tag-ref")


def test_pull_request_event_blocks(release) -> None:
    rel = release()
    event = {"number": 7, "pull_request": {"number": 7, "head": {"sha": rel.sha}, "base": {"ref": "main"}}}
    result = rel.run(env={"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/7/merge"}, event=event)
    _assert_blocked(result, rel, "pull-request-event")


def test_fork_blocks(release) -> None:
    rel = release()
    rel.repo.fork = True
    result = rel.run(event={"ref": "refs/heads/main", "repository": {"fork": True}})
    _assert_blocked(result, rel, "fork-repository")


def test_workflow_dispatch_blocks_unless_policy_allows(release) -> None:
    rel = release()
    _assert_blocked(rel.run(env={"GITHUB_EVENT_NAME": "workflow_dispatch"}, event={}), rel, "event-not-allowed")
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text("branch:\n  events: [push, workflow_dispatch]\n")
    result = rel.run(env={"GITHUB_EVENT_NAME": "workflow_dispatch"}, event={})
    assert result.returncode == 0, result.describe()


def test_committed_npmrc_with_token_blocks_with_file_and_line(release) -> None:
    rel = release(
        extra_files={
            ".npmrc": "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789\n"
        }
    )
    result = rel.run()
    _assert_blocked(result, rel, "npmrc-committed-token")
    finding = next(f for f in result.report["findings"] if f["rule"] == "npmrc-committed-token")
    assert finding["file"] == ".npmrc" and finding["line"] == 2
    ann = [a for a in result.annotations("error") if a.properties.get("file") == ".npmrc"]
    assert ann and ann[0].properties.get("line") == "2"


def test_committed_npmrc_with_placeholder_passes(release) -> None:
    rel = release(extra_files={".npmrc": "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n"})
    result = rel.run()
    assert result.returncode == 0, result.describe()


def test_token_in_home_npmrc_blocks(release) -> None:
    rel = release()
    (rel.home / ".npmrc").write_text("//registry.example.test/:_authToken=npm_developerMachineToken0123456789ab\n")
    _assert_blocked(rel.run(), rel, "token-in-user-npmrc")


def test_token_in_npm_config_userconfig_blocks(release, tmp_path: Path) -> None:
    rel = release()
    cfg = tmp_path / "user-npmrc"
    cfg.write_text("_auth=dXNlcjpwYXNz\n")
    # issue 21: an npm_config_* variable in the job's environment makes publish mode refuse to start (exit 2)
    result = rel.run(env={"NPM_CONFIG_USERCONFIG": str(cfg)})
    _assert_blocked(result, rel, "", code=2)
    assert "`NPM_CONFIG_USERCONFIG`" in result.outputs.get("error", "") + result.stdout, result.describe()


def test_read_only_token_blocks(release) -> None:
    rel = release()
    ro = rel.verdaccio.create_token(rel.login_token, rel.password, readonly=True)
    result = rel.run(token=ro)
    assert_no_leak(result, ro)
    _assert_blocked(result, rel, "token-read-only")


def test_rejected_token_blocks(release) -> None:
    rel = release()
    bogus = "npm_" + "Z" * 36
    result = rel.run(token=bogus)
    assert_no_leak(result, bogus)
    _assert_blocked(result, rel, "token-rejected")


def test_non_maintainer_token_blocks(release) -> None:
    rel = release(version="1.0.0")
    rel.verdaccio.publish(rel.ws, rel.token)  # 1.0.0 exists; now release 1.0.1
    rel.verdaccio.set_maintainers(rel.name, ["bob", "carol"])
    try:
        pkg = json.loads((rel.ws / "package.json").read_text())
        pkg["version"] = "1.0.1"
        (rel.ws / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
        commit_all(rel.ws, "1.0.1")
        rel.sha = head_sha(rel.ws)
        rel.repo.add_commit(rel.sha, "main")
        rel.repo.add_check_run(rel.sha, "test", "success")
        rel.repo.add_workflow_run(rel.sha, run_id=4244).add_job("release", status="in_progress")
        result = rel.run(env={"GITHUB_RUN_ID": "4244", "GITHUB_SHA": rel.sha})
        assert result.returncode == 1, result.describe()
        assert "not-a-maintainer" in _rules(result)
        assert rel.versions() == ["1.0.0"]
        msg = next(f["message"] for f in result.report["findings"] if f["rule"] == "not-a-maintainer")
        assert rel.user in msg and "bob" in msg
        # the same token is fine once its user is a maintainer
        rel.verdaccio.set_maintainers(rel.name, ["bob", rel.user])
        result = rel.run(env={"GITHUB_RUN_ID": "4244", "GITHUB_SHA": rel.sha})
        assert result.returncode == 0, result.describe()
        assert rel.versions() == ["1.0.0", "1.0.1"]
    finally:
        rel.verdaccio.clear_patches(rel.name)


def test_registry_without_maintainers_warns(release) -> None:
    rel = release()
    rel.verdaccio.publish(rel.ws, rel.token)
    pkg = json.loads((rel.ws / "package.json").read_text())
    pkg["version"] = "1.1.0"
    (rel.ws / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    _recommit(rel, "1.1.0")
    result = rel.run()
    assert result.returncode == 0, result.describe()
    sev = {f["rule"]: f["severity"] for f in result.report["findings"]}
    assert sev.get("maintainers-unknown") == "warn"
    assert result.outputs["previous-version"] == "1.0.0"
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text("credential:\n  unknown-maintainers: block\n")
    pkg["version"] = "1.2.0"
    (rel.ws / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    _recommit(rel, "1.2.0")
    result = rel.run()
    assert result.returncode == 1 and "maintainers-unknown" in _rules(result)
    assert rel.versions() == ["1.0.0", "1.1.0"]


def test_literal_token_in_workflow_blocks(release) -> None:
    wf = (
        "on: push\njobs:\n  release:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: OWNER/npm-gatekeeper@v1\n        with:\n"
        "          npm-token: npm_literalTokenInTheWorkflow0123456\n"
    )
    rel = release(workflow=wf)
    result = rel.run()
    _assert_blocked(result, rel, "token-not-from-secret")
    f = next(f for f in result.report["findings"] if f["rule"] == "token-not-from-secret")
    assert f["file"] == ".github/workflows/release.yml" and f["line"] == 8


def test_token_from_vars_in_workflow_blocks(release) -> None:
    wf = (
        "on: push\njobs:\n  release:\n    runs-on: ubuntu-latest\n    env:\n      NODE_AUTH_TOKEN: ${{ vars.NPM }}\n"
        "    steps:\n      - uses: OWNER/npm-gatekeeper@v1\n"
    )
    rel = release(workflow=wf)
    _assert_blocked(rel.run(), rel, "token-not-from-secret")


def test_token_committed_in_a_tracked_file_blocks(release) -> None:
    rel = release()
    (rel.ws / "notes.txt").write_text(f"debug: {rel.token}\n")
    commit_all(rel.ws, "oops")
    rel.sha = head_sha(rel.ws)
    rel.repo.add_commit(rel.sha, "main")
    rel.repo.add_check_run(rel.sha, "test", "success")
    rel.repo.add_workflow_run(rel.sha, run_id=4245).add_job("release", status="in_progress")
    result = run_action(
        rel.ws,
        {**rel.github.env(), "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": rel.sha, "GITHUB_RUN_ID": "4245", **FAST_RETRIES},
        {"ref": "refs/heads/main"},
        home=rel.home,
        inputs={"npm-token": rel.token, "github-token": rel.github.token or "", "registry": rel.verdaccio.url},
    )
    assert result.returncode == 1, result.describe()
    assert "token-in-repository" in _rules(result)
    assert rel.versions() == []
    # the token is in the workspace by the user's own doing; the run itself must not repeat it
    stdout = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("::add-mask::"))
    for text in (stdout, result.stderr, result.summary, json.dumps(result.report), json.dumps(result.outputs)):
        assert rel.token not in text


def test_github_500_past_retries_fails_closed(release) -> None:
    rel = release()
    rel.github.fail(r"/check-runs", status=500, times=50)
    result = rel.run()
    assert result.returncode == 2, result.describe()
    assert result.outputs["decision"] == "block" and result.outputs["published"] == "false"
    assert rel.versions() == []
    assert result.report["gates"]["green-build"] == "error"
    assert "Nothing was published" in result.stderr + result.summary
    assert "HTTP 500" in result.summary or "500" in result.stderr
    assert "Traceback" not in result.stderr


def test_github_5xx_then_recovery_publishes(release) -> None:
    rel = release()
    rel.github.fail(r"/check-runs", status=502, times=1)
    result = rel.run()
    assert result.returncode == 0, result.describe()


def test_rate_limit_with_retry_after_is_waited_out(release) -> None:
    rel = release()
    rel.github.rate_limit(r"/check-runs", times=1, retry_after=1, secondary=True)
    result = rel.run()
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0"]


def test_rate_limit_past_its_retries_fails_closed(release) -> None:
    rel = release()
    rel.github.rate_limit(r"/check-runs", times=50, retry_after=1, secondary=True)
    result = rel.run(env={"GATEKEEPER_GITHUB_MAX_RATE_WAIT": "2"})
    assert result.returncode == 2, result.describe()
    assert rel.versions() == []


def test_registry_down_fails_closed(release) -> None:
    rel = release()
    result = rel.run(inputs={"registry": "http://127.0.0.1:9/"}, env={"GATEKEEPER_REGISTRY_RETRIES": "0"})
    assert result.returncode == 2, result.describe()
    assert rel.versions() == []
    assert "Nothing was published" in result.stderr


def test_broken_policy_fails_closed_naming_the_line(release) -> None:
    rel = release()
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text("branch:\n  events: [push]\n  colour: red\n")
    result = rel.run()
    assert result.returncode == 2, result.describe()
    assert "line 3" in result.stderr and "branch.colour" in result.stderr
    assert rel.versions() == []


def test_version_already_published_is_a_clear_block(release) -> None:
    rel = release()
    rel.verdaccio.publish(rel.ws, rel.token)
    result = rel.run()
    assert result.returncode == 1, result.describe()
    assert "Traceback" not in result.stderr
    assert _rules(result) & {"version-exists", "publish-rejected"}


def test_dry_run_does_everything_but_the_upload(release) -> None:
    rel = release()
    result = rel.run(inputs={"dry-run": "true"})
    assert result.returncode == 0, result.describe()
    assert result.outputs["published"] == "false" and result.outputs["decision"] == "allow"
    assert rel.versions() == []
    assert "dry run" in result.summary


def test_check_mode_never_publishes(release) -> None:
    rel = release()
    result = rel.run(inputs={"mode": "check"})
    assert result.returncode == 0, result.describe()
    assert result.outputs["decision"] == "allow" and result.outputs["published"] == "false"
    assert rel.versions() == []


def test_dist_tag_input_is_used(release) -> None:
    rel = release(version="2.0.0-beta.1")
    result = rel.run(inputs={"tag": "next"})
    assert result.returncode == 0, result.describe()
    doc = rel.verdaccio.packument(rel.name)
    assert doc is not None and doc["dist-tags"].get("next") == "2.0.0-beta.1"


def test_missing_token_without_oidc_blocks(release) -> None:
    rel = release()
    result = rel.run(token="")
    _assert_blocked(result, rel, "credential-missing")


def test_token_cidr_limits_are_reported(release) -> None:
    rel = release()
    limited = rel.verdaccio.create_token(rel.login_token, rel.password, cidr=["127.0.0.1/32"])
    result = rel.run(token=limited)
    assert_no_leak(result, limited)
    assert result.returncode == 0, result.describe()
    finding = next(f for f in result.report["findings"] if f["rule"] == "token-restrictions")
    assert "127.0.0.1/32" in finding["message"] and finding["severity"] == "info"


def test_oidc_without_token_uses_trusted_publishing(release) -> None:
    rel = release()
    rel.github.oidc.configure(REPO, rel.sha)
    result = rel.run(token="", env=rel.github.oidc_env(), inputs={"mode": "check"})
    assert result.returncode == 0, result.describe()
    rules = {f["rule"] for f in result.report["findings"]}
    assert "oidc-trusted-publishing" in rules and "credential-missing" not in rules
    assert rel.versions() == []
    # the gate asked for its own ID token, for the registry's audience (more in tests/test_e2e_oidc.py)
    assert [c["aud"] for c in rel.github.oidc.issued] == ["npm:127.0.0.1"]


def test_oidc_token_endpoint_down_fails_closed(release) -> None:
    rel = release()
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/token?x=1", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "oidc-req"}
    result = rel.run(token="", env=env, inputs={"mode": "check"})
    assert result.returncode == 2, result.describe()
    assert result.report["gates"]["credential"] == "error"
    assert "ID-token endpoint" in result.summary and "Traceback" not in result.stderr


def test_another_job_of_this_run_still_running_counts_as_pending(release) -> None:
    rel = release()
    run = rel.repo.runs[4242]
    run.add_job("integration-tests", status="in_progress", runner_name="GitHub Actions 7")
    result = rel.run()
    _assert_blocked(result, rel, "check-pending")
    msgs = json.dumps(result.report["findings"])
    assert "integration-tests" in msgs
    assert "`release`" not in msgs  # this job itself is never waited for


def test_own_job_found_by_runner_name_among_same_named_jobs(release) -> None:
    rel = release()
    run = rel.repo.runs[4242]
    run.add_job("release", status="completed", conclusion="success", runner_name="GitHub Actions 3")
    result = rel.run()
    assert result.returncode == 0, result.describe()


def test_broken_package_json_fails_closed(release) -> None:
    rel = release()
    (rel.ws / "package.json").write_text('{"name": "x", "version": ')
    result = rel.run()
    assert result.returncode == 2, result.describe()
    assert result.outputs["decision"] == "block" and result.outputs["published"] == "false"
    assert "Nothing was published" in result.stderr and "package.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert rel.versions() == []


def test_missing_package_fails_closed(release) -> None:
    rel = release()
    result = rel.run(inputs={"package-path": "packages/nope"})
    assert result.returncode == 2, result.describe()
    assert "package-path" in result.stderr
