"""Gate `commit`: the commit being released is the branch head, and the workspace is that commit."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

NOT_BRANCH_HEAD = Rule(
    "not-branch-head",
    Severity.BLOCK,
    "The released commit is not the head of its branch (or, for a release, not merged into the default branch)",
    "Release the latest commit of the branch: re-run the release workflow of the branch's current head (an older "
    "run publishes code that is no longer on the branch). For a `release` event, tag a commit that is on the "
    "default branch.",
    floor=True,
)
WORKSPACE_NOT_RELEASED = Rule(
    "workspace-not-released-commit",
    Severity.BLOCK,
    "The workspace is not the released commit (HEAD is not GITHUB_SHA, or tracked files were modified)",
    "Check out the commit that triggered the run (`actions/checkout` without another `ref:`) and do not modify "
    "tracked files before this step; build outputs belong in untracked or ignored files.",
    floor=True,
)
