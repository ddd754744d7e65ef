"""Benchmark: what the consumer-resolved dependency tree costs when dependencies changed.

    python bench/bench_resolve.py [--registry URL] [--repeat 3]

Times `gatekeeper._internal.resolve.resolve_tree` (a fresh `npm install --package-lock-only
--ignore-scripts` in a private temp dir, empty cache: what the release diff runs twice, once per
release, when the dependencies changed) for the manifests of a few real packages, against the public
registry by default. Nothing is cached between runs on purpose: a consumer's fresh install.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper._internal.resolve import resolve_tree  # noqa: E402
from gatekeeper.diffing.lockfile import parse_npm_lockfile  # noqa: E402

MANIFESTS = {
    "debug@4.3.5": {"name": "debug", "version": "4.3.5", "dependencies": {"ms": "2.1.2"}},
    "express@4.18.3": {
        "name": "express",
        "version": "4.18.3",
        "dependencies": {
            "accepts": "~1.3.8", "body-parser": "1.20.2", "cookie": "0.5.0", "debug": "2.6.9", "depd": "2.0.0",
            "finalhandler": "1.2.0", "qs": "6.11.0", "send": "0.18.0", "serve-static": "1.15.0", "type-is": "~1.6.18",
        },
    },
    "esbuild@0.20.2 (25 optional platform packages)": {
        "name": "esbuild",
        "version": "0.20.2",
        "optionalDependencies": {f"@esbuild/{p}": "0.20.2" for p in (
            "aix-ppc64", "android-arm", "android-arm64", "android-x64", "darwin-arm64", "darwin-x64", "freebsd-arm64",
            "freebsd-x64", "linux-arm", "linux-arm64", "linux-ia32", "linux-loong64", "linux-mips64el", "linux-ppc64",
            "linux-riscv64", "linux-s390x", "linux-x64", "netbsd-x64", "openbsd-x64", "sunos-x64", "win32-arm64",
            "win32-ia32", "win32-x64",
        )},
    },
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default="https://registry.npmjs.org/")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    for label, manifest in MANIFESTS.items():
        runs = []
        entries = 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            lock = resolve_tree(manifest, registry=args.registry, timeout=300)
            runs.append(time.perf_counter() - start)
            entries = len(parse_npm_lockfile(lock).entries)
        print(f"  {label:<48} {entries:4d} packages  best {min(runs):6.2f} s  median {statistics.median(runs):6.2f} s")
    return 0


if __name__ == "__main__":
    from _host import private_npm_logs  # bench/ is sys.path[0] when run as a script

    private_npm_logs()
    sys.exit(main())
