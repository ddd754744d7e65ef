"""Packing with the repository's own package manager (issue 24, item 2): the real pinned pnpm, yarn berry and bun
(gatekeeper/packers/'s lock, installed into .cache by tests/_support/packers.py), real workspaces, the real npm
CLI, and the `unresolved-workspace-range` floor on what they pack."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal import packers
from gatekeeper._internal.tarball import read_package
from gatekeeper.diffing import diff_packages
from gatekeeper.errors import GatekeeperError
from gatekeeper.trust.policy import Policy, parse_policy
from tests._support import packers as packers_support
from tests._support import semrel

RULE = "unresolved-workspace-range"


@pytest.fixture(scope="session")
def packer_tools() -> tuple[Path, Path]:
    """(the pinned tools' node_modules, Node 22's bin dir): pnpm 11 needs Node >= 22.13, as the image ships."""
    return packers_support.ensure_installed(), semrel.ensure_installed().bin_dir


@pytest.fixture
def tools(packer_tools: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    modules, node_bin = packer_tools
    monkeypatch.setenv(packers.MODULES_ENV, str(modules))
    monkeypatch.setenv("PATH", f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    return modules


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2) + "\n")


def manifest_of(packed: Any) -> dict[str, Any]:
    pkg = read_package(packed.path, Policy().diff.limits, label=packed.path.name)
    assert not pkg.unsafe, pkg.problems
    return pkg.manifest


def floor_findings(packed: Any) -> list[Any]:
    pkg = read_package(packed.path, Policy().diff.limits, label=packed.path.name)
    return [f for f in diff_packages(None, pkg, Policy()).findings if f.rule == RULE]


B_SCRIPTS = {"prepack": "node -e \"require('fs').writeFileSync('PREPACK_RAN','')\"", "test": "echo ok"}


def pnpm_workspace(root: Path, package_manager: str | None = "pnpm@11.29.0") -> Path:
    """@acme/a 1.2.3, and @acme/b 2.0.0 that depends on it with `workspace:^` and on left-pad with `catalog:`,
    with publishConfig overrides of main and types, and a prepack script. Returns b's folder."""
    top: dict[str, Any] = {"name": "acme-root", "private": True}
    if package_manager:
        top["packageManager"] = package_manager
    write(root / "package.json", top)
    write(root / "pnpm-workspace.yaml", "packages:\n  - packages/*\ncatalog:\n  left-pad: ^1.3.0\n")
    write(root / "packages/a/package.json", {"name": "@acme/a", "version": "1.2.3", "main": "index.js"})
    write(root / "packages/a/index.js", "module.exports = 1\n")
    b = root / "packages/b"
    write(
        b / "package.json",
        {
            "name": "@acme/b",
            "version": "2.0.0",
            "main": "src/index.js",
            "dependencies": {"@acme/a": "workspace:^", "left-pad": "catalog:"},
            "peerDependencies": {"@acme/a": "workspace:*"},
            "publishConfig": {"main": "dist/index.js", "types": "dist/index.d.ts", "access": "public"},
            "scripts": B_SCRIPTS,
        },
    )
    write(b / "src/index.js", "module.exports = require('@acme/a')\n")
    write(b / "dist/index.js", "module.exports = require('@acme/a')\n")
    write(b / "dist/index.d.ts", "export {}\n")
    return b


# -- choosing the package manager


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"package.json": {"packageManager": "pnpm@10.0.0+sha512.abc"}}, "pnpm"),
        ({"package.json": {"packageManager": "yarn@4.5.0"}, "pnpm-lock.yaml": ""}, "yarn"),
        ({"package.json": {"packageManager": "bun@1.2.0"}}, "bun"),
        ({"package.json": {"packageManager": "npm@11.0.0"}, "pnpm-lock.yaml": ""}, "npm"),
        ({"package.json": {}, "pnpm-lock.yaml": "lockfileVersion: '9.0'\n"}, "pnpm"),
        ({"package.json": {}, "yarn.lock": "__metadata:\n  version: 8\n"}, "yarn"),
        ({"package.json": {}, "bun.lock": "{}"}, "bun"),
        ({"package.json": {}, "bun.lockb": ""}, "bun"),
        ({"package.json": {}, "package-lock.json": "{}"}, "npm"),
        ({"package.json": {}}, "npm"),
        ({}, "npm"),
    ],
)
def test_choose_manager_auto(tmp_path: Path, files: dict[str, Any], expected: str) -> None:
    for name, data in files.items():
        write(tmp_path / name, data)
    assert packers.choose_manager(tmp_path) == expected
    assert packers.choose_manager(tmp_path, "auto") == expected


