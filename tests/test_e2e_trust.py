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
