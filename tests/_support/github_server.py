"""A local stand-in for the GitHub REST API.

Responses are built from real recorded GitHub responses (`tests/fixtures/github/*.json`, copied
from shared/github-recorded): a recorded body is loaded as a template, every URL in it is moved to
this server's own host, and the fields that matter are overridden from the `FakeGitHub` state.

    with GitHubServer() as server:
        repo = server.state.repo("acme/widget")
        repo.add_check_run(sha, "test", conclusion="success")
        gh = server.github()               # a PyGithub client pointed at the server
        ...                                # or pass server.env() to a subprocess
        assert server.requests_to("POST", r"/issues/\\d+/comments")

Only 127.0.0.1 is ever bound or linked to.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import math
import re
import threading
import time
import traceback
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .net import LOOPBACK
from .oidc_issuer import OidcIssuer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"
DEFAULT_TOKEN = "ghs_" + "FakeGitHubToken0123456789abcdefghijkl"  # 36 chars after the prefix
DOCS = "https://docs.github.com/rest"
PRIMARY_RATE_LIMIT_MESSAGE = (
    "API rate limit exceeded for installation ID 41898282. If you reach out to GitHub Support for help, "
    "please include the request ID 0000:0000:0000000:0000000:00000000."
)
ROLES = ("admin", "maintain", "write", "triage", "read", "none")


# --------------------------------------------------------------------------------------------------
# recorded templates


@dataclass(frozen=True)
class Exchange:
    """One recorded request/response pair."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: Any


@functools.cache
def _recorded(name: str) -> tuple[Exchange, ...]:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return tuple(
        Exchange(e["method"], e["path"], int(e["status"]), dict(e.get("headers") or {}), e.get("body"))
        for e in data["exchanges"]
    )


def recorded(name: str, index: int = 0) -> Exchange:
    """A recorded exchange from tests/fixtures/github/<name>.json (the body is a deep copy)."""
    ex = _recorded(name)[index]
    return Exchange(ex.method, ex.path, ex.status, dict(ex.headers), copy.deepcopy(ex.body))


def template(name: str, index: int = 0) -> Any:
    """A deep copy of a recorded response body."""
    return recorded(name, index).body


_API_HOST = re.compile(r"https?://api\.github\.com")
_OTHER_HOST = re.compile(
    r"https?://(?:[a-z0-9-]+\.)*(?:github\.com|githubusercontent\.com|gravatar\.com|akamai\.net|"
    r"edx\.org|readthedocs\.io|vincent-jacques\.net)"
)


def _rewrite(obj: Any, fn: Callable[[str], str]) -> Any:
    """Apply `fn` to every string inside a JSON value (in place for containers)."""
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            obj[i] = _rewrite(v, fn)
        return obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = _rewrite(v, fn)
        return obj
    return obj


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"{kind}:{ident}".encode()).decode().rstrip("=")


# --------------------------------------------------------------------------------------------------
# state


@dataclass
class User:
    """A GitHub account."""

    login: str
    id: int
    type: str = "User"  # User | Bot | Organization


@dataclass
class CheckRun:
    """A check run on a commit (`app_slug` is `github-actions` for workflow jobs)."""

    name: str
    head_sha: str
    status: str = "completed"  # queued | in_progress | completed | waiting | requested | pending
    conclusion: str | None = "success"  # success | failure | neutral | cancelled | skipped | timed_out | ...
    id: int = 0
    app_slug: str = "github-actions"
    app_name: str = "GitHub Actions"
    app_id: int = 15368
    html_url: str | None = None
    details_url: str | None = None
    started_at: str = field(default_factory=_now)
    completed_at: str | None = None
    output_title: str | None = None
    output_summary: str | None = None
    #: The check suite it belongs to. None: the suite of its app on its commit (one per app and commit, as
    #: GitHub makes for an app's runs; a re-run stays in it). A workflow job's suite is its workflow run's.
    check_suite_id: int | None = None

    @property
    def suite(self) -> int:
        if self.check_suite_id is not None:
            return self.check_suite_id
        return int(hashlib.sha1(f"{self.head_sha}:{self.app_id}".encode()).hexdigest()[:7], 16)


@dataclass
class CommitStatus:
    """A commit status (the older statuses API)."""

    context: str
    state: str = "success"  # error | failure | pending | success
    description: str | None = None
    target_url: str | None = None
    id: int = 0
    created_at: str = field(default_factory=_now)


@dataclass
class Job:
    """A workflow job; GitHub shows it as a check run with the same id on the run's head sha."""

    name: str
    run_id: int
    head_sha: str
    status: str = "completed"  # queued | in_progress | completed | waiting
    conclusion: str | None = "success"
    id: int = 0
    run_attempt: int = 1
    runner_name: str | None = "GitHub Actions 2"
    labels: list[str] = field(default_factory=lambda: ["ubuntu-latest"])
    workflow_name: str = "Release"
    head_branch: str | None = "main"
    started_at: str = field(default_factory=_now)
    completed_at: str | None = None


@dataclass
class WorkflowRun:
    """A workflow run and its jobs (all attempts)."""

    id: int
    head_sha: str
    name: str = "Release"
    head_branch: str | None = "main"
    event: str = "push"
    status: str = "in_progress"
    conclusion: str | None = None
    run_attempt: int = 1
    path: str = ".github/workflows/release.yml"
    run_number: int = 1
    workflow_id: int = 1
    actor: str = "octocat"
    jobs: list[Job] = field(default_factory=list)
    _ids: Callable[[], int] | None = field(default=None, repr=False)

    def add_job(
        self,
        name: str,
        status: str = "completed",
        conclusion: str | None = "success",
        *,
        runner_name: str | None = "GitHub Actions 2",
        attempt: int | None = None,
        id: int | None = None,
        **kw: Any,
    ) -> Job:
        """Add a job to the current (or given) attempt; `conclusion` is ignored unless completed."""
        assert self._ids is not None
        job = Job(
            name=name,
            run_id=self.id,
            head_sha=self.head_sha,
            status=status,
            conclusion=conclusion if status == "completed" else None,
            id=id if id is not None else self._ids(),
            run_attempt=attempt or self.run_attempt,
            runner_name=runner_name,
            workflow_name=self.name,
            head_branch=self.head_branch,
            completed_at=_now() if status == "completed" else None,
            **kw,
        )
        self.jobs.append(job)
        return job

    def rerun(self) -> int:
        """Start a new attempt (jobs added afterwards belong to it)."""
        self.run_attempt += 1
        return self.run_attempt

    def jobs_of(self, attempt: int | None = None) -> list[Job]:
        want = attempt if attempt is not None else self.run_attempt
        return [j for j in self.jobs if j.run_attempt == want]


@dataclass
class PullFile:
    """A file changed in a pull request."""

    filename: str
    status: str = "modified"  # added | removed | modified | renamed | copied | changed | unchanged
    additions: int = 1
    deletions: int = 0
    patch: str | None = "@@ -1 +1 @@\n-old\n+new"
    previous_filename: str | None = None


@dataclass
class IssueComment:
    """A comment on an issue or pull request."""

    id: int
    issue_number: int
    body: str
    user: User
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)


@dataclass
class IssueEvent:
    """An issue timeline event (`labeled`, `unlabeled`, ...)."""

    id: int
    event: str
    actor: User
    label: str | None = None
    created_at: str = field(default_factory=_now)


@dataclass
class PullRequest:
    """A pull request (also an issue with the same number)."""

    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str
    user: User
    title: str = "Change things"
    body: str = ""
    state: str = "open"
    draft: bool = False
    head_repo: str | None = None  # owner/name of the head repo when it is a fork
    labels: list[str] = field(default_factory=list)
    files: list[PullFile] = field(default_factory=list)
    comments: list[IssueComment] = field(default_factory=list)
    events: list[IssueEvent] = field(default_factory=list)
    _state: FakeGitHub | None = field(default=None, repr=False)

    def add_file(
        self,
        filename: str,
        status: str = "modified",
        additions: int = 1,
        deletions: int = 0,
        patch: str | None = "@@ -1 +1 @@\n-old\n+new",
        previous_filename: str | None = None,
    ) -> PullFile:
        f = PullFile(filename, status, additions, deletions, patch, previous_filename)
        self.files.append(f)
        return f

    def label(self, name: str, actor: str) -> IssueEvent:
        """`actor` applies label `name` (a `labeled` event, as GitHub records it)."""
        assert self._state is not None
        if name not in self.labels:
            self.labels.append(name)
        ev = IssueEvent(self._state.next_id(), "labeled", self._state.user(actor), name)
        self.events.append(ev)
        return ev

    def unlabel(self, name: str, actor: str) -> IssueEvent:
        assert self._state is not None
        if name in self.labels:
            self.labels.remove(name)
        ev = IssueEvent(self._state.next_id(), "unlabeled", self._state.user(actor), name)
        self.events.append(ev)
        return ev

    def add_comment(self, body: str, user: str) -> IssueComment:
        assert self._state is not None
        c = IssueComment(self._state.next_id(), self.number, body, self._state.user(user))
        self.comments.append(c)
        return c


