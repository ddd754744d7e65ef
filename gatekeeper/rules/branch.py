"""Gate `branch`: the run is a push (or an allowed event) on a release branch of this repository."""

from gatekeeper.findings import Severity
from gatekeeper.rules.model import Rule

NOT_IN_ACTIONS = Rule(
    "not-in-ci",
    Severity.BLOCK,
    "Publishing outside GitHub Actions",
    "Publish from a GitHub Actions workflow, not from a developer machine (GITHUB_ACTIONS, GITHUB_REPOSITORY and "
    "GITHUB_SHA must be set by the runner).",
    floor=True,
)
EVENT_NOT_ALLOWED = Rule(
    "event-not-allowed",
    Severity.BLOCK,
    "The workflow was triggered by an event that may not publish",
    "Publish from a `push` to the default branch. To also allow `workflow_dispatch` or `release`, list them under "
    "`branch.events` in the policy. Pull-request events can never publish.",
    floor=True,
    knob="`branch.events` (the events that may publish)",
)
PULL_REQUEST_EVENT = Rule(
    "pull-request-event",
    Severity.BLOCK,
    "A pull-request event can never publish",
    "Pull requests (including from forks) run code that is not on the default branch yet. Use `mode: pull-request` "
    "in PR workflows and publish only from the default branch.",
    floor=True,
)
NOT_DEFAULT_BRANCH = Rule(
    "not-default-branch",
    Severity.BLOCK,
    "The ref is not the default branch (nor an allowed release branch)",
    "Merge to the default branch and publish from there, or add the branch pattern (e.g. `1.x`) to "
    "`branch.release-branches` in the policy.",
    floor=True,
    knob="`branch.release-branches` (the branch patterns that may release)",
)
TAG_REF = Rule(
    "tag-ref",
    Severity.BLOCK,
    "The run is on a tag, not a branch",
    "Tags can point at any commit, including one never merged. Publish from a push to the default branch; with "
    "`release` in `branch.events`, the release must target the default branch.",
    floor=True,
    knob="`branch.events: [push, release]` with releases that target the default branch",
)
FORK_REPOSITORY = Rule(
    "fork-repository",
    Severity.BLOCK,
    "The repository is a fork",
    "Publish from the package's own repository. If a fork really is the release source, set "
    "`branch.allow-forks: true` in the policy.",
    floor=True,
    knob="`branch.allow-forks: true`",
)
