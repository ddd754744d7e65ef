"""One run of publish/check mode: context -> gates -> decision -> report -> publish.

Fail closed: any fault becomes a gate `error` (exit 2) and nothing is published. The run has one
deadline (input `timeout`) that bounds every request, wait and the upload; SIGTERM/SIGINT (a
cancelled job) stops npm, removes the temp files and reports truthfully whether an upload had begun.
"""

from __future__ import annotations

import importlib
import shutil
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from gatekeeper import report
from gatekeeper._internal import git, hostenv, packers
from gatekeeper._internal import markdown as md
from gatekeeper._internal import npm as npm_cli
from gatekeeper._internal import route as route_mod
from gatekeeper._internal.deadline import Deadline
from gatekeeper._internal.proc import Cancelled, cancel_on_signals
from gatekeeper._internal.tarball import read_package
from gatekeeper.config import Inputs
from gatekeeper.context import Context, GitHubRun, PackageInfo, PackedTarball
from gatekeeper.decision import (
    EXIT_ALLOW,
    EXIT_BLOCK,
    EXIT_ERROR,
    Decision,
    GateResult,
    decide,
)
from gatekeeper.errors import ConfigError, GatekeeperError, PublishUncertain
from gatekeeper.rules.publish import APPROVED_INTEGRITY_MISMATCH, PUBLISH_REJECTED, PUBLISHED_OTHER_BYTES
from gatekeeper.steps.run import RunOptions, clients, emit, error_outcome, mask_secrets, redact, run_gate
from gatekeeper.trust.policy import Policy, load_policy

if TYPE_CHECKING:
    from gatekeeper._internal.github import GitHubClient
    from gatekeeper._internal.registry import RegistryClient
    from gatekeeper.trust.trusted_policy import PolicyTrust

# The gates, the diff engine, the trust modules and the HTTP clients (`requests`, PyGithub) are imported where
# they are used, after `npm pack` has started (see _start_pack): they load while npm packs.

#: The gates of publish/check mode, in order.
GATE_MODULES = (
    "gatekeeper.gates.policy",
    "gatekeeper.gates.branch",
    "gatekeeper.gates.commit",
    "gatekeeper.gates.green_build",
    "gatekeeper.gates.credential",
    "gatekeeper.gates.isolation",
    "gatekeeper.gates.diff",
    "gatekeeper.gates.provenance",
    "gatekeeper.gates.dynamic",
)


#: Gates that `--gates`/`--skip-gates` cannot leave out of a publish run (safety floors of publish mode).
ALWAYS_IN_PUBLISH = ("isolation",)

#: Seconds of the run's deadline that must be left to start `npm publish` (else: nothing is uploaded).
MIN_PUBLISH_SECONDS = 3.0
#: `npm pack` gets at most this much of the deadline.
PACK_SECONDS = 300.0


def _gate_modules() -> list[ModuleType]:
    mods = []
    for name in GATE_MODULES:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return mods


def gate_names() -> list[str]:
    """The gate names of publish/check mode, in order (`--gates`/`--skip-gates` take these)."""
    return [mod.NAME for mod in _gate_modules()]


def select_gates(opts: RunOptions) -> list[ModuleType]:
    """The gate modules this run runs; an unknown name is a configuration error."""
    mods = _gate_modules()
    known = [m.NAME for m in mods]
    # `--gates` is strict (a typo would silently run fewer gates). `--skip-gates` ignores names this
    # version does not have, so a caller may name gates of newer versions; a typo there runs more gates.
    for name in opts.gates or ():
        if name not in known:
            raise GatekeeperError(f"There is no gate named {name!r}", f"Use one of: {', '.join(known)}")
    return [m for m in mods if (opts.gates is None or m.NAME in opts.gates) and m.NAME not in opts.skip_gates]


def run(inputs: Inputs, env: Mapping[str, str], opts: RunOptions | None = None) -> int:
    """Run publish or check mode; returns the exit code (0 allow, 1 block, 2 error)."""
    opts = opts or RunOptions()
    mask_secrets(inputs, env, opts.out)
    deadline = Deadline(inputs.timeout)
    workspace = Path(env.get("GITHUB_WORKSPACE") or ".").resolve()
    tmp: Path | None = None
    outcome: report.Outcome
    started: list[int] = []  # npm publish's pid once it runs
    gated: report.Outcome | None = None  # the gates' outcome, kept if the publish step fails or is cancelled
    packing: Packing | None = None
    plan_tmps: list[Path] = []  # a release plan's pack dirs (one per package)
    with cancel_on_signals() as signals:
        try:
            try:
                if opts.untrusted_env and inputs.mode == "publish":
                    _refuse_untrusted_env(inputs, workspace, opts)
                if inputs.multi:  # a release plan of several packages: all or nothing
                    plan_gated: list[report.Outcome] = []
                    try:
                        outcome = _run_plan(inputs, env, workspace, deadline, opts, started, plan_gated, plan_tmps)
                    finally:
                        gated = plan_gated[-1] if plan_gated else None
                    raise _PlanDone
                packing = _start_pack(inputs, workspace, opts, deadline)  # npm packs while the gates are loaded
                gates = select_gates(opts)
                if inputs.mode == "publish":  # the isolation floor runs whatever `--skip-gates` says
                    gates = [m for m in _gate_modules() if m in gates or m.NAME in ALWAYS_IN_PUBLISH]
                ctx, tmp = _build_context(inputs, env, workspace, deadline, opts, packing)
                outcome = gated = _run_gates(ctx, gates, named=set(opts.gates or ()))
                if outcome.decision.allow and inputs.mode == "publish":
                    try:
                        _publish(ctx, outcome, started, opts.out)
                    except GatekeeperError as exc:
                        _publish_failed(outcome, exc)
                    if outcome.published or outcome.publish.get("staged"):
                        _notify(ctx, outcome)
            except _PlanDone:
                pass
            except GatekeeperError as exc:
                outcome = error_outcome(inputs.mode, exc.diagnostic())
                outcome.publish_uncertain = isinstance(exc, PublishUncertain)
            except Exception as exc:  # fail closed on anything unexpected
                detail = redact(inputs, f"{type(exc).__name__}: {exc}")
                outcome = error_outcome(
                    inputs.mode, f"Internal error ({detail}). Nothing was published. Please report this."
                )
                opts.err.write(redact(inputs, traceback.format_exc()))
            finally:
                if packing is not None:
                    packing.job.stop()  # still running only when the run failed before it needed the tarball
                    shutil.rmtree(packing.tmp, ignore_errors=True)
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
                for made in plan_tmps:
                    shutil.rmtree(made, ignore_errors=True)
        except Cancelled as exc:
            outcome = cancelled_outcome(inputs, exc, bool(started), gated)
        signals.disarm()  # a second signal now must not interrupt the report
        emit(outcome, inputs, env, workspace, opts)
    return outcome.decision.exit_code


