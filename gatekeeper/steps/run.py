"""What every mode's run shares: its wiring (`RunOptions`), masking and redaction of the secrets, one gate
run turned into a result (fail closed), the network clients under the run's deadline, and `emit`, which
writes the outcome to every place a run reports to.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gatekeeper import report
from gatekeeper._internal import actions
from gatekeeper.config import Inputs
from gatekeeper.decision import EXIT_ERROR, Decision, GateResult, apply_overrides, gate_status
from gatekeeper.errors import GatekeeperError
from gatekeeper.gates import Skip

if TYPE_CHECKING:
    from gatekeeper._internal.github import GitHubClient
    from gatekeeper._internal.registry import RegistryClient
    from gatekeeper.context import Context

#: Where the JSON report goes in Actions, relative to the workspace: under node_modules/.cache (the
#: usual home of tool caches), so `npm pack` never picks it up and later steps find it at this path.
REPORT_PATH = "node_modules/.cache/npm-gatekeeper/report.json"


@dataclass
class RunOptions:
    """How the run is wired (not user policy)."""

    report_path: Path | None = None
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    #: Run only these gates (None: every gate); `skip_gates` leaves these out. Names: `gate_names()`.
    gates: tuple[str, ...] | None = None
    skip_gates: tuple[str, ...] = ()
    #: Pack as if package.json said this version (semantic-release's next version).
    pack_version: str | None = None
    #: Keep the packed tarball in this folder (otherwise a private temp dir, deleted).
    pack_destination: Path | None = None
    #: What stdout gets: markdown (the job summary's text), text (a terminal, semantic-release's logger)
    #: or json (the report).
    output_format: str = "markdown"
    #: Variables of the inherited environment that change how python, node, npm, git or the network behave
    #: (gatekeeper._internal.hostenv), removed at start-up: publish mode refuses to run when there is one.
    untrusted_env: tuple[str, ...] = ()
    #: The values of those that name a proxy or a CA bundle: publish mode accepts one that says exactly what the
    #: policy's `network:` says (the route, issue 21).
    network_env: Mapping[str, str] = field(default_factory=dict)


def mask_secrets(inputs: Inputs, env: Mapping[str, str], out: TextIO) -> None:
    """Ask the runner to mask the tokens before anything else is printed."""
    if not actions.in_actions(env):
        return
    for secret in inputs.secrets():
        actions.add_mask(secret.reveal(), out=out)


def redact(inputs: Inputs, text: str) -> str:
    for secret in inputs.secrets():
        text = secret.redact(text)
    return text


def error_outcome(mode: str, message: str) -> report.Outcome:
    return report.Outcome(mode=mode, decision=Decision(False, EXIT_ERROR, message), gates=[], error=message)


def run_gate(name: str, check: Callable[[Context], list], ctx: Context) -> GateResult:
    """Run one gate, turning faults into an `error` status (fail closed)."""
    try:
        findings = apply_overrides(check(ctx), ctx.policy)
    except Skip as exc:
        return GateResult(name, "skipped", [], None if not str(exc) else str(exc))
    except GatekeeperError as exc:
        # A gate that could not finish may still carry the findings of what it did check (the diff gate's
        # static findings when the consumer tree cannot be resolved): reported, the run still exits 2.
        kept = apply_overrides(list(getattr(exc, "findings", None) or []), ctx.policy)
        return GateResult(name, "error", kept, exc.diagnostic())
    except Exception as exc:
        return GateResult(
            name, "error", [], redact(ctx.inputs, f"Internal error in gate {name}: {type(exc).__name__}: {exc}")
        )
    return GateResult(name, gate_status(findings), findings)


def clients(
    inputs: Any, env: Mapping[str, str], policy: Any, gh_run: Any, deadline: Any = None, route: Any = None
) -> tuple[RegistryClient, GitHubClient | None]:
    """The registry and GitHub adapters of a run, bounded by its deadline (a new one from `inputs.timeout`
    when none is given) and the policy's byte budgets; the pipeline, notify and watch all build them here."""
    from gatekeeper._internal import budget
    from gatekeeper._internal.github import GitHubClient
    from gatekeeper._internal.registry import PUBLIC_ALIASES_ENV, ByteLimits, RegistryClient

    deadline = deadline or budget.Deadline(inputs.timeout)
    net = policy.network
    registry = RegistryClient(
        inputs.registry,
        inputs.npm_token,
        retries=int(env.get("GATEKEEPER_REGISTRY_RETRIES", "3")),
        backoff=float(env.get("GATEKEEPER_REGISTRY_BACKOFF", "1.0")),
        deadline=deadline,
        limits=ByteLimits(packument=net.max_packument_bytes, json=net.max_registry_json_bytes),
        public_aliases=env.get(PUBLIC_ALIASES_ENV, "").split(","),
        route=route,
    )
    github = None
    if gh_run.repository and inputs.github_token:
        github = GitHubClient(
            gh_run.api_url,
            gh_run.repository,
            inputs.github_token,
            deadline=deadline,
            max_bytes=net.max_github_bytes,
            route=route,
        )
    return registry, github


def emit(outcome: report.Outcome, inputs: Inputs, env: Mapping[str, str], workspace: Path, opts: RunOptions) -> None:
    """Write the outcome where this run shows it: the JSON report, the job summary, annotations and outputs in
    Actions, the one-paragraph error on stderr, and `--format` on stdout."""
    in_actions = actions.in_actions(env)
    path = opts.report_path
    if path is None and in_actions:
        path = workspace / REPORT_PATH
    shown = ""
    if path is not None:
        report.write_json(outcome, path)
        shown = str(path.relative_to(workspace)) if path.is_relative_to(workspace) else str(path)
    markdown = report.to_markdown(outcome)
    if in_actions:
        report.annotate(outcome, out=opts.out)
        actions.append_summary(markdown, env)
        actions.set_outputs(report.outputs(outcome, shown), env)
    if outcome.error:
        opts.err.write("npm-gatekeeper: " + outcome.error + "\n")
    opts.out.write(report.render(outcome, opts.output_format, markdown))
    opts.out.flush()
