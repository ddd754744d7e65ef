"""Safety floors: rules that `rules:` in the policy can never set below their default severity.

The floors are every rule of the branch, green-build and credential gates (OIDC included), plus the rules that
guard the bytes themselves (`tarball-unsafe`, the baseline's integrity and signature, the version) and
`publish-config-unsafe` (a package's `publishConfig` steering where `npm publish` sends the upload and token).
A policy that tries to lower one fails validation (exit 2) naming the narrow knob that exists
instead (e.g. `branch.release-branches`, `checks.ignore`): a knob says *what* is allowed, a
severity override would switch the whole gate off.
"""

from __future__ import annotations

import importlib
from functools import cache

from gatekeeper.findings import Severity
from gatekeeper.rules import Rule

#: Every rule these modules declare is a floor.
FLOOR_MODULES = (
    "gatekeeper.gates.branch",
    "gatekeeper.gates.commit",
    "gatekeeper.gates.green_build",
    "gatekeeper.gates.credential",
    "gatekeeper.trust.trusted_publishing",  # the credential gate's OIDC part
)
#: Floors declared elsewhere.
FLOOR_IDS = frozenset(
    {
        "tarball-unsafe",
        "baseline-integrity-mismatch",
        "baseline-signature-invalid",
        "registry-signatures-missing",
        "version-exists",
        "version-not-increasing",
        "publish-rejected",
        "publish-config-unsafe",
    }
)

#: The narrow policy knob (or other remedy) for a floor, by rule id.
KNOBS: dict[str, str] = {
    "not-default-branch": "`branch.release-branches` (the branch patterns that may release)",
    "event-not-allowed": "`branch.events` (the events that may publish)",
    "fork-repository": "`branch.allow-forks: true`",
    "tag-ref": "`branch.events: [push, release]` with releases that target the default branch",
    "check-failed": "`checks.ignore` (the check names that do not gate releases)",
    "check-pending": "`checks.ignore`, or the `wait-for-checks` input",
    "no-checks": "`checks.require-checks: false`",
    "required-check-missing": "`checks.ignore` for checks you add in `checks.required`; ruleset checks are set "
    "in the repository's rulesets",
    "not-a-maintainer": "`credential.require-maintainer: false`",
    "maintainers-unknown": "`credential.unknown-maintainers` (warn | block)",
    "tarball-unsafe": "`diff.limits` (for a known large package)",
    "publish-config-unsafe": "the `registry`, `tag` and `access` inputs (instead of those `publishConfig` keys)",
    "oidc-claim-mismatch": "`credential.oidc-workflow`, `credential.runner-environment`, `branch.release-branches` "
    "or `review.environment` (what the ID token must say)",
    "oidc-token-present": "`credential.mode: auto` (OIDC when no token is given)",
    "oidc-unavailable": "`credential.mode: auto` or `token`",
}
_RANK = {"off": 0, Severity.INFO.value: 1, Severity.WARN.value: 2, Severity.BLOCK.value: 3}


@cache
def floor_rules() -> dict[str, Rule]:
    """The floor rules by id (importing the gate modules that declare them)."""
    from gatekeeper.rules import all_rules

    known = all_rules()
    out: dict[str, Rule] = {}
    for name in FLOOR_MODULES:
        mod = importlib.import_module(name)
        out.update({r.id: r for r in vars(mod).values() if isinstance(r, Rule)})
    out.update({rid: known[rid] for rid in FLOOR_IDS if rid in known})
    return out


def is_floor(rule_id: str) -> bool:
    return rule_id in floor_rules()


def lowers(rule_id: str, severity: str) -> bool:
    """Would `rules: {rule_id: severity}` set a floor below its default?"""
    r = floor_rules().get(rule_id)
    return r is not None and _RANK[severity] < _RANK[r.severity.value]


def knob(rule_id: str) -> str:
    """What to use instead of lowering this floor."""
    return KNOBS.get(rule_id) or "no policy key loosens it; fix the cause (see the rule's fix in the README)"
