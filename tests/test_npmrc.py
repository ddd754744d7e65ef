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

from gatekeeper._internal.npmrc import PUBLIC_REGISTRY, nerf_darts, read_npmrc, registry_auth, resolve_registry
from gatekeeper.errors import ConfigError
from gatekeeper.modes.diff import run_diff

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


# ------------------------------------------------------------------ the registry's own token from npm's config

TOKEN = "npm_" + "R1ghtH0stT0k3n" * 3
OTHER = "npm_" + "0th3rH0stT0k3n" * 3


def test_nerf_darts_walk_up_the_path_scheme_less_with_the_port() -> None:
    assert nerf_darts("https://npm.ACME.test/api/npm/") == [
        "//npm.acme.test/api/npm/",
        "//npm.acme.test/api/npm",
        "//npm.acme.test/api/",
        "//npm.acme.test/api",
        "//npm.acme.test/",
        "//npm.acme.test",
    ]
    assert nerf_darts("http://127.0.0.1:4873/") == ["//127.0.0.1:4873/", "//127.0.0.1:4873"]
    assert nerf_darts("https://r.test:443/") == nerf_darts("http://r.test/") == ["//r.test/", "//r.test"]


def test_the_token_of_exactly_this_registry_url_is_used(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As npm-registry-fetch's getAuth: the longest matching path wins, the host's own entry else; another
    host, another port or a sibling path never matches, and their values are never even read."""
    from gatekeeper._internal import npmrc

    (project / ".npmrc").write_text(
        f"//npm.acme.test/api/npm/:_authToken={TOKEN}\n//npm.acme.test/:_authToken=host-wide-{TOKEN}\n"
        f"//npm.acme.test:8443/:_authToken={OTHER}\n//evil.test/:_authToken={OTHER}\n"
        f"//npm.acme.test.evil.test/:_authToken={OTHER}\n//npm.acme.test/api/npm-other/:_authToken={OTHER}\n"
    )
    held: list[dict[str, str]] = []
    real = npmrc.read_npmrc

    def spy(path: Path, keys: list[str], env: Any) -> dict[str, str]:
        held.append(real(path, keys, env))
        return held[-1]

    monkeypatch.setattr(npmrc, "read_npmrc", spy)
    env = env_for(tmp_path)
    auth = registry_auth("https://npm.acme.test/api/npm/", env=env, cwd=project)
    assert auth is not None and (auth.scheme, auth.secret.reveal()) == ("Bearer", TOKEN)
    assert auth.source == f"{project / '.npmrc'} (//npm.acme.test/api/npm/:_authToken)"
    assert TOKEN not in repr(auth) and TOKEN not in str(auth)
    http = registry_auth("http://npm.acme.test/api/npm/", env=env, cwd=project)  # scheme-less, as npm
    assert http is not None and http.secret.reveal() == TOKEN
    host_wide = registry_auth("https://npm.acme.test/other/", env=env, cwd=project)
    assert host_wide is not None and host_wide.secret.reveal() == f"host-wide-{TOKEN}"
    assert registry_auth("https://npm.acme.test:9999/", env=env, cwd=project) is None
    assert registry_auth("https://acme.test/", env=env, cwd=project) is None
    assert not any(OTHER in value for values in held for value in values.values()), "another host's token was read"


def test_env_references_env_entries_and_precedence(project: Path, tmp_path: Path) -> None:
    (tmp_path / "home" / ".npmrc").write_text("//r.test/:_authToken=${GK_USER_TOKEN}\n")
    env = env_for(tmp_path, GK_USER_TOKEN=TOKEN)
    auth = registry_auth("https://r.test/", env=env, cwd=project)
    assert auth is not None and auth.secret.reveal() == TOKEN and "(//r.test/:_authToken)" in auth.source
    assert registry_auth("https://r.test/", env=env_for(tmp_path), cwd=project) is None  # ${VAR} unset: skipped
    (project / ".npmrc").write_text(f"//r.test/:_authToken=project-{TOKEN}\n")
    assert registry_auth("https://r.test/", env=env, cwd=project).secret.reveal() == f"project-{TOKEN}"  # type: ignore[union-attr]
    env["npm_config_//r.test/:_authToken"] = f"env-{TOKEN}"
    auth = registry_auth("https://r.test/", env=env, cwd=project)
    assert auth is not None and auth.secret.reveal() == f"env-{TOKEN}"
    assert auth.source == "env npm_config_//r.test/:_authToken"


def test_auth_and_username_password_are_basic(project: Path, tmp_path: Path) -> None:
    import base64

    (project / ".npmrc").write_text(
        "//basic.test/:_auth=dXNlcjpwdw==\n"
        f"//login.test/:username=alice\n//login.test/:_password={base64.b64encode(b'pw-1').decode()}\n"
        "//bad.test/:username=alice\n//bad.test/:_password=not base64!\n"
    )
    env = env_for(tmp_path)
    basic = registry_auth("https://basic.test/", env=env, cwd=project)
    assert basic is not None and (basic.scheme, basic.secret.reveal()) == ("Basic", "dXNlcjpwdw==")
    login = registry_auth("https://login.test/", env=env, cwd=project)
    assert login is not None and login.scheme == "Basic"
    assert base64.b64decode(login.secret.reveal()) == b"alice:pw-1"
    with pytest.raises(ConfigError, match="not base64") as exc:
        registry_auth("https://bad.test/", env=env, cwd=project)
    assert "not base64!" not in exc.value.diagnostic()


@pytest.fixture
def front(releases: dict[str, Any]) -> Any:
    """A loopback proxy in front of Verdaccio that records every request's headers."""
    from tests._support.faultproxy import FaultProxy

    proxy = FaultProxy(releases["url"]).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def test_diff_sends_the_npmrc_token_to_its_registry_only_and_never_prints_it(
    releases: dict[str, Any], front: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    proj = _isolate(monkeypatch, tmp_path)
    port = front.port
    (proj / ".npmrc").write_text(
        f"registry={front.url}\n//127.0.0.1:{port}/:_authToken=${{GK_REG_TOKEN}}\n"
        f"//127.0.0.1:1/:_authToken={OTHER}\n//localhost:{port}/:_authToken={OTHER}\n"
    )
    monkeypatch.setenv("GK_REG_TOKEN", TOKEN)
    monkeypatch.setenv("NODE_AUTH_TOKEN", OTHER)  # the registry's own npmrc entry wins over the generic one
    code, out, err = _diff(f"{releases['plain']}@1.1.0")
    assert code == 0, err
    seen = front.seen(releases["plain"])
    assert seen and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in seen), seen
    assert f"; credential from {proj / '.npmrc'} (//127.0.0.1:{port}/:_authToken))" in out
    assert TOKEN not in out + err and OTHER not in out + err
    code, out, _ = _diff(f"{releases['plain']}@1.1.0", "--format", "json")
    (reg,) = json.loads(out)["compared"]["registries"]
    assert reg["credential"].endswith(f"(//127.0.0.1:{port}/:_authToken)") and TOKEN not in out


def test_the_env_token_never_goes_to_a_registry_named_only_by_config_files(
    releases: dict[str, Any], front: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A cloned repository's .npmrc can name any host as its registry: NODE_AUTH_TOKEN / NPM_TOKEN (meant for
    the registry the maintainer chose) must not follow it there. npm itself sends them only where an npmrc
    entry references them; config-file registries get only their own `//host/:_authToken` entries."""
    proj = _isolate(monkeypatch, tmp_path)
    (proj / ".npmrc").write_text(f"registry={front.url}\n")
    monkeypatch.setenv("NODE_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("NPM_TOKEN", OTHER)
    code, out, err = _diff(f"{releases['plain']}@1.1.0")
    assert code == 0, err
    seen = front.seen(releases["plain"])
    assert seen and all("authorization" not in r.headers for r in seen), seen
    assert TOKEN not in out + err and OTHER not in out + err
    # named by the maintainer on the command line (or npm_config_registry): the env token is theirs to send
    code, out, err = _diff(f"{releases['plain']}@1.1.0", "--registry", front.url)
    assert code == 0, err
    assert front.seen(releases["plain"])[-1].headers.get("authorization") == f"Bearer {TOKEN}"


def test_diff_basic_auth_from_npmrc(
    releases: dict[str, Any], front: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    proj = _isolate(monkeypatch, tmp_path)
    (proj / ".npmrc").write_text(f"registry={front.url}\n//127.0.0.1:{front.port}/:_auth=Z2s6cHctMQ==\n")
    code, _, err = _diff(f"{releases['plain']}@1.1.0")
    assert code == 0, err
    assert {r.headers.get("authorization") for r in front.seen(releases["plain"])} == {"Basic Z2s6cHctMQ=="}


def test_a_redirect_to_another_host_never_carries_the_npmrc_token(
    releases: dict[str, Any], front: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests._support.faultproxy import Capture, Redirect

    proj = _isolate(monkeypatch, tmp_path)
    (proj / ".npmrc").write_text(f"registry={front.url}\n//127.0.0.1:{front.port}/:_authToken={TOKEN}\n")
    capture = Capture().start()
    try:
        front.add(rf"^/{releases['plain']}$", Redirect(lambda seen: capture.url.rstrip("/") + seen.path), method="GET")
        code, out, err = _diff(f"{releases['plain']}@1.1.0")
    finally:
        capture.stop()
    assert code == 2 and out == "" and "redirected" in err, err
    assert front.seen(releases["plain"])[0].headers.get("authorization") == f"Bearer {TOKEN}"
    assert capture.requests, "the redirect was followed (so the absence of the token below means something)"
    assert all("authorization" not in r.headers for r in capture.requests), capture.requests
    assert TOKEN not in err


# ------------------------------------------------------------------ the project config of a workspace is its root's


def _npm_prefix(env: dict[str, str], cwd: Path) -> Path:
    proc = subprocess.run(["npm", "prefix"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


LAYOUTS: dict[str, tuple[Any, str, str]] = {
    # name: (root `workspaces`, the package folder, cwd below the root) -> the local prefix is the root?
    "plain package, sub folder": (None, "", "src/deep"),
    "workspace array": (["packages/*"], "packages/a", "packages/a/lib"),
    "workspace object with **": ({"packages": ["packages/**"]}, "packages/group/b", "packages/group/b"),
    "negated workspace": (["packages/*", "!packages/a"], "packages/a", "packages/a"),
    "not a listed workspace": (["libs/*"], "packages/a", "packages/a"),
    "dot folder not matched by *": (["packages/*"], "packages/.hidden", "packages/.hidden"),
    "braces": (["{apps,packages}/*", "./tools/"], "apps/web", "apps/web"),
    "leading ./ and trailing /": (["./tools/"], "tools", "tools"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_local_prefix_is_where_npm_finds_it(layout: str, tmp_path: Path) -> None:
    """npm's local prefix (whose .npmrc is the project config) for a package inside a workspace root is
    that root; each layout is also asked of the real npm (`npm prefix`)."""
    from gatekeeper._internal.npmrc import local_prefix

    workspaces, package, below = LAYOUTS[layout]
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "home").mkdir()
    manifest: dict[str, Any] = {"name": "root", "version": "1.0.0"}
    if workspaces is not None:
        manifest["workspaces"] = workspaces
    (root / "package.json").write_text(json.dumps(manifest))
    if package:
        (root / package).mkdir(parents=True)
        (root / package / "package.json").write_text(json.dumps({"name": package.replace("/", "-").strip(".")}))
    (root / below).mkdir(parents=True, exist_ok=True)
    ours = local_prefix(root / below)
    assert ours == _npm_prefix(_npm_env(tmp_path), root / below)


def test_inside_a_workspace_the_roots_npmrc_is_the_project_config(tmp_path: Path) -> None:
    root = tmp_path / "mono"
    (root / "packages" / "app" / "src").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (root / "package.json").write_text('{"name": "mono", "workspaces": ["packages/*"]}')
    (root / ".npmrc").write_text("@acme:registry=https://npm.acme.test/\n")
    (root / "packages" / "app" / "package.json").write_text('{"name": "@acme/app"}')
    (root / "packages" / "app" / ".npmrc").write_text("@acme:registry=https://ignored.test/\n")  # npm ignores it
    reg = resolve_registry(None, "@acme/app", env=env_for(tmp_path), cwd=root / "packages" / "app" / "src")
    assert (reg.url, reg.source) == ("https://npm.acme.test/", f"{root / '.npmrc'} (@acme:registry)")
