"""The detection corpus: real release pairs (packed from the npm registry, cached) + incident reconstructions.

    python bench/corpus.py [--fetch] [--json]

Real pairs are listed in bench/corpus_pairs.txt (those committed under tests/fixtures/tarballs are
read from there) and the others packed once with `npm pack` into
`${GATEKEEPER_CACHE:-.cache}/corpus/` (`--fetch` downloads what is missing; without it, missing
pairs are skipped and counted). The reconstructions of the 2025-26 incidents are built by
`tests/_support/incidents.py` on top of real tarballs. Prints: real benign pairs allowed, true
install-time changes blocked, noisy blocks, attacks blocked, and the median time per diff.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAIRS_FILE = ROOT / "bench" / "corpus_pairs.txt"
FIXTURES = ROOT / "tests" / "fixtures" / "tarballs"  # committed real pairs (always available)


def cache_dir() -> Path:
    base = Path(os.environ.get("GATEKEEPER_CACHE") or ROOT / ".cache")
    return base / "corpus"


@dataclass(frozen=True)
class Pair:
    name: str
    old: str
    new: str
    expected: str  # allow | block

    def file(self, version: str) -> Path:
        base = f"{self.name.lstrip('@').replace('/', '-')}-{version}.tgz"
        committed = FIXTURES / base
        return committed if committed.is_file() else cache_dir() / base

    @property
    def cached(self) -> bool:
        return self.file(self.old).is_file() and self.file(self.new).is_file()


def pairs() -> list[Pair]:
    out = []
    for line in PAIRS_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, old, new, expected = line.split()[:4]
            out.append(Pair(name, old, new, expected))
    return out


def fetch(pair: Pair) -> bool:
    """`npm pack` both versions into the cache (no install, no scripts)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    for version in (pair.old, pair.new):
        if pair.file(version).is_file():
            continue
        res = subprocess.run(
            ["npm", "pack", f"{pair.name}@{version}", "--ignore-scripts", "--pack-destination", str(cache_dir())],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if res.returncode != 0:
            print(f"could not pack {pair.name}@{version}: {res.stderr.strip()[-300:]}", file=sys.stderr)
            return False
    return True


@dataclass
class Figures:
    allowed: int = 0
    true_blocks: int = 0
    noisy: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    attacks: int = 0
    attacks_blocked: int = 0
    skipped: int = 0
    times: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "real_pairs_allowed": self.allowed,
            "true_blocks": self.true_blocks,
            "noisy_blocks": self.noisy,
            "missed_true_changes": self.missed,
            "attacks": self.attacks,
            "attacks_blocked": self.attacks_blocked,
            "skipped_uncached": self.skipped,
            "median_ms_per_diff": round(statistics.median(self.times) * 1000, 1) if self.times else None,
        }


def run(fetch_missing: bool = False) -> tuple[Figures, list[str]]:
    from gatekeeper._internal.tarball import read_package
    from gatekeeper.diffing import diff_packages
    from gatekeeper.trust.policy import Policy
    from tests._support import incidents

    figures = Figures()
    lines: list[str] = []
    policy = Policy()
    for pair in pairs():
        if not pair.cached and not (fetch_missing and fetch(pair)):
            figures.skipped += 1
            continue
        start = time.perf_counter()
        old = read_package(pair.file(pair.old), policy.diff.limits, label=f"{pair.name}@{pair.old}")
        new = read_package(pair.file(pair.new), policy.diff.limits, label=f"{pair.name}@{pair.new}")
        result = diff_packages(old, new, policy)
        figures.times.append(time.perf_counter() - start)
        blocks = [f for f in result.findings if f.blocks]
        label = f"{pair.name} {pair.old} -> {pair.new}"
        if not blocks:
            if pair.expected == "allow":
                figures.allowed += 1
            else:
                figures.missed.append(label)
        elif pair.expected == "block":
            figures.true_blocks += 1
        else:
            figures.noisy.append(f"{label}: " + "; ".join(f"{f.rule}: {f.message[:160]}" for f in blocks))
        lines.append(f"{'BLOCK' if blocks else 'allow'} {label} ({pair.expected})")
    for case in incidents.all_cases():
        figures.attacks += 1
        start = time.perf_counter()
        result = case.diff()
        figures.times.append(time.perf_counter() - start)
        ok = case.blocked(result)
        figures.attacks_blocked += ok
        lines.append(f"{'BLOCK' if ok else 'MISS '} attack {case.name}")
    return figures, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fetch", action="store_true", help="npm pack the pairs missing from the cache")
    parser.add_argument("--fetch-only", action="store_true", help="only fill the cache")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.fetch_only:
        ok = [fetch(p) for p in pairs()]
        print(f"{sum(ok)}/{len(ok)} pairs cached in {cache_dir()}")
        return 0
    figures, lines = run(args.fetch)
    if args.json:
        print(json.dumps(figures.to_json(), indent=2))
    else:
        print("\n".join(lines))
        print(json.dumps(figures.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    from _host import private_npm_logs  # bench/ is sys.path[0] when run as a script

    private_npm_logs()
    sys.exit(main())
