"""Findings: what a gate reports, with a stable rule id."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    """How a finding weighs on the decision."""

    BLOCK = "block"
    WARN = "warn"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One observation of a gate, tied to a rule id and optionally a file/line."""

    rule: str
    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    evidence: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.value
        if not self.evidence:
            data.pop("evidence")
        return data

    @property
    def blocks(self) -> bool:
        return self.severity is Severity.BLOCK
