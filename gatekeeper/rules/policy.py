"""Gate `policy`: which policy decides (the trusted policy), and whether the released commit loosens it."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

POLICY_TRUSTED = Rule(
    "policy-trusted",
    Severity.INFO,
    "Which policy decided: the one at the last release's commit (or the released commit's, for a first release)",
    "Nothing to do. A loosening in the released commit takes effect from the next release, once reviewed.",
)
POLICY_UNTRUSTED = Rule(
    "policy-untrusted",
    Severity.WARN,
    "The last release's commit is not in the checkout: the policy's approvals and lowered severities are not trusted",
    "Check out the history and tags in the release job (`actions/checkout` with `fetch-depth: 0`, or "
    "`fetch-tags: true`), and tag each release `v1.2.3`, `1.2.3` or `name@1.2.3` (or publish with npm, which "
    "records `gitHead`).",
)
POLICY_CHANGED = Rule(
    "policy-changed",
    Severity.WARN,
    "The pull request edits the npm-gatekeeper policy file",
    "Review the policy change like code: it takes effect only after merge (this run used the base branch's "
    "policy). Keep policy edits in pull requests of their own.",
)
