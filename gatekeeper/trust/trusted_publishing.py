"""OIDC trusted publishing, done by the gate: which credential publishes, the ID token's claims, the exchange.

- `choose(ctx)`: `oidc` or `token` from `credential.mode` (auto: OIDC when the job may request an ID token
  and no npm token is given), with the names of the npm tokens present.
- `check(ctx)` (called by the credential gate): request this job's ID token (audience
  `npm:<registry host>`), mask it, and check its claims against this run and the policy — before
  any exchange. Findings only; nothing is exchanged here.
- `exchange(ctx)` (called by the publish step, after every gate allowed): a fresh ID token, the same
  claim checks, then `POST /-/npm/v1/oidc/token/exchange/package/<name>` for the short-lived token of
  this one publish, masked at once. A refusal returns the blocking finding with the registry's status
  and message and what to check on npmjs.com.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal, TextIO

from gatekeeper._internal import actions, oidc
from gatekeeper.context import Context
from gatekeeper.errors import ConfigError
from gatekeeper.findings import Finding
from gatekeeper.rules.credential import (
    OIDC_CLAIM_MISMATCH,
    OIDC_EXCHANGE_FAILED,
    OIDC_PREFLIGHT_FAILED,
    OIDC_TOKEN_PRESENT,
    OIDC_TRUSTED_PUBLISHING,
    OIDC_UNAVAILABLE,
)
from gatekeeper.secret import Secret

TOKEN_ENV_VARS = ("NODE_AUTH_TOKEN", "NPM_TOKEN")
#: npm's trusted publishing needs npm >= 11.5.1 on Node >= 22.14 (docs.npmjs.com/trusted-publishers); the
#: Dockerfile's versions are kept at or above these by tests/test_oidc_preflight.py.
MIN_NPM = (11, 5, 1)
MIN_NODE = (22, 14, 0)
#: The dummy NODE_AUTH_TOKEN of actions/setup-node's `registry-url` (older releases export it unasked).
PLACEHOLDER_TOKEN = re.compile(r"^X{5}(?:-X{5}){3,4}$", re.IGNORECASE)
NPM_CONFIG_AUTH = re.compile(r"^npm_config_.*(?:_authtoken|_auth|_password)$", re.IGNORECASE)
NPM_TOKEN_FORMAT = re.compile(r"^npm_[A-Za-z0-9]{36}$")
UUID_FORMAT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


@dataclass(frozen=True)
class Choice:
    """Which credential publishes: `oidc` or `token`, and the npm tokens present (by variable name)."""

    kind: Literal["oidc", "token"]
    mode: str
    tokens: tuple[str, ...]
    oidc_available: bool


@dataclass
class ClaimCheck:
    """The outcome of checking an ID token's claims: blocking findings, and the claims that matched."""

    findings: list[Finding] = field(default_factory=list)
    matched: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.blocks for f in self.findings)


@dataclass(frozen=True)
class Exchanged:
    """A publish token from the exchange (masked), with the claims that matched; or the blocking finding."""

    token: Secret | None
    matched: dict[str, str]
    finding: Finding | None = None


def token_sources(ctx: Context) -> tuple[str, ...]:
    """Names of the npm tokens present: the `npm-token` input, NODE_AUTH_TOKEN, NPM_TOKEN, npm_config_*auth."""
    found: list[str] = []
    if ctx.env.get("INPUT_NPM-TOKEN", "").strip():
        found.append("input `npm-token`")
    for name in TOKEN_ENV_VARS:
        if ctx.env.get(name, "").strip():
            found.append(name)
    for key, value in ctx.env.items():
        if NPM_CONFIG_AUTH.match(key) and value.strip():
            found.append(key)
    if ctx.inputs.npm_token and not found:
        found.append("`--npm-token`")
    return tuple(found)


def choose(ctx: Context) -> Choice:
    """The credential this run publishes with, from `credential.mode`."""
    mode = ctx.policy.credential.mode
    tokens = token_sources(ctx)
    can = oidc.available(ctx.env)
    if mode == "oidc":
        kind: Literal["oidc", "token"] = "oidc"
    elif mode == "token":
        kind = "token"
    else:
        kind = "oidc" if can and ctx.inputs.npm_token is None else "token"
    return Choice(kind, mode, tokens, can)


def token_kind(token: Secret) -> str:
    """A human name for the token's format (never its value)."""
    value = token.reveal()
    if NPM_TOKEN_FORMAT.match(value):
        return "npm access token (`npm_…`, granular or legacy automation)"
    if UUID_FORMAT.match(value):
        return "legacy npm token (UUID format)"
    return "registry-specific token"


