"""Benchmark: the release diff's consumer-tree check beside one bare resolution of the candidate.

    python bench/bench_tree_diff.py [--registry URL] [--repeat 1] [--sequential]

express 4.18.3 -> 4.19.2 (31 dependencies, `cookie` 0.5.0 -> 0.6.0). Side by side, cold caches, same minute:

- bare: one `npm install --package-lock-only --ignore-scripts` of a project holding the candidate's
  dependencies, fresh cache (what a consumer's resolution of the candidate costs);
- diff: `diff_packages(4.18.3, 4.19.2, resolver=...)`, the engine's whole diff of two manifest-only tarballs,
  which resolves both consumer trees (`--sequential`: the way it did before issue 22, one after the other
  with a cold cache each, for the "before" figure).

Goal (issue 22): diff / bare <= 1.3. One warm-up bare run first (not counted), so the mirror in front of the
registry is equally warm for every measured run.

`--cafile` (default: this machine's npm `cafile`, if any): a machine whose registry is a mirror with its own CA
needs it, and the gate's resolution reads no machine npm config on purpose, so the bench hands it the CA file
(NPM_CONFIG_CAFILE in the resolution's environment; nothing else changes).
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gatekeeper._internal import resolve as resolve_mod  # noqa: E402
from gatekeeper._internal.resolve import resolve_tree, resolver  # noqa: E402
from gatekeeper._internal.tarball import read_package  # noqa: E402
from gatekeeper.diffing import diff_packages  # noqa: E402
from gatekeeper.trust.policy import Policy  # noqa: E402

BASE: dict[str, str] = {
    "accepts": "~1.3.8", "array-flatten": "1.1.1", "body-parser": "1.20.2", "content-disposition": "0.5.4",
    "content-type": "~1.0.4", "cookie": "0.5.0", "cookie-signature": "1.0.6", "debug": "2.6.9", "depd": "2.0.0",
    "encodeurl": "~1.0.2", "escape-html": "~1.0.3", "etag": "~1.8.1", "finalhandler": "1.2.0", "fresh": "0.5.2",
    "http-errors": "2.0.0", "merge-descriptors": "1.0.1", "methods": "~1.1.2", "on-finished": "2.4.1",
    "parseurl": "~1.3.3", "path-to-regexp": "0.1.7", "proxy-addr": "~2.0.7", "qs": "6.11.0",
    "range-parser": "~1.2.1", "safe-buffer": "5.2.1", "send": "0.18.0", "serve-static": "1.15.0",
    "setprototypeof": "1.2.0", "statuses": "2.0.1", "type-is": "~1.6.18", "utils-merge": "1.0.1", "vary": "~1.1.2",
}  # fmt: skip
CANDIDATE = {**BASE, "cookie": "0.6.0"}


def _package(version: str, deps: dict[str, str]) -> Any:
    data = json.dumps({"name": "express", "version": version, "dependencies": deps}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("package/package.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return read_package(buf.getvalue(), Policy().diff.limits, label=f"express@{version}")


def bare(registry: str) -> float:
    """One plain npm resolution of the candidate's dependencies, fresh cache, nothing else."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    try:
        (tmp / "package.json").write_text(json.dumps({"name": "c", "version": "1.0.0", "dependencies": CANDIDATE}))
        argv = ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"]
        argv += ["--registry", registry, "--cache", str(tmp / "cache"), "--loglevel=error"]
        start = time.perf_counter()
        subprocess.run(argv, cwd=tmp, check=True, capture_output=True)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tree_diff(registry: str, sequential: bool) -> float:
    base, cand = _package("4.18.3", BASE), _package("4.19.2", CANDIDATE)
    if sequential:  # before issue 22: two resolutions one after the other, a cold cache each

        def resolve(manifest: dict[str, Any]) -> bytes:
            return resolve_tree(manifest, registry=registry, timeout=300)

        chosen: Any = resolve
    else:
        chosen = resolver(registry, 300)
    start = time.perf_counter()
    result = diff_packages(base, cand, Policy(), resolver=chosen)
    took = time.perf_counter() - start
    assert result.error is None, result.error
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default="https://registry.npmjs.org/")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sequential", action="store_true", help="also time the pre-issue-22 sequential way")
    parser.add_argument("--cafile", default=None, help="CA bundle for the registry (default: npm config cafile)")
    args = parser.parse_args(argv)
    cafile = args.cafile
    if cafile is None:
        got = subprocess.run(["npm", "config", "get", "cafile"], capture_output=True, text=True, check=False)
        cafile = got.stdout.strip() if got.returncode == 0 and got.stdout.strip() not in ("", "null") else None
    if cafile:
        real_env = resolve_mod.npm_env

        def npm_env(tmp: Path, extra: dict[str, str] | None = None, keep_oidc: bool = False) -> dict[str, str]:
            return real_env(tmp, {**(extra or {}), "NPM_CONFIG_CAFILE": cafile}, keep_oidc)

        resolve_mod.npm_env = npm_env  # type: ignore[assignment]
    bare(args.registry)  # warm-up, not counted
    for _ in range(args.repeat):
        b = bare(args.registry)
        line = f"  bare npm resolution of express@4.19.2  {b:6.2f} s"
        if args.sequential:
            s = tree_diff(args.registry, True)
            line += f"   diff, sequential (before) {s:6.2f} s = {s / b:4.2f}x"
        d = tree_diff(args.registry, False)
        line += f"   diff, concurrent + shared cache {d:6.2f} s = {d / b:4.2f}x {'PASS' if d / b <= 1.3 else 'FAIL'}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    from _host import private_npm_logs  # bench/ is sys.path[0] when run as a script

    private_npm_logs()
    sys.exit(main())
