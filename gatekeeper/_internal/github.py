"""Thin, typed adapter over PyGithub: only what the gates need, as plain dataclasses.

Retries 5xx and rate limits (403/429 with Retry-After or rate-limit headers) with
`GithubRetry`; anything that still fails raises `GitHubError` (fail closed).

Every request goes through `budget.BoundedAdapter` (mounted into PyGithub's own sessions): wall-clock
budget per request and per call (`call(...)`), the run's deadline, a byte budget on every answer, a
cap on the requests of one call (PyGithub's paginated lists included: a `Link: next` that never ends
stops there), and the token only to `GITHUB_API_URL`'s origin. Retry waits (rate limits) never run
past the call's budget or the run's deadline.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass

from gatekeeper import __version__
from gatekeeper._internal import budget
from gatekeeper._internal.route import Route
from gatekeeper.errors import GitHubError
from gatekeeper.secret import Secret

T = TypeVar("T")
U = TypeVar("U")

OK_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
#: Caps on listed items: past them the gate errors (fail closed) instead of deciding on a partial list.
MAX_LISTED = 1000
MAX_PAGES = 10
#: Byte budget (decoded) of one GitHub answer; the policy's `network.max-github-bytes` sets it.
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
#: Requests one call may make (pages of 100, retries, redirects) and its wall-clock budget.
MAX_REQUESTS_PER_CALL = 60
CALL_SECONDS = 180.0
#: An error answer read inside a retry decision is cut off here.
MAX_ERROR_BYTES = 256 * 1024


@dataclass(frozen=True)
class Check:
    """A check run or a commit status, normalised."""

    kind: str  # "check-run" | "status"
    name: str
    state: str  # "success" | "pending" | "failure"
    detail: str  # the raw conclusion / state
    url: str
    id: int | None = None
    app_id: int | None = None  # the GitHub App that created a check run
    suite_id: int | None = None  # the check suite of a check run (a re-run stays in its suite)


def _newest_per_suite(runs: list[Check]) -> list[Check]:
    """The newest run (highest id) of each (check suite, name); a run without a suite id stands alone."""
    newest: dict[tuple[object, str], Check] = {}
    for c in runs:
        key: tuple[object, str] = (c.suite_id if c.suite_id is not None else ("run", c.id), c.name)
        kept = newest.get(key)
        if kept is None or (c.id or 0) > (kept.id or 0):
            newest[key] = c
    return [c for c in runs if newest.get((c.suite_id if c.suite_id is not None else ("run", c.id), c.name)) is c]


@dataclass(frozen=True)
class Review:
    """One deployment review of a workflow run."""

    state: str  # approved | rejected
    environments: tuple[str, ...]
    login: str
    user_id: int


@dataclass(frozen=True)
class Job:
    """A job of a workflow run (its id is its check-run id)."""

    id: int
    name: str
    status: str
    runner_name: str
    conclusion: str = ""
    started_at: str = ""  # ISO 8601 as GitHub writes it ("" when not started)
    completed_at: str = ""


@dataclass(frozen=True)
class ChangedFile:
    """A file a comparison changes (`GET /compare`'s `files`)."""

    filename: str
    status: str  # added | removed | modified | renamed | copied | changed | unchanged
    previous_filename: str = ""


@dataclass(frozen=True)
class ComparedCommit:
    """A commit of a comparison: its parents and its committer's date (ISO 8601, as git recorded it)."""

    sha: str
    parents: tuple[str, ...]
    committer_date: str
    committer: str


@dataclass(frozen=True)
class Comparison:
    """`GET /compare/{base}...{head}`: how `head` relates to `base`, its commits and the files they change."""

    status: str  # ahead | identical | behind | diverged | unrelated (404)
    ahead_by: int
    behind_by: int
    commits: tuple[ComparedCommit, ...]
    files: tuple[ChangedFile, ...]
    #: GitHub lists at most 300 files (and 250 commits): past that the comparison is not complete.
    truncated: bool = False


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, dict) else ""


