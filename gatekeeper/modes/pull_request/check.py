"""What the gates of one pull request read, and the policy as it is in the base commit."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from gatekeeper.errors import GatekeeperError, PolicyError
from gatekeeper.modes.pull_request.event import PullRequestEvent
from gatekeeper.modes.pull_request.git_objects import GitObjects, TreeEntry
from gatekeeper.trust.policy import Policy, parse_policy


@dataclass
class PullRequestCheck:
    """Everything the gates of one pull request read: both trees, what changed, the base policy."""

    pr: PullRequestEvent
    git: GitObjects
    merge_base: str
    policy: Policy
    policy_path: str
    registry: str
    changed: dict[str, str]
    pull: Any = None  # the PyGithub PullRequest (API view)

    @property
    def old(self) -> dict[str, TreeEntry]:
        return self.git.tree(self.merge_base)

    @property
    def new(self) -> dict[str, TreeEntry]:
        return self.git.tree(self.pr.head_sha)


def load_base_policy(git: GitObjects, base_sha: str, path: str, required: bool) -> Policy:
    """The policy file as it is in the BASE commit (the head's copy is never read)."""
    rel = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    entry = git.entry(base_sha, rel) if rel and not rel.startswith("../") else None
    source = f"{rel} at base {base_sha[:12]}"
    if entry is None:
        if required:
            raise PolicyError(f"The policy file {source} does not exist", "Create it or fix the `policy` input")
        policy = Policy()
        policy.source = f"(defaults: no {rel} at base {base_sha[:12]})"
        return policy
    if entry.kind != "blob" or entry.mode == "120000":
        raise GatekeeperError(f"The policy {source} is not a regular file", "Commit the policy as a plain YAML file")
    return parse_policy(git.blobs([entry.oid])[entry.oid], source=source)
