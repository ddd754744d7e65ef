"""End to end: the publishing-job isolation floor (issue 21, item 1) through entrypoint.py.

The workflow is committed in the test repository (`.github/workflows/release.yml`, job `release` =
GITHUB_JOB); the gate reads it from the checkout's git objects at GITHUB_WORKFLOW_SHA, else through the
GitHub stand-in's contents API. Each forbidden job shape blocks and publishes nothing; the isolated shape
publishes. Verdaccio is the registry; every run is searched for the token.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._support.github_server import GitHubServer
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import ACTION_REF, CHECKOUT_REF, DOWNLOAD_REF, run_action
from tests.test_e2e_publish import REPO, Release, _assert_blocked, release_factory

HEAD = """\
name: Release
on:
  push:
    branches: [main]
permissions: {}
jobs:
  release:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      checks: read
      statuses: read
      actions: read
    steps:
"""
CHECKOUT = f"""\
      - uses: {CHECKOUT_REF} # v5.0.0
        with:
          persist-credentials: false
"""
GATE = f"""\
      - uses: {ACTION_REF} # v1
        with:
          npm-token: ${{{{ secrets.NPM_TOKEN }}}}
"""
DOWNLOAD = f"""\
      - uses: {DOWNLOAD_REF} # v5.0.0
        with:
          name: package
