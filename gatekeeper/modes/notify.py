"""`gatekeeper notify --from-report FILE`: the notify step for a release another tool published
(semantic-release), from the gate's JSON report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gatekeeper._internal import markdown
from gatekeeper.errors import GatekeeperError
from gatekeeper.steps.notify import NotifyResult, Published, explain, notify, run_url
from gatekeeper.steps.record import INTEGRITY
from gatekeeper.steps.run import clients

MAX_REPORT_BYTES = 32 * 1024 * 1024


def published_from_report(data: Any, env: Mapping[str, str]) -> Published:
    """The release a gate report (check or publish mode, decision allow) describes."""
    if not isinstance(data, dict):
        raise GatekeeperError("The gate report is not a JSON object", "Pass the report the gate wrote")
    if data.get("decision") != "allow" or data.get("mode") not in ("check", "publish"):
        raise GatekeeperError(
            "The gate report does not allow this release (decision is not `allow`)",
            "Only a release the gate allowed can be recorded; run the gate first",
        )
    pkg = data.get("package") if isinstance(data.get("package"), dict) else {}
    pub = data.get("publish") if isinstance(data.get("publish"), dict) else {}
    name, version, integrity = pkg.get("name"), pkg.get("version"), pub.get("integrity")
    if not (isinstance(name, str) and isinstance(version, str) and isinstance(integrity, str)):
        raise GatekeeperError("The gate report has no package name, version or integrity", "Pass the gate's report")
    if not INTEGRITY.match(integrity):
        raise GatekeeperError("The gate report's integrity is not a sha512 SRI string", "Pass the gate's report")
    prev = data.get("previous") if isinstance(data.get("previous"), dict) else {}
    findings = [f for f in data.get("findings") or [] if isinstance(f, dict)]
    delta = data.get("delta") if isinstance(data.get("delta"), dict) else None
    return Published(
        name=name,
        version=version,
        integrity=integrity,
        previous_version=str(prev["version"]) if prev.get("version") else None,
        commit=env.get("GITHUB_SHA", ""),
        run_url=run_url(env),
        delta=delta,
        findings=findings,
    )


def run_from_report(inputs: Any, env: Mapping[str, str], report_file: Any, out: Any, err: Any) -> int:
    """Notify for a release another tool published, from the gate's JSON report; 0 ok, 2 failed."""
    from pathlib import Path

    from gatekeeper._internal import actions
    from gatekeeper.context import GitHubRun
    from gatekeeper.trust.policy import load_policy

    for secret in inputs.secrets():
        if actions.in_actions(env):
            actions.add_mask(secret.reveal(), out=out)
    result = NotifyResult()
    rel: Published | None = None
    try:
        path = Path(report_file)
        if not path.is_file() or path.stat().st_size > MAX_REPORT_BYTES:
            raise GatekeeperError(f"No gate report at {path} (or it is too large)", "Pass --from-report FILE")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GatekeeperError(f"The gate report {path} is not JSON ({type(exc).__name__})") from None
        rel = published_from_report(data, env)
        workspace = Path(env.get("GITHUB_WORKSPACE") or ".").resolve()
        policy = load_policy(workspace / inputs.policy, required=inputs.policy != ".github/npm-gatekeeper.yml")
        gh_run = GitHubRun.from_env(env)
        registry, github = clients(inputs, env, policy, gh_run)
        result = notify(
            rel,
            policy.notify,
            github=github,
            registry=registry,
            webhook=inputs.notify_webhook,
            repository=gh_run.repository,
            deadline=registry.deadline,
        )
        label = f"{rel.name}@{rel.version}"
    except GatekeeperError as exc:
        result.errors.append(explain(exc))
        label = "the release"
    text = "; ".join(result.errors)
    for secret in inputs.secrets():
        text = secret.redact(text)
    if actions.in_actions(env):
        actions.set_outputs({"notified": "true" if result.ok else "false"}, env)
        line = f"npm-gatekeeper notify: {label}: " + ("notified" if result.ok else "FAILED: " + markdown.text(text))
        actions.append_summary(f"### {line}\n", env)
    if result.ok:
        out.write(
            f"npm-gatekeeper: notified for {label} (Release {result.release_action}"
            f"{': ' + result.release_url if result.release_url else ''}; webhook {result.webhook})\n"
        )
        return 0
    if rel is None:  # no release to speak of: the report itself was missing or unusable
        err.write(f"npm-gatekeeper notify: nothing was recorded or sent: {text}.\n")
    else:  # notify never publishes nor unpublishes: whatever the registry serves is unchanged
        err.write(
            f"npm-gatekeeper notify: the notification for {label} failed: {text}. notify publishes nothing: "
            "what the registry serves is unchanged by it.\n"
        )
    return 2
