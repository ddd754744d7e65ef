"""Provenance gate: this publish keeps the provenance the last release had, from the same source.

- `plan(ctx)`: whether this publish carries `--provenance` (`credential.provenance`: `auto` = on under
  OIDC for a public repository, npm's own default; `always`; `never`), and why.
- `provenance-dropped`: the last release carried a provenance attestation (`dist.attestations`) and
  this publish would not. From outside, that is how a release made with a stolen token looks.
- The last release's provenance statement (`/-/npm/v1/attestations/<name>@<version>`, the SLSA
  predicate inside the DSSE envelope) must name this repository and this workflow file.

This is a consistency check of the statement as the registry serves it: its sigstore signature,
Fulcio certificate and Rekor inclusion are not verified here (`npm audit signatures` does that).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gatekeeper._internal import oidc
from gatekeeper.context import Context
from gatekeeper.findings import Finding
from gatekeeper.gates.diff import select_baseline
from gatekeeper.rules.provenance import (
    PROVENANCE_DROPPED,
    PROVENANCE_IMPOSSIBLE,
    PROVENANCE_PLAN,
    PROVENANCE_SOURCE_MISMATCH,
    PROVENANCE_UNREADABLE,
)
from gatekeeper.trust import trusted_publishing

NAME = "provenance"


SLSA_PREFIX = "https://slsa.dev/provenance/"
MAX_PAYLOAD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """Whether `--provenance` is passed, and why."""

    provenance: bool
    reason: str


@dataclass(frozen=True)
class Source:
    """Where a provenance statement says the release was built."""

    repository: str  # https://github.com/owner/name
    workflow: str  # .github/workflows/release.yml


def _public(ctx: Context) -> bool | None:
    """Is the repository public? The event payload first, then the GitHub API; None when unknown."""
    repo = ctx.run.event.get("repository")
    if isinstance(repo, dict):
        if isinstance(repo.get("visibility"), str):
            return repo["visibility"] == "public"
        if isinstance(repo.get("private"), bool):
            return not repo["private"]
    if ctx.github is None:
        return None
    github = ctx.github
    return not bool(github.call("reading the repository's visibility", lambda: github.repo.private))


def plan(ctx: Context) -> Plan:
    """`--provenance` or not, from `credential.provenance` and the credential that publishes."""
    setting = ctx.policy.credential.provenance
    if setting == "never":
        return Plan(False, "`credential.provenance: never`")
    if setting == "always":
        return Plan(True, "`credential.provenance: always`")
    if trusted_publishing.choose(ctx).kind != "oidc":
        if ctx.inputs.npm_token is None and not oidc.available(ctx.env):
            return Plan(
                False,
                "auto: provenance is on by default only under OIDC trusted publishing, and this run has neither "
                "OIDC (GitHub Actions with `id-token: write`) nor an npm token",
            )
        return Plan(False, "auto: a token publishes (provenance is on by default only under OIDC)")
    public = _public(ctx)
    if public is None:
        return Plan(False, "auto: the repository's visibility is unknown")
    if not public:
        return Plan(False, "auto: the repository is not public (npm signs provenance for public sources only)")
    return Plan(True, "auto: OIDC trusted publishing from a public repository")


def plan_message(p: Plan, mode: str) -> str:
    """The provenance-plan finding's sentence (check mode publishes nothing: it says what a publish would do)."""
    subject, verb = ("A publish of this tarball", "would carry") if mode == "check" else ("This publish", "carries")
    return f"{subject} {verb} {'a' if p.provenance else 'no'} provenance statement ({p.reason})."


def check(ctx: Context) -> list[Finding]:
    """Findings about provenance: this publish's plan, the last release's attestation and its source."""
    assert ctx.package is not None
    p = plan(ctx)
    findings: list[Finding] = []
    if p.provenance and not oidc.available(ctx.env):
        findings.append(PROVENANCE_IMPOSSIBLE(f"Provenance is on ({p.reason}), but `id-token: write` is not granted."))
    findings.append(PROVENANCE_PLAN(plan_message(p, ctx.inputs.mode), provenance=p.provenance))
    name, version = ctx.package.name, ctx.package.version
    packument = ctx.packument(name)
    if packument is None:
        return findings
    last, _ = select_baseline(packument, version, ctx.policy.diff.baseline_tag)
    if last is None:
        return findings
    meta = (packument.get("versions") or {}).get(last)
    dist = meta.get("dist") if isinstance(meta, dict) else None
    attestations = dist.get("attestations") if isinstance(dist, dict) else None
    if not isinstance(attestations, dict) or not attestations:
        return findings
    if not p.provenance:
        findings.append(
            PROVENANCE_DROPPED(
                f"{name}@{last} carries a provenance attestation; {name}@{version} would not ({p.reason}).",
                last=last,
            )
        )
    url = attestations.get("url") if isinstance(attestations.get("url"), str) else None
    doc = ctx.registry.attestations(name, last, url)
    source, problem = read_source(doc, name, last)
    if source is None:
        findings.append(PROVENANCE_UNREADABLE(f"{name}@{last}: {problem}.", last=last))
        return findings
    findings += compare(ctx, source, f"{name}@{last}")
    return findings


