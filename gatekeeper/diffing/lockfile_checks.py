"""Lockfiles of the release: a shipped npm-shrinkwrap.json, and the dependency tree a consumer resolves.

npm honours a published `npm-shrinkwrap.json` on every consumer's install, so a shrinkwrap the
candidate adds blocks (`shrinkwrap-added`) and a changed one is reviewed with the same lockfile rules
as pull-request mode (`gatekeeper.diffing.lockfile`: new install scripts, `resolved` leaving the registry,
integrity changes for the same version). When the dependencies change, both manifests are resolved
as a consumer's fresh install would (the injected `Resolver`) and a package that runs install scripts
in the candidate's tree, absent from the baseline's, blocks (`dependency-install-script`).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import replace
from typing import TYPE_CHECKING

from gatekeeper.diffing.checker import Checker
from gatekeeper.diffing.lockfile import (
    LockfileApprovals,
    LockfileError,
    NpmLockfile,
    compare_npm_lockfiles,
    parse_npm_lockfile,
)
from gatekeeper.diffing.manifest import DEP_FIELDS
from gatekeeper.findings import Severity
from gatekeeper.rules.diff import DEPENDENCY_INSTALL_SCRIPT, SHRINKWRAP_ADDED, TARBALL_UNSAFE

if TYPE_CHECKING:
    from typing import Any

SHRINKWRAP = "npm-shrinkwrap.json"
#: Manifest fields that decide what a consumer's install resolves.
TREE_FIELDS = (*DEP_FIELDS, "peerDependenciesMeta", "bundleDependencies", "bundledDependencies")


def _fold(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def consumer_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The fields of a package.json that a consumer's dependency resolution reads (no scripts)."""
    out: dict[str, Any] = {"name": manifest.get("name"), "version": manifest.get("version")}
    for key in TREE_FIELDS:
        if key in manifest:
            out[key] = manifest[key]
    return out


class LockfileChecks(Checker):
    """`shrinkwrap-added`, the lockfile rules on a changed shrinkwrap, and `dependency-install-script`."""

    def lock_approvals(self) -> LockfileApprovals:
        return LockfileApprovals(
            install_scripts=frozenset(self.approve.install_scripts),
            sources=dict(self.approve.sources),
            any_version=False,
            scripts_key="approve.install-scripts",
            sources_key="approve.sources",
        )

    def _shrinkwrap_path(self, pkg: Any) -> str | None:
        if pkg is None:
            return None
        if SHRINKWRAP in pkg.files:
            return SHRINKWRAP
        # case-insensitive file systems (macOS, Windows) find it under any case
        return next((p for p in pkg.files if _fold(p) == SHRINKWRAP), None)

    def shrinkwrap(self) -> None:
        if self.local_install:
            return  # pull-request mode reviews lockfiles in its own gate
        path = self._shrinkwrap_path(self.new)
        if path is None:
            return
        old_path = self._shrinkwrap_path(self.old)
        data = self.new.files[path].data
        old_data = self.old.files[old_path].data if self.old and old_path else None
        if old_data == data:
            return
        if old_data is None:
            text = f"{path} was added: npm installs exactly the tree it pins on every consumer's install" + (
                " (first release)" if self.first else ""
            )
            if self.file_approved(path):
                self.approved("files", text, file=path, line=1)
            else:
                self.emit(SHRINKWRAP_ADDED, text, file=path, line=1)
        try:
            head = parse_npm_lockfile(data)
        except LockfileError as exc:
            self.emit(TARBALL_UNSAFE, f"{path} cannot be read: {exc}", file=path, line=1)
            return
        base: NpmLockfile | None = None
        if old_data is not None:
            try:
                base = parse_npm_lockfile(old_data)
            except LockfileError:
                base = None
        findings = compare_npm_lockfiles(
            path, base, head, registry_url=self.registry_url, approvals=self.lock_approvals()
        )
        for f in findings:
            if f.rule == "lockfile-changed":  # npm still honours a v1 shrinkwrap that we cannot analyse
                f = replace(f, severity=Severity.BLOCK)
            self.result.findings.append(f)

    def _tree_changed(self) -> bool:
        old = consumer_manifest(self.old.manifest) if self.old else {}
        new = consumer_manifest(self.new.manifest)
        return any(old.get(k) != new.get(k) for k in TREE_FIELDS)

    def resolved_tree(self) -> None:
        """Both dependency trees as a consumer resolves them: new packages with install scripts block."""
        if self.first or self.old is None or self.resolver is None or self.local_install or self.unresolvable:
            return
        if not self._tree_changed():
            return
        old_lock = self._resolve(self.old)
        new_lock = self._resolve(self.new)
        own = {self.new.name, self.old.name}
        before = {e.name for e in old_lock.entries.values() if e.has_install_script}
        seen: set[str] = set()
        for key, entry in sorted(new_lock.entries.items()):
            if not entry.has_install_script or entry.name in before or entry.name in own or entry.spec in seen:
                continue
            seen.add(entry.spec)
            chain = new_lock.path_to(key)
            if chain and chain[0].rsplit("@", 1)[0] in own:
                chain = chain[1:]
            top = chain[0].rsplit("@", 1)[0] if chain and chain[0].rsplit("@", 1)[0] else entry.name
            fld = next((f for f in DEP_FIELDS if top in (self.new.manifest.get(f) or {})), "dependencies")
            line = self.new.line_of(fld, top) or self.new.line_of(fld)
            via = " > ".join([f"{self.new.name}@{self.new.version}", *chain])
            text = (
                f"a consumer's fresh install of this release runs the install scripts of {entry.spec}, "
                f"which the last release's tree did not have: {via}"
            )
            if entry.spec in self.approve.install_scripts:
                self.approved("install-scripts", text, file="package.json", line=line)
                continue
            approval = [a for a in self.approve.install_scripts if a.rsplit("@", 1)[0] == entry.name]
            if approval:
                text += f" (approve.install-scripts has {json.dumps(approval)}, not the exact {entry.spec})"
            self.emit(
                DEPENDENCY_INSTALL_SCRIPT,
                text,
                file="package.json",
                line=line,
                package=entry.name,
                version=entry.version,
                path=chain,
            )

    def _resolve(self, pkg: Any) -> NpmLockfile:
        assert self.resolver is not None
        data = self.resolver(consumer_manifest(pkg.manifest))
        try:
            return parse_npm_lockfile(data)
        except LockfileError as exc:
            from gatekeeper.errors import NpmError

            raise NpmError(
                f"The dependency tree resolved for {pkg.name}@{pkg.version} is not a readable lockfile ({exc})",
                "Check the npm version (npm >= 7 writes lockfile v2/v3) and re-run",
            ) from None