def _refuse_untrusted_env(inputs: Inputs, workspace: Path, opts: RunOptions) -> None:
    """Publish mode refuses the inherited variables that change how python, node, npm, git or the network behave,
    but for a proxy or CA variable that says exactly what the policy's `network:` says (self-hosted runners
    behind a corporate proxy). The released policy's route must then be the trusted policy's
    (`_build_context`), so only what the trusted policy names is ever accepted."""
    refused = list(opts.untrusted_env)
    if any(name in opts.network_env for name in refused):
        released = load_policy(workspace / inputs.policy, required=inputs.policy != ".github/npm-gatekeeper.yml")
        net = route_mod.from_policy(released.network, workspace)
        refused = [n for n in refused if not (n in opts.network_env and net.excused(n, opts.network_env[n], workspace))]
    if refused:
        raise hostenv.refusal(refused)


class _PlanDone(Exception):
    """A release plan's run is over (its outcome is set): leave the single-package steps."""


def _publish_failed(outcome: report.Outcome, exc: GatekeeperError) -> None:
    """The publish step faulted (tarball changed, deadline, npm stopped): a `publish` gate error, exit 2."""
    gate = next((g for g in outcome.gates if g.name == "publish"), None)  # the step may have begun (OIDC exchange)
    if gate is None:
        outcome.gates.append(GateResult("publish", "error", [], exc.diagnostic()))
    else:
        gate.status, gate.error = "error", exc.diagnostic()
    outcome.error = exc.diagnostic()
    outcome.publish_uncertain = isinstance(exc, PublishUncertain)
    outcome.decision = Decision(False, EXIT_ERROR, exc.diagnostic())


def cancelled_outcome(
    inputs: Inputs, exc: Cancelled, upload_started: bool, gated: report.Outcome | None = None
) -> report.Outcome:
    """The truthful report of a cancelled run (exit 2), keeping the gates' results if they had run."""
    if upload_started:
        message = (
            f"Cancelled ({exc}) while `npm publish` was running: npm was stopped and the temp files removed, but the "
            "package was possibly published — check the registry (`npm view <name>@<version>`) before re-running."
        )
    else:
        message = f"Cancelled ({exc}) before any upload: nothing was published. Re-run the job."
    if gated is None:
        outcome = error_outcome(inputs.mode, message)
    else:
        outcome = gated
        if outcome.plan is not None and outcome.error:  # a release of several packages: which are out
            message = f"{message} {outcome.error}"
        outcome.gates.append(GateResult("publish", "error", [], message))
        outcome.error = message
        outcome.decision = Decision(False, EXIT_ERROR, message)
    outcome.publish_uncertain = upload_started
    return outcome


def _build_context(
    inputs: Inputs,
    env: Mapping[str, str],
    workspace: Path,
    deadline: Deadline | None = None,
    opts: RunOptions | None = None,
    packing: Packing | None = None,
    siblings: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Context, Path | None]:
    gh_run = GitHubRun.from_env(env)
    package_dir = (workspace / inputs.package_path).resolve()
    if not inputs.tarball and not (package_dir / "package.json").is_file():
        raise GatekeeperError(f"No package.json in {package_dir}", "Set `package-path` to the package's folder")
    policy_path = workspace / inputs.policy
    policy: Policy = load_policy(policy_path, required=inputs.policy != ".github/npm-gatekeeper.yml")
    deadline = deadline or Deadline(inputs.timeout)
    # Until the trusted policy is known, the released policy's route reaches the network; publish mode then
    # requires it to be the trusted policy's (below), so a route only the workspace names never publishes.
    route = route_mod.from_policy(policy.network, workspace)
    registry, github = clients(inputs, env, policy, gh_run, deadline, route)
    packed, tmp = _tarball(inputs, workspace, package_dir, policy, opts or RunOptions(), deadline, packing)
    try:
        packument = registry.packument(packed.name) if packed.name else None  # the run's one fetch of it
        own = policy.for_package(packed.name) if packed.name else policy  # its `packages:` section, if any
        trust = _trusted_policy(own, packument, registry, inputs, gh_run, workspace, packed, env, github)
        if inputs.mode == "publish" and route_mod.settings(trust.policy.network) != route_mod.settings(policy.network):
            raise ConfigError(
                "Refusing to publish: the network route of this commit's policy (`network.https-proxy`, `no-proxy`, "
                "`ca-bundle`) is not the trusted policy's (the last release's): a proxy or CA bundle only the released "
                "commit names is not trusted",
                "Release the `network:` change first through a reviewed release, or restore the last release's "
                "settings",
            )
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    ctx = Context(
        inputs=inputs,
        env=env,
        run=gh_run,
        workspace=workspace,
        package_dir=package_dir,
        policy=trust.policy,
        trust=trust,
        registry=registry,
        github=github,
        package=PackageInfo(packed.name, packed.version),
        tarball=PackedTarball(packed.path, packed.integrity, packed.shasum, packed.size, _packed_by(inputs, packed)),
        home=Path(env.get("HOME") or Path.home()),
        deadline=deadline,
        siblings=dict(siblings or {}),
    )
    if packed.name:
        ctx.memo.packuments[packed.name] = packument  # handed to the gates: ctx.packument(name)
    return ctx, tmp


