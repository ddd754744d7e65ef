"""What the opt-in install sandbox (`dynamic`, issue 25) adds to a check run, on real release pairs.

    python bench/bench_dynamic.py [--registry URL] [--json]

For each pair (real tarballs: committed under tests/fixtures/tarballs, else packed once from the registry
into `${GATEKEEPER_CACHE:-.cache}/corpus/` as bench/corpus.py does), both releases are installed in the
sandbox the way the gate does it (fetch with scripts off, then `npm rebuild --offline` under strace, seccomp,
its own uid, canary HOME), their profiles diffed. Prints the seconds of each install (fetch + scripts; the
gate runs the two one after the other, so their sum is what a check run gains), the packages whose install
did something, and the new behaviour (expected: none for these benign releases). Needs root (the sandbox
drops to its own uid) and the npm registry (dependencies are fetched as a consumer's install fetches them).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import FIXTURES, cache_dir  # noqa: E402
from gatekeeper._internal import sandbox  # noqa: E402
from gatekeeper.diffing import install_behaviour as ib  # noqa: E402

#: Real packages with install scripts: a postinstall that checks/links a platform binary (esbuild), a
#: postinstall banner (core-js), a postinstall that checks its CLI deps (protobufjs).
PAIRS = [("esbuild", "0.20.1", "0.20.2"), ("core-js", "3.36.0", "3.36.1"), ("protobufjs", "7.2.5", "7.2.6")]


def tarball(name: str, version: str) -> Path:
    fixed = FIXTURES / f"{name}-{version}.tgz"
    if fixed.is_file():
        return fixed
    out = cache_dir() / f"{name.replace('/', '-')}-{version}.tgz"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "--silent", f"{name}@{version}", "--pack-destination", str(out.parent)],
                       check=True, capture_output=True, timeout=300)  # fmt: skip
    return out


def observe(name: str, version: str, registry: str, cafile: str | None) -> tuple[ib.Profile, float, int | None]:
    started = time.monotonic()
    obs = sandbox.observe_install(tarball(name, version), name, registry=registry, cafile=cafile)
    seconds = time.monotonic() - started
    layout = ib.Layout(obs.project, obs.home, obs.tmp, obs.canaries)
    return ib.read_trace(obs.trace, layout, truncated=obs.truncated), seconds, obs.exit_code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registry", default="https://registry.npmjs.org/")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cafile", help="CA bundle for a registry behind a private CA (default: npm's own `cafile`)")
    args = ap.parse_args()
    reason = sandbox.probe()
    if reason is not None:
        print(f"the sandbox cannot run here: {reason}", file=sys.stderr)
        return 2
    cafile = args.cafile
    if cafile is None:
        got = subprocess.run(["npm", "config", "get", "cafile"], capture_output=True, text=True, check=False)
        cafile = got.stdout.strip() if got.returncode == 0 and got.stdout.strip() not in ("", "null") else None
    rows = []
    for name, old, new in PAIRS:
        base, t_old, _ = observe(name, old, args.registry, cafile)
        cand, t_new, code = observe(name, new, args.registry, cafile)
        changes = ib.diff(base, cand)
        rows.append(
            {
                "pair": f"{name} {old} -> {new}",
                "baseline_seconds": round(t_old, 1),
                "candidate_seconds": round(t_new, 1),
                "added_seconds": round(t_old + t_new, 1),
                "npm_exit": code,
                "profiled": sorted(cand.to_json()),
                "behaviour": cand.to_json(),
                "new": [f"{c.package}: {c.kind} {c.item}" for c in changes],
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['pair']}: +{r['added_seconds']} s (baseline {r['baseline_seconds']} s, candidate "
                  f"{r['candidate_seconds']} s), npm exit {r['npm_exit']}, install behaviour in {r['profiled']}, "
                  f"new: {r['new'] or 'none'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    from _host import private_npm_logs  # bench/ is sys.path[0] when run as a script

    private_npm_logs()
    sys.exit(main())
