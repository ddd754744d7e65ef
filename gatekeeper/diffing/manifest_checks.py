"""Checks on package.json: version, lifecycle scripts, native build, bins, entry points."""

from __future__ import annotations

import json

from gatekeeper._internal import semver
from gatekeeper.diffing.checker import Checker
from gatekeeper.diffing.manifest import (
    GIT_SCRIPTS,
    INSTALL_SCRIPTS,
    LOCAL_ONLY_SCRIPTS,
    _bins,
    _entry_targets,
    _native_build,
    _norm,
    _scripts,
)
from gatekeeper.findings import Severity
from gatekeeper.rules.diff import (
    BIN_CHANGED,
    ENTRYPOINT_CHANGED,
    LIFECYCLE_ADDED,
    LIFECYCLE_CHANGED,
    LIFECYCLE_REMOVED,
    NATIVE_BUILD_ADDED,
    PUBLISH_CONFIG_UNSAFE,
    VERSION_NOT_INCREASING,
)

#: npm's config keys (`@npmcli/config` definitions, npm 11): `npm publish` applies any of them found in
#: `publishConfig` unless its command line sets it. tests/test_diff_rules.py keeps this in step with the npm CLI.
NPM_CONFIG_KEYS = frozenset(
    {
        "_auth", "access", "all", "allow-directory", "allow-file", "allow-git", "allow-remote",
        "allow-same-version", "allow-scripts", "allow-scripts-pending", "allow-scripts-pin", "also", "audit",
        "audit-level", "auth-type", "before", "bin-links", "browser", "bypass-2fa", "ca", "cache", "cache-max",
        "cache-min", "cafile", "call", "cert", "cidr", "color", "commit-hooks", "cpu",
        "dangerously-allow-all-scripts", "depth", "description", "dev", "diff", "diff-dst-prefix",
        "diff-ignore-all-space", "diff-name-only", "diff-no-prefix", "diff-src-prefix", "diff-text", "diff-unified",
        "dry-run", "editor", "engine-strict", "expect-result-count", "expect-results", "expires", "fetch-retries",
        "fetch-retry-factor", "fetch-retry-maxtimeout", "fetch-retry-mintimeout", "fetch-timeout", "force",
        "foreground-scripts", "format-package-lock", "fund", "git", "git-tag-version", "global", "global-style",
        "globalconfig", "heading", "https-proxy", "if-present", "ignore-scripts", "include", "include-attestations",
        "include-staged", "include-workspace-root", "init-author-email", "init-author-name", "init-author-url",
        "init-license", "init-module", "init-private", "init-type", "init-version", "init.author.email",
        "init.author.name", "init.author.url", "init.license", "init.module", "init.version", "install-links",
        "install-strategy", "json", "key", "legacy-bundling", "legacy-peer-deps", "libc", "link", "local-address",
        "location", "lockfile-version", "loglevel", "logs-dir", "logs-max", "long", "maxsockets", "message",
        "min-release-age", "min-release-age-exclude", "name", "node-gyp", "node-options", "noproxy", "offline",
        "omit", "omit-lockfile-registry-resolved", "only", "optional", "orgs", "orgs-permission", "os", "otp",
        "pack-destination", "package", "package-lock", "package-lock-only", "packages", "packages-all",
        "packages-and-scopes-permission", "parseable", "password", "prefer-dedupe", "prefer-offline",
        "prefer-online", "prefix", "preid", "production", "progress", "provenance", "provenance-file", "proxy",
        "read-only", "rebuild-bundle", "registry", "replace-registry-host", "save", "save-bundle", "save-dev",
        "save-exact", "save-optional", "save-peer", "save-prefix", "save-prod", "sbom-format", "sbom-type", "scope",
        "scopes", "script-shell", "searchexclude", "searchlimit", "searchopts", "searchstaleness", "shell",
        "shrinkwrap", "sign-git-commit", "sign-git-tag", "strict-allow-scripts", "strict-peer-deps", "strict-ssl",
        "tag", "tag-version-prefix", "timing", "token-description", "umask", "unicode", "update-notifier", "usage",
        "user-agent", "userconfig", "version", "versions", "viewer", "which", "workspace", "workspaces",
        "workspaces-update", "yes",
    }
)
#: The npm config keys the gate's publish may take from `publishConfig`: `registry` (the gate's `--registry`
#: overrides it), `access`, `tag` and `provenance`. Keys that are not npm config are ignored by npm.
SAFE_PUBLISH_CONFIG = frozenset({"access", "tag", "provenance", "registry"})


def _unsafe_publish_config(key: str) -> bool:
    """Would `npm publish` take this `publishConfig` key as config? npm's flatten also copies keys matching
    `/@.*:registry$/i` (scoped registries) and `/^\\/\\//` (`//host/:_authToken` and the like)."""
    scoped = key.lower().endswith(":registry") and "@" in key[: len(key) - len(":registry")]
    return (key in NPM_CONFIG_KEYS and key not in SAFE_PUBLISH_CONFIG) or scoped or key.startswith("//")


class ManifestChecks(Checker):
    """The package.json rules (except dependencies)."""

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

    def publish_config(self) -> None:
        """`npm publish` applies every `publishConfig` key its command line does not set (npm's publish.js)."""
        raw = self.new.manifest.get("publishConfig")
        if not isinstance(raw, dict):
            return
        bad = sorted(str(k) for k in raw if _unsafe_publish_config(str(k)))
        if bad:
            shown = ", ".join(json.dumps(k) for k in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            self.emit(
                PUBLISH_CONFIG_UNSAFE,
                f"`publishConfig` sets {shown}: `npm publish` would take it from the package (a proxy or CA there "
                "receives the upload and its token)",
                file="package.json",
                line=self.new.line_of("publishConfig"),
                keys=bad,
            )

    def lifecycle(self) -> None:
        old, new = _scripts(self.old), _scripts(self.new)
        # A local `npm install` of the repository (pull-request mode) also runs prepare & co.
        names = INSTALL_SCRIPTS + GIT_SCRIPTS + (LOCAL_ONLY_SCRIPTS if self.local_install else ())
        for name in names:
            before, after = old.get(name), new.get(name)
            if before == after:
                continue
            severity = Severity.WARN if name in GIT_SCRIPTS and not self.local_install else None
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
