"""Reviewed two-job releases: an approval the released commit cannot write (a protected environment).

Between the gates and the decision. Blocking findings of the *clearable* kind — the diff gate's
content rules and `policy-changed`, never a safety floor — are cleared in publish mode when all hold:

(a) the policy that decides (the trusted one) names the environment: `review.environment`;
(b) `GET /actions/runs/{run_id}/approvals` shows an `approved` review of that environment in this run
    (and no rejection), by someone other than the pusher when `review.require-other-reviewer: true`;
(c) the tarball about to be published has exactly the `approved-integrity` input.

Each cleared finding becomes `approved-by-review` (info) naming the reviewer. In check mode, when the
policy names a review environment and the only blocking findings are clearable, the run exits 0
with `needs-review: true` (decision `review`) so the publish job can start and wait for its reviewers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gatekeeper.context import Context
from gatekeeper.decision import GateResult, gate_status
from gatekeeper.findings import Finding, Severity
from gatekeeper.rules.review import APPROVED_BY_REVIEW, REVIEW_NOT_VALID
from gatekeeper.trust import floors

#: Gates whose non-floor findings a review may clear.
CLEARABLE_GATES = frozenset({"diff", "policy"})
#: Blocking rules of other gates that a reviewed release may also clear (a deliberate change of how releases
#: are published: `trust-downgrade`, issue 23).
CLEARABLE_RULES = frozenset({"trust-downgrade"})


@dataclass(frozen=True)
class ReviewOutcome:
    """What the review step did: the (possibly rewritten) results and whether a review is awaited."""

    results: list[GateResult]
    needs_review: bool = False


def clearable(gate: str, f: Finding) -> bool:
    """May an approved review clear this blocking finding?"""
    return f.blocks and (gate in CLEARABLE_GATES or f.rule in CLEARABLE_RULES) and not floors.is_floor(f.rule)


def pushers(ctx: Context) -> set[str]:
    """Who pushed / triggered the released commit (lower-case logins)."""
    who = {ctx.env.get("GITHUB_ACTOR", ""), ctx.env.get("GITHUB_TRIGGERING_ACTOR", "")}
    ev = ctx.run.event
    pusher = ev.get("pusher") if isinstance(ev.get("pusher"), dict) else {}
    sender = ev.get("sender") if isinstance(ev.get("sender"), dict) else {}
    who |= {str(pusher.get("name") or ""), str(sender.get("login") or "")}
    return {w.lower() for w in who if w}


def apply(ctx: Context, results: list[GateResult]) -> ReviewOutcome:
    """Clear clearable findings on a valid review (publish), or mark the check job as waiting for one."""
    env = ctx.policy.review.environment
    if ctx.inputs.mode == "check" and env:
        results = _without_credential(results)
    pending = [(r.name, f) for r in results for f in r.findings if f.blocks]
    if not pending or any(r.status == "error" for r in results):
        return ReviewOutcome(results)
    only_clearable = all(clearable(g, f) for g, f in pending)
    if ctx.inputs.mode == "check":
        return ReviewOutcome(results, needs_review=bool(env) and only_clearable)
    if not env and not ctx.inputs.approved_integrity:
        return ReviewOutcome(results)
    reviewer, why = _valid_review(ctx)
    if reviewer is None:
        if any(clearable(g, f) for g, f in pending):
            note = GateResult("review", "pass", [REVIEW_NOT_VALID(f"Not cleared by a review: {why}.")])
            return ReviewOutcome([*results, note])
        return ReviewOutcome(results)
    out: list[GateResult] = []
    for r in results:
        findings = [
            APPROVED_BY_REVIEW(
                f"`{f.rule}` cleared by {reviewer}'s approval of environment `{env}` for "
                f"{ctx.inputs.approved_integrity[:19]}…: {f.message}",
                file=f.file,
                line=f.line,
                cleared=f.rule,
                reviewer=reviewer,
                environment=env,
            )
            if clearable(r.name, f)
            else f
            for f in r.findings
        ]
        out.append(
            GateResult(r.name, gate_status(findings) if r.status in ("pass", "fail") else r.status, findings, r.error)
        )
    return ReviewOutcome(out)


def _without_credential(results: list[GateResult]) -> list[GateResult]:
    """The check job of a reviewed release holds no npm credential: the publish job's environment does."""
    out = []
    for r in results:
        if r.name != "credential" or r.status not in ("pass", "fail"):
            out.append(r)
            continue
        findings = [
            replace(
                f,
                severity=Severity.WARN,
                message=f.message + " (check job of a reviewed release: the publish job's environment holds the "
                "credential and checks it)",
            )
            if f.rule == "credential-missing"
            else f
            for f in r.findings
        ]
        out.append(GateResult(r.name, gate_status(findings), findings, r.error))
    return out


def _valid_review(ctx: Context) -> tuple[str | None, str]:
    """(reviewer login, "") when (a), (b) and (c) hold, else (None, why not)."""
    env = ctx.policy.review.environment
    if not env:
        return None, "the policy that decided names no `review.environment`"
    if not ctx.inputs.approved_integrity:
        return None, "the `approved-integrity` input is empty"
    assert ctx.tarball is not None
    if ctx.inputs.approved_integrity != ctx.tarball.integrity:
        return None, (
            f"the tarball's integrity {ctx.tarball.integrity[:19]}… is not the approved one "
            f"{ctx.inputs.approved_integrity[:19]}…"
        )
    if ctx.github is None or ctx.run.run_id is None:
        return None, "no GitHub token or run id to read this run's deployment reviews"
    reviews = [r for r in ctx.github.run_approvals(ctx.run.run_id) if env in r.environments]
    if any(r.state == "rejected" for r in reviews):
        return None, f"the deployment to `{env}` was rejected in this run"
    approved = [r for r in reviews if r.state == "approved" and r.login]
    if not approved:
        return None, f"no approved review of environment `{env}` in run {ctx.run.run_id}"
    if ctx.policy.review.require_other_reviewer:
        who = pushers(ctx)
        approved = [r for r in approved if r.login.lower() not in who]
        if not approved:
            return None, (
                f"`review.require-other-reviewer` is on and the only approval of `{env}` is by the pusher "
                f"({', '.join(sorted(who))})"
            )
    return approved[0].login, ""
