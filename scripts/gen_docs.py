"""Regenerate the README's rule reference from the rule registry.

python scripts/gen_docs.py          # rewrite README.md in place
python scripts/gen_docs.py --check  # exit 1 if README.md is stale (the tests run this)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper.rules import all_rules  # noqa: E402
from gatekeeper.trust.floors import is_floor  # noqa: E402

BEGIN, END = "<!-- rules:begin -->", "<!-- rules:end -->"


def render() -> str:
    rows = ["| Rule id | Default | What it means | How to fix |", "| --- | --- | --- | --- |"]
    for rid, r in sorted(all_rules().items()):
        fix = r.fix.replace("|", "\\|")
        default = f"{r.severity.value} (floor)" if is_floor(rid) else r.severity.value
        rows.append(f"| `{rid}` | {default} | {r.title} | {fix} |")
    return "\n".join(rows)


def updated(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


def main() -> int:
    path = ROOT / "README.md"
    text = path.read_text("utf-8")
    new = updated(text)
    if "--check" in sys.argv:
        if new != text:
            print("README.md rule reference is stale: run python scripts/gen_docs.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(new, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
