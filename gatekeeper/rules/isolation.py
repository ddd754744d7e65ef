"""Gate `isolation`: the publish credential exists only in a job that runs nothing but the gate (issue 21).

Every rule here is a safety floor: `rules:` cannot lower one; there is no knob. The fix of each shows the
two-job shape to copy (build and pack in one job without any credential, publish in an isolated one).
"""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

#: The two-job shape every finding of this gate points to (README: "Which job holds what").
TWO_JOBS = (
    "Split the release in two jobs: job `build` (no npm credential, no `id-token: write`) checks out, "
    "installs, builds and runs `npm pack`, then uploads the .tgz with `actions/upload-artifact`; job `publish` "
    "(`needs: build`, the credential, `environment:`) has exactly three steps: `actions/checkout` pinned by full "
    "SHA with `persist-credentials: false`, `actions/download-artifact` pinned by full SHA, and npm-gatekeeper "
    "pinned by full SHA with `tarball: <the .tgz>` (README: 'Which job holds what')."
)

PUBLISH_JOB_NOT_ISOLATED = Rule(
    "publish-job-not-isolated",
    Severity.BLOCK,
    "The publishing job runs something besides checkout, download-artifact and the gate",
    "Nothing else may run where the npm credential (token or `id-token: write`) is: a `run:` step, any other "
    "action, `services:`, a `container:` or a reusable workflow can read it or publish on its own. " + TWO_JOBS,
    floor=True,
)
PUBLISH_STEP_UNPINNED = Rule(
    "publish-step-unpinned",
    Severity.BLOCK,
    "A step of the publishing job is not pinned by full commit SHA (or checkout keeps its git credential)",
    "Pin `actions/checkout`, `actions/download-artifact` and npm-gatekeeper by their full 40-character commit SHA "
    "(`uses: owner/repo@<sha> # v1.2.3`, kept fresh by Dependabot; the gate may also be a local path `./`), and "
    "give `actions/checkout` `persist-credentials: false`. A tag or branch can be moved to other code.",
    floor=True,
)
PUBLISH_JOB_CACHE = Rule(
    "publish-job-cache",
    Severity.BLOCK,
    "The publishing job restores a cache",
    "A cache is written by other jobs, including pull requests' jobs: restored where the credential is, it runs "
    "their code (the TanStack compromise of May 2026). Remove `actions/cache` and `setup-*` steps from the "
    "publishing job (setup-node v5+ caches by default); cache only in the build job. " + TWO_JOBS,
    floor=True,
)
PUBLISH_JOB_TRIGGER = Rule(
    "publish-job-trigger",
    Severity.BLOCK,
    "The publishing workflow can be started by `pull_request_target`, `workflow_run` or `issue_comment`",
    "These events run with the repository's secrets on behalf of someone else's pull request or comment. Publish "
    "from a workflow started only by `push` (or `release` / `workflow_dispatch` where the policy allows them); keep "
    "pull-request automation in a workflow of its own without the npm credential.",
    floor=True,
)
PUBLISH_TOKEN_EXPOSED = Rule(
    "publish-token-exposed",
    Severity.BLOCK,
    "The workflow passes the npm token to something other than the gate's `npm-token` input",
    "Pass the npm token only as `npm-token: ${{ secrets.NPM_TOKEN }}` of the npm-gatekeeper step; no `env:` of "
    "the workflow, the job or another step, no other action's input, no `secrets: inherit`. Anything that sees "
    "the token can publish without the gate.",
    floor=True,
)
PUBLISH_JOB_ID_TOKEN = Rule(
    "publish-job-id-token",
    Severity.BLOCK,
    "The publishing job holds `id-token: write` but the gate publishes with a token",
    "An ID token nobody should use can be exchanged for a publish token by any code in the job. Either publish "
    "with OIDC (`credential.mode: oidc` and no npm token), or drop `id-token: write` from the job (and from "
    "`permissions: write-all`). Provenance with a token (`credential.provenance: always`) is the one use.",
    floor=True,
)
PUBLISH_JOB_UNREADABLE = Rule(
    "publish-job-unreadable",
    Severity.BLOCK,
    "The workflow or the job that runs the gate could not be found or read",
    "The gate reads the workflow named by GITHUB_WORKFLOW_REF at GITHUB_WORKFLOW_SHA (from the checkout, else the "
    "contents API with `contents: read`) and the job named by GITHUB_JOB. Run the gate as a step of a job of that "
    "workflow file itself (not from a reusable workflow or a script), keep the file valid YAML under 1 MiB, and "
    "check out the repository. " + TWO_JOBS,
    floor=True,
)
