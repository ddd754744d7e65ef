"""The JSON report's shape (issue 20, item 5): docs/schema/report.schema.json, pointed to by the README,
holds for real `gatekeeper diff --format json` output, and the README's one-line summary names the same keys."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gatekeeper.modes.diff import run_diff
from tests._support.tarballs import fixture, make_tgz, members, package_json

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "docs" / "schema" / "report.schema.json"


def schema() -> dict[str, Any]:
    data = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(data)
    return data


def diff_json(*argv: str) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = run_diff([*argv, "--format", "json"], out=out, err=err)
    return code, json.loads(out.getvalue())


def _mode_changed(tmp_path: Path) -> tuple[Path, Path]:
    files = {
        "package.json": package_json(name="m", version="1.0.1", bin={"m": "cli.js"}),
        "cli.js": "#!/usr/bin/env node\n",
    }
    old = make_tgz(
        {**files, "package.json": package_json(name="m", version="1.0.0", bin={"m": "cli.js"})}, tmp_path / "o.tgz"
    )
    new = make_tgz(files, tmp_path / "n.tgz", modes={"cli.js": 0o755})
    return new, old


def test_the_readme_points_to_the_schema_and_names_its_keys() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/schema/report.schema.json" in readme
    line = next(line for line in readme.splitlines() if line.startswith('`{"decision"'))
    depth, keys = 0, []
    for m in re.finditer(r'[{}\[\]]|"([a-z_]+)"', line):
        tok = m.group(0)
        if tok in "{[":
            depth += 1
        elif tok in "}]":
            depth -= 1
        elif depth == 1:
            keys.append(m.group(1))
    s = schema()
    assert set(keys) == set(s["required"]), set(keys) ^ set(s["required"])
    delta_line = re.search(r'"delta": \{([^}]*)\}', line)
    assert delta_line is not None
    assert set(re.findall(r'"([a-z_]+)"', delta_line.group(1))) == set(s["$defs"]["delta"]["required"])


def test_diff_json_puts_the_delta_under_delta_and_validates(tmp_path: Path) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    code, allow = diff_json(str(fixture("semver-7.6.3")), "--against", str(fixture("semver-7.6.2")))
    assert code == 0
    assert "diff" not in allow, "the delta lives under `delta` (README), not an undocumented `diff` key"
    assert allow["delta"]["version"] == "7.6.3" and allow["delta"]["baseline_version"] == "7.6.2"
    validator.validate(allow)
    new, old = _mode_changed(tmp_path)
    code, mode = diff_json(str(new), "--against", str(old))
    validator.validate(mode)
    (entry,) = [f for f in mode["delta"]["files"] if f["path"] == "cli.js"]
    assert (entry["status"], entry["old_mode"], entry["new_mode"]) == ("mode", "0644", "0755")


@pytest.mark.parametrize("argv", [["missing.tgz"], [str(fixture("ms-2.1.3")), "--against", "nope.tgz"]])
def test_diff_json_of_an_error_validates(argv: list[str]) -> None:
    code, data = diff_json(*argv)
    assert code == 2 and data["delta"] is None and data["error"]
    jsonschema.Draft202012Validator(schema()).validate(data)


def test_a_blocking_diff_validates(tmp_path: Path) -> None:
    files = {k: v for k, (v, _) in members(fixture("ms-2.1.3")).items()}
    manifest = json.loads(files["package.json"])
    manifest["scripts"] = {"postinstall": "node x.js"}
    files["package.json"] = json.dumps(manifest).encode()
    files["x.js"] = b"require('child_process')\n"
    evil = make_tgz(files, tmp_path / "evil.tgz")
    code, data = diff_json(str(evil), "--against", str(fixture("ms-2.1.2")))
    assert code == 1 and data["findings"]
    jsonschema.Draft202012Validator(schema()).validate(data)
