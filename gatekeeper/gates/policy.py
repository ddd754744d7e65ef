"""Gate 0 — which policy decides: the trusted policy (the one at the last release's commit).

The resolution itself happens once, before any gate runs (`gatekeeper.trust.trusted_policy.resolve`),
because every gate reads the policy that decides; this gate reports it: `policy-trusted` (which
policy, from which commit), `policy-untrusted` (the last release's commit is not in the checkout),
and `policy-changed` (blocks: the released commit loosens the trusted policy).
"""

from __future__ import annotations

from gatekeeper.context import Context
from gatekeeper.findings import Finding
from gatekeeper.gates import ReportExtras

NAME = "policy"



def check(ctx: Context) -> list[Finding]:
    """The findings of the policy resolution (made before the gates ran)."""
    return list(ctx.trust.findings) if ctx.trust is not None else []


def report_extras(ctx: Context) -> ReportExtras | None:
    if ctx.trust is None or not ctx.trust.diff:
        return None
    return ReportExtras(None, ctx.trust.markdown(), ctx.trust.text())
