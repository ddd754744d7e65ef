"""Registry resolution as npm does it (`--registry`, env, project .npmrc, user .npmrc, `@scope:registry`),
read safely (no auth value is ever kept or shown), and `gatekeeper diff` using it against a real registry."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gatekeeper._internal.npmrc import PUBLIC_REGISTRY, read_npmrc, resolve_registry
from gatekeeper.diffcli import run_diff
from gatekeeper.errors import ConfigError

SECRET = "npm_" + "S3cr3tT0k3n" * 3


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder (package.json) with a sub folder, and an empty user config."""
    root = tmp_path / "proj"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "package.json").write_text('{"name": "x", "version": "1.0.0"}')
    (tmp_path / "home").mkdir()
    return root


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), **extra}


def test_default_is_the_public_registry(project: Path, tmp_path: Path) -> None:
    reg = resolve_registry(None, "left-pad", env=env_for(tmp_path), cwd=project)
    assert (reg.url, reg.source) == (PUBLIC_REGISTRY, "default")


def test_project_npmrc_is_found_from_a_sub_folder(project: Path, tmp_path: Path) -> None:
    (project / ".npmrc").write_text(
        f"; comment\n//npm.acme.test/:_authToken={SECRET}\nregistry = https://npm.acme.test/\n"
    )
    reg = resolve_registry(None, "left-pad", env=env_for(tmp_path), cwd=project / "src" / "deep")
    assert reg.url == "https://npm.acme.test/" and reg.source == f"{project / '.npmrc'} (registry)"
    assert SECRET not in repr(reg)


def test_user_npmrc_from_home_and_from_npm_config_userconfig(project: Path, tmp_path: Path) -> None:
    (tmp_path / "home" / ".npmrc").write_text("registry=https://home.test/registry\n")
    reg = resolve_registry(None, "x", env=env_for(tmp_path), cwd=project)
    assert reg.url == "https://home.test/registry/" and str(tmp_path / "home" / ".npmrc") in reg.source
    other = tmp_path / "other-npmrc"
    other.write_text('registry="https://other.test/"\n')
    reg = resolve_registry(None, "x", env=env_for(tmp_path, NPM_CONFIG_USERCONFIG=str(other)), cwd=project)
    assert reg.url == "https://other.test/" and str(other) in reg.source


def test_precedence_flag_env_project_user(project: Path, tmp_path: Path) -> None:
    (tmp_path / "home" / ".npmrc").write_text("registry=https://user.test/\n")
    env = env_for(tmp_path)
    assert resolve_registry(None, "x", env=env, cwd=project).url == "https://user.test/"
    (project / ".npmrc").write_text("registry=https://project.test/\n")
    assert resolve_registry(None, "x", env=env, cwd=project).url == "https://project.test/"
    env["npm_config_registry"] = "https://env.test/"
    reg = resolve_registry(None, "x", env=env, cwd=project)
    assert (reg.url, reg.source) == ("https://env.test/", "env npm_config_registry")
    env = {**env_for(tmp_path), "NPM_CONFIG_REGISTRY": "https://upper.test/"}  # any case, as npm
    assert resolve_registry(None, "x", env=env, cwd=project).url == "https://upper.test/"
    env["NPM_CONFIG_REGISTRY"] = ""  # empty values are ignored, as npm does
    assert resolve_registry(None, "x", env=env, cwd=project).url == "https://project.test/"
    reg = resolve_registry("http://flag.test", "x", env=env, cwd=project)
    assert (reg.url, reg.source) == ("http://flag.test/", "--registry")


def test_scoped_registry_wins_for_scoped_names_only(project: Path, tmp_path: Path) -> None:
    (tmp_path / "home" / ".npmrc").write_text("@acme:registry=https://acme.test/\n")
    env = env_for(tmp_path, npm_config_registry="https://env.test/")
    scoped = resolve_registry(None, "@acme/widget", env=env, cwd=project)
    assert scoped.url == "https://acme.test/" and "(@acme:registry)" in scoped.source
    assert resolve_registry(None, "@other/widget", env=env, cwd=project).url == "https://env.test/"
    assert resolve_registry(None, "widget", env=env, cwd=project).url == "https://env.test/"
    env["npm_config_@acme:registry"] = "https://acme-env.test/"
    assert resolve_registry(None, "@acme/widget", env=env, cwd=project).url == "https://acme-env.test/"


def test_env_references_are_replaced_and_missing_ones_fail_without_showing_values(
    project: Path, tmp_path: Path
) -> None:
    (project / ".npmrc").write_text("registry=https://${REG_HOST}/npm/\n")
    reg = resolve_registry(None, "x", env=env_for(tmp_path, REG_HOST="npm.corp.test"), cwd=project)
    assert reg.url == "https://npm.corp.test/npm/"
    (project / ".npmrc").write_text("registry=${MY_TOKEN}\n")
    with pytest.raises(ConfigError) as exc:
        resolve_registry(None, "x", env=env_for(tmp_path, MY_TOKEN=SECRET), cwd=project)
    assert SECRET not in exc.value.diagnostic() and ".npmrc" in exc.value.diagnostic()


