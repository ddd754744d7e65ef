"""End to end (issue 8): the given tarball, the trusted policy, safety floors, reviewed two-job releases,
content-bound file approvals, the commit bound to its branch, and complete green-build reads.

Every run is `entrypoint.py` as the runner runs it, against the session Verdaccio and the GitHub stand-in,
in a real git workspace with history and tags; each case looks at the registry afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests._support.github_server import GitHubServer
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import git, head_sha
from tests.test_e2e_publish import REPO, Release, _assert_blocked


@pytest.fixture
def release(verdaccio: Verdaccio, github_server: GitHubServer, package_repo: Callable[..., Path], tmp_path: Path):
    """`release(version, **repo_kw) -> Release`: a green commit on main, a registry user, this job in run 4242."""

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
        run = repo.add_workflow_run(sha, run_id=4242)
        run.add_job("release", status="in_progress", runner_name="GitHub Actions 2")
        home = tmp_path / f"home-{name}"
        home.mkdir()
        return Release(ws, name, user, password, login, token, sha, repo, verdaccio, github_server, home)

    return make


def _sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _npm_pack(ws: Path) -> Path:
    out = subprocess.run(
        ["npm", "pack", "--ignore-scripts", "--json", "--pack-destination", str(ws / "dist")],
        cwd=ws,
        capture_output=True,
        text=True,
        check=True,
    )
    return ws / "dist" / json.loads(out.stdout)[0]["filename"]


# -- the `tarball` input and the `integrity` output


def test_given_tarball_is_gated_and_published_byte_for_byte(release) -> None:
    rel: Release = release()
    (rel.ws / "dist").mkdir()
    tgz = _npm_pack(rel.ws)
    result = rel.run(inputs={"tarball": f"dist/{tgz.name}"})
    assert result.returncode == 0, result.describe()
    assert result.outputs["integrity"] == _sri(tgz.read_bytes())
    assert result.outputs["needs-review"] == "false"
    doc = rel.verdaccio.packument(rel.name)
    assert doc is not None and doc["versions"]["1.0.0"]["dist"]["integrity"] == _sri(tgz.read_bytes())
    assert result.report["gates"]["diff"] == "pass"


def test_given_tarball_is_still_diffed(release) -> None:
    """Every gate runs on the given file, not on the workspace: its new postinstall blocks."""
    rel: Release = release()
    rel.verdaccio.publish(rel.ws, rel.token)  # 1.0.0
    (rel.ws / "dist").mkdir()
    pkg = json.loads((rel.ws / "package.json").read_text())
    pkg["version"] = "1.0.1"
    pkg["scripts"]["postinstall"] = "node evil.js"
    (rel.ws / "package.json").write_text(json.dumps(pkg))
    (rel.ws / "evil.js").write_text("require('child_process').exec('curl x')\n")
    tgz = _npm_pack(rel.ws)
    git(rel.ws, "checkout", "--", "package.json")  # the workspace itself is clean 1.0.0 again
    (rel.ws / "evil.js").unlink()
    result = rel.run(inputs={"tarball": f"dist/{tgz.name}"})
    assert result.returncode == 1, result.describe()
    assert "lifecycle-script-added" in {f["rule"] for f in result.report["findings"] if f["severity"] == "block"}
    assert result.outputs["version"] == "1.0.1"
    assert rel.versions() == ["1.0.0"]


def test_given_tarball_outside_the_workspace_fails_closed(release, tmp_path: Path) -> None:
    rel: Release = release()
    (rel.ws / "dist").mkdir()
    tgz = _npm_pack(rel.ws)
    outside = tmp_path / "outside.tgz"
    outside.write_bytes(tgz.read_bytes())
    (rel.ws / "dist" / "link.tgz").symlink_to(outside)
    for value in ("../outside.tgz", "dist/link.tgz", "dist/missing.tgz", "dist/x.tar"):
        result = rel.run(inputs={"tarball": value})
        assert result.returncode == 2, (value, result.describe())
        assert "tarball" in result.stderr and "Nothing was published" in result.stderr
    assert rel.versions() == []


def test_check_mode_outputs_the_integrity(release) -> None:
    rel: Release = release()
    result = rel.run(inputs={"mode": "check"})
    assert result.returncode == 0, result.describe()
    assert result.outputs["integrity"].startswith("sha512-")
    assert result.outputs["integrity"] == result.report["publish"]["integrity"]
    assert rel.versions() == []


# -- safety floors


@pytest.mark.parametrize(
    ("rules", "knob"),
    [
        ("not-default-branch: 'off'\n  check-failed: 'off'", "branch.release-branches"),
        ("check-failed: warn", "checks.ignore"),
        ("token-not-from-secret: 'off'", "no policy key loosens it"),
    ],
    ids=["branch", "green-build", "credential"],
)
def test_rules_turning_a_floor_off_fail_validation(release, rules: str, knob: str) -> None:
    """A commit on a feature branch with a red check, whose policy switches the gates off, is not published."""
    rel: Release = release()
    rel.repo.add_check_run(rel.sha, "test", "failure")
    (rel.ws / ".github/npm-gatekeeper.yml").write_text(f"rules:\n  {rules}\n")
    git(rel.ws, "add", "-A")
    git(rel.ws, "commit", "-qm", "switch the gates off")
    rel.sha = head_sha(rel.ws)
    rel.repo.add_commit(rel.sha, "feature/x")
    rel.repo.add_check_run(rel.sha, "test", "failure")
    rel.repo.add_workflow_run(rel.sha, run_id=4300).add_job("release", status="in_progress")
    result = rel.run(env={"GITHUB_REF": "refs/heads/feature/x", "GITHUB_RUN_ID": "4300"})
    _assert_blocked(result, rel, "", code=2)
    assert "line 2" in result.stderr and "safety floor" in result.stderr, result.stderr
    assert knob in result.stderr


# -- the trusted policy (the one at the last release's commit)

POLICY = ".github/npm-gatekeeper.yml"
_RUN_IDS = iter(range(5000, 6000))


def _commit(rel: Release, files: dict[str, str | None], message: str, *, branch: str = "main") -> str:
    """Write (None: delete) files, commit, and make that commit this run's green GITHUB_SHA on `branch`."""
    for path, content in files.items():
        target = rel.ws / path
        if content is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
    git(rel.ws, "add", "-A")
    git(rel.ws, "commit", "-qm", message)
    rel.sha = head_sha(rel.ws)
    rel.repo.add_commit(rel.sha, branch)
    rel.repo.add_check_run(rel.sha, "test", "success")
    run_id = next(_RUN_IDS)
    rel.repo.add_workflow_run(rel.sha, run_id=run_id).add_job("release", status="in_progress")
    rel.run_env = {"GITHUB_RUN_ID": str(run_id)}  # type: ignore[attr-defined]
    return rel.sha


