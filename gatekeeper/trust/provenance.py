"""Verified provenance: what a version's Sigstore-verified attestations prove, and whose identity they carry.

`verify_version(...)` fetches nothing itself: it takes the version's `dist` (from the packument) and its
attestations document (`/-/npm/v1/attestations/<name>@<version>`), has every bundle verified by npm's own
verifier (`_internal/sigstore.py`: Fulcio chain to the Sigstore trust root, transparency-log inclusion, the
signature over the DSSE envelope; npm's publish attestation against the registry's keys), and checks each
verified statement's subject: this package and version (purl), and this version's tarball sha512
(`dist.integrity`). Any bundle that fails makes the whole document fail (`problems`): nothing of it is used.

`Expected` is the identity the trusted policy expects (`provenance.repository`, `provenance.repository-id`,
`provenance.workflow`; default: this run's repository, its id and the workflow running the gate);
`identity_problems(claims, expected)` compares the verified certificate's Fulcio claims with it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from gatekeeper._internal import sigstore
from gatekeeper.errors import GatekeeperError

if TYPE_CHECKING:
    from gatekeeper._internal.registry import RegistryClient

SLSA_PREFIX = "https://slsa.dev/provenance/"
PUBLISH_PREFIX = "https://github.com/npm/attestation/tree/main/specs/publish/"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


@dataclass(frozen=True)
class Evidence:
    """A version's verified SLSA provenance: the certificate's claims and the transparency-log entry."""

    version: str
    claims: sigstore.Claims
    log_index: str
    publish_attestation: bool  # npm's own publish attestation verified too

    @property
    def commit(self) -> str:
        return self.claims.source_repository_digest

    @property
    def run_id(self) -> str:
        """The run id from `.../actions/runs/<id>/attempts/<n>`."""
        parts = self.claims.run_invocation_uri.rstrip("/").split("/")
        return parts[parts.index("runs") + 1] if "runs" in parts and parts.index("runs") + 1 < len(parts) else ""

    def describe(self) -> str:
        c = self.claims
        return (
            f"built by `{c.build_config_uri}` from `{c.source_repository_uri}` (id {c.source_repository_id or '?'}), "
            f"ref `{c.source_repository_ref}`, commit `{c.source_repository_digest}`, run `{c.run_invocation_uri}`, "
            f"runner `{c.runner_environment or '?'}`; Rekor log index {self.log_index}"
        )


@dataclass(frozen=True)
class Outcome:
    """What the attestations document of one version proves."""

    evidence: Evidence | None  # verified SLSA provenance, or None
    problems: list[str]  # verification failures: each blocks
    kinds: list[str]  # the predicate types present


def purl(name: str, version: str) -> str:
    """`pkg:npm/%40scope/name@1.0.0`, the subject name npm writes."""
    if name.startswith("@"):
        scope, _, bare = name[1:].partition("/")
        return f"pkg:npm/%40{quote(scope, safe='')}/{quote(bare, safe='')}@{version}"
    return f"pkg:npm/{quote(name, safe='')}@{version}"


def sha512_hex(integrity: Any) -> str:
    """The sha512 of an SRI string (`sha512-<base64>`) in hex, or ''."""
    if not isinstance(integrity, str):
        return ""
    for part in integrity.split():
        algo, _, b64 = part.partition("-")
        if algo == "sha512":
            try:
                raw = base64.b64decode(b64.split("?", 1)[0], validate=True)
            except binascii.Error:
                return ""
            return raw.hex() if len(raw) == 64 else ""
    return ""


def verify_version(
    name: str, version: str, dist: Mapping[str, Any], doc: Mapping[str, Any], env: Mapping[str, str]
) -> Outcome:
    """Verify every bundle of `doc` and bind each statement to `name@version` and its tarball."""
    return verify_versions(name, [(version, dist, doc)], env)[version]


def verify_versions(
    name: str, entries: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]], env: Mapping[str, str]
) -> dict[str, Outcome]:
    """`verify_version` for several versions of one package with ONE verifier run."""
    outcomes = verify_many([(name, version, dist, doc) for version, dist, doc in entries], env)
    return {version: out for (version, _, _), out in zip(entries, outcomes, strict=True)}


def verify_many(
    entries: list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]], env: Mapping[str, str]
) -> list[Outcome]:
    """`verify_version` for (name, version, dist, attestations document) of any packages with ONE verifier run
    (watch verifies every package it watches at once: the verifier's start-up dominates one document's cost).
    The outcomes are in the order of `entries`."""
    flat: list[Any] = []
    spans: list[tuple[str, str, Mapping[str, Any], int, int]] = []
    for name, version, dist, doc in entries:
        items = doc.get("attestations")
        items = items if isinstance(items, list) else []
        spans.append((name, version, dist, len(flat), len(flat) + len(items)))
        flat += items
    results = sigstore.verify(flat, env) if flat else []
    return [_judge(name, v, dist, results[a:b]) for name, v, dist, a, b in spans]


def _judge(name: str, version: str, dist: Mapping[str, Any], results: list[sigstore.Verified]) -> Outcome:
    label = f"{name}@{version}"
    if not results:
        return Outcome(None, [], [])
    digest = sha512_hex(dist.get("integrity"))
    problems: list[str] = []
    evidence: Evidence | None = None
    publish = False
    kinds = [r.predicate_type for r in results]
    for r in results:
        kind = r.predicate_type or "(no predicate type)"
        if not r.verified:
            problems.append(f"{label}: the `{kind}` bundle fails Sigstore verification ({r.error})")
            continue
        statement = r.statement or {}
        if statement.get("predicateType") != r.predicate_type:
            problems.append(
                f"{label}: the `{kind}` bundle signs a statement of type `{statement.get('predicateType')}`"
            )
            continue
        subjects = statement.get("subject")
        subjects = [s for s in subjects if isinstance(s, dict)] if isinstance(subjects, list) else []
        if [s.get("name") for s in subjects] != [purl(name, version)]:
            problems.append(
                f"{label}: the `{kind}` statement signs {[s.get('name') for s in subjects]}, not this version"
            )
            continue
        signed = (
            (subjects[0].get("digest") or {}).get("sha512") if isinstance(subjects[0].get("digest"), dict) else None
        )
        if not digest or signed != digest:
            problems.append(
                f"{label}: the `{kind}` statement signs the tarball sha512 `{signed}`, but the registry's "
                f"`dist.integrity` is `{digest or '(none)'}`"
            )
            continue
        if r.predicate_type.startswith(PUBLISH_PREFIX):
            publish = True
        elif r.predicate_type.startswith(SLSA_PREFIX):
            if not r.certificate:
                problems.append(f"{label}: the SLSA provenance bundle is signed by a key, not a Fulcio certificate")
                continue
            claims = r.claims
            assert claims is not None
            evidence = Evidence(version, claims, r.log_index, False)
    if problems:
        return Outcome(None, problems, kinds)
    if evidence is not None:
        evidence = Evidence(evidence.version, evidence.claims, evidence.log_index, publish)
    return Outcome(evidence, [], kinds)


@dataclass(frozen=True)
class Expected:
    """The identity the trusted policy expects a release's provenance to carry."""

    repository: str  # owner/name
    repository_url: str  # https://github.com/owner/name
    repository_id: str  # '' when unknown
    workflow: str  # .github/workflows/release.yml ('' when unknown)


