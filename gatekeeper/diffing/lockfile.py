"""Lockfile review: what a change to a lockfile changes in what `npm install` runs and fetches.

Shared by pull-request mode (a PR's package-lock.json) and the release diff (an npm-shrinkwrap.json
shipped in the tarball, which npm honours on every consumer's install).

`package-lock.json` / `npm-shrinkwrap.json` v2/v3 are compared entry by entry (`packages[...]`):
an entry that is new or changed and carries `hasInstallScript: true` runs code at install time;
an entry whose `resolved` leaves the registry (git, a plain tarball URL, `file:`, a link outside
the repository) fetches code no registry vouches for; a version whose `integrity` changed is other
bytes under a published version's name. Other lockfiles (yarn, pnpm, bun, a v1
package-lock) are only reported as changed: they are not parsed.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from gatekeeper.findings import Finding, Severity
from gatekeeper.rules.diff import (
    LOCKFILE_CHANGED,
    LOCKFILE_INSTALL_SCRIPT,
    LOCKFILE_INTEGRITY_CHANGED,
    LOCKFILE_SOURCE_CHANGED,
)

if TYPE_CHECKING:
    from typing import Any

NPM_LOCKFILES = frozenset({"package-lock.json", "npm-shrinkwrap.json"})
OTHER_LOCKFILES = frozenset({"yarn.lock", "pnpm-lock.yaml", "bun.lock", "bun.lockb"})
#: Hosts that serve the public npm registry (yarn's mirror included).
PUBLIC_REGISTRY_HOSTS = frozenset({"registry.npmjs.org", "registry.yarnpkg.com"})



class LockfileError(ValueError):
    """A lockfile that cannot be read (not JSON, not an object, malformed `packages`)."""


@dataclass(frozen=True)
class LockEntry:
    """One `packages[...]` entry of an npm lockfile."""

    key: str  # node_modules/a/node_modules/b
    name: str
    version: str
    resolved: str
    integrity: str
    has_install_script: bool
    link: bool
    in_bundle: bool
    #: Names this entry depends on (dependencies, optionalDependencies, peerDependencies).
    dependencies: tuple[str, ...] = ()

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two entries the same package: name, version and where it comes from."""
        return (self.name, self.version, self.integrity or self.resolved)

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name


@dataclass(frozen=True)
class NpmLockfile:
    """A parsed package-lock.json / npm-shrinkwrap.json (v2/v3; v1 has no `packages`)."""

    version: int
    entries: dict[str, LockEntry]
    text: str
    has_packages: bool = True
    #: Names the root package (`packages[""]`) depends on.
    root_dependencies: tuple[str, ...] = ()

    def resolve(self, name: str, from_key: str) -> str | None:
        """The key Node's resolution finds for `name` required from the entry at `from_key` ("" = root)."""
        base = from_key
        while True:
            key = f"{base}/node_modules/{name}" if base else f"node_modules/{name}"
            if key in self.entries:
                return key
            if not base:
                return None
            cut = base.rfind("/node_modules/")
            base = base[:cut] if cut >= 0 else ""

    def path_to(self, target: str) -> list[str]:
        """The dependency path from the root to `target` (a key), as `name@version` specs (shortest first found)."""
        if target not in self.entries:
            return []
        parent: dict[str, str] = {}
        queue = [k for k in (self.resolve(n, "") for n in self.root_dependencies) if k]
        for k in queue:
            parent.setdefault(k, "")
        i = 0
        while i < len(queue) and target not in parent:
            key = queue[i]
            i += 1
            for dep in self.entries[key].dependencies:
                found = self.resolve(dep, key)
                if found and found not in parent:
                    parent[found] = key
                    queue.append(found)
        if target not in parent:
            return [self.entries[target].spec]
        chain = [target]
        while parent[chain[-1]]:
            chain.append(parent[chain[-1]])
        return [self.entries[k].spec for k in reversed(chain)]


@dataclass(frozen=True)
class LockfileApprovals:
    """Exact approvals from the base policy (`pull-request.install-scripts`, `pull-request.lockfile-sources`)."""

    #: `name` (any version) or `name@version` allowed to run install scripts.
    install_scripts: frozenset[str] = frozenset()
    #: name -> exact `resolved` value allowed from outside the registry.
    sources: Mapping[str, str] | None = None
    #: False: only exact `name@version` entries approve (the release diff's `approve.install-scripts`).
    any_version: bool = True
    #: Where the approvals come from, named in approved findings.
    scripts_key: str = "pull-request.install-scripts"
    sources_key: str = "pull-request.lockfile-sources"

    def script_approved(self, entry: LockEntry) -> bool:
        return entry.spec in self.install_scripts or (self.any_version and entry.name in self.install_scripts)

    def source_approved(self, entry: LockEntry) -> bool:
        return bool(self.sources) and (self.sources or {}).get(entry.name) == entry.resolved


