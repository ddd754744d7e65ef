"""Watch mode: releases on the registry against the gate's records."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

UNEXPECTED_RELEASE = Rule(
    "unexpected-release",
    Severity.BLOCK,
    "A version on the registry was not published through the gate (no record)",
    "Treat it as a compromise until shown otherwise: read the opened issue's delta, deprecate or unpublish the "
    "version, revoke the npm tokens and review the maintainers.",
)
RECORD_INTEGRITY_MISMATCH = Rule(
    "record-integrity-mismatch",
    Severity.BLOCK,
    "The registry serves a tarball whose integrity differs from the gate's record",
    "The bytes on the registry are not the ones the gate checked: investigate, and report it to the registry.",
)
LATEST_UNRECORDED = Rule(
    "latest-unrecorded",
    Severity.BLOCK,
    "The `latest` dist-tag points at a version the gate did not publish",
    "Move `latest` back (`npm dist-tag add NAME@GOOD latest`) and find out who moved it.",
)
MAINTAINER_ADDED = Rule(
    "maintainer-added",
    Severity.WARN,
    "A maintainer was added to the package since the last gate record",
    "Check with the new maintainer that the change is intended; remove them (`npm owner rm`) if not.",
)
PROVENANCE_DROPPED = Rule(
    "release-without-provenance",
    Severity.BLOCK,
    "A version has no provenance (dist.attestations) where the version before it had",
    "A release without provenance after releases with it was probably made outside CI (a leaked token): "
    "check how it was published.",
)
RECORD_INVALID = Rule(
    "release-record-invalid",
    Severity.WARN,
    "A Release carries a gate record that does not parse, is ambiguous or is not from a trusted author",
    "Releases are written by the gate; a broken or foreign record is ignored (its version counts as unrecorded).",
)
NO_RECORDS = Rule(
    "watch-no-records",
    Severity.WARN,
    "The package has no gate record yet, so no version could be matched",
    "Publish through the gate (its Release holds the record), or set `watch.since` to where the watch begins.",
)
WATCH_PROVENANCE_INVALID = Rule(
    "watch-provenance-invalid",
    Severity.BLOCK,
    "A watched version's attestations fail Sigstore verification, bind to another tarball, or name another "
    "repository (by id) than this one",
    "The registry (or something in between) serves attestations npm's own verifier rejects, or the version was "
    "built elsewhere: check the version on npmjs.com and with `npm audit signatures`; treat it as a compromise "
    "until explained.",
    floor=True,
)
RECORD_UNBOUND = Rule(
    "record-not-bound",
    Severity.BLOCK,
    "A version's gate record is not bound to its verified provenance (another commit or run, attestations that do "
    "not verify, or no provenance where the package published with it before)",
    "A Release can be written by any workflow with `contents: write` or by anyone with push access; only the signed "
    "provenance proves which commit and run published the version. Treat it as an unexpected release: read the "
    "opened issue, compare the run, deprecate the version if it is not yours, revoke the npm tokens.",
)
RECORDS_UNSIGNED = Rule(
    "watch-records-unsigned",
    Severity.INFO,
    "The package has never published with provenance: its gate records are only as strong as push access",
    "Publish with OIDC trusted publishing and provenance (`credential.mode: oidc`): watch then counts a record only "
    "when the version's signed provenance names the same commit and run.",
)
DEPENDENCY_DRIFT = Rule(
    "dependency-install-script-drift",
    Severity.WARN,
    "A fresh install of the latest release now runs the install scripts of a package its gate record did not list "
    "(a dependency gained an install script or moved to another version with one)",
    "A dependency's new release reaches your users through your version ranges after your gate passed: read the "
    "dependency's change (`gatekeeper diff NAME@OLD NAME@NEW`); if it is not expected, publish a release that pins "
    "or drops it and tell the dependency's maintainers. Watch opens one issue per package version.",
)
