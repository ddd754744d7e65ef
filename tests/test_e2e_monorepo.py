"""End to end: a release of several packages of one repository (input `packages`, issue 24), all or nothing.

entrypoint.py run as GitHub runs it over a real npm-workspaces git repository, Verdaccio and the GitHub stand-in;
each case looks at the registry afterwards. Three packages: `c` depends on `b`, `b` on `a`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests._support.faultproxy import FaultProxy, HoldUpload, Reply
from tests._support.github_server import GitHubServer
from tests._support.npm_front import EXCHANGE_PREFIX, STAGE_PREFIX
from tests._support.verdaccio import Verdaccio, _npm
from tests._support.workspace import ActionResult, assert_no_leak, commit_all, make_package_repo, run_action
from tests.test_e2e_oidc import front as _front_fixture  # noqa: F401  (registers the npm front fixture)
from tests.test_e2e_publish import FAST_RETRIES, REPO, Release, _recommit, release_factory
from tests.test_report_schema import schema as report_schema
from tests.test_watch import _watch

KEYS = ("a", "b", "c")


def mono_files(names: dict[str, str], version: str, scripts: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """packages/{a,b,c} of an npm workspace: b depends on a, c on b (caret ranges, as a release tool writes)."""
    files: dict[str, str] = {}
    deps = {"b": names["a"], "c": names["b"]}
    for key in KEYS:
        manifest: dict[str, Any] = {
            "name": names[key],
            "version": version,
            "description": f"package {key} of the test monorepo",
            "main": "index.js",
            "license": "MIT",
        }
        if key in deps:
            manifest["dependencies"] = {deps[key]: f"^{version}"}
        if scripts and key in scripts:
            manifest["scripts"] = scripts[key]
        files[f"packages/{key}/package.json"] = json.dumps(manifest, indent=2) + "\n"
        body = f"module.exports = () => '{key}';\n"
        if key in deps:
            body = f"const dep = require('{deps[key]}');\nmodule.exports = () => '{key}+' + dep();\n"
        files[f"packages/{key}/index.js"] = body
    return files


def pnpm_files(names: dict[str, str], version: str, scripts: dict[str, dict[str, str]] | None = None) -> dict[str, str]:
    """The same three packages in a pnpm workspace, as a pnpm monorepo writes them: b depends on a with
    `workspace:^`, c on b with `workspace:^` and on a with `catalog:` (pnpm-workspace.yaml's catalog); the lockfile
    is what makes `package-manager: auto` choose pnpm (the root has no `packageManager` field)."""
    files = mono_files(names, version, scripts)
    specs = {"b": {names["a"]: "workspace:^"}, "c": {names["b"]: "workspace:^", names["a"]: "catalog:"}}
    for key, deps in specs.items():
        manifest = json.loads(files[f"packages/{key}/package.json"])
        manifest["dependencies"] = deps
        files[f"packages/{key}/package.json"] = json.dumps(manifest, indent=2) + "\n"
    files["pnpm-workspace.yaml"] = f"packages:\n  - packages/*\ncatalog:\n  {names['a']}: ^{version}\n"
    files["pnpm-lock.yaml"] = "lockfileVersion: '9.0'\n"
    return files


class Mono:
    """A monorepo release: the Release of test_e2e_publish (workspace, user, token, GitHub state) plus names."""

    def __init__(
        self,
        rel: Release,
        names: dict[str, str],
        files: Callable[..., dict[str, str]] = mono_files,
        env: dict[str, str] | None = None,
    ) -> None:
        self.rel, self.names, self.files, self.env = rel, names, files, env

    def run(self, packages: str = "workspaces", **kw: Any) -> ActionResult:
        inputs = {"packages": packages, **kw.pop("inputs", {})}
        if self.env is not None:  # the pinned packers and Node 22 first on PATH: the run outside the image
            kw = {"env": {**self.env, **kw.pop("env", {})}, "outside_image": True, **kw}
        return self.rel.run(inputs=inputs, **kw)

    def versions(self, key: str) -> list[str]:
        doc = self.rel.verdaccio.packument(self.names[key])
        return sorted((doc or {}).get("versions", {}))

    def write(self, version: str, scripts: dict[str, dict[str, str]] | None = None) -> None:
        """Bump every package to `version` and make the commit the green head of main."""
        for rel_path, text in self.files(self.names, version, scripts).items():
            (self.rel.ws / rel_path).write_text(text, encoding="utf-8")
        rel = self.rel
        rel.sha = commit_all(rel.ws, f"release {version}")
        rel.repo.add_commit(rel.sha, "main")
        rel.repo.add_check_run(rel.sha, "test", "success")
        rel.repo.runs[4242].head_sha = rel.sha
        for job in rel.repo.runs[4242].jobs:
            job.head_sha = rel.sha


def _mono_factory(
    verdaccio: Verdaccio,
    github_server: GitHubServer,
    tmp_path: Path,
    files: Callable[..., dict[str, str]],
    root: dict[str, Any],
    env: dict[str, str] | None = None,
) -> Callable[..., Mono]:
    names: dict[str, str] = {}

    def package_repo(name: str, version: str, **kw: Any) -> Path:
        names.update({k: f"{name}-{k}" for k in KEYS})
        return make_package_repo(
            tmp_path / f"mono-{name}", name, version, extra_files=files(names, version), manifest=root, **kw
        )

    make = release_factory(verdaccio, github_server, package_repo, tmp_path, lint_status=False)

    def build(version: str = "1.0.0") -> Mono:
        return Mono(make(version), dict(names), files, env)

    return build


@pytest.fixture
def mono(verdaccio: Verdaccio, github_server: GitHubServer, tmp_path: Path) -> Callable[..., Mono]:
    return _mono_factory(
        verdaccio, github_server, tmp_path, mono_files, {"private": True, "workspaces": ["packages/*"]}
    )


@pytest.fixture
def pnpm_mono(verdaccio: Verdaccio, github_server: GitHubServer, tmp_path: Path) -> Callable[..., Mono]:
    """The three packages in a pnpm workspace, packed by the pinned pnpm (tests/_support/packers.py installs it into
    .cache) on Node 22 (pnpm 11 needs >= 22.13, as the image ships), found as the image finds its own."""
    from gatekeeper._internal.packers import MODULES_ENV
    from tests._support import packers as packers_support
    from tests.test_e2e_publish import node22_path

    env = {"PATH": node22_path(), MODULES_ENV: str(packers_support.ensure_installed())}
    return _mono_factory(verdaccio, github_server, tmp_path, pnpm_files, {"private": True}, env)


def _states(result: ActionResult) -> dict[str, str]:
    assert result.report is not None, result.describe()
    jsonschema.Draft202012Validator(report_schema()).validate(result.report)  # the documented shape
    return {p["name"].rsplit("-", 1)[1]: p["state"] for p in result.report["packages"]}


def test_three_packages_are_published_in_dependency_order_and_install(mono, verdaccio: Verdaccio, tmp_path) -> None:
    m = mono()
    # listed in reverse: the plan orders them by their dependencies
    result = m.run("packages/c\npackages/b\npackages/a")
    assert result.returncode == 0, result.describe()
    report = result.report
    assert [p["name"] for p in report["plan"]["order"]] == [m.names[k] for k in KEYS]
    assert _states(result) == {"a": "published", "b": "published", "c": "published"}
    assert result.outputs["published"] == "true"
    assert json.loads(result.outputs["published-packages"]) == [{"name": m.names[k], "version": "1.0.0"} for k in KEYS]
    for key in KEYS:
        assert m.versions(key) == ["1.0.0"]
        # each package was gated on its own: its own diff gate, its own verdict
        assert report["gates"][f"{m.names[key]}@1.0.0/diff"] == "pass"
        assert report["gates"][f"{m.names[key]}@1.0.0/publish"] == "pass"
    # published in plan order (the registry's publish times)
    times = [verdaccio.packument(m.names[k])["time"]["1.0.0"] for k in KEYS]
    assert times == sorted(times)
    # the plan is in the summary and the report
    assert "Release plan (list), in publish order" in result.summary
    assert "release plan (list)" in result.stderr
    # one gate record per package: a Release per `name@version` tag
    tags = {r.tag_name for r in m.rel.repo.releases}
    assert {f"{m.names[k]}@1.0.0" for k in KEYS} <= tags
    # a consumer installs the top package from the registry, with the others as its dependencies
    assert _consumer_runs(verdaccio, tmp_path, m.names["c"]) == "c+b+a"


def _consumer_runs(verdaccio: Verdaccio, tmp_path: Path, name: str) -> str:
    """`npm install name@1.0.0` from Verdaccio into a fresh consumer project, then what its export returns."""
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text('{"name": "consumer", "version": "1.0.0", "private": true}\n')
    proc = subprocess.run(
        [_npm(), "install", f"{name}@1.0.0", "--registry", verdaccio.url, "--ignore-scripts"],
        cwd=consumer,
        env=verdaccio.npm_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run(
        ["node", "-e", f"console.log(require('{name}')())"], cwd=consumer, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _pinned_pnpm() -> str:
    """What the report says packed a package: the tool and the version gatekeeper/packers/ pins."""
    from gatekeeper._internal.packers import pinned_versions

    return f"pnpm {pinned_versions()['pnpm']}"


def test_a_pnpm_workspace_is_packed_by_the_pinned_pnpm_published_in_order_and_installs(
    pnpm_mono, verdaccio: Verdaccio, tmp_path: Path
) -> None:
    """The issue's headline: `workspace:^` and `catalog:` ranges as pnpm writes them, `packages: workspaces`,
    `package-manager: auto` (pnpm-lock.yaml): every package packed by the pinned pnpm, the real ranges on the
    registry, published in dependency order, installable by a consumer."""
    m = pnpm_mono()
    result = m.run(inputs={"package-manager": "auto"})
    assert result.returncode == 0, result.describe()
    report = result.report
    assert report["plan"]["source"] == "workspaces"
    assert [p["name"] for p in report["plan"]["order"]] == [m.names[k] for k in KEYS]
    assert _states(result) == {"a": "published", "b": "published", "c": "published"}
    assert json.loads(result.outputs["published-packages"]) == [{"name": m.names[k], "version": "1.0.0"} for k in KEYS]
    pnpm = _pinned_pnpm()
    verdicts = {p["name"].rsplit("-", 1)[1]: p for p in report["packages"]}
    for key in KEYS:
        assert verdicts[key]["packed_by"] == pnpm, verdicts[key]  # each package, packed by the pinned pnpm
        assert f"| `{m.names[key]}@1.0.0` | `packages/{key}`, packed by {pnpm} | ✅ published |" in result.summary
    # the registry holds the gated bytes, whose manifests carry the real ranges, not the workspace protocol
    published = {k: verdaccio.packument(m.names[k])["versions"]["1.0.0"] for k in KEYS}
    for key in KEYS:
        assert published[key]["dist"]["integrity"] == verdicts[key]["integrity"]
    assert published["b"]["dependencies"] == {m.names["a"]: "^1.0.0"}
    assert published["c"]["dependencies"] == {m.names["b"]: "^1.0.0", m.names["a"]: "^1.0.0"}
    assert "workspace:" not in json.dumps(published) and "catalog:" not in json.dumps(published)
    times = [verdaccio.packument(m.names[k])["time"]["1.0.0"] for k in KEYS]
    assert times == sorted(times)
    assert _consumer_runs(verdaccio, tmp_path, m.names["c"]) == "c+b+a"


def test_a_pnpm_workspace_whose_third_package_adds_a_postinstall_publishes_nothing(pnpm_mono) -> None:
    m = pnpm_mono()
    first = m.run()
    assert first.returncode == 0, first.describe()
    m.write("1.0.1", scripts={"c": {"postinstall": "node -e \"require('https')\""}})
    result = m.run(inputs={"package-manager": "auto"})
    assert result.returncode == 1, result.describe()
    assert result.outputs["published"] == "false" and result.outputs["decision"] == "block"
    assert json.loads(result.outputs["published-packages"]) == []
    for key in KEYS:
        assert m.versions(key) == ["1.0.0"], f"{key}: nothing may reach the registry"
    # all three verdicts, each packed by the pinned pnpm and diffed against its own last release
    assert _states(result) == {"a": "allowed", "b": "allowed", "c": "blocked"}
    verdicts = {p["name"].rsplit("-", 1)[1]: p for p in result.report["packages"]}
    assert "lifecycle-script-added" in verdicts["c"]["blocking"], verdicts["c"]
    for key in KEYS:
        assert verdicts[key]["previous"] == "1.0.0" and verdicts[key]["packed_by"] == _pinned_pnpm()
        assert f"| `{m.names[key]}@1.0.1` | `packages/{key}`, packed by {_pinned_pnpm()} |" in result.summary
    assert "NOT published" in result.summary


def test_one_package_adding_a_postinstall_blocks_the_whole_release(mono) -> None:
    m = mono()
    first = m.run()
    assert first.returncode == 0, first.describe()
    m.write("1.0.1", scripts={"c": {"postinstall": "node -e \"require('https')\""}})
    result = m.run()
    assert result.returncode == 1, result.describe()
    assert result.outputs["published"] == "false" and result.outputs["decision"] == "block"
    assert json.loads(result.outputs["published-packages"]) == []
    for key in KEYS:
        assert m.versions(key) == ["1.0.0"], f"{key}: nothing may reach the registry"
    # every package's verdict is reported, each against its own baseline
    assert _states(result) == {"a": "allowed", "b": "allowed", "c": "blocked"}
    verdicts = {p["name"].rsplit("-", 1)[1]: p for p in result.report["packages"]}
    assert verdicts["c"]["blocking"] and verdicts["a"]["previous"] == "1.0.0"
    assert "NOT published" in result.summary


def test_rerun_after_a_stop_skips_what_is_out_with_the_same_bytes(mono) -> None:
    m = mono()
    # a release that stopped after the first package: only `a` went out (through the gate, from this commit)
    first = m.run("packages/a")
    assert first.returncode == 0, first.describe()
    assert m.versions("a") == ["1.0.0"] and m.versions("b") == []
    result = m.run("packages/*")
    assert result.returncode == 0, result.describe()
    assert _states(result) == {"a": "already-published", "b": "published", "c": "published"}
    assert result.outputs["published"] == "true"
    assert json.loads(result.outputs["published-packages"]) == [
        {"name": m.names[k], "version": "1.0.0"} for k in ("b", "c")
    ]
    assert m.versions("b") == ["1.0.0"] and m.versions("c") == ["1.0.0"]


def test_rerun_where_the_registry_holds_other_bytes_for_the_first_blocks(mono, tmp_path: Path) -> None:
    m = mono()
    # a@1.0.0 was published by someone else, with other bytes than this commit packs
    other = tmp_path / "other-a"
    other.mkdir()
    (other / "package.json").write_text(json.dumps({"name": m.names["a"], "version": "1.0.0", "license": "MIT"}))
    (other / "index.js").write_text("module.exports = () => 'not from this commit';\n")
    m.rel.verdaccio.publish(other, m.rel.token)
    result = m.run("packages/*")
    assert result.returncode == 1, result.describe()
    assert m.versions("b") == [] and m.versions("c") == [], "nothing else may go out"
    verdicts = {p["name"].rsplit("-", 1)[1]: p for p in result.report["packages"]}
    assert "plan-version-other-bytes" in verdicts["a"]["blocking"]
    assert verdicts["b"]["state"] == "allowed"


def test_workspaces_leaves_out_private_packages_and_unchanged_versions(mono) -> None:
    m = mono()
    assert m.run().returncode == 0
    # only b is bumped: a and c keep their released versions (unchanged), the private root is never planned
    b = m.rel.ws / "packages/b/package.json"
    doc = json.loads(b.read_text())
    doc["version"] = "1.1.0"
    b.write_text(json.dumps(doc, indent=2) + "\n")
    (m.rel.ws / "packages/a/README.md").write_text("edited, not released\n")
    m.rel.sha = commit_all(m.rel.ws, "b 1.1.0")
    m.rel.repo.add_commit(m.rel.sha, "main")
    m.rel.repo.add_check_run(m.rel.sha, "test", "success")
    m.rel.repo.runs[4242].head_sha = m.rel.sha
    for job in m.rel.repo.runs[4242].jobs:
        job.head_sha = m.rel.sha
    result = m.run()
    assert result.returncode == 0, result.describe()
    states = _states(result)
    assert states["b"] == "published"
    assert states["a"] == "left-out"  # other bytes (the README), same version: not part of this release
    assert states["c"] == "already-published"
    assert m.versions("b") == ["1.0.0", "1.1.0"]
    assert json.loads(result.outputs["published-packages"]) == [{"name": m.names["b"], "version": "1.1.0"}]
    assert all(p["name"] != m.rel.name for p in result.report["plan"]["order"])  # the private root


@pytest.fixture
def front(_front_fixture: Any) -> Any:  # noqa: F811  (the imported fixture, by its name)
    """test_e2e_oidc's npm front: npmjs's OIDC exchange in front of Verdaccio."""
    return _front_fixture


def test_oidc_a_package_without_a_trust_record_fails_the_preflight_before_any_upload(mono, front) -> None:
    m = mono()
    rel = m.rel
    rel.repo.private = True  # provenance stays off (sigstore signing cannot run offline)
    for key in ("a", "b"):  # c has no trusted publisher: the npm front refuses its exchange
        front.trust(m.names[key], REPO, "release.yml")
    policy = "credential:\n  mode: oidc\n  oidc-workflow: release.yml\n"
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text(policy)
    _recommit(rel, "policy")
    rel.github.oidc.configure(REPO, rel.sha, workflow="release.yml")
    result = rel.run(token="", env=rel.github.oidc_env(), inputs={"registry": front.url, "packages": "workspaces"})
    for secret in [*front.issued, *rel.github.oidc.tokens]:
        assert_no_leak(result, secret)
    assert result.returncode == 1, result.describe()
    for key in KEYS:
        assert m.versions(key) == [], f"{key}: nothing may be uploaded"
    # one exchange per package, all of them before any upload; c's was refused
    exchanged = [r.path.rsplit("/", 1)[-1] for r in front.requests_to("POST", EXCHANGE_PREFIX)]
    assert exchanged == [m.names[k] for k in KEYS]
    puts = [r for r in rel.verdaccio.requests if r.method == "PUT" and any(n in r.path for n in m.names.values())]
    assert not puts, "no upload may start"
    states = _states(result)
    assert states["c"] == "failed" and states["a"] == "not-published" and states["b"] == "not-published"
    assert "oidc-exchange-failed" in {f["rule"] for f in result.report["findings"]}
    assert result.outputs["published"] == "false"

    # with c's trust record, the same commit goes out: every exchange first, then the uploads in order
    front.trust(m.names["c"], REPO, "release.yml")
    result = rel.run(token="", env=rel.github.oidc_env(), inputs={"registry": front.url, "packages": "workspaces"})
    assert result.returncode == 0, result.describe()
    assert _states(result) == {"a": "published", "b": "published", "c": "published"}


def test_a_failed_upload_midway_stops_reports_what_is_out_and_the_rerun_finishes(mono, verdaccio: Verdaccio) -> None:
    m = mono()
    proxy = FaultProxy(verdaccio.url).start()
    try:
        # the registry fails b's upload (after a went out): npm publish of b errors
        proxy.add(rf"^/{m.names['b']}$", Reply(503, {"error": "registry unavailable"}), method="PUT")
        result = m.run(inputs={"registry": proxy.url})
    finally:
        proxy.stop()
    assert result.returncode == 2, result.describe()
    assert _states(result) == {"a": "published", "b": "failed", "c": "not-published"}
    assert m.versions("a") == ["1.0.0"] and m.versions("b") == [] and m.versions("c") == []
    assert result.outputs["published"] == "false"
    assert json.loads(result.outputs["published-packages"]) == [{"name": m.names["a"], "version": "1.0.0"}]
    assert f"Out on the registry: {m.names['a']}@1.0.0" in result.report["error"]
    assert f"stopped at {m.names['b']}@1.0.0" in result.report["error"]
    assert f"not published: {m.names['c']}@1.0.0." in result.report["error"]
    # the package that is out has its gate record (watch must not take it for a release that bypassed the gate)
    assert f"{m.names['a']}@1.0.0" in {r.tag_name for r in m.rel.repo.releases}
    # the re-run of the same commit skips a (the registry serves exactly its bytes) and publishes the rest
    again = m.run()
    assert again.returncode == 0, again.describe()
    assert _states(again) == {"a": "already-published", "b": "published", "c": "published"}
    assert again.outputs["published"] == "true"


def test_stage_stages_every_package_and_outputs_every_stage_id(mono, front) -> None:
    m = mono()
    result = m.run(inputs={"registry": front.url, "publish-with": "stage"})
    assert result.returncode == 0, result.describe()
    ids = json.loads(result.outputs["stage-ids"])
    assert sorted(ids) == sorted(f"{m.names[k]}@1.0.0" for k in KEYS) and all(ids.values())
    assert _states(result) == {"a": "staged", "b": "staged", "c": "staged"}
    assert [r.path.rsplit("/", 1)[-1] for r in front.requests_to("POST", STAGE_PREFIX)] == [m.names[k] for k in KEYS]


def _npm_pack_integrity(folder: Path, dest: Path) -> str:
    """What `changeset pack` records as `tarball.integrity` with npm as the package manager: the `sha256-` SRI of
    the file npm pack wrote (changesets/changesets packages/cli/src/commands/pack: getIntegrity)."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [_npm(), "pack", "--json", "--ignore-scripts", "--pack-destination", str(dest)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    packed = dest / json.loads(proc.stdout)[0]["filename"]
    return "sha256-" + base64.b64encode(hashlib.sha256(packed.read_bytes()).digest()).decode()


def _changesets_plan(m: Mono, tmp_path: Path, integrity: dict[str, str]) -> None:
    """changesets' publish-plan.json (plan version 1) as `changeset pack --out-dir` writes it."""
    chunks = [
        [
            {
                "kind": "publish",
                "name": m.names[k],
                "version": "1.0.0",
                "access": "public",
                "tag": "latest",
                "tarball": {"path": f"packages/{m.names[k]}-1.0.0.tgz", "integrity": integrity[k]},
            }
        ]
        for k in KEYS
    ]
    out = m.rel.ws / "changeset-pack"
    out.mkdir(exist_ok=True)
    (out / "publish-plan.json").write_text(json.dumps({"version": 1, "plan": chunks}, indent=2))


def test_changesets_plan_with_matching_integrities_publishes_and_writes_the_git_tag_events(mono, tmp_path) -> None:
    m = mono()
    integrity = {k: _npm_pack_integrity(m.rel.ws / "packages" / k, tmp_path / "packed") for k in KEYS}
    _changesets_plan(m, tmp_path, integrity)
    result = m.run(
        "changesets",
        inputs={"changesets-plan": "changeset-pack/publish-plan.json"},
        env={"CHANGESETS_OUTPUT": "changesets-output.ndjson"},
    )
    assert result.returncode == 0, result.describe()
    assert result.report["plan"]["source"] == "changesets"
    assert _states(result) == {"a": "published", "b": "published", "c": "published"}
    for key in KEYS:
        doc = m.rel.verdaccio.packument(m.names[key])
        # the bytes changesets packed: the registry serves the tarball whose sha256 the plan recorded
        verdict = next(p for p in result.report["packages"] if p["name"] == m.names[key])
        assert doc["versions"]["1.0.0"]["dist"]["integrity"] == verdict["integrity"]
    events = [json.loads(line) for line in (m.rel.ws / "changesets-output.ndjson").read_text().splitlines()]
    assert events == [{"type": "git-tag", "tag": f"{m.names[k]}@1.0.0", "packageName": m.names[k]} for k in KEYS]


def test_changesets_plan_with_a_mismatching_integrity_blocks_everything(mono, tmp_path) -> None:
    m = mono()
    integrity = {k: _npm_pack_integrity(m.rel.ws / "packages" / k, tmp_path / "packed") for k in KEYS}
    other = tmp_path / "other-b"
    other.mkdir()
    (other / "package.json").write_text(json.dumps({"name": m.names["b"], "version": "1.0.0", "license": "MIT"}))
    integrity["b"] = _npm_pack_integrity(other, tmp_path / "other-packed")  # not what this commit packs
    _changesets_plan(m, tmp_path, integrity)
    result = m.run("changesets", inputs={"changesets-plan": "changeset-pack/publish-plan.json"})
    assert result.returncode == 1, result.describe()
    for key in KEYS:
        assert m.versions(key) == []
    verdicts = {p["name"].rsplit("-", 1)[1]: p for p in result.report["packages"]}
    assert verdicts["b"]["blocking"] == ["plan-integrity-mismatch"]
    assert verdicts["a"]["state"] == verdicts["c"]["state"] == "allowed"


def test_watch_covers_every_package_of_the_monorepo_by_default(mono, tmp_path: Path) -> None:
    m = mono()
    gated = m.run()
    assert gated.returncode == 0 and gated.outputs["notified"] == "true", gated.describe()
    # every package has its record (tag name@version, though the policy's tag-format is the default v{version})
    clean = _watch(m.rel)
    assert clean.returncode == 0, clean.describe()
    assert clean.outputs["unexpected"] == ""
    assert not any(f["rule"] == "release-record-invalid" for f in clean.report["findings"]), clean.report["findings"]
    # b@1.0.1 straight to the registry (a stolen token): watch flags exactly that, though only the private root
    # sits at package-path and watch.packages is not set
    other = tmp_path / "stolen-b"
    other.mkdir()
    (other / "package.json").write_text(
        json.dumps({"name": m.names["b"], "version": "1.0.1", "scripts": {"postinstall": "node x.js"}})
    )
    (other / "x.js").write_text("require('https');\n")
    m.rel.verdaccio.publish(other, m.rel.token)
    flagged = _watch(m.rel)
    assert flagged.returncode == 1, flagged.describe()
    assert flagged.outputs["unexpected"] == f"{m.names['b']}@1.0.1"


def test_sigterm_during_the_second_upload_reports_what_is_out(mono, verdaccio: Verdaccio) -> None:
    m = mono()
    rel = m.rel
    proxy = FaultProxy(verdaccio.url).start()
    hold = HoldUpload()
    proxy.add(rf"^/{m.names['b']}$", hold, method="PUT")

    def cancel(proc: subprocess.Popen[str]) -> None:
        if hold.received.wait(150):
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)

    try:
        env = {**rel.github.env(), "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": rel.sha, **FAST_RETRIES}
        inputs = {
            "npm-token": rel.token,
            "github-token": rel.github.token or "",
            "registry": proxy.url,
            "packages": "workspaces",
        }
        event = {"ref": "refs/heads/main", "after": rel.sha, "repository": {"fork": False}}
        result = run_action(rel.ws, env, event, home=rel.home, inputs=inputs, timeout=240, during=cancel)
    finally:
        hold.release.set()
        proxy.stop()
    assert_no_leak(result, rel.token)
    assert hold.received.is_set(), result.describe()
    assert result.returncode == 2, result.describe()
    assert result.outputs["published"] == "unknown", result.outputs
    assert _states(result) == {"a": "published", "b": "failed", "c": "not-published"}
    assert m.versions("a") == ["1.0.0"] and m.versions("c") == []
    assert "possibly published" in result.stderr
    assert f"Out on the registry: {m.names['a']}@1.0.0" in result.report["error"]


