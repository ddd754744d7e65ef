"""The `dynamic` gate in pull-request mode (issue 25: "the pull-request job if the policy asks"): the PR's
package packed from the head's git objects and the merge base's, both installed in the real sandbox (real
npm, strace, seccomp) against Verdaccio, the action run as the runner runs it, the GitHub stand-in answering.
Only the BASE's policy turns it on (`dynamic: {level: block, pull-request: true}`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests._support.github_server import GitHubServer
from tests._support.verdaccio import Verdaccio
from tests.pr_support import PrRepo, PrRun, findings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox drops to its own uid only as root")

POLICY = ".github/npm-gatekeeper.yml"
BENIGN = "require('fs').writeFileSync(require('path').join(__dirname, 'built.txt'), 'ok');\n"
READS_NPMRC = BENIGN + (
    "const fs = require('fs'), os = require('os');\n"
    "try { fs.readFileSync(os.homedir() + '/.npmrc', 'utf8'); } catch (e) {}\n"
)


def _repo(tmp_path: Path, policy: str, head: Callable[[PrRepo], None] | None = None) -> PrRepo:
    """Base: a package whose postinstall writes in its own folder, and `policy`; head: the postinstall now
    also reads the consumer's ~/.npmrc (the install code changed, the scripts did not)."""
    repo = PrRepo(tmp_path / "pr")
    manifest: dict[str, Any] = {
        "name": "widget-dyn",
        "version": "1.0.0",
        "main": "index.js",
        "scripts": {"postinstall": "node install.js"},
    }
    repo.write("package.json", manifest)
    repo.write("index.js", "module.exports = 1;\n")
    repo.write("install.js", BENIGN)
    repo.write(POLICY, policy)
    repo.commit_base()
    repo.start_head()
    repo.write("install.js", READS_NPMRC)
    if head is not None:
        head(repo)
    repo.commit_head()
    repo.publish()
    return repo


def test_a_pr_whose_postinstall_newly_reads_the_npmrc_fails_when_the_base_policy_asks(
    tmp_path: Path, github_server: GitHubServer, verdaccio: Verdaccio
):
    repo = _repo(tmp_path, "dynamic: {level: block, pull-request: true}\n")
    res = PrRun.create(repo, github_server).run(registry=verdaccio.url)
    assert res.returncode == 1, res.describe()
    assert res.report["gates"]["dynamic"] == "fail", res.describe()
    [f] = findings(res, "install-reads-credentials")
    assert f["severity"] == "block" and "~/.npmrc" in f["message"] and "merge base" in f["message"]
    assert f["evidence"]["package"] == "widget-dyn" and f["evidence"]["behaviour"] == "~/.npmrc"
    # the benign write in its own folder is the base's behaviour too: no other install finding
    assert not [x for x in findings(res) if x["gate"] == "dynamic" and x is not f]
    profile = res.report["install_behaviour"]
    assert profile is not None and profile["new"] == [
        {"package": "widget-dyn", "kind": "canaries", "item": "~/.npmrc"}
    ]
    assert "What `npm install` of this release does" in res.summary


def test_nothing_is_installed_when_the_base_policy_does_not_ask(
    tmp_path: Path, github_server: GitHubServer, verdaccio: Verdaccio
):
    repo = _repo(tmp_path, "dynamic: block\n")  # on for check mode, not asked for pull requests
    res = PrRun.create(repo, github_server).run(registry=verdaccio.url)
    assert "dynamic" not in res.report["gates"], res.describe()
    assert res.report["install_behaviour"] is None
    assert not [x for x in findings(res) if x["gate"] == "dynamic"]


def test_the_head_cannot_turn_it_on_for_itself(tmp_path: Path, github_server: GitHubServer, verdaccio: Verdaccio):
    repo = PrRepo(tmp_path / "pr")
    repo.write("package.json", {"name": "widget-dyn", "version": "1.0.0", "scripts": {"postinstall": "node i.js"}})
    repo.write("i.js", BENIGN)
    repo.commit_base()
    repo.start_head()
    repo.write("i.js", READS_NPMRC)
    repo.write(POLICY, "dynamic: {level: block, pull-request: true}\n")
    repo.commit_head()
    repo.publish()
    res = PrRun.create(repo, github_server).run(registry=verdaccio.url)
    assert "dynamic" not in res.report["gates"] and res.report["install_behaviour"] is None, res.describe()


def test_it_refuses_in_a_job_that_holds_a_credential(
    tmp_path: Path, github_server: GitHubServer, verdaccio: Verdaccio
):
    repo = _repo(tmp_path, "dynamic: {level: warn, pull-request: true}\n")
    res = PrRun.create(repo, github_server).run(registry=verdaccio.url, env={"NODE_AUTH_TOKEN": "npm_secret123"})
    [f] = findings(res, "install-observation-refused")
    assert f["severity"] == "block" and "NODE_AUTH_TOKEN" in f["message"]
    assert res.report["install_behaviour"] is None and res.returncode == 1
    assert "npm_secret123" not in json.dumps(res.report) and "npm_secret123" not in res.summary


def test_a_head_package_json_that_is_a_symlink_or_not_json_is_not_packed(
    tmp_path: Path, github_server: GitHubServer, verdaccio: Verdaccio
):
    """Hostile head: package.json a symlink to a file outside the package, then broken JSON. The gate does not
    follow the link or guess: it cannot pack, so the PR cannot be checked (exit 2), and nothing is installed."""
    def symlink(repo: PrRepo) -> None:
        (repo.upstream / "package.json").unlink()
        (repo.upstream / "package.json").symlink_to("/etc/passwd")

    def not_json(repo: PrRepo) -> None:
        repo.write("package.json", '{"name": "widget-dyn", "scripts": {"postinstall": ')

    for i, broken in enumerate((symlink, not_json)):
        repo = _repo(tmp_path / str(i), "dynamic: {level: block, pull-request: true}\n", broken)
        res = PrRun.create(repo, github_server).run(registry=verdaccio.url)
        assert res.report["gates"]["dynamic"] == "error", res.describe()
        assert res.returncode == 2 and "cannot be packed" in res.summary, res.describe()
        assert res.report["install_behaviour"] is None