def test_choose_manager_explicit_wins(tmp_path: Path) -> None:
    write(tmp_path / "package.json", {"packageManager": "pnpm@11.0.0"})
    assert packers.choose_manager(tmp_path, "npm") == "npm"
    assert packers.choose_manager(tmp_path, " Yarn ") == "yarn"


@pytest.mark.parametrize(
    ("files", "requested", "words"),
    [
        ({"package.json": {}}, "deno", "not one of auto"),
        ({"package.json": {"packageManager": "deno@2.0.0"}}, "auto", "cannot pack with"),
        ({"package.json": {"packageManager": ["pnpm"]}}, "auto", "cannot pack with"),
        ({"package.json": {"packageManager": "yarn@1.22.22"}}, "auto", "classic"),
        (
            {"package.json": {}, "yarn.lock": "# THIS IS AN AUTOGENERATED FILE.\n# yarn lockfile v1\n"},
            "auto",
            "classic",
        ),
        ({"package.json": "{not json"}, "auto", "not readable JSON"),
    ],
)
def test_choose_manager_refuses(tmp_path: Path, files: dict[str, Any], requested: str, words: str) -> None:
    for name, data in files.items():
        write(tmp_path / name, data)
    with pytest.raises(GatekeeperError) as err:
        packers.choose_manager(tmp_path, requested)
    assert words in str(err.value) and "Nothing was published" in str(err.value)
    assert "package-manager" in str(err.value)


# -- pnpm


def test_pnpm_packs_a_workspace_package_as_pnpm_does(tools: Path, tmp_path: Path) -> None:
    """workspace:^ and catalog: rewritten to real ranges, publishConfig's main/types applied as pnpm applies them
    (pnpm 11 also drops the publish-time scripts), no script run; the tool and version reported; no floor."""
    b = pnpm_workspace(tmp_path / "repo")
    dest = tmp_path / "out"
    dest.mkdir()
    packed = packers.pack(b, dest, "pnpm", repo_root=tmp_path / "repo")
    assert (packed.manager, packed.manager_version) == ("pnpm", "11.29.0")
    assert (packed.name, packed.version) == ("@acme/b", "2.0.0")
    m = manifest_of(packed)
    assert m["dependencies"] == {"@acme/a": "^1.2.3", "left-pad": "^1.3.0"}
    assert m["peerDependencies"] == {"@acme/a": "1.2.3"}
    assert (m["main"], m["types"]) == ("dist/index.js", "dist/index.d.ts")
    assert "prepack" not in m.get("scripts", {})
    assert not (b / "PREPACK_RAN").exists()
    assert floor_findings(packed) == []


def test_npm_pack_of_the_pnpm_workspace_is_blocked_by_the_floor(tools: Path, tmp_path: Path) -> None:
    """`npm pack` leaves `workspace:^` and `catalog:` literal: the floor blocks, names each range and tells
    to set `package-manager`; the policy cannot lower it."""
    b = pnpm_workspace(tmp_path / "repo")
    dest = tmp_path / "out"
    dest.mkdir()
    packed = packers.pack(b, dest, "npm", repo_root=tmp_path / "repo")
    assert packed.manager == "npm" and packed.manager_version
    assert manifest_of(packed)["dependencies"]["@acme/a"] == "workspace:^"
    found = floor_findings(packed)
    assert {(f.evidence["dependency"], f.evidence["spec"]) for f in found} == {
        ("@acme/a", "workspace:^"),
        ("left-pad", "catalog:"),
        ("@acme/a", "workspace:*"),
    }
    assert all(f.blocks for f in found)
    from gatekeeper.rules import diff as diff_rules

    assert diff_rules.UNRESOLVED_RANGE.floor and "package-manager" in diff_rules.UNRESOLVED_RANGE.fix
    # no approval of the specifier clears it (the old `dependency-source-changed` suggestion is gone)
    policy = parse_policy('approve: {sources: {"@acme/a": "workspace:^"}}')
    pkg = read_package(packed.path, policy.diff.limits, label="b.tgz")
    rules = [f.rule for f in diff_packages(None, pkg, policy).findings]
    assert RULE in rules and "approved-change" not in rules and "dependency-source-changed" not in rules