"""

FORBIDDEN = {
    "run-npm-ci-before-the-gate": (HEAD + CHECKOUT + "      - run: npm ci\n" + GATE, "publish-job-not-isolated"),
    # issue 21 item 2's limit: a loader variable written into $GITHUB_ENV loads into a dynamically linked gate
    # before it can refuse (the image's static launcher removes it; the CLI has none): only this floor, no step
    # before the gate, keeps such a step out of the publishing job
    "github-env-ld-preload-before-the-gate": (
        HEAD + CHECKOUT + '      - run: echo "LD_PRELOAD=$PWD/evil.so" >> "$GITHUB_ENV"\n' + GATE,
        "publish-job-not-isolated",
    ),
    "run-after-the-gate": (HEAD + CHECKOUT + GATE + "      - run: npm view . version\n", "publish-job-not-isolated"),
    "actions-cache": (
        HEAD + CHECKOUT + "      - uses: actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830 # v4.3.0\n"
        "        with:\n          path: ~/.npm\n          key: npm-${{ hashFiles('package-lock.json') }}\n" + GATE,
        "publish-job-cache",
    ),
    "setup-node-cache-npm": (
        HEAD + CHECKOUT + "      - uses: actions/setup-node@a0853c24544627f65ddf259abe73b1d18a591444 # v5.0.0\n"
        "        with:\n          node-version: 22\n          cache: npm\n" + GATE,
        "publish-job-cache",
    ),
    "unpinned-gate": (HEAD + CHECKOUT + GATE.replace(ACTION_REF, "OWNER/npm-gatekeeper@v1"), "publish-step-unpinned"),
    "pull-request-target": (
        HEAD.replace("  push:\n    branches: [main]\n", "  push:\n    branches: [main]\n  pull_request_target:\n")
        + CHECKOUT
        + GATE,
        "publish-job-trigger",
    ),
    "token-passed-to-another-step": (
        HEAD
        + CHECKOUT.replace(
            "persist-credentials: false\n",
            "persist-credentials: false\n        env:\n          NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}\n",
        )
        + GATE,
        "publish-token-exposed",
    ),
}


@pytest.fixture
def release(verdaccio: Verdaccio, github_server: GitHubServer, package_repo: Callable[..., Path], tmp_path: Path):
    return release_factory(verdaccio, github_server, package_repo, tmp_path, lint_status=False)


def _finding(result, rule: str) -> dict:
    return next(f for f in result.report["findings"] if f["rule"] == rule)


@pytest.mark.parametrize("shape", sorted(FORBIDDEN))
def test_a_forbidden_publishing_job_blocks_and_publishes_nothing(release, shape: str) -> None:
    workflow, rule = FORBIDDEN[shape]
    rel: Release = release(workflow=workflow)
    result = rel.run()
    _assert_blocked(result, rel, rule)
    assert result.report["gates"]["isolation"] == "fail"
    f = _finding(result, rule)
    assert f["file"] == ".github/workflows/release.yml" and isinstance(f["line"], int), f
    assert "two jobs" in result.summary or "Split the release" in result.summary or rule in result.summary


def test_the_isolated_shape_publishes_a_downloaded_tarball(release, tmp_path: Path) -> None:
    rel: Release = release(workflow=HEAD + CHECKOUT + DOWNLOAD + GATE + "          tarball: dist/package.tgz\n")
    # what the build job packed and download-artifact put in the workspace (untracked)
    packed = (
        subprocess.run(
            ["npm", "pack", "--ignore-scripts", "--pack-destination", str(tmp_path)],
            cwd=rel.ws,
            capture_output=True,
            text=True,
            check=True,
            env={**rel.verdaccio.npm_env(), "npm_config_cache": str(tmp_path / "npm-cache")},
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    (rel.ws / "dist").mkdir()
    (rel.ws / "dist" / "package.tgz").write_bytes((tmp_path / packed).read_bytes())
    (rel.ws / ".git" / "info" / "exclude").write_text("dist/\n")
    result = rel.run(inputs={"tarball": "dist/package.tgz"})
    assert result.returncode == 0, result.describe()
    assert result.report["gates"]["isolation"] == "pass"
    assert rel.versions() == ["1.0.0"]


def test_check_mode_may_build(release) -> None:
    """A check job holds no credential: its build steps are its own business."""
    rel: Release = release(workflow=HEAD + CHECKOUT + "      - run: npm ci\n" + GATE)
    result = rel.run(inputs={"mode": "check"}, token="")
    assert result.report["gates"]["isolation"] == "skipped", result.describe()
    assert "publish-job-not-isolated" not in {f["rule"] for f in result.report["findings"]}


def test_the_workflow_is_read_through_the_contents_api_when_not_in_the_checkout(release) -> None:
    rel: Release = release()
    elsewhere = "f" * 40  # GITHUB_WORKFLOW_SHA: a commit the checkout does not have
    bad = HEAD + CHECKOUT + "      - run: npm ci\n" + GATE
    rel.repo.add_file(".github/workflows/release.yml", bad, ref=elsewhere)
    result = rel.run(env={"GITHUB_WORKFLOW_SHA": elsewhere})
    _assert_blocked(result, rel, "publish-job-not-isolated")  # the API's file decided, not the workspace's


def test_a_workflow_nowhere_to_be_read_blocks(release) -> None:
    rel: Release = release()
    result = rel.run(env={"GITHUB_WORKFLOW_SHA": "e" * 40})
    _assert_blocked(result, rel, "publish-job-unreadable")
    assert "GITHUB_WORKFLOW_SHA" in result.summary or "contents API" in result.summary


def test_a_job_not_in_the_workflow_blocks(release) -> None:
    rel: Release = release()
    result = rel.run(env={"GITHUB_JOB": "publish-from-reusable"})
    _assert_blocked(result, rel, "publish-job-unreadable")
    assert "publish-from-reusable" in _finding(result, "publish-job-unreadable")["message"]


def test_the_floor_cannot_be_lowered_or_skipped(release) -> None:
    rel: Release = release(
        workflow=HEAD + CHECKOUT + "      - run: npm ci\n" + GATE,
        extra_files={".github/npm-gatekeeper.yml": "rules:\n  publish-job-not-isolated: warn\n"},
    )
    result = rel.run()
    assert result.returncode == 2, result.describe()  # a policy lowering a floor is refused
    assert rel.versions() == []
    rel2: Release = release(workflow=HEAD + CHECKOUT + "      - run: npm ci\n" + GATE)
    argv = [sys.executable, "-m", "gatekeeper", "publish", "--skip-gates", "isolation,diff"]
    env = {**rel2.github.env(), "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": rel2.sha, "INPUT_NPM-TOKEN": rel2.token}
    inputs = {"github-token": rel2.github.token or "", "registry": rel2.verdaccio.url}
    result = run_action(rel2.ws, env, {"ref": "refs/heads/main"}, home=rel2.home, inputs=inputs, argv=argv)
    assert result.returncode == 1, result.describe()
    assert rel2.versions() == []
