"""The publish step: what the registry said to the upload."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

PUBLISH_REJECTED = Rule(
    "publish-rejected",
    Severity.BLOCK,
    "The registry refused the upload because the version already exists",
    "Bump the version in package.json; a published version can never be replaced.",
    floor=True,
)
APPROVED_INTEGRITY_MISMATCH = Rule(
    "approved-integrity-mismatch",
    Severity.BLOCK,
    "The tarball is not the one the earlier job approved (`approved-integrity` input)",
    "Publish exactly the artifact the release/check job uploaded: pass its `integrity` output as "
    "`approved-integrity` and its tarball as `tarball`, from the same run. A mismatch means the bytes changed "
    "between the jobs: investigate before publishing.",
    floor=True,
)
