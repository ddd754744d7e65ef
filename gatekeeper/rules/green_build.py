"""Gate `green-build`: every check and status of the released commit passed."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

CHECK_FAILED = Rule(
    "check-failed",
    Severity.BLOCK,
    "A check run or commit status on the commit failed",
    "Fix the failing check (its URL is in the finding) and re-run the release on a green commit. To ignore a check "
    "that does not gate releases, list it under `checks.ignore` in the policy.",
    floor=True,
    knob="`checks.ignore` (the check names that do not gate releases)",
)
CHECK_PENDING = Rule(
    "check-pending",
    Severity.BLOCK,
    "A check was still running when the wait ran out",
    "Make the release job wait for the build (`needs:` in the workflow), or raise the `wait-for-checks` input "
    "(seconds).",
    floor=True,
    knob="`checks.ignore`, or the `wait-for-checks` input",
)
NO_CHECKS = Rule(
    "no-checks",
    Severity.BLOCK,
    "The commit has no check runs and no statuses at all",
    "Run your tests on the default branch before releasing. If the package truly has no CI, set "
    "`checks.require-checks: false` in the policy.",
    floor=True,
    knob="`checks.require-checks: false`",
)
REQUIRED_CHECK_MISSING = Rule(
    "required-check-missing",
    Severity.BLOCK,
    "A required check is absent from the commit",
    "Every check required by the branch's rulesets (or `checks.required`) must have run and passed on the released "
    "commit. Make sure the workflow that reports it ran on this commit.",
    floor=True,
    knob="`checks.ignore` for checks you add in `checks.required`; ruleset checks are set in the repository's rulesets",
)
OWN_JOB_UNKNOWN = Rule(
    "own-job-unknown",
    Severity.WARN,
    "This job's own check run could not be identified",
    "Give the job's runner name/job id access through the default `github-token` (permissions: `actions: read`, "
    "`checks: read`).",
    floor=True,
)
