"""The trusted policy: in publish/check mode the policy that decides is the one at the last release's commit.

The released commit cannot approve its own changes: its policy (the one in the workspace, "released")
is compared with the policy at the commit of the baseline version ("trusted"), found (`find_release_commit`)
from evidence the released commit cannot move: the baseline's verified provenance (its signed source digest),
else the gate's own record of that release (its GitHub Release, by the job's bot, for the registry's tarball),
else the packument's `gitHead`, else the tag in the policy's `notify.tag-format` if a tag ruleset protects it
from update and deletion (all ancestors of GITHUB_SHA). Evidence that disagrees, or any tag of that version
pointing elsewhere, blocks (`policy-anchor-conflict`) and the safe defaults decide. Then:

- nothing published yet: the released commit's policy decides (`policy-trusted`, info);
- the commit is not found: the released policy decides without its `approve:` entries and without
  severities lowered below the defaults (`policy-untrusted`, warn, says how to make it findable); if it
  loosens the safe defaults in any other key, the safe defaults decide;
- the released policy loosens the trusted one: the trusted policy decides and `policy-changed`
  blocks (clearable by a reviewed release), the summary shows the policy diff;
- it only tightens (or is equal): the released, stricter policy decides at once.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from gatekeeper._internal import git
from gatekeeper._internal.markdown import text as md_text
from gatekeeper.findings import Finding, Severity
from gatekeeper.trust.policy import MAX_POLICY_BYTES, Approvals, Policy, parse_policy


@dataclass(frozen=True)
class PolicyTrust:
    """Which policy decides, and why."""

    policy: Policy  # the policy that decides
    released: Policy  # the policy of the released commit (the workspace)
    trusted: Policy | None = None  # the policy at the last release's commit (None: first release / not found)
    commit: str | None = None
    how: str = ""
    loosened: tuple[str, ...] = ()
    tightened: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    diff: str = ""

    def markdown(self) -> str:
        """The policy diff for the job summary (hostile text: backticks cannot close the fence)."""
        lines = ["### Policy diff (last release → this commit)", ""]
        if self.loosened:
            lines += ["Loosens:", ""] + [f"- {md_text(item)}" for item in self.loosened] + [""]
        if self.tightened:
            lines += ["Tightens:", ""] + [f"- {md_text(item)}" for item in self.tightened] + [""]
        body = self.diff.replace("`", "'")
        lines += ["```diff", body.rstrip("\n"), "```", ""]
        return "\n".join(lines)

    def text(self) -> str:
        """The policy diff as plain text (`--format text`): every line made visible."""
        from gatekeeper._internal import terminal

        lines = ["policy diff (last release -> this commit):"]
        if self.loosened:
            lines += ["  loosens:"] + [f"    - {terminal.safe(item)}" for item in self.loosened]
        if self.tightened:
            lines += ["  tightens:"] + [f"    - {terminal.safe(item)}" for item in self.tightened]
        lines += [f"  {terminal.safe(line)}" for line in self.diff.rstrip("\n").split("\n")]
        return "\n".join(lines) + "\n"


def tag_names(name: str, version: str) -> list[str]:
    """Git tags a release of `name@version` may carry (any of them pointing elsewhere than the anchor blocks)."""
    return [f"v{version}", version, f"{name}@{version}"]


@dataclass(frozen=True)
class Anchor:
    """The last release's commit and the evidence that decided it (issue 23, item 4)."""

    commit: str | None
    how: str
    conflicts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def find_release_commit(
    workspace: Path,
    sha: str,
    name: str,
    version: str,
    git_head: object,
    *,
    provenance_commit: str | None = None,
    record_commit: str | None = None,
    tag_format: str = "v{version}",
    tag_rulesets: Callable[[str], list[str]] | None = None,
) -> Anchor:
    """The commit of the release `version`, from evidence the released commit cannot move, in this order:
    the verified provenance's source digest, the gate's own record of that release (its Release names the
    commit), the packument's `gitHead` (each must be an ancestor of `sha`); only without any of them, the tag
    in the policy's `tag-format`, and only if a tag ruleset protects it from update and deletion. Evidence
    that disagrees, or a tag for that version pointing elsewhere, is a conflict."""
    evidence: list[tuple[str, str]] = []
    notes: list[str] = []
    for label, value in (
        ("its verified provenance", provenance_commit),
        ("the gate's record", record_commit),
        (f"the packument's gitHead of {version}", git_head),
    ):
        if not (isinstance(value, str) and len(value) == 40 and all(c in "0123456789abcdef" for c in value)):
            continue
        commit = git.commit_of(workspace, value)
        if commit and git.is_ancestor(workspace, commit, sha):
            evidence.append((label, commit))
        else:
            notes.append(f"{label} names {value[:12]}, which is not an ancestor in the checkout")
    conflicts: list[str] = []
    if len({c for _, c in evidence}) > 1:
        conflicts.append(" but ".join(f"{label} says {c[:12]}" for label, c in evidence))
    formatted = _format_tag(tag_format, name, version)
    tags = list(dict.fromkeys([*tag_names(name, version), *([formatted] if formatted else [])]))
    if evidence:
        commit = evidence[0][1]
        for tag in tags:
            at = git.commit_of(workspace, f"refs/tags/{tag}")
            if at and at != commit:
                conflicts.append(f"tag `{tag}` points at {at[:12]}, {evidence[0][0]} at {commit[:12]}")
        return Anchor(commit, evidence[0][0], tuple(conflicts), tuple(notes))
    if not formatted:
        return Anchor(None, "", (), tuple(notes))
    at = git.commit_of(workspace, f"refs/tags/{formatted}")
    if not at or not git.is_ancestor(workspace, at, sha):
        return Anchor(None, "", (), tuple(notes))
    protected = tag_rulesets(formatted) if tag_rulesets is not None else []
    if not protected:
        notes.append(
            f"tag `{formatted}` exists but no tag ruleset protects it from update and deletion, so it decides nothing"
        )
        return Anchor(None, "", (), tuple(notes))
    return Anchor(at, f"tag `{formatted}` (protected by ruleset {', '.join(protected)})", (), tuple(notes))


