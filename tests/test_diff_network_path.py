"""`gatekeeper diff name@version` behind a registry path that strips signatures (issue 20, item 7).

This machine's npm mirror answers for registry.npmjs.org without signatures or keys, as many companies'
mirrors do: every registry diff blocked on `registry-signatures-missing`, the content verdict was never
shown, and the fix spoke of publishing. Here Verdaccio (which serves no signing keys) is treated as the
public registry (GATEKEEPER_TREAT_AS_PUBLIC_REGISTRY, the action's own test hook), so it is that path.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gatekeeper.modes.diff import run_diff

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs/schema/report.schema.json").read_text())


def _package(directory: Path, name: str, version: str, **fields: Any) -> Path:
    directory.mkdir(parents=True)
    (directory / "package.json").write_text(json.dumps({"name": name, "version": version, **fields}) + "\n")
    (directory / "index.js").write_text(f"module.exports = '{version}'\n")
    return directory


@pytest.fixture(scope="module")
def released(verdaccio, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """1.0.0, a clean 1.0.1, and 1.0.2 that adds a postinstall script."""
    name = verdaccio.unique("gk-netpath")
    token = verdaccio.add_user(verdaccio.unique("gk-netpath-user"), "pw-netpath-1")
    root = tmp_path_factory.mktemp("netpath")
    verdaccio.publish(_package(root / "a", name, "1.0.0"), token)
    verdaccio.publish(_package(root / "b", name, "1.0.1"), token)
    verdaccio.publish(_package(root / "c", name, "1.0.2", scripts={"postinstall": "node index.js"}), token)
    return {"name": name, "url": verdaccio.url}


def diff(released: dict[str, Any], monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str]:
    monkeypatch.setenv("GATEKEEPER_TREAT_AS_PUBLIC_REGISTRY", released["url"])
    out = io.StringIO()
    code = run_diff([*argv, "--registry", released["url"]], out=out, err=io.StringIO())
    return code, out.getvalue()


def test_the_verdict_names_the_network_path_and_shows_the_content_verdict(
    released: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = diff(released, monkeypatch, f"{released['name']}@1.0.1")
    assert code == 1, out  # still a block: the registry's copies are unverified (fail closed)
    first, second = out.splitlines()[:2]
    assert first.startswith("npm-gatekeeper diff: BLOCK (exit 1) because of the network path"), out
    assert second == "content verdict: ALLOW (no blocking finding in the package itself)", out
    fixes = [line for line in out.splitlines() if line.lstrip().startswith("fix:")]
    assert len(fixes) == 1 and "npm pack" in fixes[0] and "--against" in fixes[0], fixes
    assert "publish" not in fixes[0].lower().replace("npm pack", ""), fixes[0]  # diff publishes nothing


def test_a_content_block_is_still_shown_as_such(released: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = diff(released, monkeypatch, f"{released['name']}@1.0.2")
    assert code == 1
    # index.js differs only by the version it embeds (not a code change): the added postinstall is what blocks
    assert "content verdict: BLOCK (1 blocking finding in the package itself)" in out, out
    assert "BLOCK lifecycle-script-added" in out


def test_json_and_markdown_carry_the_content_verdict(released: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = diff(released, monkeypatch, f"{released['name']}@1.0.1", "--format", "json")
    data = json.loads(out)
    assert code == 1
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert (data["decision"], data["content_verdict"]) == ("block", "allow")
    assert [f["rule"] for f in data["findings"] if f["severity"] == "block"] == ["registry-signatures-missing"] * 2
    _, out = diff(released, monkeypatch, f"{released['name']}@1.0.1", "--format", "markdown")
    assert "because of the network path" in out and "content verdict: ALLOW" in out and "npm pack" in out


def test_without_the_stripping_path_there_is_no_network_verdict(
    released: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GATEKEEPER_TREAT_AS_PUBLIC_REGISTRY", raising=False)
    out = io.StringIO()
    code = run_diff([f"{released['name']}@1.0.1", "--registry", released["url"]], out=out, err=io.StringIO())
    assert code == 0 and out.getvalue().startswith("npm-gatekeeper diff: ALLOW (exit 0)\n\n"), out.getvalue()
