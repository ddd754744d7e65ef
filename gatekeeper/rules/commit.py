"""Gate `commit`: the commit being released is the branch head, and the workspace is that commit."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

NOT_BRANCH_HEAD = Rule(
    "not-branch-head",
    Severity.BLOCK,
    "The released commit is not the head of its branch (or, for a release, not merged into the default branch)",
    "Release the latest commit of the branch: re-run the release workflow of the branch's current head (an older "
    "run publishes code that is no longer on the branch). For a `release` event, tag a commit that is on the "
    "default branch. The one accepted exception is a release commit this run's release job pushed on top of "
    "GITHUB_SHA that changes only `commit.release-files` (semantic-release in two jobs).",
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
RELEASE_COMMIT_ACCEPTED = Rule(
    "release-commit-accepted",
    Severity.INFO,
    "The branch head is the release commit this run's release job pushed on top of the released commit",
    "Nothing to do: the head's only parent is GITHUB_SHA, it was committed while a finished job of this run ran, "
    "and it changes only files listed in `commit.release-files` (the published tarball is gated on its own).",
)