def test_only_the_asked_keys_are_ever_held(tmp_path: Path) -> None:
    rc = tmp_path / "npmrc"
    rc.write_text(
        f"//registry.npmjs.org/:_authToken={SECRET}\n_auth={SECRET}\n_password={SECRET}\n"
        "registry=https://r.test/\n[section]\nregistry=https://ignored.test/\n"
    )
    values = read_npmrc(rc, ["registry", "@a:registry"], {})
    assert values == {"registry": "https://r.test/"}


def test_a_huge_or_unreadable_npmrc_is_a_clear_error(tmp_path: Path) -> None:
    rc = tmp_path / "npmrc"
    rc.write_bytes(b"x" * (300 * 1024))
    with pytest.raises(ConfigError, match="larger than"):
        read_npmrc(rc, ["registry"], {})


def test_registry_url_with_credentials_is_shown_without_them(project: Path, tmp_path: Path) -> None:
    (project / ".npmrc").write_text("registry=https://user:pa55word@npm.corp.test/\n")
    reg = resolve_registry(None, "x", env=env_for(tmp_path), cwd=project)
    assert reg.shown == "https://npm.corp.test/" and "pa55word" not in reg.shown


# ------------------------------------------------------------------ gatekeeper diff, against Verdaccio


@pytest.fixture(scope="module")
def releases(verdaccio: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An unscoped and a scoped package, two releases each, on Verdaccio only (not on the public registry)."""
    from tests.test_diff_cli import write_package

    token = verdaccio.add_user(verdaccio.unique("gk-rc-user"), "pw-npmrc-1")
    root = tmp_path_factory.mktemp("npmrc-releases")
    names = {"plain": verdaccio.unique("gk-rc"), "scoped": "@gkrc/" + verdaccio.unique("widget")}
    for key, name in names.items():
        for version in ("1.0.0", "1.1.0"):
            pkg = write_package(root / key / version, name, version)
            if version == "1.1.0":
                (pkg / "extra.js").write_text("exports.x = 1\n")
            verdaccio.publish(pkg, token)
    return {"url": verdaccio.url, **names}


def _diff(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_diff(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.lower().startswith("npm_config_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("npm_config_globalconfig", str(tmp_path / "no-global-npmrc"))  # never the host's own
    monkeypatch.setenv("GATEKEEPER_REGISTRY_RETRIES", "0")
    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    (proj / "package.json").write_text("{}")
    monkeypatch.chdir(proj)
    return proj


def test_diff_reads_the_project_npmrc_and_says_so(
    releases: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    proj = _isolate(monkeypatch, tmp_path)
    (proj / ".npmrc").write_text(f"registry={releases['url']}\n//127.0.0.1/:_authToken={SECRET}\n")
    code, out, err = _diff(f"{releases['plain']}@1.1.0")
    assert code == 0, err
    url = releases["url"].rstrip("/") + "/"
    assert f"registry:  {url} (from {proj / '.npmrc'} (registry))" in out
    assert "+ extra.js" in out and SECRET not in out + err


def test_diff_uses_the_scoped_registry_of_the_user_npmrc(
    releases: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolate(monkeypatch, tmp_path)
    (tmp_path / "home" / ".npmrc").write_text(f"@gkrc:registry={releases['url']}\n")
    code, out, err = _diff(releases["scoped"] + "@1.1.0", "--format", "json")
    data = json.loads(out)
    assert code == 0, err
    (reg,) = data["compared"]["registries"]
    assert reg["source"].endswith("(@gkrc:registry)") and reg["url"].startswith(releases["url"].rstrip("/"))
    assert data["previous"]["version"] == "1.0.0"


def test_diff_uses_npm_config_registry_from_the_environment(
    releases: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("npm_config_registry", releases["url"])
    code, out, _ = _diff(releases["plain"], "--against", f"{releases['plain']}@1.0.0")
    assert code == 0 and "(from env npm_config_registry)" in out and "+ extra.js" in out


def test_a_package_missing_from_the_configured_registry_names_it(
    releases: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("npm_config_registry", releases["url"])
    code, out, err = _diff("gk-no-such-package-anywhere")
    assert code == 2 and out == ""
    assert "is not on the registry" in err and "(from env npm_config_registry)" in err
    assert "no file or directory gk-no-such-package-anywhere here" in err


# ------------------------------------------------------------------ global and builtin config, checked against npm


def _npm_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean env for npm and for us: temp HOME, PATH (the real node/npm), no npm_config_* of the host."""
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}
    return {**base, "npm_config_cache": str(tmp_path / "npm-cache"), "npm_config_update_notifier": "false", **extra}


