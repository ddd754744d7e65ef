"""Gate 1b — the released commit is the branch: GITHUB_SHA is the branch's head now, and the workspace is it.

- push / workflow_dispatch: GITHUB_SHA must be the current head of the branch it runs on (the default
  branch or an allowed release branch), read from the API when the gate runs. A re-run of an older,
  since-superseded (or reverted) commit blocks; a re-run of the latest commit passes.
- release: the tagged commit (GITHUB_SHA) must be reachable from the default branch's head
  (`/compare/{sha}...{head}` is `ahead` or `identical`): a tag on a commit never merged blocks.
- the workspace's `HEAD` must be GITHUB_SHA with no modified tracked files: a checkout of another
  `ref:` (or a build step that rewrote tracked files) would publish code whose own CI never ran.

Both rules are safety floors.

One shape of a moved head is accepted (`release-commit-accepted`, info): semantic-release in two jobs, where
the release job's `prepare` plugin (`@semantic-release/git`) pushed ONE release commit on top of GITHUB_SHA
before the publish job runs. All of these must hold, read from `/compare/{GITHUB_SHA}...{head}`:
the head is exactly one commit ahead and nothing behind, its only parent is GITHUB_SHA; it adds or modifies
only the exact paths of `commit.release-files` (no removal, rename or other file); and the commit
is the one the release job reported: the `release-commit` input, which the publish job takes from the release
job's output of that name (the plugin writes semantic-release's `nextRelease.gitHead` after `prepare`; only
a job of this run can set it, so a commit someone else pushed or force-pushed in its place blocks). Without
that input (an older workflow) the commit's date must lie inside the run time of a finished, successful job
of this run (give or take the clock skew between a runner and GitHub): the date is written by whoever made
the commit, so this binds the shape and the time, not the commit. Any other moved head blocks; what the
shape lets through is limited to the release files, and the published bytes are gated on their own.
"""

from __future__ import annotations

from datetime import timedelta

from gatekeeper._internal import actions, git
from gatekeeper.context import Context
from gatekeeper.errors import ConfigError
from gatekeeper.findings import Finding
from gatekeeper.gates import Skip
from gatekeeper.gates.branch import PR_EVENTS, _branch_of
from gatekeeper.rules.commit import NOT_BRANCH_HEAD, RELEASE_COMMIT_ACCEPTED, WORKSPACE_NOT_RELEASED

NAME = "commit"
#: How far a commit's date (the runner's clock) may lie outside a job's start/end (GitHub's clock).
CLOCK_SKEW_SECONDS = 120


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
        why = _release_commit(ctx, head) if head else "the branch does not exist"
        if why is None:
            assert head is not None
            findings.append(
                RELEASE_COMMIT_ACCEPTED(
                    f"The head of `{branch}` is {head[:12]}, the release commit this run pushed on top of GITHUB_SHA "
                    f"{run.sha[:12]} (it changes only release files, see `commit.release-files`).",
                    sha=run.sha,
                    branch=branch,
                    head=head,
                )
            )
            return findings
        now = f"is {head[:12]}" if head else "does not exist"
        findings.append(
            NOT_BRANCH_HEAD(
                f"GITHUB_SHA {run.sha[:12]} is not the head of `{branch}`, whose head {now}: this run releases a "
                f"commit that is no longer the branch (not a release commit of this run: {why}).",
                sha=run.sha,
                branch=branch,
                head=head,
                why=why,
            )
        )
    return findings


def _release_commit(ctx: Context, head: str) -> str | None:
    """None when `head` is the release commit of this run on top of GITHUB_SHA (module doc), else why not."""
    from gatekeeper._internal.signatures import parse_time

    run, gh = ctx.run, ctx.github
    assert gh is not None
    allowed = set(ctx.policy.commit.release_files)
    if not allowed:
        return "`commit.release-files` is empty"
    cmp = gh.compare(run.sha, head)
    if cmp.status != "ahead" or cmp.ahead_by != 1 or cmp.behind_by != 0 or cmp.truncated or len(cmp.commits) != 1:
        return (
            f"the head is {cmp.ahead_by} commit(s) ahead of and {cmp.behind_by} behind GITHUB_SHA (compare: "
            f"{cmp.status}); a release commit is exactly one commit on top of it"
        )
    commit = cmp.commits[0]
    if commit.sha != head or commit.parents != (run.sha,):
        return f"the head's parents are {', '.join(p[:12] for p in commit.parents) or 'none'}, not GITHUB_SHA alone"
    others = [f for f in cmp.files if f.status not in ("added", "modified") or f.filename not in allowed]
    if others:
        shown = ", ".join(f"{f.filename} ({f.status})" for f in others[:10])
        return f"it changes files that are not release files (`commit.release-files`): {shown}"
    bound = ctx.inputs.release_commit
    if bound:
        # bound by the release job's own output (only jobs of this run set it): exactly that commit, no other
        if head != bound:
            return f"the head is not the release commit the release job reported ({bound[:12]}, input `release-commit`)"
        return None
    when = parse_time(commit.committer_date)
    if when is None:
        return f"its committer date {commit.committer_date!r} cannot be read"
    if run.run_id is None:
        return "GITHUB_RUN_ID is not set, so the run's jobs cannot be read"
    skew = timedelta(seconds=CLOCK_SKEW_SECONDS)
    for job in gh.run_jobs(run.run_id, None):  # the latest execution of each job (a re-run keeps finished ones)
        start, end = parse_time(job.started_at), parse_time(job.completed_at)
        if job.status != "completed" or job.conclusion != "success" or start is None or end is None:
            continue
        if start - skew <= when <= end + skew:
            return None
    return f"it was committed at {commit.committer_date}, not while a finished job of run {run.run_id} ran"


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