@dataclass(frozen=True)
class Release:
    """A GitHub Release, as notify and watch need it."""

    id: int
    tag: str
    name: str
    body: str
    author: str
    html_url: str
    draft: bool

    @classmethod
    def from_json(cls, data: Any) -> Release:
        return cls(
            id=int(data["id"]),
            tag=str(data["tag_name"]),
            name=str(data.get("name") or ""),
            body=str(data.get("body") or ""),
            author=_login(data.get("author")),
            html_url=str(data.get("html_url") or ""),
            draft=bool(data.get("draft")),
        )


@dataclass(frozen=True)
class Issue:
    """A GitHub issue (not a pull request)."""

    number: int
    title: str
    body: str
    author: str
    state: str
    html_url: str

    @classmethod
    def from_json(cls, data: Any) -> Issue:
        return cls(
            number=int(data["number"]),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            author=_login(data.get("user")),
            state=str(data.get("state") or ""),
            html_url=str(data.get("html_url") or ""),
        )


class _BoundedRetry(GithubRetry):
    """GithubRetry whose waits respect the run's deadline and whose error reads are bounded."""

    deadline: budget.Deadline = budget.Deadline()

    def new(self, **kw: Any) -> _BoundedRetry:
        retry = super().new(**kw)
        retry.deadline = self.deadline
        return retry

    def get_content(self, resp: Any, url: str) -> bytes:  # type: ignore[override]
        try:
            data = resp.read(MAX_ERROR_BYTES, decode_content=True)
        except Exception:  # a broken error body is just no message
            return b""
        return bytes(data or b"")

    def sleep(self, response: Any = None) -> None:
        wait = 0.0
        why = "backoff"
        if response is not None and self.respect_retry_after_header:
            wait = float(self.get_retry_after(response) or 0.0)
            why = "Retry-After" if wait else why
        if not wait:
            wait = self.get_backoff_time()
        budget.wait_before_retry(self.deadline, wait, "GitHub's API", why)


def _retry(deadline: budget.Deadline | None = None) -> GithubRetry:
    total = min(int(os.environ.get("GATEKEEPER_GITHUB_RETRIES", "5")), 10)
    backoff = float(os.environ.get("GATEKEEPER_GITHUB_BACKOFF", "1.0"))
    max_wait = float(os.environ.get("GATEKEEPER_GITHUB_MAX_RATE_WAIT", "300"))
    retry = _BoundedRetry(
        total=total,
        backoff_factor=backoff,
        backoff_max=60,
        max_rate_limit_wait=max_wait,
        secondary_rate_wait=min(60.0, max_wait),
        status_forcelist=[*range(500, 600), 429],
    )
    retry.deadline = deadline or budget.Deadline()
    return retry


def _bounded_connections(limits: budget.Limits) -> tuple[type, type]:
    """PyGithub connection classes whose sessions use the bounded adapter (same retry object)."""

    def mount(conn: Any) -> None:
        adapter = budget.BoundedAdapter(
            limits, max_retries=conn.retry, pool_connections=conn.pool_size, pool_maxsize=conn.pool_size
        )
        conn.adapter = adapter
        conn.session.mount("https://", adapter)
        conn.session.mount("http://", adapter)
        conn.session.headers["Accept-Encoding"] = "gzip, deflate"
        conn.session.trust_env = False  # no proxy or CA bundle from the environment (issue 21)

    class _Http(HTTPRequestsConnectionClass):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            mount(self)

    class _Https(HTTPSRequestsConnectionClass):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            mount(self)

    return _Http, _Https


