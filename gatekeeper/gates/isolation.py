"""Gate `isolation` — the publish credential lives where only the gate runs (issue 21, a safety floor).

In publish mode the gate reads the workflow that runs it (GITHUB_WORKFLOW_REF at GITHUB_WORKFLOW_SHA: from
the checkout's git objects, else the contents API at that commit) and the job it runs in (GITHUB_JOB), and
blocks, naming file and line, when that job runs anything but `actions/checkout` (pinned by full SHA,
`persist-credentials: false`), `actions/download-artifact` (pinned) and the gate (pinned, or a local path);
restores a cache; can be started by `pull_request_target`, `workflow_run` or `issue_comment`; when the
workflow passes the npm token to anything but the gate's `npm-token` input; and when the job holds
`id-token: write` while the gate publishes with a token. A workflow or job that cannot be read blocks too.

`mode: check` (and the check job of a reviewed release) holds no credential: the gate is skipped there, so
that job may build. `analyze()` is pure (text in, findings out): the tests run it over `examples/`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatekeeper.findings import Finding
from gatekeeper.gates import Skip
from gatekeeper.rules.isolation import (
    PUBLISH_JOB_CACHE,
    PUBLISH_JOB_ID_TOKEN,
    PUBLISH_JOB_NOT_ISOLATED,
    PUBLISH_JOB_TRIGGER,
    PUBLISH_JOB_UNREADABLE,
    PUBLISH_STEP_UNPINNED,
    PUBLISH_TOKEN_EXPOSED,
)

if TYPE_CHECKING:
    from gatekeeper.context import Context

NAME = "isolation"

#: A workflow file larger than this is not read (fail closed: the job cannot be verified).
MAX_WORKFLOW_BYTES = 1024 * 1024
#: Nodes walked in one workflow (aliases are walked once): a bound against hostile YAML.
MAX_NODES = 200_000
#: Deepest `[`/`{` nesting read (a workflow needs a handful; PyYAML's scanner slows quadratically with it).
MAX_FLOW_DEPTH = 64
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
FORBIDDEN_EVENTS = ("pull_request_target", "workflow_run", "issue_comment")
#: `secrets.NAME` / `secrets['NAME']` inside an expression.
SECRET_REF = re.compile(r"\bsecrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_-]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])", re.IGNORECASE)
ALL_SECRETS = re.compile(r"\btojson\s*\(\s*secrets\s*\)", re.IGNORECASE)
TOKEN_ENV = frozenset({"NODE_AUTH_TOKEN", "NPM_TOKEN"})
#: Secret names that hold the npm token even when the gate is not given one (OIDC): plus the gate's own.
TOKEN_SECRETS = frozenset({"NPM_TOKEN", "NODE_AUTH_TOKEN"})
GATE_REPO = "npm-gatekeeper"
SETUP_ACTION = re.compile(r"^actions/setup-[a-z0-9-]+$")


@dataclass(frozen=True)
class Uses:
    """A step's `uses:`: `owner/repo[/path]@ref`, a local `./path`, or `docker://...`."""

    raw: str
    repo: str  # owner/repo, lower-case ("" for local and docker)
    path: str
    ref: str
    local: bool
    docker: bool

    @classmethod
    def parse(cls, raw: str) -> Uses:
        raw = raw.strip()
        if raw.startswith("docker://"):
            return cls(raw, "", "", "", False, True)
        if raw.startswith("./") or raw == ".":
            return cls(raw, "", raw, "", True, False)
        spec, _, ref = raw.partition("@")
        parts = spec.split("/")
        repo = "/".join(parts[:2]).lower()
        return cls(raw, repo, "/".join(parts[2:]), ref, False, False)

    @property
    def pinned(self) -> bool:
        return bool(FULL_SHA.match(self.ref))

    @property
    def is_gate(self) -> bool:
        if self.local:
            path = self.raw.rstrip("/")
            return path in (".", "./.") or path.rsplit("/", 1)[-1].lower() == GATE_REPO
        return not self.docker and self.repo.split("/")[-1] == GATE_REPO and not self.path


