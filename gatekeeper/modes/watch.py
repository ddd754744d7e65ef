"""`mode: watch`: catch every release that bypassed the gate (a small orchestrator, for a cron workflow).

For each watched package (`watch.packages`, else the one in `package-path`): ONE packument request
(conditional, with the ETag kept from the last run when the workflow caches the state file); every
version published since the watch began (`watch.since`, else the oldest gate record) is matched
against the gate's records, read from this repository's Releases (`GET /repos/{o}/{r}/releases`,
paginated, listed once per run; see `gatekeeper.steps.record` for the record format). A version with no
record, or whose registry integrity differs from its record, is an unexpected release: it is diffed
against the version before it with the release-diff engine and gets ONE issue (deduplicated across
runs by a hidden marker, found by listing the issues with `state=all` — never the search API, whose
index lags). Also reported: `latest` on a version the gate did not publish, maintainers added since
the last record, and a version without provenance where the one before had it.

Exit 0 when every release is accounted for, 1 when any blocking finding, 2 when something could not
be checked (fail closed: a registry or GitHub fault is never a pass).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gatekeeper import report
from gatekeeper._internal import git, markdown, semver, terminal
from gatekeeper._internal.github import GitHubClient, Issue
from gatekeeper._internal.registry import RegistryClient
from gatekeeper._internal.signatures import parse_time
from gatekeeper.config import Inputs
from gatekeeper.context import GitHubRun
from gatekeeper.decision import EXIT_ERROR, Decision, GateResult, apply_overrides, decide, gate_status
from gatekeeper.errors import ConfigError, GatekeeperError
from gatekeeper.findings import Finding, Severity
from gatekeeper.rules.provenance import TRUST_DOWNGRADE
from gatekeeper.rules.watch import (
    LATEST_UNRECORDED,
    MAINTAINER_ADDED,
    NO_RECORDS,
    PROVENANCE_DROPPED,
    RECORD_INTEGRITY_MISMATCH,
    RECORD_INVALID,
    UNEXPECTED_RELEASE,
    WATCH_PROVENANCE_INVALID,
)
from gatekeeper.steps.record import Record, defuse, record_of
from gatekeeper.steps.run import clients
from gatekeeper.trust.policy import Policy, load_policy

NAME = "watch"
STATE_PATH = "node_modules/.cache/npm-gatekeeper/watch-state.json"
MAX_STATE_BYTES = 256 * 1024 * 1024
MAX_ISSUE_BODY = 60_000


@dataclass
class Unexpected:
    """One version the gate did not publish (or whose bytes differ from its record)."""

    name: str
    version: str
    reason: str
    findings: list[Finding] = field(default_factory=list)
    delta_markdown: str = ""
    delta_text: str = ""
    issue: str = ""  # "#12 (new)" / "#7 (already open)"

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def marker(self) -> str:
        return f"<!-- npm-gatekeeper:unexpected {self.spec} -->"


@dataclass
class Records:
    """The gate's records from the Releases, by (name, version)."""

    by_version: dict[tuple[str, str], Record] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)

    def of(self, name: str) -> dict[str, Record]:
        return {v: r for (n, v), r in self.by_version.items() if n == name}


def load_records(github: GitHubClient, policy: Policy) -> Records:
    out = Records()
    trusted = set(policy.watch.trusted_authors)
    for rel in github.releases():
        if "npm-gatekeeper:record" not in rel.body.lower():
            continue
        record, why = record_of(rel, policy.notify.tag_format)
        if record is not None and trusted and rel.author not in trusted:
            record, why = None, f"written by {rel.author or 'an unknown author'}, not by {', '.join(sorted(trusted))}"
        if record is None:
            out.problems.append(RECORD_INVALID(f"Release {rel.tag}: {why}; ignored", release=rel.html_url))
            continue
        key = (record.name, record.version)
        if key in out.by_version:
            out.problems.append(RECORD_INVALID(f"Release {rel.tag}: a second record for {key[0]}@{key[1]}; ignored"))
            continue
        out.by_version[key] = record
    return out