def package_name_of(key: str) -> str:
    """`node_modules/a/node_modules/@s/b` -> `@s/b`."""
    return key.rsplit("node_modules/", 1)[-1]


def parse_npm_lockfile(data: bytes | str) -> NpmLockfile:
    """Parse an npm lockfile; raises LockfileError when it is not a readable lockfile."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        doc = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise LockfileError(f"not valid UTF-8 JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise LockfileError("the top level is not a JSON object")
    version = doc.get("lockfileVersion", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise LockfileError(f"`lockfileVersion` is {version!r}, not a number")
    packages = doc.get("packages")
    if version < 2 or packages is None:
        return NpmLockfile(version, {}, text, has_packages=False)
    if not isinstance(packages, dict):
        raise LockfileError("`packages` is not a JSON object")
    entries: dict[str, LockEntry] = {}
    for key, raw in packages.items():
        if "node_modules/" not in key and not key.startswith("node_modules"):
            continue  # the root ("") and workspace folders: their package.json files are compared instead
        if not isinstance(raw, dict):
            raise LockfileError(f"`packages[{key!r}]` is not a JSON object")
        name = raw.get("name") if isinstance(raw.get("name"), str) else package_name_of(key)
        deps: list[str] = []
        for fld in ("dependencies", "optionalDependencies", "peerDependencies"):
            value = raw.get(fld)
            if isinstance(value, dict):
                deps += [str(k) for k in value if str(k) not in deps]
        entries[key] = LockEntry(
            key=key,
            name=str(name),
            version=_str(raw.get("version")),
            resolved=_str(raw.get("resolved")),
            integrity=_str(raw.get("integrity")),
            has_install_script=raw.get("hasInstallScript") is True,
            link=raw.get("link") is True,
            in_bundle=raw.get("inBundle") is True,
            dependencies=tuple(deps),
        )
    root = packages.get("")
    root_deps: list[str] = []
    if isinstance(root, dict):
        for fld in ("dependencies", "optionalDependencies", "peerDependencies"):
            value = root.get(fld)
            if isinstance(value, dict):
                root_deps += [str(k) for k in value if str(k) not in root_deps]
    return NpmLockfile(version, entries, text, root_dependencies=tuple(root_deps))


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def registry_hosts(registry_url: str, base: NpmLockfile | None) -> frozenset[str]:
    """Hosts that count as "the registry": the configured one, npm's, and those the base lockfile resolves from."""
    hosts = set(PUBLIC_REGISTRY_HOSTS)
    configured = urlsplit(registry_url).netloc
    if configured:
        hosts.add(configured)
    if base is not None:
        for entry in base.entries.values():
            url = urlsplit(entry.resolved)
            if url.scheme == "https" and _is_registry_path(url.path, entry.name):
                hosts.add(url.netloc)
    return frozenset(hosts)


def _is_registry_path(path: str, name: str) -> bool:
    """`/<name>/-/<file>.tgz` (a registry may serve under a path prefix; scopes may be %2f-escaped)."""
    path = unquote(path)
    return bool(name) and f"/{name}/-/" in path and path.endswith(".tgz")


def source_problem(entry: LockEntry, registry_url: str, hosts: frozenset[str], lockfile_dir: str) -> str | None:
    """Why `entry` does not come from the registry, or None when it does."""
    if entry.in_bundle:
        return None  # shipped inside its parent's tarball, which is checked itself
    resolved = entry.resolved
    if entry.link:
        target = posixpath.normpath(posixpath.join(lockfile_dir, resolved)) if resolved else ""
        if not resolved or resolved.startswith("/") or target == ".." or target.startswith("../"):
            return f"a link to `{resolved}`, outside the repository"
        return None  # a workspace inside the repository: its package.json is compared itself
    if not resolved:
        return None  # npm resolves it from the configured registry
    url = urlsplit(resolved)
    scheme = url.scheme.lower()
    if scheme.startswith("git") or scheme in ("github", "gitlab", "bitbucket", "gist"):
        return f"git source `{resolved}`"
    if scheme == "file":
        return f"local file `{resolved}`"
    if scheme in ("http", "https"):
        configured = urlsplit(registry_url)
        allowed_scheme = scheme == "https" or (url.netloc == configured.netloc and scheme == configured.scheme)
        if url.netloc in hosts and allowed_scheme and _is_registry_path(url.path, entry.name):
            return None
        return f"tarball URL `{resolved}`, not the registry"
    return f"source `{resolved}`"


def json_key_line(text: str, keys: Iterable[str]) -> int | None:
    """1-based line of the last key of a path of JSON object keys, found in order in the text."""
    pos = 0
    for key in keys:
        m = re.compile(re.escape(json.dumps(key)) + r"\s*:").search(text, pos)
        if m is None:
            return None
        pos = m.start()
    return text.count("\n", 0, pos) + 1