def check(ctx: Context) -> list[Finding]:
    """Findings about the job this gate runs in (publish mode only)."""
    if ctx.inputs.mode != "publish":
        raise Skip("check mode holds no credential: this job may build (the publish job is checked)")
    if not ctx.run.in_actions:
        raise Skip("not running in GitHub Actions")  # the branch gate blocks (not-in-ci)
    rel = ctx.run.workflow_path
    if rel is None:
        return [
            PUBLISH_JOB_UNREADABLE(
                f"GITHUB_WORKFLOW_REF (`{ctx.run.workflow_ref or 'unset'}`) does not name a workflow file of "
                f"{ctx.run.repository}."
            )
        ]
    sha = ctx.env.get("GITHUB_WORKFLOW_SHA", "").strip().lower()
    if not FULL_SHA.match(sha):
        return [PUBLISH_JOB_UNREADABLE("GITHUB_WORKFLOW_SHA is not set to a commit: the workflow cannot be read.")]
    if not ctx.run.job:
        return [PUBLISH_JOB_UNREADABLE("GITHUB_JOB is not set: the job that runs the gate is unknown.", file=rel)]
    data, problem = _read(ctx, rel, sha)
    if data is None:
        return [PUBLISH_JOB_UNREADABLE(f"`{rel}` at {sha[:12]}: {problem}.", file=rel)]
    from gatekeeper.trust import trusted_publishing

    oidc = trusted_publishing.choose(ctx).kind == "oidc"
    return analyze(data, rel, ctx.run.job, oidc=oidc, provenance_always=ctx.policy.credential.provenance == "always")


def _read(ctx: Context, rel: str, sha: str) -> tuple[bytes | None, str]:
    """The workflow's bytes at `sha`: the checkout's git objects first, else the contents API."""
    from gatekeeper._internal import git
    from gatekeeper.errors import GatekeeperError

    if git.is_repo(ctx.workspace):
        try:
            data = git.file_at(ctx.workspace, sha, rel, MAX_WORKFLOW_BYTES)
        except GatekeeperError:
            return None, f"larger than {MAX_WORKFLOW_BYTES} bytes"
        if data is not None:
            return data, ""
    if ctx.github is None:
        return None, "not in the checkout's git objects, and no GitHub token to read it through the API"
    data = ctx.github.file_at(rel, sha, MAX_WORKFLOW_BYTES)
    if data is None:
        return None, "not in the checkout's git objects, and the contents API has no such file at that commit"
    return data, ""


# -- the analysis (pure) -----------------------------------------------------------------------------------


