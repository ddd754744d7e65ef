"""action.yml and the code agree: input names and defaults, outputs, and how the runner passes them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.config import INPUT_DEFAULTS, Inputs, env_name

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = [
    "decision",
    "published",
    "name",
    "version",
    "previous-version",
    "report",
    "integrity",
    "needs-review",
    "stage-id",
    "notified",
    "published-packages",
    "stage-ids",
    "unexpected",
]

# The ONE deliberate difference between action.yml and INPUT_DEFAULTS: on GitHub the runner evaluates
# `${{ github.token }}` and passes the job's token as INPUT_GITHUB-TOKEN; outside a runner that
# expression means nothing, so the code's default is empty and it falls back to the GITHUB_TOKEN env var.
ACTION_ONLY_DEFAULTS = {"github-token": "${{ github.token }}"}


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    # BaseLoader: every scalar stays a string, as the runner treats them (`false` is "false", `0` is "0").
    with (ROOT / "action.yml").open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=yaml.BaseLoader)  # builds only str/list/dict
    assert isinstance(data, dict)
    return data


def _default(spec: dict[str, Any]) -> str:
    return spec.get("default", "")


def test_marketplace_metadata(action: dict[str, Any]) -> None:
    assert action["name"] == "npm-gatekeeper"
    assert action["description"].strip() and len(action["description"]) <= 200
    assert action["author"].strip()
    assert action["branding"]["icon"] and action["branding"]["color"]
    assert action["runs"] == {"using": "docker", "image": "Dockerfile"}


def test_input_names_match_the_code(action: dict[str, Any]) -> None:
    assert list(action["inputs"]) == list(INPUT_DEFAULTS)


def test_input_defaults_match_the_code(action: dict[str, Any]) -> None:
    yml = {name: _default(spec) for name, spec in action["inputs"].items()}
    code = dict(INPUT_DEFAULTS)
    for name, expected in ACTION_ONLY_DEFAULTS.items():
        assert yml.pop(name) == expected
        assert code.pop(name) == "", f"{name}: the code's default must stay empty (it falls back to env)"
    assert yml == code


def test_every_input_and_output_is_described_and_optional(action: dict[str, Any]) -> None:
    for name, spec in action["inputs"].items():
        assert spec.get("description", "").strip(), f"input {name} has no description"
        assert spec.get("required", "false") == "false", f"input {name}: the code has a default or fallback for it"
    assert list(action["outputs"]) == OUTPUTS
    for name, spec in action["outputs"].items():
        assert spec.get("description", "").strip(), f"output {name} has no description"
        assert "value" not in spec, "docker actions set outputs through $GITHUB_OUTPUT, not `value:`"


def test_github_token_exception_behaves_as_documented() -> None:
    # What the runner passes when the workflow sets nothing: the evaluated default, the job's token.
    assert Inputs.from_env({"INPUT_GITHUB-TOKEN": "ghs_job"}).github_token.reveal() == "ghs_job"  # type: ignore[union-attr]
    # Outside a runner (CLI, tests): INPUT_GITHUB-TOKEN empty or absent -> the GITHUB_TOKEN env var.
    assert Inputs.from_env({"INPUT_GITHUB-TOKEN": "", "GITHUB_TOKEN": "env"}).github_token.reveal() == "env"  # type: ignore[union-attr]
    assert Inputs.from_env({"GITHUB_TOKEN": "env"}).github_token.reveal() == "env"  # type: ignore[union-attr]
    # An explicit input wins over the env var.
    both = {"INPUT_GITHUB-TOKEN": "ghs_input", "GITHUB_TOKEN": "env"}
    assert Inputs.from_env(both).github_token.reveal() == "ghs_input"  # type: ignore[union-attr]


def test_what_the_runner_passes_for_an_empty_with_block_equals_the_code_defaults(action: dict[str, Any]) -> None:
    """The runner sets INPUT_<NAME> (hyphens kept) for EVERY declared input, from `with:` or the default."""
    job_token = "ghs_0123456789abcdefghijklmnopqrstuvwxyzAB"
    env = {}
    for name, spec in action["inputs"].items():
        value = _default(spec)
        env[env_name(name)] = job_token if value == "${{ github.token }}" else value
    assert not any(re.search(r"\$\{\{", v) for v in env.values()), "only github.token may be an expression"
    assert "INPUT_NPM-TOKEN" in env and "INPUT_WAIT-FOR-CHECKS" in env
    from_runner = Inputs.from_env(env)
    from_code = Inputs.from_env({"GITHUB_TOKEN": job_token})
    assert from_runner == from_code