def in_scope(packument: Mapping[str, Any], recorded: Mapping[str, Record], since: str) -> tuple[list[str], str]:
    """(versions to match, since-what) — published since the watch began, oldest first."""
    versions = [v for v in (packument.get("versions") or {}) if isinstance(v, str)]
    raw = packument.get("time")
    times: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    order = sorted(versions, key=lambda v: (semver.parse(v) is None, semver.parse(v) or semver.parse("0.0.0"), v))
    since_v = semver.parse(since) if since else None
    if since_v is not None:
        # The watch begins at that version, and so in time when it was published (else at the oldest record): a
        # lower version published after that (a stolen token, another dist-tag) is in the watch too.
        begun = [t for v in (since, *recorded) if (t := parse_time(times.get(v))) is not None]
        start = parse_time(times.get(since)) or (min(begun) if begun else None)
        return [
            v
            for v in order
            if ((p := semver.parse(v)) is not None and p >= since_v)
            or (start is not None and (t := parse_time(times.get(v))) is not None and t > start)
        ], f"version {since}"
    since_t = parse_time(since) if since else None
    if since_t is None and recorded:
        oldest = min(recorded, key=lambda v: (parse_time(times.get(v)) or datetime.max.replace(tzinfo=UTC), v))
        since_t = parse_time(times.get(oldest))
        if since_t is None:  # no publish times: fall back to version order
            floor = semver.parse(oldest)
            return [v for v in order if floor and (p := semver.parse(v)) and p >= floor], f"record {oldest}"
        since = f"the oldest gate record ({oldest})"
    if since_t is None:
        return [], ""
    picked = [v for v in order if (t := parse_time(times.get(v))) is None or t >= since_t]
    return picked, since


def _dist(packument: Mapping[str, Any], version: str) -> Mapping[str, Any]:
    meta = (packument.get("versions") or {}).get(version)
    dist = meta.get("dist") if isinstance(meta, dict) else None
    return dist if isinstance(dist, dict) else {}


def _has_provenance(packument: Mapping[str, Any], version: str) -> bool:
    att = _dist(packument, version).get("attestations")
    return isinstance(att, dict) and bool(att.get("url") or att.get("provenance"))


def _maintainers(packument: Mapping[str, Any]) -> set[str]:
    people = packument.get("maintainers")
    if not isinstance(people, list):
        return set()
    return {str(p["name"]) for p in people if isinstance(p, dict) and isinstance(p.get("name"), str)}