@dataclass
class Repo:
    """One repository's state."""

    full_name: str
    id: int
    owner: User
    default_branch: str = "main"
    fork: bool = False
    parent: str | None = None  # owner/name of the upstream when `fork`
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)  # branch -> head sha
    commits: set[str] = field(default_factory=set)
    check_runs: list[CheckRun] = field(default_factory=list)
    statuses: dict[str, list[CommitStatus]] = field(default_factory=dict)
    runs: dict[int, WorkflowRun] = field(default_factory=dict)
    rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # branch -> rules
    #: branch -> classic branch protection's `required_status_checks` (as GET /branches/{b} shows it)
    protection: dict[str, dict[str, Any]] = field(default_factory=dict)
    rulesets: list[dict[str, Any]] = field(default_factory=list)  # GET /rulesets/{id} bodies (tag rulesets)
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)  # login -> role
    contents: dict[tuple[str | None, str], bytes] = field(default_factory=dict)  # (ref, path) -> bytes
    releases: list[FakeRelease] = field(default_factory=list)  # see "releases and issues" below
    issues: list[FakeIssue] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)  # tag -> sha
    parents: dict[str, list[str]] = field(default_factory=dict)  # sha -> parent shas (compare); issue 8
    reviews: dict[int, list[DeploymentReview]] = field(default_factory=dict)  # run id -> reviews; issue 8
    #: a real git repository holding these commits: `/compare` then answers with their real committer
    #: dates and changed files (issue 21); set by `load_git_history`
    git_dir: Path | None = None
    _state: FakeGitHub | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]

    def _ids(self) -> int:
        assert self._state is not None
        return self._state.next_id()

    def add_commit(self, sha: str, branch: str | None = None) -> str:
        """Make `sha` known (and the head of `branch` if given)."""
        self.commits.add(sha)
        if branch:
            self.branches[branch] = sha
        return sha

    def add_check_run(
        self, sha: str, name: str, conclusion: str | None = "success", status: str = "completed", **kw: Any
    ) -> CheckRun:
        """A check run on `sha`; `conclusion` is dropped unless `status` is completed."""
        self.add_commit(sha)
        run = CheckRun(
            name=name,
            head_sha=sha,
            status=status,
            conclusion=conclusion if status == "completed" else None,
            id=kw.pop("id", None) or self._ids(),
            **kw,
        )
        if status == "completed" and run.completed_at is None:
            run.completed_at = _now()
        self.check_runs.append(run)
        return run

    def add_status(self, sha: str, context: str, state: str = "success", **kw: Any) -> CommitStatus:
        """A commit status on `sha` (newer ones for the same context win)."""
        self.add_commit(sha)
        st = CommitStatus(context=context, state=state, id=kw.pop("id", None) or self._ids(), **kw)
        self.statuses.setdefault(sha, []).append(st)
        return st

    def add_workflow_run(self, head_sha: str, run_id: int | None = None, **kw: Any) -> WorkflowRun:
        """A workflow run on `head_sha`; add jobs with `run.add_job(...)`."""
        self.add_commit(head_sha)
        run = WorkflowRun(id=run_id or self._ids(), head_sha=head_sha, _ids=self._ids, **kw)
        self.runs[run.id] = run
        return run

    def add_tag_ruleset(
        self,
        include: list[str],
        rules: tuple[str, ...] = ("update", "deletion"),
        *,
        enforcement: str = "active",
        exclude: list[str] | None = None,
        name: str = "release tags",
    ) -> int:
        """A repository ruleset targeting tags (`include`: ref patterns such as `refs/tags/v*`), in the shape of
        GitHub's `GET /repos/{o}/{r}/rulesets/{id}` (docs.github.com, REST "Get a repository ruleset")."""
        rid = 100 + len(self.rulesets)
        self.rulesets.append(
            {
                "id": rid,
                "name": name,
                "target": "tag",
                "source_type": "Repository",
                "source": self.full_name,
                "enforcement": enforcement,
                "node_id": _node_id("RepositoryRuleset", rid),
                "bypass_actors": [],
                "conditions": {"ref_name": {"include": list(include), "exclude": list(exclude or [])}},
                "rules": [{"type": t} for t in rules],
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            }
        )
        return rid

    def require_checks(
        self,
        branch: str,
        contexts: list[str],
        strict: bool = False,
        ruleset_id: int = 1,
        integration_id: int | None = None,
    ) -> None:
        """Add a ruleset rule requiring status checks `contexts` on `branch` (from app `integration_id`, if set)."""
        pin = {} if integration_id is None else {"integration_id": integration_id}
        self.rules.setdefault(branch, []).append(
            {
                "type": "required_status_checks",
                "parameters": {
                    "required_status_checks": [{"context": c, **pin} for c in contexts],
                    "strict_required_status_checks_policy": strict,
                },
                "ruleset_source_type": "Repository",
                "ruleset_source": self.full_name,
                "ruleset_id": ruleset_id,
            }
        )

    def protect_branch(self, branch: str, contexts: list[str], app_id: int | None = None) -> None:
        """Classic branch protection on `branch` requiring status checks `contexts` (from app `app_id`, if set)."""
        self.protection[branch] = {
            "enforcement_level": "non_admins",
            "contexts": list(contexts),
            "checks": [{"context": c, "app_id": app_id} for c in contexts],
        }

    def add_pull(
        self,
        number: int,
        head_sha: str,
        head_ref: str = "feature",
        base_ref: str | None = None,
        user: str = "contributor",
        base_sha: str | None = None,
        **kw: Any,
    ) -> PullRequest:
        """A pull request; add files with `pr.add_file`, labels with `pr.label(name, actor)`."""
        assert self._state is not None
        self.add_commit(head_sha)
        base = base_ref or self.default_branch
        pr = PullRequest(
            number=number,
            head_sha=head_sha,
            head_ref=head_ref,
            base_ref=base,
            base_sha=base_sha or self.branches.get(base, "0" * 40),
            user=self._state.user(user),
            _state=self._state,
            **kw,
        )
        self.pulls[number] = pr
        return pr

    def set_permission(self, login: str, role: str) -> None:
        """`role`: admin | maintain | write | triage | read | none."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        assert self._state is not None
        self._state.user(login)
        self.permissions[login] = role

    def add_file(self, path: str, content: bytes | str, ref: str | None = None) -> None:
        """File content served by GET /contents/{path} (`ref=None`: any ref)."""
        self.contents[(ref, path.strip("/"))] = content.encode() if isinstance(content, str) else content

    def add_release(self, tag: str, body: str = "", author: str = "github-actions[bot]", **kw: Any) -> FakeRelease:
        """A Release of `tag` (the tag is created at `target_commitish`, default the default branch's head)."""
        return _new_release(self, tag, body, author, **kw)

    def add_issue(self, title: str, body: str = "", user: str = "github-actions[bot]", **kw: Any) -> FakeIssue:
        """An issue (numbers are shared with pull requests, as on GitHub)."""
        return _new_issue(self, title, body, user, **kw)

    def resolve(self, ref: str) -> str | None:
        """A branch name, `heads/x`, or known sha -> sha."""
        ref = urllib.parse.unquote(ref)
        for prefix in ("refs/heads/", "heads/"):
            if ref.startswith(prefix):
                ref = ref[len(prefix) :]
        if ref in self.branches:
            return self.branches[ref]
        if ref in self.commits:
            return ref
        return None

    def check_runs_for(self, sha: str) -> list[CheckRun]:
        """Explicit check runs on `sha` plus the check runs of workflow jobs on it."""
        out = [c for c in self.check_runs if c.head_sha == sha]
        for run in self.runs.values():
            if run.head_sha != sha:
                continue
            for job in run.jobs:
                out.append(
                    CheckRun(
                        name=job.name,
                        head_sha=sha,
                        status=job.status,
                        conclusion=job.conclusion,
                        id=job.id,
                        started_at=job.started_at,
                        completed_at=job.completed_at,
                        html_url=f"/{self.full_name}/actions/runs/{run.id}/job/{job.id}",
                        check_suite_id=500_000_000 + run.id,  # one suite per workflow run
                    )
                )
        return out

    def find_job(self, job_id: int) -> tuple[WorkflowRun, Job] | None:
        for run in self.runs.values():
            for job in run.jobs:
                if job.id == job_id:
                    return run, job
        return None


@dataclass
class FakeGitHub:
    """The whole fake GitHub: repos, users, and the one accepted token (None: no auth check)."""

    token: str | None = DEFAULT_TOKEN
    viewer_login: str = "github-actions[bot]"
    repos: dict[str, Repo] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _counter: int = 1000

    def next_id(self) -> int:
        with self.lock:
            self._counter += 1
            return self._counter

    def user(self, login: str, type: str | None = None) -> User:
        """Get or create a user (bots end in `[bot]`)."""
        with self.lock:
            if login not in self.users:
                kind = type or ("Bot" if login.endswith("[bot]") else "User")
                self.users[login] = User(login, self.next_id(), kind)
            return self.users[login]

    @property
    def viewer(self) -> User:
        return self.user(self.viewer_login)

    def repo(self, full_name: str, **kw: Any) -> Repo:
        """Get or create `owner/name`; keyword args (default_branch, fork, parent, private) set fields."""
        with self.lock:
            if full_name not in self.repos:
                owner, _, name = full_name.partition("/")
                if not owner or not name:
                    raise ValueError(f"repo must be owner/name, got {full_name!r}")
                self.repos[full_name] = Repo(full_name, self.next_id(), self.user(owner), _state=self)
            repo = self.repos[full_name]
            for k, v in kw.items():
                if not hasattr(repo, k):
                    raise AttributeError(f"Repo has no field {k!r}")
                setattr(repo, k, v)
            return repo

    def repo_by_id(self, repo_id: int) -> Repo | None:
        return next((r for r in self.repos.values() if r.id == repo_id), None)


# --------------------------------------------------------------------------------------------------
# HTTP


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (headers with lower-case names)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    raw_query: str = ""


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """A queued failure: the next `remaining` matching requests get it."""

    pattern: re.Pattern[str]
    method: str | None
    remaining: int
    make: Callable[[], Reply]
    hits: int = 0


class _Error(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _not_found() -> Reply:
    body = template("SpecificExceptions.testUnknownObject", 1)
    body["documentation_url"] = DOCS
    body["status"] = "404"
    return Reply(404, body)


def _unprocessable(message: str) -> Reply:
    return Reply(422, {"message": message, "documentation_url": DOCS, "status": "422"})


Route = tuple[str, re.Pattern[str], str]
_R = r"(?P<owner>[^/]+)/(?P<name>[^/]+)"
ROUTES: list[Route] = [
    (m, re.compile("^" + p + "$"), h)
    for m, p, h in [
        ("GET", r"/user", "get_viewer"),
        ("GET", r"/users/(?P<login>[^/]+)", "get_user"),
        ("GET", rf"/repos/{_R}", "get_repo"),
        ("GET", rf"/repos/{_R}/branches/(?P<branch>.+)", "get_branch"),
        ("GET", rf"/repos/{_R}/commits/(?P<ref>[^/]+)", "get_commit"),
        ("GET", rf"/repos/{_R}/commits/(?P<ref>[^/]+)/check-runs", "list_check_runs"),
        ("GET", rf"/repos/{_R}/check-runs/(?P<id>\d+)", "get_check_run"),
        ("GET", rf"/repos/{_R}/commits/(?P<ref>[^/]+)/status", "combined_status"),
        ("GET", rf"/repos/{_R}/commits/(?P<ref>[^/]+)/statuses", "list_statuses"),
        ("GET", rf"/repos/{_R}/actions/runs/(?P<run>\d+)", "get_run"),
        ("GET", rf"/repos/{_R}/actions/runs/(?P<run>\d+)/jobs", "list_jobs"),
        ("GET", rf"/repos/{_R}/actions/runs/(?P<run>\d+)/attempts/(?P<attempt>\d+)/jobs", "list_jobs"),
        ("GET", rf"/repos/{_R}/actions/jobs/(?P<id>\d+)", "get_job"),
        ("GET", rf"/repos/{_R}/rules/branches/(?P<branch>.+)", "branch_rules"),
        ("GET", rf"/repos/{_R}/rulesets", "list_rulesets"),
        ("GET", rf"/repos/{_R}/rulesets/(?P<rid>\d+)", "get_ruleset"),
        ("GET", rf"/repos/{_R}/pulls/(?P<number>\d+)", "get_pull"),
        ("GET", rf"/repos/{_R}/pulls/(?P<number>\d+)/files", "list_pull_files"),
        ("GET", rf"/repos/{_R}/issues/(?P<number>\d+)", "get_issue"),
        ("GET", rf"/repos/{_R}/issues/(?P<number>\d+)/comments", "list_comments"),
        ("POST", rf"/repos/{_R}/issues/(?P<number>\d+)/comments", "create_comment"),
        ("GET", rf"/repos/{_R}/issues/comments/(?P<id>\d+)", "get_comment"),
        ("PATCH", rf"/repos/{_R}/issues/comments/(?P<id>\d+)", "edit_comment"),
        ("DELETE", rf"/repos/{_R}/issues/comments/(?P<id>\d+)", "delete_comment"),
        ("GET", rf"/repos/{_R}/issues/(?P<number>\d+)/events", "list_events"),
        ("GET", rf"/repos/{_R}/issues/(?P<number>\d+)/labels", "list_labels"),
        ("GET", rf"/repos/{_R}/collaborators/(?P<login>[^/]+)/permission", "permission"),
        ("GET", rf"/repos/{_R}/contents/(?P<path>.*)", "contents"),
        # issue 8 (see "trust endpoints" below)
        ("GET", rf"/repos/{_R}/actions/runs/(?P<run>\d+)/approvals", "run_approvals"),
        ("GET", rf"/repos/{_R}/compare/(?P<base>[^/.]+(?:\.[^/.]+)*?)\.\.\.(?P<head>[^/]+)", "compare"),
    ]
]


class GitHubServer:
    """The HTTP server; `state` is the mutable `FakeGitHub` the test configures."""

    def __init__(self, state: FakeGitHub | None = None) -> None:
        self.state = state or FakeGitHub()
        self.requests: list[RecordedRequest] = []
        self.internal_errors: list[str] = []
        self._faults: list[Fault] = []
        self._hooks: list[tuple[re.Pattern[str], str | None, Callable[[RecordedRequest, FakeGitHub], None]]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._remaining = 5000
        self._oidc: OidcIssuer | None = None

    # lifecycle ------------------------------------------------------------------------------------

    def start(self) -> GitHubServer:
        handler = type("_BoundHandler", (_Handler,), {"gh": self})
        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-github", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT (use as GITHUB_API_URL / PyGithub base_url)."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def web_url(self) -> str:
        """Where html_url links point (github.com stand-in, same host)."""
        return f"{self.url}/web"

    @property
    def token(self) -> str | None:
        return self.state.token

    def env(self) -> dict[str, str]:
        """Env vars that point a subprocess at this server.

        No GITHUB_TOKEN: the runner does not give one to a container action; pass `server.token`
        as the `github-token` input (or set GITHUB_TOKEN yourself, as a workflow `env:` would)."""
        return {"GITHUB_API_URL": self.url, "GITHUB_SERVER_URL": self.web_url}

    @property
    def oidc(self) -> OidcIssuer:
        """The Actions OIDC provider (ID-token endpoint + JWKS); `oidc.configure(repo, sha, ...)` sets the claims."""
        if self._oidc is None:
            self._oidc = OidcIssuer(issuer=f"{self.web_url}/_services/token")
        return self._oidc

    def oidc_env(self) -> dict[str, str]:
        """ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN as the runner sets them for a job with `id-token: write`."""
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/_oidc/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.oidc.request_token,
        }

    def github(self, token: str | None = None, **kw: Any) -> Any:
        """A PyGithub client for this server (kw go to `github.Github`; no retry and no throttle by default)."""
        from github import Auth, Github

        tok = token if token is not None else self.state.token
        auth = Auth.Token(tok) if tok else None
        kw.setdefault("retry", None)
        kw.setdefault("seconds_between_requests", 0)  # PyGithub defaults: 0.25 s per request, 1 s per write
        kw.setdefault("seconds_between_writes", 0)
        return Github(base_url=self.url, auth=auth, **kw)

    # test controls --------------------------------------------------------------------------------

    def repo(self, full_name: str, **kw: Any) -> Repo:
        """Shortcut for `state.repo(...)`."""
        return self.state.repo(full_name, **kw)

    def fail(
        self,
        path_regex: str,
        status: int = 500,
        times: int = 1,
        *,
        method: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """The next `times` requests whose path matches get `status` (5xx body as GitHub sends it).

        A `str` body is sent raw (e.g. the HTML of a 503 from a proxy)."""

        def make() -> Reply:
            if body is not None:
                b = copy.deepcopy(body)
            elif status == 503:
                b = template("Exceptions.testNonJsonDataReturnedByGithub")
            else:
                b = template("Retry.testReturnsRepoAfter3Retries", 0)
            hdrs = {
                k: v
                for k, v in recorded("Retry.testReturnsRepoAfter3Retries", 0).headers.items()
                if k.lower().startswith("x-ratelimit-")
            }
            hdrs["X-RateLimit-Reset"] = str(int(time.time()) + 3600)
            hdrs.update(headers or {})
            return Reply(status, b, hdrs)

        return self._add_fault(path_regex, method, times, make)

    def rate_limit(
        self,
        path_regex: str,
        times: int = 1,
        retry_after: int = 1,
        *,
        secondary: bool = False,
        status: int = 403,
        method: str | None = None,
    ) -> Fault:
        """The next `times` matching requests are rate limited.

        Primary (default): 403, `x-ratelimit-remaining: 0`, `x-ratelimit-reset` = now + retry_after,
        message "API rate limit exceeded ...". Secondary: the recorded abuse-limit body and
        `retry-after: <retry_after>`."""

        def make() -> Reply:
            if secondary:
                ex = recorded("SpecificExceptions.testAuthenticatedRateLimitExceeded", 1)
                hdrs = {"Retry-After": str(retry_after)}
                return Reply(status, ex.body, hdrs)
            reset = int(time.time()) + retry_after
            hdrs = {
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
                "X-RateLimit-Used": "5000",
                "X-RateLimit-Resource": "core",
            }
            body = {
                "message": PRIMARY_RATE_LIMIT_MESSAGE,
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            }
            return Reply(status, body, hdrs)

        return self._add_fault(path_regex, method, times, make)

    def on(
        self, path_regex: str, callback: Callable[[RecordedRequest, FakeGitHub], None], method: str | None = None
    ) -> None:
        """Call `callback(request, state)` before answering each matching request (e.g. flip a check)."""
        self._hooks.append((re.compile(path_regex), method, callback))

    def clear_faults(self) -> None:
        self._faults.clear()

    def requests_to(self, method: str | None = None, path_regex: str = "") -> list[RecordedRequest]:
        """Logged requests by method (None: any) whose path matches `path_regex` (re.search)."""
        pat = re.compile(path_regex)
        return [r for r in list(self.requests) if (method is None or r.method == method) and pat.search(r.path)]

    def _add_fault(self, path_regex: str, method: str | None, times: int, make: Callable[[], Reply]) -> Fault:
        fault = Fault(re.compile(path_regex), method, times, make)
        with self.state.lock:
            self._faults.append(fault)
        return fault

    # dispatch -------------------------------------------------------------------------------------

    def handle(self, req: RecordedRequest) -> Reply:
        """Answer one request (called by the handler thread)."""
        with self.state.lock:
            self.requests.append(req)
            for pattern, method, callback in self._hooks:
                if (method is None or method == req.method) and pattern.search(req.path):
                    callback(req, self.state)
            for fault in self._faults:
                if (
                    fault.remaining > 0
                    and (fault.method is None or fault.method == req.method)
                    and fault.pattern.search(req.path)
                ):
                    fault.remaining -= 1
                    fault.hits += 1
                    return fault.make()
            if req.path.startswith("/_oidc/"):  # the runner's ID-token endpoint: its own bearer token
                return Reply(*self.oidc.handle(req.method, req.path, req.query, req.headers))
            auth = self._check_auth(req)
            if auth is not None:
                return auth
            try:
                return self._route(req)
            except _Error as err:
                return err.reply

    def _check_auth(self, req: RecordedRequest) -> Reply | None:
        if not self.state.token:
            return None
        header = req.headers.get("authorization", "")
        if not header:
            return Reply(401, {"message": "Requires authentication", "documentation_url": DOCS, "status": "401"})
        scheme, _, value = header.partition(" ")
        if scheme.lower() not in ("token", "bearer") or value.strip() != self.state.token:
            body = template("SpecificExceptions.testBadCredentials")
            body["documentation_url"] = DOCS
            body["status"] = "401"
            return Reply(401, body)
        return None

    def _route(self, req: RecordedRequest) -> Reply:
        path = req.path
        m = re.match(r"^/repositories/(\d+)(/.*)?$", path)
        if m:  # GitHub's Link headers use /repositories/{id}/...
            repo = self.state.repo_by_id(int(m.group(1)))
            if repo is None:
                return _not_found()
            path = f"/repos/{repo.full_name}{m.group(2) or ''}"
        if len(path) > 1:
            path = path.rstrip("/")
        allowed = False
        for method, pattern, handler in ROUTES:
            match = pattern.match(path)
            if not match:
                continue
            allowed = True
            if method != req.method:
                continue
            params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items() if v is not None}
            repo = None
            if "owner" in params:
                repo = self.state.repos.get(f"{params.pop('owner')}/{params.pop('name')}")
                if repo is None:
                    return _not_found()
            return getattr(_Api(self, req, repo), handler)(**params)
        if allowed:
            return Reply(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})
        return _not_found()

    # JSON builders (shared by handlers) -----------------------------------------------------------

    def rehost(self, obj: Any) -> Any:
        """Move every URL of a recorded template onto this server's host."""
        api, web = self.url, self.web_url
        return _rewrite(obj, lambda s: _OTHER_HOST.sub(web, _API_HOST.sub(api, s)))

    def user_json(self, user: User) -> dict[str, Any]:
        body = self.rehost(template("CheckRun.testGetCheckRunsForRef")["check_runs"][0]["app"]["owner"])
        old = body["login"]
        body = _rewrite(
            body,
            lambda s: s.replace(f"/users/{old}", f"/users/{user.login}").replace(f"/web/{old}", f"/web/{user.login}"),
        )
        body.update(
            login=user.login,
            id=user.id,
            node_id=_node_id("User", user.id),
            type=user.type,
            avatar_url=f"{self.web_url}/avatars/u/{user.id}",
            site_admin=False,
        )
        return body

    def repo_json(self, repo: Repo, *, full: bool = True) -> dict[str, Any]:
        body = template("Retry.testReturnsRepoAfter3Retries", 3)
        old = body["full_name"]
        body = self.rehost(_rewrite(body, lambda s: s.replace(old, repo.full_name)))
        body.update(
            id=repo.id,
            node_id=_node_id("Repository", repo.id),
            name=repo.name,
            full_name=repo.full_name,
            private=repo.private,
            visibility="private" if repo.private else "public",
            fork=repo.fork,
            owner=self.user_json(repo.owner),
            default_branch=repo.default_branch,
            description=None,
            homepage=None,
            license=None,
            permissions={"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
        )
        body.pop("organization", None)
        if repo.owner.type == "Organization":
            body["organization"] = self.user_json(repo.owner)
        if not full:
            for key in ("permissions", "network_count", "subscribers_count", "organization"):
                body.pop(key, None)
            return body
        if repo.fork and repo.parent:
            parent = self.state.repos.get(repo.parent) or self.state.repo(repo.parent)
            body["parent"] = self.repo_json(parent, full=False)
            body["source"] = body["parent"]
        return body


# --------------------------------------------------------------------------------------------------
# releases and issues (issue 13: notify and watch)
#
# GET/POST /repos/{o}/{r}/releases, GET /releases/tags/{tag}, GET/PATCH /releases/{id},
# GET /repos/{o}/{r}/issues?state=open|closed|all (paginated; pull requests included, as GitHub does),
# POST /repos/{o}/{r}/issues. Bodies from the recorded GitRelease.testGetReleaseByTag, GitRelease.testUpdate,
# Issue.setUp and Repository.testCreateIssue responses.


@dataclass
class FakeRelease:
    """A GitHub Release."""

    id: int
    tag_name: str
    target_commitish: str
    name: str | None
    body: str | None
    author: User
    draft: bool = False
    prerelease: bool = False
    created_at: str = field(default_factory=_now)
    published_at: str | None = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)


@dataclass
class FakeIssue:
    """A GitHub issue (not a pull request)."""

    number: int
    title: str
    body: str | None
    user: User
    state: str = "open"  # open | closed
    labels: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    closed_at: str | None = None


def _new_release(repo: Repo, tag: str, body: str | None, author: str, **kw: Any) -> FakeRelease:
    assert repo._state is not None
    target = kw.pop("target_commitish", None) or repo.default_branch
    if tag not in repo.tags:
        sha = repo.resolve(target) or target
        repo.tags[tag] = sha
        repo.add_commit(sha)
    rel = FakeRelease(
        id=repo._state.next_id(),
        tag_name=tag,
        target_commitish=target,
        name=kw.pop("name", tag),
        body=body,
        author=repo._state.user(author),
        **kw,
    )
    repo.releases.append(rel)
    return rel


def _new_issue(repo: Repo, title: str, body: str | None, user: str, **kw: Any) -> FakeIssue:
    assert repo._state is not None
    number = max([0, *repo.pulls, *(i.number for i in repo.issues)]) + 1
    issue = FakeIssue(number=number, title=title, body=body, user=repo._state.user(user), **kw)
    repo.issues.append(issue)
    return issue


ROUTES.extend(
    (m, re.compile("^" + p + "$"), h)
    for m, p, h in [
        ("GET", rf"/repos/{_R}/releases", "list_releases"),
        ("POST", rf"/repos/{_R}/releases", "create_release"),
        ("GET", rf"/repos/{_R}/releases/tags/(?P<tag>.+)", "release_by_tag"),
        ("GET", rf"/repos/{_R}/releases/(?P<id>\d+)", "get_release"),
        ("PATCH", rf"/repos/{_R}/releases/(?P<id>\d+)", "edit_release"),
        ("GET", rf"/repos/{_R}/issues", "list_issues"),
        ("POST", rf"/repos/{_R}/issues", "create_issue"),
    ]
)


def _validation_failed(resource: str, code: str, field_name: str) -> Reply:
    return Reply(
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": code, "field": field_name}],
            "documentation_url": DOCS,
            "status": "422",
        },
    )


