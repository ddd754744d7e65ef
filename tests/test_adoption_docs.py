"""The docs say plainly what is released and how to adopt it (issue 20, item 8).

No release of npm-gatekeeper exists: the docs must not name a version the project has not released
(`@v1`, `# v1`, `v1.4.0` for the action), must say so, and must give the "use it from your own fork" path
(fork, tag, the release workflow of docs/RELEASING.md, the image digest it produces)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "examples").rglob("*.yml")),
    ROOT / "integrations" / "semantic-release" / "README.md",
]
#: A version of the action itself: `npm-gatekeeper@v1`, a `uses:` line's `# v1` comment, `v1.4.0`.
UNRELEASED = re.compile(r"npm-gatekeeper@v\d|uses: \S*npm-gatekeeper@\S+\s+#\s*v?\d|\bv?1\.4\.0\b")


def released_tags() -> list[str]:
    out = subprocess.run(["git", "tag", "--list"], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    return out.split()


def test_no_doc_names_a_version_the_project_has_not_released() -> None:
    if released_tags():  # once a release exists, this test is to be replaced by one naming it
        return
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in DOCS
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if UNRELEASED.search(line)
    ]
    assert found == [], "\n".join(found)


def test_the_readme_says_nothing_is_released_and_how_to_adopt_it_from_a_fork() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    from gatekeeper import __version__ as version

    start = readme.index("## What is released, and how to adopt it")
    section = readme[start : readme.index("\n## ", start + 3)]
    assert "Nothing is released yet" in section and f"version {version}" in section
    for step in ("Fork", "tag", ".github/workflows/release-action.yml", "docs/RELEASING.md", "image digest"):
        assert step in section, step
    assert "integrations/semantic-release/README.md#install" in section
    assert readme.index("## What is released") < readme.index("## Usage")
    assert (ROOT / ".github" / "workflows" / "release-action.yml").is_file()
