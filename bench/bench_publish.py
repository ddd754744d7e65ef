"""Benchmark: the gate's overhead over a bare `npm pack` + `npm publish` of the same package.

    python bench/bench_publish.py [--repeat 9] [--compare TREE ...]

Sets up (not timed) a real Verdaccio (the tests' session helper, fresh storage), the local GitHub
stand-in and, for each side, a package with one release already on the registry. Then, in one run,
round by round (the order of the sides rotates every round, so drift and load hit them alike), each
side releases the next version:

- bare:  `npm pack --ignore-scripts --json --pack-destination D` then `npm publish D/<tgz>
         --ignore-scripts --json --registry R --userconfig NPMRC` (the two npm commands the gate itself
         runs), in a plain folder;
- ours:  `entrypoint.py` as the runner runs the action (publish mode, npm token): every gate (the
         checks read from the stand-in, the credential checked, the new version diffed against the last
         one downloaded and verified, provenance), `npm pack` + `npm publish`, and the GitHub Release
         written by the notify step. The version bump is a commit made between rounds (not timed);
- TREE:  the same as ours from another checkout (`--compare`, e.g. a `git worktree add /tmp/before
         fcfe82f`), so before/after come from one run.

Each row is a whole-process wall time (the bare row: both npm processes). The overhead is taken pair by
pair within a round (ours - bare, ours / bare), then its median. Goal: overhead at or under 0.5 s. Not a
timed test: it exits 1 only when a run did not publish; `--check` also makes a missed goal exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._support.github_server import GitHubServer, Repo  # noqa: E402
from tests._support.verdaccio import Verdaccio, verdaccio_session  # noqa: E402
from tests._support.workspace import commit_all, make_package_repo, run_action  # noqa: E402

REPO = "acme/widget"
RUN_ID = 4242
GOAL_SECONDS = 0.5


def children_cpu() -> float:
    """User + system seconds of every finished child so far (the timed processes and their own children)."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def bump(path: Path, version: str) -> None:
    pkg = json.loads((path / "package.json").read_text())
    pkg["version"] = version
    (path / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")


class Bare:
    """`npm pack` + `npm publish` of a plain folder, as a user would run them."""

    def __init__(self, reg: Verdaccio, token: str, tmp: Path) -> None:
        self.dir = make_package_repo(tmp / "bare", name=reg.unique("bench-bare"), workflow=None)
        self.dest = tmp / "bare-packed"
        self.dest.mkdir()
        self.npmrc = tmp / "bare.npmrc"
        self.npmrc.write_text(reg.npmrc_text(token))
        self.npmrc.chmod(0o600)
        home = tmp / "bare-home"
        home.mkdir()
        self.env = {**reg.npm_env(), "HOME": str(home), "PATH": os.environ["PATH"]}
        self.registry = reg.url

    def prepare(self, version: str) -> None:
        bump(self.dir, version)
        for old in self.dest.glob("*.tgz"):
            old.unlink()

    def run(self) -> tuple[float, float]:
        cpu, start = children_cpu(), time.perf_counter()
        pack = subprocess.run(
            ["npm", "pack", "--ignore-scripts", "--json", "--pack-destination", str(self.dest)],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        tgz = self.dest / json.loads(pack.stdout)[0]["filename"]
        subprocess.run(
            [
                "npm",
                "publish",
                str(tgz),
                "--ignore-scripts",
                "--json",
                "--registry",
                self.registry,
                "--userconfig",
                str(self.npmrc),
            ],
            cwd=self.dest,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return time.perf_counter() - start, children_cpu() - cpu


class Gate:
    """The action (entrypoint.py of `tree`) releasing its own package, a new commit per version."""

    def __init__(self, label: str, tree: Path, reg: Verdaccio, gh: GitHubServer, repo: Repo, token: str, tmp: Path):
        self.label, self.tree, self.reg, self.gh, self.repo, self.token = label, tree, reg, gh, repo, token
        slug = label.replace(" ", "-").replace("/", "-")
        self.name = reg.unique("bench-gate")
        self.ws = make_package_repo(tmp / f"ws-{slug}", name=self.name)
        self.home = tmp / f"home-{slug}"
        self.home.mkdir()
        self.sha = ""
        self.version = ""
        self.profile: list[str] = []

    def prepare(self, version: str) -> None:
        bump(self.ws, version)
        self.sha = commit_all(self.ws, version)
        self.version = version
        self.repo.add_commit(self.sha, "main")
        self.repo.add_check_run(self.sha, "test", "success")
        run = self.repo.runs.get(RUN_ID) or self.repo.add_workflow_run(self.sha, run_id=RUN_ID)
        run.head_sha = self.sha
        if not run.jobs:
            run.add_job("release", status="in_progress", runner_name="GitHub Actions 2")
        for job in run.jobs:
            job.head_sha = self.sha

    def run(self) -> tuple[float, float]:
        cpu = children_cpu()
        result = run_action(
            self.ws,
            {**self.gh.env(), "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": self.sha},
            {"ref": "refs/heads/main", "after": self.sha, "repository": {"fork": False}},
            home=self.home,
            inputs={"npm-token": self.token, "github-token": self.gh.token or "", "registry": self.reg.url},
            argv=[sys.executable, *self.profile, str(self.tree / "entrypoint.py")],
            timeout=300,
        )
        if result.returncode != 0 or result.outputs.get("published") != "true":
            raise SystemExit(f"{self.label}: {self.name}@{self.version} was not published\n{result.describe()}")
        return result.wall, children_cpu() - cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=9, help="timed rounds (after one warm-up round)")
    ap.add_argument("--compare", type=Path, action="append", default=[], help="another checkout's tree")
    ap.add_argument("--check", action="store_true", help="exit 1 when the overhead misses the goal")
    ap.add_argument("--profile", type=Path, default=None, help="after the rounds, one run of ours under cProfile")
    args = ap.parse_args()
    os.environ.setdefault("GATEKEEPER_CACHE", str(ROOT / ".cache"))
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp_s, GitHubServer() as gh:
        tmp = Path(tmp_s)
        with verdaccio_session(tmp / "verdaccio") as reg:
            user = reg.unique("bench")
            password = f"pw-{user}-Secret1"
            token = reg.create_token(reg.add_user(user, password), password)
            repo = gh.repo(REPO, default_branch="main")
            sides: dict[str, Callable[[], tuple[float, float]]] = {}
            prepares: dict[str, Callable[[str], None]] = {}
            bare = Bare(reg, token, tmp)
            sides["bare npm pack + publish"], prepares["bare npm pack + publish"] = bare.run, bare.prepare
            gates = [Gate("ours", ROOT, reg, gh, repo, token, tmp)]
            gates += [Gate(str(t), t.resolve(), reg, gh, repo, token, tmp) for t in args.compare]
            for g in gates:
                sides[g.label], prepares[g.label] = g.run, g.prepare
                reg.publish(g.ws, token)  # 1.0.0: the release every run diffs against
            reg.publish(bare.dir, token)
            labels = list(sides)
            wall: dict[str, list[float]] = {label: [] for label in labels}
            cpu: dict[str, list[float]] = {label: [] for label in labels}
            for rnd in range(args.repeat + 1):
                order = labels[rnd % len(labels) :] + labels[: rnd % len(labels)]
                for label in order:
                    prepares[label](f"1.0.{rnd + 1}")
                    took, used = sides[label]()
                    if rnd:  # round 0 warms npm's and Python's caches
                        wall[label].append(took)
                        cpu[label].append(used)
            load = os.getloadavg()[0]
            print(f"{args.repeat} rounds (+1 warm-up), whole processes, load average {load:.1f} at the end")
            print(f"  {'':26s} {'wall best':>10s} {'median':>8s} {'cpu median':>11s}   overhead: wall, ratio, cpu")
            ok = True
            first = labels[0]
            for label in labels:
                ts, cs = wall[label], cpu[label]
                ms = 1000
                line = f"  {label:26s} {min(ts) * ms:7.0f} ms {statistics.median(ts) * ms:5.0f} ms"
                line += f" {statistics.median(cs) * ms:8.0f} ms"
                if label != first:
                    diff = statistics.median(t - b for t, b in zip(ts, wall[first], strict=True))
                    ratio = statistics.median(t / b for t, b in zip(ts, wall[first], strict=True))
                    extra = statistics.median(c - b for c, b in zip(cs, cpu[first], strict=True))
                    line += f"   +{diff * ms:.0f} ms, {ratio:.2f}x, +{extra * ms:.0f} ms cpu"
                    if label == "ours":
                        met = diff <= GOAL_SECONDS
                        ok = ok and met
                        line += f"  {'PASS' if met else 'MISS'} (goal <= {GOAL_SECONDS * ms:.0f} ms)"
                print(line)
            if args.profile is not None:
                ours = gates[0]
                ours.profile = ["-m", "cProfile", "-o", str(args.profile.resolve())]
                prepares["ours"](f"1.0.{args.repeat + 2}")
                ours.run()
                print(f"profile of one run of ours: {args.profile} (python -m pstats {args.profile})")
            return 0 if ok or not args.check else 1


if __name__ == "__main__":
    from _host import private_npm_logs  # bench/ is sys.path[0] when run as a script

    private_npm_logs()
    sys.exit(main())
