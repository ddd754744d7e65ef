"""The review step: a reviewed two-job release clears findings a reviewer may clear."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

APPROVED_BY_REVIEW = Rule(
    "approved-by-review",
    Severity.INFO,
    "A blocking finding was cleared by the approved deployment review of the policy's review environment",
    "Nothing to do: the reviewer named in the finding approved exactly this tarball (its integrity).",
)
REVIEW_NOT_VALID = Rule(
    "review-not-valid",
    Severity.WARN,
    "A reviewed release could not clear the blocking findings",
    "Run the publish job in `environment: <review.environment>` with required reviewers, pass "
    "`approved-integrity: ${{ needs.check.outputs.integrity }}`, and have a reviewer approve the deployment "
    "(another person than the pusher when `review.require-other-reviewer: true`).",
)
