"""Benchmark: start-up of `gatekeeper diff` on two small tarballs, beside `python -c pass` and `npm diff`.

    python bench/bench_startup.py [--repeat 21] [--check]

The pair is the committed real fixture ms 2.1.2 -> 2.1.3 (tests/fixtures/tarballs, 3 kB each), so
what is timed is almost only start-up: interpreter, imports, reading two tiny tarballs, printing.
Each row is a whole process (wall time from spawn to exit), rounds interleaved (one of each per
round) so that load from other processes hits every row alike; best and median are printed:

- python -c pass:  the interpreter's own floor (same interpreter, same site-packages);
- ours:            `gatekeeper diff ms-2.1.3.tgz --against ms-2.1.2.tgz`, run as the console script
                   pip installs runs it (`from gatekeeper.cli import main; sys.exit(main())`);
- npm diff:        `npm diff --diff=ms-2.1.2.tgz --diff=ms-2.1.3.tgz` on the same two files.

Bytecode is compiled first and used (as an installed package has it), whatever
PYTHONDONTWRITEBYTECODE says. The modules the diff imports are listed by count, and the heavy
third-party ones (PyGithub, cryptography, YAML, requests) must be absent: `--check` exits 1 when one is
imported. The start-up time itself is a figure to report, not a target (the 80 ms goal of issue 11 was
retired by issue 19). The CPU column (user + sys of each process) shows how much of a slow median is
other jobs' load on the machine.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIR = ROOT / "tests" / "fixtures" / "tarballs"
OLD, NEW = "ms-2.1.2.tgz", "ms-2.1.3.tgz"
#: What the `gatekeeper` console script pip writes runs (`python -m gatekeeper` would add runpy's ~5 ms).
CONSOLE_SCRIPT = "import re, sys\nfrom gatekeeper.cli import main\nsys.exit(main())"
DIFF = ["diff", NEW, "--against", OLD]
HEAVY = ("github", "cryptography", "yaml", "requests", "urllib3")


def wall(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall time, CPU time user+sys) of one whole process; CPU time moves less with other jobs' load."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=PAIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code not in (0, 1):
        raise SystemExit(f"{argv[:3]} failed ({code})")
    return took, usage.ru_utime + usage.ru_stime


def imported(python: str, env: dict[str, str]) -> list[str]:
    code = (
        "import sys\nfrom gatekeeper.cli import main\nimport io, contextlib\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['diff', {NEW!r}, '--against', {OLD!r}])\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([python, "-c", code], cwd=PAIR, env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def installed_python() -> str:
    """A venv (stdlib only, no pip) under the cache with this tree's package copied into site-packages."""
    import shutil

    venv = Path(os.environ.get("GATEKEEPER_CACHE", ROOT / ".cache")) / "bench-startup-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    shutil.rmtree(site / "gatekeeper", ignore_errors=True)
    shutil.copytree(ROOT / "gatekeeper", site / "gatekeeper", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(site / "gatekeeper", quiet=1)
    return str(venv / "bin" / "python")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--python", default=sys.executable, help="interpreter to time (default: this one)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        metavar="TREE",
        help="also time `gatekeeper diff` from another checkout (e.g. `git worktree add /tmp/old <commit>`), "
        "interleaved in the same rounds: before/after figures from one run",
    )
    parser.add_argument(
        "--installed",
        action="store_true",
        help="also time both from a plain venv holding the package as `pip install .` lays it out (no editable "
        "finder in site-packages, which the dev .venv's every start pays for): what a maintainer runs",
    )
    args = parser.parse_args(argv)

    compileall.compile_dir(ROOT / "gatekeeper", quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    npm_env = {**env, "NPM_CONFIG_UPDATE_NOTIFIER": "false", "NPM_CONFIG_FUND": "false"}
    rows: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([args.python, "-c", "pass"], env),
        "ours (gatekeeper diff)": ([args.python, "-c", CONSOLE_SCRIPT, *DIFF], env),
        "npm diff": (["npm", "diff", f"--diff=./{OLD}", f"--diff=./{NEW}"], npm_env),
    }
    for tree in args.compare:
        compileall.compile_dir(tree / "gatekeeper", quiet=1)
        rows[f"  {tree.name}"] = (
            [args.python, "-c", CONSOLE_SCRIPT, *DIFF],
            {**env, "PYTHONPATH": str(tree.resolve())},
        )
    if args.installed:
        python = installed_python()
        clean = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        rows["installed: python -c pass"] = ([python, "-c", "pass"], clean)
        rows["installed: gatekeeper diff"] = ([python, "-c", CONSOLE_SCRIPT, *DIFF], clean)
    for cmd, e in rows.values():  # warm-up: file cache, bytecode, npm's own start
        wall(cmd, e)
    samples: dict[str, list[float]] = {name: [] for name in rows}
    cpu: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.repeat):
        for name, (cmd, e) in rows.items():
            took, used = wall(cmd, e)
            samples[name].append(took)
            cpu[name].append(used)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"start-up, {NEW} --against {OLD} (3 kB each), {args.repeat} interleaved rounds, load average {load}")
    print(f"  {'':<24} {'wall best':>10} {'(median)':>10} {'cpu median':>11}")
    med = {name: statistics.median(v) * 1000 for name, v in samples.items()}
    for name, runs in samples.items():
        used = statistics.median(cpu[name]) * 1000
        print(f"  {name:<24} {min(runs) * 1000:7.1f} ms  ({med[name]:6.1f} ms) {used:7.1f} ms")
    ours, floor, npm = med["ours (gatekeeper diff)"], med["python -c pass"], med["npm diff"]
    modules = imported(args.python, env)
    heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
    ours_mods = [m for m in modules if m.startswith("gatekeeper")]
    checks = [
        (f"ours, median              = {ours:.1f} ms", True),
        (f"ours - python -c pass     = {ours - floor:.1f} ms of our own", True),
        (f"npm diff / ours           = {npm / ours:.1f}x", True),
        (f"modules imported          = {len(modules)} ({len(ours_mods)} of ours)", True),
        (f"heavy modules imported    = {', '.join(heavy) or 'none'}", not heavy),
    ]
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'MISS'}  {text}")
    return 1 if args.check and not all(ok for _, ok in checks) else 0


if __name__ == "__main__":
    from _host import private_npm_logs  # bench/ is sys.path[0] when run as a script

    private_npm_logs()
    sys.exit(main())
