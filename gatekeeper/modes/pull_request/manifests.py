"""The `manifests` gate: each workspace's package.json rules, as in the release diff."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import replace

from gatekeeper import diffing
from gatekeeper._internal.tarball import FileEntry, Package, parse_manifest
from gatekeeper.errors import GatekeeperError
from gatekeeper.findings import Finding, Severity
from gatekeeper.modes.pull_request.check import PullRequestCheck
from gatekeeper.modes.pull_request.git_objects import GitObjects, TreeEntry
from gatekeeper.modes.pull_request.local_install import local_install_findings
from gatekeeper.rules.pull_request import MANIFEST_UNREADABLE

#: Release-diff rules that apply to a repository's package.json files. The others (version,
#: large-change, entrypoints, file contents) judge a release tarball, not a pull request.
MANIFEST_RULES = frozenset(
    {
        "lifecycle-script-added",
        "lifecycle-script-changed",
        "lifecycle-script-removed",
        "install-script-code-changed",
        "install-data-changed",
        "install-download-changed",
        "native-build-added",
        "dependency-added",
        "dependency-source-changed",
        "bundled-dependencies-changed",
        "bin-changed",
        "local-install-hook-changed",
        "approved-change",
    }
)
#: Files read into memory for the install-code rules; others are compared by object id only.
_CODE_SUFFIXES = (*diffing.JS_EXTENSIONS, ".ts", ".json", ".sh", ".gyp")
MAX_BLOB_BYTES = 64 * 1024 * 1024


def workspaces(tree: Mapping[str, TreeEntry]) -> list[str]:
    """Folders holding a package.json tracked outside node_modules ("" for the repository root)."""
    dirs = []
    for path in tree:
        if posixpath.basename(path) == "package.json" and "node_modules" not in path.split("/"):
            dirs.append(posixpath.dirname(path))
    return sorted(dirs)


def owners(tree: Mapping[str, TreeEntry]) -> dict[str, str]:
    """Path -> the innermost workspace folder holding it (paths in node_modules or no workspace: absent)."""
    dirs = set(workspaces(tree))
    out: dict[str, str] = {}
    for path in tree:
        if "node_modules" in path.split("/"):
            continue
        folder = posixpath.dirname(path)
        while folder not in dirs and folder:
            folder = posixpath.dirname(folder)
        if folder in dirs:
            out[path] = folder
    return out


def _rel(path: str, folder: str) -> str:
    return path[len(folder) + 1 :] if folder else path


def _join(folder: str, rel: str) -> str:
    return f"{folder}/{rel}" if folder else rel


def _needs_content(rel: str) -> bool:
    base = posixpath.basename(rel)
    return base.endswith(_CODE_SUFFIXES) or "." not in base or base == "binding.gyp"


def _read_package(
    git: GitObjects, tree: Mapping[str, TreeEntry], folder: str, owned: list[str], label: str, limit: int
) -> tuple[Package | None, str | None]:
    """A workspace as a `Package` for the diff engine (code files with content, others by object id).

    Returns (None, None) when there is no package.json, (None, problem) when it cannot be read."""
    manifest_path = _join(folder, "package.json")
    entry = tree.get(manifest_path)
    if entry is None:
        return None, None
    if entry.kind != "blob" or entry.mode == "120000":
        return None, "is a symlink or submodule, not a regular file"
    code = [
        tree[p]
        for p in owned
        if tree[p].kind == "blob" and _needs_content(_rel(p, folder)) and (tree[p].size or 0) <= MAX_BLOB_BYTES
    ]
    total = sum(e.size or 0 for e in code)
    if total > limit:
        raise GatekeeperError(
            f"{label}: the workspace holds {total} bytes of code files, over diff.limits.max-unpacked-bytes ({limit})",
            "Raise `diff.limits.max-unpacked-bytes` in the base branch's policy for a known large repository",
        )
    data = git.blobs(e.oid for e in code)
    files: dict[str, FileEntry] = {}
    for p in owned:
        e = tree[p]
        if e.kind != "blob" or e.mode == "120000":
            continue
        content = data.get(e.oid)
        # Files not read are compared by object id: a change is still seen, its content is not scanned.
        body = content if content is not None else f"git-blob:{e.oid}".encode()
        files[_rel(p, folder)] = FileEntry(_rel(p, folder), body, int(e.mode, 8) & 0o777)
    pkg = Package(files=files, label=label)
    parse_manifest(pkg)  # as the safe tarball reader parses it (BOM, UTF-8, a JSON object)
    return (None, f"cannot be read: {pkg.manifest_error}") if pkg.manifest_error else (pkg, None)


def check_manifests(check: PullRequestCheck) -> list[Finding]:
    """Every workspace whose files changed: its package.json rules, as in the release diff."""
    old_tree, new_tree = check.old, check.new
    new_owner, old_owner = owners(new_tree), owners(old_tree)
    touched = sorted({new_owner.get(p, old_owner.get(p)) for p in check.changed} - {None})
    findings: list[Finding] = []
    for folder in touched:
        manifest_path = _join(folder, "package.json")
        if manifest_path not in new_tree:
            continue  # the workspace is gone: nothing of it runs at install time any more
        new_owned = [p for p, d in new_owner.items() if d == folder]
        old_owned = [p for p, d in old_owner.items() if d == folder]
        limit = check.policy.diff.limits.max_unpacked_bytes
        head_pkg, problem = _read_package(check.git, new_tree, folder, new_owned, f"{manifest_path} (head)", limit)
        if head_pkg is None:
            findings.append(
                MANIFEST_UNREADABLE(f"`{manifest_path}` at the head {problem}.", file=manifest_path, line=1)
            )
            continue
        base_pkg, _ = _read_package(check.git, old_tree, folder, old_owned, f"{manifest_path} (base)", limit)
        result = diffing.diff_packages(base_pkg, head_pkg, check.policy, local_install=True)
        same_version = base_pkg is not None and base_pkg.version == head_pkg.version
        for f in result.findings:
            if f.rule not in MANIFEST_RULES:
                continue
            if f.rule == "dependency-added" and same_version and f.severity is Severity.BLOCK:
                # No version bump in this PR: not a patch release adding a dependency (the release diff
                # judges that at publish time); new install-time code still blocks through the lockfile.
                f = replace(f, severity=Severity.WARN)
            where = _join(folder, f.file) if f.file else manifest_path
            findings.append(replace(f, message=f"{manifest_path}: {f.message}", file=where))
    return findings + local_install_findings(check)