def analyze(data: bytes | str, rel: str, job_id: str, *, oidc: bool, provenance_always: bool = False) -> list[Finding]:
    """Findings about job `job_id` of workflow `rel` (its text), as the publishing job."""
    import yaml

    if isinstance(data, bytes):
        if len(data) > MAX_WORKFLOW_BYTES:
            return [PUBLISH_JOB_UNREADABLE(f"`{rel}` is larger than {MAX_WORKFLOW_BYTES} bytes.", file=rel)]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return [PUBLISH_JOB_UNREADABLE(f"`{rel}` is not UTF-8 text.", file=rel)]
    else:
        text = data
    if _flow_depth(text) > MAX_FLOW_DEPTH:  # PyYAML's scanner is quadratic in flow nesting: refuse, don't hang
        return [PUBLISH_JOB_UNREADABLE(f"`{rel}` nests `[`/`{{` deeper than {MAX_FLOW_DEPTH}.", file=rel)]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        return [PUBLISH_JOB_UNREADABLE(f"`{rel}` nests too deeply to be read.", file=rel)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return [PUBLISH_JOB_UNREADABLE(f"`{rel}` is not valid YAML ({type(exc).__name__}).", file=rel, line=line)]
    top = _mapping(root)
    if root is None or not isinstance(root, yaml.MappingNode):
        return [PUBLISH_JOB_UNREADABLE(f"`{rel}` is not a workflow (not a mapping).", file=rel)]
    if _count(root) > MAX_NODES:
        return [PUBLISH_JOB_UNREADABLE(f"`{rel}` has more than {MAX_NODES} YAML nodes.", file=rel)]
    jobs = _mapping(top.get("jobs"))
    job_node = jobs.get(job_id)
    if job_node is None or not isinstance(job_node, yaml.MappingNode):
        known = ", ".join(f"`{j}`" for j in jobs) or "none"
        return [
            PUBLISH_JOB_UNREADABLE(
                f"`{rel}` has no job `{job_id}` (GITHUB_JOB); its jobs: {known}. The gate must run as a step of a "
                "job of this workflow file, not inside a reusable workflow.",
                file=rel,
            )
        ]
    job = _mapping(job_node)
    where = f"`{rel}` job `{job_id}`"
    out: list[Finding] = []
    out += _triggers(top, rel)
    for key, what in (
        ("uses", "calls a reusable workflow, whose steps the gate cannot see"),
        ("services", "starts service containers"),
        ("container", "runs its steps in a container image"),
    ):
        keys = [k for k, _ in job_node.value if isinstance(k, yaml.ScalarNode) and k.value == key]
        if keys:
            line = _line(keys[0])
            out.append(PUBLISH_JOB_NOT_ISOLATED(f"{where} line {line}: `{key}:` {what}.", file=rel, line=line))
    out += _id_token(top, job, where, rel, oidc=oidc, provenance_always=provenance_always)

    steps = job.get("steps")
    gate_token_nodes: set[int] = set()
    token_names = set(TOKEN_SECRETS)
    step_nodes = steps.value if isinstance(steps, yaml.SequenceNode) else []
    if job.get("uses") is None and not step_nodes:
        out.append(PUBLISH_JOB_UNREADABLE(f"{where} has no steps.", file=rel, line=_line(job_node)))
    # the gate's own `npm-token` input, in this job and in any other publishing job of the workflow
    every_step: list[Any] = []
    for other in jobs.values():
        other_steps = _mapping(other).get("steps")
        if isinstance(other_steps, yaml.SequenceNode):
            every_step.extend(other_steps.value)
    for step_node in every_step:
        fields = _mapping(step_node)
        uses_node = fields.get("uses")
        uses = Uses.parse(str(uses_node.value)) if isinstance(uses_node, yaml.ScalarNode) else None
        if uses is not None and uses.is_gate:
            token_node = _mapping(fields.get("with")).get("npm-token")
            if token_node is not None:
                gate_token_nodes.add(id(token_node))
                for _, scalar in _scalars(token_node):
                    token_names.update(_secret_names(str(scalar.value)))
    for n, step_node in enumerate(step_nodes, 1):
        out += _step(step_node, n, where, rel)

    out += _token_exposure(root, top, job_id, rel, token_names, gate_token_nodes)
    return out


def _step(node: Any, n: int, where: str, rel: str) -> list[Finding]:
    import yaml

    fields = _mapping(node)
    line = _line(node)
    name = fields.get("name")
    label = f"{where} step {n}" + (f" (`{name.value}`)" if isinstance(name, yaml.ScalarNode) else "")
    if "run" in fields:
        return [
            PUBLISH_JOB_NOT_ISOLATED(
                f"{label}, line {_line(fields['run'])}: a `run:` step runs beside the npm credential.",
                file=rel,
                line=_line(fields["run"]),
            )
        ]
    uses_node = fields.get("uses")
    if not isinstance(uses_node, yaml.ScalarNode):
        return [PUBLISH_JOB_NOT_ISOLATED(f"{label}, line {line}: neither `uses:` nor `run:`.", file=rel, line=line)]
    uses = Uses.parse(str(uses_node.value))
    line = _line(uses_node)
    with_ = _mapping(fields.get("with"))
    shown = f"`uses: {uses.raw}`"
    if uses.repo == "actions/checkout" and not uses.path:
        out = []
        if not uses.pinned:
            out.append(
                PUBLISH_STEP_UNPINNED(f"{label}, line {line}: {shown} is not a full commit SHA.", file=rel, line=line)
            )
        persist = with_.get("persist-credentials")
        if not (isinstance(persist, yaml.ScalarNode) and str(persist.value).strip().lower() == "false"):
            out.append(
                PUBLISH_STEP_UNPINNED(
                    f"{label}, line {line}: `actions/checkout` without `persist-credentials: false` leaves the "
                    "GitHub token in `.git/config` of the workspace.",
                    file=rel,
                    line=line,
                )
            )
        return out
    if uses.repo == "actions/download-artifact" and not uses.path:
        if uses.pinned:
            return []
        return [PUBLISH_STEP_UNPINNED(f"{label}, line {line}: {shown} is not a full commit SHA.", file=rel, line=line)]
    if uses.is_gate:
        if uses.local or uses.pinned:
            return []
        return [
            PUBLISH_STEP_UNPINNED(
                f"{label}, line {line}: the gate {shown} is not pinned by a full commit SHA.", file=rel, line=line
            )
        ]
    if uses.repo.startswith("actions/cache") or "cache" in uses.repo.split("/")[-1]:
        return [PUBLISH_JOB_CACHE(f"{label}, line {line}: {shown} restores a cache.", file=rel, line=line)]
    if SETUP_ACTION.match(uses.repo) and _setup_caches(uses, with_):
        why = (
            "`cache:` is set" if "cache" in with_ else "setup-node v5+ restores the package manager's cache by default"
        )
        return [PUBLISH_JOB_CACHE(f"{label}, line {line}: {shown} restores a cache ({why}).", file=rel, line=line)]
    kind = "a Docker image" if uses.docker else "a local action" if uses.local else "another action"
    return [
        PUBLISH_JOB_NOT_ISOLATED(
            f"{label}, line {line}: {shown} runs {kind} beside the npm credential.", file=rel, line=line
        )
    ]


def _setup_caches(uses: Uses, with_: dict[str, Any]) -> bool:
    import yaml

    cache = with_.get("cache")
    if isinstance(cache, yaml.ScalarNode) and str(cache.value).strip().lower() not in ("", "false"):
        return True
    if uses.repo == "actions/setup-node":
        off = with_.get("package-manager-cache")
        return not (isinstance(off, yaml.ScalarNode) and str(off.value).strip().lower() == "false")
    return False


def _triggers(top: dict[str, Any], rel: str) -> list[Finding]:
    import yaml

    on = top.get("on")
    if on is None:
        on = top.get("true")  # YAML 1.1 readers turn a bare `on` into true; compose keeps the text
    events: list[Any] = []
    if isinstance(on, yaml.ScalarNode):
        events = [on]
    elif isinstance(on, yaml.SequenceNode):
        events = [n for n in on.value if isinstance(n, yaml.ScalarNode)]
    elif isinstance(on, yaml.MappingNode):
        events = [k for k, _ in on.value if isinstance(k, yaml.ScalarNode)]
    out = []
    for ev in events:
        if str(ev.value).strip() in FORBIDDEN_EVENTS:
            out.append(
                PUBLISH_JOB_TRIGGER(
                    f"`{rel}` line {_line(ev)}: the workflow runs on `{ev.value}`.", file=rel, line=_line(ev)
                )
            )
    return out


def _id_token(
    top: dict[str, Any], job: dict[str, Any], where: str, rel: str, *, oidc: bool, provenance_always: bool
) -> list[Finding]:
    import yaml

    if oidc or provenance_always:
        return []
    perms = job.get("permissions", top.get("permissions"))
    node = None
    if isinstance(perms, yaml.ScalarNode) and str(perms.value).strip() == "write-all":
        node = perms
    else:
        value = _mapping(perms).get("id-token")
        if isinstance(value, yaml.ScalarNode) and str(value.value).strip() == "write":
            node = value
    if node is None:
        return []
    return [
        PUBLISH_JOB_ID_TOKEN(
            f"{where} line {_line(node)}: `id-token: write` while the gate publishes with an npm token.",
            file=rel,
            line=_line(node),
        )
    ]


def _token_exposure(
    root: Any, top: dict[str, Any], job_id: str, rel: str, token_names: set[str], gate_nodes: set[int]
) -> list[Finding]:
    """Every place the workflow hands the npm token to anything but the gate's `npm-token` input."""
    import yaml

    upper = {n.upper() for n in token_names}
    out: list[Finding] = []
    seen_lines: set[int] = set()

    def add(node: Any, text: str) -> None:
        line = _line(node)
        if line in seen_lines:
            return
        seen_lines.add(line)
        out.append(PUBLISH_TOKEN_EXPOSED(f"`{rel}` line {line}: {text}", file=rel, line=line))

    # the token's variable names in env reaching the publishing job (workflow env, job env, step env)
    job = _mapping(_mapping(top.get("jobs")).get(job_id))
    env_maps = [top.get("env"), job.get("env")]
    steps = job.get("steps")
    for step in steps.value if isinstance(steps, yaml.SequenceNode) else []:
        env_maps.append(_mapping(step).get("env"))
    for env in env_maps:
        for key, _ in env.value if isinstance(env, yaml.MappingNode) else []:
            if isinstance(key, yaml.ScalarNode) and str(key.value).upper() in TOKEN_ENV:
                add(key, f"`env: {key.value}` reaches steps other than the gate's `npm-token` input.")
    # every reference to the token's secret, anywhere in the workflow, but the gate's own input
    for path, scalar in _scalars(root, skip=gate_nodes):
        text = str(scalar.value)
        if path and path[-1] == "secrets" and text.strip() == "inherit":
            add(scalar, "`secrets: inherit` hands every secret, the npm token included, to a reusable workflow.")
        elif ALL_SECRETS.search(text):
            add(scalar, "`toJSON(secrets)` hands every secret, the npm token included, to this place.")
        else:
            hit = sorted(n for n in _secret_names(text) if n.upper() in upper)
            if hit:
                where = ".".join(path) or "(top)"
                add(scalar, f"`{where}` reads `secrets.{hit[0]}`, the npm token, outside the gate's `npm-token` input.")
    return out


# -- YAML helpers --------------------------------------------------------------------------------------------


def _mapping(node: Any) -> dict[str, Any]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): v for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _line(node: Any) -> int:
    return int(node.start_mark.line) + 1


