"""Diff gate: the packed tarball against the last release on the registry.

The baseline is the version the policy's dist-tag (`diff.baseline-tag`, default
`latest`) names; for a backport (candidate below that tag) it is the highest
published version below the candidate; none at all means a first release. The
baseline's tarball is downloaded, its `dist.integrity` checked and its registry
signature verified before it is read (safely, in memory) and diffed.

Reporters get the delta without re-running anything: `compute(ctx)` returns the
`DiffResult` (delta + findings), computed once per run and held by the run's
context (`ctx.memo`); `check` returns `compute(ctx).findings`, and
`report_extras(ctx)` gives the pipeline the previous release and the Markdown
delta for the job summary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gatekeeper._internal import semver
from gatekeeper._internal.tarball import Package, read_package
from gatekeeper.diffing import PUBLIC_REGISTRY, DependencyRegistry, DiffResult, Resolver, diff_packages
from gatekeeper.errors import ConfigError, GatekeeperError, RegistryError
from gatekeeper.findings import Finding, Severity
from gatekeeper.gates import ReportExtras
from gatekeeper.report.snippets import add_snippets
from gatekeeper.report.snippets import markdown as approval_snippets_markdown
from gatekeeper.report.snippets import text as approval_snippets_text
from gatekeeper.rules.diff import (
    BASELINE_INTEGRITY,
    BASELINE_SIGNATURE_INVALID,
    BASELINE_SIGNATURE_UNAVAILABLE,
    BASELINE_TARBALL_ELSEWHERE,
    FIRST_RELEASE,
    REGISTRY_SIGNATURES_MISSING,
    VERSION_EXISTS,
)
from gatekeeper.trust.policy import Policy

if TYPE_CHECKING:
    from typing import Any

    from gatekeeper._internal.registry import RegistryClient
    from gatekeeper._internal.resolve import TreeResolver
    from gatekeeper._internal.route import Route
    from gatekeeper.context import Context

NAME = "diff"


@dataclass
class Baseline:
    """A verified (or rejected) release fetched from the registry."""

    package: Package | None  # None when its bytes failed the integrity check
    findings: list[Finding]
    info: dict[str, object]


class DiffIncomplete(GatekeeperError):
    """A check of the release diff could not run (the consumer tree's resolution failed): the gate errors
    (exit 2) and still reports the findings of every other check (`findings`), which `run_gate` keeps."""

    def __init__(self, error: GatekeeperError, findings: Sequence[Finding]) -> None:
        super().__init__(error.what, error.remedy)
        self.findings = list(findings)


def check(ctx: Context) -> list[Finding]:
    """The gate: findings of the release diff (see `compute`); a check that could not run errors the gate
    with the other findings kept (`DiffIncomplete`)."""
    result = compute(ctx)
    if result.error is not None:
        raise DiffIncomplete(result.error, result.findings)
    return list(result.findings)


def report_extras(ctx: Context) -> ReportExtras:
    result = compute(ctx)
    return ReportExtras(
        result.baseline,
        result.to_markdown() + approval_snippets_markdown(result.findings),
        "\n".join(t for t in (result.to_text(), approval_snippets_text(result.findings)) if t),
    )


def compute(ctx: Context) -> DiffResult:
    """The release diff of this run (computed once, held by the run's context)."""
    if ctx.memo.diff is None:
        ctx.memo.diff = _compute(ctx)
    return ctx.memo.diff


def _compute(ctx: Context) -> DiffResult:
    if ctx.tarball is None:
        raise ConfigError("The diff gate has no packed tarball to inspect", "Run it from the publish/check pipeline")
    policy = ctx.policy
    candidate = read_package(ctx.tarball.path, policy.diff.limits, label=ctx.tarball.path.name)
    if candidate.unsafe or candidate.manifest_error:
        return diff_packages(None, candidate, policy)
    name = candidate.name or (ctx.package.name if ctx.package else "")
    resolve = tree_resolver(
        registry_url_of(ctx.registry),
        policy,
        ctx.workspace,
        getattr(ctx.registry, "route", None),
        siblings=ctx.siblings,
        release=(name, candidate.version),
    )
    result = diff_against_registry(
        ctx.registry,
        candidate,
        policy,
        name=name,
        check_exists=True,
        resolver=resolve,
        packument_of=ctx.packument,
        dependencies=RegistryDependencies(ctx.registry, policy, ctx.packument, siblings=ctx.siblings),
    )
    result.findings = add_snippets(result.findings, candidate)  # the exact YAML that would approve each one
    return result


def registry_url_of(registry: RegistryClient) -> str:
    """The registry's base URL (what the lockfile rules and the tree resolution are judged against)."""
    url = getattr(registry, "base_url", None)
    return url if isinstance(url, str) and url else PUBLIC_REGISTRY


def tree_resolver(
    registry_url: str,
    policy: Policy,
    workspace: Path | None,
    route: Route | None = None,
    *,
    siblings: Mapping[str, Mapping[str, Any]] | None = None,
    release: tuple[str, str] | None = None,
) -> TreeResolver:
    """Resolves dependency trees as a consumer would, against the registry being published to (through the
    policy's proxy and CA bundle, `route`; `many`: the release's two trees concurrently, over one shared
    packument cache; with the other packages of the same release that are not on it yet: `siblings`, see
    `_internal.resolve`)."""
    from gatekeeper._internal.resolve import resolver

    return resolver(
        registry_url,
        float(policy.diff.resolve_timeout),
        workspace,
        route,
        siblings=siblings or None,
        release=release,
    )


class RegistryDependencies:
    """The engine's `DependencyRegistry` over the registry being published to: packuments (fetched once per
    name), npm's own range matching, and dependency releases downloaded and verified as the baseline is."""

    def __init__(
        self,
        registry: RegistryClient | Callable[[], RegistryClient],
        policy: Policy,
        packument_of: Callable[[str], Mapping[str, Any] | None] | None = None,
        siblings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._registry = registry  # a client, or what makes one when a dependency is first looked up
        self.policy = policy
        self._packument_of = packument_of
        #: The release plan's packages gated before this one and not on the registry yet (name -> packed manifest).
        self._siblings = siblings or {}
        self._held: dict[str, Mapping[str, Any] | None] = {}

    @property
    def registry(self) -> RegistryClient:
        if callable(self._registry):
            self._registry = self._registry()
        return self._registry

    def packument(self, name: str) -> Mapping[str, Any] | None:
        if name not in self._held:
            self._held[name] = (self._packument_of or self.registry.packument)(name)
        return self._held[name]

    def satisfying(self, queries: list[tuple[str, list[str]]]) -> list[list[str] | None]:
        from gatekeeper._internal.resolve import satisfying

        return satisfying(queries, timeout=float(self.policy.diff.resolve_timeout))

    def release(self, name: str, version: str) -> tuple[Package | None, Sequence[str]]:
        doc = self.packument(name)
        if doc is None:
            raise RegistryError(f"The registry has no packument for the dependency {name}", "Check the registry")
        fetched = fetch_release(self.registry, doc, name, version, self.policy, side="dependency")
        return fetched.package, [f.message for f in fetched.findings if f.blocks]

    def planned(self, name: str) -> str | None:
        version = (self._siblings.get(name) or {}).get("version")
        return version if isinstance(version, str) else None

    def now(self) -> datetime:
        return datetime.now(UTC)


def diff_against_registry(
    registry: RegistryClient,
    candidate: Package,
    policy: Policy,
    *,
    name: str,
    check_exists: bool,
    resolver: Resolver | None = None,
    packument_of: Callable[[str], Mapping[str, Any] | None] | None = None,
    dependencies: DependencyRegistry | None = None,
) -> DiffResult:
    """Find the candidate's last release on the registry, verify it, and diff (also used by the CLI).

    `packument_of(name)` gives the packument the run already fetched (default: GET it from `registry`)."""
    if not name:
        raise ConfigError("The packed package.json has no name", "Add a `name` to package.json")
    packument = (packument_of or registry.packument)(name)
    pre: list[Finding] = []
    version = candidate.version
    baseline_version: str | None = None
    reason = ""
    if packument is not None:
        versions = packument.get("versions") or {}
        if check_exists and version in versions:
            pre.append(
                VERSION_EXISTS(
                    f"{name}@{version} is already on the registry; a version can be published only once",
                    file="package.json",
                    line=candidate.line_of("version"),
                )
            )
        baseline_version, reason = select_baseline(packument, version, policy.diff.baseline_tag)
    if baseline_version is None or packument is None:
        severity = Severity.BLOCK if policy.diff.first_release == "block" else None
        why = "is not on the registry" if packument is None else "has no published version to compare with"
        pre.append(
            FIRST_RELEASE(
                f"{name} {why}: first release, nothing to diff against (diff.first-release: "
                f"{policy.diff.first_release})",
                severity=severity,
            )
        )
        result = diff_packages(None, candidate, policy, registry_url=registry_url_of(registry))
        result.findings[:0] = pre
        return result
    base = fetch_release(registry, packument, name, baseline_version, policy)
    base.info["reason"] = reason
    return combine(
        base,
        candidate,
        policy,
        pre,
        registry_url=registry_url_of(registry),
        resolver=resolver,
        dependencies=dependencies,
    )


def combine(
    base: Baseline,
    candidate: Package,
    policy: Policy,
    pre: Sequence[Finding] = (),
    *,
    registry_url: str = PUBLIC_REGISTRY,
    resolver: Resolver | None = None,
    dependencies: DependencyRegistry | None = None,
) -> DiffResult:
    """Diff a fetched baseline with the candidate; verification findings come first."""
    if base.package is None:  # bytes that fail integrity are not worth diffing
        result = DiffResult(candidate.name, candidate.version, str(base.info.get("version")))
    else:
        result = diff_packages(
            base.package, candidate, policy, registry_url=registry_url, resolver=resolver, dependencies=dependencies
        )
    result.findings[:0] = [*pre, *base.findings]
    result.baseline = base.info
    return result


def select_baseline(packument: Mapping[str, Any], candidate: str, tag: str) -> tuple[str | None, str]:
    """(version, why): the tagged release if below the candidate, else the highest version below it."""
    versions = [v for v in (packument.get("versions") or {}) if isinstance(v, str)]
    raw_tags = packument.get("dist-tags")
    tags: dict[str, Any] = raw_tags if isinstance(raw_tags, dict) else {}
    value = tags.get(tag)
    tagged = value if isinstance(value, str) and value in versions else None
    if tagged is None and versions:
        # The policy's dist-tag names nothing (a released policy can name any tag): fall back to `latest`, then
        # the highest version, so a version below every release is never taken for a first release.
        latest = tags.get("latest")
        tagged = latest if isinstance(latest, str) and latest in versions else _highest(versions)
    cand = semver.parse(candidate)
    if cand is None:
        return tagged, f"dist-tag `{tag}`"
    tagged_v = semver.parse(tagged) if tagged else None
    if tagged and tagged_v is not None and tagged_v < cand:
        return tagged, f"dist-tag `{tag}`"
    below = semver.highest_below(versions, cand)
    if below is not None:
        backport = tagged_v is not None and cand < tagged_v
        why = f"{'backport: ' if backport else ''}highest version below {candidate}"
        return below, why
    if tagged:
        return tagged, f"dist-tag `{tag}` (no published version is below {candidate})"
    return None, ""


def _highest(versions: Sequence[str]) -> str | None:
    parsed = [(p, v) for v in versions if (p := semver.parse(v)) is not None]
    return max(parsed)[1] if parsed else None


def fetch_release(
    registry: RegistryClient,
    packument: Mapping[str, Any],
    name: str,
    version: str,
    policy: Policy,
    *,
    side: str = "baseline",
) -> Baseline:
    """Download `name@version`, check its integrity and registry signature, and read it safely.

    `side` labels the messages (`baseline`, or `candidate` when `gatekeeper diff` fetches both)."""
    meta = (packument.get("versions") or {}).get(version)
    dist = meta.get("dist") if isinstance(meta, dict) else None
    url = dist.get("tarball") if isinstance(dist, dict) else None
    if not isinstance(dist, dict) or not isinstance(url, str) or not url:
        raise RegistryError(f"The registry records no tarball for {name}@{version}", "Check the `registry` input")
    from gatekeeper._internal.signatures import INVALID, UNAVAILABLE, check_integrity, verify_signatures

    info: dict[str, object] = {"name": name, "version": version, "tarball": url, "side": side}
    findings: list[Finding] = []
    label = f"{side} {name}@{version}"
    if not registry.same_origin(url):
        findings.append(
            BASELINE_TARBALL_ELSEWHERE(
                f"The {label} tarball is at {_origin_text(url)}, not on the registry {_origin_text(registry.base_url)}"
                "; it was downloaded without the token",
                tarball=url,
            )
        )
    data = registry.download(url, policy.diff.limits.max_compressed_bytes)
    integrity = check_integrity(data, dist.get("integrity"), dist.get("shasum"))
    info["integrity"] = integrity.expected
    info["integrity_ok"] = integrity.ok
    if not integrity.ok:
        findings.append(BASELINE_INTEGRITY(f"{label}: {integrity.message}", tarball=url))
        info["signature"] = "not checked"
        return Baseline(None, findings, info)
    signed = dist.get("integrity") if isinstance(dist.get("integrity"), str) else _sha1_sri(dist.get("shasum"))
    raw_times = packument.get("time")
    times: dict[str, Any] = raw_times if isinstance(raw_times, dict) else {}
    keys = registry.keys()
    sig = verify_signatures(name, version, str(signed).strip(), dist.get("signatures"), keys, times.get(version))
    info["signature"] = sig.status
    if sig.status == INVALID:
        findings.append(BASELINE_SIGNATURE_INVALID(f"{side}: {sig.message}", keyid=sig.keyid))
    elif sig.status == UNAVAILABLE and registry.public:
        answer = "404 (no keys endpoint)" if keys is None else "an empty key list"
        findings.append(
            REGISTRY_SIGNATURES_MISSING(
                f"{label}: the public registry {_origin_text(registry.base_url)} answered GET /-/npm/v1/keys with "
                f"{answer}; signatures are required there, so the {side} cannot be verified",
                keys=answer,
            )
        )
    elif sig.status == UNAVAILABLE:
        findings.append(BASELINE_SIGNATURE_UNAVAILABLE(f"{label}: {sig.message}; the sha512 integrity matched"))
    return Baseline(read_package(data, policy.diff.limits, label=f"{name}@{version} ({side})"), findings, info)


def _origin_text(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _sha1_sri(shasum: object) -> str:
    """`ssri.fromHex(shasum, 'sha1')`, what pacote signs over for packages without dist.integrity."""
    import base64

    try:
        return "sha1-" + base64.b64encode(bytes.fromhex(str(shasum))).decode()
    except ValueError:
        return ""