def placeholder_tokens(ctx: Context) -> list[Finding]:
    """A placeholder npm token (setup-node's `registry-url` dummy) where a credential is read: it would win over
    OIDC and fail later as a bare ENEEDAUTH/E401. One finding naming each variable; [] when there is none."""
    names = [
        name for name in ("INPUT_NPM-TOKEN", *TOKEN_ENV_VARS) if PLACEHOLDER_TOKEN.match(ctx.env.get(name, "").strip())
    ]
    if not names:
        return []
    shown = ", ".join("input `npm-token`" if n == "INPUT_NPM-TOKEN" else n for n in names)
    return [
        OIDC_PREFLIGHT_FAILED(
            f"{shown} holds a placeholder (`XXXXX-XXXXX-…`, what actions/setup-node's `registry-url` writes), not a "
            "token: it would be used instead of OIDC trusted publishing and be refused. Remove `registry-url` and "
            "NODE_AUTH_TOKEN from the publishing job (with OIDC, no token at all).",
            variables=names,
        )
    ]


def _version(text: str | None) -> tuple[int, ...] | None:
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)", text or "")
    return tuple(int(x) for x in m.groups()) if m else None


def preflight(ctx: Context) -> list[Finding]:
    """Before any ID token or exchange: the npm and Node this gate runs are new enough for trusted publishing."""
    from gatekeeper._internal import npm as npm_cli

    found = npm_cli.tool_versions()
    problems = []
    for tool, minimum in (("npm", MIN_NPM), ("node", MIN_NODE)):
        version = _version(found.get(tool))
        if version is None or version < minimum:
            want = ".".join(map(str, minimum))
            problems.append(f"{tool} {found.get(tool) or '(not found)'} (needs >= {want})")
    if not problems:
        return []
    return [
        OIDC_PREFLIGHT_FAILED(
            "OIDC trusted publishing needs npm >= 11.5.1 and Node >= 22.14; this gate runs "
            + " and ".join(problems)
            + ". Use a released npm-gatekeeper (its image ships both), or publish with a token (`credential.mode: "
            "token`).",
            versions={k: v for k, v in found.items()},
        )
    ]


def caller_workflow(ctx: Context, claims: Mapping[str, Any]) -> list[Finding]:
    """The job must be a job of the workflow file itself: npm's trusted publisher names the caller workflow."""
    job_ref = claims.get("job_workflow_ref")
    caller = claims.get("workflow_ref")
    if not isinstance(job_ref, str) or not job_ref or not isinstance(caller, str):
        return []
    if job_ref.split("@", 1)[0] == caller.split("@", 1)[0]:
        return []
    return [
        OIDC_PREFLIGHT_FAILED(
            f"This job runs in the reusable workflow `{job_ref}`, called by `{caller}`. npm's trusted publisher "
            f"matches the caller (`{_workflow_file(caller, ctx.run.repository) or caller}`), and the gate must run "
            "in a job of that file itself (its publishing job is checked there): move the gate's job into the "
            "calling workflow.",
            job_workflow_ref=job_ref,
            workflow_ref=caller,
        )
    ]


def check(ctx: Context, out: TextIO | None = None) -> list[Finding]:
    """The credential gate's OIDC part: mode rules, the preflight, then this job's ID token and its claims."""
    choice = choose(ctx)
    findings: list[Finding] = []
    if choice.mode == "oidc" and choice.tokens:
        findings.append(
            OIDC_TOKEN_PRESENT(
                f"`credential.mode: oidc`, but npm tokens are present: {', '.join(choice.tokens)}.",
                sources=list(choice.tokens),
            )
        )
    if not choice.oidc_available:
        findings.append(
            OIDC_UNAVAILABLE(
                "`credential.mode: oidc`, but ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN are not set (no `id-token: write`)."
            )
        )
        return findings
    early = preflight(ctx)
    if early:
        return findings + early  # nothing is requested or exchanged with tools that cannot publish this way
    id_token = _id_token(ctx, out)
    result = check_claims(ctx, id_token.claims)
    findings += result.findings + caller_workflow(ctx, id_token.claims)
    if result.ok and not any(f.blocks for f in findings):
        shown = ", ".join(f"{k} `{v}`" for k, v in result.matched.items())
        findings.append(
            OIDC_TRUSTED_PUBLISHING(
                f"OIDC trusted publishing: the ID token's claims match ({shown}); it is exchanged only after every "
                "gate allowed.",
                claims=dict(result.matched),
            )
        )
    return findings


def _id_token(ctx: Context, out: TextIO | None) -> oidc.IdToken:
    id_token = oidc.request_id_token(
        ctx.env,
        oidc.audience_for(ctx.inputs.registry),
        deadline=ctx.deadline,
        route=getattr(ctx.registry, "route", None),
    )
    if actions.in_actions(ctx.env):
        actions.add_mask(id_token.jwt.reveal(), out=out)
    return id_token


def review_environment(ctx: Context) -> str:
    """The reviewed-release environment the policy names (`review.environment`), or ''."""
    return ctx.policy.review.environment.strip()


def _workflow_file(workflow_ref: str, repository: str) -> str | None:
    """`o/r/.github/workflows/release.yml@refs/heads/main` -> `release.yml` (None: not this repository's)."""
    path = workflow_ref.split("@", 1)[0]
    prefix = f"{repository}/.github/workflows/"
    if not path.startswith(prefix) or "/" in path[len(prefix) :]:
        return None
    return path[len(prefix) :]


