"""Pull-request mode: fail the check when a PR changes what runs at install time.

Safe under `pull_request_target`: nothing of the head is checked out or run. Both sides are
read from git objects of the checked-out repository (`git ls-tree`, `git cat-file`), by the
SHAs in the event; a head commit that is missing is fetched by id (`git fetch --no-tags origin
<sha>`, hooks off). The policy comes from the BASE commit, so a PR cannot loosen its own gate.

Gates of this mode:
- `changes`: the PR's files per the GitHub API must all be changed per git objects too (fail closed).
- `manifests`: every package.json tracked outside node_modules (each workspace of a monorepo) is
  compared with the merge base by the release diff engine's manifest rules (same ids).
- `lockfiles`: npm lockfile entries with new install scripts or non-registry sources; other lockfiles.
- `policy`: the PR edits the policy file; the approval label was applied but does not count.

The report is the same as in the other modes (JSON, summary, annotations, outputs) plus ONE PR
comment updated in place.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from . import diffing, report
from ._internal import actions, pr_comment
from ._internal.github import GitHubClient
from ._internal.proc import child_env
from ._internal.registry import RegistryClient
from ._internal.tarball import FileEntry, Package, parse_manifest
from .config import INPUT_DEFAULTS, Inputs
from .context import Context, GitHubRun
from .decision import GateResult, apply_overrides, decide, gate_status
from .errors import ConfigError, GatekeeperError, GitHubError, PolicyError
from .findings import Finding, Severity
from .lockfile import LockfileApprovals, LockfileError, is_lockfile, review_lockfile
from .pipeline import REPORT_PATH, error_outcome, mask_secrets, redact, run_gate
from .policy import Policy, parse_policy
from .rules import rule

POLICY_CHANGED = rule(
    "policy-changed",
    Severity.WARN,
    "The pull request edits the npm-gatekeeper policy file",
    "Review the policy change like code: it takes effect only after merge (this run used the base branch's "
    "policy). Keep policy edits in pull requests of their own.",
)
MANIFEST_UNREADABLE = rule(
    "manifest-unreadable",
    Severity.BLOCK,
    "A package.json or lockfile in the pull request cannot be read",
    "Make the file valid UTF-8 JSON (a JSON object) and a regular file, not a symlink or submodule.",
)
APPROVAL_LABEL_IGNORED = rule(
    "approval-label-ignored",
    Severity.WARN,
    "The approval label is on the pull request but approves nothing",
    "A user with write, maintain or admin permission must apply the label after the last push (remove it and "
    "apply it again): the label approves the head commit it was applied to.",
)

#: Release-diff rules that apply to a repository's package.json files. The others (version,
#: large-change, entrypoints, file contents) judge a release tarball, not a pull request.
MANIFEST_RULES = frozenset(
    {
        "lifecycle-script-added",
        "lifecycle-script-changed",
        "lifecycle-script-removed",
        "install-script-code-changed",
        "native-build-added",
        "dependency-added",
        "dependency-source-changed",
        "bundled-dependencies-changed",
        "bin-changed",
        "approved-change",
    }
)
PR_EVENTS = ("pull_request", "pull_request_target")
#: Gates whose blocking findings the approval label can approve.
LABEL_GATES = ("manifests", "lockfiles")
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
#: Files read into memory for the install-code rules; others are compared by object id only.
_CODE_SUFFIXES = (*diffing.JS_EXTENSIONS, ".ts", ".json", ".sh", ".gyp")
MAX_BLOB_BYTES = 64 * 1024 * 1024
MAX_CROSS_CHECK_SHOWN = 10


# ------------------------------------------------------------------------------------ the event


@dataclass(frozen=True)
class PullRequestEvent:
    """What the event payload says about the pull request."""

    number: int
    base_sha: str
    head_sha: str
    base_ref: str
    action: str
    #: The label this event applied (`labeled` events), else "".
    label: str

    @classmethod
    def from_run(cls, run: GitHubRun) -> PullRequestEvent:
        if run.event_name not in PR_EVENTS:
            raise ConfigError(
                f"`mode: pull-request` ran on a `{run.event_name or 'unknown'}` event",
                "Trigger the workflow on pull_request or pull_request_target",
            )
        pr = run.event.get("pull_request")
        if not isinstance(pr, dict):
            raise ConfigError("The event payload has no `pull_request` object", "Run on a pull_request event")
        number = pr.get("number", run.event.get("number"))
        base, head = pr.get("base"), pr.get("head")
        base_sha = base.get("sha") if isinstance(base, dict) else None
        head_sha = head.get("sha") if isinstance(head, dict) else None
        for what, sha in (("base", base_sha), ("head", head_sha)):
            if not isinstance(sha, str) or not _SHA.match(sha):
                raise ConfigError(f"The event's `pull_request.{what}.sha` is {sha!r}, not a commit id")
        if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
            raise ConfigError(f"The event's pull request number is {number!r}")
        label, action = run.event.get("label"), str(run.event.get("action", ""))
        return cls(
            number=number,
            base_sha=str(base_sha),
            head_sha=str(head_sha),
            base_ref=str(base.get("ref", "")) if isinstance(base, dict) else "",
            action=action,
            label=str(label.get("name", "")) if isinstance(label, dict) and action == "labeled" else "",
        )


# ------------------------------------------------------------------------------------ git objects


@dataclass(frozen=True)
class TreeEntry:
    """One path of a commit's tree (`git ls-tree -r -l`)."""

    mode: str
    kind: str  # blob | commit (submodule)
    oid: str
    size: int | None


