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
from tests.test_e2e_publish import Release, _assert_blocked, release_factory


@pytest.fixture
def release(verdaccio: Verdaccio, github_server: GitHubServer, package_repo: Callable[..., Path], tmp_path: Path):
    """`release(version, **repo_kw) -> Release`: a green commit on main, a registry user, this job in run 4242."""
    return release_factory(verdaccio, github_server, package_repo, tmp_path, lint_status=False)


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
    assert "gitHead" in rules["policy-trusted"]["message"]  # npm's record outranks the (agreeing) tag


def _without_git_head(rel: Release) -> None:
    rel.verdaccio.patch_packument(rel.name, lambda doc: doc["versions"]["1.0.0"].pop("gitHead", None))


def test_trusted_policy_found_by_a_protected_tag_in_the_policys_tag_format(release) -> None:
    """No provenance, no gitHead: the tag in `notify.tag-format` decides, only while a tag ruleset protects it."""
    rel: Release = release()
    fmt = "notify:\n  tag-format: '{name}@{version}'\n"
    _commit(rel, {POLICY: APPROVE_POSTINSTALL + fmt}, "approve")
    _released(rel, tag=f"{rel.name}@1.0.0")
    _without_git_head(rel)
    try:
        _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}, "add")
        unprotected = _run(rel)
        rel.repo.add_tag_ruleset([f"refs/tags/{rel.name}@*"])
        result = _run(rel)
    finally:
        rel.verdaccio.clear_patches(rel.name)
    assert unprotected.returncode == 1 and "lifecycle-script-added" in _blocking(unprotected), unprotected.describe()
    untrusted = next(f for f in unprotected.report["findings"] if f["rule"] == "policy-untrusted")
    assert "no tag ruleset protects it" in untrusted["message"]
    assert result.returncode == 0, result.describe()
    trusted = next(f for f in result.report["findings"] if f["rule"] == "policy-trusted")
    assert f"tag `{rel.name}@1.0.0` (protected by ruleset release tags)" in trusted["message"]


def test_a_release_tag_force_moved_to_the_attackers_policy_commit_decides_nothing(release) -> None:
    """Issue 23: C1 only approves a postinstall, C2 adds it, `v1.0.0` force-moved to C1. With npm's gitHead the
    moved tag is a conflict (blocks); without it, an unprotected tag decides nothing (the defaults decide)."""
    for keep_git_head in (True, False):
        rel: Release = release()
        _released(rel)  # 1.0.0 from C0, tagged v1.0.0
        _commit(rel, {POLICY: APPROVE_POSTINSTALL}, "C1: only approve")
        git(rel.ws, "tag", "-f", "v1.0.0")
        if not keep_git_head:
            _without_git_head(rel)
        try:
            _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}, "C2: add it")
            result = _run(rel)
        finally:
            rel.verdaccio.clear_patches(rel.name)
        assert result.returncode == 1, result.describe()
        assert "lifecycle-script-added" in _blocking(result)
        assert ("policy-anchor-conflict" in _blocking(result)) is keep_git_head
        assert rel.versions() == ["1.0.0"]


def test_a_new_tag_in_another_format_decides_nothing(release) -> None:
    """The releases are tagged `v1.2.3`; a new `name@1.0.0` tag on the attacker's commit is not the policy's
    format: with gitHead it conflicts (blocks), without it it is ignored (the defaults decide)."""
    for keep_git_head in (True, False):
        rel: Release = release()
        _released(rel, tag=None)
        _commit(rel, {POLICY: APPROVE_POSTINSTALL}, "C1: only approve")
        git(rel.ws, "tag", f"{rel.name}@1.0.0")
        rel.repo.add_tag_ruleset(["refs/tags/*"])  # even protected: not the policy's tag format
        if not keep_git_head:
            _without_git_head(rel)
        try:
            _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}, "C2: add it")
            result = _run(rel)
        finally:
            rel.verdaccio.clear_patches(rel.name)
        assert result.returncode == 1, result.describe()
        assert "lifecycle-script-added" in _blocking(result)
        assert ("policy-anchor-conflict" in _blocking(result)) is keep_git_head
        assert rel.versions() == ["1.0.0"]


def _gate_record(rel: Release, commit: str, version: str = "1.0.0", integrity: str | None = None) -> None:
    """The gate's record of `version` in its Release (by the job's bot), as notify writes it."""
    from gatekeeper.steps.record import Record

    sri = integrity or rel.verdaccio.packument(rel.name)["versions"][version]["dist"]["integrity"]  # type: ignore[index]
    record = Record(rel.name, version, sri, commit, "https://github.com/acme/widget/actions/runs/1")
    rel.repo.add_release(f"v{version}", f"notes\n\n{record.line()}\n", target_commitish=commit)