def _manifest(rel: Release, version: str, **scripts: str) -> str:
    pkg = json.loads((rel.ws / "package.json").read_text())
    pkg["version"] = version
    pkg["scripts"].update(scripts)
    return json.dumps(pkg, indent=2) + "\n"


def _released(rel: Release, tag: str | None = "v1.0.0") -> None:
    """Publish the workspace as it is (the last release) and tag its commit."""
    rel.verdaccio.publish(rel.ws, rel.token)
    if tag:
        git(rel.ws, "tag", tag)


def _run(rel: Release, **kw: Any):
    env = {**getattr(rel, "run_env", {}), **kw.pop("env", {})}
    return rel.run(env=env, **kw)


def _blocking(result) -> set[str]:
    assert result.report is not None, result.describe()
    return {f["rule"] for f in result.report["findings"] if f["severity"] == "block"}


POSTINSTALL = "node -e \"console.log('built')\""
APPROVE_POSTINSTALL = f"approve:\n  scripts:\n    postinstall: {json.dumps(POSTINSTALL)}\n"


def test_released_commit_cannot_approve_its_own_postinstall(release) -> None:
    rel: Release = release()
    _released(rel)
    _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL), POLICY: APPROVE_POSTINSTALL}, "x")
    result = _run(rel)
    assert result.returncode == 1, result.describe()
    assert {"policy-changed", "lifecycle-script-added"} <= _blocking(result)
    assert rel.versions() == ["1.0.0"]
    changed = next(f for f in result.report["findings"] if f["rule"] == "policy-changed")
    assert "approve.scripts" in changed["message"] and "postinstall" in changed["message"]
    assert "Policy diff" in result.summary and "+  scripts:" in result.summary, result.summary


def test_install_time_change_approved_in_the_trusted_policy_publishes(release) -> None:
    rel: Release = release()
    _commit(rel, {POLICY: APPROVE_POSTINSTALL}, "approve the coming postinstall")
    _released(rel)
    _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}, "add the postinstall")
    result = _run(rel)
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0", "1.0.1"]
    rules = {f["rule"]: f for f in result.report["findings"]}
    assert "approved-change" in rules
    assert "tag `v1.0.0`" in rules["policy-trusted"]["message"]


