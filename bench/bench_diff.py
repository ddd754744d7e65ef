"""Benchmark: our release diff of typescript 5.4.4 -> 5.4.5 beside `npm diff` and the bare gunzip floor.

    python bench/bench_diff.py [--repeat 5] [--check] [--cpu] [--pair NAME OLD NEW] [--compare TREE ...]

Real tarballs (`npm pack typescript@5.4.4 typescript@5.4.5`, or the `--pair`) are cached under bench/.data
(gitignored). In one run it times, best of `--repeat` (median shown too):

- floor:     read both .tgz files and gunzip them completely (zlib, output discarded);
- tarfile:   the same plus walking the tar with Python's tarfile and reading every member;
- ours:      `read_package` both (safe reader) + `diff_packages` (every rule), in process;
- ours CLI:  `python -m gatekeeper diff 5.4.5.tgz --against 5.4.4.tgz`, a whole process;
- npm diff:  `npm diff --diff=typescript@5.4.4 --diff=typescript@5.4.5 --prefer-offline` (cache warmed first);

- ours @ TREE: with `--compare TREE ...`, the same in-process diff by the checkout at TREE and by this one, each
  in a child process of its own that times it in the same rounds (before/after side by side);

and the peak RSS of a child process that runs only our diff (`os.wait4` rusage). `--cpu` times CPU (user +
system, children included) instead of wall time, for a machine shared with other jobs. Targets: ours within
1.3x of the floor (issue 22), at least 3x faster than npm diff, peak RSS under 150 MB. `--check` exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data"
NAME, OLD, NEW = "typescript", "5.4.4", "5.4.5"
sys.path.insert(0, str(ROOT))

from gatekeeper._internal.tarball import read_package  # noqa: E402
from gatekeeper.diffing import diff_packages  # noqa: E402
from gatekeeper.trust.policy import Policy  # noqa: E402

CHILD = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from gatekeeper._internal.tarball import read_package
from gatekeeper.diffing import diff_packages
from gatekeeper.trust.policy import Policy
p = Policy()
r = diff_packages(read_package(Path({old!r}), p.diff.limits), read_package(Path({new!r}), p.diff.limits), p)
print(len(r.files), len(r.findings))
"""

#: `--compare`: a child that imports the gatekeeper of one tree and, for each line it reads, runs the in-process
#: diff once and answers with the time it took (CPU or wall, measured as the parent measures its own rows).
TIMER = """
import resource, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
import gatekeeper
assert gatekeeper.__file__.startswith({root!r}), gatekeeper.__file__
from gatekeeper._internal.tarball import read_package
from gatekeeper.diffing import diff_packages
from gatekeeper.trust.policy import Policy

def now():
    if {cpu!r}:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + kids.ru_utime + kids.ru_stime
    return time.perf_counter()

def ours():
    policy = Policy()
    old = read_package(Path({old!r}), policy.diff.limits)
    new = read_package(Path({new!r}), policy.diff.limits)
    result = diff_packages(old, new, policy)
    return len(result.files), len(result.findings)

for line in sys.stdin:
    start = now()
    shape = ours()
    print(now() - start, *shape, flush=True)
"""


class _Timer:
    """A `TIMER` child for one tree."""

    def __init__(self, tree: Path, paths: tuple[Path, Path], cpu: bool) -> None:
        code = TIMER.format(root=str(tree), old=str(paths[0]), new=str(paths[1]), cpu=cpu)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=DATA
        )
        self.shape: tuple[str, ...] = ()

    def __call__(self) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        if not answer:
            raise SystemExit("a --compare child failed")
        self.shape = tuple(answer[1:])
        return float(answer[0])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def tarballs(name: str = NAME, old: str = OLD, new: str = NEW) -> tuple[Path, Path]:
    """The two real tarballs, fetched once with `npm pack`."""
    DATA.mkdir(parents=True, exist_ok=True)
    base = name.lstrip("@").replace("/", "-")
    paths = (DATA / f"{base}-{old}.tgz", DATA / f"{base}-{new}.tgz")
    missing = [v for v, p in zip((old, new), paths, strict=True) if not p.is_file()]
    if missing:
        specs = [f"{name}@{v}" for v in missing]
        subprocess.run(["npm", "pack", *specs, "--pack-destination", str(DATA)], check=True, capture_output=True)
    return paths


def timed(fn: Callable[[], object], repeat: int, *, cpu: bool = False) -> tuple[float, float]:
    """Best and median of `repeat` runs: wall time, or with `cpu` the CPU time (user + system) of this process and
    of the children it waited for -- on a machine shared with other jobs, wall time mostly measures the queue."""
    runs = []
    for _ in range(repeat):
        start = _cpu_now() if cpu else time.perf_counter()
        fn()
        runs.append((_cpu_now() if cpu else time.perf_counter()) - start)
    return min(runs), statistics.median(runs)


def _cpu_now() -> float:
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def gunzip_floor(paths: tuple[Path, Path]) -> None:
    for path in paths:
        data = path.read_bytes()
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        view = memoryview(data)
        for i in range(0, len(data), 256 * 1024):
            d.decompress(view[i : i + 256 * 1024])
        d.flush()


