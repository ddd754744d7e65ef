"""One fetch of each registry and GitHub API document per run (issue 19).

The real pipeline (`entrypoint.py` as the runner runs it) against Verdaccio and the GitHub stand-in, with a
release on the registry before it (so the trusted policy, the credential, diff and provenance gates all read
the packument, and the diff gate downloads and verifies the baseline). The request logs both servers keep
say how often each document was asked for.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests._support.github_server import GitHubServer
from tests._support.verdaccio import ProxiedRequest, Verdaccio, package_path
from tests._support.workspace import ActionResult
from tests.test_e2e_publish import Release, _recommit, release_factory


@pytest.fixture
def second_release(
    verdaccio: Verdaccio, github_server: GitHubServer, package_repo: Callable[..., Path], tmp_path: Path
) -> Release:
    """1.0.0 on the registry (published by npm), the workspace at 1.1.0: green, on main, this job in run 4242."""
    rel = release_factory(verdaccio, github_server, package_repo, tmp_path, lint_status=True)()
    verdaccio.publish(rel.ws, rel.token)
    pkg = json.loads((rel.ws / "package.json").read_text())
    pkg["version"] = "1.1.0"
    (rel.ws / "package.json").write_text(json.dumps(pkg, indent=2) + "\n")
    _recommit(rel, "1.1.0")
    return rel


def _run(rel: Release, **kw: Any) -> tuple[ActionResult, list[ProxiedRequest], list[tuple[str, str, str]]]:
    """One run; (its result, the registry requests it made in order, the GitHub requests it made)."""
    reg0, gh0 = len(rel.verdaccio.requests), len(rel.github.requests)
    result = rel.run(**kw)
    registry = list(rel.verdaccio.requests[reg0:])
    github = [(r.method, r.path, r.raw_query) for r in rel.github.requests[gh0:]]
    return result, registry, github


def _ours(requests: list[ProxiedRequest]) -> list[tuple[str, str]]:
    """The gate's own registry requests (npm's, for `npm publish`, carry npm's user agent)."""
    return [(r.method, r.path) for r in requests if r.headers.get("user-agent", "").startswith("npm-gatekeeper/")]


def _twice(requests: list[Any]) -> dict[Any, int]:
    return {k: n for k, n in Counter(requests).items() if n > 1}


def test_publish_run_fetches_each_document_once(second_release: Release) -> None:
    rel = second_release
    result, registry, github = _run(rel)
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0", "1.1.0"]
    packument = package_path(rel.name)
    upload = next(i for i, r in enumerate(registry) if r.method == "PUT" and r.path == packument)
    gated, after = _ours(registry[:upload]), _ours(registry[upload + 1 :])
    # every document the gates read was asked for, and each of them once
    assert ("GET", packument) in gated
    assert ("GET", f"{packument}/-/{rel.name}-1.0.0.tgz") in gated  # the baseline
    assert ("GET", "/-/npm/v1/keys") in gated
    assert ("GET", "/-/whoami") in gated
    assert _twice(gated) == {}, gated
    # after the upload the packument is read once more, on purpose: does the registry serve the gated bytes? (the
    # publish step checks it before reporting success; the notify step reuses that answer)
    assert after == [("GET", packument)]
    assert ("GET", "/repos/acme/widget", "") in github
    assert _twice(github) == {}, github


def test_check_run_fetches_the_packument_once(second_release: Release) -> None:
    rel = second_release
    result, registry, github = _run(rel, inputs={"mode": "check"})
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0"]
    ours = _ours(registry)
    assert ours.count(("GET", package_path(rel.name))) == 1, ours
    assert _twice(ours) == {}, ours
    assert _twice(github) == {}, github


def test_npm_pack_started_early_is_stopped_and_removed_when_the_run_fails_before_it(second_release: Release) -> None:
    """`npm pack` starts first and runs while the policy is read: a broken policy still fails the run (exit 2,
    the same message), and neither the packed tarball nor its temp folder is left behind."""
    rel = second_release
    rel.ws.joinpath(".github/npm-gatekeeper.yml").write_text("branch:\n  events: [push]\n  colour: red\n")
    result, registry, _ = _run(rel)
    assert result.returncode == 2, result.describe()
    assert "line 3" in result.stderr and "branch.colour" in result.stderr
    assert _ours(registry) == []  # nothing was asked of the registry, nothing published
    assert rel.versions() == ["1.0.0"]
    assert not list(result.tmpdir.iterdir()), list(result.tmpdir.iterdir())
