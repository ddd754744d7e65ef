"""The detection corpus: real release pairs (packed from the npm registry, cached) + incident reconstructions.

    python bench/corpus.py [--fetch] [--json]

Real pairs are listed in bench/corpus_pairs.txt (those committed under tests/fixtures/tarballs are
read from there) and the others packed once with `npm pack` into
`${GATEKEEPER_CACHE:-.cache}/corpus/` (`--fetch` downloads what is missing; without it, missing
pairs are skipped and counted). The reconstructions of the 2025-26 incidents are built by
`tests/_support/incidents.py` on top of real tarballs. Prints: real benign pairs allowed, true
install-time changes blocked, noisy blocks, attacks blocked, and the median time per diff.

A pair whose new release adds dependencies is diffed with the dependency rules too, as at the new
release's publish time: `--fetch` records, beside the tarballs, what the registry says about each added
dependency (`registry/<name>-<version>.json`: the packuments, trimmed to what the rules read) and the
candidate's `time[version]` (or the `asof=` the pairs file gives), and the diff judges "first published
< 30 days ago" at that moment. A minor/major pair adding a dependency with no such record is skipped.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    #: When the new release was published, if the pairs file says (`asof=...`); else the registry's time[new].
    asof: str | None = None

    def file(self, version: str) -> Path:
        base = f"{self.name.lstrip('@').replace('/', '-')}-{version}.tgz"
        committed = FIXTURES / base
        return committed if committed.is_file() else cache_dir() / base

    @property
    def cached(self) -> bool:
        return self.file(self.old).is_file() and self.file(self.new).is_file()

    @property
    def registry_file(self) -> Path:
        return cache_dir() / "registry" / f"{self.name.lstrip('@').replace('/', '-')}-{self.new}.json"


def pairs() -> list[Pair]:
    out = []
    for line in PAIRS_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, old, new, expected, *rest = line.split()
            asof = next((r[5:] for r in rest if r.startswith("asof=")), None)
            out.append(Pair(name, old, new, expected, asof))
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
    if not pair.registry_file.is_file():
        record_registry(pair)  # nothing to record when no dependency is added (the file then marks it done)
    return True


# ------------------------------------------------------------------ the registry's facts, as at the release

#: What the dependency rules read of a packument (the rest is dropped from the record).
_KEEP_VERSION = ("name", "version", "scripts", "hasInstallScript", "gypfile", "maintainers", "deprecated")


def added_dependencies(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """name -> spec of what `new` declares (dependencies, optional, peers) that `old` did not install for sure (an
    optional peer made a dependency counts as added, as in the rule): a superset of what the rules look up."""

    def deps(doc: dict[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in fields:
            d = doc.get(f)
            if isinstance(d, dict):
                out.update({str(k): str(v) for k, v in d.items()})
        return out

    before = deps(old, ("dependencies", "optionalDependencies"))
    after = deps(new, ("dependencies", "optionalDependencies", "peerDependencies"))
    return {n: s for n, s in after.items() if n not in before}


def _installed(doc: dict[str, Any]) -> set[str]:
    """What a consumer's install installs: dependencies, optional ones and the peers not marked optional."""
    out: set[str] = set()
    meta = doc.get("peerDependenciesMeta") if isinstance(doc.get("peerDependenciesMeta"), dict) else {}
    for f in ("dependencies", "optionalDependencies", "peerDependencies"):
        d = doc.get(f)
        for name in d if isinstance(d, dict) else {}:
            entry = meta.get(name) if f == "peerDependencies" else None
            if not (isinstance(entry, dict) and entry.get("optional") is True):
                out.add(str(name))
    return out


def _trim(doc: dict[str, Any]) -> dict[str, Any]:
    versions = doc.get("versions") if isinstance(doc.get("versions"), dict) else {}
    return {
        "name": doc.get("name"),
        "dist-tags": doc.get("dist-tags"),
        "time": doc.get("time"),
        "maintainers": doc.get("maintainers"),
        "versions": {v: {k: d[k] for k in _KEEP_VERSION if k in d} for v, d in versions.items() if isinstance(d, dict)},
    }


def npm_config(key: str) -> str:
    res = subprocess.run(["npm", "config", "get", key], capture_output=True, text=True, check=False)
    value = res.stdout.strip()
    return "" if value in ("null", "undefined") else value