def _npm_registry(env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        ["npm", "config", "get", "registry"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


GLOBAL = "https://global.test/"
#: npm's default global prefix here: two folders up from the real path of the node on PATH.
NODE_PREFIX = Path(os.path.realpath(shutil.which("node") or "/usr/bin/node")).parent.parent


@pytest.mark.parametrize(
    "where",
    ["PREFIX", "npm_config_prefix", "npm_config_globalconfig", "user prefix", "user globalconfig", "DESTDIR"],
)
def test_global_npmrc_is_found_where_npm_finds_it(where: str, project: Path, tmp_path: Path) -> None:
    """The global config at `$PREFIX/etc/npmrc` (or `globalconfig`), located as npm does: each case is also
    asked of the real npm (`npm config get registry` with the same env, from the same folder)."""
    target = {
        "PREFIX": tmp_path / "pfx-env" / "etc" / "npmrc",
        "npm_config_prefix": tmp_path / "pfx-cfg" / "etc" / "npmrc",
        "npm_config_globalconfig": tmp_path / "g" / "global-npmrc",
        "user prefix": tmp_path / "home" / "pfx-user" / "etc" / "npmrc",
        "user globalconfig": tmp_path / "g2" / "npmrc",
        # no setting: two folders up from the real node on PATH, under DESTDIR (never the host's own file)
        "DESTDIR": tmp_path / "dest" / NODE_PREFIX.relative_to("/") / "etc" / "npmrc",
    }[where]
    extra = {
        "PREFIX": {"PREFIX": str(tmp_path / "pfx-env")},
        "npm_config_prefix": {"npm_config_prefix": str(tmp_path / "pfx-cfg")},
        "npm_config_globalconfig": {"npm_config_globalconfig": str(target)},
        "user prefix": {},
        "user globalconfig": {},
        "DESTDIR": {"DESTDIR": str(tmp_path / "dest")},
    }[where]
    if where == "user prefix":
        (tmp_path / "home" / ".npmrc").write_text("prefix=~/pfx-user\n")
    if where == "user globalconfig":
        (tmp_path / "home" / ".npmrc").write_text(f"globalconfig={target}\n")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"registry={GLOBAL}\n")
    env = _npm_env(tmp_path, **extra)
    reg = resolve_registry(None, "x", env=env, cwd=project)
    assert (reg.url, reg.source) == (GLOBAL, f"{target} (registry)")
    assert _npm_registry(env, project) == GLOBAL  # npm reads the same file


def test_precedence_env_project_user_global_builtin(project: Path, tmp_path: Path) -> None:
    """Each level hides the ones below it; npm's builtin `npmrc` (in the npm package on PATH) is the lowest."""
    npm_root = tmp_path / "fake-npm"
    (npm_root / "bin").mkdir(parents=True)
    (npm_root / "package.json").write_text('{"name": "npm", "version": "99.0.0"}')
    (npm_root / "bin" / "npm-cli.js").write_text("#!/bin/sh\n")
    (npm_root / "bin" / "npm-cli.js").chmod(0o755)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "npm").symlink_to(npm_root / "bin" / "npm-cli.js")
    env = {"HOME": str(tmp_path / "home"), "PATH": str(bindir), "PREFIX": str(tmp_path / "pfx")}
    (npm_root / "npmrc").write_text("registry=https://builtin.test/\n")
    assert resolve_registry(None, "x", env=env, cwd=project).source == f"{npm_root / 'npmrc'} (registry)"
    (tmp_path / "pfx" / "etc").mkdir(parents=True)
    (tmp_path / "pfx" / "etc" / "npmrc").write_text("registry=https://global.test/\n")
    assert resolve_registry(None, "x", env=env, cwd=project).url == "https://global.test/"
    (tmp_path / "home" / ".npmrc").write_text("registry=https://user.test/\n")
    assert resolve_registry(None, "x", env=env, cwd=project).url == "https://user.test/"
    (project / ".npmrc").write_text("registry=https://project.test/\n")
    assert resolve_registry(None, "x", env=env, cwd=project).url == "https://project.test/"
    env["npm_config_registry"] = "https://env.test/"
    assert resolve_registry(None, "x", env=env, cwd=project).url == "https://env.test/"
    # the builtin config may move the global config (as Debian's npm does with globalconfig=/etc/npmrc)
    moved = tmp_path / "debian-npmrc"
    moved.write_text("@acme:registry=https://acme-global.test/\n")
    (npm_root / "npmrc").write_text(f"globalconfig={moved}\n")
    reg = resolve_registry(None, "@acme/x", env=env, cwd=project)
    assert (reg.url, reg.source) == ("https://acme-global.test/", f"{moved} (@acme:registry)")
    assert os.path.realpath(bindir / "npm") == str(npm_root / "bin" / "npm-cli.js")


def test_an_env_without_path_reads_no_global_config(project: Path, tmp_path: Path) -> None:
    """No PATH, no PREFIX: no node to derive the prefix from, so no global file (never the host's)."""
    assert resolve_registry(None, "x", env=env_for(tmp_path), cwd=project).source == "default"
