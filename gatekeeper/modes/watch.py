"""`mode: watch`: catch every release that bypassed the gate (a small orchestrator, for a cron workflow).

For each watched package (`watch.packages`, else the one in `package-path`): ONE full packument request
(no state file kept between runs: a cached copy accepted on a 304 could be a tampered one hiding a version);
every version published since the watch began (`watch.since`, else the oldest gate record) is matched
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
    DEPENDENCY_DRIFT,
    LATEST_UNRECORDED,
    MAINTAINER_ADDED,
    NO_RECORDS,
    PROVENANCE_DROPPED,
    RECORD_INTEGRITY_MISMATCH,
    RECORD_INVALID,
    RECORD_UNBOUND,
    RECORDS_UNSIGNED,
    UNEXPECTED_RELEASE,
    WATCH_PROVENANCE_INVALID,
)
from gatekeeper.steps.record import Record, defuse, record_of
from gatekeeper.steps.run import clients
from gatekeeper.trust.policy import Policy, load_policy

NAME = "watch"
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
class Drift:
    """A package with an install script that the latest release's consumer tree gained since its gate record."""

    name: str
    version: str  # the release (latest)
    dependency: str  # name@version, now in the tree with an install script
    was: str  # the same package's name@version in the record, or ""
    finding: Finding
    issue: str = ""

    @property
    def marker(self) -> str:
        return f"<!-- npm-gatekeeper:drift {self.name}@{self.version} {self.dependency} -->"


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


