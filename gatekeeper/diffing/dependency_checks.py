"""Checks on dependencies: added (by risk, from the registry's facts), from outside the registry, bundled."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gatekeeper._internal import semver
from gatekeeper._internal.tarball import Package
from gatekeeper.diffing.checker import Checker
from gatekeeper.diffing.manifest import INSTALL_SCRIPTS, _bundled, _deps, _overrides, spec_kind
from gatekeeper.findings import Severity
from gatekeeper.rules.diff import (
    BUNDLED_CHANGED,
    DEPENDENCY_ADDED,
    DEPENDENCY_NEW_PACKAGE,
    DEPENDENCY_SCRIPT_HISTORY,
    DEPENDENCY_SOURCE,
    LOCAL_INSTALL_HOOK,
    UNRESOLVED_RANGE,
)

#: A dependency first published less recently than this is not "new" (`dependency-new-package`).
NEW_PACKAGE_DAYS = 30
MAX_SHOWN = 5


@dataclass(frozen=True)
class _Added:
    field: str
    name: str
    spec: str
    line: int | None
    text: str
    #: What the registry is asked about: the package (an alias's target) and the range.
    target: str
    range: str
    #: An optional peer (peerDependenciesMeta): installed only where the consumer's tree already holds the
    #: package, but then at a version its range allows (npm re-resolves the consumer's copy to satisfy it).
    optional_peer: bool = False
    #: The range of an optional peer the last release already had, changed (not an addition).
    changed: bool = False


#: The dependency fields in the order npm lets one win over another for the same name (first wins).
_INSTALL_PRECEDENCE = ("optionalDependencies", "dependencies", "peerDependencies")


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
        old_installed = _installed(self.old)
        new_installed = _installed(self.new)
        patch = self.result.release_type in ("patch", "unknown", "none")
        seen: set[str] = set()
        looked_up: list[_Added] = []
        new_deps = _deps(self.new)
        old_deps = _deps(self.old)
        old_spec: dict[str, str] = {}
        for fld in _INSTALL_PRECEDENCE:
            for name, spec in old_deps.get(fld, {}).items():
                old_spec.setdefault(name, spec)
        # npm's precedence for a name in several fields: optionalDependencies over dependencies over peers (it
        # normalises the name out of `dependencies`, and the later edge replaces the peer's): the first field
        # read here is the spec a consumer's install uses
        for fld in _INSTALL_PRECEDENCE:
            deps = new_deps.get(fld, {})
            for name, spec in deps.items():
                # a move between sections is no addition, unless consumers now install what they did not (an
                # optional peer made a dependency)
                moved = name in old_names and (name in old_installed or name not in new_installed)
                if name in seen:
                    continue
                if moved:
                    seen.add(name)
                    was = old_spec.get(name)
                    if name not in new_installed and was is not None and was != spec:
                        self._peer_range_changed(fld, name, spec, was, looked_up)
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
                    continue
                target = _registry_target(name, spec)
                optional_peer = name not in new_installed
                if not patch and optional_peer:
                    # an optional peer (peerDependenciesMeta): a consumer's install does not add it, so its age
                    # cannot reach the consumer through this release; but where their tree already holds it, npm
                    # moves their copy to a version this range allows, so the range's install scripts still count
                    text += ": an optional peer, which a consumer's install does not install (only their own does)"
                if patch or self.deps is None or target is None:
                    # patch: blocks as it is; outside the registry: `dependency-source-changed` blocks it (exact)
                    self.emit(
                        DEPENDENCY_ADDED,
                        text,
                        file="package.json",
                        line=line,
                        severity=None if patch else Severity.WARN,
                        dependency=name,
                    )
                    continue
                looked_up.append(_Added(fld, name, spec, line, text, *target, optional_peer=optional_peer))
        if looked_up:
            self._by_risk(looked_up)

    def _peer_range_changed(self, fld: str, name: str, spec: str, was: str, looked_up: list[_Added]) -> None:
        """An optional peer both releases declare, at another range: npm moves a consumer's copy of the package to
        a version the new range allows, so the range's install-script history counts as for a new optional peer
        (tree diffs cannot see it: a consumer tree of the package alone never holds its optional peers)."""
        target = _registry_target(name, spec)
        if self.deps is None or target is None or name in self.approve.dependencies:
            return  # outside the registry: `dependency-source-changed` judges the spec
        text = (
            f"{fld}[{json.dumps(name)}] = {json.dumps(spec)} (was {json.dumps(was)}): an optional peer whose range "
            "changed, which moves a consumer's copy of it to a version the range allows"
        )
        line = self.new.line_of(fld, name)
        looked_up.append(_Added(fld, name, spec, line, text, *target, optional_peer=True, changed=True))

    def _by_risk(self, added: list[_Added]) -> None:
        """A minor/major release's new registry dependencies: what the registry knows decides (young package,
        install scripts in the range) and the maintainer gets the facts either way."""
        assert self.deps is not None
        docs = {a.target: self.deps.packument(a.target) for a in added}
        added = self._planned(added, docs)
        if not added:
            return
        versions = {t: _versions(d) for t, d in docs.items()}
        matched = self.deps.satisfying([(a.range, sorted(versions[a.target])) for a in added])
        now = self.deps.now()
        for a, allowed in zip(added, matched, strict=True):
            where = {"file": "package.json", "line": a.line, "dependency": a.name}
            doc = docs[a.target]
            named = a.name if a.target == a.name else f"{a.name} (npm:{a.target})"
            if doc is None:
                if not a.changed:
                    self.emit(DEPENDENCY_ADDED, a.text, severity=Severity.WARN, **where)
                if a.optional_peer:
                    continue  # no consumer's tree can hold it from this registry
                self.emit(
                    DEPENDENCY_NEW_PACKAGE,
                    f"{named} is not on the registry being published to, so a consumer's install cannot vouch "
                    "for it (and anyone may register the name)",
                    **where,
                )
                continue
            vdocs = versions[a.target]
            if allowed is None:  # a dist-tag: the version it names today, and any it names later
                tags = doc.get("dist-tags")
                tagged = tags.get(a.range) if isinstance(tags, dict) else None
                allowed = [tagged] if isinstance(tagged, str) and tagged in vdocs else sorted(vdocs)
            created, by_versions = _created(doc, vdocs)
            age = (now - created).days if created is not None and created <= now else None
            exact = semver.parse(a.range) is not None
            facts = [
                f"first published {created.date().isoformat()} ({age} days ago"
                + (", its earliest version: the registry records no time.created" if by_versions else "")
                + ")"
                if created is not None and age is not None
                else "first publish date unknown",
                "maintainers: " + (", ".join(_maintainers(doc)) or "none listed"),
                "exact version"
                if exact
                else f"range {json.dumps(a.range)}: not exact, allows {len(allowed)} published version"
                + ("s" if len(allowed) != 1 else "")
                + " and any later one in the range",
            ]
            evidence = {
                "first_published": created.isoformat() if created else None,
                "maintainers": _maintainers(doc),
                "exact": exact,
            }
            if not a.changed:
                self.emit(
                    DEPENDENCY_ADDED, f"{a.text}: {'; '.join(facts)}", severity=Severity.WARN, **where, **evidence
                )
            if (age is None or age < NEW_PACKAGE_DAYS) and not a.optional_peer:
                if age is not None:
                    why = f"was first published {age} days ago"
                elif created is not None:
                    why = f"has a first publish date after now ({created.isoformat()})"
                else:
                    why = "has no readable first publish date"
                self.emit(
                    DEPENDENCY_NEW_PACKAGE,
                    f"{named} {why} (under {NEW_PACKAGE_DAYS} days): {a.text}",
                    **where,
                    first_published=evidence["first_published"],
                )
            scripted = [(v, s) for v in allowed if (s := _install_scripts(vdocs.get(v)))]
            if a.optional_peer and _install_scripts(vdocs.get(_latest(doc))):
                # its current release runs install scripts: a consumer whose tree holds it runs one already, whatever
                # version the peer range picks (and one whose tree does not never gets it from this release); what
                # is steered is a consumer's copy without a script to a version with one
                scripted = []
            if scripted:
                shown = ", ".join(f"{v} ({', '.join(s)})" for v, s in scripted[-MAX_SHOWN:])
                more = f" and {len(scripted) - MAX_SHOWN} more" if len(scripted) > MAX_SHOWN else ""
                self.emit(
                    DEPENDENCY_SCRIPT_HISTORY,
                    f"{named}: {len(scripted)} version{'s' if len(scripted) != 1 else ''} that {json.dumps(a.range)} "
                    f"allows had an install script: {shown}{more}" + (f": {a.text}" if a.changed else ""),
                    **where,
                    versions=[v for v, _ in scripted[-MAX_SHOWN:]],
                )

    def _planned(self, added: list[_Added], docs: Mapping[str, Mapping[str, Any] | None]) -> list[_Added]:
        """Warn about the new packages this same release publishes, at a version their range allows (a release
        plan's package gated in this run before this one, not on the registry at all: its own gate judges it,
        and the plan publishes all or nothing); return the others. A package already on the registry is judged
        by what the registry says, whatever version the plan adds to it."""
        assert self.deps is not None
        planned = [(a, v) for a in added if docs[a.target] is None and (v := self.deps.planned(a.target)) is not None]
        if not planned:
            return added
        matched = self.deps.satisfying([(a.range, [v]) for a, v in planned])
        ours = {a.name for (a, v), allowed in zip(planned, matched, strict=True) if allowed and v in allowed}
        for a, v in planned:
            if a.name in ours:
                self.emit(
                    DEPENDENCY_ADDED,
                    f"{a.text}: {a.target}@{v} is published by this same release (a package of the plan, gated in "
                    "this run)",
                    severity=Severity.WARN,
                    file="package.json",
                    line=a.line,
                    dependency=a.name,
                )
        return [a for a in added if a.name not in ours]

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


def _installed(pkg: Package | None) -> set[str]:
    """The dependency names a consumer's install of `pkg` installs: dependencies, optionalDependencies, and the
    peers not marked optional in peerDependenciesMeta (npm 7+ installs those)."""
    deps = _deps(pkg)
    meta = pkg.manifest.get("peerDependenciesMeta") if pkg else None
    meta = meta if isinstance(meta, dict) else {}
    out = set(deps.get("dependencies", {})) | set(deps.get("optionalDependencies", {}))
    for name in deps.get("peerDependencies", {}):
        entry = meta.get(name)
        if not (isinstance(entry, dict) and entry.get("optional") is True):
            out.add(name)
    return out


def _registry_target(name: str, spec: str) -> tuple[str, str] | None:
    """(package, range) the registry is asked about: the dependency itself, or an `npm:` alias's target; None
    for a dependency from outside the registry (git, URL, file, link, workspace)."""
    kind = spec_kind(spec)
    if kind == "registry":
        return name, spec.strip() or "*"
    if kind == "alias":
        rest = spec.strip()[4:]
        at = rest.find("@", 1)
        target, rng = (rest, "*") if at < 0 else (rest[:at], rest[at + 1 :] or "*")
        return (target, rng) if target else None
    return None


def _versions(doc: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    raw = doc.get("versions") if doc else None
    if not isinstance(raw, dict):
        return {}
    return {v: d for v, d in raw.items() if isinstance(v, str) and len(v) <= semver.MAX_LENGTH and isinstance(d, dict)}


def _created(doc: Mapping[str, Any], versions: Mapping[str, Any]) -> tuple[datetime | None, bool]:
    """(the package's first publish, whether it was read from the version times): `time.created` as the registry
    records it (None when unreadable); when the registry records no `created` at all (the npm mirror these
    machines reach serves only per-version times), the earliest `time[version]` of a version it still lists. That
    is never before the real first publish (an unpublished version's time goes with it): the package looks at
    most as old as it is. None when no time is readable."""
    times = doc.get("time")
    times = times if isinstance(times, dict) else {}
    if "created" in times:
        return _when(times.get("created")), False
    found = [w for v in versions if (w := _when(times.get(v))) is not None]
    return (min(found) if found else None), True


def _when(raw: object) -> datetime | None:
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _latest(doc: Mapping[str, Any]) -> str:
    tags = doc.get("dist-tags")
    latest = tags.get("latest") if isinstance(tags, dict) else None
    return latest if isinstance(latest, str) else ""


def _maintainers(doc: Mapping[str, Any]) -> list[str]:
    raw = doc.get("maintainers")
    names: list[str] = []
    for m in raw if isinstance(raw, list) else []:
        name = m.get("name") if isinstance(m, dict) else m
        if isinstance(name, str) and name.strip():
            names.append(name.strip()[:64])
    return names[:10]


def _install_scripts(vdoc: Mapping[str, Any] | None) -> list[str]:
    """What in a version document says that version runs code at install (scripts, hasInstallScript, gyp)."""
    if not vdoc:
        return []
    scripts = vdoc.get("scripts")
    found = [k for k in INSTALL_SCRIPTS if isinstance(scripts, dict) and isinstance(scripts.get(k), str) and scripts[k]]
    if not found and vdoc.get("hasInstallScript") is True:
        found.append("hasInstallScript")
    if not found and vdoc.get("gypfile") is True:
        found.append("gypfile")
    return found