def expected(
    policy_repository: str,
    policy_repository_id: int,
    policy_workflow: str,
    *,
    run_repository: str,
    run_repository_id: str,
    run_workflow: str,
    server: str,
) -> Expected:
    repo = policy_repository or run_repository
    if policy_repository_id:
        repo_id = str(policy_repository_id)
    elif repo.lower() == run_repository.lower():
        repo_id = run_repository_id
    else:
        repo_id = ""
    workflow = policy_workflow or run_workflow
    if workflow and "/" not in workflow:
        workflow = f".github/workflows/{workflow}"
    return Expected(repo, f"{server.rstrip('/')}/{repo}", repo_id, workflow)


def _norm(url: str) -> str:
    return url.strip().removeprefix("git+").removesuffix(".git").rstrip("/").lower()


def identity_problems(claims: sigstore.Claims, want: Expected, *, workflow_required: bool = True) -> list[str]:
    """How the certificate's claims differ from the expected identity (empty: they match). Without
    `workflow_required`, an unknown expected workflow is not checked (watch runs from another workflow)."""
    out: list[str] = []
    if claims.issuer != GITHUB_ISSUER:
        out.append(f"the certificate's issuer is `{claims.issuer or '(none)'}`, not GitHub Actions (`{GITHUB_ISSUER}`)")
    if _norm(claims.source_repository_uri) != _norm(want.repository_url):
        out.append(f"it was built from `{claims.source_repository_uri or '(none)'}`, not `{want.repository_url}`")
    if not want.repository_id:
        out.append(
            f"the id of `{want.repository}` is unknown, so a renamed or re-created repository cannot be told apart "
            "(set `provenance.repository-id` in the policy)"
        )
    elif claims.source_repository_id != want.repository_id:
        out.append(
            f"it was built from repository id `{claims.source_repository_id or '(none)'}`, not `{want.repository_id}` "
            f"(`{want.repository}` was renamed, re-created or transferred)"
        )
    if not want.workflow and not workflow_required:
        pass
    elif not want.workflow:
        out.append("the workflow to expect is unknown (set `provenance.workflow` in the policy)")
    elif claims.workflow_path != want.workflow:
        out.append(
            f"it was built by workflow `{claims.workflow_path or claims.build_config_uri}`, not `{want.workflow}`"
        )
    return out