def _trusted_policy(
    released: Policy,
    packument: Mapping[str, Any] | None,
    registry: RegistryClient,
    inputs: Inputs,
    run: GitHubRun,
    workspace: Path,
    packed: npm_cli.Packed,
    env: Mapping[str, str],
    github: GitHubClient | None,
) -> PolicyTrust:
    """The policy at the last release's commit decides (see gatekeeper.trust.trusted_policy)."""
    from gatekeeper.gates.diff import select_baseline
    from gatekeeper.steps.record import gate_record
    from gatekeeper.trust import provenance as verified
    from gatekeeper.trust import trusted_policy

    sha = run.sha or git.head(workspace) or ""

    def at(tag: str, policy: Policy) -> PolicyTrust:
        baseline = select_baseline(packument, packed.version, tag)[0] if packument is not None else None
        versions = (packument or {}).get("versions") or {}
        meta = versions.get(baseline) if isinstance(versions, dict) and baseline else None
        record = None
        if github is not None and baseline and isinstance(meta, dict) and isinstance(meta.get("dist"), dict):
            record = gate_record(github, packed.name, baseline, policy.notify.tag_format, meta["dist"].get("integrity"))
        return trusted_policy.resolve(
            policy,
            workspace=workspace,
            policy_path=inputs.policy,
            sha=sha,
            name=packed.name,
            baseline=baseline,
            git_head=meta.get("gitHead") if isinstance(meta, dict) else None,
            provenance_commit=verified.release_commit(registry, env, run.repository, packed.name, baseline, meta),
            record_commit=record.commit if record is not None else None,
            tag_format=record_tag_format(policy, inputs),
            tag_rulesets=github.tag_rulesets if github is not None else None,
            per_package=True,
        )

    trust = at(released.diff.baseline_tag, released)
    if trust.policy.diff.baseline_tag != released.diff.baseline_tag:  # the trusted policy names the baseline
        again = at(trust.policy.diff.baseline_tag, released)
        trust = again if again.commit == trust.commit or again.trusted is not None else trust
    return trust


def record_tag_format(policy: Policy, inputs: Inputs) -> str:
    """The tag of a package's gate record (its Release): the policy's `notify.tag-format`; in a release of several
    packages one without `{name}` would give every package the same tag, so there it is `{name}@{version}` (the
    tags changesets, lerna and pnpm make)."""
    from gatekeeper.steps.record import PLAN_TAG_FORMAT

    fmt = policy.notify.tag_format
    return fmt if not inputs.multi or "{name}" in fmt else PLAN_TAG_FORMAT


def given_tarball(workspace: Path, rel: str, dest: Path, policy: Policy) -> npm_cli.Packed:
    """The `tarball` input: copy that `.tgz` (inside the workspace) to `dest` once; the copy is gated and published."""
    ws = workspace.resolve()
    path = (ws / rel).resolve()
    if not path.is_relative_to(ws):
        raise ConfigError(f"Input `tarball` ({rel}) is outside the workspace", "Give a path inside the workspace")
    if not path.is_file():
        raise ConfigError(f"Input `tarball`: no file at {rel}", "Check the path (relative to the workspace)")
    cap = policy.diff.limits.max_compressed_bytes
    with path.open("rb") as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:
        raise ConfigError(
            f"Input `tarball`: {rel} is larger than diff.limits.max-compressed-bytes ({cap} bytes)",
            "Publish a smaller package, or raise the limit in the policy",
        )
    copy = dest / path.name
    npm_cli.write_private(copy, data)
    integrity, shasum = npm_cli.integrity_of(data)
    pkg = read_package(data, policy.diff.limits, label=path.name)
    return npm_cli.Packed(copy, integrity, shasum, len(data), pkg.name, pkg.version, manager="", manager_version="")


def _packed_by(inputs: Inputs, packed: npm_cli.Packed) -> str:
    """What the report says packed the tarball: "pnpm 11.29.0"; "" for the `tarball` input (packed elsewhere)."""
    if inputs.tarball or not packed.manager:
        return ""
    return f"{packed.manager} {packed.manager_version}".strip()


@dataclass
class Packing:
    """`npm pack` started at the top of the run (`_start_pack`), and the temp dir it packs into."""

    job: npm_cli.PackJob
    tmp: Path


def _start_pack(inputs: Inputs, workspace: Path, opts: RunOptions, deadline: Deadline) -> Packing | None:
    """Start `npm pack` first, so that it runs while the gates are imported and the policy and the clients are
    read (its errors still surface where `_tarball` waits for it). None when this run packs otherwise (the
    `tarball` input, `--pack-version`), keeps the tarball (`--pack-destination`: a run that fails earlier must
    not leave one there) or cannot yet (no package.json, no private temp dir): `_tarball` then does all of it
    in its turn, with the errors it always gave."""
    if inputs.tarball or opts.pack_version or opts.pack_destination is not None:
        return None
    package_dir = (workspace / inputs.package_path).resolve()
    if not (package_dir / "package.json").is_file():
        return None
    try:
        if packers.choose_manager(workspace, inputs.package_manager) != "npm":
            return None  # another tool packs, in `_tarball`'s turn
    except GatekeeperError:
        return None  # `_tarball` raises it where the run expects pack errors
    try:
        dest = tmp = npm_cli.private_tempdir(workspace, "gatekeeper-pack-")
    except (OSError, GatekeeperError):
        return None
    return Packing(npm_cli.start_pack(package_dir, dest, timeout=deadline.limit(PACK_SECONDS)), tmp)


