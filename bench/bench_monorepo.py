"""Benchmark: the gate's overhead on a 12-package monorepo release over a bare pack + publish of the same packages.

    python bench/bench_monorepo.py [--packages 12]

Sets up (not timed) a real Verdaccio (the tests' session helper, fresh storage), the local GitHub stand-in and,
for each side, an npm-workspaces repository of N packages (each depending on the one before it) whose 1.0.0
is already on the registry; every package is then bumped to 1.0.1 (a commit, not timed). One run of each side:

- bare: for each package in dependency order, `npm pack --ignore-scripts --json --pack-destination D` then
        `npm publish D/<tgz> --ignore-scripts --json --registry R --userconfig NPMRC` (the two npm commands the
        gate itself runs per package), as a release script would;
- ours: `entrypoint.py` as the runner runs the action with `packages: workspaces` (publish mode, npm token):
        the plan, every gate for every package (its own baseline downloaded and verified, its release diff,
        its consumer tree resolved with the other planned packages), then every upload and its check, and one
        GitHub Release per package.

Prints the whole-process wall times, the overhead and the ratio (one run each: the figure the issue asks for).
Not a timed test: it exits 1 only when a side did not publish everything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._support.github_server import GitHubServer  # noqa: E402
from tests._support.verdaccio import Verdaccio, verdaccio_session  # noqa: E402
from tests._support.workspace import commit_all, make_package_repo, run_action  # noqa: E402

REPO = "acme/widget"


def monorepo(path: Path, prefix: str, count: int, version: str) -> tuple[Path, list[str]]:
    """An npm-workspaces repository of `count` packages, package i depending on package i-1."""
    names = [f"{prefix}-p{i:02d}" for i in range(count)]
    files: dict[str, str] = {}
    for i, name in enumerate(names):
        manifest: dict[str, object] = {"name": name, "version": version, "main": "index.js", "license": "MIT"}
        if i:
            manifest["dependencies"] = {names[i - 1]: f"^{version}"}
        files[f"packages/{name}/package.json"] = json.dumps(manifest, indent=2) + "\n"
        files[f"packages/{name}/index.js"] = f"module.exports = () => '{name}@{version}';\n"
        files[f"packages/{name}/README.md"] = f"# {name}\n"
    root = make_package_repo(
        path, prefix, version, extra_files=files, manifest={"private": True, "workspaces": ["packages/*"]}
    )
    return root, names


def bump(root: Path, names: list[str], version: str) -> None:
    for name in names:
        path = root / "packages" / name / "package.json"
        doc = json.loads(path.read_text())
        doc["version"] = version
        if "dependencies" in doc:
            doc["dependencies"] = {k: f"^{version}" for k in doc["dependencies"]}
        path.write_text(json.dumps(doc, indent=2) + "\n")


def bare_release(reg: Verdaccio, root: Path, names: list[str], token: str, tmp: Path) -> float:
    dest = tmp / "bare-packed"
    dest.mkdir()
    npmrc = tmp / "bare.npmrc"
    npmrc.write_text(reg.npmrc_text(token))
    npmrc.chmod(0o600)
    home = tmp / "bare-home"
    home.mkdir()
    env = {**reg.npm_env(), "HOME": str(home), "PATH": os.environ["PATH"]}
    start = time.perf_counter()
    for name in names:
        pack = subprocess.run(
            ["npm", "pack", "--ignore-scripts", "--json", "--pack-destination", str(dest)],
            cwd=root / "packages" / name,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        tgz = dest / json.loads(pack.stdout)[0]["filename"]
        subprocess.run(
            ["npm", "publish", str(tgz), "--ignore-scripts", "--json", "--registry", reg.url, "--userconfig", npmrc],
            cwd=dest,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", type=int, default=12, help="packages in the release")
    args = ap.parse_args()
    os.environ.setdefault("GATEKEEPER_CACHE", str(ROOT / ".cache"))
    with tempfile.TemporaryDirectory(prefix="bench-monorepo-") as tmp_s, GitHubServer() as gh:
        tmp = Path(tmp_s)
        with verdaccio_session(tmp / "verdaccio") as reg:
            user = reg.unique("bench")
            password = f"pw-{user}-Secret1"
            token = reg.create_token(reg.add_user(user, password), password)
            sides = {}
            for side in ("bare", "ours"):
                root, names = monorepo(tmp / side, reg.unique(f"bench-{side}"), args.packages, "1.0.0")
                for name in names:  # 1.0.0 on the registry: what every package is diffed against
                    reg.publish(root / "packages" / name, token)
                bump(root, names, "1.0.1")
                sides[side] = (root, names, commit_all(root, "release 1.0.1"))
            root, names, _ = sides["bare"]
            bare = bare_release(reg, root, names, token, tmp)
            root, names, sha = sides["ours"]
            repo = gh.repo(REPO, default_branch="main")
            repo.add_commit(sha, "main")
            repo.add_check_run(sha, "test", "success")
            repo.add_workflow_run(sha, run_id=4242).add_job("release", status="in_progress")
            home = tmp / "home"
            home.mkdir()
            result = run_action(
                root,
                {**gh.env(), "GITHUB_REPOSITORY": REPO, "GITHUB_SHA": sha},
                {"ref": "refs/heads/main", "after": sha, "repository": {"fork": False}},
                home=home,
                inputs={
                    "npm-token": token,
                    "github-token": gh.token or "",
                    "registry": reg.url,
                    "packages": "workspaces",
                    "timeout": "1800",
                },
                timeout=1800,
            )
            if result.returncode != 0 or result.outputs.get("published") != "true":
                print(result.describe())
                return 1
            out = json.loads(result.outputs["published-packages"])
            if len(out) != args.packages:
                print(f"ours published {len(out)} of {args.packages}")
                return 1
            load = os.getloadavg()[0]
            print(f"{args.packages}-package release, one run each, whole processes, load average {load:.1f}")
            print(f"  {'bare npm pack + publish x' + str(args.packages):32s} {bare:7.1f} s")
            print(f"  {'ours (packages: workspaces)':32s} {result.wall:7.1f} s")
            print(f"  overhead: +{result.wall - bare:.1f} s, {result.wall / bare:.2f}x")
            return 0


if __name__ == "__main__":
    from _host import private_npm_logs  # bench/ is sys.path[0] when run as a script

    private_npm_logs()
    sys.exit(main())