def test_trusted_policy_found_by_the_gates_own_record(release) -> None:
    """Issue 23, item 4: no provenance, no gitHead, no tag: the gate's own record of 1.0.0 names its commit,
    and the policy there decides; the summary says the record decided. A record for other bytes than the
    registry's anchors nothing."""
    for integrity in (None, "sha512-" + "Q" * 86 + "=="):
        rel: Release = release()
        c1 = _commit(rel, {POLICY: APPROVE_POSTINSTALL}, "approve")
        _released(rel, tag=None)
        _without_git_head(rel)
        _gate_record(rel, c1, integrity=integrity)
        try:
            _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}, "add")
            result = _run(rel)
        finally:
            rel.verdaccio.clear_patches(rel.name)
        if integrity is None:
            assert result.returncode == 0, result.describe()
            trusted = next(f for f in result.report["findings"] if f["rule"] == "policy-trusted")
            assert f"found at {c1[:12]} by the gate's record" in trusted["message"], trusted
            assert "the gate's record" in result.summary
        else:
            assert result.returncode == 1, result.describe()
            assert "lifecycle-script-added" in _blocking(result) and "policy-untrusted" in {
                f["rule"] for f in result.report["findings"]
            }


def test_a_gate_record_that_disagrees_with_git_head_blocks(release) -> None:
    """1.0.0 was published from C0 (npm's gitHead); a bot Release's record names C1, the attacker's commit that
    only approves a postinstall: the evidence disagrees, `policy-anchor-conflict` blocks."""
    rel: Release = release()
    _released(rel, tag=None)
    c1 = _commit(rel, {POLICY: APPROVE_POSTINSTALL}, "C1: only approve")
    _gate_record(rel, c1)
    _commit(rel, {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}, "C2: add it")
    result = _run(rel)
    assert result.returncode == 1, result.describe()
    assert {"policy-anchor-conflict", "lifecycle-script-added"} <= _blocking(result)
    conflict = next(f for f in result.report["findings"] if f["rule"] == "policy-anchor-conflict")
    assert f"the gate's record says {c1[:12]}" in conflict["message"]
    assert rel.versions() == ["1.0.0"]


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


# -- the commit is the branch


def test_rerun_of_an_older_commit_blocks_and_a_rerun_of_the_latest_passes(release) -> None:
    rel: Release = release()
    old = rel.sha
    _commit(rel, {"CHANGELOG.md": "revert the bad thing\n"}, "a newer commit on main")
    # re-run of the old (green) commit: the branch has moved on
    old_run = rel.repo.add_workflow_run(old, run_id=4999)
    old_run.add_job("release", status="in_progress")
    git(rel.ws, "checkout", "-q", old)
    result = rel.run(env={"GITHUB_SHA": old, "GITHUB_RUN_ID": "4999"})
    _assert_blocked(result, rel, "not-branch-head")
    git(rel.ws, "checkout", "-q", "main")
    result = _run(rel)  # the latest commit, re-run
    assert result.returncode == 0, result.describe()
    assert result.report["gates"]["commit"] == "pass"


def _release_event(tag: str) -> dict[str, Any]:
    return {"release": {"tag_name": tag, "target_commitish": "main"}, "repository": {"fork": False}}


def test_release_tag_on_an_unmerged_commit_blocks(release) -> None:
    from tests._support.github_server import load_git_history

    rel: Release = release()
    (rel.ws / ".github/npm-gatekeeper.yml").write_text("branch:\n  events: [push, release]\n")
    _commit(rel, {}, "allow release events")
    main_head = rel.sha
    git(rel.ws, "checkout", "-q", "-b", "never-merged")
    _commit(rel, {"index.js": "module.exports = () => 'unreviewed';\n"}, "not merged", branch="never-merged")
    git(rel.ws, "tag", "v1.0.0")
    rel.repo.branches["main"] = main_head
    load_git_history(rel.repo, rel.ws)
    env = {"GITHUB_EVENT_NAME": "release", "GITHUB_REF": "refs/tags/v1.0.0"}
    result = _run(rel, env=env, event=_release_event("v1.0.0"))
    _assert_blocked(result, rel, "not-branch-head")
    assert "never merged" in json.dumps(result.report["findings"])
    assert rel.github.requests_to("GET", rf"/compare/{rel.sha}\.\.\.{main_head}")


