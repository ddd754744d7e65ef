"""Checks on dependencies: added, from outside the registry, bundled."""

from __future__ import annotations

import json
import re

from gatekeeper._internal.tarball import Package
from gatekeeper.diffing.checker import Checker
from gatekeeper.diffing.manifest import _bundled, _deps, _overrides, spec_kind
from gatekeeper.findings import Severity
from gatekeeper.rules.diff import (
    BUNDLED_CHANGED,
    DEPENDENCY_ADDED,
    DEPENDENCY_SOURCE,
    LOCAL_INSTALL_HOOK,
    UNRESOLVED_RANGE,
)

#: Ranges only a workspace (or the packer's machine) can resolve: a consumer's install of the package fails on them.
LOCAL_PREFIXES = ("workspace:", "catalog:", "link:", "file:")


def local_range(spec: str) -> bool:
    return spec.strip().lower().startswith(LOCAL_PREFIXES)


class DependencyChecks(Checker):
    """The dependency rules."""

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

    def local_ranges(self) -> None:
        """A packed manifest whose dependencies a consumer cannot install (`workspace:^` left by `npm pack` in a pnpm
        workspace, ...): a floor, whatever packed it. Not in pull-request mode (the repository's own manifests hold
        them by design) and not for a bundled dependency (shipped inside the tarball)."""
        if self.local_install:
            return
        bundled = _bundled(self.new)
        for fld, deps in _deps(self.new).items():
            for name, spec in deps.items():
                if not local_range(spec) or name in bundled:
                    continue
                self.unresolvable = True
                self.emit(
                    UNRESOLVED_RANGE,
                    f"{fld}[{json.dumps(name)}] = {json.dumps(spec)} in the packed package.json: a consumer's install "
                    "cannot resolve it (only the repository's workspace can)",
                    file="package.json",
                    line=self.new.line_of(fld, name),
                    dependency=name,
                    spec=spec,
                )

    def sources(self) -> None:
        dev = self.local_install  # a local install of the repository installs devDependencies too
        old = _deps(self.old, dev=dev)
        old_any = {n: s for deps in old.values() for n, s in deps.items()}
        bundled = _bundled(self.new)
        for fld, deps in _deps(self.new, dev=dev).items():
            for name, spec in deps.items():
                kind = spec_kind(spec)
                if kind == "registry":
                    continue
                if not self.local_install and local_range(spec) and name not in bundled:
                    continue  # `unresolved-workspace-range` (a floor) reports it: no approval can make it installable
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

    def overrides(self) -> None:
        """Overrides redirect what a local install resolves: non-registry targets block, other changes warn."""
        if not self.local_install:
            return  # a published package's overrides are ignored by its consumers
        before, after = _overrides(self.old), _overrides(self.new)
        for where, spec in sorted(after.items()):
            if before.get(where) == spec:
                continue
            fld, _, path = where.partition(":")
            top = fld.split(".")[0]
            line = self.new.line_of(top, path.split(" > ")[0]) or self.new.line_of(top)
            kind = spec_kind(spec)
            was = f" (was {json.dumps(before[where])})" if where in before else ""
            name = (
                path.split(" > ")[-1].rsplit("@", 1)[0]
                if not path.split(" > ")[-1].startswith("@")
                else path.split(" > ")[-1]
            )
            if kind not in ("registry", "workspace"):
                approval = self.approve.sources.get(name)
                self.exact(
                    DEPENDENCY_SOURCE,
                    f"sources.{name}",
                    approval,
                    approval == spec,
                    f"{fld}[{json.dumps(path)}] redirects a dependency to {kind}: {json.dumps(spec)}{was}",
                    file="package.json",
                    line=line,
                    dependency=name,
                    spec=spec,
                )
            else:
                self.emit(
                    LOCAL_INSTALL_HOOK,
                    f"{fld}[{json.dumps(path)}] = {json.dumps(spec)}{was}: overrides change what every local install "
                    "resolves (the lockfile review shows what it pulls in)",
                    file="package.json",
                    line=line,
                    severity=Severity.WARN,
                )

    def bundled(self) -> None:
        # A package under node_modules/ in the tarball is installed with it and found first by require() from
        # the package, listed in bundleDependencies or not (npm pack ships only listed ones: a crafted tarball).
        declared = _bundled(self.new)
        before, after = _bundled(self.old) | _shipped(self.old), declared | _shipped(self.new)
        line = self.new.line_of("bundleDependencies") or self.new.line_of("bundledDependencies")
        unlisted = " (shipped under node_modules/ without being in bundleDependencies: npm installs it, and require() "
        unlisted += "from the package finds it before the real dependency)"
        changes = [(n, "added to the bundle" + ("" if n in declared else unlisted)) for n in sorted(after - before)]
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


def _shipped(pkg: Package | None) -> set[str]:
    """Names under the tarball's top-level node_modules/ that npm pack would not have shipped: neither listed in
    bundleDependencies nor a dependency of a shipped (bundled) package (npm ships those hoisted beside it)."""
    if pkg is None:
        return set()
    names: set[str] = set()
    needed: set[str] = set()
    for path, entry in pkg.files.items():
        m = re.match(r"^node_modules/((?:@[^/]+/)?[^/]+)/", path)
        if not m:
            continue
        names.add(m.group(1))
        if path.endswith("/package.json"):
            try:
                doc = json.loads(entry.data)
            except ValueError:
                continue
            for key in ("dependencies", "optionalDependencies", "peerDependencies"):
                deps = doc.get(key) if isinstance(doc, dict) else None
                if isinstance(deps, dict):
                    needed.update(str(k) for k in deps)
    return names - needed - _bundled(pkg)
