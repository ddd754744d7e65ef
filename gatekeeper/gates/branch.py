"""Gate 1 — the run is a push on the repository's default branch (or an allowed release branch).

The default branch is read from the GitHub API, never assumed.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from gatekeeper._internal import actions
from gatekeeper.context import Context
from gatekeeper.errors import ConfigError
from gatekeeper.findings import Finding
from gatekeeper.rules.branch import (
    EVENT_NOT_ALLOWED,
    FORK_REPOSITORY,
    NOT_DEFAULT_BRANCH,
    NOT_IN_ACTIONS,
    PULL_REQUEST_EVENT,
    TAG_REF,
)

NAME = "branch"


PR_EVENTS = frozenset({"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment"})


def check(ctx: Context) -> list[Finding]:
    """Findings about where this run comes from."""
    run = ctx.run
    policy = ctx.policy.branch
    if not run.in_actions or not actions.in_actions(ctx.env):
        return [
            NOT_IN_ACTIONS(
                "Not running in GitHub Actions: GITHUB_ACTIONS, GITHUB_REPOSITORY and GITHUB_SHA are not all set."
            )
        ]
    if ctx.github is None:
        raise ConfigError(
            "No GitHub token is available to read the default branch", "Pass `github-token` (default: github.token)"
        )

    findings: list[Finding] = []
    event = run.event_name
    if event in PR_EVENTS:
        findings.append(
            PULL_REQUEST_EVENT(f"The run was triggered by `{event}`; pull-request events never publish.", event=event)
        )
    elif event not in policy.events:
        allowed = ", ".join(f"`{e}`" for e in policy.events)
        findings.append(EVENT_NOT_ALLOWED(f"The run was triggered by `{event}`; allowed: {allowed}.", event=event))

    default = ctx.github.default_branch()
    branch = _branch_of(ctx, findings)
    if branch is not None and branch != default and not any(fnmatchcase(branch, p) for p in policy.release_branches):
        extra = f" or {', '.join(policy.release_branches)}" if policy.release_branches else ""
        findings.append(
            NOT_DEFAULT_BRANCH(
                f"The run is on branch `{branch}`; the default branch is `{default}`{extra}.",
                branch=branch,
                default_branch=default,
            )
        )

    is_fork = (
        bool((run.event.get("repository") or {}).get("fork"))
        if isinstance(run.event.get("repository"), dict)
        else False
    )
    if not is_fork:
        is_fork = ctx.github.is_fork()
    if is_fork and not policy.allow_forks:
        findings.append(FORK_REPOSITORY(f"The repository `{run.repository}` is a fork."))
    return findings


def _branch_of(ctx: Context, findings: list[Finding]) -> str | None:
    """The branch this run releases from, or None (with a finding) when it is not a branch."""
    run = ctx.run
    if run.event_name == "release":
        release = run.event.get("release")
        target = release.get("target_commitish") if isinstance(release, dict) else None
        if (
            not isinstance(target, str)
            or not target
            or (len(target) == 40 and all(c in "0123456789abcdef" for c in target))
        ):
            findings.append(TAG_REF(f"The release's target `{target}` is not a branch.", ref=run.ref))
            return None
        return target.removeprefix("refs/heads/")
    if run.ref.startswith("refs/heads/"):
        return run.ref.removeprefix("refs/heads/")
    if run.ref.startswith("refs/tags/"):
        findings.append(
            TAG_REF(f"The run is on tag `{run.ref.removeprefix('refs/tags/')}`, not on a branch.", ref=run.ref)
        )
        return None
    if run.event_name not in PR_EVENTS:  # PR refs (refs/pull/N/merge) are covered by pull-request-event
        findings.append(NOT_DEFAULT_BRANCH(f"The ref `{run.ref}` is not a branch.", ref=run.ref))
    return None
