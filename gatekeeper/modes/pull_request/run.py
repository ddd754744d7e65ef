"""`run_pull_request`: read both sides, run the gates, apply the label, decide and report."""

from __future__ import annotations

import posixpath
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from gatekeeper import report
from gatekeeper._internal.github import GitHubClient
from gatekeeper._internal.registry import RegistryClient
from gatekeeper.config import INPUT_DEFAULTS, Inputs
from gatekeeper.context import Context, GitHubRun
from gatekeeper.decision import apply_overrides, decide, gate_status
from gatekeeper.errors import ConfigError, GatekeeperError
from gatekeeper.findings import Finding
from gatekeeper.gates import dynamic as dynamic_gate
from gatekeeper.modes.pull_request import dynamic as pr_dynamic
from gatekeeper.modes.pull_request.approvals import LABEL_GATES, LabelApproval, apply_label, label_approval
from gatekeeper.modes.pull_request.check import PullRequestCheck, load_base_policy
from gatekeeper.modes.pull_request.event import PullRequestEvent
from gatekeeper.modes.pull_request.gates import check_changes, check_lockfiles, check_policy_file
from gatekeeper.modes.pull_request.git_objects import GitObjects
from gatekeeper.modes.pull_request.manifests import check_manifests
from gatekeeper.modes.pull_request.reporting import PullRequestOutcome, _report
from gatekeeper.steps.run import error_outcome, mask_secrets, redact, run_gate


def run_pull_request(
    inputs: Inputs,
    env: Mapping[str, str],
    *,
    report_path: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    fmt: str = "markdown",
) -> int:
    """Run pull-request mode; returns the exit code (0 allow, 1 block, 2 could not decide)."""
    out = out or sys.stdout
    err = err or sys.stderr
    mask_secrets(inputs, env, out)
    workspace = Path(env.get("GITHUB_WORKSPACE") or ".").resolve()
    client: GitHubClient | None = None
    pr: PullRequestEvent | None = None
    try:
        run = GitHubRun.from_env(env)
        pr = PullRequestEvent.from_run(run)
        if not run.repository or not inputs.github_token:
            raise ConfigError(
                "Pull-request mode needs the GitHub API (GITHUB_REPOSITORY and a token)",
                "Pass `github-token` (default: github.token) and run in GitHub Actions",
            )
        client = GitHubClient(run.api_url, run.repository, inputs.github_token)
        result = _check(inputs, env, run, pr, client, workspace)
    except GatekeeperError as exc:
        result = PullRequestOutcome(error_outcome(inputs.mode, exc.plain()))
    except Exception as exc:  # fail closed on anything unexpected
        detail = redact(inputs, f"{type(exc).__name__}: {exc}")
        result = PullRequestOutcome(error_outcome(inputs.mode, f"Internal error ({detail}). Please report this."))
        err.write(redact(inputs, traceback.format_exc()))
    if pr is not None:
        result.info.setdefault("number", pr.number)
        result.info.setdefault("base_sha", pr.base_sha)
        result.info.setdefault("head_sha", pr.head_sha)
    _report(result, inputs, env, workspace, report_path, client, out, err, fmt)
    return result.outcome.decision.exit_code


def _check(
    inputs: Inputs, env: Mapping[str, str], run: GitHubRun, pr: PullRequestEvent, client: GitHubClient, ws: Path
) -> PullRequestOutcome:
    git = GitObjects(ws, env)
    token = inputs.github_token.reveal() if inputs.github_token else None
    git.ensure_commits([pr.base_sha, pr.head_sha], token)
    merge_base = git.merge_base(pr.base_sha, pr.head_sha)
    policy_path = posixpath.normpath(inputs.policy.replace("\\", "/")).lstrip("/")
    policy = load_base_policy(git, pr.base_sha, policy_path, required=inputs.policy != INPUT_DEFAULTS["policy"])
    pull = client.call(f"reading pull request #{pr.number}", lambda: client.repo.get_pull(pr.number))
    check = PullRequestCheck(
        pr=pr,
        git=git,
        merge_base=merge_base,
        policy=policy,
        policy_path=policy_path,
        registry=inputs.registry,
        changed=git.changed(merge_base, pr.head_sha),
        pull=pull,
    )
    ctx = Context(
        inputs=inputs,
        env=env,
        run=run,
        workspace=ws,
        package_dir=ws,
        policy=policy,
        registry=RegistryClient(inputs.registry, None),  # never used: this mode needs no npm credential
        github=client,
    )
    gates: list[tuple[str, Callable[[PullRequestCheck], list[Finding]]]] = [
        ("changes", lambda c: client.call("listing the pull request's files", lambda: check_changes(c))),
        ("manifests", check_manifests),
        ("lockfiles", check_lockfiles),
        ("policy", check_policy_file),
    ]
    if pr_dynamic.applies(check):  # the base's policy asks: `dynamic: {level: ..., pull-request: true}`
        gates.insert(-1, ("dynamic", lambda c: pr_dynamic.check_dynamic(c, ctx)))
    results = [run_gate(name, lambda _ctx, fn=fn: fn(check), ctx) for name, fn in gates]  # type: ignore[misc]
    policy_gate = results[-1]
    approval: LabelApproval | None = None
    if any(f.blocks for r in results if r.name in LABEL_GATES for f in r.findings):
        try:
            approval = label_approval(client, check)
        except GatekeeperError as exc:
            policy_gate.status, policy_gate.error = "error", exc.plain()
    extra = apply_overrides(apply_label(results, approval, LABEL_GATES), policy)
    if extra and policy_gate.status != "error":
        policy_gate.findings += extra
        policy_gate.status = gate_status(policy_gate.findings)
    decision = decide(results)
    outcome = report.Outcome(mode=inputs.mode, decision=decision, gates=results)
    if any(r.name == "dynamic" and r.status != "error" for r in results):
        outcome.install_behaviour = dynamic_gate.observed(ctx)
        extras = dynamic_gate.report_extras(ctx)
        if extras is not None:
            outcome.extra_markdown.append(extras.markdown)
            outcome.extra_text.append(extras.text)
    if decision.exit_code == 2:
        outcome.error = decision.reason  # say on the PR why it could not be checked
    info: dict[str, object] = {
        "number": pr.number,
        "base_sha": pr.base_sha,
        "head_sha": pr.head_sha,
        "merge_base": merge_base,
        "policy": policy.source,
        "changed_files": len(check.changed),
        "approval_label": None
        if approval is None
        else {"label": approval.label, "approved": approval.approved, "reason": approval.reason},
    }
    return PullRequestOutcome(outcome, info)
