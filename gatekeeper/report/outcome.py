"""The outcome model every reporter renders: what one run decided (gates, decision, publish, notify).

None of it ever holds the token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gatekeeper.decision import Decision, GateResult
from gatekeeper.findings import Finding


@dataclass
class Outcome:
    """Everything a run decided, for the reporters."""

    mode: str
    decision: Decision
    gates: list[GateResult]
    package: dict[str, str] | None = None
    previous: dict[str, object] | None = None
    published: bool = False
    #: `npm publish` was stopped while running (cancelled, or past the deadline): it may have uploaded.
    publish_uncertain: bool = False
    publish: dict[str, object] = field(default_factory=dict)
    extra_markdown: list[str] = field(default_factory=list)
    #: The same sections as plain text, for `--format text` (parallel to extra_markdown).
    extra_text: list[str] = field(default_factory=list)
    error: str | None = None
    #: Only clearable findings block, waiting for the review of `review.environment` (check mode).
    needs_review: bool = False
    #: The release delta (DiffResult.to_json) when the diff gate computed one.
    delta: dict[str, object] | None = None
    #: What `npm install` of the release does (the `dynamic` gate's Observed.to_json), when it observed it.
    install_behaviour: dict[str, object] | None = None
    #: After a publish: the notify step's result (NotifyResult.to_json), and whether it all worked.
    notify: dict[str, object] | None = None
    notified: bool = False
    #: Watch mode: the versions the gate did not publish (`name@version`).
    unexpected: list[str] = field(default_factory=list)
    #: A release of several packages (input `packages`): the plan (steps/plan.py ReleasePlan.to_json) and each
    #: planned package's verdict in plan order (name, version, folder, state, decision, integrity...).
    plan: dict[str, object] | None = None
    packages: list[dict[str, object]] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for g in self.gates for f in g.findings]
