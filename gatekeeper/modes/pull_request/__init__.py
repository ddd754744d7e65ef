"""Pull-request mode: fail the check when a PR changes what runs at install time.

Safe under `pull_request_target`: nothing of the head is checked out or run. Both sides are
read from git objects of the checked-out repository (`git ls-tree`, `git cat-file`), by the
SHAs in the event; a head commit that is missing is fetched by id (`git fetch --no-tags origin
<sha>`, hooks off). The policy comes from the BASE commit, so a PR cannot loosen its own gate.

Gates of this mode:
- `changes`: the PR's files per the GitHub API must all be changed per git objects too (fail closed).
- `manifests`: every package.json tracked outside node_modules (each workspace of a monorepo) is
  compared with the merge base by the release diff engine's manifest rules (same ids), as a local
  install runs them (prepare/preprepare/postprepare/prepublish/dependencies scripts, devDependencies'
  sources, overrides); plus `.npmrc` settings, `.pnpmfile.cjs`, `.yarnrc.yml` yarnPath (local_install.py).
- `lockfiles`: npm lockfile entries with new install scripts or non-registry sources; other lockfiles.
- `policy`: the PR edits the policy file; the approval label was applied but does not count.

The report is the same as in the other modes (JSON, summary, annotations, outputs) plus ONE PR
comment updated in place.
"""

from gatekeeper.modes.pull_request.approvals import (
    LABEL_GATES,
    WRITE_PERMISSIONS,
    LabelApproval,
    apply_label,
    label_approval,
)
from gatekeeper.modes.pull_request.check import PullRequestCheck, load_base_policy
from gatekeeper.modes.pull_request.event import PR_EVENTS, PullRequestEvent
from gatekeeper.modes.pull_request.gates import MAX_CROSS_CHECK_SHOWN, check_changes, check_lockfiles, check_policy_file
from gatekeeper.modes.pull_request.git_objects import GitObjects, TreeEntry
from gatekeeper.modes.pull_request.manifests import MANIFEST_RULES, MAX_BLOB_BYTES, check_manifests, owners, workspaces
from gatekeeper.modes.pull_request.reporting import PullRequestOutcome, headline, to_markdown
from gatekeeper.modes.pull_request.run import run_pull_request
from gatekeeper.rules.policy import POLICY_CHANGED
from gatekeeper.rules.pull_request import APPROVAL_LABEL_IGNORED, MANIFEST_UNREADABLE

__all__ = [
    "APPROVAL_LABEL_IGNORED",
    "LABEL_GATES",
    "MANIFEST_RULES",
    "MANIFEST_UNREADABLE",
    "MAX_BLOB_BYTES",
    "MAX_CROSS_CHECK_SHOWN",
    "POLICY_CHANGED",
    "PR_EVENTS",
    "WRITE_PERMISSIONS",
    "GitObjects",
    "LabelApproval",
    "PullRequestCheck",
    "PullRequestEvent",
    "PullRequestOutcome",
    "TreeEntry",
    "apply_label",
    "check_changes",
    "check_lockfiles",
    "check_manifests",
    "check_policy_file",
    "headline",
    "label_approval",
    "load_base_policy",
    "owners",
    "run_pull_request",
    "to_markdown",
    "workspaces",
]
