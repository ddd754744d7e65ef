"""Gate 1b — the released commit is the branch: GITHUB_SHA is the branch's head now, and the workspace is it.

- push / workflow_dispatch: GITHUB_SHA must be the current head of the branch it runs on (the default
  branch or an allowed release branch), read from the API when the gate runs. A re-run of an older,
  since-superseded (or reverted) commit blocks; a re-run of the latest commit passes.
- release: the tagged commit (GITHUB_SHA) must be reachable from the default branch's head
  (`/compare/{sha}...{head}` is `ahead` or `identical`): a tag on a commit never merged blocks.
- the workspace's `HEAD` must be GITHUB_SHA with no modified tracked files: a checkout of another
  `ref:` (or a build step that rewrote tracked files) would publish code whose own CI never ran.

Both rules are safety floors.
"""

from __future__ import annotations

from gatekeeper._internal import actions, git
from gatekeeper.context import Context
from gatekeeper.errors import ConfigError
from gatekeeper.findings import Finding
from gatekeeper.gates import Skip
from gatekeeper.gates.branch import PR_EVENTS, _branch_of
from gatekeeper.rules.commit import NOT_BRANCH_HEAD, WORKSPACE_NOT_RELEASED

NAME = "commit"



def check(ctx: Context) -> list[Finding]:
    """Findings binding GITHUB_SHA to the branch and the workspace to GITHUB_SHA."""
    run = ctx.run
    if not run.in_actions or not actions.in_actions(ctx.env):
        raise Skip("not running in GitHub Actions")  # the branch gate blocks (not-in-ci)
    if run.event_name in PR_EVENTS:
        raise Skip("a pull-request event")  # the branch gate blocks (pull-request-event)
    if ctx.github is None:
        raise ConfigError("No GitHub token is available to read the branch", "Pass `github-token`")
    findings = _workspace(ctx)
    gh = ctx.github
    if run.event_name == "release":
        default = gh.default_branch()
        head = gh.branch_head(default)
        status = gh.compare_status(run.sha, head) if head else "unrelated"
        if status not in ("ahead", "identical"):
            findings.append(
                NOT_BRANCH_HEAD(
                    f"The release's commit {run.sha[:12]} is not reachable from the head of the default branch "
                    f"`{default}` ({(head or 'none')[:12]}; compare: {status}): the tag points at a commit that was "
                    "never merged.",
                    sha=run.sha,
                    branch=default,
                    compare=status,
                )
            )
        return findings
    branch = _branch_of(ctx, [])
    if branch is None:
        return findings  # a tag or another ref: the branch gate blocks
    head = gh.branch_head(branch)
    if head != run.sha:
        now = f"is {head[:12]}" if head else "does not exist"
        findings.append(
            NOT_BRANCH_HEAD(
                f"GITHUB_SHA {run.sha[:12]} is not the head of `{branch}`, whose head {now}: this run releases a "
                "commit that is no longer the branch.",
                sha=run.sha,
                branch=branch,
                head=head,
            )
        )
    return findings


def _workspace(ctx: Context) -> list[Finding]:
    ws = ctx.workspace
    head = git.head(ws) if git.is_repo(ws) else None
    if head is None:
        return [
            WORKSPACE_NOT_RELEASED(
                f"The workspace {ws} is not a git checkout, so it cannot be shown to be {ctx.run.sha[:12]}."
            )
        ]
    if head != ctx.run.sha:
        return [
            WORKSPACE_NOT_RELEASED(
                f"The workspace's HEAD is {head[:12]}, not GITHUB_SHA {ctx.run.sha[:12]} (a checkout with another "
                "`ref:`?): its code is not the commit whose checks and branch were verified.",
                head=head,
            )
        ]
    modified = git.modified_tracked(ws, head)
    if modified:
        shown = ", ".join(modified[:10])
        return [
            WORKSPACE_NOT_RELEASED(
                f"Tracked files differ from GITHUB_SHA {ctx.run.sha[:12]} in the workspace: {shown}.",
                file=modified[0],
                files=modified,
            )
        ]
    return []
