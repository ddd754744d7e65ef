"""New dependencies by risk, in every release type (issue 22): a dependency added in a minor or major release
blocks when the registry says it is young (first published < 30 days ago) or that a version its range allows
has had an install script; otherwise it warns with the facts. Real Verdaccio holding the packages, their
first-publish time set in Verdaccio's own storage (what it serves as `time.created`)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal.registry import RegistryClient
from gatekeeper._internal.tarball import read_package
from gatekeeper.diffing import diff_packages
from gatekeeper.findings import Severity
from gatekeeper.gates.diff import RegistryDependencies
from gatekeeper.trust.policy import Policy, parse_policy
from tests._support.tarballs import make_tgz
from tests._support.verdaccio import Verdaccio


def _iso(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Aged:
    """Packages on Verdaccio whose first publish lies in the past, as the registry records it."""

    def __init__(self, verdaccio: Verdaccio, root: Path) -> None:
        self.verdaccio = verdaccio
        self.registry = verdaccio.url
        token = verdaccio.add_user(verdaccio.unique("aged-user"), "aged-password-1")
        # young: 29 days old, never an install script; old: 31 days old, 1.0.0 had a postinstall, 1.1.0 not
        self.young, self.old = verdaccio.unique("gk-young"), verdaccio.unique("gk-old")
        script = {"postinstall": "node p.js"}
        releases = ((self.young, "1.0.0", {}), (self.old, "1.0.0", script), (self.old, "1.1.0", {}))
        for n, (name, version, scripts) in enumerate(releases):
            d = root / f"p{n}"
            d.mkdir()
            (d / "package.json").write_text(json.dumps({"name": name, "version": version, "scripts": scripts}))
            (d / "index.js").write_text("module.exports = 1\n")
            (d / "p.js").write_text("1\n")
            verdaccio.publish(d, token)
        self.age(self.young, 29)
        self.age(self.old, 31)
        verdaccio.set_maintainers(self.old, ["alice", "bob"])

    def age(self, name: str, days: float) -> None:
        """Rewrite the package's times in Verdaccio's storage (the file its local storage serves from)."""
        path = self.verdaccio.root / "storage" / name / "package.json"
        doc = json.loads(path.read_text())
        doc["time"]["created"] = _iso(days)
        for v in doc["versions"]:
            doc["time"][v] = _iso(days - 0.5)
        path.write_text(json.dumps(doc))
        served = self.verdaccio.packument(name)
        assert served is not None and served["time"]["created"] == doc["time"]["created"]  # what the registry says


@pytest.fixture(scope="module")
def aged(verdaccio: Verdaccio, tmp_path_factory: pytest.TempPathFactory) -> Aged:
    return Aged(verdaccio, tmp_path_factory.mktemp("aged"))


def app(tmp: Path, version: str, deps: dict[str, str]):
    files = {"package.json": json.dumps({"name": "app", "version": version, "dependencies": deps}), "i.js": "1\n"}
    path = make_tgz(files, tmp / f"app-{version}.tgz")
    return read_package(path, Policy().diff.limits, label=path.name)


def found(result: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in result.findings:
        out.setdefault(f.rule, []).append(f)
    return out


def deps_of(aged: Aged) -> RegistryDependencies:
    return RegistryDependencies(RegistryClient(aged.registry), Policy())


def consumer_install(verdaccio: Verdaccio, where: Path, deps: dict[str, str], *, scripts: bool = False) -> Path:
    """A premise with the real npm: a consumer project depending on `deps`, installed from the test registry
    (`--ignore-scripts` unless `scripts`); returns its node_modules."""
    import subprocess

    from tests._support.verdaccio import _npm

    where.mkdir()
    (where / "package.json").write_text(json.dumps({"name": "c", "version": "1.0.0", "dependencies": deps}))
    argv = [_npm(), "install", "--no-audit", "--no-fund", *([] if scripts else ["--ignore-scripts"])]
    subprocess.run(argv, cwd=where, env=verdaccio.npm_env(), check=True, capture_output=True, timeout=300)
    return where / "node_modules"


def test_young_dependency_blocks_and_a_month_old_one_warns_with_the_facts(tmp_path: Path, aged: Aged) -> None:
    """The later-poisoned dependency: a minor release adding a package first published 29 days ago only
    warned (`dependency-added: warn`), so its owner could add a postinstall afterwards."""
    base = app(tmp_path, "1.0.0", {})
    young = diff_packages(base, app(tmp_path, "1.1.0", {aged.young: "^1.0.0"}), Policy(), dependencies=deps_of(aged))
    rules = found(young)
    [new] = rules["dependency-new-package"]
    assert new.blocks and "29 days ago" in new.message and aged.young in new.message and new.line
    [added] = rules["dependency-added"]
    assert added.severity is Severity.WARN and "first published" in added.message
    assert "not exact" in added.message and young.blocked

    # 31 days old, a range without the old install script: allowed, the facts in the warning
    ok = diff_packages(base, app(tmp_path, "2.0.0", {aged.old: "1.1.0"}), Policy(), dependencies=deps_of(aged))
    [warn] = found(ok)["dependency-added"]
    assert not ok.blocked and warn.severity is Severity.WARN
    assert "31 days ago" in warn.message and "alice, bob" in warn.message and "exact version" in warn.message
    assert warn.evidence["maintainers"] == ["alice", "bob"] and warn.evidence["exact"] is True


def test_install_script_in_an_old_version_of_the_range_blocks(tmp_path: Path, aged: Aged) -> None:
    base = app(tmp_path, "1.0.0", {})
    cand = app(tmp_path, "1.1.0", {aged.old: "^1.0.0"})  # npm resolves 1.1.0 (no script), but 1.0.0 had one
    result = diff_packages(base, cand, Policy(), dependencies=deps_of(aged))
    [hist] = found(result)["dependency-install-script-history"]
    assert hist.blocks and "1.0.0 (postinstall)" in hist.message and hist.evidence["versions"] == ["1.0.0"]
    assert "dependency-new-package" not in found(result)
    # `>=1.1.0` does not allow 1.0.0 (matched by npm's own semver)
    later = app(tmp_path, "1.2.0", {aged.old: ">=1.1.0"})
    assert not diff_packages(base, later, Policy(), dependencies=deps_of(aged)).blocked
    # an alias is looked up under the package it names
    alias = diff_packages(
        base, app(tmp_path, "1.3.0", {"helper": f"npm:{aged.old}@^1.0.0"}), Policy(), dependencies=deps_of(aged)
    )
    assert "dependency-install-script-history" in found(alias)


def test_approval_by_name_patch_releases_and_missing_packages(tmp_path: Path, aged: Aged, verdaccio: Verdaccio) -> None:
    base = app(tmp_path, "1.0.0", {})
    both = {aged.young: "^1.0.0", aged.old: "^1.0.0"}
    policy = parse_policy(f"approve: {{dependencies: ['{aged.young}', '{aged.old}']}}")
    result = diff_packages(base, app(tmp_path, "1.1.0", both), policy, dependencies=deps_of(aged))
    assert not result.blocked and set(found(result)) == {"approved-change"}
    # a patch release blocks any new dependency, as before (the risk facts are not needed to block it)
    patch = diff_packages(base, app(tmp_path, "1.0.1", {aged.old: "1.1.0"}), Policy(), dependencies=deps_of(aged))
    assert [f.rule for f in patch.findings] == ["dependency-added"] and patch.blocked
    # from outside the registry: not looked up; blocked exactly (by spec) as dependency-source-changed
    git = diff_packages(
        base, app(tmp_path, "1.2.0", {"x": "git+https://example.invalid/x.git"}), Policy(), dependencies=deps_of(aged)
    )
    assert {(f.rule, f.severity) for f in git.findings} == {
        ("dependency-added", Severity.WARN),
        ("dependency-source-changed", Severity.BLOCK),
    }
    # not on the registry at all: blocks (anyone may register the name later)
    missing = verdaccio.unique("gk-absent")
    gone = diff_packages(base, app(tmp_path, "1.1.0", {missing: "^1.0.0"}), Policy(), dependencies=deps_of(aged))
    assert "not on the registry" in found(gone)["dependency-new-package"][0].message


def _as_the_mirror_serves(doc: dict[str, Any]) -> None:
    """The npm registry these machines reach (a mirror) serves `time` with per-version times only."""
    doc["time"].pop("created", None)
    doc["time"].pop("modified", None)


def test_a_registry_without_time_created_is_judged_by_the_earliest_version_time(
    tmp_path: Path, verdaccio: Verdaccio, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Noise found on real releases: the npm registry reachable here (a mirror) records no `time.created`, so
    every dependency added in a minor or major release blocked as having "no readable first publish date",
    however old (all 24 such pairs of the corpus, express 5.1.0 -> 5.2.0 adding depd among them). The earliest
    time of a listed version stands in (never before the real first publish: the package looks at most as old
    as it is); a young package still blocks, and one with no readable time at all still blocks."""
    mirror = Aged(verdaccio, tmp_path_factory.mktemp("mirror"))
    for name in (mirror.young, mirror.old):
        verdaccio.patch_packument(name, _as_the_mirror_serves)
    served = RegistryClient(mirror.registry).packument(mirror.old)
    assert served is not None and "created" not in served["time"] and "1.1.0" in served["time"]  # premise
    deps = RegistryDependencies(RegistryClient(mirror.registry), Policy())
    base = app(tmp_path, "1.0.0", {})

    old = diff_packages(base, app(tmp_path, "1.1.0", {mirror.old: "1.1.0"}), Policy(), dependencies=deps)
    assert not old.blocked, old.findings
    [warn] = found(old)["dependency-added"]
    assert "30 days ago, its earliest version: the registry records no time.created" in warn.message

    young = diff_packages(base, app(tmp_path, "1.2.0", {mirror.young: "^1.0.0"}), Policy(), dependencies=deps)
    [new] = found(young)["dependency-new-package"]
    assert new.blocks and "28 days ago" in new.message

    # no readable time at all: unknown, blocks as before
    verdaccio.patch_packument(mirror.old, lambda doc: doc.__setitem__("time", {"1.0.0": "yesterday"}))
    blind = RegistryDependencies(RegistryClient(mirror.registry), Policy())
    unknown = diff_packages(base, app(tmp_path, "1.3.0", {mirror.old: "1.1.0"}), Policy(), dependencies=blind)
    assert "no readable first publish date" in found(unknown)["dependency-new-package"][0].message


