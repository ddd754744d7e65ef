"""The npm CLI adapter with the real npm and Verdaccio: pack once, publish that file, token handling.

A shim first on PATH records how the real npm is called (argv, the userconfig's mode and place,
the environment) and then runs the real npm.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from gatekeeper._internal import npm as npm_cli
from gatekeeper.errors import NpmError
from gatekeeper.secret import Secret
from tests._support.verdaccio import Verdaccio
from tests._support.workspace import make_package_repo

SHIM = """#!{python}
import json, os, stat, sys
argv = sys.argv[1:]
rec = {{"argv": argv, "env_keys": sorted(os.environ), "cwd": os.getcwd()}}
if "--userconfig" in argv:
    path = argv[argv.index("--userconfig") + 1]
    st = os.stat(path)
    rec["userconfig"] = path
    rec["mode"] = stat.S_IMODE(st.st_mode)
    rec["npmrc"] = open(path).read()
with open({log!r}, "a") as fh:
    fh.write(json.dumps(rec) + "\\n")
os.execv({npm!r}, [{npm!r}, *argv])
"""


@pytest.fixture
def npm_shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import shutil

    real = shutil.which("npm")
    assert real
    bindir = tmp_path / "shim"
    bindir.mkdir()
    log = tmp_path / "npm-calls.jsonl"
    shim = bindir / "npm"
    shim.write_text(SHIM.format(python=sys.executable, log=str(log), npm=real))
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def _calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_publish_uses_a_private_userconfig_outside_the_workspace(
    verdaccio: Verdaccio,
    tmp_path: Path,
    npm_shim: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    user = verdaccio.unique("npmcli")
    login = verdaccio.add_user(user, "pw-npmcli-1")
    name = verdaccio.unique("npmcli-pkg")
    ws = make_package_repo(tmp_path / "ws", name, "1.0.0")
    monkeypatch.setenv("NODE_AUTH_TOKEN", login)  # must not reach the child
    monkeypatch.setenv("INPUT_NPM-TOKEN", login)
    dest = npm_cli.private_tempdir(ws, "pack-")
    request.addfinalizer(lambda: shutil.rmtree(dest, ignore_errors=True))  # leave no pack-* dir behind
    packed = npm_cli.pack(ws, dest)
    assert packed.name == name and packed.version == "1.0.0"
    assert packed.integrity.startswith("sha512-") and packed.path.is_file()
    result = npm_cli.publish(packed.path, registry=verdaccio.url, token=Secret(login), workspace=ws)
    assert result.ok, result.message
    call = next(c for c in _calls(npm_shim) if c["argv"][:1] == ["publish"])
    assert call["argv"][1] == str(packed.path) and "--ignore-scripts" in call["argv"]
    assert call["mode"] == 0o600
    userconfig = Path(call["userconfig"])
    assert ws not in userconfig.parents and not userconfig.exists()  # outside, and deleted afterwards
    assert not userconfig.parent.exists()
    assert login in call["npmrc"]  # the token reaches npm only through that file
    assert login not in " ".join(call["argv"])
    assert "NODE_AUTH_TOKEN" not in call["env_keys"] and "INPUT_NPM-TOKEN" not in call["env_keys"]
    doc = verdaccio.packument(name)
    assert doc is not None and doc["versions"]["1.0.0"]["dist"]["integrity"] == packed.integrity


def test_publish_conflict_is_reported_not_raised(
    verdaccio: Verdaccio, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    user = verdaccio.unique("npmcli")
    login = verdaccio.add_user(user, "pw-npmcli-2")
    name = verdaccio.unique("npmcli-dup")
    ws = make_package_repo(tmp_path / "ws", name, "1.0.0")
    verdaccio.publish(ws, login)
    dest = npm_cli.private_tempdir(ws, "pack-")
    request.addfinalizer(lambda: shutil.rmtree(dest, ignore_errors=True))
    packed = npm_cli.pack(ws, dest)
    result = npm_cli.publish(packed.path, registry=verdaccio.url, token=Secret(login), workspace=ws)
    assert not result.ok and result.conflict
    assert login not in result.message


def test_pack_failure_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{ not json")
    with pytest.raises(NpmError, match="npm pack` failed") as exc:
        npm_cli.pack(tmp_path, tmp_path)
    assert "Nothing was published" in exc.value.diagnostic()


def test_private_tempdir_never_inside_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    ws = tmp_path / "ws"
    (ws / "tmp").mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(ws / "tmp"))
    d = npm_cli.private_tempdir(ws, "x-")
    try:
        assert ws not in d.parents
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    finally:
        d.rmdir()


def test_auth_key_is_the_registry_nerf_dart() -> None:
    assert npm_cli.npmrc_auth_key("https://registry.npmjs.org/") == "//registry.npmjs.org/"
    assert npm_cli.npmrc_auth_key("http://127.0.0.1:4873") == "//127.0.0.1:4873/"
    assert npm_cli.npmrc_auth_key("https://npm.example.test/api/npm/") == "//npm.example.test/api/npm/"


def test_publish_refuses_a_tarball_that_changed_after_the_gates(tmp_path: Path) -> None:
    repo = make_package_repo(tmp_path / "pkg", "rehash-demo")
    dest = tmp_path / "out"
    dest.mkdir()
    packed = npm_cli.pack(repo, dest)
    packed.path.write_bytes(packed.path.read_bytes() + b"\0")  # swapped between the gates and the upload
    with pytest.raises(NpmError, match="changed after the gates checked it"):
        npm_cli.publish(
            packed.path,
            registry="http://127.0.0.1:9/",
            token=Secret("npm_" + "r" * 36),
            workspace=repo,
            expected_integrity=packed.integrity,
        )


def test_npm_children_keep_cache_logs_and_tmp_in_their_private_dir(tmp_path: Path) -> None:
    env = npm_cli.npm_env(tmp_path)
    assert env["NPM_CONFIG_LOGS_MAX"] == "0"  # npm writes no debug log at all
    for key in ("NPM_CONFIG_CACHE", "NPM_CONFIG_LOGS_DIR", "TMPDIR"):
        assert Path(env[key]).is_relative_to(tmp_path), key
