"""Notify: after a successful publish, the GitHub Release with the gate's record, mentions, a webhook.

The last step of the one-way flow (context -> gates -> decision -> report -> publish -> notify). It
never un-publishes: a failure here is reported as an error (`notified: false`, exit 2) while the
version stays published. `gatekeeper notify --report FILE` runs the same step after another tool
published (the semantic-release plugin).

The record is what `mode: watch` matches registry versions against. It is one line of the Release
body, an HTML comment GitHub does not render:

    <!-- npm-gatekeeper:record:v1 <base64url of canonical JSON> -->

Parsing is strict so a hostile body cannot forge one: the marker word must occur exactly once in
the whole body (a second copy anywhere makes the record invalid, not "the first one wins"), on a
line of its own, the JSON must have exactly the known keys with the right types, and its name and
version must give the Release's own tag. Every piece of text we put in a body that comes from a
package (file names, package.json values, finding messages) goes through `_internal/markdown.py`
and has the marker word broken, and text kept from an existing Release body has it broken too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from gatekeeper._internal import markdown
from gatekeeper._internal.webhook import post_event
from gatekeeper.errors import GatekeeperError
from gatekeeper.secret import Secret
from gatekeeper.trust.policy import NotifyPolicy

if TYPE_CHECKING:
    from gatekeeper._internal.github import GitHubClient, Release
    from gatekeeper._internal.registry import RegistryClient

RECORD_VERSION = 1
MARKER_WORD = "npm-gatekeeper:record"
_MARKER_ANY = re.compile(re.escape(MARKER_WORD), re.IGNORECASE)
_RECORD_LINE = re.compile(r"^<!-- npm-gatekeeper:record:v1 ([A-Za-z0-9_-]{16,8192}) -->$")
_INTEGRITY = re.compile(r"^sha512-[A-Za-z0-9+/]{86}==$")
_SHA = re.compile(r"^[0-9a-f]{40}$")
BEGIN, END = "<!-- npm-gatekeeper:begin -->", "<!-- npm-gatekeeper:end -->"
MAX_BODY = 120_000  # GitHub refuses Release bodies over 125000 characters
MAX_FILES = 100
APPROVER_KEYS = ("approved_by", "approver", "approvers", "reviewer", "reviewers", "by")


@dataclass(frozen=True)
class Record:
    """The machine-readable record of one gated release."""

    name: str
    version: str
    integrity: str
    commit: str
    run: str
    maintainers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["maintainers"] = list(self.maintainers)
        return {"v": RECORD_VERSION, **data}

    def line(self) -> str:
        raw = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return f"<!-- {MARKER_WORD}:v1 {base64.urlsafe_b64encode(raw.encode()).decode().rstrip('=')} -->"


_KEYS = {"v", "name", "version", "integrity", "commit", "run", "maintainers"}


def parse_record(body: str) -> tuple[Record | None, str]:
    """(record, "") or (None, why not) for one Release body."""
    count = len(_MARKER_ANY.findall(body))
    if count == 0:
        return None, "no record"
    if count > 1:
        return None, f"the marker occurs {count} times (a record must be unique)"
    line = next(ln.strip() for ln in body.splitlines() if _MARKER_ANY.search(ln))
    m = _RECORD_LINE.match(line)
    if not m:
        return None, "the record line is malformed"
    encoded = m.group(1)
    try:
        data = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        return None, "the record is not base64 JSON"
    if not isinstance(data, dict) or set(data) != _KEYS or data.get("v") != RECORD_VERSION:
        return None, "the record has unknown or missing keys"
    strs = ("name", "version", "integrity", "commit", "run")
    if not all(isinstance(data[k], str) for k in strs):
        return None, "the record has a field of the wrong type"
    people = data["maintainers"]
    if not isinstance(people, list) or not all(isinstance(p, str) for p in people):
        return None, "the record's maintainers are not a list of names"
    if not _INTEGRITY.match(data["integrity"]):
        return None, "the record's integrity is not a sha512 SRI string"
    if data["commit"] and not _SHA.match(data["commit"]):
        return None, "the record's commit is not a full sha"
    return Record(*(data[k] for k in strs), maintainers=tuple(people)), ""


def tag_for(fmt: str, name: str, version: str) -> str:
    return fmt.replace("{name}", name).replace("{version}", version)


def record_of(release: Release, fmt: str) -> tuple[Record | None, str]:
    """The record of a Release, valid only when its name/version give the Release's own tag."""
    if release.draft:
        return None, "a draft release"
    record, why = parse_record(release.body)
    if record is None:
        return None, why
    if tag_for(fmt, record.name, record.version) != release.tag:
        return None, f"the record names {record.name}@{record.version}, not the release's tag {release.tag}"
    return record, ""


def defuse(text: str) -> str:
    """Break the marker word in text we did not write ourselves."""
    return _MARKER_ANY.sub("npm-gatekeeper: record", text).replace("<!--", "&lt;!--")


# -- what gets sent -----------------------------------------------------------------------------------