def _secret_names(text: str) -> set[str]:
    if "secrets" not in text.lower():
        return set()
    return {m.group(1) or m.group(2) for m in SECRET_REF.finditer(text)}


def _flow_depth(text: str) -> int:
    """The deepest `[`/`{` nesting outside quotes and comments (an upper bound of YAML's flow nesting)."""
    depth = deepest = 0
    for line in text.splitlines():
        quote = ""
        for ch in line:
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == "#":
                break
            elif ch in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif ch in "]}":
                depth = max(0, depth - 1)
    return deepest


def _count(root: Any) -> int:
    seen: set[int] = set()
    stack = [root]
    while stack and len(seen) <= MAX_NODES:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        value = getattr(node, "value", None)
        if isinstance(value, list):
            for item in value:
                stack.extend(item if isinstance(item, tuple) else (item,))
    return len(seen)


def _scalars(root: Any, skip: set[int] | None = None) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(key path, scalar node) of every scalar value under `root`, each node once, `skip` subtrees left out."""
    import yaml

    seen: set[int] = set()
    stack: list[tuple[tuple[str, ...], Any]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if id(node) in seen or id(node) in (skip or ()):
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            yield path, node
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((path, item) for item in reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack.append(((*path, str(getattr(key, "value", ""))), value))
