"""Gate `diff` and the release-diff engine: the baseline, and what changed at install time."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

VERSION_EXISTS = Rule(
    "version-exists",
    Severity.BLOCK,
    "This version is already published on the registry",
    "Bump the version in package.json; a published version can never be replaced.",
    floor=True,
)
FIRST_RELEASE = Rule(
    "first-release",
    Severity.WARN,
    "Nothing is published yet: there is no release to diff against",
    "Check the package name is the one you mean; set `diff.first-release: block` to require a manual first publish.",
)
BASELINE_INTEGRITY = Rule(
    "baseline-integrity-mismatch",
    Severity.BLOCK,
    "The last release's tarball does not match its recorded integrity",
    "The registry or a proxy served altered bytes: investigate before publishing, and report it to the registry.",
    floor=True,
)
BASELINE_SIGNATURE_INVALID = Rule(
    "baseline-signature-invalid",
    Severity.BLOCK,
    "The last release's registry signature is missing, expired or does not verify",
    "Do not publish on top of a release that fails verification; check `npm audit signatures` and the registry.",
    floor=True,
)
BASELINE_SIGNATURE_UNAVAILABLE = Rule(
    "baseline-signature-unavailable",
    Severity.INFO,
    "The registry serves no signing keys, so the last release's signature was not checked",
    "Nothing to do on a private registry; integrity (sha512) was still checked.",
)
REGISTRY_SIGNATURES_MISSING = Rule(
    "registry-signatures-missing",
    Severity.BLOCK,
    "The public registry served no signing keys, so the last release's signature could not be checked",
    "registry.npmjs.org always serves keys at /-/npm/v1/keys: something between the runner and the registry "
    "(a proxy, a mirror) answered instead. Publish through a path that reaches the real registry.",
    floor=True,
)
BASELINE_TARBALL_ELSEWHERE = Rule(
    "baseline-tarball-elsewhere",
    Severity.WARN,
    "The last release's tarball URL is not on the registry (another scheme, host or port)",
    "It was downloaded without the token and verified by its sha512 integrity; check that the packument's "
    "`dist.tarball` is expected to point there (some private registries serve tarballs from a CDN).",
)
LIFECYCLE_ADDED = Rule(
    "lifecycle-script-added",
    Severity.BLOCK,
    "An install-time lifecycle script was added",
    'If intended, approve the exact command: `approve: {scripts: {postinstall: "<command>"}}`; otherwise remove it.',
)
LIFECYCLE_CHANGED = Rule(
    "lifecycle-script-changed",
    Severity.BLOCK,
    "An install-time lifecycle script's command changed",
    "If intended, approve the exact new command in `approve.scripts`; otherwise restore the previous command.",
)
LIFECYCLE_REMOVED = Rule(
    "lifecycle-script-removed",
    Severity.BLOCK,
    "An install-time lifecycle script was removed",
    'If intended, approve the removal with an empty command: `approve: {scripts: {postinstall: ""}}`.',
)
INSTALL_CODE_CHANGED = Rule(
    "install-script-code-changed",
    Severity.BLOCK,
    "Code that an install script runs changed",
    "Review the file; if intended, approve its path in `approve.files` (scripts by text in `approve.scripts`).",
)
NATIVE_BUILD_ADDED = Rule(
    "native-build-added",
    Severity.BLOCK,
    "npm will now run `node-gyp rebuild` at install time",
    "If the native build is intended, approve it with `approve: {files: [binding.gyp]}`; else drop binding.gyp.",
)
DEPENDENCY_ADDED = Rule(
    "dependency-added",
    Severity.BLOCK,
    "A dependency was added (blocks in a patch release; warns otherwise, with the registry's facts about it)",
    "If intended, approve it by name: `approve: {dependencies: [name]}`. (A new dependency blocks only in a patch "
    "release; in a minor or major release it is a warning unless `dependency-new-package` or "
    "`dependency-install-script-history` blocks it.)",
)
DEPENDENCY_NEW_PACKAGE = Rule(
    "dependency-new-package",
    Severity.BLOCK,
    "A dependency added in this release was first published less than 30 days ago (or not at all, or when is "
    "unknown)",
    "A package this young has no track record (the March 2026 axios compromise added one published 18 hours "
    "earlier): check who publishes it and what it runs, then approve it by name: `approve: {dependencies: [name]}`, "
    "or wait until it is 30 days old.",
)
DEPENDENCY_SCRIPT_HISTORY = Rule(
    "dependency-install-script-history",
    Severity.BLOCK,
    "A dependency added in this release has had an install script in a version its declared range allows",
    "Every consumer's install may run that script (a range also reaches versions published after this release): "
    "check the versions named, pin an exact version without one if you can, and approve the dependency by name: "
    "`approve: {dependencies: [name]}`.",
)
DEPENDENCY_SOURCE = Rule(
    "dependency-source-changed",
    Severity.BLOCK,
    "A dependency now comes from outside the registry (git, URL, file, link, alias)",
    'Depend on a registry version, or approve the exact specifier: `approve: {sources: {name: "<spec>"}}`.',
)
UNRESOLVED_RANGE = Rule(
    "unresolved-workspace-range",
    Severity.BLOCK,
    "The packed package.json still holds a `workspace:`, `catalog:`, `link:` or `file:` range, which consumers "
    "cannot install",
    "Pack with the repository's own package manager, which rewrites `workspace:` and `catalog:` ranges to real "
    "versions: set the `package-manager` input (`package-manager: pnpm`, `yarn` or `bun`; `auto` reads the "
    "repository's `packageManager` field, else its lockfile). For `link:` and `file:`, depend on a registry version "
    "(or bundle the dependency with `bundleDependencies`).",
    floor=True,
)
BUNDLED_CHANGED = Rule(
    "bundled-dependencies-changed",
    Severity.BLOCK,
    "Bundled dependencies (shipped inside the tarball) changed",
    "Review the bundled code; if intended, approve the bundled package names in `approve.dependencies`.",
)
BIN_CHANGED = Rule(
    "bin-changed",
    Severity.BLOCK,
    "A bin entry was added or now points at another file",
    'If intended, approve the exact target: `approve: {bin: {name: "<path>"}}`.',
)
ENTRYPOINT_CHANGED = Rule(
    "entrypoint-changed",
    Severity.WARN,
    "main/exports/module/browser points at a new file",
    "Check the new entry file is the one you meant to ship; approve its path in `approve.files` to silence this.",
)
SENSITIVE_FILE = Rule(
    "sensitive-file",
    Severity.BLOCK,
    "A credential or secret-bearing file is in the tarball",
    "Remove it (add it to .npmignore or narrow `files` in package.json) and revoke any credential it held.",
)
EXECUTABLE_BINARY = Rule(
    "executable-binary-added",
    Severity.BLOCK,
    "A native executable or Node addon (ELF, Mach-O, PE, .node) was added, or replaced a file of another "
    "format or architecture",
    "A new binary is new code no review saw: build it in CI from source you review; if intended, approve it in "
    "`approve.files` (bound to its content).",
)
EXECUTABLE_BINARY_CHANGED = Rule(
    "executable-binary-changed",
    Severity.BLOCK,
    "A native executable or Node addon was rebuilt at a path that held one (same format and architecture)",
    "Expected on every release of a package shipping prebuilt binaries: release it through the reviewed "
    "release (`review.environment`) or approve the new content in `approve.files` (content-bound); a rebuild "
    "you did not make means the build was tampered with.",
)
EXECUTABLE_BINARY_BECAME_SCRIPT = Rule(
    "executable-binary-became-script",
    Severity.BLOCK,
    "A native executable was replaced by a script or other non-native file (its format changed from binary to text)",
    "Whatever ran the binary (its bin link, an install script of this or another package, a child process) now "
    "runs this file, which no build produced: review it; if intended, approve it in `approve.files` (bound to "
    "its content).",
)
SHRINKWRAP_ADDED = Rule(
    "shrinkwrap-added",
    Severity.BLOCK,
    "The tarball now ships an npm-shrinkwrap.json, which npm honours on every consumer's install",
    "Remove npm-shrinkwrap.json from the package (`files` / .npmignore) unless pinning the whole tree is "
    "intended; then approve it in `approve.files`. A changed shrinkwrap is reviewed with the lockfile rules.",
)
DEPENDENCY_INSTALL_SCRIPT = Rule(
    "dependency-install-script",
    Severity.BLOCK,
    "A consumer's fresh install now pulls in a package that runs install scripts, or moves one to a version whose "
    "install-time code changed (any release type)",
    "Check that package's preinstall/install/postinstall (or binding.gyp) and what changed in it; if intended, "
    "approve the exact version: `approve: {install-scripts: [name@version]}`. Otherwise drop or pin the dependency "
    "that brings it.",
)
INSTALL_DATA_CHANGED = Rule(
    "install-data-changed",
    Severity.WARN,
    "A data file (not code) that install-time code reads changed",
    "Nothing runs from it; check the change is expected (e.g. a checksum list). A changed download host or URL "
    "in it blocks as `install-download-changed`.",
)
INSTALL_DOWNLOAD_CHANGED = Rule(
    "install-download-changed",
    Severity.BLOCK,
    "A download host or URL in installer config (package.json `binary`/`config`) or install data changed",
    "Install-time downloads must come from where they came before; if the move is intended, approve the path "
    "(`approve.files: [package.json]` or the data file) after checking the new host.",
)
LOCAL_INSTALL_HOOK = Rule(
    "local-install-hook-changed",
    Severity.BLOCK,
    "A setting or file that makes a local install run code changed (.npmrc node-options/script-shell, "
    ".pnpmfile.cjs, .yarnrc.yml yarnPath, overrides)",
    "Review it like code: a maintainer's or CI's `npm install` runs it. If intended, have a maintainer apply "
    "the approval label, or approve the path in the base policy's `approve.files`.",
)
OBFUSCATED_CODE = Rule(
    "obfuscated-code",
    Severity.BLOCK,
    "Added or changed JavaScript looks obfuscated",
    "Ship readable source; if the code is legitimate (e.g. an embedded wasm blob), approve its path in `approve.files`",
)
VERSION_NOT_INCREASING = Rule(
    "version-not-increasing",
    Severity.BLOCK,
    "The version is not valid semver or not above the last release",
    "Set a valid semver version above the last release in package.json.",
    floor=True,
)
LARGE_CHANGE = Rule(
    "large-change",
    Severity.WARN,
    "Many files or bytes were added",
    "Check nothing unintended is packed (`npm pack --dry-run`); tune `diff.large-change` in the policy.",
)
TARBALL_UNSAFE = Rule(
    "tarball-unsafe",
    Severity.BLOCK,
    "The tarball is unsafe or malformed (paths, links, devices, duplicates, size limits, package.json)",
    "Pack with `npm pack` from a clean checkout; raise `diff.limits` in the policy only for a known large package.",
    floor=True,
    knob="`diff.limits` (for a known large package)",
)
PUBLISH_CONFIG_UNSAFE = Rule(
    "publish-config-unsafe",
    Severity.BLOCK,
    "package.json `publishConfig` sets npm config that `npm publish` would take from the package (a proxy, TLS, "
    "a scoped registry, credentials, dry-run, ...)",
    "Remove those keys from `publishConfig`: npm applies every config key there that its command line does not set, "
    "so a proxy or CA in the package would receive the upload and its token. Use the `registry`, `tag` and `access` "
    "inputs instead; `publishConfig` may hold only access, tag, provenance, registry (overridden by the gate) and "
    "non-npm manifest overrides (directory, main, exports, types, bin, ...).",
    floor=True,
    knob="the `registry`, `tag` and `access` inputs (instead of those `publishConfig` keys)",
)
APPROVED = Rule(
    "approved-change",
    Severity.INFO,
    "An install-time change matched an exact approval in the policy",
    "Nothing to do; remove the approval from the policy once the release is out.",
)
LOCKFILE_INSTALL_SCRIPT = Rule(
    "lockfile-install-script",
    Severity.BLOCK,
    "A dependency new or changed in the lockfile runs an install script",
    "Check the package's preinstall/install/postinstall (or binding.gyp) before merging. If it is intended, "
    "approve it in the base branch's policy (`pull-request.install-scripts: [name@version]`) or have a maintainer "
    "apply the approval label.",
)
LOCKFILE_SOURCE_CHANGED = Rule(
    "lockfile-source-changed",
    Severity.BLOCK,
    "A dependency in the lockfile now comes from outside the registry",
    "Resolve the dependency from the registry. If the git/tarball/file source is intended, approve the exact "
    "`resolved` value in the base branch's policy (`pull-request.lockfile-sources: {name: resolved}`) or have "
    "a maintainer apply the approval label.",
)
LOCKFILE_INTEGRITY_CHANGED = Rule(
    "lockfile-integrity-changed",
    Severity.BLOCK,
    "A dependency in the lockfile keeps its version but now has other content (integrity)",
    "A published version never changes: the new integrity points at other bytes. Restore the previous "
    "`integrity` (regenerate the lockfile against the registry) and find out who changed it.",
)
LOCKFILE_CHANGED = Rule(
    "lockfile-changed",
    Severity.WARN,
    "A lockfile that is not analysed changed",
    "Review the lockfile diff by hand: npm-gatekeeper reads package-lock.json / npm-shrinkwrap.json v2/v3 only "
    "(yarn.lock, pnpm-lock.yaml, bun.lock and lockfileVersion 1 are reported, not analysed).",
)
