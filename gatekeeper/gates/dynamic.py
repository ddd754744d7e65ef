"""Gate `dynamic` (issue 25, opt-in: `dynamic: warn | block`): what `npm install` of this release does,
observed in a sandbox, against what the last release's install does.

Both releases are installed the way a consumer installs them (`_internal/sandbox.py`: fetched with scripts
off, then `npm rebuild --offline` with scripts on under strace, an unprivileged uid, canary credentials, the
network refused by seccomp, a deadline); each trace becomes a per-package behaviour profile
(`diffing/install_behaviour.py`) and only behaviour the baseline's install did not show is a finding: the
baseline is what consumers already run. A first release has no baseline: everything its install does is new.

Where it runs: `mode: check` only (publish mode: skipped, the publish job holds the credential). A check
run that holds a credential anyway (the npm token input, NODE_AUTH_TOKEN/NPM_TOKEN, the runner's ID-token
request variables) refuses: `install-observation-refused`, a floor. Where the sandbox cannot work (no strace,
ptrace or seccomp refused), or an install hits its deadline or the trace cap: `install-not-observed` --
never an unobserved run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gatekeeper._internal import markdown as md
from gatekeeper.diffing import install_behaviour as ib
from gatekeeper.errors import GatekeeperError
from gatekeeper.findings import Finding, Severity
from gatekeeper.gates import ReportExtras, Skip
from gatekeeper.rules.dynamic import (
    INSTALL_NETWORK_ATTEMPT,
    INSTALL_NEW_PROCESS,
    INSTALL_NOT_OBSERVED,
    INSTALL_OBSERVATION_REFUSED,
    INSTALL_READS_CREDENTIALS,
    INSTALL_WRITES_OUTSIDE,
)

if TYPE_CHECKING:
    from gatekeeper.context import Context

NAME = "dynamic"

#: The rule of each kind of new behaviour.
RULE_OF = {
    "processes": INSTALL_NEW_PROCESS,
    "network": INSTALL_NETWORK_ATTEMPT,
    "canaries": INSTALL_READS_CREDENTIALS,
    "writes": INSTALL_WRITES_OUTSIDE,
    "deleted": INSTALL_WRITES_OUTSIDE,
    "executable": INSTALL_WRITES_OUTSIDE,
}
_WHAT = {
    "processes": "runs",
    "network": "tries to connect to (refused by the sandbox)",
    "canaries": "opens the credential file",
    "writes": "writes",
    "deleted": "deletes or renames away",
    "executable": "makes executable",
}
#: Variables whose presence means this job holds a credential.
CREDENTIAL_VARS = ("NODE_AUTH_TOKEN", "NPM_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
MAX_FINDINGS = 50


@dataclass
class Observed:
    """What the gate observed: the candidate's profile, the baseline's (None: first release), the changes."""

    candidate: ib.Profile
    baseline: ib.Profile | None
    baseline_version: str | None
    changes: list[ib.Change] = field(default_factory=list)
    seconds: float = 0.0
    lost: tuple[str, ...] = ()
    exit_code: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "baseline_version": self.baseline_version,
            "packages": self.candidate.to_json(),
            "new": [{"package": c.package, "kind": c.kind, "item": c.item} for c in self.changes],
            "seconds": self.seconds,
            "limits": list(self.lost),
        }


def held_credentials(ctx: Context) -> list[str]:
    """What credential this run holds (names only): the npm token, the runner's ID-token request, and a token
    that actions/checkout persisted in the workspace's `.git/config` (a file the install could read)."""
    held = [name for name in CREDENTIAL_VARS if ctx.env.get(name)]
    if ctx.inputs.npm_token is not None and not any(n in held for n in ("NODE_AUTH_TOKEN", "NPM_TOKEN")):
        held.insert(0, "the `npm-token` input")
    try:
        with open(ctx.workspace / ".git" / "config", "rb") as fh:
            config = fh.read(1024 * 1024).decode("utf-8", "replace").lower()
    except OSError:
        config = ""
    if "extraheader" in config:
        held.append("a token persisted by actions/checkout in .git/config (use `persist-credentials: false`)")
    return held


