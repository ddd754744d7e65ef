"""The JSON report (`report.json`, `--format json`): the outcome as one document."""

from __future__ import annotations

import json
from pathlib import Path

from gatekeeper.report.outcome import Outcome


def to_json(outcome: Outcome) -> dict[str, object]:
    """The report shape: decision, package, previous, gates, findings (+ published, error)."""
    return {
        "decision": outcome.decision.label,
        "exit_code": outcome.decision.exit_code,
        "mode": outcome.mode,
        "package": outcome.package,
        "previous": outcome.previous,
        "gates": {g.name: g.status for g in outcome.gates},
        "findings": [dict(f.to_json(), gate=g.name) for g in outcome.gates for f in g.findings],
        "published": "unknown" if outcome.publish_uncertain else outcome.published,
        "publish": outcome.publish,
        "error": outcome.error,
        "needs_review": outcome.needs_review,
        "notified": outcome.notified,
        "notify": outcome.notify,
        "delta": outcome.delta,
        "install_behaviour": outcome.install_behaviour,
        "unexpected": outcome.unexpected,
        "plan": outcome.plan,
        "packages": outcome.packages,
    }


def write_json(outcome: Outcome, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(outcome), indent=2, sort_keys=False) + "\n", encoding="utf-8")
