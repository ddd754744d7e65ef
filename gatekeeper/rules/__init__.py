"""The rule catalogue: every rule id the product reports, declared once, by area.

Gates, the engine, the modes, the reporters and the docs import rules from here (`gatekeeper.rules.diff`
...), never from each other. A new rule goes into the module of its area; `all_rules()` finds it.
"""

from __future__ import annotations

from types import ModuleType

from gatekeeper.rules import (
    branch,
    commit,
    credential,
    diff,
    dynamic,
    green_build,
    isolation,
    policy,
    provenance,
    publish,
    pull_request,
    review,
    watch,
)
from gatekeeper.rules.model import Rule

#: The catalogue's areas, in the order a publish run meets them.
AREAS: tuple[ModuleType, ...] = (
    policy,
    branch,
    commit,
    green_build,
    credential,
    isolation,
    diff,
    dynamic,
    provenance,
    review,
    publish,
    pull_request,
    watch,
)


def all_rules() -> dict[str, Rule]:
    """Every rule, by id (a duplicate id is an error)."""
    out: dict[str, Rule] = {}
    for area in AREAS:
        for value in vars(area).values():
            if isinstance(value, Rule):
                if value.id in out and out[value.id] is not value:
                    raise ValueError(f"duplicate rule id {value.id!r}")
                out[value.id] = value
    return out


__all__ = ["AREAS", "Rule", "all_rules"]