def tarfile_read(paths: tuple[Path, Path]) -> None:
    for path in paths:
        with tarfile.open(path, "r|gz") as tf:
            for member in tf:
                if member.isfile():
                    fh = tf.extractfile(member)
                    if fh is not None:
                        fh.read()


def ours(paths: tuple[Path, Path]) -> None:
    policy = Policy()
    old = read_package(paths[0], policy.diff.limits)
    new = read_package(paths[1], policy.diff.limits)
    result = diff_packages(old, new, policy)
    assert not old.problems and not new.problems and not any(f.blocks for f in result.findings)


def run_process(argv: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=DATA)


def child_peak_rss_mb(paths: tuple[Path, Path]) -> float:
    code = CHILD.format(root=str(ROOT), old=str(paths[0]), new=str(paths[1]))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"the RSS child failed ({proc.returncode})")
    return usage.ru_maxrss / 1024  # kB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--cpu", action="store_true", help="time CPU (user + system, children included), not wall")
    parser.add_argument("--pair", nargs=3, metavar=("NAME", "OLD", "NEW"), help="another release pair")
    parser.add_argument("--compare", nargs="+", type=Path, default=[], metavar="TREE", help="checkouts to time too")
    args = parser.parse_args(argv)
    name, old, new = args.pair or (NAME, OLD, NEW)
    paths = tarballs(name, old, new)
    rss = child_peak_rss_mb(paths)  # first, before any other child adds to the picture

    npm = ["npm", "diff", f"--diff={name}@{old}", f"--diff={name}@{new}", "--prefer-offline"]
    env = {**os.environ, "NPM_CONFIG_UPDATE_NOTIFIER": "false"}
    run_process(npm, env)  # warm npm's cache (metadata and tarballs)
    cli = [sys.executable, "-m", "gatekeeper", "diff", str(paths[1]), "--against", str(paths[0])]
    cli_env = {**os.environ, "PYTHONPATH": str(ROOT)}

    # Interleaved (one of each per round) so that load from other processes hits every row alike.
    cases: list[tuple[str, Callable[[], object], int]] = [
        ("gunzip floor", lambda: gunzip_floor(paths), args.repeat),
        ("tarfile read", lambda: tarfile_read(paths), args.repeat),
        ("ours (in process)", lambda: ours(paths), args.repeat),
        ("ours (CLI process)", lambda: run_process(cli, cli_env), args.repeat),
        ("npm diff", lambda: run_process(npm, env), max(2, args.repeat // 2)),
    ]
    timers = {}
    if args.compare:
        for tree in (ROOT, *args.compare):
            label = "this tree" if tree == ROOT else str(tree)
            timers[label] = _Timer(tree.resolve(), paths, args.cpu)
            timers[label]()  # warm-up: imports, first-use caches
            cases.append((f"ours @ {label}", timers[label], args.repeat))
    samples: dict[str, list[float]] = {row: [] for row, _, _ in cases}
    for round_no in range(args.repeat):
        for row, fn, count in cases:
            if round_no < count:
                # a --compare child measures its own run (the parent only waits for it)
                samples[row].append(fn() if isinstance(fn, _Timer) else timed(fn, 1, cpu=args.cpu)[0])
    for timer in timers.values():
        timer.close()
    rows = [(row, (min(runs), statistics.median(runs))) for row, runs in samples.items()]
    medians = {row: median for row, (_, median) in rows}
    times = {row: best for row, (best, _) in rows}
    sizes = sum(p.stat().st_size for p in paths)
    clock = "CPU time" if args.cpu else "wall time"
    print(f"{name} {old} -> {new}: {sizes / 1e6:.1f} MB compressed, {clock}, best of {args.repeat} (median)")
    for row, (best, median) in rows:
        print(f"  {row:<20} {best * 1000:8.1f} ms  ({median * 1000:.1f} ms)")
    for label, timer in timers.items():
        row = f"ours @ {label}"
        print(
            f"  {row} / gunzip floor = {times[row] / times['gunzip floor']:.2f}x "
            f"(medians {medians[row] / medians['gunzip floor']:.2f}x); files, findings: {' '.join(timer.shape)}"
        )
    floor_ratio = times["ours (in process)"] / times["gunzip floor"]
    npm_ratio = times["npm diff"] / times["ours (CLI process)"]
    npm_ratio_inproc = times["npm diff"] / times["ours (in process)"]
    checks = [
        (
            f"ours / gunzip floor      = {floor_ratio:.2f}x (medians "
            f"{medians['ours (in process)'] / medians['gunzip floor']:.2f}x; target <= 1.3x)",
            floor_ratio <= 1.3,
        ),
        (f"npm diff / ours CLI      = {npm_ratio:.1f}x faster (target >= 3x)", npm_ratio >= 3.0),
        (f"npm diff / ours in-proc  = {npm_ratio_inproc:.1f}x faster", True),
        (f"peak RSS of our diff     = {rss:.1f} MB (target < 150 MB)", rss < 150.0),
    ]
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")
    return 1 if args.check and not all(ok for _, ok in checks) else 0


if __name__ == "__main__":
    from _host import private_npm_logs  # bench/ is sys.path[0] when run as a script

    private_npm_logs()
    sys.exit(main())