def test_trusted_policy_found_by_name_at_version_tag(release) -> None:
    rel: Release = release()
    _commit(rel, {POLICY: APPROVE_POSTINSTALL}, "approve")
    _released(rel, tag=f"{rel.name}@1.0.0")
    _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}, "add")
    result = _run(rel)
    assert result.returncode == 0, result.describe()
    trusted = next(f for f in result.report["findings"] if f["rule"] == "policy-trusted")
    assert f"tag `{rel.name}@1.0.0`" in trusted["message"]


def test_trusted_policy_found_by_the_packuments_git_head(release) -> None:
    """No tag at all: npm recorded gitHead when 1.0.0 was published from the checkout."""
    rel: Release = release()
    _commit(rel, {POLICY: APPROVE_POSTINSTALL}, "approve")
    _released(rel, tag=None)
    doc = rel.verdaccio.packument(rel.name)
    assert doc is not None and doc["versions"]["1.0.0"].get("gitHead") == rel.sha, "npm records gitHead"
    _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}, "add")
    result = _run(rel)
    assert result.returncode == 0, result.describe()
    trusted = next(f for f in result.report["findings"] if f["rule"] == "policy-trusted")
    assert "gitHead" in trusted["message"]


def test_release_commit_not_found_means_approvals_are_not_trusted(release) -> None:
    rel: Release = release()
    _commit(rel, {POLICY: APPROVE_POSTINSTALL}, "approve")
    _released(rel, tag=None)
    rel.verdaccio.patch_packument(rel.name, lambda doc: doc["versions"]["1.0.0"].pop("gitHead", None))
    try:
        _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}, "add")
        result = _run(rel)
    finally:
        rel.verdaccio.clear_patches(rel.name)
    assert result.returncode == 1, result.describe()
    assert "lifecycle-script-added" in _blocking(result)
    untrusted = next(f for f in result.report["findings"] if f["rule"] == "policy-untrusted")
    assert untrusted["severity"] == "warn" and "fetch-depth: 0" in result.summary
    assert rel.versions() == ["1.0.0"]


def test_a_tag_that_is_not_an_ancestor_is_not_trusted(release) -> None:
    """A tag on a side commit carrying a permissive policy does not make that policy trusted."""
    rel: Release = release()
    _released(rel, tag=None)
    main = rel.sha
    git(rel.ws, "checkout", "-q", "-b", "side")
    _commit(rel, {POLICY: APPROVE_POSTINSTALL}, "side", branch="side")
    git(rel.ws, "tag", "v1.0.0")
    git(rel.ws, "checkout", "-q", "main")
    assert head_sha(rel.ws) == main
    rel.verdaccio.patch_packument(rel.name, lambda doc: doc["versions"]["1.0.0"].pop("gitHead", None))
    try:
        _commit(
            rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL), POLICY: APPROVE_POSTINSTALL}, "x"
        )
        result = _run(rel)
    finally:
        rel.verdaccio.clear_patches(rel.name)
    assert result.returncode == 1, result.describe()
    assert "lifecycle-script-added" in _blocking(result)
    assert rel.versions() == ["1.0.0"]


def test_a_tightening_applies_at_once_and_does_not_block(release) -> None:
    rel: Release = release()
    _released(rel)
    _commit(rel, {"package.json": _manifest(rel, "1.0.1"), POLICY: "checks:\n  required: [e2e]\n"}, "require e2e")
    result = _run(rel)
    assert result.returncode == 1, result.describe()
    assert _blocking(result) == {"required-check-missing"}
    changed = next(f for f in result.report["findings"] if f["rule"] == "policy-changed")
    assert changed["severity"] == "info" and "checks.required" in changed["message"]
    rel.repo.add_check_run(rel.sha, "e2e", "success")
    result = _run(rel)
    assert result.returncode == 0, result.describe()


def test_a_loosened_branch_list_blocks_and_the_trusted_list_decides(release) -> None:
    rel: Release = release()
    _released(rel)
    _commit(
        rel,
        {"package.json": _manifest(rel, "1.0.1"), POLICY: "branch:\n  release-branches: ['feature/*']\n"},
        "release from anywhere",
        branch="feature/x",
    )
    result = _run(rel, env={"GITHUB_REF": "refs/heads/feature/x"})
    assert result.returncode == 1, result.describe()
    assert {"policy-changed", "not-default-branch"} <= _blocking(result)
    assert rel.versions() == ["1.0.0"]
