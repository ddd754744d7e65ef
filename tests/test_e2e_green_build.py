"""End to end: a green build cannot be whitewashed (issue 21, item 5), through entrypoint.py.

A failed check run is superseded only by a later run of the same check suite (a re-run), never by a newer
same-named run of another workflow or app concluding `skipped` or `success`: the gate reads `filter=all` and
decides per suite. The GitHub stand-in's `filter=latest` keeps the newest run per name, the loosest reading
GitHub's docs allow, so a gate that trusted it would be whitewashed here. Classic branch protection's
required checks (as `GET /branches/{b}` shows them) count like a ruleset's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests._support.github_server import GitHubServer
from tests._support.verdaccio import Verdaccio
from tests.test_e2e_publish import Release, _assert_blocked, release_factory

CI_SUITE = 7001  # the suite of the CI workflow's run that failed


@pytest.fixture
def release(verdaccio: Verdaccio, github_server: GitHubServer, package_repo: Callable[..., Path], tmp_path: Path):
    return release_factory(verdaccio, github_server, package_repo, tmp_path, lint_status=False)


@pytest.mark.parametrize("shadow", ["skipped", "success"])
def test_a_failing_check_shadowed_by_a_newer_same_named_run_of_another_suite_blocks(release, shadow: str) -> None:
    rel: Release = release(green=False)
    failed = rel.repo.add_check_run(rel.sha, "test", "failure", check_suite_id=CI_SUITE)
    # a newer `test` from another workflow (another suite), or another app, concluding skipped/success
    rel.repo.add_check_run(rel.sha, "test", shadow, check_suite_id=CI_SUITE + 1)
    rel.repo.add_check_run(rel.sha, "test", shadow, app_id=4242, app_slug="whitewash", app_name="Whitewash")
    result = rel.run()
    _assert_blocked(result, rel, "check-failed")
    f = next(f for f in result.report["findings"] if f["rule"] == "check-failed")
    assert str(failed.id) in result.summary or "test" in f["message"]


def test_a_rerun_in_the_same_suite_supersedes_the_failure(release) -> None:
    rel: Release = release(green=False)
    rel.repo.add_check_run(rel.sha, "test", "failure", check_suite_id=CI_SUITE)
    rel.repo.add_check_run(rel.sha, "test", "success", check_suite_id=CI_SUITE)  # re-run of the same suite
    result = rel.run()
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0"]


def test_classic_branch_protection_required_checks_count(release) -> None:
    rel: Release = release()
    rel.repo.protect_branch("main", ["build"])
    result = rel.run()
    _assert_blocked(result, rel, "required-check-missing")
    assert "build" in next(f for f in result.report["findings"] if f["rule"] == "required-check-missing")["message"]
    rel.repo.add_check_run(rel.sha, "build", "success")
    result = rel.run()
    assert result.returncode == 0, result.describe()
    assert rel.versions() == ["1.0.0"]
