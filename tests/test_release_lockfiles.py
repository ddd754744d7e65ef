"""What a consumer's install really runs (issue 9, items 1 and 2): a shrinkwrap shipped in the tarball,
and the dependency tree resolved as a consumer's fresh install would (real npm against Verdaccio)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal.resolve import resolver
from gatekeeper._internal.tarball import read_package
from gatekeeper.diffing import diff_packages
from gatekeeper.errors import NpmError
from gatekeeper.findings import Severity
from gatekeeper.trust.policy import Policy, parse_policy
from tests._support.tarballs import fixture, make_tgz, mutate, package_json
from tests._support.verdaccio import Verdaccio

PUBLIC = "https://registry.npmjs.org/"
EVIL = "https://evil.example/debug-4.3.5.tgz"


def load(path: Path):
    return read_package(path, Policy().diff.limits, label=path.name)


def shrinkwrap(packages: dict[str, dict[str, Any]], deps: dict[str, str]) -> str:
    doc = {
        "name": "demo",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {"name": "demo", "version": "1.0.0", "dependencies": deps}, **packages},
    }
    return json.dumps(doc, indent=2) + "\n"


GOOD = {
    "node_modules/ms": {
        "version": "2.1.2",
        "resolved": "https://registry.npmjs.org/ms/-/ms-2.1.2.tgz",
        "integrity": "sha512-sGkPx+VjMtmA6MX27oA4FBFELFCZZ4S4XqeGOXCv68tT+jb3vk/RyaKWP0PTKyWtmLSM0b+adUTEvbs1PEaH2w==",
    }
}
HOSTILE = {
    "node_modules/ms": {
        "version": "2.1.2",
        "resolved": EVIL,
        "integrity": "sha512-AAAA",
        "hasInstallScript": True,
    }
}


def rules(result) -> list[str]:
    return [f.rule for f in result.findings]


# ------------------------------------------------------------------ item 1: npm-shrinkwrap.json in the tarball


def test_shrinkwrap_added_to_a_release_blocks_and_names_the_attackers_tarball(tmp_path: Path) -> None:
    """The bypass: a shrinkwrap pointing `ms` at an attacker's tarball was not looked at (no finding)."""
    cand = mutate(
        fixture("debug-4.3.5"),
        tmp_path / "c.tgz",
        files={"npm-shrinkwrap.json": shrinkwrap(HOSTILE, {"ms": "2.1.2"})},
        manifest=lambda d: d.update(version="4.3.6"),
    )
    result = diff_packages(load(fixture("debug-4.3.5")), load(cand), Policy())
    assert "shrinkwrap-added" in rules(result)
    source = next(f for f in result.findings if f.rule == "lockfile-source-changed")
    assert EVIL in source.message and source.blocks and source.file == "npm-shrinkwrap.json" and source.line
    assert "lockfile-install-script" in rules(result)
    assert all(f.blocks for f in result.findings)


def test_shrinkwrap_case_variant_counts(tmp_path: Path) -> None:
    cand = mutate(
        fixture("debug-4.3.5"),
        tmp_path / "c.tgz",
        files={"NPM-Shrinkwrap.json": shrinkwrap(GOOD, {"ms": "2.1.2"})},
        manifest=lambda d: d.update(version="4.3.6"),
    )
    assert rules(diff_packages(load(fixture("debug-4.3.5")), load(cand), Policy())) == ["shrinkwrap-added"]