def check_claims(ctx: Context, claims: Mapping[str, Any], default_branch: str | None = None) -> ClaimCheck:
    """Compare the ID token's claims with this run and the policy; each mismatch is a blocking finding."""
    result = ClaimCheck()
    policy = ctx.policy

    def claim(name: str) -> str:
        value = claims.get(name)
        return value if isinstance(value, str) else ""

    def mismatch(name: str, got: str, want: str) -> None:
        result.findings.append(
            OIDC_CLAIM_MISMATCH(
                f"The ID token's `{name}` is `{got or '(missing)'}`; expected {want}.",
                claim=name,
                actual=got,
                expected=want,
            )
        )

    issuer = oidc.expected_issuer(ctx.env)
    if claim("iss") != issuer:
        mismatch("iss", claim("iss"), f"`{issuer}`")
    audience = oidc.audience_for(ctx.inputs.registry)
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        mismatch("aud", str(aud) if aud is not None else "", f"`{audience}`")
    for problem in oidc.time_problems(claims):
        result.findings.append(OIDC_CLAIM_MISMATCH(f"The ID token is not valid now: {problem}.", claim="exp"))

    repository = ctx.run.repository
    if claim("repository") != repository or not repository:
        mismatch("repository", claim("repository"), f"this repository `{repository}`")
    else:
        result.matched["repository"] = repository

    ref = claim("ref")
    if default_branch is None:
        if ctx.github is None:
            raise ConfigError(
                "No GitHub token is available to read the default branch for the OIDC `ref` check",
                "Pass `github-token` (default: github.token)",
            )
        default_branch = ctx.github.default_branch()
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    allowed = [default_branch, *policy.branch.release_branches]
    if branch is None or not (branch == default_branch or any(fnmatchcase(branch, p) for p in allowed[1:])):
        want = f"the default branch `refs/heads/{default_branch}`"
        if policy.branch.release_branches:
            want += " or a release branch (" + ", ".join(f"`{p}`" for p in policy.branch.release_branches) + ")"
        mismatch("ref", ref, want)
    else:
        result.matched["ref"] = ref

    sha = claim("sha")
    if ctx.run.sha and sha and sha != ctx.run.sha:
        mismatch("sha", sha, f"this run's commit `{ctx.run.sha}`")

    workflow_ref = claim("workflow_ref")
    wanted = policy.credential.oidc_workflow.strip().removeprefix(".github/workflows/")
    file = _workflow_file(workflow_ref, repository)
    if file is None:
        mismatch("workflow_ref", workflow_ref, f"a workflow of `{repository}` under `.github/workflows/`")
    elif wanted and file != wanted:
        mismatch("workflow_ref", workflow_ref, f"the release workflow `{wanted}` (`credential.oidc-workflow`)")
    else:
        result.matched["workflow"] = file

    environment = review_environment(ctx)
    if environment:
        if claim("environment") != environment:
            mismatch("environment", claim("environment"), f"the reviewed-release environment `{environment}`")
        else:
            result.matched["environment"] = environment
    elif claim("environment"):
        result.matched["environment"] = claim("environment")

    runner = policy.credential.runner_environment
    if runner != "any":
        if claim("runner_environment") != runner:
            mismatch("runner_environment", claim("runner_environment"), f"`{runner}` (`credential.runner-environment`)")
        else:
            result.matched["runner_environment"] = runner
    return result


def exchange(ctx: Context, out: TextIO | None = None) -> Exchanged:
    """A fresh ID token, the same claim checks, then the registry's exchange for this one publish's token."""
    assert ctx.package is not None
    id_token = _id_token(ctx, out)
    result = check_claims(ctx, id_token.claims)
    if not result.ok:
        return Exchanged(None, result.matched, result.findings[0])
    caller = caller_workflow(ctx, id_token.claims)
    if caller:
        return Exchanged(None, result.matched, caller[0])
    answer = ctx.registry.oidc_exchange(ctx.package.name, id_token.jwt)
    if answer.token is None:
        claims = id_token.claims
        seen = ", ".join(
            f"{k} `{v}`"
            for k, v in (
                ("repository", claims.get("repository")),
                ("workflow", _workflow_file(str(claims.get("workflow_ref", "")), ctx.run.repository)),
                ("environment", claims.get("environment") or "(none)"),
            )
        )
        return Exchanged(
            None,
            result.matched,
            OIDC_EXCHANGE_FAILED(
                f"The registry refused the OIDC token exchange for {ctx.package.name}: HTTP {answer.status}: "
                f"{answer.message}. This job presented {seen}; the package's trusted publisher on npmjs.com must "
                "name exactly these.",
                status=answer.status,
                registry_message=answer.message,
            ),
        )
    if actions.in_actions(ctx.env):
        actions.add_mask(answer.token.reveal(), out=out)
    return Exchanged(answer.token, result.matched)
