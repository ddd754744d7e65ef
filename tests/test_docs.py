"""The README documents every rule id (generated section is fresh)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gatekeeper.rules import all_rules

ROOT = Path(__file__).resolve().parent.parent


def test_rule_reference_is_fresh() -> None:
    res = subprocess.run([sys.executable, "scripts/gen_docs.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_every_rule_documented_with_a_fix() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    rules = all_rules()
    assert len(rules) >= 20
    for rid, r in rules.items():
        assert f"`{rid}`" in readme
        assert len(r.fix) > 20, rid


def test_readme_release_workflow_is_the_linted_example() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    example = (ROOT / "examples" / "release.yml").read_text("utf-8")
    assert f"```yaml\n{example}```" in readme