@dataclass
class Published:
    """Everything notify needs about one published version (from the run, or a report file)."""

    name: str
    version: str
    integrity: str
    previous_version: str | None
    commit: str
    run_url: str
    delta: Mapping[str, Any] | None = None
    findings: Sequence[Mapping[str, Any]] = field(default_factory=list)
    #: `publish-with: stage`: the registry holds these bytes until a maintainer approves them (then it serves
    #: exactly them), so the record is written now — watch would otherwise take the approved version for a
    #: release that bypassed the gate.
    staged: bool = False


@dataclass
class NotifyResult:
    """What notify did; `ok` is False when anything configured failed."""

    release_url: str | None = None
    release_action: str = "not configured"  # created | updated | not configured | failed
    webhook: str = "not configured"  # sent | failed | not configured
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "release": self.release_action,
            "release_url": self.release_url,
            "webhook": self.webhook,
            "errors": list(self.errors),
        }


def approved(findings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Findings that record an approval (`approved-change`, `approved-by-review`, any `approved-*`)."""
    return [f for f in findings if str(f.get("rule", "")).startswith("approved-")]


def approvers(finding: Mapping[str, Any]) -> str:
    ev = finding.get("evidence")
    if not isinstance(ev, Mapping):
        return ""
    for key in APPROVER_KEYS:
        value = ev.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value:
            return ", ".join(str(v) for v in value)
    return ""


def release_section(rel: Published, mentions: Sequence[str], record: Record) -> str:
    """Our part of the Release body: summary, delta, approvals, mentions, then the record (last)."""
    name = markdown.code(f"{rel.name}@{rel.version}")
    done = "staged (public once a maintainer approves it)" if rel.staged else "published"
    lines = [f"### {name} {done} through npm-gatekeeper", ""]
    facts = [f"Tarball integrity: {markdown.code(rel.integrity)}"]
    if rel.commit:
        facts.append(f"commit {markdown.code(rel.commit)}")
    if rel.run_url:
        facts.append(f"[workflow run]({rel.run_url})")
    lines += ["; ".join(facts) + ".", ""]
    prev = markdown.code(f"{rel.name}@{rel.previous_version}") if rel.previous_version else "nothing (first release)"
    lines += [f"Compared with {prev}.", ""]
    delta = rel.delta or {}
    files = [f for f in delta.get("files") or [] if isinstance(f, Mapping)]
    summary = delta.get("summary") if isinstance(delta.get("summary"), Mapping) else {}
    if summary:
        lines += [
            f"Files: {summary.get('added', 0)} added, {summary.get('removed', 0)} removed, "
            f"{summary.get('changed', 0)} changed, {summary.get('mode', 0)} mode changed.",
            "",
        ]
    if files:
        lines += ["| Change | File |", "| --- | --- |"]
        for f in files[:MAX_FILES]:
            lines.append(f"| {markdown.text(str(f.get('status', '')))} | {markdown.code(str(f.get('path', '')))} |")
        if len(files) > MAX_FILES:
            lines.append(f"| | … and {len(files) - MAX_FILES} more |")
        lines.append("")
    fields = [c for c in delta.get("fields") or [] if isinstance(c, Mapping)]
    if fields:
        lines += ["| package.json field | Before | After |", "| --- | --- | --- |"]
        for c in fields[:MAX_FILES]:
            lines.append(
                f"| {markdown.code(str(c.get('field', '')))} | {markdown.text(_short(c.get('old')), 300)} "
                f"| {markdown.text(_short(c.get('new')), 300)} |"
            )
        lines.append("")
    ok = approved(rel.findings)
    if ok:
        lines += ["| Approved finding | What | Approved by |", "| --- | --- | --- |"]
        for f in ok:
            lines.append(
                f"| {markdown.code(str(f.get('rule', '')))} | {markdown.text(str(f.get('message', '')), 500)} "
                f"| {markdown.text(approvers(f) or 'the policy (exact approval)')} |"
            )
        lines.append("")
    if mentions:
        lines += ["cc " + " ".join(mentions), ""]
    body = defuse("\n".join(lines))
    if len(body) > MAX_BODY - 2000:
        body = body[: MAX_BODY - 2100] + "\n\n_(truncated: see the workflow run's JSON report)_\n"
    return BEGIN + "\n" + body + "\n" + END + "\n" + record.line() + "\n"


def _short(value: Any, limit: int = 160) -> str:
    if value is None:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def merge_body(existing: str, section: str) -> str:
    """Keep the text of an existing Release (semantic-release's notes), replace our section, record last."""
    kept = existing
    if BEGIN in kept:
        head, _, rest = kept.partition(BEGIN)
        _, found, tail = rest.partition(END)
        kept = head + (tail if found else "")
    kept = "\n".join(ln for ln in kept.splitlines() if not _MARKER_ANY.search(ln))
    kept = defuse(kept).strip()
    if len(kept) > MAX_BODY - len(section) - 10:
        kept = kept[: MAX_BODY - len(section) - 100] + "\n…"
    return (kept + "\n\n" if kept else "") + section


def event(rel: Published, result: NotifyResult, repository: str) -> dict[str, Any]:
    """The webhook's JSON event (one per release)."""
    counts = {"block": 0, "warn": 0, "info": 0}
    for f in rel.findings:
        sev = str(f.get("severity", ""))
        if sev in counts:
            counts[sev] += 1
    return {
        "event": "npm-gatekeeper.release",
        "name": rel.name,
        "version": rel.version,
        "integrity": rel.integrity,
        "previous_version": rel.previous_version,
        "repository": repository,
        "commit": rel.commit,
        "run_url": rel.run_url,
        "release_url": result.release_url,
        "staged": rel.staged,
        "findings": {
            **counts,
            "approved": [{"rule": f.get("rule"), "approved_by": approvers(f) or None} for f in approved(rel.findings)],
        },
    }


def _explain(exc: GatekeeperError) -> str:
    return exc.what.rstrip(".") + (". " + exc.remedy.rstrip(".") if exc.remedy else "")


def registry_check(registry: RegistryClient, rel: Published) -> tuple[str, ...]:
    """The maintainers now on the registry; raises when the registry's integrity is not the gated one."""
    doc = registry.packument(rel.name)
    meta = ((doc or {}).get("versions") or {}).get(rel.version)
    dist = meta.get("dist") if isinstance(meta, dict) else None
    got = dist.get("integrity") if isinstance(dist, dict) else None
    if rel.staged and meta is None:
        pass  # not public until approved; the stage endpoint took exactly the gated bytes
    elif got != rel.integrity:
        raise GatekeeperError(
            f"The registry's integrity of {rel.name}@{rel.version} is {got or 'missing'}, not the gated "
            f"tarball's {rel.integrity}",
            "Something other than the checked tarball was published: investigate before trusting this version",
        )
    people = (doc or {}).get("maintainers")
    names = [p.get("name") for p in people if isinstance(p, dict)] if isinstance(people, list) else []
    return tuple(sorted({n for n in names if isinstance(n, str) and n}))


def notify(
    rel: Published,
    policy: NotifyPolicy,
    *,
    github: GitHubClient | None,
    registry: RegistryClient,
    webhook: Secret | None,
    repository: str,
    deadline: Any = None,
) -> NotifyResult:
    """Write the Release (create or update) and send the webhook event; collect every failure."""
    result = NotifyResult()
    maintainers: tuple[str, ...] = ()
    try:
        maintainers = registry_check(registry, rel)
    except GatekeeperError as exc:
        result.errors.append(_explain(exc))
        return result  # never record an integrity the registry does not serve
    if policy.release:
        if github is None:
            result.release_action = "failed"
            result.errors.append("No GitHub token or repository to write the Release with (set `github-token`)")
        else:
            record = Record(rel.name, rel.version, rel.integrity, rel.commit, rel.run_url, maintainers)
            section = release_section(rel, policy.mention, record)
            tag = tag_for(policy.tag_format, rel.name, rel.version)
            title = f"{rel.name}@{rel.version}" if "{name}" in policy.tag_format else tag
            try:
                existing = github.release_by_tag(tag)
                if existing is None:
                    written = github.create_release(tag, rel.commit, title, section)
                    result.release_action = "created"
                else:
                    written = github.update_release(
                        existing.id, existing.name or title, merge_body(existing.body, section)
                    )
                    result.release_action = "updated"
                result.release_url = written.html_url
            except GatekeeperError as exc:
                result.release_action = "failed"
                result.errors.append(_explain(exc) + " (the Release needs `contents: write` for the job's token)")
    if webhook:
        try:
            post_event(webhook, event(rel, result, repository), deadline=deadline)
            result.webhook = "sent"
        except GatekeeperError as exc:
            result.webhook = "failed"
            result.errors.append(_explain(exc))
    return result


def run_url(env: Mapping[str, str]) -> str:
    """The workflow run's URL (with the attempt when it is a re-run)."""
    server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    repo, run = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
    if not repo or not run.isdigit():
        return ""
    attempt = env.get("GITHUB_RUN_ATTEMPT", "")
    tail = f"/attempts/{attempt}" if attempt.isdigit() and attempt != "1" else ""
    return f"{server}/{repo}/actions/runs/{run}{tail}"


# -- `gatekeeper notify --from-report FILE`: after another tool published (semantic-release) -----------

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
    if not _INTEGRITY.match(integrity):
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
        result.errors.append(_explain(exc))
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
    err.write(f"npm-gatekeeper: the notification for {label} failed: {text}. The version stays published.\n")
    return 2


def clients(
    inputs: Any, env: Mapping[str, str], policy: Any, gh_run: Any, deadline: Any = None
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
    )
    github = None
    if gh_run.repository and inputs.github_token:
        github = GitHubClient(
            gh_run.api_url, gh_run.repository, inputs.github_token, deadline=deadline, max_bytes=net.max_github_bytes
        )
    return registry, github
