"""Helpers for the pull-request mode tests: real git repos with base/head commits, real npm lockfiles.

- `published_deps` (session fixture): packages published to the Verdaccio fixture with the real npm
  CLI: `plain@1.0.0` (no scripts), `plain@1.1.0` (adds a preinstall), `scripted@1.0.0` (postinstall).
- `PrRepo`: an upstream work repo where a test writes the base, branches, writes the head; `publish()`
  makes a bare `origin` holding `main` and `refs/pull/N/head`, and a workspace cloned from it (main only,
  through the git transport, so the head commit is NOT in the workspace: the action must fetch it).
- `PrRun`: the GitHub stand-in's pull request + the event payload, and `run()` to run the action.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests._support.github_server import GitHubServer, PullRequest
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import ActionResult, git, run_action

REPOSITORY = "acme/widget"


@dataclass(frozen=True)
class PublishedDeps:
    """Names of the packages published to Verdaccio, and the env that points npm at it."""

    registry: str
    plain: str
    scripted: str
    npm_env: dict[str, str] = field(repr=False)


def _write_package(root: Path, manifest: dict[str, Any], files: Mapping[str, str]) -> Path:
    root.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for rel, text in files.items():
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def published_deps(verdaccio: Verdaccio, tmp_path_factory: pytest.TempPathFactory) -> PublishedDeps:
    """Publish the dependencies the lockfile tests install (unique names for this session)."""
    root = tmp_path_factory.mktemp("published")
    user = verdaccio.unique("pr-user")
    token = verdaccio.add_user(user, "pr-password-1")
    plain, scripted = verdaccio.unique("gk-plain"), verdaccio.unique("gk-scripted")
    index = {"index.js": "module.exports = 1;\n"}
    verdaccio.publish(_write_package(root / "plain-1.0.0", {"name": plain, "version": "1.0.0"}, index), token)
    verdaccio.publish(
        _write_package(
            root / "plain-1.1.0",
            {"name": plain, "version": "1.1.0", "scripts": {"preinstall": "node preinstall.js"}},
            {**index, "preinstall.js": "require('child_process');\n"},
        ),
        token,
    )
    verdaccio.publish(
        _write_package(
            root / "scripted",
            {"name": scripted, "version": "1.0.0", "scripts": {"postinstall": "node postinstall.js"}},
            {**index, "postinstall.js": "console.log('installed');\n"},
        ),
        token,
    )
    return PublishedDeps(verdaccio.url, plain, scripted, verdaccio.npm_env())


class PrRepo:
    """An upstream repo (base on `main`, head on `feature`), then origin + a workspace clone."""

    def __init__(self, root: Path, number: int = 7) -> None:
        self.root = root
        self.number = number
        self.upstream = root / "upstream"
        self.upstream.mkdir(parents=True)
        git(self.upstream, "init", "-q", "-b", "main")
        git(self.upstream, "config", "commit.gpgsign", "false")
        self.base = ""
        self.head = ""

    def write(self, rel: str, content: str | bytes | dict[str, Any] | None) -> None:
        """Write a file (a dict becomes JSON; None deletes)."""
        path = self.upstream / rel
        if content is None:
            path.unlink()
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict):
            content = json.dumps(content, indent=2) + "\n"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    def read_json(self, rel: str) -> Any:
        return json.loads((self.upstream / rel).read_text(encoding="utf-8"))

    def commit(self, message: str) -> str:
        git(self.upstream, "add", "-A")
        git(self.upstream, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.upstream, "rev-parse", "HEAD")

    def commit_base(self, message: str = "base") -> str:
        self.base = self.commit(message)
        return self.base

    def start_head(self) -> None:
        git(self.upstream, "checkout", "-q", "-b", "feature")

    def commit_head(self, message: str = "head") -> str:
        self.head = self.commit(message)
        return self.head

    def advance_base(self, message: str = "base moved on") -> str:
        """A commit on main after the branch point (the event's base.sha moves with it)."""
        git(self.upstream, "checkout", "-q", "main")
        self.base = self.commit(message)
        git(self.upstream, "checkout", "-q", "feature")
        return self.base

    def npm(self, *args: str, cwd: str = ".", env: Mapping[str, str]) -> None:
        """Run the real npm CLI in the upstream repo (e.g. `install --package-lock-only x@1`)."""
        proc = subprocess.run(
            # Lockfiles with `resolved` URLs, as npm writes them by default (whatever ~/.npmrc says here).
            ["npm", *args, "--ignore-scripts", "--no-audit", "--no-fund", "--omit-lockfile-registry-resolved=false"],
            cwd=self.upstream / cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"npm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")

    def changed_files(self) -> list[tuple[str, str]]:
        """(status, path) between the merge base and the head, as GitHub's PR files list shows them."""
        mb = git(self.upstream, "merge-base", self.base, self.head)
        out = git(self.upstream, "diff", "--name-status", "--no-renames", mb, self.head)
        names = {"A": "added", "D": "removed", "M": "modified"}
        return [(names.get(line[0], "changed"), line.split("\t", 1)[1]) for line in out.splitlines() if line]

    def publish(self) -> Path:
        """Bare origin (main + refs/pull/N/head) and a workspace with main only; returns the workspace."""
        origin = self.root / "origin.git"
        git(self.root, "init", "-q", "--bare", str(origin))
        git(self.upstream, "push", "-q", str(origin), "main", f"feature:refs/pull/{self.number}/head")
        self.workspace = self.root / "workspace"
        git(self.root, "clone", "-q", "--no-local", "--single-branch", "--branch", "main", str(origin), "workspace")
        return self.workspace


@dataclass
class PrRun:
    """One pull request on the GitHub stand-in, wired to a published `PrRepo`."""

    repo: PrRepo
    server: GitHubServer
    pull: PullRequest
    policy_input: str = ""

    @classmethod
    def create(cls, repo: PrRepo, server: GitHubServer, *, author: str = "contributor") -> PrRun:
        gh_repo = server.repo(REPOSITORY)
        gh_repo.add_commit(repo.base, "main")
        pull = gh_repo.add_pull(repo.number, repo.head, base_sha=repo.base, user=author)
        for status, path in repo.changed_files():
            pull.add_file(path, status)
        gh_repo.set_permission("maintainer", "maintain")
        gh_repo.set_permission("reader", "read")
        gh_repo.set_permission("writer", "write")
        return cls(repo, server, pull)

    def event(self, action: str = "synchronize", label: str | None = None) -> dict[str, Any]:
        pr = {
            "number": self.repo.number,
            "state": "open",
            "base": {"ref": "main", "sha": self.repo.base},
            "head": {"ref": "feature", "sha": self.repo.head},
            "labels": [{"name": n} for n in self.pull.labels],
        }
        event: dict[str, Any] = {
            "action": action,
            "number": self.repo.number,
            "pull_request": pr,
            "repository": {"full_name": REPOSITORY, "fork": False},
            "sender": {"login": "contributor"},
        }
        if label is not None:
            event["label"] = {"name": label}
        return event

    def run(
        self,
        action: str = "synchronize",
        *,
        label: str | None = None,
        event_name: str = "pull_request_target",
        registry: str = "",
        env: Mapping[str, str] | None = None,
        inputs: Mapping[str, str] | None = None,
    ) -> ActionResult:
        """Run the action in pull-request mode on the workspace (as the runner runs the container)."""
        full_env = {
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_REF": f"refs/pull/{self.repo.number}/merge" if event_name == "pull_request" else "refs/heads/main",
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_API_URL": self.server.url,
            "GATEKEEPER_GITHUB_RETRIES": "1",
            "GATEKEEPER_GITHUB_BACKOFF": "0",
            **(env or {}),
        }
        all_inputs = {"mode": "pull-request", "github-token": self.server.token or "", **(inputs or {})}
        if registry:
            all_inputs["registry"] = registry
        return run_action(self.repo.workspace, env=full_env, event=self.event(action, label), inputs=all_inputs)


def findings(result: ActionResult, rule: str | None = None) -> list[dict[str, Any]]:
    """The report's findings (of one rule)."""
    assert result.report is not None, result.describe()
    return [f for f in result.report["findings"] if rule is None or f["rule"] == rule]


def comments(server: GitHubServer, number: int) -> Iterator[Any]:
    yield from server.state.repos[REPOSITORY].pulls[number].comments
