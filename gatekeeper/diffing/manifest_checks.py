"""Checks on package.json: version, lifecycle scripts, native build, bins, entry points."""

from __future__ import annotations

import json

from .._internal import semver
from ..findings import Severity
from .checker import Checker
from .manifest import (
    GIT_SCRIPTS,
    INSTALL_SCRIPTS,
    LOCAL_ONLY_SCRIPTS,
    _bins,
    _entry_targets,
    _native_build,
    _norm,
    _scripts,
)
from .rules import (
    BIN_CHANGED,
    ENTRYPOINT_CHANGED,
    LIFECYCLE_ADDED,
    LIFECYCLE_CHANGED,
    LIFECYCLE_REMOVED,
    NATIVE_BUILD_ADDED,
    VERSION_NOT_INCREASING,
)


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