def test_release_tag_on_a_merged_commit_publishes(release) -> None:
    from tests._support.github_server import load_git_history

    rel: Release = release()
    (rel.ws / ".github/npm-gatekeeper.yml").write_text("branch:\n  events: [push, release]\n")
    tagged = _commit(rel, {}, "allow release events")
    git(rel.ws, "tag", "v1.0.0")
    git(rel.ws, "commit", "-q", "--allow-empty", "-m", "later work on main")
    rel.repo.branches["main"] = head_sha(rel.ws)
    load_git_history(rel.repo, rel.ws)
    git(rel.ws, "checkout", "-q", "v1.0.0")
    env = {"GITHUB_EVENT_NAME": "release", "GITHUB_REF": "refs/tags/v1.0.0", "GITHUB_SHA": tagged}
    result = _run(rel, env=env, event=_release_event("v1.0.0"))
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0"]


def test_workspace_head_other_than_github_sha_blocks(release) -> None:
    rel: Release = release()
    released = rel.sha
    git(rel.ws, "checkout", "-q", "-b", "other")
    git(rel.ws, "commit", "-q", "--allow-empty", "-m", "red elsewhere")
    result = rel.run(env={"GITHUB_SHA": released})
    _assert_blocked(result, rel, "workspace-not-released-commit")


def test_modified_tracked_file_in_the_workspace_blocks(release) -> None:
    rel: Release = release()
    (rel.ws / "index.js").write_text("module.exports = () => 'patched by a build step';\n")
    result = rel.run()
    _assert_blocked(result, rel, "workspace-not-released-commit")
    assert "index.js" in json.dumps(result.report["findings"])


# -- green build, completely


def test_failure_in_the_31st_status_blocks(release) -> None:
    rel: Release = release()
    for i in range(30):
        rel.repo.add_status(rel.sha, f"ci/shard-{i}", "success")
    rel.repo.add_status(rel.sha, "ci/shard-last", "failure", target_url="https://ci.example.test/31")
    result = rel.run()
    _assert_blocked(result, rel, "check-failed")
    assert "ci/shard-last" in json.dumps(result.report["findings"])


def test_statuses_latest_state_per_context_wins(release) -> None:
    rel: Release = release()
    rel.repo.add_status(rel.sha, "ci/flaky", "failure")
    rel.repo.add_status(rel.sha, "ci/flaky", "success")  # re-run, green now
    result = rel.run()
    assert result.returncode == 0, result.describe()
    rel2: Release = release()
    rel2.repo.add_status(rel2.sha, "ci/flaky", "success")
    rel2.repo.add_status(rel2.sha, "ci/flaky", "error")  # the latest state is red
    _assert_blocked(rel2.run(), rel2, "check-failed")


def test_status_pagination_is_capped(release) -> None:
    rel: Release = release()
    for i in range(1001):
        rel.repo.add_status(rel.sha, f"ci/{i}", "success")
    result = rel.run()
    assert result.returncode == 2, result.describe()
    assert "more than 1000 commit statuses" in result.stderr
    assert rel.versions() == []
    assert len(rel.github.requests_to("GET", r"/statuses$")) <= 10


def test_required_check_with_integration_id_is_not_met_by_a_status(release) -> None:
    rel: Release = release()
    rel.repo.require_checks("main", ["security-scan"], integration_id=424242)
    rel.repo.add_status(rel.sha, "security-scan", "success")  # anyone with write access can post this
    result = rel.run()
    _assert_blocked(result, rel, "required-check-missing")
    assert "integration_id" in json.dumps(result.report["findings"])
    # a same-named check run of another app does not count either; one of that app does
    rel.repo.add_check_run(rel.sha, "security-scan", "success", app_id=1, app_slug="other")
    _assert_blocked(rel.run(), rel, "required-check-missing")
    rel.repo.add_check_run(rel.sha, "security-scan", "success", app_id=424242, app_slug="scanner")
    result = rel.run()
    assert result.returncode == 0, result.describe()


# -- reviewed two-job releases

REVIEWED = "review:\n  environment: npm-release\n"


def _reviewed_release(release, *, trusted: str = REVIEWED, released_policy: str | None = None) -> Release:
    """1.0.0 released with `trusted` as its policy; the new commit adds an unapproved postinstall (1.0.1)."""
    rel: Release = release()
    _commit(rel, {POLICY: trusted}, "reviewed releases")
    _released(rel)
    files: dict[str, str | None] = {"package.json": _manifest(rel, "1.0.1", postinstall=POSTINSTALL)}
    if released_policy is not None:
        files[POLICY] = released_policy
    _commit(rel, files, "add a postinstall")
    return rel