def test_a_new_optional_peer_warns_without_the_risk_checks(tmp_path: Path, aged: Aged, verdaccio: Verdaccio) -> None:
    """Noise found on real releases: vite 7.3.1 -> 8.0.0 blocked on `@vitejs/devtools` (5 days old) and prisma
    6.19.0 -> 7.0.0 on better-sqlite3's install scripts, both added as optional peers (`peerDependenciesMeta`
    optional), which a consumer's install does not install (premise below, with the real npm). Such a peer
    warns with what it is; a required peer (npm 7+ installs it) is judged by risk as a dependency is."""

    token = verdaccio.add_user(verdaccio.unique("peer-user"), "peer-password-1")
    lib = verdaccio.unique("gk-peerlib")
    published = {}
    for version, optional in (("1.1.0", True), ("1.2.0", False)):
        manifest: dict[str, Any] = {"name": lib, "version": version, "peerDependencies": {aged.young: "^1.0.0"}}
        if optional:
            manifest["peerDependenciesMeta"] = {aged.young: {"optional": True}}
        d = tmp_path / f"lib-{version}"
        d.mkdir()
        (d / "package.json").write_text(json.dumps(manifest))
        (d / "index.js").write_text("1\n")
        verdaccio.publish(d, token)
        published[version] = manifest
    # premise: the optional peer is not installed by a consumer's install; the required one is
    for version, present in (("1.1.0", False), ("1.2.0", True)):
        modules = consumer_install(verdaccio, tmp_path / f"consumer-{version}", {lib: version})
        assert (modules / aged.young).is_dir() is present, version

    def release(version: str) -> Any:
        files = {"package.json": json.dumps({**published[version], "name": "app", "version": version}), "i.js": "1\n"}
        return read_package(make_tgz(files, tmp_path / f"peer-app-{version}.tgz"), Policy().diff.limits)

    base = app(tmp_path, "1.0.0", {})
    optional = diff_packages(base, release("1.1.0"), Policy(), dependencies=deps_of(aged))
    assert not optional.blocked, optional.findings
    [warn] = found(optional)["dependency-added"]
    assert warn.severity is Severity.WARN and "optional peer" in warn.message
    required = diff_packages(base, release("1.2.0"), Policy(), dependencies=deps_of(aged))
    assert found(required)["dependency-new-package"][0].blocks