def this_run(ctx: Context) -> Source:
    """Where this run builds: `<server>/<repository>` and its workflow file."""
    server = (ctx.env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    return Source(f"{server}/{ctx.run.repository}", ctx.run.workflow_path or "")


def compare(ctx: Context, source: Source, label: str) -> list[Finding]:
    """A mismatch of repository or workflow file between the statement and this run blocks."""
    here = this_run(ctx)
    out: list[Finding] = []
    if _norm_repo(source.repository) != _norm_repo(here.repository):
        out.append(
            PROVENANCE_SOURCE_MISMATCH(
                f"{label} was built from `{source.repository}`; this run is `{here.repository}`.",
                statement_repository=source.repository,
                repository=here.repository,
            )
        )
    elif source.workflow != here.workflow:
        out.append(
            PROVENANCE_SOURCE_MISMATCH(
                f"{label} was built by workflow `{source.workflow}`; this run is `{here.workflow or '(unknown)'}`.",
                statement_workflow=source.workflow,
                workflow=here.workflow,
            )
        )
    return out


def _norm_repo(url: str) -> str:
    return url.strip().removesuffix(".git").rstrip("/").lower()


def purl(name: str, version: str) -> str:
    """`pkg:npm/%40scope/name@1.0.0`, the subject name npm writes."""
    if name.startswith("@"):
        scope, _, bare = name[1:].partition("/")
        return f"pkg:npm/%40{quote(scope, safe='')}/{quote(bare, safe='')}@{version}"
    return f"pkg:npm/{quote(name, safe='')}@{version}"


def read_source(doc: Mapping[str, Any] | None, name: str, version: str) -> tuple[Source | None, str]:
    """The SLSA statement's source repository and workflow, or (None, what is wrong)."""
    if doc is None:
        return None, "the registry has no attestations document for it (404)"
    for item in doc.get("attestations") or []:
        if not isinstance(item, dict) or not str(item.get("predicateType", "")).startswith(SLSA_PREFIX):
            continue
        bundle = item.get("bundle")
        envelope = bundle.get("dsseEnvelope") if isinstance(bundle, dict) else None
        payload = envelope.get("payload") if isinstance(envelope, dict) else None
        if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_BYTES:
            return None, "the SLSA attestation has no readable DSSE payload"
        try:
            statement = json.loads(base64.b64decode(payload, validate=True))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None, "the SLSA statement is not base64 JSON"
        if not isinstance(statement, dict):
            return None, "the SLSA statement is not a JSON object"
        subjects = statement.get("subject")
        names = {s.get("name") for s in subjects if isinstance(s, dict)} if isinstance(subjects, list) else set()
        if purl(name, version) not in names:
            return None, f"the statement's subject is not `{purl(name, version)}`"
        source = _source_of(statement.get("predicate"))
        if source is None:
            return None, "the statement names no source repository and workflow"
        return source, ""
    return None, "no SLSA provenance attestation among its attestations"


def _source_of(predicate: Any) -> Source | None:
    if not isinstance(predicate, dict):
        return None
    build = predicate.get("buildDefinition")  # SLSA v1 (npm on GitHub Actions)
    if isinstance(build, dict):
        ext = build.get("externalParameters")
        workflow = ext.get("workflow") if isinstance(ext, dict) else None
        if isinstance(workflow, dict) and isinstance(workflow.get("repository"), str):
            return Source(workflow["repository"], str(workflow.get("path") or ""))
    invocation = predicate.get("invocation")  # SLSA v0.2
    config = invocation.get("configSource") if isinstance(invocation, dict) else None
    if isinstance(config, dict) and isinstance(config.get("uri"), str):
        return Source(config["uri"].removeprefix("git+").split("@", 1)[0], str(config.get("entryPoint") or ""))
    return None
