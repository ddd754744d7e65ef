"""The local GitHub API stand-in behaves like GitHub for PyGithub 2.10 and for plain HTTP clients."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from github import (
    BadCredentialsException,
    GithubException,
    GithubRetry,
    RateLimitExceededException,
    UnknownObjectException,
)

from tests._support.github_server import GitHubServer, iter_link_header, recorded

SHA = "10a7135a04f71e6101f8b013aded8a662d08fd1f"
OTHER_SHA = "c6e5cac67a58a4eb11f1f28567a77a6e2cc8ee98"


def _urls(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj] if obj.startswith(("http://", "https://")) else []
    if isinstance(obj, list):
        return [u for v in obj for u in _urls(v)]
    if isinstance(obj, dict):
        return [u for v in obj.values() for u in _urls(v)]
    return []


def _get(server: GitHubServer, path: str, token: str | None = "default", **params: Any) -> requests.Response:
    tok = server.token if token == "default" else token
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    return requests.get(server.url + path, params=params, headers=headers, timeout=10)


def test_repo_shape_and_every_url_on_the_servers_host(github_server: GitHubServer) -> None:
    github_server.state.user("acme", type="Organization")
    github_server.repo("acme/widget", default_branch="trunk")
    github_server.repo("forker/widget", fork=True, parent="acme/widget")
    gh = github_server.github()

    repo = gh.get_repo("acme/widget")
    fork = gh.get_repo("forker/widget")

    assert (repo.full_name, repo.default_branch, repo.fork) == ("acme/widget", "trunk", False)
    assert fork.fork is True and fork.parent.full_name == "acme/widget"
    body = _get(github_server, "/repos/acme/widget").json()
    assert set(recorded("Retry.testReturnsRepoAfter3Retries", 3).body) <= set(body)  # the recorded shape
    assert (
        body["organization"]["login"] == "acme"
        and "organization" not in _get(github_server, "/repos/forker/widget").json()
    )
    foreign = [u for u in _urls(body) if not u.startswith(github_server.url)]
    assert foreign == []


def test_check_runs_paginate_through_link_headers(github_server: GitHubServer) -> None:
    repo = github_server.repo("acme/widget")
    for i in range(5):
        repo.add_check_run(SHA, f"check-{i}", conclusion="failure" if i == 3 else "success")
    gh = github_server.github(per_page=2)

    runs = list(gh.get_repo("acme/widget").get_commit(SHA).get_check_runs())

    assert [(r.name, r.conclusion) for r in runs] == [
        ("check-0", "success"), ("check-1", "success"), ("check-2", "success"),
        ("check-3", "failure"), ("check-4", "success"),
    ]  # fmt: skip
    pages = github_server.requests_to("GET", r"/check-runs$")
    assert [r.query.get("page", "1") for r in pages] == ["1", "2", "3"]
    assert pages[1].path == f"/repositories/{repo.id}/commits/{SHA}/check-runs"  # followed GitHub's Link
    first = _get(github_server, f"/repos/acme/widget/commits/{SHA}/check-runs", per_page=2)
    links = dict((rel, url) for url, rel in iter_link_header(first.headers["Link"]))
    assert list(links) == ["next", "last"]
    assert links["next"].endswith("per_page=2&page=2") and links["last"].endswith("per_page=2&page=3")
    assert first.json()["total_count"] == 5 and len(first.json()["check_runs"]) == 2
    middle = _get(github_server, f"/repos/acme/widget/commits/{SHA}/check-runs", per_page=2, page=2)
    assert [rel for _, rel in iter_link_header(middle.headers["Link"])] == ["prev", "next", "last", "first"]
    single = _get(github_server, f"/repos/acme/widget/commits/{SHA}/check-runs", per_page=10)
    assert "Link" not in single.headers


def test_check_run_shape_follows_the_recording(github_server: GitHubServer) -> None:
    repo = github_server.repo("acme/widget")
    repo.add_check_run(SHA, "lint", status="in_progress", conclusion="success", app_slug="circleci-checks")

    body = _get(github_server, f"/repos/acme/widget/commits/{SHA}/check-runs").json()
    run = body["check_runs"][0]

    recorded_run = recorded("CheckRun.testGetCheckRunsForRef").body["check_runs"][0]
    assert set(recorded_run) <= set(run)
    assert (run["status"], run["conclusion"], run["app"]["slug"]) == ("in_progress", None, "circleci-checks")
    assert run["html_url"].startswith(github_server.url)


def test_check_runs_filter_latest_hides_superseded_runs(github_server: GitHubServer) -> None:
    repo = github_server.repo("acme/widget")
    repo.add_check_run(SHA, "test", conclusion="failure")
    repo.add_check_run(SHA, "test", conclusion="success")  # re-run
    repo.add_check_run(SHA, "lint", conclusion="success")
    path = f"/repos/acme/widget/commits/{SHA}/check-runs"

    latest = _get(github_server, path).json()
    everything = _get(github_server, path, filter="all").json()
    only_test = _get(github_server, path, check_name="test", filter="all").json()

    assert sorted((r["name"], r["conclusion"]) for r in latest["check_runs"]) == [
        ("lint", "success"),
        ("test", "success"),
    ]
    assert everything["total_count"] == 3
    assert {r["name"] for r in only_test["check_runs"]} == {"test"} and only_test["total_count"] == 2


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([], "pending"),
        (["success", "success"], "success"),
        (["success", "pending"], "pending"),
        (["success", "error"], "failure"),
        (["pending", "failure"], "failure"),
    ],
)
def test_combined_status_state_like_github(github_server: GitHubServer, states: list[str], expected: str) -> None:
    repo = github_server.repo("acme/widget")
    repo.add_commit(SHA)
    for i, state in enumerate(states):
        repo.add_status(SHA, f"ci/{i}", state)

    combined = github_server.github().get_repo("acme/widget").get_commit(SHA).get_combined_status()

    assert combined.state == expected
    assert [(s.context, s.state) for s in combined.statuses] == [(f"ci/{i}", s) for i, s in enumerate(states)]
    assert combined.total_count == len(states)


def test_combined_status_keeps_the_newest_status_per_context(github_server: GitHubServer) -> None:
    repo = github_server.repo("acme/widget")
    repo.add_status(SHA, "ci/jenkins", "failure")
    repo.add_status(SHA, "ci/jenkins", "success")

    body = _get(github_server, f"/repos/acme/widget/commits/{SHA}/status").json()

    assert body["state"] == "success" and body["total_count"] == 1
    assert set(recorded("CommitCombinedStatus.setUp").body) <= set(body)


def test_workflow_run_jobs_attempts_and_job_check_runs(github_server: GitHubServer) -> None:
    repo = github_server.repo("acme/widget")
    run = repo.add_workflow_run(SHA, run_id=4242, name="Release")
    build = run.add_job("build", conclusion="failure")
    run.rerun()
    rebuilt = run.add_job("build", conclusion="success")
    me = run.add_job("release", status="in_progress", runner_name="GitHub Actions 7")
    gh_repo = github_server.github().get_repo("acme/widget")

    wr = gh_repo.get_workflow_run(4242)
    latest = list(wr.jobs())
    every = list(wr.jobs("all"))
    first_attempt = _get(github_server, "/repos/acme/widget/actions/runs/4242/attempts/1/jobs").json()
    checks = {c.id: c for c in gh_repo.get_commit(SHA).get_check_runs(filter="all")}

    assert (wr.head_sha, wr.run_attempt) == (SHA, 2)
    assert [(j.id, j.name, j.status, j.conclusion, j.runner_name) for j in latest] == [
        (rebuilt.id, "build", "completed", "success", "GitHub Actions 2"),
        (me.id, "release", "in_progress", None, "GitHub Actions 7"),
    ]
    assert {j.id for j in every} == {build.id, rebuilt.id, me.id}
    assert [j["id"] for j in first_attempt["jobs"]] == [build.id]
    assert checks[me.id].name == "release" and checks[me.id].status == "in_progress"  # job id == check-run id
    job = _get(github_server, f"/repos/acme/widget/actions/jobs/{me.id}").json()
    assert set(recorded("Repository.testGetWorkflowJob", 1).body) <= set(job)
    assert job["check_run_url"] == f"{github_server.url}/repos/acme/widget/check-runs/{me.id}"
    assert job["run_attempt"] == 2


def test_rulesets_for_a_branch(github_server: GitHubServer) -> None:
    repo = github_server.repo("acme/widget")
    repo.require_checks("main", ["test", "lint"])
    requester = github_server.github().get_repo("acme/widget")._requester

    _, rules = requester.requestJsonAndCheck("GET", "/repos/acme/widget/rules/branches/main")
    _, none = requester.requestJsonAndCheck("GET", "/repos/acme/widget/rules/branches/other")

    assert rules == [
        {
            "type": "required_status_checks",
            "parameters": {
                "required_status_checks": [{"context": "test"}, {"context": "lint"}],
                "strict_required_status_checks_policy": False,
            },
            "ruleset_source_type": "Repository",
            "ruleset_source": "acme/widget",
            "ruleset_id": 1,
        }
    ]
    assert none == []


def test_pull_request_files_comments_labels_permissions(github_server: GitHubServer) -> None:
    repo = github_server.repo("acme/widget")
    pr = repo.add_pull(7, OTHER_SHA, head_ref="feature", user="contributor")
    for i in range(35):
        pr.add_file(f"src/file{i}.js", status="added", additions=i)
    pr.label("release-approved", actor="maintainer")
    repo.set_permission("maintainer", "maintain")
    repo.set_permission("contributor", "read")
    gh_repo = github_server.github().get_repo("acme/widget")

    gh_pr = gh_repo.get_pull(7)
    files = list(gh_pr.get_files())
    comment = gh_pr.create_issue_comment("first")
    comment.edit("second")
    comments = list(gh_pr.get_issue_comments())
    events = [e for e in gh_pr.as_issue().get_events() if e.event == "labeled"]

    assert (gh_pr.head.sha, gh_pr.head.ref, gh_pr.base.ref, gh_pr.user.login) == (
        OTHER_SHA,
        "feature",
        "main",
        "contributor",
    )
    assert [f.filename for f in files] == [f"src/file{i}.js" for i in range(35)]
    assert len(github_server.requests_to("GET", r"/pulls/7/files$")) == 2  # 30 + 5
    assert [c.body for c in comments] == ["second"] and comments[0].user.login == "github-actions[bot]"
    assert len(github_server.requests_to("POST", r"/issues/7/comments$")) == 1
    patches = github_server.requests_to("PATCH", rf"/issues/comments/{comment.id}$")
    assert [p.json for p in patches] == [{"body": "second"}]
    assert [(e.actor.login, e.label.name) for e in events] == [("maintainer", "release-approved")]
    assert gh_repo.get_collaborator_permission("maintainer") == "write"  # legacy field maps maintain -> write
    assert gh_repo.get_collaborator_role_name("maintainer") == "maintain"
    assert gh_repo.get_collaborator_permission("contributor") == "read"
    with pytest.raises(UnknownObjectException):
        gh_repo.get_collaborator_permission("nobody-at-all")
    assert set(recorded("PullRequest.testGetFiles").body[0]) <= set(
        _get(github_server, "/repos/acme/widget/pulls/7/files").json()[0]
    )


def test_contents_are_base64(github_server: GitHubServer) -> None:
    repo = github_server.repo("acme/widget")
    repo.add_file(".github/npm-gatekeeper.yml", "checks:\n  ignore: [docs]\n", ref="main")

    content = github_server.github().get_repo("acme/widget").get_contents(".github/npm-gatekeeper.yml", ref="main")
    missing = _get(github_server, "/repos/acme/widget/contents/nope.txt")

    assert content.decoded_content == b"checks:\n  ignore: [docs]\n"
    assert base64.b64decode(
        _get(github_server, "/repos/acme/widget/contents/.github/npm-gatekeeper.yml").json()["content"]
    )
    assert missing.status_code == 404


def test_errors_have_githubs_shapes(github_server: GitHubServer) -> None:
    github_server.repo("acme/widget").add_commit(SHA)

    with pytest.raises(BadCredentialsException):
        github_server.github(token="ghs_wrong").get_repo("acme/widget")
    with pytest.raises(UnknownObjectException):
        github_server.github().get_repo("acme/nothing")
    with pytest.raises(GithubException) as unknown_sha:
        github_server.github().get_repo("acme/widget").get_commit("f" * 40).get_combined_status()
    anonymous = _get(github_server, "/repos/acme/widget", token=None)

    assert unknown_sha.value.status == 422
    assert anonymous.status_code == 401 and anonymous.json()["message"] == "Requires authentication"
    assert _get(github_server, "/repos/acme/widget", token="nope").json()["message"] == "Bad credentials"


def test_retry_recovers_from_5xx_then_gives_up(github_server: GitHubServer) -> None:
    github_server.repo("acme/widget")
    gh = github_server.github(retry=GithubRetry(total=3, backoff_factor=0, raise_on_status=False))

    github_server.fail(r"^/repos/acme/widget$", status=502, times=2)
    assert gh.get_repo("acme/widget").full_name == "acme/widget"
    assert len(github_server.requests_to("GET", r"^/repos/acme/widget$")) == 3

    github_server.fail(r"^/repos/acme/widget$", status=500, times=10)
    with pytest.raises(GithubException) as err:
        gh.get_repo("acme/widget")
    assert err.value.status == 500 and err.value.data == {"error": "Server Error"}
    assert len(github_server.requests_to("GET", r"^/repos/acme/widget$")) == 3 + 4  # 1 try + 3 retries


def test_exhausted_retries_raise_requests_retryerror_by_default(github_server: GitHubServer) -> None:
    """PyGithub quirk worth knowing: with urllib3's default raise_on_status=True it is not a GithubException."""
    github_server.repo("acme/widget")
    github_server.fail(r"^/repos/acme/widget$", status=503, times=10)
    gh = github_server.github(retry=GithubRetry(total=2, backoff_factor=0))

    with pytest.raises(requests.exceptions.RetryError):
        gh.get_repo("acme/widget")


