"""Rule registry: every finding's stable id, default severity and how to fix it.

Each gate module declares its rules with `rule(...)`; `all_rules()` imports the
gates so the registry is complete (the README and policy validation use it).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from gatekeeper.findings import Finding, Severity

_REGISTRY: dict[str, Rule] = {}

#: Modules that declare rules; imported by `all_rules()`.
RULE_MODULES = (
    "gatekeeper.gates.policy",
    "gatekeeper.gates.branch",
    "gatekeeper.gates.commit",
    "gatekeeper.gates.green_build",
    "gatekeeper.gates.credential",
    "gatekeeper.gates.diff",
    "gatekeeper.trust.trusted_publishing",
    "gatekeeper.gates.provenance",
    "gatekeeper.modes.publish",
    "gatekeeper.trust.review",
    "gatekeeper.diffing.lockfile",
    "gatekeeper.modes.pull_request",
    "gatekeeper.modes.watch",
)


@dataclass(frozen=True)
class Rule:
    """A stable rule id with its default severity and remedy."""

    id: str
    severity: Severity
    title: str
    fix: str

    def __call__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        severity: Severity | None = None,
        **evidence: object,
    ) -> Finding:
        return Finding(
            rule=self.id,
            severity=severity or self.severity,
            message=message,
            file=file,
            line=line,
            evidence=dict(evidence),
        )


def rule(rule_id: str, severity: Severity | str, title: str, fix: str) -> Rule:
    """Declare (register) a rule; ids are unique across the product."""
    if rule_id in _REGISTRY:
        raise ValueError(f"duplicate rule id {rule_id!r}")
    r = Rule(rule_id, Severity(severity), title, fix)
    _REGISTRY[rule_id] = r
    return r


def all_rules() -> dict[str, Rule]:
    """Every registered rule, by id."""
    for name in RULE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a module not written yet
            if exc.name != name:
                raise
    return dict(_REGISTRY)


def declared() -> dict[str, Rule]:
    """The rules declared so far, without importing every gate (reporters of a finding: its rule is loaded)."""
    return dict(_REGISTRY)
