"""Inputs from INPUT_* env vars (hyphens kept), CLI overrides and defaults."""

from __future__ import annotations

import pytest

from gatekeeper.config import INPUT_DEFAULTS, PUBLIC_REGISTRY, Inputs, env_name
from gatekeeper.errors import ConfigError


def test_env_name_keeps_hyphens() -> None:
    assert env_name("npm-token") == "INPUT_NPM-TOKEN"
    assert env_name("wait-for-checks") == "INPUT_WAIT-FOR-CHECKS"
    assert env_name("a b") == "INPUT_A_B"


def test_defaults_when_inputs_are_empty() -> None:
    env = {env_name(n): "" for n in INPUT_DEFAULTS}
    i = Inputs.from_env(env)
    assert i.mode == "publish" and i.package_path == "." and i.registry == PUBLIC_REGISTRY
    assert i.npm_token is None and i.dry_run is False and i.wait_for_checks == 0


def test_token_precedence_input_then_node_auth_then_npm_token() -> None:
    env = {"INPUT_NPM-TOKEN": "from-input", "NODE_AUTH_TOKEN": "node", "NPM_TOKEN": "npm"}
    assert Inputs.from_env(env).npm_token.reveal() == "from-input"  # type: ignore[union-attr]
    env["INPUT_NPM-TOKEN"] = ""
    assert Inputs.from_env(env).npm_token.reveal() == "node"  # type: ignore[union-attr]
    del env["NODE_AUTH_TOKEN"]
    assert Inputs.from_env(env).npm_token.reveal() == "npm"  # type: ignore[union-attr]


def test_token_never_printed() -> None:
    i = Inputs.from_env({"INPUT_NPM-TOKEN": "npm_supersecret"})
    assert "supersecret" not in repr(i) and "supersecret" not in str(i.describe())


def test_cli_overrides_env() -> None:
    i = Inputs.from_env({"INPUT_REGISTRY": "https://a.example/"}, {"registry": "http://127.0.0.1:1", "mode": "check"})
    assert i.registry == "http://127.0.0.1:1/" and i.mode == "check"


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("mode", "yolo", "mode"),
        ("wait-for-checks", "-1", "wait-for-checks"),
        ("wait-for-checks", "soon", "wait-for-checks"),
        ("dry-run", "maybe", "dry-run"),
        ("access", "everyone", "access"),
        ("registry", "registry.npmjs.org", "registry"),
        ("tag", "--registry=http://127.0.0.1:9/", "tag"),  # would be read as another npm option
        ("tag", "1.x", "tag"),  # npm refuses a tag that is a semver range
        ("tag", "v2", "tag"),
        ("tag", "1.2.3", "tag"),
        ("tag", "next tag", "tag"),
        ("tag", "a/b", "tag"),
        ("tag", "x" * 215, "tag"),
    ],
)
def test_bad_inputs_fail_closed(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as exc:
        Inputs.from_env({env_name(name): value})
    assert "Nothing was published" in exc.value.diagnostic()


@pytest.mark.parametrize("url", ["https://ci:s3cr3t-pw@npm.example.com/", "https://s3cr3t-pw@npm.example.com/"])
def test_registry_with_credentials_in_the_url_is_refused_without_echoing_them(url: str) -> None:
    """The registry URL is printed (report inputs, summary, watch issues): a password in it would leak."""
    with pytest.raises(ConfigError, match="registry") as exc:
        Inputs.from_env({env_name("registry"): url})
    assert "s3cr3t-pw" not in exc.value.diagnostic()
    assert "npm-token" in exc.value.diagnostic()


@pytest.mark.parametrize("tag", ["latest", "next", "beta", "rc-1", "v2-legacy", "canary.1", "legacy_1"])
def test_dist_tags_pass(tag: str) -> None:
    assert Inputs.from_env({"INPUT_TAG": tag}).tag == tag