def test_retry_waits_out_a_primary_rate_limit(github_server: GitHubServer) -> None:
    github_server.repo("acme/widget")
    github_server.rate_limit(r"^/repos/acme/widget$", times=1, retry_after=1)
    limited = _get(github_server, "/repos/acme/widget")
    github_server.rate_limit(r"^/repos/acme/widget$", times=1, retry_after=1)
    gh = github_server.github(retry=GithubRetry(total=3, backoff_factor=0, raise_on_status=False))

    started = time.monotonic()
    repo = gh.get_repo("acme/widget")

    assert repo.full_name == "acme/widget"
    assert time.monotonic() - started >= 0.5  # waited for X-RateLimit-Reset
    assert limited.status_code == 403 and limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) >= int(time.time()) - 5
    assert limited.json()["message"].startswith("API rate limit exceeded")
    assert "Retry-After" not in limited.headers


def test_retry_honours_retry_after_of_a_secondary_limit(github_server: GitHubServer) -> None:
    github_server.repo("acme/widget")
    github_server.rate_limit(r"^/repos/acme/widget$", times=1, retry_after=1, secondary=True)
    gh = github_server.github(retry=GithubRetry(total=3, backoff_factor=0, raise_on_status=False))

    started = time.monotonic()
    assert gh.get_repo("acme/widget").full_name == "acme/widget"
    assert time.monotonic() - started >= 0.9

    github_server.rate_limit(r"^/repos/acme/widget$", times=1, retry_after=7, secondary=True)
    limited = _get(github_server, "/repos/acme/widget")
    assert limited.headers["Retry-After"] == "7"
    assert limited.json() == recorded("SpecificExceptions.testAuthenticatedRateLimitExceeded", 1).body