def _approve(rel: Release, login: str, environment: str = "npm-release", state: str = "approved") -> None:
    from tests._support.github_server import approve_run

    run_id = int(rel.run_env["GITHUB_RUN_ID"])  # type: ignore[attr-defined]
    approve_run(rel.repo, run_id, environment, rel.github.state.user(login), state)


def _check_job(rel: Release):
    """The check job of a reviewed release: no npm credential (the publish job's environment holds it)."""
    result = _run(rel, inputs={"mode": "check"}, token="")
    assert result.returncode == 0, result.describe()
    assert result.outputs["needs-review"] == "true" and result.outputs["decision"] == "review"
    assert "lifecycle-script-added" in _blocking(result)
    return result.outputs["integrity"]


def test_two_job_reviewed_release_publishes_the_approved_tarball(release) -> None:
    rel = _reviewed_release(release)
    integrity = _check_job(rel)
    assert rel.versions() == ["1.0.0"]
    # the publish job, before anyone approved: still blocked
    result = _run(rel, inputs={"approved-integrity": integrity})
    assert result.returncode == 1 and "lifecycle-script-added" in _blocking(result), result.describe()
    assert "review-not-valid" in {f["rule"] for f in result.report["findings"]}
    _approve(rel, "maintainer-bob")
    result = _run(rel, inputs={"approved-integrity": integrity})
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0", "1.0.1"]
    cleared = [f for f in result.report["findings"] if f["rule"] == "approved-by-review"]
    assert cleared and all("maintainer-bob" in f["message"] for f in cleared), cleared
    assert {f["evidence"]["cleared"] for f in cleared} >= {"lifecycle-script-added"}
    assert rel.github.requests_to("GET", r"/actions/runs/\d+/approvals")
    doc = rel.verdaccio.packument(rel.name)
    assert doc is not None and doc["versions"]["1.0.1"]["dist"]["integrity"] == integrity


def test_review_of_another_environment_does_not_clear(release) -> None:
    rel = _reviewed_release(release)
    integrity = _check_job(rel)
    _approve(rel, "maintainer-bob", environment="staging")
    result = _run(rel, inputs={"approved-integrity": integrity})
    assert result.returncode == 1, result.describe()
    assert "lifecycle-script-added" in _blocking(result)
    assert rel.versions() == ["1.0.0"]


def test_review_for_another_integrity_does_not_clear(release) -> None:
    rel = _reviewed_release(release)
    _check_job(rel)
    _approve(rel, "maintainer-bob")
    result = _run(rel, inputs={"approved-integrity": _sri(b"some other tarball")})
    assert result.returncode == 1, result.describe()
    assert "lifecycle-script-added" in _blocking(result)
    assert "is not the approved one" in json.dumps(result.report["findings"])
    assert rel.versions() == ["1.0.0"]


def test_require_other_reviewer_refuses_the_pusher_as_only_approver(release) -> None:
    rel = _reviewed_release(release, trusted=REVIEWED + "  require-other-reviewer: true\n")
    integrity = _check_job(rel)
    _approve(rel, "octocat")  # GITHUB_ACTOR, who pushed
    result = _run(rel, inputs={"approved-integrity": integrity})
    assert result.returncode == 1, result.describe()
    assert "the only approval" in json.dumps(result.report["findings"])
    assert rel.versions() == ["1.0.0"]
    _approve(rel, "maintainer-carol")
    result = _run(rel, inputs={"approved-integrity": integrity})
    assert result.returncode == 0, result.describe()


def test_policy_change_in_a_reviewed_release_publishes(release) -> None:
    rel = _reviewed_release(release, released_policy=REVIEWED + APPROVE_POSTINSTALL)
    integrity = _check_job(rel)
    _approve(rel, "maintainer-bob")
    result = _run(rel, inputs={"approved-integrity": integrity})
    assert result.returncode == 0, result.describe()
    cleared = {f["evidence"]["cleared"] for f in result.report["findings"] if f["rule"] == "approved-by-review"}
    assert "policy-changed" in cleared
    assert rel.versions() == ["1.0.0", "1.0.1"]


