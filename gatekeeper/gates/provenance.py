"""Provenance gate: this publish keeps the provenance the last release had, from the same source.

- `plan(ctx)`: whether this publish carries `--provenance` (`credential.provenance`: `auto` = on under
  OIDC for a public repository, npm's own default; `always`; `never`), and why.
- `provenance-dropped`: the last release carried a provenance attestation (`dist.attestations`) and
  this publish would not. From outside, that is how a release made with a stolen token looks.
- The last release's attestations (`/-/npm/v1/attestations/<name>@<version>`) are verified as npm verifies
  them (`trust/provenance.py`: npm's own Sigstore verifier, offline, against the shipped trust root) and bound
  to that version's tarball; a bundle that fails blocks (`provenance-invalid`, a floor).
- The verified Fulcio certificate (not the statement) must name the repository (by URI and id) and the
  workflow file the trusted policy expects (`provenance.*`; default: this run's): `provenance-source-mismatch`.
- A last release without provenance is a fact reported (`provenance-absent`), not an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper._internal import oidc, sigstore
from gatekeeper.context import Context
from gatekeeper.findings import Finding
from gatekeeper.gates.diff import select_baseline
from gatekeeper.rules.provenance import (
    PROVENANCE_ABSENT,
    PROVENANCE_DROPPED,
    PROVENANCE_IMPOSSIBLE,
    PROVENANCE_INVALID,
    PROVENANCE_PLAN,
    PROVENANCE_SOURCE_MISMATCH,
    PROVENANCE_UNREADABLE,
    PROVENANCE_VERIFIED,
    TRUST_DOWNGRADE,
)
from gatekeeper.trust import provenance as verified
from gatekeeper.trust import trusted_publishing

NAME = "provenance"


@dataclass(frozen=True)
class Plan:
    """Whether `--provenance` is passed, and why."""

    provenance: bool
    reason: str


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
    """Findings about provenance: this publish's plan, the last release's verified attestations and identity."""
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
    dist = dist if isinstance(dist, dict) else {}
    attestations = dist.get("attestations")
    label = f"{name}@{last}"
    findings += downgrade(ctx, p, meta if isinstance(meta, dict) else {}, label)
    if not isinstance(attestations, dict) or not attestations:
        findings.append(
            PROVENANCE_ABSENT(f"{label} carries no provenance attestation (`dist.attestations`).", last=last)
        )
        return findings
    if not p.provenance:
        findings.append(
            PROVENANCE_DROPPED(
                f"{label} carries a provenance attestation; {name}@{version} would not ({p.reason}).",
                last=last,
            )
        )
    url = attestations.get("url") if isinstance(attestations.get("url"), str) else None
    doc = ctx.registry.attestations(name, last, url)
    if doc is None:
        findings.append(
            PROVENANCE_UNREADABLE(f"{label}: the registry has no attestations document for it (404).", last=last)
        )
        return findings
    outcome = verified.verify_version(name, last, dist, doc, ctx.env)
    for problem in outcome.problems:
        findings.append(PROVENANCE_INVALID(problem + ".", last=last))
    if outcome.problems:
        return findings
    evidence = outcome.evidence
    if evidence is None:
        if "provenance" in attestations:
            findings.append(
                PROVENANCE_UNREADABLE(
                    f"{label}: `dist.attestations` names a provenance statement, but the attestations document "
                    f"holds none (only {outcome.kinds or 'nothing'}).",
                    last=last,
                )
            )
        else:
            findings.append(PROVENANCE_ABSENT(f"{label} carries attestations but no SLSA provenance.", last=last))
        return findings
    findings += compare(ctx, evidence, label)
    checked = "Fulcio certificate, transparency log, DSSE signature"
    if evidence.publish_attestation:
        checked += ", npm publish attestation"
    findings.append(
        PROVENANCE_VERIFIED(
            f"{label}: provenance verified (Sigstore: {checked}; {sigstore.trust_root().describe()}): "
            f"{evidence.describe()}.",
            last=last,
            commit=evidence.commit,
            run=evidence.claims.run_invocation_uri,
            repository=evidence.claims.source_repository_uri,
            repository_id=evidence.claims.source_repository_id,
            workflow=evidence.claims.build_config_uri,
            ref=evidence.claims.source_repository_ref,
            log_index=evidence.log_index,
        )
    )
    return findings


def publish_rank(ctx: Context, p: Plan) -> int:
    """The evidence this publish will carry."""
    if ctx.inputs.publish_with == "stage":
        return 3
    oidc_publish = trusted_publishing.choose(ctx).kind == "oidc"
    return 2 if oidc_publish and p.provenance else 1 if oidc_publish or p.provenance else 0


def downgrade(ctx: Context, p: Plan, meta: dict[str, object], label: str) -> list[Finding]:
    """`trust-downgrade` when this publish ranks below the last release (issue 23, item 5)."""
    before, now = verified.release_rank(meta), publish_rank(ctx, p)
    if now >= before:
        return []
    assert ctx.package is not None
    return [
        TRUST_DOWNGRADE(
            f"{label} was published with {verified.RANKS[before]}; {ctx.package.name}@{ctx.package.version} would "
            f"be published with {verified.RANKS[now]} ({p.reason}).",
            last_rank=verified.RANKS[before],
            rank=verified.RANKS[now],
        )
    ]


def expected(ctx: Context) -> verified.Expected:
    """The identity the trusted policy expects (`provenance.*`), defaulting to this run's."""
    pol = ctx.policy.provenance
    server = (ctx.env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    return verified.expected(
        pol.repository,
        pol.repository_id,
        pol.workflow,
        run_repository=ctx.run.repository,
        run_repository_id=_repository_id(ctx),
        run_workflow=ctx.run.workflow_path or "",
        server=server,
    )


def _repository_id(ctx: Context) -> str:
    """This run's repository id: GITHUB_REPOSITORY_ID, the event payload, then the GitHub API; '' when unknown."""
    given = ctx.env.get("GITHUB_REPOSITORY_ID", "")
    if given.isdigit():
        return given
    repo = ctx.run.event.get("repository")
    if isinstance(repo, dict) and isinstance(repo.get("id"), int) and not isinstance(repo.get("id"), bool):
        return str(repo["id"])
    if ctx.github is None:
        return ""
    github = ctx.github
    value = github.call("reading the repository's id", lambda: github.repo.id)
    return str(value) if isinstance(value, int) else ""


def compare(ctx: Context, evidence: verified.Evidence, label: str) -> list[Finding]:
    """The verified certificate's identity against the trusted policy's: any difference blocks."""
    want = expected(ctx)
    problems = verified.identity_problems(evidence.claims, want)
    if not problems:
        return []
    c = evidence.claims
    return [
        PROVENANCE_SOURCE_MISMATCH(
            f"{label}'s verified provenance does not match the trusted policy's source: " + "; ".join(problems) + ".",
            certificate_repository=c.source_repository_uri,
            certificate_repository_id=c.source_repository_id,
            certificate_workflow=c.build_config_uri,
            repository=want.repository_url,
            repository_id=want.repository_id,
            workflow=want.workflow,
        )
    ]
