"""Safety floors: rules that `rules:` in the policy can never set below their default severity.

Which rules are floors is part of the catalogue (`Rule.floor`): every rule of the branch, commit,
green-build and credential gates (OIDC included), plus the rules that guard the bytes themselves
(`tarball-unsafe`, the baseline's integrity and signature, the version, the upload) and
`publish-config-unsafe`. A policy that tries to lower one fails validation (exit 2) naming the narrow
knob that exists instead (`Rule.knob`, e.g. `branch.release-branches`, `checks.ignore`): a knob says
*what* is allowed, a severity override would switch the whole gate off.
"""

from __future__ import annotations

from gatekeeper.findings import Severity
from gatekeeper.rules import Rule, all_rules

RANK = {"off": 0, Severity.INFO.value: 1, Severity.WARN.value: 2, Severity.BLOCK.value: 3}


def floor_rules() -> dict[str, Rule]:
    """The floor rules by id."""
    return {rid: r for rid, r in all_rules().items() if r.floor}


def is_floor(rule_id: str) -> bool:
    r = all_rules().get(rule_id)
    return r is not None and r.floor


def lowers(rule_id: str, severity: str) -> bool:
    """Would `rules: {rule_id: severity}` set a floor below its default?"""
    r = all_rules().get(rule_id)
    return r is not None and r.floor and RANK[severity] < RANK[r.severity.value]


def knob(rule_id: str) -> str:
    """What to use instead of lowering this floor."""
    r = all_rules().get(rule_id)
    return (r.knob if r else None) or "no policy key loosens it; fix the cause (see the rule's fix in the README)"