def _run_key(url: str) -> tuple[str, str]:
    """A workflow run URL as (the run's URL without the attempt, the attempt): a record's run URL names the attempt
    only when it is not the first; the provenance's run invocation URI always does."""
    base, _, attempt = url.strip().rstrip("/").lower().partition("/attempts/")
    return base, attempt or "1"


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
        self.evidence: dict[str, Any] = {}  # version -> verified provenance (trust.provenance.Evidence)
        self.prov_problems: dict[str, list[str]] = {}
        self.unbound: set[str] = set()  # recorded versions whose record does not count (item 3)

    def verified(self, version: str) -> bool:
        rec = self.records.get(version)
        return (
            rec is not None
            and rec.integrity == _dist(self.doc, version).get("integrity")
            and version not in self.unbound
        )

    def select(self, also_since: str = "") -> bool:
        """The versions in scope (`self.scope`); False (with `watch-no-records`) when the watch has not begun.
        `also_since`: the workspace's `watch.since` (untrusted): it may only ADD versions to the scope."""
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
            return False
        return True

    def check(self) -> None:
        """Every version in scope against its record and its verified provenance (`verified_provenance` first)."""
        all_versions = [v for v in (self.doc.get("versions") or {}) if isinstance(v, str)]
        for version in self.scope:
            self._version(version, all_versions)
        self._provenance_problems()
        self._latest()
        self._maintainers_added()
        self._unsigned_records()

    def _published_with_provenance_before(self, version: str, all_versions: list[str]) -> str | None:
        """A lower version that carries `dist.attestations` (the package has published with provenance)."""
        parsed = semver.parse(version)
        if parsed is None:
            return None
        lower = [(p, v) for v in all_versions if (p := semver.parse(v)) is not None and p < parsed]
        with_att = [x for x in lower if _has_provenance(self.doc, x[1])]
        return max(with_att)[1] if with_att else None

    def _bound(self, version: str, rec: Record, all_versions: list[str]) -> str:
        """Why the record of `version` does not count (issue 23, item 3), or "" when it does: the version's
        verified provenance must name the record's commit and run; a version whose attestations fail counts as
        unrecorded; a version without provenance in a package that has published with provenance before too
        (its record could be written by anyone with push access). Without any provenance ever, the record counts
        (and is only as strong as push access: `watch-records-unsigned`)."""
        spec = f"{self.name}@{version}"
        ev = self.evidence.get(version)
        if ev is not None:
            diffs = []
            if rec.commit != ev.commit:
                diffs.append(f"the record names commit {rec.commit or '(none)'}, the provenance {ev.commit}")
            if _run_key(rec.run) != _run_key(ev.claims.run_invocation_uri):
                diffs.append(
                    f"the record names run {rec.run or '(none)'}, the provenance {ev.claims.run_invocation_uri}"
                )
            return f"{spec}: " + "; ".join(diffs) if diffs else ""
        if version in self.prov_problems:
            return f"{spec}: its attestations do not verify, so its record proves nothing"
        if _has_provenance(self.doc, version):
            return f"{spec}: its provenance was not verified, so its record proves nothing"
        before = self._published_with_provenance_before(version, all_versions)
        if before:
            return (
                f"{spec} has no provenance, though {self.name}@{before} was published with it: its record could have "
                "been written by any workflow or person with push access"
            )
        return ""

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
        elif why := self._bound(version, rec, all_versions):
            self.unbound.add(version)
            item = Unexpected(self.name, version, "its record is not bound to verified provenance")
            item.findings.append(RECORD_UNBOUND(why + ".", version=spec))
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

    def attestations(self, registry: RegistryClient) -> list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]:
        """The attestations documents of every version in scope that carries `dist.attestations`, as
        (name, version, dist, document) for `trust.provenance.verify_many`: the orchestrator verifies every
        package's at once (ONE verifier run per watch run). A document the registry does not serve is a problem."""
        out: list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]] = []
        for version in self.scope:
            dist = _dist(self.doc, version)
            att = dist.get("attestations")
            if not isinstance(att, dict) or not att:
                continue
            url = att.get("url")
            doc = registry.attestations(self.name, version, url if isinstance(url, str) else None)
            if doc is None:
                self.prov_problems[version] = [
                    "`dist.attestations` names attestations, but the registry has none (404)"
                ]
            else:
                out.append((self.name, version, dist, doc))
        return out

    def verified_provenance(self, outcomes: Mapping[str, Any], env: Mapping[str, str], run: GitHubRun) -> None:
        """Take the verification `outcomes` (version -> trust.provenance.Outcome): verification, the subject (name
        and tarball), and the certificate's repository (by id). Keeps the verified evidence (`self.evidence`) the
        records are bound to, and the problems, which `check` reports."""
        from gatekeeper.trust import provenance as verified

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
        for version, out in outcomes.items():
            if out.problems:
                self.prov_problems[version] = out.problems
            elif out.evidence is not None:
                found = verified.identity_problems(out.evidence.claims, want, workflow_required=False)
                if found:
                    self.prov_problems[version] = found
                else:
                    self.evidence[version] = out.evidence

    def drift(self, resolve: Any) -> list[Drift]:
        """Issue 23, item 7: re-resolve the consumer tree of `latest` (when the gate published it and its record lists
        the tree's install scripts) and report each package with an install script that is new in it, or at another
        version than recorded. `resolve` is a `diffing.Resolver` (npm's resolution, nothing run); a fault raises."""
        from gatekeeper.steps.record import install_script_set

        tags = self.doc.get("dist-tags")
        latest = tags.get("latest") if isinstance(tags, dict) else None
        rec = self.records.get(latest) if isinstance(latest, str) else None
        meta = (self.doc.get("versions") or {}).get(latest) if isinstance(latest, str) else None
        if rec is None or rec.install_scripts is None or not self.verified(str(latest)) or not isinstance(meta, dict):
            return []
        before = set(rec.install_scripts)
        by_name = {s.rsplit("@", 1)[0]: s for s in before}
        out: list[Drift] = []
        for spec in install_script_set(dict(meta), resolve):
            if spec in before:
                continue
            was = by_name.get(spec.rsplit("@", 1)[0], "")
            said = (
                f"it was {was} in the tree the gate resolved when it published"
                if was
                else "no version of it ran install scripts in the tree the gate resolved when it published"
            )
            f = DEPENDENCY_DRIFT(
                f"{self.name}@{latest}: a consumer's fresh install now runs the install scripts of {spec}; {said}",
                version=f"{self.name}@{latest}",
                dependency=spec,
            )
            self.findings.append(f)
            out.append(Drift(self.name, str(latest), spec, was, f))
        return out

    def _provenance_problems(self) -> None:
        for version, what in self.prov_problems.items():
            spec = f"{self.name}@{version}"
            f = WATCH_PROVENANCE_INVALID(f"{spec}: " + "; ".join(what) + ".", version=spec)
            target = next((u for u in self.unexpected if u.version == version), None)
            (target.findings if target else self.findings).append(f)

    def _unsigned_records(self) -> None:
        """Token publishers without provenance: say plainly what their records are worth (issue 23, item 3)."""
        versions = [v for v in (self.doc.get("versions") or {}) if isinstance(v, str)]
        if self.records and not any(_has_provenance(self.doc, v) for v in versions):
            self.findings.append(
                RECORDS_UNSIGNED(
                    f"{self.name} has never been published with provenance: its gate records (GitHub Releases) are "
                    "only "
                    "as strong as push access to this repository, since any workflow with `contents: write` or any "
                    "maintainer can write one. Publish with OIDC trusted publishing and provenance "
                    "(`credential.mode: oidc`) so each record is bound to a signed commit and run"
                )
            )

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


