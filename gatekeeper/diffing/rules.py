"""The rules of the release diff, declared (registered) once at import."""

from __future__ import annotations

from gatekeeper.findings import Severity
from gatekeeper.rules import rule

LIFECYCLE_ADDED = rule(
    "lifecycle-script-added",
    Severity.BLOCK,
    "An install-time lifecycle script was added",
    'If intended, approve the exact command: `approve: {scripts: {postinstall: "<command>"}}`; otherwise remove it.',
)
LIFECYCLE_CHANGED = rule(
    "lifecycle-script-changed",
    Severity.BLOCK,
    "An install-time lifecycle script's command changed",
    "If intended, approve the exact new command in `approve.scripts`; otherwise restore the previous command.",
)
LIFECYCLE_REMOVED = rule(
    "lifecycle-script-removed",
    Severity.BLOCK,
    "An install-time lifecycle script was removed",
    'If intended, approve the removal with an empty command: `approve: {scripts: {postinstall: ""}}`.',
)
INSTALL_CODE_CHANGED = rule(
    "install-script-code-changed",
    Severity.BLOCK,
    "Code that an install script runs changed",
    "Review the file; if intended, approve its path in `approve.files` (scripts by text in `approve.scripts`).",
)
NATIVE_BUILD_ADDED = rule(
    "native-build-added",
    Severity.BLOCK,
    "npm will now run `node-gyp rebuild` at install time",
    "If the native build is intended, approve it with `approve: {files: [binding.gyp]}`; else drop binding.gyp.",
)
DEPENDENCY_ADDED = rule(
    "dependency-added",
    Severity.BLOCK,
    "A dependency was added (blocks in a patch release, warns otherwise)",
    "If intended, approve it by name: `approve: {dependencies: [name]}`, or release it as a minor version.",
)
DEPENDENCY_SOURCE = rule(
    "dependency-source-changed",
    Severity.BLOCK,
    "A dependency now comes from outside the registry (git, URL, file, link, alias)",
    'Depend on a registry version, or approve the exact specifier: `approve: {sources: {name: "<spec>"}}`.',
)
BUNDLED_CHANGED = rule(
    "bundled-dependencies-changed",
    Severity.BLOCK,
    "Bundled dependencies (shipped inside the tarball) changed",
    "Review the bundled code; if intended, approve the bundled package names in `approve.dependencies`.",
)
BIN_CHANGED = rule(
    "bin-changed",
    Severity.BLOCK,
    "A bin entry was added or now points at another file",
    'If intended, approve the exact target: `approve: {bin: {name: "<path>"}}`.',
)
ENTRYPOINT_CHANGED = rule(
    "entrypoint-changed",
    Severity.WARN,
    "main/exports/module/browser points at a new file",
    "Check the new entry file is the one you meant to ship; approve its path in `approve.files` to silence this.",
)
SENSITIVE_FILE = rule(
    "sensitive-file",
    Severity.BLOCK,
    "A credential or secret-bearing file is in the tarball",
    "Remove it (add it to .npmignore or narrow `files` in package.json) and revoke any credential it held.",
)
EXECUTABLE_BINARY = rule(
    "executable-binary-added",
    Severity.BLOCK,
    "A native executable or Node addon (ELF, Mach-O, PE, .node) was added, or replaced a file of another "
    "format or architecture",
    "A new binary is new code no review saw: build it in CI from source you review; if intended, approve it in "
    "`approve.files` (bound to its content).",
)
EXECUTABLE_BINARY_CHANGED = rule(
    "executable-binary-changed",
    Severity.BLOCK,
    "A native executable or Node addon was rebuilt at a path that held one (same format and architecture)",
    "Expected on every release of a package shipping prebuilt binaries: release it through the reviewed "
    "release (`review.environment`) or approve the new content in `approve.files` (content-bound); a rebuild "
    "you did not make means the build was tampered with.",
)
SHRINKWRAP_ADDED = rule(
    "shrinkwrap-added",
    Severity.BLOCK,
    "The tarball now ships an npm-shrinkwrap.json, which npm honours on every consumer's install",
    "Remove npm-shrinkwrap.json from the package (`files` / .npmignore) unless pinning the whole tree is "
    "intended; then approve it in `approve.files`. A changed shrinkwrap is reviewed with the lockfile rules.",
)
DEPENDENCY_INSTALL_SCRIPT = rule(
    "dependency-install-script",
    Severity.BLOCK,
    "A consumer's fresh install now pulls in a package that runs install scripts (any release type)",
    "Check that package's preinstall/install/postinstall (or binding.gyp); if intended, approve the exact "
    "version: `approve: {install-scripts: [name@version]}`. Otherwise drop or pin the dependency that brings it.",
)
INSTALL_DATA_CHANGED = rule(
    "install-data-changed",
    Severity.WARN,
    "A data file (not code) that install-time code reads changed",
    "Nothing runs from it; check the change is expected (e.g. a checksum list). A changed download host or URL "
    "in it blocks as `install-download-changed`.",
)
INSTALL_DOWNLOAD_CHANGED = rule(
    "install-download-changed",
    Severity.BLOCK,
    "A download host or URL in installer config (package.json `binary`/`config`) or install data changed",
    "Install-time downloads must come from where they came before; if the move is intended, approve the path "
    "(`approve.files: [package.json]` or the data file) after checking the new host.",
)
LOCAL_INSTALL_HOOK = rule(
    "local-install-hook-changed",
    Severity.BLOCK,
    "A setting or file that makes a local install run code changed (.npmrc node-options/script-shell, "
    ".pnpmfile.cjs, .yarnrc.yml yarnPath, overrides)",
    "Review it like code: a maintainer's or CI's `npm install` runs it. If intended, have a maintainer apply "
    "the approval label, or approve the path in the base policy's `approve.files`.",
)
OBFUSCATED_CODE = rule(
    "obfuscated-code",
    Severity.BLOCK,
    "Added or changed JavaScript looks obfuscated",
    "Ship readable source; if the code is legitimate (e.g. an embedded wasm blob), approve its path in `approve.files`",
)
VERSION_NOT_INCREASING = rule(
    "version-not-increasing",
    Severity.BLOCK,
    "The version is not valid semver or not above the last release",
    "Set a valid semver version above the last release in package.json.",
)
LARGE_CHANGE = rule(
    "large-change",
    Severity.WARN,
    "Many files or bytes were added",
    "Check nothing unintended is packed (`npm pack --dry-run`); tune `diff.large-change` in the policy.",
)
TARBALL_UNSAFE = rule(
    "tarball-unsafe",
    Severity.BLOCK,
    "The tarball is unsafe or malformed (paths, links, devices, duplicates, size limits, package.json)",
    "Pack with `npm pack` from a clean checkout; raise `diff.limits` in the policy only for a known large package.",
)
PUBLISH_CONFIG_UNSAFE = rule(
    "publish-config-unsafe",
    Severity.BLOCK,
    "package.json `publishConfig` sets npm config that `npm publish` would take from the package (a proxy, TLS, "
    "a scoped registry, credentials, dry-run, ...)",
    "Remove those keys from `publishConfig`: npm applies every config key there that its command line does not set, "
    "so a proxy or CA in the package would receive the upload and its token. Use the `registry`, `tag` and `access` "
    "inputs instead; `publishConfig` may hold only access, tag, provenance, registry (overridden by the gate) and "
    "non-npm manifest overrides (directory, main, exports, types, bin, ...).",
)
APPROVED = rule(
    "approved-change",
    Severity.INFO,
    "An install-time change matched an exact approval in the policy",
    "Nothing to do; remove the approval from the policy once the release is out.",
)