def compare_npm_lockfiles(
    path: str,
    base: NpmLockfile | None,
    head: NpmLockfile,
    *,
    registry_url: str,
    approvals: LockfileApprovals,
) -> list[Finding]:
    """Findings for the entries `head` adds or changes compared with `base` (None: no lockfile before)."""
    if not head.has_packages:
        return [
            LOCKFILE_CHANGED(
                f"`{path}` is lockfileVersion {head.version}: it has no `packages` section to analyse. "
                "Regenerate it with npm 7 or later.",
                file=path,
                line=json_key_line(head.text, ["lockfileVersion"]),
            )
        ]
    base_entries = base.entries if base is not None else {}
    with_scripts = {e.identity for e in base_entries.values() if e.has_install_script}
    hosts = registry_hosts(registry_url, base)
    lockfile_dir = posixpath.dirname(path)
    integrity_of = {(e.name, e.version): e.integrity for e in base_entries.values() if e.version and e.integrity}
    findings: list[Finding] = []
    for key, entry in head.entries.items():
        old = base_entries.get(key)
        if old == entry:
            continue
        before = integrity_of.get((entry.name, entry.version))
        if before and entry.integrity and before != entry.integrity and not entry.in_bundle:
            findings.append(
                LOCKFILE_INTEGRITY_CHANGED(
                    f"`{entry.spec}` ({key}) has integrity `{entry.integrity[:30]}…`, not `{before[:30]}…` as before: "
                    "the same version with other bytes.",
                    file=path,
                    line=json_key_line(head.text, ["packages", key, "integrity"]),
                    package=entry.name,
                    version=entry.version,
                    key=key,
                )
            )
        if entry.has_install_script and entry.identity not in with_scripts:
            line = json_key_line(head.text, ["packages", key, "hasInstallScript"])
            what = "is new" if old is None else f"changed (was {old.spec})"
            finding = LOCKFILE_INSTALL_SCRIPT(
                f"`{entry.spec}` ({key}) {what} and runs an install script at `npm install`.",
                file=path,
                line=line,
                package=entry.name,
                version=entry.version,
                key=key,
                resolved=entry.resolved,
            )
            findings.append(_approved(finding, approvals.script_approved(entry), approvals.scripts_key))
        problem = source_problem(entry, registry_url, hosts, lockfile_dir)
        if problem is not None and (old is None or (old.resolved, old.link) != (entry.resolved, entry.link)):
            line = json_key_line(head.text, ["packages", key, "link" if entry.link else "resolved"])
            finding = LOCKFILE_SOURCE_CHANGED(
                f"`{entry.spec}` ({key}) comes from {problem}"
                + (f" (was `{old.resolved or 'the registry'}`)." if old is not None else "."),
                file=path,
                line=line,
                package=entry.name,
                key=key,
                resolved=entry.resolved,
            )
            findings.append(_approved(finding, approvals.source_approved(entry), approvals.sources_key))
    return findings


def _approved(finding: Finding, approved: bool, where: str) -> Finding:
    if not approved:
        return finding
    return Finding(
        rule=finding.rule,
        severity=Severity.INFO,
        message=f"{finding.message} Approved exactly by `{where}` in the policy.",
        file=finding.file,
        line=finding.line,
        evidence={**finding.evidence, "approved_by": where},
    )


def other_lockfile_changed(path: str, status: str, text: str | None) -> Finding:
    """`lockfile-changed` for a lockfile this module does not parse."""
    return LOCKFILE_CHANGED(
        f"`{path}` was {status}; it is not analysed, so review its diff for new install scripts and sources.",
        file=path,
        line=1 if text else None,
        status=status,
    )


def is_lockfile(path: str) -> bool:
    name = posixpath.basename(path)
    return name in NPM_LOCKFILES or name in OTHER_LOCKFILES


def review_lockfile(
    path: str,
    base_data: bytes | None,
    head_data: bytes | None,
    *,
    registry_url: str,
    approvals: LockfileApprovals,
) -> list[Finding]:
    """Findings for one lockfile path changed by a PR (raises LockfileError for an unreadable head lockfile)."""
    name = posixpath.basename(path)
    if head_data is None:
        return [other_lockfile_changed(path, "deleted", None)]
    if name not in NPM_LOCKFILES:
        status = "added" if base_data is None else "modified"
        return [other_lockfile_changed(path, status, head_data.decode("utf-8", "replace"))]
    head = parse_npm_lockfile(head_data)
    base: NpmLockfile | None = None
    if base_data is not None:
        try:
            base = parse_npm_lockfile(base_data)
        except LockfileError:
            base = None  # an unreadable base counts as empty: everything in the head is new
    return compare_npm_lockfiles(path, base, head, registry_url=registry_url, approvals=approvals)
