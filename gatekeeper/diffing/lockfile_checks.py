"""Lockfiles of the release: a shipped npm-shrinkwrap.json, and the dependency tree a consumer resolves.

npm honours a published `npm-shrinkwrap.json` on every consumer's install, so a shrinkwrap the
candidate adds blocks (`shrinkwrap-added`) and a changed one is reviewed with the same lockfile rules
as pull-request mode (`gatekeeper.diffing.lockfile`: new install scripts, `resolved` leaving the registry,
integrity changes for the same version). When the dependencies change, both manifests are resolved
as a consumer's fresh install would (the injected `Resolver`, both trees at once when it can) and a
package that runs install scripts in the candidate's tree blocks (`dependency-install-script`) when the
baseline's tree did not run it, or ran it at another version and the diff of the two releases (this same
engine, fetched and verified through the injected `DependencyRegistry`) changes what runs at install.
A resolution that fails leaves every other finding in place and sets the result's `error` (exit 2).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import replace
from typing import TYPE_CHECKING

from gatekeeper._internal import semver
from gatekeeper.diffing.checker import Checker
from gatekeeper.diffing.lockfile import (
    LockEntry,
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
#: The rules whose blocking findings, in the diff of a dependency's two releases, mean that what its install
#: runs changed (scripts, the code they load, a native build, download config, what it installs with it).
INSTALL_TIME_RULES = frozenset(
    {
        "lifecycle-script-added",
        "lifecycle-script-changed",
        "install-script-code-changed",
        "native-build-added",
        "install-download-changed",
        "tarball-unsafe",
        "shrinkwrap-added",
        "lockfile-install-script",
        "lockfile-source-changed",
        "lockfile-integrity-changed",
        "lockfile-changed",
        "bundled-dependencies-changed",
    }
)


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
        from gatekeeper.errors import GatekeeperError

        try:
            old_lock, new_lock = self._resolve_both(self.old, self.new)
        except GatekeeperError as exc:
            # The static findings (dependency-added, dependency-source-changed, ...) stay in the report: they are
            # what the maintainer needs to fix an unresolvable tree; the run still cannot decide (exit 2).
            self.result.error = exc
            return
        own = {self.new.name, self.old.name}
        had: dict[str, list[LockEntry]] = {}
        for e in old_lock.entries.values():
            if e.has_install_script:
                had.setdefault(e.name, []).append(e)
        before = {e.identity for entries in had.values() for e in entries}
        seen: set[str] = set()
        for key, entry in sorted(new_lock.entries.items()):
            if not entry.has_install_script or entry.identity in before or entry.name in own or entry.spec in seen:
                continue
            seen.add(entry.spec)
            chain = new_lock.path_to(key)
            if chain and chain[0].rsplit("@", 1)[0] in own:
                chain = chain[1:]
            top = chain[0].rsplit("@", 1)[0] if chain and chain[0].rsplit("@", 1)[0] else entry.name
            fld = next((f for f in DEP_FIELDS if top in (self.new.manifest.get(f) or {})), "dependencies")
            line = self.new.line_of(fld, top) or self.new.line_of(fld)
            via = " > ".join([f"{self.new.name}@{self.new.version}", *chain])
            evidence: dict[str, Any] = {"package": entry.name, "version": entry.version, "path": chain}
            if entry.name in had:
                # It ran install scripts before too, at another version: what changed is what its install runs.
                prev = _previous(entry, key, had[entry.name])
                changes = self._install_time_changes(entry.name, prev.version, entry.version)
                if not changes:
                    continue  # a routine bump: the same install-time behaviour
                text = (
                    f"a consumer's fresh install of this release runs the install scripts of {entry.spec}, which "
                    f"moved from {prev.version} in the last release's tree and changed what runs at install: "
                    f"{'; '.join(changes[:3])}{' …' if len(changes) > 3 else ''}: {via}"
                )
                evidence["previous_version"] = prev.version
            else:
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
            self.emit(DEPENDENCY_INSTALL_SCRIPT, text, file="package.json", line=line, **evidence)

    def _install_time_changes(self, name: str, old: str, new: str) -> list[str]:
        """What changed at install between two releases of a dependency, diffed with this same engine (the
        install-time rules only); a release that cannot be fetched and verified is a change (fail closed)."""
        if self.deps is None:
            return [f"{name} {old} -> {new} could not be compared (no registry to fetch the releases from)"]
        packages = []
        for version in (old, new):
            package, problems = self.deps.release(name, version)
            if package is None or problems:
                why = "; ".join(problems) or "its bytes failed verification"
                return [f"{name}@{version} could not be verified ({why})"]
            packages.append(package)
        result = self.diff_release(packages[0], packages[1])
        return [f"{f.rule}: {f.message}" for f in result.findings if f.blocks and f.rule in INSTALL_TIME_RULES]

    def _resolve_both(self, old: Any, new: Any) -> tuple[NpmLockfile, NpmLockfile]:
        """Both trees; concurrently over one shared packument cache when the resolver can (`many`)."""
        assert self.resolver is not None
        manifests = [consumer_manifest(old.manifest), consumer_manifest(new.manifest)]
        many = getattr(self.resolver, "many", None)
        data = many(manifests) if callable(many) else [self.resolver(m) for m in manifests]
        return _parse_tree(old, data[0]), _parse_tree(new, data[1])


def _previous(entry: LockEntry, key: str, had: list[LockEntry]) -> LockEntry:
    """The last release tree's entry of the same package to diff against: the one at the same place, else the
    highest version below, else the lowest."""
    same = [e for e in had if e.key == key]
    if same:
        return same[0]
    new_v = semver.parse(entry.version)
    parsed = sorted(((v, e) for e in had if (v := semver.parse(e.version)) is not None), key=lambda p: p[0])
    below = [e for v, e in parsed if new_v is not None and v < new_v]
    if below:
        return below[-1]
    return parsed[0][1] if parsed else had[0]


def _parse_tree(pkg: Any, data: bytes) -> NpmLockfile:
    try:
        return parse_npm_lockfile(data)
    except LockfileError as exc:
        from gatekeeper.errors import NpmError

        raise NpmError(
            f"The dependency tree resolved for {pkg.name}@{pkg.version} is not a readable lockfile ({exc})",
            "Check the npm version (npm >= 7 writes lockfile v2/v3) and re-run",
        ) from None