def _tarball(
    inputs: Inputs,
    workspace: Path,
    package_dir: Path,
    policy: Policy,
    opts: RunOptions,
    deadline: Deadline,
    packing: Packing | None = None,
) -> tuple[npm_cli.Packed, Path | None]:
    """The one tarball of the run: the `tarball` input as given, or packed (once) from the package (by the
    `npm pack` started at the top of the run, if it was).

    Returns it and the temp dir to delete afterwards (None when nothing temporary was made)."""
    if packing is not None:  # npm, started at the top of the run; the run removes packing.tmp
        return replace(packing.job.finish(), manager="npm", manager_version=packers.npm_version()), None
    if inputs.tarball:
        if opts.pack_version:
            raise GatekeeperError("`--pack-version` and the `tarball` input exclude each other", "Give one of them")
        tmp = npm_cli.private_tempdir(workspace, "gatekeeper-pack-")
        try:
            return given_tarball(workspace, inputs.tarball, tmp, policy), tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    # `--pack-version` (semantic-release) packs with npm: with `auto` as before this input existed
    requested = "npm" if opts.pack_version and inputs.package_manager == "auto" else inputs.package_manager
    manager = packers.choose_manager(workspace, requested)
    if opts.pack_version and manager != "npm":
        raise GatekeeperError(
            f"`--pack-version` (semantic-release's prepare-less pack) packs with npm only, and `package-manager` asks "
            f"for {manager}",
            "Let semantic-release write the version first and pack after it (the `tarball` input), or set "
            "`package-manager: npm` for a package without workspace: or catalog: ranges",
        )
    tmp = None
    if opts.pack_destination is not None:
        dest = opts.pack_destination.resolve()
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    else:
        dest = tmp = npm_cli.private_tempdir(workspace, "gatekeeper-pack-")
    try:
        timeout = deadline.limit(PACK_SECONDS)
        if opts.pack_version:
            packed = npm_cli.pack_as_version(package_dir, opts.pack_version, dest, workspace=workspace, timeout=timeout)
            return replace(packed, manager="npm", manager_version=packers.npm_version()), tmp
        return packers.pack(package_dir, dest, manager, repo_root=workspace, timeout=timeout), tmp
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _run_gates(
    ctx: Context, gates: list[ModuleType] | None = None, named: set[str] | frozenset[str] = frozenset()
) -> report.Outcome:
    """Run the gates (`named`: the ones `--gates` named; an opt-in gate the policy leaves off is listed only then)."""
    results: list[GateResult] = []
    extras: list[str] = []
    extras_text: list[str] = []
    previous: dict[str, object] | None = None
    selected = {m.NAME for m in gates} if gates is not None else None
    delta: dict[str, object] | None = None
    behaviour: dict[str, object] | None = None
    for mod in _gate_modules():
        applies = getattr(mod, "applies", None)  # an opt-in gate the policy does not ask for is not listed at all
        if applies is not None and not applies(ctx) and mod.NAME not in named:
            continue
        if selected is not None and mod.NAME not in selected:
            results.append(GateResult(mod.NAME, "skipped", [], "not selected for this run (`--gates`/`--skip-gates`)"))
            continue
        result = run_gate(mod.NAME, mod.check, ctx)
        results.append(result)
        compute = getattr(mod, "compute", None)
        if compute is not None and result.status != "error":
            try:
                delta = compute(ctx).to_json()
            except Exception:  # the delta only decorates the report and the Release
                delta = None
        observed = getattr(mod, "observed", None)
        if observed is not None and result.status != "error":
            behaviour = observed(ctx)
        extra = getattr(mod, "report_extras", None)
        if extra is not None and result.status != "error":
            try:
                info = extra(ctx)
            except Exception:  # extras only decorate the report; never fail the run for them
                info = None
            if info is not None:
                previous = info.previous if info.previous is not None else previous
                extras.append(info.markdown)
                extras_text.append(getattr(info, "text", ""))
    assert ctx.tarball is not None
    approved = ctx.inputs.approved_integrity
    if approved and approved != ctx.tarball.integrity:  # the bytes changed between the two jobs: never publish
        results.append(
            GateResult(
                "approved-integrity",
                "fail",
                [
                    APPROVED_INTEGRITY_MISMATCH(
                        f"The tarball's integrity is {ctx.tarball.integrity[:30]}…, not the approved "
                        f"{approved[:30]}… given as `approved-integrity`.",
                        integrity=ctx.tarball.integrity,
                        approved=approved,
                    )
                ],
            )
        )
    from gatekeeper.trust import review

    reviewed = review.apply(ctx, results)
    results = reviewed.results
    decision = decide(results)
    if reviewed.needs_review:
        decision = Decision(
            False, EXIT_ALLOW, "only clearable findings block: waiting for the review", pending_review=True
        )
    error = " ".join(f"[{r.name}] {r.error}" for r in results if r.status == "error") or None
    assert ctx.package is not None and ctx.tarball is not None
    return report.Outcome(
        mode=ctx.inputs.mode,
        decision=decision,
        gates=results,
        package={"name": ctx.package.name, "version": ctx.package.version},
        previous=previous,
        publish={
            "integrity": ctx.tarball.integrity,
            "shasum": ctx.tarball.shasum,
            "size": ctx.tarball.size,
            **({"packed_by": ctx.tarball.packed_by} if ctx.tarball.packed_by else {}),
        },
        extra_markdown=extras,
        extra_text=extras_text,
        error=error,
        delta=delta,
        install_behaviour=behaviour,
        needs_review=reviewed.needs_review,
    )


def _publish(
    ctx: Context, outcome: report.Outcome, started: list[int] | None = None, out: TextIO | None = None
) -> None:
    gate = _begin_publish(ctx, outcome)
    token = _credential(ctx, outcome, gate, out)
    if gate.status != "pass":
        return
    _upload(ctx, outcome, gate, token, started)


def _begin_publish(ctx: Context, outcome: report.Outcome) -> GateResult:
    """The publish step starts: enough of the deadline left, its `publish` gate in the outcome."""
    from gatekeeper._internal import budget

    assert ctx.tarball is not None
    deadline = ctx.deadline or Deadline()
    left = deadline.remaining()
    if left < MIN_PUBLISH_SECONDS:
        raise budget.BudgetExceeded(
            f"The gates passed, but {deadline.describe()} left {max(left, 0):.1f} s, too little to start the upload",
            "Raise the `timeout` input (the registry or GitHub answered slowly), then re-run the job",
        )
    gate = GateResult("publish", "pass")
    outcome.gates.append(gate)
    outcome.publish["dry_run"] = ctx.inputs.dry_run
    return gate


def _credential(ctx: Context, outcome: report.Outcome, gate: GateResult, out: TextIO | None) -> Any:
    """The credential of this package's upload (under OIDC: its own exchange); a refusal fails `gate`."""
    from gatekeeper.trust import publishing

    return publishing.credential(ctx, outcome, gate, out)


