"""The typed context every gate reads. Built once; gates never mutate it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatekeeper.config import Inputs
from gatekeeper.errors import ConfigError
from gatekeeper.trust.policy import Policy

if TYPE_CHECKING:
    from gatekeeper._internal.budget import Deadline
    from gatekeeper._internal.github import GitHubClient
    from gatekeeper._internal.registry import RegistryClient
    from gatekeeper.trust.trusted_policy import PolicyTrust


@dataclass(frozen=True)
class GitHubRun:
    """What the runner tells about this workflow run (`GITHUB_*` env + event payload)."""

    event_name: str
    event: Mapping[str, Any]
    repository: str  # owner/name
    ref: str  # refs/heads/main, refs/tags/v1, refs/pull/1/merge
    sha: str
    api_url: str
    run_id: int | None
    run_attempt: int | None
    job: str
    runner_name: str
    workflow_ref: str  # owner/name/.github/workflows/x.yml@refs/heads/main

    @property
    def in_actions(self) -> bool:
        return bool(self.repository and self.sha)

    @property
    def workflow_path(self) -> str | None:
        """`.github/workflows/x.yml` from GITHUB_WORKFLOW_REF, or None."""
        if not self.workflow_ref or "@" not in self.workflow_ref:
            return None
        path = self.workflow_ref.split("@", 1)[0]
        prefix = self.repository + "/"
        return path[len(prefix) :] if path.startswith(prefix) else None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubRun:
        event: Mapping[str, Any] = {}
        event_path = env.get("GITHUB_EVENT_PATH", "")
        if event_path:
            try:
                with open(event_path, encoding="utf-8") as fh:
                    loaded = json.load(fh)
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"Cannot read the event payload at GITHUB_EVENT_PATH ({exc})",
                    "Run the action from a GitHub workflow, or unset GITHUB_EVENT_PATH",
                ) from exc
            if not isinstance(loaded, dict):
                raise ConfigError("The event payload at GITHUB_EVENT_PATH is not a JSON object")
            event = loaded

        def _int(name: str) -> int | None:
            value = env.get(name, "")
            return int(value) if value.isdigit() else None

        return cls(
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event=event,
            repository=env.get("GITHUB_REPOSITORY", ""),
            ref=env.get("GITHUB_REF", ""),
            sha=env.get("GITHUB_SHA", ""),
            api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
            run_id=_int("GITHUB_RUN_ID"),
            run_attempt=_int("GITHUB_RUN_ATTEMPT"),
            job=env.get("GITHUB_JOB", ""),
            runner_name=env.get("RUNNER_NAME", ""),
            workflow_ref=env.get("GITHUB_WORKFLOW_REF", ""),
        )


@dataclass(frozen=True)
class PackageInfo:
    """name/version of the package about to be released (from the packed tarball)."""

    name: str
    version: str


@dataclass(frozen=True)
class PackedTarball:
    """The one tarball that the gates inspect and that is published."""

    path: Path
    integrity: str  # sha512-<base64>
    shasum: str  # sha1 hex
    size: int
    packed_by: str = ""  # "pnpm 11.29.0" (the tool and version that packed it); "" for the `tarball` input


@dataclass(eq=False)
class RunMemo:
    """What one run computed or fetched once and every gate (and reporter) of that run reads: the release
    diff and the packuments the run fetched.

    Held by the run's Context (never module-level): a new run has a new memo.
    """

    diff: Any = None  # gatekeeper.diffing.DiffResult, once the diff gate computed it
    #: name -> the packument as this run first fetched it (None: not on the registry). Only answers are
    #: held: a fetch that raised is not, so the next reader asks again (and fails closed again).
    packuments: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: The install-behaviour diff of the `dynamic` gate (gates/dynamic.py: Observed), once it ran.
    dynamic: Any = None
    #: The packument read after the upload, once it served the gated integrity (the notify step reads it too).
    published: dict[str, Any] | None = None


@dataclass(frozen=True)
class Context:
    """Everything a gate may look at. Data flows one way: context -> gates -> decision."""

    inputs: Inputs
    env: Mapping[str, str]
    run: GitHubRun
    workspace: Path
    package_dir: Path
    policy: Policy
    registry: RegistryClient
    github: GitHubClient | None = None
    package: PackageInfo | None = None
    tarball: PackedTarball | None = None
    home: Path = field(default_factory=Path.home)
    #: Which policy decides and why (publish/check mode; `policy` is `trust.policy`).
    trust: PolicyTrust | None = None
    #: The run's deadline (input `timeout`); None: unbounded (unit tests, tools).
    deadline: Deadline | None = None
    #: A release of several packages (input `packages`): name -> the packed package.json of the other packages of
    #: the release not yet on the registry (a consumer's tree resolves them as they will be published).
    siblings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Results computed once per run (see RunMemo): not an argument, not part of the identity, and a
    #: `dataclasses.replace` of the context starts a new one.
    memo: RunMemo = field(default_factory=RunMemo, init=False, compare=False, repr=False)

    def packument(self, name: str) -> dict[str, Any] | None:
        """The packument of `name`, fetched once per run (the trusted policy, the credential, diff and provenance
        gates read the same document). The notify step re-reads the registry after the upload on purpose."""
        held = self.memo.packuments
        if name not in held:
            held[name] = self.registry.packument(name)
        return held[name]