def test_changed_shrinkwrap_is_reviewed_with_the_lockfile_rules(tmp_path: Path) -> None:
    files = {
        "package.json": package_json(dependencies={"ms": "2.1.2"}),
        "index.js": "module.exports = 1\n",
        "npm-shrinkwrap.json": shrinkwrap(GOOD, {"ms": "2.1.2"}),
    }
    base = make_tgz(files, tmp_path / "b.tgz")
    same = make_tgz(
        {**files, "package.json": package_json(version="1.0.1", dependencies={"ms": "2.1.2"})}, tmp_path / "s.tgz"
    )
    assert diff_packages(load(base), load(same), Policy()).findings == []  # an unchanged shrinkwrap is fine
    moved = {**GOOD["node_modules/ms"], "resolved": EVIL}
    cand = make_tgz(
        {
            **files,
            "package.json": package_json(version="1.0.1", dependencies={"ms": "2.1.2"}),
            "npm-shrinkwrap.json": shrinkwrap({"node_modules/ms": moved}, {"ms": "2.1.2"}),
        },
        tmp_path / "c.tgz",
    )
    assert rules(diff_packages(load(base), load(cand), Policy())) == ["lockfile-source-changed"]
    other = {**GOOD["node_modules/ms"], "integrity": "sha512-" + "B" * 86 + "=="}
    cand2 = make_tgz(
        {
            **files,
            "package.json": package_json(version="1.0.1", dependencies={"ms": "2.1.2"}),
            "npm-shrinkwrap.json": shrinkwrap({"node_modules/ms": other}, {"ms": "2.1.2"}),
        },
        tmp_path / "c2.tgz",
    )
    assert rules(diff_packages(load(base), load(cand2), Policy())) == ["lockfile-integrity-changed"]
    # the tarball's registry counts as the registry (a private registry's resolved URLs are not "outside")
    private = {**GOOD["node_modules/ms"], "resolved": "https://npm.corp.example/ms/-/ms-2.1.2.tgz"}
    cand3 = make_tgz(
        {
            **files,
            "package.json": package_json(version="1.0.1", dependencies={"ms": "2.1.2"}),
            "npm-shrinkwrap.json": shrinkwrap({"node_modules/ms": private}, {"ms": "2.1.2"}),
        },
        tmp_path / "c3.tgz",
    )
    assert diff_packages(load(base), load(cand3), Policy(), registry_url="https://npm.corp.example/").findings == []
    assert rules(diff_packages(load(base), load(cand3), Policy())) == ["lockfile-source-changed"]


def test_unreadable_or_v1_shrinkwrap_fails_closed(tmp_path: Path) -> None:
    base = fixture("debug-4.3.5")
    bad = mutate(
        base,
        tmp_path / "b.tgz",
        files={"npm-shrinkwrap.json": "{not json"},
        manifest=lambda d: d.update(version="4.3.6"),
    )
    assert rules(diff_packages(load(base), load(bad), Policy())) == ["shrinkwrap-added", "tarball-unsafe"]
    v1 = json.dumps({"lockfileVersion": 1, "dependencies": {"ms": {"version": "2.1.2", "resolved": EVIL}}})
    old = mutate(base, tmp_path / "o.tgz", files={"npm-shrinkwrap.json": json.dumps({"lockfileVersion": 1})})
    cand = mutate(
        base, tmp_path / "v1.tgz", files={"npm-shrinkwrap.json": v1}, manifest=lambda d: d.update(version="4.3.6")
    )
    [f] = diff_packages(load(old), load(cand), Policy()).findings
    assert f.rule == "lockfile-changed" and f.severity is Severity.BLOCK


def test_shrinkwrap_approvals(tmp_path: Path) -> None:
    cand = mutate(
        fixture("debug-4.3.5"),
        tmp_path / "c.tgz",
        files={
            "npm-shrinkwrap.json": shrinkwrap(
                {"node_modules/ms": {**GOOD["node_modules/ms"], "hasInstallScript": True}}, {"ms": "2.1.2"}
            )
        },
        manifest=lambda d: d.update(version="4.3.6"),
    )
    wrap = hashlib.sha256(load(cand).files["npm-shrinkwrap.json"].data).hexdigest()
    policy = parse_policy(
        f"approve: {{files: [{{path: npm-shrinkwrap.json, sha256: {wrap}}}], install-scripts: [ms@2.1.2]}}"
    )
    result = diff_packages(load(fixture("debug-4.3.5")), load(cand), policy)
    assert not result.blocked, result.findings
    bare = parse_policy(f"approve: {{files: [{{path: npm-shrinkwrap.json, sha256: {wrap}}}], install-scripts: [ms]}}")
    assert diff_packages(load(fixture("debug-4.3.5")), load(cand), bare).blocked  # exact name@version only


def test_shrinkwrap_in_publish_mode_gate_and_in_the_cli(tmp_path: Path) -> None:
    from gatekeeper.gates import diff as gate
    from gatekeeper.modes.diff import run_diff
    from tests.test_diff_rules import FakeRegistry, gate_ctx

    cand = mutate(
        fixture("debug-4.3.5"),
        tmp_path / "c.tgz",
        files={"npm-shrinkwrap.json": shrinkwrap(HOSTILE, {"ms": "2.1.2"})},
        manifest=lambda d: d.update(version="4.3.6"),
    )
    reg = FakeRegistry("debug", {"4.3.5": fixture("debug-4.3.5")})
    found = {f.rule for f in gate.check(gate_ctx(tmp_path, cand, reg))}
    assert {"shrinkwrap-added", "lockfile-source-changed", "lockfile-install-script"} <= found
    out = io.StringIO()
    code = run_diff(
        [str(cand), "--against", str(fixture("debug-4.3.5")), "--format", "json"], out=out, err=io.StringIO()
    )
    assert code == 1
    data = json.loads(out.getvalue())
    assert "shrinkwrap-added" in json.dumps(data)