def _upload(
    ctx: Context, outcome: report.Outcome, gate: GateResult, token: Any, started: list[int] | None = None
) -> None:
    """`npm publish` of the gated tarball with `token`, then the registry must serve its integrity."""
    from gatekeeper.trust import publishing

    assert ctx.tarball is not None
    deadline = ctx.deadline or Deadline()
    provenance = publishing.provenance(ctx, outcome)
    stage = ctx.inputs.publish_with == "stage"
    result = npm_cli.publish(
        ctx.tarball.path,
        registry=ctx.inputs.registry,
        token=token,
        workspace=ctx.workspace,
        tag=ctx.inputs.tag,
        access=ctx.inputs.access,
        dry_run=ctx.inputs.dry_run,
        timeout=min(deadline.remaining(), 3600.0),
        expected_integrity=ctx.tarball.integrity,
        started=started,
        provenance=provenance,
        stage=stage,
        route=ctx.registry.route,
    )
    if result.ok:
        if stage:
            publishing.staged(ctx, outcome, result.stage_id)
        elif not ctx.inputs.dry_run:
            _verify_upload(ctx, outcome, gate)
        return
    if result.conflict:
        gate.status = "fail"
        gate.findings.append(
            PUBLISH_REJECTED(f"The registry refused {ctx.package.name}@{ctx.package.version}: {result.message}")
        )  # type: ignore[union-attr]
        outcome.decision = Decision(False, EXIT_BLOCK, "the registry refused the version")
        return
    gate.status = "error"
    gate.error = f"`npm publish` failed: {result.message}. Nothing was published"
    if (outcome.publish.get("credential") or {}).get("type") == "oidc":
        gate.error += publishing.oidc_refusal_hint(ctx)
    outcome.error = gate.error + ". Check the registry and the token, then re-run."
    outcome.decision = Decision(False, EXIT_ERROR, gate.error)


#: How long (seconds, within the run's deadline) the registry may take to show the new version.
VERIFY_SECONDS = 60.0


def _verify_upload(ctx: Context, outcome: report.Outcome, gate: GateResult) -> None:
    """npm said it published: the registry must now serve the gated tarball's integrity for the version before
    the run reports success. Other bytes are an incident (a blocking floor finding, exit 1, never notified); a
    registry that does not show the version in time leaves the run an error (exit 2), never a success."""
    from gatekeeper._internal import budget

    assert ctx.package is not None and ctx.tarball is not None
    name, version, want = ctx.package.name, ctx.package.version, ctx.tarball.integrity
    deadline = ctx.deadline or Deadline()
    waited, got, meta = 0.0, None, None
    while True:
        try:
            doc = ctx.registry.packument(name)
        except GatekeeperError:
            doc = None
        versions = (doc or {}).get("versions")
        meta = versions.get(version) if isinstance(versions, dict) else None
        dist = meta.get("dist") if isinstance(meta, dict) else None
        got = dist.get("integrity") if isinstance(dist, dict) else None
        if meta is not None or waited >= VERIFY_SECONDS or not budget.sleep_within(deadline, 2.0):
            break
        waited += 2.0
    outcome.publish["registry_integrity"] = got
    if meta is not None and got == want:
        outcome.published = True
        ctx.memo.published = doc
        return
    if meta is None:
        gate.status = "error"
        gate.error = (
            f"`npm publish` reported success, but the registry does not show {name}@{version}, so it cannot be "
            "confirmed that the gated tarball is what was published"
        )
        outcome.error = gate.error + (
            f". Check the registry (`npm view {name}@{version} dist.integrity` must be {want}) before trusting or "
            "announcing the version."
        )
        outcome.publish_uncertain = True
        outcome.decision = Decision(False, EXIT_ERROR, gate.error)
        return
    gate.status = "fail"
    gate.findings.append(
        PUBLISHED_OTHER_BYTES(
            f"INCIDENT: the registry serves {name}@{version} with integrity {got or 'none'}, not the gated "
            f"tarball's {want}: something other than the checked bytes was uploaded with this job's credential.",
            expected=want,
            registry=got,
        )
    )
    outcome.publish_uncertain = True
    outcome.decision = Decision(False, EXIT_BLOCK, "INCIDENT: the registry serves other bytes than the gated tarball")


def _notify(ctx: Context, outcome: report.Outcome) -> None:
    """The last step: Release + webhook. A failure is an error (exit 2) but never un-publishes."""
    from gatekeeper.steps.notify import Published, notify, run_url

    assert ctx.package is not None and ctx.tarball is not None
    prev = outcome.previous or {}
    installs, why_not = _install_scripts(ctx)
    rel = Published(
        name=ctx.package.name,
        version=ctx.package.version,
        integrity=ctx.tarball.integrity,
        previous_version=str(prev["version"]) if prev.get("version") else None,
        commit=ctx.run.sha,
        run_url=run_url(ctx.env),
        delta=outcome.delta,
        findings=[dict(f.to_json(), gate=g.name) for g in outcome.gates for f in g.findings],
        staged=bool(outcome.publish.get("staged")),
        packument=ctx.memo.published,
        install_scripts=installs,
    )
    notify_policy = ctx.policy.notify
    if record_tag_format(ctx.policy, ctx.inputs) != notify_policy.tag_format:
        from dataclasses import replace

        notify_policy = replace(notify_policy, tag_format=record_tag_format(ctx.policy, ctx.inputs))
    try:
        result = notify(
            rel,
            notify_policy,
            github=ctx.github,
            registry=ctx.registry,
            webhook=ctx.inputs.notify_webhook,
            repository=ctx.run.repository,
            deadline=ctx.deadline,
        )
    except Exception as exc:  # notify must never turn a publish into a crash
        from gatekeeper.steps.notify import NotifyResult

        result = NotifyResult(errors=[redact(ctx.inputs, f"Internal error in notify: {type(exc).__name__}: {exc}")])
    if why_not and ctx.policy.notify.release:  # the record is written without it: a warning, not a failed notify
        result.warnings.append(why_not)
    apply_notify(outcome, result, f"{rel.name}@{rel.version}")