def _format_tag(fmt: str, name: str, version: str) -> str:
    try:
        return fmt.replace("{name}", name).replace("{version}", version) if "{version}" in fmt else ""
    except (AttributeError, TypeError):
        return ""


def resolve(
    released: Policy,
    *,
    workspace: Path,
    policy_path: str,
    sha: str,
    name: str,
    baseline: str | None,
    git_head: object = None,
    provenance_commit: str | None = None,
    record_commit: str | None = None,
    tag_format: str = "v{version}",
    tag_rulesets: Callable[[str], list[str]] | None = None,
    per_package: bool = False,
) -> PolicyTrust:
    """Decide which policy decides this release (see the module docstring).

    `per_package`: `released` is already the package's own policy (`Policy.for_package(name)`): the trusted policy
    is read the same way, so a package is compared with its own section, never another package's."""
    from gatekeeper.rules.policy import POLICY_ANCHOR_CONFLICT, POLICY_CHANGED, POLICY_TRUSTED, POLICY_UNTRUSTED

    if baseline is None:
        return PolicyTrust(
            released,
            released,
            how="first release",
            findings=(
                POLICY_TRUSTED(
                    f"First release of {name}: the released commit's policy decides ({released.source}).",
                    file=policy_path,
                ),
            ),
        )
    commit = None
    how = ""
    anchor = Anchor(None, "")
    if git.is_repo(workspace) and sha:
        anchor = find_release_commit(
            workspace,
            sha,
            name,
            baseline,
            git_head,
            provenance_commit=provenance_commit,
            record_commit=record_commit,
            tag_format=tag_format,
            tag_rulesets=tag_rulesets,
        )
        commit, how = anchor.commit, anchor.how
    conflict: tuple[Finding, ...] = ()
    if anchor.conflicts:
        conflict = (
            POLICY_ANCHOR_CONFLICT(
                f"The evidence for the commit of the last release {name}@{baseline} disagrees: "
                + "; ".join(anchor.conflicts)
                + ". No anchor is trusted: the safe defaults decide, and the release blocks.",
                file=policy_path,
                version=baseline,
                conflicts=list(anchor.conflicts),
            ),
        )
        commit = None
    if commit is None:
        tag = _format_tag(tag_format, name, baseline) or f"v{baseline}"
        tried = (
            f"no verified provenance commit, gate record or gitHead that is an ancestor of {sha[:12] or 'HEAD'}, no "
            f"tag `{tag}` "
            "protected by a tag ruleset"
        )
        if anchor.notes:
            tried += " (" + "; ".join(anchor.notes) + ")"
        decides = untrusted(released)
        # The released commit can make the last release's commit unfindable (a shallow checkout, a deleted tag):
        # then nothing it loosens relative to the safe defaults may decide either (floor knobs such as
        # `checks.ignore` or `branch.release-branches`, `review.environment`, limits): the defaults decide.
        # (`notify`/`watch` say what happens after a publish, not whether it may happen: they are kept.)
        loosened = [x for x in compare(Policy(), decides)[0] if not x.startswith(("`notify.", "`watch."))]
        said = "the policy's `approve:` entries and lowered severities are ignored"
        if loosened or conflict:
            decides = replace(
                Policy(),
                notify=released.notify,
                watch=released.watch,
                source="the safe defaults (the released policy loosens them; not trusted)",
            )
            said = (
                "the released policy loosens the safe defaults (" + "; ".join(loosened) + "), so the safe defaults "
                "decide instead (no approvals, no loosened knobs)"
                if loosened
                else "the safe defaults decide (no approvals)"
            )
        return PolicyTrust(
            decides,
            released,
            how="not found",
            loosened=tuple(loosened),
            findings=(
                *conflict,
                POLICY_UNTRUSTED(
                    f"The commit of the last release {name}@{baseline} is not established ({tried}): {said}, so "
                    "install-time changes block as unapproved.",
                    file=policy_path,
                    version=baseline,
                ),
            ),
        )
    rel = policy_path if policy_path.startswith("./") else "./" + policy_path
    data = git.file_at(workspace, commit, rel, MAX_POLICY_BYTES)
    source = f"{policy_path} at {commit[:12]} (found by {how}, release {baseline})"
    trusted = parse_policy(data, source=source, check_floors=False) if data is not None else Policy(source=source)
    if per_package:
        trusted = trusted.for_package(name)
    loosened, tightened = compare(trusted, released)
    diff = policy_diff(trusted, released)
    findings: list[Finding] = []
    if loosened:
        decides = trusted
        findings.append(
            POLICY_CHANGED(
                f"The released commit's policy loosens the trusted policy of the last release {name}@{baseline} "
                f"({how}): " + "; ".join(loosened) + ". The trusted policy decided; a loosening takes effect only "
                "through a reviewed release (see the policy diff in the summary).",
                severity=Severity.BLOCK,
                file=policy_path,
                loosened=list(loosened),
            )
        )
    else:
        decides = released
        if tightened:
            findings.append(
                POLICY_CHANGED(
                    "The released commit's policy only tightens the trusted one: " + "; ".join(tightened) + ". "
                    "The stricter policy applies now.",
                    severity=Severity.INFO,
                    file=policy_path,
                )
            )
    if decides is trusted:
        said = f"The trusted policy decided: {trusted.source}."
    else:
        said = (
            f"The released commit's policy decided ({released.source}): it does not loosen the trusted policy "
            f"of the last release {name}@{baseline}, found at {commit[:12]} by {how}."
        )
    findings.append(POLICY_TRUSTED(said, file=policy_path, commit=commit, how=how))
    return PolicyTrust(
        decides, released, trusted, commit, how, tuple(loosened), tuple(tightened), tuple(findings), diff
    )


