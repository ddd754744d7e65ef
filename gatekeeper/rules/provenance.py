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
    "The last release's verified provenance certificate names another issuer, repository (name or id) or workflow "
    "than the trusted policy",
    "The last release was built somewhere else: find out where (`npm view <pkg>@<version> --json`, the statement "
    "on npmjs.com) before publishing on top of it. If the package moved on purpose, name its source in the trusted "
    "policy (`provenance.repository`, `provenance.repository-id`, `provenance.workflow`) through a reviewed release, "
    "or publish once with `rules: {provenance-source-mismatch: warn}` in the policy.",
)
PROVENANCE_INVALID = Rule(
    "provenance-invalid",
    Severity.BLOCK,
    "A release's attestation bundle fails Sigstore verification, or signs another package or tarball",
    "The registry (or something between it and this run) serves an attestation that npm's own verifier rejects "
    "(Fulcio certificate chain, transparency-log inclusion, DSSE signature, npm's registry key) or whose subject "
    "is not this version's name and tarball sha512. Do not publish on top of it: run `npm audit signatures` on a "
    "project that installs the version, and check the version on npmjs.com.",
    floor=True,
)
PROVENANCE_VERIFIED = Rule(
    "provenance-verified",
    Severity.INFO,
    "The last release's provenance verified: where, from which commit and by which run it was built",
    "Informational: the claims come from the verified Fulcio certificate, not from the statement.",
)
PROVENANCE_ABSENT = Rule(
    "provenance-absent",
    Severity.INFO,
    "The last release carries no provenance attestation",
    "Informational. Publishing with OIDC trusted publishing from a public repository adds provenance (npm's default "
    "there); a version without it is only as strong as the token that published it.",
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
TRUST_DOWNGRADE = Rule(
    "trust-downgrade",
    Severity.BLOCK,
    "This publish carries weaker evidence than the last release (staged with 2FA > trusted publisher + provenance > "
    "provenance or trusted publisher > token only)",
    "Publish the way the last release was published (OIDC trusted publishing from its workflow, with provenance, or "
    "staged). A release made with a token after releases made with OIDC and provenance is how a stolen token looks "
    "(the axios and nx pattern). If the change is deliberate, approve it through a reviewed release, or in the "
    "trusted policy (`rules: {trust-downgrade: warn}`, which only takes effect once released).",
)