def test_a_floor_fails_the_check_job_and_is_never_cleared(release) -> None:
    rel = _reviewed_release(release)
    rel.repo.add_check_run(rel.sha, "lint", "failure")
    result = _run(rel, inputs={"mode": "check"})
    assert result.returncode == 1 and result.outputs["needs-review"] == "false", result.describe()
    _approve(rel, "maintainer-bob")
    result = _run(rel, inputs={"approved-integrity": result.outputs["integrity"]})
    assert result.returncode == 1 and "check-failed" in _blocking(result), result.describe()
    assert rel.versions() == ["1.0.0"]


# -- content-bound file approvals

INSTALL_JS = "console.log('reviewed install step');\n"


def _approval_for_install_js(content: str) -> str:
    digest = hashlib.sha256(content.encode()).hexdigest()
    return (
        "approve:\n  scripts:\n    postinstall: node install.js\n"
        f"  files:\n    - {{path: install.js, sha256: {digest}}}\n"
    )


def test_content_bound_approval_in_the_trusted_policy_publishes_exactly_those_bytes(release) -> None:
    rel: Release = release()
    _commit(rel, {POLICY: _approval_for_install_js(INSTALL_JS)}, "approve install.js by content")
    _released(rel)
    files = {"package.json": _manifest(rel, "1.0.1", postinstall="node install.js"), "install.js": INSTALL_JS}
    _commit(rel, files, "add the reviewed install step")
    result = _run(rel)
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0", "1.0.1"]
    git(rel.ws, "tag", "v1.0.1")
    # later bytes at the same path are not approved by that entry (nor by the policy at v1.0.1)
    files = {"package.json": _manifest(rel, "1.0.2"), "install.js": INSTALL_JS + "require('https').get('x');\n"}
    _commit(rel, files, "change install.js")
    result = _run(rel)
    assert result.returncode == 1, result.describe()
    assert "install-script-code-changed" in _blocking(result)
    finding = next(f for f in result.report["findings"] if f["rule"] == "install-script-code-changed")
    new_digest = hashlib.sha256((INSTALL_JS + "require('https').get('x');\n").encode()).hexdigest()
    assert f"sha256: {new_digest}" in finding["evidence"]["approve"], finding
    assert "To approve in the policy" in result.summary and new_digest in result.summary
    assert rel.versions() == ["1.0.0", "1.0.1"]


def test_path_only_file_approval_is_a_policy_error(release) -> None:
    rel: Release = release()
    _commit(rel, {POLICY: "approve:\n  scripts:\n    postinstall: node install.js\n  files: [install.js]\n"}, "x")
    _released(rel)
    files = {"package.json": _manifest(rel, "1.0.1", postinstall="node install.js"), "install.js": "evil();\n"}
    _commit(rel, files, "any bytes at install.js")
    result = _run(rel)
    assert result.returncode == 2 and result.outputs["published"] == "false", result.describe()
    assert "path-only approval" in result.stderr and "sha256" in result.stderr
    assert rel.versions() == ["1.0.0"]
    # fixed in the released commit: the old path-only entry of the trusted policy approves nothing
    _commit(rel, {POLICY: "approve:\n  scripts:\n    postinstall: node install.js\n"}, "drop the path-only entry")
    result = _run(rel)
    assert result.returncode == 1, result.describe()
    assert "install-script-code-changed" in _blocking(result)
    assert rel.versions() == ["1.0.0"]


# -- cross-issue attacks (the released commit choosing which policy decides)


def test_a_version_below_every_release_with_an_unknown_baseline_tag_is_not_a_first_release(release) -> None:
    """The released policy names a dist-tag that does not exist and the version is below every release, so
    no baseline is found: that must not make it a "first release" in which the released policy decides (it
    would approve its own postinstall)."""
    rel: Release = release()
    _released(rel)
    policy = "diff:\n  baseline-tag: nothing-here\n" + APPROVE_POSTINSTALL
    _commit(rel, {"package.json": _manifest(rel, "0.0.1", postinstall=POSTINSTALL), POLICY: policy}, "go low")
    result = _run(rel, inputs={"tag": "legacy"})
    assert result.returncode == 1, result.describe()
    assert "policy-changed" in _blocking(result)
    trusted = next(f for f in result.report["findings"] if f["rule"] == "policy-trusted")
    assert "gitHead of 1.0.0" in trusted["message"], trusted  # npm's record outranks the (agreeing) tag
    assert rel.versions() == ["1.0.0"]