class _ReleaseIssueApi:
    """Release and issue endpoints (mixed into `_Api`)."""

    s: GitHubServer
    req: RecordedRequest
    repo: Repo
    api: str
    web: str

    def _release_json(self, rel: FakeRelease) -> dict[str, Any]:
        body = self.s.rehost(template("GitRelease.testGetReleaseByTag"))
        url = f"{self.api}/releases/{rel.id}"
        tag = urllib.parse.quote(rel.tag_name, safe="")
        body.update(
            url=url,
            assets_url=f"{url}/assets",
            upload_url=f"{self.s.url}/uploads/repos/{self.repo.full_name}/releases/{rel.id}/assets{{?name,label}}",
            html_url=f"{self.web}/releases/tag/{tag}",
            id=rel.id,
            author=self.s.user_json(rel.author),
            node_id=_node_id("Release", rel.id),
            tag_name=rel.tag_name,
            target_commitish=rel.target_commitish,
            name=rel.name,
            draft=rel.draft,
            immutable=False,
            prerelease=rel.prerelease,
            created_at=rel.created_at,
            updated_at=rel.updated_at,
            published_at=None if rel.draft else rel.published_at,
            tarball_url=f"{self.api}/tarball/{tag}",
            zipball_url=f"{self.api}/zipball/{tag}",
            body=rel.body,
            assets=[],
        )
        return body

    def _issue_json(self, issue: FakeIssue | PullRequest) -> dict[str, Any]:
        body = self.s.rehost(template("Issue.setUp"))
        n = issue.number
        url = f"{self.api}/issues/{n}"
        is_pull = isinstance(issue, PullRequest)
        body.update(
            url=url,
            repository_url=self.api,
            labels_url=f"{url}/labels{{/name}}",
            comments_url=f"{url}/comments",
            events_url=f"{url}/events",
            timeline_url=f"{url}/timeline",
            html_url=f"{self.web}/{'pull' if is_pull else 'issues'}/{n}",
            id=n + 30_000,
            node_id=_node_id("Issue", n),
            number=n,
            title=issue.title,
            user=self.s.user_json(issue.user),
            labels=[self._label_json(lb) for lb in issue.labels],  # type: ignore[attr-defined]
            state=issue.state,
            state_reason=None if issue.state == "open" else "completed",
            locked=False,
            assignee=None,
            assignees=[],
            milestone=None,
            comments=len(issue.comments) if is_pull else 0,  # type: ignore[union-attr]
            created_at=getattr(issue, "created_at", _now()),
            updated_at=getattr(issue, "updated_at", _now()),
            closed_at=getattr(issue, "closed_at", None),
            author_association="NONE",
            closed_by=None,
            type=None,
            body=issue.body,
            reactions=dict(body["reactions"], url=f"{url}/reactions", total_count=0, hooray=0),
        )
        if is_pull:
            body["pull_request"] = {
                "url": f"{self.api}/pulls/{n}",
                "html_url": f"{self.web}/pull/{n}",
                "diff_url": f"{self.web}/pull/{n}.diff",
                "patch_url": f"{self.web}/pull/{n}.patch",
                "merged_at": None,
            }
        return body

    def _release(self, id: str) -> FakeRelease:
        rel = next((r for r in self.repo.releases if r.id == int(id)), None)
        if rel is None:
            raise _Error(_not_found())
        return rel

    def list_releases(self) -> Reply:
        items = sorted(self.repo.releases, key=lambda r: r.id, reverse=True)  # newest first
        chunk, headers = self.paginate(items)  # type: ignore[attr-defined]
        return Reply(200, [self._release_json(r) for r in chunk], headers)

    def release_by_tag(self, tag: str) -> Reply:
        rel = next((r for r in self.repo.releases if r.tag_name == tag and not r.draft), None)
        return Reply(200, self._release_json(rel)) if rel else _not_found()

    def get_release(self, id: str) -> Reply:
        return Reply(200, self._release_json(self._release(id)))

    def create_release(self) -> Reply:
        data = self.req.json if isinstance(self.req.json, dict) else {}
        tag = data.get("tag_name")
        if not isinstance(tag, str) or not tag:
            return _validation_failed("Release", "missing_field", "tag_name")
        if any(r.tag_name == tag for r in self.repo.releases):
            return _validation_failed("Release", "already_exists", "tag_name")
        rel = _new_release(
            self.repo,
            tag,
            data.get("body"),
            self.s.state.viewer.login,
            target_commitish=data.get("target_commitish") or self.repo.default_branch,
            name=data.get("name") or tag,
            draft=bool(data.get("draft", False)),
            prerelease=bool(data.get("prerelease", False)),
        )
        return Reply(201, self._release_json(rel), {"Location": f"{self.api}/releases/{rel.id}"})

    def edit_release(self, id: str) -> Reply:
        rel = self._release(id)
        data = self.req.json if isinstance(self.req.json, dict) else {}
        for key in ("name", "body", "tag_name", "target_commitish", "draft", "prerelease"):
            if key in data:
                setattr(rel, key, data[key])
        rel.updated_at = _now()
        return Reply(200, self._release_json(rel))

    def list_issues(self) -> Reply:
        state = self.req.query.get("state", "open")
        items: list[FakeIssue | PullRequest] = [*self.repo.issues, *self.repo.pulls.values()]
        if state in ("open", "closed"):
            items = [i for i in items if i.state == state]
        elif state != "all":
            return _validation_failed("Issue", "invalid", "state")
        items.sort(key=lambda i: i.number, reverse=True)  # sort=created, direction=desc
        chunk, headers = self.paginate(items)  # type: ignore[attr-defined]
        return Reply(200, [self._issue_json(i) for i in chunk], headers)

    def create_issue(self) -> Reply:
        data = self.req.json if isinstance(self.req.json, dict) else {}
        title = data.get("title")
        if not isinstance(title, str) or not title:
            return _validation_failed("Issue", "missing_field", "title")
        issue = _new_issue(self.repo, title, data.get("body"), self.s.state.viewer.login)
        return Reply(201, self._issue_json(issue), {"Location": f"{self.api}/issues/{issue.number}"})

    def _label_json(self, name: str) -> dict[str, Any]:  # pragma: no cover - provided by _Api
        raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# trust endpoints (issue 8): branches, compare, deployment reviews of a run


