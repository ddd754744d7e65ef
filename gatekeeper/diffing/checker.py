"""The state of one baseline/candidate check, and how it emits findings and approvals."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from gatekeeper._internal import semver
from gatekeeper._internal.tarball import Package
from gatekeeper.diffing.lines import _Added
from gatekeeper.diffing.result import DiffResult
from gatekeeper.rules import Rule
from gatekeeper.rules.diff import APPROVED
from gatekeeper.trust.policy import Policy

if TYPE_CHECKING:
    from typing import Any, TypeAlias

PUBLIC_REGISTRY = "https://registry.npmjs.org/"

#: manifest -> the package-lock.json text a consumer's fresh install of those dependencies writes.
Resolver: TypeAlias = "Callable[[dict[str, Any]], bytes]"


class DependencyRegistry(Protocol):
    """What the dependency checks ask the registry being published to (injected: the engine stays pure).

    A fault raises a `GatekeeperError` (the run cannot decide)."""

    def packument(self, name: str) -> Mapping[str, Any] | None:
        """The full packument of a dependency (None: not on the registry)."""
        ...

    def satisfying(self, queries: list[tuple[str, list[str]]]) -> list[list[str] | None]:
        """For each (range, versions): the versions the range allows as npm matches them (None: not a range)."""
        ...

    def release(self, name: str, version: str) -> tuple[Package | None, Sequence[str]]:
        """A dependency's published release, integrity- and signature-checked, read safely: (the package or
        None when its bytes fail verification, the blocking verification problems)."""
        ...

    def planned(self, name: str) -> str | None:
        """The version of `name` that this same release publishes (a package of the release plan, gated in this run
        and not on the registry yet), else None. Asked only about a package the registry does not hold."""
        ...

    def now(self) -> datetime:
        """The moment the registry's facts are judged at (a package's age): the publish, i.e. the current time.
        A replay of a past release (bench/corpus.py) gives that release's publish time."""
        ...


class Checker:
    """One baseline/candidate pair, the policy, and the result its checks append findings to."""

    def __init__(
        self,
        baseline: Package | None,
        candidate: Package,
        policy: Policy,
        result: DiffResult,
        *,
        registry_url: str = PUBLIC_REGISTRY,
        resolver: Resolver | None = None,
        local_install: bool = False,
        dependencies: DependencyRegistry | None = None,
    ) -> None:
        self.old = baseline
        self.new = candidate
        self.policy = policy
        self.registry_url = registry_url
        self.resolver = resolver
        #: The registry's facts about dependencies (None: not looked up, e.g. two local tarballs in a unit test).
        self.deps = dependencies
        #: Pull-request mode: a local `npm install` of the repository itself (prepare & co. run too).
        self.local_install = local_install
        #: The packed manifest holds a range a consumer cannot install (`unresolved-workspace-range`): no consumer
        #: tree to resolve (npm would refuse `workspace:`; the floor already blocks).
        self.unresolvable = False
        self.approve = policy.approve
        self.result = result
        self.first = baseline is None
        self.status = {f.path: f.status for f in result.files}
        self._added_cache: dict[str, _Added] = {}
        old_v, new_v = semver.parse(baseline.version) if baseline else None, semver.parse(candidate.version)
        if old_v and new_v:
            result.release_type = semver.release_type(old_v, new_v)
        else:
            result.release_type = "first" if self.first else "unknown"

    def diff_release(self, old: Package, new: Package) -> DiffResult:
        """The same engine on two releases of a dependency (default policy, nothing resolved): the engine's
        concrete checker provides it (the checks cannot import the engine)."""
        raise NotImplementedError

    # -- emitting

    def emit(self, r: Rule, message: str, **kw: Any) -> None:
        self.result.findings.append(r(message, **kw))

    def approved(self, what: str, message: str, **kw: Any) -> None:
        self.emit(APPROVED, f"{message} — approved by `approve.{what}`", **kw)

    def exact(self, r: Rule, key: str, approval: str | None, matches: bool, text: str, **kw: Any) -> None:
        """`approved-change` when `approve.<key>` matches exactly; else `r`, saying what the approval was."""
        if matches:
            self.approved(key, text, file=kw.get("file"), line=kw.get("line"))
            return
        if approval is not None:
            text += f" (approve.{key} is {json.dumps(approval)}, which does not match)"
        self.emit(r, text, **kw)

    def file_approved(self, path: str) -> bool:
        """`approve.files` approves exactly these bytes at `path` (content-bound, or a native-binary glob)."""
        entry = self.new.files.get(path)
        return entry is not None and any(a.matches(path, entry.data) for a in self.approve.files)
