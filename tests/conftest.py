"""Shared fixtures: a local GitHub API, a real Verdaccio npm registry, real package repos.

- `github_server` (function): `tests._support.github_server.GitHubServer`, started, fresh state.
- `verdaccio` (session): `tests._support.verdaccio.Verdaccio`, a real registry on 127.0.0.1 (one for
  all xdist workers of a run).
- `package_repo` (function): factory `package_repo(name="demo-pkg", version="1.0.0", **kw) -> Path`.
- `action_home` (function): an empty temp HOME for `run_action`.
- `verifier_modules` (session): the pinned provenance verifier installed (tests/_support/verifier.py), its
  folder in `GATEKEEPER_VERIFIER_MODULES` for the session (run_action passes it on).

Nothing here skips: node, npm and git are required.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._support import hostcheck, verifier
from tests._support.github_server import GitHubServer
from tests._support.verdaccio import Verdaccio, shared_verdaccio_session, stop_shared, verdaccio_session
from tests._support.workspace import make_package_repo

_PRIVATE_TMP: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Snapshot the host (once per run), then give this test process a private TMPDIR, removed at the end.

    Everything the suite and the programs it runs (npm, git, Verdaccio, the gate) put in TMPDIR lands
    in one folder of this process's own: tests that look for leftovers there ("no gk-npmrc-* left")
    see only their own files even when other test processes (xdist workers, a second checkout) run at
    the same time, and nothing is left behind in the machine's /tmp. npm children of the tests get a
    cache and a logs dir in it too (npm_config_cache, npm_config_logs_dir), so none of their debug logs
    lands in ~/.npm/_logs; scripts/test.sh sets both for the whole run (its suite temp dir) first.

    The host snapshot (tests/_support/hostcheck.py) is what tests/test_host_untouched.py compares with at
    the end; scripts/test.sh takes it before its set-up step and names it in GATEKEEPER_HOST_BEFORE.
    As root, a plain run first takes a group of its own (hostcheck.adopt_run_gid; scripts/test.sh runs
    under one already): every file the run and its children make carries it, which is how the host
    check tells this run's files from other processes' on a shared machine.
    """
    before = None
    if not hasattr(config, "workerinput") and not os.environ.get("GATEKEEPER_HOST_BEFORE"):
        hostcheck.adopt_run_gid()  # xdist workers and every other child inherit it
        before = hostcheck.snapshot()  # before this run makes anything, TMPDIR still the machine's
    private = tempfile.mkdtemp(prefix="gk-tests-")
    _PRIVATE_TMP.append(private)
    os.environ["TMPDIR"] = private
    tempfile.tempdir = None  # re-read TMPDIR
    os.environ.setdefault("GATEKEEPER_SUITE_TMP", private)
    os.environ.setdefault("npm_config_cache", os.path.join(private, "npm-cache"))
    os.environ.setdefault("npm_config_logs_dir", os.path.join(private, "npm-logs"))
    if before is not None:
        path = Path(private) / "host-before.json"
        path.write_text(json.dumps(before), encoding="utf-8")
        os.environ["GATEKEEPER_HOST_BEFORE"] = str(path)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller: a shared Verdaccio a crashed worker left
        suite_tmp = os.environ.get("GATEKEEPER_SUITE_TMP")
        for root in sorted(Path(suite_tmp).glob("verdaccio-shared-*")) if suite_tmp else []:
            stop_shared(root)
    for path in _PRIVATE_TMP:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def github_server() -> Iterator[GitHubServer]:
    """A fresh local GitHub API; fails the test if the stand-in itself crashed."""
    server = GitHubServer().start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.internal_errors, "fake GitHub server crashed:\n" + "\n".join(server.internal_errors)


def _shared_verdaccio_root(config: pytest.Config) -> Path | None:
    """Where the xdist workers of this run share one Verdaccio (None: not a worker)."""
    workerinput = getattr(config, "workerinput", None)
    suite_tmp = os.environ.get("GATEKEEPER_SUITE_TMP")
    if workerinput is None or not suite_tmp:
        return None
    return Path(suite_tmp) / f"verdaccio-shared-{workerinput['testrunuid']}"


@pytest.fixture(scope="session")
def verdaccio(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Verdaccio]:
    """One real Verdaccio for the whole run (fresh storage); use unique package names per test.

    Under xdist the workers share one (started once under a file lock, each worker with its own
    proxy in front; tests/_support/verdaccio.py shared_verdaccio_session)."""
    shared = _shared_verdaccio_root(request.config)
    session = shared_verdaccio_session(shared) if shared else verdaccio_session(tmp_path_factory.mktemp("verdaccio"))
    with session as registry:
        yield registry


@pytest.fixture(scope="session")
def verifier_modules() -> Iterator[Path]:
    """The pinned Sigstore verifier (npm ci of gatekeeper/verifier/package-lock.json), found by the product."""
    modules = verifier.ensure_installed()
    old = os.environ.get(verifier.ENV)
    os.environ[verifier.ENV] = str(modules)
    try:
        yield modules
    finally:
        if old is None:
            os.environ.pop(verifier.ENV, None)
        else:
            os.environ[verifier.ENV] = old


@pytest.fixture
def package_repo(tmp_path: Path) -> Callable[..., Path]:
    """Factory: `package_repo(name="demo-pkg", version="1.0.0", scripts=None, extra_files=None, workflow=...)`."""
    counter = 0

    def make(name: str = "demo-pkg", version: str = "1.0.0", **kw: Any) -> Path:
        nonlocal counter
        counter += 1
        return make_package_repo(tmp_path / f"repo{counter}", name, version, **kw)

    return make


@pytest.fixture
def action_home(tmp_path: Path) -> Path:
    """An empty HOME directory for an action run (like /github/home)."""
    home = tmp_path / "home"
    home.mkdir()
    return home


# Groups that must stay on one xdist worker (scripts/test.sh runs `-n auto --dist loadgroup`): the
# container tests share one image build, so they run in order on a single worker while the other
# worker takes the rest of the suite. The provenance tests use the package name `sigstore` itself
# (the real tarball) on the Verdaccio that all workers share, and publish and watch it in turn: one
# worker, in file order, as in a plain run.
XDIST_GROUPS = {"test_container.py": "container", "test_provenance_verify.py": "sigstore"}


# Runs after everything else (it checks what the run left on the host): last in a plain run; under
# xdist nothing is "last", so it skips there and scripts/test.sh runs it on its own after the suite.
RUNS_LAST = "test_host_untouched.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = XDIST_GROUPS.get(item.path.name)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
    last = [item for item in items if item.path.name == RUNS_LAST]
    if last:
        items[:] = [item for item in items if item.path.name != RUNS_LAST] + last
        if hasattr(config, "workerinput"):
            for item in last:
                item.add_marker(
                    pytest.mark.skip(reason="runs after the whole suite: scripts/test.sh runs it alone at the end")
                )


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    """The CLI run in-process scrubs `os.environ` as it must (`hostenv.scrub`: npm_config_*, proxies, ...): put
    the worker's environment back after each test, so later tests' npm children keep the suite's npm logs dir
    and cache (a fresh-clone run had a cold-cache `npm install` log into ~/.npm/_logs after such a test)."""
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)
