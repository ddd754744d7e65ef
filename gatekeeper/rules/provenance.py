"""Gate `provenance`: the release's provenance plan against the last release's."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

PROVENANCE_PLAN = Rule(
    "provenance-plan",
    Severity.INFO,
    "Whether this publish carries a provenance statement (`--provenance`), and why",
    "Informational. `credential.provenance: always | never | auto` (auto: on under OIDC for a public repository).",
)
PROVENANCE_DROPPED = Rule(
    "provenance-dropped",
    Severity.BLOCK,
    "The last release carried a provenance attestation and this publish would not",
    "Publish the way the last release was published: from its workflow, with OIDC trusted publishing "
    "(`permissions: id-token: write`) from a public repository, or set `credential.provenance: always`. A release "
    "without provenance after one with it is how a release made with a stolen token looks from outside.",
)
PROVENANCE_SOURCE_MISMATCH = Rule(
    "provenance-source-mismatch",
    Severity.BLOCK,
    "The last release's provenance statement names another repository or workflow than this run",
    "The last release was built somewhere else: find out where (`npm view <pkg>@<version> --json`, the statement "
    "on npmjs.com) before publishing on top of it. If the package moved on purpose, publish once with "
    "`rules: {provenance-source-mismatch: warn}` in the policy.",
)
PROVENANCE_UNREADABLE = Rule(
    "provenance-unreadable",
    Severity.BLOCK,
    "The last release claims a provenance attestation, but its statement cannot be read",
    "Check `npm view <pkg>@<version> dist.attestations` and the registry's attestations endpoint; do not publish "
    "on top of a release whose provenance cannot be read.",
)
PROVENANCE_IMPOSSIBLE = Rule(
    "provenance-impossible",
    Severity.BLOCK,
    "The policy asks for provenance, but this job cannot request an OIDC ID token to sign it",
    "Grant the release job `permissions: id-token: write` (sigstore signs the statement with the job's identity), "
    "or set `credential.provenance: auto`.",
)