def untrusted(policy: Policy) -> Policy:
    """The policy without what only a trusted policy may say: approvals, severities below the defaults."""
    from gatekeeper.rules import all_rules
    from gatekeeper.trust import floors

    known = all_rules()
    rules = {
        rid: sev
        for rid, sev in policy.rules.items()
        if rid in known and floors.RANK[sev] >= floors.RANK[known[rid].severity.value]
    }
    return replace(
        policy, approve=Approvals(), rules=rules, packages={}, source=policy.source + " (approvals not trusted)"
    )


# -- comparing two policies


def _added(old: Iterable[str], new: Iterable[str]) -> list[str]:
    before = set(old)
    return [x for x in new if x not in before]


def _map_loosened(key: str, old: Mapping[str, Any], new: Mapping[str, Any], out: list[str], tight: list[str]) -> None:
    for k, v in new.items():
        if k not in old:
            out.append(f"`{key}` adds `{k}: {v!r}`")
        elif old[k] != v:
            out.append(f"`{key}.{k}` changes {old[k]!r} -> {v!r}")
    for k in old:
        if k not in new:
            tight.append(f"`{key}` drops `{k}`")


def compare(trusted: Policy, released: Policy) -> tuple[list[str], list[str]]:
    """(loosenings, tightenings) of `released` relative to `trusted`, as short descriptions."""
    from gatekeeper.rules import all_rules
    from gatekeeper.trust import floors

    lo: list[str] = []
    ti: list[str] = []
    t, r = trusted, released
    ranked: set[str] = {"rules"}  # keys ranked below; any other changed key counts as a loosening

    def lists(key: str, old: list[str], new: list[str], *, adding_loosens: bool = True) -> None:
        ranked.add(key)
        added, dropped = _added(old, new), _added(new, old)
        (lo if adding_loosens else ti).extend(f"`{key}` adds `{x}`" for x in added)
        (ti if adding_loosens else lo).extend(f"`{key}` drops `{x}`" for x in dropped)

    def flag(key: str, old: bool, new: bool, *, loose: bool) -> None:
        ranked.add(key)
        if old != new:
            (lo if new == loose else ti).append(f"`{key}` {old} -> {new}")

    def order(key: str, old: str, new: str, strict_first: tuple[str, ...]) -> None:
        ranked.add(key)
        if old != new:
            rank = {v: i for i, v in enumerate(strict_first)}
            looser = rank.get(new, len(rank)) > rank.get(old, len(rank))  # an unknown value counts as loosest
            (lo if looser else ti).append(f"`{key}` {old} -> {new}")

    def numbers(key: str, old: object, new: object) -> None:
        ranked.add(key)
        for f in dataclasses.fields(old):  # type: ignore[arg-type]
            a, b = getattr(old, f.name), getattr(new, f.name)
            if not isinstance(a, int):
                continue  # not a limit (network's proxy and CA: ranked where `numbers` is called)
            if a != b:
                (lo if b > a else ti).append(f"`{key}.{f.name.replace('_', '-')}` {a} -> {b}")

    lists("branch.events", t.branch.events, r.branch.events)
    lists("branch.release-branches", t.branch.release_branches, r.branch.release_branches)
    flag("branch.allow-forks", t.branch.allow_forks, r.branch.allow_forks, loose=True)
    lists("commit.release-files", t.commit.release_files, r.commit.release_files)
    flag("checks.require-checks", t.checks.require_checks, r.checks.require_checks, loose=False)
    lists("checks.ignore", t.checks.ignore, r.checks.ignore)
    lists("checks.required", t.checks.required, r.checks.required, adding_loosens=False)
    flag("credential.require-maintainer", t.credential.require_maintainer, r.credential.require_maintainer, loose=False)
    order(
        "credential.unknown-maintainers",
        t.credential.unknown_maintainers,
        r.credential.unknown_maintainers,
        ("block", "warn"),
    )
    # OIDC is the stronger credential: requiring it (`mode: oidc`), naming the one workflow whose ID token may
    # publish, or asking for provenance tightens; the reverse loosens (issue 23). `token` forbids OIDC: looser.
    order("credential.mode", t.credential.mode, r.credential.mode, ("oidc", "auto", "token"))
    ranked.add("credential.oidc-workflow")
    if t.credential.oidc_workflow != r.credential.oidc_workflow:
        named = not t.credential.oidc_workflow and bool(r.credential.oidc_workflow)
        (ti if named else lo).append(
            f"`credential.oidc-workflow` {t.credential.oidc_workflow!r} -> {r.credential.oidc_workflow!r}"
        )
    order("credential.provenance", t.credential.provenance, r.credential.provenance, ("always", "auto", "never"))
    ranked.update({"diff.baseline-tag", "pull-request.approval-label", "review.environment"})
    ranked.update({"approve.scripts", "approve.sources", "approve.bin", "pull-request.lockfile-sources"})
    if t.diff.baseline_tag != r.diff.baseline_tag:
        lo.append(f"`diff.baseline-tag` {t.diff.baseline_tag!r} -> {r.diff.baseline_tag!r}")
    order("diff.first-release", t.diff.first_release, r.diff.first_release, ("block", "allow"))
    numbers("diff.limits", t.diff.limits, r.diff.limits)
    numbers("diff.large-change", t.diff.large_change, r.diff.large_change)
    _map_loosened("approve.scripts", t.approve.scripts, r.approve.scripts, lo, ti)
    lists("approve.dependencies", t.approve.dependencies, r.approve.dependencies)
    _map_loosened("approve.sources", t.approve.sources, r.approve.sources, lo, ti)
    _map_loosened("approve.bin", t.approve.bin, r.approve.bin, lo, ti)
    lists("approve.files", [_show(f) for f in t.approve.files], [_show(f) for f in r.approve.files])
    lists("approve.install-scripts", t.approve.install_scripts, r.approve.install_scripts)
    numbers("network", t.network, r.network)
    # The route (issue 21): a proxy or CA bundle the trusted policy does not name could read the traffic, so any
    # change counts as a loosening; publish mode then refuses to run on the released policy's route.
    for key in ("https_proxy", "no_proxy", "ca_bundle", "ca_bundle_sha256"):
        a, b = getattr(t.network, key), getattr(r.network, key)
        if a != b:
            lo.append(f"`network.{key.replace('_', '-')}` {a!r} -> {b!r}")
    if t.pull_request.approval_label != r.pull_request.approval_label:
        which = lo if r.pull_request.approval_label else ti
        which.append(
            f"`pull-request.approval-label` {t.pull_request.approval_label!r} -> {r.pull_request.approval_label!r}"
        )
    lists("pull-request.install-scripts", t.pull_request.install_scripts, r.pull_request.install_scripts)
    _map_loosened(
        "pull-request.lockfile-sources", t.pull_request.lockfile_sources, r.pull_request.lockfile_sources, lo, ti
    )
    if t.review.environment != r.review.environment:
        which = lo if r.review.environment else ti
        which.append(f"`review.environment` {t.review.environment!r} -> {r.review.environment!r}")
    flag("review.require-other-reviewer", t.review.require_other_reviewer, r.review.require_other_reviewer, loose=False)
    order("dynamic.level", t.dynamic.level, r.dynamic.level, ("block", "warn", "off"))  # turning it on tightens
    known = all_rules()
    for rid in sorted(set(t.rules) | set(r.rules)):
        default = known[rid].severity.value if rid in known else "block"
        a, b = t.rules.get(rid, default), r.rules.get(rid, default)
        if a != b:
            (lo if floors.RANK[b] < floors.RANK[a] else ti).append(f"`rules.{rid}` {a} -> {b}")
    # Fail closed: a changed key the comparisons above do not rank (a new policy key, a limit, an approval
    # list) cannot be shown to only tighten, so it counts as a loosening.
    old_leaves, new_leaves = _leaves(t), _leaves(r)
    for key in sorted(set(old_leaves) | set(new_leaves)):
        if any(key == k or key.startswith(k + ".") for k in ranked):
            continue
        a, b = old_leaves.get(key), new_leaves.get(key)
        if a != b:
            lo.append(f"`{key}` {a!r} -> {b!r} (not known to only tighten)")
    return lo, ti


