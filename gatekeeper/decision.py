"""The decision step: gate results + policy overrides -> allow / block / error."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from gatekeeper.findings import Finding, Severity
from gatekeeper.trust import floors
from gatekeeper.trust.policy import Policy

EXIT_ALLOW, EXIT_BLOCK, EXIT_ERROR = 0, 1, 2


@dataclass
class GateResult:
    """One gate's outcome: pass | fail | skipped | error."""

    name: str
    status: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    """allow or block, and the exit code (2 when a gate could not decide)."""

    allow: bool
    exit_code: int
    reason: str
    #: Check mode: only clearable findings block, a reviewed publish job may clear them (exit 0).
    pending_review: bool = False

    @property
    def label(self) -> str:
        if self.pending_review:
            return "review"
        return "allow" if self.allow else "block"


def apply_overrides(findings: list[Finding], policy: Policy) -> list[Finding]:
    """Apply `rules:` severity overrides (block | warn | off)."""
    out: list[Finding] = []
    for f in findings:
        override = policy.rules.get(f.rule)
        if override is not None and floors.lowers(f.rule, override):
            override = None  # a floor is never lowered (the policy loader already refuses it)
        if override == "off":
            continue
        if override is not None:
            f = replace(f, severity=Severity(override))
        out.append(f)
    return out


def gate_status(findings: list[Finding]) -> str:
    return "fail" if any(f.blocks for f in findings) else "pass"


def decide(results: list[GateResult]) -> Decision:
    """Any error -> block (exit 2); any blocking finding -> block (exit 1); else allow."""
    errors = [r for r in results if r.status == "error"]
    if errors:
        return Decision(False, EXIT_ERROR, "; ".join(f"{r.name}: {r.error}" for r in errors))
    failed = [r.name for r in results if r.status == "fail"]
    if failed:
        return Decision(False, EXIT_BLOCK, "blocked by " + ", ".join(failed))
    return Decision(True, EXIT_ALLOW, "every gate passed")