#: Evidence ranks (issue 23, item 5), weakest first.
RANKS = ("token only", "provenance or trusted publisher", "trusted publisher + provenance", "staged, approved with 2FA")


def release_rank(meta: Mapping[str, Any]) -> int:
    """The evidence a published version carries, as the registry serves it: `dist.attestations` (provenance),
    `_npmUser.trustedPublisher` (published by OIDC trusted publishing). A stage approval is not read (the
    registry's field for it is not known here), so a staged release ranks by its other evidence."""
    dist = meta.get("dist")
    att = dist.get("attestations") if isinstance(dist, dict) else None
    user = meta.get("_npmUser")
    provenance = isinstance(att, dict) and bool(att)
    trusted = isinstance(user, dict) and bool(user.get("trustedPublisher"))
    return 2 if provenance and trusted else 1 if provenance or trusted else 0


def release_commit(
    registry: RegistryClient, env: Mapping[str, str], repository: str, name: str, version: str | None, meta: Any
) -> str | None:
    """The source digest (commit) of `name@version`'s verified provenance, when it was built in this repository
    (by id when the runner gives it); None otherwise. A fault here decides nothing: the provenance gate verifies
    the same document and reports (or fails closed on) it."""
    dist = meta.get("dist") if isinstance(meta, dict) else None
    if not version or not isinstance(dist, dict) or not isinstance(dist.get("attestations"), dict):
        return None
    url = dist["attestations"].get("url")
    try:
        doc = registry.attestations(name, version, url if isinstance(url, str) else None)
        outcome = verify_version(name, version, dist, doc, env) if doc is not None else None
    except GatekeeperError:
        return None
    if outcome is None or outcome.evidence is None:
        return None
    claims = outcome.evidence.claims
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    repo_id = env.get("GITHUB_REPOSITORY_ID", "")
    same = claims.source_repository_uri.rstrip("/").lower() == f"{server}/{repository}".lower()
    if not same or (repo_id and claims.source_repository_id != repo_id):
        return None
    return outcome.evidence.commit