# ------------------------------------------------------------------ item 2: the consumer-resolved dependency tree


class Tree:
    """Packages published to Verdaccio for the tree tests (unique names per session)."""

    def __init__(self, verdaccio: Verdaccio, root: Path) -> None:
        self.registry = verdaccio.url
        user = verdaccio.unique("tree-user")
        token = verdaccio.add_user(user, "tree-password-1")
        self.leaf, self.mid, self.plain = (verdaccio.unique(p) for p in ("gk-leaf", "gk-mid", "gk-plain"))
        self.n = 0

        def publish(manifest: dict[str, Any], files: dict[str, str]) -> None:
            self.n += 1
            d = root / f"p{self.n}"
            d.mkdir()
            (d / "package.json").write_text(json.dumps(manifest), encoding="utf-8")
            for rel, text in files.items():
                (d / rel).write_text(text, encoding="utf-8")
            verdaccio.publish(d, token)

        index = {"index.js": "module.exports = 1\n"}
        publish(
            {"name": self.leaf, "version": "1.0.0", "scripts": {"postinstall": "node p.js"}}, {**index, "p.js": "1\n"}
        )
        publish({"name": self.plain, "version": "1.0.0"}, index)
        publish({"name": self.mid, "version": "1.0.0"}, index)
        publish({"name": self.mid, "version": "1.1.0", "dependencies": {self.leaf: "^1.0.0"}}, index)
        publish({"name": self.mid, "version": "2.0.0", "dependencies": {self.leaf: "^1.0.0"}}, index)