def drift_issue_body(item: Drift, mentions: list[str]) -> str:
    lines = [
        f"**A fresh install of {markdown.code(f'{item.name}@{item.version}')} now runs the install scripts of "
        f"{markdown.code(item.dependency)}**, which its gate record did not list.",
        "",
        "A dependency's new release reaches your users through your version ranges after your gate passed. Read",
        "the dependency's change; if it is not expected, publish a release that pins or drops it.",
        "",
        f"- Was: {markdown.code(item.was) if item.was else 'not in the tree with an install script'}",
        f"- Finding: {markdown.text(item.finding.message, 800)}",
        "",
    ]
    if item.was:
        lines += [f"`gatekeeper diff {markdown.text(item.was)} {markdown.text(item.dependency)}` shows the change.", ""]
    if mentions:
        lines += ["cc " + " ".join(mentions), ""]
    return defuse("\n".join(lines)) + "\n" + item.marker + "\n"


def find_issue(issues: list[Issue], item: Unexpected | Drift, trusted: set[str]) -> Issue | None:
    """An issue we opened earlier for this version: our marker on a line of its own, from a trusted author."""
    for issue in issues:
        if trusted and issue.author not in trusted:
            continue  # anyone can open an issue: a planted marker must not silence ours
        if any(line.strip() == item.marker for line in issue.body.splitlines()):
            return issue
    return None


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
    the publish path anchors it (verified provenance > the gate's own record > gitHead, which must agree), never
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
            record_commit=last.commit or None,
            tag_format="",  # a tag never anchors watch
        )
        commit, how = anchor.commit, f"{anchor.how} of {name}@{last.version}"
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
    from gatekeeper.gates.diff import registry_url_of, tree_resolver

    results: list[GateResult] = []
    unexpected: list[tuple[Unexpected, Mapping[str, Any]]] = []
    drifts: list[Drift] = []
    watched: list[tuple[str, dict[str, Any], PackageWatch, bool]] = []
    entries: list[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]] = []
    for name in names:
        try:
            doc = registry.packument(name)  # a full read every run: no cached copy, no 304 (issue 23, item 6)
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
            begun = pw.select(also_since=released.watch.since)
            entries += pw.attestations(registry) if begun else []
            watched.append((name, doc, pw, begun))
        except GatekeeperError as exc:
            results.append(GateResult(name, "error", [], exc.what.rstrip(".") + ". " + exc.remedy))
    # every watched package's attestations in ONE verifier run (its start-up dominates a document's cost)
    outcomes: list[Any] = []
    failed: GatekeeperError | None = None
    try:
        from gatekeeper.trust import provenance as verified

        outcomes = verified.verify_many(entries, env) if entries else []
    except GatekeeperError as exc:
        failed = exc
    by_package: dict[str, dict[str, Any]] = {}
    for (pkg, version, _, _), out in zip(entries, outcomes, strict=False):
        by_package.setdefault(pkg, {})[version] = out
    for name, doc, pw, begun in watched:
        try:
            if begun:
                if failed is not None:
                    raise failed
                pw.verified_provenance(by_package.get(name, {}), env, gh_run)  # the records are bound to it
                pw.check()
                drifts += pw.drift(tree_resolver(registry_url_of(registry), policy, workspace))
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
    for drift in drifts:  # ONE issue per release and dependency version, found again (not reopened) on later runs
        gate = next(r for r in results if r.name == drift.name)
        try:
            if issues is None:
                issues = github.issues()
            existing = find_issue(issues, drift, trusted)
            if existing is not None:
                drift.issue = f"#{existing.number} (already {existing.state or 'open'})"
            else:
                title = f"Dependency drift: {drift.dependency} runs install scripts in {drift.name}@{drift.version}"
                created = github.create_issue(title, drift_issue_body(drift, policy.notify.mention))
                issues.append(created)
                drift.issue = f"#{created.number} (opened)"
        except GatekeeperError as exc:
            gate.status, gate.error = "error", f"{drift.dependency}: {exc.what.rstrip('.')}. {exc.remedy}"
            drift.issue = "not opened (error)"
        said = f"{drift.name}@{drift.version}: {drift.dependency} now runs install scripts; issue {drift.issue}"
        sections.append(markdown.text(said))
        sections_text.append(terminal.safe(said))
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
