"""The release diff engine: baseline package vs candidate package -> delta + findings.

Pure: no network, no disk. `diff_packages(baseline, candidate, policy)` compares
the files (by bytes, sizes reported) and the package.json fields, then applies
the install-time rules declared below. Content checks only look at what is new:
added files, and the added lines of changed files (found by an anchored diff that
skips identical runs with `bytes.find`, so large, mostly-equal files cost little).
Approvals in `policy.approve` are exact; an approved change is reported as
`approved-change` (info) instead of its blocking rule.

Rules of the registry side (baseline download, signatures, first release, version
already published) live in `gatekeeper.gates.diff`.
"""

from __future__ import annotations

import bisect
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from ._internal import markdown, semver
from ._internal.tarball import Package
from .findings import Finding, Severity
from .policy import Policy
from .rules import Rule, rule

# ---------------------------------------------------------------- rules

LIFECYCLE_ADDED = rule(
    "lifecycle-script-added",
    Severity.BLOCK,
    "An install-time lifecycle script was added",
    'If intended, approve the exact command: `approve: {scripts: {postinstall: "<command>"}}`; otherwise remove it.',
)
LIFECYCLE_CHANGED = rule(
    "lifecycle-script-changed",
    Severity.BLOCK,
    "An install-time lifecycle script's command changed",
    "If intended, approve the exact new command in `approve.scripts`; otherwise restore the previous command.",
)
LIFECYCLE_REMOVED = rule(
    "lifecycle-script-removed",
    Severity.BLOCK,
    "An install-time lifecycle script was removed",
    'If intended, approve the removal with an empty command: `approve: {scripts: {postinstall: ""}}`.',
)
INSTALL_CODE_CHANGED = rule(
    "install-script-code-changed",
    Severity.BLOCK,
    "Code that an install script runs changed",
    "Review the file; if intended, approve its path in `approve.files` (scripts by text in `approve.scripts`).",
)
NATIVE_BUILD_ADDED = rule(
    "native-build-added",
    Severity.BLOCK,
    "npm will now run `node-gyp rebuild` at install time",
    "If the native build is intended, approve it with `approve: {files: [binding.gyp]}`; else drop binding.gyp.",
)
DEPENDENCY_ADDED = rule(
    "dependency-added",
    Severity.BLOCK,
    "A dependency was added (blocks in a patch release, warns otherwise)",
    "If intended, approve it by name: `approve: {dependencies: [name]}`, or release it as a minor version.",
)
DEPENDENCY_SOURCE = rule(
    "dependency-source-changed",
    Severity.BLOCK,
    "A dependency now comes from outside the registry (git, URL, file, link, alias)",
    'Depend on a registry version, or approve the exact specifier: `approve: {sources: {name: "<spec>"}}`.',
)
BUNDLED_CHANGED = rule(
    "bundled-dependencies-changed",
    Severity.BLOCK,
    "Bundled dependencies (shipped inside the tarball) changed",
    "Review the bundled code; if intended, approve the bundled package names in `approve.dependencies`.",
)
BIN_CHANGED = rule(
    "bin-changed",
    Severity.BLOCK,
    "A bin entry was added or now points at another file",
    'If intended, approve the exact target: `approve: {bin: {name: "<path>"}}`.',
)
ENTRYPOINT_CHANGED = rule(
    "entrypoint-changed",
    Severity.WARN,
    "main/exports/module/browser points at a new file",
    "Check the new entry file is the one you meant to ship; approve its path in `approve.files` to silence this.",
)
SENSITIVE_FILE = rule(
    "sensitive-file",
    Severity.BLOCK,
    "A credential or secret-bearing file is in the tarball",
    "Remove it (add it to .npmignore or narrow `files` in package.json) and revoke any credential it held.",
)
EXECUTABLE_BINARY = rule(
    "executable-binary-added",
    Severity.BLOCK,
    "A native executable or Node addon (ELF, Mach-O, PE, .node) was added or replaced",
    "Build binaries in CI from source you review; if intended, approve the path in `approve.files`.",
)
OBFUSCATED_CODE = rule(
    "obfuscated-code",
    Severity.BLOCK,
    "Added or changed JavaScript looks obfuscated",
    "Ship readable source; if the code is legitimate (e.g. an embedded wasm blob), approve its path in `approve.files`",
)
VERSION_NOT_INCREASING = rule(
    "version-not-increasing",
    Severity.BLOCK,
    "The version is not valid semver or not above the last release",
    "Set a valid semver version above the last release in package.json.",
)
LARGE_CHANGE = rule(
    "large-change",
    Severity.WARN,
    "Many files or bytes were added",
    "Check nothing unintended is packed (`npm pack --dry-run`); tune `diff.large-change` in the policy.",
)
TARBALL_UNSAFE = rule(
    "tarball-unsafe",
    Severity.BLOCK,
    "The tarball is unsafe or malformed (paths, links, devices, duplicates, size limits, package.json)",
    "Pack with `npm pack` from a clean checkout; raise `diff.limits` in the policy only for a known large package.",
)
APPROVED = rule(
    "approved-change",
    Severity.INFO,
    "An install-time change matched an exact approval in the policy",
    "Nothing to do; remove the approval from the policy once the release is out.",
)

INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")
#: Run only for git/directory installs of the package: reported, not blocking.
GIT_SCRIPTS = ("preprepare", "prepare", "postprepare")
DEP_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")
ENTRY_FIELDS = ("main", "module", "browser", "exports")
JS_EXTENSIONS = (".js", ".cjs", ".mjs", ".jsx")
TEXT_SCAN_LIMIT = 32 * 1024 * 1024
MAX_INSTALL_FILES = 2000