def _leaves(obj: object, prefix: str = "") -> dict[str, Any]:
    """A policy as `section.key` -> value: nested sections (e.g. `diff.limits`) are followed, maps are values."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        if not f.metadata.get("yaml", True):
            continue
        key, value = prefix + f.name.replace("_", "-"), getattr(obj, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            out.update(_leaves(value, key + "."))
        else:
            out[key] = _as_dict(value)
    return out


def _show(entry: object) -> str:
    """An `approve.files` entry as text (a path, or a path bound to a digest)."""
    if isinstance(entry, str):
        return entry
    parts = [f"{k}={v}" for k, v in sorted(_as_dict(entry).items()) if v]
    return "{" + ", ".join(parts) + "}"


def _as_dict(obj: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name.replace("_", "-"): _as_dict(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.metadata.get("yaml", True)
        }
    if isinstance(obj, list):
        return [_as_dict(x) for x in obj]  # type: ignore[return-value]
    if isinstance(obj, dict):
        return {str(k): _as_dict(v) for k, v in obj.items()}
    return obj  # type: ignore[return-value]


def policy_diff(trusted: Policy, released: Policy) -> str:
    """A unified diff of the two policies, normalised to YAML with every default spelled out."""
    a = yaml.safe_dump(_as_dict(trusted), sort_keys=False, default_flow_style=False, width=120)
    b = yaml.safe_dump(_as_dict(released), sort_keys=False, default_flow_style=False, width=120)
    if a == b:
        return ""
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "last release", "this commit", n=2))


__all__ = ["PolicyTrust", "compare", "find_release_commit", "policy_diff", "resolve", "tag_names", "untrusted"]