def applies(ctx: Context) -> bool:
    """Opt-in: a run whose policy leaves `dynamic` off does not list this gate (nothing changes for it)."""
    return ctx.policy.dynamic.level != "off"


def check(ctx: Context) -> list[Finding]:
    level = ctx.policy.dynamic.level
    if level == "off":
        raise Skip("`dynamic` is off in the policy (opt-in: `dynamic: warn | block`)")
    if ctx.inputs.mode != "check":
        raise Skip(
            f"the install sandbox runs only in `mode: check` (a job without the npm token or `id-token: write`); "
            f"this is `mode: {ctx.inputs.mode}`, which holds the credential"
        )
    assert ctx.tarball is not None and ctx.package is not None
    return run(ctx, ctx.package.name, ctx.tarball.path, f"this release ({ctx.package.name}@{ctx.package.version})")


def run(
    ctx: Context,
    name: str,
    candidate: Path,
    candidate_label: str,
    *,
    baseline: Path | None = None,
    baseline_label: str = "",
) -> list[Finding]:
    """Observe the install of `candidate` (a tarball of package `name`) against a baseline and return the
    findings; the profile is kept in `ctx.memo.dynamic`. The baseline is the tarball `baseline` when given
    (pull-request mode: the merge base packed), else the diff gate's verified last release (check mode).
    Refuses (a floor) in a job that holds a credential; never runs an install unobserved."""
    severity = Severity.WARN if ctx.policy.dynamic.level == "warn" else None
    held = held_credentials(ctx)
    if held:
        return [
            INSTALL_OBSERVATION_REFUSED(
                f"The install sandbox did not run: this job holds {', '.join(held)}. Installing the release runs its "
                "code, which must never happen next to a credential.",
                held=held,
            )
        ]
    from gatekeeper._internal import sandbox

    reason = sandbox.probe()
    if reason is not None:
        return [
            INSTALL_NOT_OBSERVED(
                f"The install was not observed, and was not run unobserved: {reason}.", severity=severity, reason=reason
            )
        ]
    observed, problems = _observe(ctx, name, candidate, candidate_label, baseline, baseline_label)
    ctx.memo.dynamic = observed
    out = [INSTALL_NOT_OBSERVED(p, severity=severity) for p in problems]
    for change in observed.changes[:MAX_FINDINGS]:
        rule = RULE_OF[change.kind]
        since = f"the install of {observed.baseline_version} did not" if observed.baseline_version else "first release"
        out.append(
            rule(
                f"{change.package} {_WHAT[change.kind]} {change.item} at install time (new: {since}).",
                severity=severity,
                package=change.package,
                behaviour=change.item,
                trace=change.evidence,
            )
        )
    if len(observed.changes) > MAX_FINDINGS:
        rest = observed.changes[MAX_FINDINGS:]
        out.append(
            RULE_OF[rest[0].kind](
                f"... and {len(rest)} more new install behaviours (see the install-behaviour section)",
                severity=severity,
            )
        )
    return out


