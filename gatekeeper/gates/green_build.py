"""Gate 2 — the commit's build is green: every check run and commit status on GITHUB_SHA
concluded success/neutral/skipped, except this job's own check run.

Pending checks are polled until `wait-for-checks` seconds have passed. Checks required by
the branch's rulesets (and `checks.required` in the policy) must be present and green.
"""

from __future__ import annotations

import time
from fnmatch import fnmatchcase

from gatekeeper._internal.github import Check
from gatekeeper.context import Context
from gatekeeper.errors import ConfigError
from gatekeeper.findings import Finding, Severity
from gatekeeper.gates import Skip
from gatekeeper.rules.green_build import CHECK_FAILED, CHECK_PENDING, NO_CHECKS, OWN_JOB_UNKNOWN, REQUIRED_CHECK_MISSING

NAME = "green-build"


#: Injectable for tests of the polling loop.
sleep = time.sleep
monotonic = time.monotonic


def check(ctx: Context) -> list[Finding]:
    """Findings about the commit's check runs and statuses."""
    run = ctx.run
    if not run.in_actions:
        raise Skip("not running in GitHub Actions")  # the branch gate blocks (not-in-ci)
    if ctx.github is None:
        raise ConfigError(
            "No GitHub token is available to read the checks", "Pass `github-token` (default: github.token)"
        )
    gh = ctx.github
    policy = ctx.policy.checks

    findings: list[Finding] = []
    own_ids: set[int] = set()
    if run.run_id is not None:
        own_ids = _own_check_run_ids(ctx)
        if not own_ids:
            findings.append(
                OWN_JOB_UNKNOWN(
                    f"Could not tell which job of run {run.run_id} is this one; all in-progress checks count."
                )
            )

    required = set(policy.required)
    apps: dict[str, set[int]] = {}  # required context -> the apps (integration_id) that alone may satisfy it
    branch = run.ref.removeprefix("refs/heads/") if run.ref.startswith("refs/heads/") else ""
    if branch:
        for name, app in gh.required_check_specs(branch):
            required.add(name)
            if app is not None:
                apps.setdefault(name, set()).add(app)

    def satisfies(c: Check, name: str) -> bool:
        if c.name != name:
            return False
        if name in apps:  # a ruleset pins the source: only a check run of that app counts
            return c.kind == "check-run" and c.app_id in apps[name]
        return True

    deadline = monotonic() + _wait_seconds(ctx)
    while True:
        checks = [
            c
            for c in gh.checks(run.sha)
            if not (c.kind == "check-run" and c.id in own_ids)
            and not any(fnmatchcase(c.name, p) for p in policy.ignore)
        ]
        pending = [c for c in checks if c.state == "pending"]
        pending_required = [r for r in required if not any(satisfies(c, r) for c in checks)]
        remaining = deadline - monotonic()
        if not (pending or pending_required) or remaining <= 0:
            break
        sleep(max(0.0, min(float(policy.poll_interval or 1), remaining)))

    for c in checks:
        if c.state == "failure":
            findings.append(
                CHECK_FAILED(
                    f"{_label(c)} `{c.name}` concluded `{c.detail}`{_url(c)}.",
                    name=c.name,
                    conclusion=c.detail,
                    url=c.url,
                )
            )
        elif c.state == "pending":
            findings.append(
                CHECK_PENDING(
                    f"{_label(c)} `{c.name}` is still `{c.detail}` after waiting "
                    f"{ctx.inputs.wait_for_checks}s{_url(c)}.",
                    name=c.name,
                    url=c.url,
                )
            )
    for name in sorted(required):
        if not any(satisfies(c, name) for c in checks):
            others = [c for c in checks if c.name == name]
            if name in apps and others:
                app_list = ", ".join(str(a) for a in sorted(apps[name]))
                found = ", ".join(
                    "a commit status" if c.kind == "status" else f"a check run of app {c.app_id}" for c in others
                )
                text = (
                    f"Required check `{name}` must be a check run of app {app_list} (the ruleset's integration_id); "
                    f"on {run.sha[:12]} it is only {found}, which anyone with write access can post."
                )
            else:
                text = f"Required check `{name}` did not run on {run.sha[:12]}."
            findings.append(REQUIRED_CHECK_MISSING(text, name=name))
    if not checks and not required:
        severity = Severity.BLOCK if policy.require_checks else Severity.WARN
        findings.append(
            NO_CHECKS(f"Commit {run.sha[:12]} has no check runs and no statuses besides this job.", severity=severity)
        )
    return findings


def _wait_seconds(ctx: Context) -> float:
    """`wait-for-checks`, cut to leave a quarter of the run's deadline (at least 10 s) for the rest."""
    wait = float(ctx.inputs.wait_for_checks)
    if ctx.deadline is None or ctx.deadline.seconds is None:
        return wait
    reserve = max(10.0, ctx.deadline.seconds / 4)
    return max(0.0, min(wait, ctx.deadline.remaining() - reserve))


def _own_check_run_ids(ctx: Context) -> set[int]:
    """This job's check-run id (an Actions job id is its check-run id)."""
    assert ctx.github is not None and ctx.run.run_id is not None
    jobs = ctx.github.run_jobs(ctx.run.run_id, ctx.run.run_attempt)
    running = [j for j in jobs if j.status in ("in_progress", "queued", "waiting", "pending")]
    if ctx.run.runner_name:
        mine = [j for j in running if j.runner_name == ctx.run.runner_name]
        if len(mine) == 1:
            return {mine[0].id}
    if ctx.run.job:
        mine = [j for j in running if j.name == ctx.run.job or j.name.startswith(ctx.run.job + " (")]
        if len(mine) == 1:
            return {mine[0].id}
    if len(running) == 1:
        return {running[0].id}
    return set()


def _label(c: Check) -> str:
    return "Check run" if c.kind == "check-run" else "Status"


def _url(c: Check) -> str:
    return f" ({c.url})" if c.url else ""
