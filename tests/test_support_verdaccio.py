"""The real Verdaccio registry fixture: users, tokens, publishing with the npm CLI, maintainers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests._support.verdaccio import (
    VERDACCIO_VERSION,
    RegistryCallError,
    Verdaccio,
    cache_dir,
    ensure_installed,
    package_path,
    shared_verdaccio_session,
    verdaccio_session,
)
from tests._support.verdaccio import _pid_alive as pid_alive

ROOT = Path(__file__).resolve().parent.parent


def _user(verdaccio: Verdaccio) -> tuple[str, str, str]:
    name = verdaccio.unique("user")
    password = "pw-" + name
    return name, password, verdaccio.add_user(name, password)


def test_verdaccio_is_the_pinned_version_from_the_cache(verdaccio: Verdaccio) -> None:
    installed = json.loads((cache_dir() / "node_modules" / "verdaccio" / "package.json").read_text())

    assert installed["version"] == VERDACCIO_VERSION == "6.8.0"
    assert verdaccio.alive()
    assert verdaccio.url.startswith("http://127.0.0.1:") and verdaccio.url.endswith("/")
    assert "uplinks: {}" in (verdaccio.root / "config.yaml").read_text()


def test_users_tokens_and_whoami(verdaccio: Verdaccio) -> None:
    name, password, login = _user(verdaccio)

    readonly = verdaccio.create_token(login, password, readonly=True)
    writable = verdaccio.create_token(login, password, readonly=False, cidr=["127.0.0.1/32"])
    listed = verdaccio.list_tokens(login)

    assert verdaccio.whoami(login) == name
    assert verdaccio.whoami(readonly) == name
    assert verdaccio.whoami("not-a-token") is None
    assert len({login, readonly, writable}) == 3
    by_mask = {t["token"]: t for t in listed}
    for token, ro in ((readonly, True), (writable, False)):
        mask = f"{token[:5]}...{token[-5:]}"  # Verdaccio 6.8 masks as first 5 ... last 5
        assert by_mask[mask]["readonly"] is ro and by_mask[mask]["key"]
    assert by_mask[f"{writable[:5]}...{writable[-5:]}"]["cidr"] == ["127.0.0.1/32"]
    with pytest.raises(RegistryCallError) as wrong:
        verdaccio.create_token(login, "wrong password")
    assert wrong.value.status == 401


def test_passwords_are_bcrypt_at_the_lowest_cost(verdaccio: Verdaccio) -> None:
    """Verdaccio checks a legacy token's password on every request that sends it: the users' hashes are still
    bcrypt (a wrong password is refused above), at cost 04 so that check costs ~5 ms of CPU instead of ~90."""
    name, _, _ = _user(verdaccio)
    lines = (verdaccio.root / "htpasswd").read_text().splitlines()
    entry = next(line for line in lines if line.startswith(f"{name}:"))
    assert entry.split(":")[1].startswith(("$2a$04$", "$2b$04$", "$2y$04$")), entry


def test_publish_with_the_npm_cli_and_read_the_packument(
    verdaccio: Verdaccio, package_repo: Callable[..., Path]
) -> None:
    _, _, token = _user(verdaccio)
    pkg = verdaccio.unique("gk-demo")
    repo = package_repo(pkg, "1.2.3")

    proc = verdaccio.publish(repo, token)
    doc = verdaccio.packument(pkg)

    assert f"+ {pkg}@1.2.3" in proc.stdout
    assert doc is not None and doc["dist-tags"] == {"latest": "1.2.3"}
    dist = doc["versions"]["1.2.3"]["dist"]
    assert dist["integrity"].startswith("sha512-") and len(dist["shasum"]) == 40
    assert dist["tarball"].startswith(verdaccio.url)  # tarball links point at the proxy, not around it
    assert verdaccio.packument(verdaccio.unique("never-published")) is None


def _served(registry: Verdaccio, name: str, version: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """(the packument without per-registry fields, the version's document, the tarball bytes) as served."""
    doc = registry.packument(name)
    assert doc is not None, f"{name} was not published"
    entry = json.loads(json.dumps(doc["versions"][version]))
    url = entry["dist"].pop("tarball")
    assert url.startswith(registry.url)
    with urllib.request.urlopen(url, timeout=30) as resp:
        tarball = resp.read()
    top = {k: v for k, v in doc.items() if k not in ("versions", "time", "_rev", "_attachments")}
    return top, entry, tarball


@pytest.mark.parametrize("scoped", [False, True])
def test_the_publish_helper_sends_what_the_npm_cli_sends(
    verdaccio: Verdaccio, package_repo: Callable[..., Path], tmp_path: Path, scoped: bool
) -> None:
    """Tests publish their baselines through `Verdaccio.publish`, which runs npm's own publish steps in one
    node process (tests/_support/npm_publisher.js) instead of one CLI start each. The same package directory
    published by the npm CLI to this registry and by the helper to a second, fresh Verdaccio is served the
    same: the version document field for field (gitHead, _npmVersion, _nodeVersion, scripts, bin...),
    dist-tags, readme, and the tarball byte for byte (so the same integrity and shasum)."""
    base = verdaccio.unique("gk-same")
    name = f"@gk-scope/{base}" if scoped else base
    repo = package_repo(
        name,
        "2.1.0",
        scripts={"postinstall": "node install.js"},
        manifest={
            "bin": {"gk-same": "bin/cli.js"},
            "dependencies": {"left-pad": "^1.3.0"},
            # the semantic-release projects' shape; --registry overrides it (a dead address here)
            **({"publishConfig": {"registry": "http://127.0.0.1:9/"}} if scoped else {}),
        },
        extra_files={
            "install.js": "console.log('installed');\n",
            "bin/cli.js": "#!/usr/bin/env node\nconsole.log('cli');\n",
            "lib/deep/util.js": "module.exports = 2;\n",
            "LICENSE": "MIT\n",
            "debug.log": "left out by .gitignore\n",
            ".gitignore": "node_modules/\n*.log\n",
        },
    )
    (repo / "bin" / "cli.js").chmod(0o755)
    user, password = verdaccio.unique("same-user"), "same-password-1"
    proc = verdaccio.publish(repo, verdaccio.add_user(user, password), cli=True)
    assert f"+ {name}@2.1.0" in proc.stdout

    with verdaccio_session(tmp_path / "second-registry") as second:
        helper = second.publish(repo, second.add_user(user, password))
        assert helper.args[:2] == ["npm", "publish"], "the helper path, not the CLI, published here"
        assert f"+ {name}@2.1.0" in helper.stdout
        by_cli, by_helper = _served(verdaccio, name, "2.1.0"), _served(second, name, "2.1.0")

    assert by_helper[0] == by_cli[0]
    assert by_helper[1] == by_cli[1]
    assert by_helper[2] == by_cli[2]
    entry = by_cli[1]
    assert entry["gitHead"] and entry["_npmVersion"] and entry["dist"]["integrity"].startswith("sha512-")
    with tarfile.open(fileobj=io.BytesIO(by_cli[2])) as tar:
        names = set(tar.getnames())
    assert "package/lib/deep/util.js" in names and "package/debug.log" not in names


def test_publish_does_not_leave_the_token_around(verdaccio: Verdaccio, package_repo: Callable[..., Path]) -> None:
    _, _, token = _user(verdaccio)
    repo = package_repo(verdaccio.unique("gk-clean"), "1.0.0")
    before = set(Path(tempfile.gettempdir()).glob("gk-npmrc-*"))

    verdaccio.publish(repo, token)

    assert set(Path(tempfile.gettempdir()).glob("gk-npmrc-*")) == before
    assert not (repo / ".npmrc").exists()
    assert all(
        token not in p.read_text(errors="ignore") for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts
    )


def test_readonly_token_cannot_publish(verdaccio: Verdaccio, package_repo: Callable[..., Path]) -> None:
    _, password, login = _user(verdaccio)
    readonly = verdaccio.create_token(login, password, readonly=True)
    pkg = verdaccio.unique("gk-ro")
    repo = package_repo(pkg, "1.0.0")

    proc = verdaccio.publish(repo, readonly, check=False)

    assert proc.returncode != 0
    assert "E403" in proc.stderr or "403" in proc.stderr
    assert verdaccio.packument(pkg) is None
    assert any(r.method == "PUT" and r.status == 403 for r in verdaccio.requests if pkg in r.path)


def test_republishing_a_version_is_refused(verdaccio: Verdaccio, package_repo: Callable[..., Path]) -> None:
    _, _, token = _user(verdaccio)
    repo = package_repo(verdaccio.unique("gk-twice"), "1.0.0")
    verdaccio.publish(repo, token)

    again = verdaccio.publish(repo, token, check=False)

    assert again.returncode != 0
    assert "previously published" in again.stderr or "E409" in again.stderr or "403" in again.stderr


def test_maintainers_are_served_through_the_proxy(verdaccio: Verdaccio, package_repo: Callable[..., Path]) -> None:
    _, _, token = _user(verdaccio)
    pkg = verdaccio.unique("gk-maint")
    verdaccio.publish(package_repo(pkg, "1.0.0"), token)
    assert "maintainers" not in (verdaccio.packument(pkg) or {})  # Verdaccio records none

    verdaccio.set_maintainers(pkg, ["bob", {"name": "carol", "email": "c@x"}])
    doc = verdaccio.packument(pkg)
    direct = json.loads(_curl(verdaccio.upstream_url + package_path(pkg).lstrip("/")))

    assert doc is not None
    assert doc["maintainers"] == [{"name": "bob", "email": "bob@example.test"}, {"name": "carol", "email": "c@x"}]
    assert doc["versions"]["1.0.0"]["maintainers"] == doc["maintainers"]
    assert "maintainers" not in direct  # only the proxy adds them
    verdaccio.clear_patches(pkg)
    assert "maintainers" not in (verdaccio.packument(pkg) or {})


def test_editing_verdaccio_storage_does_not_expose_top_level_maintainers(
    verdaccio: Verdaccio, package_repo: Callable[..., Path]
) -> None:
    """Why the proxy exists: Verdaccio drops a top-level `maintainers` written into its storage."""
    _, _, token = _user(verdaccio)
    pkg = verdaccio.unique("gk-storage")
    verdaccio.publish(package_repo(pkg, "1.0.0"), token)
    stored = verdaccio.root / "storage" / pkg / "package.json"
    data = json.loads(stored.read_text())
    data["maintainers"] = [{"name": "bob", "email": "b@x"}]
    stored.write_text(json.dumps(data))

    doc = verdaccio.packument(pkg)

    assert doc is not None and "maintainers" not in doc


def test_patch_packument_and_scoped_names(verdaccio: Verdaccio, package_repo: Callable[..., Path]) -> None:
    _, _, token = _user(verdaccio)
    pkg = "@gk/" + verdaccio.unique("scoped")
    verdaccio.publish(package_repo(pkg, "2.0.0"), token, args=("--access", "public"))

    def add_npm_user(doc: dict[str, Any]) -> None:
        doc["versions"]["2.0.0"]["_npmUser"] = {"name": "GitHub Actions", "email": "npm-oidc-no-reply@github.com"}

    verdaccio.patch_packument(pkg, add_npm_user)
    verdaccio.set_maintainers(pkg, ["alice"])
    doc = verdaccio.packument(pkg)

    assert package_path(pkg) == "/@gk%2F" + pkg.split("/")[1]
    assert doc is not None and doc["name"] == pkg
    assert doc["versions"]["2.0.0"]["_npmUser"]["name"] == "GitHub Actions"
    assert [m["name"] for m in doc["maintainers"]] == ["alice"]


def test_npm_view_through_the_proxy_sees_maintainers(verdaccio: Verdaccio, package_repo: Callable[..., Path]) -> None:
    _, _, token = _user(verdaccio)
    pkg = verdaccio.unique("gk-view")
    verdaccio.publish(package_repo(pkg, "1.0.0"), token)
    verdaccio.set_maintainers(pkg, ["dora"])

    proc = subprocess.run(
        ["npm", "view", pkg, "maintainers", "--json", "--registry", verdaccio.url],
        env=verdaccio.npm_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["dora <dora@example.test>"]


def _curl(url: str) -> str:
    import urllib.request

    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=10) as resp:  # loopback only
        return resp.read().decode()


def test_install_is_reused_when_present(verdaccio: Verdaccio) -> None:
    manifest = cache_dir() / "package.json"
    before = manifest.stat().st_mtime_ns

    script = ensure_installed()

    assert script == cache_dir() / "node_modules" / "verdaccio" / "bin" / "verdaccio" and script.exists()
    assert manifest.stat().st_mtime_ns == before  # no reinstall
    assert json.loads(manifest.read_text())["overrides"] == {"node-fetch": "2.7.0"}


def test_a_shared_verdaccio_is_started_once_and_stopped_by_the_last_user(tmp_path: Path) -> None:
    """Two users of one shared root: the first starts Verdaccio, the second uses the same one through a
    proxy of its own, what one publishes the other reads; it runs until the LAST user is done."""
    root = tmp_path / "shared"
    with shared_verdaccio_session(root) as first:
        assert first.process is not None and first.alive()
        with shared_verdaccio_session(root) as second:
            assert second.process is None, "the second user started a Verdaccio of its own"
            assert second.upstream_port == first.upstream_port and second.upstream_pid == first.process.pid
            assert second.url != first.url  # each has its own proxy (patches, maintainers, request log)
            name, _password, token = _user(second)
            assert first.whoami(token) == name
            assert json.loads((root / "shared.json").read_text())["users"] == 2
        assert first.alive(), "the first user's Verdaccio stopped while it was still in use"
        assert json.loads((root / "shared.json").read_text())["users"] == 1
        pid = first.process.pid
    assert not first.alive() and first.process.returncode is not None, f"Verdaccio {pid} still runs"
    assert not (root / "shared.json").exists()


def test_a_shared_verdaccio_outlives_the_user_that_started_it(tmp_path: Path) -> None:
    """The user that started it may be done first (an xdist worker with no tests left): the other
    user's registry keeps working until it is done too, and only then does Verdaccio stop."""
    root = tmp_path / "shared"
    starter = shared_verdaccio_session(root)
    first = starter.__enter__()
    with shared_verdaccio_session(root) as second:
        assert first.process is not None and second.process is None
        starter.__exit__(None, None, None)  # the starter's session ends first
        assert second.alive(), "the starter stopped the shared Verdaccio while another user was still on it"
        name, _password, token = _user(second)
        assert second.whoami(token) == name
    assert not first.alive() and not (root / "shared.json").exists()


def test_xdist_workers_of_one_run_share_one_verdaccio(tmp_path: Path) -> None:
    """`pytest -n 2` (as scripts/test.sh runs the suite): both workers' `verdaccio` fixtures talk to ONE
    Verdaccio (same upstream port and pid, two proxies), and it is gone when the run ends."""
    probe = tmp_path / "test_probe.py"
    out = tmp_path / "seen"
    out.mkdir()
    probe.write_text(
        "import json, os, pytest\n"
        "@pytest.mark.parametrize('group', ['a', 'b'])\n"
        "def test_probe(verdaccio, group, request):\n"
        "    request.node.add_marker(pytest.mark.xdist_group(group))\n"
        f"    (__import__('pathlib').Path({str(out)!r}) / group).write_text(json.dumps({{\n"
        "        'worker': os.environ.get('PYTEST_XDIST_WORKER'), 'port': verdaccio.upstream_port,\n"
        "        'pid': verdaccio.upstream_pid, 'url': verdaccio.url}))\n"
    )
    (tmp_path / "conftest.py").write_text(
        "import pytest\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.add_marker(pytest.mark.xdist_group(item.callspec.params['group']))\n"
    )
    suite_tmp = tmp_path / "suite"
    suite_tmp.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "--rootdir",
            str(tmp_path),
            str(probe),
        ],
        cwd=ROOT,
        env={**os.environ, "GATEKEEPER_SUITE_TMP": str(suite_tmp), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = [json.loads((out / g).read_text()) for g in ("a", "b")]
    assert {s["worker"] for s in seen} == {"gw0", "gw1"}, seen
    assert seen[0]["port"] == seen[1]["port"] and seen[0]["pid"] == seen[1]["pid"], seen
    assert seen[0]["url"] != seen[1]["url"], seen
    # stopped by the last worker out; a zombie until the process that started it is reaped: not running
    running = pid_alive(seen[0]["pid"])
    assert not running, f"the shared Verdaccio {seen[0]['pid']} outlived the run"