def test_the_cli_looks_dependencies_up_on_the_registry(tmp_path: Path, aged: Aged) -> None:
    from gatekeeper.modes.diff import run_diff

    def tgz(version: str, deps: dict[str, str]) -> Path:
        files = {"package.json": json.dumps({"name": "app", "version": version, "dependencies": deps}), "i.js": "1\n"}
        return make_tgz(files, tmp_path / f"cli-{version}.tgz")

    out = io.StringIO()
    argv = [str(tgz("1.1.0", {aged.young: "^1.0.0"})), "--against", str(tgz("1.0.0", {}))]
    code = run_diff([*argv, "--registry", aged.registry, "--format", "json"], out=out, err=io.StringIO())
    assert code == 1 and "dependency-new-package" in out.getvalue()


# ------------------------------------------------------------------ install-script dependencies diffed


INSTALL_JS = """const fs = require('fs');
const path = require('path');
const version = require('./package.json').version;
fs.writeFileSync(path.join(process.env.INIT_CWD || '.', 'ran-' + version), 'x');
"""


@pytest.fixture(scope="module")
def scripted(verdaccio: Verdaccio, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A package that always had a postinstall: 1.1.0 changes only its library code, 1.2.0 its install code."""
    root = tmp_path_factory.mktemp("scripted")
    token = verdaccio.add_user(verdaccio.unique("scripted-user"), "scripted-password-1")
    name = verdaccio.unique("gk-scripted")
    evil = INSTALL_JS + "fs.writeFileSync(path.join(process.env.INIT_CWD || '.', 'payload-ran'), 'x');\n"
    for n, (version, install, index) in enumerate(
        (
            ("1.0.0", INSTALL_JS, "module.exports = 1\n"),
            ("1.1.0", INSTALL_JS, "module.exports = 2\n"),
            ("1.2.0", evil, "module.exports = 2\n"),
        )
    ):
        d = root / f"v{n}"
        d.mkdir()
        manifest = {"name": name, "version": version, "scripts": {"postinstall": "node install.js"}}
        (d / "package.json").write_text(json.dumps(manifest))
        (d / "install.js").write_text(install)
        (d / "index.js").write_text(index)
        verdaccio.publish(d, token)
    return name


def test_install_script_dependency_is_diffed_across_versions(
    tmp_path: Path, scripted: str, verdaccio: Verdaccio
) -> None:
    """The bypass: a dependency that already ran a postinstall moving to another version in the consumer tree
    (a widened range) passed, because tree changes were compared by name. Now its two releases are diffed with
    the same engine: a routine bump passes, a changed install script blocks."""

    from gatekeeper._internal.resolve import resolver

    # premise, with the real npm: a consumer's install of the widened range runs 1.2.0's changed postinstall
    consumer = consumer_install(verdaccio, tmp_path / "consumer", {scripted: "^1.0.0"}, scripts=True).parent
    assert (consumer / "payload-ran").exists() and (consumer / "ran-1.2.0").exists()

    resolve = resolver(verdaccio.url, 120)
    deps = RegistryDependencies(RegistryClient(verdaccio.url), Policy())
    base = app(tmp_path, "1.0.0", {scripted: "~1.0.0"})
    routine = diff_packages(
        base, app(tmp_path, "1.0.1", {scripted: "~1.1.0"}), Policy(), resolver=resolve, dependencies=deps
    )
    assert routine.error is None and routine.findings == []  # 1.0.0 -> 1.1.0: the same install.js, allowed
    widened = app(tmp_path, "1.0.2", {scripted: "^1.0.0"})
    result = diff_packages(base, widened, Policy(), resolver=resolve, dependencies=deps)
    [f] = found(result)["dependency-install-script"]
    assert f.blocks and f.evidence["previous_version"] == "1.0.0" and f.evidence["version"] == "1.2.0"
    assert "install-script-code-changed" in f.message and "install.js" in f.message
    from gatekeeper.report.snippets import add_snippets

    [snip] = [g.evidence.get("approve") for g in add_snippets(result.findings, widened) if g.blocks]
    assert f"{scripted}@1.2.0" in str(snip)
    # approved exactly (name@version), as a new install-script package is
    exact = parse_policy(f"approve: {{install-scripts: ['{scripted}@1.2.0']}}")
    assert not diff_packages(base, widened, exact, resolver=resolve, dependencies=deps).blocked
    # no registry to fetch the releases from: not compared, so it blocks (fail closed)
    blind = diff_packages(base, widened, Policy(), resolver=resolve)
    assert "could not be compared" in found(blind)["dependency-install-script"][0].message


def test_the_findings_carry_the_exact_approval(tmp_path: Path, aged: Aged) -> None:
    from gatekeeper.report.snippets import add_snippets

    cand = app(tmp_path, "1.1.0", {aged.young: "^1.0.0", aged.old: "^1.0.0"})
    result = diff_packages(app(tmp_path, "1.0.0", {}), cand, Policy(), dependencies=deps_of(aged))
    snippets = {f.rule: f.evidence.get("approve") for f in add_snippets(result.findings, cand) if f.blocks}
    assert f"- {aged.young}" in str(snippets["dependency-new-package"])
    assert f"- {aged.old}" in str(snippets["dependency-install-script-history"])


def test_the_publish_gate_looks_dependencies_up_through_the_run(
    tmp_path: Path, aged: Aged, verdaccio: Verdaccio
) -> None:
    """The diff gate of a publish/check run: the young dependency of a minor release blocks there too, and its
    packument is read through the run's context (fetched once per run)."""
    from gatekeeper.gates import diff as gate
    from gatekeeper.steps.run import run_gate
    from tests.test_diff_rules import gate_ctx

    name = verdaccio.unique("gk-gated")
    token = verdaccio.add_user(verdaccio.unique("gated-user"), "gated-password-1")
    d = tmp_path / "base"
    d.mkdir()
    (d / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0"}))
    (d / "index.js").write_text("1\n")
    verdaccio.publish(d, token)
    manifest = {"name": name, "version": "1.1.0", "dependencies": {aged.young: "^1.0.0"}}
    cand = make_tgz({"package.json": json.dumps(manifest), "index.js": "1\n"}, tmp_path / "cand.tgz")
    ctx = gate_ctx(tmp_path, cand, RegistryClient(verdaccio.url))
    res = run_gate("diff", gate.check, ctx)
    assert res.status == "fail" and "dependency-new-package" in {f.rule for f in res.findings}, res
    assert aged.young in ctx.memo.packuments


def test_a_new_package_of_the_same_release_plan_is_not_judged_as_a_stranger(
    tmp_path: Path, verdaccio: Verdaccio, aged: Aged
) -> None:
    """Noise found on real releases (rollup 4.55.1's new platform packages, pino 9.14.0's @pinojs/redact,
    @prisma/client 7.0.0's runtime-utils: a package the same project publishes in the same release): in a release
    plan, such a package is gated in the same run before its dependent and published with it, so the dependent's
    gate found it 'not on the registry' and blocked the whole plan. A new package the plan itself publishes, at a
    version the range allows, warns; one whose planned version the range does not allow, and a package the
    registry already holds (judged by what it says), block as before."""
    import dataclasses

    from gatekeeper.gates import diff as gate
    from gatekeeper.steps.run import run_gate
    from tests.test_diff_rules import gate_ctx

    name, helper = verdaccio.unique("gk-planapp"), verdaccio.unique("gk-planhelper")
    token = verdaccio.add_user(verdaccio.unique("plan-user"), "plan-password-1")
    d = tmp_path / "base"
    d.mkdir()
    (d / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0"}))
    (d / "index.js").write_text("1\n")
    verdaccio.publish(d, token)

    def gated(dep: str, spec: str, planned: str, tag: str) -> Any:
        manifest = {"name": name, "version": "1.1.0", "dependencies": {dep: spec}}
        cand = make_tgz({"package.json": json.dumps(manifest), "index.js": "1\n"}, tmp_path / f"cand-{tag}.tgz")
        ctx = gate_ctx(tmp_path, cand, RegistryClient(verdaccio.url))
        ctx = dataclasses.replace(ctx, siblings={dep: {"name": dep, "version": planned}})
        return run_gate("diff", gate.check, ctx)

    res = gated(helper, "^1.0.0", "1.0.0", "in-range")
    assert res.status != "fail", res.findings
    [warn] = [f for f in res.findings if f.rule == "dependency-added"]
    assert warn.severity is Severity.WARN and "published by this same release" in warn.message
    # consumers cannot get the planned 1.0.0: not on the registry, blocks (and the tree cannot resolve: exit 2 with
    # the findings kept)
    other = gated(helper, "^2.0.0", "1.0.0", "out-of-range")
    assert other.status in ("fail", "error")
    assert any(f.rule == "dependency-new-package" and f.blocks for f in other.findings), other.findings
    # on the registry already (29 days old): the plan's new version of it changes nothing, it is young
    young = gated(aged.young, "^1.0.0", "1.1.0", "young")
    assert any(f.rule == "dependency-new-package" and f.blocks for f in young.findings), young.findings


def test_a_name_in_dependencies_and_optional_dependencies_is_judged_by_the_spec_npm_installs(
    tmp_path: Path, aged: Aged, verdaccio: Verdaccio
) -> None:
    """Red team (threat 2): a name both in `dependencies` and `optionalDependencies` was looked up with the
    `dependencies` range (the first field read), but npm installs the `optionalDependencies` one (premise below,
    with the real npm: it normalises the name out of `dependencies`). A release adding the 31-day-old package at
    `1.1.0` (no install script) there and at `1.0.0` (a postinstall) in optionalDependencies only warned, and its
    consumers ran 1.0.0's postinstall."""

    token = verdaccio.add_user(verdaccio.unique("dual-user"), "dual-password-1")
    lib = verdaccio.unique("gk-duallib")
    manifest = {
        "name": lib,
        "version": "1.1.0",
        "dependencies": {aged.old: "1.1.0"},
        "optionalDependencies": {aged.old: "1.0.0"},
    }
    d = tmp_path / "lib"
    d.mkdir()
    (d / "package.json").write_text(json.dumps(manifest))
    (d / "index.js").write_text("1\n")
    verdaccio.publish(d, token)
    # premise: a consumer's install of the release installs the optionalDependencies version (1.0.0, the postinstall)
    modules = consumer_install(verdaccio, tmp_path / "consumer", {lib: "1.1.0"})
    installed = json.loads((modules / aged.old / "package.json").read_text())
    assert installed["version"] == "1.0.0" and installed["scripts"] == {"postinstall": "node p.js"}

    files = {"package.json": json.dumps({**manifest, "name": "app"}), "i.js": "1\n"}
    cand = read_package(make_tgz(files, tmp_path / "dual-app-1.1.0.tgz"), Policy().diff.limits)
    result = diff_packages(app(tmp_path, "1.0.0", {}), cand, Policy(), dependencies=deps_of(aged))
    [hist] = found(result)["dependency-install-script-history"]
    assert hist.blocks and hist.evidence["versions"] == ["1.0.0"] and result.blocked
    [added] = found(result)["dependency-added"]
    assert added.message.startswith(f'optionalDependencies["{aged.old}"] = "1.0.0"'), added.message
    # the case the consumer-tree diff cannot see (npm picks 1.1.0 today, no install script in the tree): the
    # optional range allows 1.0.0, whose postinstall the history rule is there for
    ranged = {**manifest, "name": "app", "optionalDependencies": {aged.old: "^1.0.0"}}
    cand = read_package(
        make_tgz({"package.json": json.dumps(ranged)}, tmp_path / "dual-app-1.2.0.tgz"), Policy().diff.limits
    )
    result = diff_packages(app(tmp_path, "1.0.0", {}), cand, Policy(), dependencies=deps_of(aged))
    assert [f.evidence["versions"] for f in found(result)["dependency-install-script-history"]] == [["1.0.0"]]


def test_an_optional_peer_range_steering_a_consumer_to_an_install_script_version_blocks(
    tmp_path: Path, aged: Aged, scripted: str, verdaccio: Verdaccio
) -> None:
    """Red team (threat 2): a new optional peer only warned, on the premise that a consumer's install does not
    install it. But where the consumer's tree already holds the package (through another dependency), npm moves
    that copy to a version the optional peer's range allows (premise below, real npm through Verdaccio: without
    the release the tree holds the old package at 1.1.0; with it, at 1.0.0, whose postinstall runs). So a release
    adding the optional peer `old: 1.0.0` steers every such consumer to an install script and got only a warning.
    Now an optional peer's range is checked for install scripts (`dependency-install-script-history`) unless the
    package's `latest` release runs one too (a consumer holding it runs one already: prisma 7.0.0's better-sqlite3,
    vite 8's esbuild stay warnings); its age is still not checked (a consumer holding it chose it)."""

    token = verdaccio.add_user(verdaccio.unique("steer-user"), "steer-password-1")
    other, lib = verdaccio.unique("gk-other"), verdaccio.unique("gk-optlib")
    peer = {"peerDependencies": {aged.old: "1.0.0"}, "peerDependenciesMeta": {aged.old: {"optional": True}}}
    for name, fields in ((other, {"dependencies": {aged.old: "^1.0.0"}}), (lib, peer)):
        d = tmp_path / name
        d.mkdir()
        (d / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0", **fields}))
        (d / "index.js").write_text("1\n")
        verdaccio.publish(d, token)
    # premise: the consumer holding `old` through `other` gets 1.1.0; adding the release moves it to 1.0.0
    for deps, expected in (({other: "1.0.0"}, "1.1.0"), ({other: "1.0.0", lib: "1.0.0"}, "1.0.0")):
        modules = consumer_install(verdaccio, tmp_path / f"consumer-{len(deps)}", deps)
        installed = json.loads((modules / aged.old / "package.json").read_text())
        assert installed["version"] == expected, deps

    def release(version: str, fields: dict[str, Any]) -> Any:
        files = {"package.json": json.dumps({"name": "app", "version": version, **fields}), "i.js": "1\n"}
        return read_package(make_tgz(files, tmp_path / f"steer-app-{version}.tgz"), Policy().diff.limits)

    base = app(tmp_path, "1.0.0", {})
    steered = diff_packages(base, release("1.1.0", peer), Policy(), dependencies=deps_of(aged))
    [hist] = found(steered)["dependency-install-script-history"]
    assert hist.blocks and hist.evidence["versions"] == ["1.0.0"] and steered.blocked
    [added] = found(steered)["dependency-added"]
    assert added.severity is Severity.WARN and "optional peer" in added.message
    # an optional peer the last release already had, its range changed to steer: the same check (before, the name
    # counted as "moved", no finding at all); the unchanged range gives none
    had = {"peerDependencies": {aged.old: ">=1.1.0"}, "peerDependenciesMeta": {aged.old: {"optional": True}}}
    changed = diff_packages(release("1.3.0", had), release("1.4.0", peer), Policy(), dependencies=deps_of(aged))
    [hist] = found(changed)["dependency-install-script-history"]
    assert hist.blocks and hist.evidence["versions"] == ["1.0.0"] and changed.blocked
    assert '(was ">=1.1.0")' in hist.message and "dependency-added" not in found(changed)
    same = diff_packages(release("1.5.0", peer), release("1.6.0", peer), Policy(), dependencies=deps_of(aged))
    assert not same.findings, same.findings
    # its latest release runs an install script: a consumer holding it runs one already -> warns
    always = {"peerDependencies": {scripted: "^1.0.0"}, "peerDependenciesMeta": {scripted: {"optional": True}}}
    inert = diff_packages(base, release("1.2.0", always), Policy(), dependencies=deps_of(aged))
    assert not inert.blocked, inert.findings
    # a young optional peer is still not judged by age (test_a_new_optional_peer_warns_without_the_risk_checks)
