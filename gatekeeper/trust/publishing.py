"""The publish step's credential, provenance and staging, after every gate allowed.

- `credential`: under OIDC the short-lived token from `trusted_publishing.exchange` (a refusal makes
  the publish step fail with `oidc-exchange-failed`: nothing is uploaded), else the npm token. What
  published goes into `outcome.publish["credential"]` (never a value).
- `provenance`: `--provenance` or not (`gates.provenance.plan`), recorded in the report.
- `staged`: `publish-with: stage` recorded: the stage id and how to approve or reject it.
"""

from __future__ import annotations

from typing import TextIO

from gatekeeper import report
from gatekeeper.config import PUBLIC_REGISTRY
from gatekeeper.context import Context
from gatekeeper.decision import EXIT_BLOCK, Decision, GateResult
from gatekeeper.gates import provenance as provenance_gate
from gatekeeper.secret import Secret
from gatekeeper.trust import trusted_publishing


def credential(ctx: Context, outcome: report.Outcome, gate: GateResult, out: TextIO | None = None) -> Secret | None:
    """The token this one publish uses; sets gate/decision to a block when the OIDC exchange is refused."""
    choice = trusted_publishing.choose(ctx)
    if choice.kind == "oidc":
        exchanged = trusted_publishing.exchange(ctx, out)
        if exchanged.finding is not None or exchanged.token is None:
            gate.status = "fail"
            if exchanged.finding is not None:
                gate.findings.append(exchanged.finding)
            outcome.decision = Decision(False, EXIT_BLOCK, "the OIDC token exchange was refused")
            return None
        outcome.publish["credential"] = {"type": "oidc", "claims": dict(exchanged.matched)}
        return exchanged.token
    token = ctx.inputs.npm_token
    outcome.publish["credential"] = {
        "type": "token",
        "token_type": trusted_publishing.token_kind(token) if token else "none",
        "source": list(choice.tokens),
    }
    return token


def provenance(ctx: Context, outcome: report.Outcome) -> bool:
    """Whether `--provenance` is passed; recorded with the reason."""
    plan = provenance_gate.plan(ctx)
    outcome.publish["provenance"] = plan.provenance
    outcome.publish["provenance_reason"] = plan.reason
    return plan.provenance


def staged(ctx: Context, outcome: report.Outcome, stage_id: str) -> None:
    """Record a staged release: nothing is public until a maintainer approves it with 2FA."""
    outcome.publish["staged"] = not ctx.inputs.dry_run
    if not stage_id:
        return
    registry = "" if ctx.inputs.registry == PUBLIC_REGISTRY else f" --registry {ctx.inputs.registry}"
    outcome.publish["stage_id"] = stage_id
    outcome.publish["approve"] = f"npm stage approve {stage_id}{registry}"
    outcome.publish["reject"] = f"npm stage reject {stage_id}{registry}"
    if ctx.inputs.registry == PUBLIC_REGISTRY and ctx.package is not None:
        outcome.publish["approve_url"] = f"https://www.npmjs.com/package/{ctx.package.name}"


def oidc_refusal_hint(ctx: Context) -> str:
    """What to check on npmjs.com when the registry refused an upload made with the exchanged OIDC token
    (npm then says only E401/E403/E404/ENEEDAUTH)."""
    workflow = ctx.run.workflow_path or "(the workflow file)"
    environment = trusted_publishing.review_environment(ctx) or "the job's `environment:` (or none)"
    return (
        ". The upload used the short-lived token of the OIDC exchange, and the registry refused it: on npmjs.com, "
        "open the package's settings → Trusted publishing and check the GitHub Actions trusted publisher's "
        f"repository (`{ctx.run.repository}`, exact case), workflow file (`{workflow.rsplit('/', 1)[-1]}`) and "
        f"environment ({environment}); and that the publisher may publish this package"
    )