def _install_scripts(ctx: Context) -> tuple[tuple[str, ...] | None, str]:
    """(the consumer-resolved tree's packages with install scripts, "") for the record (issue 23, item 7), or
    (None, why not): npm's resolution of the published manifest against the registry, nothing run."""
    from gatekeeper.gates.diff import registry_url_of, tree_resolver
    from gatekeeper.steps.record import MAX_INSTALL_SCRIPTS, install_script_set

    assert ctx.tarball is not None
    pkg = read_package(ctx.tarball.path, ctx.policy.diff.limits, label=ctx.tarball.path.name)
    try:
        resolve = tree_resolver(
            registry_url_of(ctx.registry),
            ctx.policy,
            ctx.workspace,
            getattr(ctx.registry, "route", None),
            siblings=ctx.siblings,  # a release plan's other packages: staged ones are not on the registry
            release=(str(pkg.manifest.get("name")), str(pkg.manifest.get("version"))),
        )
        found = install_script_set(pkg.manifest, resolve)
    except GatekeeperError as exc:
        return None, (
            f"The consumer tree of the release could not be resolved for its record ({exc.what.rstrip('.')}): the "
            "record carries no install-script set, so watch cannot report dependency drift for this release"
        )
    if len(found) > MAX_INSTALL_SCRIPTS:
        return None, (
            f"The consumer tree of the release has {len(found)} packages with install scripts, more than a record "
            f"holds ({MAX_INSTALL_SCRIPTS}): watch cannot report dependency drift for this release"
        )
    return found, ""


def apply_notify(outcome: report.Outcome, result: Any, label: str) -> None:
    """Put a NotifyResult into the outcome: published stays true; a failure makes the run exit 2."""
    outcome.notify = result.to_json()
    outcome.notified = result.ok
    for warning in getattr(result, "warnings", ()):
        outcome.extra_markdown.append(f"> **Warning** ({md.text(label)}): {md.text(warning)}.")
        outcome.extra_text.append(f"warning ({label}): {warning}.")
    if result.ok:
        return
    message = (
        f"{label} WAS published, but the notification failed: " + " ".join(result.errors) + ". The version stays "
        "published (nothing is un-published); fix the cause (the error says which). Without the Release record, "
        "`mode: watch` reports this version as not published by the gate: check it is this run's, then write the "
        "Release by hand or close the watch issue with that explanation."
    )
    outcome.error = message
    outcome.decision = Decision(True, EXIT_ERROR, message)


# --------------------------------------------------------------------------------------------------
# A release of several packages (input `packages`, issue 24): all or nothing.
#
# 1. the plan (steps/plan.py), shown before anything happens;
# 2. every planned package packed and gated with its own context (baseline, release diff, trusted policy,
#    approvals, version-free check); a version already on the registry with exactly the bytes this commit
#    packs is "already published" (a re-run after a stop), other bytes block;
# 3. only when every package is allowed: every package's credential (under OIDC one exchange each) before
#    the first upload, then the uploads in plan order; a failure stops the rest and the report says which
#    packages are out; 4. one gate record per package (notify), the outputs.


@dataclass
class Member:
    """One planned package in a run: its context (None when packing or reading it failed), its outcome."""

    planned: Any  # steps.plan.PlannedPackage
    ctx: Context | None
    outcome: report.Outcome
    #: gated | already-published | left-out | error; after the publish step: published | staged | allowed |
    #: not-published | failed
    state: str
    registry_integrity: str | None = None
    token: Any = None


def _plan_inputs(inputs: Inputs, planned: Any) -> Inputs:
    """One package's inputs: its folder, and the plan's tag and access over the inputs'."""
    from dataclasses import replace

    return replace(
        inputs, package_path=planned.folder, tag=planned.tag or inputs.tag, access=planned.access or inputs.access
    )


def _run_plan(
    inputs: Inputs,
    env: Mapping[str, str],
    workspace: Path,
    deadline: Deadline,
    opts: RunOptions,
    started: list[int],
    gated: list[report.Outcome],
    tmps: list[Path],
) -> report.Outcome:
    """A release of every package of the plan, all or nothing (see the section comment above)."""
    from gatekeeper._internal import terminal
    from gatekeeper.steps.plan import read_plan

    if opts.pack_version or opts.pack_destination is not None:
        raise ConfigError(
            "`--pack-version` and `--pack-destination` name one package's tarball; the input `packages` releases "
            "several",
            "Leave them out (each planned package is packed at the version its package.json says)",
        )
    root = (workspace / inputs.package_path).resolve()
    if not root.is_relative_to(workspace.resolve()):
        raise ConfigError(
            f"Input `package-path` ({inputs.package_path}) is outside the workspace", "Give a folder in it"
        )
    plan = read_plan(inputs.packages, root, workspace=workspace, changesets_plan=inputs.changesets_plan)
    assert plan is not None
    shown = ", ".join(f"{i}. {p.label} ({p.folder})" for i, p in enumerate(plan.packages, 1))
    opts.err.write(terminal.safe(f"npm-gatekeeper: release plan ({plan.source}): {shown}") + "\n")
    opts.err.flush()
    gates = select_gates(opts)
    if inputs.mode == "publish":
        gates = [m for m in _gate_modules() if m in gates or m.NAME in ALWAYS_IN_PUBLISH]
    siblings: dict[str, Mapping[str, Any]] = {}  # packed manifests of the planned packages not yet on the registry
    members = [
        _gate_member(planned, plan.source, inputs, env, workspace, deadline, opts, gates, tmps, siblings)
        for planned in plan.packages
    ]
    outcome = _plan_outcome(inputs, plan, members)
    gated.append(outcome)
    if outcome.decision.allow and inputs.mode == "publish":
        try:
            _publish_plan(members, outcome, started, opts.out)
        except Cancelled:  # the report must still say which packages are out
            for m in members:
                if m.state == "uploading":
                    m.state, m.outcome.publish_uncertain = "failed", True
                    m.outcome.error = "cancelled during its upload: possibly published, check the registry"
                elif m.state == "gated":
                    m.state = "not-published"
            gated.append(_plan_outcome(inputs, plan, members, after=outcome))
            raise
        outcome = _plan_outcome(inputs, plan, members, after=outcome)
        if inputs.packages.strip() == "changesets":
            tag_only = plan.tag_only if outcome.published else []  # changesets tags those only after a full release
            _changesets_output(env, workspace, members, outcome, tag_only)
    return outcome