class GitObjects:
    """Read-only access to commits of the checked-out repository, by object id (never a checkout)."""

    def __init__(self, workspace: Path, env: Mapping[str, str] | None = None) -> None:
        self.workspace = workspace
        self._env = env or {}
        self._trees: dict[str, dict[str, TreeEntry]] = {}

    def _argv(self, *args: str) -> list[str]:
        ws = str(self.workspace)
        return [
            "git",
            "-c",
            f"safe.directory={ws}",
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-C",
            ws,
            *args,
        ]

    def _run(
        self, *args: str, input: bytes | None = None, extra_env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> bytes:
        env = child_env({"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", **(extra_env or {})})
        try:
            proc = subprocess.run(
                self._argv(*args), input=input, capture_output=True, timeout=timeout, check=False, env=env
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GatekeeperError(f"git {args[0]} failed in {self.workspace} ({exc})") from exc
        if proc.returncode != 0:
            last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise GatekeeperError(
                f"git {args[0]} failed in {self.workspace}: {last[0]}",
                "Check out the repository (actions/checkout) before this step",
            )
        return proc.stdout

    def has_commit(self, sha: str) -> bool:
        try:
            self._run("cat-file", "-e", f"{sha}^{{commit}}")
        except GatekeeperError:
            return False
        return True

    def ensure_commits(self, shas: Iterable[str], token: str | None) -> None:
        """Fetch the commits that are missing (objects only: nothing is checked out, no tags, no hooks)."""
        missing = [s for s in dict.fromkeys(shas) if not self.has_commit(s)]
        if not missing:
            return
        args = ("fetch", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head", "--quiet", "origin")
        try:
            self._run(*args, *missing, timeout=600)
        except GatekeeperError as plain:
            server = self._env.get("GITHUB_SERVER_URL", "").rstrip("/")
            if not token or not server.startswith("https://"):
                raise self._fetch_error(missing, plain) from None
            auth = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            header = {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": f"http.{server}/.extraheader",
                "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {auth}",
            }
            try:
                self._run(*args, *missing, extra_env=header, timeout=600)
            except GatekeeperError as authed:
                raise self._fetch_error(missing, authed) from None
        still = [s for s in missing if not self.has_commit(s)]
        if still:
            raise GatekeeperError(f"git fetch did not bring commit {still[0]}", "Check out the repository first")

    @staticmethod
    def _fetch_error(missing: list[str], exc: GatekeeperError) -> GatekeeperError:
        return GatekeeperError(
            f"Commit {missing[0][:12]} of the pull request is not in the checked-out repository and fetching it "
            f"failed ({exc.what})",
            "Check out the repository with actions/checkout (fetch-depth: 0) before this step",
        )

    def merge_base(self, a: str, b: str) -> str:
        try:
            out = self._run("merge-base", a, b).decode().strip()
        except GatekeeperError as exc:
            raise GatekeeperError(
                f"No merge base of {a[:12]} and {b[:12]} ({exc.what})",
                "Check out with `fetch-depth: 0` so the history of both commits is available",
            ) from None
        if not _SHA.match(out):
            raise GatekeeperError(f"git merge-base answered {out!r}")
        return out

    def tree(self, sha: str) -> dict[str, TreeEntry]:
        """Every path of the commit's tree, recursively (cached)."""
        if sha not in self._trees:
            self._trees[sha] = self._ls_tree("-r", sha)
        return self._trees[sha]

    def entry(self, sha: str, path: str) -> TreeEntry | None:
        """One path of the commit's tree, or None."""
        return self._ls_tree(sha, "--", path).get(path)

    def _ls_tree(self, *args: str) -> dict[str, TreeEntry]:
        tree: dict[str, TreeEntry] = {}
        for record in self._run("ls-tree", "-l", "-z", "--full-tree", *args).split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, oid, size = meta.decode().split()
            tree[raw_path.decode("utf-8", "surrogateescape")] = TreeEntry(
                mode, kind, oid, int(size) if size.isdigit() else None
            )
        return tree

    def changed(self, a: str, b: str) -> dict[str, str]:
        """Paths that differ between two commits -> A | D | M | T (renames listed as D + A)."""
        out = self._run("diff-tree", "-r", "-z", "--no-renames", "--no-ext-diff", "--name-status", a, b)
        parts = out.split(b"\0")
        changes: dict[str, str] = {}
        for i in range(0, len(parts) - 1, 2):
            status = parts[i].decode()
            if status:
                changes[parts[i + 1].decode("utf-8", "surrogateescape")] = status[0]
        return changes

    def blobs(self, oids: Iterable[str]) -> dict[str, bytes]:
        """The contents of blobs, by object id, in one `git cat-file --batch`."""
        wanted = list(dict.fromkeys(oids))
        if not wanted:
            return {}
        out = self._run("cat-file", "--batch", input="".join(f"{o}\n" for o in wanted).encode())
        result: dict[str, bytes] = {}
        pos = 0
        for oid in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode().split()
            if len(header) != 3 or header[0] != oid:
                raise GatekeeperError(f"git cat-file could not read object {oid} ({' '.join(header)})")
            size = int(header[2])
            result[oid] = out[end + 1 : end + 1 + size]
            pos = end + 1 + size + 1
        return result


# ------------------------------------------------------------------------------------ the check


@dataclass
class PullRequestCheck:
    """Everything the gates of one pull request read: both trees, what changed, the base policy."""

    pr: PullRequestEvent
    git: GitObjects
    merge_base: str
    policy: Policy
    policy_path: str
    registry: str
    changed: dict[str, str]
    pull: Any = None  # the PyGithub PullRequest (API view)

    @property
    def old(self) -> dict[str, TreeEntry]:
        return self.git.tree(self.merge_base)

    @property
    def new(self) -> dict[str, TreeEntry]:
        return self.git.tree(self.pr.head_sha)


def load_base_policy(git: GitObjects, base_sha: str, path: str, required: bool) -> Policy:
    """The policy file as it is in the BASE commit (the head's copy is never read)."""
    rel = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    entry = git.entry(base_sha, rel) if rel and not rel.startswith("../") else None
    source = f"{rel} at base {base_sha[:12]}"
    if entry is None:
        if required:
            raise PolicyError(f"The policy file {source} does not exist", "Create it or fix the `policy` input")
        policy = Policy()
        policy.source = f"(defaults: no {rel} at base {base_sha[:12]})"
        return policy
    if entry.kind != "blob" or entry.mode == "120000":
        raise GatekeeperError(f"The policy {source} is not a regular file", "Commit the policy as a plain YAML file")
    return parse_policy(git.blobs([entry.oid])[entry.oid], source=source)


def check_changes(check: PullRequestCheck) -> list[Finding]:
    """Cross-check: every file the API says the PR changes must differ in git objects too (fail closed)."""
    pull = check.pull
    head = pull.head.sha
    if head != check.pr.head_sha:
        raise GitHubError(
            f"The pull request's head is now {head[:12]}, not {check.pr.head_sha[:12]} as in this event",
            "A newer push triggers a newer run; re-run that one",
        )
    api: set[str] = set()
    for f in pull.get_files():
        api.add(f.filename)
        if f.previous_filename:
            api.add(f.previous_filename)
    missing = sorted(api - check.changed.keys())
    if missing:
        shown = ", ".join(f"`{p}`" for p in missing[:MAX_CROSS_CHECK_SHOWN])
        more = f" and {len(missing) - MAX_CROSS_CHECK_SHOWN} more" if len(missing) > MAX_CROSS_CHECK_SHOWN else ""
        raise GatekeeperError(
            f"GitHub lists {len(missing)} changed file(s) that the git objects of {check.merge_base[:12]}.."
            f"{check.pr.head_sha[:12]} do not change: {shown}{more}",
            "The checked-out repository does not match the pull request; check out the repository with "
            "actions/checkout and re-run",
        )
    return []


def workspaces(tree: Mapping[str, TreeEntry]) -> list[str]:
    """Folders holding a package.json tracked outside node_modules ("" for the repository root)."""
    dirs = []
    for path in tree:
        if posixpath.basename(path) == "package.json" and "node_modules" not in path.split("/"):
            dirs.append(posixpath.dirname(path))
    return sorted(dirs)


def owners(tree: Mapping[str, TreeEntry]) -> dict[str, str]:
    """Path -> the innermost workspace folder holding it (paths in node_modules or no workspace: absent)."""
    dirs = set(workspaces(tree))
    out: dict[str, str] = {}
    for path in tree:
        if "node_modules" in path.split("/"):
            continue
        folder = posixpath.dirname(path)
        while folder not in dirs and folder:
            folder = posixpath.dirname(folder)
        if folder in dirs:
            out[path] = folder
    return out


def _rel(path: str, folder: str) -> str:
    return path[len(folder) + 1 :] if folder else path


def _join(folder: str, rel: str) -> str:
    return f"{folder}/{rel}" if folder else rel


def _needs_content(rel: str) -> bool:
    base = posixpath.basename(rel)
    return base.endswith(_CODE_SUFFIXES) or "." not in base or base == "binding.gyp"


def _read_package(
    git: GitObjects, tree: Mapping[str, TreeEntry], folder: str, owned: list[str], label: str, limit: int
) -> tuple[Package | None, str | None]:
    """A workspace as a `Package` for the diff engine (code files with content, others by object id).

    Returns (None, None) when there is no package.json, (None, problem) when it cannot be read."""
    manifest_path = _join(folder, "package.json")
    entry = tree.get(manifest_path)
    if entry is None:
        return None, None
    if entry.kind != "blob" or entry.mode == "120000":
        return None, "is a symlink or submodule, not a regular file"
    code = [
        tree[p]
        for p in owned
        if tree[p].kind == "blob" and _needs_content(_rel(p, folder)) and (tree[p].size or 0) <= MAX_BLOB_BYTES
    ]
    total = sum(e.size or 0 for e in code)
    if total > limit:
        raise GatekeeperError(
            f"{label}: the workspace holds {total} bytes of code files, over diff.limits.max-unpacked-bytes ({limit})",
            "Raise `diff.limits.max-unpacked-bytes` in the base branch's policy for a known large repository",
        )
    data = git.blobs(e.oid for e in code)
    files: dict[str, FileEntry] = {}
    for p in owned:
        e = tree[p]
        if e.kind != "blob" or e.mode == "120000":
            continue
        content = data.get(e.oid)
        # Files not read are compared by object id: a change is still seen, its content is not scanned.
        body = content if content is not None else f"git-blob:{e.oid}".encode()
        files[_rel(p, folder)] = FileEntry(_rel(p, folder), body, int(e.mode, 8) & 0o777)
    pkg = Package(files=files, label=label)
    parse_manifest(pkg)  # as the safe tarball reader parses it (BOM, UTF-8, a JSON object)
    return (None, f"cannot be read: {pkg.manifest_error}") if pkg.manifest_error else (pkg, None)


def check_manifests(check: PullRequestCheck) -> list[Finding]:
    """Every workspace whose files changed: its package.json rules, as in the release diff."""
    old_tree, new_tree = check.old, check.new
    new_owner, old_owner = owners(new_tree), owners(old_tree)
    touched = sorted({new_owner.get(p, old_owner.get(p)) for p in check.changed} - {None})
    findings: list[Finding] = []
    for folder in touched:
        manifest_path = _join(folder, "package.json")
        if manifest_path not in new_tree:
            continue  # the workspace is gone: nothing of it runs at install time any more
        new_owned = [p for p, d in new_owner.items() if d == folder]
        old_owned = [p for p, d in old_owner.items() if d == folder]
        limit = check.policy.diff.limits.max_unpacked_bytes
        head_pkg, problem = _read_package(check.git, new_tree, folder, new_owned, f"{manifest_path} (head)", limit)
        if head_pkg is None:
            findings.append(
                MANIFEST_UNREADABLE(f"`{manifest_path}` at the head {problem}.", file=manifest_path, line=1)
            )
            continue
        base_pkg, _ = _read_package(check.git, old_tree, folder, old_owned, f"{manifest_path} (base)", limit)
        result = diffing.diff_packages(base_pkg, head_pkg, check.policy)
        same_version = base_pkg is not None and base_pkg.version == head_pkg.version
        for f in result.findings:
            if f.rule not in MANIFEST_RULES:
                continue
            if f.rule == "dependency-added" and same_version and f.severity is Severity.BLOCK:
                # No version bump in this PR: not a patch release adding a dependency (the release diff
                # judges that at publish time); new install-time code still blocks through the lockfile.
                f = replace(f, severity=Severity.WARN)
            where = _join(folder, f.file) if f.file else manifest_path
            findings.append(replace(f, message=f"{manifest_path}: {f.message}", file=where))
    return findings


def check_lockfiles(check: PullRequestCheck) -> list[Finding]:
    """Every lockfile the PR adds, changes or deletes (outside node_modules)."""
    approvals = LockfileApprovals(
        install_scripts=frozenset(check.policy.pull_request.install_scripts),
        sources=dict(check.policy.pull_request.lockfile_sources),
    )
    old_tree, new_tree = check.old, check.new
    paths = sorted(p for p in check.changed if is_lockfile(p) and "node_modules" not in p.split("/"))
    findings: list[Finding] = []
    for path in paths:
        old, new = old_tree.get(path), new_tree.get(path)
        if new is not None and (new.kind != "blob" or new.mode == "120000"):
            findings.append(MANIFEST_UNREADABLE(f"`{path}` is a symlink or submodule, not a file.", file=path))
            continue
        oids = [e.oid for e in (old, new) if e is not None and e.kind == "blob"]
        data = check.git.blobs(oids)
        try:
            findings += review_lockfile(
                path,
                data.get(old.oid) if old is not None else None,
                data.get(new.oid) if new is not None else None,
                registry_url=check.registry,
                approvals=approvals,
            )
        except LockfileError as exc:
            findings.append(MANIFEST_UNREADABLE(f"`{path}` at the head cannot be read: {exc}.", file=path, line=1))
    return findings


def check_policy_file(check: PullRequestCheck) -> list[Finding]:
    """`policy-changed` when the PR edits the policy file (the base's copy was used)."""
    status = check.changed.get(check.policy_path)
    if status is None:
        return []
    verb = {"A": "adds", "D": "deletes"}.get(status, "edits")
    return [
        POLICY_CHANGED(
            f"This pull request {verb} the policy `{check.policy_path}`. This run used the base commit's policy "
            f"({check.policy.source}); the change applies only after merge.",
            file=check.policy_path,
            line=1 if status != "D" else None,
        )
    ]


# ------------------------------------------------------------------------------------ label approval


@dataclass(frozen=True)
class LabelApproval:
    """Whether the approval label approves this head, and why (or why not)."""

    label: str
    approved: bool
    reason: str
    actor: str = ""
    permission: str = ""


def label_approval(client: GitHubClient, check: PullRequestCheck) -> LabelApproval | None:
    """The label's verdict; None when no label is configured or it is not on the PR."""
    label = check.policy.pull_request.approval_label
    if not label:
        return None
    pull = check.pull
    current = client.call("reading the pull request's labels", lambda: [lb.name for lb in pull.labels])
    if label not in current:
        return None

    def last_labeled() -> Any:
        last = None
        for ev in pull.get_issue_events():
            if ev.event == "labeled" and ev.label is not None and ev.label.name == label:
                last = ev
        return last

    event = client.call(f"listing the events of #{check.pr.number}", last_labeled)
    if event is None or event.actor is None:
        return LabelApproval(label, False, f"no `labeled` event for `{label}` was found")
    actor = str(event.actor.login)
    permission = client.call(
        f"reading the permission of {actor}", lambda: str(client.repo.get_collaborator_permission(actor))
    )
    if permission not in WRITE_PERMISSIONS:
        return LabelApproval(
            label, False, f"it was applied by @{actor}, whose permission is `{permission}`", actor, permission
        )
    if check.pr.action != "labeled" or check.pr.label != label:
        return LabelApproval(
            label,
            False,
            f"it was applied by @{actor} before this run's `{check.pr.action}` event: a label approves the head "
            f"it was applied to, not commits pushed after it",
            actor,
            permission,
        )
    return LabelApproval(label, True, f"applied by @{actor} ({permission})", actor, permission)


def apply_label(results: list[GateResult], approval: LabelApproval | None, gates: Iterable[str]) -> list[Finding]:
    """Turn blocking findings of `gates` into warnings when the label approves; the label findings."""
    if approval is None:
        return []
    if not approval.approved:
        return [
            APPROVAL_LABEL_IGNORED(
                f"The label `{approval.label}` is on the pull request but approves nothing: {approval.reason}.",
                label=approval.label,
                actor=approval.actor,
                permission=approval.permission,
            )
        ]
    note = f" Approved by the label `{approval.label}`, {approval.reason}."
    evidence = {"approved_by": "label", "label": approval.label, "actor": approval.actor}
    for r in results:
        if r.name not in gates or r.status == "error":
            continue
        r.findings = [
            replace(f, severity=Severity.WARN, message=f.message + note, evidence={**f.evidence, **evidence})
            if f.blocks
            else f
            for f in r.findings
        ]
        r.status = gate_status(r.findings)
    return []


# ------------------------------------------------------------------------------------ the run


@dataclass
class PullRequestOutcome:
    """The outcome plus what the PR comment and the JSON report say about the pull request."""

    outcome: report.Outcome
    info: dict[str, object] = field(default_factory=dict)


def run_pull_request(
    inputs: Inputs,
    env: Mapping[str, str],
    *,
    report_path: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
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
        result = PullRequestOutcome(error_outcome(inputs.mode, exc.diagnostic()))
    except Exception as exc:  # fail closed on anything unexpected
        detail = redact(inputs, f"{type(exc).__name__}: {exc}")
        result = PullRequestOutcome(error_outcome(inputs.mode, f"Internal error ({detail}). Please report this."))
        err.write(redact(inputs, traceback.format_exc()))
    if pr is not None:
        result.info.setdefault("number", pr.number)
        result.info.setdefault("base_sha", pr.base_sha)
        result.info.setdefault("head_sha", pr.head_sha)
    _report(result, inputs, env, workspace, report_path, client, out, err)
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
    results = [run_gate(name, lambda _ctx, fn=fn: fn(check), ctx) for name, fn in gates]  # type: ignore[misc]
    policy_gate = results[-1]
    approval: LabelApproval | None = None
    if any(f.blocks for r in results if r.name in LABEL_GATES for f in r.findings):
        try:
            approval = label_approval(client, check)
        except GatekeeperError as exc:
            policy_gate.status, policy_gate.error = "error", exc.diagnostic()
    extra = apply_overrides(apply_label(results, approval, LABEL_GATES), policy)
    if extra and policy_gate.status != "error":
        policy_gate.findings += extra
        policy_gate.status = gate_status(policy_gate.findings)
    decision = decide(results)
    outcome = report.Outcome(mode=inputs.mode, decision=decision, gates=results)
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


def headline(outcome: report.Outcome, number: int | None) -> str:
    """The first line of the summary and the PR comment."""
    what = f"pull request #{number}" if number else "the pull request"
    d = outcome.decision
    if d.allow:
        return f"## ✅ npm-gatekeeper: {what} changes nothing that runs at install time without approval"
    if d.exit_code == 2:
        return f"## ⚠️ npm-gatekeeper: could not check {what}"
    return f"## 🛑 npm-gatekeeper: {what} changes what runs at install time"


def to_markdown(result: PullRequestOutcome) -> str:
    """The shared summary (report.to_markdown) under this mode's headline, then the commits compared."""
    body = report.to_markdown(result.outcome).split("\n", 1)[1]
    info = result.info
    number = info.get("number")
    lines = [headline(result.outcome, number if isinstance(number, int) else None), body.rstrip("\n"), ""]
    if info.get("merge_base"):
        lines += [
            f"Compared `{str(info['merge_base'])[:12]}` (merge base) with `{str(info['head_sha'])[:12]}` (head) "
            f"from git objects; policy: {info.get('policy')}.",
            "",
        ]
    return "\n".join(lines)


def _report(
    result: PullRequestOutcome,
    inputs: Inputs,
    env: Mapping[str, str],
    workspace: Path,
    report_path: Path | None,
    client: GitHubClient | None,
    out: TextIO,
    err: TextIO,
) -> None:
    outcome = result.outcome
    in_actions = env.get("GITHUB_ACTIONS") == "true"
    path = report_path if report_path is not None else (workspace / REPORT_PATH if in_actions else None)
    markdown = to_markdown(result)
    number = result.info.get("number")
    if client is not None and isinstance(number, int):
        try:
            done = pr_comment.upsert_comment(client, number, markdown)
            result.info["comment"] = {"action": done.action, "id": done.id}
        except GatekeeperError as exc:
            # The verdict stands without the comment (a fork's read-only token cannot comment).
            message = f"Could not write the pull-request comment: {exc.diagnostic()}"
            if in_actions:
                actions.command("warning", message, {"title": "npm-gatekeeper"}, out=out)
            err.write("npm-gatekeeper: " + message + "\n")
    shown = ""
    if path is not None:
        data = report.to_json(outcome)
        data["pull_request"] = result.info
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        shown = str(path.relative_to(workspace)) if path.is_relative_to(workspace) else str(path)
    if in_actions:
        report.annotate(outcome, out=out)
        actions.append_summary(markdown, env)
        actions.set_outputs(report.outputs(outcome, shown), env)
    if outcome.error:
        err.write("npm-gatekeeper: " + outcome.error + "\n")
    out.write(markdown)
    out.flush()