@dataclass
class DeploymentReview:
    """One entry of a run's deployment review log (`GET /actions/runs/{id}/approvals`)."""

    environments: list[str]
    user: User
    state: str = "approved"  # approved | rejected
    comment: str = ""


def load_git_history(repo: Repo, workspace: Path) -> None:
    """Teach `repo` the commit graph of a real git checkout (for `/compare`)."""
    import subprocess

    out = subprocess.run(
        ["git", "rev-list", "--all", "--parents"], cwd=workspace, capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        sha, *parents = line.split()
        repo.parents[sha] = parents
        repo.commits.add(sha)
    repo.git_dir = workspace


def _git_out(repo: Repo, *args: str) -> str:
    import subprocess

    assert repo.git_dir is not None
    return subprocess.run(["git", *args], cwd=repo.git_dir, capture_output=True, text=True, check=True).stdout


_GIT_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}


def _git_files(repo: Repo, base: str, head: str, web: str, api: str) -> list[dict[str, Any]]:
    """`/compare`'s `files` (the shape of a pull request's files): what `base`...`head` changes, from git."""
    out = []
    for line in _git_out(repo, "diff", "--name-status", "-M", f"{base}...{head}").splitlines():
        kind, *names = line.split("\t")
        entry: dict[str, Any] = {
            "sha": head,
            "filename": names[-1],
            "status": _GIT_STATUS.get(kind[:1], "modified"),
            "additions": 1,
            "deletions": 0,
            "changes": 1,
            "blob_url": f"{web}/blob/{head}/{names[-1]}",
            "raw_url": f"{web}/raw/{head}/{names[-1]}",
            "contents_url": f"{api}/contents/{names[-1]}?ref={head}",
        }
        if len(names) == 2:
            entry["previous_filename"] = names[0]
        out.append(entry)
    return out[:300]