def test_check_mode_gates_every_package_and_publishes_nothing(mono) -> None:
    m = mono()
    result = m.run(inputs={"mode": "check"})
    assert result.returncode == 0, result.describe()
    assert _states(result) == {"a": "allowed", "b": "allowed", "c": "allowed"}
    assert result.outputs["decision"] == "allow" and result.outputs["published"] == "false"
    assert json.loads(result.outputs["published-packages"]) == []
    for key in KEYS:
        assert m.versions(key) == []


def test_a_pnpm_workspace_packed_by_npm_through_the_plan_is_blocked_with_the_reason(pnpm_mono) -> None:
    """`package-manager: npm` on the same workspace: npm leaves `workspace:^` and `catalog:` literal, which no
    consumer can install: the floor blocks b and c, so nothing goes out (a, with no such range, is allowed)."""
    m = pnpm_mono()
    result = m.run(inputs={"package-manager": "npm"})
    assert result.returncode == 1, result.describe()
    assert result.outputs["published"] == "false"
    for key in KEYS:
        assert m.versions(key) == []
    assert _states(result) == {"a": "allowed", "b": "blocked", "c": "blocked"}
    verdicts = {p["name"].rsplit("-", 1)[1]: p for p in result.report["packages"]}
    assert verdicts["b"]["blocking"] == verdicts["c"]["blocking"] == ["unresolved-workspace-range"]
    assert all(verdicts[k]["packed_by"].startswith("npm ") for k in KEYS)
    found = [f for f in result.report["findings"] if f["rule"] == "unresolved-workspace-range"]
    assert any('"workspace:^"' in f["message"] for f in found) and any('"catalog:"' in f["message"] for f in found)
    assert "package-manager" in result.summary