class GitHubClient:
    """One repository on one GitHub API."""

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: Secret | None,
        *,
        timeout: int = 30,
        deadline: budget.Deadline | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        route: Route | None = None,
    ) -> None:
        self.repository = repository
        self._token = token
        self.deadline = deadline or budget.Deadline()
        auth = Auth.Token(token.reveal()) if token else None
        base_url = api_url.rstrip("/")
        self.limits = budget.Limits(
            "GitHub's API",
            self.deadline,
            float(timeout),
            max_bytes,
            allowed_origin=budget.origin(base_url),
            route=route or Route(),
        )
        self._gh = Github(
            auth=auth,
            base_url=base_url,
            timeout=timeout,
            retry=_retry(self.deadline),
            user_agent=f"npm-gatekeeper/{__version__}",
            per_page=100,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        http_cls, https_cls = _bounded_connections(self.limits)
        requester = self._gh.requester
        # PyGithub builds its connections from these (per instance here; the classes stay untouched)
        requester._Requester__httpConnectionClass = http_cls  # type: ignore[attr-defined]
        requester._Requester__httpsConnectionClass = https_cls  # type: ignore[attr-defined]
        scheme = urllib.parse.urlsplit(base_url).scheme
        requester._Requester__connectionClass = https_cls if scheme == "https" else http_cls  # type: ignore[attr-defined]
        self._repo: Any = None
        #: `GET /branches/{b}` answers of this run (None: 404), read by the commit and green-build gates.
        self._branches: dict[str, Any] = {}

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        try:
            yield
        except GithubException as exc:
            message = ""
            if isinstance(exc.data, dict):
                message = str(exc.data.get("message", ""))
            hint = "Check the `github-token` input and its permissions"
            if exc.status in (403, 429) and ("rate limit" in message.lower() or exc.data is None):
                hint = "The GitHub API rate limit was exceeded past the retries; re-run the job later"
            elif exc.status is not None and exc.status >= 500:
                hint = "GitHub's API is failing; re-run the job when https://www.githubstatus.com is green"
            raise GitHubError(
                f"GitHub API: {what} failed with HTTP {exc.status} {self._clean(message)}".rstrip(), hint
            ) from None
        except requests.RequestException as exc:
            raise GitHubError(
                f"GitHub API: {what} failed ({type(exc).__name__}: {self._clean(str(exc))[:300]})",
                "GitHub's API did not answer (down, rate limited past the retries, or unreachable); re-run later",
            ) from None
        except RuntimeError as exc:  # PyGithub refuses a redirect to another host or scheme
            raise GitHubError(
                f"GitHub API: {what} was redirected away from GITHUB_API_URL ({self._clean(str(exc))[:200]})",
                "Check GITHUB_API_URL and any proxy in between; the token is only sent to GITHUB_API_URL",
            ) from None
        except AssertionError as exc:  # PyGithub asserts that next-page URLs stay on GITHUB_API_URL's host/port
            raise GitHubError(
                f"GitHub API: {what} was sent to a URL outside GITHUB_API_URL ({self._clean(str(exc))[:200]})",
                "Check GITHUB_API_URL and any proxy in between; the token is only sent to GITHUB_API_URL",
            ) from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GitHubError(
                f"GitHub API: {what} returned malformed data ({type(exc).__name__}: {exc})", "Re-run the job"
            ) from None

    def _clean(self, text: str) -> str:
        return self._token.redact(text) if self._token else text

    def call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        max_requests: int = MAX_REQUESTS_PER_CALL,
        seconds: float = CALL_SECONDS,
    ) -> T:
        """Run `fn` (PyGithub calls) as one bounded call: wall time, request cap, errors as GitHubError."""
        with self._calling(what), budget.call_scope(f"GitHub API: {what}", seconds=seconds, max_requests=max_requests):
            return fn()
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def repo(self) -> Any:
        if self._repo is None:
            self._repo = self.call(f"reading repository {self.repository}", lambda: self._gh.get_repo(self.repository))
        return self._repo

    def default_branch(self) -> str:
        branch = self.call("reading the default branch", lambda: self.repo.default_branch)
        if not isinstance(branch, str) or not branch:
            raise GitHubError("GitHub API: the repository has no default branch in its data", "Re-run the job")
        return branch

    def is_fork(self) -> bool:
        return bool(self.call("reading the repository", lambda: self.repo.fork))

    def checks(self, sha: str) -> list[Check]:
        """The check runs on `sha` (every run, `filter=all`; the newest per check suite and name) and the commit
        statuses (latest per context, every page).

        A failed run is superseded only by a later run of the same check suite (a re-run), never by a newer
        same-named run of another workflow or app (which `filter=latest` may let hide it): each suite's newest
        run of a name is returned, so a `failure` in one suite and a `skipped` of the same name in another both
        count. A run without a suite id is its own suite (nothing supersedes it)."""

        def fetch() -> list[Check]:
            commit = self.repo.get_commit(sha)
            out: list[Check] = []
            for n, run in enumerate(commit.get_check_runs(filter="all")):
                if n >= MAX_LISTED:
                    raise GitHubError(
                        f"GitHub API: commit {sha[:12]} has more than {MAX_LISTED} check runs",
                        "Nothing was decided on a partial list; reduce the checks on the release commit",
                    )
                if run.status != "completed":
                    state = "pending"
                elif run.conclusion in OK_CONCLUSIONS:
                    state = "success"
                else:
                    state = "failure"
                raw = getattr(run, "_rawData", None)  # (not `raw_data`: that re-fetches each check run)
                app = raw.get("app") if isinstance(raw, dict) else None
                app_id = app.get("id") if isinstance(app, dict) and isinstance(app.get("id"), int) else None
                suite = raw.get("check_suite") if isinstance(raw, dict) else None
                suite_id = suite.get("id") if isinstance(suite, dict) and isinstance(suite.get("id"), int) else None
                out.append(
                    Check(
                        "check-run",
                        run.name,
                        state,
                        run.conclusion or run.status,
                        run.html_url or "",
                        run.id,
                        app_id,
                        suite_id,
                    )
                )
            return _newest_per_suite(out) + self._statuses(sha)

        return self.call(f"reading checks of commit {sha[:12]}", fetch)

    def _statuses(self, sha: str) -> list[Check]:
        """Every page of `/commits/{sha}/statuses` (newest first): the latest state per context, capped."""
        latest: dict[str, Check] = {}
        path = f"/repos/{self.repository}/commits/{sha}/statuses"
        for page in range(1, MAX_PAGES + 2):
            if page > MAX_PAGES:
                raise GitHubError(
                    f"GitHub API: commit {sha[:12]} has more than {MAX_PAGES * 100} commit statuses",
                    "Nothing was decided on a partial list; reduce the statuses posted on the release commit",
                )
            _, data = self._gh.requester.requestJsonAndCheck("GET", path, parameters={"per_page": 100, "page": page})
            if not isinstance(data, list):
                raise ValueError("the statuses are not a list")
            for st in data:
                context, raw = str(st["context"]), str(st["state"])
                if context not in latest:  # newest first: the first one seen is the current state
                    state = {"success": "success", "pending": "pending"}.get(raw, "failure")
                    latest[context] = Check("status", context, state, raw, str(st.get("target_url") or ""))
            if len(data) < 100:
                break
        return list(reversed(latest.values()))  # oldest context first, as the combined status lists them

    def run_jobs(self, run_id: int, attempt: int | None) -> list[Job]:
        """The jobs of a workflow run attempt."""

        def fetch() -> list[Job]:
            path = f"/repos/{self.repository}/actions/runs/{run_id}"
            path += f"/attempts/{attempt}/jobs" if attempt else "/jobs"
            jobs: list[Job] = []
            page = 1
            while page <= 20:
                _, data = self._gh.requester.requestJsonAndCheck(
                    "GET", path, parameters={"per_page": 100, "page": page}
                )
                batch = data.get("jobs", [])
                for j in batch:
                    jobs.append(
                        Job(
                            int(j["id"]),
                            str(j.get("name", "")),
                            str(j.get("status", "")),
                            str(j.get("runner_name") or ""),
                            str(j.get("conclusion") or ""),
                            str(j.get("started_at") or ""),
                            str(j.get("completed_at") or ""),
                        )
                    )
                if len(batch) < 100:
                    break
                page += 1
            return jobs

        return self.call(f"listing the jobs of run {run_id}", fetch)

    def _get_unless_404(
        self, path: str, parse: Callable[[Any], T], if_404: U, parameters: dict[str, Any] | None = None
    ) -> T | U:
        """GET `path` and `parse` the answer; `if_404` when GitHub answers 404 (other errors raise)."""
        try:
            _, data = self._gh.requester.requestJsonAndCheck("GET", path, parameters=parameters)
        except GithubException as exc:
            if exc.status == 404:
                return if_404
            raise
        return parse(data)

    def required_checks(self, branch: str) -> list[str]:
        """Status-check contexts required by the rulesets that apply to `branch`."""
        return sorted({name for name, _ in self.required_check_specs(branch)})

    def required_check_specs(self, branch: str) -> list[tuple[str, int | None]]:
        """(context, integration_id) pairs required by the rulesets of `branch` (None: any source)."""

        def parse(data: Any) -> list[tuple[str, int | None]]:
            specs: set[tuple[str, int | None]] = set()
            for r in data if isinstance(data, list) else []:
                if r.get("type") == "required_status_checks":
                    for c in r.get("parameters", {}).get("required_status_checks", []):
                        app = c.get("integration_id")
                        specs.add((str(c["context"]), int(app) if isinstance(app, int) else None))
            return sorted(specs, key=lambda x: (x[0], x[1] or 0))

        path = f"/repos/{self.repository}/rules/branches/{branch}"
        rulesets = self.call(f"reading the rulesets of branch {branch}", lambda: self._get_unless_404(path, parse, []))
        return sorted(set(rulesets) | set(self.classic_required_checks(branch)), key=lambda x: (x[0], x[1] or 0))

    def classic_required_checks(self, branch: str) -> list[tuple[str, int | None]]:
        """(context, app_id) pairs classic branch protection requires on `branch` (None: any source).

        Read from `GET /repos/{o}/{r}/branches/{b}` (`protection.required_status_checks`), which a token with
        `contents: read` sees; the `/protection` endpoint itself needs admin rights and is not read. A branch
        whose answer carries no `required_status_checks` requires none that this token can see."""

        def parse(data: Any) -> list[tuple[str, int | None]]:
            protection = data.get("protection") if isinstance(data, dict) else None
            rsc = protection.get("required_status_checks") if isinstance(protection, dict) else None
            if not isinstance(rsc, dict) or rsc.get("enforcement_level") == "off":
                return []
            specs: set[tuple[str, int | None]] = set()
            for c in rsc.get("checks") or []:
                if isinstance(c, dict) and isinstance(c.get("context"), str):
                    app = c.get("app_id")
                    specs.add((c["context"], app if isinstance(app, int) and app > 0 else None))
            for name in rsc.get("contexts") or []:
                if isinstance(name, str) and not any(n == name for n, _ in specs):
                    specs.add((name, None))
            return sorted(specs, key=lambda x: (x[0], x[1] or 0))

        data = self._branch(branch)
        return [] if data is None else self.call(f"reading the branch protection of {branch}", lambda: parse(data))

    def _branch(self, branch: str) -> Any:
        """`GET /repos/{o}/{r}/branches/{b}`, once per client (a run): None when there is no such branch."""
        if branch not in self._branches:
            path = f"/repos/{self.repository}/branches/{quote(branch, safe='')}"
            self._branches[branch] = self.call(
                f"reading branch {branch}", lambda: self._get_unless_404(path, lambda data: data, None)
            )
        return self._branches[branch]

    def file_at(self, path: str, ref: str, max_bytes: int) -> bytes | None:
        """The bytes of `path` at commit `ref` (contents API; None: no such file); larger than `max_bytes` raises."""

        def parse(data: Any) -> bytes:
            import base64

            if not isinstance(data, dict) or data.get("type", "file") != "file":
                raise ValueError(f"{path} is not a file")
            size = data.get("size")
            if not isinstance(size, int) or size > max_bytes:
                raise GitHubError(
                    f"GitHub API: {path} at {ref[:12]} is larger than {max_bytes} bytes", "Shrink the file"
                )
            content = data.get("content")
            if data.get("encoding") != "base64" or not isinstance(content, str):
                raise ValueError(f"{path}: the contents API sent no base64 content")
            raw = base64.b64decode("".join(content.split()), validate=True)
            if len(raw) != size:
                raise ValueError(f"{path}: {len(raw)} bytes decoded, {size} announced")
            return raw

        url = f"/repos/{self.repository}/contents/{quote(path)}"
        return self.call(
            f"reading {path} at {ref[:12]}", lambda: self._get_unless_404(url, parse, None, parameters={"ref": ref})
        )

    def tag_rulesets(self, tag: str) -> list[str]:
        """Names of the active rulesets that protect `refs/tags/<tag>` from update AND deletion (empty: none).

        `GET /repos/{o}/{r}/rulesets` (with the organization's), then each ruleset (`GET .../rulesets/{id}`):
        target `tag`, enforcement `active`, `conditions.ref_name` including the ref (fnmatch patterns,
        `~ALL`) and not excluding it, rules of type `update` and `deletion`."""
        import fnmatch

        ref = f"refs/tags/{tag}"

        def matches(patterns: Any) -> bool:
            return any(
                isinstance(p, str)
                and (p == "~ALL" or fnmatch.fnmatchcase(ref, p if p.startswith("refs/") else f"refs/tags/{p}"))
                for p in (patterns if isinstance(patterns, list) else [])
            )

        def read() -> list[str]:
            listed = self._get_unless_404(
                f"/repos/{self.repository}/rulesets",
                lambda d: d if isinstance(d, list) else [],
                [],
                {"includes_parents": "true", "per_page": 100},
            )
            names: list[str] = []
            for item in listed[:100]:
                if not isinstance(item, dict) or item.get("target") != "tag" or item.get("enforcement") != "active":
                    continue
                rid = item.get("id")
                if not isinstance(rid, int) or isinstance(rid, bool):
                    continue
                full = self._get_unless_404(f"/repos/{self.repository}/rulesets/{rid}", lambda d: d, None)
                if not isinstance(full, dict) or full.get("target") != "tag" or full.get("enforcement") != "active":
                    continue
                cond = (full.get("conditions") or {}).get("ref_name") or {}
                types = {r.get("type") for r in full.get("rules") or [] if isinstance(r, dict)}
                if (
                    matches(cond.get("include"))
                    and not matches(cond.get("exclude"))
                    and {"update", "deletion"} <= types
                ):
                    names.append(str(full.get("name") or rid))
            return names

        return self.call(f"reading the tag rulesets for {ref}", read)

    # releases and issues (notify and watch) ----------------------------------------------------------

    def _pages(self, path: str, what: str, params: dict[str, Any] | None = None, max_pages: int = 100) -> list[Any]:
        """Every item of a paginated list endpoint (per_page=100, page by page until a short page)."""

        def fetch() -> list[Any]:
            items: list[Any] = []
            for page in range(1, max_pages + 1):
                _, data = self._gh.requester.requestJsonAndCheck(
                    "GET", path, parameters={**(params or {}), "per_page": 100, "page": page}
                )
                if not isinstance(data, list):
                    raise ValueError(f"expected a list, got {type(data).__name__}")
                items.extend(data)
                if len(data) < 100:
                    return items
            raise GitHubError(
                f"GitHub API: {what} has more than {max_pages * 100} entries", "Report this; the limit is a safety cap"
            )

        return self.call(what, fetch)

    def release_by_tag(self, tag: str) -> Release | None:
        """The Release of `tag`, or None when there is none."""

        path = f"/repos/{self.repository}/releases/tags/{quote(tag, safe='')}"
        return self.call(
            f"reading the release of tag {tag}", lambda: self._get_unless_404(path, Release.from_json, None)
        )

    def create_release(self, tag: str, sha: str, name: str, body: str) -> Release:
        """A new Release; GitHub creates the tag at `sha` when it does not exist yet."""
        payload = {"tag_name": tag, "target_commitish": sha, "name": name, "body": body, "draft": False}

        def post() -> Release:
            _, data = self._gh.requester.requestJsonAndCheck(
                "POST", f"/repos/{self.repository}/releases", input=payload
            )
            return Release.from_json(data)

        return self.call(f"creating the release of tag {tag}", post)

    def update_release(self, release_id: int, name: str, body: str) -> Release:
        def patch() -> Release:
            _, data = self._gh.requester.requestJsonAndCheck(
                "PATCH", f"/repos/{self.repository}/releases/{release_id}", input={"name": name, "body": body}
            )
            return Release.from_json(data)

        return self.call(f"updating release {release_id}", patch)

    def releases(self) -> list[Release]:
        """Every Release of the repository (paginated)."""
        items = self._pages(f"/repos/{self.repository}/releases", "listing the releases")
        return self.call("reading the releases", lambda: [Release.from_json(d) for d in items])

    def issues(self) -> list[Issue]:
        """Every issue, open and closed (`state=all`, paginated; pull requests left out)."""
        items = self._pages(f"/repos/{self.repository}/issues", "listing the issues", {"state": "all"})
        return self.call("reading the issues", lambda: [Issue.from_json(d) for d in items if "pull_request" not in d])

    def create_issue(self, title: str, body: str) -> Issue:
        def post() -> Issue:
            _, data = self._gh.requester.requestJsonAndCheck(
                "POST", f"/repos/{self.repository}/issues", input={"title": title, "body": body}
            )
            return Issue.from_json(data)

        return self.call("opening an issue", post)

    # -- issue 8: the commit bound to its branch, deployment reviews

    def branch_head(self, branch: str) -> str | None:
        """The sha at the head of `branch` now (None: no such branch)."""

        def parse(data: Any) -> str:
            sha = data["commit"]["sha"]
            if not isinstance(sha, str) or len(sha) != 40:
                raise ValueError(f"branch {branch!r} has no commit sha")
            return sha

        data = self._branch(branch)
        return None if data is None else self.call(f"reading the head of branch {branch}", lambda: parse(data))

    def compare_status(self, base: str, head: str) -> str:
        """`ahead` | `identical` | `behind` | `diverged` of `head` relative to `base`; `unrelated` on 404."""

        def parse(data: Any) -> str:
            status = data["status"]
            if status not in ("ahead", "identical", "behind", "diverged"):
                raise ValueError(f"unknown compare status {status!r}")
            return str(status)

        path = f"/repos/{self.repository}/compare/{base}...{head}"
        return self.call(
            f"comparing {base[:12]}...{head[:12]}",
            lambda: self._get_unless_404(path, parse, "unrelated", parameters={"per_page": 1}),
        )

    def compare(self, base: str, head: str) -> Comparison:
        """`/compare/{base}...{head}` with its commits and changed files (status `unrelated` on 404)."""

        def parse(data: Any) -> Comparison:
            status = data["status"]
            if status not in ("ahead", "identical", "behind", "diverged"):
                raise ValueError(f"unknown compare status {status!r}")
            commits = []
            for c in data.get("commits") or []:
                sha = c["sha"]
                committer = (c.get("commit") or {}).get("committer") or {}
                parents = tuple(str(p["sha"]) for p in c.get("parents") or [])
                if not isinstance(sha, str) or len(sha) != 40:
                    raise ValueError("a compared commit has no sha")
                commits.append(
                    ComparedCommit(sha, parents, str(committer.get("date") or ""), str(committer.get("name") or ""))
                )
            files = tuple(
                ChangedFile(str(f["filename"]), str(f.get("status") or ""), str(f.get("previous_filename") or ""))
                for f in data.get("files") or []
            )
            ahead, behind = int(data.get("ahead_by") or 0), int(data.get("behind_by") or 0)
            truncated = len(files) >= 300 or len(commits) < min(ahead, 250)
            return Comparison(str(status), ahead, behind, tuple(commits), files, truncated)

        path = f"/repos/{self.repository}/compare/{base}...{head}"
        unrelated = Comparison("unrelated", 0, 0, (), ())
        return self.call(f"comparing {base[:12]}...{head[:12]}", lambda: self._get_unless_404(path, parse, unrelated))

    def run_approvals(self, run_id: int) -> list[Review]:
        """The deployment review log of a workflow run (who approved or rejected which environments)."""

        def fetch() -> list[Review]:
            _, data = self._gh.requester.requestJsonAndCheck(
                "GET", f"/repos/{self.repository}/actions/runs/{run_id}/approvals"
            )
            if not isinstance(data, list):
                raise ValueError("the approvals are not a list")
            out = []
            for item in data[:1000]:
                envs = tuple(str(e["name"]) for e in item.get("environments") or [])
                user = item.get("user") or {}
                out.append(Review(str(item["state"]), envs, str(user.get("login") or ""), int(user.get("id") or 0)))
            return out

        return self.call(f"reading the deployment reviews of run {run_id}", fetch)

    @property
    def raw(self) -> Github:
        """The PyGithub client, for modes that need more (pull-request)."""
        return self._gh