def test_release_commit_not_found_does_not_let_the_released_policy_loosen_a_floor_knob(release) -> None:
    """A released commit can make the last release's commit unfindable (a shallow checkout, no tag): its own
    `checks.ignore` (a floor's knob) must not decide then; the safe defaults do."""
    rel: Release = release()
    _released(rel, tag=None)
    rel.verdaccio.patch_packument(rel.name, lambda doc: doc["versions"]["1.0.0"].pop("gitHead", None))
    try:
        _commit(rel, {"package.json": _manifest(rel, "1.0.1"), POLICY: "checks:\n  ignore: [lint]\n"}, "ignore lint")
        rel.repo.add_check_run(rel.sha, "lint", "failure")
        result = _run(rel)
    finally:
        rel.verdaccio.clear_patches(rel.name)
    assert result.returncode == 1, result.describe()
    assert "check-failed" in _blocking(result)
    untrusted = next(f for f in result.report["findings"] if f["rule"] == "policy-untrusted")
    assert "checks.ignore" in untrusted["message"], untrusted
    assert rel.versions() == ["1.0.0"]


def test_given_tarball_with_entries_npm_reads_but_a_naive_reader_misses_is_not_published(release) -> None:
    """A poisoned build hands the `tarball` input a second gzip member: npm would install its postinstall."""
    from tests._support.tarballs import Entry, gz, tar_bytes

    rel: Release = release()
    (rel.ws / "dist").mkdir()
    manifest = (rel.ws / "package.json").read_bytes()
    hidden = json.loads(manifest)
    hidden["scripts"]["postinstall"] = "node evil.js"
    data = gz(tar_bytes([Entry("package/package.json", manifest)], end=False)) + gz(
        tar_bytes([Entry("package/package.json", json.dumps(hidden).encode()), Entry("package/evil.js", b"x\n")])
    )
    (rel.ws / "dist" / "poisoned.tgz").write_bytes(data)
    result = rel.run(inputs={"tarball": "dist/poisoned.tgz"})
    assert result.returncode in (1, 2), result.describe()
    assert rel.versions() == []
    assert "gzip stream" in result.summary + result.stderr, result.describe()


def test_given_tarball_with_a_dot_slash_package_json_is_not_published(release) -> None:
    """`./package.json` after the reviewed `package/package.json`: npm (strip: 1) installs it over the reviewed
    manifest and runs its postinstall (premise checked in tests/test_tarball.py)."""
    from tests._support.tarballs import Entry, gz, tar_bytes

    rel: Release = release()
    (rel.ws / "dist").mkdir()
    manifest = (rel.ws / "package.json").read_bytes()
    hidden = json.loads(manifest)
    hidden["scripts"]["postinstall"] = "node evil.js"
    entries = [Entry("package/package.json", manifest), Entry("package/evil.js", b"x\n")]
    data = gz(tar_bytes([*entries, Entry("./package.json", json.dumps(hidden).encode())]))
    (rel.ws / "dist" / "poisoned.tgz").write_bytes(data)
    result = rel.run(inputs={"tarball": "dist/poisoned.tgz"})
    assert result.returncode == 1, result.describe()
    assert rel.versions() == []
    assert "tarball-unsafe" in {f["rule"] for f in result.report["findings"] if f["severity"] == "block"}
    assert '"./package.json" outside the top folder' in result.summary, result.describe()


# -- no trust downgrade (issue 23, item 5)

TRUSTED_PUBLISHER = {
    "name": "GitHub Actions",
    "email": "npm-oidc-no-reply@github.com",
    "trustedPublisher": {"id": "github"},
}


def test_a_token_publish_after_a_trusted_publisher_release_is_a_trust_downgrade(release) -> None:
    """1.0.0 was published by OIDC trusted publishing (`_npmUser.trustedPublisher`, as npmjs serves it; Verdaccio
    records no `_npmUser`, so the packument is patched); 1.0.1 with a token ranks below it and blocks."""
    rel: Release = release()
    _released(rel)
    rel.verdaccio.patch_packument(rel.name, lambda doc: doc["versions"]["1.0.0"].update(_npmUser=TRUSTED_PUBLISHER))
    try:
        _commit(rel, {"package.json": _manifest(rel, "1.0.1")}, "next")
        result = _run(rel)
    finally:
        rel.verdaccio.clear_patches(rel.name)
    assert result.returncode == 1, result.describe()
    assert _blocking(result) == {"trust-downgrade"}
    [f] = [f for f in result.report["findings"] if f["rule"] == "trust-downgrade"]
    assert "provenance or trusted publisher" in f["message"] and "token only" in f["message"]
    assert rel.versions() == ["1.0.0"]
