"""A rule: a finding's stable id, default severity, title and fix, and whether it is a safety floor."""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.findings import Finding, Severity


@dataclass(frozen=True)
class Rule:
    """A stable rule id with its default severity and remedy; calling it makes a `Finding`.

    `floor`: the policy's `rules:` can never set it below its default (`trust/floors.py`); `knob` names the
    narrow policy key that exists instead, when there is one.
    """

    id: str
    severity: Severity
    title: str
    fix: str
    floor: bool = False
    knob: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))

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