def test_pnpm_prepack_and_pnpmfile_do_not_run(tools: Path, tmp_path: Path) -> None:
    """Repository code never runs: not the prepack script, not a .pnpmfile.cjs hook (beforePacking)."""
    b = pnpm_workspace(tmp_path / "repo")
    marker = tmp_path / "PNPMFILE_RAN"
    write(
        tmp_path / "repo/.pnpmfile.cjs",
        f"require('fs').writeFileSync({json.dumps(str(marker))}, '1')\n"
        "module.exports = { hooks: { beforePacking(pkg) { pkg.description = 'hooked'; return pkg } } }\n",
    )
    dest = tmp_path / "out"
    dest.mkdir()
    packed = packers.pack(b, dest, "pnpm", repo_root=tmp_path / "repo")
    assert "description" not in manifest_of(packed)
    assert not marker.exists() and not (b / "PREPACK_RAN").exists()


def test_package_manager_field_naming_another_pnpm_packs_with_the_pinned_one(tools: Path, tmp_path: Path) -> None:
    """`packageManager: pnpm@10.0.0`: pnpm 11 would resolve pnpm 10 on the registry it trusts for that (its built-in
    https://registry.npmjs.org/, never the repository's .npmrc), download it and run it. The registry is unreachable
    for the pack step here (the child has no proxy or CA settings of this machine's; a fetch fails the pack: checked
    by removing `--pm-on-fail=ignore`), so packing at all proves no fetch; the pinned 11.29.0 packs and says so, and
    the manifest has pnpm 11's shape (publish-time scripts stripped)."""
    repo = tmp_path / "repo"
    b = pnpm_workspace(repo, package_manager="pnpm@10.0.0")
    dest = tmp_path / "out"
    dest.mkdir()
    assert packers.choose_manager(repo) == "pnpm"
    packed = packers.pack(b, dest, "pnpm", repo_root=repo)
    assert (packed.manager, packed.manager_version) == ("pnpm", "11.29.0")
    m = manifest_of(packed)
    assert m["dependencies"]["@acme/a"] == "^1.2.3" and "prepack" not in m.get("scripts", {})


def test_pnpm_failure_is_a_clear_error(tools: Path, tmp_path: Path) -> None:
    b = pnpm_workspace(tmp_path / "repo")
    write(b / "package.json", {"name": "@acme/b", "version": "2.0.0", "dependencies": {"@acme/zz": "workspace:^"}})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(GatekeeperError) as err:
        packers.pack(b, dest, "pnpm", repo_root=tmp_path / "repo")
    text = str(err.value)
    assert "`pnpm pack` (pnpm 11.29.0) failed" in text and "Nothing was published" in text
    assert list(dest.iterdir()) == []


