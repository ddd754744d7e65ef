"""The release diff engine: baseline package vs candidate package -> delta + findings.

Pure: no network, no disk. `diff_packages(baseline, candidate, policy)` compares
the files (by bytes, sizes reported) and the package.json fields, then applies
the install-time rules declared below. Content checks only look at what is new:
added files, and the added lines of changed files (found by an anchored diff that
skips identical runs with `bytes.find`, so large, mostly-equal files cost little).
Approvals in `policy.approve` are exact; an approved change is reported as
`approved-change` (info) instead of its blocking rule.

Rules of the registry side (baseline download, signatures, first release, version
already published) live in `gatekeeper.gates.diff`.
"""

from gatekeeper.diffing.checker import PUBLIC_REGISTRY, DependencyRegistry, Resolver
from gatekeeper.diffing.content import JS_EXTENSIONS, LONG_LINE, MINIFIED_LINE, TEXT_SCAN_LIMIT
from gatekeeper.diffing.engine import diff_packages
from gatekeeper.diffing.install_code import MAX_INSTALL_FILES
from gatekeeper.diffing.lines import added_lines
from gatekeeper.diffing.manifest import DEP_FIELDS, ENTRY_FIELDS, GIT_SCRIPTS, INSTALL_SCRIPTS, spec_kind
from gatekeeper.diffing.result import DiffResult, FieldChange, FileChange
from gatekeeper.rules.diff import (
    APPROVED,
    BIN_CHANGED,
    BUNDLED_CHANGED,
    DEPENDENCY_ADDED,
    DEPENDENCY_SOURCE,
    ENTRYPOINT_CHANGED,
    EXECUTABLE_BINARY,
    INSTALL_CODE_CHANGED,
    LARGE_CHANGE,
    LIFECYCLE_ADDED,
    LIFECYCLE_CHANGED,
    LIFECYCLE_REMOVED,
    NATIVE_BUILD_ADDED,
    OBFUSCATED_CODE,
    SENSITIVE_FILE,
    TARBALL_UNSAFE,
    VERSION_NOT_INCREASING,
)

__all__ = [
    "APPROVED",
    "BIN_CHANGED",
    "BUNDLED_CHANGED",
    "DEPENDENCY_ADDED",
    "DEPENDENCY_SOURCE",
    "DEP_FIELDS",
    "ENTRYPOINT_CHANGED",
    "ENTRY_FIELDS",
    "EXECUTABLE_BINARY",
    "GIT_SCRIPTS",
    "INSTALL_CODE_CHANGED",
    "INSTALL_SCRIPTS",
    "JS_EXTENSIONS",
    "LARGE_CHANGE",
    "LIFECYCLE_ADDED",
    "LIFECYCLE_CHANGED",
    "LIFECYCLE_REMOVED",
    "LONG_LINE",
    "MAX_INSTALL_FILES",
    "MINIFIED_LINE",
    "NATIVE_BUILD_ADDED",
    "OBFUSCATED_CODE",
    "PUBLIC_REGISTRY",
    "SENSITIVE_FILE",
    "TARBALL_UNSAFE",
    "TEXT_SCAN_LIMIT",
    "VERSION_NOT_INCREASING",
    "DependencyRegistry",
    "DiffResult",
    "FieldChange",
    "FileChange",
    "Resolver",
    "added_lines",
    "diff_packages",
    "spec_kind",
]