class PackageWatch:
    """The checks of one package against its packument and records."""

    def __init__(self, name: str, packument: Mapping[str, Any], records: Mapping[str, Record], policy: Policy):
        self.name, self.doc, self.records, self.policy = name, packument, records, policy
        self.findings: list[Finding] = []
        self.unexpected: list[Unexpected] = []
        self.scope: list[str] = []

    def verified(self, version: str) -> bool:
        rec = self.records.get(version)
        return rec is not None and rec.integrity == _dist(self.doc, version).get("integrity")

    def run(self, also_since: str = "") -> None:
        """`also_since`: the workspace's `watch.since` (untrusted): it may only ADD versions to the scope."""
        scope, since = in_scope(self.doc, self.records, self.policy.watch.since)
        if also_since and also_since != self.policy.watch.since:
            more, since_more = in_scope(self.doc, self.records, also_since)
            scope += [v for v in more if v not in scope]
            since = since or since_more
        self.scope = scope
        if not since:
            self.findings.append(
                NO_RECORDS(f"{self.name}: no gate record in this repository's Releases and no `watch.since`")
            )
            return
        all_versions = [v for v in (self.doc.get("versions") or {}) if isinstance(v, str)]
        for version in scope:
            self._version(version, all_versions)
        self._latest()
        self._maintainers_added()

    def _version(self, version: str, all_versions: list[str]) -> None:
        spec = f"{self.name}@{version}"
        got = _dist(self.doc, version).get("integrity")
        rec = self.records.get(version)
        item: Unexpected | None = None
        if rec is None:
            item = Unexpected(self.name, version, "no gate record")
            item.findings.append(UNEXPECTED_RELEASE(f"{spec} was published without the gate (no record)", version=spec))
        elif rec.integrity != got:
            item = Unexpected(self.name, version, "integrity differs from the record")
            item.findings.append(
                RECORD_INTEGRITY_MISMATCH(
                    f"{spec}: the registry serves {got or 'no integrity'}, the gate recorded {rec.integrity}",
                    version=spec,
                )
            )
        parsed = semver.parse(version)
        prev = semver.highest_below(all_versions, parsed) if parsed else None
        if prev and _has_provenance(self.doc, prev) and not _has_provenance(self.doc, version):
            f = PROVENANCE_DROPPED(f"{spec} has no provenance; {self.name}@{prev} before it had", version=spec)
            (item.findings if item else self.findings).append(f)
        if prev:
            from gatekeeper.trust import provenance as verified

            versions = self.doc.get("versions") or {}
            before, now = (verified.release_rank(versions.get(v) or {}) for v in (prev, version))
            if now < before:
                f = TRUST_DOWNGRADE(
                    f"{spec} was published with {verified.RANKS[now]}; {self.name}@{prev} before it with "
                    f"{verified.RANKS[before]}",
                    version=spec,
                )
                (item.findings if item else self.findings).append(f)
        if item is not None:
            self.unexpected.append(item)

    def check_provenance(self, registry: RegistryClient, env: Mapping[str, str], run: GitHubRun) -> None:
        """Verify the attestations of every version in scope that carries `dist.attestations` (ONE verifier run
        for the package): verification, the subject (name and tarball), and the certificate's repository (by id)."""
        from gatekeeper.trust import provenance as verified

        entries: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = []
        problems: dict[str, list[str]] = {}
        for version in self.scope:
            dist = _dist(self.doc, version)
            att = dist.get("attestations")
            if not isinstance(att, dict) or not att:
                continue
            url = att.get("url")
            doc = registry.attestations(self.name, version, url if isinstance(url, str) else None)
            if doc is None:
                problems[version] = ["`dist.attestations` names attestations, but the registry has none (404)"]
            else:
                entries.append((version, dist, doc))
        pol = self.policy.provenance
        want = verified.expected(
            pol.repository,
            pol.repository_id,
            pol.workflow,
            run_repository=run.repository,
            run_repository_id=env.get("GITHUB_REPOSITORY_ID", ""),
            run_workflow="",  # watch runs from its own workflow: the release workflow is checked only when named
            server=(env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
        )
        for version, out in verified.verify_versions(self.name, entries, env).items():
            if out.problems:
                problems[version] = out.problems
            elif out.evidence is not None:
                found = verified.identity_problems(out.evidence.claims, want, workflow_required=False)
                if found:
                    problems[version] = found
        for version, what in problems.items():
            spec = f"{self.name}@{version}"
            f = WATCH_PROVENANCE_INVALID(f"{spec}: " + "; ".join(what) + ".", version=spec)
            target = next((u for u in self.unexpected if u.version == version), None)
            (target.findings if target else self.findings).append(f)

    def _latest(self) -> None:
        tags = self.doc.get("dist-tags")
        latest = tags.get("latest") if isinstance(tags, dict) else None
        if isinstance(latest, str) and latest and not self.verified(latest):
            f = LATEST_UNRECORDED(
                f"`latest` of {self.name} is {latest}, which the gate did not publish", version=latest
            )
            target = next((u for u in self.unexpected if u.version == latest), None)
            (target.findings if target else self.findings).append(f)

    def _maintainers_added(self) -> None:
        with_people = [(semver.parse(v), r) for v, r in self.records.items() if r.maintainers and semver.parse(v)]
        if not with_people:
            return
        last = max(with_people, key=lambda x: x[0])[1]  # type: ignore[arg-type,return-value]
        added = sorted(_maintainers(self.doc) - set(last.maintainers))
        if added:
            f = MAINTAINER_ADDED(
                f"{self.name}: maintainer(s) {', '.join(added)} added since the record of {last.version}",
                added=added,
            )
            self.findings.append(f)
            for u in self.unexpected:
                u.findings.append(f)


def diff_unexpected(registry: RegistryClient, doc: Mapping[str, Any], item: Unexpected, policy: Policy) -> str:
    """The release-diff delta of an unexpected version against the version before it (Markdown)."""
    return unexpected_delta(registry, doc, item, policy)[0]


def unexpected_delta(
    registry: RegistryClient, doc: Mapping[str, Any], item: Unexpected, policy: Policy
) -> tuple[str, str]:
    """That delta as (Markdown, plain text for `--format text`)."""
    from gatekeeper.diffing import diff_packages
    from gatekeeper.gates.diff import combine, fetch_release
    from gatekeeper.report.text import finding_lines

    versions = [v for v in (doc.get("versions") or {}) if isinstance(v, str)]
    parsed = semver.parse(item.version)
    prev = semver.highest_below(versions, parsed) if parsed else None
    try:
        cand = fetch_release(registry, doc, item.name, item.version, policy)
        if cand.package is None:
            said = "The tarball on the registry does not match its own `dist.integrity`: not diffed.\n"
            return said, said.replace("`", "")
        if prev is None:
            result = diff_packages(None, cand.package, policy)
        else:
            result = combine(fetch_release(registry, doc, item.name, prev, policy), cand.package, policy)
    except GatekeeperError as exc:
        return (
            f"The delta could not be computed: {markdown.text(exc.what)}.\n",
            f"The delta could not be computed: {terminal.safe(exc.what)}.\n",
        )
    lines = [result.to_markdown(max_files=150)]
    blocking = [f for f in apply_overrides(result.findings, policy) if f.severity is not Severity.INFO]
    if blocking:
        lines += ["| Severity | Rule | Where | Message |", "| --- | --- | --- | --- |"]
        for f in blocking[:100]:
            where = markdown.code(f.file) if f.file else ""
            lines.append(f"| {f.severity.value} | `{f.rule}` | {where} | {markdown.text(f.message, 500)} |")
        lines.append("")
    text = [result.to_text(max_files=150).rstrip("\n"), *finding_lines(blocking[:100], fixes=False)]
    return "\n".join(lines), "\n".join(text) + "\n"


def issue_body(item: Unexpected, doc: Mapping[str, Any], mentions: list[str], registry_url: str) -> str:
    dist = _dist(doc, item.version)
    times = doc.get("time") if isinstance(doc.get("time"), dict) else {}
    meta = (doc.get("versions") or {}).get(item.version)
    npm_user = meta.get("_npmUser") if isinstance(meta, dict) else None
    who = npm_user.get("name") if isinstance(npm_user, dict) else None
    lines = [
        f"**{markdown.code(item.spec)} is on the registry, but npm-gatekeeper did not publish it** ({item.reason}).",
        "",
        "A stolen or leaked npm token used outside the release workflow looks exactly like this. Until it is",
        "explained: deprecate the version, revoke the tokens, check the maintainers, and read the delta below.",
        "",
        f"- Registry: {markdown.code(registry_url)}",
        f"- Published: {markdown.code(str(times.get(item.version) or 'unknown'))}"
        + (f" by {markdown.code(str(who))}" if who else ""),
        f"- Integrity on the registry: {markdown.code(str(dist.get('integrity') or 'none'))}",
        f"- Provenance: {'yes' if _has_provenance(doc, item.version) else 'none'}",
        "",
        "| Rule | Finding |",
        "| --- | --- |",
    ]
    lines += [f"| `{f.rule}` | {markdown.text(f.message, 500)} |" for f in item.findings]
    lines += ["", item.delta_markdown, ""]
    if mentions:
        lines += ["cc " + " ".join(mentions), ""]
    body = defuse("\n".join(lines))
    if len(body) > MAX_ISSUE_BODY:
        body = body[:MAX_ISSUE_BODY] + "\n\n_(truncated: see the watch run's JSON report)_\n"
    return body + "\n" + item.marker + "\n"


def find_issue(issues: list[Issue], item: Unexpected, trusted: set[str]) -> Issue | None:
    """An issue we opened earlier for this version: our marker on a line of its own, from a trusted author."""
    for issue in issues:
        if trusted and issue.author not in trusted:
            continue  # anyone can open an issue: a planted marker must not silence ours
        if any(line.strip() == item.marker for line in issue.body.splitlines()):
            return issue
    return None


# -- state for conditional requests ----------------------------------------------------------------------


def load_state(path: Path) -> dict[str, Any]:
    try:
        if path.is_file() and path.stat().st_size <= MAX_STATE_BYTES:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("packuments"), dict):
                return data
    except (OSError, ValueError):
        pass
    return {"packuments": {}}


