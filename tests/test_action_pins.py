"""Every pinned action SHA in the repository agrees with the one table, tests/_support/action_pins.py (issue 21).

A SHA written from memory would pin a commit that is not the version its comment names (or no commit at all):
an example copied into a workflow would then run unknown code, or fail. The table was checked upstream; this
test keeps every file in step with it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests._support.action_pins import PINS, PLACEHOLDER

ROOT = Path(__file__).resolve().parent.parent
#: `owner/repo[/path]@<40 hex>`, then optionally `# v1.2.3` (a comment naming the version) on the same line.
PIN = re.compile(
    r"(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?P<path>/[A-Za-z0-9_./-]+)?@(?P<sha>[0-9a-f]{40})\b"
    r"(?:[^\n#]*#\s*(?P<version>v\d+(?:\.\d+)*))?"
)


def pins_in(text: str) -> list[tuple[int, str, str, str | None]]:
    """(line, owner/repo, sha, commented version) of every pin in `text`."""
    found = []
    for m in PIN.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        found.append((line, m["repo"].lower(), m["sha"], m["version"]))
    return found


def problems(rel: str, text: str) -> list[str]:
    """What in `text` disagrees with the table."""
    by_sha = {sha: (repo, version) for (repo, version), sha in PINS.items()}
    out = []
    for line, repo, sha, version in pins_in(text):
        if sha == PLACEHOLDER:
            continue
        known = by_sha.get(sha)
        if known is None or known[0] != repo:
            out.append(f"{rel}:{line}: {repo}@{sha} is not in tests/_support/action_pins.py")
            continue
        real = known[1]
        if version is not None and not (real == version or real.startswith(version + ".")):
            out.append(f"{rel}:{line}: {repo}@{sha} is {real}, but the comment says {version}")
    return out


def tracked_text_files() -> list[Path]:
    names = (
        subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True)
        .stdout.decode()
        .split("\0")
    )
    return [ROOT / n for n in names if n and (ROOT / n).is_file() and not n.endswith((".tgz", ".png", ".gz"))]


def test_every_pin_in_the_repository_is_in_the_table() -> None:
    seen = 0
    bad: list[str] = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if path.name == "action_pins.py":
            continue
        seen += len([p for p in pins_in(text) if p[2] != PLACEHOLDER])
        bad += problems(str(path.relative_to(ROOT)), text)
    assert not bad, "\n".join(bad)
    assert seen >= 40  # the examples, docs, README and tests pin about 50 actions: the scan did read them


def test_the_examples_pin_checkout_download_and_upload_from_the_table() -> None:
    """The actions the isolated publish job and the two-job release use are all in the table."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / "examples").rglob("*.yml")))
    repos = {repo for _, repo, sha, _ in pins_in(text) if sha != PLACEHOLDER}
    assert {"actions/checkout", "actions/download-artifact", "actions/upload-artifact"} <= repos


def test_a_wrong_pin_or_comment_is_reported() -> None:
    """The check itself can fail: a SHA not in the table, another repo's SHA, a comment naming another version."""
    checkout = PINS[("actions/checkout", "v5.0.0")]
    node = PINS[("actions/setup-node", "v5.0.0")]
    text = (
        f"      - uses: actions/checkout@{checkout} # v5.0.0\n"  # right
        f"      - uses: actions/checkout@{checkout} # v5\n"  # right (the major)
        f"      - uses: actions/download-artifact@{'1' * 40} # v5.0.0\n"  # unknown SHA
        f"      - uses: actions/checkout@{node} # v5.0.0\n"  # another action's commit
        f"      - uses: actions/setup-node@{node} # v4.4.0\n"  # not that version
        f"      - uses: actions/setup-node@{node} # v5.0\n"  # a prefix of v5.0.0: right
        f"      - uses: actions/setup-node@{node} # v5.0.01\n"  # not a prefix at a dot
    )
    found = problems("x.yml", text)
    assert [f.split(":")[1] for f in found] == ["3", "4", "5", "7"], found
