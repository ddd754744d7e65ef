"""The package-repo factory, the action harness (with a stand-in entrypoint) and the leak detector."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gatekeeper.config import INPUT_DEFAULTS, env_name
from tests._support.workspace import (
    DEAD_API_URL,
    ActionResult,
    ActionTimeout,
    assert_no_leak,
    commit_all,
    find_leaks,
    git,
    head_sha,
    parse_github_output,
    parse_workflow_commands,
    run_action,
    secret_forms,
)

TOKEN = "npm_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"

STAND_IN = textwrap.dedent(
    """\
    import json, os, sys
    env = dict(os.environ)
    with open(os.path.join(env["GITHUB_WORKSPACE"], "..", "seen.json"), "w") as fh:
        json.dump({"cwd": os.getcwd(), "env": env, "event": json.load(open(env["GITHUB_EVENT_PATH"]))}, fh)
    token = env.get("INPUT_NPM-TOKEN", "")
    if token:
        print("::add-mask::" + token)
    print("::warning file=package.json,line=3,title=npm-gatekeeper%3A x::50%25 done%0Anext line")
    with open(env["GITHUB_OUTPUT"], "a") as fh:
        fh.write("decision=allow\\n")
        fh.write("notes<<ghadelimiter_1\\nline one\\nline two\\nghadelimiter_1\\n")
        fh.write("report=gatekeeper-report.json\\n")
    with open("gatekeeper-report.json", "w") as fh:
        json.dump({"decision": "allow"}, fh)
    with open(env["GITHUB_STEP_SUMMARY"], "a") as fh:
        fh.write("## npm-gatekeeper\\n")
    mode = env.get("STAND_IN_MODE", "")
    if mode == "leak-stderr":
        print("token is " + token, file=sys.stderr)
    elif mode == "leak-tmp-b64":
        open(os.path.join(env["TMPDIR"], "auth"), "w").write("_auth=" + __import__("base64").b64encode(
            ("user:" + token).encode()).decode())
    elif mode == "leak-home-npmrc":
        open(os.path.join(env["HOME"], ".npmrc"), "w").write("//r/:_authToken=" + token + "\\n")
    elif mode == "sleep":
        import time; time.sleep(60)
    sys.exit(int(env.get("STAND_IN_EXIT", "0")))
    """
)


@pytest.fixture
def stand_in(tmp_path: Path) -> list[str]:
    script = tmp_path / "stand_in_entrypoint.py"
    script.write_text(STAND_IN)
    return [sys.executable, str(script)]


def _seen(result: ActionResult) -> dict[str, object]:
    return json.loads((result.workspace.parent / "seen.json").read_text())


def test_package_repo_is_a_real_git_repo_with_a_real_npm_package(package_repo: Callable[..., Path]) -> None:
    repo = package_repo(
        "demo-pkg",
        "1.2.3",
        scripts={"postinstall": "node setup.js"},
        extra_files={"lib/extra.js": "module.exports = 2;\n", "bin/blob": b"\x00\x01"},
    )

    pkg = json.loads((repo / "package.json").read_text())
    workflow = (repo / ".github" / "workflows" / "release.yml").read_text()
    packed = subprocess.run(
        ["npm", "pack", "--dry-run", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "npm_config_cache": str(repo.parent / "c")},
    )

    assert (pkg["name"], pkg["version"], pkg["scripts"]) == ("demo-pkg", "1.2.3", {"postinstall": "node setup.js"})
    assert git(repo, "branch", "--show-current") == "main"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-list", "--count", "HEAD") == "1"
    assert "uses: OWNER/npm-gatekeeper@0123456789abcdef0123456789abcdef01234567" in workflow  # pinned (issue 21)
    assert "npm-token: ${{ secrets.NPM_TOKEN }}" in workflow
    files = {f["path"] for f in json.loads(packed.stdout)[0]["files"]}
    assert {"package.json", "index.js", "README.md", "lib/extra.js", "bin/blob"} <= files
    assert (repo / "bin" / "blob").read_bytes() == b"\x00\x01"


def test_package_repo_options(package_repo: Callable[..., Path]) -> None:
    bare = package_repo("@acme/thing", "0.1.0", workflow=None, manifest={"bin": {"thing": "index.js"}})
    sha = head_sha(bare)

    (bare / "CHANGELOG.md").write_text("x\n")
    new_sha = commit_all(bare, "docs")

    assert not (bare / ".github").exists()
    assert json.loads((bare / "package.json").read_text())["bin"] == {"thing": "index.js"}
    assert new_sha != sha and git(bare, "rev-list", "--count", "HEAD") == "2"


def test_run_action_builds_the_runner_environment_from_scratch(
    package_repo: Callable[..., Path], stand_in: list[str], action_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_ONLY_CANARY", "must-not-pass")
    repo = package_repo()

    result = run_action(
        repo,
        {"GITHUB_REPOSITORY": "acme/widget", "GITHUB_API_URL": "http://127.0.0.1:1234"},
        {"ref": "refs/heads/main", "after": "abc"},
        action_home,
        inputs={"npm-token": TOKEN},
        argv=stand_in,
    )
    seen = _seen(result)
    env = seen["env"]
    assert isinstance(env, dict)

    assert result.returncode == 0, result.describe()
    assert seen["cwd"] == str(repo.resolve())
    assert seen["event"] == {"ref": "refs/heads/main", "after": "abc"}
    assert "HOST_ONLY_CANARY" not in env
    assert env["HOME"] == str(action_home)
    assert Path(env["TMPDIR"]) == result.tmpdir and result.tmpdir.is_dir()
    assert not str(result.tmpdir).startswith(str(repo))
    assert env["INPUT_NPM-TOKEN"] == TOKEN
    for name in INPUT_DEFAULTS:
        assert env_name(name) in env
    assert env["INPUT_MODE"] == "publish" and env["INPUT_PACKAGE-PATH"] == "."  # action.yml defaults
    assert env["INPUT_GITHUB-TOKEN"] == ""
    assert result.run_dir.parent == action_home.parent  # inside pytest's tmp_path
    assert (env["GITHUB_ACTIONS"], env["CI"]) == ("true", "true")
    assert env["GITHUB_WORKSPACE"] == str(repo.resolve())
    assert env["GITHUB_SHA"] == head_sha(repo)
    assert (env["GITHUB_REF"], env["GITHUB_REF_NAME"], env["GITHUB_REF_TYPE"]) == ("refs/heads/main", "main", "branch")
    assert env["GITHUB_WORKFLOW_REF"] == "acme/widget/.github/workflows/release.yml@refs/heads/main"
    assert env["GITHUB_API_URL"] == "http://127.0.0.1:1234"
    for key in ("GITHUB_EVENT_NAME", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB", "RUNNER_NAME"):
        assert env[key]


def test_run_action_default_api_url_goes_nowhere(package_repo: Callable[..., Path], stand_in: list[str]) -> None:
    result = run_action(package_repo(), input_defaults=False, argv=stand_in)

    env = _seen(result)["env"]
    assert isinstance(env, dict)
    assert all(env[env_name(name)] == "" for name in INPUT_DEFAULTS)  # `with: {x: ''}` everywhere
    assert env["GITHUB_API_URL"] == DEAD_API_URL and DEAD_API_URL.startswith("http://127.0.0.1:")
    assert Path(env["HOME"]).is_dir() and not any(Path(env["HOME"]).iterdir())
    assert result.run_dir.parent == result.workspace.parent  # not in the workspace, not in /tmp


@pytest.mark.parametrize(
    ("ref", "name", "kind"),
    [
        ("refs/tags/v1.2.3", "v1.2.3", "tag"),
        ("refs/pull/12/merge", "12/merge", "branch"),
        ("refs/heads/1.x", "1.x", "branch"),
    ],
)
def test_ref_name_and_type(
    package_repo: Callable[..., Path], stand_in: list[str], ref: str, name: str, kind: str
) -> None:
    result = run_action(package_repo(), {"GITHUB_REF": ref}, argv=stand_in)

    env = _seen(result)["env"]
    assert isinstance(env, dict)
    assert (env["GITHUB_REF_NAME"], env["GITHUB_REF_TYPE"]) == (name, kind)


def test_run_action_collects_outputs_summary_report_and_commands(
    package_repo: Callable[..., Path], stand_in: list[str]
) -> None:
    result = run_action(package_repo(), {"STAND_IN_EXIT": "1"}, inputs={"npm-token": TOKEN}, argv=stand_in)

    assert result.returncode == 1
    assert result.outputs == {"decision": "allow", "notes": "line one\nline two", "report": "gatekeeper-report.json"}
    assert result.report == {"decision": "allow"}
    assert result.summary == "## npm-gatekeeper\n"
    assert result.masks == [TOKEN]
    (warning,) = result.annotations("warning")
    assert warning.properties == {"file": "package.json", "line": "3", "title": "npm-gatekeeper: x"}
    assert warning.message == "50% done\nnext line"


def test_unknown_input_names_are_refused(package_repo: Callable[..., Path], stand_in: list[str]) -> None:
    with pytest.raises(ValueError, match="npm_token"):
        run_action(package_repo(), inputs={"npm_token": TOKEN}, argv=stand_in)


def test_timeout_kills_the_action(package_repo: Callable[..., Path], stand_in: list[str]) -> None:
    started = time.monotonic()

    with pytest.raises(ActionTimeout):
        run_action(package_repo(), {"STAND_IN_MODE": "sleep"}, timeout=2, argv=stand_in)

    assert time.monotonic() - started < 20


def test_parse_github_output_forms_and_errors() -> None:
    text = "a=1\nb=x=y\n\nc<<EOF\nl1\n\nl3\nEOF\nd=\na=2\n"

    assert parse_github_output(text) == {"a": "2", "b": "x=y", "c": "l1\n\nl3", "d": ""}
    with pytest.raises(ValueError, match="delimiter"):
        parse_github_output("c<<EOF\nnever closed\n")
    with pytest.raises(ValueError, match="invalid"):
        parse_github_output("no equals sign\n")


def test_parse_workflow_commands() -> None:
    cmds = parse_workflow_commands("plain\n::error file=a%2Cb.js,line=1::bad%25 thing\n::add-mask::s3cret\n")

    assert [(c.name, c.properties, c.message) for c in cmds] == [
        ("error", {"file": "a,b.js", "line": "1"}, "bad% thing"),
        ("add-mask", {}, "s3cret"),
    ]


def test_clean_run_has_no_leak(package_repo: Callable[..., Path], stand_in: list[str]) -> None:
    result = run_action(package_repo(), inputs={"npm-token": TOKEN}, argv=stand_in)

    assert result.masks == [TOKEN]  # the add-mask line itself is allowed
    assert_no_leak(result, TOKEN)


@pytest.mark.parametrize(
    ("mode", "where"),
    [("leak-stderr", "stderr"), ("leak-tmp-b64", "tmp/auth"), ("leak-home-npmrc", ".npmrc")],
)
def test_leaks_are_found(package_repo: Callable[..., Path], stand_in: list[str], mode: str, where: str) -> None:
    result = run_action(package_repo(), {"STAND_IN_MODE": mode}, inputs={"npm-token": TOKEN}, argv=stand_in)

    leaks = find_leaks(result, TOKEN)

    assert len(leaks) == 1 and where in leaks[0], leaks
    with pytest.raises(AssertionError, match="secret leaked"):
        assert_no_leak(result, TOKEN)


def test_leak_in_git_history_and_inside_a_tarball_is_found(
    package_repo: Callable[..., Path], stand_in: list[str], tmp_path: Path
) -> None:
    repo = package_repo()
    (repo / ".npmrc").write_text(f"//registry.npmjs.org/:_authToken={TOKEN}\n")
    commit_all(repo, "oops")
    (repo / ".npmrc").unlink()
    commit_all(repo, "remove it")  # gone from the tree, still in the objects (zlib-compressed)
    result = run_action(repo, argv=stand_in)
    tarball = tmp_path / "pkg.tgz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = f"token={TOKEN}".encode()
        info = tarfile.TarInfo("package/.npmrc")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    tarball.write_bytes(gzip.compress(buf.getvalue()))

    leaks = find_leaks(result, TOKEN, extra_paths=[tarball])

    assert any("git objects" in leak for leak in leaks), leaks
    assert any(str(tarball) in leak for leak in leaks), leaks
    assert not any(".npmrc" in leak and "file" in leak and str(repo) in leak for leak in leaks)


def test_secret_forms_catch_base64_at_any_alignment() -> None:
    forms = secret_forms(TOKEN)

    for prefix in ("", "u", "us", "user:", "user:x"):
        encoded = base64.b64encode((prefix + TOKEN + "\n").encode()).decode()
        assert any(f in encoded for f in forms), prefix
    assert not any(f in base64.b64encode(b"user:something-else-entirely").decode() for f in forms)
    with pytest.raises(ValueError):
        secret_forms("short")
