"""The entry point: safety, file and field delta, then every check in a fixed order."""

from __future__ import annotations

from gatekeeper._internal.tarball import Package
from gatekeeper.diffing.checker import PUBLIC_REGISTRY, DependencyRegistry, Resolver
from gatekeeper.diffing.content_checks import ContentChecks
from gatekeeper.diffing.dependency_checks import DependencyChecks
from gatekeeper.diffing.install_code import InstallCodeChecks
from gatekeeper.diffing.lockfile_checks import LockfileChecks
from gatekeeper.diffing.manifest_checks import ManifestChecks
from gatekeeper.diffing.result import DiffResult, FieldChange, FileChange
from gatekeeper.findings import Finding, Severity
from gatekeeper.rules.diff import TARBALL_UNSAFE
from gatekeeper.trust.policy import Policy


def diff_packages(
    baseline: Package | None,
    candidate: Package,
    policy: Policy,
    *,
    registry_url: str = PUBLIC_REGISTRY,
    resolver: Resolver | None = None,
    local_install: bool = False,
    dependencies: DependencyRegistry | None = None,
) -> DiffResult:
    """Diff two read packages (baseline None: first release) and apply the diff rules.

    `resolver` (manifest -> lockfile bytes) resolves dependency trees as a consumer would when the
    dependencies changed (None: that check is skipped); `local_install` is pull-request mode; `dependencies`
    answers what the registry knows about a dependency (first publish, install scripts, releases)."""
    result = DiffResult(candidate.name, candidate.version, baseline.version if baseline else None)
    unsafe = _safety(baseline, candidate)
    result.findings += unsafe
    if any(f.blocks for f in unsafe):
        return result
    result.files = _file_delta(baseline, candidate)
    result.fields = _field_delta(baseline, candidate)
    checker = _Checker(
        baseline,
        candidate,
        policy,
        result,
        registry_url=registry_url,
        resolver=resolver,
        local_install=local_install,
        dependencies=dependencies,
    )
    checker.run()
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
            modes = (o.mode, n.mode) if (n.mode & 0o111) != (o.mode & 0o111) else (None, None)
            if not n.same_data(o):  # memcmp in place: an unchanged file is never copied
                out.append(FileChange(path, "changed", o.size, n.size, *modes))
            elif modes[0] is not None:
                out.append(FileChange(path, "mode", o.size, n.size, *modes))
    return out


def _field_delta(baseline: Package | None, candidate: Package) -> list[FieldChange]:
    old = baseline.manifest if baseline else {}
    new = candidate.manifest
    keys = list(new) + [k for k in old if k not in new]
    return [FieldChange(k, old.get(k), new.get(k), candidate.line_of(k)) for k in keys if old.get(k) != new.get(k)]


class _Checker(ManifestChecks, InstallCodeChecks, DependencyChecks, LockfileChecks, ContentChecks):
    """Applies every content/manifest rule to one baseline/candidate pair."""

    def diff_release(self, old: Package, new: Package) -> DiffResult:
        return diff_packages(old, new, Policy(), registry_url=self.registry_url)

    def run(self) -> None:
        self.version()
        self.publish_config()
        self.lifecycle()
        self.native_build()
        self.install_code()
        self.dependencies()
        self.sources()
        self.local_ranges()
        self.overrides()
        self.shrinkwrap()
        self.resolved_tree()
        if not self.first:
            self.bundled()
            self.bins()
            self.entrypoints()
            self.large_change()
        self.files()
