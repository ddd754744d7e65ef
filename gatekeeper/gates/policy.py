"""Gate 0 — which policy decides: the trusted policy (the one at the last release's commit).

The resolution itself happens once, before any gate runs (`gatekeeper.trust.trusted_policy.resolve`),
because every gate reads the policy that decides; this gate reports it: `policy-trusted` (which
policy, from which commit), `policy-untrusted` (the last release's commit is not in the checkout),
and `policy-changed` (blocks: the released commit loosens the trusted policy).
"""

from __future__ import annotations

from gatekeeper.context import Context
from gatekeeper.findings import Finding, Severity
from gatekeeper.gates import ReportExtras
from gatekeeper.rules import rule

NAME = "policy"

POLICY_TRUSTED = rule(
    "policy-trusted",
    Severity.INFO,
    "Which policy decided: the one at the last release's commit (or the released commit's, for a first release)",
    "Nothing to do. A loosening in the released commit takes effect from the next release, once reviewed.",
)
POLICY_UNTRUSTED = rule(
    "policy-untrusted",
    Severity.WARN,
    "The last release's commit is not in the checkout: the policy's approvals and lowered severities are not trusted",
    "Check out the history and tags in the release job (`actions/checkout` with `fetch-depth: 0`, or "
    "`fetch-tags: true`), and tag each release `v1.2.3`, `1.2.3` or `name@1.2.3` (or publish with npm, which "
    "records `gitHead`).",
)


def check(ctx: Context) -> list[Finding]:
    """The findings of the policy resolution (made before the gates ran)."""
    return list(ctx.trust.findings) if ctx.trust is not None else []


def report_extras(ctx: Context) -> ReportExtras | None:
    if ctx.trust is None or not ctx.trust.diff:
        return None
    return ReportExtras(None, ctx.trust.markdown(), ctx.trust.text())