def test_a_swapped_tool_is_refused(tools: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed tool must be the pinned version (a folder holding another pnpm is not used)."""
    fake = tmp_path / "modules/pnpm"
    write(fake / "package.json", {"name": "pnpm", "version": "10.0.0"})
    write(fake / "bin/pnpm.mjs", "process.exit(0)\n")
    monkeypatch.setenv(packers.MODULES_ENV, str(tmp_path / "modules"))
    b = pnpm_workspace(tmp_path / "repo")
    with pytest.raises(GatekeeperError, match=r"not the pinned 11\.29\.0"):
        packers.pack(b, tmp_path, "pnpm", repo_root=tmp_path / "repo")


# -- yarn berry


def yarn_workspace(root: Path, tools: Path, *, scripts: dict[str, str] | None = None) -> Path:
    """A Yarn 4 workspace (its install run by the pinned yarn, as the release job runs it before packing), with a
    `yarnPath` pointing at a release file that must never run."""
    write(
        root / "package.json",
        {"name": "acme-root", "private": True, "packageManager": "yarn@4.5.0", "workspaces": ["packages/*"]},
    )
    write(root / ".yarnrc.yml", "nodeLinker: node-modules\nenableTelemetry: false\n")
    write(root / "packages/a/package.json", {"name": "@acme/a", "version": "1.2.3", "main": "index.js"})
    write(root / "packages/a/index.js", "module.exports = 1\n")
    b = root / "packages/b"
    write(
        b / "package.json",
        {
            "name": "@acme/b",
            "version": "2.0.0",
            "main": "src/index.js",
            "dependencies": {"@acme/a": "workspace:^"},
            "publishConfig": {"main": "dist/index.js"},
            **({"scripts": scripts} if scripts else {}),
        },
    )
    write(b / "src/index.js", "module.exports = 2\n")
    write(b / "dist/index.js", "module.exports = 2\n")
    node = Path(os.environ["PATH"].split(os.pathsep)[0]) / "node"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root.parent / "yarn-home"),
        "YARN_ENABLE_TELEMETRY": "0",
        "YARN_ENABLE_GLOBAL_CACHE": "0",
    }
    subprocess.run(
        [str(node), str(tools / "@yarnpkg/cli-dist/bin/yarn.js"), "install"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return b


def test_yarn_packs_a_workspace_package_as_yarn_does(tools: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    b = yarn_workspace(repo, tools)
    marker = tmp_path / "YARNPATH_RAN"
    write(repo / ".yarn/releases/yarn-evil.cjs", f"require('fs').writeFileSync({json.dumps(str(marker))}, '1')\n")
    with (repo / ".yarnrc.yml").open("a") as fh:
        fh.write("yarnPath: .yarn/releases/yarn-evil.cjs\n")
    assert packers.choose_manager(repo) == "yarn"
    dest = tmp_path / "out"
    dest.mkdir()
    packed = packers.pack(b, dest, "yarn", repo_root=repo)
    assert (packed.manager, packed.manager_version, packed.name) == ("yarn", "4.18.1", "@acme/b")
    m = manifest_of(packed)
    assert m["dependencies"] == {"@acme/a": "^1.2.3"} and m["main"] == "dist/index.js"
    assert not marker.exists()  # the repository's yarnPath release did not run: the pinned yarn packed
    assert floor_findings(packed) == []


def test_yarn_refuses_a_package_whose_prepack_it_would_run(tools: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    b = yarn_workspace(repo, tools, scripts={"prepack": "node -e \"require('fs').writeFileSync('PREPACK_RAN','')\""})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(GatekeeperError) as err:
        packers.pack(b, dest, "yarn", repo_root=repo)
    assert "`prepack`" in str(err.value) and "no switch" in str(err.value)
    assert not (b / "PREPACK_RAN").exists() and list(dest.iterdir()) == []


def test_yarn_refuses_rc_plugins(tools: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    b = yarn_workspace(repo, tools)
    with (repo / ".yarnrc.yml").open("a") as fh:
        fh.write("plugins:\n  - path: .yarn/plugins/evil.cjs\n")
    with pytest.raises(GatekeeperError, match="Yarn plugins"):
        packers.pack(b, tmp_path, "yarn", repo_root=repo)


# -- bun


def test_bun_packs_a_workspace_package(tools: Path, tmp_path: Path) -> None:
    if not (tools / "@oven/bun-linux-x64/bin/bun").is_file():
        pytest.skip("the pinned bun is for linux-x64 only")
    repo = tmp_path / "repo"
    write(repo / "package.json", {"name": "acme-root", "private": True, "workspaces": ["packages/*"]})
    write(repo / "packages/a/package.json", {"name": "@acme/a", "version": "1.2.3"})
    b = repo / "packages/b"
    write(
        b / "package.json",
        {"name": "@acme/b", "version": "2.0.0", "dependencies": {"@acme/a": "workspace:^"}, "scripts": B_SCRIPTS},
    )
    write(b / "index.js", "module.exports = 2\n")
    write(repo / "bun.lock", "{}\n")
    assert packers.choose_manager(repo) == "bun"
    dest = tmp_path / "out"
    dest.mkdir()
    packed = packers.pack(b, dest, "bun", repo_root=repo)
    assert (packed.manager, packed.manager_version) == ("bun", "1.4.5")
    assert manifest_of(packed)["dependencies"] == {"@acme/a": "^1.2.3"}
    assert not (b / "PREPACK_RAN").exists()
    assert floor_findings(packed) == []


# -- the floor, whatever packed the tarball


def test_floor_spares_bundled_and_dev_dependencies(tmp_path: Path) -> None:
    from tests._support.tarballs import make_tgz, package_json

    tgz = make_tgz(
        {
            "package.json": package_json(
                dependencies={"vendored": "file:./vendored", "x": "link:../x"},
                bundleDependencies=["vendored"],
                devDependencies={"tools": "workspace:*"},
            )
        },
        tmp_path / "p.tgz",
    )
    pkg = read_package(tgz, Policy().diff.limits, label="p.tgz")
    found = [f for f in diff_packages(None, pkg, Policy()).findings if f.rule == RULE]
    assert [(f.evidence["dependency"], f.evidence["spec"]) for f in found] == [("x", "link:../x")]
    assert found[0].file == "package.json" and found[0].line