@pytest.fixture(scope="module")
def tree(verdaccio: Verdaccio, tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return Tree(verdaccio, tmp_path_factory.mktemp("tree"))


def pkg(tmp: Path, name: str, version: str, deps: dict[str, str], **extra: Any):
    path = make_tgz(
        {
            "package.json": json.dumps({"name": name, "version": version, "dependencies": deps, **extra}),
            "index.js": "1\n",
        },
        tmp / f"{name}-{version}.tgz",
    )
    return load(path)


def test_minor_release_adding_a_dependency_with_install_scripts_blocks(tmp_path: Path, tree: Tree) -> None:
    """The bypass: a minor release adding a dependency whose tree runs install scripts only warned."""
    resolve = resolver(tree.registry, 120)
    base = pkg(tmp_path, "app", "1.0.0", {tree.plain: "^1.0.0"})
    cand = pkg(tmp_path, "app", "1.1.0", {tree.plain: "^1.0.0", tree.mid: "^1.1.0"})
    result = diff_packages(base, cand, Policy(), registry_url=tree.registry, resolver=resolve)
    added = next(f for f in result.findings if f.rule == "dependency-added")
    assert added.severity is Severity.WARN  # the minor release: the old rule alone lets it through
    [f] = [f for f in result.findings if f.rule == "dependency-install-script"]
    assert f.blocks and f.evidence["path"] == [f"{tree.mid}@1.1.0", f"{tree.leaf}@1.0.0"]
    assert f"app@1.1.0 > {tree.mid}@1.1.0 > {tree.leaf}@1.0.0" in f.message and f.file == "package.json" and f.line
    for release in ("2.0.0", "1.0.1"):
        major = pkg(tmp_path, "app", release, {tree.plain: "^1.0.0", tree.mid: "^1.1.0"})
        assert diff_packages(base, major, Policy(), resolver=resolve).blocked


def test_range_change_pulling_in_install_scripts_blocks_and_exact_approval(tmp_path: Path, tree: Tree) -> None:
    resolve = resolver(tree.registry, 120)
    base = pkg(tmp_path, "app", "1.0.0", {tree.mid: "~1.0.0"})
    cand = pkg(tmp_path, "app", "1.0.1", {tree.mid: "^2.0.0"})
    assert [f.rule for f in diff_packages(base, cand, Policy(), resolver=resolve).findings] == [
        "dependency-install-script"
    ]
    exact = parse_policy(f"approve: {{install-scripts: ['{tree.leaf}@1.0.0']}}")
    assert [f.rule for f in diff_packages(base, cand, exact, resolver=resolve).findings] == ["approved-change"]
    for loose in (f"'{tree.leaf}'", f"'{tree.leaf}@1.0.1'"):
        policy = parse_policy(f"approve: {{install-scripts: [{loose}]}}")
        assert diff_packages(base, cand, policy, resolver=resolve).blocked
    # the baseline's tree already ran that package's install scripts: nothing new
    had = pkg(tmp_path, "app", "1.0.0", {tree.mid: "^1.1.0"})
    assert diff_packages(had, cand, Policy(), resolver=resolve).findings == []


def test_optional_and_peer_dependencies_are_resolved_too(tmp_path: Path, tree: Tree) -> None:
    resolve = resolver(tree.registry, 120)
    base = pkg(tmp_path, "app", "1.0.0", {})
    for field in ("optionalDependencies", "peerDependencies"):
        cand = load(
            make_tgz(
                {"package.json": json.dumps({"name": "app", "version": "1.0.1", field: {tree.leaf: "^1.0.0"}})},
                tmp_path / f"{field}.tgz",
            )
        )
        found = [f.rule for f in diff_packages(base, cand, Policy(), resolver=resolve).findings]
        assert "dependency-install-script" in found, field


def test_unchanged_dependencies_are_not_resolved(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def spy(manifest: dict[str, Any]) -> bytes:
        calls.append(manifest)
        raise AssertionError("no resolution expected")

    base = pkg(tmp_path, "app", "1.0.0", {"x": "^1"})
    cand = pkg(tmp_path, "app", "1.0.1", {"x": "^1"}, description="changed")
    assert diff_packages(base, cand, Policy(), resolver=spy).findings == [] and calls == []


def test_resolution_failure_is_an_error_not_an_allow(tmp_path: Path, tree: Tree, verdaccio: Verdaccio) -> None:
    """The resolution error is the result's error (exit 2), and the static findings stay beside it."""
    resolve = resolver(tree.registry, 120)
    base = pkg(tmp_path, "app", "1.0.0", {})
    missing = verdaccio.unique("gk-missing")
    cand = pkg(tmp_path, "app", "1.0.1", {missing: "^1.0.0"})
    result = diff_packages(base, cand, Policy(), resolver=resolve)
    assert isinstance(result.error, NpmError) and "could not be resolved" in result.error.what
    [added] = [f for f in result.findings if f.rule == "dependency-added"]
    assert missing in added.message and added.blocks  # a patch release: the static finding is still there
    slow = diff_packages(
        base, pkg(tmp_path, "app", "1.0.2", {tree.mid: "^1"}), Policy(), resolver=resolver(tree.registry, 0.01)
    )
    assert isinstance(slow.error, NpmError) and "took longer than" in slow.error.what


def test_static_findings_survive_an_unresolvable_tree(tmp_path: Path, tree: Tree, verdaccio: Verdaccio) -> None:
    """The bypass of the report: a release adding a dependency the registry cannot resolve exited 2 with only
    npm's error; the `dependency-added` and `dependency-source-changed` findings the maintainer needs were
    not shown. Now both are in the gate's result and in every format of `gatekeeper diff`, exit 2 stays."""
    from gatekeeper._internal.registry import RegistryClient
    from gatekeeper.gates import diff as gate
    from gatekeeper.modes.diff import run_diff
    from gatekeeper.steps.run import run_gate
    from tests.test_diff_rules import gate_ctx

    name = verdaccio.unique("gk-app")
    token = verdaccio.add_user(verdaccio.unique("app-user"), "app-password-1")
    d = tmp_path / "base"
    d.mkdir()
    base_manifest = {"name": name, "version": "1.0.0", "dependencies": {tree.plain: "^1"}}
    (d / "package.json").write_text(json.dumps(base_manifest))
    (d / "index.js").write_text("1\n")
    verdaccio.publish(d, token)
    missing = verdaccio.unique("gk-nowhere")
    deps = {tree.plain: "^1", missing: "^1.0.0", "evil": "git+https://example.invalid/evil.git"}
    files = {"package.json": json.dumps({"name": name, "version": "1.0.1", "dependencies": deps}), "index.js": "1\n"}
    cand = make_tgz(files, tmp_path / "cand.tgz")
    ctx = gate_ctx(tmp_path, cand, RegistryClient(verdaccio.url))
    res = run_gate("diff", gate.check, ctx)
    assert res.status == "error" and "could not be resolved" in (res.error or "")
    found = {f.rule for f in res.findings}
    assert {"dependency-added", "dependency-source-changed"} <= found, found
    assert any(missing in f.message for f in res.findings if f.rule == "dependency-added")
    for fmt in ("text", "json", "markdown"):
        out, err = io.StringIO(), io.StringIO()
        base = tmp_path / "base.tgz"
        make_tgz({"package.json": json.dumps(base_manifest), "index.js": "1\n"}, base)
        argv = [str(cand), "--against", str(base), "--registry", tree.registry, "--format", fmt]
        code = run_diff(argv, out=out, err=err)
        assert code == 2, fmt
        assert "dependency-added" in out.getvalue() and "dependency-source-changed" in out.getvalue(), fmt
        assert "could not be resolved" in out.getvalue() + err.getvalue(), fmt
        if fmt == "json":
            data = json.loads(out.getvalue())
            assert data["exit_code"] == 2 and data["gates"]["diff"] == "error"
            assert "could not be resolved" in data["error"]


def test_resolution_uses_no_credentials_and_no_workspace_config(
    tmp_path: Path, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace .npmrc pointing elsewhere, and tokens in the env, never reach the resolution."""
    from gatekeeper._internal import proc

    seen: list[tuple[list[str], dict[str, str], Path]] = []
    real = proc.start

    def spy(argv, *, cwd, env=None, started=None):  # type: ignore[no-untyped-def]
        seen.append((list(argv), dict(env or {}), Path(cwd)))
        return real(argv, cwd=cwd, env=env, started=started)

    monkeypatch.setattr("gatekeeper._internal.resolve.start", spy)
    monkeypatch.setenv("NODE_AUTH_TOKEN", "npm_secretsecretsecretsecretsecretsecret")
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".npmrc").write_text("registry=http://127.0.0.1:9/\n")
    resolver(tree.registry, 120, tmp_path)({"name": "app", "version": "1.0.0", "dependencies": {tree.plain: "^1.0.0"}})
    [(argv, env, cwd)] = seen
    assert "NODE_AUTH_TOKEN" not in env and not any(k.lower() == "npm_config_registry" for k in env)
    assert tmp_path not in cwd.parents and "--ignore-scripts" in argv and "--package-lock-only" in argv
    assert not cwd.exists()  # the temp dir is gone
    assert not any("secret" in a for a in argv)


def test_both_trees_resolve_concurrently_over_one_shared_cache(
    tmp_path: Path, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 item 4: the release's two trees were resolved one after the other, each with a cold cache of its
    own (11-14 s for express 4.18.3 -> 4.19.2 against 5-5.5 s for one resolution). Both npm runs now start before
    either is waited for, over one packument cache that is removed afterwards."""
    from gatekeeper._internal import proc

    events: list[tuple[str, str]] = []
    real_start, real_finish = proc.start, proc.finish

    def start(argv, *, cwd, env=None, started=None):  # type: ignore[no-untyped-def]
        events.append(("start", (env or {}).get("NPM_CONFIG_CACHE", "")))
        return real_start(argv, cwd=cwd, env=env, started=started)

    def finish(p, timeout):  # type: ignore[no-untyped-def]
        events.append(("finish", ""))
        return real_finish(p, timeout)

    monkeypatch.setattr("gatekeeper._internal.resolve.start", start)
    monkeypatch.setattr("gatekeeper._internal.resolve.finish", finish)
    base = pkg(tmp_path, "app", "1.0.0", {tree.plain: "^1.0.0"})
    cand = pkg(tmp_path, "app", "1.1.0", {tree.plain: "^1.0.0", tree.mid: "^1.1.0"})
    result = diff_packages(base, cand, Policy(), resolver=resolver(tree.registry, 120))
    assert "dependency-install-script" in rules(result)
    assert [e for e, _ in events] == ["start", "start", "finish", "finish"], events
    caches = {c for e, c in events if e == "start"}
    assert len(caches) == 1 and "" not in caches and not Path(caches.pop()).exists()


def test_cli_unresolvable_tree_exits_2_and_a_new_install_script_exits_1(
    tmp_path: Path, tree: Tree, verdaccio: Verdaccio
) -> None:
    from gatekeeper.modes.diff import run_diff

    def tgz(version: str, deps: dict[str, str]) -> Path:
        files = {"package.json": json.dumps({"name": "app", "version": version, "dependencies": deps}), "i.js": "1\n"}
        return make_tgz(files, tmp_path / f"app-{version}.tgz")

    base = tgz("1.0.0", {tree.plain: "^1.0.0"})
    err = io.StringIO()
    code = run_diff(
        [
            str(tgz("1.1.0", {verdaccio.unique("gk-nowhere"): "^1"})),
            "--against",
            str(base),
            "--registry",
            tree.registry,
        ],
        out=io.StringIO(),
        err=err,
    )
    assert code == 2 and "could not be resolved" in err.getvalue()
    out = io.StringIO()
    code = run_diff(
        [
            str(tgz("1.1.0", {tree.mid: "^1.1.0"})),
            "--against",
            str(base),
            "--registry",
            tree.registry,
            "--format",
            "json",
        ],
        out=out,
        err=io.StringIO(),
    )
    assert code == 1 and "dependency-install-script" in out.getvalue()