def _gate_member(
    planned: Any,
    source: str,
    inputs: Inputs,
    env: Mapping[str, str],
    workspace: Path,
    deadline: Deadline,
    opts: RunOptions,
    gates: list[ModuleType],
    tmps: list[Path],
    siblings: dict[str, Mapping[str, Any]],
) -> Member:
    """Pack and gate one planned package; a fault becomes that package's error (the others still run).

    `siblings` holds the packed package.json of the packages gated before it that are not on the registry yet
    (plan order: its dependencies): its consumer tree resolves them as they will be published. Its own is added."""
    from gatekeeper.rules.publish import PLAN_INTEGRITY_MISMATCH, PLAN_VERSION_OTHER_BYTES
    from gatekeeper.steps.plan import sri_matches

    pkg_inputs = _plan_inputs(inputs, planned)
    try:  # packs through `_tarball`, the one place a run packs a folder (the repository's package manager there)
        ctx, tmp = _build_context(pkg_inputs, env, workspace, deadline, opts, None, siblings)
    except GatekeeperError as exc:
        out = error_outcome(inputs.mode, exc.diagnostic())
        out.package = {"name": planned.name, "version": planned.version}
        out.gates = [GateResult("pack", "error", [], exc.diagnostic())]
        return Member(planned, None, out, "error")
    if tmp is not None:
        tmps.append(tmp)
    assert ctx.package is not None and ctx.tarball is not None
    if (ctx.package.name, ctx.package.version) != (planned.name, planned.version):
        message = (
            f"The tarball packed from {planned.folder} is {ctx.package.name}@{ctx.package.version}, not the planned "
            f"{planned.label}"
        )
        out = error_outcome(inputs.mode, message)
        out.package = {"name": planned.name, "version": planned.version}
        out.gates = [GateResult("pack", "error", [], message)]
        return Member(planned, ctx, out, "error")
    packument = ctx.packument(planned.name)
    versions = (packument or {}).get("versions")
    meta = versions.get(planned.version) if isinstance(versions, dict) else None
    dist = meta.get("dist") if isinstance(meta, dict) else None
    on_registry = dist.get("integrity") if isinstance(dist, dict) else None
    skipped = None
    if meta is not None and on_registry == ctx.tarball.integrity:  # a re-run of this commit after a stop
        skipped = ("already-published", "already on the registry with exactly these bytes")
    elif meta is not None and source == "workspaces":  # an unchanged package: its version was released before
        skipped = ("left-out", "unchanged: this version is already on the registry")
    if skipped is not None:
        state, why = skipped
        out = report.Outcome(
            mode=inputs.mode,
            decision=Decision(True, EXIT_ALLOW, why),
            gates=[],
            package={"name": planned.name, "version": planned.version},
            publish={"integrity": ctx.tarball.integrity, "registry_integrity": on_registry},
        )
        return Member(planned, ctx, out, state, on_registry)
    if meta is None:
        packed = read_package(ctx.tarball.path, ctx.policy.diff.limits, label=ctx.tarball.path.name)
        if packed.manifest:
            siblings[planned.name] = packed.manifest
    out = _run_gates(ctx, gates)
    extra: list[Any] = []
    if meta is not None:
        extra.append(
            PLAN_VERSION_OTHER_BYTES(
                f"{planned.label} is already on the registry with integrity {str(on_registry)[:40]}…, but this commit "
                f"packs {ctx.tarball.integrity[:40]}…: it was not published from this commit by the gate, so the "
                "re-run does not skip it",
                expected=ctx.tarball.integrity,
                registry=on_registry,
            )
        )
    if planned.integrity and not sri_matches(planned.integrity, ctx.tarball.path):
        extra.append(
            PLAN_INTEGRITY_MISMATCH(
                f"The publish plan recorded {planned.integrity[:40]}… for {planned.label}, but the tarball the gate "
                f"packs ({ctx.tarball.integrity[:40]}…) has another digest",
                plan=planned.integrity,
                integrity=ctx.tarball.integrity,
            )
        )
    if extra:
        out.gates.append(GateResult("release-plan", "fail", extra))
        out.decision = decide(out.gates)
    return Member(planned, ctx, out, "gated", on_registry)


def _publish_plan(members: list[Member], outcome: report.Outcome, started: list[int], out: TextIO) -> None:
    """Every credential first (under OIDC: one exchange per package), then the uploads in plan order; the
    first failure stops the rest."""
    todo = [m for m in members if m.state == "gated"]
    for m in todo:  # the preflight: nothing is uploaded unless every package has its credential
        assert m.ctx is not None
        try:
            gate = _begin_publish(m.ctx, m.outcome)
            m.token = _credential(m.ctx, m.outcome, gate, out)
        except GatekeeperError as exc:
            _publish_failed(m.outcome, exc)
        if m.outcome.decision.exit_code != EXIT_ALLOW or not m.outcome.decision.allow:
            m.state = "failed"
            for other in todo:
                if other.state == "gated":
                    other.state = "not-published"
            return
    for i, m in enumerate(todo):
        assert m.ctx is not None
        gate = next(g for g in m.outcome.gates if g.name == "publish")
        m.state = "uploading"
        try:
            _upload(m.ctx, m.outcome, gate, m.token, started)
        except GatekeeperError as exc:
            _publish_failed(m.outcome, exc)
        finally:
            m.token = None
        if m.outcome.published:
            m.state = "published"
        elif m.outcome.publish.get("staged"):
            m.state = "staged"
        elif m.outcome.decision.allow and m.outcome.decision.exit_code == EXIT_ALLOW:
            m.state = "allowed"  # dry run
        else:
            m.state = "failed"
            for rest in todo[i + 1 :]:
                rest.state = "not-published"
            break
        started.clear()  # this upload is over (and confirmed): a cancel now interrupts no upload
    for m in todo:
        if m.state in ("published", "staged") and m.ctx is not None:
            _notify(m.ctx, m.outcome)