def fetch_packument(registry: RegistryClient, name: str, state: dict[str, Any]) -> dict[str, Any] | None:
    """One request: conditional on the ETag of the cached copy, which is reused on 304."""
    cached = state["packuments"].get(name)
    etag = cached.get("etag") if isinstance(cached, dict) and isinstance(cached.get("doc"), dict) else None
    doc, new_etag, not_modified = registry.packument_if_changed(name, etag if isinstance(etag, str) else None)
    if not_modified:
        return dict(cached["doc"])  # type: ignore[index]
    if doc is not None and new_etag:
        state["packuments"][name] = {"etag": new_etag, "doc": doc}
    else:
        state["packuments"].pop(name, None)
    return doc


# -- the orchestrator ------------------------------------------------------------------------------------


def _packages(policy: Policy, inputs: Inputs, workspace: Path) -> list[str]:
    if policy.watch.packages:
        return list(dict.fromkeys(policy.watch.packages))
    manifest = (workspace / inputs.package_path / "package.json").resolve()
    try:
        data = json.loads(manifest.read_bytes()[: 4 * 1024 * 1024])
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"No readable package.json at {manifest} ({type(exc).__name__})",
            "Set `package-path`, or list the packages in `watch.packages`",
        ) from None
    name = data.get("name") if isinstance(data, dict) else None
    members = _workspace_packages(manifest.parent, workspace, data)
    if members and data.get("private") is True:
        return members  # a monorepo's private root is never published: its workspace packages are
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{manifest} has no `name`", "Add it, or list the packages in `watch.packages`")
    return list(dict.fromkeys([name, *members]))


