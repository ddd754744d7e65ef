"""The pull request of the event payload: number, base and head commits, the label applied."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gatekeeper.context import GitHubRun
from gatekeeper.errors import ConfigError

PR_EVENTS = ("pull_request", "pull_request_target")
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")


@dataclass(frozen=True)
class PullRequestEvent:
    """What the event payload says about the pull request."""

    number: int
    base_sha: str
    head_sha: str
    base_ref: str
    action: str
    #: The label this event applied (`labeled` events), else "".
    label: str

    @classmethod
    def from_run(cls, run: GitHubRun) -> PullRequestEvent:
        if run.event_name not in PR_EVENTS:
            raise ConfigError(
                f"`mode: pull-request` ran on a `{run.event_name or 'unknown'}` event",
                "Trigger the workflow on pull_request or pull_request_target",
            )
        pr = run.event.get("pull_request")
        if not isinstance(pr, dict):
            raise ConfigError("The event payload has no `pull_request` object", "Run on a pull_request event")
        number = pr.get("number", run.event.get("number"))
        base, head = pr.get("base"), pr.get("head")
        base_sha = base.get("sha") if isinstance(base, dict) else None
        head_sha = head.get("sha") if isinstance(head, dict) else None
        for what, sha in (("base", base_sha), ("head", head_sha)):
            if not isinstance(sha, str) or not _SHA.match(sha):
                raise ConfigError(f"The event's `pull_request.{what}.sha` is {sha!r}, not a commit id")
        if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
            raise ConfigError(f"The event's pull request number is {number!r}")
        label, action = run.event.get("label"), str(run.event.get("action", ""))
        return cls(
            number=number,
            base_sha=str(base_sha),
            head_sha=str(head_sha),
            base_ref=str(base.get("ref", "")) if isinstance(base, dict) else "",
            action=action,
            label=str(label.get("name", "")) if isinstance(label, dict) and action == "labeled" else "",
        )