def _plan_outcome(
    inputs: Inputs, plan: Any, members: list[Member], after: report.Outcome | None = None
) -> report.Outcome:
    """One outcome for the whole plan: each package's gates (named `name@version/gate`), the verdicts in
    plan order, a decision that allows only when every package is allowed."""
    gates: list[GateResult] = []
    for m in members:
        for g in m.outcome.gates:
            gates.append(GateResult(f"{m.planned.label}/{g.name}", g.status, g.findings, g.error))
    live = [m for m in members if m.state != "left-out"]
    errors = [m for m in live if m.outcome.decision.exit_code == EXIT_ERROR]
    blocked = [m for m in live if m.outcome.decision.exit_code == EXIT_BLOCK]
    review = [m for m in live if m.outcome.decision.pending_review]
    names = lambda ms: ", ".join(m.planned.label for m in ms)  # noqa: E731
    if errors:
        decision = Decision(False, EXIT_ERROR, f"could not decide for {names(errors)}: nothing was published")
    elif blocked:
        decision = Decision(False, EXIT_BLOCK, f"blocked: {names(blocked)}; nothing was published")
    elif review:
        decision = Decision(
            False, EXIT_ALLOW, "only clearable findings block: waiting for the review", pending_review=True
        )
    else:
        decision = Decision(True, EXIT_ALLOW, "every planned package is allowed")
    out = report.Outcome(
        mode=inputs.mode,
        decision=decision,
        gates=gates,
        package=None,
        plan=plan.to_json(),
        needs_review=bool(review) and not errors and not blocked,
    )
    uploaded = [m for m in live if m.state in ("published", "staged")]
    out_now = [m for m in live if m.state in ("published", "already-published")]
    out.published = inputs.mode == "publish" and bool(live) and len(out_now) == len(live) and not inputs.dry_run
    out.publish = {"dry_run": inputs.dry_run}
    stage_ids = {m.planned.label: m.outcome.publish.get("stage_id") for m in uploaded if m.state == "staged"}
    if stage_ids:
        out.publish["staged"] = True
        out.publish["stage_ids"] = stage_ids
    out.publish_uncertain = any(m.outcome.publish_uncertain for m in live)
    out.packages = [_verdict(m) for m in members]
    if after is not None:
        stopped = [m for m in live if m.state in ("failed", "not-published")]
        if stopped:
            out_list = [m.planned.label for m in live if m.state in ("published", "already-published", "staged")]
            failed = [m for m in live if m.state == "failed"]
            why = " ".join(m.outcome.error or m.outcome.decision.reason for m in failed)
            rest = [m for m in stopped if m.state == "not-published"]
            message = (
                f"The release stopped at {names(failed)}: {why} Out on the registry: "
                f"{', '.join(out_list) or 'none'}; not published: {names(rest) or 'none'}. Fix the cause and re-run "
                "the same commit: packages already out with exactly these bytes are skipped, the rest go out."
            )
            code = max(m.outcome.decision.exit_code for m in failed) if failed else EXIT_ERROR
            out.decision = Decision(False, code, message)
            out.error = message
        else:
            notify_errors = [m for m in uploaded if m.outcome.notify is not None and not m.outcome.notified]
            out.notified = bool(uploaded) and not notify_errors
            out.notify = {"packages": {m.planned.label: m.outcome.notify for m in uploaded}}
            if notify_errors:
                out.error = " ".join(m.outcome.error or "" for m in notify_errors)
                out.decision = Decision(True, EXIT_ERROR, out.error)
    if out.error is None:
        errs = [f"[{m.planned.label}] {m.outcome.error}" for m in live if m.outcome.error]
        out.error = " ".join(errs) or None
    return out


def _verdict(m: Member) -> dict[str, object]:
    """One package's line of the report."""
    o = m.outcome
    state = m.state
    if state == "gated":
        state = "allowed" if o.decision.allow else ("error" if o.decision.exit_code == EXIT_ERROR else "blocked")
    return {
        "name": m.planned.name,
        "version": m.planned.version,
        "folder": m.planned.folder,
        "tag": (m.ctx.inputs.tag if m.ctx is not None else m.planned.tag) or "latest",
        "state": state,
        "decision": o.decision.label,
        "reason": o.decision.reason,
        "integrity": (m.ctx.tarball.integrity if m.ctx is not None and m.ctx.tarball is not None else None),
        # which tool and version packed it ("pnpm 11.29.0"): `package-manager` decides per run, not per package
        "packed_by": (m.ctx.tarball.packed_by or None) if m.ctx is not None and m.ctx.tarball is not None else None,
        "registry_integrity": m.registry_integrity
        if m.state in ("already-published", "left-out")
        else o.publish.get("registry_integrity"),
        "previous": (o.previous or {}).get("version"),
        "blocking": sorted({f.rule for f in o.findings if f.severity.value == "block"}),
        "stage_id": o.publish.get("stage_id"),
        "error": o.error,
    }


def _changesets_output(
    env: Mapping[str, str],
    workspace: Path,
    members: list[Member],
    outcome: report.Outcome,
    tag_only: list[dict[str, str]] | None = None,
) -> None:
    """`packages: changesets`: the git-tag events the changesets CLI writes to the file named by CHANGESETS_OUTPUT
    (NDJSON `{"type": "git-tag", "tag": "name@version", "packageName": name}`), for the packages this run put out
    (and the plan's `tag-only` entries). The file must be inside the workspace and not a symlink (the variable is
    inherited, hence hostile)."""
    import json as _json
    import os

    target = env.get("CHANGESETS_OUTPUT", "")
    if not target:
        return
    path = Path(target) if Path(target).is_absolute() else workspace / target
    parent = path.parent.resolve()
    if not parent.is_relative_to(workspace.resolve()) or path.is_symlink():
        outcome.publish["changesets_output"] = "refused: CHANGESETS_OUTPUT is not a file in the workspace"
        return
    out = [(m.planned.name, m.planned.version) for m in members if m.state in ("published", "already-published")]
    out += [(e["name"], e["version"]) for e in tag_only or []]
    lines = "".join(
        _json.dumps({"type": "git-tag", "tag": f"{name}@{version}", "packageName": name}) + "\n"
        for name, version in out
    )
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent / path.name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(lines)
    outcome.publish["changesets_output"] = (
        str(path.relative_to(workspace)) if path.is_relative_to(workspace) else target
    )