def test_rate_limit_gives_up_after_n_faults(github_server: GitHubServer) -> None:
    github_server.repo("acme/widget")
    github_server.rate_limit(r"^/repos/acme/widget$", times=10, retry_after=0, secondary=True)
    gh = github_server.github(retry=GithubRetry(total=2, backoff_factor=0, raise_on_status=False))

    with pytest.raises(RateLimitExceededException) as err:
        gh.get_repo("acme/widget")

    assert err.value.status == 403
    assert len(github_server.requests_to("GET", r"^/repos/acme/widget$")) == 3


def test_without_retry_a_rate_limit_is_a_ratelimitexceededexception(github_server: GitHubServer) -> None:
    github_server.repo("acme/widget")
    github_server.rate_limit(r"^/repos/acme/widget$", times=1)

    with pytest.raises(RateLimitExceededException):
        github_server.github(retry=None).get_repo("acme/widget")


def test_non_json_503_body_as_recorded(github_server: GitHubServer) -> None:
    github_server.repo("acme/widget")
    github_server.fail(r"^/repos/acme/widget$", status=503, times=1)

    with pytest.raises(GithubException) as err:
        github_server.github(retry=None).get_repo("acme/widget")

    assert err.value.status == 503


def test_hooks_can_change_state_between_polls(github_server: GitHubServer) -> None:
    repo = github_server.repo("acme/widget")
    check = repo.add_check_run(SHA, "test", status="in_progress")
    polls = {"n": 0}

    def finish_on_third_poll(_req: object, _state: object) -> None:
        polls["n"] += 1
        if polls["n"] == 3:
            check.status, check.conclusion = "completed", "success"

    github_server.on(r"/check-runs$", finish_on_third_poll)
    seen = [
        _get(github_server, f"/repos/acme/widget/commits/{SHA}/check-runs").json()["check_runs"][0]["status"]
        for _ in range(3)
    ]

    assert seen == ["in_progress", "in_progress", "completed"]


