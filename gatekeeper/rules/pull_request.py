"""Pull-request mode's own rules (it also reports the diff and policy rules)."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

MANIFEST_UNREADABLE = Rule(
    "manifest-unreadable",
    Severity.BLOCK,
    "A package.json or lockfile in the pull request cannot be read",
    "Make the file valid UTF-8 JSON (a JSON object) and a regular file, not a symlink or submodule.",
)
APPROVAL_LABEL_IGNORED = Rule(
    "approval-label-ignored",
    Severity.WARN,
    "The approval label is on the pull request but approves nothing",
    "A user with write, maintain or admin permission must apply the label after the last push (remove it and "
    "apply it again): the label approves the head commit it was applied to.",
)