def approve_run(repo: Repo, run_id: int, environment: str, user: User, state: str = "approved") -> DeploymentReview:
    """Record a review of run `run_id`'s deployment to `environment` by `user`."""
    review = DeploymentReview([environment], user, state, comment="LGTM" if state == "approved" else "no")
    repo.reviews.setdefault(run_id, []).append(review)
    return review


def _ancestors(repo: Repo, sha: str) -> dict[str, int]:
    """sha -> distance for every commit reachable from `sha` (itself at 0)."""
    seen = {sha: 0}
    todo = [sha]
    while todo:
        cur = todo.pop(0)
        for p in repo.parents.get(cur, []):
            if p not in seen:
                seen[p] = seen[cur] + 1
                todo.append(p)
    return seen


class _TrustApi:
    """`/branches/{b}` and `/compare/{base}...{head}` in the recorded/documented shapes, and run approvals."""

    s: GitHubServer
    req: RecordedRequest
    repo: Repo
    api: str
    web: str

    def get_branch(self, branch: str) -> Reply:
        sha = self.repo.branches.get(branch)
        if sha is None:
            return Reply(404, {"message": "Branch not found", "documentation_url": DOCS, "status": "404"})
        body = self.s.rehost(template("Branch.setUp", 2))
        old_name, old_sha = body["name"], body["commit"]["sha"]
        body = _rewrite(
            body,
            lambda v: (
                v.replace("jacquev6/PyGithub", self.repo.full_name).replace(old_sha, sha).replace(old_name, branch)
            ),
        )
        body["name"] = branch
        body["commit"]["sha"] = sha
        body["commit"]["node_id"] = _node_id("Commit", int(sha[:8], 16) if re.fullmatch(r"[0-9a-f]{8,}", sha) else 0)
        body["commit"]["parents"] = [
            {"sha": p, "url": f"{self.api}/commits/{p}", "html_url": f"{self.web}/commit/{p}"}
            for p in self.repo.parents.get(sha, [])
        ]
        body["protected"] = bool(self.repo.rules.get(branch)) or branch in self.repo.protection
        if branch in self.repo.protection:
            checks = copy.deepcopy(self.repo.protection[branch])
            body["protection"] = {"enabled": True, "required_status_checks": checks}
        return Reply(200, body)

    def compare(self, base: str, head: str) -> Reply:
        base_sha, head_sha = self.repo.resolve(base), self.repo.resolve(head)
        if base_sha is None or head_sha is None:
            return _not_found()
        up_head, up_base = _ancestors(self.repo, head_sha), _ancestors(self.repo, base_sha)
        common = [c for c in up_head if c in up_base]
        if not common:
            return _not_found()  # GitHub: "No common ancestor between ..." is a 404
        merge_base = min(common, key=lambda c: up_head[c] + up_base[c])
        ahead = [c for c in up_head if c not in up_base]
        behind = [c for c in up_base if c not in up_head]
        if base_sha == head_sha:
            status = "identical"
        elif not behind:
            status = "ahead"
        elif not ahead:
            status = "behind"
        else:
            status = "diverged"

        def commit(sha: str) -> dict[str, Any]:
            body = template("Commit.setUp", 2)
            old = body["sha"]
            body = self.s.rehost(
                _rewrite(body, lambda v: v.replace(old, sha).replace("jacquev6/PyGithub", self.repo.full_name))
            )
            body.update(sha=sha, files=[], parents=[{"sha": p} for p in self.repo.parents.get(sha, [])])
            body.pop("stats", None)
            if self.repo.git_dir is not None:  # the commit's real people and dates
                fields = _git_out(self.repo, "show", "-s", "--format=%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI", sha)
                an, ae, ad, cn, ce, cd = fields.strip().split("\0")
                body["commit"]["author"] = {"name": an, "email": ae, "date": ad}
                body["commit"]["committer"] = {"name": cn, "email": ce, "date": cd}
            return body

        spec = f"{base}...{head}"
        owner = self.repo.owner.login
        web = self.web
        return Reply(
            200,
            {
                "url": f"{self.api}/compare/{spec}",
                "html_url": f"{self.web}/compare/{spec}",
                "permalink_url": f"{self.web}/compare/{owner}:{base_sha[:7]}...{owner}:{head_sha[:7]}",
                "diff_url": f"{self.web}/compare/{spec}.diff",
                "patch_url": f"{self.web}/compare/{spec}.patch",
                "base_commit": commit(base_sha),
                "merge_base_commit": commit(merge_base),
                "status": status,
                "ahead_by": len(ahead),
                "behind_by": len(behind),
                "total_commits": len(ahead),
                "commits": [commit(c) for c in sorted(ahead, key=lambda c: -up_head[c])[:250]],
                "files": [] if self.repo.git_dir is None else _git_files(self.repo, base_sha, head_sha, web, self.api),
            },
        )

    def run_approvals(self, run: str) -> Reply:
        if int(run) not in self.repo.runs:
            return _not_found()
        items = []
        for review in self.repo.reviews.get(int(run), []):
            envs = []
            for name in review.environments:
                ident = zlib.crc32(name.encode()) % 100_000_000
                quoted = urllib.parse.quote(name)
                envs.append(
                    {
                        "id": ident,
                        "node_id": _node_id("Environment", ident),
                        "name": name,
                        "url": f"{self.api}/environments/{quoted}",
                        "html_url": f"{self.web}/deployments/activity_log?environments_filter={quoted}",
                        "created_at": "2026-01-05T10:00:00Z",
                        "updated_at": "2026-01-05T10:00:00Z",
                    }
                )
            items.append(
                {
                    "environments": envs,
                    "state": review.state,
                    "user": self.s.user_json(review.user),
                    "comment": review.comment,
                }
            )
        return Reply(200, items)