def test_subprocess_reaches_it_through_github_api_url(github_server: GitHubServer) -> None:
    github_server.repo("acme/widget", default_branch="develop")
    code = (
        "import json, os, urllib.request\n"
        "req = urllib.request.Request(os.environ['GITHUB_API_URL'] + '/repos/acme/widget',"
        " headers={'Authorization': 'token ' + os.environ['GITHUB_TOKEN']})\n"
        "print(json.load(urllib.request.urlopen(req))['default_branch'])\n"
    )

    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**github_server.env(), "GITHUB_TOKEN": str(github_server.token)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "develop"
    assert github_server.requests_to("GET", r"^/repos/acme/widget$")[0].headers["authorization"].startswith("token ")


def test_request_log_records_json_bodies_and_queries(github_server: GitHubServer) -> None:
    github_server.repo("acme/widget").add_pull(3, SHA)

    requests.post(
        f"{github_server.url}/repos/acme/widget/issues/3/comments?x=1",
        json={"body": "hi"},
        headers={"Authorization": f"token {github_server.token}"},
        timeout=10,
    )

    (req,) = github_server.requests_to("POST")
    assert (req.path, req.query, req.json) == ("/repos/acme/widget/issues/3/comments", {"x": "1"}, {"body": "hi"})
    assert json.loads(json.dumps(req.headers))["authorization"] == f"token {github_server.token}"


def test_server_stops_and_frees_its_port() -> None:
    server = GitHubServer().start()
    url = server.url
    server.stop()

    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/user", timeout=2)
