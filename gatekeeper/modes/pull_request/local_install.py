"""Files that make a local install of the repository run code (pull-request mode, `manifests` gate).

A maintainer's or CI's `npm install` / `pnpm install` / `yarn` in a checkout of the PR reads:
- `.npmrc`: `node-options` (e.g. `--require ./x.js` in every node npm starts), `script-shell`,
  `shell`, `onload-script`, `init-module`, `git`, `userconfig`/`globalconfig` (more config from elsewhere);
- `.pnpmfile.cjs`: code pnpm runs on every install (`readPackage` hooks);
- `.yarnrc.yml` `yarnPath` (the yarn release that runs: a file in the repository) and `plugins`;
  `.yarnrc` `yarn-path`; and the file such a path names.
Each new or changed one is `local-install-hook-changed` (block; the approval label or an exact
`approve.files` entry bound to its content in the base policy lets it pass).
"""

from __future__ import annotations

import posixpath
import re

from gatekeeper.findings import Finding
from gatekeeper.modes.pull_request.check import PullRequestCheck
from gatekeeper.rules.diff import APPROVED, LOCAL_INSTALL_HOOK

NPMRC_KEYS = frozenset(
    {"node-options", "script-shell", "shell", "onload-script", "init-module", "git", "userconfig", "globalconfig"}
)
HOOK_FILES = frozenset({".pnpmfile.cjs", ".pnpmfile.js", "pnpmfile.js", ".pnpmfile.mjs"})
_YARN_KEYS = re.compile(r"^\s*(yarnPath|plugins)\s*:\s*(.*)$", re.M)
_YARN_PATH_V1 = re.compile(r"^\s*yarn-path\s+(.*)$", re.M)
MAX_CONFIG_BYTES = 1024 * 1024


def _npmrc(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith((";", "#")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().lower().replace("_", "-")
        if key in NPMRC_KEYS:
            out[key] = value.strip()
    return out


def _yarn(text: str, name: str) -> dict[str, str]:
    if name == ".yarnrc":
        found = [m.group(1).strip().strip("\"'") for m in _YARN_PATH_V1.finditer(text)]
        return {"yarn-path": found[-1]} if found else {}
    return {m.group(1): m.group(2).strip().strip("\"'") for m in _YARN_KEYS.finditer(text)}


def local_install_findings(check: PullRequestCheck) -> list[Finding]:
    """`local-install-hook-changed` for each changed setting/file a local install runs."""
    old_tree, new_tree = check.old, check.new
    approvals = check.policy.approve.files  # content-bound: exactly the approved bytes at that path

    def approved_file(rel: str) -> bool:
        entry = new_tree.get(rel)
        if not approvals or entry is None or entry.kind != "blob" or (entry.size or 0) > MAX_CONFIG_BYTES:
            return False
        blob = check.git.blobs([entry.oid]).get(entry.oid, b"")
        return any(a.matches(rel, blob) for a in approvals)
    findings: list[Finding] = []
    candidates = sorted(
        p
        for p in check.changed
        if "node_modules" not in p.split("/")
        and posixpath.basename(p) in (".npmrc", ".yarnrc", ".yarnrc.yml", *HOOK_FILES)
        and p in new_tree
    )
    yarn_paths: list[tuple[str, str]] = []
    for path in candidates:
        new, old = new_tree[path], old_tree.get(path)
        oids = [e.oid for e in (old, new) if e is not None and e.kind == "blob" and (e.size or 0) <= MAX_CONFIG_BYTES]
        data = check.git.blobs(oids)
        new_text = data.get(new.oid, b"").decode("utf-8", "replace")
        old_text = data.get(old.oid, b"").decode("utf-8", "replace") if old is not None else ""
        base = posixpath.basename(path)
        changes: list[tuple[str, str | None, str]] = []
        if base in HOOK_FILES:
            changes.append((base, None, "code pnpm runs on every install"))
        else:
            before, after = (
                (_npmrc(old_text), _npmrc(new_text))
                if base == ".npmrc"
                else (_yarn(old_text, base), _yarn(new_text, base))
            )
            for key, value in sorted(after.items()):
                if before.get(key) != value:
                    changes.append((key, before.get(key), value))
                    if key in ("yarnPath", "yarn-path"):
                        yarn_paths.append((posixpath.dirname(path), value))
        for key, was, now in changes:
            if base in HOOK_FILES:
                text = f"`{path}` was {'added' if old is None else 'changed'}: {now}"
            else:
                text = (
                    f"`{path}` sets `{key}` = `{now}`"
                    + (f" (was `{was}`)" if was is not None else "")
                    + (": a local install runs it")
                )
            line = next((i + 1 for i, ln in enumerate(new_text.splitlines()) if key in ln), 1)
            approved = any(a.matches(path, data.get(new.oid, b"")) for a in approvals)
            rule = APPROVED if approved else LOCAL_INSTALL_HOOK
            findings.append(
                rule(text + (" — approved by `approve.files`" if approved else ""), file=path, line=line)
            )
    for folder, target in yarn_paths:
        rel = posixpath.normpath(posixpath.join(folder, target))
        if rel in check.changed and rel not in candidates:
            rule = APPROVED if approved_file(rel) else LOCAL_INSTALL_HOOK
            findings.append(rule(f"`{rel}` (the yarn release yarnPath runs) was changed", file=rel, line=1))
    # the file a yarnPath already in place names, changed by the PR
    for path in sorted(
        p for p in new_tree if posixpath.basename(p) in (".yarnrc.yml", ".yarnrc") and p not in check.changed
    ):
        entry = new_tree[path]
        if (entry.size or 0) > MAX_CONFIG_BYTES:
            continue
        text = check.git.blobs([entry.oid]).get(entry.oid, b"").decode("utf-8", "replace")
        for key, value in _yarn(text, posixpath.basename(path)).items():
            if key not in ("yarnPath", "yarn-path"):
                continue
            rel = posixpath.normpath(posixpath.join(posixpath.dirname(path), value))
            if rel in check.changed:
                rule = APPROVED if approved_file(rel) else LOCAL_INSTALL_HOOK
                findings.append(
                    rule(f"`{rel}` (the yarn release `{path}` yarnPath runs) was changed", file=rel, line=1)
                )
    return findings