# ---------------------------------------------------------------- result types


@dataclass(frozen=True)
class FileChange:
    """A file added, removed, changed (bytes) or whose mode changed."""

    path: str
    status: str  # added | removed | changed | mode
    old_size: int | None
    new_size: int | None

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "status": self.status, "old_size": self.old_size, "new_size": self.new_size}


@dataclass(frozen=True)
class FieldChange:
    """A top-level package.json field whose value changed (None: absent)."""

    field: str
    old: Any
    new: Any
    line: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"field": self.field, "old": self.old, "new": self.new, "line": self.line}


@dataclass
class DiffResult:
    """The delta between baseline and candidate, and the findings about it."""

    name: str
    version: str
    baseline_version: str | None
    files: list[FileChange] = field(default_factory=list)
    fields: list[FieldChange] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    release_type: str = ""
    #: Where the baseline came from and how it was verified (filled by the gate / CLI).
    baseline: dict[str, object] | None = None

    def by_status(self, status: str) -> list[FileChange]:
        return [f for f in self.files if f.status == status]

    @property
    def blocked(self) -> bool:
        return any(f.blocks for f in self.findings)

    def summary(self) -> dict[str, int]:
        added, removed = self.by_status("added"), self.by_status("removed")
        return {
            "added": len(added),
            "removed": len(removed),
            "changed": len(self.by_status("changed")),
            "mode": len(self.by_status("mode")),
            "added_bytes": sum(f.new_size or 0 for f in added),
            "removed_bytes": sum(f.old_size or 0 for f in removed),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "baseline_version": self.baseline_version,
            "release_type": self.release_type,
            "summary": self.summary(),
            "files": [f.to_json() for f in self.files],
            "fields": [f.to_json() for f in self.fields],
        }

    def to_text(self, max_files: int = 200) -> str:
        """A readable delta for a terminal."""
        base = f"{self.name}@{self.baseline_version}" if self.baseline_version else "(nothing: first release)"
        s = self.summary()
        out = [
            f"{self.name}@{self.version} against {base}",
            f"files: {s['added']} added (+{_size(s['added_bytes'])}), {s['removed']} removed "
            f"(-{_size(s['removed_bytes'])}), {s['changed']} changed, {s['mode']} mode changed",
        ]
        marks = {"added": "+", "removed": "-", "changed": "~", "mode": "m"}
        for f in self.files[:max_files]:
            out.append(f"  {marks[f.status]} {f.path}  {_sizes(f)}")
        if len(self.files) > max_files:
            out.append(f"  … and {len(self.files) - max_files} more")
        if self.fields:
            out.append("package.json fields changed:")
            for c in self.fields:
                out.append(f"  {c.field}: {_short(c.old)} -> {_short(c.new)}")
        return "\n".join(out) + "\n"

    def to_markdown(self, max_files: int = 200) -> str:
        """The delta as Markdown (job summary / `--format markdown`)."""
        base = f"`{self.name}@{self.baseline_version}`" if self.baseline_version else "nothing (first release)"
        s = self.summary()
        out = [
            f"### Release diff: `{self.name}@{self.version}` against {base}",
            "",
            f"{s['added']} added (+{_size(s['added_bytes'])}), {s['removed']} removed "
            f"(-{_size(s['removed_bytes'])}), {s['changed']} changed, {s['mode']} mode changed.",
            "",
        ]
        if self.files:
            out += ["| | File | Size |", "| --- | --- | --- |"]
            icons = {"added": "added", "removed": "removed", "changed": "changed", "mode": "mode"}
            for f in self.files[:max_files]:
                out.append(f"| {icons[f.status]} | {markdown.code(f.path)} | {_sizes(f)} |")
            if len(self.files) > max_files:
                out.append(f"| | … and {len(self.files) - max_files} more | |")
            out.append("")
        if self.fields:
            out += ["| package.json field | Before | After |", "| --- | --- | --- |"]
            for c in self.fields:
                old, new = markdown.text(_short(c.old)), markdown.text(_short(c.new))
                out.append(f"| {markdown.code(c.field)} | {old} | {new} |")
            out.append("")
        return "\n".join(out) + "\n"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, step in (("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n} B"


def _sizes(f: FileChange) -> str:
    if f.status == "added":
        return _size(f.new_size)
    if f.status == "removed":
        return _size(f.old_size)
    delta = (f.new_size or 0) - (f.old_size or 0)
    return f"{_size(f.old_size)} -> {_size(f.new_size)} ({'+' if delta >= 0 else '-'}{_size(abs(delta))})"


def _short(value: Any, limit: int = 160) -> str:
    if value is None:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- entry point


def diff_packages(baseline: Package | None, candidate: Package, policy: Policy) -> DiffResult:
    """Diff two read packages (baseline None: first release) and apply the diff rules."""
    result = DiffResult(candidate.name, candidate.version, baseline.version if baseline else None)
    unsafe = _safety(baseline, candidate)
    result.findings += unsafe
    if any(f.blocks for f in unsafe):
        return result
    result.files = _file_delta(baseline, candidate)
    result.fields = _field_delta(baseline, candidate)
    _Checker(baseline, candidate, policy, result).run()
    return result


def _safety(baseline: Package | None, candidate: Package) -> list[Finding]:
    out: list[Finding] = []
    for pkg, which in ((candidate, "candidate"), (baseline, "baseline")):
        if pkg is None:
            continue
        label = pkg.label or which
        # A per-entry rejection in the *baseline* (e.g. a symlink npm drops) does not make this release
        # unsafe; an incomplete read does (the diff would be meaningless).
        severity = None if which == "candidate" or not pkg.complete else Severity.WARN
        for problem in pkg.problems:
            out.append(TARBALL_UNSAFE(f"The {which} tarball {label} {problem}", severity=severity, tarball=which))
        if pkg.manifest_error and pkg.complete:
            out.append(TARBALL_UNSAFE(f"The {which} tarball {label}: {pkg.manifest_error}", file="package.json"))
    return out


def _file_delta(baseline: Package | None, candidate: Package) -> list[FileChange]:
    old = baseline.files if baseline else {}
    new = candidate.files
    out: list[FileChange] = []
    for path in sorted(new.keys() | old.keys()):
        n, o = new.get(path), old.get(path)
        if o is None and n is not None:
            out.append(FileChange(path, "added", None, n.size))
        elif n is None and o is not None:
            out.append(FileChange(path, "removed", o.size, None))
        elif n is not None and o is not None:
            if n.data != o.data:
                out.append(FileChange(path, "changed", o.size, n.size))
            elif (n.mode & 0o111) != (o.mode & 0o111):
                out.append(FileChange(path, "mode", o.size, n.size))
    return out


def _field_delta(baseline: Package | None, candidate: Package) -> list[FieldChange]:
    old = baseline.manifest if baseline else {}
    new = candidate.manifest
    keys = list(new) + [k for k in old if k not in new]
    return [FieldChange(k, old.get(k), new.get(k), candidate.line_of(k)) for k in keys if old.get(k) != new.get(k)]


# ---------------------------------------------------------------- helpers on manifests


def _scripts(pkg: Package | None) -> dict[str, str]:
    raw = pkg.manifest.get("scripts") if pkg else None
    if not isinstance(raw, dict):
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def _native_build(pkg: Package | None) -> bool:
    """npm runs `node-gyp rebuild` when binding.gyp exists, gypfile is not false and no (pre)install script."""
    if pkg is None or "binding.gyp" not in pkg.files or pkg.manifest.get("gypfile") is False:
        return False
    scripts = _scripts(pkg)
    return "install" not in scripts and "preinstall" not in scripts


def _deps(pkg: Package | None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name in DEP_FIELDS:
        raw = pkg.manifest.get(name) if pkg else None
        if isinstance(raw, dict):
            out[name] = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    return out


_GIT_PREFIXES = ("git+", "git:", "git://", "github:", "gitlab:", "bitbucket:", "gist:")
_SHORTHAND = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(?:#.*)?$")


def spec_kind(spec: str) -> str:
    """Classify a dependency specifier like npm-package-arg: registry | git | url | file | alias | workspace."""
    s = spec.strip()
    low = s.lower()
    if low.startswith("npm:"):
        return "alias"
    if low.startswith("workspace:"):
        return "workspace"
    if low.startswith(("file:", "link:")) or s.startswith((".", "/", "~/")) or re.match(r"^[A-Za-z]:[/\\]", s):
        return "file"
    if low.startswith(("http://", "https://")):
        return "git" if low.split("#")[0].endswith(".git") else "url"
    if low.startswith(_GIT_PREFIXES):
        return "git"
    if _SHORTHAND.match(s):
        return "git"  # user/repo: GitHub shorthand
    if low.endswith((".tgz", ".tar.gz", ".tar")):
        return "file"
    return "registry"


def _bundled(pkg: Package | None) -> set[str]:
    if pkg is None:
        return set()
    raw = pkg.manifest.get("bundleDependencies", pkg.manifest.get("bundledDependencies"))
    if raw is True:
        deps = pkg.manifest.get("dependencies")
        return set(deps) if isinstance(deps, dict) else set()
    return {str(x) for x in raw} if isinstance(raw, list) else set()


def _norm(path: str) -> str:
    """`./lib/x.js` -> `lib/x.js` (package-relative)."""
    path = path.replace("\\", "/").strip()
    norm = posixpath.normpath(path) if path else ""
    return "" if norm in (".", "") else norm.lstrip("/")


def _bins(pkg: Package | None) -> dict[str, str]:
    if pkg is None:
        return {}
    raw = pkg.manifest.get("bin")
    out: dict[str, str] = {}
    if isinstance(raw, str):
        out[pkg.name.split("/")[-1]] = _norm(raw)
    elif isinstance(raw, dict):
        out.update({str(k): _norm(v) for k, v in raw.items() if isinstance(v, str)})
    directories = pkg.manifest.get("directories")
    if not raw and isinstance(directories, dict) and isinstance(directories.get("bin"), str):
        prefix = _norm(directories["bin"]) + "/"
        out.update({posixpath.basename(p): p for p in pkg.files if p.startswith(prefix)})
    return out


def _entry_targets(pkg: Package | None) -> dict[str, str]:
    """Entry target path -> where it is declared, e.g. {"lib/x.js": 'exports["."].require'}."""
    out: dict[str, str] = {}
    if pkg is None:
        return out

    def walk(value: Any, where: str) -> None:
        if isinstance(value, str):
            out.setdefault(_norm(value), where)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}[{json.dumps(k)}]")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")

    manifest = pkg.manifest
    walk(manifest.get("main", "index.js"), "main")
    for name in ENTRY_FIELDS[1:]:
        if name in manifest:
            walk(manifest[name], name)
    return out


# ---------------------------------------------------------------- content analysis

_CHUNK = 32 * 1024
_WINDOW = 64 * 1024


def added_lines(old: bytes, new: bytes) -> list[tuple[int, bytes]]:
    """Lines of `new` not present in the matching region of `old`, as (offset in new, line)."""
    out: list[tuple[int, bytes]] = []
    if not old:
        _line_diff(b"", new, 0, out)
        return out
    n = len(new)
    grow, shrink = max(_WINDOW, n - len(old)), max(_WINDOW, len(old) - n)
    view = memoryview(new)
    pos = pending = cursor = 0
    while pos < n:
        end = new.find(b"\n", pos + _CHUNK)
        end = n if end < 0 else end + 1
        expected = cursor + (pos - pending)
        found = old.find(view[pos:end], max(cursor, expected - grow), expected + (end - pos) + shrink)
        if found >= 0:
            if pending < pos:
                _line_diff(old[cursor:found], new[pending:pos], pending, out)
            cursor, pending = found + (end - pos), end
        pos = end
    if pending < n:
        _line_diff(old[cursor:], new[pending:], pending, out)
    return out


def _line_diff(old: bytes, new: bytes, base: int, out: list[tuple[int, bytes]]) -> None:
    old_set = set(old.split(b"\n")) if old else set()
    off = base
    for line in new.split(b"\n"):
        if line.strip() and line not in old_set:
            out.append((off, line))
        off += len(line) + 1


def _is_text(data: bytes) -> bool:
    return b"\0" not in data[:8192]


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _first_diff_line(old: bytes | None, new: bytes) -> int | None:
    """The line of `new` where it first differs from `old` (chunked memcmp, then bytes)."""
    if not old:
        return 1 if new else None
    limit, step, pos = min(len(old), len(new)), 64 * 1024, 0
    while pos < limit and old[pos : pos + step] == new[pos : pos + step]:
        pos += step
    end = min(pos + step, limit)
    while pos < end and old[pos] == new[pos]:
        pos += 1
    if pos == len(old) and new[pos : pos + 1] == b"\n":
        pos += 1  # lines appended after the old last line start on the next line
    return _line_at(new, pos)


# Every pattern starts with a literal so `re` can skip ahead fast; word boundaries are checked in `_search`.
_SECRETS: tuple[tuple[str, tuple[re.Pattern[bytes], ...]], ...] = (
    ("an npm access token", (re.compile(rb"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),)),
    (
        "a GitHub token",
        (
            re.compile(rb"gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9])"),
            re.compile(rb"github_pat_[A-Za-z0-9_]{60,255}(?![A-Za-z0-9_])"),
        ),
    ),
    (
        "an AWS access key id",
        (re.compile(rb"AKIA[0-9A-Z]{16}(?![0-9A-Za-z])"), re.compile(rb"ASIA[0-9A-Z]{16}(?![0-9A-Za-z])")),
    ),
    (
        "a private key",
        (re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"),),
    ),
    ("an npm auth token setting", (re.compile(rb"_authToken\s*=\s*(?!\$\{)[A-Za-z0-9_\-.:]{16,}"),)),
)
_ENV_OK = {"example", "sample", "template", "dist", "defaults", "schema", "test"}
_KEY_NAMES = re.compile(r"^id_(?:rsa|dsa|ecdsa|ed25519)(?!.*\.pub$)")


def _search(
    text: bytes, patterns: tuple[re.Pattern[bytes], ...], count: int = 1, *, boundary: bool = True
) -> re.Match[bytes] | None:
    """The earliest match (starting at a word boundary), if at least `count` such matches exist in all."""
    best: re.Match[bytes] | None = None
    hits = 0
    for pattern in patterns:
        for m in pattern.finditer(text):
            before = text[m.start() - 1 : m.start()] if boundary else b""
            if before and (before.isalnum() or before in b"_$"):
                continue
            hits += 1
            if best is None or m.start() < best.start():
                best = m
            if hits >= count:
                break
    return best if hits >= count else None


def _sensitive_path(path: str) -> str | None:
    parts = path.split("/")
    base = parts[-1]
    low = base.lower()
    if ".git" in parts[:-1]:
        return "a file inside a .git folder"
    if low in (".npmrc", ".netrc", ".git-credentials", ".pypirc"):
        return f"a {base} credentials file"
    if low == ".env" or (low.startswith(".env.") and low.split(".")[-1] not in _ENV_OK):
        return "an environment file (.env)"
    if low.endswith((".pem", ".p12", ".pfx")):
        return "a key/certificate file"
    if _KEY_NAMES.match(low):
        return "an SSH private key file"
    return None


_DECODED = (
    rb"\s*\([^;]{0,200}?"
    rb"(?:atob\s*\(|Buffer\.from\s*\(|fromCharCode|decodeURIComponent\s*\(|unescape\s*\(|createDecipher)"
)
_EVAL_DECODE = tuple(
    re.compile(re.escape(name) + _DECODED)
    for name in (b"eval", b"Function", b"runInThisContext", b"runInNewContext", b"runInContext", b"_compile")
)
_BLOB = (
    re.compile(rb"[\"'`][A-Za-z0-9+/]{1000,}={0,2}[\"'`]"),
    re.compile(rb"[\"'`](?:[0-9a-fA-F]{2}){400,}[\"'`]"),
)
# Escapes of *printable ASCII* (`\x65\x76\x61\x6c` is "eval"); Unicode-range tables (`\u05BD`) are not counted.
_ESCAPES = (
    re.compile(rb"\\x[2-7][0-9a-fA-F](?:\\x[2-7][0-9a-fA-F]){7,}"),
    re.compile(rb"\\u00[2-7][0-9a-fA-F](?:\\u00[2-7][0-9a-fA-F]){7,}"),
)
_OBFUSCATOR_ID = (re.compile(rb"_0x[0-9a-f]{4,6}(?![0-9A-Za-z_$])"),)
LONG_LINE = 3000
MINIFIED_LINE = 1000
_LONG_LINE_RE = re.compile(rb"[^\n]{%d}" % MINIFIED_LINE)

_REQUIRE = re.compile(
    rb"""(?:\brequire|\bimport)\s*\(\s*(['"`])([^'"`\n]{1,300})\1"""
    rb"""|\b(?:from|import)\s*(['"])([^'"\n]{1,300})\3"""
    rb"""|__dirname\s*(?:,|\+)\s*(['"`])([^'"`\n]{1,300})\5"""
)
_NODE_EXTS = ("", ".js", ".cjs", ".mjs", ".json", ".node")


@dataclass
class _Added:
    """The new text of a changed/added file: its added lines joined, with offsets back into the file."""

    text: bytes
    starts: list[int]  # offset of each line in `text`
    offsets: list[int]  # offset of the same line in the file

    def file_offset(self, pos: int) -> int:
        i = bisect.bisect_right(self.starts, pos) - 1
        return self.offsets[i] + (pos - self.starts[i])


class _Checker:
    """Applies every content/manifest rule to one baseline/candidate pair."""

    def __init__(self, baseline: Package | None, candidate: Package, policy: Policy, result: DiffResult) -> None:
        self.old = baseline
        self.new = candidate
        self.policy = policy
        self.approve = policy.approve
        self.result = result
        self.first = baseline is None
        self.status = {f.path: f.status for f in result.files}
        self._added_cache: dict[str, _Added] = {}
        old_v, new_v = semver.parse(baseline.version) if baseline else None, semver.parse(candidate.version)
        if old_v and new_v:
            result.release_type = semver.release_type(old_v, new_v)
        else:
            result.release_type = "first" if self.first else "unknown"

    # -- emitting

    def emit(self, r: Rule, message: str, **kw: Any) -> None:
        self.result.findings.append(r(message, **kw))

    def approved(self, what: str, message: str, **kw: Any) -> None:
        self.emit(APPROVED, f"{message} — approved by `approve.{what}`", **kw)

    def exact(self, r: Rule, key: str, approval: str | None, matches: bool, text: str, **kw: Any) -> None:
        """`approved-change` when `approve.<key>` matches exactly; else `r`, saying what the approval was."""
        if matches:
            self.approved(key, text, file=kw.get("file"), line=kw.get("line"))
            return
        if approval is not None:
            text += f" (approve.{key} is {json.dumps(approval)}, which does not match)"
        self.emit(r, text, **kw)

    def file_approved(self, path: str) -> bool:
        return path in self.approve.files

    def run(self) -> None:
        self.version()
        self.lifecycle()
        self.native_build()
        self.install_code()
        self.dependencies()
        self.sources()
        if not self.first:
            self.bundled()
            self.bins()
            self.entrypoints()
            self.large_change()
        self.files()

    # -- rules

    def version(self) -> None:
        version = self.new.version
        line = self.new.line_of("version")
        parsed = semver.parse(version)
        if parsed is None:
            self.emit(
                VERSION_NOT_INCREASING, f"version {version!r} is not valid semver", file="package.json", line=line
            )
            return
        old = semver.parse(self.old.version) if self.old else None
        if old is not None and parsed <= old:
            self.emit(
                VERSION_NOT_INCREASING,
                f"version {version} is not above the baseline {self.old.version if self.old else ''}",
                file="package.json",
                line=line,
            )

    def lifecycle(self) -> None:
        old, new = _scripts(self.old), _scripts(self.new)
        for name in INSTALL_SCRIPTS + GIT_SCRIPTS:
            before, after = old.get(name), new.get(name)
            if before == after:
                continue
            severity = Severity.WARN if name in GIT_SCRIPTS else None
            line = self.new.line_of("scripts", name) if after is not None else self.new.line_of("scripts")
            approval = self.approve.scripts.get(name)
            if after is None:
                r, text = LIFECYCLE_REMOVED, f"{name} script removed (was {json.dumps(before)})"
                ok = approval == ""
            elif before is None:
                r, text = LIFECYCLE_ADDED, f"{name} script added: {json.dumps(after)}"
                ok = approval == after
            else:
                r, text = LIFECYCLE_CHANGED, f"{name} script changed: {json.dumps(before)} -> {json.dumps(after)}"
                ok = approval == after
            self.exact(
                r,
                f"scripts.{name}",
                approval,
                ok,
                text,
                file="package.json",
                line=line,
                severity=severity,
                script=name,
                old=before,
                new=after,
            )

    def native_build(self) -> None:
        if not _native_build(self.new) or _native_build(self.old):
            return
        why = "binding.gyp was added" if not self.old or "binding.gyp" not in self.old.files else "gypfile turned on"
        text = f"{why} and there is no install/preinstall script: npm will run `node-gyp rebuild` at install time"
        if self.file_approved("binding.gyp"):
            self.approved("files", text, file="binding.gyp")
        else:
            self.emit(NATIVE_BUILD_ADDED, text, file="binding.gyp")

    def install_code(self) -> None:
        """Files an install script runs (and what they require inside the package) that are new or changed."""
        if self.first:
            return
        new_scripts, old_scripts = _scripts(self.new), _scripts(self.old)
        commands = [(name, new_scripts[name]) for name in INSTALL_SCRIPTS if name in new_scripts]
        if _native_build(self.new) and _native_build(self.old):  # (newly on: native-build-added reports it)
            commands.append(("install", "node-gyp rebuild"))
        reported: set[str] = set()
        for script, command in commands:
            files, called = self._command_files(command, new_scripts)
            for called_name in called:
                key = f"scripts.{called_name}"
                if key in reported or new_scripts.get(called_name) == old_scripts.get(called_name):
                    continue
                reported.add(key)
                self.emit(
                    INSTALL_CODE_CHANGED,
                    f"{script} runs {json.dumps(command)}, which runs script {called_name!r}, and that changed: "
                    f"{json.dumps(old_scripts.get(called_name))} -> {json.dumps(new_scripts.get(called_name))}",
                    file="package.json",
                    line=self.new.line_of("scripts", called_name),
                )
            for path, via in self._closure(files).items():
                status = self.status.get(path)
                if status not in ("added", "changed") or path in reported:
                    continue
                reported.add(path)
                how = "runs" if via is None else f"loads (through {via})"
                text = f"{script} script {json.dumps(command)} {how} {path}, which was {status}"
                if self.file_approved(path):
                    self.approved("files", text, file=path)
                    continue
                old = self.old.files.get(path) if self.old else None
                line = _first_diff_line(old.data if old else None, self.new.files[path].data)
                self.emit(INSTALL_CODE_CHANGED, text, file=path, line=line, script=script)

    def _command_files(self, command: str, scripts: dict[str, str], depth: int = 0) -> tuple[list[str], list[str]]:
        """Package files a shell command runs, and the package scripts it calls (`npm run x`)."""
        files: list[str] = []
        called: list[str] = []
        if depth > 5:
            return files, called
        for segment in re.split(r"&&|\|\||[;|&\n]", command):
            try:
                argv = shlex.split(segment)
            except ValueError:
                argv = segment.split()
            while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
                argv.pop(0)  # FOO=bar node x.js
            if argv and argv[0] in ("cross-env", "env", "exec", "nohup"):
                argv.pop(0)
                while argv and "=" in argv[0]:
                    argv.pop(0)
            if not argv:
                continue
            prog = posixpath.basename(argv[0])
            args = argv[1:]
            if prog in ("node", "nodejs", "bun", "deno"):
                files += self._node_args(args)
            elif prog in ("sh", "bash", "dash", "zsh"):
                if "-c" in args and args.index("-c") + 1 < len(args):
                    sub_files, sub_called = self._command_files(args[args.index("-c") + 1], scripts, depth + 1)
                    files += sub_files
                    called += sub_called
                else:
                    files += [self._resolve_exact(a) for a in args if not a.startswith("-")][:1]
            elif prog == "node-gyp":
                files.append("binding.gyp")
            elif prog in ("npm", "pnpm", "yarn") and args:
                name = self._run_target(prog, args)
                if name and name in scripts and name not in called:
                    called.append(name)
                    sub_files, sub_called = self._command_files(scripts[name], scripts, depth + 1)
                    files += sub_files
                    called += [c for c in sub_called if c not in called]
            else:
                files.append(self._resolve_exact(argv[0]))
        return [f for f in files if f], called

    @staticmethod
    def _run_target(prog: str, args: list[str]) -> str | None:
        rest = [a for a in args if not a.startswith("-")]
        if not rest:
            return None
        if rest[0] in ("run", "run-script", "rum", "urn"):
            return rest[1] if len(rest) > 1 else None
        if rest[0] in ("start", "test", "stop", "restart"):
            return rest[0]
        if prog == "yarn" and rest[0] not in ("install", "add", "exec", "dlx"):
            return rest[0]
        return None

    def _node_args(self, args: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-e", "--eval", "-p", "--print") and i + 1 < len(args):
                out += self._requires(args[i + 1].encode(), "")
                i += 2
                continue
            if a in ("-r", "--require", "--import", "--loader", "--experimental-loader") and i + 1 < len(args):
                out.append(self._resolve_node(args[i + 1], ""))
                i += 2
                continue
            if a.startswith("-"):
                i += 1
                continue
            out.append(self._resolve_node(a, ""))
            break
        return [p for p in out if p]

    def _resolve_exact(self, spec: str) -> str:
        path = _norm(spec)
        return path if path in self.new.files else ""

    def _resolve_node(self, spec: str, base_dir: str) -> str:
        """Node's resolution of a relative path (or the package itself) to a package file, '' if outside."""
        name = self.new.name
        if name and (spec == name or spec.startswith(name + "/")):
            spec = "./" + spec[len(name) :].lstrip("/")  # the package requiring itself by name
        if spec in (".", "./"):
            main = self.new.manifest.get("main")
            spec = main if isinstance(main, str) else "index.js"
        elif not spec.startswith((".", "/")) and base_dir == "":
            spec = "./" + spec  # `node install.js` is relative to the package root
        elif not spec.startswith("."):
            return ""  # a dependency or a builtin: not package code
        joined = posixpath.normpath(posixpath.join(base_dir, spec)) if base_dir else _norm(spec)
        if joined.startswith(".."):
            return ""
        joined = _norm(joined)
        files = self.new.files
        for ext in _NODE_EXTS:
            if joined + ext in files:
                return joined + ext
        pkg_json = files.get(f"{joined}/package.json")
        if pkg_json is not None:
            try:
                main = json.loads(pkg_json.data).get("main")
            except (ValueError, AttributeError):
                main = None
            if isinstance(main, str):
                found = self._resolve_node("./" + main, joined)
                if found:
                    return found
        for ext in _NODE_EXTS[1:]:
            if f"{joined}/index{ext}" in files:
                return f"{joined}/index{ext}"
        return ""

    def _requires(self, code: bytes, base_dir: str) -> list[str]:
        out: list[str] = []
        for m in _REQUIRE.finditer(code):
            raw = m.group(2) or m.group(4) or m.group(6)
            spec = raw.decode("utf-8", "replace")
            if m.group(6) is not None:
                spec = "./" + spec.lstrip("/")
            if not spec.startswith(".") and not (self.new.name and spec.startswith(self.new.name)):
                continue
            found = self._resolve_node(spec, base_dir)
            if found and not found.endswith(".json"):  # data, not code
                out.append(found)
        return out

    def _closure(self, roots: list[str]) -> dict[str, str | None]:
        """Every package file reachable from `roots` by relative require/import; value: who loads it."""
        seen: dict[str, str | None] = {}
        queue: list[tuple[str, str | None]] = [(r, None) for r in roots]
        while queue and len(seen) < MAX_INSTALL_FILES:
            path, via = queue.pop()
            if path in seen:
                continue
            seen[path] = via
            entry = self.new.files.get(path)
            if entry is None or (not path.endswith((*JS_EXTENSIONS, ".ts")) and "." in posixpath.basename(path)):
                continue
            if entry.size > TEXT_SCAN_LIMIT or not _is_text(entry.data):
                continue
            for dep in self._requires(entry.data, posixpath.dirname(path)):
                if dep not in seen:
                    queue.append((dep, path))
        return seen

    def dependencies(self) -> None:
        if self.first:
            return
        old_names = {n for deps in _deps(self.old).values() for n in deps}
        patch = self.result.release_type in ("patch", "unknown", "none")
        seen: set[str] = set()
        for fld, deps in _deps(self.new).items():
            for name, spec in deps.items():
                if name in old_names or name in seen:
                    continue
                seen.add(name)
                line = self.new.line_of(fld, name)
                kind = f"a {self.result.release_type} release" if self.result.release_type else "this release"
                text = (
                    f"{fld}[{json.dumps(name)}] = {json.dumps(spec)} added in {kind} "
                    f"({self.old.version if self.old else '?'} -> {self.new.version})"
                )
                if name in self.approve.dependencies:
                    self.approved("dependencies", text, file="package.json", line=line)
                else:
                    self.emit(
                        DEPENDENCY_ADDED,
                        text,
                        file="package.json",
                        line=line,
                        severity=None if patch else Severity.WARN,
                        dependency=name,
                    )

    def sources(self) -> None:
        old = _deps(self.old)
        old_any = {n: s for deps in old.values() for n, s in deps.items()}
        for fld, deps in _deps(self.new).items():
            for name, spec in deps.items():
                kind = spec_kind(spec)
                if kind == "registry":
                    continue
                before = old.get(fld, {}).get(name, old_any.get(name))
                if before == spec:
                    continue
                line = self.new.line_of(fld, name)
                was = f" (was {json.dumps(before)})" if before is not None else ""
                text = f"{fld}[{json.dumps(name)}] comes from {kind}: {json.dumps(spec)}{was}"
                approval = self.approve.sources.get(name)
                self.exact(
                    DEPENDENCY_SOURCE,
                    f"sources.{name}",
                    approval,
                    approval == spec,
                    text,
                    file="package.json",
                    line=line,
                    dependency=name,
                    spec=spec,
                )

    def bundled(self) -> None:
        before, after = _bundled(self.old), _bundled(self.new)
        line = self.new.line_of("bundleDependencies") or self.new.line_of("bundledDependencies")
        changes = [(n, "added to the bundle") for n in sorted(after - before)]
        changes += [(n, "removed from the bundle") for n in sorted(before - after)]
        touched: dict[str, int] = {}
        for f in self.result.files:
            m = re.match(r"^node_modules/((?:@[^/]+/)?[^/]+)/", f.path)
            if m and f.status in ("added", "changed") and m.group(1) in after and m.group(1) in before:
                touched[m.group(1)] = touched.get(m.group(1), 0) + 1
        changes += [(n, f"bundled code changed ({k} files added or changed)") for n, k in sorted(touched.items())]
        for name, what in changes:
            text = f"bundled dependency {json.dumps(name)} {what}"
            if name in self.approve.dependencies:
                self.approved("dependencies", text, file="package.json", line=line)
            else:
                self.emit(BUNDLED_CHANGED, text, file="package.json", line=line, dependency=name)

    def bins(self) -> None:
        before, after = _bins(self.old), _bins(self.new)
        for name, target in sorted(after.items()):
            if before.get(name) == target:
                continue
            line = self.new.line_of("bin", name) or self.new.line_of("bin")
            text = (
                f"bin {json.dumps(name)} added -> {json.dumps(target)}"
                if name not in before
                else f"bin {json.dumps(name)} retargeted: {json.dumps(before[name])} -> {json.dumps(target)}"
            )
            approval = self.approve.bin.get(name)
            matches = approval is not None and _norm(approval) == target
            self.exact(
                BIN_CHANGED,
                f"bin.{name}",
                approval,
                matches,
                text,
                file="package.json",
                line=line,
                bin=name,
                target=target,
            )

    def entrypoints(self) -> None:
        before, after = _entry_targets(self.old), _entry_targets(self.new)
        for target, where in after.items():
            if target in before or not target:
                continue
            top = where.split("[", 1)[0]
            text = f"{where} now points at {json.dumps(target)}, which no entry point named before"
            if target in self.new.files and self.status.get(target) == "added":
                text += " (a file added in this release)"
            if self.file_approved(target):
                self.approved("files", text, file="package.json", line=self.new.line_of(top))
            else:
                self.emit(ENTRYPOINT_CHANGED, text, file="package.json", line=self.new.line_of(top), target=target)

    def large_change(self) -> None:
        limits = self.policy.diff.large_change
        s = self.result.summary()
        if s["added"] > limits.added_files or s["added_bytes"] > limits.added_bytes:
            self.emit(
                LARGE_CHANGE,
                f"{s['added']} files ({_size(s['added_bytes'])}) added; thresholds: {limits.added_files} files, "
                f"{_size(limits.added_bytes)} (diff.large-change)",
            )

    # -- per-file content rules

    def added_text(self, path: str) -> _Added:
        cached = self._added_cache.get(path)
        if cached is not None:
            return cached
        new = self.new.files[path].data
        old_entry = self.old.files.get(path) if self.old else None
        if old_entry is None:
            added = _Added(new, [0], [0])
        else:
            lines = added_lines(old_entry.data, new)
            starts, offsets, pos = [], [], 0
            for off, line in lines:
                starts.append(pos)
                offsets.append(off)
                pos += len(line) + 1
            added = _Added(b"\n".join(line for _, line in lines), starts or [0], offsets or [0])
        self._added_cache[path] = added
        return added

    def files(self) -> None:
        bins = set(_bins(self.new).values())
        for change in self.result.files:
            if change.status not in ("added", "changed"):
                continue
            path = change.path
            entry = self.new.files[path]
            self.sensitive(path, change.status, entry.data)
            self.binary(path, change.status, entry.data)
            is_js = path.endswith(JS_EXTENSIONS) or path in bins
            if is_js and entry.size <= TEXT_SCAN_LIMIT and _is_text(entry.data):
                self.obfuscation(path, change.status, entry.data)

    def sensitive(self, path: str, status: str, data: bytes) -> None:
        what = _sensitive_path(path) if status == "added" else None
        if what:
            text = f"{path} is {what} ({status})"
            if self.file_approved(path):
                self.approved("files", text, file=path)
            else:
                self.emit(SENSITIVE_FILE, text, file=path)
            return
        if len(data) > TEXT_SCAN_LIMIT or not _is_text(data):
            return
        added = self.added_text(path)
        for kind, patterns in _SECRETS:
            m = _search(added.text, patterns)
            if m is None:
                continue
            value = m.group().decode("ascii", "replace")
            if kind == "an AWS access key id" and value.endswith("EXAMPLE"):
                continue
            line = _line_at(data, added.file_offset(m.start()))
            text = f"{path} contains {kind} ({value[:12]}…, masked) at line {line}"
            if self.file_approved(path):
                self.approved("files", text, file=path, line=line)
            else:
                self.emit(SENSITIVE_FILE, text, file=path, line=line)
            return

    def binary(self, path: str, status: str, data: bytes) -> None:
        kind = _executable_kind(data) or ("a Node addon (.node)" if path.endswith(".node") else None)
        if kind is None:
            return
        text = f"{path} is {kind} ({status}, {_size(len(data))})"
        if self.file_approved(path):
            self.approved("files", text, file=path)
        else:
            self.emit(EXECUTABLE_BINARY, text, file=path)

    def obfuscation(self, path: str, status: str, data: bytes) -> None:
        added = self.added_text(path)
        text = added.text
        if not text:
            return
        old = self.old.files[path].data if status == "changed" and self.old else None
        signals: list[tuple[str, int]] = []

        def new_signal(patterns: tuple[re.Pattern[bytes], ...], label: str, count: int = 1) -> None:
            boundary = patterns is not _ESCAPES
            first = _search(text, patterns, count, boundary=boundary)
            if first is None:
                return
            if old is not None and _search(old, patterns, count, boundary=boundary) is not None:
                return  # the previous release already had this: not new here
            signals.append((label, first.start()))

        new_signal(_EVAL_DECODE, "eval/Function/vm applied to decoded data")
        new_signal(_BLOB, "a long base64/hex string literal")
        new_signal(_ESCAPES, "long runs of \\x/\\u-escaped characters")
        new_signal(_OBFUSCATOR_ID, "obfuscator-style _0x identifiers", count=5)
        if old is not None:
            long_at = _long_line(added)
            if long_at is not None and not _LONG_LINE_RE.search(old):
                signals.append((f"a line over {LONG_LINE} characters in a file that was not minified before", long_at))
        if not signals:
            return
        label, pos = signals[0]
        line = _line_at(data, added.file_offset(pos))
        snippet = text[pos : pos + 80].decode("utf-8", "replace").replace("\n", " ")
        more = f" (+{len(signals) - 1} more signals)" if len(signals) > 1 else ""
        message = f"{path} ({status}): {label} at line {line}: {json.dumps(snippet)}…{more}"
        if self.file_approved(path):
            self.approved("files", message, file=path, line=line)
        else:
            self.emit(OBFUSCATED_CODE, message, file=path, line=line, signals=[s for s, _ in signals])


def _long_line(added: _Added) -> int | None:
    """Offset (in `added.text`) of the first added line longer than LONG_LINE, or None."""
    for i, start in enumerate(added.starts):
        end = added.starts[i + 1] - 1 if i + 1 < len(added.starts) else len(added.text)
        if end - start >= LONG_LINE:
            return start
    return None


def _executable_kind(data: bytes) -> str | None:
    head = data[:8]
    if head.startswith(b"\x7fELF"):
        return "an ELF executable/library"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return "a Mach-O executable/library"
    if head[:4] == b"\xca\xfe\xba\xbe" and len(data) >= 8 and int.from_bytes(data[4:8], "big") < 45:
        return "a universal Mach-O binary"  # (a Java class file has a major version >= 45 here)
    if head[:2] == b"MZ" and len(data) >= 0x40:
        pe = int.from_bytes(data[0x3C:0x40], "little")
        if 0 < pe <= len(data) - 4 and data[pe : pe + 4] == b"PE\0\0":
            return "a Windows PE executable/DLL"
    return None