def _workspace_packages(root: Path, workspace: Path, data: object) -> list[str]:
    """Every package of the repository's workspaces (package.json `workspaces`, pnpm-workspace.yaml) that is not
    `private: true`, in workspace order; [] when the repository declares no workspaces (issue 24: watch covers
    every package of a monorepo by default)."""
    from gatekeeper.steps import plan

    declared = (root / "pnpm-workspace.yaml").exists() or (
        isinstance(data, dict) and data.get("workspaces") not in (None, [], {})
    )
    if not declared:
        return []
    names: list[str] = []
    for folder in plan.expand(plan.workspace_globs(root), root):
        member = plan.read_manifest(folder, root)
        name = member.get("name")
        if member.get("private") is not True and isinstance(name, str) and name:
            names.append(name)
    return list(dict.fromkeys(names))


def trusted_watch_policy(
    released: Policy,
    registry: RegistryClient,
    github: GitHubClient,
    env: Mapping[str, str],
    run: GitHubRun,
    workspace: Path,
    policy_path: str,
    names: list[str],
) -> tuple[Policy, str]:
    """The policy watch obeys (issue 23, item 6): the one at the commit of the last GATED release, anchored as
    the publish path anchors it (verified provenance > gitHead > the gate's own record, which must agree), never
    the workspace's (a pushed `watch.since: "99.0.0"` or a wider `trusted-authors` would silence watch). Only
    `watch.packages` may grow from the workspace (more packages watched only tightens). No anchor: the safe
    defaults (with the workspace's packages, notify and watch.packages only). Returns (policy, how)."""
    from dataclasses import replace

    from gatekeeper.trust import provenance as verified
    from gatekeeper.trust import trusted_policy
    from gatekeeper.trust.policy import WatchPolicy, parse_policy

    defaults = Policy()
    records = load_records(github, defaults)  # the gate's records, by the default trusted author only
    sha = run.sha or git.head(workspace) or ""
    for name in names:
        recorded = sorted(
            (r for r in records.of(name).values() if semver.parse(r.version)),
            key=lambda r: semver.parse(r.version),  # type: ignore[arg-type,return-value]
        )
        if not recorded or not (sha and git.is_repo(workspace)):
            continue
        last = recorded[-1]
        doc = registry.packument(name)
        meta = ((doc or {}).get("versions") or {}).get(last.version)
        if not isinstance(meta, dict) or _dist(doc or {}, last.version).get("integrity") != last.integrity:
            continue
        anchor = trusted_policy.find_release_commit(
            workspace,
            sha,
            name,
            last.version,
            meta.get("gitHead"),
            provenance_commit=verified.release_commit(registry, env, run.repository, name, last.version, meta),
            tag_format="",  # a tag never anchors watch
        )
        commit = anchor.commit
        if commit is None and last.commit:
            found = git.commit_of(workspace, last.commit)
            commit = found if found and git.is_ancestor(workspace, found, sha) else None
            how = f"the gate's record of {name}@{last.version}"
        else:
            how = f"{anchor.how} of {name}@{last.version}"
        if commit is None or anchor.conflicts or (anchor.commit and last.commit and anchor.commit != last.commit):
            continue
        rel = policy_path if policy_path.startswith("./") else "./" + policy_path
        data = git.file_at(workspace, commit, rel, 1024 * 1024)
        trusted = parse_policy(data, source=f"{policy_path} at {commit[:12]}", check_floors=False) if data else defaults
        packages = list(dict.fromkeys([*trusted.watch.packages, *released.watch.packages]))
        # `notify` (the mentions) says who hears about it, not whether: the workspace's is kept
        chosen = replace(trusted, notify=released.notify, watch=replace(trusted.watch, packages=packages))
        return chosen, f"{how} at {commit[:12]}"
    safe = replace(defaults, notify=released.notify, watch=WatchPolicy(packages=list(released.watch.packages)))
    return safe, (
        "no anchored gated release: the safe defaults decide (the workspace's `watch.since`, `trusted-authors` and "
        "`rules` are not trusted)"
    )