def _observe(
    ctx: Context, name: str, candidate: Path, candidate_label: str, baseline: Path | None, baseline_label: str
) -> tuple[Observed, list[str]]:
    from gatekeeper._internal import sandbox
    from gatekeeper.gates import diff as diff_gate

    registry = diff_gate.registry_url_of(ctx.registry)
    base_source: Path | str | None = baseline
    if baseline is not None:
        base_version: str | None = baseline_label
    else:
        last = diff_gate.compute(ctx).baseline  # the diff gate's verified baseline (None: first release)
        base_version = str(last["version"]) if isinstance(last, dict) and last.get("version") else None
        base_source = base_version
    seconds = float(ctx.policy.dynamic.timeout)
    if ctx.deadline is not None:
        seconds = max(1.0, min(seconds, ctx.deadline.remaining() / 3))
    fetch = float(ctx.policy.diff.resolve_timeout)  # fetching a tree is what resolving it takes, plus downloads
    if ctx.deadline is not None:
        fetch = max(1.0, min(fetch, ctx.deadline.remaining() / 3))
    limits = sandbox.Limits(seconds=seconds, fetch_seconds=fetch)
    problems: list[str] = []

    def profile(source: object, label: str) -> tuple[ib.Profile, sandbox.Observation]:
        obs = sandbox.observe_install(source, name, registry=registry, limits=limits, workspace=ctx.workspace)  # type: ignore[arg-type]
        if obs.left_running:
            raise GatekeeperError(
                f"{obs.left_running} process(es) of the install sandbox ({label}) could not be stopped",
                "Stop the job; nothing was published",
            )
        if obs.timed_out:
            problems.append(
                f"The install of {label} was still running at its deadline ({seconds:.0f} s) and was stopped: what it "
                "would have done after that was not observed."
            )
        if obs.truncated:
            problems.append(f"The trace of the install of {label} hit its size cap: what followed was not observed.")
        layout = ib.Layout(obs.project, obs.home, obs.tmp, obs.canaries)
        trace = obs.trace
        for secret in ctx.inputs.secrets():  # defence in depth: the install never saw them (not in its env)
            trace = secret.redact(trace)
        return ib.read_trace(trace, layout, truncated=obs.truncated), obs

    cand, obs = profile(candidate, candidate_label)
    base = None
    if base_source is not None:
        label = baseline_label if baseline is not None else f"the last release ({name}@{base_version})"
        base = profile(base_source, label)[0]
    observed = Observed(
        candidate=cand,
        baseline=base,
        baseline_version=base_version,
        changes=ib.diff(base, cand),
        seconds=obs.seconds,
        lost=obs.lost,
        exit_code=obs.exit_code,
    )
    return observed, problems


def observed(ctx: Context) -> dict[str, object] | None:
    """The install-behaviour section of the JSON report (None: the gate did not observe)."""
    held = ctx.memo.dynamic
    return held.to_json() if isinstance(held, Observed) else None


def report_extras(ctx: Context) -> ReportExtras | None:
    held = ctx.memo.dynamic
    if not isinstance(held, Observed):
        return None
    return ReportExtras(None, markdown_section(held), "\n".join(text_lines(held)))


def text_lines(obs: Observed) -> list[str]:
    """The section as plain text; package text (names, argv, paths) made visible by `terminal.safe`."""
    from gatekeeper._internal import terminal

    lines = ["What `npm install` of this release does (observed in the sandbox):"]
    body = ib.summary_lines(obs.candidate)
    lines += [terminal.safe(f"  {line}") for line in body] or [
        "  nothing: no install script ran a program, wrote, read or connected"
    ]
    return lines


def markdown_section(obs: Observed) -> str:
    """The summary section: processes, files, network per package, new items marked."""
    from gatekeeper._internal import terminal

    new = {(c.package, c.kind, c.item) for c in obs.changes}
    out = ["### What `npm install` of this release does", ""]
    against = (
        f"compared with the install of {md.code(obs.baseline_version)}" if obs.baseline_version else "first release"
    )
    out.append(f"Observed in the install sandbox ({against}; **new** = not done by that install).")
    out.append("")
    any_pkg = False
    for name, beh in sorted(obs.candidate.packages.items()):
        if beh.empty():
            continue
        any_pkg = True
        out.append(f"- {md.code(terminal.safe(name))}")
        for kind in ib.KINDS:
            for item in sorted(beh.items[kind]):
                mark = " **new**" if (name, kind, item) in new else ""
                out.append(f"  - {kind}: {md.code(terminal.safe(item))}{mark}")
            if beh.more[kind]:
                out.append(f"  - {kind}: ... and {beh.more[kind]} more")
    if not any_pkg:
        out.append(
            "Nothing: no install script ran a program, wrote outside its folder, read a credential or connected."
        )
    return "\n".join(out) + "\n"
