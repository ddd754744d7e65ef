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
    "Check out the history in the release job (`actions/checkout` with `fetch-depth: 0`). The commit is read from "
    "the last release's verified provenance (publish with OIDC trusted publishing), else the packument's `gitHead` "
    "(npm records it when publishing from the checkout), else a tag in the policy's `notify.tag-format` that a "
    "tag ruleset protects from update and deletion.",
)
POLICY_CHANGED = Rule(
    "policy-changed",
    Severity.WARN,
    "The pull request edits the npm-gatekeeper policy file",
    "Review the policy change like code: it takes effect only after merge (this run used the base branch's "
    "policy). Keep policy edits in pull requests of their own.",
)
POLICY_ANCHOR_CONFLICT = Rule(
    "policy-anchor-conflict",
    Severity.BLOCK,
    "The evidence for the last release's commit disagrees: verified provenance, the packument's gitHead or a tag "
    "for that version point at different commits",
    "Someone moved or added a tag (or the registry's record differs from the signed provenance). Find out which "
    "commit was really released (`npm view <pkg>@<version> gitHead`, the provenance on npmjs.com), delete or restore "
    "the tag that points elsewhere, and protect release tags with a tag ruleset (update and deletion).",
    floor=True,
)