def watch(inputs: Inputs, env: Mapping[str, str], workspace: Path) -> report.Outcome:
    released = load_policy(workspace / inputs.policy, required=inputs.policy != ".github/npm-gatekeeper.yml")
    gh_run = GitHubRun.from_env(env)
    if not (gh_run.repository and inputs.github_token):
        raise ConfigError(
            "Watch mode reads the gate's records from the repository's Releases and opens issues",
            "Run it in GitHub Actions with `github-token` (permissions: contents: read, issues: write)",
        )
    registry, maybe_github = clients(inputs, env, released, gh_run)
    assert maybe_github is not None
    github = maybe_github
    policy, how = trusted_watch_policy(
        released, registry, github, env, gh_run, workspace, inputs.policy, _packages(released, inputs, workspace)
    )
    names = _packages(policy, inputs, workspace)
    records = load_records(github, policy)
    state_path = workspace / STATE_PATH
    state = load_state(state_path)
    results: list[GateResult] = []
    unexpected: list[tuple[Unexpected, Mapping[str, Any]]] = []
    for name in names:
        try:
            doc = fetch_packument(registry, name, state)
            if doc is None:
                recorded = sorted(records.of(name))
                if recorded:  # fail closed: the gate published it, so "does not exist" is a fault, not a pass
                    results.append(
                        GateResult(
                            name,
                            "error",
                            [],
                            f"The registry answers that {name} does not exist, but the gate published "
                            f"{', '.join(recorded[:5])}: it was unpublished (a leaked token?) or the registry or "
                            f"the network answers wrongly. Check `npm view {name}` and the `registry` input",
                        )
                    )
                else:
                    results.append(GateResult(name, "skipped", [], f"{name} is not on the registry"))
                continue
            pw = PackageWatch(name, doc, records.of(name), policy)
            pw.run(also_since=released.watch.since)
            pw.check_provenance(registry, env, gh_run)
        except GatekeeperError as exc:
            results.append(GateResult(name, "error", [], exc.what.rstrip(".") + ". " + exc.remedy))
            continue
        found = apply_overrides(pw.findings + [f for u in pw.unexpected for f in u.findings], policy)
        results.append(GateResult(name, gate_status(found), found))
        unexpected += [(u, doc) for u in pw.unexpected]
    if records.problems:
        problems = apply_overrides(records.problems, policy)
        results.append(GateResult("records", gate_status(problems), problems))
    issues: list[Issue] | None = None
    trusted = set(policy.watch.trusted_authors)
    sections: list[str] = [f"Policy: {markdown.text(how)}."]
    sections_text: list[str] = [terminal.safe(f"policy: {how}")]  # the same, as plain text (`--format text`)
    for item, doc in unexpected:
        gate = next(r for r in results if r.name == item.name)
        try:
            if issues is None:
                issues = github.issues()
            item.delta_markdown, item.delta_text = unexpected_delta(registry, doc, item, policy)
            existing = find_issue(issues, item, trusted)
            if existing is not None:
                item.issue = f"#{existing.number} (already {existing.state or 'open'})"
            else:
                title = f"Unexpected release: {item.spec} was not published through npm-gatekeeper"
                created = github.create_issue(title, issue_body(item, doc, policy.notify.mention, inputs.registry))
                issues.append(created)
                item.issue = f"#{created.number} (opened)"
        except GatekeeperError as exc:
            gate.status, gate.error = "error", f"{item.spec}: {exc.what.rstrip('.')}. {exc.remedy}"
            item.issue = "not opened (error)"
        sections.append(f"### {markdown.code(item.spec)}: {item.reason}; issue {item.issue}\n\n{item.delta_markdown}")
        sections_text.append(terminal.safe(f"{item.spec}: {item.reason}; issue {item.issue}") + "\n" + item.delta_text)
    try:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(json.dumps(state), encoding="utf-8")
    except OSError:
        pass  # the state only saves bandwidth next time
    decision = decide(results)
    error = " ".join(f"[{r.name}] {r.error}" for r in results if r.status == "error") or None
    return report.Outcome(
        mode="watch",
        decision=decision,
        gates=results,
        extra_markdown=sections,
        extra_text=sections_text,
        error=error,
        unexpected=[u.spec for u, _ in unexpected],
    )


def run_watch(inputs: Inputs, env: Mapping[str, str], *, report_path: Path | None = None, fmt: str = "markdown") -> int:
    """Watch mode's entry: 0 all accounted for, 1 unexpected releases (or other blocks), 2 could not check."""
    from gatekeeper.steps.run import RunOptions, emit, mask_secrets, redact

    opts = RunOptions(report_path=report_path, output_format=fmt)
    mask_secrets(inputs, env, opts.out)
    workspace = Path(env.get("GITHUB_WORKSPACE") or ".").resolve()
    try:
        outcome = watch(inputs, env, workspace)
    except GatekeeperError as exc:
        message = exc.what.rstrip(".") + ". " + exc.remedy
        outcome = report.Outcome("watch", Decision(False, EXIT_ERROR, message), [], error=message)
    except Exception as exc:  # fail closed
        message = redact(inputs, f"Internal error in watch ({type(exc).__name__}: {exc}). Please report this.")
        outcome = report.Outcome("watch", Decision(False, EXIT_ERROR, message), [], error=message)
        import traceback

        sys.stderr.write(redact(inputs, traceback.format_exc()))
    emit(outcome, inputs, env, workspace, opts)
    return outcome.decision.exit_code