def get_packument(base: str, name: str) -> dict[str, Any] | None:
    """The full packument from npm's configured registry (and CA file), as `npm pack` reaches it; None: 404."""
    import ssl
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    cafile = npm_config("cafile") or None
    context = ssl.create_default_context(cafile=cafile)
    url = base.rstrip("/") + "/" + quote(name, safe="@")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300, context=context) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def record_registry(pair: Pair) -> None:
    """Record what the registry says about the dependencies the new release adds, and when it was published."""
    import tarfile

    def manifest(version: str) -> dict[str, Any]:
        with tarfile.open(pair.file(version)) as tar:
            for member in tar.getmembers():
                if member.name.count("/") == 1 and member.name.endswith("/package.json"):
                    f = tar.extractfile(member)
                    return json.loads(f.read()) if f else {}
        return {}

    base = npm_config("registry") or "https://registry.npmjs.org/"
    added = added_dependencies(manifest(pair.old), manifest(pair.new))
    if not added:
        pair.registry_file.parent.mkdir(parents=True, exist_ok=True)
        pair.registry_file.write_text(json.dumps({"packuments": {}, "published": None}) + "\n")
        return
    targets = set()
    for name, spec in added.items():
        if spec.startswith("npm:"):
            rest = spec[4:]
            at = rest.find("@", 1)
            targets.add(rest if at < 0 else rest[:at])
        else:
            targets.add(name)
    own = get_packument(base, pair.name) or {}
    times = own.get("time") if isinstance(own.get("time"), dict) else {}
    record = {
        "registry": base,
        "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
        "published": times.get(pair.new),
        "packuments": {n: (_trim(d) if (d := get_packument(base, n)) else None) for n in sorted(targets)},
    }
    pair.registry_file.parent.mkdir(parents=True, exist_ok=True)
    pair.registry_file.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


class RecordedRegistry:
    """The engine's `DependencyRegistry` over a recorded answer of the registry (`record_registry`), judged as at
    the release's publish time. Ranges are matched by npm's own semver, as in the gate."""

    def __init__(self, record: dict[str, Any], asof: str | None) -> None:
        self.record = record
        when = asof or record.get("published")
        if not isinstance(when, str) or not when:
            raise ValueError("the record has no publish time for the release: give `asof=` in the pairs file")
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
        self.moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def packument(self, name: str) -> dict[str, Any] | None:
        docs = self.record.get("packuments") or {}
        if name not in docs:
            raise KeyError(f"{name} was not recorded (run bench/corpus.py --fetch again)")
        return docs[name]

    def satisfying(self, queries: list[tuple[str, list[str]]]) -> list[list[str] | None]:
        from gatekeeper._internal.resolve import satisfying

        return satisfying(queries)

    def release(self, name: str, version: str) -> Any:
        raise KeyError(f"{name}@{version}: releases of dependencies are not recorded (no tree is resolved here)")

    def planned(self, name: str) -> str | None:
        return None

    def now(self) -> datetime:
        return self.moment


def registry_for(pair: Pair, old: Any, new: Any) -> tuple[RecordedRegistry | None, bool]:
    """(the recorded registry for the pair, or None; whether the pair needs one: a minor or major release adding
    a dependency, which the dependency rules judge by the registry's facts)."""
    from gatekeeper._internal import semver

    o, n = semver.parse(pair.old), semver.parse(pair.new)
    patch = o is None or n is None or semver.release_type(o, n) in ("patch", "none")
    needed = not patch and bool(_installed(new.manifest) - _installed(old.manifest))
    if not pair.registry_file.is_file():
        return None, needed
    record = json.loads(pair.registry_file.read_text())
    if not needed and not record.get("packuments"):
        return None, needed
    return RecordedRegistry(record, pair.asof), needed


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
    #: rule -> how many real pairs it blocked (true and noisy blocks alike).
    block_rules: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "real_pairs_allowed": self.allowed,
            "true_blocks": self.true_blocks,
            "noisy_blocks": self.noisy,
            "missed_true_changes": self.missed,
            "attacks": self.attacks,
            "attacks_blocked": self.attacks_blocked,
            "skipped_uncached": self.skipped,
            "blocks_by_rule": dict(sorted(self.block_rules.items())),
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
        if fetch_missing and not (pair.cached and pair.registry_file.is_file()):
            fetch(pair)
        if not pair.cached:
            figures.skipped += 1
            continue
        start = time.perf_counter()
        old = read_package(pair.file(pair.old), policy.diff.limits, label=f"{pair.name}@{pair.old}")
        new = read_package(pair.file(pair.new), policy.diff.limits, label=f"{pair.name}@{pair.new}")
        registry, needed = registry_for(pair, old, new)
        if needed and registry is None:
            figures.skipped += 1
            continue
        result = diff_packages(old, new, policy, dependencies=registry)
        figures.times.append(time.perf_counter() - start)
        blocks = [f for f in result.findings if f.blocks]
        for rule in sorted({f.rule for f in blocks}):
            figures.block_rules[rule] = figures.block_rules.get(rule, 0) + 1
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
        why = f" [{', '.join(sorted({f.rule for f in blocks}))}]" if blocks else ""
        lines.append(f"{'BLOCK' if blocks else 'allow'} {label} ({pair.expected}){why}")
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
