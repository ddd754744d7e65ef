"""Benchmark: what the tests' registry set-up costs in CPU (issue 20, the suite's time)

    python bench/bench_test_registry.py [--repeat 5]

Two rows, each CPU time (user + system) of the processes that do the work, best of `--repeat` (median in
brackets), rounds interleaved so that load from other jobs hits both sides alike:

- authenticated request, bcrypt cost 10 / 4: Verdaccio's CPU for one `GET /-/whoami` with a legacy token (it
  checks the token's password against htpasswd on every request), averaged over 20 requests, with the users'
  hashes at Verdaccio's default cost 10 and at the tests' cost (`tests/_support/verdaccio.py` BCRYPT_ROUNDS).
- baseline publish, npm CLI / helper: one `Verdaccio.publish(dir, token)` of a `make_package_repo` package:
  the `npm publish` CLI (children's rusage) and the tests' publish helper (`tests/_support/npm_publisher.js`:
  the CPU its node process spends on the request, from /proc).

Not a timed test: it prints figures. On a machine shared with other jobs wall time mostly measures the run
queue, so this reports CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests._support import verdaccio as vd  # noqa: E402
from tests._support.workspace import make_package_repo  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _auth_cost(registry: vd.Verdaccio, requests: int = 20) -> float:
    """Verdaccio CPU seconds per authenticated request (a fresh user, hashed at the configured cost)."""
    user = registry.unique("bench")
    token = registry.add_user(user, "bench-password-1")
    pid = registry.process.pid if registry.process else registry.upstream_pid
    before = _cpu(pid)
    for _ in range(requests):
        registry.whoami(token)
    return (_cpu(pid) - before) / requests


def _publish_cost(registry: vd.Verdaccio, work: Path, cli: bool) -> float:
    user = registry.unique("bench-pub")
    token = registry.add_user(user, "bench-password-1")
    repo = make_package_repo(work / registry.unique("repo"), registry.unique("bench-pkg"), "1.0.0")
    if cli:
        before = _children_cpu()
        registry.publish(repo, token, cli=True)
        return _children_cpu() - before
    if registry._publisher is None:  # start it outside the measurement (once per test process in the suite)
        registry.publish(make_package_repo(work / registry.unique("warm"), registry.unique("warm"), "1.0.0"), token)
    assert registry._publisher is not None
    pid = registry._publisher.process.pid
    before = _cpu(pid)
    registry.publish(repo, token)
    return _cpu(pid) - before


def _row(name: str, values: list[float]) -> str:
    return f"{name:<42} {min(values) * 1000:8.1f} ms  ({statistics.median(values) * 1000:.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gk-bench-registry-"))
    os.environ.setdefault("npm_config_cache", str(work / "npm-cache"))
    os.environ.setdefault("npm_config_logs_dir", str(work / "npm-logs"))
    results: dict[str, list[float]] = {}
    tests_cost = vd.BCRYPT_ROUNDS
    with contextlib.ExitStack() as stack:
        registries = {}
        for cost in (10, tests_cost):
            vd.BCRYPT_ROUNDS = cost  # read when the session writes its config
            registries[cost] = stack.enter_context(vd.verdaccio_session(work / f"verdaccio-{cost}"))
        vd.BCRYPT_ROUNDS = tests_cost
        slow, fast = registries[10], registries[tests_cost]
        for _ in range(args.repeat):
            results.setdefault("authenticated request, bcrypt cost 10", []).append(_auth_cost(slow))
            results.setdefault(f"authenticated request, bcrypt cost {tests_cost}", []).append(_auth_cost(fast))
            results.setdefault("baseline publish, npm CLI", []).append(_publish_cost(fast, work, cli=True))
            results.setdefault("baseline publish, helper", []).append(_publish_cost(fast, work, cli=False))
    shutil.rmtree(work, ignore_errors=True)
    print(f"CPU time, best of {args.repeat} (median); load average {os.getloadavg()[0]:.1f}")
    for name, values in results.items():
        print(_row(name, values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