class _Api(_ReleaseIssueApi, _TrustApi):
    """Endpoint implementations; each returns a Reply."""

    def __init__(self, server: GitHubServer, req: RecordedRequest, repo: Repo | None) -> None:
        self.s = server
        self.req = req
        self.repo: Repo = repo  # type: ignore[assignment]  # None only for repo-less routes

    # helpers --------------------------------------------------------------------------------------

    @property
    def api(self) -> str:
        return f"{self.s.url}/repos/{self.repo.full_name}"

    @property
    def web(self) -> str:
        return f"{self.s.web_url}/{self.repo.full_name}"

    def _sha(self, ref: str) -> str:
        sha = self.repo.resolve(ref)
        if sha is None:
            raise _Error(_unprocessable(f"No commit found for SHA: {ref}"))
        return sha

    def _int_query(self, name: str, default: int) -> int:
        raw = self.req.query.get(name, "")
        try:
            return int(raw) if raw else default
        except ValueError:
            return default

    def paginate(self, items: list[Any], *, max_per_page: int = 100) -> tuple[list[Any], dict[str, str]]:
        """Slice `items` by per_page/page and build GitHub's Link header (prev, next, last, first)."""
        per_page = min(max(self._int_query("per_page", 30), 1), max_per_page)
        page = max(self._int_query("page", 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        headers: dict[str, str] = {}
        if last > 1:
            path = self.req.path
            if self.repo is not None and path.startswith(f"/repos/{self.repo.full_name}"):
                path = f"/repositories/{self.repo.id}" + path[len(f"/repos/{self.repo.full_name}") :]
            kept = [
                (k, v) for k, v in urllib.parse.parse_qsl(self.req.raw_query, keep_blank_values=True) if k != "page"
            ]

            def link(n: int, rel: str) -> str:
                qs = urllib.parse.urlencode([*kept, ("page", str(n))])
                return f'<{self.s.url}{path}?{qs}>; rel="{rel}"'

            links = []
            if page > 1:
                links.append(link(min(page - 1, last), "prev"))
            if page < last:
                links.append(link(page + 1, "next"))
                links.append(link(last, "last"))
            if page > 1:
                links.append(link(1, "first"))
            headers["Link"] = ", ".join(links)
        return chunk, headers

    def _check_run_json(self, run: CheckRun) -> dict[str, Any]:
        body = self.s.rehost(template("CheckRun.testGetCheckRunsForRef")["check_runs"][0])
        html = f"{self.s.web_url}{run.html_url}" if run.html_url and run.html_url.startswith("/") else run.html_url
        html = html or f"{self.web}/runs/{run.id}"
        body.update(
            id=run.id,
            node_id=_node_id("CheckRun", run.id),
            head_sha=run.head_sha,
            external_id="",
            url=f"{self.api}/check-runs/{run.id}",
            html_url=html,
            details_url=run.details_url or html,
            status=run.status,
            conclusion=run.conclusion,
            started_at=run.started_at,
            completed_at=run.completed_at,
            name=run.name,
            check_suite={"id": run.suite},
            pull_requests=[],
            output={
                "title": run.output_title,
                "summary": run.output_summary,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{self.api}/check-runs/{run.id}/annotations",
            },
        )
        body["app"].update(id=run.app_id, slug=run.app_slug, name=run.app_name, node_id=_node_id("App", run.app_id))
        return body

    def _job_json(self, run: WorkflowRun, job: Job) -> dict[str, Any]:
        body = self.s.rehost(template("Repository.testGetWorkflowJob", 1))
        body.update(
            id=job.id,
            run_id=run.id,
            workflow_name=job.workflow_name,
            head_branch=job.head_branch,
            run_url=f"{self.api}/actions/runs/{run.id}",
            run_attempt=job.run_attempt,
            node_id=_node_id("Job", job.id),
            head_sha=job.head_sha,
            url=f"{self.api}/actions/jobs/{job.id}",
            html_url=f"{self.web}/actions/runs/{run.id}/job/{job.id}",
            status=job.status,
            conclusion=job.conclusion,
            created_at=job.started_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            name=job.name,
            steps=[
                {
                    "name": "Set up job",
                    "status": job.status,
                    "conclusion": job.conclusion,
                    "number": 1,
                    "started_at": job.started_at,
                    "completed_at": job.completed_at,
                }
            ],
            check_run_url=f"{self.api}/check-runs/{job.id}",
            labels=list(job.labels),
            runner_id=zlib.crc32(job.runner_name.encode()) % 10_000 if job.runner_name else None,
            runner_name=job.runner_name,
            runner_group_id=2 if job.runner_name else None,
            runner_group_name="GitHub Actions" if job.runner_name else None,
        )
        return body

    def _comment_json(self, c: IssueComment) -> dict[str, Any]:
        body = self.s.rehost(template("PullRequest.testCreateIssueComment"))
        body.update(
            id=c.id,
            node_id=_node_id("IssueComment", c.id),
            body=c.body,
            user=self.s.user_json(c.user),
            created_at=c.created_at,
            updated_at=c.updated_at,
            url=f"{self.api}/issues/comments/{c.id}",
            html_url=f"{self.web}/pull/{c.issue_number}#issuecomment-{c.id}",
            issue_url=f"{self.api}/issues/{c.issue_number}",
            author_association="NONE",
        )
        return body

    def _label_json(self, name: str) -> dict[str, Any]:
        ident = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
        return {
            "id": ident,
            "node_id": _node_id("Label", ident),
            "url": f"{self.api}/labels/{urllib.parse.quote(name)}",
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    def _pull(self, number: str) -> PullRequest:
        pr = self.repo.pulls.get(int(number))
        if pr is None:
            raise _Error(_not_found())
        return pr

    def _page(self, items: list[Any]) -> Reply:
        chunk, headers = self.paginate(items)
        return Reply(200, chunk, headers)

    # endpoints ------------------------------------------------------------------------------------

    def get_viewer(self) -> Reply:
        body = template("SpecificExceptions.testUnknownObject", 0)
        body = self.s.rehost(body)
        body.update(self.s.user_json(self.s.state.viewer))
        return Reply(200, body)

    def get_user(self, login: str) -> Reply:
        user = self.s.state.users.get(login)
        return Reply(200, self.s.user_json(user)) if user else _not_found()

    def get_repo(self) -> Reply:
        return Reply(200, self.s.repo_json(self.repo))

    def get_commit(self, ref: str) -> Reply:
        sha = self._sha(ref)
        body = template("Commit.setUp", 2)
        old = body["sha"]
        body = self.s.rehost(
            _rewrite(body, lambda s: s.replace(old, sha).replace("jacquev6/PyGithub", self.repo.full_name))
        )
        body.update(
            sha=sha,
            node_id=_node_id("Commit", int(sha[:8], 16) if re.fullmatch(r"[0-9a-f]{8,}", sha) else 0),
            files=[],
            parents=[],
        )
        return Reply(200, body)

    def list_check_runs(self, ref: str) -> Reply:
        sha = self._sha(ref)
        runs = self.repo.check_runs_for(sha)
        q = self.req.query
        if q.get("check_name"):
            runs = [r for r in runs if r.name == q["check_name"]]
        if q.get("status"):
            runs = [r for r in runs if r.status == q["status"]]
        if q.get("filter", "latest") != "all":  # GitHub's default: the latest run per name
            latest: dict[str, CheckRun] = {}
            for r in runs:
                if r.name not in latest or r.id > latest[r.name].id:
                    latest[r.name] = r
            runs = [r for r in runs if latest[r.name] is r]
        chunk, headers = self.paginate(runs)
        return Reply(200, {"total_count": len(runs), "check_runs": [self._check_run_json(r) for r in chunk]}, headers)

    def get_check_run(self, id: str) -> Reply:
        for sha in list(self.repo.commits):
            for run in self.repo.check_runs_for(sha):
                if run.id == int(id):
                    return Reply(200, self._check_run_json(run))
        return _not_found()

    def _status_json(self, sha: str, st: CommitStatus) -> dict[str, Any]:
        body = self.s.rehost(template("CommitCombinedStatus.setUp")["statuses"][0])
        body.update(
            url=f"{self.api}/statuses/{sha}",
            id=st.id,
            node_id=_node_id("StatusContext", st.id),
            state=st.state,
            description=st.description,
            target_url=st.target_url,
            context=st.context,
            created_at=st.created_at,
            updated_at=st.created_at,
            avatar_url=f"{self.s.web_url}/avatars/u/{st.id}",
        )
        return body

    def combined_status(self, ref: str) -> Reply:
        sha = self._sha(ref)
        latest: dict[str, CommitStatus] = {}
        for st in self.repo.statuses.get(sha, []):
            latest[st.context] = st  # newer wins
        states = [st.state for st in latest.values()]
        if any(s in ("failure", "error") for s in states):
            state = "failure"
        elif not states or any(s == "pending" for s in states):
            state = "pending"  # GitHub says pending when there are no statuses at all
        else:
            state = "success"
        chunk, headers = self.paginate(list(latest.values()))
        body = self.s.rehost(template("CommitCombinedStatus.setUp"))
        body.update(
            state=state,
            statuses=[self._status_json(sha, st) for st in chunk],
            sha=sha,
            total_count=len(latest),
            repository=self.s.repo_json(self.repo, full=False),
            commit_url=f"{self.api}/commits/{sha}",
            url=f"{self.api}/commits/{sha}/status",
        )
        return Reply(200, body, headers)

    def list_statuses(self, ref: str) -> Reply:
        sha = self._sha(ref)
        items = [self._status_json(sha, st) for st in reversed(self.repo.statuses.get(sha, []))]
        return self._page(items)

    def get_run(self, run: str) -> Reply:
        wr = self.repo.runs.get(int(run))
        if wr is None:
            return _not_found()
        body = template("WorkflowRun.setUp", 1)
        old_repo, old_id = body["repository"]["full_name"], str(body["id"])
        body = self.s.rehost(
            _rewrite(
                body, lambda s: s.replace(old_repo, self.repo.full_name).replace(f"/runs/{old_id}", f"/runs/{wr.id}")
            )
        )
        actor = self.s.user_json(self.s.state.user(wr.actor))
        body.update(
            id=wr.id,
            name=wr.name,
            node_id=_node_id("WorkflowRun", wr.id),
            head_branch=wr.head_branch,
            head_sha=wr.head_sha,
            path=wr.path,
            display_title=wr.name,
            run_number=wr.run_number,
            event=wr.event,
            status=wr.status,
            conclusion=wr.conclusion,
            workflow_id=wr.workflow_id,
            actor=actor,
            triggering_actor=actor,
            run_attempt=wr.run_attempt,
            previous_attempt_url=f"{self.api}/actions/runs/{wr.id}/attempts/{wr.run_attempt - 1}"
            if wr.run_attempt > 1
            else None,
            workflow_url=f"{self.api}/actions/workflows/{wr.workflow_id}",
            repository=self.s.repo_json(self.repo, full=False),
            head_repository=self.s.repo_json(self.repo, full=False),
        )
        body["head_commit"].update(id=wr.head_sha)
        return Reply(200, body)

    def list_jobs(self, run: str, attempt: str | None = None) -> Reply:
        wr = self.repo.runs.get(int(run))
        if wr is None:
            return _not_found()
        if attempt is not None:
            jobs = wr.jobs_of(int(attempt))
        elif self.req.query.get("filter", "latest") == "all":
            jobs = list(wr.jobs)
        else:
            jobs = wr.jobs_of()
        chunk, headers = self.paginate(jobs)
        return Reply(200, {"total_count": len(jobs), "jobs": [self._job_json(wr, j) for j in chunk]}, headers)

    def get_job(self, id: str) -> Reply:
        found = self.repo.find_job(int(id))
        return Reply(200, self._job_json(*found)) if found else _not_found()

    def branch_rules(self, branch: str) -> Reply:
        return self._page(copy.deepcopy(self.repo.rules.get(branch, [])))

    def list_rulesets(self) -> Reply:
        """GET /repos/{o}/{r}/rulesets: the summary fields of each ruleset (no conditions, no rules)."""
        keys = ("id", "name", "target", "source_type", "source", "enforcement", "node_id", "created_at", "updated_at")
        return self._page([{k: r[k] for k in keys if k in r} for r in self.repo.rulesets])

    def get_ruleset(self, rid: str) -> Reply:
        for r in self.repo.rulesets:
            if r["id"] == int(rid):
                return Reply(200, copy.deepcopy(r))
        return _not_found()

    def get_pull(self, number: str) -> Reply:
        pr = self._pull(number)
        head_repo = self.s.state.repos.get(pr.head_repo) if pr.head_repo else self.repo
        if pr.head_repo and head_repo is None:
            head_repo = self.s.state.repo(pr.head_repo, fork=True, parent=self.repo.full_name)
        assert head_repo is not None

        def side(ref: str, sha: str, repo: Repo) -> dict[str, Any]:
            return {
                "label": f"{repo.owner.login}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self.s.user_json(repo.owner),
                "repo": self.s.repo_json(repo, full=False),
            }

        n = pr.number
        body = {
            "url": f"{self.api}/pulls/{n}",
            "id": n + 10_000,
            "node_id": _node_id("PullRequest", n),
            "html_url": f"{self.web}/pull/{n}",
            "diff_url": f"{self.web}/pull/{n}.diff",
            "patch_url": f"{self.web}/pull/{n}.patch",
            "issue_url": f"{self.api}/issues/{n}",
            "commits_url": f"{self.api}/pulls/{n}/commits",
            "review_comments_url": f"{self.api}/pulls/{n}/comments",
            "review_comment_url": f"{self.api}/pulls/comments{{/number}}",
            "comments_url": f"{self.api}/issues/{n}/comments",
            "statuses_url": f"{self.api}/statuses/{pr.head_sha}",
            "number": n,
            "state": pr.state,
            "locked": False,
            "title": pr.title,
            "user": self.s.user_json(pr.user),
            "body": pr.body,
            "labels": [self._label_json(lb) for lb in pr.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _now(),
            "updated_at": _now(),
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": side(pr.head_ref, pr.head_sha, head_repo),
            "base": side(pr.base_ref, pr.base_sha, self.repo),
            "_links": {"self": {"href": f"{self.api}/pulls/{n}"}, "html": {"href": f"{self.web}/pull/{n}"}},
            "author_association": "CONTRIBUTOR",
            "auto_merge": None,
            "draft": pr.draft,
            "merged": False,
            "mergeable": True,
            "rebaseable": True,
            "mergeable_state": "clean",
            "merged_by": None,
            "comments": len(pr.comments),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1,
            "additions": sum(f.additions for f in pr.files),
            "deletions": sum(f.deletions for f in pr.files),
            "changed_files": len(pr.files),
        }
        return Reply(200, body)

    def list_pull_files(self, number: str) -> Reply:
        pr = self._pull(number)
        tmpl = self.s.rehost(template("PullRequest.testGetFiles")[0])
        items = []
        for f in pr.files[:3000]:  # GitHub lists at most 3000 files
            blob = hashlib.sha1(f.filename.encode()).hexdigest()
            item = dict(tmpl)
            quoted = urllib.parse.quote(f.filename)
            item.update(
                sha=blob,
                filename=f.filename,
                status=f.status,
                additions=f.additions,
                deletions=f.deletions,
                changes=f.additions + f.deletions,
                blob_url=f"{self.web}/blob/{pr.head_sha}/{quoted}",
                raw_url=f"{self.web}/raw/{pr.head_sha}/{quoted}",
                contents_url=f"{self.api}/contents/{quoted}?ref={pr.head_sha}",
            )
            if f.patch is None:
                item.pop("patch", None)
            else:
                item["patch"] = f.patch
            if f.previous_filename:
                item["previous_filename"] = f.previous_filename
            items.append(item)
        return self._page(items)

    def get_issue(self, number: str) -> Reply:
        pr = self._pull(number)
        return Reply(
            200,
            {
                "url": f"{self.api}/issues/{pr.number}",
                "id": pr.number + 20_000,
                "node_id": _node_id("Issue", pr.number),
                "number": pr.number,
                "title": pr.title,
                "state": pr.state,
                "user": self.s.user_json(pr.user),
                "labels": [self._label_json(lb) for lb in pr.labels],
                "body": pr.body,
                "comments": len(pr.comments),
                "html_url": f"{self.web}/pull/{pr.number}",
                "comments_url": f"{self.api}/issues/{pr.number}/comments",
                "events_url": f"{self.api}/issues/{pr.number}/events",
                "labels_url": f"{self.api}/issues/{pr.number}/labels{{/name}}",
                "repository_url": self.api,
                "pull_request": {"url": f"{self.api}/pulls/{pr.number}"},
                "created_at": _now(),
                "updated_at": _now(),
                "closed_at": None,
                "locked": False,
                "assignees": [],
            },
        )

    def list_comments(self, number: str) -> Reply:
        pr = self._pull(number)
        return self._page([self._comment_json(c) for c in pr.comments])

    def create_comment(self, number: str) -> Reply:
        pr = self._pull(number)
        data = self.req.json if isinstance(self.req.json, dict) else {}
        if not isinstance(data.get("body"), str):
            return _unprocessable('Invalid request.\n\n"body" wasn\'t supplied.')
        c = IssueComment(self.s.state.next_id(), pr.number, data["body"], self.s.state.viewer)
        pr.comments.append(c)
        return Reply(201, self._comment_json(c), {"Location": f"{self.api}/issues/comments/{c.id}"})

    def _comment(self, id: str) -> tuple[PullRequest, IssueComment]:
        for pr in self.repo.pulls.values():
            for c in pr.comments:
                if c.id == int(id):
                    return pr, c
        raise _Error(_not_found())

    def get_comment(self, id: str) -> Reply:
        return Reply(200, self._comment_json(self._comment(id)[1]))

    def edit_comment(self, id: str) -> Reply:
        _, c = self._comment(id)
        data = self.req.json if isinstance(self.req.json, dict) else {}
        if not isinstance(data.get("body"), str):
            return _unprocessable('Invalid request.\n\n"body" wasn\'t supplied.')
        c.body = data["body"]
        c.updated_at = _now()
        return Reply(200, self._comment_json(c))

    def delete_comment(self, id: str) -> Reply:
        pr, c = self._comment(id)
        pr.comments.remove(c)
        return Reply(204, None)

    def list_events(self, number: str) -> Reply:
        pr = self._pull(number)
        items = []
        for ev in pr.events:
            item: dict[str, Any] = {
                "id": ev.id,
                "node_id": _node_id("LabeledEvent", ev.id),
                "url": f"{self.api}/issues/events/{ev.id}",
                "actor": self.s.user_json(ev.actor),
                "event": ev.event,
                "commit_id": None,
                "commit_url": None,
                "created_at": ev.created_at,
                "performed_via_github_app": None,
            }
            if ev.label is not None:
                item["label"] = {"name": ev.label, "color": "ededed"}
            items.append(item)
        return self._page(items)

    def list_labels(self, number: str) -> Reply:
        return self._page([self._label_json(lb) for lb in self._pull(number).labels])

    def permission(self, login: str) -> Reply:
        user = self.s.state.users.get(login)
        if user is None:
            return _not_found()
        role = self.repo.permissions.get(login) or ("none" if self.repo.private else "read")
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        rank = ROLES.index(role)
        flags = {"admin": rank <= 0, "maintain": rank <= 1, "push": rank <= 2, "triage": rank <= 3, "pull": rank <= 4}
        user_body = self.s.user_json(user) | {"permissions": flags, "role_name": role}
        return Reply(200, {"permission": legacy, "role_name": role, "user": user_body})

    def contents(self, path: str) -> Reply:
        path = path.strip("/")
        ref = self.req.query.get("ref") or self.repo.default_branch
        data = self.repo.contents.get((ref, path))
        if data is None:
            data = self.repo.contents.get((None, path))
        if data is None:
            return _not_found()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        encoded = base64.b64encode(data).decode()
        wrapped = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"
        url = f"{self.api}/contents/{urllib.parse.quote(path)}?ref={urllib.parse.quote(ref)}"
        html = f"{self.web}/blob/{ref}/{path}"
        git = f"{self.api}/git/blobs/{blob}"
        return Reply(
            200,
            {
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "sha": blob,
                "size": len(data),
                "url": url,
                "html_url": html,
                "git_url": git,
                "download_url": f"{self.s.web_url}/raw/{self.repo.full_name}/{ref}/{path}",
                "type": "file",
                "content": wrapped,
                "encoding": "base64",
                "_links": {"self": url, "git": git, "html": html},
            },
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive + Nagle + delayed ACK would add ~40-250 ms per request
    gh: GitHubServer  # set on the bound subclass

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access logs
        return

    def _serve(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        payload: Any = None
        if raw:
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
        req = RecordedRequest(
            method=self.command,
            path=parsed.path,
            query=dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            json=payload,
            raw_query=parsed.query,
        )
        try:
            reply = self.gh.handle(req)
        except Exception:  # a bug in the fake: answer 500 and remember it for the fixture's teardown
            self.gh.internal_errors.append(f"{req.method} {self.path}\n{traceback.format_exc()}")
            reply = Reply(500, {"message": "fake GitHub server error (see internal_errors)"})
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.body is None:
            data = b""
        elif isinstance(reply.body, str | bytes):
            data = reply.body.encode() if isinstance(reply.body, str) else reply.body
        else:
            data = json.dumps(reply.body).encode()
        with self.gh.state.lock:
            self.gh._remaining = max(self.gh._remaining - 1, 0)
            remaining = self.gh._remaining
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Used": str(5000 - remaining),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        }
        lower = {k.lower() for k in reply.headers}
        headers = {k: v for k, v in headers.items() if k.lower() not in lower}
        headers.update(reply.headers)
        headers["Content-Length"] = str(len(data))
        self.send_response(reply.status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve


def iter_link_header(value: str) -> Iterator[tuple[str, str]]:
    """Parse a Link header into (url, rel) pairs (helper for tests)."""
    for part in value.split(","):
        m = re.match(r'\s*<([^>]+)>;\s*rel="([^"]+)"', part)
        if m:
            yield m.group(1), m.group(2)
